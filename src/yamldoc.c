/*
 * yamldoc.c: the strict YAML reading shared by the rules and config
 * loaders. Every diagnostic carries the node's line:column (1-based) and
 * its path in the document, so an admin's editor can jump to it.
 *
 * The tree is composed from libyaml's event API rather than its document
 * API: a 100,000-unit rules file has millions of nodes, and the document
 * API spends 96 bytes, a malloc'd tag and a malloc'd value on each; here a
 * node is 20 bytes in one array and its text is in one arena. Composing
 * follows libyaml's loader (src/loader.c) event for event, so that a
 * composer error is worded as libyaml words it, with three differences:
 * an alias is a copy of its anchor's nodes at the alias (sharing their
 * text), so that a diagnostic about it names where it is used; a tag is
 * an error; and nesting stops at YDOC_DEPTH_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "htab.h"
#include "log.h"
#include "timeutil.h"
#include "yamldoc.h"
#include "yamlfast.h"

/* Mappings with more pairs than this check duplicate keys with a hash table. */
#define SMALL_MAP 16

/* Aliases may add this many nodes beyond those written out. */
#define ALIAS_COPIES_MAX 1000000

#define STR_(x) #x
#define STR(x)  STR_(x)

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/*
 * Opened without blocking (a FIFO with no writer would hang the open, and
 * a reload thread with it), checked with fstat on what was opened (no race
 * with a rename), read straight into one allocation: of the right size,
 * on huge pages when big; a file still growing grows it.
 */
int ydoc_read_file(const char *path, size_t max, char **out, size_t *len, struct diags *d)
{
	struct stat st;
	size_t cap, n = 0;
	char *p;
	int fd;

	/* a device is not even opened: opening some has effects */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		diags_add(d, DIAG_ERROR, 0, 0, "", "cannot read: %s, not a regular file",
		          file_kind(st.st_mode));
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		diags_add(d, DIAG_ERROR, 0, 0, "", "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		diags_add(d, DIAG_ERROR, 0, 0, "", "cannot read: %s, not a regular file",
		          file_kind(st.st_mode));
		close(fd);
		return -1;
	}
	cap = st.st_size > 0 && (uintmax_t)st.st_size <= max ? (size_t)st.st_size + 1 : 65536;
	p = htab_big_alloc(cap, 1); /* + 1: the end is seen without a second allocation */
	for (;;) {
		if (n == cap) {
			/* never more than one byte past the limit: enough to tell it was passed */
			cap = cap < (max + 1) / 2 ? cap * 2 : max + 1;
			p = xreallocarray(p, cap, 1);
		}
		ssize_t got = read(fd, p + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			diags_add(d, DIAG_ERROR, 0, 0, "", "cannot read: %s", strerror(errno));
			break;
		}
		if (got == 0) {
			close(fd);
			*out = p;
			*len = n;
			return 0;
		}
		n += (size_t)got;
		if (n > max) {
			diags_add(d, DIAG_ERROR, 0, 0, "", "file larger than %zu bytes", max);
			break;
		}
	}
	close(fd);
	free(p);
	return -1;
}

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

/* What composing one document needs besides the tree. */
struct composer {
	yaml_parser_t *p;
	struct ydoc *y;
	struct diags *d; /* for the errors composing goes on after (tags); NULL: not reported */
	size_t errors;   /* how many */
	size_t copies;   /* nodes made by aliases */
	size_t capnodes, capkids, captext;
	uint32_t *pending; /* children of the open collections, innermost last */
	size_t npending, cappending;
	struct frame {
		uint32_t node;
		uint32_t first; /* its first child in pending */
	} * open;
	size_t nopen, capopen;
	struct htab anchors; /* anchor -> node */
	char **names;        /* the anchors' text, owned */
	size_t nnames;
};

/* Called on millions of events: the common case, room enough, stays inline. */
#define GROW YDOC_GROW

void *ydoc_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t cap2 = *cap < 64 ? 64 : *cap;
	while (cap2 < need)
		cap2 *= 2;
	*cap = cap2;
	return xreallocarray(p, cap2, size);
}

