/*
 * web.c: gridweb's server. One event loop; two Redis connections through
 * rconn.c (reads on one, SUBSCRIBE gr:events on the other: a subscribed
 * connection can do nothing else); the HTTP server of httpd.c.
 *
 * A request is a small state machine (struct wreq): each phase sends its
 * Redis commands at once, pipelined on the read connection, copies the
 * replies out of hiredis as they come (struct rval), and when the last
 * one is in, the next phase runs or the page is written. Nothing scans
 * the key space: the overview reads the counters the daemon keeps in the
 * same step as every change (gr:stats, gr:deadlines, gr:daily:<date>),
 * the case list pages through gr:open by score.
 *
 * Which unit an overdue case belongs to is read once and remembered
 * (struct ucache): a case's unit changes only when it is redispatched,
 * and the redispatched event says to which unit, so while the
 * subscription is up the memory is exact; when it drops, it is forgotten.
 *
 * Server-sent events (/api/events): every event of gr:events is passed
 * on as it came, one "data:" line each, to every browser that listens.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpd.h"
#include "incident.h"
#include "lifecycle.h"
#include "log.h"
#include "notify.h"
#include "rconn.h"
#include "timeutil.h"
#include "version.h"
#include "web.h"
#include "web_html.h"
#include "kpi.h"
#include "web_model.h"
#include "web_page.h"

/* the page's look, script and icon, built in from src/gridweb.{css,js,svg} */
static const char gridweb_css[] =
#include "gridweb_css.h"
        ;
static const char gridweb_js[] =
#include "gridweb_js.h"
        ;
static const char gridweb_svg[] =
#include "gridweb_svg.h"
        ;

#define FEED_MAX        40    /* events kept for the overview's feed */
#define SSE_MAX         64    /* browsers listening at once */
#define SSE_BACKLOG_MAX 65536 /* bytes a listener may have unsent before it is dropped */
#define HEARTBEAT_S     15
#define KPI_FRESH_MS    5000 /* the month's rates on the overview are at most this old */
#define LIST_LIMIT      100
#define LIST_LIMIT_MAX  500
#define CHUNK_MIN       1000
#define CHUNK_MAX       16384
#define TIMELINE_MAX    1000 /* the latest events of a case's timeline shown */
#define DL_LIMIT        50
#define UCACHE_MAX      2000000
#define STOP_GRACE_MS   300

static const struct httpd_limits limits = {
        .max_headers = 8192,
        .max_body = 1024,
        .timeout_s = 10,
};

/* ---- the unit of each case, remembered --------------------------------------- */

struct ucache {
	struct htab index; /* id -> entry; keys are the entries' own strings */
	struct {
		char *id, *unit;
	} * v;
	size_t n, cap;
};

static void ucache_clear(struct ucache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].id);
		free(c->v[i].unit);
	}
	free(c->v);
	htab_free(&c->index);
	memset(c, 0, sizeof(*c));
	htab_init(&c->index, 1024);
}

static const char *ucache_get(const struct ucache *c, const char *id)
{
	int i = htab_get(&c->index, id, strlen(id));

	return i >= 0 ? c->v[i].unit : NULL;
}

/* Remember id's unit; an entry there already is kept unless overwrite. */
static void ucache_put(struct ucache *c, const char *id, const char *unit, bool overwrite)
{
	int i = htab_get(&c->index, id, strlen(id));

	if (i >= 0) {
		if (overwrite) {
			free(c->v[i].unit);
			c->v[i].unit = xstrdup(unit);
		}
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 1024 : c->cap * 2;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	c->v[c->n].id = xstrdup(id);
	c->v[c->n].unit = xstrdup(unit);
	htab_put(&c->index, c->v[c->n].id, strlen(id), (int)c->n);
	c->n++;
}

/* Closed cases are never taken out: start again now and then, between requests. */
static void ucache_trim(struct ucache *c)
{
	if (c->n >= UCACHE_MAX)
		ucache_clear(c);
}

/* ---- the program -------------------------------------------------------------------- */

struct sse {
	struct evhttp_request *req;
	struct web *w;
};

struct web {
	struct event_base *base;
	struct config *cfg;
	struct rules *r;
	struct web_auth *auth;
	struct rconn *rd, *sub;
	struct httpd *http;
	bool schema_ok; /* gr:meta checked on this connection */
	bool subscribed;
	json_t *feed[FEED_MAX]; /* the latest events, raw, feed[(head - 1) % FEED_MAX] the newest */
	size_t feed_head, feed_n;
	struct ucache units;
	struct {
		char month[8];
		int64_t at;
		json_t *doc;
	} kpi;
	struct sse *sse[SSE_MAX];
	size_t nsse;
	uint64_t seq;
	int exit_code;
	bool stopping;
	struct log_fold auth_fold, throttle_fold;
};

static char *key(const struct web *w, const char *fmt, ...) GR_PRINTF(2, 3);

static char *key(const struct web *w, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_puts(&b, w->cfg->prefix);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

/* ---- replies, copied --------------------------------------------------------------- */

static void rval_copy(struct rval *out, const redisReply *r)
{
	memset(out, 0, sizeof(*out));
	if (r == NULL)
		return;
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		out->type = r->type == REDIS_REPLY_ERROR ? RV_ERR : RV_STR;
		out->s = xmalloc(r->len + 1);
		memcpy(out->s, r->str, r->len);
		out->s[r->len] = '\0';
		out->len = r->len;
		break;
	case REDIS_REPLY_INTEGER:
		out->type = RV_INT;
		out->i = r->integer;
		break;
	case REDIS_REPLY_ARRAY:
		out->type = RV_ARR;
		out->n = r->elements;
		out->e = xcalloc(r->elements + 1, sizeof(*out->e));
		for (size_t i = 0; i < r->elements; i++)
			rval_copy(&out->e[i], r->element[i]);
		break;
	default:
		out->type = RV_NIL;
	}
}

/* ---- requests ------------------------------------------------------------------------ */

enum page { P_OVERVIEW, P_INCIDENTS, P_INCIDENT, P_REPORT, P_DEADLETTERS };

static const char *const page_names[] = {"overview", "incidents", "incidents", "report",
                                         "deadletters"};

struct wreq {
	struct web *w;
	struct evhttp_request *req;
	enum page page;
	bool api;
	int64_t now;
	int phase;
	/* the replies of the phase in flight */
	struct rval *rv;
	size_t nrv, sent, got;
	bool failed;
	/* what the request asks */
	struct wm_filter f;
	char id[INCIDENT_ID_MAX + 1];
	char month[8];
	char before[64]; /* dead letters: older than this entry */
	int64_t cur_ms;  /* the case list's cursor */
	char cur_id[INCIDENT_ID_MAX + 1];
	bool has_cur;
	size_t limit;
	/* the case list's walk through gr:open */
	char **ids; /* the chunk, copied; with its scores */
	int64_t *scores;
	size_t nids, chunk;
	int64_t lo;
	long off;
	bool end;
	long long bound; /* at most this many match; -1: unknown */
	struct htab overdue;
	struct rval overdue_ids; /* keeps the overdue set's keys */
	bool have_overdue;
	char **match;
	int64_t *match_ms;
	size_t nmatch;
	/* the overview's */
	struct rval stats, breached, kpi_units, ovd;
	struct rval due_ids; /* gr:due's members due now, while their gr:deadlines is asked */
	long long noverdue;
	const char **ovd_units;
	size_t novd_units, nunit_gets;
	bool kpi_fetch;
	bool *fetched; /* the chunk's ids whose fields were asked for */
};

static void step(struct wreq *q);

static void wreq_free(struct wreq *q)
{
	for (size_t i = 0; i < q->nrv; i++)
		rval_free(&q->rv[i]);
	free(q->rv);
	for (size_t i = 0; i < q->nids; i++)
		free(q->ids[i]);
	free(q->ids);
	free(q->scores);
	for (size_t i = 0; i < q->nmatch; i++)
		free(q->match[i]);
	free(q->match);
	free(q->match_ms);
	if (q->have_overdue)
		htab_free(&q->overdue);
	rval_free(&q->overdue_ids);
	rval_free(&q->stats);
	rval_free(&q->breached);
	rval_free(&q->kpi_units);
	rval_free(&q->ovd);
	rval_free(&q->due_ids);
	free(q->ovd_units);
	free(q->fetched);
	free(q);
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct wreq *q = priv;

	(void)ac;
	if (r == NULL)
		q->failed = true;
	rval_copy(&q->rv[q->got++], r);
	if (q->got == q->sent)
		step(q);
}

/* Start a phase: forget the last one's replies. */
static void phase(struct wreq *q, int ph)
{
	for (size_t i = 0; i < q->nrv; i++)
		rval_free(&q->rv[i]);
	q->nrv = q->sent = q->got = 0;
	q->phase = ph;
}

static void cmd(struct wreq *q, int argc, const char **argv)
{
	if (q->failed)
		return;
	q->rv = xreallocarray(q->rv, q->nrv + 1, sizeof(*q->rv));
	memset(&q->rv[q->nrv], 0, sizeof(*q->rv));
	q->nrv++;
	if (rconn_argv(q->w->rd, on_reply, q, argc, argv, NULL) < 0) {
		q->failed = true;
		q->nrv--;
		return;
	}
	q->sent++;
}

/* The phase's commands are sent: its replies will call step (now, if none went out). */
static void send_phase(struct wreq *q)
{
	if (q->sent == 0 || (q->failed && q->got == q->sent))
		step(q);
}

/* ---- answers --------------------------------------------------------------------------- */

static void headers(struct evhttp_request *req, const char *ctype, bool cache)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
	                  "form-action 'self'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", cache ? "max-age=3600" : "no-store");
}

