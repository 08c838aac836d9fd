/*
 * diag.c: collecting and printing configuration diagnostics.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"

void diags_init(struct diags *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = xstrdup(file);
}

void diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].msg);
		free(d->v[i].path);
		free(d->v[i].file);
	}
	free(d->v);
	free(d->file);
	memset(d, 0, sizeof(*d));
}

void diags_add(struct diags *d, enum diag_severity sev, int line, int col, const char *path,
               const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	if (d->n == d->cap) {
		d->cap = d->cap == 0 ? 16 : d->cap * 2;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	struct diag *g = &d->v[d->n++];
	g->severity = sev;
	g->line = line;
	g->col = col;
	g->msg = buf_detach(&b);
	g->path = xstrdup(path != NULL ? path : "");
	g->seq = d->n - 1;
	g->file = NULL;
	if (sev == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
}

void diags_move(struct diags *d, struct diags *from)
{
	for (size_t i = 0; i < from->n; i++) {
		struct diag *g = &from->v[i];
		if (d->n == d->cap) {
			d->cap = d->cap == 0 ? 16 : d->cap * 2;
			d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
		}
		if (g->file == NULL)
			g->file = xstrdup(from->file);
		g->seq = d->n;
		d->v[d->n++] = *g;
		if (g->severity == DIAG_ERROR)
			d->nerrors++;
		else
			d->nwarnings++;
	}
	from->n = from->nerrors = from->nwarnings = 0;
}

static int cmp_pos(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	if (x->file != y->file) {
		if (x->file == NULL || y->file == NULL)
			return x->file == NULL ? -1 : 1;
		int c = strcmp(x->file, y->file);
		if (c != 0)
			return c;
	}
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void diags_sort(struct diags *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp_pos);
}

char *diag_format(const struct diags *d, const struct diag *g)
{
	const char *sev = g->severity == DIAG_ERROR ? "error" : "warning";
	const char *file = g->file != NULL ? g->file : d->file;

	if (g->line <= 0)
		return g->path[0] != '\0' ? xasprintf("%s: %s: %s (%s)", file, sev, g->msg, g->path)
		                          : xasprintf("%s: %s: %s", file, sev, g->msg);
	if (g->path[0] != '\0')
		return xasprintf("%s:%d:%d: %s: %s (%s)", file, g->line, g->col, sev, g->msg,
		                 g->path);
	return xasprintf("%s:%d:%d: %s: %s", file, g->line, g->col, sev, g->msg);
}

void diags_print(const struct diags *d, FILE *fp)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(d, &d->v[i]);
		fprintf(fp, "%s\n", s);
		free(s);
	}
}
