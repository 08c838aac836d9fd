/*
 * config.c: the daemon config, and gridweb's (SPEC §12), which shares its
 * format. Every key is one row of a table below (section, key, type,
 * bounds, default); the loader, the defaults and the documentation checks
 * all read the same rows, so adding a key is one line. A program reads
 * the rows it shares with the daemon and those of its own table.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "timeutil.h"
#include "yamldoc.h"

enum ctype {
	C_STR,      /* any string */
	C_NAME,     /* a non-empty string without spaces or control characters */
	C_OPTNAME,  /* C_NAME or "" */
	C_PATH,     /* a file name, relative ones against the config's directory; "" for none */
	C_INT,      /* an integer within [min, max] */
	C_DUR,      /* a duration */
	C_HOSTPORT, /* "host:port", or "" to disable */
	C_LIST,     /* a list of "host:port" */
	C_LOGFMT,
	C_LOGLEVEL,
	C_LANG, /* zh-CN or en */
};

struct ckey {
	const char *section; /* NULL: top level */
	const char *key;
	enum ctype type;
	size_t off;
	int64_t min, max; /* C_LIST: min is the offset of the number of elements */
	const char *dflt;
};

#define OFF(f)          offsetof(struct config, f)
#define CONFIG_MAX_FILE (16u * 1024 * 1024)

static const struct ckey table[] = {
        {"redis", "host", C_STR, OFF(redis_host), 0, 0, "127.0.0.1"},
        {"redis", "port", C_INT, OFF(redis_port), 1, 65535, "6379"},
        {"redis", "socket", C_PATH, OFF(redis_socket), 0, 0, ""},
        {"redis", "db", C_INT, OFF(redis_db), 0, 1000000, "0"},
        {"redis", "username", C_STR, OFF(redis_username), 0, 0, ""},
        {"redis", "password_file", C_PATH, OFF(redis_password_file), 0, 0, ""},
        {"redis", "sentinels", C_LIST, OFF(redis_sentinels), OFF(redis_nsentinels), 0, ""},
        {"redis", "master_name", C_OPTNAME, OFF(redis_master_name), 0, 0, ""},
        {"redis", "cluster", C_LIST, OFF(redis_cluster), OFF(redis_ncluster), 0, ""},
        {NULL, "prefix", C_NAME, OFF(prefix), 0, 0, "gr:"},
        {NULL, "group", C_NAME, OFF(group), 0, 0, "gridrouted"},
        {NULL, "consumer", C_OPTNAME, OFF(consumer), 0, 0, ""},
        {NULL, "rules", C_PATH, OFF(rules), 0, 0, "rules.yaml"},
        {"http", "listen", C_HOSTPORT, OFF(http_listen), 0, 0, "127.0.0.1:9464"},
        {"log", "format", C_LOGFMT, OFF(log_format), 0, 0, "logfmt"},
        {"log", "level", C_LOGLEVEL, OFF(log_level), 0, 0, "info"},
        {"limits", "max_incident_bytes", C_INT, OFF(max_incident_bytes), 64, 512LL << 20, "65536"},
        {"limits", "batch", C_INT, OFF(batch), 1, 10000, "256"},
        {"limits", "block_ms", C_INT, OFF(block_ms), 1, 60000, "1000"},
        {"limits", "claim_idle_ms", C_INT, OFF(claim_idle_ms), 100, 86400000, "30000"},
        {"limits", "max_deliveries", C_INT, OFF(max_deliveries), 1, 1000, "5"},
        {"limits", "tick_ms", C_INT, OFF(tick_ms), 10, 60000, "200"},
        {"retention", "out_maxlen", C_INT, OFF(out_maxlen), 1, INT64_C(1) << 40, "1000000"},
        {"retention", "resolved", C_DUR, OFF(resolved_ms), 0, 0, "30d"},
        {"retention", "kpi", C_DUR, OFF(kpi_ms), 0, 0, "400d"},
        {"notify", "language", C_LANG, OFF(notify_lang), 0, 0, "zh-CN"},
        {"notify", "timezone", C_STR, OFF(notify_timezone), 0, 0, ""},
};

