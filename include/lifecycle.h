/*
 * lifecycle.h: the incident state machine (SPEC §6) as pure functions.
 * Each step — creation, a duplicate report, a deadline passing, a command
 * — reads the stored incident and the current rules and returns the
 * effects to apply: hash fields, events, assignments, notifications and
 * what happens to gr:due, gr:open and the dedup key. store.c applies the
 * effects in one atomic Lua call; nothing here does I/O.
 */
#ifndef GR_LIFECYCLE_H
#define GR_LIFECYCLE_H

#include "route.h"

/* Which deadlines have already produced "breached" at the last level. */
#define LC_BREACHED_ACK     1u
#define LC_BREACHED_RESOLVE 2u

/* A stored incident (SPEC §7), as read back from gr:inc:<id>. */
struct inc_record {
	char *id;
	struct incident inc; /* the stored document, parsed again */
	enum inc_state state;
	int level_num; /* the stored 1-based level */
	char *level_key;
	char **assignees;
	size_t nassignees;
	char **co_assignees;
	size_t nco;
	char *policy;
	int64_t ack_deadline; /* ms */
	int64_t resolve_deadline;
	int64_t created_at, updated_at, last_seen_at;
	int64_t count;
	int64_t version;
	unsigned breached; /* LC_BREACHED_*; hash field "breached": "", "ack", "resolve",
	                      "ack,resolve" */
};

/*
 * Fill rec from the hash's field/value pairs (as HGETALL returns them) and
 * its document (gr:doc:<id>; NULL when missing). Returns 0, or -1 with a
 * sentence in err when a field is missing or malformed. Free with
 * inc_record_free (also after a failure).
 */
int inc_record_parse(struct inc_record *rec, const char *id, const char *const *fields,
                     const char *const *values, size_t n, const char *doc, size_t doc_len,
                     char *err, size_t errsz);
void inc_record_free(struct inc_record *rec);

enum lc_op { LC_KEEP, LC_SET, LC_REM };

/* What happens to the expiry of the incident's keys. */
enum lc_expire { LC_EXPIRE_KEEP, LC_EXPIRE_SET, LC_EXPIRE_PERSIST };

/* Texts in one buffer, each followed by a NUL: item i is text.data + off[i], len[i] bytes. */
struct lc_list {
	struct buf text;
	size_t *off, *len;
	size_t n, cap;
};

static inline const char *lc_item(const struct lc_list *l, size_t i)
{
	return l->text.data + l->off[i];
}

/* Level keys and person ids are at most 64 bytes; unit ids 16 segments of 64 (SPEC §3). */
#define LC_ID_MAX   64
#define LC_UNIT_MAX (UNIT_ID_MAX_DEPTH * 65)

/* What the log line and the metrics of one event need, once Redis applied it. */
struct lc_event {
	const char *type;   /* static */
	const char *reason; /* static, or NULL */
	char level_key[LC_ID_MAX + 1];
	char by[LC_ID_MAX + 1];
	int64_t count; /* duplicate */
};

#define LC_MAX_EVENTS (RULES_MAX_LEVELS + 2)

struct effects {
	struct lc_list fields;             /* hash field, value, field, value, ... to HSET */
	struct lc_list events;             /* event JSON texts, oldest first */
	struct lc_list assignments;        /* assignment JSON texts */
	struct lc_list notifications;      /* notification JSON texts */
	struct lc_event ev[LC_MAX_EVENTS]; /* the events again, for the log */
	size_t nev;
	char unit[LC_UNIT_MAX + 1]; /* the assignment's unit, "" when none */
	enum channel channel;       /* the incident's */
	enum lc_op due;             /* gr:due: SET to due_score, or REM */
	int64_t due_score;
	enum lc_op open; /* gr:open: SET (score open_score) or REM */
	int64_t open_score;
	enum lc_op dedup; /* SET: gr:dedup:<key> -> this id; REM: delete it if it names this id */
	const char *dedup_key; /* borrowed */
	/* the normalized document, borrowed: written to gr:doc:<id>; NULL: left as it is */
	const char *doc;
	size_t doc_len;
	/* resolved: EXPIRE the hash, document, timeline and seen set; reopened: PERSIST */
	enum lc_expire expire;
	const char *from_level; /* borrowed: the level before the step, for the log */
};

/*
 * The caller initializes out with effects_init before each lifecycle_*
 * step below, and frees it with effects_free whatever the step returned.
 */
void effects_init(struct effects *e);
void effects_free(struct effects *e);

/* The input entry that caused a step; stream NULL for the daemon's own (deadlines). */
struct lc_source {
	const char *stream; /* "gr:in:patrol" */
	const char *entry;  /* "1700000000000-0" */
};

/* A new incident, routed: skipped events for vacant levels, assigned (reason new). */
void lifecycle_create(const struct rules *r, const struct incident *inc,
                      const struct route_result *rt, int64_t now, const struct lc_source *src,
                      const char *report_sha1, struct effects *out);

/* Another report with rec's dedup key: count, last_seen_at, a duplicate event. */
void lifecycle_duplicate(const struct rules *r, const struct inc_record *rec, int64_t now,
                         const struct lc_source *src, struct effects *out);

/*
 * A deadline of rec may have passed: escalate (ack_timeout / resolve_timeout),
 * or breach at the last non-vacant level. Returns 1 with out filled when
 * something was due; 0 when nothing is due at now (out->due then holds
 * the right gr:due score or REM, to repair a stale entry).
 */
int lifecycle_deadline(const struct rules *r, const struct inc_record *rec, int64_t now,
                       struct effects *out);

/*
 * A command on rec (already through command_parse and route_command_check):
 * SPEC §5 authorization and transition, then its effects. Returns 0, or -1
 * with rj (not_authorized, invalid_transition).
 */
int lifecycle_command(const struct rules *r, const struct inc_record *rec,
                      const struct command *cmd, int64_t now, const struct lc_source *src,
                      struct effects *out, struct rejection *rj);

#endif
