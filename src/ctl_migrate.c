/*
 * ctl_migrate.c: `gridctl migrate --rules FILE`: a store of gridroute 1
 * (SPEC v1's layout) converted in place to the layout of SPEC v2 §2.
 *
 * For every incident hash that still has its v1 form (a "doc" field, or a
 * timeline stream or seen set under gr:inc:<id>:...), one MULTI/EXEC
 * writes the document to gr:doc:<id>, the timeline stream's events to the
 * list gr:timeline:<id>, the seen set without the creating entry to
 * gr:seen:<id> (none when nothing is left), fills in the hash's unit (as
 * the rules resolve it) and category, removes the doc field
 * and the old keys, and keeps the expiry of a closed incident on each new
 * key. An incident is converted whole or not at all, so that a run cut
 * short is finished by the next; a second run finds nothing to do. Then
 * gr:meta gets schema 2.
 *
 * A running daemon would write v1 keys meanwhile: migrate refuses while a
 * consumer of the daemons' group has read an input stream in the last
 * ACTIVE_MS.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_migrate.h"
#include "lifecycle.h"
#include "ctl_redis.h"
#include "incident.h"
#include "route.h"

#define ACTIVE_MS 10000
#define SCAN_PAGE "1000"

static const char *const input_streams[] = {"in:patrol", "in:feedback", "in:scheduled", "in:alert",
                                            "in:commands"};

struct tally {
	size_t incidents, docs, timelines, events, seen_sets, creation_members, empty_sets, skipped;
};

/* Refuse while a daemon reads: a consumer of group that was seen lately. */
static int check_idle(struct ctl *c, const char *group)
{
	for (size_t i = 0; i < GR_NELEM(input_streams); i++) {
		char *key = ctl_key(c, "%s", input_streams[i]);
		const char *argv[] = {"XINFO", "CONSUMERS", key, group};
		redisReply *r = ctl_redis_argv(c, 4, argv, NULL);
		int rc = 0;

		if (r == NULL) {
			free(key);
			return CTL_EXIT_FAIL;
		}
		for (size_t k = 0; ctl_reply_array(r) && k < r->elements && rc == 0; k++) {
			const char *name = ctl_reply_str(r->element[k], "name");
			int64_t idle;
			if (name != NULL &&
			    ctl_reply_int(ctl_reply_field(r->element[k], "idle"), &idle) == 0 &&
			    idle < ACTIVE_MS)
				rc = ctl_fail(
				        c,
				        "consumer \"%s\" of group %s read %s %lld ms ago: stop "
				        "every "
				        "gridrouted first (a consumer counts as gone %d s after "
				        "its last read)",
				        name, group, key, (long long)idle, ACTIVE_MS / 1000);
		}
		/* no such stream or group (an error reply): nobody reads it */
		freeReplyObject(r);
		free(key);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static const char *type_of(struct ctl *c, const char *key, char *out, size_t outsz)
{
	const char *argv[] = {"TYPE", key};
	redisReply *r = ctl_redis_argv(c, 2, argv, NULL);

	snprintf(out, outsz, "%s", r != NULL && ctl_reply_string(r) ? r->str : "?");
	if (r != NULL)
		freeReplyObject(r);
	return out;
}

/* The creating entry: the source and entry of the first event, "" when unknown. */
static char *creator(const redisReply *events)
{
	for (size_t i = 0; ctl_reply_array(events) && i < events->elements; i++) {
		const redisReply *e = events->element[i];
		if (!ctl_reply_array(e) || e->elements != 2)
			continue;
		const redisReply *v = ctl_reply_field(e->element[1], "event");
		json_t *ev = ctl_reply_string(v) ? json_loadb(v->str, v->len, 0, NULL) : NULL;
		const char *src = json_string_value(json_object_get(ev, "source"));
		const char *entry = json_string_value(json_object_get(ev, "entry"));
		char *m = src != NULL && entry != NULL ? xasprintf("%s/%s", src, entry) : NULL;
		json_decref(ev);
		if (m != NULL)
			return m;
		break;
	}
	return xstrdup("");
}

/* The unit the rules resolve the document's to, and its category; the document's own else. */
static void unit_and_category(const struct rules *r, json_t *doc, char **unit, char **cat)
{
	const char *u = json_string_value(json_object_get(doc, "unit"));
	const char *k = json_string_value(json_object_get(doc, "category"));
	bool fallback;
	int ui = u != NULL ? route_resolve_unit(r, u, strlen(u), &fallback) : -1;

	*unit = xstrdup(ui >= 0 ? r->units[ui].id : u != NULL ? u : "");
	*cat = xstrdup(k != NULL ? k : "");
}

static void append(struct ctl *c, size_t *queued, int argc, const char **argv, const size_t *lens)
{
	ctl_redis_append(c, argc, argv, lens);
	(*queued)++;
}

/*
 * The live counters a v2 step keeps (gr:stats, gr:deadlines), for a case
 * v1 left open or acked: counted in the same MULTI as its conversion, so
 * that a second run, which skips converted incidents, counts nothing twice.
 */
static void live_counters(struct ctl *c, size_t *queued, const redisReply *h, const char *id,
                          const char *unit)
{
	const char *state = ctl_reply_str(h, "state"), *lk = ctl_reply_str(h, "level_key");
	const char *ack = ctl_reply_str(h, "ack_deadline");
	const char *res = ctl_reply_str(h, "resolve_deadline");
	bool open = state != NULL && strcmp(state, "open") == 0;
	int64_t a = -1, r = -1, best = -1;

	if (!open && (state == NULL || strcmp(state, "acked") != 0))
		return;
	char *stats = ctl_key(c, "stats"), *deadlines = ctl_key(c, "deadlines");
	char *fields[3];
	fields[0] = xasprintf("state:%s", state);
	fields[1] = lk != NULL && lk[0] != '\0' ? xasprintf("level:%s", lk) : NULL;
	fields[2] = unit[0] != '\0' ? xasprintf("unit:%.*s", (int)lc_stat_unit(unit), unit) : NULL;
	for (size_t i = 0; i < GR_NELEM(fields); i++) {
		if (fields[i] == NULL)
			continue;
		const char *incr[] = {"HINCRBY", stats, fields[i], "1"};
		append(c, queued, 4, incr, NULL);
		free(fields[i]);
	}
	if (open && ack != NULL)
		(void)parse_int64(ack, 0, INT64_MAX, &a);
	if (res != NULL)
		(void)parse_int64(res, 0, INT64_MAX, &r);
	best = a >= 0 && (r < 0 || a < r) ? a : r;
	if (best >= 0) {
		char score[24];
		snprintf(score, sizeof(score), "%lld", (long long)best);
		const char *zadd[] = {"ZADD", deadlines, score, id};
		append(c, queued, 4, zadd, NULL);
	}
	free(stats);
	free(deadlines);
}

/* One incident of the v1 layout, converted in one MULTI/EXEC. 0, or the exit code. */
static int convert(struct ctl *c, const struct rules *rules, const char *id, struct tally *t)
{
	char *inc = ctl_key(c, "inc:%s", id), *old_tl = ctl_key(c, "inc:%s:timeline", id);
	char *old_seen = ctl_key(c, "inc:%s:seen", id), *doc_key = ctl_key(c, "doc:%s", id);
	char *tl = ctl_key(c, "timeline:%s", id), *seen = ctl_key(c, "seen:%s", id);
	char tl_type[16], seen_type[16], ttl_text[24];
	redisReply *h = NULL, *events = NULL, *members = NULL, *ttl = NULL;
	char *by = NULL, *unit = NULL, *cat = NULL;
	json_t *doc = NULL;
	size_t queued = 0;
	int rc = CTL_EXIT_FAIL;

	if ((h = ctl_redis(c, "HGETALL", inc, NULL)) == NULL ||
	    (ttl = ctl_redis(c, "PTTL", inc, NULL)) == NULL)
		goto out;
	bool stream = strcmp(type_of(c, old_tl, tl_type, sizeof(tl_type)), "stream") == 0;
	bool set = strcmp(type_of(c, old_seen, seen_type, sizeof(seen_type)), "set") == 0;
	const char *doc_text = ctl_reply_str(h, "doc");
	if (doc_text == NULL && !stream && !set) {
		t->skipped++; /* v2 already */
		rc = 0;
		goto out;
	}
	if (stream && (events = ctl_redis(c, "XRANGE", old_tl, "-", "+", NULL)) == NULL)
		goto out;
	if (set && (members = ctl_redis(c, "SMEMBERS", old_seen, NULL)) == NULL)
		goto out;
	by = stream ? creator(events) : xstrdup("");
	doc = doc_text != NULL ? json_loads(doc_text, 0, NULL) : NULL;
	unit_and_category(rules, doc, &unit, &cat);
	int64_t ms = ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -1;
	snprintf(ttl_text, sizeof(ttl_text), "%lld", (long long)ms);

	const char *multi[] = {"MULTI"};
	append(c, &queued, 1, multi, NULL);
	if (doc_text != NULL) {
		const char *set_doc[] = {"SET", doc_key, doc_text};
		const char *hdel[] = {"HDEL", inc, "doc"};
		append(c, &queued, 3, set_doc, NULL);
		append(c, &queued, 3, hdel, NULL);
		t->docs++;
	}
	if (stream) {
		const char *del[] = {"DEL", tl};
		append(c, &queued, 2, del, NULL);
		for (size_t i = 0; i < events->elements; i++) {
			const redisReply *e = events->element[i];
			const redisReply *v = ctl_reply_array(e) && e->elements == 2
			                              ? ctl_reply_field(e->element[1], "event")
			                              : NULL;
			if (!ctl_reply_string(v))
				continue;
			const char *push[] = {"RPUSH", tl, v->str};
			size_t lens[] = {5, strlen(tl), v->len};
			append(c, &queued, 3, push, lens);
			t->events++;
		}
		const char *del_old[] = {"DEL", old_tl};
		append(c, &queued, 2, del_old, NULL);
		t->timelines++;
	}
	if (set) {
		const char *del[] = {"DEL", seen};
		append(c, &queued, 2, del, NULL);
		size_t kept = 0;
		for (size_t i = 0; i < members->elements; i++) {
			const redisReply *m = members->element[i];
			if (!ctl_reply_string(m))
				continue;
			if (strcmp(m->str, by) == 0) {
				t->creation_members++; /* v2 recognizes it by its first event */
				continue;
			}
			const char *sadd[] = {"SADD", seen, m->str};
			append(c, &queued, 3, sadd, NULL);
			kept++;
		}
		if (kept > 0)
			t->seen_sets++;
		else
			t->empty_sets++;
		const char *del_old[] = {"DEL", old_seen};
		append(c, &queued, 2, del_old, NULL);
	}
	const char *hset[] = {"HSET", inc, "unit", unit, "category", cat};
	append(c, &queued, 6, hset, NULL);
	live_counters(c, &queued, h, id, unit);
	if (ms > 0) {
		/* a closed incident: its new keys go when its hash does */
		const char *keys[] = {doc_key, tl, seen};
		for (size_t k = 0; k < GR_NELEM(keys); k++) {
			const char *px[] = {"PEXPIRE", keys[k], ttl_text};
			append(c, &queued, 3, px, NULL);
		}
	}
	const char *exec[] = {"EXEC"};
	append(c, &queued, 1, exec, NULL);
	rc = 0;
	for (size_t i = 0; i < queued; i++) {
		redisReply *r = ctl_redis_next(c);
		if (r == NULL) {
			rc = CTL_EXIT_FAIL;
			break;
		}
		if (ctl_reply_error(r) && rc == 0)
			rc = ctl_fail(c, "Redis: %s (converting incident %s)", r->str, id);
		if (i == queued - 1 && rc == 0 && !ctl_reply_array(r))
			rc = ctl_fail(c, "incident %s: the transaction was not executed", id);
		freeReplyObject(r);
	}
	if (rc == 0)
		t->incidents++;
out:
	json_decref(doc);
	if (h != NULL)
		freeReplyObject(h);
	if (events != NULL)
		freeReplyObject(events);
	if (members != NULL)
		freeReplyObject(members);
	if (ttl != NULL)
		freeReplyObject(ttl);
	free(by);
	free(unit);
	free(cat);
	free(inc);
	free(old_tl);
	free(old_seen);
	free(doc_key);
	free(tl);
	free(seen);
	return rc;
}

/* Every incident hash under the prefix, by SCAN; its keys of v1 go with it. */
static int convert_all(struct ctl *c, const struct rules *rules, struct tally *t)
{
	char *match = ctl_scan_pattern(c, "inc:*");
	char *inc_prefix = ctl_key(c, "inc:");
	size_t plen = strlen(inc_prefix);
	char cursor[32] = "0";
	int rc = 0;

	do {
		const char *scan[] = {"SCAN",  cursor,    "MATCH", match,
		                      "COUNT", SCAN_PAGE, "TYPE",  "hash"};
		redisReply *s = ctl_redis_argv(c, 8, scan, NULL);
		if (s == NULL || !ctl_reply_array(s) || s->elements != 2 ||
		    !ctl_reply_array(s->element[1])) {
			if (s != NULL)
				rc = ctl_fail(c, "unexpected reply to SCAN%s%s",
				              ctl_reply_error(s) ? ": " : "",
				              ctl_reply_error(s) ? s->str : "");
			else
				rc = CTL_EXIT_FAIL;
			if (s != NULL)
				freeReplyObject(s);
			break;
		}
		for (size_t i = 0; i < s->element[1]->elements && rc == 0; i++) {
			const redisReply *k = s->element[1]->element[i];
			if (!ctl_reply_string(k) || k->len <= plen)
				continue;
			const char *id = k->str + plen;
			if (incident_id_valid(id, strlen(id)))
				rc = convert(c, rules, id, t);
		}
		snprintf(cursor, sizeof(cursor), "%s",
		         ctl_reply_string(s->element[0]) ? s->element[0]->str : "0");
		freeReplyObject(s);
	} while (rc == 0 && strcmp(cursor, "0") != 0);
	free(match);
	free(inc_prefix);
	return rc;
}

int ctl_cmd_migrate(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"rules", required_argument, NULL, 'r'},
	        {"group", required_argument, NULL, 'g'},
	        {NULL, 0, NULL, 0},
	};
	const char *rules_path = NULL, *group = "gridrouted";
	struct tally t = {0};
	struct rules *rules;
	struct diags d;
	int ch, rc;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 'r':
			rules_path = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (rules_path == NULL)
		return ctl_usage(
		        c, "--rules FILE is required: the rules resolve each incident's unit");
	diags_init(&d, rules_path);
	rules = rules_load(rules_path, &d);
	if (rules == NULL)
		diags_print(&d, stderr); /* the warnings are check's business */
	diags_free(&d);
	if (rules == NULL)
		return ctl_fail(c, "%s is not valid: nothing migrated", rules_path);
	if ((rc = ctl_redis_connect(c)) != 0)
		goto out;

	char *meta = ctl_key(c, "meta");
	redisReply *r = ctl_redis(c, "HGET", meta, "schema", NULL);
	rc = CTL_EXIT_FAIL;
	if (r == NULL) {
		free(meta);
		goto out;
	}
	if (ctl_reply_string(r) && strcmp(r->str, "1") != 0 && strcmp(r->str, CTL_SCHEMA) != 0) {
		ctl_fail(c, "%s says schema %.20s: this gridctl converts schema 1 to %s only", meta,
		         r->str, CTL_SCHEMA);
		freeReplyObject(r);
		free(meta);
		goto out;
	}
	freeReplyObject(r);
	if ((rc = check_idle(c, group)) != 0 || (rc = convert_all(c, rules, &t)) != 0) {
		if (t.incidents > 0)
			printf("migrated %zu incidents before the failure; run it again to "
			       "finish\n",
			       t.incidents);
		free(meta);
		goto out;
	}
	rc = CTL_EXIT_FAIL;
	if ((r = ctl_redis(c, "HSET", meta, "schema", CTL_SCHEMA, NULL)) == NULL) {
		free(meta);
		goto out;
	}
	freeReplyObject(r);
	if (t.incidents == 0)
		printf("nothing to migrate: %zu incidents have the layout of schema %s already\n",
		       t.skipped, CTL_SCHEMA);
	else
		printf("migrated %zu incidents: %zu documents to %sdoc:<id>, %zu timelines (%zu "
		       "events) to lists %stimeline:<id>, %zu seen sets to %sseen:<id> (%zu "
		       "creating "
		       "entries left out, %zu sets left empty and dropped); %zu had the new layout "
		       "already\n",
		       t.incidents, t.docs, c->prefix, t.timelines, t.events, c->prefix,
		       t.seen_sets, c->prefix, t.creation_members, t.empty_sets, t.skipped);
	printf("%s: schema %s\n", meta, CTL_SCHEMA);
	free(meta);
	rc = 0;
out:
	rules_free(rules);
	return rc;
}
