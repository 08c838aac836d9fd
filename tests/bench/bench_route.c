/*
 * bench_route.c: the routing micro-benchmark (tests/bench/README.md §4).
 * Loads a rules file and a file of incident JSON lines, then measures on
 * one pinned CPU, each for a few seconds and several runs:
 *
 *   parse+route  incident_parse, route_incident, incident_free per line:
 *                what the daemon does per stream entry, minus Redis;
 *   route        route_incident alone over the incidents parsed beforehand;
 *   parse        incident_parse and incident_free alone (a reference, so
 *                that parse+route can be split into its two parts).
 *
 * Not part of `make check`. Usage: see usage() below.
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

#define ENTRY_MS       1700000000000LL /* every line's stream entry time */
#define MAX_BYTES      65536           /* limits.max_incident_bytes */
#define MAX_RUNS       25
#define CLOCK_EVERY    1024 /* incidents between two reads of the clock */
#define ENTRY_ID_BUFSZ 48

struct line {
	const char *buf; /* into the file's contents; not NUL-terminated */
	size_t len;
	enum channel channel;          /* its "channel" field, as the stream would say */
	char entry_id[ENTRY_ID_BUFSZ]; /* "1700000000000-<n>" */
};

/* What every measurement works on; nothing in it changes once set up. */
struct bench {
	const struct rules *r;
	const struct line *lines;
	size_t nlines;
	const struct incident *incs; /* the lines that parse, parsed once */
	size_t nincs;
	double secs; /* per run */
};

struct run {
	uint64_t n;  /* incidents handled */
	uint64_t ok; /* of which routed (parsed, for "parse") */
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

/* Split into lines and take each one's channel (set-up: not timed). */
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

/* Folded into the printed checksum, so that the compiler cannot drop the work. */
static uint64_t mix(const struct route_result *res)
{
	return (uint64_t)res->policy * 7 + (uint64_t)res->level * 3 + (uint64_t)res->unit +
	       res->chain.nco + res->fallback;
}

static struct run finish(struct run run, double t0, double t)
{
	run.secs = t - t0;
	run.rate = (double)run.n / run.secs;
	return run;
}

static struct run bench_parse_route(const struct bench *b, uint64_t *sum)
{
	struct run run = {0, 0, 0, 0};
	struct route_result res;
	struct rejection rj;
	double t0 = now(), t = t0;

	for (size_t i = 0;; i = i + 1 == b->nlines ? 0 : i + 1) {
		const struct line *l = &b->lines[i];
		struct incident_ctx ctx = ctx_of(l);
		struct incident inc;

		if (incident_parse(l->buf, l->len, &ctx, &inc, &rj) == 0) {
			if (route_incident(b->r, &inc, ENTRY_MS, &res, &rj) == 0) {
				run.ok++;
				*sum += mix(&res);
			} else {
				*sum += (uint64_t)rj.reason;
			}
			incident_free(&inc);
		} else {
			*sum += (uint64_t)rj.reason;
		}
		if (++run.n % CLOCK_EVERY == 0 && (t = now()) - t0 >= b->secs)
			break;
	}
	return finish(run, t0, t);
}

static struct run bench_route_only(const struct bench *b, uint64_t *sum)
{
	struct run run = {0, 0, 0, 0};
	struct route_result res;
	struct rejection rj;
	double t0 = now(), t = t0;

	for (size_t i = 0;; i = i + 1 == b->nincs ? 0 : i + 1) {
		if (route_incident(b->r, &b->incs[i], ENTRY_MS, &res, &rj) == 0) {
			run.ok++;
			*sum += mix(&res);
		} else {
			*sum += (uint64_t)rj.reason;
		}
		if (++run.n % CLOCK_EVERY == 0 && (t = now()) - t0 >= b->secs)
			break;
	}
	return finish(run, t0, t);
}

static struct run bench_parse_only(const struct bench *b, uint64_t *sum)
{
	struct run run = {0, 0, 0, 0};
	struct rejection rj;
	double t0 = now(), t = t0;

