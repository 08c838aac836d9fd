/*
 * escalate.c: deadlines. Every tick_ms, the incidents whose score in
 * gr:due has passed are read in batches; the next step is computed in C
 * from the current rules (lifecycle_deadline) and applied with a
 * compare-and-set on the incident's version, so that two daemons on one
 * Redis never escalate the same deadline twice: the second finds the
 * version moved and reads the incident again on a later tick.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"

/*
 * A round takes up to 16 batches' worth of due incidents (each round ends
 * in a pause while its last steps are applied: big rounds, few pauses),
 * but reads and applies at most DUE_WINDOW of them at a time: the memory
 * of the steps in flight stays bounded whatever the batch.
 */
#define DUE_ROUND  16
#define DUE_WINDOW 1024

struct escalator {
	struct daemon *d;
	struct event *tick;
	struct event *wake; /* the next deadline, when it comes before the next tick */
	int inflight;
	bool again; /* the last batch was full: go on without waiting for the tick */
	bool rerun; /* a deadline came while a round was in flight: another after it */
	unsigned gen;
	char **ids; /* this round's due incidents; ids[next..n) not started yet */
	size_t next, n;
};

struct due_item {
	struct escalator *e;
	unsigned gen;
	char *id;
};

static void run(struct escalator *e);
static void pump(struct escalator *e);

static void item_done(struct due_item *it)
{
	struct escalator *e = it->e;
	bool current = it->gen == e->gen;

	free(it->id);
	free(it);
	if (!current)
		return;
	e->inflight--;
	pump(e);
	if (e->inflight == 0 && (e->again || e->rerun))
		run(e);
}

static void on_applied(void *arg, enum store_result res, const char *detail)
{
	(void)res; /* RETRY: someone else moved it; the next tick reads it again */
	(void)detail;
	item_done(arg);
}

static void ignore_reply(void *arg, redisReply *r)
{
	(void)arg;
	(void)r;
}

static void repair_due(struct daemon *d, const char *id, const struct effects *fx)
{
	char *due = store_key(d->store, "due");
	char score[24];

	snprintf(score, sizeof(score), "%lld", (long long)fx->due_score);
	if (fx->due == LC_SET) {
		const char *argv[] = {"ZADD", due, "XX", score, id};
		store_command(d->store, ignore_reply, NULL, 5, argv, NULL);
	} else if (fx->due == LC_REM) {
		const char *argv[] = {"ZREM", due, id};
		store_command(d->store, ignore_reply, NULL, 3, argv, NULL);
	}
	free(due);
}

/*
 * An incident in gr:due that cannot be read would come first in every
 * round and hold up the deadlines behind it: it is set aside in
 * gr:unreadable (ZADD before ZREM, so that it is never in neither),
 * logged once and counted; `gridctl stats` shows how many there are.
 */
static void set_aside(struct daemon *d, const char *id, const char *err)
{
	char *due = store_key(d->store, "due"), *aside = store_key(d->store, "unreadable");
	char now[24];

	snprintf(now, sizeof(now), "%lld", (long long)time_now_ms());
	log_kv(LOG_ERROR, "incident_set_aside", "incident", id, "error", err, "key", aside, NULL);
	metrics.due_set_aside++;
	const char *add[] = {"ZADD", aside, "NX", now, id};
	const char *rem[] = {"ZREM", due, id};
	store_command(d->store, ignore_reply, NULL, 5, add, NULL);
	store_command(d->store, ignore_reply, NULL, 3, rem, NULL);
	free(due);
	free(aside);
}

static void on_incident(void *arg, redisReply *r)
{
	struct due_item *it = arg;
	struct daemon *d = it->e->d;
	struct inc_record rec;
	struct effects fx;
	char err[256];

	if (r == NULL || it->gen != it->e->gen || !REPLY_IS_ARRAY(r) || r->elements < 2 ||
	    !REPLY_IS_ARRAY(r->element[0])) {
		item_done(it);
		return;
	}
	redisReply *h = r->element[0], *doc = r->element[1];
	if (h->elements == 0) {
		/* expired or deleted: it has no deadline any more */
		char *due = store_key(d->store, "due");
		const char *argv[] = {"ZREM", due, it->id};
		store_command(d->store, ignore_reply, NULL, 3, argv, NULL);
		free(due);
		item_done(it);
		return;
	}
	size_t n = h->elements / 2;
	const char **f = xcalloc(n + 1, sizeof(*f)), **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		f[i] = h->element[2 * i]->str;
		v[i] = h->element[2 * i + 1]->str;
	}
	int rc = inc_record_parse(&rec, it->id, f, v, n, REPLY_IS_STRING(doc) ? doc->str : NULL,
	                          REPLY_IS_STRING(doc) ? doc->len : 0, err, sizeof(err));
	free(f);
	free(v);
	if (rc < 0) {
		set_aside(d, it->id, err);
		inc_record_free(&rec);
		item_done(it);
		return;
	}
	effects_init(&fx);
	struct lc_env env = {d->rules, time_now_ms(), 0, NULL, &d->lconf};
	if (lifecycle_deadline(&env, &rec, &fx) == 0) {
		/* nothing due: only put its gr:due score right, the incident is unchanged */
		repair_due(d, it->id, &fx);
		item_done(it);
	} else {
		fx.from_level = rec.level_key;
		if (store_apply(d->store, it->id, &fx, false, rec.version, NULL, NULL, NULL,
		                on_applied, it) < 0)
			item_done(it);
	}
	inc_record_free(&rec);
	effects_free(&fx);
}

