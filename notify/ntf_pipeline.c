/*
 * ntf_pipeline.c - emit, match, serialise, store, stream; see
 * ntf_pipeline.h.
 *
 * Rule sets live in a small hash of buckets behind a read-write lock:
 * matching takes the read side for the few hundred nanoseconds a match
 * costs and copies what it needs, so a rule change never waits for a
 * store commit.  `any_mask` is the OR of every event mask that could want
 * an event (all rule sets, the default when nothing is configured, and
 * everything while a live reader is open); it is what makes an
 * unsubscribed operation cost one bit test.  `sure_mask` is its converse:
 * the events a rule for every bucket takes whatever the key (the global
 * rules', or the default's, without a filter), which match without a
 * look at the rules.
 */
#include "ntf_pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmn_buf.h"
#include "cmn_time.h"
#include "ntf_limits.h"
#include "ntf_pack.h"
#include "ntf_record.h"
#include "ntf_rules.h"

#define PIPE_SLOTS 256
/* Distinct configuration ids one event may match (one record each); the
 * rest of the matches of a larger set are refused with -E2BIG, loudly. */
#define PIPE_GROUPS 8
#define PIPE_LOCAL_ID "local"
#define PIPE_LOCAL_TYPE "sqlite"

/* A record on its way to live readers.  Records enter the gate in
 * sequence order (under the store's sequencing lock) and leave it in that
 * order: one waiting for its eTag holds back those behind it, so readers
 * see sequencers increase and every key's events in order. */
struct gate_item {
	char *line;                 /* owned; the eTag placeholder until ready */
	size_t len;
	bool ready;
	struct gate_item *next;
};

struct ntf_pending {
	uint64_t seqs[PIPE_GROUPS];
	size_t n;
	struct gate_item *gate;     /* borrowed from the gate, or NULL */
	bool urgent;                /* see ntf_pipeline_pending_urgent() */
};

struct bucket_rules {
	char *bucket;                 /* owned */
	struct ntf_rules *rules;      /* owned */
	struct bucket_rules *next;
};

struct ntf_pipeline {
	struct ntf_store *store;
	struct ntf_ring *ring;
	enum ntf_durability durability;
	char *region;
	uint64_t replayed_earlier, damaged_earlier; /* see the opts */

	pthread_rwlock_t lock;        /* guards the rule sets below */
	struct ntf_rules *global;     /* mount-root rules, or NULL */
	struct ntf_rules *deflt;      /* applies while nothing is set */
	struct bucket_rules *slots[PIPE_SLOTS];
	size_t n_configured;          /* bucket rule sets + global */

	pthread_mutex_t gate_lock;    /* guards the gate list */
	struct gate_item *gate_head, *gate_tail;
	size_t gate_len;

	_Atomic uint64_t any_mask, sure_mask;
	atomic_uint readers;
	_Atomic uint64_t emitted, matched, records, failed;

	struct ntf_target_id local_target;
	struct ntf_rules_env env;

	/* Delivery (ntf_pipeline_set_delivery), read under lock. */
	const struct ntf_pipeline_delivery *dlv;
	void *dlv_arg;
	/* Target lists handed out by ntf_pipeline_env; an old one may still
	 * be in a caller's hands, so they are freed only at close. */
	struct ntf_target_id **env_lists;
	size_t n_env_lists;
	/* Per event name: reached emit, matched a target, refused by a
	 * target's queue_limit. */
	_Atomic uint64_t ev_emitted[NTF_EV_COUNT], ev_matched[NTF_EV_COUNT],
		ev_dropped[NTF_EV_COUNT];
};

static size_t slot_of(const char *bucket)
{
	size_t h = 5381;
	for (const unsigned char *p = (const unsigned char *)bucket; *p; p++)
		h = h * 33 + *p;
	return h % PIPE_SLOTS;
}

