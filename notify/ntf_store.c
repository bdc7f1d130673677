/*
 * ntf_store.c - the durable event store: sequencer, group commit, the
 * embedded log with retention, and the per-target queues.
 *
 * Files in the state directory:
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
 *   meta(name, value): the schema version.
 *
 * Group commit.  ntf_store_append copies entries into the current batch
 * under `mu` (assigning seqs there, so batch order is seq order) and, when
 * the writer sleeps and the batch was empty, signals it; the one writer
 * thread takes the whole batch, commits it in one transaction with prepared
 * statements, and broadcasts the batch's condition variable.  While it
 * commits, the next batch fills: memory is bounded by two batches.  Nothing
 * ever wakes on a timer; an idle store has an idle thread.
 *
 * Back-pressure.  When the current batch is full, COMMIT and FSYNC
 * appenders wait for the writer to take it (they wait for a commit anyway);
 * NONE appenders wait at most NTF_LIMIT_STORE_NONE_WAIT_MS, then their
 * entries are dropped, counted in stats.dropped, and -EAGAIN is returned,
 * so a stuck disk never blocks a fire-and-forget caller for long.
 *
 * Retention runs on the writer thread right after a commit, in its own
 * small transaction, only when the log is over log_max_events or its oldest
 * entry is older than log_max_age; one pass removes at most
 * NTF_LIMIT_STORE_RETAIN_CHUNK entries, so the cost stays proportional to
 * the ingest.  With no events arriving nothing ages out (no timer).
 */
#include "ntf_store.h"
#include "ntf_limits.h"

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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

struct batch {
	struct item *items;
	size_t n, cap;
	struct fin *fin;  /* finalisations, applied after the inserts */
	size_t nfin, capfin;
	char *arena;
	size_t len, acap;
	bool fsync;	  /* some appender asked for FSYNC */
	bool done;	  /* the writer finished with it */
	int result;	  /* 0 or -errno, valid once done */
	unsigned waiters; /* appenders waiting on cv */
	pthread_cond_t cv;
	struct batch *next_free;
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
	ST_COUNT_
};

/* How a follower waits for a commit to finish after hearing its WAL
 * write: quiet for NTF_STORE_SETTLE_MS, at most this many times. */
#define NTF_STORE_SETTLE_MS 10
#define NTF_STORE_SETTLE_ROUNDS 20

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
	[ST_PENDING] = "SELECT seq, bucket, key FROM records WHERE "
		       "pending = 1 ORDER BY seq",
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
	"CREATE TABLE IF NOT EXISTS queue(target TEXT NOT NULL, "
	"seq INTEGER NOT NULL, attempts INTEGER NOT NULL, "
	"PRIMARY KEY(target, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS deadletter(target TEXT NOT NULL, "
	"seq INTEGER NOT NULL, attempts INTEGER NOT NULL, "
	"failed_ms INTEGER NOT NULL, error TEXT NOT NULL, "
	"PRIMARY KEY(target, seq)) WITHOUT ROWID;";

struct ntf_store {
	int dirfd; /* the state directory, flock'ed */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT_];
	struct ntf_store_opts opts;
	size_t batch_max;

	/* mu guards everything below down to the stats. */
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* writer: a batch has entries, or closing */
	pthread_cond_t room_cv; /* appenders: cur was taken */
	struct batch *cur;	/* filling; never NULL while open */
	struct batch *free_list;
	unsigned n_free;
	bool writer_idle, closing;
	/* A batch is being committed, by the writer or by an appender that
	 * took the lead: batches commit one at a time, in order, so a
	 * reader following seqs never sees a later batch before an earlier
	 * one. */
	bool committing;
	unsigned room_waiters;
	uint64_t next_seq; /* next seq to hand out */
	uint64_t hwm;	   /* seqs below it may be handed out */
	struct ntf_store_stats stats;

	/* seq_mu serialises writing events.seq; persisted is its content. */
	pthread_mutex_t seq_mu;
	uint64_t persisted;

	/* db_mu guards the connection: the writer's commits and the queue
	 * calls of other threads. */
	pthread_mutex_t db_mu;
	bool sync_full;	    /* current PRAGMA synchronous */
	uint64_t log_count; /* rows with logged = 1 (writer thread only) */
	int64_t oldest_ms;  /* time of the oldest logged row, or below */
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

