/*
 * web_model.h: the data of gridweb's pages as JSON documents — what
 * /api/... returns and what the HTML pages are rendered from — built from
 * copies of Redis replies and the rules. Pure: no I/O, no hiredis.
 */
#ifndef GR_WEB_MODEL_H
#define GR_WEB_MODEL_H

#include <jansson.h>

#include "rules.h"

/* A Redis reply, copied out of hiredis (its replies live only during their callback). */
enum rval_type { RV_NIL, RV_STR, RV_INT, RV_ARR, RV_ERR };

struct rval {
	enum rval_type type;
	char *s; /* RV_STR, RV_ERR: NUL-terminated, len bytes */
	size_t len;
	long long i;
	struct rval *e; /* RV_ARR */
	size_t n;
};

void rval_free(struct rval *v); /* its contents; v itself is the caller's */
/* The value of field name in a flat [field, value, ...] reply (HGETALL), or NULL. */
const struct rval *rval_field(const struct rval *h, const char *name);
/* A string value, or NULL. */
const char *rval_str(const struct rval *v);

struct wm_ctx {
	const struct rules *r;
	int64_t now;
};

/* The filters of the case list (SPEC §12): "" or false for none. */
struct wm_filter {
	char state[32];
	char level[72];
	char unit[1200];
	char category[72];
	bool overdue;
};

/* Does a case of these fields pass f (overdue is checked elsewhere)? */
bool wm_filter_match(const struct wm_filter *f, const char *state, const char *level,
                     const char *unit, const char *category);
/* Does unit lie under prefix (segment-wise; "" is everything)? */
bool wm_unit_under(const char *unit, const char *prefix);

/* The §11 month ("2026-12") and the date ("2026-12-03") of t in the rules' zone. */
void wm_month(const struct rules *r, int64_t t, char out[8]);
void wm_date(const struct rules *r, int64_t t, char out[11]);

/* The overview (/api/summary). */
struct wm_summary_in {
	const struct rval *stats;         /* HGETALL gr:stats */
	long long overdue;                /* ZCOUNT gr:deadlines -inf now */
	const struct rval *breached;      /* HGET gr:daily:<today> breached */
	const char *const *overdue_units; /* the resolved unit of each case overdue now */
	size_t noverdue_units;
	const json_t *kpi;  /* the month's kpi_report_json, or NULL */
	const json_t *feed; /* the latest events (wm_event), newest first */
};
json_t *wm_summary(const struct wm_ctx *c, const struct wm_summary_in *in);

/*
 * One case: the hash fields of §7 with names from the rules, its document
 * (doc may be NULL), its deadlines and the one it must meet now. With
 * full, the document's detail, reporter, location and attrs too.
 */
json_t *wm_case(const struct wm_ctx *c, const char *id, const struct rval *hash, const char *doc,
                bool full);
/* Who serves the case at every level now, the current and the next one, and when. */
json_t *wm_chain(const struct wm_ctx *c, const struct rval *hash);
/* An event of gr:events or a timeline with its type's name and a sentence in Chinese. */
json_t *wm_event(const struct wm_ctx *c, const json_t *ev);
/* A dead letter: one XRANGE element [id, [field, value, ...]]. */
json_t *wm_deadletter(const struct rval *entry);

/* The case list's cursor "<created_at ms>~<id>": 0, or -1 when it is not one. */
int wm_cursor_parse(const char *s, int64_t *ms, char *id, size_t idsz);

#endif
