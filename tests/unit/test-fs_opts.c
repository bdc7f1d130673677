/*
 * test-fs_opts.c - mount command-line parsing: bucketfs's own options,
 * generic mount options passed on, fstab words dropped, errors named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs_opts.h"

static enum fs_opts_result parse(struct fs_opts *o, char *err, int argc,
				 char **argv)
{
	memset(o, 0, sizeof(*o));
	return fs_opts_parse(argc, argv, o, err, 256);
}

static bool has_arg(const struct fs_opts *o, const char *want)
{
	for (int i = 0; i < o->fuse_args.argc; i++)
		if (strstr(o->fuse_args.argv[i], want))
			return true;
	return false;
}

static void test_basic(void **state)
{
	char err[256];
	struct fs_opts o;
	char *argv[] = {"bucketfs", "/tmp", "/", "-f", NULL};
	assert_int_equal(parse(&o, err, 4, argv), FS_OPTS_OK);
	assert_string_equal(o.src, "/tmp");
	assert_string_equal(o.mnt, "/");
	assert_true(o.foreground);
	assert_false(o.debug);
	assert_int_equal(o.passthrough, FS_PT_AUTO);
	assert_int_equal(o.spin_us, FS_RECV_SPIN_US_DEFAULT);
	assert_string_equal(o.state, "/tmp/.bucketfs-state");
	/* single-user: the backing file system checks the daemon's calls */
	assert_false(o.allow_other);
	assert_false(has_arg(&o, "default_permissions"));
	fs_opts_free(&o);
}

static void test_allow_other_checks_permissions(void **state)
{
	char err[256];
	struct fs_opts o;
	char *argv[] = {"bucketfs", "-o", "allow_other", "/tmp", "/", NULL};
	assert_int_equal(parse(&o, err, 5, argv), FS_OPTS_OK);
	assert_true(o.allow_other);
	assert_true(has_arg(&o, "allow_other"));
	assert_true(has_arg(&o, "default_permissions"));
	fs_opts_free(&o);

	char *argv2[] = {"bucketfs", "-o", "default_permissions", "/tmp", "/",
			 NULL};
	assert_int_equal(parse(&o, err, 5, argv2), FS_OPTS_OK);
	assert_false(o.allow_other);
	assert_true(has_arg(&o, "default_permissions"));
	fs_opts_free(&o);
}

static void test_own_options(void **state)
{
	char err[256];
	struct fs_opts o;
	char *argv[] = {"bucketfs", "-o", "passthrough=off,nonempty,spin=0",
			"/tmp", "/", "-d", "-o", "state=/var/tmp/st", NULL};
	assert_int_equal(parse(&o, err, 8, argv), FS_OPTS_OK);
	assert_int_equal(o.passthrough, FS_PT_OFF);
	assert_int_equal(o.spin_us, 0);
	assert_false(has_arg(&o, "spin"));
	assert_true(o.nonempty);
	assert_true(o.debug);
	assert_true(o.foreground);
	assert_string_equal(o.state, "/var/tmp/st");
	assert_false(has_arg(&o, "nonempty"));
	assert_false(has_arg(&o, "passthrough"));
	assert_true(has_arg(&o, "debug"));
	fs_opts_free(&o);
}

/* What mount.fuse3 passes for an fstab line with "defaults". */
static void test_fstab_words(void **state)
{
	char err[256];
	struct fs_opts o;
	char *argv[] = {"bucketfs", "/tmp", "/", "-o",
			"rw,dev,suid,exec,auto,nouser,async,defaults,_netdev,"
			"x-systemd.automount,allow_other,relatime",
			NULL};
	assert_int_equal(parse(&o, err, 5, argv), FS_OPTS_OK);
	assert_true(has_arg(&o, "allow_other"));
	assert_true(has_arg(&o, "suid"));
	assert_false(has_arg(&o, "defaults"));
	assert_false(has_arg(&o, "_netdev"));
	assert_false(has_arg(&o, "x-systemd"));
	fs_opts_free(&o);
}

static void test_errors(void **state)
{
	char err[256];
	struct fs_opts o;
	char *a1[] = {"bucketfs", "/tmp", "/", "-o", "bogus", NULL};
	assert_int_equal(parse(&o, err, 5, a1), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "bogus"));
	fs_opts_free(&o);

	char *a2[] = {"bucketfs", "/tmp", NULL};
	assert_int_equal(parse(&o, err, 2, a2), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "MNT"));
	fs_opts_free(&o);

	char *a3[] = {"bucketfs", "/tmp", "/", "-o", "passthrough=maybe",
		      NULL};
	assert_int_equal(parse(&o, err, 5, a3), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "passthrough"));
	fs_opts_free(&o);

	char *a3b[] = {"bucketfs", "/tmp", "/", "-o", "spin=10001", NULL};
	assert_int_equal(parse(&o, err, 5, a3b), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "spin=10001: at most 10000"));
	fs_opts_free(&o);

	char *a3c[] = {"bucketfs", "/tmp", "/", "-o", "spin=-1", NULL};
	assert_int_equal(parse(&o, err, 5, a3c), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "spin=-1: expected a whole number"));
	fs_opts_free(&o);

	char *a4[] = {"bucketfs", "/tmp", "/", "/usr", NULL};
	assert_int_equal(parse(&o, err, 4, a4), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "/usr"));
	fs_opts_free(&o);

	char *a5[] = {"bucketfs", "--frobnicate", "/tmp", "/", NULL};
	assert_int_equal(parse(&o, err, 4, a5), FS_OPTS_ERROR);
	assert_non_null(strstr(err, "frobnicate"));
	fs_opts_free(&o);
}

static void test_help_version(void **state)
{
	char err[256];
	struct fs_opts o;
	char *a1[] = {"bucketfs", "--help", NULL};
	assert_int_equal(parse(&o, err, 2, a1), FS_OPTS_HELP);
	fs_opts_free(&o);
	char *a2[] = {"bucketfs", "-V", NULL};
	assert_int_equal(parse(&o, err, 2, a2), FS_OPTS_VERSION);
	fs_opts_free(&o);
}

static void test_check(void **state)
{
	char err[256];
	struct fs_opts o;
	char *a1[] = {"bucketfs", "/nonexistent-src", "/tmp", NULL};
	assert_int_equal(parse(&o, err, 3, a1), FS_OPTS_OK);
	assert_true(fs_opts_check(&o, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "nonexistent-src"));
	fs_opts_free(&o);

	char *a2[] = {"bucketfs", "/etc/hostname", "/tmp", NULL};
	assert_int_equal(parse(&o, err, 3, a2), FS_OPTS_OK);
	assert_true(fs_opts_check(&o, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a directory"));
	fs_opts_free(&o);

	char *a3[] = {"bucketfs", "/tmp", "/etc", NULL}; /* not empty */
	assert_int_equal(parse(&o, err, 3, a3), FS_OPTS_OK);
	assert_true(fs_opts_check(&o, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "nonempty"));
	fs_opts_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_allow_other_checks_permissions),
		cmocka_unit_test(test_own_options),
		cmocka_unit_test(test_fstab_words),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
