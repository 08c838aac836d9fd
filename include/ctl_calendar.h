/*
 * ctl_calendar.h: `gridctl calendar RULES [--from DATE] [--days N]`, the
 * working days and hours of a span of dates (SPEC §3.1), and `gridctl
 * schedule RULES [NAME] [--at TIME] [--days N]`, who is on duty when
 * (SPEC §3.2). No Redis.
 */
#ifndef GR_CTL_CALENDAR_H
#define GR_CTL_CALENDAR_H

#include "ctl_cli.h"

int ctl_cmd_calendar(struct ctl *c, int argc, char **argv);
int ctl_cmd_schedule(struct ctl *c, int argc, char **argv);

#endif
