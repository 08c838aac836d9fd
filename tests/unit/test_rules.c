/*
 * test_rules.c: loading and validating the rules file (SPEC §3). Every
 * class of mistake is checked for its exact diagnostic line, as the admin
 * sees it: "rules.yaml:LINE:COL: error|warning: message (path)"; valid
 * files are checked for what the model holds and for the lookups.
 *
 * Small cases are inline. The section under test comes first, so that
 * its lines are numbered from 1; the rest of a valid file follows (the
 * loader reads sections in dependency order, whatever their order).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rules.h"
#include "testutil.h"

#define NAME     "rules.yaml"
#define ERRORS   "tests/unit/data/rules_errors.yaml"
#define FEATURES "tests/unit/data/rules_features.yaml"
#define SAMPLE   "conf/rules.yaml"

/* The forms the loader quotes when an identifier is invalid. */
#define KEY_FORM  "[a-z][a-z0-9_]{0,63}"
#define UNIT_FORM "'/'-joined segments of [a-z0-9][a-z0-9_-]{0,63}, at most 16"
#define PERS_FORM "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
#define DUR_FORM  "expected a number and a unit (ms, s, m, h, d), e.g. 500ms, 90s or 1h30m"

/* A small valid file, section by section: no error and no warning. */
#define VERSION "version: 1\n"
#define LEVELS                                                                                     \
	"levels:\n"                                                                                \
	"  - {key: member, name: Member, unit: grid, role: member}\n"                              \
	"  - {key: leader, name: Leader, unit: community, role: duty}\n"
#define CATEGORIES                                                                                 \
	"categories:\n"                                                                            \
	"  - {key: roads, name: Roads}\n"                                                          \
	"  - {key: noise, name: Noise}\n"
#define PEOPLE                                                                                     \
	"people:\n"                                                                                \
	"  ann: {name: Ann}\n"                                                                     \
	"  bob: {name: Bob}\n"                                                                     \
	"  boss: {name: Boss, admin: true}\n"
#define UNITS                                                                                      \
	"units:\n"                                                                                 \
	"  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"                 \
	"  - {id: c/g1, kind: grid, name: G1, roles: {member: {default: [ann]}}}\n"
#define POLICIES                                                                                   \
	"policies:\n"                                                                              \
	"  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n"

#define MIN  60000LL
#define HOUR 3600000LL

/*
 * Load buf[0..len) and compare the diagnostics with expected, whole. The
 * rules must come back exactly when no error is expected. Everything is
 * freed before a failure is reported, so that a failing test does not
 * also show up as a leak in the sanitizer build.
 */
static void check_len(const char *buf, size_t len, const char *expected)
{
	struct diags d;
	struct rules *r;
	char *got;
	bool want_rules = strstr(expected, ": error: ") == NULL, ok;

	diags_init(&d, NAME);
	r = rules_load_buf(NAME, buf, len, &d);
	got = format_all(&d);
	ok = strcmp(got, expected) == 0;
	if (!ok)
		print_error("diagnostics differ\n--- got:\n%s--- expected:\n%s", got, expected);
	if ((r != NULL) != want_rules || (d.nerrors == 0) != want_rules) {
		print_error("rules_load_buf returned %s with %zu errors\n",
		            r != NULL ? "rules" : "NULL", d.nerrors);
		ok = false;
	}
	free(got);
	rules_free(r);
	diags_free(&d);
	if (!ok)
		fail();
}

static void check(const char *yaml, const char *expected)
{
	check_len(yaml, strlen(yaml), expected);
}

/* Load a valid buffer, failing on any diagnostic. Caller frees. */
static struct rules *load_clean(const char *yaml)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, NAME);
	r = rules_load_buf(NAME, yaml, strlen(yaml), &d);
	if (d.n > 0 || r == NULL) {
		diags_print(&d, stderr);
		rules_free(r);
		diags_free(&d);
		fail_msg("expected a clean load");
	}
	diags_free(&d);
	return r;
}

/* ---- the document ---- */

static void test_base_is_clean(void **state)
{
	(void)state;
	rules_free(load_clean(VERSION LEVELS CATEGORIES PEOPLE UNITS POLICIES));
}

/* The admins (admin: true) in file order, as the lifecycle's last resort reads them. */
static void test_admins(void **state)
{
	struct rules *r = load_clean(VERSION LEVELS CATEGORIES
	                             "people:\n"
	                             "  zoe: {name: Zoe, admin: true}\n"
	                             "  ann: {name: Ann}\n"
	                             "  bob: {name: Bob}\n"
	                             "  boss: {name: Boss, admin: true}\n" UNITS POLICIES);

	(void)state;
	assert_int_equal(r->admins.n, 2);
	assert_string_equal(r->people[r->admins.ids[0]].id, "zoe");
	assert_string_equal(r->people[r->admins.ids[1]].id, "boss");
	rules_free(r);
}

static void test_yaml_syntax_error(void **state)
{
	(void)state;
	check("version: 1\nlevels: [member, leader\n",
	      "rules.yaml:3:1: error: invalid YAML: did not find expected ',' or ']' while "
	      "parsing a flow sequence\n");
	check("version: 1\nlevels: a: b\n",
	      "rules.yaml:2:10: error: invalid YAML: mapping values are not allowed in this "
	      "context\n");
	check("version: 1\nlevels:\n\t- member\n",
	      "rules.yaml:3:1: error: invalid YAML: found character that cannot start any token "
	      "while scanning for the next token\n");
}

/*
 * libyaml's reader errors (bad UTF-8, control characters) carry a byte
 * offset, not a mark: the line and column must still be those of the byte.
 */
static void test_yaml_reader_error_position(void **state)
{
	static const char bad_utf8[] =
	        "version: 1\n"
	        "levels:\n"
	        "  - {key: member, name: \"\xff\", unit: grid, role: member}\n";
	static const char nul[] = "version: 1\nlevels: [a\0b]\n";

	(void)state;
	check_len(bad_utf8, sizeof(bad_utf8) - 1,
	          "rules.yaml:3:26: error: invalid YAML: invalid leading UTF-8 octet\n");
	check_len(nul, sizeof(nul) - 1,
	          "rules.yaml:2:11: error: invalid YAML: control characters are not allowed\n");
}

static void test_empty_file(void **state)
{
	(void)state;
	check("", "rules.yaml:1:1: error: the file is empty: expected a mapping\n");
	check("# nothing but a comment\n\n",
	      "rules.yaml:1:1: error: the file is empty: expected a mapping\n");
}

static void test_second_document(void **state)
{
	(void)state;
	check(VERSION LEVELS CATEGORIES PEOPLE UNITS POLICIES "---\nversion: 1\n",
	      "rules.yaml:18:1: error: a second YAML document: the file must hold one\n");
}

/* A second document's syntax error is reported as libyaml's loader words it: no context. */
static void test_second_document_invalid(void **state)
{
	(void)state;
	check("version: 1\n---\n[a, b\n",
	      "rules.yaml:4:1: error: invalid YAML: did not find expected ',' or ']'\n");
	check("version: 1\n--- *x\n",
	      "rules.yaml:2:5: error: invalid YAML: found undefined alias\n");
}

/*
 * Anchors and aliases as libyaml's document loader takes them, but for
 * where an alias is: a node of its own, so that a diagnostic about it
 * points at its use, not at the anchor. An anchor defined twice, an alias
 * to no anchor, and (v2) an alias inside the node it names are errors.
 */
