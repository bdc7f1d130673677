/*
 * meta.c - small-object workload for tests/bench/fs/run.sh (adapted from
 * shared/reference/fusebench.sh): in DIR, N files of FSIZE bytes:
 *   create_ops   create+write+close (a PUT of a small object), per second
 *   stat_ops     stat of every file, second pass (kernel-cached), per second
 *   readdir_ms   readdir of the N entries, best of 3, milliseconds
 *   ls_l_ms      readdir + lstat of each entry (what `ls -l` does), ms
 *   get_ops      open+read+close (a GET), per second
 *   unlink_ops   unlink (a DELETE), per second
 * Prints "metric value" lines.  usage: meta DIR N FSIZE
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: meta DIR N FSIZE\n");
		return 2;
	}
	const char *d = argv[1];
	int n = atoi(argv[2]);
	size_t fs = strtoul(argv[3], NULL, 10);
	char *buf = malloc(fs ? fs : 1), p[4096];
	if (!buf || n <= 0)
		return 2;
	memset(buf, 'x', fs);
	double t0, t = 0;
	struct stat st;

	t0 = now(); /* PUT: create+write+close */
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, fs) != (ssize_t)fs || close(fd)) {
			perror(p);
			return 1;
		}
	}
	t = now() - t0;
	printf("create_ops %.0f\n", n / t);

	for (int pass = 0; pass < 2; pass++) { /* stat, 2nd pass reported */
		t0 = now();
		for (int i = 0; i < n; i++) {
			snprintf(p, sizeof p, "%s/f%07d", d, i);
			if (stat(p, &st)) {
				perror(p);
				return 1;
			}
		}
		t = now() - t0;
	}
	printf("stat_ops %.0f\n", n / t);

	double best = 1e9; /* readdir, best of 3 */
	for (int r = 0; r < 3; r++) {
		t0 = now();
		DIR *dp = opendir(d);
		int c = 0;
		if (!dp) {
			perror(d);
			return 1;
		}
		while (readdir(dp))
			c++;
		closedir(dp);
		t = now() - t0;
		if (t < best)
			best = t;
		if (c < n) {
			fprintf(stderr, "readdir saw %d < %d\n", c, n);
			return 1;
		}
	}
	printf("readdir_ms %.2f\n", best * 1e3);

	t0 = now(); /* ls -l: readdir + lstat each */
	{
		DIR *dp = opendir(d);
		struct dirent *e;
		if (!dp) {
			perror(d);
			return 1;
		}
		int dfd = dirfd(dp);
		while ((e = readdir(dp)))
			fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW);
		closedir(dp);
	}
	printf("ls_l_ms %.2f\n", (now() - t0) * 1e3);

	t0 = now(); /* GET: open+read+close */
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		int fd = open(p, O_RDONLY);
		if (fd < 0) {
			perror(p);
			return 1;
		}
		while (read(fd, buf, fs ? fs : 1) > 0) {
		}
		close(fd);
	}
	t = now() - t0;
	printf("get_ops %.0f\n", n / t);

	t0 = now(); /* DELETE */
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%07d", d, i);
		if (unlink(p)) {
			perror(p);
			return 1;
		}
	}
	t = now() - t0;
	printf("unlink_ops %.0f\n", n / t);
	free(buf);
	return 0;
}
