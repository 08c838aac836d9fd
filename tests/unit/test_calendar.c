/*
 * test_calendar.c: the holiday calendar (SPEC §3.1) — its diagnostics in
 * the rules file and in the holidays file, the coverage warnings counted
 * from an injected today, working durations — and working-time
 * arithmetic: worked examples around the 2026 holidays, and properties
 * over many random instants and durations against a slow reference that
 * walks minute by minute, in Asia/Shanghai and in two zones with daylight
 * saving time whose working hours cross the clock changes.
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
#include "calendar.h"
#include "route.h"
#include "rules.h"

#define NAME "tests/unit/data/cal.yaml"
#define MIN  60000LL
#define HOUR 3600000LL

#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"levels: [{key: member, name: M, unit: grid, role: member}]\n"                             \
	"categories: [{key: c, name: C}]\n"                                                        \
	"people: {p: {name: P}}\n"                                                                 \
	"units: [{id: g, kind: grid, name: G, roles: {member: {default: [p]}}}]\n"

#define POLICY(ack, res)                                                                           \
	"policies: [{name: d, match: {}, start_level: member, ack_within: " ack                    \
	", resolve_within: " res "}]\n"

/* The 2026 sample: Shanghai, 08:30-12:00 and 14:00-17:30, the State Council's holidays. */
#define CN_CALENDAR                                                                                \
	"calendar:\n"                                                                              \
	"  timezone: Asia/Shanghai\n"                                                              \
	"  hours: [\"08:30-12:00\", \"14:00-17:30\"]\n"                                            \
	"  holidays_file: ../../../conf/holidays/cn-2026.yaml\n"

/* Load yaml as of today (YYYY-MM-DD) and compare every diagnostic with expected. */
static struct rules *load_as_of(const char *today, const char *yaml, const char *expected)
{
	setenv("GRIDROUTE_TODAY", today, 1);
	struct rules *r = test_load(NAME, yaml, expected);
	unsetenv("GRIDROUTE_TODAY");
	return r;
}

static void check(const char *yaml, const char *expected)
{
	rules_free(load_as_of("2026-06-01", yaml, expected));
}

static int64_t at(const char *s)
{
	int64_t ms;

	if (time_parse_rfc3339(s, strlen(s), &ms) != 0)
		fail_msg("bad time %s", s);
	return ms;
}

static void assert_time(int64_t got, const char *want)
{
	char t[TIME_BUFSZ];

	time_format(got, t);
	if (got != at(want))
		fail_msg("got %s, want %s", t, want);
}

/* ---- loading ---- */

static void test_load_sample_calendar(void **state)
{
	(void)state;
	struct rules *r = load_as_of("2026-06-01", BASE CN_CALENDAR POLICY("1wh", "13wd"), "");
	const struct calendar *c = r->calendar;
	size_t n;
	enum cal_mark mark;
	int64_t day;

	assert_non_null(c);
	assert_ptr_equal(r->tz, calendar_tz(c));
	assert_string_equal(tz_name(r->tz), "Asia/Shanghai");
	assert_int_equal(calendar_day_ms(c), 7 * HOUR);
	const struct cal_hours *h = calendar_hours(c, &n);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].start, 8 * HOUR + 30 * MIN);
	assert_int_equal(h[1].end, 17 * HOUR + 30 * MIN);
	assert_int_equal(calendar_parse_date("2026-12-31", 10, &day), 0);
	assert_int_equal(calendar_covered_until(c), day);
	/* Thu 2026-10-01 a holiday, Sat 10-10 a make-up day, Fri 10-09 plain */
	calendar_parse_date("2026-10-01", 10, &day);
	assert_false(calendar_is_workday(c, day, &mark));
	assert_int_equal(mark, CAL_HOLIDAY);
	assert_true(calendar_is_workday(c, day + 9, &mark));
	assert_int_equal(mark, CAL_WORKDAY);
	assert_true(calendar_is_workday(c, day + 8, &mark));
	assert_int_equal(mark, CAL_PLAIN);
	assert_false(calendar_is_workday(c, day + 10, &mark)); /* Sun 10-11 */
	assert_int_equal(calendar_weekday(day), 4);
	assert_string_equal(calendar_weekday_name(calendar_weekday(day)), "Thu");
	/* the durations: working ones in working ms, their text kept */
	assert_true(r->policies[0].ack[0].d.working);
	assert_int_equal(r->policies[0].ack[0].d.ms, HOUR);
	assert_string_equal(r->policies[0].ack[0].text, "1wh");
	assert_int_equal(r->policies[0].resolve[0].d.ms, 13 * 7 * HOUR);
	rules_free(r);
}

