/*
 * test-fs_bucket.c - S3 bucket-name validation, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "fs_bucket.h"

static const struct {
	const char *name;
	bool ok;
} cases[] = {
	{"abc", true},
	{"photos", true},
	{"my-bucket.example", true},
	{"a1b2c3", true},
	{"0123456789", true},
	{"b.b-b", true},
	{"ab", false},              /* too short */
	{"", false},
	{"Photos", false},          /* upper case */
	{"my_bucket", false},       /* underscore */
	{"-abc", false},            /* must start with letter or digit */
	{"abc-", false},            /* must end with letter or digit */
	{".abc", false},
	{"abc.", false},
	{"a..b", false},            /* adjacent periods */
	{"192.168.5.4", false},     /* IP address */
	{"1.2.3", true},            /* not an IP address */
	{"1.2.3.4.5", true},
	{"xn--abc", false},         /* reserved prefixes */
	{"sthree-abc", false},
	{"amzn-s3-demo-x", false},
	{"abc-s3alias", false},     /* reserved suffixes */
	{"abc--ol-s3", false},
	{"abc.mrap", false},
	{"abc--x-s3", false},
	{"a b", false},
	{".bucketfs", false},
	{"abc/def", false},
	{"caf\xc3\xa9", false},
};

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		bool got = fs_bucket_name_valid(cases[i].name,
						strlen(cases[i].name));
		if (got != cases[i].ok)
			fail_msg("'%s': expected %d", cases[i].name,
				 cases[i].ok);
	}
}

static void test_lengths(void **state)
{
	char name[70];
	memset(name, 'a', sizeof(name));
	assert_true(fs_bucket_name_valid(name, 63));
	assert_false(fs_bucket_name_valid(name, 64));
	assert_true(fs_bucket_name_valid(name, 3));
	assert_false(fs_bucket_name_valid(name, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
