/*
 * store.c: the calls that apply steps atomically, on the daemon's write
 * connection. The script and the encoding of each call are apply.c's;
 * this file loads the script, checks the store's layout version, gathers
 * the steps of one turn of the event loop into one script call, resends a
 * call as EVAL after NOSCRIPT, and logs and counts a step's events once
 * Redis has applied it.
 *
 * A queued batch goes out before any other command on the connection, so
 * that the connection's order is the order in which the steps and reads
 * were asked for: a read asked after a step sees it.
 */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define SCHEMA         "2"
#define BATCH_STEPS    64
#define BATCH_BYTES    (512 * 1024)
#define SCAN_COUNT     "1000"
#define ERR_DETAIL_MAX 200

/* The answer of a queued step goes here. */
struct pending {
	store_fn fn;
	void *arg;
	struct applied *log; /* what to log once applied; NULL for entry steps */
};

enum schema_state { SCHEMA_UNKNOWN, SCHEMA_CHECKING, SCHEMA_OK, SCHEMA_WRONG };

struct store {
	struct rconn *w;
	const struct config *cfg;
	struct apply_ctx ac; /* names, settings and script SHAs for apply.c */
	bool loaded;
	bool loading;
	unsigned gen; /* bumped when the connection drops: late replies are stale */
	enum schema_state schema;
	char *schema_error;
	char *meta_key;
	char *inc_match; /* the SCAN pattern of incident hashes */
	/* the batch being gathered */
	struct apply_batch batch;
	struct pending *pend;
	size_t npend, cappend;
	struct event *flush;
	bool flush_armed;
};

/* A call in flight, in the Redis protocol; kept for a NOSCRIPT resend. */
struct sreq {
	struct store *s;
	bool script;
	struct buf cmd;
	store_reply_fn rfn; /* a plain command's answer */
	void *arg;
	struct pending *pend; /* a batch's steps */
	size_t npend;
};

char *store_key(const struct store *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_puts(&b, s->cfg->prefix);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

static void flush_batch(struct store *s);

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	(void)fd;
	(void)what;
	s->flush_armed = false;
	flush_batch(s);
}

/* The prefix with SCAN's pattern characters escaped, then "inc:*". */
static char *inc_pattern(const char *prefix)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = prefix; *p != '\0'; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			buf_putc(&b, '\\');
		buf_putc(&b, *p);
	}
	buf_puts(&b, "inc:*");
	return buf_detach(&b);
}

struct store *store_new(struct event_base *base, struct rconn *w, const struct config *cfg)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->w = w;
	s->cfg = cfg;
	s->ac.prefix = cfg->prefix;
	s->ac.group = cfg->group;
	s->ac.out_maxlen = cfg->out_maxlen;
	s->ac.expire_s = (cfg->resolved_ms + 999) / 1000;
	s->meta_key = store_key(s, "meta");
	s->inc_match = inc_pattern(cfg->prefix);
	apply_batch_init(&s->batch);
	s->flush = event_new(base, -1, 0, on_flush, s);
	return s;
}

static void answer_all(struct pending *p, size_t n, enum store_result res)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].log);
		p[i].fn(p[i].arg, res, NULL);
	}
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->npend; i++)
		free(s->pend[i].log);
	free(s->pend);
	apply_batch_free(&s->batch);
	event_free(s->flush);
	free(s->meta_key);
	free(s->inc_match);
	free(s->schema_error);
	free(s);
}

/* The layout version: SPEC §2's gr:meta. */
struct schema_ctx {
	struct store *s;
	unsigned gen;
};

static void schema_ok(struct store *s)
{
	if (s->schema != SCHEMA_OK)
		log_kv(LOG_INFO, "store_schema", "key", s->meta_key, "schema", SCHEMA, NULL);
	s->schema = SCHEMA_OK;
}

static void schema_wrong(struct store *s, const char *why)
{
	s->schema = SCHEMA_WRONG;
	free(s->schema_error);
	s->schema_error = xstrdup(why);
}

