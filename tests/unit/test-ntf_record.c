/*
 * test-ntf_record.c - record JSON field by field for each event family
 * (parsed back with jansson), envelopes, the test message, escaping,
 * content types and the buffer ceiling.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "cmn_buf.h"
#include "ntf_record.h"

static const struct ntf_meta meta[] = {{"owner", "alice"}, {"q", "a\"b"}};

static struct ntf_event put_event(void)
{
	struct ntf_event ev = {
		.name = NTF_EV_OBJECT_CREATED_PUT,
		.bucket = "data",
		.key = "reports/q1 final.csv",
		.size = 1234,
		.etag = "0123456789abcdef0123456789abcdef",
		.meta = meta,
		.n_meta = 2,
		.sequencer = 0x187B0C1D2E3F4A50ULL,
		.time_ms = 1795600800123LL,
		.uid = 1000,
		.pid = 4242,
		.comm = "cp",
		.region = "us-east-1",
	};
	return ev;
}

/* Serialise ev and parse it back; the caller owns the result. */
static json_t *roundtrip(const struct ntf_event *ev, const char *cfg)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_record_json(ev, cfg, &b), 0);
	json_error_t err;
	json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("bad JSON: %s: %s", err.text, b.data);
	cmn_buf_free(&b);
	return j;
}

static const char *sget(json_t *root, const char *path)
{
	json_t *j = root;
	char buf[256];
	size_t n = strlen(path);
	assert_true(n < sizeof(buf));
	memcpy(buf, path, n + 1);
	for (char *s = buf; s && j;) {
		char *dot = strchr(s, '|');
		if (dot)
			*dot = '\0';
		j = json_object_get(j, s);
		s = dot ? dot + 1 : NULL;
	}
	return j && json_is_string(j) ? json_string_value(j) : NULL;
}

static json_t *oget(json_t *root, const char *a, const char *b)
{
	json_t *j = json_object_get(json_object_get(root, a), b);
	assert_non_null(j);
	return j;
}

static void test_put_fields(void **state)
{
	struct ntf_event ev = put_event();
	json_t *r = roundtrip(&ev, "csv-rule");
	assert_string_equal(sget(r, "eventVersion"), "2.1");
	assert_string_equal(sget(r, "eventSource"), "bucketfs:s3");
	assert_string_equal(sget(r, "awsRegion"), "us-east-1");
	assert_string_equal(sget(r, "eventTime"), "2026-11-25T10:00:00.123Z");
	assert_string_equal(sget(r, "eventName"), "s3:ObjectCreated:Put");
	assert_string_equal(sget(r, "userIdentity|principalId"), "uid:1000");
	assert_string_equal(sget(r, "requestParameters|principalId"),
			    "uid:1000");
	assert_string_equal(sget(r, "requestParameters|region"), "us-east-1");
	assert_string_equal(sget(r, "requestParameters|sourceIPAddress"), "");
	assert_null(sget(r, "requestParameters|x-amz-copy-source"));
	assert_string_equal(sget(r, "responseElements|x-amz-request-id"),
			    "187B0C1D2E3F4A50");
	assert_string_equal(sget(r, "responseElements|x-amz-id-2"),
			    "localhost");
	assert_string_equal(sget(r, "s3|s3SchemaVersion"), "1.0");
	assert_string_equal(sget(r, "s3|configurationId"), "csv-rule");
	assert_string_equal(sget(r, "s3|bucket|name"), "data");
	assert_string_equal(sget(r, "s3|bucket|ownerIdentity|principalId"),
			    "uid:1000");
	assert_string_equal(sget(r, "s3|bucket|arn"), "arn:aws:s3:::data");
	json_t *o = oget(json_object_get(r, "s3"), "object", "key");
	assert_string_equal(json_string_value(o), "reports/q1+final.csv");
	json_t *obj = oget(r, "s3", "object");
	assert_int_equal(json_integer_value(json_object_get(obj, "size")),
			 1234);
	assert_string_equal(sget(r, "s3|object|eTag"),
			    "0123456789abcdef0123456789abcdef");
	assert_string_equal(sget(r, "s3|object|contentType"), "text/csv");
	assert_string_equal(sget(r, "s3|object|sequencer"), "187B0C1D2E3F4A50");
	assert_string_equal(sget(r, "s3|object|userMetadata|X-Amz-Meta-owner"),
			    "alice");
	assert_string_equal(sget(r, "s3|object|userMetadata|X-Amz-Meta-q"),
			    "a\"b");
	assert_null(json_object_get(obj, "versionId"));
	assert_string_equal(sget(r, "source|host"), "localhost");
	assert_string_equal(sget(r, "source|port"), "");
	assert_string_equal(sget(r, "source|userAgent"), "cp (pid 4242)");
	json_decref(r);
}

