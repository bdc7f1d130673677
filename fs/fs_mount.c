/*
 * fs_mount.c - the mount driver: builds the daemon context, mounts,
 * negotiates passthrough, runs the multithreaded request loop and tears
 * everything down again.
 */
#include "fs_mount.h"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cmn_log.h"
#include "fs_ctx.h"
#include "fs_etag.h"
#include "fs_ev.h"
#include "fs_handle.h"
#include "fs_inode.h"
#include "fs_magic.h"
#include "fs_opts.h"
#include "ntf_dlctl.h"
#include "ntf_pipeline.h"
#include "tgt_registry.h"
#include "fs_select.h"

/* Kernel caches hold names and attributes this long; changes made through
 * the mount invalidate them explicitly (the kernel sees them happen). */
#define FS_CACHE_TIMEOUT 86400.0

/* Each cached inode holds an O_PATH descriptor. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Report a failure of ctx_init: rc and the file (or the step) it is
 * about, so the message names the real cause.  Returns rc. */
static int init_failed(int rc, const char *what)
{
	cmn_err("%s: %s", what, strerror(-rc));
	return rc;
}

/* The last component of the resolved path p when its parent is the
 * resolved directory dir, else NULL.  Resolved paths are absolute with no
 * trailing '/': the parent is "/" when the only '/' is the first. */
static const char *child_of(const char *dir, const char *p)
{
	size_t dl = strlen(dir);
	size_t skip = dl == 1 ? 1 : dl + 1; /* past "dir/" ("/" itself: 1) */
	if (strncmp(p, dir, dl) != 0 || (dl > 1 && p[dl] != '/') ||
	    !p[skip] || strchr(p + skip, '/'))
		return NULL;
	return p + skip;
}

/* path with its parent directory resolved but not its last component,
 * which may be a symbolic link: malloc'ed, or NULL with errno set. */
static char *resolve_parent(const char *path)
{
	char *d = strdup(path), *b = strdup(path), *dir = NULL, *out = NULL;
	if (d && b && (dir = realpath(dirname(d), NULL))) {
		const char *sep = strcmp(dir, "/") ? "/" : "";
		if (asprintf(&out, "%s%s%s", dir, sep, basename(b)) < 0)
			out = NULL;
	}
	int e = errno;
	free(dir);
	free(b);
	free(d);
	errno = e;
	return out;
}

/* Refuse a state directory that would show through the mount as part of
 * a bucket (below SRC's top level) or as the root itself (SRC): its
 * files would be objects a user could change or delete, and the bucket
 * could not be removed.  Checked before the store creates it (only its
 * last component is created: the parent exists). */
static int check_state_place(const struct fs_opts *o)
{
	char *src = realpath(o->src, NULL), *state = realpath(o->state, NULL);
	if (!state)
		state = resolve_parent(o->state);
	int rc = 0;
	if (!src || !state)
		goto out; /* the store or the mount says what is wrong */
	size_t sl = strlen(src);
	bool below = strncmp(state, src, sl) == 0 &&
		     (state[sl] == '\0' || state[sl] == '/' || sl == 1);
	if (below && !child_of(src, state)) {
		cmn_err("state=%s: the state directory %s; use a directory "
			"directly in %s (hidden from the mount) or outside it",
			o->state,
			strcmp(state, src) ? "lies inside a bucket"
					   : "is SRC itself",
			src);
		rc = -EINVAL;
	}
out:
	free(state);
	free(src);
	return rc;
}

/* The state directory is hidden when it is a direct child of SRC.  Paths
 * are compared resolved (realpath): state=SRC/./st, SRC//st or a path
 * through a symbolic link name the same directory, which would otherwise
 * show through the mount as a bucket.  A symbolic link in SRC to a state
 * directory elsewhere is hidden too, by its own name.  Called once the
 * store has created the state directory. */
