/*
 * lifecycle.c: the case state machine of SPEC §5 and §6. Every step —
 * creation, a duplicate report, a deadline passing, a command — is a pure
 * function of the stored incident, the current rules and the clock, and
 * returns the effects for store.c to apply in one atomic call.
 *
 * A step reads the stored incident into a view of its §7 fields, changes
 * the view, and writes as hash fields what differs from the stored
 * incident at the end; the gr:due score is the view's earliest pending
 * deadline. The events, assignments and notifications it writes meanwhile
 * read the view, so that they name the deadlines as they are after the
 * step.
 *
 * The chain is always recomputed from the current rules, so that a rules
 * reload or a shift change takes effect on incidents already open: an
 * escalation goes to whoever serves the next level now, and whoever the
 * chain holds at the current level now may act on the case.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "log.h"

#define QUOTE_MAX     64                 /* bytes of a stored value quoted in an error */
#define KPI_RETENTION (400 * 86400000LL) /* retention.kpi's default */

/* A list of person ids without repeats; the strings are borrowed. */
struct idlist {
	const char **v;
	size_t n, cap;
};

static bool idlist_has(const struct idlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], id) == 0)
			return true;
	}
	return false;
}

static void idlist_add(struct idlist *l, const char *id)
{
	if (id == NULL || idlist_has(l, id))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap > 0 ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = id;
}

static void idlist_add_plist(struct idlist *l, const struct rules *r, const struct rules_plist *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		idlist_add(l, r->people[pl->ids[i]].id);
}

static void idlist_add_names(struct idlist *l, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idlist_add(l, v[i]);
}

static void idlist_add_list(struct idlist *l, const struct idlist *o)
{
	idlist_add_names(l, o->v, o->n);
}

static bool idlist_same(const struct idlist *a, const struct idlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	}
	return true;
}

static void idlist_free(struct idlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * A small JSON writer into a struct buf, in the form Jansson's
 * json_dumps(JSON_COMPACT) gives: members in the order written, non-ASCII
 * as is, control characters escaped. A value or key needs a comma before it
 * unless it opens its object or array (or the text): the byte before tells.
 */
static void jw_sep(struct buf *b)
{
	if (b->len > 0) {
		char c = b->data[b->len - 1];
		if (c != '{' && c != '[' && c != ':' && c != '\0')
			buf_putc(b, ',');
	}
}

static void jw_quote(struct buf *b, const char *v, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* as Jansson writes them */
	size_t i, run = 0;

	buf_reserve(b, len + 2);
	buf_putc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, v + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\b':
			buf_puts(b, "\\b");
			break;
		case '\f':
			buf_puts(b, "\\f");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default: {
			char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0'};
			buf_append(b, u, 6);
		}
		}
	}
	buf_append(b, v + run, len - run);
	buf_putc(b, '"');
}

static void jw_strn(struct buf *b, const char *v, size_t len)
{
	jw_sep(b);
	jw_quote(b, v, len);
}

static void jw_str(struct buf *b, const char *v)
{
	if (v == NULL) {
		jw_sep(b);
		buf_puts(b, "null");
		return;
	}
	jw_strn(b, v, strlen(v));
}

static void jw_int(struct buf *b, int64_t v)
{
	char num[24];
	size_t n = fmt_int64(num, v);

	jw_sep(b);
	buf_append(b, num, n);
}

static void jw_key(struct buf *b, const char *k)
{
	jw_sep(b);
	jw_quote(b, k, strlen(k));
	buf_putc(b, ':');
}

static void jw_open(struct buf *b, char c)
{
	jw_sep(b);
	buf_putc(b, c);
}

static void jw_kstr(struct buf *b, const char *k, const char *v)
{
	jw_key(b, k);
	jw_str(b, v);
}

static void jw_kint(struct buf *b, const char *k, int64_t v)
{
	jw_key(b, k);
	jw_int(b, v);
}

static void jw_ktime(struct buf *b, const char *k, int64_t ms)
{
	char t[TIME_BUFSZ];

	time_format(ms, t);
	jw_kstr(b, k, t);
}

static void jw_idlist(struct buf *b, const struct idlist *l)
{
	jw_open(b, '[');
	for (size_t i = 0; i < l->n; i++)
		jw_str(b, l->v[i]);
	buf_putc(b, ']');
}

/* An item of l begins where its text ends now; lc_end closes it. */
static struct buf *lc_begin(struct lc_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap > 0 ? l->cap * 2 : 8;
		l->off = xreallocarray(l->off, l->cap, sizeof(*l->off));
		l->len = xreallocarray(l->len, l->cap, sizeof(*l->len));
	}
	l->off[l->n] = l->text.len;
	return &l->text;
}

static void lc_end(struct lc_list *l)
{
	l->len[l->n] = l->text.len - l->off[l->n];
	buf_append(&l->text, "", 1); /* the NUL after the item */
	l->n++;
}

static void lc_add(struct lc_list *l, const char *v, size_t len)
{
	buf_append(lc_begin(l), v, len);
	lc_end(l);
}

