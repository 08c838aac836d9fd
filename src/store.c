/*
 * store.c: the Lua scripts that apply a step atomically, and the calls
 * that feed them. Idempotency lives here: an entry already in the
 * incident's seen set, or an incident that exists already, is only
 * acknowledged; a changed version (another daemon got there first) makes
 * the caller read the incident again.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store.h"

/*
 * apply: KEYS 1 inc, 2 timeline, 3 seen, 4 due, 5 open, 6 dedup, 7 source
 * stream, 8 out:assignments, 9 out:notifications.
 * ARGV 1 mode (create|update), 2 id, 3 group, 4 entry id or "", 5 seen
 * member or "", 6 expected version (update) or dedup holder (create),
 * 7 due op, 8 due score, 9 open op, 10 open score, 11 dedup op, 12 expire
 * seconds ("0": none), 13 out maxlen, 14 events channel, 15 nfields, then
 * the field/value pairs, the events, the assignments and the
 * notifications, each list preceded by its length.
 */
static const char apply_lua[] =
        "local function ack()\n"
        "  if ARGV[4] ~= '' then redis.call('XACK', KEYS[7], ARGV[3], ARGV[4]) end\n"
        "end\n"
        "if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 1 then\n"
        "  ack() return 'seen'\n"
        "end\n"
        "if ARGV[1] == 'create' then\n"
        "  if redis.call('EXISTS', KEYS[1]) == 1 then ack() return 'exists' end\n"
        "  if ARGV[11] == 'set' and (redis.call('GET', KEYS[6]) or '') ~= ARGV[6] then\n"
        "    return 'retry'\n"
        "  end\n"
        "else\n"
        "  local v = redis.call('HGET', KEYS[1], 'version')\n"
        "  if not v then return 'gone' end\n"
        "  if v ~= ARGV[6] then return 'retry' end\n"
        "end\n"
        "local i = 15\n"
        "local n = tonumber(ARGV[i])\n"
        "if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i + 1, i + 2 * n)) end\n"
        "redis.call('HINCRBY', KEYS[1], 'version', 1)\n"
        "i = i + 2 * n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[2], '*', 'event', ARGV[i + k])\n"
        "  redis.call('PUBLISH', ARGV[14], ARGV[i + k])\n"
        "end\n"
        "i = i + n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[13], '*', 'assignment', ARGV[i + k])\n"
        "end\n"
        "i = i + n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[13], '*', 'notification', ARGV[i + k])\n"
        "end\n"
        "if ARGV[7] == 'set' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[2])\n"
        "elseif ARGV[7] == 'rem' then redis.call('ZREM', KEYS[4], ARGV[2]) end\n"
        "if ARGV[9] == 'set' then redis.call('ZADD', KEYS[5], ARGV[10], ARGV[2])\n"
        "elseif ARGV[9] == 'rem' then redis.call('ZREM', KEYS[5], ARGV[2]) end\n"
        "if ARGV[11] == 'set' then redis.call('SET', KEYS[6], ARGV[2])\n"
        "elseif ARGV[11] == 'rem' and redis.call('GET', KEYS[6]) == ARGV[2] then\n"
        "  redis.call('DEL', KEYS[6])\n"
        "end\n"
        "if ARGV[5] ~= '' then redis.call('SADD', KEYS[3], ARGV[5]) end\n"
        "if ARGV[12] ~= '0' then\n"
        "  for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[12]) end\n"
        "end\n"
        "ack()\n"
        "return 'ok'\n";

/*
 * deadletter: KEYS 1 source stream, 2 deadletter stream. ARGV 1 group,
 * 2 entry, 3 source, 4 reason, 5 error, 6 payload. The XACK comes first:
 * an entry some other consumer already finished is not dead-lettered twice.
 */
static const char deadletter_lua[] =
        "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'seen' end\n"
        "redis.call('XADD', KEYS[2], '*', 'source', ARGV[3], 'entry', ARGV[2],\n"
        "  'reason', ARGV[4], 'error', ARGV[5], 'payload', ARGV[6])\n"
        "return 'ok'\n";

/*
 * dedup: KEYS 1 the dedup key. ARGV 1 the incident key prefix. Reads the
 * holder's hash too, which is not in KEYS: with a hash-tagged prefix it is
 * in the same slot. Read-only.
 */
static const char dedup_lua[] = "local id = redis.call('GET', KEYS[1])\n"
                                "if not id then return false end\n"
                                "return {id, redis.call('HGETALL', ARGV[1] .. id)}\n";

/*
 * read: KEYS 1 inc, 2 seen. ARGV 1 the seen member ("" for none).
 * [fields and values, 1 if the entry was applied already].
 */
