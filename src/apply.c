/*
 * apply.c: the Lua script (src/apply.lua, built in) and the encoding of
 * steps into one EVALSHA in the Redis protocol (see apply.h). The
 * encoding writes straight into two buffers, the keys and the arguments:
 * no argument vector, no copy per argument.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "incident.h"
#include "log.h"
#include "route.h"
#include "sha1.h"
#include "timeutil.h"

static const char apply_lua[] =
#include "apply_lua.h"
        ;

static const char *const scripts[AS__COUNT] = {apply_lua};

/* The shared KEYS every call starts with. */
#define SHARED_KEYS 7
/* The shared ARGV: group, maxlen, channel, expire, the number of steps and of counters. */
#define SHARED_ARGS 6

const char *apply_script_text(enum apply_script s)
{
	return scripts[s];
}

/* A protocol length line: '*' and the argument count, or '$' and a bulk string's length. */
static void length_line(struct buf *b, char kind, size_t n)
{
	char line[32];
	size_t len = fmt_int64(line + 1, (int64_t)n) + 1;

	line[0] = kind;
	line[len++] = '\r';
	line[len++] = '\n';
	buf_append(b, line, len);
}

/* One bulk string: $len CRLF bytes CRLF. */
static void bulk(struct buf *b, const char *p, size_t len)
{
	buf_reserve(b, len + 24);
	length_line(b, '$', len);
	buf_append(b, p, len);
	buf_append(b, "\r\n", 2);
}

static void bulks(struct buf *b, const char *s)
{
	bulk(b, s, strlen(s));
}

static void bulk_int(struct buf *b, int64_t v)
{
	char tmp[24];
	size_t n = fmt_int64(tmp, v);

	bulk(b, tmp, n);
}

/* a, c1, c2 and c3 (NULL for none) as one bulk string: a key name. */
static void bulk_cat(struct buf *b, const char *a, const char *c1, const char *c2, const char *c3)
{
	size_t la = strlen(a), l1 = strlen(c1), l2 = c2 != NULL ? strlen(c2) : 0,
	       l3 = c3 != NULL ? strlen(c3) : 0;

	buf_reserve(b, la + l1 + l2 + l3 + 24);
	length_line(b, '$', la + l1 + l2 + l3);
	buf_append(b, a, la);
	buf_append(b, c1, l1);
	if (c2 != NULL)
		buf_append(b, c2, l2);
	if (c3 != NULL)
		buf_append(b, c3, l3);
	buf_append(b, "\r\n", 2);
}

static const char *op_code(enum lc_op op)
{
	return op == LC_SET ? "s" : op == LC_REM ? "r" : "k";
}

static const char *expire_code(enum lc_expire x)
{
	return x == LC_EXPIRE_SET ? "e" : x == LC_EXPIRE_PERSIST ? "p" : "k";
}

void apply_batch_init(struct apply_batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->keys);
	buf_init(&b->args);
	buf_init(&b->ctext);
	buf_init(&b->counts);
}

void apply_batch_free(struct apply_batch *b)
{
	buf_free(&b->keys);
	buf_free(&b->args);
	buf_free(&b->ctext);
	buf_free(&b->counts);
	free(b->cnt);
	free(b->items);
	memset(b, 0, sizeof(*b));
}

void apply_batch_reset(struct apply_batch *b)
{
	buf_reset(&b->keys);
	buf_reset(&b->args);
	buf_reset(&b->ctext);
	b->nkeys = b->nargs = b->nsteps = 0;
	b->ncnt = b->nitems = 0;
}

size_t apply_batch_bytes(const struct apply_batch *b)
{
	return b->keys.len + b->args.len + b->ctext.len;
}

static bool same_text(const struct apply_batch *b, size_t off, size_t len, const char *s,
                      size_t slen)
{
	return len == slen && memcmp(b->ctext.data + off, s, len) == 0;
}

/* The counter key (after the prefix) of the batch, added when new; its index. */
static size_t counter_of(struct apply_batch *b, const char *key, char kind)
{
	size_t len = strlen(key);
	uint64_t h = hash_bytes(key, len);

	for (size_t i = 0; i < b->ncnt; i++) {
		const struct apply_counter *c = &b->cnt[i];
		if (c->hash == h && same_text(b, c->name, c->nlen, key, len))
			return i;
	}
	if (b->ncnt == b->capcnt) {
		b->capcnt = b->capcnt ? 2 * b->capcnt : 64;
		b->cnt = xreallocarray(b->cnt, b->capcnt, sizeof(*b->cnt));
	}
	struct apply_counter *c = &b->cnt[b->ncnt];
	*c = (struct apply_counter){.hash = h,
	                            .name = b->ctext.len,
	                            .nlen = len,
	                            .kind = kind,
	                            .first = SIZE_MAX,
	                            .last = SIZE_MAX};
	buf_append(&b->ctext, key, len + 1); /* with its NUL, for bulk_cat */
	return b->ncnt++;
}

