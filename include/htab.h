/*
 * htab.h: an open-addressing map from byte strings to ints. Keys are not
 * copied: they must outlive the table (the rules object owns them).
 */
#ifndef GR_HTAB_H
#define GR_HTAB_H

#include "util.h"

struct htab_slot {
	const char *key; /* NULL: empty */
	size_t klen;
	uint64_t hash;
	int val;
};

struct htab {
	struct htab_slot *slots;
	size_t cap; /* power of two */
	size_t n;
};

void htab_init(struct htab *h, size_t expect);
void htab_free(struct htab *h);
/* Returns 0, or -1 when the key is present already (its value is left). */
int htab_put(struct htab *h, const char *key, size_t klen, int val);
/* The value, or -1 when absent. */
int htab_get(const struct htab *h, const char *key, size_t klen);

#endif
