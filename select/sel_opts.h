/*
 * sel_opts.h - a Select request: the SQL text, the input and output
 * serializations and the scan range, parsed from the JSON shapes of
 * `aws s3api select-object-content` (InputSerialization,
 * OutputSerialization) with jansson.
 */
#ifndef SEL_OPTS_H
#define SEL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sel_limits.h"

struct sel_error;

enum sel_format {
	SEL_FMT_NONE = 0,
	SEL_FMT_CSV,
	SEL_FMT_JSON,
	SEL_FMT_PARQUET
};
enum sel_comp { SEL_COMP_NONE = 0, SEL_COMP_GZIP, SEL_COMP_BZIP2 };
enum sel_header { SEL_HDR_NONE = 0, SEL_HDR_IGNORE, SEL_HDR_USE };

/* A delimiter: 0..SEL_MAX_DELIM bytes. */
struct sel_delim {
	uint8_t len;
	char s[SEL_MAX_DELIM];
};

struct sel_in_opts {
	int format;	 /* enum sel_format */
	int compression; /* enum sel_comp */
	/* CSV */
	int header; /* enum sel_header */
	struct sel_delim field_delim, record_delim, quote, quote_escape,
		comments;
	bool allow_quoted_rd;
	/* JSON */
	bool json_document;
	bool set; /* given explicitly (not inferred) */
};

struct sel_out_opts {
	int format; /* SEL_FMT_CSV or SEL_FMT_JSON */
	bool quote_always;
	struct sel_delim field_delim, record_delim, quote, quote_escape;
	bool set;
};

struct sel_range {
	bool has_start, has_end;
	uint64_t start, end;
};

struct sel_request {
	const char *sql; /* borrowed */
	size_t sql_len;
	struct sel_in_opts in;
	struct sel_out_opts out;
	struct sel_range range;
	/* Parallel runs (sel_par.h): threads to use (0: the default, 1:
	 * never parallel) and the chunk size in bytes (0: the default). */
	unsigned threads;
	uint64_t chunk;
	/* Set (by another thread), the run stops soon with an error: the
	 * caller gave up.  Borrowed; NULL: never. */
	const _Atomic bool *cancel;
};

/* Defaults: CSV in (FileHeaderInfo NONE, ',', '\n', '"', '"', '#'), CSV
 * out (ASNEEDED, ',', '\n', '"', '"'). */
void sel_opts_default_in(struct sel_in_opts *in, int format);
void sel_opts_default_out(struct sel_out_opts *out, int format);

/* Parse an InputSerialization JSON document into *in.  Returns 0 or
 * -EINVAL with err filled (MalformedXML, ObjectSerializationConflict,
 * InvalidFileHeaderInfo, InvalidJsonType, InvalidCompressionFormat,
 * InvalidRequestParameter, MissingRequiredParameter). */
int sel_opts_parse_in(const char *json, size_t len, struct sel_in_opts *in,
		      struct sel_error *err);

/* Parse an OutputSerialization JSON document into *out. */
int sel_opts_parse_out(const char *json, size_t len, struct sel_out_opts *out,
		       struct sel_error *err);

/* Parse "Start=N,End=M" (either part optional, order free). */
int sel_opts_parse_range(const char *text, size_t len, struct sel_range *r,
			 struct sel_error *err);

/* Set in->format and compression from a file name's extension (.csv .tsv
 * .json .ndjson .jsonl, then .gz / .bz2).  Returns 0 or -ENOENT. */
int sel_opts_infer(const char *name, struct sel_in_opts *in);

#endif
