/*
 * select.h - the S3 Select engine's public interface.
 *
 * Two entry points: `.select` scripts (a query plus optional header lines
 * naming the source and the serializations), which the FUSE layer runs when
 * such a file is opened, and the `bucketfs select` subcommand.  Both run the
 * same code path: parse, bind, stream the object record by record, write the
 * result.  Nothing here knows about FUSE.
 */
#ifndef SELECT_H
#define SELECT_H

#include <stdbool.h>
#include <stddef.h>

/* An S3 error: code ("CastFailed"), message, and for query errors the
 * 1-based line and column of the offending token (0 when not applicable). */
struct sel_error {
	char code[64];
	char message[512];
	int line;
	int column;
};

struct sel_script;

/* Parse a .select file: optional leading "-- source: KEY", "-- input: <S3
 * InputSerialization JSON>", "-- output: <OutputSerialization JSON>",
 * "-- scan-range: Start=N,End=M" lines, then the SQL.  Returns 0 and a new
 * script in *out (caller frees with sel_script_free), or -EINVAL with err
 * filled. */
int sel_script_parse(const char *text, size_t len, struct sel_script **out,
		     struct sel_error *err);

/* Free a script; accepts NULL. */
void sel_script_free(struct sel_script *s);

/* The "-- source:" value or NULL (borrowed: lives as long as s). */
const char *sel_script_source(const struct sel_script *s);

/* The SQL text of the script (borrowed: lives as long as s). */
const char *sel_script_query(const struct sel_script *s);

/* Run the script over the object readable from in_fd (from offset 0); when
 * the script has no input: header, infer the format from source_name's
 * extension (.csv .tsv .json .ndjson .jsonl, optionally followed by .gz or
 * .bz2).  Writes the result to out_fd.  Returns 0; -EINVAL for a bad query or
 * serialization (client error); -EIO for anything else (data errors, I/O);
 * err filled on failure.  Thread-safe for different scripts; blocks; memory
 * bounded regardless of input size.  cancel (may be NULL), once another
 * thread sets it, stops the run soon with -EIO: at the next read of the
 * object, or within SEL_CANCEL_EVERY records. */
int sel_script_run(const struct sel_script *s, const char *source_name,
		   int in_fd, int out_fd, const _Atomic bool *cancel,
		   struct sel_error *err);

/* The `bucketfs select` subcommand (argv[0] == "select"): runs a query over
 * a file or stdin and writes the records to stdout.  Returns the exit
 * status: 0, 1 for a query or data error (first stderr line
 * "<S3ErrorCode>: message"), 2 for bad usage. */
int sel_cli_main(int argc, char **argv);

#endif