static void send_body(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                      const char *body, size_t len, bool cache)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("out of memory");
	headers(req, ctype, cache);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void send_json(struct evhttp_request *req, int code, const char *reason, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s == NULL)
		fatalx("out of memory");
	send_body(req, code, reason, "application/json; charset=utf-8", s, strlen(s), false);
	free(s);
	json_decref(doc);
}

static void view_of(const struct wreq *q, struct wp_view *v)
{
	v->r = q->w->r;
	v->now = q->now;
	v->page = page_names[q->page];
}

static void send_error(struct web *w, struct evhttp_request *req, bool api, int code,
                       const char *reason, const char *title, const char *msg)
{
	if (api) {
		send_json(req, code, reason, json_pack("{s:s}", "error", msg));
		return;
	}
	struct wp_view v = {.r = w->r, .now = time_now_ms(), .page = ""};
	struct buf b;
	buf_init(&b);
	wp_error(&b, &v, title, msg);
	send_body(req, code, reason, "text/html; charset=utf-8", b.data, b.len, false);
	buf_free(&b);
}

static void finish_error(struct wreq *q, int code, const char *reason, const char *title,
                         const char *msg)
{
	send_error(q->w, q->req, q->api, code, reason, title, msg);
	wreq_free(q);
}

static void finish_down(struct wreq *q)
{
	finish_error(q, 503, "Service Unavailable", "暂时无法读取数据",
	             "与数据库（Redis）的连接中断，正在自动重连，请稍后刷新。");
}

/* The page, or its document for /api/...; takes doc. */
static void finish(struct wreq *q, json_t *doc)
{
	if (q->api) {
		send_json(q->req, 200, "OK", doc);
		wreq_free(q);
		return;
	}
	struct wp_view v;
	struct buf b;
	view_of(q, &v);
	buf_init(&b);
	switch (q->page) {
	case P_OVERVIEW:
		wp_overview(&b, &v, doc);
		break;
	case P_INCIDENTS:
		wp_incidents(&b, &v, doc, &q->f);
		break;
	case P_INCIDENT:
		wp_incident(&b, &v, doc);
		break;
	case P_REPORT:
		wp_report(&b, &v, doc);
		break;
	case P_DEADLETTERS:
		wp_deadletters(&b, &v, doc);
		break;
	}
	send_body(q->req, 200, "OK", "text/html; charset=utf-8", b.data, b.len, false);
	buf_free(&b);
	json_decref(doc);
	wreq_free(q);
}

/* ---- the feed --------------------------------------------------------------------------- */

static json_t *feed_json(const struct web *w, int64_t now)
{
	struct wm_ctx c = {.r = w->r, .now = now};
	json_t *a = json_array();

	for (size_t i = 0; i < w->feed_n; i++) {
		size_t k = (w->feed_head + FEED_MAX - 1 - i) % FEED_MAX;
		json_array_append_new(a, wm_event(&c, w->feed[k]));
	}
	return a;
}

/* ---- the month's KPIs --------------------------------------------------------------------- */

/*
 * The month's document (§11's --json, src/kpi.c) from SMEMBERS kpiunits
 * and one HGETALL per unit (hashes[i] for units[i]).
 */
static json_t *kpi_doc(const struct web *w, const char *month, const struct rval *units,
                       const struct rval *hashes, size_t n)
{
	size_t nu = units != NULL && units->type == RV_ARR ? units->n : 0;
	struct kpi_hash *in = xcalloc(nu > 0 ? nu : 1, sizeof(*in));
	const char **strs = NULL;
	size_t nin = 0, total = 0;

	for (size_t i = 0; i < nu && i < n; i++)
		if (hashes[i].type == RV_ARR)
			total += hashes[i].n;
	strs = xcalloc(total > 0 ? total : 1, sizeof(*strs));
	total = 0;
	for (size_t i = 0; i < nu && i < n; i++) {
		const struct rval *h = &hashes[i];
		if (units->e[i].type != RV_STR || h->type != RV_ARR)
			continue;
		const char **f = strs + total, **v = strs + total + h->n / 2;
		size_t k = 0;
		for (size_t j = 0; j + 1 < h->n; j += 2) {
			if (h->e[j].type != RV_STR || h->e[j + 1].type != RV_STR)
				continue;
			f[k] = h->e[j].s;
			v[k] = h->e[j + 1].s;
			k++;
		}
		total += h->n;
		in[nin++] = (struct kpi_hash){units->e[i].s, f, v, k};
	}
	struct kpi_report rep;
	struct kpi_opts o = {0};
	char err[256];
	json_t *doc;
	if (kpi_report_build(month, in, nin, w->r, &o, &rep, err, sizeof(err)) == 0) {
		doc = kpi_report_json(&rep);
		kpi_report_free(&rep);
	} else {
		log_kv(LOG_WARN, "kpi_unreadable", "month", month, "error", err, NULL);
		doc = json_pack("{s:s, s:[]}", "month", month, "rows");
	}
	free(strs);
	free(in);
	return doc;
}

