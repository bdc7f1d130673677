/*
 * sel_par.c - the parallel query driver (see sel_par.h).
 *
 * Worker threads take the next chunk whenever they are free (a worker on a
 * busy core simply takes fewer), evaluate it with their own parse of the
 * query, and hand each full output buffer to the calling thread, which
 * writes the chunks' output in chunk order as it arrives and merges each
 * chunk's aggregates after those of the chunks before it.  Memory stays
 * bounded: output waiting behind the chunk being written is capped at
 * SEL_PAR_QUEUE bytes, and no worker starts a chunk more than
 * SEL_PAR_AHEAD chunks past it.
 *
 * Exactness: a record's evaluation does not depend on other records, so a
 * chunk's output, and its first error, are what the sequential run gives
 * for those records.  Aggregates carry state from record to record:
 * sel_eval_merge folds a chunk's partial aggregates in when that is
 * provably the sequential result, and otherwise (and whenever a chunk of
 * an aggregate query failed) the calling thread evaluates that chunk again
 * itself, in order, from the merged state.  That is rare, and exact.
 */
#include "sel_par.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_thread.h"
#include "select.h"
#include "sel_arena.h"
#include "sel_err.h"
#include "sel_eval.h"
#include "sel_io.h"
#include "sel_limits.h"
#include "sel_parser.h"
#include "sel_query.h"

/* One output buffer of a chunk, waiting to be written. */
struct block {
	struct block *next;
	size_t len;
	char data[];
};

struct chunk {
	uint64_t start, end;	  /* object offsets, end included */
	struct block *out, *last; /* output not written yet */
	size_t bytes;		  /* in out */
	bool done;		  /* the worker is finished with it */
	int status;		  /* 0 or the worker's -errno */
	struct sel_error err;
	struct sel_agg *aggs; /* partial aggregates, owned */
};

struct par {
	pthread_mutex_t mu;
	pthread_cond_t main_cv; /* a chunk has output or is done */
	pthread_cond_t work_cv; /* head moved, output drained, or stop */
	const struct sel_request *rq;
	const struct sel_stmt *st; /* the calling thread's, for replays */
	const struct sel_reader *rd;
	int fd;
	struct chunk *chunks;
	uint32_t nchunks;
	uint32_t next; /* next chunk to hand out */
	uint32_t head; /* the chunk whose output is written now */
	size_t queued; /* output bytes of the chunks past head */
	bool stop;     /* finished or failed: workers leave */
	unsigned live; /* workers not yet left their loop */
	struct sel_src replay_src;
};

struct worker {
	struct par *par;
	pthread_t th;
	bool started, ev_init;
	struct sel_arena arena;
	struct sel_stmt *st;
	struct sel_eval ev;
	int32_t max_col;
	struct sel_src src;
	struct sel_reader rd;
	struct sel_writer w;
	struct sel_error err;
	uint32_t cur; /* index of the chunk being evaluated */
};

static unsigned threads_for(const struct sel_request *rq)
{
	if (rq->threads)
		return rq->threads > SEL_PAR_MAX_THREADS ? SEL_PAR_MAX_THREADS
							 : rq->threads;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1
		     : (n > SEL_PAR_THREADS ? SEL_PAR_THREADS : (unsigned)n);
}

static uint64_t chunk_for(const struct sel_request *rq)
{
	uint64_t c = rq->chunk ? rq->chunk : SEL_PAR_CHUNK;
	/* A Parquet chunk's reader decodes the footer first. */
	if (rq->in.format == SEL_FMT_PARQUET && c < SEL_PAR_PQ_MIN_CHUNK)
		c = SEL_PAR_PQ_MIN_CHUNK;
	return c;
}

bool sel_par_fits(const struct sel_request *rq, const struct sel_stmt *st,
		  int fd, uint64_t consumed, uint64_t *size)
{
	const struct sel_in_opts *in = &rq->in;
	struct stat sb;
	if (threads_for(rq) < 2 || st->limit >= 0 || rq->range.has_start ||
	    rq->range.has_end || in->compression != SEL_COMP_NONE)
		return false;
	/* Records must end at every record delimiter, and a delimiter of
	 * more than one byte could straddle a chunk's first byte. */
	if (in->format == SEL_FMT_CSV &&
	    (in->allow_quoted_rd || in->record_delim.len != 1))
		return false;
	if (in->format == SEL_FMT_JSON && in->json_document)
		return false;
	if (in->format != SEL_FMT_CSV && in->format != SEL_FMT_JSON &&
	    in->format != SEL_FMT_PARQUET)
		return false;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size < 2 * chunk_for(rq))
		return false;
	/* Chunks are read at object offsets: fd must have started at 0.  A
	 * Parquet reader reads with pread(2) at file offsets (a chunk is the
	 * row groups that start in it, as under a scan range). */
	if (in->format != SEL_FMT_PARQUET &&
	    lseek(fd, 0, SEEK_CUR) != (off_t)consumed)
		return false;
	*size = (uint64_t)sb.st_size;
	return true;
}