static void on_scan(redisAsyncContext *ac, void *reply, void *priv);

/* Send a command of the schema check; a connection that is not up means: later. */
static void schema_send(struct store *s, redisCallbackFn *fn, int argc, const char **argv)
{
	struct schema_ctx *c = xmalloc(sizeof(*c));

	c->s = s;
	c->gen = s->gen;
	if (rconn_argv(s->w, fn, c, argc, argv, NULL) < 0) {
		free(c);
		s->schema = SCHEMA_UNKNOWN;
	}
}

/* The answer to a schema_send, its context freed: NULL when it no longer counts. */
static struct store *schema_answer(void *priv, redisReply *r)
{
	struct schema_ctx *c = priv;
	struct store *s = c->s;
	bool current = r != NULL && c->gen == s->gen;

	free(c);
	if (current && REPLY_IS_ERROR(r)) {
		/* e.g. NOPERM, LOADING: ask again on the next tick */
		static struct log_fold fold;
		log_folded(&fold, LOG_WARN, "store_schema_failed", r->str);
		s->schema = SCHEMA_UNKNOWN;
		current = false;
	}
	return current ? s : NULL;
}

static void on_schema_set(redisAsyncContext *ac, void *reply, void *priv)
{
	struct store *s = schema_answer(priv, reply);

	(void)ac;
	if (s != NULL)
		schema_ok(s);
}

static void scan_step(struct store *s, const char *cursor)
{
	const char *argv[] = {"SCAN", cursor, "MATCH", s->inc_match, "COUNT", SCAN_COUNT};

	schema_send(s, on_scan, 6, argv);
}

static void on_scan(redisAsyncContext *ac, void *reply, void *priv)
{
	struct store *s = schema_answer(priv, reply);
	redisReply *r = reply;

	(void)ac;
	if (s == NULL)
		return;
	if (!REPLY_IS_ARRAY(r) || r->elements != 2 || !REPLY_IS_ARRAY(r->element[1])) {
		s->schema = SCHEMA_UNKNOWN;
		return;
	}
	if (r->element[1]->elements > 0) {
		char *why = xasprintf(
		        "%s has no schema but incident keys exist (%s...): this is a store of "
		        "gridroute 1; stop every daemon and run `gridctl migrate --rules FILE` "
		        "to convert it",
		        s->meta_key, r->element[1]->element[0]->str);
		schema_wrong(s, why);
		free(why);
		return;
	}
	if (strcmp(r->element[0]->str, "0") != 0) {
		scan_step(s, r->element[0]->str);
		return;
	}
	/* nothing written here yet: this daemon's layout it is */
	const char *argv[] = {"HSETNX", s->meta_key, "schema", SCHEMA};
	schema_send(s, on_schema_set, 4, argv);
}

static void on_schema(redisAsyncContext *ac, void *reply, void *priv)
{
	struct store *s = schema_answer(priv, reply);
	redisReply *r = reply;

	(void)ac;
	if (s == NULL)
		return;
	if (REPLY_IS_STRING(r) && strcmp(r->str, SCHEMA) == 0) {
		schema_ok(s);
	} else if (REPLY_IS_STRING(r)) {
		char *why =
		        xasprintf("%s says schema %.20s, this daemon knows schema %s: %s",
		                  s->meta_key, r->str, SCHEMA,
		                  strcmp(r->str, "1") == 0
		                          ? "stop every daemon and run `gridctl migrate --rules "
		                            "FILE`"
		                          : "run the gridroute version that wrote it");
		schema_wrong(s, why);
		free(why);
	} else {
		scan_step(s, "0"); /* absent: v1, or nothing yet */
	}
}

static void check_schema(struct store *s)
{
	const char *argv[] = {"HGET", s->meta_key, "schema"};

	if (s->schema != SCHEMA_UNKNOWN)
		return;
	s->schema = SCHEMA_CHECKING;
	schema_send(s, on_schema, 3, argv);
}

