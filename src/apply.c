/*
 * apply.c: the Lua scripts, and each step's effects encoded as one
 * EVALSHA in the Redis protocol (see apply.h). The encoding writes
 * straight into one buffer: no argument vector, no copy per argument.
 */
#include <string.h>

#include "apply.h"
#include "incident.h"
#include "log.h"
#include "route.h"
#include "timeutil.h"

/*
 * apply: KEYS 1 inc, 2 timeline, 3 seen, 4 due, 5 open, 6 dedup, 7 source
 * stream, 8 out:assignments, 9 out:notifications.
 * ARGV 1 mode (create|update), 2 id, 3 group, 4 entry id or "", 5 seen
 * member or "", 6 expected version (update) or dedup holder (create; an
 * incident that exists already has its seen set); the fields carry the
 * new version (1 on creation, the expected one plus 1 on an update),
 * 7 due op, 8 due score, 9 open op, 10 open score, 11 dedup op, 12 expire
 * seconds ("0": none), 13 out maxlen, 14 events channel, 15 nfields, then
 * the field/value pairs, the events, the assignments and the
 * notifications, each list preceded by its length.
 */
static const char apply_lua[] =
        "local function ack()\n"
        "  if ARGV[4] ~= '' then redis.call('XACK', KEYS[7], ARGV[3], ARGV[4]) end\n"
        "end\n"
        "local create = ARGV[1] == 'create'\n"
        "if create then\n"
        "  if redis.call('EXISTS', KEYS[1]) == 1 then ack() return 'exists' end\n"
        "  if ARGV[11] == 'set' and (redis.call('GET', KEYS[6]) or '') ~= ARGV[6] then\n"
        "    return 'retry'\n"
        "  end\n"
        "else\n"
        "  if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 1 then\n"
        "    ack() return 'seen'\n"
        "  end\n"
        "  local v = redis.call('HGET', KEYS[1], 'version')\n"
        "  if not v then return 'gone' end\n"
        "  if v ~= ARGV[6] then return 'retry' end\n"
        "end\n"
        "local i = 15\n"
        "local n = tonumber(ARGV[i])\n"
        "if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i + 1, i + 2 * n)) end\n"

        "i = i + 2 * n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[2], '*', 'event', ARGV[i + k])\n"
        "  redis.call('PUBLISH', ARGV[14], ARGV[i + k])\n"
        "end\n"
        "i = i + n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[13], '*', 'assignment', ARGV[i + k])\n"
        "end\n"
        "i = i + n + 1\n"
        "n = tonumber(ARGV[i])\n"
        "for k = 1, n do\n"
        "  redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[13], '*', 'notification', ARGV[i + k])\n"
        "end\n"
        "if ARGV[7] == 'set' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[2])\n"
        "elseif ARGV[7] == 'rem' then redis.call('ZREM', KEYS[4], ARGV[2]) end\n"
        "if ARGV[9] == 'set' then redis.call('ZADD', KEYS[5], ARGV[10], ARGV[2])\n"
        "elseif ARGV[9] == 'rem' then redis.call('ZREM', KEYS[5], ARGV[2]) end\n"
        "if ARGV[11] == 'set' then redis.call('SET', KEYS[6], ARGV[2])\n"
        "elseif ARGV[11] == 'rem' and redis.call('GET', KEYS[6]) == ARGV[2] then\n"
        "  redis.call('DEL', KEYS[6])\n"
        "end\n"
        "if ARGV[5] ~= '' then redis.call('SADD', KEYS[3], ARGV[5]) end\n"
        "if ARGV[12] ~= '0' then\n"
        "  for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[12]) end\n"
        "end\n"
        "ack()\n"
        "return 'ok'\n";

/*
 * deadletter: KEYS 1 source stream, 2 deadletter stream. ARGV 1 group,
 * 2 entry, 3 source, 4 reason, 5 error, 6 payload. The XACK comes first:
 * an entry some other consumer already finished is not dead-lettered twice.
 */
static const char deadletter_lua[] =
        "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'seen' end\n"
        "redis.call('XADD', KEYS[2], '*', 'source', ARGV[3], 'entry', ARGV[2],\n"
        "  'reason', ARGV[4], 'error', ARGV[5], 'payload', ARGV[6])\n"
        "return 'ok'\n";

/*
 * dedup: KEYS 1 the dedup key. ARGV 1 the incident key prefix. Reads the
 * holder's hash too, which is not in KEYS: with a hash-tagged prefix it is
 * in the same slot. Read-only.
 */
static const char dedup_lua[] = "local id = redis.call('GET', KEYS[1])\n"
                                "if not id then return false end\n"
                                "return {id, redis.call('HGETALL', ARGV[1] .. id)}\n";

/*
 * read: KEYS 1 inc, 2 seen. ARGV 1 the seen member ("" for none).
 * [fields and values, 1 if the entry was applied already].
 */
static const char read_lua[] = "return {redis.call('HGETALL', KEYS[1]),\n"
                               "        redis.call('SISMEMBER', KEYS[2], ARGV[1])}\n";

static const char *const scripts[AS__COUNT] = {apply_lua, deadletter_lua, dedup_lua, read_lua};

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

static void bulk_head(struct buf *b, size_t len)
{
	length_line(b, '$', len);
}

