/*
 * sel_csv.c - the CSV reader: S3's CSVInput options (FileHeaderInfo,
 * FieldDelimiter, RecordDelimiter, QuoteCharacter, QuoteEscapeCharacter,
 * Comments, AllowQuotedRecordDelimiter) and scan ranges.
 *
 * Speed comes from doing little per byte: a record's end is found with
 * memchr (quotes only matter when AllowQuotedRecordDelimiter is TRUE, as in
 * S3), a record is split only up to the highest column the query uses,
 * unquoted fields are slices of the window, and only quoted fields with
 * escapes are copied (into scratch reserved once per record).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sel_err.h"
#include "sel_io.h"
#include "sel_limits.h"

struct csv {
	struct sel_field *fields;
	uint32_t cap;
	struct cmn_buf scratch;
	char *hdr_mem;
	size_t scan_from; /* bytes after src->start already searched */
	bool done;
};

static inline bool delim_at(const char *b, size_t k, size_t end,
			    const struct sel_delim *d)
{
	return d->len && b[k] == d->s[0] && k + d->len <= end &&
	       memcmp(b + k, d->s, d->len) == 0;
}

/* AllowQuotedRecordDelimiter: the end of the record at b[from..end) as
 * split() will read it, so that a record delimiter inside a quoted field
 * is part of the field.  A quote opens a field only at the field's start
 * (elsewhere it is a plain byte), inside one an escaped or doubled quote
 * does not close it, and a comment line ends at the first record
 * delimiter whatever quotes it holds.  The record is scanned again from
 * its start after each read: the state at the window's end is not kept. */
static int find_end_quoted(const struct sel_in_opts *o, const char *b,
			   size_t from, size_t end, size_t *rec_end,
			   size_t *next)
{
	const struct sel_delim *rd = &o->record_delim, *cm = &o->comments;
	char q = o->quote.s[0];
	char esc = o->quote_escape.len ? o->quote_escape.s[0] : q;
	bool comment = cm->len && end - from >= cm->len &&
		       memcmp(b + from, cm->s, cm->len) == 0;
	bool in_q = false;
	size_t field = from; /* where the current field starts */
	for (size_t k = from; k < end; k++) {
		char c = b[k];
		if (in_q) {
			/* A quote or escape at the window's end is settled
			 * by the next scan: no delimiter follows it yet. */
			if (k + 1 < end && b[k + 1] == q &&
			    ((c == esc && esc != q) || (c == q && esc == q)))
				k++;
			else if (c == q)
				in_q = false;
		} else if (c == q && k == field && !comment) {
			in_q = true;
		} else if (delim_at(b, k, end, rd)) {
			*rec_end = k;
			*next = k + rd->len;
			return 1;
		} else if (delim_at(b, k, end, &o->field_delim)) {
			k += o->field_delim.len - 1;
			field = k + 1;
		}
	}
	return 0;
}

/* Find the end of the record at buf[from..end): *rec_end is where the
 * delimiter starts, *next past it.  Returns 1, or 0 when no delimiter is
 * in the window yet. */
static int find_end(const struct sel_reader *r, const char *b, size_t from,
		    size_t end, size_t *rec_end, size_t *next, size_t *scan)
{
	const struct sel_delim *rd = &r->opts->record_delim;
	size_t k = from + *scan;
	if (r->opts->allow_quoted_rd && r->opts->quote.len)
		return find_end_quoted(r->opts, b, from, end, rec_end, next);
	if (rd->len == 1) {
		const char *e = memchr(b + k, rd->s[0], end - k);
		if (e) {
			*rec_end = (size_t)(e - b);
			*next = *rec_end + 1;
			return 1;
		}
	} else {
		const char *e = memmem(b + k, end - k, rd->s, rd->len);
		if (e) {
			*rec_end = (size_t)(e - b);
			*next = *rec_end + rd->len;
			return 1;
		}
	}
	*scan = end - from >= rd->len ? end - from - (rd->len - 1) : 0;
	return 0;
}

/* The next raw record [*s, *e) of the window; advances src->start.
 * Returns 1, 0 at the end of input, or -errno. */
