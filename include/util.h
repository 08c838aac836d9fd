/*
 * util.h: allocation that cannot fail (fatalx on exhaustion), a growable
 * byte buffer, and checked number parsing. Shared by every module.
 */
#ifndef GR_UTIL_H
#define GR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define GR_NELEM(a)     (sizeof(a) / sizeof((a)[0]))

/* The x-family never returns NULL: allocation failure is fatal. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) GR_PRINTF(1, 2); /* caller frees */

/* A growable byte buffer, always NUL-terminated after the first write. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n >= b->cap - b->len) /* also when cap is 0: room for the NUL too */
		buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}
void buf_puts(struct buf *b, const char *s);
static inline void buf_putc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap)
		buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/* v in decimal into out (NUL-terminated); returns its length. snprintf's "%lld", faster. */
size_t fmt_int64(char out[24], int64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) GR_PRINTF(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) GR_PRINTF(2, 0);
void buf_truncate(struct buf *b, size_t len);
/* Hands the contents to the caller (caller frees); b is empty afterwards. */
char *buf_detach(struct buf *b);

/*
 * Parse a whole string as a base-10 integer within [min, max].
 * Returns 0, or -1 (no digits, trailing text, or out of range).
 */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);

/*
 * The whole of a regular file of at most max bytes, NUL-terminated, into
 * *out (caller frees) and *len. Returns 0, or -1 with errno (EINVAL: not a
 * regular file; EFBIG: larger than max).
 */
int read_small_file(const char *path, size_t max, char **out, size_t *len);

/* 64-bit FNV-1a. */
uint64_t hash_bytes(const void *p, size_t len);

#endif
