/*
 * yamlfast.c: the fast path of ydoc_load, a recursive-descent reader for
 * the subset of YAML our rules and config files are written in. libyaml
 * spends most of a big reload in its reader and scanner (a character at
 * a time, through a decoding buffer, with a token queue); the files we
 * write are far simpler than what it must handle.
 *
 * The subset: block mappings and sequences by indentation (spaces only),
 * "- " items holding a compact mapping or sequence, flow sequences and
 * mappings of scalars and flow collections (which may span lines), plain
 * scalars on one line, single- and double-quoted scalars on one line with
 * their escapes, comments, blank lines and one leading "---". The tree
 * must come out exactly as the libyaml composer in yamldoc.c builds it:
 * nodes in event order, kids written as each collection closes, marks at
 * the tokens libyaml would put them at. So the rule here is to decline
 * (return 1) at the first thing that is not plainly in the subset: a tab,
 * a CR, a control character, a BOM, a character outside the Basic
 * Multilingual Plane, an anchor, a tag, a block scalar, a complex key, a
 * scalar over several lines, odd indentation, an empty flow entry, a
 * second document. ydoc_load then starts over with libyaml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "yamlfast.h"

/* libyaml drops a simple key longer than 1024 characters: stay well short. */
#define KEY_MAX 1000

enum style { PLAIN, SINGLE, DOUBLE };

/* One scalar in the source: quotes included, trailing spaces of a plain one not. */
struct span {
	const char *start, *end;
	enum style style;
};

struct fast {
	const char *p, *end;
	const char *lstart; /* the start of p's line */
	uint32_t line;      /* p's line, 1-based */
	const char *cpos;   /* a point on the current line whose column is ccol */
	uint32_t ccol;
	int bind;  /* the indent of the innermost block collection, -1 at the root */
	int depth; /* collections open */
	struct ydoc *y;
	size_t capnodes, capkids, captext;
	uint32_t *pending; /* children of the open collections, innermost last */
	size_t npending, cappending;
};

#define GROW YDOC_GROW

/*
 * Bytes libyaml reads as they are, with no line break but '\n': printable
 * ASCII and the BMP from U+00A0, less the surrogates, U+FEFF (a BOM),
 * U+FFFE, U+FFFF and the breaks U+2028 and U+2029. Returns false for the
 * rest, which the fast path leaves to libyaml: its checks and messages.
 */
static bool plain_text(const unsigned char *s, size_t len)
{
	const unsigned char *end = s + len;

	while (s < end) {
		unsigned char c = *s;
		if (c >= 0x20 && c <= 0x7e) {
			s++;
			continue;
		}
		if (c == '\n') {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (end - s < 2 || (s[1] & 0xc0) != 0x80 || (c == 0xc2 && s[1] < 0xa0))
				return false;
			s += 2;
			continue;
		}
		if (c < 0xe0 || c > 0xef || end - s < 3 || (s[1] & 0xc0) != 0x80 ||
		    (s[2] & 0xc0) != 0x80)
			return false;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
		    (c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) ||
		    (c == 0xef && s[1] == 0xbb && s[2] == 0xbf) ||
		    (c == 0xef && s[1] == 0xbf && s[2] >= 0xbe))
			return false;
		s += 3;
	}
	return true;
}

/* The column of q on the current line, 1-based, in characters. */
static uint32_t col_of(struct fast *f, const char *q)
{
	if (f->cpos < f->lstart || f->cpos > q) {
		f->cpos = f->lstart;
		f->ccol = 1;
	}
	for (const char *c = f->cpos; c < q; c++)
		f->ccol += ((unsigned char)*c & 0xc0) != 0x80;
	f->cpos = q;
	return f->ccol;
}

/* p's column, 0-based: the indent of its line when it is the first character. */
static int indent(struct fast *f)
{
	return (int)col_of(f, f->p) - 1;
}

static bool blankz(const struct fast *f, const char *q)
{
	return q == f->end || *q == ' ' || *q == '\n';
}

static bool seq_entry(const struct fast *f, const char *q)
{
	return q < f->end && *q == '-' && blankz(f, q + 1);
}

static void skip_spaces(struct fast *f)
{
	while (f->p < f->end && *f->p == ' ')
		f->p++;
}

