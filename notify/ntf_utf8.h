/*
 * ntf_utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), shared by the record escaper and
 * the configuration parser.  Pure functions: thread-safe.
 */
#ifndef NTF_UTF8_H
#define NTF_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence starting at s (len > 0 bytes
 * available), or 0 when the bytes there are not valid UTF-8. */
size_t ntf_utf8_seq(const unsigned char *s, size_t len);

/* True when all len bytes at s are valid UTF-8 and contain no NUL. */
bool ntf_utf8_valid(const void *s, size_t len);

#endif
