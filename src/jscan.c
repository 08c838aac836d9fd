/*
 * jscan.c: one JSON document in a buffer, checked against the whole of
 * RFC 8259 without building a tree (jscan.h).
 *
 * What is refused, and the line, column and text of the error, follow
 * Jansson 2.14's json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY
 * so that a dead letter reads the same whichever parser saw the input:
 * the scanner is structured like Jansson's lexer and recursive-descent
 * parser (tokens, one character of lookahead, the first error wins), with
 * an explicit stack instead of recursion. tests/unit/test_jscan.c runs both
 * over the same inputs and asserts that they agree. The one difference:
 * numbers of any size are valid here (SPEC v2 §4), where Jansson refuses
 * what does not fit an int64 or a double (tests/unit/ref_json.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "util.h"

/* Tokens, as Jansson numbers them; the structural ones are their character. */
enum {
	T_ERROR = -2, /* the lexer has set the error */
	T_INVALID = -1,
	T_EOF = 0,
	T_STRING = 256,
	T_INTEGER,
	T_REAL,
	T_TRUE,
	T_FALSE,
	T_NULL
};

/* Keys an object may hold before its duplicates are found through a hash index. */
#define LINEAR_KEYS 16
/* Jansson quotes the token in its error text only up to this many bytes. */
#define NEAR_MAX 20

struct lex {
	const unsigned char *buf, *p, *end;
	const unsigned char *tok; /* the current token's first byte */
	bool esc;                 /* a string token has escapes */
	bool nul;                 /* a string token decodes to a NUL byte */
	bool ws;                  /* whitespace skipped since it was last cleared */
	bool swallow;             /* a number or literal ended: a NUL after it vanishes */
	struct jscan_error *err;
};

/* String bytes that need a look: '"', '\\', controls, and non-ASCII. */
/* clang-format off */
static const unsigned char str_special[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 90 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* a0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* b0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* c0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* d0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* e0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* f0 */
};
/* clang-format on */

static bool is_digit(unsigned c)
{
	return c - '0' < 10;
}

static bool is_alpha(unsigned c)
{
	return (c | 0x20) - 'a' < 26;
}

static bool is_alnum(unsigned c)
{
	return is_digit(c) || is_alpha(c);
}

static int hex_value(unsigned c)
{
	if (is_digit(c))
		return (int)(c - '0');
	if ((c | 0x20) - 'a' < 6)
		return (int)((c | 0x20) - 'a' + 10);
	return -1;
}

static unsigned hex4(const unsigned char *p)
{
	return (unsigned)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
	                  hex_value(p[3]));
}

/* The length of the well-formed UTF-8 character at p (p[0] >= 0x80), or 0. */
static size_t utf8_char(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	uint32_t v;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (n == 3 && v < 0x800) ||
	    (n == 4 && v < 0x10000))
		return 0;
	return n;
}

/*
 * Fill the error as Jansson's error_set does: the text, then the token
 * read so far ("saved") as context when it is short; at the position
 * where Jansson's stream stands, counted in lines and characters.
 */
static void set_error(struct lex *lx, const unsigned char *pos, const unsigned char *saved,
                      size_t saved_len, bool stream_error, const char *fmt, ...) GR_PRINTF(6, 7);

static void set_error(struct lex *lx, const unsigned char *pos, const unsigned char *saved,
                      size_t saved_len, bool stream_error, const char *fmt, ...)
{
	struct jscan_error *err = lx->err;
	char msg[JSCAN_TEXT_MAX - 40]; /* room for the context */
	va_list ap;
	int line = 1, column = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (saved_len > 0 && saved[0] != '\0') {
		if (saved_len <= NEAR_MAX) {
			/* Jansson prints the saved bytes with %s: up to a NUL */
			int n = (int)strnlen((const char *)saved, saved_len);
			snprintf(err->text, sizeof(err->text), "%s near '%.*s'", msg, n,
			         (const char *)saved);
		} else {
			snprintf(err->text, sizeof(err->text), "%s", msg);
		}
	} else if (stream_error) {
		snprintf(err->text, sizeof(err->text), "%s", msg);
	} else {
		snprintf(err->text, sizeof(err->text), "%s near end of file", msg);
	}

	/*
	 * Everything before pos has been read as well-formed UTF-8, and
	 * Jansson counts characters, not bytes. The NULs that lex_next
	 * swallowed do not count: those are the ones right after an
	 * alphanumeric, but for one the lexer has just read inside a string.
	 */
	size_t position = 0;
	for (const unsigned char *q = lx->buf; q < pos; q++) {
		if (*q == '\0' && q > lx->buf && is_alnum(q[-1]) &&
		    !(q >= saved && q < saved + saved_len))
			continue;
		position++;
		if (*q == '\n') {
			line++;
			column = 0;
		} else if ((*q & 0xc0) != 0x80) {
			column++;
		}
	}
	err->line = line;
	err->column = column;
	err->position = position;
}

