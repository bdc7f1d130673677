/*
 * test-fs_inode.c - the inode table on a real directory: which inodes hold
 * a descriptor, how fs_inode_at reaches the others, what keeps a file
 * reachable once it loses its name, and the write clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "fs_inode.h"

struct fixture {
	char dir[64];
	int root;
	struct fs_inode_table *t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-fs_inode.XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	f->root = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->root < 0 || fs_inode_table_new(f->root, NULL, &f->t) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs_inode_table_free(f->t); /* closes root */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* Create a file or directory at path (relative to the fixture) and look
 * it up in parent. */
static struct fs_inode *make(struct fixture *f, struct fs_inode *parent,
			     const char *name, bool dir)
{
	int pfd = parent->fd;
	if (dir) {
		assert_int_equal(mkdirat(pfd, name, 0755), 0);
	} else {
		int fd = openat(pfd, name, O_CREAT | O_WRONLY | O_CLOEXEC,
				0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, name, strlen(name)),
				 (ssize_t)strlen(name));
		close(fd);
	}
	struct stat st;
	assert_int_equal(fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	struct fs_inode *ino = fs_inode_get(f->t, parent, name, &st);
	assert_non_null(ino);
	return ino;
}

static off_t size_at(struct fs_inode_table *t, struct fs_inode *ino)
{
	struct fs_at at;
	struct stat st;
	assert_int_equal(fs_inode_at(t, ino, &at), 0);
	int rc = fs_at_stat(&at, &st);
	fs_at_done(&at);
	return rc == 0 ? st.st_size : -errno;
}

static void test_only_directories_hold_a_descriptor(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "bucket", true);
	struct fs_inode *o = make(f, b, "obj", false);
	assert_true(b->fd >= 0);
	assert_int_equal(o->fd, -1);

	struct fs_at at;
	assert_int_equal(fs_inode_at(f->t, o, &at), 0);
	assert_int_equal(at.dirfd, b->fd);
	assert_string_equal(at.name, "obj");
	char want[64];
	snprintf(want, sizeof(want), "/proc/self/fd/%d/obj", b->fd);
	assert_string_equal(fs_at_proc(&at), want);
	assert_int_equal(fs_at_setxattr(&at, "user.k", "v", 1, 0), 0);
	char v[8];
	assert_int_equal(fs_at_getxattr(&at, "user.k", v, sizeof(v)), 1);
	int fd = fs_at_open(&at, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, v, sizeof(v)), 3);
	close(fd);
	fs_at_done(&at);

	assert_int_equal(fs_inode_at(f->t, b, &at), 0);
	assert_int_equal(at.dirfd, b->fd);
	assert_string_equal(at.name, "");
	assert_int_equal(fs_at_flags(&at), AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH);
	fs_at_done(&at);

	struct cmn_buf key;
	cmn_buf_init(&key, 4096);
	assert_int_equal(fs_inode_path(f->t, o, NULL, &key), 2);
	assert_string_equal(key.data, "bucket/obj");
	cmn_buf_free(&key);
	fs_inode_forget(f->t, o, 1);
	fs_inode_forget(f->t, b, 1);
}

static void test_rename_moves_the_name(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *a = make(f, root, "a", true);
	struct fs_inode *b = make(f, root, "b", true);
	struct fs_inode *o = make(f, a, "obj", false);

	/* A caller holding at keeps a's descriptor open across the rename
	 * and a's forget. */
	struct fs_at held;
	assert_int_equal(fs_inode_at(f->t, o, &held), 0);
	assert_int_equal(renameat(a->fd, "obj", b->fd, "moved"), 0);
	fs_inode_rename(f->t, o, b, "moved");
	fs_inode_forget(f->t, a, 1);
	struct stat st;
	assert_int_equal(fstat(held.dirfd, &st), 0);
	fs_at_done(&held); /* now a is freed */

	assert_int_equal(size_at(f->t, o), 3);
	struct fs_at at;
	assert_int_equal(fs_inode_at(f->t, o, &at), 0);
	assert_string_equal(at.name, "moved");
	assert_int_equal(at.dirfd, b->fd);
	fs_at_done(&at);
	fs_inode_forget(f->t, o, 1);
	fs_inode_forget(f->t, b, 1);
}

