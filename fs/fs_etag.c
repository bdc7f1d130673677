/*
 * fs_etag.c - the eTag hasher thread; see fs_etag.h.
 *
 * A job reads a duplicate of the descriptor its event came with (the
 * handle being flushed, or opened for a GET) when there is one: opening
 * the file again by path was a third of the work of hashing a small one.
 * At most ETAG_FD_MAX queued jobs hold one, so a burst of creates does not
 * pin thousands of files; the others name the object by path below SRC,
 * and an object renamed or removed before their turn is finalised without
 * an eTag (its later events carry their own).
 *
 * The thread takes jobs in batches (a burst of creates queues many while
 * it lingers, see ETAG_DELAY_MS): the small files of a batch are read
 * whole and hashed eight at a time in the lanes of a vector register
 * (cmn_md5_many, about 3.5x the rate of one MD5 stream for 4 KiB files);
 * larger files are streamed through OpenSSL one by one.  Records are
 * finalised in queue order when the batch is done.
 */
#include "fs_etag.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "cmn_md5.h"
#include "cmn_thread.h"
#include "cmn_time.h"
#include "fs_ctx.h"
#include "fs_etagmem.h"
#include "fs_ev.h"
#include "fs_inode.h"
#include "ntf_pipeline.h"

/* The stream's read buffer, and the arena of a batch's small files read
 * whole (separate: a batch streams its large files between the reads of
 * its small ones). */
#define ETAG_READ_SIZE (1u << 20)
#define ETAG_WHOLE_ARENA (1u << 20)
/* A batch is this many jobs at most; its files of ETAG_WHOLE_MAX bytes or
 * less are read whole and hashed eight at a time (cmn_md5_many), the
 * larger ones streamed one by one. */
#define ETAG_BATCH 64
#define ETAG_WHOLE_MAX (64u * 1024)
/* Queued jobs holding a descriptor, at most: four batches, far below
 * RLIMIT_NOFILE.  A burst of small creates at 28 000/s queues about 560
 * while the hasher lingers (ETAG_LOG_DELAY_MS), so many are opened by path
 * (two in three under strace); allowing 1 024 changed neither the
 * hasher's CPU time (46-50 ms per 10 000 files either way) nor the create
 * rate. */
#define ETAG_FD_MAX 256

struct etag_job {
	int fd;                   /* the object open, owned; or -1: by path */
	bool fresh;               /* new content (a Put): no remembered eTag */
	bool check;               /* the object must still be this one: */
	dev_t dev;
	ino_t ino;
	off_t size;               /* with check, or recovered: -1 or the
				     size it must still have */
	uint64_t changed;         /* its last change through the mount then
				     (fs_inode_last_change_of) */
	/* The object's inode, held open (fs_inode_opened) while the job
	 * waits and is hashed, so that the table keeps it, and its changes,
	 * even once the kernel forgets it; or NULL (not known). */
	struct fs_inode *held;
	struct ntf_pending *pd;   /* owned */
	struct etag_job *next;
	char path[];              /* "bucket/key", in the job's allocation */
};

/* How long the hasher lets jobs gather after its queue ran dry, before it
 * sleeps untimed: while files are being written it wakes once per this
 * delay rather than once per file (a wake-up per file costs a good part of
 * the small-file create rate on a 2-core VM); the first file after a quiet
 * spell is hashed at once.  The short delay applies while the last jobs
 * were urgent (ntf_pipeline_pending_urgent: a live reader or a delivery
 * waits for them), the long one when their records only go to the log. */
#define ETAG_DELAY_MS 3
#define ETAG_LOG_DELAY_MS 20

