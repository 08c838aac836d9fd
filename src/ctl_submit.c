/*
 * ctl_submit.c: `gridctl submit` and the commands ack, resolve, escalate,
 * reassign and comment. Each writes one stream entry and prints its id;
 * with --wait it then follows where the outcome will appear — the
 * assignments stream, or the incident's timeline — and the dead-letter
 * stream, until the outcome names the entry or time is up. Streams are
 * read with a blocking XREAD from just before the entry's own id, so that
 * an outcome written before the first XREAD is not missed; a timeline is a
 * list, read from its start and again after each short wait.
 * Before it writes, a --wait checks that the user may read what it will
 * wait on (SPEC v2 §9: the reporter may only write).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_redis.h"
#include "ctl_submit.h"
#include "ctl_view.h"
#include "incident.h"
#include "jscan.h"
#include "log.h"

#define WAIT_COUNT       "100"
#define DEDUP_POLL_MS    250
#define TIMELINE_POLL_MS 50
#define SOCKET_SLACK_MS  5000

enum wait_kind {
	WAIT_ASSIGNMENT, /* submit: the first assignment of the incident */
	WAIT_EVENT,      /* a command: the event of its type caused by the entry */
};

struct waiter {
	enum wait_kind kind;
	const char *incident;
	const char *entry;     /* the entry we wrote */
	const char *source;    /* the stream we wrote it to */
	const char *event;     /* WAIT_EVENT: the types that answer the command, "a|b" */
	const char *dedup_key; /* submit: a report may be merged into another incident */
	char *watch_key;       /* where the answer appears */
	const char *watch_field;
	char *dl_key;
};

enum outcome { OUT_DONE, OUT_DUPLICATE, OUT_DEADLETTER, OUT_TIMEOUT, OUT_ERROR };

struct result {
	json_t *found; /* the assignment or the event */
	char *dl_id, *dl_reason, *dl_error;
	char *holder; /* OUT_DUPLICATE: the incident the report was merged into */
};

static void result_free(struct result *res)
{
	json_decref(res->found);
	free(res->dl_id);
	free(res->dl_reason);
	free(res->dl_error);
	free(res->holder);
}

static bool json_str_is(json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL && strcmp(v, want) == 0;
}

/* Is type one of the "|"-separated names of list? */
static bool type_in(const char *type, const char *list)
{
	size_t n = type != NULL ? strlen(type) : 0;

	for (const char *p = list; type != NULL && *p != '\0';) {
		size_t len = strcspn(p, "|");
		if (len == n && strncmp(p, type, n) == 0)
			return true;
		p += len + (p[len] == '|');
	}
	return false;
}

/* One outcome, as JSON text: the answer? */
static json_t *match_json(const struct waiter *w, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);

	if (w->kind == WAIT_ASSIGNMENT
	            ? json_str_is(j, "incident", w->incident)
	            : json_str_is(j, "entry", w->entry) && json_str_is(j, "source", w->source) &&
	                      type_in(json_string_value(json_object_get(j, "type")), w->event))
		return j;
	json_decref(j);
	return NULL;
}

/* One entry of the watched stream: the answer? */
static json_t *match_watch(const struct waiter *w, const redisReply *fields)
{
	const redisReply *v = ctl_reply_field(fields, w->watch_field);

	return ctl_reply_string(v) ? match_json(w, v->str, v->len) : NULL;
}

/*
 * The incident's timeline (a list) from element *next on: the event that
 * answers the command? *next moves past what was read.
 */
static enum outcome check_timeline(struct ctl *c, const struct waiter *w, int64_t *next,
                                   struct result *res)
{
	char from[24];
	enum outcome out = OUT_TIMEOUT;

