/*
 * apply.h: what the daemon sends to Redis for a step, as bytes. The Lua
 * scripts and the encoding of a step's effects into one EVALSHA call
 * (Redis protocol, ready for the socket) live here, in the library and
 * free of I/O, so that the daemon and the benchmark's Redis-only ceiling
 * (tests/bench) send the very same commands.
 */
#ifndef GR_APPLY_H
#define GR_APPLY_H

#include "lifecycle.h"
#include "util.h"

enum apply_script { AS_APPLY, AS_DEADLETTER, AS_DEDUP, AS_READ, AS__COUNT };

/* The Lua text of a script, for SCRIPT LOAD (and EVAL after NOSCRIPT). */
const char *apply_script_text(enum apply_script s);

/* What the encoding needs besides the step: names and settings. */
struct apply_ctx {
	const char *prefix;      /* "gr:" */
	const char *group;       /* the consumer group */
	int64_t out_maxlen;      /* MAXLEN ~ of the output streams */
	int64_t expire_s;        /* EXPIRE of a resolved incident's keys */
	char sha[AS__COUNT][41]; /* SHA1 of each script, as SCRIPT LOAD answered */
};

/*
 * Append to out one EVALSHA of the apply script: e on incident id.
 * create: the incident must not exist yet, and when e->dedup == LC_SET
 * the dedup key must still name expect_holder ("" for none); otherwise
 * the stored version must equal expect_version. src may be NULL (a
 * deadline: nothing to acknowledge).
 */
void apply_encode(struct buf *out, const struct apply_ctx *c, const char *id,
                  const struct effects *e, bool create, int64_t expect_version,
                  const char *expect_holder, const struct lc_source *src);

/* Append to out any command: argv[0..argc), lens NULL for NUL-terminated arguments. */
void apply_encode_argv(struct buf *out, int argc, const char *const *argv, const size_t *lens);

/* Turn an EVALSHA of script s in cmd into the same call as EVAL (after NOSCRIPT). */
void apply_evalsha_to_eval(struct buf *cmd, enum apply_script s);

/* Append to out one EVALSHA of the dedup read script for dedup_key. */
void apply_encode_dedup(struct buf *out, const struct apply_ctx *c, const char *dedup_key);

/*
 * For the benchmark's ceiling: append to out every command the daemon
 * sends for a report read as entry `entry` of stream `stream` (the field
 * value in payload) when it makes a new incident of it: the apply (a
 * dedup key is tried as new first; the dedup read comes only when the
 * key names an incident). Returns the number of commands appended (1), or
 * -1 when the daemon would dead-letter the report (nothing appended).
 */
int apply_plan_report(struct buf *out, const struct apply_ctx *c, const struct rules *r,
                      const char *stream, const char *entry, const char *payload, size_t plen,
                      int64_t now);

#endif
