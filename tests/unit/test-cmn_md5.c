/*
 * test-cmn_md5.c - cmn_md5_many() against RFC 1321's vectors and against
 * OpenSSL's MD5, over every length around the padding boundaries and
 * groups of one to twenty messages of mixed lengths (so lanes end at
 * different blocks, and the last group is partial).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "cmn_md5.h"

static void hex(const unsigned char d[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void openssl_md5(const unsigned char *p, size_t n, unsigned char d[16])
{
	unsigned int len = 0;
	assert_true(EVP_Digest(p, n, d, &len, EVP_md5(), NULL));
	assert_int_equal(len, 16);
}

/* RFC 1321 §A.5. */
static void test_rfc_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *md5;
	} v[] = {
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"a", "0cc175b9c0f1b6a831c399e269772661"},
		{"abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
		{"abcdefghijklmnopqrstuvwxyz",
		 "c3fcd3d76192e4007dfb496cca67e13b"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		 "d174ab98d277d9f5a5611c2c9f419d9f"},
		{"1234567890123456789012345678901234567890123456789012345678901"
		 "2345678901234567890",
		 "57edf4a22be3c955ac49da2e2107b67a"},
	};
	enum { N = sizeof(v) / sizeof(v[0]) };
	const unsigned char *msg[N];
	size_t len[N];
	unsigned char out[N][16];
	for (size_t i = 0; i < N; i++) {
		msg[i] = (const unsigned char *)v[i].in;
		len[i] = strlen(v[i].in);
	}
	cmn_md5_many(N, msg, len, out); /* one group of 7 */
	for (size_t i = 0; i < N; i++) {
		char h[33];
		hex(out[i], h);
		assert_string_equal(h, v[i].md5);
		cmn_md5_many(1, &msg[i], &len[i], out); /* alone */
		hex(out[0], h);
		assert_string_equal(h, v[i].md5);
	}
}

/* Every length 0..300 (each padding case: tail < 56, = 56..63, = 0). */
static void test_every_length(void **state)
{
	(void)state;
	unsigned char buf[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		const unsigned char *msg[8];
		size_t len[8];
		unsigned char out[8][16], want[16];
		/* eight lanes, each a different suffix, so lengths differ */
		for (int l = 0; l < 8; l++) {
			len[l] = n >= (size_t)l ? n - (size_t)l : 0;
			msg[l] = buf + (n - len[l]);
		}
		cmn_md5_many(8, msg, len, out);
		for (int l = 0; l < 8; l++) {
			openssl_md5(msg[l], len[l], want);
			assert_memory_equal(out[l], want, 16);
		}
	}
}

/* Random groups: 1..20 messages of 0..5000 bytes, NULL for empty ones. */
static void test_random_groups(void **state)
{
	(void)state;
	enum { MAXN = 20, MAXLEN = 5000 };
	unsigned char *data = malloc(MAXN * MAXLEN);
	assert_non_null(data);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < MAXN * MAXLEN; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (unsigned char)x;
	}
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + (size_t)(x % MAXN);
		const unsigned char *msg[MAXN];
		size_t len[MAXN];
		unsigned char out[MAXN][16], want[16];
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			len[i] = (size_t)(x % (MAXLEN + 1));
			if (x & 0x100000)
				len[i] &= ~(size_t)63; /* whole blocks too */
			msg[i] = len[i] ? data + i * MAXLEN : NULL;
		}
		cmn_md5_many(n, msg, len, out);
		for (size_t i = 0; i < n; i++) {
			openssl_md5(msg[i] ? msg[i] : data, len[i], want);
			assert_memory_equal(out[i], want, 16);
		}
	}
	free(data);
}

int main(void)
{
	printf("# cmn_md5: %s\n", cmn_md5_parallel() ? "eight lanes (AVX2)"
						    : "one lane");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vectors),
		cmocka_unit_test(test_every_length),
		cmocka_unit_test(test_random_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