	snprintf(from, sizeof(from), "%lld", (long long)*next);
	redisReply *r = ctl_redis(c, "LRANGE", w->watch_key, from, "-1", NULL);
	if (r == NULL)
		return OUT_ERROR;
	for (size_t i = 0; ctl_reply_array(r) && i < r->elements && out == OUT_TIMEOUT; i++) {
		const redisReply *e = r->element[i];
		(*next)++;
		if (ctl_reply_string(e) && (res->found = match_json(w, e->str, e->len)) != NULL)
			out = OUT_DONE;
	}
	freeReplyObject(r);
	return out;
}

static bool match_deadletter(const struct waiter *w, const char *id, const redisReply *fields,
                             struct result *res)
{
	const char *entry = ctl_reply_str(fields, "entry");
	const char *source = ctl_reply_str(fields, "source");
	const char *reason = ctl_reply_str(fields, "reason");
	const char *error = ctl_reply_str(fields, "error");

	if (entry == NULL || source == NULL || strcmp(entry, w->entry) != 0 ||
	    strcmp(source, w->source) != 0)
		return false;
	res->dl_id = xstrdup(id);
	res->dl_reason = xstrdup(reason != NULL ? reason : "?");
	res->dl_error = xstrdup(error != NULL ? error : "");
	return true;
}

/*
 * A report with a dedup key may be merged into the incident holding it:
 * then that incident's seen set has our entry, and nothing is assigned.
 */
static enum outcome check_duplicate(struct ctl *c, const struct waiter *w, struct result *res)
{
	char *key = ctl_key(c, "dedup:%s", w->dedup_key);
	redisReply *r = ctl_redis(c, "GET", key, NULL);
	enum outcome out = OUT_TIMEOUT;

	free(key);
	if (r == NULL)
		return OUT_ERROR;
	if (ctl_reply_string(r) && strcmp(r->str, w->incident) != 0 &&
	    incident_id_valid(r->str, r->len)) {
		char *seen = ctl_key(c, "seen:%s", r->str);
		char *member = xasprintf("%s/%s", w->source, w->entry);
		redisReply *m = ctl_redis(c, "SISMEMBER", seen, member, NULL);
		if (m == NULL)
			out = OUT_ERROR;
		else if (m->type == REDIS_REPLY_INTEGER && m->integer == 1) {
			res->holder = xstrdup(r->str);
			out = OUT_DUPLICATE;
		}
		if (m != NULL)
			freeReplyObject(m);
		free(seen);
		free(member);
	}
	freeReplyObject(r);
	return out;
}

static enum outcome wait_outcome(struct ctl *c, struct waiter *w, int64_t timeout_ms,
                                 struct result *res)
{
	int64_t deadline = time_now_ms() + timeout_ms;
	char start[48], last_watch[48], last_dl[48], block[24];
	const char *dash = strchr(w->entry, '-');
	int64_t timeline_next = 0;

	/* from just before <ms>-0 of our entry: every outcome is written after it */
	snprintf(start, sizeof(start), "%.*s-0",
	         (int)(dash != NULL ? dash - w->entry : (long)strlen(w->entry)), w->entry);
	ctl_stream_id_before(start, last_watch, sizeof(last_watch));
	memcpy(last_dl, last_watch, sizeof(last_dl));

