/*
 * ntf_store.h - the durable event store: the sequencer, the embedded event
 * log (the `local` target) and the per-target delivery queues, in one
 * SQLite database in WAL mode (STATE/events.db).
 *
 * The store knows nothing of the event model: an entry is plain data (a
 * name, a bucket, a key and the already serialised JSON record, or the
 * event packed by ntf_pack, which the ingester renders through that
 * codec).  Appenders
 * (FUSE threads) write entries to the journal (STATE/events.journal) with
 * one write() and go on; one ingester thread copies them into the database
 * in large transactions, a few milliseconds later.  ntf_store_append waits
 * for the journal write, an fsync of it, or nothing, as the caller's
 * durability asks.
 *
 * Readers (replay, `bucketfs events`) open the database separately with
 * ntf_store_reader_open, read-only, from any process; they see an entry
 * once it is ingested, and a reader's open waits (briefly) for what was
 * acknowledged before it, so a command run after an operation sees the
 * operation's event.
 */
#ifndef NTF_STORE_H
#define NTF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ntf_store;
struct ntf_store_reader;

/* The target name of the embedded event log. */
#define NTF_STORE_LOCAL "local"

/* How long ntf_store_append waits.  COMMIT: until the entries are written
 * to the journal (they survive a crash of the process).  FSYNC: until the
 * journal is fsynced as well (survives power loss).  NONE: not at all
 * (held in memory until the ingester writes them out). */
enum ntf_durability {
	NTF_DURABILITY_COMMIT = 0,
	NTF_DURABILITY_FSYNC,
	NTF_DURABILITY_NONE,
};

/* Events the daemon owes for an operation it has already acknowledged
 * but will tell only later: recorded durably before the acknowledgement
 * (ntf_store_intent), marked done once told (ntf_store_intent_done); what
 * a crash leaves undone the next daemon finds (ntf_store_intents) and
 * tells then, at least once. */
enum ntf_intent_kind {
	/* The Put of a file still empty at its close(), told at RELEASE:
	 * bucket/key is the object. */
	NTF_INTENT_PUT = 1,
	/* The Copy and Delete pairs of a directory rename: bucket/key is the
	 * directory's new name, arg its old "bucket/dir"; flags
	 * NTF_INTENT_EXCHANGE for RENAME_EXCHANGE, NTF_INTENT_ENDED when
	 * arg was a bucket that the rename ended (its BucketRemoved is owed
	 * too, after the Deletes), NTF_INTENT_CREATED when the new name is a
	 * bucket the rename makes (its BucketCreated comes first). */
	NTF_INTENT_RENAME = 2,
};

#define NTF_INTENT_EXCHANGE 0x1u
#define NTF_INTENT_ENDED 0x2u
#define NTF_INTENT_CREATED 0x4u

struct ntf_intent {
	enum ntf_intent_kind kind;
	uint16_t flags;
	const char *bucket, *key; /* borrowed */
	const char *arg;          /* borrowed; NULL: "" */
	/* RENAME: the moved directory (recorded before the rename: the
	 * next daemon walks the new name only if it holds that one); 0 */
	uint64_t dev, ino;
	uint32_t uid;
	int32_t pid;
	const char *comm; /* borrowed; NULL: "" */
};