static void test_unlinked_file_gets_a_descriptor(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "bkt", true);
	struct fs_inode *open1 = make(f, b, "open", false);
	struct fs_inode *closed = make(f, b, "closed", false);

	fs_inode_opened(f->t, open1, false);
	fs_inode_unlinking(f->t, b, "open");
	assert_int_equal(unlinkat(b->fd, "open", 0), 0);
	fs_inode_unlinking(f->t, b, "closed");
	assert_int_equal(unlinkat(b->fd, "closed", 0), 0);
	/* Both keep their inode numbers from reuse until forgotten. */
	assert_true(open1->fd >= 0);
	assert_true(closed->fd >= 0);

	/* A new file under the old name is not the open one. */
	struct fs_inode *again = make(f, b, "open", false);
	assert_ptr_not_equal(again, open1);
	assert_int_equal(size_at(f->t, open1), 4);
	struct fs_at at;
	struct stat st;
	assert_int_equal(fs_inode_at(f->t, open1, &at), 0);
	assert_int_equal(fs_at_stat(&at, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	fs_at_done(&at);

	/* FORGET before RELEASE: the inode lives until it is closed. */
	fs_inode_forget(f->t, open1, 1);
	assert_int_equal(size_at(f->t, open1), 4);
	fs_inode_closed(f->t, open1, false);
	fs_inode_forget(f->t, closed, 1);
	fs_inode_forget(f->t, again, 1);
	fs_inode_forget(f->t, b, 1);
}

static void test_hard_link_keeps_the_file_reachable(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "links", true);
	struct fs_inode *o = make(f, b, "one", false);
	assert_int_equal(linkat(b->fd, "one", b->fd, "two", 0), 0);
	struct stat st;
	assert_int_equal(fstatat(b->fd, "two", &st, 0), 0);
	assert_ptr_equal(fs_inode_get(f->t, b, "two", &st), o); /* newest */
	fs_inode_unlinking(f->t, b, "two");
	assert_int_equal(unlinkat(b->fd, "two", 0), 0);
	assert_true(o->fd >= 0);
	assert_int_equal(size_at(f->t, o), 3);
	fs_inode_forget(f->t, o, 2);
	fs_inode_forget(f->t, b, 1);
}

static void test_open_refuses_another_object(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "behind", true);
	struct fs_inode *o = make(f, b, "name", false);
	struct stat st;
	int fd = fs_inode_open(f->t, o, O_RDONLY | O_CLOEXEC, &st);
	assert_true(fd >= 0);
	close(fd);
	/* the stat it checked with is the caller's */
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_ino, o->ino);
	/* Replaced behind the mount (no fs_inode_unlinking). */
	int w = openat(b->fd, "other", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(w >= 0);
	close(w);
	assert_int_equal(renameat(b->fd, "other", b->fd, "name"), 0);
	assert_int_equal(fs_inode_open(f->t, o, O_RDONLY | O_CLOEXEC, NULL),
			 -ESTALE);
	fs_inode_forget(f->t, o, 1);
	fs_inode_forget(f->t, b, 1);
}

/* The write clock (fs_inode.h, "Changes"): what is read at a clock after
 * an inode's last change is its content; while a writer is open nothing
 * is; the writer's flush (or its close unflushed) and a truncate are
 * changes; and a forgotten inode's changes still count for its file. */
static void test_changes_move_the_write_clock(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "clock", true);
	struct fs_inode *o = make(f, b, "file", false);
	dev_t dev = o->dev;
	ino_t ino = o->ino;

	uint64_t read1 = fs_inode_clock(f->t);
	assert_true(fs_inode_last_change(o) < read1);
	fs_inode_opened(f->t, o, true);
	assert_true(fs_inode_last_change(o) == UINT64_MAX);
	assert_true(fs_inode_last_change_of(f->t, dev, ino, NULL) == UINT64_MAX);
	uint64_t during = fs_inode_clock(f->t);
	fs_inode_changed(f->t, o, true); /* its flush */
	assert_true(fs_inode_last_change(o) > during);
	uint64_t read2 = fs_inode_clock(f->t);
	assert_true(fs_inode_last_change(o) < read2);
	fs_inode_changed(f->t, o, false); /* a truncate */
	assert_true(fs_inode_last_change(o) > read2);
	fs_inode_closed(f->t, o, false);  /* flushed already */

	fs_inode_opened(f->t, o, true);   /* closed unflushed (mmap) */
	uint64_t read3 = fs_inode_clock(f->t);
	fs_inode_closed(f->t, o, true);
	uint64_t last = fs_inode_last_change(o);
	assert_true(last > read3 && last != UINT64_MAX);
	assert_true(fs_inode_last_change_of(f->t, dev, ino, NULL) == last);

	fs_inode_forget(f->t, o, 1);
	assert_true(fs_inode_last_change_of(f->t, dev, ino, NULL) == last);
	struct fs_inode *again = make(f, b, "other", false);
	assert_true(fs_inode_last_change(again) == last);
	fs_inode_forget(f->t, again, 1);
	fs_inode_forget(f->t, b, 1);
}

