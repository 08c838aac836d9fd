/*
 * yamldoc.c: the strict YAML reading shared by the rules and config
 * loaders. Every diagnostic carries the node's line:column (1-based) and
 * its path in the document, so an admin's editor can jump to it.
 */
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "timeutil.h"
#include "yamldoc.h"

/* The reader reports bad bytes by offset: turn it into line and column (in characters). */
static void offset_position(const char *buf, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

int ydoc_load(struct ydoc *y, const char *buf, size_t len, struct diags *d)
{
	yaml_parser_t p;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	y->d = d;
	buf_init(&y->path);
	buf_puts(&y->path, "");
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &y->doc)) {
		const char *ctx = p.context != NULL ? p.context : NULL;
		int line = (int)p.problem_mark.line + 1, col = (int)p.problem_mark.column + 1;
		if (p.error == YAML_READER_ERROR)
			offset_position(buf, len, p.problem_offset, &line, &col);
		diags_add(d, DIAG_ERROR, line, col, "", "invalid YAML: %s%s%s",
		          p.problem != NULL ? p.problem : "parse error", ctx != NULL ? " " : "",
		          ctx != NULL ? ctx : "");
		yaml_parser_delete(&p);
		return -1;
	}
	y->loaded = true;
	if (yaml_document_get_root_node(&y->doc) == NULL) {
		diags_add(d, DIAG_ERROR, 1, 1, "", "the file is empty: expected a mapping");
		rc = -1;
	} else {
		yaml_document_t next;
		if (!yaml_parser_load(&p, &next)) {
			diags_add(d, DIAG_ERROR, (int)p.problem_mark.line + 1,
			          (int)p.problem_mark.column + 1, "", "invalid YAML: %s",
			          p.problem != NULL ? p.problem : "parse error");
			rc = -1;
		} else {
			yaml_node_t *r = yaml_document_get_root_node(&next);
			if (r != NULL) {
				diags_add(d, DIAG_ERROR, (int)r->start_mark.line + 1,
				          (int)r->start_mark.column + 1, "",
				          "a second YAML document: the file must hold one");
				rc = -1;
			}
			yaml_document_delete(&next);
		}
	}
	yaml_parser_delete(&p);
	return rc;
}

void ydoc_free(struct ydoc *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = false;
	buf_free(&y->path);
}

yaml_node_t *ydoc_root(struct ydoc *y)
{
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *ydoc_node(struct ydoc *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

static void vdiag(struct ydoc *y, enum diag_severity sev, const yaml_node_t *n, const char *fmt,
                  va_list ap)
{
	struct buf b;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	diags_add(y->d, sev, n != NULL ? (int)n->start_mark.line + 1 : 0,
	          n != NULL ? (int)n->start_mark.column + 1 : 0, ydoc_path(y), "%s", b.data);
	buf_free(&b);
}

void ydoc_error(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(y, DIAG_ERROR, n, fmt, ap);
	va_end(ap);
}

void ydoc_warn(struct ydoc *y, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(y, DIAG_WARNING, n, fmt, ap);
	va_end(ap);
}

size_t ydoc_push_key(struct ydoc *y, const char *key)
{
	size_t old = y->path.len;
	if (old > 0)
		buf_putc(&y->path, '.');
	buf_puts(&y->path, key);
	return old;
}

size_t ydoc_push_index(struct ydoc *y, size_t i)
{
	size_t old = y->path.len;
	buf_printf(&y->path, "[%zu]", i);
	return old;
}

void ydoc_pop(struct ydoc *y, size_t len)
{
	buf_truncate(&y->path, len);
}

const char *ydoc_path(const struct ydoc *y)
{
	return y->path.data != NULL ? y->path.data : "";
}

const char *ydoc_text(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool ydoc_is_null(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = ydoc_text(n);
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return ydoc_is_null(n) ? "null" : "a scalar";
	}
}

int ydoc_str(struct ydoc *y, yaml_node_t *n, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || ydoc_is_null(n)) {
		ydoc_error(y, n, "expected a string, got %s", kind_name(n));
		return -1;
	}
	if (strlen(ydoc_text(n)) != n->data.scalar.length) {
		ydoc_error(y, n, "a string must not contain NUL characters");
		return -1;
	}
	*out = ydoc_text(n);
	return 0;
}

int ydoc_int(struct ydoc *y, yaml_node_t *n, int64_t min, int64_t max, int64_t *out)
{
	if (n->type != YAML_SCALAR_NODE || ydoc_is_null(n)) {
		ydoc_error(y, n, "expected an integer, got %s", kind_name(n));
		return -1;
	}
	if (parse_int64(ydoc_text(n), min, max, out) < 0) {
		ydoc_error(y, n, "expected an integer from %lld to %lld, got \"%s\"",
		           (long long)min, (long long)max, ydoc_text(n));
		return -1;
	}
	return 0;
}

int ydoc_bool(struct ydoc *y, yaml_node_t *n, bool *out)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
	                                                                       "FALSE"};
	const char *s = ydoc_text(n);

	if (s != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < GR_NELEM(t); i++) {
			if (strcmp(s, t[i]) == 0) {
				*out = true;
				return 0;
			}
			if (strcmp(s, f[i]) == 0) {
				*out = false;
				return 0;
			}
		}
	}
	if (s != NULL)
		ydoc_error(y, n, "expected true or false, got \"%s\"", s);
	else
		ydoc_error(y, n, "expected true or false, got %s", kind_name(n));
	return -1;
}

