/*
 * cmn_url.h - percent-encoding of byte strings (form encoding).
 *
 * Used for S3 object keys in event records: AWS writes them form-encoded
 * (space as '+', every byte outside the unreserved set as %XX) but keeps
 * '/' as is.  Nothing here knows about S3; the caller picks the flags.
 */
#ifndef CMN_URL_H
#define CMN_URL_H

#include <stddef.h>

struct cmn_buf;

enum cmn_url_flags {
	CMN_URL_SPACE_PLUS = 1 << 0, /* ' ' -> '+' instead of %20 */
	CMN_URL_KEEP_SLASH = 1 << 1, /* '/' stays literal instead of %2F */
};

/* The AWS event-record key form: space -> '+', '/' kept. */
#define CMN_URL_AWS_KEY (CMN_URL_SPACE_PLUS | CMN_URL_KEEP_SLASH)

/* Append the encoding of len bytes at s to out.  Unreserved bytes
 * (A-Z a-z 0-9 - _ . ~) are copied, everything else becomes %XX with
 * uppercase hex of the byte (so UTF-8 is encoded byte by byte).  Returns
 * 0, or -E2BIG/-ENOMEM from the buffer (out may then hold a partial
 * encoding).  Pure function of its arguments: thread-safe. */
int cmn_url_encode(struct cmn_buf *out, const void *s, size_t len,
		   unsigned flags);

/* Length of the encoding cmn_url_encode() would append. */
size_t cmn_url_encoded_len(const void *s, size_t len, unsigned flags);

/* Append the form-decoding of len bytes at s to out: %XX becomes the byte,
 * '+' becomes a space when CMN_URL_SPACE_PLUS is set.  Returns 0, -EINVAL
 * for a '%' not followed by two hex digits, or -E2BIG/-ENOMEM. */
int cmn_url_decode(struct cmn_buf *out, const char *s, size_t len,
		   unsigned flags);

#endif
