/*
 * fs_cli.h - the `bucketfs` command: mount, or one of the subcommands that
 * work without a mount (select, check-config, match, events, deadletter).
 */
#ifndef FS_CLI_H
#define FS_CLI_H

/* A subcommand's entry point: argv[0] is the subcommand's name.  Returns
 * the process exit status. */
typedef int (*fs_cli_fn)(int argc, char **argv);

/* Find the subcommand called name, or NULL when argv is a mount request. */
fs_cli_fn fs_cli_find(const char *name);

/* Print the subcommand list to f (for --help). */
void fs_cli_usage(void *f);

#endif
