/*
 * fs_cli.c - the table of subcommands.  Each part exports its command's
 * entry point; this file only maps names to them, so adding a command is
 * one row here.
 */
#include "fs_cli.h"
#include "select.h"
#include "ntf_cli.h"
#include "ntf_dlcli.h"
#include "ntf_evcli.h"

#include <stdio.h>
#include <string.h>

struct fs_cli_cmd {
	const char *name;
	fs_cli_fn fn;
	const char *help;
};

static const struct fs_cli_cmd cmds[] = {
	{"select", sel_cli_main, "run an S3 Select query on a file"},
	{"check-config", ntf_cli_check_config,
	 "validate a NotificationConfiguration XML document"},
	{"match", ntf_cli_match,
	 "list the targets an event on a key would reach"},
	{"events", ntf_evcli_main, "replay and follow the embedded event log"},
	{"deadletter", ntf_dlcli_main,
	 "list, retry or purge events a delivery target refused"},
	{NULL, NULL, NULL},
};

fs_cli_fn fs_cli_find(const char *name)
{
	for (const struct fs_cli_cmd *c = cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c->fn;
	return NULL;
}

void fs_cli_usage(void *f)
{
	for (const struct fs_cli_cmd *c = cmds; c->name; c++)
		fprintf(f, "  bucketfs %-13s %s\n", c->name, c->help);
}
