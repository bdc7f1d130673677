/*
 * ntf_event.h - the S3 event names: one X-macro table gives each single
 * event type its enum, its string, its bit in a uint64_t mask, its record
 * eventVersion and its family flags.
 *
 * Single types are what a record carries.  Compound names
 * ("s3:ObjectCreated:*") and MinIO's aliases ("s3:ObjectCreated:PutTagging"
 * = "s3:ObjectTagging:Put") exist only in configurations and expand to a
 * mask at parse time, so matching is one AND.  Expansion follows AWS where
 * AWS defines the name (tagging, retention and legal hold are not
 * ObjectCreated:*), MinIO otherwise (ObjectRemoved:* includes
 * DeleteAllVersions).  There is no "s3:*": no server accepts it.
 */
#ifndef NTF_EVENT_H
#define NTF_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Family flags of a single type. */
#define NTF_EVF_REMOVED 1u /* record omits size, eTag, contentType, meta */
#define NTF_EVF_BUCKET	2u /* bucket event: no object key */

/* X(ENUM, "name", "eventVersion", flags): every single event type that
 * AWS, MinIO or rustfs accept in a configuration. */
#define NTF_EVENT_MAP(X)                                                       \
	X(OBJECT_CREATED_PUT, "s3:ObjectCreated:Put", "2.1", 0)                \
	X(OBJECT_CREATED_POST, "s3:ObjectCreated:Post", "2.1", 0)              \
	X(OBJECT_CREATED_COPY, "s3:ObjectCreated:Copy", "2.1", 0)              \
	X(OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD,                            \
	  "s3:ObjectCreated:CompleteMultipartUpload", "2.1", 0)                \
	X(OBJECT_CREATED_PUT_RETENTION, "s3:ObjectCreated:PutRetention",       \
	  "2.1", 0)                                                            \
	X(OBJECT_CREATED_PUT_LEGAL_HOLD, "s3:ObjectCreated:PutLegalHold",      \
	  "2.1", 0)                                                            \
	X(OBJECT_TAGGING_PUT, "s3:ObjectTagging:Put", "2.3", 0)                \
	X(OBJECT_TAGGING_DELETE, "s3:ObjectTagging:Delete", "2.3", 0)          \
	X(OBJECT_ACL_PUT, "s3:ObjectAcl:Put", "2.3", 0)                        \
	X(OBJECT_REMOVED_DELETE, "s3:ObjectRemoved:Delete", "2.1",             \
	  NTF_EVF_REMOVED)                                                     \
	X(OBJECT_REMOVED_DELETE_MARKER_CREATED,                                \
	  "s3:ObjectRemoved:DeleteMarkerCreated", "2.1", NTF_EVF_REMOVED)      \
	X(OBJECT_REMOVED_NOOP, "s3:ObjectRemoved:NoOP", "2.1",                 \
	  NTF_EVF_REMOVED)                                                     \
	X(OBJECT_REMOVED_DELETE_ALL_VERSIONS,                                  \
	  "s3:ObjectRemoved:DeleteAllVersions", "2.1", NTF_EVF_REMOVED)        \
	X(OBJECT_ACCESSED_GET, "s3:ObjectAccessed:Get", "2.1", 0)              \
	X(OBJECT_ACCESSED_HEAD, "s3:ObjectAccessed:Head", "2.1", 0)            \
	X(OBJECT_ACCESSED_GET_RETENTION, "s3:ObjectAccessed:GetRetention",     \
	  "2.1", 0)                                                            \
	X(OBJECT_ACCESSED_GET_LEGAL_HOLD, "s3:ObjectAccessed:GetLegalHold",    \
	  "2.1", 0)                                                            \
	X(OBJECT_ACCESSED_ATTRIBUTES, "s3:ObjectAccessed:Attributes", "2.1",   \
	  0)                                                                   \
	X(BUCKET_CREATED, "s3:BucketCreated:*", "2.1", NTF_EVF_BUCKET)         \
	X(BUCKET_REMOVED, "s3:BucketRemoved:*", "2.1", NTF_EVF_BUCKET)         \
	X(OBJECT_RESTORE_POST, "s3:ObjectRestore:Post", "2.1", 0)              \
	X(OBJECT_RESTORE_COMPLETED, "s3:ObjectRestore:Completed", "2.3", 0)    \
	X(OBJECT_RESTORE_DELETE, "s3:ObjectRestore:Delete", "2.3", 0)          \
	X(REPLICATION_FAILED, "s3:Replication:OperationFailedReplication",     \
	  "2.2", 0)                                                            \
	X(REPLICATION_COMPLETED,                                               \
	  "s3:Replication:OperationCompletedReplication", "2.2", 0)            \
	X(REPLICATION_MISSED_THRESHOLD,                                        \
	  "s3:Replication:OperationMissedThreshold", "2.2", 0)                 \
	X(REPLICATION_REPLICATED_AFTER_THRESHOLD,                              \
	  "s3:Replication:OperationReplicatedAfterThreshold", "2.2", 0)        \
	X(REPLICATION_NOT_TRACKED, "s3:Replication:OperationNotTracked",       \
	  "2.2", 0)                                                            \
	X(LIFECYCLE_EXPIRATION_DELETE, "s3:LifecycleExpiration:Delete", "2.3", \
	  0)                                                                   \
	X(LIFECYCLE_EXPIRATION_DELETE_MARKER_CREATED,                          \
	  "s3:LifecycleExpiration:DeleteMarkerCreated", "2.3", 0)              \
	X(LIFECYCLE_TRANSITION, "s3:LifecycleTransition", "2.3", 0)            \
	X(INTELLIGENT_TIERING, "s3:IntelligentTiering", "2.3", 0)              \
	X(LIFECYCLE_DEL_MARKER_EXPIRATION_DELETE,                              \
	  "s3:LifecycleDelMarkerExpiration:Delete", "2.3", 0)                  \
	X(OBJECT_TRANSITION_FAILED, "s3:ObjectTransition:Failed", "2.1", 0)    \
	X(OBJECT_TRANSITION_COMPLETE, "s3:ObjectTransition:Complete", "2.1",   \
	  0)                                                                   \
	X(SCANNER_MANY_VERSIONS, "s3:Scanner:ManyVersions", "2.1", 0)          \
	X(SCANNER_LARGE_VERSIONS, "s3:Scanner:LargeVersions", "2.1", 0)        \
	X(SCANNER_BIG_PREFIX, "s3:Scanner:BigPrefix", "2.1", 0)                \
	X(REDUCED_REDUNDANCY_LOST_OBJECT, "s3:ReducedRedundancyLostObject",    \
	  "2.1", 0)

