/*
 * ctl_redis.h: gridctl's one synchronous Redis connection (hiredis's
 * blocking API): connect over TCP or a unix socket, AUTH and SELECT, send
 * commands one by one or pipelined, and report every failure as one line
 * that names the command and where Redis is. This is also the one place
 * in gridctl that knows hiredis 0.14 from 1.x.
 */
#ifndef GR_CTL_REDIS_H
#define GR_CTL_REDIS_H

#include <hiredis/hiredis.h>

#include "ctl_cli.h"

/* Connect, AUTH and SELECT as the global options say; 0, or the exit code after reporting. */
int ctl_redis_connect(struct ctl *c);
void ctl_redis_close(struct ctl *c);

/* The socket timeout of the commands that follow; 0: wait for ever. 0 or -1. */
int ctl_redis_timeout(struct ctl *c, int64_t ms);

/*
 * One command. Returns the reply (caller frees with freeReplyObject),
 * error replies included, or NULL after reporting a lost connection.
 */
redisReply *ctl_redis_argv(struct ctl *c, int argc, const char **argv, const size_t *lens);

/*
 * One command of NUL-terminated arguments, ended by NULL. An error reply
 * is reported ("Redis: ...") and freed: NULL means failure either way.
 */
redisReply *ctl_redis(struct ctl *c, ...) __attribute__((sentinel));

/* Pipelining: queue commands, then take their replies in order. */
void ctl_redis_append(struct ctl *c, int argc, const char **argv, const size_t *lens);
redisReply *ctl_redis_next(struct ctl *c); /* NULL: lost connection, reported */

/*
 * For subscribers: the next pushed reply, waiting at most timeout_ms (-1:
 * for ever). Returns 1 and *out, 0 on timeout or when a signal came, -1
 * after reporting a lost connection.
 */
int ctl_redis_read(struct ctl *c, int timeout_ms, redisReply **out);

/* Reply shapes, the same in RESP2 under hiredis 0.14 and 1.x. */
bool ctl_reply_string(const redisReply *r); /* bulk or status string */
bool ctl_reply_array(const redisReply *r);
bool ctl_reply_nil(const redisReply *r);
bool ctl_reply_error(const redisReply *r);

/*
 * The value of field name in a flat [field, value, ...] array (XINFO,
 * HGETALL, a stream entry's fields); NULL when absent or not a string.
 */
const redisReply *ctl_reply_field(const redisReply *flat, const char *name);
/* Same, as a NUL-terminated string or NULL. */
const char *ctl_reply_str(const redisReply *flat, const char *name);
/* An integer reply, or a string holding one; 0 or -1. */
int ctl_reply_int(const redisReply *r, int64_t *out);

/* The stream id just before id ("5-3" -> "5-2", "5-0" -> "4-18446744073709551615"). */
void ctl_stream_id_before(const char *id, char *out, size_t outsz);
/* The stream id just after id, for paging with XRANGE. */
void ctl_stream_id_after(const char *id, char *out, size_t outsz);
/*
 * After an XRANGE page r: the start of the next page (the id just after
 * the last entry's) into out. False when r has no well-formed last entry.
 */
bool ctl_reply_next_page(const redisReply *r, char *out, size_t outsz);
/* "<ms>-<seq>", both decimal: the only ids gridctl sends. */
bool ctl_stream_id_valid(const char *id);

/* The layout version of the keys that this gridctl reads and writes (SPEC §2: gr:meta). */
#define CTL_SCHEMA "2"

/*
 * Before reading or writing incidents: does the store have this layout?
 * A store of another version, or one with incidents and no version (v1),
 * is refused, naming gridctl migrate. Returns 0, or the exit code after
 * reporting. A user that may not read gr:meta or SCAN passes.
 */
int ctl_store_check(struct ctl *c);

/* prefix, with SCAN's pattern characters escaped, then suffix ("inc:*"); caller frees. */
char *ctl_scan_pattern(const struct ctl *c, const char *suffix);

#endif
