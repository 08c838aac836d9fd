/*
 * apply.h: what the daemon sends to Redis for its steps, as bytes. The Lua
 * script and the encoding of steps into one EVALSHA call (Redis protocol,
 * ready for the socket) live here, in the library and free of I/O, so
 * that the daemon and the benchmark's Redis-only ceiling (tests/bench)
 * send the very same commands.
 *
 * One call applies a batch of steps. Each step is all or nothing: the
 * script makes every check that can fail (the incident's existence or
 * version, the seen set, the dedup key, the type of every key it writes)
 * before its first write, and answers for each step on its own; a step
 * that fails a check writes nothing and does not stop the next one.
 */
#ifndef GR_APPLY_H
#define GR_APPLY_H

#include "lifecycle.h"
#include "util.h"

enum apply_script { AS_APPLY, AS__COUNT };

/* The Lua text of a script, for SCRIPT LOAD (and EVAL after NOSCRIPT). */
const char *apply_script_text(enum apply_script s);

/* What the encoding needs besides the steps: names and settings. */
struct apply_ctx {
	const char *prefix;      /* "gr:" */
	const char *group;       /* the consumer group */
	int64_t out_maxlen;      /* MAXLEN ~ of the output streams */
	int64_t expire_s;        /* EXPIRE of a resolved incident's keys */
	char sha[AS__COUNT][41]; /* SHA1 of each script, as SCRIPT LOAD answered */
};

enum apply_mode {
	AM_CREATE,     /* a new incident: it must not exist (see apply_step.expect_holder) */
	AM_UPDATE,     /* a change: the stored version must be expect_version */
	AM_DEADLETTER, /* acknowledge the entry and write its dead letter */
	AM_ACK,        /* acknowledge the entry, nothing else */
};

/* One step of a batch. Everything is borrowed until apply_batch_add returns. */
struct apply_step {
	enum apply_mode mode;
	const struct lc_source *src; /* NULL or stream NULL: a deadline, nothing to acknowledge */
	/* AM_CREATE, AM_UPDATE */
	const char *id;
	const struct effects *e;
	int64_t expect_version;    /* AM_UPDATE */
	const char *expect_holder; /* AM_CREATE with a dedup key: the incident it must name ("") */
	const char *report_sha1;   /* AM_CREATE: 40 hex digits of the report's bytes */
	/* AM_DEADLETTER */
	const char *reason, *error, *payload;
	size_t plen;
};

/*
 * A batch being built: the keys and the arguments of the steps so far,
 * in two buffers, since the protocol wants the count of both up front.
 */
/*
 * A counter key of the batch (a KPI hash, a month's unit set, gr:stats,
 * gr:daily:<day>): every step's increments summed, so that the script
 * writes each once, at the end, and reads a step's share (apply.lua's
 * "counts") only when it refuses the step.
 */
struct apply_counter {
	uint64_t hash;
	size_t name, nlen; /* in apply_batch.ctext: the key after the prefix, NUL-terminated */
	char kind;         /* 'h' a hash, 's' a set */
	char expire[24];   /* PEXPIREAT ms for a key the batch creates, "" for none */
	size_t first, last, nitems; /* its items, chained by apply_item.next */
};

struct apply_item {
	uint64_t hash;
	size_t text, len; /* in apply_batch.ctext: the field or member */
	int64_t n;        /* the sum of the increments; for a set, the steps adding it */
	size_t next;      /* the counter's next item, SIZE_MAX for none */
};

struct apply_batch {
	struct buf keys, args;
	size_t nkeys, nargs, nsteps;
	struct buf ctext;
	struct apply_counter *cnt;
	size_t ncnt, capcnt;
	struct apply_item *items;
	size_t nitems, capitems;
	struct buf counts; /* a step's share, while it is added */
};

void apply_batch_init(struct apply_batch *b);
void apply_batch_free(struct apply_batch *b);
void apply_batch_reset(struct apply_batch *b);
void apply_batch_add(struct apply_batch *b, const struct apply_ctx *c, const struct apply_step *st);
/* Bytes of the batch so far (to cap its size). */
size_t apply_batch_bytes(const struct apply_batch *b);
/* Append the whole batch as one EVALSHA to out; the batch is left as it is. */
void apply_batch_encode(const struct apply_batch *b, const struct apply_ctx *c, struct buf *out);

/*
 * What the script answers for each step, in order: one of these words, or
 * "d:<id>" (the dedup key names incident <id>, not the holder expected),
 * or "wrongtype:<key>" (a key the step would write holds another type:
 * nothing of the step was written).
 */
enum apply_result {
	AR_OK,        /* applied */
	AR_SEEN,      /* the entry was applied before: acknowledged, nothing else */
	AR_EXISTS,    /* creation: this entry created the incident already: acknowledged */
	AR_SAME,      /* creation: another entry created it with the same bytes: acknowledged */
	AR_CONFLICT,  /* creation: another entry created it with other bytes: not acknowledged */
	AR_RETRY,     /* the version moved: read the incident again */
	AR_GONE,      /* the incident is not there */
	AR_DEDUP,     /* creation: the dedup key names another incident (detail: its id) */
	AR_WRONGTYPE, /* detail: the key */
	AR_INVALID,   /* not an answer of the script */
};

/* One element of the script's reply; *detail points into s (or is NULL). */
enum apply_result apply_result_parse(const char *s, size_t len, const char **detail,
                                     size_t *detail_len);

/* Append to out any command: argv[0..argc), lens NULL for NUL-terminated arguments. */
void apply_encode_argv(struct buf *out, int argc, const char *const *argv, const size_t *lens);

/* Turn an EVALSHA of script s in cmd into the same call as EVAL (after NOSCRIPT). */
void apply_evalsha_to_eval(struct buf *cmd, enum apply_script s);

/*
 * For the benchmark's ceiling: add to b the step the daemon applies for
 * a report read as entry `entry` of stream `stream` (the field value in
 * payload) when it makes a new incident of it. Returns 1, or -1 when the
 * daemon would dead-letter the report (nothing added).
 */
int apply_plan_report(struct apply_batch *b, const struct apply_ctx *c, const struct rules *r,
                      const char *stream, const char *entry, const char *payload, size_t plen,
                      int64_t now);

#endif
