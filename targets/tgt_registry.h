/*
 * tgt_registry.h - the delivery target types compiled into this build
 * (each behind a meson feature option) and their process-wide setup.
 * The daemon hands tgt_registry to ntf_config_load and ntf_deliver; nothing
 * else names a type.
 */
#ifndef TGT_REGISTRY_H
#define TGT_REGISTRY_H

#include <stddef.h>

#include "ntf_target.h"

/* Every compiled-in type, NULL-terminated. */
extern const struct ntf_target_type *const tgt_registry[];

/* The type called name, or NULL. */
const struct ntf_target_type *tgt_registry_find(const char *name);

/* Call every type's global_init (main thread, before any target opens).
 * Returns 0, or the first -errno with the type's name in err. */
int tgt_registry_init(char *err, size_t errlen);

/* Call every global_cleanup (main thread, after every target closed). */
void tgt_registry_cleanup(void);

#endif
