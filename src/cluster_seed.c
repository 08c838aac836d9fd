/*
 * cluster_seed.c: who serves a slot, asked of the seed nodes of a Redis
 * Cluster (include/cluster.h): the owner of the slot in a CLUSTER SHARDS
 * or CLUSTER SLOTS reply, and the one blocking exchange that gets the
 * reply. The daemon's connection (rconn.c, while it is down) and
 * gridctl's (ctl_redis.c) both use it.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "util.h"

/* RESP2 under hiredis 0.14 and 1.x alike. */
static bool is_str(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool is_array(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ARRAY;
}

static bool int_of(const redisReply *r, long long *v)
{
	int64_t n;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return true;
	}
	if (is_str(r) && parse_int64(r->str, INT64_MIN, INT64_MAX, &n) == 0) {
		*v = n;
		return true;
	}
	return false;
}

/* The value of name in a flat [name, value, ...] array, or NULL. */
static const redisReply *field(const redisReply *map, const char *name)
{
	for (size_t i = 0; is_array(map) && i + 1 < map->elements; i += 2) {
		if (is_str(map->element[i]) && strcmp(map->element[i]->str, name) == 0)
			return map->element[i + 1];
	}
	return NULL;
}

/*
 * An endpoint as the topology gives it: "" is the node asked; "?" is a
 * node whose address its peers do not know (cluster-preferred-endpoint-type
 * unknown-endpoint). 0, or -1.
 */
static int set_node(struct cluster_node *out, const char *endpoint, const char *ip,
                    const char *asked, long long port)
{
	const char *host = endpoint;

	if (host == NULL || strcmp(host, "?") == 0)
		host = ip;
	if (host != NULL && host[0] == '\0')
		host = asked;
	if (host == NULL || host[0] == '\0' || strcmp(host, "?") == 0 || port < 1 || port > 65535 ||
	    strlen(host) >= sizeof(out->host))
		return -1;
	snprintf(out->host, sizeof(out->host), "%s", host);
	out->port = (int)port;
	return 0;
}

static const char *str_field(const redisReply *map, const char *name)
{
	const redisReply *v = field(map, name);

	return is_str(v) ? v->str : NULL;
}

/* Does a flat [start, end, start, end ...] array of ranges hold slot? */
static bool ranges_hold(const redisReply *ranges, unsigned slot)
{
	for (size_t i = 0; is_array(ranges) && i + 1 < ranges->elements; i += 2) {
		long long a, b;
		if (int_of(ranges->element[i], &a) && int_of(ranges->element[i + 1], &b) &&
		    a <= (long long)slot && (long long)slot <= b)
			return true;
	}
	return false;
}

/*
 * CLUSTER SHARDS (Redis 7): [[ "slots", [start, end, ...], "nodes", [{id,
 * port, ip, endpoint, role, health, ...}, ...]], ...]. After a failover
 * the old primary stays listed in its shard, as a "master" whose health
 * is "fail", until it comes back as a replica: the primary is the master
 * that is online.
 */
static int owner_from_shards(const redisReply *r, unsigned slot, const char *asked,
                             struct cluster_node *out, char *why, size_t whysz)
{
	for (size_t s = 0; s < r->elements; s++) {
		const redisReply *shard = r->element[s], *nodes = field(shard, "nodes");
		if (!ranges_hold(field(shard, "slots"), slot))
			continue;
		const char *unhealthy = NULL;
		for (size_t i = 0; is_array(nodes) && i < nodes->elements; i++) {
			const redisReply *n = nodes->element[i];
			const char *role = str_field(n, "role"), *health = str_field(n, "health");
			long long port;
			if (role == NULL || strcmp(role, "master") != 0 ||
			    !int_of(field(n, "port"), &port))
				continue;
			if (health != NULL && strcmp(health, "online") != 0) {
				unhealthy = health;
				continue;
			}
			if (set_node(out, str_field(n, "endpoint"), str_field(n, "ip"), asked,
			             port) == 0)
				return 0;
		}
		if (unhealthy != NULL)
			snprintf(why, whysz,
			         "the primary of slot %u has health \"%.20s\" and no replica has "
			         "taken "
			         "over yet",
			         slot, unhealthy);
		else
			snprintf(why, whysz,
			         "the shard of slot %u has no primary that can be reached", slot);
		return -1;
	}
	snprintf(why, whysz, "no node serves slot %u", slot);
	return -1;
}

