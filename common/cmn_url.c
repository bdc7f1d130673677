/*
 * cmn_url.c - percent-encoding; see cmn_url.h.
 */
#include "cmn_url.h"

#include <errno.h>
#include <stdbool.h>

#include "cmn_buf.h"

static const char hex[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

/* Bytes one input byte turns into: 1 when copied or '+', 3 for %XX. */
static size_t width(unsigned char c, unsigned flags)
{
	if (unreserved(c))
		return 1;
	if (c == ' ' && (flags & CMN_URL_SPACE_PLUS))
		return 1;
	if (c == '/' && (flags & CMN_URL_KEEP_SLASH))
		return 1;
	return 3;
}

size_t cmn_url_encoded_len(const void *s, size_t len, unsigned flags)
{
	const unsigned char *p = s;
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += width(p[i], flags);
	return n;
}

int cmn_url_encode(struct cmn_buf *out, const void *s, size_t len,
		   unsigned flags)
{
	const unsigned char *p = s;
	size_t need = cmn_url_encoded_len(s, len, flags);
	char *dst = cmn_buf_reserve(out, need);
	if (!dst)
		return -errno;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (width(c, flags) == 1) {
			*dst++ = c == ' ' ? '+' : (char)c;
			continue;
		}
		*dst++ = '%';
		*dst++ = hex[c >> 4];
		*dst++ = hex[c & 15];
	}
	out->len += need;
	out->data[out->len] = '\0';
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int cmn_url_decode(struct cmn_buf *out, const char *s, size_t len,
		   unsigned flags)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && (flags & CMN_URL_SPACE_PLUS)) {
			c = ' ';
		}
		int rc = cmn_buf_addc(out, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}
