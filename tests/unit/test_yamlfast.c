/*
 * test_yamlfast.c: the fast path of ydoc_load against libyaml. For every
 * YAML file in the repository, a list of tricky snippets and a stream of
 * deterministic mutations of the sample rules, the fast path must either
 * decline or build the very tree the libyaml composer builds (node by
 * node: type, style, line, column, text, children). ydoc_load as a whole
 * must report exactly what libyaml alone reports.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "yamlfast.h"

enum want { ACCEPT, DECLINE, EITHER };

static char *format_all(const struct diags *d)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(d, &d->v[i]);
		buf_puts(&b, s);
		buf_putc(&b, '\n');
		free(s);
	}
	return buf_detach(&b);
}

/* Both paths on buf; returns whether the fast path accepted it. */
static bool differ(const char *what, const char *buf, size_t len)
{
	struct ydoc fast, slow;
	struct diags d;
	char why[256];
	int rf, rs;
	bool same = true;

	memset(&fast, 0, sizeof(fast));
	rf = ydoc_load_fast(&fast, buf, len);
	diags_init(&d, "t.yaml");
	rs = ydoc_load_libyaml(&slow, buf, len, &d);
	if (rf == 0) {
		if (rs != 0)
			print_error("%s: the fast path took what libyaml rejects\n", what);
		else if (!ydoc_tree_same(&fast, &slow, why, sizeof(why)))
			print_error("%s: trees differ: %s\n", what, why);
		same = rs == 0 && ydoc_tree_same(&fast, &slow, why, sizeof(why));
	} else {
		assert_int_equal(rf, 1);
		assert_null(fast.nodes);
		assert_int_equal(fast.nnodes, 0);
	}
	free(fast.nodes);
	free(fast.kids);
	free(fast.text);
	ydoc_free(&slow);
	diags_free(&d);
	if (!same)
		fail_msg("%s: the fast path differs from libyaml", what);
	return rf == 0;
}

/* ydoc_load (fast path first) reports what libyaml alone does. */
static void same_report(const char *what, const char *buf, size_t len)
{
	struct ydoc a, b;
	struct diags da, db;
	char *sa, *sb;
	int ra, rb;

	diags_init(&da, "t.yaml");
	diags_init(&db, "t.yaml");
	ra = ydoc_load(&a, buf, len, &da);
	rb = ydoc_load_libyaml(&b, buf, len, &db);
	sa = format_all(&da);
	sb = format_all(&db);
	if (ra != rb || strcmp(sa, sb) != 0)
		print_error("%s: ydoc_load %d \"%s\", libyaml %d \"%s\"\n", what, ra, sa, rb, sb);
	assert_int_equal(ra, rb);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	ydoc_free(&a);
	ydoc_free(&b);
	diags_free(&da);
	diags_free(&db);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	assert_non_null(fp);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	*len = b.len;
	buf_putc(&b, '\0');
	return buf_detach(&b);
}

