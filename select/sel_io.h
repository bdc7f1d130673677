/*
 * sel_io.h - the byte source, the reader interface and the writer.
 *
 * sel_src reads the object with large sequential reads, decompressing GZIP
 * or BZIP2 on the way, into one window buffer that holds at least one whole
 * record (records are never longer than SEL_MAX_RECORD).  A reader turns the
 * window into records; each input format is one const struct sel_reader_ops
 * (open, next_record, close), so a Parquet reader slots in beside CSV and
 * JSON.  sel_writer collects output records in one large buffer.
 */
#ifndef SEL_IO_H
#define SEL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include <bzlib.h>
#include <zlib.h>

#include "cmn_buf.h"
#include "sel_opts.h"
#include "sel_value.h"

struct sel_error;
struct sel_step;

/* The window is allocated this much larger than its capacity, and the
 * byte after its data is always NUL: a scanner of a line (which ends at a
 * '\n' or at the end of the data) may load up to 16 bytes at a time past
 * it without bounds checks (sel_json.c, "fenced"). */
#define SEL_SRC_PAD 32

struct sel_src {
	int fd;
	int comp; /* enum sel_comp */
	z_stream z;
	bz_stream bz;
	bool z_init, bz_init, raw_eof;
	bool mid; /* inside a compressed stream whose end was not seen yet */
	unsigned char *zin; /* compressed input buffer */
	size_t zin_len, zin_pos;
	char *buf; /* window: valid bytes are buf[start..end) */
	size_t cap, start, end;
	uint64_t base; /* object offset of buf[0] (after decompression) */
	bool eof;
	uint64_t scanned;   /* raw bytes read */
	uint64_t processed; /* bytes after decompression */
	bool positioned;    /* pread at pos: the fd's offset is not used */
	uint64_t pos;	    /* positioned: object offset of the next read */
	uint64_t stop;	    /* positioned: last byte of the scan range */
	/* Set, the run is cancelled: reads fail (sel_src_cancelled).
	 * Borrowed from the request; NULL: never.  Set after the open. */
	const _Atomic bool *cancel;
};

/* 0, or with the run cancelled (src->cancel set) an error in err: what
 * every read of the object, and the record loops now and then, ask. */
int sel_src_cancelled(const struct sel_src *src, struct sel_error *err);

/* Prepare src over fd, positioned at object offset `offset` (lseek, or
 * read-and-discard when fd is not seekable).  Returns 0 or -errno with err
 * filled. */
int sel_src_open(struct sel_src *src, int fd, int comp, uint64_t offset,
		 struct sel_error *err);

/* Prepare src over the uncompressed regular file fd for a scan range
 * ending at object offset stop: reads are pread(2)s from offset on, so
 * threads may share fd, and past stop they are small (only the record
 * that crosses stop is still needed).  src must be zeroed before its first
 * use; a window left by an earlier use is kept.  0 or -errno. */
int sel_src_open_at(struct sel_src *src, int fd, uint64_t offset, uint64_t stop,
		    struct sel_error *err);

/* Read more bytes into the window, first moving buf[start..end) to the
 * front.  Returns the number of bytes added, 0 at end of input, or -errno
 * with err filled (I/O errors, corrupt compressed data, or
 * OverMaxRecordSize when the window already holds more than a record). */
ssize_t sel_src_more(struct sel_src *src, struct sel_error *err);

/* Free the window and decompressor state; the fd is not closed. */
void sel_src_close(struct sel_src *src);

/* One CSV field: a slice of the window or of the reader's scratch. */
struct sel_field {
	const char *p;
	uint32_t len;
};

enum sel_rec_kind { SEL_REC_CSV = 0, SEL_REC_JSON };

/* A top-level member name the query refers to.  The JSON reader finds
 * these while it validates a record, so the evaluator never walks the
 * record again.  exact: compared case-sensitively (a quoted name). */
