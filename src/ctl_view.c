/*
 * ctl_view.c: `gridctl show`, `ls` and `tail`. Nothing here writes to
 * Redis. `ls` walks the open set by score in pages, with the hashes of a
 * page fetched in one pipeline, so that a district with many open
 * incidents costs round trips per page, not per incident, and no command
 * ever scans the key space.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_redis.h"
#include "ctl_view.h"
#include "incident.h"
#include "route.h"

#define LS_PAGE       500
#define TIMELINE_PAGE 500

/* ---- one event as a line ---------------------------------------------- */

static const struct {
	const char *type;
	const char *sgr;
} type_colours[] = {
        {"assigned", "32"},   {"escalated", "33"}, {"reassigned", "36"},
        {"skipped", "2"},     {"acked", "34"},     {"resolved", "1;32"},
        {"breached", "1;31"}, {"duplicate", "35"}, {"comment", "1"},
};

static const char *colour_of(const char *type)
{
	for (size_t i = 0; i < GR_NELEM(type_colours); i++) {
		if (strcmp(type_colours[i].type, type) == 0)
			return type_colours[i].sgr;
	}
	return NULL;
}

static bool needs_quotes(const char *s, size_t len)
{
	if (len == 0)
		return true;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || (unsigned char)s[i] < 0x20)
			return true;
	}
	return false;
}

static void put_value(struct buf *b, json_t *v)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		bool q = needs_quotes(s, len);
		if (q)
			buf_putc(b, '"');
		for (size_t i = 0; i < len; i++) {
			size_t j = i;
			while (j < len && s[j] != '"' && s[j] != '\\')
				j++;
			ctl_put_clean(b, s + i, j - i);
			if (j < len)
				buf_printf(b, "\\%c", s[j]);
			i = j;
		}
		if (q)
			buf_putc(b, '"');
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		if (json_array_size(v) == 0)
			buf_putc(b, '-');
		json_array_foreach(v, i, e)
		{
			if (i > 0)
				buf_putc(b, ',');
			if (json_is_string(e))
				ctl_put_clean(b, json_string_value(e), json_string_length(e));
			else
				put_value(b, e);
		}
	} else if (json_is_integer(v)) {
		buf_printf(b, "%lld", (long long)json_integer_value(v));
	} else if (json_is_true(v) || json_is_false(v)) {
		buf_puts(b, json_is_true(v) ? "true" : "false");
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s != NULL)
			ctl_put_clean(b, s, strlen(s));
		free(s);
	}
}

/* Terminal columns of clean UTF-8 text: CJK (3- and 4-byte sequences) as two. */
static size_t columns(const char *s, size_t len)
{
	size_t cols = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch & 0xc0) != 0x80)
			cols += ch >= 0xe0 ? 2 : 1;
	}
	return cols;
}

/* Text (escaped) in colour sgr (NULL: none), padded with spaces to width columns. */
static void cell(struct buf *b, const char *text, size_t len, const char *sgr, size_t width)
{
	size_t start, cols;

	if (sgr != NULL)
		buf_printf(b, "\033[%sm", sgr);
	start = b->len;
	ctl_put_clean(b, text, len);
	cols = b->len > start ? columns(b->data + start, b->len - start) : 0;
	if (sgr != NULL)
		buf_puts(b, "\033[0m");
	for (; cols < width; cols++)
		buf_putc(b, ' ');
}

static bool shown_first(const char *key)
{
	static const char *const common[] = {"type", "incident", "at", "source", "entry"};

	for (size_t i = 0; i < GR_NELEM(common); i++) {
		if (strcmp(common[i], key) == 0)
			return true;
	}
	return false;
}

void ctl_view_event(struct buf *out, json_t *ev, bool with_incident, bool colour)
{
	/* the fields of every type, in the order people read them; others follow */
	static const char *const order[] = {"level", "level_key", "reason",    "by",
	                                    "note",  "count",     "assignees", "co_assignees"};
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *at = json_string_value(json_object_get(ev, "at"));
	json_t *inc = json_object_get(ev, "incident");
	const char *sgr = NULL;
	const char *key;
	json_t *v;

	if (type == NULL)
		type = "?";
	if (at == NULL)
		at = "-";
	if (colour)
		sgr = colour_of(type);
	cell(out, at, strlen(at), colour ? "2" : NULL, 0);
	buf_putc(out, ' ');
	cell(out, type, strlen(type), sgr, 10);
	if (with_incident && json_is_string(inc)) {
		buf_putc(out, ' ');
		ctl_put_clean(out, json_string_value(inc), json_string_length(inc));
	}
	for (size_t i = 0; i < GR_NELEM(order); i++) {
		v = json_object_get(ev, order[i]);
		if (v == NULL || json_is_null(v) ||
		    (strcmp(order[i], "co_assignees") == 0 && json_array_size(v) == 0))
			continue;
		buf_printf(out, " %s=", order[i]);
		put_value(out, v);
	}
	json_object_foreach(ev, key, v)
	{
		size_t i = 0;
		while (i < GR_NELEM(order) && strcmp(order[i], key) != 0)
			i++;
		if (i < GR_NELEM(order) || shown_first(key) || json_is_null(v))
			continue;
		buf_putc(out, ' ');
		ctl_put_clean(out, key, strlen(key));
		buf_putc(out, '=');
		put_value(out, v);
	}
}

