/*
 * ntf_defer.h - a FIFO run by one worker thread: what durability=none
 * takes off the FUSE request threads.  The worker runs at background
 * priority (cmn_thread_background).
 *
 * With durability=none an event needs nothing from the store before the
 * operation returns, so the request thread only copies it and queues it;
 * matching, formatting and appending happen here, in queue order (which
 * keeps the sequencer in the order of the operations).  A push is a lock,
 * a link and, only when the worker sleeps untimed, a signal: the worker
 * takes everything queued at once and afterwards lingers
 * NTF_LIMIT_DEFER_LINGER_MS for more, so a burst costs no wake-up per
 * event.  The queue holds at most NTF_LIMIT_DEFER_ITEMS; beyond, a push
 * waits up to NTF_LIMIT_STORE_NONE_WAIT_MS for room and then fails with
 * -EAGAIN (none's documented contract: never stall the file system for
 * long).
 */
#ifndef NTF_DEFER_H
#define NTF_DEFER_H

/* The caller's item embeds this as its first member. */
struct ntf_defer_item {
	struct ntf_defer_item *next;
};

struct ntf_defer;

/* Runs on the worker, once per item, in push order; takes ownership of
 * item. */
typedef void (*ntf_defer_fn)(void *arg, struct ntf_defer_item *item);

/* Start the worker thread (named name).  Returns 0 or -errno. */
int ntf_defer_new(const char *name, ntf_defer_fn fn, void *arg,
		  struct ntf_defer **out);

/* Queue item (ownership passes on success).  Returns 0, or -EAGAIN when
 * the queue stayed full (the item is then still the caller's). */
int ntf_defer_push(struct ntf_defer *d, struct ntf_defer_item *item);

/* Return once every item pushed before the call has run. */
void ntf_defer_drain(struct ntf_defer *d);

/* Run what is queued, stop the worker and free d.  NULL is a no-op. */
void ntf_defer_free(struct ntf_defer *d);

#endif
