/*
 * fs_ops.c - the FUSE low-level operations: an inode-based passthrough of
 * SRC with bucket rules at the root and the `.bucketfs/` control
 * directory.
 *
 * The shape follows libfuse's passthrough_ll/passthrough_hp: handlers use
 * *at() calls relative to a directory's O_PATH fd (fs_inode_at: objects
 * are reached by their directory and name) and reply through one exit.
 * What makes it fast here (specs in ARCHITECTURE.md): long entry/attr
 * timeouts (the kernel answers stat from its cache), keep cache on opens,
 * cached readdir with readdirplus, negative entries, noflush on read-only
 * opens, and FUSE passthrough for regular files so reads and writes never
 * reach this process.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <linux/limits.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "fs_bucket.h"
#include "fs_ctx.h"
#include "fs_etag.h"
#include "fs_ev.h"
#include "fs_inode.h"
#include "fs_magic.h"
#include "fs_opts.h"
#include "fs_select.h"
#include "ntf_pipeline.h"

/* An open regular file. */
struct fs_file {
	struct fs_handle h;  /* first: on the open-handle list */
	int fd;
	struct fs_inode *ino;
	bool passthrough;   /* holds a reference on ino->backing_id */
	bool writer;        /* opened for writing: may produce a Put */
	atomic_bool flushed; /* a writer flushed once (fs_inode.h, "Changes");
				a write on another thread may read it */
	/* Serialises the FLUSHes of this handle (a descriptor and its dup
	 * closed at once arrive together) and a truncate through it: they
	 * read and write dirty, size, mtime and racy. */
	pthread_mutex_t put_mu;
	bool dirty;         /* created or truncated: Put at the next flush */
	atomic_bool written; /* a write reached the daemon since the last
				flush (no passthrough): a change, whatever
				size and mtime say */
	off_t size;         /* size and mtime at open or the last Put, to */
	struct timespec mtime; /* see whether a flush follows a change */
	bool racy;          /* that mtime may not move with a write (see
			       mtime_racy) */
	uid_t uid;          /* who opened it: RELEASE does not say */
	pid_t pid;
	char comm[17];
	uint64_t intent;    /* the Put owed since a flush found the file
			       empty (fs_ev_owe_put), 0: none */
};

static struct fs_file *file_of(struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

/* A new handle of ino open as fd (taken over by the handle only when one
 * is returned); NULL when out of memory. */
static struct fs_file *file_new(int fd, struct fs_inode *ino)
{
	struct fs_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->put_mu, NULL);
	f->fd = fd;
	f->ino = ino;
	return f;
}

/* An open directory: a stream of the backing directory, or for the root
 * a snapshot (small: one entry per bucket) with control entries added and
 * the state directory left out. */
struct fs_dirent {
	char *name;
	ino_t ino;
	unsigned char type;
};

struct fs_dir {
	struct fs_handle h;  /* first: on the open-handle list */
	DIR *dp;
	struct dirent *entry;
	off_t offset;
	struct fs_dirent *snap; /* root only */
	size_t nsnap;
};

static void file_teardown(struct fs_ctx *ctx, struct fs_handle *h);

static struct fs_ctx *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs_inode_root(ctx_of(req)->inodes);
	return (struct fs_inode *)(uintptr_t)ino;
}

static fuse_ino_t id_of(struct fs_ctx *ctx, struct fs_inode *ino)
{
	if (ino == fs_inode_root(ctx->inodes))
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)ino;
}

/* Fill at for ino, or return -ESTALE; see fs_inode_at. */
static int at_of(struct fs_ctx *ctx, struct fs_inode *ino, struct fs_at *at)
{
	return fs_inode_at(ctx->inodes, ino, at);
}

/* stat of ino's backing object.  A name that holds another object now
 * (replaced behind the mount) is ESTALE, never the other's attributes. */
static int at_stat(struct fs_at *at, struct fs_inode *ino, struct stat *st)
{
	if (fs_at_stat(at, st) != 0)
		return -errno;
	if (st->st_ino != ino->ino || st->st_dev != ino->dev)
		return -ESTALE;
	return 0;
}

static bool is_state_name(struct fs_ctx *ctx, struct fs_inode *parent,
			  const char *name)
{
	return ctx->state_name && fs_inode_is_root(parent) &&
	       strcmp(name, ctx->state_name) == 0;
}

/* ---- lookup -------------------------------------------------------- */

/* How long the kernel may keep an inode's attributes.  Not at all for a
 * .select file: its size is the query's until an open computes the
 * result, then the result's (fs_select_result_size), and a cached size
 * would hide that from stat. */
static double attr_timeout(struct fs_ctx *ctx, struct fs_inode *ino)
{
	return fs_select_is(ctx, ino) ? 0.0 : ctx->timeout;
}

/* The entry of the backing object parent/name, with one kernel lookup
 * counted.  Its attributes come from fd when that is open on it (a file
 * just created: no second path walk), else from the name. */
static int entry_of(struct fs_ctx *ctx, struct fs_inode *parent,
		    const char *name, int fd, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = ctx->timeout;
	e->entry_timeout = ctx->timeout;
	if ((fd >= 0 ? fstat(fd, &e->attr)
		     : fstatat(parent->fd, name, &e->attr,
			       AT_SYMLINK_NOFOLLOW)) != 0)
		return -errno;
	struct fs_inode *ino = fs_inode_get(ctx->inodes, parent, name,
					    &e->attr);
	if (!ino)
		return -errno;
	e->ino = id_of(ctx, ino);
	e->attr_timeout = attr_timeout(ctx, ino);
	return 0;
}

