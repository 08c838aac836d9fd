/*
 * tz.c: a reader of the tz database's binary files (TZif, RFC 8536) and
 * of the POSIX TZ rule in their footer, which governs the instants after
 * the file's last transition (Debian's files list transitions up to 2037
 * and leave the rest to the rule; "slim" files leave it everything after
 * the zone's last change of rules).
 *
 * Version 1 files are read from their 32-bit block; later versions from
 * the 64-bit block and the footer. Files with leap-second records (the
 * "right/" zones) count time differently from every clock here and are
 * refused.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "tz.h"
#include "util.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE    (1u << 20)
#define HOUR_MS        3600000LL

/* A date of a POSIX rule: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d. */
struct rule_date {
	char kind; /* 'J', 'N' or 'M' */
	int n, m, w, d;
	int64_t time; /* ms after local midnight; may be negative or past 24 h */
};

struct rule {
	int64_t std, dst; /* offsets, ms east of UTC */
	bool has_dst;
	struct rule_date start,
	        end; /* to daylight time, in standard time; back, in daylight time */
};

struct tz {
	char name[TZ_NAME_MAX + 1];
	int64_t *trans; /* transition instants (ms), ascending */
	uint8_t *ttype; /* per transition: its local time type */
	size_t ntrans;
	int64_t *off; /* per local time type: ms east of UTC */
	size_t ntypes;
	bool has_rule; /* the footer's rule governs from the last transition on */
	struct rule rule;
	int64_t minoff, maxoff;
};

/* ---- the POSIX TZ string ---- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static const char *rule_name(const char *s)
{
	const char *p = s;

	if (*p == '<') {
		for (p++; is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-'; p++)
			;
		return *p == '>' && p - s >= 4 ? p + 1 : NULL;
	}
	while (is_alpha(*p))
		p++;
	return p - s >= 3 ? p : NULL;
}

static const char *rule_number(const char *s, int max, int *out)
{
	int v = 0;

	if (!is_digit(*s))
		return NULL;
	for (; is_digit(*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return NULL;
	}
	*out = v;
	return s;
}

/* [+-]hh[:mm[:ss]] as ms, hours up to maxh. */
static const char *rule_time(const char *s, int maxh, int64_t *out)
{
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if ((s = rule_number(s, maxh, &h)) == NULL)
		return NULL;
	if (*s == ':' && ((s = rule_number(s + 1, 59, &m)) == NULL))
		return NULL;
	if (*s == ':' && ((s = rule_number(s + 1, 59, &sec)) == NULL))
		return NULL;
	*out = sign * ((int64_t)h * HOUR_MS + m * 60000LL + sec * 1000LL);
	return s;
}

static const char *rule_date(const char *s, struct rule_date *r)
{
	memset(r, 0, sizeof(*r));
	if (*s == 'J') {
		r->kind = 'J';
		if ((s = rule_number(s + 1, 365, &r->n)) == NULL || r->n < 1)
			return NULL;
	} else if (*s == 'M') {
		r->kind = 'M';
		if ((s = rule_number(s + 1, 12, &r->m)) == NULL || r->m < 1 || *s != '.' ||
		    (s = rule_number(s + 1, 5, &r->w)) == NULL || r->w < 1 || *s != '.' ||
		    (s = rule_number(s + 1, 6, &r->d)) == NULL)
			return NULL;
	} else {
		r->kind = 'N';
		if ((s = rule_number(s, 365, &r->n)) == NULL)
			return NULL;
	}
	r->time = 2 * HOUR_MS;
	if (*s == '/')
		s = rule_time(s + 1, 167, &r->time);
	return s;
}

/*
 * "CET-1CEST,M3.5.0,M10.5.0/3": the POSIX offset counts west, ours east.
 * Without a daylight offset it is one hour ahead; without dates, the US
 * rule of POSIX's default applies.
 */