/* The worker's writer sink: queue a full buffer on the current chunk,
 * then wait while too much output is queued. */
static int sink(void *ctx, const char *p, size_t n, struct sel_error *err)
{
	struct worker *wk = ctx;
	struct par *pp = wk->par;
	struct block *b = malloc(sizeof(*b) + n);
	if (!b)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	memcpy(b->data, p, n);
	b->len = n;
	b->next = NULL;
	pthread_mutex_lock(&pp->mu);
	struct chunk *c = &pp->chunks[wk->cur];
	if (c->last)
		c->last->next = b;
	else
		c->out = b;
	c->last = b;
	c->bytes += n;
	if (wk->cur != pp->head)
		pp->queued += n;
	pthread_cond_signal(&pp->main_cv);
	while (!pp->stop && (wk->cur == pp->head ? c->bytes > SEL_PAR_QUEUE
						 : pp->queued > SEL_PAR_QUEUE))
		pthread_cond_wait(&pp->work_cv, &pp->mu);
	bool stop = pp->stop;
	pthread_mutex_unlock(&pp->mu);
	return stop ? sel_err_set(err, SEL_E_InternalError, 0, 0,
				  "query cancelled")
		    : 0;
}

/* Evaluate chunk c: its records, its output into blocks, its partial
 * aggregates into c->aggs.  Returns 0, or -errno when the worker must
 * stop (its aggregates could not be handed over). */
static int run_chunk(struct worker *wk, struct chunk *c)
{
	struct par *pp = wk->par;
	struct sel_error *err = &wk->err;
	struct sel_error ferr;
	struct sel_range rg = {.has_start = true,
			       .has_end = true,
			       .start = c->start,
			       .end = c->end};
	memset(err, 0, sizeof(*err));
	int r = sel_src_open_at(&wk->src, pp->fd, c->start ? c->start - 1 : 0,
				c->end, err);
	wk->src.cancel = pp->rq->cancel;
	if (r == 0) {
		wk->rd.given_header = pp->rd->header;
		wk->rd.ngiven_header = pp->rd->nheader;
		r = sel_query_open_reader(&wk->rd, &wk->src, pp->rq, wk->st,
					  &rg, err);
		sel_query_bound(&wk->rd, &wk->ev, wk->max_col);
		if (r == 0)
			r = sel_query_records(&wk->rd, &wk->ev, &wk->w, -1,
					      err);
		if (wk->rd.ops->close)
			wk->rd.ops->close(&wk->rd);
	}
	/* The records before an error go out, as in a sequential run; not
	 * the fields the failed one had written. */
	if (r)
		sel_writer_abort(&wk->w);
	int fr = sel_writer_flush(&wk->w, r ? &ferr : err);
	if (r == 0)
		r = fr;
	int keep = 0;
	if (wk->ev.aggregate) {
		struct sel_agg *a;
		keep = sel_eval_aggs_take(&wk->ev, &a);
		if (keep == 0 && r == 0)
			c->aggs = a;
		else if (keep == 0)
			sel_eval_aggs_free(a, wk->ev.nagg);
		else if (r == 0)
			r = sel_err_set(err, SEL_E_InternalError, 0, 0,
					"out of memory");
	}
	c->status = r;
	if (r)
		c->err = *err;
	return keep;
}

static void *work(void *arg)
{
	struct worker *wk = arg;
	struct par *pp = wk->par;
	pthread_mutex_lock(&pp->mu);
	for (;;) {
		while (!pp->stop && pp->next < pp->nchunks &&
		       pp->next > pp->head + SEL_PAR_AHEAD)
			pthread_cond_wait(&pp->work_cv, &pp->mu);
		if (pp->stop || pp->next >= pp->nchunks)
			break;
		wk->cur = pp->next++;
		struct chunk *c = &pp->chunks[wk->cur];
		pthread_mutex_unlock(&pp->mu);
		int r = run_chunk(wk, c);
		pthread_mutex_lock(&pp->mu);
		c->done = true;
		pthread_cond_signal(&pp->main_cv);
		if (r)
			break;
	}
	pp->live--; /* drain must not wait for chunks nobody will take */
	pthread_cond_signal(&pp->main_cv);
	pthread_mutex_unlock(&pp->mu);
	return NULL;
}

