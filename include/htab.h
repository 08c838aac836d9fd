/*
 * htab.h: an open-addressing map from byte strings to ints. Keys are not
 * copied: they must outlive the table (the rules object owns them).
 *
 * A slot is 16 bytes: the key's address, 16 bits of its hash and its
 * length (so that most misses are settled without touching the key), and
 * the value. The hash takes the key eight bytes at a time and finishes
 * with the length, so that one pass over a unit id gives the hash of each
 * of its '/'-prefixes (htab_hash_prefixes), and htab_get_hashed looks a
 * prefix up without hashing it again.
 */
#ifndef GR_HTAB_H
#define GR_HTAB_H

#include "util.h"

struct htab_slot {
	const char *key; /* NULL: empty */
	uint16_t tag;    /* the hash's top 16 bits */
	uint16_t klen;   /* HTAB_LONG for keys that long or longer: NUL-terminated */
	int val;
};

#define HTAB_LONG UINT16_MAX

struct htab {
	struct htab_slot *slots;
	size_t cap; /* power of two */
	size_t n;
};

void htab_init(struct htab *h, size_t expect);
void htab_free(struct htab *h);
/* Returns 0, or -1 when the key is present already (its value is left). */
int htab_put(struct htab *h, const char *key, size_t klen, int val);
/*
 * Sets the value of a key that is present, and keeps key (equal to the
 * one put, and living at least as long) in its place. Returns 0, or -1
 * when the key is absent.
 */
int htab_set(struct htab *h, const char *key, size_t klen, int val);
/* The value, or -1 when absent. */
int htab_get(const struct htab *h, const char *key, size_t klen);
/* The same with hash = htab_hash(key, klen), computed by the caller. */
int htab_get_hashed(const struct htab *h, const char *key, size_t klen, uint64_t hash);

/* The hash slots are placed by (not hash_bytes). */
uint64_t htab_hash(const char *key, size_t len);

/*
 * Zeroed, cache-line aligned memory for a big table read at random (the
 * slots here, the routing tables): from 2 MB on, on huge pages where the
 * system has them, so that a lookup is a cache miss but not also a TLB
 * miss. Free with free().
 */
void *htab_table_alloc(size_t nmemb, size_t size);

/*
 * Room, not zeroed, for a big array written once front to back (a parsed
 * document's nodes and text): from 2 MB on, on huge pages where the
 * system has them, so that filling it takes one page fault per 2 MB, not
 * per 4 KB. Free with free(); realloc works on it.
 */
void *htab_big_alloc(size_t nmemb, size_t size);

/*
 * The lengths and hashes of key[0..len)'s prefixes that end before a sep
 * byte, shortest first, then of the whole key: into lens[] and hashes[],
 * which have room for max. Returns how many, or 0 when max is too few.
 */
size_t htab_hash_prefixes(const char *key, size_t len, char sep, size_t *lens, uint64_t *hashes,
                          size_t max);

#endif
