/*
 * fuzz_rules.c: libFuzzer target for the rules loader. Any input must
 * give either rules or diagnostics, never a crash, a leak or UB; a file
 * that loads must also route an incident without trouble.
 */
#include <stdint.h>
#include <stdlib.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d;
	struct rules *r;

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
			route_incident(r, &inc, &rt, &rj);
			incident_free(&inc);
		}
		rules_free(r);
	}
	diags_free(&d);
	return 0;
}
