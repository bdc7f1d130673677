/*
 * ntf_ring.c - the live stream: a ring of record lines with per-reader
 * cursors.
 *
 * Lines are numbered by a 64-bit counter; slot i % cap holds line i.  The
 * ring holds lines [tail, head); a reader's cursor is the next line it
 * reads.  A cursor below tail means the reader missed tail - cursor lines:
 * it gets a gap line and jumps to tail.  Lines are copied in and out under
 * one mutex; the copy in is prepared (malloc + memcpy) before taking it, so
 * a publisher holds the lock for a few pointer moves.  Reads never wait:
 * a reader that found nothing is armed, and the next publish calls its
 * notification after the lock is dropped, under a second mutex (taken
 * first, always) that ntf_ring_close_reader also takes, so a reader is
 * never freed while its callback runs.
 */
#include "ntf_ring.h"
#include "ntf_limits.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *data; /* line plus '\n', owned */
	size_t len;
};

struct ntf_ring_reader {
	struct ntf_ring *ring;
	uint64_t cursor; /* next line to read */
	size_t off;	 /* bytes of line `cursor` already returned */
	bool armed;      /* found nothing: notify at the next publish */
	ntf_ring_notify_fn fn;
	void *arg;
	struct ntf_ring_reader *prev, *next; /* ring's reader list */
	struct ntf_ring_reader *notify_next; /* publisher's notify list */
};

struct ntf_ring {
	pthread_mutex_t mu;
	pthread_mutex_t notify_mu;
	struct slot *slots;
	size_t cap, max_bytes, bytes;
	uint64_t head, tail;
	atomic_uint n_readers;
	struct ntf_ring_reader *readers;
};

int ntf_ring_new(size_t max_bytes, size_t max_lines, struct ntf_ring **out)
{
	struct ntf_ring *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->cap = max_lines ? max_lines : NTF_LIMIT_RING_LINES;
	r->max_bytes = max_bytes ? max_bytes : NTF_LIMIT_RING_BYTES;
	r->slots = calloc(r->cap, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->notify_mu, NULL);
	*out = r;
	return 0;
}

void ntf_ring_free(struct ntf_ring *r)
{
	if (!r)
		return;
	for (uint64_t i = r->tail; i < r->head; i++)
		free(r->slots[i % r->cap].data);
	free(r->slots);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->notify_mu);
	free(r);
}

/* Called with mu held: drop the oldest line. */
static void evict(struct ntf_ring *r)
{
	struct slot *s = &r->slots[r->tail % r->cap];
	r->bytes -= s->len;
	free(s->data);
	s->data = NULL;
	r->tail++;
}

/* Called with mu held: take every armed reader off duty into a list. */
static struct ntf_ring_reader *collect_armed(struct ntf_ring *r)
{
	struct ntf_ring_reader *list = NULL;
	for (struct ntf_ring_reader *rd = r->readers; rd; rd = rd->next) {
		if (!rd->armed || !rd->fn)
			continue;
		rd->armed = false;
		rd->notify_next = list;
		list = rd;
	}
	return list;
}

int ntf_ring_publish(struct ntf_ring *r, const char *line, size_t len)
{
	if (len + 1 > r->max_bytes)
		return -E2BIG;
	/* A reader opened after this check starts after this line anyway. */
	if (atomic_load_explicit(&r->n_readers, memory_order_relaxed) == 0)
		return 0;
	char *data = malloc(len + 1);
	if (!data)
		return -ENOMEM;
	memcpy(data, line, len);
	data[len] = '\n';
	/* notify_mu first, held until the callbacks are done: a closer of a
	 * listed reader waits for them.  Taking it inside mu instead made a
	 * cycle with a reader that holds its own lock while it reads (mu)
	 * and that a callback takes (notify_mu -> reader's lock -> mu ->
	 * notify_mu). */
	pthread_mutex_lock(&r->notify_mu);
	pthread_mutex_lock(&r->mu);
	while (r->head - r->tail == r->cap || r->bytes + len + 1 > r->max_bytes)
		evict(r);
	r->slots[r->head % r->cap] = (struct slot){data, len + 1};
	r->head++;
	r->bytes += len + 1;
	struct ntf_ring_reader *list = collect_armed(r);
	pthread_mutex_unlock(&r->mu);
	for (struct ntf_ring_reader *rd = list; rd; rd = rd->notify_next)
		rd->fn(rd->arg);
	pthread_mutex_unlock(&r->notify_mu);
	return 0;
}

