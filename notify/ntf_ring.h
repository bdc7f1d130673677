/*
 * ntf_ring.h - the live event stream behind MNT/.bucketfs/events: a bounded
 * in-memory ring of the most recent record lines (NDJSON), read by any
 * number of readers, each with its own cursor starting at "now".
 *
 * Publishing never waits for readers: a reader that falls behind the ring
 * loses the oldest lines and is told so with a line {"gap":N} (N = lines it
 * missed) before it continues from the oldest line still held.
 */
#ifndef NTF_RING_H
#define NTF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ntf_ring;
struct ntf_ring_reader;

/* Called when new data arrives for a reader that last found nothing to read
 * (ntf_ring_readable returned 0 or a read returned -EAGAIN): the FUSE layer
 * answers parked reads and calls fuse_lowlevel_notify_poll from it.  Runs
 * on the publishing thread, outside the ring's lock, once per arming; it
 * must not block for long and must not call ntf_ring_close_reader. */
typedef void (*ntf_ring_notify_fn)(void *arg);

/* A ring holding at most max_bytes of lines (newlines included) and at most
 * max_lines lines; 0 takes NTF_LIMIT_RING_BYTES / NTF_LIMIT_RING_LINES.
 * Returns 0 or -ENOMEM. */
int ntf_ring_new(size_t max_bytes, size_t max_lines, struct ntf_ring **out);

/* Free the ring.  Every reader must have been closed.  Accepts NULL. */
void ntf_ring_free(struct ntf_ring *r);

/* Append one record line (len bytes, without the newline, copied; the ring
 * adds '\n'), evicting the oldest lines as needed.  Returns 0 (also when no
 * reader is open: the line is then not kept, as no one could read it),
 * -E2BIG when one line exceeds the ring, or -ENOMEM.  Thread-safe; takes a
 * short mutex and never waits for readers. */
int ntf_ring_publish(struct ntf_ring *r, const char *line, size_t len);

/* Open a reader positioned after the newest line.  fn (may be NULL) and arg
 * are the poll notification above.  Returns 0 or -ENOMEM.  Thread-safe. */
int ntf_ring_open_reader(struct ntf_ring *r, ntf_ring_notify_fn fn, void *arg,
			 struct ntf_ring_reader **out);

/* Copy whole lines into buf (a line longer than size is returned in pieces,
 * the only case where a read ends mid-line).  size must be at least
 * NTF_RING_MIN_READ (room for a gap line).  Never waits: returns the byte
 * count, -EAGAIN when there is nothing to read (and arms the
 * notification), or -EINVAL for a too small buffer.  One read at a time
 * per reader; different readers in parallel.  (A reader that must wait
 * parks its request and reads again from the notification: fs_magic.c.) */
ssize_t ntf_ring_read(struct ntf_ring_reader *rd, char *buf, size_t size);

#define NTF_RING_MIN_READ 32

/* 1 when a read would return something (data or a gap), else 0 and the
 * notification is armed.  For poll.  Thread-safe. */
int ntf_ring_readable(struct ntf_ring_reader *rd);

/* Close and free rd, after a notification running for it has returned.
 * Accepts NULL.  Thread-safe, but rd must not be used once this
 * returns. */
void ntf_ring_close_reader(struct ntf_ring_reader *rd);

#endif
