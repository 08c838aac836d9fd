/*
 * test_apply.c: a step's effects as one Redis-protocol command (apply.c).
 * The bytes are parsed back here and checked against the script's
 * argument layout, so that the daemon, the bench's ceiling and the Lua
 * script agree on every position.
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

/* A new report: the keys, the header arguments, the fields and the lists, in place. */
static void test_create_layout(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct buf out;
	struct cmd cmd;
	static const char doc[] = "{\"id\":\"p-1\",\"category\":\"urban_management\","
	                          "\"unit\":\"x/s/c/g03\",\"title\":\"t\",\"dedup_key\":\"k1\"}";

	(void)state;
	buf_init(&out);
	assert_int_equal(apply_plan_report(&out, &c, r, "gr:in:patrol", "1700000000000-0", doc,
	                                   strlen(doc), 1700000000001),
	                 1);
	parse(out.data, out.len, &cmd);
	assert_int_equal(cmd.bytes, out.len); /* one command, nothing else */
	arg_is(&cmd, 0, "EVALSHA");
	arg_is(&cmd, 1, c.sha[AS_APPLY]);
	arg_is(&cmd, 2, "9");
	/* KEYS */
	arg_is(&cmd, 3, "gr:inc:p-1");
	arg_is(&cmd, 4, "gr:inc:p-1:timeline");
	arg_is(&cmd, 5, "gr:inc:p-1:seen");
	arg_is(&cmd, 6, "gr:due");
	arg_is(&cmd, 7, "gr:open");
	arg_is(&cmd, 8, "gr:dedup:k1");
	arg_is(&cmd, 9, "gr:in:patrol");
	arg_is(&cmd, 10, "gr:out:assignments");
	arg_is(&cmd, 11, "gr:out:notifications");
	/* ARGV 1..15 */
	arg_is(&cmd, 12, "create");
	arg_is(&cmd, 13, "p-1");
	arg_is(&cmd, 14, "gridrouted");
	arg_is(&cmd, 15, "1700000000000-0");
	arg_is(&cmd, 16, "gr:in:patrol/1700000000000-0");
	arg_is(&cmd, 17, ""); /* the dedup key must name no incident */
	arg_is(&cmd, 18, "set");
	arg_is(&cmd, 20, "set");
	arg_is(&cmd, 21, "1700000000001");
	arg_is(&cmd, 22, "set");
	arg_is(&cmd, 23, "0");
	arg_is(&cmd, 24, "1000");
	arg_is(&cmd, 25, "gr:events");
	/* the fields, the version last; then events, assignments, notifications */
	size_t nf = (size_t)strtoul(cmd.argv[26], NULL, 10), i = 27;
	assert_true(nf >= 15);
	arg_is(&cmd, i + 2 * (nf - 1), "version");
	arg_is(&cmd, i + 2 * (nf - 1) + 1, "1");
	i += 2 * nf;
	for (int list = 0; list < 3; list++) {
		size_t n = (size_t)strtoul(cmd.argv[i], NULL, 10);
		assert_int_equal(n, 1); /* assigned; its assignment; its notification */
		assert_int_equal(cmd.argv[i + 1][0], '{');
		i += 1 + n;
	}
	assert_int_equal(i, cmd.argc);
	buf_free(&out);
	rules_free(r);
}

/* After NOSCRIPT: the same call with EVAL and the script's text. */
static void test_evalsha_to_eval(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct buf out, copy;
	struct cmd before, after;
	static const char doc[] = "{\"id\":\"p-2\",\"category\":\"urban_management\","
	                          "\"unit\":\"x/s/c/g03\",\"title\":\"t\"}";

	(void)state;
	buf_init(&out);
	buf_init(&copy);
	assert_int_equal(apply_plan_report(&out, &c, r, "gr:in:patrol", "1700000000000-1", doc,
	                                   strlen(doc), 1700000000001),
	                 1);
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
	/* anything but an EVALSHA is left alone */
	buf_reset(&copy);
	const char *argv[] = {"XACK", "s", "g", "1-1"};
	apply_encode_argv(&copy, 4, argv, NULL);
	size_t len = copy.len;
	apply_evalsha_to_eval(&copy, AS_APPLY);
	assert_int_equal(copy.len, len);
	buf_free(&copy);
	buf_free(&out);
	rules_free(r);
}

/* What the daemon dead-letters is not planned: nothing is written. */
static void test_plan_rejects(void **state)
{
	struct apply_ctx c = ctx();
	struct rules *r = load();
	struct buf out;
	static const char *const bad[] = {
	        "{", "{\"category\":\"nope\",\"unit\":\"x/s/c/g03\",\"title\":\"t\"}",
	        "{\"category\":\"urban_management\",\"unit\":\"elsewhere/g1\",\"title\":\"t\"}"};

	(void)state;
	buf_init(&out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(apply_plan_report(&out, &c, r, "gr:in:patrol", "1700000000000-0",
		                                   bad[i], strlen(bad[i]), 1700000000001),
		                 -1);
	/* neither a stream that is not a channel */
	assert_int_equal(apply_plan_report(&out, &c, r, "gr:in:commands", "1700000000000-0", "{}",
	                                   2, 1700000000001),
	                 -1);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	rules_free(r);
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
	        cmocka_unit_test(test_create_layout),
	        cmocka_unit_test(test_evalsha_to_eval),
	        cmocka_unit_test(test_plan_rejects),
	        cmocka_unit_test(test_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
