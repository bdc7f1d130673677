/*
 * fs_magic.c - the `.bucketfs/` control directory; see fs_magic.h.
 *
 * Control nodes are struct fs_inode values with fd == -1 and a `magic`
 * row; their addresses are their FUSE node ids like any other inode, and
 * they live as long as the mount (lookups on them are not counted).
 */
#include "fs_magic.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "fs_ctx.h"
#include "fs_etag.h"
#include "fs_inode.h"
#include "fs_opts.h"
#include "ntf_dlctl.h"
#include "ntf_pipeline.h"

/* Inode numbers of control nodes: far above what ext4 or xfs hand out, so
 * `find -inum` and `ls -i` never see two objects with one number. */
#define MAGIC_INO_BASE 0xFFFFFFFF00000000ull

/* Largest control-file snapshot. */
#define MAGIC_MAX_SIZE (16u << 20)

static int render_version(struct fs_ctx *ctx, struct cmn_buf *out)
{
	return cmn_buf_printf(out, "bucketfs %s\n", BUCKETFS_VERSION);
}

static int render_state(struct fs_ctx *ctx, struct cmn_buf *out)
{
	return cmn_buf_printf(out, "%s\n", ctx->opts->state);
}

/* Delivery targets as JSON (ntf_deliver_render_targets). */
static int render_targets(struct fs_ctx *ctx, struct cmn_buf *out)
{
	return ntf_dlctl_render_targets(ctx->dlctl, out);
}

/* Prometheus text: the pipeline's event counters, then the targets'. */
static int render_metrics(struct fs_ctx *ctx, struct cmn_buf *out)
{
	int rc = ctx->pipeline ? ntf_pipeline_render_metrics(ctx->pipeline,
							      out)
			       : 0;
	if (rc == 0)
		rc = ntf_dlctl_render_metrics(ctx->dlctl, out);
	return rc ? rc : fs_etag_render_metrics(ctx, out);
}

static const struct fs_magic magic_table[] = {
	{FS_MAGIC_DIR, S_IFDIR | 0555, false, NULL},
	{"version", S_IFREG | 0444, false, render_version},
	{"state", S_IFREG | 0444, false, render_state},
	{"events", S_IFREG | 0444, true, NULL},
	{"targets", S_IFREG | 0444, false, render_targets},
	{"metrics", S_IFREG | 0444, false, render_metrics},
};

/* A blocking read of the live stream that found nothing: its request
 * waits here, not on a thread, and is answered by the thread that
 * publishes the next record (or EINTR by FUSE_INTERRUPT). */
struct parked_read {
	struct parked_read *next;
	fuse_req_t req;
	size_t size;
	char *buf;   /* owned; the answer once served */
	ssize_t n;   /* its length, or -errno */
};

/* An open control file: a rendered snapshot, or a live reader. */
struct magic_handle {
	struct fs_handle h;           /* first: on the open-handle list */
	struct cmn_buf snap;
	struct ntf_ring_reader *rd;
	/* Guards ph and parked, and makes one thread at a time read rd
	 * (the ring allows one read at a time per reader). */
	pthread_mutex_t lock;
	struct fuse_pollhandle *ph;   /* armed poll, or NULL */
	struct parked_read *parked;   /* owned; FIFO of waiting reads */
};

static void answer(fuse_req_t req, const char *buf, ssize_t n)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Answer the parked reads of list (taken off their handle) with what was
 * served to each, and free them.  Called without the handle's lock.
 *
 * Each read's interrupt callback is unregistered first.  libfuse calls
 * that callback outside its own session lock, after it read the callback
 * from the request: without the unregistering, the callback could still
 * be on its way into the handle when the reply lets the reader close the
 * file and RELEASE free the handle.  fuse_req_interrupt_func() takes the
 * request's lock, which libfuse holds for the whole callback, so once it
 * returns no callback runs or will run for that request.  (The callback
 * takes the handle's lock inside the request's: hence not under it.) */
static void reply_parked(struct parked_read *list)
{
	while (list) {
		struct parked_read *p = list;
		list = p->next;
		fuse_req_interrupt_func(p->req, NULL, NULL);
		answer(p->req, p->buf, p->n);
		free(p->buf);
		free(p);
	}
}

/* Answer every parked read with end of file: the handle goes away. */
static void end_parked(struct magic_handle *h)
{
	pthread_mutex_lock(&h->lock);
	struct parked_read *p = h->parked;
	h->parked = NULL;
	pthread_mutex_unlock(&h->lock);
	for (struct parked_read *q = p; q; q = q->next)
		q->n = 0;
	reply_parked(p);
}