static void test_default_zone(void **state)
{
	(void)state;
	struct rules *r = load_as_of("2026-06-01",
	                             BASE "calendar: {hours: [\"09:00-17:00\"], covered_until: "
	                                  "2027-01-01}\n" POLICY("1wd", "2wd"),
	                             "");
	assert_string_equal(tz_name(r->tz), "Asia/Shanghai");
	assert_int_equal(calendar_day_ms(r->calendar), 8 * HOUR);
	rules_free(r);
	/* without a calendar, the rules' zone is Asia/Shanghai too */
	r = load_as_of("2026-06-01", BASE POLICY("1h", "2h"), "");
	assert_null(r->calendar);
	assert_string_equal(tz_name(r->tz), "Asia/Shanghai");
	rules_free(r);
}

static void test_calendar_errors(void **state)
{
	(void)state;
	check(BASE POLICY("1h",
	                  "1d") "calendar:\n"
	                        "  timezone: Asia/Shanghia\n"
	                        "  hours: [\"8:30-12:00\", \"14:00-13:00\", \"11:00-13:30\",\n"
	                        "          \"13:00-24:30\", \"17:00-24:00\"]\n"
	                        "  weekdays: [mon, monday, mon]\n"
	                        "  holidays: [2026-02-30, 2026-10-07..2026-10-01, 1969-12-31,\n"
	                        "             2026-10-01..2026-10-07, x..y]\n"
	                        "  workdays: [2026-10-03]\n"
	                        "  covered_until: 2026-12-32\n"
	                        "  colour: red\n",
	      NAME
	      ":8:13: error: unknown time zone \"Asia/Shanghia\" (calendar.timezone)\n" NAME
	      ":9:11: error: invalid working interval \"8:30-12:00\": expected HH:MM-HH:MM "
	      "from 00:00 to 24:00, such as \"08:30-12:00\" (calendar.hours[0])\n" NAME
	      ":9:25: error: working interval \"14:00-13:00\" ends before it begins "
	      "(calendar.hours[1])\n" NAME
	      ":10:11: error: invalid working interval \"13:00-24:30\": expected HH:MM-HH:MM "
	      "from 00:00 to 24:00, such as \"08:30-12:00\" (calendar.hours[3])\n" NAME
	      ":11:19: error: unknown weekday \"monday\": expected mon, tue, wed, thu, fri, "
	      "sat or sun (calendar.weekdays[1])\n" NAME
	      ":11:27: error: weekday \"mon\" is listed twice (calendar.weekdays[2])\n" NAME
	      ":12:14: error: invalid date \"2026-02-30\": expected YYYY-MM-DD from 1970 to "
	      "9999, or a range YYYY-MM-DD..YYYY-MM-DD (calendar.holidays[0])\n" NAME
	      ":12:26: error: date range \"2026-10-07..2026-10-01\" ends before it begins "
	      "(calendar.holidays[1])\n" NAME
	      ":12:50: error: invalid date \"1969-12-31\": expected YYYY-MM-DD from 1970 to "
	      "9999, or a range YYYY-MM-DD..YYYY-MM-DD (calendar.holidays[2])\n" NAME
	      ":13:38: error: invalid date \"x..y\": expected YYYY-MM-DD from 1970 to 9999, or "
	      "a range YYYY-MM-DD..YYYY-MM-DD (calendar.holidays[4])\n" NAME
	      ":14:14: error: date 2026-10-03 is both a holiday and a workday "
	      "(calendar.workdays[0])\n" NAME
	      ":15:18: error: invalid date \"2026-12-32\": expected YYYY-MM-DD from 1970 to "
	      "9999 (calendar.covered_until)\n" NAME
	      ":16:3: error: unknown key \"colour\" (calendar.colour)\n");
	/* overlapping intervals; no hours; no weekday */
	check(BASE POLICY("1h", "1d") "calendar: {hours: [\"08:00-12:00\", \"11:00-13:00\"], "
	                              "weekdays: [], covered_until: 2027-01-01}\n",
	      NAME ":7:35: error: working interval \"11:00-13:00\" overlaps or comes before the "
	           "one before it: intervals must be ascending and must not overlap "
	           "(calendar.hours[1])\n" NAME
	           ":7:61: error: expected at least one working weekday (calendar.weekdays)\n");
	check(BASE POLICY("1h", "1d") "calendar: {hours: [], covered_until: 2027-01-01}\n",
	      NAME ":7:19: error: expected at least one working interval such as \"08:30-12:00\" "
	           "(calendar.hours)\n");
	check(BASE POLICY("1h", "1d") "calendar: {timezone: Asia/Shanghai}\n",
	      NAME ":7:11: error: missing key \"hours\" (calendar)\n");
	check(BASE POLICY("1h", "1d") "calendar: [08:30-12:00]\n",
	      NAME ":7:11: error: expected a mapping, got a list (calendar)\n");
}

