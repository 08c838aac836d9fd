/*
 * test_lifecycle.c: the incident state machine (lifecycle.h) driven step by
 * step as the daemon would — each step's effects applied to a hash kept
 * here the way store.c keeps gr:inc:<id>, then read back with
 * inc_record_parse for the next step. Assertions read the real JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lifecycle.h"

#define BASIC   "tests/unit/data/lifecycle_basic.yaml"
#define CHANGED "tests/unit/data/lifecycle_changed.yaml"
#define T0      "2026-11-26T04:00:00.000Z"

#define MIN  60000LL
#define HOUR 3600000LL
#define DAY  (24 * HOUR)

#define G03_URBAN                                                                                  \
	"{\"id\":\"p-1\",\"category\":\"urban_management\",\"unit\":\"x/s/c/g03\","                \
	"\"title\":\"井盖缺失\""
#define G02_URBAN                                                                                  \
	"{\"id\":\"p-2\",\"category\":\"urban_management\",\"unit\":\"x/s/c/g02\","                \
	"\"title\":\"占道经营\""
#define Y_URBAN "{\"id\":\"p-3\",\"category\":\"urban_management\",\"unit\":\"y\",\"title\":\"t\"}"
#define Z_URBAN "{\"id\":\"p-5\",\"category\":\"urban_management\",\"unit\":\"z\",\"title\":\"t\"}"

static const struct lc_source patrol_src = {"gr:in:patrol", "1700000000000-0"};
static const struct lc_source cmd_src = {"gr:in:commands", "1700000000001-0"};
#define SHA_A "356a192b7913b04c54574d18c28d46e6395428ab"

/* English texts, in UTC: what these tests were written against */
static struct lc_conf en_conf = {MSG_EN, NULL, 0};

struct fixture {
	struct rules *basic;
	struct rules *changed;
};

static int64_t t0;

static struct rules *load_rules(const char *path)
{
	struct diags d;
	struct rules *r;

	diags_init(&d, path);
	r = rules_load(path, &d);
	if (r == NULL)
		diags_print(&d, stderr);
	diags_free(&d);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	if (time_parse_rfc3339(T0, strlen(T0), &t0) != 0)
		return -1;
	f->basic = load_rules(BASIC);
	f->changed = load_rules(CHANGED);
	*state = f;
	return f->basic != NULL && f->changed != NULL ? 0 : -1;
}

static void gc_free(void);

static int teardown(void **state)
{
	struct fixture *f = *state;

	gc_free();
	if (f->basic != NULL)
		rules_free(f->basic);
	if (f->changed != NULL)
		rules_free(f->changed);
	free(f);
	return 0;
}

/* --- effects as JSON --------------------------------------------------- */

/*
 * The effects hold JSON texts; the tests read them back with Jansson. Each
 * value made here is kept until the group ends (gc_free).
 */
static json_t **gc;
static size_t ngc, capgc;

static json_t *gc_keep(json_t *v)
{
	if (ngc == capgc) {
		capgc = capgc > 0 ? capgc * 2 : 256;
		gc = xreallocarray(gc, capgc, sizeof(*gc));
	}
	gc[ngc++] = v;
	return v;
}

static void gc_free(void)
{
	while (ngc > 0)
		json_decref(gc[--ngc]);
	free(gc);
	gc = NULL;
	capgc = 0;
}

/* A list of JSON texts as an array; each must parse alone. */
static json_t *JL(const struct lc_list *l)
{
	json_t *a = json_array();
	json_error_t err;

	for (size_t i = 0; i < l->n; i++) {
		json_t *v = json_loadb(lc_item(l, i), l->len[i], JSON_REJECT_DUPLICATES, &err);
		if (v == NULL)
			fail_msg("item %zu is not JSON: %s: %s", i, err.text, lc_item(l, i));
		assert_int_equal(strlen(lc_item(l, i)), l->len[i]);
		json_array_append_new(a, v);
	}
	return gc_keep(a);
}

/* The hash fields as an object; a field set twice is a bug. */
static json_t *JF(const struct lc_list *l)
{
	json_t *o = json_object();

	assert_int_equal(l->n % 2, 0);
	for (size_t i = 0; i < l->n; i += 2) {
		if (json_object_get(o, lc_item(l, i)) != NULL)
			fail_msg("field \"%s\" set twice", lc_item(l, i));
		json_object_set_new(o, lc_item(l, i),
		                    json_stringn(lc_item(l, i + 1), l->len[i + 1]));
	}
	return gc_keep(o);
}

/* --- reading JSON ------------------------------------------------------ */

static const char *sget(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static json_t *nth(json_t *a, size_t i)
{
	json_t *v = json_array_get(a, i);

	if (v == NULL)
		fail_msg("no element %zu (array of %zu)", i, json_array_size(a));
	return v;
}

/* "a,b" from an array of strings, or of objects by their key. */
static const char *joined(json_t *a, const char *key)
{
	static char out[4][256];
	static int k;
	char *s = out[k++ % 4];
	size_t off = 0, i;
	json_t *v;

	s[0] = '\0';
	if (!json_is_array(a))
		fail_msg("not an array");
	json_array_foreach(a, i, v)
	{
		const char *str = key != NULL ? sget(v, key) : json_string_value(v);
		assert_non_null(str);
		off += (size_t)snprintf(s + off, 256 - off, "%s%s", i > 0 ? "," : "", str);
	}
	return s;
}

static const char *rfc(int64_t ms)
{
	static char out[4][TIME_BUFSZ];
	static int k;
	char *s = out[k++ % 4];

	time_format(ms, s);
	return s;
}

static void assert_field(const struct effects *e, const char *name, const char *want)
{
	json_t *v = json_object_get(JF(&e->fields), name);

	if (v == NULL)
		fail_msg("field \"%s\" not set", name);
	if (!json_is_string(v))
		fail_msg("field \"%s\" is not a string", name);
	assert_string_equal(json_string_value(v), want);
}

static void assert_field_ms(const struct effects *e, const char *name, int64_t want)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", (long long)want);
	assert_field(e, name, num);
}

static void assert_no_field(const struct effects *e, const char *name)
{
	if (json_object_get(JF(&e->fields), name) != NULL)
		fail_msg("field \"%s\" is set", name);
}

/* The event types in order: "skipped,escalated". */
static const char *types(const struct effects *e)
{
	return joined(JL(&e->events), "type");
}

static void assert_due(const struct effects *e, enum lc_op op, int64_t score)
{
	assert_int_equal(e->due, op);
	if (op == LC_SET)
		assert_int_equal(e->due_score, score);
}

static void assert_source(json_t *ev, const struct lc_source *src)
{
	if (src == NULL) {
		assert_null(json_object_get(ev, "source"));
		assert_null(json_object_get(ev, "entry"));
		return;
	}
	assert_string_equal(sget(ev, "source"), src->stream);
	assert_string_equal(sget(ev, "entry"), src->entry);
}

/* --- the store, as store.c keeps it ------------------------------------ */