enum ntf_event_name {
#define NTF_X_ENUM(e, s, v, f) NTF_EV_##e,
	NTF_EVENT_MAP(NTF_X_ENUM)
#undef NTF_X_ENUM
		NTF_EV_COUNT
};

/* The event's bit in a mask. */
#define NTF_EV_BIT(e) (UINT64_C(1) << (e))

/* XC(ENUM, "name", mask): the compound names a configuration may use. */
#define NTF_EVENT_COMPOUND_MAP(XC)                                             \
	XC(OBJECT_CREATED_ALL, "s3:ObjectCreated:*",                           \
	   NTF_EV_BIT(NTF_EV_OBJECT_CREATED_PUT) |                             \
		   NTF_EV_BIT(NTF_EV_OBJECT_CREATED_POST) |                    \
		   NTF_EV_BIT(NTF_EV_OBJECT_CREATED_COPY) |                    \
		   NTF_EV_BIT(                                                 \
			   NTF_EV_OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD))   \
	XC(OBJECT_TAGGING_ALL, "s3:ObjectTagging:*",                           \
	   NTF_EV_BIT(NTF_EV_OBJECT_TAGGING_PUT) |                             \
		   NTF_EV_BIT(NTF_EV_OBJECT_TAGGING_DELETE))                   \
	XC(OBJECT_REMOVED_ALL, "s3:ObjectRemoved:*",                           \
	   NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_DELETE) |                          \
		   NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_DELETE_MARKER_CREATED) |   \
		   NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_NOOP) |                    \
		   NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_DELETE_ALL_VERSIONS))      \
	XC(OBJECT_ACCESSED_ALL, "s3:ObjectAccessed:*",                         \
	   NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_GET) |                            \
		   NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_HEAD) |                   \
		   NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_GET_RETENTION) |          \
		   NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_GET_LEGAL_HOLD) |         \
		   NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_ATTRIBUTES))              \
	XC(OBJECT_RESTORE_ALL, "s3:ObjectRestore:*",                           \
	   NTF_EV_BIT(NTF_EV_OBJECT_RESTORE_POST) |                            \
		   NTF_EV_BIT(NTF_EV_OBJECT_RESTORE_COMPLETED) |               \
		   NTF_EV_BIT(NTF_EV_OBJECT_RESTORE_DELETE))                   \
	XC(REPLICATION_ALL, "s3:Replication:*",                                \
	   NTF_EV_BIT(NTF_EV_REPLICATION_FAILED) |                             \
		   NTF_EV_BIT(NTF_EV_REPLICATION_COMPLETED) |                  \
		   NTF_EV_BIT(NTF_EV_REPLICATION_MISSED_THRESHOLD) |           \
		   NTF_EV_BIT(NTF_EV_REPLICATION_REPLICATED_AFTER_THRESHOLD) | \
		   NTF_EV_BIT(NTF_EV_REPLICATION_NOT_TRACKED))                 \
	XC(LIFECYCLE_EXPIRATION_ALL, "s3:LifecycleExpiration:*",               \
	   NTF_EV_BIT(NTF_EV_LIFECYCLE_EXPIRATION_DELETE) |                    \
		   NTF_EV_BIT(                                                 \
			   NTF_EV_LIFECYCLE_EXPIRATION_DELETE_MARKER_CREATED)) \
	XC(OBJECT_TRANSITION_ALL, "s3:ObjectTransition:*",                     \
	   NTF_EV_BIT(NTF_EV_OBJECT_TRANSITION_FAILED) |                       \
		   NTF_EV_BIT(NTF_EV_OBJECT_TRANSITION_COMPLETE))              \
	XC(SCANNER_ALL, "s3:Scanner:*",                                        \
	   NTF_EV_BIT(NTF_EV_SCANNER_MANY_VERSIONS) |                          \
		   NTF_EV_BIT(NTF_EV_SCANNER_LARGE_VERSIONS) |                 \
		   NTF_EV_BIT(NTF_EV_SCANNER_BIG_PREFIX))