struct fs_etag {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct etag_job *head, *tail;
	unsigned queued;   /* jobs on the queue */
	unsigned hashing;  /* jobs of the batch being hashed */
	unsigned held_fds; /* of which hold a descriptor (ETAG_FD_MAX) */
	/* Jobs done since the mount, counted before their record is let go:
	 * whoever sees the record sees it counted. */
	_Atomic uint64_t hashed;
	bool stop;
	bool idle;   /* asleep untimed: a submit must wake it */
	bool urgent; /* the last jobs had someone waiting: linger briefly */
	unsigned char *buf;       /* the thread's read buffer */
	unsigned char *whole;     /* ETAG_WHOLE_ARENA bytes for a batch */
	/* Fetched once: an implicit fetch by EVP_md5() per file cost more
	 * than hashing 4 KiB. */
	EVP_MD *md5;
	EVP_MD_CTX *md_ctx;
	/* The eTags hashed lately, for every size (see fs_etagmem.h). */
	struct fs_etagmem *mem;
};

/* The object's last change through the mount (fs_inode.h): lock-free
 * with its inode, else the table's lock. */
static uint64_t last_change(struct fs_ctx *ctx, struct fs_inode *obj,
			    const struct stat *st)
{
	return obj ? fs_inode_last_change(obj)
		   : fs_inode_last_change_of(ctx->inodes, st->st_dev,
					     st->st_ino, NULL);
}

/* From the xattr: valid for st's size and mtime. */
static bool xattr_etag(struct fs_at *at, int fd, const struct stat *st,
		       char out[33])
{
	char v[96];
	ssize_t n = fd >= 0 ? fgetxattr(fd, FS_EV_XATTR_ETAG, v, sizeof(v) - 1)
			    : fs_at_getxattr(at, FS_EV_XATTR_ETAG, v,
					     sizeof(v) - 1);
	if (n <= 0)
		return false;
	v[n] = '\0';
	long long size, mtime;
	char hex[33];
	if (sscanf(v, "%lld %lld %32s", &size, &mtime, hex) != 3 ||
	    strlen(hex) != 32)
		return false;
	if (size != (long long)st->st_size ||
	    mtime != cmn_time_ns(&st->st_mtim))
		return false;
	memcpy(out, hex, 33);
	return true;
}

bool fs_etag_cached(struct fs_ctx *ctx, struct fs_inode *obj,
		    struct fs_at *at, int fd, const struct stat *st,
		    char out[33])
{
	struct fs_etagmem *mem = ctx && ctx->etag ? ctx->etag->mem : NULL;
	bool xattr = st->st_size >= FS_ETAG_CACHE_MIN && (fd >= 0 || at);
	/* Without the inode, the table (its lock) is asked only when the
	 * memory has an entry or the xattr will be read: the hasher asks for
	 * every job, mostly in vain. */
	if (!ctx)
		return xattr && xattr_etag(at, fd, st, out);
	if (!obj && !xattr && !fs_etagmem_get(mem, st, 0, out))
		return false;
	uint64_t changed = last_change(ctx, obj, st);
	if (changed == UINT64_MAX)
		return false; /* being written */
	if (fs_etagmem_get(mem, st, changed, out))
		return true;
	return xattr && xattr_etag(at, fd, st, out);
}

void fs_etag_prefetch(struct fs_ctx *ctx, dev_t dev, ino_t ino)
{
	if (ctx->etag)
		fs_etagmem_prefetch(ctx->etag->mem, dev, ino);
}

/* Feed fd to the digest: `until` bytes in all (counting *total, what
 * was fed before), fewer at an early EOF.  Returns 0 or -errno. */
static int md5_feed(struct fs_etag *e, int fd, off_t *total, off_t until)
{
	while (*total < until) {
		size_t want = ETAG_READ_SIZE;
		if ((off_t)want > until - *total)
			want = (size_t)(until - *total);
		/* pread: a duplicated descriptor shares its offset */
		ssize_t n = pread(fd, e->buf, want, *total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(e->md_ctx, e->buf, (size_t)n))
			return -EIO;
		*total += n;
	}
	return 0;
}

