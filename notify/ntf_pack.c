/*
 * ntf_pack.c - the compact event encoding of the journal; see ntf_pack.h.
 */
#include "ntf_pack.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_buf.h"

/* version, name, n_meta, uid, pid, size, time_ms */
#define PACK_FIXED (1 + 1 + 2 + 4 + 4 + 8 + 8)
/* The strings before the metadata pairs, in order. */
#define PACK_STRS 10

/* The event's strings in their packed order (meta pairs not included). */
static void strs_of(const struct ntf_event *ev, const char *config_id,
		    const char *s[PACK_STRS])
{
	s[0] = config_id;
	s[1] = ev->bucket;
	s[2] = ev->key;
	s[3] = ev->etag;
	s[4] = ev->content_type;
	s[5] = ev->version_id;
	s[6] = ev->comm;
	s[7] = ev->copy_source;
	s[8] = ev->region;
	s[9] = ev->host;
}

static char *put(char *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

static char *put_str(char *p, const char *s, size_t len)
{
	uint32_t n = s ? (uint32_t)len : NTF_PACK_NULL;
	p = put(p, &n, 4);
	return s ? put(p, s, len) : p;
}

int ntf_pack_event(const struct ntf_event *ev, const char *config_id,
		   struct cmn_buf *out)
{
	const char *s[PACK_STRS];
	size_t len[PACK_STRS], need = PACK_FIXED;
	if ((unsigned)ev->name >= NTF_EV_COUNT)
		return -EINVAL;
	if (ev->n_meta > NTF_PACK_META_MAX)
		return -E2BIG;
	strs_of(ev, config_id, s);
	for (int i = 0; i < PACK_STRS; i++) {
		len[i] = s[i] ? strlen(s[i]) : 0;
		need += 4 + len[i];
	}
	for (size_t i = 0; i < ev->n_meta; i++)
		need += 8 + strlen(ev->meta[i].name ? ev->meta[i].name : "") +
			strlen(ev->meta[i].value ? ev->meta[i].value : "");
	if (need > out->max)
		return -E2BIG;
	char *p = cmn_buf_reserve(out, need);
	if (!p)
		return -errno;
	uint8_t version = NTF_PACK_VERSION, name = (uint8_t)ev->name;
	uint16_t n_meta = (uint16_t)ev->n_meta;
	p = put(p, &version, 1);
	p = put(p, &name, 1);
	p = put(p, &n_meta, 2);
	p = put(p, &ev->uid, 4);
	p = put(p, &ev->pid, 4);
	p = put(p, &ev->size, 8);
	p = put(p, &ev->time_ms, 8);
	for (int i = 0; i < PACK_STRS; i++)
		p = put_str(p, s[i], len[i]);
	for (size_t i = 0; i < ev->n_meta; i++) {
		/* the record writer takes a NULL name or value as "" */
		const char *k = ev->meta[i].name ? ev->meta[i].name : "";
		const char *v = ev->meta[i].value ? ev->meta[i].value : "";
		p = put_str(p, k, strlen(k));
		p = put_str(p, v, strlen(v));
	}
	out->len += need;
	out->data[out->len] = '\0';
	return 0;
}

/* A cursor over a blob being decoded. */
struct rd {
	const char *p, *end;
	char *at; /* where the next string goes in the arena */
};

/* The next string, copied NUL-terminated into the arena; *s is NULL for
 * an absent one.  False when the blob ends or the string holds a NUL. */
static bool take_str(struct rd *r, const char **s)
{
	uint32_t n;
	if (r->end - r->p < 4)
		return false;
	memcpy(&n, r->p, 4);
	r->p += 4;
	if (n == NTF_PACK_NULL) {
		*s = NULL;
		return true;
	}
	if ((size_t)(r->end - r->p) < n || memchr(r->p, '\0', n))
		return false;
	memcpy(r->at, r->p, n);
	r->at[n] = '\0';
	*s = r->at;
	r->at += n + 1;
	r->p += n;
	return true;
}

static int decode_fixed(const char *b, size_t len, struct ntf_event *ev,
			uint16_t *n_meta)
{
	if (len < PACK_FIXED || (uint8_t)b[0] != NTF_PACK_VERSION ||
	    (uint8_t)b[1] >= NTF_EV_COUNT)
		return -EBADMSG;
	memset(ev, 0, sizeof(*ev));
	ev->name = (enum ntf_event_name)(uint8_t)b[1];
	memcpy(n_meta, b + 2, 2);
	memcpy(&ev->uid, b + 4, 4);
	memcpy(&ev->pid, b + 8, 4);
	memcpy(&ev->size, b + 12, 8);
	memcpy(&ev->time_ms, b + 20, 8);
	return *n_meta > NTF_PACK_META_MAX ? -EBADMSG : 0;
}

int ntf_pack_decode(const char *blob, size_t len, struct ntf_unpacked *out)
{
	uint16_t n_meta;
	memset(out, 0, sizeof(*out));
	if (decode_fixed(blob, len, &out->ev, &n_meta) < 0)
		return -EBADMSG;
	/* the metadata array, then every string with its NUL: never more
	 * than the blob's bytes plus one NUL per string */
	size_t nstr = PACK_STRS + 2u * n_meta;
	size_t meta_bytes = n_meta * sizeof(struct ntf_meta);
	out->arena = malloc(meta_bytes + len + nstr);
	if (!out->arena)
		return -ENOMEM;
	struct ntf_meta *meta = (struct ntf_meta *)(void *)out->arena;
	struct rd r = {blob + PACK_FIXED, blob + len, out->arena + meta_bytes};
	struct ntf_event *ev = &out->ev;
	const char **dst[PACK_STRS] = {
		&out->config_id, &ev->bucket,	   &ev->key,
		&ev->etag,	 &ev->content_type, &ev->version_id,
		&ev->comm,	 &ev->copy_source,  &ev->region,
		&ev->host};
	bool ok = true;
	for (int i = 0; ok && i < PACK_STRS; i++)
		ok = take_str(&r, dst[i]);
	for (size_t i = 0; ok && i < n_meta; i++)
		ok = take_str(&r, &meta[i].name) &&
		     take_str(&r, &meta[i].value) && meta[i].name &&
		     meta[i].value;
	if (!ok || r.p != r.end) {
		ntf_pack_unpacked_free(out);
		return -EBADMSG;
	}
	ev->meta = n_meta ? meta : NULL;
	ev->n_meta = n_meta;
	return 0;
}

void ntf_pack_unpacked_free(struct ntf_unpacked *u)
{
	free(u->arena);
	u->arena = NULL;
}

int ntf_pack_render(const char *blob, size_t len, uint64_t seq,
		    struct cmn_buf *out)
{
	struct ntf_unpacked u;
	int rc = ntf_pack_decode(blob, len, &u);
	if (rc < 0)
		return rc;
	u.ev.sequencer = seq;
	rc = ntf_record_json(&u.ev, u.config_id, out);
	ntf_pack_unpacked_free(&u);
	return rc;
}
