/*
 * test-cmn_buf.c - the bounded buffer keeps its ceiling and its NUL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmn_buf.h"

static void test_append_and_take(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 1024);
	assert_int_equal(cmn_buf_adds(&b, "hello"), 0);
	assert_int_equal(cmn_buf_addc(&b, ' '), 0);
	assert_int_equal(cmn_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "hello 42-x");
	assert_int_equal(b.len, 10);
	char *s = cmn_buf_take(&b);
	assert_string_equal(s, "hello 42-x");
	assert_null(b.data);
	free(s);
}

static void test_ceiling(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 8);
	assert_int_equal(cmn_buf_adds(&b, "12345678"), 0);
	assert_int_equal(cmn_buf_addc(&b, '9'), -E2BIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	assert_int_equal(cmn_buf_printf(&b, "%s", "x"), -E2BIG);
	assert_true(b.cap <= 9);
	cmn_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	cmn_buf_free(&b);
	cmn_buf_free(&b); /* freeing twice is allowed */
}

static void test_large_growth(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(cmn_buf_adds(&b, "abcdefghij"), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(b.data), 100000);
	cmn_buf_free(&b);
}

/* Starting in caller storage: appends that fit stay there; growing past
 * it moves the contents to the heap intact; take copies; free leaves the
 * storage alone (ASan would catch a free of it). */
static void test_storage(void **state)
{
	char on[8];
	struct cmn_buf b;
	cmn_buf_init_on(&b, 64, on, sizeof(on));
	assert_string_equal(b.data, "");
	assert_int_equal(cmn_buf_adds(&b, "1234567"), 0);
	assert_ptr_equal(b.data, on);
	char *copy = cmn_buf_take(&b);
	assert_ptr_not_equal(copy, on);
	assert_string_equal(copy, "1234567");
	free(copy);

	cmn_buf_init_on(&b, 64, on, sizeof(on));
	assert_int_equal(cmn_buf_adds(&b, "abcdef"), 0);
	assert_int_equal(cmn_buf_printf(&b, "%s", "ghijkl"), 0);
	assert_ptr_not_equal(b.data, on);
	assert_string_equal(b.data, "abcdefghijkl");
	assert_int_equal(cmn_buf_adds(&b, "mnop"), 0);
	assert_string_equal(b.data, "abcdefghijklmnop");
	cmn_buf_free(&b);

	cmn_buf_init_on(&b, 4, on, sizeof(on));
	assert_int_equal(cmn_buf_adds(&b, "12345"), -E2BIG);
	assert_ptr_equal(b.data, on);
	assert_string_equal(b.data, "");
	cmn_buf_free(&b);
	cmn_buf_free(&b);
	assert_null(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_take),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_large_growth),
		cmocka_unit_test(test_storage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
