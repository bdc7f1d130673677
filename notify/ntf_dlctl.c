/*
 * ntf_dlctl.c - the delivery controller; see ntf_dlctl.h.
 *
 * Every configuration ever applied or refused stays allocated until the
 * controller is freed (the engine retires applied ones, the controller
 * keeps refused ones), and so does every target list handed to the
 * pipeline: rule validation on a FUSE thread may still hold the previous
 * list, and the strings in it, while a reload installs the next.  Reloads
 * are rare; this costs a few hundred bytes each.
 */
#include "ntf_dlctl.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "cmn_thread.h"
#include "ntf_deliver.h"
#include "ntf_dlcli.h"
#include "ntf_pipeline.h"
#include "ntf_rules.h"

struct ntf_dlctl {
	struct ntf_dlctl_opts o;
	char *config_path, *state_dir, *region; /* owned copies */
	struct ntf_config *loaded; /* loaded by ntf_dlctl_load, until start */
	struct ntf_target_id **lists; /* every list handed out */
	size_t n_lists;
	const struct ntf_target_id *ids; /* the current one, n_ids long */
	size_t n_ids;
	struct ntf_config **refused; /* configurations a reload refused */
	size_t n_refused;
	struct ntf_deliver *d;
	struct ntf_pipeline *p;
	int efd, ino;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	pthread_mutex_t mu; /* one reload at a time */
};

static int load_config(struct ntf_dlctl *c, struct ntf_config **cfg, char *err,
		       size_t errlen)
{
	struct ntf_config_source src = {c->config_path, c->o.environ,
					c->o.insecure};
	struct ntf_config_error e;
	char *warning = NULL;
	int rc = ntf_config_load(&src, c->o.types, cfg, &warning, &e);
	if (rc < 0) {
		ntf_config_error_str(&e, err, errlen);
		return rc;
	}
	if (warning)
		cmn_warn("%s", warning);
	free(warning);
	return 0;
}

/* Make cfg's rule-validation list (strings borrowed from cfg) the current
 * one, and keep it until the controller is freed. */
static int keep_ids(struct ntf_dlctl *c, const struct ntf_config *cfg)
{
	struct ntf_target_id *ids = calloc(cfg->n + 1, sizeof(*ids));
	struct ntf_target_id **l =
		realloc(c->lists, (c->n_lists + 1) * sizeof(*l));
	if (l)
		c->lists = l;
	if (!ids || !l) {
		free(ids);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n; i++)
		ids[i] = (struct ntf_target_id){cfg->targets[i].id,
						cfg->targets[i].type->name};
	c->lists[c->n_lists++] = ids;
	c->ids = ids;
	c->n_ids = cfg->n;
	return 0;
}

int ntf_dlctl_load(const struct ntf_dlctl_opts *o, struct ntf_dlctl **out,
		   char *err, size_t errlen)
{
	struct ntf_dlctl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->o = *o;
	c->efd = c->ino = -1;
	pthread_mutex_init(&c->mu, NULL);
	c->config_path = o->config_path ? strdup(o->config_path) : NULL;
	c->state_dir = strdup(o->state_dir);
	c->region = strdup(o->region ? o->region : "");
	int rc =
		c->state_dir && c->region && (!o->config_path || c->config_path)
			? 0
			: -ENOMEM;
	if (rc == 0)
		rc = load_config(c, &c->loaded, err, errlen);
	if (rc == 0)
		rc = keep_ids(c, c->loaded);
	if (rc < 0) {
		if (rc == -ENOMEM && !err[0])
			snprintf(err, errlen, "out of memory");
		ntf_dlctl_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

const struct ntf_target_id *ntf_dlctl_targets(struct ntf_dlctl *c, size_t *n)
{
	*n = c->n_ids;
	return c->ids;
}

static bool admit_hook(void *arg, const char *target)
{
	return ntf_deliver_admit(arg, target);
}

static void unadmit_hook(void *arg, const char *target)
{
	ntf_deliver_unadmit(arg, target);
}

static void test_hook(void *arg, const char *target, const char *bucket)
{
	ntf_deliver_test_event(arg, target, bucket);
}

static const struct ntf_pipeline_delivery hooks = {
	.admit = admit_hook,
	.unadmit = unadmit_hook,
	.test_event = test_hook,
};

static void report_missing(void *arg, const char *bucket, const char *id,
			   const char *type)
{
	struct ntf_dlctl *c = arg;
	cmn_warn("rules of %s%s name arn:bucketfs:sqs:%s:%s:%s, which is not "
		 "configured: its events are kept queued and counted in "
		 ".bucketfs/targets until it is",
		 bucket[0] ? "bucket " : "the mount root", bucket, c->region,
		 id, type);
}

/* Drain the inotify descriptor; true when deliver.kick was written. */
static bool kicked(int fd)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, NTF_DLCLI_KICK) == 0)
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

static void *control_main(void *arg)
{
	struct ntf_dlctl *c = arg;
	struct pollfd pf[2] = {{c->efd, POLLIN, 0}, {c->ino, POLLIN, 0}};
	while (!atomic_load(&c->stopping)) {
		if (poll(pf, c->ino >= 0 ? 2 : 1, -1) < 0)
			continue;
		uint64_t v;
		if ((pf[0].revents & POLLIN) &&
		    read(c->efd, &v, sizeof(v)) == sizeof(v) &&
		    !atomic_load(&c->stopping))
			ntf_dlctl_reload(c);
		if (c->ino >= 0 && (pf[1].revents & POLLIN) && kicked(c->ino))
			ntf_deliver_refresh(c->d);
	}
	return NULL;
}

