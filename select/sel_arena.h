/*
 * sel_arena.h - bump allocator: one per query (AST, bound names, constants)
 * and one per record (scratch strings, reset after each record), as nginx
 * pools do.  Everything allocated dies with the arena; nothing is freed
 * individually.  Not thread-safe: an arena belongs to one query run.
 */
#ifndef SEL_ARENA_H
#define SEL_ARENA_H

#include <stddef.h>

struct sel_arena_chunk;

struct sel_arena {
	struct sel_arena_chunk *head; /* current chunk, owned */
	size_t used;		      /* bytes handed out, over all chunks */
	size_t max;		      /* ceiling for used */
};

/* Prepare an empty arena that may hand out up to max bytes. */
void sel_arena_init(struct sel_arena *a, size_t max);

/* Free every chunk; the arena is empty again and may be reused. */
void sel_arena_free(struct sel_arena *a);

/* Forget all allocations but keep the first chunk, for per-record use. */
void sel_arena_reset(struct sel_arena *a);

/* n bytes aligned to 16, or NULL when out of memory or past the ceiling.
 * The memory is not zeroed. */
void *sel_arena_alloc(struct sel_arena *a, size_t n);

/* Zeroed n bytes, or NULL. */
void *sel_arena_zalloc(struct sel_arena *a, size_t n);

/* A NUL-terminated copy of p[0..n), or NULL. */
char *sel_arena_strndup(struct sel_arena *a, const char *p, size_t n);

#endif
