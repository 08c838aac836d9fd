/*
 * grbench_latency.c: `grbench latency`, the reader of gr:out:assignments.
 * Reads the stream after a given entry id (live, with XREAD BLOCK, or
 * after the fact: the same call returns the history), and for every
 * `assigned` assignment whose incident has the default id
 * "<channel>-<entry id>" takes
 *
 *     latency = time of the assignment's own stream entry id
 *             - time of the input entry id (in the incident id)
 *
 * Both times are Redis's clock (milliseconds): the input entry's when
 * XADD stored the report, the assignment's when the daemon's apply
 * script wrote it, which is the moment a consumer can see it. The
 * assignment JSON's `at` is the daemon's clock when it computed the step,
 * before the round trip that applies it, so it would leave out the apply.
 * Resolution: 1 ms.
 *
 * Prints one JSON line: count, p50/p90/p99/p99.9/max, the longest gap
 * between two consecutive assignments, and the same per --span (the
 * latencies of the input entries whose time falls in [FROM_MS, TO_MS], the
 * longest gap of those that overlap it).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grbench.h"

#define MAX_SPANS  8
#define READ_COUNT 10000

struct sample {
	int64_t in_ms, out_ms;
};

struct span {
	const char *name;
	int64_t from, to;
};

struct reader {
	struct sample *v;
	size_t n, cap;
	int64_t other; /* entries that are not a default-id `assigned` */
	char last_id[48];
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least q of the samples at or below it. */
static int64_t quantile(const int64_t *sorted, size_t n, double q)
{
	size_t k = (size_t)((double)n * q + 0.999999);

	if (k == 0)
		k = 1;
	return sorted[k > n ? n - 1 : k - 1];
}

/* The input entry's time from an incident id "<channel>-<ms>-<seq>", or -1. */
static int64_t entry_ms_of(const char *id)
{
	const char *dash = strchr(id, '-');
	enum channel ch;
	uint64_t ms, seq;
	char name[16];

	if (dash == NULL || (size_t)(dash - id) >= sizeof(name))
		return -1;
	memcpy(name, id, (size_t)(dash - id));
	name[dash - id] = '\0';
	if (channel_parse(name, &ch) < 0 ||
	    bench_parse_id(dash + 1, strlen(dash + 1), &ms, &seq) < 0)
		return -1;
	return (int64_t)ms;
}

static void take_entry(struct reader *rd, const redisReply *e)
{
	uint64_t out_ms, seq;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		bench_die("latency: unexpected XREAD entry");
	snprintf(rd->last_id, sizeof(rd->last_id), "%s", e->element[0]->str);
	if (bench_parse_id(e->element[0]->str, e->element[0]->len, &out_ms, &seq) < 0)
		bench_die("latency: bad entry id %s", e->element[0]->str);
	const redisReply *f = e->element[1];
	for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
		if (strcmp(f->element[i]->str, "assignment") != 0)
			continue;
		json_t *a = json_loadb(f->element[i + 1]->str, f->element[i + 1]->len, 0, NULL);
		const char *ev = json_string_value(json_object_get(a, "event"));
		const char *id = json_string_value(json_object_get(a, "incident"));
		int64_t in_ms = ev != NULL && id != NULL && strcmp(ev, "assigned") == 0
		                        ? entry_ms_of(id)
		                        : -1;
		json_decref(a);
		if (in_ms < 0)
			break;
		if (rd->n == rd->cap) {
			rd->cap = rd->cap ? 2 * rd->cap : 65536;
			rd->v = xreallocarray(rd->v, rd->cap, sizeof(*rd->v));
		}
		rd->v[rd->n++] = (struct sample){in_ms, (int64_t)out_ms};
		return;
	}
	rd->other++;
}

/*
 * Stats as a JSON object: the latencies of the samples whose input time is
 * in [from, to], and the longest interval without any assignment written
 * that overlaps [from, to] (consecutive assignments a, b with b written
 * after from and a before to).
 */
