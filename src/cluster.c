/*
 * cluster.c: Redis Cluster, for clients whose keys are all in one slot
 * (include/cluster.h): the pure part — the slot of a key, which prefixes
 * keep all their keys in one slot, what an error reply means. The config
 * checks prefixes with it; cluster_seed.c asks the nodes.
 */
#include <stdio.h>
#include <string.h>

#include "cluster.h"
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

void cluster_node_format(const struct cluster_node *n, char *out, size_t outsz)
{
	if (strchr(n->host, ':') != NULL)
		snprintf(out, outsz, "[%s]:%d", n->host, n->port);
	else
		snprintf(out, outsz, "%s:%d", n->host, n->port);
}
