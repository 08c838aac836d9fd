/*
 * web_model.c: gridweb's JSON documents from Redis replies and the rules.
 * Times are RFC 3339 UTC as everywhere in gridroute's JSON; names are the
 * rules' (null where the rules do not know a key any more).
 */
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "route.h"
#include "timeutil.h"
#include "web_html.h"
#include "web_model.h"

void rval_free(struct rval *v)
{
	if (v == NULL)
		return;
	free(v->s);
	for (size_t i = 0; i < v->n; i++)
		rval_free(&v->e[i]);
	free(v->e);
	memset(v, 0, sizeof(*v));
}

const struct rval *rval_field(const struct rval *h, const char *name)
{
	if (h == NULL || h->type != RV_ARR)
		return NULL;
	for (size_t i = 0; i + 1 < h->n; i += 2) {
		if (h->e[i].type == RV_STR && strcmp(h->e[i].s, name) == 0)
			return &h->e[i + 1];
	}
	return NULL;
}

const char *rval_str(const struct rval *v)
{
	return v != NULL && v->type == RV_STR ? v->s : NULL;
}

static const char *hstr(const struct rval *h, const char *name)
{
	return rval_str(rval_field(h, name));
}

static int64_t hint(const struct rval *h, const char *name, int64_t none)
{
	const char *s = hstr(h, name);
	int64_t v;

	if (s == NULL || parse_int64(s, INT64_MIN + 1, INT64_MAX, &v) < 0)
		return none;
	return v;
}

bool wm_unit_under(const char *unit, const char *prefix)
{
	size_t n = strlen(prefix);

	return n == 0 || (strncmp(unit, prefix, n) == 0 && (unit[n] == '\0' || unit[n] == '/'));
}

bool wm_filter_match(const struct wm_filter *f, const char *state, const char *level,
                     const char *unit, const char *category)
{
	return (f->state[0] == '\0' || (state != NULL && strcmp(f->state, state) == 0)) &&
	       (f->level[0] == '\0' || (level != NULL && strcmp(f->level, level) == 0)) &&
	       (f->unit[0] == '\0' || (unit != NULL && wm_unit_under(unit, f->unit))) &&
	       (f->category[0] == '\0' || (category != NULL && strcmp(f->category, category) == 0));
}

void wm_date(const struct rules *r, int64_t t, char out[11])
{
	calendar_format_date(calendar_day_of(r->tz, t), out);
}

void wm_month(const struct rules *r, int64_t t, char out[8])
{
	char date[CAL_DATE_BUFSZ];

	wm_date(r, t, date);
	memcpy(out, date, 7);
	out[7] = '\0';
}

static json_t *time_json(int64_t ms)
{
	char t[TIME_BUFSZ];

	if (ms == TIME_NONE)
		return json_null();
	time_format(ms, t);
	return json_string(t);
}

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* ---- the overview ---------------------------------------------------------- */

static const char *const live_states[] = {"open", "acked", "verifying", "returned", "parked"};

static long long stat(const struct rval *stats, const char *kind, const char *name)
{
	char f[256];

	snprintf(f, sizeof(f), "%s:%s", kind, name);
	int64_t v = hint(stats, f, 0);
	return v > 0 ? v : 0;
}

static const json_t *kpi_row(const json_t *kpi, const char *unit)
{
	size_t i;
	json_t *row;

	json_array_foreach(json_object_get(kpi, "rows"), i, row)
	{
		const char *u = json_string_value(json_object_get(row, "unit"));
		if (u != NULL && strcmp(u, unit) == 0)
			return row;
	}
	return NULL;
}

static void put_closure(json_t *o, json_int_t closed, json_int_t on_time)
{
	json_object_set_new(o, "closed", json_integer(closed));
	json_object_set_new(o, "closed_on_time", json_integer(on_time));
	json_object_set_new(o, "on_time_closure",
	                    closed > 0 ? json_real((double)on_time / (double)closed) : json_null());
}

static json_int_t kpi_count(const json_t *row, const char *name)
{
	return json_integer_value(json_object_get(row, name));
}

