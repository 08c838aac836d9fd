/*
 * test_jscan.c: jscan against Jansson, the parser it replaces on the hot
 * path. Every input goes through both json_loadb (JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY) and jscan_parse; they must agree on accept or refuse,
 * on a refusal's line, column, position and text, and on an accepted
 * document's type and top-level members (same keys, in the same order,
 * each value equal to Jansson's). The inputs: hand-picked edge cases,
 * random documents, and thousands of mutations of both (byte flips,
 * truncations, inserted quotes, backslashes, control bytes, UTF-8
 * fragments, escapes, deep nesting).
 *
 * Jansson refuses numbers that do not fit an int64 or a double, which the
 * contract takes (SPEC v2 §4): the reference is Jansson reading the input
 * with each such number replaced by a small one of the same kind, sign
 * and length (ref_json.h), so that Jansson still decides everything else
 * and its positions still hold; jscan reads the original.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jscan.h"
#include "ref_json.h"
#include "util.h"

#define JFLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

struct tally {
	size_t accepted, refused;
	size_t big; /* inputs with numbers Jansson refuses for their size */
};

static struct tally tally;

static void show(const char *buf, size_t len)
{
	fprintf(stderr, "input (%zu bytes): ", len);
	for (size_t i = 0; i < len && i < 400; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('\n', stderr);
}

static enum jscan_type jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return JSCAN_OBJECT;
	case JSON_ARRAY:
		return JSCAN_ARRAY;
	case JSON_STRING:
		return JSCAN_STRING;
	case JSON_INTEGER:
		return JSCAN_INTEGER;
	case JSON_REAL:
		return JSCAN_REAL;
	case JSON_TRUE:
		return JSCAN_TRUE;
	case JSON_FALSE:
		return JSCAN_FALSE;
	default:
		return JSCAN_NULL;
	}
}

/* A value span re-read by Jansson on its own; whitespace inside must not matter. */
static json_t *load_span(const char *p, size_t n)
{
	json_t *v = json_loadb(p, n, JFLAGS, NULL);

	if (v == NULL) {
		show(p, n);
		fail_msg("jscan's value span does not parse on its own");
	}
	return v;
}

/*
 * The members jscan_next finds in an accepted object or array value;
 * value is at the same offset in the reference text (ref) as in the input.
 */
static void check_iter(const struct ref_json *ref, const char *value, size_t len,
                       const json_t *want)
{
	struct jscan_iter it;
	struct jscan_member m;
	size_t i = 0;
	void *iter = json_is_object(want) ? json_object_iter((json_t *)(uintptr_t)want) : NULL;

	jscan_iter_init(&it, value, len);
	while (jscan_next(&it, &m)) {
		json_t *v = load_span(ref->text + (m.value - ref->orig), m.value_len);
		json_t *w;
		assert_int_equal(m.type, jtype(v));
		if (json_is_object(want)) {
			char *k = malloc(m.key_len);
			assert_non_null(iter);
			size_t kn = jscan_string(m.key, m.key_len, k);
			assert_int_equal(kn, strlen(json_object_iter_key(iter)));
			assert_memory_equal(k, json_object_iter_key(iter), kn);
			assert_int_equal((m.flags & JSCAN_KEY_ESCAPED) != 0,
			                 memchr(m.key, '\\', m.key_len) != NULL);
			free(k);
			w = json_object_iter_value(iter);
			iter = json_object_iter_next((json_t *)(uintptr_t)want, iter);
		} else {
			assert_null(m.key);
			w = json_array_get(want, i);
		}
		assert_true(json_equal(v, w));
		if (json_is_object(v) || json_is_array(v))
			check_iter(ref, m.value, m.value_len, v);
		json_decref(v);
		i++;
	}
	if (json_is_object(want))
		assert_null(iter);
	else
		assert_int_equal(i, json_array_size(want));
}

