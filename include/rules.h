/*
 * rules.h: the escalation rules (SPEC §3) as one immutable object. It is
 * built whole from the YAML file and only then handed out; a reload builds
 * a new one and swaps it in if it is clean. Everything is indexed so that
 * routing an incident costs O(unit depth), never O(units) or O(people).
 */
#ifndef GR_RULES_H
#define GR_RULES_H

#include "calendar.h"
#include "diag.h"
#include "htab.h"
#include "incident.h"

#define RULES_MAX_LEVELS 9

/*
 * A list of people, as indexes into rules.people. In the lists as written
 * (roles), "schedule:NAME" is the id RULES_SCHED_ID(the schedule's index);
 * the lists routing hands out (route.h) hold people only.
 */
struct rules_plist {
	const int *ids;
	size_t n;
};

#define RULES_SCHED_ID(i)  (-1 - (int)(i))
#define RULES_SCHED_OF(id) (-1 - (id))
/* The schedules one list may name, and the combinations of their states. */
#define RULES_MAX_SCHED_PER_LIST 8
#define RULES_MAX_SCHED_COMBOS   4096

struct schedule;

struct rules_level {
	char *key;
	char *name;
	char *unit_kind; /* the kind of unit whose people serve this level */
	char *role;
	int kind;     /* index into rules.kinds */
	int role_idx; /* index into rules.roles, -1 if no unit has this role */
};

struct rules_category {
	char *key;
	char *name;
};

struct rules_person {
	char *id;
	char *name;
	char **notify;
	size_t nnotify;
	bool admin;
};

struct rules_override {
	int category;
	struct rules_plist people; /* may be empty: "an explicit empty list means nobody" */
};

/* One role of one unit: roles[R] in the YAML. */
struct rules_rolemap {
	int role; /* index into rules.roles */
	bool has_default;
	struct rules_plist dflt;
	struct rules_override *over;
	size_t nover;
};

struct rules_unit {
	char *id;
	char *name;
	int kind;   /* index into rules.kinds */
	int parent; /* index into rules.units, -1 for a root */
	int depth;  /* 1 for a root */
	size_t nchildren;
	struct rules_rolemap *roles;
	size_t nroles;
	int line, col; /* where the unit is defined, for diagnostics */
};

struct rules_attr {
	char *key;
	char **values; /* any of */
	size_t nvalues;
};

/* A duration as the rules give it: its value, and its text as written ("1wh"). */
struct rules_dur {
	struct wdur d;
	char *text;
};

struct rules_policy {
	char *name;
	/* match; an empty set means "any" */
	unsigned channels;   /* bit 1 << enum channel */
	unsigned severities; /* bit 1 << enum severity */
	int *categories;
	size_t ncategories;
	char **units; /* segment-wise prefixes of the reported unit */
	size_t nunits;
	struct rules_attr *attrs;
	size_t nattrs;
	bool catch_all; /* no match key at all */

	int start_level;
	struct rules_dur *ack; /* per level from start_level; a short list repeats its last */
	size_t nack;
	struct rules_dur *resolve;
	size_t nresolve;
	int *co_roles; /* indexes into rules.roles */
	size_t nco;

	/* the case workflow (SPEC §3.3); a duration's text is NULL when the key is absent */
	struct rules_dur close_within;  /* the whole case's limit, from creation */
	int verify_role;                /* 核查 before 结案: index into rules.roles, -1: none */
	struct rules_dur verify_within; /* with verify_role */
	struct rules_dur review_within; /* how long the dispatchers have for a returned case */
	int max_extensions;             /* default 1 */
	int dispatch_role;              /* the dispatchers' role, -1: the admins */
};

struct rules {
	char *path;

	struct calendar *calendar;  /* NULL without a calendar: section */
	const struct tz *tz;        /* the rules' zone: the calendar's, else Asia/Shanghai */
	struct tz *own_tz;          /* tz when there is no calendar */
	struct schedule *schedules; /* duty rosters (schedule.h) */
	size_t nschedules;
	struct htab schedule_index; /* name -> index */

	struct rules_level levels[RULES_MAX_LEVELS];
	size_t nlevels;
	struct rules_category *categories;
	size_t ncategories;
	struct rules_person *people;
	size_t npeople;
	struct rules_plist admins; /* the people with admin: true, in file order */
	int *admin_ids;            /* admins.ids' storage */
	struct rules_unit *units;
	size_t nunits;
	struct rules_policy *policies;
	size_t npolicies;
	char **roles; /* every role name some unit has, interned */
	size_t nroles;
	char **kinds; /* every unit kind, interned */
	size_t nkinds;

	struct htab unit_index;     /* unit id -> index */
	struct htab person_index;   /* person id -> index */
	struct htab category_index; /* category key -> index */
	struct htab level_index;    /* level key -> index */
	struct htab role_index;     /* role name -> index */
	struct htab policy_index;   /* policy name -> index */

	/*
	 * Policies by the unit prefix they match: policy_buckets[b] lists, in
	 * file order, the policies naming prefix b (bucket_index maps the
	 * prefix to b); policy_anyunit lists those without a unit key.
	 */
	struct htab bucket_index;
	struct {
		int *v;
		size_t n;
	} * policy_buckets, policy_anyunit;
	size_t nbuckets;

	/* Storage: every people list's ids in one array (rules_plist.ids point into it), */
	int *pids;
	size_t npids;
	/* and the units' and people's strings and small arrays in a few big blocks. */
	struct rules_chunk *chunks;

	/* Routing tables (route.c), built once the file has loaded clean. */
	struct route_index *route;
};

/* A clock duration in its shortest form ("1h30m"), a working one as written ("1wd4wh"). */
const char *rules_dur_text(const struct rules_dur *d, char out[DUR_BUFSZ]);

/*
 * The date the loader counts the calendar's coverage from: $GRIDROUTE_TODAY
 * (YYYY-MM-DD) when set, for tests and for checking a file as of a date;
 * else INT64_MIN, today.
 */
int64_t rules_today(void);

/*
 * Load and validate a rules file. Every error and warning goes to d (file
 * named as given). Returns the rules if there was no error (warnings are
 * allowed), else NULL. The caller frees with rules_free.
 */
struct rules *rules_load(const char *path, struct diags *d);
struct rules *rules_load_buf(const char *name, const char *buf, size_t len, struct diags *d);
void rules_free(struct rules *r);

/* "5 levels, 9 categories, 14 units, 22 people, 6 policies" into out. */
void rules_summary(const struct rules *r, char *out, size_t outsz);

/* Lookups by key; -1 when absent. */
int rules_schedule(const struct rules *r, const char *name);
int rules_unit(const struct rules *r, const char *id, size_t len);
int rules_person(const struct rules *r, const char *id);
int rules_category(const struct rules *r, const char *key);
int rules_level(const struct rules *r, const char *key);
int rules_role(const struct rules *r, const char *name);
int rules_policy(const struct rules *r, const char *name);

/* The nearest unit of kind k on the path from unit u to the root, or -1. */
int rules_nearest_kind(const struct rules *r, int u, int kind);

/*
 * The people unit u has for role (index into rules.roles) and category:
 * roles[R][category] if present (it may be empty: nobody), else
 * roles[R].default. Returns false when the unit has neither.
 */
bool rules_unit_people(const struct rules *r, int u, int role, int cat, struct rules_plist *out);

#endif
