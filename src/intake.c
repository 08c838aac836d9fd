/*
 * intake.c: consuming the five input streams through the consumer group.
 *
 * One batch at a time: XREADGROUP (first this consumer's own pending
 * entries from id 0, then new ones with ">"), then every entry of the
 * batch as a work item that ends in exactly one atomic store call — an
 * incident created, a duplicate counted, a command applied, or a dead
 * letter — pipelined on the write connection. A lost connection drops
 * the batch: its entries are still pending in Redis and are read again
 * from id 0 once the connection is back, and the store's idempotency
 * makes the second application a no-op. Every claim_idle_ms, entries
 * that another consumer left idle are taken over with XAUTOCLAIM.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "sha1.h"

#define NSTREAMS     5
#define CMD_STREAM   4
#define BUSY_WAIT_MS 200
#define MAX_BATCHES  4
#define LANE_BUCKETS 1024
#define PROBE_MS     1000
/* An id past every entry: a read with it answers nothing, but checks the key, group and user. */
#define PROBE_ID "18446744073709551615-18446744073709551615"

struct intake {
	struct daemon *d;
	char *streams[NSTREAMS];
	char *pending_from[NSTREAMS]; /* history phase: read own pending after this id */
	bool history_done[NSTREAMS];
	/*
	 * Why a stream cannot be read (a key of another type, no permission),
	 * NULL when it can: a broken stream is left out of the reads, so that
	 * it stops only itself, and probed again every PROBE_MS.
	 */
	char *broken[NSTREAMS];
	int64_t probed_at[NSTREAMS];
	int probing; /* probes in flight after a failed read */
	bool groups_ok;
	bool reading;
	int inflight;
	unsigned gen; /* bumped on every drop: stale work is discarded */
	struct event *retry;
	struct event *claim;
	char *claim_cursor[NSTREAMS];
	struct lane *lanes[LANE_BUCKETS];
};

struct work {
	struct intake *in;
	unsigned gen;
	int stream;
	char *entry;
	char *payload; /* the incident / command field; NULL when missing */
	size_t plen;
	char *fields_json; /* all the entry's fields, for missing_payload */
	int64_t deliveries;
	int64_t entry_ms;
	struct incident inc;
	struct command cmd;
	struct route_result rt;
	struct event *timer;
	enum reason dl_reason; /* set once the entry is being dead-lettered */
	bool is_create;
	char *holder;              /* a report: the incident its dedup key names, once known */
	char sha[41];              /* a report: the SHA-1 of its bytes */
	struct lane *lane;         /* a command: the incident's lane it holds */
	struct work *next_waiting; /* in a lane's queue */
};

/*
 * Commands on one incident are applied one at a time, in the order of
 * their entries (SPEC §5): each incident with a command in flight has a
 * lane, and the commands that come for it meanwhile wait in its queue.
 */
struct lane {
	char *id;
	struct work *head, *tail; /* waiting, oldest first */
	struct lane *next;        /* in the bucket */
};

static void read_batch(struct intake *in);
static void work_start(struct work *w);
static void lane_release(struct intake *in, struct lane *l);

static const char *const stream_suffix[NSTREAMS] = {"in:patrol", "in:feedback", "in:scheduled",
                                                    "in:alert", "in:commands"};

static bool both_up(const struct intake *in)
{
	return rconn_up(in->d->rd) && store_ready(in->d->store);
}

static void work_free(struct work *w)
{
	incident_free(&w->inc);
	command_free(&w->cmd);
	if (w->timer != NULL)
		event_free(w->timer);
	free(w->entry);
	free(w->payload);
	free(w->fields_json);
	free(w->holder);
	free(w);
}

/* A work item is finished (or dropped): the next batch may come when all are. */
static void work_done(struct work *w)
{
	struct intake *in = w->in;
	bool current = w->gen == in->gen;
	struct lane *l = w->lane;

	work_free(w);
	if (!current)
		return;
	in->inflight--;
	if (l != NULL)
		lane_release(in, l);
	read_batch(in);
}

static struct lane **lane_slot(struct intake *in, const char *id)
{
	struct lane **p = &in->lanes[hash_bytes(id, strlen(id)) % LANE_BUCKETS];

	while (*p != NULL && strcmp((*p)->id, id) != 0)
		p = &(*p)->next;
	return p;
}