static void hash_apply(json_t *h, const struct effects *e)
{
	json_t *v = json_object_get(h, "version");
	int64_t ver = 0;
	char num[24];

	if (v != NULL)
		assert_int_equal(parse_int64(json_string_value(v), 0, INT64_MAX, &ver), 0);
	assert_null(json_object_get(JF(&e->fields), "version"));
	assert_null(json_object_get(JF(&e->fields), "doc"));
	/* a creation: the script's CREATED first, then the step's own fields */
	for (size_t i = 0; v == NULL && lc_create_defaults[i] != NULL; i += 2)
		json_object_set_new(h, lc_create_defaults[i],
		                    json_string(lc_create_defaults[i + 1]));
	json_object_update(h, JF(&e->fields));
	/* the store here keeps the document (gr:doc:<id>) beside the fields, as "doc" */
	if (e->doc != NULL)
		json_object_set_new(h, "doc", json_stringn(e->doc, e->doc_len));
	snprintf(num, sizeof(num), "%lld", (long long)ver + 1);
	json_object_set_new(h, "version", json_string(num));
}

static int hash_record(json_t *h, const char *id, struct inc_record *rec, char *err, size_t errsz)
{
	size_t n = json_object_size(h), i = 0;
	const char **f = xcalloc(n + 1, sizeof(*f));
	const char **v = xcalloc(n + 1, sizeof(*v));
	const char *key;
	json_t *val;
	int rc;

	const char *doc = NULL;

	json_object_foreach(h, key, val)
	{
		if (strcmp(key, "doc") == 0) {
			doc = json_string_value(val);
			continue;
		}
		f[i] = key;
		v[i] = json_string_value(val);
		i++;
	}
	rc = inc_record_parse(rec, id, f, v, i, doc, doc != NULL ? strlen(doc) : 0, err, errsz);
	free(f);
	free(v);
	return rc;
}

static void hash_load(json_t *h, const char *id, struct inc_record *rec)
{
	char err[256] = "";

	if (hash_record(h, id, rec, err, sizeof(err)) != 0)
		fail_msg("inc_record_parse: %s", err);
}

/* A step's effects applied; rec reloaded from the hash. */
static void apply(json_t *h, struct effects *e, struct inc_record *rec)
{
	char *id = xstrdup(rec->id);

	hash_apply(h, e);
	effects_free(e);
	inc_record_free(rec);
	hash_load(h, id, rec);
	free(id);
}

static void parse_incident(const char *json, int64_t now, struct incident *inc)
{
	struct incident_ctx ctx = {CH_PATROL, patrol_src.entry, now, 0};
	struct rejection rj = {REASON_NONE, ""};

	if (incident_parse(json, strlen(json), &ctx, inc, &rj) != 0)
		fail_msg("incident refused: %s", rj.msg);
}

/* Parse, route and create; e holds the creation's effects (caller frees). */
static void create(const struct rules *r, const char *json, int64_t now, struct incident *inc,
                   struct effects *e)
{
	struct route_result rt;
	struct rejection rj = {REASON_NONE, ""};

	parse_incident(json, now, inc);
	if (route_incident(r, inc, now, &rt, &rj) != 0)
		fail_msg("not routed: %s", rj.msg);
	effects_init(e);
	struct lc_env env = {r, now, 0, &patrol_src, &en_conf};
	lifecycle_create(&env, inc, &rt, SHA_A, e);
}

/* A stored incident: created at now, in h, read back into rec. */
static json_t *stored(const struct rules *r, const char *json, int64_t now, struct inc_record *rec)
{
	struct incident inc;
	struct effects e;
	json_t *h = json_object();

	create(r, json, now, &inc, &e);
	hash_apply(h, &e);
	hash_load(h, inc.id, rec);
	effects_free(&e);
	incident_free(&inc);
	return h;
}

/* The daemon's way: a fresh effects for every step. */
static int deadline(const struct rules *r, const struct inc_record *rec, int64_t now,
                    struct effects *e)
{
	effects_init(e);
	struct lc_env env = {r, now, 0, NULL, &en_conf};
	return lifecycle_deadline(&env, rec, e);
}

static void duplicate(const struct rules *r, const struct inc_record *rec, int64_t now,
                      const struct lc_source *src, struct effects *e)
{
	effects_init(e);
	struct lc_env env = {r, now, 0, src, &en_conf};
	lifecycle_duplicate(&env, rec, e);
}

static int command(const struct rules *r, const struct inc_record *rec, const char *json,
                   int64_t now, struct effects *e, struct rejection *rj)
{
	struct command cmd;
	int rc;

	if (command_parse(json, strlen(json), 0, &cmd, rj) != 0)
		fail_msg("command refused: %s", rj->msg);
	assert_int_equal(route_command_check(r, &cmd, rj), 0);
	effects_init(e);
	struct lc_env env = {r, now, now, &cmd_src, &en_conf};
	rc = lifecycle_command(&env, rec, &cmd, e, rj);
	command_free(&cmd);
	return rc;
}

static void command_ok(const struct rules *r, const struct inc_record *rec, const char *json,
                       int64_t now, struct effects *e)
{
	struct rejection rj = {REASON_NONE, ""};

	if (command(r, rec, json, now, e, &rj) != 0)
		fail_msg("command rejected (%s): %s", reason_code(rj.reason), rj.msg);
}

static void done(json_t *h, struct inc_record *rec)
{
	json_decref(h);
	inc_record_free(rec);
}

/* --- creation ----------------------------------------------------------- */

