/*
 * sel_main.c - a stand-alone `sel-run` binary around sel_cli_main, so the
 * engine's data-driven tests and benchmark need neither FUSE nor the other
 * parts: `sel-run FILE EXPRESSION [options]` == `bucketfs select ...`.
 */
#include "select.h"

int main(int argc, char **argv)
{
	return sel_cli_main(argc, argv);
}
