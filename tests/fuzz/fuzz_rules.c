/*
 * fuzz_rules.c: libFuzzer target for the rules loader. Any input must
 * give either rules or diagnostics, never a crash, a leak or UB; a file
 * that loads must also route an incident without trouble. Whatever the
 * YAML fast path reads must read the same through libyaml alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "yamlfast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fast path may decline anything, but what it reads libyaml must read alike. */
static void check_fast_path(const char *buf, size_t size)
{
	struct ydoc fast, slow;
	struct diags d;
	char why[256];

	memset(&fast, 0, sizeof(fast));
	if (ydoc_load_fast(&fast, buf, size) != 0)
		return;
	diags_init(&d, "fuzz.yaml");
	if (ydoc_load_libyaml(&slow, buf, size, &d) != 0) {
		fprintf(stderr, "fast path took what libyaml rejects\n");
		abort();
	}
	if (!ydoc_tree_same(&fast, &slow, why, sizeof(why))) {
		fprintf(stderr, "fast path tree differs: %s\n", why);
		abort();
	}
	ydoc_free(&fast);
	ydoc_free(&slow);
	diags_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d;
	struct rules *r;

	check_fast_path((const char *)data, size);
	diags_init(&d, "fuzz.yaml");
	r = rules_load_buf("fuzz.yaml", (const char *)data, size, &d);
	for (size_t i = 0; i < d.n; i++)
		free(diag_format(&d, &d.v[i]));
	if (r != NULL) {
		static const char doc[] =
		        "{\"category\":\"urban_management\",\"unit\":\"xifeng/beijie/"
		        "beidajie/g03\",\"title\":\"t\",\"attrs\":{\"source\":\"camera\"}}";
		struct incident_ctx ctx = {CH_ALERT, "1-0", 1, 65536};
		struct incident inc;
		struct route_result rt;
		struct rejection rj;
		if (incident_parse(doc, sizeof(doc) - 1, &ctx, &inc, &rj) == 0) {
			/* schedules read at two instants, one of them a deadline of working time */
			route_incident(r, &inc, 1767225600000LL, &rt, &rj);
			route_incident(r, &inc,
			               calendar_deadline(r->calendar, 1767225600000LL,
			                                 (struct wdur){13 * 3600000LL, true}),
			               &rt, &rj);
			incident_free(&inc);
		}
		rules_free(r);
	}
	diags_free(&d);
	return 0;
}