static int raw_record(struct sel_reader *r, struct csv *c, size_t *s, size_t *e,
		      struct sel_error *err)
{
	struct sel_src *src = r->src;
	for (;;) {
		size_t re, nx;
		if (find_end(r, src->buf, src->start, src->end, &re, &nx,
			     &c->scan_from)) {
			*s = src->start;
			*e = re;
			src->start = nx;
			c->scan_from = 0;
			return 1;
		}
		if (src->eof) {
			if (src->start == src->end)
				return 0;
			*s = src->start;
			*e = src->end;
			src->start = src->end;
			c->scan_from = 0;
			return 1;
		}
		ssize_t m = sel_src_more(src, err);
		if (m < 0)
			return (int)m;
	}
}

static int grow_fields(struct csv *c, struct sel_error *err)
{
	if (c->cap >= SEL_MAX_COLUMNS)
		return sel_err_set(err, SEL_E_OverMaxColumn, 0, 0,
				   "a record has more than %d columns",
				   SEL_MAX_COLUMNS);
	uint32_t nc = c->cap ? c->cap * 2 : 64;
	struct sel_field *nf = realloc(c->fields, nc * sizeof(*nf));
	if (!nf)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	c->fields = nf;
	c->cap = nc;
	return 0;
}

/* A quoted field starting at p (on the quote).  Sets *f and returns the
 * position after the closing quote, or NULL for malformed quoting. */
static const char *quoted(const struct sel_in_opts *o, struct csv *c,
			  const char *p, const char *e, struct sel_field *f)
{
	char q = o->quote.s[0];
	char esc = o->quote_escape.len ? o->quote_escape.s[0] : q;
	const char *seg = ++p;
	size_t out0 = c->scratch.len;
	bool copied = false;
	while (p < e) {
		char ch = *p;
		if (ch == esc && esc != q && p + 1 < e && p[1] == q) {
			cmn_buf_add(&c->scratch, seg, (size_t)(p - seg));
			cmn_buf_addc(&c->scratch, q);
			copied = true;
			p += 2;
			seg = p;
		} else if (ch == q) {
			if (esc == q && p + 1 < e && p[1] == q) {
				cmn_buf_add(&c->scratch, seg,
					    (size_t)(p - seg));
				cmn_buf_addc(&c->scratch, q);
				copied = true;
				p += 2;
				seg = p;
				continue;
			}
			if (copied) {
				cmn_buf_add(&c->scratch, seg,
					    (size_t)(p - seg));
				f->p = c->scratch.data + out0;
				f->len = (uint32_t)(c->scratch.len - out0);
			} else {
				f->p = seg;
				f->len = (uint32_t)(p - seg);
			}
			return p + 1;
		} else {
			p++;
		}
	}
	return NULL;
}

/* Bits of the delimiter and of the quote among the 16 bytes at v (n of
 * them valid, n <= 16). */
static inline void delims16(const char *v, size_t n, char d, int qc,
			    unsigned *dm, unsigned *qm)
{
	char tail[16];
	if (n < 16) {
		memset(tail, 0, sizeof(tail));
		memcpy(tail, v, n);
		v = tail;
	}
	unsigned keep = n < 16 ? (1u << n) - 1 : 0xffffu;
#ifdef __SSE2__
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	*dm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(d))) &
	      keep;
	*qm = qc < 0 ? 0
		     : (unsigned)_mm_movemask_epi8(
			       _mm_cmpeq_epi8(x, _mm_set1_epi8((char)qc))) &
			       keep;
#else
	unsigned a = 0, q = 0;
	for (int i = 0; i < 16; i++) {
		a |= (unsigned)(v[i] == d) << i;
		q |= (unsigned)(qc >= 0 && (unsigned char)v[i] == qc) << i;
	}
	*dm = a & keep;
	*qm = q & keep;
#endif
}

/* The common record: a one-byte delimiter and no quote character in it.
 * One pass makes a bit mask of the delimiters sixteen bytes at a time and
 * the fields fall out of it, instead of a memchr per field.  Returns 1
 * with the fields split as split() would, 0 when the record has a quote
 * (split() then does it), or -errno. */
