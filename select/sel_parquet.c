/*
 * sel_parquet.c - the Parquet reader: row groups, pages, encodings and
 * codecs, turned into one typed record per row.
 *
 * Only the columns the query names are read (all of them for SELECT *),
 * one page at a time per column, so memory is bounded by a page per column
 * and its dictionary, whatever the size of a row group, and all of them
 * together by SEL_MAX_PQ_MEMORY (a page's counts cost a file little).
 * COUNT(*) reads no page at all.  Each record hands the evaluator typed
 * values through the JSON slots (struct sel_jslot.tv): a Parquet row is
 * evaluated as a JSON object whose members have types, as S3 Select does.
 * Lists and structs of primitives become JSON text (SEL_T_JSON).
 *
 * Encodings: PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY, RLE (booleans),
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and
 * BYTE_STREAM_SPLIT; data pages v1 and v2; codecs UNCOMPRESSED, SNAPPY,
 * GZIP and ZSTD.  Every count and length is checked against the bytes that
 * hold it: a hostile file gets ParquetParsingError.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <brotli/decode.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "sel_err.h"
#include "sel_io.h"
#include "sel_limits.h"
#include "sel_pqmeta.h"

enum pq_encoding {
	PQE_PLAIN = 0,
	PQE_PLAIN_DICTIONARY = 2,
	PQE_RLE = 3,
	PQE_BIT_PACKED = 4,
	PQE_DELTA_BINARY_PACKED = 5,
	PQE_DELTA_LENGTH_BYTE_ARRAY = 6,
	PQE_DELTA_BYTE_ARRAY = 7,
	PQE_RLE_DICTIONARY = 8,
	PQE_BYTE_STREAM_SPLIT = 9,
};

/* One decoded physical value. */
struct pq_val {
	union {
		int64_t i;	  /* BOOLEAN, INT32, INT64 */
		double f;	  /* FLOAT, DOUBLE */
		const uint8_t *p; /* INT96, BYTE_ARRAY, FLBA */
	} u;
	uint32_t n; /* bytes at p */
};

/* A growable array owned by a column. */
struct pq_vec {
	void *p;
	size_t cap; /* bytes */
};

/* One leaf column of the current row group. */
struct pq_col {
	const struct pq_leaf *leaf;
	const struct pq_node *node;
	int codec;	     /* of the chunk (enum pq_codec) */
	uint32_t width;	     /* bytes of a fixed-width value (phys_width) */
	uint64_t pos, end;   /* file offsets: next page header, chunk end */
	int64_t values_left; /* level entries of the chunk not yet paged in */
	int64_t rows_left;   /* max_rep 0: rows not yet paged in */
	size_t *mem;	     /* the reader's budget (pq_state.mem) */
	struct pq_val *dict; /* dictionary values (into dict_buf) */
	uint32_t ndict;
	struct pq_vec dict_buf, dict_vals;
	struct pq_vec buf;   /* a page decompressed */
	struct pq_vec extra; /* values built from several places */
	struct pq_vec defs, reps, idx;
	struct pq_vec vals;
	uint16_t *def, *rep; /* levels of the page; NULL when the max is 0 */
	uint32_t nlev, ilev;
	/* The page's values: decoded into val (VALS), or read in place,
	 * fixed-width PLAIN bytes at plain (PLAIN) or dictionary indexes
	 * in ix (DICT), which saves 16 bytes a value and a pass. */
	enum { PQ_VALS, PQ_PLAIN, PQ_DICT } mode;
	struct pq_val *val;
	const uint8_t *plain;
	const uint32_t *ix;
	struct pq_val cur; /* the value read in place last */
	uint32_t nval, ival;
};

struct pq_state {
	struct pq_meta m;
	int fd;
	uint64_t size;
	bool prepared;
	bool rg_open;
	uint32_t rg;	     /* row group to open next */
	int64_t rows_left;   /* in the open row group */
	uint64_t rg_offset;  /* its first byte, for record offsets */
	struct pq_col *cols; /* one per leaf */
	bool *used;	     /* per field: read it */
	uint32_t *ufields;   /* the fields read, in order */
	uint32_t nused;
	int32_t *key_field;	 /* per key: the field it names, or -1 */
	struct sel_jslot *slots; /* per key */
	struct sel_value *fvals; /* per field: this row's value */
	size_t *ftext;		 /* per field: offset of its JSON text */
	char (*uuid)[40];	 /* per field: a UUID's text */
	const char **names;	 /* per field: its name, and its length */
	uint32_t *nlens;
	struct cmn_buf text; /* the JSON text of the row's lists and structs */
	struct cmn_buf row;  /* the whole row's JSON text, when read */
	struct pq_vec head;  /* page header bytes */
	struct pq_vec raw;   /* a page as read, until it is decompressed */
	size_t mem;	     /* bytes every pq_vec of the reader holds */
};

#define PQ_HEAD_FIRST 1024u

static int perr(struct sel_error *err, const char *msg)
{
	return sel_err_set(err, SEL_E_ParquetParsingError, 0, 0, "%s", msg);
}

/* Make v hold at least bytes, charging the growth to *mem, the bytes all
 * vectors of the reader hold.  Counts in a page header are cheap to claim
 * (an RLE run of 8M values takes a few bytes), so what they cost together
 * is bounded: -EFBIG past SEL_MAX_PQ_MEMORY, or -ENOMEM.  A vector grows
 * to the size asked and an eighth more, not to a power of two that could
 * nearly double a large page's values. */
static int vec_need(size_t *mem, struct pq_vec *v, size_t bytes)
{
	if (v->cap >= bytes)
		return 0;
	size_t room = SEL_MAX_PQ_MEMORY - *mem + v->cap; /* v at most */
	if (bytes > room)
		return -EFBIG;
	size_t cap = bytes + bytes / 8 < 256 ? 256 : bytes + bytes / 8;
	if (cap > room)
		cap = bytes;
	void *p = realloc(v->p, cap);
	if (!p)
		return -ENOMEM;
	*mem += cap - v->cap;
	v->p = p;
	v->cap = cap;
	return 0;
}

/* A vec_need error as the reader reports it: a file that needs more than
 * the budget is refused as damaged; -ENOMEM is left to the caller. */
static int vec_err(int rc, struct sel_error *err)
{
	if (rc != -EFBIG)
		return rc;
	return sel_err_set(err, SEL_E_ParquetParsingError, 0, 0,
			   "the pages read at once need more than %u MiB of "
			   "memory",
			   SEL_MAX_PQ_MEMORY >> 20);
}

static void vec_free(struct pq_vec *v)
{
	free(v->p);
	v->p = NULL;
	v->cap = 0;
}

