/*
 * test_route.c: unit resolution, first-match policy selection, chains and
 * vacancies, co-assignees, per-level durations, deadlines, the §8 routing
 * rejections and the §5 authorization of commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

#define BASIC "tests/unit/data/route_basic.yaml"
#define MATCH "tests/unit/data/route_match.yaml"

#define MIN  60000LL
#define HOUR 3600000LL
#define T0   1764129600000LL /* 2025-11-26T04:00:00Z: when the routing happens */

struct fixture {
	struct rules *basic;
	struct rules *match;
};

static struct rules *load(const char *path)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, path);
	r = rules_load(path, &d);
	if (r == NULL || d.nerrors > 0)
		diags_print(&d, stderr);
	diags_free(&d);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->basic = load(BASIC);
	f->match = load(MATCH);
	*state = f;
	return f->basic != NULL && f->match != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->basic != NULL)
		rules_free(f->basic);
	if (f->match != NULL)
		rules_free(f->match);
	free(f);
	return 0;
}

/* An incident as incident_parse would leave it; attrs is JSON text or NULL. */
static void mkinc(struct incident *inc, enum channel ch, enum severity sev, const char *cat,
                  const char *unit, const char *attrs)
{
	memset(inc, 0, sizeof(*inc));
	inc->id = "t-1";
	inc->title = "test";
	inc->channel = ch;
	inc->severity = sev;
	inc->category = cat;
	inc->unit = unit;
	inc->unit_len = strlen(unit);
	inc->due_at = TIME_NONE;
	if (attrs != NULL) {
		json_t *o = json_loads(attrs, 0, NULL);
		const char *k;
		json_t *v;
		size_t n = json_object_size(o), i = 0, room = (n + 1) * sizeof(*inc->attrs);
		/* the array, its NULL entry, then the strings: one block, like incident_parse's */
		char *mem, *s;

		assert_true(json_is_object(o));
		json_object_foreach(o, k, v) room += strlen(k) + json_string_length(v) + 2;
		mem = calloc(1, room);
		assert_non_null(mem);
		inc->attrs = (struct incident_attr *)(void *)mem;
		s = mem + (n + 1) * sizeof(*inc->attrs);
		json_object_foreach(o, k, v)
		{
			assert_true(json_is_string(v));
			inc->attrs[i].key = memcpy(s, k, strlen(k) + 1);
			s += strlen(k) + 1;
			inc->attrs[i].value_len = json_string_length(v);
			inc->attrs[i].value =
			        memcpy(s, json_string_value(v), json_string_length(v) + 1);
			s += json_string_length(v) + 1;
			i++;
		}
		inc->nattrs = n;
		json_decref(o);
	}
}

static void rminc(struct incident *inc)
{
	free(inc->attrs);
}

static const char *policy_of(const struct rules *r, enum channel ch, enum severity sev,
                             const char *cat, const char *unit, const char *attrs)
{
	struct incident inc;
	int c = rules_category(r, cat);
	int p;

	assert_true(c >= 0);
	mkinc(&inc, ch, sev, cat, unit, attrs);
	p = route_match(r, &inc, c);
	rminc(&inc);
	return p < 0 ? "(none)" : r->policies[p].name;
}

static int unit_of(const struct rules *r, const char *unit, bool *fb)
{
	return route_resolve_unit(r, unit, strlen(unit), fb);
}

static const char *uid(const struct rules *r, int u)
{
	return u < 0 ? "(none)" : r->units[u].id;
}

/* "a,b" for a people list, for compact assertions. */
static const char *names(const struct rules *r, const struct rules_plist *pl)
{
	static char out[256];
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < pl->n; i++)
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s", i > 0 ? "," : "",
		                        r->people[pl->ids[i]].id);
	return out;
}

static void chain_for(const struct rules *r, const char *unit, const char *cat, const char *policy,
                      struct route_chain *c)
{
	bool fb;
	int u = unit_of(r, unit, &fb);
	const struct rules_policy *pol = NULL;

