/*
 * lifecycle.c: the incident state machine of SPEC §6. Every step —
 * creation, a duplicate report, a deadline passing, a command — is a pure
 * function of the stored incident, the current rules and the clock, and
 * returns the effects for store.c to apply in one atomic call: the hash
 * fields that change, the events, assignments and notifications, and what
 * happens to gr:due, gr:open and the dedup key.
 *
 * The chain is always recomputed from the current rules, so that a rules
 * reload takes effect on incidents already open: an escalation goes to
 * whoever serves the next level now, not to whoever did at creation.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "log.h"

#define QUOTE_MAX     64  /* bytes of a stored value quoted in an error */
#define NOTE_TEXT_MAX 200 /* bytes of a comment's note quoted in a notification */

/* One step on one incident: what it is and who serves it under the current rules. */
struct step {
	const struct rules *r;
	const char *id;
	const struct incident *inc;
	const char *stored_policy; /* NULL on creation */
	int64_t now;
	char at[TIME_BUFSZ];
	const struct lc_source *src;
	struct effects *out;
	int unit;          /* resolved unit, -1 when it no longer resolves */
	int cat;           /* -1 when the category is gone */
	int pol;           /* -1 when no policy applies any more */
	unsigned breached; /* the stored LC_BREACHED_* */
	struct route_chain chain;
};

/* A list of person ids without repeats; the strings are borrowed. */
struct idlist {
	const char **v;
	size_t n, cap;
};

static void idlist_add(struct idlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], id) == 0)
			return;
	}
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
	buf_reserve(&e->notifications.text, 512);
	e->due = e->open = e->dedup = LC_KEEP;
}

void effects_free(struct effects *e)
{
	if (e == NULL)
		return;
	lc_free(&e->fields);
	lc_free(&e->events);
	lc_free(&e->assignments);
	lc_free(&e->notifications);
	memset(e, 0, sizeof(*e));
}

static void field_str(struct step *s, const char *name, const char *value)
{
	lc_add(&s->out->fields, name, strlen(name));
	lc_add(&s->out->fields, value, strlen(value));
}

static void field_int(struct step *s, const char *name, int64_t v)
{
	char num[24];

	fmt_int64(num, v);
	field_str(s, name, num);
}

static void field_idlist(struct step *s, const char *name, const struct idlist *l)
{
	lc_add(&s->out->fields, name, strlen(name));
	jw_idlist(lc_begin(&s->out->fields), l);
	lc_end(&s->out->fields);
}

static void set_due(struct effects *e, bool pending, int64_t when)
{
	e->due = pending ? LC_SET : LC_REM;
	e->due_score = pending ? when : 0;
}

static const char *breached_text(unsigned b)
{
	switch (b & (LC_BREACHED_ACK | LC_BREACHED_RESOLVE)) {
	case LC_BREACHED_ACK:
		return "ack";
	case LC_BREACHED_RESOLVE:
		return "resolve";
	case LC_BREACHED_ACK | LC_BREACHED_RESOLVE:
		return "ack,resolve";
	default:
		return "";
	}
}

/*
 * The earliest deadline still pending, as LC_BREACHED_ACK or
 * LC_BREACHED_RESOLVE, or 0 when none is: the ack deadline counts only
 * while open, and a breached deadline no longer counts. A tie is the ack.
 */
static unsigned next_pending(enum inc_state st, int64_t ack, int64_t resolve, unsigned breached,
                             int64_t *when)
{
	bool a = st == STATE_OPEN && (breached & LC_BREACHED_ACK) == 0;
	bool r = st != STATE_RESOLVED && (breached & LC_BREACHED_RESOLVE) == 0;

	if (a && (!r || ack <= resolve)) {
		*when = ack;
		return LC_BREACHED_ACK;
	}
	if (r) {
		*when = resolve;
		return LC_BREACHED_RESOLVE;
	}
	*when = 0;
	return 0;
}

/* Names for notification sentences; what the rules no longer know shows as its key. */
static const char *unit_name(const struct step *s)
{
	return s->unit >= 0 ? s->r->units[s->unit].name : s->inc->unit;
}

static const char *category_name(const struct step *s)
{
	return s->cat >= 0 ? s->r->categories[s->cat].name : s->inc->category;
}