/* ---- show --------------------------------------------------------------- */

/* The hash fields that hold times in ms, and those that hold JSON. */
static bool is_time_field(const char *f)
{
	static const char *const t[] = {"ack_deadline",    "resolve_deadline", "created_at",
	                                "updated_at",      "last_seen_at",     "case_deadline",
	                                "verify_deadline", "review_deadline",  "parked_until",
	                                "resolved_at",     "parked_at"};

	for (size_t i = 0; i < GR_NELEM(t); i++) {
		if (strcmp(t[i], f) == 0)
			return true;
	}
	return false;
}

static bool name_in(const char *f, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], f) == 0)
			return true;
	}
	return false;
}

static bool is_int_field(const char *f)
{
	static const char *const n[] = {"level",   "count",   "version", "extensions",
	                                "reworks", "reopens", "urges",   "late"};

	return name_in(f, n, GR_NELEM(n));
}

static bool is_json_field(const char *f)
{
	static const char *const n[] = {"doc", "assignees", "co_assignees", "verifiers",
	                                "pending_extension"};

	return name_in(f, n, GR_NELEM(n));
}

/*
 * A stored document as JSON; one with numbers Jansson cannot hold (any
 * size is valid input, SPEC §4) is kept as its text.
 */
static json_t *doc_json(const char *text)
{
	json_t *d;

	if (text == NULL)
		return NULL;
	d = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
	return d != NULL ? d : json_string(text);
}

static json_t *time_json(const char *ms_text)
{
	char t[TIME_BUFSZ];
	int64_t ms;

	if (parse_int64(ms_text, INT64_MIN, INT64_MAX, &ms) < 0)
		return json_string(ms_text);
	time_format(ms, t);
	return json_string(t);
}

static json_t *field_json(const char *f, const redisReply *v)
{
	json_t *jv = NULL;
	int64_t n;

	if (v->len == 0 && (is_time_field(f) || is_json_field(f)))
		jv = json_null(); /* none */
	else if (is_json_field(f))
		jv = json_loadb(v->str, v->len, 0, NULL);
	else if (is_time_field(f))
		jv = time_json(v->str);
	else if (is_int_field(f) && parse_int64(v->str, INT64_MIN, INT64_MAX, &n) == 0)
		jv = json_integer(n);
	return jv != NULL ? jv : json_stringn(v->str, v->len);
}

/*
 * The hash as JSON, in SPEC §7 order: doc and the id lists parsed, numbers
 * as numbers, times as RFC 3339 (as every time in gridroute's JSON is).
 */
static json_t *incident_json(const char *id, const redisReply *h, const char *doc_text)
{
	static const char *const order[] = {
	        "channel",
	        "state",
	        "level",
	        "level_key",
	        "assignees",
	        "co_assignees",
	        "policy",
	        "ack_deadline",
	        "resolve_deadline",
	        "created_at",
	        "updated_at",
	        "last_seen_at",
	        "count",
	        "version",
	        "case_deadline",
	        "verify_deadline",
	        "review_deadline",
	        "parked_until",
	        "resolved_at",
	        "verifiers",
	        "resolved_by",
	        "handled_by",
	        "pending_extension",
	        "extensions",
	        "reworks",
	        "reopens",
	        "urges",
	        "late",
	        "parked_at",
	        "unit",
	        "category",
	        "report_sha1",
	        "breached",
	};
	json_t *o = json_object();
	json_t *doc = doc_json(doc_text);

	json_object_set_new(o, "id", json_string(id));
	/* the document is a key of its own (gr:doc:<id>); shown here as before */
	json_object_set_new(o, "doc", doc != NULL ? doc : json_null());
	for (size_t k = 0; k < GR_NELEM(order); k++) {
		const redisReply *v = ctl_reply_field(h, order[k]);
		if (ctl_reply_string(v))
			json_object_set_new(o, order[k], field_json(order[k], v));
	}
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const redisReply *f = h->element[i], *v = h->element[i + 1];
		if (ctl_reply_string(f) && ctl_reply_string(v) &&
		    json_object_get(o, f->str) == NULL)
			json_object_set_new(o, f->str, field_json(f->str, v));
	}
	return o;
}

/* "2026-11-26T04:30:00.000Z (in 29m)" */
static void put_time(struct buf *b, const char *ms_text, int64_t now, bool relative)
{
	char t[TIME_BUFSZ], age[CTL_AGE_BUFSZ];
	int64_t ms;

	if (ms_text == NULL || parse_int64(ms_text, INT64_MIN, INT64_MAX, &ms) < 0) {
		buf_puts(b, ms_text != NULL ? ms_text : "-");
		return;
	}
	time_format(ms, t);
	buf_puts(b, t);
	if (!relative)
		return;
	ctl_age(ms >= now ? ms - now : now - ms, age);
	buf_printf(b, ms >= now ? " (in %s)" : " (%s ago)", age);
}