/* A batch of lookups answers each object as one lookup would: a known
 * inode its own last change (a writer open: UINT64_MAX), an unknown one
 * the latest change of the forgotten. */
static void test_last_changes_of_a_batch(void **state)
{
	struct fixture *f = *state;
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "batch", true);
	struct fs_inode *x = make(f, b, "x", false);
	struct fs_inode *y = make(f, b, "y", false);
	struct fs_inode *gone = make(f, b, "gone", false);
	fs_inode_changed(f->t, gone, false);
	uint64_t forgotten = fs_inode_last_change(gone);
	struct fs_inode_key keys[3] = {
		{.dev = x->dev, .ino = x->ino},
		{.dev = y->dev, .ino = y->ino},
		{.dev = gone->dev, .ino = gone->ino},
	};
	fs_inode_forget(f->t, gone, 1);
	fs_inode_changed(f->t, x, false);
	fs_inode_opened(f->t, y, true);

	uint64_t last[3];
	bool known[3];
	fs_inode_last_changes_of(f->t, 3, keys, last, known);
	assert_true(known[0] && last[0] == fs_inode_last_change(x));
	assert_true(known[1] && last[1] == UINT64_MAX);
	assert_false(known[2]);
	assert_true(last[2] == forgotten);
	for (int i = 0; i < 3; i++) {
		bool k;
		assert_true(fs_inode_last_change_of(f->t, keys[i].dev,
						    keys[i].ino, &k) == last[i]);
		assert_true(k == known[i]);
	}

	fs_inode_closed(f->t, y, true);
	fs_inode_forget(f->t, x, 1);
	fs_inode_forget(f->t, y, 1);
	fs_inode_forget(f->t, b, 1);
}

/* A classifier like fs_select's: names ending in ".q" inside a bucket. */
static unsigned classify_q(const char *name, bool in_bucket)
{
	size_t n = strlen(name);
	return in_bucket && n > 2 && strcmp(name + n - 2, ".q") == 0 ? 1u : 0u;
}

/* The class follows the inode's name and parent: set when it is first
 * looked up, kept on a lookup by the same name, changed by a rename into
 * or out of the root and by a rename that changes the suffix. */
static void test_class_follows_the_name(void **state)
{
	struct fixture *f = *state;
	fs_inode_table_free(f->t);
	f->root = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(fs_inode_table_new(f->root, classify_q, &f->t), 0);
	struct fs_inode *root = fs_inode_root(f->t);
	struct fs_inode *b = make(f, root, "bucket", true);
	struct fs_inode *top = make(f, root, "top.q", false);
	struct fs_inode *o = make(f, b, "obj.q", false);
	assert_int_equal(fs_inode_class(top), 0); /* not inside a bucket */
	assert_int_equal(fs_inode_class(o), 1);
	assert_int_equal(fs_inode_class(b), 0);

	assert_int_equal(renameat(b->fd, "obj.q", b->fd, "obj.txt"), 0);
	fs_inode_rename(f->t, o, b, "obj.txt");
	assert_int_equal(fs_inode_class(o), 0);
	assert_int_equal(renameat(root->fd, "top.q", b->fd, "top.q"), 0);
	fs_inode_rename(f->t, top, b, "top.q");
	assert_int_equal(fs_inode_class(top), 1);
	assert_int_equal(renameat(b->fd, "top.q", root->fd, "top.q"), 0);
	fs_inode_rename(f->t, top, root, "top.q");
	assert_int_equal(fs_inode_class(top), 0);
	fs_inode_forget(f->t, o, 1);
	fs_inode_forget(f->t, top, 1);
	fs_inode_forget(f->t, b, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_only_directories_hold_a_descriptor, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_rename_moves_the_name,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_unlinked_file_gets_a_descriptor, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_hard_link_keeps_the_file_reachable, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_open_refuses_another_object, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_changes_move_the_write_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_changes_of_a_batch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_class_follows_the_name,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
