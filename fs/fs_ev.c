/*
 * fs_ev.c - file operations become S3 events; see fs_ev.h.
 *
 * Everything here runs on FUSE request threads.  The hot path (an event
 * nobody wants) is fs_ev_wants(): one bit test.  When an event is wanted,
 * the key comes from names the daemon already holds (the inode's parent
 * chain), the size from a stat the handler usually has, the calling
 * process's command name from a small cache, and the eTag from an xattr
 * cache keyed by size and mtime; no syscall is spent finding a path.
 */
#include "fs_ev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "fs_ctx.h"
#include "fs_etag.h"
#include "fs_inode.h"
#include "fs_links.h"
#include "fs_opts.h"
#include "ntf_dlctl.h"
#include "ntf_limits.h"
#include "ntf_pipeline.h"
#include "ntf_record.h"
#include "ntf_rules.h"

#define COMM_SLOTS 64
#define COMM_TTL_NS 1000000000ll
/* Events that could not be recorded are logged at most this often: with
 * the state directory full every operation would log one. */
#define LOST_WARN_NS (10 * 1000000000ll)
#define META_MAX 32
#define META_BYTES 8192
#define PATH_MAX_PROC 512

/* Last refusal of a rules document, per bucket ("" for the root). */
struct rule_error {
	char *bucket;
	char *text;
	struct rule_error *next;
};

struct comm_slot {
	pid_t pid;
	int64_t stamp_ns;
	char comm[17];
};

struct fs_ev_state {
	/* Held across storing a rules document and installing it, so the
	 * rules in force are always the ones stored (two writers at once
	 * would otherwise store one and install the other). */
	pthread_mutex_t rules_mu;
	pthread_mutex_t lock;  /* guards errors, comm cache, lost_* */
	struct rule_error *errors;
	struct comm_slot comm[COMM_SLOTS];
	int64_t lost_warned_ns; /* when the last warning went out (0: none) */
	uint64_t lost_quiet;    /* failures not logged since */
	struct fs_links *links; /* names of files linked through the mount */
};

/* Coarse (a clock tick): it only ages the cache below, and costs a
 * quarter of a precise read. */
static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* The command name of pid, cached for a second (pids are reused, but
 * not that fast). */
static void comm_of(struct fs_ev_state *st, pid_t pid, char out[17])
{
	struct comm_slot *s = &st->comm[(unsigned)pid % COMM_SLOTS];
	int64_t now = mono_ns();
	pthread_mutex_lock(&st->lock);
	if (s->pid == pid && now - s->stamp_ns < COMM_TTL_NS) {
		memcpy(out, s->comm, 17);
		pthread_mutex_unlock(&st->lock);
		return;
	}
	pthread_mutex_unlock(&st->lock);

	char path[64];
	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, out, 16);
		close(fd);
		if (n > 0 && out[n - 1] == '\n')
			n--;
		out[n > 0 ? n : 0] = '\0';
	}
	pthread_mutex_lock(&st->lock);
	s->pid = pid;
	s->stamp_ns = now;
	memcpy(s->comm, out, 17);
	pthread_mutex_unlock(&st->lock);
}

/* Should a failure to record an event be logged now?  At most once per
 * LOST_WARN_NS; more receives what to add about those that were not
 * since the last one ("" when none). */
static bool lost_warn_due(struct fs_ev_state *st, char more[80])
{
	int64_t now = mono_ns();
	pthread_mutex_lock(&st->lock);
	bool due = st->lost_warned_ns == 0 ||
		   now - st->lost_warned_ns >= LOST_WARN_NS;
	uint64_t quiet = st->lost_quiet;
	if (due) {
		st->lost_warned_ns = now;
		st->lost_quiet = 0;
	} else {
		st->lost_quiet++;
	}
	pthread_mutex_unlock(&st->lock);
	more[0] = '\0';
	if (due && quiet)
		snprintf(more, 80, " (and %" PRIu64 " more lost or refused "
			 "since the last warning)", quiet);
	return due;
}

void fs_ev_comm(struct fs_ctx *ctx, pid_t pid, char out[17])
{
	out[0] = '\0';
	if (pid > 0)
		comm_of(ctx->ev, pid, out);
}

bool fs_ev_wants(struct fs_ctx *ctx, enum ntf_event_name ev)
{
	return ctx->pipeline && ntf_pipeline_wants(ctx->pipeline, ev);
}

int fs_ev_owed_room(struct fs_ctx *ctx, enum ntf_event_name ev)
{
	if (!fs_ev_wants(ctx, ev))
		return 0;
	int rc = ntf_pipeline_owed_room(ctx->pipeline);
	char more[80];
	if (rc < 0 && lost_warn_due(ctx->ev, more))
		cmn_warn("an operation owing %s refused (%s): its event "
			 "could not be recorded%s",
			 ntf_event_str(ev), strerror(-rc), more);
	return rc;
}

/* "bucket/key" of dir/child into b; false for no object (a bucket or the
 * root) or no memory. */
static bool key_into(struct fs_ctx *ctx, struct fs_inode *dir,
		     const char *child, struct cmn_buf *b)
{
	return fs_inode_path(ctx->inodes, dir, child, b) >= 2;
}

char *fs_ev_key_of(struct fs_ctx *ctx, struct fs_inode *dir,
		   const char *child)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 64 * 1024);
	if (!key_into(ctx, dir, child, &b)) {
		cmn_buf_free(&b);
		return NULL;
	}
	return cmn_buf_take(&b);
}

/* Is ino known to have no user.s3.meta.* xattr (see fs_inode.h)?  A
 * listxattr on every Put and GET was the one syscall an event added on
 * the FUSE thread besides the stat. */
static bool meta_known_none(struct fs_inode *ino, const struct stat *st)
{
	int64_t t = atomic_load_explicit(&ino->meta_none_ns,
					 memory_order_relaxed);
	return atomic_load_explicit(&ino->meta_fresh, memory_order_relaxed) ||
	       (t > 0 && t == cmn_time_ns(&st->st_ctim));
}

void fs_ev_meta_fresh(struct fs_inode *ino)
{
	atomic_store_explicit(&ino->meta_fresh, true, memory_order_relaxed);
}

void fs_ev_meta_changed(struct fs_inode *ino)
{
	atomic_store_explicit(&ino->meta_fresh, false, memory_order_relaxed);
	int64_t v = atomic_load(&ino->meta_none_ns);
	while (!atomic_compare_exchange_weak(&ino->meta_none_ns, &v,
					     (v < 0 ? v : 0) - 1))
		;
}

