/*
 * fs_main.c - entry point of the `bucketfs` command: a subcommand
 * (select, check-config, …) or a mount.
 */
#include <stdio.h>
#include <string.h>

#include "cmn_log.h"
#include "fs_cli.h"
#include "fs_mount.h"
#include "fs_opts.h"

static int mount_main(int argc, char **argv)
{
	struct fs_opts o = {0};
	char err[1024];
	int status = 2;

	switch (fs_opts_parse(argc, argv, &o, err, sizeof(err))) {
	case FS_OPTS_HELP:
		fs_opts_usage(stdout);
		printf("\ncommands:\n");
		fs_cli_usage(stdout);
		status = 0;
		break;
	case FS_OPTS_VERSION:
		printf("bucketfs %s\n", BUCKETFS_VERSION);
		status = 0;
		break;
	case FS_OPTS_ERROR:
		fprintf(stderr, "bucketfs: %s\n", err);
		break;
	case FS_OPTS_OK:
		if (fs_opts_check(&o, err, sizeof(err)) != 0) {
			fprintf(stderr, "bucketfs: %s\n", err);
			status = 1;
			break;
		}
		cmn_log_setup("bucketfs", o.debug ? CMN_LOG_DEBUG : CMN_LOG_INFO);
		status = fs_mount_run(&o);
		break;
	}
	fs_opts_free(&o);
	return status;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		fs_cli_fn fn = fs_cli_find(argv[1]);
		if (fn)
			return fn(argc - 1, argv + 1);
	}
	return mount_main(argc, argv);
}
