/*
 * rules.c: the rules model and its YAML loading (SPEC §3).
 *
 * The loader reads the whole document, reports every mistake it finds
 * (file:line:col, with the path in the document), and only hands out a
 * rules object when there was no error. Sections are read in dependency
 * order whatever their order in the file: levels, categories, people,
 * units (which name people and categories), then policies (which name
 * levels, categories and roles).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "rules.h"
#include "route.h"
#include "schedule.h"
#include "yamldoc.h"

#define RULES_MAX_FILE     (256u * 1024 * 1024)
#define RULES_DEFAULT_ZONE "Asia/Shanghai"

/* Files from this size on give their freed memory back to the system after a load. */
#define TRIM_MIN (1u << 20)

/*
 * The units' and people's strings and small arrays: hundreds of thousands
 * of them in a big file. Bump-allocated in blocks, they cost no malloc
 * header each and are freed in a few calls, not millions.
 */
struct rules_chunk {
	struct rules_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

/* Blocks grow from 64 KB for a small file to 2 MB, header and all (a huge page), for a big one. */
#define CHUNK_MIN (64u << 10)
#define CHUNK_MAX ((2u << 20) - sizeof(struct rules_chunk))

struct loader {
	struct ydoc y;
	struct rules *r;
	bool *referenced; /* per person: named by some unit role */
	const struct ynode **person_nodes;
	const struct ynode **unit_id_nodes; /* per loaded unit: its id node */
	size_t *unit_seq;                   /* per loaded unit: its place in the units list */
	const struct ynode **level_unit_nodes;
	size_t capids;      /* room in rules.pids */
	int64_t now, today; /* what the calendar's coverage is counted from */
	int64_t covered_ms; /* working time from today to the end of covered_until; -1: unknown */
};

static void *arena_alloc(struct rules *r, size_t size, size_t align)
{
	struct rules_chunk *c = r->chunks;
	size_t at = c != NULL ? (c->used + align - 1) & ~(align - 1) : 0;

	if (c == NULL || at > c->cap || c->cap - at < size) {
		size_t grow = c == NULL                ? CHUNK_MIN
		              : c->cap < CHUNK_MAX / 2 ? c->cap * 2
		                                       : CHUNK_MAX;
		size_t cap = size > grow / 4 ? size : grow;
		/* not zeroed: arena_zalloc zeroes what it hands out */
		struct rules_chunk *n = htab_big_alloc(1, sizeof(*n) + cap);
		n->used = 0;
		n->cap = cap;
		if (c != NULL && cap != grow) {
			/* a big one of its own: the current block keeps filling */
			n->next = c->next;
			c->next = n;
			n->used = size;
			return n->data;
		}
		n->next = c;
		r->chunks = c = n;
		at = 0;
	}
	c->used = at + size;
	return c->data + at;
}

/* Zeroed room for n objects of one type. */
#define ARENA_NEW(r, n, type) ((type *)arena_zalloc((r), (n), sizeof(type), alignof(type)))

static void *arena_zalloc(struct rules *r, size_t n, size_t size, size_t align)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("allocation overflow: %zu x %zu bytes", n, size);
	void *p = arena_alloc(r, n * size, align);
	memset(p, 0, n * size);
	return p;
}

static char *arena_strdup(struct rules *r, const char *s)
{
	size_t len = strlen(s);
	char *p = arena_alloc(r, len + 1, 1);
	memcpy(p, s, len + 1);
	return p;
}

static const char *const channel_keys[] = {"patrol", "feedback", "scheduled", "alert"};

/* Interns s into names/index; returns its index. */
static int intern(char ***names, size_t *n, struct htab *index, const char *s)
{
	int i = htab_get(index, s, strlen(s));
	if (i >= 0)
		return i;
	*names = xreallocarray(*names, *n + 1, sizeof(**names));
	(*names)[*n] = xstrdup(s);
	htab_put(index, (*names)[*n], strlen(s), (int)*n);
	return (int)(*n)++;
}

/* A required string that must satisfy valid(); reports and gives NULL. */
static const char *read_id(struct loader *L, const struct ynode *n,
                           bool (*valid)(const char *, size_t), const char *what, const char *form)
{
	const char *s;

	if (ydoc_str(&L->y, n, &s) < 0)
		return NULL;
	if (!valid(s, n->len)) {
		ydoc_error(&L->y, n, "invalid %s \"%s\": expected %s", what, s, form);
		return NULL;
	}
	return s;
}

#define KEY_FORM  "[a-z][a-z0-9_]{0,63}"
#define UNIT_FORM "'/'-joined segments of [a-z0-9][a-z0-9_-]{0,63}, at most 16"
#define PERS_FORM "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

/* ---- levels ---- */

static void load_levels(struct loader *L, const struct ynode *n)
{
	/* NULL-terminated: the keys are all required too */
	static const char *const keys[] = {"key", "name", "unit", "role", NULL};
	struct rules *r = L->r;

	if (ydoc_expect_seq(&L->y, n) < 0)
		return;
	if (ydoc_len(n) == 0 || ydoc_len(n) > RULES_MAX_LEVELS) {
		ydoc_error(&L->y, n, "expected 1 to %d levels, got %zu", RULES_MAX_LEVELS,
		           ydoc_len(n));
		if (ydoc_len(n) == 0)
			return;
	}
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *v[4], *item = ydoc_item(&L->y, n, i);
		size_t old = ydoc_push_index(&L->y, i);
		const char *key = NULL, *name = NULL, *unit = NULL, *role = NULL;

		if (ydoc_fields(&L->y, item, keys, 4, keys, v) == 0) {
			size_t o;
			if (v[0] != NULL) {
				o = ydoc_push_key(&L->y, "key");
				key = read_id(L, v[0], key_valid, "level key", KEY_FORM);
				if (key != NULL &&
				    htab_get(&r->level_index, key, strlen(key)) >= 0) {
					ydoc_error(&L->y, v[0], "duplicate level \"%s\"", key);
					key = NULL;
				}
				ydoc_pop(&L->y, o);
			}
			if (v[1] != NULL) {
				o = ydoc_push_key(&L->y, "name");
				if (ydoc_str(&L->y, v[1], &name) < 0)
					name = NULL;
				ydoc_pop(&L->y, o);
			}
			if (v[2] != NULL) {
				o = ydoc_push_key(&L->y, "unit");
				unit = read_id(L, v[2], key_valid, "unit kind", KEY_FORM);
				ydoc_pop(&L->y, o);
			}
			if (v[3] != NULL) {
				o = ydoc_push_key(&L->y, "role");
				role = read_id(L, v[3], key_valid, "role", KEY_FORM);
				ydoc_pop(&L->y, o);
			}
		}
		if (r->nlevels < RULES_MAX_LEVELS) {
			struct rules_level *lv = &r->levels[r->nlevels];
			lv->key = xstrdup(key != NULL ? key : "");
			lv->name = xstrdup(name != NULL ? name : "");
			lv->unit_kind = xstrdup(unit != NULL ? unit : "");
			lv->role = xstrdup(role != NULL ? role : "");
			lv->kind = -1;
			lv->role_idx = -1;
			L->level_unit_nodes[r->nlevels] = v[2];
			if (key != NULL)
				htab_put(&r->level_index, lv->key, strlen(lv->key),
				         (int)r->nlevels);
			r->nlevels++;
		}
		ydoc_pop(&L->y, old);
	}
}

