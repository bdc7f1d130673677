/*
 * ntf_journal.h - the on-disk frame format of the event journal
 * (STATE/events.journal), the store's write-ahead file.
 *
 * An appender makes its events durable with one write() of their frames to
 * the journal; the store's ingester thread later copies them into
 * events.db in large transactions, and truncates the journal once all of
 * it is in.  At open, frames the database does not have yet are replayed.
 * This module only encodes and decodes frames; the store owns the file.
 *
 * A frame is
 *   u32 body length, u32 CRC-32C (Castagnoli) of the body, body
 * in host byte order (the journal never leaves the machine that wrote it).
 * The body starts with a kind byte:
 *   EVENT  u8 kind, u8 flags (NTF_JOURNAL_PENDING, NTF_JOURNAL_PACKED),
 *          u16 number of targets, u32 record length, u64 seq, i64 time_ms,
 *          then the event name, bucket, key and each target as
 *          NUL-terminated strings, then the record (not NUL-terminated):
 *          its JSON, or with NTF_JOURNAL_PACKED the event packed by
 *          ntf_pack (binary), which the ingester renders.
 *   FIN    u8 kind, u8 has_etag, u64 seq, then 32 hex digits when has_etag:
 *          the finalisation of a pending record (ntf_store_finalize).
 *   INTENT u8 kind, u8 intent kind, u16 flags, u32 uid, i32 pid, u64 id,
 *          u64 dev, u64 ino, then bucket, key, arg and comm as
 *          NUL-terminated strings:
 *          events owed for an operation already acknowledged
 *          (ntf_store_intent); id comes from the sequencer.
 *   DONE   u8 kind, u8 0, u64 id: the intent id was carried out.
 * A frame torn by a crash or power loss fails its length or CRC check;
 * replay stops there.
 */
#ifndef NTF_JOURNAL_H
#define NTF_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntf_store.h"

enum ntf_journal_kind {
	NTF_JOURNAL_EVENT = 1,
	NTF_JOURNAL_FIN = 2,
	NTF_JOURNAL_INTENT = 3,
	NTF_JOURNAL_DONE = 4,
};

#define NTF_JOURNAL_PENDING 0x01
#define NTF_JOURNAL_PACKED 0x02

/* Bytes of the frame header (length and CRC). */
#define NTF_JOURNAL_HEADER 8u

/* One decoded frame; every pointer points into the decoded buffer. */
struct ntf_journal_frame {
	enum ntf_journal_kind kind;
	uint64_t seq; /* EVENT, FIN; the id of INTENT and DONE */
	/* EVENT */
	int64_t time_ms;
	bool pending;
	bool packed; /* record is an ntf_pack blob, not JSON */
	const char *event_name, *bucket, *key; /* bucket, key: also INTENT */
	const char *targets; /* n_targets NUL-terminated names, back to back */
	size_t n_targets;
	const char *record; /* record_len bytes, not NUL-terminated */
	size_t record_len;
	/* FIN */
	bool has_etag;
	char etag[33];
	/* INTENT */
	struct ntf_intent intent; /* its strings point into the buffer */
};

/* Bytes the EVENT frame of e takes (e already checked by the store). */
size_t ntf_journal_event_size(const struct ntf_store_entry *e);

/* Encode e as an EVENT frame with the given seq into dst, which has room
 * for ntf_journal_event_size(e) bytes; the 16 bytes at e->seq_offset (and
 * e->seq_offset2) of the record copy get the seq in uppercase hex, as the
 * store documents.  Returns the bytes written. */
size_t ntf_journal_put_event(char *dst, const struct ntf_store_entry *e,
			     uint64_t seq);

/* Bytes of a FIN frame. */
size_t ntf_journal_fin_size(bool has_etag);

/* Encode the finalisation of seq (etag: 32 hex digits, or NULL for "no
 * eTag") into dst.  Returns the bytes written. */
size_t ntf_journal_put_fin(char *dst, uint64_t seq, const char *etag);

/* Bytes of the INTENT frame of in. */
size_t ntf_journal_intent_size(const struct ntf_intent *in);

/* Encode in as an INTENT frame with the given id into dst.  Returns the
 * bytes written. */
size_t ntf_journal_put_intent(char *dst, const struct ntf_intent *in,
			      uint64_t id);

/* Bytes of a DONE frame. */
size_t ntf_journal_done_size(void);

/* Encode "intent id was carried out" into dst.  Returns the bytes
 * written. */
size_t ntf_journal_put_done(char *dst, uint64_t id);

/* Could a frame start at buf (len bytes there)?  A look at the header
 * and the body's first bytes only, no CRC: what a scan for the next frame
 * past a damaged one tries at every offset before ntf_journal_decode(),
 * which is the judge.  Pure. */
bool ntf_journal_plausible(const char *buf, size_t len);

/* Decode the frame at the start of buf (len bytes available).  Returns the
 * frame's size in bytes (> 0) with *out filled; 0 when buf holds only the
 * start of a frame (or nothing); -EBADMSG when the bytes are not a valid
 * frame (bad length, CRC or body).  Never reads beyond buf + len. */
long ntf_journal_decode(const char *buf, size_t len,
			struct ntf_journal_frame *out);

#endif