/* Both parsers over one input; they must agree. */
static void agree(struct jscan *js, const char *buf, size_t len)
{
	json_error_t je;
	struct jscan_error se;
	struct ref_json ref;
	json_t *j = ref_json_load(&ref, buf, len, JFLAGS, &je);
	int rc = jscan_parse(js, buf, len, &se);

	if (j == NULL)
		ref_json_fix_text(&ref, &je);
	if (ref.nrepl > 0)
		tally.big++;

	if ((j != NULL) != (rc == 0)) {
		show(buf, len);
		fail_msg("Jansson %s (%s), jscan %s (%s)", j ? "accepts" : "refuses",
		         j ? "" : je.text, rc == 0 ? "accepts" : "refuses", rc == 0 ? "" : se.text);
	}
	if (j == NULL) {
		tally.refused++;
		if (je.line != se.line || je.column != se.column ||
		    (size_t)je.position != se.position || strcmp(je.text, se.text) != 0) {
			show(buf, len);
			fail_msg("Jansson: %d:%d@%d %s\njscan:   %d:%d@%zu %s", je.line, je.column,
			         je.position, je.text, se.line, se.column, se.position, se.text);
		}
		ref_json_free(&ref);
		return;
	}
	tally.accepted++;
	assert_int_equal(js->type, jtype(j));
	if (json_is_object(j)) {
		const char *key;
		json_t *v;
		size_t i = 0;

		assert_int_equal(js->nmembers, json_object_size(j));
		json_object_foreach(j, key, v)
		{
			const struct jscan_member *m = &js->members[i++];
			char *k = malloc(m->key_len);
			size_t kn;

			assert_non_null(k);
			kn = jscan_string(m->key, m->key_len, k);
			if (kn != strlen(key) || memcmp(k, key, kn) != 0) {
				show(buf, len);
				fail_msg("member %zu: key \"%s\", Jansson's \"%s\"", i - 1, k, key);
			}
			free(k);
			assert_int_equal(m->type, jtype(v));
			json_t *mine = load_span(ref.text + (m->value - buf), m->value_len);
			if (!json_equal(mine, v)) {
				show(buf, len);
				fail_msg("member \"%s\": values differ", key);
			}
			if (m->type == JSCAN_STRING) {
				char *s = malloc(m->value_len);
				assert_non_null(s);
				size_t sn = jscan_string(m->value, m->value_len, s);
				assert_int_equal(sn, json_string_length(v));
				assert_memory_equal(s, json_string_value(v), sn);
				assert_int_equal((m->flags & JSCAN_VALUE_ESCAPED) != 0,
				                 memchr(m->value, '\\', m->value_len) != NULL);
				free(s);
			}
			if (json_is_object(v) || json_is_array(v))
				check_iter(&ref, m->value, m->value_len, v);
			json_decref(mine);
		}
	}
	json_decref(j);
	ref_json_free(&ref);
}

static void agree_s(struct jscan *js, const char *s)
{
	agree(js, s, strlen(s));
}

/* Inputs with a NUL inside: length given. */
#define AGREE_N(js, lit) agree(js, lit, sizeof(lit) - 1)