/* user.s3.meta.NAME xattrs become userMetadata {NAME: value}.  The file
 * is fd when >= 0, else at (see fs_etag_cached).  *listed tells whether
 * the names could be listed at all. */
static size_t read_meta(struct fs_at *at, int fd, struct ntf_meta *meta,
			char *store, size_t cap, bool *listed)
{
	char names[4096];
	ssize_t n = fd >= 0 ? flistxattr(fd, names, sizeof(names))
			    : fs_at_listxattr(at, names, sizeof(names));
	*listed = n >= 0;
	size_t count = 0, used = 0;
	const size_t plen = strlen(FS_EV_XATTR_META);
	for (ssize_t i = 0; i < n && count < META_MAX;
	     i += (ssize_t)strlen(names + i) + 1) {
		const char *name = names + i;
		if (strncmp(name, FS_EV_XATTR_META, plen) != 0 || !name[plen])
			continue;
		/* store holds "NAME\0VALUE\0" pairs: names[] dies with us. */
		size_t nlen = strlen(name + plen) + 1;
		if (used + nlen + 1 >= cap)
			break;
		memcpy(store + used, name + plen, nlen);
		char *dst = store + used + nlen;
		size_t room = cap - used - nlen - 1;
		ssize_t v = fd >= 0 ? fgetxattr(fd, name, dst, room)
				    : fs_at_getxattr(at, name, dst, room);
		if (v < 0)
			continue;
		store[used + nlen + (size_t)v] = '\0';
		meta[count].name = store + used;
		meta[count].value = store + used + nlen;
		used += nlen + (size_t)v + 1;
		count++;
	}
	return count;
}

/* Record ev as the caller uid/pid.  With hash, the eTag is still to be
 * computed: the records are stored pending and the hasher finalises them,
 * with the MD5 of the object (ev's bucket and key) as st describes it,
 * read through hash_fd when that is >= 0, obj its inode or NULL (see
 * fs_etag_submit).  flags: NTF_STORE_REFUSABLE or 0 (ntf_pipeline_emit_ex);
 * a read's event is always refusable: it must not take the journal space
 * kept for the records of unlinks and renames. */
static int emit_as(struct fs_ctx *ctx, uid_t uid, pid_t pid,
		   struct ntf_event *ev, bool hash, int hash_fd,
		   const struct stat *st, struct fs_inode *obj, unsigned flags)
{
	char comm[17] = "";
	ev->uid = uid;
	ev->pid = (int32_t)pid;
	if (!ev->comm && pid > 0) {
		comm_of(ctx->ev, pid, comm);
		ev->comm = comm;
	}
	struct ntf_pending *pd = NULL;
	if (ev->name == NTF_EV_OBJECT_ACCESSED_GET ||
	    ev->name == NTF_EV_OBJECT_ACCESSED_HEAD)
		flags |= NTF_STORE_REFUSABLE;
	int rc = ntf_pipeline_emit_ex(ctx->pipeline, ev, flags,
				      hash ? &pd : NULL);
	if (pd)
		fs_etag_submit(ctx, ev->bucket, ev->key, hash_fd, st, obj,
			       ev->name == NTF_EV_OBJECT_CREATED_PUT, pd);
	char more[80];
	if (rc < 0 && lost_warn_due(ctx->ev, more))
		cmn_warn("event %s for %s/%s %s: %s%s",
			 ntf_event_str(ev->name), ev->bucket,
			 ev->key ? ev->key : "",
			 pd ? "stored but not synced" : "not recorded",
			 strerror(-rc), more);
	return rc;
}

static void emit(struct fs_ctx *ctx, fuse_req_t req, struct ntf_event *ev)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	(void)emit_as(ctx, fc->uid, fc->pid, ev, false, -1, NULL, NULL, 0);
}

void fs_ev_object(struct fs_ctx *ctx, fuse_req_t req, enum ntf_event_name name,
		  struct fs_inode *dir, const char *child,
		  const struct stat *st, const char *copy_source)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	fs_ev_object_as(ctx, fc->uid, fc->pid, NULL, name, dir, child, st,
			copy_source);
}

/* The eTag (from the cache) and the user metadata of a file: through
 * openfd (open for reading or writing) when the caller has one, else
 * through at.  obj is the file's inode when known.  Fills ev; *hash is set
 * when the eTag must be computed; *metastore receives what ev->meta points
 * into. */
static void object_attrs(struct fs_ctx *ctx, struct fs_inode *obj,
			 struct fs_at *at, int openfd, const struct stat *st,
			 struct ntf_event *ev, struct ntf_meta *meta,
			 char **metastore, char etag[33], bool *hash)
{
	/* A Put is new content: an eTag remembered for the same size and
	 * mtime may be the old content's (rewritten within one tick of a
	 * coarse clock, or its mtime put back by cp -p), so it is hashed. */
	if (ev->name != NTF_EV_OBJECT_CREATED_PUT &&
	    fs_etag_cached(ctx, obj, at, openfd, st, etag))
		ev->etag = etag;
	else
		*hash = ctx->etag != NULL;
	if (!(obj && meta_known_none(obj, st)) &&
	    (*metastore = malloc(META_BYTES))) {
		bool listed = false;
		/* Recorded only if no change came meanwhile (fs_inode.h). */
		int64_t before = obj ? atomic_load(&obj->meta_none_ns) : 0;
		ev->n_meta = read_meta(at, openfd, meta, *metastore,
				       META_BYTES, &listed);
		if (obj && listed && ev->n_meta == 0)
			atomic_compare_exchange_strong(
				&obj->meta_none_ns, &before,
				cmn_time_ns(&st->st_ctim));
	}
	ev->meta = meta;
}

/* Size, eTag and metadata of an object's event: of openfd when >= 0, else
 * of dir/child (child NULL: dir is the object).  *used receives the stat
 * they come from (st, or one made here); returns false when there is
 * none. */