static void send_kpi_hashes(struct wreq *q, const char *month, const struct rval *units)
{
	for (size_t i = 0; units->type == RV_ARR && i < units->n; i++) {
		char *k = key(q->w, "kpi:%s:%s", month,
		              units->e[i].type == RV_STR ? units->e[i].s : "");
		const char *argv[] = {"HGETALL", k};
		cmd(q, 2, argv);
		free(k);
	}
}

/* ---- the overdue cases ---------------------------------------------------------------------
 *
 * gr:deadlines holds a case only when the deadline it must meet is not its
 * gr:due score (spec-deviations.md): the overdue cases are its members
 * scored up to now and gr:due's members scored up to now that it does not
 * hold. Phase one asks both ranges (overdue_ask); when gr:due has some,
 * phase two asks their gr:deadlines scores (due_phase) and due_merge adds
 * those with none to the first.
 */

/* The two ranges, as the next two commands of the phase. */
static void overdue_ask(struct wreq *q, const char *now)
{
	char *dl = key(q->w, "deadlines"), *due = key(q->w, "due");
	const char *a1[] = {"ZRANGEBYSCORE", dl, "-inf", now};
	const char *a2[] = {"ZRANGEBYSCORE", due, "-inf", now};

	cmd(q, 4, a1);
	cmd(q, 4, a2);
	free(dl);
	free(due);
}

/* v made an array: a reply that is not one (an error) counts as empty. */
static void rv_array(struct rval *v)
{
	if (v->type != RV_ARR) {
		rval_free(v);
		memset(v, 0, sizeof(*v));
		v->type = RV_ARR;
	}
}

/* Reply i of the phase, taken: rv[i] left empty. */
static struct rval rv_take(struct wreq *q, size_t i)
{
	struct rval v = q->rv[i];

	memset(&q->rv[i], 0, sizeof(q->rv[i]));
	return v;
}

/*
 * Keeps gr:due's range (reply i) and, in phase ph, asks gr:deadlines
 * about it: true when asked (the phase's answer will come), false when
 * the range is empty.
 */
static bool due_phase(struct wreq *q, int ph, size_t i)
{
	rval_free(&q->due_ids);
	q->due_ids = rv_take(q, i);
	phase(q, ph);
	if (q->due_ids.type != RV_ARR || q->due_ids.n == 0)
		return false;
	const char **argv = xcalloc(q->due_ids.n + 2, sizeof(*argv));
	char *dl = key(q->w, "deadlines");
	size_t n = 0;
	argv[n++] = "ZMSCORE";
	argv[n++] = dl;
	for (size_t k = 0; k < q->due_ids.n; k++) {
		const char *id = rval_str(&q->due_ids.e[k]);
		if (id != NULL)
			argv[n++] = id;
	}
	if (n > 2)
		cmd(q, (int)n, argv);
	free(argv);
	free(dl);
	if (n > 2)
		send_phase(q);
	return n > 2;
}

/* Adds to ids the members of q->due_ids that scores (ZMSCORE's answer) says gr:deadlines lacks. */
static void due_merge(struct wreq *q, struct rval *ids, const struct rval *scores)
{
	size_t k = 0;

	rv_array(ids);
	if (scores->type != RV_ARR)
		return;
	ids->e = xreallocarray(ids->e, ids->n + q->due_ids.n + 1, sizeof(*ids->e));
	for (size_t i = 0; i < q->due_ids.n; i++) {
		struct rval *id = &q->due_ids.e[i];
		if (rval_str(id) == NULL)
			continue;
		if (k < scores->n && scores->e[k].type == RV_NIL) {
			ids->e[ids->n++] = *id;
			memset(id, 0, sizeof(*id));
		}
		k++;
	}
}

/* ---- the overview -------------------------------------------------------------------------- */

enum { OV_START, OV_DUE, OV_UNITS, OV_DONE };

static void overview_step(struct wreq *q)
{
	struct web *w = q->w;
	char now[24], date[11];

	switch (q->phase) {
	case -1: {
		char *stats = key(w, "stats"), *daily, *ku;
		wm_date(w->r, q->now, date);
		wm_month(w->r, q->now, q->month);
		daily = key(w, "daily:%s", date);
		ku = key(w, "kpiunits:%s", q->month);
		fmt_int64(now, q->now);
		phase(q, OV_START);
		const char *a1[] = {"HGETALL", stats};
		const char *a4[] = {"HGET", daily, "breached"};
		const char *a5[] = {"SMEMBERS", ku};
		cmd(q, 2, a1);
		overdue_ask(q, now);
		cmd(q, 3, a4);
		q->kpi_fetch = strcmp(w->kpi.month, q->month) != 0 || w->kpi.doc == NULL ||
		               q->now - w->kpi.at > KPI_FRESH_MS;
		if (q->kpi_fetch)
			cmd(q, 2, a5);
		free(stats);
		free(daily);
		free(ku);
		send_phase(q);
		return;
	}
	case OV_START: {
		q->stats = rv_take(q, 0);
		q->ovd = rv_take(q, 1);
		q->breached = rv_take(q, 3);
		if (q->kpi_fetch)
			q->kpi_units = rv_take(q, 4);
		if (due_phase(q, OV_DUE, 2))
			return;
		/* nothing in gr:due is due: on at once */
	}
		/* fallthrough */
	case OV_DUE: {
		if (q->nrv > 0)
			due_merge(q, &q->ovd, &q->rv[0]);
		rv_array(&q->ovd);
		q->noverdue = (long long)q->ovd.n;
		phase(q, OV_UNITS);
		/* the units of the overdue cases not remembered yet */
		q->ovd_units = xcalloc(q->ovd.n + 1, sizeof(*q->ovd_units));
		q->novd_units = q->ovd.n;
		for (size_t i = 0; i < q->ovd.n; i++) {
			const char *id = rval_str(&q->ovd.e[i]);
			const char *u =
			        id != NULL && w->subscribed ? ucache_get(&w->units, id) : NULL;
			q->ovd_units[i] = u;
			if (id == NULL || u != NULL)
				continue;
			char *k = key(w, "inc:%s", id);
			const char *argv[] = {"HGET", k, "unit"};
			cmd(q, 3, argv);
			free(k);
		}
		q->nunit_gets = q->sent; /* the HGETs come first */
		if (q->kpi_fetch)
			send_kpi_hashes(q, q->month, &q->kpi_units);
		send_phase(q);
		return;
	}
	case OV_UNITS: {
		size_t k = 0;
		for (size_t i = 0; i < q->ovd.n; i++) {
			const char *id = rval_str(&q->ovd.e[i]);
			if (id == NULL || q->ovd_units[i] != NULL || k >= q->nunit_gets)
				continue;
			const char *u = rval_str(&q->rv[k++]);
			q->ovd_units[i] = u; /* valid while rv is */
			if (u != NULL && w->subscribed)
				ucache_put(&w->units, id, u, false);
		}
		if (q->kpi_fetch) {
			json_decref(w->kpi.doc);
			w->kpi.doc = kpi_doc(w, q->month, &q->kpi_units, q->rv + q->nunit_gets,
			                     q->nrv - q->nunit_gets);
			snprintf(w->kpi.month, sizeof(w->kpi.month), "%s", q->month);
			w->kpi.at = q->now;
		}
		struct wm_ctx c = {.r = w->r, .now = q->now};
		json_t *feed = feed_json(w, q->now);
		struct wm_summary_in in = {
		        .stats = &q->stats,
		        .overdue = q->noverdue,
		        .breached = &q->breached,
		        .overdue_units = q->ovd_units,
		        .noverdue_units = q->novd_units,
		        .kpi = w->kpi.doc,
		        .feed = feed,
		};
		json_t *doc = wm_summary(&c, &in);
		json_decref(feed);
		finish(q, doc);
		return;
	}
	}
}