static void lc_free(struct lc_list *l)
{
	buf_free(&l->text);
	free(l->off);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

void effects_init(struct effects *e)
{
	memset(e, 0, sizeof(*e));
	/* room for a creation's texts at once: no growing on the way */
	buf_init(&e->fields.text);
	buf_reserve(&e->fields.text, 1024);
	buf_init(&e->events.text);
	buf_reserve(&e->events.text, 512);
	buf_init(&e->assignments.text);
	buf_reserve(&e->assignments.text, 1024);
	buf_init(&e->notifications.text);
	buf_reserve(&e->notifications.text, 1024);
	buf_init(&e->xkeys.text);
	buf_init(&e->xops.text);
	buf_init(&e->doc_buf);
	e->due = e->open = e->dedup = e->deadlines = LC_KEEP;
}

void effects_free(struct effects *e)
{
	if (e == NULL)
		return;
	lc_free(&e->fields);
	lc_free(&e->events);
	lc_free(&e->assignments);
	lc_free(&e->notifications);
	lc_free(&e->xkeys);
	lc_free(&e->xops);
	buf_free(&e->doc_buf);
	memset(e, 0, sizeof(*e));
}

/* The kinds of deadline a state has (SPEC §6), in the order a tie goes. */
enum dl_kind { DL_NONE, DL_ACK, DL_RESOLVE, DL_VERIFY, DL_REVIEW, DL_PARK };

static const unsigned dl_bit[] = {0,
                                  LC_BREACHED_ACK,
                                  LC_BREACHED_RESOLVE,
                                  LC_BREACHED_VERIFY,
                                  LC_BREACHED_REVIEW,
                                  LC_BREACHED_PARK};

/* The §7 fields a step may change: the stored incident's, then the step's result. */
struct view {
	enum inc_state state;
	int level; /* index into the rules' levels; -1 when the stored key is gone */
	const char *level_key;
	struct idlist as, co, ver;
	const char *policy;
	int64_t ack, resolve; /* TIME_NONE: "" */
	int64_t case_dl, verify_dl, review_dl, parked_until, resolved_at, parked_at;
	const char *resolved_by, *handled_by;
	struct {
		bool set;
		const char *by, *note;
		int64_t until;
	} pend;
	int64_t extensions, reworks, reopens, urges, count, last_seen_at;
	bool late;
	const char *unit, *category; /* the stored resolved unit and category */
	unsigned breached;
	bool parked_from_returned;
};

static void view_free(struct view *v)
{
	idlist_free(&v->as);
	idlist_free(&v->co);
	idlist_free(&v->ver);
}

static void view_copy(struct view *dst, const struct view *src)
{
	*dst = *src;
	memset(&dst->as, 0, sizeof(dst->as));
	memset(&dst->co, 0, sizeof(dst->co));
	memset(&dst->ver, 0, sizeof(dst->ver));
	idlist_add_list(&dst->as, &src->as);
	idlist_add_list(&dst->co, &src->co);
	idlist_add_list(&dst->ver, &src->ver);
}

/* One step on one incident: what it is, who serves it now, and the view it changes. */
struct step {
	const struct lc_env *env;
	const struct rules *r;
	const struct lc_conf *conf;
	const char *id;
	const struct incident *inc;
	const struct inc_record *rec; /* NULL on creation */
	int64_t now, act;
	char at[TIME_BUFSZ];
	const struct lc_source *src;
	struct effects *out;
	int unit; /* resolved unit, -1 when it no longer resolves */
	int cat;  /* -1 when the category is gone */
	int pol;  /* -1 when no policy applies any more */
	struct route_chain chain;
	struct view old, v; /* before the step (creation: nothing), and after */
	bool created;
	struct admin_cache {
		struct idlist l;
		bool have;
	} admin_store, *adm; /* admins(): filled when first needed; adm is &admin_store */
	struct buf kpi_text; /* scratch */
};

static const struct lc_conf default_conf = {MSG_ZH_CN, NULL, KPI_RETENTION};

static const struct tz *notify_tz(const struct step *s)
{
	return s->conf->tz != NULL ? s->conf->tz : s->r->tz;
}

static void step_begin(struct step *s, const struct lc_env *env, const char *id,
                       const struct incident *inc, struct effects *out)
{
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->r = env->r;
	s->conf = env->conf != NULL ? env->conf : &default_conf;
	s->id = id;
	s->inc = inc;
	s->now = env->now;
	s->act = env->act != 0 && env->act != TIME_NONE ? env->act : env->now;
	time_format(s->now, s->at);
	s->src = env->src;
	s->out = out;
	out->channel = inc->channel;
	s->adm = &s->admin_store;
	buf_init(&s->kpi_text);
}

/* The rules' admins (rules.admins), as ids: gathered the first time a step needs them. */
static const struct idlist *admins(const struct step *s)
{
	if (!s->adm->have) {
		idlist_add_plist(&s->adm->l, s->r, &s->r->admins);
		s->adm->have = true;
	}
	return &s->adm->l;
}

static void step_free(struct step *s)
{
	view_free(&s->old);
	view_free(&s->v);
	idlist_free(&s->admin_store.l);
	buf_free(&s->kpi_text);
}

/* The rules' names for what the rules still know; the key as given otherwise. */
static const char *unit_name(const struct step *s)
{
	return s->unit >= 0 ? s->r->units[s->unit].name : s->inc->unit;
}

static const char *unit_id(const struct step *s)
{
	return s->unit >= 0        ? s->r->units[s->unit].id
	       : s->v.unit != NULL ? s->v.unit
	                           : s->inc->unit;
}

static const char *category_key(const struct step *s)
{
	return s->cat >= 0 ? s->r->categories[s->cat].key : s->inc->category;
}

static const char *category_name(const struct step *s)
{
	return s->cat >= 0 ? s->r->categories[s->cat].name : s->inc->category;
}

static const char *level_name_of(const struct step *s, int lvl, const char *key)
{
	return lvl >= 0 ? s->r->levels[lvl].name : key != NULL ? key : "";
}

static const char *person_name(const struct rules *r, const char *id)
{
	int p = rules_person(r, id);

	return p >= 0 ? r->people[p].name : id;
}

static const struct rules_policy *policy(const struct step *s)
{
	return s->pol >= 0 ? &s->r->policies[s->pol] : NULL;
}

/* t + d in clock or working time. */
static int64_t after(const struct step *s, int64_t t, const struct rules_dur *d)
{
	return calendar_deadline(s->r->calendar, t, d->d);
}

/* The chain of (unit, category) under policy pol at t; all vacant without a unit or category. */
static void chain_at(const struct step *s, int unit, int cat, int pol, int64_t t,
                     struct route_chain *c)
{
	if (unit >= 0 && cat >= 0) {
		route_chain(s->r, unit, cat, pol >= 0 ? &s->r->policies[pol] : NULL, t, c);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->unit = c->category = -1;
	c->nlevels = s->r->nlevels;
	for (size_t l = 0; l < s->r->nlevels; l++) {
		c->levels[l].vacant = true;
		c->levels[l].unit = -1;
	}
}

/* ---- the view of a stored incident ---------------------------------------- */

static void view_of_record(struct step *s, const struct inc_record *rec)
{
	struct view *v = &s->old;

	memset(v, 0, sizeof(*v));
	v->state = rec->state;
	v->level = rules_level(s->r, rec->level_key);
	v->level_key = rec->level_key;
	idlist_add_names(&v->as, (const char *const *)rec->assignees, rec->nassignees);
	idlist_add_names(&v->co, (const char *const *)rec->co_assignees, rec->nco);
	idlist_add_names(&v->ver, (const char *const *)rec->verifiers, rec->nverifiers);
	v->policy = rec->policy;
	v->ack = rec->ack_deadline;
	v->resolve = rec->resolve_deadline;
	v->case_dl = rec->case_deadline;
	v->verify_dl = rec->verify_deadline;
	v->review_dl = rec->review_deadline;
	v->parked_until = rec->parked_until;
	v->resolved_at = rec->resolved_at;
	v->parked_at = rec->parked_at;
	v->resolved_by = rec->resolved_by;
	v->handled_by = rec->handled_by;
	v->pend.set = rec->pending.set;
	v->pend.by = rec->pending.by;
	v->pend.until = rec->pending.until;
	v->pend.note = rec->pending.note;
	v->extensions = rec->extensions;
	v->reworks = rec->reworks;
	v->reopens = rec->reopens;
	v->urges = rec->urges;
	v->count = rec->count;
	v->last_seen_at = rec->last_seen_at;
	v->late = rec->late;
	v->unit = rec->unit;
	v->category = rec->category;
	v->breached = rec->breached;
	v->parked_from_returned = rec->parked_from_returned;
	view_copy(&s->v, v);
}

/*
 * A stored incident under the current rules: its unit and category as they
 * resolve now (the stored ones first), its policy by name (else the first
 * that matches now), and its chain at now. Without unit or category every
 * level is vacant.
 */
static void step_record(struct step *s, const struct lc_env *env, const struct inc_record *rec,
                        struct effects *out)
{
	const struct incident *inc = &rec->inc;
	bool fallback;

	step_begin(s, env, rec->id, inc, out);
	s->rec = rec;
	view_of_record(s, rec);
	const char *cat = rec->category != NULL ? rec->category : inc->category;
	s->cat = cat != NULL ? rules_category(s->r, cat) : -1;
	s->unit = rec->unit != NULL ? rules_unit(s->r, rec->unit, strlen(rec->unit)) : -1;
	if (s->unit < 0 && inc->unit != NULL)
		s->unit = route_resolve_unit(s->r, inc->unit, inc->unit_len, &fallback);
	s->pol = rec->policy != NULL ? rules_policy(s->r, rec->policy) : -1;
	if (s->pol < 0 && s->cat >= 0 && inc->unit != NULL)
		s->pol = route_match(s->r, inc, s->cat);
	chain_at(s, s->unit, s->cat, s->pol, s->now, &s->chain);
}

/* ---- deadlines --------------------------------------------------------------- */

/* A deadline of v's state still pending (not breached), or TIME_NONE. */
static int64_t pending_of(const struct view *v, enum dl_kind k)
{
	int64_t t = TIME_NONE;

	switch (k) {
	case DL_ACK:
		t = v->state == STATE_OPEN ? v->ack : TIME_NONE;
		break;
	case DL_RESOLVE:
		t = v->state == STATE_OPEN || v->state == STATE_ACKED ? v->resolve : TIME_NONE;
		break;
	case DL_VERIFY:
		t = v->state == STATE_VERIFYING ? v->verify_dl : TIME_NONE;
		break;
	case DL_REVIEW:
		t = v->state == STATE_RETURNED ? v->review_dl : TIME_NONE;
		break;
	case DL_PARK:
		t = v->state == STATE_PARKED ? v->parked_until : TIME_NONE;
		break;
	case DL_NONE:
		break;
	}
	return t != TIME_NONE && (v->breached & dl_bit[k]) == 0 ? t : TIME_NONE;
}

/* The earliest pending deadline (up to last: DL_REVIEW leaves parked_until out). */
static enum dl_kind next_pending(const struct view *v, enum dl_kind last, int64_t *when)
{
	enum dl_kind best = DL_NONE;

	*when = TIME_NONE;
	for (int k = DL_ACK; k <= (int)last; k++) {
		int64_t t = pending_of(v, (enum dl_kind)k);
		if (t != TIME_NONE && (best == DL_NONE || t < *when)) {
			best = (enum dl_kind)k;
			*when = t;
		}
	}
	return best;
}

static enum msg_deadline msg_dl(enum dl_kind k)
{
	switch (k) {
	case DL_ACK:
		return MSG_DL_ACK;
	case DL_RESOLVE:
		return MSG_DL_RESOLVE;
	case DL_VERIFY:
		return MSG_DL_VERIFY;
	case DL_REVIEW:
		return MSG_DL_REVIEW;
	default:
		return MSG_DL_NONE;
	}
}

/* ---- what goes out: events, assignments, notifications, KPIs -------------- */

/* A time, or null. */
static void jw_ktime_or_null(struct buf *b, const char *k, int64_t ms)
{
	if (ms == TIME_NONE) {
		jw_key(b, k);
		jw_str(b, NULL);
	} else {
		jw_ktime(b, k, ms);
	}
}

static void jw_kidlist(struct buf *b, const char *k, const struct idlist *l)
{
	jw_key(b, k);
	jw_idlist(b, l);
}

static void copy_id(char *dst, size_t size, const char *v)
{
	snprintf(dst, size, "%s", v != NULL ? v : "");
}

/*
 * Every event has these; source and entry only when an input entry caused
 * it. The object is left open for the members of its type: event_end
 * closes it.
 */
static struct buf *event_new(struct step *s, const char *type, struct lc_event **log)
{
	struct buf *b = lc_begin(&s->out->events);
	struct lc_event *le = &s->out->ev[s->out->nev < LC_MAX_EVENTS ? s->out->nev++ : 0];

	memset(le, 0, sizeof(*le));
	le->type = type;
	*log = le;
	jw_open(b, '{');
	jw_kstr(b, "type", type);
	jw_kstr(b, "incident", s->id);
	jw_kstr(b, "at", s->at);
	if (s->src != NULL && s->src->stream != NULL) {
		jw_kstr(b, "source", s->src->stream);
		jw_kstr(b, "entry", s->src->entry);
	}
	return b;
}

static void event_end(struct step *s)
{
	buf_putc(&s->out->events.text, '}');
	lc_end(&s->out->events);
}

/* by and note of the command that caused an event (note null when none). */
static void jw_by_note(struct buf *b, const struct command *cmd, struct lc_event *le)
{
	jw_kstr(b, "by", cmd->by);
	jw_kstr(b, "note", cmd->note);
	copy_id(le->by, sizeof(le->by), cmd->by);
}

/* The deadlines a person must know of: as the view has them after the step. */
static void jw_deadlines(struct step *s, struct buf *b, bool with_case)
{
	const struct view *v = &s->v;
	bool ar = v->state == STATE_OPEN || v->state == STATE_ACKED;
	int64_t when;

	jw_ktime_or_null(b, "ack_deadline", v->state == STATE_OPEN ? v->ack : TIME_NONE);
	jw_ktime_or_null(b, "resolve_deadline", ar ? v->resolve : TIME_NONE);
	jw_ktime_or_null(b, "verify_deadline",
	                 v->state == STATE_VERIFYING ? v->verify_dl : TIME_NONE);
	jw_ktime_or_null(b, "review_deadline",
	                 v->state == STATE_RETURNED ? v->review_dl : TIME_NONE);
	if (with_case)
		jw_ktime_or_null(b, "case_deadline", v->case_dl);
	next_pending(v, DL_REVIEW, &when);
	jw_ktime_or_null(b, "deadline", when);
}

/* An entry of gr:out:assignments: the case handed to people. */
static void assignment(struct step *s, const char *type, const char *reason,
                       const struct idlist *as, const struct idlist *co)
{
	const struct view *v = &s->v;
	struct buf *b = lc_begin(&s->out->assignments);

	jw_open(b, '{');
	jw_kstr(b, "incident", s->id);
	jw_kstr(b, "event", type);
	jw_kstr(b, "reason", reason);
	jw_kint(b, "level", v->level + 1);
	jw_kstr(b, "level_key", v->level_key);
	jw_kstr(b, "level_name", level_name_of(s, v->level, v->level_key));
	jw_kidlist(b, "assignees", as);
	jw_kidlist(b, "co_assignees", co);
	jw_kstr(b, "unit", unit_id(s));
	jw_kstr(b, "unit_name", unit_name(s));
	jw_key(b, "reported_unit");
	jw_strn(b, s->inc->unit, s->inc->unit_len);
	jw_kstr(b, "category", category_key(s));
	jw_kstr(b, "channel", channel_name(s->inc->channel));
	jw_kstr(b, "severity", severity_name(s->inc->severity));
	jw_kstr(b, "title", s->inc->title);
	jw_kstr(b, "policy", s->pol >= 0 ? s->r->policies[s->pol].name : v->policy);
	jw_kstr(b, "at", s->at);
	jw_deadlines(s, b, true);
	buf_putc(b, '}');
	lc_end(&s->out->assignments);
	copy_id(s->out->unit, sizeof(s->out->unit), unit_id(s));
}

/* The names of people, joined as the language joins them. */
static void join_names(const struct step *s, const struct idlist *l, struct buf *out)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i > 0)
			buf_puts(out, msg_name_sep(s->conf->lang));
		buf_puts(out, person_name(s->r, l->v[i]));
	}
}

/* What a notification's sentence says; filled by each step, completed by notify(). */
static struct msg msg_of(const struct step *s, const char *type)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.unit_name = unit_name(s);
	m.category_name = category_name(s);
	m.title = s->inc->title;
	m.level_name = level_name_of(s, s->v.level, s->v.level_key);
	m.until = TIME_NONE;
	m.now = s->now;
	return m;
}

/*
 * A notification to the people of to, except the actor (may be NULL). Ids
 * the current rules no longer know still go out, with no way to reach them.
 * Nobody left: no notification.
 */
