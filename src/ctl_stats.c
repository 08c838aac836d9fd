/*
 * ctl_stats.c: `gridctl stats`. Everything is read with bounded commands:
 * XLEN, XINFO GROUPS and CONSUMERS, ZCARD and ZCOUNT; the one scan, of
 * the dead-letter stream to count reasons, goes in pages and stops at the
 * length the stream had when it began. The numbers are gathered into one
 * JSON object, which --json prints and the text view renders.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_redis.h"
#include "ctl_stats.h"
#include "timeutil.h"

#define DL_SCAN_PAGE "1000"

static const char *const streams[] = {
        "in:patrol",   "in:feedback",     "in:scheduled",      "in:alert",
        "in:commands", "out:assignments", "out:notifications", "deadletter",
};

static json_t *int_or_null(const redisReply *v)
{
	int64_t n;

	return ctl_reply_int(v, &n) == 0 ? json_integer(n) : json_null();
}

/* An integer reply of a command of NUL-terminated arguments; -1 after reporting. */
static int int_command(struct ctl *c, int64_t *out, const char *a0, const char *a1, const char *a2,
                       const char *a3)
{
	redisReply *r = ctl_redis(c, a0, a1, a2, a3, NULL);
	int rc = 0;

	if (r == NULL)
		return -1;
	if (ctl_reply_int(r, out) < 0) {
		ctl_fail(c, "unexpected reply to %s %s", a0, a1);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

static int consumers(struct ctl *c, const char *key, const char *group, json_t *out)
{
	const char *argv[] = {"XINFO", "CONSUMERS", key, group};
	redisReply *r = ctl_redis_argv(c, 4, argv, NULL);

	if (r == NULL)
		return -1;
	for (size_t i = 0; ctl_reply_array(r) && i < r->elements; i++) {
		const redisReply *e = r->element[i];
		const char *name = ctl_reply_str(e, "name");
		if (name == NULL)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "pending", int_or_null(ctl_reply_field(e, "pending")));
		json_object_set_new(o, "idle_ms", int_or_null(ctl_reply_field(e, "idle")));
		json_array_append_new(out, o);
	}
	freeReplyObject(r);
	return 0;
}

static int groups(struct ctl *c, const char *key, json_t *out)
{
	const char *argv[] = {"XINFO", "GROUPS", key};
	redisReply *r = ctl_redis_argv(c, 3, argv, NULL);
	int rc = 0;

	if (r == NULL)
		return -1;
	/* a stream nobody created yet has no groups: "ERR no such key" */
	for (size_t i = 0; ctl_reply_array(r) && i < r->elements && rc == 0; i++) {
		const redisReply *g = r->element[i];
		const char *name = ctl_reply_str(g, "name");
		const char *last = ctl_reply_str(g, "last-delivered-id");
		if (name == NULL)
			continue;
		json_t *o = json_object();
		json_t *cs = json_array();
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "pending", int_or_null(ctl_reply_field(g, "pending")));
		json_object_set_new(o, "lag", int_or_null(ctl_reply_field(g, "lag")));
		json_object_set_new(o, "last_delivered_id",
		                    last != NULL ? json_string(last) : json_null());
		rc = consumers(c, key, name, cs);
		json_object_set_new(o, "consumers", cs);
		json_array_append_new(out, o);
	}
	freeReplyObject(r);
	return rc;
}

/* Dead letters by reason, scanning at most len entries in pages. */
static int deadletter_reasons(struct ctl *c, const char *key, int64_t len, json_t *by_reason,
                              int64_t *total)
{
	char start[48] = "-";

	*total = 0;
	while (*total < len) {
		redisReply *r =
		        ctl_redis(c, "XRANGE", key, start, "+", "COUNT", DL_SCAN_PAGE, NULL);
		if (r == NULL)
			return -1;
		size_t n = ctl_reply_array(r) ? r->elements : 0;
		for (size_t i = 0; i < n && *total < len; i++) {
			const redisReply *e = r->element[i];
			if (!ctl_reply_array(e) || e->elements != 2 ||
			    !ctl_reply_string(e->element[0]))
				continue;
			const char *reason = ctl_reply_str(e->element[1], "reason");
			if (reason == NULL)
				reason = "(none)";
			json_t *v = json_object_get(by_reason, reason);
			json_object_set_new(
			        by_reason, reason,
			        json_integer(v != NULL ? json_integer_value(v) + 1 : 1));
			(*total)++;
		}
		bool more = ctl_reply_next_page(r, start, sizeof(start));
		freeReplyObject(r);
		if (!more)
			break;
	}
	return 0;
}

