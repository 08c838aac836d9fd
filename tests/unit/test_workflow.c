/*
 * test_workflow.c: the case state machine of SPEC §5 and §6 as tables.
 * Every (state, op) pair: applied, with the state it leads to, or the
 * reason it is refused; every (state, deadline) pair: what passing it
 * does; who may do each op; and the case fields (case deadline, counts,
 * late) through the workflow. Each step's effects are applied to a store
 * kept here the way store.c keeps gr:inc:<id> and gr:doc:<id>, and read
 * back with inc_record_parse for the next step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lifecycle.h"

#define RULES   "tests/unit/data/workflow.yaml"
#define CHANGED "tests/unit/data/workflow_changed.yaml"
#define MIN     60000LL
#define HOUR    (60 * MIN)
#define DAY     (24 * HOUR)

static struct rules *rules, *changed;
static int64_t t0; /* 2026-11-26T04:00:00Z */
static const struct lc_source report_src = {"gr:in:patrol", "1700000000000-0"};
static const struct lc_source cmd_src = {"gr:in:commands", "1700000000001-0"};

/* ---- a store, as store.c keeps one incident ---- */

struct store {
	json_t *hash; /* field -> string */
	char *doc;
	struct inc_record rec;
	json_t *events; /* every event JSON so far */
};

static void reload(struct store *st)
{
	size_t n = json_object_size(st->hash), i = 0;
	const char **f = xcalloc(n + 1, sizeof(*f)), **v = xcalloc(n + 1, sizeof(*v));
	const char *key;
	json_t *val;
	char err[256] = "";

	json_object_foreach(st->hash, key, val)
	{
		f[i] = key;
		v[i++] = json_string_value(val);
	}
	inc_record_free(&st->rec);
	if (inc_record_parse(&st->rec, "w-1", f, v, n, st->doc, strlen(st->doc), err,
	                     sizeof(err)) != 0)
		fail_msg("inc_record_parse: %s", err);
	free(f);
	free(v);
}

/* A step's effects into the store; version bumped as the script does. */
static void store_apply(struct store *st, struct effects *e)
{
	char num[24];
	json_t *ver = json_object_get(st->hash, "version");
	int64_t n = ver != NULL ? strtoll(json_string_value(ver), NULL, 10) : 0;

	/* a creation: the script's CREATED first, then the step's own fields */
	for (size_t i = 0; ver == NULL && lc_create_defaults[i] != NULL; i += 2)
		json_object_set_new(st->hash, lc_create_defaults[i],
		                    json_string(lc_create_defaults[i + 1]));
	for (size_t i = 0; i + 1 < e->fields.n; i += 2)
		json_object_set_new(st->hash, lc_item(&e->fields, i),
		                    json_string(lc_item(&e->fields, i + 1)));
	snprintf(num, sizeof(num), "%lld", (long long)n + 1);
	json_object_set_new(st->hash, "version", json_string(num));
	if (e->doc != NULL) {
		free(st->doc);
		st->doc = xstrndup(e->doc, e->doc_len);
	}
	for (size_t i = 0; i < e->events.n; i++)
		json_array_append_new(st->events, json_loads(lc_item(&e->events, i), 0, NULL));
	reload(st);
}

static const struct lc_conf conf = {MSG_ZH_CN, NULL, 0};

/* A new case of category cat in unit at t0. */
static void store_new(struct store *st, const char *cat, const char *unit, const char *extra)
{
	char json[512];
	struct incident_ctx ctx = {CH_PATROL, report_src.entry, t0, 0};
	struct incident inc;
	struct route_result rt;
	struct rejection rj = {REASON_NONE, ""};
	struct effects e;

	memset(st, 0, sizeof(*st));
	st->hash = json_object();
	st->events = json_array();
	snprintf(json, sizeof(json),
	         "{\"id\":\"w-1\",\"category\":\"%s\",\"unit\":\"%s\",\"title\":\"井盖缺失\"%s}",
	         cat, unit, extra != NULL ? extra : "");
	assert_int_equal(incident_parse(json, strlen(json), &ctx, &inc, &rj), 0);
	if (route_incident(rules, &inc, t0, &rt, &rj) != 0)
		fail_msg("not routed: %s", rj.msg);
	effects_init(&e);
	struct lc_env env = {rules, t0, 0, &report_src, &conf};
	lifecycle_create(&env, &inc, &rt, NULL, &e);
	store_apply(st, &e);
	effects_free(&e);
	incident_free(&inc);
}

static void store_free(struct store *st)
{
	json_decref(st->hash);
	json_decref(st->events);
	free(st->doc);
	inc_record_free(&st->rec);
}

