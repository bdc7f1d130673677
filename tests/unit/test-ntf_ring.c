/*
 * test-ntf_ring.c - the live stream ring: cursors from "now", whole lines,
 * many readers, gap lines, reads that never wait, the notification that
 * tells a reader who found nothing, and close waiting for it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ntf_ring.h"

static void pub(struct ntf_ring *r, const char *s)
{
	assert_int_equal(ntf_ring_publish(r, s, strlen(s)), 0);
}

static void expect_read(struct ntf_ring_reader *rd, size_t size,
			const char *want)
{
	char buf[4096];
	assert_true(size <= sizeof(buf));
	ssize_t n = ntf_ring_read(rd, buf, size);
	assert_int_equal(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_single_reader(void **state)
{
	struct ntf_ring *r;
	struct ntf_ring_reader *rd;
	char buf[64];
	assert_int_equal(ntf_ring_new(0, 0, &r), 0);
	pub(r, "{\"before\":1}"); /* nobody reads: not kept */
	assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &rd), 0);
	assert_int_equal(ntf_ring_read(rd, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(ntf_ring_read(rd, buf, 8), -EINVAL);
	pub(r, "{\"a\":1}");
	pub(r, "{\"b\":2}");
	expect_read(rd, 64, "{\"a\":1}\n{\"b\":2}\n");
	/* Whole lines, as many as fit... */
	pub(r, "{\"c\":3}");
	pub(r, "{\"d\":4}");
	expect_read(rd, 32, "{\"c\":3}\n{\"d\":4}\n");
	/* ...and a line longer than the buffer comes in pieces. */
	char big[100];
	memset(big, 'x', sizeof(big));
	assert_int_equal(ntf_ring_publish(r, big, sizeof(big)), 0);
	pub(r, "{\"e\":5}");
	assert_int_equal(ntf_ring_read(rd, buf, 40), 40);
	assert_int_equal(ntf_ring_read(rd, buf, 40), 40);
	assert_int_equal(ntf_ring_read(rd, buf, 40), 29);
	assert_int_equal(buf[20], '\n');
	assert_memory_equal(buf + 21, "{\"e\":5}\n", 8);
	ntf_ring_close_reader(rd);
	ntf_ring_close_reader(NULL);
	ntf_ring_free(r);
	ntf_ring_free(NULL);
}

static void test_many_readers(void **state)
{
	struct ntf_ring *r;
	struct ntf_ring_reader *rd[8];
	assert_int_equal(ntf_ring_new(0, 0, &r), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &rd[i]),
				 0);
		char line[32];
		snprintf(line, sizeof(line), "{\"n\":%d}", i);
		pub(r, line);
	}
	/* Reader i sees lines i..7: each started at "now". */
	for (int i = 0; i < 8; i++) {
		char want[256] = "";
		size_t len = 0;
		for (int j = i; j < 8; j++)
			len += (size_t)snprintf(want + len, sizeof(want) - len,
						"{\"n\":%d}\n", j);
		expect_read(rd[i], 256, want);
	}
	for (int i = 0; i < 8; i++)
		ntf_ring_close_reader(rd[i]);
	ntf_ring_free(r);
}

static void test_gap(void **state)
{
	struct ntf_ring *r;
	struct ntf_ring_reader *slow, *fast;
	assert_int_equal(ntf_ring_new(0, 4, &r), 0);
	assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &slow), 0);
	assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &fast), 0);
	char line[32];
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "{\"n\":%d}", i);
		pub(r, line);
		if (i == 1)
			expect_read(fast, 64, "{\"n\":0}\n{\"n\":1}\n");
	}
	expect_read(
		slow, 256,
		"{\"gap\":6}\n{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n{\"n\":9}\n");
	expect_read(
		fast, 256,
		"{\"gap\":4}\n{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n{\"n\":9}\n");
	ntf_ring_close_reader(slow);
	ntf_ring_close_reader(fast);
	ntf_ring_free(r);
	/* Bounded by bytes as well: 3 lines of 10 bytes in 25. */
	assert_int_equal(ntf_ring_new(25, 100, &r), 0);
	assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &slow), 0);
	pub(r, "{\"a\":111}");
	pub(r, "{\"b\":222}");
	pub(r, "{\"c\":333}");
	expect_read(slow, 64, "{\"gap\":1}\n{\"b\":222}\n{\"c\":333}\n");
	char big[30] = {0};
	assert_int_equal(ntf_ring_publish(r, big, sizeof(big)), -E2BIG);
	ntf_ring_close_reader(slow);
	ntf_ring_free(r);
}

struct slow_notify {
	_Atomic int entered, left;
};

static void slow_notify(void *arg)
{
	struct slow_notify *sn = arg;
	sn->entered = 1;
	usleep(100 * 1000);
	sn->left = 1;
}

