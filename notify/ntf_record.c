/*
 * ntf_record.c - S3 event record JSON, written straight into a cmn_buf.
 *
 * The writer keeps the first error and turns every later append into a
 * no-op, so the serialisers read as a flat list of fields; the caller
 * checks once and rolls the buffer back.
 */
#include "ntf_record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_buf.h"
#include "cmn_time.h"
#include "cmn_url.h"
#include "ntf_utf8.h"

struct w {
	struct cmn_buf *b;
	size_t start;
	int rc;
	struct ntf_record_marks marks;
};

/* Appends are many and small (a record is ~100 of them): copy straight
 * into the room the buffer has, and let cmn_buf_add grow it (and enforce
 * its ceiling: the capacity never exceeds it) only when needed. */
static inline void put(struct w *w, const void *p, size_t n)
{
	struct cmn_buf *b = w->b;
	if (w->rc == 0 && b->data && b->cap - b->len > n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
	} else if (w->rc == 0) {
		w->rc = cmn_buf_add(b, p, n);
	}
}

static void lit(struct w *w, const char *s)
{
	put(w, s, strlen(s));
}

static const char hexdig[] = "0123456789ABCDEF";

/* Write one byte that cannot appear raw inside a JSON string. */
static void esc_byte(struct w *w, unsigned char c)
{
	char u[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
	switch (c) {
	case '"':
		lit(w, "\\\"");
		break;
	case '\\':
		lit(w, "\\\\");
		break;
	case '\n':
		lit(w, "\\n");
		break;
	case '\r':
		lit(w, "\\r");
		break;
	case '\t':
		lit(w, "\\t");
		break;
	default:
		if (c < 0x20)
			put(w, u, sizeof(u));
		else
			lit(w, "\xEF\xBF\xBD"); /* invalid UTF-8 -> U+FFFD */
	}
}

/* True when none of the 8 bytes at p needs a look: no control byte, no
 * byte >= 0x80, no '"' and no '\\' (bit tricks on a 64-bit word). */
static inline bool safe8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t v;
	memcpy(&v, p, 8);
	uint64_t lt20 = (v - ones * 0x20) & ~v;	/* a byte below 0x20 */
	uint64_t quote = v ^ (ones * '"'), bsl = v ^ (ones * '\\');
	uint64_t zq = (quote - ones) & ~quote;	/* a byte equal to '"' */
	uint64_t zb = (bsl - ones) & ~bsl;	/* a byte equal to '\\' */
	return ((lt20 | zq | zb | v) & high) == 0;
}

/* The escaper: copies runs of safe bytes and valid UTF-8 in one append
 * each, escapes the rest.  Printable ASCII, nearly every byte of a key,
 * is passed over without a call. */
static void esc(struct w *w, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;
	while (i < len) {
		if (i + 8 <= len && safe8(s + i)) {
			i += 8;
			continue;
		}
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		size_t n = c >= 0x80 ? ntf_utf8_seq(s + i, len - i) : 0;
		if (n) {
			i += n;
			continue;
		}
		put(w, s + run, i - run);
		esc_byte(w, c);
		run = ++i;
	}
	put(w, s + run, i - run);
}

static void str(struct w *w, const char *s)
{
	put(w, "\"", 1);
	if (s)
		esc(w, s, strlen(s));
	put(w, "\"", 1);
}

/* "name":"value" with an optional leading comma.  name is always one of
 * this file's literals (plain ASCII, nothing to escape), so it is copied
 * as it is; the value is escaped. */
static void field(struct w *w, bool comma, const char *name, const char *v)
{
	if (comma)
		put(w, ",", 1);
	put(w, "\"", 1);
	lit(w, name);
	put(w, "\":", 2);
	str(w, v);
}

/* A field whose value is the 16-digit sequencer; *at gets the offset of
 * its digits in the record. */
static void seq_field(struct w *w, bool comma, const char *name,
		      const char *seq, size_t *at)
{
	if (comma)
		put(w, ",", 1);
	put(w, "\"", 1);
	lit(w, name);
	put(w, "\":\"", 3);
	*at = w->b->len - w->start;
	put(w, seq, 16);
	put(w, "\"", 1);
}

