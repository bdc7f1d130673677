/*
 * fuzz-sel_csv.c - libFuzzer harness for the CSV reader.  The first byte
 * picks the options (header mode, quote and escape characters, comments,
 * AllowQuotedRecordDelimiter, field and record delimiters, a scan range);
 * the rest is the object, queried with SELECT * and with a projection,
 * then read again as a GZIP or BZIP2 stream; the projection and an
 * aggregate also run in parallel with tiny chunks, which must give the
 * same bytes.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sel_err.h"
#include "sel_opts.h"
#include "sel_par_check.h"
#include "sel_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void query(const struct sel_request *base, const char *sql,
		  const uint8_t *data, size_t size)
{
	struct sel_request rq = *base;
	struct sel_error err;
	rq.sql = sql;
	rq.sql_len = strlen(sql);
	char *out;
	size_t n;
	par_check_run(&rq, data, size, &out, &n, &err);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sel_request rq;
	if (size < 1)
		return 0;
	uint8_t o = data[0];
	memset(&rq, 0, sizeof(rq));
	sel_opts_default_in(&rq.in, SEL_FMT_CSV);
	rq.in.header = o % 3;
	if (o & 4)
		rq.in.quote.s[0] = '\'';
	if (o & 8)
		rq.in.quote_escape.s[0] = '\\';
	if (o & 16)
		rq.in.allow_quoted_rd = true;
	if (o & 32) {
		rq.in.field_delim.s[0] = ';';
		rq.in.record_delim.len = 2;
		memcpy(rq.in.record_delim.s, "\r\n", 2);
	}
	if (o & 64)
		rq.in.comments.len = 0;
	if ((o & 128) && !rq.in.allow_quoted_rd) {
		rq.range.has_start = rq.range.has_end = true;
		rq.range.start = size / 4;
		rq.range.end = size / 2;
	}
	sel_opts_default_out(&rq.out, (o & 1) ? SEL_FMT_JSON : SEL_FMT_CSV);
	query(&rq, "SELECT * FROM S3Object", data + 1, size - 1);
	query(&rq,
	      "SELECT _3, UPPER(_1) || _2, COUNT(*) > 0 FROM S3Object s "
	      "WHERE _2 LIKE '%a%' OR _1 IS NULL",
	      data + 1, size - 1);
	query(&rq, "SELECT COUNT(*), MAX(_1), MIN(_2) FROM S3Object", data + 1,
	      size - 1);
	if (!rq.range.has_start) {
		struct sel_request p = rq;
		p.sql = "SELECT _2, _1 FROM S3Object WHERE _1 LIKE '%1%' OR "
			"CAST(_2 AS INT) > 3";
		p.sql_len = strlen(p.sql);
		sel_par_check(&p, data + 1, size - 1, 1 + o % 13);
		p.sql = "SELECT COUNT(*), SUM(CAST(_1 AS FLOAT)), MIN(_2), "
			"MAX(CAST(_3 AS INT)) FROM S3Object";
		p.sql_len = strlen(p.sql);
		sel_par_check(&p, data + 1, size - 1, 1 + o % 7);
	}
	/* The same bytes as a compressed object: corrupt and truncated
	 * streams must give an error, never a crash. */
	rq.range.has_start = rq.range.has_end = false;
	rq.in.compression = (o & 1) ? SEL_COMP_GZIP : SEL_COMP_BZIP2;
	query(&rq, "SELECT COUNT(*) FROM S3Object", data + 1, size - 1);
	return 0;
}