static bool object_fields(struct fs_ctx *ctx, struct fs_inode *dir,
			  const char *child, int openfd,
			  const struct stat *st, struct stat *used,
			  struct ntf_event *ev, struct ntf_meta *meta,
			  char **metastore, char etag[33], bool *hash)
{
	struct fs_at at = {.dirfd = -1, .name = ""};
	if (openfd < 0) {
		if (child)
			fs_at_child(&at, dir, child);
		else if (fs_inode_at(ctx->inodes, dir, &at) < 0)
			return false;
	}
	if (st)
		*used = *st;
	bool have = st || (openfd >= 0 ? fstat(openfd, used)
				       : fs_at_stat(&at, used)) == 0;
	if (have && !S_ISDIR(used->st_mode))
		ev->size = used->st_size;
	if (have && S_ISREG(used->st_mode))
		object_attrs(ctx, child ? NULL : dir, &at, openfd, used, ev,
			     meta, metastore, etag, hash);
	fs_at_done(&at);
	return have;
}

/* Does key ("bucket/key") name the file st?  If not, it is forgotten as a
 * name of the file. */
static bool names_file(struct fs_ctx *ctx, const char *key,
		       const struct stat *st)
{
	struct stat now;
	if (fstatat(fs_inode_root(ctx->inodes)->fd, key, &now,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_dev == st->st_dev && now.st_ino == st->st_ino)
		return true;
	fs_links_forget(ctx->ev->links, st, key);
	return false;
}

/* A Put of key ("bucket/key"), as ev (not yet filled in by emit_as). */
static int put_as(struct fs_ctx *ctx, const struct ntf_event *ev,
		  const char *key, bool hash, int hash_fd,
		  const struct stat *st, struct fs_inode *obj, unsigned flags)
{
	char *copy = strdup(key), *slash = copy ? strchr(copy, '/') : NULL;
	int rc = copy ? 0 : -ENOMEM;
	if (slash) {
		*slash = '\0';
		struct ntf_event e = *ev;
		e.bucket = copy;
		e.key = slash + 1;
		if (ntf_pipeline_matches(ctx->pipeline, e.name, e.bucket,
					 e.key))
			rc = emit_as(ctx, ev->uid, ev->pid, &e, hash, hash_fd,
				     hash ? st : NULL, obj, flags);
	}
	free(copy);
	return rc;
}

/* The Put ev of a file linked through the mount, whose inode was last
 * reached by `told` ("bucket/key"): told for each of the file's known
 * names that still names it (fs_links.h) — not for `told` once that went
 * (a Put would bring back what its Delete removed).  The other arguments
 * are emit_as's.  Returns 0 or the first -errno of a Put that could not
 * be recorded. */
static int put_linked(struct fs_ctx *ctx, const struct ntf_event *ev,
		      const char *told, bool hash, int hash_fd,
		      const struct stat *st, struct fs_inode *obj,
		      unsigned flags)
{
	char **names = fs_links_names(ctx->ev->links, st, told);
	int rc = 0;
	if (names_file(ctx, told, st))
		rc = put_as(ctx, ev, told, hash, hash_fd, st, obj, flags);
	for (char **n = names; n && *n; n++) {
		int r = names_file(ctx, *n, st)
				? put_as(ctx, ev, *n, hash, hash_fd, st, obj,
					 flags)
				: 0;
		if (r < 0 && r != -EAGAIN && rc >= 0)
			rc = r;
	}
	fs_links_free_names(names);
	return rc;
}

void fs_ev_linked(struct fs_ctx *ctx, const struct stat *st,
		  const char *source, struct fs_inode *dir, const char *name)
{
	struct fs_links *l = ctx->ev ? ctx->ev->links : NULL;
	char *key = l && source ? fs_ev_key_of(ctx, dir, name) : NULL;
	if (!key)
		return;
	fs_links_add(l, st, source);
	fs_links_add(l, st, key);
	free(key);
}

void fs_ev_object_as(struct fs_ctx *ctx, uid_t uid, pid_t pid,
		     const char *comm, enum ntf_event_name name,
		     struct fs_inode *dir, const char *child,
		     const struct stat *st, const char *copy_source)
{
	(void)fs_ev_object_fd(ctx, uid, pid, comm, name, dir, child, -1, st,
			      copy_source, 0);
}

int fs_ev_object_fd(struct fs_ctx *ctx, uid_t uid, pid_t pid,
		    const char *comm, enum ntf_event_name name,
		    struct fs_inode *dir, const char *child, int openfd,
		    const struct stat *st, const char *copy_source,
		    unsigned flags)
{
	int rc = 0;
	if (!fs_ev_wants(ctx, name) || dir->magic)
		return 0;
	char path_on[512];
	struct cmn_buf pb;
	cmn_buf_init_on(&pb, 64 * 1024, path_on, sizeof(path_on));
	if (!key_into(ctx, dir, child, &pb))
		goto out;
	char *path = pb.data;
	char *slash = strchr(path, '/');
	*slash = '\0';
	if (!ntf_pipeline_matches(ctx->pipeline, name, path, slash + 1))
		goto out;
	struct ntf_event ev = {.name = name, .bucket = path, .key = slash + 1,
			       .size = -1, .copy_source = copy_source,
			       .comm = comm};
	struct ntf_meta meta[META_MAX];
	char *metastore = NULL;
	char etag[33];
	bool hash = false;
	struct stat used;

	/* An object written through a descriptor after its last name went
	 * (unlinked, or replaced by a rename) is no object any more: its
	 * Put would bring back what its Delete removed. */
	if (!ntf_event_is_removed(name) &&
	    object_fields(ctx, dir, child, openfd, st, &used, &ev, meta,
			  &metastore, etag, &hash) &&
	    S_ISREG(used.st_mode) && used.st_nlink == 0)
		goto out_meta;
	/* Only passthrough makes openfd the daemon's own, one the hasher
	 * may read (see fs_etag_submit). */
	int hash_fd = ctx->pt.active ? openfd : -1;
	if (name == NTF_EV_OBJECT_CREATED_PUT && S_ISREG(used.st_mode) &&
	    ctx->ev->links && fs_links_known(ctx->ev->links, &used)) {
		ev.uid = uid;
		ev.pid = (int32_t)pid;
		*slash = '/';
		rc = put_linked(ctx, &ev, path, hash, hash_fd, &used,
				child ? NULL : dir, flags);
		goto out_meta;
	}
	rc = emit_as(ctx, uid, pid, &ev, hash, hash_fd, hash ? &used : NULL,
		     child ? NULL : dir, flags);
out_meta:
	free(metastore);
out:
	cmn_buf_free(&pb);
	return rc;
}

int fs_ev_owe_put(struct fs_ctx *ctx, uid_t uid, pid_t pid, const char *comm,
		  struct fs_inode *ino, uint64_t *id)
{
	*id = 0;
	if (!fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_PUT) || ino->magic)
		return 0;
	char path_on[512];
	struct cmn_buf pb;
	int rc = 0;
	cmn_buf_init_on(&pb, 64 * 1024, path_on, sizeof(path_on));
	if (!key_into(ctx, ino, NULL, &pb))
		goto out;
	char *slash = strchr(pb.data, '/');
	*slash = '\0';
	if (!ntf_pipeline_matches(ctx->pipeline, NTF_EV_OBJECT_CREATED_PUT,
				  pb.data, slash + 1))
		goto out;
	struct ntf_intent in = {.kind = NTF_INTENT_PUT,
				.bucket = pb.data,
				.key = slash + 1,
				.uid = (uint32_t)uid,
				.pid = (int32_t)pid,
				.comm = comm};
	rc = ntf_pipeline_intent(ctx->pipeline, &in, id);
	if (rc == -EAGAIN)
		rc = 0; /* durability none: asynchronous, as its Put is */
	char more[80];
	if (rc < 0 && lost_warn_due(ctx->ev, more))
		cmn_warn("close of %s/%s failed: the Put it owes cannot be "
			 "recorded: %s%s",
			 pb.data, slash + 1, strerror(-rc), more);
out:
	cmn_buf_free(&pb);
	return rc;
}

