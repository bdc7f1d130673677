/*
 * cmn_time.h - wall-clock time in milliseconds and its ISO-8601 form;
 * monotonic deadlines for timed waits.
 *
 * Event records carry eventTime as UTC with exactly three fractional
 * digits and a literal Z ("2026-11-25T10:00:00.123Z").  The formatter does
 * its own calendar arithmetic instead of calling gmtime_r(), which takes
 * glibc's time-zone lock: it runs once per event on FUSE threads.
 */
#ifndef CMN_TIME_H
#define CMN_TIME_H

#include <stdint.h>
#include <time.h>

/* Bytes of "YYYY-MM-DDTHH:MM:SS.mmmZ" plus the terminating NUL. */
#define CMN_TIME_ISO_SIZE 25

/* Milliseconds since the Unix epoch, from CLOCK_REALTIME.  Thread-safe. */
int64_t cmn_time_now_ms(void);

/* The CLOCK_MONOTONIC time ms milliseconds from now: the deadline of a
 * pthread_cond_timedwait() on a condition variable set to that clock. */
struct timespec cmn_time_deadline_ms(int64_t ms);

/* Write ms (milliseconds since the epoch, UTC) to out as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" with its NUL.  Years outside 0..9999 are
 * clamped to the first/last millisecond of that range, so the output
 * always has the fixed width.  Returns 24, the length written.  Pure:
 * thread-safe, never fails. */
int cmn_time_iso_ms(int64_t ms, char out[CMN_TIME_ISO_SIZE]);

/* t in nanoseconds (file times, compared and stored as one number). */
static inline int64_t cmn_time_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

#endif
