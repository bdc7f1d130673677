/*
 * fuzz-ntf_config.c - libFuzzer harness for the target configuration
 * parser (a config file is edited by hand and may come from anywhere).
 * The input up to the first NUL byte is the INI file; what follows is
 * split at newlines into environment variables, so the fuzzer reaches the
 * BUCKETFS_NOTIFY_* overlay too.  Types with every option kind stand in
 * for the real targets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *check(const char *v)
{
	return v[0] == 'h' ? NULL : "must start with h";
}

static const struct ntf_target_opt opts[] = {
	{"endpoint", NTF_OPT_STRING, true, NULL, 0, 0, check, "url"},
	{"auth_token", NTF_OPT_SECRET, false, NULL, 0, 0, NULL, "secret"},
	{"flag", NTF_OPT_BOOL, false, "off", 0, 1, NULL, "bool"},
	{"timeout", NTF_OPT_DURATION, false, "5s", 10, 60000, NULL, "dur"},
	{"count", NTF_OPT_UINT, false, "3", 1, 99, NULL, "uint"},
	{"ca", NTF_OPT_PATH, false, NULL, 0, 0, NULL, "path"},
	{NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

static const struct ntf_target_opt none[] = {
	{NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

static const struct ntf_target_type webhook = {
	.name = "webhook", .caps = NTF_TARGET_CAP_BATCH, .opts = opts};
static const struct ntf_target_type plain = {.name = "plain", .opts = none};
static const struct ntf_target_type *const types[] = {&webhook, &plain, NULL};

#define MAX_ENV 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const char *nul = memchr(data, '\0', size);
	size_t ini_len = nul ? (size_t)(nul - (const char *)data) : size;
	char *env_text = NULL;
	char *env[MAX_ENV + 1];
	size_t n_env = 0;
	if (nul) {
		size_t len = size - ini_len - 1;
		env_text = malloc(len + 1);
		if (!env_text)
			return 0;
		memcpy(env_text, nul + 1, len);
		env_text[len] = '\0';
		for (char *p = env_text; p && *p && n_env < MAX_ENV;) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			env[n_env++] = p;
			p = nl ? nl + 1 : NULL;
		}
	}
	env[n_env] = NULL;
	struct ntf_config *c = NULL;
	struct ntf_config_error e;
	char msg[600];
	int rc = ntf_config_parse((const char *)data, ini_len, "fuzz.conf",
				  nul ? env : NULL, types, &c, &e);
	if (rc < 0) {
		ntf_config_error_str(&e, msg, sizeof(msg));
	} else {
		for (size_t i = 0; i < c->n; i++) {
			(void)ntf_config_find(c, c->targets[i].name);
			(void)ntf_config_get(&c->targets[i], "endpoint");
			(void)ntf_config_target_equal(&c->targets[i],
						      &c->targets[0]);
		}
		ntf_config_free(c);
	}
	free(env_text);
	return 0;
}
