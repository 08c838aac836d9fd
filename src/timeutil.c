/*
 * timeutil.c: civil-time arithmetic done by hand (no timegm, no TZ), so
 * that parsing is exact for any offset and formatting for any year 1..9999.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"
#include "util.h"

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int64_t time_days_from_civil(int64_t y, int m, int d)
{
	return days_from_civil(y, m, d);
}

void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	civil_from_days(days, y, m, d);
}

/*
 * The instants time_format can write: 0001-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z. Parsing takes a narrower range, from the
 * epoch on (SPEC v2 §4): a time before it would be a negative deadline,
 * which no Redis score or hash field of ours is meant to hold. A time whose
 * offset carries it outside is refused, so that every accepted time has a
 * UTC form that parses again.
 */
#define TIME_MIN_MS  (-62135596800000LL)
#define TIME_MAX_MS  253402300799999LL
#define PARSE_MIN_MS 0LL

static int days_in_month(int64_t y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* n digits at s[*i]; advances *i. */
static int digits(const char *s, size_t len, size_t *i, int n, int *out)
{
	int v = 0;
	for (int k = 0; k < n; k++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	*out = v;
	return 0;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

int time_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
	size_t i = 0;
	int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;

	if (digits(s, len, &i, 4, &y) < 0 || expect(s, len, &i, '-') < 0 ||
	    digits(s, len, &i, 2, &mo) < 0 || expect(s, len, &i, '-') < 0 ||
	    digits(s, len, &i, 2, &d) < 0)
		return -1;
	if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
		return -1;
	i++;
	if (digits(s, len, &i, 2, &h) < 0 || expect(s, len, &i, ':') < 0 ||
	    digits(s, len, &i, 2, &mi) < 0 || expect(s, len, &i, ':') < 0 ||
	    digits(s, len, &i, 2, &sec) < 0)
		return -1;
	if (i < len && s[i] == '.') {
		int nd = 0;
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nd < 3) {
				frac = frac * 10 + (s[i] - '0');
				nd++;
			} else {
				nd = 4; /* more digits only get truncated; nd must not overflow */
			}
			i++;
		}
		if (nd == 0)
			return -1;
		for (int k = nd; k < 3; k++)
			frac *= 10;
	}
	if (i >= len)
		return -1;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		i++;
		if (digits(s, len, &i, 2, &oh) < 0 || expect(s, len, &i, ':') < 0 ||
		    digits(s, len, &i, 2, &om) < 0)
			return -1;
		if (oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;

	bool leap = sec == 60;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (leap ? 59 : sec);
	secs -= (int64_t)sign * (oh * 3600 + om * 60);
	/*
	 * A leap second is inserted as 23:59:60 UTC (07:59:60+08:00 in
	 * Beijing); we have no such second, so it is the last instant of the
	 * one before. A ":60" at any other minute is no leap second.
	 */
	if (leap && (secs % 86400 + 86400) % 86400 != 86399)
		return -1;
	int64_t t = secs * 1000 + (leap ? 999 : frac);
	if (t < PARSE_MIN_MS || t > TIME_MAX_MS)
		return -1;
	*ms = t;
	return 0;
}

/* v as exactly n decimal digits (v < 10^n) */
static void put_digits(char *out, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void time_format(int64_t ms, char out[TIME_BUFSZ])
{
	/* clamping first also keeps -ms below from overflowing (TIME_NONE) */
	if (ms < TIME_MIN_MS)
		ms = TIME_MIN_MS;
	if (ms > TIME_MAX_MS)
		ms = TIME_MAX_MS;
	int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int frac = (int)(ms - secs * 1000);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int64_t y;
	int m, d;

	civil_from_days(days, &y, &m, &d);
	/* digit by digit: snprintf costs more than parsing a whole incident */
	put_digits(out, (unsigned)y, 4);
	out[4] = '-';
	put_digits(out + 5, (unsigned)m, 2);
	out[7] = '-';
	put_digits(out + 8, (unsigned)d, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned)(rem / 3600), 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned)(rem / 60 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned)(rem % 60), 2);
	out[19] = '.';
	put_digits(out + 20, (unsigned)frac, 3);
	out[23] = 'Z';
	out[24] = '\0';
}

