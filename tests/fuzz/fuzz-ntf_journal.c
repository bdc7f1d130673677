/*
 * fuzz-ntf_journal.c - libFuzzer harness for the event journal's frame
 * decoder (STATE/events.journal is read back at every open, after crashes
 * and power losses that can leave anything in it).  The input is a journal
 * file: frames are decoded one after the other until the first that is
 * torn or bad, and every frame that decodes must encode back to exactly
 * its own bytes (the format has one encoding per frame), and the quick
 * look the replay's resync takes first (ntf_journal_plausible) must
 * accept it.  A packed record
 * is rendered as the ingester would (fuzz-ntf_pack.c checks that codec).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_buf.h"
#include "ntf_journal.h"
#include "ntf_limits.h"
#include "ntf_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encode the EVENT frame f into out (room for len bytes); returns the
 * encoded size, or 0 when it would not be len. */
static size_t encode_event(const struct ntf_journal_frame *f, char *out,
			   size_t len)
{
	const char *targets[NTF_LIMIT_STORE_TARGETS];
	const char *t = f->targets;
	for (size_t i = 0; i < f->n_targets; i++, t += strlen(t) + 1)
		targets[i] = t;
	struct ntf_store_entry e = {
		.time_ms = f->time_ms,
		.event_name = f->event_name,
		.bucket = f->bucket,
		.key = f->key,
		.record = f->record,
		.record_len = f->record_len,
		.pending = f->pending,
		.packed = f->packed,
		.targets = targets,
		.n_targets = f->n_targets,
	};
	if (ntf_journal_event_size(&e) != len)
		return 0;
	return ntf_journal_put_event(out, &e, f->seq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t pos = 0;
	for (size_t i = 0; i < size; i++)
		(void)ntf_journal_plausible(buf + i, size - i);
	while (pos < size) {
		struct ntf_journal_frame f;
		long k = ntf_journal_decode(buf + pos, size - pos, &f);
		if (k <= 0)
			break;
		/* The replay's resync looks with this first: it must never
		 * turn down a frame that decodes. */
		if (!ntf_journal_plausible(buf + pos, size - pos))
			abort();
		char *out = malloc((size_t)k);
		if (!out)
			abort();
		size_t n = 0;
		if (f.kind == NTF_JOURNAL_EVENT)
			n = encode_event(&f, out, (size_t)k);
		else if (f.kind == NTF_JOURNAL_INTENT &&
			 ntf_journal_intent_size(&f.intent) == (size_t)k)
			n = ntf_journal_put_intent(out, &f.intent, f.seq);
		else if (f.kind == NTF_JOURNAL_DONE &&
			 ntf_journal_done_size() == (size_t)k)
			n = ntf_journal_put_done(out, f.seq);
		else if (f.kind == NTF_JOURNAL_FIN &&
			 ntf_journal_fin_size(f.has_etag) == (size_t)k)
			n = ntf_journal_put_fin(out, f.seq,
						f.has_etag ? f.etag : NULL);
		if (n != (size_t)k || memcmp(out, buf + pos, n) != 0)
			abort(); /* decode and encode disagree */
		if (f.kind == NTF_JOURNAL_EVENT && f.packed) {
			struct cmn_buf json;
			cmn_buf_init(&json, NTF_LIMIT_RECORD_BYTES);
			(void)ntf_pack_render(f.record, f.record_len, f.seq,
					      &json);
			cmn_buf_free(&json);
		}
		free(out);
		pos += (size_t)k;
	}
	return 0;
}