/* A command on the store at t: 0 and applied, or -1 with rj (nothing applied). */
static int run_with(struct store *st, const struct rules *r, const char *json, int64_t t,
                    struct rejection *rj, struct effects *keep)
{
	struct command cmd;
	struct effects e;
	int rc;

	if (command_parse(json, strlen(json), 0, &cmd, rj) != 0)
		fail_msg("command refused by the parser: %s (%s)", rj->msg, json);
	if (route_command_check(r, &cmd, rj) != 0)
		fail_msg("command refused by the rules: %s", rj->msg);
	effects_init(&e);
	struct lc_env env = {r, t, t, &cmd_src, &conf};
	rc = lifecycle_command(&env, &st->rec, &cmd, &e, rj);
	if (rc == 0)
		store_apply(st, &e);
	if (keep != NULL)
		*keep = e;
	else
		effects_free(&e);
	command_free(&cmd);
	return rc;
}

static int run(struct store *st, const char *json, int64_t t, struct rejection *rj)
{
	return run_with(st, rules, json, t, rj, NULL);
}

static void ok(struct store *st, const char *json, int64_t t)
{
	struct rejection rj = {REASON_NONE, ""};

	if (run(st, json, t, &rj) != 0)
		fail_msg("refused (%s): %s\n  %s", reason_code(rj.reason), rj.msg, json);
}

/* A deadline step at t: 1 when something was due (and applied). */
static int tick(struct store *st, int64_t t, struct effects *keep)
{
	struct effects e;

	effects_init(&e);
	struct lc_env env = {rules, t, 0, NULL, &conf};
	int rc = lifecycle_deadline(&env, &st->rec, &e);
	if (rc == 1)
		store_apply(st, &e);
	if (keep != NULL)
		*keep = e;
	else
		effects_free(&e);
	return rc;
}

static const char *field(struct store *st, const char *name)
{
	return json_string_value(json_object_get(st->hash, name));
}

static const char *last_event(struct store *st)
{
	size_t n = json_array_size(st->events);

	return json_string_value(json_object_get(json_array_get(st->events, n - 1), "type"));
}

/* ---- the states of the table, each reached by commands from creation ---- */

enum { S_OPEN, S_ACKED, S_VERIFYING, S_RETURNED, S_PARKED, S_RESOLVED, S_CANCELLED, S_PENDING };

static const char *const state_of[] = {"open",   "acked",    "verifying", "returned",
                                       "parked", "resolved", "cancelled", "open"};

#define CMD(op, rest) "{\"op\":\"" op "\",\"incident\":\"w-1\",\"by\":" rest "}"

static void reach(struct store *st, int s)
{
	store_new(st, "urban", "x/s/c/g", NULL);
	switch (s) {
	case S_ACKED:
		ok(st, CMD("ack", "\"ly\""), t0 + MIN);
		break;
	case S_VERIFYING:
		ok(st, CMD("resolve", "\"ly\""), t0 + MIN);
		break;
	case S_RETURNED:
		ok(st, CMD("return", "\"ly\",\"note\":\"不属本网格\""), t0 + MIN);
		break;
	case S_PARKED:
		ok(st, CMD("park", "\"disp\",\"note\":\"等待施工\""), t0 + MIN);
		break;
	case S_RESOLVED:
		ok(st, CMD("resolve", "\"ly\""), t0 + MIN);
		ok(st, CMD("verify", "\"sup\",\"passed\":true"), t0 + 2 * MIN);
		break;
	case S_CANCELLED:
		ok(st, CMD("cancel", "\"disp\",\"note\":\"重复上报\""), t0 + MIN);
		break;
	case S_PENDING:
		ok(st, CMD("extend", "\"ly\",\"for\":\"1h\",\"note\":\"等配件\""), t0 + MIN);
		break;
	default:
		break;
	}
	assert_string_equal(field(st, "state"), state_of[s]);
}

