/*
 * sel_script.c - .select files: "-- key: value" header lines (source,
 * input, output, scan-range) followed by the SQL, and running one over an
 * object through the same driver as the CLI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "select.h"
#include "sel_err.h"
#include "sel_limits.h"
#include "sel_opts.h"
#include "sel_query.h"

struct sel_script {
	char *source;
	char *sql;
	size_t sql_len;
	struct sel_in_opts in;
	struct sel_out_opts out;
	struct sel_range range;
	int sql_line; /* line of the SQL's first line in the file */
};

static const char *skip_blank(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* One "-- key: value" line; returns 1 when it was a header line, 0 when
 * the SQL starts here, -EINVAL on a bad value. */
static int header_line(struct sel_script *s, const char *p, const char *e,
		       struct sel_error *err)
{
	static const char *const keys[] = {"source", "input", "output",
					   "scan-range"};
	p = skip_blank(p, e);
	if (e - p < 2 || p[0] != '-' || p[1] != '-')
		return 0;
	p = skip_blank(p + 2, e);
	const char *colon = memchr(p, ':', (size_t)(e - p));
	if (!colon)
		return 0;
	int key = -1;
	for (int i = 0; i < 4; i++)
		if (strlen(keys[i]) == (size_t)(colon - p) &&
		    strncasecmp(keys[i], p, (size_t)(colon - p)) == 0)
			key = i;
	if (key < 0)
		return 0;
	const char *v = skip_blank(colon + 1, e);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	size_t n = (size_t)(e - v);
	switch (key) {
	case 0:
		free(s->source);
		s->source = strndup(v, n);
		return s->source ? 1 : -ENOMEM;
	case 1:
		return sel_opts_parse_in(v, n, &s->in, err) ? -EINVAL : 1;
	case 2:
		return sel_opts_parse_out(v, n, &s->out, err) ? -EINVAL : 1;
	default:
		return sel_opts_parse_range(v, n, &s->range, err) ? -EINVAL : 1;
	}
}

static int parse_headers(struct sel_script *s, const char *text, size_t len,
			 size_t *sql_off, struct sel_error *err)
{
	size_t k = 0;
	s->sql_line = 1;
	while (k < len) {
		const char *nl = memchr(text + k, '\n', len - k);
		const char *e = nl ? nl : text + len;
		int r = header_line(s, text + k, e, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		k = nl ? (size_t)(nl - text) + 1 : len;
		s->sql_line++;
	}
	*sql_off = k;
	return 0;
}

int sel_script_parse(const char *text, size_t len, struct sel_script **out,
		     struct sel_error *err)
{
	struct sel_script *s = calloc(1, sizeof(*s));
	size_t off = 0;
	int r;
	memset(err, 0, sizeof(*err));
	if (!s)
		return -ENOMEM;
	sel_opts_default_out(&s->out, SEL_FMT_CSV);
	if (len > SEL_MAX_SCRIPT) {
		r = sel_err_set(err, SEL_E_ExpressionTooLong, 0, 0,
				"the .select file is longer than %u bytes",
				SEL_MAX_SCRIPT);
		goto fail;
	}
	if ((r = parse_headers(s, text, len, &off, err)))
		goto fail;
	/* All of it, NUL bytes included (the lexer refuses them): strndup
	 * stopped at the first and left sql_len past the copy. */
	s->sql_len = len - off;
	s->sql = malloc(s->sql_len + 1);
	if (!s->sql) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(s->sql, text + off, s->sql_len);
	s->sql[s->sql_len] = '\0';
	if ((r = sel_query_check(s->sql, s->sql_len, err))) {
		if (err->line)
			err->line += s->sql_line - 1;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (!err->code[0])
		sel_err_set(err, SEL_E_InternalError, 0, 0, "out of memory");
	sel_script_free(s);
	return -EINVAL;
}

void sel_script_free(struct sel_script *s)
{
	if (!s)
		return;
	free(s->source);
	free(s->sql);
	free(s);
}

const char *sel_script_source(const struct sel_script *s)
{
	return s->source;
}

const char *sel_script_query(const struct sel_script *s)
{
	return s->sql;
}

/* The input serialization of a script without an "-- input:" line, from
 * the source's extension.  Unlike S3 (and `bucketfs select`), whose
 * FileHeaderInfo defaults to NONE, an inferred CSV or TSV input uses its
 * first line as the header: a file of people's data almost always has one,
 * and `SELECT s.name FROM S3Object s` is what people write against it. */
static int infer_input(const char *source_name, struct sel_in_opts *in)
{
	int r = sel_opts_infer(source_name, in);
	if (r < 0)
		return r;
	if (in->format == SEL_FMT_CSV)
		in->header = SEL_HDR_USE;
	return 0;
}

int sel_script_run(const struct sel_script *s, const char *source_name,
		   int in_fd, int out_fd, const _Atomic bool *cancel,
		   struct sel_error *err)
{
	struct sel_request rq = {
		.sql = s->sql,
		.sql_len = s->sql_len,
		.in = s->in,
		.out = s->out,
		.range = s->range,
		.cancel = cancel,
	};
	memset(err, 0, sizeof(*err));
	if (!rq.in.set && infer_input(source_name, &rq.in) < 0)
		return sel_err_set(err, SEL_E_InvalidDataSource, 0, 0,
				   "cannot tell the input format of '%s': add "
				   "an \"-- input:\" line",
				   source_name ? source_name : "(none)");
	int r = sel_query_run(&rq, in_fd, out_fd, NULL, err);
	if (r && err->line)
		err->line += s->sql_line - 1;
	return r;
}