static int find_state_name(struct fs_ctx *ctx)
{
	const struct fs_opts *o = ctx->opts;
	char *src = realpath(o->src, NULL), *state = NULL, *link = NULL;
	int rc = 0;
	if (!src || !(state = realpath(o->state, NULL)) ||
	    !(link = resolve_parent(o->state))) {
		rc = init_failed(-errno, src ? o->state : o->src);
		goto out;
	}
	const char *name = child_of(src, state);
	if (!name)
		name = child_of(src, link);
	if (name && strcmp(name, ".") && strcmp(name, "..") &&
	    !(ctx->state_name = strdup(name)))
		rc = init_failed(-ENOMEM, "state directory");
out:
	free(link);
	free(state);
	free(src);
	return rc;
}

static bool kernel_has_passthrough(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 9);
}

/* passthrough=on is a promise: refuse to mount when it cannot be kept. */
static int check_passthrough(const struct fs_opts *o)
{
	if (o->passthrough != FS_PT_ON)
		return 0;
	if (!kernel_has_passthrough()) {
		cmn_err("passthrough=on: the kernel has no FUSE passthrough "
			"(needs Linux >= 6.9)");
		return -ENOTSUP;
	}
	if (!fs_pt_privileged()) {
		cmn_err("passthrough=on: needs CAP_SYS_ADMIN (run as root, or "
			"use passthrough=auto)");
		return -EPERM;
	}
	return 0;
}

/* The delivery controller's reload eventfd, for the SIGHUP handler (a
 * signal handler can reach nothing else); -1 when there is none. */
static volatile sig_atomic_t reload_fd = -1;

/* SIGHUP: ask the controller's thread to reload the target configuration.
 * Only async-signal-safe work here: one write(2). */
static void on_sighup(int sig)
{
	int saved = errno;
	uint64_t one = 1;
	int fd = reload_fd;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		errno = saved;
	errno = saved;
}

/* libfuse's handlers make SIGHUP end the session; ours reloads instead. */
static int install_sighup(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sighup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(SIGHUP, &sa, NULL) == 0 ? 0 : -errno;
}

/* Load the target configuration: a bad one refuses the mount. */
static int delivery_load(struct fs_ctx *ctx)
{
	const struct fs_opts *o = ctx->opts;
	struct ntf_dlctl_opts d = {
		.config_path = o->config,
		.insecure = o->insecure_config,
		.environ = environ,
		.types = tgt_registry,
		.state_dir = o->state,
		.region = o->region,
	};
	char err[512] = "";
	int rc = tgt_registry_init(err, sizeof(err));
	if (rc == 0)
		rc = ntf_dlctl_load(&d, &ctx->dlctl, err, sizeof(err));
	else
		return cmn_err("cannot set up delivery targets: %s", err), rc;
	ctx->dlv_global = true;
	if (rc < 0)
		cmn_err("bad target configuration: %s", err);
	return rc;
}

static int delivery_start(struct fs_ctx *ctx)
{
	char err[512] = "";
	int rc = ntf_dlctl_start(ctx->dlctl, ctx->pipeline, err, sizeof(err));
	if (rc < 0) {
		cmn_err("cannot start delivery: %s", err);
		return rc;
	}
	reload_fd = ntf_dlctl_reload_fd(ctx->dlctl);
	return 0;
}

/* How long after a change a write may leave a file's mtime unchanged on
 * the file system of rootfd.  None where each write after a stat gets a
 * new stamp (multigrain timestamps, Linux 6.13: ext4, xfs, btrfs, tmpfs);
 * elsewhere (every file system of Debian 12's 6.1, ext2 and others still)
 * a write within the clock tick of the one before keeps its mtime, and on
 * a file system stamping whole seconds, within that second.  With FUSE
 * passthrough the daemon never sees a write and tells a changed file by
 * size and mtime (op_flush): within this window it cannot, and takes it as
 * changed.  Found by writing an unnamed file (O_TMPFILE) twice around a
 * stat, three times (a tick may pass once); unknown counts as a second. */