/* A composer error, as libyaml's loader sets it (its fields are public). */
static int composer_error(yaml_parser_t *p, const char *context, yaml_mark_t context_mark,
                          const char *problem, yaml_mark_t problem_mark)
{
	p->error = YAML_COMPOSER_ERROR;
	p->context = context;
	p->context_mark = context_mark;
	p->problem = problem;
	p->problem_mark = problem_mark;
	return -1;
}

uint32_t ydoc_add_node(struct ydoc *y, size_t *capnodes, enum ynode_type type, uint32_t line,
                       uint32_t col)
{
	if (y->nnodes >= UINT32_MAX)
		fatalx("YAML document: too many nodes");
	y->nodes = YDOC_GROW(y->nodes, *capnodes, y->nnodes + 1);
	struct ynode *n = &y->nodes[y->nnodes];
	n->type = (uint8_t)type;
	n->plain = 0;
	n->unused = 0;
	n->line = line;
	n->col = col;
	n->len = 0;
	n->off = 0;
	return (uint32_t)y->nnodes++;
}

static uint32_t add_node(struct composer *c, enum ynode_type type, const yaml_mark_t *m)
{
	return ydoc_add_node(c->y, &c->capnodes, type, (uint32_t)m->line + 1,
	                     (uint32_t)m->column + 1);
}

/* libyaml's loader rejects an anchor defined twice in a document. */
static int add_anchor(struct composer *c, const yaml_char_t *anchor, uint32_t node,
                      const yaml_mark_t *m)
{
	if (anchor == NULL)
		return 0;
	const char *a = (const char *)anchor;
	int first = htab_get(&c->anchors, a, strlen(a));
	if (first >= 0) {
		const struct ynode *f = &c->y->nodes[first];
		yaml_mark_t fm = {0, f->line - 1, f->col - 1};
		return composer_error(c->p, "found duplicate anchor; first occurrence", fm,
		                      "second occurrence", *m);
	}
	c->names = xreallocarray(c->names, c->nnames + 1, sizeof(*c->names));
	c->names[c->nnames] = xstrdup(a);
	htab_put(&c->anchors, c->names[c->nnames], strlen(a), (int)node);
	c->nnames++;
	return 0;
}

/* SPEC v2 §3: no tags. Composing goes on, so that every one is reported. */
static void check_tag(struct composer *c, const yaml_char_t *tag, const yaml_mark_t *m)
{
	static const char core[] = "tag:yaml.org,2002:";
	const char *t = (const char *)tag;

	if (tag == NULL || c->d == NULL)
		return;
	c->errors++;
	if (strncmp(t, core, sizeof(core) - 1) == 0)
		diags_add(c->d, DIAG_ERROR, (int)m->line + 1, (int)m->column + 1, "",
		          "YAML tags are not allowed (\"!!%s\"): write the value alone",
		          t + sizeof(core) - 1);
	else
		diags_add(c->d, DIAG_ERROR, (int)m->line + 1, (int)m->column + 1, "",
		          "YAML tags are not allowed (\"%s\"): write the value alone", t);
}

/*
 * A copy of node src and everything in it, every node at the alias's
 * mark m, sharing the text. The copy's children are written to kids at
 * once, each collection's contiguous as close_collection writes them.
 */
static int copy_tree(struct composer *c, uint32_t src, const yaml_mark_t *m, uint32_t *out)
{
	struct ydoc *y = c->y;
	const struct ynode t = y->nodes[src]; /* by value: add_node may move the array */

	/* at most ALIAS_COPIES_MAX more than the nodes written out (nnodes less the copies) */
	if (c->copies >= ALIAS_COPIES_MAX + (y->nnodes - c->copies)) {
		yaml_mark_t none = {0, 0, 0};
		return composer_error(c->p, NULL, none,
		                      "aliases expand the document to too many nodes", *m);
	}
	c->copies++;
	uint32_t id = add_node(c, (enum ynode_type)t.type, m);
	y->nodes[id].plain = t.plain;
	y->nodes[id].len = t.len;
	y->nodes[id].off = t.off;
	*out = id;
	if (t.type == YNODE_SCALAR)
		return 0;
	size_t n = t.type == YNODE_MAP ? 2 * (size_t)t.len : t.len, base = y->nkids;
	if (base + n >= UINT32_MAX)
		fatalx("YAML document: too many nodes");
	y->kids = GROW(y->kids, c->capkids, base + n);
	y->nkids += n;
	y->nodes[id].off = (uint32_t)base;
	for (size_t i = 0; i < n; i++) {
		uint32_t kid;
		if (copy_tree(c, y->kids[t.off + i], m, &kid) < 0)
			return -1;
		y->kids[base + i] = kid;
	}
	return 0;
}

