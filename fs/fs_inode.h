/*
 * fs_inode.h - the daemon's inode table.
 *
 * Every inode the kernel knows (it holds a lookup count) has a struct
 * fs_inode whose address is its FUSE node id, the way libfuse's
 * passthrough_ll does it.
 *
 * Inodes remember the parent and name they were last reached by: that is
 * how the daemon knows an object's bucket and key without a syscall
 * (events need both on every operation).  Directories have exactly one
 * parent; for a hard-linked file the most recent name wins.
 *
 * Descriptors.  A directory holds an O_PATH descriptor of its backing
 * directory, so operations inside it are *at() calls that never re-walk a
 * path.  Other objects hold none: they are reached as (parent's fd, name),
 * see fs_inode_at.  passthrough_ll keeps a descriptor for every inode, and
 * so runs out of them (EMFILE) once the kernel knows RLIMIT_NOFILE objects:
 * `ls -l` of a bucket of 20 000 files failed that way here.  Objects are
 * what buckets hold millions of; directories are few.  A file that loses
 * its name through the mount (unlink, rename over it) is given a descriptor
 * just before (fs_inode_unlinking): the kernel may still use the inode
 * (open handles, other hard links, a request already on its way), and the
 * descriptor keeps the file system from reusing its inode number, the
 * table's key, until the kernel forgets it (at once, for a file without
 * other names or users).
 *
 * Changes.  The table keeps a write clock, a counter advanced at every
 * change of a file's content made through the mount: an open for writing
 * or truncating, the flush of such a handle, a truncate.  An inode records
 * the clock at its last change and counts its handles open for writing
 * that were not flushed yet.  fs_etag reads the clock before it reads a
 * file and remembers the eTag with it; the eTag holds for as long as the
 * file has had no change since and no such handle.  A file's stat cannot
 * tell that on its own: where file times are stamped at the clock tick (on
 * Debian 12's kernel, every file system), a file rewritten with as many
 * bytes within the tick of the write before keeps size, mtime and ctime.
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
	int fd;                 /* O_PATH|O_NOFOLLOW fd of the backing object
				   for directories (and files that lost
				   their name, see above); else -1 */
	dev_t dev;
	ino_t ino;
	mode_t type;            /* S_IFMT bits, fixed for the inode's life */
	uint64_t nlookup;       /* kernel lookup count (table lock) */
	uint64_t refs;          /* children naming this as parent (table lock) */
	struct fs_inode *parent;/* counted reference, NULL for the root */
	char *name;             /* owned; NULL for the root */
	/* What the table's classifier said of parent and name (see
	 * fs_inode_classify_fn), kept with them; read without the lock. */
	_Atomic unsigned name_class;
	const struct fs_magic *magic; /* non-NULL for .bucketfs nodes */
	bool is_root;           /* fixed: the mount root (the table's) */
	unsigned nopen;         /* open handles (table lock) */
	struct fs_inode *hnext; /* hash chain (table lock) */

	/* The object has no user.s3.meta.* xattr, so events skip listing
	 * them (fs_ev.c): meta_fresh from its CREATE through the mount until
	 * a setxattr or removexattr through it; meta_none_ns is the ctime
	 * (ns) at which a listing found none (<= 0: none known).  Each change
	 * through the mount sets it to a new negative value, so a listing
	 * begun before it cannot record what it found (with coarse file
	 * times the ctime may not have moved).  Changes made behind the mount
	 * are not watched (README). */
	atomic_bool meta_fresh;
	_Atomic int64_t meta_none_ns;

	/* See "Changes" above: the write clock at the last change through
	 * the mount, never decreasing; handles open for writing that were
	 * not flushed yet.  Read without the table lock. */
	_Atomic uint64_t changed;
	_Atomic unsigned writers;

	/* Of a directory: held shared while an operation reaches a child by
	 * name (fs_inode_at), exclusive while a child loses or changes its
	 * name (fs_inode_names_lock), so a name is never read before a
	 * rename or unlink and used after it (another file may hold it by
	 * then: a truncate by name would cut the wrong file). */
	pthread_rwlock_t names;

	/* FUSE passthrough: one backing id shared by all open handles. */
	pthread_mutex_t lock;
	int backing_id;
	unsigned backing_refs;

	/* Under lock: the size and mtime of the file as the last Put of any
	 * of its handles told it (fs_ops.c, file_changed), so that a handle
	 * open meanwhile does not tell that change again at its close.
	 * told: there was such a Put; told_racy: a later write may have kept
	 * its mtime (within SRC's mtime window). */
	bool told, told_racy;
	off_t told_size;
	struct timespec told_mtime;
};

