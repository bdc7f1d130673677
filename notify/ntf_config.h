/*
 * ntf_config.h - delivery target configuration: an INI file plus
 * environment variables, checked against the options tables of the
 * compiled-in target types.
 *
 *   [webhook "primary"]                  (also [webhook:primary])
 *   endpoint   = https://hooks.example/s3
 *   auth_token = ...
 *   queue_limit = 100000
 *
 *   BUCKETFS_NOTIFY_WEBHOOK_ENABLE_PRIMARY=on
 *   BUCKETFS_NOTIFY_WEBHOOK_ENDPOINT_PRIMARY=http://...
 *
 * A target exists when it has a section in the file (unless enable=off)
 * or when BUCKETFS_NOTIFY_<TYPE>_ENABLE_<ID>=on; an unsuffixed variable
 * set (BUCKETFS_NOTIFY_WEBHOOK_ENABLE=on) makes the target with ID "_", as
 * MinIO does.  The environment overrides the file key by key.
 *
 * Every key of every type comes from one table: the common keys below
 * (ntf_config_common) and the type's own (ntf_target_type.opts).  The
 * parser never prints; a refusal fills struct ntf_config_error with the
 * file, line and key, and the message never quotes a value (values may
 * be secrets).
 *
 * Threading: a struct ntf_config is immutable once loaded; share it
 * read-only.  Loading is reentrant except for the environment it reads.
 */
#ifndef NTF_CONFIG_H
#define NTF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntf_target.h"

/* The keys every target has, in the order of ntf_config_common. */
enum ntf_config_common_key {
	NTF_CFG_ENABLE,
	NTF_CFG_QUEUE_LIMIT,
	NTF_CFG_MAX_ATTEMPTS,
	NTF_CFG_RETRY_MIN,
	NTF_CFG_RETRY_MAX,
	NTF_CFG_BATCH_SIZE,
	NTF_CFG_COMMENT,
	NTF_CFG_N_COMMON
};

/* The common keys' table (NTF_CFG_N_COMMON rows and a {NULL} row). */
extern const struct ntf_target_opt ntf_config_common[];

/* One configured target. */
struct ntf_config_target {
	const struct ntf_target_type *type; /* borrowed from the registry */
	char *id;			    /* owned */
	char *name;			    /* owned "ID:TYPE" */
	/* vals[0..NTF_CFG_N_COMMON) are the common keys, the type's opts[i]
	 * is vals[NTF_CFG_N_COMMON + i]; the strings are owned. */
	struct ntf_target_val *vals;
	size_t n_vals;
	char *origin; /* owned: "FILE:LINE" or "environment" */
};

struct ntf_config {
	struct ntf_config_target *targets; /* sorted by name */
	size_t n;
	char *path; /* the file read, or NULL (environment only) */
};

/* Why a configuration was refused. */
struct ntf_config_error {
	char file[256]; /* the file, or "environment" */
	int line;	/* 1-based; 0 when not about one line */
	char key[128];	/* the key or variable, or "" */
	char message[256];
};

/* Format e as one line: "FILE:LINE: KEY: MESSAGE" (parts left out when
 * unknown).  Returns out. */
const char *ntf_config_error_str(const struct ntf_config_error *e, char *out,
				 size_t outlen);

/* What to load. */
struct ntf_config_source {
	const char *path;     /* -o config=FILE (must exist), or NULL: the
				 default file if one exists */
	char *const *environ; /* NULL: no environment */
	bool insecure;	      /* accept a file others can read, with a
				 warning in *warning, instead of refusing */
};

/* The compiled-in types, a NULL-terminated array (tgt_registry.c). */
typedef const struct ntf_target_type *const *ntf_config_types;

/* Load the configuration.  On success returns 0, *out is new (free with
 * ntf_config_free) and *warning, when not NULL, is set to a malloc'ed
 * note for the log or NULL.  On failure returns -EINVAL (bad content),
 * -EACCES (a file with secrets readable by others, refused), -ENOENT (an
 * explicit file is missing) or -ENOMEM, with err filled. */
int ntf_config_load(const struct ntf_config_source *src, ntf_config_types types,
		    struct ntf_config **out, char **warning,
		    struct ntf_config_error *err);

/* Parse an INI document from memory (the fuzz harness and the tests);
 * name is what errors call the file.  Same results as ntf_config_load
 * without the permission check. */
int ntf_config_parse(const char *text, size_t len, const char *name,
		     char *const *env, ntf_config_types types,
		     struct ntf_config **out, struct ntf_config_error *err);

/* The default file: $XDG_CONFIG_HOME/bucketfs/bucketfs.conf, else
 * ~/.config/bucketfs/bucketfs.conf, when it exists, else
 * /etc/bucketfs/bucketfs.conf when it exists, else NULL.  Returns a
 * malloc'ed path or NULL. */
char *ntf_config_default_path(void);

/* Free; NULL is fine. */
void ntf_config_free(struct ntf_config *c);

/* The target called name ("ID:TYPE") or NULL. */
const struct ntf_config_target *ntf_config_find(const struct ntf_config *c,
						const char *name);

/* True when a and b configure the same thing (every value equal). */
bool ntf_config_target_equal(const struct ntf_config_target *a,
			     const struct ntf_config_target *b);

/* The value of the type's option called key (NULL when unset or
 * unknown).  For the common keys use vals[NTF_CFG_...]. */
const char *ntf_config_get(const struct ntf_config_target *t, const char *key);

/* Write the reference of every key of every type (what `bucketfs
 * --help-targets` and the README show) to f, a FILE *. */
void ntf_config_usage(ntf_config_types types, void *f);

#endif
