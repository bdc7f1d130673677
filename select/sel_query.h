/*
 * sel_query.h - run one Select request over an object: the one code path
 * that both `bucketfs select` and .select scripts use.
 */
#ifndef SEL_QUERY_H
#define SEL_QUERY_H

#include <stdint.h>

#include "sel_opts.h"

struct sel_error;

/* S3's Stats message. */
struct sel_stats {
	uint64_t scanned;   /* BytesScanned: object bytes read */
	uint64_t processed; /* BytesProcessed: bytes after decompression */
	uint64_t returned;  /* BytesReturned: Records payload bytes */
};

/* Run rq over the object readable from in_fd and write the records to
 * out_fd.  Returns 0, or -EINVAL (bad query or request) / -EIO (data or
 * I/O error) with err filled; records written before an error stay
 * written.  stats may be NULL.  Thread-safe for different requests; memory
 * is bounded by the limits in sel_limits.h whatever the input size. */
int sel_query_run(const struct sel_request *rq, int in_fd, int out_fd,
		  struct sel_stats *stats, struct sel_error *err);

/* Parse the SQL of rq only (for early validation).  0 or -EINVAL. */
int sel_query_check(const char *sql, size_t len, struct sel_error *err);

#endif
