/*
 * ntf_cliutil.c - shared helpers of the notify subcommands; see
 * ntf_cliutil.h.
 */
#include "ntf_cliutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ntf_cliutil_state_of_mount(const char *cmd, const char *mnt)
{
	char path[PATH_MAX], buf[PATH_MAX + 2];
	if (snprintf(path, sizeof(path), "%s/.bucketfs/state", mnt) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "bucketfs %s: %s: path too long\n", cmd, mnt);
		return NULL;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr,
			"bucketfs %s: %s is not a bucketfs mount (%s: %s)\n",
			cmd, mnt, path, strerror(errno));
		return NULL;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (buf[0] != '/' || n >= PATH_MAX || memchr(buf, '\n', n)) {
		fprintf(stderr, "bucketfs %s: %s: not a state directory\n",
			cmd, path);
		return NULL;
	}
	return strdup(buf);
}

int ntf_cliutil_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}
