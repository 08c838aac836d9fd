/*
 * ctl_calendar.c: `gridctl calendar` (SPEC §3.1), the working days and
 * hours of a span of dates, and `gridctl schedule` (SPEC §3.2), who is on
 * duty when. Neither needs Redis: both read the rules file only, and
 * print in the rules' time zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_calendar.h"
#include "schedule.h"

#define DEFAULT_CAL_DAYS   14
#define DEFAULT_SCHED_DAYS 7
#define MAX_DAYS           3660

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* --days N: 1 .. MAX_DAYS. */
static int days_option(struct ctl *c, const char *arg, int64_t *days)
{
	if (parse_int64(arg, 1, MAX_DAYS, days) < 0)
		return ctl_usage(c, "--days: expected a number of days from 1 to %d, got \"%s\"",
		                 MAX_DAYS, arg);
	return 0;
}

/*
 * The options of both commands: the start of the span (--from DATE, a
 * day number, or --at TIME, an instant: opts has one of them) and --days.
 * 0, or CTL_EXIT_USAGE after reporting.
 */
static int span_options(struct ctl *c, int argc, char **argv, const struct option *opts,
                        int64_t *start, int64_t *days)
{
	int ch;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		if (ch == 'f' && calendar_parse_date(optarg, strlen(optarg), start) < 0)
			return ctl_usage(c, "--from: expected a date YYYY-MM-DD, got \"%s\"",
			                 optarg);
		if (ch == 'a' && time_parse_rfc3339(optarg, strlen(optarg), start) < 0)
			return ctl_usage(c,
			                 "--at: expected an RFC 3339 time such as "
			                 "2026-11-26T12:00:00+08:00, got \"%s\"",
			                 optarg);
		if (ch == 'd' && days_option(c, optarg, days) != 0)
			return CTL_EXIT_USAGE;
		if (ch != 'f' && ch != 'a' && ch != 'd')
			return CTL_EXIT_USAGE;
	}
	return 0;
}

static void put_hhmm(struct buf *b, int64_t ms)
{
	buf_printf(b, "%02d:%02d", (int)(ms / 3600000), (int)(ms / 60000 % 60));
}

/* "2026-10-01 Thu  not a working day  holiday", one line per date. */
static void render_calendar(const struct calendar *cal, int64_t from, int64_t days, struct buf *out)
{
	size_t nh;
	const struct cal_hours *h = calendar_hours(cal, &nh);

	for (int64_t day = from; day < from + days; day++) {
		char date[CAL_DATE_BUFSZ];
		enum cal_mark mark;
		bool works = calendar_is_workday(cal, day, &mark);

		calendar_format_date(day, date);
		buf_printf(out, "%s %s  ", date, calendar_weekday_name(calendar_weekday(day)));
		if (!works)
			buf_puts(out, "not a working day");
		for (size_t i = 0; works && i < nh; i++) {
			buf_puts(out, i > 0 ? " " : "");
			put_hhmm(out, h[i].start);
			buf_putc(out, '-');
			put_hhmm(out, h[i].end);
		}
		if (mark != CAL_PLAIN)
			buf_puts(out, mark == CAL_HOLIDAY ? "  holiday" : "  workday");
		buf_putc(out, '\n');
	}
}

int ctl_cmd_calendar(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"from", required_argument, NULL, 'f'},
	        {"days", required_argument, NULL, 'd'},
	        {NULL, 0, NULL, 0},
	};
	int64_t from = INT64_MIN, days = DEFAULT_CAL_DAYS;

	if (span_options(c, argc, argv, opts, &from, &days) != 0)
		return CTL_EXIT_USAGE;
	if (argc - optind != 1)
		return ctl_usage(c, "expected one rules file");
	struct rules *r = ctl_load_rules(argv[optind], false);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	if (r->calendar == NULL) {
		rules_free(r);
		return ctl_fail(c, "%s has no calendar: section", argv[optind]);
	}
	if (from == INT64_MIN)
		from = calendar_day_of(r->tz, time_now_ms());
	int64_t covered = calendar_covered_until(r->calendar);
	if (covered == INT64_MIN || from + days - 1 > covered) {
		char date[CAL_DATE_BUFSZ];
		if (covered != INT64_MIN)
			calendar_format_date(covered, date);
		ctl_warn(c,
		         "the holiday arrangement is known up to %s: later dates follow the "
		         "weekdays "
		         "alone",
		         covered != INT64_MIN ? date : "no date (no covered_until)");
	}
	struct buf out;
	buf_init(&out);
	render_calendar(r->calendar, from, days, &out);
	ctl_write(&out);
	buf_free(&out);
	rules_free(r);
	return 0;
}

