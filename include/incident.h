/*
 * incident.h: incident and command JSON in (SPEC §4, §5): parse, validate
 * and normalize, with the §8 reason code and a sentence on failure.
 * Nothing here knows the rules: category, unit and level keys are only
 * checked for form; route.c checks them against the rules.
 */
#ifndef GR_INCIDENT_H
#define GR_INCIDENT_H

#include <jansson.h>

#include "reason.h"
#include "timeutil.h"

enum channel { CH_PATROL, CH_FEEDBACK, CH_SCHEDULED, CH_ALERT, CH__COUNT };
enum severity { SEV_LOW, SEV_NORMAL, SEV_HIGH, SEV_CRITICAL, SEV__COUNT };

const char *channel_name(enum channel c);
int channel_parse(const char *s, enum channel *out); /* 0 or -1 */
const char *severity_name(enum severity s);
int severity_parse(const char *s, enum severity *out);

#define INCIDENT_ID_MAX    128
#define INCIDENT_TITLE_MAX 512
#define INCIDENT_DEDUP_MAX 256
#define UNIT_ID_MAX_DEPTH  16

/* [A-Za-z0-9._:-]{1,128}: safe inside a Redis key. */
bool incident_id_valid(const char *s, size_t len);
/* '/'-joined segments [a-z0-9][a-z0-9_-]{0,63}, 1..16 of them. */
bool unit_id_valid(const char *s, size_t len);
/* [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
bool person_id_valid(const char *s, size_t len);
/* [a-z][a-z0-9_]{0,63}: level, category, role and kind keys. */
bool key_valid(const char *s, size_t len);

struct incident_ctx {
	enum channel channel;
	const char *entry_id; /* the stream entry id; NULL outside the daemon */
	int64_t entry_ms;     /* the entry's time: default reported_at */
	size_t max_bytes;     /* limits.max_incident_bytes; 0: no limit */
};

/* One attrs member, decoded. */
struct incident_attr {
	const char *key;   /* NUL-terminated */
	const char *value; /* NUL-terminated, value_len bytes (JSON strings hold no NUL here) */
	size_t value_len;
};

struct incident {
	/*
	 * The normalized document as JSON text, NUL-terminated; owned. The
	 * strings and the attrs array below live in the same allocation.
	 */
	char *doc;
	size_t doc_len;
	const char *id;
	const char *category;
	const char *unit;
	size_t unit_len;
	const char *title;
	const char *dedup_key; /* NULL if absent */
	enum channel channel;
	enum severity severity;
	int64_t reported_at; /* ms since epoch */
	int64_t due_at;      /* TIME_NONE if absent */
	/*
	 * The "attrs" members in input order, then an entry whose key is
	 * NULL; NULL when there is no "attrs" field (an empty object gives
	 * just the NULL entry).
	 */
	struct incident_attr *attrs;
	size_t nattrs;
};

/*
 * Parse buf[0..len). On success fills out (free with incident_free) and
 * returns 0; the document then has id, channel, severity and reported_at
 * set, times rewritten as UTC with milliseconds, every other member kept
 * as given (its text, minus whitespace between tokens), in input order,
 * the defaults that were absent appended in the order id, channel,
 * severity, reported_at. Default id: "<channel>-<entry_id>", or
 * "<channel>-<reported_at ms>" without an entry. On failure returns -1
 * with rj filled, in SPEC §8 order: too_large, invalid_json,
 * missing_field/invalid_field, channel_mismatch. What is valid JSON is
 * what Jansson (JSON_REJECT_DUPLICATES) accepts: see jscan.h.
 */
int incident_parse(const char *buf, size_t len, const struct incident_ctx *ctx,
                   struct incident *out, struct rejection *rj);
void incident_free(struct incident *inc);

/*
 * A stored document doc[0..len) with its "unit" and "category" replaced
 * (NULL: kept), appended to out, the other members as they are (a
 * redispatch, SPEC §5). unit and category must be valid ids. 0, or -1
 * when doc is not a JSON object.
 */
int incident_doc_replace(const char *doc, size_t len, const char *unit, const char *category,
                         struct buf *out);

/* SPEC §5, in its table's order. */
enum cmd_op {
	OP_ACK,
	OP_RESOLVE,
	OP_ESCALATE,
	OP_REASSIGN,
	OP_COMMENT,
	OP_RETURN,
	OP_REDISPATCH,
	OP_CANCEL,
	OP_EXTEND,
	OP_APPROVE,
	OP_DENY,
	OP_PARK,
	OP_UNPARK,
	OP_VERIFY,
	OP_REOPEN,
	OP_URGE,
	OP__COUNT
};

const char *cmd_op_name(enum cmd_op op);
int cmd_op_parse(const char *s, enum cmd_op *out);

struct command {
	/*
	 * The command as given (JSON text, NUL-terminated); owned. The
	 * strings below are decoded into the same allocation.
	 */
	char *doc;
	size_t doc_len;
	enum cmd_op op;
	const char *incident;
	const char *by;
	const char *note;     /* NULL if absent */
	const char *level;    /* NULL if absent */
	const char *unit;     /* redispatch; NULL if absent */
	const char *category; /* redispatch; NULL if absent */
	int64_t until;        /* extend, park: ms, TIME_NONE if absent */
	const char *for_text; /* extend, park: the duration as written, NULL if absent */
	struct wdur for_dur;  /* for_text read against the rules (route_command_check) */
	int passed;           /* verify: 1 or 0; -1 if absent */
};

/*
 * Parse a command (SPEC §5, §8 order): too_large, invalid_json,
 * missing_field (op, incident, by), invalid_field (their form), unknown_op,
 * then the op's own fields: missing_field (level for reassign, a note that
 * is not empty for return, cancel, extend, park and reopen, until or for
 * for extend, passed for verify), invalid_field (the form of note, level,
 * unit, category, until, for, passed; until and for together). Whether the
 * level and category exist and what "for" is worth are the rules'
 * business (route_command_check).
 */
int command_parse(const char *buf, size_t len, size_t max_bytes, struct command *out,
                  struct rejection *rj);
void command_free(struct command *cmd);

#endif
