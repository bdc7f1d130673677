/*
 * fuzz-ntf_pack.c - libFuzzer harness for the packed event decoder: the
 * records of events.journal are packed events (ntf_pack.h), decoded by
 * the ingester after crashes that can leave anything in the file.  Every
 * input is decoded; one that decodes must pack back to exactly its own
 * bytes (one encoding per event) and render as valid JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmn_buf.h"
#include "ntf_limits.h"
#include "ntf_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *blob = (const char *)data;
	struct ntf_unpacked u;
	if (ntf_pack_decode(blob, size, &u) != 0)
		return 0;
	struct cmn_buf again, json;
	cmn_buf_init(&again, NTF_LIMIT_RECORD_BYTES * 8);
	cmn_buf_init(&json, NTF_LIMIT_RECORD_BYTES * 8);
	if (ntf_pack_event(&u.ev, u.config_id, &again) != 0 ||
	    again.len != size || memcmp(again.data, blob, size) != 0)
		abort(); /* decode and pack disagree */
	if (ntf_pack_render(blob, size, 42, &json) == 0) {
		json_t *j = json_loadb(json.data, json.len, 0, NULL);
		if (!j)
			abort(); /* a record that is not JSON */
		json_decref(j);
	}
	ntf_pack_unpacked_free(&u);
	cmn_buf_free(&again);
	cmn_buf_free(&json);
	return 0;
}
