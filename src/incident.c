/*
 * incident.c: the incident and command JSON that backends send (SPEC §4,
 * §5), scanned with jscan (strict, and refusing exactly what Jansson
 * would), checked field by field in the order of SPEC §8 and normalized
 * for storage as JSON text. No tree is built: the normalized document is
 * the input's members copied as given, with the few fields we normalize
 * rewritten. Every rejection is one sentence naming the field; input
 * quoted in it is escaped and cut short, since it ends up in dead letters
 * and logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incident.h"
#include "jscan.h"
#include "log.h"

static const char *const channel_names[CH__COUNT] = {"patrol", "feedback", "scheduled", "alert"};
static const char *const severity_names[SEV__COUNT] = {"low", "normal", "high", "critical"};
static const char *const op_names[OP__COUNT] = {
        "ack",    "resolve", "escalate", "reassign", "comment", "return", "redispatch", "cancel",
        "extend", "approve", "deny",     "park",     "unpark",  "verify", "reopen",     "urge"};

static int name_lookup(const char *const *names, int n, const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], s) == 0)
			return i;
	}
	return -1;
}

const char *channel_name(enum channel c)
{
	if ((int)c < 0 || c >= CH__COUNT)
		return "";
	return channel_names[c];
}

int channel_parse(const char *s, enum channel *out)
{
	int i = name_lookup(channel_names, CH__COUNT, s);
	if (i < 0)
		return -1;
	*out = (enum channel)i;
	return 0;
}

const char *severity_name(enum severity s)
{
	if ((int)s < 0 || s >= SEV__COUNT)
		return "";
	return severity_names[s];
}

int severity_parse(const char *s, enum severity *out)
{
	int i = name_lookup(severity_names, SEV__COUNT, s);
	if (i < 0)
		return -1;
	*out = (enum severity)i;
	return 0;
}

const char *cmd_op_name(enum cmd_op op)
{
	if ((int)op < 0 || op >= OP__COUNT)
		return "";
	return op_names[op];
}

int cmd_op_parse(const char *s, enum cmd_op *out)
{
	int i = name_lookup(op_names, OP__COUNT, s);
	if (i < 0)
		return -1;
	*out = (enum cmd_op)i;
	return 0;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_lower(c) || is_digit(c) || (c >= 'A' && c <= 'Z');
}

bool incident_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > INCIDENT_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
			return false;
	}
	return true;
}

bool unit_id_valid(const char *s, size_t len)
{
	size_t depth = 0, i = 0;

	if (len == 0)
		return false;
	while (i <= len) {
		size_t start = i;
		if (++depth > UNIT_ID_MAX_DEPTH)
			return false;
		if (i == len || (!is_lower(s[i]) && !is_digit(s[i])))
			return false;
		for (i++; i < len && s[i] != '/'; i++) {
			char c = s[i];
			if (!is_lower(c) && !is_digit(c) && c != '_' && c != '-')
				return false;
		}
		if (i - start > 64)
			return false;
		i++; /* past the '/', or past the end */
	}
	return true;
}

