/*
 * test-ntf_journal.c - the journal's frames: encode/decode round trips,
 * the CRC-32C against a bitwise reference (so the SSE4.2 path and the
 * table agree with the standard), torn and corrupt frames.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ntf_journal.h"

static uint32_t ref_crc32c(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t c = 0xFFFFFFFFu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

static void test_reference_check_value(void **state)
{
	(void)state;
	assert_int_equal(ref_crc32c("123456789", 9), 0xE3069283u);
}

static uint32_t frame_crc(const char *frame)
{
	uint32_t crc;
	memcpy(&crc, frame + 4, 4);
	return crc;
}

static void test_event_round_trip(void **state)
{
	(void)state;
	const char *targets[] = {"local", "arn:bucketfs:sqs::A:webhook"};
	/* a record long enough for the 8-byte steps and an odd tail */
	char rec[301];
	memset(rec, 'r', sizeof(rec) - 1);
	rec[sizeof(rec) - 1] = '\0';
	memcpy(rec, "{\"sequencer\":\"0000000000000000\"", 31);
	struct ntf_store_entry e = {
		.time_ms = 1700000000123,
		.event_name = "s3:ObjectCreated:Put",
		.bucket = "photos",
		.key = "a b/c.jpg",
		.record = rec,
		.record_len = strlen(rec),
		.seq_offset = 14,
		.pending = true,
		.targets = targets,
		.n_targets = 2,
	};
	size_t n = ntf_journal_event_size(&e);
	char *buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(ntf_journal_put_event(buf, &e, 0xABC), n);
	assert_int_equal(frame_crc(buf), ref_crc32c(buf + 8, n - 8));
	struct ntf_journal_frame f;
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_int_equal(f.kind, NTF_JOURNAL_EVENT);
	assert_int_equal(f.seq, 0xABC);
	assert_int_equal(f.time_ms, 1700000000123);
	assert_true(f.pending);
	assert_string_equal(f.event_name, "s3:ObjectCreated:Put");
	assert_string_equal(f.bucket, "photos");
	assert_string_equal(f.key, "a b/c.jpg");
	assert_int_equal(f.n_targets, 2);
	assert_string_equal(f.targets, "local");
	assert_string_equal(f.targets + 6, "arn:bucketfs:sqs::A:webhook");
	assert_int_equal(f.record_len, e.record_len);
	assert_memory_equal(f.record, "{\"sequencer\":\"0000000000000ABC\"", 31);
	assert_memory_equal(f.record + 31, rec + 31, e.record_len - 31);
	/* every shorter prefix is a torn frame: "need more" */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ntf_journal_decode(buf, k, &f), 0);
	/* any flipped bit in the body fails the CRC */
	for (size_t k = 8; k < n; k += 37) {
		buf[k] ^= 0x10;
		assert_int_equal(ntf_journal_decode(buf, n, &f), -EBADMSG);
		buf[k] ^= 0x10;
	}
	free(buf);
}

static void test_fin_frames(void **state)
{
	(void)state;
	char buf[64];
	struct ntf_journal_frame f;
	size_t n = ntf_journal_put_fin(buf, 42,
				       "0123456789abcdef0123456789abcdef");
	assert_int_equal(n, ntf_journal_fin_size(true));
	assert_int_equal(frame_crc(buf), ref_crc32c(buf + 8, n - 8));
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_int_equal(f.kind, NTF_JOURNAL_FIN);
	assert_int_equal(f.seq, 42);
	assert_true(f.has_etag);
	assert_string_equal(f.etag, "0123456789abcdef0123456789abcdef");
	n = ntf_journal_put_fin(buf, 43, NULL);
	assert_int_equal(n, ntf_journal_fin_size(false));
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_false(f.has_etag);
}

static void test_intent_frames(void **state)
{
	(void)state;
	char buf[256];
	struct ntf_journal_frame f;
	struct ntf_intent in = {.kind = NTF_INTENT_RENAME,
				.flags = NTF_INTENT_EXCHANGE,
				.bucket = "b1",
				.key = "dir/sub",
				.arg = "b0/old",
				.uid = 1000,
				.pid = -7,
				.comm = "mv",
				.dev = 0x803,
				.ino = 0x123456789aULL};
	size_t n = ntf_journal_put_intent(buf, &in, 77);
	assert_int_equal(n, ntf_journal_intent_size(&in));
	assert_int_equal(frame_crc(buf), ref_crc32c(buf + 8, n - 8));
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_int_equal(f.kind, NTF_JOURNAL_INTENT);
	assert_int_equal(f.seq, 77);
	assert_int_equal(f.intent.kind, NTF_INTENT_RENAME);
	assert_int_equal(f.intent.flags, NTF_INTENT_EXCHANGE);
	assert_int_equal(f.intent.uid, 1000);
	assert_int_equal(f.intent.pid, -7);
	assert_string_equal(f.intent.bucket, "b1");
	assert_string_equal(f.intent.key, "dir/sub");
	assert_string_equal(f.intent.arg, "b0/old");
	assert_string_equal(f.intent.comm, "mv");
	assert_int_equal(f.intent.dev, 0x803);
	assert_int_equal(f.intent.ino, 0x123456789aULL);
	/* Missing strings are empty; a bucket is required to decode. */
	struct ntf_intent put = {.kind = NTF_INTENT_PUT, .bucket = "b",
				 .key = "k"};
	n = ntf_journal_put_intent(buf, &put, 78);
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_string_equal(f.intent.arg, "");
	assert_string_equal(f.intent.comm, "");
	/* Every byte flipped in the body is caught (CRC or structure). */
	for (size_t k = 8; k < n; k++) {
		buf[k] ^= 0x01;
		assert_int_equal(ntf_journal_decode(buf, n, &f), -EBADMSG);
		buf[k] ^= 0x01;
	}
	n = ntf_journal_put_done(buf, 79);
	assert_int_equal(n, ntf_journal_done_size());
	assert_int_equal(ntf_journal_decode(buf, n, &f), (long)n);
	assert_int_equal(f.kind, NTF_JOURNAL_DONE);
	assert_int_equal(f.seq, 79);
	/* Only the start of a frame: wait for more. */
	assert_int_equal(ntf_journal_decode(buf, n - 1, &f), 0);
}

static void test_bad_lengths(void **state)
{
	(void)state;
	char buf[16] = {0};
	struct ntf_journal_frame f;
	/* a zero length or one past the limit is not a frame */
	assert_int_equal(ntf_journal_decode(buf, sizeof(buf), &f), -EBADMSG);
	uint32_t big = 0xFFFFFFFFu;
	memcpy(buf, &big, 4);
	assert_int_equal(ntf_journal_decode(buf, sizeof(buf), &f), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_check_value),
		cmocka_unit_test(test_event_round_trip),
		cmocka_unit_test(test_fin_frames),
		cmocka_unit_test(test_intent_frames),
		cmocka_unit_test(test_bad_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
