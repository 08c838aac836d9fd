/*
 * ref_incident.h: the Jansson-based incident_parse and command_parse that
 * jscan replaced (incident.c before it), kept verbatim but renamed as the
 * reference for test_incident.c's differential test: the new parser must
 * accept the same inputs, refuse the rest with the same reason and the
 * same sentence, and store a document Jansson reads as equal to the old.
 */
#ifndef GR_REF_INCIDENT_H
#define GR_REF_INCIDENT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "incident.h"

struct ref_incident {
	json_t *doc; /* normalized document, owned; the fields below point into it */
	const char *id;
	const char *category;
	const char *unit;
	size_t unit_len;
	const char *title;
	const char *dedup_key; /* NULL if absent */
	enum channel channel;
	enum severity severity;
	int64_t reported_at; /* ms since epoch */
	int64_t due_at;      /* TIME_NONE if absent */
	json_t *attrs;       /* borrowed from doc; NULL if absent */
};

struct ref_command {
	json_t *doc; /* owned */
	enum cmd_op op;
	const char *incident;
	const char *by;
	const char *note;  /* NULL if absent */
	const char *level; /* NULL if absent */
	const char *unit, *category, *for_text;
	int64_t until;
	int passed;
};

/* Input bytes quoted in a message: at most this many, then "...". */
#define REF_QUOTE_MAX 64
/* Room for REF_QUOTE_MAX bytes escaped six-fold, the dots and the NUL. */
#define REF_QUOTE_BUFSZ (REF_QUOTE_MAX * 6 + 8)

/*
 * Copy s[0..len) into out as message text: printable ASCII and valid UTF-8
 * stay; quotes, backslashes, C0 and C1 controls, line separators and
 * invalid bytes are escaped, so a message is always one clean line.
 */
