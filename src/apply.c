/*
 * apply.c: the Lua script (src/apply.lua, built in) and the encoding of
 * steps into one EVALSHA in the Redis protocol (see apply.h). The
 * encoding writes straight into two buffers, the keys and the arguments:
 * no argument vector, no copy per argument.
 */
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
#define SHARED_KEYS 6
/* The shared ARGV: group, maxlen, channel, expire, the number of steps. */
#define SHARED_ARGS 5

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

/* Its count, then the items of l. */
static size_t text_list(struct buf *b, const struct lc_list *l)
{
	bulk_int(b, (int64_t)l->n);
	for (size_t i = 0; i < l->n; i++)
		bulk(b, lc_item(l, i), l->len[i]);
	return 1 + l->n;
}

void apply_batch_init(struct apply_batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->keys);
	buf_init(&b->args);
}

void apply_batch_free(struct apply_batch *b)
{
	buf_free(&b->keys);
	buf_free(&b->args);
	memset(b, 0, sizeof(*b));
}

void apply_batch_reset(struct apply_batch *b)
{
	buf_reset(&b->keys);
	buf_reset(&b->args);
	b->nkeys = b->nargs = b->nsteps = 0;
}

size_t apply_batch_bytes(const struct apply_batch *b)
{
	return b->keys.len + b->args.len;
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

static void add_incident_step(struct apply_batch *b, const struct apply_ctx *c,
                              const struct apply_step *st)
{
	const struct effects *e = st->e;
	const char *id = st->id;
	bool create = st->mode == AM_CREATE, src = has_source(st->src);
	struct buf *k = &b->keys, *a = &b->args;
	size_t nf =
	        e->fields.n / 2 + (create ? 0 : 1); /* and the version (a creation's: CREATED) */

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

	bulks(a, create ? "c" : "u");
	bulks(a, id);
	if (src) {
		bulks(a, st->src->entry);
		bulk_cat(a, st->src->stream, "/", st->src->entry, NULL);
	} else {
		bulk(a, "", 0);
		bulk(a, "", 0);
	}
	if (create)
		bulks(a, st->expect_holder != NULL ? st->expect_holder : "-");
	else
		bulk_int(a, st->expect_version);
	bulks(a, create && st->report_sha1 != NULL ? st->report_sha1 : "");
	bulks(a, op_code(e->due));
	bulk_int(a, e->due_score);
	bulks(a, op_code(e->open));
	bulk_int(a, e->open_score);
	bulks(a, op_code(e->deadlines));
	bulk_int(a, e->deadlines_score);
	bulks(a, e->dedup_key != NULL ? op_code(e->dedup) : "k");
	bulks(a, expire_code(e->expire));
	bulk(a, e->doc != NULL ? e->doc : "", e->doc != NULL ? e->doc_len : 0);
	bulk_int(a, (int64_t)e->xkeys.n);
	b->nargs += 16;
	for (size_t i = 0; i < e->xkeys.n; i++)
		bulk_cat(k, c->prefix, lc_item(&e->xkeys, i), NULL, NULL);
	b->nkeys += e->xkeys.n;

	bulk_int(a, (int64_t)nf);
	for (size_t i = 0; i + 1 < e->fields.n; i += 2) {
		bulk(a, lc_item(&e->fields, i), e->fields.len[i]);
		bulk(a, lc_item(&e->fields, i + 1), e->fields.len[i + 1]);
	}
	if (!create) {
		bulks(a, "version");
		bulk_int(a, st->expect_version + 1);
	}
	b->nargs += 1 + 2 * nf;
	b->nargs += text_list(a, &e->events);
	b->nargs += text_list(a, &e->assignments);
	b->nargs += text_list(a, &e->notifications);
	bulk_int(a, (int64_t)(e->xops.n / 4)); /* four items an op */
	for (size_t i = 0; i < e->xops.n; i++)
		bulk(a, lc_item(&e->xops, i), e->xops.len[i]);
	b->nargs += 1 + e->xops.n;
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
	buf_reserve(out, apply_batch_bytes(b) + 512);
	length_line(out, '*', 3 + SHARED_KEYS + b->nkeys + SHARED_ARGS + b->nargs);
	bulks(out, "EVALSHA");
	bulk(out, c->sha[AS_APPLY], 40);
	bulk_int(out, (int64_t)(SHARED_KEYS + b->nkeys));
	bulk_cat(out, c->prefix, "due", NULL, NULL);
	bulk_cat(out, c->prefix, "open", NULL, NULL);
	bulk_cat(out, c->prefix, "out:assignments", NULL, NULL);
	bulk_cat(out, c->prefix, "out:notifications", NULL, NULL);
	bulk_cat(out, c->prefix, "deadletter", NULL, NULL);
	bulk_cat(out, c->prefix, "deadlines", NULL, NULL);
	buf_append(out, b->keys.data, b->keys.len);
	bulks(out, c->group);
	bulk_int(out, c->out_maxlen);
	bulk_cat(out, c->prefix, "events", NULL, NULL);
	bulk_int(out, c->expire_s);
	bulk_int(out, (int64_t)b->nsteps);
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
