/*
 * ctl_diff.c: the difference between two rules objects, in what matters
 * to the people on duty — who is assigned for each unit, category and
 * level — and then in the objects an admin edits: policies, people,
 * levels, categories and units. Assignees come from route_chain, the
 * function the daemon routes with, so that the diff cannot disagree with
 * what the daemon will do. Pure: no I/O.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_diff.h"
#include "route.h"
#include "schedule.h"

/* ---- small renderers ---------------------------------------------------- */

/* A list as written: person ids, and "schedule:NAME" for a schedule. */
static void put_ids(struct buf *b, const struct rules *r, const struct rules_plist *pl)
{
	buf_putc(b, '[');
	for (size_t i = 0; i < pl->n; i++) {
		int id = pl->ids[i];
		if (id < 0)
			buf_printf(b, "%sschedule:%s", i > 0 ? ", " : "",
			           r->schedules[RULES_SCHED_OF(id)].name);
		else
			buf_printf(b, "%s%s", i > 0 ? ", " : "", r->people[id].id);
	}
	buf_putc(b, ']');
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

static void put_durations(struct buf *b, const struct rules_dur *v, size_t n)
{
	char d[DUR_BUFSZ];

	if (n != 1)
		buf_putc(b, '[');
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s", i > 0 ? ", " : "", rules_dur_text(&v[i], d));
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
static bool text_change(struct buf *out, const char *what, const char *name, const char *field,
                        const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return false;
	if (out != NULL)
		buf_printf(out, "%s changed: %s: %s: %s -> %s\n", what, name, field, a, b);
	return true;
}

static bool field_change(struct buf *out, const char *what, const char *name, const char *field,
                         const struct buf *x, const struct buf *y)
{
	return text_change(out, what, name, field, x->data != NULL ? x->data : "",
	                   y->data != NULL ? y->data : "");
}

/* ---- assignments -------------------------------------------------------- */

/*
 * What the comparisons of a big pair of files look up again and again,
 * looked up once: the other file's index of each person, unit, category,
 * level and co_assign role of before (-1: none there). A person id names
 * one person in a file, so that "the same people by id" is a comparison
 * of indexes.
 */
struct pairing {
	const struct rules *a, *b;
	int *person_b; /* per person of a */
	int *unit_b;   /* per unit of a */
	int *cat_b;    /* per category of a */
	int *sched_b;  /* per schedule of a */
	int lvl_b[RULES_MAX_LEVELS];
	const char **roles; /* co_assign role names of either file, each once */
	int *role_a, *role_b;
	size_t nroles;
};

struct side {
	const struct rules *r;
	int unit; /* resolved; -1: unknown unit */
};

static bool plist_has_idx(const struct rules_plist *pl, int p)
{
	for (size_t i = 0; i < pl->n; i++) {
		if (pl->ids[i] == p)
			return true;
	}
	return false;
}

/*
 * The same people and schedules, by id and name, whatever the order: a's
 * list in before, b's in after. The entries of a list are distinct (the
 * loader sees to it), so equal counts and every one of a's in b will do.
 */
static bool plist_same(const struct pairing *pr, const struct rules_plist *a,
                       const struct rules_plist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		int id = a->ids[i];
		int q = id >= 0 ? pr->person_b[id] : pr->sched_b[RULES_SCHED_OF(id)];
		if (q < 0 || !plist_has_idx(b, id >= 0 ? q : RULES_SCHED_ID(q)))
			return false;
	}
	return true;
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

/*
 * An edited file keeps most of its people and units in their order: item i
 * of before is most often item i + shift of after, shift being what the
 * last item found had, and one string comparison in file order finds it
 * without a lookup at random in after's index (ids are unique in a file).
 */
static int guess_person(const struct rules *b, const char *id, size_t i, ptrdiff_t *shift)
{
	ptrdiff_t g = (ptrdiff_t)i + *shift;
	int k;

	if (g >= 0 && (size_t)g < b->npeople && strcmp(b->people[g].id, id) == 0)
		return (int)g;
	k = rules_person(b, id);
	if (k >= 0)
		*shift = (ptrdiff_t)k - (ptrdiff_t)i;
	return k;
}

static int guess_unit(const struct rules *b, const char *id, size_t i, ptrdiff_t *shift)
{
	ptrdiff_t g = (ptrdiff_t)i + *shift;
	int k;

	if (g >= 0 && (size_t)g < b->nunits && strcmp(b->units[g].id, id) == 0)
		return (int)g;
	k = rules_unit(b, id, strlen(id));
	if (k >= 0)
		*shift = (ptrdiff_t)k - (ptrdiff_t)i;
	return k;
}

static void pairing_init(struct pairing *pr, const struct rules *a, const struct rules *b)
{
	ptrdiff_t shift = 0;

	memset(pr, 0, sizeof(*pr));
	pr->a = a;
	pr->b = b;
	pr->person_b = xcalloc(a->npeople + 1, sizeof(int));
	for (size_t i = 0; i < a->npeople; i++)
		pr->person_b[i] = guess_person(b, a->people[i].id, i, &shift);
	pr->unit_b = xcalloc(a->nunits + 1, sizeof(int));
	shift = 0;
	for (size_t i = 0; i < a->nunits; i++)
		pr->unit_b[i] = guess_unit(b, a->units[i].id, i, &shift);
	pr->cat_b = xcalloc(a->ncategories + 1, sizeof(int));
	for (size_t i = 0; i < a->ncategories; i++)
		pr->cat_b[i] = rules_category(b, a->categories[i].key);
	for (size_t l = 0; l < a->nlevels; l++)
		pr->lvl_b[l] = rules_level(b, a->levels[l].key);
	pr->sched_b = xcalloc(a->nschedules + 1, sizeof(int));
	for (size_t i = 0; i < a->nschedules; i++)
		pr->sched_b[i] = rules_schedule(b, a->schedules[i].name);
	pr->nroles = co_roles(a, b, &pr->roles);
	pr->role_a = xcalloc(pr->nroles + 1, sizeof(int));
	pr->role_b = xcalloc(pr->nroles + 1, sizeof(int));
	for (size_t k = 0; k < pr->nroles; k++) {
		pr->role_a[k] = rules_role(a, pr->roles[k]);
		pr->role_b[k] = rules_role(b, pr->roles[k]);
	}
}

static void pairing_free(struct pairing *pr)
{
	free(pr->person_b);
	free(pr->unit_b);
	free(pr->cat_b);
	free(pr->sched_b);
	free(pr->roles);
	free(pr->role_a);
	free(pr->role_b);
}

/* The co-assignees of one role as written, as route_chain finds them for a policy. */
static struct rules_plist co_people(const struct side *s, int role, int cat)
{
	struct rules_plist none = {NULL, 0};

	if (s->unit < 0 || role < 0)
		return none;
	struct rules_plist pl = route_co(s->r, s->unit, role, cat, ROUTE_AS_WRITTEN);
	return pl.n > 0 ? pl : none;
}

/* A unit id of either file; xu, yu: where it resolves in each (-1: nowhere). */
static void diff_unit(const struct pairing *pr, const char *unit, int xu, int yu,
                      struct ctl_diff *d, struct buf *out)
{
	const struct rules *ra = pr->a, *rb = pr->b;
	struct side x = {ra, xu}, y = {rb, yu};
	struct route_chain xc, yc;

	for (size_t c = 0; c < ra->ncategories; c++) {
		const char *cat = ra->categories[c].key;
		int yc_cat = pr->cat_b[c];
		if (yc_cat < 0)
			continue; /* reported as a removed category */
		if (x.unit >= 0)
			route_chain(ra, x.unit, (int)c, NULL, ROUTE_AS_WRITTEN, &xc);
		if (y.unit >= 0)
			route_chain(rb, y.unit, yc_cat, NULL, ROUTE_AS_WRITTEN, &yc);
		for (size_t l = 0; l < ra->nlevels; l++) {
			int lb = pr->lvl_b[l];
			if (lb < 0)
				continue; /* reported as a removed level */
			const struct rules_plist *px = x.unit >= 0 ? &xc.levels[l].assignees : NULL;
			const struct rules_plist *py =
			        y.unit >= 0 ? &yc.levels[lb].assignees : NULL;
			if (px != NULL && py != NULL && plist_same(pr, px, py))
				continue;
			d->assignments++;
			assignment_line(out, unit, cat, ra->levels[l].key, &x, px, &y, py);
		}
		for (size_t k = 0; k < pr->nroles; k++) {
			struct rules_plist px = co_people(&x, pr->role_a[k], (int)c),
			                   py = co_people(&y, pr->role_b[k], yc_cat);
			if (x.unit >= 0 && y.unit >= 0 && plist_same(pr, &px, &py))
				continue;
			char what[96];
			snprintf(what, sizeof(what), "co_assign %s", pr->roles[k]);
			d->assignments++;
			assignment_line(out, unit, cat, what, &x, &px, &y, &py);
		}
	}
}

/*
 * A unit of before resolves to itself there; in after, to itself if after
 * has it, else to its deepest configured prefix, as an incident would.
 */
static void diff_assignments(const struct pairing *pr, struct ctl_diff *d, struct buf *out)
{
	const struct rules *a = pr->a, *b = pr->b;
	bool *in_a = xcalloc(b->nunits + 1, sizeof(*in_a)), fb;

	for (size_t u = 0; u < a->nunits; u++) {
		const char *id = a->units[u].id;
		int yu = pr->unit_b[u];
		if (yu >= 0)
			in_a[yu] = true;
		else
			yu = route_resolve_unit(b, id, strlen(id), &fb);
		diff_unit(pr, id, (int)u, yu, d, out);
	}
	for (size_t u = 0; u < b->nunits; u++) {
		const char *id = b->units[u].id;
		if (!in_a[u])
			diff_unit(pr, id, route_resolve_unit(a, id, strlen(id), &fb), (int)u, d,
			          out);
	}
	free(in_a);
}

/* ---- policies ----------------------------------------------------------- */

/*
 * Per policy of r, its position among the policies both files have, and
 * (when other_idx is not NULL) the index of its namesake in other, -1 if none.
 * Caller frees.
 */
static size_t *common_ranks(const struct rules *r, const struct rules *other, int *other_idx)
{
	size_t *rank = xcalloc(r->npolicies + 1, sizeof(*rank)), n = 0;

	for (size_t i = 0; i < r->npolicies; i++) {
		int k = rules_policy(other, r->policies[i].name);
		if (other_idx != NULL)
			other_idx[i] = k;
		rank[i] = n;
		n += k >= 0;
	}
	return rank;
}

static bool diff_policy(const struct rules *ra, size_t ia, size_t rank_a, const struct rules *rb,
                        size_t ib, size_t rank_b, struct buf *out)
{
	const struct rules_policy *p = &ra->policies[ia], *q = &rb->policies[ib];
	struct buf x, y;
	bool changed = false;

	buf_init(&x);
	buf_init(&y);
	buf_printf(&x, "%zu", rank_a + 1);
	buf_printf(&y, "%zu", rank_b + 1);
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
	put_durations(&x, p->ack, p->nack);
	put_durations(&y, q->ack, q->nack);
	changed |= field_change(out, "policy", p->name, "ack_within", &x, &y);
	buf_reset(&x);
	buf_reset(&y);
	put_durations(&x, p->resolve, p->nresolve);
	put_durations(&y, q->resolve, q->nresolve);
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
	int *in_a = xcalloc(b->npolicies + 1, sizeof(*in_a)),
	    *in_b = xcalloc(a->npolicies + 1, sizeof(*in_b));
	size_t *rank_b = common_ranks(b, a, in_a), *rank_a = common_ranks(a, b, in_b);

	for (size_t i = 0; i < b->npolicies; i++) {
		if (in_a[i] >= 0)
			continue;
		d->policies_added++;
		if (out != NULL)
			buf_printf(out, "policy added: %s (position %zu)\n", b->policies[i].name,
			           i + 1);
	}
	for (size_t i = 0; i < a->npolicies; i++) {
		int k = in_b[i];
		if (k < 0) {
			d->policies_removed++;
			if (out != NULL)
				buf_printf(out, "policy removed: %s\n", a->policies[i].name);
		} else if (diff_policy(a, i, rank_a[i], b, (size_t)k, rank_b[k], out)) {
			d->policies_changed++;
		}
	}
	free(in_a);
	free(in_b);
	free(rank_a);
	free(rank_b);
}

/* ---- people, levels, categories, units ---------------------------------- */

/* Two lists of strings that put_strs renders alike, without rendering them when equal. */
static bool strs_change(struct buf *out, const char *name, const char *field, char *const *x,
                        size_t nx, char *const *y, size_t ny)
{
	bool same = nx == ny;
	struct buf bx, by;

	for (size_t i = 0; i < nx && same; i++)
		same = strcmp(x[i], y[i]) == 0;
	if (same)
		return false;
	/* different lists may still render alike ("a, b" against "a" and "b") */
	buf_init(&bx);
	buf_init(&by);
	put_strs(&bx, (const char *const *)x, nx, false);
	put_strs(&by, (const char *const *)y, ny, false);
	bool changed = field_change(out, "person", name, field, &bx, &by);
	buf_free(&bx);
	buf_free(&by);
	return changed;
}

static void diff_people(const struct pairing *pr, struct ctl_diff *d, struct buf *out)
{
	const struct rules *a = pr->a, *b = pr->b;
	bool *in_a = xcalloc(b->npeople + 1, sizeof(*in_a));

	for (size_t i = 0; i < a->npeople; i++) {
		if (pr->person_b[i] >= 0)
			in_a[pr->person_b[i]] = true;
	}
	for (size_t i = 0; i < b->npeople; i++) {
		if (in_a[i])
			continue;
		d->people_added++;
		if (out != NULL)
			buf_printf(out, "person added: %s (%s)\n", b->people[i].id,
			           b->people[i].name);
	}
	free(in_a);
	for (size_t i = 0; i < a->npeople; i++) {
		const struct rules_person *p = &a->people[i];
		int k = pr->person_b[i];
		if (k < 0) {
			d->people_removed++;
			if (out != NULL)
				buf_printf(out, "person removed: %s (%s)\n", p->id, p->name);
			continue;
		}
		const struct rules_person *q = &b->people[k];
		bool changed = false;
		changed |= text_change(out, "person", p->id, "name", p->name, q->name);
		changed |= strs_change(out, p->id, "notify", p->notify, p->nnotify, q->notify,
		                       q->nnotify);
		changed |= text_change(out, "person", p->id, "admin", p->admin ? "true" : "false",
		                       q->admin ? "true" : "false");
		if (changed)
			d->people_changed++;
	}
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

static void diff_units(const struct pairing *pr, struct ctl_diff *d, struct buf *out)
{
	const struct rules *a = pr->a, *b = pr->b;
	bool *in_a = xcalloc(b->nunits + 1, sizeof(*in_a));

	for (size_t i = 0; i < a->nunits; i++) {
		if (pr->unit_b[i] >= 0)
			in_a[pr->unit_b[i]] = true;
	}
	for (size_t i = 0; i < b->nunits; i++) {
		const struct rules_unit *u = &b->units[i];
		if (in_a[i])
			continue;
		d->units_added++;
		if (out != NULL)
			buf_printf(out, "unit added: %s (%s, %s)\n", u->id, u->name,
			           b->kinds[u->kind]);
	}
	free(in_a);
	for (size_t i = 0; i < a->nunits; i++) {
		const struct rules_unit *u = &a->units[i];
		int k = pr->unit_b[i];
		if (k < 0) {
			d->units_removed++;
			if (out != NULL)
				buf_printf(out, "unit removed: %s (%s)\n", u->id, u->name);
			continue;
		}
		const struct rules_unit *v = &b->units[k];
		bool changed = false;
		changed |= text_change(out, "unit", u->id, "name", u->name, v->name);
		changed |= text_change(out, "unit", u->id, "kind", a->kinds[u->kind],
		                       b->kinds[v->kind]);
		if (changed)
			d->units_changed++;
	}
}

/* ---- schedules and the calendar ------------------------------------------ */

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* An instant as the local time of the rules' zone, "2026-02-15T08:00". */
static void put_local(struct buf *b, const struct rules *r, int64_t t)
{
	char date[CAL_DATE_BUFSZ];
	int64_t local = tz_local(r->tz, t), day = floordiv(local, DAY_MS);
	int64_t ms = local - day * DAY_MS;

	calendar_format_date(day, date);
	buf_printf(b, "%sT%02d:%02d", date, (int)(ms / 3600000), (int)(ms / 60000 % 60));
	if (ms % 60000 != 0)
		buf_printf(b, ":%02d", (int)(ms / 1000 % 60));
}

static void put_schedule_field(struct buf *b, const struct rules *r, const struct schedule *s,
                               int field)
{
	char date[CAL_DATE_BUFSZ];

	switch (field) {
	case 0:
		buf_printf(b, "%02d:%02d", (int)(s->handoff / 3600000),
		           (int)(s->handoff / 60000 % 60));
		break;
	case 1:
		buf_puts(b, s->weekly ? "weekly" : "daily");
		break;
	case 2:
		calendar_format_date(s->start, date);
		buf_puts(b, date);
		break;
	case 3:
		buf_putc(b, '[');
		for (size_t i = 0; i < s->nslots; i++) {
			buf_puts(b, i > 0 ? ", " : "");
			put_ids(b, r, &s->slots[i]);
		}
		buf_putc(b, ']');
		break;
	default:
		buf_putc(b, '[');
		for (size_t i = 0; i < s->nover; i++) {
			const struct sched_override *o = &s->over[i];
			buf_puts(b, i > 0 ? ", {from: " : "{from: ");
			put_local(b, r, o->from);
			buf_puts(b, ", to: ");
			put_local(b, r, o->to);
			buf_puts(b, ", people: ");
			put_ids(b, r, &o->people);
			if (o->note != NULL)
				buf_printf(b, ", note: %s", o->note);
			buf_putc(b, '}');
		}
		buf_putc(b, ']');
		break;
	}
}

static void diff_schedules(const struct pairing *pr, struct ctl_diff *d, struct buf *out)
{
	static const char *const fields[] = {"handoff", "rotation", "start", "slots", "overrides"};
	const struct rules *a = pr->a, *b = pr->b;
	struct buf x, y;

	for (size_t i = 0; i < b->nschedules; i++) {
		if (rules_schedule(a, b->schedules[i].name) >= 0)
			continue;
		d->schedules_added++;
		if (out != NULL)
			buf_printf(out, "schedule added: %s\n", b->schedules[i].name);
	}
	buf_init(&x);
	buf_init(&y);
	for (size_t i = 0; i < a->nschedules; i++) {
		const struct schedule *s = &a->schedules[i];
		int k = pr->sched_b[i];
		if (k < 0) {
			d->schedules_removed++;
			if (out != NULL)
				buf_printf(out, "schedule removed: %s\n", s->name);
			continue;
		}
		bool changed = false;
		for (int f = 0; f < (int)GR_NELEM(fields); f++) {
			buf_reset(&x);
			buf_reset(&y);
			put_schedule_field(&x, a, s, f);
			put_schedule_field(&y, b, &b->schedules[k], f);
			changed |= field_change(out, "schedule", s->name, fields[f], &x, &y);
		}
		d->schedules_changed += changed;
	}
	buf_free(&x);
	buf_free(&y);
}

static void put_calendar_field(struct buf *b, const struct calendar *c, int field)
{
	char date[CAL_DATE_BUFSZ];
	size_t n;

	switch (field) {
	case 0:
		buf_puts(b, tz_name(calendar_tz(c)));
		break;
	case 1: {
		const struct cal_hours *h = calendar_hours(c, &n);
		for (size_t i = 0; i < n; i++)
			buf_printf(b, "%s%02d:%02d-%02d:%02d", i > 0 ? ", " : "",
			           (int)(h[i].start / 3600000), (int)(h[i].start / 60000 % 60),
			           (int)(h[i].end / 3600000), (int)(h[i].end / 60000 % 60));
		break;
	}
	case 2:
		/* mon .. sun */
		for (int w = 1, k = 0; k < 7; w = (w + 1) % 7, k++) {
			if (calendar_weekdays(c) >> w & 1)
				buf_printf(b, "%s%s", b->len > 0 ? ", " : "",
				           calendar_weekday_key(w));
		}
		break;
	default:
		if (calendar_covered_until(c) == INT64_MIN) {
			buf_puts(b, "(none)");
		} else {
			calendar_format_date(calendar_covered_until(c), date);
			buf_puts(b, date);
		}
		break;
	}
}

/* The listed dates (holidays, workdays) that differ: how many, and the first few. */
static bool dates_change(const struct calendar *a, const struct calendar *b, struct buf *out)
{
	int64_t alo, ahi, blo, bhi, n = 0;
	struct buf first;

	calendar_listed(a, &alo, &ahi);
	calendar_listed(b, &blo, &bhi);
	int64_t lo = alo <= ahi && (blo > bhi || alo < blo) ? alo : blo;
	int64_t hi = alo <= ahi && (blo > bhi || ahi > bhi) ? ahi : bhi;
	buf_init(&first);
	for (int64_t day = lo; day <= hi; day++) {
		enum cal_mark x, y;
		calendar_is_workday(a, day, &x);
		calendar_is_workday(b, day, &y);
		if (x == y)
			continue;
		if (n++ < 5) {
			char date[CAL_DATE_BUFSZ];
			calendar_format_date(day, date);
			buf_printf(&first, "%s%s", n > 1 ? ", " : "", date);
		}
	}
	if (n > 0 && out != NULL)
		buf_printf(out,
		           "calendar changed: holidays and workdays: %lld date%s differ: %s%s\n",
		           (long long)n, n == 1 ? "" : "s", first.data, n > 5 ? ", ..." : "");
	buf_free(&first);
	return n > 0;
}

static void diff_calendar(const struct rules *a, const struct rules *b, struct ctl_diff *d,
                          struct buf *out)
{
	static const char *const fields[] = {"timezone", "hours", "weekdays", "covered_until"};
	const struct calendar *x = a->calendar, *y = b->calendar;
	struct buf bx, by;
	bool changed = false;

	if (x == NULL || y == NULL) {
		if (x == y)
			return;
		d->calendar_changed = 1;
		if (out != NULL)
			buf_printf(out, "calendar %s\n", x == NULL ? "added" : "removed");
		return;
	}
	buf_init(&bx);
	buf_init(&by);
	for (int f = 0; f < (int)GR_NELEM(fields); f++) {
		buf_reset(&bx);
		buf_reset(&by);
		put_calendar_field(&bx, x, f);
		put_calendar_field(&by, y, f);
		if (strcmp(bx.data != NULL ? bx.data : "", by.data != NULL ? by.data : "") == 0)
			continue;
		changed = true;
		if (out != NULL)
			buf_printf(out, "calendar changed: %s: %s -> %s\n", fields[f], bx.data,
			           by.data);
	}
	changed |= dates_change(x, y, out);
	buf_free(&bx);
	buf_free(&by);
	d->calendar_changed = changed;
}

size_t ctl_diff_rules(const struct rules *before, const struct rules *after, struct ctl_diff *d,
                      struct buf *out)
{
	struct pairing pr;

	memset(d, 0, sizeof(*d));
	pairing_init(&pr, before, after);
	diff_assignments(&pr, d, out);
	diff_policies(before, after, d, out);
	diff_people(&pr, d, out);
	diff_levels(before, after, d, out);
	diff_categories(before, after, d, out);
	diff_units(&pr, d, out);
	diff_schedules(&pr, d, out);
	diff_calendar(before, after, d, out);
	pairing_free(&pr);
	return d->assignments + d->policies_added + d->policies_removed + d->policies_changed +
	       d->people_added + d->people_removed + d->people_changed + d->levels_added +
	       d->levels_removed + d->levels_changed + d->categories_added + d->categories_removed +
	       d->categories_changed + d->units_added + d->units_removed + d->units_changed +
	       d->schedules_added + d->schedules_removed + d->schedules_changed +
	       d->calendar_changed;
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
	        {d->schedules_added, "schedule", "schedules", "added", false},
	        {d->schedules_removed, "schedule", "schedules", "removed", false},
	        {d->schedules_changed, "schedule", "schedules", "changed", false},
	        {d->calendar_changed, "calendar", "calendars", "changed", false},
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
