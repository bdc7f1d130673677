/*
 * ntf_rules.c - NotificationConfiguration parsing, validation and
 * matching; see ntf_rules.h for the rules and the decisions taken.
 *
 * The parse is two steps: pre-checks on the raw bytes (size, UTF-8,
 * DOCTYPE), then a walk over the libxml2 tree that knows the schema and
 * descends only into the elements it expects, so the walk's depth is
 * fixed by the code, not by the document.
 */
#include "ntf_rules.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ntf_limits.h"
#include "ntf_utf8.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static const char msg_arn[] =
	"A specified destination ARN does not exist or is not well-formed. "
	"Verify the destination ARN.";

struct rule {
	uint64_t mask;
	char *id;
	char *prefix; /* NULL: no prefix rule */
	char *suffix; /* NULL: no suffix rule */
	size_t plen, slen;
	size_t target;
	bool id_given; /* Id came from the document (for duplicates) */
};

struct tgt {
	char *id;
	char *type;
};

struct ntf_rules {
	uint64_t mask;
	size_t n_rules;
	struct rule *rules;
	size_t n_tgts;
	struct tgt *tgts;
};

/* One QueueConfiguration while it is being read. */
struct qcfg {
	xmlNode *node;
	char *id, *arn, *prefix, *suffix;
	xmlNode *events[NTF_LIMIT_EVENTS];
	size_t n_events;
	bool have_filter;
};

struct pctx {
	const struct ntf_rules_env *env;
	struct ntf_rules_error *err;
	struct ntf_rules *r;
	size_t elements;
};

/* ---- errors ---- */

static int fail(struct pctx *p, const xmlNode *n, int rc, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(struct pctx *p, const xmlNode *n, int rc, const char *code,
		const char *fmt, ...)
{
	struct ntf_rules_error *e = p->err;
	if (!e)
		return rc;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	e->line = n ? (int)xmlGetLineNo(n) : 0;
	if (e->line < 0)
		e->line = 0;
	return rc;
}

static int malformed(struct pctx *p, const xmlNode *n, const char *why)
{
	return fail(p, n, -EINVAL, "MalformedXML",
		    "The XML you provided was not well-formed or did not "
		    "validate against our published schema (%s).",
		    why);
}

static int invalid(struct pctx *p, const xmlNode *n, const char *msg)
{
	return fail(p, n, -EINVAL, "InvalidArgument", "%s", msg);
}

static int nomem(struct pctx *p)
{
	return fail(p, NULL, -ENOMEM, "InternalError", "out of memory");
}

/* Copy at most 64 bytes of s into out, printable ASCII only, for error
 * messages that must not echo hostile bytes. */
static const char *clip(const char *s, char out[72])
{
	size_t i = 0;
	for (; s && s[i] && i < 64; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7F) ? s[i] : '?';
	if (s && s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* ---- tree helpers ---- */

static bool is(const xmlNode *n, const char *name)
{
	return strcmp((const char *)n->name, name) == 0;
}

static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (!xml_space((char)*s))
			return false;
	return true;
}

/* Next child element of a container, or NULL at the end.  Text between
 * elements must be white space; comments and PIs are skipped. */
static int next_elem(struct pctx *p, xmlNode *parent, xmlNode **cur)
{
	xmlNode *n = *cur ? (*cur)->next : parent->children;
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			break;
		if ((n->type == XML_TEXT_NODE ||
		     n->type == XML_CDATA_SECTION_NODE) &&
		    !blank(n->content))
			return malformed(p, parent, "unexpected text");
		if (n->type != XML_TEXT_NODE && n->type != XML_COMMENT_NODE &&
		    n->type != XML_PI_NODE && n->type != XML_CDATA_SECTION_NODE)
			return malformed(p, parent, "unexpected node");
	}
	if (n && ++p->elements > NTF_LIMIT_XML_ELEMENTS)
		return malformed(p, n, "too many elements");
	*cur = n;
	return 0;
}

/* The text of a leaf element (no child elements), trimmed when asked.
 * Returns 0 with *out a new string, or an error. */
static int leaf(struct pctx *p, xmlNode *n, bool trim, char **out)
{
	size_t len = 0;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			return malformed(p, c, "unexpected element");
		if (c->type == XML_TEXT_NODE ||
		    c->type == XML_CDATA_SECTION_NODE)
			len += strlen((const char *)c->content);
		else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE)
			return malformed(p, c, "unexpected node");
	}
	char *s = malloc(len + 1), *d = s;
	if (!s)
		return nomem(p);
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_TEXT_NODE &&
		    c->type != XML_CDATA_SECTION_NODE)
			continue;
		size_t l = strlen((const char *)c->content);
		memcpy(d, c->content, l);
		d += l;
	}
	*d = '\0';
	if (trim) {
		char *a = s;
		while (xml_space(*a))
			a++;
		while (d > a && xml_space(d[-1]))
			*--d = '\0';
		memmove(s, a, (size_t)(d - a) + 1);
	}
	*out = s;
	return 0;
}