struct load_ctx {
	struct store *s;
	unsigned gen;
};

static void on_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	struct load_ctx *lc = priv;
	redisReply *reply = r;
	struct store *s = lc->s;

	(void)ac;
	if (lc->gen == s->gen)
		s->loading = false;
	if (lc->gen == s->gen && reply != NULL) {
		if (REPLY_IS_STRING(reply) && reply->len == 40) {
			memcpy(s->ac.sha[AS_APPLY], reply->str, 40);
			s->ac.sha[AS_APPLY][40] = '\0';
			s->loaded = true;
		} else {
			static struct log_fold fold; /* it repeats with every tick */
			log_folded(&fold, LOG_WARN, "script_load_failed",
			           reply->type == REDIS_REPLY_ERROR ? reply->str
			                                            : "unexpected reply");
		}
	}
	free(lc);
}

static void load_script(struct store *s)
{
	struct load_ctx *lc = xmalloc(sizeof(*lc));
	const char *argv[] = {"SCRIPT", "LOAD", apply_script_text(AS_APPLY)};

	lc->s = s;
	lc->gen = s->gen;
	if (rconn_argv(s->w, on_loaded, lc, 3, argv, NULL) < 0)
		free(lc);
	else
		s->loading = true;
}

void store_on_up(struct store *s)
{
	s->gen++; /* answers to earlier calls no longer count */
	s->loaded = false;
	s->loading = false;
	if (s->schema != SCHEMA_WRONG)
		s->schema = SCHEMA_UNKNOWN;
	check_schema(s);
	load_script(s);
}

void store_tick(struct store *s)
{
	if (!rconn_up(s->w))
		return;
	/* a load refused (LOADING while Redis reads its data at start): try again */
	if (!s->loading && !s->loaded)
		load_script(s);
	check_schema(s);
}

void store_on_down(struct store *s)
{
	s->gen++;
	s->loaded = false;
	if (s->schema != SCHEMA_WRONG)
		s->schema = SCHEMA_UNKNOWN;
	/* what was queued never went out: its entries stay pending */
	struct pending *p = s->pend;
	size_t n = s->npend;
	s->pend = NULL;
	s->npend = s->cappend = 0;
	apply_batch_reset(&s->batch);
	answer_all(p, n, ST_DOWN);
	free(p);
}

bool store_ready(const struct store *s)
{
	return s->loaded && s->schema == SCHEMA_OK && rconn_up(s->w);
}

const char *store_wrong_schema(const struct store *s)
{
	return s->schema == SCHEMA_WRONG ? s->schema_error : NULL;
}

static void sreq_free(struct sreq *q)
{
	for (size_t i = 0; i < q->npend; i++)
		free(q->pend[i].log);
	free(q->pend);
	buf_free(&q->cmd);
	free(q);
}

/*
 * Error replies are retried, so a lasting one (NOPERM, OOM, a key of the
 * wrong type) would repeat its line with every retry: log a line at most
 * once a second, saying how many were folded into it.
 */
static void log_error_reply(const char *err)
{
	static struct log_fold fold;

	log_folded(&fold, LOG_WARN, "redis_error", err);
}

/*
 * What to log and count once Redis says a step was applied: a copy, as the
 * step is gone by then. One allocation: the events, then the strings.
 */
struct applied {
	const char *id, *from, *unit, *source, *entry;
	enum channel channel;
	bool assigned;
	size_t nev;
	struct lc_event ev[];
};

/* Copy s to *pool and move *pool on. */
static const char *pool_put(char **pool, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = *pool;

	memcpy(p, s, len);
	*pool += len;
	return p;
}