	for (;;) {
		int64_t left = deadline - time_now_ms();
		enum outcome o = OUT_TIMEOUT;
		if (w->dedup_key != NULL)
			o = check_duplicate(c, w, res);
		if (o == OUT_TIMEOUT && w->kind == WAIT_EVENT)
			o = check_timeline(c, w, &timeline_next, res);
		if (o != OUT_TIMEOUT)
			return o;
		if (left <= 0)
			return OUT_TIMEOUT;
		if (w->dedup_key != NULL && left > DEDUP_POLL_MS)
			left = DEDUP_POLL_MS;
		/* a timeline is a list, read again after each short wait on the dead letters */
		if (w->kind == WAIT_EVENT && left > TIMELINE_POLL_MS)
			left = TIMELINE_POLL_MS;
		snprintf(block, sizeof(block), "%lld", (long long)left);
		if (ctl_redis_timeout(c, left + SOCKET_SLACK_MS) < 0)
			return OUT_ERROR;
		redisReply *r = w->kind == WAIT_EVENT
		                        ? ctl_redis(c, "XREAD", "COUNT", WAIT_COUNT, "BLOCK", block,
		                                    "STREAMS", w->dl_key, last_dl, NULL)
		                        : ctl_redis(c, "XREAD", "COUNT", WAIT_COUNT, "BLOCK", block,
		                                    "STREAMS", w->watch_key, w->dl_key, last_watch,
		                                    last_dl, NULL);
		if (r == NULL)
			return OUT_ERROR;
		enum outcome out = OUT_TIMEOUT;
		for (size_t s = 0; ctl_reply_array(r) && s < r->elements; s++) {
			const redisReply *st = r->element[s];
			if (!ctl_reply_array(st) || st->elements != 2 ||
			    !ctl_reply_string(st->element[0]) || !ctl_reply_array(st->element[1]))
				continue;
			bool is_dl = strcmp(st->element[0]->str, w->dl_key) == 0;
			const redisReply *entries = st->element[1];
			for (size_t i = 0; i < entries->elements && out == OUT_TIMEOUT; i++) {
				const redisReply *e = entries->element[i];
				if (!ctl_reply_array(e) || e->elements != 2 ||
				    !ctl_reply_string(e->element[0]))
					continue;
				const char *id = e->element[0]->str;
				snprintf(is_dl ? last_dl : last_watch, sizeof(last_dl), "%s", id);
				if (is_dl && match_deadletter(w, id, e->element[1], res))
					out = OUT_DEADLETTER;
				else if (!is_dl &&
				         (res->found = match_watch(w, e->element[1])) != NULL)
					out = OUT_DONE;
			}
		}
		freeReplyObject(r);
		if (out != OUT_TIMEOUT)
			return out;
	}
}

static void waiter_free(struct waiter *w)
{
	free(w->watch_key);
	free(w->dl_key);
}

/* The reason of a dead letter, escaped, for the one-line failure. */
/* "no resolved or verify_requested event": the events the op may end in. */
static int wait_timeout(struct ctl *c, const char *secs, const struct waiter *w)
{
	char events[128];
	size_t n = 0;

	for (const char *p = w->event; *p != '\0' && n + 5 < sizeof(events); p++) {
		if (*p == '|') {
			memcpy(events + n, " or ", 4);
			n += 4;
		} else {
			events[n++] = *p;
		}
	}
	events[n] = '\0';
	return ctl_fail(c,
	                "timed out after %s: no %s event or dead letter for entry %s (is "
	                "gridrouted running?)",
	                secs, events, w->entry);
}

static int report_deadletter(struct ctl *c, const struct result *res)
{
	struct buf b;

	buf_init(&b);
	ctl_put_clean(&b, res->dl_error, strlen(res->dl_error));
	ctl_fail(c, "dead-lettered as %s: %s: %s", res->dl_id, res->dl_reason, b.data);
	buf_free(&b);
	return CTL_EXIT_FAIL;
}

static void put_names(struct buf *b, json_t *a)
{
	size_t i;
	json_t *v;

	if (json_array_size(a) == 0)
		buf_puts(b, "nobody");
	json_array_foreach(a, i, v)
	{
		if (i > 0)
			buf_puts(b, ", ");
		if (json_is_string(v))
			ctl_put_clean(b, json_string_value(v), json_string_length(v));
	}
}

static void put_str(struct buf *b, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		ctl_put_clean(b, json_string_value(v), json_string_length(v));
	else if (json_is_integer(v))
		buf_printf(b, "%lld", (long long)json_integer_value(v));
	else
		buf_putc(b, '-');
}

