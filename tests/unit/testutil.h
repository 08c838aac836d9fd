/*
 * testutil.h: what several unit tests share — every diagnostic of a set as
 * the admin reads it, and a small deterministic random generator.
 */
#ifndef GR_TESTUTIL_H
#define GR_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "diag.h"

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

/* xorshift64: the same sequence on every run, so that a failure can be replayed. */
static inline uint64_t test_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

#endif
