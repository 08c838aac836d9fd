/*
 * schedule.c: duty rosters (SPEC §3.2) — loading `schedules:` and who is
 * on duty at an instant.
 *
 * A slot lasts from the handoff on one local date to the handoff on the
 * next (or seven dates later, weekly). Slots are counted in local dates
 * from start, not in milliseconds, so that a change of the clocks never
 * moves a handoff: duty day d begins at the instant local date d shows the
 * handoff time (tz_utc's rule when that time is skipped or repeated).
 */
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

#define NAME_FORM "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* The instant duty day d begins. */
static int64_t day_begins(const struct schedule *s, const struct tz *z, int64_t d)
{
	return tz_utc(z, d * DAY_MS + s->handoff);
}

/* The duty day t falls in: day_begins(d) <= t < day_begins(d + 1). */
static int64_t duty_day(const struct schedule *s, const struct tz *z, int64_t t)
{
	int64_t d = floordiv(tz_local(z, t) - s->handoff, DAY_MS);

	if (day_begins(s, z, d) > t)
		d--;
	else if (day_begins(s, z, d + 1) <= t)
		d++;
	return d;
}

uint32_t schedule_state(const struct schedule *s, const struct tz *z, int64_t t)
{
	for (size_t k = s->nover; k-- > 0;) {
		if (s->over[k].from <= t && t < s->over[k].to)
			return (uint32_t)(1 + s->nslots + k);
	}
	int64_t n = duty_day(s, z, t) - s->start;
	if (n < 0 || s->nslots == 0)
		return SCHED_NONE;
	if (s->weekly)
		n /= 7;
	return (uint32_t)(1 + (size_t)(n % (int64_t)s->nslots));
}

struct rules_plist schedule_people(const struct schedule *s, uint32_t state)
{
	struct rules_plist none = {NULL, 0};

	if (state == SCHED_NONE || state >= schedule_nstates(s))
		return none;
	if (state <= s->nslots)
		return s->slots[state - 1];
	return s->over[state - 1 - s->nslots].people;
}

const char *schedule_note(const struct schedule *s, uint32_t state)
{
	if (state <= s->nslots || state >= schedule_nstates(s))
		return NULL;
	const char *note = s->over[state - 1 - s->nslots].note;
	return note != NULL ? note : "override";
}

int64_t schedule_next_change(const struct schedule *s, const struct tz *z, int64_t t)
{
	int64_t d = duty_day(s, z, t), next;

	if (d < s->start)
		next = s->start;
	else if (s->weekly)
		next = s->start + 7 * ((d - s->start) / 7 + 1);
	else
		next = d + 1;
	int64_t best = day_begins(s, z, next);
	for (size_t k = 0; k < s->nover; k++) {
		const struct sched_override *o = &s->over[k];
		if (o->from > t && o->from < best)
			best = o->from;
		if (o->to > t && o->to < best)
			best = o->to;
	}
	return best;
}

void schedule_free(struct schedule *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].name);
		for (size_t k = 0; k < s[i].nslots; k++)
			free((void *)(uintptr_t)s[i].slots[k].ids);
		for (size_t k = 0; k < s[i].nover; k++) {
			free((void *)(uintptr_t)s[i].over[k].people.ids);
			free(s[i].over[k].note);
		}
		free(s[i].slots);
		free(s[i].over);
	}
	free(s);
}

/* ---- loading ---- */

struct loader {
	struct ydoc *y;
	struct rules *r;
	bool *referenced;
};