/* The lane of w's incident: w holds it now (true), or waits in it (false). */
static bool lane_enter(struct intake *in, struct work *w, const char *id)
{
	struct lane **p = lane_slot(in, id);

	if (*p == NULL) {
		struct lane *l = xcalloc(1, sizeof(*l));
		l->id = xstrdup(id);
		*p = l;
		w->lane = l;
		return true;
	}
	w->next_waiting = NULL;
	if ((*p)->tail != NULL)
		(*p)->tail->next_waiting = w;
	else
		(*p)->head = w;
	(*p)->tail = w;
	return false;
}

/* The command holding l is done: the next one waiting starts, or the lane goes. */
static void lane_release(struct intake *in, struct lane *l)
{
	struct work *next = l->head;

	if (next != NULL) {
		l->head = next->next_waiting;
		if (l->head == NULL)
			l->tail = NULL;
		next->lane = l;
		work_start(next);
		return;
	}
	struct lane **p = lane_slot(in, l->id);
	*p = l->next;
	free(l->id);
	free(l);
}

/* Every lane and what waits in it (the connection dropped: all of it is read again). */
static void lanes_drop(struct intake *in)
{
	for (size_t b = 0; b < LANE_BUCKETS; b++) {
		while (in->lanes[b] != NULL) {
			struct lane *l = in->lanes[b];
			in->lanes[b] = l->next;
			while (l->head != NULL) {
				struct work *w = l->head;
				l->head = w->next_waiting;
				work_free(w);
			}
			free(l->id);
			free(l);
		}
	}
}

static struct lc_source source_of(const struct work *w)
{
	struct lc_source src = {w->in->streams[w->stream], w->entry};
	return src;
}

static void on_busy_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	work_start(arg);
}

/* Redis said no for now (OOM, READONLY, BUSY): the same work again, later. */
static void work_later(struct work *w)
{
	struct timeval tv = {0, BUSY_WAIT_MS * 1000};

	incident_free(&w->inc);
	command_free(&w->cmd);
	if (w->timer == NULL)
		w->timer = evtimer_new(w->in->d->base, on_busy_timer, w);
	evtimer_add(w->timer, &tv);
}

/* Counters for an entry Redis has just applied. */
static void account(const struct work *w)
{
	bool cmd = w->stream == CMD_STREAM;
	int op = cmd && w->cmd.doc != NULL ? (int)w->cmd.op : OP__COUNT;

	if (w->dl_reason != REASON_NONE) {
		metrics.deadletters[w->dl_reason]++;
		if (cmd)
			metrics.commands[op][CMD_REJECTED]++;
	} else if (cmd) {
		metrics.commands[op][CMD_APPLIED]++;
	} else if (w->is_create) {
		metrics_observe_latency((double)(time_now_ms() - w->entry_ms) / 1000.0);
	}
}

static void deadletter(struct work *w, enum reason reason, const char *error);

/* Start w over from its entry: what it read or decided is stale. */
static void work_again(struct work *w)
{
	w->is_create = false;
	incident_free(&w->inc);
	command_free(&w->cmd);
	work_start(w);
}

static void on_stored(void *arg, enum store_result res, const char *detail)
{
	struct work *w = arg;
	char msg[REJECT_MSGSZ];

	if (w->gen != w->in->gen) {
		work_done(w);
		return;
	}
	switch (res) {
	case ST_OK:
		account(w);
		work_done(w);
		break;
	case ST_SAME:
		/* the backend sent the same report again: acknowledged, counted */
		metrics.reports_existing[w->stream]++;
		work_done(w);
		break;
	case ST_SEEN:
	case ST_EXISTS:
		work_done(w);
		break;
	case ST_CONFLICT:
		snprintf(msg, sizeof(msg),
		         "incident \"%s\" exists already, created from another report with other "
		         "contents: give this report an id of its own",
		         w->inc.id);
		deadletter(w, REASON_ID_CONFLICT, msg);
		break;
	case ST_DEDUP:
		/* the dedup key names an incident: read it, and decide again */
		free(w->holder);
		w->holder = xstrdup(detail);
		work_again(w);
		break;
	case ST_RETRY:
	case ST_GONE:
		/* the incident changed or went under us: read it again and decide again */
		work_again(w);
		break;
	case ST_BUSY:
		work_later(w);
		break;
	case ST_DOWN:
		work_done(w);
		break;
	}
}

static void deadletter(struct work *w, enum reason reason, const char *error)
{
	struct lc_source src = source_of(w);
	const char *payload = w->payload != NULL ? w->payload : w->fields_json;
	size_t plen = w->payload != NULL ? w->plen : strlen(w->fields_json);

	w->dl_reason = reason;
	log_kv(LOG_WARN, "deadletter", "source", src.stream, "entry", src.entry, "reason",
	       reason_code(reason), "error", error, NULL);
	if (store_deadletter(w->in->d->store, &src, reason_code(reason), error, payload, plen,
	                     on_stored, w) < 0)
		work_done(w);
}