static const char *level_name(const struct rules *r, const char *key)
{
	int l = rules_level(r, key);

	return l >= 0 ? r->levels[l].name : key;
}

static const char *person_name(const struct rules *r, const char *id)
{
	int p = rules_person(r, id);

	return p >= 0 ? r->people[p].name : id;
}

/*
 * Text on one line: control characters (and U+2028, U+2029) become
 * spaces; at most max bytes, cut at a character boundary with an ellipsis.
 */
static void put_clean(struct buf *b, const char *s, size_t max)
{
	size_t len = strlen(s);
	bool cut = len > max;

	if (cut) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			buf_putc(b, ' ');
		} else if (c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		           ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			buf_putc(b, ' ');
			i += 2;
		} else {
			buf_putc(b, (char)c);
		}
	}
	if (cut)
		buf_puts(b, "\xe2\x80\xa6");
}

/* "北大街社区第三网格 · 城市管理 · 井盖缺失: " */
static void text_head(const struct step *s, struct buf *b)
{
	put_clean(b, unit_name(s), SIZE_MAX);
	buf_puts(b, " \xc2\xb7 ");
	put_clean(b, category_name(s), SIZE_MAX);
	buf_puts(b, " \xc2\xb7 ");
	put_clean(b, s->inc->title != NULL ? s->inc->title : "", SIZE_MAX);
	buf_puts(b, ": ");
}

/* ", ack by <time>" for the earliest pending deadline; nothing when none is. */
static void text_deadline(struct buf *b, enum inc_state st, int64_t ack, int64_t resolve,
                          unsigned breached)
{
	char t[TIME_BUFSZ];
	int64_t when;
	unsigned which = next_pending(st, ack, resolve, breached, &when);

	if (which == 0)
		return;
	time_format(when, t);
	buf_printf(b, ", %s by %s", which == LC_BREACHED_ACK ? "ack" : "resolve", t);
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

static void copy_id(char *dst, size_t size, const char *v)
{
	snprintf(dst, size, "%s", v != NULL ? v : "");
}

/*
 * A notification to the people of to, except the actor (may be NULL). Ids
 * the current rules no longer know still go out, with no way to reach them.
 * Nobody left: no notification.
 */
static void notify(struct step *s, const char *type, const struct idlist *to, const char *actor,
                   const char *level_key, struct buf *text)
{
	struct lc_list *l = &s->out->notifications;
	struct buf *b = lc_begin(l);
	size_t start = b->len, people = 0;

	jw_open(b, '{');
	jw_kstr(b, "type", type);
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
	jw_kstr(b, "level_key", level_key);
	jw_key(b, "text");
	jw_strn(b, text->data != NULL ? text->data : "", text->len);
	jw_kstr(b, "at", s->at);
	buf_putc(b, '}');
	lc_end(l);
}

static void step_begin(struct step *s, const struct rules *r, const char *id,
                       const struct incident *inc, int64_t now, const struct lc_source *src,
                       struct effects *out)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->id = id;
	s->inc = inc;
	s->now = now;
	time_format(now, s->at);
	s->src = src;
	s->out = out;
	out->channel = inc->channel;
}

/*
 * A stored incident under the current rules: its unit and category as they
 * resolve now, its policy by name (else the first that matches now), and
 * its chain. Without unit or category every level is vacant.
 */
static void step_record(struct step *s, const struct rules *r, const struct inc_record *rec,
                        int64_t now, const struct lc_source *src, struct effects *out)
{
	const struct incident *inc = &rec->inc;
	bool fallback;

	step_begin(s, r, rec->id, inc, now, src, out);
	s->stored_policy = rec->policy;
	s->breached = rec->breached;
	s->cat = inc->category != NULL ? rules_category(r, inc->category) : -1;
	s->unit =
	        inc->unit != NULL ? route_resolve_unit(r, inc->unit, inc->unit_len, &fallback) : -1;
	s->pol = rec->policy != NULL ? rules_policy(r, rec->policy) : -1;
	if (s->pol < 0 && s->cat >= 0 && inc->unit != NULL)
		s->pol = route_match(r, inc, s->cat);

	if (s->unit >= 0 && s->cat >= 0) {
		route_chain(r, s->unit, s->cat, s->pol >= 0 ? &r->policies[s->pol] : NULL, s->now,
		            &s->chain);
		return;
	}
	s->chain.unit = -1;
	s->chain.category = -1;
	s->chain.nlevels = r->nlevels;
	for (size_t l = 0; l < r->nlevels; l++) {
		s->chain.levels[l].vacant = true;
		s->chain.levels[l].unit = -1;
	}
}

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

