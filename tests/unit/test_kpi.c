/*
 * test_kpi.c: the §11 table from KPI hashes — sums up the unit tree and
 * per kind, the category and unit filters, the six rates, the worst-first
 * order with exact ties, what cannot be read, and the JSON document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kpi.h"
#include "testutil.h"
#include "tz.h"

static const char rules_yaml[] =
        "version: 1\n"
        "levels:\n"
        "  - {key: member, name: 网格员, unit: grid, role: member}\n"
        "  - {key: street, name: 街道, unit: street, role: duty}\n"
        "categories:\n"
        "  - {key: urban_management, name: 城市管理}\n"
        "  - {key: feedback, name: 居民反馈}\n"
        "people:\n"
        "  cc: {name: 指挥中心, notify: [], admin: true}\n"
        "  bj: {name: 北街, notify: []}\n"
        "  nj: {name: 南街, notify: []}\n"
        "  liu: {name: 刘洋, notify: []}\n"
        "  chen: {name: 陈静, notify: []}\n"
        "units:\n"
        "  - {id: xf, kind: district, name: 西峰区, roles: {duty: {default: [cc]}}}\n"
        "  - {id: xf/bj, kind: street, name: 北街街道, roles: {duty: {default: [bj]}}}\n"
        "  - {id: xf/bj/g1, kind: grid, name: 第一网格, roles: {member: {default: [liu]}}}\n"
        "  - {id: xf/bj/g2, kind: grid, name: 第二网格, roles: {member: {default: [chen]}}}\n"
        "  - {id: xf/nj, kind: street, name: 南街街道, roles: {duty: {default: [nj]}}}\n"
        "  - {id: xf/nj/g1, kind: grid, name: 南一网格, roles: {member: {default: [liu]}}}\n"
        "policies:\n"
        "  - {name: default, match: {}, start_level: member, ack_within: 30m, "
        "resolve_within: 1d}\n";

/* A hash as HGETALL gives it: "field", "value", ... ended by NULL. */
#define MAX_FIELDS 32
struct hash {
	const char *unit;
	const char *pairs[2 * MAX_FIELDS + 1];
};

struct input {
	struct kpi_hash h[8];
	const char *f[8][MAX_FIELDS], *v[8][MAX_FIELDS];
};

static const struct kpi_hash *make(struct input *in, const struct hash *hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (; hs[i].pairs[2 * k] != NULL; k++) {
			in->f[i][k] = hs[i].pairs[2 * k];
			in->v[i][k] = hs[i].pairs[2 * k + 1];
		}
		in->h[i] = (struct kpi_hash){hs[i].unit, in->f[i], in->v[i], k};
	}
	return in->h;
}

static void build(const struct hash *hs, size_t n, const struct rules *r, const struct kpi_opts *o,
                  struct kpi_report *rep)
{
	struct input in;
	char err[256] = "";
	int rc = kpi_report_build("2026-11", make(&in, hs, n), n, r, o, rep, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "kpi_report_build: %s\n", err);
	assert_int_equal(rc, 0);
}

static const struct kpi_row *row(const struct kpi_report *rep, const char *unit)
{
	for (size_t i = 0; i < rep->nrows; i++) {
		if (strcmp(rep->rows[i].unit, unit) == 0)
			return &rep->rows[i];
	}
	fail_msg("no row for %s", unit);
	return NULL;
}

/* The rows' units in order, space-separated. */
static void assert_order(const struct kpi_report *rep, const char *want)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < rep->nrows; i++)
		buf_printf(&b, "%s%s", i > 0 ? " " : "", rep->rows[i].unit);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	buf_free(&b);
}

