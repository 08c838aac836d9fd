/*
 * yamldoc.h: strict reading of a YAML document (libyaml's document API)
 * with diagnostics at each node's line and column and its path in the
 * document. Shared by the rules loader and the daemon config loader.
 */
#ifndef GR_YAMLDOC_H
#define GR_YAMLDOC_H

#include <yaml.h>

#include "diag.h"

struct ydoc {
	yaml_document_t doc;
	bool loaded;
	struct diags *d;
	struct buf path; /* the path of the node being read: "policies[0].match" */
};

/*
 * Parse buf[0..len). A syntax error, an empty file or a second document is
 * reported to d and gives -1; on 0 the root node is ydoc_root().
 */
int ydoc_load(struct ydoc *y, const char *buf, size_t len, struct diags *d);
void ydoc_free(struct ydoc *y);
yaml_node_t *ydoc_root(struct ydoc *y);
yaml_node_t *ydoc_node(struct ydoc *y, int id);

void ydoc_error(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...) GR_PRINTF(3, 4);
void ydoc_warn(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...) GR_PRINTF(3, 4);

/* The path: push returns the length to pop back to. */
size_t ydoc_push_key(struct ydoc *y, const char *key);
size_t ydoc_push_index(struct ydoc *y, size_t i);
void ydoc_pop(struct ydoc *y, size_t len);
const char *ydoc_path(const struct ydoc *y);

/* Scalar text, or NULL for a mapping or sequence (no diagnostic). */
const char *ydoc_text(const yaml_node_t *n);
bool ydoc_is_null(const yaml_node_t *n);

/* Typed reads: each reports its own error and returns -1. */
int ydoc_str(struct ydoc *y, yaml_node_t *n, const char **out);
int ydoc_int(struct ydoc *y, yaml_node_t *n, int64_t min, int64_t max, int64_t *out);
int ydoc_bool(struct ydoc *y, yaml_node_t *n, bool *out);
int ydoc_duration(struct ydoc *y, yaml_node_t *n, int64_t *out);

/* A mapping or sequence check, reporting "expected a mapping" etc. */
int ydoc_expect_map(struct ydoc *y, yaml_node_t *n);
int ydoc_expect_seq(struct ydoc *y, yaml_node_t *n);

/*
 * Read a mapping whose keys are fixed: vals[i] gets the value node of
 * keys[i] (NULL when absent). Unknown and duplicate keys are errors (at
 * the key), as are absent keys named in required (a NULL-terminated list).
 * Returns -1 only when n is not a mapping; key errors are reported and
 * the known keys are still filled, so that checking goes on.
 */
int ydoc_fields(struct ydoc *y, yaml_node_t *n, const char *const *keys, size_t nkeys,
                const char *const *required, yaml_node_t **vals);

/*
 * Walk a mapping with free-form keys: calls fn for each pair with the key
 * text (path pushed with it). Non-scalar and duplicate keys are errors
 * and skipped. Returns -1 when n is not a mapping.
 */
typedef void (*ydoc_pair_fn)(struct ydoc *y, const char *key, yaml_node_t *knode, yaml_node_t *val,
                             void *arg);
int ydoc_each_pair(struct ydoc *y, yaml_node_t *n, ydoc_pair_fn fn, void *arg);

/*
 * A scalar or a sequence of scalars, as one list: "any of". Calls fn per
 * item with the path pushed ([i] for sequence items). Returns -1 when n is
 * neither; an empty sequence is an error.
 */
typedef void (*ydoc_item_fn)(struct ydoc *y, yaml_node_t *item, void *arg);
int ydoc_one_or_more(struct ydoc *y, yaml_node_t *n, ydoc_item_fn fn, void *arg);

#endif
