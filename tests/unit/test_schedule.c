/*
 * test_schedule.c: duty rosters (SPEC §3.2) — their diagnostics and
 * warnings, who is on duty at an instant (handoffs, daily and weekly
 * rotation, overrides of which the last wins, local days across a change
 * of the clocks), and routing with "schedule:NAME" in people lists:
 * chains at an instant, vacancy that depends on it, lists as written for
 * the diff, and what the diff says of an edited schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "ctl_diff.h"
#include "route.h"
#include "schedule.h"

#define NAME "rules.yaml"
#define HOUR 3600000LL

#define HEAD                                                                                       \
	"version: 1\n"                                                                             \
	"levels:\n"                                                                                \
	"  - {key: member, name: M, unit: grid, role: member}\n"                                   \
	"  - {key: street, name: S, unit: street, role: duty}\n"                                   \
	"categories: [{key: roads, name: R}, {key: noise, name: N}]\n"                             \
	"people:\n"                                                                                \
	"  ann: {name: Ann}\n"                                                                     \
	"  bob: {name: Bob}\n"                                                                     \
	"  cat: {name: Cat}\n"                                                                     \
	"  dan: {name: Dan}\n"                                                                     \
	"  boss: {name: Boss, admin: true}\n"                                                      \
	"policies: [{name: all, match: {}, ack_within: 1h, resolve_within: 1d}]\n"

/* The street's duty: ann+bob, then cat, then dan+ann, from 2026-01-05 08:00 Shanghai time. */
#define SCHEDULES                                                                                  \
	"schedules:\n"                                                                             \
	"  st-duty:\n"                                                                             \
	"    handoff: \"08:00\"\n"                                                                 \
	"    rotation: daily\n"                                                                    \
	"    start: 2026-01-05\n"                                                                  \
	"    slots: [[ann, bob], [cat], [dan, ann]]\n"                                             \
	"    overrides:\n"                                                                         \
	"      - {from: \"2026-02-15T08:00\", to: \"2026-02-24T08:00\", people: [boss], note: "    \
	"春节带班}\n"                                                                          \
	"      - {from: \"2026-02-20T00:00:00Z\", to: \"2026-02-20T12:00:00+08:00\", people: "     \
	"[dan]}\n"

#define UNITS                                                                                      \
	"units:\n"                                                                                 \
	"  - {id: s, kind: street, name: S, roles: {duty: {default: [schedule:st-duty, ann], "     \
	"noise: [schedule:st-duty]}}}\n"                                                           \
	"  - {id: s/g, kind: grid, name: G, roles: {member: {default: [dan]}}}\n"

static struct rules *load(const char *yaml, const char *expected)
{
	return test_load(NAME, yaml, expected);
}

static int64_t at(const char *s)
{
	int64_t ms;

	if (time_parse_rfc3339(s, strlen(s), &ms) != 0)
		fail_msg("bad time %s", s);
	return ms;
}

/* The people of a list as "ann,bob". */
static const char *ids(const struct rules *r, struct rules_plist pl, char *out, size_t outsz)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < pl.n && off < outsz; i++)
		off += (size_t)snprintf(out + off, outsz - off, "%s%s", i > 0 ? "," : "",
		                        pl.ids[i] < 0 ? "(schedule)" : r->people[pl.ids[i]].id);
	return out;
}