static void test_tree_sums_descendants(void **state)
{
	static const struct hash hs[] = {
	        {"xf/bj/g1",
	         {"urban_management:created", "3", "urban_management:closed", "2",
	          "urban_management:closed_on_time", "1", "feedback:created", "1", NULL}},
	        {"xf/bj/g2",
	         {"urban_management:created", "2", "urban_management:closed", "2", NULL}},
	        {"xf/bj", {"feedback:returned", "1", NULL}},
	};
	struct kpi_report rep;
	struct kpi_opts o = {0};

	(void)state;
	build(hs, 3, NULL, &o, &rep);
	assert_int_equal(rep.nrows, 4); /* xf, xf/bj, and the two grids */
	assert_string_equal(rep.month, "2026-11");
	const struct kpi_row *xf = row(&rep, "xf"), *bj = row(&rep, "xf/bj");
	assert_int_equal(xf->n[KPI_CREATED], 6);
	assert_int_equal(bj->n[KPI_CREATED], 6);
	assert_int_equal(bj->n[KPI_CLOSED], 4);
	assert_int_equal(bj->n[KPI_CLOSED_ON_TIME], 1);
	assert_int_equal(bj->n[KPI_RETURNED], 1);
	assert_int_equal(row(&rep, "xf/bj/g1")->n[KPI_CREATED], 4);
	assert_int_equal(row(&rep, "xf/bj/g2")->n[KPI_CLOSED_ON_TIME], 0);
	assert_null(xf->name);
	/* rates: 1/4 closed on time, 1 return in 6 */
	assert_true(bj->rate[KPI_ON_TIME_CLOSURE] == 0.25);
	assert_int_equal(bj->num[KPI_RETURN], 1);
	assert_int_equal(bj->den[KPI_RETURN], 6);
	assert_true(bj->rate[KPI_ON_TIME_ACK] == KPI_NO_RATE);
	/* g2 0/2, then the ties at 1/4 by unit id, then g1 1/2 */
	assert_order(&rep, "xf/bj/g2 xf xf/bj xf/bj/g1");
	kpi_report_free(&rep);
}

static void test_order_worst_first_exact_ties_and_none_last(void **state)
{
	static const struct hash hs[] = {
	        {"b/y", {"c:closed", "4", "c:closed_on_time", "2", NULL}}, /* 2/4 */
	        {"a/x", {"c:closed", "2", "c:closed_on_time", "1", NULL}}, /* 1/2: ties with b/y */
	        {"c", {"c:closed", "3", "c:closed_on_time", "3", NULL}},   /* 3/3 */
	        {"d", {"c:closed", "3", "c:closed_on_time", "2", NULL}},   /* 2/3 */
	        {"z", {"c:created", "9", NULL}},                           /* - */
	        {"e", {"c:created", "1", NULL}},                           /* - */
	        {"f", {"c:closed", "1000000007", "c:closed_on_time", "1000000006", NULL}},
	        {"g", {"c:closed", "1000000008", "c:closed_on_time", "1000000007", NULL}},
	};
	struct kpi_report rep;
	struct kpi_opts o = {0};

	(void)state;
	build(hs, 8, NULL, &o, &rep);
	/* a and b hold a/x and b/y alone: four rows at 1/2, by unit id */
	assert_order(&rep, "a a/x b b/y d f g c e z");
	char pc[KPI_PERCENT_BUFSZ];
	kpi_percent(row(&rep, "d")->rate[KPI_ON_TIME_CLOSURE], pc);
	assert_string_equal(pc, "66.7%");
	kpi_percent(row(&rep, "c")->rate[KPI_ON_TIME_CLOSURE], pc);
	assert_string_equal(pc, "100.0%");
	kpi_percent(row(&rep, "z")->rate[KPI_ON_TIME_CLOSURE], pc);
	assert_string_equal(pc, "-");
	kpi_percent(0.875, pc);
	assert_string_equal(pc, "87.5%");
	kpi_report_free(&rep);
}

static void test_category_and_unit_filters(void **state)
{
	static const struct hash hs[] = {
	        {"xf/bj/g1", {"urban_management:created", "3", "feedback:created", "1", NULL}},
	        {"xf/bjx", {"urban_management:created", "5", NULL}},
	        {"xf/nj/g1", {"feedback:closed", "1", NULL}},
	};
	struct kpi_report rep;
	struct kpi_opts o = {.category = "feedback"};

	(void)state;
	build(hs, 3, NULL, &o, &rep);
	/* xf/bjx has no feedback field: no row of its own */
	assert_order(&rep, "xf xf/nj xf/nj/g1 xf/bj xf/bj/g1");
	assert_int_equal(row(&rep, "xf")->n[KPI_CREATED], 1);
	kpi_report_free(&rep);

	/* segment-wise: xf/bj is not a prefix of xf/bjx */
	o = (struct kpi_opts){.unit = "xf/bj"};
	build(hs, 3, NULL, &o, &rep);
	assert_order(&rep, "xf/bj xf/bj/g1");
	assert_int_equal(row(&rep, "xf/bj")->n[KPI_CREATED], 4);
	kpi_report_free(&rep);
}