static const char *const sections[] = {"redis", "http", "log", "limits", "retention", "notify"};

/* gridweb's own keys; it shares the daemon's redis and log sections, prefix and rules. */
static const struct ckey web_table[] = {
        {"web", "listen", C_HOSTPORT, OFF(web_listen), 0, 0, "127.0.0.1:9465"},
        {"web", "auth_file", C_PATH, OFF(web_auth_file), 0, 0, ""},
};

static const char *const web_sections[] = {"redis", "log", "web"};

#define MAX_ROWS (GR_NELEM(table) + GR_NELEM(web_table))

/* The rows and sections a program reads. */
struct cprog {
	const struct ckey *rows[MAX_ROWS];
	size_t nrows;
	const char *const *sections;
	size_t nsections;
};

static bool web_shares(const struct ckey *k)
{
	if (k->section == NULL)
		return strcmp(k->key, "prefix") == 0 || strcmp(k->key, "rules") == 0;
	return strcmp(k->section, "redis") == 0 || strcmp(k->section, "log") == 0;
}

static void prog_init(struct cprog *p, enum config_prog prog)
{
	p->nrows = 0;
	for (size_t i = 0; i < GR_NELEM(table); i++) {
		if (prog == CONFIG_DAEMON || web_shares(&table[i]))
			p->rows[p->nrows++] = &table[i];
	}
	if (prog == CONFIG_WEB) {
		for (size_t i = 0; i < GR_NELEM(web_table); i++)
			p->rows[p->nrows++] = &web_table[i];
		p->sections = web_sections;
		p->nsections = GR_NELEM(web_sections);
	} else {
		p->sections = sections;
		p->nsections = GR_NELEM(sections);
	}
}

#define FIELD(c, k, T) ((T *)(void *)((char *)(c) + (k)->off))
#define COUNT(c, k)    ((size_t *)(void *)((char *)(c) + (size_t)(k)->min))

int config_split_hostport(const char *s, char *host, size_t hostsz, int *port)
{
	const char *colon, *h = s;
	size_t hlen;
	int64_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return -1; /* a bare IPv6 address needs brackets */
	}
	if (hlen >= hostsz || parse_int64(colon + 1, 1, 65535, &p) < 0)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

static bool name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	}
	return true;
}

