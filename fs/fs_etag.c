/*
 * fs_etag.c - the eTag hasher thread; see fs_etag.h.
 *
 * Jobs name the object by path below SRC rather than holding a file
 * descriptor, so a burst of creates does not pin thousands of files; an
 * object renamed or removed before its turn is finalised without an eTag
 * (its later events carry their own).
 */
#include "fs_etag.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_thread.h"
#include "fs_ctx.h"
#include "fs_ev.h"
#include "fs_inode.h"
#include "ntf_pipeline.h"

#define ETAG_READ_SIZE (1u << 20)

struct etag_job {
	char *path;               /* "bucket/key", owned */
	bool check;               /* the object must still be this one: */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct ntf_pending *pd;   /* owned */
	struct etag_job *next;
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

#define ETAG_MEM_SLOTS 16384 /* 1 MiB of address space, touched as used */

/* One remembered eTag: valid while the file keeps this size and mtime. */
struct etag_mem {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	char hex[32];
};

struct fs_etag {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct etag_job *head, *tail;
	bool stop;
	bool idle;   /* asleep untimed: a submit must wake it */
	bool urgent; /* the last jobs had someone waiting: linger briefly */
	unsigned char *buf;       /* the thread's read buffer */
	/* Fetched once: an implicit fetch by EVP_md5() per file cost more
	 * than hashing 4 KiB. */
	EVP_MD *md5;
	EVP_MD_CTX *md_ctx;
	/* The eTags hashed lately, for every size: an event that needs the
	 * eTag of a file unchanged since (a GET after the Put, a copy) finds
	 * it here without a syscall.  Direct-mapped by inode; a collision
	 * replaces the older entry. */
	pthread_mutex_t mem_lock;
	struct etag_mem *mem; /* ETAG_MEM_SLOTS entries */
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
}

static struct etag_mem *mem_slot(struct fs_etag *e, const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino ^ ((uint64_t)st->st_dev << 32)) *
		     0x9e3779b97f4a7c15ull;
	_Static_assert(ETAG_MEM_SLOTS == 1 << 14, "slot = top 14 bits");
	return &e->mem[h >> 50];
}

static bool mem_get(struct fs_etag *e, const struct stat *st, char out[33])
{
	if (!e)
		return false;
	struct etag_mem *m = mem_slot(e, st);
	pthread_mutex_lock(&e->mem_lock);
	bool hit = m->ino == st->st_ino && m->dev == st->st_dev &&
		   m->size == st->st_size && m->mtime_ns == mtime_ns(st);
	if (hit) {
		memcpy(out, m->hex, 32);
		out[32] = '\0';
	}
	pthread_mutex_unlock(&e->mem_lock);
	return hit;
}

static void mem_put(struct fs_etag *e, const struct stat *st,
		    const char hex[33])
{
	struct etag_mem *m = mem_slot(e, st);
	pthread_mutex_lock(&e->mem_lock);
	*m = (struct etag_mem){.dev = st->st_dev, .ino = st->st_ino,
			       .size = st->st_size, .mtime_ns = mtime_ns(st)};
	memcpy(m->hex, hex, 32);
	pthread_mutex_unlock(&e->mem_lock);
}

bool fs_etag_cached(struct fs_ctx *ctx, struct fs_at *at, int fd,
		    const struct stat *st, char out[33])
{
	if (mem_get(ctx ? ctx->etag : NULL, st, out))
		return true;
	if (st->st_size < FS_ETAG_CACHE_MIN || (fd < 0 && !at))
		return false;
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
	if (size != (long long)st->st_size || mtime != mtime_ns(st))
		return false;
	memcpy(out, hex, 33);
	return true;
}

/* Feed fd to the digest: `until` bytes in all (counting *total, what
 * was fed before), or to EOF when until < 0.  Returns 0 or -errno. */
