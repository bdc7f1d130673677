/*
 * ntf_store.c - the durable event store: sequencer, journal, ingestion
 * into the embedded log with retention, and the per-target queues.
 *
 * Files in the state directory:
 *   events.journal  the write-ahead file appenders write their events to
 *               (frames of ntf_journal.h); everything in it that events.db
 *               does not have yet is ingested at open.
 *   events.db   SQLite, WAL mode; the schema below.
 *   events.seq  the sequencer's high-water mark, a decimal number: every seq
 *               ever handed out is below it.  It is written (tmp + fsync +
 *               rename + fsync of the directory) a block of seqs ahead of
 *               use, so a seq costs a locked increment, and after kill -9 or
 *               power loss (even with durability none) the next seq is
 *               max(hwm, MAX(seq) + 1): the sequence never goes backwards.
 * The directory itself is flock'ed while a store is open.
 *
 * Schema.  Every appended entry is one row of `records`, keyed by its seq
 * (the rowid, so inserts append to the b-tree).  Rather than copying the
 * record per destination, queues reference it:
 *   records(seq, time_ms, event_name, bucket, key, record, logged, refs)
 *     logged = 1 while the entry is part of the event log (its targets
 *     included "local" and retention has not removed it); refs = number of
 *     queue and dead-letter rows pointing at it.  A row with logged = 0 and
 *     refs = 0 is deleted at once, so the log is `WHERE logged = 1` and a
 *     non-local entry lives exactly as long as some target still needs it.
 *   queue(target, seq, attempts)           WITHOUT ROWID, PK (target, seq):
 *     a target's queue is a range scan in seq order.
 *   deadletter(target, seq, attempts, failed_ms, error)  same key.
 *   meta(name, value): the schema version, and `journal_seq`, the highest
 *     seq ingested from the journal (replay skips what is below it).
 *
 * Appending.  ntf_store_append encodes the entries as journal frames and,
 * under `mu`, takes their seqs and writes the frames at the journal's end
 * (a memcpy into the mapped first part of the file, else one pwrite().
 * COMMIT: the event survives a crash of the daemon once that returns;
 * FSYNC: appenders then share fdatasync()s of the journal, one at a time,
 * each covering everything written before it started; NONE: the frames
 * go to a memory buffer the ingester writes out).  Seqs and
 * frames are taken under the same lock, so the journal is in seq order.
 *
 * Ingestion.  One ingester thread reads what was appended since it last
 * looked, back from the page cache, and inserts it into events.db in one
 * transaction per NTF_LIMIT_STORE_BATCH entries, then starts the journal
 * over (see journal_restart) once it is all in and has grown past
 * NTF_LIMIT_STORE_JOURNAL_TRUNCATE.
 * Readers of the log and the queues see an event once it is ingested.  The
 * ingester is never woken per event: an appender wakes it only when it
 * sleeps idle (the first event after a quiet spell) or when a burst has
 * piled up NTF_LIMIT_STORE_INGEST_KICK bytes; after each ingest it lets
 * events gather for NTF_LIMIT_STORE_INGEST_DELAY_MS, and when none came it
 * sleeps untimed.  An idle store has an idle thread.
 *
 * Back-pressure.  When the journal holds NTF_LIMIT_STORE_JOURNAL_LAG bytes
 * not yet ingested (the database is slow or failing), COMMIT and FSYNC
 * appenders wait for the ingester; NONE appenders wait at most
 * NTF_LIMIT_STORE_NONE_WAIT_MS, then their entries are dropped, counted in
 * stats.dropped, and -EAGAIN is returned, so a stuck disk never blocks a
 * fire-and-forget caller for long.  A failed ingest transaction is retried
 * (with a growing delay): the frames stay in the journal meanwhile.
 *
 * Space.  The journal is allocated ahead of its appends (the mapped
 * part at open, then NTF_LIMIT_STORE_ALLOC_STEP at a time), and refusable
 * appends (NTF_STORE_REFUSABLE: a Put whose close() can still fail, the
 * intent of an empty file's Put, a GET's record) must leave
 * NTF_LIMIT_STORE_RESERVE of it to the others: records of operations
 * already done, finalisations, the durability=none buffer.  With the
 * file system full, Puts are refused first (ENOSPC) while unlinks and
 * renames still get their records in, and ntf_store_owed_room tells an
 * operation owing records that it must not happen once the reserve runs
 * low.
 *
 * Retention runs on the ingester thread right after an ingest, in its own
 * small transaction, only when the log is over log_max_events or its oldest
 * entry is older than log_max_age; one pass removes at most
 * NTF_LIMIT_STORE_RETAIN_CHUNK entries, so the cost stays proportional to
 * the ingest.  With no events arriving nothing ages out (no timer).
 */
#include "ntf_store.h"
#include "ntf_journal.h"
#include "ntf_limits.h"
#include "ntf_pack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_thread.h"
#include "cmn_time.h"

struct item {
	uint64_t seq;
	int64_t time_ms;
	size_t name, bucket, key, record, targets; /* offsets into arena */
	size_t record_len, n_targets;
	bool logged;
	bool pending;
};

/* A pending record to finalise in the next transaction. */
struct fin {
	uint64_t seq;
	bool has_etag;
	char etag[33];
};

/* An intent on its way into the intents table. */
struct held_intent {
	uint64_t id;
	uint64_t dev, ino;
	uint16_t kind, flags;
	uint32_t uid;
	int32_t pid;
	size_t bucket, key, arg, comm; /* offsets into arena */
	bool done; /* its DONE came in the same batch: nothing to insert */
};

/* One ingest transaction's worth of entries and finalisations, decoded
 * from the journal.  Owned by the ingester (or by open, for the replay). */
struct batch {
	struct item *items;
	size_t n, cap;
	struct fin *fin;  /* finalisations, applied after the inserts */
	size_t nfin, capfin;
	struct held_intent *intents; /* in id order */
	size_t nint, capint;
	uint64_t *dones; /* DONEs of intents of earlier batches */
	size_t ndone, capdone;
	char *arena;
	size_t len, acap;
	uint64_t last_seq; /* highest seq of an item (the replay mark) */
	uint64_t failed;   /* packed records that did not render */
	struct cmn_buf json; /* a packed record rendered, on its way in */
};

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSERT,
	ST_ENQUEUE,
	ST_RETAIN_SCAN,
	ST_RETAIN_KEEP,
	ST_RETAIN_DELETE,
	ST_Q_PEEK,
	ST_Q_DEL,
	ST_UNREF,
	ST_GC,
	ST_Q_ATTEMPT,
	ST_Q_COUNT,
	ST_Q_TO_DEAD,
	ST_D_COUNT,
	ST_D_LIST,
	ST_D_TO_QUEUE,
	ST_D_DEL_ALL,
	ST_D_UNREF_ALL,
	ST_D_GC_ALL,
	ST_FINALIZE,
	ST_FINALIZE_NONE,
	ST_PENDING,
	ST_MARK,
	ST_INTENT_ADD,
	ST_INTENT_DEL,
	ST_INTENTS,
	ST_COUNT_
};

/* How a follower waits for a commit to finish after hearing its WAL
 * write: quiet for NTF_STORE_SETTLE_MS, at most this many times. */
#define NTF_STORE_SETTLE_MS 10
#define NTF_STORE_SETTLE_ROUNDS 20

/* A follower scans again after this long without a notification: settle()
 * bounds how long it waits for a commit to finish, and a commit whose
 * WAL-index update came later than that (a descheduled ingester) would
 * otherwise stay unseen until the next one.  One indexed query a second. */
#define NTF_STORE_RESCAN_MS 1000

/* Longest a reader waits at open for the daemon to ingest what it had
 * acknowledged (see reader_catch_up). */
#define NTF_STORE_CATCH_UP_MS 2000

/* The eTag placeholder of a pending record (see ntf_store_finalize). */
#define PENDING_ETAG "\"eTag\":\"00000000000000000000000000000000\""

/* Rows a reader may see: everything below the oldest pending record, so
 * that a record finalised late is never skipped by someone following the
 * log or a queue in seq order. */
#define BELOW_PENDING                                                          \
	"(SELECT ifnull(min(seq), 9223372036854775807) FROM records "          \
	"WHERE pending = 1)"

/* Every statement the store uses, prepared once at open. */
static const char *const stmt_sql[ST_COUNT_] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INSERT] =
		"INSERT INTO records(seq, time_ms, event_name, bucket, "
		"key, record, logged, refs, pending) "
		"VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
	[ST_ENQUEUE] = "INSERT OR IGNORE INTO queue(target, seq, attempts) "
		       "VALUES(?1, ?2, 0)",
	[ST_RETAIN_SCAN] = "SELECT seq, time_ms FROM records WHERE logged = 1 "
			   "ORDER BY seq LIMIT ?1",
	[ST_RETAIN_KEEP] = "UPDATE records SET logged = 0 WHERE seq <= ?1 "
			   "AND logged = 1 AND refs > 0",
	[ST_RETAIN_DELETE] = "DELETE FROM records WHERE seq <= ?1 "
			     "AND logged = 1 AND refs = 0",
	[ST_Q_PEEK] = "SELECT r.seq, r.time_ms, r.event_name, r.bucket, r.key, "
		      "r.record, q.attempts FROM queue q JOIN records r "
		      "ON r.seq = q.seq WHERE q.target = ?1 AND q.seq < "
		      BELOW_PENDING " ORDER BY q.seq LIMIT ?2",
	[ST_Q_DEL] = "DELETE FROM queue WHERE target = ?1 AND seq = ?2",
	[ST_UNREF] = "UPDATE records SET refs = refs - ?2 WHERE seq = ?1",
	[ST_GC] = "DELETE FROM records WHERE seq = ?1 AND refs = 0 "
		  "AND logged = 0",
	[ST_Q_ATTEMPT] = "UPDATE queue SET attempts = attempts + 1 WHERE "
			 "target = ?1 AND seq = ?2 RETURNING attempts",
	[ST_Q_COUNT] = "SELECT count(*) FROM queue WHERE target = ?1",
	[ST_Q_TO_DEAD] = "INSERT INTO deadletter(target, seq, attempts, "
			 "failed_ms, error) SELECT target, seq, attempts, ?3, "
			 "?4 FROM queue WHERE target = ?1 AND seq = ?2",
	[ST_D_COUNT] = "SELECT count(*) FROM deadletter WHERE "
		       "?1 IS NULL OR target = ?1",
	[ST_D_LIST] =
		"SELECT d.target, r.seq, r.time_ms, r.event_name, "
		"r.bucket, r.key, r.record, d.attempts, d.failed_ms, "
		"d.error FROM deadletter d JOIN records r ON r.seq = d.seq "
		"WHERE ?1 IS NULL OR d.target = ?1 ORDER BY d.target, "
		"d.seq LIMIT ?2",
	[ST_D_TO_QUEUE] = "INSERT OR IGNORE INTO queue(target, seq, attempts) "
			  "SELECT target, seq, 0 FROM deadletter WHERE "
			  "?1 IS NULL OR target = ?1",
	[ST_D_DEL_ALL] = "DELETE FROM deadletter WHERE ?1 IS NULL OR "
			 "target = ?1",
	[ST_D_UNREF_ALL] = "UPDATE records SET refs = refs - (SELECT count(*) "
			   "FROM deadletter d WHERE d.seq = records.seq AND "
			   "(?1 IS NULL OR d.target = ?1)) WHERE seq IN "
			   "(SELECT seq FROM deadletter WHERE ?1 IS NULL OR "
			   "target = ?1)",
	[ST_D_GC_ALL] = "DELETE FROM records WHERE refs = 0 AND logged = 0 "
			"AND seq IN (SELECT seq FROM deadletter WHERE ?1 IS "
			"NULL OR target = ?1)",
	[ST_FINALIZE] = "UPDATE records SET record = replace(record, "
			"'" PENDING_ETAG "', '\"eTag\":\"' || ?2 || '\"'), "
			"pending = 0 WHERE seq = ?1 AND pending = 1",
	[ST_FINALIZE_NONE] = "UPDATE records SET record = replace(record, "
			     "'" PENDING_ETAG ",', ''), pending = 0 "
			     "WHERE seq = ?1 AND pending = 1",
	/* later: a record of the same object after it (pending or not:
	 * a Copy onto it, a Delete, another Put), a range scan from seq. */
	[ST_PENDING] = "SELECT p.seq, p.bucket, p.key, p.record, EXISTS("
		       "SELECT 1 FROM records r WHERE r.seq > p.seq AND "
		       "r.bucket = p.bucket AND r.key = p.key) FROM records p "
		       "WHERE p.pending = 1 ORDER BY p.seq",
	[ST_MARK] = "INSERT OR REPLACE INTO meta(name, value) "
		    "VALUES('journal_seq', ?1)",
	[ST_INTENT_ADD] = "INSERT OR IGNORE INTO intents(id, kind, flags, "
			  "bucket, key, arg, uid, pid, comm, dev, ino) "
			  "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
	[ST_INTENT_DEL] = "DELETE FROM intents WHERE id = ?1",
	[ST_INTENTS] = "SELECT id, kind, flags, bucket, key, arg, uid, pid, "
		       "comm, dev, ino FROM intents ORDER BY id",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value) "
	"WITHOUT ROWID;"
	"INSERT OR IGNORE INTO meta VALUES('schema', 1);"
	"CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, "
	"time_ms INTEGER NOT NULL, event_name TEXT NOT NULL, "
	"bucket TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, "
	"logged INTEGER NOT NULL, refs INTEGER NOT NULL, "
	"pending INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS records_pending ON records(seq) "
	"WHERE pending = 1;"
	"CREATE TABLE IF NOT EXISTS intents(id INTEGER PRIMARY KEY, "
	"kind INTEGER NOT NULL, flags INTEGER NOT NULL, "
	"bucket TEXT NOT NULL, key TEXT NOT NULL, arg TEXT NOT NULL, "
	"uid INTEGER NOT NULL, pid INTEGER NOT NULL, comm TEXT NOT NULL, "
	"dev INTEGER NOT NULL DEFAULT 0, ino INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS queue(target TEXT NOT NULL, "
	"seq INTEGER NOT NULL, attempts INTEGER NOT NULL, "
	"PRIMARY KEY(target, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS deadletter(target TEXT NOT NULL, "
	"seq INTEGER NOT NULL, attempts INTEGER NOT NULL, "
	"failed_ms INTEGER NOT NULL, error TEXT NOT NULL, "
	"PRIMARY KEY(target, seq)) WITHOUT ROWID;";