static void apply(struct work *w, const char *id, struct effects *e, bool create, int64_t version,
                  const char *holder)
{
	struct lc_source src = source_of(w);

	if (store_apply(w->in->d->store, id, e, create, version, holder, create ? w->sha : NULL,
	                &src, on_stored, w) < 0)
		work_done(w);
	effects_free(e);
}

/*
 * An incident as store_read_incident reads it: EXEC's [hash, doc(, seen)].
 * Returns 1 with rec filled, 0 when there is no such incident, -1 with err
 * when it cannot be read; *seen tells whether the entry was applied to it.
 */
static int record_from_reply(struct inc_record *rec, const char *id, redisReply *r, bool *seen,
                             char *err, size_t errsz)
{
	redisReply *h = r->element[0], *doc = r->element[1];
	size_t n = h->elements / 2;

	memset(rec, 0, sizeof(*rec));
	*seen = r->elements > 2 && r->element[2]->type == REDIS_REPLY_INTEGER &&
	        r->element[2]->integer == 1;
	if (n == 0)
		return 0;
	const char **f = xcalloc(n + 1, sizeof(*f)), **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		f[i] = h->element[2 * i]->str;
		v[i] = h->element[2 * i + 1]->str;
	}
	int rc = inc_record_parse(rec, id, f, v, n, REPLY_IS_STRING(doc) ? doc->str : NULL,
	                          REPLY_IS_STRING(doc) ? doc->len : 0, err, errsz);
	free(f);
	free(v);
	return rc == 0 ? 1 : -1;
}

/* EXEC's answer to a read, or NULL: an error or something else (try again later). */
static bool read_reply_ok(redisReply *r)
{
	if (!REPLY_IS_ARRAY(r) || r->elements < 2 || !REPLY_IS_ARRAY(r->element[0]) ||
	    (!REPLY_IS_STRING(r->element[1]) && !REPLY_IS_NIL(r->element[1]))) {
		static struct log_fold fold;
		log_folded(&fold, LOG_WARN, "redis_error",
		           REPLY_IS_ERROR(r) ? r->str
		           : REPLY_IS_ARRAY(r) && r->elements > 0 && REPLY_IS_ERROR(r->element[0])
		                   ? r->element[0]->str
		                   : "unexpected answer to an incident read");
		return false;
	}
	return true;
}

static void create_incident(struct work *w, const char *holder)
{
	struct effects e;
	struct lc_source src = source_of(w);

	effects_init(&e);
	w->is_create = true;
	if (w->rt.fallback)
		log_kv(LOG_WARN, "unit_fallback", "incident", w->inc.id, "reported_unit",
		       w->inc.unit, "unit", w->in->d->rules->units[w->rt.unit].id, NULL);
	struct lc_env env = {w->in->d->rules, time_now_ms(), 0, &src, &w->in->d->lconf};
	lifecycle_create(&env, &w->inc, &w->rt, w->sha, &e);
	apply(w, w->inc.id, &e, true, 0, holder);
}

/* The incident the report's dedup key names, read. */
static void on_holder(void *arg, redisReply *r)
{
	struct work *w = arg;
	struct inc_record rec;
	char err[256];
	bool seen;

	if (w->gen != w->in->gen || r == NULL) {
		work_done(w);
		return;
	}
	if (!read_reply_ok(r)) {
		work_later(w);
		return;
	}
	int got = record_from_reply(&rec, w->holder, r, &seen, err, sizeof(err));
	if (seen) {
		/* merged into it before (a replayed stream): acknowledge, nothing else */
		struct lc_source src = source_of(w);
		inc_record_free(&rec);
		if (store_ack(w->in->d->store, &src, on_stored, w) < 0)
			work_done(w);
		return;
	}
	if (got <= 0 || rec.state == STATE_RESOLVED) {
		/* the holder is gone, unreadable or done: this report opens a new incident */
		inc_record_free(&rec);
		create_incident(w, w->holder);
		return;
	}
	struct effects e;
	struct lc_source src = source_of(w);
	effects_init(&e);
	struct lc_env env = {w->in->d->rules, time_now_ms(), 0, &src, &w->in->d->lconf};
	lifecycle_duplicate(&env, &rec, &e);
	e.from_level = rec.level_key;
	apply(w, rec.id, &e, false, rec.version, NULL);
	inc_record_free(&rec);
}

