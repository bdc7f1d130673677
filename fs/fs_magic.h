/*
 * fs_magic.h - the read-only control directory `.bucketfs/` at the mount
 * root and its files.
 *
 * A control file is a row in one table: its name and a function that
 * renders its content.  Content is rendered when the file is opened (a
 * snapshot the reader can read at its own pace, with direct I/O so the
 * size reported by stat does not matter).  Adding a file is one row.
 *
 * `events` is the one stream: each open is a live reader of the event
 * pipeline's ring, reads block until the next record (a FUSE thread waits
 * in the ring; FUSE_INTERRUPT wakes it), and poll/select work through
 * fuse_lowlevel_notify_poll.
 */
#ifndef FS_MAGIC_H
#define FS_MAGIC_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdbool.h>

struct fs_ctx;
struct fs_inode;
struct cmn_buf;

struct fs_magic {
	const char *name;
	mode_t mode;      /* S_IFDIR | 0555 or S_IFREG | 0444 */
	bool stream;      /* the live event stream instead of a snapshot */
	/* Render the file's content into out (which is empty).  Returns 0 or
	 * -errno.  Called on a FUSE thread at open; must not block long. */
	int (*render)(struct fs_ctx *ctx, struct cmn_buf *out);
};

/* Create the control nodes in ctx->magic.  Returns 0 or -errno. */
int fs_magic_init(struct fs_ctx *ctx);

/* Free what fs_magic_init made. */
void fs_magic_free(struct fs_ctx *ctx);

/* The control node called name inside parent, or NULL when there is none
 * (parent is not the root or .bucketfs, or name is not a control name). */
struct fs_inode *fs_magic_lookup(struct fs_ctx *ctx, struct fs_inode *parent,
				 const char *name);

/* Attributes of a control node. */
void fs_magic_stat(struct fs_ctx *ctx, const struct fs_inode *ino,
		   struct stat *st);

/* Fill a lookup reply for a control node. */
void fs_magic_entry(struct fs_ctx *ctx, struct fs_inode *ino,
		    struct fuse_entry_param *e);

/* Request handlers for control nodes (ino->magic != NULL); each replies. */
void fs_magic_open(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		   struct fuse_file_info *fi);
void fs_magic_read(struct fs_ctx *ctx, fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_magic_release(struct fs_ctx *ctx, fuse_req_t req,
		      struct fuse_file_info *fi);
void fs_magic_poll(struct fs_ctx *ctx, fuse_req_t req,
		   struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void fs_magic_readdir(struct fs_ctx *ctx, fuse_req_t req, size_t size,
		      off_t off, bool plus);

#endif
