/*
 * ctl_diff.c: the difference between two rules objects, in what matters
 * to the people on duty — who is assigned for each unit, category and
 * level — and then in the objects an admin edits: policies, people,
 * levels, categories and units. Assignees come from route_chain, the
 * function the daemon routes with, so that the diff cannot disagree with
 * what the daemon will do. Pure: no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_diff.h"
#include "route.h"

/* ---- small renderers ---------------------------------------------------- */

static void put_ids(struct buf *b, const struct rules *r, const struct rules_plist *pl)
{
	buf_putc(b, '[');
	for (size_t i = 0; i < pl->n; i++)
		buf_printf(b, "%s%s", i > 0 ? ", " : "", r->people[pl->ids[i]].id);
	buf_putc(b, ']');
}

static bool plist_has(const struct rules *r, const struct rules_plist *pl, const char *id)
{
	for (size_t i = 0; i < pl->n; i++) {
		if (strcmp(r->people[pl->ids[i]].id, id) == 0)
			return true;
	}
	return false;
}

/* The same people, by id, whatever the order. */
static bool plist_same(const struct rules *ra, const struct rules_plist *a, const struct rules *rb,
                       const struct rules_plist *b)
{
	for (size_t i = 0; i < a->n; i++) {
		if (!plist_has(rb, b, ra->people[a->ids[i]].id))
			return false;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (!plist_has(ra, a, rb->people[b->ids[i]].id))
			return false;
	}
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "[a, b]", sorted when the order means nothing. */
static void put_strs(struct buf *b, const char *const *v, size_t n, bool sort)
{
	const char **tmp = xcalloc(n > 0 ? n : 1, sizeof(*tmp));

	memcpy(tmp, v, n * sizeof(*tmp));
	if (sort)
		qsort(tmp, n, sizeof(*tmp), cmp_str);
	buf_putc(b, '[');
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s", i > 0 ? ", " : "", tmp[i]);
	buf_putc(b, ']');
	free(tmp);
}

static void put_durations(struct buf *b, const int64_t *v, size_t n)
{
	char d[DUR_BUFSZ];

	if (n != 1)
		buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		duration_format(v[i], d);
		buf_printf(b, "%s%s", i > 0 ? ", " : "", d);
	}
	if (n != 1)
		buf_putc(b, ']');
}

static int cmp_attr(const void *a, const void *b)
{
	return strcmp((*(const struct rules_attr *const *)a)->key,
	              (*(const struct rules_attr *const *)b)->key);
}

/* A policy's match in the file's flow syntax, keys in a fixed order, lists sorted. */
static void put_match(struct buf *b, const struct rules *r, const struct rules_policy *p)
{
	const char *names[(int)CH__COUNT + (int)SEV__COUNT];
	const char *sep = "";
	size_t n;

	buf_putc(b, '{');
	if (p->channels != 0) {
		n = 0;
		for (int i = 0; i < CH__COUNT; i++) {
			if (p->channels & (1u << i))
				names[n++] = channel_name((enum channel)i);
		}
		buf_puts(b, "channel: ");
		put_strs(b, names, n, true);
		sep = ", ";
	}
	if (p->severities != 0) {
		n = 0;
		for (int i = 0; i < SEV__COUNT; i++) {
			if (p->severities & (1u << i))
				names[n++] = severity_name((enum severity)i);
		}
		buf_printf(b, "%sseverity: ", sep);
		put_strs(b, names, n, false);
		sep = ", ";
	}
	if (p->ncategories > 0) {
		const char **cats = xcalloc(p->ncategories, sizeof(*cats));
		for (size_t i = 0; i < p->ncategories; i++)
			cats[i] = r->categories[p->categories[i]].key;
		buf_printf(b, "%scategory: ", sep);
		put_strs(b, cats, p->ncategories, true);
		free(cats);
		sep = ", ";
	}
	if (p->nunits > 0) {
		buf_printf(b, "%sunit: ", sep);
		put_strs(b, (const char *const *)p->units, p->nunits, true);
		sep = ", ";
	}
	if (p->nattrs > 0) {
		const struct rules_attr **as = xcalloc(p->nattrs, sizeof(*as));
		for (size_t i = 0; i < p->nattrs; i++)
			as[i] = &p->attrs[i];
		qsort(as, p->nattrs, sizeof(*as), cmp_attr);
		buf_printf(b, "%sattrs: {", sep);
		for (size_t i = 0; i < p->nattrs; i++) {
			buf_printf(b, "%s%s: ", i > 0 ? ", " : "", as[i]->key);
			put_strs(b, (const char *const *)as[i]->values, as[i]->nvalues, true);
		}
		buf_putc(b, '}');
		free(as);
	}
	buf_putc(b, '}');
}