/* Adds n to item (a field or a member) of counter ci; the item's number in it, from 1. */
static size_t counter_add(struct apply_batch *b, size_t ci, const char *item, size_t len, int64_t n)
{
	struct apply_counter *c = &b->cnt[ci];
	uint64_t h = hash_bytes(item, len);
	size_t num = 1;

	for (size_t i = c->first; i != SIZE_MAX; i = b->items[i].next, num++) {
		struct apply_item *it = &b->items[i];
		if (it->hash == h && same_text(b, it->text, it->len, item, len)) {
			it->n += n;
			return num;
		}
	}
	if (b->nitems == b->capitems) {
		b->capitems = b->capitems ? 2 * b->capitems : 256;
		b->items = xreallocarray(b->items, b->capitems, sizeof(*b->items));
	}
	b->items[b->nitems] = (struct apply_item){
	        .hash = h, .text = b->ctext.len, .len = len, .n = n, .next = SIZE_MAX};
	buf_append(&b->ctext, item, len);
	if (c->last == SIZE_MAX)
		c->first = b->nitems;
	else
		b->items[c->last].next = b->nitems;
	c->last = b->nitems++;
	c->nitems++;
	return c->nitems;
}

/*
 * Folds a step's extra ops (lifecycle.h: code, key, two arguments) into
 * the batch's counters, and writes its share, "<counter> <item> <n> ...",
 * into b->counts.
 */
static void add_counts(struct apply_batch *b, const struct effects *e)
{
	buf_reset(&b->counts);
	for (size_t o = 0; o + 3 < e->xops.n; o += 4) {
		const char *code = lc_item(&e->xops, o);
		size_t key = (size_t)strtoul(lc_item(&e->xops, o + 1), NULL, 10);
		const char *a1 = lc_item(&e->xops, o + 2), *a2 = lc_item(&e->xops, o + 3);
		int64_t n = 1;

		if (key < 1 || key > e->xkeys.n)
			continue;
		size_t ci = counter_of(b, lc_item(&e->xkeys, key - 1), code[0] == 'S' ? 's' : 'h');
		if (code[0] == 'h')
			(void)parse_int64(a2, INT64_MIN, INT64_MAX, &n);
		else if (b->cnt[ci].expire[0] == '\0' && strlen(a2) < sizeof(b->cnt[ci].expire))
			strcpy(b->cnt[ci].expire, a2);
		size_t item = counter_add(b, ci, a1, e->xops.len[o + 2], n);
		char num[24];
		buf_printf(&b->counts, "%s%zu %zu ", b->counts.len ? " " : "", ci + 1, item);
		buf_append(&b->counts, num, fmt_int64(num, n));
	}
}

static bool has_source(const struct lc_source *src)
{
	return src != NULL && src->stream != NULL;
}

/* A dead letter or an acknowledgement: the source stream, the entry and what is said. */
static void add_entry_step(struct apply_batch *b, const struct apply_step *st)
{
	struct buf *a = &b->args;

	bulks(&b->keys, st->src->stream);
	b->nkeys++;
	bulks(a, st->mode == AM_ACK ? "a" : "d");
	bulks(a, st->src->entry);
	b->nargs += 2;
	if (st->mode == AM_DEADLETTER) {
		bulks(a, st->reason);
		bulks(a, st->error);
		bulk(a, st->payload, st->plen);
		b->nargs += 3;
	}
}

/*
 * The fields a creation writes by position (apply.lua's 'c' step), in the
 * order of gr:defaults (lc_create_written); the report's SHA-1 comes from
 * its own argument.
 */
static const char *const create_pos[] = {
        "channel",          "created_at",   "level_key", "assignees", "policy",    "ack_deadline",
        "resolve_deadline", "last_seen_at", "unit",      "category",  "updated_at"};
#define NPOS GR_NELEM(create_pos)

static bool in_defaults(const char *const *l, const char *f, size_t flen, const char *v,
                        size_t vlen)
{
	for (size_t i = 0; l[i] != NULL; i += 2) {
		if (strlen(l[i]) == flen && memcmp(l[i], f, flen) == 0)
			return strlen(l[i + 1]) == vlen && memcmp(l[i + 1], v, vlen) == 0;
	}
	return false;
}