/* A leaf that may appear at most once. */
static int leaf_once(struct pctx *p, xmlNode *n, bool trim, char **slot)
{
	if (*slot)
		return malformed(p, n, "element repeated");
	return leaf(p, n, trim, slot);
}

/* ---- filters ---- */

/* S3's value rules: at most 1024 bytes of valid UTF-8, no '\', no "." or
 * ".." path segment (such keys cannot exist below a directory). */
static bool value_ok(const char *v)
{
	size_t len = strlen(v);
	if (len > NTF_LIMIT_FILTER_VALUE || !ntf_utf8_valid(v, len) ||
	    strchr(v, '\\'))
		return false;
	for (const char *seg = v;;) {
		size_t n = strcspn(seg, "/");
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (!seg[n])
			return true;
		seg += n + 1;
	}
}

static int rule_fields(struct pctx *p, xmlNode *fr, char **name, char **value)
{
	xmlNode *c = NULL;
	int rc;
	while ((rc = next_elem(p, fr, &c)) == 0 && c) {
		if (is(c, "Name"))
			rc = leaf_once(p, c, true, name);
		else if (is(c, "Value"))
			rc = leaf_once(p, c, false, value);
		else
			rc = malformed(p, c, "unknown element in FilterRule");
		if (rc)
			return rc;
	}
	return rc;
}

static int filter_rule(struct pctx *p, xmlNode *fr, struct qcfg *q)
{
	char *name = NULL, *value = NULL;
	int rc = rule_fields(p, fr, &name, &value);
	if (rc)
		goto out;
	bool pre = name && strcasecmp(name, "prefix") == 0;
	bool suf = name && strcasecmp(name, "suffix") == 0;
	char **slot = pre ? &q->prefix : &q->suffix;
	if (!pre && !suf)
		rc = invalid(
			p, fr,
			"filter rule name must be either prefix or suffix");
	else if (!value)
		rc = invalid(p, fr, "filter rule value is missing");
	else if (!value_ok(value))
		rc = invalid(p, fr,
			     "Size of filter rule value cannot exceed 1024 "
			     "bytes in UTF-8 representation, and it must not "
			     "contain '\\' or a '.' or '..' path segment");
	else if (*slot)
		rc = invalid(p, fr,
			     pre ? "Cannot specify more than one prefix rule "
				   "in a filter."
				 : "Cannot specify more than one suffix rule "
				   "in a filter.");
	if (rc)
		goto out;
	*slot = value;
	value = NULL;
out:
	free(name);
	free(value);
	return rc;
}

/* <S3Key>: FilterRule elements, or rustfs's FilterRuleList wrapping them. */
static int s3key(struct pctx *p, xmlNode *k, struct qcfg *q, bool nested)
{
	xmlNode *c = NULL;
	int rc;
	while ((rc = next_elem(p, k, &c)) == 0 && c) {
		if (is(c, "FilterRule"))
			rc = filter_rule(p, c, q);
		else if (!nested && is(c, "FilterRuleList"))
			rc = s3key(p, c, q, true);
		else
			rc = malformed(p, c, "unknown element in S3Key");
		if (rc)
			return rc;
	}
	return rc;
}

static int filter(struct pctx *p, xmlNode *f, struct qcfg *q)
{
	xmlNode *c = NULL;
	bool seen = false;
	int rc;
	if (q->have_filter)
		return malformed(p, f, "more than one Filter");
	q->have_filter = true;
	while ((rc = next_elem(p, f, &c)) == 0 && c) {
		if (!is(c, "S3Key"))
			return malformed(p, c, "unknown element in Filter");
		if (seen)
			return malformed(p, c, "more than one S3Key");
		seen = true;
		if ((rc = s3key(p, c, q, false)))
			return rc;
	}
	return rc;
}

/* ---- targets and ARNs ---- */

