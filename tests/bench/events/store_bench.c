/*
 * store_bench.c - how many events per second the event store ingests in a
 * burst from 2 appender threads, measured from the first emit until every
 * entry is in the database (ntf_store_flush returned), for each
 * durability mode; also when the appends returned (the events were in the
 * journal, as the durability asks).  Each event is an ObjectCreated:Put
 * packed as the daemon packs it (ntf_pack_event, ~150 bytes), which the
 * ingester renders into its ~700-byte record JSON on the way into
 * events.db, as it does in the daemon.  Run by run.sh.
 *
 *   store_bench [EVENTS_PER_THREAD [ENTRIES_PER_APPEND [THREADS]]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmn_buf.h"
#include "ntf_pack.h"
#include "ntf_record.h"
#include "ntf_store.h"

#define MAX_THREADS 16

static int threads = 2;

struct worker {
	struct ntf_store *s;
	enum ntf_durability d;
	long n, per_call;
	int err;
};

static struct cmn_buf packed; /* the event, packed */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ntf_store_entry e[64];
	for (long i = 0; i < w->per_call; i++)
		e[i] = (struct ntf_store_entry){
			.time_ms = 1700000000000,
			.event_name = "s3:ObjectCreated:Put",
			.bucket = "bench",
			.key = "dir/file-000000.txt",
			.record = packed.data,
			.record_len = packed.len,
			.packed = true,
		};
	for (long done = 0; done < w->n; done += w->per_call) {
		int err = ntf_store_append(w->s, e, (size_t)w->per_call, w->d);
		if (err && !w->err)
			w->err = err;
	}
	return NULL;
}

static int errors(const struct worker *w)
{
	for (int i = 0; i < threads; i++)
		if (w[i].err)
			return 1;
	return 0;
}

static int run(const char *name, enum ntf_durability d, long n, long per)
{
	char dir[] = "/tmp/store_bench.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	struct ntf_store *s;
	char *msg = NULL;
	if (ntf_store_open(dir, NULL, &s, &msg)) {
		fprintf(stderr, "open: %s\n", msg ? msg : "?");
		return 1;
	}
	struct worker w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	double t0 = now_s();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){s, d, n, per, 0};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double t_emit = now_s() - t0;
	ntf_store_flush(s);
	double t_all = now_s() - t0;
	struct ntf_store_stats st;
	ntf_store_stats(s, &st);
	ntf_store_close(s);
	unsigned long long total =
		(unsigned long long)threads * (unsigned long long)n;
	printf("%2d thr %-7s %2ld/append: %9.0f events/s emit-to-database "
	       "(%.3f s; appends returned after %.3f s = %.0f/s; %llu "
	       "transactions, avg %.0f/txn, %llu dropped)%s\n",
	       threads, name, per, (double)total / t_all, t_all, t_emit,
	       (double)total / t_emit, (unsigned long long)st.batches,
	       st.batches ? (double)st.committed / (double)st.batches : 0.0,
	       (unsigned long long)st.dropped,
	       errors(w) && !st.dropped ? " ERRORS" : "");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	long per = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2;
	if (n <= 0 || per <= 0 || per > 64 || threads < 1 ||
	    threads > MAX_THREADS)
		return 2;
	struct ntf_event ev = {
		.name = NTF_EV_OBJECT_CREATED_PUT, .bucket = "bench",
		.key = "dir/file-000000.txt", .size = 4096,
		.etag = "0123456789abcdef0123456789abcdef",
		.content_type = "text/plain", .time_ms = 1700000000000,
		.uid = 1000, .pid = 4242, .comm = "store_bench",
		.region = "us-east-1", .host = "bench-host"};
	cmn_buf_init(&packed, 1 << 16);
	if (ntf_pack_event(&ev, "bench", &packed) != 0)
		return 1;
	int rc = run("commit", NTF_DURABILITY_COMMIT, n, per) |
		 run("fsync", NTF_DURABILITY_FSYNC, n / 20, per) |
		 run("none", NTF_DURABILITY_NONE, n, per);
	cmn_buf_free(&packed);
	return rc;
}