static void test_by_kind_with_names(void **state)
{
	static const struct hash hs[] = {
	        {"xf/bj/g1", {"urban_management:closed", "2", NULL}},
	        /* a unit the rules lack: counted at its deepest configured prefix */
	        {"xf/bj/g9/x",
	         {"urban_management:closed", "2", "urban_management:closed_on_time", "2", NULL}},
	        {"xf/nj/g1",
	         {"urban_management:closed", "1", "urban_management:closed_on_time", "1", NULL}},
	        {"xf", {"urban_management:created", "1", NULL}}, /* no street above it */
	        {"elsewhere", {"urban_management:created", "1", NULL}},
	};
	struct rules *r = test_load("kpi.yaml", rules_yaml, "");
	struct kpi_report rep;
	struct kpi_opts o = {.by_kind = "street"};

	(void)state;
	build(hs, 5, r, &o, &rep);
	assert_order(&rep, "xf/bj xf/nj");
	assert_string_equal(rep.rows[0].name, "北街街道");
	assert_int_equal(rep.rows[0].n[KPI_CLOSED], 4);
	assert_true(rep.rows[0].rate[KPI_ON_TIME_CLOSURE] == 0.5);
	assert_int_equal(rep.outside, 2);
	kpi_report_free(&rep);

	o = (struct kpi_opts){.by_kind = "street", .unit = "xf/nj"};
	build(hs, 5, r, &o, &rep);
	assert_order(&rep, "xf/nj");
	kpi_report_free(&rep);

	/* the tree with rules: names where the rules have the unit */
	o = (struct kpi_opts){0};
	build(hs, 5, r, &o, &rep);
	assert_string_equal(row(&rep, "xf/bj/g1")->name, "第一网格");
	assert_null(row(&rep, "xf/bj/g9/x")->name);
	assert_null(row(&rep, "elsewhere")->name);
	kpi_report_free(&rep);
	rules_free(r);
}

static void test_what_cannot_be_read_is_left_out(void **state)
{
	static const struct hash hs[] = {
	        {"g",
	         {"c:closed", "2", "nocolon", "1", "Bad:closed", "1", "c:acked", "-1", "c:urged",
	          "x", "c:urged", "99999999999999999999", "c:not_a_counter_yet", "5", NULL}},
	        {"Not A Unit", {"c:created", "1", NULL}},
	        {"h", {"c:closed", "9223372036854775807", NULL}},
	        {"h/i", {"c:closed", "9223372036854775807", NULL}},
	};
	struct kpi_report rep;
	struct kpi_opts o = {0};

	(void)state;
	build(hs, 4, NULL, &o, &rep);
	assert_int_equal(rep.malformed, 6);
	assert_int_equal(row(&rep, "g")->n[KPI_CLOSED], 2);
	assert_int_equal(row(&rep, "g")->n[KPI_ACKED], 0);
	assert_int_equal(row(&rep, "g")->n[KPI_URGED], 0);
	/* sums saturate */
	assert_true(row(&rep, "h")->n[KPI_CLOSED] == INT64_MAX);
	kpi_report_free(&rep);
}

static void test_rates_can_pass_one(void **state)
{
	static const struct hash hs[] = {
	        {"g",
	         {"c:closed", "2", "c:reworked", "3", "c:extended", "1", "c:reopened", "1",
	          "c:acked", "4", "c:acked_on_time", "3", NULL}},
	};
	struct kpi_report rep;
	struct kpi_opts o = {0};
	char pc[KPI_PERCENT_BUFSZ];

	(void)state;
	build(hs, 1, NULL, &o, &rep);
	const struct kpi_row *g = row(&rep, "g");
	assert_true(g->rate[KPI_REWORK] == 1.5);
	assert_true(g->rate[KPI_EXTENSION] == 0.5);
	assert_true(g->rate[KPI_REOPEN] == 0.5);
	assert_true(g->rate[KPI_ON_TIME_ACK] == 0.75);
	assert_true(g->rate[KPI_ON_TIME_CLOSURE] == 0.0);
	assert_true(g->rate[KPI_RETURN] == KPI_NO_RATE);
	kpi_percent(g->rate[KPI_REWORK], pc);
	assert_string_equal(pc, "150.0%");
	kpi_report_free(&rep);
}

