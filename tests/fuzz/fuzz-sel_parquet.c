/*
 * fuzz-sel_parquet.c - libFuzzer harness for the Parquet reader: the
 * Thrift footer and page headers (sel_pqmeta.c), pages, levels, encodings
 * and codecs (sel_parquet.c).  The first byte picks what runs: with its
 * top bit set the rest goes straight to the footer and page-header
 * decoders; otherwise the rest is the object and the byte picks the query
 * and the output format.  The corpus holds the test fixtures, whose
 * footers steer mutations into every page type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sel_err.h"
#include "sel_opts.h"
#include "sel_par_check.h"
#include "sel_pqmeta.h"
#include "sel_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const queries[] = {
	"SELECT * FROM S3Object",
	"SELECT COUNT(*) FROM S3Object",
	("SELECT COUNT(s.name), SUM(s.id), MIN(s.ts), MAX(s.d), SUM(s.price), "
	 "MAX(s.utf), SUM(s.wide) FROM S3Object s"),
	("SELECT s.nums[1], s.pt.y, s.tags FROM S3Object s "
	 "WHERE s.id > 1 OR s.colour = 'red'"),
	"SELECT s FROM S3Object s WHERE s.name LIKE 'al%'",
	"SELECT s.\"id\", s.NAME, s.third FROM S3Object s WHERE s.flag",
	"SELECT * FROM S3Object s WHERE s.id = 3 LIMIT 2",
	"SELECT s.ms, s.ns, s.tz, _1 FROM S3Object s",
	"SELECT s.sm, s.im.\"1\", s.id FROM S3Object s WHERE s.sm.a > 0",
};

static void footer(const uint8_t *p, size_t n)
{
	struct pq_meta m;
	struct pq_page pg;
	char msg[160];
	pq_meta_parse(p, n, &m, msg, sizeof(msg));
	pq_meta_free(&m);
	pq_page_parse(p, n, &pg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sel_request rq;
	struct sel_error err;
	if (size < 1)
		return 0;
	uint8_t o = data[0];
	if (o & 0x80) {
		footer(data + 1, size - 1);
		return 0;
	}
	memset(&rq, 0, sizeof(rq));
	sel_opts_default_in(&rq.in, SEL_FMT_PARQUET);
	sel_opts_default_out(&rq.out, (o & 1) ? SEL_FMT_JSON : SEL_FMT_CSV);
	if (o & 2) {
		rq.range.has_start = rq.range.has_end = true;
		rq.range.start = 0;
		rq.range.end = size / 2;
	}
	const char *sql =
		queries[(o >> 2) % (sizeof(queries) / sizeof(char *))];
	rq.sql = sql;
	rq.sql_len = strlen(sql);
	char *out;
	size_t n;
	par_check_run(&rq, data + 1, size - 1, &out, &n, &err);
	free(out);
	return 0;
}
