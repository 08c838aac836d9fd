/*
 * htab.c: open addressing with linear probing; grows at 50% load so that
 * probes stay short. Lookups by (pointer, length) let callers try the
 * prefixes of a unit id without copying.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "htab.h"
#include "log.h"

#define K_WORD 0x9e3779b97f4a7c15ULL
#define K_MIX  0xff51afd7ed558ccdULL
#define SEED   0x243f6a8885a308d3ULL
#define ONES   0x0101010101010101ULL
#define LOW7   0x7f7f7f7f7f7f7f7fULL

/* Eight bytes as a little-endian word: byte i of the key is bits 8i..8i+7. */
static uint64_t word(const char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* The low n bytes of a word, the last n < 8 bytes of p[0..len). */
static uint64_t tail(const char *p, size_t len, size_t n)
{
	uint64_t w = 0;

	if (n == 0)
		return 0;
	if (len >= 8)
		return word(p + len - 8) >> (64 - 8 * n);
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)(unsigned char)p[len - n + i] << 8 * i;
	return w;
}

static uint64_t low_bytes(uint64_t w, size_t n)
{
	return n > 0 ? w & ~0ULL >> (64 - 8 * n) : 0;
}

/*
 * A key's hash: a state over its whole words, then the bytes left and the
 * length, mixed. A prefix's hash starts from the state at its last whole
 * word, so that one pass over a key gives them all.
 */
static uint64_t finish(uint64_t state, uint64_t rest, size_t len)
{
	uint64_t h = state ^ rest ^ (uint64_t)len << 56 ^ (uint64_t)len << 24;

	h ^= h >> 33;
	h *= K_MIX;
	h ^= h >> 33;
	return h;
}

uint64_t htab_hash(const char *key, size_t len)
{
	uint64_t s = SEED;
	size_t i = 0;

	for (; len - i >= 8; i += 8)
		s = (s ^ word(key + i)) * K_WORD;
	return finish(s, tail(key, len, len - i), len);
}

size_t htab_hash_prefixes(const char *key, size_t len, char sep, size_t *lens, uint64_t *hashes,
                          size_t max)
{
	const uint64_t seps = ONES * (unsigned char)sep;
	uint64_t s = SEED;
	size_t n = 0;

	for (size_t i = 0;; i += 8) {
		bool whole = len - i >= 8;
		uint64_t w = whole ? word(key + i) : tail(key, len, len - i);
		/* the bytes of w equal to sep, exactly: no carry crosses a byte */
		uint64_t x = w ^ seps;
		uint64_t hit = ~(((x & LOW7) + LOW7) | x | LOW7);
		if (!whole)
			hit = low_bytes(hit, len - i);
		for (; hit != 0; hit &= hit - 1) {
			size_t j = (size_t)__builtin_ctzll(hit) / 8;
			if (n + 1 >= max)
				return 0;
			lens[n] = i + j;
			hashes[n++] = finish(s, low_bytes(w, j), i + j);
		}
		if (!whole) {
			if (n >= max)
				return 0;
			lens[n] = len;
			hashes[n++] = finish(s, w, len);
			return n;
		}
		s = (s ^ w) * K_WORD;
	}
}

#define HUGE_PAGE (2u << 20)

void *htab_table_alloc(size_t nmemb, size_t size)
{
	size_t align = 64, bytes;

	if (size != 0 && nmemb > (SIZE_MAX - HUGE_PAGE) / size)
		fatalx("allocation overflow: %zu x %zu bytes", nmemb, size);
	bytes = nmemb * size;
	if (bytes >= HUGE_PAGE)
		align = HUGE_PAGE;
	bytes = bytes == 0 ? align : (bytes + align - 1) / align * align;
	void *p = aligned_alloc(align, bytes);
	if (p == NULL)
		fatalx("out of memory allocating %zu bytes", bytes);
#ifdef MADV_HUGEPAGE
	if (align == HUGE_PAGE)
		(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it, small pages */
#endif
	memset(p, 0, bytes);
	return p;
}

void *htab_big_alloc(size_t nmemb, size_t size)
{
	size_t bytes;

	if (size != 0 && nmemb > (SIZE_MAX - HUGE_PAGE) / size)
		fatalx("allocation overflow: %zu x %zu bytes", nmemb, size);
	bytes = nmemb * size;
	if (bytes < HUGE_PAGE)
		return xmalloc(bytes > 0 ? bytes : 1);
	bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	void *p = aligned_alloc(HUGE_PAGE, bytes);
	if (p == NULL)
		fatalx("out of memory allocating %zu bytes", bytes);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

void htab_init(struct htab *h, size_t expect)
{
	size_t cap = 16;
	while (cap < expect * 2)
		cap *= 2;
	h->slots = htab_table_alloc(cap, sizeof(*h->slots));
	h->cap = cap;
	h->n = 0;
}

void htab_free(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
	h->cap = h->n = 0;
}

static uint16_t tag_of(uint64_t hash)
{
	return (uint16_t)(hash >> 48);
}

static uint16_t klen_of(size_t klen)
{
	return klen < HTAB_LONG ? (uint16_t)klen : HTAB_LONG;
}

static bool same(const struct htab_slot *s, const char *key, size_t klen, uint16_t tag)
{
	if (s->tag != tag || s->klen != klen_of(klen))
		return false;
	if (s->klen == HTAB_LONG && strlen(s->key) != klen)
		return false;
	return memcmp(s->key, key, klen) == 0;
}

static struct htab_slot *find(const struct htab *h, const char *key, size_t klen, uint64_t hash)
{
	size_t mask = h->cap - 1;
	uint16_t tag = tag_of(hash);

	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		struct htab_slot *s = &h->slots[i];
		if (s->key == NULL || same(s, key, klen, tag))
			return s;
	}
}

/* Rehashing needs every key's hash again: the slots keep only 16 bits of it. */
static void grow(struct htab *h)
{
	struct htab_slot *old = h->slots;
	size_t oldcap = h->cap;

	h->cap *= 2;
	h->slots = htab_table_alloc(h->cap, sizeof(*h->slots));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		size_t klen = old[i].klen == HTAB_LONG ? strlen(old[i].key) : old[i].klen;
		*find(h, old[i].key, klen, htab_hash(old[i].key, klen)) = old[i];
	}
	free(old);
}

int htab_put(struct htab *h, const char *key, size_t klen, int val)
{
	if ((h->n + 1) * 2 > h->cap)
		grow(h);
	uint64_t hash = htab_hash(key, klen);
	struct htab_slot *s = find(h, key, klen, hash);
	if (s->key != NULL)
		return -1;
	s->key = key;
	s->tag = tag_of(hash);
	s->klen = klen_of(klen);
	s->val = val;
	h->n++;
	return 0;
}

int htab_set(struct htab *h, const char *key, size_t klen, int val)
{
	if (h->cap == 0)
		return -1;
	struct htab_slot *s = find(h, key, klen, htab_hash(key, klen));
	if (s->key == NULL)
		return -1;
	s->key = key;
	s->val = val;
	return 0;
}

int htab_get_hashed(const struct htab *h, const char *key, size_t klen, uint64_t hash)
{
	if (h->cap == 0)
		return -1;
	struct htab_slot *s = find(h, key, klen, hash);
	return s->key == NULL ? -1 : s->val;
}

int htab_get(const struct htab *h, const char *key, size_t klen)
{
	return htab_get_hashed(h, key, klen, htab_hash(key, klen));
}