/* The holidays file's mistakes name that file, its line and column. */
static void test_holidays_file_errors(void **state)
{
	(void)state;
	check(BASE POLICY("1h", "1d") "calendar:\n"
	                              "  hours: [\"09:00-17:00\"]\n"
	                              "  holidays_file: holidays_bad.yaml\n",
	      "tests/unit/data/holidays_bad.yaml:3:5: error: invalid date \"2026-02-30\": expected "
	      "YYYY-MM-DD from 1970 to 9999, or a range YYYY-MM-DD..YYYY-MM-DD (holidays[0])\n"
	      "tests/unit/data/holidays_bad.yaml:4:5: error: date range \"2026-10-07..2026-10-01\" "
	      "ends before it begins (holidays[1])\n"
	      "tests/unit/data/holidays_bad.yaml:6:12: error: date 2026-05-03 is both a holiday "
	      "and a workday (workdays[0])\n"
	      "tests/unit/data/holidays_bad.yaml:7:16: error: invalid date \"2026-13-01\": "
	      "expected YYYY-MM-DD from 1970 to 9999 (covered_until)\n"
	      "tests/unit/data/holidays_bad.yaml:8:1: error: unknown key \"colour\" (colour)\n");
	check(BASE POLICY("1h", "1d") "calendar:\n"
	                              "  hours: [\"09:00-17:00\"]\n"
	                              "  holidays_file: nowhere.yaml\n",
	      NAME ":9:18: error: cannot read holidays file \"tests/unit/data/nowhere.yaml\": No "
	           "such file or directory (calendar.holidays_file)\n");
	check(BASE POLICY("1h", "1d") "calendar:\n"
	                              "  hours: [\"09:00-17:00\"]\n"
	                              "  holidays_file: .\n",
	      NAME ":9:18: error: cannot read holidays file \"tests/unit/data/.\": not a regular "
	           "file (calendar.holidays_file)\n");
}

