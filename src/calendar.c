/*
 * calendar.c: the holiday calendar of the rules (SPEC §3.1) — its loading
 * with diagnostics in the rules file and in its holidays file — and
 * working-time arithmetic.
 *
 * Adding working time walks the instants from t in pieces of constant UTC
 * offset (one piece from 1991 on in Asia/Shanghai, half a year in a zone
 * with daylight saving time). Inside a piece local time is UTC plus one
 * offset, so each local day's working intervals map to instants by one
 * subtraction, in order: the walk costs a table lookup and a comparison
 * per day, whole working days are consumed at once, and the pieces make
 * a clock change exact, whichever way it goes (an hour that happens twice
 * is worked twice; one that never happens is not worked).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "log.h"

#define DEFAULT_ZONE      "Asia/Shanghai"
#define HOLIDAYS_MAX_FILE (4u << 20)
#define COVER_WARN_DAYS   30
#define EARLIEST_MS       (-62135596800000LL) /* 0001-01-01T00:00:00Z */

struct calendar {
	struct tz *tz;
	struct cal_hours hours[CAL_MAX_HOURS];
	size_t nhours;
	int64_t first, last; /* the first interval's start, the last one's end */
	int64_t day_ms;
	unsigned weekdays; /* bit w: weekday w (0 = Sunday) is a working weekday */
	int64_t lo, hi;    /* the days of special: [lo, hi]; none when lo > hi */
	uint8_t *special;  /* per day: enum cal_mark */
	int64_t covered;   /* INT64_MIN: not given */
};

static const char *const wd_keys[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

const char *calendar_weekday_key(int wd)
{
	return wd >= 0 && wd < 7 ? wd_keys[wd] : "?";
}
static const char *const wd_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

int calendar_weekday(int64_t day)
{
	return (int)((day % 7 + 7 + 4) % 7);
}

const char *calendar_weekday_name(int wd)
{
	return wd >= 0 && wd < 7 ? wd_names[wd] : "?";
}

int64_t calendar_day_of(const struct tz *z, int64_t t)
{
	return floordiv(tz_local(z, t), DAY_MS);
}

int64_t calendar_day_start(const struct tz *z, int64_t day)
{
	return tz_utc(z, day * DAY_MS);
}

/* ---- dates and times as the rules write them ---- */

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int calendar_parse_date(const char *s, size_t len, int64_t *day)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) < 0 ||
	    digits(s + 5, 2, &m) < 0 || digits(s + 8, 2, &d) < 0)
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > dm[m - 1] + (m == 2 && leap))
		return -1;
	*day = time_days_from_civil(y, m, d);
	return 0;
}

void calendar_format_date(int64_t day, char out[CAL_DATE_BUFSZ])
{
	int64_t y;
	int m, d;

	time_civil_from_days(day, &y, &m, &d);
	unsigned v[3] = {(unsigned)(y < 0 ? 0 : y % 10000), (unsigned)m, (unsigned)d};
	char *p = out;
	for (int i = 0; i < 3; i++) {
		for (int k = i == 0 ? 1000 : 10; k > 0; k /= 10)
			*p++ = (char)('0' + v[i] / (unsigned)k % 10);
		*p++ = i < 2 ? '-' : '\0';
	}
}

int calendar_parse_hhmm(const char *s, size_t len, bool end, int64_t *ms)
{
	int h, m;

	if (len != 5 || s[2] != ':' || digits(s, 2, &h) < 0 || digits(s + 3, 2, &m) < 0 || m > 59 ||
	    h > 24 || (h == 24 && (m != 0 || !end)))
		return -1;
	*ms = (h * 60LL + m) * 60000;
	return 0;
}

/* ---- the arithmetic ---- */

static bool works(const struct calendar *c, int64_t day, int wd)
{
	if (day >= c->lo && day <= c->hi) {
		uint8_t s = c->special[day - c->lo];
		if (s != CAL_PLAIN)
			return s == CAL_WORKDAY;
	}
	return (c->weekdays >> wd & 1) != 0;
}

bool calendar_is_workday(const struct calendar *c, int64_t day, enum cal_mark *mark)
{
	if (mark != NULL)
		*mark = day >= c->lo && day <= c->hi ? (enum cal_mark)c->special[day - c->lo]
		                                     : CAL_PLAIN;
	return works(c, day, calendar_weekday(day));
}

