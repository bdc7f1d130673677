/*
 * fs_opts.h - the mount command line.
 *
 *   bucketfs SRC MNT [-f] [-d] [-s] [-o opt[,opt...]]
 *
 * also in the form mount.fuse3 uses for `bucketfs#SRC MNT fuse OPTS` in
 * /etc/fstab and for `mount -t fuse.bucketfs SRC MNT -o OPTS`.  bucketfs's
 * own options are taken out; the generic mount options libfuse knows are
 * passed on to it; fstab-only words (defaults, auto, _netdev, …) are
 * dropped; anything else is an error naming the option.
 */
#ifndef FS_OPTS_H
#define FS_OPTS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "fs_pt.h"
#include "ntf_store.h"

struct fs_opts {
	char *src;          /* owned, absolute */
	char *mnt;          /* owned, absolute */
	char *state;        /* owned, absolute state directory */
	bool foreground;
	bool debug;
	bool single_thread;
	bool nonempty;
	bool read_only;
	/* allow_other: users other than the daemon's reach the mount, so the
	 * kernel checks permissions (default_permissions, POSIX ACLs). */
	bool allow_other;
	enum fs_pt_mode passthrough;
	unsigned spin_us;   /* spin=USEC: polling before workers sleep */
	enum ntf_durability durability; /* durability=commit|fsync|none */
	uint64_t log_max_events;    /* log_max_events=N; 0: unlimited */
	int64_t log_max_age_ms;     /* log_max_age=DURATION; 0: unlimited */
	char *region;               /* owned; region=NAME (us-east-1) */
	char *config;               /* owned, absolute; config=FILE or NULL */
	bool insecure_config;       /* insecure_config: warn, not refuse */
	struct fuse_args fuse_args; /* what is passed on to libfuse */
};

enum fs_opts_result {
	FS_OPTS_OK = 0,
	FS_OPTS_HELP,       /* --help printed: exit 0 */
	FS_OPTS_VERSION,    /* --version printed: exit 0 */
	FS_OPTS_ERROR,      /* err holds the message: exit 2 */
};

/* Parse argv into o (zeroed by the caller).  Does not touch the file
 * system except to make SRC and MNT absolute.  On FS_OPTS_ERROR err holds
 * a one-line message.  Free with fs_opts_free in every case. */
enum fs_opts_result fs_opts_parse(int argc, char **argv, struct fs_opts *o,
				  char *err, size_t errlen);

/* Check what the mount needs before mounting: SRC a directory, MNT an
 * empty directory (unless nonempty), /dev/fuse usable.  Returns 0 or
 * -errno with err set. */
int fs_opts_check(const struct fs_opts *o, char *err, size_t errlen);

/* Print the option reference (the README's table) to f. */
void fs_opts_usage(void *f);

void fs_opts_free(struct fs_opts *o);

#endif
