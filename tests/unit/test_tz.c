/*
 * test_tz.c: the TZif reader (tz.h) against glibc's localtime_r on the
 * same files — offsets at many instants, the table's range and the
 * footer's rule past it, zones north and south, with negative daylight
 * time, half hours — and the local-to-UTC rule for skipped and repeated
 * local times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"
#include "timeutil.h"
#include "tz.h"

static const char *const zones[] = {
        "Asia/Shanghai",     "Europe/Berlin",    "America/New_York", "Australia/Sydney",
        "Asia/Kolkata",      "Pacific/Chatham",  "Europe/Dublin",    "America/Sao_Paulo",
        "Africa/Casablanca", "Antarctica/Troll", "America/St_Johns", "UTC",
        "Asia/Urumqi",       "Pacific/Apia",     "Europe/Lisbon",    "America/Godthab",
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	return test_rand(&rng);
}

static struct tz *load(const char *name)
{
	char err[256];
	struct tz *z = tz_load(name, err, sizeof(err));

	if (z == NULL)
		fail_msg("%s: %s", name, err);
	return z;
}

/* glibc's offset at t (seconds), TZ set to the zone. */
static long libc_offset(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		fail_msg("localtime_r failed at %lld", (long long)t);
	return tm.tm_gmtoff;
}

static void check_instant(const struct tz *z, const char *name, time_t t)
{
	int64_t from, until;
	int64_t ms = (int64_t)t * 1000;
	int64_t off = tz_offset(z, ms, &from, &until);
	long want = libc_offset(t);

	if (off != (int64_t)want * 1000)
		fail_msg("%s at %lld: offset %lld ms, glibc %ld s", name, (long long)t,
		         (long long)off, want);
	if (!(from <= ms && ms < until))
		fail_msg("%s at %lld: span [%lld, %lld) does not hold it", name, (long long)t,
		         (long long)from, (long long)until);
	/* the span's ends: the offset holds at both (the last ms before until) */
	if (from != INT64_MIN && from / 1000 > -(1LL << 40) &&
	    tz_offset(z, from, NULL, NULL) != off)
		fail_msg("%s: span start %lld has another offset", name, (long long)from);
	if (until != INT64_MAX && until / 1000 < (1LL << 40) &&
	    tz_offset(z, until - 1, NULL, NULL) != off)
		fail_msg("%s: span end %lld has another offset", name, (long long)until);
	assert_true(off >= tz_min_offset(z) && off <= tz_max_offset(z));
}

static void test_offsets_match_glibc(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++) {
		struct tz *z = load(zones[k]);
		char *dir = getenv("TZDIR");
		char tzvar[300];

		snprintf(tzvar, sizeof(tzvar), ":%s/%s", dir != NULL ? dir : "/usr/share/zoneinfo",
		         zones[k]);
		setenv("TZ", tzvar, 1);
		tzset();
		assert_string_equal(tz_name(z), zones[k]);
		/* 1900 .. 2200: the table, before it and the footer's rule after it */
		for (int i = 0; i < 20000; i++) {
			time_t t = (time_t)(-2208988800LL +
			                    (int64_t)(next_rand() % (300ULL * 365 * 86400)));
			check_instant(z, zones[k], t);
		}
		/* around every change of 2020 .. 2045, second by second where it matters */
		for (time_t t = 1577836800; t < 2366841600; t += 3600) {
			if (libc_offset(t) != libc_offset(t + 3600)) {
				for (time_t s = t - 2; s < t + 3602; s++)
					check_instant(z, zones[k], s);
			}
		}
		tz_free(z);
	}
	unsetenv("TZ");
	tzset();
}

/* local wall time of "YYYY-MM-DD HH:MM" as ms */
static int64_t wall(int y, int m, int d, int hh, int mm)
{
	return time_days_from_civil(y, m, d) * DAY_MS + hh * 3600000LL + mm * 60000LL;
}

static int64_t utc(const char *s)
{
	int64_t ms;

	if (time_parse_rfc3339(s, strlen(s), &ms) != 0)
		fail_msg("bad time %s", s);
	return ms;
}

