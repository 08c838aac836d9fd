/*
 * test_timeutil.c: RFC 3339 parsing and formatting, durations and stream
 * id times (timeutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timeutil.h"

static int parse(const char *s, int64_t *ms)
{
	return time_parse_rfc3339(s, strlen(s), ms);
}

static void assert_time(const char *s, int64_t want)
{
	int64_t ms = 12345;

	if (parse(s, &ms) != 0)
		fail_msg("\"%s\" refused", s);
	if (ms != want)
		fail_msg("\"%s\": got %lld, want %lld", s, (long long)ms, (long long)want);
}

static void assert_bad_time(const char *s)
{
	int64_t ms = 12345;

	if (parse(s, &ms) != -1)
		fail_msg("\"%s\" accepted as %lld", s, (long long)ms);
	assert_int_equal(ms, 12345); /* untouched on failure */
}

/* The UTC form of an RFC 3339 time. */
static void assert_utc(const char *s, const char *want)
{
	int64_t ms;
	char out[TIME_BUFSZ];

	if (parse(s, &ms) != 0)
		fail_msg("\"%s\" refused", s);
	time_format(ms, out);
	assert_string_equal(out, want);
}

static void test_parse_basic(void **state)
{
	(void)state;
	assert_time("1970-01-01T00:00:00Z", 0);
	assert_time("2000-01-01T00:00:00Z", 946684800000);
	assert_time("2023-11-14T22:13:20Z", 1700000000000);
	assert_time("2023-11-14T22:13:20.000Z", 1700000000000);
}

static void test_parse_offsets(void **state)
{
	(void)state;
	assert_utc("2026-11-26T12:00:00+08:00", "2026-11-26T04:00:00.000Z");
	assert_utc("2026-11-26T12:00:00-05:30", "2026-11-26T17:30:00.000Z");
	assert_utc("2026-11-26T12:00:00+00:00", "2026-11-26T12:00:00.000Z");
	assert_utc("2026-11-26T12:00:00-00:00", "2026-11-26T12:00:00.000Z");
	assert_utc("2026-01-01T02:00:00+08:00", "2025-12-31T18:00:00.000Z");
	assert_utc("2025-12-31T20:00:00-08:00", "2026-01-01T04:00:00.000Z");
	assert_utc("2026-11-26T12:00:00+23:59", "2026-11-25T12:01:00.000Z");
	assert_utc("2026-11-26T12:00:00-23:59", "2026-11-27T11:59:00.000Z");
	assert_bad_time("2026-11-26T12:00:00+24:00");
	assert_bad_time("2026-11-26T12:00:00+08:60");
	assert_bad_time("2026-11-26T12:00:00+0800");
	assert_bad_time("2026-11-26T12:00:00+08");
	assert_bad_time("2026-11-26T12:00:00+8:00");
	assert_bad_time("2026-11-26T12:00:00 +08:00");
}

static void test_parse_fractions(void **state)
{
	(void)state;
	assert_time("1970-01-01T00:00:00.1Z", 100);
	assert_time("1970-01-01T00:00:00.12Z", 120);
	assert_time("1970-01-01T00:00:00.123Z", 123);
	assert_time("1970-01-01T00:00:00.1234Z", 123);
	assert_time("1970-01-01T00:00:00.12345Z", 123);
	assert_time("1970-01-01T00:00:00.123456Z", 123);
	assert_time("1970-01-01T00:00:00.1234567Z", 123);
	assert_time("1970-01-01T00:00:00.12345678Z", 123);
	assert_time("1970-01-01T00:00:00.123456789Z", 123);
	assert_time("1970-01-01T00:00:00.999999999Z", 999);
	assert_time("1970-01-01T00:00:00.000000001Z", 0);
	assert_utc("2026-11-26T12:00:00.123456789+08:00", "2026-11-26T04:00:00.123Z");
	/* truncated, not rounded */
	assert_time("1970-01-01T00:00:00.9999Z", 999);
	assert_bad_time("1970-01-01T00:00:00.Z");
	assert_bad_time("1970-01-01T00:00:00,5Z");
	assert_bad_time("1970-01-01T00:00:00.5");

	/* a very long fraction is still only truncated */
	char s[2100] = "1970-01-01T00:00:00.";
	size_t n = strlen(s);
	memset(s + n, '7', 2000);
	s[n + 2000] = 'Z';
	s[n + 2001] = '\0';
	assert_time(s, 777);
}

