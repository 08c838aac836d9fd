/*
 * route.c: the routing decisions of SPEC §3 and §5 as pure functions of the
 * rules and one incident or command — which configured unit serves a
 * reported unit, which policy matches first, who serves each level of the
 * chain, the deadlines of a level, and whether a command may be applied.
 * Every lookup goes through the rules' hash indexes, so that the cost is
 * O(unit depth), not O(units) or O(policies).
 *
 * Routing a million incidents a second over 100,000 units is a matter of
 * cache misses more than of instructions, so the tables built at load
 * time (struct route_index) answer each question from one small record
 * per unit: the unit id is hashed once for all its prefixes, the record
 * names who serves every level and which policies its prefixes name, and
 * the people of a level for a category are one 8-byte slot away. The
 * plain walks over the rules model remain for what the tables do not
 * cover (a reported unit deeper than any configured one can be, a role
 * that no policy co-assigns).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"
#include "schedule.h"

/* Peer-supplied keys appear in rejection sentences: keep them printable and short. */
#define SAFE_MAX 64

static const char *safe(const char *s, char out[SAFE_MAX + 4])
{
	size_t i = 0;

	for (; s[i] != '\0' && i < SAFE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

#define NONE UINT32_MAX

/* A people list in the tables: rules.pids[off .. off + n). */
struct pslot {
	uint32_t off;
	uint32_t n;
};

/* A policy's channel, severity and category keys as bit sets; all bits for "any". */
struct pfilter {
	uint8_t channels;
	uint8_t severities;
	uint8_t attrs; /* it has attrs, checked on the incident */
	uint8_t unused[5];
	uint64_t cats;
};

/*
 * The record of unit u is rec[u * words ..], words a power of two (16 for
 * five levels: one cache line):
 *   [l]               the unit serving level l (nearest of its kind), NONE if none
 *   [nlevels + l]     that unit's slot for level l in lvl: the people for
 *                     category c are lvl[slot + c * lstride[l]], NONE if none
 *   [2 nlevels]       its policy set: the policies that its id's prefixes name
 *   [2 nlevels + 1 + k]  the row, in co, of the nearest unit from u up having
 *                     co_assign role k, NONE if none
 * A unit's level slots are laid out category by category, the levels of its
 * kind side by side, so that a grid's member and leader are one line apart
 * at most.
 *
 * Policy sets: set 0 is empty; each unit that a policy names has a set of
 * its own, its parent's and its bucket merged, in sets[s] (offset and count
 * in lists). With at most 64 categories, cand gives for each set and each
 * (channel, severity, category) key the policies that can match, those
 * without a unit key too, in file order up to the first without attrs
 * (which always holds): matching an incident is a look at one or two.
 */
struct route_index {
	size_t nlevels, ncats, nroles;
	size_t words;
	uint32_t *rec;
	uint32_t lstride[RULES_MAX_LEVELS];
	struct pslot *lvl;
	struct pslot *co; /* ncats slots per row */
	int *co_slot;     /* per role: k, or -1 if no policy co-assigns it */
	size_t nco;
	struct pslot *sets;
	size_t nsets;
	int *lists;
	struct pfilter *pf; /* per policy */
	bool fast;          /* at most 64 categories: pfilter.cats and the tables below */
	/* per key, the policies without a unit key as cand has them: offset, count in anyp */
	struct pslot *any;
	int *anyp;
	struct pslot *cand; /* per set and key: offset, count in candp; NULL when too big */
	int *candp;
	/* the categories by a hash of a few of their bytes; -1 none, -2 look in the index */
	int16_t cat_slot[256];
	/*
	 * People lists that name schedules (SPEC §3.2). A table slot of such a
	 * list is {dyn, PS_DYN}: dyn[d] has its people for every combination of
	 * its schedules' states, so that reading it at t is computing the
	 * states and one lookup. Empty without schedules.
	 */
	struct dyn *dyn;
	size_t ndyn;
	uint32_t *dyn_of;   /* per offset in rules.pids: 1 + the dyn of the list there; 0 none */
	int *dsched;        /* the schedules of each dyn */
	struct pslot *dset; /* per dyn and combination: its people, in xids */
	size_t ndset;
	int *xids;
};

#define PS_DYN UINT32_MAX /* pslot.n of a list naming schedules; its off is the dyn */

struct dyn {
	struct pslot written;   /* the list as written, in rules.pids */
	uint32_t sched, nsched; /* its schedules: dsched[sched .. sched + nsched) */
	uint32_t set;           /* its people per combination: dset[set ..] */
	bool always_vacant;     /* nobody in any slot or override */
	bool sometimes_vacant;  /* nobody in some */
};

#define REC(ix, u)   ((ix)->rec + (size_t)(u) * (ix)->words)
#define R_LVL(ix, l) ((ix)->nlevels + (size_t)(l))
#define R_SET(ix)    (2 * (ix)->nlevels)
#define R_CO(ix, k)  (2 * (ix)->nlevels + 1 + (size_t)(k))
#define NKEYS(ix)    ((size_t)CH__COUNT * SEV__COUNT * (ix)->ncats)

/* The candidate lists of a (channel, severity, category). */
static size_t key_of(const struct route_index *ix, int ch, int sev, size_t cat)
{
	return ((size_t)ch * SEV__COUNT + (size_t)sev) * ix->ncats + cat;
}

/* At most this many candidate lists (sets times keys); beyond, sets are scanned. */
#define MAX_CAND (1u << 20)

/* The segment prefixes of a reported unit, shortest first, the whole id last. */
struct prefixes {
	size_t n;
	size_t len[UNIT_ID_MAX_DEPTH];
	uint64_t hash[UNIT_ID_MAX_DEPTH];
};

/* One pass gives the hash of every prefix. False when there are too many for px. */
static bool prefixes(const char *unit, size_t len, struct prefixes *px)
{
	px->n = htab_hash_prefixes(unit, len, '/', px->len, px->hash, UNIT_ID_MAX_DEPTH);
	return px->n > 0;
}

/* The deepest configured prefix: its unit, and its place in px in *at; -1 if none. */
static int resolve_px(const struct rules *r, const char *unit, const struct prefixes *px,
                      size_t *at)
{
	for (size_t k = px->n; k-- > 0;) {
		int u = htab_get_hashed(&r->unit_index, unit, px->len[k], px->hash[k]);
		if (u >= 0) {
			*at = k;
			return u;
		}
	}
	return -1;
}

/* The walk the tables stand for: drop one segment at a time. */
static int resolve_slow(const struct rules *r, const char *unit, size_t len, bool *fallback)
{
	size_t n = len;

	*fallback = false;
	for (;;) {
		int u = rules_unit(r, unit, n);
		if (u >= 0)
			return u;
		while (n > 0 && unit[n - 1] != '/')
			n--;
		if (n == 0)
			return -1;
		n--; /* drop the '/' */
		*fallback = true;
	}
}

int route_resolve_unit(const struct rules *r, const char *unit, size_t len, bool *fallback)
{
	struct prefixes px;
	size_t at;
	int u;

	if (!prefixes(unit, len, &px))
		return resolve_slow(r, unit, len, fallback);
	u = resolve_px(r, unit, &px, &at);
	*fallback = u >= 0 && at + 1 < px.n;
	return u;
}

/* attrs: the incident's, ending with a NULL key (incident.h), or NULL. */
static bool attr_holds(const struct rules_attr *a, const struct incident_attr *attrs)
{
	const struct incident_attr *v = attrs;

	if (v == NULL)
		return false;
	while (v->key != NULL && strcmp(v->key, a->key) != 0)
		v++;
	if (v->key == NULL)
		return false;
	for (size_t i = 0; i < a->nvalues; i++) {
		if (strlen(a->values[i]) == v->value_len &&
		    memcmp(a->values[i], v->value, v->value_len) == 0)
			return true;
	}
	return false;
}

static bool attrs_hold(const struct rules_policy *p, const struct incident *inc)
{
	for (size_t i = 0; i < p->nattrs; i++) {
		if (!attr_holds(&p->attrs[i], inc->attrs))
			return false;
	}
	return true;
}

static bool cats_hold(const struct rules_policy *p, int cat)
{
	if (p->ncategories == 0)
		return true;
	for (size_t i = 0; i < p->ncategories; i++) {
		if (p->categories[i] == cat)
			return true;
	}
	return false;
}

/* Every match key but the unit one, which the buckets have settled. */
static bool policy_holds(const struct rules_policy *p, const struct incident *inc, int cat)
{
	if (p->channels != 0 && (p->channels & (1u << inc->channel)) == 0)
		return false;
	if (p->severities != 0 && (p->severities & (1u << inc->severity)) == 0)
		return false;
	return cats_hold(p, cat) && attrs_hold(p, inc);
}

/* policy_holds through the policy's filter: the policy itself only for attrs. */
static bool filter_holds(const struct rules *r, int pol, const struct incident *inc, int cat)
{
	const struct route_index *ix = r->route;
	const struct pfilter *f = &ix->pf[pol];

	if ((f->channels & (1u << inc->channel)) == 0 ||
	    (f->severities & (1u << inc->severity)) == 0)
		return false;
	if (ix->fast ? (f->cats >> cat & 1) == 0 : !cats_hold(&r->policies[pol], cat))
		return false;
	return !f->attrs || attrs_hold(&r->policies[pol], inc);
}

/* The first policy of v[0..n) that holds, if it comes before best. */
static int scan_bucket(const struct rules *r, const int *v, size_t n, const struct incident *inc,
                       int cat, int best)
{
	for (size_t i = 0; i < n; i++) {
		if (best >= 0 && v[i] >= best)
			break;
		if (policy_holds(&r->policies[v[i]], inc, cat))
			return v[i];
	}
	return best;
}

/* route_match without the tables. */
static int match_slow(const struct rules *r, const struct incident *inc, int cat)
{
	int best = scan_bucket(r, r->policy_anyunit.v, r->policy_anyunit.n, inc, cat, -1);
	size_t len = inc->unit_len;

	/* Each segment prefix of the reported unit names one bucket at most. */
	for (size_t n = 1; n <= len; n++) {
		if (n < len && inc->unit[n] != '/')
			continue;
		int b = htab_get(&r->bucket_index, inc->unit, n);
		if (b < 0 || (size_t)b >= r->nbuckets)
			continue;
		best = scan_bucket(r, r->policy_buckets[b].v, r->policy_buckets[b].n, inc, cat,
		                   best);
	}
	return best;
}

/*
 * The first policy that holds, for an incident whose unit resolved to u
 * (-1: none) at prefix at of px: the policies without a unit key, those
 * that u's prefixes name (its record's list), and those that the deeper,
 * unconfigured prefixes of the reported unit name.
 */
static int match_px(const struct rules *r, const struct incident *inc, int cat,
                    const struct prefixes *px, int u, size_t at)
{
	const struct route_index *ix = r->route;
	uint32_t set = u >= 0 ? REC(ix, u)[R_SET(ix)] : 0;
	size_t from = u >= 0 ? at + 1 : 0;
	int best = -1;

	if ((unsigned)inc->channel >= CH__COUNT || (unsigned)inc->severity >= SEV__COUNT ||
	    cat < 0 || (size_t)cat >= ix->ncats)
		return match_slow(r, inc, cat);
	if (ix->cand != NULL || (ix->fast && set == 0)) {
		size_t key = key_of(ix, (int)inc->channel, (int)inc->severity, (size_t)cat);
		struct pslot c = ix->cand != NULL ? ix->cand[set * NKEYS(ix) + key] : ix->any[key];
		const int *v = ix->cand != NULL ? ix->candp : ix->anyp;
		for (uint32_t i = c.off; i < c.off + c.n; i++) {
			if (!ix->pf[v[i]].attrs || attrs_hold(&r->policies[v[i]], inc)) {
				best = v[i];
				break;
			}
		}
	} else {
		for (size_t i = 0; i < r->policy_anyunit.n; i++) {
			if (filter_holds(r, r->policy_anyunit.v[i], inc, cat)) {
				best = r->policy_anyunit.v[i];
				break;
			}
		}
		struct pslot s = ix->sets[set];
		for (uint32_t i = s.off; i < s.off + s.n; i++) {
			int p = ix->lists[i];
			if (best >= 0 && p >= best)
				break;
			if (filter_holds(r, p, inc, cat)) {
				best = p;
				break;
			}
		}
	}
	/* the prefixes below the configured unit: a fallback incident's only */
	for (size_t k = from; k < px->n; k++) {
		int b = htab_get_hashed(&r->bucket_index, inc->unit, px->len[k], px->hash[k]);
		if (b < 0 || (size_t)b >= r->nbuckets)
			continue;
		const int *v = r->policy_buckets[b].v;
		for (size_t i = 0; i < r->policy_buckets[b].n; i++) {
			if (best >= 0 && v[i] >= best)
				break;
			if (filter_holds(r, v[i], inc, cat)) {
				best = v[i];
				break;
			}
		}
	}
	return best;
}

int route_match(const struct rules *r, const struct incident *inc, int cat)
{
	struct prefixes px;
	size_t at = 0;

	if (!prefixes(inc->unit, inc->unit_len, &px))
		return match_slow(r, inc, cat);
	int u = resolve_px(r, inc->unit, &px, &at);
	return match_px(r, inc, cat, &px, u, at);
}

static const struct rules_rolemap *unit_role(const struct rules *r, int u, int role)
{
	const struct rules_unit *un = &r->units[u];

	for (size_t i = 0; i < un->nroles; i++) {
		if (un->roles[i].role == role)
			return &un->roles[i];
	}
	return NULL;
}

/* roles[R][category] if present, else roles[R].default, else nobody. */
static struct rules_plist rolemap_people(const struct rules_rolemap *m, int cat)
{
	struct rules_plist none = {NULL, 0};

	for (size_t i = 0; i < m->nover; i++) {
		if (m->over[i].category == cat)
			return m->over[i].people;
	}
	return m->has_default ? m->dflt : none;
}

/* The co-assignees of role at t: from the nearest unit up having it. */
static struct rules_plist co_slow(const struct rules *r, int unit, int role, int cat, int64_t t)
{
	const struct rules_rolemap *m = NULL;
	struct rules_plist none = {NULL, 0};

	for (int u = unit; u >= 0 && m == NULL; u = r->units[u].parent)
		m = unit_role(r, u, role);
	return m != NULL ? route_people(r, rolemap_people(m, cat), t) : none;
}

/* route_chain without the tables, for a category they do not know. */
static void chain_slow(const struct rules *r, int unit, int cat, const struct rules_policy *pol,
                       int64_t t, struct route_chain *out)
{
	memset(out, 0, sizeof(*out));
	out->unit = unit;
	out->category = cat;
	out->nlevels = r->nlevels;

	for (size_t l = 0; l < r->nlevels; l++) {
		const struct rules_level *lv = &r->levels[l];
		struct route_level *rl = &out->levels[l];
		int u = unit;

		while (u >= 0 && r->units[u].kind != lv->kind)
			u = r->units[u].parent;
		rl->unit = u;
		if (u >= 0 && lv->role_idx >= 0) {
			const struct rules_rolemap *m = unit_role(r, u, lv->role_idx);
			if (m != NULL)
				rl->assignees = route_people(r, rolemap_people(m, cat), t);
		}
		rl->vacant = rl->assignees.n == 0;
	}

	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nco && out->nco < ROUTE_MAX_CO; i++) {
		struct rules_plist pl = co_slow(r, unit, pol->co_roles[i], cat, t);
		if (pl.n > 0)
			out->co[out->nco++] = pl;
	}
}

static struct rules_plist plist_written(const struct rules *r, struct pslot s)
{
	struct rules_plist pl = {s.n > 0 ? r->pids + s.off : NULL, s.n};
	return pl;
}

/* A dyn's people at t: the combination of its schedules' states then. Out of the hot loop. */
__attribute__((cold, noinline)) static struct rules_plist dyn_people(const struct rules *r,
                                                                     uint32_t d, int64_t t)
{
	const struct route_index *ix = r->route;
	const struct dyn *dy = &ix->dyn[d];
	size_t combo = 0, mult = 1;

	if (t == ROUTE_AS_WRITTEN)
		return plist_written(r, dy->written);
	for (uint32_t k = 0; k < dy->nsched; k++) {
		const struct schedule *sc = &r->schedules[ix->dsched[dy->sched + k]];
		combo += schedule_state(sc, r->tz, t) * mult;
		mult *= schedule_nstates(sc);
	}
	struct pslot s = ix->dset[dy->set + combo];
	struct rules_plist pl = {s.n > 0 ? ix->xids + s.off : NULL, s.n};
	return pl;
}

/* The people of a table slot at t. */
static inline struct rules_plist plist_of(const struct rules *r, struct pslot s, int64_t t)
{
	if (__builtin_expect(s.n == PS_DYN, 0))
		return dyn_people(r, s.off, t);
	return plist_written(r, s);
}

struct rules_plist route_people(const struct rules *r, struct rules_plist written, int64_t t)
{
	const struct route_index *ix = r->route;

	if (ix->dyn_of == NULL || written.n == 0 || written.ids < r->pids ||
	    written.ids >= r->pids + r->npids)
		return written;
	uint32_t d = ix->dyn_of[written.ids - r->pids];
	return d == 0 ? written : dyn_people(r, d - 1, t);
}

/*
 * Only levels[0..nlevels) and co[0..nco) are written: the chain is filled
 * for every incident, and what lies beyond the counts is never read.
 */
void route_chain(const struct rules *r, int unit, int cat, const struct rules_policy *pol,
                 int64_t t, struct route_chain *out)
{
	const struct route_index *ix = r->route;

	if (cat < 0 || (size_t)cat >= ix->ncats) {
		chain_slow(r, unit, cat, pol, t, out);
		return;
	}
	const uint32_t *rec = REC(ix, unit);
	size_t nl = ix->nlevels;

	out->unit = unit;
	out->category = cat;
	out->nlevels = nl;
	out->nco = 0;
	for (size_t l = 0; l < nl; l++) {
		struct route_level *rl = &out->levels[l];
		uint32_t slot = rec[R_LVL(ix, l)];
		struct pslot s = {0, 0};

		rl->unit = rec[l] == NONE ? -1 : (int)rec[l];
		if (slot != NONE)
			s = ix->lvl[slot + (size_t)cat * ix->lstride[l]];
		rl->assignees = plist_of(r, s, t);
		rl->vacant = rl->assignees.n == 0;
	}

	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nco && out->nco < ROUTE_MAX_CO; i++) {
		struct rules_plist pl = route_co(r, unit, pol->co_roles[i], cat, t);
		if (pl.n > 0)
			out->co[out->nco++] = pl;
	}
}

