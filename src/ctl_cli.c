/*
 * ctl_cli.c: the plumbing every gridctl command shares — global options
 * (accepted before the command and among its own options alike), the
 * one-line reports with their exit codes, and small parsers and printers
 * for arguments and terminal output.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl_cli.h"
#include "log.h"
#include "rules.h"
#include "timeutil.h"

enum {
	OPT_REDIS = 0x1000,
	OPT_SOCKET,
	OPT_PREFIX,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_DB,
	OPT_CLUSTER,
};

static const struct option global_opts[] = {
        {"redis", required_argument, NULL, OPT_REDIS},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"db", required_argument, NULL, OPT_DB},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {NULL, 0, NULL, 0},
};

const char ctl_global_help[] =
        "global options (before or after the command):\n"
        "  --redis HOST:PORT      Redis over TCP (default " CTL_DEFAULT_HOST ":6379)\n"
        "  --socket PATH          Redis over a unix socket\n"
        "  --cluster H:P,...      Redis Cluster seed nodes (--prefix with a hash tag)\n"
        "  --prefix P             key prefix (default \"" CTL_DEFAULT_PREFIX "\")\n"
        "  --user U               user name for AUTH (needs --password-file)\n"
        "  --password-file F      AUTH with the first line of F\n"
        "  --db N                 SELECT database N (default 0)\n";

void ctl_init(struct ctl *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "%s", CTL_DEFAULT_HOST);
	c->port = CTL_DEFAULT_PORT;
	c->prefix = CTL_DEFAULT_PREFIX;
	c->default_timeout_ms = 10000;
}

static void vreport(const struct ctl *c, const char *what, const char *fmt, va_list ap)
{
	if (c->cmd != NULL)
		fprintf(stderr, "gridctl %s: %s", c->cmd->name, what);
	else
		fprintf(stderr, "gridctl: %s", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ctl_fail(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vreport(c, "", fmt, ap);
	va_end(ap);
	return CTL_EXIT_FAIL;
}

void ctl_warn(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vreport(c, "warning: ", fmt, ap);
	va_end(ap);
}

int ctl_usage(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, "", fmt, ap);
	va_end(ap);
	if (c->cmd != NULL)
		fprintf(stderr, "usage: gridctl %s %s\n", c->cmd->name, c->cmd->args);
	else
		fprintf(stderr,
		        "usage: gridctl [GLOBAL OPTIONS] COMMAND [ARGS] (gridctl --help)\n");
	return CTL_EXIT_USAGE;
}

/* --cluster HOST:PORT,...: the seed nodes, kept (here) until gridctl exits. */
static int cluster_option(struct ctl *c, const char *arg)
{
	static char *list;
	static char **seeds;
	char *save = NULL;
	size_t n = 1;

	for (const char *p = arg; *p != '\0'; p++)
		n += *p == ',';
	free(list);
	free(seeds);
	list = xstrdup(arg);
	seeds = xcalloc(n, sizeof(char *));
	c->cluster = seeds;
	c->ncluster = 0;
	for (char *s = strtok_r(list, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
		char host[CTL_HOST_MAX];
		int port;
		if (config_split_hostport(s, host, sizeof(host), &port) < 0 || host[0] == '\0')
			return ctl_usage(c,
			                 "--cluster: expected HOST:PORT,... (e.g. "
			                 "10.0.0.1:7000,10.0.0.2:7000), got \"%s\"",
			                 s);
		seeds[c->ncluster++] = s;
	}
	if (c->ncluster == 0)
		return ctl_usage(c, "--cluster: expected HOST:PORT,...");
	c->socket = NULL;
	return 0;
}

/* Apply one global option; 0, or CTL_EXIT_USAGE after reporting. */
static int global_option(struct ctl *c, int ch, const char *arg)
{
	int64_t n;

	switch (ch) {
	case OPT_REDIS: {
		char host[CTL_HOST_MAX];
		int port = CTL_DEFAULT_PORT;
		if (strchr(arg, ':') == NULL && arg[0] != '\0' && strlen(arg) < sizeof(host)) {
			/* a bare host name means the default port */
			snprintf(host, sizeof(host), "%s", arg);
		} else if (config_split_hostport(arg, host, sizeof(host), &port) < 0) {
			return ctl_usage(c,
			                 "--redis: expected HOST:PORT (e.g. 127.0.0.1:6379 or "
			                 "[::1]:6379), got \"%s\"",
			                 arg);
		}
		snprintf(c->host, sizeof(c->host), "%s", host[0] != '\0' ? host : CTL_DEFAULT_HOST);
		c->port = port;
		c->socket = NULL;
		c->ncluster = 0;
		return 0;
	}
	case OPT_SOCKET:
		if (arg[0] == '\0')
			return ctl_usage(c, "--socket: expected a path");
		c->socket = arg;
		c->ncluster = 0;
		return 0;
	case OPT_CLUSTER:
		return cluster_option(c, arg);
	case OPT_PREFIX:
		c->prefix = arg;
		return 0;
	case OPT_USER:
		if (arg[0] == '\0')
			return ctl_usage(c, "--user: expected a user name");
		c->user = arg;
		return 0;
	case OPT_PASSWORD_FILE:
		if (arg[0] == '\0')
			return ctl_usage(c, "--password-file: expected a file");
		c->password_file = arg;
		return 0;
	case OPT_DB:
		if (parse_int64(arg, 0, INT_MAX, &n) < 0)
			return ctl_usage(c, "--db: expected a database number, got \"%s\"", arg);
		c->db = n;
		return 0;
	default:
		return ctl_usage(c, "unknown option");
	}
}

/* After getopt_long returned '?' or ':': say which argument was wrong. */
static int bad_option(struct ctl *c, int ch, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const char *eq = strchr(arg, '=');
	int len = eq != NULL ? (int)(eq - arg) : (int)strlen(arg);

	if (ch == ':')
		return ctl_usage(c, "option \"%s\" needs an argument", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) == 0 && eq != NULL)
		return ctl_usage(c, "option \"%.*s\" takes no value", len, arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		return ctl_usage(c, "unknown option \"-%c\"", optopt);
	return ctl_usage(c, "unknown option \"%.*s\"", len, arg);
}

#define MAX_OPTS 32

int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *opts)
{
	struct option all[MAX_OPTS];
	size_t n = 0;

	for (; opts != NULL && opts[n].name != NULL; n++) {
		if (n + GR_NELEM(global_opts) >= MAX_OPTS)
			fatalx("gridctl: too many options");
		all[n] = opts[n];
	}
	memcpy(all + n, global_opts, sizeof(global_opts));
	if (c->getopt_argv != argv) {
		/* glibc: 0 starts a fresh scan (and re-reads the ordering of optstring) */
		optind = 0;
		c->getopt_argv = argv;
	}
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, ":", all, NULL);
		if (ch == -1)
			return -1;
		if (ch == '?' || ch == ':') {
			bad_option(c, ch, argv);
			return '?';
		}
		if (ch >= OPT_REDIS && ch <= OPT_CLUSTER) {
			if (global_option(c, ch, optarg) != 0)
				return '?';
			continue;
		}
		return ch;
	}
}

