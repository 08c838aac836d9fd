/*
 * fuzz_incident.c: libFuzzer entry point for the incident and command
 * parsers (incident.h) and the scanner under them (jscan.h). Not built by
 * the Makefile; by hand, from the top of the tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       $(pkg-config --cflags jansson) tests/fuzz/fuzz_incident.c \
 *       src/incident.c src/jscan.c src/util.c src/log.c src/diag.c src/timeutil.c \
 *       src/reason.c \
 *       $(pkg-config --libs jansson) -o fuzz_incident
 *   ./fuzz_incident -max_len=4096 -max_total_time=60
 *
 * Every input goes through jscan_parse and Jansson's json_loadb, which
 * must agree (accepted, or refused at the same line, column and with the
 * same text; numbers too big for Jansson replaced as ref_json.h says), then incident_parse (with
 * and without a size limit) and command_parse. An accepted incident's stored document must parse
 * back to itself (what inc_record_parse relies on), and a refusal must be one clean line of valid
 * UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../unit/ref_json.h"
#include "incident.h"
#include "jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const struct rejection *rj)
{
	size_t len = strnlen(rj->msg, sizeof(rj->msg));

	if (rj->reason <= REASON_NONE || rj->reason >= REASON__COUNT || len == 0 ||
	    len == sizeof(rj->msg) || !utf8_valid(rj->msg, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)rj->msg[i] < 0x20 || rj->msg[i] == 0x7f)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct incident_ctx ctx = {CH_PATROL, "1700000000000-0", 1700000000000, 0};
	struct incident inc, again;
	struct command cmd;
	struct rejection rj;
	struct jscan js;
	struct jscan_error err;
	json_error_t je;
	struct ref_json tame;
	json_t *j = ref_json_load(&tame, buf, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	jscan_init(&js);
	int rc = jscan_parse(&js, buf, size, &err);
	if (j == NULL)
		ref_json_fix_text(&tame, &je);
	ref_json_free(&tame);
	if ((rc == 0) != (j != NULL))
		abort();
	if (j == NULL && (je.line != err.line || je.column != err.column ||
	                  (size_t)je.position != err.position || strcmp(je.text, err.text) != 0))
		abort();
	json_decref(j);
	if (rc == 0) {
		for (size_t i = 0; i < js.nmembers; i++) {
			char *s = malloc(js.members[i].key_len);
			jscan_string(js.members[i].key, js.members[i].key_len, s);
			free(s);
		}
	} else if (err.line < 1 || err.column < 0 || err.position > size) {
		abort();
	}
	jscan_free(&js);

	for (int limited = 0; limited < 2; limited++) {
		ctx.max_bytes = limited ? 64 : 0;
		ctx.channel = limited ? CH_ALERT : CH_PATROL;
		if (incident_parse(buf, size, &ctx, &inc, &rj) == 0) {
			struct incident_ctx stored = {inc.channel, NULL, inc.reported_at, 0};
			if (strlen(inc.doc) != inc.doc_len ||
			    !incident_id_valid(inc.id, strlen(inc.id)) ||
			    incident_parse(inc.doc, inc.doc_len, &stored, &again, &rj) != 0)
				abort();
			if (strcmp(again.doc, inc.doc) != 0)
				abort();
			incident_free(&again);
			incident_free(&inc);
		} else {
			check_msg(&rj);
		}
	}

	if (command_parse(buf, size, 0, &cmd, &rj) == 0)
		command_free(&cmd);
	else
		check_msg(&rj);
	return 0;
}
