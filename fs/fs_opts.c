/*
 * fs_opts.c - mount command-line parsing and pre-mount checks; see
 * fs_opts.h.
 */
#include "fs_opts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE,
	KEY_HELP,
	KEY_VERSION,
	KEY_NONEMPTY,
	KEY_RO,
	KEY_INSECURE_CONFIG,
};

struct parse_state {
	struct fs_opts *o;
	char *pt;
	char *spin;
	char *state;
	char *durability;
	char *max_events;
	char *max_age;
	char *region;
	char *config;
	char *err;
	size_t errlen;
	int npos;
	bool failed;
	bool help;
	bool version;
};

#define OPT(t, m) {t, offsetof(struct parse_state, m), 0}
static const struct fuse_opt spec[] = {
	OPT("passthrough=%s", pt),
	OPT("spin=%s", spin),
	OPT("state=%s", state),
	OPT("durability=%s", durability),
	OPT("log_max_events=%s", max_events),
	OPT("log_max_age=%s", max_age),
	OPT("region=%s", region),
	OPT("config=%s", config),
	FUSE_OPT_KEY("insecure_config", KEY_INSECURE_CONFIG),
	FUSE_OPT_KEY("nonempty", KEY_NONEMPTY),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_END,
};

/* Generic mount options libfuse applies itself. */
static const char *const passed_on[] = {
	"rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async",
	"sync", "dirsync", "noatime", "allow_other", "auto_unmount",
	"default_permissions", NULL,
};
static const char *const passed_on_prefix[] = {"fsname=", "subtype=",
					       "max_read=", NULL};

/* Words that only mean something to mount(8) or fstab. */
static const char *const dropped[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "_netdev",
	"nofail", "atime", "relatime", "norelatime", "strictatime",
	"nostrictatime", "diratime", "nodiratime", "lazytime", "nolazytime",
	"owner", "group", "loud", "silent", NULL,
};
static const char *const dropped_prefix[] = {"x-", "comment=", "context=",
					     "fscontext=", "defcontext=",
					     "rootcontext=", NULL};

static bool in_list(const char *arg, const char *const *list, bool prefix)
{
	for (; *list; list++) {
		size_t n = strlen(*list);
		if (prefix ? strncmp(arg, *list, n) == 0 : strcmp(arg, *list) == 0)
			return true;
	}
	return false;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct parse_state *ps, const char *fmt, ...)
{
	if (!ps->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ps->err, ps->errlen, fmt, ap);
		va_end(ap);
		/* One line, whatever the value quoted in it holds. */
		for (char *c = ps->err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	ps->failed = true;
	return -1;
}

static int take_positional(struct parse_state *ps, const char *arg)
{
	if (ps->npos >= 2)
		return fail(ps, "unexpected argument '%s'", arg);
	char *abs = realpath(arg, NULL);
	if (!abs) {
		/* Keep the name for the error message fs_opts_check gives. */
		abs = strdup(arg);
		if (!abs)
			return fail(ps, "%s: out of memory", arg);
	}
	if (ps->npos++ == 0)
		ps->o->src = abs;
	else
		ps->o->mnt = abs;
	return 0;
}

static int proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct parse_state *ps = data;
	struct fs_opts *o = ps->o;

	switch (key) {
	case KEY_FOREGROUND:
		o->foreground = true;
		return 0;
	case KEY_DEBUG:
		o->debug = o->foreground = true;
		return 0;
	case KEY_SINGLE:
		o->single_thread = true;
		return 0;
	case KEY_NONEMPTY:
		o->nonempty = true;
		return 0;
	case KEY_INSECURE_CONFIG:
		o->insecure_config = true;
		return 0;
	case KEY_RO:
		o->read_only = true;
		return 1;
	case KEY_HELP:
		ps->help = true;
		return 0;
	case KEY_VERSION:
		ps->version = true;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		return take_positional(ps, arg);
	case FUSE_OPT_KEY_OPT:
		if (strcmp(arg, "allow_other") == 0)
			ps->o->allow_other = true;
		if (in_list(arg, passed_on, false) ||
		    in_list(arg, passed_on_prefix, true))
			return 1;
		if (in_list(arg, dropped, false) ||
		    in_list(arg, dropped_prefix, true))
			return 0;
		if (arg[0] == '-')
			return fail(ps, "unknown option '%s' (see --help)", arg);
		return fail(ps, "unknown mount option '-o %s' (see --help)",
			    arg);
	}
	return 1;
}

