/*
 * ctl_deadletter.c: `gridctl deadletter`. A replay writes the payload to
 * its source stream as a new entry (which the daemon routes like any
 * other), prints the new id, and only then deletes the dead letter: if
 * gridctl dies between the two, the report exists twice — once routed,
 * once dead — but never zero times.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_deadletter.h"
#include "ctl_redis.h"
#include "incident.h"

#define DL_PAGE 500

static const char *const dl_fields[] = {"source", "entry", "reason", "error", "payload"};

static json_t *dl_json(const char *id, const redisReply *fields)
{
	json_t *o = json_object();
	char t[TIME_BUFSZ];
	int64_t ms;

	json_object_set_new(o, "id", json_string(id));
	if (stream_id_ms(id, &ms) == 0) {
		time_format(ms, t);
		json_object_set_new(o, "at", json_string(t));
	}
	for (size_t i = 0; i < GR_NELEM(dl_fields); i++) {
		const redisReply *v = ctl_reply_field(fields, dl_fields[i]);
		json_object_set_new(o, dl_fields[i],
		                    ctl_reply_string(v) ? json_stringn(v->str, v->len)
		                                        : json_null());
	}
	return o;
}

static void put_field(struct buf *b, const redisReply *fields, const char *name)
{
	const redisReply *v = ctl_reply_field(fields, name);

	if (ctl_reply_string(v) && v->len > 0)
		ctl_put_clean(b, v->str, v->len);
	else
		buf_putc(b, '-');
}

static void dl_line(struct buf *b, const char *id, const redisReply *fields)
{
	buf_printf(b, "%-20s ", id);
	size_t at = b->len;
	put_field(b, fields, "reason");
	for (size_t n = b->len - at; n < 18; n++)
		buf_putc(b, ' ');
	buf_putc(b, ' ');
	put_field(b, fields, "source");
	buf_putc(b, ' ');
	put_field(b, fields, "entry");
	buf_puts(b, "  ");
	put_field(b, fields, "error");
	buf_putc(b, '\n');
}

static int dl_ls(struct ctl *c, const char *key, bool json, int64_t limit)
{
	char start[48] = "-", count[24];
	int64_t shown = 0;
	struct buf b;
	int rc = 0;

	buf_init(&b);
	if (json)
		buf_putc(&b, '[');
	for (;;) {
		int64_t want = DL_PAGE;
		if (limit > 0 && limit - shown < want)
			want = limit - shown;
		snprintf(count, sizeof(count), "%lld", (long long)want);
		redisReply *r = ctl_redis(c, "XRANGE", key, start, "+", "COUNT", count, NULL);
		if (r == NULL) {
			rc = CTL_EXIT_FAIL;
			break;
		}
		size_t n = ctl_reply_array(r) ? r->elements : 0;
		for (size_t i = 0; i < n; i++) {
			const redisReply *e = r->element[i];
			if (!ctl_reply_array(e) || e->elements != 2 ||
			    !ctl_reply_string(e->element[0]))
				continue;
			const char *id = e->element[0]->str;
			if (json) {
				json_t *o = dl_json(id, e->element[1]);
				char *s = json_dumps(o, JSON_COMPACT);
				buf_puts(&b, shown > 0 ? ",\n" : "\n");
				buf_puts(&b, s);
				free(s);
				json_decref(o);
			} else {
				dl_line(&b, id, e->element[1]);
			}
			shown++;
		}
		bool more = (int64_t)n == want && ctl_reply_next_page(r, start, sizeof(start));
		freeReplyObject(r);
		ctl_write(&b);
		buf_reset(&b);
		if (!more || (limit > 0 && shown >= limit))
			break;
	}
	if (json && rc == 0)
		fputs(shown > 0 ? "\n]\n" : "]\n", stdout);
	buf_free(&b);
	return rc;
}

/* The dead letter's fields (caller frees the reply), or NULL after reporting. */
static redisReply *dl_get(struct ctl *c, const char *key, const char *id, const redisReply **fields)
{
	redisReply *r = ctl_redis(c, "XRANGE", key, id, id, NULL);

	if (r == NULL)
		return NULL;
	if (!ctl_reply_array(r) || r->elements != 1 || !ctl_reply_array(r->element[0]) ||
	    r->element[0]->elements != 2) {
		ctl_fail(c, "no dead letter %s", id);
		freeReplyObject(r);
		return NULL;
	}
	*fields = r->element[0]->element[1];
	return r;
}

