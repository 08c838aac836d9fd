/*
 * schedule.h: duty rosters (值班表, SPEC §3.2). A schedule hands over from
 * one slot of people to the next at a local time of day, daily or weekly,
 * from a start date on, and dated overrides replace the slot's people for
 * a while (holidays, swaps). People lists of the rules name a schedule as
 * "schedule:NAME": the people on duty at the moment the list is read.
 *
 * What a schedule gives at an instant is its *state*: nobody before its
 * start (SCHED_NONE), one of its slots, or one of its overrides. The
 * routing tables (route.c) keep a people list for each state, so that
 * reading a list at t costs the state's computation, not a merge.
 */
#ifndef GR_SCHEDULE_H
#define GR_SCHEDULE_H

#include "rules.h"

#define SCHED_NONE 0u /* the state before start: nobody */

/* Replaces the slot's people for [from, to). */
struct sched_override {
	int64_t from, to;
	struct rules_plist people;
	char *note; /* NULL when the override has none */
};

struct schedule {
	char *name;
	int64_t handoff; /* ms after local midnight: when one slot hands over to the next */
	bool weekly;     /* slots last a week; else a day */
	int64_t start;   /* day number: the first slot begins at handoff on this date */
	struct rules_plist *slots;
	size_t nslots;
	struct sched_override *over; /* in file order: the last that holds wins */
	size_t nover;
	bool referenced; /* some people list names it */
	int line, col;   /* where it is defined */
};

/*
 * The rules' `schedules:` mapping n, into r->schedules (and
 * r->schedule_index), its times read in r->tz. People must be loaded;
 * those the schedules name are marked in referenced. Every mistake and
 * the empty-slot warnings go to y's diagnostics.
 */
void schedule_load(struct ydoc *y, const struct ynode *n, struct rules *r, bool *referenced);
void schedule_free(struct schedule *s, size_t n);

/* How many states s has: SCHED_NONE, each slot (1 + i), each override (1 + nslots + k). */
static inline uint32_t schedule_nstates(const struct schedule *s)
{
	return (uint32_t)(1 + s->nslots + s->nover);
}

/* The state of s at instant t, local times in zone z. */
uint32_t schedule_state(const struct schedule *s, const struct tz *z, int64_t t);

/* The people of a state (nobody for SCHED_NONE). */
struct rules_plist schedule_people(const struct schedule *s, uint32_t state);

/* The note of a state: an override's note, "override" for one without; NULL for a slot. */
const char *schedule_note(const struct schedule *s, uint32_t state);

/*
 * The first instant after t at which the state of s may change: the next
 * handoff, or the next start or end of an override. INT64_MAX if none.
 */
int64_t schedule_next_change(const struct schedule *s, const struct tz *z, int64_t t);

#endif