static int rule_parse(const char *s, struct rule *r)
{
	memset(r, 0, sizeof(*r));
	if ((s = rule_name(s)) == NULL || (s = rule_time(s, 24, &r->std)) == NULL)
		return -1;
	r->std = -r->std;
	if (*s == '\0')
		return 0;
	if ((s = rule_name(s)) == NULL)
		return -1;
	r->has_dst = true;
	r->dst = r->std + HOUR_MS;
	if (*s != ',' && *s != '\0') {
		if ((s = rule_time(s, 24, &r->dst)) == NULL)
			return -1;
		r->dst = -r->dst;
	}
	if (*s == '\0')
		s = ",M3.2.0,M11.1.0";
	if (*s != ',' || (s = rule_date(s + 1, &r->start)) == NULL || *s != ',' ||
	    (s = rule_date(s + 1, &r->end)) == NULL)
		return -1;
	return *s == '\0' ? 0 : -1;
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since the epoch of a rule's date in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t jan1 = time_days_from_civil(y, 1, 1);

	if (r->kind == 'J')
		return jan1 + r->n - 1 + (leap_year(y) && r->n >= 60);
	if (r->kind == 'N')
		return jan1 + r->n;
	int64_t first = time_days_from_civil(y, r->m, 1);
	int wd = (int)(((first + 4) % 7 + 7) % 7);
	int day = 1 + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
	int dim = dm[r->m - 1] + (r->m == 2 && leap_year(y));
	while (day > dim)
		day -= 7;
	return first + day - 1;
}

/*
 * The offset the rule gives at t, and the span around it: the changes of
 * the years around t's, in order (a change back before one forward at the
 * same instant, so that an all-year daylight time stays daylight).
 */