/* What the ingester is doing, so appenders wake it only when needed. */
enum ingest_state {
	ING_BUSY,   /* running: it will look at the journal again */
	ING_LINGER, /* letting frames gather for the ingest delay */
	ING_IDLE,   /* nothing to do: asleep until woken */
};

/* Frames of durability=none appends, in memory until written out. */
struct pbuf {
	char *data;
	size_t len, cap;
};

struct ntf_store {
	int dirfd; /* the state directory, flock'ed */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT_];
	struct ntf_store_opts opts;
	size_t batch_max;

	/* mu guards the journal positions, the sequencer and the stats.
	 * Positions count bytes of frames ever appended since open (they
	 * never go back, restarts included); the journal file's offset
	 * 0 is position jbase. */
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* ingester: frames to ingest, or closing */
	pthread_cond_t room_cv; /* appenders waiting for the lag to go down */
	pthread_cond_t done_cv; /* flushes and fsyncs waiting for progress */
	int jfd;		/* events.journal */
	char *jmap;		/* its first jmap_len bytes, or NULL */
	size_t jmap_len;
	/* Bytes of the file from offset 0 known to be allocated; no_alloc:
	 * the file system cannot say (no fallocate), appends just try. */
	uint64_t jalloc;
	bool no_alloc;
	uint64_t jbase;
	uint64_t jend;	   /* end of what is written to the file */
	uint64_t ingested; /* everything before it is in events.db */
	uint64_t synced;   /* everything before it is fdatasync'ed */
	/* Everything before it was written when an fdatasync failed: the
	 * kernel may have dropped those pages (marked clean, unwritten), and
	 * a later fdatasync that succeeds does not bring them back.  An
	 * FSYNC appender waiting for any of it gets -EIO. */
	uint64_t sync_lost;
	bool syncing;	   /* an appender runs fdatasync for everyone */
	bool fsync_seen;   /* FSYNC frames in the file: ingest durably */
	struct pbuf none;  /* NONE frames, logically after jend */
	enum ingest_state ing;
	bool kick;	   /* someone wants the ingester before the delay */
	bool closing;
	unsigned room_waiters;
	uint64_t next_seq; /* next seq to hand out */
	uint64_t hwm;	   /* seqs below it may be handed out */
	struct ntf_store_stats stats;
	uint64_t resync_from; /* replay: where the frame skipped began */

	/* seq_mu serialises writing events.seq; persisted is its content. */
	pthread_mutex_t seq_mu;
	uint64_t persisted;

	/* db_mu guards the connection: the ingester's transactions and the
	 * queue calls of other threads. */
	pthread_mutex_t db_mu;
	bool sync_full;	    /* current PRAGMA synchronous */
	uint64_t log_count; /* rows with logged = 1 (ingester only) */
	int64_t oldest_ms;  /* time of the oldest logged row, or below */
	uint64_t mark;	    /* meta journal_seq (ingester only) */
	bool delivering;    /* the last batch queued deliveries (ingester
			     * only): linger the short delay */
	int wal_pages;	    /* pages in the WAL after the last commit */
	struct batch *batch; /* the ingester's */
	char *rbuf;	     /* the ingester's read buffer */
	size_t rcap;
	pthread_t writer;
	bool writer_started;

	/* hook_mu is held while the commit hook runs, so clearing the hook
	 * waits for a call in progress. */
	pthread_mutex_t hook_mu;
	ntf_store_commit_fn hook;
	void *hook_arg;
};

#define OLDEST_UNKNOWN INT64_MIN
#define OLDEST_EMPTY   INT64_MAX

static int ntf_store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

static void ntf_store_set_err(char **errmsg, const char *what,
			      const char *detail)
{
	if (!errmsg || *errmsg)
		return;
	size_t n = strlen(what) + strlen(detail) + 3;
	char *m = malloc(n);
	if (m)
		snprintf(m, n, "%s: %s", what, detail);
	*errmsg = m;
}

/* ---- the sequencer's high-water mark (events.seq) ---- */

static int read_hwm(int dirfd, uint64_t *out)
{
	char buf[32];
	int fd = openat(dirfd, "events.seq", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? (*out = 0, 0) : -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf || *end != '\n')
		return -EUCLEAN;
	*out = v;
	return 0;
}

static int write_hwm(int dirfd, uint64_t v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	int fd = openat(dirfd, "events.seq.tmp",
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (write(fd, buf, (size_t)len) != len || fdatasync(fd) < 0)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(dirfd, "events.seq.tmp", dirfd, "events.seq") < 0)
		err = -errno;
	if (!err && fsync(dirfd) < 0)
		err = -errno;
	return err;
}

/* Make every seq below `need` safe to hand out: persist a mark a block
 * beyond it unless one already is.  Takes seq_mu; the caller publishes the
 * returned mark into s->hwm under mu. */
static int reserve_seqs(struct ntf_store *s, uint64_t need, uint64_t *hwm)
{
	int err = 0;
	pthread_mutex_lock(&s->seq_mu);
	if (s->persisted < need) {
		uint64_t v = need + NTF_LIMIT_STORE_SEQ_BLOCK;
		err = write_hwm(s->dirfd, v);
		if (!err)
			s->persisted = v;
	}
	*hwm = s->persisted;
	pthread_mutex_unlock(&s->seq_mu);
	return err;
}

/* ---- batches ---- */

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->fin);
	free(b->intents);
	free(b->dones);
	free(b->items);
	free(b->arena);
	cmn_buf_free(&b->json);
	free(b);
}

static void batch_clear(struct batch *b)
{
	b->n = b->len = b->nfin = b->nint = b->ndone = 0;
	b->last_seq = 0;
	b->failed = 0;
}

static size_t entry_bytes(const struct ntf_store_entry *e)
{
	size_t n = strlen(e->event_name) + strlen(e->bucket ? e->bucket : "") +
		   strlen(e->key ? e->key : "") + e->record_len + 4;
	for (size_t i = 0; i < e->n_targets; i++)
		n += strlen(e->targets[i]) + 1;
	return n;
}

static int entry_check(const struct ntf_store_entry *e)
{
	if (!e->event_name || !e->event_name[0] || !e->record ||
	    (e->n_targets && !e->targets))
		return -EINVAL;
	if (!e->packed && memchr(e->record, '\0', e->record_len))
		return -EINVAL;
	if (e->packed && (e->seq_offset || e->seq_offset2))
		return -EINVAL;
	if (e->record_len > NTF_LIMIT_RECORD_BYTES ||
	    e->n_targets > NTF_LIMIT_STORE_TARGETS)
		return -E2BIG;
	for (size_t i = 0; i < e->n_targets; i++)
		if (!e->targets[i] || !e->targets[i][0])
			return -EINVAL;
	return 0;
}

static int arena_reserve(struct batch *b, size_t need)
{
	if (b->len + need <= b->acap)
		return 0;
	size_t cap = b->acap ? b->acap : 64 * 1024;
	while (cap < b->len + need)
		cap *= 2;
	char *p = realloc(b->arena, cap);
	if (!p)
		return -ENOMEM;
	b->arena = p;
	b->acap = cap;
	return 0;
}

static size_t arena_put(struct batch *b, const char *str, size_t len)
{
	size_t off = b->len;
	memcpy(b->arena + off, str, len);
	b->arena[off + len] = '\0';
	b->len += len + 1;
	return off;
}

static int batch_room(struct batch *b, size_t n, size_t bytes)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		struct item *p = realloc(b->items, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		b->items = p;
		b->cap = cap;
	}
	return arena_reserve(b, bytes);
}

/* Copy the EVENT frame f into b. */
static int batch_put(struct batch *b, const struct ntf_journal_frame *f)
{
	if (f->packed) {
		/* The record it stands for, rendered now (ntf_pack.h).  A blob
		 * that passed the CRC and does not render was written so by
		 * a bug: the entry is counted lost, the others go in. */
		cmn_buf_reset(&b->json);
		int rc = ntf_pack_render(f->record, f->record_len, f->seq,
					 &b->json);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			b->failed++;
			return 0;
		}
		struct ntf_journal_frame json = *f;
		json.packed = false;
		json.record = b->json.data;
		json.record_len = b->json.len;
		return batch_put(b, &json);
	}
	size_t bytes = strlen(f->event_name) + strlen(f->bucket) +
		       strlen(f->key) + f->record_len + 4;
	const char *t = f->targets;
	for (size_t i = 0; i < f->n_targets; i++, t += strlen(t) + 1)
		bytes += strlen(t) + 1;
	int err = batch_room(b, 1, bytes);
	if (err)
		return err;
	struct item *it = &b->items[b->n++];
	it->seq = f->seq;
	it->time_ms = f->time_ms;
	it->name = arena_put(b, f->event_name, strlen(f->event_name));
	it->bucket = arena_put(b, f->bucket, strlen(f->bucket));
	it->key = arena_put(b, f->key, strlen(f->key));
	it->record = arena_put(b, f->record, f->record_len);
	it->record_len = f->record_len;
	it->pending = f->pending;
	it->targets = b->len;
	it->n_targets = 0;
	it->logged = f->n_targets == 0;
	t = f->targets;
	for (size_t i = 0; i < f->n_targets; i++, t += strlen(t) + 1) {
		if (strcmp(t, NTF_STORE_LOCAL) == 0) {
			it->logged = true;
			continue;
		}
		arena_put(b, t, strlen(t));
		it->n_targets++;
	}
	if (f->seq > b->last_seq)
		b->last_seq = f->seq;
	return 0;
}