static void start_incident(struct work *w)
{
	struct incident_ctx ctx = {
	        .channel = (enum channel)w->stream,
	        .entry_id = w->entry,
	        .entry_ms = w->entry_ms,
	        .max_bytes = (size_t)w->in->d->cfg->max_incident_bytes,
	};
	struct rejection rj;

	if (incident_parse(w->payload, w->plen, &ctx, &w->inc, &rj) < 0 ||
	    route_incident(w->in->d->rules, &w->inc, time_now_ms(), &w->rt, &rj) < 0) {
		deadletter(w, rj.reason, rj.msg);
		return;
	}
	/*
	 * A dedup key is mostly new: try the creation at once, on the
	 * condition that the key names no incident ("" as the holder); when it
	 * names one, the store says which, and that one is read first.
	 */
	if (w->inc.dedup_key != NULL && w->holder != NULL) {
		struct lc_source src = source_of(w);
		if (store_read_incident(w->in->d->store, w->holder, &src, on_holder, w) < 0)
			work_done(w);
		return;
	}
	create_incident(w, w->inc.dedup_key != NULL ? "" : NULL);
}

static void on_command_incident(void *arg, redisReply *r)
{
	struct work *w = arg;
	struct inc_record rec;
	struct rejection rj;
	struct effects e;
	char err[256];
	bool seen;

	if (w->gen != w->in->gen || r == NULL) {
		work_done(w);
		return;
	}
	if (!read_reply_ok(r)) {
		work_later(w);
		return;
	}
	int got = record_from_reply(&rec, w->cmd.incident, r, &seen, err, sizeof(err));
	if (seen) {
		/* applied before (a replayed stream): acknowledge, nothing else */
		struct lc_source src = source_of(w);
		inc_record_free(&rec);
		if (store_ack(w->in->d->store, &src, on_stored, w) < 0)
			work_done(w);
		return;
	}
	if (got <= 0) {
		char msg[REJECT_MSGSZ];
		if (got == 0)
			snprintf(msg, sizeof(msg), "no incident \"%s\"", w->cmd.incident);
		else
			snprintf(msg, sizeof(msg), "incident \"%s\" cannot be read: %s",
			         w->cmd.incident, err);
		inc_record_free(&rec);
		deadletter(w, REASON_UNKNOWN_INCIDENT, msg);
		return;
	}
	effects_init(&e);
	struct lc_source src = source_of(w);
	/* the person acted when the entry was written: that time counts for KPIs (§11) */
	struct lc_env env = {w->in->d->rules, time_now_ms(), w->entry_ms, &src, &w->in->d->lconf};
	if (lifecycle_command(&env, &rec, &w->cmd, &e, &rj) < 0) {
		effects_free(&e);
		inc_record_free(&rec);
		deadletter(w, rj.reason, rj.msg);
		return;
	}
	e.from_level = rec.level_key;
	apply(w, rec.id, &e, false, rec.version, NULL);
	inc_record_free(&rec);
}

static void start_command(struct work *w)
{
	struct rejection rj;

	if (command_parse(w->payload, w->plen, (size_t)w->in->d->cfg->max_incident_bytes, &w->cmd,
	                  &rj) < 0 ||
	    route_command_check(w->in->d->rules, &w->cmd, &rj) < 0) {
		deadletter(w, rj.reason, rj.msg);
		return;
	}
	/* one command at a time per incident: a later one waits for this one */
	if (w->lane == NULL && !lane_enter(w->in, w, w->cmd.incident)) {
		command_free(&w->cmd);
		return;
	}
	struct lc_source src = source_of(w);
	if (store_read_incident(w->in->d->store, w->cmd.incident, &src, on_command_incident, w) < 0)
		work_done(w);
}

static void work_start(struct work *w)
{
	char msg[REJECT_MSGSZ];

	if (w->gen != w->in->gen) {
		work_done(w);
		return;
	}
	/* what is wrong with the entry itself first: it says more than a count */
	if (w->payload == NULL) {
		snprintf(msg, sizeof(msg), "the entry has no \"%s\" field",
		         w->stream == CMD_STREAM ? "command" : "incident");
		deadletter(w, REASON_MISSING_PAYLOAD, msg);
		return;
	}
	if (w->plen > (size_t)w->in->d->cfg->max_incident_bytes) {
		snprintf(msg, sizeof(msg), "%s of %zu bytes, over limits.max_incident_bytes (%lld)",
		         w->stream == CMD_STREAM ? "command" : "incident", w->plen,
		         (long long)w->in->d->cfg->max_incident_bytes);
		deadletter(w, REASON_TOO_LARGE, msg);
		return;
	}
	if (w->deliveries > w->in->d->cfg->max_deliveries) {
		snprintf(msg, sizeof(msg),
		         "delivered %lld times, more than limits.max_deliveries (%lld)",
		         (long long)w->deliveries, (long long)w->in->d->cfg->max_deliveries);
		deadletter(w, REASON_MAX_DELIVERIES, msg);
		return;
	}
	if (w->stream == CMD_STREAM)
		start_command(w);
	else
		start_incident(w);
}

