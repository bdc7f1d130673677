/*
 * fs_pt.h - FUSE passthrough on libfuse 3.14.
 *
 * With passthrough the kernel sends reads and writes of a regular file
 * straight to the backing file: they never reach the daemon.  libfuse 3.14
 * has no API for it, but it lets a daemon supply its own /dev/fuse I/O
 * (fuse_session_custom_io).  This module is that I/O: it watches the INIT
 * request for the kernel's offer, patches the INIT reply to accept it, and
 * patches an open/create reply with the backing id its handler registered
 * just before replying (replies go out synchronously on the handler's
 * thread, so a thread-local is enough).  Kernel ABI: 7.40 (Linux 6.9).
 *
 * The same hook sets FUSE_HANDLE_KILLPRIV_V2, which 3.14 cannot ask for
 * either.  Without it the kernel asks the daemon for security.capability
 * before every write(2) -- even a passthrough write -- to learn whether
 * privileges must be dropped; with it the kernel marks an inode that has
 * none (S_NOSEC) after the first check, and the daemon drops set-id bits
 * itself (fs_ops.c: at an unprivileged open for writing or truncate).
 */
#ifndef FS_PT_H
#define FS_PT_H

#include <stdbool.h>

#include "fs_recv.h"

struct fuse_session;

enum fs_pt_mode { FS_PT_AUTO, FS_PT_ON, FS_PT_OFF };

struct fs_pt {
	enum fs_pt_mode mode;
	int devfd;            /* /dev/fuse of the session */
	bool kernel_offers;   /* INIT request carried FUSE_PASSTHROUGH */
	bool kernel_killpriv; /* ... and FUSE_HANDLE_KILLPRIV_V2 */
	bool active;          /* negotiated: opens may pass through */
	bool killpriv;        /* negotiated: the daemon drops set-id bits */
	bool init_seen;
	bool init_patched;
	struct fs_recv recv;  /* how requests are read (see fs_recv.h) */
};

/* True if this process may use passthrough (CAP_SYS_ADMIN effective). */
bool fs_pt_privileged(void);

/* Install the custom I/O on a mounted session (whatever the mode: it
 * also carries the KILLPRIV_V2 flag, and reads requests through
 * fs_recv with up to spin_us of polling).  The session's userdata
 * must point at pt (struct fs_ctx starts with it).  Returns 0 or -errno. */
int fs_pt_install(struct fs_pt *pt, struct fuse_session *se,
		  unsigned spin_us);

/* Release what fs_pt_install set up (after the session is destroyed);
 * nothing if it was not installed. */
void fs_pt_fini(struct fs_pt *pt);

/* Decide at INIT (called from the init op, before libfuse replies):
 * returns true when passthrough will be negotiated, in which case the
 * caller must not ask for the writeback cache. */
bool fs_pt_negotiate(struct fs_pt *pt);

/* Register fd (an open backing file) with the kernel; returns the backing
 * id (> 0) or -errno. */
int fs_pt_backing_open(struct fs_pt *pt, int fd);

/* Unregister a backing id. */
void fs_pt_backing_close(struct fs_pt *pt, int id);

/* Make the next open/create reply sent by this thread pass through with
 * backing id `id` (0 cancels). */
void fs_pt_set_reply(int id);

#endif