static char *resolve_path(const char *cfgpath, const char *p)
{
	const char *slash = strrchr(cfgpath, '/');

	if (p[0] == '\0' || p[0] == '/' || slash == NULL)
		return xstrdup(p);
	return xasprintf("%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
}

static void free_list(struct config *c, const struct ckey *k)
{
	char ***v = FIELD(c, k, char **);
	size_t *n = COUNT(c, k);

	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/*
 * Set one key from text. Errors are reported at n when y is given; the
 * defaults (y == NULL) are known to be good.
 */
static int set_value(struct config *c, const struct ckey *k, struct ydoc *y, const struct ynode *n,
                     const char *text)
{
	char host[256];
	int port;

	switch (k->type) {
	case C_NAME:
	case C_OPTNAME:
		if (!(k->type == C_OPTNAME && text[0] == '\0') && !name_ok(text)) {
			ydoc_error(y, n, "expected a non-empty name without spaces, got \"%s\"",
			           text);
			return -1;
		}
		/* fallthrough */
	case C_STR:
		free(*FIELD(c, k, char *));
		*FIELD(c, k, char *) = xstrdup(text);
		return 0;
	case C_PATH:
		free(*FIELD(c, k, char *));
		*FIELD(c, k, char *) = resolve_path(c->path != NULL ? c->path : "", text);
		return 0;
	case C_INT:
		if (y == NULL)
			return parse_int64(text, k->min, k->max, FIELD(c, k, int64_t));
		return ydoc_int(y, n, k->min, k->max, FIELD(c, k, int64_t));
	case C_DUR:
		if (y == NULL)
			return duration_parse(text, FIELD(c, k, int64_t));
		return ydoc_duration(y, n, FIELD(c, k, int64_t));
	case C_HOSTPORT:
		if (text[0] != '\0' && config_split_hostport(text, host, sizeof(host), &port) < 0) {
			ydoc_error(y, n,
			           "expected \"host:port\" (e.g. 127.0.0.1:9464 or [::1]:9464) or "
			           "\"\" to disable, got \"%s\"",
			           text);
			return -1;
		}
		free(*FIELD(c, k, char *));
		*FIELD(c, k, char *) = xstrdup(text);
		return 0;
	case C_LOGFMT:
		if (log_format_parse(text, FIELD(c, k, enum log_format)) < 0) {
			ydoc_error(y, n, "expected logfmt or json, got \"%s\"", text);
			return -1;
		}
		return 0;
	case C_LOGLEVEL:
		if (log_level_parse(text, FIELD(c, k, enum log_level)) < 0) {
			ydoc_error(y, n, "expected debug, info, warn or error, got \"%s\"", text);
			return -1;
		}
		return 0;
	case C_LANG:
		if (strcmp(text, "zh-CN") == 0) {
			*FIELD(c, k, enum msg_lang) = MSG_ZH_CN;
		} else if (strcmp(text, "en") == 0) {
			*FIELD(c, k, enum msg_lang) = MSG_EN;
		} else {
			ydoc_error(y, n, "expected zh-CN or en, got \"%s\"", text);
			return -1;
		}
		return 0;
	case C_LIST:
		free_list(c, k);
		return 0;
	}
	return -1;
}

static void defaults(struct config *c, const struct cprog *p)
{
	char *path = c->path;

	memset(c, 0, sizeof(*c));
	c->path = path;
	for (size_t i = 0; i < p->nrows; i++) {
		if (set_value(c, p->rows[i], NULL, NULL, p->rows[i]->dflt) < 0)
			fatalx("config default for %s is invalid", p->rows[i]->key);
	}
}

void config_defaults(struct config *c)
{
	struct cprog p;

	prog_init(&p, CONFIG_DAEMON);
	defaults(c, &p);
}

static void read_list(struct config *c, struct ydoc *y, const struct ckey *k, const struct ynode *n)
{
	char ***v = FIELD(c, k, char **);
	size_t *nv = COUNT(c, k);

	free_list(c, k);
	if (ydoc_expect_seq(y, n) < 0)
		return;
	*v = xcalloc(ydoc_len(n) + 1, sizeof(char *));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *item = ydoc_item(y, n, i);
		size_t o = ydoc_push_index(y, i);
		const char *s;
		char host[256];
		int port;

		if (ydoc_str(y, item, &s) == 0) {
			if (config_split_hostport(s, host, sizeof(host), &port) < 0 ||
			    host[0] == '\0')
				ydoc_error(y, item, "expected \"host:port\", got \"%s\"", s);
			else
				(*v)[(*nv)++] = xstrdup(s);
		}
		ydoc_pop(y, o);
	}
}

static void read_key(struct config *c, struct ydoc *y, const struct ckey *k, const struct ynode *n)
{
	const char *s;

	if (k->type == C_LIST) {
		read_list(c, y, k, n);
		return;
	}
	if (n->type != YNODE_SCALAR || ydoc_is_null(y, n)) {
		/* let the typed reader word the error */
		if (k->type == C_INT)
			ydoc_int(y, n, k->min, k->max, FIELD(c, k, int64_t));
		else
			ydoc_str(y, n, &s);
		return;
	}
	if (ydoc_str(y, n, &s) == 0)
		set_value(c, k, y, n, s);
}

/* Reads the keys of one section; given[row] is the node of each of p's rows found. */
static void read_section(struct config *c, const struct cprog *p, struct ydoc *y,
                         const char *section, const struct ynode *n, const struct ynode **given)
{
	const char *names[MAX_ROWS];
	const struct ckey *rows[MAX_ROWS];
	const struct ynode *vals[MAX_ROWS];
	size_t idx[MAX_ROWS], nk = 0;

	for (size_t i = 0; i < p->nrows; i++) {
		if (p->rows[i]->section != NULL && strcmp(p->rows[i]->section, section) == 0) {
			names[nk] = p->rows[i]->key;
			idx[nk] = i;
			rows[nk++] = p->rows[i];
		}
	}
	if (ydoc_fields(y, n, names, nk, NULL, vals) < 0)
		return;
	for (size_t i = 0; i < nk; i++) {
		if (vals[i] == NULL)
			continue;
		size_t o = ydoc_push_key(y, names[i]);
		read_key(c, y, rows[i], vals[i]);
		ydoc_pop(y, o);
		given[idx[i]] = vals[i];
	}
}

static const struct ynode *given_key(const struct cprog *p, const struct ynode *const *given,
                                     const char *section, const char *key)
{
	for (size_t i = 0; i < p->nrows; i++) {
		const struct ckey *k = p->rows[i];

		if (strcmp(k->key, key) == 0 &&
		    (k->section == NULL ? section == NULL
		                        : section != NULL && strcmp(k->section, section) == 0))
			return given[i];
	}
	return NULL;
}

/* An error at a key, named by its path as the readers name it. */
static void key_error(struct ydoc *y, const struct ynode *n, const char *section, const char *key,
                      const char *msg)
{
	size_t o = section != NULL ? ydoc_push_key(y, section) : 0;
	size_t o2 = ydoc_push_key(y, key);

	ydoc_error(y, n, "%s", msg);
	ydoc_pop(y, o2);
	if (section != NULL)
		ydoc_pop(y, o);
}

/*
 * redis.cluster (SPEC §2): the nodes come from the cluster, so a node of
 * its own (host, port, socket) or sentinels are a contradiction; a
 * cluster has only database 0; and every key of the prefix must be in
 * one slot, which takes a hash tag.
 */
static void check_cluster(struct config *c, const struct cprog *p, struct ydoc *y,
                          const struct ynode *const *given)
{
	static const char *const node_keys[] = {"host", "port", "socket"};
	const struct ynode *n;
	char msg[300];

	if (c->redis_ncluster == 0)
		return;
	for (size_t i = 0; i < GR_NELEM(node_keys); i++) {
		n = given_key(p, given, "redis", node_keys[i]);
		if (n == NULL ||
		    (strcmp(node_keys[i], "socket") == 0 && c->redis_socket[0] == '\0'))
			continue;
		snprintf(msg, sizeof(msg),
		         "redis.%s cannot be given with redis.cluster: the node that serves the "
		         "prefix is found through the cluster's seed nodes",
		         node_keys[i]);
		key_error(y, n, "redis", node_keys[i], msg);
	}
	if (c->redis_nsentinels > 0)
		key_error(
		        y, given_key(p, given, "redis", "sentinels"), "redis", "sentinels",
		        "redis.sentinels cannot be given with redis.cluster: a cluster fails over "
		        "by itself");
	if (c->redis_db != 0)
		key_error(
		        y, given_key(p, given, "redis", "db"), "redis", "db",
		        "redis.db must be 0 with redis.cluster: Redis Cluster has only database 0");
	if (!cluster_prefix_ok(c->prefix)) {
		n = given_key(p, given, NULL, "prefix");
		snprintf(
		        msg, sizeof(msg),
		        "with redis.cluster the prefix needs a hash tag, such as \"gr:{xifeng}:\", "
		        "so that all its keys are in one slot; %s\"%.100s\" has none",
		        n != NULL ? "" : "the default ", c->prefix);
		if (n != NULL)
			key_error(y, n, NULL, "prefix", msg);
		else
			key_error(y, given_key(p, given, "redis", "cluster"), "redis", "cluster",
			          msg);
	}
}

int config_load_buf_as(enum config_prog prog, const char *name, const char *buf, size_t len,
                       struct config *c, struct diags *d)
{
	const char *names[MAX_ROWS + GR_NELEM(sections) + GR_NELEM(web_sections)];
	const struct ynode *vals[GR_NELEM(names)], *given[MAX_ROWS] = {NULL};
	size_t nk = 0, errors = d->nerrors;
	struct ydoc y;
	struct cprog p;

	prog_init(&p, prog);
	c->path = xstrdup(name);
	defaults(c, &p);
	c->prog = prog;
	if (ydoc_load(&y, buf, len, d) == 0) {
		for (size_t i = 0; i < p.nsections; i++)
			names[nk++] = p.sections[i];
		for (size_t i = 0; i < p.nrows; i++) {
			if (p.rows[i]->section == NULL)
				names[nk++] = p.rows[i]->key;
		}
		const struct ynode *root = ydoc_root(&y);
		if (ydoc_fields(&y, root, names, nk, NULL, vals) == 0) {
			for (size_t i = 0; i < nk; i++) {
				if (vals[i] == NULL)
					continue;
				size_t o = ydoc_push_key(&y, names[i]);
				if (i < p.nsections) {
					read_section(c, &p, &y, names[i], vals[i], given);
				} else {
					for (size_t t = 0; t < p.nrows; t++) {
						if (p.rows[t]->section == NULL &&
						    strcmp(p.rows[t]->key, names[i]) == 0) {
							read_key(c, &y, p.rows[t], vals[i]);
							given[t] = vals[i];
						}
					}
				}
				ydoc_pop(&y, o);
			}
			if (c->redis_nsentinels > 0 && c->redis_master_name[0] == '\0')
				ydoc_error(&y, root,
				           "redis.sentinels needs redis.master_name: the name the "
				           "sentinels know the primary by");
			check_cluster(c, &p, &y, given);
			if (c->rules[0] == '\0')
				ydoc_error(&y, root, "rules must name the rules file");
		}
	}
	ydoc_free(&y);
	diags_sort(d);
	if (d->nerrors > errors) {
		config_free(c);
		return -1;
	}
	if (prog == CONFIG_DAEMON && c->consumer[0] == '\0') {
		char host[256];
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "gridrouted");
		host[sizeof(host) - 1] = '\0';
		free(c->consumer);
		c->consumer = xstrdup(host);
	}
	return 0;
}