static void test_coverage_warnings(void **state)
{
	(void)state;
	/* today 2026-12-03: the sample's 2026-12-31 is 28 days away */
	rules_free(load_as_of(
	        "2026-12-03", BASE CN_CALENDAR POLICY("1wh", "13wd"),
	        "tests/unit/data/../../../conf/holidays/cn-2026.yaml:33:16: warning: covered_until "
	        "2026-12-31 is only 28 days after today (2026-12-03): add next year's holiday "
	        "arrangement (the State Council publishes it, usually in November) "
	        "(covered_until)\n"));
	/* 30 days: no warning */
	rules_free(load_as_of("2026-12-01", BASE CN_CALENDAR POLICY("1wh", "13wd"), ""));
	rules_free(load_as_of(
	        "2027-01-05", BASE CN_CALENDAR POLICY("1h", "1d"),
	        "tests/unit/data/../../../conf/holidays/cn-2026.yaml:33:16: warning: covered_until "
	        "2026-12-31 has passed (today is 2027-01-05): dates after it have no known "
	        "holiday arrangement; add the new year's (covered_until)\n"));
	/* the later covered_until of the two counts: the rules' own here */
	rules_free(load_as_of("2026-12-03",
	                      BASE CN_CALENDAR "  covered_until: 2027-12-31\n" POLICY("1h", "1d"),
	                      ""));
	rules_free(load_as_of("2026-12-03",
	                      BASE
	                      "calendar: {hours: [\"09:00-17:00\"], holidays_file: "
	                      "holidays_2027.yaml, covered_until: 2026-12-31}\n" POLICY("1h", "1d"),
	                      ""));
	/* a list of files, a year each: both years' dates, the later covered_until */
	struct rules *r = load_as_of("2026-12-03",
	                             BASE "calendar:\n"
	                                  "  hours: [\"09:00-17:00\"]\n"
	                                  "  holidays_file: [../../../conf/holidays/cn-2026.yaml, "
	                                  "holidays_2027.yaml]\n" POLICY("1h", "1d"),
	                             "");
	int64_t day;
	calendar_parse_date("2027-01-01", 10, &day);
	assert_false(calendar_is_workday(r->calendar, day, NULL));
	assert_false(calendar_is_workday(r->calendar, day - 365, NULL)); /* 2026-01-01 */
	assert_int_equal(calendar_covered_until(r->calendar), day + 364);
	rules_free(r);
	rules_free(load_as_of(
	        "2026-06-01", BASE "calendar: {hours: [\"09:00-17:00\"]}\n" POLICY("1h", "1d"),
	        NAME ":6:11: warning: calendar has no covered_until: say up to which date the "
	             "holiday arrangement is known, and add each year's when it is published "
	             "(calendar)\n"));
	/* a working duration past covered_until: 2026-12-03 .. 12-31 has 21 working days */
	rules_free(load_as_of(
	        "2026-12-03",
	        BASE "calendar: {hours: [\"09:00-17:00\"], covered_until: 2027-01-30}\n"
	             "policies: [{name: d, match: {}, ack_within: 21wd, resolve_within: "
	             "[20wd, 41wd, 43wd]}]\n",
	        NAME ":7:80: warning: working duration \"43wd\" is longer than the 42wd from "
	             "today to covered_until 2027-01-30: its deadlines can fall on dates whose "
	             "holiday arrangement is not known yet (policies[0].resolve_within[2])\n"));
}

static void test_working_durations(void **state)
{
	(void)state;
	check(BASE POLICY("1wh", "1d"),
	      NAME ":6:66: error: duration \"1wh\" is in working units, which need a calendar: "
	           "section (policies[0].ack_within)\n");
	check(BASE "calendar: {hours: [\"09:00-17:00\"], covered_until: 2045-01-01}\n"
	           "policies: [{name: d, match: {}, ack_within: 1h30wm, resolve_within: [1wd, "
	           "0wh, 3651wd, 3650wd, 1wd1h]}]\n",
	      NAME ":7:45: error: duration \"1h30wm\" mixes clock units (ms, s, m, h, d) and "
	           "working units (wm, wh, wd) (policies[0].ack_within)\n" NAME
	           ":7:75: error: duration \"0wh\" must be greater than zero "
	           "(policies[0].resolve_within[1])\n" NAME
	           ":7:80: error: duration \"3651wd\" is longer than 3650wd "
	           "(policies[0].resolve_within[2])\n" NAME
	           ":7:96: error: duration \"1wd1h\" mixes clock units (ms, s, m, h, d) and "
	           "working units (wm, wh, wd) (policies[0].resolve_within[4])\n");
	check(BASE POLICY("3651d", "1d"),
	      NAME ":6:66: error: duration \"3651d\" is longer than 3650d "
	           "(policies[0].ack_within)\n");
}

/* ---- arithmetic: worked examples on the 2026 arrangement ---- */

