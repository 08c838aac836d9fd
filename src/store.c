/*
 * store.c: the calls that apply a step atomically, on the daemon's write
 * connection. The scripts and the encoding of each call are apply.c's;
 * this file loads the scripts, sends the calls, resends one as EVAL after
 * NOSCRIPT, and logs and counts a step's events once Redis has applied
 * it. Idempotency lives in the scripts: an entry already in the
 * incident's seen set, or an incident that exists already, is only
 * acknowledged; a changed version (another daemon got there first) makes
 * the caller read the incident again.
 */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

struct store {
	struct rconn *w;
	const struct config *cfg;
	struct apply_ctx ac; /* names, settings and script SHAs for apply.c */
	int loaded;
	int loading;  /* SCRIPT LOADs in flight */
	unsigned gen; /* bumped when the connection drops: late SCRIPT LOAD replies are stale */
	char *deadletter_key;
};

/* A call in flight, in the Redis protocol; kept for a NOSCRIPT resend. */
struct sreq {
	struct store *s;
	enum apply_script script; /* AS__COUNT: not a script */
	struct buf cmd;
	store_fn fn;
	store_reply_fn rfn;
	void *arg;
	/* apply: what to log once Redis says it was applied */
	struct applied *log;
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

struct store *store_new(struct rconn *w, const struct config *cfg)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->w = w;
	s->cfg = cfg;
	s->deadletter_key = store_key(s, "deadletter");
	s->ac.prefix = cfg->prefix;
	s->ac.group = cfg->group;
	s->ac.out_maxlen = cfg->out_maxlen;
	s->ac.expire_s = (cfg->resolved_ms + 999) / 1000;
	return s;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	free(s->deadletter_key);
	free(s);
}

struct load_ctx {
	struct store *s;
	enum apply_script script;
	unsigned gen;
};

static void on_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	struct load_ctx *lc = priv;
	redisReply *reply = r;
	struct store *s = lc->s;

	(void)ac;
	if (lc->gen == s->gen)
		s->loading--;
	if (lc->gen == s->gen && reply != NULL) {
		if (REPLY_IS_STRING(reply) && reply->len == 40) {
			memcpy(s->ac.sha[lc->script], reply->str, 40);
			s->ac.sha[lc->script][40] = '\0';
			s->loaded++;
		} else {
			log_kv(LOG_WARN, "script_load_failed", "error",
			       reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply",
			       NULL);
		}
	}
	free(lc);
}

void store_on_up(struct store *s)
{
	s->gen++; /* answers to earlier loads no longer count */
	s->loaded = 0;
	s->loading = 0;
	for (int i = 0; i < AS__COUNT; i++) {
		struct load_ctx *lc = xmalloc(sizeof(*lc));
		const char *argv[] = {"SCRIPT", "LOAD", apply_script_text((enum apply_script)i)};
		lc->s = s;
		lc->script = (enum apply_script)i;
		lc->gen = s->gen;
		if (rconn_argv(s->w, on_loaded, lc, 3, argv, NULL) < 0)
			free(lc);
		else
			s->loading++;
	}
}

void store_tick(struct store *s)
{
	/* a load refused (LOADING while Redis reads its data at start): try again */
	if (rconn_up(s->w) && s->loading == 0 && s->loaded < AS__COUNT)
		store_on_up(s);
}

void store_on_down(struct store *s)
{
	s->gen++;
	s->loaded = 0;
}

bool store_ready(const struct store *s)
{
	return s->loaded == AS__COUNT && rconn_up(s->w);
}

static void sreq_free(struct sreq *q)
{
	free(q->log);
	buf_free(&q->cmd);
	free(q);
}

static enum store_result parse_result(const redisReply *r)
{
	static const struct {
		const char *s;
		enum store_result res;
	} map[] = {{"ok", ST_OK},
	           {"seen", ST_SEEN},
	           {"exists", ST_EXISTS},
	           {"retry", ST_RETRY},
	           {"gone", ST_GONE}};

	if (r->type == REDIS_REPLY_INTEGER)
		return ST_OK;
	if (REPLY_IS_STRING(r)) {
		for (size_t i = 0; i < GR_NELEM(map); i++) {
			if (strcmp(r->str, map[i].s) == 0)
				return map[i].res;
		}
	}
	return ST_BUSY;
}

static int send_req(struct sreq *q);

