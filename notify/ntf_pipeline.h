/*
 * ntf_pipeline.h - from "this happened to that object" to durable,
 * matched, streamed event records.
 *
 *   emit() --mask--> match (global + bucket rules, or the default) -->
 *   record JSON --> store (SQLite WAL, group commit, per-target queues)
 *                     \--> live ring (.bucketfs/events readers)
 *
 * The pipeline owns the rule sets of every bucket and of the mount root,
 * the store and the ring.  Cost rule: an event nobody subscribes to (no
 * rule anywhere and no live reader) costs one atomic load and one bit
 * test in ntf_pipeline_wants().
 *
 * Threading: every function may be called from any FUSE thread
 * concurrently, except open/close.
 */
#ifndef NTF_PIPELINE_H
#define NTF_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntf_event.h"
#include "ntf_ring.h"
#include "ntf_store.h"

struct ntf_pipeline;
struct ntf_event;
struct ntf_rules;
struct ntf_rules_env;
struct ntf_target_id;
struct cmn_buf;

struct ntf_pipeline_opts {
	const char *state_dir;         /* borrowed for the open call */
	enum ntf_durability durability;
	uint64_t log_max_events;       /* 0: keep all */
	int64_t log_max_age_ms;        /* 0: keep all */
	const char *region;            /* NULL: "us-east-1" */
	int64_t lock_wait_ms;          /* see ntf_store_opts */
	/* Replayed by an earlier open of the same store in this process
	 * (records, damaged bytes): added to the metrics'. */
	uint64_t replayed_earlier, damaged_earlier;
};

/* Open the store in opts->state_dir (created 0700) and start with no
 * rules (the default rule set applies).  Returns 0 or -errno; on failure
 * *errmsg may hold a malloc'ed explanation (caller frees). */
int ntf_pipeline_open(const struct ntf_pipeline_opts *opts,
		      struct ntf_pipeline **out, char **errmsg);

/* Drain the store and free everything; NULL is fine. */
void ntf_pipeline_close(struct ntf_pipeline *p);

/* What rule documents are validated against now: the region and the
 * targets that exist.  A snapshot, so a reload (ntf_pipeline_set_targets)
 * on another thread cannot change it under a parse; the list it points
 * at is borrowed and valid while p is open. */
struct ntf_rules_env ntf_pipeline_env(struct ntf_pipeline *p);

/* The region records carry. */
const char *ntf_pipeline_region(struct ntf_pipeline *p);

/* Install the rule set of `bucket`, or of the mount root when bucket is
 * NULL (global rules, the only place bucket events can be subscribed).
 * Takes ownership of rules; NULL removes the rule set.  Returns 0 or
 * -ENOMEM (rules are then freed). */
int ntf_pipeline_set_rules(struct ntf_pipeline *p, const char *bucket,
			   struct ntf_rules *rules);

/* Rename a bucket's rule set (bucket renamed through the mount). */
void ntf_pipeline_move_rules(struct ntf_pipeline *p, const char *from,
			     const char *to);

/* Fast test: may anyone (a rule anywhere, the default, a live reader)
 * want events called ev?  When false the caller builds nothing. */
bool ntf_pipeline_wants(struct ntf_pipeline *p, enum ntf_event_name ev);

/* Does event ev on bucket/key match any rule, or is a live reader open?
 * The caller asks this before gathering what a record needs (stat,
 * xattrs), so an event that matches nothing costs a match and no
 * syscall.  Any thread. */
bool ntf_pipeline_matches(struct ntf_pipeline *p, enum ntf_event_name ev,
			  const char *bucket, const char *key);

/* Record ev: match it, store one entry per configuration that matched
 * (the event packed, rendered into its record by the store's ingester;
 * the record itself when live readers need it now), waiting as the
 * durability mode says, and publish to live readers.  ev->sequencer is assigned here; ev->time_ms and
 * ev->region are filled when 0/NULL.  Returns 0 (also when nothing
 * matched) or -errno when the store failed. */
