/*
 * test-ntf_store.c - the event store: sequence, durability modes, retention,
 * queues and dead letters, crash safety (kill -9 of a child mid-burst), and
 * the `bucketfs events` command reading it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "cmn_buf.h"
#include "ntf_evcli.h"
#include "ntf_journal.h"
#include "ntf_limits.h"
#include "ntf_pack.h"
#include "ntf_record.h"
#include "ntf_store.h"

static char tmpl[] = "/tmp/test-ntf_store.XXXXXX";

static int setup_dir(void **state)
{
	char *d = strdup(tmpl);
	assert_non_null(mkdtemp(d));
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An entry whose record names its bucket, key and a tag. */
struct ent {
	struct ntf_store_entry e;
	char rec[128];
};

static void mk(struct ent *x, const char *ev, const char *bucket,
	       const char *key, const char *const *targets, size_t nt)
{
	memset(x, 0, sizeof(*x));
	int n = snprintf(x->rec, sizeof(x->rec),
			 "{\"e\":\"%s\",\"b\":\"%s\",\"k\":\"%s\"}", ev, bucket,
			 key);
	x->e.time_ms = now_ms();
	x->e.event_name = ev;
	x->e.bucket = bucket;
	x->e.key = key;
	x->e.record = x->rec;
	x->e.record_len = (size_t)n;
	x->e.targets = targets;
	x->e.n_targets = nt;
}

/* Append n entries of x as one array (the entries are copied out of x). */
static int append_n(struct ntf_store *s, struct ent *x, size_t n,
		    enum ntf_durability d)
{
	struct ntf_store_entry es[64];
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		es[i] = x[i].e;
	int r = ntf_store_append(s, es, n, d);
	for (size_t i = 0; i < n; i++)
		x[i].e.seq = es[i].seq;
	return r;
}

static struct ntf_store *open_store(const char *dir,
				    const struct ntf_store_opts *o)
{
	struct ntf_store *s = NULL;
	char *msg = NULL;
	int r = ntf_store_open(dir, o, &s, &msg);
	if (r)
		fprintf(stderr, "open: %d %s\n", r, msg ? msg : "");
	assert_int_equal(r, 0);
	free(msg);
	return s;
}

static int append1(struct ntf_store *s, const char *ev, const char *key,
		   const char *const *t, size_t nt, enum ntf_durability d,
		   uint64_t *seq)
{
	struct ent x;
	mk(&x, ev, "b1", key, t, nt);
	int r = ntf_store_append(s, &x.e, 1, d);
	if (seq)
		*seq = x.e.seq;
	return r;
}

/* Collects what a scan or a peek returns. */
struct got {
	size_t n;
	uint64_t seqs[4096];
	char keys[64][32];
	unsigned attempts[64];
};

static int collect(void *arg, const struct ntf_store_entry *e, unsigned att)
{
	struct got *g = arg;
	if (g->n < 64) {
		snprintf(g->keys[g->n], sizeof(g->keys[0]), "%s", e->key);
		g->attempts[g->n] = att;
	}
	if (g->n < 4096)
		g->seqs[g->n] = e->seq;
	g->n++;
	return 0;
}

static int check_record(void *arg, const struct ntf_store_entry *e,
			unsigned att)
{
	assert_string_equal(e->record, (const char *)arg);
	return 0;
}

static void scan(const char *dir, const struct ntf_store_filter *f,
		 struct got *g)
{
	struct ntf_store_reader *r;
	memset(g, 0, sizeof(*g));
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	uint64_t last = 0;
	assert_int_equal(ntf_store_reader_scan(r, f, 0, collect, g, &last), 0);
	ntf_store_reader_close(r);
}

static void test_append_read_back(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	struct ent x[10];
	char keys[10][16];
	for (int i = 0; i < 10; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		mk(&x[i],
		   i % 2 ? "s3:ObjectRemoved:Delete" : "s3:ObjectCreated:Put",
		   i < 5 ? "b1" : "b2", keys[i], NULL, 0);
	}
	assert_int_equal(append_n(s, &x[0], 4, NTF_DURABILITY_COMMIT), 0);
	assert_int_equal(append_n(s, &x[4], 6, NTF_DURABILITY_COMMIT), 0);
	for (int i = 1; i < 10; i++)
		assert_true(x[i].e.seq == x[i - 1].e.seq + 1);
	assert_int_equal(ntf_store_last_seq(s), x[9].e.seq);
	assert_int_equal(ntf_store_flush(s), 0);

	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(g.seqs[i], x[i].e.seq);
		assert_string_equal(g.keys[i], keys[i]);
	}
	struct ntf_store_filter f = {.since = x[2].e.seq, .bucket = "b1"};
	scan(dir, &f, &g);
	assert_int_equal(g.n, 2); /* k3, k4 */
	f = (struct ntf_store_filter){.event = "s3:ObjectCreated:*"};
	scan(dir, &f, &g);
	assert_int_equal(g.n, 5);
	f = (struct ntf_store_filter){.event = "s3:ObjectRemoved:Delete",
				      .bucket = "b2"};
	scan(dir, &f, &g);
	assert_int_equal(g.n, 3); /* k5 k7 k9 */
	f = (struct ntf_store_filter){.event = "s3:ObjectCreated"};
	scan(dir, &f, &g);
	assert_int_equal(g.n, 0);

	struct ntf_store_stats st;
	ntf_store_stats(s, &st);
	assert_int_equal(st.committed, 10);
	ntf_store_close(s);
	ntf_store_close(NULL);
}

/* The record's sequencer placeholder is filled with the assigned seq. */
static void test_seq_in_record(void **state)
{
	struct ntf_store *s = open_store(*state, NULL);
	char rec[] = "{\"sequencer\":\"0000000000000000\"}";
	struct ntf_store_entry e = {.event_name = "s3:ObjectCreated:Put",
				    .bucket = "b",
				    .key = "k",
				    .record = rec,
				    .record_len = strlen(rec),
				    .seq_offset = 14};
	assert_int_equal(ntf_store_append(s, &e, 1, NTF_DURABILITY_COMMIT), 0);
	assert_string_equal(rec, "{\"sequencer\":\"0000000000000000\"}");
	ntf_store_close(s);
	struct ntf_store_reader *r;
	struct got g;
	char want[64];
	memset(&g, 0, sizeof(g));
	snprintf(want, sizeof(want), "{\"sequencer\":\"%016" PRIX64 "\"}",
		 e.seq);
	assert_int_equal(ntf_store_reader_open(*state, &r, NULL), 0);
	assert_int_equal(
		ntf_store_reader_scan(r, NULL, 0, check_record, want, NULL), 0);
	ntf_store_reader_close(r);
}