/* Each op, by the admin (who may do everything): what the state allows. */
static const struct {
	const char *name;
	const char *json;
	/* per state of the table: the state after, or NULL: invalid_transition */
	const char *after[8];
} ops[] = {
        {"ack", CMD("ack", "\"cc\""), {"acked", 0, 0, 0, 0, 0, 0, "acked"}},
        {"resolve",
         CMD("resolve", "\"cc\""),
         {"verifying", "verifying", 0, 0, 0, 0, 0, "verifying"}},
        {"comment",
         CMD("comment", "\"cc\",\"note\":\"n\""),
         {"open", "acked", "verifying", "returned", "parked", "resolved", 0, "open"}},
        {"escalate", CMD("escalate", "\"cc\""), {"open", "open", 0, 0, 0, 0, 0, "open"}},
        {"reassign",
         CMD("reassign", "\"cc\",\"level\":\"community\""),
         {"open", "open", 0, 0, 0, 0, 0, "open"}},
        {"return",
         CMD("return", "\"cc\",\"note\":\"n\""),
         {"returned", "returned", 0, 0, 0, 0, 0, "returned"}},
        {"redispatch",
         CMD("redispatch", "\"cc\",\"category\":\"legal\""),
         {"open", "open", 0, "open", 0, 0, 0, "open"}},
        {"cancel",
         CMD("cancel", "\"cc\",\"note\":\"n\""),
         {"cancelled", "cancelled", 0, "cancelled", "cancelled", 0, 0, "cancelled"}},
        {"extend",
         CMD("extend", "\"cc\",\"for\":\"2h\",\"note\":\"n\""),
         {"open", "acked", 0, 0, 0, 0, 0, "open"}},
        {"approve", CMD("approve", "\"cc\""), {0, 0, 0, 0, 0, 0, 0, "open"}},
        {"deny", CMD("deny", "\"cc\""), {0, 0, 0, 0, 0, 0, 0, "open"}},
        {"park",
         CMD("park", "\"cc\",\"note\":\"n\""),
         {"parked", "parked", 0, "parked", 0, 0, 0, "parked"}},
        {"unpark", CMD("unpark", "\"cc\""), {0, 0, 0, 0, "open", 0, 0, 0}},
        {"verify", CMD("verify", "\"cc\",\"passed\":true"), {0, 0, "resolved", 0, 0, 0, 0, 0}},
        {"reopen", CMD("reopen", "\"cc\",\"note\":\"n\""), {0, 0, 0, 0, 0, "open", 0, 0}},
        {"urge",
         CMD("urge", "\"cc\""),
         {"open", "acked", "verifying", "returned", 0, 0, 0, "open"}},
};

static void test_state_op_table(void **state)
{
	(void)state;
	assert_int_equal(GR_NELEM(ops), OP__COUNT);
	for (size_t o = 0; o < GR_NELEM(ops); o++) {
		for (int s = 0; s < 8; s++) {
			struct store st;
			struct rejection rj = {REASON_NONE, ""};
			reach(&st, s);
			char *version = xstrdup(field(&st, "version"));
			int rc = run(&st, ops[o].json, t0 + 10 * MIN, &rj);
			if (ops[o].after[s] != NULL) {
				if (rc != 0)
					fail_msg("%s in %s%s: refused (%s): %s", ops[o].name,
					         state_of[s], s == S_PENDING ? " (pending)" : "",
					         reason_code(rj.reason), rj.msg);
				assert_string_equal(field(&st, "state"), ops[o].after[s]);
				assert_string_not_equal(field(&st, "version"), version);
			} else {
				if (rc == 0)
					fail_msg("%s in %s: applied, expected invalid_transition",
					         ops[o].name, state_of[s]);
				if (rj.reason != REASON_INVALID_TRANSITION)
					fail_msg("%s in %s: %s (%s), expected invalid_transition",
					         ops[o].name, state_of[s], reason_code(rj.reason),
					         rj.msg);
				assert_string_equal(field(&st, "version"), version);
			}
			free(version);
			store_free(&st);
		}
	}
}

