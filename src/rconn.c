/*
 * rconn.c: a self-healing hiredis async connection on libevent.
 *
 * States: DOWN (a retry timer is armed) -> CONNECTING -> HANDSHAKE (AUTH,
 * SELECT and PING in flight) -> UP. Any failure goes back to DOWN with the
 * backoff doubled (100 ms to 5 s); reaching UP resets it. Only state
 * changes are logged, so an outage is two lines, not one per retry.
 *
 * Something on the Redis port that is not Redis must not take the daemon
 * down. hiredis asserts (redisProcessCallbacks) when a reply comes that no
 * command waits for, and 0.14 has no hook for it; so every reply's top
 * object is made through our copy of the reader's functions, which
 * refuses one that would find no callback: hiredis then takes it as a
 * reader error and drops the connection. And the handshake ends with a
 * PING that must be answered PONG: a server that says OK to everything is
 * refused there, before the connection counts as up (so it is one log
 * line, and the backoff keeps growing).
 *
 * Redis Cluster (redis.cluster): every key of the prefix is in one slot,
 * so the connection goes to the primary that serves that slot, asked of
 * the seed nodes on every connect (cluster.h). The reader sees every
 * error reply first: MOVED (the slot has a new owner, named in it) and
 * READONLY (the node is a replica now) drop the connection to connect
 * again to the owner; ASK, TRYAGAIN (a slot migration) and CLUSTERDOWN
 * leave it up (the callers retry their command later) and have the seeds
 * asked again, with the same backoff, in case the owner changed without a
 * MOVED reaching us. A change of owner is one log line.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "cluster.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "timeutil.h"

#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      5000
#define SENTINEL_TIMEOUT_MS 300
#define SEED_TIMEOUT_MS     300
#define HANDSHAKE_MS        5000 /* connect, AUTH, SELECT and PING: up by then, or dropped */

enum rstate { RS_DOWN, RS_CONNECTING, RS_HANDSHAKE, RS_UP, RS_CLOSED };

struct rconn {
	struct event_base *base;
	const struct config *cfg;
	char *password;
	char *name;
	rconn_state_fn fn;
	void *arg;
	redisAsyncContext *ac;
	enum rstate state;
	bool was_up;      /* for "one log line per state change" */
	bool logged_down; /* the current outage has been logged */
	int64_t backoff_ms;
	struct event *retry;
	struct event *handshake; /* the handshake's deadline */
	bool timed_out;
	char primary_host[256]; /* with sentinels: the primary last connected to */
	int primary_port;
	bool protocol_error; /* this connection got a reply nothing asked for */
	const char *dropped; /* why we dropped it ourselves, for the redis_down line */
	/* Redis Cluster */
	unsigned slot;                /* of the prefix */
	size_t next_seed;             /* the seed to ask first */
	struct cluster_node node;     /* the node connected to (or being connected to) */
	struct cluster_node moved_to; /* named by MOVED: the next connect goes there */
	const char *moved_via;        /* who named it, for the redis_owner line */
	struct event *follow;         /* MOVED or READONLY seen by the reader: reconnect */
	char follow_error[160];
	struct event *recheck; /* ASK, TRYAGAIN or CLUSTERDOWN seen: ask the seeds again */
	int64_t recheck_ms;
	int64_t redirected_at; /* the last redirection's time, ms */
};

#define PROTOCOL_ERROR    "protocol error: a reply that no command asked for (is this Redis?)"
#define HANDSHAKE_TIMEOUT "no answer to the handshake within 5 s"

static void schedule_retry(struct rconn *c);

static bool is_cluster(const struct rconn *c)
{
	return c->cfg->redis_ncluster > 0;
}

static void log_conn(struct rconn *c, enum log_level lvl, const char *event, const char *err)
{
	char port[16];

	snprintf(port, sizeof(port), "%lld", (long long)c->cfg->redis_port);
	if (is_cluster(c) && c->node.port != 0) {
		snprintf(port, sizeof(port), "%d", c->node.port);
		log_kv(lvl, event, "conn", c->name, "host", c->node.host, "port", port, "error",
		       err, NULL);
	} else if (is_cluster(c)) {
		log_kv(lvl, event, "conn", c->name, "seeds", c->cfg->redis_cluster[0], "error", err,
		       NULL);
	} else if (c->cfg->redis_socket[0] != '\0')
		log_kv(lvl, event, "conn", c->name, "socket", c->cfg->redis_socket, "error", err,
		       NULL);
	else
		log_kv(lvl, event, "conn", c->name, "host", c->cfg->redis_host, "port", port,
		       "error", err, NULL);
}

