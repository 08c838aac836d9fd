/*
 * grbench_ceiling.c: `grbench ceiling`, the Redis-only ceilings. What the
 * daemon's throughput is compared with: Redis doing work for every report
 * with no daemon in the way.
 *
 * Two of them. The plain ceiling is Redis doing exactly the daemon's work:
 * the bytes the daemon would send for a new report (apply_plan_report),
 * computed with the library's own parser, router and lifecycle against the
 * same rules, gathered as the daemon gathers them — up to BATCH_STEPS
 * consecutive entries of a stream as the steps of one apply EVALSHA.
 * `--minimal` is a minimal router instead: one fixed script call per report
 * doing exactly HSET of a small state hash, ZADD, XADD to the two output
 * streams, PUBLISH and XACK, with the daemon's own assignment, notification
 * and event texts for that report; what any router that does this much per
 * report costs Redis.
 *
 * Untimed set-up: SCRIPT LOAD, the consumer group created at 0 as the
 * daemon creates it, every entry of the four input streams read with
 * XRANGE and its command planned, on as many threads as there are CPUs.
 *
 * Timed: the daemon's Redis traffic without its CPU. One connection reads
 * the streams through the group (XREADGROUP COUNT 1000 over the four
 * streams, no BLOCK), a second one sends the planned commands of the
 * entries read, pipelined with a bounded window, while the next read is
 * already on its way (the daemon reads ahead the same way, on its own
 * connection). A batch goes once all its entries were read. Done when
 * every command has its reply; each step must answer "ok".
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
#include "sha1.h"
#include "timeutil.h"

#define RANGE_COUNT 10000
#define CHUNK_BYTES (64u << 20)

/* As the daemon's store gathers steps (src/store.c). */
#define BATCH_STEPS 64

/*
 * One entry's precomputed command: the last entry of a batch carries the
 * batch's command (nsteps of them), the others none.
 */
struct plan {
	uint64_t ms, seq; /* its entry id */
	const char *cmd;  /* into an arena chunk; NULL: its batch's command comes later */
	uint32_t len;
	uint32_t nsteps;
};

/* The minimal router's script: KEYS state hash, gr:due, the two output streams, the source. */
static const char minimal_lua[] =
        "redis.call('HSET', KEYS[1], 'state', 'open', 'level', '1', 'assignees', ARGV[2],\n"
        "  'ack_deadline', ARGV[3], 'version', '1')\n"
        "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])\n"
        "redis.call('XADD', KEYS[3], 'MAXLEN', '~', '1000000', '*', 'assignment', ARGV[4])\n"
        "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '1000000', '*', 'notification', ARGV[5])\n"
        "redis.call('PUBLISH', ARGV[6], ARGV[7])\n"
        "redis.call('XACK', KEYS[5], ARGV[8], ARGV[9])\n"
        "return 'ok'\n";

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
	int64_t ok, not_ok, errors;
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