/* The units of a duration: clock ones, then working ones ("wd" is the calendar's day). */
static const struct {
	const char *name;
	int64_t ms; /* 0: one working day */
	bool working;
} dur_units[] = {
        {"ms", 1, false},       {"s", 1000, false},  {"m", 60000, false},   {"h", 3600000, false},
        {"d", 86400000, false}, {"wm", 60000, true}, {"wh", 3600000, true}, {"wd", 0, true},
};

int wdur_parse(const char *s, int64_t wd_ms, struct wdur *out)
{
	int64_t total = 0;
	size_t i = 0, len = strlen(s);
	int kinds = 0; /* bit 0: clock units seen, bit 1: working ones */

	if (len == 0)
		return DUR_SYNTAX;
	while (i < len) {
		int64_t v = 0, mult = -1;
		size_t start = i, best = 0;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			int dg = s[i] - '0';
			if (v > (INT64_MAX - dg) / 10)
				return DUR_SYNTAX;
			v = v * 10 + dg;
			i++;
		}
		if (i == start || i >= len)
			return DUR_SYNTAX;
		/* the longest unit name that follows: "ms" before "m" */
		for (size_t k = 0; k < GR_NELEM(dur_units); k++) {
			size_t n = strlen(dur_units[k].name);
			if (n > best && strncmp(s + i, dur_units[k].name, n) == 0) {
				best = n;
				mult = dur_units[k].ms;
				kinds |= dur_units[k].working ? 2 : 1;
			}
		}
		if (best == 0)
			return DUR_SYNTAX;
		i += best;
		if (mult == 0)
			mult = wd_ms > 0 ? wd_ms : 1;
		if (v > (INT64_MAX - total) / mult)
			return DUR_TOO_LONG;
		total += v * mult;
	}
	if (kinds == 3)
		return DUR_MIXED;
	if (kinds == 2 && wd_ms <= 0)
		return DUR_NO_CALENDAR;
	if (total == 0)
		return DUR_ZERO;
	if (total > DUR_MAX_DAYS * (kinds == 2 ? wd_ms : DAY_MS))
		return DUR_TOO_LONG;
	out->ms = total;
	out->working = kinds == 2;
	return DUR_OK;
}

int duration_parse(const char *s, int64_t *ms)
{
	struct wdur d;
	int rc = wdur_parse(s, 0, &d);

	if (rc == DUR_ZERO)
		return -2;
	if (rc != DUR_OK)
		return -1;
	*ms = d.ms;
	return 0;
}

void duration_format(int64_t ms, char out[DUR_BUFSZ])
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
	size_t off = 0;

	if (ms <= 0) {
		snprintf(out, DUR_BUFSZ, "0s");
		return;
	}
	out[0] = '\0';
	for (size_t k = 0; k < GR_NELEM(units) && ms > 0; k++) {
		if (ms >= units[k].ms) {
			int n = snprintf(out + off, DUR_BUFSZ - off, "%lld%s",
			                 (long long)(ms / units[k].ms), units[k].unit);
			if (n > 0)
				off += (size_t)n;
			ms %= units[k].ms;
		}
	}
}

/* Redis writes ids as "<ms>-<seq>", both plain decimal; nothing else is one. */
int stream_id_ms(const char *id, int64_t *ms)
{
	const char *dash = strchr(id, '-');
	char tmp[24];
	size_t n = dash != NULL ? (size_t)(dash - id) : strlen(id);

	if (n == 0 || n >= sizeof(tmp) || strspn(id, "0123456789") != n)
		return -1;
	if (dash != NULL && (dash[1] == '\0' || strspn(dash + 1, "0123456789") != strlen(dash + 1)))
		return -1;
	memcpy(tmp, id, n);
	tmp[n] = '\0';
	return parse_int64(tmp, 0, INT64_MAX, ms);
}