/* A comment starts at a line's start or after a space; libyaml also takes "x"#c. */
static int skip_comment(struct fast *f)
{
	if (f->p == f->end || *f->p != '#')
		return 0;
	if (f->p != f->lstart && f->p[-1] != ' ')
		return -1;
	const char *nl = memchr(f->p, '\n', (size_t)(f->end - f->p));
	f->p = nl != NULL ? nl : f->end;
	return 0;
}

/* Nothing but spaces and a comment up to the end of the line. */
static int line_end(struct fast *f)
{
	skip_spaces(f);
	if (skip_comment(f) < 0)
		return -1;
	return f->p == f->end || *f->p == '\n' ? 0 : -1;
}

/* Past spaces, comments and line breaks, to the next token or the end. */
static int skip_blank(struct fast *f)
{
	for (;;) {
		skip_spaces(f);
		if (skip_comment(f) < 0)
			return -1;
		if (f->p == f->end || *f->p != '\n')
			return 0;
		f->p++;
		f->line++;
		f->lstart = f->p;
	}
}

/* skip_blank, declining at "---" or "..." in column 1: another document. */
static int next_content(struct fast *f)
{
	if (skip_blank(f) < 0)
		return -1;
	if (f->p == f->lstart && f->end - f->p >= 3 &&
	    (memcmp(f->p, "---", 3) == 0 || memcmp(f->p, "...", 3) == 0) && blankz(f, f->p + 3))
		return -1;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The escape after a backslash at q: its code point in *cp and its length
 * after the backslash, or -1 for one libyaml rejects or versions disagree
 * on ("\/", "\'").
 */
static int escape(const char *q, const char *end, uint32_t *cp)
{
	static const char simple[] = "0abtnvfre \"\\N_LP";
	static const uint32_t value[] = {0,  7,   8,   9,    10,   11,   12,     13,
	                                 27, ' ', '"', '\\', 0x85, 0xa0, 0x2028, 0x2029};
	const char *s;
	int n;

	if (q == end || *q == '\0')
		return -1;
	s = strchr(simple, *q);
	if (s != NULL) {
		*cp = value[s - simple];
		return 1;
	}
	n = *q == 'x' ? 2 : *q == 'u' ? 4 : *q == 'U' ? 8 : 0;
	if (n == 0 || end - q <= n)
		return -1;
	*cp = 0;
	for (int i = 1; i <= n; i++) {
		int d = hex_digit(q[i]);
		if (d < 0)
			return -1;
		*cp = *cp << 4 | (uint32_t)d;
	}
	if ((*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return -1;
	return n + 1;
}

/* Character classes for the scalar scanners, by table: they run on every byte. */
enum {
	C_FLOW = 1,    /* ends a plain scalar in a flow */
	C_STOP = 2,    /* may end a plain scalar anywhere: looked at closely */
	C_NOSTART = 4, /* an indicator: cannot start a plain scalar */
};

static const uint8_t cclass[256] = {
        ['\n'] = C_STOP,
        [' '] = C_STOP,
        [':'] = C_STOP | C_NOSTART,
        ['#'] = C_STOP | C_NOSTART,
        [','] = C_FLOW | C_NOSTART,
        ['['] = C_FLOW | C_NOSTART,
        [']'] = C_FLOW | C_NOSTART,
        ['{'] = C_FLOW | C_NOSTART,
        ['}'] = C_FLOW | C_NOSTART,
        ['?'] = C_NOSTART,
        ['&'] = C_NOSTART,
        ['*'] = C_NOSTART,
        ['!'] = C_NOSTART,
        ['|'] = C_NOSTART,
        ['>'] = C_NOSTART,
        ['\''] = C_NOSTART,
        ['"'] = C_NOSTART,
        ['%'] = C_NOSTART,
        ['@'] = C_NOSTART,
        ['`'] = C_NOSTART,
};

/* Can q start a plain scalar? Not an indicator, nor "-" unless a number or word follows. */
static bool plain_start(const struct fast *f, const char *q)
{
	if (q == f->end || *q == ' ' || *q == '\n' || cclass[(unsigned char)*q] & C_NOSTART)
		return false;
	if (*q == '-')
		return !blankz(f, q + 1) && !(cclass[(unsigned char)q[1]] & (C_FLOW | C_NOSTART));
	return true;
}

/* A plain scalar on one line: up to ": ", " #", the line's end or (in a flow) ",[]{}". */
static int scan_plain(const struct fast *f, const char *q, bool flow, struct span *s)
{
	const uint8_t stop = flow ? C_STOP | C_FLOW : C_STOP;
	const char *last = q;

	if (!plain_start(f, q))
		return -1;
	s->style = PLAIN;
	s->start = q;
	for (; q < f->end; q++) {
		char c = *q;
		if (!(cclass[(unsigned char)c] & stop)) {
			last = q + 1;
			continue;
		}
		if (c == '\n' || (c == '#' && q[-1] == ' ') || (cclass[(unsigned char)c] & C_FLOW))
			break;
		if (c == ':') {
			if (blankz(f, q + 1))
				break;
			if (flow) /* libyaml versions differ on "a:b" in a flow */
				return -1;
		}
		if (c != ' ')
			last = q + 1;
	}
	s->end = last;
	return 0;
}

/* A quoted scalar that ends on its line, with escapes libyaml takes. */
static int scan_quoted(const struct fast *f, const char *q, struct span *s)
{
	char quote = *q;
	uint32_t cp;

	s->style = quote == '\'' ? SINGLE : DOUBLE;
	s->start = q++;
	for (;;) {
		if (q == f->end || *q == '\n')
			return -1;
		if (*q == quote) {
			if (quote == '\'' && q + 1 < f->end && q[1] == '\'') {
				q += 2;
				continue;
			}
			s->end = q + 1;
			return 0;
		}
		if (quote == '"' && *q == '\\') {
			int n = escape(q + 1, f->end, &cp);
			if (n < 0)
				return -1;
			q += 1 + n;
			continue;
		}
		q++;
	}
}

static int scan_scalar(const struct fast *f, const char *q, bool flow, struct span *s)
{
	if (q < f->end && (*q == '\'' || *q == '"'))
		return scan_quoted(f, q, s);
	return scan_plain(f, q, flow, s);
}

static uint32_t add_node(struct fast *f, enum ynode_type type, const char *at)
{
	return ydoc_add_node(f->y, &f->capnodes, type, f->line, col_of(f, at));
}

/* The root (node 0) has no parent to list it. */
static void add_child(struct fast *f, uint32_t node)
{
	if (f->depth == 0)
		return;
	f->pending = GROW(f->pending, f->cappending, f->npending + 1);
	f->pending[f->npending++] = node;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The scalar's text into out (room for its source length): returns its length. */
static size_t unquote(const struct span *s, char *out)
{
	const char *q = s->start + 1, *end = s->end - 1;
	size_t n = 0;
	uint32_t cp;

	while (q < end) {
		if (s->style == SINGLE && *q == '\'') {
			out[n++] = '\'';
			q += 2;
		} else if (s->style == DOUBLE && *q == '\\') {
			int len = escape(q + 1, end, &cp);
			n += put_utf8(out + n, cp);
			q += 1 + len;
		} else {
			out[n++] = *q++;
		}
	}
	return n;
}

/* The node for a scanned scalar; p moves past it. */
static uint32_t add_scalar(struct fast *f, const struct span *s)
{
	struct ydoc *y = f->y;
	size_t room = (size_t)(s->end - s->start), len;
	uint32_t id = add_node(f, YNODE_SCALAR, s->start);

	if (y->ntext + room + 1 >= UINT32_MAX)
		fatalx("YAML document: too much text");
	y->text = GROW(y->text, f->captext, y->ntext + room + 1);
	if (s->style == PLAIN) {
		len = room;
		memcpy(y->text + y->ntext, s->start, len);
	} else {
		len = unquote(s, y->text + y->ntext);
	}
	y->text[y->ntext + len] = '\0';
	y->nodes[id].plain = s->style == PLAIN;
	y->nodes[id].len = (uint32_t)len;
	y->nodes[id].off = (uint32_t)y->ntext;
	y->ntext += len + 1;
	f->p = s->end;
	add_child(f, id);
	return id;
}

/* libyaml's empty scalar for a missing value, at the given line and column. */
static void add_empty(struct fast *f, uint32_t line, uint32_t col)
{
	struct ydoc *y = f->y;
	uint32_t id = ydoc_add_node(y, &f->capnodes, YNODE_SCALAR, line, col);

	y->nodes[id].plain = 1;
	y->text = GROW(y->text, f->captext, y->ntext + 1);
	y->text[y->ntext] = '\0';
	y->nodes[id].off = (uint32_t)y->ntext++;
	add_child(f, id);
}

/* An open collection: its node, and where its children start in pending. */
struct open {
	uint32_t node;
	size_t first;
};

static int open_collection(struct fast *f, enum ynode_type type, struct open *o)
{
	if (f->depth >= YDOC_DEPTH_MAX) /* libyaml's reading says so, at the line and column */
		return -1;
	o->node = add_node(f, type, f->p);
	add_child(f, o->node);
	o->first = f->npending;
	f->depth++;
	return 0;
}

/* Its children move from pending to kids, as in the composer's close_collection. */
static void close_collection(struct fast *f, const struct open *o)
{
	struct ydoc *y = f->y;
	struct ynode *n = &y->nodes[o->node];
	size_t k = f->npending - o->first;

	if (y->nkids + k >= UINT32_MAX)
		fatalx("YAML document: too many nodes");
	y->kids = GROW(y->kids, f->capkids, y->nkids + k);
	if (k > 0)
		memcpy(y->kids + y->nkids, f->pending + o->first, k * sizeof(*y->kids));
	n->off = (uint32_t)y->nkids;
	n->len = (uint32_t)(n->type == YNODE_MAP ? k / 2 : k);
	y->nkids += k;
	f->npending = o->first;
	f->depth--;
}

static int flow_node(struct fast *f);

/*
 * Inside a flow: whitespace, comments and line breaks, but not the end.
 * libyaml does not look at the indent of a flow's continuation lines; we
 * take only those deeper than the block collection around the flow.
 */
static int flow_blank(struct fast *f)
{
	uint32_t line = f->line;

	if (next_content(f) < 0 || f->p == f->end)
		return -1;
	return f->line == line || indent(f) > f->bind ? 0 : -1;
}

/* After an entry: "," and the next entry, or the closing bracket. */
static int flow_next(struct fast *f, char close, bool *more)
{
	if (flow_blank(f) < 0)
		return -1;
	if (*f->p == close) {
		f->p++;
		*more = false;
		return 0;
	}
	if (*f->p != ',')
		return -1;
	f->p++;
	if (flow_blank(f) < 0 || *f->p == close || *f->p == ',')
		return -1; /* a trailing comma or an empty entry */
	*more = true;
	return 0;
}

static int flow_seq(struct fast *f)
{
	struct open o;
	bool more = true;

	if (open_collection(f, YNODE_SEQ, &o) < 0)
		return -1;
	f->p++;
	if (flow_blank(f) < 0)
		return -1;
	if (*f->p == ']') {
		f->p++;
		more = false;
	}
	while (more) {
		if (flow_node(f) < 0 || flow_next(f, ']', &more) < 0)
			return -1;
	}
	close_collection(f, &o);
	return 0;
}

/* A flow mapping's key: a scalar with its ':' on the same line. */
static int flow_key(struct fast *f)
{
	struct span s;

	if (scan_scalar(f, f->p, true, &s) < 0)
		return -1;
	add_scalar(f, &s);
	skip_spaces(f);
	if (f->p == f->end || *f->p != ':' || !blankz(f, f->p + 1) || f->p - s.start >= KEY_MAX)
		return -1;
	f->p++;
	if (flow_blank(f) < 0 || *f->p == ',' || *f->p == '}')
		return -1; /* an empty value */
	return 0;
}

static int flow_map(struct fast *f)
{
	struct open o;
	bool more = true;

	if (open_collection(f, YNODE_MAP, &o) < 0)
		return -1;
	f->p++;
	if (flow_blank(f) < 0)
		return -1;
	if (*f->p == '}') {
		f->p++;
		more = false;
	}
	while (more) {
		if (flow_key(f) < 0 || flow_node(f) < 0 || flow_next(f, '}', &more) < 0)
			return -1;
	}
	close_collection(f, &o);
	return 0;
}

static int flow_node(struct fast *f)
{
	struct span s;

	if (*f->p == '[')
		return flow_seq(f);
	if (*f->p == '{')
		return flow_map(f);
	if (scan_scalar(f, f->p, true, &s) < 0)
		return -1;
	add_scalar(f, &s);
	return 0;
}

/* Is p at "key:" followed by a blank, the key a scalar of libyaml's simple-key size? */
static bool at_key(const struct fast *f)
{
	struct span s;
	const char *q;

	if (scan_scalar(f, f->p, false, &s) < 0)
		return false;
	for (q = s.end; q < f->end && *q == ' '; q++)
		;
	return q < f->end && *q == ':' && blankz(f, q + 1) && q - s.start < KEY_MAX;
}

static int block_node(struct fast *f, int ind);
static int block_seq(struct fast *f, int ind, bool indentless);

/* A scalar or a flow collection that ends its line; p moves to the next content. */
static int inline_node(struct fast *f, int ind)
{
	struct span s;
	int outer = f->bind;

	if (*f->p == '[' || *f->p == '{') {
		f->bind = ind;
		if (flow_node(f) < 0)
			return -1;
		f->bind = outer;
	} else {
		if (scan_scalar(f, f->p, false, &s) < 0)
			return -1;
		add_scalar(f, &s);
	}
	if (line_end(f) < 0)
		return -1;
	return next_content(f);
}

/*
 * The value after "key:" in a block mapping at indent ind: on the same
 * line, below it (deeper, or a "- " list at the key's own indent), or
 * none, which libyaml makes an empty plain scalar right after the ':'.
 */
static int block_value(struct fast *f, int ind)
{
	uint32_t line = f->line, col = col_of(f, f->p);

	skip_spaces(f);
	if (f->p < f->end && *f->p != '\n' && *f->p != '#') {
		if (seq_entry(f, f->p))
			return -1;
		return inline_node(f, ind);
	}
	if (line_end(f) < 0 || next_content(f) < 0)
		return -1;
	if (f->p < f->end) {
		int c = indent(f);
		if (c > ind)
			return block_node(f, c);
		if (c == ind && seq_entry(f, f->p))
			return block_seq(f, ind, true);
	}
	add_empty(f, line, col);
	return 0;
}

/* Where a block collection at indent ind goes on: 1 for another entry, 0 for its end. */
static int block_more(struct fast *f, int ind)
{
	if (f->p == f->end)
		return 0;
	int c = indent(f);
	if (c < ind)
		return 0;
	return c == ind ? 1 : -1;
}

static int block_map(struct fast *f, int ind)
{
	struct open o;
	struct span s;
	int more = 1;

	if (open_collection(f, YNODE_MAP, &o) < 0)
		return -1;
	while (more > 0) {
		if (!at_key(f))
			return -1;
		scan_scalar(f, f->p, false, &s);
		add_scalar(f, &s);
		skip_spaces(f);
		f->p++; /* the ':' at_key saw */
		if (block_value(f, ind) < 0)
			return -1;
		more = block_more(f, ind);
		if (more < 0)
			return -1;
	}
	close_collection(f, &o);
	return 0;
}

/* One "- " item of a block sequence at indent ind; p is past the '-'. */
static int block_item(struct fast *f, int ind)
{
	uint32_t line = f->line, col = col_of(f, f->p);

	skip_spaces(f);
	if (f->p < f->end && *f->p != '\n' && *f->p != '#') {
		int c = indent(f);
		if (seq_entry(f, f->p))
			return block_seq(f, c, false);
		if (at_key(f))
			return block_map(f, c);
		return inline_node(f, ind);
	}
	if (line_end(f) < 0 || next_content(f) < 0)
		return -1;
	if (f->p < f->end && indent(f) > ind)
		return block_node(f, indent(f));
	add_empty(f, line, col); /* libyaml puts it right after the '-' */
	return 0;
}

/*
 * A block sequence whose '-' are at indent ind. An indentless one is the
 * value of a mapping key at the same indent: a key line ends it.
 */
static int block_seq(struct fast *f, int ind, bool indentless)
{
	struct open o;
	int more = 1;

	if (open_collection(f, YNODE_SEQ, &o) < 0)
		return -1;
	while (more > 0) {
		f->p++;
		if (block_item(f, ind) < 0)
			return -1;
		more = block_more(f, ind);
		if (more < 0)
			return -1;
		if (more > 0 && !seq_entry(f, f->p)) {
			if (!indentless)
				return -1;
			more = 0;
		}
	}
	close_collection(f, &o);
	return 0;
}

/* A block collection starting at p, the first thing on its line or after "- ". */
static int block_node(struct fast *f, int ind)
{
	if (seq_entry(f, f->p))
		return block_seq(f, ind, false);
	if (at_key(f))
		return block_map(f, ind);
	return -1;
}

/* The document: comments, an optional "---", one collection, comments. */
static int document(struct fast *f)
{
	if (skip_blank(f) < 0)
		return -1;
	if (f->end - f->p >= 3 && memcmp(f->p, "---", 3) == 0 && blankz(f, f->p + 3)) {
		f->p += 3;
		if (line_end(f) < 0)
			return -1;
	}
	if (next_content(f) < 0 || f->p == f->end)
		return -1;
	if (*f->p == '[' || *f->p == '{') {
		if (inline_node(f, -1) < 0)
			return -1;
	} else if (block_node(f, indent(f)) < 0) {
		return -1;
	}
	return f->p == f->end ? 0 : -1;
}

static void tree_reset(struct ydoc *y)
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

int ydoc_load_fast(struct ydoc *y, const char *buf, size_t len)
{
	struct fast f;
	int rc;

	if (!plain_text((const unsigned char *)buf, len))
		return 1;
	memset(&f, 0, sizeof(f));
	f.p = f.lstart = f.cpos = buf;
	f.end = buf + len;
	f.line = 1;
	f.ccol = 1;
	f.bind = -1;
	f.y = y;
	/* as composer_init: about 9 bytes of YAML per node in a rules file */
	f.capnodes = len / 8 + 16;
	f.capkids = f.capnodes;
	f.captext = len + 16;
	y->nodes = htab_big_alloc(f.capnodes, sizeof(*y->nodes));
	y->kids = htab_big_alloc(f.capkids, sizeof(*y->kids));
	y->text = htab_big_alloc(f.captext, 1);
	y->nnodes = y->nkids = y->ntext = 0;
	rc = document(&f);
	free(f.pending);
	if (rc < 0) {
		tree_reset(y);
		return 1;
	}
	y->root = &y->nodes[0];
	return 0;
}

bool ydoc_tree_same(const struct ydoc *a, const struct ydoc *b, char *why, size_t size)
{
	if (a->nnodes != b->nnodes || a->nkids != b->nkids || a->ntext != b->ntext) {
		snprintf(why, size, "sizes: %zu/%zu nodes, %zu/%zu kids, %zu/%zu text bytes",
		         a->nnodes, b->nnodes, a->nkids, b->nkids, a->ntext, b->ntext);
		return false;
	}
	if ((a->root == NULL) != (b->root == NULL) ||
	    (a->root != NULL && a->root - a->nodes != b->root - b->nodes)) {
		snprintf(why, size, "roots differ");
		return false;
	}
	for (size_t i = 0; i < a->nnodes; i++) {
		const struct ynode *m = &a->nodes[i], *n = &b->nodes[i];
		if (m->type != n->type || m->plain != n->plain || m->line != n->line ||
		    m->col != n->col || m->len != n->len || m->off != n->off) {
			snprintf(why, size,
			         "node %zu: type %u/%u plain %u/%u at %u:%u/%u:%u len %u/%u off "
			         "%u/%u",
			         i, m->type, n->type, m->plain, n->plain, m->line, m->col, n->line,
			         n->col, m->len, n->len, m->off, n->off);
			return false;
		}
	}
	if (a->nkids > 0 && memcmp(a->kids, b->kids, a->nkids * sizeof(*a->kids)) != 0) {
		snprintf(why, size, "kids differ");
		return false;
	}
	if (a->ntext > 0 && memcmp(a->text, b->text, a->ntext) != 0) {
		snprintf(why, size, "text differs");
		return false;
	}
	return true;
}
