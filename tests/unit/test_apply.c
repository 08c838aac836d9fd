/*
 * test_apply.c: a batch of steps as one Redis-protocol command (apply.c).
 * The bytes are parsed back here and checked against the script's
 * argument layout (src/apply.lua), so that the daemon, the bench's
 * ceiling and the Lua script agree on every position. What the script
 * does with them in Redis is the system tests' (test_layout.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apply.h"
#include "incident.h"
#include "route.h"

#define BASIC "tests/unit/data/lifecycle_basic.yaml"

#define MAX_ARGS 256

/* One command parsed back: argv[i] points into the buffer, len[i] bytes. */
struct cmd {
	size_t argc;
	const char *argv[MAX_ARGS];
	size_t len[MAX_ARGS];
	size_t bytes; /* the command's length in the buffer */
};

static size_t number(const char *p, const char **end)
{
	size_t n = 0;

	while (*p >= '0' && *p <= '9')
		n = n * 10 + (size_t)(*p++ - '0');
	assert_memory_equal(p, "\r\n", 2);
	*end = p + 2;
	return n;
}

static void parse(const char *buf, size_t len, struct cmd *c)
{
	const char *p = buf;

	assert_true(len > 0);
	assert_int_equal(*p, '*');
	c->argc = number(p + 1, &p);
	assert_true(c->argc <= MAX_ARGS);
	for (size_t i = 0; i < c->argc; i++) {
		assert_int_equal(*p, '$');
		c->len[i] = number(p + 1, &p);
		c->argv[i] = p;
		p += c->len[i];
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
	}
	c->bytes = (size_t)(p - buf);
	assert_true(c->bytes <= len);
}

static void arg_is(const struct cmd *c, size_t i, const char *want)
{
	assert_true(i < c->argc);
	if (c->len[i] != strlen(want) || memcmp(c->argv[i], want, c->len[i]) != 0)
		fail_msg("argument %zu is \"%.*s\", expected \"%s\"", i, (int)c->len[i], c->argv[i],
		         want);
}

static struct apply_ctx ctx(void)
{
	struct apply_ctx c = {
	        .prefix = "gr:", .group = "gridrouted", .out_maxlen = 1000, .expire_s = 86400};

	for (int i = 0; i < AS__COUNT; i++)
		snprintf(c.sha[i], sizeof(c.sha[i]), "%040d", i);
	return c;
}

static struct rules *load(void)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, BASIC);
	r = rules_load(BASIC, &d);
	if (r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	assert_non_null(r);
	return r;
}

/* The call of a batch: EVALSHA, the sha, the number of keys, then the shared keys and args. */
static void check_head(const struct cmd *cmd, const struct apply_ctx *c, size_t nkeys,
                       size_t nsteps, size_t ncounters)
{
	char num[24];

	arg_is(cmd, 0, "EVALSHA");
	arg_is(cmd, 1, c->sha[AS_APPLY]);
	snprintf(num, sizeof(num), "%zu", nkeys);
	arg_is(cmd, 2, num);
	arg_is(cmd, 3, "gr:due");
	arg_is(cmd, 4, "gr:open");
	arg_is(cmd, 5, "gr:out:assignments");
	arg_is(cmd, 6, "gr:out:notifications");
	arg_is(cmd, 7, "gr:deadletter");
	arg_is(cmd, 8, "gr:deadlines");
	arg_is(cmd, 9, "gr:defaults");
	size_t a = 3 + nkeys;
	arg_is(cmd, a, "gridrouted");
	arg_is(cmd, a + 1, "1000");
	arg_is(cmd, a + 2, "gr:events");
	arg_is(cmd, a + 3, "86400");
	snprintf(num, sizeof(num), "%zu", nsteps);
	arg_is(cmd, a + 4, num);
	snprintf(num, sizeof(num), "%zu", ncounters);
	arg_is(cmd, a + 5, num);
}