/* Add the FIN frame f to b. */
static int batch_fin(struct batch *b, const struct ntf_journal_frame *f)
{
	if (b->nfin == b->capfin) {
		size_t cap = b->capfin ? 2 * b->capfin : 64;
		struct fin *p = realloc(b->fin, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		b->fin = p;
		b->capfin = cap;
	}
	struct fin *x = &b->fin[b->nfin++];
	x->seq = f->seq;
	x->has_etag = f->has_etag;
	memcpy(x->etag, f->etag, sizeof(x->etag));
	return 0;
}

/* Grow the array *v of *cap elements of size sz to hold n + 1. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 64;
	void *p = realloc(*v, c * sz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

/* Add the INTENT frame f to b. */
static int batch_intent(struct batch *b, const struct ntf_journal_frame *f)
{
	const struct ntf_intent *in = &f->intent;
	size_t bytes = strlen(in->bucket) + strlen(in->key) + strlen(in->arg) +
		       strlen(in->comm) + 4;
	int err = grow((void **)&b->intents, &b->capint, b->nint,
		       sizeof(*b->intents));
	if (!err)
		err = arena_reserve(b, bytes);
	if (err)
		return err;
	struct held_intent *h = &b->intents[b->nint++];
	*h = (struct held_intent){.id = f->seq,
				  .dev = in->dev,
				  .ino = in->ino,
				  .kind = (uint16_t)in->kind,
				  .flags = in->flags,
				  .uid = in->uid,
				  .pid = in->pid};
	h->bucket = arena_put(b, in->bucket, strlen(in->bucket));
	h->key = arena_put(b, in->key, strlen(in->key));
	h->arg = arena_put(b, in->arg, strlen(in->arg));
	h->comm = arena_put(b, in->comm, strlen(in->comm));
	if (f->seq > b->last_seq)
		b->last_seq = f->seq;
	return 0;
}

/* Add the DONE frame f to b: an intent of the same batch is just not
 * inserted (an empty file's Put is told at RELEASE, microseconds after
 * its intent), one of an earlier batch is deleted. */
static int batch_done(struct batch *b, const struct ntf_journal_frame *f)
{
	size_t lo = 0, hi = b->nint;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->intents[mid].id < f->seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->nint && b->intents[lo].id == f->seq) {
		b->intents[lo].done = true;
		return 0;
	}
	int err = grow((void **)&b->dones, &b->capdone, b->ndone,
		       sizeof(*b->dones));
	if (!err)
		b->dones[b->ndone++] = f->seq;
	return err;
}

/* ---- ingesting into events.db ---- */

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ntf_store_errno(rc);
}

static int set_sync(struct ntf_store *s, bool full)
{
	if (s->sync_full == full)
		return 0;
	int rc = sqlite3_exec(s->db,
			      full ? "PRAGMA synchronous=FULL"
				   : "PRAGMA synchronous=NORMAL",
			      NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		s->sync_full = full;
	return ntf_store_errno(rc);
}

static int insert_item(struct ntf_store *s, const struct batch *b,
		       const struct item *it)
{
	sqlite3_stmt *ins = s->st[ST_INSERT], *enq = s->st[ST_ENQUEUE];
	const char *a = b->arena;
	int refs = 0, err;
	const char *t = a + it->targets;
	for (size_t i = 0; i < it->n_targets; i++, t += strlen(t) + 1) {
		sqlite3_bind_text(enq, 1, t, -1, SQLITE_STATIC);
		sqlite3_bind_int64(enq, 2, (sqlite3_int64)it->seq);
		if ((err = step_done(enq)))
			return err;
		refs += sqlite3_changes(s->db);
	}
	if (!it->logged && refs == 0)
		return 0; /* nobody needs it: only its seq was used */
	sqlite3_bind_int64(ins, 1, (sqlite3_int64)it->seq);
	sqlite3_bind_int64(ins, 2, it->time_ms);
	sqlite3_bind_text(ins, 3, a + it->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 4, a + it->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 5, a + it->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 6, a + it->record, (int)it->record_len,
			  SQLITE_STATIC);
	sqlite3_bind_int(ins, 7, it->logged);
	sqlite3_bind_int(ins, 8, refs);
	sqlite3_bind_int(ins, 9, it->pending);
	return step_done(ins);
}

/* Put the eTag into a pending record (or drop the field).  Ingester,
 * db_mu held, in the batch's transaction. */
static int apply_fin(struct ntf_store *s, const struct fin *f)
{
	sqlite3_stmt *st = s->st[f->has_etag ? ST_FINALIZE : ST_FINALIZE_NONE];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->seq);
	if (f->has_etag)
		sqlite3_bind_text(st, 2, f->etag, -1, SQLITE_STATIC);
	return step_done(st);
}

/* Insert b's intents that are not done yet, delete the ones done. */
static int apply_intents(struct ntf_store *s, const struct batch *b)
{
	sqlite3_stmt *add = s->st[ST_INTENT_ADD], *del = s->st[ST_INTENT_DEL];
	const char *a = b->arena;
	int err = 0;
	for (size_t i = 0; i < b->nint && !err; i++) {
		const struct held_intent *h = &b->intents[i];
		if (h->done)
			continue;
		sqlite3_bind_int64(add, 1, (sqlite3_int64)h->id);
		sqlite3_bind_int(add, 2, h->kind);
		sqlite3_bind_int(add, 3, h->flags);
		sqlite3_bind_text(add, 4, a + h->bucket, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 5, a + h->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 6, a + h->arg, -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 7, h->uid);
		sqlite3_bind_int64(add, 8, h->pid);
		sqlite3_bind_text(add, 9, a + h->comm, -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 10, (sqlite3_int64)h->dev);
		sqlite3_bind_int64(add, 11, (sqlite3_int64)h->ino);
		err = step_done(add);
	}
	for (size_t i = 0; i < b->ndone && !err; i++) {
		sqlite3_bind_int64(del, 1, (sqlite3_int64)b->dones[i]);
		err = step_done(del);
	}
	return err;
}

/* The item of b with seq, or NULL.  Items are in seq order: appends take
 * their seqs and write their frames under one lock. */
static struct item *batch_find(struct batch *b, uint64_t seq)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->items[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->items[lo].seq == seq ? &b->items[lo] : NULL;
}

bool ntf_store_fill_etag(char *rec, size_t *len, const char *etag)
{
	static const char ph[] = PENDING_ETAG;
	const size_t phlen = sizeof(ph) - 1;
	char *at = memmem(rec, *len, ph, phlen);
	if (!at)
		return false;
	if (etag) {
		memcpy(at + strlen("\"eTag\":\""), etag, 32);
		return true;
	}
	size_t off = (size_t)(at - rec), cut = phlen;
	if (off + cut < *len && at[cut] == ',') {
		cut++; /* "eTag":"…", */
	} else if (off > 0 && at[-1] == ',') {
		off--; /* ,"eTag":"…" closing the object */
		cut++;
	}
	memmove(rec + off, rec + off + cut, *len - off - cut);
	*len -= cut;
	return true;
}

/* A FIN whose record is in the same batch is applied before the insert,
 * so the row is written once instead of inserted pending and rewritten
 * by an UPDATE (which also churned the records_pending index): with the
 * ingest delay, a small file's eTag is nearly always in the batch of its
 * record.  The FINs left are compacted to the front. */
static void merge_fins(struct batch *b)
{
	size_t kept = 0;
	for (size_t i = 0; i < b->nfin; i++) {
		const struct fin *f = &b->fin[i];
		struct item *it = batch_find(b, f->seq);
		if (it && it->pending &&
		    ntf_store_fill_etag(b->arena + it->record, &it->record_len,
					f->has_etag ? f->etag : NULL)) {
			b->arena[it->record + it->record_len] = '\0';
			it->pending = false;
			continue;
		}
		b->fin[kept++] = b->fin[i];
	}
	b->nfin = kept;
}

/* Commit b in one transaction, synchronous=FULL when full (the journal
 * starts over after it, and it held fsync'ed frames).  Ingester (or open),
 * db_mu held. */
static int commit_batch(struct ntf_store *s, struct batch *b, bool full)
{
	int err = set_sync(s, full);
	if (!err)
		err = step_done(s->st[ST_BEGIN]);
	if (err)
		return err;
	uint64_t logged = 0;
	int64_t first_ms = 0;
	merge_fins(b);
	bool delivering = false;
	for (size_t i = 0; i < b->n && !err; i++) {
		delivering |= b->items[i].n_targets > 0;
		err = insert_item(s, b, &b->items[i]);
		if (b->items[i].logged && !logged++)
			first_ms = b->items[i].time_ms;
	}
	for (size_t i = 0; i < b->nfin && !err; i++)
		err = apply_fin(s, &b->fin[i]);
	if (!err)
		err = apply_intents(s, b);
	if (!err && b->last_seq > s->mark) {
		sqlite3_bind_int64(s->st[ST_MARK], 1,
				   (sqlite3_int64)b->last_seq);
		err = step_done(s->st[ST_MARK]);
	}
	if (!err)
		err = step_done(s->st[ST_COMMIT]);
	if (err) {
		step_done(s->st[ST_ROLLBACK]);
		return err;
	}
	/* A batch of finalisations only says nothing: their records were
	 * in an earlier batch. */
	if (b->n)
		s->delivering = delivering;
	if (logged && s->oldest_ms == OLDEST_EMPTY)
		s->oldest_ms = first_ms;
	s->log_count += logged;
	if (b->last_seq > s->mark)
		s->mark = b->last_seq;
	return 0;
}

static bool retention_due(const struct ntf_store *s)
{
	if (s->opts.log_max_events && s->log_count > s->opts.log_max_events)
		return true;
	if (!s->opts.log_max_age_ms || s->oldest_ms == OLDEST_EMPTY)
		return false;
	return s->oldest_ms == OLDEST_UNKNOWN ||
	       s->oldest_ms < cmn_time_now_ms() - s->opts.log_max_age_ms;
}

/* Find the last seq retention removes in one pass (0: none), and note the
 * time of the first entry kept. */
static int retention_cut(struct ntf_store *s, uint64_t *cut)
{
	sqlite3_stmt *st = s->st[ST_RETAIN_SCAN];
	uint64_t excess = 0, seen = 0;
	int64_t limit = NTF_LIMIT_STORE_RETAIN_CHUNK, min_ms = INT64_MIN;
	/* Twice a batch per pass, so retention outruns any ingest. */
	if ((size_t)limit < 2 * s->batch_max)
		limit = (int64_t)(2 * s->batch_max);
	if (s->opts.log_max_events && s->log_count > s->opts.log_max_events)
		excess = s->log_count - s->opts.log_max_events;
	if (s->opts.log_max_age_ms)
		min_ms = cmn_time_now_ms() - s->opts.log_max_age_ms;
	int rc;
	*cut = 0;
	s->oldest_ms = OLDEST_EMPTY;
	sqlite3_bind_int64(st, 1, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 1);
		if (seen >= excess && t >= min_ms) {
			s->oldest_ms = t;
			break;
		}
		*cut = (uint64_t)sqlite3_column_int64(st, 0);
		if (++seen == (uint64_t)limit)
			s->oldest_ms = OLDEST_UNKNOWN; /* more to look at */
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ntf_store_errno(rc);
}

/* One incremental retention pass.  Ingester, db_mu held. */
static int apply_retention(struct ntf_store *s)
{
	uint64_t cut;
	int err = retention_cut(s, &cut);
	if (err || !cut)
		return err;
	if ((err = step_done(s->st[ST_BEGIN])))
		return err;
	int changed = 0;
	sqlite3_bind_int64(s->st[ST_RETAIN_KEEP], 1, (sqlite3_int64)cut);
	err = step_done(s->st[ST_RETAIN_KEEP]);
	changed += sqlite3_changes(s->db);
	sqlite3_bind_int64(s->st[ST_RETAIN_DELETE], 1, (sqlite3_int64)cut);
	if (!err)
		err = step_done(s->st[ST_RETAIN_DELETE]);
	changed += sqlite3_changes(s->db);
	if (!err)
		err = step_done(s->st[ST_COMMIT]);
	if (err) {
		step_done(s->st[ST_ROLLBACK]);
		s->oldest_ms = OLDEST_UNKNOWN;
		return err;
	}
	s->log_count -= (uint64_t)changed < s->log_count ? (uint64_t)changed
							 : s->log_count;
	return 0;
}