/* ---- categories ---- */

static void load_categories(struct loader *L, const struct ynode *n)
{
	static const char *const keys[] = {"key", "name", NULL};
	struct rules *r = L->r;

	if (ydoc_expect_seq(&L->y, n) < 0)
		return;
	if (ydoc_len(n) == 0)
		ydoc_error(&L->y, n, "expected at least one category");
	r->categories = xcalloc(ydoc_len(n), sizeof(*r->categories));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *v[2], *item = ydoc_item(&L->y, n, i);
		size_t old = ydoc_push_index(&L->y, i);
		const char *key = NULL, *name = NULL;

		if (ydoc_fields(&L->y, item, keys, 2, keys, v) == 0) {
			size_t o;
			if (v[0] != NULL) {
				o = ydoc_push_key(&L->y, "key");
				key = read_id(L, v[0], key_valid, "category key", KEY_FORM);
				if (key != NULL &&
				    htab_get(&r->category_index, key, strlen(key)) >= 0) {
					ydoc_error(&L->y, v[0], "duplicate category \"%s\"", key);
					key = NULL;
				}
				ydoc_pop(&L->y, o);
			}
			if (v[1] != NULL) {
				o = ydoc_push_key(&L->y, "name");
				if (ydoc_str(&L->y, v[1], &name) < 0)
					name = NULL;
				ydoc_pop(&L->y, o);
			}
		}
		if (key != NULL) {
			struct rules_category *c = &r->categories[r->ncategories];
			c->key = xstrdup(key);
			c->name = xstrdup(name != NULL ? name : key);
			htab_put(&r->category_index, c->key, strlen(c->key), (int)r->ncategories);
			r->ncategories++;
		}
		ydoc_pop(&L->y, old);
	}
}

/* ---- people ---- */

static void load_person(struct ydoc *y, const char *id, const struct ynode *knode,
                        const struct ynode *val, void *arg)
{
	static const char *const keys[] = {"name", "notify", "admin"};
	static const char *const required[] = {"name", NULL};
	struct loader *L = arg;
	struct rules *r = L->r;
	const struct ynode *v[3];
	const char *name = NULL;
	bool admin = false, ok = true;

	if (!person_id_valid(id, knode->len)) {
		ydoc_error(y, knode, "invalid person id \"%s\": expected %s", id, PERS_FORM);
		ok = false;
	}
	if (ydoc_fields(y, val, keys, 3, required, v) < 0)
		return;
	if (v[0] != NULL) {
		size_t o = ydoc_push_key(y, "name");
		if (ydoc_str(y, v[0], &name) < 0)
			ok = false;
		ydoc_pop(y, o);
	}
	if (v[2] != NULL) {
		size_t o = ydoc_push_key(y, "admin");
		if (ydoc_bool(y, v[2], &admin) < 0)
			ok = false;
		ydoc_pop(y, o);
	}
	struct rules_person *p = &r->people[r->npeople];
	memset(p, 0, sizeof(*p));
	if (v[1] != NULL) {
		size_t o = ydoc_push_key(y, "notify");
		if (ydoc_expect_seq(y, v[1]) == 0) {
			/* a failed person's list stays in the arena until the rules are freed */
			p->notify = ARENA_NEW(r, ydoc_len(v[1]), char *);
			for (size_t i = 0; i < ydoc_len(v[1]); i++) {
				const char *s;
				size_t oi = ydoc_push_index(y, i);
				if (ydoc_str(y, ydoc_item(y, v[1], i), &s) == 0)
					p->notify[p->nnotify++] = arena_strdup(r, s);
				ydoc_pop(y, oi);
			}
		}
		ydoc_pop(y, o);
	}
	if (!ok || v[0] == NULL) {
		p->notify = NULL;
		p->nnotify = 0;
		return;
	}
	p->id = arena_strdup(r, id);
	p->name = arena_strdup(r, name);
	p->admin = admin;
	htab_set(&r->person_index, p->id, knode->len, (int)r->npeople);
	L->person_nodes[r->npeople] = knode;
	r->npeople++;
}

static void load_people(struct loader *L, const struct ynode *n)
{
	if (ydoc_expect_map(&L->y, n) < 0)
		return;
	L->r->people = htab_table_alloc(ydoc_len(n), sizeof(*L->r->people));
	L->referenced = xcalloc(ydoc_len(n), sizeof(*L->referenced));
	L->person_nodes = xcalloc(ydoc_len(n), sizeof(*L->person_nodes));
	htab_free(&L->r->person_index);
	htab_init(&L->r->person_index, ydoc_len(n));
	/*
	 * The duplicate check's table is the index: a person that failed stays
	 * in it as absent (-1), pointing into the tree, but that failure was an
	 * error, and the rules are not handed out.
	 */
	ydoc_each_pair_keyed(&L->y, n, &L->r->person_index, load_person, L);
	/* the admins, in file order: the dispatchers and verifiers of last resort (§3.3) */
	struct rules *r = L->r;
	int *ids = xcalloc(r->npeople + 1, sizeof(*ids));
	size_t na = 0;
	for (size_t p = 0; p < r->npeople; p++) {
		if (r->people[p].admin)
			ids[na++] = (int)p;
	}
	free(r->admin_ids);
	r->admin_ids = ids;
	r->admins = (struct rules_plist){ids, na};
}

/* ---- units ---- */

#define NOBODY INT32_MIN /* an entry that names nothing known */

/* A person's index, or a "schedule:NAME" entry's RULES_SCHED_ID; NOBODY after an error. */
static int person_or_schedule(struct loader *L, const struct ynode *item, const char *id)
{
	struct rules *r = L->r;

	if (strncmp(id, "schedule:", 9) == 0) {
		int s = htab_get(&r->schedule_index, id + 9, item->len - 9);
		if (s < 0) {
			ydoc_error(&L->y, item, "unknown schedule \"%s\"", id + 9);
			return NOBODY;
		}
		r->schedules[s].referenced = true;
		return RULES_SCHED_ID(s);
	}
	int p = htab_get(&r->person_index, id, item->len);
	if (p < 0) {
		ydoc_error(&L->y, item, "unknown person \"%s\"", id);
		return NOBODY;
	}
	return p;
}