/* ---- the case list ----------------------------------------------------------------------------
 */

enum { IL_START, IL_DUE, IL_CHUNK, IL_FIELDS, IL_ROWS };

static bool needs_fields(const struct wreq *q, const char *id)
{
	const struct wm_filter *f = &q->f;

	if (f->state[0] != '\0' || f->level[0] != '\0' || f->category[0] != '\0')
		return true;
	return f->unit[0] != '\0' && !(q->w->subscribed && ucache_get(&q->w->units, id) != NULL);
}

static bool after_cursor(const struct wreq *q, int64_t ms, const char *id)
{
	return !q->has_cur || ms > q->cur_ms || (ms == q->cur_ms && strcmp(id, q->cur_id) > 0);
}

static void add_match(struct wreq *q, const char *id, int64_t ms)
{
	q->match = xreallocarray(q->match, q->nmatch + 1, sizeof(*q->match));
	q->match_ms = xreallocarray(q->match_ms, q->nmatch + 1, sizeof(*q->match_ms));
	q->match[q->nmatch] = xstrdup(id);
	q->match_ms[q->nmatch++] = ms;
}

static void send_chunk(struct wreq *q)
{
	char *open = key(q->w, "open"), lo[24], off[24], n[24];

	phase(q, IL_CHUNK);
	fmt_int64(lo, q->lo);
	fmt_int64(off, q->off);
	fmt_int64(n, (int64_t)q->chunk);
	const char *argv[] = {"ZRANGEBYSCORE", open, lo, "+inf", "WITHSCORES", "LIMIT", off, n};
	cmd(q, 8, argv);
	free(open);
	send_phase(q);
}

static void send_rows(struct wreq *q)
{
	size_t n = q->nmatch < q->limit ? q->nmatch : q->limit;

	phase(q, IL_ROWS);
	for (size_t i = 0; i < n; i++) {
		char *h = key(q->w, "inc:%s", q->match[i]), *d = key(q->w, "doc:%s", q->match[i]);
		const char *a1[] = {"HGETALL", h};
		const char *a2[] = {"GET", d};
		cmd(q, 2, a1);
		cmd(q, 2, a2);
		free(h);
		free(d);
	}
	send_phase(q);
}

/* The chunk is judged (fields[k]: the HMGET reply of the k-th fetched id): next step. */
static void judge_chunk(struct wreq *q, const struct rval *fields)
{
	struct web *w = q->w;
	size_t k = 0;

	for (size_t i = 0; i < q->nids && q->nmatch <= q->limit; i++) {
		const char *id = q->ids[i];
		if (!after_cursor(q, q->scores[i], id) ||
		    (q->have_overdue && htab_get(&q->overdue, id, strlen(id)) < 0))
			continue;
		if (q->fetched[i]) {
			const struct rval *h = fields != NULL && k < q->nrv ? &fields[k++] : NULL;
			if (h == NULL || h->type != RV_ARR || h->n != 4 || h->e[0].type != RV_STR)
				continue; /* gone since */
			const char *unit = rval_str(&h->e[2]);
			if (unit != NULL && w->subscribed)
				ucache_put(&w->units, id, unit, false);
			if (!wm_filter_match(&q->f, rval_str(&h->e[0]), rval_str(&h->e[1]), unit,
			                     rval_str(&h->e[3])))
				continue;
		} else if (q->f.unit[0] != '\0') {
			const char *unit = ucache_get(&w->units, id);
			if (unit == NULL || !wm_unit_under(unit, q->f.unit))
				continue;
		}
		add_match(q, id, q->scores[i]);
	}
	bool enough = q->nmatch > q->limit || (q->bound >= 0 && (long long)q->nmatch >= q->bound);
	if (enough || q->end) {
		send_rows(q);
		return;
	}
	q->chunk = q->chunk * 2 > CHUNK_MAX ? CHUNK_MAX : q->chunk * 2;
	send_chunk(q);
}

static long long stat_sum(const struct rval *stats, const char *kind, const char *name, bool prefix)
{
	long long n = 0;
	size_t kl = strlen(kind);

	for (size_t i = 0; i + 1 < stats->n; i += 2) {
		const char *f = rval_str(&stats->e[i]), *v = rval_str(&stats->e[i + 1]);
		int64_t c;
		if (f == NULL || v == NULL || strncmp(f, kind, kl) != 0 || f[kl] != ':' ||
		    parse_int64(v, 0, INT64_MAX, &c) < 0)
			continue;
		if (prefix ? wm_unit_under(f + kl + 1, name) : strcmp(f + kl + 1, name) == 0)
			n += c;
	}
	return n;
}

/* The overdue cases known (--overdue), the walk through gr:open begins. */
static void il_walk(struct wreq *q)
{
	if (q->f.overdue) {
		rv_array(&q->overdue_ids);
		htab_init(&q->overdue, q->overdue_ids.n + 16);
		q->have_overdue = true;
		for (size_t i = 0; i < q->overdue_ids.n; i++) {
			const struct rval *e = &q->overdue_ids.e[i];
			if (e->type == RV_STR)
				htab_put(&q->overdue, e->s, e->len, 1);
		}
		long long n = (long long)q->overdue_ids.n;
		if (!q->has_cur)
			q->bound = q->bound < 0 || n < q->bound ? n : q->bound;
	}
	if (q->bound == 0) {
		send_rows(q);
		return;
	}
	q->lo = q->has_cur ? q->cur_ms : 0;
	q->off = 0;
	q->chunk = CHUNK_MIN;
	send_chunk(q);
}