/* One stream entry [id, [field, value, ...]] as a work item; NULL fields: deleted entry. */
static struct work *work_new(struct intake *in, int stream, redisReply *e, int64_t deliveries)
{
	struct work *w = xcalloc(1, sizeof(*w));
	const char *want = stream == CMD_STREAM ? "command" : "incident";
	redisReply *f = e->elements > 1 ? e->element[1] : NULL;

	w->in = in;
	w->gen = in->gen;
	w->stream = stream;
	w->entry = xstrndup(e->element[0]->str, e->element[0]->len);
	w->deliveries = deliveries;
	if (stream != CMD_STREAM)
		metrics.received[stream]++;
	if (stream_id_ms(w->entry, &w->entry_ms) < 0)
		w->entry_ms = time_now_ms();
	if (REPLY_IS_ARRAY(f)) {
		for (size_t i = 0; i + 1 < f->elements; i += 2) {
			redisReply *k = f->element[i], *v = f->element[i + 1];
			if (k->len == strlen(want) && memcmp(k->str, want, k->len) == 0) {
				w->payload = xstrndup(v->str, v->len);
				w->plen = v->len;
				break;
			}
		}
	}
	if (w->payload != NULL && stream != CMD_STREAM)
		sha1_hex(w->payload, w->plen, w->sha);
	if (w->payload == NULL) {
		/* no payload field: a dead letter, which keeps all the entry's fields */
		json_t *all = json_object();
		for (size_t i = 0; REPLY_IS_ARRAY(f) && i + 1 < f->elements; i += 2) {
			redisReply *k = f->element[i], *v = f->element[i + 1];
			char *ks = xstrndup(k->str, k->len);
			json_object_set_new(all, ks, json_stringn_nocheck(v->str, v->len));
			free(ks);
		}
		w->fields_json = json_dumps(all, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(all);
		if (w->fields_json == NULL)
			w->fields_json = xstrdup("{}");
	}
	return w;
}

static int stream_index(const struct intake *in, const char *key, size_t len)
{
	for (int i = 0; i < NSTREAMS; i++) {
		if (strlen(in->streams[i]) == len && memcmp(in->streams[i], key, len) == 0)
			return i;
	}
	return -1;
}

/* The delivery counts of the entries of a history or claim batch. */
struct counted {
	struct intake *in;
	struct work **items;
	size_t n;
	int stream;
};

static void on_pending_counts(void *arg, redisReply *r)
{
	struct counted *c = arg;
	struct intake *in = c->in;

	for (size_t i = 0; i < c->n; i++) {
		struct work *w = c->items[i];
		if (REPLY_IS_ARRAY(r)) {
			for (size_t k = 0; k < r->elements; k++) {
				redisReply *p = r->element[k];
				if (REPLY_IS_ARRAY(p) && p->elements >= 4 &&
				    strcmp(p->element[0]->str, w->entry) == 0)
					w->deliveries = p->element[3]->integer;
			}
		}
	}
	bool current = c->items[0]->gen == in->gen && r != NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (current)
			work_start(c->items[i]);
		else
			work_done(c->items[i]);
	}
	free(c->items);
	free(c);
}

/* Start a batch of one stream's entries; history and claims first learn their delivery counts. */
static void start_batch(struct intake *in, int s, redisReply *entries, bool counted)
{
	size_t n = entries->elements;
	struct work **items;

	if (n == 0)
		return;
	items = xcalloc(n, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		items[i] = work_new(in, s, entries->element[i], 1);
		in->inflight++;
	}
	if (!counted) {
		for (size_t i = 0; i < n; i++)
			work_start(items[i]);
		free(items);
		return;
	}
	char cnt[24];
	snprintf(cnt, sizeof(cnt), "%zu", n);
	const char *argv[] = {"XPENDING",      in->streams[s],      in->d->cfg->group,
	                      items[0]->entry, items[n - 1]->entry, cnt};
	struct counted *c = xcalloc(1, sizeof(*c));
	c->in = in;
	c->items = items;
	c->n = n;
	c->stream = s;
	if (store_command(in->d->store, on_pending_counts, c, 6, argv, NULL) < 0)
		on_pending_counts(c, NULL);
}

