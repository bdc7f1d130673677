/*
 * test-fs_recv.c - how workers wait for requests, on a pipe instead of
 * /dev/fuse (both are read with read(2) and polled with epoll): every
 * message reaches exactly one reader, whether it was polling or asleep;
 * a sleeper wakes for a late message; the end of the stream and errors
 * come back as read(2) gives them; EAGAIN never escapes; spin=0 and a
 * process bound to one CPU read with blocking reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs_recv.h"

#define MSG 8 /* pipe writes of up to PIPE_BUF bytes are atomic */

static bool two_cpus(void)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 &&
	       CPU_COUNT(&set) >= 2;
}

static void sleep_ms(long ms)
{
	struct timespec t = {.tv_sec = ms / 1000,
			     .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

static void put(int fd, uint64_t v)
{
	assert_int_equal(write(fd, &v, MSG), MSG);
}

/* r receiving from a new pipe p (p[0] read, p[1] write). */
static void recv_on_pipe(struct fs_recv *r, int p[2], unsigned spin_us)
{
	assert_int_equal(pipe(p), 0);
	fs_recv_init(r, p[0], spin_us);
}

/* recv_on_pipe polling 50 us; skips the test where polling is off. */
static void polling_pipe(struct fs_recv *r, int p[2])
{
	if (!two_cpus())
		skip();
	recv_on_pipe(r, p, 50);
}

/* Undo recv_on_pipe; p[1] is -1 when the test closed it. */
static void recv_done(struct fs_recv *r, int p[2])
{
	fs_recv_fini(r);
	close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
}

static void test_polls_and_reads(void **state)
{
	(void)state;
	int p[2];
	struct fs_recv r;
	polling_pipe(&r, p);
	assert_int_equal(r.spin_ns, 50000);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);

	uint64_t v = 0;
	put(p[1], 42);
	assert_int_equal(fs_recv_read(&r, p[0], &v, MSG), MSG);
	assert_int_equal(v, 42);

	/* The end of the stream comes back as read(2) gives it. */
	close(p[1]);
	p[1] = -1;
	assert_int_equal(fs_recv_read(&r, p[0], &v, MSG), 0); /* EOF */
	recv_done(&r, p);
	assert_int_equal(r.epfd, -1);
}

struct reader {
	struct fs_recv *r;
	int fd;
	uint64_t sum;
	long count;
	int last_errno;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	for (;;) {
		uint64_t v;
		ssize_t n = fs_recv_read(rd->r, rd->fd, &v, MSG);
		if (n == MSG) {
			rd->sum += v;
			rd->count++;
			continue;
		}
		rd->last_errno = n < 0 ? errno : 0;
		if (n < 0 && errno == EINTR)
			continue;
		return NULL; /* EOF or an error */
	}
}

/* Four readers, messages written one at a time with pauses longer and
 * shorter than the polling: each message is read once, by one reader. */
static void check_readers(unsigned spin_us)
{
	int p[2];
	struct fs_recv r;
	recv_on_pipe(&r, p, spin_us);
	struct reader rd[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){.r = &r, .fd = p[0]};
		assert_int_equal(
			pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
	}
	uint64_t want = 0;
	for (uint64_t i = 1; i <= 2000; i++) {
		put(p[1], i);
		want += i;
		if (i % 100 == 0)
			sleep_ms(2); /* everybody asleep */
		else if (i % 7 == 0)
			usleep(20); /* the poller may still be polling */
	}
	close(p[1]);
	p[1] = -1;
	uint64_t sum = 0;
	long count = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(rd[i].last_errno, 0);
		sum += rd[i].sum;
		count += rd[i].count;
	}
	assert_int_equal(count, 2000);
	assert_int_equal(sum, want);
	assert_false(atomic_load(&r.spinning));
	recv_done(&r, p);
}

static void test_every_message_read_once(void **state)
{
	(void)state;
	check_readers(50);
}

static void test_every_message_read_once_spin_0(void **state)
{
	(void)state;
	check_readers(0);
}

/* A reader asleep in epoll is woken by a message written much later. */
static void test_sleeper_wakes(void **state)
{
	(void)state;
	int p[2];
	struct fs_recv r;
	polling_pipe(&r, p);
	struct reader rd = {.r = &r, .fd = p[0]};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	sleep_ms(100);
	put(p[1], 7);
	close(p[1]);
	p[1] = -1;
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rd.count, 1);
	assert_int_equal(rd.sum, 7);
	recv_done(&r, p);
}

/* An error of read(2) comes back as is (EBADF here), never EAGAIN. */
static void test_errors_pass_through(void **state)
{
	(void)state;
	int p[2];
	struct fs_recv r;
	polling_pipe(&r, p);
	uint64_t v;
	assert_int_equal(fs_recv_read(&r, p[1], &v, MSG), -1);
	assert_int_equal(errno, EBADF); /* the write end cannot be read */
	recv_done(&r, p);
}

static void test_spin_0_blocks(void **state)
{
	(void)state;
	int p[2];
	struct fs_recv r;
	recv_on_pipe(&r, p, 0);
	assert_int_equal(r.spin_ns, 0);
	assert_int_equal(r.epfd, -1);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	recv_done(&r, p);
}

/* Bound to one CPU, polling would only keep the caller from running. */
static void test_one_cpu_blocks(void **state)
{
	(void)state;
	cpu_set_t saved, one;
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	int p[2];
	struct fs_recv r;
	recv_on_pipe(&r, p, 50);
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
	assert_int_equal(r.spin_ns, 0);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	recv_done(&r, p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_polls_and_reads),
		cmocka_unit_test(test_every_message_read_once),
		cmocka_unit_test(test_every_message_read_once_spin_0),
		cmocka_unit_test(test_sleeper_wakes),
		cmocka_unit_test(test_errors_pass_through),
		cmocka_unit_test(test_spin_0_blocks),
		cmocka_unit_test(test_one_cpu_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
