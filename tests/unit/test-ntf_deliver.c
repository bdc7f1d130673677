/*
 * test-ntf_deliver.c - the delivery engine against a real store and an
 * in-process target type whose answers the test scripts: backoff values,
 * order, acknowledgement, retry with backoff, dead letters for permanent
 * failures and exhausted attempts (the queue behind flows), unreachable
 * targets retried without counting attempts, queue_limit drops, reload
 * of a changed target, the s3:TestEvent and the rendered files.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmn_buf.h"
#include "ntf_config.h"
#include "ntf_deliver.h"
#include "ntf_store.h"

/* What the scripted target answers for the event with a given id. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint64_t got[4096];
static size_t n_got;
static int answer_for[4096]; /* 0 ok, -errno, or 1: unreachable */
static unsigned tries_for[4096];
static size_t n_tests;

static int fake_open(void *priv, const struct ntf_target_val *v, char *err,
		     size_t errlen)
{
	return 0;
}

static void fake_close(void *priv)
{
}

static int fake_send(void *priv, struct ntf_target_event *ev, size_t n,
		     char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].raw) {
			n_tests++;
			ev[i].status = 0;
			continue;
		}
		uint64_t id = ev[i].id;
		int a = id < 4096 ? answer_for[id] : 0;
		if (id < 4096)
			tries_for[id]++;
		if (a == 1) {
			snprintf(err, errlen, "down");
			rc = -ECONNREFUSED;
			break; /* all UNSENT */
		}
		ev[i].status = a;
		if (a < 0) {
			snprintf(err, errlen, "refused");
			rc = a;
			break;
		}
		got[n_got++] = id;
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return rc;
}

static const struct ntf_target_opt fake_opts[] = {
	{NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

static const struct ntf_target_type fake = {
	.name = "fake",
	.caps = NTF_TARGET_CAP_BATCH,
	.priv_size = 8,
	.opts = fake_opts,
	.open = fake_open,
	.close = fake_close,
	.send = fake_send,
};

static const struct ntf_target_type *const types[] = {&fake, NULL};

struct env {
	char dir[64];
	struct ntf_store *s;
	struct ntf_deliver *d;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/test-ntf_deliver.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(ntf_store_open(e->dir, NULL, &e->s, NULL), 0);
	assert_int_equal(ntf_deliver_new(e->s, "r1", &e->d), 0);
	memset(answer_for, 0, sizeof(answer_for));
	memset(tries_for, 0, sizeof(tries_for));
	n_got = n_tests = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	ntf_deliver_free(e->d);
	ntf_store_close(e->s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void apply(struct env *e, const char *text)
{
	struct ntf_config *c;
	struct ntf_config_error ce;
	assert_int_equal(
		ntf_config_parse(text, strlen(text), "t", NULL, types, &c, &ce),
		0);
	char err[256];
	assert_int_equal(ntf_deliver_apply(e->d, c, err, sizeof(err)), 0);
}

/* Append n events for target, through admit like the pipeline does;
 * returns how many were admitted. */
static size_t append(struct env *e, const char *target, size_t n)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ntf_deliver_admit(e->d, target))
			continue;
		const char *t[] = {target};
		char rec[64];
		snprintf(rec, sizeof(rec), "{\"n\":%zu}", i);
		struct ntf_store_entry en = {
			.time_ms = 1,
			.event_name = "s3:ObjectCreated:Put",
			.bucket = "b",
			.key = "k",
			.record = rec,
			.record_len = strlen(rec),
			.targets = t,
			.n_targets = 1,
		};
		assert_int_equal(
			ntf_store_append(e->s, &en, 1, NTF_DURABILITY_COMMIT),
			0);
		ok++;
	}
	return ok;
}

static void wait_got(size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&mu);
	while (n_got < n)
		if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
			break;
	size_t have = n_got;
	pthread_mutex_unlock(&mu);
	assert_int_equal(have, n);
}

/* Wait until the store says target's queue holds n. */
static void wait_queue(struct env *e, const char *target, int64_t n)
{
	for (int i = 0; i < 4000; i++) {
		if (ntf_store_queue_count(e->s, target) == n)
			return;
		usleep(5000);
	}
	fail_msg("queue of %s never reached %lld", target, (long long)n);
}

static void test_backoff(void **state)
{
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 1, 0), 50);
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 1, UINT32_MAX), 99);
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 2, 0), 100);
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 4, 0), 400);
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 30, 0), 5000);
	assert_int_equal(ntf_deliver_backoff_ms(100, 10000, 1000, UINT32_MAX),
			 9999);
	/* Every value of a run lies in [d/2, d). */
	for (unsigned f = 1; f < 20; f++) {
		uint64_t d = 100u << (f - 1);
		if (d > 10000)
			d = 10000;
		uint64_t v = ntf_deliver_backoff_ms(100, 10000, f, 12345678u);
		assert_true(v >= d / 2 && v < d);
	}
}

