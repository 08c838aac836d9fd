/*
 * ref_json.h: Jansson as the reference JSON parser of the differential
 * tests (test_jscan.c, test_incident.c, tests/fuzz/fuzz_incident.c), with
 * the one difference the contract makes (SPEC v2 §4): numbers of any size
 * are valid JSON, kept as written, while Jansson refuses an integer outside
 * int64 ("too big integer") and a real that overflows a double ("real
 * number overflow").
 *
 * So before Jansson reads a document, each number token it refuses for its
 * size alone is replaced by a small one of the same kind, sign and length:
 * "1" or "1e0" (signed like the original), with spaces in front. Jansson
 * names the token itself (its error position is the token's end), so
 * what is replaced is exactly what Jansson took as one number, and with
 * the token's end in place every later line, column and position stays
 * what it was. Everything else -- syntax, UTF-8, escapes, duplicate keys,
 * depth, the error sentences -- is still Jansson's verdict. An error that
 * quotes a replaced token gets the original back, quoted as Jansson
 * quotes (ref_json_fix_text), and values compare with the small stand-ins
 * on both sides (ref_json_load on the document jscan kept, too).
 */
#ifndef GR_REF_JSON_H
#define GR_REF_JSON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct ref_json {
	const char *orig; /* the input, not owned */
	char *text;       /* the input with its big numbers replaced; owned */
	size_t len;
	size_t nrepl;
	size_t *repl_end; /* offsets just past each replaced token */
};

static inline bool ref_json_big_error(const char *text)
{
	return strncmp(text, "too big integer", 15) == 0 ||
	       strncmp(text, "too big negative integer", 24) == 0 ||
	       strncmp(text, "real number overflow", 20) == 0;
}

/*
 * Where the number token ending at end starts, read backwards: digits and
 * points, an exponent's "e" only after a digit and its sign only after the
 * "e", a leading "-" last (so "true1e999" gives "1e999").
 */
static inline size_t ref_json_token_start(const char *t, size_t end)
{
	size_t s = end;

	while (s > 0) {
		char c = t[s - 1], before = s > 1 ? t[s - 2] : '\0';
		if ((c >= '0' && c <= '9') || c == '.' ||
		    ((c == 'e' || c == 'E') && before >= '0' && before <= '9') ||
		    ((c == '+' || c == '-') && (before == 'e' || before == 'E'))) {
			s--;
			continue;
		}
		if (c == '-')
			s--;
		break;
	}
	return s;
}

/*
 * Jansson's error position as a byte offset: its stream drops a NUL read
 * right after a number or a literal (jscan.c), and any other NUL before
 * a big number would have stopped Jansson already, so every NUL before
 * the position is one it dropped.
 */
static inline size_t ref_json_offset(const char *t, size_t len, size_t pos)
{
	size_t i = 0, seen = 0;

	while (i < len && seen < pos) {
		if (t[i] != '\0')
			seen++;
		i++;
	}
	return i;
}

/* Replace the number token that ends at end; false if there is none there. */
static inline bool ref_json_replace(struct ref_json *r, size_t end)
{
	size_t start;
	bool real = false;

	if (end == 0 || end > r->len)
		return false;
	start = ref_json_token_start(r->text, end);
	if (start == end)
		return false;
	for (size_t i = start; i < end; i++)
		real = real || r->text[i] == '.' || r->text[i] == 'e' || r->text[i] == 'E';
	/* "1e0", not "1.0": an "e" right after the token must not extend it */
	const char *small = r->text[start] == '-' ? (real ? "-1e0" : "-1") : (real ? "1e0" : "1");
	size_t n = strlen(small);
	if (end - start < n)
		return false;
	memset(r->text + start, ' ', end - start - n);
	memcpy(r->text + end - n, small, n);
	r->repl_end = realloc(r->repl_end, (r->nrepl + 1) * sizeof(*r->repl_end));
	if (r->repl_end == NULL)
		abort();
	r->repl_end[r->nrepl++] = end;
	return true;
}

/*
 * Jansson's reading of buf[0..len) as the contract has it: r holds the
 * text Jansson was given (r->text, r->len: same offsets as buf). Free r
 * with ref_json_free whatever the result.
 */
static inline json_t *ref_json_load(struct ref_json *r, const char *buf, size_t len, size_t flags,
                                    json_error_t *err)
{
	json_t *j;

	memset(r, 0, sizeof(*r));
	r->orig = buf;
	r->len = len;
	r->text = malloc(len + 1);
	if (r->text == NULL)
		abort();
	if (len > 0)
		memcpy(r->text, buf, len);
	r->text[len] = '\0';
	for (;;) {
		j = json_loadb(r->text, len, flags, err);
		if (j != NULL || !ref_json_big_error(err->text) ||
		    !ref_json_replace(r, ref_json_offset(r->text, len, (size_t)err->position)))
			return j;
	}
}

/* Was the token ending at pos replaced? Then its original is buf[*start..pos). */
static inline bool ref_json_replaced_at(const struct ref_json *r, size_t pos, size_t *start)
{
	for (size_t i = 0; i < r->nrepl; i++) {
		if (r->repl_end[i] == pos) {
			*start = ref_json_token_start(r->orig, pos);
			return true;
		}
	}
	return false;
}

/*
 * The error text Jansson would have written with the original token where
 * it quotes a replaced one ("... near '1.0'" at that token's end): "near
 * 'token'" for a token of up to 20 bytes, else no context at all.
 */
static inline void ref_json_fix_text(const struct ref_json *r, json_error_t *err)
{
	size_t start, pos = ref_json_offset(r->text, r->len, (size_t)err->position);
	char *near = strstr(err->text, " near '");

	if (near == NULL || !ref_json_replaced_at(r, pos, &start))
		return;
	size_t n = pos - start, room = sizeof(err->text) - (size_t)(near - err->text);
	if (n <= 20)
		snprintf(near, room, " near '%.*s'", (int)n, r->orig + start);
	else
		*near = '\0';
}

/* A message that embeds Jansson's error text: the same fix, in place. */
static inline void ref_json_fix_message(const struct ref_json *r, const json_error_t *tamed,
                                        char *msg, size_t size)
{
	json_error_t fixed = *tamed;
	char *at;

	ref_json_fix_text(r, &fixed);
	if (strcmp(fixed.text, tamed->text) == 0 || (at = strstr(msg, tamed->text)) == NULL)
		return;
	size_t pre = (size_t)(at - msg), old = strlen(tamed->text);
	char *rest = strdup(at + old);
	if (rest == NULL)
		abort();
	snprintf(msg + pre, size - pre, "%s%s", fixed.text, rest);
	free(rest);
}

static inline void ref_json_free(struct ref_json *r)
{
	free(r->text);
	free(r->repl_end);
	memset(r, 0, sizeof(*r));
}

#endif
