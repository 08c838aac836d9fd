/*
 * test_explain.c: `gridctl explain` output — the JSON shape of SPEC §10
 * parsed back with Jansson, and the key lines of the text report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "explain.h"

#define RULES "tests/unit/data/explain_xifeng.yaml"
#define NOW   "2026-11-26T04:00:00.000Z"

static const char camera_inc[] = "{\"id\": \"cam-1\", \"channel\": \"alert\", "
                                 "\"category\": \"political_legal\", "
                                 "\"unit\": \"xifeng/beijie/beidajie/g03\", \"title\": \"聚集\", "
                                 "\"severity\": \"high\", \"attrs\": {\"source\": \"camera\"}}";

static int setup(void **state)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, RULES);
	r = rules_load(RULES, &d);
	if (r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	*state = r;
	return r != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	if (*state != NULL)
		rules_free(*state);
	return 0;
}

static int64_t now_ms(void)
{
	int64_t ms;

	assert_int_equal(time_parse_rfc3339(NOW, strlen(NOW), &ms), 0);
	return ms;
}

/* Runs explain; returns its output (caller frees) or NULL with rj filled. */
static char *run(const struct rules *r, const char *doc, bool json, const char *channel,
                 struct rejection *rj)
{
	struct explain_opts o = {.now = now_ms(), .json = json};
	struct buf out;

	if (channel != NULL) {
		o.channel_given = true;
		assert_int_equal(channel_parse(channel, &o.channel), 0);
	}
	buf_init(&out);
	memset(rj, 0, sizeof(*rj));
	if (explain_incident(r, doc, strlen(doc), &o, &out, rj) != 0) {
		buf_free(&out);
		return NULL;
	}
	assert_non_null(out.data);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	return buf_detach(&out);
}

static json_t *run_json(const struct rules *r, const char *doc, const char *channel)
{
	struct rejection rj;
	json_error_t err;
	char *s = run(r, doc, true, channel, &rj);
	json_t *j;

	if (s == NULL)
		fail_msg("explain refused: %s: %s", reason_code(rj.reason), rj.msg);
	j = json_loads(s, 0, &err);
	if (j == NULL)
		fail_msg("bad JSON at %d:%d: %s\n%s", err.line, err.column, err.text, s);
	free(s);
	return j;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("%s is not a string", key);
	return json_string_value(v);
}

static json_int_t num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	return json_integer_value(v);
}

static void assert_people(json_t *a, const char *id0, const char *name0, size_t n)
{
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	if (n > 0) {
		json_t *p = json_array_get(a, 0);
		assert_int_equal(json_object_size(p), 2);
		assert_string_equal(str(p, "id"), id0);
		assert_string_equal(str(p, "name"), name0);
	}
}

static void test_json_shape(void **state)
{
	json_t *j = run_json(*state, camera_inc, NULL);
	static const char *const keys[] = {"policy",   "unit",          "reported_unit",
	                                   "fallback", "case_deadline", "chain"};
	static const char *const lkeys[] = {
	        "level",         "level_key",         "level_name",   "vacant",
	        "assignees",     "co_assignees",      "ack_within",   "resolve_within",
	        "ack_within_ms", "resolve_within_ms", "ack_deadline", "resolve_deadline"};
	size_t i = 0;
	const char *k;
	json_t *v;

	/* Exactly these keys, in this order. */
	assert_int_equal(json_object_size(j), GR_NELEM(keys));
	json_object_foreach(j, k, v) assert_string_equal(k, keys[i++]);
	json_t *l = json_array_get(json_object_get(j, "chain"), 0);
	assert_int_equal(json_object_size(l), GR_NELEM(lkeys));
	i = 0;
	json_object_foreach(l, k, v) assert_string_equal(k, lkeys[i++]);
	json_decref(j);
}

