/*
 * ctl_view.h: gridctl's read-only views of incidents — `show` (one
 * incident's state and timeline), `ls` (unresolved incidents from the open
 * set, filtered), `tail` (live events) — and the one-line rendering of an
 * event that they and `--wait` share.
 */
#ifndef GR_CTL_VIEW_H
#define GR_CTL_VIEW_H

#include <jansson.h>

#include "ctl_cli.h"

/*
 * An event (SPEC §6 event JSON) as one readable line, without newline:
 * time, type, the incident (when with_incident), then the type's fields
 * as key=value. Peer text is escaped; colour adds ANSI colours.
 */
void ctl_view_event(struct buf *out, json_t *ev, bool with_incident, bool colour);

int ctl_cmd_show(struct ctl *c, int argc, char **argv);
int ctl_cmd_ls(struct ctl *c, int argc, char **argv);
int ctl_cmd_tail(struct ctl *c, int argc, char **argv);

#endif