static void u64dec(struct w *w, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, tmp + i, sizeof(tmp) - i);
}

void ntf_record_sequencer(uint64_t seq, char out[17])
{
	for (int i = 15; i >= 0; i--) {
		out[i] = hexdig[seq & 15];
		seq >>= 4;
	}
	out[16] = '\0';
}

static int finish(struct w *w)
{
	if (w->rc) {
		w->b->len = w->start;
		if (w->b->data)
			w->b->data[w->start] = '\0';
	}
	return w->rc;
}

static void principal(struct w *w, uint32_t uid)
{
	lit(w, "{\"principalId\":\"uid:");
	u64dec(w, uid);
	lit(w, "\"}");
}

static void head(struct w *w, const struct ntf_event *ev)
{
	char t[CMN_TIME_ISO_SIZE];
	cmn_time_iso_ms(ev->time_ms, t);
	put(w, "{", 1);
	field(w, false, "eventVersion", ntf_event_version(ev->name));
	field(w, true, "eventSource", "bucketfs:s3");
	field(w, true, "awsRegion", ev->region);
	field(w, true, "eventTime", t);
	field(w, true, "eventName", ntf_event_str(ev->name));
	lit(w, ",\"userIdentity\":");
	principal(w, ev->uid);
}

static void request(struct w *w, const struct ntf_event *ev, const char *seq)
{
	lit(w, ",\"requestParameters\":{\"sourceIPAddress\":\"\","
	       "\"principalId\":\"uid:");
	u64dec(w, ev->uid);
	put(w, "\"", 1);
	field(w, true, "region", ev->region);
	if (ev->copy_source)
		field(w, true, "x-amz-copy-source", ev->copy_source);
	lit(w, "},\"responseElements\":{");
	seq_field(w, false, "x-amz-request-id", seq, &w->marks.request_id);
	field(w, true, "x-amz-id-2", ev->host ? ev->host : "localhost");
	put(w, "}", 1);
}

static void bucket(struct w *w, const struct ntf_event *ev)
{
	lit(w, ",\"bucket\":{");
	field(w, false, "name", ev->bucket);
	lit(w, ",\"ownerIdentity\":");
	principal(w, ev->uid);
	lit(w, ",\"arn\":\"arn:aws:s3:::");
	if (ev->bucket)
		esc(w, ev->bucket, strlen(ev->bucket));
	lit(w, "\"}");
}

static void key(struct w *w, const char *k)
{
	lit(w, "\"key\":\"");
	/* The encoding is pure ASCII, so it needs no JSON escaping. */
	if (k && w->rc == 0)
		w->rc = cmn_url_encode(w->b, k, strlen(k), CMN_URL_AWS_KEY);
	put(w, "\"", 1);
}

static void metadata(struct w *w, const struct ntf_event *ev)
{
	if (!ev->n_meta)
		return;
	lit(w, ",\"userMetadata\":{");
	for (size_t i = 0; i < ev->n_meta; i++) {
		if (i)
			put(w, ",", 1);
		lit(w, "\"X-Amz-Meta-");
		if (ev->meta[i].name)
			esc(w, ev->meta[i].name, strlen(ev->meta[i].name));
		lit(w, "\":");
		str(w, ev->meta[i].value);
	}
	put(w, "}", 1);
}

/* size, eTag, contentType, userMetadata: only for events that leave an
 * object behind. */
static void details(struct w *w, const struct ntf_event *ev)
{
	const char *k = ev->key ? ev->key : "";
	if (ev->size >= 0) {
		lit(w, ",\"size\":");
		u64dec(w, (uint64_t)ev->size);
	}
	if (ev->etag)
		field(w, true, "eTag", ev->etag);
	const char *ct = ev->content_type;
	if (!ct)
		ct = ntf_record_content_type(k, strlen(k));
	field(w, true, "contentType", ct);
	metadata(w, ev);
}