void fs_ev_intent_done(struct fs_ctx *ctx, uint64_t id)
{
	if (ctx->pipeline)
		ntf_pipeline_intent_done(ctx->pipeline, id);
}

void fs_ev_bucket(struct fs_ctx *ctx, fuse_req_t req, enum ntf_event_name name,
		  const char *bucket)
{
	if (!fs_ev_wants(ctx, name))
		return;
	struct ntf_event ev = {.name = name, .bucket = bucket, .key = "",
			       .size = -1};
	emit(ctx, req, &ev);
}

/* ---- renames ----------------------------------------------------- */

/* Who an event is told as. */
struct caller {
	uid_t uid;
	pid_t pid;
	const char *comm; /* NULL: looked up from pid */
};

struct tree_walk {
	struct fs_ctx *ctx;
	struct caller who;
	bool failed;           /* a record could not be stored */
	const char *root;      /* backing path of the moved directory */
	const char *newprefix; /* "bucket/dir" it now is */
	const char *oldprefix; /* "bucket/dir" it was */
	bool exchange;         /* RENAME_EXCHANGE: old keys may live on */
};

/* The cached eTag of "bucket/key", looked up by path. */
static bool cached_etag_at(struct fs_ctx *ctx, const char *path,
			   const struct stat *st, char out[33])
{
	if (fs_etag_cached(ctx, NULL, NULL, -1, st, out))
		return true; /* from memory */
	int fd = openat(fs_inode_root(ctx->inodes)->fd, path,
			O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct fs_at at = {.dirfd = fd, .name = ""};
	bool ok = fs_etag_cached(ctx, NULL, &at, -1, st, out);
	close(fd);
	return ok;
}

/* Is "bucket/key" an object now (anything but a directory)? */
static bool object_exists(struct fs_ctx *ctx, const char *path)
{
	struct stat st;
	return fstatat(fs_inode_root(ctx->inodes)->fd, path, &st,
		       AT_SYMLINK_NOFOLLOW) == 0 &&
	       !S_ISDIR(st.st_mode);
}

/* Did emit_as store what it had to (or drop it as durability none may)? */
static bool stored(int rc)
{
	return rc >= 0 || rc == -EAGAIN;
}

/* Copy newkey from oldkey, then Delete oldkey: always after a rename;
 * after an exchange only when oldkey is no object any more (what the
 * other side brought has no object of that name).  False when a record
 * could not be stored. */
static bool emit_pair(struct fs_ctx *ctx, const struct caller *who,
		      const char *newkey, const char *oldkey,
		      const struct stat *st, bool exchange)
{
	bool del = !exchange || !object_exists(ctx, oldkey), ok = true;
	char *nk = strdup(newkey), *ok_key = strdup(oldkey);
	char *ns = nk ? strchr(nk, '/') : NULL;
	char *os = ok_key ? strchr(ok_key, '/') : NULL;
	if (ns && os) {
		*ns = *os = '\0';
		struct ntf_event c = {.name = NTF_EV_OBJECT_CREATED_COPY,
				      .bucket = nk, .key = ns + 1,
				      .size = st ? st->st_size : -1,
				      .copy_source = oldkey,
				      .comm = who->comm};
		char etag[33];
		bool hash = false;
		if (fs_ev_wants(ctx, c.name) && st && S_ISREG(st->st_mode)) {
			if (cached_etag_at(ctx, newkey, st, etag))
				c.etag = etag;
			else
				hash = ctx->etag != NULL;
		}
		if (fs_ev_wants(ctx, c.name))
			ok = stored(emit_as(ctx, who->uid, who->pid, &c, hash,
					    -1, st, NULL, 0));
		struct ntf_event d = {.name = NTF_EV_OBJECT_REMOVED_DELETE,
				      .bucket = ok_key, .key = os + 1,
				      .size = -1,
				      .comm = who->comm};
		if (del && fs_ev_wants(ctx, d.name))
			ok = stored(emit_as(ctx, who->uid, who->pid, &d, false,
					    -1, NULL, NULL, 0)) &&
			     ok;
	} else {
		ok = false; /* out of memory */
	}
	free(nk);
	free(ok_key);
	return ok;
}

/* nftw has no user argument; the walk is single-threaded per request, so
 * a thread-local carries it. */
static _Thread_local struct tree_walk *cur_walk;

static int walk_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	struct tree_walk *w = cur_walk;
	if (type == FTW_D || type == FTW_DP || type == FTW_DNR)
		return 0;
	/* Without a stat (gone meanwhile, or not searchable), the pair is
	 * still told, without size or eTag. */
	if (type == FTW_NS)
		st = NULL;
	const char *rel = path + strlen(w->root);
	struct cmn_buf nk, ok;
	cmn_buf_init(&nk, 64 * 1024);
	cmn_buf_init(&ok, 64 * 1024);
	if (cmn_buf_printf(&nk, "%s%s", w->newprefix, rel) == 0 &&
	    cmn_buf_printf(&ok, "%s%s", w->oldprefix, rel) == 0)
		w->failed |= !emit_pair(w->ctx, &w->who, nk.data, ok.data, st,
					w->exchange);
	else
		w->failed = true;
	cmn_buf_free(&nk);
	cmn_buf_free(&ok);
	return 0;
}

