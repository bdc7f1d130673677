/*
 * sel_query.c - the query driver: parse, open the source and the reader,
 * bind, then stream records through WHERE into the projection or the
 * aggregates, and write the result through one buffer.
 */
#include "sel_query.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "sel_arena.h"
#include "sel_err.h"
#include "sel_eval.h"
#include "sel_io.h"
#include "sel_limits.h"
#include "sel_par.h"
#include "sel_parser.h"

struct run {
	const struct sel_request *rq;
	struct sel_arena arena;
	struct sel_stmt *st;
	struct sel_src src;
	struct sel_reader rd;
	struct sel_eval ev;
	struct sel_writer w;
	bool src_open, rd_open, ev_init, w_init;
	struct sel_error *err;
};

int sel_query_check(const char *sql, size_t len, struct sel_error *err)
{
	struct sel_arena a;
	struct sel_stmt *st;
	sel_arena_init(&a, SEL_MAX_ARENA);
	int r = sel_parser_run(sql, len, &a, &st, err);
	sel_arena_free(&a);
	if (r && !err->code[0])
		r = sel_err_set(err, SEL_E_InternalError, 0, 0,
				"out of memory");
	return r ? sel_err_class(err) : 0;
}

/* Resolve the scan range against the object: Start/End defaults, and
 * "only End" meaning the last End bytes. */
static int resolve_range(struct run *q, int fd, struct sel_range *out)
{
	const struct sel_request *rq = q->rq;
	const struct sel_range *r = &rq->range;
	*out = *r;
	if (!r->has_start && !r->has_end)
		return 0;
	if (rq->in.compression != SEL_COMP_NONE)
		return sel_err_set(q->err, SEL_E_InvalidRequestParameter, 0, 0,
				   "ScanRange needs uncompressed input");
	if (rq->in.format == SEL_FMT_JSON && rq->in.json_document)
		return sel_err_set(q->err, SEL_E_InvalidRequestParameter, 0, 0,
				   "ScanRange needs JSON Type LINES");
	if (rq->in.format == SEL_FMT_CSV && rq->in.allow_quoted_rd)
		return sel_err_set(q->err, SEL_E_InvalidRequestParameter, 0, 0,
				   "ScanRange cannot be used with "
				   "AllowQuotedRecordDelimiter");
	if (r->has_start && r->has_end && r->start > r->end)
		return sel_err_set(q->err, SEL_E_InvalidRequestParameter, 0, 0,
				   "ScanRange Start is past End");
	if (!r->has_start) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return sel_err_set(q->err,
					   SEL_E_InvalidRequestParameter, 0, 0,
					   "a ScanRange with only End needs a "
					   "regular file");
		uint64_t size = (uint64_t)st.st_size;
		out->has_start = true;
		out->start = r->end >= size ? 0 : size - r->end;
		out->end = size ? size - 1 : 0;
	}
	return 0;
}

static int open_input(struct run *q, int fd)
{
	const struct sel_request *rq = q->rq;
	struct sel_range rg;
	int r;
	if (rq->in.format != SEL_FMT_CSV && rq->in.format != SEL_FMT_JSON &&
	    rq->in.format != SEL_FMT_PARQUET)
		return sel_err_set(q->err, SEL_E_MissingRequiredParameter, 0, 0,
				   "no input format");
	if (rq->in.format != SEL_FMT_JSON && q->st->has_from_path &&
	    q->st->nfrom)
		return sel_err_set(q->err, SEL_E_DataSourcePathUnsupported, 0,
				   0, "a FROM path needs JSON input");
	if ((r = resolve_range(q, fd, &rg)))
		return r;
	/* The source starts early enough to see a whole record delimiter
	 * ending just before Start: the reader skips up to the first
	 * delimiter, and the record after it is the first of the range. */
	uint64_t back = rq->in.format == SEL_FMT_CSV && rq->in.record_delim.len
				? rq->in.record_delim.len
				: 1;
	uint64_t off = rg.has_start && rg.start > back ? rg.start - back : 0;
	if ((r = sel_src_open(&q->src, fd, rq->in.compression, off, q->err)))
		return r;
	q->src.cancel = rq->cancel;
	q->src_open = true;
	q->rd_open = true;
	return sel_query_open_reader(&q->rd, &q->src, rq, q->st, &rg, q->err);
}

int sel_query_open_reader(struct sel_reader *rd, struct sel_src *src,
			  const struct sel_request *rq,
			  const struct sel_stmt *st,
			  const struct sel_range *range, struct sel_error *err)
{
	const struct sel_field *hdr = rd->given_header;
	uint32_t nhdr = rd->ngiven_header;
	memset(rd, 0, sizeof(*rd));
	rd->ops = rq->in.format == SEL_FMT_CSV	   ? &sel_csv_reader
		  : rq->in.format == SEL_FMT_PARQUET ? &sel_parquet_reader
						     : &sel_json_reader;
	rd->src = src;
	rd->opts = &rq->in;
	rd->range = *range;
	rd->want = -1;
	rd->has_from_path = st->has_from_path;
	rd->from = st->from;
	rd->nfrom = st->nfrom;
	rd->given_header = hdr;
	rd->ngiven_header = nhdr;
	return rd->ops->open(rd, err);
}