static void went_down(struct rconn *c, const char *err)
{
	bool notify = c->state == RS_UP;

	c->ac = NULL;
	evtimer_del(c->handshake);
	if (c->state == RS_CLOSED)
		return;
	c->state = RS_DOWN;
	if (!c->logged_down) {
		log_conn(c, c->was_up ? LOG_WARN : LOG_ERROR, "redis_down", err);
		c->logged_down = true;
	}
	if (notify)
		c->fn(c, false, c->arg);
	schedule_retry(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;

	(void)status;
	went_down(c, c->protocol_error       ? PROTOCOL_ERROR
	             : c->timed_out          ? HANDSHAKE_TIMEOUT
	             : ac->errstr[0] != '\0' ? ac->errstr
	             : c->dropped != NULL    ? c->dropped
	                                     : "connection closed");
	c->dropped = NULL;
}

/*
 * Connected but not up in time (a server that reads and never answers,
 * or answers one command of several): dropped, as any failure is.
 */
static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *c = arg;
	redisAsyncContext *ac = c->ac;

	(void)fd;
	(void)what;
	if (ac == NULL || (c->state != RS_CONNECTING && c->state != RS_HANDSHAKE))
		return;
	c->timed_out = true;
	redisAsyncFree(ac); /* calls on_disconnect if it was connected */
	if (c->ac == ac)
		went_down(c, HANDSHAKE_TIMEOUT);
}

/* hiredis's own reply functions, and ours around them (one table: one loop thread). */
static redisReplyObjectFunctions *hiredis_fns, reader_fns;

/*
 * A reply's top object (no parent) when no callback waits for it, outside
 * pub/sub: a protocol error. An error reply is left to hiredis, which
 * drops the connection with its text.
 */
static bool unasked(const redisReadTask *t)
{
	struct rconn *c = t->privdata;

	if (t->parent != NULL || c == NULL || c->ac == NULL || c->ac->replies.head != NULL ||
	    (c->ac->c.flags & (REDIS_SUBSCRIBED | REDIS_MONITORING)))
		return false;
	c->protocol_error = true;
	return true;
}

static void saw_error(struct rconn *c, const char *s, size_t len);

/* NULL: hiredis's reader fails ("out of memory") and the connection is dropped. */
static void *create_string(const redisReadTask *t, char *s, size_t len)
{
	if (t->type == REDIS_REPLY_ERROR && t->parent == NULL && t->privdata != NULL)
		saw_error(t->privdata, s, len);
	return t->type != REDIS_REPLY_ERROR && unasked(t) ? NULL
	                                                  : hiredis_fns->createString(t, s, len);
}

static void *create_array(const redisReadTask *t, int n)
{
	return unasked(t) ? NULL : hiredis_fns->createArray(t, n);
}

static void *create_integer(const redisReadTask *t, long long v)
{
	return unasked(t) ? NULL : hiredis_fns->createInteger(t, v);
}

static void *create_nil(const redisReadTask *t)
{
	return unasked(t) ? NULL : hiredis_fns->createNil(t);
}

/* The context's reader makes its replies through reader_fns, with c at hand. */
static void guard_reader(struct rconn *c, redisAsyncContext *ac)
{
	if (hiredis_fns == NULL) {
		hiredis_fns = ac->c.reader->fn;
		reader_fns = *hiredis_fns; /* hiredis 1.x has more members: kept as they are */
		reader_fns.createString = create_string;
		reader_fns.createArray = create_array;
		reader_fns.createInteger = create_integer;
		reader_fns.createNil = create_nil;
	}
	ac->c.reader->fn = &reader_fns;
	ac->c.reader->privdata = c;
	c->protocol_error = false;
	c->timed_out = false;
}