/* CLUSTER SLOTS: [[start, end, [endpoint, port, id, ...] (the primary), replicas ...], ...]. */
static int owner_from_slots(const redisReply *r, unsigned slot, const char *asked,
                            struct cluster_node *out, char *why, size_t whysz)
{
	for (size_t s = 0; s < r->elements; s++) {
		const redisReply *range = r->element[s];
		long long a, b, port;
		if (!is_array(range) || range->elements < 3 || !int_of(range->element[0], &a) ||
		    !int_of(range->element[1], &b) || (long long)slot < a || (long long)slot > b)
			continue;
		const redisReply *primary = range->element[2];
		if (is_array(primary) && primary->elements >= 2 &&
		    int_of(primary->element[1], &port) &&
		    set_node(out, is_str(primary->element[0]) ? primary->element[0]->str : "", NULL,
		             asked, port) == 0)
			return 0;
		snprintf(why, whysz, "the primary of slot %u has no address that can be reached",
		         slot);
		return -1;
	}
	snprintf(why, whysz, "no node serves slot %u", slot);
	return -1;
}

int cluster_owner_of(const struct redisReply *r, bool shards, unsigned slot, const char *asked,
                     struct cluster_node *out, char *why, size_t whysz)
{
	if (!is_array(r)) {
		snprintf(why, whysz, "%s",
		         r != NULL && r->type == REDIS_REPLY_ERROR
		                 ? r->str
		                 : "not an answer to CLUSTER SHARDS or SLOTS");
		return -1;
	}
	return shards ? owner_from_shards(r, slot, asked, out, why, whysz)
	              : owner_from_slots(r, slot, asked, out, why, whysz);
}

/* One seed: AUTH if needed, then CLUSTER SHARDS, or CLUSTER SLOTS where SHARDS is unknown. */
static int ask_seed(const char *host, int port, const struct cluster_auth *a, unsigned slot,
                    struct cluster_node *out, char *why, size_t whysz)
{
	struct timeval tv = {a->timeout_ms / 1000, (a->timeout_ms % 1000) * 1000};
	redisContext *rc = redisConnectWithTimeout(host, port, tv);
	redisReply *r = NULL;
	int rv = -1;

	if (rc == NULL || rc->err) {
		snprintf(why, whysz, "%s", rc != NULL ? rc->errstr : "out of memory");
		goto out;
	}
	redisSetTimeout(rc, tv);
	if (a->password != NULL) {
		const char *argv[3];
		int n = 0;
		argv[n++] = "AUTH";
		if (a->user != NULL && a->user[0] != '\0')
			argv[n++] = a->user;
		argv[n++] = a->password;
		r = redisCommandArgv(rc, n, argv, NULL);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(why, whysz, "AUTH: %s",
			         r != NULL       ? r->str
			         : rc->errstr[0] ? rc->errstr
			                         : "no answer");
			goto out;
		}
		freeReplyObject(r);
	}
	for (int shards = 1; shards >= 0; shards--) {
		const char *argv[] = {"CLUSTER", shards ? "SHARDS" : "SLOTS"};
		r = redisCommandArgv(rc, 2, argv, NULL);
		if (r == NULL) {
			snprintf(why, whysz, "%s", rc->errstr[0] ? rc->errstr : "no answer");
			break;
		}
		if (shards && r->type == REDIS_REPLY_ERROR) {
			/* Redis 6 has no SHARDS (and a user may be allowed SLOTS alone) */
			freeReplyObject(r);
			r = NULL;
			continue;
		}
		rv = cluster_owner_of(r, shards, slot, host, out, why, whysz);
		if (rv < 0 && r->type == REDIS_REPLY_ARRAY)
			rv = 1; /* it knows the cluster: nobody serves the slot just now */
		break;
	}
out:
	if (r != NULL)
		freeReplyObject(r);
	if (rc != NULL)
		redisFree(rc);
	return rv;
}

int cluster_find_owner(char *const *seeds, size_t nseeds, size_t *next,
                       const struct cluster_auth *auth, unsigned slot, struct cluster_node *out,
                       char *why, size_t whysz)
{
	char err[256] = "no seed nodes";
	int rv = -1;

	for (size_t k = 0; k < nseeds; k++) {
		size_t i = (*next + k) % nseeds;
		char host[CLUSTER_HOST_MAX];
		int port;

		if (config_split_hostport(seeds[i], host, sizeof(host), &port) < 0) {
			snprintf(err, sizeof(err), "%s: not host:port", seeds[i]);
			continue;
		}
		char e[200];
		int got = ask_seed(host, port, auth, slot, out, e, sizeof(e));
		if (got == 0) {
			*next = i;
			return 0;
		}
		if (got > 0)
			rv = 1;
		snprintf(err, sizeof(err), "%s: %s", seeds[i], e);
	}
	if (nseeds > 1)
		snprintf(why, whysz,
		         "no seed node could say who serves slot %u (%zu asked; the last, %s)",
		         slot, nseeds, err);
	else
		snprintf(why, whysz, "the seed node could not say who serves slot %u (%s)", slot,
		         err);
	return rv;
}