static void ref_escape_text(const char *s, size_t len, size_t max, char *out, size_t outsz)
{
	size_t o = 0, i = 0;

	for (; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t n = 0, seq = 1;

		if (c == '"' || c == '\\') {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", c);
		} else if (c < 0x20 || c == 0x7f) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		} else if (c < 0x80) {
			tmp[0] = (char)c;
			n = 1;
		} else {
			seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (i + seq > len || !utf8_valid(s + i, seq)) {
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
				seq = 1;
			} else {
				unsigned char c1 = (unsigned char)s[i + 1];
				bool c1ctl = c == 0xc2 && c1 < 0xa0;
				bool linesep = c == 0xe2 && c1 == 0x80 &&
				               ((unsigned char)s[i + 2] & 0xfe) == 0xa8;
				if (c1ctl) {
					n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c1);
				} else if (linesep) {
					n = (size_t)snprintf(
					        tmp, sizeof(tmp), "\\u%04x",
					        0x2028u + ((unsigned char)s[i + 2] - 0xa8));
				} else {
					memcpy(tmp, s + i, seq);
					n = seq;
				}
			}
		}
		if (o + n + 4 > outsz)
			break;
		memcpy(out + o, tmp, n);
		o += n;
		i += seq - 1;
	}
	if (i < len && o + 4 <= outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void ref_quote(const char *s, size_t len, char out[REF_QUOTE_BUFSZ])
{
	ref_escape_text(s, len, REF_QUOTE_MAX, out, REF_QUOTE_BUFSZ);
}

static const char *ref_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

/*
 * Size and syntax, the first two checks of SPEC §8 for both inputs.
 * Returns the object (caller owns it) or NULL with rj filled.
 */
static json_t *ref_load_object(const char *buf, size_t len, size_t max_bytes, const char *what,
                               struct rejection *rj)
{
	json_error_t err;
	json_t *doc;
	char text[400]; /* with the prefix, under REJECT_MSGSZ: no cut mid-character */

	if (max_bytes != 0 && len > max_bytes) {
		reject(rj, REASON_TOO_LARGE, "%s is %zu bytes, over the limit of %zu bytes", what,
		       len, max_bytes);
		return NULL;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (doc == NULL) {
		/* Jansson's text quotes the input near the error: escape it */
		ref_escape_text(err.text, strnlen(err.text, sizeof(err.text) - 1), sizeof(err.text),
		                text, sizeof(text));
		reject(rj, REASON_INVALID_JSON, "invalid JSON at line %d, column %d: %s", err.line,
		       err.column, text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		reject(rj, REASON_INVALID_JSON, "%s must be a JSON object, not %s", what,
		       ref_json_kind(doc));
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* The string value of an optional field: 0 (*s NULL when absent) or -1 and rj. */
static int ref_opt_string(json_t *doc, const char *field, const char **s, size_t *len,
                          struct rejection *rj)
{
	json_t *v = json_object_get(doc, field);

	*s = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return reject(rj, REASON_INVALID_FIELD, "field \"%s\" must be a string, not %s",
		              field, ref_json_kind(v));
	*s = json_string_value(v);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

static int ref_opt_time(json_t *doc, const char *field, int64_t *ms, struct rejection *rj)
{
	const char *s;
	size_t len;

	*ms = TIME_NONE;
	if (ref_opt_string(doc, field, &s, &len, rj) < 0)
		return -1;
	if (s != NULL && time_parse_rfc3339(s, len, ms) < 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"%s\" must be an RFC 3339 date-time from "
		              "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, such as "
		              "2026-11-26T12:00:00+08:00",
		              field);
	return 0;
}

static int ref_opt_object(json_t *doc, const char *field, json_t **obj, struct rejection *rj)
{
	json_t *v = json_object_get(doc, field);

	*obj = v;
	if (v != NULL && !json_is_object(v))
		return reject(rj, REASON_INVALID_FIELD, "field \"%s\" must be an object, not %s",
		              field, ref_json_kind(v));
	return 0;
}

static int ref_check_attrs(json_t *attrs, struct rejection *rj)
{
	const char *key;
	json_t *v;
	char q[REF_QUOTE_BUFSZ];

	json_object_foreach(attrs, key, v)
	{
		if (!json_is_string(v)) {
			ref_quote(key, strlen(key), q);
			return reject(rj, REASON_INVALID_FIELD,
			              "field \"attrs.%s\" must be a string, not %s", q,
			              ref_json_kind(v));
		}
	}
	return 0;
}

/* Presence of the required fields comes first: a missing one is the reason. */
static int ref_check_required(json_t *doc, const char *const *fields, size_t n,
                              struct rejection *rj)
{
	for (size_t i = 0; i < n; i++) {
		if (json_object_get(doc, fields[i]) == NULL)
			return reject(rj, REASON_MISSING_FIELD, "missing required field \"%s\"",
			              fields[i]);
	}
	return 0;
}

/* The fields of an incident as read, before normalization. */
struct ref_incident_in {
	const char *id, *category, *unit, *title, *detail, *severity, *dedup_key, *channel;
	size_t id_len, category_len, unit_len, title_len, dedup_len, channel_len;
	int64_t reported_at, due_at;
	json_t *reporter, *location, *attrs;
	enum severity sev;
};

static int ref_incident_check(json_t *doc, struct ref_incident_in *in, struct rejection *rj)
{
	static const char *const required[] = {"category", "unit", "title"};

	if (ref_check_required(doc, required, GR_NELEM(required), rj) < 0)
		return -1;

	if (ref_opt_string(doc, "id", &in->id, &in->id_len, rj) < 0)
		return -1;
	if (in->id != NULL && !incident_id_valid(in->id, in->id_len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"id\" must be 1 to %d characters of A-Z, a-z, 0-9, \".\", "
		              "\"_\", \":\" and \"-\"",
		              INCIDENT_ID_MAX);

	if (ref_opt_string(doc, "category", &in->category, &in->category_len, rj) < 0)
		return -1;
	if (in->category_len == 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"category\" must be a category key, not empty");

	if (ref_opt_string(doc, "unit", &in->unit, &in->unit_len, rj) < 0)
		return -1;
	if (!unit_id_valid(in->unit, in->unit_len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"unit\" must be \"/\"-joined segments of "
		              "[a-z0-9][a-z0-9_-]{0,63}, at most %d",
		              UNIT_ID_MAX_DEPTH);

	if (ref_opt_string(doc, "title", &in->title, &in->title_len, rj) < 0)
		return -1;
	if (in->title_len == 0 || in->title_len > INCIDENT_TITLE_MAX)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"title\" must be 1 to %d bytes, not %zu", INCIDENT_TITLE_MAX,
		              in->title_len);

	if (ref_opt_string(doc, "detail", &in->detail, NULL, rj) < 0)
		return -1;

	if (ref_opt_string(doc, "severity", &in->severity, NULL, rj) < 0)
		return -1;
	in->sev = SEV_NORMAL;
	if (in->severity != NULL && severity_parse(in->severity, &in->sev) < 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"severity\" must be one of low, normal, high, critical");

	if (ref_opt_time(doc, "reported_at", &in->reported_at, rj) < 0 ||
	    ref_opt_time(doc, "due_at", &in->due_at, rj) < 0)
		return -1;

	if (ref_opt_string(doc, "dedup_key", &in->dedup_key, &in->dedup_len, rj) < 0)
		return -1;
	if (in->dedup_key != NULL && (in->dedup_len == 0 || in->dedup_len > INCIDENT_DEDUP_MAX))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"dedup_key\" must be 1 to %d bytes, not %zu",
		              INCIDENT_DEDUP_MAX, in->dedup_len);

	if (ref_opt_object(doc, "reporter", &in->reporter, rj) < 0 ||
	    ref_opt_object(doc, "location", &in->location, rj) < 0 ||
	    ref_opt_object(doc, "attrs", &in->attrs, rj) < 0)
		return -1;
	if (in->attrs != NULL && ref_check_attrs(in->attrs, rj) < 0)
		return -1;

	return ref_opt_string(doc, "channel", &in->channel, &in->channel_len, rj);
}

static void ref_set_time(json_t *doc, const char *field, int64_t ms)
{
	char ts[TIME_BUFSZ];

	time_format(ms, ts);
	json_object_set_new(doc, field, json_string(ts));
}

static int ref_incident_parse(const char *buf, size_t len, const struct incident_ctx *ctx,
                              struct ref_incident *out, struct rejection *rj)
{
	struct ref_incident_in in;
	json_t *doc;
	const char *chname = channel_name(ctx->channel);
	char q[REF_QUOTE_BUFSZ];

	memset(out, 0, sizeof(*out));
	out->due_at = TIME_NONE;
	memset(&in, 0, sizeof(in));

	if ((doc = ref_load_object(buf, len, ctx->max_bytes, "incident", rj)) == NULL)
		return -1;
	if (ref_incident_check(doc, &in, rj) < 0)
		goto fail;
	if (in.channel != NULL && strcmp(in.channel, chname) != 0) {
		ref_quote(in.channel, in.channel_len, q);
		reject(rj, REASON_CHANNEL_MISMATCH,
		       "field \"channel\" is \"%s\" but the entry came on the %s stream", q,
		       chname);
		goto fail;
	}

	if (in.reported_at == TIME_NONE) {
		char ts[TIME_BUFSZ];
		int64_t t = ctx->entry_ms != TIME_NONE ? ctx->entry_ms : time_now_ms();
		/* through the text form, so that the struct and the document agree; (v2)
		 * times start at the epoch */
		time_format(t > 0 ? t : 0, ts);
		time_parse_rfc3339(ts, strlen(ts), &in.reported_at);
	}
	if (in.id == NULL) {
		char *id = ctx->entry_id != NULL
		                   ? xasprintf("%s-%s", chname, ctx->entry_id)
		                   : xasprintf("%s-%lld", chname, (long long)in.reported_at);
		bool ok = incident_id_valid(id, strlen(id));
		if (ok)
			json_object_set_new(doc, "id", json_string(id));
		free(id);
		if (!ok) {
			reject(rj, REASON_INVALID_FIELD,
			       "field \"id\" is absent and the stream entry id does not make a "
			       "valid default");
			goto fail;
		}
	}

	/* Normalize; the borrowed pointers are taken only after every change. */
	json_object_set_new(doc, "channel", json_string(chname));
	json_object_set_new(doc, "severity", json_string(severity_name(in.sev)));
	ref_set_time(doc, "reported_at", in.reported_at);
	if (in.due_at != TIME_NONE)
		ref_set_time(doc, "due_at", in.due_at);

	out->doc = doc;
	out->id = json_string_value(json_object_get(doc, "id"));
	out->category = json_string_value(json_object_get(doc, "category"));
	out->unit = json_string_value(json_object_get(doc, "unit"));
	out->unit_len = in.unit_len;
	out->title = json_string_value(json_object_get(doc, "title"));
	out->dedup_key = json_string_value(json_object_get(doc, "dedup_key"));
	out->channel = ctx->channel;
	out->severity = in.sev;
	out->reported_at = in.reported_at;
	out->due_at = in.due_at;
	out->attrs = in.attrs;
	return 0;

fail:
	json_decref(doc);
	return -1;
}

static void ref_incident_free(struct ref_incident *inc)
{
	if (inc == NULL)
		return;
	json_decref(inc->doc);
	memset(inc, 0, sizeof(*inc));
	inc->due_at = TIME_NONE;
}

static bool ref_is_one_of(enum cmd_op op, const enum cmd_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ops[i] == op)
			return true;
	}
	return false;
}

/* SPEC §5 and §8 as written, one rule after the other. */
static int ref_command_check(json_t *doc, struct ref_command *cmd, struct rejection *rj)
{
	static const char *const required[] = {"op", "incident", "by"};
	static const enum cmd_op need_note[] = {OP_RETURN, OP_CANCEL, OP_EXTEND, OP_PARK,
	                                        OP_REOPEN};
	const char *op;
	size_t oplen, idlen, bylen, notelen, len;
	char q[REF_QUOTE_BUFSZ];

	cmd->until = TIME_NONE;
	cmd->passed = -1;
	if (ref_check_required(doc, required, GR_NELEM(required), rj) < 0)
		return -1;
	if (ref_opt_string(doc, "op", &op, &oplen, rj) < 0 ||
	    ref_opt_string(doc, "incident", &cmd->incident, &idlen, rj) < 0 ||
	    ref_opt_string(doc, "by", &cmd->by, &bylen, rj) < 0)
		return -1;
	if (!incident_id_valid(cmd->incident, idlen))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"incident\" must be an incident id: 1 to %d characters of "
		              "A-Z, a-z, 0-9, \".\", \"_\", \":\" and \"-\"",
		              INCIDENT_ID_MAX);
	if (!person_id_valid(cmd->by, bylen))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"by\" must be a person id: [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	if (cmd_op_parse(op, &cmd->op) < 0) {
		ref_quote(op, oplen, q);
		return reject(rj, REASON_UNKNOWN_OP,
		              "unknown op \"%s\": field \"op\" must be one of ack, resolve, "
		              "escalate, reassign, comment, return, redispatch, cancel, extend, "
		              "approve, deny, park, unpark, verify, reopen, urge",
		              q);
	}
	const char *name = cmd_op_name(cmd->op);
	json_t *passed = json_object_get(doc, "passed");
	if (cmd->op == OP_REASSIGN && json_object_get(doc, "level") == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"level\" (%s needs it)", name);
	if (cmd->op == OP_EXTEND && json_object_get(doc, "until") == NULL &&
	    json_object_get(doc, "for") == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"until\" or \"for\" (%s needs one of them)",
		              name);
	if (cmd->op == OP_VERIFY && passed == NULL)
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"passed\" (verify needs true or false)");
	if (ref_opt_string(doc, "note", &cmd->note, &notelen, rj) < 0)
		return -1;
	if (ref_is_one_of(cmd->op, need_note, GR_NELEM(need_note)) &&
	    (cmd->note == NULL || notelen == 0))
		return reject(rj, REASON_MISSING_FIELD,
		              "missing required field \"note\" (%s needs a reason; an empty note "
		              "counts as missing)",
		              name);
	if (ref_opt_string(doc, "level", &cmd->level, NULL, rj) < 0 ||
	    ref_opt_string(doc, "unit", &cmd->unit, &len, rj) < 0)
		return -1;
	if (cmd->unit != NULL && !unit_id_valid(cmd->unit, len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"unit\" must be a unit id: \"/\"-joined segments of "
		              "[a-z0-9][a-z0-9_-]{0,63}, at most %d deep",
		              UNIT_ID_MAX_DEPTH);
	if (ref_opt_string(doc, "category", &cmd->category, &len, rj) < 0)
		return -1;
	if (cmd->category != NULL && !key_valid(cmd->category, len))
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"category\" must be a category key: [a-z][a-z0-9_]{0,63}");
	if (ref_opt_time(doc, "until", &cmd->until, rj) < 0 ||
	    ref_opt_string(doc, "for", &cmd->for_text, &len, rj) < 0)
		return -1;
	if (cmd->for_text != NULL && len == 0)
		return reject(rj, REASON_INVALID_FIELD,
		              "field \"for\" must be a duration such as \"2h\", \"3d\" or \"2wd\"");
	if (cmd->until != TIME_NONE && cmd->for_text != NULL)
		return reject(rj, REASON_INVALID_FIELD,
		              "fields \"until\" and \"for\": give one of them, not both");
	if (passed != NULL) {
		if (!json_is_boolean(passed))
			return reject(rj, REASON_INVALID_FIELD,
			              "field \"passed\" must be true or false, not %s",
			              ref_json_kind(passed));
		cmd->passed = json_is_true(passed);
	}
	return 0;
}

static int ref_command_parse(const char *buf, size_t len, size_t max_bytes, struct ref_command *out,
                             struct rejection *rj)
{
	json_t *doc;

	memset(out, 0, sizeof(*out));
	if ((doc = ref_load_object(buf, len, max_bytes, "command", rj)) == NULL)
		return -1;
	if (ref_command_check(doc, out, rj) < 0) {
		json_decref(doc);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->doc = doc;
	return 0;
}

static void ref_command_free(struct ref_command *cmd)
{
	if (cmd == NULL)
		return;
	json_decref(cmd->doc);
	memset(cmd, 0, sizeof(*cmd));
}

#endif