static int parse_pt(struct parse_state *ps)
{
	if (!ps->pt || strcmp(ps->pt, "auto") == 0)
		ps->o->passthrough = FS_PT_AUTO;
	else if (strcmp(ps->pt, "on") == 0)
		ps->o->passthrough = FS_PT_ON;
	else if (strcmp(ps->pt, "off") == 0)
		ps->o->passthrough = FS_PT_OFF;
	else
		return fail(ps, "passthrough=%s: expected auto, on or off",
			    ps->pt);
	return 0;
}

static int parse_durability(struct parse_state *ps)
{
	const char *d = ps->durability ? ps->durability : "commit";
	if (strcmp(d, "commit") == 0)
		ps->o->durability = NTF_DURABILITY_COMMIT;
	else if (strcmp(d, "fsync") == 0)
		ps->o->durability = NTF_DURABILITY_FSYNC;
	else if (strcmp(d, "none") == 0)
		ps->o->durability = NTF_DURABILITY_NONE;
	else
		return fail(ps, "durability=%s: expected commit, fsync or none",
			    d);
	return 0;
}

/* strtoull() skips leading blanks and takes a sign ("-5" wraps to
 * 2^64 - 5): a number given here starts with a digit. */
static bool leading_digit(const char *v)
{
	return v[0] >= '0' && v[0] <= '9';
}

/* A count: digits only. */
static int parse_count(struct parse_state *ps, const char *name,
		       const char *v, uint64_t *out)
{
	char *end;
	if (!v)
		return 0;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!leading_digit(v) || *end || errno)
		return fail(ps, "%s=%s: expected a whole number", name, v);
	*out = n;
	return 0;
}

/* spin=USEC: microseconds, 0 (never) .. FS_RECV_SPIN_US_MAX. */
static int parse_spin(struct parse_state *ps)
{
	uint64_t us = FS_RECV_SPIN_US_DEFAULT;
	if (parse_count(ps, "spin", ps->spin, &us) != 0)
		return -1;
	if (us > FS_RECV_SPIN_US_MAX)
		return fail(ps, "spin=%s: at most %d microseconds", ps->spin,
			    FS_RECV_SPIN_US_MAX);
	ps->o->spin_us = (unsigned)us;
	return 0;
}

/* A duration: a number with an optional unit s, m, h or d (seconds by
 * default), e.g. log_max_age=7d. */
static int parse_duration(struct parse_state *ps, const char *name,
			  const char *v, int64_t *out_ms)
{
	char *end;
	if (!v)
		return 0;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	long long unit = 1000;
	if (end != v && *end && !end[1]) {
		switch (*end) {
		case 's': unit = 1000; end++; break;
		case 'm': unit = 60 * 1000; end++; break;
		case 'h': unit = 3600 * 1000; end++; break;
		case 'd': unit = 86400 * 1000; end++; break;
		default: break;
		}
	}
	if (!leading_digit(v) || *end || errno ||
	    n > (unsigned long long)INT64_MAX / (unsigned long long)unit)
		return fail(ps, "%s=%s: expected a duration like 3600, 90m, "
				"12h or 7d", name, v);
	*out_ms = (int64_t)n * unit;
	return 0;
}

/* The state directory defaults to SRC/.bucketfs-state. */
static int resolve_state(struct parse_state *ps)
{
	struct fs_opts *o = ps->o;
	char *path;
	if (ps->state) {
		/* "state=" would be the current directory, not the default. */
		if (!ps->state[0])
			return fail(ps, "%s", "state=: expected a directory");
		path = ps->state[0] == '/' ? strdup(ps->state) : NULL;
		if (!path) {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd)) ||
			    asprintf(&path, "%s/%s", cwd, ps->state) < 0)
				return fail(ps, "state=%s: cannot resolve",
					    ps->state);
		}
	} else if (asprintf(&path, "%s/.bucketfs-state", o->src) < 0) {
		return fail(ps, "%s", "out of memory");
	}
	o->state = path;
	return 0;
}

