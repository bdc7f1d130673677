/*
 * ntf_deliver.h - durable delivery: one worker thread per configured
 * target, draining that target's queue in the event store.
 *
 *   pipeline emit --admit?--> store append (queue rows, same commit)
 *   store writer --commit hook--> ntf_deliver_wake --> worker
 *   worker: peek a group --> target send --> ack | attempt | dead letter
 *
 * A worker sleeps on its condition variable until a commit queues work
 * for it, a test event arrives, or its backoff deadline passes; nothing
 * polls.  Retryable failures back off exponentially (retry_min doubling
 * up to retry_max, with jitter); an event that fails permanently, or
 * max_attempts times, moves to the dead letters so the queue head never
 * blocks.  A failure that says nothing about the events (the far end down)
 * is retried without counting attempts, so an outage never turns into
 * dead letters.  queue_limit is enforced at admission: the filesystem
 * never waits for a target; an admitted event that is then not stored
 * gives its place back (unadmit).  A test event the target keeps
 * refusing is dropped after max_attempts, so it never holds the queue.
 *
 * Threading: admit, unadmit and wake are called from FUSE threads and the store's
 * writer thread concurrently with everything else; apply, refresh and
 * free from one control thread at a time.
 */
#ifndef NTF_DELIVER_H
#define NTF_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntf_config.h"

struct ntf_deliver;
struct ntf_store;
struct cmn_buf;
struct ntf_target_id;

/* Create the delivery engine over store (borrowed; must outlive d), with
 * no targets yet.  region goes into the ARNs shown.  Installs the store's
 * commit hook.  Returns 0 or -ENOMEM. */
int ntf_deliver_new(struct ntf_store *store, const char *region,
		    struct ntf_deliver **out);

/* Stop every worker (each finishes the send in progress) and free d.
 * Unacknowledged events stay queued in the store for the next start.
 * Removes the store's commit hook.  NULL is fine. */
void ntf_deliver_free(struct ntf_deliver *d);

/* Make the running targets those of cfg: targets whose configuration did
 * not change keep running untouched; new and changed ones are opened
 * first, and if any open fails nothing changes (returns the -errno, err
 * says which target and why, never quoting a secret).  Removed targets
 * stop; their queued events stay in the store, are shown with state
 * "removed", and are delivered if the target comes back.  On success d
 * takes ownership of cfg.  Control thread. */
int ntf_deliver_apply(struct ntf_deliver *d, struct ntf_config *cfg, char *err,
		      size_t errlen);

/* The targets that exist now (for rule validation): a malloc'ed array of
 * *n entries whose strings live in the same allocation; caller frees
 * with free().  NULL with *n = 0 when there are none or on ENOMEM. */
struct ntf_target_id *ntf_deliver_ids(struct ntf_deliver *d, size_t *n);

/* May one more event be queued for target ("ID:TYPE")?  False when its
 * queue is at queue_limit: the event is counted as dropped for it.  A
 * target that is not configured (a rule names a removed target) is
 * admitted up to the default limit and counted under state "missing", so
 * nothing is silently lost.  FUSE threads; never blocks on a worker. */
bool ntf_deliver_admit(struct ntf_deliver *d, const char *target);

/* Give back the place ntf_deliver_admit took for an event that was then
 * not stored after all (the append failed). */
void ntf_deliver_unadmit(struct ntf_deliver *d, const char *target);

/* Work was committed for target (NULL: maybe for every target): wake its
 * worker.  Store writer thread; never blocks on I/O. */
void ntf_deliver_wake(struct ntf_deliver *d, const char *target);

/* Queue AWS's s3:TestEvent for target, about bucket ("" for the mount
 * root), sent ahead of the queue (not stored: it describes a
 * configuration, not an object).  Ignored for unknown targets.  Any
 * thread. */
void ntf_deliver_test_event(struct ntf_deliver *d, const char *target,
			    const char *bucket);

/* Re-read queue and dead-letter counts from the store and wake every
 * worker (after `bucketfs deadletter retry|purge`).  Control thread. */
void ntf_deliver_refresh(struct ntf_deliver *d);

/* Append .bucketfs/targets: a JSON array with, per target, "arn", "id",
 * "type", "state" (idle, delivering, retrying, unreachable, removed,
 * missing), "queued", "delivered", "failed", "dropped", "deadLetters",
 * "lastError", "lastErrorTime", "lastSuccessTime" (ISO 8601 or null).
 * Any thread.  Returns 0 or -E2BIG/-ENOMEM. */
int ntf_deliver_render_targets(struct ntf_deliver *d, struct cmn_buf *out);

/* Append the per-target series of .bucketfs/metrics (Prometheus text):
 * bucketfs_target_{delivered,failed,dropped,dead_letters}_total,
 * bucketfs_target_queued and the histogram
 * bucketfs_target_delivery_latency_seconds (event time to acknowledgement).
 * Any thread. */
int ntf_deliver_render_metrics(struct ntf_deliver *d, struct cmn_buf *out);

/* Backoff before retry number `failures` (>= 1): min doubled per failure,
 * capped at max, then "equal jitter": half fixed, half scaled by rnd
 * (uniform in [0, 2^32)).  Pure; exported for the tests. */
uint64_t ntf_deliver_backoff_ms(uint64_t min, uint64_t max, unsigned failures,
				uint32_t rnd);

#endif