static struct bucket_rules **find_slot(struct ntf_pipeline *p,
				       const char *bucket)
{
	struct bucket_rules **pp = &p->slots[slot_of(bucket)];
	while (*pp && strcmp((*pp)->bucket, bucket) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Recompute any_mask and sure_mask; called with the write lock held (or
 * at open). */
static void update_mask(struct ntf_pipeline *p)
{
	atomic_store(&p->sure_mask,
		     ntf_rules_keyless_mask(p->n_configured ? p->global
							    : p->deflt));
	uint64_t m = ntf_rules_mask(p->global);
	for (size_t i = 0; i < PIPE_SLOTS; i++)
		for (struct bucket_rules *b = p->slots[i]; b; b = b->next)
			m |= ntf_rules_mask(b->rules);
	if (p->n_configured == 0)
		m |= ntf_rules_mask(p->deflt);
	if (atomic_load(&p->readers) > 0)
		m = ~UINT64_C(0);
	atomic_store(&p->any_mask, m);
}

int ntf_pipeline_open(const struct ntf_pipeline_opts *o,
		      struct ntf_pipeline **out, char **errmsg)
{
	struct ntf_pipeline *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_rwlock_init(&p->lock, NULL);
	pthread_mutex_init(&p->gate_lock, NULL);
	p->durability = o->durability;
	p->replayed_earlier = o->replayed_earlier;
	p->damaged_earlier = o->damaged_earlier;
	p->region = strdup(o->region ? o->region : "us-east-1");
	p->local_target = (struct ntf_target_id){PIPE_LOCAL_ID,
						 PIPE_LOCAL_TYPE};
	p->env = (struct ntf_rules_env){p->region, &p->local_target, 1};
	struct ntf_store_opts so = {.log_max_events = o->log_max_events,
				    .log_max_age_ms = o->log_max_age_ms,
				    .lock_wait_ms = o->lock_wait_ms};
	int rc = p->region ? 0 : -ENOMEM;
	if (rc == 0)
		rc = ntf_rules_default(&p->deflt);
	if (rc == 0)
		rc = ntf_ring_new(NTF_LIMIT_RING_BYTES, NTF_LIMIT_RING_LINES,
				  &p->ring);
	if (rc == 0)
		rc = ntf_store_open(o->state_dir, &so, &p->store, errmsg);
	if (rc < 0) {
		ntf_pipeline_close(p);
		return rc;
	}
	update_mask(p);
	*out = p;
	return 0;
}

void ntf_pipeline_close(struct ntf_pipeline *p)
{
	if (!p)
		return;
	ntf_store_close(p->store);
	ntf_ring_free(p->ring);
	for (size_t i = 0; i < PIPE_SLOTS; i++) {
		struct bucket_rules *b = p->slots[i];
		while (b) {
			struct bucket_rules *next = b->next;
			ntf_rules_free(b->rules);
			free(b->bucket);
			free(b);
			b = next;
		}
	}
	ntf_rules_free(p->global);
	ntf_rules_free(p->deflt);
	for (struct gate_item *g = p->gate_head, *next; g; g = next) {
		next = g->next;
		free(g->line);
		free(g);
	}
	pthread_mutex_destroy(&p->gate_lock);
	pthread_rwlock_destroy(&p->lock);
	for (size_t i = 0; i < p->n_env_lists; i++)
		free(p->env_lists[i]);
	free(p->env_lists);
	free(p->region);
	free(p);
}

struct ntf_rules_env ntf_pipeline_env(struct ntf_pipeline *p)
{
	pthread_rwlock_rdlock(&p->lock);
	struct ntf_rules_env env = p->env;
	pthread_rwlock_unlock(&p->lock);
	return env;
}

const char *ntf_pipeline_region(struct ntf_pipeline *p)
{
	return p->region;
}

static int set_bucket_rules(struct ntf_pipeline *p, const char *bucket,
			    struct ntf_rules *rules)
{
	struct bucket_rules **pp = find_slot(p, bucket);
	if (*pp) {
		ntf_rules_free((*pp)->rules);
		if (rules) {
			(*pp)->rules = rules;
			return 0;
		}
		struct bucket_rules *dead = *pp;
		*pp = dead->next;
		free(dead->bucket);
		free(dead);
		p->n_configured--;
		return 0;
	}
	if (!rules)
		return 0;
	struct bucket_rules *b = calloc(1, sizeof(*b));
	if (!b || !(b->bucket = strdup(bucket))) {
		free(b);
		ntf_rules_free(rules);
		return -ENOMEM;
	}
	b->rules = rules;
	*pp = b;
	p->n_configured++;
	return 0;
}

/* AWS sends s3:TestEvent to every target a new configuration names.
 * Lock held (rules belongs to p now). */
static void send_test_events(struct ntf_pipeline *p,
			     const struct ntf_rules *rules, const char *bucket)
{
	for (size_t i = 0; i < ntf_rules_target_count(rules); i++) {
		struct ntf_target_id t = ntf_rules_target(rules, i);
		char name[2 * NTF_LIMIT_ARN_BYTES];
		if (strcmp(t.id, PIPE_LOCAL_ID) == 0 &&
		    strcmp(t.type, PIPE_LOCAL_TYPE) == 0)
			continue;
		snprintf(name, sizeof(name), "%s:%s", t.id, t.type);
		p->dlv->test_event(p->dlv_arg, name, bucket);
	}
}

int ntf_pipeline_set_rules(struct ntf_pipeline *p, const char *bucket,
			   struct ntf_rules *rules)
{
	int rc = 0;
	pthread_rwlock_wrlock(&p->lock);
	if (bucket) {
		rc = set_bucket_rules(p, bucket, rules);
	} else {
		if (p->global && !rules)
			p->n_configured--;
		else if (!p->global && rules)
			p->n_configured++;
		ntf_rules_free(p->global);
		p->global = rules;
	}
	update_mask(p);
	if (rc == 0 && rules && p->dlv)
		send_test_events(p, rules, bucket ? bucket : "");
	pthread_rwlock_unlock(&p->lock);
	return rc;
}

void ntf_pipeline_move_rules(struct ntf_pipeline *p, const char *from,
			     const char *to)
{
	pthread_rwlock_wrlock(&p->lock);
	struct bucket_rules **pp = find_slot(p, from);
	if (*pp) {
		struct bucket_rules *b = *pp;
		char *name = strdup(to);
		if (name) {
			*pp = b->next;
			free(b->bucket);
			b->bucket = name;
			struct bucket_rules **dst = find_slot(p, to);
			if (*dst) { /* replaced: the renamed bucket wins */
				struct bucket_rules *old = *dst;
				*dst = old->next;
				ntf_rules_free(old->rules);
				free(old->bucket);
				free(old);
				p->n_configured--;
			}
			b->next = p->slots[slot_of(to)];
			p->slots[slot_of(to)] = b;
		}
	}
	pthread_rwlock_unlock(&p->lock);
}

bool ntf_pipeline_wants(struct ntf_pipeline *p, enum ntf_event_name ev)
{
	return (atomic_load_explicit(&p->any_mask, memory_order_relaxed) &
		NTF_EV_BIT(ev)) != 0;
}

bool ntf_pipeline_matches(struct ntf_pipeline *p, enum ntf_event_name ev,
			  const char *bucket, const char *key)
{
	if (!ntf_pipeline_wants(p, ev))
		return false;
	if (atomic_load_explicit(&p->sure_mask, memory_order_relaxed) &
	    NTF_EV_BIT(ev))
		return true;
	if (atomic_load(&p->readers) > 0)
		return true;
	struct ntf_match m[NTF_LIMIT_MATCH];
	size_t klen = key ? strlen(key) : 0;
	int n;
	key = key ? key : "";
	pthread_rwlock_rdlock(&p->lock);
	if (p->n_configured == 0) {
		n = ntf_rules_match(p->deflt, ev, key, klen, m, 0,
				    NTF_LIMIT_MATCH);
	} else {
		n = ntf_rules_match(p->global, ev, key, klen, m, 0,
				    NTF_LIMIT_MATCH);
		struct bucket_rules *b = bucket ? *find_slot(p, bucket) : NULL;
		if (n == 0 && b)
			n = ntf_rules_match(b->rules, ev, key, klen, m, 0,
					    NTF_LIMIT_MATCH);
	}
	pthread_rwlock_unlock(&p->lock);
	return n != 0; /* errors (-E2BIG) count as a match: never lose one */
}

/* One record to store: the matches sharing a configuration id. */
struct group {
	const char *config_id;      /* in the names buffer */
	const char *targets[NTF_LIMIT_STORE_TARGETS];
	size_t n;
};

/* May ev be queued for target?  A target at its queue_limit refuses; the
 * drop is counted here by name and by the delivery side per target. */
static bool admit(struct ntf_pipeline *p, const struct ntf_event *ev,
		  const char *target)
{
	if (strcmp(target, NTF_STORE_LOCAL) == 0)
		return true;
	pthread_rwlock_rdlock(&p->lock);
	const struct ntf_pipeline_delivery *d = p->dlv;
	void *arg = p->dlv_arg;
	pthread_rwlock_unlock(&p->lock);
	if (!d || d->admit(arg, target))
		return true;
	if ((size_t)ev->name < NTF_EV_COUNT)
		atomic_fetch_add(&p->ev_dropped[ev->name], 1);
	return false;
}

/* Give back the places admit() took for the groups' targets: the event
 * was not stored. */
static void unadmit_groups(struct ntf_pipeline *p, const struct group *g,
			   int ng)
{
	pthread_rwlock_rdlock(&p->lock);
	const struct ntf_pipeline_delivery *d = p->dlv;
	void *arg = p->dlv_arg;
	pthread_rwlock_unlock(&p->lock);
	if (!d || !d->unadmit)
		return;
	for (int i = 0; i < ng; i++)
		for (size_t j = 0; j < g[i].n; j++)
			if (strcmp(g[i].targets[j], NTF_STORE_LOCAL) != 0)
				d->unadmit(arg, g[i].targets[j]);
}

/* Match ev and copy the results into groups (strings into names, so the
 * rule sets can change as soon as the lock is dropped).  Returns the
 * number of groups or -errno. */
static int match_groups(struct ntf_pipeline *p, const struct ntf_event *ev,
			struct group *g, size_t gcap, struct cmn_buf *names)
{
	struct ntf_match m[NTF_LIMIT_MATCH];
	const char *key = ev->key ? ev->key : "";
	int n = 0, ng = 0;
	size_t offs[NTF_LIMIT_MATCH][2];

	pthread_rwlock_rdlock(&p->lock);
	if (p->n_configured == 0) {
		n = ntf_rules_match(p->deflt, ev->name, key, strlen(key), m, 0,
				    NTF_LIMIT_MATCH);
	} else {
		n = ntf_rules_match(p->global, ev->name, key, strlen(key), m,
				    0, NTF_LIMIT_MATCH);
		struct bucket_rules *b = ev->bucket ? *find_slot(p, ev->bucket)
						    : NULL;
		if (n >= 0 && b)
			n = ntf_rules_match(b->rules, ev->name, key,
					    strlen(key), m, (size_t)n,
					    NTF_LIMIT_MATCH);
	}
	int rc = n < 0 ? n : 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		offs[i][0] = names->len;
		bool local = strcmp(m[i].target_id, PIPE_LOCAL_ID) == 0 &&
			     strcmp(m[i].target_type, PIPE_LOCAL_TYPE) == 0;
		rc = local ? cmn_buf_adds(names, NTF_STORE_LOCAL)
			   : cmn_buf_printf(names, "%s:%s", m[i].target_id,
					    m[i].target_type);
		if (rc == 0)
			rc = cmn_buf_addc(names, '\0');
		offs[i][1] = names->len;
		if (rc == 0)
			rc = cmn_buf_add(names, m[i].configuration_id,
					 strlen(m[i].configuration_id) + 1);
	}
	pthread_rwlock_unlock(&p->lock);
	if (rc < 0)
		return rc;

	/* names no longer moves: resolve offsets into groups. */
	for (int i = 0; i < n; i++) {
		const char *target = names->data + offs[i][0];
		const char *cid = names->data + offs[i][1];
		if (!admit(p, ev, target))
			continue;
		int j = 0;
		while (j < ng && strcmp(g[j].config_id, cid) != 0)
			j++;
		if (j == ng) {
			if ((size_t)ng == gcap) {
				struct group one = {.targets = {target},
						    .n = 1};
				unadmit_groups(p, &one, 1);
				unadmit_groups(p, g, ng);
				return -E2BIG;
			}
			g[ng].config_id = cid;
			g[ng].n = 0;
			ng++;
		}
		if (g[j].n < NTF_LIMIT_STORE_TARGETS) {
			g[j].targets[g[j].n++] = target;
		} else {
			struct group one = {.targets = {target}, .n = 1};
			unadmit_groups(p, &one, 1);
		}
	}
	return ng;
}

/* The serialised records of one event, one per group, and what happens
 * when their sequence numbers are assigned. */
struct lines {
	struct ntf_pipeline *p;
	struct cmn_buf *rec;
	size_t off[PIPE_GROUPS], len[PIPE_GROUPS];
	size_t seq1[PIPE_GROUPS], seq2[PIPE_GROUPS]; /* 0: absent */
	int n;
	bool packed;    /* the lines are ntf_pack blobs, not JSON */
	bool publish;   /* the first line goes to live readers */
	bool pending;   /* ... once its eTag is in */
	bool assigned;  /* out: seqs were taken (and entries stored) */
	struct gate_item *gate; /* out: its place in the gate */
};

static void patch_seq(struct lines *l, int i, uint64_t seq)
{
	char hex[17];
	if (!l->seq1[i] && !l->seq2[i])
		return; /* packed: the store writes the sequencer */
	ntf_record_sequencer(seq, hex);
	char *line = l->rec->data + l->off[i];
	if (l->seq1[i])
		memcpy(line + l->seq1[i], hex, 16);
	if (l->seq2[i])
		memcpy(line + l->seq2[i], hex, 16);
}

/* Publish the ready records at the head of the gate.  gate_lock held. */
static void gate_drain(struct ntf_pipeline *p)
{
	struct gate_item *g;
	while ((g = p->gate_head) && (g->ready || p->gate_len >
						    NTF_LIMIT_RING_LINES)) {
		/* A gate this full means a hash is taking very long: let the
		 * head go as it is rather than hold everyone back. */
		if (!g->ready)
			g->len = 0;
		p->gate_head = g->next;
		if (!p->gate_head)
			p->gate_tail = NULL;
		p->gate_len--;
		if (g->len)
			ntf_ring_publish(p->ring, g->line, g->len);
		free(g->line);
		if (g->ready)
			free(g);
		else
			g->line = NULL; /* its pending handle frees it */
	}
}

/* Runs under the store's sequencing lock: records enter the gate in
 * sequence order. */
static void on_assigned(void *arg, uint64_t first, size_t n)
{
	struct lines *l = arg;
	l->assigned = true;
	for (int i = 0; i < l->n && (size_t)i < n; i++)
		patch_seq(l, i, first + (uint64_t)i);
	if (!l->publish || l->n == 0)
		return;
	struct gate_item *g = calloc(1, sizeof(*g));
	if (g && !(g->line = malloc(l->len[0]))) {
		free(g);
		g = NULL;
	}
	if (!g)
		return; /* out of memory: live readers miss this one */
	memcpy(g->line, l->rec->data + l->off[0], l->len[0]);
	g->len = l->len[0];
	g->ready = !l->pending;
	struct ntf_pipeline *p = l->p;
	pthread_mutex_lock(&p->gate_lock);
	if (p->gate_tail)
		p->gate_tail->next = g;
	else
		p->gate_head = g;
	p->gate_tail = g;
	p->gate_len++;
	l->gate = l->pending ? g : NULL;
	gate_drain(p);
	pthread_mutex_unlock(&p->gate_lock);
}

/* Serialise one record per group into l->rec. */
static int format_lines(struct ntf_event *ev, struct group *g, int ng,
			struct lines *l)
{
	int rc = 0;
	struct group none = {.config_id = ""};
	l->n = ng ? ng : 1;
	for (int i = 0; rc == 0 && i < l->n; i++) {
		struct ntf_record_marks m = {0, 0};
		l->off[i] = l->rec->len;
		rc = ntf_record_json_marked(
			ev, (ng ? &g[i] : &none)->config_id, l->rec, &m);
		l->len[i] = l->rec->len - l->off[i];
		l->seq1[i] = m.sequencer;
		l->seq2[i] = m.request_id;
		if (rc == 0)
			rc = cmn_buf_addc(l->rec, '\n');
	}
	return rc;
}

/* The records of the groups packed (ntf_pack.h) into l->rec, for the
 * store to render: what an event costs its caller when no live reader
 * needs the JSON now. */
/* Rendered, a packed event grows at most this much: a byte of a key or
 * a metadata value becomes at most six (a JSON \u00XX escape), plus the
 * record's fixed text. */
#define PACK_RENDER_BOUND(len) (6 * (len) + 4096)

/* Will the packed event at blob render within the record limit?  What
 * the store refuses for a JSON record must not be taken packed and then
 * fail to render at ingest, after the caller was told it is stored. */
static int pack_fits(const char *blob, size_t len)
{
	if (PACK_RENDER_BOUND(len) <= NTF_LIMIT_RECORD_BYTES)
		return 0; /* every usual event: no trial */
	struct cmn_buf json;
	cmn_buf_init(&json, NTF_LIMIT_RECORD_BYTES);
	int rc = ntf_pack_render(blob, len, 0, &json);
	cmn_buf_free(&json);
	return rc;
}

static int pack_lines(struct ntf_event *ev, struct group *g, int ng,
		      struct lines *l)
{
	int rc = 0;
	l->n = ng;
	l->packed = true;
	for (int i = 0; rc == 0 && i < ng; i++) {
		l->off[i] = l->rec->len;
		rc = ntf_pack_event(ev, g[i].config_id, l->rec);
		l->len[i] = l->rec->len - l->off[i];
		l->seq1[i] = l->seq2[i] = 0;
		if (rc == 0)
			rc = pack_fits(l->rec->data + l->off[i], l->len[i]);
	}
	return rc;
}

static int store_groups(struct ntf_pipeline *p, struct ntf_event *ev,
			struct group *g, int ng, struct lines *l,
			bool pending, unsigned flags, uint64_t *seqs)
{
	struct ntf_store_entry e[PIPE_GROUPS];
	const char *name = ntf_event_str(ev->name);
	for (int i = 0; i < ng; i++) {
		e[i] = (struct ntf_store_entry){
			.time_ms = ev->time_ms,
			.event_name = name,
			.bucket = ev->bucket,
			.key = ev->key ? ev->key : "",
			.record = l->rec->data + l->off[i],
			.record_len = l->len[i],
			.seq_offset = l->seq1[i],
			.seq_offset2 = l->seq2[i],
			.packed = l->packed,
			.pending = pending,
			.targets = g[i].targets,
			.n_targets = g[i].n,
		};
	}
	int rc = ntf_store_append_ex(p->store, e, (size_t)ng, p->durability,
				     flags, on_assigned, l);
	/* Assigned, the entries are stored, even when the fsync after
	 * failed: pending ones still need their finalisation. */
	for (int i = 0; l->assigned && i < ng; i++)
		seqs[i] = e[i].seq;
	return rc;
}

/* Does any group deliver somewhere other than the embedded log? */
static bool delivers(const struct group *g, int ng)
{
	for (int i = 0; i < ng; i++)
		for (size_t j = 0; j < g[i].n; j++)
			if (strcmp(g[i].targets[j], NTF_STORE_LOCAL) != 0)
				return true;
	return false;
}

/* Keep what finalisation needs: the seqs and the record's gate item. */
static struct ntf_pending *make_pending(const uint64_t *seqs, size_t n,
					struct gate_item *gate, bool urgent)
{
	struct ntf_pending *pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	memcpy(pd->seqs, seqs, n * sizeof(*seqs));
	pd->n = n;
	pd->gate = gate;
	pd->urgent = urgent || gate != NULL;
	return pd;
}

static void finalize_stored(struct ntf_pipeline *p,
			    struct ntf_pending *const *pds,
			    const char *const *etags, size_t n);
static void finalize_gated(struct ntf_pipeline *p,
			   struct ntf_pending *const *pds,
			   const char *const *etags, size_t n);

/* Hand the caller what finalises the pending records just stored, or,
 * without memory for it, finalise them now without an eTag: a record
 * left pending with no owner would hold back every reader and queue
 * behind it until the next mount. */
static int hand_pending(struct ntf_pipeline *p, const uint64_t *seqs,
			size_t n, struct lines *l, bool urgent,
			struct ntf_pending **out)
{
	*out = make_pending(seqs, n, l->gate, urgent);
	if (*out)
		return 0;
	struct ntf_pending now = {.n = n, .gate = l->gate};
	memcpy(now.seqs, seqs, n * sizeof(*seqs));
	struct ntf_pending *pd = &now;
	const char *none = NULL;
	finalize_stored(p, &pd, &none, 1);
	finalize_gated(p, &pd, &none, 1);
	return -ENOMEM;
}

/* With out != NULL the records are stored as pending and live readers
 * see them only at finalisation. */
int ntf_pipeline_emit_ex(struct ntf_pipeline *p, struct ntf_event *ev,
			 unsigned flags, struct ntf_pending **out)
{
	if (out)
		*out = NULL;
	struct group g[PIPE_GROUPS];
	uint64_t seqs[PIPE_GROUPS];
	/* A packed record of a usual key and a few names fit here. */
	char names_on[256], rec_on[2048];
	struct cmn_buf names, rec;
	struct lines l = {.p = p, .rec = &rec};
	int rc;

	atomic_fetch_add(&p->emitted, 1);
	if (!ntf_pipeline_wants(p, ev->name))
		return 0;
	/* Per name, for the metrics; what nobody subscribes to is not
	 * counted there (it is one bit test, and stays one). */
	if ((unsigned)ev->name < NTF_EV_COUNT)
		atomic_fetch_add_explicit(&p->ev_emitted[ev->name], 1,
					  memory_order_relaxed);
	if (!ev->time_ms)
		ev->time_ms = cmn_time_now_ms();
	if (!ev->region)
		ev->region = p->region;
	ev->sequencer = 0;
	if (out)
		ev->etag = NTF_ETAG_PENDING;
	cmn_buf_init_on(&names, 64 * 1024, names_on, sizeof(names_on));
	cmn_buf_init_on(&rec, NTF_LIMIT_RECORD_BYTES * 8, rec_on,
			sizeof(rec_on));
	int ng = match_groups(p, ev, g, PIPE_GROUPS, &names);
	if (ng < 0) {
		rc = ng;
		goto out;
	}
	if (ng > 0) {
		atomic_fetch_add(&p->matched, 1);
		if ((unsigned)ev->name < NTF_EV_COUNT)
			atomic_fetch_add_explicit(&p->ev_matched[ev->name], 1,
						  memory_order_relaxed);
	}
	bool live = atomic_load(&p->readers) > 0;
	if (ng == 0 && !live) {
		rc = 0;
		goto out;
	}
	/* JSON now only for live readers; the store renders the rest. */
	rc = live || ng == 0 ? format_lines(ev, g, ng, &l)
			     : pack_lines(ev, g, ng, &l);
	l.publish = live;
	l.pending = out != NULL;
	if (rc == 0 && ng == 0) {
		/* Nobody stores it, but live readers see it, numbered. */
		rc = ntf_store_sequence(p->store, on_assigned, &l, &seqs[0]);
	} else if (rc == 0) {
		rc = store_groups(p, ev, g, ng, &l, out != NULL, flags, seqs);
		atomic_fetch_add(rc < 0 ? &p->failed : &p->records,
				 rc < 0 ? 1 : (uint64_t)ng);
	}
	if (rc < 0 && !l.assigned && ng > 0)
		unadmit_groups(p, g, ng);
	if (out && l.assigned) {
		int err = hand_pending(p, seqs, (size_t)ng, &l,
				       delivers(g, ng), out);
		rc = rc ? rc : err;
	}
out:
	cmn_buf_free(&names);
	cmn_buf_free(&rec);
	return rc;
}

int ntf_pipeline_emit(struct ntf_pipeline *p, struct ntf_event *ev)
{
	return ntf_pipeline_emit_ex(p, ev, 0, NULL);
}

int ntf_pipeline_emit_pending(struct ntf_pipeline *p, struct ntf_event *ev,
			      struct ntf_pending **out)
{
	return ntf_pipeline_emit_ex(p, ev, 0, out);
}

int ntf_pipeline_owed_room(struct ntf_pipeline *p)
{
	return ntf_store_owed_room(p->store, p->durability);
}

void ntf_pipeline_finalize(struct ntf_pipeline *p, struct ntf_pending *pd,
			   const char *etag)
{
	ntf_pipeline_finalize_batch(p, &pd, &etag, 1);
}

/* The store's part of a batch, PIPE_FIN_CHUNK pendings at a time. */
#define PIPE_FIN_CHUNK 64

static void store_fin(struct ntf_pipeline *p, const struct ntf_store_fin *f,
		      size_t k)
{
	if (k && ntf_store_finalize_batch(p->store, f, k) < 0)
		atomic_fetch_add(&p->failed, k);
}

static void finalize_stored(struct ntf_pipeline *p,
			    struct ntf_pending *const *pds,
			    const char *const *etags, size_t n)
{
	struct ntf_store_fin f[PIPE_FIN_CHUNK];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!pds[i] || !pds[i]->n)
			continue;
		f[k++] = (struct ntf_store_fin){pds[i]->seqs, pds[i]->n,
						etags[i]};
		if (k == PIPE_FIN_CHUNK) {
			store_fin(p, f, k);
			k = 0;
		}
	}
	store_fin(p, f, k);
}