static void print_stats(const struct reader *rd, int64_t from, int64_t to)
{
	int64_t *lat = xreallocarray(NULL, rd->n + 1, sizeof(*lat));
	int64_t max_gap = 0, first_in = -1, last_in = -1;
	double sum = 0;
	size_t n = 0;

	for (size_t i = 0; i < rd->n; i++) {
		const struct sample *s = &rd->v[i];
		/* samples come in assignment order: out_ms never goes down */
		if (i > 0 && s->out_ms >= from && rd->v[i - 1].out_ms <= to &&
		    s->out_ms - rd->v[i - 1].out_ms > max_gap)
			max_gap = s->out_ms - rd->v[i - 1].out_ms;
		if (s->in_ms < from || s->in_ms > to)
			continue;
		if (first_in < 0 || s->in_ms < first_in)
			first_in = s->in_ms;
		if (s->in_ms > last_in)
			last_in = s->in_ms;
		lat[n++] = s->out_ms - s->in_ms;
		sum += (double)(s->out_ms - s->in_ms);
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	printf("{\"n\":%zu", n);
	if (n > 0)
		printf(",\"p50\":%" PRId64 ",\"p90\":%" PRId64 ",\"p99\":%" PRId64
		       ",\"p999\":%" PRId64 ",\"max\":%" PRId64
		       ",\"mean\":%.3f,\"max_gap\":%" PRId64 ",\"first_in_ms\":%" PRId64
		       ",\"last_in_ms\":%" PRId64,
		       quantile(lat, n, 0.5), quantile(lat, n, 0.9), quantile(lat, n, 0.99),
		       quantile(lat, n, 0.999), lat[n - 1], sum / (double)n, max_gap, first_in,
		       last_in);
	printf("}");
	free(lat);
}

static void parse_span(const char *s, struct span *sp)
{
	char *copy = xstrdup(s), *a = strchr(copy, ':'), *b = a ? strchr(a + 1, ':') : NULL;

	if (a == NULL || b == NULL)
		bench_die("--span: expected NAME:FROM_MS:TO_MS, got \"%s\"", s);
	*a = *b = '\0';
	sp->name = copy; /* kept until exit */
	sp->from = bench_int("--span", a + 1, 0, INT64_MAX);
	sp->to = bench_int("--span", b + 1, 0, INT64_MAX);
}

int cmd_latency(const struct bench_opts *o, int argc, char **argv)
{
	struct span spans[MAX_SPANS];
	struct reader rd = {0};
	const char *dump = NULL;
	double timeout = 60;
	int nspans = 0;

	snprintf(rd.last_id, sizeof(rd.last_id), "0-0");
	for (int i = 0; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--after") == 0)
			snprintf(rd.last_id, sizeof(rd.last_id), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = bench_double(argv[i], argv[i + 1], 0, 86400);
		else if (strcmp(argv[i], "--dump") == 0)
			dump = argv[i + 1];
		else if (strcmp(argv[i], "--span") == 0 && nspans < MAX_SPANS)
			parse_span(argv[i + 1], &spans[nspans++]);
		else
			bench_die("latency: unknown option %s", argv[i]);
	}

	redisContext *c = bench_connect(o);
	char *key = xasprintf("%sout:assignments", o->prefix);
	double t0 = bench_now();
	bool complete = false;
	for (;;) {
		if (o->count > 0 && (int64_t)rd.n >= o->count) {
			complete = true;
			break;
		}
		if (bench_now() - t0 > timeout)
			break;
		redisReply *r = bench_cmd(c, "XREAD COUNT %d BLOCK 200 STREAMS %s %s", READ_COUNT,
		                          key, rd.last_id);
		if (r->type == REDIS_REPLY_ERROR)
			bench_die("latency: XREAD: %s", r->str);
		size_t got = 0;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
			const redisReply *entries = r->element[0]->element[1];
			for (size_t i = 0; i < entries->elements; i++)
				take_entry(&rd, entries->element[i]);
			got = entries->elements;
		}
		freeReplyObject(r);
		/* without a count: everything there is, until a read finds nothing new */
		if (o->count == 0 && got == 0) {
			complete = true;
			break;
		}
	}

	if (dump != NULL) {
		FILE *f = fopen(dump, "w");
		if (f == NULL)
			bench_die("%s: %s", dump, strerror(errno));
		for (size_t i = 0; i < rd.n; i++)
			fprintf(f, "%" PRId64 " %" PRId64 "\n", rd.v[i].in_ms, rd.v[i].out_ms);
		if (fclose(f) != 0)
			bench_die("%s: write failed", dump);
	}
	printf("{\"complete\":%s,\"other\":%" PRId64 ",\"last_id\":\"%s\",\"all\":",
	       complete ? "true" : "false", rd.other, rd.last_id);
	print_stats(&rd, 0, INT64_MAX);
	for (int i = 0; i < nspans; i++) {
		printf(",\"%s\":", spans[i].name);
		print_stats(&rd, spans[i].from, spans[i].to);
	}
	printf("}\n");
	free(rd.v);
	free(key);
	redisFree(c);
	return complete ? 0 : 1;
}
