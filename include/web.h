/*
 * web.h: gridweb, the read-only web dashboard of SPEC §12 — its event
 * loop, its two Redis connections (one for reads, one subscribed to
 * gr:events) and its HTTP server.
 */
#ifndef GR_WEB_H
#define GR_WEB_H

#include "config.h"
#include "rules.h"
#include "web_auth.h"

/*
 * Run until SIGTERM or SIGINT; takes the rules and auth (may be NULL).
 * Returns the exit code: 0, or 1 when the store is of another layout.
 */
int web_main(struct config *cfg, struct rules *r, struct web_auth *auth);

#endif