/* Keep half a block of seqs reserved ahead, so appenders rarely fsync. */
static void extend_hwm(struct ntf_store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t next = s->next_seq, hwm = s->hwm;
	pthread_mutex_unlock(&s->mu);
	if (hwm - next >= NTF_LIMIT_STORE_SEQ_BLOCK / 2)
		return;
	if (reserve_seqs(s, next + NTF_LIMIT_STORE_SEQ_BLOCK / 2, &hwm))
		return; /* appenders reserve themselves and see the error */
	pthread_mutex_lock(&s->mu);
	if (hwm > s->hwm)
		s->hwm = hwm;
	pthread_mutex_unlock(&s->mu);
}

/* Tell the commit hook which targets the committed batch b queued for:
 * each distinct name once, or NULL once when there are too many to
 * track.  Writer thread, no store lock held; b is still referenced. */
static void run_hook(struct ntf_store *s, const struct batch *b)
{
	const char *seen[16];
	size_t n = 0;
	/* A finalisation makes rows of any target visible. */
	bool all = b->nfin > 0;
	pthread_mutex_lock(&s->hook_mu);
	for (size_t i = 0; s->hook && !all && i < b->n; i++) {
		const struct item *it = &b->items[i];
		const char *t = b->arena + it->targets;
		for (size_t k = 0; k < it->n_targets; k++, t += strlen(t) + 1) {
			size_t j = 0;
			while (j < n && strcmp(seen[j], t) != 0)
				j++;
			if (j < n)
				continue;
			if (n == sizeof(seen) / sizeof(*seen)) {
				all = true;
				break;
			}
			seen[n++] = t;
		}
	}
	if (s->hook && all)
		s->hook(s->hook_arg, NULL);
	for (size_t j = 0; s->hook && !all && j < n; j++)
		s->hook(s->hook_arg, seen[j]);
	pthread_mutex_unlock(&s->hook_mu);
}

void ntf_store_set_commit_hook(struct ntf_store *s, ntf_store_commit_fn fn,
			       void *arg)
{
	pthread_mutex_lock(&s->hook_mu);
	s->hook = fn;
	s->hook_arg = arg;
	pthread_mutex_unlock(&s->hook_mu);
}

/* ---- the journal file ---- */

/* Write n bytes at the journal file's offset off, whole or not at all
 * (a short write is retried; the caller keeps its position on failure,
 * so the next write covers what was half written). */
static int pwrite_all(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct iovec v[2];
	memcpy(v, iov, (size_t)cnt * sizeof(*v));
	struct iovec *p = v;
	while (cnt > 0) {
		ssize_t w = pwritev(fd, p, cnt, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += w;
		while (cnt > 0 && (size_t)w >= p->iov_len) {
			w -= (ssize_t)p->iov_len;
			p++;
			cnt--;
		}
		if (cnt > 0) {
			p->iov_base = (char *)p->iov_base + w;
			p->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Make sure the journal has room allocated for `more` bytes beyond what
 * is written and buffered, allocating another step when not.  Returns 0
 * or -ENOSPC (-errno).  mu held. */
static int journal_room(struct ntf_store *s, uint64_t more)
{
	uint64_t need = s->jend - s->jbase + s->none.len + more;
	if (need <= s->jalloc || s->no_alloc)
		return 0;
	uint64_t step = NTF_LIMIT_STORE_ALLOC_STEP;
	uint64_t len = (need - s->jalloc + step - 1) / step * step;
	if (fallocate(s->jfd, FALLOC_FL_KEEP_SIZE, (off_t)s->jalloc,
		      (off_t)len) == 0) {
		s->jalloc += len;
		return 0;
	}
	int err = -errno;
	if (err == -EOPNOTSUPP || err == -ENOSYS) {
		s->no_alloc = true; /* appends find out by writing */
		return 0;
	}
	return err;
}

/* Write the NONE buffer and then n bytes of frames (may be 0) at the
 * journal's end.  Called with mu held.
 *
 * Inside the mapped part of the file this is a memcpy: the bytes are in
 * the page cache when it returns, exactly as after a pwrite(), so they
 * survive the daemon being killed, and fdatasync() writes them out like
 * any other dirty page.  What it saves is the system call and ext4's
 * per-write inode update (mtime, a journal handle): measured on the
 * request thread of a FUSE open, an event appended with pwrite() cost
 * 4 us more than one kept in memory (durability=none).  Beyond the map
 * (a lag of more than NTF_LIMIT_STORE_JOURNAL_MAP), pwrite(). */
static int journal_write(struct ntf_store *s, const char *frames, size_t n)
{
	size_t total = s->none.len + n;
	uint64_t off = s->jend - s->jbase;
	if (!total)
		return 0;
	int err = journal_room(s, n);
	if (err)
		return err;
	if (s->jmap && off + total <= s->jmap_len) {
		if (s->none.len)
			memcpy(s->jmap + off, s->none.data, s->none.len);
		if (n)
			memcpy(s->jmap + off + s->none.len, frames, n);
	} else {
		struct iovec iov[2];
		int cnt = 0;
		if (s->none.len)
			iov[cnt++] = (struct iovec){s->none.data, s->none.len};
		if (n)
			iov[cnt++] = (struct iovec){(void *)frames, n};
		err = pwrite_all(s->jfd, iov, cnt, (off_t)off);
		if (err) {
			/* Frames of this append that were written whole must
			 * not come back at replay after a crash: the appender
			 * is told they were not stored.  Zero the header where
			 * they start (the NONE bytes before them are retried
			 * from off). */
			static const char zero[NTF_JOURNAL_HEADER];
			(void)!pwrite(s->jfd, zero, sizeof(zero),
				      (off_t)(off + s->none.len));
			return err;
		}
	}
	s->jend += total;
	s->none.len = 0;
	if (s->jend - s->jbase > s->jalloc)
		s->jalloc = s->jend - s->jbase; /* written: allocated */
	return 0;
}

/* Allocate the journal's first NTF_LIMIT_STORE_JOURNAL_MAP bytes and map
 * them.  The allocation matters: a store into a hole of a full file
 * system would be a SIGBUS, not an error.  Without it (no space, or a
 * file system that cannot), appends stay with pwrite().
 *
 * The pages are faulted in writable now (MADV_POPULATE_WRITE, Linux
 * 5.14; older kernels refuse it and fault them in as before): the first
 * store into each page of a shared file mapping is a fault that goes
 * through the file system (ext4_page_mkwrite), and those faults were half
 * of what an append cost a FUSE thread on a fresh mount (2.2 us -> 1.0 us
 * per event over 10 000 creates).  A page cleaned by writeback faults
 * once more when next written, at most once per writeback period. */
static void journal_map(struct ntf_store *s)
{
	size_t len = NTF_LIMIT_STORE_JOURNAL_MAP;
	if (posix_fallocate(s->jfd, 0, (off_t)len) != 0)
		return;
	s->jalloc = len;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->jfd,
		       0);
	if (p == MAP_FAILED)
		return;
	s->jmap = p;
	s->jmap_len = len;
#ifdef MADV_POPULATE_WRITE
	(void)madvise(p, len, MADV_POPULATE_WRITE);
#endif
}

static void journal_unmap(struct ntf_store *s)
{
	if (s->jmap)
		munmap(s->jmap, s->jmap_len);
	s->jmap = NULL;
	s->jmap_len = 0;
}

/* Make everything written before `upto` survive power loss: one appender
 * runs fdatasync() for all, the others wait for it.  mu held. */
static int journal_sync(struct ntf_store *s, uint64_t upto)
{
	while (s->synced < upto) {
		if (upto <= s->sync_lost)
			return -EIO;
		if (s->syncing) {
			pthread_cond_wait(&s->done_cv, &s->mu);
			continue;
		}
		uint64_t end = s->jend;
		s->syncing = true;
		pthread_mutex_unlock(&s->mu);
		int err = fdatasync(s->jfd) < 0 ? -errno : 0;
		pthread_mutex_lock(&s->mu);
		s->syncing = false;
		if (!err && end > s->synced)
			s->synced = end;
		if (err && end > s->sync_lost)
			s->sync_lost = end;
		pthread_cond_broadcast(&s->done_cv);
		if (err)
			return err;
	}
	return 0;
}

/* Everything written is ingested: start the file over once it is big.
 * While open, by writing again from offset 0 over what is there — a
 * truncation frees blocks (a journaled metadata update, and a discard on
 * file systems mounted with it) and the next appends allocate them again,
 * while overwriting needs neither.  What is left beyond the new frames
 * was all ingested: replay skips those events by seq (below the
 * database's mark; finalisations are idempotent) and stops at the first
 * frame that does not decode.  At close (truncate) the file is emptied.
 * mu held. */
static void journal_restart(struct ntf_store *s, uint64_t at_least,
			    bool truncate)
{
	if (s->ingested != s->jend || s->none.len ||
	    s->jend - s->jbase < at_least ||
	    (s->jend == s->jbase && !truncate))
		return;
	if (truncate)
		journal_unmap(s); /* no store may reach a truncated page */
	if (truncate && ftruncate(s->jfd, 0) != 0)
		return;
	if (truncate)
		s->jalloc = 0;
	s->jbase = s->jend;
	s->fsync_seen = false;
}

/* ---- the ingester thread ---- */

/* Read [off, off + n) of fd into buf.  Returns the bytes read (short at
 * the end of the file) or -errno. */
static ssize_t read_at(int fd, char *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Read [off, off + n) of the journal file into s->rbuf (grown as needed).
 * Returns the bytes read (short at the end of the file) or -errno. */
static ssize_t journal_read(struct ntf_store *s, uint64_t off, size_t n)
{
	if (n > s->rcap) {
		char *p = realloc(s->rbuf, n);
		if (!p)
			return -ENOMEM;
		s->rbuf = p;
		s->rcap = n;
	}
	return read_at(s->jfd, s->rbuf, n, off);
}

/* Commit the batch and tell the hook; db_mu taken here. */
static int ingest_commit(struct ntf_store *s, bool full)
{
	struct batch *b = s->batch;
	if (!b->n && !b->nfin && !b->failed && !b->nint && !b->ndone)
		return 0;
	pthread_mutex_lock(&s->db_mu);
	int err = commit_batch(s, b, full);
	pthread_mutex_unlock(&s->db_mu);
	if (!err)
		run_hook(s, b);
	pthread_mutex_lock(&s->mu);
	if (err) {
		s->stats.retries++;
	} else {
		s->stats.committed += b->n;
		s->stats.failed += b->failed;
		s->stats.batches++;
	}
	pthread_mutex_unlock(&s->mu);
	if (!err)
		batch_clear(b);
	return err;
}

static bool batch_full(const struct ntf_store *s, const struct batch *b)
{
	return b->n >= s->batch_max || b->len >= NTF_LIMIT_STORE_BATCH_BYTES;
}

/* Decode the frames in rbuf[0, got) into the batch, committing whenever
 * it is full and at the end; event frames at or below `skip` are already
 * in events.db (replay).  *used is set to the bytes of the whole frames
 * committed.  Returns 0 (the rest of the buffer is the start of a frame,
 * or nothing), -EBADMSG at a bad frame, or -errno. */
static int ingest_buffer(struct ntf_store *s, size_t got, uint64_t skip,
			 bool full, size_t *used)
{
	struct batch *b = s->batch;
	size_t pos = 0;
	*used = 0;
	for (;;) {
		struct ntf_journal_frame f;
		long k = ntf_journal_decode(s->rbuf + pos, got - pos, &f);
		int err = k < 0 ? (int)k : 0;
		if (k > 0) {
			if (f.kind == NTF_JOURNAL_FIN)
				err = batch_fin(b, &f);
			else if (f.kind == NTF_JOURNAL_DONE)
				err = batch_done(b, &f);
			else if (f.seq <= skip)
				; /* in events.db already */
			else if (f.kind == NTF_JOURNAL_INTENT)
				err = batch_intent(b, &f);
			else
				err = batch_put(b, &f);
			if (!err) {
				pos += (size_t)k;
				if (!batch_full(s, b))
					continue;
			}
		}
		int cerr = ingest_commit(s, full);
		if (cerr) {
			batch_clear(b); /* read again from *used */
			return cerr;
		}
		*used = pos;
		if (err || k == 0)
			return err;
	}
}

/* Ingest the journal file's bytes [off, end) (offsets in the file);
 * *done is set to the offset reached (every whole frame before it is in
 * events.db).  Returns 0, -EBADMSG when a bad frame stopped it, or
 * -errno. */
static int ingest_range(struct ntf_store *s, uint64_t off, uint64_t end,
			uint64_t skip, bool full, uint64_t *done)
{
	/* a frame is at most this long, so a whole one always fits */
	size_t chunk = NTF_LIMIT_STORE_BATCH_BYTES + NTF_JOURNAL_HEADER;
	int err = 0;
	*done = off;
	while (off < end && !err) {
		size_t want = end - off < chunk ? (size_t)(end - off) : chunk;
		ssize_t got = journal_read(s, off, want);
		if (got < 0)
			return (int)got;
		size_t used;
		err = ingest_buffer(s, (size_t)got, skip, full, &used);
		off += used;
		*done = off;
		if (!err && used == 0)
			break; /* a torn frame at the end of the file */
	}
	return err;
}

/* SQLite calls this after each commit on the store's connection with
 * the WAL's size; installing it turns SQLite's own checkpoints off. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	struct ntf_store *s = arg;
	__atomic_store_n(&s->wal_pages, pages, __ATOMIC_RELAXED);
	return SQLITE_OK;
}

static bool checkpoint_due(struct ntf_store *s, int pages)
{
	return __atomic_load_n(&s->wal_pages, __ATOMIC_RELAXED) >= pages;
}

/* Copy the WAL back into events.db.  A checkpoint fsyncs both files, and
 * an fsync makes the file system commit its journal, which stalls every
 * metadata operation on it meanwhile (the creates and unlinks of the
 * workload): so it runs once no event came for
 * NTF_LIMIT_STORE_CHECKPOINT_QUIET_MS, or during a long burst once the
 * WAL is big, never once per thousand pages as SQLite would.  PASSIVE:
 * readers are never blocked, and the WAL restarts from its beginning once
 * a checkpoint completed. */
static void checkpoint(struct ntf_store *s)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
				  NULL);
	pthread_mutex_unlock(&s->db_mu);
	/* Readers may have kept part of it from going: the next commit
	 * reports the size again, idle does not retry in a loop. */
	__atomic_store_n(&s->wal_pages, 0, __ATOMIC_RELAXED);
}

/* Called with mu held: wait for something to ingest.  Returns false when
 * closing with nothing left.  After an ingest (lingering), frames gather
 * for the ingest delay unless someone kicks. */
static bool ingest_wait(struct ntf_store *s, bool linger)
{
	if (linger && !s->kick && !s->closing) {
		struct timespec dl = cmn_time_deadline_ms(
			s->delivering ? NTF_LIMIT_STORE_INGEST_DELAY_MS
				      : NTF_LIMIT_STORE_INGEST_LOG_DELAY_MS);
		s->ing = ING_LINGER;
		pthread_cond_timedwait(&s->work_cv, &s->mu, &dl);
	}
	for (;;) {
		s->ing = ING_BUSY;
		s->kick = false;
		if (s->none.len || s->jend > s->ingested)
			return true;
		if (s->closing)
			return false;
		s->ing = ING_IDLE;
		if (!checkpoint_due(s, NTF_LIMIT_STORE_WAL_IDLE_PAGES)) {
			pthread_cond_wait(&s->work_cv, &s->mu);
			continue;
		}
		/* A WAL to copy back: do it once the store has been quiet
		 * for a while (an event wakes us before that). */
		int64_t quiet = NTF_LIMIT_STORE_CHECKPOINT_QUIET_MS;
		struct timespec dl = cmn_time_deadline_ms(quiet);
		if (pthread_cond_timedwait(&s->work_cv, &s->mu, &dl) ==
			    ETIMEDOUT &&
		    s->ing == ING_IDLE) {
			s->ing = ING_BUSY;
			pthread_mutex_unlock(&s->mu);
			checkpoint(s);
			pthread_mutex_lock(&s->mu);
		}
	}
}

/* Sleep after a failed ingest: 10 ms, doubling up to 2 s, unless the
 * store closes. */
static void ingest_backoff(struct ntf_store *s, unsigned *ms)
{
	*ms = *ms ? (*ms < 1000 ? *ms * 2 : 2000) : 10;
	struct timespec dl = cmn_time_deadline_ms(*ms);
	s->ing = ING_LINGER;
	if (!s->closing)
		pthread_cond_timedwait(&s->work_cv, &s->mu, &dl);
	s->ing = ING_BUSY;
}

/* One round: write out the NONE buffer, ingest what the file holds.
 * Called and returns with mu held; drops it meanwhile. */
static int ingest_round(struct ntf_store *s)
{
	int err = journal_write(s, NULL, 0);
	if (err) {
		s->stats.retries++;
		return err;
	}
	uint64_t base = s->jbase, from = s->ingested, to = s->jend;
	bool full = s->fsync_seen;
	pthread_mutex_unlock(&s->mu);
	uint64_t done;
	err = ingest_range(s, from - base, to - base, 0, full, &done);
	pthread_mutex_lock(&s->mu);
	if (err == -EBADMSG) { /* cannot happen but for a bad disk */
		s->stats.failed++;
		done = to - base;
		err = 0;
	}
	s->ingested = base + done;
	if (s->closing)
		journal_restart(s, 0, true);
	else
		journal_restart(s, NTF_LIMIT_STORE_JOURNAL_TRUNCATE, false);
	if (s->room_waiters)
		pthread_cond_broadcast(&s->room_cv);
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->mu);

	pthread_mutex_lock(&s->db_mu);
	if (!err && retention_due(s))
		apply_retention(s);
	pthread_mutex_unlock(&s->db_mu);
	if (checkpoint_due(s, NTF_LIMIT_STORE_WAL_BURST_PAGES))
		checkpoint(s);
	extend_hwm(s);
	pthread_mutex_lock(&s->mu);
	return err;
}

static void *writer_main(void *arg)
{
	struct ntf_store *s = arg;
	unsigned backoff = 0;
	cmn_thread_background();
	pthread_mutex_lock(&s->db_mu);
	if (retention_due(s))
		apply_retention(s);
	pthread_mutex_unlock(&s->db_mu);
	pthread_mutex_lock(&s->mu);
	bool linger = false;
	while (ingest_wait(s, linger)) {
		int err = ingest_round(s);
		if (err && !s->closing) {
			ingest_backoff(s, &backoff);
			linger = false;
			continue;
		}
		if (err)
			break; /* closing: what is left stays in the journal */
		backoff = 0;
		linger = true;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- open / close ---- */

/* flock(fd) exclusively, waiting up to wait_ms for a holder to let go. */
static int lock_dir(int fd, int64_t wait_ms)
{
	for (int64_t waited = 0;; waited += 20) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK || waited >= wait_ms)
			return errno == EWOULDBLOCK ? -EBUSY : -errno;
		usleep(20 * 1000);
	}
}

static int open_dir(const char *state_dir, int64_t wait_ms, int *dirfd,
		    char **errmsg)
{
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		int err = -errno;
		ntf_store_set_err(errmsg, state_dir, strerror(-err));
		return err;
	}
	int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		ntf_store_set_err(errmsg, state_dir, strerror(-err));
		return err;
	}
	int err = lock_dir(fd, wait_ms);
	if (err) {
		ntf_store_set_err(
			errmsg, state_dir,
			err == -EBUSY
				? "the event store is in use by another process"
				: strerror(-err));
		close(fd);
		return err;
	}
	*dirfd = fd;
	return 0;
}

