/*
 * ctl_submit.h: the gridctl commands that write input — `submit` (an
 * incident on a channel's stream) and the five commands ack, resolve,
 * escalate, reassign and comment — each optionally waiting (--wait) for
 * the outcome: the assignment or event it caused, or its dead letter.
 */
#ifndef GR_CTL_SUBMIT_H
#define GR_CTL_SUBMIT_H

#include "ctl_cli.h"

int ctl_cmd_submit(struct ctl *c, int argc, char **argv);
/* ack, resolve, escalate, reassign, comment: the op is c->cmd->name. */
int ctl_cmd_op(struct ctl *c, int argc, char **argv);

#endif