static void put_co(struct buf *b, const struct rules *r, const struct rules_policy *p)
{
	buf_putc(b, '[');
	for (size_t i = 0; i < p->nco; i++)
		buf_printf(b, "%s%s", i > 0 ? ", " : "", r->roles[p->co_roles[i]]);
	buf_putc(b, ']');
}

/*
 * One field compared as rendered text; when it differs, a line
 * "<what> changed: <name>: <field>: <before> -> <after>". Returns whether
 * it differed.
 */
static bool field_change(struct buf *out, const char *what, const char *name, const char *field,
                         const struct buf *x, const struct buf *y)
{
	const char *a = x->data != NULL ? x->data : "", *b = y->data != NULL ? y->data : "";

	if (strcmp(a, b) == 0)
		return false;
	if (out != NULL)
		buf_printf(out, "%s changed: %s: %s: %s -> %s\n", what, name, field, a, b);
	return true;
}

/* ---- assignments -------------------------------------------------------- */

struct side {
	const struct rules *r;
	int unit; /* resolved; -1: unknown unit */
	int cat;
	struct route_chain chain;
};

/* The co-assignees of one role, exactly as route_chain finds them for a policy. */
static struct rules_plist co_people(const struct side *s, const char *role)
{
	struct rules_plist none = {NULL, 0};
	struct route_chain ch;
	struct rules_policy fake;
	int idx = s->unit >= 0 ? rules_role(s->r, role) : -1;

	if (idx < 0)
		return none;
	memset(&fake, 0, sizeof(fake));
	fake.co_roles = &idx;
	fake.nco = 1;
	route_chain(s->r, s->unit, s->cat, &fake, &ch);
	return ch.nco > 0 ? ch.co[0] : none;
}

static void put_side(struct buf *b, const struct side *s, const struct rules_plist *pl)
{
	if (s->unit < 0)
		buf_puts(b, "(unknown unit)");
	else
		put_ids(b, s->r, pl);
}

static void assignment_line(struct buf *out, const char *unit, const char *cat, const char *what,
                            const struct side *x, const struct rules_plist *px,
                            const struct side *y, const struct rules_plist *py)
{
	if (out == NULL)
		return;
	buf_printf(out, "%s/%s/%s: ", unit, cat, what);
	put_side(out, x, px);
	buf_puts(out, " -> ");
	put_side(out, y, py);
	buf_putc(out, '\n');
}

/* Role names named by co_assign in either file, each once. */
static size_t co_roles(const struct rules *a, const struct rules *b, const char ***outp)
{
	size_t n = 0, max = 0;
	const struct rules *rs[2] = {a, b};

	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < rs[k]->npolicies; i++)
			max += rs[k]->policies[i].nco;
	}
	const char **out = xcalloc(max > 0 ? max : 1, sizeof(*out));
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < rs[k]->npolicies; i++) {
			const struct rules_policy *p = &rs[k]->policies[i];
			for (size_t j = 0; j < p->nco; j++) {
				const char *name = rs[k]->roles[p->co_roles[j]];
				size_t m = 0;
				while (m < n && strcmp(out[m], name) != 0)
					m++;
				if (m == n)
					out[n++] = name;
			}
		}
	}
	*outp = out;
	return n;
}

