/*
 * test_incident.c: incident and command JSON in (incident.h): every
 * reason code reachable here, defaults and normalization, boundaries, and
 * hostile input that must be refused cleanly. Every input here also goes
 * through the Jansson-based parser this one replaced (ref_incident.h), and
 * the two must agree: same answer, same sentence, equal documents. Where
 * the input holds numbers too big for Jansson, which the contract takes
 * (SPEC v2 §4), the reference reads it with them replaced by small ones
 * of the same kind and length (ref_json.h), and so are the stored
 * documents compared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "incident.h"
#include "ref_incident.h"
#include "ref_json.h"

#define ENTRY_ID "1700000000000-0"
#define ENTRY_MS 1700000000000
#define BASE                                                                                       \
	"\"category\":\"urban_management\",\"unit\":\"xifeng/beijie/beidajie/g03\","               \
	"\"title\":\"井盖缺失\""

static const struct incident_ctx patrol = {CH_PATROL, ENTRY_ID, ENTRY_MS, 65536};

/* A message is one clean sentence: no control bytes, valid UTF-8, no newline. */
static void assert_clean_msg(const struct rejection *rj)
{
	size_t len = strnlen(rj->msg, sizeof(rj->msg));

	assert_true(len > 0);
	assert_true(len < sizeof(rj->msg));
	assert_true(utf8_valid(rj->msg, len));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rj->msg[i];
		if (c < 0x20 || c == 0x7f)
			fail_msg("control byte 0x%02x in \"%s\"", c, rj->msg);
	}
}

