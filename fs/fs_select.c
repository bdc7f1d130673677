/*
 * fs_select.c - `.select` files; see fs_select.h.
 *
 * The cache is a small table keyed by the .select file's inode: the
 * identity (device, inode, size, mtime) of the query and of the
 * source when the result was made, the write clock it was made at
 * (fs_inode.h, "Changes"), the result's fd, and the last error.  A query or
 * source changed behind the mount changes a key; one changed through it
 * also moves its inode past that clock (a same-size rewrite within one
 * tick of a coarse clock keeps the key).  Either way the next open
 * recomputes.
 */
#include "fs_select.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "fs_ctx.h"
#include "fs_inode.h"
#include "fs_opts.h"
#include "select.h"

#define SEL_CACHE_SLOTS 64
/* A query file larger than this is not a query (the engine's own limit on
 * expressions is 256 KiB; headers add a little). */
#define SEL_QUERY_MAX (512u * 1024)

/* What a file's content is taken to be: ctime is left out, because the
 * eTag cache's xattr (written by the hasher after every Put) changes it
 * without touching the content — the same size + mtime identity the eTag
 * cache itself uses. */
struct stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct sel_slot {
	dev_t dev;             /* the .select file: dev 0 = free slot */
	ino_t ino;
	struct stamp query, source;
	uint64_t made;         /* the write clock before they were read */
	char *source_path;     /* what the result read ("bucket/key") */
	int result_fd;         /* -1: no cached result */
	char *error;           /* last "Code: message", owned */
	uint64_t used;         /* LRU clock */
};

struct fs_select {
	pthread_mutex_t lock;
	struct sel_slot slot[SEL_CACHE_SLOTS];
	uint64_t clock;
};

int fs_select_init(struct fs_ctx *ctx)
{
	struct fs_select *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	for (int i = 0; i < SEL_CACHE_SLOTS; i++)
		s->slot[i].result_fd = -1;
	ctx->select = s;
	return 0;
}