/* Who may (SPEC §5), each in a state the op is allowed in. */
static void test_who_may(void **state)
{
	static const struct {
		int state;
		const char *op, *rest; /* the command after "by": person and fields */
		const char *by;
		bool may;
	} rows[] = {
	        /* ack: assignee, co-assignee, above; not a dispatcher or anyone else */
	        {S_OPEN, "ack", "", "ly", true},
	        {S_OPEN, "ack", "", "wuye", true},
	        {S_OPEN, "ack", "", "cj", true},
	        {S_OPEN, "ack", "", "dd", true},
	        {S_OPEN, "ack", "", "disp", false},
	        {S_OPEN, "ack", "", "sup", false},
	        {S_OPEN, "ack", "", "stranger", false},
	        {S_OPEN, "resolve", "", "wuye", true},
	        {S_OPEN, "resolve", "", "disp", false},
	        /* comment: also dispatchers and current verifiers */
	        {S_OPEN, "comment", "", "disp", true},
	        {S_OPEN, "comment", "", "sup", false},
	        {S_VERIFYING, "comment", "", "sup", true},
	        /* escalate, reassign: on the chain at the level or above */
	        {S_OPEN, "escalate", "", "ly", true},
	        {S_OPEN, "escalate", "", "so", true},
	        {S_OPEN, "escalate", "", "wuye", false},
	        {S_OPEN, "escalate", "", "disp", false},
	        {S_OPEN, "reassign", ",\"level\":\"leader\"", "ly", true},
	        {S_OPEN, "reassign", ",\"level\":\"leader\"", "sup", false},
	        /* return: a current assignee, not a co-assignee, not above */
	        {S_OPEN, "return", ",\"note\":\"n\"", "ly", true},
	        {S_OPEN, "return", ",\"note\":\"n\"", "wuye", false},
	        {S_OPEN, "return", ",\"note\":\"n\"", "cj", false},
	        /* the dispatchers' ops */
	        {S_OPEN, "redispatch", ",\"category\":\"legal\"", "disp", true},
	        {S_OPEN, "redispatch", ",\"category\":\"legal\"", "ly", false},
	        {S_OPEN, "redispatch", ",\"category\":\"legal\"", "so", false},
	        {S_OPEN, "cancel", ",\"note\":\"n\"", "disp", true},
	        {S_OPEN, "cancel", ",\"note\":\"n\"", "cj", false},
	        {S_OPEN, "park", ",\"note\":\"n\"", "disp", true},
	        {S_OPEN, "park", ",\"note\":\"n\"", "ly", false},
	        {S_PARKED, "unpark", "", "disp", true},
	        {S_PARKED, "unpark", "", "ly", false},
	        {S_RESOLVED, "reopen", ",\"note\":\"n\"", "disp", true},
	        {S_RESOLVED, "reopen", ",\"note\":\"n\"", "ly", false},
	        /* extend: an assignee asks, above or a dispatcher grants */
	        {S_OPEN, "extend", ",\"for\":\"1h\",\"note\":\"n\"", "ly", true},
	        {S_OPEN, "extend", ",\"for\":\"1h\",\"note\":\"n\"", "cj", true},
	        {S_OPEN, "extend", ",\"for\":\"1h\",\"note\":\"n\"", "disp", true},
	        {S_OPEN, "extend", ",\"for\":\"1h\",\"note\":\"n\"", "wuye", false},
	        {S_PENDING, "approve", "", "cj", true},
	        {S_PENDING, "approve", "", "disp", true},
	        {S_PENDING, "approve", "", "ly", false},
	        {S_PENDING, "deny", "", "cj", true},
	        {S_PENDING, "deny", "", "wuye", false},
	        /* verify: the current verifiers only; the resolver is none */
	        {S_VERIFYING, "verify", ",\"passed\":true", "sup", true},
	        {S_VERIFYING, "verify", ",\"passed\":true", "ly", false},
	        {S_VERIFYING, "verify", ",\"passed\":true", "cj", false},
	        {S_OPEN, "verify", ",\"passed\":true", "sup", false}, /* not verifying: nobody */
	        /* urge: above, dispatchers */
	        {S_OPEN, "urge", "", "cj", true},
	        {S_OPEN, "urge", "", "disp", true},
	        {S_OPEN, "urge", "", "ly", false},
	};
	char json[256];

	(void)state;
	for (size_t i = 0; i < GR_NELEM(rows); i++) {
		struct store st;
		struct rejection rj = {REASON_NONE, ""};
		reach(&st, rows[i].state);
		snprintf(json, sizeof(json), "{\"op\":\"%s\",\"incident\":\"w-1\",\"by\":\"%s\"%s}",
		         rows[i].op, rows[i].by, rows[i].rest);
		int rc = run(&st, json, t0 + 10 * MIN, &rj);
		if (rows[i].may && rc != 0)
			fail_msg("%s by %s in %s: refused (%s): %s", rows[i].op, rows[i].by,
			         state_of[rows[i].state], reason_code(rj.reason), rj.msg);
		if (!rows[i].may && (rc == 0 || rj.reason != REASON_NOT_AUTHORIZED))
			fail_msg("%s by %s in %s: %s, expected not_authorized", rows[i].op,
			         rows[i].by, state_of[rows[i].state],
			         rc == 0 ? "applied" : reason_code(rj.reason));
		store_free(&st);
	}
}