static void load_script(redisContext *c, const char *text, char sha[41])
{
	redisReply *r = bench_cmd(c, "SCRIPT LOAD %s", text);

	if (r->type != REDIS_REPLY_STRING || r->len != 40)
		bench_die("ceiling: SCRIPT LOAD: %s",
		          r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	memcpy(sha, r->str, 40);
	sha[40] = '\0';
	freeReplyObject(r);
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
	bool minimal;
	char minimal_sha[41];
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
 * The minimal router's call for a report: its id, and the daemon's own
 * texts for it (the first assignment, notification and event of its
 * creation), so that the bytes moved are the same.
 */
static int plan_minimal(struct planner *pl, struct fetched *fe, struct buf *cmd)
{
	const char *stream = stream_key_of(pl, fe->plan);
	struct incident_ctx ictx = {.entry_id = fe->id->str};
	struct incident inc;
	struct route_result rt;
	struct rejection rj;
	struct effects e;
	char deadline[24], key[INCIDENT_ID_MAX + 64], due[64], a1[64], a2[64], events[64];

	if (channel_parse(strrchr(stream, ':') + 1, &ictx.channel) < 0 ||
	    stream_id_ms(fe->id->str, &ictx.entry_ms) < 0 ||
	    incident_parse(fe->payload->str, fe->payload->len, &ictx, &inc, &rj) < 0)
		return -1;
	if (route_incident(pl->r, &inc, pl->now, &rt, &rj) < 0) {
		incident_free(&inc);
		return -1;
	}
	struct lc_source src = {.stream = stream, .entry = fe->id->str};
	char sha[41];
	sha1_hex(fe->payload->str, fe->payload->len, sha);
	effects_init(&e);
	struct lc_env env = {pl->r, pl->now, pl->now, &src, NULL};
	lifecycle_create(&env, &inc, &rt, sha, &e);
	snprintf(deadline, sizeof(deadline), "%lld", (long long)e.due_score);
	snprintf(key, sizeof(key), "%sinc:%s", pl->ctx->prefix, inc.id);
	snprintf(due, sizeof(due), "%sdue", pl->ctx->prefix);
	snprintf(a1, sizeof(a1), "%sout:assignments", pl->ctx->prefix);
	snprintf(a2, sizeof(a2), "%sout:notifications", pl->ctx->prefix);
	snprintf(events, sizeof(events), "%sevents", pl->ctx->prefix);
	const char *nothing = "";
	const char *argv[] = {"EVALSHA",
	                      pl->minimal_sha,
	                      "5",
	                      key,
	                      due,
	                      a1,
	                      a2,
	                      stream,
	                      inc.id,
	                      "[\"someone\"]",
	                      deadline,
	                      e.assignments.n > 0 ? lc_item(&e.assignments, 0) : nothing,
	                      e.notifications.n > 0 ? lc_item(&e.notifications, 0) : nothing,
	                      events,
	                      e.events.n > 0 ? lc_item(&e.events, e.events.n - 1) : nothing,
	                      pl->ctx->group,
	                      fe->id->str};
	apply_encode_argv(cmd, (int)GR_NELEM(argv), argv, NULL);
	effects_free(&e);
	incident_free(&inc);
	return 0;
}

/* The batch built so far, as its last entry's command. */
static void close_batch(struct planner *pl, struct apply_batch *b, struct plan *last,
                        struct buf *cmd)
{
	if (b->nsteps == 0)
		return;
	buf_reset(cmd);
	apply_batch_encode(b, pl->ctx, cmd);
	last->cmd = arena_copy(&pl->a, cmd->data, cmd->len);
	last->len = (uint32_t)cmd->len;
	last->nsteps = (uint32_t)b->nsteps;
	apply_batch_reset(b);
}

/*
 * The library's parser, router, lifecycle and encoder are pure and keep
 * no state of their own (STYLE.md: no I/O, no globals), so the entries
 * can be planned on several threads against the one read-only rules.
 * Batches hold consecutive entries of one stream: read in order through
 * the group, each is complete once its last entry was read.
 */
static void *plan_range(void *arg)
{
	struct planner *pl = arg;
	struct apply_batch b;
	struct plan *last = NULL;
	struct buf cmd;

	buf_init(&cmd);
	apply_batch_init(&b);
	for (size_t i = pl->from; i < pl->to && pl->failed == NULL; i++) {
		struct fetched *fe = &pl->v[i];
		const char *stream = stream_key_of(pl, fe->plan);
		if (last != NULL && stream_key_of(pl, last) != stream)
			close_batch(pl, &b, last, &cmd);
		if (fe->payload == NULL) {
			pl->failed = fe;
			break;
		}
		if (pl->minimal) {
			buf_reset(&cmd);
			if (plan_minimal(pl, fe, &cmd) < 0) {
				pl->failed = fe;
				break;
			}
			fe->plan->cmd = arena_copy(&pl->a, cmd.data, cmd.len);
			fe->plan->len = (uint32_t)cmd.len;
			fe->plan->nsteps = 1;
			continue;
		}
		if (apply_plan_report(&b, pl->ctx, pl->r, stream, fe->id->str, fe->payload->str,
		                      fe->payload->len, pl->now) < 0) {
			pl->failed = fe;
			break;
		}
		last = fe->plan;
		if (b.nsteps == BATCH_STEPS)
			close_batch(pl, &b, last, &cmd);
	}
	if (last != NULL)
		close_batch(pl, &b, last, &cmd);
	apply_batch_free(&b);
	buf_free(&cmd);
	return NULL;
}

/* Read every entry of the four streams and plan them on nthreads threads. */
static void plan_all(struct ceiling *ce, redisContext *c, const struct apply_ctx *ctx,
                     const struct rules *r, int nthreads, const char *minimal_sha)
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
		                         .now = now,
		                         .minimal = minimal_sha != NULL};
		if (minimal_sha != NULL)
			memcpy(pl[t].minimal_sha, minimal_sha, 41);
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

static void take_answer(struct ceiling *ce, const redisReply *r)
{
	if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
	    strcmp(r->str, "ok") == 0)
		ce->ok++;
	else if (ce->not_ok++ == 0)
		fprintf(stderr, "grbench ceiling: a step answered \"%s\"\n",
		        r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
		                        r->type == REDIS_REPLY_ERROR
		                ? r->str
		                : "(not a string)");
}