/* Start the round's next due incidents, up to DUE_WINDOW in flight. */
static void pump(struct escalator *e)
{
	while (e->ids != NULL && e->next < e->n && e->inflight < DUE_WINDOW) {
		struct due_item *it = xcalloc(1, sizeof(*it));
		it->e = e;
		it->gen = e->gen;
		it->id = e->ids[e->next++];
		/*
		 * The hash and the document, in one MULTI/EXEC: a deadline has no
		 * entry to look up in the seen set, and the apply's
		 * compare-and-set on the version catches any change since.
		 */
		int rc = store_read_incident(e->d->store, it->id, NULL, on_incident, it);
		if (rc < 0) {
			/* the connection is down: the rest waits for a tick after it is back */
			free(it->id);
			free(it);
			while (e->next < e->n)
				free(e->ids[e->next++]);
			e->again = false;
			break;
		}
		e->inflight++;
	}
	if (e->ids != NULL && e->next == e->n) {
		free(e->ids);
		e->ids = NULL;
		e->next = e->n = 0;
	}
}

static void on_due(void *arg, redisReply *r)
{
	struct escalator *e = arg;

	e->inflight--;
	e->again = false;
	if (r != NULL && REPLY_IS_ARRAY(r) && r->elements > 0) {
		e->again = (int64_t)r->elements >= e->d->cfg->batch;
		e->ids = xcalloc(r->elements, sizeof(*e->ids));
		for (size_t i = 0; i < r->elements; i++)
			e->ids[i] = xstrndup(r->element[i]->str, r->element[i]->len);
		e->n = r->elements;
		e->next = 0;
		pump(e);
	}
	if (e->inflight == 0 && e->rerun)
		run(e);
}

/*
 * The first deadline after this round's "now": when it falls before the
 * next tick, a timer wakes the escalator right then, so that a deadline is
 * acted on within milliseconds, not up to tick_ms late.
 */
static void on_next(void *arg, redisReply *r)
{
	struct escalator *e = arg;
	int64_t when;

	if (r == NULL || !REPLY_IS_ARRAY(r) || r->elements != 2 ||
	    !REPLY_IS_STRING(r->element[1]) ||
	    parse_int64(r->element[1]->str, 0, INT64_MAX, &when) != 0)
		return;
	int64_t ms = when - time_now_ms() + 1;
	if (ms < 1)
		ms = 1;
	if (ms >= e->d->cfg->tick_ms)
		return;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(e->wake, &tv);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct escalator *e = arg;

	(void)fd;
	(void)what;
	e->rerun = true; /* a round in flight runs the next one when it ends */
	run(e);
}

static void run(struct escalator *e)
{
	char now[24], count[24];
	char *due;

	if (e->inflight > 0 || e->d->stopping || !store_ready(e->d->store))
		return;
	e->rerun = false;
	snprintf(now, sizeof(now), "%lld", (long long)time_now_ms());
	snprintf(count, sizeof(count), "%lld", (long long)e->d->cfg->batch * DUE_ROUND);
	due = store_key(e->d->store, "due");
	const char *argv[] = {"ZRANGEBYSCORE", due, "-inf", now, "LIMIT", "0", count};
	e->inflight++;
	if (store_command(e->d->store, on_due, e, 7, argv, NULL) < 0) {
		e->inflight--;
	} else {
		/* and the first deadline still ahead, to be there on time */
		char after[26];
		snprintf(after, sizeof(after), "(%s", now);
		const char *next[] = {"ZRANGEBYSCORE", due,     after, "+inf",
		                      "WITHSCORES",    "LIMIT", "0",   "1"};
		store_command(e->d->store, on_next, e, 8, next, NULL);
	}
	free(due);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

struct escalator *escalator_new(struct daemon *d)
{
	struct escalator *e = xcalloc(1, sizeof(*e));
	struct timeval tv = {d->cfg->tick_ms / 1000, (d->cfg->tick_ms % 1000) * 1000};

	e->d = d;
	e->tick = event_new(d->base, -1, EV_PERSIST, on_tick, e);
	e->wake = evtimer_new(d->base, on_wake, e);
	evtimer_add(e->tick, &tv);
	return e;
}

void escalator_free(struct escalator *e)
{
	if (e == NULL)
		return;
	while (e->ids != NULL && e->next < e->n)
		free(e->ids[e->next++]);
	free(e->ids);
	event_free(e->tick);
	event_free(e->wake);
	free(e);
}

bool escalator_idle(const struct escalator *e)
{
	return e->inflight == 0;
}