static int dl_show(struct ctl *c, const char *key, const char *id, bool json)
{
	const redisReply *fields;
	redisReply *r = dl_get(c, key, id, &fields);
	struct buf b;

	if (r == NULL)
		return CTL_EXIT_FAIL;
	buf_init(&b);
	if (json) {
		json_t *o = dl_json(id, fields);
		char *s = json_dumps(o, JSON_INDENT(2));
		buf_puts(&b, s);
		buf_putc(&b, '\n');
		free(s);
		json_decref(o);
	} else {
		char t[TIME_BUFSZ];
		int64_t ms;
		buf_printf(&b, "%-8s %s\n", "id", id);
		if (stream_id_ms(id, &ms) == 0) {
			time_format(ms, t);
			buf_printf(&b, "%-8s %s\n", "at", t);
		}
		for (size_t i = 0; i < GR_NELEM(dl_fields); i++) {
			buf_printf(&b, "%-8s ", dl_fields[i]);
			put_field(&b, fields, dl_fields[i]);
			buf_putc(&b, '\n');
		}
	}
	ctl_write(&b);
	buf_free(&b);
	freeReplyObject(r);
	return 0;
}

/* The payload field of source: "command" or "incident"; NULL if source is no input stream. */
static const char *input_field(const struct ctl *c, const char *source)
{
	size_t plen = strlen(c->prefix);
	enum channel ch;

	if (strncmp(source, c->prefix, plen) != 0 || strncmp(source + plen, "in:", 3) != 0)
		return NULL;
	source += plen + 3;
	if (strcmp(source, "commands") == 0)
		return "command";
	return channel_parse(source, &ch) == 0 ? "incident" : NULL;
}

static void push(const char **argv, size_t *lens, int *n, const char *s, size_t len)
{
	argv[*n] = s;
	lens[*n] = len;
	(*n)++;
}

/*
 * The XADD that replays a dead letter: the payload under the stream's
 * field, or, for missing_payload, the entry's own fields as recorded.
 * Returns the argument count, 0 after reporting; argv points into payload.
 */
static int replay_args(struct ctl *c, const char *id, const char *source, const char *field,
                       const char *reason, const redisReply *payload, json_t **keep,
                       const char ***argvp, size_t **lensp)
{
	const char **argv;
	size_t *lens;
	int n = 0;

	if (strcmp(reason, "missing_payload") != 0) {
		argv = xcalloc(5, sizeof(*argv));
		lens = xcalloc(5, sizeof(*lens));
		push(argv, lens, &n, "XADD", 4);
		push(argv, lens, &n, source, strlen(source));
		push(argv, lens, &n, "*", 1);
		push(argv, lens, &n, field, strlen(field));
		push(argv, lens, &n, payload->str, payload->len);
		*argvp = argv;
		*lensp = lens;
		return n;
	}
	json_t *obj = json_loadb(payload->str, payload->len, 0, NULL);
	if (!json_is_object(obj) || json_object_size(obj) == 0) {
		json_decref(obj);
		ctl_fail(c, "dead letter %s: the recorded fields are not a JSON object of strings",
		         id);
		return 0;
	}
	size_t max = 3 + 2 * json_object_size(obj);
	argv = xcalloc(max, sizeof(*argv));
	lens = xcalloc(max, sizeof(*lens));
	push(argv, lens, &n, "XADD", 4);
	push(argv, lens, &n, source, strlen(source));
	push(argv, lens, &n, "*", 1);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		if (!json_is_string(v)) {
			free(argv);
			free(lens);
			json_decref(obj);
			ctl_fail(c,
			         "dead letter %s: field \"%s\" of the recorded entry is not a "
			         "string",
			         id, k);
			return 0;
		}
		push(argv, lens, &n, k, strlen(k));
		push(argv, lens, &n, json_string_value(v), json_string_length(v));
	}
	*keep = obj;
	*argvp = argv;
	*lensp = lens;
	return n;
}