static void on_handshake(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = ac->data;
	redisReply *reply = r;
	bool last = priv != NULL;

	if (c->state != RS_HANDSHAKE)
		return;
	if (reply == NULL)
		return; /* on_disconnect follows */
	if (REPLY_IS_ERROR(reply)) {
		/* AUTH or SELECT refused: the server says why; the password is not in it */
		char err[256];
		snprintf(err, sizeof(err), "%s", reply->str);
		c->state = RS_DOWN;
		if (!c->logged_down)
			log_conn(c, LOG_ERROR, "redis_handshake_failed", err);
		c->logged_down = true;
		redisAsyncDisconnect(ac);
		return;
	}
	if (!last)
		return;
	if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0) {
		c->state = RS_DOWN;
		if (!c->logged_down)
			log_conn(c, LOG_ERROR, "redis_handshake_failed",
			         "PING was not answered PONG: is this Redis?");
		c->logged_down = true;
		redisAsyncDisconnect(ac);
		return;
	}
	c->state = RS_UP;
	evtimer_del(c->handshake);
	if (c->was_up)
		metrics.redis_reconnects++;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->recheck_ms = BACKOFF_MIN_MS;
	c->logged_down = false;
	c->was_up = true;
	log_conn(c, LOG_INFO, "redis_up", NULL);
	c->fn(c, true, c->arg);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;
	const char *argv[3];
	char db[24];
	int n = 0;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		went_down(c, ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
		return;
	}
	c->state = RS_HANDSHAKE;
	if (c->password != NULL) {
		argv[n++] = "AUTH";
		if (c->cfg->redis_username[0] != '\0')
			argv[n++] = c->cfg->redis_username;
		argv[n++] = c->password;
		redisAsyncCommandArgv(c->ac, on_handshake, NULL, n, argv, NULL);
	}
	snprintf(db, sizeof(db), "%lld", (long long)c->cfg->redis_db);
	argv[0] = "SELECT";
	argv[1] = db;
	redisAsyncCommandArgv(c->ac, on_handshake, NULL, 2, argv, NULL);
	argv[0] = "PING";
	redisAsyncCommandArgv(c->ac, on_handshake, c, 1, argv, NULL);
}

/*
 * Ask the sentinels, in order, for the current primary. This is a short
 * blocking exchange (SENTINEL_TIMEOUT_MS per sentinel) that only happens
 * while this connection is down. Returns 0 with host and port, or -1.
 */
