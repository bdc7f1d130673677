/*
 * ntf_record.h - one file-system event as the FUSE layer knows it, and its
 * S3 event record JSON (specs/events.md §a).
 *
 * ntf_record_json() runs once per stored record, on the store's ingester
 * (from the packed event, ntf_pack.h) or, for live readers, on the FUSE
 * thread: it formats straight into a caller-owned cmn_buf with a
 * hand-written escaper and allocates nothing beyond that buffer's growth.  Every function here is
 * a pure function of its arguments: thread-safe, no global state.
 *
 * Record layout (bucketfs choices where the servers differ):
 *   eventVersion per family (ntf_event_version), eventSource "bucketfs:s3",
 *   eventName with the "s3:" prefix (MinIO/rustfs), eventTime
 *   "YYYY-MM-DDTHH:MM:SS.mmmZ", userIdentity.principalId "uid:N",
 *   requestParameters {sourceIPAddress:"", principalId, region} plus
 *   "x-amz-copy-source" ("bucket/key" as given) for a Copy,
 *   responseElements {"x-amz-request-id": the sequencer,
 *   "x-amz-id-2": host}, s3.object.key encoded as AWS does (space '+', '/'
 *   kept), sequencer as 16 uppercase hex digits (so strcmp orders it),
 *   source {host, port:"", userAgent:"COMM (pid PID)", COMM "?" if
 *   unknown}.
 *   ObjectRemoved:* records omit size, eTag, contentType, userMetadata;
 *   bucket events carry an object with key "" and the sequencer only.
 */
#ifndef NTF_RECORD_H
#define NTF_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ntf_event.h"

struct cmn_buf;

/* One user metadata pair (from a user.s3.meta.* xattr); both borrowed. */
struct ntf_meta {
	const char *name;
	const char *value;
};

/* An event as the FUSE layer saw it.  Every pointer is borrowed for the
 * duration of the call; NULL strings are omitted or written as "". */
struct ntf_event {
	enum ntf_event_name name; /* e.g. NTF_EV_OBJECT_CREATED_PUT */
	const char *bucket;	  /* bucket name */
	const char *key;	  /* raw key below the bucket; NULL/"" for
				     bucket events */
	int64_t size;		  /* -1 when unknown/not applicable */
	const char *etag;	  /* MD5 hex or NULL */
	const char *content_type; /* or NULL: derived from the extension */
	const struct ntf_meta *meta;
	size_t n_meta;
	const char *version_id;	 /* NULL: omitted */
	uint64_t sequencer;	 /* per-mount, strictly increasing */
	int64_t time_ms;	 /* UTC milliseconds since the epoch */
	uint32_t uid;		 /* principalId "uid:N" */
	int32_t pid;		 /* calling process */
	const char *comm;	 /* its command name, or NULL */
	const char *copy_source; /* Copy: "bucket/key" of the source */
	const char *region;	 /* awsRegion, e.g. "us-east-1"; NULL: "" */
	const char *host;	 /* source.host and x-amz-id-2; NULL:
				    "localhost" */
};

/* A serialised record, borrowed (for the envelopes). */
struct ntf_record_ref {
	const char *json;
	size_t len;
};

/* Append the record JSON of ev (one object, no envelope, no newline) to
 * out, with s3.configurationId = configuration_id (NULL: "").  Invalid
 * UTF-8 in any string is written as U+FFFD so the output is always valid
 * JSON.  Returns 0, -EINVAL for an out-of-range event name, or
 * -E2BIG/-ENOMEM from the buffer; on failure out->len is restored. */
int ntf_record_json(const struct ntf_event *ev, const char *configuration_id,
		    struct cmn_buf *out);

/* Where the record's two copies of the sequencer (16 hex digits) start,
 * relative to the record's first byte: "sequencer" and the request id. */
struct ntf_record_marks {
	size_t sequencer, request_id;
};

/* ntf_record_json(), also telling where the sequencer went, so a caller
 * that learns the sequence number later can write it in place. */
int ntf_record_json_marked(const struct ntf_event *ev,
			   const char *configuration_id, struct cmn_buf *out,
			   struct ntf_record_marks *marks);

/* Append MinIO's webhook/Kafka/NATS envelope
 * {"EventName":NAME,"Key":"BUCKET/KEY","Records":[r0,r1,...]} to out:
 * event_name and the raw (decoded) bucket and key describe the first
 * record; records are n already-serialised record objects, copied
 * verbatim.  Returns 0 or -E2BIG/-ENOMEM (out->len restored). */
int ntf_record_envelope(const char *event_name, const char *bucket,
			const char *key, const struct ntf_record_ref *records,
			size_t n, struct cmn_buf *out);

/* Append {"Records":[r0,...]} (the AWS message and MinIO's namespace
 * format).  Returns 0 or -E2BIG/-ENOMEM (out->len restored). */
int ntf_record_wrap(const struct ntf_record_ref *records, size_t n,
		    struct cmn_buf *out);

/* Append AWS's test message, sent to each target a new configuration
 * names: {"Service":"bucketfs","Event":"s3:TestEvent","Time":...,
 * "Bucket":...,"RequestId":...,"HostId":...}.  request_id and host_id may
 * be NULL ("").  Returns 0 or -E2BIG/-ENOMEM (out->len restored). */
int ntf_record_test_event(const char *bucket, int64_t time_ms,
			  const char *request_id, const char *host_id,
			  struct cmn_buf *out);

/* MIME type for key from its extension (case-insensitive), or
 * "application/octet-stream".  Static string. */
const char *ntf_record_content_type(const char *key, size_t len);

/* Write seq as 16 uppercase hex digits and a NUL into out[17]. */
void ntf_record_sequencer(uint64_t seq, char out[17]);

#endif