struct rules_plist route_co(const struct rules *r, int unit, int role, int cat, int64_t t)
{
	const struct route_index *ix = r->route;

	if (cat < 0 || (size_t)cat >= ix->ncats || role < 0 || (size_t)role >= ix->nroles ||
	    ix->co_slot[role] < 0)
		return co_slow(r, unit, role, cat, t);
	uint32_t row = REC(ix, unit)[R_CO(ix, ix->co_slot[role])];
	struct pslot s = {0, 0};
	if (row != NONE)
		s = ix->co[(size_t)row * ix->ncats + (size_t)cat];
	return plist_of(r, s, t);
}

/* ---- the tables ---- */

/* 1 to UNIT_ID_MAX_DEPTH (what the loader allows), anything else past the end. */
static size_t depth_of(const struct rules_unit *u)
{
	return u->depth < 1                   ? 1
	       : u->depth > UNIT_ID_MAX_DEPTH ? UNIT_ID_MAX_DEPTH + 1
	                                      : (size_t)u->depth;
}

/* Units by depth, parents before their children. Caller frees. */
static uint32_t *by_depth(const struct rules *r)
{
	size_t count[UNIT_ID_MAX_DEPTH + 2] = {0};
	uint32_t *order = xcalloc(r->nunits + 1, sizeof(*order));

	for (size_t u = 0; u < r->nunits; u++)
		count[depth_of(&r->units[u])]++;
	for (size_t d = 1, at = 0; d < GR_NELEM(count); d++) {
		size_t n = count[d];
		count[d] = at;
		at += n;
	}
	for (size_t u = 0; u < r->nunits; u++)
		order[count[depth_of(&r->units[u])]++] = (uint32_t)u;
	return order;
}