/*
 * Error replies are retried, so a lasting one (NOPERM, OOM) would repeat
 * its line with every retry: log a line at most once a second, saying how
 * many were folded into it.
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
}

/* One log line (and the counters) per applied event: only now is it true. */
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
		snprintf(num, sizeof(num), "%lld", (long long)ev->count);
		bool moved = strcmp(type, "escalated") == 0 || strcmp(type, "reassigned") == 0;
		bool assigned = strcmp(type, "assigned") == 0;
		log_kv(lvl, type, "incident", a->id, "from", moved ? nonempty(a->from) : NULL, "to",
		       moved || assigned ? nonempty(ev->level_key) : NULL, "level",
		       moved || assigned ? NULL : nonempty(ev->level_key), "reason", ev->reason,
		       "by", nonempty(ev->by), "count", strcmp(type, "duplicate") == 0 ? num : NULL,
		       "unit", a->assigned ? nonempty(a->unit) : NULL, "source",
		       nonempty(a->source), "entry", nonempty(a->entry), NULL);
	}
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct sreq *q = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && REPLY_IS_ERROR(reply) && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    q->script != AS__COUNT) {
		/* the script cache was flushed: EVAL sends the script and caches it again */
		apply_evalsha_to_eval(&q->cmd, q->script);
		if (send_req(q) == 0)
			return;
		reply = NULL;
	}
	if (q->rfn != NULL) {
		q->rfn(q->arg, reply);
	} else if (reply == NULL) {
		q->fn(q->arg, ST_DOWN);
	} else {
		enum store_result res = parse_result(reply);
		if (REPLY_IS_ERROR(reply) && strncmp(reply->str, "READONLY", 8) == 0) {
			/* a replica now (failover): find the primary again */
			log_kv(LOG_WARN, "redis_readonly", "error", reply->str, NULL);
			rconn_reconnect(q->s->w);
		}
		if (res == ST_OK && q->log != NULL)
			log_applied(q->log);
		if (res == ST_BUSY)
			log_error_reply(reply->type == REDIS_REPLY_ERROR ? reply->str
			                                                 : "unexpected reply");
		q->fn(q->arg, res);
	}
	sreq_free(q);
}

static int send_req(struct sreq *q)
{
	return rconn_formatted(q->s->w, on_reply, q, q->cmd.data, q->cmd.len);
}

/* Send cmd (taken over, as the request's) with fn, rfn and arg; log e's events once applied. */
static int submit(struct store *s, enum apply_script sc, struct buf *cmd, store_fn fn,
                  store_reply_fn rfn, void *arg, struct applied *log)
{
	struct sreq *q = xcalloc(1, sizeof(*q));

	q->log = log;
	q->s = s;
	q->script = sc;
	q->cmd = *cmd;
	q->fn = fn;
	q->rfn = rfn;
	q->arg = arg;
	if ((sc != AS__COUNT ? !store_ready(s) : !rconn_up(s->w)) || send_req(q) < 0) {
		sreq_free(q);
		return -1;
	}
	return 0;
}

/* A command from its arguments (lens NULL: NUL-terminated). */
static int submit_argv(struct store *s, enum apply_script sc, int argc, const char **argv,
                       const size_t *lens, store_fn fn, store_reply_fn rfn, void *arg)
{
	struct buf cmd;

	buf_init(&cmd);
	apply_encode_argv(&cmd, argc, argv, lens);
	return submit(s, sc, &cmd, fn, rfn, arg, NULL);
}

int store_apply(struct store *s, const char *id, const struct effects *e, bool create,
                int64_t expect_version, const char *expect_holder, const struct lc_source *src,
                store_fn fn, void *arg)
{
	struct buf cmd;

	buf_init(&cmd);
	apply_encode(&cmd, &s->ac, id, e, create, expect_version, expect_holder, src);
	return submit(s, AS_APPLY, &cmd, fn, NULL, arg, applied_new(id, e, src));
}

int store_deadletter(struct store *s, const struct lc_source *src, const char *reason,
                     const char *error, const char *payload, size_t plen, store_fn fn, void *arg)
{
	const char *argv[] = {"EVALSHA",
	                      s->ac.sha[AS_DEADLETTER],
	                      "2",
	                      src->stream,
	                      s->deadletter_key,
	                      s->cfg->group,
	                      src->entry,
	                      src->stream,
	                      reason,
	                      error,
	                      payload};
	size_t lens[GR_NELEM(argv)];

	for (size_t i = 0; i < GR_NELEM(argv); i++)
		lens[i] = strlen(argv[i]);
	lens[GR_NELEM(argv) - 1] = plen;
	return submit_argv(s, AS_DEADLETTER, (int)GR_NELEM(argv), argv, lens, fn, NULL, arg);
}

int store_read_incident(struct store *s, const char *id, const struct lc_source *src,
                        store_reply_fn fn, void *arg)
{
	char *inc = store_key(s, "inc:%s", id);
	char *seen = store_key(s, "inc:%s:seen", id);
	char *member = src != NULL && src->stream != NULL
	                       ? xasprintf("%s/%s", src->stream, src->entry)
	                       : xstrdup("");
	const char *argv[] = {"EVALSHA", s->ac.sha[AS_READ], "2", inc, seen, member};
	int rc = submit_argv(s, AS_READ, (int)GR_NELEM(argv), argv, NULL, NULL, fn, arg);

	free(inc);
	free(seen);
	free(member);
	return rc;
}

int store_ack(struct store *s, const struct lc_source *src, store_fn fn, void *arg)
{
	const char *argv[] = {"XACK", src->stream, s->cfg->group, src->entry};

	return submit_argv(s, AS__COUNT, (int)GR_NELEM(argv), argv, NULL, fn, NULL, arg);
}

int store_read_dedup(struct store *s, const char *dedup_key, store_reply_fn fn, void *arg)
{
	struct buf cmd;

	buf_init(&cmd);
	apply_encode_dedup(&cmd, &s->ac, dedup_key);
	return submit(s, AS_DEDUP, &cmd, NULL, fn, arg, NULL);
}

int store_command(struct store *s, store_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens)
{
	return submit_argv(s, AS__COUNT, argc, argv, lens, NULL, fn, arg);
}
