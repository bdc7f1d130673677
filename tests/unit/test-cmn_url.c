/*
 * test-cmn_url.c - key encoding (specs/events.md §a.4), decoding, and the
 * millisecond ISO-8601 clock format and the monotonic deadlines of cmn_time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cmn_buf.h"
#include "cmn_time.h"
#include "cmn_url.h"

/* §a.4: AWS column (space '+', '/' kept), the undocumented rows as MinIO
 * does them. */
static const struct {
	const char *in;
	const char *aws;
} keys[] = {
	{"red flower.jpg", "red+flower.jpg"},
	{"photos/2024/a b.jpg", "photos/2024/a+b.jpg"},
	{"a+b", "a%2Bb"},
	{"x~y", "x~y"},
	{"x*y", "x%2Ay"},
	{"\xC3\xA9", "%C3%A9"},
	{"", ""},
	{"plain-key_1.txt", "plain-key_1.txt"},
	{"100%", "100%25"},
	{"a&b=c?d#e", "a%26b%3Dc%3Fd%23e"},
	{"tab\there", "tab%09here"},
	{"\xE4\xB8\xAD.txt", "%E4%B8%AD.txt"},
	{"//x//", "//x//"},
	{"q1 final.csv", "q1+final.csv"},
	{"\xFF", "%FF"},
	{"a\\b", "a%5Cb"},
};

static void test_aws_key(void **state)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct cmn_buf b;
		cmn_buf_init(&b, 4096);
		assert_int_equal(cmn_url_encode(&b, keys[i].in,
						strlen(keys[i].in),
						CMN_URL_AWS_KEY),
				 0);
		assert_string_equal(b.data ? b.data : "", keys[i].aws);
		assert_int_equal(cmn_url_encoded_len(keys[i].in,
						     strlen(keys[i].in),
						     CMN_URL_AWS_KEY),
				 strlen(keys[i].aws));
		/* Round trip through the form decoder. */
		struct cmn_buf d;
		cmn_buf_init(&d, 4096);
		assert_int_equal(cmn_url_decode(&d, keys[i].aws,
						strlen(keys[i].aws),
						CMN_URL_SPACE_PLUS),
				 0);
		assert_int_equal(d.len, strlen(keys[i].in));
		if (d.len)
			assert_memory_equal(d.data, keys[i].in, d.len);
		cmn_buf_free(&b);
		cmn_buf_free(&d);
	}
}

static void test_minio_form(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 64);
	const char *k = "photos/2024/a b.jpg";
	assert_int_equal(cmn_url_encode(&b, k, strlen(k), CMN_URL_SPACE_PLUS),
			 0);
	assert_string_equal(b.data, "photos%2F2024%2Fa+b.jpg");
	cmn_buf_reset(&b);
	assert_int_equal(cmn_url_encode(&b, "a b", 3, 0), 0);
	assert_string_equal(b.data, "a%20b");
	cmn_buf_free(&b);
}

static void test_encode_ceiling(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 5);
	assert_int_equal(cmn_url_encode(&b, "abc", 3, 0), 0);
	assert_int_equal(cmn_url_encode(&b, " ", 1, 0), -E2BIG);
	assert_int_equal(b.len, 3);
	cmn_buf_free(&b);
}

static void test_decode_errors(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 64);
	assert_int_equal(cmn_url_decode(&b, "%", 1, 0), -EINVAL);
	cmn_buf_reset(&b);
	assert_int_equal(cmn_url_decode(&b, "%4", 2, 0), -EINVAL);
	cmn_buf_reset(&b);
	assert_int_equal(cmn_url_decode(&b, "%zz", 3, 0), -EINVAL);
	cmn_buf_reset(&b);
	assert_int_equal(cmn_url_decode(&b, "a+b%2f", 6, 0), 0);
	assert_string_equal(b.data, "a+b/");
	cmn_buf_free(&b);
}

static const struct {
	int64_t ms;
	const char *iso;
} times[] = {
	{0, "1970-01-01T00:00:00.000Z"},
	{1, "1970-01-01T00:00:00.001Z"},
	{-1, "1969-12-31T23:59:59.999Z"},
	{951782400000LL, "2000-02-29T00:00:00.000Z"},
	{1795600800123LL, "2026-11-25T10:00:00.123Z"},
	{4107542399999LL, "2100-02-28T23:59:59.999Z"},
	{253402300799999LL, "9999-12-31T23:59:59.999Z"},
	{INT64_MAX, "9999-12-31T23:59:59.999Z"},
	{INT64_MIN, "0000-01-01T00:00:00.000Z"},
};

static void test_iso_ms(void **state)
{
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char out[CMN_TIME_ISO_SIZE];
		assert_int_equal(cmn_time_iso_ms(times[i].ms, out), 24);
		assert_string_equal(out, times[i].iso);
	}
	assert_true(cmn_time_now_ms() > 1700000000000LL);
}

/* Deadlines are normalised and lie the asked time ahead. */
static void test_deadline(void **state)
{
	(void)state;
	const int64_t asks[] = {0, 1, 999, 1000, 1500, 61999};
	for (size_t i = 0; i < sizeof(asks) / sizeof(*asks); i++) {
		struct timespec now, dl = cmn_time_deadline_ms(asks[i]);
		clock_gettime(CLOCK_MONOTONIC, &now);
		assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
		int64_t ahead = (dl.tv_sec - now.tv_sec) * 1000 +
				(dl.tv_nsec - now.tv_nsec) / 1000000;
		assert_true(ahead <= asks[i] && ahead >= asks[i] - 50);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_key),
		cmocka_unit_test(test_minio_form),
		cmocka_unit_test(test_encode_ceiling),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_iso_ms),
		cmocka_unit_test(test_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