/* A step's 14-byte head: the mode, five ops, four counts of two bytes. */
static void head_is(const struct cmd *c, size_t i, const char *ops, size_t nf, size_t ne, size_t na,
                    size_t nn)
{
	const size_t n[4] = {nf, ne, na, nn};

	assert_int_equal(c->len[i], 14);
	assert_memory_equal(c->argv[i], ops, 6);
	for (size_t k = 0; k < 4; k++) {
		const unsigned char *b = (const unsigned char *)c->argv[i] + 6 + 2 * k;
		assert_int_equal((size_t)b[0] * 256 + b[1], n[k]);
	}
}

/* The index after n counters (kind, expiry, items, then item and count each) from i. */
static size_t skip_counters(const struct cmd *c, size_t i, size_t n)
{
	for (size_t k = 0; k < n; k++)
		i += 3 + 2 * (size_t)strtoul(c->argv[i + 2], NULL, 10);
	assert_true(i <= c->argc);
	return i;
}

/* The count in a head (0 fields, 1 events, 2 assignments, 3 notifications). */
static size_t head_n(const struct cmd *c, size_t i, size_t which)
{
	const unsigned char *b = (const unsigned char *)c->argv[i] + 6 + 2 * which;

	return (size_t)b[0] * 256 + b[1];
}

