/*
 * http.c: three read-only endpoints for operators and orchestrators.
 * Anything but GET or HEAD on a known path is 405, an unknown path is
 * 404. The server's bounds (sizes, timeouts, connections) are httpd.c's.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"

static const struct httpd_limits limits = {
        .max_headers = 8192,
        .max_body = 1024,
        .timeout_s = 10,
};

struct http {
	struct daemon *d;
	struct httpd *srv;
};

static bool ready(const struct daemon *d)
{
	return d->rules != NULL && rconn_up(d->rd) && store_ready(d->store);
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                  const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *path = uri != NULL ? uri : "";
	size_t plen = strcspn(path, "?");
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	static const char *const known[] = {"/healthz", "/readyz", "/metrics"};
	int which = -1;

	for (size_t i = 0; i < GR_NELEM(known); i++) {
		if (strlen(known[i]) == plen && strncmp(path, known[i], plen) == 0)
			which = (int)i;
	}
	if (which < 0) {
		reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply(req, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19);
		return;
	}
	switch (which) {
	case 0:
		reply(req, 200, "OK", "text/plain", "ok\n", 3);
		break;
	case 1: {
		char *broken = ready(h->d) ? intake_unreadable(h->d->intake) : NULL;
		if (ready(h->d) && broken == NULL) {
			reply(req, 200, "OK", "text/plain", "ready\n", 6);
		} else {
			/* why, in one line: Redis, or the streams that cannot be read */
			struct buf b;
			buf_init(&b);
			buf_printf(&b, "not ready: %s\n",
			           broken != NULL ? broken : "Redis is not connected");
			reply(req, 503, "Service Unavailable", "text/plain", b.data, b.len);
			buf_free(&b);
		}
		free(broken);
		break;
	}
	default: {
		struct buf b;
		buf_init(&b);
		metrics.redis_up = ready(h->d) ? 1 : 0;
		metrics_render(&b);
		reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
		buf_free(&b);
	}
	}
}

struct http *http_start(struct daemon *d)
{
	struct http *h;

	if (d->cfg->http_listen[0] == '\0')
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	h->srv = httpd_new(d->base, d->cfg->http_listen, &limits, handle, h);
	return h;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	httpd_free(h->srv);
	free(h);
}
