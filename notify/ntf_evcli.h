/*
 * ntf_evcli.h - `bucketfs events`: replay and follow the embedded event log
 * of a mount (or of a state directory) as NDJSON, without a mount running.
 */
#ifndef NTF_EVCLI_H
#define NTF_EVCLI_H

/* bucketfs events [--state DIR | MNT] [--since SEQ] [--follow] [--bucket B]
 *                 [--event NAME]
 * Prints the records of the log entries with seq > SEQ (default 0) that
 * match the bucket and the event name (exact, or "prefix*"), one JSON line
 * each, in seq order; with --follow keeps printing new ones as they commit
 * (inotify on the WAL; no polling) until killed.  MNT is a mounted bucketfs:
 * its state directory is read from MNT/.bucketfs/state.  argv[0] is the
 * subcommand name.  Returns the exit status: 0, 1 for a runtime error, 2 for
 * a usage error (messages on stderr).  Main thread of a CLI process; uses
 * stdout and stderr. */
int ntf_evcli_main(int argc, char **argv);

#endif
