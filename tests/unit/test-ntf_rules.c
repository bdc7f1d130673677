/*
 * test-ntf_rules.c - NotificationConfiguration validation and matching:
 * the data-driven cases of tests/notify/configs.test and match.test,
 * hostile XML, limits, the default rule set and union of two rule sets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmn_buf.h"
#include "cmn_url.h"
#include "ntf_limits.h"
#include "ntf_rules.h"

#define DEFAULT_TARGETS "local:sqlite 1:webhook k:kafka pg:postgresql n:nats"
#define MAX_TARGETS	16
#define MAX_MATCHES	64

struct tcase {
	char name[256];
	char targets[256];
	char region[64];
	char expect[64];
	struct cmn_buf xml;
	char *matches[MAX_MATCHES];
	size_t n_matches;
	int line;
};

struct env_store {
	struct ntf_target_id t[MAX_TARGETS];
	char buf[256];
	struct ntf_rules_env env;
};

/* Build an env from "ID:TYPE ..." ("-": none) and a region ("-": none). */
static void make_env(struct env_store *s, const char *targets,
		     const char *region)
{
	size_t n = 0;
	snprintf(s->buf, sizeof(s->buf), "%s", targets);
	for (char *p = s->buf; strcmp(targets, "-") != 0 && *p;) {
		char *id = p + strspn(p, " ");
		size_t len = strcspn(id, " ");
		if (!len)
			break;
		p = id + len + (id[len] != '\0');
		id[len] = '\0';
		char *colon = strchr(id, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(n < MAX_TARGETS);
		s->t[n++] = (struct ntf_target_id){id, colon + 1};
	}
	s->env = (struct ntf_rules_env){strcmp(region, "-") ? region : NULL,
					s->t, n};
}

static int parse_case(struct tcase *c, struct ntf_rules **r,
		      struct ntf_rules_error *err)
{
	struct env_store s;
	make_env(&s, c->targets, c->region);
	/* Drop the blank lines that separate cases. */
	while (c->xml.len && c->xml.data[c->xml.len - 1] == '\n' &&
	       (c->xml.len == 1 || c->xml.data[c->xml.len - 2] == '\n'))
		c->xml.len--;
	return ntf_rules_parse(c->xml.data ? c->xml.data : "", c->xml.len,
			       &s.env, r, err);
}

static void check_config(struct tcase *c)
{
	struct ntf_rules *r = NULL;
	struct ntf_rules_error err;
	int rc = parse_case(c, &r, &err);
	if (strcmp(c->expect, "valid") == 0) {
		if (rc != 0)
			fail_msg("%s (line %d): expected valid, got %s: %s",
				 c->name, c->line, err.code, err.message);
		assert_non_null(r);
	} else {
		if (rc == 0)
			fail_msg("%s (line %d): expected %s, got valid",
				 c->name, c->line, c->expect);
		if (strcmp(err.code, c->expect) != 0)
			fail_msg("%s (line %d): expected %s, got %s: %s",
				 c->name, c->line, c->expect, err.code,
				 err.message);
		assert_null(r);
		assert_true(err.message[0] != '\0');
	}
	ntf_rules_free(r);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "EVENT KEY => T1 T2" against the rule set. */
static void check_match(struct tcase *c, const struct ntf_rules *r, char *line)
{
	char *ev = line + strspn(line, " ");
	char *key = strchr(ev, ' ');
	assert_non_null(key);
	*key++ = '\0';
	char *arrow = strstr(key, " => ");
	assert_non_null(arrow);
	*arrow = '\0';
	char *want = arrow + 4;
	want[strcspn(want, "\n")] = '\0';
	struct cmn_buf k;
	cmn_buf_init(&k, 4096);
	if (strcmp(key, "\"\"") != 0)
		assert_int_equal(cmn_url_decode(&k, key, strlen(key), 0), 0);
	enum ntf_event_name e;
	if (ntf_event_from_str(ev, strlen(ev), &e) != 0)
		fail_msg("%s: unknown event %s", c->name, ev);
	struct ntf_match m[NTF_LIMIT_MATCH];
	int n = ntf_rules_match(r, e, k.data, k.len, m, 0, NTF_LIMIT_MATCH);
	assert_true(n >= 0);
	char *names[NTF_LIMIT_MATCH];
	char got[1024] = "";
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		size_t l =
			strlen(m[i].target_id) + strlen(m[i].target_type) + 2;
		names[i] = malloc(l);
		snprintf(names[i], l, "%s:%s", m[i].target_id,
			 m[i].target_type);
	}
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s",
					 i ? " " : "", names[i]);
		free(names[i]);
	}
	if (!n)
		snprintf(got, sizeof(got), "-");
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s %s: expected [%s], got [%s]", c->name, ev, key,
			 want, got);
	cmn_buf_free(&k);
}