/*
 * The routing tables keep a list's people for each combination of the
 * states of the schedules it names: a few schedules of a few slots each.
 */
static void check_combinations(struct loader *L, const struct ynode *n, const int *ids, size_t cnt,
                               size_t nsched)
{
	size_t combos = 1;

	if (nsched > RULES_MAX_SCHED_PER_LIST) {
		ydoc_error(&L->y, n, "a people list may name at most %d schedules",
		           RULES_MAX_SCHED_PER_LIST);
		return;
	}
	for (size_t i = 0; i < cnt && combos <= RULES_MAX_SCHED_COMBOS; i++) {
		if (ids[i] < 0)
			combos *= schedule_nstates(&L->r->schedules[RULES_SCHED_OF(ids[i])]);
	}
	if (combos > RULES_MAX_SCHED_COMBOS)
		ydoc_error(&L->y, n,
		           "the schedules of this list have more than %d combinations of slots and "
		           "overrides: name fewer of them in one list",
		           RULES_MAX_SCHED_COMBOS);
}

/* A list of people ids into out (at the end of rules.pids); unknown ids are reported. */
static void read_people_list(struct loader *L, const struct ynode *n, struct rules_plist *out)
{
	struct rules *r = L->r;
	int *ids;
	size_t cnt = 0, nsched = 0;

	out->ids = NULL;
	out->n = 0;
	if (ydoc_expect_seq(&L->y, n) < 0)
		return;
	if (L->capids - r->npids < ydoc_len(n))
		fatalx("rules: people lists outgrew their count");
	ids = r->pids + r->npids;
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *item = ydoc_item(&L->y, n, i);
		size_t o = ydoc_push_index(&L->y, i);
		const char *id;
		int p;

		if (ydoc_str(&L->y, item, &id) == 0) {
			p = person_or_schedule(L, item, id);
			bool dup = false;
			for (size_t k = 0; k < cnt && p != NOBODY; k++)
				dup = dup || ids[k] == p;
			if (dup) {
				ydoc_error(&L->y, item, "%s\"%s\" is listed twice",
				           p < 0 ? "" : "person ", id);
			} else if (p != NOBODY) {
				ids[cnt++] = p;
				if (p >= 0)
					L->referenced[p] = true;
				else
					nsched++;
			}
		}
		ydoc_pop(&L->y, o);
	}
	if (nsched > 0)
		check_combinations(L, n, ids, cnt, nsched);
	out->ids = ids;
	out->n = cnt;
	r->npids += cnt;
}

struct rolemap_ctx {
	struct loader *L;
	struct rules_rolemap *rm;
};

static void load_role_entry(struct ydoc *y, const char *key, const struct ynode *knode,
                            const struct ynode *val, void *arg)
{
	struct rolemap_ctx *c = arg;
	struct rules_rolemap *rm = c->rm;

	if (strcmp(key, "default") == 0) {
		rm->has_default = true;
		read_people_list(c->L, val, &rm->dflt);
		return;
	}
	int cat = htab_get(&c->L->r->category_index, key, knode->len);
	if (cat < 0) {
		ydoc_error(y, knode,
		           "unknown category \"%s\": expected \"default\" or a category key", key);
		return;
	}
	struct rules_override *ov = &rm->over[rm->nover++];
	ov->category = cat;
	read_people_list(c->L, val, &ov->people);
}

struct unit_ctx {
	struct loader *L;
	struct rules_unit *u;
};

static void load_unit_role(struct ydoc *y, const char *role, const struct ynode *knode,
                           const struct ynode *val, void *arg)
{
	struct unit_ctx *c = arg;
	struct rules *r = c->L->r;

	if (!key_valid(role, knode->len)) {
		ydoc_error(y, knode, "invalid role \"%s\": expected %s", role, KEY_FORM);
		return;
	}
	if (ydoc_expect_map(y, val) < 0)
		return;
	struct rules_rolemap *rm = &c->u->roles[c->u->nroles];
	memset(rm, 0, sizeof(*rm));
	rm->role = intern(&r->roles, &r->nroles, &r->role_index, role);
	rm->over = ARENA_NEW(r, ydoc_len(val), struct rules_override);
	struct rolemap_ctx rc = {c->L, rm};
	ydoc_each_pair(y, val, load_role_entry, &rc);
	c->u->nroles++;
}

static size_t unit_depth(const char *id)
{
	size_t d = 1;
	for (; *id != '\0'; id++)
		d += *id == '/';
	return d;
}

/*
 * An upper bound on the people ids that the units' roles list, so that
 * rules.pids is allocated once and the lists may point into it.
 */
static size_t count_role_ids(const struct ydoc *y, const struct ynode *const *roles_nodes, size_t n)
{
	size_t total = 0;

	for (size_t u = 0; u < n; u++) {
		const struct ynode *m = roles_nodes[u];
		if (m == NULL || m->type != YNODE_MAP)
			continue;
		for (size_t i = 0; i < ydoc_len(m); i++) {
			const struct ynode *rm = ydoc_value(y, m, i);
			if (rm->type != YNODE_MAP)
				continue;
			for (size_t k = 0; k < ydoc_len(rm); k++)
				total += ydoc_len(ydoc_value(y, rm, k));
		}
	}
	return total;
}