/* A new report: its keys, its counters, its arguments, the fields and the lists, in place. */
static void test_create_layout(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct apply_batch b;
	struct buf out;
	struct cmd cmd;
	static const char doc[] = "{\"id\":\"p-1\",\"category\":\"urban_management\","
	                          "\"unit\":\"x/s/c/g03\",\"title\":\"t\",\"dedup_key\":\"k1\"}";

	(void)state;
	apply_batch_init(&b);
	buf_init(&out);
	assert_int_equal(apply_plan_report(&b, &c, r, "gr:in:patrol", "1700000000000-0", doc,
	                                   strlen(doc), 1700000000001),
	                 1);
	apply_batch_encode(&b, &c, &out);
	parse(out.data, out.len, &cmd);
	assert_int_equal(cmd.bytes, out.len); /* one command, nothing else */
	check_head(&cmd, &c, 7 + 3 + 6, 1, 3);
	/* the counters: the KPIs of the unit's month (§11, Asia/Shanghai: 2023-11), the live
	 * counters */
	arg_is(&cmd, 10, "gr:kpi:2023-11:x/s/c/g03");
	arg_is(&cmd, 11, "gr:kpiunits:2023-11");
	arg_is(&cmd, 12, "gr:stats");
	/* the step's keys: every one of them the incident's own, under its v2 name */
	arg_is(&cmd, 13, "gr:inc:p-1");
	arg_is(&cmd, 14, "gr:doc:p-1");
	arg_is(&cmd, 15, "gr:timeline:p-1");
	arg_is(&cmd, 16, "gr:seen:p-1");
	arg_is(&cmd, 17, "gr:dedup:k1");
	arg_is(&cmd, 18, "gr:in:patrol");
	/* created counted and the unit in the month's set, each with the expiry of a new
	 * key; one more open case of its state, level and street */
	size_t i = 19 + 6;
	arg_is(&cmd, i, "h");
	arg_is(&cmd, i + 1, "1735920000000"); /* 2023-12-01 00:00 +08:00, and 400 days */
	arg_is(&cmd, i + 2, "1");
	arg_is(&cmd, i + 3, "urban_management:created");
	arg_is(&cmd, i + 4, "1");
	arg_is(&cmd, i + 5, "s");
	arg_is(&cmd, i + 6, "1735920000000");
	arg_is(&cmd, i + 7, "1");
	arg_is(&cmd, i + 8, "x/s/c/g03");
	arg_is(&cmd, i + 9, "1");
	arg_is(&cmd, i + 10, "h");
	arg_is(&cmd, i + 11, ""); /* gr:stats does not expire */
	arg_is(&cmd, i + 12, "3");
	arg_is(&cmd, i + 13, "state:open");
	arg_is(&cmd, i + 14, "1");
	arg_is(&cmd, i + 15, "level:member");
	arg_is(&cmd, i + 17, "unit:x/s");
	i += 19;
	/* the step: a positional creation; gr:due, gr:open and the dedup key set, no member
	 * in gr:deadlines (its deadline is its gr:due score), no expiry */
	size_t nf = head_n(&cmd, i, 0);
	head_is(&cmd, i, "cssksk", nf, 1, 1, 1);
	arg_is(&cmd, i + 1, "p-1");
	arg_is(&cmd, i + 2, "1700000000000-0");
	arg_is(&cmd, i + 3, "");                   /* the dedup key must name no incident */
	assert_int_equal(cmd.len[i + 4], 40);      /* the report's SHA-1 */
	arg_is(&cmd, i + 6, "1700000000001");      /* gr:open: created_at */
	assert_int_equal(cmd.argv[i + 8][0], '{'); /* the document */
	/* its share of the counters: counter, item, n */
	arg_is(&cmd, i + 9, "1 1 1 2 1 1 3 1 1 3 2 1 3 3 1");
	i += 10;
	/* the positional values: channel, created_at, ..., unit, category, updated_at */
	arg_is(&cmd, i, "patrol");
	arg_is(&cmd, i + 1, "1700000000001");
	arg_is(&cmd, i + 7, "1700000000001"); /* last_seen_at */
	arg_is(&cmd, i + 8, "x/s/c/g03");
	arg_is(&cmd, i + 9, "urban_management");
	arg_is(&cmd, i + 10, "1700000000001");
	i += 11;
	/*
	 * the other fields: no document, no report_sha1 (the sha argument), nothing a
	 * creation writes by position, none at its value in gr:defaults
	 */
	for (size_t k = 0; k < nf; k++) {
		const char *f = cmd.argv[i + 2 * k], *v = cmd.argv[i + 1 + 2 * k];
		size_t fl = cmd.len[i + 2 * k];
		assert_false(fl == 3 && memcmp(f, "doc", 3) == 0);
		assert_false(fl == 11 && memcmp(f, "report_sha1", 11) == 0);
		for (size_t l = 0; l < 2; l++) {
			const char *const *d = l ? lc_create_defaults : lc_create_written;
			for (size_t x = 0; d[x] != NULL; x += 2)
				assert_false(strlen(d[x]) == fl && memcmp(f, d[x], fl) == 0 &&
				             strlen(d[x + 1]) == cmd.len[i + 1 + 2 * k] &&
				             memcmp(v, d[x + 1], cmd.len[i + 1 + 2 * k]) == 0);
		}
	}
	i += 2 * nf;
	/* assigned; its assignment; its notification */
	for (int list = 0; list < 3; list++)
		assert_int_equal(cmd.argv[i + (size_t)list][0], '{');
	assert_int_equal(i + 3, cmd.argc);
	apply_batch_free(&b);
	buf_free(&out);
	rules_free(r);
}