static void diff_unit(const struct rules *ra, const struct rules *rb, const char *unit,
                      const char *const *roles, size_t nroles, struct ctl_diff *d, struct buf *out)
{
	struct side x = {.r = ra}, y = {.r = rb};
	bool fb;

	x.unit = route_resolve_unit(ra, unit, strlen(unit), &fb);
	y.unit = route_resolve_unit(rb, unit, strlen(unit), &fb);
	for (size_t c = 0; c < ra->ncategories; c++) {
		const char *cat = ra->categories[c].key;
		x.cat = (int)c;
		y.cat = rules_category(rb, cat);
		if (y.cat < 0)
			continue; /* reported as a removed category */
		if (x.unit >= 0)
			route_chain(ra, x.unit, x.cat, NULL, &x.chain);
		if (y.unit >= 0)
			route_chain(rb, y.unit, y.cat, NULL, &y.chain);
		for (size_t l = 0; l < ra->nlevels; l++) {
			int lb = rules_level(rb, ra->levels[l].key);
			if (lb < 0)
				continue; /* reported as a removed level */
			const struct rules_plist *px =
			        x.unit >= 0 ? &x.chain.levels[l].assignees : NULL;
			const struct rules_plist *py =
			        y.unit >= 0 ? &y.chain.levels[lb].assignees : NULL;
			if (px != NULL && py != NULL && plist_same(ra, px, rb, py))
				continue;
			d->assignments++;
			assignment_line(out, unit, cat, ra->levels[l].key, &x, px, &y, py);
		}
		for (size_t k = 0; k < nroles; k++) {
			struct rules_plist px = co_people(&x, roles[k]),
			                   py = co_people(&y, roles[k]);
			if (x.unit >= 0 && y.unit >= 0 && plist_same(ra, &px, rb, &py))
				continue;
			char what[96];
			snprintf(what, sizeof(what), "co_assign %s", roles[k]);
			d->assignments++;
			assignment_line(out, unit, cat, what, &x, &px, &y, &py);
		}
	}
}

static void diff_assignments(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                             struct buf *out)
{
	const char **roles;
	size_t nroles = co_roles(a, b, &roles);

	for (size_t u = 0; u < a->nunits; u++)
		diff_unit(a, b, a->units[u].id, roles, nroles, d, out);
	for (size_t u = 0; u < b->nunits; u++) {
		const char *id = b->units[u].id;
		if (rules_unit(a, id, strlen(id)) < 0)
			diff_unit(a, b, id, roles, nroles, d, out);
	}
	free(roles);
}

/* ---- policies ----------------------------------------------------------- */

/* Position of policy i among the policies both files have. */
static size_t common_rank(const struct rules *r, const struct rules *other, size_t i)
{
	size_t rank = 0;

	for (size_t k = 0; k < i; k++) {
		if (rules_policy(other, r->policies[k].name) >= 0)
			rank++;
	}
	return rank;
}

static bool diff_policy(const struct rules *ra, size_t ia, const struct rules *rb, size_t ib,
                        struct buf *out)
{
	const struct rules_policy *p = &ra->policies[ia], *q = &rb->policies[ib];
	struct buf x, y;
	bool changed = false;

