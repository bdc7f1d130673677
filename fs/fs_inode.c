/*
 * fs_inode.c - inode table keyed by the backing (st_dev, st_ino); see
 * fs_inode.h.
 *
 * One mutex guards the hash, the lookup counts and the parent/name links.
 * Every critical section is a few pointer operations, so contention stays
 * far below the cost of the FUSE round trip that surrounds it.
 */
#include "fs_inode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmn_buf.h"

struct fs_inode_table {
	pthread_mutex_t lock;
	struct fs_inode root;
	struct fs_inode **buckets;
	size_t nbuckets;   /* power of two */
	size_t count;
	_Atomic uint64_t clock;  /* the write clock (fs_inode.h, "Changes") */
	uint64_t forgotten;      /* the latest `changed` of a freed inode */
	fs_inode_classify_fn *classify; /* or NULL */
};

static size_t hash_key(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 29) ^ (uint64_t)dev);
}

/* Writers (unlink, rename) must not starve behind a stream of readers. */
static void names_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(
		&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
}

int fs_inode_table_new(int root_fd, fs_inode_classify_fn *classify,
		       struct fs_inode_table **out)
{
	struct stat st;
	if (fstatat(root_fd, "", &st, AT_EMPTY_PATH) != 0)
		return -errno;
	struct fs_inode_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->root.lock, NULL);
	names_init(&t->root.names);
	t->root.fd = root_fd;
	t->root.dev = st.st_dev;
	t->root.ino = st.st_ino;
	t->root.type = S_IFDIR;
	t->root.nlookup = 2; /* never freed */
	t->root.is_root = true;
	t->classify = classify;
	*out = t;
	return 0;
}

static void inode_destroy(struct fs_inode *ino)
{
	if (ino->fd >= 0)
		close(ino->fd);
	pthread_mutex_destroy(&ino->lock);
	pthread_rwlock_destroy(&ino->names);
	free(ino->name);
	free(ino);
}

void fs_inode_table_free(struct fs_inode_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fs_inode *n = t->buckets[i];
		while (n) {
			struct fs_inode *next = n->hnext;
			inode_destroy(n);
			n = next;
		}
	}
	free(t->buckets);
	close(t->root.fd);
	pthread_mutex_destroy(&t->root.lock);
	pthread_rwlock_destroy(&t->root.names);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct fs_inode *fs_inode_root(struct fs_inode_table *t)
{
	return &t->root;
}

/* Double the bucket array; called with the lock held.  Failure to grow
 * only makes chains longer, so it is not an error. */