static struct pslot pslot_of(const struct rules *r, const struct route_index *ix,
                             struct rules_plist pl)
{
	struct pslot s = {pl.n > 0 ? (uint32_t)(pl.ids - r->pids) : 0, (uint32_t)pl.n};

	if (ix->dyn_of != NULL && pl.n > 0 && ix->dyn_of[s.off] != 0) {
		s.off = ix->dyn_of[s.off] - 1;
		s.n = PS_DYN;
	}
	return s;
}

/* A growable int vector for the merged lists. */
struct ivec {
	int *v;
	size_t n, cap;
};

static void ivec_push(struct ivec *iv, int x)
{
	if (iv->n == iv->cap) {
		iv->cap = iv->cap < 256 ? 256 : iv->cap * 2;
		iv->v = xreallocarray(iv->v, iv->cap, sizeof(*iv->v));
	}
	iv->v[iv->n++] = x;
}

/* Appends the sorted merge of a[0..na) and b[0..nb) to iv, each policy once. */
static void merge(struct ivec *iv, size_t a, size_t na, const int *b, size_t nb)
{
	size_t i = 0, k = 0, start = iv->n;

	while (i < na || k < nb) {
		int x;
		if (k == nb || (i < na && iv->v[a + i] <= b[k]))
			x = iv->v[a + i++];
		else
			x = b[k++];
		if (iv->n == start || iv->v[iv->n - 1] != x)
			ivec_push(iv, x);
	}
}

