/*
 * fuzz-sel_parser.c - libFuzzer harness for the S3 Select SQL parser: the
 * input is an expression; it is parsed, and when it parses it is also run
 * over a small CSV and a small JSON object so the binder and evaluator see
 * it too.  No crash, leak or unbounded memory is acceptable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sel_err.h"
#include "sel_limits.h"
#include "sel_opts.h"
#include "sel_par_check.h"
#include "sel_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const char *sql, size_t len, int format, const char *text)
{
	struct sel_request rq;
	struct sel_error err;
	memset(&rq, 0, sizeof(rq));
	rq.sql = sql;
	rq.sql_len = len;
	sel_opts_default_in(&rq.in, format);
	rq.in.header = SEL_HDR_USE;
	rq.in.json_document = false;
	sel_opts_default_out(&rq.out, SEL_FMT_JSON);
	int in = par_check_memfile(text), out = memfd_create("fuzz-out", 0);
	if (in >= 0 && out >= 0)
		sel_query_run(&rq, in, out, NULL, &err);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sel_error err;
	if (size > SEL_MAX_EXPR_LEN + 16)
		return 0;
	char *sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = '\0';
	if (sel_query_check(sql, size, &err) == 0 && size < 4096) {
		run(sql, size, SEL_FMT_CSV, "a,b,c\n1,x,2010T\n,\"q\"\"\",3\n");
		run(sql, size, SEL_FMT_JSON,
		    "{\"a\":1,\"b\":{\"c\":[1,\"x\"]},\"d\":null}\n[1,2]"
		    "\n\"s\"\n");
	}
	free(sql);
	return 0;
}