static void grow(struct fs_inode_table *t)
{
	size_t n = t->nbuckets * 2;
	struct fs_inode **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fs_inode *e = t->buckets[i];
		while (e) {
			struct fs_inode *next = e->hnext;
			size_t h = hash_key(e->dev, e->ino) & (n - 1);
			e->hnext = b[h];
			b[h] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct fs_inode **slot_of(struct fs_inode_table *t, dev_t dev,
				 ino_t ino)
{
	struct fs_inode **pp = &t->buckets[hash_key(dev, ino) &
					   (t->nbuckets - 1)];
	while (*pp && ((*pp)->dev != dev || (*pp)->ino != ino))
		pp = &(*pp)->hnext;
	return pp;
}

/* Give ino its class for (parent, name); lock held. */
static void classify(struct fs_inode_table *t, struct fs_inode *ino,
		     struct fs_inode *parent, const char *name)
{
	unsigned c = t->classify
			     ? t->classify(name, !fs_inode_is_root(parent))
			     : 0;
	atomic_store_explicit(&ino->name_class, c, memory_order_relaxed);
}

/* Point ino at (parent, name); called with the lock held.  Takes a
 * reference on the new parent and drops the old one.  On allocation
 * failure the old link is kept: only event keys of a hard link can then be
 * stale, never correctness of the data path. */
static struct fs_inode *relink(struct fs_inode_table *t, struct fs_inode *ino,
			       struct fs_inode *parent, const char *name)
{
	if (ino->parent == parent && ino->name && strcmp(ino->name, name) == 0)
		return NULL;
	char *copy = strdup(name);
	if (!copy)
		return NULL;
	parent->refs++;
	struct fs_inode *old = ino->parent;
	free(ino->name);
	ino->name = copy;
	ino->parent = parent;
	classify(t, ino, parent, name);
	if (old)
		old->refs--;
	return old;
}

static void destroy_list(struct fs_inode *dead)
{
	while (dead) {
		struct fs_inode *next = dead->hnext;
		inode_destroy(dead);
		dead = next;
	}
}

static struct fs_inode *release_chain(struct fs_inode_table *t,
				      struct fs_inode *ino);

/* Relink an existing inode under the lock and free a parent that this
 * left unreferenced. */
static void relink_locked(struct fs_inode_table *t, struct fs_inode *ino,
			  struct fs_inode *parent, const char *name,
			  struct fs_inode **dead)
{
	struct fs_inode *old = relink(t, ino, parent, name);
	if (old)
		*dead = release_chain(t, old);
}

struct fs_inode *fs_inode_get(struct fs_inode_table *t,
			      struct fs_inode *parent, const char *name,
			      const struct stat *st)
{
	struct fs_inode *dead = NULL;

	if (st->st_dev == t->root.dev && st->st_ino == t->root.ino) {
		pthread_mutex_lock(&t->lock);
		t->root.nlookup++;
		pthread_mutex_unlock(&t->lock);
		return &t->root;
	}
	pthread_mutex_lock(&t->lock);
	struct fs_inode **pp = slot_of(t, st->st_dev, st->st_ino);
	if (*pp) {
		struct fs_inode *ino = *pp;
		ino->nlookup++;
		relink_locked(t, ino, parent, name, &dead);
		pthread_mutex_unlock(&t->lock);
		destroy_list(dead);
		return ino;
	}
	pthread_mutex_unlock(&t->lock);

	/* Open outside the lock: it is a syscall. */
	int fd = -1;
	if (S_ISDIR(st->st_mode)) {
		fd = openat(parent->fd, name,
			    O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return NULL;
	}
	struct fs_inode *ino = calloc(1, sizeof(*ino));
	char *copy = strdup(name);
	if (!ino || !copy) {
		free(ino);
		free(copy);
		if (fd >= 0)
			close(fd);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ino->lock, NULL);
	names_init(&ino->names);
	ino->fd = fd;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	ino->type = st->st_mode & S_IFMT;
	ino->nlookup = 1;
	ino->name = copy;

	pthread_mutex_lock(&t->lock);
	pp = slot_of(t, st->st_dev, st->st_ino);
	if (*pp) {
		/* Another thread created it meanwhile: use theirs. */
		struct fs_inode *other = *pp;
		other->nlookup++;
		relink_locked(t, other, parent, name, &dead);
		pthread_mutex_unlock(&t->lock);
		inode_destroy(ino);
		destroy_list(dead);
		return other;
	}
	ino->parent = parent;
	parent->refs++;
	classify(t, ino, parent, name);
	/* Changes made through an earlier inode of the same file. */
	atomic_store(&ino->changed, t->forgotten);
	*pp = ino;
	if (++t->count > t->nbuckets)
		grow(t);
	pthread_mutex_unlock(&t->lock);
	return ino;
}

/* Unhash and free ino and then any parent it was the last holder of.
 * Called with the lock held; returns the inodes to destroy as a list
 * through hnext so the closes happen after the lock is dropped. */
static struct fs_inode *release_chain(struct fs_inode_table *t,
				      struct fs_inode *ino)
{
	struct fs_inode *dead = NULL;
	while (ino && ino != &t->root && ino->nlookup == 0 && ino->refs == 0 &&
	       ino->nopen == 0) {
		struct fs_inode **pp = slot_of(t, ino->dev, ino->ino);
		if (*pp == ino)
			*pp = ino->hnext;
		t->count--;
		uint64_t changed = atomic_load(&ino->changed);
		if (changed > t->forgotten)
			t->forgotten = changed;
		struct fs_inode *parent = ino->parent;
		if (parent)
			parent->refs--;
		ino->hnext = dead;
		dead = ino;
		ino = parent;
	}
	return dead;
}

void fs_inode_forget(struct fs_inode_table *t, struct fs_inode *ino,
		     uint64_t n)
{
	if (ino->magic)
		return;
	pthread_mutex_lock(&t->lock);
	ino->nlookup = ino->nlookup > n ? ino->nlookup - n : 0;
	struct fs_inode *dead = release_chain(t, ino);
	pthread_mutex_unlock(&t->lock);
	destroy_list(dead);
}

void fs_inode_rename(struct fs_inode_table *t, struct fs_inode *ino,
		     struct fs_inode *newparent, const char *newname)
{
	struct fs_inode *dead = NULL;
	pthread_mutex_lock(&t->lock);
	relink_locked(t, ino, newparent, newname, &dead);
	pthread_mutex_unlock(&t->lock);
	destroy_list(dead);
}

/* Move ino->changed up to a new reading of the clock.  Two changes may
 * race: the later reading wins. */
static void mark_changed(struct fs_inode_table *t, struct fs_inode *ino)
{
	uint64_t now = fs_inode_clock(t);
	uint64_t seen = atomic_load(&ino->changed);
	while (seen < now &&
	       !atomic_compare_exchange_weak(&ino->changed, &seen, now))
		;
}

/* A writer is counted before its change is marked, and let go of after:
 * a lock-free reader that sees no writer sees the latest change. */
void fs_inode_opened(struct fs_inode_table *t, struct fs_inode *ino,
		     bool writer)
{
	pthread_mutex_lock(&t->lock);
	ino->nopen++;
	pthread_mutex_unlock(&t->lock);
	if (writer) {
		atomic_fetch_add(&ino->writers, 1);
		mark_changed(t, ino);
	}
}

void fs_inode_closed(struct fs_inode_table *t, struct fs_inode *ino,
		     bool writer)
{
	if (writer)
		fs_inode_changed(t, ino, true);
	pthread_mutex_lock(&t->lock);
	if (ino->nopen > 0)
		ino->nopen--;
	/* The kernel may have sent FORGET before this RELEASE. */
	struct fs_inode *dead = release_chain(t, ino);
	pthread_mutex_unlock(&t->lock);
	destroy_list(dead);
}

void fs_inode_closed_many(struct fs_inode_table *t,
			  struct fs_inode *const *inos, size_t n)
{
	struct fs_inode *dead = NULL;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		if (inos[i]->nopen > 0)
			inos[i]->nopen--;
		struct fs_inode *d = release_chain(t, inos[i]);
		while (d) { /* prepend d's list to dead */
			struct fs_inode *next = d->hnext;
			d->hnext = dead;
			dead = d;
			d = next;
		}
	}
	pthread_mutex_unlock(&t->lock);
	destroy_list(dead);
}

void fs_inode_changed(struct fs_inode_table *t, struct fs_inode *ino,
		      bool flushed)
{
	mark_changed(t, ino);
	if (flushed)
		atomic_fetch_sub(&ino->writers, 1);
}

uint64_t fs_inode_clock(struct fs_inode_table *t)
{
	return atomic_fetch_add(&t->clock, 1) + 1;
}

uint64_t fs_inode_last_change(struct fs_inode *ino)
{
	if (atomic_load(&ino->writers) > 0)
		return UINT64_MAX;
	return atomic_load(&ino->changed);
}

uint64_t fs_inode_last_change_of(struct fs_inode_table *t, dev_t dev,
				 ino_t ino, bool *known)
{
	struct fs_inode_key key = {.dev = dev, .ino = ino};
	uint64_t last;
	fs_inode_last_changes_of(t, 1, &key, &last, known);
	return last;
}

void fs_inode_last_changes_of(struct fs_inode_table *t, size_t n,
			      const struct fs_inode_key *keys, uint64_t *last,
			      bool *known)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		struct fs_inode *ino = *slot_of(t, keys[i].dev, keys[i].ino);
		last[i] = ino ? fs_inode_last_change(ino) : t->forgotten;
		if (known)
			known[i] = ino != NULL;
	}
	pthread_mutex_unlock(&t->lock);
}

