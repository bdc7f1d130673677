/*
 * sel_output.c - the CSV and JSON record writers (S3's CSVOutput and
 * JSONOutput options).  Records are appended to one large buffer that is
 * written with one write(2) when it fills, so output costs no syscall per
 * record.  No header row is ever written for CSV, as in S3.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sel_err.h"
#include "sel_io.h"
#include "sel_limits.h"

void sel_writer_init(struct sel_writer *w, int fd,
		     const struct sel_out_opts *opts)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->opts = opts;
	cmn_buf_init(&w->buf, SEL_OUT_BUF + SEL_MAX_RECORD + 64);
	cmn_buf_init(&w->tmp, SEL_MAX_COLUMN_LEN);
	w->special['\n'] = w->special['\r'] = 1;
	if (opts->field_delim.len)
		w->special[(unsigned char)opts->field_delim.s[0]] = 1;
	if (opts->record_delim.len)
		w->special[(unsigned char)opts->record_delim.s[0]] = 1;
	if (opts->quote.len)
		w->special[(unsigned char)opts->quote.s[0]] = 1;
	if (opts->quote_escape.len)
		w->special[(unsigned char)opts->quote_escape.s[0]] = 1;
	/* An INT is '-' and digits: written as is unless ALWAYS quotes it
	 * or one of those bytes is a delimiter or quote. */
	w->int_plain = !(opts->quote.len && opts->quote_always) &&
		       !w->special['-'];
	for (int c = '0'; c <= '9'; c++)
		w->int_plain = w->int_plain && !w->special[c];
}

void sel_writer_free(struct sel_writer *w)
{
	cmn_buf_free(&w->buf);
	cmn_buf_free(&w->tmp);
}

void sel_writer_begin(struct sel_writer *w)
{
	w->rec_start = w->buf.len;
	w->in_record = true;
	w->nfield = 0;
	if (w->opts->format == SEL_FMT_JSON)
		cmn_buf_addc(&w->buf, '{');
}

/* Append to the output buffer: a plain copy while it has room (the common
 * case, once per field), cmn_buf_add (growth, the ceiling) otherwise. */
static inline int put(struct sel_writer *w, const char *p, size_t n)
{
	struct cmn_buf *b = &w->buf;
	if (b->data && b->cap - b->len > n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return cmn_buf_add(b, p, n);
}

static int csv_put(struct sel_writer *w, const char *p, size_t n)
{
	const struct sel_out_opts *o = w->opts;
	bool q = o->quote.len && o->quote_always;
	if (o->quote.len && !q)
		for (size_t i = 0; i < n; i++)
			if (w->special[(unsigned char)p[i]]) {
				q = true;
				break;
			}
	if (!q)
		return put(w, p, n);
	char qc = o->quote.s[0];
	char ec = o->quote_escape.len ? o->quote_escape.s[0] : qc;
	int r = cmn_buf_addc(&w->buf, qc);
	size_t run = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (p[i] != qc && p[i] != ec)
			continue;
		r = cmn_buf_add(&w->buf, p + run, i - run);
		if (r == 0)
			r = cmn_buf_addc(&w->buf, ec);
		run = i;
	}
	if (r == 0)
		r = cmn_buf_add(&w->buf, p + run, n - run);
	if (r == 0)
		r = cmn_buf_addc(&w->buf, qc);
	return r;
}

static int sep(struct sel_writer *w, const char *name, size_t nlen)
{
	int r = 0;
	if (w->opts->format == SEL_FMT_JSON) {
		if (w->nfield)
			r = cmn_buf_addc(&w->buf, ',');
		if (r == 0)
			r = sel_value_json_quote(name, nlen, &w->buf);
		if (r == 0)
			r = cmn_buf_addc(&w->buf, ':');
	} else if (w->nfield) {
		r = put(w, w->opts->field_delim.s, w->opts->field_delim.len);
	}
	w->nfield++;
	return r;
}

int sel_writer_str(struct sel_writer *w, const char *name, size_t nlen,
		   const char *p, size_t n)
{
	int r = sep(w, name, nlen);
	if (r)
		return r;
	if (w->opts->format == SEL_FMT_JSON)
		return sel_value_json_quote(p, n, &w->buf);
	return csv_put(w, p, n);
}

int sel_writer_field(struct sel_writer *w, const char *name, size_t nlen,
		     const struct sel_value *v)
{
	if (w->opts->format == SEL_FMT_JSON) {
		if (v->type == SEL_T_MISSING)
			return 0;
		int r = sep(w, name, nlen);
		return r ? r : sel_value_to_json(v, &w->buf);
	}
	if (v->type == SEL_T_STRING)
		return sel_writer_str(w, name, nlen, v->u.s, v->len);
	int r = sep(w, name, nlen);
	if (r)
		return r;
	/* NULL and MISSING are an empty field, never quoted: "" is the empty
	 * string. */
	if ((v->type == SEL_T_INT && w->int_plain) ||
	    v->type == SEL_T_MISSING || v->type == SEL_T_NULL)
		return sel_value_to_text(v, &w->buf);
	cmn_buf_reset(&w->tmp);
	r = sel_value_to_text(v, &w->tmp);
	return r ? r : csv_put(w, w->tmp.data ? w->tmp.data : "", w->tmp.len);
}

static int write_all(struct sel_writer *w, const char *p, size_t len,
		     struct sel_error *err)
{
	if (w->sink)
		return len ? w->sink(w->sink_ctx, p, len, err) : 0;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(w->fd, p + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "write: %s", strerror(errno));
		}
		off += (size_t)n;
	}
	return 0;
}

void sel_writer_abort(struct sel_writer *w)
{
	if (w->in_record)
		w->buf.len = w->rec_start;
	w->in_record = false;
}

int sel_writer_flush(struct sel_writer *w, struct sel_error *err)
{
	int r = write_all(w, w->buf.data, w->buf.len, err);
	if (r)
		return r;
	w->returned += w->buf.len;
	cmn_buf_reset(&w->buf);
	w->rec_start = 0;
	return 0;
}

int sel_writer_write(struct sel_writer *w, const char *p, size_t n,
		     struct sel_error *err)
{
	int r = sel_writer_flush(w, err);
	if (r == 0)
		r = write_all(w, p, n, err);
	if (r == 0)
		w->returned += n;
	return r;
}

int sel_writer_end(struct sel_writer *w, struct sel_error *err)
{
	const struct sel_out_opts *o = w->opts;
	int r = 0;
	if (o->format == SEL_FMT_JSON)
		r = cmn_buf_addc(&w->buf, '}');
	if (r == 0)
		r = put(w, o->record_delim.s, o->record_delim.len);
	if (r || w->buf.len - w->rec_start > SEL_MAX_RECORD)
		return sel_err_set(err, SEL_E_OverMaxRecordSize, 0, 0,
				   "a result record is longer than the maximum "
				   "of 1 MB");
	w->in_record = false;
	if (w->buf.len >= SEL_OUT_BUF)
		return sel_writer_flush(w, err);
	return 0;
}