/* A list of people ids: unknown and repeated ones are errors. */
static void read_people(struct loader *L, const struct ynode *n, struct rules_plist *out)
{
	struct ydoc *y = L->y;
	int *ids;
	size_t cnt = 0;

	out->ids = NULL;
	out->n = 0;
	if (ydoc_expect_seq(y, n) < 0)
		return;
	ids = xcalloc(ydoc_len(n) + 1, sizeof(*ids));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *item = ydoc_item(y, n, i);
		size_t o = ydoc_push_index(y, i);
		const char *id;
		if (ydoc_str(y, item, &id) == 0) {
			int p = rules_person(L->r, id);
			bool dup = false;
			for (size_t k = 0; k < cnt && p >= 0; k++)
				dup = dup || ids[k] == p;
			if (p < 0)
				ydoc_error(y, item, "unknown person \"%s\"", id);
			else if (dup)
				ydoc_error(y, item, "person \"%s\" is listed twice", id);
			else {
				ids[cnt++] = p;
				L->referenced[p] = true;
			}
		}
		ydoc_pop(y, o);
	}
	out->ids = ids;
	out->n = cnt;
}

/* A local time of the rules' zone ("2026-02-15T08:00"), or RFC 3339 with an offset. */
static int parse_when(const char *s, size_t len, const struct tz *z, int64_t *out)
{
	int64_t day, hm;

	if (len >= 16 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
	    calendar_parse_date(s, 10, &day) == 0 &&
	    calendar_parse_hhmm(s + 11, 5, false, &hm) == 0) {
		int64_t sec = 0;
		if (len == 19 && s[16] == ':' && s[17] >= '0' && s[17] <= '5' && s[18] >= '0' &&
		    s[18] <= '9')
			sec = (s[17] - '0') * 10 + (s[18] - '0');
		else if (len != 16)
			return time_parse_rfc3339(s, len, out);
		*out = tz_utc(z, day * DAY_MS + hm + sec * 1000);
		return 0;
	}
	return time_parse_rfc3339(s, len, out);
}

static int read_when(struct loader *L, const struct ynode *n, int64_t *out)
{
	const char *s;

	if (ydoc_str(L->y, n, &s) < 0)
		return -1;
	if (parse_when(s, n->len, L->r->tz, out) < 0) {
		ydoc_error(
		        L->y, n,
		        "invalid time \"%s\": expected a local time such as 2026-02-15T08:00, or "
		        "RFC 3339 with an offset such as 2026-02-15T08:00:00+08:00",
		        s);
		return -1;
	}
	return 0;
}

static void read_override(struct loader *L, const struct ynode *n, struct schedule *s)
{
	static const char *const keys[] = {"from", "to", "people", "note"};
	static const char *const required[] = {"from", "to", "people", NULL};
	struct ydoc *y = L->y;
	const struct ynode *v[4];
	struct sched_override ov = {0, 0, {NULL, 0}, NULL};
	bool ok = true;

	if (ydoc_fields(y, n, keys, 4, required, v) < 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		if (v[i] == NULL) {
			ok = false;
			continue;
		}
		size_t o = ydoc_push_key(y, keys[i]);
		ok = read_when(L, v[i], i == 0 ? &ov.from : &ov.to) == 0 && ok;
		ydoc_pop(y, o);
	}
	if (ok && ov.from >= ov.to) {
		size_t o = ydoc_push_key(y, "to");
		ydoc_error(y, v[1], "the override ends (%s) before it begins (%s)",
		           ydoc_text(y, v[1]), ydoc_text(y, v[0]));
		ydoc_pop(y, o);
	}
	if (v[3] != NULL) {
		const char *note;
		size_t o = ydoc_push_key(y, "note");
		if (ydoc_str(y, v[3], &note) == 0)
			ov.note = xstrdup(note);
		ydoc_pop(y, o);
	}
	if (v[2] != NULL) {
		size_t o = ydoc_push_key(y, "people");
		read_people(L, v[2], &ov.people);
		ydoc_pop(y, o);
	}
	s->over[s->nover++] = ov;
}

static void read_slots(struct loader *L, const struct ynode *n, struct schedule *s)
{
	struct ydoc *y = L->y;

	if (ydoc_expect_seq(y, n) < 0)
		return;
	if (ydoc_len(n) == 0)
		ydoc_error(y, n, "expected at least one slot (a list of people)");
	s->slots = xcalloc(ydoc_len(n) + 1, sizeof(*s->slots));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *item = ydoc_item(y, n, i);
		size_t o = ydoc_push_index(y, i);
		read_people(L, item, &s->slots[s->nslots++]);
		if (item->type == YNODE_SEQ && ydoc_len(item) == 0)
			ydoc_warn(y, item,
			          "slot %zu of schedule \"%s\" is empty: the schedule gives nobody "
			          "while it is on",
			          i + 1, s->name);
		ydoc_pop(y, o);
	}
}