static void test_parse_separators(void **state)
{
	(void)state;
	assert_time("2023-11-14t22:13:20z", 1700000000000);
	assert_time("2023-11-14 22:13:20Z", 1700000000000);
	assert_time("2023-11-14T22:13:20z", 1700000000000);
	assert_bad_time("2023-11-14_22:13:20Z");
	assert_bad_time("2023-11-14  22:13:20Z");
	assert_bad_time("2023-11-14T22:13:20 Z");
}

static void test_parse_ranges(void **state)
{
	(void)state;
	assert_time("2024-02-29T00:00:00Z", 1709164800000);
	assert_bad_time("2023-02-29T00:00:00Z");
	assert_time("2000-02-29T00:00:00Z", 951782400000);
	assert_bad_time("1900-02-29T00:00:00Z");
	assert_bad_time("2024-02-30T00:00:00Z");
	assert_bad_time("2026-04-31T00:00:00Z");
	assert_time("2026-12-31T00:00:00Z", 1798675200000);
	assert_bad_time("2026-13-01T00:00:00Z");
	assert_bad_time("2026-00-01T00:00:00Z");
	assert_bad_time("2026-01-00T00:00:00Z");
	assert_bad_time("2026-01-32T00:00:00Z");
	assert_time("2026-01-01T23:59:59Z", 1767311999000);
	assert_bad_time("2026-01-01T24:00:00Z");
	assert_bad_time("2026-01-01T23:60:00Z");
	assert_bad_time("2026-01-01T23:59:61Z");
	assert_time("9999-12-31T23:59:59.999Z", 253402300799999);
	assert_bad_time("9999-12-31T23:59:59-00:01");
	assert_time("9999-12-31T23:59:59+00:01", 253402300739000);
}

/* SPEC v2 §4: from the epoch to the end of year 9999, nothing before. */
static void test_parse_bounds(void **state)
{
	(void)state;
	assert_time("1970-01-01T00:00:00Z", 0);
	assert_time("1970-01-01T08:00:00+08:00", 0);
	assert_bad_time("1970-01-01T07:59:59.999+08:00");
	assert_bad_time("1969-12-31T23:59:59.999Z");
	assert_bad_time("1900-01-01T00:00:00Z");
	assert_bad_time("0001-01-01T00:00:00Z");
	assert_bad_time("0001-01-01T00:00:00-00:01");
	assert_bad_time("0000-01-01T00:00:00Z");
	assert_time("9999-12-31T23:59:59.999Z", 253402300799999);
	assert_time("9999-12-31T23:59:59.999999Z", 253402300799999);
	assert_bad_time("9999-12-31T23:59:59.999-00:01");
}

/* A leap second (23:59:60 UTC) is the last millisecond of the second before it. */
static void test_parse_leap_second(void **state)
{
	(void)state;
	assert_utc("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z");
	assert_utc("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999Z");
	assert_utc("2015-06-30T23:59:60.000Z", "2015-06-30T23:59:59.999Z");
	assert_utc("2017-01-01T07:59:60+08:00", "2016-12-31T23:59:59.999Z");
	assert_utc("2016-12-31T18:29:60-05:30", "2016-12-31T23:59:59.999Z");
	assert_utc("2026-11-26T23:59:60Z", "2026-11-26T23:59:59.999Z");
	assert_time("9999-12-31T23:59:60Z", 253402300799999);
	/* not at 23:59 UTC: no leap second */
	assert_bad_time("2016-12-31T23:58:60Z");
	assert_bad_time("2016-12-31T12:00:60Z");
	assert_bad_time("2016-12-31T23:59:60+08:00");
	assert_bad_time("2016-12-31T23:59:61Z");
}

