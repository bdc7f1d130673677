/*
 * fs_etagmem.c - the eTags hashed lately; see fs_etagmem.h.
 *
 * Each slot is a seqlock: seq is odd while the writer is in it, and a
 * reader that sees it odd, or changed by the end of its read, takes the
 * slot as a miss (the file is then hashed again, which is only slower).
 * With a mutex instead, a FUSE thread that met the hasher inside it slept,
 * and waking it on its idle CPU cost 30-40 us, about 110 times in 20 000
 * creates (pin=split).
 *
 * Without fences (GCC refuses them under ThreadSanitizer): every field is
 * an atomic, written with release and read with acquire.  A reader that
 * reads any field from a write in progress synchronises with that store,
 * so its second look at seq sees the odd value or a later one (Boehm, "Can
 * seqlocks get along with programming language memory models?", 2012).
 * On x86 all of it compiles to plain moves.
 */
#include "fs_etagmem.h"

#include "cmn_md5.h"
#include "cmn_time.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* 4 MiB, two huge pages.  Direct-mapped, so of the files hashed lately
 * a share is pushed out by later ones: about 7% of 10 000 here (26% with
 * 16 384 slots), each hashed again when its GET needs the eTag. */
#define ETAGMEM_SLOTS 65536
#define ETAGMEM_HUGE  (2u << 20)

/* One cache line: a lookup is a cache miss (the slot is random, the table
 * larger than a core's L2), and with 72-byte slots it was two.  st_dev is
 * 32 bits on Linux (the kernel's dev_t, new_encode_dev); the MD5 is kept
 * as its 16 bytes.  The ctime as well as the mtime: setting the mtime
 * back (cp -p, touch -r) moves the ctime, which no call sets back.
 * hashed: the write clock the hashing began at (fs_inode.h). */
struct etagmem_slot {
	_Alignas(64) _Atomic uint32_t seq;
	_Atomic uint32_t dev;
	_Atomic uint64_t ino, size, mtime_ns, ctime_ns;
	_Atomic uint64_t md5[2];
	_Atomic uint64_t hashed;
};
_Static_assert(sizeof(struct etagmem_slot) == 64, "a slot is a line");

struct fs_etagmem {
	struct etagmem_slot slot[ETAGMEM_SLOTS];
};

static size_t table_bytes(void)
{
	size_t n = sizeof(struct fs_etagmem);
	return (n + ETAGMEM_HUGE - 1) / ETAGMEM_HUGE * ETAGMEM_HUGE;
}

/* In huge pages (MADV_HUGEPAGE): every lookup lands on a random slot, and
 * with 4 KiB pages it was a TLB miss as well as a cache miss (a VM's page
 * walk is two walks); the lookup's share of a GET's FUSE-thread time went
 * from 4.2-5.4% to 2.1-3.0%.  Faulted in now (MADV_POPULATE_WRITE, Linux
 * 5.14): a huge page is zeroed whole at its first write, and on the
 * development VM the hasher spent 27 ms doing that inside the first burst
 * of creates; at mount nobody waits on it.  mmap'ed, so zeroed. */
struct fs_etagmem *fs_etagmem_new(void)
{
	size_t len = table_bytes();
	/* Over-allocate by a huge page to align the start on one. */
	char *p = mmap(NULL, len + ETAGMEM_HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)p + ETAGMEM_HUGE - 1) &
		      ~(uintptr_t)(ETAGMEM_HUGE - 1);
	size_t head = (size_t)(a - (uintptr_t)p);
	if (head)
		munmap(p, head);
	munmap((char *)a + len, ETAGMEM_HUGE - head); /* never 0 bytes */
#ifdef MADV_HUGEPAGE
	(void)madvise((void *)a, len, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	(void)madvise((void *)a, len, MADV_POPULATE_WRITE);
#endif
	return (struct fs_etagmem *)a;
}

void fs_etagmem_free(struct fs_etagmem *m)
{
	if (m)
		munmap(m, table_bytes());
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				       : -1;
}

/* 32 lowercase hex digits to 16 bytes; false when they are not. */
static bool hex_to_md5(const char hex[33], unsigned char md5[16])
{
	for (int i = 0; i < 16; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		md5[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static const struct etagmem_slot *slot_of(const struct fs_etagmem *m,
					  dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) *
		     0x9e3779b97f4a7c15ull;
	_Static_assert(ETAGMEM_SLOTS == 1 << 16, "slot = top 16 bits");
	return &m->slot[h >> 48];
}

void fs_etagmem_prefetch(const struct fs_etagmem *m, dev_t dev, ino_t ino)
{
	if (m)
		__builtin_prefetch(slot_of(m, dev, ino), 0, 3);
}

bool fs_etagmem_get(const struct fs_etagmem *m, const struct stat *st,
		    uint64_t changed, char out[33])
{
	if (!m || changed == UINT64_MAX)
		return false;
	/* The atomics are only read, but C11 loads take non-const. */
	struct etagmem_slot *s =
		(struct etagmem_slot *)slot_of(m, st->st_dev, st->st_ino);
	const memory_order acq = memory_order_acquire;
	uint32_t seq = atomic_load_explicit(&s->seq, acq);
	if (seq & 1)
		return false;
	uint32_t dev = atomic_load_explicit(&s->dev, acq);
	uint64_t ino = atomic_load_explicit(&s->ino, acq);
	uint64_t size = atomic_load_explicit(&s->size, acq);
	uint64_t mtime = atomic_load_explicit(&s->mtime_ns, acq);
	uint64_t ctime = atomic_load_explicit(&s->ctime_ns, acq);
	uint64_t md5[2];
	for (int i = 0; i < 2; i++)
		md5[i] = atomic_load_explicit(&s->md5[i], acq);
	uint64_t hashed = atomic_load_explicit(&s->hashed, acq);
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq)
		return false;
	if (hashed <= changed || ino != (uint64_t)st->st_ino ||
	    dev != (uint64_t)st->st_dev ||
	    size != (uint64_t)st->st_size ||
	    mtime != (uint64_t)cmn_time_ns(&st->st_mtim) ||
	    ctime != (uint64_t)cmn_time_ns(&st->st_ctim))
		return false;
	cmn_md5_hex((const unsigned char *)md5, out);
	return true;
}

void fs_etagmem_put(struct fs_etagmem *m, const struct stat *st,
		    uint64_t hashed, const char hex[33])
{
	uint64_t words[2];
	if ((uint64_t)st->st_dev > UINT32_MAX)
		return; /* not on Linux: remembered by no slot */
	if (!hex_to_md5(hex, (unsigned char *)words))
		return;
	struct etagmem_slot *s =
		(struct etagmem_slot *)slot_of(m, st->st_dev, st->st_ino);
	const memory_order rel = memory_order_release;
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_store_explicit(&s->dev, (uint32_t)st->st_dev, rel);
	atomic_store_explicit(&s->ino, (uint64_t)st->st_ino, rel);
	atomic_store_explicit(&s->size, (uint64_t)st->st_size, rel);
	atomic_store_explicit(&s->mtime_ns,
			      (uint64_t)cmn_time_ns(&st->st_mtim), rel);
	atomic_store_explicit(&s->ctime_ns,
			      (uint64_t)cmn_time_ns(&st->st_ctim), rel);
	for (int i = 0; i < 2; i++)
		atomic_store_explicit(&s->md5[i], words[i], rel);
	atomic_store_explicit(&s->hashed, hashed, rel);
	atomic_store_explicit(&s->seq, seq + 2, rel);
}
