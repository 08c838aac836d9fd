/*
 * kpi.c: the monthly KPI table (SPEC §11). Every hash's counters are
 * added to the rows it belongs to — its unit and each '/'-prefix of it,
 * or the one unit of the asked kind above it — then the rates are
 * computed and the rows ordered worst first. Rates are compared as exact
 * fractions, so 1/2 and 2/4 tie and fall back to the unit ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "htab.h"
#include "incident.h"
#include "kpi.h"
#include "log.h"
#include "rules.h"

#define KPI_NAME_(e, name, label)  name,
#define KPI_LABEL_(e, name, label) label,
static const char *const counter_names[] = {KPI_COUNTERS(KPI_NAME_)};
static const char *const counter_labels[] = {KPI_COUNTERS(KPI_LABEL_)};

static const struct {
	const char *name, *label;
	enum kpi_counter num, den;
} rates[KPI__RATES] = {
        [KPI_ON_TIME_CLOSURE] = {"on_time_closure", "按期结案率", KPI_CLOSED_ON_TIME, KPI_CLOSED},
        [KPI_ON_TIME_ACK] = {"on_time_ack", "及时签收率", KPI_ACKED_ON_TIME, KPI_ACKED},
        [KPI_REWORK] = {"rework", "返工率", KPI_REWORKED, KPI_CLOSED},
        [KPI_EXTENSION] = {"extension", "延期率", KPI_EXTENDED, KPI_CLOSED},
        [KPI_RETURN] = {"return", "回退率", KPI_RETURNED, KPI_CREATED},
        [KPI_REOPEN] = {"reopen", "重办率", KPI_REOPENED, KPI_CLOSED},
};

const char *kpi_counter_name(enum kpi_counter c)
{
	return counter_names[c];
}

const char *kpi_counter_label(enum kpi_counter c)
{
	return counter_labels[c];
}

const char *kpi_rate_name(enum kpi_rate k)
{
	return rates[k].name;
}

const char *kpi_rate_label(enum kpi_rate k)
{
	return rates[k].label;
}

bool kpi_month_valid(const char *s)
{
	int64_t y, m;
	char year[5], mon[3];

	if (strlen(s) != 7 || s[4] != '-')
		return false;
	memcpy(year, s, 4);
	year[4] = '\0';
	memcpy(mon, s + 5, 2);
	mon[2] = '\0';
	/* parse_int64 takes a sign: the digits are checked first */
	for (int i = 0; i < 7; i++) {
		if (i != 4 && (s[i] < '0' || s[i] > '9'))
			return false;
	}
	return parse_int64(year, 1970, 9999, &y) == 0 && parse_int64(mon, 1, 12, &m) == 0;
}

void kpi_month_of(const struct tz *z, int64_t t, char out[8])
{
	int64_t y;
	int m, d;

	time_civil_from_days(calendar_day_of(z, t), &y, &m, &d);
	snprintf(out, 8, "%04d-%02d", (int)y, m);
}

/* unit[0..len) is prefix or below it, segment-wise. */
static bool under(const char *unit, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(unit, prefix, n) == 0 && (len == n || unit[n] == '/');
}

/* The counters of one hash, for the category asked; false when none was counted. */
static bool read_hash(const struct kpi_hash *h, const char *category, int64_t n[KPI__COUNTERS],
                      size_t *malformed)
{
	bool any = false;

	memset(n, 0, sizeof(int64_t) * KPI__COUNTERS);
	for (size_t i = 0; i < h->n; i++) {
		const char *f = h->fields[i], *colon = strchr(f, ':');
		int64_t v;
		size_t c;

		if (colon == NULL || !key_valid(f, (size_t)(colon - f))) {
			(*malformed)++;
			continue;
		}
		if (category != NULL && (strlen(category) != (size_t)(colon - f) ||
		                         memcmp(f, category, colon - f) != 0))
			continue;
		for (c = 0; c < KPI__COUNTERS && strcmp(colon + 1, counter_names[c]) != 0; c++)
			;
		if (c == KPI__COUNTERS)
			continue; /* a counter of a later version */
		if (parse_int64(h->values[i], 0, INT64_MAX, &v) < 0) {
			(*malformed)++;
			continue;
		}
		n[c] = v > INT64_MAX - n[c] ? INT64_MAX : n[c] + v;
		any = true;
	}
	return any;
}

