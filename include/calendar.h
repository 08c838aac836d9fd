/*
 * calendar.h: working time on a holiday calendar (SPEC §3.1). Which dates
 * are working days (the working weekdays, less the holidays, plus the
 * make-up working days, 调休), the working hours of such a day in the
 * calendar's time zone, and the arithmetic of deadlines in working time.
 *
 * A calendar is immutable once loaded, so that the loop may compute
 * deadlines while a reload builds the next one in a thread.
 *
 * Dates are day numbers: days since 1970-01-01 (time_days_from_civil).
 */
#ifndef GR_CALENDAR_H
#define GR_CALENDAR_H

#include <stdbool.h>

#include "timeutil.h"
#include "tz.h"
#include "yamldoc.h"

#define CAL_MAX_HOURS  16 /* working intervals of one day */
#define CAL_DATE_BUFSZ 11 /* "2026-10-01" and NUL */

/* One working interval of a day: ms after local midnight, 0 <= start < end <= 24 h. */
struct cal_hours {
	int64_t start, end;
};

/* Why a date is or is not a working day. */
enum cal_mark {
	CAL_PLAIN,   /* its weekday decides */
	CAL_HOLIDAY, /* listed in holidays */
	CAL_WORKDAY, /* listed in workdays (调休) */
};

struct calendar;

/*
 * The calendar: the rules file's `calendar:` mapping n, read from y, and
 * its holidays_file (relative to rules_path's folder). Every mistake is
 * reported to y's diagnostics, those of the holidays file naming that
 * file; so are the coverage warnings, counted from today (a day number in
 * the calendar's zone; INT64_MIN: the date of now there). Returns NULL
 * when there was an error. Caller frees with calendar_free.
 */
struct calendar *calendar_load(struct ydoc *y, const struct ynode *n, const char *rules_path,
                               int64_t now, int64_t today);
void calendar_free(struct calendar *c);

/*
 * t + d: plain milliseconds for a clock duration, working time on c for a
 * working one (c must then not be NULL). Adding working time starts at t
 * if t is inside working time, else at the start of the next working
 * interval, and consumes d across working intervals only; a deadline that
 * lands on an interval's end is that end. Never overflows: the result is
 * at most TIME_LATEST_MS, for any t and any d.
 */
int64_t calendar_deadline(const struct calendar *c, int64_t t, struct wdur d);

/* t plus work ms of working time (calendar_deadline's working case); t itself for 0. */
int64_t calendar_add(const struct calendar *c, int64_t t, int64_t work);

/* The working time in [from, to) (ms). */
int64_t calendar_worktime(const struct calendar *c, int64_t from, int64_t to);

/* Is day a working day, and why (mark may be NULL). */
bool calendar_is_workday(const struct calendar *c, int64_t day, enum cal_mark *mark);

/* The working intervals of a working day, ascending. */
const struct cal_hours *calendar_hours(const struct calendar *c, size_t *n);

/* The working weekdays: bit w for weekday w (0 = Sunday). */
unsigned calendar_weekdays(const struct calendar *c);

/* The first and last listed dates (holidays or workdays); *lo > *hi when none is. */
void calendar_listed(const struct calendar *c, int64_t *lo, int64_t *hi);

/* One working day (1wd): the sum of the hours. */
int64_t calendar_day_ms(const struct calendar *c);

const struct tz *calendar_tz(const struct calendar *c);

/* covered_until, or INT64_MIN when neither file gives it. */
int64_t calendar_covered_until(const struct calendar *c);

/* The local date of instant t in zone z. */
int64_t calendar_day_of(const struct tz *z, int64_t t);

/* The instant a local date begins in zone z (00:00, or the first instant after it). */
int64_t calendar_day_start(const struct tz *z, int64_t day);

/* "2026-10-01" (years 1970..9999): 0 and the day number, or -1. */
int calendar_parse_date(const char *s, size_t len, int64_t *day);
void calendar_format_date(int64_t day, char out[CAL_DATE_BUFSZ]);

/* "08:30" as ms after midnight; "24:00" only when end is true. 0, or -1. */
int calendar_parse_hhmm(const char *s, size_t len, bool end, int64_t *ms);

/* The weekday of a day number, 0 = Sunday; and its English abbreviation ("Wed"). */
int calendar_weekday(int64_t day);
const char *calendar_weekday_name(int wd);
/* ... and its key in the rules ("wed"). */
const char *calendar_weekday_key(int wd);

#endif