static void check_matches(struct tcase *c)
{
	struct ntf_rules *r = NULL;
	struct ntf_rules_error err;
	if (parse_case(c, &r, &err) != 0)
		fail_msg("%s: %s: %s", c->name, err.code, err.message);
	for (size_t i = 0; i < c->n_matches; i++)
		check_match(c, r, c->matches[i]);
	ntf_rules_free(r);
}

static void reset_case(struct tcase *c, const char *name, int line)
{
	for (size_t i = 0; i < c->n_matches; i++)
		free(c->matches[i]);
	cmn_buf_free(&c->xml);
	memset(c, 0, sizeof(*c));
	cmn_buf_init(&c->xml, 1 << 20);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->targets, sizeof(c->targets), "%s", DEFAULT_TARGETS);
	snprintf(c->region, sizeof(c->region), "us-east-1");
	c->line = line;
}

static bool header(struct tcase *c, const char *line)
{
	size_t n = strcspn(line, "\n");
	if (c->xml.len)
		return false;
	if (strncmp(line, "targets: ", 9) == 0)
		snprintf(c->targets, sizeof(c->targets), "%.*s", (int)n - 9,
			 line + 9);
	else if (strncmp(line, "region: ", 8) == 0)
		snprintf(c->region, sizeof(c->region), "%.*s", (int)n - 8,
			 line + 8);
	else if (strncmp(line, "expect: ", 8) == 0)
		snprintf(c->expect, sizeof(c->expect), "%.*s", (int)n - 8,
			 line + 8);
	else
		return false;
	return true;
}

/* Run every case of a data file; returns how many ran. */
static int run_file(const char *path, void (*check)(struct tcase *))
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char line[8192];
	struct tcase c = {0};
	int count = 0, lineno = 0;
	bool open = false;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (strncmp(line, "### ", 4) == 0) {
			if (open)
				check(&c);
			line[strcspn(line, "\n")] = '\0';
			reset_case(&c, line + 4, lineno);
			open = true;
			count++;
		} else if (!open || (!c.xml.len && line[0] == '#')) {
			continue;
		} else if (strncmp(line, "match: ", 7) == 0) {
			assert_true(c.n_matches < MAX_MATCHES);
			c.matches[c.n_matches++] = strdup(line + 7);
		} else if (!header(&c, line)) {
			assert_int_equal(cmn_buf_adds(&c.xml, line), 0);
		}
	}
	if (open)
		check(&c);
	reset_case(&c, "", 0);
	cmn_buf_free(&c.xml);
	fclose(f);
	return count;
}

static int match_lines;

static void count_and_check(struct tcase *c)
{
	match_lines += (int)c->n_matches;
	check_matches(c);
}

static void test_configs_file(void **state)
{
	int n = run_file("tests/notify/configs.test", check_config);
	assert_true(n >= 60);
}

static void test_match_file(void **state)
{
	match_lines = 0;
	run_file("tests/notify/match.test", count_and_check);
	assert_true(match_lines >= 60);
}

/* ---- hostile input ---- */

static const struct ntf_target_id local_t[] = {{"local", "sqlite"}};
static const struct ntf_rules_env local_env = {"us-east-1", local_t, 1};

static int parse_str(const char *xml, size_t len, struct ntf_rules_error *e)
{
	struct ntf_rules *r = NULL;
	int rc = ntf_rules_parse(xml, len, &local_env, &r, e);
	if (rc == 0)
		assert_non_null(r);
	else
		assert_null(r);
	ntf_rules_free(r);
	return rc;
}

static void expect_code(const char *xml, size_t len, int rc, const char *code)
{
	struct ntf_rules_error e;
	assert_int_equal(parse_str(xml, len, &e), rc);
	assert_string_equal(e.code, code);
}

