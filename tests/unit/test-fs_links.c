/*
 * test-fs_links.c - the names a hard-linked file is known by: adding,
 * listing all but one, forgetting, and the bounds that keep it a hint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fs_links.h"

static struct stat file(ino_t ino)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_dev = 7;
	st.st_ino = ino;
	return st;
}

static size_t count(char **names)
{
	size_t n = 0;
	while (names && names[n])
		n++;
	return n;
}

static void test_names_of_a_file(void **state)
{
	(void)state;
	struct fs_links *l = fs_links_new();
	struct stat a = file(1), b = file(2);
	assert_false(fs_links_known(l, &a));
	fs_links_add(l, &a, "alpha/one");
	fs_links_add(l, &a, "alpha/two");
	fs_links_add(l, &a, "alpha/two"); /* once */
	fs_links_add(l, &b, "beta/x");
	assert_true(fs_links_known(l, &a));
	assert_true(fs_links_known(l, &b));
	assert_false(fs_links_known(l, &(struct stat){.st_dev = 8,
						     .st_ino = 1}));
	char **n = fs_links_names(l, &a, "alpha/one");
	assert_int_equal(count(n), 1);
	assert_string_equal(n[0], "alpha/two");
	fs_links_free_names(n);
	n = fs_links_names(l, &a, "");
	assert_int_equal(count(n), 2);
	fs_links_free_names(n);
	/* the only name known is the one excluded: nothing */
	assert_null(fs_links_names(l, &b, "beta/x"));
	fs_links_free(l);
}

static void test_forget(void **state)
{
	(void)state;
	struct fs_links *l = fs_links_new();
	struct stat a = file(1);
	fs_links_add(l, &a, "alpha/one");
	fs_links_add(l, &a, "alpha/two");
	fs_links_forget(l, &a, "alpha/nope"); /* not a name: nothing */
	fs_links_forget(l, &a, "alpha/one");
	char **n = fs_links_names(l, &a, "");
	assert_int_equal(count(n), 1);
	assert_string_equal(n[0], "alpha/two");
	fs_links_free_names(n);
	fs_links_forget(l, &a, "alpha/two"); /* the last: the file goes */
	assert_false(fs_links_known(l, &a));
	assert_null(fs_links_names(l, &a, ""));
	fs_links_free(l);
}

static void test_bounds(void **state)
{
	(void)state;
	struct fs_links *l = fs_links_new();
	struct stat a = file(1);
	char key[32];
	for (int i = 0; i < FS_LINKS_NAMES + 5; i++) {
		snprintf(key, sizeof(key), "alpha/k%d", i);
		fs_links_add(l, &a, key);
	}
	char **n = fs_links_names(l, &a, "");
	assert_int_equal(count(n), FS_LINKS_NAMES);
	fs_links_free_names(n);
	for (int i = 0; i < FS_LINKS_FILES + 10; i++) {
		struct stat f = file((ino_t)(100 + i));
		fs_links_add(l, &f, "alpha/x");
	}
	struct stat first = file(100), late = file(100 + FS_LINKS_FILES + 5);
	assert_true(fs_links_known(l, &first));
	assert_false(fs_links_known(l, &late)); /* over the bound: a hint */
	fs_links_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_of_a_file),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
