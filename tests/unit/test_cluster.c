/*
 * test_cluster.c: the pure parts of Redis Cluster support. CRC16 and key
 * slots against Redis's own values (the cluster spec's "123456789" →
 * 0x31C3, and CLUSTER KEYSLOT of Redis 7.0 for the rest), hash tags and
 * the prefixes that keep every key in one slot, the error replies, and
 * the owner of a slot in CLUSTER SHARDS and CLUSTER SLOTS replies as
 * Redis 7.0 sends them (parsed from the wire by hiredis's reader).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster.h"
#include "util.h"

static void test_crc16(void **state)
{
	(void)state;
	assert_int_equal(cluster_crc16("123456789", 9), 0x31C3);
	assert_int_equal(cluster_crc16("", 0), 0);
	assert_int_equal(cluster_crc16("A", 1), 0x58E5); /* XModem of one byte */
}

static unsigned slot(const char *key)
{
	return cluster_key_slot(key, strlen(key));
}

static void test_key_slot(void **state)
{
	(void)state;
	/* CLUSTER KEYSLOT of Redis 7.0.15 */
	assert_int_equal(slot("123456789"), 12739);
	assert_int_equal(slot("foo"), 12182);
	assert_int_equal(slot("a"), 15495);
	assert_int_equal(slot("gr:in:patrol"), 9344);
	assert_int_equal(slot("gr:{xifeng}:in:patrol"), 970);
	assert_int_equal(slot("\xe4\xb8\xad\xe6\x96\x87"), 13257); /* 中文 */
	/* hash tags: only the text between the first '{' and the next '}' counts */
	assert_int_equal(slot("{user1000}.following"), 3443);
	assert_int_equal(slot("user1000"), 3443);
	assert_int_equal(slot("foo{bar}{zap}"), 5061);
	assert_int_equal(slot("bar"), 5061);
	assert_int_equal(slot("foo{{bar}}zap"), 4015); /* the tag is "{bar" */
	assert_int_equal(slot("{bar"), 4015);
	assert_int_equal(slot("foo{}{bar}"), 8363); /* an empty tag: the whole key */
	assert_int_equal(slot("foo{}{bar}"), cluster_crc16("foo{}{bar}", 10) % 16384);
}

static void test_hash_tag(void **state)
{
	size_t off, n;

	(void)state;
	assert_true(cluster_hash_tag("gr:{xifeng}:", 12, &off, &n));
	assert_int_equal(off, 4);
	assert_int_equal(n, 6);
	assert_false(cluster_hash_tag("gr:", 3, &off, &n));
	assert_false(cluster_hash_tag("gr:{}:", 6, &off, &n));
	assert_false(cluster_hash_tag("gr:{xifeng", 10, &off, &n));
	/* the length counts, not a NUL */
	assert_false(cluster_hash_tag("gr:{x}", 5, &off, &n));

	assert_true(cluster_prefix_ok("gr:{xifeng}:"));
	assert_true(cluster_prefix_ok("{x}"));
	assert_true(cluster_prefix_ok("gr:}{x}:"));
	assert_true(cluster_prefix_ok("gr:{{x}:"));
	assert_false(cluster_prefix_ok("gr:"));
	assert_false(cluster_prefix_ok("gr:{}:"));
	assert_false(cluster_prefix_ok("gr:{xifeng:")); /* a '}' in a suffix would close it */
	/* every key of a good prefix is in the prefix's slot */
	const char *suffixes[] = {"in:patrol", "inc:a}b", "doc:{x}", "timeline:}", ""};
	for (size_t i = 0; i < GR_NELEM(suffixes); i++) {
		char *k = xasprintf("gr:{xifeng}:%s", suffixes[i]);
		assert_int_equal(slot(k), 970);
		free(k);
	}
}

static enum cluster_error kind(const char *err, const char *here, struct cluster_node *to)
{
	return cluster_error_kind(err, strlen(err), here, to);
}