static void test_json_chain(void **state)
{
	json_t *j = run_json(*state, camera_inc, NULL);
	json_t *chain = json_object_get(j, "chain");
	json_t *l;

	assert_string_equal(str(j, "policy"), "camera-critical");
	assert_string_equal(str(j, "unit"), "xifeng/beijie/beidajie/g03");
	assert_string_equal(str(j, "reported_unit"), "xifeng/beijie/beidajie/g03");
	assert_true(json_is_false(json_object_get(j, "fallback")));
	/* From start_level (leader, level 2) up: 4 levels. */
	assert_int_equal(json_array_size(chain), 4);

	l = json_array_get(chain, 0);
	assert_int_equal(num(l, "level"), 2);
	assert_string_equal(str(l, "level_key"), "leader");
	assert_string_equal(str(l, "level_name"), "网格长");
	assert_true(json_is_false(json_object_get(l, "vacant")));
	assert_people(json_object_get(l, "assignees"), "chenjing", "陈静", 1);
	/* property and partner both name wuye-a: listed once. */
	assert_people(json_object_get(l, "co_assignees"), "wuye-a", "某物业公司", 1);
	assert_int_equal(num(l, "ack_within_ms"), 300000);
	assert_int_equal(num(l, "resolve_within_ms"), 3600000);
	assert_string_equal(str(l, "ack_deadline"), "2026-11-26T04:05:00.000Z");
	assert_string_equal(str(l, "resolve_deadline"), "2026-11-26T05:00:00.000Z");

	/* Per-category override; assigned at the leader's ack deadline. */
	l = json_array_get(chain, 1);
	assert_int_equal(num(l, "level"), 3);
	assert_string_equal(str(l, "level_key"), "community");
	assert_people(json_object_get(l, "assignees"), "xinyi", "心怡心理咨询调解服务中心", 1);
	assert_people(json_object_get(l, "co_assignees"), "wuye-a", "某物业公司", 1);
	assert_int_equal(num(l, "resolve_within_ms"), 7200000);
	assert_string_equal(str(l, "ack_deadline"), "2026-11-26T04:10:00.000Z");
	assert_string_equal(str(l, "resolve_deadline"), "2026-11-26T06:05:00.000Z");

	/* The street is vacant for political_legal: no people, no deadlines. */
	l = json_array_get(chain, 2);
	assert_int_equal(num(l, "level"), 4);
	assert_true(json_is_true(json_object_get(l, "vacant")));
	assert_people(json_object_get(l, "assignees"), NULL, NULL, 0);
	assert_people(json_object_get(l, "co_assignees"), NULL, NULL, 0);
	assert_int_equal(num(l, "ack_within_ms"), 300000);
	assert_int_equal(num(l, "resolve_within_ms"), 14400000);
	assert_true(json_is_null(json_object_get(l, "ack_deadline")));
	assert_true(json_is_null(json_object_get(l, "resolve_deadline")));

	/* The district follows the community's ack deadline. */
	l = json_array_get(chain, 3);
	assert_int_equal(num(l, "level"), 5);
	assert_string_equal(str(l, "level_name"), "区");
	assert_people(json_object_get(l, "assignees"), "command-center", "区指挥中心", 1);
	assert_int_equal(num(l, "resolve_within_ms"), 28800000);
	assert_string_equal(str(l, "ack_deadline"), "2026-11-26T04:15:00.000Z");
	assert_string_equal(str(l, "resolve_deadline"), "2026-11-26T12:10:00.000Z");
	json_decref(j);
}

static void test_json_due_at(void **state)
{
	const char *doc = "{\"channel\": \"alert\", \"category\": \"political_legal\", "
	                  "\"unit\": \"xifeng/beijie/beidajie/g03\", \"title\": \"t\", "
	                  "\"severity\": \"critical\", \"attrs\": {\"source\": \"camera\"}, "
	                  "\"due_at\": \"2026-11-26T12:30:00+08:00\"}";
	json_t *j = run_json(*state, doc, NULL);
	json_t *chain = json_object_get(j, "chain");

	/* due_at caps the first level's resolve deadline only. */
	assert_string_equal(str(json_array_get(chain, 0), "resolve_deadline"),
	                    "2026-11-26T04:30:00.000Z");
	assert_string_equal(str(json_array_get(chain, 0), "ack_deadline"),
	                    "2026-11-26T04:05:00.000Z");
	assert_string_equal(str(json_array_get(chain, 1), "resolve_deadline"),
	                    "2026-11-26T06:05:00.000Z");
	json_decref(j);
}

static void test_json_fallback(void **state)
{
	const char *doc = "{\"channel\": \"alert\", \"category\": \"political_legal\", "
	                  "\"unit\": \"xifeng/beijie/beidajie/g99\", \"title\": \"t\", "
	                  "\"severity\": \"high\", \"attrs\": {\"source\": \"camera\"}}";
	json_t *j = run_json(*state, doc, NULL);
	json_t *chain = json_object_get(j, "chain");

	assert_string_equal(str(j, "unit"), "xifeng/beijie/beidajie");
	assert_string_equal(str(j, "reported_unit"), "xifeng/beijie/beidajie/g99");
	assert_true(json_is_true(json_object_get(j, "fallback")));
	/* No grid on the path: the leader is vacant, the community is first. */
	assert_true(json_is_true(json_object_get(json_array_get(chain, 0), "vacant")));
	assert_true(json_is_null(json_object_get(json_array_get(chain, 0), "ack_deadline")));
	assert_string_equal(str(json_array_get(chain, 1), "ack_deadline"),
	                    "2026-11-26T04:05:00.000Z");
	assert_string_equal(str(json_array_get(chain, 1), "resolve_deadline"),
	                    "2026-11-26T06:00:00.000Z");
	json_decref(j);
}

