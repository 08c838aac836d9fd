/*
 * explain.c: `gridctl explain` — route one incident document against a
 * rules file without Redis and show the whole decision: the policy, the
 * resolved unit, and every level from the policy's start with its people
 * and the deadlines it would get if each level were assigned in turn at
 * its predecessor's ack deadline, starting now. Schedules (SPEC §3.2) are
 * read at each level's own assignment time, so that a level after a
 * handoff shows the people of the next shift, and working durations are
 * counted from that time (their clock length with them).
 */
#include <stdlib.h>
#include <string.h>

#include "explain.h"

#define EXPLAIN_MAX_BYTES (64 * 1024)

/*
 * The channel the incident would arrive on: the one given, else a valid
 * "channel" field of the document, else patrol. A document that does not
 * parse here will be refused by incident_parse with the proper reason.
 */
static enum channel pick_channel(const char *buf, size_t len, const struct explain_opts *o)
{
	enum channel ch = CH_PATROL;

	if (o->channel_given)
		return o->channel;
	if (len > EXPLAIN_MAX_BYTES)
		return ch;
	json_t *doc = json_loadb(buf, len, 0, NULL);
	json_t *v = json_is_object(doc) ? json_object_get(doc, "channel") : NULL;
	if (json_is_string(v) && channel_parse(json_string_value(v), &ch) != 0)
		ch = CH_PATROL;
	json_decref(doc);
	return ch;
}

/* The co-assignees of a chain as one list of person indexes, first seen first. */
static size_t co_people(const struct route_chain *c, int **outp)
{
	size_t n = 0, max = 0;

	for (size_t k = 0; k < c->nco; k++)
		max += c->co[k].n;
	int *out = xcalloc(max > 0 ? max : 1, sizeof(*out));
	*outp = out;
	for (size_t k = 0; k < c->nco; k++) {
		for (size_t i = 0; i < c->co[k].n; i++) {
			int p = c->co[k].ids[i];
			size_t j = 0;
			while (j < n && out[j] != p)
				j++;
			if (j == n)
				out[n++] = p;
		}
	}
	return n;
}

static json_t *people_json(const struct rules *r, const int *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct rules_person *p = &r->people[ids[i]];
		json_array_append_new(a, json_pack("{s:s, s:s}", "id", p->id, "name", p->name));
	}
	return a;
}

static json_t *time_json(int64_t ms)
{
	char t[TIME_BUFSZ];

	if (ms == TIME_NONE)
		return json_null();
	time_format(ms, t);
	return json_string(t);
}

/*
 * The case deadline (SPEC §3.3): close_within from creation (now), capped
 * by due_at; or due_at alone; TIME_NONE without either.
 */
static int64_t case_deadline(const struct rules *r, const struct rules_policy *p,
                             const struct incident *inc, int64_t now)
{
	int64_t d = p->close_within.text != NULL
	                    ? calendar_deadline(r->calendar, now, p->close_within.d)
	                    : TIME_NONE;

	if (inc->due_at != TIME_NONE && (d == TIME_NONE || inc->due_at < d))
		d = inc->due_at;
	return d;
}

static void emit_json(const struct rules *r, const struct incident *inc,
                      const struct route_result *rr, const struct explain_level *xl, size_t nxl,
                      int64_t now, struct buf *out)
{
	const struct rules_policy *p = &r->policies[rr->policy];
	json_t *root = json_object();
	json_t *chain = json_array();

	json_object_set_new(root, "policy", json_string(p->name));
	json_object_set_new(root, "unit", json_string(r->units[rr->unit].id));
	json_object_set_new(root, "reported_unit", json_stringn(inc->unit, inc->unit_len));
	json_object_set_new(root, "fallback", json_boolean(rr->fallback));
	json_object_set_new(root, "case_deadline", time_json(case_deadline(r, p, inc, now)));
	for (size_t i = 0; i < nxl; i++) {
		const struct rules_level *lv = &r->levels[xl[i].idx];
		json_t *o = json_object();

		json_object_set_new(o, "level", json_integer(xl[i].idx + 1));
		json_object_set_new(o, "level_key", json_string(lv->key));
		json_object_set_new(o, "level_name", json_string(lv->name));
		json_object_set_new(o, "vacant", json_boolean(xl[i].vacant));
		json_object_set_new(o, "assignees",
		                    people_json(r, xl[i].assignees.ids, xl[i].assignees.n));
		json_object_set_new(o, "co_assignees",
		                    people_json(r, xl[i].co, xl[i].vacant ? 0 : xl[i].nco));
		json_object_set_new(o, "ack_within", json_string(xl[i].ack_within->text));
		json_object_set_new(o, "resolve_within", json_string(xl[i].resolve_within->text));
		json_object_set_new(o, "ack_within_ms", json_integer(xl[i].ack_ms));
		json_object_set_new(o, "resolve_within_ms", json_integer(xl[i].resolve_ms));
		json_object_set_new(o, "ack_deadline", time_json(xl[i].ack));
		json_object_set_new(o, "resolve_deadline", time_json(xl[i].resolve));
		json_array_append_new(chain, o);
	}
	json_object_set_new(root, "chain", chain);

	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	buf_puts(out, s);
	buf_putc(out, '\n');
	free(s);
	json_decref(root);
}

/* Text from a peer, on one line: control characters would garble the report. */
static void put_text(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		buf_putc(out, c < 0x20 || c == 0x7f ? ' ' : *s);
	}
}

