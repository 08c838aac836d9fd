/*
 * reason.h: the dead-letter reason codes of SPEC §8 and the rejection that
 * carries one with its human sentence.
 */
#ifndef GR_REASON_H
#define GR_REASON_H

#include "util.h"

#define REASON_LIST(X)                                                                             \
	X(TOO_LARGE, "too_large")                                                                  \
	X(MISSING_PAYLOAD, "missing_payload")                                                      \
	X(INVALID_JSON, "invalid_json")                                                            \
	X(INVALID_FIELD, "invalid_field")                                                          \
	X(MISSING_FIELD, "missing_field")                                                          \
	X(UNKNOWN_CATEGORY, "unknown_category")                                                    \
	X(UNKNOWN_UNIT, "unknown_unit")                                                            \
	X(CHANNEL_MISMATCH, "channel_mismatch")                                                    \
	X(NO_POLICY, "no_policy")                                                                  \
	X(NO_ASSIGNEE, "no_assignee")                                                              \
	X(UNKNOWN_INCIDENT, "unknown_incident")                                                    \
	X(NOT_AUTHORIZED, "not_authorized")                                                        \
	X(INVALID_TRANSITION, "invalid_transition")                                                \
	X(UNKNOWN_OP, "unknown_op")                                                                \
	X(MAX_DELIVERIES, "max_deliveries")                                                        \
	X(ID_CONFLICT, "id_conflict")

enum reason {
	REASON_NONE = 0,
#define X(name, code) REASON_##name,
	REASON_LIST(X)
#undef X
	        REASON__COUNT
};

#define REJECT_MSGSZ 512

struct rejection {
	enum reason reason;
	char msg[REJECT_MSGSZ]; /* one sentence naming the field, or line and column */
};

const char *reason_code(enum reason r); /* "invalid_field"; "" for REASON_NONE */
int reason_parse(const char *code, enum reason *out);

/* Fills rj and returns -1, so that callers can "return reject(...)". */
int reject(struct rejection *rj, enum reason r, const char *fmt, ...) GR_PRINTF(3, 4);

#endif
