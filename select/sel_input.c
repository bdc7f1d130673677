/*
 * sel_input.c - the byte source under every reader: large sequential
 * reads, GZIP (zlib, concatenated members) and BZIP2 (libbz2, concatenated
 * streams) decompression, and the window buffer that always holds the
 * current record contiguously.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sel_err.h"
#include "sel_io.h"
#include "sel_limits.h"

#define WINDOW (2 * SEL_READ_CHUNK + SEL_MAX_RECORD + 64)

/* Read size past the end of a scan range: enough for the record that
 * crosses it in one read, when records are of usual sizes. */
#define READ_TAIL (64u * 1024u)

int sel_src_cancelled(const struct sel_src *s, struct sel_error *err)
{
	if (!s->cancel || !atomic_load_explicit(s->cancel, memory_order_relaxed))
		return 0;
	return sel_err_set(err, SEL_E_InternalError, 0, 0,
			   "the query was cancelled");
}

static ssize_t read_raw(struct sel_src *s, void *p, size_t n,
			struct sel_error *err)
{
	int c = sel_src_cancelled(s, err);
	if (c)
		return c;
	for (;;) {
		ssize_t r = s->positioned ? pread(s->fd, p, n, (off_t)s->pos)
					  : read(s->fd, p, n);
		if (r >= 0) {
			s->scanned += (uint64_t)r;
			s->pos += (uint64_t)r;
			return r;
		}
		if (errno != EINTR)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "read: %s", strerror(errno));
	}
}

static int skip_raw(struct sel_src *s, uint64_t offset, struct sel_error *err)
{
	if (offset == 0)
		return 0;
	if (lseek(s->fd, (off_t)offset, SEEK_CUR) >= 0)
		return 0;
	while (offset) {
		size_t n = offset < s->cap ? (size_t)offset : s->cap;
		ssize_t r = read_raw(s, s->buf, n, err);
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		offset -= (uint64_t)r;
	}
	s->scanned = 0;
	return 0;
}

int sel_src_open(struct sel_src *s, int fd, int comp, uint64_t offset,
		 struct sel_error *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->comp = comp;
	s->cap = WINDOW;
	s->buf = calloc(1, s->cap + SEL_SRC_PAD);
	if (!s->buf)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	if (comp != SEL_COMP_NONE) {
		s->zin = malloc(SEL_READ_CHUNK);
		if (!s->zin)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "out of memory");
	}
	if (comp == SEL_COMP_GZIP) {
		if (inflateInit2(&s->z, 15 + 32) != Z_OK)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "zlib init failed");
		s->z_init = true;
	} else if (comp == SEL_COMP_BZIP2) {
		if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "bzip2 init failed");
		s->bz_init = true;
	}
	s->base = offset;
	return skip_raw(s, offset, err);
}

int sel_src_open_at(struct sel_src *s, int fd, uint64_t offset, uint64_t stop,
		    struct sel_error *err)
{
	char *buf = s->buf;
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->cap = WINDOW;
	s->buf = buf ? buf : calloc(1, s->cap + SEL_SRC_PAD);
	if (s->buf)
		s->buf[0] = '\0';
	if (!s->buf)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	s->positioned = true;
	s->base = s->pos = offset;
	s->stop = stop;
	return 0;
}

void sel_src_close(struct sel_src *s)
{
	if (s->z_init)
		inflateEnd(&s->z);
	if (s->bz_init)
		BZ2_bzDecompressEnd(&s->bz);
	free(s->zin);
	free(s->buf);
	s->buf = NULL;
	s->zin = NULL;
	s->z_init = s->bz_init = false;
}

static int refill_zin(struct sel_src *s, struct sel_error *err)
{
	if (s->zin_pos < s->zin_len || s->raw_eof)
		return 0;
	ssize_t r = read_raw(s, s->zin, SEL_READ_CHUNK, err);
	if (r < 0)
		return (int)r;
	s->zin_len = (size_t)r;
	s->zin_pos = 0;
	if (r == 0)
		s->raw_eof = true;
	return 0;
}

/* The input ran out inside a compressed stream: the object was cut. */
static int truncated(struct sel_error *err, const char *what)
{
	return sel_err_set(err, SEL_E_TruncatedInput, 0, 0,
			   "the %s data ends in the middle of a stream: the "
			   "object is truncated",
			   what);
}