/* The intents table as the first daemons that had it made it, without
 * dev and ino: add them (what it holds then has none). */
static int upgrade_intents(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT 1 FROM pragma_table_info('intents') "
				    "WHERE name = 'ino'",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	bool has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (has)
		return SQLITE_OK;
	return sqlite3_exec(db,
			    "ALTER TABLE intents ADD COLUMN dev INTEGER NOT "
			    "NULL DEFAULT 0; ALTER TABLE intents ADD COLUMN "
			    "ino INTEGER NOT NULL DEFAULT 0;",
			    NULL, NULL, NULL);
}

/* Returns STATE/events.db, malloc'ed, or NULL. */
static char *db_path(const char *state_dir)
{
	size_t n = strlen(state_dir) + sizeof("/events.db");
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/events.db", state_dir);
	return p;
}

static int db_fail(struct ntf_store *s, int rc, char **errmsg)
{
	ntf_store_set_err(errmsg, "events.db", sqlite3_errmsg(s->db));
	return ntf_store_errno(rc) ? ntf_store_errno(rc) : -EIO;
}

static int open_db(struct ntf_store *s, const char *state_dir, char **errmsg)
{
	char *path = db_path(state_dir);
	if (!path)
		return -ENOMEM;
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);
	free(path);
	if (rc != SQLITE_OK)
		return db_fail(s, rc, errmsg);
	sqlite3_busy_timeout(s->db, 5000);
	rc = sqlite3_exec(s->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
			  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = upgrade_intents(s->db);
	for (int i = 0; i < ST_COUNT_ && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
	return rc == SQLITE_OK ? 0 : db_fail(s, rc, errmsg);
}

static int query_u64(sqlite3 *db, const char *sql, uint64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ntf_store_errno(rc);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ntf_store_errno(rc);
}

/* The sequencer starts above every seq ever handed out. */
static int init_seq(struct ntf_store *s, char **errmsg)
{
	uint64_t hwm = 0, max_seq = 0;
	int err = read_hwm(s->dirfd, &hwm);
	if (err) {
		ntf_store_set_err(errmsg, "events.seq", strerror(-err));
		return err;
	}
	if ((err = query_u64(s->db, "SELECT ifnull(max(seq), 0) FROM records",
			     &max_seq)) ||
	    (err = query_u64(s->db,
			     "SELECT count(*) FROM records WHERE logged = 1",
			     &s->log_count)))
		return db_fail(s, SQLITE_ERROR, errmsg);
	s->persisted = hwm;
	s->next_seq = hwm > max_seq + 1 ? hwm : max_seq + 1;
	s->oldest_ms = OLDEST_UNKNOWN;
	/* Reserve ahead now: after a restart events.seq may equal next_seq,
	 * and the first append would write and fsync it on its caller's
	 * (a FUSE) thread. */
	err = reserve_seqs(s, s->next_seq + 1, &s->hwm);
	if (err)
		ntf_store_set_err(errmsg, "events.seq", strerror(-err));
	return err;
}

static int store_init_sync(struct ntf_store *s)
{
	if (pthread_mutex_init(&s->mu, NULL) ||
	    pthread_mutex_init(&s->hook_mu, NULL) ||
	    pthread_mutex_init(&s->seq_mu, NULL) ||
	    pthread_mutex_init(&s->db_mu, NULL))
		return -ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(&s->room_cv, &ca) ||
		pthread_cond_init(&s->work_cv, &ca) ||
		pthread_cond_init(&s->done_cv, NULL);
	pthread_condattr_destroy(&ca);
	return r ? -ENOMEM : 0;
}

/* Where the bytes of [from, size) of fd end: a crash leaves the
 * journal's allocated tail zero, which is not torn data. */
static uint64_t data_end(int fd, uint64_t from, uint64_t size)
{
	char buf[64 * 1024];
	while (size > from) {
		size_t n = size - from < sizeof(buf) ? (size_t)(size - from)
						     : sizeof(buf);
		if (pread(fd, buf, n, (off_t)(size - n)) != (ssize_t)n)
			return size;
		while (n > 0 && buf[n - 1] == 0)
			n--, size--;
		if (n > 0)
			return size;
	}
	return from;
}

/* The offset of the first whole frame that starts in (from, end) of the
 * journal: 1 with *at, 0 when there is none, or -errno.  Offsets are
 * tried one by one, each first with ntf_journal_plausible() (a look at a
 * few header bytes) and only then decoded, CRC included. */
static int journal_resync(struct ntf_store *s, uint64_t from, uint64_t end,
			  uint64_t *at)
{
	enum { WIN = 1 << 20, PEEK = NTF_JOURNAL_HEADER + 2 };
	char *w = malloc(WIN + PEEK);
	int found = 0;
	if (!w)
		return -ENOMEM;
	for (uint64_t off = from + 1; !found && off + PEEK <= end; off += WIN) {
		size_t want = end - off < WIN + PEEK ? (size_t)(end - off)
						     : WIN + PEEK;
		ssize_t got = read_at(s->jfd, w, want, off);
		if (got < 0) {
			found = (int)got;
			break;
		}
		for (size_t i = 0; i < WIN && i + PEEK <= (size_t)got; i++) {
			uint32_t body;
			struct ntf_journal_frame f;
			if (!ntf_journal_plausible(w + i, (size_t)got - i))
				continue;
			memcpy(&body, w + i, 4);
			size_t n = NTF_JOURNAL_HEADER + body;
			if (off + i + n > end)
				continue;
			ssize_t r = journal_read(s, off + i, n);
			if (r == (ssize_t)n &&
			    ntf_journal_decode(s->rbuf, n, &f) > 0) {
				*at = off + i;
				found = 1;
				break;
			}
		}
	}
	free(w);
	return found;
}

/* Ingest what the journal's [0, size) holds beyond the database's mark.
 * A frame that does not decode (or claims more bytes than follow) ends
 * the replay only when no whole frame follows it: a torn end.  When one
 * does, the replay goes on there; frames written over since the journal
 * last started over decode too (all ingested long ago: skipped by seq,
 * their finalisations idempotent), so the bytes skipped count as damage
 * (stats.damaged) only when what follows them was new.  *done: where the
 * last frame replayed ends. */
static int replay(struct ntf_store *s, uint64_t size, uint64_t *done)
{
	uint64_t off = 0, next = 0;
	for (;;) {
		uint64_t mark = s->mark;
		int err = ingest_range(s, off, size, s->mark, true, done);
		if (err && err != -EBADMSG)
			return err;
		if (off > 0 && s->mark > mark)
			s->stats.damaged += off - s->resync_from;
		if (*done >= size)
			return 0;
		int r = journal_resync(s, *done, size, &next);
		if (r <= 0)
			return r;
		s->resync_from = *done;
		off = next;
	}
}

/* Open events.journal and ingest what it holds beyond the database's
 * mark (what a crash left there), up to a torn frame at its end; then
 * start it over. */
static int journal_open(struct ntf_store *s, char **errmsg)
{
	struct stat st;
	uint64_t done = 0;
	int err = 0;
	s->jfd = openat(s->dirfd, "events.journal",
			O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->jfd < 0 || fstat(s->jfd, &st) < 0) {
		err = -errno;
		ntf_store_set_err(errmsg, "events.journal", strerror(-err));
		return err;
	}
	if ((s->batch = calloc(1, sizeof(*s->batch))))
		cmn_buf_init(&s->batch->json, NTF_LIMIT_RECORD_BYTES);
	if (!s->batch)
		return -ENOMEM;
	if (query_u64(s->db,
		      "SELECT ifnull((SELECT value FROM meta WHERE "
		      "name = 'journal_seq'), 0)",
		      &s->mark))
		return db_fail(s, SQLITE_ERROR, errmsg);
	if (st.st_size > 0)
		err = replay(s, (uint64_t)st.st_size, &done);
	if (err) {
		ntf_store_set_err(errmsg, "events.journal: replay",
				  strerror(-err));
		return err;
	}
	s->stats.torn = data_end(s->jfd, done, (uint64_t)st.st_size) - done;
	if (st.st_size > 0 &&
	    (ftruncate(s->jfd, 0) < 0 || fdatasync(s->jfd) < 0)) {
		err = -errno;
		ntf_store_set_err(errmsg, "events.journal", strerror(-err));
		return err;
	}
	s->stats.replayed = s->stats.committed;
	journal_map(s);
	return 0;
}

int ntf_store_open(const char *state_dir, const struct ntf_store_opts *opts,
		   struct ntf_store **out, char **errmsg)
{
	if (errmsg)
		*errmsg = NULL;
	*out = NULL;
	struct ntf_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dirfd = s->jfd = -1;
	if (opts)
		s->opts = *opts;
	s->batch_max =
		s->opts.batch_max ? s->opts.batch_max : NTF_LIMIT_STORE_BATCH;
	int err = store_init_sync(s);
	if (!err)
		err = open_dir(state_dir, s->opts.lock_wait_ms, &s->dirfd,
			       errmsg);
	if (!err)
		err = open_db(s, state_dir, errmsg);
	if (!err)
		sqlite3_wal_hook(s->db, wal_hook, s);
	if (!err)
		err = journal_open(s, errmsg);
	if (!err)
		err = init_seq(s, errmsg);
	if (!err && (err = cmn_thread_start(&s->writer, "bfs-ingest", writer_main, s)))
		ntf_store_set_err(errmsg, "writer thread", strerror(-err));
	if (err) {
		ntf_store_close(s);
		return err;
	}
	s->writer_started = true;
	*out = s;
	return 0;
}

int ntf_store_admin_open(const char *state_dir, struct ntf_store **out,
			 char **errmsg)
{
	if (errmsg)
		*errmsg = NULL;
	*out = NULL;
	char *path = db_path(state_dir);
	if (!path)
		return -ENOMEM;
	int err = access(path, F_OK) == 0 ? 0 : -errno;
	free(path);
	if (err) {
		ntf_store_set_err(errmsg, state_dir, "no event store there");
		return err;
	}
	struct ntf_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dirfd = s->jfd = -1;
	err = store_init_sync(s);
	if (!err)
		err = open_db(s, state_dir, errmsg);
	if (err) {
		ntf_store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void ntf_store_close(struct ntf_store *s)
{
	if (!s)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->mu);
		s->closing = true;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		journal_restart(s, 0, true);
	}
	for (int i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	batch_free(s->batch);
	free(s->rbuf);
	free(s->none.data);
	journal_unmap(s); /* left mapped when ingest was failing at close */
	if (s->jfd >= 0)
		close(s->jfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->room_cv);
	pthread_cond_destroy(&s->done_cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->seq_mu);
	pthread_mutex_destroy(&s->db_mu);
	pthread_mutex_destroy(&s->hook_mu);
	free(s);
}

/* ---- append ---- */

/* Bytes appended and not yet ingested. */
static uint64_t lag(const struct ntf_store *s)
{
	return s->jend + s->none.len - s->ingested;
}

static bool has_room(const struct ntf_store *s, size_t bytes)
{
	if (lag(s) == 0)
		return true; /* an append larger than the bounds still goes */
	return lag(s) + bytes <= NTF_LIMIT_STORE_JOURNAL_LAG;
}

/* Wake the ingester when it sleeps idle, or when a burst has piled up
 * while it lingers (see the head comment).  Called with mu held. */
static void wake_ingester(struct ntf_store *s, bool now)
{
	if (s->ing == ING_BUSY)
		return;
	if (s->ing == ING_LINGER && !now &&
	    lag(s) < NTF_LIMIT_STORE_INGEST_KICK)
		return;
	s->kick = s->ing == ING_LINGER;
	s->ing = ING_BUSY; /* one signal is enough */
	pthread_cond_signal(&s->work_cv);
}

/* Called with mu held: wait until the journal can take bytes more.  NONE
 * waits a bounded time; returns -EAGAIN when it expires (or the store
 * closes). */
static int wait_room(struct ntf_store *s, size_t bytes, enum ntf_durability d)
{
	struct timespec dl;
	bool timed = false;
	while (!has_room(s, bytes)) {
		if (s->closing)
			return -EAGAIN;
		/* Not before it waits: a clock read on every append. */
		if (!timed)
			dl = cmn_time_deadline_ms(NTF_LIMIT_STORE_NONE_WAIT_MS);
		timed = true;
		wake_ingester(s, true);
		s->room_waiters++;
		int rc = d == NTF_DURABILITY_NONE
				 ? pthread_cond_timedwait(&s->room_cv, &s->mu,
							  &dl)
				 : pthread_cond_wait(&s->room_cv, &s->mu);
		s->room_waiters--;
		if (rc == ETIMEDOUT && !has_room(s, bytes))
			return -EAGAIN;
	}
	return 0;
}

/* Called with mu held: hand out n seqs, reserving more when needed. */
static int take_seqs(struct ntf_store *s, size_t n, uint64_t *first)
{
	if (s->next_seq + n > s->hwm) {
		uint64_t hwm;
		int err = reserve_seqs(s, s->next_seq + n, &hwm);
		if (err)
			return err;
		s->hwm = hwm;
	}
	*first = s->next_seq;
	s->next_seq += n;
	return 0;
}

static int check_entries(const struct ntf_store_entry *e, size_t n,
			 size_t batch_max, size_t *bytes)
{
	if (n > batch_max)
		return -E2BIG;
	size_t data = 0;
	*bytes = 0;
	for (size_t i = 0; i < n; i++) {
		int err = entry_check(&e[i]);
		if (err)
			return err;
		data += entry_bytes(&e[i]);
		*bytes += ntf_journal_event_size(&e[i]);
	}
	return data > NTF_LIMIT_STORE_BATCH_BYTES ? -E2BIG : 0;
}

/* Append frames (n bytes) to the NONE buffer.  mu held, room checked. */
static int pbuf_add(struct pbuf *p, const char *frames, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 64 * 1024;
		while (cap < p->len + n)
			cap *= 2;
		char *d = realloc(p->data, cap);
		if (!d)
			return -ENOMEM;
		p->data = d;
		p->cap = cap;
	}
	memcpy(p->data + p->len, frames, n);
	p->len += n;
	return 0;
}

/* Encode the entries' frames into buf with seqs from first on. */
static void encode_entries(char *buf, struct ntf_store_entry *e, size_t n,
			   uint64_t first)
{
	for (size_t i = 0; i < n; i++) {
		e[i].seq = first + i;
		buf += ntf_journal_put_event(buf, &e[i], first + i);
	}
}

/* Put bytes of frames where durability says; mu held.  NONE frames that
 * would overflow the memory buffer are written out with it at once.
 * refusable: leave the reserve (see the head comment). */
static int place_frames(struct ntf_store *s, const char *frames, size_t n,
			enum ntf_durability d, bool refusable)
{
	if (d == NTF_DURABILITY_NONE &&
	    s->none.len + n <= NTF_LIMIT_STORE_NONE_BYTES)
		return pbuf_add(&s->none, frames, n);
	int err = journal_room(s, n + (refusable ? NTF_LIMIT_STORE_RESERVE
						 : 0));
	if (err)
		return err;
	s->fsync_seen |= d == NTF_DURABILITY_FSYNC;
	return journal_write(s, frames, n);
}

int ntf_store_append(struct ntf_store *s, struct ntf_store_entry *entries,
		     size_t n, enum ntf_durability durability)
{
	return ntf_store_append_ex(s, entries, n, durability, 0, NULL, NULL);
}

int ntf_store_owed_room(struct ntf_store *s, enum ntf_durability d)
{
	if (d == NTF_DURABILITY_NONE)
		return 0; /* asynchronous: nothing is promised before */
	pthread_mutex_lock(&s->mu);
	int err = journal_room(s, NTF_LIMIT_STORE_RESERVE_LOW);
	pthread_mutex_unlock(&s->mu);
	return err;
}

int ntf_store_sequence(struct ntf_store *s, ntf_store_assigned_fn fn,
		       void *arg, uint64_t *seq)
{
	pthread_mutex_lock(&s->mu);
	int err = take_seqs(s, 1, seq);
	if (!err && fn)
		fn(arg, *seq, 1);
	pthread_mutex_unlock(&s->mu);
	return err;
}

/* Most appends fit a frame buffer on the stack. */
#define APPEND_STACK 4096

int ntf_store_append_ex(struct ntf_store *s, struct ntf_store_entry *entries,
			size_t n, enum ntf_durability durability,
			unsigned flags, ntf_store_assigned_fn fn, void *arg)
{
	char stack[APPEND_STACK], *buf = stack;
	size_t bytes;
	uint64_t seq;
	int err = check_entries(entries, n, s->batch_max, &bytes);
	if (err || n == 0)
		return err;
	if (bytes > sizeof(stack) && !(buf = malloc(bytes)))
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if ((err = wait_room(s, bytes, durability))) {
		s->stats.dropped += n;
		goto out;
	}
	if ((err = take_seqs(s, n, &seq)))
		goto out;
	encode_entries(buf, entries, n, seq);
	if ((err = place_frames(s, buf, bytes, durability,
				flags & NTF_STORE_REFUSABLE))) {
		s->stats.failed += n; /* the seqs are used, the entries lost */
		goto out;
	}
	if (fn)
		fn(arg, seq, n);
	wake_ingester(s, false);
	if (durability == NTF_DURABILITY_FSYNC)
		err = journal_sync(s, s->jend);
out:
	pthread_mutex_unlock(&s->mu);
	if (buf != stack)
		free(buf);
	return err;
}

int ntf_store_flush(struct ntf_store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t want = s->jend + s->none.len;
	int err = 0;
	while (s->ingested < want && !err) {
		wake_ingester(s, true);
		if (s->closing)
			err = -ESHUTDOWN;
		else
			pthread_cond_wait(&s->done_cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return err;
}

uint64_t ntf_store_last_seq(struct ntf_store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t v = s->next_seq - 1;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void ntf_store_stats(struct ntf_store *s, struct ntf_store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	st->lag_bytes = lag(s);
	pthread_mutex_unlock(&s->mu);
}

/* ---- queues ---- */

/* Fill e from columns first.. of st (seq, time, name, bucket, key,
 * record). */
static void ntf_store_row_entry(sqlite3_stmt *st, int first,
				struct ntf_store_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = (uint64_t)sqlite3_column_int64(st, first);
	e->time_ms = sqlite3_column_int64(st, first + 1);
	e->event_name = (const char *)sqlite3_column_text(st, first + 2);
	e->bucket = (const char *)sqlite3_column_text(st, first + 3);
	e->key = (const char *)sqlite3_column_text(st, first + 4);
	e->record = (const char *)sqlite3_column_text(st, first + 5);
	e->record_len = (size_t)sqlite3_column_bytes(st, first + 5);
}

static sqlite3_int64 limit_arg(size_t max)
{
	return max == 0 || max > INT64_MAX ? -1 : (sqlite3_int64)max;
}

int ntf_store_queue_peek(struct ntf_store *s, const char *target, size_t max,
			 ntf_store_entry_fn fn, void *arg)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *st = s->st[ST_Q_PEEK];
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit_arg(max));
	int rc, ret = 0;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ntf_store_entry e;
		ntf_store_row_entry(st, 0, &e);
		ret = fn(arg, &e, (unsigned)sqlite3_column_int(st, 6));
	}
	if (!ret && rc != SQLITE_DONE)
		ret = ntf_store_errno(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->db_mu);
	return ret;
}

/* Drop one reference from seq (a queue or dead-letter row went away) and
 * delete the record when nothing needs it.  db_mu held, in a transaction. */
static int unref(struct ntf_store *s, uint64_t seq)
{
	sqlite3_stmt *u = s->st[ST_UNREF], *g = s->st[ST_GC];
	sqlite3_bind_int64(u, 1, (sqlite3_int64)seq);
	sqlite3_bind_int(u, 2, 1);
	int err = step_done(u);
	sqlite3_bind_int64(g, 1, (sqlite3_int64)seq);
	return err ? err : step_done(g);
}

static int txn_end(struct ntf_store *s, int err)
{
	if (!err)
		err = step_done(s->st[ST_COMMIT]);
	if (err)
		step_done(s->st[ST_ROLLBACK]);
	return err;
}

int ntf_store_queue_ack(struct ntf_store *s, const char *target,
			const uint64_t *seqs, size_t n)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *del = s->st[ST_Q_DEL];
	int removed = 0, err = step_done(s->st[ST_BEGIN]);
	if (err)
		goto out;
	for (size_t i = 0; i < n && !err; i++) {
		sqlite3_bind_text(del, 1, target, -1, SQLITE_STATIC);
		sqlite3_bind_int64(del, 2, (sqlite3_int64)seqs[i]);
		err = step_done(del);
		if (!err && sqlite3_changes(s->db) == 1) {
			removed++;
			err = unref(s, seqs[i]);
		}
	}
	err = txn_end(s, err);
out:
	pthread_mutex_unlock(&s->db_mu);
	return err ? err : removed;
}

