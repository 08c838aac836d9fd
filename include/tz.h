/*
 * tz.h: time zones from the system's tz database (TZif files under
 * /usr/share/zoneinfo, or $TZDIR), read by hand: no TZ variable, no
 * localtime_r, nothing global, so that rules can be loaded in a thread
 * while the loop converts times. A zone is immutable once loaded.
 *
 * Times are milliseconds: instants since the epoch (UTC), and local wall
 * times as milliseconds since 1970-01-01T00:00 on the zone's clock.
 */
#ifndef GR_TZ_H
#define GR_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

#define TZ_NAME_MAX 255

/*
 * The zone of an IANA name ("Asia/Shanghai"). Returns NULL with a sentence
 * in err (`unknown time zone "Asia/Shanghia"`) when the name is not a zone
 * of the database or its file is not valid TZif. Caller frees with tz_free.
 */
struct tz *tz_load(const char *name, char *err, size_t errsz);
/* A zone of one offset (ms east) all the time, named name. */
struct tz *tz_fixed(const char *name, int64_t offset);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/*
 * The offset from UTC (ms east) in effect at instant t, and, when from and
 * until are not NULL, a span [*from, *until) around t over which it does
 * not change (INT64_MIN / INT64_MAX for no end).
 */
int64_t tz_offset(const struct tz *z, int64_t t, int64_t *from, int64_t *until);

/* The least and greatest offsets the zone ever has (ms). */
int64_t tz_min_offset(const struct tz *z);
int64_t tz_max_offset(const struct tz *z);

/* The local wall time of instant t. */
int64_t tz_local(const struct tz *z, int64_t t);

/*
 * The instant of a local wall time. A local time that happens twice (the
 * hour repeated when clocks go back) is its earlier instant; one that
 * never happens (the hour skipped when clocks go forward) is the instant
 * the clocks jump, the first one after it. So the mapping never goes
 * backwards: a later local time is never an earlier instant.
 */
int64_t tz_utc(const struct tz *z, int64_t local);

#endif