static void build_levels(const struct rules *r, struct route_index *ix, uint32_t *base,
                         uint32_t *jpos)
{
	size_t *per_kind = xcalloc(r->nkinds + 1, sizeof(*per_kind));
	size_t n = 0;

	for (size_t l = 0; l < r->nlevels; l++) {
		int k = r->levels[l].kind;
		jpos[l] = k >= 0 ? (uint32_t)per_kind[k]++ : 0;
	}
	for (size_t l = 0; l < r->nlevels; l++) {
		int k = r->levels[l].kind;
		ix->lstride[l] = k >= 0 ? (uint32_t)per_kind[k] : 0;
	}
	for (size_t u = 0; u < r->nunits; u++) {
		size_t nk = per_kind[r->units[u].kind];
		base[u] = nk > 0 ? (uint32_t)n : NONE;
		n += ix->ncats * nk;
	}
	if (n >= NONE)
		fatalx("rules: routing tables too large");
	ix->lvl = htab_table_alloc(n + 1, sizeof(*ix->lvl));
	for (size_t u = 0; u < r->nunits; u++) {
		for (size_t l = 0; l < r->nlevels && base[u] != NONE; l++) {
			const struct rules_level *lv = &r->levels[l];
			const struct rules_rolemap *m;
			if (lv->kind != r->units[u].kind || lv->role_idx < 0 ||
			    (m = unit_role(r, (int)u, lv->role_idx)) == NULL)
				continue;
			for (size_t c = 0; c < ix->ncats; c++)
				ix->lvl[base[u] + c * ix->lstride[l] + jpos[l]] =
				        pslot_of(r, ix, rolemap_people(m, (int)c));
		}
	}
	free(per_kind);
}