int ntf_pipeline_emit(struct ntf_pipeline *p, struct ntf_event *ev);

/* An event whose eTag is still being computed (off the FUSE thread). */
struct ntf_pending;

/* The eTag value that marks a record as pending. */
#define NTF_ETAG_PENDING "00000000000000000000000000000000"

/* Like ntf_pipeline_emit(), for an object whose eTag is not known yet:
 * the records are stored now (durably, as the mode says) but stay
 * invisible to log readers, queues and live readers until
 * ntf_pipeline_finalize().  *out is the handle to finalise, or NULL when
 * nothing was recorded (nobody wanted it, or an error came first).
 * Returns 0 or -errno; an error may come with a handle (the records were
 * stored, then their fsync failed): finalise it all the same. */
int ntf_pipeline_emit_pending(struct ntf_pipeline *p, struct ntf_event *ev,
			      struct ntf_pending **out);

/* Either of the two above (out NULL: ntf_pipeline_emit), with the store's
 * append flags: NTF_STORE_REFUSABLE for an event whose operation can
 * still fail when it cannot be recorded (a Put at close()), or that may
 * be lost rather than take the space kept for those that cannot (a GET);
 * 0 for an operation already done. */
int ntf_pipeline_emit_ex(struct ntf_pipeline *p, struct ntf_event *ev,
			 unsigned flags, struct ntf_pending **out);

/* May an operation whose events cannot fail once it is done (0 flags
 * above: an unlink, a rename) go ahead?  0, or -ENOSPC: fail it first
 * (ntf_store_owed_room). */
int ntf_pipeline_owed_room(struct ntf_pipeline *p);

/* Put etag (32 hex digits, or NULL: the content could not be hashed) into
 * the pending records, publish them to live readers, and free pd.  Any
 * thread; the store writes the finalisation with its next group commit
 * (it does not wait for it). */
void ntf_pipeline_finalize(struct ntf_pipeline *p, struct ntf_pending *pd,
			   const char *etag);

/* ntf_pipeline_finalize() of pds[i] with etags[i] for each i < n, taking
 * the store's and the gate's locks once for them all (NULL pds are
 * skipped).  Frees every pds[i]. */
void ntf_pipeline_finalize_batch(struct ntf_pipeline *p,
				 struct ntf_pending *const *pds,
				 const char *const *etags, size_t n);

/* A batch of ntf_pipeline_finalize() calls is over: the store ingests
 * now (see ntf_store_ingest_soon).  Any thread. */
void ntf_pipeline_finalize_end(struct ntf_pipeline *p);

/* Is someone waiting for pd's records: a live reader, or a delivery
 * target other than the embedded log?  The hasher then finalises within a
 * few milliseconds; records only for the log may wait longer and be
 * finalised in bigger batches. */
bool ntf_pipeline_pending_urgent(const struct ntf_pending *pd);

/* Drop pd without finalising (shutdown): its records stay pending in the
 * store and come back through ntf_pipeline_recover() at the next open. */
void ntf_pipeline_pending_free(struct ntf_pending *pd);

/* After a restart: call fn for every record still pending in the store,
 * with the object size it recorded (-1: none) and a handle fn must
 * eventually pass to ntf_pipeline_finalize().  A record that a later
 * pending record of the same object follows is finalised here without an
 * eTag: the content it described is gone.  Returns 0 or -errno (after
 * what it could do). */
typedef void (*ntf_pipeline_recover_fn)(void *arg, const char *bucket,
					const char *key, int64_t size,
					struct ntf_pending *pd);
int ntf_pipeline_recover(struct ntf_pipeline *p, ntf_pipeline_recover_fn fn,
			 void *arg);