static int64_t rule_offset(const struct rule *r, int64_t t, int64_t *from, int64_t *until)
{
	struct {
		int64_t at;
		bool dst;
	} ev[6];
	int64_t y, lfrom = INT64_MIN, luntil = INT64_MAX, off = r->std;
	int mo, d;
	size_t n = 0;

	if (!r->has_dst) {
		*from = lfrom;
		*until = luntil;
		return r->std;
	}
	time_civil_from_days((t + r->std) / DAY_MS - ((t + r->std) % DAY_MS < 0), &y, &mo, &d);
	for (int64_t k = y - 1; k <= y + 1; k++) {
		int64_t on = rule_day(&r->start, k) * DAY_MS + r->start.time - r->std;
		int64_t back = rule_day(&r->end, k) * DAY_MS + r->end.time - r->dst;
		/* insertion in order: six at most */
		int64_t at[2] = {back, on};
		for (int j = 0; j < 2; j++) {
			size_t i = n++;
			while (i > 0 && ev[i - 1].at > at[j]) {
				ev[i] = ev[i - 1];
				i--;
			}
			ev[i].at = at[j];
			ev[i].dst = j == 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (ev[i].at <= t) {
			off = ev[i].dst ? r->dst : r->std;
			lfrom = ev[i].at;
		} else {
			luntil = ev[i].at;
			break;
		}
	}
	/* t before the first change found: a span of one instant, which is always right */
	if (lfrom == INT64_MIN) {
		lfrom = t;
		luntil = t + 1;
	}
	*from = lfrom;
	*until = luntil;
	return off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

enum { C_ISUT, C_ISSTD, C_LEAP, C_TIME, C_TYPE, C_CHAR };

#define TZIF_HEADER 44

static int header(const unsigned char *p, size_t len, uint32_t cnt[6])
{
	if (len < TZIF_HEADER || memcmp(p, "TZif", 4) != 0)
		return -1;
	for (int i = 0; i < 6; i++)
		cnt[i] = be32(p + 20 + 4 * i);
	/* bounded so that the block's size below cannot overflow */
	for (int i = 0; i < 6; i++) {
		if (cnt[i] > TZ_MAX_FILE)
			return -1;
	}
	return 0;
}

static size_t block_size(const uint32_t cnt[6], size_t tsize)
{
	return cnt[C_TIME] * tsize + cnt[C_TIME] + cnt[C_TYPE] * 6 + cnt[C_CHAR] +
	       cnt[C_LEAP] * (tsize + 4) + cnt[C_ISSTD] + cnt[C_ISUT];
}

/* Seconds beyond a few hundred million years are "the beginning of time": clamp before ms. */
#define SECS_MAX 9000000000000000LL

static int64_t secs_ms(int64_t s)
{
	return (s < -SECS_MAX ? -SECS_MAX : s > SECS_MAX ? SECS_MAX : s) * 1000;
}

/* One data block at p (len bytes available) into z. */
static int read_block(struct tz *z, const unsigned char *p, size_t len, const uint32_t cnt[6],
                      size_t tsize)
{
	if (block_size(cnt, tsize) > len || cnt[C_TYPE] == 0 || cnt[C_TYPE] > 256 ||
	    cnt[C_LEAP] != 0 || (cnt[C_ISSTD] != 0 && cnt[C_ISSTD] != cnt[C_TYPE]) ||
	    (cnt[C_ISUT] != 0 && cnt[C_ISUT] != cnt[C_TYPE]))
		return -1;
	z->ntrans = cnt[C_TIME];
	z->ntypes = cnt[C_TYPE];
	z->trans = xcalloc(z->ntrans + 1, sizeof(*z->trans));
	z->ttype = xcalloc(z->ntrans + 1, sizeof(*z->ttype));
	z->off = xcalloc(z->ntypes, sizeof(*z->off));
	for (size_t i = 0; i < z->ntrans; i++) {
		const unsigned char *q = p + i * tsize;
		int64_t s = tsize == 8 ? be64(q) : (int32_t)be32(q);
		z->trans[i] = secs_ms(s);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			return -1;
	}
	p += z->ntrans * tsize;
	for (size_t i = 0; i < z->ntrans; i++) {
		z->ttype[i] = p[i];
		if (p[i] >= z->ntypes)
			return -1;
	}
	p += z->ntrans;
	for (size_t i = 0; i < z->ntypes; i++) {
		int32_t utoff = (int32_t)be32(p + 6 * i);
		if (utoff < -89999 || utoff > 93599)
			return -1;
		z->off[i] = (int64_t)utoff * 1000;
	}
	return 0;
}

static int parse_tzif(struct tz *z, const unsigned char *p, size_t len)
{
	uint32_t cnt[6];

	if (header(p, len, cnt) < 0)
		return -1;
	if (p[4] == '\0')
		return read_block(z, p + TZIF_HEADER, len - TZIF_HEADER, cnt, 4);

	size_t skip = TZIF_HEADER + block_size(cnt, 4);
	if (skip > len || header(p + skip, len - skip, cnt) < 0)
		return -1;
	p += skip + TZIF_HEADER;
	len -= skip + TZIF_HEADER;
	if (read_block(z, p, len, cnt, 8) < 0)
		return -1;
	size_t at = block_size(cnt, 8);
	/* the footer: "\n" TZ "\n"; an empty TZ means no rule */
	if (at >= len || p[at] != '\n')
		return -1;
	const unsigned char *end = memchr(p + at + 1, '\n', len - at - 1);
	if (end == NULL)
		return -1;
	size_t n = (size_t)(end - (p + at + 1));
	if (n == 0)
		return 0;
	char *s = xstrndup((const char *)p + at + 1, n);
	int rc = rule_parse(s, &z->rule);
	free(s);
	z->has_rule = rc == 0;
	return rc;
}

/* The segments of an IANA name: [A-Za-z0-9_+-], never ".." or an absolute path. */
static bool name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/')
			return false;
		if (c == '/' && name[i + 1] == '/')
			return false;
	}
	return true;
}

static void bound(struct tz *z, int64_t o)
{
	if (o < z->minoff)
		z->minoff = o;
	if (o > z->maxoff)
		z->maxoff = o;
}

static void set_bounds(struct tz *z)
{
	z->minoff = INT64_MAX;
	z->maxoff = INT64_MIN;
	for (size_t i = 0; i < z->ntypes; i++)
		bound(z, z->off[i]);
	if (z->has_rule)
		bound(z, z->rule.std);
	if (z->has_rule && z->rule.has_dst)
		bound(z, z->rule.dst);
}

