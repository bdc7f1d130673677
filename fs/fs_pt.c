/*
 * fs_pt.c - FUSE passthrough (and the INIT flags libfuse 3.14 cannot set)
 * through libfuse 3.14's custom I/O; see fs_pt.h.
 *
 * The layouts below are the kernel's (include/uapi/linux/fuse.h, protocol
 * 7.40); Debian 12's headers predate them, so the few constants and
 * offsets needed are defined here.
 */
#include "fs_pt.h"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PT_OP_INIT           26
#define PT_INIT_EXT          (1u << 30)
#define PT_WRITEBACK_CACHE   (1u << 16)
#define PT_HANDLE_KILLPRIV_V2 (1u << 28)
#define PT_FLAGS2_PASSTHROUGH (1u << 5) /* FUSE_PASSTHROUGH = 1ULL << 37 */
#define PT_FOPEN_DIRECT_IO   (1u << 0)
#define PT_FOPEN_KEEP_CACHE  (1u << 1)
#define PT_FOPEN_PASSTHROUGH (1u << 7)

/* struct fuse_in_header is 40 bytes; fuse_init_in follows it. */
#define PT_IN_HDR            40
#define PT_INIT_IN_FLAGS     12
#define PT_INIT_IN_FLAGS2    16
/* struct fuse_out_header is 16 bytes; fuse_init_out follows it. */
#define PT_OUT_HDR           16
#define PT_INIT_OUT_FLAGS    12
#define PT_INIT_OUT_FLAGS2   32
#define PT_INIT_OUT_STACK    36 /* max_stack_depth; 40 is request_timeout */
#define PT_INIT_OUT_MIN      40
/* struct fuse_open_out { u64 fh; u32 open_flags; s32 backing_id; } */
#define PT_OPEN_OUT_SIZE     16

struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN  _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

static _Thread_local int pending_backing_id;

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

bool fs_pt_privileged(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return (data[CAP_SYS_ADMIN / 32].effective &
		(1u << (CAP_SYS_ADMIN % 32))) != 0;
}

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs_pt *pt = userdata;
	ssize_t n = fs_recv_read(&pt->recv, fd, buf, len);
	if (n >= PT_IN_HDR + PT_INIT_IN_FLAGS2 + 4 && !pt->init_seen) {
		const unsigned char *p = buf;
		if (get32(p + 4) == PT_OP_INIT) {
			uint32_t flags = get32(p + PT_IN_HDR + PT_INIT_IN_FLAGS);
			uint32_t flags2 =
				get32(p + PT_IN_HDR + PT_INIT_IN_FLAGS2);
			pt->kernel_offers = (flags & PT_INIT_EXT) &&
					    (flags2 & PT_FLAGS2_PASSTHROUGH);
			pt->kernel_killpriv = flags & PT_HANDLE_KILLPRIV_V2;
			pt->init_seen = true;
		}
	}
	return n;
}

/* Rewrite the INIT reply's flags to accept passthrough and to handle
 * privilege killing (see fs_pt.h).  The reply is the out header followed
 * by fuse_init_out, possibly split over iovecs; it is small, so it is
 * copied, patched and sent from one buffer. */
