/*
 * test_sha1.c: SHA-1 against the FIPS 180 examples and inputs whose
 * padding falls on each side of a block's end (values from Python's
 * hashlib).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha1.h"

static void check(const void *p, size_t len, const char *want)
{
	char got[41];

	sha1_hex(p, len, got);
	assert_string_equal(got, want);
}

static void test_vectors(void **state)
{
	(void)state;
	check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	      "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	check("\xe4\xba\x95\xe7\x9b\x96\xe7\xbc\xba\xe5\xa4\xb1", 12, /* 井盖缺失 */
	      "44c3ca66038d65780b8c0b3f31b24d2f5b758f34");
}

/* 55 bytes leave room for the length in the same block, 56 do not; 64 fill it. */
static void test_block_edges(void **state)
{
	static const struct {
		size_t len;
		const char *want;
	} cases[] = {
	        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
	        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
	        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
	        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
	        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
	        {1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
	};
	char *a = malloc(1000000);

	(void)state;
	assert_non_null(a);
	memset(a, 'a', 1000000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(a, cases[i].len, cases[i].want);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),
	        cmocka_unit_test(test_block_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