/* Evaluate chunk c again in the calling thread, in order, from the merged
 * aggregates in ev. */
static int replay(struct par *pp, const struct chunk *c, struct sel_eval *ev,
		  struct sel_writer *w, struct sel_error *err)
{
	struct sel_reader rd;
	struct sel_range rg = {.has_start = true,
			       .has_end = true,
			       .start = c->start,
			       .end = c->end};
	memset(&rd, 0, sizeof(rd));
	int r = sel_src_open_at(&pp->replay_src, pp->fd,
				c->start ? c->start - 1 : 0, c->end, err);
	pp->replay_src.cancel = pp->rq->cancel;
	if (r)
		return r;
	rd.given_header = pp->rd->header;
	rd.ngiven_header = pp->rd->nheader;
	r = sel_query_open_reader(&rd, &pp->replay_src, pp->rq, pp->st, &rg,
				  err);
	rd.want = pp->rd->want;
	rd.keys = pp->rd->keys;
	rd.nkeys = pp->rd->nkeys;
	rd.need_row = pp->rd->need_row;
	rd.star = pp->rd->star;
	if (r == 0)
		r = sel_query_records(&rd, ev, w, -1, err);
	if (rd.ops->close)
		rd.ops->close(&rd);
	return r;
}

/* Chunk c is done and its output written: take its result. */
static int commit(struct par *pp, struct chunk *c, struct sel_eval *ev,
		  struct sel_writer *w, struct sel_error *err)
{
	if (!ev->aggregate) {
		if (c->status)
			*err = c->err;
		return c->status;
	}
	if (c->status == 0) {
		int m = sel_eval_merge(ev, c->aggs);
		if (m <= 0)
			return m;
	} else if (strcmp(c->err.code, "InternalError") == 0) {
		/* Out of memory or I/O: not a property of the data. */
		*err = c->err;
		return c->status;
	}
	return replay(pp, c, ev, w, err);
}

static int write_blocks(struct sel_writer *w, struct block *b,
			struct sel_error *err)
{
	int r = 0;
	while (b) {
		struct block *next = b->next;
		if (r == 0)
			r = sel_writer_write(w, b->data, b->len, err);
		free(b);
		b = next;
	}
	return r;
}

/* The calling thread: write each chunk's output as it comes, in chunk
 * order, and commit the chunks in that order. */
static int drain(struct par *pp, struct sel_eval *ev, struct sel_writer *w,
		 struct sel_error *err)
{
	int r = 0;
	pthread_mutex_lock(&pp->mu);
	while (pp->head < pp->nchunks) {
		struct chunk *c = &pp->chunks[pp->head];
		if (c->out) {
			struct block *b = c->out;
			c->out = c->last = NULL;
			c->bytes = 0;
			pthread_cond_broadcast(&pp->work_cv);
			pthread_mutex_unlock(&pp->mu);
			r = write_blocks(w, b, err);
			pthread_mutex_lock(&pp->mu);
			if (r)
				break;
			continue;
		}
		if (!c->done && pp->head >= pp->next && pp->live == 0) {
			/* Every worker left (out of memory) before this one. */
			r = sel_err_set(err, SEL_E_InternalError, 0, 0,
					"out of memory");
			break;
		}
		if (!c->done) {
			pthread_cond_wait(&pp->main_cv, &pp->mu);
			continue;
		}
		pthread_mutex_unlock(&pp->mu);
		r = commit(pp, c, ev, w, err);
		pthread_mutex_lock(&pp->mu);
		if (r)
			break;
		if (++pp->head < pp->nchunks)
			pp->queued -= pp->chunks[pp->head].bytes;
		pthread_cond_broadcast(&pp->work_cv);
	}
	pp->stop = true;
	pthread_cond_broadcast(&pp->work_cv);
	pthread_mutex_unlock(&pp->mu);
	return r;
}