static void put_list(struct buf *b, const char *json_text)
{
	json_t *a = json_text != NULL ? json_loads(json_text, 0, NULL) : NULL;

	if (json_is_array(a))
		put_value(b, a);
	else if (json_text != NULL)
		ctl_put_clean(b, json_text, strlen(json_text));
	else
		buf_putc(b, '-');
	json_decref(a);
}

/* What `show` prints, in order, and where each value comes from. */
enum row_kind {
	ROW_DOC,       /* a field of the incident document; skipped when absent */
	ROW_HASH,      /* a hash field as it is */
	ROW_HASH_OPT,  /* the same, skipped when absent or empty */
	ROW_LEVEL,     /* "3 community" */
	ROW_LIST,      /* a JSON array of ids */
	ROW_TIME_OPT,  /* a time, skipped when empty */
	ROW_TIME,      /* ms since epoch, with how long ago or how soon */
	ROW_TIME_ACK,  /* the same, relative only while the ack is pending */
	ROW_TIME_LIVE, /* the same, relative only until resolved */
};

static const struct {
	const char *name;
	enum row_kind kind;
} show_rows[] = {
        {"title", ROW_DOC},
        {"detail", ROW_DOC},
        {"channel", ROW_HASH},
        {"category", ROW_DOC},
        {"unit", ROW_DOC},
        {"severity", ROW_DOC},
        {"state", ROW_HASH},
        {"level", ROW_LEVEL},
        {"assignees", ROW_LIST},
        {"co_assignees", ROW_LIST},
        {"verifiers", ROW_LIST},
        {"policy", ROW_HASH},
        {"ack_deadline", ROW_TIME_ACK},
        {"resolve_deadline", ROW_TIME_LIVE},
        {"verify_deadline", ROW_TIME_OPT},
        {"review_deadline", ROW_TIME_OPT},
        {"case_deadline", ROW_TIME_OPT},
        {"pending_extension", ROW_HASH_OPT},
        {"parked_at", ROW_TIME_OPT},
        {"parked_until", ROW_TIME_OPT},
        {"resolved_at", ROW_TIME_OPT},
        {"resolved_by", ROW_HASH_OPT},
        {"handled_by", ROW_HASH_OPT},
        {"extensions", ROW_HASH},
        {"reworks", ROW_HASH},
        {"reopens", ROW_HASH},
        {"urges", ROW_HASH},
        {"late", ROW_HASH},
        {"breached", ROW_HASH_OPT},
        {"reported_at", ROW_DOC},
        {"due_at", ROW_DOC},
        {"dedup_key", ROW_DOC},
        {"created_at", ROW_TIME},
        {"updated_at", ROW_TIME},
        {"last_seen_at", ROW_TIME},
        {"count", ROW_HASH},
        {"version", ROW_HASH},
};

static void put_text(struct buf *b, const char *s)
{
	if (s != NULL && s[0] != '\0')
		ctl_put_clean(b, s, strlen(s));
	else
		buf_putc(b, '-');
}

/*
 * Whether an optional time of §7 still counts in this state: how soon or how
 * long ago is said only then (a closed case keeps its last deadlines, no
 * longer pending, SPEC §6). Times of the past (parked_at, resolved_at) always.
 */
static bool opt_time_pending(const char *name, const char *state)
{
	static const struct {
		const char *field, *state;
	} only_in[] = {{"verify_deadline", "verifying"},
	               {"review_deadline", "returned"},
	               {"parked_until", "parked"}};

	if (state == NULL)
		return true;
	for (size_t i = 0; i < GR_NELEM(only_in); i++) {
		if (strcmp(name, only_in[i].field) == 0)
			return strcmp(state, only_in[i].state) == 0;
	}
	if (strcmp(name, "case_deadline") == 0)
		return strcmp(state, "resolved") != 0 && strcmp(state, "cancelled") != 0;
	return true;
}

