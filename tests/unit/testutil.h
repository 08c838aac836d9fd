/*
 * testutil.h: what several unit tests share — every diagnostic of a set as
 * the admin reads it, and a small deterministic random generator.
 */
#ifndef GR_TESTUTIL_H
#define GR_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

/* Every diagnostic as diag_format words it, one per line; caller frees. */
static inline char *format_all(const struct diags *d)
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

/*
 * Load a rules buffer named name and compare every diagnostic with
 * expected, whole; the rules must come back exactly when no error is
 * expected. Everything is freed before a failure is reported. Caller frees
 * the rules. (Include after cmocka.h.)
 */
static inline struct rules *test_load(const char *name, const char *yaml, const char *expected)
{
	struct diags d;

	diags_init(&d, name);
	struct rules *r = rules_load_buf(name, yaml, strlen(yaml), &d);
	char *got = format_all(&d);
	bool ok = strcmp(got, expected) == 0, want = strstr(expected, ": error: ") == NULL;
	if (!ok)
		fprintf(stderr, "diagnostics differ\n--- got:\n%s--- expected:\n%s", got, expected);
	if ((r != NULL) != want) {
		fprintf(stderr, "rules_load_buf returned %s\n", r != NULL ? "rules" : "NULL");
		ok = false;
	}
	free(got);
	diags_free(&d);
	if (!ok) {
		rules_free(r);
		fail();
	}
	return r;
}

/* xorshift64: the same sequence on every run, so that a failure can be replayed. */
static inline uint64_t test_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

#endif
