/*
 * fs_ev.h - file operations become S3 events (DESIGN.md §3).
 *
 * The op handlers in fs_ops.c call these at the moment the event table
 * says; each first asks the pipeline whether anyone wants the event (one
 * bit test) and builds nothing when not.  This module also owns the
 * `user.s3.notification` xattrs: loading them at mount, validating them on
 * setxattr, and the `.error` xattr that explains a refusal.
 */
#ifndef FS_EV_H
#define FS_EV_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <sys/stat.h>

#include "ntf_event.h"

struct fs_ctx;
struct fs_inode;

#define FS_EV_XATTR_RULES "user.s3.notification"
#define FS_EV_XATTR_ERROR "user.s3.notification.error"
#define FS_EV_XATTR_TAG   "user.s3.tag."
#define FS_EV_XATTR_META  "user.s3.meta."
#define FS_XATTR_PRIVATE  "user.bucketfs."
#define FS_EV_XATTR_ETAG  "user.bucketfs.etag"

/* Open the event pipeline in the state directory and load the rules
 * stored on the root and on every bucket.  Returns 0 or -errno (logged). */
int fs_ev_start(struct fs_ctx *ctx);

/* Drain and close the pipeline. */
void fs_ev_stop(struct fs_ctx *ctx);

/* True when someone wants events called ev (cheap; see ntf_pipeline). */
bool fs_ev_wants(struct fs_ctx *ctx, enum ntf_event_name ev);

/* Emit ev for the object `child` of directory `dir` (child NULL: the
 * object `dir` itself).  st: its attributes when the caller has them,
 * else NULL (looked up when the record needs a size).  copy_source:
 * "bucket/key" for Copy events.  Objects only: nothing happens for the
 * root, a bucket directory itself or control nodes. */
void fs_ev_object(struct fs_ctx *ctx, fuse_req_t req, enum ntf_event_name ev,
		  struct fs_inode *dir, const char *child,
		  const struct stat *st, const char *copy_source);

/* The same for a caller identified explicitly (RELEASE carries no pid,
 * and its opener may be gone): comm NULL looks the command name up. */
void fs_ev_object_as(struct fs_ctx *ctx, uid_t uid, pid_t pid,
		     const char *comm, enum ntf_event_name ev,
		     struct fs_inode *dir, const char *child,
		     const struct stat *st, const char *copy_source);

/* The same for the object dir (child NULL) open as openfd (for reading
 * or writing, not O_PATH; -1: none), which the xattrs are read through.
 * flags: NTF_STORE_REFUSABLE when the caller fails its operation if the
 * event cannot be recorded (a Put at close()), 0 for an operation already
 * done (ntf_pipeline_emit_ex).  Returns 0, or -errno when the event was
 * matched but could not be recorded (or, stored, not synced as the
 * durability asks). */
int fs_ev_object_fd(struct fs_ctx *ctx, uid_t uid, pid_t pid,
		    const char *comm, enum ntf_event_name ev,
		    struct fs_inode *dir, const char *child, int openfd,
		    const struct stat *st, const char *copy_source,
		    unsigned flags);

/* May an operation whose events cannot fail once it is done (an unlink, a
 * rename, ...: fs_ev_object and the rest) go ahead, when it would emit ev?
 * 0, or -ENOSPC: the state directory is full, fail it before it happens
 * (ntf_pipeline_owed_room). */
int fs_ev_owed_room(struct fs_ctx *ctx, enum ntf_event_name ev);

/* A link(2) through the mount made dir/name another name of the file st,
 * whose key was source (NULL: not known): a Put of the file is told for
 * each (fs_links.h). */
void fs_ev_linked(struct fs_ctx *ctx, const struct stat *st,
		  const char *source, struct fs_inode *dir, const char *name);

/* The file ino is still empty at a flush: its Put is told at RELEASE
 * (shells close a duplicate before writing), after close() returned.
 * Record that it is owed, so that a crash before then does not lose it;
 * *id (0: nothing was needed) goes to fs_ev_intent_done() once the Put
 * is told or no longer owed.  Returns 0, or -errno when the intent could
 * not be recorded (the close must fail, as for a Put). */
int fs_ev_owe_put(struct fs_ctx *ctx, uid_t uid, pid_t pid, const char *comm,
		  struct fs_inode *ino, uint64_t *id);

/* See fs_ev_owe_put (id 0: nothing to do). */
void fs_ev_intent_done(struct fs_ctx *ctx, uint64_t id);

/* At start, once the hasher runs: tell the events whose intents a crash
 * left undone (the owed Puts of empty files, the rest of a directory
 * rename's pairs), at least once. */
void fs_ev_recover_intents(struct fs_ctx *ctx);

/* ino was created through the mount (op_create): it has no
 * user.s3.meta.* xattr until one is set through the mount. */
void fs_ev_meta_fresh(struct fs_inode *ino);

/* An xattr of ino was set or removed through the mount (call it after
 * the syscall): forget that it had no user.s3.meta.* xattr. */
void fs_ev_meta_changed(struct fs_inode *ino);

/* The command name of pid (cached), "" when unknown. */
void fs_ev_comm(struct fs_ctx *ctx, pid_t pid, char out[17]);

/* The rules of bucket as its directory's xattr holds them now: after a
 * rename that made the directory at that name another one (or none), the
 * rules follow the directories, as a remount would find them. */
void fs_ev_bucket_rules_reload(struct fs_ctx *ctx, const char *bucket);

/* Emit a bucket event (BucketCreated/BucketRemoved) for `bucket`. */
void fs_ev_bucket(struct fs_ctx *ctx, fuse_req_t req, enum ntf_event_name ev,
		  const char *bucket);

/* A rename through the mount is about to happen: for what moves (each
 * side of an exchange), record that its pairs are owed (a file's own, a
 * directory's for every object below it), with its identity, so that a
 * crash anywhere from the rename to the last pair told leaves them to the
 * next daemon.  ids[0] is for what moves to newname, ids[1] for what an
 * exchange moves to oldname (0: none); pass each to fs_ev_renamed(), or,
 * when the rename fails, to fs_ev_intent_done().  Returns 0, or -errno
 * (-ENOSPC: the state directory is full, see fs_ev_owed_room) when the
 * rename must not happen: its events could not be told (ids are 0). */
int fs_ev_rename_owe(struct fs_ctx *ctx, fuse_req_t req,
		     struct fs_inode *olddir, const char *oldname,
		     struct fs_inode *newdir, const char *newname,
		     unsigned int flags, uint64_t ids[2]);

/* A rename through the mount has happened: emit Copy + Delete for every
 * object it moved (one, or all below a directory), then mark intent (from
 * fs_ev_rename_owe) done. */
void fs_ev_renamed(struct fs_ctx *ctx, fuse_req_t req,
		   struct fs_inode *olddir, const char *oldname,
		   struct fs_inode *newdir, const char *newname,
		   unsigned int flags, uint64_t intent);

/* "bucket/key" of child in dir (or of dir), into a malloc'ed string the
 * caller frees; NULL when it is not an object or on error. */
char *fs_ev_key_of(struct fs_ctx *ctx, struct fs_inode *dir,
		   const char *child);

/* xattr hooks: return true when name is handled here (the request has
 * then been answered), false to pass it through to the backing file. */
bool fs_ev_setxattr(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		    const char *name, const char *value, size_t size,
		    int flags);
bool fs_ev_getxattr(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		    const char *name, size_t size);
bool fs_ev_removexattr(struct fs_ctx *ctx, fuse_req_t req,
		       struct fs_inode *ino, const char *name);

#endif
