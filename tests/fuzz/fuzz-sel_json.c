/*
 * fuzz-sel_json.c - libFuzzer harness for the JSON reader (LINES and
 * DOCUMENT) and the path evaluator.  The first byte picks the type, the
 * output format, compression-free scan ranges and the query; the rest is
 * the object.  Without a scan range the query also runs in parallel with
 * tiny chunks, which must give the same bytes.
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

static const char *const queries[] = {
	"SELECT * FROM S3Object",
	("SELECT s.a, s.b.c[1], s.\"x y\", s.a[0].b FROM S3Object s "
	 "WHERE s.d IS NOT MISSING OR 2 IN s.v"),
	"SELECT r.id, _1 FROM S3Object[*].Rules[*] r",
	"SELECT COUNT(*), SUM(s.n), AVG(s.n), MIN(s.t), MAX(s.t) FROM S3Object "
	"s",
	"SELECT s.* FROM S3Object[*].*[*] s",
	"SELECT CAST(s.n AS STRING) || s.t, CHAR_LENGTH(s.t) FROM S3Object s",
	"SELECT s FROM S3Object s",
	"SELECT s.a FROM S3Object[*][1].b s",
	("SELECT s.a[*].b, s.o.*, s.n[*][*], s.\"A\" FROM S3Object s "
	 "WHERE s.name LIKE 'ali%' OR 8.5 IN s.n[*][*]"),
	"SELECT s.id, s.name FROM S3Object s WHERE CAST(s.age AS INT) > 60",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sel_request rq;
	struct sel_error err;
	if (size < 1)
		return 0;
	uint8_t o = data[0];
	memset(&rq, 0, sizeof(rq));
	sel_opts_default_in(&rq.in, SEL_FMT_JSON);
	rq.in.json_document = o & 1;
	sel_opts_default_out(&rq.out, (o & 2) ? SEL_FMT_JSON : SEL_FMT_CSV);
	if ((o & 4) && !rq.in.json_document) {
		rq.range.has_start = rq.range.has_end = true;
		rq.range.start = size / 3;
		rq.range.end = size;
	}
	const char *sql =
		queries[(o >> 3) % (sizeof(queries) / sizeof(char *))];
	rq.sql = sql;
	rq.sql_len = strlen(sql);
	char *out;
	size_t n;
	par_check_run(&rq, data + 1, size - 1, &out, &n, &err);
	free(out);
	if (!rq.range.has_start && size > 1)
		sel_par_check(&rq, data + 1, size - 1, 1 + (o >> 5) % 9);
	return 0;
}