/* What a creation's field i goes as: FIELD_POS + k (positional k), FIELD_PAIR or FIELD_SKIP. */
enum { FIELD_SKIP = -2, FIELD_PAIR = -1, FIELD_POS = 0 };

static int field_class(const struct apply_step *st, size_t i)
{
	const struct lc_list *f = &st->e->fields;
	const char *name = lc_item(f, i), *val = lc_item(f, i + 1);
	size_t nl = f->len[i], vl = f->len[i + 1];

	for (size_t k = 0; k < NPOS; k++) {
		if (strlen(create_pos[k]) == nl && memcmp(create_pos[k], name, nl) == 0)
			return FIELD_POS + (int)k;
	}
	if (nl == 11 && memcmp(name, "report_sha1", 11) == 0)
		return FIELD_SKIP; /* the sha argument: create_fields checked they agree */
	if (in_defaults(lc_create_written, name, nl, val, vl) ||
	    in_defaults(lc_create_defaults, name, nl, val, vl))
		return FIELD_SKIP; /* gr:defaults has it */
	return FIELD_PAIR;
}

/*
 * A creation's positional fields into pos[] (indexes of their values in
 * e->fields) and the number of its other pairs; false when a positional
 * one is missing or the SHA-1 field is not the step's: then every field
 * goes as a pair ('C').
 */
static bool create_fields(const struct apply_step *st, size_t pos[NPOS], size_t *npairs)
{
	const struct lc_list *f = &st->e->fields;
	size_t have = 0;

	*npairs = 0;
	for (size_t k = 0; k < NPOS; k++)
		pos[k] = SIZE_MAX;
	if (st->report_sha1 == NULL)
		return false;
	for (size_t i = 0; i + 1 < f->n; i += 2) {
		size_t nl = f->len[i], vl = f->len[i + 1];
		if (nl == 11 && memcmp(lc_item(f, i), "report_sha1", 11) == 0 &&
		    (vl != strlen(st->report_sha1) ||
		     memcmp(lc_item(f, i + 1), st->report_sha1, vl) != 0))
			return false;
		int cl = field_class(st, i);
		if (cl >= FIELD_POS) {
			if (pos[cl] == SIZE_MAX)
				have++;
			pos[cl] = i + 1;
		} else if (cl == FIELD_PAIR) {
			(*npairs)++;
		}
	}
	return have == NPOS;
}

/*
 * The step's head: mode, the five ops, then four counts of two bytes each
 * (fields and lists are far below 65,536: a step has at most
 * LC_MAX_EVENTS events and the fields of §7).
 */
static void head(struct buf *a, char mode, const struct effects *e, size_t nf)
{
	const size_t n[4] = {nf, e->events.n, e->assignments.n, e->notifications.n};
	char h[14];

	h[0] = mode;
	h[1] = op_code(e->due)[0];
	h[2] = op_code(e->open)[0];
	h[3] = op_code(e->deadlines)[0];
	h[4] = e->dedup_key != NULL ? op_code(e->dedup)[0] : 'k';
	h[5] = expire_code(e->expire)[0];
	for (size_t i = 0; i < 4; i++) {
		h[6 + 2 * i] = (char)(unsigned char)(n[i] >> 8);
		h[7 + 2 * i] = (char)(unsigned char)(n[i] & 0xff);
	}
	bulk(a, h, sizeof(h));
}

