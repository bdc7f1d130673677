/*
 * fuzz-fs_opts.c - libFuzzer harness for the mount command line and for
 * bucket names.  Both come from users and from scripts: an fstab line or
 * a `mount -o` string, a directory made at the mount root.
 *
 * The input is split at NUL bytes into the arguments after "bucketfs"
 * (at most 32; "-h", "--help", "-V" and "--version" are left out, they
 * only print).  Checked: an error always comes with a one-line message;
 * a command line taken has SRC and MNT and values in range.  Each
 * argument is also given to fs_bucket_name_valid() in a buffer of its
 * exact length (no NUL after it, so ASan sees any read past the name),
 * and a name taken must keep the rules every S3 client relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs_bucket.h"
#include "fs_opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 32

static bool prints(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
	       strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0;
}

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* What a valid name must be, whatever else the rules refuse. */
static void check_bucket(const char *a, size_t len)
{
	char *name = malloc(len ? len : 1);
	if (!name)
		return;
	memcpy(name, a, len);
	bool ok = fs_bucket_name_valid(name, len);
	free(name);
	if (!ok)
		return;
	if (len < 3 || len > 63 || !alnum_lower(a[0]) ||
	    !alnum_lower(a[len - 1]))
		abort();
	for (size_t i = 0; i < len; i++) {
		if (!alnum_lower(a[i]) && a[i] != '.' && a[i] != '-')
			abort();
		if (a[i] == '.' && a[i + 1] == '.')
			abort();
	}
}

static void check_parsed(enum fs_opts_result r, const struct fs_opts *o,
			 const char *err)
{
	if (r == FS_OPTS_ERROR && (err[0] == '\0' || strchr(err, '\n')))
		abort();
	if (r != FS_OPTS_OK)
		return;
	if (!o->src || !o->mnt || !o->state || !o->region || !o->region[0])
		abort();
	if (o->durability != NTF_DURABILITY_COMMIT &&
	    o->durability != NTF_DURABILITY_FSYNC &&
	    o->durability != NTF_DURABILITY_NONE)
		abort();
	if (o->log_max_age_ms < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = "bucketfs";
	for (char *p = buf; p <= buf + size && argc <= MAX_ARGS;) {
		size_t n = strlen(p);
		check_bucket(p, n);
		if (!prints(p))
			argv[argc++] = p;
		p += n + 1;
	}
	argv[argc] = NULL;

	struct fs_opts o;
	memset(&o, 0, sizeof(o));
	char err[512];
	enum fs_opts_result r = fs_opts_parse(argc, argv, &o, err, sizeof(err));
	check_parsed(r, &o, err);
	fs_opts_free(&o);
	free(buf);
	return 0;
}