static json_t *street_row(const struct wm_ctx *c, const struct wm_summary_in *in, int u,
                          bool own_only)
{
	const struct rules_unit *su = &c->r->units[u];
	json_t *o = json_object();
	long long open = 0, overdue = 0;

	for (size_t i = 0; in->stats != NULL && i + 1 < in->stats->n; i += 2) {
		const char *f = rval_str(&in->stats->e[i]);
		if (f == NULL || strncmp(f, "unit:", 5) != 0)
			continue;
		if (own_only ? strcmp(f + 5, su->id) == 0 : wm_unit_under(f + 5, su->id)) {
			int64_t n;
			if (rval_str(&in->stats->e[i + 1]) != NULL &&
			    parse_int64(in->stats->e[i + 1].s, 0, INT64_MAX, &n) == 0)
				open += n;
		}
	}
	for (size_t i = 0; i < in->noverdue_units; i++) {
		const char *ou = in->overdue_units[i];
		if (ou != NULL && (own_only ? strcmp(ou, su->id) == 0 : wm_unit_under(ou, su->id)))
			overdue++;
	}
	json_object_set_new(o, "unit", json_string(su->id));
	json_object_set_new(o, "name", json_string(su->name));
	json_object_set_new(o, "open", json_integer(open));
	json_object_set_new(o, "overdue", json_integer(overdue));
	const json_t *k = own_only ? NULL : kpi_row(in->kpi, su->id);
	put_closure(o, kpi_count(k, "closed"), kpi_count(k, "closed_on_time"));
	return o;
}

json_t *wm_summary(const struct wm_ctx *c, const struct wm_summary_in *in)
{
	const struct rules *r = c->r;
	json_t *o = json_object(), *states = json_array(), *levels = json_array();
	json_t *streets = json_array();
	long long open = 0;
	char month[8], date[11];

	for (size_t i = 0; i < GR_NELEM(live_states); i++) {
		long long n = stat(in->stats, "state", live_states[i]);
		open += n;
		json_array_append_new(states, json_pack("{s:s, s:s, s:I}", "state", live_states[i],
		                                        "name", web_state_name(live_states[i]),
		                                        "count", (json_int_t)n));
	}
	for (size_t l = 0; l < r->nlevels; l++)
		json_array_append_new(
		        levels,
		        json_pack("{s:i, s:s, s:s, s:I}", "level", (int)l + 1, "level_key",
		                  r->levels[l].key, "level_name", r->levels[l].name, "count",
		                  (json_int_t)stat(in->stats, "level", r->levels[l].key)));
	/* the streets: the root units' children, and what the roots hold themselves */
	for (size_t u = 0; u < r->nunits; u++) {
		int p = r->units[u].parent;
		if (p >= 0 && r->units[p].parent < 0)
			json_array_append_new(streets, street_row(c, in, (int)u, false));
	}
	for (size_t u = 0; u < r->nunits; u++) {
		if (r->units[u].parent >= 0)
			continue;
		json_t *own = street_row(c, in, (int)u, true);
		if (json_integer_value(json_object_get(own, "open")) > 0 ||
		    json_integer_value(json_object_get(own, "overdue")) > 0) {
			json_object_set_new(own, "direct", json_true());
			json_array_append_new(streets, own);
		} else {
			json_decref(own);
		}
	}
	/* the month's on-time closure: the root rows hold everything below them */
	json_int_t closed = 0, on_time = 0;
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(in->kpi, "rows"), i, row)
	{
		const char *u = json_string_value(json_object_get(row, "unit"));
		if (u != NULL && strchr(u, '/') == NULL) {
			closed += kpi_count(row, "closed");
			on_time += kpi_count(row, "closed_on_time");
		}
	}
	wm_month(r, c->now, month);
	wm_date(r, c->now, date);
	int root = -1;
	for (size_t u = 0; u < r->nunits && root < 0; u++) {
		if (r->units[u].parent < 0)
			root = (int)u;
	}
	json_object_set_new(o, "at", time_json(c->now));
	json_object_set_new(o, "district",
	                    root >= 0 ? json_string(r->units[root].name) : json_null());
	json_object_set_new(o, "open", json_integer(open));
	json_object_set_new(o, "overdue", json_integer(in->overdue));
	json_object_set_new(o, "today", json_string(date));
	const char *b = rval_str(in->breached);
	int64_t nb = 0;
	if (b == NULL || parse_int64(b, 0, INT64_MAX, &nb) < 0)
		nb = 0;
	json_object_set_new(o, "breaches_today", json_integer(nb));
	json_object_set_new(o, "month", json_string(month));
	put_closure(o, closed, on_time);
	json_object_set_new(o, "by_state", states);
	json_object_set_new(o, "by_level", levels);
	json_object_set_new(o, "streets", streets);
	json_object_set_new(o, "feed", in->feed != NULL ? json_deep_copy(in->feed) : json_array());
	return o;
}