static void test_removed_omits_details(void **state)
{
	struct ntf_event ev = put_event();
	ev.name = NTF_EV_OBJECT_REMOVED_DELETE;
	json_t *r = roundtrip(&ev, "del");
	json_t *obj = oget(r, "s3", "object");
	assert_string_equal(sget(r, "eventName"), "s3:ObjectRemoved:Delete");
	assert_string_equal(sget(r, "eventVersion"), "2.1");
	assert_null(json_object_get(obj, "size"));
	assert_null(json_object_get(obj, "eTag"));
	assert_null(json_object_get(obj, "contentType"));
	assert_null(json_object_get(obj, "userMetadata"));
	assert_string_equal(sget(r, "s3|object|key"), "reports/q1+final.csv");
	assert_string_equal(sget(r, "s3|object|sequencer"), "187B0C1D2E3F4A50");
	assert_int_equal(json_object_size(obj), 2);
	json_decref(r);
}

static void test_copy_names_source(void **state)
{
	struct ntf_event ev = put_event();
	ev.name = NTF_EV_OBJECT_CREATED_COPY;
	ev.copy_source = "data/old name.csv";
	ev.content_type = "text/plain";
	ev.n_meta = 0;
	json_t *r = roundtrip(&ev, NULL);
	assert_string_equal(sget(r, "eventName"), "s3:ObjectCreated:Copy");
	assert_string_equal(sget(r, "requestParameters|x-amz-copy-source"),
			    "data/old name.csv");
	assert_string_equal(sget(r, "s3|object|contentType"), "text/plain");
	assert_string_equal(sget(r, "s3|configurationId"), "");
	assert_null(json_object_get(oget(r, "s3", "object"), "userMetadata"));
	json_decref(r);
}

static void test_bucket_event(void **state)
{
	struct ntf_event ev = {
		.name = NTF_EV_BUCKET_CREATED,
		.bucket = "photos",
		.size = -1,
		.sequencer = 1,
		.uid = 0,
		.pid = 1,
		.comm = "mkdir",
	};
	json_t *r = roundtrip(&ev, "global");
	json_t *obj = oget(r, "s3", "object");
	assert_string_equal(sget(r, "eventName"), "s3:BucketCreated:*");
	assert_string_equal(sget(r, "awsRegion"), "");
	assert_string_equal(sget(r, "eventTime"), "1970-01-01T00:00:00.000Z");
	assert_string_equal(sget(r, "s3|object|key"), "");
	assert_string_equal(sget(r, "s3|object|sequencer"), "0000000000000001");
	assert_int_equal(json_object_size(obj), 2);
	assert_string_equal(sget(r, "userIdentity|principalId"), "uid:0");
	json_decref(r);
}