static void test_error_kind(void **state)
{
	struct cluster_node to;

	(void)state;
	assert_int_equal(kind("MOVED 3999 127.0.0.1:6381", "h", &to), CE_MOVED);
	assert_string_equal(to.host, "127.0.0.1");
	assert_int_equal(to.port, 6381);
	assert_int_equal(kind("ASK 3300 127.0.0.1:17002", "h", &to), CE_ASK);
	assert_string_equal(to.host, "127.0.0.1");
	assert_int_equal(to.port, 17002);
	/* an empty host: the node that answered */
	assert_int_equal(kind("MOVED 3999 :6380", "10.0.0.5", &to), CE_MOVED);
	assert_string_equal(to.host, "10.0.0.5");
	assert_int_equal(to.port, 6380);
	/* IPv6: the port is after the last colon */
	assert_int_equal(kind("MOVED 1 ::1:6380", NULL, &to), CE_MOVED);
	assert_string_equal(to.host, "::1");
	assert_int_equal(to.port, 6380);
	assert_int_equal(kind("MOVED 1 redis-3.example:7000", NULL, &to), CE_MOVED);
	assert_string_equal(to.host, "redis-3.example");
	/* a target that cannot be used: still MOVED, without a node (ask the seeds) */
	assert_int_equal(kind("MOVED 12 host:99999", NULL, &to), CE_MOVED);
	assert_int_equal(to.port, 0);
	assert_int_equal(kind("MOVED", NULL, &to), CE_MOVED);
	assert_int_equal(to.port, 0);
	assert_int_equal(kind("MOVED 12 :6380", NULL, &to), CE_MOVED);
	assert_int_equal(to.port, 0);
	assert_int_equal(kind("MOVED 3999 127.0.0.1:6381", NULL, NULL), CE_MOVED);

	assert_int_equal(
	        kind("TRYAGAIN Multiple keys request during rehashing of slot", NULL, NULL),
	        CE_TRYAGAIN);
	assert_int_equal(kind("CLUSTERDOWN The cluster is down", NULL, NULL), CE_CLUSTERDOWN);
	assert_int_equal(kind("CLUSTERDOWN Hash slot not served", NULL, NULL), CE_CLUSTERDOWN);
	assert_int_equal(kind("READONLY You can't write against a read only replica.", NULL, NULL),
	                 CE_READONLY);
	assert_int_equal(kind("ERR unknown command", NULL, NULL), CE_NONE);
	assert_int_equal(kind("MOVEDX 1 a:1", NULL, NULL), CE_NONE);
	assert_int_equal(kind("NOSCRIPT No matching script", NULL, NULL), CE_NONE);
	assert_int_equal(kind("", NULL, NULL), CE_NONE);
	assert_string_equal(cluster_error_name(CE_TRYAGAIN), "TRYAGAIN");
}

/* RESP builders: a reply as Redis sends it, parsed by hiredis's own reader. */
static void bulk(struct buf *b, const char *s)
{
	buf_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

static void num(struct buf *b, long long v)
{
	buf_printf(b, ":%lld\r\n", v);
}

static void arr(struct buf *b, size_t n)
{
	buf_printf(b, "*%zu\r\n", n);
}

/* A node of CLUSTER SHARDS, as Redis 7.0 lists it (seven fields). */
static void shard_node(struct buf *b, int port, const char *endpoint, const char *role,
                       const char *health)
{
	arr(b, 14);
	bulk(b, "id");
	bulk(b, "b19f17ade5ed86beea53e91fc8c32eb337335e48");
	bulk(b, "port");
	num(b, port);
	bulk(b, "ip");
	bulk(b, "127.0.0.1");
	bulk(b, "endpoint");
	bulk(b, endpoint);
	bulk(b, "role");
	bulk(b, role);
	bulk(b, "replication-offset");
	num(b, 77);
	bulk(b, "health");
	bulk(b, health);
}

static void shard(struct buf *b, long long from, long long to, size_t nnodes)
{
	arr(b, 4);
	bulk(b, "slots");
	arr(b, 2);
	num(b, from);
	num(b, to);
	bulk(b, "nodes");
	arr(b, nnodes);
}

static redisReply *parse(const struct buf *b)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;

	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, b->data, b->len), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
	assert_non_null(r);
	redisReaderFree(rd);
	return r;
}

/* The owner of slot in reply b, or "" with the reason in why. */
static const char *owner(const struct buf *b, bool shards, unsigned s, char *why)
{
	static char out[300];
	struct cluster_node n;
	redisReply *r = parse(b);

	why[0] = '\0';
	if (cluster_owner_of(r, shards, s, "10.0.0.9", &n, why, 200) == 0)
		cluster_node_format(&n, out, sizeof(out));
	else
		out[0] = '\0';
	freeReplyObject(r);
	return out;
}