/*
 * Assign level lvl — what creation, escalation and reassignment share:
 * state open, fresh deadlines (due_at caps the first assignment's resolve
 * deadline only), breaches forgotten, the event, the assignment and the
 * notification of the new people.
 */
static void assign(struct step *s, int lvl, const char *type, const char *reason, int64_t due_at)
{
	const struct rules *r = s->r;
	const struct rules_policy *p = &r->policies[s->pol];
	const struct rules_level *lv = &r->levels[lvl];
	const struct incident *inc = s->inc;
	struct idlist as = {0}, co = {0}, to = {0};
	struct buf text;
	char t[TIME_BUFSZ];
	int64_t ack, resolve;

	route_deadlines(r, p, lvl, s->now, due_at, &ack, &resolve);
	idlist_add_plist(&as, r, &s->chain.levels[lvl].assignees);
	for (size_t k = 0; k < s->chain.nco; k++)
		idlist_add_plist(&co, r, &s->chain.co[k]);

	field_str(s, "state", inc_state_name(STATE_OPEN));
	field_int(s, "level", lvl + 1);
	field_str(s, "level_key", lv->key);
	field_idlist(s, "assignees", &as);
	field_idlist(s, "co_assignees", &co);
	field_int(s, "ack_deadline", ack);
	field_int(s, "resolve_deadline", resolve);
	if (s->breached != 0)
		field_str(s, "breached", ""); /* absent is none too: nothing to write at creation */
	if (s->stored_policy == NULL || strcmp(s->stored_policy, p->name) != 0)
		field_str(s, "policy", p->name);

	struct lc_event *le;
	struct buf *b = event_new(s, type, &le);
	jw_kint(b, "level", lvl + 1);
	jw_kstr(b, "level_key", lv->key);
	jw_kstr(b, "reason", reason);
	jw_key(b, "assignees");
	jw_idlist(b, &as);
	jw_key(b, "co_assignees");
	jw_idlist(b, &co);
	event_end(s);
	le->reason = reason;
	copy_id(le->level_key, sizeof(le->level_key), lv->key);

	const char *unit = s->unit >= 0 ? r->units[s->unit].id : inc->unit;
	b = lc_begin(&s->out->assignments);
	jw_open(b, '{');
	jw_kstr(b, "incident", s->id);
	jw_kstr(b, "event", type);
	jw_kstr(b, "reason", reason);
	jw_kint(b, "level", lvl + 1);
	jw_kstr(b, "level_key", lv->key);
	jw_kstr(b, "level_name", lv->name);
	jw_key(b, "assignees");
	jw_idlist(b, &as);
	jw_key(b, "co_assignees");
	jw_idlist(b, &co);
	jw_kstr(b, "unit", unit);
	jw_kstr(b, "unit_name", unit_name(s));
	jw_key(b, "reported_unit");
	jw_strn(b, inc->unit, inc->unit_len);
	jw_kstr(b, "category", inc->category);
	jw_kstr(b, "channel", channel_name(inc->channel));
	jw_kstr(b, "severity", severity_name(inc->severity));
	jw_kstr(b, "title", inc->title);
	jw_ktime(b, "ack_deadline", ack);
	jw_ktime(b, "resolve_deadline", resolve);
	jw_kstr(b, "policy", p->name);
	jw_kstr(b, "at", s->at);
	buf_putc(b, '}');
	lc_end(&s->out->assignments);
	copy_id(s->out->unit, sizeof(s->out->unit), unit);

	buf_init(&text);
	text_head(s, &text);
	buf_printf(&text, "%s to ", type);
	put_clean(&text, lv->name, SIZE_MAX);
	if (strcmp(reason, "ack_timeout") == 0 || strcmp(reason, "resolve_timeout") == 0)
		buf_printf(&text, " (%s)", reason);
	time_format(ack, t);
	buf_printf(&text, ", ack by %s", t);
	idlist_add_names(&to, as.v, as.n);
	idlist_add_names(&to, co.v, co.n);
	notify(s, type, &to, NULL, lv->key, &text);
	buf_free(&text);

	set_due(s->out, true, ack < resolve ? ack : resolve);
	idlist_free(&as);
	idlist_free(&co);
	idlist_free(&to);
}