/* One bulk string: $len CRLF bytes CRLF. */
static void bulk(struct buf *b, const char *p, size_t len)
{
	buf_reserve(b, len + 24);
	bulk_head(b, len);
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

/* a, b, c and d (NULL for none) as one bulk string: a key name. */
static void bulk_cat(struct buf *b, const char *a, const char *c1, const char *c2, const char *c3)
{
	size_t la = strlen(a), l1 = strlen(c1), l2 = strlen(c2), l3 = c3 != NULL ? strlen(c3) : 0;

	buf_reserve(b, la + l1 + l2 + l3 + 24);
	bulk_head(b, la + l1 + l2 + l3);
	buf_append(b, a, la);
	buf_append(b, c1, l1);
	buf_append(b, c2, l2);
	if (c3 != NULL)
		buf_append(b, c3, l3);
	buf_append(b, "\r\n", 2);
}

static void header(struct buf *b, size_t argc)
{
	length_line(b, '*', argc);
}

static const char *op_name(enum lc_op op)
{
	return op == LC_SET ? "set" : op == LC_REM ? "rem" : "keep";
}

static void text_list(struct buf *b, const struct lc_list *l)
{
	bulk_int(b, (int64_t)l->n);
	for (size_t i = 0; i < l->n; i++)
		bulk(b, lc_item(l, i), l->len[i]);
}

void apply_encode(struct buf *out, const struct apply_ctx *c, const char *id,
                  const struct effects *e, bool create, int64_t expect_version,
                  const char *expect_holder, const struct lc_source *src)
{
	bool has_src = src != NULL && src->stream != NULL;
	size_t nf = e->fields.n / 2 + 1; /* and the version */

	buf_reserve(out, 1024 + strlen(id) * 4 + e->fields.text.len + e->events.text.len +
	                         e->assignments.text.len + e->notifications.text.len +
	                         16 * (e->fields.n + e->events.n + e->assignments.n +
	                               e->notifications.n));
	header(out, 3 + 9 + 15 + 2 * nf + 3 + e->events.n + e->assignments.n + e->notifications.n);
	bulks(out, "EVALSHA");
	bulk(out, c->sha[AS_APPLY], 40);
	bulks(out, "9");
	bulk_cat(out, c->prefix, "inc:", id, NULL);
	bulk_cat(out, c->prefix, "inc:", id, ":timeline");
	bulk_cat(out, c->prefix, "inc:", id, ":seen");
	bulk_cat(out, c->prefix, "due", "", NULL);
	bulk_cat(out, c->prefix, "open", "", NULL);
	bulk_cat(out, c->prefix, "dedup:", e->dedup_key != NULL ? e->dedup_key : "", NULL);
	if (has_src)
		bulks(out, src->stream);
	else
		bulk_cat(out, c->prefix, "in:none", "", NULL);
	bulk_cat(out, c->prefix, "out:assignments", "", NULL);
	bulk_cat(out, c->prefix, "out:notifications", "", NULL);

	bulks(out, create ? "create" : "update");
	bulks(out, id);
	bulks(out, c->group);
	if (has_src) {
		bulks(out, src->entry);
		bulk_cat(out, src->stream, "/", src->entry, NULL);
	} else {
		bulk(out, "", 0);
		bulk(out, "", 0);
	}
	if (create)
		bulks(out, expect_holder != NULL ? expect_holder : "");
	else
		bulk_int(out, expect_version);
	bulks(out, op_name(e->due));
	bulk_int(out, e->due_score);
	bulks(out, op_name(e->open));
	bulk_int(out, e->open_score);
	bulks(out, e->dedup_key != NULL ? op_name(e->dedup) : "keep");
	bulk_int(out, e->expire ? c->expire_s : 0);
	bulk_int(out, c->out_maxlen);
	bulk_cat(out, c->prefix, "events", "", NULL);
	bulk_int(out, (int64_t)nf);
	for (size_t i = 0; i + 1 < e->fields.n; i += 2) {
		bulk(out, lc_item(&e->fields, i), e->fields.len[i]);
		bulk(out, lc_item(&e->fields, i + 1), e->fields.len[i + 1]);
	}
	bulks(out, "version");
	bulk_int(out, create ? 1 : expect_version + 1);
	text_list(out, &e->events);
	text_list(out, &e->assignments);
	text_list(out, &e->notifications);
}

void apply_encode_argv(struct buf *out, int argc, const char *const *argv, const size_t *lens)
{
	header(out, (size_t)argc);
	for (int i = 0; i < argc; i++)
		bulk(out, argv[i], lens != NULL ? lens[i] : strlen(argv[i]));
}

void apply_evalsha_to_eval(struct buf *cmd, enum apply_script s)
{
	/* "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" then the rest, kept */
	const char *eol = memchr(cmd->data, '\n', cmd->len);
	size_t head = (size_t)(eol - cmd->data) + 1;
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

void apply_encode_dedup(struct buf *out, const struct apply_ctx *c, const char *dedup_key)
{
	header(out, 5);
	bulks(out, "EVALSHA");
	bulk(out, c->sha[AS_DEDUP], 40);
	bulks(out, "1");
	bulk_cat(out, c->prefix, "dedup:", dedup_key, NULL);
	bulk_cat(out, c->prefix, "inc:", "", NULL);
}

int apply_plan_report(struct buf *out, const struct apply_ctx *c, const struct rules *r,
                      const char *stream, const char *entry, const char *payload, size_t plen,
                      int64_t now)
{
	struct incident_ctx ctx = {.entry_id = entry};
	struct incident inc;
	struct route_result rt;
	struct rejection rj;
	struct effects e;
	const char *name = strrchr(stream, ':');

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
	effects_init(&e);
	lifecycle_create(r, &inc, &rt, now, &src, &e);
	apply_encode(out, c, inc.id, &e, true, 0, inc.dedup_key != NULL ? "" : NULL, &src);
	effects_free(&e);
	incident_free(&inc);
	return 1;
}