static void test_yaml_anchors(void **state)
{
	(void)state;
	check("levels:\n"
	      "  - &l {key: member, name: Member, unit: grid, role: member}\n"
	      "  - &l {key: leader, name: Leader, unit: community, role: duty}\n" VERSION CATEGORIES
	              PEOPLE UNITS POLICIES,
	      "rules.yaml:3:5: error: invalid YAML: second occurrence found duplicate anchor; "
	      "first occurrence\n");
	check("levels:\n"
	      "  - {key: member, name: Member, unit: grid, role: member}\n"
	      "  - {key: leader, name: Leader, unit: community, role: *duty}\n" VERSION CATEGORIES
	              PEOPLE UNITS POLICIES,
	      "rules.yaml:3:56: error: invalid YAML: found undefined alias\n");
	/* a list that holds itself */
	check("levels: &lv [*lv]\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:14: error: invalid YAML: found an alias inside the node it refers "
	      "to\n");
	check("levels: &lv [{key: a, name: b, unit: {x: [*lv]}, role: r}]\n" VERSION CATEGORIES
	              PEOPLE UNITS POLICIES,
	      "rules.yaml:1:43: error: invalid YAML: found an alias inside the node it refers "
	      "to\n");
	/* an error about an aliased value names the alias, not the anchor */
	check("levels:\n"
	      "  - {key: member, name: Member, unit: grid, role: &r member}\n"
	      "  - {key: leader, name: Leader, unit: *r, role: duty}\n" VERSION CATEGORIES PEOPLE
	              UNITS POLICIES,
	      "rules.yaml:3:39: error: unknown unit kind \"member\": no unit is of this kind "
	      "(levels[1].unit)\n");
	check("levels:\n"
	      "  - &m {key: member, name: Member, unit: grid, role: member}\n"
	      "  - *m\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:3:5: error: duplicate level \"member\" (levels[1].key)\n");
	check("levels:\n"
	      "  - {key: member, name: &n Member, unit: grid, role: member}\n"
	      "  - {key: leader, name: *n, unit: community, role: duty}\n" VERSION CATEGORIES PEOPLE
	              UNITS POLICIES,
	      "");
}

/* SPEC v2 §3: no YAML tags, of any kind, on any node: each one reported where it is. */
static void test_yaml_tags(void **state)
{
	(void)state;
	check("version: !!int 1\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: YAML tags are not allowed (\"!!int\"): write the value "
	      "alone\n");
	check(VERSION LEVELS CATEGORIES PEOPLE UNITS "policies:\n"
	                                             "  - name: !!python/object:os.system [echo]\n"
	                                             "    match: !foo {}\n"
	                                             "    ack_within: !!str 5m\n"
	                                             "    resolve_within: ! 1h\n"
	                                             "    !!str start_level: member\n",
	      "rules.yaml:16:11: error: YAML tags are not allowed (\"!!python/object:os.system\"): "
	      "write the value alone\n"
	      "rules.yaml:17:12: error: YAML tags are not allowed (\"!foo\"): write the value "
	      "alone\n"
	      "rules.yaml:18:17: error: YAML tags are not allowed (\"!!str\"): write the value "
	      "alone\n"
	      "rules.yaml:19:21: error: YAML tags are not allowed (\"!\"): write the value alone\n"
	      "rules.yaml:20:5: error: YAML tags are not allowed (\"!!str\"): write the value "
	      "alone\n");
	/* with a %TAG directive too */
	check("%TAG !e! tag:example.com,2026:\n---\nversion: !e!one 1\n",
	      "rules.yaml:3:10: error: YAML tags are not allowed (\"tag:example.com,2026:one\"): "
	      "write the value alone\n");
}

/* A diagnostic is one line, whatever the text it quotes holds. */
static void test_diagnostic_one_line(void **state)
{
	(void)state;
	check("\"a\\r\\nb\": 1\n" VERSION LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:1: error: unknown key \"a\\r\\nb\" (a\\r\\nb)\n");
	check(VERSION LEVELS CATEGORIES PEOPLE UNITS
	      "policies:\n"
	      "  - {name: all, match: {}, ack_within: \"5\\x1b[31m\\u2028\\x85\\t\", "
	      "resolve_within: 1h}\n",
	      "rules.yaml:16:40: error: invalid duration \"5\\x1b[31m\\u2028\\u0085\\t\": " DUR_FORM
	      " (policies[0].ack_within)\n");
}

/* A timer for the tests below, whose old failure was to take minutes or forever. */
static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SPEC v2 §3: nesting stops at 100, on libyaml's path too, at once and at the line and column. */
static void test_yaml_too_deep(void **state)
{
	struct buf b;
	double t0;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "version: 1\nlevels: ");
	for (int i = 0; i < 150000; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 150000; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '\n');
	t0 = seconds();
	check_len(b.data, b.len,
	          "rules.yaml:2:108: error: invalid YAML: collections nested more than 100 "
	          "deep\n");
	assert_true(seconds() - t0 < 5.0);
	/* a hundred is fine (the root mapping is one), on either path (the tab: libyaml's) */
	for (int n = 99; n <= 100; n++) {
		for (int tab = 0; tab < 2; tab++) {
			buf_reset(&b);
			buf_puts(&b, tab ? "x:\t" : "x: ");
			for (int i = 0; i < n; i++)
				buf_putc(&b, '[');
			for (int i = 0; i < n; i++)
				buf_putc(&b, ']');
			buf_puts(&b, "\n" VERSION LEVELS CATEGORIES PEOPLE UNITS POLICIES);
			check_len(b.data, b.len,
			          n == 99 ? "rules.yaml:1:1: error: unknown key \"x\" (x)\n"
			                  : "rules.yaml:1:103: error: invalid YAML: collections "
			                    "nested "
			                    "more than 100 deep\n");
		}
	}
	buf_free(&b);
}

/* Nested aliases (a "billion laughs") are refused once they expand past a million nodes. */
static void test_yaml_alias_bomb(void **state)
{
	struct buf b;
	struct diags d;
	double t0;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++) {
		buf_printf(&b, "a%d: &a%d [", i, i);
		for (int k = 0; k < 10; k++)
			buf_printf(&b, "%s*a%d", k > 0 ? ", " : "", i - 1);
		buf_puts(&b, "]\n");
	}
	diags_init(&d, NAME);
	t0 = seconds();
	assert_null(rules_load_buf(NAME, b.data, b.len, &d));
	assert_true(seconds() - t0 < 5.0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 6);
	assert_string_equal(d.v[0].msg,
	                    "invalid YAML: aliases expand the document to too many nodes");
	diags_free(&d);
	buf_free(&b);
}

static void test_root_not_mapping(void **state)
{
	(void)state;
	check("- version: 1\n", "rules.yaml:1:1: error: expected a mapping, got a list\n");
	check("42\n", "rules.yaml:1:1: error: expected a mapping, got a scalar\n");
	check("~\n", "rules.yaml:1:1: error: expected a mapping, got null\n");
}

/* ---- the top level ---- */

static void test_top_unknown_and_duplicate_key(void **state)
{
	(void)state;
	check("versoin: 1\n" VERSION LEVELS CATEGORIES PEOPLE UNITS POLICIES "levels: []\n",
	      "rules.yaml:1:1: error: unknown key \"versoin\" (versoin)\n"
	      "rules.yaml:18:1: error: duplicate key \"levels\" (levels)\n");
}

static void test_top_missing_keys(void **state)
{
	(void)state;
	check("{}\n", "rules.yaml:1:1: error: missing key \"version\"\n"
	              "rules.yaml:1:1: error: missing key \"levels\"\n"
	              "rules.yaml:1:1: error: missing key \"categories\"\n"
	              "rules.yaml:1:1: error: missing key \"people\"\n"
	              "rules.yaml:1:1: error: missing key \"units\"\n"
	              "rules.yaml:1:1: error: missing key \"policies\"\n");
	check(LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:1: error: missing key \"version\"\n");
	check(VERSION LEVELS PEOPLE UNITS POLICIES,
	      "rules.yaml:1:1: error: missing key \"categories\"\n");
	check(VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:1:1: error: missing key \"policies\"\n");
}