void fs_inode_unlinking(struct fs_inode_table *t, struct fs_inode *parent,
			const char *name)
{
	struct stat st;
	if (fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    S_ISDIR(st.st_mode))
		return;
	pthread_mutex_lock(&t->lock);
	struct fs_inode *ino = *slot_of(t, st.st_dev, st.st_ino);
	bool need = ino && ino->fd < 0;
	pthread_mutex_unlock(&t->lock);
	if (!need)
		return;
	/* The kernel holds the inode (it looked the name up to remove it),
	 * and holds the directory's lock, so neither goes away here. */
	int fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (ino->fd < 0) {
		ino->fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&t->lock);
	if (fd >= 0)
		close(fd);
}

/* Whether ino is still reached as parent/name (its own fd, once set,
 * takes over); table lock held. */
static bool still_named(const struct fs_inode *ino,
			const struct fs_inode *parent, const char *name)
{
	return ino->fd < 0 && ino->parent == parent && ino->name &&
	       strcmp(ino->name, name) == 0;
}

int fs_inode_at(struct fs_inode_table *t, struct fs_inode *ino,
		struct fs_at *at)
{
	at->table = t;
	at->held = NULL;
	at->proc = NULL;
	for (;;) {
		at->name = "";
		pthread_mutex_lock(&t->lock);
		/* An inode's fd never changes once set: reading it needs the
		 * lock only because fs_inode_unlinking may be setting it. */
		at->dirfd = ino->fd;
		struct fs_inode *parent = NULL;
		if (at->dirfd < 0 && ino->parent && ino->name &&
		    strlen(ino->name) < sizeof(at->name_buf)) {
			strcpy(at->name_buf, ino->name);
			at->name = at->name_buf;
			parent = ino->parent;
			parent->refs++;
			at->dirfd = parent->fd;
		}
		pthread_mutex_unlock(&t->lock);
		if (!parent)
			return at->dirfd >= 0 ? 0 : -ESTALE;
		/* Keep the name from changing under the call; then make sure
		 * it did not change while this waited for the lock. */
		pthread_rwlock_rdlock(&parent->names);
		pthread_mutex_lock(&t->lock);
		bool same = still_named(ino, parent, at->name_buf);
		pthread_mutex_unlock(&t->lock);
		at->held = parent;
		if (same)
			return 0;
		fs_at_done(at);
	}
}

