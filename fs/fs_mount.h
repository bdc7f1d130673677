/*
 * fs_mount.h - run one mount: from parsed options to a clean unmount.
 */
#ifndef FS_MOUNT_H
#define FS_MOUNT_H

struct fs_opts;

/* Mount opts->src on opts->mnt and serve requests until unmounted or
 * signalled (SIGINT, SIGTERM, SIGHUP reloads later).  Returns the process
 * exit status: 0 after a clean unmount, 1 on failure (logged). */
int fs_mount_run(const struct fs_opts *opts);

#endif
