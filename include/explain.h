/*
 * explain.h: what the daemon would do with an incident, without Redis —
 * the matched policy, the resolved unit and the whole chain from the
 * start level up with assignees, co-assignees and deadlines.
 */
#ifndef GR_EXPLAIN_H
#define GR_EXPLAIN_H

#include "route.h"

struct explain_opts {
	enum channel channel;
	bool channel_given; /* else the document's "channel", else patrol */
	int64_t now;        /* "assigned now" */
	bool json;
};

/* One level of an explanation, with its people and deadlines worked out. */
struct explain_level {
	int idx;
	bool vacant;
	const struct rules_dur *ack_within, *resolve_within;
	int64_t ack_ms, resolve_ms;   /* their clock length from the level's assignment time */
	int64_t ack, resolve;         /* TIME_NONE for vacant levels */
	struct rules_plist assignees; /* at the level's assignment time */
	int *co;                      /* the co-assignees then (explain_chain_free) */
	size_t nco;
};

/*
 * The chain of (unit, cat) under policy p from level index from up, as if
 * the level were assigned at t and each next one at its predecessor's ack
 * deadline; due_at (TIME_NONE if none) caps the first resolve deadline.
 * out has room for RULES_MAX_LEVELS; returns how many levels it holds.
 */
size_t explain_chain(const struct rules *r, int unit, int cat, const struct rules_policy *p,
                     int from, int64_t t, int64_t due_at, struct explain_level *out);
void explain_chain_free(struct explain_level *levels, size_t n);

/*
 * Explain incident JSON buf[0..len) against r into out (text or JSON,
 * newline-terminated). Returns 0, or -1 with rj holding the same reason
 * and sentence the daemon would dead-letter it with.
 */
int explain_incident(const struct rules *r, const char *buf, size_t len,
                     const struct explain_opts *o, struct buf *out, struct rejection *rj);

#endif
