/*
 * fuzz-sel_script.c - libFuzzer harness for .select files: the "-- key:
 * value" headers (source, the InputSerialization and OutputSerialization
 * JSON, scan-range) and the SQL after them.  A file that parses is also
 * run over a small CSV object (or a JSON one, when its source says so),
 * so the options it set reach the readers and the writers.  What a user
 * writes into a .select file is untrusted: no crash, leak or unbounded
 * memory is acceptable.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sel_err.h"
#include "sel_par_check.h"
#include "select.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char csv_obj[] = "a,b,c\n1,x,2.5\n2,\"y,z\",\n3,,-1e3\n";
static const char json_obj[] = "{\"a\":1,\"b\":[1,{\"c\":\"x\"}]}\n"
			       "{\"a\":null,\"b\":\"s\"}\n";

static void run(const struct sel_script *s)
{
	const char *src = sel_script_source(s);
	bool json = src && strstr(src, ".json");
	int in = par_check_memfile(json ? json_obj : csv_obj);
	int out = memfd_create("fuzz-out", 0);
	struct sel_error err;
	if (in >= 0 && out >= 0)
		(void)sel_script_run(s, json ? "o.json" : "o.csv", in, out,
				     NULL, &err);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sel_script *s = NULL;
	struct sel_error err;
	if (sel_script_parse((const char *)data, size, &s, &err) == 0) {
		(void)sel_script_query(s);
		run(s);
	}
	sel_script_free(s);
	return 0;
}