static void add_incident_step(struct apply_batch *b, const struct apply_ctx *c,
                              const struct apply_step *st)
{
	const struct effects *e = st->e;
	const char *id = st->id;
	bool create = st->mode == AM_CREATE, src = has_source(st->src);
	struct buf *k = &b->keys, *a = &b->args;
	size_t pos[NPOS], npairs = 0;
	bool positional = create && create_fields(st, pos, &npairs);
	/* the pairs: a positional creation's others; else all, and an update's version */
	size_t nf = positional ? npairs : e->fields.n / 2 + (create ? 0 : 1);

	buf_reserve(a, 512 + e->fields.text.len + e->events.text.len + e->assignments.text.len +
	                       e->notifications.text.len + e->doc_len +
	                       16 * (e->fields.n + e->events.n + e->assignments.n +
	                             e->notifications.n));
	bulk_cat(k, c->prefix, "inc:", id, NULL);
	bulk_cat(k, c->prefix, "doc:", id, NULL);
	bulk_cat(k, c->prefix, "timeline:", id, NULL);
	bulk_cat(k, c->prefix, "seen:", id, NULL);
	bulk_cat(k, c->prefix, "dedup:", e->dedup_key, NULL);
	if (src)
		bulks(k, st->src->stream);
	else
		bulk_cat(k, c->prefix, "in:none", NULL, NULL);
	b->nkeys += 6;

	head(a, create ? (positional ? 'c' : 'C') : 'u', e, nf);
	bulks(a, id);
	bulks(a, src ? st->src->entry : "");
	if (create)
		bulks(a, st->expect_holder != NULL ? st->expect_holder : "-");
	else
		bulk_int(a, st->expect_version);
	bulks(a, create && st->report_sha1 != NULL ? st->report_sha1 : "");
	bulk_int(a, e->due_score);
	bulk_int(a, e->open_score);
	if (e->deadlines_score == LC_DEADLINE_NONE)
		bulks(a, "+inf");
	else
		bulk_int(a, e->deadlines_score);
	bulk(a, e->doc != NULL ? e->doc : "", e->doc != NULL ? e->doc_len : 0);
	add_counts(b, e);
	bulk(a, b->counts.data, b->counts.len);
	b->nargs += 10;

	if (positional) {
		for (size_t i = 0; i < NPOS; i++)
			bulk(a, lc_item(&e->fields, pos[i]), e->fields.len[pos[i]]);
		b->nargs += NPOS;
		for (size_t i = 0; i + 1 < e->fields.n; i += 2) {
			if (field_class(st, i) != FIELD_PAIR)
				continue;
			bulk(a, lc_item(&e->fields, i), e->fields.len[i]);
			bulk(a, lc_item(&e->fields, i + 1), e->fields.len[i + 1]);
		}
	} else {
		for (size_t i = 0; i + 1 < e->fields.n; i += 2) {
			bulk(a, lc_item(&e->fields, i), e->fields.len[i]);
			bulk(a, lc_item(&e->fields, i + 1), e->fields.len[i + 1]);
		}
		if (!create) {
			bulks(a, "version");
			bulk_int(a, st->expect_version + 1);
		}
	}
	b->nargs += 2 * nf;
	for (size_t i = 0; i < e->events.n; i++)
		bulk(a, lc_item(&e->events, i), e->events.len[i]);
	for (size_t i = 0; i < e->assignments.n; i++)
		bulk(a, lc_item(&e->assignments, i), e->assignments.len[i]);
	for (size_t i = 0; i < e->notifications.n; i++)
		bulk(a, lc_item(&e->notifications, i), e->notifications.len[i]);
	b->nargs += e->events.n + e->assignments.n + e->notifications.n;
}

void apply_batch_add(struct apply_batch *b, const struct apply_ctx *c, const struct apply_step *st)
{
	if (st->mode == AM_DEADLETTER || st->mode == AM_ACK)
		add_entry_step(b, st);
	else
		add_incident_step(b, c, st);
	b->nsteps++;
}

void apply_batch_encode(const struct apply_batch *b, const struct apply_ctx *c, struct buf *out)
{
	size_t ncargs = 0;

	for (size_t i = 0; i < b->ncnt; i++)
		ncargs += 3 + 2 * b->cnt[i].nitems;
	buf_reserve(out, apply_batch_bytes(b) + 512 + 48 * (b->ncnt + b->nitems));
	length_line(out, '*',
	            3 + SHARED_KEYS + b->ncnt + b->nkeys + SHARED_ARGS + ncargs + b->nargs);
	bulks(out, "EVALSHA");
	bulk(out, c->sha[AS_APPLY], 40);
	bulk_int(out, (int64_t)(SHARED_KEYS + b->ncnt + b->nkeys));
	bulk_cat(out, c->prefix, "due", NULL, NULL);
	bulk_cat(out, c->prefix, "open", NULL, NULL);
	bulk_cat(out, c->prefix, "out:assignments", NULL, NULL);
	bulk_cat(out, c->prefix, "out:notifications", NULL, NULL);
	bulk_cat(out, c->prefix, "deadletter", NULL, NULL);
	bulk_cat(out, c->prefix, "deadlines", NULL, NULL);
	bulk_cat(out, c->prefix, "defaults", NULL, NULL);
	for (size_t i = 0; i < b->ncnt; i++)
		bulk_cat(out, c->prefix, b->ctext.data + b->cnt[i].name, NULL, NULL);
	buf_append(out, b->keys.data, b->keys.len);
	bulks(out, c->group);
	bulk_int(out, c->out_maxlen);
	bulk_cat(out, c->prefix, "events", NULL, NULL);
	bulk_int(out, c->expire_s);
	bulk_int(out, (int64_t)b->nsteps);
	bulk_int(out, (int64_t)b->ncnt);
	for (size_t i = 0; i < b->ncnt; i++) {
		const struct apply_counter *cn = &b->cnt[i];
		bulk(out, &cn->kind, 1);
		bulks(out, cn->expire);
		bulk_int(out, (int64_t)cn->nitems);
		for (size_t it = cn->first; it != SIZE_MAX; it = b->items[it].next) {
			bulk(out, b->ctext.data + b->items[it].text, b->items[it].len);
			bulk_int(out, b->items[it].n);
		}
	}
	buf_append(out, b->args.data, b->args.len);
}