static struct applied *applied_new(const char *id, const struct effects *e,
                                   const struct lc_source *src)
{
	bool has_src = src != NULL && src->stream != NULL;
	const char *from = e->from_level != NULL ? e->from_level : "";
	const char *source = has_src ? src->stream : "";
	const char *entry = has_src && src->entry != NULL ? src->entry : "";
	size_t head = sizeof(struct applied) + e->nev * sizeof(struct lc_event);
	size_t strs =
	        strlen(id) + strlen(from) + strlen(e->unit) + strlen(source) + strlen(entry) + 5;
	struct applied *a = xmalloc(head + strs);
	char *pool = (char *)a + head;

	a->id = pool_put(&pool, id);
	a->from = pool_put(&pool, from);
	a->unit = pool_put(&pool, e->unit);
	a->source = pool_put(&pool, source);
	a->entry = pool_put(&pool, entry);
	a->channel = e->channel;
	a->assigned = e->assignments.n > 0;
	a->nev = e->nev;
	memcpy(a->ev, e->ev, e->nev * sizeof(a->ev[0]));
	return a;
}

static const char *nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static void count_event(const struct applied *a, const struct lc_event *ev)
{
	if (strcmp(ev->type, "assigned") == 0 && a->assigned)
		metrics.routed[a->channel]++;
	else if (strcmp(ev->type, "escalated") == 0)
		metrics_escalation(ev->reason);
	else if (strcmp(ev->type, "breached") == 0)
		metrics.breaches++;
	else if (strcmp(ev->type, "duplicate") == 0)
		metrics.duplicates++;
	else if (strcmp(ev->type, "acked") == 0)
		metrics_observe(&metrics.time_to_ack, (double)ev->since / 1000.0);
	else if (strcmp(ev->type, "resolved") == 0)
		metrics_observe(&metrics.time_to_resolve, (double)ev->since / 1000.0);
}

/*
 * One log line (and the counters) per applied event: only now is it true.
 * A move names its levels as from= and to=, other events their level as
 * level_key= (level= is the line's severity); unit= is the resolved unit
 * wherever the step knows it.
 */
static void log_applied(const struct applied *a)
{
	for (size_t i = 0; i < a->nev; i++) {
		const struct lc_event *ev = &a->ev[i];
		const char *type = ev->type;
		char num[24];
		enum log_level lvl = LOG_INFO;

		count_event(a, ev);
		if (strcmp(type, "skipped") == 0)
			lvl = LOG_DEBUG;
		else if (strcmp(type, "breached") == 0)
			lvl = LOG_WARN;
		if (!log_enabled(lvl))
			continue;
		fmt_int64(num, ev->count);
		bool moved = strcmp(type, "escalated") == 0 || strcmp(type, "reassigned") == 0;
		bool assigned = strcmp(type, "assigned") == 0;
		log_kv(lvl, type, "incident", a->id, "from", moved ? nonempty(a->from) : NULL, "to",
		       moved || assigned ? nonempty(ev->level_key) : NULL, "level_key",
		       moved || assigned ? NULL : nonempty(ev->level_key), "reason", ev->reason,
		       "by", nonempty(ev->by), "count", strcmp(type, "duplicate") == 0 ? num : NULL,
		       "unit", nonempty(a->unit), "source", nonempty(a->source), "entry",
		       nonempty(a->entry), NULL);
	}
}