static void show_text(struct buf *b, const char *id, const redisReply *h, const char *doc_text,
                      json_t *timeline)
{
	const char *state = ctl_reply_str(h, "state");
	json_t *doc = doc_json(doc_text);
	bool live = state != NULL && (strcmp(state, "open") == 0 || strcmp(state, "acked") == 0);
	bool open = state != NULL && strcmp(state, "open") == 0;
	const char *resolved_unit = ctl_reply_str(h, "unit");
	int64_t now = time_now_ms();
	size_t i;
	json_t *ev;

	buf_printf(b, "%-17s ", "incident");
	put_text(b, id);
	buf_putc(b, '\n');
	for (size_t k = 0; k < GR_NELEM(show_rows); k++) {
		const char *name = show_rows[k].name;
		const char *v = ctl_reply_str(h, name);
		json_t *dv = json_object_get(doc, name);

		if (show_rows[k].kind == ROW_DOC && (dv == NULL || json_is_null(dv)))
			continue;
		if ((show_rows[k].kind == ROW_HASH_OPT || show_rows[k].kind == ROW_TIME_OPT ||
		     (show_rows[k].kind == ROW_HASH && strcmp(name, "channel") != 0 &&
		      strcmp(name, "state") != 0 && strcmp(name, "policy") != 0 &&
		      strcmp(name, "count") != 0 && strcmp(name, "version") != 0)) &&
		    (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0))
			continue; /* none, or a counter at zero: nothing to say */
		if ((show_rows[k].kind == ROW_TIME_ACK || show_rows[k].kind == ROW_TIME_LIVE) &&
		    (v == NULL || v[0] == '\0'))
			continue;
		buf_printf(b, "%-17s ", name);
		switch (show_rows[k].kind) {
		case ROW_DOC:
			if (json_is_string(dv))
				ctl_put_clean(b, json_string_value(dv), json_string_length(dv));
			else
				put_value(b, dv);
			if (strcmp(name, "unit") == 0 && resolved_unit != NULL &&
			    strcmp(resolved_unit,
			           json_string_value(dv) != NULL ? json_string_value(dv) : "") !=
			            0) {
				buf_puts(b, " (routed as ");
				put_text(b, resolved_unit);
				buf_putc(b, ')');
			}
			break;
		case ROW_HASH:
		case ROW_HASH_OPT:
			put_text(b, v);
			break;
		case ROW_LEVEL:
			put_text(b, v);
			buf_putc(b, ' ');
			put_text(b, ctl_reply_str(h, "level_key"));
			break;
		case ROW_LIST:
			put_list(b, v);
			break;
		case ROW_TIME:
		case ROW_TIME_ACK:
		case ROW_TIME_LIVE:
			put_time(b, v, now,
			         show_rows[k].kind == ROW_TIME ||
			                 (show_rows[k].kind == ROW_TIME_ACK ? open : live));
			break;
		case ROW_TIME_OPT:
			put_time(b, v, now, opt_time_pending(name, state));
			break;
		}
		buf_putc(b, '\n');
	}
	buf_printf(b, "timeline (%zu events):\n", json_array_size(timeline));
	json_array_foreach(timeline, i, ev)
	{
		buf_puts(b, "  ");
		if (json_is_object(ev))
			ctl_view_event(b, ev, false, false);
		else
			put_value(b, ev);
		buf_putc(b, '\n');
	}
	json_decref(doc);
}

/* The events of a timeline (a list), oldest first, read in pages; NULL after reporting. */
static json_t *read_timeline(struct ctl *c, const char *key)
{
	json_t *events = json_array();
	char start[24], stop[24];

	for (int64_t from = 0;; from += TIMELINE_PAGE) {
		snprintf(start, sizeof(start), "%lld", (long long)from);
		snprintf(stop, sizeof(stop), "%lld", (long long)(from + TIMELINE_PAGE - 1));
		redisReply *r = ctl_redis(c, "LRANGE", key, start, stop, NULL);
		if (r == NULL) {
			json_decref(events);
			return NULL;
		}
		size_t n = ctl_reply_array(r) ? r->elements : 0;
		for (size_t i = 0; i < n; i++) {
			const redisReply *v = r->element[i];
			if (!ctl_reply_string(v))
				continue;
			json_t *ev = json_loadb(v->str, v->len, 0, NULL);
			json_array_append_new(events,
			                      ev != NULL ? ev : json_stringn(v->str, v->len));
		}
		freeReplyObject(r);
		if (n < TIMELINE_PAGE)
			return events;
	}
}

static int check_id(struct ctl *c, const char *id)
{
	if (!incident_id_valid(id, strlen(id)))
		return ctl_usage(
		        c, "bad incident id \"%s\": expected 1 to 128 of A-Z a-z 0-9 . _ : -", id);
	return 0;
}

int ctl_cmd_show(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {NULL, 0, NULL, 0},
	};
	bool json = false;
	int ch, rc;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		if (ch != 'j')
			return CTL_EXIT_USAGE;
		json = true;
	}
	if (argc - optind != 1)
		return ctl_usage(c, "expected one incident id");
	const char *id = argv[optind];
	if ((rc = check_id(c, id)) != 0 || (rc = ctl_redis_connect(c)) != 0 ||
	    (rc = ctl_store_check(c)) != 0)
		return rc;

	char *key = ctl_key(c, "inc:%s", id), *dkey = ctl_key(c, "doc:%s", id);
	char *tkey = ctl_key(c, "timeline:%s", id);
	redisReply *h = ctl_redis(c, "HGETALL", key, NULL), *d = NULL;
	json_t *timeline = NULL;
	rc = CTL_EXIT_FAIL;
	if (h == NULL)
		goto out;
	if (!ctl_reply_array(h) || h->elements == 0) {
		ctl_fail(c, "no incident %s", id);
		goto out;
	}
	if ((d = ctl_redis(c, "GET", dkey, NULL)) == NULL ||
	    (timeline = read_timeline(c, tkey)) == NULL)
		goto out;
	const char *doc_text = ctl_reply_string(d) ? d->str : NULL;
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "incident", incident_json(id, h, doc_text));
		json_object_set(o, "timeline", timeline);
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	} else {
		struct buf b;
		buf_init(&b);
		show_text(&b, id, h, doc_text, timeline);
		ctl_write(&b);
		buf_free(&b);
	}
	rc = 0;