static void incidents_step(struct wreq *q)
{
	struct web *w = q->w;

	switch (q->phase) {
	case -1: {
		char *stats = key(w, "stats"), now[24];
		fmt_int64(now, q->now);
		phase(q, IL_START);
		const char *a1[] = {"HGETALL", stats};
		cmd(q, 2, a1);
		if (q->f.overdue)
			overdue_ask(q, now);
		free(stats);
		send_phase(q);
		return;
	}
	case IL_START: {
		const struct rval *stats = &q->rv[0];
		q->bound = -1;
		if (!q->has_cur && stats->type == RV_ARR) {
			long long b = -1;
			if (q->f.state[0] != '\0')
				b = stat_sum(stats, "state", q->f.state, false);
			if (q->f.level[0] != '\0') {
				long long n = stat_sum(stats, "level", q->f.level, false);
				b = b < 0 || n < b ? n : b;
			}
			if (q->f.unit[0] != '\0') {
				/* gr:stats counts by street: a unit below one is bounded by its
				 * street's count */
				char st[sizeof(q->f.unit)];
				snprintf(st, sizeof(st), "%.*s", (int)lc_stat_unit(q->f.unit),
				         q->f.unit);
				long long n = stat_sum(stats, "unit", st, true);
				b = b < 0 || n < b ? n : b;
			}
			q->bound = b;
		}
		if (q->f.overdue) {
			q->overdue_ids = rv_take(q, 1);
			if (due_phase(q, IL_DUE, 2))
				return;
		}
		il_walk(q);
		return;
	}
	case IL_DUE:
		due_merge(q, &q->overdue_ids, &q->rv[0]);
		il_walk(q);
		return;
	case IL_CHUNK: {
		const struct rval *z = &q->rv[0];
		for (size_t i = 0; i < q->nids; i++)
			free(q->ids[i]);
		q->nids = 0;
		if (z->type != RV_ARR) {
			finish_down(q);
			return;
		}
		size_t n = z->n / 2;
		q->ids = xreallocarray(q->ids, n + 1, sizeof(*q->ids));
		q->scores = xreallocarray(q->scores, n + 1, sizeof(*q->scores));
		for (size_t i = 0; i < n; i++) {
			int64_t s = 0;
			const char *score = rval_str(&z->e[2 * i + 1]);
			if (score != NULL)
				parse_int64(score, INT64_MIN + 1, INT64_MAX, &s);
			q->ids[q->nids] =
			        xstrdup(rval_str(&z->e[2 * i]) != NULL ? z->e[2 * i].s : "");
			q->scores[q->nids++] = s;
		}
		q->end = n < q->chunk;
		/* where the next chunk starts: after the last score, past the members seen at it */
		if (n > 0) {
			int64_t last = q->scores[n - 1];
			long same = 0;
			for (size_t i = n; i-- > 0 && q->scores[i] == last;)
				same++;
			if (last == q->lo)
				q->off += (long)n;
			else {
				q->lo = last;
				q->off = same;
			}
		}
		phase(q, IL_FIELDS);
		q->fetched = xreallocarray(q->fetched, q->nids + 1, sizeof(*q->fetched));
		for (size_t i = 0; i < q->nids; i++) {
			const char *id = q->ids[i];
			q->fetched[i] =
			        after_cursor(q, q->scores[i], id) &&
			        !(q->have_overdue && htab_get(&q->overdue, id, strlen(id)) < 0) &&
			        needs_fields(q, id);
			if (!q->fetched[i])
				continue;
			char *h = key(w, "inc:%s", id);
			const char *argv[] = {"HMGET", h, "state", "level_key", "unit", "category"};
			cmd(q, 6, argv);
			free(h);
		}
		if (q->sent == 0 && !q->failed) {
			judge_chunk(q, NULL);
			return;
		}
		send_phase(q);
		return;
	}
	case IL_FIELDS:
		judge_chunk(q, q->rv);
		return;
	case IL_ROWS: {
		struct wm_ctx c = {.r = w->r, .now = q->now};
		json_t *rows = json_array();
		size_t n = q->nmatch < q->limit ? q->nmatch : q->limit;
		for (size_t i = 0; i < n && 2 * i + 1 < q->nrv; i++) {
			const struct rval *h = &q->rv[2 * i];
			if (h->type != RV_ARR || h->n == 0)
				continue; /* closed and expired since */
			json_array_append_new(rows, wm_case(&c, q->match[i], h,
			                                    rval_str(&q->rv[2 * i + 1]), false));
		}
		json_t *next = json_null();
		if (q->nmatch > q->limit && q->limit > 0) {
			char cur[24 + INCIDENT_ID_MAX + 2];
			snprintf(cur, sizeof(cur), "%lld~%s", (long long)q->match_ms[q->limit - 1],
			         q->match[q->limit - 1]);
			next = json_string(cur);
		}
		json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:b}", "state", q->f.state, "level",
		                      q->f.level, "unit", q->f.unit, "category", q->f.category,
		                      "overdue", q->f.overdue);
		finish(q,
		       json_pack("{s:o, s:o, s:o}", "filters", f, "incidents", rows, "next", next));
		return;
	}
	}
}

/* ---- one case -----------------------------------------------------------------------------------
 */

static void incident_step(struct wreq *q)
{
	struct web *w = q->w;

	if (q->phase == -1) {
		char *h = key(w, "inc:%s", q->id), *d = key(w, "doc:%s", q->id);
		char *t = key(w, "timeline:%s", q->id), from[24];
		snprintf(from, sizeof(from), "-%d", TIMELINE_MAX);
		phase(q, 0);
		const char *a1[] = {"HGETALL", h};
		const char *a2[] = {"GET", d};
		const char *a3[] = {"LRANGE", t, from, "-1"};
		cmd(q, 2, a1);
		cmd(q, 2, a2);
		cmd(q, 4, a3);
		free(h);
		free(d);
		free(t);
		send_phase(q);
		return;
	}
	if (q->rv[0].type != RV_ARR || q->rv[0].n == 0) {
		finish_error(q, 404, "Not Found", "没有这个案件",
		             "该案件不存在，或已结案超过保留期限而被清除。");
		return;
	}
	struct wm_ctx c = {.r = w->r, .now = q->now};
	json_t *tl = json_array();
	for (size_t i = 0; q->rv[2].type == RV_ARR && i < q->rv[2].n; i++) {
		json_t *ev = rval_str(&q->rv[2].e[i]) != NULL
		                     ? json_loadb(q->rv[2].e[i].s, q->rv[2].e[i].len, 0, NULL)
		                     : NULL;
		if (ev != NULL)
			json_array_append_new(tl, wm_event(&c, ev));
		json_decref(ev);
	}
	json_t *doc = json_pack("{s:o, s:o, s:o}", "incident",
	                        wm_case(&c, q->id, &q->rv[0], rval_str(&q->rv[1]), true), "chain",
	                        wm_chain(&c, &q->rv[0]), "timeline", tl);
	finish(q, doc);
}

