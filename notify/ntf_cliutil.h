/*
 * ntf_cliutil.h - small pieces the notify subcommands share (`bucketfs
 * events`, `bucketfs deadletter`): finding a mount's state directory and
 * reading a count from the command line.
 */
#ifndef NTF_CLIUTIL_H
#define NTF_CLIUTIL_H

#include <stdint.h>

/* The state directory of the bucketfs mount MNT, read from
 * MNT/.bucketfs/state.  Returns a malloc'ed absolute path (caller frees)
 * or NULL after printing "bucketfs CMD: why" to stderr. */
char *ntf_cliutil_state_of_mount(const char *cmd, const char *mnt);

/* A decimal unsigned number, digits only.  Returns 0 or -EINVAL. */
int ntf_cliutil_parse_u64(const char *s, uint64_t *out);

#endif