/* Steps of every kind in one call: each finds its keys and arguments where the script looks. */
static void test_batch_layout(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct apply_batch b;
	struct buf out;
	struct cmd cmd;
	struct effects e;
	struct lc_source src = {"gr:in:alert", "1700000000000-5"};
	struct lc_source cmds = {"gr:in:commands", "1700000000000-6"};
	static const char doc[] = "{\"category\":\"urban_management\",\"unit\":\"x/s/c/g03\","
	                          "\"title\":\"t\"}";

	(void)state;
	apply_batch_init(&b);
	buf_init(&out);
	assert_int_equal(apply_plan_report(&b, &c, r, "gr:in:alert", "1700000000000-5", doc,
	                                   strlen(doc), 1700000000001),
	                 1);
	struct apply_step dl = {.mode = AM_DEADLETTER,
	                        .src = &cmds,
	                        .reason = "invalid_json",
	                        .error = "line 1",
	                        .payload = "{\0x",
	                        .plen = 3};
	apply_batch_add(&b, &c, &dl);
	struct apply_step ack = {.mode = AM_ACK, .src = &src};
	apply_batch_add(&b, &c, &ack);
	/* an update with no source (a deadline): nothing to acknowledge, no seen member */
	effects_init(&e);
	e.due = LC_REM;
	e.expire = LC_EXPIRE_PERSIST;
	struct apply_step up = {
	        .mode = AM_UPDATE, .id = "alert-1700000000000-5", .e = &e, .expect_version = 7};
	apply_batch_add(&b, &c, &up);
	effects_free(&e);
	assert_int_equal(b.nsteps, 4);
	apply_batch_encode(&b, &c, &out);
	parse(out.data, out.len, &cmd);
	assert_int_equal(cmd.bytes, out.len);
	check_head(&cmd, &c, 7 + 3 + 6 + 1 + 1 + 6, 4, 3);
	arg_is(&cmd, 19, "gr:in:commands"); /* the dead letter's source */
	arg_is(&cmd, 20, "gr:in:alert");    /* the acknowledgement's */
	arg_is(&cmd, 21, "gr:inc:alert-1700000000000-5");
	arg_is(&cmd, 26, "gr:in:none"); /* a deadline's placeholder source */
	size_t i = 3 + 24 + 6;
	i = skip_counters(&cmd, i, 3); /* the creation's */
	assert_int_equal(cmd.argv[i][0], 'c');
	i += 10 + 11 + 2 * head_n(&cmd, i, 0) + 3;
	arg_is(&cmd, i, "d");
	arg_is(&cmd, i + 1, "1700000000000-6");
	arg_is(&cmd, i + 2, "invalid_json");
	arg_is(&cmd, i + 3, "line 1");
	assert_int_equal(cmd.len[i + 4], 3); /* binary-safe */
	assert_memory_equal(cmd.argv[i + 4], "{\0x", 3);
	i += 5;
	arg_is(&cmd, i, "a");
	arg_is(&cmd, i + 1, "1700000000000-5");
	i += 2;
	/* gr:due removed, the rest kept, the keys persisted; the version alone, no list */
	head_is(&cmd, i, "urkkkp", 1, 0, 0, 0);
	arg_is(&cmd, i + 1, "alert-1700000000000-5");
	arg_is(&cmd, i + 2, "");
	arg_is(&cmd, i + 3, "7");
	arg_is(&cmd, i + 8, ""); /* the document unchanged */
	arg_is(&cmd, i + 9, ""); /* no counter */
	i += 10;
	arg_is(&cmd, i, "version");
	arg_is(&cmd, i + 1, "8");
	assert_int_equal(i + 2, cmd.argc);
	/* reset: an empty batch again */
	apply_batch_reset(&b);
	assert_int_equal(b.nsteps, 0);
	assert_int_equal(b.ncnt, 0);
	assert_int_equal(apply_batch_bytes(&b), 0);
	apply_batch_free(&b);
	buf_free(&out);
	rules_free(r);
}