	assert_true(u >= 0);
	for (size_t i = 0; policy != NULL && i < r->npolicies; i++) {
		if (strcmp(r->policies[i].name, policy) == 0)
			pol = &r->policies[i];
	}
	assert_true(policy == NULL || pol != NULL);
	route_chain(r, u, rules_category(r, cat), pol, T0, c);
}

static const struct rules_policy *policy_named(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->npolicies; i++) {
		if (strcmp(r->policies[i].name, name) == 0)
			return &r->policies[i];
	}
	fail_msg("no policy %s", name);
	return NULL;
}

/* ---- unit resolution ---- */

static void test_unit_exact(void **state)
{
	struct fixture *f = *state;
	bool fb = true;

	assert_string_equal(uid(f->basic, unit_of(f->basic, "x/s/c/g1", &fb)), "x/s/c/g1");
	assert_false(fb);
	assert_string_equal(uid(f->basic, unit_of(f->basic, "x", &fb)), "x");
	assert_false(fb);
}

static void test_unit_fallback(void **state)
{
	struct fixture *f = *state;
	bool fb = false;

	assert_string_equal(uid(f->basic, unit_of(f->basic, "x/s/c/g99", &fb)), "x/s/c");
	assert_true(fb);
	fb = false;
	assert_string_equal(uid(f->basic, unit_of(f->basic, "x/s/c/g1/a/b/c", &fb)), "x/s/c/g1");
	assert_true(fb);
	/* Segment-wise: "x/s/cx" is not under "x/s/c". */
	assert_string_equal(uid(f->basic, unit_of(f->basic, "x/s/cx", &fb)), "x/s");
	assert_true(fb);
	/* The length is honoured: the rest of the buffer is not part of the id. */
	assert_string_equal(uid(f->basic, route_resolve_unit(f->basic, "x/s/c/g1", 5, &fb)),
	                    "x/s/c");
	assert_false(fb);
	assert_string_equal(uid(f->basic, route_resolve_unit(f->basic, "x/s/cz", 5, &fb)), "x/s/c");
	assert_false(fb);
}

static void test_unit_unknown(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};
	bool fb;

	assert_int_equal(unit_of(f->basic, "z/s/c", &fb), -1);
	assert_int_equal(unit_of(f->basic, "xx", &fb), -1);
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "z/a", NULL);
	assert_int_equal(route_incident(f->basic, &inc, T0, &rr, &rj), -1);
	assert_int_equal(rj.reason, REASON_UNKNOWN_UNIT);
	assert_string_equal(rj.msg, "unit \"z/a\" is not configured and has no configured parent");
	rminc(&inc);
}

static void test_route_fallback_flag(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/s/c/g1/house7", NULL);
	assert_int_equal(route_incident(f->basic, &inc, T0, &rr, &rj), 0);
	assert_true(rr.fallback);
	assert_string_equal(uid(f->basic, rr.unit), "x/s/c/g1");
	assert_string_equal(f->basic->policies[rr.policy].name, "default");
	assert_int_equal(rr.level, 0);
	assert_int_equal(rr.category, rules_category(f->basic, "urban"));
	rminc(&inc);

	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/s/c/g1", NULL);
	assert_int_equal(route_incident(f->basic, &inc, T0, &rr, &rj), 0);
	assert_false(rr.fallback);
	rminc(&inc);
}

/* ---- first match ---- */

static void test_match_combo(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/s/c/g1",
	                              "{\"source\": \"hotline\"}"),
	                    "combo");
	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_CRITICAL, "urban", "x/s/cc",
	                              "{\"source\": \"hotline\", \"extra\": \"x\"}"),
	                    "combo");
	assert_string_equal(
	        policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/s", "{\"source\": \"hotline\"}"),
	        "combo");
}