static void load_units(struct loader *L, const struct ynode *n)
{
	static const char *const keys[] = {"id", "kind", "name", "roles"};
	static const char *const required[] = {"id", "kind", "name", NULL};
	struct rules *r = L->r;
	struct htab kind_index;
	const struct ynode **roles_nodes;

	if (ydoc_expect_seq(&L->y, n) < 0)
		return;
	if (ydoc_len(n) == 0)
		ydoc_error(&L->y, n, "expected at least one unit");
	r->units = htab_table_alloc(ydoc_len(n), sizeof(*r->units));
	L->unit_id_nodes = xcalloc(ydoc_len(n), sizeof(*L->unit_id_nodes));
	L->unit_seq = xcalloc(ydoc_len(n), sizeof(*L->unit_seq));
	roles_nodes = xcalloc(ydoc_len(n), sizeof(*roles_nodes));
	htab_free(&r->unit_index);
	htab_init(&r->unit_index, ydoc_len(n));
	htab_init(&kind_index, 8);

	/* first the ids, so that parents may come in any order */
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *v[4], *item = ydoc_item(&L->y, n, i);
		size_t old = ydoc_push_index(&L->y, i), o;
		const char *id = NULL, *kind = NULL, *name = NULL;

		if (ydoc_fields(&L->y, item, keys, 4, required, v) < 0) {
			ydoc_pop(&L->y, old);
			continue;
		}
		if (v[0] != NULL) {
			o = ydoc_push_key(&L->y, "id");
			id = read_id(L, v[0], unit_id_valid, "unit id", UNIT_FORM);
			if (id != NULL && htab_get(&r->unit_index, id, v[0]->len) >= 0) {
				ydoc_error(&L->y, v[0], "duplicate unit \"%s\"", id);
				id = NULL;
			}
			ydoc_pop(&L->y, o);
		}
		if (v[1] != NULL) {
			o = ydoc_push_key(&L->y, "kind");
			kind = read_id(L, v[1], key_valid, "unit kind", KEY_FORM);
			ydoc_pop(&L->y, o);
		}
		if (v[2] != NULL) {
			o = ydoc_push_key(&L->y, "name");
			if (ydoc_str(&L->y, v[2], &name) < 0)
				name = NULL;
			ydoc_pop(&L->y, o);
		}
		if (id != NULL && kind != NULL && name != NULL) {
			struct rules_unit *u = &r->units[r->nunits];
			u->id = arena_strdup(r, id);
			u->name = arena_strdup(r, name);
			u->kind = intern(&r->kinds, &r->nkinds, &kind_index, kind);
			u->parent = -1;
			u->depth = (int)unit_depth(id);
			u->line = (int)item->line;
			u->col = (int)item->col;
			htab_put(&r->unit_index, u->id, v[0]->len, (int)r->nunits);
			L->unit_id_nodes[r->nunits] = v[0];
			L->unit_seq[r->nunits] = i;
			roles_nodes[r->nunits] = v[3];
			r->nunits++;
		}
		ydoc_pop(&L->y, old);
	}
	htab_free(&kind_index);
	L->capids = count_role_ids(&L->y, roles_nodes, r->nunits);
	r->pids = htab_table_alloc(L->capids, sizeof(*r->pids));

	/* then parents and roles */
	for (size_t u = 0; u < r->nunits; u++) {
		struct rules_unit *un = &r->units[u];
		const char *slash = strrchr(un->id, '/');
		size_t old = ydoc_push_index(&L->y, L->unit_seq[u]);

		if (slash != NULL) {
			un->parent = htab_get(&r->unit_index, un->id, (size_t)(slash - un->id));
			if (un->parent < 0) {
				size_t o = ydoc_push_key(&L->y, "id");
				ydoc_error(&L->y, L->unit_id_nodes[u],
				           "parent unit \"%.*s\" of \"%s\" does not exist",
				           (int)(slash - un->id), un->id, un->id);
				ydoc_pop(&L->y, o);
			} else {
				r->units[un->parent].nchildren++;
			}
		}
		if (roles_nodes[u] != NULL) {
			size_t o = ydoc_push_key(&L->y, "roles");
			if (ydoc_expect_map(&L->y, roles_nodes[u]) == 0) {
				un->roles = ARENA_NEW(r, ydoc_len(roles_nodes[u]),
				                      struct rules_rolemap);
				struct unit_ctx c = {L, un};
				ydoc_each_pair(&L->y, roles_nodes[u], load_unit_role, &c);
			}
			ydoc_pop(&L->y, o);
		}
		ydoc_pop(&L->y, old);
	}
	free(roles_nodes);
}

/* ---- policies ---- */

struct match_ctx {
	struct loader *L;
	struct rules_policy *p;
	struct rules_attr *attr;
};

static void match_channel(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	const char *s;

	if (ydoc_str(y, item, &s) < 0)
		return;
	for (size_t i = 0; i < GR_NELEM(channel_keys); i++) {
		if (strcmp(s, channel_keys[i]) == 0) {
			c->p->channels |= 1u << i;
			return;
		}
	}
	ydoc_error(y, item, "unknown channel \"%s\": expected patrol, feedback, scheduled or alert",
	           s);
}

static void match_severity(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	enum severity sev;
	const char *s;

	if (ydoc_str(y, item, &s) < 0)
		return;
	if (severity_parse(s, &sev) < 0) {
		ydoc_error(y, item,
		           "unknown severity \"%s\": expected low, normal, high or critical", s);
		return;
	}
	c->p->severities |= 1u << sev;
}

static void match_category(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	const char *s;
	int cat;

	if (ydoc_str(y, item, &s) < 0)
		return;
	cat = htab_get(&c->L->r->category_index, s, item->len);
	if (cat < 0) {
		ydoc_error(y, item, "unknown category \"%s\"", s);
		return;
	}
	c->p->categories = xreallocarray(c->p->categories, c->p->ncategories + 1, sizeof(int));
	c->p->categories[c->p->ncategories++] = cat;
}

static void match_unit(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	const char *s = read_id(c->L, item, unit_id_valid, "unit", UNIT_FORM);

	(void)y;
	if (s == NULL)
		return;
	c->p->units = xreallocarray(c->p->units, c->p->nunits + 1, sizeof(char *));
	c->p->units[c->p->nunits++] = xstrdup(s);
}

static void match_attr_value(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	const char *s;

	if (ydoc_str(y, item, &s) < 0)
		return;
	c->attr->values = xreallocarray(c->attr->values, c->attr->nvalues + 1, sizeof(char *));
	c->attr->values[c->attr->nvalues++] = xstrdup(s);
}

static void match_attr(struct ydoc *y, const char *key, const struct ynode *knode,
                       const struct ynode *val, void *arg)
{
	struct match_ctx *c = arg;
	struct rules_policy *p = c->p;

	(void)knode;
	p->attrs = xreallocarray(p->attrs, p->nattrs + 1, sizeof(*p->attrs));
	c->attr = &p->attrs[p->nattrs++];
	memset(c->attr, 0, sizeof(*c->attr));
	c->attr->key = xstrdup(key);
	ydoc_one_or_more(y, val, match_attr_value, c);
}

static void load_match(struct loader *L, const struct ynode *n, struct rules_policy *p)
{
	static const char *const keys[] = {"channel", "severity", "category", "unit", "attrs"};
	static const ydoc_item_fn fns[] = {match_channel, match_severity, match_category,
	                                   match_unit};
	struct match_ctx c = {L, p, NULL};
	const struct ynode *v[5];

	/* a catch-all is an empty mapping (or no match at all), nothing else */
	p->catch_all = n->type == YNODE_MAP && ydoc_len(n) == 0;
	if (ydoc_fields(&L->y, n, keys, 5, NULL, v) < 0)
		return;
	for (size_t i = 0; i < 5; i++) {
		if (v[i] == NULL)
			continue;
		size_t o = ydoc_push_key(&L->y, keys[i]);
		if (i < 4)
			ydoc_one_or_more(&L->y, v[i], fns[i], &c);
		else
			ydoc_each_pair(&L->y, v[i], match_attr, &c);
		ydoc_pop(&L->y, o);
	}
}