void fs_select_free(struct fs_ctx *ctx)
{
	struct fs_select *s = ctx->select;
	if (!s)
		return;
	for (int i = 0; i < SEL_CACHE_SLOTS; i++) {
		if (s->slot[i].result_fd >= 0)
			close(s->slot[i].result_fd);
		free(s->slot[i].error);
		free(s->slot[i].source_path);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
	ctx->select = NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && memcmp(s + n - m, suffix, m) == 0;
}

unsigned fs_select_classify(const char *name, bool in_bucket)
{
	return in_bucket && ends_with(name, FS_SELECT_SUFFIX) ? FS_SELECT_CLASS
							      : 0;
}

bool fs_select_is(struct fs_ctx *ctx, struct fs_inode *ino)
{
	return ctx->select && S_ISREG(ino->type) && !ino->magic &&
	       (fs_inode_class(ino) & FS_SELECT_CLASS);
}

static void stamp_of(const struct stat *st, struct stamp *out)
{
	out->dev = st->st_dev;
	out->ino = st->st_ino;
	out->size = st->st_size;
	out->mtime = st->st_mtim;
}

static bool stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The slot of a .select file, claiming the least recently used one when
 * it has none.  Lock held. */
static struct sel_slot *slot_for(struct fs_select *s, dev_t dev, ino_t ino)
{
	struct sel_slot *victim = &s->slot[0];
	for (int i = 0; i < SEL_CACHE_SLOTS; i++) {
		struct sel_slot *e = &s->slot[i];
		if (e->dev == dev && e->ino == ino) {
			e->used = ++s->clock;
			return e;
		}
		if (e->used < victim->used)
			victim = e;
	}
	if (victim->result_fd >= 0)
		close(victim->result_fd);
	free(victim->error);
	free(victim->source_path);
	memset(victim, 0, sizeof(*victim));
	victim->result_fd = -1;
	victim->dev = dev;
	victim->ino = ino;
	victim->used = ++s->clock;
	return victim;
}

static void set_error(struct fs_ctx *ctx, const struct stat *qst,
		      const char *code, const char *msg)
{
	struct fs_select *s = ctx->select;
	char *text = NULL;
	if (code && asprintf(&text, "%s: %s", code, msg) < 0)
		text = NULL;
	pthread_mutex_lock(&s->lock);
	struct sel_slot *e = slot_for(s, qst->st_dev, qst->st_ino);
	free(e->error);
	e->error = text;
	pthread_mutex_unlock(&s->lock);
}

/* Read the whole query file (bounded). */
static int read_query(int fd, struct cmn_buf *out)
{
	char chunk[8192];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		int rc = cmn_buf_add(out, chunk, (size_t)n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The root-relative path of the source object: "-- source: KEY" names a
 * key of the same bucket; without it, the file's own name minus
 * ".select" in its directory.  Returns a malloc'ed path or NULL. */
static char *source_path(struct fs_ctx *ctx, struct fs_inode *ino,
			 const char *source_key)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 64 * 1024);
	int depth = fs_inode_path(ctx->inodes, ino, NULL, &b);
	char *cut = NULL;
	if (depth >= 2)
		cut = source_key ? strchr(b.data, '/') : strrchr(b.data, '/');
	if (!cut || (source_key && (source_key[0] == '/' || !source_key[0] ||
				    strstr(source_key, "..")))) {
		cmn_buf_free(&b);
		return NULL;
	}
	if (source_key) {
		b.len = (size_t)(cut + 1 - b.data);
		if (cmn_buf_adds(&b, source_key) < 0) {
			cmn_buf_free(&b);
			return NULL;
		}
	} else {
		b.len -= strlen(FS_SELECT_SUFFIX);
		b.data[b.len] = '\0';
	}
	return cmn_buf_take(&b);
}

/* Open the source "bucket/key" (source_path) resolved beneath its bucket:
 * no symlink or ".." out of it, no /proc magic link, and without blocking
 * on a FIFO, since it is the daemon, not the caller, that opens it.
 * read: for reading, else O_PATH (to stat it).  Returns the fd with *st
 * filled, -ENOENT for anything but a regular file, or -errno. */
static int source_open(struct fs_ctx *ctx, const char *path, bool read,
		       struct stat *st)
{
	const char *slash = strchr(path, '/');
	char bucket[256];
	if (!slash || (size_t)(slash - path) >= sizeof(bucket))
		return -ENOENT;
	memcpy(bucket, path, (size_t)(slash - path));
	bucket[slash - path] = '\0';
	int bfd = openat(fs_inode_root(ctx->inodes)->fd, bucket,
			 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	struct open_how how = {
		.flags = (read ? O_RDONLY | O_NONBLOCK | O_NOCTTY : O_PATH) |
			 O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, bfd, slash + 1, &how, sizeof(how));
	int rc = fd < 0 ? -errno : 0;
	close(bfd);
	if (rc == 0 && fstat(fd, st) != 0)
		rc = -errno;
	if (rc == 0 && !S_ISREG(st->st_mode))
		rc = -ENOENT;
	if (rc < 0 && fd >= 0)
		close(fd);
	return rc < 0 ? rc : fd;
}

/* The caller of a request, for the permission check of a source. */
struct caller {
	fuse_req_t req;
	uid_t uid;
	gid_t gid;
	int ngroups; /* supplementary groups; -1 until asked for */
	gid_t groups[64];
};

static bool in_group(struct caller *c, gid_t g)
{
	if (g == c->gid)
		return true;
	if (c->ngroups < 0) {
		int n = fuse_req_getgroups(c->req, 64, c->groups);
		c->ngroups = n < 0 ? 0 : (n > 64 ? 64 : n);
	}
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

/* The access ACL as the kernel stores it in system.posix_acl_access:
 * a version, then (tag, perm, id) entries sorted by tag. */
#define FS_ACL_XATTR "system.posix_acl_access"
#define FS_ACL_VERSION 2
enum {
	FS_ACL_USER_OBJ = 0x01,
	FS_ACL_USER = 0x02,
	FS_ACL_GROUP_OBJ = 0x04,
	FS_ACL_GROUP = 0x08,
	FS_ACL_MASK = 0x10,
	FS_ACL_OTHER = 0x20,
};
#define FS_ACL_READ 4

static uint32_t le_at(const unsigned char *p, int bytes)
{
	uint32_t v = 0;
	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Does the ACL of n bytes at acl let c read the file of stat st?  The
 * kernel's posix_acl_permission(): the owner's entry; else a named user's
 * or a group's (the owning group or a named one the caller is in) that
 * grants read, limited by the mask; else, in none of the groups, other. */
static bool acl_lets_read(const unsigned char *acl, size_t n,
			  const struct stat *st, struct caller *c)
{
	if (n < 4 || (n - 4) % 8 || le_at(acl, 4) != FS_ACL_VERSION)
		return false; /* not what the kernel writes: refuse */
	const unsigned char *e = acl + 4, *end = acl + n;
	bool grouped = false;
	for (; e < end; e += 8) {
		uint32_t tag = le_at(e, 2), perm = le_at(e + 2, 2);
		uint32_t id = le_at(e + 4, 4);
		bool match = false;
		if (tag == FS_ACL_USER_OBJ && st->st_uid == c->uid)
			return perm & FS_ACL_READ;
		if (tag == FS_ACL_USER)
			match = id == c->uid;
		else if (tag == FS_ACL_GROUP_OBJ || tag == FS_ACL_GROUP) {
			gid_t g = tag == FS_ACL_GROUP ? (gid_t)id : st->st_gid;
			if (in_group(c, g)) {
				grouped = true;
				match = perm & FS_ACL_READ;
			}
		} else if (tag == FS_ACL_OTHER)
			return !grouped && (perm & FS_ACL_READ);
		if (!match)
			continue;
		for (const unsigned char *m = e + 8; m < end; m += 8)
			if (le_at(m, 2) == FS_ACL_MASK)
				perm &= le_at(m + 2, 2);
		return perm & FS_ACL_READ;
	}
	return false;
}

/* May the caller of req read the source open as fd, of stat st?  The
 * kernel checked the .select file (default_permissions, with allow_other);
 * the source is opened by the daemon, so it is checked here as the kernel
 * would: by its access ACL when it has one, else by its mode bits.
 * Without allow_other every caller is the daemon's user. */
static bool may_read(struct fs_ctx *ctx, fuse_req_t req, int fd,
		     const struct stat *st)
{
	if (!ctx->opts->allow_other || !req)
		return true;
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct caller c = {.req = req, .uid = fc->uid, .gid = fc->gid,
			   .ngroups = -1};
	if (c.uid == 0)
		return true;
	unsigned char acl[4 + 8 * 512];
	ssize_t n = fgetxattr(fd, FS_ACL_XATTR, acl, sizeof(acl));
	if (n < 0 && errno == EBADF) { /* an O_PATH descriptor */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = getxattr(proc, FS_ACL_XATTR, acl, sizeof(acl));
	}
	if (n >= 0)
		return acl_lets_read(acl, (size_t)n, st, &c);
	if (errno == ERANGE)
		return false; /* an ACL past what ext4 holds: refuse */
	if (st->st_uid == c.uid)
		return st->st_mode & S_IRUSR;
	return st->st_mode & (in_group(&c, st->st_gid) ? S_IRGRP : S_IROTH);
}

static void fail_with(struct sel_error *err, const char *code,
		      const char *what, int e)
{
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->message, sizeof(err->message), "%s: %s", what,
		 strerror(e));
}

/* FUSE_INTERRUPT of an open that runs a query: its caller gave up (a
 * signal, as Ctrl-C on `cat q.select`), so the run stops. */
static void cancel_run(fuse_req_t req, void *arg)
{
	(void)req;
	atomic_store((_Atomic bool *)arg, true);
}

/* sel_script_run() that req's interrupt cancels: -EINTR then. */
static int run_script(fuse_req_t req, const struct sel_script *script,
		      const char *name, int src, int out,
		      struct sel_error *err)
{
	_Atomic bool cancel = false;
	if (req) /* called at once when the interrupt came already */
		fuse_req_interrupt_func(req, cancel_run, &cancel);
	int rc = sel_script_run(script, name, src, out, &cancel, err);
	/* Takes the request's lock: a callback running has returned, and
	 * none comes after, when cancel is gone. */
	if (req)
		fuse_req_interrupt_func(req, NULL, NULL);
	return atomic_load(&cancel) ? -EINTR : rc;
}

/* Run the query of the open .select file qfd into a new unlinked file;
 * on success *src_path and *src_stamp say what it read. */
static int run_query(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		     int qfd, const struct stat *qst, char **src_path,
		     struct stamp *src_stamp)
{
	struct cmn_buf text;
	struct sel_script *script = NULL;
	struct sel_error err;
	int src = -1, out = -1, rc;

	memset(&err, 0, sizeof(err));
	cmn_buf_init(&text, SEL_QUERY_MAX);
	rc = read_query(qfd, &text);
	if (rc < 0)
		fail_with(&err, rc == -E2BIG ? "ExpressionTooLong"
					     : "InternalError",
			  "reading the query", -rc);
	if (rc == 0)
		rc = sel_script_parse(text.data ? text.data : "", text.len,
				      &script, &err);
	struct stat sst;
	if (rc == 0) {
		*src_path = source_path(ctx, ino, sel_script_source(script));
		src = *src_path ? source_open(ctx, *src_path, true, &sst)
				: -ENOENT;
		if (src < 0) {
			rc = -ENOENT;
			fail_with(&err, "NoSuchKey",
				  *src_path ? *src_path : "source", -src);
		} else if (!may_read(ctx, req, src, &sst)) {
			rc = -EACCES;
			fail_with(&err, "AccessDenied", *src_path, EACCES);
		}
	}
	if (rc == 0)
		stamp_of(&sst, src_stamp);
	if (rc == 0) {
		out = open(ctx->opts->state, O_TMPFILE | O_RDWR | O_CLOEXEC,
			   0600);
		if (out < 0) {
			rc = -EIO;
			fail_with(&err, "InternalError", "result file", errno);
		}
	}
	if (rc == 0)
		rc = run_script(req, script, *src_path, src, out, &err);
	if (rc == -EINTR) { /* not the query's failure: nothing to tell */
		close(out);
		out = rc;
	} else if (rc < 0) {
		if (!err.code[0])
			snprintf(err.code, sizeof(err.code), "InternalError");
		set_error(ctx, qst, err.code, err.message);
		char name[256];
		fs_inode_name(ctx->inodes, ino, name);
		cmn_info("query %s failed: %s: %s", name, err.code,
			 err.message);
		if (out >= 0)
			close(out);
		out = rc == -ENOENT || rc == -EINVAL || rc == -EACCES ? rc
								      : -EIO;
	}
	if (src >= 0)
		close(src);
	sel_script_free(script);
	cmn_buf_free(&text);
	return out;
}

/* The latest change through the mount of two objects (the table's lock
 * is taken: never under s->lock). */
static uint64_t last_change(struct fs_ctx *ctx, const struct stat *a,
			    const struct stat *b)
{
	uint64_t x = fs_inode_last_change_of(ctx->inodes, a->st_dev,
					     a->st_ino, NULL);
	uint64_t y = fs_inode_last_change_of(ctx->inodes, b->st_dev,
					     b->st_ino, NULL);
	return x > y ? x : y;
}

/* A new fd on the cached result when the query and the source are what
 * they were when it was made, else -1; -EACCES when the caller of req
 * may not read the source. */
static int valid_cached(struct fs_ctx *ctx, fuse_req_t req,
			const struct stat *qst)
{
	struct fs_select *s = ctx->select;
	struct stamp q;
	char *path = NULL;
	stamp_of(qst, &q);
	pthread_mutex_lock(&s->lock);
	struct sel_slot *e = slot_for(s, qst->st_dev, qst->st_ino);
	if (e->result_fd >= 0 && stamp_eq(&e->query, &q) && e->source_path)
		path = strdup(e->source_path);
	pthread_mutex_unlock(&s->lock);
	if (!path)
		return -1;

	struct stat sst;
	struct stamp now;
	int fd = -1;
	int pfd = source_open(ctx, path, false, &sst);
	/* A result made for a caller who may read the source is no answer
	 * for one who may not. */
	bool allowed = pfd >= 0 && may_read(ctx, req, pfd, &sst);
	if (pfd >= 0)
		close(pfd);
	if (pfd >= 0 && !allowed)
		fd = -EACCES;
	else if (pfd >= 0) {
		stamp_of(&sst, &now);
		uint64_t changed = last_change(ctx, qst, &sst);
		pthread_mutex_lock(&s->lock);
		e = slot_for(s, qst->st_dev, qst->st_ino);
		if (e->result_fd >= 0 && stamp_eq(&e->source, &now) &&
		    stamp_eq(&e->query, &q) && changed < e->made)
			fd = fcntl(e->result_fd, F_DUPFD_CLOEXEC, 0);
		pthread_mutex_unlock(&s->lock);
	}
	free(path);
	return fd;
}

bool fs_select_result_size(struct fs_ctx *ctx, fuse_req_t req,
			   const struct stat *qst, struct stat *out)
{
	struct fs_select *s = ctx->select;
	bool cached = false;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < SEL_CACHE_SLOTS && !cached; i++)
		cached = s->slot[i].dev == qst->st_dev &&
			 s->slot[i].ino == qst->st_ino &&
			 s->slot[i].result_fd >= 0;
	pthread_mutex_unlock(&s->lock);
	int fd = cached ? valid_cached(ctx, req, qst) : -1;
	struct stat rst;
	bool ok = fd >= 0 && fstat(fd, &rst) == 0;
	if (ok) {
		out->st_size = rst.st_size;
		out->st_blocks = rst.st_blocks;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static void remember(struct fs_ctx *ctx, const struct stat *qst,
		     uint64_t made, char *src_path, const struct stamp *src,
		     int fd)
{
	struct fs_select *s = ctx->select;
	pthread_mutex_lock(&s->lock);
	struct sel_slot *e = slot_for(s, qst->st_dev, qst->st_ino);
	if (e->result_fd >= 0)
		close(e->result_fd);
	free(e->source_path);
	stamp_of(qst, &e->query);
	e->source = *src;
	e->made = made;
	e->source_path = src_path;
	e->result_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	free(e->error);
	e->error = NULL;
	pthread_mutex_unlock(&s->lock);
}

/* Open the .select file itself (its query), or return -errno. */
static int open_query(struct fs_ctx *ctx, struct fs_inode *ino)
{
	return fs_inode_open(ctx->inodes, ino, O_RDONLY | O_CLOEXEC, NULL);
}

int fs_select_open(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino)
{
	int qfd = open_query(ctx, ino);
	if (qfd < 0)
		return qfd;
	struct stat qst;
	int rc = fstat(qfd, &qst) == 0 ? 0 : -errno;
	if (rc == 0)
		rc = valid_cached(ctx, req, &qst);
	if (rc == -1) {
		char *src_path = NULL;
		struct stamp src;
		memset(&src, 0, sizeof(src));
		/* Before the query and the source are read. */
		uint64_t made = fs_inode_clock(ctx->inodes);
		rc = run_query(ctx, req, ino, qfd, &qst, &src_path, &src);
		if (rc >= 0)
			remember(ctx, &qst, made, src_path, &src, rc);
		else
			free(src_path);
	}
	close(qfd);
	if (rc >= 0)
		lseek(rc, 0, SEEK_SET);
	return rc;
}

/* Reply with a string value of an xattr (size 0: its length). */
static void reply_text(fuse_req_t req, const char *text, size_t len,
		       size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, text, len);
}

bool fs_select_getxattr(struct fs_ctx *ctx, fuse_req_t req,
			struct fs_inode *ino, const char *name, size_t size)
{
	bool is_err = strcmp(name, FS_SELECT_XATTR_ERR) == 0;
	if (!is_err && strcmp(name, FS_SELECT_XATTR_QRY) != 0)
		return false;
	if (!fs_select_is(ctx, ino)) {
		fuse_reply_err(req, ENODATA);
		return true;
	}
	struct stat st;
	int qfd = open_query(ctx, ino);
	if (qfd < 0 || fstat(qfd, &st) != 0) {
		fuse_reply_err(req, qfd < 0 ? -qfd : errno);
		if (qfd >= 0)
			close(qfd);
		return true;
	}
	if (is_err) {
		struct fs_select *s = ctx->select;
		char *text = NULL;
		pthread_mutex_lock(&s->lock);
		struct sel_slot *e = slot_for(s, st.st_dev, st.st_ino);
		if (e->error)
			text = strdup(e->error);
		pthread_mutex_unlock(&s->lock);
		if (text)
			reply_text(req, text, strlen(text), size);
		else
			fuse_reply_err(req, ENODATA);
		free(text);
		close(qfd);
		return true;
	}
	struct cmn_buf text;
	cmn_buf_init(&text, SEL_QUERY_MAX);
	int rc = read_query(qfd, &text);
	close(qfd);
	if (rc < 0)
		fuse_reply_err(req, rc == -E2BIG ? E2BIG : -rc);
	else
		reply_text(req, text.data ? text.data : "", text.len, size);
	cmn_buf_free(&text);
	return true;
}
