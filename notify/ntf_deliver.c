/*
 * ntf_deliver.c - per-target delivery workers; see ntf_deliver.h.
 *
 * The engine holds an array of workers behind a read-write lock: the hot
 * paths (admit from FUSE threads, wake from the store's writer) take the
 * read side and touch only atomics and the worker's own mutex; apply
 * takes the write side for the pointer swap only, and opens, stops and
 * joins workers outside it.
 *
 * A worker's loop (worker_main): sleep until woken or until its backoff
 * deadline, then run one round: a pending s3:TestEvent, or a group of up
 * to NTF_LIMIT_DELIVER_GROUP queued entries (batch_size when larger) sent
 * in messages of batch_size records.  Delivered entries are acknowledged
 * together after the group, so after a crash the duplicates are at most
 * the group that was in flight; every message carries the entries' seqs
 * (X-Bucketfs-Event-Id for the webhook) for de-duplication.
 *
 * Counters are approximate by design where exactness would cost the hot
 * path a store query: `queued` starts from the store's count and moves
 * with admissions, acknowledgements and dead letters.
 */
#include "ntf_deliver.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_buf.h"
#include "cmn_log.h"
#include "cmn_thread.h"
#include "cmn_time.h"
#include "ntf_limits.h"
#include "ntf_record.h"
#include "ntf_rules.h"
#include "ntf_store.h"
#include "ntf_target.h"

/* Entries one round takes from the queue when batch_size is smaller: one
 * store read and one acknowledging transaction per group instead of per
 * record, at the price of re-sending at most this many after a crash. */
#define NTF_LIMIT_DELIVER_GROUP 64

/* Upper bounds (ms) of the delivery latency histogram's buckets. */
static const unsigned lat_bounds[] = {1,   2,	5,    10,   20,	  50,	100,
				      250, 500, 1000, 2500, 5000, 10000};
#define N_LAT (sizeof(lat_bounds) / sizeof(*lat_bounds))

enum wstate {
	W_IDLE,
	W_DELIVERING,
	W_RETRYING,
	W_UNREACHABLE,
	W_REMOVED,
	W_MISSING,
};

static const char *const state_names[] = {
	[W_IDLE] = "idle",	   [W_DELIVERING] = "delivering",
	[W_RETRYING] = "retrying", [W_UNREACHABLE] = "unreachable",
	[W_REMOVED] = "removed",   [W_MISSING] = "missing",
};

/* Counters of one target name; outlives its worker (a removed target's
 * stats stay visible) and is shared with the next worker of that name. */
struct tstats {
	char *name; /* "ID:TYPE" */
	char *type; /* points into name */
	_Atomic uint64_t queue_limit;
	_Atomic int64_t queued;
	_Atomic uint64_t delivered, failed, dropped, dead;
	_Atomic int state;
	_Atomic uint64_t lat[N_LAT + 1];
	_Atomic uint64_t lat_sum_ms;
	pthread_mutex_t mu; /* guards the strings below */
	char last_error[200];
	int64_t last_error_ms, last_success_ms;
	struct tstats *next;
};

struct worker {
	struct ntf_deliver *d;
	struct tstats *st; /* borrowed from d->stats */
	const struct ntf_target_type *type;
	const struct ntf_config_target *conf; /* in d->cfg or a retired one */
	void *priv;
	uint64_t max_attempts, batch_size, retry_min, retry_max;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu; /* guards the fields below */
	pthread_cond_t cv;
	bool work, stop;
	atomic_bool stopping; /* stop, readable mid-round without mu */
	char *tests[NTF_LIMIT_TEST_EVENTS];
	size_t n_tests;

	/* worker thread only */
	unsigned failures;   /* consecutive failed rounds */
	bool unreachable;    /* the last failure never reached the far end */
	int64_t retry_at;    /* monotonic ms; 0: not backing off */
	uint64_t test_attempts; /* of tests[0] that reached the target */
	uint32_t rnd;	     /* xorshift state for jitter */
	struct cmn_buf rows; /* the group's records */
	struct ntf_target_event *ev;
	int64_t *ev_time;
	unsigned *ev_attempts;
	uint64_t *acks;
};