struct ntf_store_entry {
	uint64_t seq;		/* filled by ntf_store_append */
	int64_t time_ms;	/* event time, ms since the epoch */
	const char *event_name; /* "s3:ObjectCreated:Put" */
	const char *bucket, *key;
	const char *record; /* the JSON record (one line), borrowed */
	size_t record_len;
	/* record is not JSON but the event packed by ntf_pack_event (binary;
	 * the seq_offsets are then 0): the ingester renders it into the
	 * record, with the assigned seq as its sequencer.  What an appender
	 * on a FUSE thread gives to keep the formatting off that thread. */
	bool packed;
	/* When non-zero: the 16 bytes at record + seq_offset are replaced,
	 * in the stored copy, by the assigned seq as uppercase hex (the
	 * record's "sequencer"), so the caller can serialise before the
	 * seq is known. */
	size_t seq_offset;
	size_t seq_offset2; /* a second place to write it (0: none) */
	/* The record carries the placeholder "eTag":"000…0" (32 zeros) and is
	 * pending: stored durably now, but invisible to log readers and queue
	 * workers (and everything after it, to keep seq order) until
	 * ntf_store_finalize() puts the real eTag in. */
	bool pending;
	/* Targets the entry is queued for in the same commit; the name
	 * NTF_STORE_LOCAL means the event log.  n_targets == 0 means the event
	 * log only. */
	const char *const *targets;
	size_t n_targets;
};

struct ntf_store_opts {
	uint64_t log_max_events; /* keep at most this many log entries; 0: no
				    limit */
	int64_t log_max_age_ms; /* drop log entries older than this; 0: no limit
				 */
	size_t batch_max;	/* entries per transaction; 0: the default */
	/* Wait this long for the state directory's lock when another
	 * process holds it (a `bucketfs events` replaying a journal left by
	 * a crash, another daemon's check at its start); 0: fail at once. */
	int64_t lock_wait_ms;
};

struct ntf_store_stats {
	uint64_t committed; /* entries ingested into the database since open
			       (replayed ones included) */
	uint64_t dropped; /* NONE entries refused because the ingester was
			     behind */
	uint64_t failed;  /* entries lost: the journal write failed (or a
			     corrupt frame, or a packed record that did
			     not render) */
	uint64_t batches; /* ingest transactions committed */
	uint64_t retries; /* ingest transactions that failed and were retried
			   */
	uint64_t replayed; /* entries ingested from the journal at open (what
			      the last run left there) */
	uint64_t torn;	   /* bytes after the last frame replayed at open:
			      a torn frame, or older frames overwritten in
			      part (all ingested long ago) */
	uint64_t damaged;  /* bytes of the journal skipped at open: frames
			      that did not decode, with frames the database
			      did not have yet after them (those replayed) */
	uint64_t lag_bytes; /* appended and not yet ingested, now */
};

/* Open (creating it, mode 0700, and the database) the store in state_dir
 * replay what the journal holds, and start the ingester thread.  opts may
 * be NULL (no retention, defaults).
 * On failure returns -errno (-EIO for a database error) and, when errmsg is
 * not NULL, sets *errmsg to a malloc'ed message the caller frees (or NULL).
 * Only one process may have a store open on a directory at a time (a second
 * open fails with -EBUSY).  Call from one thread; the result is shared. */
int ntf_store_open(const char *state_dir, const struct ntf_store_opts *opts,
		   struct ntf_store **out, char **errmsg);

/* Open the store in state_dir for the queue and dead-letter calls only
 * (the `bucketfs deadletter` command), alongside a daemon that may have
 * it open: no lock, no ingester, no sequencer; ntf_store_append must not be
 * called on the result.  SQLite serialises the writes of the two
 * processes.  Returns 0, -ENOENT when there is no store, or -errno
 * (*errmsg as for ntf_store_open).  Close with ntf_store_close. */
int ntf_store_admin_open(const char *state_dir, struct ntf_store **out,
			 char **errmsg);

/* Drain every accepted entry into the database, stop the ingester and
 * close.  Accepts NULL.  No
 * other call on s may be running or follow. */
void ntf_store_close(struct ntf_store *s);

/* Append n entries (copied; the caller keeps ownership of its strings),
 * assigning each a sequence number, strictly increasing in array order and
 * across calls, written to entries[i].seq.  Waits as durability says.
 * Returns 0; -EINVAL for a bad entry (nothing appended); -E2BIG when n or an
 * entry exceeds the limits of ntf_limits.h; -EAGAIN (NONE only) when the
 * ingester is so far behind that the entries were dropped (counted in
 * stats.dropped, no seqs assigned); -errno (-EIO, -ENOSPC) when writing
 * the journal failed (the seqs were used but the entries are lost).
 * Thread-safe; called by any number of threads. */