int config_load_buf(const char *name, const char *buf, size_t len, struct config *c,
                    struct diags *d)
{
	return config_load_buf_as(CONFIG_DAEMON, name, buf, len, c, d);
}

int config_load_as(enum config_prog prog, const char *path, struct config *c, struct diags *d)
{
	char *text;
	size_t len;

	memset(c, 0, sizeof(*c));
	if (ydoc_read_file(path, CONFIG_MAX_FILE, &text, &len, d) < 0)
		return -1;
	int rc = config_load_buf_as(prog, path, text, len, c, d);
	free(text);
	return rc;
}

int config_load(const char *path, struct config *c, struct diags *d)
{
	return config_load_as(CONFIG_DAEMON, path, c, d);
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < GR_NELEM(table) + GR_NELEM(web_table); i++) {
		const struct ckey *k =
		        i < GR_NELEM(table) ? &table[i] : &web_table[i - GR_NELEM(table)];
		if (k->type == C_STR || k->type == C_NAME || k->type == C_OPTNAME ||
		    k->type == C_PATH || k->type == C_HOSTPORT) {
			free(*FIELD(c, k, char *));
			*FIELD(c, k, char *) = NULL;
		}
	}
	for (size_t i = 0; i < GR_NELEM(table); i++) {
		if (table[i].type == C_LIST)
			free_list(c, &table[i]);
	}
	free(c->path);
	c->path = NULL;
}

int config_check_notify(const struct config *c, const char *rules_zone, char *err, size_t errsz)
{
	const char *z = c->notify_timezone;

	if (z[0] == '\0' || strcmp(z, "UTC") == 0 || strcmp(z, rules_zone) == 0)
		return 0;
	snprintf(err, errsz,
	         "%s: error: notify.timezone is \"%s\": it may be \"\" (the rules' zone), \"UTC\" "
	         "or the rules' zone by name, \"%s\"",
	         c->path, z, rules_zone);
	return -1;
}
