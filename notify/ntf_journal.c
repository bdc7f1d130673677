/*
 * ntf_journal.c - encoding and decoding the event journal's frames; see
 * ntf_journal.h for the format.
 */
#include "ntf_journal.h"
#include "ntf_limits.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

/* Fixed part of an EVENT body: kind, flags, n_targets, record_len, seq,
 * time_ms. */
#define EVENT_FIXED (1 + 1 + 2 + 4 + 8 + 8)
/* Fixed part of a FIN body: kind, has_etag, seq. */
#define FIN_FIXED (1 + 1 + 8)

static uint32_t journal_crc(const char *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (n) { /* zlib takes a uInt length */
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, (const Bytef *)p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)c;
}

static char *put(char *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
	return dst + n;
}

static char *put_str(char *dst, const char *s)
{
	return put(dst, s, strlen(s) + 1);
}

/* Write the header of the frame whose body is body_len bytes at
 * frame + NTF_JOURNAL_HEADER. */
static void seal(char *frame, size_t body_len)
{
	uint32_t len = (uint32_t)body_len;
	uint32_t crc = journal_crc(frame + NTF_JOURNAL_HEADER, body_len);
	memcpy(frame, &len, 4);
	memcpy(frame + 4, &crc, 4);
}

static void put_hex16(char *dst, uint64_t seq)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 15; i >= 0; i--, seq >>= 4)
		dst[i] = hex[seq & 15];
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

size_t ntf_journal_event_size(const struct ntf_store_entry *e)
{
	size_t n = NTF_JOURNAL_HEADER + EVENT_FIXED + strlen(e->event_name) +
		   1 + strlen(or_empty(e->bucket)) + 1 +
		   strlen(or_empty(e->key)) + 1 + e->record_len;
	for (size_t i = 0; i < e->n_targets; i++)
		n += strlen(e->targets[i]) + 1;
	return n;
}

size_t ntf_journal_put_event(char *dst, const struct ntf_store_entry *e,
			     uint64_t seq)
{
	char *p = dst + NTF_JOURNAL_HEADER;
	uint8_t kind = NTF_JOURNAL_EVENT;
	uint8_t flags = e->pending ? NTF_JOURNAL_PENDING : 0;
	uint16_t nt = (uint16_t)e->n_targets;
	uint32_t rl = (uint32_t)e->record_len;
	p = put(p, &kind, 1);
	p = put(p, &flags, 1);
	p = put(p, &nt, 2);
	p = put(p, &rl, 4);
	p = put(p, &seq, 8);
	p = put(p, &e->time_ms, 8);
	p = put_str(p, e->event_name);
	p = put_str(p, or_empty(e->bucket));
	p = put_str(p, or_empty(e->key));
	for (size_t i = 0; i < e->n_targets; i++)
		p = put_str(p, e->targets[i]);
	char *rec = p;
	p = put(p, e->record, e->record_len);
	if (e->seq_offset && e->seq_offset + 16 <= e->record_len)
		put_hex16(rec + e->seq_offset, seq);
	if (e->seq_offset2 && e->seq_offset2 + 16 <= e->record_len)
		put_hex16(rec + e->seq_offset2, seq);
	size_t body = (size_t)(p - dst) - NTF_JOURNAL_HEADER;
	seal(dst, body);
	return NTF_JOURNAL_HEADER + body;
}

size_t ntf_journal_fin_size(bool has_etag)
{
	return NTF_JOURNAL_HEADER + FIN_FIXED + (has_etag ? 32 : 0);
}

size_t ntf_journal_put_fin(char *dst, uint64_t seq, const char *etag)
{
	char *p = dst + NTF_JOURNAL_HEADER;
	uint8_t kind = NTF_JOURNAL_FIN, has = etag != NULL;
	p = put(p, &kind, 1);
	p = put(p, &has, 1);
	p = put(p, &seq, 8);
	if (etag)
		p = put(p, etag, 32);
	size_t body = (size_t)(p - dst) - NTF_JOURNAL_HEADER;
	seal(dst, body);
	return NTF_JOURNAL_HEADER + body;
}

/* Take a NUL-terminated string from [*p, end); NULL when there is none. */
static const char *take_str(const char **p, const char *end)
{
	const char *s = *p;
	const char *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

static bool is_hex32(const char *s)
{
	for (int i = 0; i < 32; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static int decode_fin(const char *b, size_t n, struct ntf_journal_frame *f)
{
	if (n < FIN_FIXED || b[1] > 1 || n != FIN_FIXED + (b[1] ? 32u : 0u))
		return -EBADMSG;
	f->has_etag = b[1];
	memcpy(&f->seq, b + 2, 8);
	f->etag[0] = '\0';
	if (f->has_etag) {
		if (!is_hex32(b + FIN_FIXED))
			return -EBADMSG;
		memcpy(f->etag, b + FIN_FIXED, 32);
		f->etag[32] = '\0';
	}
	return 0;
}

static int decode_event(const char *b, size_t n, struct ntf_journal_frame *f)
{
	uint16_t nt;
	uint32_t rl;
	if (n < EVENT_FIXED || (b[1] & ~NTF_JOURNAL_PENDING))
		return -EBADMSG;
	f->pending = b[1] & NTF_JOURNAL_PENDING;
	memcpy(&nt, b + 2, 2);
	memcpy(&rl, b + 4, 4);
	memcpy(&f->seq, b + 8, 8);
	memcpy(&f->time_ms, b + 16, 8);
	if (nt > NTF_LIMIT_STORE_TARGETS || rl > n - EVENT_FIXED)
		return -EBADMSG;
	const char *p = b + EVENT_FIXED, *end = b + n - rl;
	if (!(f->event_name = take_str(&p, end)) || !f->event_name[0] ||
	    !(f->bucket = take_str(&p, end)) || !(f->key = take_str(&p, end)))
		return -EBADMSG;
	f->targets = p;
	f->n_targets = nt;
	for (uint16_t i = 0; i < nt; i++) {
		const char *t = take_str(&p, end);
		if (!t || !t[0])
			return -EBADMSG;
	}
	if (p != end || memchr(end, '\0', rl))
		return -EBADMSG;
	f->record = end;
	f->record_len = rl;
	return 0;
}

long ntf_journal_decode(const char *buf, size_t len,
			struct ntf_journal_frame *out)
{
	uint32_t body, crc;
	if (len < NTF_JOURNAL_HEADER)
		return 0;
	memcpy(&body, buf, 4);
	memcpy(&crc, buf + 4, 4);
	if (body < 1 || body > NTF_LIMIT_STORE_BATCH_BYTES)
		return -EBADMSG;
	if (len - NTF_JOURNAL_HEADER < body)
		return 0;
	const char *b = buf + NTF_JOURNAL_HEADER;
	if (journal_crc(b, body) != crc)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->kind = (enum ntf_journal_kind)(unsigned char)b[0];
	int err = out->kind == NTF_JOURNAL_EVENT ? decode_event(b, body, out)
		  : out->kind == NTF_JOURNAL_FIN ? decode_fin(b, body, out)
						 : -EBADMSG;
	return err ? err : (long)(NTF_JOURNAL_HEADER + body);
}