struct ntf_deliver {
	struct ntf_store *store;
	char *region;
	pthread_rwlock_t lock; /* guards w, n, stats list */
	struct worker **w;
	size_t n;
	struct tstats *stats;
	struct ntf_config *cfg;	     /* owned; the running configuration */
	struct ntf_config **retired; /* earlier configurations, freed at end */
	size_t n_retired;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ntf_deliver_backoff_ms(uint64_t min, uint64_t max, unsigned failures,
				uint32_t rnd)
{
	uint64_t d = min ? min : 1;
	for (unsigned i = 1; i < failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	uint64_t half = d / 2;
	return d - half + (half * (uint64_t)rnd >> 32);
}

/* ---- stats ---- */

/* The stats of name, created on first use.  d->lock held for writing, or
 * for reading with create == false. */
static struct tstats *stats_find(struct ntf_deliver *d, const char *name)
{
	for (struct tstats *s = d->stats; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static struct tstats *stats_new(struct ntf_deliver *d, const char *name)
{
	struct tstats *s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return NULL;
	}
	char *colon = strrchr(s->name, ':');
	s->type = colon ? colon + 1 : s->name;
	atomic_store(&s->queue_limit, 100000);
	pthread_mutex_init(&s->mu, NULL);
	int64_t q = ntf_store_queue_count(d->store, name);
	int64_t dl = ntf_store_deadletter_count(d->store, name);
	atomic_store(&s->queued, q > 0 ? q : 0);
	atomic_store(&s->dead, dl > 0 ? (uint64_t)dl : 0);
	atomic_store(&s->state, W_MISSING);
	s->next = d->stats;
	d->stats = s;
	return s;
}

static void stats_error(struct tstats *s, const char *msg)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	s->last_error_ms = cmn_time_now_ms();
	pthread_mutex_unlock(&s->mu);
}

static void stats_latency(struct tstats *s, int64_t event_ms, int64_t now)
{
	int64_t ms = now > event_ms ? now - event_ms : 0;
	size_t i = 0;
	while (i < N_LAT && (uint64_t)ms > lat_bounds[i])
		i++;
	atomic_fetch_add(&s->lat[i], 1);
	atomic_fetch_add(&s->lat_sum_ms, (uint64_t)ms);
}

/* ---- hot paths ---- */

static struct worker *find_worker(struct ntf_deliver *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->w[i]->st->name, name) == 0)
			return d->w[i];
	return NULL;
}

/* Take one place in s's queue, or count a drop. */
static bool take_place(struct tstats *s)
{
	int64_t q = atomic_fetch_add(&s->queued, 1);
	if (q < (int64_t)atomic_load(&s->queue_limit))
		return true;
	atomic_fetch_sub(&s->queued, 1);
	atomic_fetch_add(&s->dropped, 1);
	return false;
}

bool ntf_deliver_admit(struct ntf_deliver *d, const char *target)
{
	pthread_rwlock_rdlock(&d->lock);
	struct tstats *s = stats_find(d, target);
	pthread_rwlock_unlock(&d->lock);
	if (s)
		return take_place(s);
	/* A rule names a target that is not configured: keep its events
	 * (queued, counted, visible) rather than lose them. */
	pthread_rwlock_wrlock(&d->lock);
	s = stats_find(d, target);
	if (!s && (s = stats_new(d, target)))
		cmn_warn("rules name target %s, which is not configured: its "
			 "events are kept queued until it is",
			 target);
	pthread_rwlock_unlock(&d->lock);
	return s ? take_place(s) : true;
}

void ntf_deliver_unadmit(struct ntf_deliver *d, const char *target)
{
	pthread_rwlock_rdlock(&d->lock);
	struct tstats *s = stats_find(d, target);
	if (s)
		atomic_fetch_sub(&s->queued, 1);
	pthread_rwlock_unlock(&d->lock);
}

static void poke(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->work = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void ntf_deliver_wake(struct ntf_deliver *d, const char *target)
{
	pthread_rwlock_rdlock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		if (!target || strcmp(d->w[i]->st->name, target) == 0)
			poke(d->w[i]);
	pthread_rwlock_unlock(&d->lock);
}

void ntf_deliver_test_event(struct ntf_deliver *d, const char *target,
			    const char *bucket)
{
	struct cmn_buf msg;
	cmn_buf_init(&msg, 4096);
	if (ntf_record_test_event(bucket, cmn_time_now_ms(), NULL, NULL, &msg) < 0) {
		cmn_buf_free(&msg);
		return;
	}
	char *text = cmn_buf_take(&msg);
	pthread_rwlock_rdlock(&d->lock);
	struct worker *w = text ? find_worker(d, target) : NULL;
	if (w) {
		pthread_mutex_lock(&w->mu);
		if (w->n_tests < NTF_LIMIT_TEST_EVENTS) {
			w->tests[w->n_tests++] = text;
			text = NULL;
			w->work = true;
			pthread_cond_signal(&w->cv);
		} else {
			atomic_fetch_add(&w->st->failed, 1);
		}
		pthread_mutex_unlock(&w->mu);
	}
	pthread_rwlock_unlock(&d->lock);
	free(text);
}

/* ---- the worker ---- */

static uint32_t next_rnd(struct worker *w)
{
	uint32_t x = w->rnd;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return w->rnd = x;
}

static size_t group_size(const struct worker *w)
{
	return w->batch_size > NTF_LIMIT_DELIVER_GROUP
		       ? w->batch_size
		       : NTF_LIMIT_DELIVER_GROUP;
}

/* Sleep until there is something to do; false when told to stop. */
static bool wait_work(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->stop)
			break;
		if (w->retry_at) {
			int64_t now = mono_ms();
			if (now >= w->retry_at) {
				w->retry_at = 0;
				break;
			}
			struct timespec ts = {(time_t)(w->retry_at / 1000),
					      (long)(w->retry_at % 1000) *
						      1000000};
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
			continue;
		}
		if (w->work || w->n_tests) {
			w->work = false;
			break;
		}
		pthread_cond_wait(&w->cv, &w->mu);
	}
	bool go = !w->stop;
	pthread_mutex_unlock(&w->mu);
	return go;
}

