/*
 * fs_links.h - the names a hard-linked file is known by.
 *
 * The kernel names no path when a file changes: a FLUSH comes for an
 * inode, which the daemon knows by the name it last saw (fs_inode.h).  A
 * file with several names is one object per name in S3 terms, and a change
 * through any of them changes all.  Links made through the mount
 * (link(2)) are remembered here per file, so that a Put is told for each
 * name (fs_ev.c).  The set is a hint: names may have gone since (the
 * caller checks each against the file and forgets those that do not name
 * it any more), names made behind the mount are not in it, and it holds at
 * most FS_LINKS_FILES files of FS_LINKS_NAMES names each (more are not
 * remembered).
 */
#ifndef FS_LINKS_H
#define FS_LINKS_H

#include <stdbool.h>
#include <sys/stat.h>

#define FS_LINKS_FILES 65536
#define FS_LINKS_NAMES 16

struct fs_links;

/* An empty set, or NULL without memory. */
struct fs_links *fs_links_new(void);
void fs_links_free(struct fs_links *l);

/* Is any name of st known?  Without a single link through the mount this
 * is one atomic load.  Thread-safe. */
bool fs_links_known(struct fs_links *l, const struct stat *st);

/* The file st is known by key ("bucket/key"; copied).  Thread-safe. */
void fs_links_add(struct fs_links *l, const struct stat *st, const char *key);

/* The names of st other than `except`, as a NULL-terminated array of
 * copies (free with fs_links_free_names), or NULL when none is known.
 * Thread-safe. */
char **fs_links_names(struct fs_links *l, const struct stat *st,
		      const char *except);
void fs_links_free_names(char **names);

/* key no longer names st (unlinked, renamed, or another file). */
void fs_links_forget(struct fs_links *l, const struct stat *st,
		     const char *key);

#endif