/* Each step ends the same way. */
static void step_end(struct step *s)
{
	field_int(s, "updated_at", s->now);
}

void lifecycle_create(const struct rules *r, const struct incident *inc,
                      const struct route_result *rt, int64_t now, const struct lc_source *src,
                      const char *report_sha1, struct effects *out)
{
	struct step s;

	step_begin(&s, r, inc->id, inc, now, src, out);
	s.unit = rt->unit;
	s.cat = rt->category;
	s.pol = rt->policy;
	s.chain = rt->chain;

	out->doc = inc->doc;
	out->doc_len = inc->doc_len;
	field_str(&s, "channel", channel_name(inc->channel));
	field_str(&s, "unit", r->units[rt->unit].id);
	field_str(&s, "category", r->categories[rt->category].key);
	field_int(&s, "created_at", now);
	field_int(&s, "last_seen_at", now);
	field_int(&s, "count", 1);
	if (report_sha1 != NULL)
		field_str(&s, "report_sha1", report_sha1);

	skip_levels(&s, r->policies[rt->policy].start_level, rt->level);
	assign(&s, rt->level, "assigned", "new", inc->due_at);
	step_end(&s);

	out->open = LC_SET;
	out->open_score = now;
	if (inc->dedup_key != NULL) {
		out->dedup = LC_SET;
		out->dedup_key = inc->dedup_key;
	}
}

void lifecycle_duplicate(const struct rules *r, const struct inc_record *rec, int64_t now,
                         const struct lc_source *src, struct effects *out)
{
	struct step s;
	struct idlist to = {0};
	struct buf text;
	int64_t count = rec->count < INT64_MAX ? rec->count + 1 : INT64_MAX;

	step_record(&s, r, rec, now, src, out);
	field_int(&s, "count", count);
	field_int(&s, "last_seen_at", now);
	step_end(&s);

	struct lc_event *le;
	struct buf *b = event_new(&s, "duplicate", &le);
	jw_kint(b, "count", count);
	event_end(&s);
	le->count = count;

	buf_init(&text);
	text_head(&s, &text);
	buf_printf(&text, "reported again (%lld reports) at ", (long long)count);
	put_clean(&text, level_name(r, rec->level_key), SIZE_MAX);
	text_deadline(&text, rec->state, rec->ack_deadline, rec->resolve_deadline, rec->breached);
	idlist_add_names(&to, (const char *const *)rec->assignees, rec->nassignees);
	notify(&s, "duplicate", &to, NULL, rec->level_key, &text);
	buf_free(&text);
	idlist_free(&to);
}

/*
 * A deadline passed at the last non-vacant level: breached, once per
 * deadline. The incident stays where it is and waits on what is left.
 */
static void breach(struct step *s, const struct inc_record *rec, unsigned which, const char *reason)
{
	const struct rules *r = s->r;
	unsigned breached = rec->breached | which;
	struct idlist to = {0};
	struct buf text;
	char t[TIME_BUFSZ];
	int64_t when;

	field_str(s, "breached", breached_text(breached));

	struct lc_event *le;
	struct buf *b = event_new(s, "breached", &le);
	jw_kstr(b, "level_key", rec->level_key);
	jw_kstr(b, "reason", reason);
	event_end(s);
	le->reason = reason;
	copy_id(le->level_key, sizeof(le->level_key), rec->level_key);

	buf_init(&text);
	text_head(s, &text);
	time_format(which == LC_BREACHED_ACK ? rec->ack_deadline : rec->resolve_deadline, t);
	buf_printf(&text, "%s deadline %s breached at ",
	           which == LC_BREACHED_ACK ? "ack" : "resolve", t);
	put_clean(&text, level_name(r, rec->level_key), SIZE_MAX);
	buf_puts(&text, ", the last level");
	idlist_add_names(&to, (const char *const *)rec->assignees, rec->nassignees);
	for (size_t p = 0; p < r->npeople; p++) {
		if (r->people[p].admin)
			idlist_add(&to, r->people[p].id);
	}
	notify(s, "breached", &to, NULL, rec->level_key, &text);
	buf_free(&text);
	idlist_free(&to);

	bool left = next_pending(rec->state, rec->ack_deadline, rec->resolve_deadline, breached,
	                         &when) != 0;
	set_due(s->out, left, when);
}