static int pread_all(struct pq_state *s, void *buf, size_t n, uint64_t off,
		     struct sel_reader *r, struct sel_error *err)
{
	size_t got = 0;
	int c = sel_src_cancelled(r->src, err);
	if (c)
		return c;
	while (got < n) {
		ssize_t k = pread(s->fd, (char *)buf + got, n - got,
				  (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "read: %s", strerror(errno));
		if (k == 0)
			return perr(err, "the file ends inside a page");
		got += (size_t)k;
	}
	r->src->scanned += n;
	return 0;
}

/* ---- bit-level decoders ---- */

/* Value i of width w (<= 64) from the bit-packed p[0..n) (LSB first); the
 * caller checked that the bits are there. */
static uint64_t unpack(const uint8_t *p, size_t n, uint64_t i, unsigned w)
{
	uint64_t bit = i * w;
	size_t byte = (size_t)(bit >> 3);
	unsigned shift = (unsigned)(bit & 7);
	if (w == 0)
		return 0;
	uint64_t lo = 0;
	size_t take = n - byte < 8 ? n - byte : 8;
	memcpy(&lo, p + byte, take); /* little-endian hosts (x86, arm) */
	uint64_t v = lo >> shift;
	if (shift + w > 64) {
		uint64_t hi = byte + 8 < n ? p[byte + 8] : 0;
		v |= hi << (64 - shift);
	}
	return w == 64 ? v : v & ((UINT64_C(1) << w) - 1);
}

/* Values 0..count-1 of width w (1..32) packed in p, in order; the caller
 * checked that count * w bits are there. */
static void unpack_run(const uint8_t *p, unsigned w, uint64_t count,
		       uint32_t *out)
{
	uint64_t buf = 0, mask = (UINT64_C(1) << w) - 1;
	unsigned have = 0;
	for (uint64_t k = 0; k < count; k++) {
		while (have < w) {
			buf |= (uint64_t)*p++ << have;
			have += 8;
		}
		out[k] = (uint32_t)(buf & mask);
		buf >>= w;
		have -= w;
	}
}

static bool varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= n)
			return false;
		uint8_t b = p[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* The RLE / bit-packing hybrid: count values of width bw into out.
 * Returns the bytes used, or -1 when p[0..n) does not hold them. */
static ssize_t rle_decode(const uint8_t *p, size_t n, unsigned bw,
			  uint32_t count, uint32_t *out)
{
	size_t pos = 0;
	uint32_t got = 0;
	if (bw > 32)
		return -1;
	while (got < count) {
		uint64_t h;
		if (!varint(p, n, &pos, &h))
			return -1;
		if (h & 1) {
			uint64_t groups = h >> 1;
			if (groups == 0 ||
			    groups > (n - pos) / (bw ? bw : 1) + 1)
				return -1;
			uint64_t bytes = groups * bw, vals = groups * 8;
			if (bytes > n - pos)
				return -1;
			uint64_t take = vals < count - got ? vals : count - got;
			if (bw)
				unpack_run(p + pos, bw, take, out + got);
			else
				memset(out + got, 0, take * sizeof(*out));
			got += (uint32_t)take;
			pos += bytes;
		} else {
			uint64_t run = h >> 1;
			unsigned vb = (bw + 7) / 8;
			if (run == 0 || vb > n - pos)
				return -1;
			uint32_t v = 0;
			for (unsigned k = 0; k < vb; k++)
				v |= (uint32_t)p[pos + k] << (8 * k);
			pos += vb;
			if (bw < 32 && v >> bw)
				return -1;
			uint64_t take = run < count - got ? run : count - got;
			for (uint64_t k = 0; k < take; k++)
				out[got++] = v;
		}
	}
	return (ssize_t)pos;
}

static unsigned bit_width(uint32_t max)
{
	unsigned w = 0;
	while (max) {
		w++;
		max >>= 1;
	}
	return w;
}

/* DELTA_BINARY_PACKED: exactly count values into out (as int32 when
 * narrow).  Returns the bytes used, or -1. */
static ssize_t dbp_decode(const uint8_t *p, size_t n, uint32_t count,
			  int64_t *out, bool narrow)
{
	size_t pos = 0;
	uint64_t block, minis, total, zz;
	if (!varint(p, n, &pos, &block) || !varint(p, n, &pos, &minis) ||
	    !varint(p, n, &pos, &total) || !varint(p, n, &pos, &zz))
		return -1;
	if (block == 0 || block % 128 || minis == 0 || block % minis ||
	    (block / minis) % 32 || block > (1u << 20) || total != count)
		return -1;
	uint64_t last = (zz >> 1) ^ -(zz & 1), per = block / minis;
	uint32_t got = 0;
	if (count)
		out[got++] = narrow ? (int32_t)(uint32_t)last : (int64_t)last;
	while (got < count) {
		if (!varint(p, n, &pos, &zz) || minis > n - pos)
			return -1;
		uint64_t min_delta = (zz >> 1) ^ -(zz & 1);
		const uint8_t *widths = p + pos;
		pos += minis;
		for (uint64_t mb = 0; mb < minis && got < count; mb++) {
			unsigned w = widths[mb];
			if (w > 64)
				return -1;
			uint64_t bytes = per * w / 8;
			if (bytes > n - pos)
				return -1;
			for (uint64_t k = 0; k < per && got < count; k++) {
				last += min_delta +
					unpack(p + pos, bytes, k, w);
				out[got++] = narrow ? (int32_t)(uint32_t)last
						    : (int64_t)last;
			}
			pos += bytes;
		}
	}
	return (ssize_t)pos;
}

/* ---- values of a page ---- */

static size_t phys_width(const struct pq_node *nd)
{
	switch (nd->type) {
	case PQ_INT32:
	case PQ_FLOAT:
		return 4;
	case PQ_INT64:
	case PQ_DOUBLE:
		return 8;
	case PQ_INT96:
		return 12;
	case PQ_FLBA:
		return (size_t)nd->type_length;
	default:
		return 0;
	}
}

static void fixed_value(const struct pq_node *nd, const uint8_t *b,
			struct pq_val *v)
{
	int32_t i32;
	float f32;
	switch (nd->type) {
	case PQ_INT32:
		memcpy(&i32, b, 4);
		v->u.i = i32;
		break;
	case PQ_INT64:
		memcpy(&v->u.i, b, 8);
		break;
	case PQ_FLOAT:
		memcpy(&f32, b, 4);
		v->u.f = f32;
		break;
	case PQ_DOUBLE:
		memcpy(&v->u.f, b, 8);
		break;
	default: /* INT96, FLBA */
		v->u.p = b;
		v->n = (uint32_t)phys_width(nd);
	}
}

/* PLAIN: count values from p[0..n) into out; -1 when they are not all
 * there. */
static int plain_decode(const struct pq_node *nd, const uint8_t *p, size_t n,
			uint32_t count, struct pq_val *out)
{
	if (nd->type == PQ_BOOLEAN) {
		if ((uint64_t)count > (uint64_t)n * 8)
			return -1;
		for (uint32_t k = 0; k < count; k++)
			out[k].u.i = (p[k >> 3] >> (k & 7)) & 1;
		return 0;
	}
	if (nd->type == PQ_BYTE_ARRAY) {
		size_t pos = 0;
		for (uint32_t k = 0; k < count; k++) {
			uint32_t len;
			if (n - pos < 4)
				return -1;
			memcpy(&len, p + pos, 4);
			pos += 4;
			if (len > n - pos)
				return -1;
			out[k].u.p = p + pos;
			out[k].n = len;
			pos += len;
		}
		return 0;
	}
	size_t w = phys_width(nd);
	if (w == 0 || (uint64_t)count * w > n)
		return -1;
	for (uint32_t k = 0; k < count; k++)
		fixed_value(nd, p + (size_t)k * w, &out[k]);
	return 0;
}

/* DELTA_LENGTH_BYTE_ARRAY, into out with the bytes in p. */
static int dlba_decode(struct pq_col *c, const uint8_t *p, size_t n,
		       uint32_t count, struct pq_val *out)
{
	int rc = vec_need(c->mem, &c->idx, (size_t)count * sizeof(int64_t) + 8);
	if (rc)
		return rc;
	int64_t *len = c->idx.p;
	ssize_t used = dbp_decode(p, n, count, len, true);
	if (used < 0)
		return -1;
	size_t pos = (size_t)used;
	for (uint32_t k = 0; k < count; k++) {
		if (len[k] < 0 || (uint64_t)len[k] > n - pos)
			return -1;
		out[k].u.p = p + pos;
		out[k].n = (uint32_t)len[k];
		pos += (size_t)len[k];
	}
	return 0;
}

/* DELTA_BYTE_ARRAY: each value is a prefix of the one before and a
 * suffix; the values are built in c->extra. */
static int dba_decode(struct pq_col *c, const uint8_t *p, size_t n,
		      uint32_t count, struct pq_val *out)
{
	int r = vec_need(c->mem, &c->idx, (size_t)count * sizeof(int64_t) + 8);
	if (r)
		return r;
	ssize_t used = dbp_decode(p, n, count, c->idx.p, true);
	if (used < 0)
		return -1;
	/* The prefixes move to the end of the suffix lengths' space. */
	int64_t *pre = malloc((size_t)count * sizeof(int64_t) + 8);
	if (!pre)
		return -ENOMEM;
	memcpy(pre, c->idx.p, (size_t)count * sizeof(int64_t));
	r = dlba_decode(c, p + used, n - (size_t)used, count, out);
	size_t total = 0;
	for (uint32_t k = 0; r == 0 && k < count; k++) {
		uint64_t prev = k ? out[k - 1].n : 0;
		if (pre[k] < 0 || (uint64_t)pre[k] > (k ? prev : 0))
			r = -1;
		else if ((total += (size_t)pre[k] + out[k].n) > SEL_MAX_PQ_PAGE)
			r = -1;
		else
			out[k].n += (uint32_t)pre[k];
	}
	if (r == 0)
		r = vec_need(c->mem, &c->extra, total + 1);
	uint8_t *dst = c->extra.p;
	for (uint32_t k = 0; r == 0 && k < count; k++) {
		size_t pl = (size_t)pre[k], sl = out[k].n - pl;
		if (pl)
			memcpy(dst, out[k - 1].u.p, pl);
		memcpy(dst + pl, out[k].u.p, sl);
		out[k].u.p = dst;
		dst += out[k].n;
	}
	free(pre);
	return r;
}

/* BYTE_STREAM_SPLIT: byte j of value k is at p[j * count + k]. */
static int bss_decode(struct pq_col *c, const uint8_t *p, size_t n,
		      uint32_t count, struct pq_val *out)
{
	const struct pq_node *nd = c->node;
	size_t w = phys_width(nd);
	if (w == 0 || nd->type == PQ_INT96 || (uint64_t)count * w > n)
		return -1;
	int rc = vec_need(c->mem, &c->extra, (size_t)count * w + 1);
	if (rc)
		return rc;
	uint8_t *dst = c->extra.p;
	for (uint32_t k = 0; k < count; k++) {
		uint8_t *b = dst + (size_t)k * w;
		for (size_t j = 0; j < w; j++)
			b[j] = p[j * count + k];
		fixed_value(nd, b, &out[k]);
	}
	return 0;
}

/* Dictionary indexes into c->idx, all checked, read in place. */
static int dict_indices(struct pq_col *c, const uint8_t *p, size_t n,
			uint32_t count)
{
	if (n < 1)
		return -1;
	int rc = vec_need(c->mem, &c->idx, (size_t)count * 4 + 8);
	if (rc)
		return rc;
	uint32_t *ix = c->idx.p, bad = 0;
	if (rle_decode(p + 1, n - 1, p[0], count, ix) < 0)
		return -1;
	for (uint32_t k = 0; k < count; k++)
		bad |= ix[k] >= c->ndict;
	c->ix = ix;
	c->mode = PQ_DICT;
	return bad ? -1 : 0;
}

/* Decode count values of encoding enc into c->val. */
static int page_values(struct pq_col *c, int enc, const uint8_t *p, size_t n,
		       uint32_t count)
{
	const struct pq_node *nd = c->node;
	/* Numbers in PLAIN are read where they are. */
	bool plain_num = enc == PQE_PLAIN &&
			 (nd->type == PQ_INT32 || nd->type == PQ_INT64 ||
			  nd->type == PQ_FLOAT || nd->type == PQ_DOUBLE);
	bool dict = enc == PQE_PLAIN_DICTIONARY || enc == PQE_RLE_DICTIONARY;
	int rc = 0;
	if (!plain_num && !dict)
		rc = vec_need(c->mem, &c->vals,
			      ((size_t)count + 1) * sizeof(struct pq_val));
	if (rc)
		return rc;
	struct pq_val *out = c->vals.p;
	c->val = out;
	c->nval = count;
	c->ival = 0;
	c->mode = PQ_VALS;
	if (plain_num) {
		c->plain = p;
		c->mode = PQ_PLAIN;
		return (uint64_t)count * phys_width(nd) > n ? -1 : 0;
	}
	if (dict)
		return c->dict ? dict_indices(c, p, n, count) : -1;
	switch (enc) {
	case PQE_PLAIN:
		return plain_decode(nd, p, n, count, out);
	case PQE_RLE: {
		if (nd->type != PQ_BOOLEAN || n < 4)
			return -1;
		if ((rc = vec_need(c->mem, &c->idx,
				   (size_t)count * sizeof(uint32_t) + 8)))
			return rc;
		uint32_t len, *ix = c->idx.p;
		memcpy(&len, p, 4);
		if (len > n - 4 || rle_decode(p + 4, len, 1, count, ix) < 0)
			return -1;
		for (uint32_t k = 0; k < count; k++)
			out[k].u.i = ix[k];
		return 0;
	}
	case PQE_DELTA_BINARY_PACKED: {
		if (nd->type != PQ_INT32 && nd->type != PQ_INT64)
			return -1;
		if ((rc = vec_need(c->mem, &c->idx,
				   (size_t)count * sizeof(int64_t) + 8)))
			return rc;
		int64_t *iv = c->idx.p;
		if (dbp_decode(p, n, count, iv, nd->type == PQ_INT32) < 0)
			return -1;
		for (uint32_t k = 0; k < count; k++)
			out[k].u.i = iv[k];
		return 0;
	}
	case PQE_DELTA_LENGTH_BYTE_ARRAY:
		return nd->type == PQ_BYTE_ARRAY
			       ? dlba_decode(c, p, n, count, out)
			       : -1;
	case PQE_DELTA_BYTE_ARRAY:
		return nd->type == PQ_BYTE_ARRAY || nd->type == PQ_FLBA
			       ? dba_decode(c, p, n, count, out)
			       : -1;
	case PQE_BYTE_STREAM_SPLIT:
		return bss_decode(c, p, n, count, out);
	default:
		return -2; /* not an encoding we know */
	}
}

/* ---- pages ---- */

/* One LZ4 block of exactly want bytes. */
static int lz4_block(const uint8_t *src, size_t n, uint8_t *dst, size_t want)
{
	if (n > INT_MAX || want > INT_MAX)
		return -1;
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)n,
				    (int)want);
	return r >= 0 && (size_t)r == want ? 0 : -1;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Hadoop's LZ4 framing: blocks of [u32 BE uncompressed][u32 BE
 * compressed][LZ4 block], filling exactly want bytes. */