/* ---- one case ---------------------------------------------------------------- */

static json_t *person(const struct rules *r, const char *id)
{
	int p = rules_person(r, id);

	return json_pack("{s:s, s:o}", "id", id, "name",
	                 p >= 0 ? json_string(r->people[p].name) : json_null());
}

/* A JSON array of ids as [{id, name}]. */
static json_t *people(const struct rules *r, const char *text)
{
	json_t *a = text != NULL ? json_loads(text, 0, NULL) : NULL, *out = json_array();
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (json_is_string(v))
			json_array_append_new(out, person(r, json_string_value(v)));
	}
	json_decref(a);
	return out;
}

static json_t *person_or_null(const struct rules *r, const char *id)
{
	return id != NULL && id[0] != '\0' ? person(r, id) : json_null();
}

static json_t *named(const char *key, const char *name)
{
	return json_pack("{s:o, s:o}", "key", str_or_null(key), "name", str_or_null(name));
}

/* The deadlines the state has pending (SPEC §6), and the case deadline. */
static bool pending(const char *state, const char *kind)
{
	static const struct {
		const char *state, *kinds;
	} p[] = {
	        {"open", " ack resolve case "}, {"acked", " resolve case "},
	        {"verifying", " verify case "}, {"returned", " review case "},
	        {"parked", " parked_until "},
	};
	char k[32];

	snprintf(k, sizeof(k), " %s ", kind);
	for (size_t i = 0; state != NULL && i < GR_NELEM(p); i++) {
		if (strcmp(p[i].state, state) == 0)
			return strstr(p[i].kinds, k) != NULL;
	}
	return false;
}

static void put_deadlines(const struct wm_ctx *c, json_t *o, const struct rval *h,
                          const char *state)
{
	static const struct {
		const char *kind, *field;
	} dl[] = {
	        {"ack", "ack_deadline"},       {"resolve", "resolve_deadline"},
	        {"verify", "verify_deadline"}, {"review", "review_deadline"},
	        {"case", "case_deadline"},     {"parked_until", "parked_until"},
	};
	json_t *a = json_array();
	int64_t best = TIME_NONE;
	const char *best_kind = NULL;

	for (size_t i = 0; i < GR_NELEM(dl); i++) {
		int64_t t = hint(h, dl[i].field, TIME_NONE);
		json_object_set_new(o, dl[i].field, time_json(t));
		if (t == TIME_NONE)
			continue;
		bool p = pending(state, dl[i].kind);
		bool meet = p && strcmp(dl[i].kind, "parked_until") != 0;
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:b, s:b}", "kind", dl[i].kind,
		                                   "name", web_deadline_name(dl[i].kind), "at",
		                                   time_json(t), "pending", p, "overdue",
		                                   meet && t < c->now));
		if (meet && (best == TIME_NONE || t < best)) {
			best = t;
			best_kind = dl[i].kind;
		}
	}
	json_object_set_new(o, "deadlines", a);
	/* what gr:deadlines holds: the one the case must meet now */
	json_object_set_new(o, "deadline",
	                    best == TIME_NONE
	                            ? json_null()
	                            : json_pack("{s:s, s:s, s:o, s:b}", "kind", best_kind, "name",
	                                        web_deadline_name(best_kind), "at", time_json(best),
	                                        "overdue", best < c->now));
	json_object_set_new(o, "overdue", json_boolean(best != TIME_NONE && best < c->now));
}