/* ---- the month's report
 * -------------------------------------------------------------------------- */

static void report_step(struct wreq *q)
{
	struct web *w = q->w;

	if (q->phase == -1) {
		char *ku = key(w, "kpiunits:%s", q->month);
		phase(q, 0);
		const char *argv[] = {"SMEMBERS", ku};
		cmd(q, 2, argv);
		free(ku);
		send_phase(q);
		return;
	}
	if (q->phase == 0) {
		q->kpi_units = q->rv[0];
		memset(&q->rv[0], 0, sizeof(q->rv[0]));
		phase(q, 1);
		send_kpi_hashes(q, q->month, &q->kpi_units);
		send_phase(q);
		return;
	}
	finish(q, kpi_doc(w, q->month, &q->kpi_units, q->rv, q->nrv));
}

/* ---- dead letters
 * ------------------------------------------------------------------------------------ */

static void deadletters_step(struct wreq *q)
{
	struct web *w = q->w;

	if (q->phase == -1) {
		char *k = key(w, "deadletter"), hi[80], n[24];
		snprintf(hi, sizeof(hi), q->before[0] != '\0' ? "(%s" : "+", q->before);
		fmt_int64(n, (int64_t)q->limit + 1);
		phase(q, 0);
		const char *argv[] = {"XREVRANGE", k, hi, "-", "COUNT", n};
		cmd(q, 6, argv);
		free(k);
		send_phase(q);
		return;
	}
	if (q->rv[0].type == RV_ERR) {
		finish_error(q, 500, "Internal Server Error", "无法读取异常消息", q->rv[0].s);
		return;
	}
	json_t *rows = json_array(), *next = json_null();
	for (size_t i = 0; q->rv[0].type == RV_ARR && i < q->rv[0].n && i < q->limit; i++)
		json_array_append_new(rows, wm_deadletter(&q->rv[0].e[i]));
	if (q->rv[0].type == RV_ARR && q->rv[0].n > q->limit)
		next = json_incref(json_object_get(json_array_get(rows, q->limit - 1), "id"));
	finish(q, json_pack("{s:o, s:o}", "deadletters", rows, "next", next));
}

static void step(struct wreq *q)
{
	if (q->failed) {
		finish_down(q);
		return;
	}
	for (size_t i = 0; i < q->nrv; i++) {
		/* NOPERM, WRONGTYPE ...: one sentence, logged */
		if (q->rv[i].type == RV_ERR && q->page != P_DEADLETTERS) {
			log_kv(LOG_WARN, "redis_error", "error", q->rv[i].s, NULL);
			finish_error(q, 500, "Internal Server Error", "读取数据出错", q->rv[i].s);
			return;
		}
	}
	switch (q->page) {
	case P_OVERVIEW:
		overview_step(q);
		break;
	case P_INCIDENTS:
		incidents_step(q);
		break;
	case P_INCIDENT:
		incident_step(q);
		break;
	case P_REPORT:
		report_step(q);
		break;
	case P_DEADLETTERS:
		deadletters_step(q);
		break;
	}
}

/* ---- server-sent events
 * ------------------------------------------------------------------------------- */

static void sse_drop(struct web *w, size_t i)
{
	struct sse *s = w->sse[i];

	w->sse[i] = w->sse[--w->nsse];
	free(s);
}

static void on_sse_close(struct evhttp_connection *evcon, void *arg)
{
	struct sse *s = arg;
	struct web *w = s->w;

	(void)evcon;
	for (size_t i = 0; i < w->nsse; i++) {
		if (w->sse[i] == s) {
			evhttp_send_reply_end(s->req); /* frees the request, detached by now */
			sse_drop(w, i);
			return;
		}
	}
}

/* Ends one stream from our side; the connection's close callback is taken off first. */
static void sse_end(struct web *w, size_t i)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(w->sse[i]->req);

	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	evhttp_send_reply_end(w->sse[i]->req);
	sse_drop(w, i);
}

static void sse_send(struct web *w, const char *text, size_t len)
{
	for (size_t i = w->nsse; i-- > 0;) {
		struct evhttp_connection *evcon = evhttp_request_get_connection(w->sse[i]->req);
		struct bufferevent *bev =
		        evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
		if (bev != NULL &&
		    evbuffer_get_length(bufferevent_get_output(bev)) > SSE_BACKLOG_MAX) {
			/* a browser that does not read: it reconnects, and reloads what it missed
			 */
			log_kv(LOG_INFO, "sse_dropped", "reason", "backlog", NULL);
			sse_end(w, i);
			continue;
		}
		struct evbuffer *b = evbuffer_new();
		if (b == NULL)
			fatalx("out of memory");
		evbuffer_add(b, text, len);
		evhttp_send_reply_chunk(w->sse[i]->req, b);
		evbuffer_free(b);
	}
}

static void sse_start(struct web *w, struct evhttp_request *req)
{
	static const char hello[] = "retry: 2000\n: gridweb\n\n";

	if (w->nsse >= SSE_MAX) {
		send_error(w, req, true, 503, "Service Unavailable", "",
		           "too many event listeners");
		return;
	}
	struct sse *s = xcalloc(1, sizeof(*s));
	s->req = req;
	s->w = w;
	w->sse[w->nsse++] = s;
	headers(req, "text/event-stream; charset=utf-8", false);
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_sse_close, s);
	httpd_stream(w->http, req);
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		fatalx("out of memory");
	evbuffer_add(b, hello, sizeof(hello) - 1);
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	static const char ping[] = ": ping\n\n";

	(void)fd;
	(void)what;
	sse_send(arg, ping, sizeof(ping) - 1);
}

/* One event of gr:events: into the feed, the units remembered, and to the listeners. */
static void on_event(struct web *w, const char *payload, size_t len)
{
	json_t *ev = json_loadb(payload, len, 0, NULL);

	if (!json_is_object(ev)) {
		json_decref(ev);
		return;
	}
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *inc = json_string_value(json_object_get(ev, "incident"));
	const char *unit = json_string_value(json_object_get(ev, "unit"));
	if (type != NULL && inc != NULL && unit != NULL && strcmp(type, "redispatched") == 0)
		ucache_put(&w->units, inc, unit, true);
	size_t k = w->feed_head;
	json_decref(w->feed[k]);
	w->feed[k] = ev;
	w->feed_head = (k + 1) % FEED_MAX;
	if (w->feed_n < FEED_MAX)
		w->feed_n++;

	/* as it came, but surely on one line */
	char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line == NULL)
		return;
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "id: %llu\ndata: %s\n\n", (unsigned long long)++w->seq, line);
	sse_send(w, b.data, b.len);
	buf_free(&b);
	free(line);
}