/*
 * An alias: a copy of its anchor's node where it is used, so that every
 * diagnostic about it, or about anything in it, names the use (its path
 * does too). An alias inside the collection it names would make the tree
 * a cycle: refused, as is expanding past ALIAS_COPIES_MAX (a "billion
 * laughs" of nested aliases).
 */
static int add_alias(struct composer *c, uint32_t target, const yaml_mark_t *m, uint32_t *out)
{
	for (size_t i = 0; i < c->nopen; i++) {
		if (c->open[i].node == target) {
			yaml_mark_t none = {0, 0, 0};
			return composer_error(c->p, NULL, none,
			                      "found an alias inside the node it refers to", *m);
		}
	}
	return copy_tree(c, target, m, out);
}

static void add_child(struct composer *c, uint32_t node)
{
	c->pending = GROW(c->pending, c->cappending, c->npending + 1);
	c->pending[c->npending++] = node;
}

static uint32_t add_scalar(struct composer *c, const yaml_event_t *e)
{
	struct ydoc *y = c->y;
	size_t len = e->data.scalar.length;
	uint32_t id = add_node(c, YNODE_SCALAR, &e->start_mark);
	struct ynode *n = &y->nodes[id];

	if (len >= UINT32_MAX || y->ntext + len + 1 >= UINT32_MAX)
		fatalx("YAML document: too much text");
	y->text = GROW(y->text, c->captext, y->ntext + len + 1);
	memcpy(y->text + y->ntext, e->data.scalar.value, len);
	y->text[y->ntext + len] = '\0';
	n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	n->len = (uint32_t)len;
	n->off = (uint32_t)y->ntext;
	y->ntext += len + 1;
	return id;
}

/* Closes the innermost collection: its children move from pending to kids. */
static void close_collection(struct composer *c)
{
	struct ydoc *y = c->y;
	struct frame f = c->open[--c->nopen];
	size_t n = c->npending - f.first;

	if (y->nkids + n >= UINT32_MAX)
		fatalx("YAML document: too many nodes");
	y->kids = GROW(y->kids, c->capkids, y->nkids + n);
	if (n > 0) /* an empty collection may have nothing allocated yet */
		memcpy(y->kids + y->nkids, c->pending + f.first, n * sizeof(*y->kids));
	y->nodes[f.node].off = (uint32_t)y->nkids;
	y->nodes[f.node].len = (uint32_t)(y->nodes[f.node].type == YNODE_MAP ? n / 2 : n);
	y->nkids += n;
	c->npending = f.first;
}

/*
 * Compose the document whose DOCUMENT-START was just read, up to its
 * DOCUMENT-END, into c->y. Returns its root node, or -1 with the error in
 * the parser.
 */