/* Offsets of a peeked row's strings inside w->rows, fixed up after the
 * buffer stops moving. */
struct row_offs {
	size_t name, bucket, key, record;
};

struct peek_ctx {
	struct worker *w;
	struct row_offs *offs;
	size_t n;
	int err;
};

static int copy_str(struct cmn_buf *b, const char *s, size_t len, size_t *off)
{
	*off = b->len;
	int rc = cmn_buf_add(b, s ? s : "", s ? len : 0);
	return rc ? rc : cmn_buf_addc(b, '\0');
}

static int peek_row(void *arg, const struct ntf_store_entry *e,
		    unsigned attempts)
{
	struct peek_ctx *pc = arg;
	struct worker *w = pc->w;
	struct row_offs *o = &pc->offs[pc->n];
	struct ntf_target_event *ev = &w->ev[pc->n];
	int rc = copy_str(&w->rows, e->event_name, strlen(e->event_name),
			  &o->name);
	if (!rc)
		rc = copy_str(&w->rows, e->bucket, strlen(e->bucket),
			      &o->bucket);
	if (!rc)
		rc = copy_str(&w->rows, e->key, strlen(e->key), &o->key);
	if (!rc)
		rc = copy_str(&w->rows, e->record, e->record_len, &o->record);
	if (rc) {
		pc->err = rc;
		return 1;
	}
	*ev = (struct ntf_target_event){.id = e->seq,
					.body_len = e->record_len};
	w->ev_time[pc->n] = e->time_ms;
	w->ev_attempts[pc->n] = attempts;
	pc->n++;
	return 0;
}

/* Read the next group from the queue into w->ev; returns its size or
 * -errno. */