/* The parser's errors: at the end of the current token, quoting it. */
static int parse_error(struct lex *lx, const char *msg)
{
	set_error(lx, lx->p, lx->tok, (size_t)(lx->p - lx->tok), false, "%s", msg);
	return -1;
}

/*
 * Jansson decodes a character before looking at it: one that is not
 * well-formed UTF-8 is an error wherever the lexer reads it, lookahead
 * included. True (with the error set) when the byte at q is such a one.
 */
static bool bad_at(struct lex *lx, const unsigned char *q)
{
	if (q >= lx->end || *q < 0x80 || utf8_char(q, lx->end) != 0)
		return false;
	set_error(lx, q, lx->tok, (size_t)(q - lx->tok), true, "unable to decode byte 0x%x", *q);
	return true;
}

/* Eight bytes at a time: whether any is '"', '\\', a control or non-ASCII. */
static bool special8(const unsigned char *p)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	uint64_t x, q, b;

	memcpy(&x, p, 8);
	q = x ^ (ones * '"');
	b = x ^ (ones * '\\');
	return (((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x & highs) != 0 ||
	       (x & highs) != 0;
}

/* Out of line, so that lex_next stays small for the one-byte tokens. */
static int lex_string(struct lex *lx) __attribute__((noinline));
static int lex_number(struct lex *lx) __attribute__((noinline));

static int lex_string(struct lex *lx)
{
	const unsigned char *tok = lx->tok, *p = tok + 1, *end = lx->end;
	bool esc = false, nul = false, bad = false, pair = false;
	unsigned bad1 = 0, bad2 = 0; /* the first surrogate out of a pair; bad2: its partner */

	for (;;) {
		while (end - p >= 8 && !special8(p))
			p += 8;
		while (p < end && !str_special[*p])
			p++;
		if (p == end) {
			set_error(lx, end, tok, (size_t)(end - tok), false,
			          "premature end of input");
			return T_ERROR;
		}
		unsigned c = *p;
		if (c == '"') {
			p++;
			break;
		}
		if (c < 0x20) {
			if (c == '\n')
				set_error(lx, p, tok, (size_t)(p - tok), false,
				          "unexpected newline");
			else
				set_error(lx, p, tok, (size_t)(p - tok), false,
				          "control character 0x%x", c);
			return T_ERROR;
		}
		if (c >= 0x80) {
			/* a run of them: Chinese text is mostly three-byte characters, not E0 or ED
			 */
			do {
				if (c >= 0xe1 && c <= 0xef && c != 0xed && end - p >= 3 &&
				    (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
					p += 3;
				} else {
					size_t n = utf8_char(p, end);
					if (n == 0) {
						set_error(lx, p, tok, (size_t)(p - tok), true,
						          "unable to decode byte 0x%x", c);
						return T_ERROR;
					}
					p += n;
				}
			} while (p < end && (c = *p) >= 0x80);
			continue;
		}

		/* a backslash */
		const unsigned char *q = p + 1;
		esc = true;
		if (q == end) {
			set_error(lx, end, tok, (size_t)(end - tok), false, "invalid escape");
			return T_ERROR;
		}
		if (bad_at(lx, q))
			return T_ERROR;
		if (*q != 'u') {
			if (*q != '"' && *q != '\\' && *q != '/' && *q != 'b' && *q != 'f' &&
			    *q != 'n' && *q != 'r' && *q != 't') {
				/* Jansson has read (and quotes) one byte of the character */
				set_error(lx, q + 1, tok, (size_t)(q + 1 - tok), false,
				          "invalid escape");
				return T_ERROR;
			}
			p = q + 1;
			continue;
		}
		for (int i = 1; i <= 4; i++) {
			if (q + i == end) {
				set_error(lx, end, tok, (size_t)(end - tok), false,
				          "invalid escape");
				return T_ERROR;
			}
			if (bad_at(lx, q + i))
				return T_ERROR;
			if (hex_value(q[i]) < 0) {
				set_error(lx, q + i + 1, tok, (size_t)(q + i + 1 - tok), false,
				          "invalid escape");
				return T_ERROR;
			}
		}
		p = q + 5;
		if (bad)
			continue;

		/*
		 * Jansson decodes the string once it has read all of it: a
		 * surrogate out of a pair is an error then, unless reading
		 * the rest fails first. Note the first such one.
		 */
		unsigned v = hex4(q + 1);
		if (v == 0) {
			nul = true;
		} else if (v >= 0xdc00 && v <= 0xdfff) {
			bad = true;
			bad1 = v;
		} else if (v >= 0xd800 && v <= 0xdbff) {
			if (end - p < 2 || p[0] != '\\' || p[1] != 'u') {
				bad = true;
				bad1 = v;
			} else if (end - p >= 6 && hex_value(p[2]) >= 0 && hex_value(p[3]) >= 0 &&
			           hex_value(p[4]) >= 0 && hex_value(p[5]) >= 0) {
				unsigned v2 = hex4(p + 2);
				if (v2 >= 0xdc00 && v2 <= 0xdfff) {
					p += 6;
				} else {
					bad = pair = true;
					bad1 = v;
					bad2 = v2;
				}
			}
			/* else the next round finds the broken escape */
		}
	}
	lx->p = p;
	if (bad) {
		if (pair)
			set_error(lx, p, tok, (size_t)(p - tok), false,
			          "invalid Unicode '\\u%04X\\u%04X'", bad1, bad2);
		else
			set_error(lx, p, tok, (size_t)(p - tok), false, "invalid Unicode '\\u%04X'",
			          bad1);
		return T_ERROR;
	}
	lx->esc = esc;
	lx->nul = nul;
	return T_STRING;
}

/*
 * A number, as Jansson's lex_scan_number reads it: a malformed one is an
 * invalid token ending where Jansson stops. Unlike Jansson, a number of
 * any size is valid (SPEC v2 §4: an unknown field may hold one, kept as
 * written): nothing here converts it.
 */
static int lex_number(struct lex *lx)
{
	const unsigned char *q = lx->tok, *end = lx->end;

	if (*q == '-') {
		q++;
		if (bad_at(lx, q))
			return T_ERROR;
	}
	if (q < end && *q == '0') {
		q++;
		if (bad_at(lx, q))
			return T_ERROR;
		if (q < end && is_digit(*q)) {
			lx->p = q;
			return T_INVALID;
		}
	} else if (q < end && is_digit(*q)) {
		while (q < end && is_digit(*q))
			q++;
		if (bad_at(lx, q))
			return T_ERROR;
	} else {
		lx->p = q;
		return T_INVALID;
	}
	if (q == end || (*q != '.' && *q != 'e' && *q != 'E')) {
		lx->p = q;
		lx->swallow = true;
		return T_INTEGER;
	}

	if (*q == '.') {
		q++;
		if (bad_at(lx, q))
			return T_ERROR;
		if (q == end || !is_digit(*q)) {
			lx->p = q;
			return T_INVALID;
		}
		while (q < end && is_digit(*q))
			q++;
		if (bad_at(lx, q))
			return T_ERROR;
	}

	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (bad_at(lx, q))
			return T_ERROR;
		if (q < end && (*q == '+' || *q == '-')) {
			q++;
			if (bad_at(lx, q))
				return T_ERROR;
		}
		if (q == end || !is_digit(*q)) {
			lx->p = q;
			return T_INVALID;
		}
		while (q < end && is_digit(*q))
			q++;
		if (bad_at(lx, q))
			return T_ERROR;
	}
	lx->p = q;
	lx->swallow = true;
	return T_REAL;
}

static int lex_next(struct lex *lx)
{
	const unsigned char *p = lx->p, *end = lx->end, *start = p;

	/*
	 * Jansson reads one character past a number or a literal and puts it
	 * back; its stream loses a NUL put back that way (the NUL reads as
	 * its buffer's end), so the NUL is skipped as if it were not there.
	 */
	if (lx->swallow) {
		lx->swallow = false;
		if (p < end && *p == '\0') {
			p++;
			lx->ws = true; /* for JSCAN_VALUE_SPACED: gone when minified */
		}
	}
	if (p < end && *p <= ' ') {
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
			p++;
		if (p != start)
			lx->ws = true;
	}
	lx->tok = p;
	lx->p = p;
	if (p == end)
		return T_EOF;

	unsigned c = *p;
	switch (c) {
	case '{':
	case '}':
	case '[':
	case ']':
	case ':':
	case ',':
		lx->p = p + 1;
		return (int)c;
	case '"':
		return lex_string(lx);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return lex_number(lx);
	default:
		break;
	}
	if (is_alpha(c)) {
		const unsigned char *q = p;
		while (q < end && is_alpha(*q))
			q++;
		if (bad_at(lx, q))
			return T_ERROR;
		lx->p = q;
		lx->swallow = true;
		size_t n = (size_t)(q - p);
		if (n == 4 && memcmp(p, "true", 4) == 0)
			return T_TRUE;
		if (n == 5 && memcmp(p, "false", 5) == 0)
			return T_FALSE;
		if (n == 4 && memcmp(p, "null", 4) == 0)
			return T_NULL;
		return T_INVALID;
	}
	if (c >= 0x80) {
		size_t n = utf8_char(p, end);
		if (n == 0) {
			set_error(lx, p, p, 0, true, "unable to decode byte 0x%x", c);
			return T_ERROR;
		}
		lx->p = p + n;
		return T_INVALID;
	}
	lx->p = p + 1;
	return T_INVALID;
}

/* lex_next when the next byte is most likely want (':' after a key, ',' after a value). */
static int lex_expect(struct lex *lx, int want)
{
	if (lx->p < lx->end && *lx->p == want) {
		lx->swallow = false; /* it is not a NUL */
		lx->tok = lx->p++;
		return want;
	}
	return lex_next(lx);
}

static enum jscan_type type_of(int tok)
{
	switch (tok) {
	case '{':
		return JSCAN_OBJECT;
	case '[':
		return JSCAN_ARRAY;
	case T_STRING:
		return JSCAN_STRING;
	case T_INTEGER:
		return JSCAN_INTEGER;
	case T_REAL:
		return JSCAN_REAL;
	case T_TRUE:
		return JSCAN_TRUE;
	case T_FALSE:
		return JSCAN_FALSE;
	default:
		return JSCAN_NULL;
	}
}

/* Grow one of the scanner's arrays, moving it off the inline storage. */
static void *grow(void *v, const void *inline_v, size_t *cap, size_t size, size_t need)
{
	size_t ncap = *cap;

	while (ncap < need)
		ncap *= 2;
	if (v == inline_v) {
		void *nv = xreallocarray(NULL, ncap, size);
		memcpy(nv, v, *cap * size);
		v = nv;
	} else {
		v = xreallocarray(v, ncap, size);
	}
	*cap = ncap;
	return v;
}

void jscan_init(struct jscan *js)
{
	js->members = js->inline_members;
	js->levels = js->inline_levels;
	js->keys = js->inline_keys;
	js->scratch = js->inline_scratch;
	js->cap_members = JSCAN_INLINE_MEMBERS;
	js->cap_levels = JSCAN_INLINE_LEVELS;
	js->cap_keys = JSCAN_INLINE_KEYS;
	js->cap_scratch = JSCAN_INLINE_SCRATCH;
	js->nmembers = js->nlevels = js->nkeys = js->nscratch = 0;
	js->type = JSCAN_NULL;
}

static void close_levels(struct jscan *js, size_t keep)
{
	while (js->nlevels > keep) {
		struct jscan_level *l = &js->levels[--js->nlevels];
		free(l->index);
		l->index = NULL;
	}
}

void jscan_free(struct jscan *js)
{
	close_levels(js, 0);
	if (js->members != js->inline_members)
		free(js->members);
	if (js->levels != js->inline_levels)
		free(js->levels);
	if (js->keys != js->inline_keys)
		free(js->keys);
	if (js->scratch != js->inline_scratch)
		free(js->scratch);
	jscan_init(js);
}

static const char *key_bytes(const struct jscan *js, const struct jscan_key *k)
{
	return k->p != NULL ? k->p : js->scratch + k->off;
}

static void index_put(struct jscan *js, struct jscan_level *l, uint32_t ki)
{
	uint32_t i = js->keys[ki].hash & l->index_mask;

	while (l->index[i] != 0)
		i = (i + 1) & l->index_mask;
	l->index[i] = ki + 1;
}

/* Index an object's keys, or the index anew at twice the size. */
static void index_build(struct jscan *js, struct jscan_level *l, size_t slots)
{
	free(l->index);
	l->index = xcalloc(slots, sizeof(*l->index));
	l->index_mask = (uint32_t)(slots - 1);
	for (size_t k = l->keys; k < js->nkeys; k++)
		index_put(js, l, (uint32_t)k);
}

/* Whether the object already has the key just pushed (the top of the key stack). */
static bool key_seen(struct jscan *js, struct jscan_level *l)
{
	size_t top = js->nkeys - 1, n = top - l->keys;
	struct jscan_key *nk = &js->keys[top];
	const char *nb = key_bytes(js, nk);

	if (l->index == NULL && n < LINEAR_KEYS) {
		for (size_t k = l->keys; k < top; k++) {
			const struct jscan_key *o = &js->keys[k];
			const char *ob = key_bytes(js, o);
			/* no library call for keys that differ in length or first byte */
			if (o->len == nk->len &&
			    (nk->len == 0 || (ob[0] == nb[0] && memcmp(ob, nb, nk->len) == 0)))
				return true;
		}
		return false;
	}
	if (l->index == NULL) {
		for (size_t k = l->keys; k < top; k++) {
			struct jscan_key *o = &js->keys[k];
			o->hash = (uint32_t)hash_bytes(key_bytes(js, o), o->len);
		}
		nk->hash = (uint32_t)hash_bytes(nb, nk->len);
		js->nkeys = top; /* index the others only */
		index_build(js, l, 4 * LINEAR_KEYS);
		js->nkeys = top + 1;
	} else {
		nk->hash = (uint32_t)hash_bytes(nb, nk->len);
	}
	for (uint32_t i = nk->hash & l->index_mask; l->index[i] != 0; i = (i + 1) & l->index_mask) {
		const struct jscan_key *o = &js->keys[l->index[i] - 1];
		if (o->hash == nk->hash && o->len == nk->len &&
		    memcmp(key_bytes(js, o), nb, nk->len) == 0)
			return true;
	}
	if (2 * (n + 1) > (size_t)l->index_mask + 1)
		index_build(js, l, 2 * ((size_t)l->index_mask + 1));
	else
		index_put(js, l, (uint32_t)top);
	return false;
}

/* Push the key token just read onto the key stack, decoded. */
static void push_key(struct jscan *js, const struct lex *lx)
{
	const char *raw = (const char *)lx->tok;
	size_t raw_len = (size_t)(lx->p - lx->tok);
	struct jscan_key *k;

	if (js->nkeys == js->cap_keys)
		js->keys = grow(js->keys, js->inline_keys, &js->cap_keys, sizeof(*js->keys),
		                js->nkeys + 1);
	k = &js->keys[js->nkeys++];
	if (!lx->esc) {
		k->p = raw + 1;
		k->len = raw_len - 2;
		return;
	}
	if (js->nscratch + raw_len > js->cap_scratch)
		js->scratch = grow(js->scratch, js->inline_scratch, &js->cap_scratch, 1,
		                   js->nscratch + raw_len);
	k->p = NULL;
	k->off = js->nscratch;
	k->len = jscan_string(raw, raw_len, js->scratch + js->nscratch);
	js->nscratch += k->len + 1;
}

static struct jscan_level *open_level(struct jscan *js, bool object)
{
	struct jscan_level *l;

	if (js->nlevels == js->cap_levels)
		js->levels = grow(js->levels, js->inline_levels, &js->cap_levels,
		                  sizeof(*js->levels), js->nlevels + 1);
	l = &js->levels[js->nlevels++];
	l->object = object;
	l->keys = js->nkeys;
	l->scratch = js->nscratch;
	l->index = NULL;
	l->index_mask = 0;
	return l;
}

static void close_level(struct jscan *js)
{
	struct jscan_level *l = &js->levels[--js->nlevels];

	js->nkeys = l->keys;
	js->nscratch = l->scratch;
	free(l->index);
	l->index = NULL;
}

static struct jscan_member *add_member(struct jscan *js, const struct lex *lx)
{
	struct jscan_member *m;

	if (js->nmembers == js->cap_members)
		js->members = grow(js->members, js->inline_members, &js->cap_members,
		                   sizeof(*js->members), js->nmembers + 1);
	m = &js->members[js->nmembers++];
	m->key = (const char *)lx->tok;
	m->key_len = (size_t)(lx->p - lx->tok);
	m->flags = lx->esc ? JSCAN_KEY_ESCAPED : 0;
	return m;
}

/*
 * Jansson's parse_json, parse_value, parse_object and parse_array, with
 * the recursion unrolled onto js->levels. depth counts as Jansson's does:
 * the top-level value is at depth 1.
 */
int jscan_parse(struct jscan *js, const char *buf, size_t len, struct jscan_error *err)
{
	struct lex lx;
	struct jscan_member *m = NULL; /* the top-level member whose value is being read */
	size_t depth = 0;
	int tok;

	lx.buf = lx.p = lx.tok = (const unsigned char *)buf;
	lx.end = lx.buf + len;
	lx.esc = lx.nul = lx.ws = lx.swallow = false;
	lx.err = err;
	close_levels(js, 0);
	js->nmembers = js->nkeys = js->nscratch = 0;

	if ((tok = lex_next(&lx)) == T_ERROR)
		goto fail;
	js->type = type_of(tok);

value: /* tok is the first token of a value */
	if (++depth > JSCAN_MAX_DEPTH) {
		parse_error(&lx, "maximum parsing depth reached");
		goto fail;
	}
	if (m != NULL && depth == 2) {
		m->value = (const char *)lx.tok;
		m->type = type_of(tok);
		if (tok == T_STRING && lx.esc)
			m->flags |= JSCAN_VALUE_ESCAPED;
		lx.ws = false;
	}
	switch (tok) {
	case T_STRING:
		if (lx.nul) {
			parse_error(&lx, "\\u0000 is not allowed without JSON_ALLOW_NUL");
			goto fail;
		}
		goto done;
	case T_INTEGER:
	case T_REAL:
	case T_TRUE:
	case T_FALSE:
	case T_NULL:
		goto done;
	case '{':
		open_level(js, true);
		if ((tok = lex_next(&lx)) == T_ERROR)
			goto fail;
		if (tok == '}')
			goto closed;
		goto key;
	case '[':
		open_level(js, false);
		if ((tok = lex_next(&lx)) == T_ERROR)
			goto fail;
		if (tok == ']')
			goto closed;
		if (tok == T_EOF) {
			parse_error(&lx, "']' expected");
			goto fail;
		}
		goto value;
	case T_INVALID:
		parse_error(&lx, "invalid token");
		goto fail;
	default:
		parse_error(&lx, "unexpected token");
		goto fail;
	}

key: /* tok is where an object wants a key */
	if (tok != T_STRING) {
		parse_error(&lx, "string or '}' expected");
		goto fail;
	}
	if (lx.nul) {
		parse_error(&lx, "NUL byte in object key not supported");
		goto fail;
	}
	push_key(js, &lx);
	if (key_seen(js, &js->levels[js->nlevels - 1])) {
		parse_error(&lx, "duplicate object key");
		goto fail;
	}
	if (depth == 1)
		m = add_member(js, &lx);
	if ((tok = lex_expect(&lx, ':')) == T_ERROR)
		goto fail;
	if (tok != ':') {
		parse_error(&lx, "':' expected");
		goto fail;
	}
	if ((tok = lex_next(&lx)) == T_ERROR)
		goto fail;
	goto value;

closed: /* the current object or array has just been closed */
	close_level(js);
done: /* a value at depth has been read; lx.p is just past it */
	depth--;
	if (js->nlevels == 0) {
		if ((tok = lex_next(&lx)) == T_ERROR)
			goto fail;
		if (tok != T_EOF) {
			parse_error(&lx, "end of file expected");
			goto fail;
		}
		return 0;
	}
	if (m != NULL && depth == 1) {
		m->value_len = (size_t)((const char *)lx.p - m->value);
		if (lx.ws)
			m->flags |= JSCAN_VALUE_SPACED;
		m = NULL;
	}
	if ((tok = lex_expect(&lx, ',')) == T_ERROR)
		goto fail;
	if (js->levels[js->nlevels - 1].object) {
		if (tok == ',') {
			if ((tok = lex_next(&lx)) == T_ERROR)
				goto fail;
			goto key;
		}
		if (tok != '}') {
			parse_error(&lx, "'}' expected");
			goto fail;
		}
		goto closed;
	}
	if (tok == ',') {
		if ((tok = lex_next(&lx)) == T_ERROR)
			goto fail;
		if (tok == T_EOF) {
			parse_error(&lx, "']' expected");
			goto fail;
		}
		goto value;
	}
	if (tok != ']') {
		parse_error(&lx, "']' expected");
		goto fail;
	}
	goto closed;

fail:
	close_levels(js, 0);
	js->nmembers = 0;
	return -1;
}

size_t jscan_string(const char *raw, size_t raw_len, char *out)
{
	const char *p = raw + 1, *end = raw + raw_len - 1;
	char *o = out;

	while (p < end) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		if (bs == NULL) {
			memcpy(o, p, (size_t)(end - p));
			o += end - p;
			break;
		}
		memcpy(o, p, (size_t)(bs - p));
		o += bs - p;
		p = bs + 2;
		switch (bs[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			uint32_t v = hex4((const unsigned char *)p);
			p += 4;
			if (v >= 0xd800 && v <= 0xdbff) {
				v = 0x10000 + ((v - 0xd800) << 10) +
				    (hex4((const unsigned char *)p + 2) - 0xdc00);
				p += 6;
			}
			if (v < 0x80) {
				*o++ = (char)v;
			} else if (v < 0x800) {
				*o++ = (char)(0xc0 | v >> 6);
				*o++ = (char)(0x80 | (v & 0x3f));
			} else if (v < 0x10000) {
				*o++ = (char)(0xe0 | v >> 12);
				*o++ = (char)(0x80 | (v >> 6 & 0x3f));
				*o++ = (char)(0x80 | (v & 0x3f));
			} else {
				*o++ = (char)(0xf0 | v >> 18);
				*o++ = (char)(0x80 | (v >> 12 & 0x3f));
				*o++ = (char)(0x80 | (v >> 6 & 0x3f));
				*o++ = (char)(0x80 | (v & 0x3f));
			}
			break;
		}
		default: /* '"', '\\', '/' */
			*o++ = bs[1];
			break;
		}
	}
	*o = '\0';
	return (size_t)(o - out);
}