static int split_plain(struct sel_reader *r, struct csv *c, const char *b,
		       size_t n, uint32_t *count, struct sel_error *err)
{
	const struct sel_in_opts *o = r->opts;
	char d = o->field_delim.s[0];
	int qc = o->quote.len ? (unsigned char)o->quote.s[0] : -1;
	uint32_t want = r->want >= 0 ? (uint32_t)r->want + 1 : UINT32_MAX;
	uint32_t k = 0;
	size_t from = 0;
	for (size_t at = 0; at < n; at += 16) {
		unsigned dm, qm;
		delims16(b + at, n - at < 16 ? n - at : 16, d, qc, &dm, &qm);
		if (qm)
			return 0;
		for (; dm; dm &= dm - 1) {
			int rr;
			if (k == c->cap && (rr = grow_fields(c, err)))
				return rr;
			size_t pos = at + (size_t)__builtin_ctz(dm);
			c->fields[k].p = b + from;
			c->fields[k].len = (uint32_t)(pos - from);
			from = pos + 1;
			if (++k == want) {
				*count = k;
				return 1;
			}
		}
	}
	int rr;
	if (k == c->cap && (rr = grow_fields(c, err)))
		return rr;
	c->fields[k].p = b + from;
	c->fields[k].len = (uint32_t)(n - from);
	*count = k + 1;
	return 1;
}

/* Split the record b[0..n) into c->fields, up to column r->want. */
static int split(struct sel_reader *r, struct csv *c, const char *b, size_t n,
		 uint32_t *count, struct sel_error *err)
{
	const struct sel_in_opts *o = r->opts;
	const struct sel_delim *fd = &o->field_delim;
	const char *p = b, *e = b + n;
	uint32_t k = 0;
	int qc = o->quote.len ? (unsigned char)o->quote.s[0] : -1;
	cmn_buf_reset(&c->scratch);
	if (fd->len == 1) {
		int rr = split_plain(r, c, b, n, count, err);
		if (rr)
			return rr < 0 ? rr : 0;
	}
	if (qc >= 0 && memchr(b, qc, n) && !cmn_buf_reserve(&c->scratch, n + 1))
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	for (;;) {
		int rr;
		if (k == c->cap && (rr = grow_fields(c, err)))
			return rr;
		struct sel_field *f = &c->fields[k++];
		const char *d;
		if (qc >= 0 && p < e && (unsigned char)*p == qc) {
			const char *after = quoted(o, c, p, e, f);
			if (!after)
				return sel_err_set(err, SEL_E_CSVParsingError,
						   0, 0,
						   "unterminated quoted field "
						   "in CSV record");
			if (after < e && !(after + fd->len <= e &&
					   memcmp(after, fd->s, fd->len) == 0))
				return sel_err_set(err, SEL_E_CSVParsingError,
						   0, 0,
						   "unexpected character "
						   "after a quoted field");
			d = after < e ? after : NULL;
		} else {
			d = fd->len == 1 ? memchr(p, fd->s[0], (size_t)(e - p))
					 : memmem(p, (size_t)(e - p), fd->s,
						  fd->len);
			f->p = p;
			f->len = (uint32_t)((d ? d : e) - p);
		}
		if (!d || (r->want >= 0 && k > (uint32_t)r->want))
			break;
		p = d + fd->len;
	}
	*count = k;
	return 0;
}

/* Next data record (comment lines and empty lines skipped). */
static int next_line(struct sel_reader *r, struct csv *c, const char **b,
		     size_t *n, uint64_t *off, struct sel_error *err)
{
	for (;;) {
		size_t s, e;
		int rr = raw_record(r, c, &s, &e, err);
		if (rr <= 0)
			return rr;
		*off = r->src->base + s;
		if (r->range.has_end && *off > r->range.end)
			return 0;
		const char *p = r->src->buf + s;
		size_t len = e - s;
		if (len && p[len - 1] == '\r' &&
		    r->opts->record_delim.len == 1 &&
		    r->opts->record_delim.s[0] == '\n')
			len--;
		if (len > SEL_MAX_RECORD)
			return sel_err_set(
				err, SEL_E_OverMaxRecordSize, 0, 0,
				"a record is longer than the maximum "
				"of maxCharsPerRecord of 1 MB");
		if (len == 0)
			continue;
		const struct sel_delim *cm = &r->opts->comments;
		if (cm->len && len >= cm->len && memcmp(p, cm->s, cm->len) == 0)
			continue;
		*b = p;
		*n = len;
		return 1;
	}
}

static int keep_header(struct sel_reader *r, struct csv *c,
		       const struct sel_field *f, uint32_t n)
{
	size_t total = 0;
	for (uint32_t i = 0; i < n; i++)
		total += f[i].len;
	c->hdr_mem = malloc(total + 1);
	r->header = malloc((n ? n : 1) * sizeof(*r->header));
	if (!c->hdr_mem || !r->header)
		return -ENOMEM;
	size_t o = 0;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(c->hdr_mem + o, f[i].p, f[i].len);
		r->header[i].p = c->hdr_mem + o;
		r->header[i].len = f[i].len;
		o += f[i].len;
	}
	r->nheader = n;
	return 0;
}