static int pending_seen(void *arg, uint64_t seq, const char *bucket,
			const char *key, const char *record, bool later)
{
	struct got *g = arg;
	(void)key, (void)later;
	assert_non_null(record);
	g->seqs[g->n++] = seq;
	assert_string_equal(bucket, "b");
	return 0;
}

/* A pending record (eTag still being computed) and everything after it
 * stay invisible until finalised; finalising fills or drops the eTag. */
static void test_pending_etag(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	char r1[] = "{\"k\":1,\"eTag\":\"00000000000000000000000000000000\","
		    "\"x\":1}";
	char r2[] = "{\"k\":2}";
	char r3[] = "{\"k\":3,\"eTag\":\"00000000000000000000000000000000\","
		    "\"x\":1}";
	struct ntf_store_entry e[3] = {
		{.event_name = "s3:ObjectCreated:Put", .bucket = "b",
		 .key = "k1", .record = r1, .record_len = strlen(r1),
		 .pending = true},
		{.event_name = "s3:ObjectCreated:Put", .bucket = "b",
		 .key = "k2", .record = r2, .record_len = strlen(r2)},
		{.event_name = "s3:ObjectCreated:Put", .bucket = "b",
		 .key = "k3", .record = r3, .record_len = strlen(r3),
		 .pending = true},
	};
	assert_int_equal(ntf_store_append(s, e, 3, NTF_DURABILITY_COMMIT), 0);
	assert_int_equal(ntf_store_flush(s), 0);
	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 0); /* k1 pending hides k2 and k3 */

	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_pending(s, pending_seen, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.seqs[0], e[0].seq);
	assert_int_equal(g.seqs[1], e[2].seq);

	assert_int_equal(ntf_store_finalize(s, &e[0].seq, 1,
					    "0123456789abcdef0123456789abcdef"),
			 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k4", NULL, 0,
				 NTF_DURABILITY_COMMIT, NULL),
			 0);
	assert_int_equal(ntf_store_flush(s), 0);
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 2); /* k1, k2; k3 still pending, hides k4 */
	assert_int_equal(ntf_store_finalize(s, &e[2].seq, 1, NULL), 0);
	ntf_store_close(s);

	struct ntf_store_reader *r;
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	struct ntf_store_filter f = {.since = e[1].seq};
	assert_int_equal(ntf_store_reader_scan(r, &f, 1, check_record,
					       "{\"k\":3,\"x\":1}", NULL),
			 0);
	f.since = 0;
	f.bucket = "b";
	scan(dir, &f, &g);
	assert_int_equal(g.n, 3); /* k4 is in bucket b1 */
	ntf_store_reader_close(r);
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	f.since = e[0].seq - 1;
	assert_int_equal(
		ntf_store_reader_scan(r, &f, 1, check_record,
				      "{\"k\":1,\"eTag\":\""
				      "0123456789abcdef0123456789abcdef\","
				      "\"x\":1}",
				      NULL),
		0);
	ntf_store_reader_close(r);
}

/* Finalising before the ingester ran (the usual case for small files:
 * the eTag is in the record's batch) gives the same rows as finalising
 * afterwards: the eTag filled in, or the field dropped.  Both in one
 * ntf_store_finalize_batch, out of seq order, as a hash batch may. */
static void test_pending_etag_same_batch(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	char r1[] = "{\"k\":1,\"eTag\":\"00000000000000000000000000000000\","
		    "\"x\":1}";
	char r2[] = "{\"k\":2,\"eTag\":\"00000000000000000000000000000000\","
		    "\"x\":2}";
	struct ntf_store_entry e[2] = {
		{.event_name = "s3:ObjectCreated:Put", .bucket = "b",
		 .key = "k1", .record = r1, .record_len = strlen(r1),
		 .pending = true},
		{.event_name = "s3:ObjectCreated:Put", .bucket = "b",
		 .key = "k2", .record = r2, .record_len = strlen(r2),
		 .pending = true},
	};
	assert_int_equal(ntf_store_append(s, e, 2, NTF_DURABILITY_NONE), 0);
	struct ntf_store_fin fin[3] = {
		{&e[1].seq, 1, NULL},
		{NULL, 0, "ffffffffffffffffffffffffffffffff"}, /* nothing */
		{&e[0].seq, 1, "fedcba9876543210fedcba9876543210"},
	};
	assert_int_equal(ntf_store_finalize_batch(s, fin, 3), 0);
	assert_int_equal(ntf_store_finalize_batch(s, fin, 0), 0);
	ntf_store_close(s);

	struct ntf_store_reader *r;
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	struct ntf_store_filter f = {.since = e[0].seq - 1};
	assert_int_equal(
		ntf_store_reader_scan(r, &f, 1, check_record,
				      "{\"k\":1,\"eTag\":\""
				      "fedcba9876543210fedcba9876543210\","
				      "\"x\":1}",
				      NULL),
		0);
	f.since = e[1].seq - 1;
	assert_int_equal(ntf_store_reader_scan(r, &f, 1, check_record,
					       "{\"k\":2,\"x\":2}", NULL),
			 0);
	ntf_store_reader_close(r);
}

static void fill(const char *in, const char *etag, const char *want)
{
	char buf[256];
	size_t len = strlen(in);
	memcpy(buf, in, len);
	assert_true(ntf_store_fill_etag(buf, &len, etag));
	buf[len] = '\0';
	assert_string_equal(buf, want);
}

/* The one rewrite of the placeholder, for stored rows in a batch and for
 * live lines alike. */
/* Packed entries (what the pipeline appends when no live reader waits):
 * the log holds the record ntf_record_json makes of the event, with the
 * entry's seq as sequencer and, once finalised, the eTag; so does a
 * journal a dead daemon left, rendered by whoever replays it. */
static struct ntf_event packed_event(const char *key)
{
	return (struct ntf_event){.name = NTF_EV_OBJECT_CREATED_PUT,
				  .bucket = "b",
				  .key = key,
				  .size = 3,
				  .etag = "00000000000000000000000000000000",
				  .time_ms = 1795600800123LL,
				  .uid = 7,
				  .pid = 99,
				  .comm = "tool",
				  .region = "us-east-1"};
}

static int append_packed(struct ntf_store *s, const char *key, bool pending,
			 uint64_t *seq)
{
	struct ntf_event ev = packed_event(key);
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_pack_event(&ev, "cfg", &b), 0);
	struct ntf_store_entry e = {.event_name = "s3:ObjectCreated:Put",
				    .bucket = "b", .key = key,
				    .record = b.data, .record_len = b.len,
				    .packed = true, .pending = pending};
	int rc = ntf_store_append(s, &e, 1, NTF_DURABILITY_COMMIT);
	*seq = e.seq;
	cmn_buf_free(&b);
	return rc;
}