static void test_local_to_utc(void **state)
{
	struct tz *b = load("Europe/Berlin"), *s = load("Asia/Shanghai");

	(void)state;
	assert_int_equal(tz_utc(b, wall(2026, 1, 15, 9, 0)), utc("2026-01-15T08:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 7, 15, 9, 0)), utc("2026-07-15T07:00:00Z"));
	assert_int_equal(tz_utc(s, wall(2026, 9, 30, 16, 50)), utc("2026-09-30T08:50:00Z"));
	/* 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z; 02:00..03:00 never happens */
	assert_int_equal(tz_utc(b, wall(2026, 3, 29, 1, 59)), utc("2026-03-29T00:59:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 3, 29, 2, 0)), utc("2026-03-29T01:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 3, 29, 2, 30)), utc("2026-03-29T01:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 3, 29, 3, 0)), utc("2026-03-29T01:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 3, 29, 3, 1)), utc("2026-03-29T01:01:00Z"));
	/* 2026-10-25: 03:00 CEST goes back to 02:00 CET at 01:00Z; 02:00..03:00 twice */
	assert_int_equal(tz_utc(b, wall(2026, 10, 25, 1, 59)), utc("2026-10-24T23:59:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 10, 25, 2, 0)), utc("2026-10-25T00:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 10, 25, 2, 30)), utc("2026-10-25T00:30:00Z"));
	assert_int_equal(tz_utc(b, wall(2026, 10, 25, 3, 0)), utc("2026-10-25T02:00:00Z"));
	/* past the table (2037): the footer's rule, the same way */
	assert_int_equal(tz_utc(b, wall(2100, 3, 28, 2, 30)), utc("2100-03-28T01:00:00Z"));
	assert_int_equal(tz_utc(b, wall(2100, 10, 31, 2, 30)), utc("2100-10-31T00:30:00Z"));
	assert_int_equal(tz_local(b, utc("2100-07-01T00:00:00Z")), wall(2100, 7, 1, 2, 0));
	assert_int_equal(tz_local(b, utc("9999-12-31T23:59:59.999Z")),
	                 wall(9999, 12, 31, 23, 59) + 59999 + 3600000);
	tz_free(b);
	tz_free(s);
}

/* Round trips and monotony over random instants, in every zone. */
static void test_local_round_trip(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++) {
		struct tz *z = load(zones[k]);
		for (int i = 0; i < 20000; i++) {
			int64_t u = (int64_t)(next_rand() % 4102444800000ULL); /* 1970 .. 2100 */
			int64_t l = tz_local(z, u), back = tz_utc(z, l);
			if (back > u || tz_local(z, back) != l)
				fail_msg("%s: %lld -> local %lld -> %lld", zones[k], (long long)u,
				         (long long)l, (long long)back);
			int64_t l2 = l + (int64_t)(next_rand() % (3 * 3600000ULL));
			int64_t u2 = tz_utc(z, l2);
			if (u2 < back || tz_local(z, u2) < l2)
				fail_msg("%s: local %lld -> %lld, later local %lld -> %lld",
				         zones[k], (long long)l, (long long)back, (long long)l2,
				         (long long)u2);
		}
		tz_free(z);
	}
}

