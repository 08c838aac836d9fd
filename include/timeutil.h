/*
 * timeutil.h: wall-clock milliseconds, RFC 3339 in and out, and the
 * duration syntax of the rules file ("500ms", "90s", "1h30m", "1d").
 */
#ifndef GR_TIMEUTIL_H
#define GR_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_NONE  INT64_MIN /* "no time given" */
#define TIME_BUFSZ 32        /* "2026-11-26T04:00:00.123Z" and NUL */
#define DUR_BUFSZ  48

/* The latest instant of a time or deadline, 9999-12-31T23:59:59.999Z: deadlines saturate here. */
#define TIME_LATEST_MS 253402300799999LL
#define DAY_MS         86400000LL

int64_t time_now_ms(void);

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back. The
 * weekday of day n is (n + 4) mod 7 counted from Sunday (0).
 */
int64_t time_days_from_civil(int64_t y, int m, int d);
void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/*
 * RFC 3339 date-time with any offset ("Z", "+08:00", "-05:30"); 'T', 't'
 * or ' ' between date and time; any number of fraction digits (truncated to
 * milliseconds). Fields range-checked (Feb 29 only in leap years); a leap
 * second, second 60 of the minute 23:59 UTC, reads as 23:59:59.999. The
 * instant must lie in 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z
 * (SPEC v2 §4). Returns 0 and UTC ms, or -1.
 */
int time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/* UTC with milliseconds: "2026-11-26T04:00:00.123Z". */
void time_format(int64_t ms, char out[TIME_BUFSZ]);

/*
 * A duration of the rules (SPEC §3, §3.1): milliseconds of clock time, or
 * of working time on the rules' calendar.
 */
struct wdur {
	int64_t ms;
	bool working;
};

/* No duration is longer than 3650 days, or 3650 working days. */
#define DUR_MAX_DAYS 3650

enum {
	DUR_OK = 0,
	DUR_SYNTAX = -1,      /* not <digits><unit>..., or a negative number */
	DUR_ZERO = -2,        /* zero: durations must be greater */
	DUR_MIXED = -3,       /* clock and working units in one ("1h30wm") */
	DUR_NO_CALENDAR = -4, /* working units, and no calendar to count them on */
	DUR_TOO_LONG = -5,    /* more than DUR_MAX_DAYS (working) days */
};

/*
 * A duration: one or more <digits><unit>, all with clock units ms, s, m,
 * h, d, or all with working units wm, wh, wd ("1h30m", "1wd4wh"). wd_ms
 * is the length of one working day (the sum of the calendar's hours), 0
 * when there is no calendar. Returns DUR_OK and *out, or a DUR_ error.
 */
int wdur_parse(const char *s, int64_t wd_ms, struct wdur *out);

/* The same for clock units only: 0 and ms; -2 when zero; -1 for any other error. */
int duration_parse(const char *s, int64_t *ms);

/* The shortest form: 90000 -> "1m30s", 500 -> "500ms", 86400000 -> "1d". */
void duration_format(int64_t ms, char out[DUR_BUFSZ]);

/* The millisecond part of a Redis stream id "1700000000000-0"; 0 or -1. */
int stream_id_ms(const char *id, int64_t *ms);

#endif
