/*
 * fuzz_command.c: libFuzzer target for the command parser and the rules'
 * checks of a command (SPEC §5): a reason and a sentence, or a command.
 */
#include <stdint.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct command cmd;
	struct rejection rj;

	if (command_parse((const char *)data, size, 65536, &cmd, &rj) == 0) {
		if (cmd.incident == NULL || cmd.by == NULL ||
		    !incident_id_valid(cmd.incident, strlen(cmd.incident)))
			__builtin_trap();
		command_free(&cmd);
	} else if (rj.reason == REASON_NONE || rj.msg[0] == '\0') {
		__builtin_trap();
	}
	return 0;
}