json_t *wm_case(const struct wm_ctx *c, const char *id, const struct rval *h, const char *doc,
                bool full)
{
	const struct rules *r = c->r;
	json_t *o = json_object();
	json_t *d = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
	const char *state = hstr(h, "state"), *unit = hstr(h, "unit"), *cat = hstr(h, "category");
	const char *lk = hstr(h, "level_key"), *ch = hstr(h, "channel");
	const char *sev = json_string_value(json_object_get(d, "severity"));
	int u = unit != NULL ? rules_unit(r, unit, strlen(unit)) : -1;
	int ci = cat != NULL ? rules_category(r, cat) : -1;
	int li = lk != NULL ? rules_level(r, lk) : -1;

	if (cat == NULL) /* a v1 hash migrated without its category: the document's */
		cat = json_string_value(json_object_get(d, "category"));
	json_object_set_new(o, "id", json_string(id));
	json_t *title = json_object_get(d, "title"), *reported = json_object_get(d, "unit");
	json_object_set_new(o, "title", title != NULL ? json_incref(title) : json_null());
	json_object_set_new(o, "state", str_or_null(state));
	json_object_set_new(o, "state_name", json_string(web_state_name(state)));
	json_object_set_new(o, "channel", str_or_null(ch));
	json_object_set_new(o, "channel_name", json_string(web_channel_name(ch)));
	json_object_set_new(o, "severity", str_or_null(sev != NULL ? sev : "normal"));
	json_object_set_new(o, "severity_name",
	                    json_string(web_severity_name(sev != NULL ? sev : "normal")));
	json_object_set_new(o, "category", named(cat, ci >= 0 ? r->categories[ci].name : NULL));
	json_object_set_new(o, "unit", named(unit, u >= 0 ? r->units[u].name : NULL));
	json_object_set_new(o, "reported_unit",
	                    reported != NULL ? json_incref(reported) : json_null());
	json_object_set_new(o, "level", json_integer(hint(h, "level", 0)));
	json_object_set_new(o, "level_key", str_or_null(lk));
	json_object_set_new(o, "level_name",
	                    li >= 0 ? json_string(r->levels[li].name) : json_null());
	json_object_set_new(o, "assignees", people(r, hstr(h, "assignees")));
	json_object_set_new(o, "co_assignees", people(r, hstr(h, "co_assignees")));
	json_object_set_new(o, "verifiers", people(r, hstr(h, "verifiers")));
	json_object_set_new(o, "policy", str_or_null(hstr(h, "policy")));
	json_object_set_new(o, "created_at", time_json(hint(h, "created_at", TIME_NONE)));
	json_object_set_new(o, "updated_at", time_json(hint(h, "updated_at", TIME_NONE)));
	put_deadlines(c, o, h, state);
	if (full) {
		static const char *const counts[] = {"count",   "version", "extensions",
		                                     "reworks", "reopens", "urges"};
		for (size_t i = 0; i < GR_NELEM(counts); i++)
			json_object_set_new(o, counts[i], json_integer(hint(h, counts[i], 0)));
		json_object_set_new(o, "late", json_boolean(hint(h, "late", 0) == 1));
		json_object_set_new(o, "last_seen_at",
		                    time_json(hint(h, "last_seen_at", TIME_NONE)));
		json_object_set_new(o, "resolved_at", time_json(hint(h, "resolved_at", TIME_NONE)));
		json_object_set_new(o, "parked_at", time_json(hint(h, "parked_at", TIME_NONE)));
		json_object_set_new(o, "resolved_by", person_or_null(r, hstr(h, "resolved_by")));
		json_object_set_new(o, "handled_by", person_or_null(r, hstr(h, "handled_by")));
		const char *pe = hstr(h, "pending_extension");
		json_t *pj = pe != NULL && pe[0] != '\0' ? json_loads(pe, 0, NULL) : NULL;
		json_object_set_new(o, "pending_extension", pj != NULL ? pj : json_null());
		json_object_set_new(o, "doc", d != NULL ? json_incref(d) : json_null());
	}
	json_decref(d);
	return o;
}