static void test_match_channel(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	/* combo fails only on the channel; by-unit is the next that holds. */
	assert_string_equal(
	        policy_of(r, CH_PATROL, SEV_HIGH, "urban", "x/s/c/g1", "{\"source\": \"hotline\"}"),
	        "by-unit");
	assert_string_equal(policy_of(r, CH_ALERT, SEV_CRITICAL, "safety", "x/s/c", NULL),
	                    "by-channel");
	assert_string_equal(policy_of(r, CH_SCHEDULED, SEV_LOW, "urban", "x/u", NULL),
	                    "by-channel");
}

static void test_match_severity(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_NORMAL, "urban", "x/s/c/g1",
	                              "{\"source\": \"hotline\"}"),
	                    "by-unit");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_CRITICAL, "safety", "x/u", NULL),
	                    "by-severity");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_HIGH, "safety", "x/u", NULL),
	                    "by-category");
}

static void test_match_category(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_HIGH, "other", "x/s/c/g1",
	                              "{\"source\": \"hotline\"}"),
	                    "by-unit");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "legal", "x/u", NULL), "by-category");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "safety", "x/u/a", NULL),
	                    "by-category");
}

static void test_match_unit_prefix(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	/* Off x/s, combo fails; x/t is in by-unit-list. */
	assert_string_equal(
	        policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/t/g1", "{\"source\": \"hotline\"}"),
	        "by-unit-list");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/s/c", NULL), "by-unit");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/s/c/g/h", NULL),
	                    "by-unit");
	/* "x/s/c" does not cover "x/s/cc". */
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/s/cc/g1", NULL),
	                    "by-unit-list");
	/* Nor does "x/t" cover "x/tt" (configured or not). */
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/tt", NULL), "(none)");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/s", NULL), "(none)");
}

static void test_match_attrs(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;

	/* combo fails on attrs; by-unit does not cover x/s/cc; by-attrs holds. */
	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/s/cc/g1",
	                              "{\"source\": \"camera\", \"kind\": \"pothole\"}"),
	                    "by-attrs");
	/* Every attr key must hold. */
	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/s/cc/g1",
	                              "{\"source\": \"camera\"}"),
	                    "by-unit-list");
	/* No attrs at all. */
	assert_string_equal(policy_of(r, CH_FEEDBACK, SEV_HIGH, "urban", "x/s/cc/g1", NULL),
	                    "by-unit-list");
	/* Exact string equality. */
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/u",
	                              "{\"source\": \"Camera\", \"kind\": \"pothole\"}"),
	                    "(none)");
	assert_string_equal(policy_of(r, CH_PATROL, SEV_LOW, "urban", "x/u",
	                              "{\"source\": \"camera\", \"kind\": \"pothole\"}"),
	                    "by-attrs");
}

static void test_no_policy(void **state)
{
	struct rules *r = ((struct fixture *)*state)->match;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/u/g7", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), -1);
	assert_int_equal(rj.reason, REASON_NO_POLICY);
	assert_string_equal(rj.msg, "no policy matches (channel patrol, category urban, unit "
	                            "x/u/g7, severity normal)");
	rminc(&inc);
}