/* "assigned ID: level 1 member (网格员) -> liuyang; ack by T, resolve by T; policy P" */
static void print_assignment(json_t *a)
{
	struct buf b;
	json_t *co = json_object_get(a, "co_assignees");

	buf_init(&b);
	put_str(&b, a, "event");
	buf_putc(&b, ' ');
	put_str(&b, a, "incident");
	buf_puts(&b, ": level ");
	put_str(&b, a, "level");
	buf_putc(&b, ' ');
	put_str(&b, a, "level_key");
	buf_puts(&b, " (");
	put_str(&b, a, "level_name");
	buf_puts(&b, ") -> ");
	put_names(&b, json_object_get(a, "assignees"));
	if (json_array_size(co) > 0) {
		buf_puts(&b, "; co-assignees ");
		put_names(&b, co);
	}
	buf_puts(&b, "; ack by ");
	put_str(&b, a, "ack_deadline");
	buf_puts(&b, ", resolve by ");
	put_str(&b, a, "resolve_deadline");
	buf_puts(&b, "; policy ");
	put_str(&b, a, "policy");
	buf_putc(&b, '\n');
	ctl_write(&b);
	buf_free(&b);
}

static int finish_wait(struct ctl *c, struct waiter *w, int64_t timeout_ms)
{
	struct result res = {0};
	char secs[DUR_BUFSZ];
	int rc = 0;

	fflush(stdout);
	switch (wait_outcome(c, w, timeout_ms, &res)) {
	case OUT_DONE:
		if (w->kind == WAIT_ASSIGNMENT) {
			print_assignment(res.found);
		} else {
			struct buf b;
			buf_init(&b);
			ctl_view_event(&b, res.found, true, false);
			buf_putc(&b, '\n');
			ctl_write(&b);
			buf_free(&b);
		}
		break;
	case OUT_DUPLICATE:
		printf("duplicate %s: merged into incident %s\n", w->incident, res.holder);
		break;
	case OUT_DEADLETTER:
		rc = report_deadletter(c, &res);
		break;
	case OUT_TIMEOUT:
		duration_format(timeout_ms, secs);
		if (w->kind == WAIT_ASSIGNMENT)
			rc = ctl_fail(
			        c,
			        "timed out after %s: no assignment or dead letter for incident "
			        "%s (is gridrouted running?)",
			        secs, w->incident);
		else
			rc = wait_timeout(c, secs, w);
		break;
	case OUT_ERROR:
		rc = CTL_EXIT_FAIL;
		break;
	}
	result_free(&res);
	return rc;
}

/*
 * A wait reads what the daemon writes, and a user that may only write (the
 * ACL's reporter) would add its entry and only then fail. So each key the
 * wait will read is tried first with a read that costs nothing, one with
 * the read-key permission a wait needs (the last entry of a stream, a GET,
 * an SISMEMBER): NOPERM stops the command before anything is written. An
 * other error (a key of another type) is the wait's to meet. 0, or the exit
 * code after reporting.
 */
struct probe {
	const char *cmd, *key, *a1, *a2, *a3, *a4;
};