/* ---- the chain ---------------------------------------------------------------- */

static json_t *plist(const struct rules *r, const int *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "id", r->people[ids[i]].id, "name",
		                                   r->people[ids[i]].name));
	return a;
}

json_t *wm_chain(const struct wm_ctx *c, const struct rval *h)
{
	const struct rules *r = c->r;
	const char *unit = hstr(h, "unit"), *cat = hstr(h, "category"), *pol = hstr(h, "policy");
	const char *state = hstr(h, "state");
	int u = unit != NULL ? rules_unit(r, unit, strlen(unit)) : -1;
	int ci = cat != NULL ? rules_category(r, cat) : -1;
	int pi = pol != NULL ? rules_policy(r, pol) : -1;
	int cur = (int)hint(h, "level", 0) - 1;
	json_t *a = json_array();
	struct route_chain ch;

	if (u < 0 || ci < 0)
		return a; /* the rules no longer know its unit or category */
	const struct rules_policy *p = pi >= 0 ? &r->policies[pi] : NULL;
	route_chain(r, u, ci, p, c->now, &ch);
	int next = cur >= 0 && cur < (int)ch.nlevels ? route_next(&ch, cur) : -1;

	/*
	 * When nobody acts: the current level escalates at its deadline, and the
	 * levels above are reached as explain counts them (each at its
	 * predecessor's ack deadline).
	 */
	struct explain_level xl[RULES_MAX_LEVELS];
	size_t nxl = 0;
	int64_t esc = TIME_NONE;
	if (state != NULL && p != NULL && next >= 0) {
		int64_t ack = hint(h, "ack_deadline", TIME_NONE);
		int64_t res = hint(h, "resolve_deadline", TIME_NONE);
		if (strcmp(state, "open") == 0)
			esc = ack != TIME_NONE && (res == TIME_NONE || ack <= res) ? ack : res;
		else if (strcmp(state, "acked") == 0)
			esc = res;
		if (esc != TIME_NONE)
			nxl = explain_chain(r, u, ci, p, next, esc > c->now ? esc : c->now,
			                    TIME_NONE, xl);
	}
	int64_t reach[RULES_MAX_LEVELS], t = esc > c->now ? esc : c->now;
	for (size_t l = 0; l < RULES_MAX_LEVELS; l++)
		reach[l] = TIME_NONE;
	for (size_t k = 0; k < nxl; k++) {
		if (!xl[k].vacant) {
			reach[xl[k].idx] = t;
			t = xl[k].ack;
		}
	}
	for (size_t l = 0; l < ch.nlevels; l++) {
		const struct route_level *lv = &ch.levels[l];
		json_t *o = json_pack("{s:i, s:s, s:s, s:b, s:o, s:b, s:b}", "level", (int)l + 1,
		                      "level_key", r->levels[l].key, "level_name",
		                      r->levels[l].name, "vacant", lv->vacant, "assignees",
		                      plist(r, lv->assignees.ids, lv->assignees.n), "current",
		                      (int)l == cur, "next", (int)l == next);
		json_object_set_new(o, "reached_at", time_json(reach[l]));
		json_array_append_new(a, o);
	}
	explain_chain_free(xl, nxl);
	return a;
}

/* ---- events -------------------------------------------------------------------- */

static const char *level_name(const struct rules *r, const json_t *ev)
{
	const char *k = json_string_value(json_object_get(ev, "level_key"));
	int l = k != NULL ? rules_level(r, k) : -1;

	return l >= 0 ? r->levels[l].name : k != NULL ? k : "";
}

static void put_person(struct buf *b, const struct rules *r, const char *id)
{
	int p = id != NULL ? rules_person(r, id) : -1;

	buf_puts(b, p >= 0 ? r->people[p].name : id != NULL ? id : "?");
}

