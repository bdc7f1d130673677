/*
 * ntf_evcli.c - `bucketfs events`: replay and follow the embedded event log.
 *
 * Reads STATE/events.db through a read-only ntf_store_reader, so it works
 * while the daemon writes (WAL readers never block the writer) and when no
 * mount runs at all.  --follow registers the inotify watch before the first
 * query, then alternates "print everything after the last seq seen" and
 * "sleep in poll() until the WAL changes": no timer, no busy loop.
 */
#include "ntf_evcli.h"
#include "ntf_cliutil.h"
#include "ntf_store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows per query, so a long replay never holds one read transaction (and
 * with it the WAL) for the whole output. */
#define SCAN_CHUNK 1000

struct evcli {
	const char *state, *mnt;
	bool follow;
	struct ntf_store_filter filter;
};

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "bucketfs events: %s\n", msg);
	fputs("usage: bucketfs events (--state DIR | MNT) [--since SEQ] "
	      "[--follow]\n"
	      "                       [--bucket B] [--event NAME|PREFIX*]\n",
	      stderr);
	return 2;
}


/* Parse argv into c.  Returns 0 or the usage exit status. */
static int parse_args(int argc, char **argv, struct evcli *c)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0) {
			c->follow = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(NULL);
			return 2;
		} else if (a[0] == '-' && !has_val) {
			return usage("missing value after an option");
		} else if (strcmp(a, "--state") == 0) {
			c->state = argv[++i];
		} else if (strcmp(a, "--bucket") == 0) {
			c->filter.bucket = argv[++i];
		} else if (strcmp(a, "--event") == 0) {
			c->filter.event = argv[++i];
		} else if (strcmp(a, "--since") == 0) {
			if (ntf_cliutil_parse_u64(argv[++i], &c->filter.since))
				return usage("--since needs a sequence number "
					     "(a non-negative integer)");
		} else if (a[0] == '-') {
			return usage("unknown option");
		} else if (c->mnt) {
			return usage("more than one mount point");
		} else {
			c->mnt = a;
		}
	}
	if (!c->state == !c->mnt)
		return usage(c->state ? "give --state DIR or MNT, not both"
				      : "give --state DIR or a mount point");
	return 0;
}

/* Read MNT/.bucketfs/state (an absolute path and a newline).  Returns a
 * malloc'ed path or NULL after printing why. */

static int print_record(void *arg, const struct ntf_store_entry *e,
			unsigned attempts)
{
	if (fwrite(e->record, 1, e->record_len, stdout) != e->record_len ||
	    putchar('\n') == EOF)
		return -EIO;
	return 0;
}

/* Print every matching entry after f->since, advancing it. */
static int print_new(struct ntf_store_reader *r, struct ntf_store_filter *f)
{
	for (;;) {
		uint64_t before = f->since;
		int err = ntf_store_reader_scan(r, f, SCAN_CHUNK, print_record,
						NULL, &f->since);
		if (err)
			return err;
		if (fflush(stdout) == EOF)
			return -errno;
		if (f->since == before)
			return 0;
	}
}

static int open_reader(const char *state, struct ntf_store_reader **r)
{
	char *msg = NULL;
	int err = ntf_store_reader_open(state, r, &msg);
	if (err == -ENOENT)
		fprintf(stderr,
			"bucketfs events: no event log in %s (no events.db)\n",
			state);
	else if (err)
		fprintf(stderr, "bucketfs events: %s\n",
			msg ? msg : strerror(-err));
	free(msg);
	return err;
}

static int run(struct evcli *c)
{
	struct ntf_store_reader *r;
	int err = open_reader(c->state, &r);
	if (err)
		return 1;
	if (c->follow && (err = ntf_store_reader_fd(r)) >= 0)
		err = 0;
	while (!err) {
		err = print_new(r, &c->filter);
		if (err || !c->follow)
			break;
		err = ntf_store_reader_wait(r);
	}
	ntf_store_reader_close(r);
	if (err == -EPIPE)
		return 0; /* the reader of our output went away */
	if (err)
		fprintf(stderr, "bucketfs events: %s\n", strerror(-err));
	return err ? 1 : 0;
}

int ntf_evcli_main(int argc, char **argv)
{
	struct evcli c = {0};
	int rc = parse_args(argc, argv, &c);
	if (rc)
		return rc;
	char *state = NULL;
	if (c.mnt && !(state = ntf_cliutil_state_of_mount("events", c.mnt)))
		return 1;
	if (state)
		c.state = state;
	rc = run(&c);
	free(state);
	return rc;
}
