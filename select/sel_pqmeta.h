/*
 * sel_pqmeta.h - a Parquet file's footer: the schema, the row groups and
 * their column chunks, and the page headers, decoded from the Thrift
 * compact protocol.
 *
 * Only what S3 Select needs is kept.  Every length and count comes from an
 * untrusted file, so each is checked against the bytes that hold it before
 * anything is allocated from it; a bad footer is an error message, never a
 * crash or a large allocation.
 */
#ifndef SEL_PQMETA_H
#define SEL_PQMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Physical types (parquet.thrift Type). */
enum pq_type {
	PQ_BOOLEAN = 0,
	PQ_INT32,
	PQ_INT64,
	PQ_INT96,
	PQ_FLOAT,
	PQ_DOUBLE,
	PQ_BYTE_ARRAY,
	PQ_FLBA, /* FIXED_LEN_BYTE_ARRAY */
	PQ_GROUP = -1,
};

enum pq_repetition { PQ_REQUIRED = 0, PQ_OPTIONAL, PQ_REPEATED };

/* What a leaf's values mean, from its logical (or legacy converted)
 * type. */
enum pq_meaning {
	PQM_NONE = 0, /* by physical type: int, float, bool, bytes */
	PQM_STRING,   /* UTF8, ENUM, JSON, BSON */
	PQM_SIGNED,   /* INT(8/16/32/64, signed) */
	PQM_UNSIGNED, /* INT(8/16/32/64, unsigned) */
	PQM_DECIMAL,
	PQM_DATE,
	PQM_TIME,
	PQM_TIMESTAMP,
	PQM_UUID,
	PQM_FLOAT16,
	PQM_LIST,
	PQM_MAP,
};

enum pq_unit { PQ_MILLIS = 0, PQ_MICROS, PQ_NANOS };

struct pq_node {
	char *name;	    /* owned, NUL-terminated */
	int8_t type;	    /* enum pq_type, PQ_GROUP for groups */
	uint8_t repetition; /* enum pq_repetition */
	uint8_t meaning;    /* enum pq_meaning */
	uint8_t unit;	    /* enum pq_unit (TIME, TIMESTAMP) */
	bool utc;	    /* TIMESTAMP isAdjustedToUTC */
	int32_t type_length;
	int32_t num_children;
	int32_t scale, precision;
};

/* Compression codecs (parquet.thrift CompressionCodec). */
enum pq_codec {
	PQ_UNCOMPRESSED = 0,
	PQ_SNAPPY,
	PQ_GZIP,
	PQ_LZO,
	PQ_BROTLI,
	PQ_LZ4,
	PQ_ZSTD,
	PQ_LZ4_RAW,
};

/* One column chunk: a leaf's values in one row group. */
struct pq_chunk {
	int32_t codec;
	int64_t num_values;
	int64_t data_page_offset;
	int64_t dict_page_offset; /* -1 when absent */
	int64_t total_compressed_size;
};

struct pq_rowgroup {
	int64_t num_rows;
	int64_t start;		 /* file offset of its first page */
	struct pq_chunk *chunks; /* one per leaf, owned */
};

/* A leaf column: a primitive node and the levels of its path. */
struct pq_leaf {
	uint32_t node; /* index into nodes */
	uint16_t max_def, max_rep;
};

/* How a top-level field is read. */
enum pq_shape {
	PQ_SHAPE_SCALAR = 0, /* one leaf, not repeated */
	PQ_SHAPE_LIST,	     /* a list of a primitive: one leaf, max_rep 1 */
	PQ_SHAPE_STRUCT,     /* a group of non-repeated primitives */
	PQ_SHAPE_MAP,	     /* primitive keys to primitive values: two
			      * leaves, max_rep 1 */
	PQ_SHAPE_OTHER,	     /* deeper nesting: refused when read */
};

struct pq_field {
	const char *name; /* the node's name (borrowed from nodes) */
	uint8_t shape;	  /* enum pq_shape */
	uint32_t leaf;	  /* first leaf */
	uint32_t nleaves;
	/* LIST and MAP: definition levels at which the list (map) is
	 * present (empty at exactly this level) and at which an element
	 * (a value) is present. */
	uint16_t def_list, def_elem;
	/* STRUCT: definition level at which the struct is present. */
	uint16_t def_struct;
};

struct pq_meta {
	int64_t num_rows;
	struct pq_node *nodes; /* schema, depth first; nodes[0] is the root */
	uint32_t nnodes;
	struct pq_leaf *leaves;
	uint32_t nleaves;
	struct pq_field *fields; /* the root's children */
	uint32_t nfields;
	struct pq_rowgroup *rgs;
	uint32_t nrgs;
};

/* Decode the FileMetaData p[0..n).  Returns 0, or -EINVAL (a malformed or
 * unsupported footer; msg, of msglen bytes, says why) or -ENOMEM.  *m is
 * freed with pq_meta_free() either way. */
int pq_meta_parse(const uint8_t *p, size_t n, struct pq_meta *m, char *msg,
		  size_t msglen);
void pq_meta_free(struct pq_meta *m);

/* Page types (parquet.thrift PageType). */
enum pq_page_type {
	PQ_DATA_PAGE = 0,
	PQ_INDEX_PAGE,
	PQ_DICTIONARY_PAGE,
	PQ_DATA_PAGE_V2,
};

struct pq_page {
	int32_t type;
	int32_t uncompressed_size, compressed_size;
	int32_t num_values;
	int32_t encoding;
	int32_t def_encoding, rep_encoding; /* v1 */
	int32_t num_rows;		    /* v2 */
	int32_t def_len, rep_len;	    /* v2: level bytes (uncompressed) */
	bool is_compressed;		    /* v2 */
};

/* Decode a PageHeader at the start of p[0..n).  Returns its length in
 * bytes, 0 when p ends before the header does (read more and retry), or
 * -EINVAL. */
int pq_page_parse(const uint8_t *p, size_t n, struct pq_page *pg);

#endif
