/*
 * test_htab.c: the string map under every rules index: puts and gets,
 * duplicates, growth, keys that differ only in length or in their last
 * byte, long keys, and the prefix hashes that routing relies on (each one
 * must be the hash of that prefix as a key of its own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "htab.h"

static void test_put_get(void **state)
{
	static const char *const keys[] = {"a", "b", "ab", "ba", "", "urban_management", "x/y/z"};
	struct htab h;

	(void)state;
	htab_init(&h, 4);
	for (size_t i = 0; i < GR_NELEM(keys); i++)
		assert_int_equal(htab_put(&h, keys[i], strlen(keys[i]), (int)i), 0);
	for (size_t i = 0; i < GR_NELEM(keys); i++)
		assert_int_equal(htab_get(&h, keys[i], strlen(keys[i])), (int)i);
	assert_int_equal(htab_get(&h, "c", 1), -1);
	assert_int_equal(htab_get(&h, "x/y", 3), -1);
	/* a prefix of a key is looked up by length, without copying */
	assert_int_equal(htab_get(&h, "abc", 2), 2);
	/* a second put keeps the first value */
	assert_int_equal(htab_put(&h, "ab", 2, 99), -1);
	assert_int_equal(htab_get(&h, "ab", 2), 2);
	assert_int_equal(h.n, GR_NELEM(keys));
	htab_free(&h);
}

/* htab_set changes a present key's value and address, and never adds one. */
static void test_set(void **state)
{
	char first[] = "w000001", copy[] = "w000001";
	struct htab h;

	(void)state;
	htab_init(&h, 4);
	assert_int_equal(htab_put(&h, first, 7, -1), 0);
	assert_int_equal(htab_get(&h, "w000001", 7), -1);
	assert_int_equal(htab_set(&h, copy, 7, 5), 0);
	assert_int_equal(htab_get(&h, "w000001", 7), 5);
	first[0] = 'x'; /* the table holds copy now, not first */
	assert_int_equal(htab_get(&h, "w000001", 7), 5);
	assert_int_equal(htab_set(&h, "w000002", 7, 6), -1);
	assert_int_equal(htab_get(&h, "w000002", 7), -1);
	assert_int_equal(h.n, 1);
	htab_free(&h);
}

/* Grows from 16 slots to many: every key is still found, at most half the slots used. */
static void test_grow(void **state)
{
	char(*keys)[32] = calloc(20000, 32);
	struct htab h;

	(void)state;
	assert_non_null(keys);
	htab_init(&h, 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(keys[i], 32, "xifeng/jd%02d/sq%03d/g%03d", i % 20, i % 50, i);
		assert_int_equal(htab_put(&h, keys[i], strlen(keys[i]), i), 0);
	}
	assert_true(h.n * 2 <= h.cap);
	for (int i = 0; i < 20000; i++) {
		char other[40];
		assert_int_equal(htab_get(&h, keys[i], strlen(keys[i])), i);
		snprintf(other, sizeof(other), "%s/", keys[i]);
		assert_int_equal(htab_get(&h, other, strlen(other)), -1);
	}
	htab_free(&h);
	free(keys);
}

/* Keys of 65,535 bytes and more keep no length in the slot: they are NUL-terminated. */
static void test_long_keys(void **state)
{
	size_t n = 70000;
	char *a = malloc(n + 1), *b = malloc(n + 2);
	struct htab h;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'k', n);
	a[n] = '\0';
	memset(b, 'k', n + 1);
	b[n + 1] = '\0';
	htab_init(&h, 2);
	assert_int_equal(htab_put(&h, a, n, 1), 0);
	assert_int_equal(htab_put(&h, b, n + 1, 2), 0);
	assert_int_equal(htab_put(&h, a, n, 3), -1);
	assert_int_equal(htab_get(&h, a, n), 1);
	assert_int_equal(htab_get(&h, b, n + 1), 2);
	assert_int_equal(htab_get(&h, b, n), 1); /* b's first n bytes are a */
	assert_int_equal(htab_get(&h, a, 65535), -1);
	for (int i = 0; i < 40; i++) {
		char k[16];
		snprintf(k, sizeof(k), "s%d", i);
		htab_put(&h, xstrdup(k), strlen(k), 10 + i); /* grows, rehashing the long keys */
	}
	assert_int_equal(htab_get(&h, a, n), 1);
	assert_int_equal(htab_get(&h, b, n + 1), 2);
	for (size_t i = 0; i < h.cap; i++) {
		if (h.slots[i].key != NULL && h.slots[i].key != a && h.slots[i].key != b)
			free((void *)(uintptr_t)h.slots[i].key);
	}
	htab_free(&h);
	free(a);
	free(b);
}

/* Every prefix hash equals the hash of that prefix, whatever the length and where the '/' are. */
static void test_prefix_hashes(void **state)
{
	char key[48];
	size_t lens[20];
	uint64_t hashes[20];

	(void)state;
	for (unsigned seed = 1; seed < 3000; seed++) {
		size_t len = seed % 41, nsep = 0;
		unsigned x = seed * 2654435761u;
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			key[i] = (x >> 16) % 5 == 0 ? '/' : (char)('a' + (x >> 8) % 26);
			nsep += key[i] == '/';
		}
		size_t n = htab_hash_prefixes(key, len, '/', lens, hashes, GR_NELEM(lens));
		assert_int_equal(n, nsep + 1);
		for (size_t k = 0, at = 0; k < n; k++) {
			if (k + 1 < n) {
				while (key[at] != '/')
					at++;
				assert_int_equal(lens[k], at);
				at++;
			} else {
				assert_int_equal(lens[k], len);
			}
			assert_true(hashes[k] == htab_hash(key, lens[k]));
		}
	}
}

static void test_prefix_hashes_room(void **state)
{
	const char *u = "a/b/c/d";
	size_t lens[4];
	uint64_t hashes[4];

	(void)state;
	assert_int_equal(htab_hash_prefixes(u, strlen(u), '/', lens, hashes, 4), 4);
	assert_int_equal(htab_hash_prefixes(u, strlen(u), '/', lens, hashes, 3), 0);
	assert_int_equal(htab_hash_prefixes("", 0, '/', lens, hashes, 1), 1);
	assert_int_equal(lens[0], 0);
	assert_true(hashes[0] == htab_hash("", 0));
}

/* Looking a prefix up by its hash finds what a plain get finds. */
static void test_get_hashed(void **state)
{
	static const char *const units[] = {"x", "x/s", "x/s/c", "x/s/c/g01"};
	const char *reported = "x/s/c/g01/house7";
	size_t lens[8];
	uint64_t hashes[8];
	struct htab h;

	(void)state;
	htab_init(&h, 4);
	for (size_t i = 0; i < GR_NELEM(units); i++)
		htab_put(&h, units[i], strlen(units[i]), (int)i);
	size_t n = htab_hash_prefixes(reported, strlen(reported), '/', lens, hashes, 8);
	assert_int_equal(n, 5);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(htab_get_hashed(&h, reported, lens[k], hashes[k]),
		                 htab_get(&h, reported, lens[k]));
	assert_int_equal(htab_get_hashed(&h, reported, lens[3], hashes[3]), 3);
	assert_int_equal(htab_get_hashed(&h, reported, lens[4], hashes[4]), -1);
	htab_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_put_get),       cmocka_unit_test(test_set),
	        cmocka_unit_test(test_grow),          cmocka_unit_test(test_long_keys),
	        cmocka_unit_test(test_prefix_hashes), cmocka_unit_test(test_prefix_hashes_room),
	        cmocka_unit_test(test_get_hashed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
