/*
 * fs_recv.c - a worker polls /dev/fuse briefly before the workers sleep;
 * see fs_recv.h.
 */
#include "fs_recv.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "cmn_log.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static long elapsed_ns(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L +
	       (t.tv_nsec - t0->tv_nsec);
}

/* True when this process may run on two CPUs or more. */
static bool may_use_two_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return false;
	return CPU_COUNT(&set) >= 2;
}

void fs_recv_init(struct fs_recv *r, int devfd, unsigned spin_us)
{
	r->spin_ns = 0;
	r->epfd = -1;
	atomic_init(&r->spinning, false);
	if (spin_us == 0 || !may_use_two_cpus())
		return;
	int flags = fcntl(devfd, F_GETFL);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (flags < 0 || epfd < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, devfd, &ev) != 0 ||
	    fcntl(devfd, F_SETFL, flags | O_NONBLOCK) != 0) {
		cmn_warn("spin: cannot poll /dev/fuse (%s): workers sleep in "
			 "read(2)", strerror(errno));
		if (epfd >= 0)
			close(epfd);
		return;
	}
	r->epfd = epfd;
	r->spin_ns = (long)spin_us * 1000L;
}

void fs_recv_fini(struct fs_recv *r)
{
	if (r->epfd >= 0)
		close(r->epfd);
	r->epfd = -1;
	r->spin_ns = 0;
}

/* Poll the device for up to spin_ns.  Returns what read(2) returned, or
 * -1 with EAGAIN when nothing came. */
static ssize_t spin(const struct fs_recv *r, int devfd, void *buf,
		    size_t len)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = read(devfd, buf, len);
		if (n >= 0 || errno != EAGAIN)
			return n;
		if (elapsed_ns(&t0) >= r->spin_ns)
			return -1;
		cpu_relax();
	}
}

ssize_t fs_recv_read(struct fs_recv *r, int devfd, void *buf, size_t len)
{
	if (r->spin_ns == 0)
		return read(devfd, buf, len);
	for (;;) {
		ssize_t n = read(devfd, buf, len);
		if (n >= 0 || errno != EAGAIN)
			return n;
		/* One spinner at a time: two would take both CPUs of a small
		 * machine from the programs they are waiting for. */
		if (!atomic_exchange_explicit(&r->spinning, true,
					      memory_order_acquire)) {
			n = spin(r, devfd, buf, len);
			int err = errno;
			atomic_store_explicit(&r->spinning, false,
					      memory_order_release);
			if (n >= 0 || err != EAGAIN)
				return errno = err, n;
		}
		/* Level-triggered and exclusive: one sleeper per request.
		 * A sleeper may still find the request taken (EAGAIN above)
		 * and sleep again.  EINTR goes back to libfuse, which looks
		 * whether the session was told to exit. */
		struct epoll_event ev;
		if (epoll_wait(r->epfd, &ev, 1, -1) < 0)
			return -1;
	}
}
