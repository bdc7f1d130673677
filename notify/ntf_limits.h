/*
 * ntf_limits.h - every ceiling of the notify part, in one place.
 *
 * A NotificationConfiguration arrives through setxattr from any local
 * user, so every dimension of it is bounded; each limit says why it has
 * the value it has (the shape of SQLite's sqliteLimit.h).
 */
#ifndef NTF_LIMITS_H
#define NTF_LIMITS_H

/* Largest NotificationConfiguration document in bytes.  Linux caps an
 * xattr value at 64 KiB (XATTR_SIZE_MAX), so nothing larger can ever be
 * stored; the CLI applies the same limit so it agrees with setxattr. */
#define NTF_LIMIT_XML_BYTES (64 * 1024)

/* Largest number of XML elements in one document.  A real configuration
 * has about 10 elements per rule; this is far above NTF_LIMIT_CONFIGS
 * rules and stops a document of 10 000 empty elements early. */
#define NTF_LIMIT_XML_ELEMENTS 4096

/* Deepest element nesting accepted.  The schema needs 6 levels
 * (NotificationConfiguration/QueueConfiguration/Filter/S3Key/FilterRule/
 * Name, plus rustfs's FilterRuleList); libxml2 stops at 256 by itself,
 * this stops earlier so no walk ever goes deep. */
#define NTF_LIMIT_XML_DEPTH 16

/* Most Queue configurations in one document.  AWS documents a per-bucket
 * quota without a number; 100 rules per bucket is more than any real
 * setup and keeps the linear match scan on the FUSE thread short. */
#define NTF_LIMIT_CONFIGS 100

/* Most <Event> elements in one configuration.  There are fewer than 64
 * distinct event names and duplicates are rejected, so a valid document
 * never needs more. */
#define NTF_LIMIT_EVENTS 64

/* Longest filter rule value, in bytes of UTF-8: S3's documented limit. */
#define NTF_LIMIT_FILTER_VALUE 1024

/* Longest configuration Id in bytes; it is copied into every record's
 * s3.configurationId, so it must stay small. */
#define NTF_LIMIT_ID_BYTES 256

/* Longest ARN in bytes (arn:bucketfs:sqs:REGION:ID:TYPE).  AWS ARNs stay
 * well below 256 characters. */
#define NTF_LIMIT_ARN_BYTES 256

/* Most distinct targets one match can return: every configuration of a
 * global and a bucket rule set naming a different target. */
#define NTF_LIMIT_MATCH (2 * NTF_LIMIT_CONFIGS)

/* Largest record JSON the hot path builds.  AWS caps a notification
 * message at 64 KiB; a 1 KiB key encoded triples, user metadata is the
 * rest. */
#define NTF_LIMIT_RECORD_BYTES (256 * 1024)

/* Event store (ntf_store.c). */

/* Most entries in one ingest transaction (and in one append).  A few
 * thousand rows amortise the commit while a transaction stays a few
 * milliseconds, so queue calls never wait long for the connection. */
#define NTF_LIMIT_STORE_BATCH 4096

/* How long a daemon waits for the state directory's lock: long enough
 * for a `bucketfs events` replaying a crashed daemon's journal, or for
 * another daemon's check at its start, to let go; a daemon that keeps
 * the store is refused after it. */
#define NTF_LIMIT_STORE_LOCK_WAIT_MS 3000

/* Most bytes of one ingest transaction (and of one append, and of one
 * journal frame): bounds the ingester's memory. */
#define NTF_LIMIT_STORE_BATCH_BYTES (8 * 1024 * 1024)

/* Longest a durability=none append waits for room when the writer is
 * behind before its entries are dropped and counted: long enough to ride
 * out a WAL checkpoint's fsyncs during a burst (50 ms dropped a few events
 * per 200 000 in tests/bench/events), short enough that the filesystem
 * never stalls. */
#define NTF_LIMIT_STORE_NONE_WAIT_MS 200

/* Most bytes of frames appended to the journal and not yet ingested into
 * events.db before appenders wait (durability=none ones at most
 * NTF_LIMIT_STORE_NONE_WAIT_MS): bounds the journal's size when the
 * database cannot keep up or is unwritable for a while. */
#define NTF_LIMIT_STORE_JOURNAL_LAG (64 * 1024 * 1024)

/* Most bytes of durability=none frames held in memory before they are
 * written to the journal (by the ingester thread). */
#define NTF_LIMIT_STORE_NONE_BYTES (4 * 1024 * 1024)

/* How long the ingester lets frames gather after an ingest before it
 * looks again.  While events flow it wakes once per this delay instead
 * of once per event (a wake-up per event cost about a third of the
 * small-file rate on a 2-core VM); an idle store sleeps untimed, and the
 * first event after a quiet spell is ingested at once.  The short delay
 * applies while events are queued for delivery (their latency counts);
 * when they only go to the embedded log, the long one: a transaction of
 * 25 ms of events instead of 3 ms halves the ingester's CPU per event. */