/* Every (state, deadline) pair: what its passing does. */
static void test_state_deadline_table(void **state)
{
	struct store st;
	struct effects e;

	(void)state;
	/* open: ack first */
	reach(&st, S_OPEN);
	assert_int_equal(tick(&st, t0 + 30 * MIN - 1, NULL), 0);
	assert_int_equal(tick(&st, t0 + 30 * MIN, NULL), 1);
	assert_string_equal(last_event(&st), "escalated");
	assert_string_equal(field(&st, "level_key"), "leader");
	assert_string_equal(field(&st, "late"), "0");
	store_free(&st);
	/* open, resolve before ack (due_at caps it): resolve_timeout, late */
	store_new(&st, "urban", "x/s/c/g", ",\"due_at\":\"2026-11-26T04:10:00Z\"");
	assert_int_equal(tick(&st, t0 + 10 * MIN, NULL), 1);
	json_t *ev = json_array_get(st.events, json_array_size(st.events) - 1);
	assert_string_equal(json_string_value(json_object_get(ev, "reason")), "resolve_timeout");
	assert_string_equal(field(&st, "late"), "1");
	store_free(&st);
	/* acked: the resolve deadline escalates, the case is late */
	reach(&st, S_ACKED);
	assert_int_equal(tick(&st, t0 + 30 * MIN, NULL), 0); /* no ack deadline any more */
	assert_int_equal(tick(&st, t0 + HOUR, NULL), 1);
	assert_string_equal(last_event(&st), "escalated");
	assert_string_equal(field(&st, "late"), "1");
	store_free(&st);
	/* verifying: verify_timeout breached once */
	reach(&st, S_VERIFYING);
	assert_int_equal(tick(&st, t0 + MIN + 4 * HOUR, &e), 1);
	assert_string_equal(last_event(&st), "breached");
	assert_non_null(strstr(lc_item(&e.events, 0), "verify_timeout"));
	assert_int_equal(e.notifications.n, 1);
	assert_non_null(strstr(lc_item(&e.notifications, 0), "\"sup\"")); /* the verifiers */
	assert_non_null(strstr(lc_item(&e.notifications, 0), "\"cc\""));  /* and the admins */
	effects_free(&e);
	assert_int_equal(tick(&st, t0 + 5 * HOUR, &e), 0);
	assert_int_equal(e.due, LC_REM);
	effects_free(&e);
	store_free(&st);
	/* returned: review_timeout to the dispatchers and admins */
	reach(&st, S_RETURNED);
	assert_int_equal(tick(&st, t0 + MIN + HOUR, &e), 1);
	assert_non_null(strstr(lc_item(&e.events, 0), "review_timeout"));
	assert_non_null(strstr(lc_item(&e.notifications, 0), "\"disp\""));
	effects_free(&e);
	store_free(&st);
	/* parked until: unparked, park_expired, at the same level */
	reach(&st, S_OPEN);
	ok(&st, CMD("park", "\"disp\",\"note\":\"n\",\"for\":\"2h\""), t0 + MIN);
	assert_int_equal(tick(&st, t0 + 2 * HOUR, NULL), 0);
	assert_int_equal(tick(&st, t0 + MIN + 2 * HOUR, NULL), 1);
	assert_string_equal(last_event(&st), "unparked");
	assert_string_equal(field(&st, "state"), "open");
	assert_string_equal(field(&st, "parked_until"), "");
	store_free(&st);
	/* parked without until, resolved, cancelled: nothing is ever due */
	for (int s = S_PARKED; s <= S_CANCELLED; s++) {
		reach(&st, s);
		assert_int_equal(tick(&st, t0 + 30 * DAY, &e), 0);
		assert_int_equal(e.due, LC_REM);
		effects_free(&e);
		store_free(&st);
	}
	/* the last level: breached once per deadline value */
	reach(&st, S_OPEN);
	ok(&st, CMD("reassign", "\"cc\",\"level\":\"district\""), t0 + MIN);
	assert_int_equal(tick(&st, t0 + 31 * MIN, NULL), 1);
	assert_string_equal(last_event(&st), "breached");
	assert_string_equal(field(&st, "level_key"), "district");
	assert_int_equal(tick(&st, t0 + 32 * MIN, NULL), 0);
	store_free(&st);
}