static char *record_of(const char *key, uint64_t seq, const char *etag)
{
	struct ntf_event ev = packed_event(key);
	ev.sequencer = seq;
	ev.etag = etag;
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_record_json(&ev, "cfg", &b), 0);
	return cmn_buf_take(&b);
}

static void expect_record(const char *dir, uint64_t seq, const char *want)
{
	struct ntf_store_reader *r;
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	struct ntf_store_filter f = {.since = seq - 1};
	assert_int_equal(ntf_store_reader_scan(r, &f, 1, check_record,
					       (void *)want, NULL),
			 0);
	ntf_store_reader_close(r);
}

static void test_packed_rendered(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t s1, s2;
	assert_int_equal(append_packed(s, "k1", true, &s1), 0);
	assert_int_equal(append_packed(s, "k 2", false, &s2), 0);
	assert_int_equal(ntf_store_flush(s), 0);
	assert_int_equal(ntf_store_finalize(s, &s1, 1,
					    "0123456789abcdef0123456789abcdef"),
			 0);
	ntf_store_close(s);
	char *r1 = record_of("k1", s1, "0123456789abcdef0123456789abcdef");
	char *r2 = record_of("k 2", s2, packed_event("").etag);
	expect_record(dir, s1, r1);
	expect_record(dir, s2, r2);
	free(r1);
	free(r2);

	/* a daemon killed before its ingester ran */
	uint64_t seqs[2];
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ntf_store *c;
		if (ntf_store_open(dir, NULL, &c, NULL) != 0 ||
		    append_packed(c, "dead1", false, &seqs[0]) != 0 ||
		    append_packed(c, "dead2", false, &seqs[1]) != 0 ||
		    write(fds[1], seqs, sizeof(seqs)) != sizeof(seqs))
			_exit(1);
		_exit(0); /* the journal holds them, the database may not */
	}
	close(fds[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(fds[0], seqs, sizeof(seqs)), sizeof(seqs));
	close(fds[0]);
	char *d1 = record_of("dead1", seqs[0], packed_event("").etag);
	char *d2 = record_of("dead2", seqs[1], packed_event("").etag);
	expect_record(dir, seqs[0], d1);
	expect_record(dir, seqs[1], d2);
	free(d1);
	free(d2);
}

static void test_fill_etag(void **state)
{
	const char *ph = "\"eTag\":\"00000000000000000000000000000000\"";
	char in[128];
	snprintf(in, sizeof(in), "{\"size\":1,%s,\"x\":2}", ph);
	fill(in, "0123456789abcdef0123456789abcdef",
	     "{\"size\":1,\"eTag\":\"0123456789abcdef0123456789abcdef\","
	     "\"x\":2}");
	fill(in, NULL, "{\"size\":1,\"x\":2}");
	snprintf(in, sizeof(in), "{\"size\":1,%s}", ph);
	fill(in, NULL, "{\"size\":1}");
	size_t len = 11;
	assert_false(ntf_store_fill_etag((char[]){"{\"size\":1}"}, &len, NULL));
	assert_int_equal(len, 11);
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A follower that heard nothing (here: its notifications were eaten, as
 * when settle() gives up before a slow commit is visible) scans again
 * within NTF_STORE_RESCAN_MS instead of waiting for the next commit. */
static void test_follower_rescans(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	struct ntf_store_reader *r;
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	int fd = ntf_store_reader_fd(r);
	assert_true(fd >= 0);
	struct got g = {0};
	uint64_t last = 0;
	assert_int_equal(ntf_store_reader_scan(r, NULL, 0, collect, &g, &last),
			 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "late", NULL, 0,
				 NTF_DURABILITY_COMMIT, NULL),
			 0);
	assert_int_equal(ntf_store_flush(s), 0);
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
	double t0 = mono_s();
	assert_int_equal(ntf_store_reader_wait(r), 0);
	double waited = mono_s() - t0;
	assert_true(waited >= 0.5 && waited < 5);
	struct ntf_store_filter f = {.since = last};
	assert_int_equal(ntf_store_reader_scan(r, &f, 0, collect, &g, &last),
			 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.keys[0], "late");
	ntf_store_reader_close(r);
	ntf_store_close(s);
}

static void test_bad_entries(void **state)
{
	struct ntf_store *s = open_store(*state, NULL);
	struct ent x;
	mk(&x, "s3:ObjectCreated:Put", "b", "k", NULL, 0);
	x.e.record = NULL;
	assert_int_equal(ntf_store_append(s, &x.e, 1, NTF_DURABILITY_COMMIT),
			 -EINVAL);
	const char *bad[] = {""};
	mk(&x, "s3:ObjectCreated:Put", "b", "k", bad, 1);
	assert_int_equal(ntf_store_append(s, &x.e, 1, NTF_DURABILITY_COMMIT),
			 -EINVAL);
	assert_int_equal(ntf_store_append(s, &x.e, 0, NTF_DURABILITY_COMMIT),
			 0);
	assert_int_equal(ntf_store_last_seq(s), 0);
	/* A second store on the same directory is refused. */
	struct ntf_store *s2 = NULL;
	char *msg = NULL;
	assert_int_equal(ntf_store_open(*state, NULL, &s2, &msg), -EBUSY);
	assert_non_null(msg);
	assert_null(s2);
	free(msg);
	ntf_store_close(s);
}

/* Copy the state directory dir, open store and all, to "dir.copy" (its
 * name in copy): what a crash at this moment would leave. */
static void crash_image(const char *dir, char *copy, size_t size)
{
	char cmd[1100];
	snprintf(copy, size, "%s.copy", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", copy, dir,
		 copy);
	assert_int_equal(system(cmd), 0);
}