/* A category key's hash for cat_slot: its length and three of its bytes tell nine apart. */
static unsigned cat_hash(const char *s, size_t len)
{
	unsigned h = (unsigned)len * 0x9e37u;

	if (len > 0)
		h ^= (unsigned char)s[0] * 0x85ebu ^ (unsigned char)s[len / 2] * 0xc2b3u ^
		     (unsigned char)s[len - 1] * 0x27d5u;
	return (h ^ h >> 8) & 255;
}

static bool key_passes(const struct pfilter *f, int ch, int sev, size_t cat)
{
	return (f->channels >> ch & 1) != 0 && (f->severities >> sev & 1) != 0 &&
	       (f->cats >> cat & 1) != 0;
}

static void build_filters(const struct rules *r, struct route_index *ix)
{
	const unsigned all = (1u << CH__COUNT) - 1, all_sev = (1u << SEV__COUNT) - 1;

	ix->pf = xcalloc(r->npolicies + 1, sizeof(*ix->pf));
	ix->fast = ix->ncats <= 64;
	for (size_t i = 0; i < r->npolicies; i++) {
		const struct rules_policy *p = &r->policies[i];
		struct pfilter *f = &ix->pf[i];
		f->channels = (uint8_t)(p->channels != 0 ? p->channels : all);
		f->severities = (uint8_t)(p->severities != 0 ? p->severities : all_sev);
		f->attrs = p->nattrs > 0;
		f->cats = p->ncategories > 0 ? 0 : UINT64_MAX;
		for (size_t k = 0; k < p->ncategories && ix->fast; k++)
			f->cats |= 1ULL << p->categories[k];
	}

	for (size_t i = 0; i < GR_NELEM(ix->cat_slot); i++)
		ix->cat_slot[i] = -1;
	for (size_t c = 0; c < r->ncategories; c++) {
		const char *key = r->categories[c].key;
		int16_t *slot = &ix->cat_slot[cat_hash(key, strlen(key))];
		*slot = *slot == -1 && c <= INT16_MAX ? (int16_t)c : -2;
	}
}

/*
 * The candidates of a set for one key: its policies and those without a
 * unit key that pass the key, merged in file order, up to the first
 * without attrs (it always holds: none after it can be first).
 */
static void merge_candidates(const struct route_index *ix, struct ivec *cv, struct pslot set,
                             int ch, int sev, size_t c)
{
	struct pslot any = ix->any[key_of(ix, ch, sev, c)];
	size_t i = any.off, iend = any.off + any.n, k = set.off, kend = set.off + set.n;

	for (;;) {
		while (k < kend && !key_passes(&ix->pf[ix->lists[k]], ch, sev, c))
			k++;
		if (i == iend && k == kend)
			return;
		int p = k == kend || (i < iend && ix->anyp[i] < ix->lists[k]) ? ix->anyp[i++]
		                                                              : ix->lists[k++];
		ivec_push(cv, p);
		if (!ix->pf[p].attrs)
			return;
	}
}

/*
 * The candidates of each key: the policies without a unit key (any), and
 * those merged with each set's (cand) when that is not too big.
 */
static void build_candidates(const struct rules *r, struct route_index *ix)
{
	struct ivec iv = {NULL, 0, 0};
	size_t nkeys = NKEYS(ix);

	if (!ix->fast)
		return;
	ix->any = xcalloc(nkeys + 1, sizeof(*ix->any));
	for (int ch = 0; ch < CH__COUNT; ch++) {
		for (int sev = 0; sev < SEV__COUNT; sev++) {
			for (size_t c = 0; c < ix->ncats; c++) {
				struct pslot *a = &ix->any[key_of(ix, ch, sev, c)];
				a->off = (uint32_t)iv.n;
				for (size_t i = 0; i < r->policy_anyunit.n; i++) {
					int p = r->policy_anyunit.v[i];
					if (!key_passes(&ix->pf[p], ch, sev, c))
						continue;
					ivec_push(&iv, p);
					if (!ix->pf[p].attrs)
						break; /* it always holds: none after it is first */
				}
				a->n = (uint32_t)(iv.n - a->off);
			}
		}
	}
	ix->anyp = iv.v;
	if (ix->nsets > MAX_CAND / nkeys)
		return;

	struct ivec cv = {NULL, 0, 0};
	ix->cand = xcalloc(ix->nsets * nkeys + 1, sizeof(*ix->cand));
	for (size_t set = 0; set < ix->nsets; set++) {
		for (int ch = 0; ch < CH__COUNT; ch++) {
			for (int sev = 0; sev < SEV__COUNT; sev++) {
				for (size_t c = 0; c < ix->ncats; c++) {
					struct pslot *out =
					        &ix->cand[set * nkeys + key_of(ix, ch, sev, c)];
					out->off = (uint32_t)cv.n;
					merge_candidates(ix, &cv, ix->sets[set], ch, sev, c);
					out->n = (uint32_t)(cv.n - out->off);
					if (cv.n >= NONE)
						fatalx("rules: routing tables too large");
				}
			}
		}
	}
	ix->candp = cv.v;
}

/* Appends x to iv unless iv[from ..] has it. */
static void ivec_push_new(struct ivec *iv, size_t from, int x)
{
	for (size_t i = from; i < iv->n; i++) {
		if (iv->v[i] == x)
			return;
	}
	ivec_push(iv, x);
}

/*
 * A list as written that names schedules: its people in every combination
 * of the states of its schedules, plain ids first as written, each person
 * once. A combination with a schedule before its start is not counted
 * for vacancy: the warnings are about the slots and overrides.
 */