/*
 * One duration of the rules, clock or working, with its text; a working
 * one longer than the days the calendar covers is a warning.
 */
static int load_duration(struct loader *L, const struct ynode *n, struct rules_dur *out)
{
	const struct calendar *cal = L->r->calendar;

	if (ydoc_wdur(&L->y, n, cal != NULL ? calendar_day_ms(cal) : 0, &out->d) < 0)
		return -1;
	const char *text = ydoc_text(&L->y, n);
	out->text = xstrdup(text);
	if (out->d.working && L->covered_ms >= 0 && out->d.ms > L->covered_ms) {
		char cov[CAL_DATE_BUFSZ];
		calendar_format_date(calendar_covered_until(cal), cov);
		ydoc_warn(&L->y, n,
		          "working duration \"%s\" is longer than the %lldwd%s from today to "
		          "covered_until %s: its deadlines can fall on dates whose holiday "
		          "arrangement is not known yet",
		          text, (long long)(L->covered_ms / calendar_day_ms(cal)),
		          L->covered_ms % calendar_day_ms(cal) != 0 ? " and some" : "", cov);
	}
	return 0;
}

static void load_durations(struct loader *L, const struct ynode *n, struct rules_dur **out,
                           size_t *nout)
{
	if (n->type == YNODE_SEQ) {
		if (ydoc_len(n) == 0) {
			ydoc_error(&L->y, n, "expected at least one duration");
			return;
		}
		*out = xcalloc(ydoc_len(n), sizeof(**out));
		for (size_t i = 0; i < ydoc_len(n); i++) {
			size_t o = ydoc_push_index(&L->y, i);
			if (load_duration(L, ydoc_item(&L->y, n, i), &(*out)[*nout]) == 0)
				(*nout)++;
			ydoc_pop(&L->y, o);
		}
		return;
	}
	*out = xcalloc(1, sizeof(**out));
	if (load_duration(L, n, &(*out)[0]) == 0)
		*nout = 1;
}

static void co_role(struct ydoc *y, const struct ynode *item, void *arg)
{
	struct match_ctx *c = arg;
	struct rules_policy *p = c->p;
	const char *s;
	int role;

	if (ydoc_str(y, item, &s) < 0)
		return;
	role = htab_get(&c->L->r->role_index, s, item->len);
	if (role < 0) {
		ydoc_error(y, item, "unknown role \"%s\": no unit has it", s);
		return;
	}
	for (size_t i = 0; i < p->nco; i++) {
		if (p->co_roles[i] == role) {
			ydoc_error(y, item, "role \"%s\" is listed twice", s);
			return;
		}
	}
	if (p->nco == ROUTE_MAX_CO) {
		ydoc_error(y, item, "at most %d co_assign roles", ROUTE_MAX_CO);
		return;
	}
	p->co_roles[p->nco++] = role;
}

/* A role some unit has, for verify.role and dispatch_role; -1 after reporting. */
static int policy_role(struct loader *L, const struct ynode *n)
{
	const char *s;
	int role;

	if (ydoc_str(&L->y, n, &s) < 0)
		return -1;
	role = htab_get(&L->r->role_index, s, n->len);
	if (role < 0)
		ydoc_error(&L->y, n, "unknown role \"%s\": no unit has it", s);
	return role;
}

/*
 * The case workflow keys of a policy (SPEC §3.3), v[0..4]: verify,
 * review_within, max_extensions, dispatch_role, close_within.
 */
static void load_workflow(struct loader *L, const struct ynode *const *v, struct rules_policy *p)
{
	size_t o;

	if (v[0] != NULL) {
		static const char *const vkeys[] = {"role", "within"};
		static const char *const vreq[] = {"role", "within", NULL};
		const struct ynode *vv[2];
		o = ydoc_push_key(&L->y, "verify");
		if (ydoc_fields(&L->y, v[0], vkeys, 2, vreq, vv) == 0) {
			size_t o2;
			if (vv[0] != NULL) {
				o2 = ydoc_push_key(&L->y, "role");
				p->verify_role = policy_role(L, vv[0]);
				ydoc_pop(&L->y, o2);
			}
			if (vv[1] != NULL) {
				o2 = ydoc_push_key(&L->y, "within");
				load_duration(L, vv[1], &p->verify_within);
				ydoc_pop(&L->y, o2);
			}
		}
		ydoc_pop(&L->y, o);
	}
	if (v[1] != NULL) {
		o = ydoc_push_key(&L->y, "review_within");
		load_duration(L, v[1], &p->review_within);
		ydoc_pop(&L->y, o);
	}
	if (v[2] != NULL) {
		int64_t n;
		o = ydoc_push_key(&L->y, "max_extensions");
		if (ydoc_int(&L->y, v[2], 0, 100, &n) == 0)
			p->max_extensions = (int)n;
		ydoc_pop(&L->y, o);
	}
	if (v[3] != NULL) {
		o = ydoc_push_key(&L->y, "dispatch_role");
		p->dispatch_role = policy_role(L, v[3]);
		ydoc_pop(&L->y, o);
	}
	if (v[4] != NULL) {
		o = ydoc_push_key(&L->y, "close_within");
		load_duration(L, v[4], &p->close_within);
		ydoc_pop(&L->y, o);
	}
	if (p->verify_role < 0 && p->verify_within.text != NULL) {
		free(p->verify_within.text); /* a verify without a role was reported */
		p->verify_within.text = NULL;
	}
}

