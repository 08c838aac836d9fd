/*
 * lifecycle.h: the case state machine of SPEC §5 and §6 as pure functions.
 * Each step — creation, a duplicate report, a deadline passing, a command
 * — reads the stored incident and the current rules and returns the
 * effects to apply: the hash fields that change, the document, events,
 * assignments, notifications, the KPI counters (§11) and what happens to
 * gr:due, gr:open and the dedup key. store.c applies the effects in one
 * atomic Lua call; nothing here does I/O.
 */
#ifndef GR_LIFECYCLE_H
#define GR_LIFECYCLE_H

#include "message.h"
#include "route.h"

/* Which deadline values have already produced their "breached" event. */
#define LC_BREACHED_ACK     1u
#define LC_BREACHED_RESOLVE 2u
#define LC_BREACHED_VERIFY  4u
#define LC_BREACHED_REVIEW  8u
#define LC_BREACHED_PARK    16u /* parked_until passed and nobody could take the case */

/* A pending extension request (§7 pending_extension). */
struct lc_pending {
	bool set;
	char *by;
	int64_t until;
	char *note; /* NULL when none was given */
};

/* A stored incident (SPEC §7), as read back from gr:inc:<id> and gr:doc:<id>. */
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
	char **verifiers;
	size_t nverifiers;
	char *policy;
	/* times in ms since the epoch; TIME_NONE for the empty string */
	int64_t ack_deadline, resolve_deadline;
	int64_t created_at, updated_at, last_seen_at;
	int64_t case_deadline, verify_deadline, review_deadline, parked_until, resolved_at,
	        parked_at;
	int64_t count, version;
	int64_t extensions, reworks, reopens, urges;
	bool late;
	char *resolved_by, *handled_by; /* NULL for the empty string */
	struct lc_pending pending;
	char *unit, *category; /* as stored: the resolved unit and the category */
	char *report_sha1;
	unsigned breached;         /* LC_BREACHED_* */
	bool parked_from_returned; /* internal field parked_from: unpark goes back to returned */
};

/*
 * Fill rec from the hash's field/value pairs (as HGETALL returns them) and
 * its document (gr:doc:<id>; NULL when missing). The fields of v1 are
 * required; those v2 added default when absent (a migrated store).
 * Returns 0, or -1 with a sentence in err when a field is missing or
 * malformed. Free with inc_record_free (also after a failure).
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
	int64_t since; /* acked, resolved: ms from creation to the event, for the histograms */
};

#define LC_MAX_EVENTS (RULES_MAX_LEVELS + 3)

/*
 * The fields of §7 a creation leaves out of effects.fields when they have
 * these values (name, value, ..., NULL), and the version a creation starts
 * at: apply.lua's CREATED table writes them, so that they cost no argument.
 */
extern const char *const lc_create_defaults[];

/*
 * The fields every creation sets (SPEC §7), in the order it sets them,
 * with a first value: gr:defaults holds them before lc_create_defaults.
 * A creation's HSET writes those that differ (apply.c: the positional
 * ones, each found near the front of the copied hash and replaced in
 * place, where a field added to a small hash is appended after a scan of
 * every field); apply.lua's CREATED is both lists.
 */
extern const char *const lc_create_written[];

/*
 * gr:stats counts a unit's live cases under its street: the length of the
 * unit id's first two path segments (the whole id of a root).
 */
size_t lc_stat_unit(const char *unit);

/* gr:deadlines' score for a case with no deadline to meet: +inf */
#define LC_DEADLINE_NONE INT64_MAX

struct effects {
	struct lc_list fields;             /* hash field, value, field, value, ... to HSET */
	struct lc_list events;             /* event JSON texts, oldest first */
	struct lc_list assignments;        /* assignment JSON texts */
	struct lc_list notifications;      /* notification JSON texts */
	struct lc_list xkeys;              /* more keys the step writes, after the prefix */
	struct lc_list xops;               /* per op: code, key index (1-based), two arguments */
	struct lc_event ev[LC_MAX_EVENTS]; /* the events again, for the log */
	size_t nev;
	char unit[LC_UNIT_MAX + 1]; /* the assignment's unit, "" when none */
	enum channel channel;       /* the incident's */
	enum lc_op due;             /* gr:due: SET to due_score, or REM */
	int64_t due_score;
	enum lc_op open; /* gr:open: SET (score open_score) or REM */
	int64_t open_score;
	/*
	 * gr:deadlines: SET to the deadline the case must meet now (breached or not) when it
	 * is not its gr:due score, LC_DEADLINE_NONE when it has none but a gr:due score
	 * (parked); REM when it is its gr:due score or the case has neither
	 */
	enum lc_op deadlines;
	int64_t deadlines_score;
	enum lc_op dedup; /* SET: gr:dedup:<key> -> this id; REM: delete it if it names this id */
	const char *dedup_key; /* borrowed */
	/* the normalized document, written to gr:doc:<id>; NULL: left as it is */
	const char *doc;
	size_t doc_len;
	struct buf doc_buf; /* owns doc when the step rewrote it (redispatch) */
	/* resolved or cancelled: EXPIRE the hash, document, timeline and seen set; reopened:
	 * PERSIST */
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

/* Settings of the daemon the steps need (SPEC §9 notify, retention.kpi). */
struct lc_conf {
	enum msg_lang lang;       /* notify.language */
	const struct tz *tz;      /* notify.timezone: NULL for the rules' zone */
	int64_t kpi_retention_ms; /* retention.kpi: KPI keys live this long after their month */
};

/* What every step is given. */
struct lc_env {
	const struct rules *r;
	int64_t now;                 /* t: the daemon's clock when it applies the step */
	int64_t act;                 /* when the person acted: a command's entry time; else now */
	const struct lc_source *src; /* NULL for a deadline */
	const struct lc_conf *conf;  /* NULL: Chinese, the rules' zone, 400 days */
};

/*
 * A new incident, routed at env->now: skipped events for vacant levels,
 * assigned (reason new). report_sha1: 40 hex digits of the report's bytes.
 */
void lifecycle_create(const struct lc_env *env, const struct incident *inc,
                      const struct route_result *rt, const char *report_sha1, struct effects *out);

/* Another report with rec's dedup key: count, last_seen_at, a duplicate event. */
void lifecycle_duplicate(const struct lc_env *env, const struct inc_record *rec,
                         struct effects *out);

/*
 * A deadline of rec may have passed: escalate (ack_timeout, resolve_timeout),
 * breach (at the last non-vacant level, or verify_timeout, review_timeout),
 * or unpark (park_expired). Returns 1 with out filled when something was
 * due; 0 when nothing is due at now (out->due then holds the right gr:due
 * score or REM, to repair a stale entry).
 */
int lifecycle_deadline(const struct lc_env *env, const struct inc_record *rec, struct effects *out);

/*
 * A command on rec (already through command_parse and route_command_check):
 * SPEC §5 authorization (not_authorized), the transition (invalid_transition),
 * for redispatch the routing of the new target (unknown_unit, ...), and for a
 * level assignment nobody left to take it (no_assignee); then its effects.
 * Returns 0, or -1 with rj.
 */
int lifecycle_command(const struct lc_env *env, const struct inc_record *rec,
                      const struct command *cmd, struct effects *out, struct rejection *rj);

/* The earliest pending deadline of a stored incident (its gr:due score), or TIME_NONE. */
int64_t lifecycle_next_deadline(const struct inc_record *rec);

#endif