/* 1,000 policies, each on its own prefix: the buckets find the right one. */
static void test_match_many(void **state)
{
	struct buf b;
	struct diags d;
	struct rules *r;
	struct incident inc;
	int cat;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "version: 1\n"
	             "levels: [{key: district, name: D, unit: district, role: duty}]\n"
	             "categories: [{key: urban, name: U}, {key: other, name: O}]\n"
	             "people: {p1: {name: P, notify: [\"sms:1\"]}}\n"
	             "units:\n"
	             "  - {id: x, kind: district, name: X, roles: {duty: {default: [p1]}}}\n"
	             "policies:\n");
	for (int i = 0; i < 1000; i++)
		buf_printf(&b,
		           "  - {name: p%d, match: {unit: x/u%d, category: [%s]}, "
		           "start_level: district, ack_within: 1m, resolve_within: 1h}\n",
		           i, i % 500, i < 500 ? "other" : "urban");
	buf_puts(&b, "  - {name: last, match: {}, start_level: district, ack_within: 1m, "
	             "resolve_within: 1h}\n");
	diags_init(&d, "many.yaml");
	r = rules_load_buf("many.yaml", b.data, b.len, &d);
	if (r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	buf_free(&b);
	assert_non_null(r);

	cat = rules_category(r, "urban");
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/u123/g4", NULL);
	for (int k = 0; k < 10000; k++)
		assert_int_equal(route_match(r, &inc, cat), 623);
	rminc(&inc);
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/v/g4", NULL);
	assert_string_equal(r->policies[route_match(r, &inc, cat)].name, "last");
	rminc(&inc);
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "other", "x/u7", NULL);
	assert_int_equal(route_match(r, &inc, rules_category(r, "other")), 7);
	rminc(&inc);
	rules_free(r);
}

/* ---- chains, vacancies, overrides, co-assignees ---- */

static void test_chain_default(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	chain_for(r, "x/s/c/g1", "urban", "default", &c);
	assert_int_equal(c.nlevels, 5);
	assert_string_equal(names(r, &c.levels[0].assignees), "ly");
	assert_string_equal(names(r, &c.levels[1].assignees), "cj");
	assert_string_equal(names(r, &c.levels[2].assignees), "zq");
	assert_string_equal(names(r, &c.levels[3].assignees), "soffice");
	assert_string_equal(names(r, &c.levels[4].assignees), "cc");
	for (int l = 0; l < 5; l++)
		assert_false(c.levels[l].vacant);
	assert_string_equal(uid(r, c.levels[1].unit), "x/s/c/g1");
	assert_string_equal(uid(r, c.levels[2].unit), "x/s/c");
	assert_string_equal(uid(r, c.levels[4].unit), "x");
	assert_int_equal(route_first(&c, 0), 0);
	assert_int_equal(route_next(&c, 0), 1);
	assert_int_equal(route_next(&c, 4), -1);
}

static void test_chain_override(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	chain_for(r, "x/s/c/g1", "legal", NULL, &c);
	assert_string_equal(names(r, &c.levels[1].assignees), "lg");
	assert_string_equal(names(r, &c.levels[2].assignees), "xinyi");
	assert_string_equal(names(r, &c.levels[0].assignees), "ly"); /* no override: default */
	assert_int_equal(c.nco, 0);
}

static void test_vacant_role_missing(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	/* g2 has no leader role at all. */
	chain_for(r, "x/s/c/g2", "urban", NULL, &c);
	assert_false(c.levels[0].vacant);
	assert_true(c.levels[1].vacant);
	assert_int_equal(c.levels[1].assignees.n, 0);
	assert_string_equal(uid(r, c.levels[1].unit), "x/s/c/g2");
	assert_int_equal(route_next(&c, 0), 2);

	/* g9's leader role has only a legal list and no default. */
	chain_for(r, "x/s/g9", "urban", NULL, &c);
	assert_true(c.levels[1].vacant);
	chain_for(r, "x/s/g9", "legal", NULL, &c);
	assert_string_equal(names(r, &c.levels[1].assignees), "lg");
}

static void test_vacant_kind_absent(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	/* No community between x/s/g9 and the root. */
	chain_for(r, "x/s/g9", "urban", NULL, &c);
	assert_true(c.levels[2].vacant);
	assert_int_equal(c.levels[2].unit, -1);
	assert_string_equal(names(r, &c.levels[3].assignees), "soffice");
	assert_int_equal(route_next(&c, 0), 3);

	/* A community resolved unit has no grid below it: member and leader vacant. */
	chain_for(r, "x/s/c", "urban", NULL, &c);
	assert_true(c.levels[0].vacant);
	assert_true(c.levels[1].vacant);
	assert_int_equal(route_first(&c, 0), 2);
}

