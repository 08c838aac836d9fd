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
 * The tree building both readers share (yamldoc.c): grow an array to hold
 * need items (cap doubles, from 64), and add a node at line, col (1-based)
 * with no text or children yet, returning its index.
 */
void *ydoc_grow(void *p, size_t *cap, size_t need, size_t size);
#define YDOC_GROW(p, cap, need)                                                                    \
	((need) <= (cap) ? (p) : ydoc_grow((p), &(cap), (need), sizeof(*(p))))
uint32_t ydoc_add_node(struct ydoc *y, size_t *capnodes, enum ynode_type type, uint32_t line,
                       uint32_t col);

/*
 * Are the two trees the same, array for array? If not, a description of
 * the first difference goes to why[0..size).
 */
bool ydoc_tree_same(const struct ydoc *a, const struct ydoc *b, char *why, size_t size);

#endif