static const char read_lua[] = "return {redis.call('HGETALL', KEYS[1]),\n"
                               "        redis.call('SISMEMBER', KEYS[2], ARGV[1])}\n";

enum script { SC_APPLY, SC_DEADLETTER, SC_DEDUP, SC_READ, SC__COUNT };

static const char *const scripts[SC__COUNT] = {apply_lua, deadletter_lua, dedup_lua, read_lua};

struct store {
	struct rconn *w;
	const struct config *cfg;
	char sha[SC__COUNT][41];
	int loaded;
	int loading;  /* SCRIPT LOADs in flight */
	unsigned gen; /* bumped when the connection drops: late SCRIPT LOAD replies are stale */
	char *events_channel;
	char *deadletter_key;
	char *due_key;
	char *open_key;
	char *assign_key;
	char *notify_key;
	char *inc_prefix;
	char maxlen[24];
	char expire[24];
};

/* A call in flight; its arguments are kept for a NOSCRIPT resend. */
struct sreq {
	struct store *s;
	enum script script;
	int argc;
	char **argv;
	size_t *lens;
	store_fn fn;
	store_reply_fn rfn;
	void *arg;
	/* apply: what to log once Redis says it was applied */
	json_t *events;
	json_t *assignment;
	char *from;
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
	s->events_channel = store_key(s, "events");
	s->deadletter_key = store_key(s, "deadletter");
	s->due_key = store_key(s, "due");
	s->open_key = store_key(s, "open");
	s->assign_key = store_key(s, "out:assignments");
	s->notify_key = store_key(s, "out:notifications");
	s->inc_prefix = store_key(s, "inc:");
	snprintf(s->maxlen, sizeof(s->maxlen), "%lld", (long long)cfg->out_maxlen);
	snprintf(s->expire, sizeof(s->expire), "%lld",
	         (long long)((cfg->resolved_ms + 999) / 1000));
	return s;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	free(s->events_channel);
	free(s->deadletter_key);
	free(s->due_key);
	free(s->open_key);
	free(s->assign_key);
	free(s->notify_key);
	free(s->inc_prefix);
	free(s);
}