static void test_json_document(void **state)
{
	static const struct hash hs[] = {
	        {"xf/bj/g1",
	         {"urban_management:created", "2", "urban_management:closed", "2",
	          "urban_management:closed_on_time", "1", NULL}},
	};
	struct rules *r = test_load("kpi.yaml", rules_yaml, "");
	struct kpi_report rep;
	struct kpi_opts o = {.unit = "xf/bj/g1"};

	(void)state;
	build(hs, 1, r, &o, &rep);
	json_t *doc = kpi_report_json(&rep);
	char *s = json_dumps(doc, JSON_COMPACT);
	assert_string_equal(
	        s,
	        "{\"month\":\"2026-11\",\"rows\":[{\"unit\":\"xf/bj/g1\",\"name\":\"第一网格\","
	        "\"created\":2,\"acked\":0,\"acked_on_time\":0,\"closed\":2,\"closed_on_time\":1,"
	        "\"escalated\":0,\"breached\":0,\"reworked\":0,\"returned\":0,\"redispatched\":0,"
	        "\"extended\":0,\"parked\":0,\"cancelled\":0,\"reopened\":0,\"urged\":0,"
	        "\"rates\":{\"on_time_closure\":0.5,\"on_time_ack\":null,\"rework\":0.0,"
	        "\"extension\":0.0,\"return\":0.0,\"reopen\":0.0}}]}");
	free(s);
	json_decref(doc);
	kpi_report_free(&rep);
	rules_free(r);
}

static void test_errors(void **state)
{
	struct rules *r = test_load("kpi.yaml", rules_yaml, "");
	struct kpi_report rep;
	struct kpi_opts o = {0};
	char err[256];

	(void)state;
	assert_int_equal(kpi_report_build("2026-13", NULL, 0, NULL, &o, &rep, err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "expected a month YYYY-MM, got \"2026-13\"");
	o.by_kind = "street";
	assert_int_equal(kpi_report_build("2026-11", NULL, 0, NULL, &o, &rep, err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "rows by kind need the rules (which unit is of which kind)");
	o.by_kind = "province";
	assert_int_equal(kpi_report_build("2026-11", NULL, 0, r, &o, &rep, err, sizeof(err)), -1);
	assert_string_equal(err, "the rules have no unit of kind \"province\"");
	o = (struct kpi_opts){.unit = "Xf"};
	assert_int_equal(kpi_report_build("2026-11", NULL, 0, r, &o, &rep, err, sizeof(err)), -1);
	o = (struct kpi_opts){.category = "a:b"};
	assert_int_equal(kpi_report_build("2026-11", NULL, 0, r, &o, &rep, err, sizeof(err)), -1);
	/* nothing counted: no rows, no error */
	o = (struct kpi_opts){0};
	assert_int_equal(kpi_report_build("2026-11", NULL, 0, r, &o, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.nrows, 0);
	kpi_report_free(&rep);
	rules_free(r);
}

static void test_months(void **state)
{
	char err[128], m[8];
	struct tz *sh = tz_load("Asia/Shanghai", err, sizeof(err));
	int64_t t;

	(void)state;
	assert_non_null(sh);
	assert_true(kpi_month_valid("2026-01"));
	assert_true(kpi_month_valid("9999-12"));
	assert_false(kpi_month_valid("1969-12"));
	assert_false(kpi_month_valid("2026-00"));
	assert_false(kpi_month_valid("2026-1"));
	assert_false(kpi_month_valid("2026/11"));
	assert_false(kpi_month_valid("+026-11"));
	assert_false(kpi_month_valid("2026-11x"));
	/* 16:30 UTC on the last day of November is already December in Shanghai */
	assert_int_equal(time_parse_rfc3339("2026-11-30T16:30:00Z", 20, &t), 0);
	kpi_month_of(sh, t, m);
	assert_string_equal(m, "2026-12");
	assert_int_equal(time_parse_rfc3339("2026-11-30T15:59:59Z", 20, &t), 0);
	kpi_month_of(sh, t, m);
	assert_string_equal(m, "2026-11");
	tz_free(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tree_sums_descendants),
	        cmocka_unit_test(test_order_worst_first_exact_ties_and_none_last),
	        cmocka_unit_test(test_category_and_unit_filters),
	        cmocka_unit_test(test_by_kind_with_names),
	        cmocka_unit_test(test_what_cannot_be_read_is_left_out),
	        cmocka_unit_test(test_rates_can_pass_one),
	        cmocka_unit_test(test_json_document),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_months),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
