/*
 * ctl_redis.c: gridctl's synchronous Redis connection. Every failure is
 * reported here, once, in the form "gridctl CMD: cannot connect to Redis
 * at HOST:PORT: reason", so that commands only check for NULL. The
 * password is read from its file, sent with AUTH and wiped; it is never
 * printed, and Redis's answer to a failed AUTH does not contain it.
 *
 * With --cluster, the node is the primary that serves the prefix's slot,
 * asked of the seeds (cluster.h); while a failover or a slot migration
 * lasts (up to CLUSTER_FOLLOW_MS) the connect is tried again with the
 * daemon's backoff, and a single command answered MOVED, TRYAGAIN,
 * CLUSTERDOWN or READONLY — none of which did anything — is sent again
 * to the owner (after ASK: with ASKING, to the node it names). A pipeline or a lost connection is
 * reported as it is: a command that may have been done is never sent twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "ctl_redis.h"
#include "log.h"

#define CONNECT_TIMEOUT_MS 5000
#define PASSWORD_MAX       4096
#define CLUSTER_FOLLOW_MS  10000 /* how long gridctl waits out a failover or a migration */
#define SEED_TIMEOUT_MS    2000
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000

/* The socket timeout asked for last (-1: the command's default): kept across a reconnect. */
static int64_t socket_timeout_ms = -1;

/*
 * hiredis 0.14 (Debian 12) and 1.x: the only differences gridctl meets.
 * The blocking calls used here (redisConnectWithTimeout,
 * redisConnectUnixWithTimeout, redisSetTimeout, redisCommandArgv,
 * redisAppendCommandArgv, redisGetReply, redisBufferRead,
 * redisGetReplyFromReader) exist in both with the same signatures. 1.x
 * reports a socket timeout as REDIS_ERR_TIMEOUT ("timeout") where 0.14
 * says REDIS_ERR_IO with EAGAIN, and it can parse RESP3 types, which
 * Redis only sends after HELLO 3 — never sent here — except that a VERB
 * string is still a string.
 */