static void load_policies(struct loader *L, const struct ynode *n)
{
	static const char *const keys[] = {"name",          "match",          "start_level",
	                                   "ack_within",    "resolve_within", "co_assign",
	                                   "verify",        "review_within",  "max_extensions",
	                                   "dispatch_role", "close_within"};
	static const char *const required[] = {"name", "ack_within", "resolve_within", NULL};
	struct rules *r = L->r;
	struct htab names;
	const char *catch_all = NULL;

	if (ydoc_expect_seq(&L->y, n) < 0)
		return;
	r->policies = xcalloc(ydoc_len(n), sizeof(*r->policies));
	htab_init(&names, ydoc_len(n));
	for (size_t i = 0; i < ydoc_len(n); i++) {
		const struct ynode *v[GR_NELEM(keys)], *item = ydoc_item(&L->y, n, i);
		size_t old = ydoc_push_index(&L->y, i), o;
		struct rules_policy *p = &r->policies[r->npolicies++];
		const char *name = NULL;

		memset(p, 0, sizeof(*p));
		p->catch_all = true;
		p->verify_role = p->dispatch_role = -1;
		p->max_extensions = 1;
		if (ydoc_fields(&L->y, item, keys, GR_NELEM(keys), required, v) < 0) {
			p->name = xstrdup("");
			ydoc_pop(&L->y, old);
			continue;
		}
		if (v[0] != NULL) {
			o = ydoc_push_key(&L->y, "name");
			if (ydoc_str(&L->y, v[0], &name) == 0 &&
			    htab_put(&names, name, strlen(name), (int)i) < 0) {
				ydoc_error(&L->y, v[0], "duplicate policy \"%s\"", name);
			}
			ydoc_pop(&L->y, o);
		}
		p->name = xstrdup(name != NULL ? name : "");
		if (v[1] != NULL) {
			o = ydoc_push_key(&L->y, "match");
			load_match(L, v[1], p);
			ydoc_pop(&L->y, o);
		}
		if (v[2] != NULL) {
			const char *lv;
			o = ydoc_push_key(&L->y, "start_level");
			if (ydoc_str(&L->y, v[2], &lv) == 0) {
				p->start_level = htab_get(&r->level_index, lv, strlen(lv));
				if (p->start_level < 0) {
					ydoc_error(&L->y, v[2], "unknown level \"%s\"", lv);
					p->start_level = 0;
				}
			}
			ydoc_pop(&L->y, o);
		}
		if (v[3] != NULL) {
			o = ydoc_push_key(&L->y, "ack_within");
			load_durations(L, v[3], &p->ack, &p->nack);
			ydoc_pop(&L->y, o);
		}
		if (v[4] != NULL) {
			o = ydoc_push_key(&L->y, "resolve_within");
			load_durations(L, v[4], &p->resolve, &p->nresolve);
			ydoc_pop(&L->y, o);
		}
		if (v[5] != NULL) {
			struct match_ctx c = {L, p, NULL};
			o = ydoc_push_key(&L->y, "co_assign");
			p->co_roles = xcalloc(ROUTE_MAX_CO, sizeof(int));
			ydoc_one_or_more(&L->y, v[5], co_role, &c);
			ydoc_pop(&L->y, o);
		}
		load_workflow(L, v + 6, p);
		/* a policy after a catch-all can never match */
		if (catch_all != NULL)
			ydoc_warn(&L->y, item,
			          "policy \"%s\" can never match: catch-all policy \"%s\" comes "
			          "before it",
			          p->name, catch_all);
		else if (p->catch_all)
			catch_all = p->name;
		ydoc_pop(&L->y, old);
	}
	htab_free(&names);
	if (catch_all == NULL) {
		ydoc_warn(&L->y, n,
		          "no catch-all policy (one with an empty match): incidents that match no "
		          "policy are dead-lettered as no_policy");
	}
}

/* ---- indexes and checks over the whole file ---- */

int rules_nearest_kind(const struct rules *r, int u, int kind)
{
	while (u >= 0 && r->units[u].kind != kind)
		u = r->units[u].parent;
	return u;
}

bool rules_unit_people(const struct rules *r, int u, int role, int cat, struct rules_plist *out)
{
	const struct rules_unit *un = &r->units[u];

	for (size_t i = 0; i < un->nroles; i++) {
		const struct rules_rolemap *rm = &un->roles[i];
		if (rm->role != role)
			continue;
		for (size_t k = 0; k < rm->nover; k++) {
			if (rm->over[k].category == cat) {
				*out = rm->over[k].people;
				return true;
			}
		}
		if (rm->has_default) {
			*out = rm->dflt;
			return true;
		}
		return false;
	}
	return false;
}

static void resolve_levels(struct loader *L)
{
	struct rules *r = L->r;

	for (size_t l = 0; l < r->nlevels; l++) {
		struct rules_level *lv = &r->levels[l];
		lv->role_idx = htab_get(&r->role_index, lv->role, strlen(lv->role));
		if (lv->unit_kind[0] == '\0')
			continue;
		for (size_t k = 0; k < r->nkinds; k++) {
			if (strcmp(r->kinds[k], lv->unit_kind) == 0)
				lv->kind = (int)k;
		}
		if (lv->kind < 0 && L->level_unit_nodes[l] != NULL) {
			size_t o = ydoc_push_key(&L->y, "levels");
			size_t o2 = ydoc_push_index(&L->y, l);
			ydoc_push_key(&L->y, "unit");
			ydoc_error(&L->y, L->level_unit_nodes[l],
			           "unknown unit kind \"%s\": no unit is of this kind",
			           lv->unit_kind);
			ydoc_pop(&L->y, o2);
			ydoc_pop(&L->y, o);
		}
	}
}

/* Is level l of unit u vacant for category c always (pass 0), or in some slot or override only (1)?
 */
static bool vacant_in(const struct rules *r, int u, int l, int c, int pass, uint64_t always,
                      uint64_t some)
{
	bool part;

	if (r->ncategories <= 64)
		return ((pass == 0 ? always : some) >> c & 1) != 0;
	bool all = route_vacant(r, u, l, c, &part);
	return pass == 0 ? all : part;
}

/*
 * A leaf unit where some level is vacant for some category: one warning per
 * unit and level, and one more when it is vacant during some slots or
 * overrides of the schedules its lists name. Asks the routing tables, as
 * an incident would.
 */
static void warn_vacancies(struct loader *L)
{
	struct rules *r = L->r;
	size_t ncat = r->ncategories;
	struct buf cats;

	buf_init(&cats);
	for (size_t u = 0; u < r->nunits; u++) {
		if (r->units[u].nchildren > 0)
			continue;
		for (size_t l = 0; l < r->nlevels; l++) {
			const struct rules_level *lv = &r->levels[l];
			uint64_t some = 0, mask = 0;

			if (ncat <= 64 &&
			    (mask = route_vacant_cats(r, (int)u, (int)l, &some)) == 0 && some == 0)
				continue;
			for (int pass = 0; pass < 2; pass++) {
				size_t nvac = 0;
				for (size_t c = 0; c < ncat; c++) {
					if (!vacant_in(r, (int)u, (int)l, (int)c, pass, mask, some))
						continue;
					if (nvac++ == 0)
						buf_reset(&cats);
					else
						buf_puts(&cats, ", ");
					buf_puts(&cats, r->categories[c].key);
				}
				if (nvac == 0)
					continue;
				char path[48], what[64];
				snprintf(path, sizeof(path), "units[%zu]", L->unit_seq[u]);
				if (nvac == ncat)
					snprintf(what, sizeof(what), "any category");
				else
					snprintf(what, sizeof(what), "%s",
					         nvac == 1 ? "category" : "categories");
				diags_add(L->y.d, DIAG_WARNING, r->units[u].line, r->units[u].col,
				          path,
				          "unit \"%s\" has nobody at level \"%s\"%s for %s%s%s",
				          r->units[u].id, lv->key,
				          pass == 0 ? ""
				                    : " during some slots or overrides of its "
				                      "schedules,",
				          what, nvac == ncat ? "" : " ",
				          nvac == ncat ? "" : cats.data);
			}
		}
	}
	buf_free(&cats);
}

