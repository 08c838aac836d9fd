/*
 * bench_route.c: the routing micro-benchmark (tests/bench/README.md §4).
 * Loads a rules file and a file of incident JSON lines, then measures on
 * one pinned CPU (1) incident_parse + route_incident + incident_free per
 * line and (2) route_incident alone over incidents parsed beforehand,
 * each for a few seconds and several runs. Not part of `make check`.
 *
 *     bench_route [--seconds S] [--runs N] [--cpu C] [--only parse|route] RULES INCIDENTS
 *
 * --only runs one of the two measurements, for a profiler's sake.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "incident.h"
#include "route.h"
#include "rules.h"

#define ENTRY_MS       1700000000000LL
#define MAX_BYTES      65536
#define MAX_RUNS       25
#define CLOCK_EVERY    1024 /* incidents between two reads of the clock */
#define ENTRY_ID_BUFSZ 48

struct line {
	const char *buf; /* into the file's contents; not NUL-terminated */
	size_t len;
	enum channel channel;
	char entry_id[ENTRY_ID_BUFSZ];
};

struct run {
	uint64_t n;  /* incidents handled */
	uint64_t ok; /* of which routed */
	double secs; /* wall time, CLOCK_MONOTONIC */
	double rate; /* n / secs */
};

static void die(const char *fmt, ...) GR_PRINTF(1, 2) __attribute__((noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_route: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_mb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return ru.ru_maxrss / 1024; /* KB on Linux */
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	int64_t v;

	if (parse_int64(s, min, max, &v) < 0)
		die("%s: expected an integer from %ld to %ld, got \"%s\"", opt, min, max, s);
	return (long)v;
}

/* Pin to cpu, or when cpu < 0 to the last CPU we may run on; returns the CPU. */
static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			die("sched_getaffinity: %s", strerror(errno));
		for (int c = CPU_SETSIZE - 1; c >= 0 && cpu < 0; c--) {
			if (CPU_ISSET(c, &set))
				cpu = c;
		}
		if (cpu < 0)
			die("no CPU in the affinity mask");
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity to CPU %d: %s", cpu, strerror(errno));
	return cpu;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char chunk[1 << 16];
	size_t n;

	if (fp == NULL)
		die("%s: %s", path, strerror(errno));
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(fp))
		die("%s: read error", path);
	fclose(fp);
	*len = b.len;
	return b.data != NULL ? buf_detach(&b) : xstrdup("");
}

/* Split into lines and take each one's channel (setup: not timed). */
static struct line *split_lines(const char *path, const char *data, size_t len, size_t *nout)
{
	struct line *v = NULL;
	size_t n = 0, cap = 0, lineno = 0;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - data) : len;
		json_error_t err;
		json_t *doc, *ch;

		lineno++;
		if (end == i) {
			i = end + 1;
			continue;
		}
		doc = json_loadb(data + i, end - i, 0, &err);
		ch = doc != NULL ? json_object_get(doc, "channel") : NULL;
		if (n == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		if (ch == NULL || !json_is_string(ch) ||
		    channel_parse(json_string_value(ch), &v[n].channel) < 0)
			die("%s:%zu: no valid \"channel\" field", path, lineno);
		json_decref(doc);
		v[n].buf = data + i;
		v[n].len = end - i;
		snprintf(v[n].entry_id, sizeof(v[n].entry_id), "%lld-%zu", ENTRY_MS, n);
		n++;
		i = end + 1;
	}
	*nout = n;
	return v;
}

static struct incident_ctx ctx_of(const struct line *l)
{
	struct incident_ctx ctx = {l->channel, l->entry_id, ENTRY_MS, MAX_BYTES};
	return ctx;
}

/* What the compiler cannot know we ignore. */
static uint64_t mix(const struct route_result *res)
{
	return (uint64_t)res->policy * 7 + (uint64_t)res->level * 3 + (uint64_t)res->unit +
	       res->chain.nco + res->fallback;
}

/* (1): parse, route and free every line, over and over, for secs seconds. */
static struct run bench_parse_route(const struct rules *r, const struct line *lines, size_t n,
                                    double secs, uint64_t *sum)
{
	struct run run = {0, 0, 0, 0};
	struct route_result res;
	struct rejection rj;
	double t0 = now(), t = t0;

	for (size_t i = 0;; i = i + 1 == n ? 0 : i + 1) {
		struct incident_ctx ctx = ctx_of(&lines[i]);
		struct incident inc;

		if (incident_parse(lines[i].buf, lines[i].len, &ctx, &inc, &rj) == 0) {
			if (route_incident(r, &inc, &res, &rj) == 0) {
				run.ok++;
				*sum += mix(&res);
			} else {
				*sum += (uint64_t)rj.reason;
			}
			incident_free(&inc);
		} else {
			*sum += (uint64_t)rj.reason;
		}
		if (++run.n % CLOCK_EVERY == 0 && (t = now()) - t0 >= secs)
			break;
	}
	run.secs = t - t0;
	run.rate = (double)run.n / run.secs;
	return run;
}

/* (2): route the incidents parsed beforehand, over and over, for secs seconds. */
static struct run bench_route_only(const struct rules *r, const struct incident *incs, size_t n,
                                   double secs, uint64_t *sum)
{
	struct run run = {0, 0, 0, 0};
	struct route_result res;
	struct rejection rj;
	double t0 = now(), t = t0;

	for (size_t i = 0;; i = i + 1 == n ? 0 : i + 1) {
		if (route_incident(r, &incs[i], &res, &rj) == 0) {
			run.ok++;
			*sum += mix(&res);
		} else {
			*sum += (uint64_t)rj.reason;
		}
		if (++run.n % CLOCK_EVERY == 0 && (t = now()) - t0 >= secs)
			break;
	}
	run.secs = t - t0;
	run.rate = (double)run.n / run.secs;
	return run;
}

