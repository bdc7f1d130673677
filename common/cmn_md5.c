/*
 * cmn_md5.c - MD5 (RFC 1321) of several messages at once; see cmn_md5.h.
 *
 * The 64 steps are written once, as macros over a handful of lane
 * operations (add, and, or, xor, and-not, rotate), and expanded twice:
 * over uint32_t for the portable path, over __m256i for eight lanes.
 * Every lane walks its own message block by block; a lane whose message
 * has ended is fed a zero block and keeps its state (a blend), so lanes
 * of different lengths share one loop.  Each message's last one or two
 * blocks (the padding and the bit length) are built in a small buffer of
 * its own, so the message itself is only ever read, never copied whole.
 */
#include "cmn_md5.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MD5_HAVE_AVX2 1
#endif

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
	0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
	0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
	0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
	0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint32_t md5_init[4] = {0x67452301, 0xefcdab89, 0x98badcfe,
				     0x10325476};

/* One step: a = b + rotl(a + f(b, c, d) + K[i] + M[g], s).  The caller
 * rotates the roles of a..d from step to step instead of moving values. */
/* a + K + M does not depend on b, c, d; adding f last keeps f off the
 * dependency chain's critical path until the rotate. */
#define STEP(F, a, b, c, d, g, i, s)                                         \
	(a) = V_ADD((b), V_ROTL(V_ADD(V_ADD((a), V_ADD(V_K(i), m[g])),       \
				      F((b), (c), (d))),                     \
				s))
#define F1(b, c, d) V_XOR((d), V_AND((b), V_XOR((c), (d))))
#define F2(b, c, d) V_XOR((c), V_AND((d), V_XOR((b), (c))))
#define F3(b, c, d) V_XOR(V_XOR((b), (c)), (d))
#define F4(b, c, d) V_XOR((c), V_OR((b), V_NOT(d)))

#define ROUND4(F, i, g0, g1, g2, g3, s0, s1, s2, s3)                         \
	STEP(F, a, b, c, d, g0, (i), s0);                                    \
	STEP(F, d, a, b, c, g1, (i) + 1, s1);                                \
	STEP(F, c, d, a, b, g2, (i) + 2, s2);                                \
	STEP(F, b, c, d, a, g3, (i) + 3, s3)

/* The 64 steps over a, b, c, d and the message words m[16]. */
#define MD5_STEPS()                                                          \
	ROUND4(F1, 0, 0, 1, 2, 3, 7, 12, 17, 22);                            \
	ROUND4(F1, 4, 4, 5, 6, 7, 7, 12, 17, 22);                            \
	ROUND4(F1, 8, 8, 9, 10, 11, 7, 12, 17, 22);                          \
	ROUND4(F1, 12, 12, 13, 14, 15, 7, 12, 17, 22);                       \
	ROUND4(F2, 16, 1, 6, 11, 0, 5, 9, 14, 20);                           \
	ROUND4(F2, 20, 5, 10, 15, 4, 5, 9, 14, 20);                          \
	ROUND4(F2, 24, 9, 14, 3, 8, 5, 9, 14, 20);                           \
	ROUND4(F2, 28, 13, 2, 7, 12, 5, 9, 14, 20);                          \
	ROUND4(F3, 32, 5, 8, 11, 14, 4, 11, 16, 23);                         \
	ROUND4(F3, 36, 1, 4, 7, 10, 4, 11, 16, 23);                          \
	ROUND4(F3, 40, 13, 0, 3, 6, 4, 11, 16, 23);                          \
	ROUND4(F3, 44, 9, 12, 15, 2, 4, 11, 16, 23);                         \
	ROUND4(F4, 48, 0, 7, 14, 5, 6, 10, 15, 21);                          \
	ROUND4(F4, 52, 12, 3, 10, 1, 6, 10, 15, 21);                         \
	ROUND4(F4, 56, 8, 15, 6, 13, 6, 10, 15, 21);                         \
	ROUND4(F4, 60, 4, 11, 2, 9, 6, 10, 15, 21)

static uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void store_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* One message cut into blocks: the whole blocks are read in place, the
 * rest (with the padding and the length) is in tail. */
struct md5_lane {
	const unsigned char *data; /* borrowed */
	size_t full;               /* whole 64-byte blocks in data */
	size_t nblocks;            /* full + 1 or 2 tail blocks */
	unsigned char tail[128];
};

static void lane_init(struct md5_lane *l, const unsigned char *msg,
		      size_t len)
{
	size_t rem = len % 64;
	l->data = msg;
	l->full = len / 64;
	size_t ntail = rem < 56 ? 1 : 2;
	l->nblocks = l->full + ntail;
	memset(l->tail, 0, sizeof(l->tail));
	if (rem)
		memcpy(l->tail, msg + 64 * l->full, rem);
	l->tail[rem] = 0x80;
	uint64_t bits = (uint64_t)len << 3;
	unsigned char *end = l->tail + 64 * ntail - 8;
	store_le32(end, (uint32_t)bits);
	store_le32(end + 4, (uint32_t)(bits >> 32));
}

static const unsigned char *lane_block(const struct md5_lane *l, size_t i)
{
	return i < l->full ? l->data + 64 * i : l->tail + 64 * (i - l->full);
}

/* ---- one lane, portable --------------------------------------------- */

#define V_ADD(x, y) ((uint32_t)((x) + (y)))
#define V_AND(x, y) ((x) & (y))
#define V_OR(x, y) ((x) | (y))
#define V_XOR(x, y) ((x) ^ (y))
#define V_NOT(x) (~(x))
#define V_ROTL(x, s) ((uint32_t)(((x) << (s)) | ((x) >> (32 - (s)))))
#define V_K(i) md5_k[i]

static void md5_one(const struct md5_lane *l, unsigned char out[16])
{
	uint32_t h[4];
	memcpy(h, md5_init, sizeof(h));
	for (size_t blk = 0; blk < l->nblocks; blk++) {
		const unsigned char *p = lane_block(l, blk);
		uint32_t m[16];
		for (int w = 0; w < 16; w++)
			m[w] = load_le32(p + 4 * w);
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
		MD5_STEPS();
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
	}
	for (int w = 0; w < 4; w++)
		store_le32(out + 4 * w, h[w]);
}

#undef V_ADD
#undef V_AND
#undef V_OR
#undef V_XOR
#undef V_NOT
#undef V_ROTL
#undef V_K

/* ---- eight lanes, AVX2 ---------------------------------------------- */

#ifdef MD5_HAVE_AVX2

#define V_ADD(x, y) _mm256_add_epi32((x), (y))
#define V_AND(x, y) _mm256_and_si256((x), (y))
#define V_OR(x, y) _mm256_or_si256((x), (y))
#define V_XOR(x, y) _mm256_xor_si256((x), (y))
#define V_NOT(x) _mm256_xor_si256((x), ones)
#define V_ROTL(x, s)                                                         \
	_mm256_or_si256(_mm256_slli_epi32((x), (s)),                         \
			_mm256_srli_epi32((x), 32 - (s)))
#define V_K(i) _mm256_set1_epi32((int)md5_k[i])

/* Eight rows of eight 32-bit words, transposed in registers: out[w]
 * holds word w of every row. */
__attribute__((target("avx2"))) static void transpose8(const __m256i r[8],
						       __m256i out[8])
{
	__m256i t[8], u[8];
	for (int i = 0; i < 4; i++) {
		t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
	}
	/* u[0..3]: words 0|4, 1|5, 2|6, 3|7 of rows 0-3; u[4..7]: rows 4-7 */
	for (int h = 0; h < 2; h++) {
		__m256i *v = t + 4 * h;
		u[4 * h] = _mm256_unpacklo_epi64(v[0], v[2]);
		u[4 * h + 1] = _mm256_unpackhi_epi64(v[0], v[2]);
		u[4 * h + 2] = _mm256_unpacklo_epi64(v[1], v[3]);
		u[4 * h + 3] = _mm256_unpackhi_epi64(v[1], v[3]);
	}
	for (int w = 0; w < 4; w++) {
		out[w] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x20);
		out[w + 4] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x31);
	}
}

