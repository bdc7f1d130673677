/*
 * ntf_dlcli.c - `bucketfs deadletter`; see ntf_dlcli.h.
 *
 * Works on STATE/events.db through ntf_store_admin_open, which shares
 * the database with a running daemon (SQLite serialises the two writers),
 * then touches STATE/deliver.kick so the daemon notices at once.
 */
#include "ntf_dlcli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_time.h"
#include "ntf_cliutil.h"
#include "ntf_store.h"
#include "ntf_utf8.h"

struct dlcli {
	const char *cmd, *state, *mnt, *target;
	size_t limit;
};

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "bucketfs deadletter: %s\n", msg);
	fputs("usage: bucketfs deadletter list|retry|purge (--state DIR | "
	      "MNT)\n"
	      "                           [--target ID:TYPE] [--limit N]\n",
	      stderr);
	return 2;
}

static int parse_limit(const char *s, size_t *out)
{
	uint64_t v;
	int rc = ntf_cliutil_parse_u64(s, &v);
	if (rc == 0)
		*out = (size_t)v;
	return rc;
}

static int parse_args(int argc, char **argv, struct dlcli *c)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (strcmp(a, "--state") == 0 && has_val) {
			c->state = argv[++i];
		} else if (strcmp(a, "--target") == 0 && has_val) {
			c->target = argv[++i];
		} else if (strcmp(a, "--limit") == 0 && has_val) {
			if (parse_limit(argv[++i], &c->limit) < 0)
				return usage("--limit takes a number");
		} else if (a[0] == '-') {
			return usage("unknown option");
		} else if (!c->cmd) {
			c->cmd = a;
		} else if (!c->mnt) {
			c->mnt = a;
		} else {
			return usage("too many arguments");
		}
	}
	if (!c->cmd ||
	    (strcmp(c->cmd, "list") != 0 && strcmp(c->cmd, "retry") != 0 &&
	     strcmp(c->cmd, "purge") != 0))
		return usage("give list, retry or purge");
	if (!c->state == !c->mnt)
		return usage("give --state DIR or a mount point, not both");
	if (c->target && !strchr(c->target, ':'))
		return usage("--target takes ID:TYPE");
	return 0;
}

/* s (NULL: "") with each byte that is not valid UTF-8 replaced by U+FFFD,
 * as the record escaper writes it (ntf_record.c): keys and bucket names
 * are raw file-name bytes, which jansson refuses.  Malloc'ed, NULL when
 * out of memory. */
static char *utf8_fixed(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *out = malloc(3 * len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = ntf_utf8_seq((const unsigned char *)s + i, len - i);
		if (n) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}

static int print_dead(void *arg, const char *target,
		      const struct ntf_store_entry *e, unsigned attempts,
		      int64_t failed_ms, const char *error)
{
	char t[CMN_TIME_ISO_SIZE];
	cmn_time_iso_ms(failed_ms, t);
	char *bucket = utf8_fixed(e->bucket), *key = utf8_fixed(e->key);
	/* The error may end in a character cut by its 256-byte buffer. */
	char *why = utf8_fixed(error);
	json_t *rec = json_loadb(e->record, e->record_len, 0, NULL);
	json_t *o = NULL;
	int rc = -ENOMEM;
	if (!bucket || !key || !why) {
		json_decref(rec);
		goto out;
	}
	o = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:o*}",
		      "target", target, "seq", (json_int_t)e->seq, "attempts",
		      (int)attempts, "failedTime", t, "error", why, "eventName",
		      e->event_name, "bucket", bucket, "key", key, "record",
		      rec);
	if (!o)
		goto out;
	rc = json_dumpf(o, stdout, JSON_COMPACT) == 0 ? 0 : -EIO;
	if (rc == 0 && putchar('\n') == EOF)
		rc = -EIO;
out:
	json_decref(o);
	free(why);
	free(key);
	free(bucket);
	return rc;
}

/* Tell a running daemon (if any) that the store changed: it watches the
 * state directory for IN_CLOSE_WRITE of deliver.kick (ntf_dlctl.c), so
 * opening the file for writing and closing it is the whole message; it
 * is never written nor truncated.  O_NOFOLLOW: a symbolic link planted
 * there must not make a root-run command open its target (which O_TRUNC
 * used to empty) -- and an event on the target would not reach the
 * watch anyway.  O_NONBLOCK: a FIFO there must not hang the command.
 * Returns 0 or -errno, path filled for the message. */
static int kick(const char *state, char *path, size_t size)
{
	if (snprintf(path, size, "%s/%s", state, NTF_DLCLI_KICK) >= (int)size)
		return -ENAMETOOLONG;
	int fd = open(path,
		      O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		      0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* After retry or purge: the change is made, whether or not a running
 * daemon can be told.  Returns the exit status. */
static int kick_or_say(const char *state)
{
	char path[PATH_MAX];
	int rc = kick(state, path, sizeof(path));
	if (rc == 0)
		return 0;
	fprintf(stderr,
		"bucketfs deadletter: %s: %s: the change is made in the "
		"store, but a running daemon was not told\n",
		path,
		rc == -ELOOP ? "a symbolic link, not followed" : strerror(-rc));
	return 1;
}

static int run(const struct dlcli *c, struct ntf_store *s)
{
	int64_t n;
	if (strcmp(c->cmd, "list") == 0) {
		int rc = ntf_store_deadletter_list(s, c->target, c->limit,
						   print_dead, NULL);
		if (rc < 0)
			fprintf(stderr, "bucketfs deadletter: %s\n",
				strerror(-rc));
		return rc < 0 ? 1 : 0;
	}
	bool retry = strcmp(c->cmd, "retry") == 0;
	n = retry ? ntf_store_deadletter_retry(s, c->target)
		  : ntf_store_deadletter_purge(s, c->target);
	if (n < 0) {
		fprintf(stderr, "bucketfs deadletter: %s\n", strerror((int)-n));
		return 1;
	}
	printf("%" PRId64 " dead letters %s\n", n,
	       retry ? "queued again" : "deleted");
	return 0;
}

int ntf_dlcli_main(int argc, char **argv)
{
	struct dlcli c = {0};
	int rc = parse_args(argc, argv, &c);
	if (rc)
		return rc;
	char *state = NULL;
	if (c.mnt && !(state = ntf_cliutil_state_of_mount("deadletter", c.mnt)))
		return 1;
	if (state)
		c.state = state;
	struct ntf_store *s = NULL;
	char *msg = NULL;
	int err = ntf_store_admin_open(c.state, &s, &msg);
	if (err < 0) {
		fprintf(stderr, "bucketfs deadletter: %s: %s\n", c.state,
			msg ? msg : strerror(-err));
		free(msg);
		free(state);
		return 1;
	}
	rc = run(&c, s);
	ntf_store_close(s);
	if (rc == 0 && strcmp(c.cmd, "list") != 0)
		rc = kick_or_say(c.state);
	free(state);
	return rc;
}