static int lz4_hadoop(const uint8_t *src, size_t n, uint8_t *dst,
		      size_t want)
{
	size_t in = 0, out = 0;
	while (in < n) {
		if (n - in < 8)
			return -1;
		uint32_t un = be32(src + in), cn = be32(src + in + 4);
		in += 8;
		if (cn > n - in || un > want - out ||
		    lz4_block(src + in, cn, dst + out, un) != 0)
			return -1;
		in += cn;
		out += un;
	}
	return out == want ? 0 : -1;
}

static int decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst,
		      size_t want)
{
	switch (codec) {
	case PQ_UNCOMPRESSED:
		if (n != want)
			return -1;
		memcpy(dst, src, n);
		return 0;
	case PQ_SNAPPY: {
		size_t len;
		if (snappy_uncompressed_length((const char *)src, n, &len) !=
			    SNAPPY_OK ||
		    len != want)
			return -1;
		return snappy_uncompress((const char *)src, n, (char *)dst,
					 &len) == SNAPPY_OK &&
				       len == want
			       ? 0
			       : -1;
	}
	case PQ_ZSTD: {
		size_t r = ZSTD_decompress(dst, want, src, n);
		return ZSTD_isError(r) || r != want ? -1 : 0;
	}
	case PQ_GZIP: {
		z_stream z = {0};
		if (inflateInit2(&z, 15 + 32) != Z_OK)
			return -1;
		z.next_in = (Bytef *)(uintptr_t)src;
		z.avail_in = (uInt)n;
		z.next_out = dst;
		z.avail_out = (uInt)want;
		int zr;
		/* Concatenated gzip members are one stream. */
		while ((zr = inflate(&z, Z_FINISH)) == Z_STREAM_END &&
		       z.avail_in && z.avail_out)
			if (inflateReset(&z) != Z_OK)
				break;
		bool ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR) &&
			  z.avail_out == 0;
		inflateEnd(&z);
		return ok ? 0 : -1;
	}
	case PQ_BROTLI: {
		size_t len = want;
		return BrotliDecoderDecompress(n, src, &len, dst) ==
				       BROTLI_DECODER_RESULT_SUCCESS &&
			       len == want
			       ? 0
			       : -1;
	}
	case PQ_LZ4_RAW:
		return lz4_block(src, n, dst, want);
	case PQ_LZ4:
		/* The deprecated LZ4 codec: Hadoop's framing (big-endian
		 * uncompressed and compressed sizes before each block) as
		 * parquet-mr wrote it, or a bare block as some others did;
		 * Arrow's reader tries them in the same order. */
		return lz4_hadoop(src, n, dst, want) == 0
			       ? 0
			       : lz4_block(src, n, dst, want);
	default:
		return -2;
	}
}