struct table {
	struct htab index; /* unit id -> row; keys are the rows' own strings */
	struct kpi_row *rows;
	size_t n, cap;
};

static struct kpi_row *row_of(struct table *t, const char *unit, size_t len)
{
	int i = htab_get(&t->index, unit, len);

	if (i >= 0)
		return &t->rows[i];
	if (t->n == t->cap) {
		/* the index points at the rows' strings, which do not move with the array */
		t->cap = t->cap ? t->cap * 2 : 16;
		t->rows = xreallocarray(t->rows, t->cap, sizeof(*t->rows));
	}
	struct kpi_row *row = &t->rows[t->n];
	memset(row, 0, sizeof(*row));
	row->unit = xstrndup(unit, len);
	if (htab_put(&t->index, row->unit, len, (int)t->n) < 0)
		fatalx("kpi: a row was indexed twice");
	t->n++;
	return row;
}

static void add(struct kpi_row *row, const int64_t n[KPI__COUNTERS])
{
	for (size_t c = 0; c < KPI__COUNTERS; c++)
		row->n[c] = n[c] > INT64_MAX - row->n[c] ? INT64_MAX : row->n[c] + n[c];
}

/* The deepest unit of the rules that is unit or a '/'-prefix of it; -1 when none. */
static int deepest_unit(const struct rules *r, const char *unit)
{
	size_t whole = strlen(unit);

	for (size_t len = whole; len > 0; len--) {
		if (len < whole && unit[len] != '/')
			continue;
		int u = rules_unit(r, unit, len);
		if (u >= 0)
			return u;
	}
	return -1;
}

/* Sign of a/b - c/d, exactly, for a, c >= 0 and b, d > 0 (continued fractions). */
static int frac_cmp(int64_t a, int64_t b, int64_t c, int64_t d)
{
	int sign = 1;

	for (;;) {
		int64_t qa = a / b, qc = c / d;
		if (qa != qc)
			return qa < qc ? -sign : sign;
		a -= qa * b;
		c -= qc * d;
		if (a == 0 || c == 0)
			return a == c ? 0 : a == 0 ? -sign : sign;
		/* a/b < c/d  <=>  b/a > d/c */
		int64_t t = a;
		a = b;
		b = t;
		t = c;
		c = d;
		d = t;
		sign = -sign;
	}
}

static int row_cmp(const void *pa, const void *pb)
{
	const struct kpi_row *a = pa, *b = pb;
	int64_t da = a->den[KPI_ON_TIME_CLOSURE], db = b->den[KPI_ON_TIME_CLOSURE];

	if ((da == 0) != (db == 0))
		return da == 0 ? 1 : -1;
	if (da != 0) {
		int c = frac_cmp(a->num[KPI_ON_TIME_CLOSURE], da, b->num[KPI_ON_TIME_CLOSURE], db);
		if (c != 0)
			return c;
	}
	return strcmp(a->unit, b->unit);
}

static void rates_of(struct kpi_row *row)
{
	for (size_t k = 0; k < KPI__RATES; k++) {
		row->num[k] = row->n[rates[k].num];
		row->den[k] = row->n[rates[k].den];
		row->rate[k] =
		        row->den[k] > 0 ? (double)row->num[k] / (double)row->den[k] : KPI_NO_RATE;
	}
}

static int check_opts(const char *month, const struct rules *r, const struct kpi_opts *o, int *kind,
                      char *err, size_t errsz)
{
	*kind = -1;
	if (!kpi_month_valid(month)) {
		snprintf(err, errsz, "expected a month YYYY-MM, got \"%s\"", month);
		return -1;
	}
	if (o->unit != NULL && !unit_id_valid(o->unit, strlen(o->unit))) {
		snprintf(err, errsz, "\"%s\" is not a unit id", o->unit);
		return -1;
	}
	if (o->category != NULL && !key_valid(o->category, strlen(o->category))) {
		snprintf(err, errsz, "\"%s\" is not a category key", o->category);
		return -1;
	}
	if (o->by_kind == NULL)
		return 0;
	if (r == NULL) {
		snprintf(err, errsz, "rows by kind need the rules (which unit is of which kind)");
		return -1;
	}
	for (size_t k = 0; k < r->nkinds; k++) {
		if (strcmp(r->kinds[k], o->by_kind) == 0)
			*kind = (int)k;
	}
	if (*kind < 0) {
		snprintf(err, errsz, "the rules have no unit of kind \"%s\"", o->by_kind);
		return -1;
	}
	return 0;
}

