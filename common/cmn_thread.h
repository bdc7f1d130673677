/*
 * cmn_thread.h - starting the daemon's helper threads.
 *
 * Every thread the daemon starts for itself (eTag hasher, store ingester,
 * delivery workers, the delivery control thread, select workers) is named,
 * so `top -H`, perf and gdb tell them apart, and starts with every signal
 * blocked: SIGINT, SIGTERM and SIGHUP must reach the main thread or a FUSE
 * worker, whose handlers end or reload the session.  A signal handled on a
 * helper thread would set libfuse's exit flag without waking the loop.
 */
#ifndef CMN_THREAD_H
#define CMN_THREAD_H

#include <pthread.h>

/* pthread_create(out, NULL, fn, arg) with all signals blocked in the new
 * thread and its name set to name (at most 15 characters are kept).  The
 * caller's signal mask is unchanged.  Returns 0 or a negative errno. */
int cmn_thread_start(pthread_t *out, const char *name, void *(*fn)(void *),
		     void *arg);

#endif
