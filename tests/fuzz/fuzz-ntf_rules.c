/*
 * fuzz-ntf_rules.c - libFuzzer harness for the NotificationConfiguration
 * parser: every input is parsed against a fixed set of targets; a rule
 * set that parses is matched against a few keys for every event, so the
 * matcher runs on whatever the fuzzer manages to get accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ntf_limits.h"
#include "ntf_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ntf_target_id targets[] = {
	{"local", "sqlite"},  {"1", "webhook"}, {"k", "kafka"},
	{"pg", "postgresql"}, {"n", "nats"},
};

static void exercise(const struct ntf_rules *r, const uint8_t *data,
		     size_t size)
{
	static const char *keys[] = {"", "a", "images/a.jpg", "x/y/z.csv"};
	struct ntf_match m[NTF_LIMIT_MATCH];
	for (int ev = 0; ev < NTF_EV_COUNT; ev++) {
		if (!(ntf_rules_mask(r) & NTF_EV_BIT(ev)))
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			ntf_rules_match(r, (enum ntf_event_name)ev, keys[k],
					strlen(keys[k]), m, 0, NTF_LIMIT_MATCH);
		/* The input itself as a key, binary bytes and all. */
		ntf_rules_match(r, (enum ntf_event_name)ev, (const char *)data,
				size < 2048 ? size : 2048, m, 0,
				NTF_LIMIT_MATCH);
	}
	for (size_t i = 0; i < ntf_rules_target_count(r); i++)
		(void)ntf_rules_target(r, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ntf_rules_env env = {"us-east-1", targets,
				    sizeof(targets) / sizeof(targets[0])};
	struct ntf_rules *r = NULL;
	struct ntf_rules_error err;
	if (ntf_rules_parse((const char *)data, size, &env, &r, &err) == 0)
		exercise(r, data, size);
	ntf_rules_free(r);
	return 0;
}