int kpi_report_build(const char *month, const struct kpi_hash *in, size_t n, const struct rules *r,
                     const struct kpi_opts *o, struct kpi_report *out, char *err, size_t errsz)
{
	struct table t = {0};
	int kind;

	memset(out, 0, sizeof(*out));
	if (check_opts(month, r, o, &kind, err, errsz) < 0)
		return -1;
	snprintf(out->month, sizeof(out->month), "%s", month);
	htab_init(&t.index, n * 2 + 8);
	for (size_t i = 0; i < n; i++) {
		const char *unit = in[i].unit;
		int64_t counts[KPI__COUNTERS];

		if (!unit_id_valid(unit, strlen(unit))) {
			out->malformed++;
			continue;
		}
		if (!read_hash(&in[i], o->category, counts, &out->malformed))
			continue;
		if (kind >= 0) {
			int u = deepest_unit(r, unit);
			int k = u >= 0 ? rules_nearest_kind(r, u, kind) : -1;
			if (k < 0) {
				out->outside++;
				continue;
			}
			const char *id = r->units[k].id;
			if (o->unit == NULL || under(id, strlen(id), o->unit))
				add(row_of(&t, id, strlen(id)), counts);
			continue;
		}
		/* the unit and each of its ancestors, shortest first */
		for (size_t len = 1; unit[len - 1] != '\0'; len++) {
			if (unit[len] != '/' && unit[len] != '\0')
				continue;
			if (o->unit == NULL || under(unit, len, o->unit))
				add(row_of(&t, unit, len), counts);
		}
	}
	htab_free(&t.index);
	for (size_t i = 0; i < t.n; i++) {
		int u = r != NULL ? rules_unit(r, t.rows[i].unit, strlen(t.rows[i].unit)) : -1;
		t.rows[i].name = u >= 0 ? xstrdup(r->units[u].name) : NULL;
		rates_of(&t.rows[i]);
	}
	if (t.n > 1)
		qsort(t.rows, t.n, sizeof(*t.rows), row_cmp);
	out->rows = t.rows;
	out->nrows = t.n;
	return 0;
}

void kpi_report_free(struct kpi_report *rep)
{
	for (size_t i = 0; i < rep->nrows; i++) {
		free(rep->rows[i].unit);
		free(rep->rows[i].name);
	}
	free(rep->rows);
	rep->rows = NULL;
	rep->nrows = 0;
}

json_t *kpi_report_json(const struct kpi_report *rep)
{
	json_t *doc = json_object(), *rows = json_array();

	json_object_set_new(doc, "month", json_string(rep->month));
	json_object_set_new(doc, "rows", rows);
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct kpi_row *row = &rep->rows[i];
		json_t *o = json_object(), *rs = json_object();
		json_object_set_new(o, "unit", json_string(row->unit));
		json_object_set_new(o, "name",
		                    row->name != NULL ? json_string(row->name) : json_null());
		for (size_t c = 0; c < KPI__COUNTERS; c++)
			json_object_set_new(o, counter_names[c], json_integer(row->n[c]));
		for (size_t k = 0; k < KPI__RATES; k++)
			json_object_set_new(rs, rates[k].name,
			                    row->rate[k] >= 0 ? json_real(row->rate[k])
			                                      : json_null());
		json_object_set_new(o, "rates", rs);
		json_array_append_new(rows, o);
	}
	return doc;
}

void kpi_percent(double rate, char out[KPI_PERCENT_BUFSZ])
{
	if (rate < 0)
		snprintf(out, KPI_PERCENT_BUFSZ, "-");
	else
		snprintf(out, KPI_PERCENT_BUFSZ, "%.1f%%", rate * 100.0);
}
