/*
 * fs_main.c - entry point of the `bucketfs` command.
 */
#include <stdio.h>

#include "fs_cli.h"

int main(int argc, char **argv)
{
	if (argc > 1) {
		fs_cli_fn fn = fs_cli_find(argv[1]);
		if (fn)
			return fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "usage: bucketfs SRC MNT [-f] [-d] [-o opt[,opt...]]\n");
	fs_cli_usage(stderr);
	return 2;
}