static bool history_phase(const struct intake *in)
{
	for (int i = 0; i < NSTREAMS; i++) {
		if (!in->history_done[i] && in->broken[i] == NULL)
			return true;
	}
	return false;
}

static void set_broken(struct intake *in, int s, const char *why)
{
	if (in->broken[s] != NULL && strcmp(in->broken[s], why) == 0)
		return;
	if (in->broken[s] == NULL)
		log_kv(LOG_ERROR, "stream_unreadable", "stream", in->streams[s], "error", why,
		       NULL);
	free(in->broken[s]);
	in->broken[s] = xstrdup(why);
}

static void set_readable(struct intake *in, int s)
{
	if (in->broken[s] == NULL)
		return;
	log_kv(LOG_INFO, "stream_readable", "stream", in->streams[s], NULL);
	free(in->broken[s]);
	in->broken[s] = NULL;
	/* its own pending entries first, as after a start */
	in->history_done[s] = false;
	free(in->pending_from[s]);
	in->pending_from[s] = xstrdup("0");
}

struct probe {
	struct intake *in;
	int stream;
	unsigned gen;
	bool after_read; /* one of the probes after a failed read */
};

/* The read of one stream alone, with nothing to read: does it work? */
static void on_probe(void *arg, redisReply *r)
{
	struct probe *p = arg;
	struct intake *in = p->in;
	bool current = p->gen == in->gen;

	if (current && r != NULL) {
		if (REPLY_IS_ERROR(r) && strncmp(r->str, "NOGROUP", 7) == 0)
			in->groups_ok = false; /* Redis lost the group: made again before reading */
		else if (REPLY_IS_ERROR(r) && !rconn_redirected(r))
			set_broken(in, p->stream,
			           r->str); /* a redirection is not the stream's fault */
		else
			set_readable(in, p->stream);
	}
	if (current && p->after_read && --in->probing == 0) {
		struct timeval tv = {0, BUSY_WAIT_MS * 1000};
		evtimer_add(in->retry, &tv);
	} else if (current && !p->after_read) {
		read_batch(in);
	}
	free(p);
}

static void probe(struct intake *in, int s, bool after_read)
{
	struct probe *p = xcalloc(1, sizeof(*p));
	const char *argv[] = {"XREADGROUP", "GROUP", in->d->cfg->group, in->d->cfg->consumer,
	                      "COUNT",      "1",     "STREAMS",         in->streams[s],
	                      PROBE_ID};

	p->in = in;
	p->stream = s;
	p->gen = in->gen;
	p->after_read = after_read;
	in->probed_at[s] = time_now_ms();
	if (store_command(in->d->store, on_probe, p, 9, argv, NULL) < 0) {
		free(p);
		return;
	}
	if (after_read)
		in->probing++;
}

static void on_read(redisAsyncContext *ac, void *r, void *priv)
{
	struct intake *in = priv;
	redisReply *reply = r;
	bool history = history_phase(in);
	bool seen[NSTREAMS] = {false};

	(void)ac;
	in->reading = false;
	if (reply == NULL || in->d->stopping)
		return;
	if (REPLY_IS_ERROR(reply)) {
		static struct log_fold fold; /* it repeats with every retry */
		log_folded(&fold, LOG_WARN, "read_failed", reply->str);
		if (rconn_redirected(reply)) {
			/* a failover or a slot migration: rconn follows it; read again later */
			struct timeval tv = {0, BUSY_WAIT_MS * 1000};
			evtimer_add(in->retry, &tv);
			return;
		}
		/*
		 * One stream of the wrong type, without permission or without its
		 * group fails the read of all: find which, read the others.
		 */
		for (int s = 0; s < NSTREAMS; s++) {
			if (in->broken[s] == NULL)
				probe(in, s, true);
		}
		if (in->probing == 0) {
			struct timeval tv = {0, BUSY_WAIT_MS * 1000};
			evtimer_add(in->retry, &tv);
		}
		return;
	}
	in->inflight++; /* hold the batch open while its items start */
	if (REPLY_IS_ARRAY(reply)) {
		for (size_t i = 0; i < reply->elements; i++) {
			redisReply *sr = reply->element[i];
			if (!REPLY_IS_ARRAY(sr) || sr->elements < 2)
				continue;
			int s = stream_index(in, sr->element[0]->str, sr->element[0]->len);
			if (s < 0)
				continue;
			redisReply *entries = sr->element[1];
			if (history) {
				seen[s] = entries->elements > 0;
				if (entries->elements > 0) {
					redisReply *last = entries->element[entries->elements - 1];
					free(in->pending_from[s]);
					in->pending_from[s] = xstrndup(last->element[0]->str,
					                               last->element[0]->len);
				}
			}
			start_batch(in, s, entries, history);
		}
	}
	if (history) {
		for (int s = 0; s < NSTREAMS; s++) {
			if (!seen[s])
				in->history_done[s] = true;
		}
		if (!history_phase(in))
			log_kv(LOG_INFO, "pending_done", "consumer", in->d->cfg->consumer, NULL);
	}
	in->inflight--;
	read_batch(in);
}

