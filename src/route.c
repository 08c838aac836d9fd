/*
 * route.c: the routing decisions of SPEC §3 and §5 as pure functions of the
 * rules and one incident or command — which configured unit serves a
 * reported unit, which policy matches first, who serves each level of the
 * chain, the deadlines of a level, and whether a command may be applied.
 * Every lookup goes through the rules' hash indexes, so that the cost is
 * O(unit depth), not O(units) or O(policies).
 */
#include <string.h>

#include "route.h"

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

int route_resolve_unit(const struct rules *r, const char *unit, size_t len, bool *fallback)
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

static bool attr_holds(const struct rules_attr *a, json_t *attrs)
{
	json_t *v = attrs != NULL ? json_object_get(attrs, a->key) : NULL;

	if (v == NULL || !json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	for (size_t i = 0; i < a->nvalues; i++) {
		if (strlen(a->values[i]) == len && memcmp(a->values[i], s, len) == 0)
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
	if (p->ncategories > 0) {
		size_t i = 0;
		while (i < p->ncategories && p->categories[i] != cat)
			i++;
		if (i == p->ncategories)
			return false;
	}
	for (size_t i = 0; i < p->nattrs; i++) {
		if (!attr_holds(&p->attrs[i], inc->attrs))
			return false;
	}
	return true;
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

int route_match(const struct rules *r, const struct incident *inc, int cat)
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

void route_chain(const struct rules *r, int unit, int cat, const struct rules_policy *pol,
                 struct route_chain *out)
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
				rl->assignees = rolemap_people(m, cat);
		}
		rl->vacant = rl->assignees.n == 0;
	}

	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nco && out->nco < ROUTE_MAX_CO; i++) {
		const struct rules_rolemap *m = NULL;

		for (int u = unit; u >= 0 && m == NULL; u = r->units[u].parent)
			m = unit_role(r, u, pol->co_roles[i]);
		if (m == NULL)
			continue;
		struct rules_plist pl = rolemap_people(m, cat);
		if (pl.n > 0)
			out->co[out->nco++] = pl;
	}
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

int route_incident(const struct rules *r, const struct incident *inc, struct route_result *out,
                   struct rejection *rj)
{
	char b1[SAFE_MAX + 4];
	int len = (int)inc->unit_len;

	memset(out, 0, sizeof(*out));
	out->category = rules_category(r, inc->category);
	if (out->category < 0)
		return reject(rj, REASON_UNKNOWN_CATEGORY, "unknown category \"%s\"",
		              safe(inc->category, b1));
	out->unit = route_resolve_unit(r, inc->unit, inc->unit_len, &out->fallback);
	if (out->unit < 0)
		return reject(rj, REASON_UNKNOWN_UNIT,
		              "unit \"%.*s\" is not configured and has no configured parent", len,
		              inc->unit);
	out->policy = route_match(r, inc, out->category);
	if (out->policy < 0)
		return reject(rj, REASON_NO_POLICY,
		              "no policy matches (channel %s, category %s, unit %.*s, severity %s)",
		              channel_name(inc->channel), inc->category, len, inc->unit,
		              severity_name(inc->severity));
	const struct rules_policy *p = &r->policies[out->policy];
	route_chain(r, out->unit, out->category, p, &out->chain);
	out->level = route_first(&out->chain, p->start_level);
	if (out->level < 0)
		return reject(rj, REASON_NO_ASSIGNEE,
		              "nobody is on duty at any level from \"%s\" up for unit \"%s\" and "
		              "category \"%s\"",
		              r->levels[p->start_level].key, r->units[out->unit].id, inc->category);
	return 0;
}

static int64_t per_level(const int64_t *v, size_t n, int start, int lvl)
{
	if (n == 0)
		return 0;
	size_t i = lvl > start ? (size_t)(lvl - start) : 0;
	return v[i < n ? i : n - 1];
}

int64_t route_ack_within(const struct rules *r, const struct rules_policy *p, int lvl)
{
	(void)r;
	return per_level(p->ack_ms, p->nack, p->start_level, lvl);
}

int64_t route_resolve_within(const struct rules *r, const struct rules_policy *p, int lvl)
{
	(void)r;
	return per_level(p->resolve_ms, p->nresolve, p->start_level, lvl);
}

void route_deadlines(const struct rules *r, const struct rules_policy *p, int lvl, int64_t t,
                     int64_t due_at, int64_t *ack, int64_t *resolve)
{
	*ack = t + route_ack_within(r, p, lvl);
	*resolve = t + route_resolve_within(r, p, lvl);
	if (due_at != TIME_NONE && due_at < *resolve)
		*resolve = due_at;
}

