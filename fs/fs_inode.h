/*
 * fs_inode.h - the daemon's inode table.
 *
 * Every inode the kernel knows (it holds a lookup count) has a struct
 * fs_inode whose address is its FUSE node id, the way libfuse's
 * passthrough_ll does it.  Each holds an O_PATH descriptor of the backing
 * object, so operations never rebuild or re-walk a path, and renames done
 * through the mount cannot make an inode point at the wrong object.
 *
 * Inodes also remember the parent and name they were last reached by: that
 * is how the daemon knows an object's bucket and key without a syscall
 * (events need both on every operation).  Directories have exactly one
 * parent; for a hard-linked file the most recent name wins, and open
 * handles carry the key they were opened under.
 */
#ifndef FS_INODE_H
#define FS_INODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct fs_magic;
struct cmn_buf;

struct fs_inode {
	int fd;                 /* O_PATH|O_NOFOLLOW fd of the backing object;
				   -1 for magic (control) nodes */
	dev_t dev;
	ino_t ino;
	mode_t type;            /* S_IFMT bits, fixed for the inode's life */
	uint64_t nlookup;       /* kernel lookup count (table lock) */
	uint64_t refs;          /* children naming this as parent (table lock) */
	struct fs_inode *parent;/* counted reference, NULL for the root */
	char *name;             /* owned; NULL for the root */
	const struct fs_magic *magic; /* non-NULL for .bucketfs nodes */
	struct fs_inode *hnext; /* hash chain (table lock) */

	/* The object has no user.s3.meta.* xattr, so events skip listing
	 * them (fs_ev.c): meta_fresh from its CREATE through the mount until
	 * a setxattr or removexattr through it; meta_none_ns is the ctime
	 * (ns) at which a listing found none (0: none known).  Changes made
	 * behind the mount are not watched (README). */
	atomic_bool meta_fresh;
	_Atomic int64_t meta_none_ns;

	/* FUSE passthrough: one backing id shared by all open handles. */
	pthread_mutex_t lock;
	int backing_id;
	unsigned backing_refs;
};

struct fs_inode_table;

/* Create a table whose root is the directory open as root_fd (an O_PATH
 * fd, taken over by the table).  Returns 0 or -errno. */
int fs_inode_table_new(int root_fd, struct fs_inode_table **out);

/* Free the table and every inode (only after the session has ended). */
void fs_inode_table_free(struct fs_inode_table *t);

/* The root inode (FUSE_ROOT_ID maps to it). */
struct fs_inode *fs_inode_root(struct fs_inode_table *t);

/* Find or create the inode of the object `name` inside `parent`, whose
 * stat the caller already has (st), and add one kernel lookup.  Records
 * parent/name for key computation.  Returns the inode or NULL with errno. */
struct fs_inode *fs_inode_get(struct fs_inode_table *t,
			      struct fs_inode *parent, const char *name,
			      const struct stat *st);

/* Drop n kernel lookups; frees the inode when nothing references it. */
void fs_inode_forget(struct fs_inode_table *t, struct fs_inode *ino,
		     uint64_t n);

/* Move inode's remembered name after a rename through the mount. */
void fs_inode_rename(struct fs_inode_table *t, struct fs_inode *ino,
		     struct fs_inode *newparent, const char *newname);

/* Append "bucket" (depth 1) or "bucket/key/of/object" for inode, or for
 * child `name` of inode when name != NULL, to out.  Returns the depth
 * below the root (0 for the root itself, 1 for a bucket), or -errno. */
int fs_inode_path(struct fs_inode_table *t, struct fs_inode *ino,
		  const char *name, struct cmn_buf *out);

/* True for the mount root. */
static inline bool fs_inode_is_root(const struct fs_inode *ino)
{
	return ino->parent == NULL && ino->magic == NULL;
}

#endif
