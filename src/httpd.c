/*
 * httpd.c: evhttp with bounded resources. Headers and bodies are capped
 * so that a peer cannot make the program buffer much.
 *
 * Nor hold many descriptors: the program needs some for Redis whatever
 * the HTTP peers do. libevent 2.1 has no evhttp_set_max_connections (2.2
 * has), so the connections are counted here: evhttp makes each one's
 * bufferevent through our callback, which keeps a reference to it; evhttp
 * freeing the connection clears its callbacks, and a sweep every
 * SWEEP_MS drops those. At HTTPD_MAX_CONNS open (fewer under a low
 * RLIMIT_NOFILE) the listener stops accepting: the next peers wait in the
 * kernel's backlog, costing no descriptor and no CPU. A connection that
 * has not finished a request for HTTPD_IDLE_MAX_S (a peer feeding its
 * headers a byte at a time, which evhttp's timeout does not catch) is shut
 * down, unless it streams an answer (httpd_stream). accept(2) failing
 * (EMFILE) pauses the listener for a second rather than retrying on every
 * turn of the loop, and is logged at most once a second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "config.h"
#include "httpd.h"
#include "log.h"
#include "timeutil.h"

#define HTTPD_IDLE_MAX_S     30  /* no request completed for this long: closed */
#define HTTPD_MAX_CONNS      256 /* at most a quarter of RLIMIT_NOFILE */
#define SWEEP_MS             100
#define PAUSE_MS             1000 /* after accept(2) failed */
#define HTTPD_STREAM_WRITE_S 60   /* a stream whose peer takes nothing for this long: closed */

struct conn {
	struct bufferevent *bev; /* referenced: it stays ours to look at */
	int64_t since;           /* accepted, or its last request answered */
	bool stream;             /* answering for as long as the peer stays */
};

struct httpd {
	struct evhttp *eh;
	struct evconnlistener *listener;
	void (*fn)(struct evhttp_request *, void *);
	void *arg;
	struct conn *conns;
	size_t nconns, cap, max;
	bool accepting;
	int64_t paused_until;
	struct event *sweep;
	struct log_fold accept_fold;
};

static void set_accepting(struct httpd *h, bool on)
{
	if (on == h->accepting || h->listener == NULL)
		return;
	if (on)
		evconnlistener_enable(h->listener);
	else
		evconnlistener_disable(h->listener);
	h->accepting = on;
}

/* evhttp freed it: its callbacks are cleared (our reference keeps the memory). */
static bool conn_gone(struct bufferevent *bev)
{
	bufferevent_data_cb r, w;
	bufferevent_event_cb e;
	void *arg;

	bufferevent_getcb(bev, &r, &w, &e, &arg);
	return (r == NULL && w == NULL && e == NULL) || bufferevent_getfd(bev) < 0;
}

static void sweep(struct httpd *h)
{
	int64_t now = time_now_ms();
	size_t keep = 0;

	for (size_t i = 0; i < h->nconns; i++) {
		struct conn *c = &h->conns[i];
		if (conn_gone(c->bev)) {
			bufferevent_decref(c->bev); /* the last reference: closes the socket */
			continue;
		}
		if (!c->stream && now - c->since > HTTPD_IDLE_MAX_S * 1000) {
			/* evhttp reads the end of the stream and frees it; the next sweep drops it
			 */
			shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
			c->since = now;
		}
		h->conns[keep++] = *c;
	}
	h->nconns = keep;
	set_accepting(h, h->nconns < h->max && now >= h->paused_until);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweep(arg);
}

/* evhttp's new connection: a bufferevent as evhttp makes it, counted. */
static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL; /* evhttp tries its own, and fails the connection */
	if (h->nconns == h->cap) {
		h->cap = h->cap == 0 ? 64 : h->cap * 2;
		h->conns = xreallocarray(h->conns, h->cap, sizeof(*h->conns));
	}
	bufferevent_incref(bev);
	h->conns[h->nconns].bev = bev;
	h->conns[h->nconns].since = time_now_ms();
	h->conns[h->nconns].stream = false;
	h->nconns++;
	if (h->nconns >= h->max)
		set_accepting(h, false);
	return bev;
}