struct fs_inode_table;

/* Sorts a name into the caller's classes (bit flags of its choosing),
 * for tests made on every request that must not take the table lock or
 * touch the name (`.select` files, on every open).  Called under the table
 * lock whenever an inode gets a parent and name; in_bucket: the parent is
 * not the root. */
typedef unsigned fs_inode_classify_fn(const char *name, bool in_bucket);

/* Create a table whose root is the directory open as root_fd (an O_PATH
 * fd, taken over by the table); classify may be NULL (every class 0).
 * Returns 0 or -errno. */
int fs_inode_table_new(int root_fd, fs_inode_classify_fn *classify,
		       struct fs_inode_table **out);

/* The classes of the name ino was last reached by. */
static inline unsigned fs_inode_class(const struct fs_inode *ino)
{
	return atomic_load_explicit(&ino->name_class, memory_order_relaxed);
}

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

/* Count an open handle of ino (open, create) and drop it (release): an
 * inode with open handles outlives a FORGET that arrives before its last
 * RELEASE.  writer: the handle was opened for writing or truncating (a
 * change, see "Changes"); at close, one that was not flushed. */
void fs_inode_opened(struct fs_inode_table *t, struct fs_inode *ino,
		     bool writer);
void fs_inode_closed(struct fs_inode_table *t, struct fs_inode *ino,
		     bool writer);

/* fs_inode_closed(t, inos[i], false) for n inodes, under one lock (the
 * eTag hasher lets go of a batch's inodes at once). */
void fs_inode_closed_many(struct fs_inode_table *t,
			  struct fs_inode *const *inos, size_t n);

/* Record a change of ino's content through the mount: a truncate, a write
 * the daemon saw, or (flushed) the first flush of a handle counted as a
 * writer by fs_inode_opened, which stops counting it. */
void fs_inode_changed(struct fs_inode_table *t, struct fs_inode *ino,
		      bool flushed);

/* Advance the write clock and return it: what was read from a file after
 * this call is its content as of the returned value. */
uint64_t fs_inode_clock(struct fs_inode_table *t);

/* The write clock at ino's last change through the mount, UINT64_MAX
 * while it has a writer: content read at clock c > that value is the
 * file's current content.  Lock-free. */
uint64_t fs_inode_last_change(struct fs_inode *ino);

/* The same for the object (dev, ino), which the kernel may not know:
 * then the latest change of any inode that was forgotten (their changes
 * are not remembered one by one), and *known (when not NULL) is set to
 * false.  Takes the table lock. */
uint64_t fs_inode_last_change_of(struct fs_inode_table *t, dev_t dev,
				 ino_t ino, bool *known);

/* An object as the table keys it. */
struct fs_inode_key {
	dev_t dev;
	ino_t ino;
};

/* fs_inode_last_change_of for n objects under one lock (the eTag hasher
 * asks for a batch at once: one lock round trip with the FUSE threads
 * instead of n): last[i], and known[i] when known is not NULL. */
void fs_inode_last_changes_of(struct fs_inode_table *t, size_t n,
			      const struct fs_inode_key *keys, uint64_t *last,
			      bool *known);

/* Call before `name` in `parent` loses its name (unlink, or replaced by a
 * rename): a known, descriptor-less inode gets its O_PATH descriptor now
 * (see above).  Costs an fstatat, and an openat when the kernel knows the
 * file.  Failure only leaves that inode unreachable by name (ENOENT or
 * ESTALE later). */
void fs_inode_unlinking(struct fs_inode_table *t, struct fs_inode *parent,
			const char *name);