/* XA("alias", ENUM): MinIO spellings of single types, accepted on input,
 * never written (records use the AWS name). */
#define NTF_EVENT_ALIAS_MAP(XA)                               \
	XA("s3:ObjectCreated:PutTagging", OBJECT_TAGGING_PUT) \
	XA("s3:ObjectCreated:DeleteTagging", OBJECT_TAGGING_DELETE)

/* Canonical name of a single type ("s3:ObjectCreated:Put"), or NULL when
 * e is out of range.  Static string. */
const char *ntf_event_str(enum ntf_event_name e);

/* The record eventVersion of e ("2.1", "2.2" replication, "2.3" ACL,
 * tagging, restore-completed/delete and lifecycle), or NULL. */
const char *ntf_event_version(enum ntf_event_name e);

/* NTF_EVF_* flags of e (0 when out of range). */
unsigned ntf_event_flags(enum ntf_event_name e);

/* True for ObjectRemoved:* types, whose records omit object details. */
bool ntf_event_is_removed(enum ntf_event_name e);

/* Look up a single type by its canonical name or a MinIO alias; exact,
 * case-sensitive bytes.  Returns 0 and sets *out, or -ENOENT. */
int ntf_event_from_str(const char *s, size_t len, enum ntf_event_name *out);

/* Mask of a configuration event name: a single name, an alias or a
 * compound.  Returns 0 and sets *mask, or -ENOENT for an unknown name. */
int ntf_event_mask_from_str(const char *s, size_t len, uint64_t *mask);

/* Mask with every single type set. */
uint64_t ntf_event_mask_all(void);

#endif