static const char *codec_name(int codec)
{
	static const char *names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP",
				      "LZO",	      "BROTLI", "LZ4",
				      "ZSTD",	      "LZ4_RAW"};
	return codec >= 0 && codec < 8 ? names[codec] : "unknown";
}

/* Read the next page header of c into *pg; returns 0 or an error. */
static int read_header(struct sel_reader *r, struct pq_col *c,
		       struct pq_page *pg, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	size_t want = PQ_HEAD_FIRST;
	for (;;) {
		uint64_t left = c->end - c->pos;
		size_t n = want < left ? want : (size_t)left;
		if (n == 0)
			return perr(err,
				    "a column chunk ends before its values");
		int rc = vec_need(&s->mem, &s->head, n);
		if (rc)
			return vec_err(rc, err);
		rc = pread_all(s, s->head.p, n, c->pos, r, err);
		if (rc)
			return rc;
		int h = pq_page_parse(s->head.p, n, pg);
		if (h < 0)
			return perr(err, "a page header is malformed");
		if (h > 0) {
			c->pos += (uint64_t)h;
			return 0;
		}
		if (n == left || want >= SEL_MAX_PQ_HEADER)
			return perr(err, "a page header is truncated");
		want *= 4;
	}
}

/* Read the page body (compressed_size bytes) and decompress the part from
 * `skip` on into c->buf; *out and *outn: the page as the encodings see it
 * (for v2, levels first, uncompressed). */
static int read_body(struct sel_reader *r, struct pq_col *c,
		     const struct pq_page *pg, int codec, size_t skip,
		     const uint8_t **out, size_t *outn, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	size_t cn = (size_t)pg->compressed_size;
	size_t un = (size_t)pg->uncompressed_size;
	if (cn > c->end - c->pos)
		return perr(err, "a page runs past its column chunk");
	if (un > SEL_MAX_PQ_PAGE || cn > SEL_MAX_PQ_PAGE)
		return perr(err, "a page is larger than 256 MiB");
	if (skip > cn || skip > un)
		return perr(err, "a page's levels are larger than it");
	int rc;
	if ((rc = vec_need(&s->mem, &s->raw, cn + 1)) ||
	    (rc = vec_need(c->mem, &c->buf, un + 8)))
		return vec_err(rc, err);
	rc = pread_all(s, s->raw.p, cn, c->pos, r, err);
	if (rc)
		return rc;
	c->pos += cn;
	r->src->processed += un;
	uint8_t *dst = c->buf.p;
	memcpy(dst, s->raw.p, skip);
	int d = decompress(codec, (uint8_t *)s->raw.p + skip, cn - skip,
			   dst + skip, un - skip);
	if (d == -2)
		return sel_err_set(err, SEL_E_ParquetParsingError, 0, 0,
				   "compression %s is not supported",
				   codec_name(codec));
	if (d < 0)
		return sel_err_set(err, SEL_E_ParquetParsingError, 0, 0,
				   "a %s page does not decompress",
				   codec_name(codec));
	*out = dst;
	*outn = un;
	return 0;
}

static int load_dictionary(struct pq_col *c, const struct pq_page *pg,
			   const uint8_t *p, size_t n, struct sel_error *err)
{
	if (pg->encoding != PQE_PLAIN && pg->encoding != PQE_PLAIN_DICTIONARY)
		return perr(err, "a dictionary page is not PLAIN");
	if ((uint64_t)pg->num_values > (uint64_t)n * 8 + 8 ||
	    pg->num_values > (int32_t)SEL_MAX_PQ_VALUES)
		return perr(err, "a dictionary page is malformed");
	/* The dictionary outlives the page buffer: keep its bytes. */
	struct pq_vec tmp = c->dict_buf;
	c->dict_buf = c->buf;
	c->buf = tmp;
	int rc = vec_need(c->mem, &c->dict_vals,
			  ((size_t)pg->num_values + 1) * sizeof(struct pq_val));
	if (rc)
		return vec_err(rc, err);
	c->dict = c->dict_vals.p;
	c->ndict = (uint32_t)pg->num_values;
	if (plain_decode(c->node, p, n, c->ndict, c->dict) < 0)
		return perr(err, "a dictionary page is malformed");
	return 0;
}

/* Levels of a v1 page (RLE with a length prefix); returns bytes used. */
static ssize_t levels_v1(const uint8_t *p, size_t n, uint16_t max,
			 uint32_t count, uint16_t *out, uint32_t *tmp)
{
	uint32_t len;
	if (n < 4)
		return -1;
	memcpy(&len, p, 4);
	if (len > n - 4 ||
	    rle_decode(p + 4, len, bit_width(max), count, tmp) < 0)
		return -1;
	for (uint32_t k = 0; k < count; k++) {
		if (tmp[k] > max)
			return -1;
		out[k] = (uint16_t)tmp[k];
	}
	return (ssize_t)len + 4;
}

