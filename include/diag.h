/*
 * diag.h: configuration diagnostics in the form compilers use,
 * "file:line:col: error: message (path.in.document)", collected so that
 * every mistake in a file is reported, not just the first.
 */
#ifndef GR_DIAG_H
#define GR_DIAG_H

#include <stdio.h>

#include "util.h"

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_severity severity;
	int line; /* 1-based; 0 when the whole file is meant */
	int col;  /* 1-based */
	char *msg;
	char *path; /* "policies[0].start_level"; may be "" */
	size_t seq; /* order of addition: keeps the sort stable */
	char *file; /* NULL: the set's file; else the one it came from (diags_move) */
};

struct diags {
	char *file; /* as named on the command line */
	struct diag *v;
	size_t n, cap;
	size_t nerrors, nwarnings;
};

void diags_init(struct diags *d, const char *file);
void diags_free(struct diags *d);
void diags_add(struct diags *d, enum diag_severity sev, int line, int col, const char *path,
               const char *fmt, ...) GR_PRINTF(6, 7);
/*
 * Moves every diagnostic of from into d, each naming from's file (a file
 * that d's file includes, such as a holidays file); from is left empty.
 */
void diags_move(struct diags *d, struct diags *from);
/* Orders by file (d's own first), line and column, keeping the order of equal positions. */
void diags_sort(struct diags *d);
/* One diagnostic as a line, without newline; caller frees. */
char *diag_format(const struct diags *d, const struct diag *g);
void diags_print(const struct diags *d, FILE *fp);

#endif
