/*
 * fs_handle.c - the list of open handles; see fs_handle.h.
 */
#include "fs_handle.h"

#include <pthread.h>
#include <stddef.h>

#include "fs_ctx.h"

void fs_handle_track(struct fs_ctx *ctx, struct fs_handle *h,
		     void (*close)(struct fs_ctx *, struct fs_handle *))
{
	h->close = close;
	pthread_mutex_lock(&ctx->handles_lock);
	h->prev = &ctx->handles;
	h->next = ctx->handles.next;
	ctx->handles.next->prev = h;
	ctx->handles.next = h;
	pthread_mutex_unlock(&ctx->handles_lock);
}

void fs_handle_untrack(struct fs_ctx *ctx, struct fs_handle *h)
{
	pthread_mutex_lock(&ctx->handles_lock);
	if (h->prev) {
		h->prev->next = h->next;
		h->next->prev = h->prev;
		h->prev = h->next = NULL;
	}
	pthread_mutex_unlock(&ctx->handles_lock);
}

void fs_handle_close_all(struct fs_ctx *ctx)
{
	for (;;) {
		pthread_mutex_lock(&ctx->handles_lock);
		struct fs_handle *h = ctx->handles.next;
		if (h == &ctx->handles) {
			pthread_mutex_unlock(&ctx->handles_lock);
			return;
		}
		h->prev->next = h->next;
		h->next->prev = h->prev;
		h->prev = h->next = NULL;
		pthread_mutex_unlock(&ctx->handles_lock);
		h->close(ctx, h);
	}
}
