/*
 * ctl_stats.h: `gridctl stats` — stream lengths, consumer groups and their
 * pending entries, open incidents, the due backlog and dead letters by
 * reason, read from Redis (the daemon's /metrics counts what one daemon
 * did; this is what Redis holds for all of them).
 */
#ifndef GR_CTL_STATS_H
#define GR_CTL_STATS_H

#include "ctl_cli.h"

int ctl_cmd_stats(struct ctl *c, int argc, char **argv);

#endif