int sel_query_eval_format(const struct sel_request *rq)
{
	return rq->in.format == SEL_FMT_PARQUET ? SEL_FMT_JSON : rq->in.format;
}

void sel_query_bound(struct sel_reader *rd, const struct sel_eval *ev,
		     int32_t max_col)
{
	rd->want = max_col == INT32_MAX ? -1 : (max_col < 0 ? 0 : max_col);
	rd->keys = ev->keys;
	rd->nkeys = ev->nkeys;
	rd->need_row = ev->whole;
	rd->star = ev->st->star;
}

int sel_query_records(struct sel_reader *rd, struct sel_eval *ev,
		      struct sel_writer *w, int64_t limit,
		      struct sel_error *err)
{
	struct sel_record rec = {0}; /* readers set what they use */
	int64_t count = 0;
	int r;
	if (limit == 0 && !ev->aggregate)
		return 0;
	if (sel_eval_counts_only(ev)) {
		int64_t n = 0;
		if (rd->ops->count)
			r = rd->ops->count(rd, &n, err);
		else
			while ((r = rd->ops->next_record(rd, &rec, err)) == 1)
				n++;
		sel_eval_add_count(ev, n);
		return r;
	}
	uint32_t since_check = 0;
	while ((r = rd->ops->next_record(rd, &rec, err)) == 1) {
		bool pass;
		/* Reads ask at every refill; records in memory, now and
		 * then (an expensive WHERE over one window of them). */
		if (++since_check == SEL_CANCEL_EVERY) {
			since_check = 0;
			if ((r = sel_src_cancelled(rd->src, err)))
				return r;
		}
		sel_eval_record(ev, &rec);
		if ((r = sel_eval_where(ev, &pass)))
			return r;
		if (!pass)
			continue;
		if (ev->aggregate) {
			if ((r = sel_eval_accumulate(ev)))
				return r;
			continue;
		}
		if ((r = sel_eval_project(ev, w)))
			return r;
		if (limit > 0 && ++count >= limit)
			return 0;
	}
	return r;
}

static int run(struct run *q, int in_fd)
{
	const struct sel_request *rq = q->rq;
	int32_t max_col;
	int r = sel_parser_run(rq->sql, rq->sql_len, &q->arena, &q->st, q->err);
	if (r || (r = open_input(q, in_fd)))
		return r;
	q->ev_init = true;
	r = sel_eval_bind(&q->ev, q->st, &q->arena, sel_query_eval_format(rq),
			  rq->in.header, q->rd.header, q->rd.nheader, &max_col,
			  q->err);
	if (r)
		return r;
	sel_query_bound(&q->rd, &q->ev, max_col);
	uint64_t size;
	if (sel_par_fits(rq, q->st, in_fd, q->src.scanned, &size)) {
		r = sel_par_run(rq, q->st, in_fd, size, &q->rd, &q->ev, &q->w,
				q->err);
		/* The chunks read the whole object between them. */
		q->src.scanned = q->src.processed = size;
	} else {
		r = sel_query_records(&q->rd, &q->ev, &q->w, q->st->limit,
				      q->err);
	}
	if (r)
		return r;
	return sel_eval_finish(&q->ev, &q->w);
}

int sel_query_run(const struct sel_request *rq, int in_fd, int out_fd,
		  struct sel_stats *stats, struct sel_error *err)
{
	struct run q;
	memset(&q, 0, sizeof(q));
	memset(err, 0, sizeof(*err));
	q.rq = rq;
	q.err = err;
	sel_arena_init(&q.arena, SEL_MAX_ARENA);
	sel_writer_init(&q.w, out_fd, &rq->out);
	int r = run(&q, in_fd);
	/* Records already produced are delivered even when a later record
	 * fails, as S3 flushes them before its in-stream error. */
	struct sel_error ferr;
	if (r)
		sel_writer_abort(&q.w);
	int fr = sel_writer_flush(&q.w, r ? &ferr : err);
	if (r == 0)
		r = fr;
	if (stats) {
		stats->scanned = q.src.scanned;
		stats->processed = q.src.processed;
		stats->returned = q.w.returned;
	}
	if (q.rd_open && q.rd.ops->close)
		q.rd.ops->close(&q.rd);
	if (q.src_open)
		sel_src_close(&q.src);
	if (q.ev_init)
		sel_eval_free(&q.ev);
	sel_writer_free(&q.w);
	sel_arena_free(&q.arena);
	if (r && !err->code[0])
		sel_err_set(err, SEL_E_InternalError, 0, 0, "%s",
			    strerror(-r > 0 ? -r : EIO));
	return r ? sel_err_class(err) : 0;
}