static long long probe_mtime_window(int rootfd)
{
	const long long second = 1000000000ll;
	int fd = openat(rootfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return second;
	bool kept = false, whole = true;
	for (int i = 0; i < 3; i++) {
		struct stat a, b;
		if (pwrite(fd, "a", 1, 0) != 1 || fstat(fd, &a) != 0 ||
		    pwrite(fd, "b", 1, 0) != 1 || fstat(fd, &b) != 0) {
			close(fd);
			return second;
		}
		whole = whole && a.st_mtim.tv_nsec == 0;
		kept = kept || (a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
				a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
	}
	close(fd);
	struct timespec tick;
	if (!kept)
		return 0;
	if (whole || clock_getres(CLOCK_REALTIME_COARSE, &tick) != 0)
		return second;
	return (long long)tick.tv_sec * second + tick.tv_nsec;
}

static int ctx_init(struct fs_ctx *ctx, const struct fs_opts *o)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->opts = o;
	ctx->pt.mode = o->passthrough;
	ctx->pt.devfd = -1;
	ctx->timeout = FS_CACHE_TIMEOUT;
	ctx->is_root = geteuid() == 0;
	clock_gettime(CLOCK_REALTIME, &ctx->started);
	pthread_mutex_init(&ctx->handles_lock, NULL);
	ctx->handles.next = ctx->handles.prev = &ctx->handles;
	int fd = open(o->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return init_failed(-errno, o->src);
	ctx->mtime_window_ns = probe_mtime_window(fd);
	if (ctx->mtime_window_ns)
		cmn_debug("%s stamps file times coarsely: with passthrough, a "
			  "file opened for writing within %lld us of its last "
			  "change has a Put at close, changed or not",
			  o->src, ctx->mtime_window_ns / 1000);
	int rc = fs_inode_table_new(fd, fs_select_classify, &ctx->inodes);
	if (rc < 0) {
		close(fd);
		return init_failed(rc, o->src);
	}
	rc = fs_magic_init(ctx);
	if (rc == 0)
		rc = fs_select_init(ctx);
	if (rc < 0)
		return init_failed(rc, "cannot set up the mount");
	/* These two say why they fail: a bad target configuration, a bad
	 * state directory. */
	rc = delivery_load(ctx);
	if (rc == 0)
		rc = check_state_place(o);
	/* Open the store once now, so a bad state directory is reported to
	 * the terminal before mounting; it starts for real in ctx_start. */
	if (rc == 0 && (rc = fs_ev_start(ctx)) == 0)
		fs_ev_stop(ctx);
	/* The store has created the state directory: it can be resolved. */
	if (rc == 0)
		rc = find_state_name(ctx);
	return rc;
}

/* Grow the descriptor table to FS_FD_TABLE slots while one thread runs.
 * The kernel grows it by doubling when a new descriptor does not fit, and
 * in a process with threads each growth waits for an RCU grace period
 * (expand_fdtable).  Measured here: a FUSE thread blocked 12 ms, the
 * other CPU busy, in the first burst of creates, as the hasher's
 * descriptors (up to 256) took the table past its 256 slots.
 * 2048 slots (16 KiB) leave room for the hasher and some 1 700 open
 * files.  Nothing is held open: a table never shrinks. */
#define FS_FD_TABLE 2048

static void presize_fd_table(int fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < FS_FD_TABLE)
		return;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, FS_FD_TABLE - 1);
	if (hi >= 0)
		close(hi);
}

/* Without -f: fork, and let the parent wait for the child's word on a
 * pipe (returns the write end in *ready, -1 in the foreground).  Unlike
 * fuse_daemonize(), which lets the parent exit 0 right after the fork,
 * the word comes once the start is done: a start that fails after the
 * fork (the event store taken meanwhile by another daemon) is the
 * command's exit status and message on the terminal, not a silent 0.
 * The parent never returns. */
static int detach(bool foreground, int *ready)
{
	*ready = -1;
	if (foreground)
		return chdir("/") == 0 ? 0 : -errno;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid > 0) {
		char word = 1;
		close(p[1]);
		/* EOF: the child died before its word. */
		while (read(p[0], &word, 1) < 0 && errno == EINTR)
			;
		_exit(word == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") != 0) {
		close(p[1]);
		return -errno;
	}
	*ready = p[1];
	return 0;
}

/* Tell the waiting parent (detach) how the start went; on success the
 * standard streams go to /dev/null, as a daemon's do. */