enum apply_result apply_result_parse(const char *s, size_t len, const char **detail,
                                     size_t *detail_len)
{
	static const struct {
		const char *word;
		enum apply_result res;
	} words[] = {{"ok", AR_OK},     {"seen", AR_SEEN},         {"exists", AR_EXISTS},
	             {"same", AR_SAME}, {"conflict", AR_CONFLICT}, {"retry", AR_RETRY},
	             {"gone", AR_GONE}, {"d:", AR_DEDUP},          {"wrongtype:", AR_WRONGTYPE}};

	*detail = NULL;
	*detail_len = 0;
	for (size_t i = 0; s != NULL && i < GR_NELEM(words); i++) {
		size_t wl = strlen(words[i].word);
		bool prefix = words[i].word[wl - 1] == ':';
		if (prefix ? len >= wl && memcmp(s, words[i].word, wl) == 0
		           : len == wl && memcmp(s, words[i].word, wl) == 0) {
			if (prefix) {
				*detail = s + wl;
				*detail_len = len - wl;
			}
			return words[i].res;
		}
	}
	return AR_INVALID;
}

void apply_encode_argv(struct buf *out, int argc, const char *const *argv, const size_t *lens)
{
	length_line(out, '*', (size_t)argc);
	for (int i = 0; i < argc; i++)
		bulk(out, argv[i], lens != NULL ? lens[i] : strlen(argv[i]));
}

void apply_evalsha_to_eval(struct buf *cmd, enum apply_script s)
{
	/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" then the rest, kept */
	const char *eol = memchr(cmd->data, '\n', cmd->len);
	size_t head = eol != NULL ? (size_t)(eol - cmd->data) + 1 : 0;
	size_t rest = head + 13 + 5 + 42;
	struct buf b;

	if (eol == NULL || cmd->len < rest ||
	    memcmp(cmd->data + head, "$7\r\nEVALSHA\r\n", 13) != 0)
		return;
	buf_init(&b);
	buf_append(&b, cmd->data, head);
	bulks(&b, "EVAL");
	bulks(&b, scripts[s]);
	buf_append(&b, cmd->data + rest, cmd->len - rest);
	buf_free(cmd);
	*cmd = b;
}

int apply_plan_report(struct apply_batch *b, const struct apply_ctx *c, const struct rules *r,
                      const char *stream, const char *entry, const char *payload, size_t plen,
                      int64_t now)
{
	struct incident_ctx ctx = {.entry_id = entry};
	struct incident inc;
	struct route_result rt;
	struct rejection rj;
	struct effects e;
	const char *name = strrchr(stream, ':');
	char sha[41];

	if (name == NULL || channel_parse(name + 1, &ctx.channel) < 0 ||
	    stream_id_ms(entry, &ctx.entry_ms) < 0)
		return -1;
	if (incident_parse(payload, plen, &ctx, &inc, &rj) < 0)
		return -1;
	if (route_incident(r, &inc, now, &rt, &rj) < 0) {
		incident_free(&inc);
		return -1;
	}
	struct lc_source src = {.stream = stream, .entry = entry};
	sha1_hex(payload, plen, sha);
	effects_init(&e);
	struct lc_env env = {r, now, 0, &src, NULL};
	lifecycle_create(&env, &inc, &rt, sha, &e);
	struct apply_step st = {
	        .mode = AM_CREATE,
	        .src = &src,
	        .id = inc.id,
	        .e = &e,
	        .expect_holder = inc.dedup_key != NULL ? "" : NULL,
	        .report_sha1 = sha,
	};
	apply_batch_add(b, c, &st);
	effects_free(&e);
	incident_free(&inc);
	return 1;
}