/* The pairs for every object below the directory dirfd/name (dirfd: a
 * directory of the backing tree), which is "newprefix" now and was
 * "oldprefix".  False when some record could not be stored (or the walk
 * could not run). */
static bool walk_moved(struct fs_ctx *ctx, const struct caller *who,
		       int dirfd, const char *name, const char *newprefix,
		       const char *oldprefix, bool exchange)
{
	struct cmn_buf full;
	bool ok = false;
	cmn_buf_init(&full, 64 * 1024);
	if (cmn_buf_printf(&full, "/proc/self/fd/%d/%s", dirfd, name) == 0) {
		struct tree_walk w = {.ctx = ctx, .who = *who,
				      .root = full.data,
				      .newprefix = newprefix,
				      .oldprefix = oldprefix,
				      .exchange = exchange};
		cur_walk = &w;
		ok = nftw(full.data, walk_one, 16, FTW_PHYS) == 0 && !w.failed;
		cur_walk = NULL;
	}
	cmn_buf_free(&full);
	return ok;
}

/* Record that the pairs of st, about to move to newprefix from oldprefix,
 * are owed, in *id: its own (a file) or those of every object below it (a
 * directory).  Returns 0 or -errno: the rename must
 * not happen (with durability=none, -EAGAIN is not an error: *id is 0 and
 * the rename goes on). */
static int owe_pairs(struct fs_ctx *ctx, const struct caller *who,
		     char *newprefix, const char *oldprefix,
		     const struct stat *st, bool exchange, bool ended,
		     bool created, uint64_t *id)
{
	char *slash = strchr(newprefix, '/');
	if (slash)
		*slash = '\0';
	struct ntf_intent in = {.kind = NTF_INTENT_RENAME,
				.flags = (exchange ? NTF_INTENT_EXCHANGE : 0) |
					 (ended ? NTF_INTENT_ENDED : 0) |
					 (created ? NTF_INTENT_CREATED : 0),
				.bucket = newprefix,
				.key = slash ? slash + 1 : "",
				.arg = oldprefix,
				.dev = (uint64_t)st->st_dev,
				.ino = (uint64_t)st->st_ino,
				.uid = (uint32_t)who->uid,
				.pid = (int32_t)who->pid,
				.comm = who->comm};
	int rc = ntf_pipeline_intent(ctx->pipeline, &in, id);
	if (slash)
		*slash = '/';
	char more[80];
	if (rc < 0 && rc != -EAGAIN && lost_warn_due(ctx->ev, more))
		cmn_warn("rename of %s to %s refused: cannot record its "
			 "events' intent: %s%s",
			 oldprefix, newprefix, strerror(-rc), more);
	return rc == -EAGAIN ? 0 : rc;
}

/* The caller of req, its command name in comm. */
static struct caller caller_of(struct fs_ctx *ctx, fuse_req_t req,
			       char comm[17])
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	fs_ev_comm(ctx, fc->pid, comm);
	return (struct caller){fc->uid, fc->pid, comm};
}

int fs_ev_rename_owe(struct fs_ctx *ctx, fuse_req_t req,
		     struct fs_inode *olddir, const char *oldname,
		     struct fs_inode *newdir, const char *newname,
		     unsigned int flags, uint64_t ids[2])
{
	ids[0] = ids[1] = 0;
	enum ntf_event_name ev = fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_COPY)
					 ? NTF_EV_OBJECT_CREATED_COPY
					 : NTF_EV_OBJECT_REMOVED_DELETE;
	if (!fs_ev_wants(ctx, ev))
		return 0;
	int rc = fs_ev_owed_room(ctx, ev);
	if (rc < 0)
		return rc;
	bool exchange = flags & RENAME_EXCHANGE;
	struct stat so, sn;
	bool src = fstatat(olddir->fd, oldname, &so, AT_SYMLINK_NOFOLLOW) == 0;
	bool dst = exchange && fstatat(newdir->fd, newname, &sn,
				       AT_SYMLINK_NOFOLLOW) == 0;
	bool src_dir = src && S_ISDIR(so.st_mode);
	bool dst_dir = dst && S_ISDIR(sn.st_mode);
	if (!src && !dst)
		return 0; /* the rename fails */
	char comm[17];
	struct caller who = caller_of(ctx, req, comm);
	struct cmn_buf oldp, newp;
	cmn_buf_init(&oldp, 64 * 1024);
	cmn_buf_init(&newp, 64 * 1024);
	/* A root name the rename leaves without a directory ends a bucket;
	 * one that gets a directory it had not makes one (rename_events). */
	bool old_root = fs_inode_is_root(olddir);
	bool new_root = fs_inode_is_root(newdir);
	if (fs_inode_path(ctx->inodes, olddir, oldname, &oldp) >= 1 &&
	    fs_inode_path(ctx->inodes, newdir, newname, &newp) >= 1) {
		if (src)
			rc = owe_pairs(ctx, &who, newp.data, oldp.data, &so,
				       exchange, src_dir && old_root && !dst_dir,
				       src_dir && new_root && !dst_dir, &ids[0]);
		if (dst && rc == 0)
			rc = owe_pairs(ctx, &who, oldp.data, newp.data, &sn,
				       exchange, dst_dir && new_root && !src_dir,
				       dst_dir && old_root && !src_dir, &ids[1]);
	}
	cmn_buf_free(&oldp);
	cmn_buf_free(&newp);
	if (rc < 0) {
		ntf_pipeline_intent_done(ctx->pipeline, ids[0]);
		ids[0] = 0;
	}
	return rc;
}