static void notify(struct step *s, struct msg *m, const struct idlist *to, const char *actor)
{
	struct lc_list *l = &s->out->notifications;
	struct buf *b = lc_begin(l);
	const struct view *v = &s->v;
	size_t start = b->len, people = 0;
	struct buf text;
	int64_t when;

	jw_open(b, '{');
	jw_kstr(b, "type", m->type);
	jw_kstr(b, "incident", s->id);
	jw_key(b, "to");
	jw_open(b, '[');
	for (size_t i = 0; i < to->n; i++) {
		const char *id = to->v[i];
		int p = rules_person(s->r, id);

		if (actor != NULL && strcmp(actor, id) == 0)
			continue;
		people++;
		jw_open(b, '{');
		jw_kstr(b, "id", id);
		jw_kstr(b, "name", p >= 0 ? s->r->people[p].name : id);
		jw_key(b, "notify");
		jw_open(b, '[');
		if (p >= 0) {
			for (size_t k = 0; k < s->r->people[p].nnotify; k++)
				jw_str(b, s->r->people[p].notify[k]);
		}
		buf_puts(b, "]}");
	}
	if (people == 0) {
		buf_truncate(b, start);
		return;
	}
	buf_putc(b, ']');
	jw_kstr(b, "level_key", v->level_key);
	m->dl = msg_dl(next_pending(v, DL_REVIEW, &when));
	m->dl_at = when;
	buf_init(&text);
	msg_text(&text, s->conf->lang, notify_tz(s), m);
	jw_key(b, "text");
	jw_strn(b, text.data != NULL ? text.data : "", text.len);
	buf_free(&text);
	jw_kstr(b, "at", s->at);
	jw_kstr(b, "title", s->inc->title);
	jw_kstr(b, "unit", unit_id(s));
	jw_kstr(b, "unit_name", unit_name(s));
	jw_kstr(b, "category", category_key(s));
	jw_kstr(b, "category_name", category_name(s));
	jw_kstr(b, "level_name", level_name_of(s, v->level, v->level_key));
	jw_deadlines(s, b, false);
	buf_putc(b, '}');
	lc_end(l);
}

/* t + d, saturating. */
static int64_t sat_add(int64_t t, int64_t d)
{
	return t > TIME_LATEST_MS - d ? TIME_LATEST_MS : t + d;
}

/* The index (1-based) of an extra key of the step, added when new. */
static size_t xkey(struct step *s, const char *key)
{
	struct lc_list *l = &s->out->xkeys;

	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(lc_item(l, i), key) == 0)
			return i + 1;
	}
	lc_add(l, key, strlen(key));
	return l->n;
}

static void xop(struct step *s, const char *code, size_t key, const char *a1, const char *a2)
{
	char num[24];

	lc_add(&s->out->xops, code, strlen(code));
	fmt_int64(num, (int64_t)key);
	lc_add(&s->out->xops, num, strlen(num));
	lc_add(&s->out->xops, a1, strlen(a1));
	lc_add(&s->out->xops, a2, strlen(a2));
}

/*
 * Count a KPI (SPEC §11) of unit and category in the month of the act's
 * time in the rules' zone: HINCRBY gr:kpi:<YYYY-MM>:<unit> <category>:<counter>,
 * the unit in gr:kpiunits:<YYYY-MM>, both expiring retention.kpi after the
 * month's end (set when the step creates the key: the same instant for every
 * count of the month).
 */
static void kpi_of(struct step *s, const char *unit, const char *cat, const char *counter)
{
	const struct tz *z = s->r->tz;
	int64_t y, ny;
	int mo, d, nmo;
	char month[16], end[24], field[LC_ID_MAX * 2 + 2];

	if (unit == NULL || cat == NULL || unit[0] == '\0' || cat[0] == '\0')
		return;
	time_civil_from_days(calendar_day_of(z, s->act), &y, &mo, &d);
	snprintf(month, sizeof(month), "%04lld-%02d", (long long)y, mo);
	ny = mo == 12 ? y + 1 : y;
	nmo = mo == 12 ? 1 : mo + 1;
	int64_t month_end = calendar_day_start(z, time_days_from_civil(ny, nmo, 1));
	int64_t ret = s->conf->kpi_retention_ms > 0 ? s->conf->kpi_retention_ms : KPI_RETENTION;
	fmt_int64(end, month_end > TIME_LATEST_MS - ret ? TIME_LATEST_MS : month_end + ret);
	snprintf(field, sizeof(field), "%s:%s", cat, counter);

	buf_reset(&s->kpi_text);
	buf_printf(&s->kpi_text, "kpi:%s:%s", month, unit);
	size_t k = xkey(s, s->kpi_text.data);
	buf_reset(&s->kpi_text);
	buf_printf(&s->kpi_text, "kpiunits:%s", month);
	size_t u = xkey(s, s->kpi_text.data);
	xop(s, "H", k, field, end);
	xop(s, "S", u, unit, end);
}

static void kpi(struct step *s, const char *counter)
{
	kpi_of(s, unit_id(s), category_key(s), counter);
}

#define DAILY_KEEP (40 * 86400000LL)

/*
 * A counter of today (the rules' zone) in gr:daily:<YYYY-MM-DD>, kept 40
 * days: the breaches of the day for gridweb's overview.
 */
static void daily(struct step *s, const char *counter)
{
	const struct tz *z = s->r->tz;
	int64_t day = calendar_day_of(z, s->act), y;
	int mo, d;
	char end[24];

	time_civil_from_days(day, &y, &mo, &d);
	buf_reset(&s->kpi_text);
	buf_printf(&s->kpi_text, "daily:%04lld-%02d-%02d", (long long)y, mo, d);
	size_t k = xkey(s, s->kpi_text.data);
	fmt_int64(end, sat_add(calendar_day_start(z, day + 1), DAILY_KEEP));
	xop(s, "H", k, counter, end);
}

/* ---- who may: the roles of SPEC §5 ----------------------------------------- */

static bool in_plist(const struct rules *r, const struct rules_plist *pl, const char *id)
{
	for (size_t i = 0; i < pl->n; i++) {
		if (strcmp(r->people[pl->ids[i]].id, id) == 0)
			return true;
	}
	return false;
}

static bool is_admin(const struct step *s, const char *id)
{
	int p = rules_person(s->r, id);

	return p >= 0 && s->r->people[p].admin;
}

/* On the chain at level from or any level above it. */
static bool on_chain_from(const struct step *s, const struct route_chain *c, int from,
                          const char *id)
{
	for (size_t l = from < 0 ? 0 : (size_t)from; l < c->nlevels; l++) {
		if (!c->levels[l].vacant && in_plist(s->r, &c->levels[l].assignees, id))
			return true;
	}
	return false;
}

/* Admins count as above every level. */
static bool above(const struct step *s, const struct route_chain *c, const char *id)
{
	return is_admin(s, id) || on_chain_from(s, c, s->old.level + 1, id);
}

/* The people of a role looked up like co_assign: the nearest unit upwards that has it. */
static void role_people(const struct step *s, int role, int64_t t, struct idlist *out)
{
	if (role < 0 || s->unit < 0 || s->cat < 0)
		return;
	struct rules_plist pl = route_co(s->r, s->unit, role, s->cat, t);
	idlist_add_plist(out, s->r, &pl);
}

/* The dispatchers (§3.3): dispatch_role's people, else (or when nobody) the admins. */
static void dispatchers(const struct step *s, int64_t t, struct idlist *out)
{
	const struct rules_policy *p = policy(s);

	out->n = 0;
	if (p != NULL)
		role_people(s, p->dispatch_role, t, out);
	if (out->n == 0)
		idlist_add_list(out, admins(s));
}

/* The verifiers (§3.3): verify.role's people less the resolver, else the admins less the resolver.
 */
static void verifiers(const struct step *s, const char *resolver, struct idlist *out)
{
	struct idlist l = {0};

	out->n = 0;
	if (policy(s) != NULL)
		role_people(s, policy(s)->verify_role, s->now, &l);
	for (int pass = 0; pass < 2 && out->n == 0; pass++) {
		const struct idlist *from = pass == 0 ? &l : admins(s);
		for (size_t i = 0; i < from->n; i++) {
			if (strcmp(from->v[i], resolver) != 0)
				idlist_add(out, from->v[i]);
		}
	}
	idlist_free(&l);
}

/*
 * The current assignees: the stored ones, and anyone the chain holds at
 * the current level now (a shift change or a rules edit hands the case
 * over); in returned, the stored ones only (the dispatchers).
 */
static bool current_assignee(const struct step *s, const struct route_chain *c, const char *id)
{
	if (idlist_has(&s->old.as, id))
		return true;
	return s->old.state != STATE_RETURNED && s->old.level >= 0 &&
	       (size_t)s->old.level < c->nlevels && !c->levels[s->old.level].vacant &&
	       in_plist(s->r, &c->levels[s->old.level].assignees, id);
}

/* ---- level assignments and breaches ------------------------------------------ */

/* A skipped event for every vacant level in [from, to). */
static void skip_levels(struct step *s, int from, int to)
{
	for (int l = from < 0 ? 0 : from; l < to && (size_t)l < s->chain.nlevels; l++) {
		if (!s->chain.levels[l].vacant)
			continue;
		struct lc_event *le;
		struct buf *b = event_new(s, "skipped", &le);
		jw_kstr(b, "level_key", s->r->levels[l].key);
		event_end(s);
		copy_id(le->level_key, sizeof(le->level_key), s->r->levels[l].key);
	}
}

/* Leaving open/acked (and any level assignment) drops an extension request. */
static void drop_pending(struct view *v)
{
	v->pend.set = false;
	v->pend.by = v->pend.note = NULL;
	v->pend.until = TIME_NONE;
}

/* The per-assignment fields a level assignment clears. */
static void clear_case_timers(struct view *v)
{
	v->ver.n = 0;
	v->verify_dl = v->review_dl = v->parked_at = v->parked_until = TIME_NONE;
	v->parked_from_returned = false;
	drop_pending(v);
}

/* The event of a level assignment (and of the other hand-overs), open for more members. */
static struct buf *handover_event(struct step *s, const char *type, const char *reason,
                                  const struct command *cmd, struct lc_event **le)
{
	struct buf *b = event_new(s, type, le);

	jw_kint(b, "level", s->v.level + 1);
	jw_kstr(b, "level_key", s->v.level_key);
	jw_kstr(b, "reason", reason);
	jw_kidlist(b, "assignees", &s->v.as);
	jw_kidlist(b, "co_assignees", &s->v.co);
	if (cmd != NULL)
		jw_by_note(b, cmd, *le);
	(*le)->reason = reason;
	copy_id((*le)->level_key, sizeof((*le)->level_key), s->v.level_key);
	return b;
}

/*
 * A level assignment from level from up (SPEC §6): the first non-vacant
 * level at or above it, skipped events for those below it; state open,
 * the people and fresh deadlines of that level at t (due_at caps the
 * first assignment's resolve deadline), the case timers cleared; the
 * event, the assignment and the notification of the new people. Returns
 * the level, or -1 when every level from there up is vacant (nothing done).
 */
static int assign(struct step *s, int from, const char *type, const char *reason,
                  const struct command *cmd, int64_t due_at)
{
	const struct rules *r = s->r;
	struct view *v = &s->v;
	int lvl = route_first(&s->chain, from);

	if (lvl < 0 || s->pol < 0)
		return -1;
	const struct rules_policy *p = &r->policies[s->pol];
	skip_levels(s, from, lvl);
	route_deadlines(r, p, lvl, s->now, due_at, &v->ack, &v->resolve);
	v->state = STATE_OPEN;
	v->level = lvl;
	v->level_key = r->levels[lvl].key;
	v->as.n = v->co.n = 0;
	idlist_add_plist(&v->as, r, &s->chain.levels[lvl].assignees);
	for (size_t k = 0; k < s->chain.nco; k++)
		idlist_add_plist(&v->co, r, &s->chain.co[k]);
	v->policy = p->name;
	v->breached = 0; /* every deadline has a new value: each may breach again */
	clear_case_timers(v);

	struct lc_event *le;
	struct buf *b = handover_event(s, type, reason, cmd, &le);
	if (strcmp(type, "redispatched") == 0) {
		jw_key(b, "unit");
		jw_strn(b, s->inc->unit, s->inc->unit_len); /* the new document's */
		jw_kstr(b, "category", category_key(s));
	}
	event_end(s);
	assignment(s, type, reason, &v->as, &v->co);

	struct idlist to = {0}, names = {0};
	struct buf nb;
	buf_init(&nb);
	idlist_add_list(&to, &v->as);
	idlist_add_list(&to, &v->co);
	join_names(s, &v->as, &nb);
	struct msg m = msg_of(s, type);
	m.reason = reason;
	m.names = nb.data;
	m.by_name = cmd != NULL ? person_name(r, cmd->by) : NULL;
	m.note = cmd != NULL ? cmd->note : NULL;
	m.target_unit = unit_name(s);
	notify(s, &m, &to, cmd != NULL ? cmd->by : NULL);
	buf_free(&nb);
	idlist_free(&to);
	idlist_free(&names);
	return lvl;
}