/* The transitions' own refusals (SPEC §5 "More transitions that are invalid_transition"). */
static void test_refusals(void **state)
{
	struct store st;
	struct rejection rj;

	(void)state;
	/* a second request while one is pending; a grant past max_extensions */
	reach(&st, S_PENDING);
	assert_int_equal(
	        run(&st, CMD("extend", "\"ly\",\"for\":\"2h\",\"note\":\"n\""), t0 + 2 * MIN, &rj),
	        -1);
	assert_int_equal(rj.reason, REASON_INVALID_TRANSITION);
	assert_non_null(strstr(rj.msg, "pending"));
	ok(&st, CMD("approve", "\"cj\""), t0 + 3 * MIN);
	assert_string_equal(field(&st, "extensions"), "1");
	assert_string_equal(field(&st, "pending_extension"), "");
	assert_int_equal(
	        run(&st, CMD("extend", "\"cj\",\"for\":\"2h\",\"note\":\"n\""), t0 + 4 * MIN, &rj),
	        -1);
	assert_non_null(strstr(rj.msg, "extension"));
	store_free(&st);
	/* an until not later than the resolve deadline; a park until in the past */
	reach(&st, S_OPEN);
	assert_int_equal(
	        run(&st, CMD("extend", "\"cj\",\"until\":\"2026-11-26T04:30:00Z\",\"note\":\"n\""),
	            t0 + MIN, &rj),
	        -1);
	assert_int_equal(rj.reason, REASON_INVALID_TRANSITION);
	assert_int_equal(
	        run(&st, CMD("park", "\"disp\",\"until\":\"2026-11-26T03:00:00Z\",\"note\":\"n\""),
	            t0 + MIN, &rj),
	        -1);
	assert_int_equal(rj.reason, REASON_INVALID_TRANSITION);
	/* escalate at the last level; reassign to a vacant one */
	ok(&st, CMD("reassign", "\"cc\",\"level\":\"district\""), t0 + MIN);
	assert_int_equal(run(&st, CMD("escalate", "\"cc\""), t0 + 2 * MIN, &rj), -1);
	assert_int_equal(rj.reason, REASON_INVALID_TRANSITION);
	store_free(&st);
	store_new(&st, "urban", "x/s/c/v", NULL); /* starts at the leader: member vacant */
	assert_string_equal(field(&st, "level_key"), "leader");
	assert_int_equal(run(&st, CMD("reassign", "\"cc\",\"level\":\"member\""), t0 + MIN, &rj),
	                 -1);
	assert_int_equal(rj.reason, REASON_INVALID_TRANSITION);
	store_free(&st);
	/* a redispatch is routed like a new report */
	reach(&st, S_OPEN);
	assert_int_equal(
	        run(&st, CMD("redispatch", "\"disp\",\"unit\":\"elsewhere\""), t0 + MIN, &rj), -1);
	assert_int_equal(rj.reason, REASON_UNKNOWN_UNIT);
	assert_int_equal(
	        run(&st, CMD("redispatch", "\"disp\",\"category\":\"roads\""), t0 + MIN, &rj), -1);
	assert_int_equal(rj.reason, REASON_UNKNOWN_CATEGORY);
	store_free(&st);
}

/* A case taken through the whole workflow: the fields and counts the SPEC gives. */
static void test_the_workflow(void **state)
{
	struct store st;

	(void)state;
	store_new(&st, "urban", "x/s/c/g", NULL);
	assert_int_equal(st.rec.case_deadline, t0 + 3 * DAY); /* created + close_within 3d */
	/* 回退 to the dispatchers, with a review deadline */
	ok(&st, CMD("return", "\"ly\",\"note\":\"不是本网格的事\""), t0 + MIN);
	assert_string_equal(field(&st, "assignees"), "[\"disp\"]");
	assert_int_equal(st.rec.review_deadline, t0 + MIN + HOUR);
	assert_string_equal(field(&st, "ack_deadline"), "");
	/* 改派: routed again, the new unit's chain */
	ok(&st, CMD("redispatch", "\"disp\",\"category\":\"legal\""), t0 + 2 * MIN);
	assert_string_equal(field(&st, "category"), "legal");
	assert_string_equal(field(&st, "policy"), "plain");
	assert_string_equal(field(&st, "state"), "open");
	assert_string_equal(field(&st, "review_deadline"), "");
	assert_non_null(strstr(st.doc, "\"category\":\"legal\""));
	/* back to urban management, to have verification */
	ok(&st, CMD("redispatch", "\"cc\",\"category\":\"urban\""), t0 + 3 * MIN);
	assert_int_equal(st.rec.case_deadline, t0 + 3 * DAY); /* kept */
	/* 延期: asked, then approved; the case deadline moves only if it must */
	ok(&st, CMD("extend", "\"ly\",\"for\":\"1h\",\"note\":\"等配件\""), t0 + 4 * MIN);
	assert_true(st.rec.pending.set);
	assert_int_equal(st.rec.pending.until, t0 + 3 * MIN + 2 * HOUR);
	ok(&st, CMD("approve", "\"disp\""), t0 + 5 * MIN);
	assert_int_equal(st.rec.resolve_deadline, t0 + 3 * MIN + 2 * HOUR);
	assert_string_equal(field(&st, "extensions"), "1");
	/* 处置 → 核查 failed → 返工 */
	ok(&st, CMD("resolve", "\"ly\",\"note\":\"已修复\""), t0 + 6 * MIN);
	assert_string_equal(field(&st, "state"), "verifying");
	assert_string_equal(field(&st, "verifiers"), "[\"sup\"]");
	assert_string_equal(field(&st, "handled_by"), "ly");
	ok(&st, CMD("verify", "\"sup\",\"passed\":false,\"note\":\"井盖没盖好\""), t0 + 7 * MIN);
	assert_string_equal(last_event(&st), "reworked");
	assert_string_equal(field(&st, "state"), "open");
	assert_string_equal(field(&st, "reworks"), "1");
	assert_string_equal(field(&st, "verifiers"), "[]");
	/* 处置 → 核查 passed → 结案 */
	ok(&st, CMD("resolve", "\"ly\""), t0 + 8 * MIN);
	ok(&st, CMD("verify", "\"sup\",\"passed\":true"), t0 + 9 * MIN);
	assert_string_equal(field(&st, "state"), "resolved");
	assert_string_equal(field(&st, "resolved_by"), "sup");
	assert_string_equal(field(&st, "handled_by"), "ly");
	assert_int_equal(st.rec.resolved_at, t0 + 9 * MIN);
	json_t *ev = json_array_get(st.events, json_array_size(st.events) - 1);
	assert_string_equal(json_string_value(json_object_get(ev, "handled_by")), "ly");
	/* 重办: back to the start level, counted, a new case deadline */
	ok(&st, CMD("reopen", "\"disp\",\"note\":\"群众反映又坏了\""), t0 + DAY);
	assert_string_equal(field(&st, "state"), "open");
	assert_string_equal(field(&st, "level_key"), "member");
	assert_string_equal(field(&st, "reopens"), "1");
	assert_string_equal(field(&st, "resolved_at"), "");
	assert_string_equal(field(&st, "resolved_by"), "");
	assert_int_equal(st.rec.case_deadline, t0 + DAY + 3 * DAY);
	assert_string_equal(field(&st, "late"), "0");
	static const char *const types[] = {"assigned",
	                                    "returned",
	                                    "redispatched",
	                                    "redispatched",
	                                    "extension_requested",
	                                    "extended",
	                                    "verify_requested",
	                                    "reworked",
	                                    "verify_requested",
	                                    "resolved",
	                                    "reopened"};
	assert_int_equal(json_array_size(st.events), GR_NELEM(types));
	for (size_t i = 0; i < GR_NELEM(types); i++)
		assert_string_equal(
		        json_string_value(json_object_get(json_array_get(st.events, i), "type")),
		        types[i]);
	store_free(&st);
}