static void test_durability_modes(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t a, b, c;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "c", NULL, 0,
				 NTF_DURABILITY_COMMIT, &a),
			 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "f", NULL, 0,
				 NTF_DURABILITY_FSYNC, &b),
			 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "n", NULL, 0,
				 NTF_DURABILITY_NONE, &c),
			 0);
	assert_true(a < b && b < c);
	/* COMMIT and FSYNC are in the journal: a copy of the state
	 * directory taken now (as a crash would leave it) has them, and
	 * opening it ingests them. */
	char copy[512], cmd[1100];
	crash_image(dir, copy, sizeof(copy));
	/* ... with a torn frame at the end, as a power loss may leave. */
	snprintf(cmd, sizeof(cmd),
		 "printf '\\100\\000\\000\\000torn' >> '%s/events.journal'",
		 copy);
	assert_int_equal(system(cmd), 0);
	struct ntf_store *s2 = open_store(copy, NULL);
	struct ntf_store_stats st;
	ntf_store_stats(s2, &st);
	assert_true(st.torn >= 8);
	assert_int_equal(st.damaged, 0); /* a torn end is no damage */
	ntf_store_close(s2);
	struct stat jst;
	snprintf(cmd, sizeof(cmd), "%s/events.journal", copy);
	assert_int_equal(stat(cmd, &jst), 0);
	assert_int_equal(jst.st_size, 0); /* started over */
	struct got g;
	scan(copy, NULL, &g);
	assert_true(g.n >= 2);
	assert_int_equal(g.seqs[0], a);
	assert_int_equal(g.seqs[1], b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
	/* Readers of the live store see all three once ingested. */
	assert_int_equal(ntf_store_flush(s), 0);
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.seqs[2], c);
	ntf_store_close(s);
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 3);
}

/* Intents: recorded before an acknowledgement, listed by the next open
 * when not done; one done in the batch of its own INTENT frame never
 * reaches the table, one done later is deleted from it. */
struct intents_seen {
	size_t n;
	uint64_t ids[8];
	char keys[8][32];
	char args[8][32];
	uint32_t uids[8];
	uint64_t inos[8];
	uint16_t flags[8];
};

static void intent_seen(void *arg, uint64_t id, const struct ntf_intent *in)
{
	struct intents_seen *g = arg;
	if (g->n == 8)
		return;
	g->ids[g->n] = id;
	snprintf(g->keys[g->n], 32, "%s/%s", in->bucket, in->key);
	snprintf(g->args[g->n], 32, "%s:%s", in->arg, in->comm);
	g->uids[g->n] = in->uid;
	g->inos[g->n] = in->ino;
	g->flags[g->n] = in->flags;
	g->n++;
}

static uint64_t owe(struct ntf_store *s, enum ntf_intent_kind k,
		    const char *key, enum ntf_durability d)
{
	struct ntf_intent in = {.kind = k, .bucket = "b1", .key = key,
				.arg = k == NTF_INTENT_RENAME ? "b0/d" : NULL,
				.flags = k == NTF_INTENT_RENAME
						 ? NTF_INTENT_EXCHANGE
						 : 0,
				.uid = 1000, .pid = 42, .comm = "touch",
				.dev = 3, .ino = k == NTF_INTENT_RENAME ? 99 : 0};
	uint64_t id = 0;
	assert_int_equal(ntf_store_intent(s, &in, d, &id), 0);
	assert_true(id > 0);
	return id;
}

static void test_intents(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t a = owe(s, NTF_INTENT_PUT, "a", NTF_DURABILITY_COMMIT);
	uint64_t seq;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "x", NULL, 0,
				 NTF_DURABILITY_COMMIT, &seq),
			 0);
	assert_true(seq > a); /* ids come from the sequencer */
	uint64_t b = owe(s, NTF_INTENT_PUT, "b", NTF_DURABILITY_COMMIT);
	uint64_t c = owe(s, NTF_INTENT_RENAME, "d", NTF_DURABILITY_COMMIT);
	assert_int_equal(ntf_store_intent_done(s, b, NTF_DURABILITY_COMMIT),
			 0);
	/* A crash now: the copy's open replays the journal. */
	char copy[512], cmd[1100];
	crash_image(dir, copy, sizeof(copy));
	struct ntf_store *s2 = open_store(copy, NULL);
	struct intents_seen g = {0};
	assert_int_equal(ntf_store_intents(s2, intent_seen, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ids[0], a);
	assert_string_equal(g.keys[0], "b1/a");
	assert_string_equal(g.args[0], ":touch");
	assert_int_equal(g.uids[0], 1000);
	assert_int_equal(g.ids[1], c);
	assert_string_equal(g.keys[1], "b1/d");
	assert_string_equal(g.args[1], "b0/d:touch");
	assert_int_equal(g.flags[1], NTF_INTENT_EXCHANGE);
	assert_int_equal(g.inos[1], 99);
	assert_int_equal(g.inos[0], 0);
	/* Done after its intent was ingested: deleted from the table. */
	assert_int_equal(ntf_store_intent_done(s2, a, NTF_DURABILITY_COMMIT),
			 0);
	assert_int_equal(ntf_store_flush(s2), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_intents(s2, intent_seen, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ids[0], c);
	ntf_store_close(s2);
	/* ... and stays so at the next open (the DONE is not replayed
	 * into an INTENT again). */
	s2 = open_store(copy, NULL);
	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_intents(s2, intent_seen, &g), 0);
	assert_int_equal(g.n, 1);
	ntf_store_close(s2);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
	/* The live store: a, c owed; none mode buffers like events. */
	uint64_t d = owe(s, NTF_INTENT_PUT, "n", NTF_DURABILITY_NONE);
	assert_int_equal(ntf_store_intent_done(s, d, NTF_DURABILITY_NONE), 0);
	assert_int_equal(ntf_store_intent_done(s, c, NTF_DURABILITY_COMMIT),
			 0);
	ntf_store_close(s);
	s = open_store(dir, NULL);
	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_intents(s, intent_seen, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ids[0], a);
	/* Bad intents are refused. */
	struct ntf_intent bad = {.kind = NTF_INTENT_PUT, .bucket = "",
				 .key = "k"};
	uint64_t id = 9;
	assert_int_equal(ntf_store_intent(s, &bad, NTF_DURABILITY_COMMIT, &id),
			 -EINVAL);
	assert_int_equal(id, 0);
	ntf_store_close(s);
}

/* An events.db from the first daemons with intents (no dev and ino
 * columns) opens, keeps what it owes, and takes new intents. */
