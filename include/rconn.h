/*
 * rconn.h: one asynchronous Redis connection that keeps itself up —
 * connect over TCP or a unix socket, to the primary the sentinels name,
 * or to the Redis Cluster node that serves the prefix's slot; AUTH and
 * SELECT, reconnect with backoff (100 ms doubling to 5 s), one log line
 * per state change. This is also the one place that knows hiredis 0.14
 * from 1.x.
 */
#ifndef GR_RCONN_H
#define GR_RCONN_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "config.h"

struct rconn;

/* Called when the connection comes up (up = true) or goes down. */
typedef void (*rconn_state_fn)(struct rconn *c, bool up, void *arg);

/* password may be NULL; it is copied and never logged. */
struct rconn *rconn_new(struct event_base *base, const struct config *cfg, const char *password,
                        const char *name, rconn_state_fn fn, void *arg);
void rconn_free(struct rconn *c);
void rconn_start(struct rconn *c);
bool rconn_up(const struct rconn *c);
const char *rconn_name(const struct rconn *c);

/*
 * Send a command. fn gets the reply, or NULL when the connection dropped
 * before it came (the reply is hiredis's: do not keep it past fn).
 * Returns -1 at once when the connection is not up.
 */
int rconn_argv(struct rconn *c, redisCallbackFn *fn, void *priv, int argc, const char **argv,
               const size_t *lens);

/* The same with a command already in the Redis protocol (cmd[0..len)). */
int rconn_formatted(struct rconn *c, redisCallbackFn *fn, void *priv, const char *cmd, size_t len);

/* Drop the connection and connect again (with sentinels: to the current primary). */
void rconn_reconnect(struct rconn *c);

/*
 * An error reply that says "not here, or not now": MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN or READONLY. Nothing of the command was done; the
 * connection follows it by itself (MOVED and READONLY: it reconnects to
 * the owner or primary), so the caller only tries again later.
 */
bool rconn_redirected(const redisReply *r);

/* When this connection last got such a reply, in ms since the epoch (0: never). */
int64_t rconn_redirected_at(const struct rconn *c);

/* Stop reconnecting and close once the replies in flight have come. */
void rconn_close(struct rconn *c);

/*
 * The first line of redis.password_file (caller frees, and zeroes), or
 * NULL without one. A file that cannot be read or is empty is fatal.
 */
char *rconn_read_password(const struct config *cfg);

/* hiredis 1.x adds RESP3 types; these are the ones RESP2 gives. */
#define REPLY_IS_ERROR(r) ((r) != NULL && (r)->type == REDIS_REPLY_ERROR)
#define REPLY_IS_ARRAY(r) ((r) != NULL && (r)->type == REDIS_REPLY_ARRAY)
#define REPLY_IS_STRING(r)                                                                         \
	((r) != NULL && ((r)->type == REDIS_REPLY_STRING || (r)->type == REDIS_REPLY_STATUS))
#define REPLY_IS_NIL(r) ((r) != NULL && (r)->type == REDIS_REPLY_NIL)

#endif