static int levels_v2(const uint8_t *p, size_t n, uint16_t max, uint32_t count,
		     uint16_t *out, uint32_t *tmp)
{
	if (rle_decode(p, n, bit_width(max), count, tmp) < 0)
		return -1;
	for (uint32_t k = 0; k < count; k++) {
		if (tmp[k] > max)
			return -1;
		out[k] = (uint16_t)tmp[k];
	}
	return 0;
}

/* Decode the levels and values of a data page p[0..n). */
static int data_page(struct pq_col *c, const struct pq_page *pg,
		     const uint8_t *p, size_t n, struct sel_error *err)
{
	const struct pq_leaf *lf = c->leaf;
	uint32_t count = (uint32_t)pg->num_values;
	bool v2 = pg->type == PQ_DATA_PAGE_V2;
	int rc = 0;
	if (count > SEL_MAX_PQ_VALUES)
		return perr(err, "a page holds too many values");
	/* Levels only where the column has them; idx holds them decoded. */
	if ((lf->max_def &&
	     (rc = vec_need(c->mem, &c->defs, (size_t)count * 2 + 2))) ||
	    (lf->max_rep &&
	     (rc = vec_need(c->mem, &c->reps, (size_t)count * 2 + 2))) ||
	    ((lf->max_def || lf->max_rep) &&
	     (rc = vec_need(c->mem, &c->idx, (size_t)count * 4 + 8))))
		return vec_err(rc, err);
	c->def = lf->max_def ? c->defs.p : NULL;
	c->rep = lf->max_rep ? c->reps.p : NULL;
	size_t pos = 0;
	if (v2) {
		size_t rl = (size_t)pg->rep_len, dl = (size_t)pg->def_len;
		if ((c->rep && levels_v2(p, rl, lf->max_rep, count, c->rep,
					 c->idx.p) < 0) ||
		    (c->def && levels_v2(p + rl, dl, lf->max_def, count, c->def,
					 c->idx.p) < 0))
			return perr(err, "a page's levels are malformed");
		pos = rl + dl;
	} else {
		ssize_t k;
		if (c->rep) {
			if (pg->rep_encoding != PQE_RLE ||
			    (k = levels_v1(p, n, lf->max_rep, count, c->rep,
					   c->idx.p)) < 0)
				return perr(err,
					    "a page's levels are malformed");
			pos += (size_t)k;
		}
		if (c->def) {
			if (pg->def_encoding != PQE_RLE ||
			    (k = levels_v1(p + pos, n - pos, lf->max_def, count,
					   c->def, c->idx.p)) < 0)
				return perr(err,
					    "a page's levels are malformed");
			pos += (size_t)k;
		}
	}
	uint32_t present = count;
	if (c->def) {
		present = 0;
		for (uint32_t k = 0; k < count; k++)
			present += c->def[k] == lf->max_def;
	}
	c->nlev = count;
	c->ilev = 0;
	rc = page_values(c, pg->encoding, p + pos, n - pos, present);
	if (rc == -ENOMEM || rc == -EFBIG)
		return vec_err(rc, err);
	if (rc == -2)
		return sel_err_set(err, SEL_E_ParquetParsingError, 0, 0,
				   "page encoding %d is not supported",
				   (int)pg->encoding);
	if (rc < 0)
		return perr(err, "a page's values are malformed");
	return 0;
}

/* Page in the next data page of c (reading a dictionary page first when
 * one comes). */
static int next_page(struct sel_reader *r, struct pq_col *c,
		     struct sel_error *err)
{
	for (;;) {
		struct pq_page pg;
		const uint8_t *p = NULL;
		size_t n = 0;
		if (c->values_left <= 0)
			return perr(
				err,
				"a column chunk has fewer values than rows");
		int rc = read_header(r, c, &pg, err);
		if (rc)
			return rc;
		bool v2 = pg.type == PQ_DATA_PAGE_V2;
		if (pg.type != PQ_DATA_PAGE && !v2 &&
		    pg.type != PQ_DICTIONARY_PAGE) {
			if ((uint64_t)pg.compressed_size > c->end - c->pos)
				return perr(
					err,
					"a page runs past its column chunk");
			c->pos += (uint64_t)pg.compressed_size; /* index */
			continue;
		}
		size_t skip = v2 ? (size_t)pg.rep_len + (size_t)pg.def_len : 0;
		int cd = v2 && !pg.is_compressed ? PQ_UNCOMPRESSED : c->codec;
		if (v2 && skip > (size_t)pg.compressed_size)
			return perr(err, "a page's levels are malformed");
		/* What a page may claim is bounded by its chunk and, for a
		 * column of one value a row, by the rows still to come:
		 * nothing is allocated for values that cannot be there. */
		if (pg.type != PQ_DICTIONARY_PAGE &&
		    pg.num_values > c->values_left)
			return perr(err, "a page holds more values than its "
					 "column chunk");
		if (pg.type != PQ_DICTIONARY_PAGE && !c->leaf->max_rep &&
		    pg.num_values > c->rows_left)
			return perr(err, "a page holds more values than its "
					 "row group has rows");
		if ((rc = read_body(r, c, &pg, cd, skip, &p, &n, err)))
			return rc;
		if (pg.type == PQ_DICTIONARY_PAGE) {
			if ((rc = load_dictionary(c, &pg, p, n, err)))
				return rc;
			continue;
		}
		if ((rc = data_page(c, &pg, p, n, err)))
			return rc;
		c->values_left -= pg.num_values;
		if (!c->leaf->max_rep)
			c->rows_left -= pg.num_values;
		if (pg.num_values == 0)
			continue;
		return 0;
	}
}

/* ---- level entries ---- */

struct pq_entry {
	uint16_t def, rep;
	const struct pq_val *v; /* NULL: no value at this level */
};

static inline int col_next(struct sel_reader *r, struct pq_col *c,
			   struct pq_entry *e, struct sel_error *err)
{
	if (__builtin_expect(c->ilev == c->nlev, 0)) {
		int rc = next_page(r, c, err);
		if (rc)
			return rc;
	}
	e->def = c->def ? c->def[c->ilev] : c->leaf->max_def;
	e->rep = c->rep ? c->rep[c->ilev] : 0;
	c->ilev++;
	e->v = NULL;
	if (e->def == c->leaf->max_def) {
		if (c->ival >= c->nval)
			return perr(err, "a page has fewer values than "
					 "its levels say");
		uint32_t k = c->ival++;
		if (c->mode == PQ_DICT) {
			e->v = &c->dict[c->ix[k]];
		} else if (c->mode == PQ_PLAIN) {
			fixed_value(c->node, c->plain + (size_t)k * c->width,
				    &c->cur);
			e->v = &c->cur;
		} else {
			e->v = &c->val[k];
		}
	}
	return 0;
}

/* Does the entry after the current one belong to the same row? */
static int col_continues(struct sel_reader *r, struct pq_col *c, bool *more,
			 struct sel_error *err)
{
	*more = false;
	if (!c->rep)
		return 0;
	if (c->ilev == c->nlev) {
		if (c->values_left <= 0)
			return 0;
		int rc = next_page(r, c, err);
		if (rc)
			return rc;
	}
	*more = c->rep[c->ilev] > 0;
	return 0;
}

/* ---- values ---- */

static void set_ts(struct sel_value *out, int64_t secs, int64_t nsec, int prec,
		   int fdigits)
{
	memset(out, 0, sizeof(*out));
	out->type = SEL_T_TIMESTAMP;
	out->u.ts.secs = secs;
	out->u.ts.nsec = (int32_t)nsec;
	out->u.ts.prec = (uint8_t)prec;
	out->u.ts.fdigits = (uint8_t)fdigits & 0xf;
}

