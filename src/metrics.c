/*
 * metrics.c: the table of metric families and its Prometheus rendering.
 * The daemon is single-threaded, so the counters are plain integers.
 */
#include <string.h>

#include "metrics.h"
#include "rules.h"
#include "version.h"

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};
/* a minute to a week: cases are acknowledged in minutes and closed in hours or days */
static const double case_bounds[] = {60,    300,   900,   1800,   3600,  7200,
                                     14400, 28800, 86400, 172800, 604800};

_Static_assert(GR_NELEM(lat_bounds) <= HIST_MAX_BUCKETS &&
                       GR_NELEM(case_bounds) <= HIST_MAX_BUCKETS,
               "more bounds than a histogram has buckets");

struct metrics metrics = {
        .latency = {lat_bounds, GR_NELEM(lat_bounds), {0}, 0, 0},
        .time_to_ack = {case_bounds, GR_NELEM(case_bounds), {0}, 0, 0},
        .time_to_resolve = {case_bounds, GR_NELEM(case_bounds), {0}, 0, 0},
};

static const char *const versions[] = {GRIDROUTE_VERSION};
static const uint64_t one = 1;

static const char *const channels[] = {"patrol", "feedback", "scheduled", "alert"};
static const char *const esc_reasons[] = {"ack_timeout", "resolve_timeout", "manual"};
static const char *const cmd_ops[OP__COUNT + 1] = {
        "ack",        "resolve", "escalate", "reassign", "comment", "return",
        "redispatch", "cancel",  "extend",   "approve",  "deny",    "park",
        "unpark",     "verify",  "reopen",   "urge",     "invalid"};
static const char *const cmd_results[] = {"applied", "rejected"};
static const char *const reload_results[] = {"success", "failure"};
static const char *reasons[REASON__COUNT - 1];

enum mtype { M_COUNTER, M_GAUGE };

/* One family: either plain, or labelled by one or two label lists. */
struct family {
	const char *name;
	const char *help;
	enum mtype type;
	const char *label1;
	const char *const *values1;
	size_t n1;
	const char *label2;
	const char *const *values2;
	size_t n2;
	const uint64_t *counts; /* n1 x n2 (or 1) integers */
	const double *gauge;
};

#define METRIC_FAMILIES(X)                                                                         \
	X("gridroute_build_info", "The version of gridrouted running (always 1).", M_GAUGE,        \
	  "version", versions, 1, NULL, NULL, 0, &one, NULL)                                       \
	X("gridroute_incidents_received_total", "Incident entries read from the channel streams.", \
	  M_COUNTER, "channel", channels, GR_NELEM(channels), NULL, NULL, 0, metrics.received,     \
	  NULL)                                                                                    \
	X("gridroute_incidents_routed_total", "Incidents created and assigned.", M_COUNTER,        \
	  "channel", channels, GR_NELEM(channels), NULL, NULL, 0, metrics.routed, NULL)            \
	X("gridroute_deadletters_total", "Entries written to the dead-letter stream.", M_COUNTER,  \
	  "reason", reasons, GR_NELEM(reasons), NULL, NULL, 0, metrics.deadletters + 1, NULL)      \
	X("gridroute_escalations_total", "Incidents moved up a level.", M_COUNTER, "reason",       \
	  esc_reasons, GR_NELEM(esc_reasons), NULL, NULL, 0, metrics.escalations, NULL)            \
	X("gridroute_commands_total", "Commands applied or rejected (dead-lettered).", M_COUNTER,  \
	  "op", cmd_ops, GR_NELEM(cmd_ops), "result", cmd_results, GR_NELEM(cmd_results),          \
	  &metrics.commands[0][0], NULL)                                                           \
	X("gridroute_duplicates_total", "Reports merged into an open incident by dedup_key.",      \
	  M_COUNTER, NULL, NULL, 0, NULL, NULL, 0, &metrics.duplicates, NULL)                      \
	X("gridroute_reports_existing_total",                                                      \
	  "Reports whose id names an existing incident created from the same bytes (a retry).",    \
	  M_COUNTER, "channel", channels, GR_NELEM(channels), NULL, NULL, 0,                       \
	  metrics.reports_existing, NULL)                                                          \
	X("gridroute_breaches_total", "Deadlines passed at the last level.", M_COUNTER, NULL,      \
	  NULL, 0, NULL, NULL, 0, &metrics.breaches, NULL)                                         \
	X("gridroute_due_set_aside_total",                                                         \
	  "Incidents in gr:due that could not be read, moved to gr:unreadable.", M_COUNTER, NULL,  \
	  NULL, 0, NULL, NULL, 0, &metrics.due_set_aside, NULL)                                    \
	X("gridroute_redis_reconnects_total", "Redis connections re-established after a loss.",    \
	  M_COUNTER, NULL, NULL, 0, NULL, NULL, 0, &metrics.redis_reconnects, NULL)                \
	X("gridroute_rules_reloads_total", "Rules reloads (SIGHUP).", M_COUNTER, "result",         \
	  reload_results, GR_NELEM(reload_results), NULL, NULL, 0, metrics.reloads, NULL)          \
	X("gridroute_rules_last_reload_success_timestamp_seconds",                                 \
	  "When the rules were last loaded successfully.", M_GAUGE, NULL, NULL, 0, NULL, NULL, 0,  \
	  NULL, &metrics.last_reload_success)                                                      \
	X("gridroute_calendar_covered_until_timestamp_seconds",                                    \
	  "The start of the calendar's covered_until date (0: no calendar or no covered_until).",  \
	  M_GAUGE, NULL, NULL, 0, NULL, NULL, 0, NULL, &metrics.calendar_covered_until)            \
	X("gridroute_redis_up", "1 when both Redis connections are up and the scripts loaded.",    \
	  M_GAUGE, NULL, NULL, 0, NULL, NULL, 0, NULL, &metrics.redis_up)                          \
	X("gridroute_open_incidents", "Unresolved incidents (gr:open).", M_GAUGE, NULL, NULL, 0,   \
	  NULL, NULL, 0, NULL, &metrics.open_incidents)                                            \
	X("gridroute_due_backlog", "Incidents whose next deadline has passed (gr:due).", M_GAUGE,  \
	  NULL, NULL, 0, NULL, NULL, 0, NULL, &metrics.due_backlog)