static void on_group(void *arg, redisReply *r)
{
	static struct log_fold fold; /* it repeats with every retry */

	(void)arg;
	if (r == NULL)
		return;
	if (REPLY_IS_ERROR(r) && strncmp(r->str, "BUSYGROUP", 9) != 0)
		log_folded(&fold, LOG_ERROR, "group_create_failed", r->str);
}

static void on_groups_done(void *arg, redisReply *r)
{
	struct intake *in = arg;

	on_group(in, r);
	if (r == NULL)
		return;
	in->groups_ok = true;
	read_batch(in);
}

static void create_groups(struct intake *in)
{
	for (int i = 0; i < NSTREAMS; i++) {
		const char *argv[] = {"XGROUP",          "CREATE", in->streams[i],
		                      in->d->cfg->group, "0",      "MKSTREAM"};
		store_command(in->d->store, i == NSTREAMS - 1 ? on_groups_done : on_group, in, 6,
		              argv, NULL);
	}
}

static void read_batch(struct intake *in)
{
	const char *argv[9 + 2 * NSTREAMS];
	char count[24], block[24];
	int n = 0, ns = 0;
	bool history = history_phase(in);
	int64_t cap = in->d->cfg->batch * MAX_BATCHES, per = in->d->cfg->batch;

	if (in->reading || in->probing > 0 || in->d->stopping || !both_up(in))
		return;
	/*
	 * Own pending entries are read batch after batch (the cursor moves with
	 * each); new ones are read while earlier batches are still being
	 * applied, up to MAX_BATCHES batches' worth in all (COUNT is per
	 * stream, so it is shared out among the streams read), and only once
	 * a batch's worth has room: the compare-and-set in the store keeps
	 * entries about one incident right even when they overlap.
	 */
	if (in->inflight > 0 && (history || in->inflight > cap - in->d->cfg->batch))
		return;
	if (!in->groups_ok) {
		create_groups(in);
		return;
	}
	for (int i = 0; i < NSTREAMS; i++)
		ns += in->broken[i] == NULL && (!history || !in->history_done[i]);
	if (ns == 0)
		return; /* every stream is broken: the probes say when one can be read again */
	if (!history && ns > 0) {
		per = (cap - (int64_t)in->inflight) / ns;
		per = per < 1 ? 1 : per > in->d->cfg->batch ? in->d->cfg->batch : per;
	}
	snprintf(count, sizeof(count), "%lld", (long long)per);
	snprintf(block, sizeof(block), "%lld", (long long)in->d->cfg->block_ms);
	argv[n++] = "XREADGROUP";
	argv[n++] = "GROUP";
	argv[n++] = in->d->cfg->group;
	argv[n++] = in->d->cfg->consumer;
	argv[n++] = "COUNT";
	argv[n++] = count;
	if (!history) {
		argv[n++] = "BLOCK";
		argv[n++] = block;
	}
	argv[n++] = "STREAMS";
	for (int i = 0; i < NSTREAMS; i++) {
		if (in->broken[i] == NULL && (!history || !in->history_done[i]))
			argv[n++] = in->streams[i];
	}
	for (int i = 0; i < NSTREAMS; i++) {
		if (in->broken[i] == NULL && (!history || !in->history_done[i]))
			argv[n++] = history ? in->pending_from[i] : ">";
	}
	if (rconn_argv(in->d->rd, on_read, in, n, argv, NULL) == 0)
		in->reading = true;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_batch(arg);
}

/* Entries other consumers left idle: take them over (XAUTOCLAIM), one stream per tick. */
struct claim_ctx {
	struct intake *in;
	int stream;
	unsigned gen;
};

