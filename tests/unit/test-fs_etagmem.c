/*
 * test-fs_etagmem.c - the remembered eTags: hits only for the same file at
 * the same size, mtime and ctime, unchanged through the mount since it was
 * hashed, and never a torn entry while the one writer rewrites a slot
 * under a reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs_etagmem.h"

static struct stat file(dev_t dev, ino_t ino, off_t size, time_t mtime)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_dev = dev;
	st.st_ino = ino;
	st.st_size = size;
	st.st_mtim.tv_sec = mtime;
	st.st_mtim.tv_nsec = 123;
	return st;
}

static void hex_of(char c, char out[33])
{
	memset(out, c, 32);
	out[32] = '\0';
}

/* An empty table (the test fails without one). */
static struct fs_etagmem *table(void)
{
	struct fs_etagmem *m = fs_etagmem_new();
	assert_non_null(m);
	return m;
}

/* m remembers want for st. */
static void assert_hit(struct fs_etagmem *m, const struct stat *st,
		       const char *want)
{
	char out[33];
	assert_true(fs_etagmem_get(m, st, 0, out));
	assert_string_equal(out, want);
}

static void test_hit_only_for_the_same_version(void **state)
{
	(void)state;
	struct fs_etagmem *m = table();
	char a[33], out[33];
	hex_of('a', a);
	struct stat st = file(1, 42, 4096, 1000);
	assert_false(fs_etagmem_get(m, &st, 0, out));
	fs_etagmem_put(m, &st, 1, a);
	assert_hit(m, &st, a);

	struct stat other = st;
	other.st_size = 4097;
	assert_false(fs_etagmem_get(m, &other, 0, out));
	other = st;
	other.st_mtim.tv_nsec = 124;
	assert_false(fs_etagmem_get(m, &other, 0, out));
	/* the mtime set back after a rewrite (cp -p): the ctime moved */
	other = st;
	other.st_ctim.tv_sec = 2000;
	assert_false(fs_etagmem_get(m, &other, 0, out));
	other = st;
	other.st_dev = 2;
	assert_false(fs_etagmem_get(m, &other, 0, out));
	other = st;
	other.st_ino = 43;
	assert_false(fs_etagmem_get(m, &other, 0, out));
	assert_false(fs_etagmem_get(NULL, &st, 0, out));
	fs_etagmem_free(m);
}

/* An eTag holds for content read at a clock after the file's last change
 * (fs_inode.h, "Changes"): hashed at 5, it answers while the last change
 * is before 5, not once one is at 5 or after, nor while a writer is open
 * (UINT64_MAX), whatever the stat says. */
static void test_a_change_since_the_hashing_misses(void **state)
{
	(void)state;
	struct fs_etagmem *m = table();
	char a[33], out[33];
	hex_of('a', a);
	struct stat st = file(1, 42, 4, 1000);
	fs_etagmem_put(m, &st, 5, a);
	assert_true(fs_etagmem_get(m, &st, 4, out));
	assert_string_equal(out, a);
	assert_false(fs_etagmem_get(m, &st, 5, out));
	assert_false(fs_etagmem_get(m, &st, 6, out));
	assert_false(fs_etagmem_get(m, &st, UINT64_MAX, out));
	fs_etagmem_free(m);
}

/* What is not 32 lowercase hex digits is not remembered (a slot keeps
 * the MD5's 16 bytes), and does not push out what was. */
static void test_only_hex_is_remembered(void **state)
{
	(void)state;
	struct fs_etagmem *m = table();
	char a[33];
	hex_of('a', a);
	struct stat st = file(1, 42, 4096, 1000);
	fs_etagmem_put(m, &st, 1, a);
	const char *bad[] = {"0123456789abcdef0123456789abcdeg",
			     "0123456789ABCDEF0123456789ABCDEF",
			     "0123456789abcdef0123456789abcde"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char h[33] = {0};
		memcpy(h, bad[i], strlen(bad[i]));
		fs_etagmem_put(m, &st, 1, h);
		assert_hit(m, &st, a);
	}
	char mixed[33] = "0123456789abcdeffedcba9876543210";
	fs_etagmem_put(m, &st, 1, mixed);
	assert_hit(m, &st, mixed);
	fs_etagmem_free(m);
}

