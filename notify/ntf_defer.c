/*
 * ntf_defer.c - a FIFO run by one worker thread; see ntf_defer.h.
 */
#include "ntf_defer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cmn_thread.h"
#include "cmn_time.h"
#include "ntf_limits.h"

struct ntf_defer {
	ntf_defer_fn fn;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* the worker: items, or stopping */
	pthread_cond_t room_cv;  /* pushers waiting for room */
	pthread_cond_t done_cv;  /* drains waiting for a round to end */
	struct ntf_defer_item *head, *tail;
	size_t n;                /* items queued */
	bool idle;               /* asleep untimed: a push must signal */
	bool running;            /* a taken round is being run */
	bool stop;
};

/* Called with mu held: wait for items (after a round, lingering first).
 * Returns false when stopping with nothing left. */
static bool wait_work(struct ntf_defer *d, bool linger)
{
	if (linger && !d->head && !d->stop) {
		struct timespec dl =
			cmn_time_deadline_ms(NTF_LIMIT_DEFER_LINGER_MS);
		pthread_cond_timedwait(&d->work_cv, &d->mu, &dl);
	}
	while (!d->head && !d->stop) {
		d->idle = true;
		pthread_cond_wait(&d->work_cv, &d->mu);
	}
	d->idle = false;
	return d->head != NULL;
}

static void *defer_main(void *arg)
{
	struct ntf_defer *d = arg;
	bool linger = false;
	cmn_thread_background();
	pthread_mutex_lock(&d->mu);
	while (wait_work(d, linger)) {
		struct ntf_defer_item *it = d->head;
		d->head = d->tail = NULL;
		d->n = 0;
		d->running = true;
		pthread_cond_broadcast(&d->room_cv);
		pthread_mutex_unlock(&d->mu);
		while (it) {
			struct ntf_defer_item *next = it->next;
			d->fn(d->arg, it);
			it = next;
		}
		pthread_mutex_lock(&d->mu);
		d->running = false;
		pthread_cond_broadcast(&d->done_cv);
		linger = true;
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int ntf_defer_new(const char *name, ntf_defer_fn fn, void *arg,
		  struct ntf_defer **out)
{
	struct ntf_defer *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fn = fn;
	d->arg = arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->work_cv, &ca);
	pthread_cond_init(&d->room_cv, &ca);
	pthread_cond_init(&d->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = cmn_thread_start(&d->thread, name, defer_main, d);
	if (rc != 0) {
		pthread_cond_destroy(&d->work_cv);
		pthread_cond_destroy(&d->room_cv);
		pthread_cond_destroy(&d->done_cv);
		pthread_mutex_destroy(&d->mu);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int ntf_defer_push(struct ntf_defer *d, struct ntf_defer_item *item)
{
	item->next = NULL;
	pthread_mutex_lock(&d->mu);
	if (d->n >= NTF_LIMIT_DEFER_ITEMS) {
		struct timespec dl =
			cmn_time_deadline_ms(NTF_LIMIT_STORE_NONE_WAIT_MS);
		while (d->n >= NTF_LIMIT_DEFER_ITEMS && !d->stop)
			if (pthread_cond_timedwait(&d->room_cv, &d->mu, &dl) ==
			    ETIMEDOUT)
				break;
		if (d->n >= NTF_LIMIT_DEFER_ITEMS || d->stop) {
			pthread_mutex_unlock(&d->mu);
			return -EAGAIN;
		}
	}
	if (d->tail)
		d->tail->next = item;
	else
		d->head = item;
	d->tail = item;
	d->n++;
	if (d->idle) {
		d->idle = false; /* one signal is enough */
		pthread_cond_signal(&d->work_cv);
	}
	pthread_mutex_unlock(&d->mu);
	return 0;
}

void ntf_defer_drain(struct ntf_defer *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	while (d->head || d->running) {
		pthread_cond_signal(&d->work_cv); /* cut a lingering short */
		pthread_cond_wait(&d->done_cv, &d->mu);
	}
	pthread_mutex_unlock(&d->mu);
}

void ntf_defer_free(struct ntf_defer *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->work_cv);
	pthread_cond_broadcast(&d->room_cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL); /* it runs what is queued first */
	pthread_cond_destroy(&d->work_cv);
	pthread_cond_destroy(&d->room_cv);
	pthread_cond_destroy(&d->done_cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