/* Did the file keep the size and mtime it had (before) while read? */
static bool unchanged(int fd, const struct stat *before)
{
	struct stat after;
	return fstat(fd, &after) == 0 && after.st_size == before->st_size &&
	       cmn_time_ns(&after.st_mtim) ==
		       cmn_time_ns(&before->st_mtim);
}

/* The digest as lowercase hex. */
static int md5_hex(struct fs_etag *e, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_DigestFinal_ex(e->md_ctx, md, &mdlen) || mdlen != 16)
		return -EIO;
	cmn_md5_hex(md, out);
	return 0;
}

/* MD5 of what fd holds, whose fstat was `before`, streamed.  Returns 0,
 * -EAGAIN when the file was written meanwhile (what it held then is
 * gone: no eTag rather than the MD5 of a mix, or of a later write), or
 * -errno. */
static int md5_fd(struct fs_etag *e, int fd, const struct stat *before,
		  char out[33])
{
	off_t total = 0;
	int rc = EVP_DigestInit_ex(e->md_ctx, e->md5, NULL) ? 0 : -ENOMEM;
	if (rc == 0)
		rc = md5_feed(e, fd, &total, before->st_size);
	if (rc == 0 && (total != before->st_size || !unchanged(fd, before)))
		rc = -EAGAIN;
	return rc == 0 ? md5_hex(e, out) : rc;
}

/* One job of a batch while it is hashed. */
struct etag_work {
	struct etag_job *job;      /* owned by the batch */
	int fd;                    /* the object, or -1 */
	struct stat before;        /* its fstat when opened */
	const unsigned char *data; /* its whole content in e->whole, or NULL */
	bool ok;                   /* hex is its eTag */
	char hex[33];
};

/* The job's descriptor when it reads without touching atime (see
 * fs_etag_submit), else the object opened by path; -1 when gone. */
static int job_fd(struct fs_ctx *ctx, struct etag_job *j)
{
	int fd = j->fd;
	j->fd = -1;
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_ACCMODE) != O_WRONLY &&
		    (fl & O_NOATIME))
			return fd;
		close(fd);
	}
	int root = fs_inode_root(ctx->inodes)->fd;
	/* O_NOATIME: hashing is not an access by the user; without it a
	 * read right after utimensat() would put atime back to now.  Only
	 * the owner (or CAP_FOWNER) may ask, so retry without it. */
	/* O_NONBLOCK: what is there now may be a FIFO (replaced since the
	 * event), which would block the hasher for ever. */
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	fd = openat(root, j->path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(root, j->path, flags);
	return fd;
}

/* Open the job's object and check it is still the one the event saw.
 * Returns false when it is gone, not a regular file, or another one. */
static bool work_open(struct fs_ctx *ctx, struct etag_work *w)
{
	const struct etag_job *j = w->job;
	w->fd = job_fd(ctx, w->job);
	if (w->fd < 0)
		return false;
	struct stat *b = &w->before;
	return fstat(w->fd, b) == 0 && S_ISREG(b->st_mode) &&
	       (j->size < 0 || b->st_size == j->size) &&
	       (!j->check || (b->st_dev == j->dev && b->st_ino == j->ino));
}

/* Read all of a small file into buf (its size as fstat said).  Returns
 * false when it held another number of bytes: it changed meanwhile. */