static int64_t compose(struct composer *c)
{
	int64_t root = -1;
	yaml_event_t e;

	for (;;) {
		uint32_t id = 0;
		bool node = true;

		if (!yaml_parser_parse(c->p, &e))
			return -1;
		switch (e.type) {
		case YAML_SCALAR_EVENT:
			check_tag(c, e.data.scalar.tag, &e.start_mark);
			id = add_scalar(c, &e);
			if (add_anchor(c, e.data.scalar.anchor, id, &e.start_mark) < 0)
				goto fail;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			bool seq = e.type == YAML_SEQUENCE_START_EVENT;
			if (c->nopen >= YDOC_DEPTH_MAX) {
				yaml_mark_t none = {0, 0, 0};
				composer_error(
				        c->p, NULL, none,
				        "collections nested more than " STR(YDOC_DEPTH_MAX) " deep",
				        e.start_mark);
				goto fail;
			}
			check_tag(c, seq ? e.data.sequence_start.tag : e.data.mapping_start.tag,
			          &e.start_mark);
			id = add_node(c, seq ? YNODE_SEQ : YNODE_MAP, &e.start_mark);
			if (add_anchor(c,
			               seq ? e.data.sequence_start.anchor
			                   : e.data.mapping_start.anchor,
			               id, &e.start_mark) < 0)
				goto fail;
			if (c->nopen > 0)
				add_child(c, id);
			else
				root = id;
			c->open = GROW(c->open, c->capopen, c->nopen + 1);
			c->open[c->nopen].node = id;
			c->open[c->nopen].first = (uint32_t)c->npending;
			c->nopen++;
			node = false;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			close_collection(c);
			node = false;
			break;
		case YAML_ALIAS_EVENT: {
			const char *a = (const char *)e.data.alias.anchor;
			int target = htab_get(&c->anchors, a, strlen(a));
			if (target < 0) {
				yaml_mark_t none = {0, 0, 0};
				composer_error(c->p, NULL, none, "found undefined alias",
				               e.start_mark);
				goto fail;
			}
			if (add_alias(c, (uint32_t)target, &e.start_mark, &id) < 0)
				goto fail;
			break;
		}
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&e);
			return c->errors > 0 ? -2 : root;
		default:
			node = false;
			break;
		}
		if (node) {
			if (c->nopen > 0)
				add_child(c, id);
			else
				root = id;
		}
		yaml_event_delete(&e);
	}
fail:
	yaml_event_delete(&e);
	return -1;
}

static void composer_init(struct composer *c, yaml_parser_t *p, struct ydoc *y, size_t len,
                          struct diags *d)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->y = y;
	c->d = d;
	htab_init(&c->anchors, 16);
	/* about 9 bytes of YAML per node in a rules file: reserve, untouched pages cost nothing */
	c->capnodes = len / 8 + 16;
	c->capkids = c->capnodes;
	c->captext = len + len / 8 + 16;
	y->nodes = xreallocarray(NULL, c->capnodes, sizeof(*y->nodes));
	y->kids = xreallocarray(NULL, c->capkids, sizeof(*y->kids));
	y->text = xmalloc(c->captext);
}

static void composer_free(struct composer *c)
{
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	htab_free(&c->anchors);
	free(c->pending);
	free(c->open);
}

static void tree_free(struct ydoc *y)
{
	free(y->nodes);
	free(y->kids);
	free(y->text);
	y->nodes = NULL;
	y->kids = NULL;
	y->text = NULL;
	y->nnodes = y->nkids = y->ntext = 0;
	y->root = NULL;
}

/*
 * Reads the stream up to the first document's end, as yaml_parser_load does.
 * Returns 1 with y's tree and root filled, 0 for an empty stream, -1 with
 * the error in the parser, -2 when the document was read to its end but
 * had errors that are reported to d already.
 */
static int load_document(yaml_parser_t *p, struct ydoc *y, size_t len, struct diags *d)
{
	struct composer c;
	yaml_event_t e;

	if (!p->stream_start_produced) {
		if (!yaml_parser_parse(p, &e))
			return -1;
		yaml_event_delete(&e);
	}
	if (p->stream_end_produced)
		return 0;
	if (!yaml_parser_parse(p, &e))
		return -1;
	if (e.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&e);
		return 0;
	}
	yaml_event_delete(&e);
	composer_init(&c, p, y, len, d);
	int64_t root = compose(&c);
	composer_free(&c);
	if (root < 0) {
		tree_free(y);
		return (int)root;
	}
	y->root = &y->nodes[root];
	return 1;
}

