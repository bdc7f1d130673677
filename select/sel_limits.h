/*
 * sel_limits.h - every limit of the S3 Select engine, in one place.
 *
 * Each limit bounds memory or recursion that untrusted input (the SQL text,
 * the object, the serialization options) could otherwise drive without end.
 * The numbers follow AWS where AWS documents one; the others are chosen so a
 * hostile input fails with a clear S3 error code instead of exhausting the
 * machine or the stack.
 */
#ifndef SEL_LIMITS_H
#define SEL_LIMITS_H

/* AWS rejects SQL expressions longer than 256 KB with ExpressionTooLong. */
#define SEL_MAX_EXPR_LEN (256u * 1024u)

/* AWS limits an input or result record to 1 MB (OverMaxRecordSize); a
 * record longer than this is never buffered whole. */
#define SEL_MAX_RECORD (1024u * 1024u)

/* AWS limits one column of a result to 1 MB (ColumnTooLong). */
#define SEL_MAX_COLUMN_LEN (1024u * 1024u)

/* Columns in one CSV record or members of one JSON object that the engine
 * indexes (OverMaxColumn): bounds the per-record field table. */
#define SEL_MAX_COLUMNS 16384

/* Recursion depth of the expression parser and evaluator: a fuzzer must
 * never find a stack overflow with ((((...)))) or NOT NOT NOT ... */
#define SEL_MAX_DEPTH 128

/* Height of an expression tree: a+b+c+... parses iteratively but is
 * evaluated recursively, so its height is capped too. */
#define SEL_MAX_HEIGHT 512

/* Nesting depth of JSON input values (JSONParsingError past it). */
#define SEL_MAX_JSON_DEPTH 256

/* Steps in one path expression such as s.a[0].b (ParseInvalidPathComponent). */
#define SEL_MAX_PATH_STEPS 64

/* Items in the SELECT list, and arguments of one function or IN list. */
#define SEL_MAX_LIST_ITEMS 4096

/* Aggregate calls in one query. */
#define SEL_MAX_AGGREGATES 256

/* Bytes of scratch one record's evaluation may allocate (string functions,
 * CAST to STRING, unescaped fields); reset after every record. */
#define SEL_MAX_SCRATCH (16u * 1024u * 1024u)

/* Bytes the query arena may hold (AST, bound names, constants): the AST of
 * a 256 KiB expression stays well below it. */
#define SEL_MAX_ARENA (64u * 1024u * 1024u)

/* Size of one read(2) from the object, and of the decompressor's input
 * buffer: large sequential reads keep the syscall cost per byte low. */
#define SEL_READ_CHUNK (1024u * 1024u)

/* Output is collected in one buffer of this size and written in one
 * write(2) when full. */
#define SEL_OUT_BUF (256u * 1024u)

/* Threads one query over a large uncompressed file uses (sel_par.h), at
 * most, and at most this many when the request asks for more (tests):
 * a query should not take the whole machine. */
#define SEL_PAR_THREADS 2

/* Records evaluated between two looks at the cancel flag
 * (sel_request.cancel) when no read comes between them. */
#define SEL_CANCEL_EVERY 1024u
#define SEL_PAR_MAX_THREADS 8

/* Bytes of the object per chunk of a parallel run: large enough that the
 * per-chunk set-up and the record read past each chunk's end cost
 * nothing, small enough to balance two threads when one core is busy. A
 * file smaller than two chunks is read by one thread. */
#define SEL_PAR_CHUNK (16u * 1024u * 1024u)

/* Output of a parallel run waiting behind the chunk being written, and
 * the output of that chunk not written yet: each at most this many bytes
 * (plus one buffer), so memory stays bounded whatever the selectivity. */
#define SEL_PAR_QUEUE (8u * 1024u * 1024u)

/* The smallest chunk of a Parquet object: each chunk's reader decodes
 * the footer again (row groups are rarely smaller than this). */
#define SEL_PAR_PQ_MIN_CHUNK (64u * 1024u)

/* How many chunks past the one being written a worker may start. */
#define SEL_PAR_AHEAD 8

/* Delimiters, quote and escape characters in serialization options. */
#define SEL_MAX_DELIM 8

/* Length of a serialization JSON document (InputSerialization etc.). */
#define SEL_MAX_OPTS_JSON (64u * 1024u)

/* Length of a .select file: the SQL limit plus room for header lines. */
#define SEL_MAX_SCRIPT (SEL_MAX_EXPR_LEN + 64u * 1024u)

/* Length of a TO_STRING / TO_TIMESTAMP pattern and of its output. */
#define SEL_MAX_PATTERN 256

/* Parquet: the footer (FileMetaData), one page header, one page
 * (compressed or not; AWS allows row groups of 512 MB, writers make pages
 * of about 1 MiB) and the values of one page (levels and decoded values
 * take about 22 bytes each). */
#define SEL_MAX_PQ_FOOTER (64u * 1024u * 1024u)
#define SEL_MAX_PQ_HEADER (16u * 1024u * 1024u)
#define SEL_MAX_PQ_PAGE (256u * 1024u * 1024u)
#define SEL_MAX_PQ_VALUES (8u * 1024u * 1024u)

/* Parquet: the bytes one reader may hold for the pages it has read, their
 * levels, decoded values and dictionaries, over all columns together (a
 * ParquetParsingError past it).  Each page is bounded above, but a query
 * reads one page of every column it names at once, and a page's count of
 * values costs a hostile file a few bytes: 24 columns of 8M-value pages
 * would take 4 GB.  A real file needs a fraction of this: row groups are
 * at most 512 MB and only one page per column is held. */
#define SEL_MAX_PQ_MEMORY (1024u * 1024u * 1024u)

#endif