int ntf_ring_open_reader(struct ntf_ring *r, ntf_ring_notify_fn fn, void *arg,
			 struct ntf_ring_reader **out)
{
	struct ntf_ring_reader *rd = calloc(1, sizeof(*rd));
	*out = NULL;
	if (!rd)
		return -ENOMEM;
	rd->ring = r;
	rd->fn = fn;
	rd->arg = arg;
	pthread_mutex_lock(&r->mu);
	rd->cursor = r->head;
	rd->next = r->readers;
	if (r->readers)
		r->readers->prev = rd;
	r->readers = rd;
	atomic_fetch_add(&r->n_readers, 1);
	pthread_mutex_unlock(&r->mu);
	*out = rd;
	return 0;
}

/* Called with mu held: the gap line, when rd fell behind. */
static size_t put_gap(struct ntf_ring_reader *rd, char *buf, size_t size)
{
	struct ntf_ring *r = rd->ring;
	if (rd->cursor >= r->tail)
		return 0;
	int n = snprintf(buf, size, "{\"gap\":%" PRIu64 "}\n",
			 r->tail - rd->cursor);
	rd->cursor = r->tail;
	rd->off = 0;
	return (size_t)n;
}

/* Called with mu held: copy whole lines (or a piece of one line longer
 * than the room left in an empty buffer). */
static size_t put_lines(struct ntf_ring_reader *rd, char *buf, size_t size,
			size_t n)
{
	struct ntf_ring *r = rd->ring;
	while (rd->cursor < r->head) {
		const struct slot *s = &r->slots[rd->cursor % r->cap];
		size_t rest = s->len - rd->off;
		if (rest > size - n) {
			if (n)
				break;
			memcpy(buf, s->data + rd->off, size);
			rd->off += size;
			return size;
		}
		memcpy(buf + n, s->data + rd->off, rest);
		n += rest;
		rd->off = 0;
		rd->cursor++;
	}
	return n;
}

ssize_t ntf_ring_read(struct ntf_ring_reader *rd, char *buf, size_t size)
{
	struct ntf_ring *r = rd->ring;
	if (size < NTF_RING_MIN_READ)
		return -EINVAL;
	pthread_mutex_lock(&r->mu);
	ssize_t ret = -EAGAIN;
	if (rd->cursor != r->head) {
		size_t n = put_gap(rd, buf, size);
		ret = (ssize_t)put_lines(rd, buf, size, n);
	} else {
		rd->armed = true;
	}
	pthread_mutex_unlock(&r->mu);
	return ret;
}

int ntf_ring_readable(struct ntf_ring_reader *rd)
{
	struct ntf_ring *r = rd->ring;
	pthread_mutex_lock(&r->mu);
	int ok = rd->cursor != r->head;
	if (!ok)
		rd->armed = true;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

void ntf_ring_close_reader(struct ntf_ring_reader *rd)
{
	if (!rd)
		return;
	struct ntf_ring *r = rd->ring;
	pthread_mutex_lock(&r->mu);
	if (rd->prev)
		rd->prev->next = rd->next;
	else
		r->readers = rd->next;
	if (rd->next)
		rd->next->prev = rd->prev;
	atomic_fetch_sub(&r->n_readers, 1);
	pthread_mutex_unlock(&r->mu);
	/* A publisher may be running rd's callback: let it finish. */
	pthread_mutex_lock(&r->notify_mu);
	pthread_mutex_unlock(&r->notify_mu);
	free(rd);
}
