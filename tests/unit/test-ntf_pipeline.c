/*
 * test-ntf_pipeline.c - the pipeline over a real store when the disk
 * fails: fdatasync() is wrapped (-Wl,--wrap=fdatasync) so a test can make
 * the next one fail with EIO, and events the store took before the
 * failure must still come out of it, none left pending for ever; and a
 * packed event that would render past the record limit is refused at
 * emit, as its JSON would be, not taken and dropped at ingest, and the
 * place it took in a target's queue is given back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ntf_limits.h"
#include "ntf_pipeline.h"
#include "ntf_record.h"
#include "ntf_rules.h"
#include "ntf_store.h"

/* ---- the fault ----------------------------------------------------- */

static int fail_syncs; /* the next this many fdatasync() calls fail */

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
	if (fail_syncs > 0) {
		fail_syncs--;
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

/* ---- fixture ------------------------------------------------------- */

struct fixture {
	char dir[64];
	struct ntf_pipeline *p;
};

static int open_with(void **state, enum ntf_durability d)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ntf_pipeline.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	struct ntf_pipeline_opts o = {.state_dir = f->dir, .durability = d};
	char *msg = NULL;
	if (ntf_pipeline_open(&o, &f->p, &msg) != 0) {
		fprintf(stderr, "open: %s\n", msg ? msg : "?");
		free(msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_fsync(void **state)
{
	return open_with(state, NTF_DURABILITY_FSYNC);
}

static int setup_commit(void **state)
{
	return open_with(state, NTF_DURABILITY_COMMIT);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ntf_pipeline_close(f->p);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	int rc = system(cmd);
	free(f);
	fail_syncs = 0;
	return rc == 0 ? 0 : -1;
}

static struct ntf_event put_event(const char *key)
{
	return (struct ntf_event){.name = NTF_EV_OBJECT_CREATED_PUT,
				  .bucket = "b",
				  .key = key,
				  .size = 1};
}

/* The log's keys, in order, and the eTag field of the first record. */
struct seen {
	char keys[8][32];
	size_t n;
	bool etag_found;
};

static int collect(void *arg, const struct ntf_store_entry *e,
		   unsigned attempts)
{
	(void)attempts;
	struct seen *s = arg;
	if (s->n < 8)
		snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%s", e->key);
	if (s->n == 1 && memmem(e->record, e->record_len,
				"\"eTag\":\"c4ca4238a0b923820dcc509a6f75849b\"",
				41))
		s->etag_found = true;
	return 0;
}

static struct seen read_log(struct fixture *f)
{
	struct seen s = {0};
	assert_int_equal(ntf_store_flush(ntf_pipeline_store(f->p)), 0);
	struct ntf_store_reader *r = NULL;
	assert_int_equal(ntf_store_reader_open(f->dir, &r, NULL), 0);
	assert_int_equal(ntf_store_reader_scan(r, NULL, 0, collect, &s, NULL),
			 0);
	ntf_store_reader_close(r);
	return s;
}

static int count_pending(void *arg, uint64_t seq, const char *bucket,
			 const char *key, const char *record, bool later)
{
	(void)seq, (void)bucket, (void)key, (void)record, (void)later;
	(*(int *)arg)++;
	return 0;
}

/* A key of half the record limit in control bytes: it packs to about
 * its length and renders three times as long (URL-encoded), past the
 * limit.  Caller frees. */
static char *control_key(void)
{
	size_t n = NTF_LIMIT_RECORD_BYTES / 2;
	char *key = malloc(n + 1);
	assert_non_null(key);
	memset(key, '\x01', n);
	key[n] = '\0';
	return key;
}

/* ---- tests --------------------------------------------------------- */

/* The fsync after a pending record was stored fails: the emit says so,
 * but hands the record over all the same, and finalised it is logged and
 * does not hold back the records after it. */
static void test_failed_sync_still_hands_the_pending_record(void **state)
{
	struct fixture *f = *state;
	struct ntf_event ev = put_event("first");
	struct ntf_pending *pd = NULL;
	fail_syncs = 1;
	assert_int_equal(ntf_pipeline_emit_pending(f->p, &ev, &pd), -EIO);
	assert_non_null(pd);
	ntf_pipeline_finalize(f->p, pd, "c4ca4238a0b923820dcc509a6f75849b");
	struct ntf_event next = put_event("second");
	assert_int_equal(ntf_pipeline_emit(f->p, &next), 0);

	struct seen s = read_log(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[0], "first");
	assert_string_equal(s.keys[1], "second");
	assert_true(s.etag_found);
	int pending = 0;
	assert_int_equal(ntf_store_pending(ntf_pipeline_store(f->p),
					   count_pending, &pending),
			 0);
	assert_int_equal(pending, 0);
}

/* A failed sync fails its append, not the store: the next append syncs
 * again and both entries are logged. */
static void test_store_goes_on_after_a_failed_sync(void **state)
{
	struct fixture *f = *state;
	struct ntf_event a = put_event("a");
	fail_syncs = 1;
	assert_int_equal(ntf_pipeline_emit(f->p, &a), -EIO);
	struct ntf_event b = put_event("b");
	assert_int_equal(ntf_pipeline_emit(f->p, &b), 0);
	struct seen s = read_log(f);
	assert_int_equal(s.n, 2); /* stored, both; only a's sync failed */
}

/* A key of control bytes packs to about its length and renders three
 * times as long (URL-encoded): past the record limit, the emit refuses it
 * (E2BIG), the way it refuses a JSON record that long, instead of storing
 * what the ingester then cannot render. */
static void test_packed_event_past_the_record_limit_is_refused(void **state)
{
	struct fixture *f = *state;
	char *key = control_key();
	struct ntf_event big = put_event(key);
	assert_int_equal(ntf_pipeline_emit(f->p, &big), -E2BIG);
	memset(key, 'k', strlen(key)); /* as long in plain bytes: fits */
	struct ntf_event plain = put_event(key);
	assert_int_equal(ntf_pipeline_emit(f->p, &plain), 0);
	free(key);
	struct seen s = read_log(f);
	assert_int_equal(s.n, 1);
}

/* Delivery hooks that count the places taken in target queues. */
static void unadmit_count(void *arg, const char *target)
{
	(void)target;
	(*(int *)arg)--;
}

static bool admit_count(void *arg, const char *target)
{
	(void)target;
	(*(int *)arg)++;
	return true;
}

static void no_test_event(void *arg, const char *target, const char *bucket)
{
	(void)arg, (void)target, (void)bucket;
}

static const struct ntf_pipeline_delivery counting = {
	.admit = admit_count,
	.unadmit = unadmit_count,
	.test_event = no_test_event,
};

/* An event refused after its targets admitted it gives the places back:
 * the queue counts only what is stored. */
static void test_refused_event_gives_back_its_queue_places(void **state)
{
	struct fixture *f = *state;
	int places = 0;
	ntf_pipeline_set_delivery(f->p, &counting, &places);
	static const struct ntf_target_id hook = {"h", "webhook"};
	assert_int_equal(ntf_pipeline_set_targets(f->p, &hook, 1), 0);
	static const char xml[] =
		"<NotificationConfiguration><QueueConfiguration><Id>c</Id>"
		"<Queue>arn:bucketfs:sqs::h:webhook</Queue>"
		"<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
		"</NotificationConfiguration>";
	struct ntf_rules_env env = ntf_pipeline_env(f->p);
	struct ntf_rules *rules = NULL;
	struct ntf_rules_error err;
	assert_int_equal(
		ntf_rules_parse(xml, sizeof(xml) - 1, &env, &rules, &err), 0);
	assert_int_equal(ntf_pipeline_set_rules(f->p, "b", rules), 0);

	char *key = control_key();
	struct ntf_event big = put_event(key);
	assert_int_equal(ntf_pipeline_emit(f->p, &big), -E2BIG);
	assert_int_equal(places, 0);
	struct ntf_event ok = put_event("fine");
	assert_int_equal(ntf_pipeline_emit(f->p, &ok), 0);
	assert_int_equal(places, 1);
	free(key);
	ntf_pipeline_set_delivery(f->p, NULL, NULL);
}

/* What a restart finds pending (the hasher never finalised them). */
struct recovered_calls {
	char keys[4][8];
	int64_t sizes[4];
	struct ntf_pending *pds[4];
	size_t n;
};

static void on_recovered(void *arg, const char *bucket, const char *key,
			 int64_t size, struct ntf_pending *pd)
{
	struct recovered_calls *c = arg;
	assert_string_equal(bucket, "b");
	assert_true(c->n < 4);
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
	c->sizes[c->n] = size;
	c->pds[c->n++] = pd;
}

static int with_etag(void *arg, const struct ntf_store_entry *e,
		     unsigned attempts)
{
	(void)attempts;
	char *flags = arg;
	size_t i = strlen(flags);
	flags[i] = memmem(e->record, e->record_len, "\"eTag\"", 6) ? 'E' : '-';
	flags[i + 1] = '\0';
	return 0;
}

/* Records a crash left pending come back at the next open with the size
 * they recorded; of two of one object only the later may still describe
 * the file, so the earlier goes out without an eTag instead of with the
 * later content's; so does one that a complete record of the same object
 * follows (z: removed after its Put). */
static void test_recovery_drops_the_etag_of_a_superseded_put(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = {"k", "other", "k"};
	const int64_t sizes[] = {1, 7, 3};
	for (int i = 0; i < 3; i++) {
		struct ntf_event ev = put_event(keys[i]);
		ev.size = sizes[i];
		struct ntf_pending *pd = NULL;
		assert_int_equal(ntf_pipeline_emit_pending(f->p, &ev, &pd), 0);
		ntf_pipeline_pending_free(pd); /* as at a crash */
	}
	/* z pending, then removed: a complete record after it. */
	struct ntf_event z = put_event("z");
	struct ntf_pending *zpd = NULL;
	assert_int_equal(ntf_pipeline_emit_pending(f->p, &z, &zpd), 0);
	ntf_pipeline_pending_free(zpd);
	struct ntf_event del = {.name = NTF_EV_OBJECT_REMOVED_DELETE,
				.bucket = "b", .key = "z", .size = -1};
	assert_int_equal(ntf_pipeline_emit(f->p, &del), 0);
	ntf_pipeline_close(f->p);
	struct ntf_pipeline_opts o = {.state_dir = f->dir,
				      .durability = NTF_DURABILITY_COMMIT};
	assert_int_equal(ntf_pipeline_open(&o, &f->p, NULL), 0);

	struct recovered_calls c = {0};
	assert_int_equal(ntf_pipeline_recover(f->p, on_recovered, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "other");
	assert_int_equal(c.sizes[0], 7);
	assert_string_equal(c.keys[1], "k");
	assert_int_equal(c.sizes[1], 3);
	for (size_t i = 0; i < c.n; i++)
		ntf_pipeline_finalize(f->p, c.pds[i],
				      "c4ca4238a0b923820dcc509a6f75849b");

	char flags[16] = "";
	assert_int_equal(ntf_store_flush(ntf_pipeline_store(f->p)), 0);
	struct ntf_store_reader *r = NULL;
	assert_int_equal(ntf_store_reader_open(f->dir, &r, NULL), 0);
	assert_int_equal(
		ntf_store_reader_scan(r, NULL, 0, with_etag, flags, NULL), 0);
	ntf_store_reader_close(r);
	assert_string_equal(flags, "-EE--");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_failed_sync_still_hands_the_pending_record,
			setup_fsync, teardown),
		cmocka_unit_test_setup_teardown(
			test_store_goes_on_after_a_failed_sync, setup_fsync,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_packed_event_past_the_record_limit_is_refused,
			setup_commit, teardown),
		cmocka_unit_test_setup_teardown(
			test_refused_event_gives_back_its_queue_places,
			setup_commit, teardown),
		cmocka_unit_test_setup_teardown(
			test_recovery_drops_the_etag_of_a_superseded_put,
			setup_commit, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
