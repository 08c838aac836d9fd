/*
 * store.h: the Redis side of every step (SPEC §2). Each input entry's
 * effects — incident hash, timeline, seen set, gr:due, gr:open, dedup key,
 * output streams, pub/sub and the XACK of the source entry — are applied
 * by one Lua script call, with every key in KEYS. Scripts are loaded once
 * (SCRIPT LOAD) and called with EVALSHA; a NOSCRIPT reply resends the
 * call with EVAL, which loads the script again.
 */
#ifndef GR_STORE_H
#define GR_STORE_H

#include "lifecycle.h"
#include "rconn.h"

struct store;

/* How a call ended: the script's answer, or why there is none. */
enum store_result {
	ST_OK,     /* applied */
	ST_SEEN,   /* this entry was applied before: acked, nothing else */
	ST_EXISTS, /* the incident exists already: acked, nothing else */
	ST_RETRY,  /* the incident changed since it was read: read it again */
	ST_GONE,   /* the incident no longer exists */
	ST_DOWN,   /* the connection dropped: the entry stays pending */
	ST_BUSY,   /* an error reply (OOM, READONLY, BUSY, ...): try again later */
};

typedef void (*store_fn)(void *arg, enum store_result res);
/* reply is hiredis's, valid only during the call; NULL when the connection dropped. */
typedef void (*store_reply_fn)(void *arg, redisReply *reply);

struct store *store_new(struct rconn *w, const struct config *cfg);
void store_free(struct store *s);

/* Load the scripts; ready() once every SCRIPT LOAD has answered. */
void store_on_up(struct store *s);
void store_on_down(struct store *s);
bool store_ready(const struct store *s);
/* Called periodically: loads the scripts again if a load was refused. */
void store_tick(struct store *s);

/* Key names: prefix + suffix, into a caller buffer-free string (caller frees). */
char *store_key(const struct store *s, const char *fmt, ...) GR_PRINTF(2, 3);

/*
 * Apply e to incident id. create: the incident must not exist, and when
 * e->dedup == LC_SET the dedup key must still name expect_holder ("" for
 * none). Otherwise the stored version must equal expect_version. src may
 * be NULL (deadline steps: nothing to acknowledge).
 */
int store_apply(struct store *s, const char *id, const struct effects *e, bool create,
                int64_t expect_version, const char *expect_holder, const struct lc_source *src,
                store_fn fn, void *arg);

/* Dead-letter an entry and acknowledge it, atomically. ST_SEEN if it was acked already. */
int store_deadletter(struct store *s, const struct lc_source *src, const char *reason,
                     const char *error, const char *payload, size_t plen, store_fn fn, void *arg);

/*
 * The incident's hash and whether src's entry was applied to it already:
 * [[field, value, ...], 0|1]. src may be NULL.
 */
int store_read_incident(struct store *s, const char *id, const struct lc_source *src,
                        store_reply_fn fn, void *arg);
/* Acknowledge an entry that needs nothing else (applied before). */
int store_ack(struct store *s, const struct lc_source *src, store_fn fn, void *arg);
/* The incident a dedup key names: nil, or [id, [field, value, ...]]. */
int store_read_dedup(struct store *s, const char *dedup_key, store_reply_fn fn, void *arg);

/* Send any command on the store's connection. */
int store_command(struct store *s, store_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens);

#endif