/* Publish the batch's live lines that still wait in the gate. */
static void finalize_gated(struct ntf_pipeline *p,
			   struct ntf_pending *const *pds,
			   const char *const *etags, size_t n)
{
	bool locked = false;
	for (size_t i = 0; i < n; i++) {
		struct gate_item *g = pds[i] ? pds[i]->gate : NULL;
		if (!g)
			continue;
		if (!locked)
			pthread_mutex_lock(&p->gate_lock);
		locked = true;
		pds[i]->gate = NULL;
		if (g->line) {
			ntf_store_fill_etag(g->line, &g->len, etags[i]);
			g->ready = true;
		} else {
			free(g); /* already let go by a full gate */
		}
	}
	if (locked) {
		gate_drain(p);
		pthread_mutex_unlock(&p->gate_lock);
	}
}

void ntf_pipeline_finalize_batch(struct ntf_pipeline *p,
				 struct ntf_pending *const *pds,
				 const char *const *etags, size_t n)
{
	finalize_stored(p, pds, etags, n);
	finalize_gated(p, pds, etags, n);
	for (size_t i = 0; i < n; i++)
		free(pds[i]);
}

void ntf_pipeline_finalize_end(struct ntf_pipeline *p)
{
	ntf_store_ingest_soon(p->store);
}