void fs_inode_names_lock(struct fs_inode *a, struct fs_inode *b)
{
	if (b && b != a && (uintptr_t)b < (uintptr_t)a) {
		struct fs_inode *x = a;
		a = b;
		b = x;
	}
	pthread_rwlock_wrlock(&a->names);
	if (b && b != a)
		pthread_rwlock_wrlock(&b->names);
}

void fs_inode_names_unlock(struct fs_inode *a, struct fs_inode *b)
{
	pthread_rwlock_unlock(&a->names);
	if (b && b != a)
		pthread_rwlock_unlock(&b->names);
}

void fs_at_child(struct fs_at *at, struct fs_inode *dir, const char *name)
{
	at->table = NULL;
	at->held = NULL;
	at->proc = NULL;
	at->dirfd = dir->fd;
	at->name = name;
}

void fs_at_done(struct fs_at *at)
{
	if (!at->held)
		return;
	struct fs_inode_table *t = at->table;
	pthread_rwlock_unlock(&at->held->names);
	pthread_mutex_lock(&t->lock);
	at->held->refs--;
	struct fs_inode *dead = release_chain(t, at->held);
	pthread_mutex_unlock(&t->lock);
	destroy_list(dead);
	at->held = NULL;
}

int fs_at_flags(const struct fs_at *at)
{
	return AT_SYMLINK_NOFOLLOW | (at->name[0] ? 0 : AT_EMPTY_PATH);
}

const char *fs_at_proc(struct fs_at *at)
{
	if (!at->proc) {
		if (at->name[0])
			snprintf(at->proc_buf, sizeof(at->proc_buf),
				 "/proc/self/fd/%d/%s", at->dirfd, at->name);
		else
			snprintf(at->proc_buf, sizeof(at->proc_buf),
				 "/proc/self/fd/%d", at->dirfd);
		at->proc = at->proc_buf;
	}
	return at->proc;
}

int fs_at_stat(const struct fs_at *at, struct stat *st)
{
	return fstatat(at->dirfd, at->name, st, fs_at_flags(at));
}

int fs_inode_open(struct fs_inode_table *t, struct fs_inode *ino, int flags,
		  struct stat *st)
{
	struct fs_at at;
	struct stat mine;
	if (!st)
		st = &mine;
	int fd = fs_inode_at(t, ino, &at);
	if (fd < 0)
		return fd;
	fd = fs_at_open(&at, flags);
	if (fd < 0)
		fd = -errno;
	bool named = at.name[0] != '\0';
	bool have = fd >= 0 && (named || st != &mine) && fstat(fd, st) == 0;
	if (!have)
		st->st_mode = 0;
	if (fd >= 0 && named &&
	    (!have || st->st_ino != ino->ino || st->st_dev != ino->dev)) {
		close(fd); /* the name holds another object now */
		fd = -ESTALE;
	}
	fs_at_done(&at);
	return fd;
}

/* Reopening an O_PATH fd goes through its /proc link; a name is opened
 * in its directory without following a symlink. */
int fs_at_open(struct fs_at *at, int flags)
{
	if (at->name[0])
		return openat(at->dirfd, at->name, flags | O_NOFOLLOW);
	return open(fs_at_proc(at), flags & ~O_NOFOLLOW);
}