int lifecycle_deadline(const struct rules *r, const struct inc_record *rec, int64_t now,
                       struct effects *out)
{
	struct step s;
	int64_t when;

	step_record(&s, r, rec, now, NULL, out);
	unsigned which = next_pending(rec->state, rec->ack_deadline, rec->resolve_deadline,
	                              rec->breached, &when);
	if (which == 0 || when > now) {
		set_due(out, which != 0, when);
		return 0;
	}

	const char *reason = which == LC_BREACHED_ACK ? "ack_timeout" : "resolve_timeout";
	int cur = rules_level(r, rec->level_key);
	/* Without a policy there are no durations to escalate with: breach where it is. */
	int target = s.pol >= 0 ? route_next(&s.chain, cur) : -1;
	if (target >= 0) {
		skip_levels(&s, cur + 1, target);
		assign(&s, target, "escalated", reason, TIME_NONE);
	} else {
		breach(&s, rec, which, reason);
	}
	step_end(&s);
	return 1;
}

/* acked, resolved, comment: the actor's event and a word to everyone else on it. */
static void actor_event(struct step *s, const struct inc_record *rec, const struct command *cmd,
                        const char *type, enum inc_state after)
{
	const struct rules *r = s->r;
	struct idlist to = {0};
	struct buf text;

	struct lc_event *le;
	struct buf *b = event_new(s, type, &le);
	jw_kstr(b, "by", cmd->by);
	jw_kstr(b, "note", cmd->note);
	event_end(s);
	copy_id(le->by, sizeof(le->by), cmd->by);

	buf_init(&text);
	text_head(s, &text);
	buf_printf(&text, "%s by ", type);
	put_clean(&text, person_name(r, cmd->by), SIZE_MAX);
	buf_puts(&text, " at ");
	put_clean(&text, level_name(r, rec->level_key), SIZE_MAX);
	text_deadline(&text, after, rec->ack_deadline, rec->resolve_deadline, rec->breached);
	if (cmd->note != NULL && cmd->note[0] != '\0') {
		buf_puts(&text, ": ");
		put_clean(&text, cmd->note, NOTE_TEXT_MAX);
	}
	idlist_add_names(&to, (const char *const *)rec->assignees, rec->nassignees);
	idlist_add_names(&to, (const char *const *)rec->co_assignees, rec->nco);
	notify(s, type, &to, cmd->by, rec->level_key, &text);
	buf_free(&text);
	idlist_free(&to);
}

int lifecycle_command(const struct rules *r, const struct inc_record *rec,
                      const struct command *cmd, int64_t now, const struct lc_source *src,
                      struct effects *out, struct rejection *rj)
{
	struct step s;
	int target;
	int64_t when;
	bool pending;

	step_record(&s, r, rec, now, src, out);
	struct incident_state st = {
	        .state = rec->state,
	        .level = rules_level(r, rec->level_key),
	        .assignees = (const char *const *)rec->assignees,
	        .nassignees = rec->nassignees,
	        .co_assignees = (const char *const *)rec->co_assignees,
	        .nco = rec->nco,
	};
	if (route_authorize(r, &s.chain, &st, cmd, &target, rj) != 0)
		return -1;
	if ((cmd->op == OP_ESCALATE || cmd->op == OP_REASSIGN) && s.pol < 0)
		return reject(rj, REASON_INVALID_TRANSITION,
		              "cannot %s incident \"%s\": no policy of the current rules applies "
		              "to it",
		              cmd_op_name(cmd->op), rec->id);

