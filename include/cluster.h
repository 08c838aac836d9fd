/*
 * cluster.h: Redis Cluster for a client whose keys are all in one slot.
 * With a hash-tagged prefix ("gr:{xifeng}:") every key of the daemon and
 * gridctl is in the slot of that tag, so the cluster logic is small: the
 * slot (CRC16 of the tag), the primary that owns it (asked of a seed node
 * with CLUSTER SHARDS, or CLUSTER SLOTS before Redis 7), and what an
 * error reply says about it (MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
 * READONLY). hiredis 0.14 has no cluster support; this is all of it.
 * cluster.c is the pure part (no hiredis); cluster_seed.c asks the seeds.
 */
#ifndef GR_CLUSTER_H
#define GR_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_NSLOTS   16384
#define CLUSTER_HOST_MAX 256

struct redisReply;

struct cluster_node {
	char host[CLUSTER_HOST_MAX];
	int port;
};

/* CRC16-CCITT (XModem: polynomial 0x1021, initial value 0), as Redis Cluster hashes keys. */
uint16_t cluster_crc16(const void *buf, size_t len);

/*
 * The hash tag of key: the text between its first '{' and the first '}'
 * after it, when that text is not empty. True with its offset and length.
 */
bool cluster_hash_tag(const char *key, size_t len, size_t *off, size_t *taglen);

/* The slot of key (0 .. 16383): the CRC16 of its hash tag, or of the whole key. */
unsigned cluster_key_slot(const char *key, size_t len);

/*
 * A prefix all of whose keys are in one slot: one whose hash tag is
 * closed inside it. Then every key prefix+suffix has the prefix's slot.
 */
bool cluster_prefix_ok(const char *prefix);

enum cluster_error {
	CE_NONE,        /* not a cluster redirection */
	CE_MOVED,       /* the slot has another owner, named in the reply */
	CE_ASK,         /* the slot is migrating and these keys are on the target now */
	CE_TRYAGAIN,    /* the slot is migrating and the keys of the call are split */
	CE_CLUSTERDOWN, /* the cluster (or this slot) is not served now */
	CE_READONLY,    /* this node is a replica now */
};

/*
 * What the error reply err[0..len) means to a cluster client. For MOVED
 * and ASK the node it names goes to *to (when to is not NULL); an empty
 * host there ("MOVED 3999 :6380") means the node that answered, whose
 * host is given as here.
 */
enum cluster_error cluster_error_kind(const char *err, size_t len, const char *here,
                                      struct cluster_node *to);
const char *cluster_error_name(enum cluster_error e);

/*
 * The primary that serves slot, from a CLUSTER SHARDS reply (shards =
 * true) or a CLUSTER SLOTS reply. An empty endpoint means the node that
 * was asked, whose host is given as asked. 0 with *out, or -1 with a
 * sentence in why (nobody serves the slot, its primary is marked failed,
 * a reply of another shape).
 */
int cluster_owner_of(const struct redisReply *r, bool shards, unsigned slot, const char *asked,
                     struct cluster_node *out, char *why, size_t whysz);

/* How to log in to the nodes; user and password may be NULL. */
struct cluster_auth {
	const char *user;
	const char *password;
	int timeout_ms; /* to connect, and for each answer */
};

/*
 * Ask the seeds "host:port", in turn from *next, for the primary of slot
 * (blocking: at most timeout_ms per seed for the connect and for each
 * answer). On success *next is the seed that answered, so that it is
 * asked first the next time. 0 with *out; else why says what the last
 * seed said, and how many were asked, and the result is 1 when a seed
 * answered that nobody serves the slot just now (its primary failed and
 * no replica has taken over yet: a failover is under way), -1 when no
 * seed gave an answer.
 */
int cluster_find_owner(char *const *seeds, size_t nseeds, size_t *next,
                       const struct cluster_auth *auth, unsigned slot, struct cluster_node *out,
                       char *why, size_t whysz);

/* "host:port", or "[host]:port" for an IPv6 address. */
void cluster_node_format(const struct cluster_node *n, char *out, size_t outsz);

#endif
