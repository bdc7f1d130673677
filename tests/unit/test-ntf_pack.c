/*
 * test-ntf_pack.c - the packed event of the journal: rendering a packed
 * event gives byte for byte the record ntf_record_json makes of the event
 * itself, for every family and every absent field; decoding and packing
 * again gives the same bytes; any damage is -EBADMSG, never a read past
 * the blob (run under ASan).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmn_buf.h"
#include "ntf_pack.h"
#include "ntf_record.h"

static const struct ntf_meta meta[] = {
	{"owner", "alice"}, {"q", "a\"b\\c\n"}, {"empty", ""}};

static struct ntf_event put_event(void)
{
	return (struct ntf_event){
		.name = NTF_EV_OBJECT_CREATED_PUT,
		.bucket = "data",
		.key = "reports/q1 final \xc3\xa9t\xc3\xa9.csv",
		.size = 1234,
		.etag = "0123456789abcdef0123456789abcdef",
		.meta = meta,
		.n_meta = 3,
		.time_ms = 1795600800123LL,
		.uid = 1000,
		.pid = 4242,
		.comm = "cp",
		.region = "us-east-1",
	};
}

/* The events the FUSE layer sends, and odd ones. */
static size_t all_events(struct ntf_event *ev, size_t max)
{
	size_t n = 0;
	ev[n++] = put_event();
	ev[n] = put_event(); /* pending eTag, no metadata, content type */
	ev[n].etag = "00000000000000000000000000000000";
	ev[n].meta = NULL;
	ev[n].n_meta = 0;
	ev[n++].content_type = "application/x-thing";
	ev[n] = put_event(); /* a copy, with a version and a host */
	ev[n].name = NTF_EV_OBJECT_CREATED_COPY;
	ev[n].copy_source = "data/old name";
	ev[n].version_id = "v1";
	ev[n++].host = "box";
	ev[n++] = (struct ntf_event){.name = NTF_EV_OBJECT_REMOVED_DELETE,
				     .bucket = "data",
				     .key = "gone",
				     .size = -1,
				     .pid = -1};
	ev[n++] = (struct ntf_event){.name = NTF_EV_BUCKET_CREATED,
				     .bucket = "newb",
				     .size = -1,
				     .uid = 4294967295u,
				     .time_ms = -5};
	ev[n] = put_event(); /* invalid UTF-8 and control bytes */
	ev[n].key = "bad\xff\x01key";
	ev[n++].comm = "we\"ird\\";
	assert_true(n <= max);
	return n;
}

static void check_renders_as_record(const struct ntf_event *ev,
				    const char *cfg, uint64_t seq)
{
	struct cmn_buf packed, direct, rendered;
	cmn_buf_init(&packed, 1 << 20);
	cmn_buf_init(&direct, 1 << 20);
	cmn_buf_init(&rendered, 1 << 20);
	assert_int_equal(ntf_pack_event(ev, cfg, &packed), 0);
	struct ntf_event with_seq = *ev;
	with_seq.sequencer = seq;
	assert_int_equal(ntf_record_json(&with_seq, cfg, &direct), 0);
	assert_int_equal(
		ntf_pack_render(packed.data, packed.len, seq, &rendered), 0);
	assert_string_equal(rendered.data, direct.data);
	assert_true(packed.len < direct.len);
	cmn_buf_free(&packed);
	cmn_buf_free(&direct);
	cmn_buf_free(&rendered);
}

static void test_renders_as_record(void **state)
{
	(void)state;
	struct ntf_event ev[16];
	size_t n = all_events(ev, 16);
	for (size_t i = 0; i < n; i++) {
		check_renders_as_record(&ev[i], "cfg-1", 1 + i);
		check_renders_as_record(&ev[i], NULL, 0xFEDCBA9876543210ULL);
		check_renders_as_record(&ev[i], "", 0);
	}
}