static void test_version(void **state)
{
	(void)state;
	check("version: 2\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: unsupported version 2: this gridroute reads version 1 "
	      "(version)\n");
	check("version: 0\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: unsupported version 0: this gridroute reads version 1 "
	      "(version)\n");
	check("version: one\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: expected an integer from 0 to 2147483647, got \"one\" "
	      "(version)\n");
	check("version: 1.0\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: expected an integer from 0 to 2147483647, got \"1.0\" "
	      "(version)\n");
	check("version: [1]\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:10: error: expected an integer, got a list (version)\n");
	check("version:\n" LEVELS CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:9: error: expected an integer, got null (version)\n");
}

/* ---- levels ---- */

static void test_level_fields(void **state)
{
	(void)state;
	check("levels:\n"
	      "  - {key: member, name: Member, unit: grid, role: member, colour: red}\n"
	      "  - {key: leader, name: Leader, unit: community, role: duty, key: boss}\n"
	      "  - {}\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:2:59: error: unknown key \"colour\" (levels[0].colour)\n"
	      "rules.yaml:3:62: error: duplicate key \"key\" (levels[1].key)\n"
	      "rules.yaml:4:5: error: missing key \"key\" (levels[2])\n"
	      "rules.yaml:4:5: error: missing key \"name\" (levels[2])\n"
	      "rules.yaml:4:5: error: missing key \"unit\" (levels[2])\n"
	      "rules.yaml:4:5: error: missing key \"role\" (levels[2])\n");
	check("levels:\n"
	      "  - member\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:2:5: error: expected a mapping, got a scalar (levels[0])\n");
	check("levels: {member: 1}\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:9: error: expected a list, got a mapping (levels)\n");
}

static void test_level_count(void **state)
{
	struct buf b;

	(void)state;
	check("levels: []\n" VERSION CATEGORIES PEOPLE UNITS POLICIES,
	      "rules.yaml:1:9: error: expected 1 to 9 levels, got 0 (levels)\n");

	/* nine levels are fine, ten are not */
	buf_init(&b);
	buf_puts(&b, "levels:\n");
	for (int i = 1; i <= 9; i++)
		buf_printf(&b, "  - {key: l%d, name: L%d, unit: grid, role: member}\n", i, i);
	buf_puts(&b, VERSION CATEGORIES PEOPLE UNITS POLICIES);
	struct rules *r = load_clean(b.data);
	assert_int_equal(r->nlevels, 9);
	assert_string_equal(r->levels[8].key, "l9");
	rules_free(r);

	buf_reset(&b);
	buf_puts(&b, "levels:\n");
	for (int i = 1; i <= 10; i++)
		buf_printf(&b, "  - {key: l%d, name: L%d, unit: grid, role: member}\n", i, i);
	buf_puts(&b, VERSION CATEGORIES PEOPLE UNITS POLICIES);
	check(b.data, "rules.yaml:2:3: error: expected 1 to 9 levels, got 10 (levels)\n");
	buf_free(&b);
}

static void test_level_identifiers(void **state)
{
	(void)state;
	check("levels:\n"
	      "  - {key: Member, name: Member, unit: grid, role: member}\n"
	      "  - {key: leader, name: Leader, unit: Community, role: duty}\n"
	      "  - {key: third, name: Third, unit: grid, role: on-duty}\n"
	      "  - {key: leader, name: Again, unit: grid, role: member}\n" VERSION CATEGORIES PEOPLE
	              UNITS POLICIES,
	      "rules.yaml:2:11: error: invalid level key \"Member\": expected " KEY_FORM
	      " (levels[0].key)\n"
	      "rules.yaml:3:39: error: invalid unit kind \"Community\": expected " KEY_FORM
	      " (levels[1].unit)\n"
	      "rules.yaml:4:49: error: invalid role \"on-duty\": expected " KEY_FORM
	      " (levels[2].role)\n"
	      "rules.yaml:5:11: error: duplicate level \"leader\" (levels[3].key)\n");
}

static void test_level_types(void **state)
{
	(void)state;
	check("levels:\n"
	      "  - {key: member, name: {text: M}, unit: [grid], role: ~}\n"
	      "  - {key: leader, name: Leader, unit: community, role: duty}\n" VERSION CATEGORIES
	              PEOPLE UNITS POLICIES,
	      "rules.yaml:2:25: error: expected a string, got a mapping (levels[0].name)\n"
	      "rules.yaml:2:42: error: expected a string, got a list (levels[0].unit)\n"
	      "rules.yaml:2:56: error: expected a string, got null (levels[0].role)\n");
}

static void test_level_unknown_unit_kind(void **state)
{
	(void)state;
	check("levels:\n"
	      "  - {key: member, name: Member, unit: grid, role: member}\n"
	      "  - {key: leader, name: Leader, unit: village, role: duty}\n" VERSION CATEGORIES
	              PEOPLE UNITS POLICIES,
	      "rules.yaml:3:39: error: unknown unit kind \"village\": no unit is of this kind "
	      "(levels[1].unit)\n");
}

/* ---- categories ---- */

static void test_categories(void **state)
{
	(void)state;
	check("categories:\n"
	      "  - {key: roads, name: Roads, colour: red}\n"
	      "  - {name: Noise}\n"
	      "  - {key: noise}\n"
	      "  - {key: roads, name: Again}\n"
	      "  - {key: 9lives, name: X}\n"
	      "  - {key: a1234567890123456789012345678901234567890123456789012345678901234, "
	      "name: X}\n"
	      "  - {key: fire, name: [F]}\n" VERSION LEVELS PEOPLE UNITS POLICIES,
	      "rules.yaml:2:31: error: unknown key \"colour\" (categories[0].colour)\n"
	      "rules.yaml:3:5: error: missing key \"key\" (categories[1])\n"
	      "rules.yaml:4:5: error: missing key \"name\" (categories[2])\n"
	      "rules.yaml:5:11: error: duplicate category \"roads\" (categories[3].key)\n"
	      "rules.yaml:6:11: error: invalid category key \"9lives\": expected " KEY_FORM
	      " (categories[4].key)\n"
	      "rules.yaml:7:11: error: invalid category key "
	      "\"a1234567890123456789012345678901234567890123456789012345678901234\": "
	      "expected " KEY_FORM " (categories[5].key)\n"
	      "rules.yaml:8:23: error: expected a string, got a list (categories[6].name)\n");
	check("categories: []\n" VERSION LEVELS PEOPLE UNITS POLICIES,
	      "rules.yaml:1:13: error: expected at least one category (categories)\n");
}

/* ---- people ---- */

static void test_people(void **state)
{
	(void)state;
	check("people:\n"
	      "  ann: {name: Ann, phone: 123}\n"
	      "  bob: {name: Bob}\n"
	      "  boss: {name: Boss, admin: true}\n"
	      "  _bad: {name: X}\n"
	      "  eve: {notify: [\"sms:1\"]}\n"
	      "  fay: {name: Fay, admin: yes}\n"
	      "  gus: {name: Gus, notify: \"sms:1\"}\n"
	      "  hal: {name: Hal, notify: [{sms: 1}]}\n"
	      "  ian: Ian\n"
	      "  bob: {name: Bob}\n"
	      "  jo: {name: Jo, admin: [true]}\n" VERSION LEVELS CATEGORIES UNITS POLICIES,
	      "rules.yaml:2:20: error: unknown key \"phone\" (people.ann.phone)\n"
	      "rules.yaml:5:3: error: invalid person id \"_bad\": expected " PERS_FORM
	      " (people._bad)\n"
	      "rules.yaml:6:8: error: missing key \"name\" (people.eve)\n"
	      "rules.yaml:7:27: error: expected true or false, got \"yes\" (people.fay.admin)\n"
	      "rules.yaml:8:28: error: expected a list, got a scalar (people.gus.notify)\n"
	      "rules.yaml:9:29: error: expected a string, got a mapping (people.hal.notify[0])\n"
	      "rules.yaml:10:8: error: expected a mapping, got a scalar (people.ian)\n"
	      "rules.yaml:11:3: error: duplicate key \"bob\" (people.bob)\n"
	      "rules.yaml:12:25: error: expected true or false, got a list (people.jo.admin)\n");
}

/* A big mapping finds its duplicate keys with a hash table, a small one by comparing. */
static void test_people_many(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "people:\n");
	for (int i = 0; i < 18; i++)
		buf_printf(&b, "  p%02d: {name: P%d}\n", i, i);
	buf_puts(&b,
	         "  p07: {name: again}\n"
	         "  ~: {name: nobody}\n"
	         "  \"a\\0b\": {name: nul}\n"
	         "  ann: {name: Ann}\n"
	         "  bob: {name: Bob}\n"
	         "  boss: {name: Boss, admin: true}\n" VERSION LEVELS CATEGORIES UNITS POLICIES);
	check(b.data, "rules.yaml:20:3: error: duplicate key \"p07\" (people.p07)\n"
	              "rules.yaml:21:3: error: expected a key, got null (people)\n"
	              "rules.yaml:22:3: error: a key must not contain NUL characters (people)\n");
	buf_free(&b);
}