static bool read_whole(int fd, unsigned char *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Remember w's eTag, hashed from write clock `hashed` on: in memory,
 * and for larger files in the xattr. */
static void work_cache(struct fs_ctx *ctx, struct fs_etag *e,
		       const struct etag_work *w, uint64_t hashed)
{
	const struct stat *st = &w->before;
	struct stat after;
	if (st->st_size >= FS_ETAG_CACHE_MIN) {
		char v[96];
		int n = snprintf(v, sizeof(v), "%lld %lld %s",
				 (long long)st->st_size,
				 (long long)cmn_time_ns(&st->st_mtim),
				 w->hex);
		/* The xattr moves the ctime the memory is keyed by. */
		if (fsetxattr(w->fd, FS_EV_XATTR_ETAG, v, (size_t)n, 0) == 0) {
			/* Opened for writing meanwhile: its open removed
			 * the xattr maybe before this set it. */
			if (fs_inode_last_change_of(ctx->inodes, st->st_dev,
						    st->st_ino,
						    NULL) >= hashed) {
				(void)fremovexattr(w->fd, FS_EV_XATTR_ETAG);
				return;
			}
			if (fstat(w->fd, &after) != 0 ||
			    after.st_size != st->st_size ||
			    cmn_time_ns(&after.st_mtim) !=
				    cmn_time_ns(&st->st_mtim))
				return;
			st = &after;
		}
	}
	fs_etagmem_put(e->mem, st, hashed, w->hex);
}

/* Open each object; answer from the cache, or read a small one whole
 * into e->whole (while it has room), or hash a large one as a stream. */
static void batch_prepare(struct fs_ctx *ctx, struct fs_etag *e,
			  struct etag_work *ws, size_t n, uint64_t hashed)
{
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		struct etag_work *w = &ws[i];
		if (!work_open(ctx, w))
			continue;
		/* The xattr is keyed by size and mtime only, which new
		 * content may share with the old (truncate and rewrite, cp
		 * -p): a Put is always read. */
		if (!w->job->fresh &&
		    fs_etag_cached(ctx, NULL, NULL, w->fd, &w->before,
				   w->hex)) {
			w->ok = true;
			continue;
		}
		size_t size = (size_t)w->before.st_size;
		if (size <= ETAG_WHOLE_MAX && size <= ETAG_WHOLE_ARENA - used) {
			/* a short read: it shrank, it is not that content */
			if (read_whole(w->fd, e->whole + used, size)) {
				w->data = e->whole + used;
				used += size;
			}
			continue;
		}
		/* Large, or no room left: one stream. */
		w->ok = md5_fd(e, w->fd, &w->before, w->hex) == 0;
		if (w->ok)
			work_cache(ctx, e, w, hashed);
	}
}

static int by_size(const void *a, const void *b)
{
	const struct etag_work *x = *(struct etag_work *const *)a;
	const struct etag_work *y = *(struct etag_work *const *)b;
	return (x->before.st_size > y->before.st_size) -
	       (x->before.st_size < y->before.st_size);
}

/* Hash the files read whole, eight at a time, like sizes together (a
 * group takes as long as its largest). */
static void batch_hash(struct fs_ctx *ctx, struct fs_etag *e,
		       struct etag_work *ws, size_t n, uint64_t hashed)
{
	struct etag_work *whole[ETAG_BATCH];
	const unsigned char *msg[ETAG_BATCH];
	size_t len[ETAG_BATCH], k = 0;
	unsigned char md[ETAG_BATCH][16];
	for (size_t i = 0; i < n; i++)
		if (ws[i].data)
			whole[k++] = &ws[i];
	qsort(whole, k, sizeof(whole[0]), by_size);
	for (size_t i = 0; i < k; i++) {
		msg[i] = whole[i]->data;
		len[i] = (size_t)whole[i]->before.st_size;
	}
	cmn_md5_many(k, msg, len, md);
	for (size_t i = 0; i < k; i++) {
		struct etag_work *w = whole[i];
		cmn_md5_hex(md[i], w->hex);
		/* Written while it was read: no eTag (see md5_fd). */
		w->ok = unchanged(w->fd, &w->before);
		if (w->ok)
			work_cache(ctx, e, w, hashed);
	}
}

/* Called with the lock held: wait for a job (see ETAG_DELAY_MS); after
 * work, first for the delay, then untimed.  Returns with a job queued, or
 * stopping with none. */