/* region=NAME: what AWS region names are made of, lowercase letters,
 * digits and '-'.  The name goes into ARNs, matched field by field between
 * ':', and into the JSON of .bucketfs/targets unescaped. */
static int parse_region(struct parse_state *ps)
{
	const char *r = ps->region ? ps->region : "us-east-1";
	if (!r[0] ||
	    strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(r))
		return fail(ps, "region=%s: expected lowercase letters, digits "
				"and '-' (like us-east-1)", r);
	ps->o->region = strdup(r);
	return ps->o->region ? 0 : fail(ps, "%s", "out of memory");
}

/* config=FILE, made absolute (the daemon may chdir before a reload). */
static int resolve_config(struct parse_state *ps)
{
	char cwd[PATH_MAX];
	if (!ps->config[0])
		return fail(ps, "%s", "config=: expected a file name");
	if (ps->config[0] == '/')
		ps->o->config = strdup(ps->config);
	else if (!getcwd(cwd, sizeof(cwd)) ||
		 asprintf(&ps->o->config, "%s/%s", cwd, ps->config) < 0)
		ps->o->config = NULL;
	return ps->o->config ? 0
			     : fail(ps, "config=%s: cannot resolve",
				    ps->config);
}

static enum fs_opts_result finish(struct parse_state *ps)
{
	struct fs_opts *o = ps->o;
	if (ps->help)
		return FS_OPTS_HELP;
	if (ps->version)
		return FS_OPTS_VERSION;
	if (ps->failed)
		return FS_OPTS_ERROR;
	if (ps->npos < 2) {
		snprintf(ps->err, ps->errlen,
			 "missing %s (usage: bucketfs SRC MNT [-f] [-d] "
			 "[-o opt,...])",
			 ps->npos == 0 ? "SRC and MNT" : "MNT");
		return FS_OPTS_ERROR;
	}
	if (parse_pt(ps) != 0 || parse_spin(ps) != 0 ||
	    resolve_state(ps) != 0 ||
	    parse_durability(ps) != 0 ||
	    parse_count(ps, "log_max_events", ps->max_events,
			&o->log_max_events) != 0 ||
	    parse_duration(ps, "log_max_age", ps->max_age,
			   &o->log_max_age_ms) != 0 ||
	    parse_region(ps) != 0)
		return FS_OPTS_ERROR;
	if (ps->config && resolve_config(ps) != 0)
		return FS_OPTS_ERROR;
	/* Only with allow_other can a caller differ from the daemon: without
	 * it the kernel admits only processes of the daemon's uid and gid, and
	 * the backing file system checks the daemon's own calls, which carry
	 * those same ids.  default_permissions would make the kernel re-read
	 * a directory's attributes (a GETATTR round trip) after every create,
	 * unlink or rename in it, for the permission check of the next. */
	if ((o->allow_other &&
	     fuse_opt_add_arg(&o->fuse_args, "-odefault_permissions") != 0) ||
	    fuse_opt_add_arg(&o->fuse_args, "-osubtype=bucketfs") != 0)
		return fail(ps, "%s", "out of memory"), FS_OPTS_ERROR;
	if (o->debug && fuse_opt_add_arg(&o->fuse_args, "-odebug") != 0)
		return fail(ps, "%s", "out of memory"), FS_OPTS_ERROR;
	return FS_OPTS_OK;
}

enum fs_opts_result fs_opts_parse(int argc, char **argv, struct fs_opts *o,
				  char *err, size_t errlen)
{
	struct parse_state ps = {.o = o, .err = err, .errlen = errlen};
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	err[0] = '\0';
	o->fuse_args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_parse(&args, &ps, spec, proc) != 0 && !ps.failed)
		fail(&ps, "%s", "invalid command line");
	o->fuse_args = args;
	enum fs_opts_result r = finish(&ps);
	free(ps.pt);
	free(ps.spin);
	free(ps.state);
	free(ps.durability);
	free(ps.max_events);
	free(ps.max_age);
	free(ps.region);
	free(ps.config);
	return r;
}

static int check_dir(const char *what, const char *path, char *err,
		     size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		if (e == ENOTCONN)
			snprintf(err, errlen,
				 "%s %s: %s (a previous mount died: run "
				 "'fusermount3 -uz %s')",
				 what, path, strerror(e), path);
		else
			snprintf(err, errlen, "%s %s: %s", what, path,
				 strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a directory", what, path);
		return -ENOTDIR;
	}
	return 0;
}