/* ---- units ---- */

static void test_unit_fields(void **state)
{
	(void)state;
	check("units:\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1, roles: {member: {default: [ann]}}, colour: "
	      "red}\n"
	      "  - {kind: grid, name: G2}\n"
	      "  - {id: c/g3, name: G3}\n"
	      "  - {id: c/g4, kind: grid}\n"
	      "  - {id: c/g1, kind: grid, name: Again}\n"
	      "  - {id: c/G5, kind: grid, name: G5}\n"
	      "  - {id: c/g6/, kind: grid, name: G6}\n"
	      "  - {id: c//g7, kind: grid, name: G7}\n"
	      "  - {id: c/g8, kind: Grid, name: G8}\n"
	      "  - {id: x/g9, kind: grid, name: G9}\n"
	      "  - {id: c/g10, kind: grid, name: ~}\n" VERSION LEVELS CATEGORIES PEOPLE POLICIES,
	      "rules.yaml:3:73: error: unknown key \"colour\" (units[1].colour)\n"
	      "rules.yaml:4:5: error: missing key \"id\" (units[2])\n"
	      "rules.yaml:5:5: error: missing key \"kind\" (units[3])\n"
	      "rules.yaml:6:5: error: missing key \"name\" (units[4])\n"
	      "rules.yaml:7:10: error: duplicate unit \"c/g1\" (units[5].id)\n"
	      "rules.yaml:8:10: error: invalid unit id \"c/G5\": expected " UNIT_FORM
	      " (units[6].id)\n"
	      "rules.yaml:9:10: error: invalid unit id \"c/g6/\": expected " UNIT_FORM
	      " (units[7].id)\n"
	      "rules.yaml:10:10: error: invalid unit id \"c//g7\": expected " UNIT_FORM
	      " (units[8].id)\n"
	      "rules.yaml:11:22: error: invalid unit kind \"Grid\": expected " KEY_FORM
	      " (units[9].kind)\n"
	      "rules.yaml:12:10: error: parent unit \"x\" of \"x/g9\" does not exist "
	      "(units[10].id)\n"
	      "rules.yaml:13:35: error: expected a string, got null (units[11].name)\n");
	check("units: []\n" VERSION LEVELS CATEGORIES PEOPLE POLICIES,
	      "rules.yaml:1:8: error: expected at least one unit (units)\n"
	      "rules.yaml:4:39: error: unknown unit kind \"grid\": no unit is of this kind "
	      "(levels[0].unit)\n"
	      "rules.yaml:5:39: error: unknown unit kind \"community\": no unit is of this kind "
	      "(levels[1].unit)\n");
}

/* Unit ids are at most 16 segments deep. */
static void test_unit_depth(void **state)
{
	struct buf b;
	char id[64];

	(void)state;
	check("units:\n"
	      "  - {id: a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q, kind: grid, name: Deep}\n"
	      "  - {id: a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p, kind: grid, name: Deep}\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1, roles: {member: {default: [ann]}}}\n" VERSION
	              LEVELS CATEGORIES PEOPLE POLICIES,
	      "rules.yaml:2:10: error: invalid unit id \"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q\": "
	      "expected " UNIT_FORM " (units[0].id)\n"
	      "rules.yaml:3:10: error: parent unit \"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o\" of "
	      "\"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p\" does not exist (units[1].id)\n");

	/* a whole chain down to depth 16 loads */
	buf_init(&b);
	buf_puts(&b, "units:\n"
	             "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n");
	snprintf(id, sizeof(id), "c");
	for (int depth = 2; depth <= 16; depth++) {
		size_t len = strlen(id);
		snprintf(id + len, sizeof(id) - len, "/%c", 'a' + depth);
		buf_printf(&b,
		           "  - {id: %s, kind: grid, name: G, roles: {member: {default: [ann]}}}\n",
		           id);
	}
	buf_puts(&b, VERSION LEVELS CATEGORIES PEOPLE POLICIES);
	struct rules *r = load_clean(b.data);
	int u = rules_unit(r, id, strlen(id));
	assert_true(u >= 0);
	assert_int_equal(r->units[u].depth, 16);
	assert_int_equal(r->units[u].nchildren, 0);
	assert_int_equal(r->units[r->units[u].parent].depth, 15);
	rules_free(r);
	buf_free(&b);
}

static void test_unit_roles(void **state)
{
	(void)state;
	check("units:\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1, roles: {Member: {default: [ann]}}}\n"
	      "  - {id: c/g2, kind: grid, name: G2, roles: {member: {default: [ann, zed]}}}\n"
	      "  - {id: c/g3, kind: grid, name: G3, roles: {member: {default: [ann], roads: [bob, "
	      "bob]}}}\n"
	      "  - {id: c/g4, kind: grid, name: G4, roles: {member: {default: [ann], fire: "
	      "[bob]}}}\n"
	      "  - {id: c/g5, kind: grid, name: G5, roles: {member: [ann]}}\n"
	      "  - {id: c/g6, kind: grid, name: G6, roles: {member: {default: ann}}}\n"
	      "  - {id: c/g7, kind: grid, name: G7, roles: {member: {default: [ann], default: "
	      "[bob]}}}\n"
	      "  - {id: c/g8, kind: grid, name: G8, roles: [member]}\n"
	      "  - {id: c/g9, kind: grid, name: G9, roles: {member: {default: [ann]}, member: "
	      "{default: [bob]}}}\n" VERSION LEVELS CATEGORIES PEOPLE POLICIES,
	      "rules.yaml:3:46: error: invalid role \"Member\": expected " KEY_FORM
	      " (units[1].roles.Member)\n"
	      "rules.yaml:4:70: error: unknown person \"zed\" (units[2].roles.member.default[1])\n"
	      "rules.yaml:5:84: error: person \"bob\" is listed twice "
	      "(units[3].roles.member.roads[1])\n"
	      "rules.yaml:6:71: error: unknown category \"fire\": expected \"default\" or a "
	      "category key (units[4].roles.member.fire)\n"
	      "rules.yaml:7:54: error: expected a mapping, got a list (units[5].roles.member)\n"
	      "rules.yaml:8:64: error: expected a list, got a scalar "
	      "(units[6].roles.member.default)\n"
	      "rules.yaml:9:71: error: duplicate key \"default\" (units[7].roles.member.default)\n"
	      "rules.yaml:10:45: error: expected a mapping, got a list (units[8].roles)\n"
	      "rules.yaml:11:72: error: duplicate key \"member\" (units[9].roles.member)\n");
}

/* ---- policies ---- */

static void test_policy_fields(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: p0, match: {channel: alert}, ack_within: 5m, resolve_within: 1h, "
	      "colour: red}\n"
	      "  - {match: {channel: patrol}}\n"
	      "  - {name: p0, match: {channel: alert}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - 7\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:77: error: unknown key \"colour\" (policies[0].colour)\n"
	      "rules.yaml:3:5: error: missing key \"name\" (policies[1])\n"
	      "rules.yaml:3:5: error: missing key \"ack_within\" (policies[1])\n"
	      "rules.yaml:3:5: error: missing key \"resolve_within\" (policies[1])\n"
	      "rules.yaml:4:12: error: duplicate policy \"p0\" (policies[2].name)\n"
	      "rules.yaml:5:5: error: expected a mapping, got a scalar (policies[3])\n");
	check("policies: {all: {}}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:1:11: error: expected a list, got a mapping (policies)\n");
}