struct load_ctx {
	struct store *s;
	enum script script;
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
			memcpy(s->sha[lc->script], reply->str, 40);
			s->sha[lc->script][40] = '\0';
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
	for (int i = 0; i < SC__COUNT; i++) {
		struct load_ctx *lc = xmalloc(sizeof(*lc));
		const char *argv[] = {"SCRIPT", "LOAD", scripts[i]};
		lc->s = s;
		lc->script = (enum script)i;
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
	if (rconn_up(s->w) && s->loading == 0 && s->loaded < SC__COUNT)
		store_on_up(s);
}

void store_on_down(struct store *s)
{
	s->gen++;
	s->loaded = 0;
}

bool store_ready(const struct store *s)
{
	return s->loaded == SC__COUNT && rconn_up(s->w);
}

static void sreq_free(struct sreq *q)
{
	json_decref(q->events);
	json_decref(q->assignment);
	free(q->from);
	for (int i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	free(q->lens);
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
	static int64_t last;
	static unsigned long folded;
	int64_t now = time_now_ms();

	if (now - last < 1000) {
		folded++;
		return;
	}
	char n[24];
	snprintf(n, sizeof(n), "%lu", folded);
	log_kv(LOG_WARN, "redis_error", "error", err, "repeats_folded", folded > 0 ? n : NULL,
	       NULL);
	last = now;
	folded = 0;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void count_event(const char *type, json_t *ev, json_t *assignment)
{
	enum channel ch;

	if (strcmp(type, "assigned") == 0 && assignment != NULL &&
	    channel_parse(jstr(assignment, "channel") != NULL ? jstr(assignment, "channel") : "",
	                  &ch) == 0)
		metrics.routed[ch]++;
	else if (strcmp(type, "escalated") == 0)
		metrics_escalation(jstr(ev, "reason"));
	else if (strcmp(type, "breached") == 0)
		metrics.breaches++;
	else if (strcmp(type, "duplicate") == 0)
		metrics.duplicates++;
}

/* One log line (and the counters) per applied event: only now is it true. */
static void log_applied(const struct sreq *q)
{
	size_t i;
	json_t *ev;

	json_array_foreach(q->events, i, ev)
	{
		const char *type = jstr(ev, "type");
		char num[24];
		enum log_level lvl = LOG_INFO;

		if (type == NULL)
			continue;
		count_event(type, ev, q->assignment);
		if (strcmp(type, "skipped") == 0)
			lvl = LOG_DEBUG;
		else if (strcmp(type, "breached") == 0)
			lvl = LOG_WARN;
		if (!log_enabled(lvl))
			continue;
		snprintf(num, sizeof(num), "%lld",
		         (long long)json_integer_value(json_object_get(ev, "count")));
		bool moved = strcmp(type, "escalated") == 0 || strcmp(type, "reassigned") == 0;
		log_kv(lvl, type, "incident", jstr(ev, "incident"), "from", moved ? q->from : NULL,
		       "to", moved || strcmp(type, "assigned") == 0 ? jstr(ev, "level_key") : NULL,
		       "level",
		       moved                           ? NULL
		       : strcmp(type, "assigned") == 0 ? NULL
		                                       : jstr(ev, "level_key"),
		       "reason", jstr(ev, "reason"), "by", jstr(ev, "by"), "count",
		       strcmp(type, "duplicate") == 0 ? num : NULL, "unit",
		       q->assignment != NULL ? jstr(q->assignment, "unit") : NULL, "source",
		       jstr(ev, "source"), "entry", jstr(ev, "entry"), NULL);
	}
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct sreq *q = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && REPLY_IS_ERROR(reply) && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
	    strcmp(q->argv[0], "EVALSHA") == 0) {
		/* the script cache was flushed: EVAL sends the script and caches it again */
		free(q->argv[0]);
		free(q->argv[1]);
		q->argv[0] = xstrdup("EVAL");
		q->argv[1] = xstrdup(scripts[q->script]);
		q->lens[0] = 4;
		q->lens[1] = strlen(scripts[q->script]);
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
		if (res == ST_OK && q->events != NULL)
			log_applied(q);
		if (res == ST_BUSY)
			log_error_reply(reply->type == REDIS_REPLY_ERROR ? reply->str
			                                                 : "unexpected reply");
		q->fn(q->arg, res);
	}
	sreq_free(q);
}

static int send_req(struct sreq *q)
{
	return rconn_argv(q->s->w, on_reply, q, q->argc, (const char **)(void *)q->argv, q->lens);
}

/* A growing argument vector. */
struct args {
	char **v;
	size_t *lens;
	int n, cap;
};

static void arg_addn(struct args *a, const char *p, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 32 : a->cap * 2;
		a->v = xreallocarray(a->v, (size_t)a->cap, sizeof(*a->v));
		a->lens = xreallocarray(a->lens, (size_t)a->cap, sizeof(*a->lens));
	}
	a->v[a->n] = xstrndup(p, len);
	a->lens[a->n++] = len;
}

static void arg_add(struct args *a, const char *p)
{
	arg_addn(a, p, strlen(p));
}

static void arg_take(struct args *a, char *p)
{
	arg_add(a, p);
	free(p);
}

static void arg_int(struct args *a, int64_t v)
{
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	arg_add(a, tmp);
}

static int submit_logged(struct store *s, enum script sc, struct args *a, store_fn fn,
                         store_reply_fn rfn, void *arg, const struct effects *e)
{
	struct sreq *q = xcalloc(1, sizeof(*q));

	if (e != NULL) {
		q->events = json_incref(e->events);
		q->assignment = json_incref(json_array_get(e->assignments, 0));
		q->from = e->from_level != NULL ? xstrdup(e->from_level) : NULL;
	}

	q->s = s;
	q->script = sc;
	q->argc = a->n;
	q->argv = a->v;
	q->lens = a->lens;
	q->fn = fn;
	q->rfn = rfn;
	q->arg = arg;
	if (!store_ready(s) || send_req(q) < 0) {
		sreq_free(q);
		return -1;
	}
	return 0;
}

static int submit(struct store *s, enum script sc, struct args *a, store_fn fn, store_reply_fn rfn,
                  void *arg)
{
	return submit_logged(s, sc, a, fn, rfn, arg, NULL);
}

static void arg_json_list(struct args *a, json_t *list)
{
	size_t i;
	json_t *v;

	arg_int(a, (int64_t)json_array_size(list));
	json_array_foreach(list, i, v)
	{
		char *js = json_dumps(v, JSON_COMPACT);
		if (js == NULL)
			fatalx("out of memory encoding JSON");
		arg_take(a, js);
	}
}

static const char *op_name(enum lc_op op)
{
	return op == LC_SET ? "set" : op == LC_REM ? "rem" : "keep";
}

int store_apply(struct store *s, const char *id, const struct effects *e, bool create,
                int64_t expect_version, const char *expect_holder, const struct lc_source *src,
                store_fn fn, void *arg)
{
	struct args a = {0};
	const char *key;
	json_t *v;

	arg_add(&a, "EVALSHA");
	arg_add(&a, s->sha[SC_APPLY]);
	arg_add(&a, "9");
	arg_take(&a, store_key(s, "inc:%s", id));
	arg_take(&a, store_key(s, "inc:%s:timeline", id));
	arg_take(&a, store_key(s, "inc:%s:seen", id));
	arg_add(&a, s->due_key);
	arg_add(&a, s->open_key);
	arg_take(&a, store_key(s, "dedup:%s", e->dedup_key != NULL ? e->dedup_key : ""));
	if (src != NULL && src->stream != NULL)
		arg_add(&a, src->stream);
	else
		arg_take(&a, store_key(s, "in:none"));
	arg_add(&a, s->assign_key);
	arg_add(&a, s->notify_key);

	arg_add(&a, create ? "create" : "update");
	arg_add(&a, id);
	arg_add(&a, s->cfg->group);
	if (src != NULL && src->stream != NULL) {
		arg_add(&a, src->entry);
		arg_take(&a, xasprintf("%s/%s", src->stream, src->entry));
	} else {
		arg_add(&a, "");
		arg_add(&a, "");
	}
	if (create)
		arg_add(&a, expect_holder != NULL ? expect_holder : "");
	else
		arg_int(&a, expect_version);
	arg_add(&a, op_name(e->due));
	arg_int(&a, e->due_score);
	arg_add(&a, op_name(e->open));
	arg_int(&a, e->open_score);
	arg_add(&a, e->dedup_key != NULL ? op_name(e->dedup) : "keep");
	arg_add(&a, e->expire ? s->expire : "0");
	arg_add(&a, s->maxlen);
	arg_add(&a, s->events_channel);
	arg_int(&a, (int64_t)json_object_size(e->fields));
	json_object_foreach(e->fields, key, v)
	{
		arg_add(&a, key);
		arg_add(&a, json_is_string(v) ? json_string_value(v) : "");
	}
	arg_json_list(&a, e->events);
	arg_json_list(&a, e->assignments);
	arg_json_list(&a, e->notifications);
	return submit_logged(s, SC_APPLY, &a, fn, NULL, arg, e);
}

int store_deadletter(struct store *s, const struct lc_source *src, const char *reason,
                     const char *error, const char *payload, size_t plen, store_fn fn, void *arg)
{
	struct args a = {0};

	arg_add(&a, "EVALSHA");
	arg_add(&a, s->sha[SC_DEADLETTER]);
	arg_add(&a, "2");
	arg_add(&a, src->stream);
	arg_add(&a, s->deadletter_key);
	arg_add(&a, s->cfg->group);
	arg_add(&a, src->entry);
	arg_add(&a, src->stream);
	arg_add(&a, reason);
	arg_add(&a, error);
	arg_addn(&a, payload, plen);
	return submit(s, SC_DEADLETTER, &a, fn, NULL, arg);
}

int store_read_incident(struct store *s, const char *id, const struct lc_source *src,
                        store_reply_fn fn, void *arg)
{
	struct args a = {0};

	arg_add(&a, "EVALSHA");
	arg_add(&a, s->sha[SC_READ]);
	arg_add(&a, "2");
	arg_take(&a, store_key(s, "inc:%s", id));
	arg_take(&a, store_key(s, "inc:%s:seen", id));
	if (src != NULL && src->stream != NULL)
		arg_take(&a, xasprintf("%s/%s", src->stream, src->entry));
	else
		arg_add(&a, "");
	return submit(s, SC_READ, &a, NULL, fn, arg);
}

int store_ack(struct store *s, const struct lc_source *src, store_fn fn, void *arg)
{
	struct args a = {0};

	arg_add(&a, "XACK");
	arg_add(&a, src->stream);
	arg_add(&a, s->cfg->group);
	arg_add(&a, src->entry);
	return submit(s, SC__COUNT, &a, fn, NULL, arg);
}

int store_read_dedup(struct store *s, const char *dedup_key, store_reply_fn fn, void *arg)
{
	struct args a = {0};

	arg_add(&a, "EVALSHA");
	arg_add(&a, s->sha[SC_DEDUP]);
	arg_add(&a, "1");
	arg_take(&a, store_key(s, "dedup:%s", dedup_key));
	arg_add(&a, s->inc_prefix);
	return submit(s, SC_DEDUP, &a, NULL, fn, arg);
}

int store_command(struct store *s, store_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens)
{
	struct args a = {0};

	for (int i = 0; i < argc; i++)
		arg_addn(&a, argv[i], lens != NULL ? lens[i] : strlen(argv[i]));
	struct sreq *q = xcalloc(1, sizeof(*q));
	q->s = s;
	q->script = SC__COUNT;
	q->argc = a.n;
	q->argv = a.v;
	q->lens = a.lens;
	q->rfn = fn;
	q->arg = arg;
	if (!rconn_up(s->w) || send_req(q) < 0) {
		sreq_free(q);
		return -1;
	}
	return 0;
}