static int dl_replay(struct ctl *c, const char *key, const char *id)
{
	const redisReply *fields;
	redisReply *r = dl_get(c, key, id, &fields), *x = NULL;
	const char **argv = NULL;
	size_t *lens = NULL;
	json_t *keep = NULL;
	int rc = CTL_EXIT_FAIL;

	if (r == NULL)
		return rc;
	const char *source = ctl_reply_str(fields, "source");
	const char *reason = ctl_reply_str(fields, "reason");
	const redisReply *payload = ctl_reply_field(fields, "payload");
	const char *field = source != NULL ? input_field(c, source) : NULL;
	if (field == NULL) {
		ctl_fail(c,
		         "dead letter %s: source \"%s\" is not an input stream under prefix \"%s\"",
		         id, source != NULL ? source : "", c->prefix);
		goto out;
	}
	if (!ctl_reply_string(payload)) {
		ctl_fail(c, "dead letter %s has no payload", id);
		goto out;
	}
	int n = replay_args(c, id, source, field, reason != NULL ? reason : "", payload, &keep,
	                    &argv, &lens);
	if (n == 0)
		goto out;
	x = ctl_redis_argv(c, n, argv, lens);
	if (x == NULL)
		goto out;
	if (!ctl_reply_string(x) || x->type == REDIS_REPLY_ERROR) {
		ctl_fail(c, "Redis: %s (XADD %s)", ctl_reply_error(x) ? x->str : "unexpected reply",
		         source);
		goto out;
	}
	printf("%s\n", x->str);
	fflush(stdout);
	freeReplyObject(x);
	x = ctl_redis(c, "XDEL", key, id, NULL);
	if (x == NULL)
		goto out;
	rc = 0;
out:
	if (x != NULL)
		freeReplyObject(x);
	free(argv);
	free(lens);
	json_decref(keep);
	freeReplyObject(r);
	return rc;
}

static int dl_drop(struct ctl *c, const char *key, const char *id)
{
	redisReply *r = ctl_redis(c, "XDEL", key, id, NULL);
	int rc = CTL_EXIT_FAIL;

	if (r == NULL)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		rc = 0;
	else
		ctl_fail(c, "no dead letter %s", id);
	freeReplyObject(r);
	return rc;
}

int ctl_cmd_deadletter(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"limit", required_argument, NULL, 'n'},
	        {NULL, 0, NULL, 0},
	};
	bool json = false;
	int64_t limit = 0;
	int ch, rc;

	while ((ch = ctl_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'n':
			if (ctl_parse_limit(optarg, &limit) < 0)
				return ctl_usage(c,
				                 "--limit: expected a positive number, got \"%s\"",
				                 optarg);
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage(c, "expected ls, show, replay or drop");
	const char *sub = argv[optind];
	int npos = argc - optind - 1;
	const char *id = npos == 1 ? argv[optind + 1] : NULL;
	bool is_ls = strcmp(sub, "ls") == 0;
	bool is_show = strcmp(sub, "show") == 0;

	if (!is_ls && !is_show && strcmp(sub, "replay") != 0 && strcmp(sub, "drop") != 0)
		return ctl_usage(c, "unknown subcommand \"%s\": expected ls, show, replay or drop",
		                 sub);
	if (is_ls && npos != 0)
		return ctl_usage(c, "ls takes no argument");
	if (!is_ls && npos != 1)
		return ctl_usage(c, "%s needs one dead-letter id (ENTRY)", sub);
	if (id != NULL && !ctl_stream_id_valid(id))
		return ctl_usage(c,
		                 "bad dead-letter id \"%s\": expected a stream id such as "
		                 "1732593600000-0",
		                 id);
	if (limit > 0 && !is_ls)
		return ctl_usage(c, "--limit is for deadletter ls only");
	if (json && !is_ls && !is_show)
		return ctl_usage(c, "--json is for deadletter ls and show only");
	if ((rc = ctl_redis_connect(c)) != 0)
		return rc;

	char *key = ctl_key(c, "deadletter");
	if (is_ls)
		rc = dl_ls(c, key, json, limit);
	else if (is_show)
		rc = dl_show(c, key, id, json);
	else if (strcmp(sub, "replay") == 0)
		rc = dl_replay(c, key, id);
	else
		rc = dl_drop(c, key, id);
	free(key);
	return rc;
}