/*
 * From t, consume up to rem ms of working time without passing limit.
 * Returns the instant where rem ran out, or limit; *used is what was
 * consumed. Each piece of constant offset is walked day by day in local
 * time, [lstart, lend) being the piece's local times still to walk.
 */
static int64_t walk(const struct calendar *c, int64_t t, int64_t rem, int64_t limit, int64_t *used)
{
	const int64_t want = rem;
	int64_t u = t;

	for (;;) {
		int64_t from, until, off = tz_offset(c->tz, u, &from, &until);
		int64_t pend = until < limit ? until : limit;
		int64_t lstart = u + off, lend = pend + off;
		int64_t day = floordiv(lstart, DAY_MS);
		int wd = calendar_weekday(day);

		for (;; day++, wd = wd == 6 ? 0 : wd + 1) {
			int64_t l0 = day * DAY_MS;
			if (l0 >= lend)
				break;
			if (!works(c, day, wd))
				continue;
			if (rem > c->day_ms && l0 + c->first >= lstart && l0 + c->last <= lend) {
				rem -= c->day_ms;
				continue;
			}
			for (size_t k = 0; k < c->nhours; k++) {
				int64_t s = l0 + c->hours[k].start, e = l0 + c->hours[k].end;
				if (s < lstart)
					s = lstart;
				if (e > lend)
					e = lend;
				if (e <= s)
					continue;
				if (rem <= e - s) {
					*used = want;
					return s + rem - off;
				}
				rem -= e - s;
			}
		}
		if (pend >= limit) {
			*used = want - rem;
			return limit;
		}
		u = pend;
	}
}

int64_t calendar_add(const struct calendar *c, int64_t t, int64_t work)
{
	int64_t used;

	if (t >= TIME_LATEST_MS)
		return TIME_LATEST_MS;
	if (t < EARLIEST_MS)
		t = EARLIEST_MS;
	if (work <= 0)
		return t; /* nothing to add: t itself, even outside working time */
	int64_t r = walk(c, t, work, TIME_LATEST_MS + 1, &used);
	return r > TIME_LATEST_MS ? TIME_LATEST_MS : r;
}

int64_t calendar_deadline(const struct calendar *c, int64_t t, struct wdur d)
{
	if (d.working && c != NULL)
		return calendar_add(c, t, d.ms);
	if (t >= TIME_LATEST_MS || d.ms >= TIME_LATEST_MS - t)
		return TIME_LATEST_MS;
	return t + (d.ms > 0 ? d.ms : 0);
}

int64_t calendar_worktime(const struct calendar *c, int64_t from, int64_t to)
{
	int64_t used = 0;

	if (from < to)
		walk(c, from, INT64_MAX, to, &used);
	return used;
}

const struct cal_hours *calendar_hours(const struct calendar *c, size_t *n)
{
	*n = c->nhours;
	return c->hours;
}

unsigned calendar_weekdays(const struct calendar *c)
{
	return c->weekdays;
}

void calendar_listed(const struct calendar *c, int64_t *lo, int64_t *hi)
{
	*lo = c->lo;
	*hi = c->hi;
}

int64_t calendar_day_ms(const struct calendar *c)
{
	return c->day_ms;
}

const struct tz *calendar_tz(const struct calendar *c)
{
	return c->tz;
}

int64_t calendar_covered_until(const struct calendar *c)
{
	return c->covered;
}

void calendar_free(struct calendar *c)
{
	if (c == NULL)
		return;
	tz_free(c->tz);
	free(c->special);
	free(c);
}

/* ---- loading ---- */

/* A date or a range of the lists, kept for the check that no date is in both. */
struct entry {
	int64_t from, to;
	bool work;
	struct diags *d; /* of the file it is in */
	int line, col;
	char *path;
};

struct loader {
	struct calendar *c;
	struct entry *v;
	size_t n, cap;
	int64_t covered;
	struct ydoc *covered_y; /* the document and node covered_until came from */
	const struct ynode *covered_node;
	bool conflict; /* a date in both lists */
};

static const char *str(struct ydoc *y, const struct ynode *n)
{
	const char *s;

	return ydoc_str(y, n, &s) == 0 ? s : NULL;
}

static void load_zone(struct loader *L, struct ydoc *y, const struct ynode *n)
{
	const char *s = n != NULL ? str(y, n) : DEFAULT_ZONE;
	char err[256];

	if (s == NULL)
		return;
	L->c->tz = tz_load(s, err, sizeof(err));
	if (L->c->tz == NULL) {
		if (n != NULL)
			ydoc_error(y, n, "%s", err);
		else
			ydoc_error(y, ydoc_root(y), "%s (the default of calendar.timezone)", err);
	}
}