static void warn_unreferenced(struct loader *L)
{
	struct rules *r = L->r;

	for (size_t i = 0; i < r->nschedules; i++) {
		if (!r->schedules[i].referenced)
			diags_add(L->y.d, DIAG_WARNING, r->schedules[i].line, r->schedules[i].col,
			          "schedules",
			          "schedule \"%s\" is not referenced by any people list",
			          r->schedules[i].name);
	}

	for (size_t p = 0; p < r->npeople; p++) {
		if (L->referenced[p] || r->people[p].admin)
			continue;
		size_t o = ydoc_push_key(&L->y, "people");
		ydoc_push_key(&L->y, r->people[p].id);
		ydoc_warn(&L->y, L->person_nodes[p],
		          "person \"%s\" is not referenced by any unit role", r->people[p].id);
		ydoc_pop(&L->y, o);
	}
}

/* Policies by unit prefix, so that matching costs O(unit depth), not O(policies). */
static void index_policies(struct rules *r)
{
	htab_free(&r->policy_index);
	htab_init(&r->policy_index, r->npolicies);
	htab_init(&r->bucket_index, r->npolicies);
	for (size_t i = 0; i < r->npolicies; i++) {
		struct rules_policy *p = &r->policies[i];
		htab_put(&r->policy_index, p->name, strlen(p->name), (int)i);
		if (p->nunits == 0) {
			r->policy_anyunit.v = xreallocarray(r->policy_anyunit.v,
			                                    r->policy_anyunit.n + 1, sizeof(int));
			r->policy_anyunit.v[r->policy_anyunit.n++] = (int)i;
			continue;
		}
		for (size_t k = 0; k < p->nunits; k++) {
			const char *u = p->units[k];
			int b = htab_get(&r->bucket_index, u, strlen(u));
			if (b < 0) {
				b = (int)r->nbuckets++;
				r->policy_buckets = xreallocarray(r->policy_buckets, r->nbuckets,
				                                  sizeof(*r->policy_buckets));
				r->policy_buckets[b].v = NULL;
				r->policy_buckets[b].n = 0;
				htab_put(&r->bucket_index, u, strlen(u), b);
			}
			if (r->policy_buckets[b].n > 0 &&
			    r->policy_buckets[b].v[r->policy_buckets[b].n - 1] == (int)i)
				continue;
			r->policy_buckets[b].v = xreallocarray(
			        r->policy_buckets[b].v, r->policy_buckets[b].n + 1, sizeof(int));
			r->policy_buckets[b].v[r->policy_buckets[b].n++] = (int)i;
		}
	}
}

/* ---- the whole file ---- */

static struct rules *rules_new(const char *name)
{
	struct rules *r = xcalloc(1, sizeof(*r));

	r->path = xstrdup(name);
	htab_init(&r->unit_index, 16);
	htab_init(&r->person_index, 16);
	htab_init(&r->category_index, 16);
	htab_init(&r->level_index, 16);
	htab_init(&r->role_index, 16);
	htab_init(&r->policy_index, 16);
	htab_init(&r->schedule_index, 16);
	return r;
}

/* The calendar and the rules' zone: the calendar's, else Asia/Shanghai. */
static void load_calendar(struct loader *L, const struct ynode *n)
{
	struct rules *r = L->r;
	char err[256];

	L->covered_ms = -1;
	if (n != NULL) {
		size_t o = ydoc_push_key(&L->y, "calendar");
		r->calendar = calendar_load(&L->y, n, r->path, L->now, L->today);
		ydoc_pop(&L->y, o);
	}
	if (r->calendar != NULL) {
		const struct calendar *c = r->calendar;
		r->tz = calendar_tz(c);
		if (calendar_covered_until(c) != INT64_MIN) {
			int64_t today =
			        L->today != INT64_MIN ? L->today : calendar_day_of(r->tz, L->now);
			L->covered_ms = calendar_worktime(
			        c, calendar_day_start(r->tz, today),
			        calendar_day_start(r->tz, calendar_covered_until(c) + 1));
		}
		return;
	}
	r->own_tz = tz_load(RULES_DEFAULT_ZONE, err, sizeof(err));
	if (r->own_tz == NULL) /* no tz database: the zone's offset since 1991 */
		r->own_tz = tz_fixed(RULES_DEFAULT_ZONE, 8 * 3600000LL);
	r->tz = r->own_tz;
}

const char *rules_dur_text(const struct rules_dur *d, char out[DUR_BUFSZ])
{
	if (d->d.working)
		return d->text;
	duration_format(d->d.ms, out);
	return out;
}

int64_t rules_today(void)
{
	const char *s = getenv("GRIDROUTE_TODAY");
	int64_t day;

	if (s == NULL || calendar_parse_date(s, strlen(s), &day) < 0)
		return INT64_MIN;
	return day;
}

static void section(struct loader *L, const char *key, const struct ynode *n,
                    void (*load)(struct loader *, const struct ynode *))
{
	size_t o = ydoc_push_key(&L->y, key);
	load(L, n);
	ydoc_pop(&L->y, o);
}

/* The rules from a document ydoc_load has read into L->y; NULL on error. */
static struct rules *load_doc(struct loader *L, size_t errors_before)
{
	static const char *const keys[] = {"version", "levels",   "categories", "people",
	                                   "units",   "policies", "calendar",   "schedules"};
	static const char *const required[] = {"version", "levels",   "categories", "people",
	                                       "units",   "policies", NULL};
	struct diags *d = L->y.d;
	const struct ynode *v[8];

	if (ydoc_fields(&L->y, ydoc_root(&L->y), keys, 8, required, v) < 0)
		goto out;
	if (v[0] != NULL) {
		int64_t version;
		size_t o = ydoc_push_key(&L->y, "version");
		if (ydoc_int(&L->y, v[0], 0, INT32_MAX, &version) == 0 && version != 1)
			ydoc_error(&L->y, v[0],
			           "unsupported version %lld: this gridroute reads version 1",
			           (long long)version);
		ydoc_pop(&L->y, o);
	}
	/* in dependency order, whatever the order in the file */
	load_calendar(L, v[6]);
	if (v[1] != NULL)
		section(L, "levels", v[1], load_levels);
	if (v[2] != NULL)
		section(L, "categories", v[2], load_categories);
	if (v[3] != NULL)
		section(L, "people", v[3], load_people);
	if (v[7] != NULL && L->referenced != NULL) {
		size_t o = ydoc_push_key(&L->y, "schedules");
		schedule_load(&L->y, v[7], L->r, L->referenced);
		ydoc_pop(&L->y, o);
	}
	if (v[4] != NULL)
		section(L, "units", v[4], load_units);
	resolve_levels(L);
	if (v[5] != NULL)
		section(L, "policies", v[5], load_policies);
	if (d->nerrors == errors_before)
		warn_unreferenced(L);
out:
	/* the tree is done with: the indexes grow without it */
	ydoc_free(&L->y);
	if (d->nerrors == errors_before) {
		index_policies(L->r);
		route_index_build(L->r);
		warn_vacancies(L);
	}
	free(L->referenced);
	free(L->person_nodes);
	free(L->unit_id_nodes);
	free(L->unit_seq);
	free(L->level_unit_nodes);
	diags_sort(d);
	if (d->nerrors > errors_before) {
		rules_free(L->r);
		return NULL;
	}
	return L->r;
}

