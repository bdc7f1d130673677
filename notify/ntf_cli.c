/*
 * ntf_cli.c - `bucketfs check-config` and `bucketfs match`; see
 * ntf_cli.h.  Thin wrappers: option parsing, reading the document, and
 * printing what ntf_rules says.
 */
#include "ntf_cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntf_event.h"
#include "ntf_limits.h"
#include "ntf_rules.h"

struct opts {
	const char *region;
	struct ntf_target_id *targets;
	size_t n_targets;
	char **pos; /* positional arguments */
	size_t n_pos;
};

static const struct ntf_target_id default_target = {"local", "sqlite"};

static int usage(const char *cmd, const char *extra)
{
	fprintf(stderr,
		"usage: bucketfs %s [--region R] [--target ID:TYPE]... "
		"FILE.xml|-%s\n",
		cmd, extra);
	return 2;
}

/* "--name VALUE" or "--name=VALUE"; returns the value or NULL. */
static const char *optval(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int add_target(struct opts *o, const char *arg)
{
	const char *idp, *type;
	size_t id_len;
	if (ntf_rules_target_parse(arg, &idp, &id_len, &type) != 0)
		return -EINVAL;
	char *id = strdup(arg);
	if (!id)
		return -ENOMEM;
	id[id_len] = '\0';
	o->targets[o->n_targets++] =
		(struct ntf_target_id){id, id + id_len + 1};
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	o->region = "us-east-1";
	o->targets = calloc((size_t)argc, sizeof(*o->targets));
	o->pos = calloc((size_t)argc, sizeof(*o->pos));
	if (!o->targets || !o->pos)
		return -ENOMEM;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (dashdash || argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
			o->pos[o->n_pos++] = argv[i];
		else if (strcmp(argv[i], "--") == 0)
			dashdash = true;
		else if ((v = optval(argc, argv, &i, "--region")))
			o->region = v;
		else if (!(v = optval(argc, argv, &i, "--target")) ||
			 add_target(o, v) != 0)
			return -EINVAL;
	}
	return 0;
}

static void free_opts(struct opts *o)
{
	for (size_t i = 0; o->targets && i < o->n_targets; i++)
		free((char *)o->targets[i].id);
	free(o->targets);
	free(o->pos);
}

/* Read at most NTF_LIMIT_XML_BYTES + 1 bytes, so an oversized document
 * reaches the parser and gets its S3 error. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = NTF_LIMIT_XML_BYTES + 1;
	char *buf = malloc(cap);
	*len = buf ? fread(buf, 1, cap, f) : 0;
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

/* Load and validate FILE; prints the error and returns 1 when invalid,
 * 2 when unreadable, 0 with *out set otherwise. */
static int load(const struct opts *o, const char *path, struct ntf_rules **out)
{
	struct ntf_rules_env env = {o->region, o->targets, o->n_targets};
	if (!o->n_targets) {
		env.targets = &default_target;
		env.n_targets = 1;
	}
	size_t len;
	char *xml = slurp(path, &len);
	if (!xml) {
		fprintf(stderr, "bucketfs: %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct ntf_rules_error err;
	int rc = ntf_rules_parse(xml, len, &env, out, &err);
	free(xml);
	if (rc == 0)
		return 0;
	printf("%s: %s\n", err.code, err.message);
	return 1;
}

int ntf_cli_check_config(int argc, char **argv)
{
	struct opts o = {0};
	struct ntf_rules *r = NULL;
	int rc = parse_opts(argc, argv, &o);
	if (rc || o.n_pos != 1) {
		rc = usage("check-config", "");
		goto out;
	}
	rc = load(&o, o.pos[0], &r);
	if (rc == 0)
		printf("valid\n");
out:
	ntf_rules_free(r);
	free_opts(&o);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int print_matches(const struct ntf_match *m, size_t n)
{
	char **lines = calloc(n ? n : 1, sizeof(*lines));
	size_t k = 0;
	int rc = lines ? 0 : 1;
	for (; rc == 0 && k < n; k++) {
		size_t l =
			strlen(m[k].target_id) + strlen(m[k].target_type) + 2;
		if (!(lines[k] = malloc(l)))
			rc = 1;
		else
			snprintf(lines[k], l, "%s:%s", m[k].target_id,
				 m[k].target_type);
	}
	if (rc == 0) {
		qsort(lines, n, sizeof(*lines), cmp_str);
		for (size_t i = 0; i < n; i++)
			printf("%s\n", lines[i]);
	}
	for (size_t i = 0; lines && i < k; i++)
		free(lines[i]);
	free(lines);
	return rc;
}

static int run_match(const struct ntf_rules *r, const char *event,
		     const char *key)
{
	enum ntf_event_name ev;
	if (ntf_event_from_str(event, strlen(event), &ev) != 0) {
		printf("InvalidArgument: A specified event is not supported "
		       "for notifications. (%s)\n",
		       event);
		return 1;
	}
	struct ntf_match m[NTF_LIMIT_MATCH];
	int n = ntf_rules_match(r, ev, key, strlen(key), m, 0, NTF_LIMIT_MATCH);
	return n < 0 ? 1 : print_matches(m, (size_t)n);
}

int ntf_cli_match(int argc, char **argv)
{
	struct opts o = {0};
	struct ntf_rules *r = NULL;
	int rc = parse_opts(argc, argv, &o);
	if (rc || o.n_pos != 3) {
		rc = usage("match", " EVENT KEY");
		goto out;
	}
	rc = load(&o, o.pos[0], &r);
	if (rc == 0)
		rc = run_match(r, o.pos[1], o.pos[2]);
out:
	ntf_rules_free(r);
	free_opts(&o);
	return rc;
}
