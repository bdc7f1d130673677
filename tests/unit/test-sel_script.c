/*
 * test-sel_script.c - .select scripts: header lines, errors with the line
 * of the SQL inside the file, format inference, and running a script over
 * CSV and JSON objects through pipes-free memfds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "select.h"

static int memfile(const char *text)
{
	int fd = memfd_create("in", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *run(const char *script, const char *name, const char *data,
		 int *rc, struct sel_error *err)
{
	static char out[4096];
	struct sel_script *s = NULL;
	assert_int_equal(sel_script_parse(script, strlen(script), &s, err), 0);
	int in = memfile(data), o = memfd_create("out", 0);
	*rc = sel_script_run(s, name, in, o, NULL, err);
	ssize_t n = pread(o, out, sizeof(out) - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(in);
	close(o);
	sel_script_free(s);
	return out;
}

static void test_headers(void **state)
{
	struct sel_script *s = NULL;
	struct sel_error err;
	const char *text = "-- source: people.csv\n"
			   "-- input: {\"CSV\":{\"FileHeaderInfo\":\"USE\"}}\n"
			   "-- output: {\"JSON\":{}}\n"
			   "-- scan-range: Start=0,End=100\n"
			   "SELECT name FROM S3Object\n";
	assert_int_equal(sel_script_parse(text, strlen(text), &s, &err), 0);
	assert_string_equal(sel_script_source(s), "people.csv");
	assert_string_equal(sel_script_query(s), "SELECT name FROM S3Object\n");
	sel_script_free(s);
	sel_script_free(NULL);
}

static void test_parse_errors(void **state)
{
	struct sel_script *s = NULL;
	struct sel_error err;
	const char *bad = "-- source: x.csv\nSELECT a\nFROM S3Object WHERE (";
	assert_int_equal(sel_script_parse(bad, strlen(bad), &s, &err), -EINVAL);
	assert_null(s);
	assert_string_equal(err.code, "ParseExpectedExpression");
	assert_int_equal(err.line, 3);
	const char *opts =
		"-- input: {\"CSV\":{\"FileHeaderInfo\":\"MAYBE\"}}\n"
		"SELECT * FROM S3Object";
	assert_int_equal(sel_script_parse(opts, strlen(opts), &s, &err),
			 -EINVAL);
	assert_string_equal(err.code, "InvalidFileHeaderInfo");
	const char *conflict = "-- input: {\"CSV\":{},\"JSON\":{}}\n"
			       "SELECT * FROM S3Object";
	assert_int_equal(sel_script_parse(conflict, strlen(conflict), &s, &err),
			 -EINVAL);
	assert_string_equal(err.code, "ObjectSerializationConflict");
	/* A NUL byte in the SQL is an error at its place, and the whole SQL
	 * is looked at (it was copied only up to the NUL). */
	static const char nul[] = "SELECT *\0 FROM S3Object";
	assert_int_equal(sel_script_parse(nul, sizeof(nul) - 1, &s, &err),
			 -EINVAL);
	assert_null(s);
	assert_string_equal(err.code, "LexerInvalidChar");
	assert_int_equal(err.column, 9);
}

static void test_run_csv(void **state)
{
	struct sel_error err;
	int rc;
	char *out = run("SELECT _2 FROM S3Object WHERE _1 = 'b'", "data.csv",
			"a,1\nb,2\n", &rc, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "2\n");
	out = run("-- output: {\"JSON\":{}}\nSELECT s.a FROM S3Object s",
		  "x.ndjson", "{\"a\":1}\n{\"a\":[2]}\n", &rc, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "{\"a\":1}\n{\"a\":[2]}\n");
}

static void test_run_errors(void **state)
{
	struct sel_error err;
	int rc;
	run("SELECT * FROM S3Object", "noext", "x\n", &rc, &err);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err.code, "InvalidDataSource");
	run("SELECT CAST(_1 AS INT) FROM S3Object", "d.csv", "1\nx\n", &rc,
	    &err);
	assert_int_equal(rc, -EIO);
	assert_string_equal(err.code, "CastFailed");
	run("\nSELECT nope FROM S3Object", "d.csv", "1\n", &rc, &err);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err.code, "EvaluatorBindingDoesNotExist");
	assert_int_equal(err.line, 2);
	run("SELECT * FROM S3Object", "d.json", "{\"a\":", &rc, &err);
	assert_int_equal(rc, -EIO);
	assert_string_equal(err.code, "JSONParsingError");
}

/* An inferred CSV/TSV input uses its first line as the header; an explicit
 * "-- input:" keeps S3's FileHeaderInfo default (NONE). */
static void test_infer_header(void **state)
{
	struct sel_error err;
	int rc;
	const char *q = "SELECT s.name FROM S3Object s "
			"WHERE CAST(s.age AS INT) > 30";
	char *out = run(q, "people.csv", "name,age\nann,40\nbob,20\n", &rc,
			&err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "ann\n");
	out = run(q, "people.tsv", "name\tage\nann\t40\nbob\t31\n", &rc,
		  &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "ann\nbob\n");
	out = run("SELECT COUNT(*) FROM S3Object", "p.csv", "h\n1\n2\n", &rc,
		  &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "2\n");
	out = run("-- input: {\"CSV\":{}}\nSELECT COUNT(*) FROM S3Object",
		  "p.csv", "h\n1\n2\n", &rc, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "3\n");
	run("-- input: {\"CSV\":{}}\nSELECT s.name FROM S3Object s", "p.csv",
	    "name\nann\n", &rc, &err);
	assert_int_equal(rc, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_run_csv),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_infer_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
