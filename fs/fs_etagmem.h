/*
 * fs_etagmem.h - the eTags hashed lately, remembered by inode.
 *
 * An event that needs the eTag of a file unchanged since it was hashed (a
 * GET after the Put, a copy) finds it here without a syscall.  A fixed
 * table, direct-mapped by (st_dev, st_ino): a collision replaces the older
 * entry.  An entry is valid while the file keeps the size, mtime and ctime
 * it was hashed at, and (the caller tells) has not changed through the
 * mount since the hashing began: the write clock of fs_inode.h.  Readers
 * take no lock; there is one writer (the hasher thread).
 */
#ifndef FS_ETAGMEM_H
#define FS_ETAGMEM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct fs_etagmem;

/* The table, in huge pages where the kernel gives them, faulted in now;
 * NULL when memory is short. */
struct fs_etagmem *fs_etagmem_new(void);
void fs_etagmem_free(struct fs_etagmem *m);

/* The 32 hex digits (and a NUL) remembered for the file st describes:
 * false when none is, or for another size, mtime or ctime, or one hashed
 * at a clock not after `changed` (fs_inode_last_change).  Any thread. */
bool fs_etagmem_get(const struct fs_etagmem *m, const struct stat *st,
		    uint64_t changed, char out[33]);

/* Start loading the slot of (dev, ino) into the cache, so that a
 * fs_etagmem_get for that file some syscalls later does not wait for
 * memory.  Any thread; m may be NULL. */
void fs_etagmem_prefetch(const struct fs_etagmem *m, dev_t dev, ino_t ino);

/* Remember hex (32 lowercase hex digits, else nothing is remembered) for
 * the file as st describes it, hashed from write clock `hashed` on
 * (fs_inode_clock before it was read).  One thread only: the slots have a
 * single writer. */
void fs_etagmem_put(struct fs_etagmem *m, const struct stat *st,
		    uint64_t hashed, const char hex[33]);

#endif