/* getxattrat(2) and its siblings (Linux 6.13) reach a name in a directory
 * in one lookup, where the /proc path costs a walk of procfs on top: 2.1
 * against 5.1 us per call here, and the kernel asks for
 * security.capability once per created file.  The numbers are the same on
 * every architecture; libc has no wrappers yet.  A kernel without them says
 * ENOSYS (a seccomp filter that does not know them, EPERM), and the /proc
 * path serves: it also gives a genuine EPERM.  They do not take an O_PATH
 * fd with AT_EMPTY_PATH (EBADF), so an object's own fd always goes through
 * /proc, whose link must be followed; a name's last component must not
 * be. */
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

static bool xattrat_missing(void)
{
	return errno == ENOSYS || errno == EPERM;
}

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

ssize_t fs_at_getxattr(struct fs_at *at, const char *name, void *value,
		       size_t size)
{
	if (at->name[0]) {
		struct xattr_args_v0 a = {(uintptr_t)value, (uint32_t)size, 0};
		long n = syscall(SYS_getxattrat, at->dirfd, at->name,
				 AT_SYMLINK_NOFOLLOW, name, &a, sizeof(a));
		if (n >= 0 || !xattrat_missing())
			return n;
		return lgetxattr(fs_at_proc(at), name, value, size);
	}
	return getxattr(fs_at_proc(at), name, value, size);
}

ssize_t fs_at_listxattr(struct fs_at *at, char *list, size_t size)
{
	if (at->name[0]) {
		long n = syscall(SYS_listxattrat, at->dirfd, at->name,
				 AT_SYMLINK_NOFOLLOW, list, size);
		if (n >= 0 || !xattrat_missing())
			return n;
		return llistxattr(fs_at_proc(at), list, size);
	}
	return listxattr(fs_at_proc(at), list, size);
}

int fs_at_setxattr(struct fs_at *at, const char *name, const void *value,
		   size_t size, int flags)
{
	if (at->name[0]) {
		struct xattr_args_v0 a = {(uintptr_t)value, (uint32_t)size,
					  (uint32_t)flags};
		long n = syscall(SYS_setxattrat, at->dirfd, at->name,
				 AT_SYMLINK_NOFOLLOW, name, &a, sizeof(a));
		if (n >= 0 || !xattrat_missing())
			return (int)n;
		return lsetxattr(fs_at_proc(at), name, value, size, flags);
	}
	return setxattr(fs_at_proc(at), name, value, size, flags);
}

int fs_at_removexattr(struct fs_at *at, const char *name)
{
	if (at->name[0]) {
		long n = syscall(SYS_removexattrat, at->dirfd, at->name,
				 AT_SYMLINK_NOFOLLOW, name);
		if (n >= 0 || !xattrat_missing())
			return (int)n;
		return lremovexattr(fs_at_proc(at), name);
	}
	return removexattr(fs_at_proc(at), name);
}

int fs_inode_name(struct fs_inode_table *t, struct fs_inode *ino,
		  char buf[256])
{
	int rc = -ENOENT;
	buf[0] = '\0';
	pthread_mutex_lock(&t->lock);
	if (ino->parent && ino->name && strlen(ino->name) < 256) {
		strcpy(buf, ino->name);
		rc = fs_inode_is_root(ino->parent) ? 1 : 2;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int fs_inode_path(struct fs_inode_table *t, struct fs_inode *ino,
		  const char *name, struct cmn_buf *out)
{
	size_t len = name ? strlen(name) : 0, at;
	int depth = 0, rc = 0;

	/* Two passes under the lock: the length, then the names written
	 * from the end, so any depth fits (an S3 key may nest 500 deep). */
	pthread_mutex_lock(&t->lock);
	for (struct fs_inode *n = ino; n && n->parent; n = n->parent) {
		len += strlen(n->name) + 1;
		depth++;
	}
	if (!name && depth)
		len--; /* no '/' after the last directory */
	char *dst = cmn_buf_reserve(out, len + 1);
	if (!dst) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	at = len;
	if (name) {
		at -= strlen(name);
		memcpy(dst + at, name, strlen(name));
	}
	for (struct fs_inode *n = ino; n && n->parent; n = n->parent) {
		if (at < len)
			dst[--at] = '/';
		size_t nl = strlen(n->name);
		at -= nl;
		memcpy(dst + at, n->name, nl);
	}
	dst[len] = '\0';
	out->len += len;
	rc = depth + (name ? 1 : 0);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}
