/*
 * yamldoc.h: strict reading of a YAML document with diagnostics at each
 * node's line and column and its path in the document. Shared by the rules
 * loader and the daemon config loader.
 *
 * The document is composed from libyaml's events into one compact tree:
 * every node in one array, every scalar's text in one arena, children as
 * indexes. An alias is a copy of its anchor's node and everything in it,
 * at the alias's line and column (the text shared), so that a diagnostic
 * about it names where it is used. Tags are errors (SPEC v2 §3), and so is nesting
 * deeper than YDOC_DEPTH_MAX, on the fast path and libyaml's alike.
 */
#ifndef GR_YAMLDOC_H
#define GR_YAMLDOC_H

#include "diag.h"

struct htab;

/* Collections nested deeper than this are an error (reading stays fast and flat). */
#define YDOC_DEPTH_MAX 100

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
	uint8_t type;  /* enum ynode_type */
	uint8_t plain; /* a scalar in plain style: only then are "~" or "true" words */
	uint16_t unused;
	uint32_t line, col; /* where the node starts, 1-based (col in characters) */
	uint32_t len;       /* scalar: bytes of text; sequence: items; mapping: pairs */
	uint32_t off;       /* scalar: its text in ydoc.text; else its first child in ydoc.kids */
};

struct ydoc {
	struct ynode *nodes;
	size_t nnodes;
	uint32_t *kids; /* sequence items; mapping keys and values, alternating */
	size_t nkids;
	char *text; /* every scalar, NUL-terminated */
	size_t ntext;
	const struct ynode *root;
	struct diags *d;
	/*
	 * The path of the node being read, "policies[0].match", as pushed: a
	 * key (NULL for an index) per step. It is text only for a diagnostic.
	 */
	struct ypath {
		const char *key;
		size_t index;
	} * path;
	size_t npath, cappath;
	struct buf pathtext;
};

/*
 * Read the whole of path into *out and *len (caller frees) for ydoc_load:
 * it must be a regular file (a FIFO, a device or a directory is refused at
 * once, without blocking) of at most max bytes. A diagnostic and -1 when
 * it is not, or cannot be read.
 */
int ydoc_read_file(const char *path, size_t max, char **out, size_t *len, struct diags *d);

/*
 * Parse buf[0..len). A syntax error, a tag, nesting deeper than
 * YDOC_DEPTH_MAX, an empty file or a second document is reported to d and
 * gives -1; on 0 the root node is ydoc_root(). Free with ydoc_free either
 * way.
 */
int ydoc_load(struct ydoc *y, const char *buf, size_t len, struct diags *d);
void ydoc_free(struct ydoc *y);
const struct ynode *ydoc_root(const struct ydoc *y);

/* Items of a sequence, pairs of a mapping; 0 for a scalar. */
static inline size_t ydoc_len(const struct ynode *n)
{
	return n->type == YNODE_SCALAR ? 0 : n->len;
}

/* Item i of a sequence n (i < ydoc_len(n)). */
static inline const struct ynode *ydoc_item(const struct ydoc *y, const struct ynode *n, size_t i)
{
	return &y->nodes[y->kids[n->off + i]];
}

/* Key and value of pair i of a mapping n (i < ydoc_len(n)). */
static inline const struct ynode *ydoc_key(const struct ydoc *y, const struct ynode *n, size_t i)
{
	return &y->nodes[y->kids[n->off + 2 * i]];
}

static inline const struct ynode *ydoc_value(const struct ydoc *y, const struct ynode *n, size_t i)
{
	return &y->nodes[y->kids[n->off + 2 * i + 1]];
}

/* Scalar text, or NULL for a mapping or sequence (no diagnostic). */
static inline const char *ydoc_text(const struct ydoc *y, const struct ynode *n)
{
	return n != NULL && n->type == YNODE_SCALAR ? y->text + n->off : NULL;
}

bool ydoc_is_null(const struct ydoc *y, const struct ynode *n);

void ydoc_error(struct ydoc *y, const struct ynode *n, const char *fmt, ...) GR_PRINTF(3, 4);
void ydoc_warn(struct ydoc *y, const struct ynode *n, const char *fmt, ...) GR_PRINTF(3, 4);

/*
 * The path: push returns the depth to pop back to. A key is not copied:
 * it must stay as it is until popped.
 */
size_t ydoc_push_key(struct ydoc *y, const char *key);
size_t ydoc_push_index(struct ydoc *y, size_t i);
void ydoc_pop(struct ydoc *y, size_t depth);
/* The path as text, valid until the next call. */
const char *ydoc_path(struct ydoc *y);

/* Typed reads: each reports its own error and returns -1. */
int ydoc_str(struct ydoc *y, const struct ynode *n, const char **out);
int ydoc_int(struct ydoc *y, const struct ynode *n, int64_t min, int64_t max, int64_t *out);
int ydoc_bool(struct ydoc *y, const struct ynode *n, bool *out);
/* A clock duration (SPEC §3): ms. */
int ydoc_duration(struct ydoc *y, const struct ynode *n, int64_t *out);
/*
 * A clock or working duration (SPEC §3.1); wd_ms is the calendar's working
 * day, 0 when the rules have no calendar, -1 where working units never go.
 */
struct wdur;
int ydoc_wdur(struct ydoc *y, const struct ynode *n, int64_t wd_ms, struct wdur *out);

/* A mapping or sequence check, reporting "expected a mapping" etc. */
int ydoc_expect_map(struct ydoc *y, const struct ynode *n);
int ydoc_expect_seq(struct ydoc *y, const struct ynode *n);

/*
 * Read a mapping whose keys are fixed: vals[i] gets the value node of
 * keys[i] (NULL when absent). Unknown and duplicate keys are errors (at
 * the key), as are absent keys named in required (a NULL-terminated list).
 * Returns -1 only when n is not a mapping; key errors are reported and
 * the known keys are still filled, so that checking goes on.
 */
int ydoc_fields(struct ydoc *y, const struct ynode *n, const char *const *keys, size_t nkeys,
                const char *const *required, const struct ynode **vals);

/*
 * Walk a mapping with free-form keys: calls fn for each pair with the key
 * text (path pushed with it). Non-scalar and duplicate keys are errors
 * and skipped. Returns -1 when n is not a mapping.
 */
typedef void (*ydoc_pair_fn)(struct ydoc *y, const char *key, const struct ynode *knode,
                             const struct ynode *val, void *arg);
int ydoc_each_pair(struct ydoc *y, const struct ynode *n, ydoc_pair_fn fn, void *arg);

/*
 * The same with the duplicate check in keys, an empty table of the
 * caller's: each key handed to fn is put there (pointing into the tree)
 * with the value -1, so that a map from the keys to what fn makes of them
 * costs no second table. fn may set a key's value with htab_set, pointing
 * it at a copy that outlives the tree; the others must not be looked up
 * once the tree is freed.
 */
int ydoc_each_pair_keyed(struct ydoc *y, const struct ynode *n, struct htab *keys, ydoc_pair_fn fn,
                         void *arg);

/*
 * A scalar or a sequence of scalars, as one list: "any of". Calls fn per
 * item with the path pushed ([i] for sequence items). Returns -1 when n is
 * neither; an empty sequence is an error.
 */
typedef void (*ydoc_item_fn)(struct ydoc *y, const struct ynode *item, void *arg);
int ydoc_one_or_more(struct ydoc *y, const struct ynode *n, ydoc_item_fn fn, void *arg);

#endif