static void test_channel_choice(void **state)
{
	const char *doc = "{\"category\": \"political_legal\", "
	                  "\"unit\": \"xifeng/beijie/beidajie/g03\", \"title\": \"t\", "
	                  "\"severity\": \"high\", \"attrs\": {\"source\": \"camera\"}}";
	json_t *j;

	/* No channel anywhere: patrol, so the alert-only policy does not match. */
	j = run_json(*state, doc, NULL);
	assert_string_equal(str(j, "policy"), "default");
	assert_int_equal(json_array_size(json_object_get(j, "chain")), 5);
	json_decref(j);
	/* --channel alert. */
	j = run_json(*state, doc, "alert");
	assert_string_equal(str(j, "policy"), "camera-critical");
	json_decref(j);
	/* The document's own channel. */
	j = run_json(*state, camera_inc, NULL);
	assert_string_equal(str(j, "policy"), "camera-critical");
	json_decref(j);
}

static void test_text(void **state)
{
	const char *doc = "{\"id\": \"p-7\", \"category\": \"urban_management\", "
	                  "\"unit\": \"xifeng/beijie/beidajie/g03\", \"title\": \"井盖缺失\"}";
	struct rejection rj;
	char *s = run(*state, doc, false, NULL, &rj);

	assert_non_null(s);
	assert_non_null(strstr(s, "p-7"));
	assert_non_null(strstr(s, "井盖缺失"));
	assert_non_null(strstr(s, "patrol"));
	assert_non_null(strstr(s, "urban_management (城市管理)"));
	assert_non_null(strstr(s, "normal"));
	assert_non_null(strstr(s, "policy:    default\n"));
	assert_non_null(strstr(s, "xifeng/beijie/beidajie/g03 (第三网格)\n"));
	assert_null(strstr(s, "fallback"));
	assert_non_null(strstr(s, "  1 member 网格员: 刘洋 (liuyang); ack by "
	                          "2026-11-26T04:30:00.000Z (within 30m), resolve by "
	                          "2026-11-27T04:00:00.000Z (within 1d)\n"));
	assert_non_null(strstr(s, "  3 community 社区: 张倩 (zhangqian); ack by "
	                          "2026-11-26T05:30:00.000Z (within 30m)"));
	assert_non_null(strstr(s, "  5 district 区: 区指挥中心 (command-center); ack by "));
	free(s);
}

static void test_text_vacant_and_co(void **state)
{
	const char *doc = "{\"id\": \"cam-2\", \"channel\": \"alert\", "
	                  "\"category\": \"political_legal\", "
	                  "\"unit\": \"xifeng/beijie/beidajie/g99\", \"title\": \"t\", "
	                  "\"severity\": \"high\", \"attrs\": {\"source\": \"camera\"}}";
	struct rejection rj;
	char *s = run(*state, doc, false, NULL, &rj);

	assert_non_null(s);
	assert_non_null(strstr(s, "policy:    camera-critical\n"));
	assert_non_null(strstr(s, "xifeng/beijie/beidajie (北大街社区), fallback from "
	                          "xifeng/beijie/beidajie/g99\n"));
	assert_non_null(strstr(s, "political_legal (政法综治)"));
	assert_non_null(strstr(s, "high"));
	assert_non_null(strstr(s, "  2 leader 网格长: vacant — skipped\n"));
	assert_non_null(strstr(s, "  3 community 社区: 心怡心理咨询调解服务中心 (xinyi); "
	                          "co-assignees: 某物业公司 (wuye-a); ack by "
	                          "2026-11-26T04:05:00.000Z (within 5m), resolve by "
	                          "2026-11-26T06:00:00.000Z (within 2h)\n"));
	assert_non_null(strstr(s, "  4 street 街道: vacant — skipped\n"));
	/* The member level is below start_level: not shown. */
	assert_null(strstr(s, "member"));
	free(s);
}

static void test_rejections(void **state)
{
	struct rejection rj;

	assert_null(run(*state, "{\"category\": \"nope\", \"unit\": \"xifeng\", \"title\": \"t\"}",
	                true, NULL, &rj));
	assert_int_equal(rj.reason, REASON_UNKNOWN_CATEGORY);
	assert_string_equal(rj.msg, "unknown category \"nope\"");

	assert_null(run(*state,
	                "{\"category\": \"urban_management\", \"unit\": \"dongfeng/a\", "
	                "\"title\": \"t\"}",
	                false, NULL, &rj));
	assert_int_equal(rj.reason, REASON_UNKNOWN_UNIT);

	assert_null(run(*state, "{\"category\": ", true, NULL, &rj));
	assert_int_equal(rj.reason, REASON_INVALID_JSON);

	assert_null(run(*state, "{\"unit\": \"xifeng\", \"title\": \"t\"}", true, NULL, &rj));
	assert_int_equal(rj.reason, REASON_MISSING_FIELD);

	/* --channel patrol against a document saying alert. */
	assert_null(run(*state, camera_inc, true, "patrol", &rj));
	assert_int_equal(rj.reason, REASON_CHANNEL_MISMATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_shape),         cmocka_unit_test(test_json_chain),
	        cmocka_unit_test(test_json_due_at),        cmocka_unit_test(test_json_fallback),
	        cmocka_unit_test(test_channel_choice),     cmocka_unit_test(test_text),
	        cmocka_unit_test(test_text_vacant_and_co), cmocka_unit_test(test_rejections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