/* A creation the positional form cannot carry (no SHA-1 here): mode 'C', every field a pair. */
static void test_create_with_pairs(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct apply_batch b;
	struct buf out;
	struct cmd cmd;
	struct effects e;
	struct incident inc;
	struct route_result rt;
	struct rejection rj;
	struct incident_ctx ictx = {.entry_id = "1700000000000-1", .entry_ms = 1700000000000};
	struct lc_source src = {"gr:in:patrol", "1700000000000-1"};
	static const char doc[] = "{\"category\":\"urban_management\",\"unit\":\"x/s/c/g03\","
	                          "\"title\":\"t\"}";

	(void)state;
	apply_batch_init(&b);
	buf_init(&out);
	assert_int_equal(channel_parse("patrol", &ictx.channel), 0);
	assert_int_equal(incident_parse(doc, strlen(doc), &ictx, &inc, &rj), 0);
	assert_int_equal(route_incident(r, &inc, 1700000000001, &rt, &rj), 0);
	effects_init(&e);
	struct lc_env env = {r, 1700000000001, 0, &src, NULL};
	lifecycle_create(&env, &inc, &rt, NULL, &e);
	struct apply_step st = {.mode = AM_CREATE, .src = &src, .id = inc.id, .e = &e};
	apply_batch_add(&b, &c, &st);
	apply_batch_encode(&b, &c, &out);
	parse(out.data, out.len, &cmd);
	check_head(&cmd, &c, 7 + 3 + 6, 1, 3);
	size_t i = 19 + 6;
	i = skip_counters(&cmd, i, 3);
	size_t nf = head_n(&cmd, i, 0);
	head_is(&cmd, i, "Csskkk", nf, 1, 1, 1);
	arg_is(&cmd, i + 4, ""); /* no SHA-1 */
	i += 10;
	/* every field a pair, those a 'c' step sends by position among them */
	bool seen_channel = false, seen_unit = false;
	for (size_t k = 0; k < nf; k++) {
		const char *f = cmd.argv[i + 2 * k];
		size_t fl = cmd.len[i + 2 * k];
		seen_channel |= fl == 7 && memcmp(f, "channel", 7) == 0;
		seen_unit |= fl == 4 && memcmp(f, "unit", 4) == 0;
		assert_false(fl == 11 && memcmp(f, "report_sha1", 11) == 0);
	}
	assert_true(seen_channel && seen_unit);
	assert_int_equal(i + 2 * nf + 3, cmd.argc);
	effects_free(&e);
	incident_free(&inc);
	apply_batch_free(&b);
	buf_free(&out);
	rules_free(r);
}

/* The script's answers, one per step. */
static void test_results(void **state)
{
	static const struct {
		const char *s;
		enum apply_result want;
		const char *detail;
	} cases[] = {
	        {"ok", AR_OK, NULL},
	        {"seen", AR_SEEN, NULL},
	        {"exists", AR_EXISTS, NULL},
	        {"same", AR_SAME, NULL},
	        {"conflict", AR_CONFLICT, NULL},
	        {"retry", AR_RETRY, NULL},
	        {"gone", AR_GONE, NULL},
	        {"d:feedback-1-0", AR_DEDUP, "feedback-1-0"},
	        {"d:", AR_DEDUP, ""},
	        {"wrongtype:gr:out:notifications", AR_WRONGTYPE, "gr:out:notifications"},
	        {"okay", AR_INVALID, NULL},
	        {"", AR_INVALID, NULL},
	        {"d", AR_INVALID, NULL},
	};
	const char *detail;
	size_t dlen;

	(void)state;
	for (size_t i = 0; i < GR_NELEM(cases); i++) {
		assert_int_equal(apply_result_parse(cases[i].s, strlen(cases[i].s), &detail, &dlen),
		                 cases[i].want);
		if (cases[i].detail == NULL) {
			assert_null(detail);
		} else {
			assert_int_equal(dlen, strlen(cases[i].detail));
			assert_memory_equal(detail, cases[i].detail, dlen);
		}
	}
	assert_int_equal(apply_result_parse(NULL, 0, &detail, &dlen), AR_INVALID);
}

/* After NOSCRIPT: the same call with EVAL and the script's text. */
static void test_evalsha_to_eval(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct apply_batch b;
	struct buf out, copy;
	struct cmd before, after;
	static const char doc[] = "{\"id\":\"p-2\",\"category\":\"urban_management\","
	                          "\"unit\":\"x/s/c/g03\",\"title\":\"t\"}";

	(void)state;
	apply_batch_init(&b);
	buf_init(&out);
	buf_init(&copy);
	assert_int_equal(apply_plan_report(&b, &c, r, "gr:in:patrol", "1700000000000-1", doc,
	                                   strlen(doc), 1700000000001),
	                 1);
	apply_batch_encode(&b, &c, &out);
	buf_append(&copy, out.data, out.len);
	parse(copy.data, copy.len, &before);
	apply_evalsha_to_eval(&out, AS_APPLY);
	parse(out.data, out.len, &after);
	assert_int_equal(after.bytes, out.len);
	assert_int_equal(after.argc, before.argc);
	arg_is(&after, 0, "EVAL");
	arg_is(&after, 1, apply_script_text(AS_APPLY));
	for (size_t i = 2; i < after.argc; i++) {
		assert_int_equal(after.len[i], before.len[i]);
		assert_memory_equal(after.argv[i], before.argv[i], before.len[i]);
	}
	/* a script with flags: Redis checks OOM before its first write */
	assert_memory_equal(apply_script_text(AS_APPLY), "#!lua\n", 6);
	/* anything but an EVALSHA is left alone */
	buf_reset(&copy);
	const char *argv[] = {"XACK", "s", "g", "1-1"};
	apply_encode_argv(&copy, 4, argv, NULL);
	size_t len = copy.len;
	apply_evalsha_to_eval(&copy, AS_APPLY);
	assert_int_equal(copy.len, len);
	apply_batch_free(&b);
	buf_free(&copy);
	buf_free(&out);
	rules_free(r);
}