void jscan_iter_init(struct jscan_iter *it, const char *value, size_t value_len)
{
	it->object = value[0] == '{';
	it->p = value + 1; /* past the '{' or '[' */
	it->end = value + value_len - 1;
}

/* Outside strings, whitespace or a NUL that Jansson swallows (lex_next). */
static bool iter_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0';
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && iter_space(*p))
		p++;
	return p;
}

/* The end of the string starting at p (its opening quote); *esc if it has escapes. */
static const char *string_end(const char *p, const char *end, bool *esc)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*esc = true;
			p++;
		}
	}
	return p;
}

bool jscan_next(struct jscan_iter *it, struct jscan_member *m)
{
	const char *p = skip_ws(it->p, it->end), *end = it->end;
	bool esc = false, spaced = false;

	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p >= end)
		return false;
	m->flags = 0;
	m->key = NULL;
	m->key_len = 0;
	if (it->object) {
		m->key = p;
		p = string_end(p, end, &esc);
		m->key_len = (size_t)(p - m->key);
		m->flags = esc ? JSCAN_KEY_ESCAPED : 0;
		p = skip_ws(skip_ws(p, end) + 1, end); /* past the ':' */
	}
	m->value = p;
	switch (*p) {
	case '"':
		esc = false;
		p = string_end(p, end, &esc);
		m->type = JSCAN_STRING;
		if (esc)
			m->flags |= JSCAN_VALUE_ESCAPED;
		break;
	case '{':
	case '[': {
		size_t nest = 0;
		m->type = *p == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
		do {
			if (*p == '"') {
				p = string_end(p, end, &esc);
				continue;
			}
			if (*p == '{' || *p == '[')
				nest++;
			else if (*p == '}' || *p == ']')
				nest--;
			else if (iter_space(*p))
				spaced = true;
			p++;
		} while (nest > 0 && p < end);
		if (spaced)
			m->flags |= JSCAN_VALUE_SPACED;
		break;
	}
	case 't':
		m->type = JSCAN_TRUE;
		p += 4;
		break;
	case 'f':
		m->type = JSCAN_FALSE;
		p += 5;
		break;
	case 'n':
		m->type = JSCAN_NULL;
		p += 4;
		break;
	default:
		m->type = JSCAN_INTEGER;
		while (p < end && *p != ',' && !iter_space(*p)) {
			if (*p == '.' || *p == 'e' || *p == 'E')
				m->type = JSCAN_REAL;
			p++;
		}
		break;
	}
	m->value_len = (size_t)(p - m->value);
	it->p = p;
	return true;
}