static int do_lookup(struct fs_ctx *ctx, struct fs_inode *parent,
		     const char *name, struct fuse_entry_param *e)
{
	struct fs_inode *m = fs_magic_lookup(ctx, parent, name);
	if (m) {
		fs_magic_entry(ctx, m, e);
		return 0;
	}
	if (parent->magic || is_state_name(ctx, parent, name))
		return -ENOENT;
	return entry_of(ctx, parent, name, -1, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fuse_entry_param e;
	int rc = do_lookup(ctx, inode_of(req, parent), name, &e);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel remembers the miss, so an S3
		 * HEAD of a missing key or an O_CREAT costs one round trip. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ctx->timeout;
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_forget(ctx_of(req)->inodes, inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs_ctx *ctx = ctx_of(req);
	for (size_t i = 0; i < count; i++)
		fs_inode_forget(ctx->inodes, inode_of(req, forgets[i].ino),
				forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ---- attributes ---------------------------------------------------- */

/* With FUSE_HANDLE_KILLPRIV_V2 the daemon, not the kernel, drops the
 * set-user-id bit (and set-group-id on group-executable files) when an
 * unprivileged caller modifies a file.  Writes may never reach the daemon
 * (passthrough, writeback), so this is done when such a caller opens the
 * file for writing or truncates it: earlier than a local file system
 * would, never later. */
static void kill_setid(struct fs_ctx *ctx, fuse_req_t req, int fd)
{
	struct stat st;
	if (!ctx->pt.killpriv || fuse_req_ctx(req)->uid == 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	mode_t drop = S_ISUID;
	if (st.st_mode & S_IXGRP)
		drop |= S_ISGID;
	if (st.st_mode & drop)
		(void)fchmod(fd, st.st_mode & ~drop & 07777);
}

static void op_getattr(fuse_req_t req, fuse_ino_t id,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct stat st;
	struct fs_at at;

	(void)fi;
	if (ino->magic) {
		fs_magic_stat(ctx, ino, &st);
	} else {
		int rc = at_of(ctx, ino, &at);
		if (rc == 0)
			rc = at_stat(&at, ino, &st);
		fs_at_done(&at);
		if (rc < 0) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (!ino->magic && S_ISREG(st.st_mode) && fs_select_is(ctx, ino))
		fs_select_result_size(ctx, req, &st, &st);
	if (S_ISREG(st.st_mode))
		fs_ev_object(ctx, req, NTF_EV_OBJECT_ACCESSED_HEAD, ino, NULL,
			     &st, NULL);
	fuse_reply_attr(req, &st, attr_timeout(ctx, ino));
}

static int set_times(struct fs_inode *ino, struct fs_at *at,
		     struct fuse_file_info *fi, const struct stat *attr,
		     int valid)
{
	struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT},
				 {.tv_nsec = UTIME_OMIT}};
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fi && S_ISREG(ino->type))
		return futimens(((struct fs_file *)(uintptr_t)fi->fh)->fd, tv);
	/* utimensat on an O_PATH fd needs its /proc link (and a symlink's
	 * own fd, which AT_EMPTY_PATH takes). */
	if (at->name[0] || S_ISLNK(ino->type))
		return utimensat(at->dirfd, at->name, tv, fs_at_flags(at));
	return utimensat(AT_FDCWD, fs_at_proc(at), tv, 0);
}

static int set_mode(struct fs_at *at, int ffd, mode_t mode)
{
	if (ffd >= 0)
		return fchmod(ffd, mode);
	if (at->name[0])
		return fchmodat(at->dirfd, at->name, mode, 0);
	return chmod(fs_at_proc(at), mode);
}

static int do_setattr(struct fs_inode *ino, struct fs_at *at,
		      struct stat *attr, int valid, struct fuse_file_info *fi)
{
	int ffd = fi && S_ISREG(ino->type) ?
			  ((struct fs_file *)(uintptr_t)fi->fh)->fd : -1;

	if ((valid & FUSE_SET_ATTR_MODE) && set_mode(at, ffd, attr->st_mode))
		return -errno;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid :
							 (uid_t)-1;
		gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid :
							 (gid_t)-1;
		if (fchownat(at->dirfd, at->name, u, g, fs_at_flags(at)) != 0)
			return -errno;
	}
	if ((valid & FUSE_SET_ATTR_SIZE) &&
	    (ffd >= 0 ? ftruncate(ffd, attr->st_size) :
			truncate(fs_at_proc(at), attr->st_size)))
		return -errno;
	if ((valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) &&
	    set_times(ino, at, fi, attr, valid) != 0)
		return -errno;
	return 0;
}

/* May a write after this stat leave the file's mtime as it is?  Only
 * within SRC's mtime window of the last change (fs_mount.c,
 * probe_mtime_window: on a file system stamped at the clock tick, a
 * rewrite within the tick keeps it). */
static bool mtime_racy(struct fs_ctx *ctx, const struct stat *st)
{
	if (ctx->mtime_window_ns == 0)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	return cmn_time_ns(&st->st_mtim) >
	       cmn_time_ns(&now) - ctx->mtime_window_ns;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Did the last Put of ino, by whichever handle, tell it as st is, for a
 * handle whose writes the daemon does not see (passthrough: pt) or does?
 * The first only if a write after that Put had to move the mtime. */
static bool told_already(struct fs_inode *ino, const struct stat *st,
			 bool pt)
{
	pthread_mutex_lock(&ino->lock);
	bool told = ino->told && !(ino->told_racy && pt) &&
		    ino->told_size == st->st_size &&
		    same_time(&ino->told_mtime, &st->st_mtim);
	pthread_mutex_unlock(&ino->lock);
	return told;
}

/* Note that a Put told ino as st describes it; racy: a later write may
 * keep st's mtime (mtime_racy). */
static void told_put(struct fs_inode *ino, const struct stat *st, bool racy)
{
	pthread_mutex_lock(&ino->lock);
	ino->told = true;
	ino->told_racy = racy;
	ino->told_size = st->st_size;
	ino->told_mtime = st->st_mtim;
	pthread_mutex_unlock(&ino->lock);
}

/* truncate by path is a Put at once; ftruncate makes the handle's next
 * flush one; chmod and chown are ObjectAcl:Put. */
static void setattr_events(struct fs_ctx *ctx, fuse_req_t req,
			   struct fs_inode *ino, int valid,
			   struct fuse_file_info *fi, const struct stat *st)
{
	if ((valid & FUSE_SET_ATTR_SIZE) && S_ISREG(st->st_mode)) {
		if (fi) {
			struct fs_file *f = file_of(fi);
			pthread_mutex_lock(&f->put_mu);
			f->dirty = true;
			pthread_mutex_unlock(&f->put_mu);
		} else {
			fs_ev_object(ctx, req, NTF_EV_OBJECT_CREATED_PUT, ino,
				     NULL, st, NULL);
			told_put(ino, st, mtime_racy(ctx, st));
		}
	}
	if ((valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) &&
	    !S_ISDIR(st->st_mode))
		fs_ev_object(ctx, req, NTF_EV_OBJECT_ACL_PUT, ino, NULL, st,
			     NULL);
}

/* The events setattr_events will owe, checked before (fs_ev_owed_room). */
static int setattr_room(struct fs_ctx *ctx, struct fs_inode *ino, int valid,
			struct fuse_file_info *fi)
{
	int rc = 0;
	if ((valid & FUSE_SET_ATTR_SIZE) && !fi && S_ISREG(ino->type))
		rc = fs_ev_owed_room(ctx, NTF_EV_OBJECT_CREATED_PUT);
	if (rc == 0 && (valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
				 FUSE_SET_ATTR_GID)) &&
	    !S_ISDIR(ino->type))
		rc = fs_ev_owed_room(ctx, NTF_EV_OBJECT_ACL_PUT);
	return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t id, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct stat st;
	struct fs_at at;
	int rc = ino->magic ? -EPERM : setattr_room(ctx, ino, valid, fi);
	if (rc == 0)
		rc = at_of(ctx, ino, &at);
	if (rc == 0)
		rc = do_setattr(ino, &at, attr, valid, fi);
	if (rc == 0 && (valid & FUSE_SET_ATTR_SIZE) && S_ISREG(ino->type)) {
		fs_inode_changed(ctx->inodes, ino, false);
		int fd = fs_at_open(&at, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			kill_setid(ctx, req, fd);
			/* The cached eTag is keyed by size and mtime, which a
			 * truncate and a rewrite may put back (as op_open). */
			(void)fremovexattr(fd, FS_EV_XATTR_ETAG);
			close(fd);
		}
	}
	if (rc == 0)
		rc = at_stat(&at, ino, &st);
	if (!ino->magic)
		fs_at_done(&at);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	setattr_events(ctx, req, ino, valid, fi, &st);
	fuse_reply_attr(req, &st, attr_timeout(ctx, ino));
}

/* ---- creating names ------------------------------------------------ */

/* Root rules: buckets are directories with S3 names; nothing else lives
 * at the root, and the control directory cannot be touched. */
static int check_new_name(struct fs_ctx *ctx, struct fs_inode *parent,
			  const char *name, mode_t type)
{
	if (parent->magic)
		return -EPERM;
	if (!fs_inode_is_root(parent))
		return 0;
	if (strcmp(name, FS_MAGIC_DIR) == 0 || is_state_name(ctx, parent, name))
		return -EPERM;
	if (type != S_IFDIR)
		return -EPERM;
	return fs_bucket_name_valid(name, strlen(name)) ? 0 : -EINVAL;
}

/* New objects belong to the caller, as on a local file system, even
 * though the daemon (root) made them. */
static void set_owner(struct fs_ctx *ctx, fuse_req_t req,
		      struct fs_inode *parent, const char *name)
{
	if (!ctx->is_root)
		return;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	if (c->uid == 0 && c->gid == 0)
		return;
	struct stat pst;
	gid_t gid = c->gid;
	if (fstatat(parent->fd, "", &pst, AT_EMPTY_PATH) == 0 &&
	    (pst.st_mode & S_ISGID))
		gid = (gid_t)-1; /* inherit the directory's group */
	if (fchownat(parent->fd, name, c->uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		cmn_debug("chown of new %s failed: %s", name, strerror(errno));
}

static void reply_new_entry(fuse_req_t req, struct fs_inode *parent,
			    const char *name, int rc)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fuse_entry_param e;
	if (rc == 0) {
		set_owner(ctx, req, parent, name);
		rc = do_lookup(ctx, parent, name, &e);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *name,
		     mode_t mode)
{
	struct fs_inode *parent = inode_of(req, p);
	int rc = check_new_name(ctx_of(req), parent, name, S_IFDIR);
	if (rc == 0 && fs_inode_is_root(parent))
		rc = fs_ev_owed_room(ctx_of(req), NTF_EV_BUCKET_CREATED);
	if (rc == 0 && mkdirat(parent->fd, name, mode) != 0)
		rc = -errno;
	if (rc == 0 && fs_inode_is_root(parent))
		fs_ev_bucket(ctx_of(req), req, NTF_EV_BUCKET_CREATED, name);
	reply_new_entry(req, parent, name, rc);
}

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fs_inode *parent = inode_of(req, p);
	int rc = check_new_name(ctx_of(req), parent, name, mode & S_IFMT);
	if (rc == 0 && S_ISREG(mode))
		rc = fs_ev_owed_room(ctx_of(req), NTF_EV_OBJECT_CREATED_PUT);
	if (rc == 0 && mknodat(parent->fd, name, mode, rdev) != 0)
		rc = -errno;
	if (rc == 0 && S_ISREG(mode))
		fs_ev_object(ctx_of(req), req, NTF_EV_OBJECT_CREATED_PUT,
			     parent, name, NULL, NULL);
	reply_new_entry(req, parent, name, rc);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t p,
		       const char *name)
{
	struct fs_inode *parent = inode_of(req, p);
	int rc = check_new_name(ctx_of(req), parent, name, S_IFLNK);
	if (rc == 0)
		rc = fs_ev_owed_room(ctx_of(req), NTF_EV_OBJECT_CREATED_PUT);
	if (rc == 0 && symlinkat(target, parent->fd, name) != 0)
		rc = -errno;
	if (rc == 0)
		fs_ev_object(ctx_of(req), req, NTF_EV_OBJECT_CREATED_PUT,
			     parent, name, NULL, NULL);
	reply_new_entry(req, parent, name, rc);
}

/* link(2) of at's object as parent/name.  An O_PATH fd links with
 * AT_EMPTY_PATH only with CAP_DAC_READ_SEARCH; its /proc link always. */
static int link_at(struct fs_at *at, struct fs_inode *parent,
		   const char *name)
{
	if (at->name[0])
		return linkat(at->dirfd, at->name, parent->fd, name, 0) ? -errno
									: 0;
	if (linkat(at->dirfd, "", parent->fd, name, AT_EMPTY_PATH) == 0 ||
	    linkat(AT_FDCWD, fs_at_proc(at), parent->fd, name,
		   AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return -errno;
}

static void op_link(fuse_req_t req, fuse_ino_t id, fuse_ino_t p,
		    const char *name)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct fs_inode *parent = inode_of(req, p);
	struct fs_at at;
	int rc = ino->magic ? -EPERM :
			      check_new_name(ctx, parent, name, ino->type);
	if (rc == 0)
		rc = fs_ev_owed_room(ctx, NTF_EV_OBJECT_CREATED_COPY);
	if (rc == 0)
		rc = at_of(ctx, ino, &at);
	if (rc == 0) {
		rc = link_at(&at, parent, name);
		fs_at_done(&at);
	}
	char *source = NULL;
	if (rc == 0 && (fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_COPY) ||
			fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_PUT)))
		source = fs_ev_key_of(ctx, ino, NULL);
	struct fuse_entry_param e;
	if (rc == 0)
		rc = do_lookup(ctx, parent, name, &e);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else {
		if (S_ISREG(e.attr.st_mode))
			fs_ev_linked(ctx, &e.attr, source, parent, name);
		fs_ev_object(ctx, req, NTF_EV_OBJECT_CREATED_COPY, parent,
			     name, &e.attr, source);
		fuse_reply_entry(req, &e);
	}
	free(source);
}

static void op_readlink(fuse_req_t req, fuse_ino_t id)
{
	struct fs_inode *ino = inode_of(req, id);
	char buf[PATH_MAX + 1];
	struct fs_at at;
	int rc = ino->magic ? -EINVAL : at_of(ctx_of(req), ino, &at);
	ssize_t n = -1;
	if (rc == 0) {
		n = readlinkat(at.dirfd, at.name, buf, PATH_MAX);
		rc = n < 0 ? -errno : 0;
		fs_at_done(&at);
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- removing and renaming ----------------------------------------- */

static int check_old_name(struct fs_ctx *ctx, struct fs_inode *parent,
			  const char *name)
{
	if (parent->magic)
		return -EPERM;
	if (fs_inode_is_root(parent) &&
	    (strcmp(name, FS_MAGIC_DIR) == 0 ||
	     is_state_name(ctx, parent, name)))
		return -EPERM;
	return 0;
}

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	struct fs_inode *parent = inode_of(req, p);
	int rc = check_old_name(ctx_of(req), parent, name);
	if (rc == 0)
		rc = fs_ev_owed_room(ctx_of(req), NTF_EV_OBJECT_REMOVED_DELETE);
	if (rc == 0) {
		fs_inode_names_lock(parent, NULL);
		fs_inode_unlinking(ctx_of(req)->inodes, parent, name);
		if (unlinkat(parent->fd, name, 0) != 0)
			rc = -errno;
		fs_inode_names_unlock(parent, NULL);
	}
	if (rc == 0)
		fs_ev_object(ctx_of(req), req, NTF_EV_OBJECT_REMOVED_DELETE,
			     parent, name, NULL, NULL);
	fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t p, const char *name)
{
	struct fs_inode *parent = inode_of(req, p);
	struct fs_ctx *ctx = ctx_of(req);
	int rc = check_old_name(ctx, parent, name);
	if (rc == 0 && fs_inode_is_root(parent))
		rc = fs_ev_owed_room(ctx, NTF_EV_BUCKET_REMOVED);
	if (rc == 0 && unlinkat(parent->fd, name, AT_REMOVEDIR) != 0)
		rc = -errno;
	if (rc == 0 && fs_inode_is_root(parent)) {
		ntf_pipeline_set_rules(ctx->pipeline, name, NULL);
		fs_ev_bucket(ctx, req, NTF_EV_BUCKET_REMOVED, name);
	}
	fuse_reply_err(req, -rc);
}

/* What lands at the root by a rename must be a bucket: a directory with a
 * valid bucket name. */
static int check_rename_target(struct fs_ctx *ctx, struct fs_inode *parent,
			       const char *name, struct fs_inode *src_parent,
			       const char *src_name)
{
	int rc = check_old_name(ctx, parent, name);
	if (rc < 0 || !fs_inode_is_root(parent))
		return rc;
	struct stat st;
	if (fstatat(src_parent->fd, src_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -EPERM;
	return fs_bucket_name_valid(name, strlen(name)) ? 0 : -EINVAL;
}

static void note_rename(struct fs_ctx *ctx, struct fs_inode *parent,
			const char *name, struct fs_inode *newparent,
			const char *newname)
{
	struct stat st;
	if (fstatat(newparent->fd, newname, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	/* Take a lookup so the inode cannot vanish while it is relinked,
	 * then give it back. */
	struct fs_inode *ino = fs_inode_get(ctx->inodes, newparent, newname,
					    &st);
	if (ino)
		fs_inode_forget(ctx->inodes, ino, 1);
}

/* Events of a rename: the objects it moved, and for a bucket renamed at
 * the root its rules follow it and the bucket events say what happened. */
static bool is_dir_at(struct fs_inode *dir, const char *name)
{
	struct stat st;
	return fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* A name at the root a rename touched: was it a bucket, and is it one? */
struct root_name {
	const char *name;
	bool before, after;
};

/* The events of a rename: the Copy/Delete pairs of the objects moved,
 * and where a bucket appears or goes away at the root, its bucket event:
 * a new bucket is announced before the objects copied into it, one that
 * went after its objects left.  The rules of a root name follow the
 * directory, as a remount would find them: read again from the
 * directory now there before the Copies into it, dropped for a name
 * that is no bucket any more after the Deletes from it.  (A directory
 * renamed over an empty bucket replaces it without a BucketRemoved.) */
static void rename_events(struct fs_ctx *ctx, fuse_req_t req,
			  struct fs_inode *parent, const char *name,
			  struct fs_inode *newparent, const char *newname,
			  unsigned int flags, const uint64_t intents[2])
{
	bool exchange = flags & RENAME_EXCHANGE;
	bool at_root = fs_inode_is_root(parent) || fs_inode_is_root(newparent);
	/* After the rename: what was at name is at newname (and, with
	 * an exchange, the other way round).  Asked only when a bucket can
	 * come or go. */
	bool moved_dir = at_root && is_dir_at(newparent, newname);
	struct root_name r[2];
	int n = 0;
	if (fs_inode_is_root(parent))
		r[n++] = (struct root_name){
			name, moved_dir, exchange && is_dir_at(parent, name)};
	if (fs_inode_is_root(newparent))
		r[n++] = (struct root_name){
			newname, exchange && is_dir_at(parent, name),
			moved_dir};
	for (int i = 0; i < n; i++) {
		if (!r[i].after)
			continue;
		fs_ev_bucket_rules_reload(ctx, r[i].name);
		if (!r[i].before)
			fs_ev_bucket(ctx, req, NTF_EV_BUCKET_CREATED,
				     r[i].name);
	}
	fs_ev_renamed(ctx, req, parent, name, newparent, newname, flags,
		      intents[0]);
	if (exchange)
		fs_ev_renamed(ctx, req, newparent, newname, parent, name,
			      flags, intents[1]);
	for (int i = 0; i < n; i++) {
		if (!r[i].before || r[i].after)
			continue;
		fs_ev_bucket(ctx, req, NTF_EV_BUCKET_REMOVED, r[i].name);
		fs_ev_bucket_rules_reload(ctx, r[i].name);
	}
}

/* The rename itself, with the inodes' names following it, under the
 * directories' names locks. */
static int do_rename(struct fs_ctx *ctx, struct fs_inode *parent,
		     const char *name, struct fs_inode *newparent,
		     const char *newname, unsigned int flags)
{
	int rc = 0;
	fs_inode_names_lock(parent, newparent);
	if (!(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)))
		fs_inode_unlinking(ctx->inodes, newparent, newname);
	if (renameat2(parent->fd, name, newparent->fd, newname, flags) != 0)
		rc = -errno;
	if (rc == 0) {
		note_rename(ctx, parent, name, newparent, newname);
		if (flags & RENAME_EXCHANGE)
			note_rename(ctx, newparent, newname, parent, name);
	}
	fs_inode_names_unlock(parent, newparent);
	return rc;
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *name,
		      fuse_ino_t np, const char *newname, unsigned int flags)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *parent = inode_of(req, p);
	struct fs_inode *newparent = inode_of(req, np);

	int rc = check_old_name(ctx, parent, name);
	if (rc == 0)
		rc = check_rename_target(ctx, newparent, newname, parent, name);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = check_rename_target(ctx, parent, name, newparent,
					 newname);
	/* Owed before it happens: a crash right after the rename must not
	 * lose a directory's pairs (see fs_ev_rename_owe). */
	uint64_t intents[2] = {0, 0};
	if (rc == 0)
		rc = fs_ev_rename_owe(ctx, req, parent, name, newparent,
				      newname, flags, intents);
	if (rc == 0)
		rc = do_rename(ctx, parent, name, newparent, newname, flags);
	if (rc == 0) {
		rename_events(ctx, req, parent, name, newparent, newname,
			      flags, intents);
	} else {
		fs_ev_intent_done(ctx, intents[0]);
		fs_ev_intent_done(ctx, intents[1]);
	}
	fuse_reply_err(req, -rc);
}

/* ---- regular files ------------------------------------------------- */


/* Register the handle's file for passthrough, sharing one backing id per
 * inode.  Returns the id to put in the reply, or 0 to serve it here. */
static int pt_attach(struct fs_ctx *ctx, struct fs_file *f)
{
	if (!ctx->pt.active)
		return 0;
	struct fs_inode *ino = f->ino;
	int id;
	pthread_mutex_lock(&ino->lock);
	if (ino->backing_refs == 0) {
		id = fs_pt_backing_open(&ctx->pt, f->fd);
		if (id < 0) {
			pthread_mutex_unlock(&ino->lock);
			cmn_debug("passthrough refused (%s): serving the file "
				  "through the daemon",
				  strerror(-id));
			return 0;
		}
		ino->backing_id = id;
	}
	ino->backing_refs++;
	id = ino->backing_id;
	pthread_mutex_unlock(&ino->lock);
	f->passthrough = true;
	return id;
}

static void pt_detach(struct fs_ctx *ctx, struct fs_file *f)
{
	if (!f->passthrough)
		return;
	struct fs_inode *ino = f->ino;
	pthread_mutex_lock(&ino->lock);
	if (--ino->backing_refs == 0) {
		fs_pt_backing_close(&ctx->pt, ino->backing_id);
		ino->backing_id = 0;
	}
	pthread_mutex_unlock(&ino->lock);
}

/* Adjust open flags for the backing open.  With the writeback cache the
 * kernel may read pages of a write-only file and does O_APPEND itself. */
static int backing_flags(struct fs_ctx *ctx, int flags)
{
	/* O_DIRECT stays with the kernel: FUSE's direct_io already bypasses
	 * the page cache, a passthrough open takes the flags of the FUSE
	 * file, and the daemon's buffers are not aligned for the backing
	 * file's O_DIRECT rules. */
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT);
	if (ctx->writeback && !ctx->pt.active) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags | O_CLOEXEC;
}

/* With passthrough the daemon's descriptor of a file serves none of the
 * caller's I/O (the kernel opens its own backing file with the caller's
 * flags), so it is opened to suit the daemon: readable, so that the eTag
 * hasher reads a duplicate of it rather than opening the file again by
 * path (a third of its work on a small file), and O_NOATIME, because
 * hashing is no access by the user.  The caller's flags are what
 * backing_open() falls back to when the daemon may not read the file or
 * does not own it. */
static int daemon_flags(struct fs_ctx *ctx, int flags)
{
	if (!ctx->pt.active)
		return flags;
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags | O_NOATIME;
}

/* Open the backing file of ino, or (name) create it in the directory ino
 * with mode.  Returns the descriptor or -errno.  st: see fs_inode_open
 * (NULL with a name). */
static int backing_open(struct fs_ctx *ctx, struct fs_inode *ino,
			const char *name, int flags, mode_t mode,
			struct stat *st)
{
	int wide = daemon_flags(ctx, flags);
	for (;;) {
		int fd = name ? openat(ino->fd, name, wide, mode)
			      : fs_inode_open(ctx->inodes, ino, wide, st);
		if (name && fd < 0)
			fd = -errno;
		if ((fd != -EACCES && fd != -EPERM) || wide == flags)
			return fd;
		wide = flags;
	}
}

/* Fill fi for an open/create reply; returns the backing id (0: none). */
static int prepare_open(struct fs_ctx *ctx, struct fs_file *f,
			struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)f;
	fs_handle_track(ctx, &f->h, file_teardown);
	int id = pt_attach(ctx, f);
	if (!id && ctx->pt.active) {
		/* Served here after all: its reads are the user's again. */
		int fl = fcntl(f->fd, F_GETFL);
		if (fl >= 0 && (fl & O_NOATIME))
			(void)fcntl(f->fd, F_SETFL, fl & ~O_NOATIME);
	}
	if (!id) {
		fi->keep_cache = 1;
		if (fi->flags & O_DIRECT)
			fi->direct_io = 1;
	}
	/* A read-only close needs no FLUSH round trip (GET +70% here);
	 * one that truncated has its Put at the flush.  The kernel ignores
	 * noflush under the writeback cache (passthrough off): its close
	 * then writes back the inode's dirty pages, whoever dirtied them,
	 * and reports their write errors, so the FLUSH comes anyway. */
	if ((fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC))
		fi->noflush = 1;
	return id;
}

static void file_free(struct fs_ctx *ctx, struct fs_file *f)
{
	fs_handle_untrack(ctx, &f->h);
	pt_detach(ctx, f);
	close(f->fd);
	fs_inode_closed(ctx->inodes, f->ino,
			f->writer && !atomic_load(&f->flushed));
	pthread_mutex_destroy(&f->put_mu);
	free(f);
}

/* A write through f that reached the daemon: its next flush is a Put.
 * Before f's first flush the inode counts it as a writer
 * (fs_inode_opened); after it (a duplicate of the descriptor writing on),
 * each write is told (fs_inode.h, "Changes"). */
static void wrote(struct fs_ctx *ctx, struct fs_file *f)
{
	atomic_store(&f->written, true);
	if (atomic_load(&f->flushed))
		fs_inode_changed(ctx->inodes, f->ino, false);
}

/* Has f's file changed since its open or last Put, as of st?  The daemon
 * sees writes without passthrough (f->written); with it, size and mtime
 * tell, but not within the mtime window of the change before: then it is
 * taken as changed, a Put too many rather than one lost.  Clears
 * f->written. */
static bool file_changed(struct fs_file *f, const struct stat *st)
{
	bool written = atomic_exchange(&f->written, false);
	if (f->dirty || written)
		return true;
	if (st->st_size == f->size && same_time(&st->st_mtim, &f->mtime) &&
	    !(f->racy && f->passthrough))
		return false;
	/* Changed since this handle's open (or maybe, within the window),
	 * but perhaps by another handle whose Put told this very state: a
	 * write after that Put would have moved the mtime. */
	return !told_already(f->ino, st, f->passthrough);
}

/* Record the Put a handle owes at its end (RELEASE, or a teardown), with
 * the attributes st (NULL: looked up).  Its intent is done once the Put
 * is recorded: if it cannot be, the next start tells it. */
static void put_owed(struct fs_ctx *ctx, struct fs_file *f,
		     const struct stat *st)
{
	int rc = fs_ev_object_fd(ctx, f->uid, f->pid, f->comm,
				 NTF_EV_OBJECT_CREATED_PUT, f->ino, NULL,
				 f->fd, st, NULL, 0);
	if (rc < 0 && rc != -EAGAIN)
		return;
	if (f->intent)
		fs_ev_intent_done(ctx, f->intent);
	f->intent = 0;
}

/* Teardown of a file the kernel never released: record the Put its
 * changes owe (no close() is waiting any more), then free it. */
static void file_teardown(struct fs_ctx *ctx, struct fs_handle *h)
{
	struct fs_file *f = (struct fs_file *)h;
	struct stat st;
	if (f->writer && fstat(f->fd, &st) == 0 && file_changed(f, &st))
		put_owed(ctx, f, &st);
	file_free(ctx, f);
}

/* A handle opened for writing remembers size and mtime, so its flush can
 * tell whether the object changed (writes may never reach the daemon). */
static void track_writes(struct fs_ctx *ctx, fuse_req_t req,
			 struct fs_file *f, int flags, bool dirty)
{
	struct stat st;
	if ((flags & O_ACCMODE) == O_RDONLY && !dirty)
		return;
	f->writer = true;
	f->dirty = dirty;
	f->uid = fuse_req_ctx(req)->uid;
	f->pid = fuse_req_ctx(req)->pid;
	if (fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_PUT))
		fs_ev_comm(ctx, f->pid, f->comm);
	if (!fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_PUT) || dirty)
		return;
	if (fstat(f->fd, &st) == 0) {
		f->size = st.st_size;
		f->mtime = st.st_mtim;
		f->racy = mtime_racy(ctx, &st);
	}
}

/* Reading a .select file reads its query's result: a file of the
 * daemon's, served here (not passed through) with direct I/O because its
 * size is not the stored query's. */
static void open_select(struct fs_ctx *ctx, fuse_req_t req,
			struct fs_inode *ino, struct fuse_file_info *fi)
{
	int fd = fs_select_open(ctx, req, ino);
	struct fs_file *f = fd >= 0 ? file_new(fd, ino) : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, fd < 0 ? -fd : ENOMEM);
		return;
	}
	fs_inode_opened(ctx->inodes, ino, false);
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->direct_io = 1;
	fi->noflush = 1;
	fs_handle_track(ctx, &f->h, file_teardown);
	/* Attributes fetched within the last clock tick count as fresh even
	 * with a zero timeout: drop them, so fstat asks (op_getattr). */
	fuse_lowlevel_notify_inval_inode(ctx->se, id_of(ctx, ino), -1, 0);
	fs_ev_object(ctx, req, NTF_EV_OBJECT_ACCESSED_GET, ino, NULL, NULL,
		     NULL);
	if (fuse_reply_open(req, fi) != 0)
		file_free(ctx, f);
}

