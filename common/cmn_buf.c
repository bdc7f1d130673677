/*
 * cmn_buf.c - bounded growable buffer; see cmn_buf.h.
 */
#include "cmn_buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmn_buf_init(struct cmn_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->borrowed = false;
}

void cmn_buf_init_on(struct cmn_buf *b, size_t max, char *storage,
		     size_t size)
{
	b->data = storage;
	b->data[0] = '\0';
	b->len = 0;
	b->cap = size;
	b->max = max;
	b->borrowed = true;
}

void cmn_buf_free(struct cmn_buf *b)
{
	if (!b->borrowed)
		free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->borrowed = false;
}

void cmn_buf_reset(struct cmn_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *cmn_buf_reserve(struct cmn_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n) {
		errno = E2BIG;
		return NULL;
	}
	size_t need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap *= 2;
		/* Never allocate far beyond the ceiling. */
		if (cap > b->max + 1 && need <= b->max + 1)
			cap = b->max + 1;
		char *p = b->borrowed ? malloc(cap) : realloc(b->data, cap);
		if (!p) {
			errno = ENOMEM;
			return NULL;
		}
		if (b->borrowed)
			memcpy(p, b->data, b->len + 1);
		b->data = p;
		b->cap = cap;
		b->borrowed = false;
	}
	return b->data + b->len;
}

int cmn_buf_add_grow(struct cmn_buf *b, const void *p, size_t n)
{
	char *dst = cmn_buf_reserve(b, n);
	if (!dst)
		return -errno;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cmn_buf_adds(struct cmn_buf *b, const char *s)
{
	return cmn_buf_add(b, s, strlen(s));
}


int cmn_buf_vprintf(struct cmn_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	char *dst = cmn_buf_reserve(b, (size_t)n);
	if (!dst)
		return -errno;
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int cmn_buf_printf(struct cmn_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = cmn_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *cmn_buf_take(struct cmn_buf *b)
{
	char *p = b->data;
	if (b->borrowed) {
		p = malloc(b->len + 1);
		if (p)
			memcpy(p, b->data, b->len + 1);
	} else if (!p) {
		p = calloc(1, 1);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->borrowed = false;
	return p;
}