static void test_decode_packs_the_same(void **state)
{
	(void)state;
	struct ntf_event ev[16];
	size_t n = all_events(ev, 16);
	for (size_t i = 0; i < n; i++) {
		struct cmn_buf a, b;
		cmn_buf_init(&a, 1 << 20);
		cmn_buf_init(&b, 1 << 20);
		assert_int_equal(ntf_pack_event(&ev[i], "c", &a), 0);
		struct ntf_unpacked u;
		assert_int_equal(ntf_pack_decode(a.data, a.len, &u), 0);
		assert_string_equal(u.config_id, "c");
		assert_int_equal(u.ev.name, ev[i].name);
		assert_int_equal(u.ev.size, ev[i].size);
		assert_int_equal(u.ev.n_meta, ev[i].n_meta);
		assert_int_equal(ntf_pack_event(&u.ev, u.config_id, &b), 0);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
		ntf_pack_unpacked_free(&u);
		cmn_buf_free(&a);
		cmn_buf_free(&b);
	}
}

/* Every truncation, every single-byte change of the fixed part and of
 * the string lengths, a trailing byte: an error or a decode, never a
 * read outside the blob (each case gets its own exact-size copy). */
static void test_damage(void **state)
{
	(void)state;
	struct ntf_event ev = put_event();
	struct cmn_buf a;
	cmn_buf_init(&a, 1 << 20);
	assert_int_equal(ntf_pack_event(&ev, "cfg", &a), 0);
	struct ntf_unpacked u;
	for (size_t len = 0; len < a.len; len++) {
		char *cut = malloc(len ? len : 1);
		memcpy(cut, a.data, len);
		assert_int_equal(ntf_pack_decode(cut, len, &u), -EBADMSG);
		free(cut);
	}
	char *more = malloc(a.len + 1);
	memcpy(more, a.data, a.len);
	more[a.len] = 'x';
	assert_int_equal(ntf_pack_decode(more, a.len + 1, &u), -EBADMSG);
	free(more);
	for (size_t at = 0; at < 40 && at < a.len; at++) {
		for (int bit = 0; bit < 8; bit++) {
			char *bad = malloc(a.len);
			memcpy(bad, a.data, a.len);
			bad[at] = (char)(bad[at] ^ (1 << bit));
			int rc = ntf_pack_decode(bad, a.len, &u);
			if (rc == 0)
				ntf_pack_unpacked_free(&u);
			else
				assert_int_equal(rc, -EBADMSG);
			free(bad);
		}
	}
	cmn_buf_free(&a);
}

static void test_refused(void **state)
{
	(void)state;
	struct cmn_buf a;
	cmn_buf_init(&a, 1 << 20);
	struct ntf_event ev = put_event();
	ev.name = NTF_EV_COUNT;
	assert_int_equal(ntf_pack_event(&ev, NULL, &a), -EINVAL);
	ev = put_event();
	ev.n_meta = NTF_PACK_META_MAX + 1;
	assert_int_equal(ntf_pack_event(&ev, NULL, &a), -E2BIG);
	assert_int_equal(a.len, 0);

	/* a NUL inside a string, a wrong version, an unknown event */
	ev = put_event();
	assert_int_equal(ntf_pack_event(&ev, "cfg", &a), 0);
	struct ntf_unpacked u;
	char *bad = malloc(a.len);
	memcpy(bad, a.data, a.len);
	char *cfg = memmem(bad, a.len, "cfg", 3);
	assert_non_null(cfg);
	cfg[1] = '\0';
	assert_int_equal(ntf_pack_decode(bad, a.len, &u), -EBADMSG);
	memcpy(bad, a.data, a.len);
	bad[0] = NTF_PACK_VERSION + 1;
	assert_int_equal(ntf_pack_decode(bad, a.len, &u), -EBADMSG);
	memcpy(bad, a.data, a.len);
	bad[1] = (char)NTF_EV_COUNT;
	assert_int_equal(ntf_pack_render(bad, a.len, 1, &a), -EBADMSG);
	free(bad);

	/* the buffer's ceiling */
	struct cmn_buf small;
	cmn_buf_init(&small, 16);
	assert_int_equal(ntf_pack_event(&ev, "cfg", &small), -E2BIG);
	assert_int_equal(small.len, 0);
	cmn_buf_free(&small);
	cmn_buf_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renders_as_record),
		cmocka_unit_test(test_decode_packs_the_same),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