static int64_t ntf_store_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (b)
		pthread_cond_init(&b->cv, NULL);
	return b;
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cv);
	free(b->fin);
	free(b->items);
	free(b->arena);
	free(b);
}

/* Called with mu held: b is done and nobody waits on it any more. */
static void batch_recycle(struct ntf_store *s, struct batch *b)
{
	if (s->n_free >= 2 || b->acap > 2 * NTF_LIMIT_STORE_BATCH_BYTES) {
		batch_free(b);
		return;
	}
	b->n = b->len = b->nfin = 0;
	b->fsync = b->done = false;
	b->result = 0;
	b->next_free = s->free_list;
	s->free_list = b;
	s->n_free++;
	if (s->writer_idle)
		pthread_cond_signal(&s->work_cv); /* it may wait for a batch */
}

/* Called with mu held. */
static struct batch *batch_get(struct ntf_store *s)
{
	struct batch *b = s->free_list;
	if (!b)
		return batch_new();
	s->free_list = b->next_free;
	s->n_free--;
	return b;
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
	if (!e->event_name || !e->record || (e->n_targets && !e->targets))
		return -EINVAL;
	if (memchr(e->record, '\0', e->record_len))
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

/* Write seq as 16 uppercase hex digits (no NUL). */
static void put_hex16(char *dst, uint64_t seq)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 15; i >= 0; i--, seq >>= 4)
		dst[i] = hex[seq & 15];
}

/* Copy e into b (room already reserved), with its seq. */
static void batch_put(struct batch *b, const struct ntf_store_entry *e,
		      uint64_t seq)
{
	struct item *it = &b->items[b->n++];
	const char *bucket = e->bucket ? e->bucket : "";
	const char *key = e->key ? e->key : "";
	it->seq = seq;
	it->time_ms = e->time_ms;
	it->name = arena_put(b, e->event_name, strlen(e->event_name));
	it->bucket = arena_put(b, bucket, strlen(bucket));
	it->key = arena_put(b, key, strlen(key));
	it->record = arena_put(b, e->record, e->record_len);
	it->record_len = e->record_len;
	it->pending = e->pending;
	if (e->seq_offset && e->seq_offset + 16 <= e->record_len)
		put_hex16(b->arena + it->record + e->seq_offset, seq);
	if (e->seq_offset2 && e->seq_offset2 + 16 <= e->record_len)
		put_hex16(b->arena + it->record + e->seq_offset2, seq);
	it->targets = b->len;
	it->n_targets = 0;
	it->logged = e->n_targets == 0;
	for (size_t i = 0; i < e->n_targets; i++) {
		if (strcmp(e->targets[i], NTF_STORE_LOCAL) == 0) {
			it->logged = true;
			continue;
		}
		arena_put(b, e->targets[i], strlen(e->targets[i]));
		it->n_targets++;
	}
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

/* ---- the writer thread ---- */

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

/* Put the eTag into a pending record (or drop the field).  Writer
 * thread, db_mu held, in the batch's transaction. */
static int apply_fin(struct ntf_store *s, const struct fin *f)
{
	sqlite3_stmt *st = s->st[f->has_etag ? ST_FINALIZE : ST_FINALIZE_NONE];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->seq);
	if (f->has_etag)
		sqlite3_bind_text(st, 2, f->etag, -1, SQLITE_STATIC);
	return step_done(st);
}

