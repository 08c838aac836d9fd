/*
 * cluster.c: Redis Cluster, for clients whose keys are all in one slot
 * (include/cluster.h). The pure parts — the key slot, the meaning of an
 * error reply, the owner of a slot in a topology reply — come first; the
 * one blocking exchange, asking the seed nodes, is at the end. The
 * daemon's connection (rconn.c) and gridctl's (ctl_redis.c) both use it.
 */
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "util.h"

#define CRC16_POLY 0x1021

uint16_t cluster_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;

	/* most significant bit first, no reflection, no final xor */
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ CRC16_POLY)
			                     : (uint16_t)(crc << 1);
	}
	return crc;
}

bool cluster_hash_tag(const char *key, size_t len, size_t *off, size_t *taglen)
{
	const char *open = memchr(key, '{', len);

	if (open == NULL)
		return false;
	size_t start = (size_t)(open - key) + 1;
	const char *close = memchr(key + start, '}', len - start);
	if (close == NULL || close == key + start)
		return false;
	*off = start;
	*taglen = (size_t)(close - (key + start));
	return true;
}

unsigned cluster_key_slot(const char *key, size_t len)
{
	size_t off, n;

	if (cluster_hash_tag(key, len, &off, &n))
		return cluster_crc16(key + off, n) % CLUSTER_NSLOTS;
	return cluster_crc16(key, len) % CLUSTER_NSLOTS;
}

bool cluster_prefix_ok(const char *prefix)
{
	size_t off, n;

	/* the first '{' of every key is the prefix's, and so is the '}' that closes it */
	return cluster_hash_tag(prefix, strlen(prefix), &off, &n);
}

/* err starts with word, followed by a space or the end. */
static bool starts_word(const char *err, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(err, word, n) == 0 && (len == n || err[n] == ' ');
}

/* "<slot> <host>:<port>" after MOVED or ASK; the host may be empty, or an IPv6 address. */
static void parse_target(const char *s, size_t len, const char *here, struct cluster_node *to)
{
	const char *sp = memchr(s, ' ', len);
	char port[8];
	int64_t p;

	to->host[0] = '\0';
	to->port = 0;
	if (sp == NULL)
		return;
	const char *addr = sp + 1, *end = s + len, *colon = NULL;
	for (const char *q = addr; q < end; q++) {
		if (*q == ':')
			colon = q;
	}
	if (colon == NULL || (size_t)(end - colon - 1) >= sizeof(port) ||
	    (size_t)(colon - addr) >= sizeof(to->host))
		return;
	memcpy(port, colon + 1, (size_t)(end - colon - 1));
	port[end - colon - 1] = '\0';
	if (parse_int64(port, 1, 65535, &p) < 0)
		return;
	if (colon == addr) {
		snprintf(to->host, sizeof(to->host), "%s", here != NULL ? here : "");
	} else {
		memcpy(to->host, addr, (size_t)(colon - addr));
		to->host[colon - addr] = '\0';
	}
	to->port = to->host[0] != '\0' ? (int)p : 0;
}

enum cluster_error cluster_error_kind(const char *err, size_t len, const char *here,
                                      struct cluster_node *to)
{
	enum cluster_error e = CE_NONE;

	if (starts_word(err, len, "MOVED"))
		e = CE_MOVED;
	else if (starts_word(err, len, "ASK"))
		e = CE_ASK;
	else if (starts_word(err, len, "TRYAGAIN"))
		e = CE_TRYAGAIN;
	else if (starts_word(err, len, "CLUSTERDOWN"))
		e = CE_CLUSTERDOWN;
	else if (starts_word(err, len, "READONLY"))
		e = CE_READONLY;
	if ((e == CE_MOVED || e == CE_ASK) && to != NULL) {
		size_t skip = e == CE_MOVED ? 6 : 4;
		parse_target(err + skip, len > skip ? len - skip : 0, here, to);
	}
	return e;
}

const char *cluster_error_name(enum cluster_error e)
{
	static const char *const names[] = {"",         "MOVED",       "ASK",
	                                    "TRYAGAIN", "CLUSTERDOWN", "READONLY"};

	return (size_t)e < GR_NELEM(names) ? names[e] : "";
}

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
			snprintf(
			        why, whysz,
			        "the primary of slot %u is %.20s and no replica has taken over yet",
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

int cluster_owner_of(const redisReply *r, bool shards, unsigned slot, const char *asked,
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

void cluster_node_format(const struct cluster_node *n, char *out, size_t outsz)
{
	if (strchr(n->host, ':') != NULL)
		snprintf(out, outsz, "[%s]:%d", n->host, n->port);
	else
		snprintf(out, outsz, "%s:%d", n->host, n->port);
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

	for (size_t k = 0; k < nseeds; k++) {
		size_t i = (*next + k) % nseeds;
		char host[CLUSTER_HOST_MAX];
		int port;

		if (config_split_hostport(seeds[i], host, sizeof(host), &port) < 0) {
			snprintf(err, sizeof(err), "%s: not host:port", seeds[i]);
			continue;
		}
		char e[200];
		if (ask_seed(host, port, auth, slot, out, e, sizeof(e)) == 0) {
			*next = i;
			return 0;
		}
		snprintf(err, sizeof(err), "%s: %s", seeds[i], e);
	}
	if (nseeds > 1)
		snprintf(why, whysz,
		         "no seed node could say who serves slot %u (%zu asked; the last, %s)",
		         slot, nseeds, err);
	else
		snprintf(why, whysz, "the seed node could not say who serves slot %u (%s)", slot,
		         err);
	return -1;
}