bool person_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > 64 || !is_alnum(s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool key_valid(const char *s, size_t len)
{
	if (len == 0 || len > 64 || !is_lower(s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_')
			return false;
	}
	return true;
}

/* Input bytes quoted in a message: at most this many, then "...". */
#define QUOTE_MAX 64
/* Room for QUOTE_MAX bytes escaped six-fold, the dots and the NUL. */
#define QUOTE_BUFSZ (QUOTE_MAX * 6 + 8)

/*
 * Copy s[0..len) into out as message text: printable ASCII and valid UTF-8
 * stay; quotes, backslashes, C0 and C1 controls, line separators and
 * invalid bytes are escaped, so a message is always one clean line.
 */
static void escape_text(const char *s, size_t len, size_t max, char *out, size_t outsz)
{
	size_t o = 0, i = 0;

	for (; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t n = 0, seq = 1;

		if (c == '"' || c == '\\') {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", c);
		} else if (c < 0x20 || c == 0x7f) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		} else if (c < 0x80) {
			tmp[0] = (char)c;
			n = 1;
		} else {
			seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (i + seq > len || !utf8_valid(s + i, seq)) {
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
				seq = 1;
			} else {
				unsigned char c1 = (unsigned char)s[i + 1];
				bool c1ctl = c == 0xc2 && c1 < 0xa0;
				bool linesep = c == 0xe2 && c1 == 0x80 &&
				               ((unsigned char)s[i + 2] & 0xfe) == 0xa8;
				if (c1ctl) {
					n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c1);
				} else if (linesep) {
					n = (size_t)snprintf(
					        tmp, sizeof(tmp), "\\u%04x",
					        0x2028u + ((unsigned char)s[i + 2] - 0xa8));
				} else {
					memcpy(tmp, s + i, seq);
					n = seq;
				}
			}
		}
		if (o + n + 4 > outsz)
			break;
		memcpy(out + o, tmp, n);
		o += n;
		i += seq - 1;
	}
	if (i < len && o + 4 <= outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void quote(const char *s, size_t len, char out[QUOTE_BUFSZ])
{
	escape_text(s, len, QUOTE_MAX, out, QUOTE_BUFSZ);
}

static const char *kind_name(enum jscan_type t)
{
	switch (t) {
	case JSCAN_OBJECT:
		return "an object";
	case JSCAN_ARRAY:
		return "an array";
	case JSCAN_STRING:
		return "a string";
	case JSCAN_INTEGER:
	case JSCAN_REAL:
		return "a number";
	case JSCAN_TRUE:
	case JSCAN_FALSE:
		return "a boolean";
	case JSCAN_NULL:
		return "null";
	}
	return "a value";
}

/*
 * Size and syntax, the first two checks of SPEC §8 for both inputs: 0
 * with the top-level object's members in js, or -1 with rj filled.
 */
static int load_object(const char *buf, size_t len, size_t max_bytes, const char *what,
                       struct jscan *js, struct rejection *rj)
{
	struct jscan_error err;
	char text[400]; /* with the prefix, under REJECT_MSGSZ: no cut mid-character */

	if (max_bytes != 0 && len > max_bytes)
		return reject(rj, REASON_TOO_LARGE, "%s is %zu bytes, over the limit of %zu bytes",
		              what, len, max_bytes);
	if (jscan_parse(js, buf, len, &err) < 0) {
		/* the text quotes the input near the error: escape it */
		escape_text(err.text, strnlen(err.text, sizeof(err.text) - 1), sizeof(err.text),
		            text, sizeof(text));
		return reject(rj, REASON_INVALID_JSON, "invalid JSON at line %d, column %d: %s",
		              err.line, err.column, text);
	}
	if (js->type != JSCAN_OBJECT)
		return reject(rj, REASON_INVALID_JSON, "%s must be a JSON object, not %s", what,
		              kind_name(js->type));
	return 0;
}

/* Whether s[0..len), which holds no NUL, is the string name. */
static bool name_is(const char *name, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && name[i] == s[i])
		i++;
	return i == len && name[len] == '\0';
}

/*
 * The members named in names[0..n), by index (NULL when absent). Keys
 * are compared decoded: "\u0069d" is "id".
 */
static void find_fields(const struct jscan *js, const char *const *names, size_t n,
                        const struct jscan_member **out)
{
	/* the longest escaped spelling of a key we know: six bytes a character */
	char key[6 * 16 + 1];

	for (size_t k = 0; k < n; k++)
		out[k] = NULL;
	for (size_t i = 0; i < js->nmembers; i++) {
		const struct jscan_member *m = &js->members[i];
		const char *s = m->key + 1;
		size_t len = m->key_len - 2;

		if (m->flags & JSCAN_KEY_ESCAPED) {
			if (m->key_len - 1 > sizeof(key))
				continue;
			len = jscan_string(m->key, m->key_len, key);
			s = key;
		}
		for (size_t k = 0; k < n; k++) {
			if (name_is(names[k], s, len)) {
				out[k] = m;
				break;
			}
		}
	}
}

/* Decoded strings go here: they never outgrow the input they come from. */
struct arena {
	char *p;
};

/* A string value decoded into the arena, NUL-terminated. */
static const char *arena_string(struct arena *a, const struct jscan_member *m, size_t *len)
{
	char *s = a->p;
	size_t n = jscan_string(m->value, m->value_len, s);

	a->p += n + 1;
	if (len != NULL)
		*len = n;
	return s;
}

/* A string to look at, not to keep: decoded only when it has escapes. */
static const char *peek_string(struct arena *a, const struct jscan_member *m, size_t *len)
{
	if (!(m->flags & JSCAN_VALUE_ESCAPED)) {
		*len = m->value_len - 2;
		return m->value + 1;
	}
	return arena_string(a, m, len);
}

static int not_string(const char *field, const struct jscan_member *m, struct rejection *rj)
{
	return reject(rj, REASON_INVALID_FIELD, "field \"%s\" must be a string, not %s", field,
	              kind_name(m->type));
}

/*
 * An optional string field: 0 (*s NULL when absent) or -1 and rj. keep:
 * decoded into the arena and NUL-terminated; else possibly the raw bytes.
 */
static int opt_string(const struct jscan_member *m, const char *field, bool keep, struct arena *a,
                      const char **s, size_t *len, struct rejection *rj)
{
	*s = NULL;
	*len = 0;
	if (m == NULL)
		return 0;
	if (m->type != JSCAN_STRING)
		return not_string(field, m, rj);
	*s = keep ? arena_string(a, m, len) : peek_string(a, m, len);
	return 0;
}

static int opt_time(const struct jscan_member *m, const char *field, struct arena *a, int64_t *ms,
                    struct rejection *rj)
{
	const char *s;
	size_t len;

	*ms = TIME_NONE;
	if (opt_string(m, field, false, a, &s, &len, rj) < 0)
		return -1;
	if (s != NULL && time_parse_rfc3339(s, len, ms) < 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"%s\" must be an RFC 3339 date-time from "
		              "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, such as "
		              "2026-11-26T12:00:00+08:00",
		              field);
	return 0;
}

static int opt_object(const struct jscan_member *m, const char *field, struct rejection *rj)
{
	if (m != NULL && m->type != JSCAN_OBJECT)
		return reject(rj, REASON_INVALID_FIELD, "field \"%s\" must be an object, not %s",
		              field, kind_name(m->type));
	return 0;
}

/* Presence of the required fields comes first: a missing one is the reason. */
static int check_required(const struct jscan_member *const *f, const char *const *names,
                          const int *required, size_t n, struct rejection *rj)
{
	for (size_t i = 0; i < n; i++) {
		if (f[required[i]] == NULL)
			return reject(rj, REASON_MISSING_FIELD, "missing required field \"%s\"",
			              names[required[i]]);
	}
	return 0;
}

/* The top-level fields of an incident we look at, in the order of the checks. */
enum {
	F_ID,
	F_CATEGORY,
	F_UNIT,
	F_TITLE,
	F_DETAIL,
	F_SEVERITY,
	F_REPORTED_AT,
	F_DUE_AT,
	F_DEDUP_KEY,
	F_REPORTER,
	F_LOCATION,
	F_ATTRS,
	F_CHANNEL,
	F__COUNT
};

static const char *const inc_fields[F__COUNT] = {
        "id",     "category",  "unit",     "title",    "detail", "severity", "reported_at",
        "due_at", "dedup_key", "reporter", "location", "attrs",  "channel"};

/* The fields of an incident as read, before normalization. */
struct incident_in {
	const struct jscan_member *f[F__COUNT];
	const char *id, *category, *unit, *title, *severity, *dedup_key, *channel;
	size_t id_len, category_len, unit_len, title_len, severity_len, dedup_len, channel_len;
	int64_t reported_at, due_at;
	enum severity sev;
	char reported_text[TIME_BUFSZ]; /* the default reported_at as written (only then set) */
};

static int severity_parse_n(const char *s, size_t len, enum severity *out)
{
	for (int i = 0; i < SEV__COUNT; i++) {
		if (strlen(severity_names[i]) == len && memcmp(severity_names[i], s, len) == 0) {
			*out = (enum severity)i;
			return 0;
		}
	}
	return -1;
}

/* attrs: an object of strings, decoded into the array at out (nattrs + 1 entries). */
static int check_attrs(const struct jscan_member *m, struct arena *a, struct incident_attr *out,
                       size_t *n, struct rejection *rj)
{
	struct jscan_iter it;
	struct jscan_member am;
	char q[QUOTE_BUFSZ];
	size_t i = 0;

	jscan_iter_init(&it, m->value, m->value_len);
	while (jscan_next(&it, &am)) {
		char *key = a->p;
		size_t klen = jscan_string(am.key, am.key_len, key);

		a->p += klen + 1;
		if (am.type != JSCAN_STRING) {
			quote(key, klen, q);
			return reject(rj, REASON_INVALID_FIELD,
			              "field \"attrs.%s\" must be a string, not %s", q,
			              kind_name(am.type));
		}
		out[i].key = key;
		out[i].value = arena_string(a, &am, &out[i].value_len);
		i++;
	}
	out[i].key = NULL;
	out[i].value = NULL;
	out[i].value_len = 0;
	*n = i;
	return 0;
}

static size_t count_members(const struct jscan_member *m)
{
	struct jscan_iter it;
	struct jscan_member am;
	size_t n = 0;

	jscan_iter_init(&it, m->value, m->value_len);
	while (jscan_next(&it, &am))
		n++;
	return n;
}

static int incident_check(struct incident_in *in, struct arena *a, struct incident *out,
                          struct rejection *rj)
{
	static const int required[] = {F_CATEGORY, F_UNIT, F_TITLE};
	const struct jscan_member *const *f = in->f;

	if (check_required(f, inc_fields, required, GR_NELEM(required), rj) < 0)
		return -1;

	if (opt_string(f[F_ID], "id", true, a, &in->id, &in->id_len, rj) < 0)
		return -1;
	if (in->id != NULL && !incident_id_valid(in->id, in->id_len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"id\" must be 1 to %d characters of A-Z, a-z, 0-9, \".\", "
		              "\"_\", \":\" and \"-\"",
		              INCIDENT_ID_MAX);

	if (opt_string(f[F_CATEGORY], "category", true, a, &in->category, &in->category_len, rj) <
	    0)
		return -1;
	if (in->category_len == 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"category\" must be a category key, not empty");

	if (opt_string(f[F_UNIT], "unit", true, a, &in->unit, &in->unit_len, rj) < 0)
		return -1;
	if (!unit_id_valid(in->unit, in->unit_len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"unit\" must be \"/\"-joined segments of "
		              "[a-z0-9][a-z0-9_-]{0,63}, at most %d",
		              UNIT_ID_MAX_DEPTH);

	if (opt_string(f[F_TITLE], "title", true, a, &in->title, &in->title_len, rj) < 0)
		return -1;
	if (in->title_len == 0 || in->title_len > INCIDENT_TITLE_MAX)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"title\" must be 1 to %d bytes, not %zu", INCIDENT_TITLE_MAX,
		              in->title_len);

	if (f[F_DETAIL] != NULL && f[F_DETAIL]->type != JSCAN_STRING)
		return not_string("detail", f[F_DETAIL], rj);

	if (opt_string(f[F_SEVERITY], "severity", false, a, &in->severity, &in->severity_len, rj) <
	    0)
		return -1;
	in->sev = SEV_NORMAL;
	if (in->severity != NULL && severity_parse_n(in->severity, in->severity_len, &in->sev) < 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"severity\" must be one of low, normal, high, critical");

	if (opt_time(f[F_REPORTED_AT], "reported_at", a, &in->reported_at, rj) < 0 ||
	    opt_time(f[F_DUE_AT], "due_at", a, &in->due_at, rj) < 0)
		return -1;

	if (opt_string(f[F_DEDUP_KEY], "dedup_key", true, a, &in->dedup_key, &in->dedup_len, rj) <
	    0)
		return -1;
	if (in->dedup_key != NULL && (in->dedup_len == 0 || in->dedup_len > INCIDENT_DEDUP_MAX))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"dedup_key\" must be 1 to %d bytes, not %zu",
		              INCIDENT_DEDUP_MAX, in->dedup_len);

	if (opt_object(f[F_REPORTER], "reporter", rj) < 0 ||
	    opt_object(f[F_LOCATION], "location", rj) < 0 ||
	    opt_object(f[F_ATTRS], "attrs", rj) < 0)
		return -1;
	if (f[F_ATTRS] != NULL && check_attrs(f[F_ATTRS], a, out->attrs, &out->nattrs, rj) < 0)
		return -1;

	return opt_string(f[F_CHANNEL], "channel", false, a, &in->channel, &in->channel_len, rj);
}

/*
 * Whether a time as given is already what time_format would write for it
 * ("2026-11-26T04:00:00.123Z"): stored documents and most backends send
 * that, and it needs no rewriting.
 */
static bool time_canonical(const struct jscan_member *m)
{
	static const char shape[] = "\"dddd-dd-ddTdd:dd:dd.dddZ\"";
	const char *s = m->value;

	if (m->value_len != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return false;
	}
	return true;
}

/* A value as given, without the whitespace between its tokens (and the NULs jscan skips). */
static char *put_minified(char *o, const char *s, size_t n)
{
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_string) {
			*o++ = c;
			if (c == '\\')
				*o++ = s[++i];
			else if (c == '"')
				in_string = false;
		} else if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\0') {
			*o++ = c;
			in_string = c == '"';
		}
	}
	return o;
}