static int worker_init(struct worker *wk, struct par *pp)
{
	const struct sel_request *rq = pp->rq;
	wk->par = pp;
	sel_arena_init(&wk->arena, SEL_MAX_ARENA);
	sel_writer_init(&wk->w, -1, &rq->out);
	wk->w.sink = sink;
	wk->w.sink_ctx = wk;
	int r = sel_parser_run(rq->sql, rq->sql_len, &wk->arena, &wk->st,
			       &wk->err);
	if (r)
		return r;
	wk->ev_init = true;
	r = sel_eval_bind(&wk->ev, wk->st, &wk->arena, sel_query_eval_format(rq),
			  rq->in.header, pp->rd->header, pp->rd->nheader,
			  &wk->max_col, &wk->err);
	wk->ev.partial = wk->ev.aggregate;
	return r;
}

static void worker_free(struct worker *wk)
{
	if (wk->ev_init)
		sel_eval_free(&wk->ev);
	sel_src_close(&wk->src);
	sel_writer_free(&wk->w);
	sel_arena_free(&wk->arena);
}

static void chunks_free(struct par *pp, int nagg)
{
	for (uint32_t i = 0; pp->chunks && i < pp->nchunks; i++) {
		for (struct block *b = pp->chunks[i].out, *nb; b; b = nb) {
			nb = b->next;
			free(b);
		}
		sel_eval_aggs_free(pp->chunks[i].aggs, nagg);
	}
	free(pp->chunks);
}

static int start(struct par *pp, struct worker *wk, unsigned n,
		 struct sel_error *err)
{
	for (unsigned i = 0; i < n; i++) {
		int r = worker_init(&wk[i], pp);
		if (r) {
			*err = wk[i].err;
			return r;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&pp->mu);
		pp->live++; /* before it can leave its loop */
		pthread_mutex_unlock(&pp->mu);
		if (cmn_thread_start(&wk[i].th, "bfs-select", work, &wk[i]) != 0) {
			pthread_mutex_lock(&pp->mu);
			pp->live--;
			pthread_mutex_unlock(&pp->mu);
			/* The workers started so far do all the chunks. */
			return i ? 0
				 : sel_err_set(err, SEL_E_InternalError, 0, 0,
					       "cannot start a thread");
		}
		wk[i].started = true;
	}
	return 0;
}

int sel_par_run(const struct sel_request *rq, const struct sel_stmt *st, int fd,
		uint64_t size, struct sel_reader *rd, struct sel_eval *ev,
		struct sel_writer *w, struct sel_error *err)
{
	unsigned n = threads_for(rq);
	uint64_t csize = chunk_for(rq);
	struct par pp = {
		.rq = rq,
		.st = st,
		.rd = rd,
		.fd = fd,
	};
	uint64_t data = rd->src->base + rd->src->start;
	pp.nchunks = (uint32_t)((size - data + csize - 1) / csize);
	struct worker *wk = calloc(n, sizeof(*wk));
	pp.chunks = calloc(pp.nchunks ? pp.nchunks : 1, sizeof(*pp.chunks));
	if (!wk || !pp.chunks) {
		free(wk);
		free(pp.chunks);
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	}
	/* Chunks after the first start past the CSV header row, which the
	 * sequential reader has consumed: the header (and the comment lines
	 * before it) must not be read as records by a chunk starting in it. */
	for (uint32_t i = 0; i < pp.nchunks; i++) {
		pp.chunks[i].start = i ? data + i * csize : 0;
		pp.chunks[i].end =
			(i + 1 == pp.nchunks ? size : data + (i + 1) * csize) -
			1;
	}
	pthread_mutex_init(&pp.mu, NULL);
	pthread_cond_init(&pp.main_cv, NULL);
	pthread_cond_init(&pp.work_cv, NULL);
	int r = start(&pp, wk, n, err);
	if (r == 0) {
		r = drain(&pp, ev, w, err);
	} else {
		pthread_mutex_lock(&pp.mu);
		pp.stop = true;
		pthread_cond_broadcast(&pp.work_cv);
		pthread_mutex_unlock(&pp.mu);
	}
	for (unsigned i = 0; i < n; i++) {
		if (wk[i].started)
			pthread_join(wk[i].th, NULL);
		worker_free(&wk[i]);
	}
	chunks_free(&pp, ev->nagg);
	sel_src_close(&pp.replay_src);
	pthread_cond_destroy(&pp.work_cv);
	pthread_cond_destroy(&pp.main_cv);
	pthread_mutex_destroy(&pp.mu);
	free(wk);
	return r;
}