static void test_vacant_explicit_empty(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	chain_for(r, "x/s/c/g1", "safety", NULL, &c);
	assert_true(c.levels[2].vacant);
	assert_string_equal(uid(r, c.levels[2].unit), "x/s/c");
	assert_false(c.levels[3].vacant);
	assert_int_equal(route_next(&c, 1), 3);
}

static void test_co_assign(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct route_chain c;

	/* Nearest unit with the role: x/s/c's property, x/s's security. */
	chain_for(r, "x/s/c/g1", "legal", "timed", &c);
	assert_int_equal(c.nco, 2);
	assert_string_equal(names(r, &c.co[0]), "wuye");
	assert_string_equal(names(r, &c.co[1]), "guard");

	/* From x/s/g9 the nearest property is the district's. */
	chain_for(r, "x/s/g9", "urban", "default", &c);
	assert_int_equal(c.nco, 1);
	assert_string_equal(names(r, &c.co[0]), "wuye-d");

	/* x/s/c has property but gives nobody for safety: skipped, not looked up further. */
	chain_for(r, "x/s/c/g1", "safety", "default", &c);
	assert_int_equal(c.nco, 0);

	/* y has no property role anywhere on its path. */
	chain_for(r, "y", "urban", "default", &c);
	assert_int_equal(c.nco, 0);
}

static void test_no_assignee(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	mkinc(&inc, CH_PATROL, SEV_NORMAL, "safety", "y/a/b", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), -1);
	assert_int_equal(rj.reason, REASON_NO_ASSIGNEE);
	assert_string_equal(rj.msg, "nobody is on duty at any level from \"district\" up for unit "
	                            "\"y\" and category \"safety\"");
	rminc(&inc);

	/* Same unit, another category: the district is on duty. */
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "y/a/b", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), 0);
	assert_string_equal(r->policies[rr.policy].name, "y-top");
	assert_int_equal(rr.level, 4);
	rminc(&inc);
}

static void test_first_level_skips_vacant(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	mkinc(&inc, CH_PATROL, SEV_NORMAL, "urban", "x/s/c", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), 0);
	assert_int_equal(rr.level, 2);
	rminc(&inc);
}

static void test_unknown_category(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	/* The category is checked before the unit (SPEC §8 order). */
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "xyz", "nowhere", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), -1);
	assert_int_equal(rj.reason, REASON_UNKNOWN_CATEGORY);
	assert_string_equal(rj.msg, "unknown category \"xyz\"");
	rminc(&inc);
}

/* ---- durations and deadlines ---- */

static void test_durations(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	const struct rules_policy *p = policy_named(r, "timed"); /* start leader */

	/* Below start: entry 0. */
	assert_int_equal(route_ack_within(r, p, 0)->d.ms, 5 * MIN);
	assert_int_equal(route_resolve_within(r, p, 0)->d.ms, 1 * HOUR);
	assert_int_equal(route_ack_within(r, p, 1)->d.ms, 5 * MIN);
	assert_int_equal(route_resolve_within(r, p, 1)->d.ms, 1 * HOUR);
	assert_int_equal(route_ack_within(r, p, 2)->d.ms, 10 * MIN);
	assert_int_equal(route_resolve_within(r, p, 2)->d.ms, 2 * HOUR);
	/* A short list repeats its last entry. */
	assert_int_equal(route_ack_within(r, p, 3)->d.ms, 10 * MIN);
	assert_int_equal(route_resolve_within(r, p, 3)->d.ms, 4 * HOUR);
	assert_int_equal(route_ack_within(r, p, 4)->d.ms, 10 * MIN);
	assert_int_equal(route_resolve_within(r, p, 4)->d.ms, 4 * HOUR);

	p = policy_named(r, "default");
	for (int l = 0; l < 5; l++) {
		assert_int_equal(route_ack_within(r, p, l)->d.ms, 30 * MIN);
		assert_int_equal(route_resolve_within(r, p, l)->d.ms, 24 * HOUR);
	}
}