/*
 * A list of strings: fn for each item that is one, with the path pushed.
 * An empty list is the error empty, when not NULL.
 */
typedef void (*str_fn)(struct loader *L, struct ydoc *y, const struct ynode *item, const char *s,
                       bool work);

static void each_str(struct loader *L, struct ydoc *y, const struct ynode *n, const char *empty,
                     str_fn fn, bool work)
{
	if (ydoc_expect_seq(y, n) < 0)
		return;
	if (ydoc_len(n) == 0 && empty != NULL)
		ydoc_error(y, n, "%s", empty);
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *item = ydoc_item(y, n, i);
		size_t o = ydoc_push_index(y, i);
		const char *s = str(y, item);
		if (s != NULL)
			fn(L, y, item, s, work);
		ydoc_pop(y, o);
	}
}

static void hours_item(struct loader *L, struct ydoc *y, const struct ynode *item, const char *s,
                       bool work)
{
	struct calendar *c = L->c;
	int64_t a, b;

	(void)work;
	if (item->len != 11 || s[5] != '-' || calendar_parse_hhmm(s, 5, false, &a) < 0 ||
	    calendar_parse_hhmm(s + 6, 5, true, &b) < 0) {
		ydoc_error(y, item,
		           "invalid working interval \"%s\": expected HH:MM-HH:MM from 00:00 to "
		           "24:00, such as \"08:30-12:00\"",
		           s);
	} else if (a >= b) {
		ydoc_error(y, item, "working interval \"%s\" ends before it begins", s);
	} else if (c->nhours > 0 && a < c->hours[c->nhours - 1].end) {
		ydoc_error(y, item,
		           "working interval \"%s\" overlaps or comes before the one before it: "
		           "intervals must be ascending and must not overlap",
		           s);
	} else if (c->nhours == CAL_MAX_HOURS) {
		ydoc_error(y, item, "at most %d working intervals a day", CAL_MAX_HOURS);
	} else {
		c->hours[c->nhours].start = a;
		c->hours[c->nhours].end = b;
		c->nhours++;
		c->day_ms += b - a;
	}
}

static void weekday_item(struct loader *L, struct ydoc *y, const struct ynode *item, const char *s,
                         bool work)
{
	size_t w = 0;

	(void)work;
	while (w < GR_NELEM(wd_keys) && strcmp(s, wd_keys[w]) != 0)
		w++;
	if (w == GR_NELEM(wd_keys))
		ydoc_error(y, item,
		           "unknown weekday \"%s\": expected mon, tue, wed, thu, fri, sat or sun",
		           s);
	else if (L->c->weekdays >> w & 1)
		ydoc_error(y, item, "weekday \"%s\" is listed twice", s);
	else
		L->c->weekdays |= 1u << w;
}

static int date_node(struct ydoc *y, const struct ynode *n, int64_t *day)
{
	const char *s = str(y, n);

	if (s == NULL)
		return -1;
	if (calendar_parse_date(s, n->len, day) < 0) {
		ydoc_error(y, n, "invalid date \"%s\": expected YYYY-MM-DD from 1970 to 9999", s);
		return -1;
	}
	return 0;
}

/* An item of holidays or workdays: a date, or an inclusive range "2026-10-01..2026-10-07". */
static void date_item(struct loader *L, struct ydoc *y, const struct ynode *item, const char *s,
                      bool work)
{
	const char *dots = strstr(s, "..");
	int64_t a, b;

	if (dots == NULL ? calendar_parse_date(s, item->len, &a) < 0
	                 : calendar_parse_date(s, (size_t)(dots - s), &a) < 0 ||
	                           calendar_parse_date(dots + 2, strlen(dots + 2), &b) < 0) {
		ydoc_error(y, item,
		           "invalid date \"%s\": expected YYYY-MM-DD from 1970 to 9999, or a range "
		           "YYYY-MM-DD..YYYY-MM-DD",
		           s);
		return;
	}
	if (dots != NULL && b < a) {
		ydoc_error(y, item, "date range \"%s\" ends before it begins", s);
		return;
	}
	if (L->n == L->cap) {
		L->cap = L->cap == 0 ? 32 : L->cap * 2;
		L->v = xreallocarray(L->v, L->cap, sizeof(*L->v));
	}
	struct entry *e = &L->v[L->n++];
	e->from = a;
	e->to = dots != NULL ? b : a;
	e->work = work;
	e->d = y->d;
	e->line = (int)item->line;
	e->col = (int)item->col;
	e->path = xstrdup(ydoc_path(y));
}