struct sel_jkey {
	const char *name; /* borrowed from the AST */
	uint32_t len;
	bool exact;
};

/* Where the member named by the sel_jkey of the same index is: the value
 * text of the first match, and how many members matched (more than one
 * makes an unquoted name ambiguous; 0: MISSING). */
struct sel_jslot {
	const char *v;
	uint32_t vn;
	uint32_t count;
	/* A typed reader (Parquet) gives the value itself instead of its
	 * text; v and vn are then unused. */
	const struct sel_value *tv;
};

/* A record, valid until the next call of next_record. */
struct sel_record {
	uint8_t kind;
	bool missing;	  /* JSON: the FROM path matched nothing (MISSING) */
	uint32_t nfields; /* CSV: fields split (all when want_all) */
	const struct sel_field *fields;
	const char *json; /* JSON: the value's raw text */
	uint32_t json_len;
	/* JSON: one slot per sel_jkey of the reader, or NULL when the
	 * reader did not resolve them (FROM paths). */
	const struct sel_jslot *slots;
	uint64_t offset; /* object offset of the record's first byte */
	/* A typed reader (Parquet) under SELECT *: every member's name
	 * (tnames[i], tnlens[i] bytes) and value, in order, so the
	 * projection needs no text; NULL otherwise. */
	const struct sel_value *tvals;
	const char *const *tnames;
	const uint32_t *tnlens;
	uint32_t ntvals;
};

struct sel_reader;

/* One input format.  Every slot is called from the query's thread only. */
struct sel_reader_ops {
	const char *name;
	/* Set up after the source is open: consumes a CSV header or the
	 * partial first record of a scan range.  0 or -errno (err filled). */
	int (*open)(struct sel_reader *r, struct sel_error *err);
	/* Next record: 1 and *rec filled, 0 at the end, -errno (err filled). */
	int (*next_record)(struct sel_reader *r, struct sel_record *rec,
			   struct sel_error *err);
	/* Optional: the number of records left, without reading them (a
	 * format that knows its row counts).  0 or -errno (err filled). */
	int (*count)(struct sel_reader *r, int64_t *n, struct sel_error *err);
	/* Free the reader's state; the source stays open. */
	void (*close)(struct sel_reader *r);
};

struct sel_reader {
	const struct sel_reader_ops *ops;
	struct sel_src *src;
	const struct sel_in_opts *opts;
	struct sel_range range; /* resolved: has_end means stop past end */
	/* CSV: split only up to column want (0-based), or all when want < 0. */
	int32_t want;
	/* CSV header (USE), owned by the reader. */
	struct sel_field *header;
	uint32_t nheader;
	/* JSON: the FROM path after S3Object[*] (borrowed from the AST). */
	bool has_from_path;
	const struct sel_step *from;
	uint32_t nfrom;
	/* CSV under a scan range starting past 0: the object's header row
	 * when the driver already has it (borrowed, copied at open); NULL
	 * reads it from the start of the object. */
	const struct sel_field *given_header;
	uint32_t ngiven_header;
	/* JSON: the top-level members to resolve in each record (set by the
	 * driver after binding; borrowed). */
	const struct sel_jkey *keys;
	uint32_t nkeys;
	/* Parquet (set with the keys): the evaluator reads the whole
	 * record's text (the record itself as a value), or every member
	 * (SELECT *), not only the keys. */
	bool need_row, star;
	void *priv; /* format state */
};

extern const struct sel_reader_ops sel_csv_reader;
extern const struct sel_reader_ops sel_json_reader;
extern const struct sel_reader_ops sel_parquet_reader;

/* JSON helpers used by the evaluator (sel_json.c). */

/* End of the JSON value starting at p (after blanks): returns a pointer
 * past it, or NULL when the text is not valid JSON, or `end` itself with
 * *partial set when the value runs past end. */
const char *sel_json_skip(const char *p, const char *end, int depth,
			  bool *partial);

