/*
 * cmn_buf.h - a growable byte buffer with a hard maximum (curl's dynbuf).
 *
 * Every buffer that grows with untrusted input has a ceiling, so a hostile
 * document or record fails with -E2BIG instead of eating the machine.  The
 * buffer always keeps a terminating NUL after its contents, so text built
 * in it can be handed to C string functions directly.
 */
#ifndef CMN_BUF_H
#define CMN_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct cmn_buf {
	char *data;  /* owned, or the caller's storage while borrowed;
			NULL until the first append */
	size_t len;  /* bytes used, excluding the trailing NUL */
	size_t cap;  /* bytes allocated */
	size_t max;  /* largest len allowed */
	bool borrowed; /* data is the storage given to cmn_buf_init_on */
};

/* Prepare an empty buffer that may grow to max bytes.  Allocates nothing. */
void cmn_buf_init(struct cmn_buf *b, size_t max);

/* The same, starting in the caller's storage (size >= 1 bytes, usually on
 * the stack; it must outlive b's use of it): what usually fits costs no
 * allocation, and the buffer moves to the heap only when it outgrows the
 * storage (SQLite's StrAccum does the same).  An event built per file
 * operation was a handful of mallocs and reallocs, and the growing ones
 * made glibc consolidate its fast bins: 1% of the request thread. */
void cmn_buf_init_on(struct cmn_buf *b, size_t max, char *storage,
		     size_t size);

/* Free the contents; the buffer is empty again and may be reused. */
void cmn_buf_free(struct cmn_buf *b);

/* Forget the contents but keep the allocation. */
void cmn_buf_reset(struct cmn_buf *b);

/* Append bytes.  Returns 0, -ENOMEM, or -E2BIG past the maximum (the
 * buffer is unchanged on failure).  Inline while the bytes fit: output is
 * built from many small appends. */
int cmn_buf_add_grow(struct cmn_buf *b, const void *p, size_t n);
static inline int cmn_buf_add(struct cmn_buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && n <= b->max - b->len) {
		if (n)
			memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return cmn_buf_add_grow(b, p, n);
}

/* Append a NUL-terminated string. */
int cmn_buf_adds(struct cmn_buf *b, const char *s);

/* Append one byte. */
static inline int cmn_buf_addc(struct cmn_buf *b, char c)
{
	return cmn_buf_add(b, &c, 1);
}

/* Append printf-formatted text. */
int cmn_buf_printf(struct cmn_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cmn_buf_vprintf(struct cmn_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Make room for n more bytes without changing len; returns a pointer to
 * the free space or NULL (errno set) when it would pass the maximum. */
char *cmn_buf_reserve(struct cmn_buf *b, size_t n);

/* Hand the contents over: returns the malloc'ed string (caller frees,
 * never NULL unless out of memory; a copy while borrowed) and leaves the
 * buffer empty. */
char *cmn_buf_take(struct cmn_buf *b);

#endif
