/*
 * grbench_load.c: `grbench load`, the load generator. Writes generated
 * incidents (grbench.c) to the four input streams with XADD, pipelined on
 * one connection: flat out (a bounded window of commands in flight), or
 * at a fixed offered rate. The fixed rate is open-loop: each incident has
 * its scheduled send time, and a slow reply never holds the next send
 * back, so a stall downstream shows as latency instead of being hidden
 * (no coordinated omission). SIGTERM or SIGINT ends a run early, cleanly.
 * Prints one JSON line: what was sent, how fast, and how far behind its
 * schedule the generator ever fell.
 */
#define _GNU_SOURCE /* ppoll */

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grbench.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct load {
	redisContext *c;
	char *streams[CH__COUNT];
	int64_t sent, replied, errors;
	int64_t per_channel[CH__COUNT];
	char first_id[48], last_id[48];
	struct buf json;
};

static void take_reply(struct load *l, redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
		if (l->replied == 0)
			snprintf(l->first_id, sizeof(l->first_id), "%s", r->str);
		snprintf(l->last_id, sizeof(l->last_id), "%s", r->str);
	} else {
		if (l->errors++ == 0)
			fprintf(stderr, "grbench load: XADD: %s\n",
			        r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	}
	l->replied++;
	freeReplyObject(r);
}

/* Take every reply that arrives within timeout_ms (0: only those already there). */
static void drain(struct load *l, int timeout_ms)
{
	redisReply *r;

	while (l->replied < l->sent && (r = bench_reply(l->c, timeout_ms)) != NULL)
		take_reply(l, r);
}

static void send_one(struct load *l, const struct gen *g, int64_t i)
{
	buf_reset(&l->json);
	enum channel ch = gen_incident(g, i, &l->json);
	redisAppendCommand(l->c, "XADD %s * incident %b", l->streams[ch], l->json.data,
	                   l->json.len);
	l->per_channel[ch]++;
	l->sent++;
}

/* Sleep until t (monotonic seconds), or until a reply can be read. */
static void wait_until(struct load *l, double t)
{
	double left = t - bench_now();

	if (left <= 0)
		return;
	struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
	struct pollfd p = {.fd = l->c->fd, .events = POLLIN};
	if (ppoll(&p, 1, &ts, NULL) > 0 && redisBufferRead(l->c) != REDIS_OK)
		bench_die("redis read: %s", l->c->errstr);
}

int cmd_load(const struct bench_opts *o)
{
	struct rules *r = bench_rules(o->rules);
	struct load l = {.c = bench_connect(o)};
	struct gen g;
	int64_t count = o->count;
	double max_lag = 0;

	if (count == 0 && o->rate > 0)
		count = (int64_t)llround(o->rate * o->seconds);
	if (count <= 0)
		bench_die("load: give --count N, or --rate R and --seconds S");
	gen_init(&g, r, o->seed);
	buf_init(&l.json);
	for (int ch = 0; ch < CH__COUNT; ch++)
		l.streams[ch] = xasprintf("%sin:%s", o->prefix, channel_name((enum channel)ch));
	/* no SA_RESTART: the wait in ppoll ends at once */
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	double t0 = bench_now();
	if (o->rate <= 0) {
		for (int64_t i = 0; i < count && !stop_requested; i++) {
			send_one(&l, &g, o->first + i);
			if (l.sent - l.replied >= o->window) {
				bench_flush(l.c);
				while (l.sent - l.replied > o->window / 2)
					take_reply(&l, bench_reply(l.c, -1));
			}
		}
	} else {
		while (l.sent < count && !stop_requested) {
			double now = bench_now();
			/* every incident whose time has come, incident k at t0 + k / rate */
			int64_t due = (int64_t)floor((now - t0) * o->rate) + 1;
			if (due > count)
				due = count;
			if (l.sent < due) {
				double lag = now - (t0 + (double)(due - 1) / o->rate);
				if (lag > max_lag)
					max_lag = lag;
			}
			while (l.sent < due)
				send_one(&l, &g, o->first + l.sent);
			bench_flush(l.c);
			drain(&l, 0);
			if (l.sent < count)
				wait_until(&l, t0 + (double)l.sent / o->rate);
		}
	}
	bench_flush(l.c);
	double t_sent = bench_now();
	drain(&l, 60000);
	double t1 = bench_now();
	if (l.replied < l.sent)
		bench_die("load: %lld replies missing after 60 s", (long long)(l.sent - l.replied));

	printf("{\"sent\":%lld,\"errors\":%lld,\"seconds\":%.3f,\"send_seconds\":%.3f,"
	       "\"rate\":%.1f,\"offered_rate\":%.1f,\"max_lag_ms\":%.1f,\"first_id\":\"%s\","
	       "\"last_id\":\"%s\",\"seed\":%llu,\"first\":%lld",
	       (long long)l.sent, (long long)l.errors, t1 - t0, t_sent - t0,
	       (double)l.sent / (t1 - t0), o->rate, max_lag * 1e3, l.first_id, l.last_id,
	       (unsigned long long)o->seed, (long long)o->first);
	for (int ch = 0; ch < CH__COUNT; ch++)
		printf(",\"%s\":%lld", channel_name((enum channel)ch),
		       (long long)l.per_channel[ch]);
	printf("}\n");

	for (int ch = 0; ch < CH__COUNT; ch++)
		free(l.streams[ch]);
	buf_free(&l.json);
	gen_free(&g);
	redisFree(l.c);
	rules_free(r);
	return l.errors > 0 ? 1 : 0;
}
