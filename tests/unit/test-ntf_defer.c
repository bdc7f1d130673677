/*
 * test-ntf_defer.c - the durability=none emit queue: items run in push
 * order per pusher, all of them, drain waits for them, and a full queue
 * refuses a push after the bounded wait instead of blocking.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "ntf_defer.h"
#include "ntf_limits.h"

struct item {
	struct ntf_defer_item link;
	int who, n;
};

enum { PUSHERS = 4, EACH = 50000 };

struct seen {
	pthread_mutex_t mu; /* gate: the worker holds it while gated */
	int last[PUSHERS];
	long ran;
	bool out_of_order;
};

static void run(void *arg, struct ntf_defer_item *it)
{
	struct seen *s = arg;
	struct item *x = (struct item *)it;
	pthread_mutex_lock(&s->mu);
	if (x->n != s->last[x->who] + 1)
		s->out_of_order = true;
	s->last[x->who] = x->n;
	s->ran++;
	pthread_mutex_unlock(&s->mu);
	free(x);
}

struct pusher {
	struct ntf_defer *d;
	int who;
};

static void *push_many(void *arg)
{
	struct pusher *p = arg;
	for (int i = 1; i <= EACH; i++) {
		struct item *x = calloc(1, sizeof(*x));
		assert_non_null(x);
		x->who = p->who;
		x->n = i;
		assert_int_equal(ntf_defer_push(p->d, &x->link), 0);
	}
	return NULL;
}

static void test_order_and_drain(void **state)
{
	(void)state;
	struct seen s = {.ran = 0};
	pthread_mutex_init(&s.mu, NULL);
	struct ntf_defer *d;
	assert_int_equal(ntf_defer_new("test-defer", run, &s, &d), 0);
	pthread_t t[PUSHERS];
	struct pusher p[PUSHERS];
	for (int i = 0; i < PUSHERS; i++) {
		p[i] = (struct pusher){d, i};
		pthread_create(&t[i], NULL, push_many, &p[i]);
	}
	for (int i = 0; i < PUSHERS; i++)
		pthread_join(t[i], NULL);
	ntf_defer_drain(d);
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.ran, (long)PUSHERS * EACH); /* all, already */
	assert_false(s.out_of_order);
	pthread_mutex_unlock(&s.mu);
	/* one more after a quiet spell: the idle worker is woken */
	struct item *x = calloc(1, sizeof(*x));
	x->who = 0;
	x->n = EACH + 1;
	assert_int_equal(ntf_defer_push(d, &x->link), 0);
	ntf_defer_drain(d);
	assert_int_equal(s.ran, (long)PUSHERS * EACH + 1);
	ntf_defer_free(d);
	pthread_mutex_destroy(&s.mu);
}

/* The worker is stuck (its callback waits on the gate): the queue fills,
 * and the push after that fails once the bounded wait is over.  Freeing
 * runs everything that was queued. */
static void test_full_queue_refuses(void **state)
{
	(void)state;
	struct seen s = {.ran = 0};
	pthread_mutex_init(&s.mu, NULL);
	struct ntf_defer *d;
	assert_int_equal(ntf_defer_new("test-defer", run, &s, &d), 0);
	pthread_mutex_lock(&s.mu); /* gate closed */
	struct item *first = calloc(1, sizeof(*first));
	first->n = 1;
	assert_int_equal(ntf_defer_push(d, &first->link), 0);
	/* let the worker take it and block on the gate */
	struct timespec ts = {0, 50 * 1000000L};
	nanosleep(&ts, NULL);
	for (int i = 0; i < NTF_LIMIT_DEFER_ITEMS; i++) {
		struct item *x = calloc(1, sizeof(*x));
		x->n = i + 2;
		assert_int_equal(ntf_defer_push(d, &x->link), 0);
	}
	struct item *extra = calloc(1, sizeof(*extra));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ntf_defer_push(d, &extra->link), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(waited >= NTF_LIMIT_STORE_NONE_WAIT_MS / 1000.0 * 0.9);
	free(extra); /* refused: still ours */
	pthread_mutex_unlock(&s.mu); /* open the gate */
	ntf_defer_free(d);
	assert_int_equal(s.ran, (long)NTF_LIMIT_DEFER_ITEMS + 1);
	assert_false(s.out_of_order);
	pthread_mutex_destroy(&s.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_drain),
		cmocka_unit_test(test_full_queue_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