static void ts_of(int64_t v, int unit, struct sel_value *out)
{
	static const int64_t per[] = {1000, 1000000, 1000000000};
	static const int digits[] = {3, 6, 9};
	int64_t p = per[unit <= PQ_NANOS ? unit : PQ_NANOS];
	int64_t secs = v / p, rem = v % p;
	if (rem < 0) {
		secs--;
		rem += p;
	}
	set_ts(out, secs, rem * (1000000000 / p), SEL_TS_FRAC,
	       digits[unit <= PQ_NANOS ? unit : PQ_NANOS]);
}

/* A big-endian two's-complement integer, as a double. */
static double be_int(const uint8_t *p, uint32_t n)
{
	if (n == 0)
		return 0;
	double v = (int8_t)p[0];
	for (uint32_t k = 1; k < n; k++)
		v = v * 256 + p[k];
	return v;
}

static double half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v = e == 0    ? ldexp(m, -24)
		   : e == 31 ? (m ? NAN : INFINITY)
			     : ldexp(m + 1024, e - 25);
	return h >> 15 ? -v : v;
}

static void set_num(struct sel_value *out, int type, double f)
{
	out->type = (uint8_t)type;
	out->u.f = f;
}

/* The S3 Select value of v, a value of leaf node nd.  Text made here
 * (a UUID) goes to tmp, 40 bytes. */
static void to_value(const struct pq_node *nd, const struct pq_val *v,
		     char *tmp, struct sel_value *out)
{
	bool dec = nd->meaning == PQM_DECIMAL;
	double scale = dec ? pow(10, nd->scale) : 1;
	switch (nd->type) {
	case PQ_BOOLEAN:
		out->type = SEL_T_BOOL;
		out->u.b = v->u.i != 0;
		return;
	case PQ_INT32:
	case PQ_INT64: {
		int64_t i = v->u.i;
		if (nd->type == PQ_INT32 && nd->meaning == PQM_UNSIGNED)
			i = (uint32_t)i;
		if (dec)
			return set_num(out, SEL_T_DECIMAL, (double)i / scale);
		/* DATE annotates INT32 only; days from an INT64 would
		 * overflow as seconds, so there it is a plain INT. */
		if (nd->meaning == PQM_DATE && nd->type == PQ_INT32)
			return set_ts(out, i * 86400, 0, SEL_TS_DAY, 0);
		if (nd->meaning == PQM_TIMESTAMP && nd->type == PQ_INT64)
			return ts_of(i, nd->unit, out);
		if (nd->meaning == PQM_UNSIGNED && nd->type == PQ_INT64 &&
		    i < 0)
			return set_num(out, SEL_T_DECIMAL, (double)(uint64_t)i);
		out->type = SEL_T_INT;
		out->u.i = i;
		return;
	}
	case PQ_INT96: {
		int64_t ns;
		int32_t jd;
		memcpy(&ns, v->u.p, 8);
		memcpy(&jd, v->u.p + 8, 4);
		int64_t secs = ((int64_t)jd - 2440588) * 86400;
		ts_of(ns, PQ_NANOS, out);
		out->u.ts.secs += secs;
		return;
	}
	case PQ_FLOAT:
	case PQ_DOUBLE:
		return set_num(out, SEL_T_FLOAT, v->u.f);
	default: /* BYTE_ARRAY, FLBA */
		break;
	}
	if (dec)
		return set_num(out, SEL_T_DECIMAL,
			       be_int(v->u.p, v->n) / scale);
	if (nd->meaning == PQM_FLOAT16 && v->n == 2)
		return set_num(
			out, SEL_T_FLOAT,
			half_to_double((uint16_t)(v->u.p[0] | v->u.p[1] << 8)));
	if (nd->meaning == PQM_UUID && v->n == 16) {
		static const char hex[] = "0123456789abcdef";
		char *q = tmp;
		for (int k = 0; k < 16; k++) {
			if (k == 4 || k == 6 || k == 8 || k == 10)
				*q++ = '-';
			*q++ = hex[v->u.p[k] >> 4];
			*q++ = hex[v->u.p[k] & 15];
		}
		return sel_value_str(out, tmp, 36);
	}
	sel_value_str(out, (const char *)v->u.p, v->n);
}

/* ---- rows ---- */

static int field_scalar(struct sel_reader *r, uint32_t f, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	struct pq_col *c = &s->cols[s->m.fields[f].leaf];
	struct pq_entry e;
	int rc = col_next(r, c, &e, err);
	if (rc)
		return rc;
	if (e.v)
		to_value(c->node, e.v, s->uuid[f], &s->fvals[f]);
	else
		s->fvals[f].type = SEL_T_NULL;
	return 0;
}

/* Append the JSON text of entry e of c (a value or null) to out. */
static int entry_json(const struct pq_col *c, const struct pq_entry *e,
		      struct cmn_buf *out)
{
	struct sel_value v;
	char tmp[40];
	if (!e->v)
		return cmn_buf_adds(out, "null");
	to_value(c->node, e->v, tmp, &v);
	return sel_value_to_json(&v, out);
}

/* A list: its elements as a JSON array in s->text, or NULL. */
static int field_list(struct sel_reader *r, uint32_t f, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	const struct pq_field *fd = &s->m.fields[f];
	struct pq_col *c = &s->cols[fd->leaf];
	struct pq_entry e;
	int rc = col_next(r, c, &e, err);
	if (rc)
		return rc;
	if (e.rep != 0)
		return perr(err, "a list does not start a row");
	if (e.def < fd->def_list) {
		s->fvals[f].type = SEL_T_NULL;
		return 0;
	}
	s->ftext[f] = s->text.len;
	bool first = true, more;
	rc = cmn_buf_addc(&s->text, '[');
	while (!rc) {
		if (e.def > fd->def_list) {
			if (!first)
				rc = cmn_buf_addc(&s->text, ',');
			if (!rc)
				rc = entry_json(c, &e, &s->text);
			first = false;
		}
		if (rc || (rc = col_continues(r, c, &more, err)) || !more)
			break;
		rc = col_next(r, c, &e, err);
	}
	if (!rc)
		rc = cmn_buf_addc(&s->text, ']');
	s->fvals[f].type = SEL_T_JSON;
	return rc == -E2BIG ? perr(err, "a list is larger than 1 MiB") : rc;
}

/* Append the JSON member name for a map key: a string key's text, any
 * other key's text as a string. */
static int key_json(const struct pq_col *c, const struct pq_entry *e,
		    struct cmn_buf *out)
{
	struct sel_value v;
	char tmp[40];
	if (!e->v) /* keys are required; a null one is written as "null" */
		return sel_value_json_quote("null", 4, out);
	to_value(c->node, e->v, tmp, &v);
	if (v.type == SEL_T_STRING)
		return sel_value_json_quote(v.u.s, v.len, out);
	struct cmn_buf t;
	cmn_buf_init(&t, 256);
	int rc = sel_value_to_text(&v, &t);
	if (!rc)
		rc = sel_value_json_quote(t.data ? t.data : "", t.len, out);
	cmn_buf_free(&t);
	return rc;
}

/* A map: its entries as a JSON object in s->text, or NULL.  The key and
 * value columns have the same levels but for the value's own NULL. */