out:
	json_decref(timeline);
	if (h != NULL)
		freeReplyObject(h);
	if (d != NULL)
		freeReplyObject(d);
	free(key);
	free(dkey);
	free(tkey);
	return rc;
}

/* ---- ls ----------------------------------------------------------------- */

enum ls_field {
	LF_STATE,
	LF_LEVEL,
	LF_LEVEL_KEY,
	LF_ASSIGNEES,
	LF_CO,
	LF_CREATED,
	LF_ACK,
	LF_RESOLVE,
	LF_COUNT,
	LF_POLICY,
	LF_CHANNEL,
	LF_UNIT,
	LF_CATEGORY,
	LF_VERIFY,
	LF_REVIEW,
	LF_CASE,
	LF__COUNT
};

static const char *const ls_fields[LF__COUNT] = {
        [LF_STATE] = "state",
        [LF_LEVEL] = "level",
        [LF_LEVEL_KEY] = "level_key",
        [LF_ASSIGNEES] = "assignees",
        [LF_CO] = "co_assignees",
        [LF_CREATED] = "created_at",
        [LF_ACK] = "ack_deadline",
        [LF_RESOLVE] = "resolve_deadline",
        [LF_COUNT] = "count",
        [LF_POLICY] = "policy",
        [LF_CHANNEL] = "channel",
        [LF_UNIT] = "unit",
        [LF_CATEGORY] = "category",
        [LF_VERIFY] = "verify_deadline",
        [LF_REVIEW] = "review_deadline",
        [LF_CASE] = "case_deadline",
};

struct ls_opts {
	const char *state;
	const char *unit; /* segment-wise prefix of the resolved unit */
	size_t unit_len;
	const char *level;
	const char *category;
	bool overdue;
	bool json;
	int64_t limit; /* 0: all */
	bool colour;
};

/* What ls has printed so far. */
struct ls_run {
	const struct ls_opts *o;
	struct buf b;
	int64_t shown, now;
	bool done;
	char *prefix;
};

static const char *field_text(const redisReply *v)
{
	return ctl_reply_string(v) && v->len > 0 ? v->str : NULL;
}

static bool unit_under(const char *unit, const char *prefix, size_t plen)
{
	return unit != NULL && strncmp(unit, prefix, plen) == 0 &&
	       (unit[plen] == '\0' || unit[plen] == '/');
}

static json_t *json_of_text(const char *s)
{
	json_t *v = s != NULL ? json_loads(s, 0, NULL) : NULL;

	return v != NULL ? v : json_array();
}

static json_t *int_json(const char *s)
{
	int64_t n;

	return s != NULL && parse_int64(s, INT64_MIN, INT64_MAX, &n) == 0 ? json_integer(n)
	                                                                  : json_null();
}

static json_t *time_or_null(const char *s)
{
	return s != NULL ? time_json(s) : json_null();
}

/* The resolved unit (the hash's), else the document's. */
static const char *ls_unit(const redisReply *h, json_t *doc)
{
	const char *u = field_text(h->element[LF_UNIT]);

	return u != NULL ? u : json_string_value(json_object_get(doc, "unit"));
}

static const char *ls_category(const redisReply *h, json_t *doc)
{
	const char *k = field_text(h->element[LF_CATEGORY]);

	return k != NULL ? k : json_string_value(json_object_get(doc, "category"));
}

/*
 * Overdue (SPEC §10): the current state's ack, resolve, verify or review
 * deadline, or the case deadline, is before now, breached or not.
 */
static bool ls_overdue(const redisReply *h, int64_t now)
{
	const char *state = field_text(h->element[LF_STATE]);
	int f[3] = {LF_CASE, -1, -1};
	int64_t t;

	if (state == NULL || strcmp(state, "resolved") == 0 || strcmp(state, "cancelled") == 0 ||
	    strcmp(state, "parked") == 0)
		return false;
	if (strcmp(state, "open") == 0) {
		f[1] = LF_ACK;
		f[2] = LF_RESOLVE;
	} else if (strcmp(state, "acked") == 0) {
		f[1] = LF_RESOLVE;
	} else if (strcmp(state, "verifying") == 0) {
		f[1] = LF_VERIFY;
	} else if (strcmp(state, "returned") == 0) {
		f[1] = LF_REVIEW;
	}
	for (size_t i = 0; i < GR_NELEM(f); i++) {
		const char *v = f[i] >= 0 ? field_text(h->element[f[i]]) : NULL;
		if (v != NULL && parse_int64(v, 0, INT64_MAX, &t) == 0 && t < now)
			return true;
	}
	return false;
}