int ctl_global_options(struct ctl *c, int argc, char **argv, int *i, int *special)
{
	struct option all[GR_NELEM(global_opts) + 2];
	const struct option extra[] = {
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	};

	memcpy(all, extra, sizeof(extra));
	memcpy(all + GR_NELEM(extra), global_opts, sizeof(global_opts));
	*special = 0;
	optind = 0;
	opterr = 0;
	c->getopt_argv = NULL;
	for (;;) {
		/* "+": stop at the command name; its own options are its business */
		int ch = getopt_long(argc, argv, "+:h", all, NULL);
		if (ch == -1)
			break;
		if (ch == 'h' || ch == 'V') {
			*special = ch;
			return 0;
		}
		if (ch == '?' || ch == ':')
			return bad_option(c, ch, argv);
		if (global_option(c, ch, optarg) != 0)
			return CTL_EXIT_USAGE;
	}
	*i = optind;
	return 0;
}

const char *ctl_where(const struct ctl *c, char *out, size_t outsz)
{
	if (c->socket != NULL)
		snprintf(out, outsz, "%s", c->socket);
	else if (strchr(c->host, ':') != NULL)
		snprintf(out, outsz, "[%s]:%d", c->host, c->port);
	else
		snprintf(out, outsz, "%s:%d", c->host, c->port);
	return out;
}

