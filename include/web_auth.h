/*
 * web_auth.h: gridweb's HTTP basic authentication (SPEC §12): the users
 * of auth_file ("user:hash" lines, crypt(3) hashes: yescrypt, bcrypt or
 * SHA-512), each password checked with crypt_r and compared in constant
 * time.
 */
#ifndef GR_WEB_AUTH_H
#define GR_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct web_auth;

/*
 * The users of path. NULL with one sentence in err ("users:3: ...") when
 * the file cannot be read or a line is not "user:hash" with a hash of a
 * kind above.
 */
struct web_auth *web_auth_load(const char *path, char *err, size_t errsz);
void web_auth_free(struct web_auth *a);
size_t web_auth_users(const struct web_auth *a);

/*
 * The user an Authorization header value ("Basic ...") authenticates, or
 * NULL (no header, another scheme, an unknown user, a wrong password).
 * A success is remembered for a few minutes (a keyed digest of the header,
 * never the password), so that a page's every request does not cost a
 * bcrypt; failures always cost one. Password checks are limited to 10 a
 * second (20 at once) for all clients together, so that guessing cannot
 * take the event loop: beyond that, NULL with *throttled set, and no check.
 */
const char *web_auth_check(struct web_auth *a, const char *header, bool *throttled);

#endif
