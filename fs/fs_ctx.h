/*
 * fs_ctx.h - the daemon's one context struct.
 *
 * Everything a running mount owns hangs off struct fs_ctx: options, the
 * inode table, the passthrough state, the control directory.  No other
 * mutable global state exists (the logger's level is set once at start).
 * Internal to fs/: the FUSE op handlers (fs_ops.c), the control files
 * (fs_magic.c) and the mount driver (fs_mount.c) share it.
 */
#ifndef FS_CTX_H
#define FS_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <pthread.h>

#include "fs_handle.h"
#include "fs_pt.h"

struct fs_opts;
struct fs_inode;
struct fs_inode_table;
struct fuse_session;
struct fuse_lowlevel_ops;
struct ntf_pipeline;
struct fs_ev_state;
struct ntf_dlctl;
struct fs_etag;
struct fs_select;

#define FS_MAGIC_DIR   ".bucketfs"
#define FS_MAGIC_COUNT 8

struct fs_ctx {
	struct fs_pt pt;             /* first: custom I/O callbacks get ctx */
	const struct fs_opts *opts;  /* borrowed */
	struct fuse_session *se;
	struct fs_inode_table *inodes;
	double timeout;              /* entry/attr cache timeout, seconds */
	bool writeback;              /* writeback cache negotiated */
	/* How long after a change another write may leave a file's mtime as
	 * it is on SRC's file system (ns; 0: never), see fs_mount.c
	 * probe_mtime_window. */
	long long mtime_window_ns;
	bool is_root;                /* daemon runs as root: chown creations */
	struct timespec started;     /* mount time: times of control nodes */
	pthread_mutex_t handles_lock;
	struct fs_handle handles;    /* open handles (list head) */
	/* The state directory, when it lives directly in SRC: hidden. */
	char *state_name;            /* owned; NULL when not at the root */
	struct ntf_pipeline *pipeline; /* events: rules, store, live ring */
	struct fs_ev_state *ev;      /* fs_ev.c's own state */
	/* What opening the store replayed from its journal: the first open
	 * (the check before mounting) does it, the metrics tell it. */
	uint64_t ev_replayed, ev_damaged;
	struct ntf_dlctl *dlctl;     /* delivery targets (fs_mount.c) */
	bool dlv_global;             /* tgt_registry_init done */
	struct fs_etag *etag;        /* the eTag hasher thread */
	struct fs_select *select;    /* .select result cache */
	/* Control directory nodes: [0] is .bucketfs itself. */
	struct fs_inode *magic[FS_MAGIC_COUNT];
	unsigned n_magic;
};

/* The FUSE low-level operations of bucketfs (fs_ops.c). */
extern const struct fuse_lowlevel_ops fs_ops;

#endif