static void handle_free(struct fs_ctx *ctx, struct magic_handle *h)
{
	if (!h)
		return;
	fs_handle_untrack(ctx, &h->h);
	end_parked(h);
	if (h->rd)
		ntf_pipeline_reader_close(ctx->pipeline, h->rd);
	if (h->ph)
		fuse_pollhandle_destroy(h->ph);
	pthread_mutex_destroy(&h->lock);
	cmn_buf_free(&h->snap);
	free(h);
}

static void handle_teardown(struct fs_ctx *ctx, struct fs_handle *h)
{
	handle_free(ctx, (struct magic_handle *)h);
}

/* Serve the parked reads while the ring has data for them; one that
 * finds nothing stays at the head of the queue, with the ring's
 * notification armed again by that read.  h->lock held.  Returns the
 * served ones, in order, for reply_parked() once the lock is let go. */
static struct parked_read *serve_parked(struct magic_handle *h)
{
	struct parked_read *p, *served = NULL, **tail = &served;
	while ((p = h->parked)) {
		char *buf = malloc(p->size);
		ssize_t n = buf ? ntf_ring_read(h->rd, buf, p->size)
				: -ENOMEM;
		if (n == -EAGAIN) {
			free(buf);
			break;
		}
		h->parked = p->next;
		p->next = NULL;
		p->buf = buf;
		p->n = n;
		*tail = p;
		tail = &p->next;
	}
	return served;
}

/* The ring calls this on the publishing thread when data arrives for a
 * reader that last found nothing (a poll or a parked read). */
static void stream_ready(void *arg)
{
	struct magic_handle *h = arg;
	pthread_mutex_lock(&h->lock);
	struct fuse_pollhandle *ph = h->ph;
	h->ph = NULL;
	struct parked_read *served = serve_parked(h);
	pthread_mutex_unlock(&h->lock);
	reply_parked(served);
	if (ph) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
	}
}

static int open_stream(struct fs_ctx *ctx, struct magic_handle *h,
		       struct fuse_file_info *fi)
{
	if (!ctx->pipeline)
		return -ENOENT;
	fi->nonseekable = 1;
	return ntf_pipeline_reader_open(ctx->pipeline, stream_ready, h,
					&h->rd);
}

#define N_MAGIC (sizeof(magic_table) / sizeof(*magic_table))
_Static_assert(N_MAGIC <= FS_MAGIC_COUNT, "raise FS_MAGIC_COUNT");

int fs_magic_init(struct fs_ctx *ctx)
{
	for (unsigned i = 0; i < N_MAGIC; i++) {
		struct fs_inode *ino = calloc(1, sizeof(*ino));
		if (!ino)
			return -ENOMEM;
		pthread_mutex_init(&ino->lock, NULL);
		pthread_rwlock_init(&ino->names, NULL);
		ino->fd = -1;
		ino->ino = (ino_t)(MAGIC_INO_BASE + i + 1);
		ino->type = magic_table[i].mode & S_IFMT;
		ino->magic = &magic_table[i];
		ctx->magic[i] = ino;
		ctx->n_magic = i + 1;
	}
	return 0;
}

void fs_magic_free(struct fs_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->n_magic; i++) {
		pthread_mutex_destroy(&ctx->magic[i]->lock);
		pthread_rwlock_destroy(&ctx->magic[i]->names);
		free(ctx->magic[i]);
		ctx->magic[i] = NULL;
	}
	ctx->n_magic = 0;
}

struct fs_inode *fs_magic_lookup(struct fs_ctx *ctx, struct fs_inode *parent,
				 const char *name)
{
	if (fs_inode_is_root(parent))
		return strcmp(name, FS_MAGIC_DIR) == 0 ? ctx->magic[0] : NULL;
	if (parent != ctx->magic[0])
		return NULL;
	for (unsigned i = 1; i < ctx->n_magic; i++)
		if (strcmp(name, ctx->magic[i]->magic->name) == 0)
			return ctx->magic[i];
	return NULL;
}

void fs_magic_stat(struct fs_ctx *ctx, const struct fs_inode *ino,
		   struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino->ino;
	st->st_mode = ino->magic->mode;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = ctx->started;
}

void fs_magic_entry(struct fs_ctx *ctx, struct fs_inode *ino,
		    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)(uintptr_t)ino;
	e->attr_timeout = ctx->timeout;
	e->entry_timeout = ctx->timeout;
	fs_magic_stat(ctx, ino, &e->attr);
}