static void test_policy_match(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: p1, match: {channel: [alert, radio]}, ack_within: 5m, resolve_within: "
	      "1h}\n"
	      "  - {name: p2, match: {severity: urgent}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: p3, match: {category: [roads, fire]}, ack_within: 5m, resolve_within: "
	      "1h}\n"
	      "  - {name: p4, match: {unit: c/G1}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: p5, match: {channel: []}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: p6, match: {channel: alert, owner: ann}, ack_within: 5m, resolve_within: "
	      "1h}\n"
	      "  - {name: p7, match: {attrs: {source: {a: b}}}, ack_within: 5m, resolve_within: "
	      "1h}\n"
	      "  - {name: p8, match: {attrs: [source]}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: p9, match: {severity: [high, ~]}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:41: error: unknown channel \"radio\": expected patrol, feedback, "
	      "scheduled or alert (policies[0].match.channel[1])\n"
	      "rules.yaml:3:34: error: unknown severity \"urgent\": expected low, normal, high or "
	      "critical (policies[1].match.severity)\n"
	      "rules.yaml:4:42: error: unknown category \"fire\" (policies[2].match.category[1])\n"
	      "rules.yaml:5:30: error: invalid unit \"c/G1\": expected " UNIT_FORM
	      " (policies[3].match.unit)\n"
	      "rules.yaml:6:33: error: an empty list matches nothing: leave the key out to match "
	      "any (policies[4].match.channel)\n"
	      "rules.yaml:7:40: error: unknown key \"owner\" (policies[5].match.owner)\n"
	      "rules.yaml:8:40: error: expected a value or a list of values, got a mapping "
	      "(policies[6].match.attrs.source)\n"
	      "rules.yaml:9:31: error: expected a mapping, got a list (policies[7].match.attrs)\n"
	      "rules.yaml:10:41: error: expected a string, got null "
	      "(policies[8].match.severity[1])\n");
}

/*
 * A policy whose match is not a mapping, or holds only unknown keys, is an
 * error and not a catch-all: the policies after it get no "can never
 * match" warning.
 */
static void test_policy_bad_match_is_not_catch_all(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: p1, match: [alert], ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:23: error: expected a mapping, got a list (policies[0].match)\n");
	check("policies:\n"
	      "  - {name: p1, match: {chanel: alert}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:24: error: unknown key \"chanel\" (policies[0].match.chanel)\n");
}

static void test_policy_start_level(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: all, match: {}, start_level: leaderr, ack_within: 5m, resolve_within: "
	      "1h}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:41: error: unknown level \"leaderr\" (policies[0].start_level)\n");
	check("policies:\n"
	      "  - {name: all, match: {}, start_level: [leader], ack_within: 5m, resolve_within: "
	      "1h}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:41: error: expected a string, got a list (policies[0].start_level)\n");
}

static void test_policy_co_assign(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, co_assign: [duty, "
	      "janitor, duty]}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:82: error: unknown role \"janitor\": no unit has it "
	      "(policies[0].co_assign[1])\n"
	      "rules.yaml:2:91: error: role \"duty\" is listed twice (policies[0].co_assign[2])\n");
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, co_assign: "
	      "janitor}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:75: error: unknown role \"janitor\": no unit has it "
	      "(policies[0].co_assign)\n");
}

/* SPEC §3.3: the case workflow keys, their forms and their references. */
static void test_policy_workflow(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, verify: {role: "
	      "janitor, within: 1h}, dispatch_role: boss}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:79: error: unknown role \"janitor\": no unit has it "
	      "(policies[0].verify.role)\n"
	      "rules.yaml:2:116: error: unknown role \"boss\": no unit has it "
	      "(policies[0].dispatch_role)\n");
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, verify: {role: "
	      "duty}, review_within: soon, max_extensions: -1, close_within: 3x}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:72: error: missing key \"within\" (policies[0].verify)\n"
	      "rules.yaml:2:101: error: invalid duration \"soon\": expected a number and a unit "
	      "(ms, s, m, h, d), e.g. 500ms, 90s or 1h30m (policies[0].review_within)\n"
	      "rules.yaml:2:123: error: expected an integer from 0 to 100, got \"-1\" "
	      "(policies[0].max_extensions)\n"
	      "rules.yaml:2:141: error: invalid duration \"3x\": expected a number and a unit "
	      "(ms, s, m, h, d), e.g. 500ms, 90s or 1h30m (policies[0].close_within)\n");
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, verify: {role: "
	      "duty, within: 1h, by: me}, max_extensions: many}\n" VERSION LEVELS CATEGORIES PEOPLE
	              UNITS,
	      "rules.yaml:2:97: error: unknown key \"by\" (policies[0].verify.by)\n"
	      "rules.yaml:2:122: error: expected an integer from 0 to 100, got \"many\" "
	      "(policies[0].max_extensions)\n");
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h, verify: duty, "
	      "max_extensions: 101}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:72: error: expected a mapping, got a scalar (policies[0].verify)\n"
	      "rules.yaml:2:94: error: expected an integer from 0 to 100, got \"101\" "
	      "(policies[0].max_extensions)\n");
}

static void test_policy_durations(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: p1, match: {channel: alert}, ack_within: 5x, resolve_within: 0s}\n"
	      "  - {name: p2, match: {channel: alert}, ack_within: -5m, resolve_within: []}\n"
	      "  - {name: p3, match: {channel: alert}, ack_within: 1.5h, resolve_within: [1h, ~, "
	      "2x]}\n"
	      "  - {name: all, match: {}, ack_within: {m: 5}, resolve_within: \"\"}\n" VERSION
	              LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:53: error: invalid duration \"5x\": " DUR_FORM
	      " (policies[0].ack_within)\n"
	      "rules.yaml:2:73: error: duration \"0s\" must be greater than zero "
	      "(policies[0].resolve_within)\n"
	      "rules.yaml:3:53: error: duration \"-5m\" must be greater than zero "
	      "(policies[1].ack_within)\n"
	      "rules.yaml:3:74: error: expected at least one duration "
	      "(policies[1].resolve_within)\n"
	      "rules.yaml:4:53: error: invalid duration \"1.5h\": " DUR_FORM
	      " (policies[2].ack_within)\n"
	      "rules.yaml:4:80: error: expected a duration such as 90s or 1h30m, got null "
	      "(policies[2].resolve_within[1])\n"
	      "rules.yaml:4:83: error: invalid duration \"2x\": " DUR_FORM
	      " (policies[2].resolve_within[2])\n"
	      "rules.yaml:5:40: error: expected a duration such as 90s or 1h30m, got a mapping "
	      "(policies[3].ack_within)\n"
	      "rules.yaml:5:64: error: invalid duration \"\": " DUR_FORM
	      " (policies[3].resolve_within)\n");
}

/* ---- strings ---- */

static void test_nul_in_string(void **state)
{
	(void)state;
	check("categories:\n"
	      "  - {key: roads, name: \"a\\0b\"}\n"
	      "  - {key: noise, name: Noise}\n" VERSION LEVELS PEOPLE UNITS POLICIES,
	      "rules.yaml:2:24: error: a string must not contain NUL characters "
	      "(categories[0].name)\n");
	check("people:\n"
	      "  ann: {name: Ann, notify: [\"sms:1\\0x\"]}\n"
	      "  bob: {name: Bob}\n"
	      "  boss: {name: Boss, admin: true}\n" VERSION LEVELS CATEGORIES UNITS POLICIES,
	      "rules.yaml:2:29: error: a string must not contain NUL characters "
	      "(people.ann.notify[0])\n");
}

/* The load fails with, among others, an error at line:col naming word. */
static void check_error_at(const char *yaml, int line, int col, const char *word)
{
	struct diags d;
	struct rules *r;
	bool found = false;

	diags_init(&d, NAME);
	r = rules_load_buf(NAME, yaml, strlen(yaml), &d);
	for (size_t i = 0; i < d.n; i++) {
		const struct diag *g = &d.v[i];
		found = found || (g->severity == DIAG_ERROR && g->line == line && g->col == col &&
		                  strstr(g->msg, word) != NULL);
	}
	if (!found) {
		char *got = format_all(&d);
		print_error("expected an error at %d:%d mentioning %s, got:\n%s", line, col, word,
		            got);
		free(got);
	}
	if (r != NULL) {
		print_error("rules_load_buf returned rules\n");
		found = false;
	}
	rules_free(r);
	diags_free(&d);
	if (!found)
		fail();
}

