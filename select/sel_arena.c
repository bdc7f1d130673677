/*
 * sel_arena.c - chunked bump allocator with a ceiling.
 */
#include "sel_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (64u * 1024u)

struct sel_arena_chunk {
	struct sel_arena_chunk *next;
	size_t cap;
	size_t pos;
	_Alignas(16) unsigned char mem[];
};

void sel_arena_init(struct sel_arena *a, size_t max)
{
	a->head = NULL;
	a->used = 0;
	a->max = max;
}

void sel_arena_free(struct sel_arena *a)
{
	struct sel_arena_chunk *c = a->head;
	while (c) {
		struct sel_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->head = NULL;
	a->used = 0;
}

void sel_arena_reset(struct sel_arena *a)
{
	struct sel_arena_chunk *c = a->head;
	if (!c)
		return;
	/* Keep the oldest chunk (the end of the list): it is the one every
	 * record reuses; larger ones grown by an unusual record go. */
	while (c->next) {
		struct sel_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	c->pos = 0;
	a->head = c;
	a->used = 0;
}

void *sel_arena_alloc(struct sel_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (n > a->max || a->used > a->max - n)
		return NULL;
	struct sel_arena_chunk *c = a->head;
	if (!c || c->cap - c->pos < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
		if (c && c->cap * 2 > cap && c->cap * 2 <= a->max)
			cap = c->cap * 2;
		struct sel_arena_chunk *nc = malloc(sizeof(*nc) + cap);
		if (!nc)
			return NULL;
		nc->next = c;
		nc->cap = cap;
		nc->pos = 0;
		a->head = nc;
		c = nc;
	}
	void *p = c->mem + c->pos;
	c->pos += n;
	a->used += n;
	return p;
}

void *sel_arena_zalloc(struct sel_arena *a, size_t n)
{
	void *p = sel_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *sel_arena_strndup(struct sel_arena *a, const char *p, size_t n)
{
	char *s = sel_arena_alloc(a, n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
