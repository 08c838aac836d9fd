/*
 * daemon.c: the event loop. Not built yet: the foundation ships --check.
 */
#include <stdio.h>

#include "config.h"

int daemon_main(struct config *cfg);

int daemon_main(struct config *cfg)
{
	(void)cfg;
	fprintf(stderr, "gridrouted: the daemon loop is not in this build yet; use --check\n");
	return 1;
}