const char *ntf_rules_type_alias(const char *type, size_t len)
{
	if (len == 10 && memcmp(type, "postgresql", 10) == 0)
		return "postgres";
	return NULL;
}

static bool type_eq(const char *a, size_t alen, const char *b)
{
	const char *ca = ntf_rules_type_alias(a, alen);
	const char *cb = ntf_rules_type_alias(b, strlen(b));
	if (ca)
		a = ca, alen = strlen(ca);
	if (cb)
		b = cb;
	return strlen(b) == alen && memcmp(a, b, alen) == 0;
}

int ntf_rules_target_parse(const char *s, const char **id, size_t *id_len,
			   const char **type)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || !colon[1] || strchr(colon + 1, ':'))
		return -EINVAL;
	*id = s;
	*id_len = (size_t)(colon - s);
	const char *alias = ntf_rules_type_alias(colon + 1, strlen(colon + 1));
	*type = alias ? alias : colon + 1;
	return 0;
}

struct arn {
	const char *region, *id, *type;
	size_t rlen, ilen, tlen;
};

/* arn:PARTITION:sqs:REGION:ID:TYPE with PARTITION bucketfs, minio or
 * rustfs: exactly six fields, ID and TYPE non-empty. */
static bool arn_parse(const char *s, struct arn *a)
{
	const char *f[6];
	size_t l[6], n = 0;
	for (const char *c = s;; n++) {
		size_t k = strcspn(c, ":");
		if (n == 6)
			return false;
		f[n] = c;
		l[n] = k;
		if (!c[k])
			break;
		c += k + 1;
	}
	if (n != 5 || l[0] != 3 || memcmp(f[0], "arn", 3) != 0)
		return false;
	bool part = (l[1] == 8 && memcmp(f[1], "bucketfs", 8) == 0) ||
		    (l[1] == 5 && memcmp(f[1], "minio", 5) == 0) ||
		    (l[1] == 6 && memcmp(f[1], "rustfs", 6) == 0);
	if (!part || l[2] != 3 || memcmp(f[2], "sqs", 3) != 0 || !l[4] || !l[5])
		return false;
	*a = (struct arn){f[3], f[4], f[5], l[3], l[4], l[5]};
	return true;
}

static bool env_has(const struct ntf_rules_env *env, const struct arn *a)
{
	for (size_t i = 0; env && i < env->n_targets; i++) {
		const struct ntf_target_id *t = &env->targets[i];
		if (t->id && t->type && strlen(t->id) == a->ilen &&
		    memcmp(t->id, a->id, a->ilen) == 0 &&
		    type_eq(a->type, a->tlen, t->type))
			return true;
	}
	return false;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Index of the target in r, adding it on first use; -ENOMEM. */
static int target_index(struct ntf_rules *r, const char *id, size_t ilen,
			const char *type, size_t tlen, size_t *idx)
{
	const char *alias = ntf_rules_type_alias(type, tlen);
	if (alias)
		type = alias, tlen = strlen(alias);
	for (size_t i = 0; i < r->n_tgts; i++) {
		struct tgt *t = &r->tgts[i];
		if (strlen(t->id) == ilen && !memcmp(t->id, id, ilen) &&
		    strlen(t->type) == tlen && !memcmp(t->type, type, tlen)) {
			*idx = i;
			return 0;
		}
	}
	struct tgt *n = realloc(r->tgts, (r->n_tgts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	r->tgts = n;
	n[r->n_tgts].id = dupn(id, ilen);
	n[r->n_tgts].type = dupn(type, tlen);
	if (!n[r->n_tgts].id || !n[r->n_tgts].type) {
		free(n[r->n_tgts].id);
		free(n[r->n_tgts].type);
		return -ENOMEM;
	}
	*idx = r->n_tgts++;
	return 0;
}

static int check_arn(struct pctx *p, struct qcfg *q, size_t *idx)
{
	struct arn a;
	char c[72];
	if (!q->arn)
		return malformed(p, q->node, "missing Queue");
	if (strlen(q->arn) > NTF_LIMIT_ARN_BYTES || !arn_parse(q->arn, &a))
		return fail(p, q->node, -EINVAL, "InvalidArgument", "%s (%s)",
			    msg_arn, clip(q->arn, c));
	const char *region = p->env ? p->env->region : NULL;
	if (a.rlen && region && *region &&
	    (strlen(region) != a.rlen || memcmp(region, a.region, a.rlen)))
		return invalid(p, q->node,
			       "A specified destination is in a different "
			       "region than the bucket. You must use a "
			       "destination that resides in the same region "
			       "as the bucket.");
	if (!env_has(p->env, &a))
		return fail(p, q->node, -EINVAL, "InvalidArgument", "%s (%s)",
			    msg_arn, clip(q->arn, c));
	if (target_index(p->r, a.id, a.ilen, a.type, a.tlen, idx))
		return nomem(p);
	return 0;
}

/* ---- one QueueConfiguration ---- */

static int event_text(struct pctx *p, xmlNode *ev, uint64_t *mask, char **names,
		      size_t n)
{
	char *s = NULL, c[72];
	int rc = leaf(p, ev, true, &s);
	if (rc)
		return rc;
	uint64_t m;
	if (ntf_event_mask_from_str(s, strlen(s), &m) != 0) {
		rc = fail(p, ev, -EINVAL, "InvalidArgument",
			  "A specified event is not supported for "
			  "notifications. (%s)",
			  clip(s, c));
		free(s);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], s) == 0) {
			free(s);
			return invalid(p, ev,
				       "Configurations overlap. Configurations "
				       "on the same bucket cannot share a "
				       "common event type.");
		}
	}
	names[n] = s;
	*mask |= m;
	return 0;
}