static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
	struct web *w = priv;
	redisReply *m = r;

	(void)ac;
	if (m == NULL || m->type != REDIS_REPLY_ARRAY || m->elements < 3 ||
	    m->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(m->element[0]->str, "subscribe") == 0) {
		ucache_clear(&w->units); /* what was missed while not subscribed */
		w->subscribed = true;
		log_kv(LOG_INFO, "subscribed", "channel", m->element[1]->str, NULL);
	} else if (strcmp(m->element[0]->str, "message") == 0 &&
	           m->element[2]->type == REDIS_REPLY_STRING) {
		on_event(w, m->element[2]->str, m->element[2]->len);
	}
}

/* ---- Redis
 * ------------------------------------------------------------------------------------------------
 */

static void on_schema(redisAsyncContext *ac, void *r, void *priv)
{
	struct web *w = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		log_kv(LOG_ERROR, "redis_error", "error", reply->str, NULL);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "2") != 0) {
		char err[160];
		snprintf(err, sizeof(err),
		         "the store's layout is version %.20s, this gridweb reads version 2: "
		         "see gridctl migrate",
		         reply->str);
		log_kv(LOG_ERROR, "store_schema_wrong", "error", err, NULL);
		w->exit_code = 1;
		event_base_loopbreak(w->base);
		return;
	}
	w->schema_ok = true; /* 2, or none yet (a fresh store the daemon has not started on) */
}

static void on_conn(struct rconn *c, bool up, void *arg)
{
	struct web *w = arg;

	if (c == w->sub) {
		w->subscribed = false;
		if (up) {
			char *k = key(w, "events");
			const char *argv[] = {"SUBSCRIBE", k};
			if (rconn_argv(c, on_message, w, 2, argv, NULL) < 0)
				rconn_reconnect(c);
			free(k);
		} else {
			ucache_clear(&w->units);
		}
		return;
	}
	w->schema_ok = false;
	if (up) {
		char *k = key(w, "meta");
		const char *argv[] = {"HGET", k, "schema"};
		rconn_argv(c, on_schema, w, 3, argv, NULL);
		free(k);
	}
}

/* ---- routing
 * ------------------------------------------------------------------------------------------------
 */

static bool is_live_state(const char *s)
{
	static const char *const live[] = {"open", "acked", "verifying", "returned", "parked"};

	for (size_t i = 0; i < GR_NELEM(live); i++) {
		if (strcmp(s, live[i]) == 0)
			return true;
	}
	return false;
}

static bool copy_param(struct evkeyvalq *kv, const char *name, char *out, size_t outsz)
{
	const char *v = evhttp_find_header(kv, name);

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (strlen(v) >= outsz)
		return false;
	snprintf(out, outsz, "%s", v);
	return true;
}

/* The query of a request into q; NULL, or a sentence saying what is wrong. */
static const char *parse_query(struct wreq *q, const char *query)
{
	struct evkeyvalq kv;
	const struct rules *r = q->w->r;
	const char *bad = NULL;
	char overdue[4], limit[8], after[24 + INCIDENT_ID_MAX + 2];

	if (evhttp_parse_query_str(query != NULL ? query : "", &kv) < 0) {
		evhttp_clear_headers(&kv);
		return "查询参数格式有误";
	}
	if (!copy_param(&kv, "state", q->f.state, sizeof(q->f.state)) ||
	    !copy_param(&kv, "level", q->f.level, sizeof(q->f.level)) ||
	    !copy_param(&kv, "unit", q->f.unit, sizeof(q->f.unit)) ||
	    !copy_param(&kv, "category", q->f.category, sizeof(q->f.category)) ||
	    !copy_param(&kv, "overdue", overdue, sizeof(overdue)) ||
	    !copy_param(&kv, "limit", limit, sizeof(limit)) ||
	    !copy_param(&kv, "after", after, sizeof(after)) ||
	    !copy_param(&kv, "month", q->month, sizeof(q->month)) ||
	    !copy_param(&kv, "before", q->before, sizeof(q->before)))
		bad = "查询参数过长";
	else if (q->f.state[0] != '\0' && !is_live_state(q->f.state))
		bad = "状态应为 open、acked、verifying、returned 或 parked";
	else if (q->f.level[0] != '\0' && rules_level(r, q->f.level) < 0)
		bad = "没有这个层级";
	else if (q->f.category[0] != '\0' && rules_category(r, q->f.category) < 0)
		bad = "没有这个类别";
	else if (q->f.unit[0] != '\0' && !unit_id_valid(q->f.unit, strlen(q->f.unit)))
		bad = "单元编号格式有误";
	else if (overdue[0] != '\0' && strcmp(overdue, "1") != 0 && strcmp(overdue, "0") != 0)
		bad = "overdue 应为 1 或 0";
	else if (after[0] != '\0' &&
	         wm_cursor_parse(after, &q->cur_ms, q->cur_id, sizeof(q->cur_id)) < 0)
		bad = "翻页参数 after 有误";
	else if (q->before[0] != '\0' && stream_id_ms(q->before, &(int64_t){0}) < 0)
		bad = "翻页参数 before 有误";
	q->f.overdue = strcmp(overdue, "1") == 0;
	q->has_cur = after[0] != '\0';
	q->limit = q->page == P_DEADLETTERS ? DL_LIMIT : LIST_LIMIT;
	int64_t n;
	if (bad == NULL && limit[0] != '\0') {
		if (parse_int64(limit, 1, LIST_LIMIT_MAX, &n) < 0)
			bad = "limit 应为 1 到 500";
		else
			q->limit = (size_t)n;
	}
	if (bad == NULL && q->page == P_REPORT) {
		int64_t day;
		char date[CAL_DATE_BUFSZ];
		if (q->month[0] == '\0') {
			wm_month(r, q->now, q->month);
		} else {
			snprintf(date, sizeof(date), "%.7s-01", q->month);
			if (strlen(q->month) != 7 || calendar_parse_date(date, 10, &day) < 0)
				bad = "月份应为 YYYY-MM";
		}
	}
	evhttp_clear_headers(&kv);
	return bad;
}

static const struct {
	const char *path, *ctype, *body;
} statics[] = {
        {"/static/gridweb.css", "text/css; charset=utf-8", gridweb_css},
        {"/static/gridweb.js", "text/javascript; charset=utf-8", gridweb_js},
        {"/static/icon.svg", "image/svg+xml", gridweb_svg},
        {"/favicon.ico", "image/svg+xml", gridweb_svg},
};

/* 0: go on; else the status sent (401, or 429 when password checks come too fast). */
static int authorized(struct web *w, struct evhttp_request *req, bool api)
{
	bool throttled;

	if (w->auth == NULL)
		return 0;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (web_auth_check(w->auth, h, &throttled) != NULL)
		return 0;
	if (throttled) {
		log_folded(&w->throttle_fold, LOG_WARN, "auth_throttled",
		           "more than 10 password checks a second: refused without checking");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		send_error(w, req, api, 429, "Too Many Requests", "登录尝试过于频繁",
		           "请稍后再试。");
		return 429;
	}
	if (h != NULL)
		log_folded(&w->auth_fold, LOG_WARN, "auth_failed", "wrong user or password");
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
	                  "Basic realm=\"gridweb\", charset=\"UTF-8\"");
	send_error(w, req, api, 401, "Unauthorized", "需要登录", "用户名或密码不正确。");
	return 401;
}

