/*
 * ntf_rules.h - S3 NotificationConfiguration XML -> validated, compiled
 * rule set, and the matcher the FUSE layer asks "who gets this event?".
 *
 * Parsing uses libxml2 hardened against hostile input: documents larger
 * than NTF_LIMIT_XML_BYTES, not valid UTF-8, or containing a DOCTYPE are
 * refused before libxml2 sees them (so no entity can be declared, let
 * alone expanded, and no DTD or external entity is ever loaded); libxml2
 * then runs with XML_PARSE_NONET and without NOENT/DTDLOAD/HUGE.
 *
 * Validation follows specs/events.md §c.3 with DESIGN.md §4's decisions:
 *  - QueueConfiguration is the only kind.  Topic-, CloudFunction-,
 *    LambdaFunction- and EventBridgeConfiguration are refused with
 *    UnsupportedNotification (-ENOTSUP), as MinIO does: their ARNs name
 *    AWS services (SNS, Lambda, EventBridge) that bucketfs cannot reach,
 *    and silently treating them as queues (rustfs) would hide typos.
 *  - Unknown elements are MalformedXML (AWS validates against its schema;
 *    MinIO's silent ignore hides misspelt <Filtre> rules).  rustfs's
 *    <S3Key><FilterRuleList> wrapper is accepted.
 *  - Text of Id, Queue, Event and Name is trimmed of XML white space;
 *    a filter Value is taken byte for byte.
 *  - FilterRule Name is case-insensitive (rustfs); values are literal
 *    ('*' and '?' are ordinary bytes) and compared with the raw key,
 *    case-sensitively; prefix and suffix may overlap in the key (AWS).
 *  - Overlapping configurations are allowed (MinIO/rustfs): the event goes
 *    to the union of their targets, each target once.  An exact duplicate
 *    (same Id, target, event mask and filter) is InvalidArgument.
 *  - ARNs: arn:bucketfs:sqs:REGION:ID:TYPE, with arn:minio:sqs: and
 *    arn:rustfs:sqs: as aliases; exactly six ':'-separated fields, ID and
 *    TYPE non-empty, REGION empty or equal to the server's.  "postgresql"
 *    (MinIO) is stored as "postgres".  The target must exist.
 *  - An empty Id becomes "config-N" (N = position in the document, from
 *    1), so every record carries a stable configurationId.
 *
 * Threading: a struct ntf_rules is immutable once built; any number of
 * threads may call the const functions on it concurrently.  Replace a
 * rule set by swapping a pointer and freeing the old one after readers
 * are done (RCU style).  Parsing is reentrant.
 */
#ifndef NTF_RULES_H
#define NTF_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "ntf_event.h"

struct ntf_rules;

/* A delivery target "ID:TYPE"; strings borrowed. */
struct ntf_target_id {
	const char *id;
	const char *type;
};

/* What validation checks ARNs against; borrowed for the parse call. */
struct ntf_rules_env {
	const char *region;		     /* server region; NULL/"": any */
	const struct ntf_target_id *targets; /* the targets that exist */
	size_t n_targets;
};

/* Why a document was refused. */
struct ntf_rules_error {
	char code[40];	   /* S3 error code: "InvalidArgument", ... */
	char message[256]; /* human-readable, never echoes more than 64
			      sanitised bytes of the document */
	int line;	   /* line of the offending element; 0 unknown */
};

/* One target a matching event goes to.  Strings borrowed from the rule
 * set, valid until it is freed. */
struct ntf_match {
	const char *target_id;
	const char *target_type;
	const char *configuration_id; /* -> s3.configurationId */
};

/* Parse and validate a NotificationConfiguration of len bytes.
 * On success returns 0 and *out is a new rule set (caller frees with
 * ntf_rules_free); an empty configuration yields a rule set that matches
 * nothing.  On failure *out is NULL, err (if non-NULL) holds the S3 code
 * and message, and the result is -EINVAL (MalformedXML, InvalidArgument,
 * MissingContentLength), -ENOTSUP (UnsupportedNotification), -E2BIG
 * (MaxMessageLengthExceeded) or -ENOMEM (InternalError). */
int ntf_rules_parse(const char *xml, size_t len,
		    const struct ntf_rules_env *env, struct ntf_rules **out,
		    struct ntf_rules_error *err);

/* The built-in rule set used when no rules are configured anywhere:
 * s3:ObjectCreated:*, s3:ObjectRemoved:*, s3:BucketCreated:* and
 * s3:BucketRemoved:* go to local:sqlite with configurationId
 * "bucketfs-default".  Returns 0 (*out set, caller frees) or -ENOMEM. */
int ntf_rules_default(struct ntf_rules **out);

/* Free a rule set; NULL is fine. */
void ntf_rules_free(struct ntf_rules *r);

/* OR of every rule's event mask: when (mask & NTF_EV_BIT(ev)) == 0 no rule
 * can match ev and the caller builds nothing.  NULL gives 0. */
uint64_t ntf_rules_mask(const struct ntf_rules *r);

/* OR of the event masks of the rules without a key filter: an event in
 * it matches whatever its key.  NULL gives 0. */
uint64_t ntf_rules_keyless_mask(const struct ntf_rules *r);

/* Number of configurations in the set. */
size_t ntf_rules_count(const struct ntf_rules *r);

/* The distinct targets the set names, e.g. for s3:TestEvent messages:
 * index i < ntf_rules_target_count(r); strings borrowed from r. */
size_t ntf_rules_target_count(const struct ntf_rules *r);
struct ntf_target_id ntf_rules_target(const struct ntf_rules *r, size_t i);

/* Append to out[0..n) every target of r that receives event ev for the
 * raw key of keylen bytes, skipping targets already present (compared by
 * ID and TYPE), so calling it for the global and then the bucket rule set
 * with the same array yields the union, each target once, carrying the
 * configurationId of the first configuration that matched it (document
 * order).  Returns the new count (>= n), or -E2BIG when more than cap
 * entries would be needed (out then holds cap of them).  r may be NULL.
 * Allocation-free; safe to call concurrently. */
int ntf_rules_match(const struct ntf_rules *r, enum ntf_event_name ev,
		    const char *key, size_t keylen, struct ntf_match *out,
		    size_t n, size_t cap);

/* Parse "ID:TYPE" (as given to --target or a config file): exactly one
 * ':', both sides non-empty.  On success returns 0 and points id/type
 * into s (type canonical: "postgresql" -> "postgres", a static string);
 * *id_len is the ID's length.  Returns -EINVAL otherwise. */
int ntf_rules_target_parse(const char *s, const char **id, size_t *id_len,
			   const char **type);

/* Canonical spelling of a target type of len bytes: "postgres" for
 * "postgresql"; otherwise NULL, meaning the type stands as written. */
const char *ntf_rules_type_alias(const char *type, size_t len);

#endif
