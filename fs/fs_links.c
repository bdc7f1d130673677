/*
 * fs_links.c - the names a hard-linked file is known by (see fs_links.h).
 *
 * A chained hash table keyed by (device, inode), one mutex: it is touched
 * only by link(2) and by the Put of a file with more than one link, both
 * rare next to the operations that never look here.
 */
#include "fs_links.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct file_names {
	dev_t dev;
	ino_t ino;
	unsigned n;
	char *name[FS_LINKS_NAMES]; /* owned */
	struct file_names *next;
};

struct fs_links {
	pthread_mutex_t mu;
	_Atomic unsigned files; /* written under mu, read without */
	struct file_names *bucket[BUCKETS];
};

struct fs_links *fs_links_new(void)
{
	struct fs_links *l = calloc(1, sizeof(*l));
	if (l)
		pthread_mutex_init(&l->mu, NULL);
	return l;
}

static void file_free(struct file_names *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->name[i]);
	free(f);
}

void fs_links_free(struct fs_links *l)
{
	if (!l)
		return;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct file_names *f = l->bucket[b], *next; f; f = next) {
			next = f->next;
			file_free(f);
		}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static struct file_names **slot(struct fs_links *l, const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino * 0x9e3779b97f4a7c15ull) ^
		     (uint64_t)st->st_dev;
	struct file_names **p = &l->bucket[(h >> 20) % BUCKETS];
	while (*p && ((*p)->dev != st->st_dev || (*p)->ino != st->st_ino))
		p = &(*p)->next;
	return p;
}

static bool has(const struct file_names *f, const char *key)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->name[i], key) == 0)
			return true;
	return false;
}

bool fs_links_known(struct fs_links *l, const struct stat *st)
{
	if (atomic_load_explicit(&l->files, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&l->mu);
	bool known = *slot(l, st) != NULL;
	pthread_mutex_unlock(&l->mu);
	return known;
}

void fs_links_add(struct fs_links *l, const struct stat *st, const char *key)
{
	pthread_mutex_lock(&l->mu);
	struct file_names **p = slot(l, st);
	if (!*p && l->files < FS_LINKS_FILES &&
	    (*p = calloc(1, sizeof(**p)))) {
		(*p)->dev = st->st_dev;
		(*p)->ino = st->st_ino;
		l->files++;
	}
	struct file_names *f = *p;
	if (f && f->n < FS_LINKS_NAMES && !has(f, key) &&
	    (f->name[f->n] = strdup(key)))
		f->n++;
	pthread_mutex_unlock(&l->mu);
}

char **fs_links_names(struct fs_links *l, const struct stat *st,
		      const char *except)
{
	char **out = NULL;
	pthread_mutex_lock(&l->mu);
	struct file_names *f = *slot(l, st);
	if (f && f->n && (out = calloc(f->n + 1, sizeof(*out)))) {
		unsigned k = 0;
		for (unsigned i = 0; i < f->n; i++)
			if (strcmp(f->name[i], except) != 0 &&
			    (out[k] = strdup(f->name[i])))
				k++;
		if (k == 0) {
			free(out);
			out = NULL;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return out;
}

void fs_links_free_names(char **names)
{
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
}

void fs_links_forget(struct fs_links *l, const struct stat *st,
		     const char *key)
{
	pthread_mutex_lock(&l->mu);
	struct file_names **p = slot(l, st), *f = *p;
	for (unsigned i = 0; f && i < f->n; i++) {
		if (strcmp(f->name[i], key) != 0)
			continue;
		free(f->name[i]);
		f->name[i] = f->name[--f->n];
		break;
	}
	if (f && f->n == 0) {
		*p = f->next;
		file_free(f);
		l->files--;
	}
	pthread_mutex_unlock(&l->mu);
}