void fs_ev_renamed(struct fs_ctx *ctx, fuse_req_t req,
		   struct fs_inode *olddir, const char *oldname,
		   struct fs_inode *newdir, const char *newname,
		   unsigned int flags, uint64_t intent)
{
	if (!fs_ev_wants(ctx, NTF_EV_OBJECT_CREATED_COPY) &&
	    !fs_ev_wants(ctx, NTF_EV_OBJECT_REMOVED_DELETE)) {
		ntf_pipeline_intent_done(ctx->pipeline, intent); /* unwanted */
		return;
	}
	char comm[17];
	struct caller who = caller_of(ctx, req, comm);
	struct cmn_buf oldp, newp;
	cmn_buf_init(&oldp, 64 * 1024);
	cmn_buf_init(&newp, 64 * 1024);
	int od = fs_inode_path(ctx->inodes, olddir, oldname, &oldp);
	int nd = fs_inode_path(ctx->inodes, newdir, newname, &newp);
	struct stat st;
	if (od < 1 || nd < 1 ||
	    fstatat(newdir->fd, newname, &st, AT_SYMLINK_NOFOLLOW) != 0)
		goto out;
	bool exchange = flags & RENAME_EXCHANGE;
	if (!S_ISDIR(st.st_mode)) {
		struct fs_links *l = ctx->ev->links;
		if (l && S_ISREG(st.st_mode) && fs_links_known(l, &st)) {
			fs_links_forget(l, &st, oldp.data);
			fs_links_add(l, &st, newp.data);
		}
		/* A pair that could not be stored: see below. */
		if (od < 2 || nd < 2 ||
		    emit_pair(ctx, &who, newp.data, oldp.data, &st, exchange))
			ntf_pipeline_intent_done(ctx->pipeline, intent);
		goto out;
	}
	/* A record that could not be stored leaves the intent to the next
	 * daemon, which tells the pairs again. */
	if (walk_moved(ctx, &who, newdir->fd, newname, newp.data, oldp.data,
		       exchange))
		ntf_pipeline_intent_done(ctx->pipeline, intent);
out:
	cmn_buf_free(&oldp);
	cmn_buf_free(&newp);
}

/* ---- intents a crash left undone ---------------------------------- */

static bool load_rules(struct fs_ctx *ctx, int dirfd, const char *name,
		       const char *bucket);

/* Is path (below the root) gone, as far as telling its events goes? */
static bool gone(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ELOOP;
}

/* The owed Put of bucket/key, if that is still a file (if not, what
 * became of it was told: a Delete, or a rename's pair).  True when the
 * intent is settled: told, or nothing to tell. */