static void test_create(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct effects e;

	create(f->basic, G03_URBAN ",\"dedup_key\":\"cover-7\"}", t0, &inc, &e);

	/* every §7 field, all strings */
	static const char *const all[] = {"channel",
	                                  "state",
	                                  "level",
	                                  "level_key",
	                                  "assignees",
	                                  "co_assignees",
	                                  "policy",
	                                  "ack_deadline",
	                                  "resolve_deadline",
	                                  "created_at",
	                                  "updated_at",
	                                  "last_seen_at",
	                                  "count",
	                                  "unit",
	                                  "category",
	                                  "report_sha1",
	                                  "case_deadline",
	                                  "verify_deadline",
	                                  "review_deadline",
	                                  "parked_until",
	                                  "resolved_at",
	                                  "verifiers",
	                                  "resolved_by",
	                                  "handled_by",
	                                  "pending_extension",
	                                  "extensions",
	                                  "reworks",
	                                  "reopens",
	                                  "urges",
	                                  "late",
	                                  "parked_at"};
	/* the hash the script writes: the step's fields over CREATED's */
	json_t *h = json_object();
	hash_apply(h, &e);
	json_object_del(h, "doc"); /* this store's gr:doc:<id> */
	assert_int_equal(json_object_size(h), GR_NELEM(all) + 1);
	for (size_t i = 0; i < GR_NELEM(all); i++)
		assert_true(json_is_string(json_object_get(h, all[i])));
	assert_string_equal(json_string_value(json_object_get(h, "version")), "1");
	assert_string_equal(json_string_value(json_object_get(h, "extensions")), "0");
	assert_string_equal(json_string_value(json_object_get(h, "verifiers")), "[]");
	json_decref(h);
	/* what has CREATED's value costs no argument */
	assert_no_field(&e, "extensions");
	assert_no_field(&e, "verifiers");
	assert_no_field(&e, "pending_extension");
	assert_field(&e, "channel", "patrol");
	assert_field(&e, "state", "open");
	assert_field(&e, "level", "1");
	assert_field(&e, "level_key", "member");
	assert_field(&e, "assignees", "[\"ly\"]");
	assert_field(&e, "co_assignees", "[\"wuye\"]");
	assert_field(&e, "policy", "default");
	assert_field_ms(&e, "ack_deadline", t0 + 30 * MIN);
	assert_field_ms(&e, "resolve_deadline", t0 + DAY);
	assert_field_ms(&e, "created_at", t0);
	assert_field_ms(&e, "updated_at", t0);
	assert_field_ms(&e, "last_seen_at", t0);
	assert_field(&e, "count", "1");
	assert_no_field(&e, "breached"); /* none yet: nothing written */
	assert_field(&e, "unit", "x/s/c/g03");
	assert_field(&e, "category", "urban_management");
	assert_field(&e, "report_sha1", SHA_A);
	/* the document is a key of its own now, not a field */
	assert_non_null(e.doc);
	const char *doc = e.doc;
	assert_int_equal(strlen(doc), e.doc_len);
	assert_null(strchr(doc, '\n'));
	json_t *d = json_loads(doc, 0, NULL);
	assert_non_null(d);
	assert_string_equal(sget(d, "id"), "p-1");
	assert_string_equal(sget(d, "title"), "井盖缺失");
	assert_string_equal(sget(d, "dedup_key"), "cover-7");
	json_decref(d);

	assert_string_equal(types(&e), "assigned");
	json_t *ev = nth(JL(&e.events), 0);
	assert_string_equal(sget(ev, "incident"), "p-1");
	assert_string_equal(sget(ev, "at"), T0);
	assert_source(ev, &patrol_src);
	assert_int_equal(iget(ev, "level"), 1);
	assert_string_equal(sget(ev, "level_key"), "member");
	assert_string_equal(sget(ev, "reason"), "new");
	assert_string_equal(joined(json_object_get(ev, "assignees"), NULL), "ly");
	assert_string_equal(joined(json_object_get(ev, "co_assignees"), NULL), "wuye");

	assert_int_equal(json_array_size(JL(&e.assignments)), 1);
	json_t *a = nth(JL(&e.assignments), 0);
	assert_string_equal(sget(a, "incident"), "p-1");
	assert_string_equal(sget(a, "event"), "assigned");
	assert_string_equal(sget(a, "reason"), "new");
	assert_int_equal(iget(a, "level"), 1);
	assert_string_equal(sget(a, "level_key"), "member");
	assert_string_equal(sget(a, "level_name"), "网格员");
	assert_string_equal(joined(json_object_get(a, "assignees"), NULL), "ly");
	assert_string_equal(joined(json_object_get(a, "co_assignees"), NULL), "wuye");
	assert_string_equal(sget(a, "unit"), "x/s/c/g03");
	assert_string_equal(sget(a, "unit_name"), "北大街社区第三网格");
	assert_string_equal(sget(a, "reported_unit"), "x/s/c/g03");
	assert_string_equal(sget(a, "category"), "urban_management");
	assert_string_equal(sget(a, "channel"), "patrol");
	assert_string_equal(sget(a, "severity"), "normal");
	assert_string_equal(sget(a, "title"), "井盖缺失");
	assert_string_equal(sget(a, "ack_deadline"), "2026-11-26T04:30:00.000Z");
	assert_string_equal(sget(a, "resolve_deadline"), "2026-11-27T04:00:00.000Z");
	assert_string_equal(sget(a, "policy"), "default");
	assert_string_equal(sget(a, "at"), T0);
	/* v2: the other deadlines, null when the state has none, and the one to act by */
	assert_true(json_is_null(json_object_get(a, "verify_deadline")));
	assert_true(json_is_null(json_object_get(a, "review_deadline")));
	assert_true(json_is_null(json_object_get(a, "case_deadline")));
	assert_string_equal(sget(a, "deadline"), "2026-11-26T04:30:00.000Z");
	assert_int_equal(json_object_size(a), 23);

	assert_int_equal(json_array_size(JL(&e.notifications)), 1);
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "assigned");
	assert_string_equal(sget(n, "incident"), "p-1");
	assert_string_equal(sget(n, "level_key"), "member");
	assert_string_equal(sget(n, "at"), T0);
	assert_string_equal(sget(n, "text"), "[北大街社区第三网格 · 城市管理] 井盖缺失: "
	                                     "assigned to 网格员 刘洋; acknowledge by Nov 26 "
	                                     "12:30.");
	/* v2: what a gateway needs besides the text */
	assert_string_equal(sget(n, "title"), "井盖缺失");
	assert_string_equal(sget(n, "unit"), "x/s/c/g03");
	assert_string_equal(sget(n, "unit_name"), "北大街社区第三网格");
	assert_string_equal(sget(n, "category"), "urban_management");
	assert_string_equal(sget(n, "category_name"), "城市管理");
	assert_string_equal(sget(n, "level_name"), "网格员");
	assert_string_equal(sget(n, "ack_deadline"), "2026-11-26T04:30:00.000Z");
	assert_string_equal(sget(n, "resolve_deadline"), "2026-11-27T04:00:00.000Z");
	assert_true(json_is_null(json_object_get(n, "verify_deadline")));
	assert_true(json_is_null(json_object_get(n, "review_deadline")));
	assert_string_equal(sget(n, "deadline"), "2026-11-26T04:30:00.000Z");
	json_t *to = json_object_get(n, "to");
	assert_string_equal(joined(to, "id"), "ly,wuye");
	assert_string_equal(sget(nth(to, 0), "name"), "刘洋");
	assert_string_equal(joined(json_object_get(nth(to, 0), "notify"), NULL),
	                    "sms:+8613800000001,wechat:liuyang");
	assert_string_equal(joined(json_object_get(nth(to, 1), "notify"), NULL),
	                    "sms:+8613800000003");

	assert_due(&e, LC_SET, t0 + 30 * MIN);
	assert_int_equal(e.deadlines, LC_KEEP); /* its deadline is its gr:due score: no member */
	assert_int_equal(e.open, LC_SET);
	assert_int_equal(e.open_score, t0);
	assert_int_equal(e.dedup, LC_SET);
	assert_ptr_equal(e.dedup_key, inc.dedup_key);
	assert_false(e.expire);

	effects_free(&e);
	incident_free(&inc);
}

/* Starting at a vacant level: skipped first, then assigned higher up, with that level's durations.
 */
/*
 * The JSON texts are written by hand (not by Jansson): every escape must
 * come out as Jansson's JSON_COMPACT dump would write it, byte for byte.
 */
static void test_json_escapes(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct effects e;
	static const char title[] = "a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f 井盖\xe2\x80\xa8";

	create(f->basic,
	       "{\"id\":\"p-1\",\"category\":\"urban_management\",\"unit\":\"x/s/c/g03\","
	       "\"title\":\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\x7f 井盖\\u2028\"}",
	       t0, &inc, &e);
	json_t *a = nth(JL(&e.assignments), 0);
	assert_string_equal(sget(a, "title"), title);
	char *want = json_dumps(a, JSON_COMPACT);
	assert_non_null(want);
	assert_string_equal(lc_item(&e.assignments, 0), want);
	free(want);
	for (size_t i = 0; i < e.events.n; i++) {
		want = json_dumps(nth(JL(&e.events), i), JSON_COMPACT);
		assert_string_equal(lc_item(&e.events, i), want);
		free(want);
	}
	want = json_dumps(nth(JL(&e.notifications), 0), JSON_COMPACT);
	assert_string_equal(lc_item(&e.notifications, 0), want);
	free(want);
	effects_free(&e);
	incident_free(&inc);
}