static void test_corpus(void **state)
{
	static const char *const docs[] = {
	        /* grammar */
	        "",
	        " ",
	        "\n\n  \t\r",
	        "{}",
	        "[]",
	        "{ }",
	        "[ ]",
	        "0",
	        "-0",
	        "1",
	        "-1",
	        "12",
	        "\"\"",
	        "\"a\"",
	        "true",
	        "false",
	        "null",
	        "tru",
	        "nul",
	        "fals",
	        "truex",
	        "True",
	        "NULL",
	        "nan",
	        "NaN",
	        "Infinity",
	        "-Infinity",
	        "{\"a\":1}",
	        "{\"a\" : 1 }",
	        "{\"a\":1,}",
	        "{,}",
	        "{\"a\"}",
	        "{\"a\":}",
	        "{\"a\" 1}",
	        "{1:1}",
	        "{'a':1}",
	        "{\"a\":1 \"b\":2}",
	        "[1,]",
	        "[,1]",
	        "[1 2]",
	        "[1,,2]",
	        "[",
	        "]",
	        "{",
	        "}",
	        "[[]",
	        "[]]",
	        "{}}",
	        "{\"a\":[}",
	        "{\"a\":{]}",
	        "[1]x",
	        "{} {}",
	        "{}\n\n x",
	        "\n\n{\n\"a\"\n",
	        "1 2",
	        "[1] ",
	        " [1]",
	        "{\"a\":1}\n",
	        ":",
	        ",",
	        "[:]",
	        "[\"a\":1]",
	        "{\"a\":1,\"a\":2}",
	        "{\"a\":1,\"b\":{\"a\":1,\"a\":2}}",
	        "[{\"a\":1,\"a\":1}]",
	        "{\"a\":1,\"\\u0061\":2}",
	        "{\"\":1,\"\":2}",
	        "{\"\":1}",
	        "{\"a\\u0000b\":1}",
	        "{\"a\":\"\\u0000\"}",
	        "[\"\\u0000\"]",
	        "\"\\u0000\"",
	        "{\"a\" \"\\u0000\"}",
	        "[1 \"\\u0000\"]",
	        /* numbers */
	        "01",
	        "-01",
	        "00",
	        "1.",
	        "1.e1",
	        ".5",
	        "-.5",
	        "1e",
	        "1e+",
	        "1e-",
	        "1E5",
	        "1e+5",
	        "1e-5",
	        "-",
	        "--1",
	        "+1",
	        "1.5.5",
	        "0x10",
	        "1a",
	        "-a",
	        "1.5e",
	        "0.0",
	        "-0.0e-0",
	        "1e0",
	        "9223372036854775807",
	        "-9223372036854775808",
	        "9223372036854775808",
	        "-9223372036854775809",
	        "92233720368547758070",
	        "1e308",
	        "1e309",
	        "-1e309",
	        "1.7976931348623157e308",
	        "1.7976931348623158e308",
	        "1.7976931348623159e308",
	        "179769313486231580793728971405303415079934132710037826936173778980444968292764750"
	        "946649017977587207096330286416692887910946555547851940402630657488671505820681908"
	        "902000708383676273854845817711531764475730270069855571366959622842914819860834936"
	        "475292719074168444365510704342711559699508093042880177904174497791.0",
	        "179769313486231580793728971405303415079934132710037826936173778980444968292764750"
	        "946649017977587207096330286416692887910946555547851940402630657488671505820681908"
	        "902000708383676273854845817711531764475730270069855571366959622842914819860834936"
	        "475292719074168444365510704342711559699508093042880177904174497792.0",
	        "0.179769313486231580793728971405303415079934132710037826936173778980444968292764"
	        "750946649017977587207096330286416692887910946555547851940402630657488671505820681"
	        "908902000708383676273854845817711531764475730270069855571366959622842914819860834"
	        "936475292719074168444365510704342711559699508093042880177904174497791999999e309",
	        "0.00000000001797693134862315808e319",
	        "1e-400",
	        "-1e-400",
	        "0e99999999999999999999",
	        "1e99999999999999999999",
	        "1e-99999999999999999999",
	        "0.0000000000e400",
	        "[1e309]",
	        "{\"n\":1e400}",
	        "[-9223372036854775809]",
	        "123456789012345678901234567890",
	        /* strings and escapes */
	        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	        "\"\\x\"",
	        "\"\\u\"",
	        "\"\\u12\"",
	        "\"\\u12G4\"",
	        "\"\\uD800\"",
	        "\"\\uDC00\"",
	        "\"\\uD800\\uDC00\"",
	        "\"\\ud83d\\ude00\"",
	        "\"\\uD800\\u0041\"",
	        "\"\\uD800\\u0000\"",
	        "\"\\uDBFF\\uE000\"",
	        "\"\\uD800\\uD800\"",
	        "\"\\uD800\\n\"",
	        "\"\\uD800x\"",
	        "\"\\uDBFF\\uDFFF\"",
	        "\"\\uD800\\uDC00\\uDC00\"",
	        "\"\\uD800\\u\"",
	        "\"\\uD800\\uDC0\"",
	        "\"\\uD800\\",
	        "\"\\uDC00\\x\"",
	        "\"\\uDC00 \x01\"",
	        "\"\\uD800\\uDC00",
	        "\"abc",
	        "\"a\nb\"",
	        "\"a\tb\"",
	        "\"a\x7f\"",
	        "\"\xe4\xb8\xad\xe6\x96\x87\"",
	        "\"\xff\"",
	        "\"\xc0\xaf\"",
	        "\"\xed\xa0\x80\"",
	        "\"\xf4\x90\x80\x80\"",
	        "\"\xf0\x9f\x98\x80\"",
	        "\"\xe4\xb8\"",
	        "\"\xe4\xb8",
	        "\"\xe4",
	        "\xe4\xb8\xad",
	        "\xff",
	        "[\xff]",
	        "{\"a\":\xe4\xb8}",
	        "1\xff",
	        "tru\xff",
	        "-\xff",
	        "1.\xff",
	        "1e\xff",
	        "1e+\xff",
	        "0\xff",
	        "[1,\xff]",
	        "\"\\\xff\"",
	        "\"\\u\xff\"",
	        "\"\\u1\xe4\xb8\xad\"",
	        "\"\\\xe4\xb8\xad\"",
	        "\"abcdefghijklmnopqrstuvwxyz\x01\"",
	        "\"abcdefghijklmnopqr\x01\"",
	        "\"abcdefghijklmnopqrs\x01\"",
	        "\"abcdefghijklmnopqrst\x01\"",
	        "\"abcdefghijklmnopqrstuvwxyz",
	        "abcdefghijklmnopqrstuvwxyz",
	        "{\"abcdefghijklmnopqrstuvwxyz\" 1}",
	        "[\"abcdefghijklmnopqrs\" 1]",
	        "\xe4\xb8\xad\xe6\x96\x87",
	        "[\"\xe4\xb8\xad\" \"x\"]",
	        "\n\n\xe4\xb8\xad",
	        "[\n1,\n\xe4\xb8\xad\n]",
	        "{\"\xe4\xb8\xad\":\"\xe6\x96\x87\"}",
	        "{\"a\":\"\xe4\xb8\xad\x01zz\"}",
	        "{\"a\":abc\x01\x7f\xe2\x80\xa8}",
	        "\"\xe2\x80\xa8\"",
	        "[\x01]",
	        "[\x7f]",
	        "@",
	        "'a'",
	        "\"a\" \xc2\xa0",
	        "[\"\\u00e9\\u4E2D\\uD834\\uDD1E\"]",
	        "{\"\\ud800\\udc00\":1}",
	        "{\"\\uD800\":1}",
	        "{\"a\":1,\"\\u0062\":2,\"b\":3}",
	};
	struct jscan js;

	(void)state;
	jscan_init(&js);
	for (size_t i = 0; i < GR_NELEM(docs); i++)
		agree_s(&js, docs[i]);
	AGREE_N(&js, "\0");
	AGREE_N(&js, "{}\0");
	AGREE_N(&js, "{\"a\":\"x\0y\"}");
	AGREE_N(&js, "[1,\0]");
	AGREE_N(&js, "\"\\\0\"");
	AGREE_N(&js, "\"\\u1\0\"");
	AGREE_N(&js, "1\0");
	AGREE_N(&js, "tr\0");
	AGREE_N(&js, " \0 ");
	jscan_free(&js);
}