static void test_parse_garbage(void **state)
{
	int64_t ms = 12345;

	(void)state;
	assert_bad_time("");
	assert_bad_time("now");
	assert_bad_time("2026");
	assert_bad_time("2026-11-26");
	assert_bad_time("2026-11-26T12:00");
	assert_bad_time("2026-11-26T12:00:00");
	assert_bad_time("2026-11-26T12:00:00Zx");
	assert_bad_time("2026-11-26T12:00:00+08:00x");
	assert_bad_time(" 2026-11-26T12:00:00Z");
	assert_bad_time("2026-11-26T12:00:00Z ");
	assert_bad_time("26-11-26T12:00:00Z");
	assert_bad_time("+2026-11-26T12:00:00Z");
	assert_bad_time("2026-1-26T12:00:00Z");
	assert_bad_time("2026-11-26T1:00:00Z");
	assert_bad_time("2026/11/26T12:00:00Z");
	assert_bad_time("1700000000000");
	assert_bad_time("2026-11-26T12:00:00.-1Z");
	/* the length is what counts, not a NUL */
	assert_int_equal(time_parse_rfc3339("2026-11-26T12:00:00Zjunk", 20, &ms), 0);
	assert_int_equal(time_parse_rfc3339("2026-11-26T12:00:00Z", 19, &ms), -1);
	assert_int_equal(time_parse_rfc3339("2026-11-26T12:00:00\0Z", 21, &ms), -1);
	assert_int_equal(time_parse_rfc3339(NULL, 0, &ms), -1);
}

static void assert_format(int64_t ms, const char *want)
{
	char out[TIME_BUFSZ];

	time_format(ms, out);
	assert_string_equal(out, want);
}

static void test_format(void **state)
{
	(void)state;
	assert_format(0, "1970-01-01T00:00:00.000Z");
	assert_format(1700000000123, "2023-11-14T22:13:20.123Z");
	assert_format(-1, "1969-12-31T23:59:59.999Z");
	assert_format(-1000, "1969-12-31T23:59:59.000Z");
	assert_format(-1001, "1969-12-31T23:59:58.999Z");
	assert_format(-86400000, "1969-12-31T00:00:00.000Z");
	assert_format(-86400001, "1969-12-30T23:59:59.999Z");
	assert_format(-2208988800000, "1900-01-01T00:00:00.000Z");
	assert_format(951782400000, "2000-02-29T00:00:00.000Z");
	assert_format(-62135596800000, "0001-01-01T00:00:00.000Z");
	assert_format(253402300799999, "9999-12-31T23:59:59.999Z");
	/* outside the writable range: clamped, never a malformed time */
	assert_format(-62135596800001, "0001-01-01T00:00:00.000Z");
	assert_format(253402300800000, "9999-12-31T23:59:59.999Z");
	assert_format(TIME_NONE, "0001-01-01T00:00:00.000Z");
	assert_format(INT64_MAX, "9999-12-31T23:59:59.999Z");
}

static void test_format_round_trip(void **state)
{
	static const int64_t fixed[] = {
	        0, 1, 999, 1700000000000, 253402300799999, 951868799999, 1709251199999};
	char out[TIME_BUFSZ];
	int64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		time_format(fixed[i], out);
		assert_int_equal(time_parse_rfc3339(out, strlen(out), &back), 0);
		assert_int_equal(back, fixed[i]);
	}
	/* every ~53 days over the whole range, with odd milliseconds */
	for (int64_t ms = 1234; ms <= 253402300799999; ms += 4567891234567) {
		time_format(ms, out);
		assert_int_equal(strlen(out), 24);
		assert_int_equal(time_parse_rfc3339(out, strlen(out), &back), 0);
		assert_int_equal(back, ms);
	}
}

static void assert_dur(const char *s, int64_t want)
{
	int64_t ms = 0;

	if (duration_parse(s, &ms) != 0)
		fail_msg("\"%s\" refused", s);
	if (ms != want)
		fail_msg("\"%s\": got %lld, want %lld", s, (long long)ms, (long long)want);
}

static void assert_dur_rc(const char *s, int rc)
{
	int64_t ms = 12345;

	assert_int_equal(duration_parse(s, &ms), rc);
	assert_int_equal(ms, 12345);
}