void fs_magic_open(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		   struct fuse_file_info *fi)
{
	if (S_ISDIR(ino->magic->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct magic_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	cmn_buf_init(&h->snap, MAGIC_MAX_SIZE);
	int rc = ino->magic->stream ? open_stream(ctx, h, fi)
				    : ino->magic->render(ctx, &h->snap);
	if (rc < 0) {
		handle_free(ctx, h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->noflush = 1;
	fs_handle_track(ctx, &h->h, handle_teardown);
	if (fuse_reply_open(req, fi) != 0)
		handle_free(ctx, h);
}

/* FUSE_INTERRUPT for a parked read (the reader got a signal): answer it
 * EINTR if it still waits.  libfuse may call this from inside
 * fuse_req_interrupt_func, where answering would free the request under
 * its own lock: that case is left to park_read, which looks at
 * fuse_req_interrupted() after registering. */
static _Thread_local fuse_req_t registering;

static void interrupt_parked(fuse_req_t req, void *arg)
{
	struct magic_handle *h = arg;
	if (req == registering)
		return;
	pthread_mutex_lock(&h->lock);
	struct parked_read **pp = &h->parked, *p;
	while ((p = *pp) && p->req != req)
		pp = &p->next;
	if (p)
		*pp = p->next;
	pthread_mutex_unlock(&h->lock);
	if (p) {
		fuse_reply_err(req, EINTR);
		free(p);
	}
}

/* A blocking read that found nothing waits in h->parked, so a reader
 * costs no thread while it waits: with a thread each, a few hundred
 * idle `cat`s would take every worker libfuse may start, and -s would
 * wait for an event that could then never come. */
static void park_read(fuse_req_t req, struct magic_handle *h, size_t size)
{
	struct parked_read *p = calloc(1, sizeof(*p));
	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p->req = req;
	p->size = size;
	registering = req;
	fuse_req_interrupt_func(req, interrupt_parked, h);
	registering = NULL;
	pthread_mutex_lock(&h->lock);
	if (fuse_req_interrupted(req)) {
		pthread_mutex_unlock(&h->lock);
		p->n = -EINTR;
		reply_parked(p);
		return;
	}
	struct parked_read **tail = &h->parked;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	/* A record published since the read found nothing already spent
	 * the notification that read armed: serve from here. */
	struct parked_read *served = serve_parked(h);
	pthread_mutex_unlock(&h->lock);
	reply_parked(served);
}

/* Reads what is there; a blocking read with nothing there is parked
 * (O_NONBLOCK: EAGAIN). */
static void read_stream(fuse_req_t req, struct magic_handle *h, size_t size,
			struct fuse_file_info *fi)
{
	if (size < NTF_RING_MIN_READ) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->lock);
	/* Parked reads come first: records go out in the order asked. */
	ssize_t n = h->parked ? -EAGAIN : ntf_ring_read(h->rd, buf, size);
	pthread_mutex_unlock(&h->lock);
	if (n == -EAGAIN && !(fi->flags & O_NONBLOCK))
		park_read(req, h, size);
	else
		answer(req, buf, n);
	free(buf);
}

void fs_magic_read(struct fs_ctx *ctx, fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct magic_handle *h = (struct magic_handle *)(uintptr_t)fi->fh;
	if (h->rd) {
		read_stream(req, h, size, fi);
		return;
	}
	struct cmn_buf *b = &h->snap;
	if (off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = b->len - (size_t)off;
	n = n < size ? n : size;
	/* Reply from a copy: RELEASE may free the snapshot on another thread
	 * as soon as the kernel has the data, while this thread is still
	 * returning from the reply. */
	char *copy = malloc(n);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, b->data + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

void fs_magic_release(struct fs_ctx *ctx, fuse_req_t req,
		      struct fuse_file_info *fi)
{
	handle_free(ctx, (struct magic_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void fs_magic_poll(struct fs_ctx *ctx, fuse_req_t req,
		   struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	struct magic_handle *h = (struct magic_handle *)(uintptr_t)fi->fh;
	if (!h || !h->rd) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN);
		return;
	}
	if (ph) {
		pthread_mutex_lock(&h->lock);
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		h->ph = ph;
		pthread_mutex_unlock(&h->lock);
	}
	/* Arms the notification when nothing is readable, after ph is in
	 * place, so a record published in between is not missed. */
	fuse_reply_poll(req, ntf_ring_readable(h->rd) ? POLLIN : 0);
}

/* The control directory lists ".", ".." and the control files; offsets
 * are positions in that list. */
void fs_magic_readdir(struct fs_ctx *ctx, fuse_req_t req, size_t size,
		      off_t off, bool plus)
{
	char *buf = calloc(1, size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	unsigned total = ctx->n_magic + 1; /* ".", "..", files */
	for (unsigned i = (unsigned)off; i < total; i++) {
		struct fuse_entry_param e;
		const char *name;
		if (i < 2) {
			name = i == 0 ? "." : "..";
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = i == 0 ? ctx->magic[0]->ino : 1;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = ctx->magic[i - 1]->magic->name;
			fs_magic_entry(ctx, ctx->magic[i - 1], &e);
		}
		size_t n;
		if (plus)
			n = fuse_add_direntry_plus(req, buf + used, size - used,
						   name, &e, (off_t)i + 1);
		else
			n = fuse_add_direntry(req, buf + used, size - used,
					      name, &e.attr, (off_t)i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}
