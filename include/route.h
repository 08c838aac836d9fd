/*
 * route.h: routing as pure functions of (rules, incident) — unit
 * resolution with deepest-prefix fallback, first-match policy selection,
 * the chain of levels with its assignees, per-level deadlines, and the
 * SPEC §5 authorization of commands. No I/O here.
 */
#ifndef GR_ROUTE_H
#define GR_ROUTE_H

#include "rules.h"

#define ROUTE_MAX_CO 16 /* co_assign roles per policy (rules.c enforces it) */

struct route_level {
	bool vacant;
	int unit; /* the unit serving this level (nearest of the level's kind), -1 if none */
	struct rules_plist assignees;
};

/* Who serves an incident of one unit and category, at every level. */
struct route_chain {
	int unit;
	int category;
	size_t nlevels; /* = rules.nlevels */
	struct route_level levels[RULES_MAX_LEVELS];
	/* co-assignees: one people list per co_assign role that some unit above has */
	struct rules_plist co[ROUTE_MAX_CO];
	size_t nco;
};

struct route_result {
	int policy;
	int unit;      /* resolved (configured) unit */
	bool fallback; /* the reported unit itself is not configured */
	int category;
	int level; /* first non-vacant level from the policy's start_level */
	struct route_chain chain;
};

/*
 * The deepest configured unit that is a segment-wise prefix of unit[0..len),
 * or -1. *fallback tells whether it is a proper prefix.
 */
int route_resolve_unit(const struct rules *r, const char *unit, size_t len, bool *fallback);

/* The first policy whose match holds for inc (of category index cat), or -1. */
int route_match(const struct rules *r, const struct incident *inc, int cat);

/*
 * The time at which route_chain, route_co and route_people read the lists
 * as written: a "schedule:NAME" entry is then the id RULES_SCHED_ID(its
 * index), not a person (gridctl diff compares the lists so).
 */
#define ROUTE_AS_WRITTEN INT64_MIN

/*
 * The chain for (unit, category) at instant t: schedule entries of the
 * lists (SPEC §3.2) are the people on duty at t, so vacancy depends on t.
 * Co-assignees from pol's co_assign (pol may be NULL). The lists point
 * into the rules (never into out): a copy of the chain stays valid as
 * long as the rules do.
 */
void route_chain(const struct rules *r, int unit, int cat, const struct rules_policy *pol,
                 int64_t t, struct route_chain *out);

/*
 * The co-assignees that route_chain gives for one role (index into
 * rules.roles) at t: the people of the nearest unit from unit up having
 * the role, for category cat; empty if none. Any role of any unit works
 * (verify and dispatch roles too), co-assigned by some policy or not.
 */
struct rules_plist route_co(const struct rules *r, int unit, int role, int cat, int64_t t);

/*
 * A people list of the rules as written (a rolemap's default or
 * per-category list) read at t: itself when it names no schedule, else the
 * people on duty at t, each once, in the rules' storage.
 */
struct rules_plist route_people(const struct rules *r, struct rules_plist written, int64_t t);

/*
 * The routing tables of r (struct rules.route): per unit, who serves each
 * level, the policies its id prefixes name and the nearest unit of each
 * co_assign role, so that routing walks no parents and scans no roles.
 * rules.c builds them once a file has loaded clean; rules_free frees them.
 */
void route_index_build(struct rules *r);
void route_index_free(struct route_index *ix);

/*
 * Whether route_chain's levels[lvl] is vacant at every time (in every
 * slot and override of the schedules its list names), for checking every
 * unit and category; *sometimes (when not NULL): vacant during some of them only.
 */
bool route_vacant(const struct rules *r, int unit, int lvl, int cat, bool *sometimes);

/*
 * route_vacant for every category at once, with at most 64 of them: bit c
 * set when category c is vacant always; in *sometimes (when not NULL),
 * bit c when it is vacant during some slot or override only.
 */
uint64_t route_vacant_cats(const struct rules *r, int unit, int lvl, uint64_t *sometimes);

/* The first non-vacant level at or above from, or -1. */
int route_first(const struct route_chain *c, int from);
/* The next non-vacant level above from, or -1. */
int route_next(const struct route_chain *c, int from);

/*
 * Route a parsed incident at instant t (the people on duty then):
 * unknown_category, unknown_unit, no_policy, no_assignee (SPEC §8 order).
 * Returns 0 and fills out, or -1 and rj.
 */
int route_incident(const struct rules *r, const struct incident *inc, int64_t t,
                   struct route_result *out, struct rejection *rj);

/* Durations of policy p for level index lvl (SPEC §3 "Durations per level"). */
const struct rules_dur *route_ack_within(const struct rules *r, const struct rules_policy *p,
                                         int lvl);
const struct rules_dur *route_resolve_within(const struct rules *r, const struct rules_policy *p,
                                             int lvl);

/*
 * Deadlines of an assignment to lvl at time t, in clock or working time
 * (calendar_deadline). due_at (TIME_NONE if none) caps the resolve
 * deadline: pass it for the first assignment only.
 */
void route_deadlines(const struct rules *r, const struct rules_policy *p, int lvl, int64_t t,
                     int64_t due_at, int64_t *ack, int64_t *resolve);

/* The states of SPEC §6. */
enum inc_state {
	STATE_OPEN,
	STATE_ACKED,
	STATE_VERIFYING,
	STATE_RETURNED,
	STATE_PARKED,
	STATE_RESOLVED,
	STATE_CANCELLED,
	STATE__COUNT
};

const char *inc_state_name(enum inc_state s);
int inc_state_parse(const char *s, enum inc_state *out);

/*
 * The part of the §8 "the op's own fields" check that needs the rules:
 * reassign's level must be a level key, a working "for" needs a calendar
 * (invalid_field); fills cmd->for_dur. Returns 0 or -1 with rj.
 */
int route_command_check(const struct rules *r, struct command *cmd, struct rejection *rj);

#endif
