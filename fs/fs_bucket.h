/*
 * fs_bucket.h - what may live at the mount root.
 *
 * The top-level directories of the source directory are buckets, so their
 * names must be valid S3 bucket names (AWS's general-purpose bucket rules).
 */
#ifndef FS_BUCKET_H
#define FS_BUCKET_H

#include <stdbool.h>
#include <stddef.h>

/* True if name (len bytes, not necessarily NUL-terminated) is a valid S3
 * bucket name: 3-63 characters of a-z 0-9 . -, starting and ending with a
 * letter or digit, no "..", not an IPv4 address, none of the prefixes and
 * suffixes AWS reserves. */
bool fs_bucket_name_valid(const char *name, size_t len);

#endif
