/*
 * test-sel_value.c - values: number parsing, comparison, text and JSON
 * printing, and timestamps (parse, print, add, diff, TO_STRING).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmn_buf.h"
#include "sel_value.h"

static void test_parse_numbers(void **state)
{
	int64_t i;
	double f;
	bool is_int;
	assert_int_equal(sel_value_parse_int(" 42 ", 4, &i), 0);
	assert_int_equal(i, 42);
	assert_int_equal(sel_value_parse_int("-9223372036854775808", 20, &i),
			 0);
	assert_int_equal(i, INT64_MIN);
	assert_int_equal(sel_value_parse_int("9223372036854775808", 19, &i),
			 -ERANGE);
	assert_int_equal(sel_value_parse_int("4x", 2, &i), -EINVAL);
	assert_int_equal(sel_value_parse_num("12.50", 5, &f, &i, &is_int), 0);
	assert_false(is_int);
	assert_true(f == 12.5);
	assert_int_equal(sel_value_parse_num("1e3", 3, &f, &i, &is_int), 0);
	assert_true(f == 1000.0);
	assert_int_equal(sel_value_parse_num("nan", 3, &f, &i, &is_int),
			 -EINVAL);
	assert_int_equal(sel_value_parse_num("", 0, &f, &i, &is_int), -EINVAL);
}

static void test_compare(void **state)
{
	struct sel_value a = {.type = SEL_T_INT, .u.i = 1};
	struct sel_value b = {.type = SEL_T_FLOAT, .u.f = 1.0};
	struct sel_value s;
	int c;
	sel_value_str(&s, "1", 1);
	assert_true(sel_value_equal(&a, &b));
	assert_false(sel_value_equal(&a, &s));
	assert_int_equal(sel_value_compare(&a, &s, &c), -EDOM);
	struct sel_value x, y;
	sel_value_str(&x, "ab", 2);
	sel_value_str(&y, "abc", 3);
	assert_int_equal(sel_value_compare(&x, &y, &c), 0);
	assert_true(c < 0);
}

static void test_print(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 1024);
	struct sel_value v = {.type = SEL_T_FLOAT, .u.f = 3};
	sel_value_to_text(&v, &b);
	assert_string_equal(b.data, "3.0");
	cmn_buf_reset(&b);
	v.u.f = 0.1;
	sel_value_to_text(&v, &b);
	assert_string_equal(b.data, "0.1");
	cmn_buf_reset(&b);
	sel_value_json_quote("a\"\n\x01", 4, &b);
	assert_string_equal(b.data, "\"a\\\"\\n\\u0001\"");
	cmn_buf_reset(&b);
	sel_value_json_minify("{ \"a b\" : [1, 2] }", 18, &b);
	assert_string_equal(b.data, "{\"a b\":[1,2]}");
	cmn_buf_free(&b);
}

/* What sel_value_fmt_double printed before its fast path: the shortest
 * of %.15g..%.17g that reads back as d. */
static void fmt_reference(double d, char *out, size_t n)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

static void check_double(double d)
{
	char want[48];
	struct cmn_buf b;
	cmn_buf_init(&b, 256);
	fmt_reference(d, want, sizeof(want));
	assert_int_equal(sel_value_fmt_double(d, false, &b), 0);
	if (strcmp(b.data, want) != 0)
		fail_msg("%.17g: got %s, want %s", d, b.data, want);
	cmn_buf_free(&b);
}

/* The fast path for short decimals prints what printf does, for decimals
 * of every digit count and scale, their neighbours, and arbitrary bit
 * patterns. */
static void test_print_doubles(void **state)
{
	static const double edge[] = {
		0.0,	  -0.0,	   1e-4,    9.9999e-5, 1e-5,   0.00012,
		1e15,	  999999999999999.0, 99999999999999.9, 1e14 + 0.5,
		254.73,	  -37.66,  0.1,	    0.3,       2.675,  1.005,
		123456.789012, 5e-324, 1.7976931348623157e308,
		0.000123456, 100,   2500,    -0.05,
	};
	for (size_t i = 0; i < sizeof(edge) / sizeof(*edge); i++)
		check_double(edge[i]);
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % 8), digits = 1 + (int)((x >> 3) % 16);
		int64_t m = (int64_t)((x >> 8) % 10000000000000000ull);
		for (int j = digits; j < 16; j++)
			m /= 10;
		double p = 1;
		for (int j = 0; j < k; j++)
			p *= 10;
		double d = (double)m / p * ((x >> 63) ? -1 : 1);
		check_double(d);
		check_double(nextafter(d, INFINITY));
		double r;
		memcpy(&r, &x, sizeof(r));
		if (!isnan(r) && !isinf(r))
			check_double(r);
	}
}

