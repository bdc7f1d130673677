/*
 * fs_bucket.c - S3 bucket-name rules, as AWS documents them for
 * general-purpose buckets.  Used by mkdir and rename at the mount root.
 */
#include "fs_bucket.h"

#include <string.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool has_prefix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && memcmp(s, p, n) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && memcmp(s + len - n, p, n) == 0;
}

/* "192.168.5.4" style names are refused even though each character is
 * allowed, because S3 would confuse them with addresses. */
static bool looks_like_ipv4(const char *s, size_t len)
{
	int parts = 0, digits = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (++digits > 3)
				return false;
		} else if (s[i] == '.') {
			if (digits == 0)
				return false;
			parts++;
			digits = 0;
		} else {
			return false;
		}
	}
	return digits > 0 && parts == 3;
}

bool fs_bucket_name_valid(const char *name, size_t len)
{
	static const char *const bad_prefix[] = {"xn--", "sthree-",
						 "amzn-s3-demo-"};
	static const char *const bad_suffix[] = {"-s3alias", "--ol-s3",
						 ".mrap", "--x-s3", "--table-s3"};

	if (len < 3 || len > 63)
		return false;
	if (!is_lower_alnum(name[0]) || !is_lower_alnum(name[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!is_lower_alnum(c) && c != '.' && c != '-')
			return false;
		if (c == '.' && i + 1 < len && name[i + 1] == '.')
			return false;
	}
	if (looks_like_ipv4(name, len))
		return false;
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(*bad_prefix); i++)
		if (has_prefix(name, len, bad_prefix[i]))
			return false;
	for (size_t i = 0; i < sizeof(bad_suffix) / sizeof(*bad_suffix); i++)
		if (has_suffix(name, len, bad_suffix[i]))
			return false;
	return true;
}