bool ntf_pipeline_pending_urgent(const struct ntf_pending *pd)
{
	return pd && pd->urgent;
}

void ntf_pipeline_pending_free(struct ntf_pending *pd)
{
	/* A gate item still held is freed with the pipeline. */
	free(pd);
}

/* A record left pending by a crash, as ntf_pipeline_recover() found it. */
struct recovered {
	uint64_t seq;
	int64_t size;      /* s3.object.size of the record, or -1 */
	bool superseded;   /* a later pending record names the same object */
	char *bucket, *key; /* owned */
};

struct recover_list {
	struct recovered *v; /* owned */
	size_t n, cap;
};

/* The object size a stored record (one event record's JSON) gives, or
 * -1. */
static int64_t record_size(const char *record)
{
	json_t *root = record ? json_loads(record, 0, NULL) : NULL;
	json_t *obj = json_object_get(json_object_get(root, "s3"), "object");
	json_t *size = json_object_get(obj, "size");
	int64_t v = json_is_integer(size) ? json_integer_value(size) : -1;
	json_decref(root);
	return v;
}

static int recover_one(void *arg, uint64_t seq, const char *bucket,
		       const char *key, const char *record, bool later)
{
	struct recover_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct recovered *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct recovered *r = &l->v[l->n];
	*r = (struct recovered){.seq = seq, .size = record_size(record),
				.superseded = later,
				.bucket = strdup(bucket ? bucket : ""),
				.key = strdup(key ? key : "")};
	if (!r->bucket || !r->key) {
		free(r->bucket);
		free(r->key);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* Orders by object, then seq. */
static int cmp_recovered(const void *a, const void *b)
{
	const struct recovered *x = *(struct recovered *const *)a;
	const struct recovered *y = *(struct recovered *const *)b;
	int c = strcmp(x->bucket, y->bucket);
	if (!c)
		c = strcmp(x->key, y->key);
	if (!c)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	return c;
}

/* Mark every record that a later one of the same object follows. */
static int mark_superseded(struct recover_list *l)
{
	if (l->n < 2)
		return 0;
	struct recovered **by = malloc(l->n * sizeof(*by));
	if (!by)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		by[i] = &l->v[i];
	qsort(by, l->n, sizeof(*by), cmp_recovered);
	for (size_t i = 0; i + 1 < l->n; i++)
		by[i]->superseded |= !strcmp(by[i]->bucket, by[i + 1]->bucket) &&
				     !strcmp(by[i]->key, by[i + 1]->key);
	free(by);
	return 0;
}

/* What the object is now can only be the content of the last of its
 * records: one an earlier record of it described is gone (the file was
 * written again, copied over or removed before the crash), so that record
 * is published without an eTag, as a record whose file changed before it
 * was hashed is (fs_etag.h), instead of with the later content's.  The last one goes to
 * fn with the size it recorded, for the hasher to check. */
int ntf_pipeline_recover(struct ntf_pipeline *p, ntf_pipeline_recover_fn fn,
			 void *arg)
{
	struct recover_list l = {0};
	int rc = ntf_store_pending(p->store, recover_one, &l);
	if (rc == 0)
		rc = mark_superseded(&l);
	for (size_t i = 0; i < l.n; i++) {
		struct recovered *r = &l.v[i];
		/* Records left pending by a crash are late already. */
		struct ntf_pending *pd =
			rc ? NULL : make_pending(&r->seq, 1, NULL, true);
		if (!pd && !rc)
			rc = -ENOMEM;
		if (pd && r->superseded)
			ntf_pipeline_finalize(p, pd, NULL);
		else if (pd)
			fn(arg, r->bucket, r->key, r->size, pd);
		free(r->bucket);
		free(r->key);
	}
	free(l.v);
	return rc;
}

int ntf_pipeline_intent(struct ntf_pipeline *p, const struct ntf_intent *in,
			uint64_t *id)
{
	return ntf_store_intent(p->store, in, p->durability, id);
}

void ntf_pipeline_intent_done(struct ntf_pipeline *p, uint64_t id)
{
	/* A DONE lost only repeats the intent's events after a restart. */
	if (id)
		(void)ntf_store_intent_done(p->store, id, p->durability);
}

int ntf_pipeline_intents(struct ntf_pipeline *p, ntf_store_intent_fn fn,
			 void *arg)
{
	return ntf_store_intents(p->store, fn, arg);
}

int ntf_pipeline_reader_open(struct ntf_pipeline *p, ntf_ring_notify_fn fn,
			     void *arg, struct ntf_ring_reader **out)
{
	int rc = ntf_ring_open_reader(p->ring, fn, arg, out);
	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&p->lock);
	atomic_fetch_add(&p->readers, 1);
	update_mask(p);
	pthread_rwlock_unlock(&p->lock);
	return 0;
}

void ntf_pipeline_reader_close(struct ntf_pipeline *p,
			       struct ntf_ring_reader *rd)
{
	if (!rd)
		return;
	ntf_ring_close_reader(rd);
	pthread_rwlock_wrlock(&p->lock);
	atomic_fetch_sub(&p->readers, 1);
	update_mask(p);
	pthread_rwlock_unlock(&p->lock);
}

void ntf_pipeline_stats(struct ntf_pipeline *p, struct ntf_pipeline_stats *st)
{
	st->emitted = atomic_load(&p->emitted);
	st->matched = atomic_load(&p->matched);
	st->records = atomic_load(&p->records);
	st->failed = atomic_load(&p->failed);
	st->last_seq = ntf_store_last_seq(p->store);
}

void ntf_pipeline_set_delivery(struct ntf_pipeline *p,
			       const struct ntf_pipeline_delivery *d, void *arg)
{
	pthread_rwlock_wrlock(&p->lock);
	p->dlv = d;
	p->dlv_arg = arg;
	pthread_rwlock_unlock(&p->lock);
}

int ntf_pipeline_set_targets(struct ntf_pipeline *p,
			     const struct ntf_target_id *t, size_t n)
{
	struct ntf_target_id *list = calloc(n + 1, sizeof(*list));
	struct ntf_target_id **lists =
		realloc(p->env_lists, (p->n_env_lists + 1) * sizeof(*lists));
	if (lists)
		p->env_lists = lists;
	if (!list || !lists) {
		free(list);
		return -ENOMEM;
	}
	/* The strings are the caller's: they must outlive p (see .h). */
	list[0] = p->local_target;
	if (n)
		memcpy(list + 1, t, n * sizeof(*t));
	pthread_rwlock_wrlock(&p->lock);
	p->env_lists[p->n_env_lists++] = list;
	p->env.targets = list;
	p->env.n_targets = n + 1;
	pthread_rwlock_unlock(&p->lock);
	return 0;
}

struct ntf_store *ntf_pipeline_store(struct ntf_pipeline *p)
{
	return p->store;
}

/* Is t one of the targets validation accepts now?  Lock held. */
static bool env_has(const struct ntf_pipeline *p, struct ntf_target_id t)
{
	for (size_t i = 0; i < p->env.n_targets; i++)
		if (strcmp(p->env.targets[i].id, t.id) == 0 &&
		    strcmp(p->env.targets[i].type, t.type) == 0)
			return true;
	return false;
}

static size_t missing_in(struct ntf_pipeline *p, const struct ntf_rules *r,
			 const char *bucket, ntf_pipeline_missing_fn fn,
			 void *arg)
{
	size_t n = 0;
	for (size_t i = 0; r && i < ntf_rules_target_count(r); i++) {
		struct ntf_target_id t = ntf_rules_target(r, i);
		if (env_has(p, t))
			continue;
		fn(arg, bucket, t.id, t.type);
		n++;
	}
	return n;
}

size_t ntf_pipeline_missing(struct ntf_pipeline *p, ntf_pipeline_missing_fn fn,
			    void *arg)
{
	pthread_rwlock_rdlock(&p->lock);
	size_t n = missing_in(p, p->global, "", fn, arg);
	for (size_t i = 0; i < PIPE_SLOTS; i++)
		for (struct bucket_rules *b = p->slots[i]; b; b = b->next)
			n += missing_in(p, b->rules, b->bucket, fn, arg);
	pthread_rwlock_unlock(&p->lock);
	return n;
}

static int metric_by_name(struct cmn_buf *out, const char *name,
			  const char *help, _Atomic uint64_t *v)
{
	int rc = cmn_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name,
				help, name);
	for (size_t e = 0; rc == 0 && e < NTF_EV_COUNT; e++) {
		uint64_t n = atomic_load(&v[e]);
		if (n)
			rc = cmn_buf_printf(out,
					    "%s{event=\"%s\"} %" PRIu64 "\n",
					    name, ntf_event_str(e), n);
	}
	return rc;
}