static int check_can_read(struct ctl *c, const struct probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct probe *p = &probes[i];
		const char *argv[] = {p->cmd, p->key, p->a1, p->a2, p->a3, p->a4};
		int argc = 2;
		while (argc < 6 && argv[argc] != NULL)
			argc++;
		redisReply *r = ctl_redis_argv(c, argc, argv, NULL);
		if (r == NULL)
			return CTL_EXIT_FAIL;
		bool noperm = ctl_reply_error(r) && strncmp(r->str, "NOPERM", 6) == 0;
		int rc = 0;
		if (noperm)
			rc = ctl_fail(
			        c,
			        "--wait needs to read %s, which %s%s may not (%s): nothing was "
			        "written; submit without --wait, or as a user that may also read",
			        p->key, c->user != NULL ? "user " : "this user",
			        c->user != NULL ? c->user : "", r->str);
		freeReplyObject(r);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* XADD key * field value; the new id (caller frees), or NULL after reporting. */
static char *xadd(struct ctl *c, const char *key, const char *field, const char *value, size_t len)
{
	const char *argv[] = {"XADD", key, "*", field, value};
	size_t lens[] = {4, strlen(key), 1, strlen(field), len};
	redisReply *r = ctl_redis_argv(c, 5, argv, lens);
	char *id = NULL;

	if (r == NULL)
		return NULL;
	if (ctl_reply_string(r) && r->type != REDIS_REPLY_ERROR)
		id = xstrdup(r->str);
	else
		ctl_fail(c, "Redis: %s (XADD %s)", ctl_reply_error(r) ? r->str : "unexpected reply",
		         key);
	freeReplyObject(r);
	return id;
}

/* ---- submit ------------------------------------------------------------- */

/* What gridctl can tell of the document before the daemon does. */
struct doc_peek {
	char *id;        /* the document's own "id", else NULL */
	char *dedup_key; /* NULL if none */
};

/* A member's key or string value, decoded; caller frees. */
static char *decoded(const char *raw, size_t len)
{
	char *s = xmalloc(len);

	jscan_string(raw, len, s);
	return s;
}

/*
 * With quiet, nothing is said of a bad document: its dead letter will say
 * it. Read with the daemon's own scanner, so that what it takes (numbers
 * of any size among them, SPEC v2 §4) is not called invalid here.
 */
static void peek(struct ctl *c, const char *file, const struct buf *in, bool quiet,
                 struct doc_peek *p)
{
	struct jscan js;
	struct jscan_error err;

	memset(p, 0, sizeof(*p));
	jscan_init(&js);
	if (jscan_parse(&js, in->data != NULL ? in->data : "", in->len, &err) < 0) {
		if (!quiet)
			ctl_warn(c,
			         "%s is not valid JSON (line %d, column %d: %s); the daemon will "
			         "dead-letter it",
			         file, err.line, err.column, err.text);
	} else if (js.type != JSCAN_OBJECT) {
		if (!quiet)
			ctl_warn(c, "%s is not a JSON object; the daemon will dead-letter it",
			         file);
	} else {
		for (size_t i = 0; i < js.nmembers; i++) {
			const struct jscan_member *m = &js.members[i];
			if (m->type != JSCAN_STRING)
				continue;
			char *key = decoded(m->key, m->key_len);
			char **out = strcmp(key, "id") == 0          ? &p->id
			             : strcmp(key, "dedup_key") == 0 ? &p->dedup_key
			                                             : NULL;
			if (out != NULL && *out == NULL) {
				*out = decoded(m->value, m->value_len);
				if (out == &p->dedup_key && (*out)[0] == '\0') {
					free(*out);
					*out = NULL;
				}
			}
			free(key);
		}
	}
	jscan_free(&js);
}

int ctl_cmd_submit(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"wait", optional_argument, NULL, 'w'},
	        {NULL, 0, NULL, 0},
	};
	enum channel chn;
	int64_t timeout_ms = 0;
	bool wait = false, existed = false;
	struct doc_peek p = {0};
	char *key = NULL, *entry = NULL, *incident = NULL;
	struct buf in;
	int ch, rc;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		if (ch != 'w')
			return CTL_EXIT_USAGE;
		if ((rc = ctl_wait_option(c, argc, argv, &timeout_ms)) != 0)
			return rc;
		wait = true;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_usage(c, "expected a channel and at most one file");
	const char *channel = argv[optind];
	const char *file = argc - optind == 2 ? argv[optind + 1] : "-";
	if (channel_parse(channel, &chn) < 0)
		return ctl_usage(
		        c, "bad channel \"%s\": expected patrol, feedback, scheduled or alert",
		        channel);

	buf_init(&in);
	if (ctl_read_file(file, &in) < 0) {
		rc = ctl_fail(c, "cannot read %s: %s", strcmp(file, "-") == 0 ? "stdin" : file,
		              strerror(errno));
		buf_free(&in);
		return rc;
	}
	peek(c, strcmp(file, "-") == 0 ? "stdin" : file, &in, wait, &p);
	if ((rc = ctl_redis_connect(c)) != 0 || (rc = ctl_store_check(c)) != 0)
		goto out;
	rc = CTL_EXIT_FAIL;
	if (p.id != NULL && incident_id_valid(p.id, strlen(p.id))) {
		char *ikey = ctl_key(c, "inc:%s", p.id);
		const char *exists[] = {"EXISTS", ikey};
		redisReply *r = ctl_redis_argv(c, 2, exists, NULL);
		free(ikey);
		if (r == NULL)
			goto out;
		/* a user that may not look (NOPERM) gets no warning: the daemon still decides */
		existed = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
		freeReplyObject(r);
	}
	key = ctl_key(c, "in:%s", channel_name(chn));
	char *watch = ctl_key(c, "out:assignments"), *dl = ctl_key(c, "deadletter");
	char *dedup = p.dedup_key != NULL ? ctl_key(c, "dedup:%s", p.dedup_key) : NULL;
	char *seen = ctl_key(c, "seen:%s", p.id != NULL ? p.id : "x");
	const struct probe probes[] = {{"XREVRANGE", watch, "+", "-", "COUNT", "1"},
	                               {"XREVRANGE", dl, "+", "-", "COUNT", "1"},
	                               {"SISMEMBER", seen, "x", NULL, NULL, NULL},
	                               {"GET", dedup, NULL, NULL, NULL, NULL}};
	int denied =
	        wait ? check_can_read(c, probes, GR_NELEM(probes) - (dedup == NULL ? 2 : 0)) : 0;
	free(watch);
	free(dl);
	free(dedup);
	free(seen);
	if (denied != 0) {
		rc = denied;
		goto out;
	}
	if ((entry = xadd(c, key, "incident", in.data, in.len)) == NULL)
		goto out;
	incident = p.id != NULL ? xstrdup(p.id) : xasprintf("%s-%s", channel_name(chn), entry);
	printf("entry %s\n", entry);
	printf("incident %s\n", incident);
	rc = 0;
	if (existed) {
		if (wait) {
			rc = ctl_fail(c,
			              "incident %s exists already: the daemon ignores this entry",
			              incident);
			goto out;
		}
		ctl_warn(c, "incident %s exists already: the daemon ignores this entry", incident);
	}
	if (wait) {
		struct waiter w = {
		        .kind = WAIT_ASSIGNMENT,
		        .incident = incident,
		        .entry = entry,
		        .source = key,
		        .dedup_key = p.dedup_key,
		        .watch_key = ctl_key(c, "out:assignments"),
		        .watch_field = "assignment",
		        .dl_key = ctl_key(c, "deadletter"),
		};
		rc = finish_wait(c, &w, timeout_ms);
		waiter_free(&w);
	}