	for (size_t i = 0;; i = i + 1 == b->nlines ? 0 : i + 1) {
		const struct line *l = &b->lines[i];
		struct incident_ctx ctx = ctx_of(l);
		struct incident inc;

		if (incident_parse(l->buf, l->len, &ctx, &inc, &rj) == 0) {
			run.ok++;
			*sum += inc.unit_len + (uint64_t)inc.severity;
			incident_free(&inc);
		} else {
			*sum += (uint64_t)rj.reason;
		}
		if (++run.n % CLOCK_EVERY == 0 && (t = now()) - t0 >= b->secs)
			break;
	}
	return finish(run, t0, t);
}

/* The measurements, in the order they run; target 0: for reference only. */
static const struct measure {
	const char *name;
	struct run (*fn)(const struct bench *, uint64_t *);
	double target; /* incidents/s, from the acceptance */
	const char *ok_word;
} measures[] = {
        {"parse+route", bench_parse_route, 200000, "routed"},
        {"route", bench_route_only, 1000000, "routed"},
        {"parse", bench_parse_only, 0, "parsed"},
};

static int cmp_rate(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->rate < y->rate ? -1 : x->rate > y->rate;
}

static void report(const struct measure *m, struct run *runs, int nruns)
{
	printf("%-12s", m->name);
	for (int i = 0; i < nruns; i++)
		printf(" %10.0f", runs[i].rate);
	qsort(runs, (size_t)nruns, sizeof(*runs), cmp_rate);
	double best = runs[nruns - 1].rate;
	double median = nruns % 2 == 1 ? runs[nruns / 2].rate
	                               : (runs[nruns / 2 - 1].rate + runs[nruns / 2].rate) / 2;
	printf("  | %10.0f %10.0f %8.2f", best, median, 1e6 / best);
	if (m->target > 0)
		printf(" %9.0f %-7s", m->target, best >= m->target ? "MET" : "NOT MET");
	else
		printf(" %9s %-7s", "-", "");
	printf(" %.1f%% %s\n", 100.0 * (double)runs[0].ok / (double)runs[0].n, m->ok_word);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_route [--seconds S] [--runs N] [--cpu C] [--only NAME] [--set N] "
	        "RULES INCIDENTS\n"
	        "  --seconds S  length of each run (default 2)\n"
	        "  --runs N     runs of each measurement (default 3)\n"
	        "  --cpu C      the CPU to pin to (default: the last one allowed)\n"
	        "  --only NAME  one measurement: parse+route, route or parse\n"
	        "  --set N      route alone over the first N parsed incidents only (default "
	        "all)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long seconds = 2, nruns = 3, cpu = -1, set = 0;
	const char *only = NULL;
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
		else if (strcmp(argv[i], "--set") == 0)
			set = parse_long(argv[i], argv[i + 1], 1, INT32_MAX);
		else if (strcmp(argv[i], "--only") == 0)
			only = argv[i + 1];
		else
			usage();
	}
	if (argc - i != 2)
		usage();
	const char *rules_path = argv[i], *inc_path = argv[i + 1];
	bool known = only == NULL;
	for (size_t k = 0; k < GR_NELEM(measures) && !known; k++)
		known = strcmp(only, measures[k].name) == 0;
	if (!known)
		usage();

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
	printf("rules_load   %.2f s, peak RSS %ld MB: %s, %zu warning(s)\n", tload, peak_rss_mb(),
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
	for (size_t k = 0; k < n; k++) {
		struct incident_ctx ctx = ctx_of(&lines[k]);
		struct route_result res;
		struct rejection rj;

		if (incident_parse(lines[k].buf, lines[k].len, &ctx, &incs[nincs], &rj) < 0) {
			by_reason[rj.reason]++;
			continue;
		}
		if (route_incident(r, &incs[nincs], ENTRY_MS, &res, &rj) < 0) {
			by_reason[rj.reason]++;
		} else {
			nrouted++;
			nfallback += res.fallback;
		}
		nincs++;
	}
	printf("incidents    %zu lines (%.1f MB): %zu routed (%zu through a parent unit), %zu "
	       "dead-lettered",
	       n, (double)len / 1e6, nrouted, nfallback, n - nrouted);
	for (int k = 0; k < REASON__COUNT; k++) {
		if (by_reason[k] > 0)
			printf(", %s %zu", reason_code((enum reason)k), by_reason[k]);
	}
	printf("; peak RSS %ld MB\n", peak_rss_mb());
	/* the generated incidents all route: anything else is a wrong pairing or a bug */
	if (nrouted * 10 < n * 9)
		die("fewer than 90%% of the incidents route: rules and incidents do not match?");

	struct bench b = {r, lines, n, incs, nincs, (double)seconds};
	if (set > 0 && (size_t)set < nincs) {
		b.nincs = (size_t)set;
		printf("route alone over the first %ld incidents only\n", set);
	}
	struct run runs[MAX_RUNS];
	uint64_t sum = 0;
	printf("\n%-12s", "incidents/s");
	for (int k = 0; k < nruns; k++)
		printf("      run %d", k + 1);
	printf("  | %10s %10s %8s %9s\n", "best", "median", "us/inc", "target");
	for (size_t m = 0; m < GR_NELEM(measures); m++) {
		if (only != NULL && strcmp(only, measures[m].name) != 0)
			continue;
		for (int k = 0; k < nruns; k++)
			runs[k] = measures[m].fn(&b, &sum);
		report(&measures[m], runs, (int)nruns);
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