static void object(struct w *w, const struct ntf_event *ev, const char *seq)
{
	unsigned flags = ntf_event_flags(ev->name);
	lit(w, ",\"object\":{");
	key(w, (flags & NTF_EVF_BUCKET) ? "" : ev->key);
	if (!(flags & (NTF_EVF_BUCKET | NTF_EVF_REMOVED)))
		details(w, ev);
	if (ev->version_id)
		field(w, true, "versionId", ev->version_id);
	seq_field(w, true, "sequencer", seq, &w->marks.sequencer);
	put(w, "}", 1);
}

static void source(struct w *w, const struct ntf_event *ev)
{
	lit(w, ",\"source\":{");
	field(w, false, "host", ev->host ? ev->host : "localhost");
	lit(w, ",\"port\":\"\",\"userAgent\":\"");
	/* "COMM (pid N)"; an unknown command name is written as "?". */
	const char *comm = ev->comm && *ev->comm ? ev->comm : "?";
	esc(w, comm, strlen(comm));
	lit(w, " (pid ");
	u64dec(w, (uint64_t)(ev->pid < 0 ? 0 : ev->pid));
	lit(w, ")\"}");
}

int ntf_record_json(const struct ntf_event *ev, const char *configuration_id,
		    struct cmn_buf *out)
{
	return ntf_record_json_marked(ev, configuration_id, out, NULL);
}

int ntf_record_json_marked(const struct ntf_event *ev,
			   const char *configuration_id, struct cmn_buf *out,
			   struct ntf_record_marks *marks)
{
	if ((unsigned)ev->name >= NTF_EV_COUNT)
		return -EINVAL;
	struct w w = {out, out->len, 0, {0, 0}};
	char seq[17];
	/* A record is about a kilobyte: grow once, not from 64 bytes up. */
	(void)cmn_buf_reserve(out, 1024);
	ntf_record_sequencer(ev->sequencer, seq);
	head(&w, ev);
	request(&w, ev, seq);
	lit(&w, ",\"s3\":{\"s3SchemaVersion\":\"1.0\"");
	field(&w, true, "configurationId", configuration_id);
	bucket(&w, ev);
	object(&w, ev, seq);
	put(&w, "}", 1);
	source(&w, ev);
	put(&w, "}", 1);
	if (marks)
		*marks = w.marks;
	return finish(&w);
}

static void records(struct w *w, const struct ntf_record_ref *r, size_t n)
{
	lit(w, "\"Records\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(w, ",", 1);
		put(w, r[i].json, r[i].len);
	}
	lit(w, "]}");
}

int ntf_record_envelope(const char *event_name, const char *bucket_name,
			const char *object_key,
			const struct ntf_record_ref *recs, size_t n,
			struct cmn_buf *out)
{
	struct w w = {out, out->len, 0, {0, 0}};
	put(&w, "{", 1);
	field(&w, false, "EventName", event_name);
	lit(&w, ",\"Key\":\"");
	if (bucket_name)
		esc(&w, bucket_name, strlen(bucket_name));
	put(&w, "/", 1);
	if (object_key)
		esc(&w, object_key, strlen(object_key));
	lit(&w, "\",");
	records(&w, recs, n);
	return finish(&w);
}

int ntf_record_wrap(const struct ntf_record_ref *recs, size_t n,
		    struct cmn_buf *out)
{
	struct w w = {out, out->len, 0, {0, 0}};
	put(&w, "{", 1);
	records(&w, recs, n);
	return finish(&w);
}

int ntf_record_test_event(const char *bucket_name, int64_t time_ms,
			  const char *request_id, const char *host_id,
			  struct cmn_buf *out)
{
	struct w w = {out, out->len, 0, {0, 0}};
	char t[CMN_TIME_ISO_SIZE];
	cmn_time_iso_ms(time_ms, t);
	put(&w, "{", 1);
	field(&w, false, "Service", "bucketfs");
	field(&w, true, "Event", "s3:TestEvent");
	field(&w, true, "Time", t);
	field(&w, true, "Bucket", bucket_name);
	field(&w, true, "RequestId", request_id);
	field(&w, true, "HostId", host_id);
	put(&w, "}", 1);
	return finish(&w);
}