/* Commit b in one transaction.  Called on the writer thread, db_mu held. */
static int commit_batch(struct ntf_store *s, struct batch *b)
{
	int err = set_sync(s, b->fsync);
	if (!err)
		err = step_done(s->st[ST_BEGIN]);
	if (err)
		return err;
	uint64_t logged = 0;
	int64_t first_ms = 0;
	for (size_t i = 0; i < b->n && !err; i++) {
		err = insert_item(s, b, &b->items[i]);
		if (b->items[i].logged && !logged++)
			first_ms = b->items[i].time_ms;
	}
	for (size_t i = 0; i < b->nfin && !err; i++)
		err = apply_fin(s, &b->fin[i]);
	if (!err)
		err = step_done(s->st[ST_COMMIT]);
	if (err) {
		step_done(s->st[ST_ROLLBACK]);
		return err;
	}
	if (logged && s->oldest_ms == OLDEST_EMPTY)
		s->oldest_ms = first_ms;
	s->log_count += logged;
	return 0;
}

static bool retention_due(const struct ntf_store *s)
{
	if (s->opts.log_max_events && s->log_count > s->opts.log_max_events)
		return true;
	if (!s->opts.log_max_age_ms || s->oldest_ms == OLDEST_EMPTY)
		return false;
	return s->oldest_ms == OLDEST_UNKNOWN ||
	       s->oldest_ms < ntf_store_now_ms() - s->opts.log_max_age_ms;
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
		min_ms = ntf_store_now_ms() - s->opts.log_max_age_ms;
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

/* One incremental retention pass.  Writer thread, db_mu held. */
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

/* Called with mu held: the writer finished b.  Returns true when appenders
 * wait on it: the writer then holds a reference (so b outlives the
 * broadcast, which it sends after dropping mu, sparing the woken appenders
 * a collision on mu) and drops it with batch_unref. */
static bool batch_finish(struct ntf_store *s, struct batch *b, int err)
{
	b->done = true;
	b->result = err;
	s->stats.batches += !err;
	if (err)
		s->stats.failed += b->n;
	else
		s->stats.committed += b->n;
	if (!b->waiters) {
		batch_recycle(s, b);
		return false;
	}
	b->waiters++;
	return true;
}

/* Called with mu held: drop a reference taken on a done batch. */
static void batch_unref(struct ntf_store *s, struct batch *b)
{
	if (--b->waiters == 0)
		batch_recycle(s, b);
}

/* Called with mu held: wait for work; returns the batch to commit or NULL
 * when closing with nothing left. */
static struct batch *take_batch(struct ntf_store *s)
{
	for (;;) {
		bool work = s->cur->n || s->cur->nfin;
		if (work && !s->committing)
			break;
		if (!work && !s->committing && s->closing)
			return NULL;
		s->writer_idle = true;
		pthread_cond_wait(&s->work_cv, &s->mu);
		s->writer_idle = false;
	}
	/* Out of memory for the next batch: wait until an appender hands
	 * one back (the free list normally holds one, so this is rare). */
	struct batch *fresh;
	while (!(fresh = batch_get(s))) {
		s->writer_idle = true;
		pthread_cond_wait(&s->work_cv, &s->mu);
		s->writer_idle = false;
	}
	struct batch *b = s->cur;
	s->cur = fresh;
	if (s->room_waiters)
		pthread_cond_broadcast(&s->room_cv);
	return b;
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

/* Commit b, already taken out of s->cur, on the calling thread (the
 * writer, or an appender that took the lead), then wake whoever waits on
 * it, hand the next batch to its waiters (one of them leads it) or to the
 * writer, and tidy up (retention, sequence reservation) while the next
 * batch fills.  Called and returns with mu held; drops it meanwhile. */
static int commit_taken(struct ntf_store *s, struct batch *b)
{
	s->committing = true;
	pthread_mutex_unlock(&s->mu);

	pthread_mutex_lock(&s->db_mu);
	int err = commit_batch(s, b);
	pthread_mutex_unlock(&s->db_mu);
	if (!err) /* before batch_finish, which may free b */
		run_hook(s, b);

	pthread_mutex_lock(&s->mu);
	s->committing = false;
	bool wake = batch_finish(s, b, err);
	if (s->cur->waiters)
		pthread_cond_broadcast(&s->cur->cv);
	else if (s->writer_idle)
		pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	if (wake)
		pthread_cond_broadcast(&b->cv);

	pthread_mutex_lock(&s->db_mu);
	if (retention_due(s))
		apply_retention(s);
	pthread_mutex_unlock(&s->db_mu);
	extend_hwm(s);
	pthread_mutex_lock(&s->mu);
	if (wake)
		batch_unref(s, b);
	return err;
}

static void *writer_main(void *arg)
{
	struct ntf_store *s = arg;
	pthread_mutex_lock(&s->db_mu);
	if (retention_due(s))
		apply_retention(s);
	pthread_mutex_unlock(&s->db_mu);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct batch *b = take_batch(s);
		if (!b)
			break;
		commit_taken(s, b);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- open / close ---- */

static int open_dir(const char *state_dir, int *dirfd, char **errmsg)
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
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		ntf_store_set_err(
			errmsg, state_dir,
			"the event store is in use by another process");
		close(fd);
		return err;
	}
	*dirfd = fd;
	return 0;
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
	err = reserve_seqs(s, s->next_seq, &s->hwm);
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
		pthread_cond_init(&s->work_cv, NULL);
	pthread_condattr_destroy(&ca);
	return r ? -ENOMEM : 0;
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
	s->dirfd = -1;
	if (opts)
		s->opts = *opts;
	s->batch_max =
		s->opts.batch_max ? s->opts.batch_max : NTF_LIMIT_STORE_BATCH;
	int err = store_init_sync(s);
	if (!err)
		err = open_dir(state_dir, &s->dirfd, errmsg);
	if (!err)
		err = open_db(s, state_dir, errmsg);
	if (!err)
		err = init_seq(s, errmsg);
	if (!err && !(s->cur = batch_get(s)))
		err = -ENOMEM;
	if (!err && (err = -pthread_create(&s->writer, NULL, writer_main, s)))
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
	s->dirfd = -1;
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
	}
	for (int i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	batch_free(s->cur);
	while (s->free_list) {
		struct batch *b = s->free_list;
		s->free_list = b->next_free;
		batch_free(b);
	}
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->room_cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->seq_mu);
	pthread_mutex_destroy(&s->db_mu);
	pthread_mutex_destroy(&s->hook_mu);
	free(s);
}