static int md5_feed(struct fs_etag *e, int fd, off_t *total, off_t until)
{
	while (until < 0 || *total < until) {
		size_t want = ETAG_READ_SIZE;
		if (until >= 0 && (off_t)want > until - *total)
			want = (size_t)(until - *total);
		ssize_t n = read(fd, e->buf, want);
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

/* The digest as lowercase hex. */
static int md5_hex(struct fs_etag *e, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_DigestFinal_ex(e->md_ctx, md, &mdlen) || mdlen != 16)
		return -EIO;
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

/* MD5 of what fd holds, whose fstat was `before`.  It reads the size it
 * was told and no further (no read() for the EOF) unless the file changed
 * meanwhile; then to EOF.  *same tells whether it did not change. */
static int md5_fd(struct fs_etag *e, int fd, const struct stat *before,
		  char out[33], bool *same)
{
	off_t total = 0;
	struct stat after;
	int rc = EVP_DigestInit_ex(e->md_ctx, e->md5, NULL) ? 0 : -ENOMEM;
	if (rc == 0)
		rc = md5_feed(e, fd, &total, before->st_size);
	*same = rc == 0 && total == before->st_size &&
		fstat(fd, &after) == 0 && after.st_size == before->st_size &&
		mtime_ns(&after) == mtime_ns(before);
	if (rc == 0 && !*same)
		rc = md5_feed(e, fd, &total, -1);
	return rc == 0 ? md5_hex(e, out) : rc;
}

/* Hash one object; returns true with out filled, false when it is gone
 * or unreadable. */
static bool hash_object(struct fs_ctx *ctx, struct fs_etag *e,
			const struct etag_job *j, char out[33])
{
	const char *path = j->path;
	int root = fs_inode_root(ctx->inodes)->fd;
	/* O_NOATIME: hashing is not an access by the user; without it a
	 * read right after utimensat() would put atime back to now.  Only
	 * the owner (or CAP_FOWNER) may ask, so retry without it. */
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(root, path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(root, path, flags);
	if (fd < 0)
		return false;
	struct stat before;
	bool ok = fstat(fd, &before) == 0 && S_ISREG(before.st_mode) &&
		  (!j->check ||
		   (before.st_dev == j->dev && before.st_ino == j->ino &&
		    before.st_size == j->size));
	if (ok && fs_etag_cached(ctx, NULL, fd, &before, out)) {
		close(fd);
		return true;
	}
	bool same = false;
	ok = ok && md5_fd(e, fd, &before, out, &same) == 0;
	/* Cache it only if nobody wrote meanwhile. */
	same = same && ok;
	if (same)
		mem_put(e, &before, out);
	if (same && before.st_size >= FS_ETAG_CACHE_MIN) {
		char v[96];
		int n = snprintf(v, sizeof(v), "%lld %lld %s",
				 (long long)before.st_size,
				 (long long)before.st_mtim.tv_sec *
						 1000000000ll +
					 before.st_mtim.tv_nsec,
				 out);
		(void)fsetxattr(fd, FS_EV_XATTR_ETAG, v, (size_t)n, 0);
	}
	close(fd);
	return ok;
}

/* Called with the lock held: wait for a job (see ETAG_DELAY_MS); after
 * work, first for the delay, then untimed.  Returns with a job queued, or
 * stopping with none. */
static void hasher_wait(struct fs_etag *e, bool linger)
{
	if (!e->head && !e->stop && linger) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += (e->urgent ? ETAG_DELAY_MS : ETAG_LOG_DELAY_MS) *
			      1000000L;
		dl.tv_sec += dl.tv_nsec / 1000000000L;
		dl.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&e->cv, &e->lock, &dl);
	}
	while (!e->head && !e->stop) {
		e->idle = true;
		pthread_cond_wait(&e->cv, &e->lock);
	}
	e->idle = false;
}

static void *hasher_main(void *arg)
{
	struct fs_ctx *ctx = arg;
	struct fs_etag *e = ctx->etag;
	bool linger = false;
	pthread_mutex_lock(&e->lock);
	for (;;) {
		hasher_wait(e, linger);
		linger = true;
		/* Stopping, the queue is drained first: a clean unmount leaves
		 * no record pending (only a crash does, for the next mount). */
		if (!e->head)
			break;
		struct etag_job *j = e->head;
		e->head = j->next;
		if (!e->head)
			e->tail = NULL;
		e->urgent = ntf_pipeline_pending_urgent(j->pd);
		pthread_mutex_unlock(&e->lock);

		char hex[33];
		bool ok = hash_object(ctx, e, j, hex);
		ntf_pipeline_finalize(ctx->pipeline, j->pd, ok ? hex : NULL);
		free(j->path);
		free(j);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

void fs_etag_submit(struct fs_ctx *ctx, const char *path,
		    const struct stat *st, struct ntf_pending *pd)
{
	struct fs_etag *e = ctx->etag;
	struct etag_job *j = calloc(1, sizeof(*j));
	if (!e || !j || !(j->path = strdup(path))) {
		free(j);
		/* Cannot hash: publish without an eTag rather than lose it. */
		ntf_pipeline_finalize(ctx->pipeline, pd, NULL);
		return;
	}
	j->pd = pd;
	if (st) {
		j->check = true;
		j->dev = st->st_dev;
		j->ino = st->st_ino;
		j->size = st->st_size;
	}
	pthread_mutex_lock(&e->lock);
	if (e->tail)
		e->tail->next = j;
	else
		e->head = j;
	e->tail = j;
	if (e->idle) {
		e->idle = false; /* one signal is enough */
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->lock);
}

static void recover(void *arg, const char *bucket, const char *key,
		    struct ntf_pending *pd)
{
	struct fs_ctx *ctx = arg;
	char *path = NULL;
	if (asprintf(&path, "%s/%s", bucket, key) < 0) {
		ntf_pipeline_finalize(ctx->pipeline, pd, NULL);
		return;
	}
	fs_etag_submit(ctx, path, NULL, pd);
	free(path);
}

/* Frees what etag_new() made (any part may be missing). */
static void etag_free(struct fs_etag *e)
{
	if (!e)
		return;
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->mem_lock);
	free(e->mem);
	EVP_MD_CTX_free(e->md_ctx);
	EVP_MD_free(e->md5);
	free(e->buf);
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
	pthread_mutex_init(&e->mem_lock, NULL);
	e->mem = calloc(ETAG_MEM_SLOTS, sizeof(*e->mem));
	e->buf = malloc(ETAG_READ_SIZE);
	e->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	e->md_ctx = EVP_MD_CTX_new();
	if (!e->mem || !e->buf || !e->md5 || !e->md_ctx) {
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
		free(j->path);
		free(j);
	}
	etag_free(e);
	ctx->etag = NULL;
}