static json_t *ls_json(const char *id, const redisReply *h, json_t *doc, int64_t now)
{
	const char *created = field_text(h->element[LF_CREATED]);
	int64_t ms;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "state", json_string(field_text(h->element[LF_STATE])));
	json_object_set_new(o, "level", int_json(field_text(h->element[LF_LEVEL])));
	json_object_set_new(o, "level_key", json_string(field_text(h->element[LF_LEVEL_KEY])));
	json_object_set_new(o, "assignees", json_of_text(field_text(h->element[LF_ASSIGNEES])));
	json_object_set_new(o, "co_assignees", json_of_text(field_text(h->element[LF_CO])));
	const char *unit = ls_unit(h, doc), *cat = ls_category(h, doc);
	json_object_set_new(o, "unit", unit != NULL ? json_string(unit) : json_null());
	json_t *reported = json_object_get(doc, "unit");
	json_object_set(o, "reported_unit", reported != NULL ? reported : json_null());
	json_object_set_new(o, "category", cat != NULL ? json_string(cat) : json_null());
	static const char *const docf[] = {"severity", "title"};
	for (size_t i = 0; i < GR_NELEM(docf); i++) {
		json_t *v = json_object_get(doc, docf[i]);
		json_object_set(o, docf[i], v != NULL ? v : json_null());
	}
	json_object_set_new(o, "channel", json_string(field_text(h->element[LF_CHANNEL])));
	json_object_set_new(o, "policy", json_string(field_text(h->element[LF_POLICY])));
	json_object_set_new(o, "count", int_json(field_text(h->element[LF_COUNT])));
	json_object_set_new(o, "created_at", time_or_null(created));
	if (created != NULL && parse_int64(created, INT64_MIN, INT64_MAX, &ms) == 0)
		json_object_set_new(o, "age_ms", json_integer(now - ms));
	static const struct {
		const char *name;
		int f;
	} times[] = {{"ack_deadline", LF_ACK},
	             {"resolve_deadline", LF_RESOLVE},
	             {"verify_deadline", LF_VERIFY},
	             {"review_deadline", LF_REVIEW},
	             {"case_deadline", LF_CASE}};
	for (size_t i = 0; i < GR_NELEM(times); i++)
		json_object_set_new(o, times[i].name,
		                    time_or_null(field_text(h->element[times[i].f])));
	json_object_set_new(o, "overdue", json_boolean(ls_overdue(h, now)));
	return o;
}

static void ls_line(struct buf *b, const char *id, const redisReply *h, json_t *doc, int64_t now,
                    bool colour)
{
	const char *state = field_text(h->element[LF_STATE]);
	const char *level = field_text(h->element[LF_LEVEL_KEY]);
	const char *created = field_text(h->element[LF_CREATED]);
	const char *unit = ls_unit(h, doc);
	json_t *title = json_object_get(doc, "title");
	const char *sgr = NULL;
	struct buf people;
	int64_t ms;
	char age[CTL_AGE_BUFSZ] = "-";

	if (state == NULL)
		state = "-";
	if (level == NULL)
		level = "-";
	if (colour)
		sgr = ls_overdue(h, now)             ? "31"
		      : strcmp(state, "open") == 0   ? "33"
		      : strcmp(state, "parked") == 0 ? "2"
		                                     : "34";
	cell(b, id, strlen(id), NULL, 28);
	buf_putc(b, ' ');
	cell(b, state, strlen(state), sgr, 9);
	buf_putc(b, ' ');
	cell(b, level, strlen(level), NULL, 10);
	buf_putc(b, ' ');
	buf_init(&people);
	put_list(&people, field_text(h->element[LF_ASSIGNEES]));
	cell(b, people.data, people.len, NULL, 16);
	buf_free(&people);
	buf_putc(b, ' ');
	cell(b, unit != NULL ? unit : "-", unit != NULL ? strlen(unit) : 1, NULL, 28);
	if (created != NULL && parse_int64(created, INT64_MIN, INT64_MAX, &ms) == 0)
		ctl_age(now - ms, age);
	buf_printf(b, " %6s ", age);
	if (json_is_string(title))
		ctl_put_clean(b, json_string_value(title), json_string_length(title));
	buf_putc(b, '\n');
}

static bool ls_keep(const struct ls_opts *o, const redisReply *h, json_t *doc, int64_t now)
{
	const char *state = field_text(h->element[LF_STATE]);
	const char *level = field_text(h->element[LF_LEVEL_KEY]);
	const char *cat = ls_category(h, doc);

	if (state == NULL)
		return false; /* gone (closed and expired) since the page was read */
	if (o->state != NULL && strcmp(state, o->state) != 0)
		return false;
	if (o->level != NULL && (level == NULL || strcmp(level, o->level) != 0))
		return false;
	if (o->unit != NULL && !unit_under(ls_unit(h, doc), o->unit, o->unit_len))
		return false;
	if (o->category != NULL && (cat == NULL || strcmp(cat, o->category) != 0))
		return false;
	if (o->overdue && !ls_overdue(h, now))
		return false;
	return true;
}