/*
 * A mapping key with a NUL in it is not the key it starts with: "name\0x"
 * must not be read as "name", nor "ann\0evil" as person ann.
 */
static void test_nul_in_key(void **state)
{
	(void)state;
	check_error_at("categories:\n"
	               "  - {key: roads, \"name\\0x\": R}\n"
	               "  - {key: noise, name: Noise}\n" VERSION LEVELS PEOPLE UNITS POLICIES,
	               2, 18, "NUL");
	check_error_at(
	        "people:\n"
	        "  \"ann\\0evil\": {name: Ann}\n"
	        "  bob: {name: Bob}\n"
	        "  boss: {name: Boss, admin: true}\n" VERSION LEVELS CATEGORIES UNITS POLICIES,
	        2, 3, "NUL");
}

/* ---- warnings ---- */

static void test_warn_vacant_leaf(void **state)
{
	(void)state;
	check("units:\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob], noise: []}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1, roles: {member: {default: [ann]}}}\n"
	      "  - {id: c/g2, kind: grid, name: G2, roles: {member: {roads: [ann]}}}\n"
	      "  - {id: c/g3, kind: grid, name: G3}\n"
	      "  - {id: d, kind: community, name: D, roles: {duty: {default: [bob]}}}\n" VERSION
	              LEVELS CATEGORIES PEOPLE POLICIES,
	      "rules.yaml:3:5: warning: unit \"c/g1\" has nobody at level \"leader\" for category "
	      "noise (units[1])\n"
	      "rules.yaml:4:5: warning: unit \"c/g2\" has nobody at level \"member\" for category "
	      "noise (units[2])\n"
	      "rules.yaml:4:5: warning: unit \"c/g2\" has nobody at level \"leader\" for category "
	      "noise (units[2])\n"
	      "rules.yaml:5:5: warning: unit \"c/g3\" has nobody at level \"member\" for any "
	      "category (units[3])\n"
	      "rules.yaml:5:5: warning: unit \"c/g3\" has nobody at level \"leader\" for category "
	      "noise (units[3])\n"
	      "rules.yaml:6:5: warning: unit \"d\" has nobody at level \"member\" for any category "
	      "(units[4])\n");
	/* several categories are named in file order */
	check("categories:\n"
	      "  - {key: roads, name: Roads}\n"
	      "  - {key: noise, name: Noise}\n"
	      "  - {key: fire, name: Fire}\n"
	      "units:\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1, roles: {member: {noise: [ann]}}}\n" VERSION
	              LEVELS PEOPLE POLICIES,
	      "rules.yaml:7:5: warning: unit \"c/g1\" has nobody at level \"member\" for "
	      "categories roads, fire (units[1])\n");
}

static void test_warn_policy_after_catch_all(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: all, match: {}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: alerts, match: {channel: alert}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: late, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:3:5: warning: policy \"alerts\" can never match: catch-all policy "
	      "\"all\" comes before it (policies[1])\n"
	      "rules.yaml:4:5: warning: policy \"late\" can never match: catch-all policy \"all\" "
	      "comes before it (policies[2])\n");
	/* no match key at all is a catch-all too */
	check("policies:\n"
	      "  - {name: all, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: late, match: {}, ack_within: 5m, resolve_within: 1h}\n" VERSION LEVELS
	              CATEGORIES PEOPLE UNITS,
	      "rules.yaml:3:5: warning: policy \"late\" can never match: catch-all policy \"all\" "
	      "comes before it (policies[1])\n");
}

static void test_warn_no_catch_all(void **state)
{
	(void)state;
	check("policies:\n"
	      "  - {name: alerts, match: {channel: alert}, ack_within: 5m, resolve_within: 1h}\n"
	      "  - {name: noise, match: {category: noise}, ack_within: 5m, resolve_within: "
	      "1h}\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:2:3: warning: no catch-all policy (one with an empty match): incidents "
	      "that match no policy are dead-lettered as no_policy (policies)\n");
	check("policies: []\n" VERSION LEVELS CATEGORIES PEOPLE UNITS,
	      "rules.yaml:1:11: warning: no catch-all policy (one with an empty match): incidents "
	      "that match no policy are dead-lettered as no_policy (policies)\n");
}

static void test_warn_unreferenced_person(void **state)
{
	(void)state;
	check("people:\n"
	      "  ann: {name: Ann}\n"
	      "  bob: {name: Bob}\n"
	      "  boss: {name: Boss, admin: true}\n"
	      "  carl: {name: Carl, admin: false}\n"
	      "  root: {name: Root, admin: true}\n" VERSION LEVELS CATEGORIES UNITS POLICIES,
	      "rules.yaml:5:3: warning: person \"carl\" is not referenced by any unit role "
	      "(people.carl)\n");
}

/*
 * With errors, the warnings that need the whole model (vacancies,
 * unreferenced people) are left out; the others are still given.
 */
static void test_warnings_with_errors(void **state)
{
	(void)state;
	check("people:\n"
	      "  ann: {name: Ann}\n"
	      "  bob: {name: Bob}\n"
	      "  carl: {name: Carl}\n"
	      "policies:\n"
	      "  - {name: alerts, match: {channel: alert}, ack_within: 5m, resolve_within: 1x}\n"
	      "units:\n"
	      "  - {id: c, kind: community, name: C, roles: {duty: {default: [bob]}}}\n"
	      "  - {id: c/g1, kind: grid, name: G1}\n" VERSION LEVELS CATEGORIES,
	      "rules.yaml:6:3: warning: no catch-all policy (one with an empty match): incidents "
	      "that match no policy are dead-lettered as no_policy (policies)\n"
	      "rules.yaml:6:77: error: invalid duration \"1x\": " DUR_FORM
	      " (policies[0].resolve_within)\n");
}

/* ---- several mistakes in one file ---- */

static void test_many_errors(void **state)
{
	struct diags d;
	struct rules *r;
	char *got;

	(void)state;
	diags_init(&d, ERRORS);
	r = rules_load(ERRORS, &d);
	got = format_all(&d);
	assert_string_equal(
	        got, ERRORS
	        ":9:24: error: unknown channel \"pager\": expected patrol, feedback, "
	        "scheduled or alert (policies[0].match.channel[1])\n" ERRORS
	        ":11:18: error: unknown level \"leaderr\" (policies[0].start_level)\n" ERRORS
	        ":12:17: error: invalid duration \"5x\": " DUR_FORM
	        " (policies[0].ack_within)\n" ERRORS
	        ":22:59: error: unknown key \"colour\" (levels[1].colour)\n" ERRORS
	        ":23:45: error: unknown unit kind \"communty\": no unit is of this kind "
	        "(levels[2].unit)\n" ERRORS
	        ":27:11: error: duplicate category \"roads\" (categories[1].key)\n" ERRORS
	        ":31:27: error: expected true or false, got \"yes\" (people.bob.admin)\n" ERRORS
	        ":40:30: error: unknown person \"dave\" (units[0].roles.duty.default[1])\n" ERRORS
	        ":46:9: error: parent unit \"x\" of \"x/g2\" does not exist (units[2].id)\n");
	assert_null(r);
	assert_int_equal(d.nerrors, 9);
	assert_int_equal(d.nwarnings, 0);
	free(got);
	diags_free(&d);
}

static void test_missing_file(void **state)
{
	struct diags d;
	char *got;

	(void)state;
	diags_init(&d, "tests/unit/data/rules_nonexistent.yaml");
	assert_null(rules_load("tests/unit/data/rules_nonexistent.yaml", &d));
	got = format_all(&d);
	assert_string_equal(got, "tests/unit/data/rules_nonexistent.yaml: error: cannot open: No "
	                         "such file or directory\n");
	free(got);
	diags_free(&d);
}

/*
 * SPEC v2 §9: the rules must be a regular file: a device or a directory
 * is refused at once (a FIFO too: test_yamlfast.c, ydoc_read_file).
 */