static void test_owner_from_shards(void **state)
{
	struct buf b;
	char why[200];

	(void)state;
	buf_init(&b);
	arr(&b, 3);
	shard(&b, 10923, 16383, 2);
	shard_node(&b, 17003, "127.0.0.1", "master", "online");
	shard_node(&b, 17004, "127.0.0.1", "replica", "loading");
	/* after a failover: the old primary is still listed, as a failed master, first */
	shard(&b, 0, 5460, 2);
	shard_node(&b, 17001, "127.0.0.1", "master", "fail");
	shard_node(&b, 17005, "127.0.0.1", "master", "online");
	shard(&b, 5461, 10922, 2);
	shard_node(&b, 17006, "127.0.0.1", "replica", "online");
	shard_node(&b, 17002, "", "master", "online"); /* "": the node asked */

	assert_string_equal(owner(&b, true, 970, why), "127.0.0.1:17005");
	assert_string_equal(owner(&b, true, 0, why), "127.0.0.1:17005");
	assert_string_equal(owner(&b, true, 16383, why), "127.0.0.1:17003");
	assert_string_equal(owner(&b, true, 10923, why), "127.0.0.1:17003");
	assert_string_equal(owner(&b, true, 5461, why), "10.0.0.9:17002");
	assert_string_equal(owner(&b, false, 970, why), ""); /* not a SLOTS reply */

	/* the primary is marked failed and no replica took over: nobody to go to yet */
	buf_reset(&b);
	arr(&b, 1);
	shard(&b, 0, 5460, 2);
	shard_node(&b, 17001, "127.0.0.1", "master", "fail");
	shard_node(&b, 17005, "127.0.0.1", "replica", "online");
	assert_string_equal(owner(&b, true, 970, why), "");
	assert_string_equal(why, "the primary of slot 970 has health \"fail\" and no replica has "
	                         "taken over yet");
	assert_string_equal(owner(&b, true, 5461, why), "");
	assert_string_equal(why, "no node serves slot 5461");

	/* an address nobody knows ("?") falls back to the ip */
	buf_reset(&b);
	arr(&b, 1);
	shard(&b, 0, 16383, 1);
	shard_node(&b, 7000, "?", "master", "online");
	assert_string_equal(owner(&b, true, 5, why), "127.0.0.1:7000");

	/* not a topology: an error reply, a string */
	buf_reset(&b);
	buf_puts(&b, "-ERR This instance has cluster support disabled\r\n");
	assert_string_equal(owner(&b, true, 5, why), "");
	assert_string_equal(why, "ERR This instance has cluster support disabled");
	buf_reset(&b);
	bulk(&b, "slots");
	assert_string_equal(owner(&b, true, 5, why), "");
	/* a shard without nodes, ranges that are not numbers: no owner, no crash */
	buf_reset(&b);
	arr(&b, 2);
	arr(&b, 2);
	bulk(&b, "slots");
	arr(&b, 2);
	bulk(&b, "x");
	num(&b, 9);
	arr(&b, 2);
	bulk(&b, "slots");
	arr(&b, 2);
	num(&b, 0);
	num(&b, 16383);
	assert_string_equal(owner(&b, true, 5, why), "");
	assert_string_equal(why, "the shard of slot 5 has no primary that can be reached");
	buf_free(&b);
}

static void slots_range(struct buf *b, long long from, long long to, const char *host, int port)
{
	arr(b, 3);
	num(b, from);
	num(b, to);
	arr(b, 4);
	bulk(b, host);
	num(b, port);
	bulk(b, "a9179f0e220e916db96773f283110b9bb663ed59");
	arr(b, 0); /* Redis 7's metadata map */
}

static void test_owner_from_slots(void **state)
{
	struct buf b;
	char why[200];

	(void)state;
	buf_init(&b);
	arr(&b, 3);
	slots_range(&b, 0, 5460, "127.0.0.1", 17001);
	slots_range(&b, 5461, 10922, "", 17002);
	slots_range(&b, 10923, 16383, "?", 17003);
	assert_string_equal(owner(&b, false, 970, why), "127.0.0.1:17001");
	assert_string_equal(owner(&b, false, 5461, why), "10.0.0.9:17002");
	assert_string_equal(owner(&b, false, 12000, why), "");
	assert_string_equal(why, "the primary of slot 12000 has no address that can be reached");
	buf_reset(&b);
	arr(&b, 1);
	slots_range(&b, 0, 100, "::1", 7000);
	assert_string_equal(owner(&b, false, 100, why), "[::1]:7000");
	assert_string_equal(owner(&b, false, 101, why), "");
	assert_string_equal(why, "no node serves slot 101");
	buf_free(&b);
}

/* Seeds that do not answer: the reason names the last one and how many were asked. */
static void test_find_owner_without_seeds(void **state)
{
	char *seeds[] = {"not-an-address", "127.0.0.1:1"};
	struct cluster_auth auth = {NULL, NULL, 300};
	struct cluster_node n;
	size_t next = 0;
	char why[300];

	(void)state;
	assert_int_equal(cluster_find_owner(seeds, 2, &next, &auth, 970, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no seed node could say who serves slot 970 (2 asked; the "
	                            "last, 127.0.0.1:1: "));
	assert_int_equal(next, 0);
	assert_int_equal(cluster_find_owner(seeds, 1, &next, &auth, 970, &n, why, sizeof(why)), -1);
	assert_string_equal(why, "the seed node could not say who serves slot 970 "
	                         "(not-an-address: not host:port)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_crc16),
	        cmocka_unit_test(test_key_slot),
	        cmocka_unit_test(test_hash_tag),
	        cmocka_unit_test(test_error_kind),
	        cmocka_unit_test(test_owner_from_shards),
	        cmocka_unit_test(test_owner_from_slots),
	        cmocka_unit_test(test_find_owner_without_seeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