static void load_covered(struct loader *L, struct ydoc *y, const struct ynode *n)
{
	int64_t day;

	if (date_node(y, n, &day) < 0)
		return;
	/* in both files: the later one, as each knows the arrangement up to its own */
	if (L->covered_node == NULL || day > L->covered) {
		L->covered = day;
		L->covered_y = y;
		L->covered_node = n;
	}
}

/* The keys the holidays file shares with the calendar, in this order. */
static void load_lists(struct loader *L, struct ydoc *y, const struct ynode *const *v)
{
	static const char *const names[] = {"holidays", "workdays", "covered_until"};

	for (size_t i = 0; i < 3; i++) {
		if (v[i] == NULL)
			continue;
		size_t o = ydoc_push_key(y, names[i]);
		if (i < 2)
			each_str(L, y, v[i], NULL, date_item, i == 1);
		else
			load_covered(L, y, v[i]);
		ydoc_pop(y, o);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* No date in both lists; then the table of listed days. */
static void build_special(struct loader *L)
{
	struct calendar *c = L->c;
	int64_t max_to[2] = {INT64_MIN, INT64_MIN}; /* of the holidays, of the workdays */

	c->lo = 1;
	c->hi = 0;
	if (L->n == 0)
		return;
	qsort(L->v, L->n, sizeof(*L->v), cmp_entry);
	for (size_t i = 0; i < L->n; i++) {
		struct entry *e = &L->v[i];
		if (max_to[!e->work] >= e->from) {
			char date[CAL_DATE_BUFSZ];
			calendar_format_date(e->from, date);
			diags_add(e->d, DIAG_ERROR, e->line, e->col, e->path,
			          "date %s is both a holiday and a workday", date);
			L->conflict = true;
		}
		if (e->to > max_to[e->work])
			max_to[e->work] = e->to;
		if (i == 0 || e->from < c->lo)
			c->lo = e->from;
		if (i == 0 || e->to > c->hi)
			c->hi = e->to;
	}
	if (L->conflict)
		return;
	c->special = xcalloc((size_t)(c->hi - c->lo + 1), 1);
	for (size_t i = 0; i < L->n; i++) {
		for (int64_t d = L->v[i].from; d <= L->v[i].to; d++)
			c->special[d - c->lo] = L->v[i].work ? CAL_WORKDAY : CAL_HOLIDAY;
	}
}

static void warn_coverage(struct loader *L, struct ydoc *y, const struct ynode *n, int64_t now,
                          int64_t today)
{
	char cov[CAL_DATE_BUFSZ], td[CAL_DATE_BUFSZ];

	if (L->c->tz == NULL)
		return;
	if (today == INT64_MIN)
		today = calendar_day_of(L->c->tz, now);
	calendar_format_date(today, td);
	if (L->covered_node == NULL) {
		ydoc_warn(y, n,
		          "calendar has no covered_until: say up to which date the holiday "
		          "arrangement is known, and add each year's when it is published");
		return;
	}
	calendar_format_date(L->covered, cov);
	size_t o = ydoc_push_key(L->covered_y, "covered_until");
	if (L->covered < today)
		ydoc_warn(L->covered_y, L->covered_node,
		          "covered_until %s has passed (today is %s): dates after it have no "
		          "known holiday arrangement; add the new year's",
		          cov, td);
	else if (L->covered - today < COVER_WARN_DAYS)
		ydoc_warn(L->covered_y, L->covered_node,
		          "covered_until %s is only %lld days after today (%s): add next year's "
		          "holiday arrangement (the State Council publishes it, usually in "
		          "November)",
		          cov, (long long)(L->covered - today), td);
	ydoc_pop(L->covered_y, o);
}

/* holidays_file: relative to the rules file's folder. */
static char *holidays_path(const char *rules_path, const char *file)
{
	const char *slash = strrchr(rules_path, '/');

	if (file[0] == '/' || slash == NULL)
		return xstrdup(file);
	return xasprintf("%.*s/%s", (int)(slash - rules_path), rules_path, file);
}

/* A holidays file, read and kept until the checks over all dates are done. */
struct hfile {
	struct ydoc y;
	struct diags d;
};

/* One holidays file named by node n, into L and f (f->d set up: true). */
static bool load_file(struct loader *L, struct ydoc *y, const struct ynode *n,
                      const char *rules_path, struct hfile *f)
{
	static const char *const keys[] = {"holidays", "workdays", "covered_until"};
	const char *file = str(y, n);
	const struct ynode *v[3];
	char *text;
	size_t len;

	if (file == NULL)
		return false;
	char *path = holidays_path(rules_path, file);
	if (read_small_file(path, HOLIDAYS_MAX_FILE, &text, &len) < 0) {
		ydoc_error(y, n, "cannot read holidays file \"%s\": %s", path,
		           errno == EINVAL ? "not a regular file" : strerror(errno));
		free(path);
		return false;
	}
	memset(f, 0, sizeof(*f));
	diags_init(&f->d, path);
	free(path);
	int rc = ydoc_load(&f->y, text, len, &f->d);
	free(text);
	if (rc == 0 && ydoc_fields(&f->y, ydoc_root(&f->y), keys, 3, NULL, v) == 0)
		load_lists(L, &f->y, v);
	return true;
}

/* holidays_file: one file, or a list of them (a year each). Returns how many were read. */
static size_t load_files(struct loader *L, struct ydoc *y, const struct ynode *n,
                         const char *rules_path, struct hfile **out)
{
	size_t count = n->type == YNODE_SEQ ? ydoc_len(n) : 1, nf = 0;

	*out = xcalloc(count, sizeof(**out));
	if (n->type != YNODE_SEQ)
		return load_file(L, y, n, rules_path, &(*out)[0]) ? 1 : 0;
	for (size_t i = 0; i < count; i++) {
		size_t o = ydoc_push_index(y, i);
		nf += load_file(L, y, ydoc_item(y, n, i), rules_path, &(*out)[nf]);
		ydoc_pop(y, o);
	}
	return nf;
}

struct calendar *calendar_load(struct ydoc *y, const struct ynode *n, const char *rules_path,
                               int64_t now, int64_t today)
{
	static const char *const keys[] = {"timezone", "hours",    "weekdays",     "holidays_file",
	                                   "holidays", "workdays", "covered_until"};
	static const char *const required[] = {"hours", NULL};
	struct loader L = {.c = xcalloc(1, sizeof(struct calendar))};
	size_t errors_before = y->d->nerrors;
	const struct ynode *v[7];
	struct hfile *files = NULL;
	size_t nfiles = 0, file_errors = 0;

	L.c->weekdays = 0x3e; /* mon .. fri */
	L.c->covered = INT64_MIN;
	if (ydoc_fields(y, n, keys, 7, required, v) < 0) {
		calendar_free(L.c);
		return NULL;
	}
	for (size_t i = 0; i < 4; i++) {
		if (v[i] == NULL && i != 0)
			continue;
		size_t o = ydoc_push_key(y, keys[i]);
		switch (i) {
		case 0:
			load_zone(&L, y, v[0]);
			break;
		case 1:
			each_str(&L, y, v[1],
			         "expected at least one working interval such as \"08:30-12:00\"",
			         hours_item, false);
			break;
		case 2:
			L.c->weekdays = 0;
			each_str(&L, y, v[2], "expected at least one working weekday", weekday_item,
			         false);
			break;
		default:
			nfiles = load_files(&L, y, v[3], rules_path, &files);
			break;
		}
		ydoc_pop(y, o);
	}
	load_lists(&L, y, v + 4);
	build_special(&L);
	for (size_t i = 0; i < nfiles; i++)
		file_errors += files[i].d.nerrors;
	if (y->d->nerrors == errors_before && file_errors == 0)
		warn_coverage(&L, y, n, now, today);
	for (size_t i = 0; i < nfiles; i++) {
		ydoc_free(&files[i].y);
		diags_sort(&files[i].d);
		diags_move(y->d, &files[i].d);
		diags_free(&files[i].d);
	}
	free(files);
	for (size_t i = 0; i < L.n; i++)
		free(L.v[i].path);
	free(L.v);
	if (y->d->nerrors > errors_before || L.c->nhours == 0 || L.c->tz == NULL) {
		calendar_free(L.c);
		return NULL;
	}
	L.c->first = L.c->hours[0].start;
	L.c->last = L.c->hours[L.c->nhours - 1].end;
	L.c->covered = L.covered_node != NULL ? L.covered : INT64_MIN;
	return L.c;
}