/* Those a breach tells, by its reason; and the admins always. */
static void breach(struct step *s, enum dl_kind k, const char *reason)
{
	struct view *v = &s->v;
	struct idlist to = {0};
	int64_t when = pending_of(v, k);

	v->breached |= dl_bit[k];
	if (k == DL_RESOLVE)
		v->late = true;
	struct lc_event *le;
	struct buf *b = event_new(s, "breached", &le);
	jw_kstr(b, "level_key", v->level_key);
	jw_kstr(b, "reason", reason);
	event_end(s);
	le->reason = reason;
	copy_id(le->level_key, sizeof(le->level_key), v->level_key);
	kpi(s, "breached");
	daily(s, "breached");

	if (k == DL_VERIFY) {
		idlist_add_list(&to, &v->ver);
	} else if (k == DL_REVIEW) {
		struct idlist d = {0};
		dispatchers(s, s->now, &d);
		idlist_add_list(&to, &d);
		idlist_free(&d);
	} else {
		idlist_add_list(&to, &v->as);
	}
	idlist_add_list(&to, admins(s));
	struct msg m = msg_of(s, "breached");
	m.reason = reason;
	m.breached = msg_dl(k);
	m.breached_at = when;
	notify(s, &m, &to, NULL);
	idlist_free(&to);
}

/* A step that told people nothing through a level assignment: the words for everyone on it. */
static void tell(struct step *s, const char *type, const struct command *cmd,
                 const struct idlist *to, const char *actor, int64_t until)
{
	struct msg m = msg_of(s, type);

	m.by_name = cmd != NULL ? person_name(s->r, cmd->by) : NULL;
	m.note = cmd != NULL ? cmd->note : NULL;
	m.until = until;
	notify(s, &m, to, actor);
}

/* The current assignees and co-assignees (as stored). */
static void holders(const struct step *s, struct idlist *to)
{
	idlist_add_list(to, &s->old.as);
	idlist_add_list(to, &s->old.co);
}

/* An event with by and note (and until where given), and nothing else of its own. */
static struct lc_event *actor_event(struct step *s, const char *type, const struct command *cmd,
                                    bool with_until, int64_t until)
{
	struct lc_event *le;
	struct buf *b = event_new(s, type, &le);

	jw_by_note(b, cmd, le);
	if (with_until)
		jw_ktime_or_null(b, "until", until);
	event_end(s);
	return le;
}

/* The next non-vacant level above the current one: its people (the urge and extension audience). */
static void next_level_people(const struct step *s, struct idlist *to)
{
	int nl = route_next(&s->chain, s->old.level);

	if (nl >= 0)
		idlist_add_plist(to, s->r, &s->chain.levels[nl].assignees);
}

/* ---- the end of a step: what changed ------------------------------------------- */

static void field_str(struct step *s, const char *name, const char *value)
{
	lc_add(&s->out->fields, name, strlen(name));
	lc_add(&s->out->fields, value != NULL ? value : "", value != NULL ? strlen(value) : 0);
}

static void field_int(struct step *s, const char *name, int64_t v)
{
	char num[24];

	fmt_int64(num, v);
	field_str(s, name, num);
}

static void field_time(struct step *s, const char *name, int64_t v)
{
	if (v == TIME_NONE)
		field_str(s, name, "");
	else
		field_int(s, name, v);
}

