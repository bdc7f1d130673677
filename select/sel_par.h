/*
 * sel_par.h - the parallel query driver: one query over an uncompressed
 * regular file, cut into chunks of bytes that worker threads evaluate as
 * scan ranges, with the output and the aggregates put back together in
 * chunk order so the result is byte for byte the sequential one.
 *
 * S3's scan-range rule (a record belongs to the range holding its first
 * byte) gives every record to exactly one chunk, provided records end at
 * every record delimiter: CSV without AllowQuotedRecordDelimiter and with
 * a one-byte RecordDelimiter, and JSON LINES.  Parquet's rule is the same
 * with row groups for records (a row group belongs to the range holding
 * its first page).  Queries with LIMIT, with a scan range or over
 * compressed or unseekable input stay sequential.
 */
#ifndef SEL_PAR_H
#define SEL_PAR_H

#include <stdbool.h>
#include <stdint.h>

#include "sel_opts.h"

struct sel_error;
struct sel_eval;
struct sel_reader;
struct sel_stmt;
struct sel_writer;

/* Should rq (parsed into st) over fd run in parallel?  consumed: bytes
 * the sequential driver has read from fd so far.  *size: the object's
 * size when it should. */
bool sel_par_fits(const struct sel_request *rq, const struct sel_stmt *st,
		  int fd, uint64_t consumed, uint64_t *size);

/* Run rq over the size bytes of fd.  rd: the sequential driver's reader,
 * open at offset 0 (its CSV header is given to the chunks); ev: the
 * driver's evaluator, bound, which receives the merged aggregates; w: the
 * driver's writer (records go out through it, in order).  Returns 0 or
 * -errno with err filled; the records before an error are written, as in
 * a sequential run. */
int sel_par_run(const struct sel_request *rq, const struct sel_stmt *st, int fd,
		uint64_t size, struct sel_reader *rd, struct sel_eval *ev,
		struct sel_writer *w, struct sel_error *err);

#endif
