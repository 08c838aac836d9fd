/*
 * kpi.h: the monthly KPI table of SPEC §11, from the counters the daemon
 * keeps in Redis (gr:kpi:<YYYY-MM>:<unit>, fields <category>:<counter>).
 * Pure: the caller reads the month's hashes (gridctl report, gridweb's
 * report page) and hands them over as strings; this module sums them up
 * the unit tree (or per unit of one kind), computes the six rates and
 * orders the rows worst first. No I/O, no hiredis.
 *
 *	struct kpi_hash in[] = {{"xifeng/beijie/beidajie/g03", fields, values, n}, ...};
 *	struct kpi_report rep;
 *	if (kpi_report_build("2026-11", in, nin, rules, &opts, &rep, err, sizeof(err)) == 0)
 *		... rep.rows[0 .. rep.nrows), worst first ...
 *	kpi_report_free(&rep);
 */
#ifndef GR_KPI_H
#define GR_KPI_H

#include <jansson.h>

#include "util.h"

struct rules;
struct tz;

/* The counters of §11: enum, field name, Chinese label. */
#define KPI_COUNTERS(X)                                                                            \
	X(KPI_CREATED, "created", "立案")                                                          \
	X(KPI_ACKED, "acked", "签收")                                                              \
	X(KPI_ACKED_ON_TIME, "acked_on_time", "按时签收")                                          \
	X(KPI_CLOSED, "closed", "结案")                                                            \
	X(KPI_CLOSED_ON_TIME, "closed_on_time", "按期结案")                                        \
	X(KPI_ESCALATED, "escalated", "超时升级")                                                  \
	X(KPI_BREACHED, "breached", "超期")                                                        \
	X(KPI_REWORKED, "reworked", "返工")                                                        \
	X(KPI_RETURNED, "returned", "回退")                                                        \
	X(KPI_REDISPATCHED, "redispatched", "改派")                                                \
	X(KPI_EXTENDED, "extended", "延期")                                                        \
	X(KPI_PARKED, "parked", "挂账")                                                            \
	X(KPI_CANCELLED, "cancelled", "注销")                                                      \
	X(KPI_REOPENED, "reopened", "重办")                                                        \
	X(KPI_URGED, "urged", "催办")

#define KPI_ENUM_(e, name, label) e,
enum kpi_counter { KPI_COUNTERS(KPI_ENUM_) KPI__COUNTERS };
#undef KPI_ENUM_

/* The rates of §11, in the order of the table and of --json's "rates". */
enum kpi_rate {
	KPI_ON_TIME_CLOSURE, /* closed_on_time / closed: 按期结案率 */
	KPI_ON_TIME_ACK,     /* acked_on_time / acked: 及时签收率 */
	KPI_REWORK,          /* reworked / closed: 返工率 */
	KPI_EXTENSION,       /* extended / closed: 延期率 */
	KPI_RETURN,          /* returned / created: 回退率 */
	KPI_REOPEN,          /* reopened / closed: 重办率 */
	KPI__RATES
};

const char *kpi_counter_name(enum kpi_counter c);  /* "closed_on_time" */
const char *kpi_counter_label(enum kpi_counter c); /* "按期结案" */
const char *kpi_rate_name(enum kpi_rate k);        /* "on_time_closure" */
const char *kpi_rate_label(enum kpi_rate k);       /* "按期结案率" */

/* A rate whose denominator is 0 ("-" in the table, null in JSON). */
#define KPI_NO_RATE (-1.0)

/* One KPI hash as read from Redis: its unit and its HGETALL field/value pairs (borrowed). */
struct kpi_hash {
	const char *unit;
	const char *const *fields;
	const char *const *values;
	size_t n;
};

struct kpi_opts {
	const char *unit;     /* only rows of this unit and below (segment-wise); NULL: all */
	const char *by_kind;  /* one row per unit of this kind (needs rules); NULL: the tree */
	const char *category; /* count this category's fields only; NULL: every category */
};

struct kpi_row {
	char *unit;               /* owned */
	char *name;               /* the rules' name of the unit; NULL without rules; owned */
	int64_t n[KPI__COUNTERS]; /* the unit's counters with its descendants' summed in */
	double rate[KPI__RATES];  /* fractions (a rate may pass 1: 返工率); KPI_NO_RATE */
	int64_t num[KPI__RATES];  /* each rate's numerator and denominator */
	int64_t den[KPI__RATES];
};

struct kpi_report {
	char month[8];        /* "2026-11" */
	struct kpi_row *rows; /* worst first by on-time closure, ties by unit id; no closure last */
	size_t nrows;
	size_t malformed; /* unit ids, fields and values that could not be read: left out */
	size_t outside;   /* with by_kind: hashes with no unit of that kind above them */
};

/* "YYYY-MM" with a month 01..12 and a year 1970..9999. */
bool kpi_month_valid(const char *s);
/* The month of instant t (ms) in zone z, "YYYY-MM", as the daemon counts it. */
void kpi_month_of(const struct tz *z, int64_t t, char out[8]);

/*
 * The table of month from the n hashes in[] (SPEC §11): without
 * o->by_kind, one row per unit with a counted field and per ancestor of
 * one (its '/'-prefixes), each holding its descendants; with it, one row
 * per unit of that kind in the rules above (or at) a hash's unit. Names
 * come from r (may be NULL without by_kind). Counters that are not of §11
 * are ignored. Returns 0 and *out (free with kpi_report_free), or -1 with
 * a sentence in err (a bad month, by_kind without rules or of a kind the
 * rules do not have, a bad unit prefix or category key).
 */
int kpi_report_build(const char *month, const struct kpi_hash *in, size_t n, const struct rules *r,
                     const struct kpi_opts *o, struct kpi_report *out, char *err, size_t errsz);
void kpi_report_free(struct kpi_report *rep);

/*
 * §11's --json document: {"month", "rows": [{"unit", "name", <counters>,
 * "rates": {...}}]}. Caller owns the reference.
 */
json_t *kpi_report_json(const struct kpi_report *rep);

/* "87.5%" (one decimal), or "-" for KPI_NO_RATE. */
#define KPI_PERCENT_BUFSZ 32
void kpi_percent(double rate, char out[KPI_PERCENT_BUFSZ]);

#endif
