/*
 * test-ntf_config.c - target configuration: the INI file (every refusal
 * names its file, line and key and never quotes a value), the
 * environment (targets made by ENABLE, key by key override, typos
 * refused), the secrets permission check, change detection and the
 * reference text.  A fake target type stands in for the real ones so the
 * test needs no network library.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ntf_config.h"

static const char *check_host(const char *v)
{
	return strncmp(v, "http://", 7) == 0 ? NULL : "must be an http:// URL";
}

static const struct ntf_target_opt demo_opts[] = {
	{"endpoint", NTF_OPT_STRING, true, NULL, 0, 0, check_host, "url"},
	{"auth_token", NTF_OPT_SECRET, false, NULL, 0, 0, NULL, "token"},
	{"verbose", NTF_OPT_BOOL, false, "off", 0, 1, NULL, "flag"},
	{"timeout", NTF_OPT_DURATION, false, "5s", 10, 60000, NULL, "t"},
	{"ca", NTF_OPT_PATH, false, NULL, 0, 0, NULL, "path"},
	{NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

static const struct ntf_target_type demo = {
	.name = "demo",
	.caps = NTF_TARGET_CAP_BATCH,
	.opts = demo_opts,
};

static const struct ntf_target_opt single_opts[] = {
	{NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

static const struct ntf_target_type single = {
	.name = "single",
	.opts = single_opts,
};

static const struct ntf_target_type *const types[] = {&demo, &single, NULL};

static int parse(const char *text, char **env, struct ntf_config **c,
		 struct ntf_config_error *e)
{
	return ntf_config_parse(text, strlen(text), "t.conf", env, types, c, e);
}

/* A refusal: the rc, the line and the key, and a message fragment. */
static void refused(const char *text, char **env, int line, const char *key,
		    const char *fragment)
{
	struct ntf_config *c = NULL;
	struct ntf_config_error e;
	int rc = parse(text, env, &c, &e);
	char msg[512];
	ntf_config_error_str(&e, msg, sizeof(msg));
	if (rc != -EINVAL || e.line != line || strcmp(e.key, key) != 0 ||
	    !strstr(msg, fragment))
		fail_msg("for <<%s>>: rc %d, got \"%s\" (line %d key '%s'), "
			 "want line %d key '%s' with \"%s\"",
			 text, rc, msg, e.line, e.key, line, key, fragment);
	assert_null(c);
	assert_null(strstr(msg, "hunter2")); /* never a value */
}

static void test_good_file(void **state)
{
	struct ntf_config *c;
	struct ntf_config_error e;
	const char *text = "# comment\n"
			   "[demo \"primary\"]\n"
			   "endpoint = http://a/b\n"
			   "auth_token = hunter2\n"
			   "timeout = 250ms\n"
			   "queue_limit = 10\n"
			   "batch_size = 50\n"
			   "\n"
			   "[demo:second]\n"
			   "endpoint=http://c\n"
			   "verbose = yes\n"
			   "retry_min = 2\n"
			   "retry_max = 1m\n";
	assert_int_equal(parse(text, NULL, &c, &e), 0);
	assert_int_equal(c->n, 2);
	const struct ntf_config_target *t = ntf_config_find(c, "primary:demo");
	assert_non_null(t);
	assert_string_equal(ntf_config_get(t, "endpoint"), "http://a/b");
	assert_string_equal(ntf_config_get(t, "auth_token"), "hunter2");
	assert_int_equal(t->vals[NTF_CFG_N_COMMON + 3].u, 250);
	assert_int_equal(t->vals[NTF_CFG_QUEUE_LIMIT].u, 10);
	assert_int_equal(t->vals[NTF_CFG_BATCH_SIZE].u, 50);
	assert_int_equal(t->vals[NTF_CFG_MAX_ATTEMPTS].u, 10); /* default */
	assert_string_equal(t->origin, "t.conf:2");
	t = ntf_config_find(c, "second:demo");
	assert_non_null(t);
	assert_int_equal(t->vals[NTF_CFG_N_COMMON + 2].u, 1);
	assert_int_equal(t->vals[NTF_CFG_RETRY_MIN].u, 2000);
	assert_int_equal(t->vals[NTF_CFG_RETRY_MAX].u, 60000);
	assert_int_equal(t->vals[NTF_CFG_QUEUE_LIMIT].u, 100000);
	ntf_config_free(c);
}