/* sel_time_format as it was written with printf. */
static void ts_reference(const struct sel_ts *ts, char *o, size_t n)
{
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	int k = snprintf(o, n, "%04" PRId64, tm.year);
	if (ts->prec >= SEL_TS_MONTH)
		k += snprintf(o + k, n - k, "-%02d", tm.month);
	if (ts->prec >= SEL_TS_DAY)
		k += snprintf(o + k, n - k, "-%02d", tm.day);
	k += snprintf(o + k, n - k, "T");
	if (ts->prec < SEL_TS_MINUTE)
		return;
	k += snprintf(o + k, n - k, "%02d:%02d", tm.hour, tm.minute);
	if (ts->prec >= SEL_TS_SECOND)
		k += snprintf(o + k, n - k, ":%02d", tm.second);
	if (ts->prec == SEL_TS_FRAC) {
		int ns = tm.nsec;
		for (int i = ts->fdigits; i < 9; i++)
			ns /= 10;
		k += snprintf(o + k, n - k, ".%0*d", (int)ts->fdigits, ns);
	}
	int off = ts->off_min < 0 ? -ts->off_min : ts->off_min;
	if (ts->off_unknown)
		snprintf(o + k, n - k, "-00:00");
	else if (!ts->off_min)
		snprintf(o + k, n - k, "Z");
	else
		snprintf(o + k, n - k, "%c%02d:%02d",
			 ts->off_min < 0 ? '-' : '+', off / 60, off % 60);
}

static void test_format_timestamps(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	struct cmn_buf b;
	cmn_buf_init(&b, 256);
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		struct sel_ts ts = {0};
		/* Years -300..12000 around the fast path's 0..9999. */
		ts.secs = (int64_t)(x % 385000000000ull) - 71000000000ll;
		ts.nsec = (int32_t)((x >> 20) % 1000000000u);
		ts.prec = (uint8_t)((x >> 50) % 6);
		ts.fdigits = (uint8_t)((x >> 53) % 10);
		ts.off_min = (int16_t)((int)((x >> 40) % 1681) - 840);
		ts.off_unknown = ((x >> 58) & 7) == 0;
		char want[64];
		ts_reference(&ts, want, sizeof(want));
		cmn_buf_reset(&b);
		assert_int_equal(sel_time_format(&ts, &b), 0);
		if (strcmp(b.data, want) != 0)
			fail_msg("secs %lld prec %d: got %s, want %s",
				 (long long)ts.secs, ts.prec, b.data, want);
	}
	cmn_buf_free(&b);
}

static void ts_round_trip(const char *in, const char *out)
{
	struct sel_ts ts;
	struct cmn_buf b;
	cmn_buf_init(&b, 256);
	assert_int_equal(sel_time_parse(in, strlen(in), &ts), 0);
	sel_time_format(&ts, &b);
	assert_string_equal(b.data, out);
	cmn_buf_free(&b);
}