static void detached(int ready, bool ok)
{
	if (ready < 0)
		return;
	if (ok) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			(void)dup2(null, 0);
			(void)dup2(null, 1);
			(void)dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	char word = ok ? 0 : 1;
	(void)!write(ready, &word, 1);
	close(ready);
}

/* Everything that runs threads starts here, after detach(): a
 * fork keeps only the calling thread. */
static int ctx_start(struct fs_ctx *ctx)
{
	presize_fd_table(fs_inode_root(ctx->inodes)->fd);
	int rc = fs_ev_start(ctx);
	if (rc == 0)
		rc = delivery_start(ctx);
	if (rc == 0)
		rc = fs_etag_start(ctx);
	if (rc == 0)
		fs_ev_recover_intents(ctx);
	return rc;
}

static void ctx_free(struct fs_ctx *ctx)
{
	/* Handles the kernel never released: their Puts first, while the
	 * pipeline still runs. */
	if (ctx->handles.next)
		fs_handle_close_all(ctx);
	reload_fd = -1;
	ntf_dlctl_free(ctx->dlctl); /* workers stop before the store closes */
	ctx->dlctl = NULL;
	fs_select_free(ctx);
	fs_etag_stop(ctx);
	fs_ev_stop(ctx);
	fs_magic_free(ctx);
	fs_inode_table_free(ctx->inodes);
	free(ctx->state_name);
	if (ctx->dlv_global)
		tgt_registry_cleanup();
	ctx->dlv_global = false;
}

static int serve(struct fs_ctx *ctx, struct fuse_session *se)
{
	const struct fs_opts *o = ctx->opts;
	if (o->single_thread)
		return fuse_session_loop(se);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	/* A long .select query holds a thread (waiting live-stream reads
	 * do not: they are parked, see fs_magic.c). */
	fuse_loop_cfg_set_max_threads(cfg, 256);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	int rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

int fs_mount_run(const struct fs_opts *o)
{
	struct fs_ctx ctx;
	/* fuse_session_new() rewrites its arguments: give it a copy. */
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int status = 1, rc;

	for (int i = 0; i < o->fuse_args.argc; i++)
		if (fuse_opt_add_arg(&args, o->fuse_args.argv[i]) != 0) {
			fuse_opt_free_args(&args);
			return 1;
		}

	if (check_passthrough(o) != 0)
		goto out_args;
	raise_fd_limit();
	rc = ctx_init(&ctx, o);
	if (rc < 0) {
		/* ctx_init said why: SRC is not always the culprit. */
		ctx_free(&ctx);
		goto out_args;
	}
	struct fuse_session *se = fuse_session_new(&args, &fs_ops,
						   sizeof(fs_ops), &ctx);
	if (!se)
		goto out;
	ctx.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (install_sighup() != 0)
		goto out_signals;
	if (fuse_session_mount(se, o->mnt) != 0)
		goto out_signals;
	if ((rc = fs_pt_install(&ctx.pt, se, o->spin_us)) != 0) {
		cmn_err("cannot install passthrough I/O: %s", strerror(-rc));
		goto out_unmount;
	}
	int ready;
	if ((rc = detach(o->foreground, &ready)) != 0) {
		cmn_err("cannot go to the background: %s", strerror(-rc));
		goto out_unmount;
	}
	if ((rc = ctx_start(&ctx)) != 0) {
		cmn_err("cannot start the event pipeline: %s", strerror(-rc));
		detached(ready, false);
		goto out_unmount;
	}
	detached(ready, true);
	rc = serve(&ctx, se);
	/* Handles the kernel never released: closed while the session can
	 * still take the answers owed to reads parked on them (fs_magic). */
	fs_handle_close_all(&ctx);
	if (o->passthrough == FS_PT_ON && !ctx.pt.active)
		rc = -ENOTSUP; /* op_init said why and ended the session */
	/* libfuse reports the signal that ended the loop as a positive
	 * number: SIGINT/SIGTERM are a clean unmount. */
	status = rc >= 0 ? 0 : 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	fs_pt_fini(&ctx.pt);
out:
	ctx_free(&ctx);
out_args:
	fuse_opt_free_args(&args);
	return status;
}