#define ROW(nm, hp, ty, l1, v1, n1, l2, v2, n2, c, g) {nm, hp, ty, l1, v1, n1, l2, v2, n2, c, g},

static void render_family(struct buf *out, const struct family *f)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
	           f->type == M_COUNTER ? "counter" : "gauge");
	if (f->label1 == NULL && f->gauge != NULL) {
		buf_printf(out, "%s %.17g\n", f->name, *f->gauge);
		return;
	}
	if (f->label1 == NULL) {
		buf_printf(out, "%s %llu\n", f->name, (unsigned long long)f->counts[0]);
		return;
	}
	for (size_t i = 0; i < f->n1; i++) {
		if (f->label2 == NULL) {
			buf_printf(out, "%s{%s=\"%s\"} %llu\n", f->name, f->label1, f->values1[i],
			           (unsigned long long)f->counts[i]);
			continue;
		}
		for (size_t k = 0; k < f->n2; k++)
			buf_printf(out, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", f->name, f->label1,
			           f->values1[i], f->label2, f->values2[k],
			           (unsigned long long)f->counts[i * f->n2 + k]);
	}
}

static const struct {
	const char *name, *help;
	const struct histogram *h;
} histograms[] = {
        {"gridroute_route_latency_seconds",
         "From the stream entry's time to its assignment written.", &metrics.latency},
        {"gridroute_time_to_ack_seconds", "From an incident's creation to its acknowledgement.",
         &metrics.time_to_ack},
        {"gridroute_time_to_resolve_seconds",
         "From an incident's creation to its resolution (after verification, where verified).",
         &metrics.time_to_resolve},
};

static void render_histogram(struct buf *out, const char *name, const char *help,
                             const struct histogram *h)
{
	uint64_t cum = 0;

	buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->nbounds; i++) {
		cum += h->buckets[i];
		buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		           (unsigned long long)cum);
	}
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
	           (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

void metrics_render(struct buf *out)
{
	for (size_t i = 0; i < GR_NELEM(reasons); i++)
		reasons[i] = reason_code((enum reason)(i + 1));
	const struct family families[] = {METRIC_FAMILIES(ROW)};

	for (size_t i = 0; i < GR_NELEM(families); i++)
		render_family(out, &families[i]);

	for (size_t i = 0; i < GR_NELEM(histograms); i++)
		render_histogram(out, histograms[i].name, histograms[i].help, histograms[i].h);
}

void metrics_observe(struct histogram *h, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	for (size_t i = 0; i < h->nbounds; i++) {
		if (seconds <= h->bounds[i]) {
			h->buckets[i]++;
			break;
		}
	}
	h->count++;
	h->sum += seconds;
}

void metrics_observe_latency(double seconds)
{
	metrics_observe(&metrics.latency, seconds);
}

void metrics_escalation(const char *reason)
{
	for (size_t i = 0; i < ESC__COUNT; i++) {
		if (reason != NULL && strcmp(reason, esc_reasons[i]) == 0)
			metrics.escalations[i]++;
	}
}

void metrics_rules_loaded(const struct rules *r)
{
	int64_t day = r->calendar != NULL ? calendar_covered_until(r->calendar) : INT64_MIN;

	metrics.calendar_covered_until =
	        day == INT64_MIN ? 0 : (double)(calendar_day_start(r->tz, day) / 1000);
}
