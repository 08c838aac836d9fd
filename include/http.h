/*
 * http.h: the operators' HTTP endpoint on libevent's evhttp — /healthz,
 * /readyz and /metrics, GET (and HEAD) only, loopback by default.
 */
#ifndef GR_HTTP_H
#define GR_HTTP_H

#include "daemon.h"

struct http;

/* Listen on cfg->http_listen; NULL (with a log line) when that fails. */
struct http *http_start(struct daemon *d);
void http_free(struct http *h);

#endif