static const char *const state_names[] = {
        [STATE_OPEN] = "open",
        [STATE_ACKED] = "acked",
        [STATE_RESOLVED] = "resolved",
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

int route_command_check(const struct rules *r, const struct command *cmd, struct rejection *rj)
{
	char b1[SAFE_MAX + 4];

	if (cmd->op != OP_REASSIGN)
		return 0;
	if (cmd->level == NULL)
		return reject(rj, REASON_MISSING_FIELD, "missing field \"level\"");
	if (rules_level(r, cmd->level) < 0)
		return reject(rj, REASON_INVALID_FIELD, "field \"level\": unknown level \"%s\"",
		              safe(cmd->level, b1));
	return 0;
}

static bool in_names(const char *id, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] != NULL && strcmp(v[i], id) == 0)
			return true;
	}
	return false;
}

/* Is person p on the chain at some level >= from? */
static bool on_chain_from(const struct route_chain *c, int p, int from)
{
	for (size_t l = from < 0 ? 0 : (size_t)from; l < c->nlevels; l++) {
		const struct rules_plist *pl = &c->levels[l].assignees;
		for (size_t i = 0; i < pl->n; i++) {
			if (pl->ids[i] == p)
				return true;
		}
	}
	return false;
}

static bool may(const struct rules *r, const struct route_chain *c, const struct incident_state *st,
                const struct command *cmd, int p)
{
	if (r->people[p].admin)
		return true;
	switch (cmd->op) {
	case OP_ACK:
	case OP_RESOLVE:
	case OP_COMMENT:
		if (in_names(cmd->by, st->assignees, st->nassignees) ||
		    in_names(cmd->by, st->co_assignees, st->nco))
			return true;
		/* Level -1: the stored level key is gone; every level counts as above. */
		return on_chain_from(c, p, st->level < 0 ? 0 : st->level + 1);
	case OP_ESCALATE:
	case OP_REASSIGN:
		return on_chain_from(c, p, st->level < 0 ? 0 : st->level);
	case OP__COUNT:
		break;
	}
	return false;
}

int route_authorize(const struct rules *r, const struct route_chain *chain,
                    const struct incident_state *st, const struct command *cmd, int *target,
                    struct rejection *rj)
{
	char b1[SAFE_MAX + 4], b2[SAFE_MAX + 4];
	const char *op = cmd_op_name(cmd->op);
	const char *cur = st->level >= 0 && (size_t)st->level < r->nlevels
	                          ? r->levels[st->level].key
	                          : "(unknown)";
	int p = rules_person(r, cmd->by);

	*target = st->level;
	if (p < 0)
		return reject(rj, REASON_NOT_AUTHORIZED, "unknown person \"%s\" may not %s",
		              safe(cmd->by, b1), op);
	if (!may(r, chain, st, cmd, p)) {
		if (cmd->op == OP_ESCALATE || cmd->op == OP_REASSIGN)
			return reject(
			        rj, REASON_NOT_AUTHORIZED,
			        "\"%s\" may not %s incident \"%s\": not on its chain at level "
			        "\"%s\" or above",
			        r->people[p].id, op, safe(cmd->incident, b2), cur);
		return reject(rj, REASON_NOT_AUTHORIZED,
		              "\"%s\" may not %s incident \"%s\": neither an assignee nor a "
		              "co-assignee, nor on its chain above level \"%s\"",
		              r->people[p].id, op, safe(cmd->incident, b2), cur);
	}

	if (st->state == STATE_RESOLVED && cmd->op != OP_COMMENT)
		return reject(rj, REASON_INVALID_TRANSITION,
		              "cannot %s incident \"%s\": it is resolved", op,
		              safe(cmd->incident, b2));
	switch (cmd->op) {
	case OP_ACK:
		if (st->state != STATE_OPEN)
			return reject(rj, REASON_INVALID_TRANSITION,
			              "cannot ack incident \"%s\": it is %s, not open",
			              safe(cmd->incident, b2), inc_state_name(st->state));
		break;
	case OP_ESCALATE:
		*target = route_next(chain, st->level);
		if (*target < 0) {
			*target = st->level;
			return reject(rj, REASON_INVALID_TRANSITION,
			              "cannot escalate incident \"%s\": no level above \"%s\" has "
			              "anyone on duty",
			              safe(cmd->incident, b2), cur);
		}
		break;
	case OP_REASSIGN: {
		int lvl = cmd->level != NULL ? rules_level(r, cmd->level) : -1;
		if (lvl < 0)
			return route_command_check(r, cmd, rj);
		if ((size_t)lvl >= chain->nlevels || chain->levels[lvl].vacant)
			return reject(
			        rj, REASON_INVALID_TRANSITION,
			        "cannot reassign incident \"%s\" to level \"%s\": nobody is on "
			        "duty there for it",
			        safe(cmd->incident, b2), r->levels[lvl].key);
		*target = lvl;
		break;
	}
	case OP_RESOLVE:
	case OP_COMMENT:
	case OP__COUNT:
		break;
	}
	return 0;
}