static void test_create_skipped(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct effects e;

	create(f->basic, G02_URBAN ",\"severity\":\"high\"}", t0, &inc, &e);
	assert_string_equal(types(&e), "skipped,assigned");
	assert_string_equal(sget(nth(JL(&e.events), 0), "level_key"), "leader");
	assert_source(nth(JL(&e.events), 0), &patrol_src);
	json_t *ev = nth(JL(&e.events), 1);
	assert_int_equal(iget(ev, "level"), 3);
	assert_string_equal(sget(ev, "level_key"), "community");
	assert_string_equal(joined(json_object_get(ev, "assignees"), NULL), "zq");
	assert_field(&e, "policy", "lead");
	assert_field(&e, "level", "3");
	/* one position above start_level: the second entry of each list */
	assert_field_ms(&e, "ack_deadline", t0 + 10 * MIN);
	assert_field_ms(&e, "resolve_deadline", t0 + 2 * HOUR);
	assert_string_equal(joined(json_object_get(nth(JL(&e.notifications), 0), "to"), "id"),
	                    "zq,wuye");
	assert_int_equal(e.dedup, LC_KEEP);
	assert_null(e.dedup_key);
	effects_free(&e);
	incident_free(&inc);
}

/* due_at caps the first resolve deadline, and only the first. */
static void test_due_at_cap(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct effects e;
	struct inc_record rec;

	create(f->basic, G03_URBAN ",\"due_at\":\"2026-11-26T13:00:00+08:00\"}", t0, &inc, &e);
	assert_field_ms(&e, "resolve_deadline", t0 + HOUR);
	assert_field_ms(&e, "ack_deadline", t0 + 30 * MIN);
	assert_due(&e, LC_SET, t0 + 30 * MIN);
	assert_string_equal(sget(nth(JL(&e.assignments), 0), "resolve_deadline"),
	                    "2026-11-26T05:00:00.000Z");
	effects_free(&e);
	incident_free(&inc);

	/* a later due_at does not stretch the policy's deadline */
	create(f->basic, G03_URBAN ",\"due_at\":\"2027-01-01T00:00:00Z\"}", t0, &inc, &e);
	assert_field_ms(&e, "resolve_deadline", t0 + DAY);
	effects_free(&e);
	incident_free(&inc);

	json_t *h = stored(f->basic, G03_URBAN ",\"due_at\":\"2026-11-26T05:00:00Z\"}", t0, &rec);
	assert_int_equal(deadline(f->basic, &rec, t0 + 30 * MIN, &e), 1);
	assert_string_equal(types(&e), "escalated");
	assert_field_ms(&e, "resolve_deadline", t0 + 30 * MIN + DAY);
	effects_free(&e);
	done(h, &rec);
}

/* --- deadlines ---------------------------------------------------------- */

static void test_deadline_not_due(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	assert_int_equal(deadline(f->basic, &rec, t0 + 30 * MIN - 1, &e), 0);
	assert_due(&e, LC_SET, t0 + 30 * MIN);
	assert_int_equal(json_object_size(JF(&e.fields)), 0);
	assert_int_equal(json_array_size(JL(&e.events)), 0);
	assert_int_equal(json_array_size(JL(&e.notifications)), 0);
	assert_int_equal(e.open, LC_KEEP);
	assert_int_equal(e.dedup, LC_KEEP);
	effects_free(&e);
	done(h, &rec);
}

static void test_ack_timeout(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);
	int64_t t = t0 + 30 * MIN;

	assert_int_equal(deadline(f->basic, &rec, t, &e), 1);
	assert_string_equal(types(&e), "escalated");
	json_t *ev = nth(JL(&e.events), 0);
	assert_source(ev, NULL);
	assert_string_equal(sget(ev, "reason"), "ack_timeout");
	assert_int_equal(iget(ev, "level"), 2);
	assert_string_equal(sget(ev, "level_key"), "leader");
	assert_string_equal(joined(json_object_get(ev, "assignees"), NULL), "cj");
	assert_string_equal(sget(ev, "at"), rfc(t));

	assert_no_field(&e, "state"); /* open it was, open it stays */
	assert_field(&e, "level", "2");
	assert_field(&e, "level_key", "leader");
	assert_field(&e, "assignees", "[\"cj\"]");
	assert_no_field(&e, "co_assignees"); /* the same at the new level */
	assert_field_ms(&e, "ack_deadline", t + 30 * MIN);
	assert_field_ms(&e, "resolve_deadline", t + DAY);
	assert_no_field(&e, "breached"); /* nothing was breached: nothing to clear */
	assert_field_ms(&e, "updated_at", t);
	assert_no_field(&e, "policy");
	assert_no_field(&e, "doc");
	assert_no_field(&e, "count");
	assert_no_field(&e, "created_at");
	assert_due(&e, LC_SET, t + 30 * MIN);

	json_t *a = nth(JL(&e.assignments), 0);
	assert_string_equal(sget(a, "event"), "escalated");
	assert_string_equal(sget(a, "reason"), "ack_timeout");
	assert_string_equal(sget(a, "level_name"), "网格长");
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "escalated");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "cj,wuye");
	assert_non_null(strstr(sget(n, "text"), "escalated to 网格长"));

	apply(h, &e, &rec);
	assert_int_equal(rec.level_num, 2);
	assert_int_equal(rec.version, 2);
	assert_int_equal(deadline(f->basic, &rec, t + 1, &e), 0);
	assert_due(&e, LC_SET, t + 30 * MIN);
	effects_free(&e);
	done(h, &rec);
}

static void test_resolve_timeout(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN ",\"due_at\":\"2026-11-26T04:10:00Z\"}", t0, &rec);

	assert_int_equal(deadline(f->basic, &rec, t0 + 9 * MIN, &e), 0);
	assert_due(&e, LC_SET, t0 + 10 * MIN);
	effects_free(&e);
	assert_int_equal(deadline(f->basic, &rec, t0 + 10 * MIN, &e), 1);
	assert_string_equal(types(&e), "escalated");
	assert_string_equal(sget(nth(JL(&e.events), 0), "reason"), "resolve_timeout");
	assert_string_equal(sget(nth(JL(&e.assignments), 0), "reason"), "resolve_timeout");
	effects_free(&e);
	done(h, &rec);
}

static void test_tie_is_ack_timeout(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN ",\"due_at\":\"2026-11-26T04:30:00Z\"}", t0, &rec);

	assert_int_equal(rec.ack_deadline, rec.resolve_deadline);
	assert_int_equal(deadline(f->basic, &rec, t0 + 30 * MIN, &e), 1);
	assert_string_equal(sget(nth(JL(&e.events), 0), "reason"), "ack_timeout");
	effects_free(&e);
	done(h, &rec);
}

static void test_acked_waits_on_resolve(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	command_ok(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"ly\"}", t0 + MIN,
	           &e);
	apply(h, &e, &rec);
	assert_int_equal(rec.state, STATE_ACKED);

	assert_int_equal(deadline(f->basic, &rec, t0 + 30 * MIN, &e), 0);
	assert_due(&e, LC_SET, t0 + DAY);
	effects_free(&e);
	assert_int_equal(deadline(f->basic, &rec, t0 + DAY, &e), 1);
	assert_string_equal(types(&e), "escalated");
	assert_string_equal(sget(nth(JL(&e.events), 0), "reason"), "resolve_timeout");
	assert_field(&e, "state", "open");
	assert_field(&e, "level_key", "leader");
	apply(h, &e, &rec);
	assert_int_equal(rec.state, STATE_OPEN);
	done(h, &rec);
}