static void test_worked_examples(void **state)
{
	(void)state;
	struct rules *r = load_as_of("2026-06-01", BASE CN_CALENDAR POLICY("1wh", "13wd"), "");
	const struct calendar *c = r->calendar;
	struct wdur wh4 = {4 * HOUR, true}, wh1 = {HOUR, true}, wd1 = {7 * HOUR, true};

	/* SPEC §3.1: 16:50 on Wed 2026-09-30, the National Day eve, + 4wh: 11:50 on Thu 10-08 */
	assert_time(calendar_deadline(c, at("2026-09-30T16:50:00+08:00"), wh4),
	            "2026-10-08T11:50:00+08:00");
	/* clock time: 20:50 that evening */
	assert_time(calendar_deadline(c, at("2026-09-30T16:50:00+08:00"),
	                              (struct wdur){4 * HOUR, false}),
	            "2026-09-30T20:50:00+08:00");
	/* before work: from 08:30 */
	assert_time(calendar_deadline(c, at("2026-10-08T07:00:00+08:00"), wh1),
	            "2026-10-08T09:30:00+08:00");
	/* inside the morning, over lunch */
	assert_time(calendar_deadline(c, at("2026-10-08T11:30:00+08:00"), wh1),
	            "2026-10-08T14:30:00+08:00");
	/* landing on the end of the morning is 12:00, not 14:00 */
	assert_time(calendar_deadline(c, at("2026-10-08T11:00:00+08:00"), wh1),
	            "2026-10-08T12:00:00+08:00");
	/* during lunch: from 14:00 */
	assert_time(calendar_deadline(c, at("2026-10-08T12:30:00+08:00"), wh1),
	            "2026-10-08T15:00:00+08:00");
	/* after work: the next morning; Fri 10-09 17:00 + 1wh reaches the make-up Sat 10-10 */
	assert_time(calendar_deadline(c, at("2026-10-09T17:00:00+08:00"), wh1),
	            "2026-10-10T09:00:00+08:00");
	/* a weekend: Fri 2026-11-06 17:00 + 1wh is Mon 09:00 */
	assert_time(calendar_deadline(c, at("2026-11-06T17:00:00+08:00"), wh1),
	            "2026-11-09T09:00:00+08:00");
	assert_time(calendar_deadline(c, at("2026-11-07T10:00:00+08:00"), wd1),
	            "2026-11-09T17:30:00+08:00");
	/* the Spring Festival: Sat 02-14 is worked, 02-15 .. 02-23 are not */
	assert_time(calendar_deadline(c, at("2026-02-13T17:00:00+08:00"), wh1),
	            "2026-02-14T09:00:00+08:00");
	assert_time(calendar_deadline(c, at("2026-02-14T17:00:00+08:00"), wh1),
	            "2026-02-24T09:00:00+08:00");
	/* 13wd from Mon 2026-09-21 09:00: 13 working days later, the holidays skipped */
	assert_time(calendar_deadline(c, at("2026-09-21T09:00:00+08:00"),
	                              (struct wdur){13 * 7 * HOUR, true}),
	            "2026-10-15T09:00:00+08:00");
	/* the working time between two instants */
	assert_int_equal(calendar_worktime(c, at("2026-09-30T16:50:00+08:00"),
	                                   at("2026-10-08T11:50:00+08:00")),
	                 4 * HOUR);
	assert_int_equal(calendar_worktime(c, at("2026-10-01T00:00:00+08:00"),
	                                   at("2026-10-08T00:00:00+08:00")),
	                 0);
	/*
	 * Adding no working time is the instant itself, at a period's end too: a case
	 * deadline of 17:30, parked from 18:00 to 20:00, stays 17:30 (not 08:30 the
	 * next morning).
	 */
	int64_t end = at("2026-10-08T17:30:00+08:00");
	assert_int_equal(calendar_add(c, end,
	                              calendar_worktime(c, at("2026-10-08T18:00:00+08:00"),
	                                                at("2026-10-08T20:00:00+08:00"))),
	                 end);
	assert_int_equal(calendar_add(c, at("2026-10-08T22:00:00+08:00"), 0),
	                 at("2026-10-08T22:00:00+08:00"));
	/* route_deadlines counts in working time too, and due_at still caps */
	int64_t ack, res, t = at("2026-09-30T16:50:00+08:00");
	route_deadlines(r, &r->policies[0], 0, t, TIME_NONE, &ack, &res);
	assert_time(ack, "2026-10-08T08:50:00+08:00");
	assert_time(res, "2026-10-23T16:50:00+08:00");
	route_deadlines(r, &r->policies[0], 0, t, t + HOUR, &ack, &res);
	assert_int_equal(res, t + HOUR);
	rules_free(r);
}

