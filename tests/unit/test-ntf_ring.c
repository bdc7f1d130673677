/*
 * test-ntf_ring.c - the live stream ring: cursors from "now", whole lines,
 * many readers, gap lines, blocking reads woken by publish, interrupt and
 * close, and poll readiness with its notification.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
	ssize_t n = ntf_ring_read(rd, buf, size, true);
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
	assert_int_equal(ntf_ring_read(rd, buf, sizeof(buf), true), -EAGAIN);
	assert_int_equal(ntf_ring_read(rd, buf, 8, true), -EINVAL);
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
	assert_int_equal(ntf_ring_read(rd, buf, 40, true), 40);
	assert_int_equal(ntf_ring_read(rd, buf, 40, true), 40);
	assert_int_equal(ntf_ring_read(rd, buf, 40, true), 29);
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

struct blocked {
	struct ntf_ring_reader *rd;
	_Atomic pid_t tid;
	ssize_t ret;
	char buf[64];
};

static void *blocked_read(void *arg)
{
	struct blocked *b = arg;
	b->tid = gettid();
	b->ret = ntf_ring_read(b->rd, b->buf, sizeof(b->buf) - 1, false);
	if (b->ret > 0)
		b->buf[b->ret] = '\0';
	return NULL;
}

/* Wait until the reading thread sleeps (state S in /proc: blocked on the
 * condition variable), so the wake-up under test is the one that ends it. */
static void let_block(struct blocked *b)
{
	for (;;) {
		char path[64], st[256];
		pid_t tid = b->tid;
		if (tid) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/stat",
				 (int)tid);
			FILE *f = fopen(path, "r");
			assert_non_null(f);
			size_t n = fread(st, 1, sizeof(st) - 1, f);
			fclose(f);
			st[n] = '\0';
			char *p = strrchr(st, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		sched_yield();
	}
}

static void test_blocking_read_woken(void **state)
{
	struct ntf_ring *r;
	struct blocked b = {0};
	pthread_t t;
	assert_int_equal(ntf_ring_new(0, 0, &r), 0);
	assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &b.rd), 0);
	b.tid = 0;
	assert_int_equal(pthread_create(&t, NULL, blocked_read, &b), 0);
	let_block(&b);
	pub(r, "{\"wake\":1}");
	pthread_join(t, NULL);
	assert_int_equal(b.ret, 11);
	assert_string_equal(b.buf, "{\"wake\":1}\n");

	/* Interrupt: the blocked read returns -EINTR, the reader lives on. */
	b.tid = 0;
	assert_int_equal(pthread_create(&t, NULL, blocked_read, &b), 0);
	let_block(&b);
	ntf_ring_interrupt(b.rd);
	pthread_join(t, NULL);
	assert_int_equal(b.ret, -EINTR);
	pub(r, "{\"x\":1}");
	expect_read(b.rd, 64, "{\"x\":1}\n");

	/* Close: the blocked read returns 0 (EOF) and close waits for it. */
	b.tid = 0;
	assert_int_equal(pthread_create(&t, NULL, blocked_read, &b), 0);
	let_block(&b);
	ntf_ring_close_reader(b.rd);
	pthread_join(t, NULL);
	assert_int_equal(b.ret, 0);
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
	assert_int_equal(ntf_ring_read(rd, buf, sizeof(buf), true), -EAGAIN);
	pub(r, "{\"d\":4}"); /* a nonblocking EAGAIN armed it too */
	assert_int_equal(notified, 2);
	ntf_ring_interrupt(rd);
	assert_int_equal(ntf_ring_readable(rd), 1);
	ntf_ring_close_reader(rd);
	ntf_ring_free(r);
}

/* Publishers and readers in parallel: every reader sees every line in
 * order, or a gap line accounting for the ones it missed. */
struct stress {
	struct ntf_ring *r;
	struct ntf_ring_reader *rd;
	long seen;
};

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
		ssize_t n = ntf_ring_read(s->rd, buf, sizeof(buf) - 1, false);
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
		s[i] = (struct stress){r, NULL, 0};
		assert_int_equal(ntf_ring_open_reader(r, NULL, NULL, &s[i].rd),
				 0);
		pthread_create(&rt[i], NULL, stress_read, &s[i]);
	}
	pthread_create(&pt, NULL, stress_pub, r);
	pthread_join(pt, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_join(rt[i], NULL);
		assert_int_equal(s[i].seen, STRESS_LINES);
		ntf_ring_close_reader(s[i].rd);
	}
	ntf_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_reader),
		cmocka_unit_test(test_many_readers),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_blocking_read_woken),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