static void test_not_a_regular_file(void **state)
{
	static const struct {
		const char *path, *kind;
	} others[] = {{"/dev/null", "a character device"}, {"tests/unit", "a directory"}};
	struct diags d;
	char *got, want[256];

	(void)state;
	for (size_t i = 0; i < GR_NELEM(others); i++) {
		diags_init(&d, others[i].path);
		assert_null(rules_load(others[i].path, &d));
		got = format_all(&d);
		snprintf(want, sizeof(want), "%s: error: cannot read: %s, not a regular file\n",
		         others[i].path, others[i].kind);
		assert_string_equal(got, want);
		free(got);
		diags_free(&d);
	}
}

/* ---- valid files ---- */

static void test_sample_rules(void **state)
{
	struct diags d;
	struct rules *r;
	char sum[128];

	(void)state;
	/* mid-2026 the sample is clean */
	setenv("GRIDROUTE_TODAY", "2026-06-01", 1);
	diags_init(&d, SAMPLE);
	r = rules_load(SAMPLE, &d);
	if (d.n > 0)
		diags_print(&d, stderr);
	assert_non_null(r);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(d.nwarnings, 0);
	rules_summary(r, sum, sizeof(sum));
	assert_string_equal(sum,
	                    "5 levels, 9 categories, 14 units, 48 people, 12 policies, 1 schedule");
	assert_string_equal(r->path, SAMPLE);
	/* urban management is verified by the street's 监督员, dispatched by the command centre */
	const struct rules_policy *um = NULL;
	for (size_t i = 0; i < r->npolicies; i++)
		if (strcmp(r->policies[i].name, "urban-management") == 0)
			um = &r->policies[i];
	assert_non_null(um);
	assert_int_not_equal(um->verify_role, -1);
	assert_string_equal(r->roles[um->verify_role], "supervisor");
	assert_string_equal(um->verify_within.text, "4wh");
	assert_string_equal(r->roles[um->dispatch_role], "dispatch");
	assert_string_equal(um->close_within.text, "3wd");
	assert_int_equal(um->max_extensions, 1);
	assert_string_equal(r->levels[0].key, "member");
	assert_string_equal(r->levels[4].name, "区");
	assert_true(r->policies[11].catch_all);
	for (size_t i = 0; i < 11; i++)
		assert_false(r->policies[i].catch_all);
	assert_non_null(r->calendar);
	assert_string_equal(tz_name(r->tz), "Asia/Shanghai");
	rules_free(r);
	diags_free(&d);
	/* in December, its only warning is that 2027's holidays are still to be added */
	setenv("GRIDROUTE_TODAY", "2026-12-03", 1);
	diags_init(&d, SAMPLE);
	r = rules_load(SAMPLE, &d);
	unsetenv("GRIDROUTE_TODAY");
	assert_non_null(r);
	assert_int_equal(d.nwarnings, 1);
	char *got = format_all(&d);
	assert_string_equal(got, "conf/holidays/cn-2026.yaml:33:16: warning: covered_until "
	                         "2026-12-31 is only 28 days after today (2026-12-03): add next "
	                         "year's holiday arrangement (the State Council publishes it, "
	                         "usually in November) (covered_until)\n");
	free(got);
	rules_free(r);
	diags_free(&d);
}

struct features {
	struct rules *r;
	struct diags d;
};

static int features_setup(void **state)
{
	struct features *f = xcalloc(1, sizeof(*f));

	diags_init(&f->d, FEATURES);
	f->r = rules_load(FEATURES, &f->d);
	*state = f;
	if (f->r == NULL) {
		diags_print(&f->d, stderr);
		return -1;
	}
	return 0;
}

static int features_teardown(void **state)
{
	struct features *f = *state;

	rules_free(f->r);
	diags_free(&f->d);
	free(f);
	return 0;
}

/* Only the vacancy planted on purpose: the community is vacant for safety. */
static void test_features_diagnostics(void **state)
{
	struct features *f = *state;
	char *got = format_all(&f->d);

	assert_string_equal(got, FEATURES ":23:5: warning: unit \"d/s/c/g1\" has nobody at level "
	                                  "\"community\" for category safety (units[0])\n" FEATURES
	                                  ":30:5: warning: unit \"d/s/c/g2\" has nobody at level "
	                                  "\"community\" for category safety (units[1])\n");
	free(got);
}

static void test_features_model(void **state)
{
	struct rules *r = ((struct features *)*state)->r;
	char sum[128];

	rules_summary(r, sum, sizeof(sum));
	assert_string_equal(sum, "4 levels, 3 categories, 5 units, 7 people, 2 policies");

	/* levels and categories keep their names (UTF-8 text) */
	assert_string_equal(r->levels[1].name, "网格长");
	assert_string_equal(r->levels[2].unit_kind, "community");
	assert_string_equal(r->categories[2].name, "安全");

	/* people, through an alias too */
	int boss = rules_person(r, "boss"), cat = rules_person(r, "cat");
	assert_true(boss >= 0 && cat >= 0);
	assert_true(r->people[boss].admin);
	assert_int_equal(r->people[boss].nnotify, 2);
	assert_string_equal(r->people[boss].notify[1], "wechat:boss");
	assert_string_equal(r->people[cat].name, "Ann");
	assert_false(r->people[cat].admin);
	assert_int_equal(r->people[rules_person(r, "bob")].nnotify, 0);

	/* parents listed after their children */
	int g1 = rules_unit(r, "d/s/c/g1", 8), c = rules_unit(r, "d/s/c", 5);
	int s = rules_unit(r, "d/s", 3), d = rules_unit(r, "d", 1);
	assert_true(g1 >= 0 && c >= 0 && s >= 0 && d >= 0);
	assert_int_equal(r->units[g1].parent, c);
	assert_int_equal(r->units[c].parent, s);
	assert_int_equal(r->units[s].parent, d);
	assert_int_equal(r->units[d].parent, -1);
	assert_int_equal(r->units[g1].depth, 4);
	assert_int_equal(r->units[d].depth, 1);
	assert_int_equal(r->units[c].nchildren, 2);
	assert_int_equal(r->units[g1].nchildren, 0);
	assert_string_equal(r->units[c].name, "C");
	assert_int_equal(r->units[g1].line, 23);
	assert_int_equal(r->units[g1].col, 5);
}

static void test_features_policies(void **state)
{
	struct rules *r = ((struct features *)*state)->r;
	const struct rules_policy *p = &r->policies[0], *q = &r->policies[1];

	assert_string_equal(p->name, "camera");
	assert_false(p->catch_all);
	assert_int_equal(p->channels, (1u << CH_ALERT) | (1u << CH_PATROL));
	assert_int_equal(p->severities, 1u << SEV_HIGH);
	assert_int_equal(p->ncategories, 2);
	assert_int_equal(p->categories[0], rules_category(r, "roads"));
	assert_int_equal(p->categories[1], rules_category(r, "noise"));
	assert_int_equal(p->nunits, 2);
	assert_string_equal(p->units[0], "d/s/c");
	assert_string_equal(p->units[1], "d/x");
	assert_int_equal(p->nattrs, 2);
	assert_string_equal(p->attrs[0].key, "source");
	assert_int_equal(p->attrs[0].nvalues, 2);
	assert_string_equal(p->attrs[0].values[0], "camera");
	assert_string_equal(p->attrs[0].values[1], "iot");
	assert_string_equal(p->attrs[1].key, "zone");
	assert_int_equal(p->attrs[1].nvalues, 1);
	assert_string_equal(p->attrs[1].values[0], "north");

	/* start_level defaults to the first level */
	assert_int_equal(p->start_level, 0);
	/* a list of durations, and a single one */
	assert_int_equal(p->nack, 3);
	assert_int_equal(p->ack[0].d.ms, 5 * MIN);
	assert_int_equal(p->ack[1].d.ms, 10 * MIN);
	assert_int_equal(p->ack[2].d.ms, HOUR + 30 * MIN);
	assert_int_equal(p->nresolve, 1);
	assert_int_equal(p->resolve[0].d.ms, 500);
	assert_int_equal(p->nco, 1);
	assert_int_equal(p->co_roles[0], rules_role(r, "property"));

	assert_string_equal(q->name, "catch-all");
	assert_true(q->catch_all);
	assert_int_equal(q->channels, 0);
	assert_int_equal(q->severities, 0);
	assert_int_equal(q->ncategories + q->nunits + q->nattrs + q->nco, 0);
	assert_int_equal(q->start_level, rules_level(r, "leader"));
	assert_int_equal(q->nack, 1);
	assert_int_equal(q->ack[0].d.ms, 24 * HOUR);
	assert_int_equal(q->nresolve, 2);
	assert_int_equal(q->resolve[0].d.ms, 2 * HOUR);
	assert_int_equal(q->resolve[1].d.ms, 24 * HOUR);
}