int ntf_store_queue_attempt(struct ntf_store *s, const char *target,
			    uint64_t seq)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *st = s->st[ST_Q_ATTEMPT];
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	int rc = sqlite3_step(st);
	/* With RETURNING, the update is complete after the first step. */
	int ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -ENOENT;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = ntf_store_errno(rc);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->db_mu);
	return ret;
}

/* Run a one-row count statement with an optional text parameter. */
static int64_t count_stmt(struct ntf_store *s, enum stmt_id id,
			  const char *target)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *st = s->st[id];
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0)
				       : ntf_store_errno(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->db_mu);
	return rc == SQLITE_ROW || ret < 0 ? ret : -EIO;
}

int64_t ntf_store_queue_count(struct ntf_store *s, const char *target)
{
	return count_stmt(s, ST_Q_COUNT, target);
}

int ntf_store_queue_deadletter(struct ntf_store *s, const char *target,
			       uint64_t seq, const char *error)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *mv = s->st[ST_Q_TO_DEAD], *del = s->st[ST_Q_DEL];
	int err = step_done(s->st[ST_BEGIN]);
	if (err)
		goto out;
	sqlite3_bind_text(mv, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(mv, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(mv, 3, cmn_time_now_ms());
	sqlite3_bind_text(mv, 4, error ? error : "", -1, SQLITE_STATIC);
	err = step_done(mv);
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	sqlite3_bind_text(del, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(del, 2, (sqlite3_int64)seq);
	if (!err)
		err = step_done(del);
	err = txn_end(s, err);
out:
	pthread_mutex_unlock(&s->db_mu);
	return err;
}

int64_t ntf_store_deadletter_count(struct ntf_store *s, const char *target)
{
	return count_stmt(s, ST_D_COUNT, target);
}

int ntf_store_deadletter_list(struct ntf_store *s, const char *target,
			      size_t max, ntf_store_dead_fn fn, void *arg)
{
	pthread_mutex_lock(&s->db_mu);
	sqlite3_stmt *st = s->st[ST_D_LIST];
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit_arg(max));
	int rc, ret = 0;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ntf_store_entry e;
		ntf_store_row_entry(st, 1, &e);
		ret = fn(arg, (const char *)sqlite3_column_text(st, 0), &e,
			 (unsigned)sqlite3_column_int(st, 7),
			 sqlite3_column_int64(st, 8),
			 (const char *)sqlite3_column_text(st, 9));
	}
	if (!ret && rc != SQLITE_DONE)
		ret = ntf_store_errno(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->db_mu);
	return ret;
}

