/*
 * ntf_target.h - the delivery target interface: what a target type (one
 * file in targets/) fills in, and what the core (ntf_config.c parses its
 * options, ntf_deliver.c runs one worker thread per configured target)
 * calls.
 *
 * A type is one const struct ntf_target_type with designated initializers
 * (the shape of curl's Curl_ssl and redis's ConnectionType).  Its options
 * table drives config parsing, defaults, validation, `--help` output and
 * SIGHUP reload; the core never looks at a type's name to decide anything:
 * differences come from the capability flags.
 *
 * A target knows nothing of FUSE, rules or the store: it turns a batch of
 * already serialised records into messages and reports, per event, whether
 * the far end took it.
 */
#ifndef NTF_TARGET_H
#define NTF_TARGET_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How an option's text is checked and converted. */
enum ntf_opt_type {
	NTF_OPT_STRING,	  /* any text */
	NTF_OPT_SECRET,	  /* text never shown in logs, files or errors */
	NTF_OPT_BOOL,	  /* on/off, true/false, yes/no, 1/0 */
	NTF_OPT_UINT,	  /* decimal, within [min, max] */
	NTF_OPT_DURATION, /* "250ms", "5s", "2m", "1h", bare = seconds; kept
			     as milliseconds within [min, max] */
	NTF_OPT_PATH,	  /* an absolute file name */
};

/* One configuration key.  A table of these ends with a {NULL} row. */
struct ntf_target_opt {
	const char *name; /* lower case, as in the file: "endpoint" */
	enum ntf_opt_type type;
	bool required;	   /* must be given (no default) */
	const char *deflt; /* default as text, or NULL: unset */
	uint64_t min, max; /* UINT and DURATION bounds (ms) */
	/* Optional extra check of the text; returns NULL when fine or a
	 * static message ("must be an http:// or https:// URL"). */
	const char *(*validate)(const char *value);
	const char *help; /* one line for the reference */
};

/* An option's value after parsing: s is the text (NULL when unset), u the
 * number (UINT, DURATION in ms, BOOL 0/1). */
struct ntf_target_val {
	const char *s;
	uint64_t u;
};

/* Per-event status a send reports. */
#define NTF_TARGET_UNSENT 1 /* not attempted: retried later, not counted */

/* One event of a batch.  The strings are borrowed for the send call. */
struct ntf_target_event {
	uint64_t id;		  /* the store seq: stable across retries and
				     restarts, for de-duplication */
	const char *event_name;	  /* "s3:ObjectCreated:Put" */
	const char *bucket, *key; /* raw (decoded) names */
	const char *body;	  /* the record JSON, or the whole message */
	size_t body_len;
	bool raw;   /* body is a complete message (s3:TestEvent): send it
		       as is, alone, not wrapped in an envelope */
	int status; /* out: 0 delivered, -errno failed, NTF_TARGET_UNSENT */
};

/* Capability flags. */
enum {
	/* send takes several records in one message (batch_size > 1). */
	NTF_TARGET_CAP_BATCH = 1u << 0,
};

struct ntf_target_type {
	const char *name; /* "webhook": the TYPE of ID:TYPE and ARNs */
	unsigned caps;	  /* NTF_TARGET_CAP_* */
	size_t priv_size; /* bytes of private state, zeroed by the core */
	const struct ntf_target_opt *opts; /* the type's own keys; the
					      common keys are the core's */

	/* Once per process, before any open, on the main thread; may block.
	 * Returns 0 or -errno (the type is then unusable).  Optional. */
	int (*global_init)(void);
	/* Once at exit after every close, main thread.  Optional. */
	void (*global_cleanup)(void);

	/* Set up priv (priv_size zeroed bytes) from the parsed options
	 * (vals[i] belongs to opts[i]).  Called on the target's worker
	 * thread; must not need the far end to be up (connect lazily); may
	 * block briefly (reading certificate files).  Returns 0, or -errno
	 * with a message in err (never quoting a secret). */
	int (*open)(void *priv, const struct ntf_target_val *vals, char *err,
		    size_t errlen);
	/* Release everything open made; worker thread; must not block for
	 * long.  Called also when open failed half-way. */
	void (*close)(void *priv);

	/* Deliver ev[0..n) in order (n <= batch_size; n == 1 unless the type
	 * has NTF_TARGET_CAP_BATCH or ev[0].raw).  Sets every ev[i].status.
	 * Stops at the first failure so order is kept: events after it are
	 * NTF_TARGET_UNSENT.  Returns 0 when all were delivered, else the
	 * first failure's -errno.  A failure that says nothing about the
	 * events (the far end unreachable, TLS refused) leaves them all
	 * UNSENT.  Retryable: -EAGAIN, -ETIMEDOUT, -ECONNREFUSED, -EIO, ...;
	 * permanent: -EINVAL, -EMSGSIZE, -EACCES, -EPERM.  Worker thread;
	 * blocks up to the type's timeouts.  err gets a short, secret-free
	 * description of the failure. */
	int (*send)(void *priv, struct ntf_target_event *ev, size_t n,
		    char *err, size_t errlen);

	/* Is the far end reachable?  0 or -errno; used while backing off
	 * after the target was unreachable, so a batch is not rebuilt just
	 * to fail again.  Worker thread; blocks up to the connect timeout.
	 * Optional. */
	int (*probe)(void *priv, char *err, size_t errlen);
};

/* True when err (a -errno from send) means "drop this event into the dead
 * letters" rather than "try again later". */
static inline bool ntf_target_permanent(int err)
{
	return err == -EINVAL || err == -EMSGSIZE || err == -EACCES ||
	       err == -EPERM || err == -ENOTSUP;
}

#endif