static void test_skip_vacant(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G02_URBAN "}", t0, &rec);

	assert_string_equal(rec.level_key, "member");
	assert_int_equal(deadline(f->basic, &rec, t0 + HOUR, &e), 1);
	assert_string_equal(types(&e), "skipped,escalated");
	assert_string_equal(sget(nth(JL(&e.events), 0), "level_key"), "leader");
	assert_source(nth(JL(&e.events), 0), NULL);
	assert_int_equal(iget(nth(JL(&e.events), 1), "level"), 3);
	assert_field(&e, "level_key", "community");
	assert_field(&e, "assignees", "[\"zq\"]");
	/* t is the daemon's clock when it applies the step, not the deadline */
	assert_field_ms(&e, "ack_deadline", t0 + HOUR + 30 * MIN);
	assert_int_equal(json_array_size(JL(&e.assignments)), 1);
	assert_int_equal(json_array_size(JL(&e.notifications)), 1);
	effects_free(&e);
	done(h, &rec);
}

/* At the last level: breached once per deadline, then waiting, then out of gr:due. */
static void test_breach_last_level(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, Y_URBAN, t0, &rec);

	assert_string_equal(rec.level_key, "district");
	assert_string_equal(rec.policy, "top");
	assert_int_equal(deadline(f->basic, &rec, t0 + HOUR, &e), 1);
	assert_string_equal(types(&e), "breached");
	json_t *ev = nth(JL(&e.events), 0);
	assert_string_equal(sget(ev, "level_key"), "district");
	assert_string_equal(sget(ev, "reason"), "ack_timeout");
	assert_source(ev, NULL);
	assert_int_equal(json_object_size(JF(&e.fields)), 2);
	assert_field(&e, "breached", "ack");
	assert_field_ms(&e, "updated_at", t0 + HOUR);
	assert_int_equal(json_array_size(JL(&e.assignments)), 0);
	assert_due(&e, LC_SET, t0 + DAY);
	assert_int_equal(e.open, LC_KEEP);
	/* the last level's people and every admin, once each */
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "breached");
	assert_string_equal(sget(n, "level_key"), "district");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "yduty,cc,cc2");
	assert_non_null(strstr(sget(n, "text"), "not acknowledged by "));
	apply(h, &e, &rec);
	assert_int_equal(rec.breached, LC_BREACHED_ACK);
	assert_int_equal(rec.state, STATE_OPEN);

	/* once: the ack deadline is no longer pending */
	assert_int_equal(deadline(f->basic, &rec, t0 + HOUR, &e), 0);
	assert_due(&e, LC_SET, t0 + DAY);
	assert_int_equal(json_array_size(JL(&e.events)), 0);
	effects_free(&e);

	assert_int_equal(deadline(f->basic, &rec, t0 + DAY, &e), 1);
	assert_string_equal(types(&e), "breached");
	assert_string_equal(sget(nth(JL(&e.events), 0), "reason"), "resolve_timeout");
	assert_field(&e, "breached", "ack,resolve");
	assert_due(&e, LC_REM, 0);
	apply(h, &e, &rec);
	assert_int_equal(rec.breached, LC_BREACHED_ACK | LC_BREACHED_RESOLVE);

	assert_int_equal(deadline(f->basic, &rec, t0 + 2 * DAY, &e), 0);
	assert_due(&e, LC_REM, 0);
	assert_int_equal(json_array_size(JL(&e.events)), 0);
	effects_free(&e);

	/* an escalation clears what was breached */
	command_ok(
	        f->basic, &rec,
	        "{\"op\":\"reassign\",\"incident\":\"p-3\",\"by\":\"cc\",\"level\":\"district\"}",
	        t0 + 2 * DAY, &e);
	assert_field(&e, "breached", "");
	effects_free(&e);
	done(h, &rec);
}

/* Acked at the last level: only the resolve deadline can breach. */
static void test_breach_acked(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, Y_URBAN, t0, &rec);

	command_ok(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-3\",\"by\":\"yduty\"}",
	           t0 + 2 * HOUR, &e);
	assert_due(&e, LC_SET, t0 + DAY);
	apply(h, &e, &rec);
	assert_int_equal(deadline(f->basic, &rec, t0 + DAY, &e), 1);
	assert_string_equal(sget(nth(JL(&e.events), 0), "reason"), "resolve_timeout");
	assert_field(&e, "breached", "resolve");
	assert_due(&e, LC_REM, 0);
	effects_free(&e);
	done(h, &rec);
}

static void test_deadline_resolved(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	command_ok(f->basic, &rec, "{\"op\":\"resolve\",\"incident\":\"p-1\",\"by\":\"ly\"}",
	           t0 + MIN, &e);
	apply(h, &e, &rec);
	assert_int_equal(deadline(f->basic, &rec, t0 + 2 * DAY, &e), 0);
	assert_due(&e, LC_REM, 0);
	effects_free(&e);
	done(h, &rec);
}

/* The chain comes from the current rules: new people, a renamed policy, a vanished category. */
static void test_deadline_rules_changed(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic,
	                   "{\"id\":\"p-4\",\"category\":\"legal\",\"unit\":\"x/s/c/g03\","
	                   "\"title\":\"纠纷\"}",
	                   t0, &rec);
	int64_t t = t0 + 30 * MIN;

	assert_string_equal(rec.policy, "default");
	assert_int_equal(deadline(f->changed, &rec, t, &e), 1);
	assert_string_equal(types(&e), "escalated");
	assert_field(&e, "assignees", "[\"m2\"]");
	assert_field(&e, "policy", "catchall");
	assert_field_ms(&e, "ack_deadline", t + 20 * MIN);
	assert_string_equal(sget(nth(JL(&e.assignments), 0), "policy"), "catchall");
	effects_free(&e);
	done(h, &rec);

	/* urban_management is gone: every level is vacant, the deadline breaches */
	h = stored(f->basic, G03_URBAN "}", t0, &rec);
	assert_int_equal(deadline(f->changed, &rec, t, &e), 1);
	assert_string_equal(types(&e), "breached");
	assert_string_equal(sget(nth(JL(&e.events), 0), "level_key"), "member");
	assert_due(&e, LC_SET, t0 + DAY);
	/* ly is gone from the rules and still told, with no way to reach them */
	json_t *to = json_object_get(nth(JL(&e.notifications), 0), "to");
	assert_string_equal(joined(to, "id"), "ly,cc,cc2");
	assert_string_equal(sget(nth(to, 0), "name"), "ly");
	assert_int_equal(json_array_size(json_object_get(nth(to, 0), "notify")), 0);
	const char *text = sget(nth(JL(&e.notifications), 0), "text");
	assert_non_null(strstr(text, "urban_management"));
	effects_free(&e);
	done(h, &rec);
}

/* --- commands ----------------------------------------------------------- */