/* Run statement id with ?1 = target, inside the caller's transaction. */
static int run_target(struct ntf_store *s, enum stmt_id id, const char *target,
		      int *changes)
{
	sqlite3_stmt *st = s->st[id];
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	int err = step_done(st);
	sqlite3_clear_bindings(st);
	if (changes)
		*changes = sqlite3_changes(s->db);
	return err;
}

int64_t ntf_store_deadletter_retry(struct ntf_store *s, const char *target)
{
	int moved = 0;
	pthread_mutex_lock(&s->db_mu);
	int err = step_done(s->st[ST_BEGIN]);
	if (err)
		goto out;
	/* A queue row takes over the reference of its dead letter. */
	err = run_target(s, ST_D_TO_QUEUE, target, &moved);
	if (!err)
		err = run_target(s, ST_D_DEL_ALL, target, NULL);
	err = txn_end(s, err);
out:
	pthread_mutex_unlock(&s->db_mu);
	return err ? err : moved;
}

int64_t ntf_store_deadletter_purge(struct ntf_store *s, const char *target)
{
	int purged = 0;
	pthread_mutex_lock(&s->db_mu);
	int err = step_done(s->st[ST_BEGIN]);
	if (err)
		goto out;
	err = run_target(s, ST_D_UNREF_ALL, target, NULL);
	if (!err)
		err = run_target(s, ST_D_GC_ALL, target, NULL);
	if (!err)
		err = run_target(s, ST_D_DEL_ALL, target, &purged);
	err = txn_end(s, err);
out:
	pthread_mutex_unlock(&s->db_mu);
	return err ? err : purged;
}

/* ---- pending eTags ---- */

/* Finalisations are journal frames like the events (written with
 * durability none: a crash before they are out leaves the records pending,
 * and they are hashed again at the next open); they follow the frames of
 * the records they finalise, which were appended earlier. */
int ntf_store_finalize(struct ntf_store *s, const uint64_t *seqs, size_t n,
		       const char *etag)
{
	struct ntf_store_fin f = {seqs, n, etag};
	return ntf_store_finalize_batch(s, &f, 1);
}

int ntf_store_finalize_batch(struct ntf_store *s,
			     const struct ntf_store_fin *f, size_t n)
{
	size_t bytes = 0, records = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += f[i].n * ntf_journal_fin_size(f[i].etag != NULL);
		records += f[i].n;
	}
	if (records == 0)
		return 0;
	char *buf = malloc(bytes), *w = buf;
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < f[i].n; j++)
			w += ntf_journal_put_fin(w, f[i].seqs[j], f[i].etag);
	pthread_mutex_lock(&s->mu);
	/* Waits like a COMMIT append: a finalisation is never dropped. */
	int err = wait_room(s, bytes, NTF_DURABILITY_COMMIT);
	if (!err)
		err = place_frames(s, buf, bytes, NTF_DURABILITY_NONE, false);
	if (!err)
		wake_ingester(s, false);
	else
		s->stats.failed += records;
	pthread_mutex_unlock(&s->mu);
	free(buf);
	return err;
}

void ntf_store_ingest_soon(struct ntf_store *s)
{
	pthread_mutex_lock(&s->mu);
	if (!s->closing)
		wake_ingester(s, true);
	pthread_mutex_unlock(&s->mu);
}

int ntf_store_pending(struct ntf_store *s, ntf_store_pending_fn fn, void *arg)
{
	sqlite3_stmt *st = s->st[ST_PENDING];
	int rc, err = 0;
	pthread_mutex_lock(&s->db_mu);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = fn(arg, (uint64_t)sqlite3_column_int64(st, 0),
			 (const char *)sqlite3_column_text(st, 1),
			 (const char *)sqlite3_column_text(st, 2),
			 (const char *)sqlite3_column_text(st, 3),
			 sqlite3_column_int(st, 4) != 0);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = ntf_store_errno(rc);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->db_mu);
	return err;
}

/* ---- intents ---- */

