/*
 * reason.c: the names of the dead-letter reason codes.
 */
#include <stdio.h>
#include <string.h>

#include "reason.h"

static const char *const codes[REASON__COUNT] = {[REASON_NONE] = "",
#define X(name, code) [REASON_##name] = code,
                                                 REASON_LIST(X)
#undef X
};

const char *reason_code(enum reason r)
{
	if ((int)r < 0 || r >= REASON__COUNT)
		return "";
	return codes[r];
}

int reason_parse(const char *code, enum reason *out)
{
	for (int i = 1; i < REASON__COUNT; i++) {
		if (strcmp(codes[i], code) == 0) {
			*out = (enum reason)i;
			return 0;
		}
	}
	return -1;
}

int reject(struct rejection *rj, enum reason r, const char *fmt, ...)
{
	va_list ap;

	rj->reason = r;
	va_start(ap, fmt);
	int n = vsnprintf(rj->msg, sizeof(rj->msg), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(rj->msg)) {
		/* cut at a character boundary: the sentence goes into JSON */
		size_t len = strlen(rj->msg);
		while (len > 0 && !utf8_valid(rj->msg, len))
			rj->msg[--len] = '\0';
	}
	return -1;
}