/* Every YAML file in the repository but generated benchmark output. */
static void test_repo_files(void **state)
{
	static const char *const patterns[] = {"conf/*.yaml", "tests/*/*.yaml", "tests/*/*/*.yaml",
	                                       "tests/*/*/*/*.yaml"};
	size_t files = 0, accepted = 0;

	(void)state;
	for (size_t i = 0; i < GR_NELEM(patterns); i++) {
		glob_t g;
		if (glob(patterns[i], 0, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++) {
			const char *path = g.gl_pathv[k];
			size_t len;
			if (strstr(path, "/out/") != NULL)
				continue;
			char *buf = slurp(path, &len);
			accepted += differ(path, buf, len);
			same_report(path, buf, len);
			files++;
			free(buf);
		}
		globfree(&g);
	}
	assert_true(files >= 10);
	/* the samples and test rules are what the fast path is for */
	assert_true(accepted * 10 >= files * 8);
}

#define S(want, text)                                                                              \
	{                                                                                          \
		want, text, sizeof(text) - 1                                                       \
	}

static const struct snippet {
	enum want want;
	const char *text;
	size_t len;
} snippets[] = {
        S(ACCEPT, "a: 1\n"),
        S(ACCEPT, "a: 1"),
        S(ACCEPT, "a: 'it''s'\nb: \"q\\\"x\\\\y\"\n"),
        S(ACCEPT, "a: \"\\x41\\u00e9\\U0001F600\\t\\n\\0\\_\\N\\L\\P\\e\\a\\b\\v\\f\\r\\ \"\n"),
        S(ACCEPT, "名字: 网格员\nb: \"网格\"\nc: '心怡'\n"),
        S(ACCEPT, "a: b # comment\nc: d#e\n"),
        S(ACCEPT, "a:\nb: 1\n"),
        S(ACCEPT, "a:\n"),
        S(ACCEPT, "a:"),
        S(ACCEPT, "a:   # c\n  \nb:\n"),
        S(ACCEPT, "a:\n  b:\nc: 1\n"),
        S(ACCEPT, "a:\n  b:"),
        S(ACCEPT, "a:\n  b: 1\n  c:\n    - x\n    - y\nd: 2\n"),
        S(ACCEPT, "a:\n- x\n- y\nb: 1\n"),
        S(ACCEPT, "a:\n- x\n-\nb:\n"),
        S(ACCEPT, "- - x\n  - y\n- z\n"),
        S(ACCEPT, "- - - x\n- -\n"),
        S(ACCEPT, "- a: 1\n  b: 2\n- c: 3\n"),
        S(ACCEPT, "-\n  a: 1\n-\n- x\n"),
        S(ACCEPT, "- \n- x\n-"),
        S(ACCEPT, "-   a: 1\n    b: 2\n"),
        S(ACCEPT, "- a:\n  b: 1\n- a:\n    - x\n  c:\n  - y\n"),
        S(ACCEPT, "a: [x, y, 'z', \"w\"]\n"),
        S(ACCEPT, "a: {k: v, k2: [1, 2], k3: {}}\n"),
        S(ACCEPT, "a: [x,\n    y, # c\n    z]\nb: 1\n"),
        S(ACCEPT, "a: {k: v,\n  k2: w}\n"),
        S(ACCEPT, "a: [\n  x\n  , y\n  ]\n"),
        S(ACCEPT, "a: {k:\n    v}\n"),
        S(ACCEPT, "a: 1\nb: -1\nc: 1.5\nd: 0x1f\ne: 1e3\nf: +3\n"),
        S(ACCEPT, "a: ~\nb: null\nc: \"true\"\nd: true\ne: ''\nf: 'null'\n"),
        S(ACCEPT, "\"a:b\": 1\n'c: d': 2\n\"e\" : 3\n"),
        S(ACCEPT, "a: b:c\nd: http://x/y?z=1\n"),
        S(ACCEPT, "---\na: 1\n"),
        S(ACCEPT, "--- # doc\na: 1\n"),
        S(ACCEPT, "# only comment\n\na: 1\n\n# tail\n"),
        S(ACCEPT, "  a: 1\n  b: 2\n"),
        S(ACCEPT, "[a, b]\n"),
        S(ACCEPT, "{a: 1}\n# c\n"),
        S(ACCEPT, "a: [  ]\nb: {  }\nc: []\n"),
        S(ACCEPT, "a: x y  z  \n"),
        S(ACCEPT, "key with spaces: v\na : 1\n"),
        S(ACCEPT, "a: 'x' # c\nb: \"y\"  \n"),
        S(ACCEPT, "a: [\"x\", 'y', \"\\u00e9\"]\n"),
        S(ACCEPT, "a: b\n\n\n"),
        S(ACCEPT, "a:\n  - b\n  -\n  - c\n"),
        S(ACCEPT, "a: [a b, c d]\n"),
        S(ACCEPT, "a: {x: [1, [2, 3]], y: {z: w}}\n"),
        S(ACCEPT, "a: \"\"\nb: ''\nc: ' x '\n"),
        S(ACCEPT, "a:    \"x\"\n"),
        S(ACCEPT, "seq:\n  - [a, b]\n  - {c: d}\n  - 'q'\n"),
        S(ACCEPT, "a: 1 # c\n# c2\n  # c3\nb: 2\n"),
        S(ACCEPT, "a:\n    b: 1\nc: 2\n"),
        S(ACCEPT, "a: #x\nb: c #d\n"),
        S(ACCEPT, "a: b#x\n"),
        S(ACCEPT, "a: [x]  # c\n"),
        S(ACCEPT, "'': 1\n\"\": 2\n"),
        S(ACCEPT, "a: 网格 员\nb: [网格, 员]\n"),
        S(ACCEPT, "a: -x\nb: [-1, -y]\nc: x-\n"),
        S(ACCEPT, "a: x - y\nb: x, y\nc: x]\n"),
        S(ACCEPT, "a: 'x\"y'\nb: \"x'y\"\n"),
        S(ACCEPT, "a: \"\\x00\"\nb: \"x\\0y\"\n"),
        S(ACCEPT, "a: 1\n  # c\n"),
        S(ACCEPT, "a: b\nc: d\na: e\n"),
        S(ACCEPT, "---x: 1\n"),
        S(ACCEPT, "a: [\"a, b\", 'c]']\n"),
        /* errors and features beyond the subset: libyaml reads them */
        S(DECLINE, "a: b: c\n"),
        S(DECLINE, "a:\tb\n"),
        S(DECLINE, "\ta: 1\n"),
        S(DECLINE, "a: &x 1\nb: *x\n"),
        S(DECLINE, "a: *x\n"),
        S(DECLINE, "a: &x 1\nb: &x 2\n"),
        S(DECLINE, "a: !!str 1\n"),
        S(DECLINE, "a: !foo x\n"),
        S(DECLINE, "- !foo x\n"),
        S(DECLINE, "a: !x {b: c}\n"),
        S(DECLINE, "a: [!x b]\n"),
        S(DECLINE, "!x a: b\n"),
        S(DECLINE, "a: ! b\n"),
        S(DECLINE, "a: !!python/object:os.system [x]\n"),
        S(DECLINE, "a: |\n  x\n"),
        S(DECLINE, "a: >\n  x\n"),
        S(DECLINE, "a: x\n  y\n"),
        S(DECLINE, "a: \"x\n  y\"\n"),
        S(DECLINE, "a: 'x\n  y'\n"),
        S(DECLINE, "? a\n: b\n"),
        S(DECLINE, "a: 1\n---\nb: 2\n"),
        S(DECLINE, "a: 1\n---\nb: : 2\n"),
        S(DECLINE, "%YAML 1.1\n---\na: 1\n"),
        S(DECLINE, "\xef\xbb\xbf"
                   "a: 1\n"),
        S(DECLINE, "a: \xff\n"),
        S(DECLINE, "a: \xe7\xbd\n"),
        S(DECLINE, "a: \xf0\x9f\x98\x80\n"),
        S(DECLINE, "a: x\xe2\x80\xa8y\n"),
        S(DECLINE, "a: x\xc2\x85y\n"),
        S(DECLINE, "a: \x01\n"),
        S(DECLINE, "a: \x7f\n"),
        S(DECLINE, "a: 1\0b: 2\n"),
        S(DECLINE, "a: 1\r\nb: 2\r\n"),
        S(DECLINE, "a: 1\n b: 2\n"),
        S(DECLINE, "a:\n  b: 1\n c: 2\n"),
        S(DECLINE, "- a\nb: 1\n"),
        S(DECLINE, "a: 1\n- b\n"),
        S(DECLINE, "a:\n  - x\n  b: 1\n"),
        S(DECLINE, "a: [a, b,]\n"),
        S(DECLINE, "a: [a, , b]\n"),
        S(DECLINE, "a: {x}\n"),
        S(DECLINE, "a: {x: }\n"),
        S(DECLINE, "a: {x:, y: 1}\n"),
        S(DECLINE, "a: [x: y]\n"),
        S(DECLINE, "a: {x:y}\n"),
        S(DECLINE, "a: {\"x\":y}\n"),
        S(DECLINE, "a: \"\\/\"\n"),
        S(DECLINE, "a: \"\\q\"\n"),
        S(DECLINE, "a: \"\\uD800\"\n"),
        S(DECLINE, "a: \"\\x4\"\n"),
        S(DECLINE, "a: \"x\\\n  y\"\n"),
        S(DECLINE, ""),
        S(DECLINE, "# c\n"),
        S(DECLINE, "---\n"),
        S(DECLINE, "a: 1\n...\n"),
        S(DECLINE, "a: [x\n"),
        S(DECLINE, "a: [x]]\n"),
        S(DECLINE, "a: -\n"),
        S(DECLINE, "a: - b\n"),
        S(DECLINE, "a: [-]\n"),
        S(DECLINE, "a: [- x]\n"),
        S(DECLINE, "a: @x\n"),
        S(DECLINE, "a: `x`\n"),
        S(DECLINE, "a: %x\n"),
        S(DECLINE, "a: \"x\"y\n"),
        S(DECLINE, "a: 'x'#c\n"),
        S(DECLINE, "a: [x]#c\n"),
        S(DECLINE, "[a]: b\n"),
        S(DECLINE, "{a: 1}: b\n"),
        S(DECLINE, "a:\n  [x, y]\n"),
        S(DECLINE, "a:\n  x\n"),
        S(DECLINE, "a: {b: c}: d\n"),
        S(DECLINE, "a: 1\nb\n"),
        S(DECLINE, "- a\n  - b\n"),
        S(DECLINE, "a: [x,\ny]\n"),
        S(EITHER, "a: [x\n  , y]\n"),
        S(DECLINE, "a: {x\n  : y}\n"),
        S(DECLINE, "x\n"),
        S(DECLINE, "'x'\n"),
        S(DECLINE, "a: 1\n\n  b: 2\n"),
        S(DECLINE, "a:\n    - x\n  b: 1\n"),
        S(DECLINE, "a: 1\n --- \n"),
        S(DECLINE, "- ? x\n"),
        S(DECLINE, "-\tx\n"),
        S(EITHER, "a: [x,\n  y]\n"),
        S(EITHER, "a: 'x' #c\n"),
        S(EITHER, "a: {b: [c,\n d]}\n"),
};

static void test_snippets(void **state)
{
	char what[64];

	(void)state;
	for (size_t i = 0; i < GR_NELEM(snippets); i++) {
		const struct snippet *s = &snippets[i];
		snprintf(what, sizeof(what), "snippet %zu", i);
		bool took = differ(what, s->text, s->len);
		if (s->want != EITHER && took != (s->want == ACCEPT))
			fail_msg("snippet %zu \"%s\": the fast path %s it", i, s->text,
			         took ? "took" : "declined");
		same_report(what, s->text, s->len);
	}
}

/* Keys near libyaml's 1024-character limit on simple keys. */
static void test_long_keys(void **state)
{
	static const size_t sizes[] = {10, 990, 1000, 1023, 1024, 1025, 2000};
	struct buf b;

	(void)state;
	for (size_t i = 0; i < GR_NELEM(sizes); i++) {
		for (int flow = 0; flow < 2; flow++) {
			buf_init(&b);
			buf_puts(&b, flow ? "a: {" : "");
			for (size_t k = 0; k < sizes[i]; k++)
				buf_putc(&b, 'k');
			buf_puts(&b, flow ? ": v}\n" : ": v\n");
			differ("long key", b.data, b.len);
			same_report("long key", b.data, b.len);
			buf_free(&b);
		}
	}
}

/*
 * Deep nesting: up to YDOC_DEPTH_MAX collections (the root one of them)
 * the fast path reads it, beyond it declines, and libyaml's path refuses
 * it (SPEC v2: the same limit on both), however deep.
 */
static void test_deep(void **state)
{
	static const int depths[] = {YDOC_DEPTH_MAX - 1, YDOC_DEPTH_MAX, 500, 150000};
	struct buf b;
	struct ydoc y;
	struct diags d;

	(void)state;
	for (size_t k = 0; k < GR_NELEM(depths); k++) {
		int n = depths[k] - 1; /* the root mapping is one */
		buf_init(&b);
		buf_puts(&b, "a: ");
		for (int i = 0; i < n; i++)
			buf_putc(&b, '[');
		for (int i = 0; i < n; i++)
			buf_putc(&b, ']');
		buf_putc(&b, '\n');
		assert_int_equal(differ("deep", b.data, b.len), depths[k] <= YDOC_DEPTH_MAX);
		same_report("deep", b.data, b.len);
		diags_init(&d, "t.yaml");
		assert_int_equal(ydoc_load_libyaml(&y, b.data, b.len, &d),
		                 depths[k] <= YDOC_DEPTH_MAX ? 0 : -1);
		if (depths[k] > YDOC_DEPTH_MAX) {
			char *s = format_all(&d);
			assert_string_equal(s,
			                    "t.yaml:1:103: error: invalid YAML: collections nested "
			                    "more than 100 deep\n");
			free(s);
		}
		ydoc_free(&y);
		diags_free(&d);
		buf_free(&b);
	}
}

/*
 * ydoc_read_file, which the rules and the config are read with: a FIFO
 * (whose open(2) would wait for a writer, and a reload thread with it),
 * a device and a directory are refused at once; a file is read whole.
 */
static void test_read_file(void **state)
{
	char dir[] = "/tmp/gridroute-test-yaml-XXXXXX", fifo[64], want[160];
	struct diags d;
	char *text = NULL, *got;
	size_t len = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/rules.yaml", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* the readers before it blocked in open(2) here */
	diags_init(&d, fifo);
	assert_int_equal(ydoc_read_file(fifo, 1024, &text, &len, &d), -1);
	alarm(0);
	got = format_all(&d);
	snprintf(want, sizeof(want), "%s: error: cannot read: a FIFO, not a regular file\n", fifo);
	assert_string_equal(got, want);
	free(got);
	diags_free(&d);
	unlink(fifo);
	rmdir(dir);

	diags_init(&d, "f");
	assert_int_equal(ydoc_read_file("/dev/zero", 1024, &text, &len, &d), -1);
	assert_int_equal(ydoc_read_file("tests", 1024, &text, &len, &d), -1);
	got = format_all(&d);
	assert_string_equal(got, "f: error: cannot read: a character device, not a regular file\n"
	                         "f: error: cannot read: a directory, not a regular file\n");
	free(got);
	assert_int_equal(ydoc_read_file("conf/rules.yaml", 100, &text, &len, &d), -1);
	assert_int_equal(ydoc_read_file("conf/rules.yaml", 1 << 20, &text, &len, &d), 0);
	assert_true(len > 100 && memchr(text, '\n', len) != NULL);
	free(text);
	diags_free(&d);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Mutations of the sample rules: bytes replaced, inserted or deleted
 * with YAML's own punctuation, a few at a time, over and over.
 */
static void test_mutations(void **state)
{
	static const char alphabet[] = " :-#[]{},'\"\n\t&*!|>?%\\xy0\xe7";
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t len, accepted = 0, rounds = 20000;
	char *orig = slurp("conf/rules.yaml", &len);
	char *m = malloc(len + 64);

	(void)state;
	assert_non_null(m);
	for (size_t r = 0; r < rounds; r++) {
		size_t n = len, edits = 1 + rng_next(&seed) % 4;
		memcpy(m, orig, len);
		for (size_t e = 0; e < edits && n > 0; e++) {
			size_t at = rng_next(&seed) % n;
			char c = alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
			switch (rng_next(&seed) % 3) {
			case 0:
				m[at] = c;
				break;
			case 1:
				memmove(m + at + 1, m + at, n - at);
				m[at] = c;
				n++;
				break;
			default:
				memmove(m + at, m + at + 1, n - at - 1);
				n--;
				break;
			}
		}
		accepted += differ("mutation", m, n);
	}
	/* most mutations leave something the fast path still reads */
	assert_true(accepted > rounds / 10);
	free(m);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_repo_files), cmocka_unit_test(test_snippets),
	        cmocka_unit_test(test_long_keys),  cmocka_unit_test(test_deep),
	        cmocka_unit_test(test_mutations),  cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
