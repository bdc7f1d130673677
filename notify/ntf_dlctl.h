/*
 * ntf_dlctl.h - the daemon's delivery controller: loads the target
 * configuration, runs the delivery engine (ntf_deliver) against the
 * pipeline's store, and applies reloads (SIGHUP) and `bucketfs
 * deadletter` changes on its own thread.
 *
 *   load (mount start; a bad config refuses the mount)
 *   start: engine up, targets known to rule validation, hooks installed
 *   control thread: poll(eventfd = reload requests, inotify on the state
 *                   directory = deliver.kick) -- no timers
 *   stop: before the pipeline closes
 */
#ifndef NTF_DLCTL_H
#define NTF_DLCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "ntf_config.h"

struct ntf_dlctl;
struct ntf_pipeline;
struct cmn_buf;
struct ntf_target_id;

struct ntf_dlctl_opts {
	const char *config_path; /* -o config=FILE, or NULL: the default */
	bool insecure;		 /* -o insecure_config */
	char *const *environ;	 /* the environment to read */
	ntf_config_types types;	 /* tgt_registry */
	const char *state_dir;	 /* watched for deliver.kick */
	const char *region;	 /* for ARNs */
};

/* Load and check the configuration (logging a warning, if any).  Returns
 * 0 with *out set, or -errno with the one-line reason in err (file, line,
 * key; never a secret).  The options' strings are copied.  Main thread. */
int ntf_dlctl_load(const struct ntf_dlctl_opts *o, struct ntf_dlctl **out,
		   char *err, size_t errlen);

/* The targets of the running configuration (the loaded one before
 * start), for rule validation: *n entries, borrowed, valid until
 * ntf_dlctl_free. */
const struct ntf_target_id *ntf_dlctl_targets(struct ntf_dlctl *c, size_t *n);

/* Start delivering from p's store, install the pipeline hooks and the
 * target list, and start the control thread.  Returns 0 or -errno with
 * err set (a target that cannot be opened).  Main thread. */
int ntf_dlctl_start(struct ntf_dlctl *c, struct ntf_pipeline *p, char *err,
		    size_t errlen);

/* A descriptor a signal handler may write an 8-byte 1 to (eventfd) to
 * ask for a reload; -1 before start. */
int ntf_dlctl_reload_fd(struct ntf_dlctl *c);

/* Reload now, on the calling thread: a bad configuration is refused (and
 * logged) and the running one kept.  Returns 0 or -errno. */
int ntf_dlctl_reload(struct ntf_dlctl *c);

/* .bucketfs/targets and the delivery part of .bucketfs/metrics; see
 * ntf_deliver_render_*.  Any thread; c may be NULL (no delivery). */
int ntf_dlctl_render_targets(struct ntf_dlctl *c, struct cmn_buf *out);
int ntf_dlctl_render_metrics(struct ntf_dlctl *c, struct cmn_buf *out);

/* Stop the control thread and the workers, remove the hooks, free.  Must
 * run before the pipeline closes.  NULL is fine.  Main thread. */
void ntf_dlctl_free(struct ntf_dlctl *c);

#endif