/* A slot keeps 32 bits of st_dev (all Linux gives): a wider one is never
 * remembered, and never taken for the device it shares 32 bits with. */
static void test_wide_device_is_not_remembered(void **state)
{
	(void)state;
	struct fs_etagmem *m = table();
	char a[33], b[33], out[33];
	hex_of('a', a);
	hex_of('b', b);
	struct stat wide = file((dev_t)1 << 32 | 7, 42, 4096, 1000);
	fs_etagmem_put(m, &wide, 1, a);
	assert_false(fs_etagmem_get(m, &wide, 0, out));
	struct stat narrow = file(7, 42, 4096, 1000);
	fs_etagmem_put(m, &narrow, 1, b);
	assert_hit(m, &narrow, b);
	assert_false(fs_etagmem_get(m, &wide, 0, out));
	fs_etagmem_free(m);
}

/* Many files, more than the slots: a lookup misses (pushed out) or gives
 * that file's own eTag, never another's. */
static void test_collisions_never_answer_for_another(void **state)
{
	(void)state;
	struct fs_etagmem *m = table();
	enum { N = 200000 };
	char hex[33], out[33];
	for (ino_t i = 1; i <= N; i++) {
		struct stat st = file(7, i, (off_t)i, (time_t)i);
		snprintf(hex, sizeof(hex), "%032llx", (unsigned long long)i);
		fs_etagmem_put(m, &st, 1, hex);
	}
	size_t hits = 0;
	for (ino_t i = 1; i <= N; i++) {
		struct stat st = file(7, i, (off_t)i, (time_t)i);
		if (!fs_etagmem_get(m, &st, 0, out))
			continue;
		snprintf(hex, sizeof(hex), "%032llx", (unsigned long long)i);
		assert_string_equal(out, hex);
		hits++;
	}
	/* the last ones put are all still there, the table is not empty */
	assert_true(hits > 10000 && hits < N);
	fs_etagmem_free(m);
}

/* One writer alternates two versions of one file (same slot: the slot
 * depends on the inode only) while a reader asks for both: each answer
 * must be that version's eTag, never a mix of the two writes. */
struct race {
	struct fs_etagmem *m;
	atomic_bool stop;
	struct stat v1, v2;
	char h1[33], h2[33];
};

static void *writer(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->stop)) {
		fs_etagmem_put(r->m, &r->v1, 1, r->h1);
		fs_etagmem_put(r->m, &r->v2, 1, r->h2);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_no_torn_reads(void **state)
{
	(void)state;
	struct race r = {.m = fs_etagmem_new()};
	assert_non_null(r.m);
	r.v1 = file(3, 99, 1000, 5000);
	r.v2 = file(3, 99, 2000, 6000);
	hex_of('1', r.h1);
	hex_of('2', r.h2);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	size_t hits[2] = {0, 0}, bad = 0;
	char out[33];
	double end = now_s() + 0.3;
	while (now_s() < end || hits[0] == 0 || hits[1] == 0) {
		for (int i = 0; i < 1000; i++) {
			if (fs_etagmem_get(r.m, &r.v1, 0, out)) {
				hits[0]++;
				bad += strcmp(out, r.h1) != 0;
			}
			if (fs_etagmem_get(r.m, &r.v2, 0, out)) {
				hits[1]++;
				bad += strcmp(out, r.h2) != 0;
			}
		}
		if (now_s() > end + 10)
			break;
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	assert_int_equal(bad, 0);
	assert_true(hits[0] > 0 && hits[1] > 0);
	fs_etagmem_free(r.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_only_for_the_same_version),
		cmocka_unit_test(test_a_change_since_the_hashing_misses),
		cmocka_unit_test(test_wide_device_is_not_remembered),
		cmocka_unit_test(test_only_hex_is_remembered),
		cmocka_unit_test(test_collisions_never_answer_for_another),
		cmocka_unit_test(test_no_torn_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