static void test_bad_files(void **state)
{
	refused("[demo \"a\"]\nendpoint = http://x\nbogus = 1\n", NULL, 3,
		"bogus", "unknown key");
	refused("[demo \"a\"]\nauth_token = hunter2\n", NULL, 1, "endpoint",
		"required");
	refused("[demo \"a\"]\nendpoint = ftp://hunter2\n", NULL, 2, "endpoint",
		"http://");
	refused("[demo \"a\"]\nendpoint = http://x\nqueue_limit = -1\n", NULL,
		3, "queue_limit", "whole number");
	refused("[demo \"a\"]\nendpoint = http://x\nqueue_limit = 0\n", NULL, 3,
		"queue_limit", "range");
	refused("[demo \"a\"]\nendpoint = http://x\ntimeout = 5 weeks\n", NULL,
		3, "timeout", "duration");
	refused("[demo \"a\"]\nendpoint = http://x\nverbose = perhaps\n", NULL,
		3, "verbose", "on or off");
	refused("[demo \"a\"]\nendpoint = http://x\nca = rel/path\n", NULL, 3,
		"ca", "absolute");
	refused("[demo \"a\"]\nendpoint = http://x\nretry_min = 10s\n"
		"retry_max = 1s\n",
		NULL, 4, "retry_max", "retry_min");
	refused("[single \"a\"]\nbatch_size = 5\n", NULL, 2, "batch_size",
		"one record per message");
	refused("[kafka \"a\"]\nbrokers = x\n", NULL, 1, "",
		"unknown target type");
	refused("[demo \"a b\"]\nendpoint = http://x\n", NULL, 1, "",
		"target ID");
	refused("[demo]\nendpoint = http://x\n", NULL, 1, "", "section");
	refused("endpoint = http://x\n", NULL, 1, "endpoint", "outside");
	refused("[demo \"a\"]\nendpoint = http://x\n[demo \"a\"]\n", NULL, 3,
		"", "configured twice");
	refused("[demo \"a\"]\nendpoint = http://x\nendpoint = http://y\n",
		NULL, 3, "endpoint", "given twice");
	refused("[demo \"a\"]\nendpoint = http://x\njust words\n", NULL, 3, "",
		"syntax error");
	refused("[demo \"a\"\n", NULL, 1, "", "syntax error");
}

static void test_long_line(void **state)
{
	char text[600];
	memset(text, 'x', sizeof(text));
	memcpy(text, "[demo \"a\"]\nendpoint = http://", 29);
	text[sizeof(text) - 1] = '\0';
	refused(text, NULL, 2, "", "line longer");
}

/* How each line is read, where inih's optional rules (multi-line values,
 * inline comments, the BOM) would read it otherwise: refused with the
 * line named, or taken verbatim. */
static const struct {
	const char *text;
	int line;
	const char *key, *fragment;
} line_refusals[] = {
	/* An indented header would be a continuation of endpoint (or of the
	 * token: the header text would become the secret). */
	{"[demo \"a\"]\nendpoint = http://x\n  [demo \"b\"]\n"
	 "endpoint = http://y\n",
	 3, "", "indented line (continuation lines are not supported)"},
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = hunter2\n"
	 "\t[demo \"b\"]\nendpoint = http://y\n",
	 4, "", "indented line"},
	/* A continuation value (not "given twice"). */
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = hunter2\n"
	 "  hunter3\n",
	 4, "", "continuation lines are not supported"},
	{"[demo \"a\"]\nendpoint = http://x\n  auth_token = hunter2\n", 3, "",
	 "indented line"},
	{"[demo \"a\"]\n endpoint = http://x\n", 2, "", "indented line"},
	/* ';' or '#' after a blank: a comment or part of the token? */
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = hunter2 ;def\n", 3,
	 "auth_token", "no inline comments"},
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = hunter2 #def\n", 3,
	 "auth_token", "no inline comments"},
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = ;hunter2\n", 3,
	 "auth_token", "';' or '#' after a blank"},
	{"[demo \"a\"]\nendpoint = http://x\nauth_token =\thunter2\t#x\n", 3,
	 "auth_token", "';' or '#' after a blank"},
	{"[demo \"a\"]\nendpoint: http://x ; main\n", 2, "endpoint",
	 "no inline comments"},
	{"[demo \"a\"]\nqueue_limit = 10 ; ten\nendpoint = http://x\n", 2,
	 "queue_limit", "no inline comments"},
	{"[demo \"a\"]\nendpoint ;x = http://x\n", 2, "", "syntax error"},
	/* Text after a header would be dropped. */
	{"[demo \"a\"] endpoint = http://x\n", 1, "",
	 "text after the section header"},
	{"[demo \"a\"]]\nendpoint = http://x\n", 1, "",
	 "text after the section header"},
	/* The first bad line is the one named, even when later lines are
	 * bad too. */
	{"[demo \"a\"]\nendpoint = http://x\njust words\nbogus = 1\n", 3, "",
	 "syntax error"},
	/* A BOM counts for nothing, and only on line 1. */
	{"\xEF\xBB\xBF[demo \"a\"]\nbogus = 1\n", 2, "bogus", "unknown key"},
	{"\xEF\xBB\xBF  [demo \"a\"]\n", 1, "", "indented line"},
	{"[demo \"a\"]\n\xEF\xBB\xBF"
	 "endpoint = http://x\n",
	 2,
	 "\xEF\xBB\xBF"
	 "endpoint",
	 "unknown key"},
};