/* One step's answer, from element e of the script's reply. */
static void answer_step(struct pending *p, const redisReply *e)
{
	const char *detail;
	size_t dlen;
	char buf[INCIDENT_ID_MAX + 1];
	enum store_result res = ST_BUSY;
	enum apply_result ar = REPLY_IS_STRING(e)
	                               ? apply_result_parse(e->str, e->len, &detail, &dlen)
	                               : AR_INVALID;

	switch (ar) {
	case AR_OK:
		res = ST_OK;
		break;
	case AR_SEEN:
		res = ST_SEEN;
		break;
	case AR_EXISTS:
		res = ST_EXISTS;
		break;
	case AR_SAME:
		res = ST_SAME;
		break;
	case AR_CONFLICT:
		res = ST_CONFLICT;
		break;
	case AR_RETRY:
		res = ST_RETRY;
		break;
	case AR_GONE:
		res = ST_GONE;
		break;
	case AR_DEDUP:
		if (dlen > 0 && dlen < sizeof(buf)) {
			memcpy(buf, detail, dlen);
			buf[dlen] = '\0';
			res = ST_DEDUP;
		} else {
			/* the key names nobody now (or nonsense): read it again */
			res = ST_RETRY;
		}
		break;
	case AR_WRONGTYPE: {
		char msg[ERR_DETAIL_MAX + 64];
		snprintf(msg, sizeof(msg),
		         "WRONGTYPE %.*s holds a value of another type: nothing "
		         "of the step was applied",
		         (int)(dlen < ERR_DETAIL_MAX ? dlen : ERR_DETAIL_MAX), detail);
		log_error_reply(msg);
		break;
	}
	case AR_INVALID:
		log_error_reply(REPLY_IS_ERROR(e) ? e->str
		                                  : "unexpected answer of the apply script");
		break;
	}
	if (res == ST_OK && p->log != NULL)
		log_applied(p->log);
	p->fn(p->arg, res, res == ST_DEDUP ? buf : NULL);
}

static int send_req(struct sreq *q);

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct sreq *q = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && REPLY_IS_ERROR(reply) && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    q->script) {
		/* the script cache was flushed: EVAL sends the script and caches it again */
		apply_evalsha_to_eval(&q->cmd, AS_APPLY);
		if (send_req(q) == 0)
			return;
		reply = NULL;
	}
	if (q->rfn != NULL) {
		q->rfn(q->arg, reply);
	} else if (reply == NULL) {
		answer_all(q->pend, q->npend, ST_DOWN);
		q->npend = 0;
	} else if (!REPLY_IS_ARRAY(reply) || reply->elements != q->npend) {
		/*
		 * the whole call was refused (OOM, BUSY, NOPERM, a cluster's MOVED or
		 * TRYAGAIN, READONLY ...): nothing was applied; rconn follows a redirection
		 */
		log_error_reply(REPLY_IS_ERROR(reply) ? reply->str
		                                      : "unexpected answer of the apply script");
		answer_all(q->pend, q->npend, ST_BUSY);
		q->npend = 0;
	} else {
		for (size_t i = 0; i < q->npend; i++)
			answer_step(&q->pend[i], reply->element[i]);
	}
	sreq_free(q);
}

static int send_req(struct sreq *q)
{
	return rconn_formatted(q->s->w, on_reply, q, q->cmd.data, q->cmd.len);
}

/* Send the queued steps as one call. */
static void flush_batch(struct store *s)
{
	struct sreq *q;

	if (s->npend == 0)
		return;
	q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->script = true;
	buf_init(&q->cmd);
	apply_batch_encode(&s->batch, &s->ac, &q->cmd);
	q->pend = s->pend;
	q->npend = s->npend;
	s->pend = NULL;
	s->npend = s->cappend = 0;
	apply_batch_reset(&s->batch);
	if (send_req(q) < 0) {
		/* down: the entries stay pending in Redis */
		answer_all(q->pend, q->npend, ST_DOWN);
		q->npend = 0;
		sreq_free(q);
	}
}

/* Queue a step: it goes out at the end of this turn of the loop, or now when the batch is full. */
static int queue_step(struct store *s, const struct apply_step *st, store_fn fn, void *arg,
                      struct applied *log)
{
	if (!store_ready(s)) {
		free(log);
		return -1;
	}
	if (s->npend == s->cappend) {
		s->cappend = s->cappend > 0 ? 2 * s->cappend : BATCH_STEPS;
		s->pend = xreallocarray(s->pend, s->cappend, sizeof(*s->pend));
	}
	apply_batch_add(&s->batch, &s->ac, st);
	s->pend[s->npend].fn = fn;
	s->pend[s->npend].arg = arg;
	s->pend[s->npend].log = log;
	s->npend++;
	if (s->npend >= BATCH_STEPS || apply_batch_bytes(&s->batch) >= BATCH_BYTES) {
		flush_batch(s);
	} else if (!s->flush_armed) {
		s->flush_armed = true;
		event_active(s->flush, EV_TIMEOUT, 1);
	}
	return 0;
}