static void test_duration_parse(void **state)
{
	(void)state;
	assert_dur("500ms", 500);
	assert_dur("90s", 90000);
	assert_dur("30m", 1800000);
	assert_dur("2h", 7200000);
	assert_dur("1d", 86400000);
	assert_dur("1h30m", 5400000);
	assert_dur("30m1h", 5400000);
	assert_dur("1d2h3m4s5ms", 93784005);
	assert_dur("1m1ms", 60001);
	assert_dur("007s", 7000);
	assert_dur("3650d", 3650 * 86400000LL);
	assert_dur("315360000000ms", 3650 * 86400000LL);
	assert_dur_rc("0s", -2);
	assert_dur_rc("0ms", -2);
	assert_dur_rc("0h0m", -2);
	assert_dur_rc("", -1);
	assert_dur_rc("5", -1);
	assert_dur_rc("5x", -1);
	assert_dur_rc("1.5h", -1);
	assert_dur_rc("-5m", -1);
	assert_dur_rc("+5m", -1);
	assert_dur_rc("5 m", -1);
	assert_dur_rc(" 5m", -1);
	assert_dur_rc("5m ", -1);
	assert_dur_rc("h", -1);
	assert_dur_rc("ms", -1);
	assert_dur_rc("5mm", -1);
	assert_dur_rc("5M", -1);
	assert_dur_rc("1h30", -1);
	assert_dur_rc("99999999999999999999ms", -1);
	assert_dur_rc("9223372036854775807s", -1);
	assert_dur_rc("106751991167301d", -1);
	assert_dur_rc("9223372036854775807ms1ms", -1);
	assert_dur_rc("9223372036854775807ms", -1);
	assert_dur_rc("3650d1ms", -1);
	assert_dur_rc("3651d", -1);
	assert_dur_rc("1wh", -1); /* working units: not for duration_parse */
}

static void assert_wdur(const char *s, int64_t wd, int rc, int64_t ms, bool working)
{
	struct wdur d = {12345, false};

	if (wdur_parse(s, wd, &d) != rc)
		fail_msg("\"%s\": rc %d, want %d", s, wdur_parse(s, wd, &d), rc);
	if (rc != DUR_OK) {
		assert_int_equal(d.ms, 12345);
		return;
	}
	if (d.ms != ms || d.working != working)
		fail_msg("\"%s\": %lld%s, want %lld%s", s, (long long)d.ms, d.working ? "w" : "",
		         (long long)ms, working ? "w" : "");
}

static void test_wdur_parse(void **state)
{
	const int64_t wd = 7 * 3600000LL, H = 3600000LL;

	(void)state;
	assert_wdur("1wh", wd, DUR_OK, H, true);
	assert_wdur("30wm", wd, DUR_OK, 30 * 60000LL, true);
	assert_wdur("1wd", wd, DUR_OK, wd, true);
	assert_wdur("1wd4wh", wd, DUR_OK, wd + 4 * H, true);
	assert_wdur("4wh1wd", wd, DUR_OK, wd + 4 * H, true);
	assert_wdur("13wd", wd, DUR_OK, 13 * wd, true);
	assert_wdur("3650wd", wd, DUR_OK, 3650 * wd, true);
	assert_wdur("1h30m", wd, DUR_OK, 90 * 60000LL, false);
	assert_wdur("1h30m", 0, DUR_OK, 90 * 60000LL, false);
	assert_wdur("1ms", 0, DUR_OK, 1, false);
	assert_wdur("1h30wm", wd, DUR_MIXED, 0, false);
	assert_wdur("1wd1d", wd, DUR_MIXED, 0, false);
	assert_wdur("0wh1m", wd, DUR_MIXED, 0, false);
	assert_wdur("4wh", 0, DUR_NO_CALENDAR, 0, false);
	assert_wdur("1wd", 0, DUR_NO_CALENDAR, 0, false);
	assert_wdur("0wd", wd, DUR_ZERO, 0, false);
	assert_wdur("0wm0wh", wd, DUR_ZERO, 0, false);
	assert_wdur("3651wd", wd, DUR_TOO_LONG, 0, false);
	assert_wdur("3650wd1wm", wd, DUR_TOO_LONG, 0, false);
	assert_wdur("25551wh", wd, DUR_TOO_LONG, 0, false);
	assert_wdur("3651d", wd, DUR_TOO_LONG, 0, false);
	assert_wdur("9223372036854775807wd", wd, DUR_TOO_LONG, 0, false);
	assert_wdur("1w", wd, DUR_SYNTAX, 0, false);
	assert_wdur("1wx", wd, DUR_SYNTAX, 0, false);
	assert_wdur("wh", wd, DUR_SYNTAX, 0, false);
	assert_wdur("1WH", wd, DUR_SYNTAX, 0, false);
	assert_wdur("-1wh", wd, DUR_SYNTAX, 0, false);
	assert_wdur("", wd, DUR_SYNTAX, 0, false);
}