static void assert_msg_has(const struct rejection *rj, const char *want)
{
	if (strstr(rj->msg, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", rj->msg, want);
}

static struct {
	size_t accepted, refused;
	size_t by_reason[REASON__COUNT];
} diff_tally;

static void show_input(const char *buf, size_t len)
{
	fprintf(stderr, "input (%zu bytes): ", len);
	for (size_t i = 0; i < len && i < 600; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('\n', stderr);
}

/* A and B both NULL, or equal strings. */
static void same_str(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		fail_msg("%s: \"%s\", Jansson-based \"%s\"", what, a ? a : "(null)",
		         b ? b : "(null)");
}

/* The stored document: Jansson reads it as equal to the old one, keys in the same order. */
static void same_doc(const char *doc, size_t doc_len, json_t *want)
{
	json_error_t err;
	json_t *got;
	void *i, *k;

	struct ref_json tame;

	assert_int_equal(strlen(doc), doc_len);
	assert_null(memchr(doc, '\n', doc_len));
	got = ref_json_load(&tame, doc, doc_len, JSON_REJECT_DUPLICATES, &err);
	ref_json_free(&tame);
	if (got == NULL)
		fail_msg("stored document does not load (%s): %s", err.text, doc);
	if (!json_equal(got, want)) {
		char *w = json_dumps(want, JSON_COMPACT);
		fail_msg("stored documents differ:\n%s\n%s", doc, w);
	}
	for (i = json_object_iter(got), k = json_object_iter(want); i != NULL && k != NULL;
	     i = json_object_iter_next(got, i), k = json_object_iter_next(want, k))
		assert_string_equal(json_object_iter_key(i), json_object_iter_key(k));
	json_decref(got);
}

static void same_incident(const struct incident *inc, const struct ref_incident *ref)
{
	same_doc(inc->doc, inc->doc_len, ref->doc);
	same_str("id", inc->id, ref->id);
	same_str("category", inc->category, ref->category);
	same_str("unit", inc->unit, ref->unit);
	assert_int_equal(inc->unit_len, ref->unit_len);
	same_str("title", inc->title, ref->title);
	same_str("dedup_key", inc->dedup_key, ref->dedup_key);
	assert_int_equal(inc->channel, ref->channel);
	assert_int_equal(inc->severity, ref->severity);
	assert_true(inc->reported_at == ref->reported_at);
	assert_true(inc->due_at == ref->due_at);
	assert_int_equal(inc->attrs == NULL, ref->attrs == NULL);
	if (inc->attrs != NULL) {
		const char *key;
		json_t *v;
		size_t i = 0;
		assert_int_equal(inc->nattrs, json_object_size(ref->attrs));
		json_object_foreach(ref->attrs, key, v)
		{
			assert_string_equal(inc->attrs[i].key, key);
			assert_int_equal(inc->attrs[i].value_len, json_string_length(v));
			assert_memory_equal(inc->attrs[i].value, json_string_value(v),
			                    json_string_length(v) + 1);
			i++;
		}
		assert_null(inc->attrs[i].key);
	}
}

/*
 * One input through both parsers. Accepted: the same incident, and its
 * stored document parses back to itself (as inc_record_parse reads it).
 */
static void diff_incident(const char *buf, size_t len, const struct incident_ctx *ctx)
{
	struct incident inc, again;
	struct ref_incident ref;
	struct rejection rj = {REASON_NONE, ""}, rrj = {REASON_NONE, ""};
	int rc, rrc;

	if (ctx->entry_ms == TIME_NONE)
		return; /* the default is "now", a different now for each */
	struct ref_json tame;
	json_error_t je;
	json_t *tj = ref_json_load(&tame, buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	rc = incident_parse(buf, len, ctx, &inc, &rj);
	rrc = ref_incident_parse(tame.text, len, ctx, &ref, &rrj);
	if (tj == NULL)
		ref_json_fix_message(&tame, &je, rrj.msg, sizeof(rrj.msg));
	json_decref(tj);
	ref_json_free(&tame);
	if (rc != rrc || rj.reason != rrj.reason || strcmp(rj.msg, rrj.msg) != 0) {
		show_input(buf, len);
		fail_msg("incident_parse %d %s: %s\nJansson-based %d %s: %s", rc,
		         reason_code(rj.reason), rj.msg, rrc, reason_code(rrj.reason), rrj.msg);
	}
	if (rc != 0) {
		diff_tally.refused++;
		diff_tally.by_reason[rj.reason]++;
		return;
	}
	diff_tally.accepted++;
	same_incident(&inc, &ref);
	struct incident_ctx stored = {inc.channel, NULL, inc.reported_at, 0};
	if (incident_parse(inc.doc, inc.doc_len, &stored, &again, &rj) != 0)
		fail_msg("stored document refused (%s): %s", rj.msg, inc.doc);
	assert_string_equal(again.doc, inc.doc);
	incident_free(&again);
	incident_free(&inc);
	ref_incident_free(&ref);
}

static void diff_command(const char *buf, size_t len, size_t max)
{
	struct command cmd;
	struct ref_command ref;
	struct rejection rj = {REASON_NONE, ""}, rrj = {REASON_NONE, ""};
	struct ref_json tame;
	json_error_t je;
	json_t *tj = ref_json_load(&tame, buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	int rc = command_parse(buf, len, max, &cmd, &rj);
	int rrc = ref_command_parse(tame.text, len, max, &ref, &rrj);

	if (tj == NULL)
		ref_json_fix_message(&tame, &je, rrj.msg, sizeof(rrj.msg));
	json_decref(tj);
	ref_json_free(&tame);

	if (rc != rrc || rj.reason != rrj.reason || strcmp(rj.msg, rrj.msg) != 0) {
		show_input(buf, len);
		fail_msg("command_parse %d %s: %s\nJansson-based %d %s: %s", rc,
		         reason_code(rj.reason), rj.msg, rrc, reason_code(rrj.reason), rrj.msg);
	}
	if (rc != 0) {
		diff_tally.refused++;
		diff_tally.by_reason[rj.reason]++;
		return;
	}
	diff_tally.accepted++;
	assert_int_equal(cmd.op, ref.op);
	same_str("incident", cmd.incident, ref.incident);
	same_str("by", cmd.by, ref.by);
	same_str("note", cmd.note, ref.note);
	same_str("level", cmd.level, ref.level);
	assert_int_equal(cmd.doc_len, len);
	assert_memory_equal(cmd.doc, buf, len);
	command_free(&cmd);
	ref_command_free(&ref);
}

static void parse_ok_ctx(const char *json, const struct incident_ctx *ctx, struct incident *inc)
{
	struct rejection rj = {REASON_NONE, ""};

	diff_incident(json, strlen(json), ctx);
	if (incident_parse(json, strlen(json), ctx, inc, &rj) != 0)
		fail_msg("refused (%s: %s): %s", reason_code(rj.reason), rj.msg, json);
	assert_non_null(inc->doc);
}

static void parse_ok(const char *json, struct incident *inc)
{
	parse_ok_ctx(json, &patrol, inc);
}

static void reject_len_ctx(const char *buf, size_t len, const struct incident_ctx *ctx,
                           enum reason want, const char *msgpart)
{
	struct incident inc;
	struct rejection rj = {REASON_NONE, ""};

	diff_incident(buf, len, ctx);
	if (incident_parse(buf, len, ctx, &inc, &rj) != -1)
		fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), buf);
	if (rj.reason != want)
		fail_msg("reason %s (%s), want %s", reason_code(rj.reason), rj.msg,
		         reason_code(want));
	assert_null(inc.doc);
	assert_clean_msg(&rj);
	if (msgpart != NULL)
		assert_msg_has(&rj, msgpart);
	incident_free(&inc); /* safe after a failure */
}

static void reject_inc(const char *json, enum reason want, const char *msgpart)
{
	reject_len_ctx(json, strlen(json), &patrol, want, msgpart);
}

/* The base incident with one field set (or replaced) to a JSON value; caller frees. */
static char *with(const char *field, const char *value)
{
	json_t *doc = json_loads("{" BASE "}", 0, NULL);
	json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
	char *s;

	assert_non_null(doc);
	if (v == NULL)
		fail_msg("test value is not JSON: %s", value);
	json_object_set_new(doc, field, v);
	s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(s);
	json_decref(doc);
	return s;
}

/* The base incident with a string field of n copies of c. */
static char *with_string(const char *field, size_t n, char c)
{
	char *v = malloc(n + 3), *s;

	assert_non_null(v);
	v[0] = '"';
	memset(v + 1, c, n);
	v[n + 1] = '"';
	v[n + 2] = '\0';
	s = with(field, v);
	free(v);
	return s;
}

static void reject_with(const char *field, const char *value, enum reason want, const char *msgpart)
{
	char *s = with(field, value);
	reject_inc(s, want, msgpart);
	free(s);
}

static void ok_with(const char *field, const char *value)
{
	struct incident inc;
	char *s = with(field, value);

	parse_ok(s, &inc);
	incident_free(&inc);
	free(s);
}

/*
 * The stored document read back by Jansson (strictly: no duplicate keys,
 * one object, nothing after it); valid until the next call.
 */
static json_t *doc_loaded;

static json_t *docj(const struct incident *inc)
{
	json_error_t err;

	json_decref(doc_loaded);
	assert_int_equal(strlen(inc->doc), inc->doc_len);
	assert_null(memchr(inc->doc, '\n', inc->doc_len));
	doc_loaded = json_loadb(inc->doc, inc->doc_len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(doc_loaded))
		fail_msg("stored document does not load (%s): %s", err.text, inc->doc);
	return doc_loaded;
}

/* The value of an attrs member; NULL if there is none. */
static const char *attr(const struct incident *inc, const char *key)
{
	for (size_t i = 0; i < inc->nattrs; i++) {
		if (strcmp(inc->attrs[i].key, key) == 0) {
			assert_int_equal(strlen(inc->attrs[i].value), inc->attrs[i].value_len);
			return inc->attrs[i].value;
		}
	}
	return NULL;
}

static const char *doc_str(const struct incident *inc, const char *field)
{
	json_t *v = json_object_get(docj(inc), field);

	if (!json_is_string(v))
		fail_msg("doc field \"%s\" is not a string", field);
	return json_string_value(v);
}

static void test_names(void **state)
{
	enum channel ch;
	enum severity sev;
	enum cmd_op op;

	(void)state;
	for (int i = 0; i < CH__COUNT; i++) {
		assert_int_equal(channel_parse(channel_name((enum channel)i), &ch), 0);
		assert_int_equal(ch, i);
	}
	for (int i = 0; i < SEV__COUNT; i++) {
		assert_int_equal(severity_parse(severity_name((enum severity)i), &sev), 0);
		assert_int_equal(sev, i);
	}
	for (int i = 0; i < OP__COUNT; i++) {
		assert_int_equal(cmd_op_parse(cmd_op_name((enum cmd_op)i), &op), 0);
		assert_int_equal(op, i);
	}
	assert_string_equal(channel_name(CH_PATROL), "patrol");
	assert_string_equal(channel_name(CH_FEEDBACK), "feedback");
	assert_string_equal(channel_name(CH_SCHEDULED), "scheduled");
	assert_string_equal(channel_name(CH_ALERT), "alert");
	assert_string_equal(severity_name(SEV_CRITICAL), "critical");
	assert_string_equal(cmd_op_name(OP_REASSIGN), "reassign");
	assert_string_equal(channel_name(CH__COUNT), "");
	assert_string_equal(severity_name(SEV__COUNT), "");
	assert_string_equal(cmd_op_name(OP__COUNT), "");
	assert_int_equal(channel_parse("Patrol", &ch), -1);
	assert_int_equal(channel_parse("", &ch), -1);
	assert_int_equal(channel_parse(NULL, &ch), -1);
	assert_int_equal(severity_parse("urgent", &sev), -1);
	assert_int_equal(cmd_op_parse("ack ", &op), -1);
}

static bool idv(bool (*fn)(const char *, size_t), const char *s)
{
	return fn(s, strlen(s));
}

static bool idv_n(bool (*fn)(const char *, size_t), size_t n, char c)
{
	char buf[300];

	assert_true(n < sizeof(buf));
	memset(buf, c, n);
	return fn(buf, n);
}

static void test_validators(void **state)
{
	char unit[2048];

	(void)state;
	assert_true(idv(incident_id_valid, "patrol-1700000000000-0"));
	assert_true(idv(incident_id_valid, "A.b_c:d-9"));
	assert_false(idv(incident_id_valid, ""));
	assert_false(idv(incident_id_valid, "a b"));
	assert_false(idv(incident_id_valid, "a/b"));
	assert_false(idv(incident_id_valid, "a{b}"));
	assert_false(idv(incident_id_valid, "井"));
	assert_false(incident_id_valid("ab\0c", 4));
	assert_true(idv_n(incident_id_valid, 128, 'x'));
	assert_false(idv_n(incident_id_valid, 129, 'x'));

	assert_true(idv(unit_id_valid, "xifeng"));
	assert_true(idv(unit_id_valid, "xifeng/beijie/beidajie/g03"));
	assert_true(idv(unit_id_valid, "0a/b-c/d_e"));
	assert_false(idv(unit_id_valid, ""));
	assert_false(idv(unit_id_valid, "/xifeng"));
	assert_false(idv(unit_id_valid, "xifeng/"));
	assert_false(idv(unit_id_valid, "xifeng//beijie"));
	assert_false(idv(unit_id_valid, "Xifeng"));
	assert_false(idv(unit_id_valid, "xifeng/-a"));
	assert_false(idv(unit_id_valid, "xifeng/_a"));
	assert_false(idv(unit_id_valid, "xi feng"));
	assert_false(idv(unit_id_valid, "xi.feng"));
	assert_false(unit_id_valid("ab\0c", 4));
	assert_true(idv_n(unit_id_valid, 64, 'a'));
	assert_false(idv_n(unit_id_valid, 65, 'a'));
	/* 16 segments deep, the last one 64 long; then 17 */
	unit[0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(unit, i == 0 ? "a" : "/a");
	assert_true(idv(unit_id_valid, unit));
	strcat(unit, "/a");
	assert_false(idv(unit_id_valid, unit));
	snprintf(unit, sizeof(unit), "a/%064d", 0);
	assert_true(idv(unit_id_valid, unit));
	snprintf(unit, sizeof(unit), "a/%065d/b", 0);
	assert_false(idv(unit_id_valid, unit));

	assert_true(idv(person_id_valid, "liuyang"));
	assert_true(idv(person_id_valid, "command-center"));
	assert_true(idv(person_id_valid, "A.b_c-9"));
	assert_false(idv(person_id_valid, ""));
	assert_false(idv(person_id_valid, "-x"));
	assert_false(idv(person_id_valid, ".x"));
	assert_false(idv(person_id_valid, "a:b"));
	assert_false(idv(person_id_valid, "a b"));
	assert_true(idv_n(person_id_valid, 64, 'p'));
	assert_false(idv_n(person_id_valid, 65, 'p'));

	assert_true(idv(key_valid, "urban_management"));
	assert_true(idv(key_valid, "l2"));
	assert_false(idv(key_valid, ""));
	assert_false(idv(key_valid, "2l"));
	assert_false(idv(key_valid, "_a"));
	assert_false(idv(key_valid, "Urban"));
	assert_false(idv(key_valid, "a-b"));
	assert_true(idv_n(key_valid, 64, 'k'));
	assert_false(idv_n(key_valid, 65, 'k'));
}

static void test_minimal_defaults(void **state)
{
	struct incident inc;

	(void)state;
	parse_ok("{" BASE "}", &inc);
	assert_string_equal(inc.id, "patrol-" ENTRY_ID);
	assert_string_equal(inc.category, "urban_management");
	assert_string_equal(inc.unit, "xifeng/beijie/beidajie/g03");
	assert_int_equal(inc.unit_len, strlen("xifeng/beijie/beidajie/g03"));
	assert_string_equal(inc.title, "井盖缺失");
	assert_null(inc.dedup_key);
	assert_null(inc.attrs);
	assert_int_equal(inc.channel, CH_PATROL);
	assert_int_equal(inc.severity, SEV_NORMAL);
	assert_int_equal(inc.reported_at, ENTRY_MS);
	assert_true(inc.due_at == TIME_NONE);
	/* the stored document carries the defaults */
	assert_string_equal(doc_str(&inc, "id"), "patrol-" ENTRY_ID);
	assert_string_equal(doc_str(&inc, "channel"), "patrol");
	assert_string_equal(doc_str(&inc, "severity"), "normal");
	assert_string_equal(doc_str(&inc, "reported_at"), "2023-11-14T22:13:20.000Z");
	assert_null(json_object_get(docj(&inc), "due_at"));
	/* the struct and the document agree */
	assert_string_equal(inc.id, doc_str(&inc, "id"));
	assert_string_equal(inc.title, doc_str(&inc, "title"));
	/* input order, then the defaults in a fixed order */
	assert_string_equal(inc.doc,
	                    "{" BASE ",\"id\":\"patrol-" ENTRY_ID "\",\"channel\":\"patrol\","
	                    "\"severity\":\"normal\",\"reported_at\":"
	                    "\"2023-11-14T22:13:20.000Z\"}");
	incident_free(&inc);
	assert_null(inc.doc);
	incident_free(&inc); /* twice is harmless */
}

static void test_default_id_without_entry(void **state)
{
	struct incident_ctx ctx = {CH_ALERT, NULL, 1700000000123, 0};
	struct incident inc;

	(void)state;
	parse_ok_ctx("{" BASE "}", &ctx, &inc);
	assert_string_equal(inc.id, "alert-1700000000123");
	assert_int_equal(inc.channel, CH_ALERT);
	assert_string_equal(doc_str(&inc, "channel"), "alert");
	incident_free(&inc);

	/* the id follows reported_at when it is given */
	parse_ok_ctx("{" BASE ",\"reported_at\":\"1970-01-01T00:00:01Z\"}", &ctx, &inc);
	assert_string_equal(inc.id, "alert-1000");
	assert_int_equal(inc.reported_at, 1000);
	incident_free(&inc);

	/* an entry id too long for an incident id cannot make the default */
	char longid[200];
	memset(longid, '1', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	ctx.entry_id = longid;
	reject_len_ctx("{" BASE "}", strlen("{" BASE "}"), &ctx, REASON_INVALID_FIELD, "\"id\"");
	ctx.entry_id = "1-0";
	parse_ok_ctx("{" BASE ",\"id\":\"mine\"}", &ctx, &inc);
	assert_string_equal(inc.id, "mine");
	incident_free(&inc);
}

static void test_full_normalized(void **state)
{
	const char *json = "{\"id\":\"cam-7:2026.11.26\"," BASE ",\"detail\":\"北侧路口\","
	                   "\"severity\":\"high\",\"reported_at\":\"2026-11-26T12:00:00.5+08:00\","
	                   "\"due_at\":\"2026-11-26t20:30:00-05:30\",\"dedup_key\":\"cam-7/cover\","
	                   "\"reporter\":{\"name\":\"张三\",\"phone\":[1,2]},"
	                   "\"location\":{\"lat\":35.7,\"lng\":107.6},"
	                   "\"attrs\":{\"source\":\"camera\",\"cam\":\"7\"},"
	                   "\"channel\":\"patrol\",\"extra\":{\"a\":[1,null,true]},\"n\":42}";
	struct incident inc;
	json_t *v;

	(void)state;
	parse_ok(json, &inc);
	assert_string_equal(inc.id, "cam-7:2026.11.26");
	assert_int_equal(inc.severity, SEV_HIGH);
	assert_string_equal(inc.dedup_key, "cam-7/cover");
	assert_string_equal(doc_str(&inc, "reported_at"), "2026-11-26T04:00:00.500Z");
	assert_string_equal(doc_str(&inc, "due_at"), "2026-11-27T02:00:00.000Z");
	assert_string_equal(doc_str(&inc, "severity"), "high");
	assert_string_equal(doc_str(&inc, "detail"), "北侧路口");
	int64_t want;
	assert_int_equal(time_parse_rfc3339("2026-11-26T04:00:00.500Z", 24, &want), 0);
	assert_int_equal(inc.reported_at, want);
	assert_int_equal(time_parse_rfc3339("2026-11-27T02:00:00Z", 20, &want), 0);
	assert_int_equal(inc.due_at, want);
	assert_non_null(inc.attrs);
	assert_string_equal(attr(&inc, "source"), "camera");
	/* the struct's attrs are the document's, in its order, then the NULL entry */
	v = json_object_get(docj(&inc), "attrs");
	assert_int_equal(inc.nattrs, json_object_size(v));
	assert_string_equal(inc.attrs[0].key, "source");
	assert_string_equal(inc.attrs[1].key, "cam");
	assert_string_equal(inc.attrs[1].value, json_string_value(json_object_get(v, "cam")));
	assert_null(inc.attrs[2].key);
	/* kept as given */
	v = json_object_get(docj(&inc), "reporter");
	assert_string_equal(json_string_value(json_object_get(v, "name")), "张三");
	assert_int_equal(json_array_size(json_object_get(v, "phone")), 2);
	assert_true(json_is_real(json_object_get(json_object_get(docj(&inc), "location"), "lat")));
	v = json_object_get(docj(&inc), "extra");
	assert_int_equal(json_array_size(json_object_get(v, "a")), 3);
	assert_int_equal(json_integer_value(json_object_get(docj(&inc), "n")), 42);
	incident_free(&inc);
}

static void test_each_severity_and_channel(void **state)
{
	static const char *const sev[] = {"\"low\"", "\"normal\"", "\"high\"", "\"critical\""};
	struct incident inc;

	(void)state;
	for (int i = 0; i < SEV__COUNT; i++) {
		char *s = with("severity", sev[i]);
		parse_ok(s, &inc);
		assert_int_equal(inc.severity, i);
		incident_free(&inc);
		free(s);
	}
	for (int c = 0; c < CH__COUNT; c++) {
		struct incident_ctx ctx = {(enum channel)c, "5-1", 5, 0};
		char val[32], *s;
		snprintf(val, sizeof(val), "\"%s\"", channel_name((enum channel)c));
		s = with("channel", val);
		parse_ok_ctx(s, &ctx, &inc);
		assert_int_equal(inc.channel, c);
		assert_string_equal(inc.id + strlen(channel_name((enum channel)c)), "-5-1");
		incident_free(&inc);
		free(s);
	}
}

static void test_too_large(void **state)
{
	struct incident_ctx ctx = patrol;
	const char *json = "{" BASE "}";
	size_t len = strlen(json);
	struct incident inc;

	(void)state;
	ctx.max_bytes = len;
	parse_ok_ctx(json, &ctx, &inc);
	incident_free(&inc);
	ctx.max_bytes = len - 1;
	reject_len_ctx(json, len, &ctx, REASON_TOO_LARGE, "limit");
	/* decided before parsing: garbage over the limit is too_large */
	ctx.max_bytes = 10;
	reject_len_ctx("not json at all, and long", 25, &ctx, REASON_TOO_LARGE, "25 bytes");
	ctx.max_bytes = 0; /* no limit */
	parse_ok_ctx(json, &ctx, &inc);
	incident_free(&inc);
}

static void test_invalid_json(void **state)
{
	char deep[20001];

	(void)state;
	reject_inc("{\"category\": }", REASON_INVALID_JSON, "line 1, column");
	reject_inc("{\"category\":\"a\",\n\"unit\":\"b\",\n\"title\" \"c\"}", REASON_INVALID_JSON,
	           "at line 3, column");
	reject_inc("", REASON_INVALID_JSON, "invalid JSON");
	reject_inc("   ", REASON_INVALID_JSON, "invalid JSON");
	reject_inc("{" BASE "} trailing", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"title\":\"again\"}", REASON_INVALID_JSON, "duplicate");
	reject_inc("{" BASE ",\"detail\":\"a\\u0000b\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"detail\":\"\xff\xfe\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"detail\":\"\xc0\xaf\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"detail\":\"\xed\xa0\x80\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"detail\":\"a\x01\x1b[31mb\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{" BASE ",\"detail\":\"line\nbreak\"}", REASON_INVALID_JSON, "line 1");
	reject_inc("{\"a\":abc\x01\x7f\xe2\x80\xa8}", REASON_INVALID_JSON, "line 1");
	/* valid JSON that is not an object */
	reject_inc("[1,2]", REASON_INVALID_JSON, "JSON object, not an array");
	reject_inc("\"str\"", REASON_INVALID_JSON, "not a string");
	reject_inc("42", REASON_INVALID_JSON, "not a number");
	reject_inc("null", REASON_INVALID_JSON, "not null");
	reject_inc("true", REASON_INVALID_JSON, "object");
	/* NUL bytes */
	reject_len_ctx("{\"a\":\"x\0y\"}", 11, &patrol, REASON_INVALID_JSON, "line 1");
	reject_len_ctx("{" BASE "}\0", strlen("{" BASE "}") + 1, &patrol, REASON_INVALID_JSON,
	               "line 1");
	reject_len_ctx("\0", 1, &patrol, REASON_INVALID_JSON, "line 1");
	/* deep nesting is refused, not recursed into */
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	reject_inc(deep, REASON_INVALID_JSON, "depth");
	for (size_t i = 0; i + 5 < sizeof(deep) - 1; i += 5)
		memcpy(deep + i, "{\"a\":", 5);
	reject_inc(deep, REASON_INVALID_JSON, "invalid JSON");
}

static void test_missing_fields(void **state)
{
	(void)state;
	reject_inc("{\"unit\":\"xifeng\",\"title\":\"t\"}", REASON_MISSING_FIELD,
	           "missing required field \"category\"");
	reject_inc("{\"category\":\"c\",\"title\":\"t\"}", REASON_MISSING_FIELD,
	           "missing required field \"unit\"");
	reject_inc("{\"category\":\"c\",\"unit\":\"xifeng\"}", REASON_MISSING_FIELD,
	           "missing required field \"title\"");
	reject_inc("{}", REASON_MISSING_FIELD, "\"category\"");
	/* a missing field is the reason even when another one is wrong */
	reject_inc("{\"category\":5,\"unit\":\"xifeng\"}", REASON_MISSING_FIELD, "\"title\"");
	/* case matters */
	reject_inc("{\"Category\":\"c\",\"unit\":\"xifeng\",\"title\":\"t\"}", REASON_MISSING_FIELD,
	           "\"category\"");
}

static void test_invalid_fields(void **state)
{
	(void)state;
	reject_inc("{\"category\":5,\"unit\":\"xifeng\",\"title\":\"t\"}", REASON_INVALID_FIELD,
	           "field \"category\" must be a string, not a number");
	reject_inc("{\"category\":\"\",\"unit\":\"xifeng\",\"title\":\"t\"}", REASON_INVALID_FIELD,
	           "field \"category\"");
	reject_inc("{\"category\":null,\"unit\":\"xifeng\",\"title\":\"t\"}", REASON_INVALID_FIELD,
	           "field \"category\" must be a string, not null");
	reject_inc("{\"category\":\"c\",\"unit\":[\"xifeng\"],\"title\":\"t\"}",
	           REASON_INVALID_FIELD, "field \"unit\" must be a string, not an array");
	reject_inc("{\"category\":\"c\",\"unit\":\"Xifeng/Beijie\",\"title\":\"t\"}",
	           REASON_INVALID_FIELD,
	           "field \"unit\" must be \"/\"-joined segments of [a-z0-9][a-z0-9_-]{0,63}, at "
	           "most 16");
	reject_inc("{\"category\":\"c\",\"unit\":\"\",\"title\":\"t\"}", REASON_INVALID_FIELD,
	           "field \"unit\"");
	reject_inc("{\"category\":\"c\",\"unit\":\"xifeng/\",\"title\":\"t\"}",
	           REASON_INVALID_FIELD, "field \"unit\"");
	reject_inc("{\"category\":\"c\",\"unit\":\"xifeng\",\"title\":\"\"}", REASON_INVALID_FIELD,
	           "field \"title\" must be 1 to 512 bytes");
	reject_inc("{\"category\":\"c\",\"unit\":\"xifeng\",\"title\":{}}", REASON_INVALID_FIELD,
	           "field \"title\" must be a string, not an object");
	reject_with("id", "\"a b\"", REASON_INVALID_FIELD, "field \"id\" must be 1 to 128");
	reject_with("id", "\"\"", REASON_INVALID_FIELD, "field \"id\"");
	reject_with("id", "7", REASON_INVALID_FIELD, "field \"id\" must be a string");
	reject_with("id", "\"a/b\"", REASON_INVALID_FIELD, "field \"id\"");
	reject_with("detail", "1.5", REASON_INVALID_FIELD, "field \"detail\" must be a string");
	reject_with("detail", "null", REASON_INVALID_FIELD, "field \"detail\"");
	reject_with("severity", "\"urgent\"", REASON_INVALID_FIELD,
	            "field \"severity\" must be one of low, normal, high, critical");
	reject_with("severity", "\"HIGH\"", REASON_INVALID_FIELD, "field \"severity\"");
	reject_with("severity", "3", REASON_INVALID_FIELD, "field \"severity\" must be a string");
	reject_with("reported_at", "\"yesterday\"", REASON_INVALID_FIELD,
	            "field \"reported_at\" must be an RFC 3339 date-time");
	reject_with("reported_at", "1700000000000", REASON_INVALID_FIELD,
	            "field \"reported_at\" must be a string");
	reject_with("reported_at", "\"2026-13-01T00:00:00Z\"", REASON_INVALID_FIELD,
	            "\"reported_at\"");
	reject_with("due_at", "\"2026-02-30T00:00:00Z\"", REASON_INVALID_FIELD,
	            "field \"due_at\" must be an RFC 3339 date-time");
	reject_with("due_at", "\"2026-11-26T24:00:00Z\"", REASON_INVALID_FIELD, "\"due_at\"");
	reject_with("due_at", "\"0000-01-01T00:00:00Z\"", REASON_INVALID_FIELD, "\"due_at\"");
	reject_with("due_at", "\"2026-11-26T12:00:00\"", REASON_INVALID_FIELD, "\"due_at\"");
	reject_with("dedup_key", "\"\"", REASON_INVALID_FIELD,
	            "field \"dedup_key\" must be 1 to 256 bytes");
	reject_with("dedup_key", "[]", REASON_INVALID_FIELD,
	            "field \"dedup_key\" must be a string");
	reject_with("reporter", "\"me\"", REASON_INVALID_FIELD,
	            "field \"reporter\" must be an object, not a string");
	reject_with("location", "[35.7,107.6]", REASON_INVALID_FIELD,
	            "field \"location\" must be an object, not an array");
	reject_with("attrs", "[\"camera\"]", REASON_INVALID_FIELD,
	            "field \"attrs\" must be an object");
	reject_with("attrs", "{\"cam\":\"7\",\"source\":1}", REASON_INVALID_FIELD,
	            "field \"attrs.source\" must be a string, not a number");
	reject_with("attrs", "{\"nested\":{\"a\":\"b\"}}", REASON_INVALID_FIELD,
	            "field \"attrs.nested\" must be a string, not an object");
	reject_with("attrs", "{\"flag\":true}", REASON_INVALID_FIELD, "\"attrs.flag\"");
	reject_with("channel", "1", REASON_INVALID_FIELD, "field \"channel\" must be a string");
	/* invalid_field comes before channel_mismatch */
	reject_inc("{" BASE ",\"channel\":\"alert\",\"severity\":\"bad\"}", REASON_INVALID_FIELD,
	           "\"severity\"");
}

static void test_channel_mismatch(void **state)
{
	struct incident_ctx fb = {CH_FEEDBACK, ENTRY_ID, ENTRY_MS, 0};
	struct incident inc;

	(void)state;
	reject_with("channel", "\"alert\"", REASON_CHANNEL_MISMATCH,
	            "field \"channel\" is \"alert\" but the entry came on the patrol stream");
	reject_with("channel", "\"\"", REASON_CHANNEL_MISMATCH, "\"channel\"");
	reject_with("channel", "\"Patrol\"", REASON_CHANNEL_MISMATCH, "\"channel\"");
	ok_with("channel", "\"patrol\"");
	parse_ok_ctx("{" BASE ",\"channel\":\"feedback\"}", &fb, &inc);
	assert_string_equal(inc.id, "feedback-" ENTRY_ID);
	incident_free(&inc);
}

static void test_boundaries(void **state)
{
	struct incident inc;
	char *s, unit[1200], *buf;

	(void)state;
	s = with_string("title", 512, 't');
	parse_ok(s, &inc);
	assert_int_equal(strlen(inc.title), 512);
	incident_free(&inc);
	free(s);
	s = with_string("title", 513, 't');
	reject_inc(s, REASON_INVALID_FIELD, "field \"title\" must be 1 to 512 bytes, not 513");
	free(s);
	/* bytes, not characters: 170 three-byte characters and two more bytes */
	buf = malloc(600);
	assert_non_null(buf);
	buf[0] = '"';
	for (int i = 0; i < 170; i++)
		memcpy(buf + 1 + i * 3, "井", 3);
	memcpy(buf + 511, "ab\"", 4);
	s = with("title", buf);
	parse_ok(s, &inc);
	incident_free(&inc);
	free(s);
	memcpy(buf + 511, "abc\"", 5);
	s = with("title", buf);
	reject_inc(s, REASON_INVALID_FIELD, "not 513");
	free(s);
	free(buf);

	s = with_string("id", 128, 'i');
	parse_ok(s, &inc);
	assert_int_equal(strlen(inc.id), 128);
	incident_free(&inc);
	free(s);
	s = with_string("id", 129, 'i');
	reject_inc(s, REASON_INVALID_FIELD, "field \"id\"");
	free(s);

	s = with_string("dedup_key", 256, 'd');
	parse_ok(s, &inc);
	assert_int_equal(strlen(inc.dedup_key), 256);
	incident_free(&inc);
	free(s);
	s = with_string("dedup_key", 257, 'd');
	reject_inc(s, REASON_INVALID_FIELD, "field \"dedup_key\" must be 1 to 256 bytes, not 257");
	free(s);

	/* unit depth 16 / 17 */
	strcpy(unit, "{\"category\":\"c\",\"title\":\"t\",\"unit\":\"u");
	for (int i = 1; i < 16; i++)
		strcat(unit, "/u");
	strcat(unit, "\"}");
	parse_ok(unit, &inc);
	incident_free(&inc);
	unit[strlen(unit) - 2] = '\0';
	strcat(unit, "/u\"}");
	reject_inc(unit, REASON_INVALID_FIELD, "at most 16");

	/* unit segment 64 / 65 */
	snprintf(unit, sizeof(unit),
	         "{\"category\":\"c\",\"title\":\"t\",\"unit\":\"xifeng/%064d\"}", 0);
	parse_ok(unit, &inc);
	incident_free(&inc);
	snprintf(unit, sizeof(unit),
	         "{\"category\":\"c\",\"title\":\"t\",\"unit\":\"xifeng/%065d\"}", 0);
	reject_inc(unit, REASON_INVALID_FIELD, "field \"unit\"");
}

static void test_times(void **state)
{
	struct incident inc;

	(void)state;
	parse_ok("{" BASE ",\"reported_at\":\"2024-02-29t23:30:00.123456789-01:00\"}", &inc);
	assert_string_equal(doc_str(&inc, "reported_at"), "2024-03-01T00:30:00.123Z");
	assert_true(inc.due_at == TIME_NONE);
	incident_free(&inc);
	parse_ok("{" BASE ",\"due_at\":\"1970-01-01 08:00:00+08:00\"}", &inc);
	assert_string_equal(doc_str(&inc, "due_at"), "1970-01-01T00:00:00.000Z");
	assert_string_equal(doc_str(&inc, "reported_at"), "2023-11-14T22:13:20.000Z");
	incident_free(&inc);
	/* SPEC v2 §4: a leap second is :59.999; nothing before 1970 or after 9999 */
	parse_ok("{" BASE ",\"reported_at\":\"2016-12-31T23:59:60Z\","
	         "\"due_at\":\"2017-01-01T07:59:60.5+08:00\"}",
	         &inc);
	assert_string_equal(doc_str(&inc, "reported_at"), "2016-12-31T23:59:59.999Z");
	assert_string_equal(doc_str(&inc, "due_at"), "2016-12-31T23:59:59.999Z");
	assert_true(inc.due_at == 1483228799999);
	incident_free(&inc);
	reject_with("due_at", "\"0001-01-01T00:00:00Z\"", REASON_INVALID_FIELD,
	            "field \"due_at\" must be an RFC 3339 date-time from 1970-01-01T00:00:00Z to "
	            "9999-12-31T23:59:59.999Z");
	reject_with("reported_at", "\"1969-12-31T23:59:59.999Z\"", REASON_INVALID_FIELD,
	            "\"reported_at\"");
	reject_with("due_at", "\"1970-01-01T07:59:59+08:00\"", REASON_INVALID_FIELD, "\"due_at\"");
	reject_with("due_at", "\"9999-12-31T23:59:59-00:01\"", REASON_INVALID_FIELD, "\"due_at\"");
	reject_with("reported_at", "\"2023-02-29T00:00:00Z\"", REASON_INVALID_FIELD,
	            "\"reported_at\"");
	reject_with("reported_at", "\"2026-11-26T12:00:60Z\"", REASON_INVALID_FIELD,
	            "\"reported_at\"");
	reject_with("reported_at", "\"2026-11-26T12:00:00Z \"", REASON_INVALID_FIELD,
	            "\"reported_at\"");

	/* the entry time is the default, kept in the writable range */
	struct incident_ctx ctx = {CH_PATROL, "1-0", -1, 0};
	parse_ok_ctx("{" BASE "}", &ctx, &inc);
	assert_string_equal(doc_str(&inc, "reported_at"), "1970-01-01T00:00:00.000Z");
	assert_int_equal(inc.reported_at, 0);
	incident_free(&inc);
	ctx.entry_ms = INT64_MAX;
	parse_ok_ctx("{" BASE "}", &ctx, &inc);
	assert_string_equal(doc_str(&inc, "reported_at"), "9999-12-31T23:59:59.999Z");
	assert_int_equal(inc.reported_at, 253402300799999);
	incident_free(&inc);
	/* no entry time at all: now */
	ctx.entry_ms = TIME_NONE;
	int64_t before = time_now_ms();
	parse_ok_ctx("{" BASE "}", &ctx, &inc);
	assert_true(inc.reported_at >= before && inc.reported_at <= time_now_ms());
	incident_free(&inc);
}

static void test_form_only_and_unknown_fields(void **state)
{
	const struct incident_ctx unlimited = {CH_PATROL, ENTRY_ID, ENTRY_MS, 0};
	struct incident inc;
	struct buf b;

	(void)state;
	/* category existence and key syntax are the router's concern */
	parse_ok("{\"category\":\"No Such Category!\",\"unit\":\"nowhere/at/all\",\"title\":\"t\"}",
	         &inc);
	assert_string_equal(inc.category, "No Such Category!");
	incident_free(&inc);
	/* empty attrs, reporter, location are fine */
	parse_ok("{" BASE ",\"attrs\":{},\"reporter\":{},\"location\":{}}", &inc);
	assert_non_null(inc.attrs);
	assert_int_equal(inc.nattrs, 0);
	assert_null(inc.attrs[0].key);
	incident_free(&inc);
	/* SPEC v2 §4: numbers of any size, in unknown fields and nested, kept as written */
	static const char *const big[] = {"\"serial\":123456789012345678901234567890",
	                                  "\"reading\":1e999",
	                                  "\"n\":[-1E+400,{\"m\":-99999999999999999999}]",
	                                  "\"reporter\":{\"badge\":18446744073709551616}"};
	buf_init(&b);
	buf_puts(&b, "{" BASE);
	for (size_t i = 0; i < GR_NELEM(big); i++)
		buf_printf(&b, ",%s", big[i]);
	buf_puts(&b, "}");
	parse_ok(b.data, &inc);
	for (size_t i = 0; i < GR_NELEM(big); i++) {
		if (strstr(inc.doc, big[i]) == NULL)
			fail_msg("%s is not kept as written: %s", big[i], inc.doc);
	}
	incident_free(&inc);
	/* a known field holding one has the wrong type, as any number has */
	reject_inc("{" BASE ",\"severity\":1e999}", REASON_INVALID_FIELD, "field \"severity\"");
	reject_inc("{" BASE ",\"dedup_key\":123456789012345678901234567890}", REASON_INVALID_FIELD,
	           "field \"dedup_key\"");
	/* 10,000 unknown fields are kept */
	buf_reset(&b);
	buf_puts(&b, "{" BASE);
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, ",\"x%d\":%d", i, i);
	buf_puts(&b, "}");
	parse_ok_ctx(b.data, &unlimited, &inc);
	assert_int_equal(json_object_size(docj(&inc)), 3 + 10000 + 4);
	assert_int_equal(json_integer_value(json_object_get(docj(&inc), "x9999")), 9999);
	incident_free(&inc);
	/* and 10,000 attrs, one of them wrong */
	buf_reset(&b);
	buf_puts(&b, "{" BASE ",\"attrs\":{");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
	buf_puts(&b, ",\"bad\":[]}}");
	reject_len_ctx(b.data, b.len, &unlimited, REASON_INVALID_FIELD, "\"attrs.bad\"");
	buf_free(&b);
}

static void test_messages_are_safe(void **state)
{
	struct buf b;

	(void)state;
	/* an attrs key with control characters, quotes and a line separator */
	reject_with("attrs", "{\"a\\n\\u001b[31m\\\"\\u2028\\u0085z\":1}", REASON_INVALID_FIELD,
	            "field \"attrs.a\\u000a\\u001b[31m\\\"\\u2028\\u0085z\"");
	/* a long value is cut short, whole characters only */
	buf_init(&b);
	buf_puts(&b, "\"");
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, "井\\n");
	buf_puts(&b, "\"");
	reject_with("channel", b.data, REASON_CHANNEL_MISMATCH, "...\" but the entry");
	buf_reset(&b);
	buf_puts(&b, "{\"");
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "\\u0001");
	buf_puts(&b, "\":1," BASE ",\"attrs\":{\"");
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "\\u0001");
	buf_puts(&b, "\":1}}");
	reject_inc(b.data, REASON_INVALID_FIELD, "\"attrs.\\u0001");
	buf_free(&b);
	/* jansson's own text quotes raw input bytes */
	reject_inc("{\"a\":\"\xe4\xb8\xad\x01zz\"}", REASON_INVALID_JSON, "control character");
	reject_inc("{\"a\":\xe4\xb8}", REASON_INVALID_JSON, "line 1");
}

/* A cheap mutation fuzz: never crash, always a clean answer. */
static void test_mutations(void **state)
{
	const char *seed = "{\"id\":\"x-1\"," BASE ",\"severity\":\"high\",\"attrs\":{\"s\":\"c\"},"
	                   "\"reported_at\":\"2026-11-26T12:00:00+08:00\",\"due_at\":\"2026-11-"
	                   "27T00:00:00Z\",\"dedup_key\":\"k\",\"channel\":\"patrol\"}";
	static const char bytes[] = "{}[]\":,\\0aZ-+.\x01\xff\xe4 ";
	size_t n = strlen(seed);
	char *buf = malloc(n + 1);
	uint32_t rnd = 2463534242u;

	(void)state;
	assert_non_null(buf);
	for (int iter = 0; iter < 20000; iter++) {
		struct incident inc;
		struct command cmd;
		struct rejection rj = {REASON_NONE, ""};

		memcpy(buf, seed, n + 1);
		for (int k = 0; k < 1 + iter % 4; k++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			buf[rnd % n] = bytes[(rnd >> 8) % (sizeof(bytes) - 1)];
		}
		size_t len = n - (iter % 7 == 0 ? (rnd >> 16) % n : 0);
		diff_incident(buf, len, &patrol);
		diff_command(buf, len, 0);
		if (incident_parse(buf, len, &patrol, &inc, &rj) == 0) {
			assert_true(incident_id_valid(inc.id, strlen(inc.id)));
			incident_free(&inc);
		} else {
			assert_true(rj.reason > REASON_NONE && rj.reason < REASON__COUNT);
			assert_clean_msg(&rj);
		}
		rj.reason = REASON_NONE;
		if (command_parse(buf, len, 0, &cmd, &rj) == 0)
			command_free(&cmd);
		else
			assert_clean_msg(&rj);
	}
	free(buf);
}

static uint32_t diff_rnd = 88172645u;

static uint32_t drnd(void)
{
	diff_rnd ^= diff_rnd << 13;
	diff_rnd ^= diff_rnd >> 17;
	diff_rnd ^= diff_rnd << 5;
	return diff_rnd;
}

/* One random edit: the damage a peer's bytes may have, and fields turning up or changing. */
static void diff_mutate(struct buf *b)
{
	static const char *const frags[] = {"\"",
	                                    "\\",
	                                    "\\u",
	                                    "\\uD800",
	                                    "\\uDC00",
	                                    "\\u0000",
	                                    "\\u0063",
	                                    "\\u0061",
	                                    "\xed\xa0\x80",
	                                    "\xc0\xaf",
	                                    "\xe4\xb8",
	                                    "\xff",
	                                    "\x01",
	                                    "\n",
	                                    "\x00",
	                                    " ",
	                                    "\t",
	                                    "{",
	                                    "}",
	                                    "[",
	                                    "]",
	                                    ":",
	                                    ",",
	                                    "1e999",
	                                    "-",
	                                    "0",
	                                    ".5",
	                                    "99999999999999999999",
	                                    "true",
	                                    "null",
	                                    "\xe4\xb8\xad",
	                                    "\xe2\x80\xa8"};
	static const char *const fields[] = {"\"title\":\"t\",",
	                                     "\"unit\":\"a/b\",",
	                                     "\"category\":\"c\",",
	                                     "\"id\":\"i-1\",",
	                                     "\"id\":\"a b\",",
	                                     "\"channel\":\"alert\",",
	                                     "\"channel\":\"patrol\",",
	                                     "\"severity\":\"critical\",",
	                                     "\"severity\":\"HIGH\",",
	                                     "\"reported_at\":\"2026-11-26T12:00:00.5+08:00\",",
	                                     "\"due_at\":\"2026-02-30T00:00:00Z\",",
	                                     "\"due_at\":\"2026-11-26T04:00:00.123Z\",",
	                                     "\"dedup_key\":\"\",",
	                                     "\"attrs\":{\"a\":\"b\",\"c\":1},",
	                                     "\"attrs\":{},",
	                                     "\"reporter\":[],",
	                                     "\"location\":{\"lat\":35.720646},",
	                                     "\"detail\":null,",
	                                     "\"c\\u0061tegory\":\"x\",",
	                                     "\"op\":\"ack\",",
	                                     "\"op\":\"reassign\",",
	                                     "\"level\":\"leader\",",
	                                     "\"by\":\"-x\",",
	                                     "\"note\":\"\\u4e95\",",
	                                     "\"incident\":\"p-1\","};
	size_t pos = b->len > 0 ? drnd() % (b->len + 1) : 0;

	switch (drnd() % 9) {
	case 3: /* a member in front of the others: the document stays valid JSON */
	case 4: {
		const char *f = fields[drnd() % GR_NELEM(fields)];
		const char *brace = b->len > 0 ? memchr(b->data, '{', b->len) : NULL;
		size_t n = strlen(f);
		if (brace == NULL)
			break;
		pos = (size_t)(brace - b->data) + 1;
		buf_reserve(b, n);
		memmove(b->data + pos + n, b->data + pos, b->len - pos);
		memcpy(b->data + pos, f, n);
		b->len += n;
		b->data[b->len] = '\0';
		break;
	}
	case 0:
		if (b->len > 0)
			b->data[drnd() % b->len] = (char)(drnd() & 0xff);
		break;
	case 1:
		buf_truncate(b, pos);
		break;
	case 2:
		if (pos < b->len) {
			size_t n = 1 + drnd() % 8;
			n = n > b->len - pos ? b->len - pos : n;
			memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
			buf_truncate(b, b->len - n);
		}
		break;
	default: {
		const char *f = frags[drnd() % GR_NELEM(frags)];
		size_t n = f[0] == '\0' ? 1 : strlen(f);
		buf_reserve(b, n);
		memmove(b->data + pos + n, b->data + pos, b->len - pos);
		memcpy(b->data + pos, f, n);
		b->len += n;
		b->data[b->len] = '\0';
		break;
	}
	}
}

/*
 * The differential test proper: valid incidents and commands of every
 * shape, each mutated many times, through both parsers (diff_incident,
 * diff_command). DIFF_ITERS runs it longer by hand.
 */
static void test_differential(void **state)
{
	static const char *const seeds[] = {
	        "{" BASE "}",
	        "{\"id\":\"cam-7:2026.11.26\"," BASE
	        ",\"detail\":\"北侧路口\",\"severity\":\"high\","
	        "\"reported_at\":\"2026-11-26T12:00:00.5+08:00\",\"due_at\":\"2026-11-26t20:30:00-"
	        "05:30\","
	        "\"dedup_key\":\"cam-7/cover\",\"reporter\":{\"name\":\"张三\",\"phone\":[1,2]},"
	        "\"location\":{\"lat\":35.720646,\"lng\":107.656256},\"attrs\":{\"source\":"
	        "\"camera\","
	        "\"cam\":\"7\"},\"channel\":\"patrol\",\"extra\":{\"a\":[1,null,true]},\"n\":42}",
	        "{\n  \"category\" : \"urban_management\",\n  \"unit\" : \"xifeng/beijie\",\n"
	        "  \"title\" : \"\\u4e95\\u76d6 \\ud83d\\ude00 \\\"x\\\"\",\n  \"reporter\" : { "
	        "\"id\" : "
	        "\"w1\" , \"tags\" : [ 1 , 2.5e3 , -0 ] },\n  \"attrs\" : { \"s\\u0031\" : \"\\/\" "
	        "}\n}\n",
	        "{\"c\\u0061tegory\":\"c\",\"\\u0075nit\":\"a/b-c/"
	        "d_e\",\"title\":\"t\",\"severity\":\"l\\u006fw\","
	        "\"channel\":\"p\\u0061trol\",\"due_at\":\"2026-11-26T04:00:00.123Z\",\"id\":"
	        "\"\\u0041\"}",
	        "{\"channel\":\"alert\",\"category\":\"elderly_care\",\"unit\":\"xifeng/jd18/sq018/"
	        "g004\","
	        "\"title\":\"失能老人照料需求\",\"severity\":\"normal\",\"attrs\":{\"source\":"
	        "\"smoke_detector\",\"device\":\"smoke_detector-25468\"},\"location\":{\"lat\":35."
	        "778131,"
	        "\"lng\":107.630897},\"dedup_key\":\"d-1\"}",
	        "{\"op\":\"ack\",\"incident\":\"patrol-1700000000000-0\",\"by\":\"liuyang\"}",
	        "{\"op\":\"reassign\",\"incident\":\"x\",\"by\":\"p\",\"level\":\"leader\","
	        "\"note\":\"已到现场 \\u2028\",\"extra\":[{}]}",
	};
	static const struct incident_ctx ctxs[] = {
	        {CH_PATROL, ENTRY_ID, ENTRY_MS, 65536},
	        {CH_ALERT, "1700000000000-5", ENTRY_MS, 65536},
	        {CH_FEEDBACK, NULL, 1700000000123, 0},
	        {CH_SCHEDULED, ENTRY_ID, -1, 200},
	};
	const char *env = getenv("DIFF_ITERS");
	long iters = env != NULL ? strtol(env, NULL, 10) : 3000;
	struct buf b;

	(void)state;
	buf_init(&b);
	memset(&diff_tally, 0, sizeof(diff_tally));
	for (long iter = 0; iter < iters; iter++) {
		for (size_t s = 0; s < GR_NELEM(seeds); s++) {
			const struct incident_ctx *ctx = &ctxs[(iter + s) % GR_NELEM(ctxs)];
			buf_reset(&b);
			buf_puts(&b, seeds[s]);
			if (iter > 0) {
				for (unsigned m = 0; m < 1 + drnd() % 3; m++)
					diff_mutate(&b);
			}
			diff_incident(b.data != NULL ? b.data : "", b.len, ctx);
			diff_command(b.data != NULL ? b.data : "", b.len, iter % 5 == 0 ? 100 : 0);
		}
	}
	fprintf(stderr,
	        "incident_parse/command_parse vs the Jansson-based ones: %zu accepted, %zu "
	        "refused (",
	        diff_tally.accepted, diff_tally.refused);
	for (int r = 0; r < REASON__COUNT; r++) {
		if (diff_tally.by_reason[r] > 0)
			fprintf(stderr, " %s %zu", reason_code((enum reason)r),
			        diff_tally.by_reason[r]);
	}
	fprintf(stderr, " ), all agreeing\n");
	assert_true(diff_tally.accepted * 10 > (size_t)iters);
	buf_free(&b);
}

/* Commands */

static void cmd_ok(const char *json, struct command *cmd)
{
	struct rejection rj = {REASON_NONE, ""};

	diff_command(json, strlen(json), 4096);
	if (command_parse(json, strlen(json), 4096, cmd, &rj) != 0)
		fail_msg("refused (%s: %s): %s", reason_code(rj.reason), rj.msg, json);
	assert_non_null(cmd->doc);
}

static void cmd_reject_max(const char *json, size_t max, enum reason want, const char *msgpart)
{
	struct command cmd;
	struct rejection rj = {REASON_NONE, ""};

	diff_command(json, strlen(json), max);
	if (command_parse(json, strlen(json), max, &cmd, &rj) != -1)
		fail_msg("accepted: %s", json);
	if (rj.reason != want)
		fail_msg("reason %s (%s), want %s", reason_code(rj.reason), rj.msg,
		         reason_code(want));
	assert_null(cmd.doc);
	assert_clean_msg(&rj);
	if (msgpart != NULL)
		assert_msg_has(&rj, msgpart);
	command_free(&cmd);
}

static void cmd_reject(const char *json, enum reason want, const char *msgpart)
{
	cmd_reject_max(json, 4096, want, msgpart);
}

static void test_command_ops(void **state)
{
	static const char *const ops[] = {"ack",     "resolve", "escalate",   "reassign",
	                                  "comment", "return",  "redispatch", "cancel",
	                                  "extend",  "approve", "deny",       "park",
	                                  "unpark",  "verify",  "reopen",     "urge"};
	struct command cmd;
	char json[256];

	(void)state;
	assert_int_equal(GR_NELEM(ops), OP__COUNT);
	for (int i = 0; i < OP__COUNT; i++) {
		/* every field any op needs: each op takes what is its */
		snprintf(
		        json, sizeof(json),
		        "{\"op\":\"%s\",\"incident\":\"patrol-1700000000000-0\",\"by\":\"liuyang\","
		        "\"level\":\"leader\",\"note\":\"n\",\"for\":\"2h\",\"passed\":false}",
		        ops[i]);
		cmd_ok(json, &cmd);
		assert_int_equal(cmd.op, i);
		assert_string_equal(cmd.incident, "patrol-1700000000000-0");
		assert_string_equal(cmd.by, "liuyang");
		assert_string_equal(cmd.level, "leader");
		assert_string_equal(cmd.note, "n");
		assert_string_equal(cmd.for_text, "2h");
		assert_int_equal(cmd.passed, 0);
		command_free(&cmd);
		assert_null(cmd.doc);
	}
	cmd_ok("{\"op\":\"comment\",\"incident\":\"x\",\"by\":\"a.b_c-d\",\"note\":\"已到现场\","
	       "\"extra\":[1]}",
	       &cmd);
	assert_int_equal(cmd.op, OP_COMMENT);
	assert_string_equal(cmd.note, "已到现场");
	assert_null(cmd.level);
	/* the struct's strings are the document's */
	json_t *cj = json_loadb(cmd.doc, cmd.doc_len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(cj);
	assert_string_equal(cmd.by, json_string_value(json_object_get(cj, "by")));
	assert_string_equal(cmd.note, json_string_value(json_object_get(cj, "note")));
	json_decref(cj);
	command_free(&cmd);
	command_free(&cmd);
	/* whether the level exists is checked against the rules elsewhere */
	cmd_ok("{\"op\":\"reassign\",\"incident\":\"x\",\"by\":\"p\",\"level\":\"No Such\"}", &cmd);
	assert_string_equal(cmd.level, "No Such");
	command_free(&cmd);
}

static void test_command_rejections(void **state)
{
	char json[512];

	(void)state;
	cmd_reject_max("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"p\"}", 10, REASON_TOO_LARGE,
	               "command is 36 bytes");
	cmd_reject_max("[[[[[[[[[[[[[[[[[[[[[[[[[", 10, REASON_TOO_LARGE, "limit");
	cmd_reject("{\"op\":\"ack\",", REASON_INVALID_JSON, "line 1, column");
	cmd_reject("[\"ack\"]", REASON_INVALID_JSON, "not an array");
	cmd_reject("{\"op\":\"ack\",\"op\":\"resolve\",\"incident\":\"x\",\"by\":\"p\"}",
	           REASON_INVALID_JSON, "duplicate");

	cmd_reject("{\"incident\":\"x\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	           "missing required field \"op\"");
	cmd_reject("{\"op\":\"ack\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	           "missing required field \"incident\"");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\"}", REASON_MISSING_FIELD,
	           "missing required field \"by\"");
	cmd_reject("{}", REASON_MISSING_FIELD, "\"op\"");
	cmd_reject("{\"op\":\"reassign\",\"incident\":\"x\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	           "missing required field \"level\"");

	cmd_reject("{\"op\":1,\"incident\":\"x\",\"by\":\"p\"}", REASON_INVALID_FIELD,
	           "field \"op\" must be a string, not a number");
	cmd_reject("{\"op\":\"ack\",\"incident\":7,\"by\":\"p\"}", REASON_INVALID_FIELD,
	           "field \"incident\" must be a string");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\",\"by\":null}", REASON_INVALID_FIELD,
	           "field \"by\" must be a string, not null");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"p\",\"note\":{}}",
	           REASON_INVALID_FIELD, "field \"note\" must be a string");
	cmd_reject("{\"op\":\"reassign\",\"incident\":\"x\",\"by\":\"p\",\"level\":2}",
	           REASON_INVALID_FIELD, "field \"level\" must be a string");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"gr:inc:x y\",\"by\":\"p\"}",
	           REASON_INVALID_FIELD, "field \"incident\" must be an incident id");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"\",\"by\":\"p\"}", REASON_INVALID_FIELD,
	           "field \"incident\"");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"a{b}\",\"by\":\"p\"}", REASON_INVALID_FIELD,
	           "field \"incident\"");
	snprintf(json, sizeof(json), "{\"op\":\"ack\",\"incident\":\"%0129d\",\"by\":\"p\"}", 0);
	cmd_reject(json, REASON_INVALID_FIELD, "field \"incident\"");
	snprintf(json, sizeof(json), "{\"op\":\"ack\",\"incident\":\"%0128d\",\"by\":\"p\"}", 0);
	struct command cmd;
	cmd_ok(json, &cmd);
	command_free(&cmd);
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"-p\"}", REASON_INVALID_FIELD,
	           "field \"by\" must be a person id");
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"\"}", REASON_INVALID_FIELD,
	           "field \"by\"");
	snprintf(json, sizeof(json), "{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"%065d\"}", 0);
	cmd_reject(json, REASON_INVALID_FIELD, "field \"by\"");

	cmd_reject("{\"op\":\"delete\",\"incident\":\"x\",\"by\":\"p\"}", REASON_UNKNOWN_OP,
	           "unknown op \"delete\"");
	cmd_reject("{\"op\":\"\",\"incident\":\"x\",\"by\":\"p\"}", REASON_UNKNOWN_OP, "\"op\"");
	cmd_reject("{\"op\":\"ACK\",\"incident\":\"x\",\"by\":\"p\"}", REASON_UNKNOWN_OP,
	           "ack, resolve, escalate, reassign, comment");
	cmd_reject("{\"op\":\"a\\u0000\",\"incident\":\"x\",\"by\":\"p\"}", REASON_INVALID_JSON,
	           NULL);
	cmd_reject("{\"op\":\"\\r\\n\\u001b\",\"incident\":\"x\",\"by\":\"p\"}", REASON_UNKNOWN_OP,
	           "\"\\u000d\\u000a\\u001b\"");

	/* SPEC §8 order: fields before op, op before level */
	cmd_reject("{\"op\":\"delete\",\"incident\":\"a b\",\"by\":\"p\"}", REASON_INVALID_FIELD,
	           "\"incident\"");
	cmd_reject("{\"op\":\"delete\",\"by\":\"p\"}", REASON_MISSING_FIELD, "\"incident\"");
	/* the op's own fields come after the op (v2): an unknown op says more than a bad note */
	cmd_reject("{\"op\":\"delete\",\"incident\":\"x\",\"by\":\"p\",\"note\":1}",
	           REASON_UNKNOWN_OP, "\"delete\"");
	cmd_reject("{\"op\":\"reassig\",\"incident\":\"x\",\"by\":\"p\"}", REASON_UNKNOWN_OP,
	           "reassig");
}