static void on_claimed(void *arg, redisReply *r)
{
	struct claim_ctx *c = arg;
	struct intake *in = c->in;

	if (r != NULL && c->gen == in->gen && REPLY_IS_ARRAY(r) && r->elements >= 2 &&
	    !in->d->stopping) {
		free(in->claim_cursor[c->stream]);
		in->claim_cursor[c->stream] = xstrndup(r->element[0]->str, r->element[0]->len);
		redisReply *entries = r->element[1];
		if (entries->elements > 0) {
			char cnt[24];
			snprintf(cnt, sizeof(cnt), "%zu", entries->elements);
			log_kv(LOG_INFO, "claimed", "stream", in->streams[c->stream], "count", cnt,
			       NULL);
			in->inflight++;
			start_batch(in, c->stream, entries, true);
			in->inflight--;
			read_batch(in);
		}
	}
	free(c);
}

static void on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct intake *in = arg;
	char idle[24], count[24];

	(void)fd;
	(void)what;
	if (!both_up(in) || in->d->stopping || !in->groups_ok || history_phase(in))
		return;
	/*
	 * Redis redirecting (a slot migration, a failover) holds every consumer
	 * up alike: a claim then would only count deliveries against entries
	 * nobody can apply (max_deliveries), not save them from a dead consumer.
	 */
	int64_t redirected = rconn_redirected_at(in->d->rd) > rconn_redirected_at(in->d->wr)
	                             ? rconn_redirected_at(in->d->rd)
	                             : rconn_redirected_at(in->d->wr);
	if (time_now_ms() - redirected < in->d->cfg->claim_idle_ms)
		return;
	snprintf(idle, sizeof(idle), "%lld", (long long)in->d->cfg->claim_idle_ms);
	snprintf(count, sizeof(count), "%lld", (long long)in->d->cfg->batch);
	for (int s = 0; s < NSTREAMS; s++) {
		struct claim_ctx *c = xcalloc(1, sizeof(*c));
		const char *argv[] = {
		        "XAUTOCLAIM", in->streams[s],      in->d->cfg->group, in->d->cfg->consumer,
		        idle,         in->claim_cursor[s], "COUNT",           count};
		c->in = in;
		c->stream = s;
		c->gen = in->gen;
		if (store_command(in->d->store, on_claimed, c, 8, argv, NULL) < 0)
			free(c);
	}
}

struct intake *intake_new(struct daemon *d)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	int64_t ms = d->cfg->claim_idle_ms / 2;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	in->d = d;
	for (int i = 0; i < NSTREAMS; i++) {
		in->streams[i] = store_key(d->store, "%s", stream_suffix[i]);
		in->pending_from[i] = xstrdup("0");
		in->claim_cursor[i] = xstrdup("0-0");
	}
	in->retry = evtimer_new(d->base, on_retry, in);
	in->claim = event_new(d->base, -1, EV_PERSIST, on_claim_timer, in);
	evtimer_add(in->claim, &tv);
	return in;
}

void intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	for (int i = 0; i < NSTREAMS; i++) {
		free(in->streams[i]);
		free(in->pending_from[i]);
		free(in->claim_cursor[i]);
	}
	lanes_drop(in);
	for (int i = 0; i < NSTREAMS; i++)
		free(in->broken[i]);
	event_free(in->retry);
	event_free(in->claim);
	free(in);
}

void intake_kick(struct intake *in)
{
	int64_t now = time_now_ms();

	for (int s = 0; s < NSTREAMS && both_up(in) && !in->d->stopping; s++) {
		if (in->broken[s] != NULL && now - in->probed_at[s] >= PROBE_MS)
			probe(in, s, false);
	}
	read_batch(in);
}

char *intake_unreadable(const struct intake *in)
{
	struct buf b;

	buf_init(&b);
	for (int s = 0; s < NSTREAMS; s++) {
		if (in->broken[s] != NULL)
			buf_printf(&b, "%s%s cannot be read: %s", b.len > 0 ? "; " : "",
			           in->streams[s], in->broken[s]);
	}
	return b.len > 0 ? buf_detach(&b) : (buf_free(&b), NULL);
}

void intake_on_down(struct intake *in)
{
	lanes_drop(in);
	in->gen++;
	in->probing = 0;
	in->inflight = 0;
	in->reading = false;
	in->groups_ok = false;
	for (int i = 0; i < NSTREAMS; i++) {
		in->history_done[i] = false;
		free(in->pending_from[i]);
		in->pending_from[i] = xstrdup("0");
	}
}

bool intake_idle(const struct intake *in)
{
	return in->inflight == 0;
}