/* ---- append ---- */

static bool batch_has_room(const struct ntf_store *s, size_t n, size_t bytes)
{
	const struct batch *b = s->cur;
	if (b->n == 0)
		return true;
	return b->n + n <= s->batch_max &&
	       b->len + bytes <= NTF_LIMIT_STORE_BATCH_BYTES;
}

/* Called with mu held: wait until cur can take the entries.  NONE waits a
 * bounded time; returns -EAGAIN when it expires (or the store closes). */
static int wait_room(struct ntf_store *s, size_t n, size_t bytes,
		     enum ntf_durability d)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += NTF_LIMIT_STORE_NONE_WAIT_MS * 1000000L;
	dl.tv_sec += dl.tv_nsec / 1000000000L;
	dl.tv_nsec %= 1000000000L;
	while (!batch_has_room(s, n, bytes)) {
		if (s->closing)
			return -EAGAIN;
		s->room_waiters++;
		int rc = d == NTF_DURABILITY_NONE
				 ? pthread_cond_timedwait(&s->room_cv, &s->mu,
							  &dl)
				 : pthread_cond_wait(&s->room_cv, &s->mu);
		s->room_waiters--;
		if (rc == ETIMEDOUT && !batch_has_room(s, n, bytes))
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
	*bytes = 0;
	for (size_t i = 0; i < n; i++) {
		int err = entry_check(&e[i]);
		if (err)
			return err;
		*bytes += entry_bytes(&e[i]);
	}
	return *bytes > NTF_LIMIT_STORE_BATCH_BYTES ? -E2BIG : 0;
}

/* Take b (which is s->cur) and commit it on this appender's thread. */
static int lead(struct ntf_store *s, struct batch *b, struct batch *fresh)
{
	s->cur = fresh;
	if (s->room_waiters)
		pthread_cond_broadcast(&s->room_cv);
	return commit_taken(s, b);
}

