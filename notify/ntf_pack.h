/*
 * ntf_pack.h - an event in compact binary form, for the journal: what the
 * request thread writes instead of the record JSON, rendered into the JSON
 * by the store's ingester.
 *
 * Why: formatting a record (~700 bytes of JSON) was the largest part of
 * what an event cost the FUSE thread (2-5 us measured in place, cold
 * caches, out of ~6), and a journal of JSON records is five times the
 * bytes (memcpy, CRC, page faults of the mapped journal).  A packed event
 * is the fields and their strings, copied; the ingester renders a batch
 * of them with warm caches, where it costs ~0.6 us each and no one waits.
 *
 * Layout, host byte order (the journal never leaves the machine):
 *   u8 version (NTF_PACK_VERSION), u8 event name, u16 metadata pairs,
 *   u32 uid, i32 pid, i64 size, i64 time_ms,
 *   then the strings configuration id, bucket, key, eTag, content type,
 *   version id, command name, copy source, region, host, and each
 *   metadata name and value, each as u32 length (NTF_PACK_NULL: absent)
 *   followed by that many bytes, none of them NUL.
 * One event has exactly one encoding (the fuzz harness checks it).
 */
#ifndef NTF_PACK_H
#define NTF_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "ntf_record.h"

struct cmn_buf;

#define NTF_PACK_VERSION 1
#define NTF_PACK_NULL UINT32_MAX
/* Metadata pairs a packed event may carry (the FUSE layer sends 32). */
#define NTF_PACK_META_MAX 256

/* A decoded event: ev's strings and meta point into arena. */
struct ntf_unpacked {
	struct ntf_event ev;
	const char *config_id; /* NULL when absent */
	char *arena;           /* owned; free with ntf_pack_unpacked_free */
};

/* Append ev (its sequencer is not kept: the store assigns it) with its
 * configuration id (may be NULL) to out.  Returns 0, -EINVAL for an
 * out-of-range event name, -E2BIG when it does not fit the format or
 * out's ceiling, -ENOMEM; on failure out->len is restored. */
int ntf_pack_event(const struct ntf_event *ev, const char *config_id,
		   struct cmn_buf *out);

/* Decode the len bytes at blob.  Returns 0 with *out filled, -EBADMSG
 * when they are not a packed event, -ENOMEM.  Never reads past
 * blob + len. */
int ntf_pack_decode(const char *blob, size_t len, struct ntf_unpacked *out);

void ntf_pack_unpacked_free(struct ntf_unpacked *u);

/* Append the record JSON of the packed event at blob, with sequencer seq,
 * to out: the record ntf_record_json() makes of the event packed.
 * Returns 0, -EBADMSG (see ntf_pack_decode), or what ntf_record_json
 * returns. */
int ntf_pack_render(const char *blob, size_t len, uint64_t seq,
		    struct cmn_buf *out);

#endif