/* Deadlines never pass 9999-12-31T23:59:59.999Z, whatever t and d. */
static void test_saturation(void **state)
{
	(void)state;
	struct rules *r = load_as_of("2026-06-01", BASE CN_CALENDAR POLICY("1wh", "13wd"), "");
	const struct calendar *c = r->calendar;
	const int64_t latest = TIME_LATEST_MS;
	struct wdur big = {3650 * 7 * HOUR, true}, clock = {3650 * 86400000LL, false};

	assert_int_equal(calendar_deadline(c, at("9999-12-01T00:00:00Z"), big), latest);
	assert_int_equal(calendar_deadline(c, at("9999-12-31T23:00:00Z"), clock), latest);
	assert_int_equal(calendar_deadline(c, latest, big), latest);
	assert_int_equal(calendar_deadline(c, INT64_MAX, big), latest);
	assert_int_equal(calendar_deadline(c, INT64_MAX, clock), latest);
	assert_int_equal(calendar_deadline(NULL, INT64_MAX - 5, clock), latest);
	assert_int_equal(calendar_deadline(NULL, 0, clock), clock.ms);
	/* from the earliest instants the clock can show */
	assert_true(calendar_deadline(c, INT64_MIN, big) > INT64_MIN);
	assert_true(calendar_deadline(c, -62135596800000LL, big) > -62135596800000LL);
	/* 9999-12-31 is a Friday: its hours still count, until the last instant */
	assert_time(
	        calendar_deadline(c, at("9999-12-31T08:30:00+08:00"), (struct wdur){HOUR, true}),
	        "9999-12-31T09:30:00+08:00");
	rules_free(r);
}

/* ---- arithmetic: properties against a minute-by-minute walk ---- */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t next_rand(void)
{
	return test_rand(&rng);
}

/* Is the minute from m working time: its local date a working day, its time in the hours? */
static bool ref_working(const struct calendar *c, int64_t m)
{
	int64_t local = tz_local(calendar_tz(c), m);
	int64_t day = local / 86400000 - (local % 86400000 < 0), tod = local - day * 86400000;
	size_t n;
	const struct cal_hours *h = calendar_hours(c, &n);

	if (!calendar_is_workday(c, day, NULL))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (tod >= h[i].start && tod < h[i].end)
			return true;
	}
	return false;
}

/* t (on a minute) plus minutes of working time, one minute at a time. */
static int64_t ref_add(const struct calendar *c, int64_t t, int64_t minutes)
{
	for (int64_t m = t;; m += MIN) {
		if (ref_working(c, m) && --minutes == 0)
			return m + MIN;
	}
}

/* A duration in minutes, as rules write them: mostly hours and a day or two, up to 13wd. */
static int64_t random_minutes(const struct calendar *c)
{
	int64_t wd = calendar_day_ms(c) / MIN;

	switch (next_rand() % 4) {
	case 0:
		return 1 + (int64_t)(next_rand() % 60);
	case 1:
		return 1 + (int64_t)(next_rand() % (uint64_t)wd);
	case 2:
		return 1 + (int64_t)(next_rand() % (uint64_t)(3 * wd));
	default:
		return 1 + (int64_t)(next_rand() % (uint64_t)(13 * wd));
	}
}

static void check_properties(const struct calendar *c, int64_t from, int64_t to, int cases)
{
	char t1[TIME_BUFSZ];

	for (int i = 0; i < cases; i++) {
		int64_t t = from + (int64_t)(next_rand() % (uint64_t)((to - from) / MIN)) * MIN;
		int64_t a = random_minutes(c), b = random_minutes(c);
		int64_t got = calendar_add(c, t, a * MIN), want = ref_add(c, t, a);

		time_format(t, t1);
		if (got != want) {
			char g[TIME_BUFSZ], w[TIME_BUFSZ];
			time_format(got, g);
			time_format(want, w);
			fail_msg("%s + %lld working minutes: got %s, want %s", t1, (long long)a, g,
			         w);
		}
		/* the last minute consumed is working time: the result is in it or at its end */
		if (!ref_working(c, got - MIN))
			fail_msg("%s + %lld wm: the minute before the result is not working time",
			         t1, (long long)a);
		/* add(a + b) == add(add(a), b) */
		int64_t ab = calendar_add(c, t, (a + b) * MIN);
		if (ab != calendar_add(c, got, b * MIN))
			fail_msg("%s: add(%lld + %lld) differs from add(add(%lld), %lld)", t1,
			         (long long)a, (long long)b, (long long)a, (long long)b);
		/* monotonic in the duration and in the start, in ms too */
		if (a <= b ? got > calendar_add(c, t, b * MIN) : got < calendar_add(c, t, b * MIN))
			fail_msg("%s: adding more gave an earlier deadline", t1);
		int64_t later = t + (int64_t)(next_rand() % (uint64_t)(3 * 86400000LL));
		if (calendar_add(c, later, a * MIN) < got)
			fail_msg("%s: starting later gave an earlier deadline", t1);
		int64_t ms = 1 + (int64_t)(next_rand() % (uint64_t)(a * MIN));
		if (calendar_add(c, t, ms) > got ||
		    calendar_add(c, t, ms - 1) > calendar_add(c, t, ms))
			fail_msg("%s: not monotonic within a minute", t1);
		if (calendar_add(c, t, 0) != t)
			fail_msg("%s + 0: not the instant itself", t1);
		/* and worktime is its inverse */
		if (calendar_worktime(c, t, got) != a * MIN)
			fail_msg("%s: worktime to the deadline is not the duration", t1);
	}
}