static int field_map(struct sel_reader *r, uint32_t f, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	const struct pq_field *fd = &s->m.fields[f];
	struct pq_col *kc = &s->cols[fd->leaf], *vc = &s->cols[fd->leaf + 1];
	struct pq_entry k, v;
	bool first = true, more;
	int rc = col_next(r, kc, &k, err);
	if (!rc)
		rc = col_next(r, vc, &v, err);
	if (rc)
		return rc;
	if (k.rep != 0)
		return perr(err, "a map does not start a row");
	if (k.def < fd->def_list) {
		s->fvals[f].type = SEL_T_NULL;
		return 0;
	}
	s->ftext[f] = s->text.len;
	rc = cmn_buf_addc(&s->text, '{');
	while (!rc) {
		if (k.def > fd->def_list) {
			if ((!first && (rc = cmn_buf_addc(&s->text, ','))) ||
			    (rc = key_json(kc, &k, &s->text)) ||
			    (rc = cmn_buf_addc(&s->text, ':')) ||
			    (rc = entry_json(vc, &v, &s->text)))
				break;
			first = false;
		}
		if ((rc = col_continues(r, kc, &more, err)) || !more)
			break;
		if (!(rc = col_next(r, kc, &k, err)))
			rc = col_next(r, vc, &v, err);
	}
	if (!rc)
		rc = cmn_buf_addc(&s->text, '}');
	s->fvals[f].type = SEL_T_JSON;
	return rc == -E2BIG ? perr(err, "a map is larger than 1 MiB") : rc;
}

/* A struct of primitives: a JSON object in s->text, or NULL.  Each leaf
 * says whether the struct is there; the first decides, and a leaf that
 * says otherwise makes the file damaged. */
static int field_struct(struct sel_reader *r, uint32_t f, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	const struct pq_field *fd = &s->m.fields[f];
	bool null = false, first = true;
	s->ftext[f] = s->text.len;
	int rc = cmn_buf_addc(&s->text, '{');
	for (uint32_t k = 0; !rc && k < fd->nleaves; k++) {
		struct pq_col *c = &s->cols[fd->leaf + k];
		struct pq_entry e;
		if ((rc = col_next(r, c, &e, err)))
			return rc;
		bool absent = e.def < fd->def_struct;
		if (k == 0)
			null = absent;
		else if (absent != null)
			return perr(err, "the columns of a struct disagree on "
					 "whether it is null");
		if (null)
			continue;
		const char *nm = c->node->name;
		if ((!first && (rc = cmn_buf_addc(&s->text, ','))) ||
		    (rc = sel_value_json_quote(nm, strlen(nm), &s->text)) ||
		    (rc = cmn_buf_addc(&s->text, ':')) ||
		    (rc = entry_json(c, &e, &s->text)))
			break;
		first = false;
	}
	if (!rc)
		rc = cmn_buf_addc(&s->text, '}');
	s->fvals[f].type = null ? SEL_T_NULL : SEL_T_JSON;
	return rc == -E2BIG ? perr(err, "a struct is larger than 1 MiB") : rc;
}

/* The whole row as a JSON object, in s->row. */
static int row_json(struct pq_state *s)
{
	struct cmn_buf *b = &s->row;
	cmn_buf_reset(b);
	int rc = cmn_buf_addc(b, '{');
	bool first = true;
	for (uint32_t f = 0; !rc && f < s->m.nfields; f++) {
		const char *nm = s->m.fields[f].name;
		if ((!first && (rc = cmn_buf_addc(b, ','))) ||
		    (rc = sel_value_json_quote(nm, strlen(nm), b)) ||
		    (rc = cmn_buf_addc(b, ':')))
			break;
		first = false;
		const struct sel_value *v = &s->fvals[f];
		if (v->type == SEL_T_JSON)
			rc = cmn_buf_add(b, v->u.s, v->len);
		else
			rc = sel_value_to_json(v, b);
	}
	if (!rc)
		rc = cmn_buf_addc(b, '}');
	return rc;
}

/* Say which column and row group a damaged page belongs to. */
static void where_in_file(const struct pq_state *s, uint32_t f,
			  struct sel_error *err)
{
	char what[sizeof(err->message)];
	if (strcmp(err->code, "ParquetParsingError") != 0)
		return;
	memcpy(what, err->message, sizeof(what));
	int n = snprintf(err->message, sizeof(err->message),
			 "column '%.200s', row group %u: ", s->m.fields[f].name,
			 s->rg - 1);
	if (n > 0 && (size_t)n < sizeof(err->message))
		memcpy(err->message + n, what,
		       strnlen(what, sizeof(what) - (size_t)n - 1) + 1);
	err->message[sizeof(err->message) - 1] = '\0';
}

static int read_row(struct sel_reader *r, struct sel_record *rec,
		    struct sel_error *err)
{
	struct pq_state *s = r->priv;
	int rc = 0;
	cmn_buf_reset(&s->text);
	for (uint32_t u = 0; !rc && u < s->nused; u++) {
		uint32_t f = s->ufields[u];
		switch (s->m.fields[f].shape) {
		case PQ_SHAPE_SCALAR:
			rc = field_scalar(r, f, err);
			break;
		case PQ_SHAPE_LIST:
			rc = field_list(r, f, err);
			break;
		case PQ_SHAPE_MAP:
			rc = field_map(r, f, err);
			break;
		default:
			rc = field_struct(r, f, err);
		}
		if (rc && rc != -ENOMEM && rc != -E2BIG)
			where_in_file(s, f, err);
		/* Text lengths now; pointers once the buffer stops moving. */
		if (!rc && s->fvals[f].type == SEL_T_JSON)
			s->fvals[f].len = (uint32_t)(s->text.len - s->ftext[f]);
	}
	for (uint32_t u = 0; !rc && s->text.len && u < s->nused; u++) {
		uint32_t f = s->ufields[u];
		if (s->fvals[f].type == SEL_T_JSON)
			s->fvals[f].u.s = s->text.data + s->ftext[f];
	}
	if (!rc && r->need_row)
		rc = row_json(s);
	if (rc == -E2BIG)
		return sel_err_set(err, SEL_E_OverMaxRecordSize, 0, 0,
				   "a row is larger than 1 MiB");
	if (rc)
		return rc == -ENOMEM ? sel_err_set(err, SEL_E_InternalError, 0,
						   0, "out of memory")
				     : rc;
	memset(rec, 0, sizeof(*rec));
	rec->kind = SEL_REC_JSON;
	rec->slots = s->slots;
	rec->offset = s->rg_offset;
	if (r->star) {
		rec->tvals = s->fvals;
		rec->tnames = s->names;
		rec->tnlens = s->nlens;
		rec->ntvals = s->m.nfields;
	}
	if (r->need_row) {
		rec->json = s->row.data;
		rec->json_len = (uint32_t)s->row.len;
	} else {
		rec->json = "{}";
		rec->json_len = 2;
	}
	return 0;
}

/* ---- row groups ---- */

static bool in_range(const struct sel_reader *r, const struct pq_rowgroup *rg)
{
	const struct sel_range *rr = &r->range;
	uint64_t at = (uint64_t)rg->start;
	return (!rr->has_start || at >= rr->start) &&
	       (!rr->has_end || at <= rr->end);
}

