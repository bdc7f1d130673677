/*
 * fs_select.h - `.select` files: S3 Select through the mount.
 *
 * A regular file in a bucket whose name ends in ".select" holds a query
 * (with optional "-- source:", "-- input:", "-- output:", "-- scan-range:"
 * header lines).  Opened for writing it is just that text.  Opened for
 * reading it yields the query's result over its source (by default the
 * file's own name without ".select"), computed at open into an unlinked
 * file in the state directory, so memory stays bounded; a result is
 * reused until the query or the source changes.  A failing query makes
 * the open fail (EINVAL bad query, ENOENT missing source, EIO otherwise)
 * and `user.select.error` says why; `user.select.query` returns the query.
 */
#ifndef FS_SELECT_H
#define FS_SELECT_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdbool.h>

struct fs_ctx;
struct fs_inode;

#define FS_SELECT_SUFFIX     ".select"
#define FS_SELECT_XATTR_ERR  "user.select.error"
#define FS_SELECT_XATTR_QRY  "user.select.query"

/* Set up / free the result cache. */
int fs_select_init(struct fs_ctx *ctx);
void fs_select_free(struct fs_ctx *ctx);

/* The inode table's classifier (fs_inode_classify_fn): FS_SELECT_CLASS
 * for a name inside a bucket that ends in FS_SELECT_SUFFIX. */
#define FS_SELECT_CLASS 1u
unsigned fs_select_classify(const char *name, bool in_bucket);

/* True for a regular file inside a bucket named *.select.  Lock-free: it
 * is asked on every open. */
bool fs_select_is(struct fs_ctx *ctx, struct fs_inode *ino);

/* Open the result of the .select file ino for reading, for the caller of
 * req: returns a new fd positioned at 0 (caller closes) or -errno
 * (EINVAL, ENOENT, EIO; EACCES when the caller may not read the source,
 * a regular file resolved beneath the bucket), with the error recorded
 * for user.select.error.  Blocks while the query runs. */
int fs_select_open(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino);

/* When the .select file whose attributes are *st has a result computed
 * for its current query and source, and the caller of req may read that
 * source: put the result's size (and blocks) into *st and return true.
 * So `stat` after an open shows what a read returns. */
bool fs_select_result_size(struct fs_ctx *ctx, fuse_req_t req,
			   const struct stat *qst, struct stat *st);

/* Answer getxattr of user.select.error / user.select.query on a .select
 * file; returns false when name is not one of them. */
bool fs_select_getxattr(struct fs_ctx *ctx, fuse_req_t req,
			struct fs_inode *ino, const char *name, size_t size);

#endif