static void test_line_refusals(void **state)
{
	for (size_t i = 0; i < sizeof(line_refusals) / sizeof(*line_refusals);
	     i++)
		refused(line_refusals[i].text, NULL, line_refusals[i].line,
			line_refusals[i].key, line_refusals[i].fragment);
}

static const struct {
	const char *text;
	const char *target, *key, *want;
} line_values[] = {
	/* A UTF-8 BOM is skipped (it was "key outside a section"). */
	{"\xEF\xBB\xBF[demo \"a\"]\nendpoint = http://x\n", "a:demo",
	 "endpoint", "http://x"},
	/* ';' and '#' not after a blank are part of the value. */
	{"[demo \"a\"]\nendpoint = http://x\nauth_token = abc;def#ghi\n",
	 "a:demo", "auth_token", "abc;def#ghi"},
	{"[demo \"a\"]\nendpoint = http://x\nauth_token =;#x\n", "a:demo",
	 "auth_token", ";#x"},
	{"[demo \"a\"]\nendpoint = http://x/#frag;p\n", "a:demo", "endpoint",
	 "http://x/#frag;p"},
	/* Blanks inside a value stay; around it they go, CR too. */
	{"[demo \"a\"]\r\nendpoint = http://x\r\nauth_token =  a b \t\r\n",
	 "a:demo", "auth_token", "a b"},
	{"[demo \"a\"]\nendpoint: http://x\n", "a:demo", "endpoint",
	 "http://x"},
	/* Indented comments and blank lines with blanks are fine, and so is a
	 * comment after a header. */
	{"[demo \"a\"]\n  # note\n\t; note\n \t\nendpoint = http://x\n",
	 "a:demo", "endpoint", "http://x"},
	{"[demo \"a\"]  ; main\nendpoint = http://x\n[demo:b] # second\n"
	 "endpoint = http://y\n",
	 "b:demo", "endpoint", "http://y"},
};

static void test_line_values(void **state)
{
	for (size_t i = 0; i < sizeof(line_values) / sizeof(*line_values);
	     i++) {
		struct ntf_config *c = NULL;
		struct ntf_config_error e;
		char msg[512];
		if (parse(line_values[i].text, NULL, &c, &e) != 0)
			fail_msg("for <<%s>>: refused: %s", line_values[i].text,
				 ntf_config_error_str(&e, msg, sizeof(msg)));
		const struct ntf_config_target *t =
			ntf_config_find(c, line_values[i].target);
		assert_non_null(t);
		const char *got = ntf_config_get(t, line_values[i].key);
		if (!got || strcmp(got, line_values[i].want) != 0)
			fail_msg("for <<%s>>: %s is <<%s>>, want <<%s>>",
				 line_values[i].text, line_values[i].key,
				 got ? got : "(unset)", line_values[i].want);
		ntf_config_free(c);
	}
}

static void test_disabled_and_empty(void **state)
{
	struct ntf_config *c;
	struct ntf_config_error e;
	assert_int_equal(parse("", NULL, &c, &e), 0);
	assert_int_equal(c->n, 0);
	ntf_config_free(c);
	assert_int_equal(parse("[demo \"a\"]\nenable = off\n", NULL, &c, &e),
			 0);
	assert_int_equal(c->n, 0); /* a disabled target needs no endpoint */
	ntf_config_free(c);
}

static void test_env(void **state)
{
	struct ntf_config *c;
	struct ntf_config_error e;
	char *env[] = {
		"HOME=/root",
		"BUCKETFS_NOTIFY_DEMO_ENABLE_PRIMARY=on",
		"BUCKETFS_NOTIFY_DEMO_ENDPOINT_PRIMARY=http://env",
		"BUCKETFS_NOTIFY_DEMO_QUEUE_LIMIT_PRIMARY=7",
		"BUCKETFS_NOTIFY_DEMO_ENDPOINT_a=http://override",
		"BUCKETFS_NOTIFY_DEMO_ENABLE=on",
		"BUCKETFS_NOTIFY_DEMO_ENDPOINT=http://default",
		NULL,
	};
	assert_int_equal(parse("[demo \"a\"]\nendpoint = http://file\n"
			       "timeout = 1s\n",
			       env, &c, &e),
			 0);
	assert_int_equal(c->n, 3);
	const struct ntf_config_target *t = ntf_config_find(c, "PRIMARY:demo");
	assert_non_null(t);
	assert_string_equal(ntf_config_get(t, "endpoint"), "http://env");
	assert_int_equal(t->vals[NTF_CFG_QUEUE_LIMIT].u, 7);
	assert_string_equal(t->origin, "environment");
	t = ntf_config_find(c, "a:demo");
	assert_string_equal(ntf_config_get(t, "endpoint"), "http://override");
	assert_string_equal(ntf_config_get(t, "timeout"), "1s");
	t = ntf_config_find(c, "_:demo");
	assert_non_null(t);
	assert_string_equal(ntf_config_get(t, "endpoint"), "http://default");
	ntf_config_free(c);
}

