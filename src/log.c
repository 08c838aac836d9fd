/*
 * log.c: structured log lines on stderr. Each line is built whole and
 * written with one write(2), so lines never interleave. Values are
 * escaped: a peer's bytes can neither break a line nor fake a field.
 * JSON lines give the values of the keys in number_keys as numbers; a key
 * is written once per line; under journald (SPEC §9 v2) each line starts
 * with its sd-daemon priority.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "timeutil.h"

static enum log_format log_format = LOG_FORMAT_LOGFMT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* sd-daemon(3) priorities: <7> debug, <6> info, <4> warning, <3> error */
static const char *const level_prefixes[] = {"<7>", "<6>", "<4>", "<3>"};

/*
 * The keys whose values the daemon computes as numbers (counts,
 * milliseconds, ports, versions): JSON numbers in JSON lines. Every other
 * key's value is text (ids, names, errors). A value that is not a decimal
 * integer stays a string, so that a line is valid JSON whatever it says.
 */
static const char *const number_keys[] = {
        "count", "max_connections", "ms", "port", "repeats_folded", "schema",
};

/* The most keys a line may have; the rest are dropped. */
#define LOG_MAX_KEYS 32

/* -1: not known yet; 0 or 1: whether stderr is the journal's stream. */
static int to_journal = -1;

void log_init(enum log_format format, enum log_level level)
{
	log_format = format;
	log_min = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < GR_NELEM(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "logfmt") == 0)
		*out = LOG_FORMAT_LOGFMT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int log_option_format(const char *prog, const char *arg, enum log_format *out)
{
	if (log_format_parse(arg, out) == 0)
		return 0;
	fprintf(stderr, "%s: --log-format: expected logfmt or json, got \"%s\"\n", prog, arg);
	return -1;
}

int log_option_level(const char *prog, const char *arg, enum log_level *out)
{
	if (log_level_parse(arg, out) == 0)
		return 0;
	fprintf(stderr, "%s: --log-level: expected debug, info, warn or error, got \"%s\"\n", prog,
	        arg);
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

/*
 * systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it
 * connects stderr to; a child whose stderr went elsewhere inherits the
 * variable, so it counts only while it names our stderr.
 */
static bool journal_stream(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static bool is_number_key(const char *key)
{
	for (size_t i = 0; i < GR_NELEM(number_keys); i++) {
		if (strcmp(key, number_keys[i]) == 0)
			return true;
	}
	return false;
}

/* A JSON integer: -?(0|[1-9][0-9]*), at most 19 digits (so that every reader keeps it). */
static bool json_integer_text(const char *s)
{
	size_t n;

	if (*s == '-')
		s++;
	n = strspn(s, "0123456789");
	return n > 0 && n <= 19 && s[n] == '\0' && (s[0] != '0' || n == 1);
}

/* Bytes that are not printable ASCII or valid UTF-8 are written as \xNN. */
static void put_escaped(struct buf *b, const char *s, bool json)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c == '\r') {
			buf_puts(b, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, json ? "\\u%04x" : "\\x%02x", c);
		} else if (c >= 0x80) {
			size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (i + n <= len && utf8_valid(s + i, n)) {
				buf_append(b, s + i, n);
				i += n - 1;
			} else {
				/* JSON has no byte escape: use the replacement character */
				if (json)
					buf_puts(b, "\\ufffd");
				else
					buf_printf(b, "\\x%02x", c);
			}
		} else {
			buf_putc(b, (char)c);
		}
	}
}

static bool needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
			return true;
	}
	return false;
}

/* A line being built: the keys it has, so that none is written twice. */
struct line {
	struct buf b;
	size_t start; /* where the fields begin, after the priority prefix */
	const char *keys[LOG_MAX_KEYS];
	size_t nkeys;
};

static void put_field(struct line *l, const char *key, const char *val)
{
	struct buf *b = &l->b;

	for (size_t i = 0; i < l->nkeys; i++) {
		if (strcmp(l->keys[i], key) == 0)
			return;
	}
	if (l->nkeys == LOG_MAX_KEYS)
		return;
	l->keys[l->nkeys++] = key;
	if (log_format == LOG_FORMAT_JSON) {
		bool number = is_number_key(key) && json_integer_text(val);
		buf_puts(b, b->len > l->start + 1 ? ",\"" : "\"");
		put_escaped(b, key, true);
		buf_puts(b, number ? "\":" : "\":\"");
		if (number) {
			buf_puts(b, val);
			return;
		}
		put_escaped(b, val, true);
		buf_putc(b, '"');
		return;
	}
	if (b->len > l->start)
		buf_putc(b, ' ');
	buf_puts(b, key);
	buf_putc(b, '=');
	if (needs_quotes(val)) {
		buf_putc(b, '"');
		put_escaped(b, val, false);
		buf_putc(b, '"');
	} else {
		put_escaped(b, val, false);
	}
}

static void emit(enum log_level level, const char *event, const char *msg, va_list *ap)
{
	char ts[TIME_BUFSZ];
	struct line l = {.nkeys = 0};
	struct buf *b = &l.b;

	if (to_journal < 0)
		to_journal = journal_stream();
	time_format(time_now_ms(), ts);
	buf_init(b);
	if (to_journal)
		buf_puts(b, level_prefixes[level]);
	l.start = b->len;
	if (log_format == LOG_FORMAT_JSON)
		buf_putc(b, '{');
	put_field(&l, "ts", ts);
	put_field(&l, "level", level_names[level]);
	put_field(&l, "event", event);
	if (ap != NULL) {
		const char *k, *v;
		while ((k = va_arg(*ap, const char *)) != NULL) {
			v = va_arg(*ap, const char *);
			if (v != NULL)
				put_field(&l, k, v);
		}
	}
	if (msg != NULL)
		put_field(&l, "msg", msg);
	if (log_format == LOG_FORMAT_JSON)
		buf_putc(b, '}');
	buf_putc(b, '\n');

	const char *p = b->data;
	size_t left = b->len;
	while (left > 0) {
		ssize_t n = write(STDERR_FILENO, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	buf_free(b);
}

void log_kvv(enum log_level level, const char *event, va_list ap)
{
	va_list cp;

	if (!log_enabled(level))
		return;
	va_copy(cp, ap);
	emit(level, event, NULL, &cp);
	va_end(cp);
}

void log_folded(struct log_fold *f, enum log_level level, const char *event, const char *error)
{
	int64_t now = time_now_ms();
	char n[24];

	if (f->last != 0 && now - f->last < 1000) {
		f->folded++;
		return;
	}
	snprintf(n, sizeof(n), "%lu", f->folded);
	log_kv(level, event, "error", error, "repeats_folded", f->folded > 0 ? n : NULL, NULL);
	f->last = now;
	f->folded = 0;
}

void log_kv(enum log_level level, const char *event, ...)
{
	va_list ap;

	va_start(ap, event);
	log_kvv(level, event, ap);
	va_end(ap);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	if (!log_enabled(level))
		return;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	emit(level, event, b.data != NULL ? b.data : "", NULL);
	buf_free(&b);
}

noreturn void fatalx(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(LOG_ERROR, "fatal", msg, NULL);
	exit(1);
}

noreturn void fatal(const char *fmt, ...)
{
	char msg[1024];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	emit(LOG_ERROR, "fatal", msg, NULL);
	exit(1);
}

void log_diags(const struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *line = diag_format(d, &d->v[i]);
		log_kv(d->v[i].severity == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "rules_diagnostic",
		       "diagnostic", line, NULL);
		free(line);
	}
}