/* Check that p[0..n) is exactly one well-formed JSON value (blanks around
 * it allowed) in one pass, and when it is an object fill slots[i] (nkeys
 * of them, caller-owned) with the top-level member keys[i] names.  Returns
 * 0, or -EINVAL when the text is not valid JSON (slots then undefined). */
int sel_json_scan(const char *p, size_t n, const struct sel_jkey *keys,
		  uint32_t nkeys, struct sel_jslot *slots);

/* Convert the JSON value text p[0..n) to a value: scalars become typed
 * values (strings unescaped into scratch when they contain escapes),
 * objects and arrays SEL_T_JSON.  Returns 0 or -EINVAL. */
struct sel_arena;
int sel_json_value(const char *p, size_t n, struct sel_arena *scratch,
		   struct sel_value *out);

/* A member name with its escapes resolved: the key body k[0..kn) itself
 * when it has no backslash, else its unescaped text in buf (cap bytes);
 * NULL when it does not fit or is not valid.  *len: the name's length. */
const char *sel_json_key(const char *k, size_t kn, char *buf, size_t cap,
			 size_t *len);

/* Member name of object text p[0..n): the value slice of the member whose
 * key matches name (case-insensitively unless exact).  Returns 1 found, 0
 * absent, -EINVAL bad JSON, -EEXIST when two keys match. */
int sel_json_member(const char *p, size_t n, const char *name, size_t nlen,
		    bool exact, const char **vp, size_t *vn);

/* Element idx of array text p[0..n).  Returns 1, 0 absent, -EINVAL. */
int sel_json_element(const char *p, size_t n, int64_t idx, const char **vp,
		     size_t *vn);

/* Iterate the members (obj) or elements of container text: *it starts at
 * 0; returns 1 with key (NULL for arrays) and value slices, 0 at the end,
 * -EINVAL on bad JSON. */
int sel_json_iter(const char *p, size_t n, size_t *it, const char **kp,
		  size_t *kn, const char **vp, size_t *vn);

/* Writer. */
struct sel_writer {
	int fd;
	const struct sel_out_opts *opts;
	struct cmn_buf buf;
	size_t rec_start;
	bool in_record;       /* begun and not ended */
	uint32_t nfield;
	uint64_t returned;
	struct cmn_buf tmp;   /* text of one value */
	uint8_t special[256]; /* CSV bytes that force quoting */
	bool int_plain;       /* an INT's text never needs quoting */
	/* When set, full buffers go to sink instead of write(2) on fd (a
	 * chunk of a parallel run hands its output to the ordering thread).
	 * Returns 0 or -errno with err filled. */
	int (*sink)(void *ctx, const char *p, size_t n, struct sel_error *err);
	void *sink_ctx;
};

void sel_writer_init(struct sel_writer *w, int fd,
		     const struct sel_out_opts *opts);
void sel_writer_free(struct sel_writer *w);
void sel_writer_begin(struct sel_writer *w);
/* Drop the record begun and not ended (a later field of it failed): the
 * records before it still go out, never a part of one. */
void sel_writer_abort(struct sel_writer *w);
/* Append one field: name used by JSON output (NULL for CSV-only use);
 * MISSING fields are left out of JSON records. */
int sel_writer_field(struct sel_writer *w, const char *name, size_t nlen,
		     const struct sel_value *v);
/* A raw string field (CSV fields of SELECT *). */
int sel_writer_str(struct sel_writer *w, const char *name, size_t nlen,
		   const char *p, size_t n);
/* Finish a record; flushes when the buffer is full.  0 or -errno
 * (-E2BIG: record over SEL_MAX_RECORD). */
int sel_writer_end(struct sel_writer *w, struct sel_error *err);
/* Write out everything buffered. */
int sel_writer_flush(struct sel_writer *w, struct sel_error *err);
/* Write out everything buffered, then p[0..n) (output made elsewhere). */
int sel_writer_write(struct sel_writer *w, const char *p, size_t n,
		     struct sel_error *err);

#endif