int ntf_pipeline_render_metrics(struct ntf_pipeline *p, struct cmn_buf *out)
{
	int rc = metric_by_name(out, "bucketfs_events_emitted_total",
				"events some rule subscribes to",
				p->ev_emitted);
	if (rc == 0)
		rc = metric_by_name(out, "bucketfs_events_matched_total",
				    "events that matched at least one target",
				    p->ev_matched);
	if (rc == 0)
		rc = metric_by_name(out, "bucketfs_events_dropped_total",
				    "events a target refused at queue_limit",
				    p->ev_dropped);
	struct ntf_store_stats st;
	ntf_store_stats(p->store, &st);
	if (rc == 0)
		rc = cmn_buf_printf(
			out,
			"# HELP bucketfs_store_committed_total records "
			"committed to the event store\n"
			"# TYPE bucketfs_store_committed_total counter\n"
			"bucketfs_store_committed_total %" PRIu64 "\n"
			"# HELP bucketfs_store_failed_total records lost to "
			"store errors\n"
			"# TYPE bucketfs_store_failed_total counter\n"
			"bucketfs_store_failed_total %" PRIu64 "\n",
			st.committed, st.failed + st.dropped);
	if (rc == 0)
		rc = cmn_buf_printf(
			out,
			"# HELP bucketfs_store_transactions_total journal "
			"ingest transactions committed to events.db\n"
			"# TYPE bucketfs_store_transactions_total counter\n"
			"bucketfs_store_transactions_total %" PRIu64 "\n"
			"# HELP bucketfs_store_ingest_retries_total ingest "
			"transactions that failed and were retried\n"
			"# TYPE bucketfs_store_ingest_retries_total counter\n"
			"bucketfs_store_ingest_retries_total %" PRIu64 "\n"
			"# HELP bucketfs_store_replayed_total records "
			"replayed from the journal at mount (left by a crash)\n"
			"# TYPE bucketfs_store_replayed_total counter\n"
			"bucketfs_store_replayed_total %" PRIu64 "\n"
			"# HELP bucketfs_store_journal_damaged_bytes "
			"journal bytes skipped at mount because they did not "
			"decode, with records after them (what they held is "
			"lost)\n"
			"# TYPE bucketfs_store_journal_damaged_bytes gauge\n"
			"bucketfs_store_journal_damaged_bytes %" PRIu64 "\n"
			"# HELP bucketfs_store_journal_lag_bytes journal "
			"bytes not yet in events.db\n"
			"# TYPE bucketfs_store_journal_lag_bytes gauge\n"
			"bucketfs_store_journal_lag_bytes %" PRIu64 "\n",
			st.batches, st.retries,
			st.replayed + p->replayed_earlier,
			st.damaged + p->damaged_earlier, st.lag_bytes);
	return rc;
}