static void add_dyn(const struct rules *r, struct route_index *ix, struct rules_plist pl,
                    struct ivec *sch, struct ivec *ids, size_t *capset)
{
	struct dyn *d = &ix->dyn[ix->ndyn];
	size_t ncombo = 1, considered = 0, empty = 0;

	d->written = pslot_of(r, ix, pl);
	d->sched = (uint32_t)sch->n;
	for (size_t i = 0; i < pl.n; i++) {
		if (pl.ids[i] < 0)
			ivec_push_new(sch, d->sched, RULES_SCHED_OF(pl.ids[i]));
	}
	d->nsched = (uint32_t)(sch->n - d->sched);
	for (uint32_t k = 0; k < d->nsched; k++)
		ncombo *= schedule_nstates(&r->schedules[sch->v[d->sched + k]]);
	d->set = (uint32_t)ix->ndset;
	if (ix->ndset + ncombo > *capset) {
		*capset = (ix->ndset + ncombo) * 2;
		ix->dset = xreallocarray(ix->dset, *capset, sizeof(*ix->dset));
	}
	for (size_t combo = 0; combo < ncombo; combo++) {
		uint32_t state[RULES_MAX_SCHED_PER_LIST];
		size_t rest = combo, start = ids->n;
		bool started = true;
		for (uint32_t k = 0; k < d->nsched; k++) {
			uint32_t n = schedule_nstates(&r->schedules[sch->v[d->sched + k]]);
			state[k] = (uint32_t)(rest % n);
			rest /= n;
			started = started && state[k] != SCHED_NONE;
		}
		for (size_t i = 0; i < pl.n; i++) {
			if (pl.ids[i] >= 0) {
				ivec_push_new(ids, start, pl.ids[i]);
				continue;
			}
			uint32_t k = 0;
			while (sch->v[d->sched + k] != RULES_SCHED_OF(pl.ids[i]))
				k++;
			const struct schedule *sc = &r->schedules[sch->v[d->sched + k]];
			struct rules_plist sp = schedule_people(sc, state[k]);
			for (size_t j = 0; j < sp.n; j++)
				ivec_push_new(ids, start, sp.ids[j]);
		}
		if (ids->n >= NONE)
			fatalx("rules: routing tables too large");
		ix->dset[ix->ndset].off = (uint32_t)start;
		ix->dset[ix->ndset++].n = (uint32_t)(ids->n - start);
		considered += started;
		empty += started && ids->n == start;
	}
	d->always_vacant = considered > 0 && empty == considered;
	d->sometimes_vacant = empty > 0 && empty < considered;
	ix->dyn_of[d->written.off] = (uint32_t)++ix->ndyn;
}

/* The people lists that name schedules, each once (a list is known by where it starts). */
static void build_dyn(const struct rules *r, struct route_index *ix)
{
	struct ivec sch = {NULL, 0, 0}, ids = {NULL, 0, 0};
	size_t capdyn = 0, capset = 0;

	if (r->nschedules == 0)
		return;
	ix->dyn_of = xcalloc(r->npids + 1, sizeof(*ix->dyn_of));
	for (size_t u = 0; u < r->nunits; u++) {
		for (size_t k = 0; k < r->units[u].nroles; k++) {
			const struct rules_rolemap *m = &r->units[u].roles[k];
			for (size_t o = 0; o <= m->nover; o++) {
				struct rules_plist pl = o < m->nover ? m->over[o].people : m->dflt;
				if (pl.n == 0 || (o == m->nover && !m->has_default) ||
				    ix->dyn_of[pl.ids - r->pids] != 0)
					continue;
				bool named = false;
				for (size_t i = 0; i < pl.n; i++)
					named = named || pl.ids[i] < 0;
				if (!named)
					continue;
				if (ix->ndyn == capdyn) {
					capdyn = capdyn == 0 ? 16 : capdyn * 2;
					ix->dyn = xreallocarray(ix->dyn, capdyn, sizeof(*ix->dyn));
				}
				add_dyn(r, ix, pl, &sch, &ids, &capset);
			}
		}
	}
	ix->dsched = sch.v;
	ix->xids = ids.v;
}