/* libyaml's reading of buf into y, whose tree is empty. */
static int load_libyaml(struct ydoc *y, const char *buf, size_t len, struct diags *d)
{
	yaml_parser_t p;
	int rc = 0, got;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	got = load_document(&p, y, len, d);
	if (got == -2) {
		yaml_parser_delete(&p);
		return -1;
	}
	if (got < 0) {
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
	if (got == 0) {
		diags_add(d, DIAG_ERROR, 1, 1, "", "the file is empty: expected a mapping");
		rc = -1;
	} else {
		/* a second document is composed too: its syntax errors come first */
		struct ydoc next;
		memset(&next, 0, sizeof(next));
		got = load_document(&p, &next, 0, NULL);
		if (got == -1) {
			diags_add(d, DIAG_ERROR, (int)p.problem_mark.line + 1,
			          (int)p.problem_mark.column + 1, "", "invalid YAML: %s",
			          p.problem != NULL ? p.problem : "parse error");
			rc = -1;
		} else if (got != 0) {
			diags_add(d, DIAG_ERROR, (int)next.root->line, (int)next.root->col, "",
			          "a second YAML document: the file must hold one");
			rc = -1;
		}
		tree_free(&next);
	}
	yaml_parser_delete(&p);
	return rc;
}

static void ydoc_init(struct ydoc *y, struct diags *d)
{
	memset(y, 0, sizeof(*y));
	y->d = d;
	buf_init(&y->pathtext);
}

/*
 * The fast path reads the usual files several times faster than libyaml;
 * whatever it declines, libyaml reads from scratch, errors and all.
 */
int ydoc_load(struct ydoc *y, const char *buf, size_t len, struct diags *d)
{
	ydoc_init(y, d);
	if (ydoc_load_fast(y, buf, len) == 0)
		return 0;
	return load_libyaml(y, buf, len, d);
}

int ydoc_load_libyaml(struct ydoc *y, const char *buf, size_t len, struct diags *d)
{
	ydoc_init(y, d);
	return load_libyaml(y, buf, len, d);
}

void ydoc_free(struct ydoc *y)
{
	tree_free(y);
	free(y->path);
	y->path = NULL;
	y->npath = y->cappath = 0;
	buf_free(&y->pathtext);
}

const struct ynode *ydoc_root(const struct ydoc *y)
{
	return y->root;
}

static void vdiag(struct ydoc *y, enum diag_severity sev, const struct ynode *n, const char *fmt,
                  va_list ap)
{
	struct buf b;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	diags_add(y->d, sev, n != NULL ? (int)n->line : 0, n != NULL ? (int)n->col : 0,
	          ydoc_path(y), "%s", b.data);
	buf_free(&b);
}

void ydoc_error(struct ydoc *y, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(y, DIAG_ERROR, n, fmt, ap);
	va_end(ap);
}

void ydoc_warn(struct ydoc *y, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(y, DIAG_WARNING, n, fmt, ap);
	va_end(ap);
}

/* Pushed for every key and item of a big file, read only for a diagnostic: no text here. */
static size_t push(struct ydoc *y, const char *key, size_t index)
{
	size_t depth = y->npath;

	y->path = GROW(y->path, y->cappath, depth + 1);
	y->path[depth].key = key;
	y->path[depth].index = index;
	y->npath = depth + 1;
	return depth;
}

size_t ydoc_push_key(struct ydoc *y, const char *key)
{
	return push(y, key, 0);
}

size_t ydoc_push_index(struct ydoc *y, size_t i)
{
	return push(y, NULL, i);
}

void ydoc_pop(struct ydoc *y, size_t depth)
{
	if (depth < y->npath)
		y->npath = depth;
}

/* "units[3].roles.member": a key after anything gets a dot, an index its brackets. */
const char *ydoc_path(struct ydoc *y)
{
	struct buf *b = &y->pathtext;

	buf_reset(b);
	buf_puts(b, "");
	for (size_t i = 0; i < y->npath; i++) {
		const struct ypath *p = &y->path[i];
		if (p->key == NULL) {
			buf_printf(b, "[%zu]", p->index);
			continue;
		}
		if (b->len > 0)
			buf_putc(b, '.');
		buf_puts(b, p->key);
	}
	return b->data;
}

bool ydoc_is_null(const struct ydoc *y, const struct ynode *n)
{
	if (n == NULL || n->type != YNODE_SCALAR || !n->plain || n->len > 4)
		return false;
	const char *s = ydoc_text(y, n);
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *kind_name(const struct ydoc *y, const struct ynode *n)
{
	switch (n->type) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	default:
		return ydoc_is_null(y, n) ? "null" : "a scalar";
	}
}

/* A scalar whose text has no NUL in it: strlen would cut it short. */
static bool whole(const struct ydoc *y, const struct ynode *n)
{
	return memchr(ydoc_text(y, n), '\0', n->len) == NULL;
}

int ydoc_str(struct ydoc *y, const struct ynode *n, const char **out)
{
	if (n->type != YNODE_SCALAR || ydoc_is_null(y, n)) {
		ydoc_error(y, n, "expected a string, got %s", kind_name(y, n));
		return -1;
	}
	if (!whole(y, n)) {
		ydoc_error(y, n, "a string must not contain NUL characters");
		return -1;
	}
	*out = ydoc_text(y, n);
	return 0;
}

int ydoc_int(struct ydoc *y, const struct ynode *n, int64_t min, int64_t max, int64_t *out)
{
	if (n->type != YNODE_SCALAR || ydoc_is_null(y, n)) {
		ydoc_error(y, n, "expected an integer, got %s", kind_name(y, n));
		return -1;
	}
	if (parse_int64(ydoc_text(y, n), min, max, out) < 0) {
		ydoc_error(y, n, "expected an integer from %lld to %lld, got \"%s\"",
		           (long long)min, (long long)max, ydoc_text(y, n));
		return -1;
	}
	return 0;
}

int ydoc_bool(struct ydoc *y, const struct ynode *n, bool *out)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
	                                                                       "FALSE"};
	const char *s = ydoc_text(y, n);

	if (s != NULL && n->plain) {
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
		ydoc_error(y, n, "expected true or false, got %s", kind_name(y, n));
	return -1;
}