/* Parking stops the case's clock; a grant moves the case deadline when it must. */
static void test_case_deadline(void **state)
{
	struct store st;

	(void)state;
	reach(&st, S_OPEN);
	ok(&st, CMD("park", "\"disp\",\"note\":\"等审批\""), t0 + HOUR);
	assert_int_equal(st.rec.parked_at, t0 + HOUR);
	ok(&st, CMD("unpark", "\"disp\""), t0 + 5 * HOUR);
	assert_int_equal(st.rec.case_deadline, t0 + 3 * DAY + 4 * HOUR);
	assert_string_equal(field(&st, "parked_at"), "");
	/* a grant past the case deadline takes it along */
	ok(&st, CMD("extend", "\"cj\",\"until\":\"2026-12-10T00:00:00Z\",\"note\":\"大修\""),
	   t0 + 6 * HOUR);
	assert_int_equal(st.rec.case_deadline, st.rec.resolve_deadline);
	store_free(&st);
	/* parked from returned: back to returned, a new review deadline from then */
	reach(&st, S_RETURNED);
	ok(&st, CMD("park", "\"disp\",\"note\":\"n\""), t0 + 2 * MIN);
	assert_string_equal(field(&st, "review_deadline"), "");
	ok(&st, CMD("unpark", "\"disp\""), t0 + 3 * HOUR);
	assert_string_equal(field(&st, "state"), "returned");
	assert_string_equal(field(&st, "assignees"), "[\"disp\"]");
	assert_int_equal(st.rec.review_deadline, t0 + 4 * HOUR);
	store_free(&st);
}

/*
 * gr:deadlines holds a case only while the deadline it must meet is not
 * its gr:due score: no write for a new case, +inf while parked, the
 * member taken out again when the two agree.
 */