/* Decompress into dst.  Runs the decoder once more after the raw input
 * ends while a stream is open, since zlib may still hold output; a stream
 * that never reaches its end is TruncatedInput. */
static ssize_t more_gzip(struct sel_src *s, char *dst, size_t room,
			 struct sel_error *err)
{
	for (;;) {
		int r = refill_zin(s, err);
		if (r < 0)
			return r;
		bool dry = s->zin_pos == s->zin_len && s->raw_eof;
		if (dry && !s->mid)
			return 0;
		s->z.next_in = s->zin + s->zin_pos;
		s->z.avail_in = (uInt)(s->zin_len - s->zin_pos);
		s->z.next_out = (Bytef *)dst;
		s->z.avail_out = (uInt)room;
		int zr = inflate(&s->z, Z_NO_FLUSH);
		s->zin_pos = s->zin_len - s->z.avail_in;
		size_t got = room - s->z.avail_out;
		if (zr == Z_STREAM_END) {
			/* Another member may follow (concatenated gzip). */
			inflateReset(&s->z);
			s->mid = false;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return sel_err_set(err, SEL_E_InvalidCompressionFormat,
					   0, 0, "GZIP data is corrupt: %s",
					   s->z.msg ? s->z.msg : "inflate");
		} else {
			s->mid = true;
		}
		if (got)
			return (ssize_t)got;
		if (dry && s->mid)
			return truncated(err, "GZIP");
	}
}

static ssize_t more_bzip2(struct sel_src *s, char *dst, size_t room,
			  struct sel_error *err)
{
	for (;;) {
		int r = refill_zin(s, err);
		if (r < 0)
			return r;
		bool dry = s->zin_pos == s->zin_len && s->raw_eof;
		if (dry && !s->mid)
			return 0;
		s->bz.next_in = (char *)s->zin + s->zin_pos;
		s->bz.avail_in = (unsigned)(s->zin_len - s->zin_pos);
		s->bz.next_out = dst;
		s->bz.avail_out = (unsigned)room;
		int br = BZ2_bzDecompress(&s->bz);
		s->zin_pos = s->zin_len - s->bz.avail_in;
		size_t got = room - s->bz.avail_out;
		if (br == BZ_STREAM_END) {
			BZ2_bzDecompressEnd(&s->bz);
			memset(&s->bz, 0, sizeof(s->bz));
			s->mid = false;
			if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK)
				return sel_err_set(err, SEL_E_InternalError, 0,
						   0, "bzip2 init failed");
		} else if (br != BZ_OK) {
			return sel_err_set(err, SEL_E_InvalidCompressionFormat,
					   0, 0, "BZIP2 data is corrupt (%d)",
					   br);
		} else {
			s->mid = true;
		}
		if (got)
			return (ssize_t)got;
		if (dry && s->mid)
			return truncated(err, "BZIP2");
	}
}

ssize_t sel_src_more(struct sel_src *s, struct sel_error *err)
{
	if (s->eof)
		return 0;
	if (s->start > 0) {
		size_t live = s->end - s->start;
		memmove(s->buf, s->buf + s->start, live);
		s->base += s->start;
		s->start = 0;
		s->end = live;
	}
	if (s->end > SEL_MAX_RECORD + SEL_READ_CHUNK)
		return sel_err_set(err, SEL_E_OverMaxRecordSize, 0, 0,
				   "a record is longer than the maximum of "
				   "maxCharsPerRecord of 1 MB");
	size_t room = s->cap - s->end;
	if (room > SEL_READ_CHUNK)
		room = SEL_READ_CHUNK;
	if (s->positioned && s->pos > s->stop && room > READ_TAIL)
		room = READ_TAIL;
	else if (s->positioned && s->pos <= s->stop &&
		 s->stop - s->pos + 1 < room)
		room = (size_t)(s->stop - s->pos + 1);
	ssize_t r;
	if (s->comp == SEL_COMP_GZIP)
		r = more_gzip(s, s->buf + s->end, room, err);
	else if (s->comp == SEL_COMP_BZIP2)
		r = more_bzip2(s, s->buf + s->end, room, err);
	else
		r = read_raw(s, s->buf + s->end, room, err);
	if (r < 0)
		return r;
	if (r == 0)
		s->eof = true;
	s->end += (size_t)r;
	s->buf[s->end] = '\0'; /* the fence (SEL_SRC_PAD) */
	s->processed += (uint64_t)r;
	return r;
}