/* With a scan range starting past 0, the header is the object's first
 * line: read it with pread, leaving the range position alone.  (A dup of
 * the fd would share its offset with the range's source, which reads on
 * from that offset.)  Reads are full-sized up to SEL_MAX_RECORD, the
 * longest a header can be. */
static int header_from_start(struct sel_reader *r, struct csv *c,
			     struct sel_error *err)
{
	struct sel_src tmp = {0};
	struct sel_reader hr = *r;
	struct csv hc = {0};
	if (lseek(r->src->fd, 0, SEEK_CUR) < 0)
		return sel_err_set(err, SEL_E_InvalidRequestParameter, 0, 0,
				   "a scan range with a header row needs a "
				   "seekable input");
	int rr = sel_src_open_at(&tmp, r->src->fd, 0, SEL_MAX_RECORD, err);
	const char *b = NULL;
	size_t n = 0;
	uint64_t off;
	uint32_t cnt = 0;
	hr.src = &tmp;
	hr.want = -1;
	hr.range.has_end = false;
	cmn_buf_init(&hc.scratch, SEL_MAX_RECORD + 1);
	if (rr == 0 && (rr = next_line(&hr, &hc, &b, &n, &off, err)) == 1 &&
	    (rr = split(&hr, &hc, b, n, &cnt, err)) == 0) {
		c->fields = hc.fields;
		c->cap = hc.cap;
		hc.fields = NULL;
		rr = keep_header(r, c, c->fields, cnt);
	}
	free(hc.fields);
	cmn_buf_free(&hc.scratch);
	sel_src_close(&tmp);
	return rr < 0 ? rr : 0;
}

static int csv_open(struct sel_reader *r, struct sel_error *err)
{
	struct csv *c = calloc(1, sizeof(*c));
	if (!c)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	r->priv = c;
	cmn_buf_init(&c->scratch, SEL_MAX_RECORD + 1);
	bool ranged = r->range.has_start && r->range.start > 0;
	if (ranged) {
		/* The source starts one byte early: the record in progress
		 * there belongs to the previous range. */
		size_t s, e;
		int rr = raw_record(r, c, &s, &e, err);
		if (rr < 0)
			return rr;
	}
	if (r->opts->header == SEL_HDR_NONE)
		return 0;
	if (ranged && r->given_header)
		return keep_header(r, c, r->given_header, r->ngiven_header) < 0
			       ? sel_err_set(err, SEL_E_InternalError, 0, 0,
					     "out of memory")
			       : 0;
	if (ranged)
		return header_from_start(r, c, err);
	const char *b = NULL;
	size_t n = 0;
	uint64_t off;
	uint32_t cnt = 0;
	int want = r->want;
	r->want = -1;
	int rr = next_line(r, c, &b, &n, &off, err);
	if (rr == 1)
		rr = split(r, c, b, n, &cnt, err);
	r->want = want;
	if (rr < 0)
		return rr;
	if (rr == 0 && keep_header(r, c, c->fields, cnt) < 0)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	return 0;
}

static int csv_next(struct sel_reader *r, struct sel_record *rec,
		    struct sel_error *err)
{
	struct csv *c = r->priv;
	const char *b = NULL;
	size_t n = 0;
	uint64_t off;
	if (c->done)
		return 0;
	int rr = next_line(r, c, &b, &n, &off, err);
	if (rr <= 0) {
		c->done = true;
		return rr;
	}
	uint32_t cnt;
	if ((rr = split(r, c, b, n, &cnt, err)) < 0)
		return rr;
	rec->kind = SEL_REC_CSV;
	rec->missing = false;
	rec->fields = c->fields;
	rec->nfields = cnt;
	rec->offset = off;
	return 1;
}

static void csv_close(struct sel_reader *r)
{
	struct csv *c = r->priv;
	if (!c)
		return;
	free(c->fields);
	free(c->hdr_mem);
	cmn_buf_free(&c->scratch);
	free(r->header);
	r->header = NULL;
	free(c);
	r->priv = NULL;
}

const struct sel_reader_ops sel_csv_reader = {
	.name = "CSV",
	.open = csv_open,
	.next_record = csv_next,
	.close = csv_close,
};
