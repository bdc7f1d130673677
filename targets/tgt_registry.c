/*
 * tgt_registry.c - the list of compiled-in target types; see
 * tgt_registry.h.  Adding a type is one file in targets/, one feature
 * option in meson_options.txt and one row here.
 */
#include "tgt_registry.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifdef BUCKETFS_TARGET_WEBHOOK
extern const struct ntf_target_type tgt_webhook;
#endif

const struct ntf_target_type *const tgt_registry[] = {
#ifdef BUCKETFS_TARGET_WEBHOOK
	&tgt_webhook,
#endif
	NULL,
};

const struct ntf_target_type *tgt_registry_find(const char *name)
{
	for (size_t i = 0; tgt_registry[i]; i++)
		if (strcasecmp(tgt_registry[i]->name, name) == 0)
			return tgt_registry[i];
	return NULL;
}

int tgt_registry_init(char *err, size_t errlen)
{
	for (size_t i = 0; tgt_registry[i]; i++) {
		int rc = tgt_registry[i]->global_init
				 ? tgt_registry[i]->global_init()
				 : 0;
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", tgt_registry[i]->name,
				 strerror(-rc));
			while (i-- > 0)
				if (tgt_registry[i]->global_cleanup)
					tgt_registry[i]->global_cleanup();
			return rc;
		}
	}
	return 0;
}

void tgt_registry_cleanup(void)
{
	for (size_t i = 0; tgt_registry[i]; i++)
		if (tgt_registry[i]->global_cleanup)
			tgt_registry[i]->global_cleanup();
}