static void op_open(fuse_req_t req, fuse_ino_t id, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	if (ino->magic) {
		fs_magic_open(ctx, req, ino, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC) &&
	    fs_select_is(ctx, ino)) {
		open_select(ctx, req, ino, fi);
		return;
	}
	/* O_RDONLY|O_TRUNC empties the file: a write, not a GET. */
	bool get = (fi->flags & O_ACCMODE) == O_RDONLY &&
		   !(fi->flags & O_TRUNC) &&
		   fs_ev_wants(ctx, NTF_EV_OBJECT_ACCESSED_GET);
	if (get)
		fs_etag_prefetch(ctx, ino->dev, ino->ino);
	struct stat st;
	int fd = backing_open(ctx, ino, NULL,
			      backing_flags(ctx, fi->flags) & ~O_NOFOLLOW, 0,
			      &st);
	struct fs_file *f = fd >= 0 ? file_new(fd, ino) : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, fd < 0 ? -fd : ENOMEM);
		return;
	}
	bool writer = (fi->flags & O_ACCMODE) != O_RDONLY ||
		      (fi->flags & O_TRUNC);
	fs_inode_opened(ctx->inodes, ino, writer);
	if (writer) {
		kill_setid(ctx, req, fd);
		/* Rewritten keeping its size and mtime (cp -p), the object
		 * would match its cached eTag: it goes before any write, and
		 * the hasher caches the new one after the Put. */
		(void)fremovexattr(fd, FS_EV_XATTR_ETAG);
	}
	track_writes(ctx, req, f, fi->flags, (fi->flags & O_TRUNC) != 0);
	int bid = prepare_open(ctx, f, fi);
	if (get) {
		const struct fuse_ctx *fc = fuse_req_ctx(req);
		/* the stat the open checked the object with */
		fs_ev_object_fd(ctx, fc->uid, fc->pid, NULL,
				NTF_EV_OBJECT_ACCESSED_GET, ino, NULL, fd,
				st.st_mode ? &st : NULL, NULL,
				NTF_STORE_REFUSABLE);
	}
	fs_pt_set_reply(bid);
	if (fuse_reply_open(req, fi) != 0)
		file_free(ctx, f);
	fs_pt_set_reply(0);
}