static void test_deadlines(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	const struct rules_policy *p = policy_named(r, "timed");
	int64_t t = 1700000000000LL, ack, res;

	route_deadlines(r, p, 2, t, TIME_NONE, &ack, &res);
	assert_int_equal(ack, t + 10 * MIN);
	assert_int_equal(res, t + 2 * HOUR);
	/* due_at caps the resolve deadline, not the ack one. */
	route_deadlines(r, p, 1, t, t + 30 * MIN, &ack, &res);
	assert_int_equal(ack, t + 5 * MIN);
	assert_int_equal(res, t + 30 * MIN);
	/* A later due_at changes nothing. */
	route_deadlines(r, p, 1, t, t + 5 * HOUR, &ack, &res);
	assert_int_equal(res, t + 1 * HOUR);
}

static void test_states(void **state)
{
	enum inc_state s;

	(void)state;
	assert_string_equal(inc_state_name(STATE_OPEN), "open");
	assert_string_equal(inc_state_name(STATE_ACKED), "acked");
	assert_string_equal(inc_state_name(STATE_RESOLVED), "resolved");
	assert_string_equal(inc_state_name(STATE_VERIFYING), "verifying");
	assert_string_equal(inc_state_name(STATE_RETURNED), "returned");
	assert_string_equal(inc_state_name(STATE_PARKED), "parked");
	assert_string_equal(inc_state_name(STATE_CANCELLED), "cancelled");
	assert_string_equal(inc_state_name(STATE__COUNT), "");
	for (int i = 0; i < STATE__COUNT; i++) {
		assert_int_equal(inc_state_parse(inc_state_name((enum inc_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(inc_state_parse("acked", &s), 0);
	assert_int_equal(s, STATE_ACKED);
	assert_int_equal(inc_state_parse("resolved", &s), 0);
	assert_int_equal(s, STATE_RESOLVED);
	assert_int_equal(inc_state_parse("closed", &s), -1);
}

/* ---- commands ---- */

static void test_command_check(void **state)
{
	struct rules *r = ((struct fixture *)*state)->basic;
	struct command cmd = {.op = OP_REASSIGN, .incident = "i1", .by = "cj", .level = "leaderr"};
	struct rejection rj = {0};

	assert_int_equal(route_command_check(r, &cmd, &rj), -1);
	assert_int_equal(rj.reason, REASON_INVALID_FIELD);
	assert_string_equal(rj.msg, "field \"level\": unknown level \"leaderr\"");
	cmd.level = "street";
	assert_int_equal(route_command_check(r, &cmd, &rj), 0);
	cmd.op = OP_ACK;
	cmd.level = NULL;
	assert_int_equal(route_command_check(r, &cmd, &rj), 0);
	/* a for: clock time here; working time needs a calendar, which basic has not */
	cmd.op = OP_EXTEND;
	cmd.for_text = "2h";
	assert_int_equal(route_command_check(r, &cmd, &rj), 0);
	assert_int_equal(cmd.for_dur.ms, 2 * HOUR);
	assert_false(cmd.for_dur.working);
	cmd.for_text = "2wd";
	assert_int_equal(route_command_check(r, &cmd, &rj), -1);
	assert_int_equal(rj.reason, REASON_INVALID_FIELD);
	assert_non_null(strstr(rj.msg, "no calendar"));
	cmd.for_text = "soon";
	assert_int_equal(route_command_check(r, &cmd, &rj), -1);
	assert_int_equal(rj.reason, REASON_INVALID_FIELD);
	cmd.for_text = "0h";
	assert_int_equal(route_command_check(r, &cmd, &rj), -1);
}

/* ---- the routing tables against the rules model ---- */

/* The people a unit has for a role and category, walking the model as SPEC §3 says. */
static struct rules_plist model_people(const struct rules *r, int u, int role, int cat)
{
	struct rules_plist pl = {NULL, 0};

	if (u >= 0 && role >= 0 && !rules_unit_people(r, u, role, cat, &pl))
		pl.n = 0;
	return pl;
}

/* co_assign: the nearest unit up having the role at all, then its people. */
static struct rules_plist model_co(const struct rules *r, int u, int role, int cat)
{
	struct rules_plist none = {NULL, 0};

	for (; u >= 0; u = r->units[u].parent) {
		for (size_t k = 0; k < r->units[u].nroles; k++) {
			if (r->units[u].roles[k].role == role)
				return model_people(r, u, role, cat);
		}
	}
	return none;
}

static bool same_people(const struct rules_plist *a, const struct rules_plist *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof(int)) == 0);
}

/*
 * Every unit and category: the chain from the tables is the chain from the
 * model, with a policy co-assigning every role (also roles no policy of
 * the file co-assigns, which the tables do not hold).
 */
static void check_tables(const struct rules *r)
{
	struct rules_policy all;
	int roles[ROUTE_MAX_CO];

	memset(&all, 0, sizeof(all));
	for (size_t i = 0; i < r->nroles && i < ROUTE_MAX_CO; i++)
		roles[all.nco++] = (int)i;
	all.co_roles = roles;
	for (size_t u = 0; u < r->nunits; u++) {
		for (size_t c = 0; c < r->ncategories; c++) {
			struct route_chain ch;
			size_t nco = 0;

			route_chain(r, (int)u, (int)c, &all, T0, &ch);
			assert_int_equal(ch.nlevels, r->nlevels);
			for (size_t l = 0; l < r->nlevels; l++) {
				const struct rules_level *lv = &r->levels[l];
				int at = rules_nearest_kind(r, (int)u, lv->kind);
				struct rules_plist pl = model_people(r, at, lv->role_idx, (int)c);
				assert_int_equal(ch.levels[l].unit, at);
				assert_true(same_people(&ch.levels[l].assignees, &pl));
				assert_int_equal(ch.levels[l].vacant, pl.n == 0);
				assert_int_equal(route_vacant(r, (int)u, (int)l, (int)c, NULL),
				                 pl.n == 0);
				if (r->ncategories <= 64)
					assert_int_equal(
					        route_vacant_cats(r, (int)u, (int)l, NULL) >> c & 1,
					        pl.n == 0);
			}
			for (size_t k = 0; k < all.nco; k++) {
				struct rules_plist pl = model_co(r, (int)u, roles[k], (int)c);
				struct rules_plist one = route_co(r, (int)u, roles[k], (int)c, T0);
				assert_true(same_people(&one, &pl));
				if (pl.n == 0)
					continue;
				assert_true(nco < ch.nco);
				assert_true(same_people(&ch.co[nco], &pl));
				nco++;
			}
			assert_int_equal(ch.nco, nco);
		}
	}
}

static void test_tables_match_model(void **state)
{
	struct fixture *f = *state;
	struct rules *feat = load("tests/unit/data/rules_features.yaml");

	check_tables(f->basic);
	check_tables(f->match);
	assert_non_null(feat);
	check_tables(feat);
	rules_free(feat);
}

/* A reported unit deeper than any unit id can be is still resolved and matched. */
static void test_unit_very_deep(void **state)
{
	struct fixture *f = *state;
	const char *deep = "x/s/c/g1/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p";
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};
	bool fb = false;

	assert_string_equal(uid(f->basic, unit_of(f->basic, deep, &fb)), "x/s/c/g1");
	assert_true(fb);
	mkinc(&inc, CH_PATROL, SEV_NORMAL, "legal", deep, NULL);
	assert_int_equal(route_incident(f->basic, &inc, T0, &rr, &rj), 0);
	assert_true(rr.fallback);
	assert_string_equal(uid(f->basic, rr.unit), "x/s/c/g1");
	assert_string_equal(f->basic->policies[rr.policy].name, "timed");
	assert_string_equal(names(f->basic, &rr.chain.levels[1].assignees), "lg");
	rminc(&inc);
	assert_string_equal(policy_of(f->match, CH_PATROL, SEV_LOW, "urban",
	                              "x/s/c/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", NULL),
	                    "by-unit");
}

/* More categories than a 64-bit set holds: matching walks the policies' lists. */
static void test_many_categories(void **state)
{
	struct buf b;
	struct diags d;
	struct rules *r;
	struct incident inc;
	struct route_result rr;
	struct rejection rj = {0};

	(void)state;
	buf_init(&b);
	buf_puts(&b, "version: 1\n"
	             "levels: [{key: district, name: D, unit: district, role: duty}]\n"
	             "categories:\n");
	for (int i = 0; i < 70; i++)
		buf_printf(&b, "  - {key: c%d, name: C%d}\n", i, i);
	buf_puts(&b, "people: {p1: {name: P}, p2: {name: Q}}\n"
	             "units:\n"
	             "  - {id: x, kind: district, name: X, roles: {duty: {default: [p1], c69: "
	             "[p2]}}}\n"
	             "policies:\n"
	             "  - {name: late, match: {category: [c3, c69]}, ack_within: 1m, "
	             "resolve_within: 1h}\n"
	             "  - {name: rest, match: {}, ack_within: 1m, resolve_within: 1h}\n");
	diags_init(&d, "cats.yaml");
	r = rules_load_buf("cats.yaml", b.data, b.len, &d);
	if (r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	buf_free(&b);
	assert_non_null(r);

	mkinc(&inc, CH_ALERT, SEV_HIGH, "c69", "x/y", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), 0);
	assert_string_equal(r->policies[rr.policy].name, "late");
	assert_string_equal(names(r, &rr.chain.levels[0].assignees), "p2");
	rminc(&inc);
	mkinc(&inc, CH_ALERT, SEV_HIGH, "c64", "x", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), 0);
	assert_string_equal(r->policies[rr.policy].name, "rest");
	assert_string_equal(names(r, &rr.chain.levels[0].assignees), "p1");
	rminc(&inc);
	mkinc(&inc, CH_ALERT, SEV_HIGH, "c70", "x", NULL);
	assert_int_equal(route_incident(r, &inc, T0, &rr, &rj), -1);
	assert_int_equal(rj.reason, REASON_UNKNOWN_CATEGORY);
	rminc(&inc);
	check_tables(r);
	rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unit_exact),
	        cmocka_unit_test(test_unit_fallback),
	        cmocka_unit_test(test_unit_unknown),
	        cmocka_unit_test(test_route_fallback_flag),
	        cmocka_unit_test(test_match_combo),
	        cmocka_unit_test(test_match_channel),
	        cmocka_unit_test(test_match_severity),
	        cmocka_unit_test(test_match_category),
	        cmocka_unit_test(test_match_unit_prefix),
	        cmocka_unit_test(test_match_attrs),
	        cmocka_unit_test(test_no_policy),
	        cmocka_unit_test(test_match_many),
	        cmocka_unit_test(test_chain_default),
	        cmocka_unit_test(test_chain_override),
	        cmocka_unit_test(test_vacant_role_missing),
	        cmocka_unit_test(test_vacant_kind_absent),
	        cmocka_unit_test(test_vacant_explicit_empty),
	        cmocka_unit_test(test_co_assign),
	        cmocka_unit_test(test_no_assignee),
	        cmocka_unit_test(test_first_level_skips_vacant),
	        cmocka_unit_test(test_unknown_category),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_deadlines),
	        cmocka_unit_test(test_states),
	        cmocka_unit_test(test_command_check),
	        cmocka_unit_test(test_tables_match_model),
	        cmocka_unit_test(test_unit_very_deep),
	        cmocka_unit_test(test_many_categories),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
