/*
 * sha1.h: SHA-1 (FIPS 180-4) of a byte string, as 40 lowercase hex digits:
 * the report_sha1 of an incident (SPEC §8), which tells a backend's retry
 * of the same report from another report that reuses its id.
 */
#ifndef GR_SHA1_H
#define GR_SHA1_H

#include <stddef.h>
#include <stdint.h>

void sha1(const void *p, size_t len, uint8_t out[20]);
/* out gets 40 hex digits and a NUL. */
void sha1_hex(const void *p, size_t len, char out[41]);

#endif