static void field_idlist(struct step *s, const char *name, const struct idlist *l)
{
	lc_add(&s->out->fields, name, strlen(name));
	jw_idlist(lc_begin(&s->out->fields), l);
	lc_end(&s->out->fields);
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void put_str_if(struct step *s, bool all, const char *name, const char *o, const char *n)
{
	if (all || !same_str(o, n))
		field_str(s, name, n);
}

static void put_int_if(struct step *s, bool all, const char *name, int64_t o, int64_t n)
{
	if (all || o != n)
		field_int(s, name, n);
}

static void put_time_if(struct step *s, bool all, const char *name, int64_t o, int64_t n)
{
	if (all || o != n)
		field_time(s, name, n);
}

static void put_list_if(struct step *s, bool all, const char *name, const struct idlist *o,
                        const struct idlist *n)
{
	if (all || !idlist_same(o, n))
		field_idlist(s, name, n);
}

static const char *const breached_names[] = {"ack", "resolve", "verify", "review", "park"};

static void breached_text(unsigned bits, struct buf *b)
{
	for (size_t i = 0; i < GR_NELEM(breached_names); i++) {
		if (bits & (1u << i)) {
			if (b->len > 0)
				buf_putc(b, ',');
			buf_puts(b, breached_names[i]);
		}
	}
}

static bool same_pending(const struct view *a, const struct view *b)
{
	return a->pend.set == b->pend.set &&
	       (!a->pend.set ||
	        (same_str(a->pend.by, b->pend.by) && a->pend.until == b->pend.until &&
	         same_str(a->pend.note, b->pend.note)));
}

/*
 * The fields of §7 that differ from the stored incident. On creation, the
 * core fields all, and of lc_create_defaults only those that differ from
 * their value there: the script writes the others (apply.lua's CREATED).
 */
static void emit_fields(struct step *s)
{
	const struct view *o = &s->old, *v = &s->v;
	bool all = s->created;

	put_str_if(s, all, "state", inc_state_name(o->state), inc_state_name(v->state));
	if (all || o->level != v->level || !same_str(o->level_key, v->level_key)) {
		field_int(s, "level", v->level + 1);
		field_str(s, "level_key", v->level_key);
	}
	put_list_if(s, all, "assignees", &o->as, &v->as);
	put_list_if(s, false, "co_assignees", &o->co, &v->co);
	put_str_if(s, all, "policy", o->policy, v->policy);
	put_time_if(s, all, "ack_deadline", o->ack, v->ack);
	put_time_if(s, all, "resolve_deadline", o->resolve, v->resolve);
	put_int_if(s, all, "last_seen_at", o->last_seen_at, v->last_seen_at);
	put_int_if(s, all, "count", o->count, v->count);
	put_time_if(s, false, "case_deadline", o->case_dl, v->case_dl);
	put_time_if(s, false, "verify_deadline", o->verify_dl, v->verify_dl);
	put_time_if(s, false, "review_deadline", o->review_dl, v->review_dl);
	put_time_if(s, false, "parked_until", o->parked_until, v->parked_until);
	put_time_if(s, false, "resolved_at", o->resolved_at, v->resolved_at);
	put_list_if(s, false, "verifiers", &o->ver, &v->ver);
	put_str_if(s, false, "resolved_by", o->resolved_by, v->resolved_by);
	put_str_if(s, false, "handled_by", o->handled_by, v->handled_by);
	if (!same_pending(o, v)) {
		lc_add(&s->out->fields, "pending_extension", 17);
		struct buf *b = lc_begin(&s->out->fields);
		if (v->pend.set) {
			jw_open(b, '{');
			jw_kstr(b, "by", v->pend.by);
			jw_ktime(b, "until", v->pend.until);
			jw_kstr(b, "note", v->pend.note);
			buf_putc(b, '}');
		}
		lc_end(&s->out->fields);
	}
	put_int_if(s, false, "extensions", o->extensions, v->extensions);
	put_int_if(s, false, "reworks", o->reworks, v->reworks);
	put_int_if(s, false, "reopens", o->reopens, v->reopens);
	put_int_if(s, false, "urges", o->urges, v->urges);
	put_str_if(s, false, "late", o->late ? "1" : "0", v->late ? "1" : "0");
	put_time_if(s, false, "parked_at", o->parked_at, v->parked_at);
	put_str_if(s, all, "unit", o->unit, v->unit);
	put_str_if(s, all, "category", o->category, v->category);
	/* internal: what breached, and where a parked case goes back to; absent is none */
	if (o->breached != v->breached && (!all || v->breached != 0)) {
		struct buf b;
		buf_init(&b);
		breached_text(v->breached, &b);
		field_str(s, "breached", b.data != NULL ? b.data : "");
		buf_free(&b);
	}
	if (o->parked_from_returned != v->parked_from_returned && (!all || v->parked_from_returned))
		field_str(s, "parked_from", v->parked_from_returned ? "returned" : "");
}

const char *const lc_create_written[] = {
        "channel",          "", "created_at",   "",   "state",  "open", "level",        "1",
        "level_key",        "", "assignees",    "[]", "policy", "",     "ack_deadline", "",
        "resolve_deadline", "", "last_seen_at", "",   "count",  "1",    "unit",         "",
        "category",         "", "updated_at",   "",   NULL};

const char *const lc_create_defaults[] = {"co_assignees",
                                          "[]",
                                          "case_deadline",
                                          "",
                                          "verify_deadline",
                                          "",
                                          "review_deadline",
                                          "",
                                          "parked_until",
                                          "",
                                          "resolved_at",
                                          "",
                                          "verifiers",
                                          "[]",
                                          "resolved_by",
                                          "",
                                          "handled_by",
                                          "",
                                          "pending_extension",
                                          "",
                                          "extensions",
                                          "0",
                                          "reworks",
                                          "0",
                                          "reopens",
                                          "0",
                                          "urges",
                                          "0",
                                          "late",
                                          "0",
                                          "parked_at",
                                          "",
                                          "version",
                                          "1",
                                          NULL};

size_t lc_stat_unit(const char *unit)
{
	const char *slash = strchr(unit, '/');

	if (slash != NULL)
		slash = strchr(slash + 1, '/');
	return slash != NULL ? (size_t)(slash - unit) : strlen(unit);
}

/* Not closed: counted in gr:stats. */
static bool live(enum inc_state st)
{
	return st != STATE_RESOLVED && st != STATE_CANCELLED;
}

/*
 * The deadline a case must meet now, passed or not (gr:deadlines, what
 * "overdue" is read from): its state's ack, resolve, verify or review
 * deadline, breached ones too, or its case deadline, the earliest. None
 * for a closed or parked case (a parked case's clock stands still).
 */
static int64_t must_meet(const struct view *v)
{
	int64_t c[3] = {v->case_dl, TIME_NONE, TIME_NONE}, best = TIME_NONE;

	switch (v->state) {
	case STATE_OPEN:
		c[1] = v->ack;
		c[2] = v->resolve;
		break;
	case STATE_ACKED:
		c[1] = v->resolve;
		break;
	case STATE_VERIFYING:
		c[1] = v->verify_dl;
		break;
	case STATE_RETURNED:
		c[1] = v->review_dl;
		break;
	default:
		return TIME_NONE;
	}
	for (size_t i = 0; i < GR_NELEM(c); i++) {
		if (c[i] != TIME_NONE && (best == TIME_NONE || c[i] < best))
			best = c[i];
	}
	return best;
}

/* One live counter of gr:stats moved by delta (a unit's: its street's, lc_stat_unit). */
static void stat(struct step *s, const char *kind, const char *name, int delta)
{
	if (name == NULL || name[0] == '\0')
		return;
	buf_reset(&s->kpi_text);
	if (strcmp(kind, "unit") == 0)
		buf_printf(&s->kpi_text, "unit:%.*s", (int)lc_stat_unit(name), name);
	else
		buf_printf(&s->kpi_text, "%s:%s", kind, name);
	xop(s, "h", xkey(s, "stats"), s->kpi_text.data, delta > 0 ? "1" : "-1");
}

/*
 * The live counters of the cases not closed (gr:stats, what gridweb's
 * overview reads in one call): by state, by level and by resolved unit.
 * What the step moves: out of the old, into the new.
 */
static void live_counters(struct step *s)
{
	const struct view *o = &s->old, *v = &s->v;
	bool was = !s->created && live(o->state), is = live(v->state);

	if (was && is && o->state == v->state && same_str(o->level_key, v->level_key) &&
	    same_str(o->unit, v->unit))
		return;
	if (was) {
		stat(s, "state", inc_state_name(o->state), -1);
		stat(s, "level", o->level_key, -1);
		stat(s, "unit", o->unit, -1);
	}
	if (is) {
		stat(s, "state", inc_state_name(v->state), 1);
		stat(s, "level", v->level_key, 1);
		stat(s, "unit", v->unit, 1);
	}
}

/*
 * What gr:deadlines holds for a case whose must-meet deadline is mm and
 * whose gr:due score is due (TIME_NONE: none): TIME_NONE for no member,
 * when the two are the same (a new case's, most cases' most of the time:
 * no write) or both none; else mm, LC_DEADLINE_NONE for none (parked).
 */
static int64_t deadlines_member(int64_t mm, int64_t due)
{
	if (mm == due)
		return TIME_NONE;
	return mm == TIME_NONE ? LC_DEADLINE_NONE : mm;
}

static void step_end(struct step *s)
{
	int64_t was, when;
	enum dl_kind before = next_pending(&s->old, DL_PARK, &was);
	enum dl_kind after_ = next_pending(&s->v, DL_PARK, &when);

	emit_fields(s);
	field_int(s, "updated_at", s->now);
	live_counters(s);
	/* the unit the step's log line names (SPEC §9), assigned or not */
	if (s->out->unit[0] == '\0')
		copy_id(s->out->unit, sizeof(s->out->unit), unit_id(s));
	int64_t mm_was = s->created ? TIME_NONE : must_meet(&s->old), mm = must_meet(&s->v);
	int64_t st_was = s->created ? TIME_NONE
	                            : deadlines_member(mm_was, before != DL_NONE ? was : TIME_NONE);
	int64_t st = deadlines_member(mm, after_ != DL_NONE ? when : TIME_NONE);
	/* (a member a store of an earlier build kept for a deadline equal to gr:due's goes
	 * when the deadline changes) */
	if (st != st_was || (st == TIME_NONE && !s->created && mm != mm_was)) {
		s->out->deadlines = st != TIME_NONE ? LC_SET : LC_REM;
		s->out->deadlines_score = st != TIME_NONE ? st : 0;
	}
	/* gr:due holds the earliest pending deadline: written when it changed */
	if (!s->created && before == after_ && was == when)
		return;
	s->out->due = after_ != DL_NONE ? LC_SET : LC_REM;
	s->out->due_score = after_ != DL_NONE ? when : 0;
}

/* Resolved or cancelled: out of gr:due, gr:open and the dedup key, and expiring. */
static void close_case(struct step *s, enum inc_state st)
{
	s->v.state = st;
	drop_pending(&s->v);
	s->out->open = LC_REM;
	if (s->inc->dedup_key != NULL) {
		s->out->dedup = LC_REM;
		s->out->dedup_key = s->inc->dedup_key;
	}
	s->out->expire = LC_EXPIRE_SET;
}

/* Closed on time (SPEC §6): not late, and by the case deadline when there is one. */
static void count_closed(struct step *s)
{
	kpi(s, "closed");
	if (!s->v.late && (s->v.case_dl == TIME_NONE || s->act <= s->v.case_dl))
		kpi(s, "closed_on_time");
}

/* ---- creation and duplicates ----------------------------------------------------- */

void lifecycle_create(const struct lc_env *env, const struct incident *inc,
                      const struct route_result *rt, const char *report_sha1, struct effects *out)
{
	struct step s;
	const struct rules_policy *p = &env->r->policies[rt->policy];

	step_begin(&s, env, inc->id, inc, out);
	s.created = true;
	s.unit = rt->unit;
	s.cat = rt->category;
	s.pol = rt->policy;
	s.chain = rt->chain;
	memset(&s.old, 0, sizeof(s.old));
	s.old.level = -1;
	s.old.ack = s.old.resolve = s.old.case_dl = s.old.verify_dl = s.old.review_dl = TIME_NONE;
	s.old.parked_until = s.old.resolved_at = s.old.parked_at = TIME_NONE;
	view_copy(&s.v, &s.old);
	s.v.unit = s.r->units[rt->unit].id;
	s.v.category = s.r->categories[rt->category].key;
	s.v.count = 1;
	s.v.last_seen_at = s.now;
	/* the case deadline (§3.3): close_within from creation, capped by due_at, or due_at alone
	 */
	if (p->close_within.text != NULL)
		s.v.case_dl = after(&s, s.now, &p->close_within);
	if (inc->due_at != TIME_NONE && (s.v.case_dl == TIME_NONE || inc->due_at < s.v.case_dl))
		s.v.case_dl = inc->due_at;

	out->doc = inc->doc;
	out->doc_len = inc->doc_len;
	field_str(&s, "channel", channel_name(inc->channel));
	field_int(&s, "created_at", s.now);
	if (report_sha1 != NULL)
		field_str(&s, "report_sha1", report_sha1);
	kpi(&s, "created");
	assign(&s, p->start_level, "assigned", "new", NULL, inc->due_at);
	step_end(&s);

	out->open = LC_SET;
	out->open_score = s.now;
	if (inc->dedup_key != NULL) {
		out->dedup = LC_SET;
		out->dedup_key = inc->dedup_key;
	}
	step_free(&s);
}

void lifecycle_duplicate(const struct lc_env *env, const struct inc_record *rec,
                         struct effects *out)
{
	struct step s;
	struct idlist to = {0};
	struct buf nb;

	step_record(&s, env, rec, out);
	s.v.count = rec->count < INT64_MAX ? rec->count + 1 : INT64_MAX;
	s.v.last_seen_at = s.now;

	struct lc_event *le;
	struct buf *b = event_new(&s, "duplicate", &le);
	jw_kint(b, "count", s.v.count);
	event_end(&s);
	le->count = s.v.count;

	buf_init(&nb);
	join_names(&s, &s.old.as, &nb);
	struct msg m = msg_of(&s, "duplicate");
	m.count = s.v.count;
	m.names = nb.data;
	idlist_add_list(&to, &s.old.as);
	notify(&s, &m, &to, NULL);
	buf_free(&nb);
	idlist_free(&to);
	step_end(&s);
	step_free(&s);
}

/* ---- parking: unpark, by a dispatcher or when parked_until passes ---------------- */

/* The clock stops while a case is parked: its case deadline moves later by the time parked. */
static void shift_case_deadline(struct step *s)
{
	const struct rules_policy *p = policy(s);
	struct view *v = &s->v;
	int64_t from = s->old.parked_at;

	if (v->case_dl == TIME_NONE || from == TIME_NONE || s->now <= from)
		return;
	if (p != NULL && p->close_within.text != NULL && p->close_within.d.working &&
	    s->r->calendar != NULL)
		v->case_dl = calendar_add(s->r->calendar, v->case_dl,
		                          calendar_worktime(s->r->calendar, from, s->now));
	else
		v->case_dl = sat_add(v->case_dl, s->now - from);
}

/*
 * Back from parked: a level assignment at the same level, or, for a case
 * parked from returned, returned again with the dispatchers and a new
 * review deadline from now. Returns 0, or -1 when every level from the
 * case's up is vacant (nothing done).
 */
static int unpark(struct step *s, const struct command *cmd, const char *reason)
{
	struct view *v = &s->v;
	const struct rules_policy *p = policy(s);

	shift_case_deadline(s);
	if (!s->old.parked_from_returned)
		return assign(s, s->old.level < 0 ? 0 : s->old.level, "unparked", reason, cmd,
		              TIME_NONE) >= 0
		               ? 0
		               : -1;
	dispatchers(s, s->now, &v->as);
	v->co.n = 0;
	v->state = STATE_RETURNED;
	v->review_dl = p != NULL && p->review_within.text != NULL
	                       ? after(s, s->now, &p->review_within)
	                       : TIME_NONE;
	v->parked_at = v->parked_until = TIME_NONE;
	v->parked_from_returned = false;
	v->breached &= ~(LC_BREACHED_REVIEW | LC_BREACHED_PARK);
	struct lc_event *le;
	handover_event(s, "unparked", reason, cmd, &le);
	event_end(s);
	struct idlist none = {0};
	assignment(s, "unparked", reason, &v->as, &none);
	struct buf nb;
	buf_init(&nb);
	join_names(s, &v->as, &nb);
	struct msg m = msg_of(s, "unparked");
	m.reason = reason;
	m.names = nb.data;
	m.by_name = cmd != NULL ? person_name(s->r, cmd->by) : NULL;
	m.note = cmd != NULL ? cmd->note : NULL;
	notify(s, &m, &v->as, cmd != NULL ? cmd->by : NULL);
	buf_free(&nb);
	return 0;
}

/* ---- deadlines --------------------------------------------------------------------- */

int lifecycle_deadline(const struct lc_env *env, const struct inc_record *rec, struct effects *out)
{
	struct step s;
	int64_t when;

	step_record(&s, env, rec, out);
	enum dl_kind k = next_pending(&s.old, DL_PARK, &when);
	if (k == DL_NONE || when > s.now) {
		out->due = k != DL_NONE ? LC_SET : LC_REM;
		out->due_score = k != DL_NONE ? when : 0;
		step_free(&s);
		return 0;
	}
	switch (k) {
	case DL_ACK:
	case DL_RESOLVE: {
		const char *reason = k == DL_ACK ? "ack_timeout" : "resolve_timeout";
		/* without a policy there are no durations to escalate with: breach where it is */
		int target = s.pol >= 0 ? route_next(&s.chain, s.old.level) : -1;
		/* from the level above: the vacant ones between get their skipped events */
		if (target >= 0 &&
		    assign(&s, s.old.level + 1, "escalated", reason, NULL, TIME_NONE) >= 0) {
			if (k == DL_RESOLVE)
				s.v.late = true;
			kpi(&s, "escalated");
		} else {
			breach(&s, k, reason);
		}
		break;
	}
	case DL_VERIFY:
		breach(&s, k, "verify_timeout");
		break;
	case DL_REVIEW:
		breach(&s, k, "review_timeout");
		break;
	case DL_PARK:
		/* nobody left to take it: said once, and the case stays as it is */
		if (unpark(&s, NULL, "park_expired") < 0)
			breach(&s, k, "no_assignee");
		break;
	case DL_NONE:
		break;
	}
	step_end(&s);
	step_free(&s);
	return 1;
}

int64_t lifecycle_next_deadline(const struct inc_record *rec)
{
	struct view v;
	int64_t when;

	memset(&v, 0, sizeof(v));
	v.state = rec->state;
	v.ack = rec->ack_deadline;
	v.resolve = rec->resolve_deadline;
	v.verify_dl = rec->verify_deadline;
	v.review_dl = rec->review_deadline;
	v.parked_until = rec->parked_until;
	v.breached = rec->breached;
	next_pending(&v, DL_PARK, &when);
	return when;
}

/* ---- commands ---------------------------------------------------------------------- */

/* Who may (SPEC §5's table); admins may do everything. */
enum {
	W_ASSIGNEE = 1, /* a current assignee */
	W_CO = 2,       /* a co-assignee */
	W_ABOVE = 4,    /* on the chain above the current level */
	W_CHAIN = 8,    /* on the chain at the current level or above */
	W_DISPATCH = 16,
	W_VERIFIER = 32, /* a current verifier */
};

#define S(st)  (1u << (st))
#define S_LIVE (S(STATE_OPEN) | S(STATE_ACKED))

static const struct {
	unsigned who, from;
	const char *who_text, *from_text;
} op_table[OP__COUNT] = {
        [OP_ACK] = {W_ASSIGNEE | W_CO | W_ABOVE, S(STATE_OPEN),
                    "a current assignee or co-assignee, or someone above on its chain", "open"},
        [OP_RESOLVE] = {W_ASSIGNEE | W_CO | W_ABOVE, S_LIVE,
                        "a current assignee or co-assignee, or someone above on its chain",
                        "open or acked"},
        [OP_COMMENT] = {W_ASSIGNEE | W_CO | W_ABOVE | W_DISPATCH | W_VERIFIER, ~S(STATE_CANCELLED),
                        "a current assignee or co-assignee, someone above on its chain, a "
                        "dispatcher or a current verifier",
                        "not cancelled"},
        [OP_ESCALATE] = {W_CHAIN, S_LIVE, "on its chain at the current level or above",
                         "open or acked"},
        [OP_REASSIGN] = {W_CHAIN, S_LIVE, "on its chain at the current level or above",
                         "open or acked"},
        [OP_RETURN] = {W_ASSIGNEE, S_LIVE, "a current assignee", "open or acked"},
        [OP_REDISPATCH] = {W_DISPATCH, S_LIVE | S(STATE_RETURNED), "a dispatcher",
                           "open, acked or returned"},
        [OP_CANCEL] = {W_DISPATCH, S_LIVE | S(STATE_RETURNED) | S(STATE_PARKED), "a dispatcher",
                       "open, acked, returned or parked"},
        [OP_EXTEND] = {W_ASSIGNEE | W_ABOVE | W_DISPATCH, S_LIVE,
                       "a current assignee (a request), someone above on its chain or a "
                       "dispatcher (a grant)",
                       "open or acked"},
        [OP_APPROVE] = {W_ABOVE | W_DISPATCH, S_LIVE, "someone above on its chain or a dispatcher",
                        "open or acked"},
        [OP_DENY] = {W_ABOVE | W_DISPATCH, S_LIVE, "someone above on its chain or a dispatcher",
                     "open or acked"},
        [OP_PARK] = {W_DISPATCH, S_LIVE | S(STATE_RETURNED), "a dispatcher",
                     "open, acked or returned"},
        [OP_UNPARK] = {W_DISPATCH, S(STATE_PARKED), "a dispatcher", "parked"},
        [OP_VERIFY] = {W_VERIFIER, S(STATE_VERIFYING), "a current verifier", "verifying"},
        [OP_REOPEN] = {W_DISPATCH, S(STATE_RESOLVED), "a dispatcher", "resolved"},
        [OP_URGE] = {W_ABOVE | W_DISPATCH, S_LIVE | S(STATE_VERIFYING) | S(STATE_RETURNED),
                     "someone above on its chain or a dispatcher",
                     "open, acked, verifying or returned"},
};

/* What a person is to a case (W_*). */
static unsigned roles_of(const struct step *s, const struct route_chain *c, const char *id)
{
	unsigned w = 0;
	struct idlist d = {0};

	if (current_assignee(s, c, id))
		w |= W_ASSIGNEE;
	if (idlist_has(&s->old.co, id))
		w |= W_CO;
	if (above(s, c, id))
		w |= W_ABOVE;
	if (is_admin(s, id) || on_chain_from(s, c, s->old.level < 0 ? 0 : s->old.level, id))
		w |= W_CHAIN;
	dispatchers(s, s->act, &d);
	if (idlist_has(&d, id))
		w |= W_DISPATCH;
	idlist_free(&d);
	if (s->old.state == STATE_VERIFYING && idlist_has(&s->old.ver, id))
		w |= W_VERIFIER;
	return w;
}

static const char *safe(const char *v, char out[QUOTE_MAX + 4])
{
	size_t i = 0;

	for (; v[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)v[i];
		out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (v[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* A grant of an extension to until (§6): extend by someone above or a dispatcher, or approve. */
static void grant(struct step *s, const struct command *cmd, int64_t until)
{
	struct view *v = &s->v;
	struct idlist to = {0};

	v->resolve = until;
	v->breached &= ~LC_BREACHED_RESOLVE;
	if (v->case_dl != TIME_NONE && until > v->case_dl)
		v->case_dl = until;
	v->extensions++;
	drop_pending(v);
	actor_event(s, "extended", cmd, true, until);
	holders(s, &to);
	tell(s, "extended", cmd, &to, cmd->by, until);
	idlist_free(&to);
	kpi(s, "extended");
}

/* Why a grant cannot be: 0, or -1 with rj. */
static int check_grant(const struct step *s, const struct command *cmd, int64_t until,
                       struct rejection *rj)
{
	const struct rules_policy *p = policy(s);
	char b[QUOTE_MAX + 4], t1[TIME_BUFSZ], t2[TIME_BUFSZ];
	int max = p != NULL ? p->max_extensions : 1;

	if (s->old.extensions >= max)
		return reject(
		        rj, REASON_INVALID_TRANSITION,
		        "cannot extend incident \"%s\": it has had %lld of the %d extension%s "
		        "its policy allows",
		        safe(s->id, b), (long long)s->old.extensions, max, max == 1 ? "" : "s");
	if (s->old.resolve != TIME_NONE && until <= s->old.resolve) {
		time_format(until, t1);
		time_format(s->old.resolve, t2);
		return reject(
		        rj, REASON_INVALID_TRANSITION,
		        "cannot %s incident \"%s\" to %s: not later than its resolve deadline "
		        "%s",
		        cmd_op_name(cmd->op), safe(s->id, b), t1, t2);
	}
	return 0;
}

static int cmd_extend(struct step *s, const struct command *cmd, unsigned who, struct rejection *rj)
{
	struct view *v = &s->v;
	char b[QUOTE_MAX + 4];
	bool is_grant = (who & (W_ABOVE | W_DISPATCH)) != 0 || is_admin(s, cmd->by);
	int64_t until = cmd->until != TIME_NONE
	                        ? cmd->until
	                        : calendar_deadline(s->r->calendar, s->old.resolve, cmd->for_dur);

	if (!is_grant && s->old.pend.set)
		return reject(
		        rj, REASON_INVALID_TRANSITION,
		        "cannot ask to extend incident \"%s\": a request by \"%s\" is pending",
		        safe(s->id, b), s->old.pend.by);
	if (check_grant(s, cmd, until, rj) < 0)
		return -1;
	if (is_grant) {
		grant(s, cmd, until);
		return 0;
	}
	v->pend.set = true;
	v->pend.by = cmd->by;
	v->pend.note = cmd->note;
	v->pend.until = until;
	actor_event(s, "extension_requested", cmd, true, until);
	struct idlist to = {0}, d = {0};
	next_level_people(s, &to);
	dispatchers(s, s->now, &d);
	idlist_add_list(&to, &d);
	tell(s, "extension_requested", cmd, &to, cmd->by, until);
	idlist_free(&to);
	idlist_free(&d);
	return 0;
}

static int cmd_resolve(struct step *s, const struct command *cmd)
{
	struct view *v = &s->v;
	const struct rules_policy *p = policy(s);
	struct idlist to = {0};

	if (p != NULL && p->verify_role >= 0) {
		/* 核查: someone else verifies before it is closed */
		verifiers(s, cmd->by, &v->ver);
		v->state = STATE_VERIFYING;
		v->verify_dl = after(s, s->now, &p->verify_within);
		v->breached &= ~LC_BREACHED_VERIFY;
		v->handled_by = cmd->by;
		v->ack = v->resolve = TIME_NONE;
		drop_pending(v);
		struct lc_event *le;
		struct buf *b = event_new(s, "verify_requested", &le);
		jw_by_note(b, cmd, le);
		jw_kidlist(b, "verifiers", &v->ver);
		jw_ktime(b, "verify_deadline", v->verify_dl);
		event_end(s);
		struct idlist none = {0};
		assignment(s, "verify_requested", "resolve", &v->ver, &none);
		tell(s, "verify_requested", cmd, &v->ver, cmd->by, TIME_NONE);
		return 0;
	}
	v->resolved_by = v->handled_by = cmd->by;
	v->resolved_at = s->now;
	close_case(s, STATE_RESOLVED);
	struct lc_event *le = actor_event(s, "resolved", cmd, false, 0);
	le->since = s->now - s->rec->created_at;
	holders(s, &to);
	tell(s, "resolved", cmd, &to, cmd->by, TIME_NONE);
	idlist_free(&to);
	count_closed(s);
	return 0;
}

static int cmd_verify(struct step *s, const struct command *cmd, struct rejection *rj)
{
	struct view *v = &s->v;
	struct idlist to = {0};
	char b[QUOTE_MAX + 4];

	if (!cmd->passed) {
		v->reworks++;
		if (assign(s, s->old.level < 0 ? 0 : s->old.level, "reworked", "verify_failed", cmd,
		           TIME_NONE) < 0)
			return reject(
			        rj, REASON_NO_ASSIGNEE,
			        "cannot send incident \"%s\" back for rework: nobody is on duty "
			        "at its level or above",
			        safe(s->id, b));
		kpi(s, "reworked");
		return 0;
	}
	v->resolved_by = cmd->by;
	v->resolved_at = s->now;
	close_case(s, STATE_RESOLVED);
	struct lc_event *le;
	struct buf *eb = event_new(s, "resolved", &le);
	jw_by_note(eb, cmd, le);
	jw_kstr(eb, "handled_by", s->old.handled_by);
	event_end(s);
	le->since = s->now - s->rec->created_at;
	holders(s, &to);
	idlist_add(&to, s->old.handled_by);
	struct msg m = msg_of(s, "resolved");
	m.by_name = person_name(s->r, cmd->by);
	m.other_name = s->old.handled_by != NULL ? person_name(s->r, s->old.handled_by) : NULL;
	m.note = cmd->note;
	notify(s, &m, &to, cmd->by);
	idlist_free(&to);
	count_closed(s);
	return 0;
}

/* The incident routed again with another unit or category (§5 redispatch). */
static int cmd_redispatch(struct step *s, const struct command *cmd, struct incident *ninc,
                          struct rejection *rj)
{
	struct effects *out = s->out;
	struct route_result rt;
	struct incident_ctx ctx = {
	        .channel = s->inc->channel, .entry_ms = s->rec->created_at, .max_bytes = 0};
	char b[QUOTE_MAX + 4];

	buf_reset(&out->doc_buf);
	if (incident_doc_replace(s->inc->doc, s->inc->doc_len, cmd->unit, cmd->category,
	                         &out->doc_buf) < 0 ||
	    incident_parse(out->doc_buf.data, out->doc_buf.len, &ctx, ninc, rj) < 0)
		return reject(rj, REASON_INVALID_TRANSITION,
		              "cannot redispatch incident \"%s\": its stored document cannot be "
		              "rewritten",
		              safe(s->id, b));
	if (route_incident(s->r, ninc, s->now, &rt, rj) < 0)
		return -1;
	kpi(s, "redispatched"); /* counted for the unit and category it leaves */
	s->inc = ninc;
	s->unit = rt.unit;
	s->cat = rt.category;
	s->pol = rt.policy;
	s->chain = rt.chain;
	s->v.unit = s->r->units[rt.unit].id;
	s->v.category = s->r->categories[rt.category].key;
	s->v.late = false; /* the new unit starts clean */
	assign(s, s->r->policies[rt.policy].start_level, "redispatched", "redispatch", cmd,
	       TIME_NONE);
	out->doc = out->doc_buf.data;
	out->doc_len = out->doc_buf.len;
	return 0;
}

/* The op's effects once it is authorized and its state allows it. 0, or -1 with rj. */
static int apply_op(struct step *s, const struct command *cmd, unsigned who, struct incident *ninc,
                    struct rejection *rj)
{
	struct view *v = &s->v;
	const struct rules_policy *p = policy(s);
	struct idlist to = {0}, d = {0};
	char b[QUOTE_MAX + 4], t[TIME_BUFSZ];
	int rc = 0;

	switch (cmd->op) {
	case OP_ACK: {
		v->state = STATE_ACKED;
		/* someone the chain holds now, not stored: an assignee from now on */
		if ((who & W_ASSIGNEE) && !idlist_has(&s->old.as, cmd->by))
			idlist_add(&v->as, cmd->by);
		struct lc_event *le = actor_event(s, "acked", cmd, false, 0);
		le->since = s->now - s->rec->created_at;
		idlist_add_list(&to, &v->as);
		idlist_add_list(&to, &v->co);
		tell(s, "acked", cmd, &to, cmd->by, TIME_NONE);
		kpi(s, "acked");
		if (s->old.ack != TIME_NONE && s->act <= s->old.ack)
			kpi(s, "acked_on_time");
		break;
	}
	case OP_RESOLVE:
		rc = cmd_resolve(s, cmd);
		break;
	case OP_COMMENT:
		actor_event(s, "comment", cmd, false, 0);
		holders(s, &to);
		if (s->old.state == STATE_VERIFYING)
			idlist_add_list(&to, &s->old.ver);
		tell(s, "comment", cmd, &to, cmd->by, TIME_NONE);
		break;
	case OP_ESCALATE: {
		int target = route_next(&s->chain, s->old.level);
		if (target < 0)
			return reject(rj, REASON_INVALID_TRANSITION,
			              "cannot escalate incident \"%s\": no level above \"%s\" has "
			              "anyone on duty",
			              safe(s->id, b), s->old.level_key);
		assign(s, s->old.level + 1, "escalated", "manual", cmd, TIME_NONE);
		break;
	}
	case OP_REASSIGN: {
		int lvl = rules_level(s->r, cmd->level);
		if (lvl < 0 || (size_t)lvl >= s->chain.nlevels || s->chain.levels[lvl].vacant)
			return reject(
			        rj, REASON_INVALID_TRANSITION,
			        "cannot reassign incident \"%s\" to level \"%s\": nobody is on "
			        "duty there for it",
			        safe(s->id, b), cmd->level);
		assign(s, lvl, "reassigned", "reassign", cmd, TIME_NONE);
		break;
	}
	case OP_RETURN: {
		dispatchers(s, s->now, &v->as);
		v->co.n = 0;
		v->state = STATE_RETURNED;
		v->ack = v->resolve = TIME_NONE;
		v->review_dl = p != NULL && p->review_within.text != NULL
		                       ? after(s, s->now, &p->review_within)
		                       : TIME_NONE;
		v->breached &= ~LC_BREACHED_REVIEW;
		drop_pending(v);
		actor_event(s, "returned", cmd, false, 0);
		struct idlist none = {0};
		assignment(s, "returned", "return", &v->as, &none);
		tell(s, "returned", cmd, &v->as, cmd->by, TIME_NONE);
		kpi(s, "returned");
		break;
	}
	case OP_REDISPATCH:
		rc = cmd_redispatch(s, cmd, ninc, rj);
		break;
	case OP_CANCEL:
		close_case(s, STATE_CANCELLED);
		actor_event(s, "cancelled", cmd, false, 0);
		holders(s, &to);
		tell(s, "cancelled", cmd, &to, cmd->by, TIME_NONE);
		kpi(s, "cancelled");
		break;
	case OP_EXTEND:
		rc = cmd_extend(s, cmd, who, rj);
		break;
	case OP_APPROVE:
	case OP_DENY:
		if (!s->old.pend.set)
			return reject(
			        rj, REASON_INVALID_TRANSITION,
			        "cannot %s an extension of incident \"%s\": none is requested",
			        cmd->op == OP_APPROVE ? "approve" : "deny", safe(s->id, b));
		if (cmd->op == OP_APPROVE) {
			if (check_grant(s, cmd, s->old.pend.until, rj) < 0)
				return -1;
			grant(s, cmd, s->old.pend.until);
			break;
		}
		drop_pending(v);
		actor_event(s, "extension_denied", cmd, false, 0);
		holders(s, &to);
		tell(s, "extension_denied", cmd, &to, cmd->by, TIME_NONE);
		break;
	case OP_PARK: {
		int64_t until = cmd->until != TIME_NONE ? cmd->until
		                : cmd->for_text != NULL
		                        ? calendar_deadline(s->r->calendar, s->now, cmd->for_dur)
		                        : TIME_NONE;
		if (until != TIME_NONE && until <= s->now) {
			time_format(until, t);
			return reject(
			        rj, REASON_INVALID_TRANSITION,
			        "cannot park incident \"%s\" until %s: that is not later than "
			        "now",
			        safe(s->id, b), t);
		}
		v->parked_from_returned = s->old.state == STATE_RETURNED;
		v->state = STATE_PARKED;
		v->parked_at = s->now;
		v->parked_until = until;
		v->ack = v->resolve = v->review_dl = TIME_NONE;
		v->breached &= ~LC_BREACHED_PARK;
		drop_pending(v);
		actor_event(s, "parked", cmd, true, until);
		holders(s, &to);
		dispatchers(s, s->now, &d);
		idlist_add_list(&to, &d);
		tell(s, "parked", cmd, &to, cmd->by, until);
		kpi(s, "parked");
		break;
	}
	case OP_UNPARK:
		if (unpark(s, cmd, "unpark") < 0)
			return reject(
			        rj, REASON_NO_ASSIGNEE,
			        "cannot unpark incident \"%s\": nobody is on duty at its level "
			        "or above",
			        safe(s->id, b));
		break;
	case OP_VERIFY:
		rc = cmd_verify(s, cmd, rj);
		break;
	case OP_REOPEN: {
		if (s->pol < 0)
			return reject(
			        rj, REASON_NO_POLICY,
			        "cannot reopen incident \"%s\": no policy of the current rules "
			        "applies to it",
			        safe(s->id, b));
		v->reopens++;
		v->resolved_at = TIME_NONE;
		v->resolved_by = v->handled_by = NULL;
		v->late = false;
		v->case_dl = p->close_within.text != NULL ? after(s, s->now, &p->close_within)
		                                          : TIME_NONE;
		if (assign(s, p->start_level, "reopened", "reopen", cmd, TIME_NONE) < 0)
			return reject(
			        rj, REASON_NO_ASSIGNEE,
			        "cannot reopen incident \"%s\": nobody is on duty at any level "
			        "from \"%s\" up",
			        safe(s->id, b), s->r->levels[p->start_level].key);
		s->out->open = LC_SET;
		s->out->open_score = s->rec->created_at;
		s->out->expire = LC_EXPIRE_PERSIST;
		if (s->inc->dedup_key != NULL) {
			s->out->dedup = LC_SET; /* taken again if no other incident holds it */
			s->out->dedup_key = s->inc->dedup_key;
		}
		kpi(s, "reopened");
		break;
	}
	case OP_URGE:
		v->urges++;
		actor_event(s, "urged", cmd, false, 0);
		if (s->old.state == STATE_RETURNED) {
			dispatchers(s, s->now, &to);
		} else {
			holders(s, &to);
			next_level_people(s, &to);
			if (s->old.state == STATE_VERIFYING)
				idlist_add_list(&to, &s->old.ver);
		}
		tell(s, "urged", cmd, &to, cmd->by, TIME_NONE);
		kpi(s, "urged");
		break;
	case OP__COUNT:
		return reject(rj, REASON_INVALID_TRANSITION, "unknown command");
	}
	idlist_free(&to);
	idlist_free(&d);
	return rc;
}

int lifecycle_command(const struct lc_env *env, const struct inc_record *rec,
                      const struct command *cmd, struct effects *out, struct rejection *rj)
{
	struct step s;
	struct incident ninc;
	char b1[QUOTE_MAX + 4], b2[QUOTE_MAX + 4];
	int rc = -1;

	memset(&ninc, 0, sizeof(ninc));
	ninc.due_at = TIME_NONE;
	step_record(&s, env, rec, out);
	/* who may, at the command's time (schedules read then), checked first */
	struct route_chain at_act;
	const struct route_chain *c = &s.chain;
	if (s.act != s.now && s.r->nschedules > 0) {
		chain_at(&s, s.unit, s.cat, s.pol, s.act, &at_act);
		c = &at_act;
	}
	unsigned who = roles_of(&s, c, cmd->by);
	bool admin = is_admin(&s, cmd->by);
	const char *op = cmd_op_name(cmd->op);

	if (rules_person(s.r, cmd->by) < 0) {
		reject(rj, REASON_NOT_AUTHORIZED, "unknown person \"%s\" may not %s",
		       safe(cmd->by, b1), op);
	} else if (!admin && (who & op_table[cmd->op].who) == 0) {
		reject(rj, REASON_NOT_AUTHORIZED, "\"%s\" may not %s incident \"%s\": only %s may",
		       cmd->by, op, safe(s.id, b2), op_table[cmd->op].who_text);
	} else if ((op_table[cmd->op].from & S(s.old.state)) == 0) {
		reject(rj, REASON_INVALID_TRANSITION,
		       "cannot %s incident \"%s\": it is %s, and %s needs it %s", op,
		       safe(s.id, b2), inc_state_name(s.old.state), op,
		       op_table[cmd->op].from_text);
	} else if ((cmd->op == OP_ESCALATE || cmd->op == OP_REASSIGN) && s.pol < 0) {
		reject(rj, REASON_INVALID_TRANSITION,
		       "cannot %s incident \"%s\": no policy of the current rules applies to it",
		       op, safe(s.id, b2));
	} else if (apply_op(&s, cmd, who, &ninc, rj) == 0) {
		step_end(&s);
		rc = 0;
	}
	step_free(&s);
	incident_free(&ninc);
	return rc;
}

/* ---- reading a stored incident ----------------------------------------------------- */

/* A stored value in an error sentence: printable, short. */
static const char *quote(const char *s, char out[QUOTE_MAX + 4])
{
	return safe(s, out);
}

enum rf_kind {
	RF_CHANNEL,
	RF_STATE,
	RF_LEVEL,
	RF_STRING,   /* char * at off, not empty */
	RF_OPT_STR,  /* char * at off; "" is NULL */
	RF_LIST,     /* char ** at off, size_t count at off2 */
	RF_TIME,     /* int64_t ms at off */
	RF_OPT_TIME, /* int64_t ms at off; "" is TIME_NONE */
	RF_COUNT,    /* int64_t >= 1 at off */
	RF_NUMBER,   /* int64_t >= 0 at off */
	RF_FLAG,     /* "0" or "1", bool at off */
	RF_BREACHED,
	RF_PENDING,
	RF_PARKED_FROM,
};

/* The hash of SPEC §7, field by field; those v2 added are optional (a migrated store). */
static const struct rfield {
	const char *name;
	enum rf_kind kind;
	bool required;
	size_t off, off2;
} rfields[] = {
        {"channel", RF_CHANNEL, true, 0, 0},
        {"state", RF_STATE, true, 0, 0},
        {"level", RF_LEVEL, true, 0, 0},
        {"level_key", RF_STRING, true, offsetof(struct inc_record, level_key), 0},
        {"assignees", RF_LIST, true, offsetof(struct inc_record, assignees),
         offsetof(struct inc_record, nassignees)},
        {"co_assignees", RF_LIST, true, offsetof(struct inc_record, co_assignees),
         offsetof(struct inc_record, nco)},
        {"policy", RF_STRING, true, offsetof(struct inc_record, policy), 0},
        {"ack_deadline", RF_OPT_TIME, true, offsetof(struct inc_record, ack_deadline), 0},
        {"resolve_deadline", RF_OPT_TIME, true, offsetof(struct inc_record, resolve_deadline), 0},
        {"created_at", RF_TIME, true, offsetof(struct inc_record, created_at), 0},
        {"updated_at", RF_TIME, true, offsetof(struct inc_record, updated_at), 0},
        {"last_seen_at", RF_TIME, true, offsetof(struct inc_record, last_seen_at), 0},
        {"count", RF_COUNT, true, offsetof(struct inc_record, count), 0},
        {"version", RF_NUMBER, true, offsetof(struct inc_record, version), 0},
        {"case_deadline", RF_OPT_TIME, false, offsetof(struct inc_record, case_deadline), 0},
        {"verify_deadline", RF_OPT_TIME, false, offsetof(struct inc_record, verify_deadline), 0},
        {"review_deadline", RF_OPT_TIME, false, offsetof(struct inc_record, review_deadline), 0},
        {"parked_until", RF_OPT_TIME, false, offsetof(struct inc_record, parked_until), 0},
        {"resolved_at", RF_OPT_TIME, false, offsetof(struct inc_record, resolved_at), 0},
        {"parked_at", RF_OPT_TIME, false, offsetof(struct inc_record, parked_at), 0},
        {"verifiers", RF_LIST, false, offsetof(struct inc_record, verifiers),
         offsetof(struct inc_record, nverifiers)},
        {"resolved_by", RF_OPT_STR, false, offsetof(struct inc_record, resolved_by), 0},
        {"handled_by", RF_OPT_STR, false, offsetof(struct inc_record, handled_by), 0},
        {"pending_extension", RF_PENDING, false, 0, 0},
        {"extensions", RF_NUMBER, false, offsetof(struct inc_record, extensions), 0},
        {"reworks", RF_NUMBER, false, offsetof(struct inc_record, reworks), 0},
        {"reopens", RF_NUMBER, false, offsetof(struct inc_record, reopens), 0},
        {"urges", RF_NUMBER, false, offsetof(struct inc_record, urges), 0},
        {"late", RF_FLAG, false, offsetof(struct inc_record, late), 0},
        {"unit", RF_OPT_STR, false, offsetof(struct inc_record, unit), 0},
        {"category", RF_OPT_STR, false, offsetof(struct inc_record, category), 0},
        {"report_sha1", RF_OPT_STR, false, offsetof(struct inc_record, report_sha1), 0},
        {"breached", RF_BREACHED, false, 0, 0},
        {"parked_from", RF_PARKED_FROM, false, 0, 0},
};

#define MEMBER(rec, off, type) ((type *)(void *)((char *)(rec) + (off)))

static int list_parse(const char *v, char ***out, size_t *n)
{
	json_t *a = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
	size_t i;
	json_t *e;

	if (!json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			json_decref(a);
			return -1;
		}
	}
	*out = xcalloc(json_array_size(a) + 1, sizeof(**out));
	json_array_foreach(a, i, e)
	{
		(*out)[i] = xstrdup(json_string_value(e));
	}
	*n = json_array_size(a);
	json_decref(a);
	return 0;
}

static int breached_parse(const char *v, unsigned *out)
{
	*out = 0;
	while (*v != '\0') {
		size_t len = strcspn(v, ",");
		size_t k = 0;
		while (k < GR_NELEM(breached_names) && !(strlen(breached_names[k]) == len &&
		                                         strncmp(v, breached_names[k], len) == 0))
			k++;
		if (k == GR_NELEM(breached_names))
			return -1;
		*out |= 1u << k;
		v += len;
		if (*v == ',' && *++v == '\0')
			return -1;
	}
	return 0;
}

static int pending_parse(const char *v, struct lc_pending *p)
{
	json_t *o, *by, *until, *note;

	p->set = false;
	p->until = TIME_NONE;
	if (*v == '\0')
		return 0;
	o = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
	by = json_object_get(o, "by");
	until = json_object_get(o, "until");
	note = json_object_get(o, "note");
	if (!json_is_object(o) || !json_is_string(by) || !json_is_string(until) ||
	    (note != NULL && !json_is_string(note) && !json_is_null(note)) ||
	    time_parse_rfc3339(json_string_value(until), json_string_length(until), &p->until) <
	            0) {
		json_decref(o);
		return -1;
	}
	p->set = true;
	p->by = xstrdup(json_string_value(by));
	p->note = json_is_string(note) ? xstrdup(json_string_value(note)) : NULL;
	json_decref(o);
	return 0;
}

static int rfield_parse(struct inc_record *rec, const struct rfield *f, const char *v,
                        enum channel *ch, char *err, size_t errsz)
{
	char q[QUOTE_MAX + 4];
	int64_t n;
	const char *want = NULL;

	switch (f->kind) {
	case RF_CHANNEL:
		if (channel_parse(v, ch) != 0)
			want = "a channel (patrol, feedback, scheduled, alert)";
		break;
	case RF_STATE:
		if (inc_state_parse(v, &rec->state) != 0)
			want = "a state (open, acked, verifying, returned, parked, resolved, "
			       "cancelled)";
		break;
	case RF_LEVEL:
		if (parse_int64(v, 1, RULES_MAX_LEVELS, &n) != 0)
			want = "a level number from 1 to 9";
		else
			rec->level_num = (int)n;
		break;
	case RF_STRING:
	case RF_OPT_STR:
		if (*v == '\0' && f->kind == RF_STRING)
			want = "a non-empty string";
		else if (*v != '\0')
			*MEMBER(rec, f->off, char *) = xstrdup(v);
		break;
	case RF_LIST:
		if (list_parse(v, MEMBER(rec, f->off, char **), MEMBER(rec, f->off2, size_t)) != 0)
			want = "a JSON array of person ids";
		break;
	case RF_TIME:
	case RF_OPT_TIME:
		if (*v == '\0' && f->kind == RF_OPT_TIME)
			*MEMBER(rec, f->off, int64_t) = TIME_NONE;
		else if (parse_int64(v, 0, TIME_LATEST_MS, MEMBER(rec, f->off, int64_t)) != 0)
			want = f->kind == RF_OPT_TIME ? "milliseconds since the epoch, or empty"
			                              : "milliseconds since the epoch";
		break;
	case RF_COUNT:
		if (parse_int64(v, 1, INT64_MAX, MEMBER(rec, f->off, int64_t)) != 0)
			want = "a positive integer";
		break;
	case RF_NUMBER:
		if (parse_int64(v, 0, INT64_MAX, MEMBER(rec, f->off, int64_t)) != 0)
			want = "a non-negative integer";
		break;
	case RF_FLAG:
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			want = "0 or 1";
		else
			*MEMBER(rec, f->off, bool) = v[0] == '1';
		break;
	case RF_BREACHED:
		if (breached_parse(v, &rec->breached) != 0)
			want = "deadline kinds joined by commas (ack, resolve, verify, review, "
			       "park)";
		break;
	case RF_PENDING:
		if (pending_parse(v, &rec->pending) != 0)
			want = "a JSON object {\"by\", \"until\", \"note\"}, or empty";
		break;
	case RF_PARKED_FROM:
		if (strcmp(v, "returned") != 0 && *v != '\0')
			want = "\"returned\" or empty";
		else
			rec->parked_from_returned = *v != '\0';
		break;
	}
	if (want == NULL)
		return 0;
	snprintf(err, errsz, "field \"%s\" is \"%s\", expected %s", f->name, quote(v, q), want);
	return -1;
}

static void record_defaults(struct inc_record *rec)
{
	rec->inc.due_at = TIME_NONE;
	rec->ack_deadline = rec->resolve_deadline = TIME_NONE;
	rec->case_deadline = rec->verify_deadline = rec->review_deadline = TIME_NONE;
	rec->parked_until = rec->resolved_at = rec->parked_at = TIME_NONE;
	rec->pending.until = TIME_NONE;
}

int inc_record_parse(struct inc_record *rec, const char *id, const char *const *fields,
                     const char *const *values, size_t n, const char *doc, size_t doc_len,
                     char *err, size_t errsz)
{
	const char *vals[GR_NELEM(rfields)] = {NULL};
	enum channel ch = CH_PATROL;
	struct incident_ctx ctx;
	struct rejection rj = {REASON_NONE, ""};
	char q[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];

	memset(rec, 0, sizeof(*rec));
	record_defaults(rec);
	rec->id = xstrdup(id != NULL ? id : "");

	/* Fields this version does not know are left alone: a newer daemon may share the store. */
	for (size_t i = 0; i < n; i++) {
		if (fields[i] == NULL || values[i] == NULL)
			continue;
		for (size_t k = 0; k < GR_NELEM(rfields); k++) {
			if (strcmp(fields[i], rfields[k].name) == 0)
				vals[k] = values[i];
		}
	}
	for (size_t k = 0; k < GR_NELEM(rfields); k++) {
		if (vals[k] == NULL && rfields[k].required) {
			snprintf(err, errsz, "incident \"%s\": field \"%s\" is missing",
			         quote(rec->id, q), rfields[k].name);
			return -1;
		}
	}
	for (size_t k = 0; k < GR_NELEM(rfields); k++) {
		if (vals[k] != NULL &&
		    rfield_parse(rec, &rfields[k], vals[k], &ch, err, errsz) != 0)
			return -1;
	}
	if (rec->verifiers == NULL)
		rec->verifiers = xcalloc(1, sizeof(*rec->verifiers));
	if (doc == NULL) {
		snprintf(err, errsz, "incident \"%s\": its document (doc:%s) is missing",
		         quote(rec->id, q), quote(rec->id, q2));
		return -1;
	}

	ctx.channel = ch;
	ctx.entry_id = NULL;
	ctx.entry_ms = rec->created_at;
	ctx.max_bytes = 0;
	if (incident_parse(doc, doc_len, &ctx, &rec->inc, &rj) != 0) {
		snprintf(err, errsz, "its document: %s", rj.msg);
		return -1;
	}
	if (strcmp(rec->inc.id, rec->id) != 0) {
		snprintf(err, errsz, "its document holds incident \"%s\", not \"%s\"",
		         quote(rec->inc.id, q), quote(rec->id, q2));
		return -1;
	}
	return 0;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void inc_record_free(struct inc_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->id);
	incident_free(&rec->inc);
	free(rec->level_key);
	names_free(rec->assignees, rec->nassignees);
	names_free(rec->co_assignees, rec->nco);
	names_free(rec->verifiers, rec->nverifiers);
	free(rec->policy);
	free(rec->resolved_by);
	free(rec->handled_by);
	free(rec->pending.by);
	free(rec->pending.note);
	free(rec->unit);
	free(rec->category);
	free(rec->report_sha1);
	memset(rec, 0, sizeof(*rec));
	record_defaults(rec);
}