int ydoc_duration(struct ydoc *y, yaml_node_t *n, int64_t *out)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || ydoc_is_null(n)) {
		ydoc_error(y, n, "expected a duration such as 90s or 1h30m, got %s", kind_name(n));
		return -1;
	}
	s = ydoc_text(n);
	switch (duration_parse(s, out)) {
	case 0:
		return 0;
	case -2:
		ydoc_error(y, n, "duration \"%s\" must be greater than zero", s);
		return -1;
	default:
		if (s[0] == '-')
			ydoc_error(y, n, "duration \"%s\" must be greater than zero", s);
		else
			ydoc_error(y, n,
			           "invalid duration \"%s\": expected a number and a unit (ms, s, "
			           "m, h, "
			           "d), e.g. 500ms, 90s or 1h30m",
			           s);
		return -1;
	}
}

int ydoc_expect_map(struct ydoc *y, yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return 0;
	ydoc_error(y, n, "expected a mapping, got %s", kind_name(n));
	return -1;
}

int ydoc_expect_seq(struct ydoc *y, yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return 0;
	ydoc_error(y, n, "expected a list, got %s", kind_name(n));
	return -1;
}

int ydoc_fields(struct ydoc *y, yaml_node_t *n, const char *const *keys, size_t nkeys,
                const char *const *required, yaml_node_t **vals)
{
	for (size_t i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (ydoc_expect_map(y, n) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = ydoc_node(y, p->key), *v = ydoc_node(y, p->value);
		const char *ks = ydoc_text(k);
		size_t i;

		if (ks == NULL) {
			ydoc_error(y, k, "expected a key, got %s", kind_name(k));
			continue;
		}
		if (strlen(ks) != k->data.scalar.length) {
			ydoc_error(y, k, "a key must not contain NUL characters");
			continue;
		}
		for (i = 0; i < nkeys; i++) {
			if (strcmp(ks, keys[i]) == 0)
				break;
		}
		if (i == nkeys) {
			size_t old = ydoc_push_key(y, ks);
			ydoc_error(y, k, "unknown key \"%s\"", ks);
			ydoc_pop(y, old);
		} else if (vals[i] != NULL) {
			size_t old = ydoc_push_key(y, ks);
			ydoc_error(y, k, "duplicate key \"%s\"", ks);
			ydoc_pop(y, old);
		} else {
			vals[i] = v;
		}
	}
	for (const char *const *r = required; r != NULL && *r != NULL; r++) {
		for (size_t i = 0; i < nkeys; i++) {
			if (strcmp(*r, keys[i]) == 0 && vals[i] == NULL)
				ydoc_error(y, n, "missing key \"%s\"", *r);
		}
	}
	return 0;
}

int ydoc_each_pair(struct ydoc *y, yaml_node_t *n, ydoc_pair_fn fn, void *arg)
{
	struct htab seen;

	if (ydoc_expect_map(y, n) < 0)
		return -1;
	htab_init(&seen, (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = ydoc_node(y, p->key), *v = ydoc_node(y, p->value);
		const char *ks = ydoc_text(k);

		if (ks == NULL || ydoc_is_null(k)) {
			ydoc_error(y, k, "expected a key, got %s", kind_name(k));
			continue;
		}
		if (strlen(ks) != k->data.scalar.length) {
			ydoc_error(y, k, "a key must not contain NUL characters");
			continue;
		}
		size_t old = ydoc_push_key(y, ks);
		if (htab_put(&seen, ks, strlen(ks), 0) < 0)
			ydoc_error(y, k, "duplicate key \"%s\"", ks);
		else
			fn(y, ks, k, v, arg);
		ydoc_pop(y, old);
	}
	htab_free(&seen);
	return 0;
}

int ydoc_one_or_more(struct ydoc *y, yaml_node_t *n, ydoc_item_fn fn, void *arg)
{
	if (n->type == YAML_SCALAR_NODE) {
		fn(y, n, arg);
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		ydoc_error(y, n, "expected a value or a list of values, got %s", kind_name(n));
		return -1;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top) {
		ydoc_error(y, n, "an empty list matches nothing: leave the key out to match any");
		return -1;
	}
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		size_t old = ydoc_push_index(y, i);
		fn(y, ydoc_node(y, *it), arg);
		ydoc_pop(y, old);
	}
	return 0;
}