static void agree_depth(struct jscan *js, size_t n, const char *open, const char *inner,
                        const char *close)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, open);
	buf_puts(&b, inner);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, close);
	agree(js, b.data, b.len);
	buf_free(&b);
}

static void test_depth(void **state)
{
	struct jscan js;
	char deep[20001];

	(void)state;
	jscan_init(&js);
	for (size_t n = 2045; n <= 2050; n++) {
		agree_depth(&js, n, "[", "", "]");
		agree_depth(&js, n, "[", "1", "]");
		agree_depth(&js, n, "[", "\"\\u0000\"", "]");
		agree_depth(&js, n, "[", "\"\\uD800\"", "]");
		agree_depth(&js, n, "[", "x", "]");
		agree_depth(&js, n, "{\"a\":", "{}", "}");
		agree_depth(&js, n, "{\"a\":", "{\"b\":1,\"b\":2}", "}");
		agree_depth(&js, n, "[{\"a\":", "[]", "}]");
		agree_depth(&js, n, "[", "", "");
	}
	agree_depth(&js, 100, "{\"a\":", "1", "}");
	agree_depth(&js, 100, "{\"a\":[", "1", "]}");
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	agree_s(&js, deep);
	for (size_t i = 0; i + 5 < sizeof(deep) - 1; i += 5)
		memcpy(deep + i, "{\"a\":", 5);
	agree_s(&js, deep);
	jscan_free(&js);
}

