/*
 * daemon.h: what the daemon's parts share — the loop, the config, the
 * current rules (swapped whole on SIGHUP), the two Redis connections
 * (one for the blocking stream read, one for everything else).
 */
#ifndef GR_DAEMON_H
#define GR_DAEMON_H

#include <event2/event.h>

#include "config.h"
#include "lifecycle.h"
#include "rconn.h"
#include "rules.h"
#include "store.h"

struct intake;
struct escalator;
struct reloader;

struct daemon {
	struct event_base *base;
	struct config *cfg;
	struct rules *rules;
	struct lc_conf lconf; /* notify and retention.kpi, for the lifecycle */
	struct tz *utc;       /* notify.timezone: UTC */
	struct rconn *rd;
	struct rconn *wr;
	struct store *store;
	struct intake *intake;
	struct escalator *esc;
	struct reloader *reloader;
	bool stopping;
	int exit_code; /* of daemon_main: 1 when it had to stop (a store of another layout) */
	struct event *grace;
	int64_t started_ms;
};

/* intake.c: the input streams */
struct intake *intake_new(struct daemon *d);
void intake_free(struct intake *in);
void intake_kick(struct intake *in);    /* read the next batch if nothing is in flight */
void intake_on_down(struct intake *in); /* a connection dropped: start over from own pending */
bool intake_idle(const struct intake *in);
/* The input streams that cannot be read and why, as one sentence (caller frees); NULL: none. */
char *intake_unreadable(const struct intake *in);

/* reload.c: SIGHUP, off the loop */
struct reloader *reloader_new(struct daemon *d);
void reloader_request(struct reloader *rl);
/*
 * false when a reload was still running: it is left to the exit, and the
 * daemon's rules must not be freed (the thread may still read them).
 */
bool reloader_free(struct reloader *rl);

/* escalate.c: due deadlines */
struct escalator *escalator_new(struct daemon *d);
void escalator_free(struct escalator *e);
bool escalator_idle(const struct escalator *e);

#endif
