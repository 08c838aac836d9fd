/*
 * ctl_deadletter.h: `gridctl deadletter ls|show|replay|drop` — the
 * operator's side of SPEC §8: list dead letters, read one whole, send one
 * back to its source stream, or drop it.
 */
#ifndef GR_CTL_DEADLETTER_H
#define GR_CTL_DEADLETTER_H

#include "ctl_cli.h"

int ctl_cmd_deadletter(struct ctl *c, int argc, char **argv);

#endif