/* One event per family: name and eventVersion. */
static void test_versions_by_family(void **state)
{
	static const struct {
		enum ntf_event_name ev;
		const char *name, *version;
	} fam[] = {
		{NTF_EV_OBJECT_CREATED_PUT, "s3:ObjectCreated:Put", "2.1"},
		{NTF_EV_OBJECT_ACCESSED_GET, "s3:ObjectAccessed:Get", "2.1"},
		{NTF_EV_OBJECT_ACCESSED_HEAD, "s3:ObjectAccessed:Head", "2.1"},
		{NTF_EV_OBJECT_TAGGING_PUT, "s3:ObjectTagging:Put", "2.3"},
		{NTF_EV_OBJECT_TAGGING_DELETE, "s3:ObjectTagging:Delete",
		 "2.3"},
		{NTF_EV_OBJECT_ACL_PUT, "s3:ObjectAcl:Put", "2.3"},
		{NTF_EV_BUCKET_REMOVED, "s3:BucketRemoved:*", "2.1"},
		{NTF_EV_REPLICATION_FAILED,
		 "s3:Replication:OperationFailedReplication", "2.2"},
		{NTF_EV_LIFECYCLE_TRANSITION, "s3:LifecycleTransition", "2.3"},
	};
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		struct ntf_event ev = put_event();
		ev.name = fam[i].ev;
		json_t *r = roundtrip(&ev, "x");
		assert_string_equal(sget(r, "eventName"), fam[i].name);
		assert_string_equal(sget(r, "eventVersion"), fam[i].version);
		json_decref(r);
	}
}

static void test_escaping(void **state)
{
	struct ntf_event ev = put_event();
	ev.comm = "we\"ird\\\n\x01";
	ev.bucket = "b";
	ev.key = "k\xFFy \xC3\xA9";
	static const struct ntf_meta m[] = {{"bad", "x\xC0\xAFy\xED\xA0\x80"}};
	ev.meta = m;
	ev.n_meta = 1;
	json_t *r = roundtrip(&ev, "id\"1");
	assert_string_equal(sget(r, "source|userAgent"),
			    "we\"ird\\\n\x01 (pid 4242)");
	assert_string_equal(sget(r, "s3|object|key"), "k%FFy+%C3%A9");
	assert_string_equal(sget(r, "s3|configurationId"), "id\"1");
	/* Overlong and surrogate sequences become U+FFFD, byte by byte. */
	assert_string_equal(sget(r, "s3|object|userMetadata|X-Amz-Meta-bad"),
			    "x\xEF\xBF\xBD\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF"
			    "\xBD\xEF\xBF\xBD");
	json_decref(r);
}

/* Every ASCII byte at every position of a 16-byte word-aligned run and
 * its tail: the escaper's 8-byte fast path must hand each one that needs
 * escaping to the slow path (the value round-trips through a JSON
 * parser). */
static void test_escaping_every_byte(void **state)
{
	(void)state;
	for (int c = 1; c < 0x80; c++) {
		for (int pos = 0; pos < 19; pos++) {
			char cfg[20];
			memset(cfg, 'a', 19);
			cfg[19] = '\0';
			cfg[pos] = (char)c;
			struct ntf_event ev = put_event();
			json_t *r = roundtrip(&ev, cfg);
			const char *got = sget(r, "s3|configurationId");
			assert_non_null(got);
			assert_string_equal(got, cfg);
			json_decref(r);
		}
	}
}

static void test_envelope(void **state)
{
	struct ntf_event ev = put_event();
	struct cmn_buf rec, env;
	cmn_buf_init(&rec, 1 << 20);
	cmn_buf_init(&env, 1 << 20);
	assert_int_equal(ntf_record_json(&ev, "c", &rec), 0);
	struct ntf_record_ref refs[2] = {{rec.data, rec.len},
					 {rec.data, rec.len}};
	assert_int_equal(ntf_record_envelope("s3:ObjectCreated:Put", "data",
					     ev.key, refs, 2, &env),
			 0);
	json_t *j = json_loadb(env.data, env.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(sget(j, "EventName"), "s3:ObjectCreated:Put");
	assert_string_equal(sget(j, "Key"), "data/reports/q1 final.csv");
	json_t *recs = json_object_get(j, "Records");
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(recs, 1), "eventName")),
			    "s3:ObjectCreated:Put");
	json_decref(j);
	cmn_buf_reset(&env);
	assert_int_equal(ntf_record_wrap(refs, 1, &env), 0);
	j = json_loadb(env.data, env.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 1);
	assert_int_equal(json_array_size(json_object_get(j, "Records")), 1);
	json_decref(j);
	cmn_buf_free(&rec);
	cmn_buf_free(&env);
}