static void test_deadlines_member(void **state)
{
	struct store st;
	struct rejection rj = {REASON_NONE, ""};
	struct effects e;

	(void)state;
	reach(&st, S_OPEN);
	assert_int_equal(run_with(&st, rules, CMD("park", "\"disp\",\"note\":\"等审批\""),
	                          t0 + HOUR, &rj, &e),
	                 0);
	/* parked with no end: in neither */
	assert_int_equal(e.due, LC_REM);
	assert_int_equal(e.deadlines, LC_REM);
	effects_free(&e);
	store_free(&st);
	/* parked until a time: in gr:due for the unpark, no deadline to meet (+inf) */
	reach(&st, S_OPEN);
	assert_int_equal(run_with(&st, rules,
	                          CMD("park", "\"disp\",\"note\":\"等审批\","
	                                      "\"until\":\"2026-12-10T00:00:00Z\""),
	                          t0 + HOUR, &rj, &e),
	                 0);
	assert_int_equal(e.due, LC_SET);
	assert_int_equal(e.deadlines, LC_SET);
	assert_true(e.deadlines_score == LC_DEADLINE_NONE);
	effects_free(&e);
	assert_int_equal(run_with(&st, rules, CMD("unpark", "\"disp\""), t0 + 2 * HOUR, &rj, &e),
	                 0);
	/* open again: its deadline is gr:due's next one, so no member */
	assert_int_equal(e.due, LC_SET);
	assert_int_equal(e.deadlines, LC_REM);
	effects_free(&e);
	assert_int_equal(run_with(&st, rules, CMD("ack", "\"ly\""), t0 + 3 * HOUR, &rj, &e), 0);
	assert_true(e.deadlines == LC_REM ||
	            (e.deadlines == LC_SET && e.deadlines_score != e.due_score));
	effects_free(&e);
	store_free(&st);
}

/*
 * After a rules edit the people the chain holds at the current level now
 * are current assignees too (SPEC §5): both the stored and the new one
 * may act; the one who acks is added to the assignees.
 */
static void test_current_assignees_after_an_edit(void **state)
{
	struct store st;
	struct rejection rj;

	(void)state;
	reach(&st, S_OPEN);
	assert_string_equal(field(&st, "assignees"), "[\"ly\"]");
	assert_int_equal(run_with(&st, changed, CMD("comment", "\"ly\",\"note\":\"我还在\""),
	                          t0 + MIN, &rj, NULL),
	                 0);
	assert_int_equal(run_with(&st, changed, CMD("ack", "\"newguy\""), t0 + 2 * MIN, &rj, NULL),
	                 0);
	assert_string_equal(field(&st, "assignees"), "[\"ly\",\"newguy\"]");
	store_free(&st);
}

/* The KPIs of a closed case: closed on time, or not once late. */
static void test_kpis(void **state)
{
	struct store st;
	struct effects e;
	struct rejection rj;

	(void)state;
	reach(&st, S_VERIFYING);
	assert_int_equal(run_with(&st, rules, CMD("verify", "\"sup\",\"passed\":true"),
	                          t0 + 10 * MIN, &rj, &e),
	                 0);
	bool closed = false, on_time = false;
	for (size_t i = 0; i + 3 < e.xops.n; i += 4) {
		closed |= strcmp(lc_item(&e.xops, i + 2), "urban:closed") == 0;
		on_time |= strcmp(lc_item(&e.xops, i + 2), "urban:closed_on_time") == 0;
	}
	assert_true(closed && on_time);
	assert_string_equal(lc_item(&e.xkeys, 0), "kpi:2026-11:x/s/c/g");
	effects_free(&e);
	store_free(&st);
	/* late: a resolve timeout escalated it */
	reach(&st, S_ACKED);
	assert_int_equal(tick(&st, t0 + HOUR, NULL), 1);
	ok(&st, CMD("resolve", "\"cj\""), t0 + HOUR + MIN);
	assert_int_equal(run_with(&st, rules, CMD("verify", "\"sup\",\"passed\":true"),
	                          t0 + HOUR + 2 * MIN, &rj, &e),
	                 0);
	on_time = false;
	for (size_t i = 0; i + 3 < e.xops.n; i += 4)
		on_time |= strcmp(lc_item(&e.xops, i + 2), "urban:closed_on_time") == 0;
	assert_false(on_time);
	effects_free(&e);
	store_free(&st);
}

static int setup(void **state)
{
	struct diags d;

	(void)state;
	if (time_parse_rfc3339("2026-11-26T04:00:00Z", 20, &t0) != 0)
		return -1;
	diags_init(&d, RULES);
	rules = rules_load(RULES, &d);
	diags_free(&d);
	diags_init(&d, CHANGED);
	changed = rules_load(CHANGED, &d);
	diags_free(&d);
	return rules != NULL && changed != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rules_free(rules);
	rules_free(changed);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_state_op_table),
	        cmocka_unit_test(test_who_may),
	        cmocka_unit_test(test_state_deadline_table),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_the_workflow),
	        cmocka_unit_test(test_case_deadline),
	        cmocka_unit_test(test_deadlines_member),
	        cmocka_unit_test(test_current_assignees_after_an_edit),
	        cmocka_unit_test(test_kpis),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