static bool err_is_timeout(const redisContext *rc)
{
#ifdef REDIS_ERR_TIMEOUT
	if (rc->err == REDIS_ERR_TIMEOUT)
		return true;
#endif
	return rc->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool ctl_reply_string(const redisReply *r)
{
	if (r == NULL)
		return false;
#ifdef REDIS_REPLY_VERB
	if (r->type == REDIS_REPLY_VERB)
		return true;
#endif
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}
/* End of the hiredis version differences. */

bool ctl_reply_array(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ARRAY;
}

bool ctl_reply_nil(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_NIL;
}

bool ctl_reply_error(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR;
}

static struct timeval tv_of(int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	return tv;
}

/* The connection failed under the command in flight: say so and drop it. */
static void lost(struct ctl *c)
{
	char where[CTL_HOST_MAX + 16];
	redisContext *rc = c->rc;

	ctl_where(c, where, sizeof(where));
	if (err_is_timeout(rc))
		ctl_fail(c, "Redis at %s did not answer in time", where);
	else
		ctl_fail(c, "lost the connection to Redis at %s: %s", where,
		         rc->errstr[0] != '\0' ? rc->errstr : "connection closed");
	redisFree(rc);
	c->rc = NULL;
}

/* The first line of the password file, without its line end; -1 after ctl_fail. */
static int read_password(struct ctl *c, char *out, size_t outsz)
{
	FILE *fp = fopen(c->password_file, "r");
	size_t n;

	if (fp == NULL) {
		ctl_fail(c, "cannot read the password file %s: %s", c->password_file,
		         strerror(errno));
		return -1;
	}
	if (fgets(out, (int)outsz, fp) == NULL) {
		int bad = ferror(fp);
		fclose(fp);
		out[0] = '\0';
		if (bad) {
			ctl_fail(c, "cannot read the password file %s", c->password_file);
			return -1;
		}
		return 0;
	}
	fclose(fp);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/* AUTH and SELECT; 0, or -1 after reporting. */
static int handshake(struct ctl *c, const char *where)
{
	redisReply *r;

	if (c->password_file != NULL) {
		char pw[PASSWORD_MAX];
		const char *argv[3];
		int n = 0;

		if (read_password(c, pw, sizeof(pw)) < 0)
			return -1;
		argv[n++] = "AUTH";
		if (c->user != NULL)
			argv[n++] = c->user;
		argv[n++] = pw;
		r = redisCommandArgv(c->rc, n, argv, NULL);
		explicit_bzero(pw, sizeof(pw));
		if (r == NULL) {
			lost(c);
			return -1;
		}
		if (ctl_reply_error(r)) {
			ctl_fail(c, "Redis at %s refused AUTH: %s", where, r->str);
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	if (c->db != 0) {
		char db[24];
		const char *argv[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%lld", (long long)c->db);
		r = redisCommandArgv(c->rc, 2, argv, NULL);
		if (r == NULL) {
			lost(c);
			return -1;
		}
		if (ctl_reply_error(r)) {
			ctl_fail(c, "Redis at %s refused SELECT %s: %s", where, db, r->str);
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to c->host:c->port or the socket; 0, or -1 with err (nothing reported yet). */
static int open_conn(struct ctl *c, char *err, size_t errsz)
{
	struct timeval tv = tv_of(CONNECT_TIMEOUT_MS);
	redisContext *rc;

	if (c->socket != NULL)
		rc = redisConnectUnixWithTimeout(c->socket, tv);
	else
		rc = redisConnectWithTimeout(c->host, c->port, tv);
	if (rc == NULL)
		fatalx("gridctl: out of memory creating a Redis connection");
	if (rc->err) {
		snprintf(err, errsz, "%s",
		         err_is_timeout(rc) ? "connection timed out" : rc->errstr);
		redisFree(rc);
		return -1;
	}
	c->rc = rc;
	return 0;
}

/* The socket timeout, AUTH and SELECT on a new connection; 0, or -1 after reporting. */
static int finish_conn(struct ctl *c, const char *where)
{
	if (ctl_redis_timeout(c, socket_timeout_ms >= 0 ? socket_timeout_ms
	                                                : c->default_timeout_ms) < 0 ||
	    handshake(c, where) < 0) {
		ctl_redis_close(c);
		return -1;
	}
	return 0;
}

static unsigned prefix_slot(const struct ctl *c)
{
	return cluster_key_slot(c->prefix, strlen(c->prefix));
}

/*
 * The owner of the prefix's slot into c->host and c->port: 0; 1 when the
 * seeds know of none just now (a failover under way) or -1 when none of
 * them answered, both with why; -2 after reporting (the password file).
 */
static int find_owner(struct ctl *c, char *why, size_t whysz)
{
	char pw[PASSWORD_MAX];
	struct cluster_auth auth = {c->user, NULL, SEED_TIMEOUT_MS};
	struct cluster_node n;
	size_t next = 0;
	int rv;

	if (c->password_file != NULL) {
		if (read_password(c, pw, sizeof(pw)) < 0)
			return -2;
		auth.password = pw;
	}
	rv = cluster_find_owner(c->cluster, c->ncluster, &next, &auth, prefix_slot(c), &n, why,
	                        whysz);
	explicit_bzero(pw, sizeof(pw));
	if (rv == 0) {
		snprintf(c->host, sizeof(c->host), "%s", n.host);
		c->port = n.port;
	}
	return rv;
}

/*
 * Connect to the node that serves the prefix's slot, trying again with
 * backoff while a failover is under way, until deadline. 0, or -1 after
 * reporting.
 */
static int cluster_connect(struct ctl *c, int64_t deadline)
{
	char why[300], where[CTL_HOST_MAX + 16];
	int64_t wait = BACKOFF_MIN_MS;

	for (;;) {
		int rv = find_owner(c, why, sizeof(why));
		if (rv == -2)
			return -1;
		if (rv == 0) {
			ctl_where(c, where, sizeof(where));
			if (open_conn(c, why, sizeof(why)) == 0)
				return finish_conn(c, where);
			rv = 1; /* the owner the seeds named is gone: the cluster will notice */
		}
		if (rv < 0) {
			ctl_fail(c, "cannot reach the Redis Cluster: %s", why);
			return -1;
		}
		if (mono_ms() + wait > deadline) {
			ctl_fail(c,
			         "no Redis Cluster node serves slot %u of prefix %s after %d s: %s",
			         prefix_slot(c), c->prefix, CLUSTER_FOLLOW_MS / 1000, why);
			return -1;
		}
		poll(NULL, 0, (int)wait);
		wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
	}
}

int ctl_redis_connect(struct ctl *c)
{
	char where[CTL_HOST_MAX + 16], err[256];

	if (c->user != NULL && c->password_file == NULL)
		return ctl_usage(c, "--user needs --password-file");
	if (c->ncluster > 0) {
		if (!cluster_prefix_ok(c->prefix))
			return ctl_usage(c,
			                 "--cluster needs a --prefix with a hash tag, such as "
			                 "\"gr:{xifeng}:\", so that all its keys are in one slot");
		return cluster_connect(c, mono_ms() + CLUSTER_FOLLOW_MS) < 0 ? CTL_EXIT_FAIL : 0;
	}
	ctl_where(c, where, sizeof(where));
	if (open_conn(c, err, sizeof(err)) < 0) {
		ctl_fail(c, "cannot connect to Redis at %s: %s", where, err);
		return CTL_EXIT_FAIL;
	}
	return finish_conn(c, where) < 0 ? CTL_EXIT_FAIL : 0;
}

void ctl_redis_close(struct ctl *c)
{
	if (c->rc != NULL)
		redisFree(c->rc);
	c->rc = NULL;
}

int ctl_redis_timeout(struct ctl *c, int64_t ms)
{
	socket_timeout_ms = ms;
	if (redisSetTimeout(c->rc, tv_of(ms)) != REDIS_OK) {
		lost(c);
		return -1;
	}
	return 0;
}

/*
 * A cluster's answer that the command was not done here: go to the owner
 * (the one a MOVED names at once, else after a pause, asking the seeds).
 * 0 when connected again, 1 when the time is up (the caller keeps the
 * reply), -1 after reporting.
 */
static int follow(struct ctl *c, const redisReply *r, int64_t *deadline, int64_t *wait)
{
	struct cluster_node to;
	enum cluster_error e = cluster_error_kind(r->str, r->len, c->host, &to);
	char where[CTL_HOST_MAX + 16], err[256];
	int64_t now = mono_ms();

	if (*deadline == 0)
		*deadline = now + CLUSTER_FOLLOW_MS;
	if (now + (e == CE_MOVED ? 0 : *wait) > *deadline)
		return 1;
	ctl_redis_close(c);
	if (e == CE_MOVED && to.port != 0) {
		snprintf(c->host, sizeof(c->host), "%s", to.host);
		c->port = to.port;
		ctl_where(c, where, sizeof(where));
		if (open_conn(c, err, sizeof(err)) == 0)
			return finish_conn(c, where);
	} else {
		poll(NULL, 0, (int)*wait);
		*wait = *wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *wait * 2;
	}
	return cluster_connect(c, *deadline);
}

/*
 * ASK: the slot is migrating and the command's keys have moved to the
 * node it names: ASKING and the command there, on a connection of its
 * own (the source stays the owner until the migration ends). 0 with
 * *out; -1 when the target cannot be reached (nothing was sent); -2 after
 * reporting a connection lost with the command sent.
 */
static int asking(struct ctl *c, const struct cluster_node *to, int argc, const char **argv,
                  const size_t *lens, redisReply **out)
{
	redisContext *owner = c->rc;
	char host[CTL_HOST_MAX], where[CTL_HOST_MAX + 16], err[256];
	int port = c->port, rv = -1;
	const char *ask[] = {"ASKING"};
	void *a = NULL, *b = NULL;

	snprintf(host, sizeof(host), "%s", c->host);
	snprintf(c->host, sizeof(c->host), "%s", to->host);
	c->port = to->port;
	c->rc = NULL;
	ctl_where(c, where, sizeof(where));
	if (open_conn(c, err, sizeof(err)) == 0 && finish_conn(c, where) == 0) {
		ctl_redis_append(c, 1, ask, NULL);
		ctl_redis_append(c, argc, argv, lens);
		if (redisGetReply(c->rc, &a) == REDIS_OK && redisGetReply(c->rc, &b) == REDIS_OK) {
			*out = b;
			rv = 0;
		} else {
			lost(c);
			rv = -2;
		}
		if (a != NULL)
			freeReplyObject(a);
		ctl_redis_close(c);
	}
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	c->rc = owner;
	return rv;
}

redisReply *ctl_redis_argv(struct ctl *c, int argc, const char **argv, const size_t *lens)
{
	int64_t deadline = 0, wait = BACKOFF_MIN_MS;
	struct cluster_node to;
	redisReply *r;

	for (;;) {
		if (c->rc == NULL)
			return NULL;
		r = redisCommandArgv(c->rc, argc, argv, lens);
		if (r == NULL) {
			lost(c);
			return NULL;
		}
		if (c->ncluster == 0 || !ctl_reply_error(r) ||
		    cluster_error_kind(r->str, r->len, NULL, NULL) == CE_NONE)
			return r;
		redisReply *a = NULL;
		if (cluster_error_kind(r->str, r->len, c->host, &to) == CE_ASK && to.port != 0) {
			int got = asking(c, &to, argc, argv, lens, &a);
			if (got == -2) {
				freeReplyObject(r);
				return NULL;
			}
			if (got == 0) {
				freeReplyObject(r);
				r = a; /* done there, or TRYAGAIN: the keys are split, wait */
				if (!ctl_reply_error(r) ||
				    cluster_error_kind(r->str, r->len, NULL, NULL) == CE_NONE)
					return r;
			}
		}
		int rv = follow(c, r, &deadline, &wait);
		if (rv != 0) {
			if (rv > 0)
				return r;
			freeReplyObject(r);
			return NULL;
		}
		freeReplyObject(r);
	}
}

#define MAX_ARGS 64

redisReply *ctl_redis(struct ctl *c, ...)
{
	const char *argv[MAX_ARGS];
	const char *a;
	redisReply *r;
	va_list ap;
	int n = 0;

	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (n == MAX_ARGS)
			fatalx("gridctl: too many arguments to one Redis command");
		argv[n++] = a;
	}
	va_end(ap);
	r = ctl_redis_argv(c, n, argv, NULL);
	if (ctl_reply_error(r)) {
		ctl_fail(c, "Redis: %s (%s)", r->str, argv[0]);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

void ctl_redis_append(struct ctl *c, int argc, const char **argv, const size_t *lens)
{
	if (c->rc != NULL && redisAppendCommandArgv(c->rc, argc, argv, lens) != REDIS_OK)
		fatalx("gridctl: out of memory queueing a Redis command");
}

redisReply *ctl_redis_next(struct ctl *c)
{
	void *r = NULL;

	if (c->rc == NULL)
		return NULL;
	if (redisGetReply(c->rc, &r) != REDIS_OK) {
		lost(c);
		return NULL;
	}
	return r;
}

int ctl_redis_read(struct ctl *c, int timeout_ms, redisReply **out)
{
	void *r = NULL;
	struct pollfd pfd;

	*out = NULL;
	if (c->rc == NULL)
		return -1;
	/* a reply may be buffered already: poll() would not see it */
	if (redisGetReplyFromReader(c->rc, &r) != REDIS_OK) {
		lost(c);
		return -1;
	}
	if (r != NULL) {
		*out = r;
		return 1;
	}
	pfd.fd = c->rc->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	int n = poll(&pfd, 1, timeout_ms);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0) {
		ctl_fail(c, "poll: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		return 0;
	if (redisBufferRead(c->rc) != REDIS_OK || redisGetReplyFromReader(c->rc, &r) != REDIS_OK) {
		lost(c);
		return -1;
	}
	*out = r;
	return r != NULL ? 1 : 0;
}

const redisReply *ctl_reply_field(const redisReply *flat, const char *name)
{
	if (!ctl_reply_array(flat))
		return NULL;
	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i];
		if (ctl_reply_string(k) && strcmp(k->str, name) == 0)
			return flat->element[i + 1];
	}
	return NULL;
}

const char *ctl_reply_str(const redisReply *flat, const char *name)
{
	const redisReply *v = ctl_reply_field(flat, name);

	return ctl_reply_string(v) ? v->str : NULL;
}

int ctl_reply_int(const redisReply *r, int64_t *out)
{
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER) {
		*out = r->integer;
		return 0;
	}
	if (ctl_reply_string(r))
		return parse_int64(r->str, INT64_MIN, INT64_MAX, out);
	return -1;
}

/* "<ms>-<seq>" into its parts; a bare "<ms>" has seq 0. 0 or -1. */
static int split_id(const char *id, uint64_t *ms, uint64_t *seq)
{
	char *end;

	if (id[0] < '0' || id[0] > '9')
		return -1;
	errno = 0;
	*ms = strtoull(id, &end, 10);
	if (errno != 0)
		return -1;
	*seq = 0;
	if (*end == '\0')
		return 0;
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	*seq = strtoull(end + 1, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

bool ctl_stream_id_valid(const char *id)
{
	uint64_t ms, seq;

	return strchr(id, '-') != NULL && split_id(id, &ms, &seq) == 0;
}

void ctl_stream_id_before(const char *id, char *out, size_t outsz)
{
	uint64_t ms, seq;

	if (split_id(id, &ms, &seq) < 0 || (ms == 0 && seq == 0))
		snprintf(out, outsz, "0-0");
	else if (seq > 0)
		snprintf(out, outsz, "%" PRIu64 "-%" PRIu64, ms, seq - 1);
	else
		snprintf(out, outsz, "%" PRIu64 "-%" PRIu64, ms - 1, UINT64_MAX);
}

void ctl_stream_id_after(const char *id, char *out, size_t outsz)
{
	uint64_t ms, seq;

	if (split_id(id, &ms, &seq) < 0)
		snprintf(out, outsz, "0-1");
	else if (seq < UINT64_MAX)
		snprintf(out, outsz, "%" PRIu64 "-%" PRIu64, ms, seq + 1);
	else
		snprintf(out, outsz, "%" PRIu64 "-0", ms + 1);
}

bool ctl_reply_next_page(const redisReply *r, char *out, size_t outsz)
{
	const redisReply *last;

	if (!ctl_reply_array(r) || r->elements == 0)
		return false;
	last = r->element[r->elements - 1];
	if (!ctl_reply_array(last) || last->elements < 1 || !ctl_reply_string(last->element[0]) ||
	    !ctl_stream_id_valid(last->element[0]->str))
		return false;
	ctl_stream_id_after(last->element[0]->str, out, outsz);
	return true;
}

/* The prefix with SCAN's pattern characters escaped, then suffix. */
char *ctl_scan_pattern(const struct ctl *c, const char *suffix)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = c->prefix; *p != '\0'; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			buf_putc(&b, '\\');
		buf_putc(&b, *p);
	}
	buf_puts(&b, suffix);
	return buf_detach(&b);
}

int ctl_store_check(struct ctl *c)
{
	char *meta = ctl_key(c, "meta");
	const char *argv[] = {"HGET", meta, "schema"};
	redisReply *r = ctl_redis_argv(c, 3, argv, NULL);
	int rc = CTL_EXIT_FAIL;

	if (r == NULL)
		goto out;
	if (ctl_reply_error(r)) {
		/* a user that may not read it: the daemon checks, not us */
		rc = strncmp(r->str, "NOPERM", 6) == 0 ? 0
		                                       : ctl_fail(c, "Redis: %s (HGET)", r->str);
	} else if (ctl_reply_string(r)) {
		if (strcmp(r->str, CTL_SCHEMA) == 0)
			rc = 0;
		else
			ctl_fail(c, "%s says schema %.20s, this gridctl knows schema %s%s", meta,
			         r->str, CTL_SCHEMA,
			         strcmp(r->str, "1") == 0 ? ": run gridctl migrate --rules FILE"
			                                  : "");
	} else {
		/* absent: a store of gridroute 1 if it has incidents, else one not used yet */
		char *match = ctl_scan_pattern(c, "inc:*");
		char cursor[32] = "0";
		rc = 0;
		do {
			const char *scan[] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
			redisReply *s = ctl_redis_argv(c, 6, scan, NULL);
			if (s == NULL || ctl_reply_error(s) || !ctl_reply_array(s) ||
			    s->elements != 2) {
				/* NOPERM for SCAN (a reporter): leave it to the daemon */
				if (s == NULL)
					rc = CTL_EXIT_FAIL;
				if (s != NULL)
					freeReplyObject(s);
				break;
			}
			if (ctl_reply_array(s->element[1]) && s->element[1]->elements > 0) {
				rc = ctl_fail(
				        c,
				        "%s has no schema but incident keys exist: this is a store "
				        "of gridroute 1; stop every gridrouted and run gridctl "
				        "migrate --rules FILE",
				        meta);
				freeReplyObject(s);
				break;
			}
			snprintf(cursor, sizeof(cursor), "%s",
			         ctl_reply_string(s->element[0]) ? s->element[0]->str : "0");
			freeReplyObject(s);
		} while (strcmp(cursor, "0") != 0);
		free(match);
	}
	freeReplyObject(r);
out:
	free(meta);
	return rc;
}
