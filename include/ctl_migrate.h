/*
 * ctl_migrate.h: `gridctl migrate`: a store of gridroute 1 converted in
 * place to the layout of SPEC v2 §2, idempotently.
 */
#ifndef GR_CTL_MIGRATE_H
#define GR_CTL_MIGRATE_H

#include "ctl_cli.h"

int ctl_cmd_migrate(struct ctl *c, int argc, char **argv);

#endif