static void put_people(struct buf *b, const struct rules *r, const json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (i > 0)
			buf_puts(b, "、");
		put_person(b, r, json_string_value(v));
	}
	if (json_array_size(a) == 0)
		buf_puts(b, "无人");
}

json_t *wm_event(const struct wm_ctx *c, const json_t *ev)
{
	const struct rules *r = c->r;
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *by = json_string_value(json_object_get(ev, "by"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));
	json_t *o = json_deep_copy(ev);
	struct buf b;

	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	buf_init(&b);
	if (type == NULL)
		type = "?";
	if (by != NULL && strcmp(type, "breached") != 0)
		put_person(&b, r, by);
	if (strcmp(type, "assigned") == 0 || strcmp(type, "escalated") == 0 ||
	    strcmp(type, "reassigned") == 0 || strcmp(type, "redispatched") == 0 ||
	    strcmp(type, "reworked") == 0 || strcmp(type, "unparked") == 0 ||
	    strcmp(type, "reopened") == 0) {
		buf_printf(&b, "%s→ %s：", b.len > 0 ? " " : "", level_name(r, ev));
		put_people(&b, r, json_object_get(ev, "assignees"));
	} else if (strcmp(type, "skipped") == 0) {
		buf_printf(&b, "%s 空缺", level_name(r, ev));
	} else if (strcmp(type, "breached") == 0) {
		buf_printf(&b, "%s 仍未按时办理", level_name(r, ev));
	} else if (strcmp(type, "duplicate") == 0) {
		buf_printf(&b, "累计 %lld 次",
		           (long long)json_integer_value(json_object_get(ev, "count")));
	} else if (strcmp(type, "verify_requested") == 0) {
		buf_puts(&b, " → 核查：");
		put_people(&b, r, json_object_get(ev, "verifiers"));
	} else if (strcmp(type, "returned") == 0) {
		buf_puts(&b, " → 调度");
	}
	const char *until = json_string_value(json_object_get(ev, "until"));
	int64_t ut;
	if (until != NULL && time_parse_rfc3339(until, strlen(until), &ut) == 0) {
		buf_puts(&b, b.len > 0 ? "，至 " : "至 ");
		web_local_time(&b, r->tz, ut, c->now);
	}
	if (reason != NULL && strcmp(type, "skipped") != 0)
		buf_printf(&b, "（%s）", web_reason_name(reason));
	json_object_set_new(o, "type_name", json_string(web_event_name(type)));
	json_object_set_new(o, "text", json_string(b.data));
	buf_free(&b);
	return o;
}

json_t *wm_deadletter(const struct rval *e)
{
	json_t *o = json_object();
	int64_t ms;

	if (e->type != RV_ARR || e->n != 2 || e->e[0].type != RV_STR)
		return o;
	json_object_set_new(o, "id", json_string(e->e[0].s));
	json_object_set_new(o, "at",
	                    stream_id_ms(e->e[0].s, &ms) == 0 ? time_json(ms) : json_null());
	static const char *const fields[] = {"source", "entry", "reason", "error", "payload"};
	for (size_t i = 0; i < GR_NELEM(fields); i++) {
		const struct rval *v = rval_field(&e->e[1], fields[i]);
		json_object_set_new(o, fields[i],
		                    v != NULL && v->type == RV_STR ? json_stringn(v->s, v->len)
		                                                   : json_null());
	}
	const char *reason = json_string_value(json_object_get(o, "reason"));
	json_object_set_new(o, "reason_name", json_string(web_reason_name(reason)));
	return o;
}

int wm_cursor_parse(const char *s, int64_t *ms, char *id, size_t idsz)
{
	const char *tilde = strchr(s, '~');
	char num[24];

	if (tilde == NULL || tilde == s || (size_t)(tilde - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(tilde - s));
	num[tilde - s] = '\0';
	if (parse_int64(num, 0, INT64_MAX, ms) < 0 || strlen(tilde + 1) >= idsz)
		return -1;
	snprintf(id, idsz, "%s", tilde + 1);
	return 0;
}