static void test_order_and_ack(void **state)
{
	struct env *e = *state;
	apply(e, "[fake \"a\"]\nbatch_size = 7\n");
	assert_int_equal(append(e, "a:fake", 100), 100);
	wait_got(100);
	for (size_t i = 1; i < 100; i++)
		assert_true(got[i] > got[i - 1]);
	wait_queue(e, "a:fake", 0);
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_deliver_render_targets(e->d, &b), 0);
	assert_non_null(
		strstr(b.data, "\"arn\":\"arn:bucketfs:sqs:r1:a:fake\""));
	assert_non_null(strstr(b.data, "\"delivered\":100"));
	cmn_buf_reset(&b);
	assert_int_equal(ntf_deliver_render_metrics(e->d, &b), 0);
	assert_non_null(strstr(
		b.data,
		"bucketfs_target_delivered_total{target=\"a:fake\"} 100"));
	assert_non_null(strstr(b.data, "le=\"+Inf\"} 100"));
	cmn_buf_free(&b);
}

static void test_permanent_and_attempts(void **state)
{
	struct env *e = *state;
	/* seq 3 is poison (permanent), seq 5 fails twice then succeeds is
	 * not allowed: max_attempts 2 makes it a dead letter. */
	answer_for[3] = -EINVAL;
	answer_for[5] = -EAGAIN;
	apply(e, "[fake \"a\"]\nmax_attempts = 2\nretry_min = 10ms\n"
		 "retry_max = 20ms\n");
	append(e, "a:fake", 8);
	wait_got(6);
	wait_queue(e, "a:fake", 0);
	assert_int_equal(tries_for[3], 1); /* one try only */
	assert_int_equal(tries_for[5], 2);
	assert_int_equal(ntf_store_deadletter_count(e->s, "a:fake"), 2);
	/* After the dead letters, the rest flowed. */
	assert_int_equal(got[n_got - 1], 8);
}

static void test_unreachable_keeps_attempts(void **state)
{
	struct env *e = *state;
	for (int i = 1; i <= 4; i++)
		answer_for[i] = 1;
	apply(e, "[fake \"a\"]\nmax_attempts = 1\nretry_min = 10ms\n"
		 "retry_max = 20ms\n");
	append(e, "a:fake", 4);
	/* Let it fail a few rounds, then come up. */
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		unsigned t = tries_for[1];
		pthread_mutex_unlock(&mu);
		if (t >= 3)
			break;
		usleep(5000);
	}
	pthread_mutex_lock(&mu);
	for (int i = 1; i <= 4; i++)
		answer_for[i] = 0;
	pthread_mutex_unlock(&mu);
	wait_got(4);
	assert_int_equal(ntf_store_deadletter_count(e->s, "a:fake"), 0);
}

static void test_queue_limit(void **state)
{
	struct env *e = *state;
	for (int i = 1; i < 100; i++)
		answer_for[i] = 1; /* down: nothing leaves the queue */
	apply(e, "[fake \"a\"]\nqueue_limit = 5\nretry_min = 1h\n"
		 "retry_max = 1h\n");
	assert_int_equal(append(e, "a:fake", 9), 5);
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_deliver_render_targets(e->d, &b), 0);
	assert_non_null(strstr(b.data, "\"dropped\":4"));
	assert_non_null(strstr(b.data, "\"queued\":5"));
	cmn_buf_free(&b);
}

static void test_missing_target_kept(void **state)
{
	struct env *e = *state;
	apply(e, "[fake \"a\"]\n");
	assert_int_equal(append(e, "gone:fake", 3), 3);
	wait_queue(e, "gone:fake", 3);
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_deliver_render_targets(e->d, &b), 0);
	assert_non_null(strstr(b.data, "\"state\":\"missing\""));
	cmn_buf_free(&b);
	/* It comes back: the backlog is delivered. */
	apply(e, "[fake \"a\"]\n[fake \"gone\"]\n");
	wait_got(3);
	wait_queue(e, "gone:fake", 0);
}

static void test_reload_change(void **state)
{
	struct env *e = *state;
	apply(e, "[fake \"a\"]\n");
	append(e, "a:fake", 10);
	wait_got(10);
	apply(e, "[fake \"a\"]\nbatch_size = 3\n");
	append(e, "a:fake", 10);
	wait_got(20);
	apply(e, "");
	struct cmn_buf b;
	cmn_buf_init(&b, 1 << 20);
	assert_int_equal(ntf_deliver_render_targets(e->d, &b), 0);
	assert_non_null(strstr(b.data, "\"state\":\"removed\""));
	assert_non_null(strstr(b.data, "\"delivered\":20"));
	cmn_buf_free(&b);
}

static void test_test_event(void **state)
{
	struct env *e = *state;
	apply(e, "[fake \"a\"]\n");
	ntf_deliver_test_event(e->d, "a:fake", "bucket");
	ntf_deliver_test_event(e->d, "nobody:fake", "bucket");
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&mu);
		size_t t = n_tests;
		pthread_mutex_unlock(&mu);
		if (t == 1)
			return;
		usleep(5000);
	}
	fail_msg("no test event");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_order_and_ack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_permanent_and_attempts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_keeps_attempts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_target_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_test_event, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