static void test_lookups(void **state)
{
	struct rules *r = ((struct features *)*state)->r;

	assert_int_equal(rules_level(r, "member"), 0);
	assert_int_equal(rules_level(r, "street"), 3);
	assert_int_equal(rules_level(r, "district"), -1);
	assert_int_equal(rules_category(r, "roads"), 0);
	assert_int_equal(rules_category(r, "safety"), 2);
	assert_int_equal(rules_category(r, "fire"), -1);
	assert_int_equal(rules_person(r, "boss"), 0);
	assert_int_equal(rules_person(r, "mgr"), 6);
	assert_int_equal(rules_person(r, "Mgr"), -1);
	assert_int_equal(rules_unit(r, "d/s/c/g2", 8), 1);
	assert_int_equal(rules_unit(r, "d/s/c/g9", 8), -1);
	/* the length bounds the id: a prefix of a longer string */
	assert_int_equal(rules_unit(r, "d/s/c/g2", 5), rules_unit(r, "d/s/c", 5));
	assert_int_equal(rules_unit(r, "d/s", 2), -1);

	int duty = rules_role(r, "duty");
	assert_true(duty >= 0);
	assert_string_equal(r->roles[duty], "duty");
	assert_int_equal(rules_role(r, "janitor"), -1);
	for (size_t l = 0; l < r->nlevels; l++) {
		assert_int_equal(r->levels[l].role_idx, rules_role(r, r->levels[l].role));
		assert_string_equal(r->kinds[r->levels[l].kind], r->levels[l].unit_kind);
	}
}

static void test_nearest_kind(void **state)
{
	struct rules *r = ((struct features *)*state)->r;
	int g1 = rules_unit(r, "d/s/c/g1", 8), c = rules_unit(r, "d/s/c", 5);
	int s = rules_unit(r, "d/s", 3), d = rules_unit(r, "d", 1);
	int grid = r->levels[0].kind, community = r->levels[2].kind, street = r->levels[3].kind;

	assert_int_equal(rules_nearest_kind(r, g1, grid), g1);
	assert_int_equal(rules_nearest_kind(r, g1, community), c);
	assert_int_equal(rules_nearest_kind(r, g1, street), s);
	assert_int_equal(rules_nearest_kind(r, g1, r->units[d].kind), d);
	assert_int_equal(rules_nearest_kind(r, c, community), c);
	assert_int_equal(rules_nearest_kind(r, d, grid), -1);
	assert_int_equal(rules_nearest_kind(r, c, grid), -1);
}

static void test_unit_people(void **state)
{
	struct rules *r = ((struct features *)*state)->r;
	int g1 = rules_unit(r, "d/s/c/g1", 8), g2 = rules_unit(r, "d/s/c/g2", 8);
	int c = rules_unit(r, "d/s/c", 5), d = rules_unit(r, "d", 1);
	int member = rules_role(r, "member"), leader = rules_role(r, "leader");
	int duty = rules_role(r, "duty"), property = rules_role(r, "property");
	int roads = rules_category(r, "roads"), noise = rules_category(r, "noise");
	int safety = rules_category(r, "safety");
	struct rules_plist pl;

	/* a per-category override replaces the default */
	assert_true(rules_unit_people(r, g1, member, noise, &pl));
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.ids[0], rules_person(r, "cat"));
	/* otherwise the default */
	assert_true(rules_unit_people(r, g1, member, roads, &pl));
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.ids[0], rules_person(r, "ann"));
	/* a role map shared through an alias */
	assert_true(rules_unit_people(r, g2, leader, safety, &pl));
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.ids[0], rules_person(r, "bob"));
	/* an explicit empty list: present, and nobody */
	pl.n = 99;
	assert_true(rules_unit_people(r, c, duty, safety, &pl));
	assert_int_equal(pl.n, 0);
	assert_true(rules_unit_people(r, c, duty, noise, &pl));
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.ids[0], rules_person(r, "dan"));
	/* no override for the category and no default */
	assert_false(rules_unit_people(r, c, property, noise, &pl));
	assert_true(rules_unit_people(r, c, property, roads, &pl));
	assert_int_equal(pl.ids[0], rules_person(r, "mgr"));
	/* a role the unit does not have */
	assert_false(rules_unit_people(r, g2, property, roads, &pl));
	assert_false(rules_unit_people(r, d, duty, roads, &pl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_base_is_clean),
	        cmocka_unit_test(test_yaml_syntax_error),
	        cmocka_unit_test(test_yaml_reader_error_position),
	        cmocka_unit_test(test_empty_file),
	        cmocka_unit_test(test_second_document),
	        cmocka_unit_test(test_second_document_invalid),
	        cmocka_unit_test(test_yaml_anchors),
	        cmocka_unit_test(test_yaml_tags),
	        cmocka_unit_test(test_diagnostic_one_line),
	        cmocka_unit_test(test_yaml_too_deep),
	        cmocka_unit_test(test_yaml_alias_bomb),
	        cmocka_unit_test(test_root_not_mapping),
	        cmocka_unit_test(test_top_unknown_and_duplicate_key),
	        cmocka_unit_test(test_top_missing_keys),
	        cmocka_unit_test(test_version),
	        cmocka_unit_test(test_level_fields),
	        cmocka_unit_test(test_level_count),
	        cmocka_unit_test(test_level_identifiers),
	        cmocka_unit_test(test_level_types),
	        cmocka_unit_test(test_level_unknown_unit_kind),
	        cmocka_unit_test(test_categories),
	        cmocka_unit_test(test_people),
	        cmocka_unit_test(test_people_many),
	        cmocka_unit_test(test_admins),
	        cmocka_unit_test(test_unit_fields),
	        cmocka_unit_test(test_unit_depth),
	        cmocka_unit_test(test_unit_roles),
	        cmocka_unit_test(test_policy_fields),
	        cmocka_unit_test(test_policy_match),
	        cmocka_unit_test(test_policy_bad_match_is_not_catch_all),
	        cmocka_unit_test(test_policy_start_level),
	        cmocka_unit_test(test_policy_co_assign),
	        cmocka_unit_test(test_policy_workflow),
	        cmocka_unit_test(test_policy_durations),
	        cmocka_unit_test(test_nul_in_string),
	        cmocka_unit_test(test_nul_in_key),
	        cmocka_unit_test(test_warn_vacant_leaf),
	        cmocka_unit_test(test_warn_policy_after_catch_all),
	        cmocka_unit_test(test_warn_no_catch_all),
	        cmocka_unit_test(test_warn_unreferenced_person),
	        cmocka_unit_test(test_warnings_with_errors),
	        cmocka_unit_test(test_many_errors),
	        cmocka_unit_test(test_missing_file),
	        cmocka_unit_test(test_not_a_regular_file),
	        cmocka_unit_test(test_sample_rules),
	        cmocka_unit_test_setup_teardown(test_features_diagnostics, features_setup,
	                                        features_teardown),
	        cmocka_unit_test_setup_teardown(test_features_model, features_setup,
	                                        features_teardown),
	        cmocka_unit_test_setup_teardown(test_features_policies, features_setup,
	                                        features_teardown),
	        cmocka_unit_test_setup_teardown(test_lookups, features_setup, features_teardown),
	        cmocka_unit_test_setup_teardown(test_nearest_kind, features_setup,
	                                        features_teardown),
	        cmocka_unit_test_setup_teardown(test_unit_people, features_setup,
	                                        features_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
