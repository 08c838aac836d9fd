/*
 * grbench.h: the end-to-end benchmark tool (tests/bench/README.md §5).
 * One binary, three subcommands: `load` writes generated incidents to the
 * input streams (flat out or at a fixed rate), `latency` reads
 * gr:out:assignments and computes end-to-end latency percentiles, and
 * `ceiling` applies the daemon's own commands (apply.h) to Redis without
 * the daemon. What the subcommands share is declared here.
 */
#ifndef GR_GRBENCH_H
#define GR_GRBENCH_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "incident.h"
#include "rules.h"
#include "util.h"

#define BENCH_WINDOW 1024 /* default commands in flight on one connection */

/* Options every subcommand takes. */
struct bench_opts {
	const char *host;
	int port;
	const char *prefix; /* "gr:" */
	const char *rules;  /* the rules file; NULL if the subcommand needs none */
	uint64_t seed;
	int64_t first; /* number of the first generated incident */
	int64_t count;
	double rate;    /* incidents/s; 0: flat out */
	double seconds; /* length of a paced run */
	int window;     /* commands in flight */
	int read_count; /* ceiling: XREADGROUP COUNT */
};

void bench_die(const char *fmt, ...) GR_PRINTF(1, 2) __attribute__((noreturn));
/* CLOCK_MONOTONIC, seconds. */
double bench_now(void);

/* Parse a whole string as a number in [min, max], or die naming opt. */
int64_t bench_int(const char *opt, const char *s, int64_t min, int64_t max);
double bench_double(const char *opt, const char *s, double min, double max);

/* Connect (blocking socket), or die. */
redisContext *bench_connect(const struct bench_opts *o);
/* Load the rules, or die printing the diagnostics. Caller frees with rules_free. */
struct rules *bench_rules(const char *path);

/*
 * Pipelining on one blocking connection. The socket is only read when
 * poll says it is readable, so reading never blocks longer than asked.
 */
void bench_flush(redisContext *c);
/* The next reply if one can be had within timeout_ms (-1: wait), else NULL. */
redisReply *bench_reply(redisContext *c, int timeout_ms);
/* A command and its reply, synchronously; dies on a connection error. */
redisReply *bench_cmd(redisContext *c, const char *fmt, ...);

/*
 * CPU seconds, for telling how busy the machine was while a measurement
 * ran: all CPUs' non-idle time (/proc/stat, steal included), the Redis
 * server's (its pid from INFO), and this process's.
 */
struct bench_cpu {
	double machine, redis, self;
};
int bench_redis_pid(redisContext *c);
void bench_cpu_sample(struct bench_cpu *s, int redis_pid);

/* The stream entry id "ms-seq" as two numbers; 0 or -1. */
int bench_parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq);

/* The incident generator: the i-th incident is a function of (seed, i) alone. */
struct gen {
	const struct rules *r;
	int *leaves; /* units without children: where incidents happen */
	size_t nleaves;
	int cat_weight[64]; /* per rules category, cumulative */
	size_t ncats;
	uint64_t seed;
	int64_t now_s; /* scheduled tasks' due_at are relative to this */
};

void gen_init(struct gen *g, const struct rules *r, uint64_t seed);
void gen_free(struct gen *g);
/* Append the JSON of incident i to out; returns its channel. */
enum channel gen_incident(const struct gen *g, int64_t i, struct buf *out);

int cmd_load(const struct bench_opts *o);
int cmd_latency(const struct bench_opts *o, int argc, char **argv);
int cmd_ceiling(const struct bench_opts *o, bool minimal);

#endif