static void hasher_wait(struct fs_etag *e, bool linger)
{
	if (!e->head && !e->stop && linger) {
		struct timespec dl = cmn_time_deadline_ms(
			e->urgent ? ETAG_DELAY_MS : ETAG_LOG_DELAY_MS);
		pthread_cond_timedwait(&e->cv, &e->lock, &dl);
	}
	while (!e->head && !e->stop) {
		e->idle = true;
		pthread_cond_wait(&e->cv, &e->lock);
	}
	e->idle = false;
}

/* Keep the eTags of the batch only for objects as their events saw them,
 * as far as changes through the mount tell (asked once for the batch).
 * One since (on a file system with coarse file times, size and mtime may
 * not show it) means what was read may not be the content the event was
 * about.  A job whose event came with the object's inode holds it, and
 * asks it directly.  Any other object (a rename's, or a recovered
 * record's, found by name) that the kernel forgot since (removed) can no
 * longer be told apart from other forgotten inodes, and counts as
 * unchanged: read by path, it is gone anyway, or another file that the
 * size check tells apart. */
static void batch_check(struct fs_ctx *ctx, struct etag_work *ws, size_t n)
{
	struct fs_inode_key keys[ETAG_BATCH];
	struct etag_work *asked[ETAG_BATCH];
	uint64_t last[ETAG_BATCH];
	bool known[ETAG_BATCH];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct etag_job *j = ws[i].job;
		if (ws[i].ok && j->check && j->held) {
			if (fs_inode_last_change(j->held) != j->changed)
				ws[i].ok = false;
		} else if (ws[i].ok && j->check) {
			keys[k] = (struct fs_inode_key){.dev = j->dev,
							.ino = j->ino};
			asked[k++] = &ws[i];
		}
	}
	if (k)
		fs_inode_last_changes_of(ctx->inodes, k, keys, last, known);
	for (size_t i = 0; i < k; i++)
		if (known[i] && last[i] != asked[i]->job->changed)
			asked[i]->ok = false;
}

/* Hash a batch of jobs and finalise their records, in queue order. */
static void hash_batch(struct fs_ctx *ctx, struct fs_etag *e,
		       struct etag_job *jobs)
{
	struct etag_work ws[ETAG_BATCH];
	size_t n = 0;
	for (struct etag_job *j = jobs; j; j = j->next)
		ws[n++] = (struct etag_work){.job = j, .fd = -1};
	/* Read before any file is: what the batch reads is the content as of
	 * this clock (fs_inode.h, "Changes"). */
	uint64_t hashed = fs_inode_clock(ctx->inodes);
	batch_prepare(ctx, e, ws, n, hashed);
	batch_hash(ctx, e, ws, n, hashed);
	batch_check(ctx, ws, n);
	struct ntf_pending *pds[ETAG_BATCH];
	const char *etags[ETAG_BATCH];
	for (size_t i = 0; i < n; i++) {
		if (ws[i].fd >= 0)
			close(ws[i].fd);
		pds[i] = ws[i].job->pd;
		etags[i] = ws[i].ok ? ws[i].hex : NULL;
	}
	/* One store lock for the batch, not one per object: the request
	 * threads append under the same lock. */
	ntf_pipeline_finalize_batch(ctx->pipeline, pds, etags, n);
	atomic_fetch_add_explicit(&e->hashed, n, memory_order_relaxed);
	struct fs_inode *held[ETAG_BATCH];
	size_t nh = 0;
	for (size_t i = 0; i < n; i++) {
		if (ws[i].job->held)
			held[nh++] = ws[i].job->held;
		free(ws[i].job);
	}
	if (nh)
		fs_inode_closed_many(ctx->inodes, held, nh);
}