static void test_intents_table_upgrade(void **state)
{
	const char *dir = *state;
	char path[600];
	snprintf(path, sizeof(path), "%s/events.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "CREATE TABLE intents(id INTEGER PRIMARY KEY, "
			     "kind INTEGER NOT NULL, flags INTEGER NOT NULL, "
			     "bucket TEXT NOT NULL, key TEXT NOT NULL, "
			     "arg TEXT NOT NULL, uid INTEGER NOT NULL, "
			     "pid INTEGER NOT NULL, comm TEXT NOT NULL);"
			     "INSERT INTO intents VALUES(5, 1, 0, 'b1', 'old', "
			     "'', 7, 8, 'sh');",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t id = owe(s, NTF_INTENT_RENAME, "new", NTF_DURABILITY_COMMIT);
	assert_int_equal(ntf_store_flush(s), 0);
	struct intents_seen g = {0};
	assert_int_equal(ntf_store_intents(s, intent_seen, &g), 0);
	assert_int_equal(g.n, 2);
	/* in id order; the made-up row's id is not from this sequencer */
	int old = g.ids[0] == 5 ? 0 : 1;
	assert_int_equal(g.ids[old], 5);
	assert_string_equal(g.keys[old], "b1/old");
	assert_int_equal(g.inos[old], 0);
	assert_int_equal(g.ids[1 - old], id);
	assert_int_equal(g.inos[1 - old], 99);
	ntf_store_close(s);
}

/* A journal damaged in its middle (a bad sector, a stray write): the
 * replay skips the frame that does not decode and goes on with the next
 * whole one, instead of losing every event after the damage. */
static void damage_and_replay(const char *dir, int how)
{
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t seq[3];
	const char *keys[3] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++)
		assert_int_equal(append1(s, "s3:ObjectCreated:Put", keys[i],
					 NULL, 0, NTF_DURABILITY_COMMIT,
					 &seq[i]),
				 0);
	char copy[512], cmd[1100], jpath[600];
	crash_image(dir, copy, sizeof(copy));
	ntf_store_close(s);
	/* The ingester may have had them already: without the database,
	 * the journal is all the copy has. */
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/events.db*", copy);
	assert_int_equal(system(cmd), 0);
	snprintf(jpath, sizeof(jpath), "%s/events.journal", copy);
	int jfd = open(jpath, O_RDWR);
	assert_true(jfd >= 0);
	uint32_t len1, len2;
	assert_int_equal(pread(jfd, &len1, 4, 0), 4);
	off_t f2 = NTF_JOURNAL_HEADER + len1;
	assert_int_equal(pread(jfd, &len2, 4, f2), 4);
	if (how == 0) { /* a byte of the second frame's body */
		char c;
		assert_int_equal(pread(jfd, &c, 1, f2 + 20), 1);
		c ^= 0x40;
		assert_int_equal(pwrite(jfd, &c, 1, f2 + 20), 1);
	} else { /* its length: past the end of the file, or not */
		uint32_t bad = how == 1 ? (8u << 20) - 16 : 1u << 20;
		assert_int_equal(pwrite(jfd, &bad, 4, f2), 4);
	}
	close(jfd);
	struct ntf_store *s2 = open_store(copy, NULL);
	struct ntf_store_stats st;
	ntf_store_stats(s2, &st);
	assert_int_equal(st.damaged, NTF_JOURNAL_HEADER + len2);
	assert_int_equal(st.replayed, 2);
	ntf_store_close(s2);
	struct got g;
	scan(copy, NULL, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.seqs[0], seq[0]);
	assert_int_equal(g.seqs[1], seq[2]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
}

static void test_journal_damage(void **state)
{
	for (int how = 0; how < 3; how++) {
		char sub[600], cmd[700];
		snprintf(sub, sizeof(sub), "%s/d%d", (const char *)*state, how);
		assert_int_equal(mkdir(sub, 0700), 0);
		damage_and_replay(sub, how);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sub);
		assert_int_equal(system(cmd), 0);
	}
}

/* The journal's first part is allocated ahead (and mapped): a crash
 * image holds the frames and then zeros, which are neither torn nor
 * replayed. */
static void test_crash_image_allocated_tail(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t seq[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k", NULL,
					 0, NTF_DURABILITY_COMMIT, &seq[i]),
				 0);
	char copy[512], cmd[1100], jpath[600];
	crash_image(dir, copy, sizeof(copy));
	ntf_store_close(s);
	struct stat jst;
	snprintf(jpath, sizeof(jpath), "%s/events.journal", copy);
	assert_int_equal(stat(jpath, &jst), 0);
	assert_true(jst.st_size > 3 * 100); /* frames, then the zero tail */
	struct ntf_store *s2 = open_store(copy, NULL);
	struct ntf_store_stats st;
	ntf_store_stats(s2, &st);
	assert_int_equal(st.torn, 0);
	ntf_store_close(s2);
	assert_int_equal(stat(jpath, &jst), 0);
	assert_int_equal(jst.st_size, 0); /* emptied at close */
	struct got g;
	scan(copy, NULL, &g);
	assert_int_equal(g.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g.seqs[i], seq[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
}

/* Append n records of len bytes each, flushing after every flush_every
 * (0: never); returns the seq of the last. */
static uint64_t append_many(struct ntf_store *s, size_t len, int n,
			    int flush_every)
{
	char *rec = malloc(len);
	assert_non_null(rec);
	memset(rec, 'r', len);
	struct ntf_store_entry e = {.event_name = "s3:ObjectCreated:Put",
				    .bucket = "b",
				    .key = "k",
				    .record = rec,
				    .record_len = len};
	for (int i = 0; i < n; i++) {
		e.seq = 0;
		assert_int_equal(
			ntf_store_append(s, &e, 1, NTF_DURABILITY_COMMIT), 0);
		if (flush_every && i % flush_every == flush_every - 1)
			assert_int_equal(ntf_store_flush(s), 0);
	}
	free(rec);
	return e.seq;
}

/* While the ingester cannot write (another connection holds the
 * database's write lock), the journal grows past its mapped first part:
 * the appends beyond it go through pwrite().  A crash image taken then
 * replays both parts, and the live store ingests all once the lock goes. */
static void test_journal_beyond_map(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	char path[600], copy[512], cmd[1100];
	snprintf(path, sizeof(path), "%s/events.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	const int total = 6000; /* ~12 MB of frames */
	uint64_t last = append_many(s, 2000, total, 0);
	crash_image(dir, copy, sizeof(copy));
	struct stat jst;
	snprintf(path, sizeof(path), "%s/events.journal", copy);
	assert_int_equal(stat(path, &jst), 0);
	assert_true(jst.st_size > NTF_LIMIT_STORE_JOURNAL_MAP);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ntf_store_flush(s), 0);
	ntf_store_close(s);
	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, total);
	ntf_store_close(open_store(copy, NULL));
	scan(copy, NULL, &g);
	assert_int_equal(g.n, total);
	struct ntf_store_filter f = {.since = last - 1};
	scan(copy, &f, &g);
	assert_int_equal(g.n, 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
}

/* A reader opened after an append returned sees the entry, without a
 * flush: its open waits for the ingester to catch up. */
static void test_read_your_writes(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	for (int round = 0; round < 20; round++) {
		uint64_t seq;
		char key[16];
		snprintf(key, sizeof(key), "k%d", round);
		assert_int_equal(append1(s, "s3:ObjectCreated:Put", key, NULL,
					 0, NTF_DURABILITY_COMMIT, &seq),
				 0);
		struct got g;
		struct ntf_store_filter f = {.since = seq - 1};
		scan(dir, &f, &g);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.seqs[0], seq);
	}
	ntf_store_close(s);
}

/* The journal starts over from its beginning once it has grown and all
 * of it is ingested; a crash image taken after that (new frames at the
 * start, older ingested frames behind them) replays the new ones only. */
static void test_journal_restart_replay(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	const int total = 6000; /* ~6 MB of frames: at least one restart */
	append_many(s, 1000, total, 500);
	uint64_t last = append_many(s, 1000, 10, 0);
	char copy[512], cmd[1100], jpath[600];
	crash_image(dir, copy, sizeof(copy));
	ntf_store_close(s);
	/* It restarted: the file begins with a frame of a later event (a
	 * frame's seq is at byte 8 of its body, after its 8-byte header). */
	snprintf(jpath, sizeof(jpath), "%s/events.journal", copy);
	int jfd = open(jpath, O_RDONLY);
	uint64_t first_seq = 0;
	assert_true(jfd >= 0);
	assert_int_equal(pread(jfd, &first_seq, 8, NTF_JOURNAL_HEADER + 8), 8);
	close(jfd);
	assert_true(first_seq > 1000);
	/* Replaying the image inserts no seq twice (that would fail the
	 * open) and loses none.  The frames written over in part are no
	 * damage: all after them was in the database. */
	struct ntf_store *s2 = open_store(copy, NULL);
	struct ntf_store_stats st;
	ntf_store_stats(s2, &st);
	assert_int_equal(st.damaged, 0);
	ntf_store_close(s2);
	struct got g;
	scan(copy, NULL, &g);
	assert_int_equal(g.n, total + 10);
	struct ntf_store_filter f = {.since = last - 1};
	scan(copy, &f, &g);
	assert_int_equal(g.n, 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	assert_int_equal(system(cmd), 0);
}

static void test_reopen_continues(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t a, b;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "x", NULL, 0,
				 NTF_DURABILITY_COMMIT, &a),
			 0);
	ntf_store_close(s);
	s = open_store(dir, NULL);
	assert_true(ntf_store_last_seq(s) >= a);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "y", NULL, 0,
				 NTF_DURABILITY_COMMIT, &b),
			 0);
	assert_true(b > a);
	ntf_store_close(s);
}