	switch (cmd->op) {
	case OP_ACK:
		field_str(&s, "state", inc_state_name(STATE_ACKED));
		actor_event(&s, rec, cmd, "acked", STATE_ACKED);
		pending = next_pending(STATE_ACKED, rec->ack_deadline, rec->resolve_deadline,
		                       rec->breached, &when) != 0;
		set_due(out, pending, when);
		break;
	case OP_RESOLVE:
		field_str(&s, "state", inc_state_name(STATE_RESOLVED));
		actor_event(&s, rec, cmd, "resolved", STATE_RESOLVED);
		out->due = LC_REM;
		out->open = LC_REM;
		if (rec->inc.dedup_key != NULL) {
			out->dedup = LC_REM;
			out->dedup_key = rec->inc.dedup_key;
		}
		out->expire = LC_EXPIRE_SET;
		break;
	case OP_ESCALATE:
		skip_levels(&s, st.level + 1, target);
		assign(&s, target, "escalated", "manual", TIME_NONE);
		break;
	case OP_REASSIGN:
		assign(&s, target, "reassigned", "reassign", TIME_NONE);
		break;
	case OP_COMMENT:
		actor_event(&s, rec, cmd, "comment", rec->state);
		break;
	case OP__COUNT:
		return reject(rj, REASON_INVALID_TRANSITION, "unknown command");
	}
	step_end(&s);
	return 0;
}

/* A stored value in an error sentence: printable, short. */
static const char *quote(const char *s, char out[QUOTE_MAX + 4])
{
	size_t i = 0;

	for (; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

enum rf_kind {
	RF_CHANNEL,
	RF_STATE,
	RF_LEVEL,
	RF_STRING,  /* char * at off */
	RF_LIST,    /* char ** at off, size_t count at off2 */
	RF_TIME,    /* int64_t ms at off */
	RF_COUNT,   /* int64_t >= 1 at off */
	RF_VERSION, /* int64_t >= 0 at off */
	RF_BREACHED,
};

/* The hash of SPEC §7, field by field. */
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
        {"ack_deadline", RF_TIME, true, offsetof(struct inc_record, ack_deadline), 0},
        {"resolve_deadline", RF_TIME, true, offsetof(struct inc_record, resolve_deadline), 0},
        {"created_at", RF_TIME, true, offsetof(struct inc_record, created_at), 0},
        {"updated_at", RF_TIME, true, offsetof(struct inc_record, updated_at), 0},
        {"last_seen_at", RF_TIME, true, offsetof(struct inc_record, last_seen_at), 0},
        {"count", RF_COUNT, true, offsetof(struct inc_record, count), 0},
        {"version", RF_VERSION, true, offsetof(struct inc_record, version), 0},
        {"breached", RF_BREACHED, false, 0, 0},
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
		if (len == 3 && strncmp(v, "ack", 3) == 0)
			*out |= LC_BREACHED_ACK;
		else if (len == 7 && strncmp(v, "resolve", 7) == 0)
			*out |= LC_BREACHED_RESOLVE;
		else
			return -1;
		v += len;
		if (*v == ',' && *++v == '\0')
			return -1;
	}
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
			want = "a state (open, acked, resolved)";
		break;
	case RF_LEVEL:
		if (parse_int64(v, 1, RULES_MAX_LEVELS, &n) != 0)
			want = "a level number from 1 to 9";
		else
			rec->level_num = (int)n;
		break;
	case RF_STRING:
		if (*v == '\0')
			want = "a non-empty string";
		else
			*MEMBER(rec, f->off, char *) = xstrdup(v);
		break;
	case RF_LIST:
		if (list_parse(v, MEMBER(rec, f->off, char **), MEMBER(rec, f->off2, size_t)) != 0)
			want = "a JSON array of person ids";
		break;
	case RF_TIME:
		if (parse_int64(v, 0, INT64_MAX, MEMBER(rec, f->off, int64_t)) != 0)
			want = "milliseconds since the epoch";
		break;
	case RF_COUNT:
		if (parse_int64(v, 1, INT64_MAX, MEMBER(rec, f->off, int64_t)) != 0)
			want = "a positive integer";
		break;
	case RF_VERSION:
		if (parse_int64(v, 0, INT64_MAX, MEMBER(rec, f->off, int64_t)) != 0)
			want = "a non-negative integer";
		break;
	case RF_BREACHED:
		if (breached_parse(v, &rec->breached) != 0)
			want = "\"\", \"ack\", \"resolve\" or \"ack,resolve\"";
		break;
	}
	if (want == NULL)
		return 0;
	snprintf(err, errsz, "field \"%s\" is \"%s\", expected %s", f->name, quote(v, q), want);
	return -1;
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
	rec->inc.due_at = TIME_NONE;
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
	free(rec->policy);
	memset(rec, 0, sizeof(*rec));
	rec->inc.due_at = TIME_NONE;
}
