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

/* One -o value each, refused with a message that names it. */
static const struct {
	const char *opt, *err;
} bad_values[] = {
	/* empty: would be the current directory */
	{"state=", "state=: expected a directory"},
	/* strtoull skips blanks and takes a sign: -5 wraps to 2^64 - 5 */
	{"log_max_events= -5", "log_max_events= -5: expected a whole number"},
	{"log_max_events=+5", "log_max_events=+5: expected a whole number"},
	{"log_max_events= 5", "log_max_events= 5: expected a whole number"},
	{"log_max_events=-1", "log_max_events=-1: expected a whole number"},
	{"log_max_events=", "log_max_events=: expected a whole number"},
	{"spin=+5", "spin=+5: expected a whole number"},
	{"spin= -5", "spin= -5: expected a whole number"},
	{"log_max_age=+7d", "log_max_age=+7d: expected a duration"},
	{"log_max_age= -1", "log_max_age= -1: expected a duration"},
	{"log_max_age=d", "log_max_age=d: expected a duration"},
	/* the region goes into ARNs (fields split at ':') and JSON */
	{"region=", "region=: expected lowercase letters, digits and '-'"},
	{"region=us:east", "region=us:east: expected lowercase letters"},
	{"region=a\"b", "region=a\"b: expected lowercase letters"},
	{"region=US-EAST-1", "region=US-EAST-1: expected lowercase letters"},
	{"region=us east", "region=us east: expected lowercase letters"},
	{"region=us/east", "region=us/east: expected lowercase letters"},
};

/* Every case is tried and each miss printed before the test fails. */
static void test_bad_values(void **state)
{
	int misses = 0;
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(*bad_values); i++) {
		char err[256];
		struct fs_opts o;
		char *argv[] = {"bucketfs", "/tmp", "/", "-o",
				(char *)bad_values[i].opt, NULL};
		enum fs_opts_result r = parse(&o, err, 5, argv);
		if (r != FS_OPTS_ERROR || !strstr(err, bad_values[i].err)) {
			print_error("-o %s: result %d, error '%s', expected "
				    "'%s'\n", bad_values[i].opt, (int)r, err,
				    bad_values[i].err);
			misses++;
		}
		fs_opts_free(&o);
	}
	assert_int_equal(misses, 0);
}

/* Their neighbours that are fine. */
static void test_good_values(void **state)
{
	char err[256];
	struct fs_opts o;
	char *argv[] = {"bucketfs", "/tmp", "/", "-o",
			"region=eu-central-1,log_max_events=0,spin=0,"
			"log_max_age=7d,state=rel",
			NULL};
	assert_int_equal(parse(&o, err, 5, argv), FS_OPTS_OK);
	assert_string_equal(o.region, "eu-central-1");
	assert_int_equal(o.log_max_events, 0);
	assert_int_equal(o.log_max_age_ms, 7 * 86400 * 1000ll);
	assert_non_null(strstr(o.state, "/rel"));
	assert_true(o.state[0] == '/');
	fs_opts_free(&o);

	char *argv2[] = {"bucketfs", "/tmp", "/", NULL};
	assert_int_equal(parse(&o, err, 3, argv2), FS_OPTS_OK);
	assert_string_equal(o.region, "us-east-1");
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
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
