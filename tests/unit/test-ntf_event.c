/*
 * test-ntf_event.c - every event name, version, flag, expansion and alias
 * of tests/notify/events.txt against the X-macro tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ntf_event.h"

#define DATA "tests/notify/events.txt"

/* Split off the next space-separated word of *p (NUL-terminating it), or
 * NULL at the end of the line. */
static char *word(char **p)
{
	char *s = *p + strspn(*p, " ");
	if (*s == '\0' || *s == '\n')
		return NULL;
	size_t n = strcspn(s, " \n");
	*p = s + n + (s[n] != '\0');
	s[n] = '\0';
	return s;
}

static int lookup_single(const char *s, enum ntf_event_name *e)
{
	return ntf_event_from_str(s, strlen(s), e);
}

static void check_single(char *rest, uint64_t *seen)
{
	char *name = word(&rest);
	char *ver = word(&rest);
	char *flags = word(&rest);
	enum ntf_event_name e;
	assert_int_equal(lookup_single(name, &e), 0);
	assert_string_equal(ntf_event_str(e), name);
	assert_string_equal(ntf_event_version(e), ver);
	unsigned want = strcmp(flags, "removed") == 0  ? NTF_EVF_REMOVED
			: strcmp(flags, "bucket") == 0 ? NTF_EVF_BUCKET
						       : 0;
	assert_int_equal(ntf_event_flags(e), want);
	assert_int_equal(ntf_event_is_removed(e), want == NTF_EVF_REMOVED);
	uint64_t m;
	assert_int_equal(ntf_event_mask_from_str(name, strlen(name), &m), 0);
	assert_true(m == NTF_EV_BIT(e));
	assert_false(*seen & m);
	*seen |= m;
}

static void check_expand(char *rest)
{
	char *name = word(&rest);
	uint64_t want = 0, got = 0;
	for (char *m = word(&rest); m; m = word(&rest)) {
		enum ntf_event_name e;
		assert_int_equal(lookup_single(m, &e), 0);
		want |= NTF_EV_BIT(e);
	}
	assert_int_equal(ntf_event_mask_from_str(name, strlen(name), &got), 0);
	assert_true(got == want);
}

static void check_alias(char *rest)
{
	char *name = word(&rest);
	char *target = word(&rest);
	enum ntf_event_name a, t;
	assert_int_equal(lookup_single(name, &a), 0);
	assert_int_equal(lookup_single(target, &t), 0);
	assert_int_equal(a, t);
	/* Records always carry the AWS spelling. */
	assert_string_equal(ntf_event_str(a), target);
}

static void check_invalid(char *rest)
{
	size_t len = strcspn(rest, "\n");
	uint64_t m = 0;
	enum ntf_event_name e;
	assert_int_equal(ntf_event_mask_from_str(rest, len, &m), -ENOENT);
	assert_int_equal(ntf_event_from_str(rest, len, &e), -ENOENT);
}

static void test_data_file(void **state)
{
	FILE *f = fopen(DATA, "r");
	assert_non_null(f);
	char line[1024];
	uint64_t seen = 0;
	int singles = 0, others = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "single ", 7) == 0) {
			check_single(line + 7, &seen);
			singles++;
		} else if (strncmp(line, "expand ", 7) == 0) {
			check_expand(line + 7);
			others++;
		} else if (strncmp(line, "alias ", 6) == 0) {
			check_alias(line + 6);
			others++;
		} else if (strncmp(line, "invalid ", 8) == 0) {
			check_invalid(line + 8);
			others++;
		}
	}
	fclose(f);
	/* The file lists every single type exactly once. */
	assert_int_equal(singles, NTF_EV_COUNT);
	assert_true(seen == ntf_event_mask_all());
	assert_true(others >= 20);
}

static void test_out_of_range(void **state)
{
	assert_null(ntf_event_str(NTF_EV_COUNT));
	assert_null(ntf_event_version((enum ntf_event_name) - 1));
	assert_int_equal(ntf_event_flags(NTF_EV_COUNT), 0);
}

static void test_length_is_exact(void **state)
{
	/* A prefix of a valid name is not that name. */
	const char *s = "s3:ObjectCreated:Put";
	enum ntf_event_name e;
	assert_int_equal(ntf_event_from_str(s, strlen(s) - 1, &e), -ENOENT);
	assert_int_equal(ntf_event_from_str(s, strlen(s), &e), 0);
	assert_int_equal(e, NTF_EV_OBJECT_CREATED_PUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_file),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_length_is_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