static bool recover_put(struct fs_ctx *ctx, const struct caller *who,
			const char *bucket, const char *key)
{
	int root = fs_inode_root(ctx->inodes)->fd, fd = -1;
	struct cmn_buf pb;
	struct stat st;
	bool settled = false;
	cmn_buf_init(&pb, 64 * 1024);
	if (cmn_buf_printf(&pb, "%s/%s", bucket, key) != 0)
		goto out;
	settled = !ntf_pipeline_matches(ctx->pipeline,
					NTF_EV_OBJECT_CREATED_PUT, bucket, key);
	if (settled)
		goto out;
	if (fstatat(root, pb.data, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		settled = gone(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		settled = true; /* no object: nothing to tell */
		goto out;
	}
	fd = openat(root, pb.data,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		settled = gone(errno);
		goto out;
	}
	struct ntf_event ev = {.name = NTF_EV_OBJECT_CREATED_PUT,
			       .bucket = bucket, .key = key, .size = -1,
			       .comm = who->comm};
	struct ntf_meta meta[META_MAX];
	char *metastore = NULL, etag[33];
	bool hash = false;
	struct stat used;
	if (object_fields(ctx, NULL, NULL, fd, NULL, &used, &ev, meta,
			  &metastore, etag, &hash))
		settled = stored(emit_as(ctx, who->uid, who->pid, &ev, hash,
					 fd, &used, NULL, 0));
	free(metastore);
out:
	if (fd >= 0)
		close(fd);
	cmn_buf_free(&pb);
	return settled;
}

/* The pairs of a directory rename, for what is below its new name now,
 * if that is still the directory that was to move; first, when the
 * rename made the new name a bucket, its BucketCreated; then, when the
 * old name was a bucket the rename ended and is no directory now, its
 * BucketRemoved.  Its Deletes are matched with the
 * rules it had, which went with the directory: loaded from there under
 * the old name for the walk, as the daemon that crashed had them. */
static bool recover_pairs(struct fs_ctx *ctx, const struct caller *who,
			  const struct ntf_intent *in)
{
	int root = fs_inode_root(ctx->inodes)->fd;
	struct cmn_buf np;
	struct stat st;
	bool settled = false;
	cmn_buf_init(&np, 64 * 1024);
	if ((in->key[0] ? cmn_buf_printf(&np, "%s/%s", in->bucket, in->key)
			: cmn_buf_printf(&np, "%s", in->bucket)) != 0)
		goto out;
	/* Not what was to move (the rename did not happen, or it moved on
	 * since, and that rename told the rest): nothing.  A file is known
	 * by its inode only (intents without one are a directory's). */
	if (fstatat(root, np.data, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    (in->ino && ((uint64_t)st.st_ino != in->ino ||
			 (uint64_t)st.st_dev != in->dev)) ||
	    (!S_ISDIR(st.st_mode) && !in->ino)) {
		settled = true;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		settled = !in->key[0] ||
			  emit_pair(ctx, who, np.data, in->arg, &st,
				    in->flags & NTF_INTENT_EXCHANGE);
		goto out;
	}
	if ((in->flags & NTF_INTENT_CREATED) &&
	    fs_ev_wants(ctx, NTF_EV_BUCKET_CREATED)) {
		struct ntf_event ev = {.name = NTF_EV_BUCKET_CREATED,
				       .bucket = in->bucket, .key = "",
				       .size = -1, .comm = who->comm};
		if (!stored(emit_as(ctx, who->uid, who->pid, &ev, false, -1,
				    NULL, NULL, 0)))
			goto out;
	}
	bool ended = (in->flags & NTF_INTENT_ENDED) &&
		     !(fstatat(root, in->arg, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		       S_ISDIR(st.st_mode));
	if (ended) {
		pthread_mutex_lock(&ctx->ev->rules_mu);
		load_rules(ctx, root, np.data, in->arg);
		pthread_mutex_unlock(&ctx->ev->rules_mu);
	}
	settled = walk_moved(ctx, who, root, np.data, np.data, in->arg,
			     in->flags & NTF_INTENT_EXCHANGE);
	if (ended) {
		struct ntf_event ev = {.name = NTF_EV_BUCKET_REMOVED,
				       .bucket = in->arg, .key = "",
				       .size = -1, .comm = who->comm};
		if (fs_ev_wants(ctx, ev.name))
			settled = stored(emit_as(ctx, who->uid, who->pid, &ev,
						 false, -1, NULL, NULL, 0)) &&
				  settled;
		fs_ev_bucket_rules_reload(ctx, in->arg); /* drops them */
	}
out:
	cmn_buf_free(&np);
	return settled;
}

static void recover_intent(void *arg, uint64_t id, const struct ntf_intent *in)
{
	struct fs_ctx *ctx = arg;
	struct caller who = {(uid_t)in->uid, (pid_t)in->pid, in->comm};
	bool put = in->kind == NTF_INTENT_PUT;
	bool settled = put ? recover_put(ctx, &who, in->bucket, in->key)
			   : recover_pairs(ctx, &who, in);
	if (!settled) {
		cmn_warn("the %s of %s%s%s, left untold by a crash, could not "
			 "be told now: the next mount tries again",
			 put ? "Put" : "rename's events", in->bucket,
			 in->key[0] ? "/" : "", in->key);
		return;
	}
	cmn_info("told the %s of %s%s%s, left untold by a crash",
		 put ? "Put" : "rename's events", in->bucket,
		 in->key[0] ? "/" : "", in->key);
	ntf_pipeline_intent_done(ctx->pipeline, id);
}

void fs_ev_recover_intents(struct fs_ctx *ctx)
{
	if (!ctx->pipeline)
		return;
	int rc = ntf_pipeline_intents(ctx->pipeline, recover_intent, ctx);
	if (rc < 0)
		cmn_warn("cannot list the events a crash left untold: %s",
			 strerror(-rc));
}

/* ---- rules xattrs ------------------------------------------------ */

/* The bucket an xattr request is about: "" for the root, the bucket name
 * for a bucket directory, NULL otherwise (caller frees). */
static char *rules_scope(struct fs_ctx *ctx, struct fs_inode *ino)
{
	if (ino->magic)
		return NULL;
	if (fs_inode_is_root(ino))
		return strdup("");
	if (!S_ISDIR(ino->type))
		return NULL;
	struct cmn_buf b;
	cmn_buf_init(&b, 1024);
	int depth = fs_inode_path(ctx->inodes, ino, NULL, &b);
	if (depth != 1) {
		cmn_buf_free(&b);
		return NULL;
	}
	return cmn_buf_take(&b);
}

static void set_error(struct fs_ev_state *st, const char *bucket,
		      const char *text)
{
	pthread_mutex_lock(&st->lock);
	struct rule_error **pp = &st->errors;
	while (*pp && strcmp((*pp)->bucket, bucket) != 0)
		pp = &(*pp)->next;
	if (!*pp && text) {
		struct rule_error *e = calloc(1, sizeof(*e));
		if (e && (e->bucket = strdup(bucket))) {
			*pp = e;
		} else {
			free(e);
			pthread_mutex_unlock(&st->lock);
			return;
		}
	}
	if (*pp) {
		free((*pp)->text);
		(*pp)->text = text ? strdup(text) : NULL;
	}
	pthread_mutex_unlock(&st->lock);
}

/* Copy the last error text of bucket into out (malloc'ed) or NULL. */
static char *get_error(struct fs_ev_state *st, const char *bucket)
{
	char *text = NULL;
	pthread_mutex_lock(&st->lock);
	for (struct rule_error *e = st->errors; e; e = e->next)
		if (strcmp(e->bucket, bucket) == 0 && e->text)
			text = strdup(e->text);
	pthread_mutex_unlock(&st->lock);
	return text;
}

/* Validate a document for bucket ("" = global): 0 and the parsed rules
 * in *out (caller owns), or -EINVAL/-ENOTSUP with the S3 error recorded
 * for FS_EV_XATTR_ERROR. */
static int parse_rules(struct fs_ctx *ctx, const char *bucket,
		       const char *xml, size_t len, struct ntf_rules **out)
{
	struct ntf_rules_error err;
	memset(&err, 0, sizeof(err));
	struct ntf_rules_env env = ntf_pipeline_env(ctx->pipeline);
	int rc = ntf_rules_parse(xml, len, &env, out, &err);
	if (rc < 0) {
		char text[sizeof(err.code) + sizeof(err.message) + 4];
		snprintf(text, sizeof(text), "%s: %s", err.code, err.message);
		set_error(ctx->ev, bucket, text);
		cmn_warn("notification rules for %s refused: %s",
			 bucket[0] ? bucket : "the mount root", text);
		return rc == -ENOTSUP ? -ENOTSUP : -EINVAL;
	}
	set_error(ctx->ev, bucket, NULL);
	return 0;
}

/* Put rules in force for bucket ("" = global); takes them over. */
static int install_rules(struct fs_ctx *ctx, const char *bucket,
			 struct ntf_rules *rules)
{
	return ntf_pipeline_set_rules(ctx->pipeline, bucket[0] ? bucket : NULL,
				      rules);
}

/* Store a valid document in the backing directory's xattr, then put it
 * in force: a document the file system refuses (ENOSPC, E2BIG past the
 * room ext4 has for xattrs) leaves the rules in force and stored as they
 * were.  Returns 0 or -errno. */
static int store_rules(struct fs_ctx *ctx, struct fs_inode *ino,
		       const char *bucket, const char *value, size_t size,
		       int flags)
{
	struct ntf_rules *rules = NULL;
	struct fs_ev_state *st = ctx->ev;
	pthread_mutex_lock(&st->rules_mu);
	int rc = parse_rules(ctx, bucket, value, size, &rules);
	if (rc == 0) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", ino->fd);
		rc = setxattr(proc, FS_EV_XATTR_RULES, value, size, flags) == 0
			     ? 0
			     : -errno;
	}
	if (rc == 0) {
		rc = install_rules(ctx, bucket, rules);
		rules = NULL;
	} else if (rules) {
		char text[128];
		snprintf(text, sizeof(text),
			 "InternalError: the document could not be stored: %s",
			 strerror(-rc));
		set_error(st, bucket, text);
		cmn_warn("notification rules for %s not stored: %s",
			 bucket[0] ? bucket : "the mount root", strerror(-rc));
	}
	pthread_mutex_unlock(&st->rules_mu);
	ntf_rules_free(rules);
	return rc;
}

bool fs_ev_setxattr(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		    const char *name, const char *value, size_t size,
		    int flags)
{
	if (strcmp(name, FS_EV_XATTR_ERROR) == 0 ||
	    strcmp(name, FS_EV_XATTR_ETAG) == 0) {
		fuse_reply_err(req, EPERM);
		return true;
	}
	if (strcmp(name, FS_EV_XATTR_RULES) != 0)
		return false;
	char *bucket = rules_scope(ctx, ino);
	int rc = bucket ? store_rules(ctx, ino, bucket, value, size, flags)
			: -ENOTSUP;
	free(bucket);
	fuse_reply_err(req, -rc);
	return true;
}

bool fs_ev_getxattr(struct fs_ctx *ctx, fuse_req_t req, struct fs_inode *ino,
		    const char *name, size_t size)
{
	if (strcmp(name, FS_EV_XATTR_ERROR) != 0)
		return false;
	char *bucket = rules_scope(ctx, ino);
	char *text = bucket ? get_error(ctx->ev, bucket) : NULL;
	size_t len = text ? strlen(text) : 0;
	if (!text)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, text, len);
	free(text);
	free(bucket);
	return true;
}

bool fs_ev_removexattr(struct fs_ctx *ctx, fuse_req_t req,
		       struct fs_inode *ino, const char *name)
{
	if (strcmp(name, FS_EV_XATTR_RULES) != 0)
		return false;
	char *bucket = rules_scope(ctx, ino);
	if (!bucket)
		return false;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", ino->fd);
	pthread_mutex_lock(&ctx->ev->rules_mu);
	int rc = removexattr(proc, name) == 0 ? 0 : errno;
	if (rc == 0)
		install_rules(ctx, bucket, NULL);
	pthread_mutex_unlock(&ctx->ev->rules_mu);
	set_error(ctx->ev, bucket, NULL);
	free(bucket);
	fuse_reply_err(req, rc);
	return true;
}

/* ---- start and stop ---------------------------------------------- */

/* Load the stored document of one directory, if any: true when rules
 * were put in force. */
static bool load_rules(struct fs_ctx *ctx, int dirfd, const char *name,
		       const char *bucket)
{
	char proc[PATH_MAX_PROC];
	if (name)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd,
			 name);
	else
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	ssize_t n = getxattr(proc, FS_EV_XATTR_RULES, NULL, 0);
	if (n <= 0)
		return false;
	char *xml = malloc((size_t)n);
	if (!xml)
		return false;
	n = getxattr(proc, FS_EV_XATTR_RULES, xml, (size_t)n);
	struct ntf_rules *rules = NULL;
	bool loaded = n > 0 &&
		      parse_rules(ctx, bucket, xml, (size_t)n, &rules) == 0 &&
		      install_rules(ctx, bucket, rules) == 0;
	if (loaded)
		cmn_info("loaded notification rules of %s",
			 bucket[0] ? bucket : "the mount root");
	free(xml);
	return loaded;
}

void fs_ev_bucket_rules_reload(struct fs_ctx *ctx, const char *bucket)
{
	if (!ctx->ev || !ctx->pipeline)
		return;
	int root = fs_inode_root(ctx->inodes)->fd;
	struct stat st;
	pthread_mutex_lock(&ctx->ev->rules_mu);
	bool dir = fstatat(root, bucket, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		   S_ISDIR(st.st_mode);
	if (!dir || !load_rules(ctx, root, bucket, bucket)) {
		install_rules(ctx, bucket, NULL);
		set_error(ctx->ev, bucket, NULL);
	}
	pthread_mutex_unlock(&ctx->ev->rules_mu);
}

static void load_all_rules(struct fs_ctx *ctx)
{
	int root = fs_inode_root(ctx->inodes)->fd;
	load_rules(ctx, root, NULL, "");
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		/* DT_UNKNOWN: file systems that do not say (XFS without
		 * ftype); a file has no rules xattr to find. */
		if (de->d_name[0] == '.' ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		load_rules(ctx, root, de->d_name, de->d_name);
	}
	closedir(d);
}

/* Say what the store's open found in its journal (a crash left it). */
static void report_replay(struct fs_ctx *ctx)
{
	struct ntf_store_stats st;
	ntf_store_stats(ntf_pipeline_store(ctx->pipeline), &st);
	if (st.replayed)
		cmn_info("replayed %" PRIu64 " events a crash left in the "
			 "journal", st.replayed);
	if (st.damaged)
		cmn_warn("%s/events.journal: %" PRIu64 " bytes did not "
			 "decode and were skipped (the events in them are "
			 "lost; the ones after them were replayed)",
			 ctx->opts->state, st.damaged);
	ctx->ev_replayed += st.replayed;
	ctx->ev_damaged += st.damaged;
}

int fs_ev_start(struct fs_ctx *ctx)
{
	const struct fs_opts *o = ctx->opts;
	struct ntf_pipeline_opts po = {
		.state_dir = o->state,
		.durability = o->durability,
		.log_max_events = o->log_max_events,
		.log_max_age_ms = o->log_max_age_ms,
		.region = o->region,
		.lock_wait_ms = NTF_LIMIT_STORE_LOCK_WAIT_MS,
		.replayed_earlier = ctx->ev_replayed,
		.damaged_earlier = ctx->ev_damaged,
	};
	char *msg = NULL;
	ctx->ev = calloc(1, sizeof(*ctx->ev));
	if (!ctx->ev) {
		cmn_err("cannot start events: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	pthread_mutex_init(&ctx->ev->lock, NULL);
	pthread_mutex_init(&ctx->ev->rules_mu, NULL);
	ctx->ev->links = fs_links_new(); /* NULL: Puts name one name */
	int rc = ntf_pipeline_open(&po, &ctx->pipeline, &msg);
	if (rc < 0) {
		cmn_err("cannot open the event store in %s: %s", o->state,
			msg ? msg : strerror(-rc));
		free(msg);
		return rc;
	}
	report_replay(ctx);
	/* Stored rules may name configured targets: make them known first. */
	size_t n = 0;
	const struct ntf_target_id *t =
		ctx->dlctl ? ntf_dlctl_targets(ctx->dlctl, &n) : NULL;
	if (n && (rc = ntf_pipeline_set_targets(ctx->pipeline, t, n)) < 0) {
		cmn_err("cannot start events: %s", strerror(-rc));
		return rc;
	}
	load_all_rules(ctx);
	return 0;
}

void fs_ev_stop(struct fs_ctx *ctx)
{
	ntf_pipeline_close(ctx->pipeline);
	ctx->pipeline = NULL;
	if (!ctx->ev)
		return;
	struct rule_error *e = ctx->ev->errors;
	while (e) {
		struct rule_error *next = e->next;
		free(e->bucket);
		free(e->text);
		free(e);
		e = next;
	}
	pthread_mutex_destroy(&ctx->ev->lock);
	pthread_mutex_destroy(&ctx->ev->rules_mu);
	fs_links_free(ctx->ev->links);
	free(ctx->ev);
	ctx->ev = NULL;
}