static void op_create(fuse_req_t req, fuse_ino_t p, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *parent = inode_of(req, p);
	struct fuse_entry_param e;
	struct fs_file *f = NULL;
	int fd = -1;

	int rc = check_new_name(ctx, parent, name, S_IFREG);
	if (rc < 0)
		goto fail;
	/* The kernel saw the name missing, but a file made in SRC since is
	 * seen only here: O_EXCL must fail on it, as it would locally. */
	int fl = backing_flags(ctx, fi->flags) | O_CREAT | (fi->flags & O_EXCL);
	fd = backing_open(ctx, parent, name, fl & ~O_NOFOLLOW, mode, NULL);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	set_owner(ctx, req, parent, name);
	rc = entry_of(ctx, parent, name, fd, &e);
	if (rc < 0)
		goto fail;
	f = file_new(fd, inode_of(req, e.ino));
	if (!f) {
		fs_inode_forget(ctx->inodes, inode_of(req, e.ino), 1);
		rc = -ENOMEM;
		goto fail;
	}
	fs_inode_opened(ctx->inodes, f->ino, true);
	/* The kernel creates only names it saw missing: a file made behind
	 * the mount since, with metadata xattrs, is not worth a listxattr
	 * on every create. */
	fs_ev_meta_fresh(f->ino);
	track_writes(ctx, req, f, O_WRONLY, true);
	int bid = prepare_open(ctx, f, fi);
	fs_pt_set_reply(bid);
	if (fuse_reply_create(req, &e, fi) != 0)
		file_free(ctx, f);
	fs_pt_set_reply(0);
	return;
fail:
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, -rc);
}