static void test_timestamps(void **state)
{
	struct sel_ts ts, t2;
	ts_round_trip("2007T", "2007T");
	ts_round_trip("2007-02T", "2007-02T");
	ts_round_trip("2007-02-23", "2007-02-23T");
	ts_round_trip("2007-02-23T12:14Z", "2007-02-23T12:14Z");
	ts_round_trip("2007-02-23T12:14:33.079-08:00",
		      "2007-02-23T12:14:33.079-08:00");
	assert_int_equal(sel_time_parse("2007-02-30", 10, &ts), -EINVAL);
	assert_int_equal(sel_time_parse("2007-02-23T12:14", 16, &ts), -EINVAL);
	assert_int_equal(sel_time_parse("2010T", 5, &ts), 0);
	assert_int_equal(sel_time_add(&ts, SEL_DP_MONTH, 1), 0);
	assert_int_equal(ts.prec, SEL_TS_MONTH);
	assert_int_equal(sel_time_parse("2010-01-01T23:00Z", 17, &ts), 0);
	assert_int_equal(sel_time_parse("2010-01-02T01:00Z", 17, &t2), 0);
	assert_int_equal(sel_time_diff(SEL_DP_DAY, &ts, &t2), 0);
	assert_int_equal(sel_time_diff(SEL_DP_HOUR, &ts, &t2), 2);
	assert_int_equal(sel_time_diff(SEL_DP_HOUR, &t2, &ts), -2);
	assert_int_equal(sel_time_extract(SEL_DP_YEAR, &ts), 2010);
	struct cmn_buf b;
	size_t bad = 0;
	cmn_buf_init(&b, 256);
	assert_int_equal(
		sel_time_to_string(&ts, "yyyy-MM-dd'T'HH:mmX", 19, &b, &bad),
		0);
	assert_string_equal(b.data, "2010-01-01T23:00Z");
	cmn_buf_reset(&b);
	assert_int_equal(sel_time_to_string(&ts, "yQ", 2, &b, &bad), -EINVAL);
	assert_int_equal(bad, 1);
	cmn_buf_free(&b);
}

/* UPPER / LOWER: Unicode simple case mapping; bytes that are not UTF-8
 * (a stray continuation, a cut sequence, an overlong form) stay. */
static void test_case_mapping(void **state)
{
	(void)state;
	static const struct {
		const char *in, *up, *lo;
	} cases[] = {
		{"h\xc3\xa9llo", "H\xc3\x89LLO", "h\xc3\xa9llo"},
		{"a\xff\xc3\xa9\xc3", "A\xff\xc3\x89\xc3", "a\xff\xc3\xa9\xc3"},
		{"\xc0\xaf" "b", "\xc0\xaf" "B", "\xc0\xaf" "b"},
		{"\xed\xa0\x80x", "\xed\xa0\x80X", "\xed\xa0\x80x"},
		{"\xc4\xb1", "I", "\xc4\xb1"},		     /* dotless i */
		{"\xc8\xba", "\xc8\xba", "\xe2\xb1\xa5"}, /* grows */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);
		char out[64];
		size_t m = sel_value_case(cases[i].in, n, true, out);
		assert_true(m <= n + n / 2);
		assert_int_equal(m, strlen(cases[i].up));
		assert_memory_equal(out, cases[i].up, m);
		m = sel_value_case(cases[i].in, n, false, out);
		assert_true(m <= n + n / 2);
		assert_int_equal(m, strlen(cases[i].lo));
		assert_memory_equal(out, cases[i].lo, m);
	}
}

/* JSON values compare by value: spacing, member order, escapes and the
 * spelling of numbers aside. */
static void test_json_equality(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b;
		bool eq;
	} cases[] = {
		{"[1, 2]", "[1,2]", true},
		{"{\"x\":1,\"y\":2}", "{ \"y\" : 2, \"x\" : 1 }", true},
		{"[1.0, 2]", "[1,2e0]", true},
		{"[0.5]", "[5E-1]", true},
		{"[-0]", "[0.0]", true},
		{"[\"\\u0041\"]", "[\"A\"]", true},
		{"{\"a\":1,\"a\":2}", "{\"a\":2,\"a\":1}", true},
		{"[1,2]", "[2,1]", false},
		{"[12345678901234567890]", "[12345678901234567891]", false},
		{"{\"x\":1}", "{\"x\":1,\"y\":2}", false},
		{"[[]]", "[{}]", false},
		{"[\"1\"]", "[1]", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sel_value a = {.type = SEL_T_JSON}, b = a;
		a.u.s = cases[i].a;
		a.len = (uint32_t)strlen(cases[i].a);
		b.u.s = cases[i].b;
		b.len = (uint32_t)strlen(cases[i].b);
		int c1, c2;
		assert_int_equal(sel_value_compare(&a, &b, &c1), 0);
		assert_int_equal(sel_value_compare(&b, &a, &c2), 0);
		assert_int_equal(c1 == 0, cases[i].eq);
		assert_int_equal(c1, -c2); /* an order, both ways */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_print_doubles),
		cmocka_unit_test(test_format_timestamps),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_case_mapping),
		cmocka_unit_test(test_json_equality),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
