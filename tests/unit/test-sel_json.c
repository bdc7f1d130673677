/*
 * test-sel_json.c - the one-pass JSON record scanner (sel_json_scan):
 * what it accepts and rejects, and the top-level members it resolves for
 * the evaluator (first match, match count, case folding, quoted names).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sel_io.h"

static int scan(const char *text)
{
	return sel_json_scan(text, strlen(text), NULL, 0, NULL);
}

static void test_accepts(void **state)
{
	static const char *const ok[] = {
		"{}",
		" { } ",
		"[]",
		"0",
		"-0.5e+10",
		"\"s\"",
		"true",
		"null",
		"{\"a\":[1,{\"b\":[]},\"x\\\"y\\u00e9\\\\\"],\"c\":false}",
		"{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }\r",
		"\"0123456789abcdef0123456789abcdef\\n\"",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		assert_int_equal(scan(ok[i]), 0);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"a\":}",
		"{\"a\" 1}",
		"{\"a\":1,}",
		"[1,]",
		"{\"a\":1}x",
		"{\"a\":1}{}",
		"01",
		"1.",
		"-",
		"1e",
		".5",
		"tru",
		"nul",
		"\"unterminated",
		"\"bad \\q escape\"",
		"\"bad \\u12g4\"",
		"\"raw \x01 control\"",
		"{\"a\":[1,2}",
		"{'a':1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(scan(bad[i]), -EINVAL);
}

static void test_depth(void **state)
{
	char deep[600];
	memset(deep, '[', 300);
	memset(deep + 300, ']', 300);
	assert_int_equal(sel_json_scan(deep, 600, NULL, 0, NULL), -EINVAL);
	assert_int_equal(sel_json_scan(deep + 200, 200, NULL, 0, NULL), 0);
}

static void test_slots(void **state)
{
	const struct sel_jkey keys[] = {
		{.name = "name", .len = 4, .exact = false},
		{.name = "Age", .len = 3, .exact = true},
		{.name = "nope", .len = 4, .exact = false},
		{.name = "", .len = 0, .exact = true},
	};
	struct sel_jslot sl[4];
	const char *rec = "{\"id\":1,\"Name\":\"ann\",\"age\":5,\"Age\":[7],"
			  "\"NAME\":2,\"\":null}";
	assert_int_equal(sel_json_scan(rec, strlen(rec), keys, 4, sl), 0);
	assert_int_equal(sl[0].count, 2); /* Name and NAME: ambiguous */
	assert_int_equal(sl[0].vn, 5);
	assert_memory_equal(sl[0].v, "\"ann\"", 5);
	assert_int_equal(sl[1].count, 1); /* exact: only "Age" */
	assert_memory_equal(sl[1].v, "[7]", 3);
	assert_int_equal(sl[2].count, 0);
	assert_int_equal(sl[3].count, 1);
	assert_memory_equal(sl[3].v, "null", 4);
	/* Not an object: nothing is resolved. */
	assert_int_equal(sel_json_scan("[1]", 3, keys, 4, sl), 0);
	assert_int_equal(sl[0].count + sl[1].count + sl[2].count, 0);
	/* Invalid after a match is still invalid. */
	assert_int_equal(
		sel_json_scan("{\"name\":1,\"x\":tru}", 18, keys, 4, sl),
		-EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
