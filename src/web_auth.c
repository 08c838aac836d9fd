/*
 * web_auth.c: basic authentication against crypt(3) hashes. Unknown users
 * cost a crypt_r too (against the first user's setting), and hashes are
 * compared in constant time, so that neither the names nor the hashes
 * can be found by timing.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "sha1.h"
#include "timeutil.h"
#include "web_auth.h"

#define AUTH_MAX_FILE   (1024 * 1024)
#define AUTH_MAX_HEADER 1024
#define REMEMBER_MS     (5 * 60 * 1000)
#define REMEMBERED      32
/* password checks a second, and as many at once: what crypt_r may take of the loop */
#define CHECKS_PER_S 10
#define CHECKS_BURST 20

struct user {
	char *name;
	char *hash;
};

struct web_auth {
	struct user *users;
	size_t n;
	struct crypt_data *cd; /* crypt_r's work area: large, allocated once */
	uint8_t key[32];       /* keys the remembered digests */
	struct {
		uint8_t digest[20];
		size_t user;
		int64_t until;
	} seen[REMEMBERED];
	size_t next;
	double tokens; /* password checks allowed now (CHECKS_PER_S, up to CHECKS_BURST) */
	int64_t refilled;
};

static bool hash_kind_ok(const char *h)
{
	return strncmp(h, "$y$", 3) == 0 || strncmp(h, "$2b$", 4) == 0 ||
	       strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2a$", 4) == 0 ||
	       strncmp(h, "$6$", 3) == 0;
}

struct web_auth *web_auth_load(const char *path, char *err, size_t errsz)
{
	struct web_auth *a;
	char *text;
	size_t len, lineno = 0;

	if (read_small_file(path, AUTH_MAX_FILE, &text, &len) < 0) {
		snprintf(err, errsz, "%s: error: cannot read the users file", path);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line || !hash_kind_ok(colon + 1)) {
			snprintf(err, errsz,
			         "%s:%zu: error: expected \"user:hash\" with a yescrypt ($y$), "
			         "bcrypt "
			         "($2b$) or SHA-512 ($6$) hash",
			         path, lineno);
			free(text);
			web_auth_free(a);
			return NULL;
		}
		*colon = '\0';
		a->users = xreallocarray(a->users, a->n + 1, sizeof(*a->users));
		a->users[a->n].name = xstrdup(line);
		a->users[a->n].hash = xstrdup(colon + 1);
		a->n++;
	}
	explicit_bzero(text, len);
	free(text);
	if (a->n == 0) {
		snprintf(err, errsz, "%s: error: no user in the users file", path);
		web_auth_free(a);
		return NULL;
	}
	a->cd = xcalloc(1, sizeof(*a->cd));
	a->tokens = CHECKS_BURST;
	a->refilled = time_now_ms();
	if (getrandom(a->key, sizeof(a->key), 0) != (ssize_t)sizeof(a->key))
		fatal("getrandom");
	return a;
}

void web_auth_free(struct web_auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->users[i].name);
		explicit_bzero(a->users[i].hash, strlen(a->users[i].hash));
		free(a->users[i].hash);
	}
	free(a->users);
	if (a->cd != NULL)
		explicit_bzero(a->cd, sizeof(*a->cd));
	free(a->cd);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

size_t web_auth_users(const struct web_auth *a)
{
	return a->n;
}

/* Equal, in time that depends on the lengths only. */
static bool same(const void *x, size_t xlen, const void *y, size_t ylen)
{
	const unsigned char *p = x, *q = y;
	unsigned char d = xlen != ylen;
	size_t n = xlen < ylen ? xlen : ylen;

	for (size_t i = 0; i < n; i++)
		d |= p[i] ^ q[i];
	return d == 0;
}

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* RFC 4648 base64 with padding into out (NUL-terminated); its length, or -1. */
static long unbase64(const char *s, char *out, size_t outsz)
{
	size_t len = strlen(s), o = 0;

	if (len % 4 != 0 || len / 4 * 3 >= outsz)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++)
			v[k] = s[i + k] == '=' && i + 4 == len && k >= 2
			               ? 0
			               : b64((unsigned char)s[i + k]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 ||
		    (s[i + 2] == '=' && s[i + 3] != '='))
			return -1;
		unsigned n = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		             (unsigned)v[3];
		out[o++] = (char)(n >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(n >> 8 & 0xff);
		if (s[i + 3] != '=')
			out[o++] = (char)(n & 0xff);
	}
	out[o] = '\0';
	return (long)o;
}

static void digest(const struct web_auth *a, const char *header, uint8_t out[20])
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, a->key, sizeof(a->key));
	buf_puts(&b, header);
	sha1(b.data, b.len, out);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
}

/* One password check, if the bucket has one: false when they come too fast. */
static bool take_check(struct web_auth *a, int64_t now)
{
	if (now > a->refilled) {
		a->tokens += (double)(now - a->refilled) * CHECKS_PER_S / 1000.0;
		if (a->tokens > CHECKS_BURST)
			a->tokens = CHECKS_BURST;
		a->refilled = now;
	}
	if (a->tokens < 1.0)
		return false;
	a->tokens -= 1.0;
	return true;
}

const char *web_auth_check(struct web_auth *a, const char *header, bool *throttled)
{
	char cred[AUTH_MAX_HEADER];
	uint8_t d[20];
	int64_t now = time_now_ms();

	*throttled = false;
	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0 ||
	    strlen(header) >= AUTH_MAX_HEADER)
		return NULL;
	const char *b = header + 6;
	while (*b == ' ')
		b++;
	digest(a, b, d);
	for (size_t i = 0; i < REMEMBERED; i++) {
		if (a->seen[i].until > now && same(a->seen[i].digest, 20, d, 20))
			return a->users[a->seen[i].user].name;
	}
	*throttled = !take_check(a, now);
	if (*throttled)
		return NULL;
	long n = unbase64(b, cred, sizeof(cred));
	char *colon = n > 0 ? memchr(cred, ':', (size_t)n) : NULL;
	if (colon == NULL) {
		explicit_bzero(cred, sizeof(cred));
		return NULL;
	}
	*colon = '\0';
	size_t u = 0;
	while (u < a->n && strcmp(a->users[u].name, cred) != 0)
		u++;
	/* an unknown user costs as much as a known one */
	const char *setting = a->users[u < a->n ? u : 0].hash;
	const char *got = crypt_r(colon + 1, setting, a->cd);
	bool ok = got != NULL && got[0] != '*' && u < a->n &&
	          same(got, strlen(got), a->users[u].hash, strlen(a->users[u].hash));
	explicit_bzero(cred, sizeof(cred));
	explicit_bzero(a->cd, sizeof(*a->cd));
	if (!ok)
		return NULL;
	memcpy(a->seen[a->next].digest, d, 20);
	a->seen[a->next].user = u;
	a->seen[a->next].until = now + REMEMBER_MS;
	a->next = (a->next + 1) % REMEMBERED;
	return a->users[u].name;
}
