/*
 * fs_handle.h - the daemon's list of open handles.
 *
 * When the session ends (unmount, SIGTERM) the kernel sends no RELEASE for
 * files still open, so every handle the daemon hands out (files,
 * directories, control files) is on one list, and the teardown closes what
 * is left — after recording the Put a still-open, changed file owes.
 */
#ifndef FS_HANDLE_H
#define FS_HANDLE_H

struct fs_ctx;

struct fs_handle {
	struct fs_handle *prev, *next; /* NULL while not on the list */
	/* Close and free the handle at teardown (the list lock is not held). */
	void (*close)(struct fs_ctx *ctx, struct fs_handle *h);
};

/* Put h on ctx's list.  Any thread. */
void fs_handle_track(struct fs_ctx *ctx, struct fs_handle *h,
		     void (*close)(struct fs_ctx *, struct fs_handle *));

/* Take h off the list (no-op when it is not on it).  Any thread. */
void fs_handle_untrack(struct fs_ctx *ctx, struct fs_handle *h);

/* Close every handle still open; called once the session loop ended. */
void fs_handle_close_all(struct fs_ctx *ctx);

#endif
