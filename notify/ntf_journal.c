/*
 * ntf_journal.c - encoding and decoding the event journal's frames; see
 * ntf_journal.h for the format.
 */
#include "ntf_journal.h"
#include "ntf_limits.h"

#include <errno.h>
#include <string.h>

/* Fixed part of an EVENT body: kind, flags, n_targets, record_len, seq,
 * time_ms. */
#define EVENT_FIXED (1 + 1 + 2 + 4 + 8 + 8)
/* Fixed part of a FIN body: kind, has_etag, seq. */
#define FIN_FIXED (1 + 1 + 8)
/* Fixed part of an INTENT body: kind, intent kind, flags, uid, pid, id,
 * dev, ino. */
#define INTENT_FIXED (1 + 1 + 2 + 4 + 4 + 8 + 8 + 8)
/* A DONE body: kind, 0, id. */
#define DONE_FIXED (1 + 1 + 8)

/* CRC-32C (Castagnoli), the checksum of every frame: with SSE4.2's crc32
 * instruction when the CPU has it (a frame of a kilobyte in ~100 ns, a
 * tenth of zlib's table-driven CRC-32), else bytewise from this table
 * (polynomial 0x82F63B78, reflected). */
static const uint32_t crc32c_table[256] = {
	0x00000000u, 0xF26B8303u, 0xE13B70F7u, 0x1350F3F4u,
	0xC79A971Fu, 0x35F1141Cu, 0x26A1E7E8u, 0xD4CA64EBu,
	0x8AD958CFu, 0x78B2DBCCu, 0x6BE22838u, 0x9989AB3Bu,
	0x4D43CFD0u, 0xBF284CD3u, 0xAC78BF27u, 0x5E133C24u,
	0x105EC76Fu, 0xE235446Cu, 0xF165B798u, 0x030E349Bu,
	0xD7C45070u, 0x25AFD373u, 0x36FF2087u, 0xC494A384u,
	0x9A879FA0u, 0x68EC1CA3u, 0x7BBCEF57u, 0x89D76C54u,
	0x5D1D08BFu, 0xAF768BBCu, 0xBC267848u, 0x4E4DFB4Bu,
	0x20BD8EDEu, 0xD2D60DDDu, 0xC186FE29u, 0x33ED7D2Au,
	0xE72719C1u, 0x154C9AC2u, 0x061C6936u, 0xF477EA35u,
	0xAA64D611u, 0x580F5512u, 0x4B5FA6E6u, 0xB93425E5u,
	0x6DFE410Eu, 0x9F95C20Du, 0x8CC531F9u, 0x7EAEB2FAu,
	0x30E349B1u, 0xC288CAB2u, 0xD1D83946u, 0x23B3BA45u,
	0xF779DEAEu, 0x05125DADu, 0x1642AE59u, 0xE4292D5Au,
	0xBA3A117Eu, 0x4851927Du, 0x5B016189u, 0xA96AE28Au,
	0x7DA08661u, 0x8FCB0562u, 0x9C9BF696u, 0x6EF07595u,
	0x417B1DBCu, 0xB3109EBFu, 0xA0406D4Bu, 0x522BEE48u,
	0x86E18AA3u, 0x748A09A0u, 0x67DAFA54u, 0x95B17957u,
	0xCBA24573u, 0x39C9C670u, 0x2A993584u, 0xD8F2B687u,
	0x0C38D26Cu, 0xFE53516Fu, 0xED03A29Bu, 0x1F682198u,
	0x5125DAD3u, 0xA34E59D0u, 0xB01EAA24u, 0x42752927u,
	0x96BF4DCCu, 0x64D4CECFu, 0x77843D3Bu, 0x85EFBE38u,
	0xDBFC821Cu, 0x2997011Fu, 0x3AC7F2EBu, 0xC8AC71E8u,
	0x1C661503u, 0xEE0D9600u, 0xFD5D65F4u, 0x0F36E6F7u,
	0x61C69362u, 0x93AD1061u, 0x80FDE395u, 0x72966096u,
	0xA65C047Du, 0x5437877Eu, 0x4767748Au, 0xB50CF789u,
	0xEB1FCBADu, 0x197448AEu, 0x0A24BB5Au, 0xF84F3859u,
	0x2C855CB2u, 0xDEEEDFB1u, 0xCDBE2C45u, 0x3FD5AF46u,
	0x7198540Du, 0x83F3D70Eu, 0x90A324FAu, 0x62C8A7F9u,
	0xB602C312u, 0x44694011u, 0x5739B3E5u, 0xA55230E6u,
	0xFB410CC2u, 0x092A8FC1u, 0x1A7A7C35u, 0xE811FF36u,
	0x3CDB9BDDu, 0xCEB018DEu, 0xDDE0EB2Au, 0x2F8B6829u,
	0x82F63B78u, 0x709DB87Bu, 0x63CD4B8Fu, 0x91A6C88Cu,
	0x456CAC67u, 0xB7072F64u, 0xA457DC90u, 0x563C5F93u,
	0x082F63B7u, 0xFA44E0B4u, 0xE9141340u, 0x1B7F9043u,
	0xCFB5F4A8u, 0x3DDE77ABu, 0x2E8E845Fu, 0xDCE5075Cu,
	0x92A8FC17u, 0x60C37F14u, 0x73938CE0u, 0x81F80FE3u,
	0x55326B08u, 0xA759E80Bu, 0xB4091BFFu, 0x466298FCu,
	0x1871A4D8u, 0xEA1A27DBu, 0xF94AD42Fu, 0x0B21572Cu,
	0xDFEB33C7u, 0x2D80B0C4u, 0x3ED04330u, 0xCCBBC033u,
	0xA24BB5A6u, 0x502036A5u, 0x4370C551u, 0xB11B4652u,
	0x65D122B9u, 0x97BAA1BAu, 0x84EA524Eu, 0x7681D14Du,
	0x2892ED69u, 0xDAF96E6Au, 0xC9A99D9Eu, 0x3BC21E9Du,
	0xEF087A76u, 0x1D63F975u, 0x0E330A81u, 0xFC588982u,
	0xB21572C9u, 0x407EF1CAu, 0x532E023Eu, 0xA145813Du,
	0x758FE5D6u, 0x87E466D5u, 0x94B49521u, 0x66DF1622u,
	0x38CC2A06u, 0xCAA7A905u, 0xD9F75AF1u, 0x2B9CD9F2u,
	0xFF56BD19u, 0x0D3D3E1Au, 0x1E6DCDEEu, 0xEC064EEDu,
	0xC38D26C4u, 0x31E6A5C7u, 0x22B65633u, 0xD0DDD530u,
	0x0417B1DBu, 0xF67C32D8u, 0xE52CC12Cu, 0x1747422Fu,
	0x49547E0Bu, 0xBB3FFD08u, 0xA86F0EFCu, 0x5A048DFFu,
	0x8ECEE914u, 0x7CA56A17u, 0x6FF599E3u, 0x9D9E1AE0u,
	0xD3D3E1ABu, 0x21B862A8u, 0x32E8915Cu, 0xC083125Fu,
	0x144976B4u, 0xE622F5B7u, 0xF5720643u, 0x07198540u,
	0x590AB964u, 0xAB613A67u, 0xB831C993u, 0x4A5A4A90u,
	0x9E902E7Bu, 0x6CFBAD78u, 0x7FAB5E8Cu, 0x8DC0DD8Fu,
	0xE330A81Au, 0x115B2B19u, 0x020BD8EDu, 0xF0605BEEu,
	0x24AA3F05u, 0xD6C1BC06u, 0xC5914FF2u, 0x37FACCF1u,
	0x69E9F0D5u, 0x9B8273D6u, 0x88D28022u, 0x7AB90321u,
	0xAE7367CAu, 0x5C18E4C9u, 0x4F48173Du, 0xBD23943Eu,
	0xF36E6F75u, 0x0105EC76u, 0x12551F82u, 0xE03E9C81u,
	0x34F4F86Au, 0xC69F7B69u, 0xD5CF889Du, 0x27A40B9Eu,
	0x79B737BAu, 0x8BDCB4B9u, 0x988C474Du, 0x6AE7C44Eu,
	0xBE2DA0A5u, 0x4C4623A6u, 0x5F16D052u, 0xAD7D5351u,
};

