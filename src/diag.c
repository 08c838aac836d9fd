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

/*
 * The text of a diagnostic as it goes out: control characters (C0, DEL,
 * C1) and the Unicode line separators as escapes, so that a line stays
 * one line whatever a file held (a key "a\r\nb" in a quoted scalar, a
 * file name with a newline). The rest, valid UTF-8 from libyaml, as is.
 */
static void put_clean(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		unsigned char c = *p;
		if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			buf_printf(b, "\\u%04x", *++p);
		else if (c == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			buf_printf(b, "\\u%04x", p[2] == 0xa8 ? 0x2028 : 0x2029);
			p += 2;
		} else
			buf_putc(b, (char)c);
	}
}

char *diag_format(const struct diags *d, const struct diag *g)
{
	struct buf b;

	buf_init(&b);
	put_clean(&b, g->file != NULL ? g->file : d->file);
	if (g->line > 0)
		buf_printf(&b, ":%d:%d", g->line, g->col);
	buf_puts(&b, g->severity == DIAG_ERROR ? ": error: " : ": warning: ");
	put_clean(&b, g->msg);
	if (g->path[0] != '\0') {
		buf_puts(&b, " (");
		put_clean(&b, g->path);
		buf_putc(&b, ')');
	}
	return buf_detach(&b);
}

void diags_print(const struct diags *d, FILE *fp)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(d, &d->v[i]);
		fprintf(fp, "%s\n", s);
		free(s);
	}
}
