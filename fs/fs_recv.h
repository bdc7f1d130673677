/*
 * fs_recv.h - how the FUSE workers wait for requests.
 *
 * A worker that sleeps in read(2) on /dev/fuse is woken by the kernel
 * when a request arrives.  When the request comes from a process on
 * another CPU, that wakeup is an inter-processor interrupt, and on a
 * virtual machine whose idle vCPUs halt it costs a VM exit and a host
 * wakeup: measured on a 2-vCPU VM, a FUSE round trip took ~10 us with
 * client and daemon on one vCPU and 40-60 us across vCPUs, which made a
 * GET three times slower with default scheduling than pinned.
 *
 * So one worker at a time -- the one that has just replied, while its
 * caches are warm -- polls the device for a short while (spin=USEC,
 * default 50 us) before going to sleep: a program issuing requests back
 * to back (create, write, close, the next file) finds it awake.  The
 * other workers wait in epoll with one shared, exclusive-wakeup instance,
 * so a request wakes at most one of them.  Spinning is off when the
 * daemon may run on one CPU only (a 1-CPU machine, taskset): there the
 * spinner would only delay the caller it is waiting for.
 */
#ifndef FS_RECV_H
#define FS_RECV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default of -o spin=USEC, and its upper bound. */
#define FS_RECV_SPIN_US_DEFAULT 50
#define FS_RECV_SPIN_US_MAX 10000

struct fs_recv {
	long spin_ns;        /* 0: plain blocking reads */
	int epfd;            /* epoll on the device when spinning, else -1 */
	atomic_bool spinning; /* a worker is polling the device */
};

/* Set up receiving on devfd with up to spin_us of polling (0: none).
 * Falls back to blocking reads, and says so on stderr, when polling
 * cannot be set up; never fails. */
void fs_recv_init(struct fs_recv *r, int devfd, unsigned spin_us);

/* read(2) of the next request from devfd, the custom-I/O read contract:
 * the byte count, or -1 with errno (never EAGAIN). */
ssize_t fs_recv_read(struct fs_recv *r, int devfd, void *buf, size_t len);

void fs_recv_fini(struct fs_recv *r);

#endif
