/*
 * ntf_dlcli.h - `bucketfs deadletter`: list, retry and purge the events
 * that a delivery target refused for good (or after max_attempts), with or
 * without the daemon running.
 */
#ifndef NTF_DLCLI_H
#define NTF_DLCLI_H

/* Name of the file in the state directory that the command touches after
 * a change, so a running daemon re-reads its counts and wakes its
 * workers (it watches the directory with inotify). */
#define NTF_DLCLI_KICK "deliver.kick"

/* bucketfs deadletter list|retry|purge (--state DIR | MNT)
 *                     [--target ID:TYPE] [--limit N]
 * list prints one JSON object per dead letter (target, seq, attempts,
 * failedTime, error, eventName, bucket, key, record); retry puts them back
 * at their place in their queue with zero attempts; purge deletes them.
 * MNT is a mounted bucketfs (its state directory is read from
 * MNT/.bucketfs/state).  argv[0] is the subcommand name.  Returns the exit
 * status: 0, 1 for a runtime error, 2 for a usage error (messages on
 * stderr).  Main thread of a CLI process. */
int ntf_dlcli_main(int argc, char **argv);

#endif