int ydoc_wdur(struct ydoc *y, const struct ynode *n, int64_t wd_ms, struct wdur *out)
{
	const char *s;

	if (n->type != YNODE_SCALAR || ydoc_is_null(y, n)) {
		ydoc_error(y, n, "expected a duration such as 90s or 1h30m, got %s",
		           kind_name(y, n));
		return -1;
	}
	s = ydoc_text(y, n);
	switch (wdur_parse(s, wd_ms > 0 ? wd_ms : 0, out)) {
	case DUR_OK:
		return 0;
	case DUR_ZERO:
		ydoc_error(y, n, "duration \"%s\" must be greater than zero", s);
		return -1;
	case DUR_MIXED:
		ydoc_error(y, n,
		           "duration \"%s\" mixes clock units (ms, s, m, h, d) and working units "
		           "(wm, wh, wd)",
		           s);
		return -1;
	case DUR_NO_CALENDAR:
		if (wd_ms < 0)
			ydoc_error(
			        y, n,
			        "duration \"%s\": working units (wm, wh, wd) are not allowed here",
			        s);
		else
			ydoc_error(y, n,
			           "duration \"%s\" is in working units, which need a calendar: "
			           "section",
			           s);
		return -1;
	case DUR_TOO_LONG:
		ydoc_error(y, n, "duration \"%s\" is longer than %d%s", s, DUR_MAX_DAYS,
		           strchr(s, 'w') != NULL ? "wd" : "d");
		return -1;
	default:
		if (s[0] == '-')
			ydoc_error(y, n, "duration \"%s\" must be greater than zero", s);
		else
			ydoc_error(y, n,
			           "invalid duration \"%s\": expected a number and a unit (ms, s, "
			           "m, h, d%s), e.g. 500ms, 90s or 1h30m",
			           s, wd_ms > 0 ? ", or working wm, wh, wd" : "");
		return -1;
	}
}

int ydoc_duration(struct ydoc *y, const struct ynode *n, int64_t *out)
{
	struct wdur d;

	if (ydoc_wdur(y, n, -1, &d) < 0)
		return -1;
	*out = d.ms;
	return 0;
}

int ydoc_expect_map(struct ydoc *y, const struct ynode *n)
{
	if (n->type == YNODE_MAP)
		return 0;
	ydoc_error(y, n, "expected a mapping, got %s", kind_name(y, n));
	return -1;
}

int ydoc_expect_seq(struct ydoc *y, const struct ynode *n)
{
	if (n->type == YNODE_SEQ)
		return 0;
	ydoc_error(y, n, "expected a list, got %s", kind_name(y, n));
	return -1;
}