static int ls_parse(struct ctl *c, int argc, char **argv, struct ls_opts *o)
{
	static const struct option opts[] = {
	        {"state", required_argument, NULL, 's'}, {"unit", required_argument, NULL, 'u'},
	        {"level", required_argument, NULL, 'l'}, {"category", required_argument, NULL, 'k'},
	        {"overdue", no_argument, NULL, 'o'},     {"json", no_argument, NULL, 'j'},
	        {"limit", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0},
	};
	enum inc_state st;
	int ch;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 's':
			if (inc_state_parse(optarg, &st) < 0)
				return ctl_usage(
				        c,
				        "--state: expected open, acked, verifying, returned, "
				        "parked, resolved or cancelled, got \"%s\"",
				        optarg);
			o->state = optarg;
			break;
		case 'u':
			o->unit = optarg;
			o->unit_len = strlen(optarg);
			while (o->unit_len > 0 && optarg[o->unit_len - 1] == '/')
				o->unit_len--;
			if (!unit_id_valid(optarg, o->unit_len))
				return ctl_usage(c, "--unit: bad unit id \"%s\"", optarg);
			break;
		case 'l':
			if (!key_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--level: bad level key \"%s\"", optarg);
			o->level = optarg;
			break;
		case 'k':
			if (!key_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--category: bad category key \"%s\"", optarg);
			o->category = optarg;
			break;
		case 'o':
			o->overdue = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			if (ctl_parse_limit(optarg, &o->limit) < 0)
				return ctl_usage(c,
				                 "--limit: expected a positive number, got \"%s\"",
				                 optarg);
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage(c, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

/* The incidents ids[0..n): read pipelined, filtered, printed. 0, or -1 after reporting. */
static int ls_page(struct ctl *c, struct ls_run *run, const char *const *ids, size_t n)
{
	const struct ls_opts *o = run->o;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		char *key = xasprintf("%sinc:%s", run->prefix, ids[i]);
		char *dkey = xasprintf("%sdoc:%s", run->prefix, ids[i]);
		const char *argv2[2 + LF__COUNT], *get[] = {"GET", dkey};
		argv2[0] = "HMGET";
		argv2[1] = key;
		for (int f = 0; f < LF__COUNT; f++)
			argv2[2 + f] = ls_fields[f];
		ctl_redis_append(c, 2 + LF__COUNT, argv2, NULL);
		ctl_redis_append(c, 2, get, NULL);
		free(key);
		free(dkey);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *h = ctl_redis_next(c);
		redisReply *d = h != NULL ? ctl_redis_next(c) : NULL;
		if (h == NULL || d == NULL) {
			if (h != NULL)
				freeReplyObject(h);
			run->done = true;
			return -1; /* the connection is gone: nothing more to read */
		}
		if (ctl_reply_array(h) && h->elements == LF__COUNT && !run->done) {
			json_t *doc = ctl_reply_string(d) ? doc_json(d->str) : NULL;
			if (ls_keep(o, h, doc, run->now)) {
				if (o->json) {
					json_t *j = ls_json(ids[i], h, doc, run->now);
					char *s = json_dumps(j, JSON_COMPACT);
					buf_puts(&run->b, run->shown > 0 ? ",\n" : "\n");
					buf_puts(&run->b, s);
					free(s);
					json_decref(j);
				} else {
					ls_line(&run->b, ids[i], h, doc, run->now, o->colour);
				}
				if (++run->shown == o->limit)
					run->done = true;
			}
			json_decref(doc);
		}
		freeReplyObject(h);
		freeReplyObject(d);
	}
	ctl_write(&run->b);
	buf_reset(&run->b);
	return rc;
}

/* Open cases: gr:open, oldest first, in keyset pages by (score, member). */
static int ls_open(struct ctl *c, struct ls_run *run)
{
	char min[64] = "-inf", offset[24], page[16];
	char *open_key = ctl_key(c, "open");
	int64_t tie = 0;
	int rc = 0;

	snprintf(page, sizeof(page), "%d", LS_PAGE);
	while (!run->done) {
		/*
		 * The next page starts at the last score seen, skipping the members
		 * of that score already read.
		 */
		snprintf(offset, sizeof(offset), "%lld", (long long)tie);
		redisReply *r = ctl_redis(c, "ZRANGEBYSCORE", open_key, min, "+inf", "WITHSCORES",
		                          "LIMIT", offset, page, NULL);
		if (r == NULL) {
			rc = CTL_EXIT_FAIL;
			break;
		}
		size_t n = ctl_reply_array(r) ? r->elements / 2 : 0;
		const char **ids = xcalloc(n + 1, sizeof(*ids));
		for (size_t i = 0; i < n; i++)
			ids[i] = r->element[2 * i]->str;
		if (ls_page(c, run, ids, n) < 0)
			rc = CTL_EXIT_FAIL;
		free(ids);
		if (n > 0) {
			const char *last = r->element[2 * n - 1]->str;
			int64_t same = 0;
			for (size_t i = n; i > 0 && strcmp(r->element[2 * i - 1]->str, last) == 0;
			     i--)
				same++;
			tie = strcmp(min, last) == 0 ? tie + same : same;
			snprintf(min, sizeof(min), "%s", last);
		}
		if (n < LS_PAGE)
			run->done = true;
		freeReplyObject(r);
	}
	free(open_key);
	return rc;
}

/* Closed cases are in no set: every incident hash, by SCAN (in no particular order). */
static int ls_scan(struct ctl *c, struct ls_run *run)
{
	char *match = ctl_scan_pattern(c, "inc:*"), *inc = ctl_key(c, "inc:");
	char cursor[32] = "0", count[16];
	size_t plen = strlen(inc);
	int rc = 0;

	snprintf(count, sizeof(count), "%d", LS_PAGE);
	do {
		redisReply *r = ctl_redis(c, "SCAN", cursor, "MATCH", match, "COUNT", count, "TYPE",
		                          "hash", NULL);
		if (r == NULL || !ctl_reply_array(r) || r->elements != 2 ||
		    !ctl_reply_array(r->element[1])) {
			if (r != NULL)
				freeReplyObject(r);
			rc = CTL_EXIT_FAIL;
			break;
		}
		size_t n = 0;
		const char **ids = xcalloc(r->element[1]->elements + 1, sizeof(*ids));
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];
			if (ctl_reply_string(k) && k->len > plen)
				ids[n++] = k->str + plen;
		}
		if (ls_page(c, run, ids, n) < 0)
			rc = CTL_EXIT_FAIL;
		free(ids);
		snprintf(cursor, sizeof(cursor), "%s",
		         ctl_reply_string(r->element[0]) ? r->element[0]->str : "0");
		freeReplyObject(r);
	} while (rc == 0 && !run->done && strcmp(cursor, "0") != 0);
	free(match);
	free(inc);
	return rc;
}