/* Who the street level has for category cat at t. */
static void assert_duty(const struct rules *r, const char *cat, const char *t, const char *want)
{
	struct route_chain ch;
	char buf[256];

	route_chain(r, rules_unit(r, "s/g", 3), rules_category(r, cat), NULL, at(t), &ch);
	ids(r, ch.levels[1].assignees, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s at %s: %s, want %s", cat, t, buf, want);
	assert_int_equal(ch.levels[1].vacant, want[0] == '\0');
}

static void test_states(void **state)
{
	(void)state;
	struct rules *r = load(HEAD SCHEDULES UNITS, "");
	const struct schedule *s = &r->schedules[rules_schedule(r, "st-duty")];

	assert_int_equal(r->nschedules, 1);
	assert_int_equal(s->handoff, 8 * HOUR);
	assert_int_equal(s->nslots, 3);
	assert_int_equal(s->nover, 2);
	assert_string_equal(s->over[0].note, "春节带班");
	assert_null(s->over[1].note);
	assert_int_equal(s->over[0].from, at("2026-02-15T08:00:00+08:00"));
	assert_int_equal(s->over[1].to, at("2026-02-20T04:00:00Z"));
	/* before start nobody; then slot after slot at 08:00, and again from the first */
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-05T07:59:59+08:00")), SCHED_NONE);
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-05T08:00:00+08:00")), 1);
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-06T07:59:59+08:00")), 1);
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-06T08:00:00+08:00")), 2);
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-07T12:00:00+08:00")), 3);
	assert_int_equal(schedule_state(s, r->tz, at("2026-01-08T08:00:00+08:00")), 1);
	/* 2026-12-03 is 332 days after 01-05: 332 mod 3 = 2, the third slot from 08:00 */
	assert_int_equal(schedule_state(s, r->tz, at("2026-12-03T09:00:00+08:00")), 3);
	/* the Spring Festival override, and the second one inside it wins while it holds */
	assert_int_equal(schedule_state(s, r->tz, at("2026-02-15T07:59:00+08:00")),
	                 1 + (at("2026-02-14T08:00:00+08:00") - at("2026-01-05T08:00:00+08:00")) /
	                                 (24 * HOUR) % 3);
	assert_int_equal(schedule_state(s, r->tz, at("2026-02-15T08:00:00+08:00")), 4);
	assert_int_equal(schedule_state(s, r->tz, at("2026-02-20T08:00:00+08:00")), 5);
	assert_int_equal(schedule_state(s, r->tz, at("2026-02-20T12:00:00+08:00")), 4);
	assert_int_equal(schedule_state(s, r->tz, at("2026-02-24T08:00:00+08:00")),
	                 1 + 50 % 3); /* 02-24 is 50 days after 01-05 */
	assert_string_equal(schedule_note(s, 4), "春节带班");
	assert_string_equal(schedule_note(s, 5), "override");
	assert_null(schedule_note(s, 2));
	/* the next changes: handoffs, and the overrides' edges */
	assert_int_equal(schedule_next_change(s, r->tz, at("2026-01-01T00:00:00Z")),
	                 at("2026-01-05T08:00:00+08:00"));
	assert_int_equal(schedule_next_change(s, r->tz, at("2026-01-05T08:00:00+08:00")),
	                 at("2026-01-06T08:00:00+08:00"));
	assert_int_equal(schedule_next_change(s, r->tz, at("2026-02-20T07:00:00+08:00")),
	                 at("2026-02-20T08:00:00+08:00"));
	assert_int_equal(schedule_next_change(s, r->tz, at("2026-02-20T09:00:00+08:00")),
	                 at("2026-02-20T12:00:00+08:00"));
	rules_free(r);
}

static void test_weekly_and_dst(void **state)
{
	(void)state;
	struct rules *r =
	        load(HEAD "calendar: {timezone: Europe/Berlin, hours: [\"09:00-17:00\"], "
	                  "covered_until: 2099-12-31}\n"
	                  "schedules:\n"
	                  "  w: {rotation: weekly, handoff: \"02:30\", start: 2026-03-02, "
	                  "slots: [[ann], [bob]]}\n"
	                  "  d: {handoff: \"02:30\", start: 2026-03-27, slots: [[ann], "
	                  "[bob], [cat]]}\n"
	                  "units:\n"
	                  "  - {id: s, kind: street, name: S, roles: {duty: {default: "
	                  "[ann, bob, cat, dan]}}}\n"
	                  "  - {id: s/h, kind: grid, name: H, roles: {member: {default: "
	                  "[schedule:w, schedule:d]}}}\n",
	             "");
	const struct schedule *w = &r->schedules[rules_schedule(r, "w")];
	const struct schedule *d = &r->schedules[rules_schedule(r, "d")];

	assert_string_equal(tz_name(r->tz), "Europe/Berlin");
	/* weekly: a week from Monday 02:30 to Monday 02:30 */
	assert_int_equal(schedule_state(w, r->tz, at("2026-03-09T02:29:00+01:00")), 1);
	assert_int_equal(schedule_state(w, r->tz, at("2026-03-09T02:30:00+01:00")), 2);
	assert_int_equal(schedule_state(w, r->tz, at("2026-03-16T02:30:00+01:00")), 1);
	assert_int_equal(schedule_next_change(w, r->tz, at("2026-03-10T00:00:00Z")),
	                 at("2026-03-16T02:30:00+01:00"));
	/* Sunday 2026-03-29 has no 02:30: the handoff is when the clocks jump (01:00Z) */
	assert_int_equal(schedule_state(d, r->tz, at("2026-03-29T00:59:59Z")), 2);
	assert_int_equal(schedule_state(d, r->tz, at("2026-03-29T01:00:00Z")), 3);
	assert_int_equal(schedule_next_change(d, r->tz, at("2026-03-28T12:00:00Z")),
	                 at("2026-03-29T01:00:00Z"));
	/* and the day after, 02:30 summer time: a day of 23 hours, not 24 */
	assert_int_equal(schedule_state(d, r->tz, at("2026-03-30T02:29:00+02:00")), 3);
	assert_int_equal(schedule_state(d, r->tz, at("2026-03-30T02:30:00+02:00")), 1);
	/* Sunday 2026-10-25 has 02:30 twice: the first one hands over, the second does not */
	int64_t first = at("2026-10-25T02:30:00+02:00");
	uint32_t before = schedule_state(d, r->tz, first - 1);
	assert_int_not_equal(schedule_state(d, r->tz, first), before);
	assert_int_equal(schedule_state(d, r->tz, first + HOUR + 1),
	                 schedule_state(d, r->tz, first));
	/* a list naming two schedules: both shifts' people, each once */
	struct route_chain ch;
	char buf[128];
	route_chain(r, rules_unit(r, "s/h", 3), 0, NULL, at("2026-03-31T12:00:00Z"), &ch);
	assert_string_equal(ids(r, ch.levels[0].assignees, buf, sizeof(buf)), "ann,bob");
	route_chain(r, rules_unit(r, "s/h", 3), 0, NULL, at("2026-04-01T12:00:00Z"), &ch);
	assert_string_equal(ids(r, ch.levels[0].assignees, buf, sizeof(buf)), "ann,cat");
	rules_free(r);
}

static void test_route_at_time(void **state)
{
	(void)state;
	struct rules *r = load(HEAD SCHEDULES UNITS, "");
	int g = rules_unit(r, "s/g", 3);
	struct route_chain ch, copy;
	char buf[128];

	/* the schedule's people first as written, then ann; nobody twice */
	assert_duty(r, "roads", "2026-01-05T09:00:00+08:00", "ann,bob");
	assert_duty(r, "roads", "2026-01-06T09:00:00+08:00", "cat,ann");
	assert_duty(r, "roads", "2026-01-07T09:00:00+08:00", "dan,ann");
	assert_duty(r, "roads", "2026-02-16T09:00:00+08:00", "boss,ann");
	/* noise names the schedule alone: vacant before its start */
	assert_duty(r, "noise", "2026-01-07T09:00:00+08:00", "dan,ann");
	assert_duty(r, "noise", "2026-02-20T09:00:00+08:00", "dan");
	assert_duty(r, "noise", "2026-01-01T09:00:00+08:00", "");
	assert_duty(r, "roads", "2026-01-01T09:00:00+08:00", "ann");
	/* vacancy at t: an incident before the start goes past the vacant street level */
	struct incident inc;
	struct incident_ctx ctx = {CH_PATROL, "1-0", 1, 65536};
	struct rejection rj;
	struct route_result rr;
	const char doc[] = "{\"category\":\"noise\",\"unit\":\"s/g\",\"title\":\"t\"}";
	assert_int_equal(incident_parse(doc, sizeof(doc) - 1, &ctx, &inc, &rj), 0);
	assert_int_equal(route_incident(r, &inc, at("2026-01-01T09:00:00+08:00"), &rr, &rj), 0);
	assert_true(rr.chain.levels[1].vacant);
	assert_int_equal(route_next(&rr.chain, 0), -1);
	assert_int_equal(route_incident(r, &inc, at("2026-01-06T09:00:00+08:00"), &rr, &rj), 0);
	assert_int_equal(route_next(&rr.chain, 0), 1);
	/* a copy of the chain, the original gone, still names the right people */
	copy = rr.chain;
	memset(&rr, 0xa5, sizeof(rr));
	assert_string_equal(ids(r, copy.levels[1].assignees, buf, sizeof(buf)), "cat");
	incident_free(&inc);
	/* the lists as written, for the diff */
	route_chain(r, g, 0, NULL, ROUTE_AS_WRITTEN, &ch);
	assert_int_equal(ch.levels[1].assignees.n, 2);
	assert_int_equal(ch.levels[1].assignees.ids[0], RULES_SCHED_ID(0));
	assert_string_equal(r->people[ch.levels[1].assignees.ids[1]].id, "ann");
	/* route_people reads any list of the rules at t */
	struct rules_plist w = ch.levels[1].assignees;
	assert_string_equal(
	        ids(r, route_people(r, w, at("2026-01-05T09:00:00+08:00")), buf, sizeof(buf)),
	        "ann,bob");
	/* never vacant in a slot or an override: no warning was given */
	bool sometimes;
	assert_false(route_vacant(r, g, 1, 1, &sometimes));
	assert_false(sometimes);
	rules_free(r);
}

static void test_errors(void **state)
{
	(void)state;
	rules_free(load(
	        HEAD
	        "schedules:\n"
	        "  Bad/Name: {start: 2026-01-05, slots: [[ann]]}\n"
	        "  x:\n"
	        "    handoff: \"25:00\"\n"
	        "    rotation: monthly\n"
	        "    start: 2026-02-30\n"
	        "    slots: [[ann, ann], [nobody], []]\n"
	        "    overrides:\n"
	        "      - {from: \"2026-02-24T08:00\", to: \"2026-02-15T08:00\", people: [bob]}\n"
	        "      - {from: \"yesterday\", to: \"2026-02-15T08:00+08:00\", people: [ann]}\n"
	        "      - {from: \"2026-02-24T08:00\", people: [eve], colour: red}\n"
	        "  y: {slots: []}\n"
	        "  z: {start: 2026-01-01, slots: [[cat]]}\n"
	        "units:\n"
	        "  - {id: s, kind: street, name: S, roles: {duty: {default: [schedule:x, "
	        "schedule:x, schedule:nope, dan]}}}\n"
	        "  - {id: s/g, kind: grid, name: G, roles: {member: {default: [dan]}}}\n",
	        NAME
	        ":14:3: error: invalid schedule name \"Bad/Name\": expected "
	        "[A-Za-z0-9][A-Za-z0-9._-]{0,63} (schedules.Bad/Name)\n" NAME
	        ":16:14: error: invalid handoff \"25:00\": expected HH:MM from 00:00 to 23:59 "
	        "(schedules.x.handoff)\n" NAME
	        ":17:15: error: unknown rotation \"monthly\": expected daily or weekly "
	        "(schedules.x.rotation)\n" NAME
	        ":18:12: error: invalid date \"2026-02-30\": expected YYYY-MM-DD from 1970 to "
	        "9999 (schedules.x.start)\n" NAME
	        ":19:19: error: person \"ann\" is listed twice (schedules.x.slots[0][1])\n" NAME
	        ":19:26: error: unknown person \"nobody\" (schedules.x.slots[1][0])\n" NAME
	        ":19:35: warning: slot 3 of schedule \"x\" is empty: the schedule gives nobody "
	        "while it is on (schedules.x.slots[2])\n" NAME
	        ":21:40: error: the override ends (2026-02-15T08:00) before it begins "
	        "(2026-02-24T08:00) (schedules.x.overrides[0].to)\n" NAME
	        ":22:16: error: invalid time \"yesterday\": expected a local time such as "
	        "2026-02-15T08:00, or RFC 3339 with an offset such as "
	        "2026-02-15T08:00:00+08:00 (schedules.x.overrides[1].from)\n" NAME
	        ":22:33: error: invalid time \"2026-02-15T08:00+08:00\": expected a local time "
	        "such as 2026-02-15T08:00, or RFC 3339 with an offset such as "
	        "2026-02-15T08:00:00+08:00 (schedules.x.overrides[1].to)\n" NAME
	        ":23:9: error: missing key \"to\" (schedules.x.overrides[2])\n" NAME
	        ":23:45: error: unknown person \"eve\" (schedules.x.overrides[2].people[0])\n" NAME
	        ":23:51: error: unknown key \"colour\" (schedules.x.overrides[2].colour)\n" NAME
	        ":24:6: error: missing key \"start\" (schedules.y)\n" NAME
	        ":24:14: error: expected at least one slot (a list of people) "
	        "(schedules.y.slots)\n" NAME ":27:73: error: \"schedule:x\" is listed twice "
	        "(units[0].roles.duty.default[1])\n" NAME
	        ":27:85: error: unknown schedule \"nope\" (units[0].roles.duty.default[2])\n"));
}

static void test_warnings(void **state)
{
	(void)state;
	/* a schedule nobody names; a leaf vacant during one slot only */
	rules_free(load(HEAD
	                "schedules:\n"
	                "  used: {start: 2026-01-05, slots: [[ann], []]}\n"
	                "  spare: {start: 2026-01-05, slots: [[cat]]}\n"
	                "units:\n"
	                "  - {id: s, kind: street, name: S, roles: {duty: {default: "
	                "[schedule:used], noise: [bob]}}}\n"
	                "  - {id: s/g, kind: grid, name: G, roles: {member: {default: [dan]}}}\n",
	                NAME ":14:44: warning: slot 2 of schedule \"used\" is empty: the schedule "
	                     "gives nobody while it is on (schedules.used.slots[1])\n" NAME
	                     ":15:3: warning: schedule \"spare\" is not referenced by any people "
	                     "list (schedules)\n" NAME
	                     ":18:5: warning: unit \"s/g\" has nobody at level \"street\" during "
	                     "some slots or overrides of its schedules, for category roads "
	                     "(units[1])\n"));
}

static void test_diff(void **state)
{
	(void)state;
	struct rules *a = load(HEAD SCHEDULES UNITS, "");
	struct rules *b = load(HEAD "schedules:\n"
	                            "  st-duty:\n"
	                            "    handoff: \"08:30\"\n"
	                            "    start: 2026-01-05\n"
	                            "    slots: [[ann, bob], [cat, dan]]\n"
	                            "  extra: {start: 2026-01-01, slots: [[bob]]}\n"
	                            "units:\n"
	                            "  - {id: s, kind: street, name: S, roles: {duty: {default: "
	                            "[schedule:st-duty, ann], noise: [schedule:extra]}}}\n"
	                            "  - {id: s/g, kind: grid, name: G, roles: {member: {default: "
	                            "[dan]}}}\n",
	                       "");
	struct ctl_diff d;
	struct buf out;

	buf_init(&out);
	ctl_diff_rules(a, b, &d, &out);
	assert_string_equal(
	        out.data,
	        "s/noise/street: [schedule:st-duty] -> [schedule:extra]\n"
	        "s/g/noise/street: [schedule:st-duty] -> [schedule:extra]\n"
	        "schedule added: extra\n"
	        "schedule changed: st-duty: handoff: 08:00 -> 08:30\n"
	        "schedule changed: st-duty: slots: [[ann, bob], [cat], [dan, ann]] -> [[ann, bob], "
	        "[cat, dan]]\n"
	        "schedule changed: st-duty: overrides: [{from: 2026-02-15T08:00, to: "
	        "2026-02-24T08:00, people: [boss], note: 春节带班}, {from: 2026-02-20T08:00, to: "
	        "2026-02-20T12:00, people: [dan]}] -> []\n");
	assert_int_equal(d.schedules_added, 1);
	assert_int_equal(d.schedules_changed, 1);
	assert_int_equal(d.assignments, 2);
	buf_reset(&out);
	ctl_diff_summary(&d, &out);
	assert_non_null(strstr(out.data, "1 schedule added, 1 schedule changed"));
	buf_free(&out);
	rules_free(a);
	rules_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_states),        cmocka_unit_test(test_weekly_and_dst),
	        cmocka_unit_test(test_route_at_time), cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_warnings),      cmocka_unit_test(test_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