/* SPEC v2 §4: numbers of any size are valid, each member's text kept as written. */
static void test_big_numbers(void **state)
{
	static const char doc[] = "{\"a\":123456789012345678901234567890,\"b\":1e999,"
	                          "\"c\":-1E+99999999999999999999999,\"d\":[1e400,"
	                          "{\"e\":-9223372036854775809}],\"f\":1.5}";
	static const struct {
		const char *text;
		enum jscan_type type;
	} want[] = {{"123456789012345678901234567890", JSCAN_INTEGER},
	            {"1e999", JSCAN_REAL},
	            {"-1E+99999999999999999999999", JSCAN_REAL},
	            {"[1e400,{\"e\":-9223372036854775809}]", JSCAN_ARRAY},
	            {"1.5", JSCAN_REAL}};
	struct jscan js;
	struct jscan_error err;
	size_t big = tally.big;

	(void)state;
	jscan_init(&js);
	assert_int_equal(jscan_parse(&js, doc, sizeof(doc) - 1, &err), 0);
	assert_int_equal(js.nmembers, GR_NELEM(want));
	for (size_t i = 0; i < GR_NELEM(want); i++) {
		assert_int_equal(js.members[i].type, want[i].type);
		assert_int_equal(js.members[i].value_len, strlen(want[i].text));
		assert_memory_equal(js.members[i].value, want[i].text, strlen(want[i].text));
	}
	/* and against the reference: the same members, the same refusals after them */
	agree(&js, doc, sizeof(doc) - 1);
	agree_s(&js, "123456789012345678901234567890");
	agree_s(&js, "-1e999");
	agree_s(&js, "[1e999 x]");
	agree_s(&js, "[1e999x]");
	agree_s(&js, "true1e999");
	agree_s(&js, "1e999 2");
	agree_s(&js, "{\"a\":99999999999999999999,\"a\":1}");
	agree_s(&js, "[123456789012345678901234567890123 1]");
	AGREE_N(&js, "1e999\0");
	AGREE_N(&js, "[1e999\0]");
	assert_int_equal(tally.big - big, 11);
	jscan_free(&js);
}