/* An instant as "YYYY-MM-DD HH:MM" in zone z. */
static void put_local(struct buf *b, const struct tz *z, int64_t t)
{
	char date[CAL_DATE_BUFSZ];
	int64_t local = tz_local(z, t), day = floordiv(local, DAY_MS);

	calendar_format_date(day, date);
	buf_printf(b, "%s ", date);
	put_hhmm(b, local - day * DAY_MS);
}

static void put_people(struct buf *b, const struct rules *r, struct rules_plist pl)
{
	if (pl.n == 0)
		buf_puts(b, "nobody");
	for (size_t i = 0; i < pl.n; i++) {
		const struct rules_person *p = &r->people[pl.ids[i]];
		buf_printf(b, "%s%s (%s)", i > 0 ? ", " : "", p->name, p->id);
	}
}

/*
 * One line for the state at `at`, then one per change up to `until`:
 * "2026-02-15 08:00  北街带班领导 (beijie-leader)  春节带班". A handoff to
 * the same people is no change.
 */
static void render_schedule(const struct rules *r, const struct schedule *s, int64_t at,
                            int64_t until, struct buf *out)
{
	struct rules_plist last = {NULL, 0};
	const char *last_note = NULL;
	bool first = true;

	for (int64_t t = at; t < until; t = schedule_next_change(s, r->tz, t)) {
		uint32_t st = schedule_state(s, r->tz, t);
		struct rules_plist pl = schedule_people(s, st);
		const char *note = schedule_note(s, st);
		bool same = !first && pl.n == last.n &&
		            (pl.n == 0 || memcmp(pl.ids, last.ids, pl.n * sizeof(*pl.ids)) == 0) &&
		            (note == last_note ||
		             (note != NULL && last_note != NULL && strcmp(note, last_note) == 0));
		if (!same) {
			put_local(out, r->tz, t);
			buf_puts(out, "  ");
			put_people(out, r, pl);
			if (note != NULL)
				buf_printf(out, "  %s", note);
			else if (st == SCHED_NONE)
				buf_puts(out, "  (before the start)");
			buf_putc(out, '\n');
		}
		first = false;
		last = pl;
		last_note = note;
	}
}

int ctl_cmd_schedule(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"at", required_argument, NULL, 'a'},
	        {"days", required_argument, NULL, 'd'},
	        {NULL, 0, NULL, 0},
	};
	int64_t at = time_now_ms(), days = DEFAULT_SCHED_DAYS;

	if (span_options(c, argc, argv, opts, &at, &days) != 0)
		return CTL_EXIT_USAGE;
	if (argc - optind != 1 && argc - optind != 2)
		return ctl_usage(c, "expected a rules file and, optionally, a schedule name");
	struct rules *r = ctl_load_rules(argv[optind], false);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	int only = -1;
	if (argc - optind == 2 && (only = rules_schedule(r, argv[optind + 1])) < 0) {
		int rc = ctl_fail(c, "%s has no schedule \"%s\"", argv[optind], argv[optind + 1]);
		rules_free(r);
		return rc;
	}
	if (r->nschedules == 0) {
		rules_free(r);
		return ctl_fail(c, "%s has no schedules: section", argv[optind]);
	}
	struct buf out;
	buf_init(&out);
	for (size_t i = 0; i < r->nschedules; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		if (only < 0)
			buf_printf(&out, "%s%s:\n", i > 0 ? "\n" : "", r->schedules[i].name);
		render_schedule(r, &r->schedules[i], at, at + days * DAY_MS, &out);
	}
	ctl_write(&out);
	buf_free(&out);
	rules_free(r);
	return 0;
}