static void test_cmd_ack(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);
	int64_t t = t0 + 5 * MIN;

	command_ok(f->basic, &rec,
	           "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"ly\",\"note\":\"on my way\"}", t,
	           &e);
	assert_int_equal(json_object_size(JF(&e.fields)), 2);
	assert_field(&e, "state", "acked");
	assert_field_ms(&e, "updated_at", t);
	assert_string_equal(types(&e), "acked");
	json_t *ev = nth(JL(&e.events), 0);
	assert_source(ev, &cmd_src);
	assert_string_equal(sget(ev, "by"), "ly");
	assert_string_equal(sget(ev, "note"), "on my way");
	assert_string_equal(sget(ev, "at"), rfc(t));
	assert_int_equal(json_array_size(JL(&e.assignments)), 0);
	/* everyone on it but the actor */
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "acked");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "wuye");
	assert_string_equal(sget(n, "level_key"), "member");
	assert_string_equal(sget(n, "text"), "[北大街社区第三网格 · 城市管理] 井盖缺失: "
	                                     "acknowledged by 刘洋: \"on my way\"; resolve by "
	                                     "Nov 27 12:00.");
	assert_due(&e, LC_SET, t0 + DAY);
	assert_int_equal(e.open, LC_KEEP);
	assert_int_equal(e.dedup, LC_KEEP);
	assert_false(e.expire);
	effects_free(&e);

	/* no note: null */
	command_ok(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"wuye\"}", t, &e);
	assert_true(json_is_null(json_object_get(nth(JL(&e.events), 0), "note")));
	assert_string_equal(joined(json_object_get(nth(JL(&e.notifications), 0), "to"), "id"),
	                    "ly");
	effects_free(&e);
	done(h, &rec);
}

static void test_cmd_resolve(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN ",\"dedup_key\":\"cover-7\"}", t0, &rec);

	command_ok(f->basic, &rec,
	           "{\"op\":\"resolve\",\"incident\":\"p-1\",\"by\":\"cj\",\"note\":\"fixed\"}",
	           t0 + HOUR, &e);
	assert_field(&e, "state", "resolved");
	assert_field_ms(&e, "updated_at", t0 + HOUR);
	assert_string_equal(types(&e), "resolved");
	assert_string_equal(sget(nth(JL(&e.events), 0), "by"), "cj");
	assert_string_equal(sget(nth(JL(&e.events), 0), "note"), "fixed");
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "resolved");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "ly,wuye");
	assert_due(&e, LC_REM, 0);
	assert_int_equal(e.open, LC_REM);
	assert_int_equal(e.dedup, LC_REM);
	assert_string_equal(e.dedup_key, "cover-7");
	assert_ptr_equal(e.dedup_key, rec.inc.dedup_key);
	assert_true(e.expire);
	apply(h, &e, &rec);
	assert_int_equal(rec.state, STATE_RESOLVED);

	/* a comment on a resolved incident is still fine, and changes nothing else */
	command_ok(f->basic, &rec,
	           "{\"op\":\"comment\",\"incident\":\"p-1\",\"by\":\"ly\",\"note\":\"thanks\"}",
	           t0 + 2 * HOUR, &e);
	assert_string_equal(types(&e), "comment");
	assert_due(&e, LC_KEEP, 0);
	assert_int_equal(e.open, LC_KEEP);
	assert_false(e.expire);
	effects_free(&e);
	done(h, &rec);

	/* no dedup key: gr:dedup is left alone */
	h = stored(f->basic, G03_URBAN "}", t0, &rec);
	command_ok(f->basic, &rec, "{\"op\":\"resolve\",\"incident\":\"p-1\",\"by\":\"ly\"}",
	           t0 + HOUR, &e);
	assert_int_equal(e.dedup, LC_KEEP);
	assert_int_equal(e.open, LC_REM);
	effects_free(&e);
	done(h, &rec);
}

static void test_cmd_escalate(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);
	int64_t t = t0 + 10 * MIN;

	command_ok(f->basic, &rec, "{\"op\":\"escalate\",\"incident\":\"p-1\",\"by\":\"cj\"}", t,
	           &e);
	assert_string_equal(types(&e), "escalated");
	json_t *ev = nth(JL(&e.events), 0);
	assert_string_equal(sget(ev, "reason"), "manual");
	assert_string_equal(sget(ev, "level_key"), "leader");
	assert_source(ev, &cmd_src);
	assert_field(&e, "level", "2");
	assert_field_ms(&e, "ack_deadline", t + 30 * MIN);
	assert_field_ms(&e, "updated_at", t);
	assert_string_equal(sget(nth(JL(&e.assignments), 0), "reason"), "manual");
	/* the new people less the actor (cj escalated to cj's own level) */
	assert_string_equal(joined(json_object_get(nth(JL(&e.notifications), 0), "to"), "id"),
	                    "wuye");
	assert_due(&e, LC_SET, t + 30 * MIN);
	effects_free(&e);
	done(h, &rec);

	/* from an acked incident, over a vacant level */
	h = stored(f->basic, G02_URBAN "}", t0, &rec);
	command_ok(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-2\",\"by\":\"m2\"}", t, &e);
	apply(h, &e, &rec);
	command_ok(f->basic, &rec, "{\"op\":\"escalate\",\"incident\":\"p-2\",\"by\":\"cc\"}", t,
	           &e);
	assert_string_equal(types(&e), "skipped,escalated");
	assert_string_equal(sget(nth(JL(&e.events), 0), "level_key"), "leader");
	assert_source(nth(JL(&e.events), 0), &cmd_src);
	assert_field(&e, "state", "open");
	assert_field(&e, "level_key", "community");
	effects_free(&e);
	done(h, &rec);
}

static void test_cmd_reassign(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);
	int64_t t = t0 + 10 * MIN;

	command_ok(f->basic, &rec,
	           "{\"op\":\"reassign\",\"incident\":\"p-1\",\"by\":\"cc\",\"level\":\"street\"}",
	           t, &e);
	assert_string_equal(types(&e), "reassigned");
	json_t *ev = nth(JL(&e.events), 0);
	assert_string_equal(sget(ev, "reason"), "reassign");
	assert_int_equal(iget(ev, "level"), 4);
	assert_field(&e, "level_key", "street");
	assert_field(&e, "assignees", "[\"soffice\"]");
	json_t *a = nth(JL(&e.assignments), 0);
	assert_string_equal(sget(a, "event"), "reassigned");
	assert_string_equal(sget(a, "level_name"), "街道");
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "reassigned");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "soffice,wuye");
	apply(h, &e, &rec);

	/* and back down: levels below are reachable by reassign */
	command_ok(f->basic, &rec,
	           "{\"op\":\"reassign\",\"incident\":\"p-1\",\"by\":\"soffice\",\"level\":"
	           "\"member\"}",
	           t + MIN, &e);
	assert_field(&e, "level_key", "member");
	assert_field(&e, "level", "1");
	assert_string_equal(types(&e), "reassigned");
	effects_free(&e);
	done(h, &rec);
}

