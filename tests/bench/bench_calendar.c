/*
 * bench_calendar.c: the working-time micro-benchmark. Deadlines are on
 * every step's path (each assignment adds an ack and a resolve duration),
 * so adding working time must be cheap: the target is 2 million additions
 * a second on one CPU.
 *
 * The calendar is the Xifeng sample's (Asia/Shanghai, 08:30-12:00 and
 * 14:00-17:30, the 2026 holidays file); the instants are spread over 2026
 * and 2027 (the listed year and one decided by weekdays alone), the
 * durations are a mix as policies write them: a working hour or four,
 * one to three working days, and up to 13wd (12345 complaints).
 *
 * Usage: bench_calendar [--seconds S] [--runs N] [HOLIDAYS_FILE]
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "rules.h"

#define NCASES   (1u << 20)
#define MAX_RUNS 25
#define HOUR     3600000LL
#define TARGET   2000000.0

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *holidays = "../../conf/holidays/cn-2026.yaml";
	double secs = 2, rates[MAX_RUNS];
	int runs = 3;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (argv[i][0] != '-')
			holidays = argv[i];
		else {
			fprintf(stderr, "usage: bench_calendar [--seconds S] [--runs N] "
			                "[HOLIDAYS_FILE]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || !(secs > 0)) {
		fprintf(stderr, "bench_calendar: --runs 1..%d, --seconds > 0\n", MAX_RUNS);
		return 2;
	}
	char *yaml = xasprintf("version: 1\n"
	                       "levels: [{key: member, name: M, unit: grid, role: member}]\n"
	                       "categories: [{key: c, name: C}]\n"
	                       "people: {p: {name: P}}\n"
	                       "units: [{id: g, kind: grid, name: G, roles: {member: "
	                       "{default: [p]}}}]\n"
	                       "policies: [{name: d, match: {}, ack_within: 1wh, "
	                       "resolve_within: 13wd}]\n"
	                       "calendar:\n"
	                       "  timezone: Asia/Shanghai\n"
	                       "  hours: [\"08:30-12:00\", \"14:00-17:30\"]\n"
	                       "  holidays_file: %s\n",
	                       holidays);
	struct diags d;
	diags_init(&d, "bench.yaml");
	struct rules *r = rules_load_buf("bench.yaml", yaml, strlen(yaml), &d);
	free(yaml);
	if (r == NULL) {
		diags_print(&d, stderr);
		return 1;
	}
	diags_free(&d);
	const struct calendar *cal = r->calendar;

	int64_t *t = xcalloc(NCASES, sizeof(*t)), *dur = xcalloc(NCASES, sizeof(*dur));
	const int64_t from = 1767196800000LL; /* 2026-01-01T00:00:00+08:00 */
	const int64_t wd = calendar_day_ms(cal);
	for (size_t i = 0; i < NCASES; i++) {
		t[i] = from + (int64_t)(next_rand() % (2 * 365 * 86400000ULL));
		switch (next_rand() % 5) {
		case 0:
			dur[i] = HOUR;
			break;
		case 1:
			dur[i] = 4 * HOUR;
			break;
		case 2:
			dur[i] = (1 + (int64_t)(next_rand() % 3)) * wd;
			break;
		case 3:
			dur[i] = 5 * wd;
			break;
		default:
			dur[i] = 13 * wd;
			break;
		}
	}

	uint64_t check = 0;
	printf("working-time additions, Asia/Shanghai with the 2026 holidays; %d run(s) of "
	       "%.0f s\n",
	       runs, secs);
	for (int k = 0; k < runs; k++) {
		uint64_t n = 0;
		double start = now(), el;
		do {
			for (size_t i = 0; i < 4096; i++, n++) {
				size_t c = n & (NCASES - 1);
				check += (uint64_t)calendar_add(cal, t[c], dur[c]);
			}
			el = now() - start;
		} while (el < secs);
		rates[k] = (double)n / el;
		printf("run %d: %.0f additions/s (%.0f ns each)\n", k + 1, rates[k],
		       1e9 / rates[k]);
	}
	qsort(rates, (size_t)runs, sizeof(rates[0]), cmp_double);
	double median = rates[runs / 2];
	printf("median %.0f additions/s, best %.0f: target %.0f %s (checksum %llu)\n", median,
	       rates[runs - 1], TARGET, median >= TARGET ? "MET" : "NOT MET",
	       (unsigned long long)(check % 1000000007ULL));
	free(t);
	free(dur);
	rules_free(r);
	return 0;
}
