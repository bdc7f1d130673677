/*
 * cmn_md5.h - MD5 of several whole messages at once.
 *
 * An S3 eTag is the MD5 of the object, and a burst of small files means
 * a burst of small MD5s: one stream of MD5 is a chain of dependent
 * 32-bit additions that leaves most of a core idle.  With AVX2, eight
 * messages are hashed side by side in the eight 32-bit lanes of a vector
 * register (the multi-buffer technique of Intel's isa-l_crypto and
 * MinIO's md5-simd), for about a fifth of the time per message.  Without
 * AVX2 the same call hashes them one after another in portable C.
 *
 * This is for whole messages in memory; a large file is better streamed
 * through a single digest (OpenSSL's is faster than one lane of these).
 */
#ifndef CMN_MD5_H
#define CMN_MD5_H

#include <stdbool.h>
#include <stddef.h>

#define CMN_MD5_LANES 8

/* Whether cmn_md5_many() runs the eight lanes in parallel on this CPU. */
bool cmn_md5_parallel(void);

/* out[i] = MD5 of msg[i] (len[i] bytes; msg[i] may be NULL when len[i]
 * is 0) for i < n.  Messages of similar length should be passed together:
 * a group of eight takes as long as its longest message. */
void cmn_md5_many(size_t n, const unsigned char *const msg[],
		  const size_t len[], unsigned char out[][16]);

/* md as 32 lowercase hex digits and a NUL: the form of an S3 eTag. */
void cmn_md5_hex(const unsigned char md[16], char out[33]);

#endif