char *ctl_key(const struct ctl *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_puts(&b, c->prefix);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

static bool plain_number(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789.") == strlen(s);
}

static int parse_wait(const char *arg, int64_t *ms)
{
	const int64_t max = 24LL * 3600 * 1000;

	if (plain_number(arg)) {
		char *end;
		errno = 0;
		double s = strtod(arg, &end);
		if (errno != 0 || *end != '\0' || !(s > 0) || s * 1000 > (double)max)
			return -1;
		*ms = (int64_t)(s * 1000 + 0.5);
		if (*ms == 0)
			*ms = 1;
		return 0;
	}
	if (duration_parse(arg, ms) < 0 || *ms > max)
		return -1;
	return 0;
}

int ctl_wait_option(struct ctl *c, int argc, char **argv, int64_t *ms)
{
	const char *arg = optarg;

	if (arg == NULL && optind < argc && plain_number(argv[optind]))
		arg = argv[optind++]; /* consumed as the option's argument */
	if (arg == NULL) {
		*ms = CTL_WAIT_DEFAULT_MS;
		return 0;
	}
	if (parse_wait(arg, ms) < 0)
		return ctl_usage(c,
		                 "--wait: expected seconds up to a day (--wait=30, --wait=0.5, "
		                 "--wait=2m), got \"%s\"",
		                 arg);
	return 0;
}

int ctl_parse_limit(const char *arg, int64_t *n)
{
	return parse_int64(arg, 1, 1000000000, n);
}

void ctl_write(const struct buf *b)
{
	if (b->len > 0)
		fwrite(b->data, 1, b->len, stdout);
}

struct rules *ctl_load_rules(const char *path, bool loud)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, path);
	r = rules_load(path, &d);
	if (loud || r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	return r;
}

int ctl_read_file(const char *path, struct buf *b)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[8192];
	size_t n;
	int err = 0;

	if (fp == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(b, chunk, n);
	if (ferror(fp))
		err = errno != 0 ? errno : EIO;
	if (fp != stdin)
		fclose(fp);
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (b->data == NULL)
		buf_append(b, "", 0);
	return 0;
}

/* The length of the UTF-8 sequence that starts with lead, or 0 if it cannot. */
static size_t utf8_seqlen(unsigned char lead)
{
	if (lead >= 0xc2 && lead <= 0xdf)
		return 2;
	if (lead >= 0xe0 && lead <= 0xef)
		return 3;
	if (lead >= 0xf0 && lead <= 0xf4)
		return 4;
	return 0;
}

void ctl_put_clean(struct buf *b, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		size_t n;

		if (ch >= 0x20 && ch < 0x7f) {
			size_t j = i;
			while (j < len && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f)
				j++;
			buf_append(b, s + i, j - i);
			i = j;
			continue;
		}
		if (ch == '\n' || ch == '\t' || ch == '\r') {
			buf_puts(b, ch == '\n' ? "\\n" : ch == '\t' ? "\\t" : "\\r");
			i++;
			continue;
		}
		n = utf8_seqlen(ch);
		if (n > 0 && i + n <= len && utf8_valid(s + i, n)) {
			if (ch == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
				buf_printf(b, "\\u%04x", (unsigned)(unsigned char)s[i + 1]);
			else
				buf_append(b, s + i, n);
			i += n;
			continue;
		}
		buf_printf(b, "\\x%02x", ch);
		i++;
	}
}

/* The wide ranges of Unicode's EastAsianWidth.txt (W and F), coarsened to blocks. */
static bool wide(uint32_t cp)
{
	static const uint32_t ranges[][2] = {
	        {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},
	        {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
	        {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
	        {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
	};

	for (size_t i = 0; i < GR_NELEM(ranges); i++) {
		if (cp >= ranges[i][0] && cp <= ranges[i][1])
			return true;
	}
	return false;
}

size_t ctl_columns(const char *s, size_t len)
{
	size_t cols = 0;

	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)s[i];
		size_t n = utf8_seqlen(ch);
		uint32_t cp = ch;

		if (n == 0 || i + n > len)
			n = 1;
		else if (n > 1)
			cp = ch & (0x7fu >> n);
		for (size_t k = 1; k < n; k++)
			cp = cp << 6 | ((unsigned char)s[i + k] & 0x3fu);
		cols += wide(cp) ? 2 : 1;
		i += n;
	}
	return cols;
}

void ctl_age(int64_t ms, char out[CTL_AGE_BUFSZ])
{
	static const struct {
		int64_t s;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	const char *sign = ms < 0 ? "-" : "";
	int64_t s = (ms < 0 ? -(ms / 1000) : ms / 1000);
	size_t k = 0;

	while (k + 1 < GR_NELEM(units) && s < units[k].s)
		k++;
	int64_t hi = s / units[k].s, rest = s % units[k].s;
	if (k + 1 < GR_NELEM(units) && rest / units[k + 1].s > 0)
		snprintf(out, CTL_AGE_BUFSZ, "%s%lld%c%lld%c", sign, (long long)hi, units[k].unit,
		         (long long)(rest / units[k + 1].s), units[k + 1].unit);
	else
		snprintf(out, CTL_AGE_BUFSZ, "%s%lld%c", sign, (long long)hi, units[k].unit);
}

bool ctl_use_colour(FILE *fp)
{
	const char *term = getenv("TERM");

	/* set at all, even empty, means no colour: the stricter reading of no-color.org */
	if (getenv("NO_COLOR") != NULL)
		return false;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(fp)) == 1;
}