int ntf_store_append(struct ntf_store *s, struct ntf_store_entry *entries,
		     size_t n, enum ntf_durability durability);

/* Called by the two functions below with the first of n sequence numbers
 * just assigned, under the lock that assigns them: whatever fn does
 * happens in sequence order across threads.  It must be quick and must
 * not call into the store. */
typedef void (*ntf_store_assigned_fn)(void *arg, uint64_t first, size_t n);

/* Wait until every entry appended before the call is in the database
 * (readers see it).  Returns 0, or -ESHUTDOWN when the store is closing.
 * Thread-safe. */
int ntf_store_flush(struct ntf_store *s);

/* Flags of ntf_store_append_ex.  REFUSABLE: the caller can still fail
 * its operation when the entries cannot be stored (a Put at close()):
 * they are refused (-ENOSPC) rather than take the journal's reserve,
 * which is kept for records of operations already done (ntf_limits.h,
 * NTF_LIMIT_STORE_RESERVE). */
#define NTF_STORE_REFUSABLE 1u

/* ntf_store_append() with flags (above), calling fn (may be NULL) once
 * the seqs are assigned and before waiting for the commit. */
int ntf_store_append_ex(struct ntf_store *s, struct ntf_store_entry *entries,
			size_t n, enum ntf_durability durability,
			unsigned flags, ntf_store_assigned_fn fn, void *arg);

/* May an operation that will owe records (an unlink, a rename: they
 * cannot fail once done) go ahead?  0, or -ENOSPC when less than
 * NTF_LIMIT_STORE_RESERVE_LOW of the journal's reserve is left and no
 * more can be allocated: the operation must fail before it happens, or
 * its records could be lost.  Always 0 for NONE (asynchronous). */
int ntf_store_owed_room(struct ntf_store *s, enum ntf_durability d);

/* Take one sequence number that no entry will carry (for records only
 * live readers see), calling fn (may be NULL) as above.  Returns 0 or
 * -errno. */
int ntf_store_sequence(struct ntf_store *s, ntf_store_assigned_fn fn,
		       void *arg, uint64_t *seq);

/* The highest sequence number handed out so far (0 before the first).
 * Thread-safe. */
uint64_t ntf_store_last_seq(struct ntf_store *s);

/* Copy the counters into *st.  Thread-safe. */
void ntf_store_stats(struct ntf_store *s, struct ntf_store_stats *st);

/*
 * Queues (one per target).  An entry appended with target T stays in T's
 * queue until acknowledged or moved to the dead letters.  These calls use
 * the ingester's connection under a mutex: thread-safe, and they may wait
 * for an ingest in progress.  They see only ingested entries.
 */

/* Called for each entry; e and its strings are borrowed for the call only.
 * attempts is the count recorded by ntf_store_queue_attempt.  Return 0 to go
 * on, anything else to stop (the value is returned by the caller). */
typedef int (*ntf_store_entry_fn)(void *arg, const struct ntf_store_entry *e,
				  unsigned attempts);

/* Call fn for the (at most max) oldest entries queued for target, in seq
 * order.  Returns 0, fn's non-zero value, or -errno.  e->targets is NULL. */
int ntf_store_queue_peek(struct ntf_store *s, const char *target, size_t max,
			 ntf_store_entry_fn fn, void *arg);

/* Remove the given seqs from target's queue (delivered); seqs not queued are
 * ignored.  An entry no queue, dead letter or the log still needs is deleted.
 * Returns the number removed or -errno. */
int ntf_store_queue_ack(struct ntf_store *s, const char *target,
			const uint64_t *seqs, size_t n);

/* Record one more failed delivery attempt of seq for target; returns the new
 * attempt count, -ENOENT when it is not queued, or -errno. */
