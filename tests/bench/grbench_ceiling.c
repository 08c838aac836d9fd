/*
 * grbench_ceiling.c: `grbench ceiling`, the Redis-only ceiling. What the
 * daemon's throughput is compared with: Redis doing exactly the daemon's
 * work for every report, with no daemon in the way.
 *
 * Untimed set-up: SCRIPT LOAD of the daemon's scripts (apply.h), the
 * consumer group created at 0 as the daemon creates it, every entry of
 * the four input streams read with XRANGE, and for each the bytes the
 * daemon would send for a new report (apply_plan_report: one or more
 * commands; today one apply EVALSHA), computed with the library's
 * own parser, router and lifecycle against the same rules, on as many
 * threads as there are CPUs.
 *
 * Timed: the daemon's Redis traffic without its CPU. One connection reads
 * the streams through the group (XREADGROUP COUNT 1000 over the four
 * streams, no BLOCK), a second one sends the precomputed commands of the
 * entries read, pipelined with a bounded window, while the next read is
 * already on its way (the daemon reads ahead the same way, on its own
 * connection). Done when every command has its reply; each apply must
 * answer "ok" and a dedup read, where there is one, nil (the generated
 * dedup keys are unique).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "grbench.h"
#include "timeutil.h"

#define RANGE_COUNT 10000
#define CHUNK_BYTES (64u << 20)

/* One entry's precomputed commands. */
struct plan {
	uint64_t ms, seq; /* its entry id */
	const char *cmd;  /* into an arena chunk */
	uint32_t len;
	uint32_t ncmds; /* 1, or 2 with a dedup read */
};

struct stream_plan {
	char *key;
	struct plan *v;
	size_t n;
	size_t delivered; /* entries XREADGROUP has handed out so far */
};

/* Where the precomputed bytes live: big chunks, never moved. */
struct arena {
	char **chunks;
	size_t nchunks;
	size_t used; /* in the last chunk */
	size_t total;
};

struct ceiling {
	struct stream_plan s[CH__COUNT];
	struct arena a;
	size_t nentries;
	/* the send queue: entries delivered, in delivery order */
	struct qitem {
		uint32_t stream, idx;
	} * q;
	size_t qhead, qtail;
	/* replies */
	int64_t ok, not_ok, dedup_nil, dedup_found, errors;
	int64_t inflight; /* commands */
};

static const char *arena_copy(struct arena *a, const char *p, size_t len)
{
	if (a->nchunks == 0 || a->used + len > CHUNK_BYTES) {
		a->chunks = xreallocarray(a->chunks, a->nchunks + 1, sizeof(*a->chunks));
		a->chunks[a->nchunks++] = xmalloc(len > CHUNK_BYTES ? len : CHUNK_BYTES);
		a->used = 0;
	}
	char *dst = a->chunks[a->nchunks - 1] + a->used;
	memcpy(dst, p, len);
	a->used += len;
	a->total += len;
	return dst;
}