static void put_people(struct buf *out, const struct rules *r, const int *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct rules_person *p = &r->people[ids[i]];
		buf_printf(out, "%s%s (%s)", i > 0 ? ", " : "", p->name, p->id);
	}
}

static void emit_text(const struct rules *r, const struct incident *inc,
                      const struct route_result *rr, const struct explain_level *xl, size_t nxl,
                      int64_t now, struct buf *out)
{
	const struct rules_policy *p = &r->policies[rr->policy];
	const struct rules_unit *u = &r->units[rr->unit];
	const struct rules_category *c = &r->categories[rr->category];
	char t[TIME_BUFSZ];

	buf_puts(out, "incident:  ");
	put_text(out, inc->id);
	buf_puts(out, " \"");
	put_text(out, inc->title);
	buf_puts(out, "\"\n");
	buf_printf(out, "channel:   %s\n", channel_name(inc->channel));
	buf_printf(out, "category:  %s (%s)\n", c->key, c->name);
	buf_printf(out, "severity:  %s\n", severity_name(inc->severity));
	buf_printf(out, "policy:    %s\n", p->name);
	buf_printf(out, "unit:      %s (%s)", u->id, u->name);
	if (rr->fallback)
		buf_printf(out, ", fallback from %.*s", (int)inc->unit_len, inc->unit);
	buf_putc(out, '\n');
	if (inc->due_at != TIME_NONE) {
		time_format(inc->due_at, t);
		buf_printf(out, "due:       %s\n", t);
	}
	int64_t cd = case_deadline(r, p, inc, now);
	if (cd != TIME_NONE) {
		time_format(cd, t);
		buf_printf(out, "case:      closed on time by %s", t);
		if (p->close_within.text != NULL)
			buf_printf(out, " (close_within %s)", p->close_within.text);
		buf_putc(out, '\n');
	}
	time_format(now, t);
	buf_printf(out, "chain from %s, assigned now (%s):\n", r->levels[p->start_level].key, t);

	for (size_t i = 0; i < nxl; i++) {
		const struct rules_level *lv = &r->levels[xl[i].idx];
		char d1[DUR_BUFSZ], d2[DUR_BUFSZ], t2[TIME_BUFSZ];

		buf_printf(out, "  %d %s %s: ", xl[i].idx + 1, lv->key, lv->name);
		if (xl[i].vacant) {
			buf_puts(out, "vacant \xe2\x80\x94 skipped\n");
			continue;
		}
		put_people(out, r, xl[i].assignees.ids, xl[i].assignees.n);
		if (xl[i].nco > 0) {
			buf_puts(out, "; co-assignees: ");
			put_people(out, r, xl[i].co, xl[i].nco);
		}
		time_format(xl[i].ack, t);
		time_format(xl[i].resolve, t2);
		buf_printf(out, "; ack by %s (within %s), resolve by %s (within %s)\n", t,
		           rules_dur_text(xl[i].ack_within, d1), t2,
		           rules_dur_text(xl[i].resolve_within, d2));
	}
}

size_t explain_chain(const struct rules *r, int unit, int cat, const struct rules_policy *p,
                     int from, int64_t t, int64_t due_at, struct explain_level *out)
{
	size_t n = 0;
	bool first = true;

	for (size_t l = (size_t)from; l < r->nlevels; l++) {
		struct explain_level *x = &out[n++];
		struct route_chain ch;

		/* who serves the level when it would be assigned: at t */
		route_chain(r, unit, cat, p, t, &ch);
		x->idx = (int)l;
		x->vacant = ch.levels[l].vacant;
		x->assignees = ch.levels[l].assignees;
		x->nco = co_people(&ch, &x->co);
		x->ack_within = route_ack_within(r, p, (int)l);
		x->resolve_within = route_resolve_within(r, p, (int)l);
		/* a working duration's clock length depends on when the level is assigned */
		x->ack_ms = calendar_deadline(r->calendar, t, x->ack_within->d) - t;
		x->resolve_ms = calendar_deadline(r->calendar, t, x->resolve_within->d) - t;
		x->ack = x->resolve = TIME_NONE;
		if (x->vacant)
			continue;
		route_deadlines(r, p, (int)l, t, first ? due_at : TIME_NONE, &x->ack, &x->resolve);
		t = x->ack;
		first = false;
	}
	return n;
}

void explain_chain_free(struct explain_level *levels, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(levels[i].co);
}

int explain_incident(const struct rules *r, const char *buf, size_t len,
                     const struct explain_opts *o, struct buf *out, struct rejection *rj)
{
	struct incident_ctx ctx = {
	        .channel = pick_channel(buf, len, o),
	        .entry_id = NULL,
	        .entry_ms = o->now,
	        .max_bytes = EXPLAIN_MAX_BYTES,
	};
	struct incident inc;
	struct route_result rr;
	struct explain_level xl[RULES_MAX_LEVELS];

	if (incident_parse(buf, len, &ctx, &inc, rj) != 0)
		return -1;
	if (route_incident(r, &inc, o->now, &rr, rj) != 0) {
		incident_free(&inc);
		return -1;
	}

	size_t nxl = explain_chain(r, rr.unit, rr.category, &r->policies[rr.policy],
	                           r->policies[rr.policy].start_level, o->now, inc.due_at, xl);

	if (o->json)
		emit_json(r, &inc, &rr, xl, nxl, o->now, out);
	else
		emit_text(r, &inc, &rr, xl, nxl, o->now, out);
	explain_chain_free(xl, nxl);
	incident_free(&inc);
	return 0;
}