int ntf_store_queue_attempt(struct ntf_store *s, const char *target,
			    uint64_t seq);

/* Called after a commit made queue entries visible: once per distinct
 * target of the committed batch, or with target NULL when it may concern
 * any target (too many to list, or a finalisation).  Runs on the store's
 * ingester thread, with no store lock held but
 * under the hook's own mutex: it must be quick and must not call back
 * into the store. */
typedef void (*ntf_store_commit_fn)(void *arg, const char *target);

/* Install fn (NULL removes it).  When this returns, no call of the
 * previous hook is running.  Thread-safe. */
void ntf_store_set_commit_hook(struct ntf_store *s, ntf_store_commit_fn fn,
			       void *arg);

/* Number of entries queued for target (>= 0) or -errno. */
int64_t ntf_store_queue_count(struct ntf_store *s, const char *target);

/* Move seq from target's queue to the dead letters with a reason (copied),
 * so it never blocks the queue head.  Returns 0, -ENOENT, or -errno. */
int ntf_store_queue_deadletter(struct ntf_store *s, const char *target,
			       uint64_t seq, const char *error);

/* Number of dead letters of target, or of every target when target is NULL;
 * -errno on failure. */
int64_t ntf_store_deadletter_count(struct ntf_store *s, const char *target);

/* Called for each dead letter; strings borrowed for the call only. */
typedef int (*ntf_store_dead_fn)(void *arg, const char *target,
				 const struct ntf_store_entry *e,
				 unsigned attempts, int64_t failed_ms,
				 const char *error);

/* Call fn for up to max dead letters of target (every target when NULL), in
 * (target, seq) order.  Returns 0, fn's non-zero value, or -errno. */
int ntf_store_deadletter_list(struct ntf_store *s, const char *target,
			      size_t max, ntf_store_dead_fn fn, void *arg);

/* Put every dead letter of target (all when NULL) back at its place in the
 * queue with zero attempts.  Returns the number moved or -errno. */
int64_t ntf_store_deadletter_retry(struct ntf_store *s, const char *target);

/* Delete the dead letters of target (all when NULL).  Returns the number
 * deleted or -errno. */
int64_t ntf_store_deadletter_purge(struct ntf_store *s, const char *target);

/*
 * Reading the event log: a read-only connection to STATE/events.db, usable
 * while a store (in this or another process) writes it.  One reader per
 * thread; different readers are independent.
 */

/* What ntf_store_reader_scan returns. */
struct ntf_store_filter {
	uint64_t since;	    /* only seq > since */
	const char *bucket; /* exact bucket, or NULL for all */
	const char *event;  /* exact name, "prefix*" wildcard, or NULL */
};

/* Open the log in state_dir read-only.  Returns 0, -ENOENT when there is no
 * store there, or -errno (*errmsg as for ntf_store_open). */
int ntf_store_reader_open(const char *state_dir, struct ntf_store_reader **out,
			  char **errmsg);

/* Close; accepts NULL. */
void ntf_store_reader_close(struct ntf_store_reader *r);

/* Call fn for each log entry matching f (NULL: all), in seq order, at most
 * max (0: no limit); e->targets is NULL, attempts 0.  *last (when not NULL)
 * is set to the highest seq the scan looked at, matching or not, so the
 * next scan can start there; it is left alone when there was none.
 * Returns 0, fn's non-zero value, or -errno.  Each call sees the log as
 * committed when it starts. */
int ntf_store_reader_scan(struct ntf_store_reader *r,
			  const struct ntf_store_filter *f, size_t max,
			  ntf_store_entry_fn fn, void *arg, uint64_t *last);

/* A file descriptor that becomes readable when the log may have changed
 * (inotify on the state directory, watching events.db-wal), for poll(2);
 * owned by r.  Call it before the first scan so no change is missed.
 * Returns the fd or -errno. */
int ntf_store_reader_fd(struct ntf_store_reader *r);