static void op_read(fuse_req_t req, fuse_ino_t id, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	if (inode_of(req, id)->magic) {
		fs_magic_read(ctx_of(req), req, size, off, fi);
		return;
	}
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = file_of(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t id,
			 struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = file_of(fi)->fd;
	out.buf[0].pos = off;
	ssize_t n = fuse_buf_copy(&out, in, 0);
	if (n > 0)
		wrote(ctx_of(req), file_of(fi));
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* A Put is recorded at the flush of a handle that changed the file, once
 * per change, before close() returns.  One exception: a file that was
 * created (or truncated) and is still empty gets its Put at RELEASE,
 * because shells close a duplicate of a fresh descriptor before writing
 * (`echo x > f` would otherwise report an empty object first); `touch f`
 * still yields its Put, just after close() returns. */
static void op_flush(fuse_req_t req, fuse_ino_t id, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct fs_file *f = ino->magic ? NULL : file_of(fi);
	struct stat st;
	int rc = 0;
	if (!f || !f->writer)
		goto out;
	pthread_mutex_lock(&f->put_mu);
	bool put = fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_PUT) &&
		   fstat(f->fd, &st) == 0;
	/* Without a stat, any flush may follow a change. */
	bool changed = !put || file_changed(f, &st);
	/* Told before the Put below: its hashing must come after.  A flush
	 * after the first that changed nothing is not a change: it would
	 * cost a Put still being hashed its eTag (fs_etag_submit).  flushed
	 * is set before the inode stops counting the handle as a writer, so
	 * a write racing this flush either tells its change itself (wrote)
	 * or landed while the handle was still counted. */
	bool first = !atomic_exchange(&f->flushed, true);
	if (first || changed)
		fs_inode_changed(ctx->inodes, ino, first);
	if (put && changed && f->dirty && st.st_size == 0) {
		/* Stays dirty: its Put comes at RELEASE or a later flush,
		 * after close() returned; owed meanwhile. */
		if (!f->intent)
			rc = fs_ev_owe_put(ctx, f->uid, f->pid, f->comm, ino,
					   &f->intent);
		goto unlock;
	}
	if (!put)
		goto unlock;
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	/* A Put that could not be recorded (the state directory full)
	 * fails the close: the caller must not take the object as told.
	 * (Dropped under pressure with durability=none, EAGAIN, it does
	 * not: that mode is asynchronous.) */
	if (changed)
		rc = fs_ev_object_fd(ctx, fc->uid, fc->pid, NULL,
				     NTF_EV_OBJECT_CREATED_PUT, ino, NULL,
				     f->fd, &st, NULL, NTF_STORE_REFUSABLE);
	if (rc == -EAGAIN)
		rc = 0;
	if (rc < 0) {
		f->dirty = true; /* RELEASE tries once more */
		goto unlock;
	}
	if (changed && f->intent) {
		fs_ev_intent_done(ctx, f->intent);
		f->intent = 0;
	}
	f->dirty = false;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->racy = mtime_racy(ctx, &st);
	if (changed)
		told_put(ino, &st, f->racy);
unlock:
	pthread_mutex_unlock(&f->put_mu);
out:
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t id,
		       struct fuse_file_info *fi)
{
	if (inode_of(req, id)->magic) {
		fs_magic_release(ctx_of(req), req, fi);
		return;
	}
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_file *f = file_of(fi);
	/* Created and still empty at its flushes, or written since the last
	 * (through a shared mapping, without passthrough). */
	if (f->writer && (f->dirty || atomic_load(&f->written)))
		put_owed(ctx, f, NULL);
	file_free(ctx, f);
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t id, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	if (inode_of(req, id)->magic) {
		fs_magic_poll(ctx_of(req), req, fi, ph);
		return;
	}
	/* Regular files are always ready, as on a local file system. */
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLOUT);
}