/* The fields of the v2 ops (SPEC §5): required ones missing_field, bad ones invalid_field. */
static void test_command_v2_fields(void **state)
{
	static const struct {
		const char *json;
		enum reason reason;
		const char *says;
	} bad[] = {
	        {"{\"op\":\"return\",\"incident\":\"x\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	         "\"note\" (return needs a reason"},
	        {"{\"op\":\"cancel\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"\"}",
	         REASON_MISSING_FIELD, "an empty note counts as missing"},
	        {"{\"op\":\"park\",\"incident\":\"x\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	         "\"note\""},
	        {"{\"op\":\"reopen\",\"incident\":\"x\",\"by\":\"p\",\"note\":1}",
	         REASON_INVALID_FIELD, "\"note\" must be a string"},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"n\"}",
	         REASON_MISSING_FIELD, "\"until\" or \"for\""},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"for\":\"2h\"}",
	         REASON_MISSING_FIELD, "\"note\""},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"n\",\"for\":\"2h\","
	         "\"until\":\"2026-12-03T12:00:00+08:00\"}",
	         REASON_INVALID_FIELD, "not both"},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"n\","
	         "\"until\":\"tomorrow\"}",
	         REASON_INVALID_FIELD, "\"until\" must be an RFC 3339"},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"n\",\"for\":3}",
	         REASON_INVALID_FIELD, "\"for\" must be a string"},
	        {"{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"n\",\"for\":\"\"}",
	         REASON_INVALID_FIELD, "\"for\" must be a duration"},
	        {"{\"op\":\"verify\",\"incident\":\"x\",\"by\":\"p\"}", REASON_MISSING_FIELD,
	         "\"passed\""},
	        {"{\"op\":\"verify\",\"incident\":\"x\",\"by\":\"p\",\"passed\":\"yes\"}",
	         REASON_INVALID_FIELD, "\"passed\" must be true or false, not a string"},
	        {"{\"op\":\"redispatch\",\"incident\":\"x\",\"by\":\"p\",\"unit\":\"A B\"}",
	         REASON_INVALID_FIELD, "\"unit\" must be a unit id"},
	        {"{\"op\":\"redispatch\",\"incident\":\"x\",\"by\":\"p\",\"category\":\"Urban\"}",
	         REASON_INVALID_FIELD, "\"category\" must be a category key"},
	};
	struct command cmd;

	(void)state;
	for (size_t i = 0; i < GR_NELEM(bad); i++)
		cmd_reject(bad[i].json, bad[i].reason, bad[i].says);
	cmd_ok("{\"op\":\"extend\",\"incident\":\"x\",\"by\":\"p\",\"note\":\"等配件\","
	       "\"until\":\"2026-12-03T12:00:00+08:00\"}",
	       &cmd);
	assert_int_equal(cmd.until, 1796270400000LL);
	assert_null(cmd.for_text);
	command_free(&cmd);
	cmd_ok("{\"op\":\"verify\",\"incident\":\"x\",\"by\":\"p\",\"passed\":true}", &cmd);
	assert_int_equal(cmd.passed, 1);
	command_free(&cmd);
	cmd_ok("{\"op\":\"redispatch\",\"incident\":\"x\",\"by\":\"p\",\"unit\":\"x/s/c2\","
	       "\"category\":\"political_legal\"}",
	       &cmd);
	assert_string_equal(cmd.unit, "x/s/c2");
	assert_string_equal(cmd.category, "political_legal");
	command_free(&cmd);
	/* fields another op would need may come along, but must have their form */
	cmd_ok("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"p\",\"unit\":\"x\",\"passed\":true}",
	       &cmd);
	command_free(&cmd);
	cmd_reject("{\"op\":\"ack\",\"incident\":\"x\",\"by\":\"p\",\"passed\":1}",
	           REASON_INVALID_FIELD, "\"passed\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_validators),
	        cmocka_unit_test(test_minimal_defaults),
	        cmocka_unit_test(test_default_id_without_entry),
	        cmocka_unit_test(test_full_normalized),
	        cmocka_unit_test(test_each_severity_and_channel),
	        cmocka_unit_test(test_too_large),
	        cmocka_unit_test(test_invalid_json),
	        cmocka_unit_test(test_missing_fields),
	        cmocka_unit_test(test_invalid_fields),
	        cmocka_unit_test(test_channel_mismatch),
	        cmocka_unit_test(test_boundaries),
	        cmocka_unit_test(test_times),
	        cmocka_unit_test(test_form_only_and_unknown_fields),
	        cmocka_unit_test(test_messages_are_safe),
	        cmocka_unit_test(test_mutations),
	        cmocka_unit_test(test_differential),
	        cmocka_unit_test(test_command_ops),
	        cmocka_unit_test(test_command_rejections),
	        cmocka_unit_test(test_command_v2_fields),
	};

	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(doc_loaded);
	return failed;
}