static int start_thread(struct ntf_dlctl *c, char *err, size_t errlen)
{
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (c->ino >= 0 &&
	    inotify_add_watch(c->ino, c->state_dir, IN_CLOSE_WRITE) < 0) {
		close(c->ino);
		c->ino = -1;
	}
	int rc = c->efd < 0 ? -errno : 0;
	if (rc == 0)
		rc = cmn_thread_start(&c->thread, "bfs-dlctl", control_main, c);
	if (rc < 0) {
		snprintf(err, errlen, "delivery control thread: %s",
			 strerror(-rc));
		return rc;
	}
	c->started = true;
	return 0;
}

int ntf_dlctl_start(struct ntf_dlctl *c, struct ntf_pipeline *p, char *err,
		    size_t errlen)
{
	c->p = p;
	int rc = ntf_deliver_new(ntf_pipeline_store(p), c->region, &c->d);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	rc = ntf_deliver_apply(c->d, c->loaded, err, errlen);
	if (rc < 0)
		return rc;
	size_t n;
	const struct ntf_target_id *ids = ntf_dlctl_targets(c, &n);
	c->loaded = NULL; /* the engine owns it now */
	rc = ntf_pipeline_set_targets(p, ids, n);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	ntf_pipeline_set_delivery(p, &hooks, c->d);
	ntf_pipeline_missing(p, report_missing, c);
	for (size_t i = 0; i < n; i++)
		cmn_info("delivery target arn:bucketfs:sqs:%s:%s:%s", c->region,
			 ids[i].id, ids[i].type);
	return start_thread(c, err, errlen);
}

int ntf_dlctl_reload_fd(struct ntf_dlctl *c)
{
	return c ? c->efd : -1;
}

/* Make room to keep one more refused configuration, so that refusing
 * one never has to free what a rule validation may still be reading. */
static int reserve_refused(struct ntf_dlctl *c)
{
	struct ntf_config **r =
		realloc(c->refused, (c->n_refused + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	c->refused = r;
	return 0;
}

/* Undo a reload the engine refused: validation goes back to the running
 * targets, and cfg (whose names it may have handed out) is kept. */
static void refuse(struct ntf_dlctl *c, struct ntf_config *cfg,
		   const struct ntf_target_id *ids, size_t n)
{
	if (!cfg)
		return;
	c->refused[c->n_refused++] = cfg;
	c->ids = ids;
	c->n_ids = n;
	if (ntf_pipeline_set_targets(c->p, ids, n) < 0)
		cmn_err("out of memory: rules are validated against the "
			"refused configuration's targets until the next "
			"reload");
}

int ntf_dlctl_reload(struct ntf_dlctl *c)
{
	char err[512] = "";
	struct ntf_config *cfg = NULL;
	pthread_mutex_lock(&c->mu);
	const struct ntf_target_id *ids = c->ids;
	size_t n = c->n_ids;
	int rc = reserve_refused(c);
	if (rc < 0)
		snprintf(err, sizeof(err), "out of memory");
	else
		rc = load_config(c, &cfg, err, sizeof(err));
	/* Validation learns the new targets before the engine runs them
	 * (and .bucketfs/targets shows them): a script that waits for a
	 * target there can name it in rules at once. */
	if (rc == 0 && ((rc = keep_ids(c, cfg)) < 0 ||
			(rc = ntf_pipeline_set_targets(c->p, c->ids,
						       c->n_ids)) < 0))
		snprintf(err, sizeof(err), "out of memory");
	if (rc == 0)
		rc = ntf_deliver_apply(c->d, cfg, err, sizeof(err));
	if (rc < 0) {
		refuse(c, cfg, ids, n);
		cmn_err("configuration reload refused, the running one is "
			"kept: %s",
			err);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	ntf_pipeline_missing(c->p, report_missing, c);
	cmn_info("configuration reloaded: %zu target%s", c->n_ids,
		 c->n_ids == 1 ? "" : "s");
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int ntf_dlctl_render_targets(struct ntf_dlctl *c, struct cmn_buf *out)
{
	if (!c || !c->d)
		return cmn_buf_adds(out, "[]\n");
	return ntf_deliver_render_targets(c->d, out);
}

int ntf_dlctl_render_metrics(struct ntf_dlctl *c, struct cmn_buf *out)
{
	return c && c->d ? ntf_deliver_render_metrics(c->d, out) : 0;
}

void ntf_dlctl_free(struct ntf_dlctl *c)
{
	if (!c)
		return;
	if (c->started) {
		atomic_store(&c->stopping, true);
		uint64_t one = 1;
		if (write(c->efd, &one, sizeof(one)) < 0)
			cmn_err("cannot stop the delivery control thread");
		pthread_join(c->thread, NULL);
	}
	if (c->p) {
		ntf_pipeline_set_delivery(c->p, NULL, NULL);
		ntf_pipeline_set_targets(c->p, NULL, 0);
	}
	ntf_deliver_free(c->d);
	ntf_config_free(c->loaded);
	for (size_t i = 0; i < c->n_refused; i++)
		ntf_config_free(c->refused[i]);
	free(c->refused);
	for (size_t i = 0; i < c->n_lists; i++)
		free(c->lists[i]);
	free(c->lists);
	if (c->efd >= 0)
		close(c->efd);
	if (c->ino >= 0)
		close(c->ino);
	pthread_mutex_destroy(&c->mu);
	free(c->config_path);
	free(c->state_dir);
	free(c->region);
	free(c);
}
