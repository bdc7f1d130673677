/*
 * ntf_utf8.c - strict UTF-8 validation; see ntf_utf8.h.
 */
#include "ntf_utf8.h"

static bool cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* Allowed range of the second byte for each lead byte (RFC 3629 table). */
static bool second_ok(unsigned char lead, unsigned char c)
{
	if (lead == 0xE0)
		return c >= 0xA0 && c <= 0xBF;
	if (lead == 0xED)
		return c >= 0x80 && c <= 0x9F;
	if (lead == 0xF0)
		return c >= 0x90 && c <= 0xBF;
	if (lead == 0xF4)
		return c >= 0x80 && c <= 0x8F;
	return cont(c);
}

size_t ntf_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (len < n || !second_ok(c, s[1]))
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!cont(s[i]))
			return 0;
	return n;
}

bool ntf_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i = 0;
	while (i < len) {
		if (p[i] == 0)
			return false;
		size_t n = ntf_utf8_seq(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}