static int load_group(struct worker *w)
{
	size_t max = group_size(w);
	struct row_offs *offs = calloc(max, sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	cmn_buf_reset(&w->rows);
	struct peek_ctx pc = {w, offs, 0, 0};
	int rc = ntf_store_queue_peek(w->d->store, w->st->name, max, peek_row,
				      &pc);
	if (rc == 0 || pc.err == 0) {
		for (size_t i = 0; i < pc.n; i++) {
			const char *b = w->rows.data;
			w->ev[i].event_name = b + offs[i].name;
			w->ev[i].bucket = b + offs[i].bucket;
			w->ev[i].key = b + offs[i].key;
			w->ev[i].body = b + offs[i].record;
		}
	}
	free(offs);
	if (pc.err)
		return pc.err;
	return rc < 0 ? rc : (int)pc.n;
}

/* A failed event: count an attempt, or move it to the dead letters.
 * Returns true when it left the queue. */
static bool fail_event(struct worker *w, size_t i, int err, const char *msg)
{
	struct tstats *st = w->st;
	uint64_t seq = w->ev[i].id;
	atomic_fetch_add(&st->failed, 1);
	bool dead = ntf_target_permanent(err) ||
		    w->ev_attempts[i] + 1 >= w->max_attempts;
	if (!dead) {
		ntf_store_queue_attempt(w->d->store, st->name, seq);
		return false;
	}
	char why[256];
	snprintf(why, sizeof(why), "%s (%s)", msg, strerror(-err));
	if (ntf_store_queue_deadletter(w->d->store, st->name, seq, why) < 0)
		return false;
	atomic_fetch_sub(&st->queued, 1);
	atomic_fetch_add(&st->dead, 1);
	cmn_warn("target %s: event %" PRIu64 " moved to the dead letters: %s",
		 st->name, seq, why);
	return true;
}

/* Acknowledge the delivered events of the group.  Returns 0 or the
 * store's -errno: the events then stay queued, to be sent again. */
static int ack_delivered(struct worker *w, size_t n)
{
	size_t k = 0;
	int64_t now = cmn_time_now_ms();
	for (size_t i = 0; i < n; i++)
		if (w->ev[i].status == 0) {
			w->acks[k++] = w->ev[i].id;
			stats_latency(w->st, w->ev_time[i], now);
		}
	if (!k)
		return 0;
	int rc = ntf_store_queue_ack(w->d->store, w->st->name, w->acks, k);
	if (rc < 0) {
		cmn_err("target %s: cannot acknowledge %zu events: %s",
			w->st->name, k, strerror(-rc));
		return rc;
	}
	atomic_fetch_sub(&w->st->queued, rc);
	atomic_fetch_add(&w->st->delivered, (uint64_t)rc);
	pthread_mutex_lock(&w->st->mu);
	w->st->last_success_ms = now;
	pthread_mutex_unlock(&w->st->mu);
	return 0;
}

/* Send the group in messages of batch_size.  Returns 0 when everything
 * went out, or the first failure's -errno (later events stay UNSENT). */
static int send_group(struct worker *w, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		w->ev[i].status = NTF_TARGET_UNSENT;
	for (size_t i = 0; i < n; i += w->batch_size) {
		size_t m = n - i < w->batch_size ? n - i : w->batch_size;
		if (atomic_load(&w->stopping))
			break; /* unmount or reload: the rest stays queued */
		int rc = w->type->send(w->priv, w->ev + i, m, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Outcome of a round for the loop. */
enum round {
	R_IDLE,	 /* nothing more to do now */
	R_MORE,	 /* go again at once */
	R_RETRY, /* back off */
};

/* Settle each event of a sent group; returns the round's outcome. */
static enum round settle(struct worker *w, size_t n, int rc, const char *msg)
{
	/* Unacknowledged, the delivered events are still the queue's head:
	 * going again at once would send them again and again. */
	int ack = ack_delivered(w, n);
	if (ack < 0) {
		char why[128];
		snprintf(why, sizeof(why), "acknowledging: %s", strerror(-ack));
		stats_error(w->st, why);
		return R_RETRY;
	}
	if (rc == 0)
		return n == group_size(w) ? R_MORE : R_IDLE;
	bool reached = false, retry = false;
	for (size_t i = 0; i < n; i++) {
		int s = w->ev[i].status;
		if (s >= 0)
			continue;
		reached = true;
		if (!fail_event(w, i, s, msg))
			retry = true;
	}
	w->unreachable = !reached;
	stats_error(w->st, msg);
	/* A poison event went to the dead letters: the rest flows on. */
	return retry || !reached ? R_RETRY : R_MORE;
}

/* Send the oldest waiting s3:TestEvent.  It is not stored: a permanent
 * refusal drops it, and so does the last of max_attempts retryable ones
 * that reached the target (a receiver that cannot make sense of a body
 * without Records must not hold the queue behind it); until then, and
 * for as long as the target cannot be reached, it stays at the head. */
static enum round send_test(struct worker *w, char *err, size_t errlen)
{
	pthread_mutex_lock(&w->mu);
	char *msg = w->tests[0];
	pthread_mutex_unlock(&w->mu);
	struct ntf_target_event ev = {.event_name = "s3:TestEvent",
				      .bucket = "",
				      .key = "",
				      .body = msg,
				      .body_len = strlen(msg),
				      .raw = true};
	int rc = w->type->send(w->priv, &ev, 1, err, errlen);
	if (rc < 0) {
		atomic_fetch_add(&w->st->failed, 1);
		stats_error(w->st, err);
		w->unreachable = ev.status == NTF_TARGET_UNSENT;
		if (!w->unreachable)
			w->test_attempts++;
		if (!ntf_target_permanent(rc) &&
		    (w->unreachable || w->test_attempts < w->max_attempts))
			return R_RETRY;
		cmn_warn("target %s: s3:TestEvent dropped: %s", w->st->name,
			 err);
	}
	w->test_attempts = 0;
	pthread_mutex_lock(&w->mu);
	memmove(w->tests, w->tests + 1, (w->n_tests - 1) * sizeof(char *));
	w->n_tests--;
	pthread_mutex_unlock(&w->mu);
	free(msg);
	return R_MORE;
}

static enum round round_once(struct worker *w)
{
	char err[256] = "";
	if (w->unreachable && w->type->probe &&
	    w->type->probe(w->priv, err, sizeof(err)) < 0) {
		stats_error(w->st, err);
		return R_RETRY;
	}
	pthread_mutex_lock(&w->mu);
	bool test = w->n_tests > 0;
	pthread_mutex_unlock(&w->mu);
	if (test)
		return send_test(w, err, sizeof(err));
	int n = load_group(w);
	if (n < 0) {
		snprintf(err, sizeof(err), "reading the queue: %s",
			 strerror(-n));
		stats_error(w->st, err);
		return R_RETRY;
	}
	if (n == 0)
		return R_IDLE;
	atomic_store(&w->st->state, W_DELIVERING);
	int rc = send_group(w, (size_t)n, err, sizeof(err));
	return settle(w, (size_t)n, rc, err);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (wait_work(w)) {
		enum round r = round_once(w);
		if (r == R_RETRY) {
			w->failures++;
			uint64_t ms = ntf_deliver_backoff_ms(
				w->retry_min, w->retry_max, w->failures,
				next_rnd(w));
			atomic_store(&w->st->state, w->unreachable
							    ? W_UNREACHABLE
							    : W_RETRYING);
			pthread_mutex_lock(&w->mu);
			w->retry_at = mono_ms() + (int64_t)ms;
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		w->failures = 0;
		w->unreachable = false;
		if (r == R_MORE) {
			pthread_mutex_lock(&w->mu);
			w->work = true;
			pthread_mutex_unlock(&w->mu);
		} else {
			atomic_store(&w->st->state, W_IDLE);
		}
	}
	return NULL;
}

/* ---- lifecycle ---- */

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	if (w->priv) {
		w->type->close(w->priv);
		free(w->priv);
	}
	for (size_t i = 0; i < w->n_tests; i++)
		free(w->tests[i]);
	cmn_buf_free(&w->rows);
	free(w->ev);
	free(w->ev_time);
	free(w->ev_attempts);
	free(w->acks);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void worker_stop(struct worker *w)
{
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		atomic_store(&w->stopping, true);
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	worker_free(w);
}

static int worker_alloc(struct worker *w)
{
	size_t g = group_size(w);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->mu, NULL);
	cmn_buf_init(&w->rows, (NTF_LIMIT_RECORD_BYTES + 4096) * g);
	w->ev = calloc(g, sizeof(*w->ev));
	w->ev_time = calloc(g, sizeof(*w->ev_time));
	w->ev_attempts = calloc(g, sizeof(*w->ev_attempts));
	w->acks = calloc(g, sizeof(*w->acks));
	w->priv = calloc(1, w->type->priv_size ? w->type->priv_size : 1);
	if (rc || !w->ev || !w->ev_time || !w->ev_attempts || !w->acks ||
	    !w->priv)
		return -ENOMEM;
	return 0;
}

/* Create and open (not start) the worker of configured target t. */
static int worker_new(struct ntf_deliver *d, const struct ntf_config_target *t,
		      struct worker **out, char *err, size_t errlen)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->d = d;
	w->type = t->type;
	w->conf = t;
	w->max_attempts = t->vals[NTF_CFG_MAX_ATTEMPTS].u;
	w->batch_size = t->vals[NTF_CFG_BATCH_SIZE].u;
	w->retry_min = t->vals[NTF_CFG_RETRY_MIN].u;
	w->retry_max = t->vals[NTF_CFG_RETRY_MAX].u;
	w->rnd = (uint32_t)cmn_time_now_ms() * 2654435761u | 1;
	w->work = true; /* replay the backlog at once */
	int rc = worker_alloc(w);
	if (rc == 0) {
		char why[200] = "";
		rc = t->type->open(w->priv, t->vals + NTF_CFG_N_COMMON, why,
				   sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "%s (%s): %s", t->name, t->origin,
				 why[0] ? why : strerror(-rc));
	} else {
		snprintf(err, errlen, "%s: out of memory", t->name);
	}
	if (rc < 0) {
		worker_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static void commit_hook(void *arg, const char *target)
{
	ntf_deliver_wake(arg, target);
}

int ntf_deliver_new(struct ntf_store *store, const char *region,
		    struct ntf_deliver **out)
{
	struct ntf_deliver *d = calloc(1, sizeof(*d));
	if (!d || !(d->region = strdup(region ? region : ""))) {
		free(d);
		return -ENOMEM;
	}
	d->store = store;
	pthread_rwlock_init(&d->lock, NULL);
	ntf_store_set_commit_hook(store, commit_hook, d);
	*out = d;
	return 0;
}

void ntf_deliver_free(struct ntf_deliver *d)
{
	if (!d)
		return;
	ntf_store_set_commit_hook(d->store, NULL, NULL);
	for (size_t i = 0; i < d->n; i++)
		worker_stop(d->w[i]);
	free(d->w);
	while (d->stats) {
		struct tstats *s = d->stats;
		d->stats = s->next;
		pthread_mutex_destroy(&s->mu);
		free(s->name);
		free(s);
	}
	for (size_t i = 0; i < d->n_retired; i++)
		ntf_config_free(d->retired[i]);
	free(d->retired);
	ntf_config_free(d->cfg);
	pthread_rwlock_destroy(&d->lock);
	free(d->region);
	free(d);
}

/* ---- configuration changes ---- */

/* The running worker of name whose configuration equals t, or NULL. */
static struct worker *same_worker(struct ntf_deliver *d,
				  const struct ntf_config_target *t)
{
	struct worker *w = find_worker(d, t->name);
	return w && ntf_config_target_equal(w->conf, t) ? w : NULL;
}

static bool in_array(struct worker *const *a, size_t n, const struct worker *w)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == w)
			return true;
	return false;
}

/* Open the workers cfg needs that are not running yet; on failure close
 * the ones opened here. */
static int open_new(struct ntf_deliver *d, const struct ntf_config *cfg,
		    struct worker **nw, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n; i++) {
		nw[i] = same_worker(d, &cfg->targets[i]);
		if (nw[i])
			continue;
		int rc = worker_new(d, &cfg->targets[i], &nw[i], err, errlen);
		if (rc < 0) {
			for (size_t j = 0; j < i; j++)
				if (!in_array(d->w, d->n, nw[j]))
					worker_free(nw[j]);
			return rc;
		}
	}
	return 0;
}

/* Attach stats to the new workers (write lock held). A worker carried
 * over from the last configuration is running and reads its st without
 * the lock; it already points at this name's stats, so it is left alone. */
static int attach_stats(struct ntf_deliver *d, const struct ntf_config *cfg,
			struct worker **nw)
{
	for (size_t i = 0; i < cfg->n; i++) {
		struct tstats *s = stats_find(d, cfg->targets[i].name);
		if (!s && !(s = stats_new(d, cfg->targets[i].name)))
			return -ENOMEM;
		atomic_store(&s->queue_limit,
			     cfg->targets[i].vals[NTF_CFG_QUEUE_LIMIT].u);
		if (!nw[i]->started)
			nw[i]->st = s;
	}
	return 0;
}

static void start_worker(struct worker *w)
{
	if (w->started)
		return;
	atomic_store(&w->st->state, W_IDLE);
	int rc = cmn_thread_start(&w->thread, "bfs-deliver", worker_main, w);
	if (rc == 0) {
		w->started = true;
		return;
	}
	stats_error(w->st, "cannot start the worker thread");
	cmn_err("target %s: cannot start its worker: %s", w->st->name,
		strerror(-rc));
}

static int retire(struct ntf_deliver *d, struct ntf_config *old)
{
	if (!old)
		return 0;
	struct ntf_config **r =
		realloc(d->retired, (d->n_retired + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	d->retired = r;
	d->retired[d->n_retired++] = old;
	return 0;
}

int ntf_deliver_apply(struct ntf_deliver *d, struct ntf_config *cfg, char *err,
		      size_t errlen)
{
	struct worker **nw = calloc(cfg->n + 1, sizeof(*nw));
	if (!nw || retire(d, NULL) < 0) {
		free(nw);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = open_new(d, cfg, nw, err, errlen);
	if (rc < 0) {
		free(nw);
		return rc;
	}
	pthread_rwlock_wrlock(&d->lock);
	rc = attach_stats(d, cfg, nw);
	if (rc == 0)
		rc = retire(d, d->cfg);
	if (rc < 0) {
		pthread_rwlock_unlock(&d->lock);
		for (size_t i = 0; i < cfg->n; i++)
			if (!in_array(d->w, d->n, nw[i]))
				worker_free(nw[i]);
		free(nw);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	struct worker **old = d->w;
	size_t n_old = d->n;
	d->w = nw;
	d->n = cfg->n;
	d->cfg = cfg;
	pthread_rwlock_unlock(&d->lock);

	/* Old workers not carried over stop before a new worker of the same
	 * name starts, so one queue never has two readers. */
	for (size_t i = 0; i < n_old; i++) {
		if (in_array(nw, cfg->n, old[i]))
			continue;
		struct tstats *st = old[i]->st;
		worker_stop(old[i]);
		if (!ntf_config_find(cfg, st->name)) {
			atomic_store(&st->state, W_REMOVED);
			cmn_info("target %s removed; its queued events stay "
				 "in the store",
				 st->name);
		}
	}
	free(old);
	for (size_t i = 0; i < cfg->n; i++)
		start_worker(nw[i]);
	return 0;
}

struct ntf_target_id *ntf_deliver_ids(struct ntf_deliver *d, size_t *n)
{
	pthread_rwlock_rdlock(&d->lock);
	size_t bytes = 0, k = d->n;
	for (size_t i = 0; i < k; i++)
		bytes += strlen(d->w[i]->st->name) + 1;
	struct ntf_target_id *ids = k ? malloc(k * sizeof(*ids) + bytes) : NULL;
	char *p = ids ? (char *)(ids + k) : NULL;
	for (size_t i = 0; ids && i < k; i++) {
		size_t len = strlen(d->w[i]->st->name) + 1;
		memcpy(p, d->w[i]->st->name, len);
		char *colon = strrchr(p, ':');
		*colon = '\0';
		ids[i] = (struct ntf_target_id){p, colon + 1};
		p += len;
	}
	pthread_rwlock_unlock(&d->lock);
	*n = ids ? k : 0;
	return ids;
}

void ntf_deliver_refresh(struct ntf_deliver *d)
{
	pthread_rwlock_rdlock(&d->lock);
	for (struct tstats *s = d->stats; s; s = s->next) {
		int64_t q = ntf_store_queue_count(d->store, s->name);
		int64_t dl = ntf_store_deadletter_count(d->store, s->name);
		if (q >= 0)
			atomic_store(&s->queued, q);
		if (dl >= 0)
			atomic_store(&s->dead, (uint64_t)dl);
	}
	for (size_t i = 0; i < d->n; i++)
		poke(d->w[i]);
	pthread_rwlock_unlock(&d->lock);
}

/* ---- visibility ---- */

/* s as a JSON string; bytes outside printable ASCII become '?' so the
 * output is always valid. */
static int json_str(struct cmn_buf *b, const char *s)
{
	int rc = cmn_buf_addc(b, '"');
	for (; rc == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			rc = cmn_buf_addc(b, '\\');
		if (rc == 0)
			rc = cmn_buf_addc(b, c < 0x20 || c >= 0x7f ? '?'
								   : (char)c);
	}
	return rc ? rc : cmn_buf_addc(b, '"');
}

static int json_time(struct cmn_buf *b, int64_t ms)
{
	if (!ms)
		return cmn_buf_adds(b, "null");
	char t[CMN_TIME_ISO_SIZE];
	cmn_time_iso_ms(ms, t);
	return json_str(b, t);
}

static int render_one(struct ntf_deliver *d, struct tstats *s,
		      struct cmn_buf *out)
{
	const char *colon = strrchr(s->name, ':');
	int idlen = (int)(colon - s->name);
	pthread_mutex_lock(&s->mu);
	char last_error[sizeof(s->last_error)];
	memcpy(last_error, s->last_error, sizeof(last_error));
	int64_t err_ms = s->last_error_ms, ok_ms = s->last_success_ms;
	pthread_mutex_unlock(&s->mu);
	int64_t q = atomic_load(&s->queued);
	int rc = cmn_buf_printf(
		out,
		"{\"arn\":\"arn:bucketfs:sqs:%s:%.*s:%s\",\"id\":\"%.*s\","
		"\"type\":\"%s\",\"state\":\"%s\",\"queued\":%" PRId64
		",\"queueLimit\":%" PRIu64 ",\"delivered\":%" PRIu64
		",\"failed\":%" PRIu64 ",\"dropped\":%" PRIu64
		",\"deadLetters\":%" PRIu64 ",\"lastError\":",
		d->region, idlen, s->name, s->type, idlen, s->name, s->type,
		state_names[atomic_load(&s->state)], q > 0 ? q : 0,
		atomic_load(&s->queue_limit), atomic_load(&s->delivered),
		atomic_load(&s->failed), atomic_load(&s->dropped),
		atomic_load(&s->dead));
	if (rc == 0)
		rc = last_error[0] ? json_str(out, last_error)
				   : cmn_buf_adds(out, "null");
	if (rc == 0)
		rc = cmn_buf_adds(out, ",\"lastErrorTime\":");
	if (rc == 0)
		rc = json_time(out, err_ms);
	if (rc == 0)
		rc = cmn_buf_adds(out, ",\"lastSuccessTime\":");
	if (rc == 0)
		rc = json_time(out, ok_ms);
	return rc ? rc : cmn_buf_addc(out, '}');
}

/* The stats in name order, for stable output; caller frees.  Read lock
 * held. */
static struct tstats **sorted_stats(struct ntf_deliver *d, size_t *n)
{
	size_t k = 0;
	for (struct tstats *s = d->stats; s; s = s->next)
		k++;
	struct tstats **a = calloc(k + 1, sizeof(*a));
	if (!a)
		return NULL;
	k = 0;
	for (struct tstats *s = d->stats; s; s = s->next) {
		size_t i = k++;
		while (i > 0 && strcmp(a[i - 1]->name, s->name) > 0) {
			a[i] = a[i - 1];
			i--;
		}
		a[i] = s;
	}
	*n = k;
	return a;
}

int ntf_deliver_render_targets(struct ntf_deliver *d, struct cmn_buf *out)
{
	pthread_rwlock_rdlock(&d->lock);
	size_t n = 0;
	struct tstats **a = sorted_stats(d, &n);
	int rc = a ? cmn_buf_addc(out, '[') : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = cmn_buf_adds(out, i ? ",\n " : "\n ");
		if (rc == 0)
			rc = render_one(d, a[i], out);
	}
	pthread_rwlock_unlock(&d->lock);
	free(a);
	return rc ? rc : cmn_buf_adds(out, n ? "\n]\n" : "]\n");
}

static int metric_head(struct cmn_buf *out, const char *name, const char *type,
		       const char *help)
{
	return cmn_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			      name, type);
}

/* One counter or gauge line per target. */
static int metric_family(struct cmn_buf *out, struct tstats **a, size_t n,
			 const char *name, const char *type, const char *help,
			 size_t field)
{
	int rc = metric_head(out, name, type, help);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tstats *s = a[i];
		uint64_t v =
			field == 0   ? atomic_load(&s->delivered)
			: field == 1 ? atomic_load(&s->failed)
			: field == 2 ? atomic_load(&s->dropped)
			: field == 3
				? atomic_load(&s->dead)
				: (uint64_t)(atomic_load(&s->queued) > 0
						     ? atomic_load(&s->queued)
						     : 0);
		rc = cmn_buf_printf(out, "%s{target=\"%s\"} %" PRIu64 "\n",
				    name, s->name, v);
	}
	return rc;
}

static int metric_latency(struct cmn_buf *out, struct tstats **a, size_t n)
{
	static const char name[] = "bucketfs_target_delivery_latency_seconds";
	int rc = metric_head(out, name, "histogram",
			     "event time to acknowledgement by the target");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t cum = 0;
		for (size_t b = 0; rc == 0 && b <= N_LAT; b++) {
			cum += atomic_load(&a[i]->lat[b]);
			if (b < N_LAT)
				rc = cmn_buf_printf(
					out,
					"%s_bucket{target=\"%s\",le=\"%g\"} "
					"%" PRIu64 "\n",
					name, a[i]->name,
					lat_bounds[b] / 1000.0, cum);
			else
				rc = cmn_buf_printf(
					out,
					"%s_bucket{target=\"%s\",le=\"+Inf\"} "
					"%" PRIu64 "\n%s_sum{target=\"%s\"} "
					"%.3f\n%s_count{target=\"%s\"} "
					"%" PRIu64 "\n",
					name, a[i]->name, cum, name, a[i]->name,
					atomic_load(&a[i]->lat_sum_ms) / 1000.0,
					name, a[i]->name, cum);
		}
	}
	return rc;
}

int ntf_deliver_render_metrics(struct ntf_deliver *d, struct cmn_buf *out)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{"bucketfs_target_delivered_total", "counter",
		 "events acknowledged by the target"},
		{"bucketfs_target_failed_total", "counter",
		 "failed delivery attempts"},
		{"bucketfs_target_dropped_total", "counter",
		 "events not queued because the queue was at queue_limit"},
		{"bucketfs_target_dead_letters", "gauge",
		 "events in the dead letters"},
		{"bucketfs_target_queued", "gauge", "events waiting"},
	};
	pthread_rwlock_rdlock(&d->lock);
	size_t n = 0;
	struct tstats **a = sorted_stats(d, &n);
	int rc = a ? 0 : -ENOMEM;
	for (size_t f = 0; rc == 0 && f < sizeof(fam) / sizeof(*fam); f++)
		rc = metric_family(out, a, n, fam[f].name, fam[f].type,
				   fam[f].help, f);
	if (rc == 0)
		rc = metric_latency(out, a, n);
	pthread_rwlock_unlock(&d->lock);
	free(a);
	return rc;
}