static void test_cmd_comment(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	/* from above the current level: everyone on it is told */
	command_ok(f->basic, &rec,
	           "{\"op\":\"comment\",\"incident\":\"p-1\",\"by\":\"zq\",\"note\":"
	           "\"看一下\\n谢谢\"}",
	           t0 + MIN, &e);
	assert_string_equal(types(&e), "comment");
	json_t *ev = nth(JL(&e.events), 0);
	assert_string_equal(sget(ev, "by"), "zq");
	assert_string_equal(sget(ev, "note"), "看一下\n谢谢");
	assert_int_equal(json_object_size(JF(&e.fields)), 1);
	assert_field_ms(&e, "updated_at", t0 + MIN);
	assert_due(&e, LC_KEEP, 0);
	assert_int_equal(e.open, LC_KEEP);
	assert_int_equal(e.dedup, LC_KEEP);
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "comment");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "ly,wuye");
	/* one line */
	assert_null(strchr(sget(n, "text"), '\n'));
	assert_non_null(strstr(sget(n, "text"), "comment by 张倩"));
	assert_non_null(strstr(sget(n, "text"), "; acknowledge by "));
	effects_free(&e);

	/* the actor is left out */
	command_ok(f->basic, &rec, "{\"op\":\"comment\",\"incident\":\"p-1\",\"by\":\"ly\"}",
	           t0 + MIN, &e);
	assert_string_equal(joined(json_object_get(nth(JL(&e.notifications), 0), "to"), "id"),
	                    "wuye");
	effects_free(&e);
	done(h, &rec);

	/* nobody left to tell: the event, but no notification */
	h = stored(f->basic, Z_URBAN, t0, &rec);
	command_ok(f->basic, &rec, "{\"op\":\"comment\",\"incident\":\"p-5\",\"by\":\"cc\"}", t0,
	           &e);
	assert_string_equal(types(&e), "comment");
	assert_int_equal(json_array_size(JL(&e.notifications)), 0);
	effects_free(&e);
	done(h, &rec);
}

/* A title with control characters still makes a one-line sentence. */
static void test_text_one_line(void **state)
{
	struct fixture *f = *state;
	struct incident inc;
	struct effects e;

	create(f->basic,
	       "{\"id\":\"p-9\",\"category\":\"urban_management\",\"unit\":\"x/s/c/g03/far\","
	       "\"title\":\"a\\nb\\tc\\u2028d\"}",
	       t0, &inc, &e);
	const char *text = sget(nth(JL(&e.notifications), 0), "text");
	for (const char *p = text; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	assert_null(strstr(text, "\xe2\x80\xa8"));
	assert_non_null(strstr(text, "a b c d: assigned"));
	/* the reported unit fell back to a configured one */
	json_t *a = nth(JL(&e.assignments), 0);
	assert_string_equal(sget(a, "unit"), "x/s/c/g03");
	assert_string_equal(sget(a, "reported_unit"), "x/s/c/g03/far");
	effects_free(&e);
	incident_free(&inc);
}

static void assert_rejected(const struct rules *r, const struct inc_record *rec, const char *json,
                            enum reason want)
{
	struct effects e;
	struct rejection rj = {REASON_NONE, ""};

	if (command(r, rec, json, t0 + MIN, &e, &rj) == 0)
		fail_msg("accepted: %s", json);
	assert_string_equal(reason_code(rj.reason), reason_code(want));
	assert_true(strlen(rj.msg) > 0);
	assert_int_equal(json_object_size(JF(&e.fields)), 0);
	assert_int_equal(json_array_size(JL(&e.events)), 0);
	assert_int_equal(json_array_size(JL(&e.notifications)), 0);
	assert_int_equal(e.due, LC_KEEP);
	effects_free(&e);
}

static void test_cmd_rejections(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	/* not on the chain, unknown, a co-assignee escalating, below the current level */
	assert_rejected(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"m2\"}",
	                REASON_NOT_AUTHORIZED);
	assert_rejected(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"nobody\"}",
	                REASON_NOT_AUTHORIZED);
	assert_rejected(f->basic, &rec,
	                "{\"op\":\"escalate\",\"incident\":\"p-1\",\"by\":\"wuye\"}",
	                REASON_NOT_AUTHORIZED);
	assert_rejected(f->basic, &rec,
	                "{\"op\":\"reassign\",\"incident\":\"p-1\",\"by\":\"m2\",\"level\":"
	                "\"leader\"}",
	                REASON_NOT_AUTHORIZED);
	done(h, &rec);
}

static void test_cmd_transitions(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G02_URBAN "}", t0, &rec);

	assert_rejected(f->basic, &rec,
	                "{\"op\":\"reassign\",\"incident\":\"p-2\",\"by\":\"cc\",\"level\":"
	                "\"leader\"}",
	                REASON_INVALID_TRANSITION);
	command_ok(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-2\",\"by\":\"m2\"}", t0, &e);
	apply(h, &e, &rec);
	assert_rejected(f->basic, &rec, "{\"op\":\"ack\",\"incident\":\"p-2\",\"by\":\"m2\"}",
	                REASON_INVALID_TRANSITION);
	command_ok(f->basic, &rec, "{\"op\":\"resolve\",\"incident\":\"p-2\",\"by\":\"m2\"}", t0,
	           &e);
	apply(h, &e, &rec);
	assert_rejected(f->basic, &rec, "{\"op\":\"resolve\",\"incident\":\"p-2\",\"by\":\"m2\"}",
	                REASON_INVALID_TRANSITION);
	assert_rejected(f->basic, &rec, "{\"op\":\"escalate\",\"incident\":\"p-2\",\"by\":\"cc\"}",
	                REASON_INVALID_TRANSITION);
	done(h, &rec);

	/* nowhere to escalate to from the last level */
	h = stored(f->basic, Y_URBAN, t0, &rec);
	assert_rejected(f->basic, &rec, "{\"op\":\"escalate\",\"incident\":\"p-3\",\"by\":\"cc\"}",
	                REASON_INVALID_TRANSITION);
	done(h, &rec);

	/* a category the rules no longer have: no escalation, but a co-assignee may still act */
	h = stored(f->basic, G03_URBAN "}", t0, &rec);
	assert_rejected(f->changed, &rec,
	                "{\"op\":\"escalate\",\"incident\":\"p-1\",\"by\":\"cc\"}",
	                REASON_INVALID_TRANSITION);
	command_ok(f->changed, &rec, "{\"op\":\"ack\",\"incident\":\"p-1\",\"by\":\"wuye\"}", t0,
	           &e);
	assert_string_equal(types(&e), "acked");
	effects_free(&e);
	done(h, &rec);
}

/* --- duplicates --------------------------------------------------------- */

static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	struct effects e;
	json_t *h = stored(f->basic, G03_URBAN ",\"dedup_key\":\"cover-7\"}", t0, &rec);
	struct lc_source src = {"gr:in:feedback", "1700000000005-0"};

	duplicate(f->basic, &rec, t0 + 5 * MIN, &src, &e);
	assert_int_equal(json_object_size(JF(&e.fields)), 3);
	assert_field(&e, "count", "2");
	assert_field_ms(&e, "last_seen_at", t0 + 5 * MIN);
	assert_field_ms(&e, "updated_at", t0 + 5 * MIN);
	assert_string_equal(types(&e), "duplicate");
	json_t *ev = nth(JL(&e.events), 0);
	assert_int_equal(iget(ev, "count"), 2);
	assert_source(ev, &src);
	assert_int_equal(json_array_size(JL(&e.assignments)), 0);
	/* the current assignees only */
	json_t *n = nth(JL(&e.notifications), 0);
	assert_string_equal(sget(n, "type"), "duplicate");
	assert_string_equal(joined(json_object_get(n, "to"), "id"), "ly");
	assert_string_equal(sget(n, "level_key"), "member");
	assert_due(&e, LC_KEEP, 0);
	assert_int_equal(e.open, LC_KEEP);
	assert_int_equal(e.dedup, LC_KEEP);
	apply(h, &e, &rec);
	assert_int_equal(rec.count, 2);
	assert_int_equal(rec.last_seen_at, t0 + 5 * MIN);
	assert_int_equal(rec.created_at, t0);

	duplicate(f->basic, &rec, t0 + 6 * MIN, &src, &e);
	assert_int_equal(iget(nth(JL(&e.events), 0), "count"), 3);
	effects_free(&e);
	done(h, &rec);
}

