/*
 * sel_cli.c - `bucketfs select FILE EXPRESSION [options]`: the shell face
 * of the engine, for scripts, tests and benchmarks.  Runs the same driver
 * (sel_query_run) as .select scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "select.h"
#include "sel_err.h"
#include "sel_opts.h"
#include "sel_query.h"

static void usage(void)
{
	fputs("usage: bucketfs select FILE EXPRESSION [options]\n"
	      "  FILE '-' reads stdin\n"
	      "  --input-serialization JSON   e.g. "
	      "'{\"CSV\":{\"FileHeaderInfo\":\"USE\"}}'\n"
	      "  --output-serialization JSON  e.g. '{\"JSON\":{}}'\n"
	      "  --scan-range Start=N,End=M\n"
	      "  --csv  --header  --json-lines  --json-document  --parquet\n"
	      "  --output json|csv  --stats\n"
	      "  --threads N  --chunk-size BYTES  (parallel runs over large\n"
	      "               uncompressed files; --threads 1: never)\n",
	      stderr);
}

/* First line "Code: message"; for a query error, the query line with a
 * caret under the column. */
static void report(const struct sel_error *err, const char *sql)
{
	fprintf(stderr, "%s: %s\n", err->code, err->message);
	if (err->line <= 0 || err->column <= 0 || !sql)
		return;
	const char *p = sql;
	for (int l = 1; l < err->line && p; l++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return;
	size_t n = strcspn(p, "\n");
	fprintf(stderr, "  %.*s\n  ", (int)n, p);
	int col = 1;
	for (size_t i = 0; i < n && col < err->column; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c & 0xC0) == 0x80)
			continue;
		fputc(c == '\t' ? '\t' : ' ', stderr);
		col++;
	}
	fputs("^\n", stderr);
	fprintf(stderr, "  (line %d, column %d)\n", err->line, err->column);
}

struct cli {
	const char *file, *sql;
	const char *in_json, *out_json, *range, *threads, *chunk;
	bool csv, header, json_lines, json_doc, parquet, stats;
	const char *output;
};

static int parse_args(int argc, char **argv, struct cli *c)
{
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;
		if (strcmp(a, "--input-serialization") == 0)
			val = &c->in_json;
		else if (strcmp(a, "--output-serialization") == 0)
			val = &c->out_json;
		else if (strcmp(a, "--scan-range") == 0)
			val = &c->range;
		else if (strcmp(a, "--output") == 0)
			val = &c->output;
		else if (strcmp(a, "--threads") == 0)
			val = &c->threads;
		else if (strcmp(a, "--chunk-size") == 0)
			val = &c->chunk;
		else if (strcmp(a, "--csv") == 0)
			c->csv = true;
		else if (strcmp(a, "--header") == 0)
			c->header = true;
		else if (strcmp(a, "--json-lines") == 0)
			c->json_lines = true;
		else if (strcmp(a, "--json-document") == 0)
			c->json_doc = true;
		else if (strcmp(a, "--parquet") == 0)
			c->parquet = true;
		else if (strcmp(a, "--stats") == 0)
			c->stats = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return -1;
		else if (a[0] == '-' && a[1] == '-')
			return -1;
		else if (pos == 0 && ++pos)
			c->file = a;
		else if (pos == 1 && ++pos)
			c->sql = a;
		else
			return -1;
		if (val) {
			if (++i >= argc)
				return -1;
			*val = argv[i];
		}
	}
	return c->file && c->sql ? 0 : -1;
}

/* A decimal number in [lo, hi]: 0, or -EINVAL. */
static int number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int build(const struct cli *c, struct sel_request *rq,
		 struct sel_error *err)
{
	uint64_t v = 0;
	int r;
	rq->sql = c->sql;
	rq->sql_len = strlen(c->sql);
	if (c->in_json) {
		if ((r = sel_opts_parse_in(c->in_json, strlen(c->in_json),
					   &rq->in, err)))
			return r;
	} else if (c->parquet) {
		sel_opts_default_in(&rq->in, SEL_FMT_PARQUET);
	} else if (c->json_lines || c->json_doc) {
		sel_opts_default_in(&rq->in, SEL_FMT_JSON);
		rq->in.json_document = c->json_doc;
	} else if (c->csv || c->header ||
		   sel_opts_infer(c->file, &rq->in) < 0) {
		sel_opts_default_in(&rq->in, SEL_FMT_CSV);
	}
	if (c->header && rq->in.format == SEL_FMT_CSV)
		rq->in.header = SEL_HDR_USE;
	sel_opts_default_out(&rq->out, SEL_FMT_CSV);
	if (c->output && strcmp(c->output, "json") == 0)
		sel_opts_default_out(&rq->out, SEL_FMT_JSON);
	else if (c->output && strcmp(c->output, "csv") != 0)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "--output takes json or csv");
	if (c->out_json &&
	    (r = sel_opts_parse_out(c->out_json, strlen(c->out_json), &rq->out,
				    err)))
		return r;
	if (c->range && (r = sel_opts_parse_range(c->range, strlen(c->range),
						  &rq->range, err)))
		return r;
	if (c->threads && number(c->threads, 1, 1024, &v) < 0)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "--threads takes a number from 1");
	rq->threads = c->threads ? (unsigned)v : 0;
	if (c->chunk && number(c->chunk, 1, UINT64_MAX / 4, &v) < 0)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "--chunk-size takes a number of bytes");
	rq->chunk = c->chunk ? v : 0;
	return 0;
}

int sel_cli_main(int argc, char **argv)
{
	struct cli c = {0};
	struct sel_request rq;
	struct sel_error err;
	struct sel_stats st = {0};
	memset(&rq, 0, sizeof(rq));
	memset(&err, 0, sizeof(err));
	if (parse_args(argc, argv, &c) < 0) {
		usage();
		return 2;
	}
	if (build(&c, &rq, &err)) {
		report(&err, NULL);
		return 1;
	}
	int fd = strcmp(c.file, "-") == 0 ? 0 : open(c.file, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "NoSuchKey: %s: %s\n", c.file, strerror(errno));
		return 1;
	}
	int r = sel_query_run(&rq, fd, 1, &st, &err);
	if (fd != 0)
		close(fd);
	/* The error comes first: scripts read the code from stderr's first
	 * line, with or without --stats. */
	if (r)
		report(&err, c.sql);
	if (c.stats)
		fprintf(stderr,
			"<Stats><BytesScanned>%" PRIu64
			"</BytesScanned><BytesProcessed>%" PRIu64
			"</BytesProcessed><BytesReturned>%" PRIu64
			"</BytesReturned></Stats>\n",
			st.scanned, st.processed, st.returned);
	return r ? 1 : 0;
}
