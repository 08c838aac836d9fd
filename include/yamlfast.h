/*
 * yamlfast.h: the fast path of ydoc_load. A hand-written reader for the
 * plain subset of YAML that rules and config files use (block mappings
 * and sequences, flow collections of scalars, plain and quoted one-line
 * scalars, comments) that fills the same tree as the libyaml composer:
 * the same nodes in the same order, at the same line and column, with
 * the same text and children. Anything outside the subset, and anything
 * that might be an error, is declined; ydoc_load then reads the document
 * with libyaml from scratch, so every diagnostic stays libyaml's.
 *
 * ydoc_load is the API; the rest is here for the differential tests.
 */
#ifndef GR_YAMLFAST_H
#define GR_YAMLFAST_H

#include "yamldoc.h"

/*
 * Read buf[0..len) into y's tree (nodes, kids, text, root), leaving y->d
 * and y->path alone. Returns 0 with the tree filled, or 1 when declined,
 * with the tree empty and nothing reported.
 */
int ydoc_load_fast(struct ydoc *y, const char *buf, size_t len);

/* ydoc_load without the fast path: libyaml alone. Same contract. */
int ydoc_load_libyaml(struct ydoc *y, const char *buf, size_t len, struct diags *d);

/*
 * Are the two trees the same, array for array? If not, a description of
 * the first difference goes to why[0..size).
 */
bool ydoc_tree_same(const struct ydoc *a, const struct ydoc *b, char *why, size_t size);

#endif