static bool path_is(const char *path, size_t plen, const char *want)
{
	return strlen(want) == plen && strncmp(path, want, plen) == 0;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	const char *path = evhttp_request_get_uri(req);
	if (path == NULL || path[0] != '/') {
		send_body(req, 400, "Bad Request", "text/plain; charset=utf-8", "bad request\n", 12,
		          false);
		return;
	}
	size_t plen = strcspn(path, "?");
	const char *query = path[plen] == '?' ? path + plen + 1 : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	bool api = strncmp(path, "/api/", 5) == 0;

	if (path_is(path, plen, "/healthz")) {
		send_body(req, 200, "OK", "text/plain; charset=utf-8", "ok\n", 3, false);
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		send_error(w, req, api, 405, "Method Not Allowed", "不支持的请求",
		           "本系统只读：只接受 GET 和 HEAD 请求。");
		return;
	}
	if (authorized(w, req, api) != 0)
		return;
	if (path_is(path, plen, "/readyz")) {
		bool ok = rconn_up(w->rd) && w->schema_ok && w->subscribed;
		const char *why = !rconn_up(w->rd) ? "not ready: Redis is not connected\n"
		                  : !w->schema_ok  ? "not ready: checking the store's layout\n"
		                  : !w->subscribed ? "not ready: not subscribed to the events\n"
		                                   : "ready\n";
		send_body(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
		          "text/plain; charset=utf-8", why, strlen(why), false);
		return;
	}
	for (size_t i = 0; i < GR_NELEM(statics); i++) {
		if (path_is(path, plen, statics[i].path)) {
			send_body(req, 200, "OK", statics[i].ctype, statics[i].body,
			          strlen(statics[i].body), true);
			return;
		}
	}
	if (path_is(path, plen, "/api/events")) {
		sse_start(w, req);
		return;
	}

	struct wreq *q = xcalloc(1, sizeof(*q));
	q->w = w;
	q->req = req;
	q->api = api;
	q->now = time_now_ms();
	q->phase = -1;
	ucache_trim(&w->units);
	const char *p = api ? path + 4 : path;
	size_t pl = api ? plen - 4 : plen;
	if (!api && path_is(p, pl, "/")) {
		q->page = P_OVERVIEW;
	} else if (api && path_is(p, pl, "/summary")) {
		q->page = P_OVERVIEW;
	} else if (path_is(p, pl, "/incidents")) {
		q->page = P_INCIDENTS;
	} else if (pl > 11 && strncmp(p, "/incidents/", 11) == 0) {
		q->page = P_INCIDENT;
		char *enc = xstrndup(p + 11, pl - 11);
		size_t n = 0;
		char *id = evhttp_uridecode(enc, 0, &n);
		free(enc);
		if (id == NULL || !incident_id_valid(id, n)) {
			free(id);
			free(q);
			send_error(w, req, api, 404, "Not Found", "没有这个案件",
			           "案件编号格式有误。");
			return;
		}
		snprintf(q->id, sizeof(q->id), "%s", id);
		free(id);
	} else if (path_is(p, pl, "/report")) {
		q->page = P_REPORT;
	} else if (path_is(p, pl, "/deadletters")) {
		q->page = P_DEADLETTERS;
	} else {
		free(q);
		send_error(w, req, api, 404, "Not Found", "页面不存在", "没有这个页面。");
		return;
	}
	const char *bad = parse_query(q, query);
	if (bad != NULL) {
		finish_error(q, 400, "Bad Request", "请求参数有误", bad);
		return;
	}
	if (!rconn_up(w->rd) || !w->schema_ok) {
		finish_down(q);
		return;
	}
	step(q);
}

/* ---- the loop
 * ---------------------------------------------------------------------------------------------------
 */

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	struct web *w = arg;

	(void)what;
	if (w->stopping)
		return;
	w->stopping = true;
	notify_stopping();
	log_kv(LOG_INFO, "stopping", "signal", fd == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	while (w->nsse > 0)
		sse_end(w, w->nsse - 1);
	/* what is in flight has a moment to be answered */
	struct timeval tv = {0, STOP_GRACE_MS * 1000};
	event_base_once(w->base, -1, EV_TIMEOUT, on_stop_timer, w->base, &tv);
}

static void libevent_log(int severity, const char *msg)
{
	static struct log_fold fold;

	log_folded(&fold, severity >= EVENT_LOG_WARN ? LOG_WARN : LOG_DEBUG, "libevent", msg);
}

int web_main(struct config *cfg, struct rules *r, struct web_auth *auth)
{
	struct web w;
	char *password = NULL;
	char summary[256];

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.r = r;
	w.auth = auth;
	htab_init(&w.units.index, 1024);
	event_set_log_callback(libevent_log);
	signal(SIGPIPE, SIG_IGN);
	password = rconn_read_password(cfg);
	w.base = event_base_new();
	if (w.base == NULL)
		fatalx("cannot create the event loop");
	w.rd = rconn_new(w.base, cfg, password, "read", on_conn, &w);
	w.sub = rconn_new(w.base, cfg, password, "events", on_conn, &w);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	w.http = httpd_new(w.base, cfg->web_listen, &limits, handle, &w);
	struct event *term = evsignal_new(w.base, SIGTERM, on_term, &w);
	struct event *intr = evsignal_new(w.base, SIGINT, on_term, &w);
	struct event *beat = event_new(w.base, -1, EV_PERSIST, on_heartbeat, &w);
	struct timeval btv = {HEARTBEAT_S, 0};
	evsignal_add(term, NULL);
	evsignal_add(intr, NULL);
	evtimer_add(beat, &btv);
	rules_summary(r, summary, sizeof(summary));
	log_kv(LOG_INFO, "started", "version", GRIDROUTE_VERSION, "rules", cfg->rules, "summary",
	       summary, "prefix", cfg->prefix, "listen", cfg->web_listen, "auth",
	       auth != NULL ? "basic" : "none", NULL);
	notify_ready();
	rconn_start(w.rd);
	rconn_start(w.sub);

	event_base_dispatch(w.base);

	log_kv(LOG_INFO, "stopped", NULL);
	while (w.nsse > 0)
		sse_end(&w, w.nsse - 1);
	/* the connections first: what waits on a reply is answered 503 while evhttp is there */
	rconn_free(w.rd);
	rconn_free(w.sub);
	httpd_free(w.http);
	event_free(term);
	event_free(intr);
	event_free(beat);
	event_base_free(w.base);
	for (size_t i = 0; i < FEED_MAX; i++)
		json_decref(w.feed[i]);
	json_decref(w.kpi.doc);
	for (size_t i = 0; i < w.units.n; i++) {
		free(w.units.v[i].id);
		free(w.units.v[i].unit);
	}
	free(w.units.v);
	htab_free(&w.units.index);
	return w.exit_code;
}