static int check_empty(const char *path, char *err, size_t errlen)
{
	DIR *d = opendir(path);
	if (!d) {
		int e = errno;
		snprintf(err, errlen, "mount point %s: %s", path, strerror(e));
		return -e;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(err, errlen,
				 "mount point %s is not empty (use -o nonempty "
				 "to mount over it anyway)",
				 path);
			rc = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
	return rc;
}

int fs_opts_check(const struct fs_opts *o, char *err, size_t errlen)
{
	int rc = check_dir("source directory", o->src, err, errlen);
	if (rc == 0)
		rc = check_dir("mount point", o->mnt, err, errlen);
	if (rc == 0 && !o->nonempty)
		rc = check_empty(o->mnt, err, errlen);
	if (rc == 0 && strcmp(o->src, o->mnt) == 0) {
		snprintf(err, errlen, "source and mount point are both %s",
			 o->src);
		rc = -EINVAL;
	}
	if (rc == 0 && access("/dev/fuse", R_OK | W_OK) != 0) {
		int e = errno;
		snprintf(err, errlen,
			 "/dev/fuse: %s (is the fuse kernel module loaded and "
			 "the device usable by this user?)",
			 strerror(e));
		rc = -e;
	}
	return rc;
}

void fs_opts_usage(void *fp)
{
	FILE *f = fp;
	fputs("usage: bucketfs SRC MNT [-f] [-d] [-s] [-o opt[,opt...]]\n"
	      "       bucketfs COMMAND [args...]\n"
	      "\n"
	      "Mount the directory SRC on MNT: every top-level directory of "
	      "SRC is a bucket.\n"
	      "\n"
	      "  -f                  stay in the foreground\n"
	      "  -d, -o debug        foreground, and log every FUSE request\n"
	      "  -s                  single-threaded request loop\n"
	      "  -h, --help          this text\n"
	      "  -V, --version       print the version\n"
	      "\n"
	      "bucketfs options (-o):\n"
	      "  passthrough=MODE    auto|on|off: FUSE passthrough for "
	      "regular files\n"
	      "                      (auto: when kernel >= 6.9 and "
	      "CAP_SYS_ADMIN; default auto)\n"
	      "  spin=USEC           how long a FUSE worker polls for the "
	      "next request before\n"
	      "                      sleeping (default 50; 0: never; off "
	      "when bound to one CPU)\n"
	      "  state=DIR           state directory (default "
	      "SRC/.bucketfs-state)\n"
	      "  nonempty            allow mounting over a non-empty "
	      "directory\n"
	      "  durability=MODE     commit|fsync|none: when an event is "
	      "recorded (default commit:\n"
	      "                      in the log's WAL before the operation "
	      "returns; fsync: on disk;\n"
	      "                      none: asynchronously)\n"
	      "  log_max_events=N    keep at most N events in the embedded "
	      "log (default: all)\n"
	      "  log_max_age=AGE     drop logged events older than AGE "
	      "(seconds, or 90m, 12h, 7d)\n"
	      "  region=NAME         the region in ARNs and records "
	      "(default us-east-1)\n"
	      "  config=FILE         delivery targets (default "
	      "$XDG_CONFIG_HOME/bucketfs/bucketfs.conf,\n"
	      "                      ~/.config/bucketfs/bucketfs.conf, "
	      "/etc/bucketfs/bucketfs.conf)\n"
	      "  insecure_config     accept a config file with secrets "
	      "that others can read (warns)\n"
	      "\n"
	      "generic mount options (-o), passed to the kernel:\n"
	      "  ro, rw, allow_other, auto_unmount, nosuid, nodev, noexec, "
	      "noatime,\n"
	      "  sync, dirsync, fsname=NAME, subtype=NAME, max_read=N\n"
	      "  (defaults, auto, noauto, user, _netdev, nofail, x-* are "
	      "accepted and ignored)\n",
	      f);
}

void fs_opts_free(struct fs_opts *o)
{
	free(o->src);
	free(o->mnt);
	free(o->state);
	free(o->region);
	free(o->config);
	fuse_opt_free_args(&o->fuse_args);
	memset(o, 0, sizeof(*o));
}