static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

static char *put_str(char *o, const char *s)
{
	return put(o, s, strlen(s));
}

/* ,"key":"value" with nothing to escape in either. */
static char *put_member(char *o, bool first, const char *key, const char *value)
{
	if (!first)
		*o++ = ',';
	*o++ = '"';
	o = put_str(o, key);
	o = put(o, "\":\"", 3);
	o = put_str(o, value);
	*o++ = '"';
	return o;
}

/*
 * What the defaults and the normalized times may add to the input: an id
 * (,"id":"<128>"), ,"channel":"scheduled", ,"severity":"critical",
 * ,"reported_at":"<24>", and four bytes for each time given in its
 * shortest form (20 characters) and written with milliseconds.
 */
#define DOC_SLACK 256

/*
 * The normalized document: the members in input order, each as given
 * (the whitespace between tokens dropped) except channel, severity and
 * the two times, written normalized; then the defaults that were absent,
 * in the order id, channel, severity, reported_at.
 */
static size_t write_doc(char *doc, const struct jscan *js, const struct incident_in *in,
                        const char *chname, const char *id_default)
{
	char ts[TIME_BUFSZ];
	char *o = doc;

	*o++ = '{';
	for (size_t i = 0; i < js->nmembers; i++) {
		const struct jscan_member *m = &js->members[i];
		if (i > 0)
			*o++ = ',';
		o = put(o, m->key, m->key_len);
		*o++ = ':';
		if (m == in->f[F_CHANNEL] || m == in->f[F_SEVERITY]) {
			*o++ = '"';
			o = put_str(o, m == in->f[F_CHANNEL] ? chname : severity_name(in->sev));
			*o++ = '"';
		} else if ((m == in->f[F_REPORTED_AT] || m == in->f[F_DUE_AT]) &&
		           !time_canonical(m)) {
			time_format(m == in->f[F_DUE_AT] ? in->due_at : in->reported_at, ts);
			*o++ = '"';
			o = put_str(o, ts);
			*o++ = '"';
		} else if (m->flags & JSCAN_VALUE_SPACED) {
			o = put_minified(o, m->value, m->value_len);
		} else {
			o = put(o, m->value, m->value_len);
		}
	}
	if (in->f[F_ID] == NULL)
		o = put_member(o, o == doc + 1, "id", id_default);
	if (in->f[F_CHANNEL] == NULL)
		o = put_member(o, o == doc + 1, "channel", chname);
	if (in->f[F_SEVERITY] == NULL)
		o = put_member(o, o == doc + 1, "severity", severity_name(in->sev));
	if (in->f[F_REPORTED_AT] == NULL)
		o = put_member(o, o == doc + 1, "reported_at", in->reported_text);
	*o++ = '}';
	*o = '\0';
	return (size_t)(o - doc);
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int incident_parse(const char *buf, size_t len, const struct incident_ctx *ctx,
                   struct incident *out, struct rejection *rj)
{
	struct incident_in in;
	struct jscan js;
	struct arena a;
	const char *chname = channel_name(ctx->channel);
	char q[QUOTE_BUFSZ], id_default[INCIDENT_ID_MAX + 2];
	size_t nattrs = 0, doc_cap, attrs_off, arena_off;
	char *mem = NULL;

	memset(out, 0, sizeof(*out));
	out->due_at = TIME_NONE;
	jscan_init(&js);
	if (load_object(buf, len, ctx->max_bytes, "incident", &js, rj) < 0)
		goto fail;
	find_fields(&js, inc_fields, F__COUNT, in.f);

	/*
	 * One allocation: the document, the attrs array, then the decoded
	 * strings. Neither outgrows its bound: the document is the input
	 * minus whitespace plus DOC_SLACK, and every decoded string is at most
	 * as long as the value it comes from.
	 */
	if (in.f[F_ATTRS] != NULL && in.f[F_ATTRS]->type == JSCAN_OBJECT)
		nattrs = count_members(in.f[F_ATTRS]);
	doc_cap = len + DOC_SLACK;
	attrs_off = align8(doc_cap);
	arena_off = attrs_off + (nattrs + 1) * sizeof(struct incident_attr);
	mem = xmalloc(arena_off + len + F__COUNT + 2 * nattrs + sizeof(id_default));
	a.p = mem + arena_off;
	if (in.f[F_ATTRS] != NULL)
		out->attrs = (struct incident_attr *)(void *)(mem + attrs_off);

	if (incident_check(&in, &a, out, rj) < 0)
		goto fail;
	if (in.channel != NULL &&
	    (in.channel_len != strlen(chname) || memcmp(in.channel, chname, in.channel_len) != 0)) {
		quote(in.channel, in.channel_len, q);
		reject(rj, REASON_CHANNEL_MISMATCH,
		       "field \"channel\" is \"%s\" but the entry came on the %s stream", q,
		       chname);
		goto fail;
	}

	if (in.reported_at == TIME_NONE) {
		int64_t t = ctx->entry_ms != TIME_NONE ? ctx->entry_ms : time_now_ms();
		/* through the text form, so that the struct and the document agree */
		time_format(t > 0 ? t : 0, in.reported_text); /* times start at the epoch */
		time_parse_rfc3339(in.reported_text, strlen(in.reported_text), &in.reported_at);
	}
	if (in.id == NULL) {
		size_t chlen = strlen(chname), elen;
		int n;
		/* no snprintf on the hot path: it costs as much as the rest of a default id */
		if (ctx->entry_id != NULL) {
			elen = strnlen(ctx->entry_id, sizeof(id_default));
			n = (int)(chlen + 1 + elen);
			if ((size_t)n < sizeof(id_default)) {
				memcpy(id_default, chname, chlen);
				id_default[chlen] = '-';
				memcpy(id_default + chlen + 1, ctx->entry_id, elen + 1);
			}
		} else {
			n = snprintf(id_default, sizeof(id_default), "%s-%lld", chname,
			             (long long)in.reported_at);
		}
		if (n < 0 || (size_t)n >= sizeof(id_default) ||
		    !incident_id_valid(id_default, (size_t)n)) {
			reject(rj, REASON_INVALID_FIELD,
			       "field \"id\" is absent and the stream entry id does not make a "
			       "valid default");
			goto fail;
		}
		in.id = memcpy(a.p, id_default, (size_t)n + 1);
	}

	out->doc = mem;
	out->doc_len = write_doc(mem, &js, &in, chname, in.id);
	if (out->doc_len >= doc_cap)
		fatalx("incident: normalized document of %zu bytes over its bound %zu",
		       out->doc_len, doc_cap);
	out->id = in.id;
	out->category = in.category;
	out->unit = in.unit;
	out->unit_len = in.unit_len;
	out->title = in.title;
	out->dedup_key = in.dedup_key;
	out->channel = ctx->channel;
	out->severity = in.sev;
	out->reported_at = in.reported_at;
	out->due_at = in.due_at;
	jscan_free(&js);
	return 0;

fail:
	jscan_free(&js);
	free(mem);
	memset(out, 0, sizeof(*out));
	out->due_at = TIME_NONE;
	return -1;
}

int incident_doc_replace(const char *doc, size_t len, const char *unit, const char *category,
                         struct buf *out)
{
	struct jscan js;
	struct jscan_error err;
	const char *names[2] = {"unit", "category"}, *values[2] = {unit, category};
	bool done[2] = {false, false};

	jscan_init(&js);
	if (jscan_parse(&js, doc, len, &err) < 0 || js.type != JSCAN_OBJECT) {
		jscan_free(&js);
		return -1;
	}
	buf_putc(out, '{');
	for (size_t i = 0; i < js.nmembers; i++) {
		const struct jscan_member *m = &js.members[i];
		int which = -1;
		for (int k = 0; k < 2; k++) {
			if (values[k] != NULL && !(m->flags & JSCAN_KEY_ESCAPED) &&
			    name_is(names[k], m->key + 1, m->key_len - 2))
				which = k;
		}
		if (i > 0)
			buf_putc(out, ',');
		buf_append(out, m->key, m->key_len);
		buf_putc(out, ':');
		if (which < 0) {
			buf_append(out, m->value, m->value_len);
			continue;
		}
		/* ids and keys hold nothing that needs escaping */
		buf_putc(out, '"');
		buf_puts(out, values[which]);
		buf_putc(out, '"');
		done[which] = true;
	}
	for (int k = 0; k < 2; k++) {
		if (values[k] != NULL && !done[k])
			buf_printf(out, "%s\"%s\":\"%s\"", out->len > 1 ? "," : "", names[k],
			           values[k]);
	}
	buf_putc(out, '}');
	jscan_free(&js);
	return 0;
}

void incident_free(struct incident *inc)
{
	if (inc == NULL)
		return;
	free(inc->doc);
	memset(inc, 0, sizeof(*inc));
	inc->due_at = TIME_NONE;
}

enum {
	C_OP,
	C_INCIDENT,
	C_BY,
	C_NOTE,
	C_LEVEL,
	C_UNIT,
	C_CATEGORY,
	C_UNTIL,
	C_FOR,
	C_PASSED,
	C__COUNT
};

static const char *const cmd_fields[C__COUNT] = {"op",   "incident", "by",    "note", "level",
                                                 "unit", "category", "until", "for",  "passed"};

/* SPEC §5: the fields each op needs (in bold there), beyond op, incident and by. */
static const struct {
	bool note;     /* a note that is not empty */
	bool level;    /* reassign */
	bool until_or; /* extend: until or for */
	bool passed;   /* verify */
} op_needs[OP__COUNT] = {
        [OP_REASSIGN] = {.level = true}, [OP_RETURN] = {.note = true},
        [OP_CANCEL] = {.note = true},    [OP_EXTEND] = {.note = true, .until_or = true},
        [OP_PARK] = {.note = true},      [OP_VERIFY] = {.passed = true},
        [OP_REOPEN] = {.note = true},
};

static int command_check(const struct jscan_member *const *f, struct arena *a, struct command *cmd,
                         struct rejection *rj)
{
	static const int required[] = {C_OP, C_INCIDENT, C_BY};
	const char *op;
	size_t oplen, idlen, bylen, notelen, levellen, len;
	char q[QUOTE_BUFSZ];

	cmd->until = TIME_NONE;
	cmd->passed = -1;
	if (check_required(f, cmd_fields, required, GR_NELEM(required), rj) < 0)
		return -1;
	if (opt_string(f[C_OP], "op", true, a, &op, &oplen, rj) < 0 ||
	    opt_string(f[C_INCIDENT], "incident", true, a, &cmd->incident, &idlen, rj) < 0 ||
	    opt_string(f[C_BY], "by", true, a, &cmd->by, &bylen, rj) < 0)
		return -1;
	if (!incident_id_valid(cmd->incident, idlen))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"incident\" must be an incident id: 1 to %d characters of "
		              "A-Z, a-z, 0-9, \".\", \"_\", \":\" and \"-\"",
		              INCIDENT_ID_MAX);
	if (!person_id_valid(cmd->by, bylen))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"by\" must be a person id: [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (cmd_op_parse(op, &cmd->op) < 0) {
		quote(op, oplen, q);
		return reject(rj, REASON_UNKNOWN_OP,
		              "unknown op \"%s\": field \"op\" must be one of ack, resolve, "
		              "escalate, reassign, comment, return, redispatch, cancel, extend, "
		              "approve, deny, park, unpark, verify, reopen, urge",
		              q);
	}
	/* the op's own fields: the required ones first, then the form of each */
	const char *name = cmd_op_name(cmd->op);
	if (op_needs[cmd->op].level && f[C_LEVEL] == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"level\" (%s needs it)", name);
	if (op_needs[cmd->op].until_or && f[C_UNTIL] == NULL && f[C_FOR] == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"until\" or \"for\" (%s needs one of them)",
		              name);
	if (op_needs[cmd->op].passed && f[C_PASSED] == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"passed\" (verify needs true or false)");
	if (opt_string(f[C_NOTE], "note", true, a, &cmd->note, &notelen, rj) < 0)
		return -1;
	if (op_needs[cmd->op].note && (cmd->note == NULL || notelen == 0))
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"note\" (%s needs a reason; an empty note "
		              "counts as missing)",
		              name);
	if (opt_string(f[C_LEVEL], "level", true, a, &cmd->level, &levellen, rj) < 0 ||
	    opt_string(f[C_UNIT], "unit", true, a, &cmd->unit, &len, rj) < 0)
		return -1;
	if (cmd->unit != NULL && !unit_id_valid(cmd->unit, len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"unit\" must be a unit id: \"/\"-joined segments of "
		              "[a-z0-9][a-z0-9_-]{0,63}, at most %d deep",
		              UNIT_ID_MAX_DEPTH);
	if (opt_string(f[C_CATEGORY], "category", true, a, &cmd->category, &len, rj) < 0)
		return -1;
	if (cmd->category != NULL && !key_valid(cmd->category, len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"category\" must be a category key: [a-z][a-z0-9_]{0,63}");
	if (opt_time(f[C_UNTIL], "until", a, &cmd->until, rj) < 0 ||
	    opt_string(f[C_FOR], "for", true, a, &cmd->for_text, &len, rj) < 0)
		return -1;
	if (cmd->for_text != NULL && len == 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"for\" must be a duration such as \"2h\", \"3d\" or \"2wd\"");
	if (cmd->until != TIME_NONE && cmd->for_text != NULL)
		return reject(rj, REASON_INVALID_FIELD,
		              "fields \"until\" and \"for\": give one of them, not both");
	if (f[C_PASSED] != NULL) {
		if (f[C_PASSED]->type != JSCAN_TRUE && f[C_PASSED]->type != JSCAN_FALSE)
			return reject(rj, REASON_INVALID_FIELD,
			              "field \"passed\" must be true or false, not %s",
			              kind_name(f[C_PASSED]->type));
		cmd->passed = f[C_PASSED]->type == JSCAN_TRUE;
	}
	return 0;
}

int command_parse(const char *buf, size_t len, size_t max_bytes, struct command *out,
                  struct rejection *rj)
{
	const struct jscan_member *f[C__COUNT];
	struct jscan js;
	struct arena a;
	char *mem = NULL;

	memset(out, 0, sizeof(*out));
	jscan_init(&js);
	if (load_object(buf, len, max_bytes, "command", &js, rj) < 0)
		goto fail;
	find_fields(&js, cmd_fields, C__COUNT, f);
	/* the command as given, then its strings decoded */
	mem = xmalloc(2 * len + C__COUNT + 1);
	memcpy(mem, buf, len);
	mem[len] = '\0';
	a.p = mem + len + 1;
	if (command_check(f, &a, out, rj) < 0)
		goto fail;
	out->doc = mem;
	out->doc_len = len;
	jscan_free(&js);
	return 0;

fail:
	jscan_free(&js);
	free(mem);
	memset(out, 0, sizeof(*out));
	return -1;
}

void command_free(struct command *cmd)
{
	if (cmd == NULL)
		return;
	free(cmd->doc);
	memset(cmd, 0, sizeof(*cmd));
}