static void test_env_refusals(void **state)
{
	char *typo[] = {"BUCKETFS_NOTIFY_DEMO_ENABLE_X=on",
			"BUCKETFS_NOTIFY_DEMO_ENDPIONT_X=http://x", NULL};
	refused("", typo, 0, "BUCKETFS_NOTIFY_DEMO_ENDPIONT_X", "names no key");
	char *bad[] = {"BUCKETFS_NOTIFY_DEMO_ENABLE_X=sure", NULL};
	refused("", bad, 0, "BUCKETFS_NOTIFY_DEMO_ENABLE_X", "on or off");
	char *missing[] = {"BUCKETFS_NOTIFY_DEMO_ENABLE_X=on", NULL};
	refused("", missing, 0, "endpoint", "required");
	char *off[] = {"BUCKETFS_NOTIFY_DEMO_ENABLE_a=off", NULL};
	struct ntf_config *c;
	struct ntf_config_error e;
	assert_int_equal(
		parse("[demo \"a\"]\nendpoint = http://x\n", off, &c, &e), 0);
	assert_int_equal(c->n, 0); /* the environment turned it off */
	ntf_config_free(c);
	char *val[] = {"BUCKETFS_NOTIFY_DEMO_ENABLE_X=on",
		       "BUCKETFS_NOTIFY_DEMO_ENDPOINT_X=ftp://hunter2", NULL};
	refused("", val, 0, "endpoint", "http://");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_permissions(void **state)
{
	char dir[] = "/tmp/test-ntf_config.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/b.conf", dir);
	struct ntf_config *c;
	struct ntf_config_error e;
	char *warning;
	struct ntf_config_source src = {path, NULL, false};

	write_file(path,
		   "[demo \"a\"]\nendpoint = http://x\n"
		   "auth_token = hunter2\n",
		   0644);
	assert_int_equal(ntf_config_load(&src, types, &c, &warning, &e),
			 -EACCES);
	assert_string_equal(e.file, path);
	assert_non_null(strstr(e.message, "chmod 600"));
	src.insecure = true;
	assert_int_equal(ntf_config_load(&src, types, &c, &warning, &e), 0);
	assert_non_null(warning);
	assert_null(strstr(warning, "hunter2"));
	free(warning);
	assert_string_equal(c->path, path);
	ntf_config_free(c);
	src.insecure = false;
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ntf_config_load(&src, types, &c, &warning, &e), 0);
	assert_null(warning);
	ntf_config_free(c);
	/* No secret: readable by others is fine. */
	write_file(path, "[demo \"a\"]\nendpoint = http://x\n", 0644);
	assert_int_equal(ntf_config_load(&src, types, &c, &warning, &e), 0);
	ntf_config_free(c);
	/* A named file that does not exist. */
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(ntf_config_load(&src, types, &c, &warning, &e),
			 -ENOENT);
	assert_string_equal(e.file, path);
	snprintf(path, sizeof(path), "%s/b.conf", dir);
	unlink(path);
	rmdir(dir);
}

static void test_equal_and_usage(void **state)
{
	struct ntf_config *a, *b;
	struct ntf_config_error e;
	const char *t1 = "[demo \"a\"]\nendpoint = http://x\n";
	const char *t2 = "[demo \"a\"]\nendpoint = http://y\n";
	assert_int_equal(parse(t1, NULL, &a, &e), 0);
	assert_int_equal(parse(t1, NULL, &b, &e), 0);
	assert_true(ntf_config_target_equal(&a->targets[0], &b->targets[0]));
	ntf_config_free(b);
	assert_int_equal(parse(t2, NULL, &b, &e), 0);
	assert_false(ntf_config_target_equal(&a->targets[0], &b->targets[0]));
	ntf_config_free(a);
	ntf_config_free(b);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ntf_config_usage(types, f);
	fclose(f);
	assert_non_null(strstr(text, "queue_limit"));
	assert_non_null(strstr(text, "keys of [demo \"ID\"]"));
	assert_non_null(strstr(text, "auth_token"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_line_refusals),
		cmocka_unit_test(test_line_values),
		cmocka_unit_test(test_disabled_and_empty),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_refusals),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_equal_and_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