static void load_scripts(redisContext *c, struct apply_ctx *ctx)
{
	for (int s = 0; s < AS__COUNT; s++) {
		redisReply *r =
		        bench_cmd(c, "SCRIPT LOAD %s", apply_script_text((enum apply_script)s));
		if (r->type != REDIS_REPLY_STRING || r->len != 40)
			bench_die("ceiling: SCRIPT LOAD: %s",
			          r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		memcpy(ctx->sha[s], r->str, 40);
		ctx->sha[s][40] = '\0';
		freeReplyObject(r);
	}
}

static void create_groups(redisContext *c, const struct bench_opts *o, const char *group)
{
	static const char *const names[] = {"in:patrol", "in:feedback", "in:scheduled", "in:alert",
	                                    "in:commands"};

	for (size_t i = 0; i < GR_NELEM(names); i++) {
		redisReply *r = bench_cmd(c, "XGROUP CREATE %s%s %s 0 MKSTREAM", o->prefix,
		                          names[i], group);
		if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
			bench_die("ceiling: XGROUP CREATE: %s", r->str);
		freeReplyObject(r);
	}
}

/* One entry as XRANGE gave it, waiting for its commands. */
struct fetched {
	const redisReply *id, *payload; /* into the kept XRANGE replies */
	struct plan *plan;
};

struct fetch {
	struct fetched *v;
	size_t n, cap;
	redisReply **replies; /* freed once everything is planned */
	size_t nreplies;
};

/* Every entry of one stream, read with XRANGE; their plans sized, not yet filled. */
static void fetch_stream(struct ceiling *ce, redisContext *c, int ch, struct fetch *f)
{
	struct stream_plan *sp = &ce->s[ch];
	char start[64] = "-";
	size_t first = f->n;

	for (;;) {
		redisReply *rep =
		        bench_cmd(c, "XRANGE %s %s + COUNT %d", sp->key, start, RANGE_COUNT);
		if (rep->type != REDIS_REPLY_ARRAY)
			bench_die("ceiling: XRANGE %s: %s", sp->key,
			          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		f->replies = xreallocarray(f->replies, f->nreplies + 1, sizeof(*f->replies));
		f->replies[f->nreplies++] = rep;
		for (size_t i = 0; i < rep->elements; i++) {
			const redisReply *e = rep->element[i], *fl = e->element[1];
			struct fetched *fe;

			if (f->n == f->cap) {
				f->cap = f->cap ? 2 * f->cap : 65536;
				f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
			}
			fe = &f->v[f->n++];
			fe->id = e->element[0];
			fe->payload = NULL;
			for (size_t k = 0; k + 1 < fl->elements; k += 2) {
				if (strcmp(fl->element[k]->str, "incident") == 0)
					fe->payload = fl->element[k + 1];
			}
		}
		if (rep->elements < RANGE_COUNT)
			break;
		snprintf(start, sizeof(start), "(%s",
		         rep->element[rep->elements - 1]->element[0]->str);
	}
	sp->n = f->n - first;
	sp->v = xcalloc(sp->n > 0 ? sp->n : 1, sizeof(*sp->v));
	for (size_t i = 0; i < sp->n; i++) {
		struct fetched *fe = &f->v[first + i];
		fe->plan = &sp->v[i];
		if (bench_parse_id(fe->id->str, fe->id->len, &fe->plan->ms, &fe->plan->seq) < 0)
			bench_die("ceiling: bad entry id %s", fe->id->str);
	}
	ce->nentries += sp->n;
}

/* One planning thread: the commands of entries [from, to). */
struct planner {
	const struct apply_ctx *ctx;
	const struct rules *r;
	const struct stream_plan *streams;
	struct fetched *v;
	size_t from, to;
	int64_t now;
	struct arena a;
	const struct fetched *failed; /* an entry the daemon would dead-letter */
	pthread_t th;
};

static const char *stream_key_of(const struct planner *pl, const struct plan *p)
{
	for (int ch = 0; ch < CH__COUNT; ch++) {
		if (p >= pl->streams[ch].v && p < pl->streams[ch].v + pl->streams[ch].n)
			return pl->streams[ch].key;
	}
	return NULL;
}

/*
 * The library's parser, router, lifecycle and encoder are pure and keep
 * no state of their own (STYLE.md: no I/O, no globals), so the entries
 * can be planned on several threads against the one read-only rules.
 */
static void *plan_range(void *arg)
{
	struct planner *pl = arg;
	struct buf cmd;

	buf_init(&cmd);
	for (size_t i = pl->from; i < pl->to && pl->failed == NULL; i++) {
		struct fetched *fe = &pl->v[i];
		buf_reset(&cmd);
		int n = fe->payload == NULL
		                ? -1
		                : apply_plan_report(&cmd, pl->ctx, pl->r,
		                                    stream_key_of(pl, fe->plan), fe->id->str,
		                                    fe->payload->str, fe->payload->len, pl->now);
		if (n < 0) {
			pl->failed = fe;
			break;
		}
		fe->plan->cmd = arena_copy(&pl->a, cmd.data, cmd.len);
		fe->plan->len = (uint32_t)cmd.len;
		fe->plan->ncmds = (uint32_t)n;
	}
	buf_free(&cmd);
	return NULL;
}

/* Read every entry of the four streams and plan them on nthreads threads. */
static void plan_all(struct ceiling *ce, redisContext *c, const struct apply_ctx *ctx,
                     const struct rules *r, int nthreads)
{
	struct fetch f = {0};
	struct planner *pl = xcalloc((size_t)nthreads, sizeof(*pl));
	int64_t now = time_now_ms();

	for (int ch = 0; ch < CH__COUNT; ch++)
		fetch_stream(ce, c, ch, &f);
	for (int t = 0; t < nthreads; t++) {
		pl[t] = (struct planner){.ctx = ctx,
		                         .r = r,
		                         .streams = ce->s,
		                         .v = f.v,
		                         .from = f.n * (size_t)t / (size_t)nthreads,
		                         .to = f.n * (size_t)(t + 1) / (size_t)nthreads,
		                         .now = now};
		if (pthread_create(&pl[t].th, NULL, plan_range, &pl[t]) != 0)
			bench_die("ceiling: cannot start a planning thread");
	}
	for (int t = 0; t < nthreads; t++) {
		pthread_join(pl[t].th, NULL);
		if (pl[t].failed != NULL)
			bench_die("ceiling: %s %s would be dead-lettered: the generated data must "
			          "route (rules and data generated together?)",
			          stream_key_of(&pl[t], pl[t].failed->plan), pl[t].failed->id->str);
		/* the chunks move to the ceiling's arena, to be freed with it */
		for (size_t k = 0; k < pl[t].a.nchunks; k++) {
			ce->a.chunks = xreallocarray(ce->a.chunks, ce->a.nchunks + 1,
			                             sizeof(*ce->a.chunks));
			ce->a.chunks[ce->a.nchunks++] = pl[t].a.chunks[k];
		}
		ce->a.total += pl[t].a.total;
		free(pl[t].a.chunks);
	}
	for (size_t i = 0; i < f.nreplies; i++)
		freeReplyObject(f.replies[i]);
	free(f.replies);
	free(f.v);
	free(pl);
}

static int stream_of(const struct ceiling *ce, const redisReply *name)
{
	for (int ch = 0; ch < CH__COUNT; ch++) {
		if (strcmp(ce->s[ch].key, name->str) == 0)
			return ch;
	}
	return -1;
}

/* An XREADGROUP reply: queue its entries, checking they are the ones planned. */
static size_t take_batch(struct ceiling *ce, redisReply *r)
{
	size_t got = 0;

	if (r->type == REDIS_REPLY_ERROR)
		bench_die("ceiling: XREADGROUP: %s", r->str);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *sr = r->element[i];
		int ch = stream_of(ce, sr->element[0]);
		if (ch < 0)
			bench_die("ceiling: XREADGROUP: unexpected stream %s", sr->element[0]->str);
		struct stream_plan *sp = &ce->s[ch];
		for (size_t k = 0; k < sr->element[1]->elements; k++) {
			const redisReply *id = sr->element[1]->element[k]->element[0];
			uint64_t ms, seq;
			if (sp->delivered >= sp->n ||
			    bench_parse_id(id->str, id->len, &ms, &seq) < 0 ||
			    ms != sp->v[sp->delivered].ms || seq != sp->v[sp->delivered].seq)
				bench_die(
				        "ceiling: %s: entry %s was not planned (stream written to "
				        "since?)",
				        sp->key, id->str);
			ce->q[ce->qtail++] =
			        (struct qitem){(uint32_t)ch, (uint32_t)sp->delivered++};
			got++;
		}
	}
	return got;
}

static void take_apply_reply(struct ceiling *ce, redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		if (strcmp(r->str, "ok") == 0) {
			ce->ok++;
		} else if (ce->not_ok++ == 0) {
			fprintf(stderr, "grbench ceiling: apply answered \"%s\"\n", r->str);
		}
		break;
	case REDIS_REPLY_NIL:
		ce->dedup_nil++;
		break;
	case REDIS_REPLY_ARRAY:
		ce->dedup_found++;
		break;
	default:
		if (ce->errors++ == 0)
			fprintf(stderr, "grbench ceiling: %s\n",
			        r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		break;
	}
	freeReplyObject(r);
	ce->inflight--;
}

static void read_some(redisContext *c)
{
	if (redisBufferRead(c) != REDIS_OK)
		bench_die("redis read: %s", c->errstr);
}

int cmd_ceiling(const struct bench_opts *o)
{
	struct rules *r = bench_rules(o->rules);
	redisContext *rc = bench_connect(o), *wc = bench_connect(o);
	struct apply_ctx ctx = {.prefix = o->prefix,
	                        .group = "gridrouted",
	                        .out_maxlen = 1000000, /* retention.out_maxlen's default */
	                        .expire_s = 30 * 86400};
	struct ceiling ce;

	memset(&ce, 0, sizeof(ce));
	for (int ch = 0; ch < CH__COUNT; ch++)
		ce.s[ch].key = xasprintf("%sin:%s", o->prefix, channel_name((enum channel)ch));

	/* set-up, untimed */
	double tp = bench_now();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nthreads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
	load_scripts(wc, &ctx);
	create_groups(wc, o, ctx.group);
	plan_all(&ce, wc, &ctx, r, nthreads);
	tp = bench_now() - tp;
	if (ce.nentries == 0)
		bench_die("ceiling: the input streams are empty (run grbench load first)");
	ce.q = xreallocarray(NULL, ce.nentries, sizeof(*ce.q));
	fprintf(stderr,
	        "grbench ceiling: %zu entries planned in %.1f s on %d thread(s) (%.1f MB of "
	        "commands)\n",
	        ce.nentries, tp, nthreads, (double)ce.a.total / 1e6);

	/* timed */
	char *read_cmd = NULL;
	int read_len = redisFormatCommand(
	        &read_cmd, "XREADGROUP GROUP %s ceiling COUNT %d STREAMS %s %s %s %s > > > >",
	        ctx.group, o->read_count, ce.s[0].key, ce.s[1].key, ce.s[2].key, ce.s[3].key);
	bool reading = false, exhausted = false;
	int64_t done_cmds = 0, total_cmds = 0;
	for (int ch = 0; ch < CH__COUNT; ch++) {
		for (size_t i = 0; i < ce.s[ch].n; i++)
			total_cmds += ce.s[ch].v[i].ncmds;
	}
	struct bench_cpu cpu0, cpu1;
	int redis_pid = bench_redis_pid(wc);
	bench_cpu_sample(&cpu0, redis_pid);
	double t0 = bench_now();
	while (done_cmds < total_cmds) {
		if (!reading && !exhausted && ce.qtail - ce.qhead < 4 * (size_t)o->read_count) {
			redisAppendFormattedCommand(rc, read_cmd, (size_t)read_len);
			bench_flush(rc);
			reading = true;
		}
		bool sent = false;
		while (ce.qhead < ce.qtail && ce.inflight < o->window) {
			const struct qitem *it = &ce.q[ce.qhead++];
			const struct plan *p = &ce.s[it->stream].v[it->idx];
			redisAppendFormattedCommand(wc, p->cmd, p->len);
			ce.inflight += p->ncmds;
			sent = true;
		}
		if (sent)
			bench_flush(wc);
		if (!reading && ce.inflight == 0)
			bench_die("ceiling: stuck: %lld of %lld commands answered, nothing to read",
			          (long long)done_cmds, (long long)total_cmds);

		struct pollfd p[2] = {{.fd = wc->fd, .events = POLLIN},
		                      {.fd = rc->fd, .events = POLLIN}};
		int np = reading ? 2 : 1;
		int n = poll(p, (nfds_t)np, 60000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("ceiling: no reply from Redis for 60 s");
		if (p[0].revents != 0) {
			read_some(wc);
			void *rep;
			while (redisGetReplyFromReader(wc, &rep) == REDIS_OK && rep != NULL) {
				take_apply_reply(&ce, rep);
				done_cmds++;
			}
		}
		if (np == 2 && p[1].revents != 0) {
			read_some(rc);
			void *rep;
			if (redisGetReplyFromReader(rc, &rep) == REDIS_OK && rep != NULL) {
				reading = false;
				if (take_batch(&ce, rep) == 0)
					exhausted = true;
				freeReplyObject(rep);
			}
		}
	}
	double secs = bench_now() - t0;
	bench_cpu_sample(&cpu1, redis_pid);

	int64_t applied = ce.ok + ce.not_ok;
	printf("{\"entries\":%zu,\"applied\":%lld,\"ok\":%lld,\"not_ok\":%lld,\"dedup_reads\":%lld,"
	       "\"dedup_found\":%lld,\"errors\":%lld,\"seconds\":%.3f,\"rate\":%.1f,"
	       "\"plan_seconds\":%.1f,\"command_bytes\":%zu,\"window\":%d,"
	       "\"cpu\":{\"machine\":%.2f,\"redis\":%.2f,\"client\":%.2f}}\n",
	       ce.nentries, (long long)applied, (long long)ce.ok, (long long)ce.not_ok,
	       (long long)(ce.dedup_nil + ce.dedup_found), (long long)ce.dedup_found,
	       (long long)ce.errors, secs, (double)applied / secs, tp, ce.a.total, o->window,
	       cpu1.machine - cpu0.machine, cpu1.redis - cpu0.redis, cpu1.self - cpu0.self);

	redisFreeCommand(read_cmd);
	for (size_t i = 0; i < ce.a.nchunks; i++)
		free(ce.a.chunks[i]);
	free(ce.a.chunks);
	for (int ch = 0; ch < CH__COUNT; ch++) {
		free(ce.s[ch].key);
		free(ce.s[ch].v);
	}
	free(ce.q);
	redisFree(rc);
	redisFree(wc);
	rules_free(r);
	return ce.ok == (int64_t)ce.nentries && ce.errors == 0 ? 0 : 1;
}