/* Record an intent (see ntf_store.h) with the pipeline's durability;
 * *id is what ntf_pipeline_intent_done() takes, 0 when it failed.
 * Returns 0 or -errno (-EAGAIN: dropped under pressure, durability none;
 * the caller goes on as if it had been recorded). */
int ntf_pipeline_intent(struct ntf_pipeline *p, const struct ntf_intent *in,
			uint64_t *id);

/* The events of intent id are told (id 0: nothing to do).  Any thread. */
void ntf_pipeline_intent_done(struct ntf_pipeline *p, uint64_t id);

/* After a restart: fn for every intent a crash left undone (see
 * ntf_store_intents).  Returns 0 or -errno. */
int ntf_pipeline_intents(struct ntf_pipeline *p, ntf_store_intent_fn fn,
			 void *arg);

/* Open a live reader (see ntf_ring.h); while any is open every event is
 * wanted.  fn(arg) is called, outside any lock, when data arrives. */
int ntf_pipeline_reader_open(struct ntf_pipeline *p, ntf_ring_notify_fn fn,
			     void *arg, struct ntf_ring_reader **out);
void ntf_pipeline_reader_close(struct ntf_pipeline *p,
			       struct ntf_ring_reader *rd);

/* Delivery hooks (ntf_deliver.c), so the pipeline need not know it. */
struct ntf_pipeline_delivery {
	/* May one more event be queued for target "ID:TYPE"?  false: the
	 * target is at its queue_limit; the event is not queued for it and
	 * counted as dropped.  FUSE threads; must not block. */
	bool (*admit)(void *arg, const char *target);
	/* The event admitted for target was not stored after all. */
	void (*unadmit)(void *arg, const char *target);
	/* A rule set naming target was installed for bucket ("" = the mount
	 * root): send it s3:TestEvent.  Called with the pipeline's lock held:
	 * must not call back into the pipeline. */
	void (*test_event)(void *arg, const char *target, const char *bucket);
};

/* Install (or, with d NULL, remove) the delivery hooks; d and arg must
 * outlive their use (until replaced or p is closed).  Any thread. */
void ntf_pipeline_set_delivery(struct ntf_pipeline *p,
			       const struct ntf_pipeline_delivery *d,
			       void *arg);

/* Make the targets rules are validated against local:sqlite plus t[0..n).
 * The array is copied, the strings are borrowed and must outlive p (the
 * daemon keeps every configuration it applied until exit).  Returns 0 or
 * -ENOMEM.  Any thread; ntf_pipeline_env() then returns the new list. */
int ntf_pipeline_set_targets(struct ntf_pipeline *p,
			     const struct ntf_target_id *t, size_t n);

/* The store (for the delivery workers); borrowed, valid while p is. */
struct ntf_store *ntf_pipeline_store(struct ntf_pipeline *p);

/* Call fn for every target named by an installed rule set that is not in
 * the current target list (bucket "" = the mount root); returns how many.
 * fn runs with the pipeline's read lock held. */
typedef void (*ntf_pipeline_missing_fn)(void *arg, const char *bucket,
					const char *id, const char *type);
size_t ntf_pipeline_missing(struct ntf_pipeline *p, ntf_pipeline_missing_fn fn,
			    void *arg);

/* Append the pipeline's Prometheus series (events emitted, matched and
 * dropped by event name; store commits and losses) to out.  Returns 0 or
 * -E2BIG/-ENOMEM.  Any thread. */
int ntf_pipeline_render_metrics(struct ntf_pipeline *p, struct cmn_buf *out);

/* Counters for .bucketfs/ files and metrics. */
struct ntf_pipeline_stats {
	uint64_t emitted;   /* events that reached emit() */
	uint64_t matched;   /* ... that matched at least one target */
	uint64_t records;   /* records stored */
	uint64_t failed;    /* store failures */
	uint64_t last_seq;
};
void ntf_pipeline_stats(struct ntf_pipeline *p, struct ntf_pipeline_stats *st);

#endif