static void read_handoff(struct loader *L, const struct ynode *n, struct schedule *s)
{
	const char *str;

	if (ydoc_str(L->y, n, &str) == 0 &&
	    calendar_parse_hhmm(str, n->len, false, &s->handoff) < 0)
		ydoc_error(L->y, n, "invalid handoff \"%s\": expected HH:MM from 00:00 to 23:59",
		           str);
}

static void read_rotation(struct loader *L, const struct ynode *n, struct schedule *s)
{
	const char *str;

	if (ydoc_str(L->y, n, &str) < 0)
		return;
	s->weekly = strcmp(str, "weekly") == 0;
	if (!s->weekly && strcmp(str, "daily") != 0)
		ydoc_error(L->y, n, "unknown rotation \"%s\": expected daily or weekly", str);
}

static void read_start(struct loader *L, const struct ynode *n, struct schedule *s)
{
	const char *str;

	if (ydoc_str(L->y, n, &str) == 0 && calendar_parse_date(str, n->len, &s->start) < 0)
		ydoc_error(L->y, n, "invalid date \"%s\": expected YYYY-MM-DD from 1970 to 9999",
		           str);
}

static void read_overrides(struct loader *L, const struct ynode *n, struct schedule *s)
{
	if (ydoc_expect_seq(L->y, n) < 0)
		return;
	s->over = xcalloc(ydoc_len(n) + 1, sizeof(*s->over));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		size_t o = ydoc_push_index(L->y, i);
		read_override(L, ydoc_item(L->y, n, i), s);
		ydoc_pop(L->y, o);
	}
}

/* The keys of a schedule and their readers, in this order. */
static const struct {
	const char *key;
	void (*read)(struct loader *L, const struct ynode *n, struct schedule *s);
} fields[] = {
        {"handoff", read_handoff}, {"rotation", read_rotation},   {"start", read_start},
        {"slots", read_slots},     {"overrides", read_overrides},
};

static void load_one(struct ydoc *y, const char *name, const struct ynode *knode,
                     const struct ynode *val, void *arg)
{
	static const char *const keys[] = {"handoff", "rotation", "start", "slots", "overrides"};
	static const char *const required[] = {"start", "slots", NULL};
	struct loader *L = arg;
	struct rules *r = L->r;
	const struct ynode *v[GR_NELEM(keys)];

	if (!person_id_valid(name, knode->len)) {
		ydoc_error(y, knode, "invalid schedule name \"%s\": expected %s", name, NAME_FORM);
		return;
	}
	struct schedule *s = &r->schedules[r->nschedules];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->line = (int)knode->line;
	s->col = (int)knode->col;
	htab_put(&r->schedule_index, s->name, knode->len, (int)r->nschedules);
	r->nschedules++;
	if (ydoc_fields(y, val, keys, GR_NELEM(keys), required, v) < 0)
		return;
	for (size_t i = 0; i < GR_NELEM(fields); i++) {
		if (v[i] == NULL)
			continue;
		size_t o = ydoc_push_key(y, fields[i].key);
		fields[i].read(L, v[i], s);
		ydoc_pop(y, o);
	}
}

void schedule_load(struct ydoc *y, const struct ynode *n, struct rules *r, bool *referenced)
{
	struct loader L = {y, r, referenced};

	if (ydoc_expect_map(y, n) < 0)
		return;
	r->schedules = xcalloc(ydoc_len(n) + 1, sizeof(*r->schedules));
	htab_free(&r->schedule_index);
	htab_init(&r->schedule_index, ydoc_len(n));
	ydoc_each_pair(y, n, load_one, &L);
}