static void test_properties_shanghai(void **state)
{
	(void)state;
	struct rules *r = load_as_of("2026-06-01", BASE CN_CALENDAR POLICY("1wh", "13wd"), "");

	/* 2026 with its arrangement, and the years after it (weekdays alone) */
	check_properties(r->calendar, at("2025-12-20T00:00:00Z"), at("2027-01-10T00:00:00Z"), 1500);
	check_properties(r->calendar, at("2027-01-01T00:00:00Z"), at("2031-01-01T00:00:00Z"), 300);
	rules_free(r);
}

/*
 * Berlin and New York with hours across 01:00 .. 03:30, where the clocks
 * change, on every day but Saturday: an hour skipped is not worked, an hour
 * repeated is worked twice. Also past 2037, where the files' rule takes over.
 */
static void test_properties_dst(void **state)
{
	static const char *const zones[] = {"Europe/Berlin", "America/New_York"};
	char yaml[2048];

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		snprintf(yaml, sizeof(yaml),
		         BASE "calendar:\n"
		              "  timezone: %s\n"
		              "  hours: [\"00:30-03:30\", \"08:00-12:00\", \"13:00-17:00\"]\n"
		              "  weekdays: [sun, mon, tue, wed, thu, fri]\n"
		              "  holidays: [2026-12-24..2026-12-26, 2027-01-01, 2026-03-29]\n"
		              "  workdays: [2026-10-31]\n"
		              "  covered_until: 2027-12-31\n" POLICY("1wh", "1wd"),
		         zones[k]);
		struct rules *r = load_as_of("2026-06-01", yaml, "");
		/* the changes of 2026 and 2027, each side, and a stretch of the rule */
		const char *const from[] = {"2026-03-01T00:00:00Z", "2026-10-10T00:00:00Z",
		                            "2027-03-05T00:00:00Z", "2027-10-25T00:00:00Z",
		                            "2026-12-15T00:00:00Z", "2040-03-01T00:00:00Z"};
		for (size_t i = 0; i < 6; i++)
			check_properties(r->calendar, at(from[i]), at(from[i]) + 40 * 86400000LL,
			                 250);
		rules_free(r);
	}
}

/* A day of 00:00-24:00 on every weekday: working time is all time, but for holidays. */
static void test_all_day(void **state)
{
	(void)state;
	struct rules *r = load_as_of(
	        "2026-06-01",
	        BASE "calendar: {timezone: Europe/Berlin, hours: [\"00:00-24:00\"], weekdays: "
	             "[mon, tue, wed, thu, fri, sat, sun], holidays: [2026-10-25], covered_until: "
	             "2027-12-31}\n" POLICY("1wh", "1wd"),
	        "");
	const struct calendar *c = r->calendar;

	assert_time(calendar_add(c, at("2026-06-01T10:00:00Z"), 48 * HOUR), "2026-06-03T10:00:00Z");
	/* the long Sunday of 2026-10-25 (25 hours) is a holiday: skipped whole */
	assert_time(calendar_add(c, at("2026-10-24T21:00:00Z"), 2 * HOUR), "2026-10-26T00:00:00Z");
	/* 2026-03-29 is 23 hours long: a day of work ends 24 hours later, on the clock */
	assert_time(calendar_add(c, at("2026-03-28T23:00:00Z"), 23 * HOUR), "2026-03-29T22:00:00Z");
	rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_load_sample_calendar),
	        cmocka_unit_test(test_default_zone),
	        cmocka_unit_test(test_calendar_errors),
	        cmocka_unit_test(test_holidays_file_errors),
	        cmocka_unit_test(test_coverage_warnings),
	        cmocka_unit_test(test_working_durations),
	        cmocka_unit_test(test_worked_examples),
	        cmocka_unit_test(test_saturation),
	        cmocka_unit_test(test_properties_shanghai),
	        cmocka_unit_test(test_properties_dst),
	        cmocka_unit_test(test_all_day),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
