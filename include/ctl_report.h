/*
 * ctl_report.h: `gridctl report [--rules FILE] [--month YYYY-MM] [--unit
 * PREFIX] [--by-kind KIND] [--category C] [--json|--csv]`, every unit's
 * monthly KPIs (SPEC §11), read-only (the viewer user suffices).
 */
#ifndef GR_CTL_REPORT_H
#define GR_CTL_REPORT_H

#include "ctl_cli.h"

int ctl_cmd_report(struct ctl *c, int argc, char **argv);

#endif