static int check_events(struct pctx *p, struct qcfg *q, uint64_t *mask)
{
	char *names[NTF_LIMIT_EVENTS];
	size_t n = 0;
	int rc = 0;
	if (!q->n_events)
		return malformed(p, q->node, "missing Event");
	*mask = 0;
	for (; n < q->n_events; n++)
		if ((rc = event_text(p, q->events[n], mask, names, n)))
			break;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

static int read_child(struct pctx *p, xmlNode *c, struct qcfg *q)
{
	if (is(c, "Id"))
		return leaf_once(p, c, true, &q->id);
	if (is(c, "Queue"))
		return leaf_once(p, c, true, &q->arn);
	if (is(c, "Filter"))
		return filter(p, c, q);
	if (!is(c, "Event"))
		return malformed(p, c, "unknown element in QueueConfiguration");
	if (q->n_events == NTF_LIMIT_EVENTS)
		return invalid(p, c, "Too many events in one configuration.");
	q->events[q->n_events++] = c;
	return 0;
}

static int read_queue(struct pctx *p, xmlNode *qn, struct qcfg *q)
{
	xmlNode *c = NULL;
	int rc;
	q->node = qn;
	while ((rc = next_elem(p, qn, &c)) == 0 && c)
		if ((rc = read_child(p, c, q)))
			return rc;
	return rc;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_rule(const struct rule *a, const struct rule *b)
{
	return a->mask == b->mask && a->target == b->target &&
	       a->id_given == b->id_given &&
	       (!a->id_given || strcmp(a->id, b->id) == 0) &&
	       same_str(a->prefix, b->prefix) && same_str(a->suffix, b->suffix);
}

/* Move a validated configuration into the rule set. */
static int add_rule(struct pctx *p, struct qcfg *q, uint64_t mask,
		    size_t target)
{
	struct ntf_rules *r = p->r;
	struct rule nr = {.mask = mask, .target = target};
	char gen[32];
	nr.id_given = q->id && *q->id;
	snprintf(gen, sizeof(gen), "config-%zu", r->n_rules + 1);
	nr.id = nr.id_given ? q->id : gen;
	nr.prefix = q->prefix;
	nr.suffix = q->suffix;
	for (size_t i = 0; i < r->n_rules; i++)
		if (same_rule(&r->rules[i], &nr))
			return invalid(p, q->node,
				       "An object key name filtering rule "
				       "defined with overlapping prefixes, "
				       "overlapping suffixes, or overlapping "
				       "combinations of prefixes and suffixes "
				       "for the same event types.");
	if (r->n_rules == NTF_LIMIT_CONFIGS)
		return invalid(p, q->node,
			       "Too many configurations in one document.");
	struct rule *grown =
		realloc(r->rules, (r->n_rules + 1) * sizeof(*grown));
	if (!grown)
		return nomem(p);
	r->rules = grown;
	nr.id = nr.id_given ? q->id : strdup(gen);
	if (!nr.id)
		return nomem(p);
	nr.plen = q->prefix ? strlen(q->prefix) : 0;
	nr.slen = q->suffix ? strlen(q->suffix) : 0;
	r->rules[r->n_rules++] = nr;
	r->mask |= mask;
	if (nr.id_given)
		q->id = NULL;
	q->prefix = q->suffix = NULL;
	return 0;
}

static int queue_config(struct pctx *p, xmlNode *qn)
{
	struct qcfg q = {0};
	uint64_t mask = 0;
	size_t target = 0;
	char c[72];
	int rc = read_queue(p, qn, &q);
	if (!rc && q.id && strlen(q.id) > NTF_LIMIT_ID_BYTES)
		rc = fail(p, qn, -EINVAL, "InvalidArgument",
			  "Configuration Id longer than %d bytes (%s)",
			  NTF_LIMIT_ID_BYTES, clip(q.id, c));
	if (!rc)
		rc = check_events(p, &q, &mask);
	if (!rc)
		rc = check_arn(p, &q, &target);
	if (!rc)
		rc = add_rule(p, &q, mask, target);
	free(q.id);
	free(q.arn);
	free(q.prefix);
	free(q.suffix);
	return rc;
}

/* ---- the document ---- */

static int root_checks(struct pctx *p, xmlNode *root)
{
	if (!root || root->type != XML_ELEMENT_NODE ||
	    !is(root, "NotificationConfiguration"))
		return malformed(p, root,
				 "root must be NotificationConfiguration");
	if (root->ns && root->ns->href &&
	    strcmp((const char *)root->ns->href, S3_NS) != 0)
		return malformed(p, root, "unknown namespace");
	return 0;
}

static bool unsupported_kind(const xmlNode *n)
{
	return is(n, "TopicConfiguration") ||
	       is(n, "CloudFunctionConfiguration") ||
	       is(n, "LambdaFunctionConfiguration") ||
	       is(n, "EventBridgeConfiguration");
}

static int walk(struct pctx *p, xmlNode *root)
{
	xmlNode *c = NULL;
	int rc = root_checks(p, root);
	while (!rc && (rc = next_elem(p, root, &c)) == 0 && c) {
		if (is(c, "QueueConfiguration"))
			rc = queue_config(p, c);
		else if (unsupported_kind(c))
			rc = fail(p, c, -ENOTSUP, "UnsupportedNotification",
				  "bucketfs does not support Topic, Cloud "
				  "Function or EventBridge based "
				  "notifications; use QueueConfiguration "
				  "with an arn:bucketfs:sqs: ARN.");
		else
			rc = malformed(p, c, "unknown configuration element");
	}
	return rc;
}

/* Checks on the raw bytes, before libxml2 sees them. */
static int precheck(struct pctx *p, const char *xml, size_t len)
{
	if (!xml || len == 0)
		return fail(p, NULL, -EINVAL, "MissingContentLength",
			    "You must provide the Content-Length HTTP header.");
	if (len > NTF_LIMIT_XML_BYTES)
		return fail(p, NULL, -E2BIG, "MaxMessageLengthExceeded",
			    "Your request was too big (limit %d bytes).",
			    NTF_LIMIT_XML_BYTES);
	if (!ntf_utf8_valid(xml, len))
		return malformed(p, NULL, "document is not valid UTF-8");
	/* No DOCTYPE means no entity declarations and no DTD to load:
	 * billion laughs and XXE are refused here, before any parsing. */
	if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8))
		return malformed(p, NULL, "DTDs and entities are not allowed");
	return 0;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static int parse_doc(struct pctx *p, const char *xml, size_t len)
{
	/* NONET: never fetch anything.  No NOENT, DTDLOAD, DTDATTR, HUGE or
	 * XINCLUDE: nothing is expanded, loaded or included.  The encoding
	 * is forced to UTF-8 so an encoding declaration cannot switch
	 * decoders under the UTF-8 check above. */
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
		   XML_PARSE_NOCDATA;
	pthread_once(&xml_once, xml_init);
	xmlDoc *doc = xmlReadMemory(xml, (int)len, NULL, "UTF-8", opts);
	if (!doc)
		return malformed(p, NULL, "not well-formed");
	int rc = doc->intSubset || doc->extSubset
			 ? malformed(p, NULL, "DTDs are not allowed")
			 : walk(p, xmlDocGetRootElement(doc));
	xmlFreeDoc(doc);
	return rc;
}

int ntf_rules_parse(const char *xml, size_t len,
		    const struct ntf_rules_env *env, struct ntf_rules **out,
		    struct ntf_rules_error *err)
{
	struct pctx p = {.env = env, .err = err};
	*out = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	int rc = precheck(&p, xml, len);
	if (rc)
		return rc;
	p.r = calloc(1, sizeof(*p.r));
	if (!p.r)
		return nomem(&p);
	rc = parse_doc(&p, xml, len);
	if (rc) {
		ntf_rules_free(p.r);
		return rc;
	}
	*out = p.r;
	return 0;
}

/* ---- the built-in default ---- */

int ntf_rules_default(struct ntf_rules **out)
{
	struct ntf_rules *r = calloc(1, sizeof(*r));
	size_t t;
	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->rules = calloc(1, sizeof(*r->rules));
	if (!r->rules || target_index(r, "local", 5, "sqlite", 6, &t))
		goto nomem;
	struct rule *ru = &r->rules[0];
	ru->id = strdup("bucketfs-default");
	if (!ru->id)
		goto nomem;
	r->n_rules = 1;
	ru->id_given = true;
	ru->target = t;
	ru->mask = NTF_EV_BIT(NTF_EV_BUCKET_CREATED) |
		   NTF_EV_BIT(NTF_EV_BUCKET_REMOVED);
	uint64_t m;
	ntf_event_mask_from_str("s3:ObjectCreated:*", 18, &m);
	ru->mask |= m;
	ntf_event_mask_from_str("s3:ObjectRemoved:*", 18, &m);
	ru->mask |= m;
	r->mask = ru->mask;
	*out = r;
	return 0;
nomem:
	ntf_rules_free(r);
	return -ENOMEM;
}

void ntf_rules_free(struct ntf_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rules; i++) {
		free(r->rules[i].id);
		free(r->rules[i].prefix);
		free(r->rules[i].suffix);
	}
	for (size_t i = 0; i < r->n_tgts; i++) {
		free(r->tgts[i].id);
		free(r->tgts[i].type);
	}
	free(r->rules);
	free(r->tgts);
	free(r);
}