/* What the daemon dead-letters is not planned: nothing is written. */
static void test_plan_rejects(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct apply_batch b;
	static const char *const bad[] = {
	        "{", "{\"category\":\"nope\",\"unit\":\"x/s/c/g03\",\"title\":\"t\"}",
	        "{\"category\":\"urban_management\",\"unit\":\"elsewhere/g1\",\"title\":\"t\"}"};

	(void)state;
	apply_batch_init(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(apply_plan_report(&b, &c, r, "gr:in:patrol", "1700000000000-0",
		                                   bad[i], strlen(bad[i]), 1700000000001),
		                 -1);
	/* neither a stream that is not a channel */
	assert_int_equal(apply_plan_report(&b, &c, r, "gr:in:commands", "1700000000000-0", "{}", 2,
	                                   1700000000001),
	                 -1);
	assert_int_equal(b.nsteps, 0);
	assert_int_equal(apply_batch_bytes(&b), 0);
	apply_batch_free(&b);
	rules_free(r);
}

/*
 * The script's CREATED table is lc_create_defaults, field for field and in
 * order: what lifecycle.c leaves out of a creation, the script writes.
 */
static void test_created_defaults(void **state)
{
	const char *text = apply_script_text(AS_APPLY);
	const char *p = strstr(text, "local CREATED = {");
	const char *const *lists[] = {lc_create_written, lc_create_defaults};
	size_t n = 0;

	(void)state;
	assert_non_null(p);
	p += strlen("local CREATED = {");
	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l][i] != NULL; i++, n++) {
			while (*p == ' ' || *p == ',' || *p == '\n')
				p++;
			assert_int_equal(*p, '\'');
			size_t len = strlen(lists[l][i]);
			assert_memory_equal(p + 1, lists[l][i], len);
			assert_int_equal(p[1 + len], '\'');
			p += len + 2;
		}
	}
	assert_int_equal(*p, '}');
	/* 14 fields every creation writes, 16 fields of §7 and the version */
	assert_int_equal(n, 2 * (14 + 16 + 1));
}

/* Any command: bulk strings with their lengths, binary-safe. */
static void test_argv(void **state)
{
	struct buf out;
	struct cmd cmd;
	const char *argv[] = {"XACK", "gr:in:patrol", "a\r\nb"};
	size_t lens[] = {4, 12, 4};

	(void)state;
	buf_init(&out);
	apply_encode_argv(&out, 3, argv, lens);
	assert_string_equal(out.data,
	                    "*3\r\n$4\r\nXACK\r\n$12\r\ngr:in:patrol\r\n$4\r\na\r\nb\r\n");
	parse(out.data, out.len, &cmd);
	assert_int_equal(cmd.argc, 3);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_layout),    cmocka_unit_test(test_batch_layout),
	        cmocka_unit_test(test_results),          cmocka_unit_test(test_evalsha_to_eval),
	        cmocka_unit_test(test_plan_rejects),     cmocka_unit_test(test_argv),
	        cmocka_unit_test(test_created_defaults), cmocka_unit_test(test_create_with_pairs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