/* Extension -> MIME type, sorted by extension for bsearch. */
static const struct ctype {
	const char *ext;
	const char *type;
} ctypes[] = {
	{"7z", "application/x-7z-compressed"},
	{"aac", "audio/aac"},
	{"avi", "video/x-msvideo"},
	{"avif", "image/avif"},
	{"bmp", "image/bmp"},
	{"bz2", "application/x-bzip2"},
	{"c", "text/x-c"},
	{"css", "text/css"},
	{"csv", "text/csv"},
	{"doc", "application/msword"},
	{"docx", "application/vnd.openxmlformats-officedocument."
		 "wordprocessingml.document"},
	{"flac", "audio/flac"},
	{"gif", "image/gif"},
	{"gz", "application/gzip"},
	{"h", "text/x-c"},
	{"heic", "image/heic"},
	{"htm", "text/html"},
	{"html", "text/html"},
	{"ico", "image/vnd.microsoft.icon"},
	{"jpeg", "image/jpeg"},
	{"jpg", "image/jpeg"},
	{"js", "text/javascript"},
	{"json", "application/json"},
	{"jsonl", "application/x-ndjson"},
	{"md", "text/markdown"},
	{"mjs", "text/javascript"},
	{"mkv", "video/x-matroska"},
	{"mov", "video/quicktime"},
	{"mp3", "audio/mpeg"},
	{"mp4", "video/mp4"},
	{"mpeg", "video/mpeg"},
	{"ndjson", "application/x-ndjson"},
	{"odt", "application/vnd.oasis.opendocument.text"},
	{"oga", "audio/ogg"},
	{"ogg", "audio/ogg"},
	{"ogv", "video/ogg"},
	{"parquet", "application/vnd.apache.parquet"},
	{"pdf", "application/pdf"},
	{"png", "image/png"},
	{"ppt", "application/vnd.ms-powerpoint"},
	{"pptx", "application/vnd.openxmlformats-officedocument."
		 "presentationml.presentation"},
	{"py", "text/x-python"},
	{"rar", "application/vnd.rar"},
	{"sh", "application/x-sh"},
	{"svg", "image/svg+xml"},
	{"tar", "application/x-tar"},
	{"tgz", "application/gzip"},
	{"tif", "image/tiff"},
	{"tiff", "image/tiff"},
	{"ts", "video/mp2t"},
	{"tsv", "text/tab-separated-values"},
	{"txt", "text/plain"},
	{"wasm", "application/wasm"},
	{"wav", "audio/wav"},
	{"webm", "video/webm"},
	{"webp", "image/webp"},
	{"woff", "font/woff"},
	{"woff2", "font/woff2"},
	{"xls", "application/vnd.ms-excel"},
	{"xlsx", "application/vnd.openxmlformats-officedocument."
		 "spreadsheetml.sheet"},
	{"xml", "application/xml"},
	{"yaml", "application/yaml"},
	{"yml", "application/yaml"},
	{"zip", "application/zip"},
	{"zst", "application/zstd"},
};

static int ctype_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct ctype *)a)->ext,
			  ((const struct ctype *)b)->ext);
}

const char *ntf_record_content_type(const char *k, size_t len)
{
	static const char dflt[] = "application/octet-stream";
	char ext[16];
	size_t i = len;
	while (i > 0 && k[i - 1] != '.' && k[i - 1] != '/')
		i--;
	/* No dot, a dot-file ("/.bashrc"), or an over-long extension. */
	if (i < 2 || k[i - 1] != '.' || k[i - 2] == '/' ||
	    len - i >= sizeof(ext) || len == i)
		return dflt;
	memcpy(ext, k + i, len - i);
	ext[len - i] = '\0';
	struct ctype probe = {ext, NULL};
	const struct ctype *hit =
		bsearch(&probe, ctypes, sizeof(ctypes) / sizeof(ctypes[0]),
			sizeof(ctypes[0]), ctype_cmp);
	return hit ? hit->type : dflt;
}