/* Take up to ETAG_BATCH jobs off the queue, in order (lock held). */
static struct etag_job *take_batch(struct fs_etag *e)
{
	struct etag_job *first = e->head, *last = first;
	e->urgent = false;
	for (size_t n = 1;; n++) {
		e->urgent |= ntf_pipeline_pending_urgent(last->pd);
		if (last->fd >= 0)
			e->held_fds--;
		e->queued--;
		e->hashing++;
		if (n == ETAG_BATCH || !last->next)
			break;
		last = last->next;
	}
	e->head = last->next;
	if (!e->head)
		e->tail = NULL;
	last->next = NULL;
	return first;
}

static void *hasher_main(void *arg)
{
	struct fs_ctx *ctx = arg;
	struct fs_etag *e = ctx->etag;
	bool linger = false;
	cmn_thread_background();
	pthread_mutex_lock(&e->lock);
	for (;;) {
		hasher_wait(e, linger);
		linger = true;
		/* Stopping, the queue is drained first: a clean unmount leaves
		 * no record pending (only a crash does, for the next mount). */
		if (!e->head)
			break;
		struct etag_job *first = take_batch(e);
		pthread_mutex_unlock(&e->lock);
		hash_batch(ctx, e, first);
		/* The batch's records and their eTags in one transaction. */
		ntf_pipeline_finalize_end(ctx->pipeline);
		pthread_mutex_lock(&e->lock);
		e->hashing = 0;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* A job for "bucket/key" owning pd, or NULL when there is no memory for
 * it: pd is then finalised without an eTag rather than lost. */
static struct etag_job *job_new(struct fs_ctx *ctx, const char *bucket,
				const char *key, bool fresh,
				struct ntf_pending *pd)
{
	size_t blen = strlen(bucket), klen = strlen(key);
	struct etag_job *j =
		ctx->etag ? calloc(1, sizeof(*j) + blen + klen + 2) : NULL;
	if (!j) {
		ntf_pipeline_finalize(ctx->pipeline, pd, NULL);
		return NULL;
	}
	memcpy(j->path, bucket, blen);
	j->path[blen] = '/';
	memcpy(j->path + blen + 1, key, klen + 1);
	j->pd = pd;
	j->fd = -1;
	j->size = -1;
	j->fresh = fresh;
	return j;
}

/* Queue j, e->lock held, waking the hasher if it sleeps. */
static void job_queue(struct fs_etag *e, struct etag_job *j)
{
	if (e->tail)
		e->tail->next = j;
	else
		e->head = j;
	e->tail = j;
	e->queued++;
	if (e->idle) {
		e->idle = false; /* one signal is enough */
		pthread_cond_signal(&e->cv);
	}
}

void fs_etag_submit(struct fs_ctx *ctx, const char *bucket, const char *key,
		    int fd, const struct stat *st, struct fs_inode *obj,
		    bool fresh, struct ntf_pending *pd)
{
	struct fs_etag *e = ctx->etag;
	struct etag_job *j = job_new(ctx, bucket, key, fresh, pd);
	if (!j)
		return;
	if (st) {
		j->check = true;
		j->dev = st->st_dev;
		j->ino = st->st_ino;
		j->size = st->st_size;
		j->changed = obj ? fs_inode_last_change(obj)
				 : fs_inode_last_change_of(ctx->inodes, j->dev,
							   j->ino, NULL);
	}
	pthread_mutex_lock(&e->lock);
	/* dup under the lock: the count is exact, and it is one syscall */
	if (fd >= 0 && e->held_fds < ETAG_FD_MAX &&
	    (j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
		e->held_fds++;
	/* Held before the job is queued: the hasher may take it as soon as
	 * the lock is let go.  (The table's lock nests inside this one; the
	 * hasher never takes them the other way round.)  Held by a job that
	 * reads by path too: read, then the object rewritten and removed
	 * (the kernel forgets the inode) before the check, the table would
	 * otherwise no longer know the rewrite, and the content read would
	 * pass for the event's. */
	if (obj && st) {
		fs_inode_opened(ctx->inodes, obj, false);
		j->held = obj;
	}
	job_queue(e, j);
	pthread_mutex_unlock(&e->lock);
}

int fs_etag_render_metrics(struct fs_ctx *ctx, struct cmn_buf *out)
{
	struct fs_etag *e = ctx->etag;
	if (!e)
		return 0;
	pthread_mutex_lock(&e->lock);
	/* What waits includes the batch in the hasher's hands: a large
	 * file can keep it there (and every record behind it) for long. */
	unsigned queued = e->queued + e->hashing, fds = e->held_fds;
	uint64_t hashed =
		atomic_load_explicit(&e->hashed, memory_order_relaxed);
	pthread_mutex_unlock(&e->lock);
	return cmn_buf_printf(
		out,
		"# HELP bucketfs_etag_queue objects waiting for their eTag "
		"(their records are not visible until then)\n"
		"# TYPE bucketfs_etag_queue gauge\n"
		"bucketfs_etag_queue %u\n"
		"# HELP bucketfs_etag_queue_fds queued objects the hasher "
		"holds open (at most %u)\n"
		"# TYPE bucketfs_etag_queue_fds gauge\n"
		"bucketfs_etag_queue_fds %u\n"
		"# HELP bucketfs_etag_hashed_total objects hashed (or found "
		"gone) since the mount\n"
		"# TYPE bucketfs_etag_hashed_total counter\n"
		"bucketfs_etag_hashed_total %" PRIu64 "\n",
		queued, ETAG_FD_MAX, fds, hashed);
}

/* A record left pending by a crash: hashed by path, if the file still
 * has the size the record gives (a file of another size is another
 * content, and the record goes out without an eTag). */
static void recover(void *arg, const char *bucket, const char *key,
		    int64_t size, struct ntf_pending *pd)
{
	struct fs_ctx *ctx = arg;
	struct etag_job *j = job_new(ctx, bucket, key, true, pd);
	if (!j)
		return;
	j->size = size;
	pthread_mutex_lock(&ctx->etag->lock);
	job_queue(ctx->etag, j);
	pthread_mutex_unlock(&ctx->etag->lock);
}

/* Frees what etag_new() made (any part may be missing). */
static void etag_free(struct fs_etag *e)
{
	if (!e)
		return;
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->lock);
	fs_etagmem_free(e->mem);
	EVP_MD_CTX_free(e->md_ctx);
	EVP_MD_free(e->md5);
	free(e->buf);
	free(e->whole);
	free(e);
}

static struct fs_etag *etag_new(void)
{
	struct fs_etag *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	e->mem = fs_etagmem_new();
	e->buf = malloc(ETAG_READ_SIZE);
	e->whole = malloc(ETAG_WHOLE_ARENA);
	e->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	e->md_ctx = EVP_MD_CTX_new();
	if (!e->mem || !e->buf || !e->whole || !e->md5 || !e->md_ctx) {
		etag_free(e);
		return NULL;
	}
	return e;
}

int fs_etag_start(struct fs_ctx *ctx)
{
	struct fs_etag *e = etag_new();
	if (!e)
		return -ENOMEM;
	ctx->etag = e;
	int rc = cmn_thread_start(&e->thread, "bfs-hasher", hasher_main, ctx);
	if (rc != 0) {
		ctx->etag = NULL;
		etag_free(e);
		return rc;
	}
	rc = ntf_pipeline_recover(ctx->pipeline, recover, ctx);
	if (rc < 0)
		cmn_warn("cannot list pending events: %s", strerror(-rc));
	return 0;
}

void fs_etag_stop(struct fs_ctx *ctx)
{
	struct fs_etag *e = ctx->etag;
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
	for (struct etag_job *j = e->head, *next; j; j = next) {
		next = j->next;
		ntf_pipeline_pending_free(j->pd);
		if (j->fd >= 0)
			close(j->fd);
		if (j->held)
			fs_inode_closed(ctx->inodes, j->held, false);
		free(j);
	}
	etag_free(e);
	ctx->etag = NULL;
}