/* The words of one block of every lane, transposed: m[w] holds word w of
 * the eight lanes' blocks.  A lane past its end reads zeros.  (x86 is
 * little-endian, as MD5's words are.) */
__attribute__((target("avx2"))) static void
load_words(const struct md5_lane *lanes, size_t blk, __m256i m[16])
{
	static const unsigned char zero[64];
	const unsigned char *p[CMN_MD5_LANES];
	for (int l = 0; l < CMN_MD5_LANES; l++)
		p[l] = blk < lanes[l].nblocks ? lane_block(&lanes[l], blk)
					      : zero;
	for (int half = 0; half < 2; half++) {
		__m256i r[8];
		for (int l = 0; l < CMN_MD5_LANES; l++)
			r[l] = _mm256_loadu_si256(
				(const __m256i *)(p[l] + 32 * half));
		transpose8(r, m + 8 * half);
	}
}

__attribute__((target("avx2"))) static void
md5_eight(const struct md5_lane *lanes, unsigned char out[][16], size_t n)
{
	const __m256i ones = _mm256_set1_epi32(-1);
	__m256i h[4];
	for (int w = 0; w < 4; w++)
		h[w] = _mm256_set1_epi32((int)md5_init[w]);
	size_t most = 0;
	for (size_t l = 0; l < n; l++)
		if (lanes[l].nblocks > most)
			most = lanes[l].nblocks;
	for (size_t blk = 0; blk < most; blk++) {
		__m256i m[16];
		load_words(lanes, blk, m);
		__m256i a = h[0], b = h[1], c = h[2], d = h[3];
		MD5_STEPS();
		_Alignas(32) int32_t act[CMN_MD5_LANES];
		for (int l = 0; l < CMN_MD5_LANES; l++)
			act[l] = blk < lanes[l].nblocks ? -1 : 0;
		__m256i on = _mm256_load_si256((const __m256i *)act);
		__m256i r[4] = {a, b, c, d};
		for (int w = 0; w < 4; w++)
			h[w] = _mm256_blendv_epi8(
				h[w], _mm256_add_epi32(h[w], r[w]), on);
	}
	_Alignas(32) uint32_t v[4][CMN_MD5_LANES];
	for (int w = 0; w < 4; w++)
		_mm256_store_si256((__m256i *)v[w], h[w]);
	for (size_t l = 0; l < n; l++)
		for (int w = 0; w < 4; w++)
			store_le32(out[l] + 4 * w, v[w][l]);
}

#endif /* MD5_HAVE_AVX2 */

bool cmn_md5_parallel(void)
{
#ifdef MD5_HAVE_AVX2
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

void cmn_md5_many(size_t n, const unsigned char *const msg[],
		  const size_t len[], unsigned char out[][16])
{
	static const unsigned char none[1];
	bool wide = n >= 3 && cmn_md5_parallel();
	for (size_t at = 0; at < n;) {
		size_t k = n - at;
		if (k > CMN_MD5_LANES)
			k = CMN_MD5_LANES;
		/* A group takes as long as one lane's message alone in the
		 * portable code, so fewer than three are hashed one by one. */
		bool group = wide && k >= 3;
		if (!group)
			k = 1;
		struct md5_lane lanes[CMN_MD5_LANES];
		for (size_t l = 0; l < CMN_MD5_LANES; l++) {
			if (l < k)
				lane_init(&lanes[l],
					  msg[at + l] ? msg[at + l] : none,
					  len[at + l]);
			else
				lanes[l].nblocks = 0;
		}
#ifdef MD5_HAVE_AVX2
		if (group) {
			md5_eight(lanes, out + at, k);
			at += k;
			continue;
		}
#endif
		md5_one(&lanes[0], out[at]);
		at += k;
	}
}

void cmn_md5_hex(const unsigned char md[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[32] = '\0';
}