int ntf_store_intent(struct ntf_store *s, const struct ntf_intent *in,
		     enum ntf_durability d, uint64_t *id)
{
	*id = 0;
	if (d == NTF_DURABILITY_FSYNC)
		d = NTF_DURABILITY_COMMIT; /* see ntf_store.h */
	if (!in->bucket || !in->bucket[0] || !in->key ||
	    (in->kind != NTF_INTENT_PUT && in->kind != NTF_INTENT_RENAME))
		return -EINVAL;
	size_t bytes = ntf_journal_intent_size(in);
	if (bytes > NTF_LIMIT_STORE_BATCH_BYTES)
		return -E2BIG;
	char *buf = malloc(bytes);
	if (!buf)
		return -ENOMEM;
	uint64_t seq = 0;
	pthread_mutex_lock(&s->mu);
	int err = wait_room(s, bytes, d);
	if (!err)
		err = take_seqs(s, 1, &seq);
	if (!err) {
		ntf_journal_put_intent(buf, in, seq);
		err = place_frames(s, buf, bytes, d,
				   in->kind == NTF_INTENT_PUT);
	}
	if (!err) {
		*id = seq;
		wake_ingester(s, false);
	}
	pthread_mutex_unlock(&s->mu);
	free(buf);
	return err;
}

/* Never synced: a DONE lost to a crash only makes the next daemon tell
 * the intent's events once more. */
int ntf_store_intent_done(struct ntf_store *s, uint64_t id,
			  enum ntf_durability d)
{
	if (d == NTF_DURABILITY_FSYNC)
		d = NTF_DURABILITY_COMMIT;
	char buf[64];
	size_t bytes = ntf_journal_put_done(buf, id);
	pthread_mutex_lock(&s->mu);
	int err = wait_room(s, bytes, d);
	if (!err)
		err = place_frames(s, buf, bytes, d, false);
	if (!err)
		wake_ingester(s, false);
	pthread_mutex_unlock(&s->mu);
	return err;
}

/* One row of the intents table, copied out. */
struct intent_row {
	uint64_t id;
	struct ntf_intent in; /* strings owned (strdup) */
};

static void intent_rows_free(struct intent_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].in.bucket);
		free((char *)v[i].in.key);
		free((char *)v[i].in.arg);
		free((char *)v[i].in.comm);
	}
	free(v);
}

static int intent_row_take(sqlite3_stmt *st, struct intent_row *r)
{
	r->id = (uint64_t)sqlite3_column_int64(st, 0);
	r->in = (struct ntf_intent){
		.kind = (enum ntf_intent_kind)sqlite3_column_int(st, 1),
		.flags = (uint16_t)sqlite3_column_int(st, 2),
		.uid = (uint32_t)sqlite3_column_int64(st, 6),
		.pid = (int32_t)sqlite3_column_int64(st, 7),
		.dev = (uint64_t)sqlite3_column_int64(st, 9),
		.ino = (uint64_t)sqlite3_column_int64(st, 10)};
	r->in.bucket = strdup((const char *)sqlite3_column_text(st, 3));
	r->in.key = strdup((const char *)sqlite3_column_text(st, 4));
	r->in.arg = strdup((const char *)sqlite3_column_text(st, 5));
	r->in.comm = strdup((const char *)sqlite3_column_text(st, 8));
	return r->in.bucket && r->in.key && r->in.arg && r->in.comm
		       ? 0
		       : -ENOMEM;
}

/* The rows are copied out first: fn may append (which can wait for the
 * ingester, and the ingester for db_mu). */
int ntf_store_intents(struct ntf_store *s, ntf_store_intent_fn fn, void *arg)
{
	sqlite3_stmt *st = s->st[ST_INTENTS];
	struct intent_row *v = NULL;
	size_t n = 0, cap = 0;
	int rc, err = 0;
	pthread_mutex_lock(&s->db_mu);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = grow((void **)&v, &cap, n, sizeof(*v));
		if (!err) {
			memset(&v[n], 0, sizeof(v[n]));
			err = intent_row_take(st, &v[n++]);
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = ntf_store_errno(rc);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->db_mu);
	for (size_t i = 0; i < n && !err; i++)
		if (v[i].in.kind == NTF_INTENT_PUT ||
		    v[i].in.kind == NTF_INTENT_RENAME)
			fn(arg, v[i].id, &v[i].in);
	intent_rows_free(v, n);
	return err;
}

/* ---- reading the log ---- */

struct ntf_store_reader {
	sqlite3 *db;
	sqlite3_stmt *scan;
	int ino; /* inotify fd, -1 until first asked for */
	char *dir;
};

static const char scan_sql[] =
	"SELECT seq, time_ms, event_name, bucket, key, record FROM records "
	"WHERE logged = 1 AND seq > ?1 AND seq < " BELOW_PENDING " ORDER BY seq";

/* A journal left behind by a daemon that died holds acknowledged events
 * the database does not have yet: when no daemon has the store open,
 * ingest them now (opening the store does), so readers see them.  Errors
 * are left to the reader's own open. */
static void reader_replay(const char *state_dir)
{
	size_t n = strlen(state_dir) + sizeof("/events.journal");
	char *path = malloc(n);
	struct stat st;
	if (!path)
		return;
	snprintf(path, n, "%s/events.journal", state_dir);
	bool left = stat(path, &st) == 0 && st.st_size > 0;
	free(path);
	struct ntf_store *s;
	if (left && ntf_store_open(state_dir, NULL, &s, NULL) == 0)
		ntf_store_close(s);
}

/* The highest event seq in STATE/events.journal (0: none or unreadable):
 * what the running daemon has acknowledged and may not have ingested. */
static uint64_t journal_last_seq(const char *state_dir)
{
	size_t n = strlen(state_dir) + sizeof("/events.journal");
	char *path = malloc(n);
	uint64_t last = 0;
	if (!path)
		return 0;
	snprintf(path, n, "%s/events.journal", state_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	char *buf = NULL;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    st.st_size <= 2 * NTF_LIMIT_STORE_JOURNAL_LAG &&
	    (buf = malloc((size_t)st.st_size))) {
		ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
		struct ntf_journal_frame f;
		long k;
		for (size_t pos = 0; got > 0 && pos < (size_t)got; pos += k) {
			k = ntf_journal_decode(buf + pos, (size_t)got - pos, &f);
			if (k <= 0)
				break;
			if (f.kind == NTF_JOURNAL_EVENT && f.seq > last)
				last = f.seq;
		}
	}
	free(buf);
	close(fd);
	return last;
}

/* 1 when the log is not yet what a reader should see up to seq `want`:
 * the daemon has not ingested that far, or a record up to it still waits
 * for its eTag; 0 when it is; -1 on error. */
static int reader_behind(sqlite3_stmt *st, uint64_t want)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)want);
	int rc = sqlite3_step(st);
	int behind = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	return behind;
}

/* Read-your-writes for `bucketfs events`: wait (at most
 * NTF_STORE_CATCH_UP_MS, in 1 ms steps — this is a command starting, not
 * the daemon) until the daemon has ingested every event it had
 * acknowledged when the reader opened, and the eTags of those records
 * are in. */
static void reader_catch_up(struct ntf_store_reader *r)
{
	uint64_t want = journal_last_seq(r->dir);
	sqlite3_stmt *st = NULL;
	if (!want ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT ifnull((SELECT value FROM meta WHERE "
			       "name = 'journal_seq'), 0) < ?1 OR EXISTS "
			       "(SELECT 1 FROM records WHERE pending = 1 "
			       "AND seq <= ?1)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (int i = 0; i < NTF_STORE_CATCH_UP_MS; i++) {
		if (reader_behind(st, want) != 1)
			break;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
out:
	sqlite3_finalize(st);
}

int ntf_store_reader_open(const char *state_dir, struct ntf_store_reader **out,
			  char **errmsg)
{
	if (errmsg)
		*errmsg = NULL;
	*out = NULL;
	struct ntf_store_reader *r = calloc(1, sizeof(*r));
	char *path = db_path(state_dir);
	int err = 0, rc;
	struct stat stb;
	r = r && path ? r : (free(r), NULL);
	if (!r || !(r->dir = strdup(state_dir))) {
		err = -ENOMEM;
		goto out;
	}
	r->ino = -1;
	if (stat(path, &stb) == 0)
		reader_replay(state_dir);
	if (stat(path, &stb) < 0) {
		err = -errno;
		ntf_store_set_err(errmsg, path, strerror(errno));
		goto out;
	}
	rc = sqlite3_open_v2(path, &r->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(r->db, 5000);
		rc = sqlite3_prepare_v3(r->db, scan_sql, -1,
					SQLITE_PREPARE_PERSISTENT, &r->scan,
					NULL);
	}
	if (rc != SQLITE_OK) {
		ntf_store_set_err(errmsg, path,
				  r->db ? sqlite3_errmsg(r->db)
					: sqlite3_errstr(rc));
		err = ntf_store_errno(rc) ? ntf_store_errno(rc) : -EIO;
	}
	if (!err)
		reader_catch_up(r);
out:
	free(path);
	if (err)
		ntf_store_reader_close(r);
	else
		*out = r;
	return err;
}

void ntf_store_reader_close(struct ntf_store_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->scan);
	sqlite3_close(r->db);
	if (r->ino >= 0)
		close(r->ino);
	free(r->dir);
	free(r);
}

/* Does e pass f?  The filter is applied here rather than in SQL so a scan
 * can report the last seq it looked at, matching or not. */
static bool filter_match(const struct ntf_store_filter *f,
			 const struct ntf_store_entry *e)
{
	if (!f)
		return true;
	if (f->bucket && strcmp(f->bucket, e->bucket) != 0)
		return false;
	if (!f->event)
		return true;
	size_t n = strlen(f->event);
	if (n && f->event[n - 1] == '*')
		return strncmp(f->event, e->event_name, n - 1) == 0;
	return strcmp(f->event, e->event_name) == 0;
}

int ntf_store_reader_scan(struct ntf_store_reader *r,
			  const struct ntf_store_filter *f, size_t max,
			  ntf_store_entry_fn fn, void *arg, uint64_t *last)
{
	sqlite3_stmt *st = r->scan;
	int rc = SQLITE_DONE, ret = 0;
	size_t n = 0;
	sqlite3_bind_int64(st, 1, f ? (sqlite3_int64)f->since : 0);
	while (!ret && (max == 0 || n < max) &&
	       (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ntf_store_entry e;
		ntf_store_row_entry(st, 0, &e);
		if (last)
			*last = e.seq;
		if (!filter_match(f, &e))
			continue;
		n++;
		ret = fn(arg, &e, 0);
	}
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = ntf_store_errno(rc) ? ntf_store_errno(rc) : -EIO;
	sqlite3_reset(st);
	return ret;
}

int ntf_store_reader_fd(struct ntf_store_reader *r)
{
	if (r->ino >= 0)
		return r->ino;
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* Watch the directory, not the WAL: the WAL is deleted when the last
	 * connection closes and recreated by the next writer.  Writes to the
	 * -shm file go through mmap and make no events. */
	if (inotify_add_watch(fd, r->dir,
			      IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				      IN_CLOSE_WRITE) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	r->ino = fd;
	return fd;
}

/* Read every pending inotify event; returns 1 when one concerns the log
 * (events.db or its WAL), 0 when none did, or -errno. */
static int drain_inotify(int fd)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	int hit = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? hit : -errno;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			if (ev->len && strncmp(ev->name, "events.db", 9) == 0 &&
			    strcmp(ev->name, "events.db-shm") != 0)
				hit = 1;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* A commit writes the WAL (which inotify sees) and then the WAL index in
 * shared memory (which it does not): a reader that scans right after the
 * first can miss the commit and hear nothing more.  So after a wake-up,
 * wait until the log has been quiet for a moment (bounded), which lets a
 * commit in progress finish before the caller scans. */
static int settle(int fd)
{
	for (int i = 0; i < NTF_STORE_SETTLE_ROUNDS; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, NTF_STORE_SETTLE_MS);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		if (n == 0)
			return 0;
		int hit = drain_inotify(fd);
		if (hit < 0)
			return hit;
	}
	return 0;
}

int ntf_store_reader_wait(struct ntf_store_reader *r)
{
	int fd = ntf_store_reader_fd(r);
	if (fd < 0)
		return fd;
	for (;;) {
		int hit = drain_inotify(fd);
		if (hit < 0)
			return hit;
		if (hit)
			return settle(fd);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, NTF_STORE_RESCAN_MS);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* a commit settle() let slip: scan again */
	}
}
