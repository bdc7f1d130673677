/*
 * test-sel_pqmeta.c - the Parquet footer and page-header decoder: footers
 * built here with a small Thrift compact-protocol writer, valid ones (the
 * shapes of top-level fields) and hostile ones (lists longer than their
 * bytes, deep nesting, schemas that lie about their children, chunk counts
 * that do not match the leaves), each refused with a message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sel_pqmeta.h"

/* ---- a Thrift compact writer ---- */

struct tw {
	uint8_t b[4096];
	size_t n;
	int16_t last[32]; /* field ids, per open struct */
	int depth;
};

static void put(struct tw *w, uint8_t c)
{
	assert_true(w->n < sizeof(w->b));
	w->b[w->n++] = c;
}

static void varint(struct tw *w, uint64_t v)
{
	while (v >= 0x80) {
		put(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put(w, (uint8_t)v);
}

static void zz(struct tw *w, int64_t v)
{
	varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Field header of type t (5 i32, 6 i64, 8 binary, 9 list, 12 struct). */
static void field(struct tw *w, int id, int t)
{
	int16_t *last = &w->last[w->depth];
	int d = id - *last;
	if (d > 0 && d <= 15) {
		put(w, (uint8_t)(d << 4 | t));
	} else {
		put(w, (uint8_t)t);
		zz(w, id);
	}
	*last = (int16_t)id;
}

static void i32f(struct tw *w, int id, int64_t v)
{
	field(w, id, 5);
	zz(w, v);
}

static void i64f(struct tw *w, int id, int64_t v)
{
	field(w, id, 6);
	zz(w, v);
}

static void strf(struct tw *w, int id, const char *s)
{
	field(w, id, 8);
	varint(w, strlen(s));
	for (const char *p = s; *p; p++)
		put(w, (uint8_t)*p);
}

static void list(struct tw *w, int id, int etype, uint64_t n)
{
	field(w, id, 9);
	if (n < 15) {
		put(w, (uint8_t)(n << 4 | etype));
	} else {
		put(w, (uint8_t)(0xf0 | etype));
		varint(w, n);
	}
}

static void begin(struct tw *w) /* a struct value (list element) */
{
	w->last[++w->depth] = 0;
}

static void end(struct tw *w)
{
	put(w, 0);
	w->depth--;
}

static void structf(struct tw *w, int id)
{
	field(w, id, 12);
	begin(w);
}

/* SchemaElement: type < 0 for a group. */
static void node(struct tw *w, const char *name, int type, int rep,
		 int children, int converted)
{
	begin(w);
	if (type >= 0)
		i32f(w, 1, type);
	i32f(w, 3, rep);
	strf(w, 4, name);
	if (children >= 0)
		i32f(w, 5, children);
	if (converted >= 0)
		i32f(w, 6, converted);
	end(w);
}

/* A chunk with its ColumnMetaData. */
static void chunk(struct tw *w, int64_t off, int64_t size)
{
	begin(w);
	i64f(w, 2, off);
	structf(w, 3);
	i32f(w, 1, 1); /* INT32 */
	i32f(w, 4, 0); /* UNCOMPRESSED */
	i64f(w, 5, 3);
	i64f(w, 7, size);
	i64f(w, 9, off);
	end(w);
	end(w);
}

static int parse(struct tw *w, struct pq_meta *m, char *msg)
{
	msg[0] = '\0';
	int r = pq_meta_parse(w->b, w->n, m, msg, 160);
	return r;
}

/* A footer: schema root { required int32 a; optional int64 b }, one row
 * group of two chunks (chunks may be 1 or 3 to lie). */
static void simple(struct tw *w, int nchunks)
{
	memset(w, 0, sizeof(*w));
	i32f(w, 1, 1);
	list(w, 2, 12, 3);
	node(w, "root", -1, 0, 2, -1);
	node(w, "a", 1, 0, -1, -1);
	node(w, "b", 2, 1, -1, -1);
	i64f(w, 3, 7);
	list(w, 4, 12, 1);
	begin(w);
	list(w, 1, 12, (uint64_t)nchunks);
	for (int i = 0; i < nchunks; i++)
		chunk(w, 4 + 100 * i, 100);
	i64f(w, 2, 200);
	i64f(w, 3, 7);
	end(w);
	put(w, 0);
}

static void test_simple(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	simple(&w, 2);
	assert_int_equal(parse(&w, &m, msg), 0);
	assert_int_equal(m.num_rows, 7);
	assert_int_equal(m.nfields, 2);
	assert_string_equal(m.fields[0].name, "a");
	assert_int_equal(m.fields[0].shape, PQ_SHAPE_SCALAR);
	assert_int_equal(m.leaves[0].max_def, 0);
	assert_int_equal(m.leaves[1].max_def, 1);
	assert_int_equal(m.nrgs, 1);
	assert_int_equal(m.rgs[0].num_rows, 7);
	assert_int_equal(m.rgs[0].start, 4);
	assert_int_equal(m.rgs[0].chunks[1].data_page_offset, 104);
	pq_meta_free(&m);
}

static void test_chunk_count_must_match_leaves(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	for (int n = 1; n <= 3; n += 2) {
		simple(&w, n);
		assert_int_equal(parse(&w, &m, msg), -EINVAL);
		assert_non_null(strstr(msg, "row groups"));
		pq_meta_free(&m);
	}
}

static void test_every_truncation_is_refused(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	simple(&w, 2);
	size_t full = w.n;
	for (size_t n = 0; n < full; n++) {
		w.n = n;
		assert_int_equal(parse(&w, &m, msg), -EINVAL);
		assert_true(msg[0] != '\0');
		pq_meta_free(&m);
	}
}

static void test_list_longer_than_its_bytes(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	memset(&w, 0, sizeof(w));
	list(&w, 2, 12, UINT64_C(1) << 40); /* no allocation of that */
	put(&w, 0);
	assert_int_equal(parse(&w, &m, msg), -EINVAL);
	pq_meta_free(&m);
}

static void test_deep_nesting(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	memset(&w, 0, sizeof(w));
	/* An unknown field holding structs 500 deep: skipped, not recursed
	 * into without bound. */
	field(&w, 9, 12);
	for (int i = 0; i < 500; i++)
		put(&w, 0x1c); /* field delta 1, type struct */
	assert_int_equal(parse(&w, &m, msg), -EINVAL);
	pq_meta_free(&m);
}

static void test_schema_that_lies(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	/* The root claims more children than there are nodes. */
	memset(&w, 0, sizeof(w));
	list(&w, 2, 12, 2);
	node(&w, "root", -1, 0, 5, -1);
	node(&w, "a", 1, 0, -1, -1);
	put(&w, 0);
	assert_int_equal(parse(&w, &m, msg), -EINVAL);
	assert_non_null(strstr(msg, "schema"));
	pq_meta_free(&m);
	/* Groups 100 deep. */
	memset(&w, 0, sizeof(w));
	list(&w, 2, 12, 101);
	for (int i = 0; i < 100; i++)
		node(&w, "g", -1, 1, 1, -1);
	node(&w, "a", 1, 1, -1, -1);
	put(&w, 0);
	assert_int_equal(parse(&w, &m, msg), -EINVAL);
	pq_meta_free(&m);
}

static void test_shapes(void **state)
{
	struct tw w;
	struct pq_meta m;
	char msg[160];
	memset(&w, 0, sizeof(w));
	list(&w, 2, 12, 10);
	node(&w, "root", -1, 0, 4, -1);
	/* optional group l (LIST) { repeated group list { optional int32
	 * element } } */
	node(&w, "l", -1, 1, 1, 3);
	node(&w, "list", -1, 2, 1, -1);
	node(&w, "element", 1, 1, -1, -1);
	/* repeated int32 r (legacy) */
	node(&w, "r", 1, 2, -1, -1);
	/* optional group s { required int32 x; optional binary y (UTF8) } */
	node(&w, "s", -1, 1, 2, -1);
	node(&w, "x", 1, 0, -1, -1);
	node(&w, "y", 6, 1, -1, 0);
	/* optional group m (MAP) {...} */
	node(&w, "m", -1, 1, 1, 1);
	node(&w, "k", 1, 0, -1, -1);
	put(&w, 0);
	assert_int_equal(parse(&w, &m, msg), 0);
	assert_int_equal(m.nfields, 4);
	assert_int_equal(m.fields[0].shape, PQ_SHAPE_LIST);
	assert_int_equal(m.fields[0].def_list, 1);
	assert_int_equal(m.fields[0].def_elem, 3);
	assert_int_equal(m.fields[1].shape, PQ_SHAPE_LIST);
	assert_int_equal(m.fields[1].def_list, 0);
	assert_int_equal(m.fields[1].def_elem, 1);
	assert_int_equal(m.fields[2].shape, PQ_SHAPE_STRUCT);
	assert_int_equal(m.fields[2].nleaves, 2);
	assert_int_equal(m.fields[2].def_struct, 1);
	assert_int_equal(m.nodes[m.leaves[3].node].meaning, PQM_STRING);
	assert_int_equal(m.fields[3].shape, PQ_SHAPE_OTHER);
	pq_meta_free(&m);
}

static void test_page_header(void **state)
{
	struct tw w;
	struct pq_page pg;
	memset(&w, 0, sizeof(w));
	i32f(&w, 1, PQ_DATA_PAGE_V2);
	i32f(&w, 2, 100);
	i32f(&w, 3, 60);
	structf(&w, 8);
	i32f(&w, 1, 10); /* num_values */
	i32f(&w, 2, 1);	 /* num_nulls */
	i32f(&w, 3, 10); /* num_rows */
	i32f(&w, 4, 8);	 /* RLE_DICTIONARY */
	i32f(&w, 5, 3);
	i32f(&w, 6, 0);
	field(&w, 7, 2); /* is_compressed = false */
	end(&w);
	put(&w, 0);
	size_t full = w.n;
	assert_int_equal(pq_page_parse(w.b, full, &pg), (int)full);
	assert_int_equal(pg.type, PQ_DATA_PAGE_V2);
	assert_int_equal(pg.compressed_size, 60);
	assert_int_equal(pg.num_values, 10);
	assert_int_equal(pg.encoding, 8);
	assert_int_equal(pg.def_len, 3);
	assert_false(pg.is_compressed);
	/* Cut anywhere: "read more". */
	for (size_t n = 0; n < full; n++)
		assert_int_equal(pq_page_parse(w.b, n, &pg), 0);
	/* A negative size is malformed. */
	memset(&w, 0, sizeof(w));
	i32f(&w, 1, PQ_DATA_PAGE);
	i32f(&w, 2, -5);
	i32f(&w, 3, 0);
	put(&w, 0);
	assert_int_equal(pq_page_parse(w.b, w.n, &pg), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_chunk_count_must_match_leaves),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_list_longer_than_its_bytes),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_schema_that_lies),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_page_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