int store_apply(struct store *s, const char *id, const struct effects *e, bool create,
                int64_t expect_version, const char *expect_holder, const char *report_sha1,
                const struct lc_source *src, store_fn fn, void *arg)
{
	struct apply_step st = {
	        .mode = create ? AM_CREATE : AM_UPDATE,
	        .src = src,
	        .id = id,
	        .e = e,
	        .expect_version = expect_version,
	        .expect_holder = expect_holder,
	        .report_sha1 = report_sha1,
	};

	return queue_step(s, &st, fn, arg, applied_new(id, e, src));
}

int store_deadletter(struct store *s, const struct lc_source *src, const char *reason,
                     const char *error, const char *payload, size_t plen, store_fn fn, void *arg)
{
	struct apply_step st = {
	        .mode = AM_DEADLETTER,
	        .src = src,
	        .reason = reason,
	        .error = error,
	        .payload = payload,
	        .plen = plen,
	};

	return queue_step(s, &st, fn, arg, NULL);
}

int store_ack(struct store *s, const struct lc_source *src, store_fn fn, void *arg)
{
	struct apply_step st = {.mode = AM_ACK, .src = src};

	return queue_step(s, &st, fn, arg, NULL);
}

/* Send a plain command (after what is queued), its answer to fn. */
static int send_plain(struct store *s, struct buf *cmd, store_reply_fn fn, void *arg)
{
	struct sreq *q;

	if (!rconn_up(s->w)) {
		buf_free(cmd);
		return -1;
	}
	flush_batch(s);
	q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->cmd = *cmd;
	q->rfn = fn;
	q->arg = arg;
	if (send_req(q) < 0) {
		sreq_free(q);
		return -1;
	}
	return 0;
}

int store_read_incident(struct store *s, const char *id, const struct lc_source *src,
                        store_reply_fn fn, void *arg)
{
	char *inc = store_key(s, "inc:%s", id), *doc = store_key(s, "doc:%s", id);
	char *seen = store_key(s, "seen:%s", id);
	char *member = src != NULL && src->stream != NULL
	                       ? xasprintf("%s/%s", src->stream, src->entry)
	                       : NULL;
	int rc = -1;

	if (store_ready(s)) {
		/* MULTI and the queued commands answer +OK and +QUEUED: only EXEC's answer counts
		 */
		const char *multi[] = {"MULTI"}, *hgetall[] = {"HGETALL", inc},
		           *get[] = {"GET", doc}, *sism[] = {"SISMEMBER", seen, member};
		flush_batch(s);
		rc = rconn_argv(s->w, NULL, NULL, 1, multi, NULL);
		if (rc == 0)
			rc = rconn_argv(s->w, NULL, NULL, 2, hgetall, NULL);
		if (rc == 0)
			rc = rconn_argv(s->w, NULL, NULL, 2, get, NULL);
		if (rc == 0 && member != NULL)
			rc = rconn_argv(s->w, NULL, NULL, 3, sism, NULL);
		if (rc == 0) {
			struct buf cmd;
			const char *exec[] = {"EXEC"};
			buf_init(&cmd);
			apply_encode_argv(&cmd, 1, exec, NULL);
			rc = send_plain(s, &cmd, fn, arg);
		}
	}
	free(inc);
	free(doc);
	free(seen);
	free(member);
	return rc;
}

int store_command(struct store *s, store_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens)
{
	struct buf cmd;

	buf_init(&cmd);
	apply_encode_argv(&cmd, argc, argv, lens);
	return send_plain(s, &cmd, fn, arg);
}