/* An appender that must wait for its commit commits the batch itself
 * when nobody is committing: the hand-over to the writer thread and back
 * costs two wake-ups, which on a small VM are most of a commit's latency.
 * While someone commits, appenders gather in the next batch, and when
 * that commit ends one of them leads the whole group (group commit).
 * Called and returns with mu held. */
static int lead_or_wait(struct ntf_store *s, struct batch *b)
{
	for (;;) {
		struct batch *fresh;
		if (!s->committing && b == s->cur && (fresh = batch_get(s)))
			return lead(s, b, fresh);
		b->waiters++;
		pthread_cond_wait(&b->cv, &s->mu);
		if (b->done) {
			int err = b->result;
			batch_unref(s, b);
			return err;
		}
		b->waiters--; /* woken to take the lead, or spuriously */
	}
}

int ntf_store_append(struct ntf_store *s, struct ntf_store_entry *entries,
		     size_t n, enum ntf_durability durability)
{
	return ntf_store_append_ex(s, entries, n, durability, NULL, NULL);
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

int ntf_store_append_ex(struct ntf_store *s, struct ntf_store_entry *entries,
			size_t n, enum ntf_durability durability,
			ntf_store_assigned_fn fn, void *arg)
{
	size_t bytes;
	int err = check_entries(entries, n, s->batch_max, &bytes);
	if (err || n == 0)
		return err;
	pthread_mutex_lock(&s->mu);
	err = wait_room(s, n, bytes, durability);
	if (err) {
		s->stats.dropped += n;
		goto out;
	}
	struct batch *b = s->cur;
	uint64_t seq;
	if ((err = batch_room(b, n, bytes)) || (err = take_seqs(s, n, &seq)))
		goto out;
	bool was_empty = b->n == 0;
	for (size_t i = 0; i < n; i++) {
		entries[i].seq = seq + i;
		batch_put(b, &entries[i], seq + i);
	}
	if (fn)
		fn(arg, seq, n);
	b->fsync |= durability == NTF_DURABILITY_FSYNC;
	if (was_empty && s->writer_idle)
		pthread_cond_signal(&s->work_cv);
	if (durability != NTF_DURABILITY_NONE)
		err = lead_or_wait(s, b);
out:
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
	sqlite3_bind_int64(mv, 3, ntf_store_now_ms());
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

/* Finalisations ride in the batch being filled, so they commit after the
 * inserts of the records they finalise (which were appended earlier, into
 * this batch or an earlier one). */
int ntf_store_finalize(struct ntf_store *s, const uint64_t *seqs, size_t n,
		       const char *etag)
{
	int err = 0;
	pthread_mutex_lock(&s->mu);
	struct batch *b = s->cur;
	if (b->nfin + n > b->capfin) {
		size_t cap = b->capfin ? b->capfin : 64;
		while (cap < b->nfin + n)
			cap *= 2;
		struct fin *f = realloc(b->fin, cap * sizeof(*f));
		if (!f) {
			err = -ENOMEM;
			goto out;
		}
		b->fin = f;
		b->capfin = cap;
	}
	for (size_t i = 0; i < n; i++) {
		struct fin *f = &b->fin[b->nfin++];
		f->seq = seqs[i];
		f->has_etag = etag != NULL;
		if (etag)
			snprintf(f->etag, sizeof(f->etag), "%s", etag);
	}
	if (s->writer_idle)
		pthread_cond_signal(&s->work_cv);
out:
	pthread_mutex_unlock(&s->mu);
	return err;
}

int ntf_store_pending(struct ntf_store *s, ntf_store_pending_fn fn, void *arg)
{
	sqlite3_stmt *st = s->st[ST_PENDING];
	int rc, err = 0;
	pthread_mutex_lock(&s->db_mu);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = fn(arg, (uint64_t)sqlite3_column_int64(st, 0),
			 (const char *)sqlite3_column_text(st, 1),
			 (const char *)sqlite3_column_text(st, 2));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = ntf_store_errno(rc);
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->db_mu);
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
		if (poll(&p, 1, -1) < 0)
			return -errno;
	}
}
