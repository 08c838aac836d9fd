/*
 * timeutil.h: wall-clock milliseconds, RFC 3339 in and out, and the
 * duration syntax of the rules file ("500ms", "90s", "1h30m", "1d").
 */
#ifndef GR_TIMEUTIL_H
#define GR_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIME_NONE  INT64_MIN /* "no time given" */
#define TIME_BUFSZ 32        /* "2026-11-26T04:00:00.123Z" and NUL */
#define DUR_BUFSZ  48

int64_t time_now_ms(void);

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
 * A duration: one or more <digits><unit> with unit ms, s, m, h, d, in any
 * order ("1h30m", "90s"). Returns 0 and ms; -1 on bad syntax or overflow;
 * -2 when the total is zero (zero and negative durations are errors).
 */
int duration_parse(const char *s, int64_t *ms);

/* The shortest form: 90000 -> "1m30s", 500 -> "500ms", 86400000 -> "1d". */
void duration_format(int64_t ms, char out[DUR_BUFSZ]);

/* The millisecond part of a Redis stream id "1700000000000-0"; 0 or -1. */
int stream_id_ms(const char *id, int64_t *ms);

#endif
