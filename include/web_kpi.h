/*
 * web_kpi.h: a month's KPI rows (SPEC §11) from the hashes the daemon
 * counts, summed up the unit tree, with the rates, worst first — what
 * gridweb's report and overview show.
 *
 * A stand-in: `gridctl report` gets the same aggregation in src/kpi.c
 * (branch reports); once that lands, gridweb takes its rows from there
 * and this file goes. Its interface is the table below and one JSON
 * document, §11's `--json`, so the swap touches nothing else.
 */
#ifndef GR_WEB_KPI_H
#define GR_WEB_KPI_H

#include <jansson.h>

#include "rules.h"

struct web_kpi;

struct web_kpi *web_kpi_new(void);
void web_kpi_free(struct web_kpi *k);

/* One field of gr:kpi:<month>:<unit>: "<category>:<counter>" = n. Unknown counters are ignored. */
void web_kpi_add(struct web_kpi *k, const char *unit, const char *field, size_t flen, int64_t n);

/*
 * §11's --json document: {"month", "rows": [{"unit", "name", <counters>,
 * "rates": {...}}]}, a row per unit that has counts and per ancestor of
 * one (its descendants summed in), worst on-time closure first, the rows
 * without a rate last; names from r (null for a unit r does not know).
 */
json_t *web_kpi_json(const struct web_kpi *k, const struct rules *r, const char *month);

#endif
