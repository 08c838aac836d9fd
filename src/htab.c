/*
 * htab.c: open addressing with linear probing; grows at 50% load so that
 * probes stay short. Lookups by (pointer, length) let callers try the
 * prefixes of a unit id without copying.
 */
#include <stdlib.h>
#include <string.h>

#include "htab.h"

void htab_init(struct htab *h, size_t expect)
{
	size_t cap = 16;
	while (cap < expect * 2)
		cap *= 2;
	h->slots = xcalloc(cap, sizeof(*h->slots));
	h->cap = cap;
	h->n = 0;
}

void htab_free(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->cap = h->n = 0;
}

static struct htab_slot *find(const struct htab *h, const char *key, size_t klen, uint64_t hash)
{
	size_t mask = h->cap - 1;
	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		struct htab_slot *s = &h->slots[i];
		if (s->key == NULL)
			return s;
		if (s->hash == hash && s->klen == klen && memcmp(s->key, key, klen) == 0)
			return s;
	}
}

static void grow(struct htab *h)
{
	struct htab_slot *old = h->slots;
	size_t oldcap = h->cap;

	h->cap *= 2;
	h->slots = xcalloc(h->cap, sizeof(*h->slots));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key != NULL)
			*find(h, old[i].key, old[i].klen, old[i].hash) = old[i];
	}
	free(old);
}

int htab_put(struct htab *h, const char *key, size_t klen, int val)
{
	if ((h->n + 1) * 2 > h->cap)
		grow(h);
	uint64_t hash = hash_bytes(key, klen);
	struct htab_slot *s = find(h, key, klen, hash);
	if (s->key != NULL)
		return -1;
	s->key = key;
	s->klen = klen;
	s->hash = hash;
	s->val = val;
	h->n++;
	return 0;
}

int htab_get(const struct htab *h, const char *key, size_t klen)
{
	if (h->cap == 0)
		return -1;
	struct htab_slot *s = find(h, key, klen, hash_bytes(key, klen));
	return s->key == NULL ? -1 : s->val;
}