int ctl_cmd_ls(struct ctl *c, int argc, char **argv)
{
	struct ls_opts o = {0};
	struct ls_run run = {&o, {0}, 0, 0, false, NULL};
	int rc;

	if ((rc = ls_parse(c, argc, argv, &o)) != 0 || (rc = ctl_redis_connect(c)) != 0 ||
	    (rc = ctl_store_check(c)) != 0)
		return rc;
	bool closed = o.state != NULL &&
	              (strcmp(o.state, "resolved") == 0 || strcmp(o.state, "cancelled") == 0);
	o.colour = !o.json && ctl_use_colour(stdout);
	run.now = time_now_ms();
	run.prefix = ctl_key(c, "%s", "");
	buf_init(&run.b);
	if (closed)
		ctl_warn(c,
		         "%s incidents are in no index: found by SCAN of every incident key, "
		         "in no particular order (slow on a big store)",
		         o.state);
	if (o.json)
		buf_putc(&run.b, '[');
	else if (o.colour)
		buf_printf(&run.b, "\033[1m%-28s %-9s %-10s %-16s %-28s %6s %s\033[0m\n", "ID",
		           "STATE", "LEVEL", "ASSIGNEES", "UNIT", "AGE", "TITLE");
	rc = closed ? ls_scan(c, &run) : ls_open(c, &run);
	if (o.json && rc == 0)
		fputs(run.shown > 0 ? "\n]\n" : "]\n", stdout);
	buf_free(&run.b);
	free(run.prefix);
	return rc;
}

/* ---- tail --------------------------------------------------------------- */

static volatile sig_atomic_t tail_stop;

static void on_stop(int sig)
{
	(void)sig;
	tail_stop = 1;
}

int ctl_cmd_tail(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {NULL, 0, NULL, 0},
	};
	struct sigaction sa;
	bool json = false, colour;
	char *channel;
	int ch, rc;
	struct buf b;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		if (ch != 'j')
			return CTL_EXIT_USAGE;
		json = true;
	}
	if (optind != argc)
		return ctl_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if ((rc = ctl_redis_connect(c)) != 0)
		return rc;
	colour = !json && ctl_use_colour(stdout);

	/* no SA_RESTART: poll() returns on a signal and the loop ends cleanly */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	channel = ctl_key(c, "events");
	redisReply *r = ctl_redis(c, "SUBSCRIBE", channel, NULL);
	free(channel);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	freeReplyObject(r);
	if (ctl_redis_timeout(c, 0) < 0)
		return CTL_EXIT_FAIL;

	buf_init(&b);
	rc = 0;
	while (!tail_stop) {
		int got = ctl_redis_read(c, 1000, &r);
		if (got < 0) {
			rc = CTL_EXIT_FAIL;
			break;
		}
		if (got == 0)
			continue;
		if (ctl_reply_array(r) && r->elements == 3 && ctl_reply_string(r->element[0]) &&
		    strcmp(r->element[0]->str, "message") == 0 && ctl_reply_string(r->element[2])) {
			const redisReply *p = r->element[2];
			buf_reset(&b);
			json_t *ev = json ? NULL : json_loadb(p->str, p->len, 0, NULL);
			if (json)
				buf_append(&b, p->str, p->len);
			else if (json_is_object(ev))
				ctl_view_event(&b, ev, true, colour);
			else
				ctl_put_clean(&b, p->str, p->len);
			buf_putc(&b, '\n');
			json_decref(ev);
			ctl_write(&b);
			fflush(stdout);
		}
		freeReplyObject(r);
	}
	buf_free(&b);
	return rc;
}
