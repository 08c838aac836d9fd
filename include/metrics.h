/*
 * metrics.h: the daemon's counters and gauges. Every family is one row
 * of METRIC_FAMILIES, which generates both the storage and the
 * Prometheus text, so a new metric is one line.
 */
#ifndef GR_METRICS_H
#define GR_METRICS_H

#include "incident.h"
#include "reason.h"

enum esc_reason { ESC_ACK_TIMEOUT, ESC_RESOLVE_TIMEOUT, ESC_MANUAL, ESC__COUNT };
enum cmd_result { CMD_APPLIED, CMD_REJECTED, CMD__RESULTS };
enum reload_result { RELOAD_SUCCESS, RELOAD_FAILURE, RELOAD__COUNT };

/* A histogram: counts per bucket (made cumulative when rendered), of its bounds. */
#define HIST_MAX_BUCKETS 16
struct histogram {
	const double *bounds; /* upper bounds in seconds, ascending */
	size_t nbounds;
	uint64_t buckets[HIST_MAX_BUCKETS];
	uint64_t count;
	double sum;
};

struct metrics {
	uint64_t received[CH__COUNT];
	uint64_t routed[CH__COUNT];
	uint64_t deadletters[REASON__COUNT];
	uint64_t escalations[ESC__COUNT];
	uint64_t commands[OP__COUNT + 1][CMD__RESULTS]; /* the last row: unparsable commands */
	uint64_t duplicates;
	uint64_t reports_existing[CH__COUNT]; /* a report again under an existing id, same bytes */
	uint64_t breaches;
	uint64_t due_set_aside; /* unreadable incidents taken out of gr:due */
	uint64_t redis_reconnects;
	uint64_t reloads[RELOAD__COUNT];
	double last_reload_success;    /* unix seconds */
	double calendar_covered_until; /* unix seconds; 0 without a calendar or covered_until */
	double redis_up;
	double open_incidents;
	double due_backlog;
	struct histogram latency;         /* stream entry to assignment written */
	struct histogram time_to_ack;     /* creation to an ack */
	struct histogram time_to_resolve; /* creation to resolved (结案) */
};

extern struct metrics metrics;

struct rules;

void metrics_observe(struct histogram *h, double seconds);
void metrics_observe_latency(double seconds);
/* What the metrics say of the rules in use, set when they are loaded or reloaded. */
void metrics_rules_loaded(const struct rules *r);
void metrics_escalation(const char *reason);
/* The Prometheus text exposition (version 0.0.4) into out. */
void metrics_render(struct buf *out);

#endif
