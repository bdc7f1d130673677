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

/* The pieces the parallel driver (sel_par.c) shares with the sequential
 * one. */
struct sel_reader;
struct sel_src;
struct sel_stmt;
struct sel_eval;
struct sel_writer;
struct sel_field;

/* Set up rd over src (already open at the range's start, less one byte)
 * for rq's input format and st's FROM path, and open it.  0 or -errno. */
int sel_query_open_reader(struct sel_reader *rd, struct sel_src *src,
			  const struct sel_request *rq,
			  const struct sel_stmt *st,
			  const struct sel_range *range,
			  struct sel_error *err);

/* The format the evaluator binds for rq's input: a Parquet row is a JSON
 * object whose members are typed. */
int sel_query_eval_format(const struct sel_request *rq);

/* After binding ev: what the reader needs from it (columns to split, JSON
 * members to resolve). */
void sel_query_bound(struct sel_reader *rd, const struct sel_eval *ev,
		     int32_t max_col);

/* Stream rd's records through WHERE into the projection (written to w)
 * or the aggregates; stops after limit records when limit >= 0.  0 or
 * -errno with err filled. */
int sel_query_records(struct sel_reader *rd, struct sel_eval *ev,
		      struct sel_writer *w, int64_t limit,
		      struct sel_error *err);

#endif