/*
 * The listener's error callback gets evhttp's argument, not ours; there
 * is one HTTP server in a program.
 */
static struct httpd *the_httpd;

/* accept(2) failed for other reasons than a peer's (EMFILE, ENFILE, ENOMEM): pause. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct httpd *h = the_httpd;
	int err = EVUTIL_SOCKET_ERROR();

	(void)lev;
	(void)arg;
	log_folded(&h->accept_fold, LOG_WARN, "http_accept_failed", strerror(err));
	h->paused_until = time_now_ms() + PAUSE_MS;
	set_accepting(h, false);
}

static struct conn *conn_of(struct httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;

	for (size_t i = 0; i < h->nconns; i++) {
		if (h->conns[i].bev == bev)
			return &h->conns[i];
	}
	return NULL;
}

/* A request came: the connection is not idle. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	struct conn *c = conn_of(h, req);

	if (c != NULL)
		c->since = time_now_ms();
	h->fn(req, h->arg);
}

void httpd_stream(struct httpd *h, struct evhttp_request *req)
{
	struct conn *c = conn_of(h, req);
	struct timeval wtv = {HTTPD_STREAM_WRITE_S, 0};

	if (c == NULL)
		return;
	c->stream = true;
	/*
	 * The peer sends nothing more: evhttp's read timeout would end the
	 * stream. A write that does not drain (a peer that stopped reading)
	 * still ends it.
	 */
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
}

/* A quarter of the descriptors at the most, so that Redis and the rest keep theirs. */
static size_t max_conns(void)
{
	struct rlimit rl;
	size_t max = HTTPD_MAX_CONNS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < max)
		max = rl.rlim_cur / 4;
	return max > 0 ? max : 1;
}

struct httpd *httpd_new(struct event_base *base, const char *listen, const struct httpd_limits *lim,
                        void (*fn)(struct evhttp_request *, void *), void *arg)
{
	char host[256];
	int port;
	struct httpd *h;

	if (config_split_hostport(listen, host, sizeof(host), &port) < 0)
		fatalx("listen address \"%s\" is not host:port", listen);
	h = xcalloc(1, sizeof(*h));
	h->fn = fn;
	h->arg = arg;
	h->eh = evhttp_new(base);
	if (h->eh == NULL)
		fatalx("cannot create the HTTP server");
	evhttp_set_max_headers_size(h->eh, (ev_ssize_t)lim->max_headers);
	evhttp_set_max_body_size(h->eh, (ev_ssize_t)lim->max_body);
	evhttp_set_timeout(h->eh, lim->timeout_s);
	/* every method reaches the handler, which answers 405 where it must */
	evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->eh, on_request, h);
	evhttp_set_bevcb(h->eh, new_conn, h);
	h->max = max_conns();
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(
	        h->eh, host[0] != '\0' ? host : "0.0.0.0", (ev_uint16_t)port);
	if (bound == NULL)
		fatal("cannot listen for HTTP on %s", listen);
	h->listener = evhttp_bound_socket_get_listener(bound);
	the_httpd = h;
	evconnlistener_set_error_cb(h->listener, on_accept_error);
	h->accepting = true;
	h->sweep = event_new(base, -1, EV_PERSIST, on_sweep, h);
	struct timeval tv = {0, SWEEP_MS * 1000};
	evtimer_add(h->sweep, &tv);
	char max[24];
	snprintf(max, sizeof(max), "%zu", h->max);
	log_kv(LOG_INFO, "http_listening", "listen", listen, "max_connections", max, NULL);
	return h;
}

size_t httpd_conns(const struct httpd *h)
{
	return h->nconns;
}

size_t httpd_max_conns(const struct httpd *h)
{
	return h->max;
}

void httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	event_free(h->sweep);
	evhttp_free(h->eh); /* frees the connections; then ours are the last references */
	for (size_t i = 0; i < h->nconns; i++)
		bufferevent_decref(h->conns[i].bev);
	free(h->conns);
	free(h);
	the_httpd = NULL;
}