static int cmp_rate(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->rate < y->rate ? -1 : x->rate > y->rate;
}

static void report(const char *what, struct run *runs, int nruns, double target)
{
	printf("%-12s", what);
	for (int i = 0; i < nruns; i++)
		printf(" %10.0f", runs[i].rate);
	qsort(runs, (size_t)nruns, sizeof(*runs), cmp_rate);
	double best = runs[nruns - 1].rate;
	double median = nruns % 2 == 1 ? runs[nruns / 2].rate
	                               : (runs[nruns / 2 - 1].rate + runs[nruns / 2].rate) / 2;
	printf("  | best %10.0f  median %10.0f  target %8.0f  %-7s (%.1f%% routed)\n", best, median,
	       target, best >= target ? "MET" : "NOT MET",
	       100.0 * (double)runs[0].ok / (double)runs[0].n);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_route [--seconds S] [--runs N] [--cpu C] [--only parse|route] "
	        "RULES INCIDENTS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long seconds = 2, nruns = 3, cpu = -1;
	bool do_parse = true, do_route = true;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = parse_long(argv[i], argv[i + 1], 1, 3600);
		else if (strcmp(argv[i], "--runs") == 0)
			nruns = parse_long(argv[i], argv[i + 1], 1, MAX_RUNS);
		else if (strcmp(argv[i], "--cpu") == 0)
			cpu = parse_long(argv[i], argv[i + 1], 0, CPU_SETSIZE - 1);
		else if (strcmp(argv[i], "--only") == 0 && strcmp(argv[i + 1], "parse") == 0)
			do_route = false;
		else if (strcmp(argv[i], "--only") == 0 && strcmp(argv[i + 1], "route") == 0)
			do_parse = false;
		else
			usage();
	}
	if (argc - i != 2)
		usage();
	const char *rules_path = argv[i], *inc_path = argv[i + 1];

	setvbuf(stdout, NULL, _IOLBF, 0);
	cpu = pin((int)cpu);
	printf("pinned to CPU %ld; %ld run(s) of %ld s per measurement\n", cpu, nruns, seconds);

	/* The rules. */
	struct diags d;
	char summary[256];
	diags_init(&d, rules_path);
	double t0 = now();
	struct rules *r = rules_load(rules_path, &d);
	double tload = now() - t0;
	if (r == NULL) {
		diags_print(&d, stderr);
		die("%s: %zu error(s)", rules_path, d.nerrors);
	}
	rules_summary(r, summary, sizeof(summary));
	printf("rules_load   %.2f s, peak RSS %ld MB: %s (%zu warnings)\n", tload, peak_rss_mb(),
	       summary, d.nwarnings);
	diags_free(&d);

	/* The incidents: lines, then each parsed and routed once for the tally. */
	size_t len, n;
	char *data = read_file(inc_path, &len);
	struct line *lines = split_lines(inc_path, data, len, &n);
	if (n == 0)
		die("%s: no incidents", inc_path);
	struct incident *incs = xcalloc(n, sizeof(*incs));
	size_t nincs = 0, nrouted = 0, nfallback = 0, by_reason[REASON__COUNT] = {0};
	uint64_t sum = 0;
	for (size_t k = 0; k < n; k++) {
		struct incident_ctx ctx = ctx_of(&lines[k]);
		struct route_result res;
		struct rejection rj;

		if (incident_parse(lines[k].buf, lines[k].len, &ctx, &incs[nincs], &rj) < 0) {
			by_reason[rj.reason]++;
			continue;
		}
		if (route_incident(r, &incs[nincs], &res, &rj) < 0) {
			by_reason[rj.reason]++;
		} else {
			nrouted++;
			nfallback += res.fallback;
		}
		nincs++;
	}
	printf("incidents    %zu lines (%.1f MB): %zu routed (%zu by unit fallback), %zu "
	       "dead-lettered",
	       n, (double)len / 1e6, nrouted, nfallback, n - nrouted);
	for (int k = 0; k < REASON__COUNT; k++) {
		if (by_reason[k] > 0)
			printf(", %s %zu", reason_code((enum reason)k), by_reason[k]);
	}
	printf("; peak RSS %ld MB\n", peak_rss_mb());
	if (nrouted * 10 < n * 9)
		die("fewer than 90%% of the incidents route: wrong rules for these incidents?");

	struct run pr[MAX_RUNS], ro[MAX_RUNS];
	printf("\n%-12s", "incidents/s");
	for (int k = 0; k < nruns; k++)
		printf("      run %d", k + 1);
	printf("\n");
	if (do_parse) {
		for (int k = 0; k < nruns; k++)
			pr[k] = bench_parse_route(r, lines, n, (double)seconds, &sum);
		report("parse+route", pr, (int)nruns, 200000);
	}
	if (do_route) {
		for (int k = 0; k < nruns; k++)
			ro[k] = bench_route_only(r, incs, nincs, (double)seconds, &sum);
		report("route", ro, (int)nruns, 1000000);
	}

	printf("\nchecksum %llu\n", (unsigned long long)sum);

	for (size_t k = 0; k < nincs; k++)
		incident_free(&incs[k]);
	free(incs);
	free(lines);
	free(data);
	rules_free(r);
	return 0;
}