#define NTF_LIMIT_STORE_INGEST_DELAY_MS 3
#define NTF_LIMIT_STORE_INGEST_LOG_DELAY_MS 25

/* Frames waiting that make appenders wake the ingester before the delay
 * is up (a burst). */
#define NTF_LIMIT_STORE_INGEST_KICK (1024 * 1024)

/* The journal file starts over (is written again from its beginning) once
 * everything in it is ingested and it has grown past this: it stays about
 * this big while events flow, and is emptied at close. */
#define NTF_LIMIT_STORE_JOURNAL_TRUNCATE (4 * 1024 * 1024)

/* The journal's first bytes are allocated at open and mapped: appends
 * that fall inside are a memcpy (see journal_write in ntf_store.c).
 * Bigger than the restart size, so a steady flow stays inside. */
#define NTF_LIMIT_STORE_JOURNAL_MAP (8 * 1024 * 1024)

/* Journal space kept for the records of operations already done (an
 * unlink, a rename: their events can no longer fail the operation), so
 * that with the state directory's file system full those still go in
 * after Puts (whose close() fails instead) are refused.  Operations that
 * owe such records are themselves refused (ENOSPC) once less than
 * NTF_LIMIT_STORE_RESERVE_LOW of it is left, before they happen.  The
 * journal is allocated ahead in steps of NTF_LIMIT_STORE_ALLOC_STEP. */
#define NTF_LIMIT_STORE_RESERVE (1024 * 1024)
#define NTF_LIMIT_STORE_RESERVE_LOW (256 * 1024)
#define NTF_LIMIT_STORE_ALLOC_STEP (1024 * 1024)

/* WAL pages (4 KiB) at which the store checkpoints events.db once it is
 * idle (SQLite's own default), and during a burst that never lets it idle
 * (see checkpoint() in ntf_store.c). */
#define NTF_LIMIT_STORE_WAL_IDLE_PAGES 1000
#define NTF_LIMIT_STORE_WAL_BURST_PAGES 16384

/* How long the store must have been without events before that idle
 * checkpoint runs: a pause between two bursts is not idleness, and a
 * checkpoint there would stall the second. */
#define NTF_LIMIT_STORE_CHECKPOINT_QUIET_MS 1000

/* Seqs reserved per fsync of the sequencer's high-water mark: one fsync
 * per 65 536 events, and at most that many seqs skipped after a crash. */
#define NTF_LIMIT_STORE_SEQ_BLOCK (1u << 16)

/* Most log entries one retention pass removes, so a pass after a commit
 * stays short (it is at least twice the batch size, to keep up). */
#define NTF_LIMIT_STORE_RETAIN_CHUNK 4096

/* Most targets one entry is queued for: every target one match returns,
 * plus the event log. */
#define NTF_LIMIT_STORE_TARGETS (NTF_LIMIT_MATCH + 1)

/* Live ring (ntf_ring.c): the default bounds when the caller passes 0.
 * 4 MiB holds about 10 000 typical records, seconds of a burst, so a
 * reader that keeps up never sees a gap; a slow one costs nothing. */
#define NTF_LIMIT_RING_BYTES (4 * 1024 * 1024)
#define NTF_LIMIT_RING_LINES 16384

/* Delivery targets (ntf_config.c, ntf_deliver.c). */

/* Longest target ID in bytes.  It is part of every queue row's key and of
 * the ARN (NTF_LIMIT_ARN_BYTES), so it stays short. */
#define NTF_LIMIT_TARGET_ID 64

/* Most configured targets.  Each has a worker thread and a queue scan;
 * a few dozen is already a large deployment. */
#define NTF_LIMIT_TARGETS 64

/* Largest queue_limit: ten million queued records of about 1 KiB is
 * 10 GB of store, more than a sane backlog. */
#define NTF_LIMIT_QUEUE_MAX 10000000

/* Most records in one delivery batch (batch_size): a batch is held in
 * memory twice (rows and the message), 1000 records is about 2 MB. */
#define NTF_LIMIT_DELIVER_BATCH 1000

/* Longest configuration value (an endpoint, a token, a path). */
#define NTF_LIMIT_CONFIG_VALUE 4096

/* Largest configuration file read: far above NTF_LIMIT_TARGETS sections
 * of a few keys, and it bounds what an untrusted file can make us hold. */
#define NTF_LIMIT_CONFIG_BYTES (1024 * 1024)

/* s3:TestEvent messages waiting per target (sent when a rule set naming
 * the target is installed); more are dropped and counted as failed, since
 * a flood of rule changes must not grow memory. */
#define NTF_LIMIT_TEST_EVENTS 16

/* Largest HTTP response body a target reads (an error text for the log);
 * the rest is discarded so a hostile endpoint cannot fill memory. */
#define NTF_LIMIT_RESPONSE_BYTES 4096

#endif