/* The seqs of the next block are reserved at open: after a restart the
 * first appends do not write (and fsync) events.seq on their caller's
 * thread.  It is replaced by rename, so its inode tells a rewrite. */
static ino_t seq_file_ino(const char *dir)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/events.seq", dir);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void test_reopen_reserves_ahead(void **state)
{
	const char *dir = *state;
	for (int round = 0; round < 3; round++) {
		struct ntf_store *s = open_store(dir, NULL);
		ino_t before = seq_file_ino(dir);
		uint64_t seq;
		for (int i = 0; i < 100; i++)
			assert_int_equal(append1(s, "s3:ObjectCreated:Put",
						 "k", NULL, 0,
						 NTF_DURABILITY_NONE, &seq),
					 0);
		assert_true(seq_file_ino(dir) == before);
		ntf_store_close(s);
	}
}

static void test_retention_count(void **state)
{
	const char *dir = *state;
	struct ntf_store_opts o = {.log_max_events = 100};
	struct ntf_store *s = open_store(dir, &o);
	struct ent x[50];
	uint64_t last = 0;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 50; i++)
			mk(&x[i], "s3:ObjectCreated:Put", "b", "k", NULL, 0);
		assert_int_equal(append_n(s, x, 50, NTF_DURABILITY_COMMIT), 0);
		last = x[49].e.seq;
	}
	ntf_store_close(s);
	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 100);
	assert_int_equal(g.seqs[99], last);
	assert_int_equal(g.seqs[0], last - 99);
	/* A smaller limit applies at the next open. */
	o.log_max_events = 10;
	s = open_store(dir, &o);
	ntf_store_close(s);
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 10);
}

static void test_retention_age(void **state)
{
	const char *dir = *state;
	struct ntf_store_opts o = {.log_max_age_ms = 60000};
	struct ntf_store *s = open_store(dir, &o);
	struct ent x[30];
	for (int i = 0; i < 30; i++) {
		mk(&x[i], "s3:ObjectCreated:Put", "b", i < 20 ? "old" : "new",
		   NULL, 0);
		x[i].e.time_ms = now_ms() - (i < 20 ? 3600000 : 0);
	}
	assert_int_equal(append_n(s, &x[0], 20, NTF_DURABILITY_COMMIT), 0);
	assert_int_equal(append_n(s, &x[20], 10, NTF_DURABILITY_COMMIT), 0);
	ntf_store_close(s);
	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 10);
	for (size_t i = 0; i < g.n; i++)
		assert_string_equal(g.keys[i], "new");
}