static int open_rowgroup(struct sel_reader *r, uint32_t g,
			 struct sel_error *err)
{
	struct pq_state *s = r->priv;
	const struct pq_rowgroup *rg = &s->m.rgs[g];
	for (uint32_t f = 0; f < s->m.nfields; f++) {
		const struct pq_field *fd = &s->m.fields[f];
		for (uint32_t k = 0; s->used[f] && k < fd->nleaves; k++) {
			const struct pq_chunk *ck = &rg->chunks[fd->leaf + k];
			struct pq_col *c = &s->cols[fd->leaf + k];
			uint64_t start =
				(uint64_t)(ck->dict_page_offset >= 4 &&
							   ck->dict_page_offset <
								   ck->data_page_offset
						   ? ck->dict_page_offset
						   : ck->data_page_offset);
			uint64_t len = (uint64_t)ck->total_compressed_size;
			if (start < 4 || start > s->size ||
			    len > s->size - start)
				return perr(err,
					    "a column chunk lies outside the "
					    "file");
			c->codec = ck->codec;
			c->pos = start;
			c->end = start + len;
			c->values_left = ck->num_values;
			c->rows_left = rg->num_rows;
			c->nlev = c->ilev = c->nval = c->ival = 0;
			c->dict = NULL;
			c->ndict = 0;
		}
	}
	s->rows_left = rg->num_rows;
	s->rg_offset = (uint64_t)rg->start;
	return 0;
}

/* ---- preparing: which fields the query reads ---- */

static bool key_names(const struct sel_jkey *k, const char *name)
{
	size_t n = strlen(name);
	if (n != k->len)
		return false;
	return k->exact ? memcmp(name, k->name, n) == 0
			: strncasecmp(name, k->name, n) == 0;
}

static int prepare(struct sel_reader *r, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	uint32_t nf = s->m.nfields;
	s->prepared = true;
	if ((r->nkeys && !(s->slots = calloc(r->nkeys, sizeof(*s->slots)))) ||
	    (nf && (!(s->used = calloc(nf, sizeof(*s->used))) ||
		    !(s->fvals = calloc(nf, sizeof(*s->fvals))) ||
		    !(s->ftext = calloc(nf, sizeof(*s->ftext))) ||
		    !(s->uuid = calloc(nf, sizeof(*s->uuid))))))
		return -ENOMEM;
	for (uint32_t k = 0; k < r->nkeys; k++) {
		for (uint32_t f = 0; f < nf; f++) {
			if (!key_names(&r->keys[k], s->m.fields[f].name))
				continue;
			if (!s->slots[k].count++)
				s->slots[k].tv = &s->fvals[f];
			s->used[f] = true;
		}
	}
	if (nf && (!(s->ufields = calloc(nf, sizeof(*s->ufields))) ||
		   !(s->names = calloc(nf, sizeof(*s->names))) ||
		   !(s->nlens = calloc(nf, sizeof(*s->nlens)))))
		return -ENOMEM;
	for (uint32_t f = 0; f < nf; f++) {
		s->names[f] = s->m.fields[f].name;
		s->nlens[f] = (uint32_t)strlen(s->names[f]);
		s->used[f] |= r->need_row || r->star;
		if (!s->used[f])
			continue;
		if (s->m.fields[f].shape == PQ_SHAPE_OTHER)
			return sel_err_set(err, SEL_E_NotImplemented, 0, 0,
					   "column '%s' nests groups or lists "
					   "deeper than S3 Select reads",
					   s->m.fields[f].name);
		s->ufields[s->nused++] = f;
	}
	return 0;
}

/* ---- the reader ---- */

static int read_footer(struct sel_reader *r, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	uint8_t tail[8];
	if (s->size < 12)
		return perr(err, "the object is too short for Parquet");
	int rc = pread_all(s, tail, 8, s->size - 8, r, err);
	if (rc)
		return rc;
	uint32_t len;
	memcpy(&len, tail, 4);
	if (memcmp(tail + 4, "PAR1", 4) != 0)
		return perr(err, "the object is not Parquet (no PAR1 at "
				 "its end)");
	if (len > s->size - 12 || len > SEL_MAX_PQ_FOOTER)
		return perr(err, "the footer length is impossible");
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	rc = pread_all(s, buf, len, s->size - 8 - len, r, err);
	r->src->processed += len + 8; /* the footer is never compressed */
	char msg[160];
	if (!rc && (rc = pq_meta_parse(buf, len, &s->m, msg, sizeof(msg))))
		rc = rc == -ENOMEM ? rc : perr(err, msg);
	free(buf);
	return rc;
}

static void pq_close(struct sel_reader *r);

static int pq_open(struct sel_reader *r, struct sel_error *err)
{
	struct pq_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r->priv = s;
	s->fd = r->src->fd;
	cmn_buf_init(&s->text, SEL_MAX_RECORD);
	cmn_buf_init(&s->row, SEL_MAX_RECORD);
	struct stat st;
	if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "Parquet input must be a regular file");
	s->size = (uint64_t)st.st_size;
	int rc = read_footer(r, err);
	if (rc)
		return rc;
	if (s->m.nleaves && !(s->cols = calloc(s->m.nleaves, sizeof(*s->cols))))
		return -ENOMEM;
	for (uint32_t k = 0; k < s->m.nleaves; k++) {
		s->cols[k].leaf = &s->m.leaves[k];
		s->cols[k].node = &s->m.nodes[s->m.leaves[k].node];
		s->cols[k].width = (uint32_t)phys_width(s->cols[k].node);
		s->cols[k].mem = &s->mem;
	}
	return 0;
}

static int pq_next(struct sel_reader *r, struct sel_record *rec,
		   struct sel_error *err)
{
	struct pq_state *s = r->priv;
	int rc;
	if (!s->prepared && (rc = prepare(r, err)))
		return rc;
	while (s->rows_left == 0) {
		if (s->rg >= s->m.nrgs)
			return 0;
		uint32_t g = s->rg++;
		if (in_range(r, &s->m.rgs[g]) &&
		    (rc = open_rowgroup(r, g, err)))
			return rc;
	}
	s->rows_left--;
	rc = read_row(r, rec, err);
	return rc ? rc : 1;
}

/* COUNT(*): the row counts of the row groups in range, from the footer. */
static int pq_count(struct sel_reader *r, int64_t *n, struct sel_error *err)
{
	struct pq_state *s = r->priv;
	(void)err;
	*n = s->rows_left;
	s->rows_left = 0;
	for (; s->rg < s->m.nrgs; s->rg++)
		if (in_range(r, &s->m.rgs[s->rg]))
			*n += s->m.rgs[s->rg]
				      .num_rows; /* the sum was checked */
	return 0;
}

static void pq_close(struct sel_reader *r)
{
	struct pq_state *s = r->priv;
	if (!s)
		return;
	for (uint32_t k = 0; s->cols && k < s->m.nleaves; k++) {
		struct pq_col *c = &s->cols[k];
		struct pq_vec *v[] = {&c->dict_buf, &c->dict_vals, &c->buf,
				      &c->extra,    &c->defs,	   &c->reps,
				      &c->idx,	    &c->vals};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			vec_free(v[i]);
	}
	free(s->cols);
	free(s->used);
	free(s->ufields);
	free(s->names);
	free(s->nlens);
	free(s->slots);
	free(s->fvals);
	free(s->ftext);
	free(s->uuid);
	vec_free(&s->head);
	vec_free(&s->raw);
	cmn_buf_free(&s->text);
	cmn_buf_free(&s->row);
	pq_meta_free(&s->m);
	free(s);
	r->priv = NULL;
}

const struct sel_reader_ops sel_parquet_reader = {
	.name = "Parquet",
	.open = pq_open,
	.next_record = pq_next,
	.count = pq_count,
	.close = pq_close,
};