static json_t *gather(struct ctl *c)
{
	json_t *o = json_object(), *ss = json_object(), *dl = json_object();
	json_t *by_reason = json_object();
	int64_t n, dl_len = 0, total;
	char now[24];
	char *key;

	json_object_set_new(o, "prefix", json_string(c->prefix));
	json_object_set_new(o, "streams", ss);
	for (size_t i = 0; i < GR_NELEM(streams); i++) {
		json_t *s = json_object(), *gs = json_array();
		key = ctl_key(c, "%s", streams[i]);
		json_object_set_new(ss, key, s);
		int bad = int_command(c, &n, "XLEN", key, NULL, NULL) < 0;
		json_object_set_new(s, "length", json_integer(bad ? 0 : n));
		json_object_set_new(s, "groups", gs);
		bad = bad || groups(c, key, gs) < 0;
		free(key);
		if (bad)
			goto fail;
		if (strcmp(streams[i], "deadletter") == 0)
			dl_len = n;
	}

	key = ctl_key(c, "open");
	int bad = int_command(c, &n, "ZCARD", key, NULL, NULL) < 0;
	free(key);
	if (bad)
		goto fail;
	json_object_set_new(o, "open_incidents", json_integer(n));

	key = ctl_key(c, "due");
	snprintf(now, sizeof(now), "%lld", (long long)time_now_ms());
	bad = int_command(c, &n, "ZCOUNT", key, "-inf", now) < 0;
	if (!bad)
		json_object_set_new(o, "due_backlog", json_integer(n));
	bad = bad || int_command(c, &n, "ZCARD", key, NULL, NULL) < 0;
	free(key);
	if (bad)
		goto fail;
	json_object_set_new(o, "due_scheduled", json_integer(n));

	key = ctl_key(c, "deadletter");
	bad = deadletter_reasons(c, key, dl_len, by_reason, &total) < 0;
	free(key);
	if (bad)
		goto fail;
	json_object_set_new(dl, "total", json_integer(total));
	json_object_set_new(dl, "by_reason", by_reason);
	json_object_set_new(o, "deadletters", dl);
	return o;
fail:
	json_decref(by_reason);
	json_decref(dl);
	json_decref(o);
	return NULL;
}

static long long ival(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void render(struct buf *b, json_t *o)
{
	json_t *ss = json_object_get(o, "streams");
	json_t *dl = json_object_get(o, "deadletters");
	const char *key, *reason;
	json_t *s, *v;

	buf_puts(b, "streams:\n");
	json_object_foreach(ss, key, s)
	{
		size_t i, k;
		json_t *g, *cs;
		buf_printf(b, "  %-28s %10lld\n", key, ival(s, "length"));
		json_array_foreach(json_object_get(s, "groups"), i, g)
		{
			json_t *lag = json_object_get(g, "lag");
			buf_printf(b, "    group %s: %lld pending",
			           json_string_value(json_object_get(g, "name")),
			           ival(g, "pending"));
			if (json_is_integer(lag))
				buf_printf(b, ", lag %lld", (long long)json_integer_value(lag));
			buf_printf(
			        b, ", last delivered %s\n",
			        json_string_value(json_object_get(g, "last_delivered_id")) != NULL
			                ? json_string_value(json_object_get(g, "last_delivered_id"))
			                : "-");
			json_array_foreach(json_object_get(g, "consumers"), k, cs)
			{
				char idle[CTL_AGE_BUFSZ];
				ctl_age(ival(cs, "idle_ms"), idle);
				buf_printf(b, "      consumer %s: %lld pending, idle %s\n",
				           json_string_value(json_object_get(cs, "name")),
				           ival(cs, "pending"), idle);
			}
		}
	}
	buf_printf(b, "open incidents: %lld\n", ival(o, "open_incidents"));
	buf_printf(b, "due backlog: %lld (of %lld with a deadline)\n", ival(o, "due_backlog"),
	           ival(o, "due_scheduled"));
	buf_printf(b, "dead letters: %lld\n", ival(dl, "total"));
	json_object_foreach(json_object_get(dl, "by_reason"), reason, v)
	{
		buf_printf(b, "  %-28s %10lld\n", reason, (long long)json_integer_value(v));
	}
}

int ctl_cmd_stats(struct ctl *c, int argc, char **argv)
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
	if (optind != argc)
		return ctl_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if ((rc = ctl_redis_connect(c)) != 0)
		return rc;
	json_t *o = gather(c);
	if (o == NULL)
		return CTL_EXIT_FAIL;
	if (json) {
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		struct buf b;
		buf_init(&b);
		render(&b, o);
		ctl_write(&b);
		buf_free(&b);
	}
	json_decref(o);
	return 0;
}