static void test_unknown_zones(void **state)
{
	static const char *const bad[] = {
	        "Asia/Shanghia", "",     "/etc/passwd", "../../etc/passwd", "Asia//Shanghai",
	        "Asia/",         "Asia", "zone.tab",    "Europe/Berlin\n",  "tzdata.zi",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tz *z = tz_load(bad[i], err, sizeof(err));
		if (z != NULL)
			fail_msg("\"%s\" loaded", bad[i]);
		assert_non_null(strstr(err, "time zone"));
	}
	assert_null(tz_load("Asia/Shanghia", err, sizeof(err)));
	assert_string_equal(err, "unknown time zone \"Asia/Shanghia\"");
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* Offsets of zone a and b agree at random instants of [lo, hi) seconds. */
static void assert_same_offsets(const struct tz *a, const struct tz *b, int64_t lo, int64_t hi)
{
	for (int i = 0; i < 20000; i++) {
		int64_t t = (lo + (int64_t)(next_rand() % (uint64_t)(hi - lo))) * 1000;
		if (tz_offset(a, t, NULL, NULL) != tz_offset(b, t, NULL, NULL))
			fail_msg("%s and %s differ at %lld", tz_name(a), tz_name(b), (long long)t);
	}
}

/*
 * $TZDIR: a directory of one's own with a version 1 file (the 32-bit block
 * of Shanghai's) and a "slim" one from zic (its rule from 1996 on is the
 * footer alone), each against the system's file.
 */
static void test_tzdir(void **state)
{
	char dir[] = "/tmp/test_tz.XXXXXX", path[256], err[256], cmd[600];
	unsigned char data[1 << 16];

	(void)state;
	assert_non_null(mkdtemp(dir));
	FILE *fp = fopen("/usr/share/zoneinfo/Asia/Shanghai", "rb");
	assert_non_null(fp);
	size_t n = fread(data, 1, sizeof(data), fp);
	fclose(fp);
	uint32_t c[6];
	for (int i = 0; i < 6; i++)
		c[i] = (uint32_t)data[20 + 4 * i] << 24 | (uint32_t)data[21 + 4 * i] << 16 |
		       (uint32_t)data[22 + 4 * i] << 8 | data[23 + 4 * i];
	size_t v1 = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
	assert_true(v1 <= n);
	data[4] = '\0';
	snprintf(path, sizeof(path), "%s/V1", dir);
	write_file(path, data, v1);
	snprintf(path, sizeof(path), "%s/Slim.zi", dir);
	const char *src = "Rule EU 1981 max - Mar lastSun 1:00u 1:00 S\n"
	                  "Rule EU 1996 max - Oct lastSun 1:00u 0 -\n"
	                  "Zone Test/Slim 1:00 EU CE%sT\n";
	write_file(path, src, strlen(src));
	snprintf(cmd, sizeof(cmd), "zic -b slim -d %s %s/Slim.zi 2>/dev/null", dir, dir);
	bool have_zic = system(cmd) == 0;

	struct tz *shanghai = tz_load("Asia/Shanghai", err, sizeof(err)),
	          *berlin = tz_load("Europe/Berlin", err, sizeof(err));
	setenv("TZDIR", dir, 1);
	struct tz *v1z = tz_load("V1", err, sizeof(err));
	if (v1z == NULL)
		fail_msg("V1: %s", err);
	assert_same_offsets(v1z, shanghai, -2147483648LL, 2147483647LL);
	if (have_zic) {
		struct tz *slim = tz_load("Test/Slim", err, sizeof(err));
		if (slim == NULL)
			fail_msg("Test/Slim: %s", err);
		assert_same_offsets(slim, berlin, 852076800LL, 7258118400LL); /* 1997 .. 2200 */
		tz_free(slim);
	}
	assert_null(tz_load("Asia/Shanghai", err, sizeof(err)));
	assert_string_equal(err, "unknown time zone \"Asia/Shanghai\"");
	/* something that is not TZif */
	assert_null(tz_load("Slim.zi", err, sizeof(err)));
	/* no database at all: UTC is still UTC */
	setenv("TZDIR", "/nonexistent", 1);
	struct tz *u = tz_load("UTC", err, sizeof(err));
	assert_non_null(u);
	assert_int_equal(tz_offset(u, 0, NULL, NULL), 0);
	assert_int_equal(tz_utc(u, 12345), 12345);
	unsetenv("TZDIR");
	tz_free(u);
	tz_free(v1z);
	tz_free(shanghai);
	tz_free(berlin);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_offsets_match_glibc),
	        cmocka_unit_test(test_local_to_utc),
	        cmocka_unit_test(test_local_round_trip),
	        cmocka_unit_test(test_unknown_zones),
	        cmocka_unit_test(test_tzdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