static void test_many_keys(void **state)
{
	struct jscan js;
	struct buf b;

	(void)state;
	jscan_init(&js);
	buf_init(&b);
	/* past the linear search and through several index sizes, then a duplicate */
	for (int n = 1; n <= 2000; n = n < 40 ? n + 1 : n * 3 / 2) {
		buf_reset(&b);
		buf_puts(&b, "{");
		for (int i = 0; i < n; i++)
			buf_printf(&b, "%s\"k%d\":{\"x%d\":%d,\"y\":[%d]}", i ? "," : "", i, i, i,
			           i);
		buf_puts(&b, "}");
		agree(&js, b.data, b.len);
		buf_truncate(&b, b.len - 1);
		buf_printf(&b, ",\"k%d\":1}", n / 2);
		agree(&js, b.data, b.len);
		buf_truncate(&b, b.len - strlen(",\"k%d\":1}") - 2);
		buf_printf(&b, ",\"\\u006b%d\":1}", n - 1);
		agree(&js, b.data, b.len);
	}
	/* nested objects with many keys each */
	buf_reset(&b);
	buf_puts(&b, "{");
	for (int i = 0; i < 50; i++) {
		buf_printf(&b, "%s\"o%d\":{", i ? "," : "", i);
		for (int k = 0; k < 30; k++)
			buf_printf(&b, "%s\"\\u0078%d\":%d", k ? "," : "", k, k);
		buf_puts(&b, "}");
	}
	buf_puts(&b, "}");
	agree(&js, b.data, b.len);
	buf_free(&b);
	jscan_free(&js);
}

static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void gen_string(struct buf *b)
{
	static const char *const bits[] = {"a",
	                                   "Z",
	                                   " ",
	                                   "井",
	                                   "盖",
	                                   "\\n",
	                                   "\\\"",
	                                   "\\\\",
	                                   "\\/",
	                                   "\\u00e9",
	                                   "\\u4e2D",
	                                   "\\uD83D\\uDE00",
	                                   "\xf0\x9f\x98\x80",
	                                   "\\t",
	                                   "/",
	                                   "'",
	                                   "\x7f",
	                                   "\xc2\xa0",
	                                   "\xe2\x80\xa8",
	                                   "\\u0001",
	                                   "\\b"};
	size_t n = rnd() % 8;

	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++)
		buf_puts(b, bits[rnd() % GR_NELEM(bits)]);
	buf_putc(b, '"');
}

static void gen_ws(struct buf *b)
{
	static const char *const ws[] = {"", "", "", "", " ", "\n", "\t", "\r\n  "};
	buf_puts(b, ws[rnd() % GR_NELEM(ws)]);
}

static void gen_value(struct buf *b, int depth)
{
	static const char *const nums[] = {"0",
	                                   "-0",
	                                   "1",
	                                   "-17",
	                                   "3.25",
	                                   "1e10",
	                                   "2E-3",
	                                   "-0.5e+2",
	                                   "35.720646",
	                                   "107.656256",
	                                   "9223372036854775807",
	                                   "-9223372036854775808",
	                                   "1.5e308",
	                                   "1e-320"};
	unsigned k = rnd() % (depth > 4 ? 6 : 9);

	switch (k) {
	case 0:
		buf_puts(b, nums[rnd() % GR_NELEM(nums)]);
		break;
	case 1:
	case 2:
		gen_string(b);
		break;
	case 3:
		buf_puts(b, "true");
		break;
	case 4:
		buf_puts(b, "false");
		break;
	case 5:
		buf_puts(b, "null");
		break;
	case 6:
	case 7: {
		size_t n = rnd() % 5;
		buf_putc(b, '{');
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(b, ',');
			gen_ws(b);
			/* distinct keys, some spelled with escapes */
			if (rnd() % 4 == 0)
				buf_printf(b, "\"\\u006b%zu\"", i);
			else
				buf_printf(b, "\"k%zu\"", i);
			gen_ws(b);
			buf_putc(b, ':');
			gen_ws(b);
			gen_value(b, depth + 1);
			gen_ws(b);
		}
		buf_putc(b, '}');
		break;
	}
	default: {
		size_t n = rnd() % 5;
		buf_putc(b, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(b, ',');
			gen_ws(b);
			gen_value(b, depth + 1);
			gen_ws(b);
		}
		buf_putc(b, ']');
		break;
	}
	}
}