static int ask_sentinels(struct rconn *c, char *host, size_t hostsz, int *port)
{
	struct timeval tv = {0, SENTINEL_TIMEOUT_MS * 1000};

	for (size_t i = 0; i < c->cfg->redis_nsentinels; i++) {
		char shost[256];
		int sport;
		redisContext *sc;
		redisReply *r;

		if (config_split_hostport(c->cfg->redis_sentinels[i], shost, sizeof(shost),
		                          &sport) < 0)
			continue;
		sc = redisConnectWithTimeout(shost, sport, tv);
		if (sc == NULL || sc->err) {
			if (sc != NULL)
				redisFree(sc);
			continue;
		}
		redisSetTimeout(sc, tv);
		const char *argv[] = {"SENTINEL", "get-master-addr-by-name",
		                      c->cfg->redis_master_name};
		r = redisCommandArgv(sc, 3, argv, NULL);
		int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		         r->element[0]->type == REDIS_REPLY_STRING &&
		         r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < hostsz;
		if (ok) {
			int64_t p;
			snprintf(host, hostsz, "%s", r->element[0]->str);
			ok = parse_int64(r->element[1]->str, 1, 65535, &p) == 0;
			*port = (int)p;
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(sc);
		if (ok)
			return 0;
	}
	return -1;
}

/*
 * The owner of the slot, one line per change: a process-wide record, so
 * that the daemon's two connections (and gridweb's) log a change once.
 */
static void note_owner(struct rconn *c, const char *via)
{
	static struct {
		bool known;
		unsigned slot;
		struct cluster_node node;
	} last;
	char port[16], slot[16], from[CLUSTER_HOST_MAX + 16];

	if (last.known && last.slot == c->slot && last.node.port == c->node.port &&
	    strcmp(last.node.host, c->node.host) == 0)
		return;
	snprintf(port, sizeof(port), "%d", c->node.port);
	snprintf(slot, sizeof(slot), "%u", c->slot);
	if (last.known && last.slot == c->slot)
		cluster_node_format(&last.node, from, sizeof(from));
	log_kv(LOG_INFO, "redis_owner", "conn", c->name, "slot", slot, "host", c->node.host, "port",
	       port, "from", last.known && last.slot == c->slot ? from : NULL, "via", via, NULL);
	last.known = true;
	last.slot = c->slot;
	last.node = c->node;
}

/*
 * The node to connect to: the one a MOVED named, else the one the seeds
 * say serves the slot (a short blocking exchange, SEED_TIMEOUT_MS per
 * seed, as with the sentinels: only while this connection is down, or
 * when a redirection makes us wonder). 0, or -1 with why.
 */
static int find_owner(struct rconn *c, struct cluster_node *out, char *why, size_t whysz)
{
	struct cluster_auth auth = {
	        .user = c->cfg->redis_username[0] != '\0' ? c->cfg->redis_username : NULL,
	        .password = c->password,
	        .timeout_ms = SEED_TIMEOUT_MS,
	};

	return cluster_find_owner(c->cfg->redis_cluster, c->cfg->redis_ncluster, &c->next_seed,
	                          &auth, c->slot, out, why, whysz);
}

static int pick_node(struct rconn *c, char *why, size_t whysz)
{
	struct cluster_node n;

	if (c->moved_to.port != 0) {
		c->node = c->moved_to;
		c->moved_to.port = 0;
		note_owner(c, c->moved_via);
		return 0;
	}
	if (find_owner(c, &n, why, whysz) != 0)
		return -1;
	c->node = n;
	note_owner(c, c->cfg->redis_cluster[c->next_seed]);
	return 0;
}

static void schedule_recheck(struct rconn *c)
{
	struct timeval tv = {c->recheck_ms / 1000, (c->recheck_ms % 1000) * 1000};

	if (evtimer_pending(c->recheck, NULL))
		return;
	evtimer_add(c->recheck, &tv);
	c->recheck_ms *= 2;
	if (c->recheck_ms > BACKOFF_MAX_MS)
		c->recheck_ms = BACKOFF_MAX_MS;
}

/*
 * An error reply, as the reader makes it (before any callback): a
 * redirection is noted here and acted on from the loop, since the
 * connection must not be dropped in the middle of its own read.
 */
static void saw_error(struct rconn *c, const char *s, size_t len)
{
	struct cluster_node to;
	enum cluster_error e;

	if (c->state != RS_UP)
		return;
	e = cluster_error_kind(s, len, c->node.host, &to);
	if (e != CE_NONE)
		c->redirected_at = time_now_ms();
	if (e == CE_READONLY || (e == CE_MOVED && is_cluster(c))) {
		if (event_pending(c->follow, EV_TIMEOUT, NULL))
			return; /* the first one is being followed */
		if (e == CE_MOVED) {
			c->moved_to = to; /* port 0 when it names no usable node: ask the seeds */
			c->moved_via = "MOVED";
		}
		snprintf(c->follow_error, sizeof(c->follow_error), "%.*s",
		         (int)(len < sizeof(c->follow_error) ? len : sizeof(c->follow_error) - 1),
		         s);
		event_active(c->follow, EV_TIMEOUT, 1);
	} else if ((e == CE_ASK || e == CE_TRYAGAIN || e == CE_CLUSTERDOWN) && is_cluster(c)) {
		schedule_recheck(c);
	}
}

/* MOVED or READONLY: connect again, to the owner (with sentinels: the primary). */
static void on_follow(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state != RS_UP || c->ac == NULL)
		return;
	if (strncmp(c->follow_error, "READONLY", 8) == 0) {
		log_conn(c, LOG_WARN, "redis_readonly", c->follow_error);
		c->dropped = "READONLY: the node is a replica now";
	} else {
		c->dropped = "MOVED: the slot has another owner";
	}
	redisAsyncDisconnect(c->ac);
}

/* ASK, TRYAGAIN or CLUSTERDOWN a while ago: does the same node still serve the slot? */
static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *c = arg;
	struct cluster_node n;
	char why[300];

	(void)fd;
	(void)what;
	if (c->state != RS_UP || c->ac == NULL || find_owner(c, &n, why, sizeof(why)) != 0)
		return;
	if (n.port == c->node.port && strcmp(n.host, c->node.host) == 0)
		return; /* the same: the callers' retries will get through */
	c->moved_to = n;
	c->moved_via = c->cfg->redis_cluster[c->next_seed];
	c->dropped = "the seeds say another node serves the slot now";
	redisAsyncDisconnect(c->ac);
}

