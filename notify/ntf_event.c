/*
 * ntf_event.c - event-name tables generated from the X-macros in
 * ntf_event.h.  Lookups are linear over ~55 names: they run when a
 * configuration is parsed, never per event.
 */
#include "ntf_event.h"

#include <errno.h>
#include <string.h>

_Static_assert(NTF_EV_COUNT <= 64, "event types must fit a uint64_t mask");

static const struct {
	const char *name;
	const char *version;
	unsigned flags;
} singles[] = {
#define X(e, s, v, f) [NTF_EV_##e] = {s, v, f},
	NTF_EVENT_MAP(X)
#undef X
};

static const struct {
	const char *name;
	uint64_t mask;
} compounds[] = {
#define XC(e, s, m) {s, m},
	NTF_EVENT_COMPOUND_MAP(XC)
#undef XC
};

static const struct {
	const char *name;
	enum ntf_event_name ev;
} aliases[] = {
#define XA(s, e) {s, NTF_EV_##e},
	NTF_EVENT_ALIAS_MAP(XA)
#undef XA
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *ntf_event_str(enum ntf_event_name e)
{
	return (unsigned)e < NTF_EV_COUNT ? singles[e].name : NULL;
}

const char *ntf_event_version(enum ntf_event_name e)
{
	return (unsigned)e < NTF_EV_COUNT ? singles[e].version : NULL;
}

unsigned ntf_event_flags(enum ntf_event_name e)
{
	return (unsigned)e < NTF_EV_COUNT ? singles[e].flags : 0;
}

bool ntf_event_is_removed(enum ntf_event_name e)
{
	return ntf_event_flags(e) & NTF_EVF_REMOVED;
}

static bool same(const char *name, const char *s, size_t len)
{
	return strlen(name) == len && memcmp(name, s, len) == 0;
}

int ntf_event_from_str(const char *s, size_t len, enum ntf_event_name *out)
{
	for (size_t i = 0; i < NTF_EV_COUNT; i++) {
		if (same(singles[i].name, s, len)) {
			*out = (enum ntf_event_name)i;
			return 0;
		}
	}
	for (size_t i = 0; i < COUNT(aliases); i++) {
		if (same(aliases[i].name, s, len)) {
			*out = aliases[i].ev;
			return 0;
		}
	}
	return -ENOENT;
}

int ntf_event_mask_from_str(const char *s, size_t len, uint64_t *mask)
{
	enum ntf_event_name e;
	if (ntf_event_from_str(s, len, &e) == 0) {
		*mask = NTF_EV_BIT(e);
		return 0;
	}
	for (size_t i = 0; i < COUNT(compounds); i++) {
		if (same(compounds[i].name, s, len)) {
			*mask = compounds[i].mask;
			return 0;
		}
	}
	return -ENOENT;
}

uint64_t ntf_event_mask_all(void)
{
	return NTF_EV_COUNT == 64 ? ~UINT64_C(0)
				  : (UINT64_C(1) << NTF_EV_COUNT) - 1;
}
