/*
 * fs_etag.h - eTags (MD5 of the content) computed off the FUSE threads.
 *
 * With passthrough the daemon never sees file data, and a close() must
 * not wait for hashing, so an object event whose eTag is not cached is
 * recorded as pending (ntf_pipeline_emit_pending) and handed here: one
 * thread hashes the file, remembers the result keyed by inode, size and
 * mtime (in memory for the files hashed lately, with the ctime too; in
 * the `user.bucketfs.etag` xattr too for files of FS_ETAG_CACHE_MIN bytes
 * or more, which survives a restart), and finalises the records, which
 * only then become visible to readers and delivery.  A Put never takes a
 * remembered eTag (fs_ev.c): size and mtime can be the old content's.
 * Pending records left by a crash are hashed again at the next mount.
 */
#ifndef FS_ETAG_H
#define FS_ETAG_H

#include <stdbool.h>
#include <sys/stat.h>

struct cmn_buf;
struct fs_ctx;
struct fs_at;
struct fs_inode;
struct ntf_pending;

/* Smaller files are hashed again when an eTag is needed instead of
 * caching it: on a journaled ext4 the fsetxattr cost half the hasher's
 * time per small file (about 20 us, the time MD5 takes over 12 KiB), and
 * it bumps the file's ctime after close(). */
#define FS_ETAG_CACHE_MIN (16 * 1024)

/* Start the hasher thread and queue the pending records of an earlier
 * run.  Returns 0 or -errno. */
int fs_etag_start(struct fs_ctx *ctx);

/* Hash what is queued, then stop the thread.  (Records whose job was lost
 * with a crash stay pending in the store until the next mount.) */
void fs_etag_stop(struct fs_ctx *ctx);

/* Hash bucket/key (relative to SRC) and finalise pd.  Takes ownership
 * of pd.  Never blocks on I/O: the job is queued.
 *
 * fd, when >= 0, is the object open (not taken).  The job keeps a
 * duplicate and reads that rather than the path when it was opened
 * readable and O_NOATIME (a descriptor that serves none of the user's
 * I/O: passthrough, see fs_ops.c) and not too many queued jobs hold one
 * (ETAG_FD_MAX in fs_etag.c); a rename or unlink before its turn then
 * does not cost the record its eTag.
 *
 * With st (the object as the event saw it), an object that is no longer
 * that one (another inode or size: replaced or written since, or changed
 * through the mount since: fs_inode.h, "Changes") gets no eTag rather
 * than the MD5 of content the event was not about; so does one written
 * while it is being read (size or mtime changed), whether or not st was
 * given.  mtime is not compared with st: with the writeback
 * cache the kernel sets it after close().  obj is the object's inode when
 * the caller has it (else the table is asked).  fresh: the event is new
 * content (a Put), which no remembered eTag may answer: the xattr cache is
 * keyed by size and mtime, which a rewrite may keep. */
void fs_etag_submit(struct fs_ctx *ctx, const char *bucket, const char *key,
		    int fd, const struct stat *st, struct fs_inode *obj,
		    bool fresh, struct ntf_pending *pd);

/* Append the hasher's metrics (Prometheus text: the queue, the
 * descriptors it holds, jobs done) to out.  Returns 0 or -ENOMEM. */
int fs_etag_render_metrics(struct fs_ctx *ctx, struct cmn_buf *out);

/* The cached eTag of a file when it was computed for st's size and mtime
 * (and, in memory, ctime): from the hasher's memory of recent eTags (ctx
 * may be NULL: not asked), then, for files of FS_ETAG_CACHE_MIN bytes or
 * more, from the xattr.  Neither while the file has a writer through the
 * mount, and the memory only when it has not changed through the mount
 * since it was hashed (fs_inode.h, "Changes"): obj is its inode when the
 * caller has it, else the table finds it by st.
 * The file is fd when that is >= 0 (an fd open for reading or writing:
 * fgetxattr is far cheaper than a path), else at; with neither only the
 * memory is asked. */
bool fs_etag_cached(struct fs_ctx *ctx, struct fs_inode *obj,
		    struct fs_at *at, int fd, const struct stat *st,
		    char out[33]);

/* Start loading what fs_etag_cached will look at first for the file
 * (dev, ino), for a caller with a syscall to make before asking: the
 * lookup is a cache miss, 2-3% of a GET's time in the daemon. */
void fs_etag_prefetch(struct fs_ctx *ctx, dev_t dev, ino_t ino);

#endif