static ssize_t send_patched_init(struct fs_pt *pt, int fd, struct iovec *iov,
				 int count)
{
	unsigned char msg[512];
	size_t len = 0;
	for (int i = 0; i < count; i++) {
		if (len + iov[i].iov_len > sizeof(msg))
			return writev(fd, iov, count);
		memcpy(msg + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (len < PT_OUT_HDR + PT_INIT_OUT_MIN)
		return writev(fd, iov, count);
	unsigned char *out = msg + PT_OUT_HDR;
	uint32_t flags = get32(out + PT_INIT_OUT_FLAGS);
	if (pt->killpriv)
		flags |= PT_HANDLE_KILLPRIV_V2;
	if (pt->active) {
		flags = (flags | PT_INIT_EXT) & ~PT_WRITEBACK_CACHE;
		put32(out + PT_INIT_OUT_FLAGS2,
		      get32(out + PT_INIT_OUT_FLAGS2) | PT_FLAGS2_PASSTHROUGH);
		put32(out + PT_INIT_OUT_STACK, 1);
	}
	put32(out + PT_INIT_OUT_FLAGS, flags);
	return write(fd, msg, len);
}

/* Patch the fuse_open_out that ends an OPEN or CREATE reply. */
static ssize_t send_patched_open(int fd, struct iovec *iov, int count,
				 int id)
{
	struct iovec *last = &iov[count - 1];
	if (count < 2 || last->iov_len < PT_OPEN_OUT_SIZE)
		return writev(fd, iov, count);
	unsigned char tail[PT_OPEN_OUT_SIZE];
	memcpy(tail, (unsigned char *)last->iov_base + last->iov_len -
			     PT_OPEN_OUT_SIZE,
	       sizeof(tail));
	uint32_t oflags = get32(tail + 8);
	oflags = (oflags | PT_FOPEN_PASSTHROUGH) &
		 ~(PT_FOPEN_KEEP_CACHE | PT_FOPEN_DIRECT_IO);
	put32(tail + 8, oflags);
	put32(tail + 12, (uint32_t)id);

	struct iovec v[8];
	if (count + 1 > (int)(sizeof(v) / sizeof(*v)))
		return writev(fd, iov, count);
	for (int i = 0; i < count - 1; i++)
		v[i] = iov[i];
	v[count - 1].iov_base = last->iov_base;
	v[count - 1].iov_len = last->iov_len - PT_OPEN_OUT_SIZE;
	v[count].iov_base = tail;
	v[count].iov_len = sizeof(tail);
	return writev(fd, v, count + 1);
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs_pt *pt = userdata;
	if (!pt->init_patched && pt->init_seen) {
		pt->init_patched = true;
		if (pt->active || pt->killpriv)
			return send_patched_init(pt, fd, iov, count);
		return writev(fd, iov, count);
	}
	int id = pending_backing_id;
	if (id > 0) {
		pending_backing_id = 0;
		return send_patched_open(fd, iov, count, id);
	}
	return writev(fd, iov, count);
}

int fs_pt_install(struct fs_pt *pt, struct fuse_session *se,
		  unsigned spin_us)
{
	static const struct fuse_custom_io io = {
		.writev = pt_writev,
		.read = pt_read,
	};
	pt->devfd = fuse_session_fd(se);
	fs_recv_init(&pt->recv, pt->devfd, spin_us);
	/* libfuse 3.14 hands custom I/O callbacks the session's userdata
	 * (the pointer given to fuse_session_new()), so the daemon context
	 * must start with its struct fs_pt: see struct fs_ctx. */
	return fuse_session_custom_io(se, &io, pt->devfd);
}

void fs_pt_fini(struct fs_pt *pt)
{
	if (pt->devfd >= 0)
		fs_recv_fini(&pt->recv);
	pt->devfd = -1;
}

bool fs_pt_negotiate(struct fs_pt *pt)
{
	pt->active = pt->mode != FS_PT_OFF && pt->kernel_offers &&
		     fs_pt_privileged();
	pt->killpriv = pt->kernel_killpriv;
	return pt->active;
}

int fs_pt_backing_open(struct fs_pt *pt, int fd)
{
	struct pt_backing_map map = {.fd = fd};
	int id = ioctl(pt->devfd, PT_IOC_BACKING_OPEN, &map);
	return id > 0 ? id : -errno;
}

void fs_pt_backing_close(struct fs_pt *pt, int id)
{
	uint32_t v = (uint32_t)id;
	(void)ioctl(pt->devfd, PT_IOC_BACKING_CLOSE, &v);
}

void fs_pt_set_reply(int id)
{
	pending_backing_id = id;
}
