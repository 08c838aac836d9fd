/*
 * httpd.h: an HTTP server on libevent's evhttp with bounded resources —
 * header and body sizes, evhttp's timeouts, a cap on open connections and
 * an idle limit — shared by gridrouted's endpoint (http.c) and gridweb.
 */
#ifndef GR_HTTPD_H
#define GR_HTTPD_H

#include <event2/event.h>
#include <event2/http.h>

#include "util.h"

struct httpd;

struct httpd_limits {
	size_t max_headers; /* bytes of the request line and headers */
	size_t max_body;
	int timeout_s; /* evhttp's: reading or writing with nothing moving */
};

/*
 * Listen on listen ("host:port") and call fn for every request. Start-up
 * failures (a bad address, a port in use) are fatal.
 */
struct httpd *httpd_new(struct event_base *base, const char *listen, const struct httpd_limits *lim,
                        void (*fn)(struct evhttp_request *, void *), void *arg);
void httpd_free(struct httpd *h);

/*
 * The request's connection streams its answer for as long as the peer
 * stays (server-sent events): the idle limit leaves it alone.
 */
void httpd_stream(struct httpd *h, struct evhttp_request *req);

/* Connections open now, and the most there may be. */
size_t httpd_conns(const struct httpd *h);
size_t httpd_max_conns(const struct httpd *h);

#endif