void route_index_build(struct rules *r)
{
	struct route_index *ix = xcalloc(1, sizeof(*ix));
	uint32_t *base = xcalloc(r->nunits + 1, sizeof(*base)), jpos[RULES_MAX_LEVELS] = {0};
	uint32_t *order = by_depth(r);
	struct ivec lists = {NULL, 0, 0};
	size_t nrows = 0, row = 0, capsets = 16;

	ix->nlevels = r->nlevels;
	ix->ncats = r->ncategories;
	ix->nroles = r->nroles;
	build_dyn(r, ix);
	build_levels(r, ix, base, jpos);
	build_filters(r, ix);

	/* the roles some policy co-assigns, and a row of people per unit having one */
	ix->co_slot = xcalloc(r->nroles + 1, sizeof(*ix->co_slot));
	for (size_t i = 0; i < r->nroles; i++)
		ix->co_slot[i] = -1;
	for (size_t i = 0; i < r->npolicies; i++) {
		const struct rules_policy *p = &r->policies[i];
		for (size_t k = 0; k < p->nco; k++) {
			if (ix->co_slot[p->co_roles[k]] < 0)
				ix->co_slot[p->co_roles[k]] = (int)ix->nco++;
		}
	}
	for (size_t u = 0; u < r->nunits; u++) {
		for (size_t k = 0; k < r->units[u].nroles; k++)
			nrows += ix->co_slot[r->units[u].roles[k].role] >= 0;
	}
	if (nrows >= NONE || (ix->ncats > 0 && nrows > SIZE_MAX / ix->ncats))
		fatalx("rules: routing tables too large");
	ix->co = xcalloc(nrows * ix->ncats + 1, sizeof(*ix->co));

	ix->words = 8;
	while (ix->words < 2 * ix->nlevels + 1 + ix->nco)
		ix->words *= 2;
	ix->rec = htab_table_alloc(r->nunits, ix->words * sizeof(*ix->rec));
	ix->sets = xcalloc(capsets, sizeof(*ix->sets));
	ix->nsets = 1; /* the empty set */

	for (size_t i = 0; i < r->nunits; i++) {
		uint32_t u = order[i];
		const struct rules_unit *un = &r->units[u];
		uint32_t *rec = REC(ix, u);
		const uint32_t *up = un->parent >= 0 ? REC(ix, un->parent) : NULL;

		for (size_t l = 0; l < ix->nlevels; l++) {
			if (un->kind == r->levels[l].kind) {
				rec[l] = u;
				rec[R_LVL(ix, l)] = base[u] + jpos[l];
			} else {
				rec[l] = up != NULL ? up[l] : NONE;
				rec[R_LVL(ix, l)] = up != NULL ? up[R_LVL(ix, l)] : NONE;
			}
		}

		/* the parent's set, and a set of its own if a policy names this unit */
		rec[R_SET(ix)] = up != NULL ? up[R_SET(ix)] : 0;
		int b = htab_get(&r->bucket_index, un->id, strlen(un->id));
		if (b >= 0 && (size_t)b < r->nbuckets) {
			struct pslot from = ix->sets[rec[R_SET(ix)]];
			if (ix->nsets == capsets) {
				capsets *= 2;
				ix->sets = xreallocarray(ix->sets, capsets, sizeof(*ix->sets));
			}
			struct pslot *set = &ix->sets[ix->nsets];
			set->off = (uint32_t)lists.n;
			merge(&lists, from.off, from.n, r->policy_buckets[b].v,
			      r->policy_buckets[b].n);
			set->n = (uint32_t)(lists.n - set->off);
			if (lists.n >= NONE || ix->nsets >= NONE)
				fatalx("rules: routing tables too large");
			rec[R_SET(ix)] = (uint32_t)ix->nsets++;
		}

		for (size_t k = 0; k < ix->nco; k++)
			rec[R_CO(ix, k)] = up != NULL ? up[R_CO(ix, k)] : NONE;
		for (size_t k = 0; k < un->nroles; k++) {
			const struct rules_rolemap *m = &un->roles[k];
			int slot = ix->co_slot[m->role];
			if (slot < 0)
				continue;
			for (size_t c = 0; c < ix->ncats; c++)
				ix->co[row * ix->ncats + c] =
				        pslot_of(r, ix, rolemap_people(m, (int)c));
			rec[R_CO(ix, slot)] = (uint32_t)row++;
		}
	}
	ix->lists = lists.v;
	build_candidates(r, ix);
	free(order);
	free(base);
	r->route = ix;
}

void route_index_free(struct route_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->rec);
	free(ix->lvl);
	free(ix->co);
	free(ix->co_slot);
	free(ix->sets);
	free(ix->lists);
	free(ix->pf);
	free(ix->any);
	free(ix->anyp);
	free(ix->cand);
	free(ix->candp);
	free(ix->dyn);
	free(ix->dyn_of);
	free(ix->dsched);
	free(ix->dset);
	free(ix->xids);
	free(ix);
}

/*
 * The people slots route_chain will read are a cache miss each: ask for
 * them now, so that they come in while the policy is being matched.
 */
static void prefetch_chain(const struct route_index *ix, int u, int cat)
{
	const uint32_t *rec = REC(ix, u);

	for (size_t l = 0; l < ix->nlevels; l++) {
		uint32_t slot = rec[R_LVL(ix, l)];
		if (slot != NONE)
			__builtin_prefetch(&ix->lvl[slot + (size_t)cat * ix->lstride[l]]);
	}
}

/* rules_category through cat_slot: no hashing of the whole key, no probing. */
static int category_of(const struct rules *r, const char *key)
{
	int c = r->route->cat_slot[cat_hash(key, strlen(key))];

	if (c == -2)
		return rules_category(r, key);
	return c >= 0 && strcmp(r->categories[c].key, key) == 0 ? c : -1;
}

/* Is a table slot vacant always, or in some slot or override (*sometimes)? */
static bool slot_vacant(const struct route_index *ix, struct pslot s, bool *sometimes)
{
	if (s.n != PS_DYN) {
		*sometimes = false;
		return s.n == 0;
	}
	*sometimes = ix->dyn[s.off].sometimes_vacant;
	return ix->dyn[s.off].always_vacant;
}

bool route_vacant(const struct rules *r, int unit, int lvl, int cat, bool *sometimes)
{
	const struct route_index *ix = r->route;
	bool part = false;

	if (cat < 0 || (size_t)cat >= ix->ncats) {
		struct route_chain ch;
		chain_slow(r, unit, cat, NULL, ROUTE_AS_WRITTEN, &ch);
		if (sometimes != NULL)
			*sometimes = false;
		return ch.levels[lvl].vacant;
	}
	uint32_t slot = REC(ix, unit)[R_LVL(ix, lvl)];
	bool all = slot == NONE ||
	           slot_vacant(ix, ix->lvl[slot + (size_t)cat * ix->lstride[lvl]], &part);
	if (sometimes != NULL)
		*sometimes = part;
	return all;
}

uint64_t route_vacant_cats(const struct rules *r, int unit, int lvl, uint64_t *sometimes)
{
	const struct route_index *ix = r->route;
	uint32_t slot = REC(ix, unit)[R_LVL(ix, lvl)];
	uint64_t vacant = 0, some = 0;

	if (ix->ncats > 64)
		fatalx("route_vacant_cats: %zu categories", ix->ncats);
	for (size_t c = 0; c < ix->ncats; c++) {
		bool part = false;
		if (slot == NONE || slot_vacant(ix, ix->lvl[slot + c * ix->lstride[lvl]], &part))
			vacant |= 1ULL << c;
		else if (part)
			some |= 1ULL << c;
	}
	if (sometimes != NULL)
		*sometimes = some;
	return vacant;
}