	buf_init(&x);
	buf_init(&y);
	buf_printf(&x, "%zu", common_rank(ra, rb, ia) + 1);
	buf_printf(&y, "%zu", common_rank(rb, ra, ib) + 1);
	changed |= field_change(out, "policy", p->name, "order among common policies", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	put_match(&x, ra, p);
	put_match(&y, rb, q);
	changed |= field_change(out, "policy", p->name, "match", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	buf_puts(&x, ra->levels[p->start_level].key);
	buf_puts(&y, rb->levels[q->start_level].key);
	changed |= field_change(out, "policy", p->name, "start_level", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	put_durations(&x, p->ack_ms, p->nack);
	put_durations(&y, q->ack_ms, q->nack);
	changed |= field_change(out, "policy", p->name, "ack_within", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	put_durations(&x, p->resolve_ms, p->nresolve);
	put_durations(&y, q->resolve_ms, q->nresolve);
	changed |= field_change(out, "policy", p->name, "resolve_within", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	put_co(&x, ra, p);
	put_co(&y, rb, q);
	changed |= field_change(out, "policy", p->name, "co_assign", &x, &y);
	buf_free(&x);
	buf_free(&y);
	return changed;
}

static void diff_policies(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                          struct buf *out)
{
	for (size_t i = 0; i < b->npolicies; i++) {
		if (rules_policy(a, b->policies[i].name) >= 0)
			continue;
		d->policies_added++;
		if (out != NULL)
			buf_printf(out, "policy added: %s (position %zu)\n", b->policies[i].name,
			           i + 1);
	}
	for (size_t i = 0; i < a->npolicies; i++) {
		int k = rules_policy(b, a->policies[i].name);
		if (k < 0) {
			d->policies_removed++;
			if (out != NULL)
				buf_printf(out, "policy removed: %s\n", a->policies[i].name);
		} else if (diff_policy(a, i, b, (size_t)k, out)) {
			d->policies_changed++;
		}
	}
}

/* ---- people, levels, categories, units ---------------------------------- */

static void diff_people(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                        struct buf *out)
{
	struct buf x, y;

	buf_init(&x);
	buf_init(&y);
	for (size_t i = 0; i < b->npeople; i++) {
		if (rules_person(a, b->people[i].id) >= 0)
			continue;
		d->people_added++;
		if (out != NULL)
			buf_printf(out, "person added: %s (%s)\n", b->people[i].id,
			           b->people[i].name);
	}
	for (size_t i = 0; i < a->npeople; i++) {
		const struct rules_person *p = &a->people[i];
		int k = rules_person(b, p->id);
		if (k < 0) {
			d->people_removed++;
			if (out != NULL)
				buf_printf(out, "person removed: %s (%s)\n", p->id, p->name);
			continue;
		}
		const struct rules_person *q = &b->people[k];
		bool changed = false;
		buf_reset(&x);
		buf_reset(&y);
		buf_puts(&x, p->name);
		buf_puts(&y, q->name);
		changed |= field_change(out, "person", p->id, "name", &x, &y);
		buf_reset(&x);
		buf_reset(&y);
		put_strs(&x, (const char *const *)p->notify, p->nnotify, false);
		put_strs(&y, (const char *const *)q->notify, q->nnotify, false);
		changed |= field_change(out, "person", p->id, "notify", &x, &y);
		buf_reset(&x);
		buf_reset(&y);
		buf_puts(&x, p->admin ? "true" : "false");
		buf_puts(&y, q->admin ? "true" : "false");
		changed |= field_change(out, "person", p->id, "admin", &x, &y);
		if (changed)
			d->people_changed++;
	}
	buf_free(&x);
	buf_free(&y);
}

static void diff_levels(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                        struct buf *out)
{
	struct buf x, y;

	buf_init(&x);
	buf_init(&y);
	for (size_t i = 0; i < b->nlevels; i++) {
		if (rules_level(a, b->levels[i].key) >= 0)
			continue;
		d->levels_added++;
		if (out != NULL)
			buf_printf(out, "level added: %s (%s, position %zu)\n", b->levels[i].key,
			           b->levels[i].name, i + 1);
	}
	for (size_t i = 0; i < a->nlevels; i++) {
		const struct rules_level *p = &a->levels[i];
		int k = rules_level(b, p->key);
		if (k < 0) {
			d->levels_removed++;
			if (out != NULL)
				buf_printf(out, "level removed: %s (%s)\n", p->key, p->name);
			continue;
		}
		const struct rules_level *q = &b->levels[k];
		bool changed = false;
		const char *fields[][3] = {
		        {"name", p->name, q->name},
		        {"unit", p->unit_kind, q->unit_kind},
		        {"role", p->role, q->role},
		};
		for (size_t f = 0; f < GR_NELEM(fields); f++) {
			buf_reset(&x);
			buf_reset(&y);
			buf_puts(&x, fields[f][1]);
			buf_puts(&y, fields[f][2]);
			changed |= field_change(out, "level", p->key, fields[f][0], &x, &y);
		}
		buf_reset(&x);
		buf_reset(&y);
		buf_printf(&x, "%zu", i + 1);
		buf_printf(&y, "%d", k + 1);
		changed |= field_change(out, "level", p->key, "position", &x, &y);
		if (changed)
			d->levels_changed++;
	}
	buf_free(&x);
	buf_free(&y);
}

static void diff_categories(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                            struct buf *out)
{
	struct buf x, y;

	buf_init(&x);
	buf_init(&y);
	for (size_t i = 0; i < b->ncategories; i++) {
		if (rules_category(a, b->categories[i].key) >= 0)
			continue;
		d->categories_added++;
		if (out != NULL)
			buf_printf(out, "category added: %s (%s)\n", b->categories[i].key,
			           b->categories[i].name);
	}
	for (size_t i = 0; i < a->ncategories; i++) {
		const struct rules_category *p = &a->categories[i];
		int k = rules_category(b, p->key);
		if (k < 0) {
			d->categories_removed++;
			if (out != NULL)
				buf_printf(out, "category removed: %s (%s)\n", p->key, p->name);
			continue;
		}
		buf_reset(&x);
		buf_reset(&y);
		buf_puts(&x, p->name);
		buf_puts(&y, b->categories[k].name);
		if (field_change(out, "category", p->key, "name", &x, &y))
			d->categories_changed++;
	}
	buf_free(&x);
	buf_free(&y);
}

static void diff_units(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                       struct buf *out)
{
	struct buf x, y;

	buf_init(&x);
	buf_init(&y);
	for (size_t i = 0; i < b->nunits; i++) {
		const struct rules_unit *u = &b->units[i];
		if (rules_unit(a, u->id, strlen(u->id)) >= 0)
			continue;
		d->units_added++;
		if (out != NULL)
			buf_printf(out, "unit added: %s (%s, %s)\n", u->id, u->name,
			           b->kinds[u->kind]);
	}
	for (size_t i = 0; i < a->nunits; i++) {
		const struct rules_unit *u = &a->units[i];
		int k = rules_unit(b, u->id, strlen(u->id));
		if (k < 0) {
			d->units_removed++;
			if (out != NULL)
				buf_printf(out, "unit removed: %s (%s)\n", u->id, u->name);
			continue;
		}
		const struct rules_unit *v = &b->units[k];
		bool changed = false;
		buf_reset(&x);
		buf_reset(&y);
		buf_puts(&x, u->name);
		buf_puts(&y, v->name);
		changed |= field_change(out, "unit", u->id, "name", &x, &y);
		buf_reset(&x);
		buf_reset(&y);
		buf_puts(&x, a->kinds[u->kind]);
		buf_puts(&y, b->kinds[v->kind]);
		changed |= field_change(out, "unit", u->id, "kind", &x, &y);
		if (changed)
			d->units_changed++;
	}
	buf_free(&x);
	buf_free(&y);
}

size_t ctl_diff_rules(const struct rules *before, const struct rules *after, struct ctl_diff *d,
                      struct buf *out)
{
	memset(d, 0, sizeof(*d));
	diff_assignments(before, after, d, out);
	diff_policies(before, after, d, out);
	diff_people(before, after, d, out);
	diff_levels(before, after, d, out);
	diff_categories(before, after, d, out);
	diff_units(before, after, d, out);
	return d->assignments + d->policies_added + d->policies_removed + d->policies_changed +
	       d->people_added + d->people_removed + d->people_changed + d->levels_added +
	       d->levels_removed + d->levels_changed + d->categories_added + d->categories_removed +
	       d->categories_changed + d->units_added + d->units_removed + d->units_changed;
}

void ctl_diff_summary(const struct ctl_diff *d, struct buf *out)
{
	const struct {
		size_t n;
		const char *one, *many, *verb;
		bool always;
	} parts[] = {
	        {d->assignments, "assignment", "assignments", "changed", true},
	        {d->policies_added, "policy", "policies", "added", true},
	        {d->policies_removed, "policy", "policies", "removed", true},
	        {d->policies_changed, "policy", "policies", "changed", true},
	        {d->people_added, "person", "people", "added", true},
	        {d->people_removed, "person", "people", "removed", true},
	        {d->people_changed, "person", "people", "changed", true},
	        {d->levels_added, "level", "levels", "added", false},
	        {d->levels_removed, "level", "levels", "removed", false},
	        {d->levels_changed, "level", "levels", "changed", false},
	        {d->categories_added, "category", "categories", "added", false},
	        {d->categories_removed, "category", "categories", "removed", false},
	        {d->categories_changed, "category", "categories", "changed", false},
	        {d->units_added, "unit", "units", "added", false},
	        {d->units_removed, "unit", "units", "removed", false},
	        {d->units_changed, "unit", "units", "changed", false},
	};
	const char *sep = "";

	for (size_t i = 0; i < GR_NELEM(parts); i++) {
		if (!parts[i].always && parts[i].n == 0)
			continue;
		buf_printf(out, "%s%zu %s %s", sep, parts[i].n,
		           parts[i].n == 1 ? parts[i].one : parts[i].many, parts[i].verb);
		sep = ", ";
	}
}
