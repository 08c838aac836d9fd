/*
 * store.h: the Redis side of every step (SPEC §2). Each input entry's
 * effects — incident hash, document, timeline, seen set, gr:due, gr:open,
 * dedup key, output streams, pub/sub and the XACK of the source entry —
 * are one step of the apply script (apply.h), with every key in KEYS.
 * Steps queued in one turn of the event loop go to Redis as one script
 * call; each keeps its own checks and its own answer. The script is
 * loaded once (SCRIPT LOAD) and called with EVALSHA; a NOSCRIPT reply
 * resends the call with EVAL, which loads it again.
 */
#ifndef GR_STORE_H
#define GR_STORE_H

#include <event2/event.h>

#include "lifecycle.h"
#include "rconn.h"

struct store;

/* How a step ended: the script's answer, or why there is none. */
enum store_result {
	ST_OK,       /* applied */
	ST_SEEN,     /* this entry was applied before: acked, nothing else */
	ST_EXISTS,   /* the incident exists already, created by this entry: acked */
	ST_SAME,     /* it exists, created by another entry with the same bytes: acked */
	ST_CONFLICT, /* it exists, created by another entry with other bytes: not acked */
	ST_DEDUP,    /* creation: the dedup key names another incident (the detail) */
	ST_RETRY,    /* the incident changed since it was read: read it again */
	ST_GONE,     /* the incident no longer exists */
	ST_DOWN,     /* the connection dropped: the entry stays pending */
	ST_BUSY,     /* an error (OOM, READONLY, a key of the wrong type ...): try again later */
};

/* detail: for ST_DEDUP the incident the dedup key names (valid during the call), else NULL. */
typedef void (*store_fn)(void *arg, enum store_result res, const char *detail);
/* reply is hiredis's, valid only during the call; NULL when the connection dropped. */
typedef void (*store_reply_fn)(void *arg, redisReply *reply);

struct store *store_new(struct event_base *base, struct rconn *w, const struct config *cfg);
void store_free(struct store *s);

/*
 * The connection is up: load the script and check the layout version of
 * the store (gr:meta; SPEC §2). ready() once both are done. A store of
 * another layout makes store_wrong_schema() true: the daemon must stop.
 */
void store_on_up(struct store *s);
void store_on_down(struct store *s);
bool store_ready(const struct store *s);
const char *store_wrong_schema(const struct store *s);
/* Called periodically: loads the script again if a load was refused. */
void store_tick(struct store *s);

/* Key names: prefix + suffix (caller frees). */
char *store_key(const struct store *s, const char *fmt, ...) GR_PRINTF(2, 3);

/*
 * Apply e to incident id. create: the incident must not exist, and when
 * e->dedup == LC_SET the dedup key must still name expect_holder ("" for
 * none); report_sha1 is then the report's. Otherwise the stored version
 * must equal expect_version. src may be NULL (deadline steps: nothing to
 * acknowledge). The step is queued; fn gets its answer.
 */
int store_apply(struct store *s, const char *id, const struct effects *e, bool create,
                int64_t expect_version, const char *expect_holder, const char *report_sha1,
                const struct lc_source *src, store_fn fn, void *arg);

/* Dead-letter an entry and acknowledge it, atomically. ST_SEEN if it was acked already. */
int store_deadletter(struct store *s, const struct lc_source *src, const char *reason,
                     const char *error, const char *payload, size_t plen, store_fn fn, void *arg);

/* Acknowledge an entry that needs nothing else (applied before). */
int store_ack(struct store *s, const struct lc_source *src, store_fn fn, void *arg);

/*
 * Read an incident: fn gets EXEC's answer [[field, value, ...], doc or
 * nil, and with src 0|1: whether src's entry is in its seen set], or an
 * error reply, or NULL when the connection dropped.
 */
int store_read_incident(struct store *s, const char *id, const struct lc_source *src,
                        store_reply_fn fn, void *arg);

/* Send any command on the store's connection (after the steps queued so far). */
int store_command(struct store *s, store_reply_fn fn, void *arg, int argc, const char **argv,
                  const size_t *lens);

#endif