static void connect_now(struct rconn *c)
{
	redisAsyncContext *ac;
	char host[256];
	int port;

	if (c->cfg->redis_nsentinels > 0) {
		if (ask_sentinels(c, host, sizeof(host), &port) < 0) {
			c->state = RS_CONNECTING;
			went_down(c, "no sentinel answered with the primary's address");
			return;
		}
		if (strcmp(host, c->primary_host) != 0 || port != c->primary_port) {
			char ps[16];
			snprintf(ps, sizeof(ps), "%d", port);
			log_kv(LOG_INFO, "redis_primary", "conn", c->name, "master_name",
			       c->cfg->redis_master_name, "host", host, "port", ps, NULL);
			snprintf(c->primary_host, sizeof(c->primary_host), "%s", host);
			c->primary_port = port;
		}
		ac = redisAsyncConnect(host, port);
	} else if (is_cluster(c)) {
		char why[300];
		if (pick_node(c, why, sizeof(why)) < 0) {
			c->state = RS_CONNECTING;
			went_down(c, why);
			return;
		}
		ac = redisAsyncConnect(c->node.host, c->node.port);
	} else if (c->cfg->redis_socket[0] != '\0') {
		ac = redisAsyncConnectUnix(c->cfg->redis_socket);
	} else {
		ac = redisAsyncConnect(c->cfg->redis_host, (int)c->cfg->redis_port);
	}
	if (ac == NULL)
		fatalx("out of memory creating a Redis connection");
	if (ac->err) {
		char err[256];
		snprintf(err, sizeof(err), "%s", ac->errstr);
		redisAsyncFree(ac);
		c->state = RS_CONNECTING;
		went_down(c, err);
		return;
	}
	ac->data = c;
	c->ac = ac;
	guard_reader(c, ac);
	c->state = RS_CONNECTING;
	struct timeval tv = {HANDSHAKE_MS / 1000, HANDSHAKE_MS % 1000 * 1000};
	evtimer_add(c->handshake, &tv);
	redisLibeventAttach(ac, c->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_now(arg);
}

static void schedule_retry(struct rconn *c)
{
	struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};

	evtimer_add(c->retry, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
}

struct rconn *rconn_new(struct event_base *base, const struct config *cfg, const char *password,
                        const char *name, rconn_state_fn fn, void *arg)
{
	struct rconn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->cfg = cfg;
	c->password = password != NULL ? xstrdup(password) : NULL;
	c->name = xstrdup(name);
	c->fn = fn;
	c->arg = arg;
	c->state = RS_DOWN;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->retry = evtimer_new(base, on_retry, c);
	c->handshake = evtimer_new(base, on_handshake_timeout, c);
	c->follow = event_new(base, -1, 0, on_follow, c);
	c->recheck = evtimer_new(base, on_recheck, c);
	c->recheck_ms = BACKOFF_MIN_MS;
	if (is_cluster(c))
		c->slot = cluster_key_slot(cfg->prefix, strlen(cfg->prefix));
	return c;
}

void rconn_start(struct rconn *c)
{
	connect_now(c);
}

bool rconn_up(const struct rconn *c)
{
	return c != NULL && c->state == RS_UP;
}

const char *rconn_name(const struct rconn *c)
{
	return c->name;
}

int rconn_argv(struct rconn *c, redisCallbackFn *fn, void *priv, int argc, const char **argv,
               const size_t *lens)
{
	if (c->state != RS_UP || c->ac == NULL)
		return -1;
	return redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

int rconn_formatted(struct rconn *c, redisCallbackFn *fn, void *priv, const char *cmd, size_t len)
{
	if (c->state != RS_UP || c->ac == NULL)
		return -1;
	return redisAsyncFormattedCommand(c->ac, fn, priv, cmd, len) == REDIS_OK ? 0 : -1;
}

void rconn_reconnect(struct rconn *c)
{
	if (c->state == RS_UP && c->ac != NULL)
		redisAsyncDisconnect(c->ac);
}

int64_t rconn_redirected_at(const struct rconn *c)
{
	return c->redirected_at;
}

bool rconn_redirected(const redisReply *r)
{
	return REPLY_IS_ERROR(r) && cluster_error_kind(r->str, r->len, NULL, NULL) != CE_NONE;
}

void rconn_close(struct rconn *c)
{
	redisAsyncContext *ac = c->ac;

	c->state = RS_CLOSED;
	evtimer_del(c->retry);
	evtimer_del(c->handshake);
	event_del(c->follow);
	evtimer_del(c->recheck);
	if (ac != NULL)
		redisAsyncDisconnect(ac);
}

void rconn_free(struct rconn *c)
{
	if (c == NULL)
		return;
	if (c->ac != NULL) {
		c->state = RS_CLOSED;
		redisAsyncFree(c->ac);
	}
	event_free(c->retry);
	event_free(c->handshake);
	event_free(c->follow);
	event_free(c->recheck);
	if (c->password != NULL) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->name);
	free(c);
}

char *rconn_read_password(const struct config *cfg)
{
	char *text;
	size_t len;

	if (cfg->redis_password_file[0] == '\0')
		return NULL;
	if (read_small_file(cfg->redis_password_file, 4096, &text, &len) < 0)
		fatal("cannot read redis.password_file %s", cfg->redis_password_file);
	text[strcspn(text, "\r\n")] = '\0';
	if (text[0] == '\0')
		fatalx("redis.password_file %s is empty", cfg->redis_password_file);
	return text;
}