/* How to reach an inode's backing object: (dirfd, name) for the *at()
 * calls, and a /proc path for the calls that have no *at() form (xattrs,
 * chmod, truncate).  fs_inode_at fills it and holds the parent, so its
 * descriptor stays open even if a rename moves the object meanwhile, until
 * fs_at_done.  The name is copied: a rename may change the inode's. */
struct fs_at {
	int dirfd;           /* the object's own fd (name "") or its parent's */
	const char *name;    /* "" or a name in dirfd (points into buf) */
	struct fs_inode *held; /* the parent held for the call, or NULL */
	struct fs_inode_table *table;
	char *proc;          /* built by fs_at_proc in proc_buf, or NULL */
	char name_buf[256];
	char proc_buf[32 + 256];
};

/* Fill at for ino (not a magic node), holding its parent's names lock
 * shared until fs_at_done.  Never call it while holding an `at` or a
 * names lock: writers are preferred, so a nested read lock can deadlock.
 * Returns 0 or -ESTALE when ino cannot be reached. */
int fs_inode_at(struct fs_inode_table *t, struct fs_inode *ino,
		struct fs_at *at);

/* at for child `name` of directory dir (held by the caller's request). */
void fs_at_child(struct fs_at *at, struct fs_inode *dir, const char *name);

/* Lock the names of directories a and b (b may be NULL or a) for a
 * rename or unlink done through the mount, in address order. */
void fs_inode_names_lock(struct fs_inode *a, struct fs_inode *b);
void fs_inode_names_unlock(struct fs_inode *a, struct fs_inode *b);

/* Release what fs_inode_at held. */
void fs_at_done(struct fs_at *at);

/* The *at() flags for at: AT_SYMLINK_NOFOLLOW, plus AT_EMPTY_PATH when
 * dirfd is the object itself. */
int fs_at_flags(const struct fs_at *at);

/* "/proc/self/fd/N" or "/proc/self/fd/N/name" (valid until fs_at_done). */
const char *fs_at_proc(struct fs_at *at);

/* open(2) of ino's backing object (not a magic node): an fd, or -errno;
 * -ESTALE when its name holds another object now (changed behind the
 * mount), never that object.  The check stats the opened object: st, when
 * not NULL, receives that stat (an event of the open uses it), or
 * st_mode 0 when there is none. */
int fs_inode_open(struct fs_inode_table *t, struct fs_inode *ino, int flags,
		  struct stat *st);

/* Syscalls on the object, errno-style returns like the calls they wrap.
 * Never following a symlink in the last component. */
int fs_at_stat(const struct fs_at *at, struct stat *st);
int fs_at_open(struct fs_at *at, int flags);
ssize_t fs_at_getxattr(struct fs_at *at, const char *name, void *value,
		       size_t size);
ssize_t fs_at_listxattr(struct fs_at *at, char *list, size_t size);
int fs_at_setxattr(struct fs_at *at, const char *name, const void *value,
		   size_t size, int flags);
int fs_at_removexattr(struct fs_at *at, const char *name);

/* Copy the name ino was last reached by into buf (NAME_MAX + 1 bytes,
 * read under the table lock: a lookup through a hard link may replace it
 * meanwhile).  Returns 1 when its parent is the root (a bucket), 2 when it
 * is deeper, -ENOENT for the root or a magic node. */
int fs_inode_name(struct fs_inode_table *t, struct fs_inode *ino,
		  char buf[256]);

/* Append "bucket" (depth 1) or "bucket/key/of/object" for inode, or for
 * child `name` of inode when name != NULL, to out.  Returns the depth
 * below the root (0 for the root itself, 1 for a bucket), or -errno. */
int fs_inode_path(struct fs_inode_table *t, struct fs_inode *ino,
		  const char *name, struct cmn_buf *out);

/* True for the mount root.  A field set once, not parent == NULL: a
 * rename moves parent under the table lock, and this is asked without. */
static inline bool fs_inode_is_root(const struct fs_inode *ino)
{
	return ino->is_root;
}

#endif