out:
	free(p.id);
	free(p.dedup_key);
	free(key);
	free(entry);
	free(incident);
	buf_free(&in);
	return rc;
}

/* ---- ack, resolve, escalate, reassign, comment ---------------------------- */

/* The options of the commands (SPEC §5's fields), and which each op takes or needs. */
enum {
	F_LEVEL = 1,
	F_UNIT = 2,
	F_CATEGORY = 4,
	F_UNTIL = 8,
	F_FOR = 16,
	F_PASSED = 32,
	N_NOTE = 64,      /* a note is required */
	N_UNTIL_FOR = 128 /* until or for is required */
};

static const struct {
	const char *op;
	const char *events; /* the events that answer it, "a|b" */
	unsigned fields;
} op_specs[] = {
        {"ack", "acked", 0},
        {"resolve", "resolved|verify_requested", 0},
        {"escalate", "escalated", 0},
        {"reassign", "reassigned", F_LEVEL},
        {"comment", "comment", 0},
        {"return", "returned", N_NOTE},
        {"redispatch", "redispatched", F_UNIT | F_CATEGORY},
        {"cancel", "cancelled", N_NOTE},
        {"extend", "extended|extension_requested", F_UNTIL | F_FOR | N_NOTE | N_UNTIL_FOR},
        {"approve", "extended", 0},
        {"deny", "extension_denied", 0},
        {"park", "parked", F_UNTIL | F_FOR | N_NOTE},
        {"unpark", "unparked", 0},
        {"verify", "resolved|reworked", F_PASSED},
        {"reopen", "reopened", N_NOTE},
        {"urge", "urged", 0},
};