struct tz *tz_load(const char *name, char *err, size_t errsz)
{
	const char *dir = getenv("TZDIR");
	char *data;
	size_t len;
	struct tz *z;

	if (!name_valid(name)) {
		snprintf(err, errsz, "unknown time zone \"%.64s\"", name);
		return NULL;
	}
	char *path = xasprintf("%s/%s", dir != NULL && dir[0] != '\0' ? dir : TZ_DEFAULT_DIR, name);
	z = xcalloc(1, sizeof(*z));
	snprintf(z->name, sizeof(z->name), "%s", name);
	if (read_small_file(path, TZ_MAX_FILE, &data, &len) < 0) {
		if (errno == ENOENT && strcmp(name, "UTC") == 0) {
			/* no database at all: UTC is still UTC */
			free(path);
			tz_free(z);
			return tz_fixed("UTC", 0);
		}
		if (errno == ENOENT || errno == ENOTDIR || errno == EINVAL || errno == EFBIG)
			snprintf(err, errsz, "unknown time zone \"%s\"", name);
		else
			snprintf(err, errsz, "time zone \"%s\": %s: %s", name, path,
			         strerror(errno));
		free(path);
		tz_free(z);
		return NULL;
	}
	int rc = parse_tzif(z, (const unsigned char *)data, len);
	free(data);
	if (rc < 0) {
		snprintf(err, errsz, "time zone \"%s\": %s is not a valid TZif file", name, path);
		free(path);
		tz_free(z);
		return NULL;
	}
	free(path);
	set_bounds(z);
	return z;
}

struct tz *tz_fixed(const char *name, int64_t offset)
{
	struct tz *z = xcalloc(1, sizeof(*z));

	snprintf(z->name, sizeof(z->name), "%s", name);
	z->off = xcalloc(1, sizeof(*z->off));
	z->off[0] = offset;
	z->ntypes = 1;
	set_bounds(z);
	return z;
}

void tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->trans);
	free(z->ttype);
	free(z->off);
	free(z);
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

int64_t tz_min_offset(const struct tz *z)
{
	return z->minoff;
}

int64_t tz_max_offset(const struct tz *z)
{
	return z->maxoff;
}

int64_t tz_offset(const struct tz *z, int64_t t, int64_t *from, int64_t *until)
{
	int64_t f, u, off;
	size_t n = z->ntrans;

	if (n == 0 || t >= z->trans[n - 1]) {
		if (z->has_rule) {
			off = rule_offset(&z->rule, t, &f, &u);
			if (n > 0 && f < z->trans[n - 1])
				f = z->trans[n - 1];
		} else {
			off = z->off[n > 0 ? z->ttype[n - 1] : 0];
			f = n > 0 ? z->trans[n - 1] : INT64_MIN;
			u = INT64_MAX;
		}
	} else if (t < z->trans[0]) {
		off = z->off[0];
		f = INT64_MIN;
		u = z->trans[0];
	} else {
		size_t lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (z->trans[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		off = z->off[z->ttype[lo]];
		f = z->trans[lo];
		u = z->trans[hi];
	}
	if (from != NULL)
		*from = f;
	if (until != NULL)
		*until = u;
	return off;
}

int64_t tz_local(const struct tz *z, int64_t t)
{
	return t + tz_offset(z, t, NULL, NULL);
}

/*
 * The pieces of constant offset from before the earliest instant local
 * can be to after the latest: the first that has it is the earliest; when
 * none has it, the first whose local times begin after it begins at the jump.
 */
int64_t tz_utc(const struct tz *z, int64_t local)
{
	int64_t u = local - z->maxoff - 1, end = local - z->minoff + 1;

	while (u < end) {
		int64_t from, until, o = tz_offset(z, u, &from, &until);
		int64_t c = local - o;
		if (c >= from && c < until)
			return c;
		if (c < from)
			return from;
		if (until == INT64_MAX)
			break;
		u = until;
	}
	return local - tz_offset(z, local - z->maxoff, NULL, NULL);
}