static void assert_dfmt(int64_t ms, const char *want)
{
	char out[DUR_BUFSZ];
	int64_t back;

	duration_format(ms, out);
	assert_string_equal(out, want);
	if (ms > 0 && ms <= DUR_MAX_DAYS * DAY_MS) {
		assert_int_equal(duration_parse(out, &back), 0);
		assert_int_equal(back, ms);
	}
}

static void test_duration_format(void **state)
{
	(void)state;
	assert_dfmt(500, "500ms");
	assert_dfmt(90000, "1m30s");
	assert_dfmt(86400000, "1d");
	assert_dfmt(5400000, "1h30m");
	assert_dfmt(1800000, "30m");
	assert_dfmt(93784005, "1d2h3m4s5ms");
	assert_dfmt(1, "1ms");
	assert_dfmt(1000, "1s");
	assert_dfmt(INT64_MAX, "106751991167d7h12m55s807ms");
	assert_dfmt(0, "0s");
	assert_dfmt(-5, "0s");
}

static void assert_sid(const char *id, int rc, int64_t want)
{
	int64_t ms = 12345;

	assert_int_equal(stream_id_ms(id, &ms), rc);
	assert_int_equal(ms, rc == 0 ? want : 12345);
}

static void test_stream_id_ms(void **state)
{
	(void)state;
	assert_sid("1700000000000-0", 0, 1700000000000);
	assert_sid("1700000000000-12", 0, 1700000000000);
	assert_sid("0-1", 0, 0);
	assert_sid("1700000000000", 0, 1700000000000);
	assert_sid("9223372036854775807-0", 0, INT64_MAX);
	assert_sid("", -1, 0);
	assert_sid("-0", -1, 0);
	assert_sid("-5-0", -1, 0);
	assert_sid("+5-0", -1, 0);
	assert_sid(" 5-0", -1, 0);
	assert_sid("5-", -1, 0);
	assert_sid("5-x", -1, 0);
	assert_sid("5-0-0", -1, 0);
	assert_sid("abc-0", -1, 0);
	assert_sid("12a-0", -1, 0);
	assert_sid("9223372036854775808-0", -1, 0);
	assert_sid("99999999999999999999999999-0", -1, 0);
}

static void test_now(void **state)
{
	(void)state;
	/* after 2023 and before 2100 */
	assert_true(time_now_ms() > 1700000000000);
	assert_true(time_now_ms() < 4102444800000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_basic),
	        cmocka_unit_test(test_parse_offsets),
	        cmocka_unit_test(test_parse_fractions),
	        cmocka_unit_test(test_parse_separators),
	        cmocka_unit_test(test_parse_ranges),
	        cmocka_unit_test(test_parse_bounds),
	        cmocka_unit_test(test_parse_leap_second),
	        cmocka_unit_test(test_parse_garbage),
	        cmocka_unit_test(test_format),
	        cmocka_unit_test(test_format_round_trip),
	        cmocka_unit_test(test_duration_parse),
	        cmocka_unit_test(test_wdur_parse),
	        cmocka_unit_test(test_duration_format),
	        cmocka_unit_test(test_stream_id_ms),
	        cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