/* Block until the log may have changed since the last call, then consume
 * the pending notifications; after NTF_STORE_RESCAN_MS without any, return
 * anyway so the caller scans again (see ntf_store.c: a commit can be heard
 * before a scan can see it).  Returns 0 or -errno (-EINTR when a signal
 * interrupted the wait). */
int ntf_store_reader_wait(struct ntf_store_reader *r);

/* Put etag (32 hex digits) over the placeholder of the record rec[0..*len)
 * in place, or, when etag is NULL, remove the field and the comma that
 * separates it, shortening *len: what finalising does to stored records,
 * for copies held elsewhere (live lines).  False when rec has no
 * placeholder.  Pure. */
bool ntf_store_fill_etag(char *rec, size_t *len, const char *etag);

/* Finalise pending records: replace the eTag placeholder by etag (32 hex
 * digits), or remove the field when etag is NULL (the content could not
 * be hashed).  Queued into the next group commit, after the records'
 * own inserts; does not wait for it.  Returns 0 or -ENOMEM.  Any thread. */
int ntf_store_finalize(struct ntf_store *s, const uint64_t *seqs, size_t n,
		       const char *etag);

/* Several finalisations at once, under one lock: what a hash batch hands
 * over (taking the lock once per object made the hasher contend with
 * every append for it).  Same contract as ntf_store_finalize. */
struct ntf_store_fin {
	const uint64_t *seqs; /* borrowed for the call */
	size_t n;
	const char *etag;     /* 32 hex digits, or NULL */
};
int ntf_store_finalize_batch(struct ntf_store *s,
			     const struct ntf_store_fin *f, size_t n);

/* A batch of ntf_store_finalize() calls is over: ingest now rather than
 * at the end of the ingest delay, so that the records it finalised which
 * are not in events.db yet go in once, complete, instead of being
 * inserted pending and rewritten (that was four in ten records of a burst
 * of small creates).  Any thread; does not wait. */
void ntf_store_ingest_soon(struct ntf_store *s);

/* Call fn for every pending record in seq order (after a restart, so the
 * caller can hash again), with the record as stored (its JSON, the eTag a
 * placeholder) and whether a later record of the log names the same
 * object (`later`: what it described may be gone).  fn's strings are
 * valid during the call; a non-zero return stops the walk and is
 * returned.  Must not call back into the store.  Any thread. */
typedef int (*ntf_store_pending_fn)(void *arg, uint64_t seq,
				    const char *bucket, const char *key,
				    const char *record, bool later);
int ntf_store_pending(struct ntf_store *s, ntf_store_pending_fn fn, void *arg);

/* Record the intent in durably (as d says, like an event append, but
 * FSYNC as COMMIT: what an intent is about, an empty file or a rename,
 * is not on disk either before someone syncs it) and set *id (never 0) to
 * pass to ntf_store_intent_done() once its events are told; *id is 0 when
 * it fails.  A Put's intent is refusable (NTF_STORE_REFUSABLE: its close()
 * fails instead); a rename's may take the journal's reserve, as the
 * records it stands for will (ask ntf_store_owed_room first).  Returns 0
 * or -errno (-EAGAIN: dropped, d none only).  Any thread. */
int ntf_store_intent(struct ntf_store *s, const struct ntf_intent *in,
		     enum ntf_durability d, uint64_t *id);

/* The events of intent id are told (their records appended before this
 * call).  Returns 0 or -errno.  Any thread. */
int ntf_store_intent_done(struct ntf_store *s, uint64_t id,
			  enum ntf_durability d);

/* Call fn for every intent not done (after a restart: the operations a
 * crash left untold), in id order.  fn's strings are valid during the
 * call; fn may append and mark intents done.  Returns 0 or -errno. */
typedef void (*ntf_store_intent_fn)(void *arg, uint64_t id,
				    const struct ntf_intent *in);
int ntf_store_intents(struct ntf_store *s, ntf_store_intent_fn fn, void *arg);

#endif