static void loader_init(struct loader *L, const char *name)
{
	memset(L, 0, sizeof(*L));
	L->now = time_now_ms();
	L->today = rules_today();
	L->r = rules_new(name);
	L->level_unit_nodes = xcalloc(RULES_MAX_LEVELS, sizeof(*L->level_unit_nodes));
}

struct rules *rules_load_buf(const char *name, const char *buf, size_t len, struct diags *d)
{
	struct loader L;
	size_t errors_before = d->nerrors;

	loader_init(&L, name);
	if (ydoc_load(&L.y, buf, len, d) < 0) {
		ydoc_free(&L.y);
		free(L.level_unit_nodes);
		rules_free(L.r);
		diags_sort(d);
		return NULL;
	}
	return load_doc(&L, errors_before);
}

/* The whole file into *out and *len (caller frees); a regular file only. */
static int read_file(const char *path, char **out, size_t *len, struct diags *d)
{
	return ydoc_read_file(path, RULES_MAX_FILE, out, len, d);
}

struct rules *rules_load(const char *path, struct diags *d)
{
	struct loader L;
	size_t errors_before = d->nerrors, len;
	struct rules *r = NULL;
	char *text;

	if (read_file(path, &text, &len, d) < 0)
		return NULL;
	loader_init(&L, path);
	/* the tree holds its own copy of the text: the file goes before the rules grow */
	int rc = ydoc_load(&L.y, text, len, d);
	free(text);
	if (rc < 0) {
		ydoc_free(&L.y);
		free(L.level_unit_nodes);
		rules_free(L.r);
		diags_sort(d);
	} else {
		r = load_doc(&L, errors_before);
	}
#ifdef __GLIBC__
	/* the tree and the file were freed: give what they leave behind back */
	if (len >= TRIM_MIN)
		malloc_trim(0);
#endif
	return r;
}

void rules_free(struct rules *r)
{
	if (r == NULL)
		return;
	route_index_free(r->route);
	schedule_free(r->schedules, r->nschedules);
	htab_free(&r->schedule_index);
	calendar_free(r->calendar);
	tz_free(r->own_tz);
	for (size_t i = 0; i < r->nlevels; i++) {
		free(r->levels[i].key);
		free(r->levels[i].name);
		free(r->levels[i].unit_kind);
		free(r->levels[i].role);
	}
	for (size_t i = 0; i < r->ncategories; i++) {
		free(r->categories[i].key);
		free(r->categories[i].name);
	}
	free(r->categories);
	free(r->people);
	free(r->admin_ids);
	free(r->units);
	free(r->pids);
	for (size_t i = 0; i < r->npolicies; i++) {
		struct rules_policy *p = &r->policies[i];
		free(p->name);
		free(p->categories);
		for (size_t k = 0; k < p->nunits; k++)
			free(p->units[k]);
		free(p->units);
		for (size_t k = 0; k < p->nattrs; k++) {
			free(p->attrs[k].key);
			for (size_t j = 0; j < p->attrs[k].nvalues; j++)
				free(p->attrs[k].values[j]);
			free(p->attrs[k].values);
		}
		free(p->attrs);
		for (size_t k = 0; k < p->nack; k++)
			free(p->ack[k].text);
		for (size_t k = 0; k < p->nresolve; k++)
			free(p->resolve[k].text);
		free(p->ack);
		free(p->resolve);
		free(p->co_roles);
		free(p->close_within.text);
		free(p->verify_within.text);
		free(p->review_within.text);
	}
	free(r->policies);
	for (size_t i = 0; i < r->nroles; i++)
		free(r->roles[i]);
	free(r->roles);
	for (size_t i = 0; i < r->nkinds; i++)
		free(r->kinds[i]);
	free(r->kinds);
	for (size_t i = 0; i < r->nbuckets; i++)
		free(r->policy_buckets[i].v);
	free(r->policy_buckets);
	free(r->policy_anyunit.v);
	htab_free(&r->unit_index);
	htab_free(&r->person_index);
	htab_free(&r->category_index);
	htab_free(&r->level_index);
	htab_free(&r->role_index);
	htab_free(&r->policy_index);
	htab_free(&r->bucket_index);
	size_t bytes = 0;
	while (r->chunks != NULL) {
		struct rules_chunk *next = r->chunks->next;
		bytes += r->chunks->cap;
		free(r->chunks);
		r->chunks = next;
	}
	free(r->path);
	free(r);
#ifdef __GLIBC__
	/*
	 * A big object's blocks sit amid the heap (glibc stops mmapping blocks
	 * of this size once a few have been freed): without a trim, what the
	 * old rules held after a reload stays with the process (7 ms for 100,000 units).
	 */
	if (bytes >= TRIM_MIN * 8)
		malloc_trim(0);
#endif
}

void rules_summary(const struct rules *r, char *out, size_t outsz)
{
	int n = snprintf(out, outsz,
	                 "%zu levels, %zu categories, %zu units, %zu people, %zu policies",
	                 r->nlevels, r->ncategories, r->nunits, r->npeople, r->npolicies);
	if (r->nschedules > 0 && n > 0 && (size_t)n < outsz)
		snprintf(out + n, outsz - (size_t)n, ", %zu schedule%s", r->nschedules,
		         r->nschedules == 1 ? "" : "s");
}

int rules_schedule(const struct rules *r, const char *name)
{
	return htab_get(&r->schedule_index, name, strlen(name));
}

int rules_unit(const struct rules *r, const char *id, size_t len)
{
	return htab_get(&r->unit_index, id, len);
}

int rules_person(const struct rules *r, const char *id)
{
	return htab_get(&r->person_index, id, strlen(id));
}

int rules_category(const struct rules *r, const char *key)
{
	return htab_get(&r->category_index, key, strlen(key));
}

int rules_level(const struct rules *r, const char *key)
{
	return htab_get(&r->level_index, key, strlen(key));
}

int rules_role(const struct rules *r, const char *name)
{
	return htab_get(&r->role_index, name, strlen(name));
}

int rules_policy(const struct rules *r, const char *name)
{
	return htab_get(&r->policy_index, name, strlen(name));
}
