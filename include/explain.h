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

/*
 * Explain incident JSON buf[0..len) against r into out (text or JSON,
 * newline-terminated). Returns 0, or -1 with rj holding the same reason
 * and sentence the daemon would dead-letter it with.
 */
int explain_incident(const struct rules *r, const char *buf, size_t len,
                     const struct explain_opts *o, struct buf *out, struct rejection *rj);

#endif