static void test_test_event(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, 4096);
	assert_int_equal(ntf_record_test_event("photos", 0, "r1", NULL, &b), 0);
	json_t *j = json_loadb(b.data, b.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(sget(j, "Event"), "s3:TestEvent");
	assert_string_equal(sget(j, "Service"), "bucketfs");
	assert_string_equal(sget(j, "Time"), "1970-01-01T00:00:00.000Z");
	assert_string_equal(sget(j, "Bucket"), "photos");
	assert_string_equal(sget(j, "RequestId"), "r1");
	assert_string_equal(sget(j, "HostId"), "");
	json_decref(j);
	cmn_buf_free(&b);
}

static void test_ceiling_rolls_back(void **state)
{
	struct ntf_event ev = put_event();
	struct cmn_buf b;
	cmn_buf_init(&b, 200);
	assert_int_equal(cmn_buf_adds(&b, "prefix"), 0);
	assert_int_equal(ntf_record_json(&ev, "c", &b), -E2BIG);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "prefix");
	ev.name = NTF_EV_COUNT;
	assert_int_equal(ntf_record_json(&ev, "c", &b), -EINVAL);
	cmn_buf_free(&b);
}

static void test_content_types(void **state)
{
	static const struct {
		const char *key, *type;
	} ct[] = {
		{"a.csv", "text/csv"},
		{"dir/photo.JPG", "image/jpeg"},
		{"x.tar.gz", "application/gzip"},
		{"noext", "application/octet-stream"},
		{"dir.d/noext", "application/octet-stream"},
		{".bashrc", "application/octet-stream"},
		{"a/.hidden", "application/octet-stream"},
		{"trailing.", "application/octet-stream"},
		{"x.json", "application/json"},
		{"x.parquet", "application/vnd.apache.parquet"},
		{"x.averyveryverylongextension", "application/octet-stream"},
		{"x.zst", "application/zstd"},
		{"", "application/octet-stream"},
	};
	for (size_t i = 0; i < sizeof(ct) / sizeof(ct[0]); i++)
		assert_string_equal(
			ntf_record_content_type(ct[i].key, strlen(ct[i].key)),
			ct[i].type);
}

/* The marks point at both copies of the sequencer, relative to the
 * record's start (here after text already in the buffer). */
static void test_sequencer_marks(void **state)
{
	(void)state;
	struct ntf_event ev = put_event();
	struct cmn_buf b;
	struct ntf_record_marks m;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(cmn_buf_adds(&b, "prefix"), 0);
	assert_int_equal(ntf_record_json_marked(&ev, "c", &b, &m), 0);
	const char *rec = b.data + 6;
	assert_memory_equal(rec + m.sequencer, "187B0C1D2E3F4A50", 16);
	assert_memory_equal(rec + m.request_id, "187B0C1D2E3F4A50", 16);
	assert_memory_equal(rec + m.sequencer - 13, "\"sequencer\":\"", 13);
	assert_memory_equal(rec + m.request_id - 20,
			    "\"x-amz-request-id\":\"", 20);
	cmn_buf_free(&b);
}

static void test_sequencer(void **state)
{
	char s[17];
	ntf_record_sequencer(0, s);
	assert_string_equal(s, "0000000000000000");
	ntf_record_sequencer(UINT64_MAX, s);
	assert_string_equal(s, "FFFFFFFFFFFFFFFF");
	char a[17], b[17];
	ntf_record_sequencer(0xF, a);
	ntf_record_sequencer(0x10, b);
	assert_true(strcmp(a, b) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_fields),
		cmocka_unit_test(test_removed_omits_details),
		cmocka_unit_test(test_copy_names_source),
		cmocka_unit_test(test_bucket_event),
		cmocka_unit_test(test_versions_by_family),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_escaping_every_byte),
		cmocka_unit_test(test_sequencer_marks),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_test_event),
		cmocka_unit_test(test_ceiling_rolls_back),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_sequencer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