static uint32_t crc32c_sw(uint32_t c, const unsigned char *p, size_t n)
{
	while (n--)
		c = crc32c_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t c, const unsigned char *p, size_t n)
{
	uint64_t c64 = c;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

static uint32_t journal_crc(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_sse42(~0u, u, n);
#endif
	return ~crc32c_sw(~0u, u, n);
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
	uint8_t flags = (e->pending ? NTF_JOURNAL_PENDING : 0) |
			(e->packed ? NTF_JOURNAL_PACKED : 0);
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

size_t ntf_journal_intent_size(const struct ntf_intent *in)
{
	return NTF_JOURNAL_HEADER + INTENT_FIXED +
	       strlen(or_empty(in->bucket)) + 1 + strlen(or_empty(in->key)) +
	       1 + strlen(or_empty(in->arg)) + 1 +
	       strlen(or_empty(in->comm)) + 1;
}

size_t ntf_journal_put_intent(char *dst, const struct ntf_intent *in,
			      uint64_t id)
{
	char *p = dst + NTF_JOURNAL_HEADER;
	uint8_t kind = NTF_JOURNAL_INTENT, what = (uint8_t)in->kind;
	p = put(p, &kind, 1);
	p = put(p, &what, 1);
	p = put(p, &in->flags, 2);
	p = put(p, &in->uid, 4);
	p = put(p, &in->pid, 4);
	p = put(p, &id, 8);
	p = put(p, &in->dev, 8);
	p = put(p, &in->ino, 8);
	p = put_str(p, or_empty(in->bucket));
	p = put_str(p, or_empty(in->key));
	p = put_str(p, or_empty(in->arg));
	p = put_str(p, or_empty(in->comm));
	size_t body = (size_t)(p - dst) - NTF_JOURNAL_HEADER;
	seal(dst, body);
	return NTF_JOURNAL_HEADER + body;
}

size_t ntf_journal_done_size(void)
{
	return NTF_JOURNAL_HEADER + DONE_FIXED;
}

size_t ntf_journal_put_done(char *dst, uint64_t id)
{
	char *p = dst + NTF_JOURNAL_HEADER;
	uint8_t kind = NTF_JOURNAL_DONE, zero = 0;
	p = put(p, &kind, 1);
	p = put(p, &zero, 1);
	p = put(p, &id, 8);
	seal(dst, DONE_FIXED);
	return NTF_JOURNAL_HEADER + DONE_FIXED;
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

static int decode_intent(const char *b, size_t n, struct ntf_journal_frame *f)
{
	struct ntf_intent *in = &f->intent;
	if (n < INTENT_FIXED ||
	    (b[1] != NTF_INTENT_PUT && b[1] != NTF_INTENT_RENAME))
		return -EBADMSG;
	in->kind = (enum ntf_intent_kind)b[1];
	memcpy(&in->flags, b + 2, 2);
	memcpy(&in->uid, b + 4, 4);
	memcpy(&in->pid, b + 8, 4);
	memcpy(&f->seq, b + 12, 8);
	memcpy(&in->dev, b + 20, 8);
	memcpy(&in->ino, b + 28, 8);
	const char *p = b + INTENT_FIXED, *end = b + n;
	if (!(in->bucket = take_str(&p, end)) || !in->bucket[0] ||
	    !(in->key = take_str(&p, end)) || !(in->arg = take_str(&p, end)) ||
	    !(in->comm = take_str(&p, end)) || p != end)
		return -EBADMSG;
	f->bucket = in->bucket;
	f->key = in->key;
	return 0;
}

static int decode_done(const char *b, size_t n, struct ntf_journal_frame *f)
{
	if (n != DONE_FIXED || b[1] != 0)
		return -EBADMSG;
	memcpy(&f->seq, b + 2, 8);
	return 0;
}

static int decode_event(const char *b, size_t n, struct ntf_journal_frame *f)
{
	uint16_t nt;
	uint32_t rl;
	if (n < EVENT_FIXED ||
	    (b[1] & ~(NTF_JOURNAL_PENDING | NTF_JOURNAL_PACKED)))
		return -EBADMSG;
	f->pending = b[1] & NTF_JOURNAL_PENDING;
	f->packed = b[1] & NTF_JOURNAL_PACKED;
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
	if (p != end || (!f->packed && memchr(end, '\0', rl)))
		return -EBADMSG;
	f->record = end;
	f->record_len = rl;
	return 0;
}

bool ntf_journal_plausible(const char *buf, size_t len)
{
	uint32_t body;
	if (len < NTF_JOURNAL_HEADER + 2)
		return false;
	memcpy(&body, buf, 4);
	if (body < 2 || body > NTF_LIMIT_STORE_BATCH_BYTES)
		return false;
	const unsigned char *b = (const unsigned char *)buf + NTF_JOURNAL_HEADER;
	switch (b[0]) {
	case NTF_JOURNAL_EVENT:
		return body >= EVENT_FIXED &&
		       !(b[1] & ~(NTF_JOURNAL_PENDING | NTF_JOURNAL_PACKED));
	case NTF_JOURNAL_FIN:
		return b[1] <= 1 && body == FIN_FIXED + (b[1] ? 32u : 0u);
	case NTF_JOURNAL_INTENT:
		return body >= INTENT_FIXED &&
		       (b[1] == NTF_INTENT_PUT || b[1] == NTF_INTENT_RENAME);
	case NTF_JOURNAL_DONE:
		return body == DONE_FIXED && b[1] == 0;
	default:
		return false;
	}
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
	int err;
	switch (out->kind) {
	case NTF_JOURNAL_EVENT:
		err = decode_event(b, body, out);
		break;
	case NTF_JOURNAL_FIN:
		err = decode_fin(b, body, out);
		break;
	case NTF_JOURNAL_INTENT:
		err = decode_intent(b, body, out);
		break;
	case NTF_JOURNAL_DONE:
		err = decode_done(b, body, out);
		break;
	default:
		err = -EBADMSG;
	}
	return err ? err : (long)(NTF_JOURNAL_HEADER + body);
}
