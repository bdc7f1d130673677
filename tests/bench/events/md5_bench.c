/*
 * md5_bench.c - eTag hashing: cmn_md5_many() (eight messages per call)
 * against OpenSSL's MD5 one message at a time, for message sizes from the
 * command line.  Prints microseconds per message and the ratio.
 * usage: md5_bench [SIZE...]   (default 100 4096 65536)
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_md5.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int bench(size_t size)
{
	enum { L = CMN_MD5_LANES };
	size_t total = 256u << 20; /* bytes hashed per contender */
	size_t rounds = total / (size * L) + 1;
	unsigned char *buf = malloc(size * L + 1);
	EVP_MD_CTX *cx = EVP_MD_CTX_new();
	/* fetched once, as the hasher does: an implicit fetch per message
	 * costs more than hashing 100 bytes */
	EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	if (!buf || !cx || !md5)
		return 1;
	for (size_t i = 0; i < size * L; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	const unsigned char *msg[L];
	size_t len[L];
	unsigned char out[L][16], ref[16];
	for (int l = 0; l < L; l++) {
		msg[l] = buf + (size_t)l * size;
		len[l] = size;
	}
	double t0 = now();
	for (size_t r = 0; r < rounds; r++)
		cmn_md5_many(L, msg, len, out);
	double t1 = now();
	unsigned int n = 0;
	for (size_t r = 0; r < rounds; r++)
		for (int l = 0; l < L; l++)
			if (!EVP_DigestInit_ex(cx, md5, NULL) ||
			    !EVP_DigestUpdate(cx, msg[l], size) ||
			    !EVP_DigestFinal_ex(cx, ref, &n))
				return 1;
	double t2 = now();
	if (memcmp(ref, out[L - 1], 16) != 0) {
		fprintf(stderr, "md5_bench: digests differ\n");
		return 1;
	}
	double per = 1e6 / (double)(rounds * L);
	printf("%8zu B  cmn_md5_many %8.2f us/msg  openssl %8.2f us/msg  "
	       "%.2fx\n",
	       size, (t1 - t0) * per, (t2 - t1) * per, (t2 - t1) / (t1 - t0));
	EVP_MD_free(md5);
	EVP_MD_CTX_free(cx);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	printf("cmn_md5: %s\n", cmn_md5_parallel() ? "eight lanes (AVX2)"
						  : "one lane (no AVX2)");
	if (argc < 2) {
		static const size_t def[] = {100, 4096, 65536};
		for (size_t i = 0; i < 3; i++)
			if (bench(def[i]))
				return 1;
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (bench(strtoul(argv[i], NULL, 10)))
			return 1;
	return 0;
}
