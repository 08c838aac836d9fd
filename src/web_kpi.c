/*
 * web_kpi.c: §11's monthly rows for gridweb, until src/kpi.c (branch
 * reports) gives them to gridctl and gridweb alike (see web_kpi.h).
 */
#include <stdlib.h>
#include <string.h>

#include "web_kpi.h"

static const char *const counters[] = {
        "created",   "acked",    "acked_on_time", "closed",   "closed_on_time",
        "escalated", "breached", "reworked",      "returned", "redispatched",
        "extended",  "parked",   "cancelled",     "reopened", "urged",
};

#define NCOUNTERS GR_NELEM(counters)
enum {
	K_CREATED,
	K_ACKED,
	K_ACKED_ON_TIME,
	K_CLOSED,
	K_CLOSED_ON_TIME,
	K_REWORKED = 7,
	K_RETURNED = 8,
	K_EXTENDED = 10,
	K_REOPENED = 13
};

struct row {
	char *unit;
	int64_t n[NCOUNTERS];
};

struct web_kpi {
	struct row *rows;
	size_t nrows, cap;
	struct htab index; /* unit -> row; keys are the rows' own strings */
};

struct web_kpi *web_kpi_new(void)
{
	struct web_kpi *k = xcalloc(1, sizeof(*k));

	htab_init(&k->index, 64);
	return k;
}

void web_kpi_free(struct web_kpi *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->nrows; i++)
		free(k->rows[i].unit);
	free(k->rows);
	htab_free(&k->index);
	free(k);
}

static struct row *row_of(struct web_kpi *k, const char *unit, size_t len)
{
	int i = htab_get(&k->index, unit, len);

	if (i >= 0)
		return &k->rows[i];
	if (k->nrows == k->cap) {
		k->cap = k->cap == 0 ? 64 : k->cap * 2;
		k->rows = xreallocarray(k->rows, k->cap, sizeof(*k->rows));
	}
	struct row *r = &k->rows[k->nrows];
	memset(r, 0, sizeof(*r));
	r->unit = xstrndup(unit, len);
	htab_put(&k->index, r->unit, len, (int)k->nrows);
	k->nrows++;
	return r;
}

void web_kpi_add(struct web_kpi *k, const char *unit, const char *field, size_t flen, int64_t n)
{
	const char *colon = memchr(field, ':', flen);
	size_t c;

	if (colon == NULL)
		return;
	colon++;
	for (c = 0; c < NCOUNTERS; c++) {
		if (strlen(counters[c]) == (size_t)(field + flen - colon) &&
		    memcmp(counters[c], colon, (size_t)(field + flen - colon)) == 0)
			break;
	}
	if (c == NCOUNTERS)
		return;
	/* the unit and every ancestor by id: a street's row holds its communities and grids */
	size_t len = strlen(unit);
	for (;;) {
		row_of(k, unit, len)->n[c] += n;
		while (len > 0 && unit[len - 1] != '/')
			len--;
		if (len == 0)
			break;
		len--; /* the slash */
	}
}

static json_t *rate(int64_t num, int64_t den)
{
	return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static int by_rate(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	bool hx = x->n[K_CLOSED] > 0, hy = y->n[K_CLOSED] > 0;

	if (hx != hy)
		return hx ? -1 : 1;
	if (hx) {
		/* compare closed_on_time/closed by cross-multiplying: exact */
		long double l = (long double)x->n[K_CLOSED_ON_TIME] * (long double)y->n[K_CLOSED];
		long double r = (long double)y->n[K_CLOSED_ON_TIME] * (long double)x->n[K_CLOSED];
		if (l != r)
			return l < r ? -1 : 1;
	}
	return strcmp(x->unit, y->unit);
}

json_t *web_kpi_json(const struct web_kpi *k, const struct rules *r, const char *month)
{
	const struct row **order = xcalloc(k->nrows + 1, sizeof(*order));
	json_t *rows = json_array();

	for (size_t i = 0; i < k->nrows; i++)
		order[i] = &k->rows[i];
	qsort(order, k->nrows, sizeof(*order), by_rate);
	for (size_t i = 0; i < k->nrows; i++) {
		const struct row *w = order[i];
		int u = r != NULL ? rules_unit(r, w->unit, strlen(w->unit)) : -1;
		json_t *o = json_object(), *rates = json_object();

		json_object_set_new(o, "unit", json_string(w->unit));
		json_object_set_new(o, "name",
		                    u >= 0 ? json_string(r->units[u].name) : json_null());
		for (size_t c = 0; c < NCOUNTERS; c++)
			json_object_set_new(o, counters[c], json_integer(w->n[c]));
		json_object_set_new(rates, "on_time_closure",
		                    rate(w->n[K_CLOSED_ON_TIME], w->n[K_CLOSED]));
		json_object_set_new(rates, "on_time_ack",
		                    rate(w->n[K_ACKED_ON_TIME], w->n[K_ACKED]));
		json_object_set_new(rates, "rework", rate(w->n[K_REWORKED], w->n[K_CLOSED]));
		json_object_set_new(rates, "extension", rate(w->n[K_EXTENDED], w->n[K_CLOSED]));
		json_object_set_new(rates, "return", rate(w->n[K_RETURNED], w->n[K_CREATED]));
		json_object_set_new(rates, "reopen", rate(w->n[K_REOPENED], w->n[K_CLOSED]));
		json_object_set_new(o, "rates", rates);
		json_array_append_new(rows, o);
	}
	free(order);
	return json_pack("{s:s, s:o}", "month", month, "rows", rows);
}