static void test_billion_laughs(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 "
		"\"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 "
		"\"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 "
		"\"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 "
		"\"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 "
		"\"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 "
		"\"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 "
		"\"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 "
		"\"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n"
		"<NotificationConfiguration><QueueConfiguration><Id>&lol9;</Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
		"</NotificationConfiguration>";
	expect_code(doc, strlen(doc), -EINVAL, "MalformedXML");
}

static void test_external_entity_file(void **state)
{
	char path[] = "/tmp/ntf-xxe-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "TOPSECRET", 9), 9);
	close(fd);
	char doc[512];
	int n = snprintf(doc, sizeof(doc),
			 "<!DOCTYPE n [<!ENTITY xxe SYSTEM \"file://%s\">]>"
			 "<NotificationConfiguration><QueueConfiguration>"
			 "<Id>&xxe;</Id>"
			 "<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
			 "<Event>s3:ObjectCreated:*</Event>"
			 "</QueueConfiguration></NotificationConfiguration>",
			 path);
	struct ntf_rules_error e;
	assert_int_equal(parse_str(doc, (size_t)n, &e), -EINVAL);
	assert_string_equal(e.code, "MalformedXML");
	assert_null(strstr(e.message, "TOPSECRET"));
	/* Parameter entities and an external DTD are refused the same way. */
	n = snprintf(doc, sizeof(doc),
		     "<!DOCTYPE n SYSTEM \"file://%s\">"
		     "<NotificationConfiguration/>",
		     path);
	expect_code(doc, (size_t)n, -EINVAL, "MalformedXML");
	unlink(path);
}

static void test_external_entity_url(void **state)
{
	static const char doc[] =
		"<!DOCTYPE n [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/x.dtd\">"
		"%p;<!ENTITY u SYSTEM \"http://127.0.0.1:9/secret\">]>"
		"<NotificationConfiguration><QueueConfiguration><Id>&u;</Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
		"</NotificationConfiguration>";
	expect_code(doc, strlen(doc), -EINVAL, "MalformedXML");
}

static void test_xinclude_is_not_processed(void **state)
{
	static const char doc[] =
		"<NotificationConfiguration "
		"xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
		"<QueueConfiguration><Id><xi:include href=\"/etc/passwd\" "
		"parse=\"text\"/></Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
		"</NotificationConfiguration>";
	expect_code(doc, strlen(doc), -EINVAL, "MalformedXML");
}

static void test_ten_mib(void **state)
{
	size_t len = 10 << 20;
	char *doc = malloc(len);
	assert_non_null(doc);
	static const char open[] = "<NotificationConfiguration>";
	static const char close_[] = "</NotificationConfiguration>";
	memset(doc, ' ', len);
	memcpy(doc, open, sizeof(open) - 1);
	memcpy(doc + len - sizeof(close_) + 1, close_, sizeof(close_) - 1);
	expect_code(doc, len, -E2BIG, "MaxMessageLengthExceeded");
	/* One byte over the limit fails, at the limit it parses. */
	memcpy(doc + NTF_LIMIT_XML_BYTES - sizeof(close_) + 1, close_,
	       sizeof(close_) - 1);
	struct ntf_rules_error e;
	assert_int_equal(parse_str(doc, NTF_LIMIT_XML_BYTES, &e), 0);
	expect_code(doc, NTF_LIMIT_XML_BYTES + 1, -E2BIG,
		    "MaxMessageLengthExceeded");
	free(doc);
}