/* ---- queries ---- */

uint64_t ntf_rules_mask(const struct ntf_rules *r)
{
	return r ? r->mask : 0;
}

uint64_t ntf_rules_keyless_mask(const struct ntf_rules *r)
{
	uint64_t m = 0;
	for (size_t i = 0; r && i < r->n_rules; i++)
		if (!r->rules[i].prefix && !r->rules[i].suffix)
			m |= r->rules[i].mask;
	return m;
}

size_t ntf_rules_count(const struct ntf_rules *r)
{
	return r ? r->n_rules : 0;
}

size_t ntf_rules_target_count(const struct ntf_rules *r)
{
	return r ? r->n_tgts : 0;
}

struct ntf_target_id ntf_rules_target(const struct ntf_rules *r, size_t i)
{
	if (!r || i >= r->n_tgts)
		return (struct ntf_target_id){NULL, NULL};
	return (struct ntf_target_id){r->tgts[i].id, r->tgts[i].type};
}

/* Literal prefix and suffix on the raw key; they may overlap (AWS). */
static bool key_ok(const struct rule *ru, const char *key, size_t len)
{
	if (ru->prefix && (len < ru->plen || memcmp(key, ru->prefix, ru->plen)))
		return false;
	if (ru->suffix && (len < ru->slen ||
			   memcmp(key + len - ru->slen, ru->suffix, ru->slen)))
		return false;
	return true;
}

static bool present(const struct ntf_match *out, size_t n, const struct tgt *t)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].target_id, t->id) == 0 &&
		    strcmp(out[i].target_type, t->type) == 0)
			return true;
	return false;
}

int ntf_rules_match(const struct ntf_rules *r, enum ntf_event_name ev,
		    const char *key, size_t keylen, struct ntf_match *out,
		    size_t n, size_t cap)
{
	if ((unsigned)ev >= NTF_EV_COUNT ||
	    !(ntf_rules_mask(r) & NTF_EV_BIT(ev)))
		return (int)n;
	if (!key) {
		key = "";
		keylen = 0;
	}
	for (size_t i = 0; i < r->n_rules; i++) {
		const struct rule *ru = &r->rules[i];
		const struct tgt *t = &r->tgts[ru->target];
		if (!(ru->mask & NTF_EV_BIT(ev)) || !key_ok(ru, key, keylen) ||
		    present(out, n, t))
			continue;
		if (n >= cap)
			return -E2BIG;
		out[n++] = (struct ntf_match){t->id, t->type, ru->id};
	}
	return (int)n;
}