/* One random edit of b: the kinds of damage a peer's bytes may have. */
static void mutate(struct buf *b)
{
	static const char *const frags[] = {"\"",
	                                    "\\",
	                                    "\\u",
	                                    "\\uD800",
	                                    "\\uDC00",
	                                    "\\u0000",
	                                    "\xed\xa0\x80",
	                                    "\xc0\xaf",
	                                    "\xe4\xb8",
	                                    "\xe4",
	                                    "\xf4\x90\x80\x80",
	                                    "\xff",
	                                    "\x01",
	                                    "\n",
	                                    "\x00",
	                                    "{",
	                                    "}",
	                                    "[",
	                                    "]",
	                                    ":",
	                                    ",",
	                                    "1e999",
	                                    "-",
	                                    "0",
	                                    ".",
	                                    "e",
	                                    "true",
	                                    "nul",
	                                    "\"k0\":1,",
	                                    "\"k1\":",
	                                    "[[[[",
	                                    "]]]]",
	                                    "{\"a\":",
	                                    "\xe4\xb8\xad",
	                                    " ",
	                                    "\\x",
	                                    "\\uZZZZ",
	                                    "99999999999999999999",
	                                    "\t",
	                                    "/"};
	size_t pos = b->len > 0 ? rnd() % (b->len + 1) : 0;

	switch (rnd() % 6) {
	case 0: /* flip a byte to anything */
		if (b->len > 0)
			b->data[rnd() % b->len] = (char)(rnd() & 0xff);
		break;
	case 1: /* truncate */
		buf_truncate(b, pos);
		break;
	case 2: /* delete a byte */
		if (pos < b->len) {
			memmove(b->data + pos, b->data + pos + 1, b->len - pos - 1);
			buf_truncate(b, b->len - 1);
		}
		break;
	default: { /* insert a fragment */
		const char *f = frags[rnd() % GR_NELEM(frags)];
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

static void test_random(void **state)
{
	struct jscan js;
	struct buf b, orig;

	/* JSCAN_ITERS and JSCAN_SEED: longer runs by hand */
	const char *iters_env = getenv("JSCAN_ITERS"), *seed_env = getenv("JSCAN_SEED");
	long iters = iters_env != NULL ? strtol(iters_env, NULL, 10) : 20000;

	(void)state;
	if (seed_env != NULL && strtoul(seed_env, NULL, 10) != 0)
		rnd_state = (uint32_t)strtoul(seed_env, NULL, 10);
	jscan_init(&js);
	buf_init(&b);
	buf_init(&orig);
	tally.accepted = tally.refused = tally.big = 0;
	for (long iter = 0; iter < iters; iter++) {
		buf_reset(&orig);
		gen_ws(&orig);
		if (iter % 3 == 0) {
			gen_value(&orig, 0);
		} else {
			/* an object at the top, like the documents we get */
			buf_puts(&orig, "{\"id\":\"x-1\",\"title\":");
			gen_string(&orig);
			buf_puts(&orig, ",\"v\":");
			gen_value(&orig, 1);
			buf_puts(&orig, ",\"w\":");
			gen_value(&orig, 1);
			buf_puts(&orig, "}");
		}
		gen_ws(&orig);
		agree(&js, orig.data, orig.len);
		for (int k = 0; k < 4; k++) {
			buf_reset(&b);
			buf_append(&b, orig.data, orig.len);
			for (unsigned m = 0; m < 1 + rnd() % 3; m++)
				mutate(&b);
			agree(&js, b.data, b.len);
		}
	}
	fprintf(stderr,
	        "jscan vs Jansson, random: %zu accepted, %zu refused (%zu with big numbers), all "
	        "agreeing\n",
	        tally.accepted, tally.refused, tally.big);
	assert_true(tally.accepted * 4 > (size_t)iters && tally.refused * 2 > (size_t)iters);
	buf_free(&b);
	buf_free(&orig);
	jscan_free(&js);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_corpus),      cmocka_unit_test(test_depth),
	        cmocka_unit_test(test_big_numbers), cmocka_unit_test(test_many_keys),
	        cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