static void op_fsync(fuse_req_t req, fuse_ino_t id, int datasync,
		     struct fuse_file_info *fi)
{
	if (inode_of(req, id)->magic) {
		fuse_reply_err(req, 0);
		return;
	}
	int fd = file_of(fi)->fd;
	int rc = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, rc ? errno : 0);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t id, int mode,
			 off_t off, off_t len, struct fuse_file_info *fi)
{
	if (inode_of(req, id)->magic) {
		fuse_reply_err(req, EPERM);
		return;
	}
	int rc = fallocate(file_of(fi)->fd, mode, off, len);
	int err = rc ? errno : 0;
	if (rc == 0)
		wrote(ctx_of(req), file_of(fi));
	fuse_reply_err(req, err);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t out,
			       off_t off_out, struct fuse_file_info *fi_out,
			       size_t len, int flags)
{
	if (inode_of(req, in)->magic || inode_of(req, out)->magic) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	ssize_t n = copy_file_range(file_of(fi_in)->fd, &off_in,
				    file_of(fi_out)->fd, &off_out, len,
				    (unsigned)flags);
	int err = errno;
	if (n > 0)
		wrote(ctx_of(req), file_of(fi_out));
	errno = err;
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_lseek(fuse_req_t req, fuse_ino_t id, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	if (inode_of(req, id)->magic) {
		fuse_reply_err(req, ESPIPE);
		return;
	}
	off_t r = lseek(file_of(fi)->fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* ---- directories --------------------------------------------------- */

static void dir_free(struct fs_ctx *ctx, struct fs_dir *d)
{
	if (!d)
		return;
	fs_handle_untrack(ctx, &d->h);
	if (d->dp)
		closedir(d->dp);
	for (size_t i = 0; i < d->nsnap; i++)
		free(d->snap[i].name);
	free(d->snap);
	free(d);
}

static void dir_teardown(struct fs_ctx *ctx, struct fs_handle *h)
{
	dir_free(ctx, (struct fs_dir *)h);
}

/* The root's listing: ".", "..", ".bucketfs", then the buckets, without
 * the state directory. */
static int snapshot_root(struct fs_ctx *ctx, struct fs_dir *d)
{
	size_t cap = 16;
	d->snap = calloc(cap, sizeof(*d->snap));
	if (!d->snap)
		return -ENOMEM;
	d->snap[d->nsnap++] = (struct fs_dirent){strdup(FS_MAGIC_DIR),
						 ctx->magic[0]->ino, DT_DIR};
	struct dirent *de;
	while ((errno = 0, de = readdir(d->dp))) {
		if (ctx->state_name && strcmp(de->d_name, ctx->state_name) == 0)
			continue;
		if (d->nsnap == cap) {
			struct fs_dirent *n = realloc(d->snap,
						      2 * cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			d->snap = n;
			cap *= 2;
		}
		d->snap[d->nsnap++] = (struct fs_dirent){
			strdup(de->d_name), de->d_ino, de->d_type};
	}
	for (size_t i = 0; i < d->nsnap; i++)
		if (!d->snap[i].name)
			return -ENOMEM;
	return errno ? -errno : 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t id,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	if (ino->magic) {
		fi->fh = 0;
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
		return;
	}
	struct fs_dir *d = calloc(1, sizeof(*d));
	int rc = d ? 0 : -ENOMEM;
	int fd = rc == 0 ? openat(ino->fd, ".", O_RDONLY | O_DIRECTORY |
						     O_CLOEXEC) : -1;
	if (rc == 0 && fd < 0)
		rc = -errno;
	if (rc == 0 && !(d->dp = fdopendir(fd))) {
		rc = -errno;
		close(fd);
	}
	if (rc == 0 && fs_inode_is_root(ino))
		rc = snapshot_root(ctx, d);
	if (rc < 0) {
		dir_free(ctx, d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fs_handle_track(ctx, &d->h, dir_teardown);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(ctx, d);
}

/* Next entry of an open directory; offsets are the backing d_off, or for
 * the root snapshot the position in it.  Returns 1, 0 at the end, or
 * -errno. */
static int dir_next(struct fs_dir *d, const char **name, ino_t *ino,
		    unsigned char *type, off_t *next)
{
	if (d->snap) {
		if ((size_t)d->offset >= d->nsnap)
			return 0;
		struct fs_dirent *e = &d->snap[d->offset];
		*name = e->name;
		*ino = e->ino;
		*type = e->type;
		*next = d->offset + 1;
		return 1;
	}
	if (!d->entry) {
		errno = 0;
		d->entry = readdir(d->dp);
		if (!d->entry)
			return errno ? -errno : 0;
	}
	*name = d->entry->d_name;
	*ino = d->entry->d_ino;
	*type = d->entry->d_type;
	*next = d->entry->d_off;
	return 1;
}

static void dir_seek(struct fs_dir *d, off_t off)
{
	if (off == d->offset)
		return;
	if (!d->snap)
		seekdir(d->dp, off);
	d->entry = NULL;
	d->offset = off;
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Add one entry to buf; returns its size (> room: did not fit) or
 * -errno. */
static ssize_t add_entry(fuse_req_t req, struct fs_inode *dir, char *buf,
			 size_t room, const char *name, ino_t dino,
			 unsigned char type, off_t next, bool plus)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr.st_ino = dino;
	e.attr.st_mode = (mode_t)type << 12;
	if (!plus)
		return (ssize_t)fuse_add_direntry(req, buf, room, name, &e.attr,
						  next);
	if (!is_dot(name)) {
		int rc = do_lookup(ctx, dir, name, &e);
		if (rc < 0)
			return rc;
	}
	size_t n = fuse_add_direntry_plus(req, buf, room, name, &e, next);
	struct fs_inode *ino = e.ino ? inode_of(req, e.ino) : NULL;
	if (n > room && ino && !ino->magic)
		fs_inode_forget(ctx->inodes, ino, 1); /* not sent after all */
	return (ssize_t)n;
}

static void do_readdir(fuse_req_t req, fuse_ino_t id, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs_inode *dir = inode_of(req, id);
	if (dir->magic) {
		fs_magic_readdir(ctx_of(req), req, size, off, plus);
		return;
	}
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	int rc = 0;
	dir_seek(d, off);
	for (;;) {
		const char *name = NULL;
		ino_t dino = 0;
		unsigned char type = 0;
		off_t next = 0;
		rc = dir_next(d, &name, &dino, &type, &next);
		if (rc <= 0)
			break;
		ssize_t n = add_entry(req, dir, buf + used, size - used, name,
				      dino, type, next, plus);
		if (n == -ENOENT) { /* vanished meanwhile: skip it */
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if ((size_t)n > size - used)
			break;
		used += (size_t)n;
		d->entry = NULL;
		d->offset = next;
	}
	if (rc < 0 && used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t id, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, id, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t id, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, id, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t id,
			  struct fuse_file_info *fi)
{
	dir_free(ctx_of(req), (struct fs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t id, int datasync,
			struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	int rc = 0;
	if (d && d->dp)
		rc = datasync ? fdatasync(dirfd(d->dp)) : fsync(dirfd(d->dp));
	fuse_reply_err(req, rc ? errno : 0);
}

/* ---- file system --------------------------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t id)
{
	struct fs_inode *ino = inode_of(req, id);
	if (ino->magic)
		ino = fs_inode_root(ctx_of(req)->inodes);
	struct statvfs sv;
	struct fs_at at;
	int rc = at_of(ctx_of(req), ino, &at);
	if (rc == 0 && fstatvfs(at.dirfd, &sv) != 0)
		rc = -errno;
	fs_at_done(&at);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t id, int mask)
{
	struct fs_inode *ino = inode_of(req, id);
	struct fs_at at;
	int rc = 0;
	if (ino->magic) {
		rc = (mask & W_OK) ? EACCES : 0;
	} else if ((rc = -at_of(ctx_of(req), ino, &at)) == 0) {
		if (faccessat(at.dirfd, at.name, mask,
			      at.name[0] ? 0 : AT_EMPTY_PATH) != 0)
			rc = errno;
		fs_at_done(&at);
	}
	fuse_reply_err(req, rc);
}

/* ---- extended attributes ------------------------------------------- */

static bool is_tag(const char *name)
{
	return strncmp(name, FS_EV_XATTR_TAG, strlen(FS_EV_XATTR_TAG)) == 0;
}

/* user.bucketfs.* are the daemon's own (the eTag cache): never shown. */
static bool is_private(const char *name)
{
	return strncmp(name, FS_XATTR_PRIVATE, strlen(FS_XATTR_PRIVATE)) == 0;
}

/* SELinux labels do not exist here: the kernel labels a FUSE mount as a
 * whole (genfscon), so a backing file's security.selinux would mean
 * nothing.  Saying so (EOPNOTSUPP, not ENODATA) matters: `ls -l` asks for
 * it once per file, a round trip each (half of its time on a bucket of
 * 10 000 files), but stops asking on a device that does not support it. */
#define XATTR_SELINUX "security.selinux"

static bool is_unsupported(const char *name)
{
	return strcmp(name, XATTR_SELINUX) == 0;
}

/* Remove private and unsupported names from a listxattr result in place;
 * returns the new length. */
static size_t drop_private(char *buf, size_t len)
{
	size_t out = 0;
	for (size_t i = 0; i < len;) {
		size_t n = strnlen(buf + i, len - i) + 1;
		if (!is_private(buf + i) && !is_unsupported(buf + i)) {
			memmove(buf + out, buf + i, n);
			out += n;
		}
		i += n;
	}
	return out;
}

static void reply_xattr(fuse_req_t req, size_t size, ssize_t n, char *buf)
{
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t id, const char *name,
			size_t size)
{
	struct fs_inode *ino = inode_of(req, id);
	if (fs_ev_getxattr(ctx_of(req), req, ino, name, size))
		return;
	if (is_private(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (is_unsupported(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fs_select_getxattr(ctx_of(req), req, ino, name, size))
		return;
	if (ino->magic) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct fs_at at;
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = -1;
	int rc = S_ISLNK(ino->type) ? -ENODATA : at_of(ctx_of(req), ino, &at);
	if (rc == 0) {
		n = fs_at_getxattr(&at, name, buf, size);
		fs_at_done(&at);
	} else {
		errno = -rc;
	}
	reply_xattr(req, size, n, buf);
	free(buf);
}

/* The backing list is read whole (it holds the daemon's private names,
 * which are dropped before the caller sees the list or its size). */
static ssize_t list_visible(struct fs_at *at, char **out)
{
	*out = NULL;
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = fs_at_listxattr(at, NULL, 0);
		if (n <= 0)
			return n;
		char *buf = malloc((size_t)n);
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		ssize_t m = fs_at_listxattr(at, buf, (size_t)n);
		if (m >= 0) {
			*out = buf;
			return (ssize_t)drop_private(buf, (size_t)m);
		}
		free(buf);
		if (errno != ERANGE) /* ERANGE: it grew meanwhile, again */
			return -1;
	}
	errno = ERANGE;
	return -1;
}

static void op_listxattr(fuse_req_t req, fuse_ino_t id, size_t size)
{
	struct fs_inode *ino = inode_of(req, id);
	struct fs_at at;
	char *buf = NULL;
	ssize_t n = 0;
	if (!ino->magic && !S_ISLNK(ino->type)) {
		int rc = at_of(ctx_of(req), ino, &at);
		n = rc == 0 ? list_visible(&at, &buf) : (errno = -rc, -1);
		fs_at_done(&at);
	}
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if ((size_t)n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* The eTag cache must never cost the user xattr space.  Once it is gone,
 * ext4 may still hold the user's other xattrs outside the inode, where the
 * cache pushed them; writing them again lets it lay them out as it would
 * have without the cache, and then the new one is set.  Returns 0 or an
 * errno; after a failure part way the xattrs moved so far are back, each
 * with its value, and the others were never touched. */
static int make_room(struct fs_at *p, const char *name, const char *value,
		     size_t size, int flags)
{
	if (fs_at_setxattr(p, name, value, size, flags) == 0)
		return 0;
	if (errno != ENOSPC && errno != E2BIG)
		return errno;
	char *names = NULL, *v = NULL;
	size_t *lens = NULL, done = 0;
	struct cmn_buf vals;
	cmn_buf_init(&vals, 1 << 20);
	ssize_t n = list_visible(p, &names);
	int rc = n < 0 ? errno : 0;
	if (rc)
		goto out;
	/* Every name takes two bytes of the list at least; all is allocated
	 * before anything is removed. */
	lens = malloc(((size_t)n / 2 + 1) * sizeof(*lens));
	v = malloc(XATTR_SIZE_MAX);
	if (!lens || !v) {
		rc = ENOMEM;
		goto out;
	}
	/* Save and remove the user's other xattrs in list order.  The first
	 * failure ends it: the first `done` names are the ones to put back
	 * (lens[k], or SIZE_MAX for those left alone), the rest were never
	 * touched.  A value saved but not removed is the last in vals, where
	 * no offset reaches. */
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
		const char *nm = names + i;
		ssize_t vl = strncmp(nm, "user.", 5) || !strcmp(nm, name) ? -1 :
			     fs_at_getxattr(p, nm, v, XATTR_SIZE_MAX);
		if (vl >= 0) {
			rc = -cmn_buf_add(&vals, v, (size_t)vl);
			if (rc == 0 && fs_at_removexattr(p, nm) != 0)
				rc = errno;
			if (rc)
				break;
		}
		lens[done++] = vl < 0 ? SIZE_MAX : (size_t)vl;
	}
	/* Put each one back with its own value, even after a failure. */
	for (size_t i = 0, k = 0, off = 0; k < done;
	     i += strlen(names + i) + 1, k++) {
		if (lens[k] == SIZE_MAX)
			continue;
		if (fs_at_setxattr(p, names + i, vals.data + off, lens[k], 0) &&
		    rc == 0)
			rc = errno;
		off += lens[k];
	}
	if (rc == 0 && fs_at_setxattr(p, name, value, size, flags) != 0)
		rc = errno;
out:
	free(v);
	free(lens);
	free(names);
	cmn_buf_free(&vals);
	return rc;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t id, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct fs_at at;
	int rc = 0;
	if (ino->magic || is_private(name))
		rc = EPERM;
	else if (is_unsupported(name))
		rc = EOPNOTSUPP;
	else if (S_ISLNK(ino->type))
		rc = EPERM;
	else if (fs_ev_setxattr(ctx, req, ino, name, value, size, flags))
		return;
	else if (is_tag(name) && !S_ISDIR(ino->type))
		rc = -fs_ev_owed_room(ctx, NTF_EV_OBJECT_TAGGING_PUT);
	if (rc == 0 && (rc = -at_of(ctx, ino, &at)) == 0) {
		if (fs_at_setxattr(&at, name, value, size, flags) != 0)
			rc = errno;
		if ((rc == ENOSPC || rc == E2BIG) &&
		    fs_at_removexattr(&at, FS_EV_XATTR_ETAG) == 0)
			rc = make_room(&at, name, value, size, flags);
		/* After: a listing that began before records nothing. */
		fs_ev_meta_changed(ino);
		fs_at_done(&at);
	}
	if (rc == 0 && is_tag(name) && !S_ISDIR(ino->type))
		fs_ev_object(ctx, req, NTF_EV_OBJECT_TAGGING_PUT, ino, NULL,
			     NULL, NULL);
	fuse_reply_err(req, rc);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t id, const char *name)
{
	struct fs_ctx *ctx = ctx_of(req);
	struct fs_inode *ino = inode_of(req, id);
	struct fs_at at;
	int rc = 0;
	if (ino->magic || is_private(name))
		rc = EPERM;
	else if (is_unsupported(name))
		rc = EOPNOTSUPP;
	else if (S_ISLNK(ino->type))
		rc = ENODATA;
	else if (fs_ev_removexattr(ctx, req, ino, name))
		return;
	else if (is_tag(name) && !S_ISDIR(ino->type))
		rc = -fs_ev_owed_room(ctx, NTF_EV_OBJECT_TAGGING_DELETE);
	if (rc == 0 && (rc = -at_of(ctx, ino, &at)) == 0) {
		if (fs_at_removexattr(&at, name) != 0)
			rc = errno;
		fs_ev_meta_changed(ino);
		fs_at_done(&at);
	}
	if (rc == 0 && is_tag(name) && !S_ISDIR(ino->type))
		fs_ev_object(ctx, req, NTF_EV_OBJECT_TAGGING_DELETE, ino, NULL,
			     NULL, NULL);
	fuse_reply_err(req, rc);
}

/* ---- session ------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *ctx = userdata;
	bool pt = fs_pt_negotiate(&ctx->pt);
	if (!pt && ctx->pt.mode == FS_PT_ON) {
		cmn_err("passthrough=on, but the kernel did not offer FUSE "
			"passthrough: unmounting");
		fuse_session_exit(ctx->se);
	}

	if (!pt && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		ctx->writeback = true;
	}
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* With allow_other the kernel checks permissions for the callers
	 * (default_permissions, fs_opts.c): it then enforces the POSIX ACLs
	 * of the backing files and caches them per inode, so `ls -l` asks
	 * for system.posix_acl_access once per file, not on every listing.
	 * It also turns default_permissions on, which a single-user mount
	 * does without (see fs_opts.c); there the backing file system
	 * enforces ACLs on the daemon's own calls. */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && ctx->opts->allow_other)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* Locks are kept by the kernel for the mount (flock and POSIX),
	 * which is what programs sharing files through it expect. */
	conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
	/* Splice gains nothing here and costs pipe setup per request. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE);
	cmn_info("mounted %s on %s (passthrough %s, writeback cache %s)",
		 ctx->opts->src, ctx->opts->mnt, pt ? "on" : "off",
		 ctx->writeback ? "on" : "off");
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.lseek = op_lseek,
	.poll = op_poll,
};