int route_first(const struct route_chain *c, int from)
{
	for (int l = from < 0 ? 0 : from; (size_t)l < c->nlevels; l++) {
		if (!c->levels[l].vacant)
			return l;
	}
	return -1;
}

int route_next(const struct route_chain *c, int from)
{
	return route_first(c, from + 1);
}

int route_incident(const struct rules *r, const struct incident *inc, int64_t t,
                   struct route_result *out, struct rejection *rj)
{
	char b1[SAFE_MAX + 4];
	int len = (int)inc->unit_len;
	struct prefixes px;
	size_t at = 0;
	bool fast;

	/* the unit's text is a miss as the category's is: let them overlap */
	__builtin_prefetch(inc->unit);
	out->policy = -1;
	out->unit = -1;
	out->fallback = false;
	out->level = -1;
	out->category = category_of(r, inc->category);
	if (out->category < 0)
		return reject(rj, REASON_UNKNOWN_CATEGORY, "unknown category \"%s\"",
		              safe(inc->category, b1));
	fast = prefixes(inc->unit, inc->unit_len, &px);
	if (fast) {
		out->unit = resolve_px(r, inc->unit, &px, &at);
		out->fallback = out->unit >= 0 && at + 1 < px.n;
		if (out->unit >= 0)
			prefetch_chain(r->route, out->unit, out->category);
	} else {
		out->unit = resolve_slow(r, inc->unit, inc->unit_len, &out->fallback);
	}
	if (out->unit < 0)
		return reject(rj, REASON_UNKNOWN_UNIT,
		              "unit \"%.*s\" is not configured and has no configured parent", len,
		              inc->unit);
	out->policy = fast ? match_px(r, inc, out->category, &px, out->unit, at)
	                   : match_slow(r, inc, out->category);
	if (out->policy < 0)
		return reject(rj, REASON_NO_POLICY,
		              "no policy matches (channel %s, category %s, unit %.*s, severity %s)",
		              channel_name(inc->channel), inc->category, len, inc->unit,
		              severity_name(inc->severity));
	const struct rules_policy *p = &r->policies[out->policy];
	route_chain(r, out->unit, out->category, p, t, &out->chain);
	out->level = route_first(&out->chain, p->start_level);
	if (out->level < 0)
		return reject(rj, REASON_NO_ASSIGNEE,
		              "nobody is on duty at any level from \"%s\" up for unit \"%s\" and "
		              "category \"%s\"",
		              r->levels[p->start_level].key, r->units[out->unit].id, inc->category);
	return 0;
}

static const struct rules_dur *per_level(const struct rules_dur *v, size_t n, int start, int lvl)
{
	static const struct rules_dur none = {{0, false}, (char *)"0s"};

	if (n == 0)
		return &none;
	size_t i = lvl > start ? (size_t)(lvl - start) : 0;
	return &v[i < n ? i : n - 1];
}

const struct rules_dur *route_ack_within(const struct rules *r, const struct rules_policy *p,
                                         int lvl)
{
	(void)r;
	return per_level(p->ack, p->nack, p->start_level, lvl);
}

const struct rules_dur *route_resolve_within(const struct rules *r, const struct rules_policy *p,
                                             int lvl)
{
	(void)r;
	return per_level(p->resolve, p->nresolve, p->start_level, lvl);
}

void route_deadlines(const struct rules *r, const struct rules_policy *p, int lvl, int64_t t,
                     int64_t due_at, int64_t *ack, int64_t *resolve)
{
	*ack = calendar_deadline(r->calendar, t, route_ack_within(r, p, lvl)->d);
	*resolve = calendar_deadline(r->calendar, t, route_resolve_within(r, p, lvl)->d);
	if (due_at != TIME_NONE && due_at < *resolve)
		*resolve = due_at;
}

static const char *const state_names[STATE__COUNT] = {
        [STATE_OPEN] = "open",           [STATE_ACKED] = "acked",   [STATE_VERIFYING] = "verifying",
        [STATE_RETURNED] = "returned",   [STATE_PARKED] = "parked", [STATE_RESOLVED] = "resolved",
        [STATE_CANCELLED] = "cancelled",
};

const char *inc_state_name(enum inc_state s)
{
	if ((size_t)s >= GR_NELEM(state_names))
		return "";
	return state_names[s];
}

int inc_state_parse(const char *s, enum inc_state *out)
{
	for (size_t i = 0; i < GR_NELEM(state_names); i++) {
		if (strcmp(state_names[i], s) == 0) {
			*out = (enum inc_state)i;
			return 0;
		}
	}
	return -1;
}

int route_command_check(const struct rules *r, struct command *cmd, struct rejection *rj)
{
	char b1[SAFE_MAX + 4];

	if (cmd->level != NULL && rules_level(r, cmd->level) < 0)
		return reject(rj, REASON_INVALID_FIELD, "field \"level\": unknown level \"%s\"",
		              safe(cmd->level, b1));
	if (cmd->for_text != NULL) {
		int64_t wd = r->calendar != NULL ? calendar_day_ms(r->calendar) : 0;
		switch (wdur_parse(cmd->for_text, wd, &cmd->for_dur)) {
		case DUR_OK:
			break;
		case DUR_NO_CALENDAR:
			return reject(
			        rj, REASON_INVALID_FIELD,
			        "field \"for\": \"%s\" is in working time, and the rules have "
			        "no calendar to count it on",
			        safe(cmd->for_text, b1));
		default:
			return reject(rj, REASON_INVALID_FIELD,
			              "field \"for\" must be a duration such as \"2h\", \"3d\" or "
			              "\"2wd\" (more than zero, at most 3650 days), not \"%s\"",
			              safe(cmd->for_text, b1));
		}
	}
	return 0;
}