/* --- the stored record -------------------------------------------------- */

static void test_record_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	json_t *h = stored(f->basic,
	                   G02_URBAN ",\"severity\":\"high\",\"dedup_key\":\"k\","
	                             "\"due_at\":\"2026-11-26T04:07:00Z\",\"extra\":{\"a\":1}}",
	                   t0, &rec);

	assert_string_equal(rec.id, "p-2");
	assert_string_equal(rec.inc.id, "p-2");
	assert_string_equal(rec.inc.category, "urban_management");
	assert_string_equal(rec.inc.unit, "x/s/c/g02");
	assert_int_equal(rec.inc.unit_len, strlen("x/s/c/g02"));
	assert_string_equal(rec.inc.title, "占道经营");
	assert_string_equal(rec.inc.dedup_key, "k");
	assert_int_equal(rec.inc.channel, CH_PATROL);
	assert_int_equal(rec.inc.severity, SEV_HIGH);
	assert_int_equal(rec.inc.due_at, t0 + 7 * MIN);
	assert_int_equal(rec.inc.reported_at, t0);
	json_t *doc = json_loadb(rec.inc.doc, rec.inc.doc_len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "extra"), "a")),
	                 1);
	json_decref(doc);
	assert_int_equal(rec.state, STATE_OPEN);
	assert_int_equal(rec.level_num, 3);
	assert_string_equal(rec.level_key, "community");
	assert_int_equal(rec.nassignees, 1);
	assert_string_equal(rec.assignees[0], "zq");
	assert_int_equal(rec.nco, 1);
	assert_string_equal(rec.co_assignees[0], "wuye");
	assert_string_equal(rec.policy, "lead");
	/* community is one above start_level leader: 10m, 2h capped by due_at */
	assert_int_equal(rec.ack_deadline, t0 + 10 * MIN);
	assert_int_equal(rec.resolve_deadline, t0 + 7 * MIN);
	assert_int_equal(rec.created_at, t0);
	assert_int_equal(rec.updated_at, t0);
	assert_int_equal(rec.last_seen_at, t0);
	assert_int_equal(rec.count, 1);
	assert_int_equal(rec.version, 1);
	assert_int_equal(rec.breached, 0);
	done(h, &rec);
}

/* One field replaced (value NULL: removed); the error must name it. */
static void assert_bad_field(const struct rules *r, const char *field, const char *value)
{
	struct inc_record rec;
	char err[256] = "";
	json_t *h = stored(r, G03_URBAN "}", t0, &rec);

	inc_record_free(&rec);
	if (value == NULL)
		json_object_del(h, field);
	else
		json_object_set_new(h, field, json_string(value));
	if (hash_record(h, "p-1", &rec, err, sizeof(err)) == 0)
		fail_msg("field %s=%s accepted", field, value != NULL ? value : "(missing)");
	if (strstr(err, field) == NULL)
		fail_msg("error \"%s\" does not name field \"%s\"", err, field);
	for (const char *p = err; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20);
	inc_record_free(&rec);
	json_decref(h);
}

static void test_record_bad(void **state)
{
	struct fixture *f = *state;
	static const char *const required[] = {
	        "doc",        "channel",      "state",        "level",        "level_key",
	        "assignees",  "co_assignees", "policy",       "ack_deadline", "resolve_deadline",
	        "created_at", "updated_at",   "last_seen_at", "count",        "version"};

	for (size_t i = 0; i < GR_NELEM(required); i++)
		assert_bad_field(f->basic, required[i], NULL);

	assert_bad_field(f->basic, "doc", "{");
	assert_bad_field(f->basic, "doc", "[]");
	assert_bad_field(f->basic, "doc",
	                 "{\"id\":\"other\",\"category\":\"urban_management\",\"unit\":\"x\","
	                 "\"title\":\"t\"}");
	assert_bad_field(f->basic, "channel", "radio");
	assert_bad_field(f->basic, "channel", "alert"); /* the doc says patrol */
	assert_bad_field(f->basic, "state", "closed");
	assert_bad_field(f->basic, "level", "0");
	assert_bad_field(f->basic, "level", "10");
	assert_bad_field(f->basic, "level", "1x");
	assert_bad_field(f->basic, "level_key", "");
	assert_bad_field(f->basic, "assignees", "ly");
	assert_bad_field(f->basic, "assignees", "[1]");
	assert_bad_field(f->basic, "co_assignees", "{}");
	assert_bad_field(f->basic, "ack_deadline", "soon");
	assert_bad_field(f->basic, "resolve_deadline", "-1");
	assert_bad_field(f->basic, "created_at", "");
	assert_bad_field(f->basic, "count", "0");
	assert_bad_field(f->basic, "version", "v1");
	assert_bad_field(f->basic, "breached", "both");
	assert_bad_field(f->basic, "breached", "ack,");
	assert_bad_field(f->basic, "breached", "\x01\n");
}

static void test_record_optional(void **state)
{
	struct fixture *f = *state;
	struct inc_record rec;
	json_t *h = stored(f->basic, G03_URBAN "}", t0, &rec);

	/* "breached" may be absent (older writers), and unknown fields are left alone */
	inc_record_free(&rec);
	json_object_del(h, "breached");
	json_object_set_new(h, "future_field", json_string("x"));
	hash_load(h, "p-1", &rec);
	assert_int_equal(rec.breached, 0);
	inc_record_free(&rec);

	json_object_set_new(h, "breached", json_string("resolve,ack"));
	hash_load(h, "p-1", &rec);
	assert_int_equal(rec.breached, LC_BREACHED_ACK | LC_BREACHED_RESOLVE);
	done(h, &rec);

	/* a zeroed record frees cleanly */
	memset(&rec, 0, sizeof(rec));
	inc_record_free(&rec);
	inc_record_free(NULL);
	effects_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create),
	        cmocka_unit_test(test_json_escapes),
	        cmocka_unit_test(test_create_skipped),
	        cmocka_unit_test(test_due_at_cap),
	        cmocka_unit_test(test_deadline_not_due),
	        cmocka_unit_test(test_ack_timeout),
	        cmocka_unit_test(test_resolve_timeout),
	        cmocka_unit_test(test_tie_is_ack_timeout),
	        cmocka_unit_test(test_acked_waits_on_resolve),
	        cmocka_unit_test(test_skip_vacant),
	        cmocka_unit_test(test_breach_last_level),
	        cmocka_unit_test(test_breach_acked),
	        cmocka_unit_test(test_deadline_resolved),
	        cmocka_unit_test(test_deadline_rules_changed),
	        cmocka_unit_test(test_cmd_ack),
	        cmocka_unit_test(test_cmd_resolve),
	        cmocka_unit_test(test_cmd_escalate),
	        cmocka_unit_test(test_cmd_reassign),
	        cmocka_unit_test(test_cmd_comment),
	        cmocka_unit_test(test_text_one_line),
	        cmocka_unit_test(test_cmd_rejections),
	        cmocka_unit_test(test_cmd_transitions),
	        cmocka_unit_test(test_duplicate),
	        cmocka_unit_test(test_record_roundtrip),
	        cmocka_unit_test(test_record_bad),
	        cmocka_unit_test(test_record_optional),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