int ydoc_fields(struct ydoc *y, const struct ynode *n, const char *const *keys, size_t nkeys,
                const char *const *required, const struct ynode **vals)
{
	for (size_t i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (ydoc_expect_map(y, n) < 0)
		return -1;
	for (size_t p = 0; p < n->len; p++) {
		const struct ynode *k = ydoc_key(y, n, p), *v = ydoc_value(y, n, p);
		const char *ks = ydoc_text(y, k);
		size_t i;

		if (ks == NULL) {
			ydoc_error(y, k, "expected a key, got %s", kind_name(y, k));
			continue;
		}
		if (!whole(y, k)) {
			ydoc_error(y, k, "a key must not contain NUL characters");
			continue;
		}
		for (i = 0; i < nkeys; i++) {
			if (ks[0] == keys[i][0] && strcmp(ks, keys[i]) == 0)
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

/* A key ydoc_each_pair hands on: a scalar, not null, without NUL. */
static bool pair_key_ok(const struct ydoc *y, const struct ynode *k)
{
	return k->type == YNODE_SCALAR && !ydoc_is_null(y, k) && whole(y, k);
}

/* Does an earlier usable key of the small mapping n equal key p? */
static bool seen_before(const struct ydoc *y, const struct ynode *n, size_t p)
{
	const struct ynode *k = ydoc_key(y, n, p);

	for (size_t q = 0; q < p; q++) {
		const struct ynode *kq = ydoc_key(y, n, q);
		if (kq->type == YNODE_SCALAR && kq->len == k->len &&
		    memcmp(ydoc_text(y, kq), ydoc_text(y, k), k->len) == 0 && pair_key_ok(y, kq))
			return true;
	}
	return false;
}

/* seen: the caller's table, or NULL for one of its own (none for a small mapping). */
static int each_pair(struct ydoc *y, const struct ynode *n, struct htab *seen, ydoc_pair_fn fn,
                     void *arg)
{
	struct htab own;
	bool small;

	if (ydoc_expect_map(y, n) < 0)
		return -1;
	small = seen == NULL && n->len <= SMALL_MAP;
	if (!small && seen == NULL) {
		htab_init(&own, n->len);
		seen = &own;
	}
	for (size_t p = 0; p < n->len; p++) {
		const struct ynode *k = ydoc_key(y, n, p), *v = ydoc_value(y, n, p);
		const char *ks = ydoc_text(y, k);
		bool dup;

		if (ks == NULL || ydoc_is_null(y, k)) {
			ydoc_error(y, k, "expected a key, got %s", kind_name(y, k));
			continue;
		}
		if (!whole(y, k)) {
			ydoc_error(y, k, "a key must not contain NUL characters");
			continue;
		}
		size_t old = ydoc_push_key(y, ks);
		dup = small ? seen_before(y, n, p) : htab_put(seen, ks, k->len, -1) < 0;
		if (dup)
			ydoc_error(y, k, "duplicate key \"%s\"", ks);
		else
			fn(y, ks, k, v, arg);
		ydoc_pop(y, old);
	}
	if (seen == &own)
		htab_free(&own);
	return 0;
}

int ydoc_each_pair(struct ydoc *y, const struct ynode *n, ydoc_pair_fn fn, void *arg)
{
	return each_pair(y, n, NULL, fn, arg);
}

int ydoc_each_pair_keyed(struct ydoc *y, const struct ynode *n, struct htab *keys, ydoc_pair_fn fn,
                         void *arg)
{
	return each_pair(y, n, keys, fn, arg);
}

int ydoc_one_or_more(struct ydoc *y, const struct ynode *n, ydoc_item_fn fn, void *arg)
{
	if (n->type == YNODE_SCALAR) {
		fn(y, n, arg);
		return 0;
	}
	if (n->type != YNODE_SEQ) {
		ydoc_error(y, n, "expected a value or a list of values, got %s", kind_name(y, n));
		return -1;
	}
	if (n->len == 0) {
		ydoc_error(y, n, "an empty list matches nothing: leave the key out to match any");
		return -1;
	}
	for (size_t i = 0; i < n->len; i++) {
		size_t old = ydoc_push_index(y, i);
		fn(y, ydoc_item(y, n, i), arg);
		ydoc_pop(y, old);
	}
	return 0;
}