static void test_queues(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	const char *both[] = {"local", "arn:bucketfs:sqs::A:webhook"};
	const char *only_a[] = {"arn:bucketfs:sqs::A:webhook"};
	const char *a_b[] = {"arn:bucketfs:sqs::A:webhook",
			     "arn:bucketfs:sqs::B:kafka"};
	const char *A = only_a[0], *B = a_b[1];
	uint64_t s1, s2, s3;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k1", both, 2,
				 NTF_DURABILITY_COMMIT, &s1),
			 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k2", only_a, 1,
				 NTF_DURABILITY_COMMIT, &s2),
			 0);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k3", a_b, 2,
				 NTF_DURABILITY_COMMIT, &s3),
			 0);
	assert_int_equal(ntf_store_flush(s), 0);
	assert_int_equal(ntf_store_queue_count(s, A), 3);
	assert_int_equal(ntf_store_queue_count(s, B), 1);
	assert_int_equal(ntf_store_queue_count(s, "nobody"), 0);

	/* Only k1 went to the log. */
	struct got g;
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.seqs[0], s1);

	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_queue_peek(s, A, 2, collect, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.seqs[0], s1);
	assert_int_equal(g.seqs[1], s2);
	assert_string_equal(g.keys[1], "k2");

	assert_int_equal(ntf_store_queue_attempt(s, A, s2), 1);
	assert_int_equal(ntf_store_queue_attempt(s, A, s2), 2);
	assert_int_equal(ntf_store_queue_attempt(s, B, s2), -ENOENT);

	uint64_t acks[] = {s1, s2, 999999};
	assert_int_equal(ntf_store_queue_ack(s, A, acks, 3), 2);
	assert_int_equal(ntf_store_queue_count(s, A), 1);
	assert_int_equal(ntf_store_queue_ack(s, A, acks, 2), 0);
	/* k1 stays in the log after its delivery. */
	scan(dir, NULL, &g);
	assert_int_equal(g.n, 1);

	/* k3: A fails permanently, B delivers; the dead letter keeps it. */
	assert_int_equal(ntf_store_queue_deadletter(s, A, s3, "HTTP 400"), 0);
	assert_int_equal(ntf_store_queue_deadletter(s, A, s3, "again"),
			 -ENOENT);
	assert_int_equal(ntf_store_queue_count(s, A), 0);
	assert_int_equal(ntf_store_deadletter_count(s, A), 1);
	assert_int_equal(ntf_store_deadletter_count(s, NULL), 1);
	assert_int_equal(ntf_store_queue_ack(s, B, &s3, 1), 1);
	assert_int_equal(ntf_store_deadletter_retry(s, A), 1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(ntf_store_queue_peek(s, A, 10, collect, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.keys[0], "k3");
	assert_int_equal(g.attempts[0], 0);
	assert_int_equal(ntf_store_queue_deadletter(s, A, s3, "HTTP 400"), 0);
	assert_int_equal(ntf_store_deadletter_purge(s, NULL), 1);
	assert_int_equal(ntf_store_deadletter_count(s, NULL), 0);
	ntf_store_close(s);

	/* The queues survive a restart. */
	s = open_store(dir, NULL);
	assert_int_equal(ntf_store_queue_count(s, A), 0);
	uint64_t s4;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "k4", only_a, 1,
				 NTF_DURABILITY_NONE, &s4),
			 0);
	ntf_store_close(s);
	s = open_store(dir, NULL);
	assert_int_equal(ntf_store_queue_count(s, A), 1);
	ntf_store_close(s);
}

static int dead_collect(void *arg, const char *target,
			const struct ntf_store_entry *e, unsigned attempts,
			int64_t failed_ms, const char *error)
{
	int *n = arg;
	assert_string_equal(error, "boom");
	assert_string_equal(e->key, "dl");
	assert_int_equal(attempts, 1);
	assert_true(failed_ms > 0);
	(*n)++;
	return 0;
}

static void test_deadletter_list(void **state)
{
	struct ntf_store *s = open_store(*state, NULL);
	const char *t[] = {"T1", "T2"};
	uint64_t seq;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "dl", t, 2,
				 NTF_DURABILITY_COMMIT, &seq),
			 0);
	assert_int_equal(ntf_store_flush(s), 0);
	assert_int_equal(ntf_store_queue_attempt(s, "T1", seq), 1);
	assert_int_equal(ntf_store_queue_attempt(s, "T2", seq), 1);
	assert_int_equal(ntf_store_queue_deadletter(s, "T1", seq, "boom"), 0);
	assert_int_equal(ntf_store_queue_deadletter(s, "T2", seq, "boom"), 0);
	int n = 0;
	assert_int_equal(
		ntf_store_deadletter_list(s, NULL, 0, dead_collect, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(
		ntf_store_deadletter_list(s, "T2", 0, dead_collect, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ntf_store_deadletter_purge(s, "T1"), 1);
	assert_int_equal(ntf_store_deadletter_count(s, NULL), 1);
	ntf_store_close(s);
}

/* ---- crash tests ---- */

struct burst {
	struct ntf_store *s;
	int fd;
	enum ntf_durability d;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	for (;;) {
		uint64_t seq;
		if (append1(b->s, "s3:ObjectCreated:Put", "crash", NULL, 0,
			    b->d, &seq) == 0 &&
		    write(b->fd, &seq, sizeof(seq)) != sizeof(seq))
			_exit(3);
	}
	return NULL;
}

/* Fork a child appending from 2 threads, each acknowledged seq written to a
 * pipe; kill it once `want` seqs arrived.  Returns the seqs (caller frees). */
static uint64_t *crash_child(const char *dir, enum ntf_durability d,
			     size_t want, size_t *n)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct ntf_store *s = NULL;
		if (ntf_store_open(dir, NULL, &s, NULL))
			_exit(2);
		struct burst b = {s, p[1], d};
		pthread_t t;
		pthread_create(&t, NULL, burst_main, &b);
		burst_main(&b);
	}
	close(p[1]);
	size_t cap = want * 4, got = 0;
	uint64_t *seqs = malloc(cap * sizeof(*seqs));
	assert_non_null(seqs);
	for (;;) {
		if (got == want)
			kill(pid, SIGKILL);
		if (got == cap)
			break;
		ssize_t r = read(p[0], &seqs[got], sizeof(*seqs));
		if (r <= 0)
			break;
		assert_int_equal(r, sizeof(*seqs));
		got++;
	}
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	close(p[0]);
	*n = got;
	return seqs;
}

static int mark_seen(void *arg, const struct ntf_store_entry *e, unsigned a)
{
	uint8_t *seen = arg;
	if (e->seq < (1u << 22))
		seen[e->seq] = 1;
	return 0;
}

static uint64_t max_of(const uint64_t *v, size_t n)
{
	uint64_t m = 0;
	for (size_t i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void test_crash_commit(void **state)
{
	const char *dir = *state;
	size_t n;
	uint64_t *acked = crash_child(dir, NTF_DURABILITY_COMMIT, 3000, &n);
	assert_true(n >= 3000);
	uint8_t *seen = calloc(1u << 22, 1);
	struct ntf_store_reader *r;
	assert_int_equal(ntf_store_reader_open(dir, &r, NULL), 0);
	assert_int_equal(
		ntf_store_reader_scan(r, NULL, 0, mark_seen, seen, NULL), 0);
	ntf_store_reader_close(r);
	for (size_t i = 0; i < n; i++) {
		assert_true(acked[i] < (1u << 22));
		assert_true(seen[acked[i]]);
	}
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t next;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "after", NULL, 0,
				 NTF_DURABILITY_COMMIT, &next),
			 0);
	assert_true(next > max_of(acked, n));
	ntf_store_close(s);
	free(seen);
	free(acked);
}

static void test_crash_none(void **state)
{
	const char *dir = *state;
	size_t n;
	uint64_t *handed = crash_child(dir, NTF_DURABILITY_NONE, 20000, &n);
	assert_true(n >= 20000);
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t next;
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "after", NULL, 0,
				 NTF_DURABILITY_NONE, &next),
			 0);
	assert_true(next > max_of(handed, n));
	ntf_store_close(s);
	free(handed);
}