/* The answer to one call: "ok" (minimal), or one answer per step. */
static void take_apply_reply(struct ceiling *ce, redisReply *r)
{
	if (r->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < r->elements; i++)
			take_answer(ce, r->element[i]);
	} else if (r->type == REDIS_REPLY_ERROR) {
		if (ce->errors++ == 0)
			fprintf(stderr, "grbench ceiling: %s\n", r->str);
	} else {
		take_answer(ce, r);
	}
	freeReplyObject(r);
	ce->inflight--;
}

static void read_some(redisContext *c)
{
	if (redisBufferRead(c) != REDIS_OK)
		bench_die("redis read: %s", c->errstr);
}

int cmd_ceiling(const struct bench_opts *o, bool minimal)
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
	char minimal_sha[41];
	load_script(wc, apply_script_text(AS_APPLY), ctx.sha[AS_APPLY]);
	if (minimal)
		load_script(wc, minimal_lua, minimal_sha);
	create_groups(wc, o, ctx.group);
	plan_all(&ce, wc, &ctx, r, nthreads, minimal ? minimal_sha : NULL);
	tp = bench_now() - tp;
	if (ce.nentries == 0)
		bench_die("ceiling: the input streams are empty (run grbench load first)");
	ce.q = xreallocarray(NULL, ce.nentries, sizeof(*ce.q));
	fprintf(stderr,
	        "grbench ceiling%s: %zu entries planned in %.1f s on %d thread(s) (%.1f MB of "
	        "commands)\n",
	        minimal ? " --minimal" : "", ce.nentries, tp, nthreads, (double)ce.a.total / 1e6);

	/* timed */
	char *read_cmd = NULL;
	int read_len = redisFormatCommand(
	        &read_cmd, "XREADGROUP GROUP %s ceiling COUNT %d STREAMS %s %s %s %s > > > >",
	        ctx.group, o->read_count, ce.s[0].key, ce.s[1].key, ce.s[2].key, ce.s[3].key);
	bool reading = false, exhausted = false;
	int64_t done_cmds = 0, total_cmds = 0;
	for (int ch = 0; ch < CH__COUNT; ch++) {
		for (size_t i = 0; i < ce.s[ch].n; i++)
			total_cmds += ce.s[ch].v[i].cmd != NULL;
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
			if (p->cmd == NULL)
				continue; /* its batch goes with a later entry */
			redisAppendFormattedCommand(wc, p->cmd, p->len);
			ce.inflight++;
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
	printf("{\"mode\":\"%s\",\"entries\":%zu,\"applied\":%lld,\"ok\":%lld,\"not_ok\":%lld,"
	       "\"calls\":%lld,\"errors\":%lld,\"seconds\":%.3f,\"rate\":%.1f,"
	       "\"plan_seconds\":%.1f,\"command_bytes\":%zu,\"window\":%d,"
	       "\"cpu\":{\"machine\":%.2f,\"redis\":%.2f,\"client\":%.2f}}\n",
	       minimal ? "minimal" : "daemon", ce.nentries, (long long)applied, (long long)ce.ok,
	       (long long)ce.not_ok, (long long)total_cmds, (long long)ce.errors, secs,
	       (double)applied / secs, tp, ce.a.total, o->window, cpu1.machine - cpu0.machine,
	       cpu1.redis - cpu0.redis, cpu1.self - cpu0.self);

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