static void *publish_one(void *arg)
{
	pub(arg, "{\"late\":1}");
	return NULL;
}

/* A reader is not freed while its notification runs on the publisher. */
static void test_close_waits_for_its_notification(void **state)
{
	struct ntf_ring *r;
	struct ntf_ring_reader *rd;
	struct slow_notify sn = {0};
	pthread_t t;
	assert_int_equal(ntf_ring_new(0, 0, &r), 0);
	assert_int_equal(ntf_ring_open_reader(r, slow_notify, &sn, &rd), 0);
	assert_int_equal(ntf_ring_readable(rd), 0); /* arms */
	assert_int_equal(pthread_create(&t, NULL, publish_one, r), 0);
	while (!sn.entered)
		sched_yield();
	ntf_ring_close_reader(rd);
	assert_true(sn.left);
	pthread_join(t, NULL);
	ntf_ring_free(r);
}

static void count_notify(void *arg)
{
	(*(int *)arg)++;
}

static void test_poll(void **state)
{
	struct ntf_ring *r;
	struct ntf_ring_reader *rd;
	int notified = 0;
	char buf[64];
	assert_int_equal(ntf_ring_new(0, 0, &r), 0);
	assert_int_equal(ntf_ring_open_reader(r, count_notify, &notified, &rd),
			 0);
	pub(r, "{\"a\":1}"); /* not armed: no notification */
	assert_int_equal(notified, 0);
	assert_int_equal(ntf_ring_readable(rd), 1);
	expect_read(rd, 64, "{\"a\":1}\n");
	assert_int_equal(ntf_ring_readable(rd), 0); /* arms */
	pub(r, "{\"b\":2}");
	assert_int_equal(notified, 1);
	pub(r, "{\"c\":3}"); /* once per arming */
	assert_int_equal(notified, 1);
	assert_int_equal(ntf_ring_readable(rd), 1);
	expect_read(rd, 64, "{\"b\":2}\n{\"c\":3}\n");
	assert_int_equal(ntf_ring_read(rd, buf, sizeof(buf)), -EAGAIN);
	pub(r, "{\"d\":4}"); /* an EAGAIN armed it too */
	assert_int_equal(notified, 2);
	assert_int_equal(ntf_ring_readable(rd), 1);
	ntf_ring_close_reader(rd);
	ntf_ring_free(r);
}

/* Publishers and readers in parallel: every reader sees every line in
 * order, or a gap line accounting for the ones it missed. */
struct stress {
	struct ntf_ring *r;
	struct ntf_ring_reader *rd;
	sem_t more; /* posted by the notification */
	long seen;
};

static void stress_notify(void *arg)
{
	sem_post(arg);
}

#define STRESS_LINES 20000

static void *stress_pub(void *arg)
{
	struct ntf_ring *r = arg;
	char line[32];
	for (int i = 0; i < STRESS_LINES; i++) {
		int n = snprintf(line, sizeof(line), "{\"i\":%d}", i);
		assert_int_equal(ntf_ring_publish(r, line, (size_t)n), 0);
	}
	return NULL;
}

static void *stress_read(void *arg)
{
	struct stress *s = arg;
	char buf[512];
	while (s->seen < STRESS_LINES) {
		ssize_t n = ntf_ring_read(s->rd, buf, sizeof(buf) - 1);
		if (n == -EAGAIN) {
			sem_wait(&s->more); /* the read armed the notification */
			continue;
		}
		if (n <= 0)
			break;
		buf[n] = '\0';
		for (char *p = buf; *p; p = strchr(p, '\n') + 1) {
			long v;
			if (sscanf(p, "{\"gap\":%ld}", &v) == 1)
				s->seen += v;
			else if (sscanf(p, "{\"i\":%ld}", &v) == 1)
				assert_int_equal(v, s->seen++);
		}
	}
	return NULL;
}

static void test_stress(void **state)
{
	struct ntf_ring *r;
	struct stress s[3];
	pthread_t rt[3], pt;
	assert_int_equal(ntf_ring_new(4096, 64, &r), 0);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct stress){.r = r};
		sem_init(&s[i].more, 0, 0);
		assert_int_equal(ntf_ring_open_reader(r, stress_notify,
						      &s[i].more, &s[i].rd),
				 0);
		pthread_create(&rt[i], NULL, stress_read, &s[i]);
	}
	pthread_create(&pt, NULL, stress_pub, r);
	pthread_join(pt, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_join(rt[i], NULL);
		assert_int_equal(s[i].seen, STRESS_LINES);
		ntf_ring_close_reader(s[i].rd);
		sem_destroy(&s[i].more);
	}
	ntf_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_reader),
		cmocka_unit_test(test_many_readers),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_close_waits_for_its_notification),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