/* ---- bucketfs events ---- */

/* Run ntf_evcli_main with argv, stdout captured into out. */
static int run_cli(char *out, size_t size, int argc, char **argv)
{
	fflush(stdout);
	int p[2], saved = dup(1);
	assert_int_equal(pipe(p), 0);
	dup2(p[1], 1);
	close(p[1]);
	int rc = ntf_evcli_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	ssize_t n = read(p[0], out, size - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return rc;
}

static void test_events_cli(void **state)
{
	const char *dir = *state;
	struct ntf_store *s = open_store(dir, NULL);
	uint64_t s1, s2, s3;
	struct ent x;
	mk(&x, "s3:ObjectCreated:Put", "photos", "a.jpg", NULL, 0);
	assert_int_equal(ntf_store_append(s, &x.e, 1, NTF_DURABILITY_COMMIT),
			 0);
	s1 = x.e.seq;
	mk(&x, "s3:ObjectRemoved:Delete", "photos", "a.jpg", NULL, 0);
	assert_int_equal(ntf_store_append(s, &x.e, 1, NTF_DURABILITY_COMMIT),
			 0);
	s2 = x.e.seq;
	mk(&x, "s3:ObjectCreated:Copy", "docs", "b.txt", NULL, 0);
	assert_int_equal(ntf_store_append(s, &x.e, 1, NTF_DURABILITY_COMMIT),
			 0);
	s3 = x.e.seq;
	assert_true(s1 < s2 && s2 < s3);
	ntf_store_close(s);

	char out[4096], since[32];
	char *a1[] = {"events", "--state", (char *)dir};
	assert_int_equal(run_cli(out, sizeof(out), 3, a1), 0);
	assert_string_equal(out, "{\"e\":\"s3:ObjectCreated:Put\",\"b\":"
				 "\"photos\",\"k\":\"a.jpg\"}\n"
				 "{\"e\":\"s3:ObjectRemoved:Delete\",\"b\":"
				 "\"photos\",\"k\":\"a.jpg\"}\n"
				 "{\"e\":\"s3:ObjectCreated:Copy\",\"b\":"
				 "\"docs\",\"k\":\"b.txt\"}\n");
	char *a2[] = {"events", "--state", (char *)dir, "--event",
		      "s3:ObjectCreated:*"};
	assert_int_equal(run_cli(out, sizeof(out), 5, a2), 0);
	assert_string_equal(out, "{\"e\":\"s3:ObjectCreated:Put\",\"b\":"
				 "\"photos\",\"k\":\"a.jpg\"}\n"
				 "{\"e\":\"s3:ObjectCreated:Copy\",\"b\":"
				 "\"docs\",\"k\":\"b.txt\"}\n");
	snprintf(since, sizeof(since), "%" PRIu64, s1);
	char *a3[] = {"events", "--state",  (char *)dir, "--since",
		      since,	"--bucket", "photos"};
	assert_int_equal(run_cli(out, sizeof(out), 7, a3), 0);
	assert_string_equal(out, "{\"e\":\"s3:ObjectRemoved:Delete\",\"b\":"
				 "\"photos\",\"k\":\"a.jpg\"}\n");
	char *a4[] = {"events", "--state", (char *)dir, "--since", "12x"};
	assert_int_equal(run_cli(out, sizeof(out), 5, a4), 2);
	char *a5[] = {"events"};
	assert_int_equal(run_cli(out, sizeof(out), 1, a5), 2);
	char *a6[] = {"events", "--state", "/nonexistent/bucketfs-state"};
	assert_int_equal(run_cli(out, sizeof(out), 3, a6), 1);
	char *a7[] = {"events", "/tmp"}; /* not a bucketfs mount */
	assert_int_equal(run_cli(out, sizeof(out), 2, a7), 1);
	assert_string_equal(out, "");
}

/* A mount is found through MNT/.bucketfs/state; --follow prints what
 * arrives later. */
static void test_events_cli_mount_follow(void **state)
{
	const char *dir = *state;
	char mnt[512], path[600];
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(path, sizeof(path), "%s/.bucketfs", mnt);
	assert_int_equal(mkdir(mnt, 0700), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.bucketfs/state", mnt);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s/state\n", dir);
	fclose(f);
	char sdir[512];
	snprintf(sdir, sizeof(sdir), "%s/state", dir);

	/* Fork before the store starts its ingester thread: a child forked
	 * from a threaded process may inherit a lock (ASan's allocator's,
	 * here) that a parent thread held, and hang in its first malloc.  It
	 * waits on `go` until the store holds the first record. */
	int p[2], go[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(go), 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(go[1]);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		char *av[] = {"events", "--follow", mnt};
		_exit(ntf_evcli_main(3, av));
	}
	close(p[1]);
	close(go[0]);
	struct ntf_store *s = open_store(sdir, NULL);
	assert_int_equal(append1(s, "s3:ObjectCreated:Put", "first", NULL, 0,
				 NTF_DURABILITY_COMMIT, NULL),
			 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	char buf[1024];
	size_t len = 0;
	const char *want = "{\"e\":\"s3:ObjectCreated:Put\",\"b\":\"b1\",\"k\":"
			   "\"first\"}\n"
			   "{\"e\":\"s3:ObjectCreated:Put\",\"b\":\"b1\",\"k\":"
			   "\"second\"}\n";
	bool sent = false;
	while (len < strlen(want)) {
		ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = '\0';
		if (!sent && strchr(buf, '\n')) {
			assert_int_equal(append1(s, "s3:ObjectCreated:Put",
						 "second", NULL, 0,
						 NTF_DURABILITY_COMMIT, NULL),
					 0);
			sent = true;
		}
	}
	assert_string_equal(buf, want);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(p[0]);
	ntf_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_read_back,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_seq_in_record, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_pending_etag, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_pending_etag_same_batch, setup_dir,
						teardown_dir),
cmocka_unit_test(test_fill_etag),
		cmocka_unit_test_setup_teardown(test_packed_rendered, setup_dir,
						teardown_dir),
				cmocka_unit_test_setup_teardown(test_follower_rescans, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_entries, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_intents, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_journal_damage, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_intents_table_upgrade,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_durability_modes,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_crash_image_allocated_tail,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_journal_beyond_map,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_your_writes,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_journal_restart_replay,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_reopen_continues,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_reopen_reserves_ahead,
						setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_retention_count, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_retention_age, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_queues, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_deadletter_list, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_crash_commit, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_crash_none, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_cli, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_cli_mount_follow,
						setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