static void test_deep_nesting(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, NTF_LIMIT_XML_BYTES);
	assert_int_equal(cmn_buf_adds(&b, "<NotificationConfiguration>"), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(cmn_buf_adds(&b, "<a>"), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(cmn_buf_adds(&b, "</a>"), 0);
	assert_int_equal(cmn_buf_adds(&b, "</NotificationConfiguration>"), 0);
	expect_code(b.data, b.len, -EINVAL, "MalformedXML");
	/* Deep nesting inside an element the walk knows. */
	cmn_buf_reset(&b);
	assert_int_equal(cmn_buf_adds(&b, "<NotificationConfiguration>"
					  "<QueueConfiguration><Filter>"),
			 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(cmn_buf_adds(&b, "<S3Key>"), 0);
	expect_code(b.data, b.len, -EINVAL, "MalformedXML");
	cmn_buf_free(&b);
}

static void test_invalid_utf8(void **state)
{
	static const char *docs[] = {
		"<NotificationConfiguration>\xff</NotificationConfiguration>",
		"<NotificationConfiguration><QueueConfiguration><Id>\xc0\xaf"
		"</Id></QueueConfiguration></NotificationConfiguration>",
		"<NotificationConfiguration>\xed\xa0\x80"
		"</NotificationConfiguration>",
		"\xff\xfe<\0N\0/\0>\0",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
		"<NotificationConfiguration>\xe9</NotificationConfiguration>",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		expect_code(docs[i], strlen(docs[i]) + (i == 3 ? 8 : 0),
			    -EINVAL, "MalformedXML");
	/* A NUL byte inside an otherwise fine document. */
	static const char nul[] = "<NotificationConfiguration>\0"
				  "</NotificationConfiguration>";
	expect_code(nul, sizeof(nul) - 1, -EINVAL, "MalformedXML");
}

static void test_error_line(void **state)
{
	static const char doc[] =
		"<NotificationConfiguration>\n"
		"  <QueueConfiguration>\n"
		"    <Queue>arn:bucketfs:sqs::local:sqlite</Queue>\n"
		"    <Event>s3:ObjectCreated:Put</Event>\n"
		"    <Event>s3:Nope</Event>\n"
		"  </QueueConfiguration>\n"
		"</NotificationConfiguration>\n";
	struct ntf_rules_error e;
	assert_int_equal(parse_str(doc, strlen(doc), &e), -EINVAL);
	assert_string_equal(e.code, "InvalidArgument");
	assert_int_equal(e.line, 5);
	assert_non_null(strstr(e.message, "s3:Nope"));
}

static void test_unsupported_is_enotsup(void **state)
{
	static const char doc[] =
		"<NotificationConfiguration><TopicConfiguration>"
		"<Topic>arn:aws:sns:us-east-1:1:t</Topic>"
		"<Event>s3:ObjectCreated:*</Event></TopicConfiguration>"
		"</NotificationConfiguration>";
	expect_code(doc, strlen(doc), -ENOTSUP, "UnsupportedNotification");
	struct ntf_rules *r = (struct ntf_rules *)1;
	assert_int_equal(
		ntf_rules_parse(doc, strlen(doc), &local_env, &r, NULL),
		-ENOTSUP);
	assert_null(r);
}

/* Build a document of n configurations, each to local with its own
 * prefix. */
static void many(struct cmn_buf *b, int n)
{
	cmn_buf_reset(b);
	assert_int_equal(cmn_buf_adds(b, "<NotificationConfiguration>"), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(
			cmn_buf_printf(
				b,
				"<QueueConfiguration><Id>c%d</Id>"
				"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
				"<Event>s3:ObjectCreated:Put</Event>"
				"<Filter><S3Key><FilterRule><Name>prefix</Name>"
				"<Value>p%d/</Value></FilterRule></S3Key>"
				"</Filter></QueueConfiguration>",
				i, i),
			0);
	assert_int_equal(cmn_buf_adds(b, "</NotificationConfiguration>"), 0);
}

static void test_config_limit(void **state)
{
	struct cmn_buf b;
	cmn_buf_init(&b, NTF_LIMIT_XML_BYTES);
	many(&b, NTF_LIMIT_CONFIGS);
	struct ntf_rules *r = NULL;
	struct ntf_rules_error e;
	assert_int_equal(ntf_rules_parse(b.data, b.len, &local_env, &r, &e), 0);
	assert_int_equal(ntf_rules_count(r), NTF_LIMIT_CONFIGS);
	/* Every configuration names the same target: it is stored once. */
	assert_int_equal(ntf_rules_target_count(r), 1);
	struct ntf_match m[4];
	assert_int_equal(ntf_rules_match(r, NTF_EV_OBJECT_CREATED_PUT, "p42/x",
					 5, m, 0, 4),
			 1);
	assert_string_equal(m[0].configuration_id, "c42");
	ntf_rules_free(r);
	many(&b, NTF_LIMIT_CONFIGS + 1);
	expect_code(b.data, b.len, -EINVAL, "InvalidArgument");
	cmn_buf_free(&b);
}

/* ---- rule sets ---- */

static void test_default_rules(void **state)
{
	struct ntf_rules *r;
	assert_int_equal(ntf_rules_default(&r), 0);
	uint64_t mask = ntf_rules_mask(r);
	assert_true(mask & NTF_EV_BIT(NTF_EV_OBJECT_CREATED_PUT));
	assert_true(mask & NTF_EV_BIT(NTF_EV_OBJECT_CREATED_COPY));
	assert_true(mask & NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_DELETE));
	assert_true(mask & NTF_EV_BIT(NTF_EV_BUCKET_CREATED));
	assert_true(mask & NTF_EV_BIT(NTF_EV_BUCKET_REMOVED));
	assert_false(mask & NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_GET));
	assert_false(mask & NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_HEAD));
	assert_false(mask & NTF_EV_BIT(NTF_EV_OBJECT_TAGGING_PUT));
	struct ntf_match m[2];
	assert_int_equal(
		ntf_rules_match(r, NTF_EV_BUCKET_CREATED, "", 0, m, 0, 2), 1);
	assert_string_equal(m[0].target_id, "local");
	assert_string_equal(m[0].target_type, "sqlite");
	assert_string_equal(m[0].configuration_id, "bucketfs-default");
	assert_int_equal(
		ntf_rules_match(r, NTF_EV_OBJECT_ACCESSED_GET, "k", 1, m, 0, 2),
		0);
	struct ntf_target_id t = ntf_rules_target(r, 0);
	assert_string_equal(t.id, "local");
	assert_null(ntf_rules_target(r, 1).id);
	ntf_rules_free(r);
	ntf_rules_free(NULL);
	assert_int_equal(ntf_rules_mask(NULL), 0);
}

/* The keyless mask (events that match whatever the key) leaves out the
 * rules with a prefix or a suffix filter, and the default has none. */
static void test_keyless_mask(void **state)
{
	static const char doc[] =
		"<NotificationConfiguration>"
		"<QueueConfiguration><Id>pre</Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectCreated:Put</Event>"
		"<Filter><S3Key><FilterRule><Name>prefix</Name>"
		"<Value>logs/</Value></FilterRule></S3Key></Filter>"
		"</QueueConfiguration>"
		"<QueueConfiguration><Id>suf</Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectAccessed:Get</Event>"
		"<Filter><S3Key><FilterRule><Name>suffix</Name>"
		"<Value>.csv</Value></FilterRule></S3Key></Filter>"
		"</QueueConfiguration>"
		"<QueueConfiguration><Id>all</Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectRemoved:*</Event>"
		"</QueueConfiguration></NotificationConfiguration>";
	struct ntf_rules *r = NULL;
	struct ntf_rules_error e;
	(void)state;
	assert_int_equal(
		ntf_rules_parse(doc, sizeof(doc) - 1, &local_env, &r, &e), 0);
	uint64_t m = ntf_rules_keyless_mask(r);
	assert_false(m & NTF_EV_BIT(NTF_EV_OBJECT_CREATED_PUT));
	assert_false(m & NTF_EV_BIT(NTF_EV_OBJECT_ACCESSED_GET));
	assert_true(m & NTF_EV_BIT(NTF_EV_OBJECT_REMOVED_DELETE));
	assert_true(ntf_rules_mask(r) & NTF_EV_BIT(NTF_EV_OBJECT_CREATED_PUT));
	ntf_rules_free(r);
	assert_int_equal(ntf_rules_default(&r), 0);
	assert_int_equal(ntf_rules_keyless_mask(r), ntf_rules_mask(r));
	ntf_rules_free(r);
	assert_int_equal(ntf_rules_keyless_mask(NULL), 0);
}

static const char bucket_doc[] =
	"<NotificationConfiguration>"
	"<QueueConfiguration><Id>hook</Id>"
	"<Queue>arn:bucketfs:sqs::1:webhook</Queue>"
	"<Event>s3:ObjectCreated:Put</Event></QueueConfiguration>"
	"<QueueConfiguration><Id>bucket-local</Id>"
	"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
	"<Event>s3:ObjectCreated:Put</Event></QueueConfiguration>"
	"</NotificationConfiguration>";

static void test_union_of_two_sets(void **state)
{
	static const struct ntf_target_id ts[] = {{"local", "sqlite"},
						  {"1", "webhook"}};
	struct ntf_rules_env env = {"us-east-1", ts, 2};
	struct ntf_rules *global, *bucket;
	struct ntf_rules_error e;
	assert_int_equal(ntf_rules_default(&global), 0);
	assert_int_equal(ntf_rules_parse(bucket_doc, strlen(bucket_doc), &env,
					 &bucket, &e),
			 0);
	assert_int_equal(ntf_rules_target_count(bucket), 2);
	struct ntf_match m[4];
	int n = ntf_rules_match(global, NTF_EV_OBJECT_CREATED_PUT, "k", 1, m, 0,
				4);
	assert_int_equal(n, 1);
	n = ntf_rules_match(bucket, NTF_EV_OBJECT_CREATED_PUT, "k", 1, m,
			    (size_t)n, 4);
	/* local appears once, with the configuration that matched first. */
	assert_int_equal(n, 2);
	assert_string_equal(m[0].target_id, "local");
	assert_string_equal(m[0].configuration_id, "bucketfs-default");
	assert_string_equal(m[1].target_id, "1");
	assert_string_equal(m[1].configuration_id, "hook");
	/* A full array reports -E2BIG. */
	assert_int_equal(ntf_rules_match(bucket, NTF_EV_OBJECT_CREATED_PUT, "k",
					 1, m, 0, 1),
			 -E2BIG);
	assert_int_equal(ntf_rules_match(NULL, NTF_EV_OBJECT_CREATED_PUT, "k",
					 1, m, 3, 4),
			 3);
	assert_int_equal(ntf_rules_match(bucket, NTF_EV_COUNT, "k", 1, m, 0, 4),
			 0);
	ntf_rules_free(global);
	ntf_rules_free(bucket);
}

static void test_generated_ids(void **state)
{
	static const char doc[] =
		"<NotificationConfiguration>"
		"<QueueConfiguration><Queue>arn:bucketfs:sqs::local:sqlite"
		"</Queue><Event>s3:ObjectRemoved:*</Event>"
		"</QueueConfiguration><QueueConfiguration><Id></Id>"
		"<Queue>arn:bucketfs:sqs::local:sqlite</Queue>"
		"<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
		"</NotificationConfiguration>";
	struct ntf_rules *r;
	struct ntf_rules_error e;
	assert_int_equal(ntf_rules_parse(doc, strlen(doc), &local_env, &r, &e),
			 0);
	struct ntf_match m[2];
	assert_int_equal(ntf_rules_match(r, NTF_EV_OBJECT_REMOVED_DELETE, "k",
					 1, m, 0, 2),
			 1);
	assert_string_equal(m[0].configuration_id, "config-1");
	assert_int_equal(
		ntf_rules_match(r, NTF_EV_OBJECT_CREATED_PUT, "k", 1, m, 0, 2),
		1);
	assert_string_equal(m[0].configuration_id, "config-2");
	ntf_rules_free(r);
}

static void test_target_parse(void **state)
{
	const char *id, *type;
	size_t len;
	assert_int_equal(
		ntf_rules_target_parse("pg:postgresql", &id, &len, &type), 0);
	assert_int_equal(len, 2);
	assert_string_equal(type, "postgres");
	assert_int_equal(ntf_rules_target_parse("1:webhook", &id, &len, &type),
			 0);
	assert_string_equal(type, "webhook");
	assert_int_equal(ntf_rules_target_parse(":x", &id, &len, &type),
			 -EINVAL);
	assert_int_equal(ntf_rules_target_parse("x:", &id, &len, &type),
			 -EINVAL);
	assert_int_equal(ntf_rules_target_parse("x", &id, &len, &type),
			 -EINVAL);
	assert_int_equal(ntf_rules_target_parse("a:b:c", &id, &len, &type),
			 -EINVAL);
	assert_null(ntf_rules_type_alias("postgres", 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configs_file),
		cmocka_unit_test(test_match_file),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_external_entity_file),
		cmocka_unit_test(test_external_entity_url),
		cmocka_unit_test(test_xinclude_is_not_processed),
		cmocka_unit_test(test_ten_mib),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_unsupported_is_enotsup),
		cmocka_unit_test(test_config_limit),
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_keyless_mask),
		cmocka_unit_test(test_union_of_two_sets),
		cmocka_unit_test(test_generated_ids),
		cmocka_unit_test(test_target_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
