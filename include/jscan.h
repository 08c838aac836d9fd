/*
 * jscan.h: a strict RFC 8259 scanner for one JSON document in a buffer.
 * It accepts and refuses what Jansson's json_loadb does with
 * JSON_REJECT_DUPLICATES | JSON_DECODE_ANY (valid UTF-8 only, no \u0000,
 * surrogates only in pairs, depth at most 2048, no duplicate keys in any
 * object), and says why the way Jansson's json_error_t does (line, column,
 * text) -- but for numbers: Jansson refuses integers outside int64 and
 * reals that overflow a double, and jscan takes numbers of any size, as
 * valid JSON is (SPEC v2 §4), converting none. It builds no tree: it
 * gives the top-level value's type and, for an object, its members as
 * spans of the input. jscan_string decodes a string value and jscan_next
 * walks an object or array value that jscan_parse has accepted.
 */
#ifndef GR_JSCAN_H
#define GR_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jscan_type {
	JSCAN_OBJECT,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_INTEGER,
	JSCAN_REAL,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL
};

#define JSCAN_MAX_DEPTH 2048 /* Jansson's JSON_PARSER_MAX_DEPTH */
#define JSCAN_TEXT_MAX  160  /* Jansson's JSON_ERROR_TEXT_LENGTH */

/* Where and why a document was refused, as Jansson would say it. */
struct jscan_error {
	int line;        /* 1-based */
	int column;      /* characters (not bytes) into the line */
	size_t position; /* bytes from the start */
	char text[JSCAN_TEXT_MAX];
};

#define JSCAN_KEY_ESCAPED   1u /* the key has backslash escapes */
#define JSCAN_VALUE_ESCAPED 2u /* a string value with backslash escapes */
#define JSCAN_VALUE_SPACED  4u /* whitespace between the value's tokens */

/*
 * A member of an object, as written in the input: the key with its
 * quotes, the value from its first byte to its last (a string with its
 * quotes). Points into the scanned buffer.
 */
struct jscan_member {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	enum jscan_type type;
	unsigned flags; /* JSCAN_*_ESCAPED, JSCAN_VALUE_SPACED */
};

#define JSCAN_INLINE_MEMBERS 32
#define JSCAN_INLINE_LEVELS  24
#define JSCAN_INLINE_KEYS    64
#define JSCAN_INLINE_SCRATCH 256

/* Private: an open object or array. */
struct jscan_level {
	size_t keys;    /* an object's first key in the key stack */
	size_t scratch; /* scratch bytes in use when it opened */
	uint32_t
	        *index; /* hash index of an object's keys (key stack index + 1), once it has many */
	uint32_t index_mask; /* slots - 1 */
	bool object;
};

/* Private: a key of an open object, decoded. */
struct jscan_key {
	const char *p; /* into the input; NULL: in the scratch at off */
	size_t off;
	size_t len;
	uint32_t hash; /* once the object is indexed */
};

/*
 * One scanner, on the caller's stack: jscan_init, then jscan_parse (as
 * often as needed), then jscan_free. Documents of common shape need no
 * allocation; bigger or deeper ones spill to the heap.
 */
struct jscan {
	enum jscan_type type;         /* the top-level value's */
	struct jscan_member *members; /* the top-level object's members, in input order */
	size_t nmembers;

	/* private */
	size_t nlevels, nkeys, nscratch;
	size_t cap_members, cap_levels, cap_keys, cap_scratch;
	struct jscan_level *levels;
	struct jscan_key *keys;
	char *scratch; /* keys with escapes, decoded */
	struct jscan_member inline_members[JSCAN_INLINE_MEMBERS];
	struct jscan_level inline_levels[JSCAN_INLINE_LEVELS];
	struct jscan_key inline_keys[JSCAN_INLINE_KEYS];
	char inline_scratch[JSCAN_INLINE_SCRATCH];
};

void jscan_init(struct jscan *js);
void jscan_free(struct jscan *js);

/*
 * Scan buf[0..len) as one JSON document. Returns 0 with js->type (and the
 * members of a top-level object) set, or -1 with err filled.
 */
int jscan_parse(struct jscan *js, const char *buf, size_t len, struct jscan_error *err);

/*
 * Decode a string value or key that jscan_parse accepted (raw: the quotes
 * included) into out, which needs raw_len - 1 bytes; NUL-terminates and
 * returns the length. The result never holds a NUL byte.
 */
size_t jscan_string(const char *raw, size_t raw_len, char *out);

/* Walks the members of an object (or elements of an array) jscan_parse accepted. */
struct jscan_iter {
	const char *p, *end;
	bool object;
};

void jscan_iter_init(struct jscan_iter *it, const char *value, size_t value_len);
/* The next member (for an array element key is NULL); false at the end. */
bool jscan_next(struct jscan_iter *it, struct jscan_member *m);

#endif
