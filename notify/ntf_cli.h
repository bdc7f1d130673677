/*
 * ntf_cli.h - the notify subcommands of `bucketfs` that work without a
 * mount: check-config (validate a NotificationConfiguration) and match
 * (dry-run which targets an event would reach).  Wired into fs/fs_cli.c.
 */
#ifndef NTF_CLI_H
#define NTF_CLI_H

/* bucketfs check-config [--region R] [--target ID:TYPE]... FILE.xml|-
 * Prints "valid" and returns 0, or prints "<S3ErrorCode>: <message>" on
 * stdout and returns 1; usage errors go to stderr with 2.  --target lists
 * the existing targets (default: just the embedded local:sqlite),
 * --region the server's region (default us-east-1).  argv[0] is the
 * subcommand name.  Single-threaded use only (writes stdio). */
int ntf_cli_check_config(int argc, char **argv);

/* bucketfs match [--region R] [--target ID:TYPE]... FILE.xml EVENT KEY
 * Prints, sorted and one per line, the ID:TYPE of every target that
 * receives EVENT (a single event name or MinIO alias) for the raw KEY;
 * nothing when none.  Returns 0; 1 with "<S3ErrorCode>: <message>" when
 * the document or the event name is invalid; 2 on usage errors. */
int ntf_cli_match(int argc, char **argv);

#endif