int ctl_cmd_op(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"by", required_argument, NULL, 'b'},
	        {"note", required_argument, NULL, 'n'},
	        {"level", required_argument, NULL, 'l'},
	        {"unit", required_argument, NULL, 'u'},
	        {"category", required_argument, NULL, 'k'},
	        {"until", required_argument, NULL, 't'},
	        {"for", required_argument, NULL, 'f'},
	        {"passed", no_argument, NULL, 'P'},
	        {"failed", no_argument, NULL, 'F'},
	        {"wait", optional_argument, NULL, 'w'},
	        {NULL, 0, NULL, 0},
	};
	const char *op = c->cmd->name, *events = NULL;
	const char *by = NULL, *note = NULL, *level = NULL, *unit = NULL, *category = NULL,
	           *until = NULL, *dur = NULL;
	unsigned fields = 0;
	int passed = -1;
	bool wait = false;
	int64_t timeout_ms = 0, ms;
	char *key = NULL, *entry = NULL, *text = NULL;
	int ch, rc;

	for (size_t i = 0; i < GR_NELEM(op_specs); i++) {
		if (strcmp(op_specs[i].op, op) == 0) {
			events = op_specs[i].events;
			fields = op_specs[i].fields;
		}
	}
	if (events == NULL)
		fatalx("gridctl: no event for command %s", op);
	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		unsigned needs = ch == 'l'                ? F_LEVEL
		                 : ch == 'u'              ? F_UNIT
		                 : ch == 'k'              ? F_CATEGORY
		                 : ch == 't'              ? F_UNTIL
		                 : ch == 'f'              ? F_FOR
		                 : ch == 'P' || ch == 'F' ? F_PASSED
		                                          : 0;
		if (needs != 0 && (fields & needs) == 0)
			return ctl_usage(c, "--%s is not an option of %s",
			                 ch == 'l'   ? "level"
			                 : ch == 'u' ? "unit"
			                 : ch == 'k' ? "category"
			                 : ch == 't' ? "until"
			                 : ch == 'f' ? "for"
			                 : ch == 'P' ? "passed"
			                             : "failed",
			                 op);
		switch (ch) {
		case 'b':
			if (!person_id_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--by: bad person id \"%s\"", optarg);
			by = optarg;
			break;
		case 'n':
			note = optarg;
			break;
		case 'l':
			if (!key_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--level: bad level key \"%s\"", optarg);
			level = optarg;
			break;
		case 'u':
			if (!unit_id_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--unit: bad unit id \"%s\"", optarg);
			unit = optarg;
			break;
		case 'k':
			if (!key_valid(optarg, strlen(optarg)))
				return ctl_usage(c, "--category: bad category key \"%s\"", optarg);
			category = optarg;
			break;
		case 't':
			if (time_parse_rfc3339(optarg, strlen(optarg), &ms) < 0)
				return ctl_usage(c,
				                 "--until: expected an RFC 3339 time such as "
				                 "2026-12-03T17:30:00+08:00, got \"%s\"",
				                 optarg);
			until = optarg;
			break;
		case 'f': {
			struct wdur d;
			/*
			 * Working units are counted on the rules' calendar, by the daemon:
			 * here only the form is checked, a working day taken as at most 24 h.
			 */
			int drc = wdur_parse(optarg, 24 * 3600 * 1000LL, &d);
			if (drc == DUR_MIXED)
				return ctl_usage(
				        c,
				        "--for: \"%s\" mixes clock and working units: write "
				        "it in one kind, such as 90m or 90wm",
				        optarg);
			if (drc != DUR_OK)
				return ctl_usage(c,
				                 "--for: expected a duration such as 2h, 3d, 4wh "
				                 "or 2wd, got "
				                 "\"%s\"",
				                 optarg);
			dur = optarg;
			break;
		}
		case 'P':
		case 'F':
			if (passed >= 0 && passed != (ch == 'P'))
				return ctl_usage(c, "--passed and --failed: give one of them");
			passed = ch == 'P';
			break;
		case 'w':
			if ((rc = ctl_wait_option(c, argc, argv, &timeout_ms)) != 0)
				return rc;
			wait = true;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(c, "expected one incident id");
	const char *id = argv[optind];
	if (!incident_id_valid(id, strlen(id)))
		return ctl_usage(
		        c, "bad incident id \"%s\": expected 1 to 128 of A-Z a-z 0-9 . _ : -", id);
	if (by == NULL)
		return ctl_usage(c, "--by PERSON is required");
	if ((fields & F_LEVEL) && level == NULL)
		return ctl_usage(c, "--level KEY is required");
	if ((fields & N_NOTE) && (note == NULL || note[0] == '\0'))
		return ctl_usage(c, "--note TEXT is required: %s needs a reason", op);
	if ((fields & N_UNTIL_FOR) && until == NULL && dur == NULL)
		return ctl_usage(c, "--until TIME or --for DURATION is required");
	if (until != NULL && dur != NULL)
		return ctl_usage(c, "--until and --for: give one of them");
	if ((fields & F_PASSED) && passed < 0)
		return ctl_usage(c, "--passed or --failed is required");
	if (note != NULL && !utf8_valid(note, strlen(note)))
		return ctl_usage(c, "--note: not valid UTF-8");

	json_t *cmd = json_pack("{s:s, s:s, s:s}", "op", op, "incident", id, "by", by);
	const char *const names[] = {"note", "level", "unit", "category", "until", "for"};
	const char *const values[] = {note, level, unit, category, until, dur};
	for (size_t i = 0; i < GR_NELEM(names); i++) {
		if (values[i] != NULL)
			json_object_set_new(cmd, names[i], json_string(values[i]));
	}
	if (passed >= 0)
		json_object_set_new(cmd, "passed", json_boolean(passed));
	text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (text == NULL)
		fatalx("gridctl: cannot encode the command");

	if ((rc = ctl_redis_connect(c)) != 0 || (rc = ctl_store_check(c)) != 0)
		goto out;
	key = ctl_key(c, "in:commands");
	if (wait) {
		char *timeline = ctl_key(c, "timeline:%s", id), *dl = ctl_key(c, "deadletter");
		const struct probe probes[] = {{"LRANGE", timeline, "0", "0", NULL, NULL},
		                               {"XREVRANGE", dl, "+", "-", "COUNT", "1"}};
		rc = check_can_read(c, probes, GR_NELEM(probes));
		free(timeline);
		free(dl);
		if (rc != 0)
			goto out;
	}
	rc = CTL_EXIT_FAIL;
	if ((entry = xadd(c, key, "command", text, strlen(text))) == NULL)
		goto out;
	printf("%s\n", entry);
	rc = 0;
	if (wait) {
		struct waiter w = {
		        .kind = WAIT_EVENT,
		        .incident = id,
		        .entry = entry,
		        .source = key,
		        .event = events,
		        .watch_key = ctl_key(c, "timeline:%s", id),
		        .watch_field = "event",
		        .dl_key = ctl_key(c, "deadletter"),
		};
		rc = finish_wait(c, &w, timeout_ms);
		waiter_free(&w);
	}
out:
	free(text);
	free(key);
	free(entry);
	return rc;
}
