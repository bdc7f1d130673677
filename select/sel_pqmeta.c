/*
 * sel_pqmeta.c - decode a Parquet footer and page headers; see
 * sel_pqmeta.h.
 *
 * The Thrift compact protocol in brief: a struct is a list of fields, each
 * a header byte (field-id delta in the high nibble, type in the low one; 0
 * ends the struct) and a value; integers are zigzag varints, binaries a
 * varint length and bytes, lists a header byte (size in the high nibble, or
 * 15 and a varint) and elements.  The reader below keeps one cursor; any
 * error (a truncated or impossible value) sticks in the cursor, values read
 * afterwards are zero, and the caller looks at the cursor once at the end.
 */
#include "sel_pqmeta.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A schema deeper than this is refused (the walk recurses). */
#define PQ_MAX_DEPTH 64
/* Thrift values nested deeper than this are refused (skipping recurses). */
#define PQ_MAX_THRIFT_DEPTH 64

enum tc_type {
	TC_STOP = 0,
	TC_TRUE,
	TC_FALSE,
	TC_BYTE,
	TC_I16,
	TC_I32,
	TC_I64,
	TC_DOUBLE,
	TC_BINARY,
	TC_LIST,
	TC_SET,
	TC_MAP,
	TC_STRUCT,
};

enum tc_err { TC_OK = 0, TC_SHORT, TC_BAD };

struct tc {
	const uint8_t *p, *end;
	int err;   /* enum tc_err; sticks */
	int depth; /* struct / container nesting */
};

static void tc_fail(struct tc *t, int err)
{
	if (!t->err)
		t->err = err;
	t->p = t->end;
}

static uint64_t tc_varint(struct tc *t)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (t->p >= t->end) {
			tc_fail(t, TC_SHORT);
			return 0;
		}
		uint8_t b = *t->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	tc_fail(t, TC_BAD);
	return 0;
}

static int64_t tc_i64(struct tc *t)
{
	uint64_t v = tc_varint(t);
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static const uint8_t *tc_binary(struct tc *t, uint32_t *len)
{
	uint64_t n = tc_varint(t);
	if (n > (uint64_t)(t->end - t->p)) {
		tc_fail(t, t->err ? t->err : TC_SHORT);
		*len = 0;
		return NULL;
	}
	const uint8_t *p = t->p;
	t->p += n;
	*len = (uint32_t)n;
	return p;
}

/* Next field of a struct: false at its end (or on error). */
static bool tc_field(struct tc *t, int16_t *last, int *type, int *id)
{
	if (t->p >= t->end) {
		tc_fail(t, TC_SHORT);
		return false;
	}
	uint8_t b = *t->p++;
	if (b == TC_STOP)
		return false;
	*type = b & 0x0f;
	int delta = b >> 4;
	*id = delta ? *last + delta : (int)tc_i64(t);
	if (*id < INT16_MIN || *id > INT16_MAX) {
		tc_fail(t, TC_BAD);
		return false;
	}
	*last = (int16_t)*id;
	return !t->err;
}

/* A list or set header: its size, checked against the bytes left (every
 * element takes one byte at least). */
static uint32_t tc_list(struct tc *t, int *etype)
{
	if (t->p >= t->end) {
		tc_fail(t, TC_SHORT);
		return 0;
	}
	uint8_t b = *t->p++;
	uint64_t n = b >> 4;
	*etype = b & 0x0f;
	if (n == 15)
		n = tc_varint(t);
	if (n > (uint64_t)(t->end - t->p)) {
		tc_fail(t, t->err ? t->err : TC_SHORT);
		return 0;
	}
	return (uint32_t)n;
}

static void tc_skip(struct tc *t, int type);

static void tc_skip_struct(struct tc *t)
{
	if (++t->depth > PQ_MAX_THRIFT_DEPTH) {
		tc_fail(t, TC_BAD);
		return;
	}
	int16_t last = 0;
	int type, id;
	while (tc_field(t, &last, &type, &id))
		tc_skip(t, type);
	t->depth--;
}

static void tc_skip(struct tc *t, int type)
{
	uint32_t n;
	int et, kt;
	switch (type) {
	case TC_TRUE:
	case TC_FALSE:
		return; /* a field's value is in its type */
	case TC_BYTE:
		if (t->p >= t->end)
			tc_fail(t, TC_SHORT);
		else
			t->p++;
		return;
	case TC_I16:
	case TC_I32:
	case TC_I64:
		tc_varint(t);
		return;
	case TC_DOUBLE:
		if (t->end - t->p < 8)
			tc_fail(t, TC_SHORT);
		else
			t->p += 8;
		return;
	case TC_BINARY:
		tc_binary(t, &n);
		return;
	case TC_LIST:
	case TC_SET:
		n = tc_list(t, &et);
		if (++t->depth > PQ_MAX_THRIFT_DEPTH)
			tc_fail(t, TC_BAD);
		for (uint32_t i = 0; i < n && !t->err; i++) {
			if (et == TC_TRUE || et == TC_FALSE)
				tc_skip(t,
					TC_BYTE); /* one byte each in lists */
			else
				tc_skip(t, et);
		}
		t->depth--;
		return;
	case TC_MAP:
		n = (uint32_t)tc_varint(t);
		if (n > (uint64_t)(t->end - t->p)) {
			tc_fail(t, TC_SHORT);
			return;
		}
		if (n == 0)
			return;
		if (t->p >= t->end) {
			tc_fail(t, TC_SHORT);
			return;
		}
		kt = *t->p >> 4;
		et = *t->p++ & 0x0f;
		if (++t->depth > PQ_MAX_THRIFT_DEPTH)
			tc_fail(t, TC_BAD);
		for (uint32_t i = 0; i < n && !t->err; i++) {
			tc_skip(t,
				kt == TC_TRUE || kt == TC_FALSE ? TC_BYTE : kt);
			tc_skip(t,
				et == TC_TRUE || et == TC_FALSE ? TC_BYTE : et);
		}
		t->depth--;
		return;
	case TC_STRUCT:
		tc_skip_struct(t);
		return;
	default:
		tc_fail(t, TC_BAD);
	}
}

/* Read an integer field of any integer type; anything else is bad. */
static int64_t tc_int(struct tc *t, int type)
{
	if (type == TC_BYTE) {
		if (t->p >= t->end) {
			tc_fail(t, TC_SHORT);
			return 0;
		}
		return (int8_t)*t->p++;
	}
	if (type != TC_I16 && type != TC_I32 && type != TC_I64) {
		tc_fail(t, TC_BAD);
		return 0;
	}
	return tc_i64(t);
}

static int32_t tc_int32(struct tc *t, int type)
{
	int64_t v = tc_int(t, type);
	if (v < INT32_MIN || v > INT32_MAX) {
		tc_fail(t, TC_BAD);
		return 0;
	}
	return (int32_t)v;
}

/* ---- the schema ---- */

/* LogicalType.TIME / TIMESTAMP: isAdjustedToUTC and the unit. */
static void parse_time_type(struct tc *t, struct pq_node *nd)
{
	int16_t last = 0;
	int type, id;
	t->depth++;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 1 && (type == TC_TRUE || type == TC_FALSE)) {
			nd->utc = type == TC_TRUE;
		} else if (id == 2 && type == TC_STRUCT) {
			int16_t l2 = 0;
			int ty2, id2;
			t->depth++;
			while (tc_field(t, &l2, &ty2, &id2)) {
				if (id2 >= 1 && id2 <= 3)
					nd->unit = (uint8_t)(id2 - 1);
				tc_skip(t, ty2);
			}
			t->depth--;
		} else {
			tc_skip(t, type);
		}
	}
	t->depth--;
}

static void parse_int_type(struct tc *t, struct pq_node *nd)
{
	int16_t last = 0;
	int type, id;
	t->depth++;
	nd->meaning = PQM_SIGNED;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 2 && (type == TC_TRUE || type == TC_FALSE))
			nd->meaning =
				type == TC_TRUE ? PQM_SIGNED : PQM_UNSIGNED;
		else
			tc_skip(t, type);
	}
	t->depth--;
}

static void parse_decimal_type(struct tc *t, struct pq_node *nd)
{
	int16_t last = 0;
	int type, id;
	t->depth++;
	nd->meaning = PQM_DECIMAL;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 1)
			nd->scale = tc_int32(t, type);
		else if (id == 2)
			nd->precision = tc_int32(t, type);
		else
			tc_skip(t, type);
	}
	t->depth--;
}

/* LogicalType, a union: the one field set names the type. */
static void parse_logical(struct tc *t, struct pq_node *nd)
{
	static const uint8_t simple[] = {
		[1] = PQM_STRING,   [2] = PQM_MAP,     [3] = PQM_LIST,
		[4] = PQM_STRING,   [6] = PQM_DATE,    [11] = PQM_NONE,
		[12] = PQM_STRING,  [13] = PQM_STRING, [14] = PQM_UUID,
		[15] = PQM_FLOAT16,
	};
	int16_t last = 0;
	int type, id;
	if (++t->depth > PQ_MAX_THRIFT_DEPTH)
		tc_fail(t, TC_BAD);
	while (tc_field(t, &last, &type, &id)) {
		if (type != TC_STRUCT) {
			tc_skip(t, type);
			continue;
		}
		switch (id) {
		case 5:
			parse_decimal_type(t, nd);
			break;
		case 7:
		case 8:
			nd->meaning = id == 7 ? PQM_TIME : PQM_TIMESTAMP;
			parse_time_type(t, nd);
			break;
		case 10:
			parse_int_type(t, nd);
			break;
		default:
			if (id > 0 && (size_t)id < sizeof(simple))
				nd->meaning = simple[id];
			tc_skip(t, type);
		}
	}
	t->depth--;
}

/* The legacy ConvertedType, used when there is no LogicalType. */
static void apply_converted(struct pq_node *nd, int32_t ct)
{
	switch (ct) {
	case 0:	 /* UTF8 */
	case 4:	 /* ENUM */
	case 19: /* JSON */
	case 20: /* BSON */
		nd->meaning = PQM_STRING;
		break;
	case 1:
	case 2:
		nd->meaning = PQM_MAP;
		break;
	case 3:
		nd->meaning = PQM_LIST;
		break;
	case 5:
		nd->meaning = PQM_DECIMAL;
		break;
	case 6:
		nd->meaning = PQM_DATE;
		break;
	case 7:
	case 8:
		nd->meaning = PQM_TIME;
		nd->unit = ct == 7 ? PQ_MILLIS : PQ_MICROS;
		break;
	case 9:
	case 10:
		nd->meaning = PQM_TIMESTAMP;
		nd->unit = ct == 9 ? PQ_MILLIS : PQ_MICROS;
		nd->utc = true;
		break;
	case 11:
	case 12:
	case 13:
	case 14:
		nd->meaning = PQM_UNSIGNED;
		break;
	case 15:
	case 16:
	case 17:
	case 18:
		nd->meaning = PQM_SIGNED;
		break;
	}
}

static int parse_node(struct tc *t, struct pq_node *nd)
{
	int16_t last = 0;
	int type, id;
	int32_t converted = -1;
	bool logical = false;
	nd->type = PQ_GROUP;
	while (tc_field(t, &last, &type, &id)) {
		uint32_t n;
		const uint8_t *s;
		switch (id) {
		case 1:
			nd->type = (int8_t)tc_int32(t, type);
			break;
		case 2:
			nd->type_length = tc_int32(t, type);
			break;
		case 3:
			nd->repetition = (uint8_t)tc_int32(t, type);
			break;
		case 4:
			if (type != TC_BINARY || !(s = tc_binary(t, &n)))
				break;
			free(nd->name);
			if (!(nd->name = strndup((const char *)s, n)))
				return -ENOMEM;
			break;
		case 5:
			nd->num_children = tc_int32(t, type);
			break;
		case 6:
			converted = tc_int32(t, type);
			break;
		case 7:
			nd->scale = tc_int32(t, type);
			break;
		case 8:
			nd->precision = tc_int32(t, type);
			break;
		case 10:
			if (type == TC_STRUCT) {
				parse_logical(t, nd);
				logical = true;
				break;
			}
			/* fall through */
		default:
			tc_skip(t, type);
		}
	}
	if (!logical && converted >= 0)
		apply_converted(nd, converted);
	if (!nd->name && !t->err && !(nd->name = strdup("")))
		return -ENOMEM;
	return 0;
}

static int parse_schema(struct tc *t, struct pq_meta *m)
{
	int et;
	uint32_t n = tc_list(t, &et);
	if (t->err || et != TC_STRUCT || n == 0) {
		tc_fail(t, TC_BAD);
		return 0;
	}
	if (!(m->nodes = calloc(n, sizeof(*m->nodes))))
		return -ENOMEM;
	m->nnodes = n;
	for (uint32_t i = 0; i < n && !t->err; i++) {
		int r = parse_node(t, &m->nodes[i]);
		if (r)
			return r;
	}
	return 0;
}

/* ---- row groups ---- */

static void parse_column_meta(struct tc *t, struct pq_chunk *c)
{
	int16_t last = 0;
	int type, id;
	t->depth++;
	while (tc_field(t, &last, &type, &id)) {
		switch (id) {
		case 4:
			c->codec = tc_int32(t, type);
			break;
		case 5:
			c->num_values = tc_int(t, type);
			break;
		case 7:
			c->total_compressed_size = tc_int(t, type);
			break;
		case 9:
			c->data_page_offset = tc_int(t, type);
			break;
		case 11:
			c->dict_page_offset = tc_int(t, type);
			break;
		default:
			tc_skip(t, type);
		}
	}
	t->depth--;
}

/* 1 when the chunk lives in another file (ColumnChunk.file_path). */
static int parse_chunk(struct tc *t, struct pq_chunk *c)
{
	int16_t last = 0;
	int type, id, external = 0;
	bool has_meta = false;
	c->dict_page_offset = -1;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 3 && type == TC_STRUCT) {
			parse_column_meta(t, c);
			has_meta = true;
		} else {
			external |= id == 1;
			tc_skip(t, type);
		}
	}
	if (!has_meta)
		tc_fail(t, TC_BAD);
	return external;
}

static int parse_rowgroup(struct tc *t, struct pq_meta *m,
			  struct pq_rowgroup *rg, int *external)
{
	int16_t last = 0;
	int type, id;
	bool has_chunks = false;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 3) {
			rg->num_rows = tc_int(t, type);
			continue;
		}
		if (id != 1 || type != TC_LIST || has_chunks) {
			tc_skip(t, type);
			continue;
		}
		int et;
		uint32_t n = tc_list(t, &et);
		if (t->err || et != TC_STRUCT || n != m->nleaves) {
			tc_fail(t, TC_BAD);
			return 0;
		}
		has_chunks = true;
		if (n && !(rg->chunks = calloc(n, sizeof(*rg->chunks))))
			return -ENOMEM;
		for (uint32_t i = 0; i < n && !t->err; i++)
			*external |= parse_chunk(t, &rg->chunks[i]);
	}
	if (!has_chunks && !t->err)
		tc_fail(t, TC_BAD);
	return 0;
}

static int parse_rowgroups(struct tc *t, struct pq_meta *m, int *external)
{
	int et;
	uint32_t n = tc_list(t, &et);
	if (t->err || (n && et != TC_STRUCT)) {
		tc_fail(t, TC_BAD);
		return 0;
	}
	if (n && !(m->rgs = calloc(n, sizeof(*m->rgs))))
		return -ENOMEM;
	m->nrgs = n;
	for (uint32_t i = 0; i < n && !t->err; i++) {
		int r = parse_rowgroup(t, m, &m->rgs[i], external);
		if (r)
			return r;
	}
	return 0;
}

/* ---- levels and fields ---- */

struct walk {
	struct pq_meta *m;
	uint32_t next; /* next node to visit */
};

/* Visit the node at w->next and everything below it; def and rep are the
 * levels of its parent. */
static int walk_node(struct walk *w, uint16_t def, uint16_t rep, int depth)
{
	struct pq_meta *m = w->m;
	if (depth > PQ_MAX_DEPTH || w->next >= m->nnodes)
		return -EINVAL;
	uint32_t i = w->next++;
	const struct pq_node *nd = &m->nodes[i];
	if (nd->repetition > PQ_REPEATED)
		return -EINVAL;
	def += nd->repetition != PQ_REQUIRED;
	rep += nd->repetition == PQ_REPEATED;
	if (nd->type != PQ_GROUP) {
		if (nd->type < PQ_BOOLEAN || nd->type > PQ_FLBA ||
		    (nd->type == PQ_FLBA &&
		     (nd->type_length <= 0 || nd->type_length > 1 << 20)))
			return -EINVAL;
		/* Leaves were counted at most nnodes; there is room. */
		m->leaves[m->nleaves++] = (struct pq_leaf){
			.node = i, .max_def = def, .max_rep = rep};
		return 0;
	}
	if (nd->num_children < 0 ||
	    (uint32_t)nd->num_children > m->nnodes - w->next)
		return -EINVAL;
	for (int32_t c = 0; c < nd->num_children; c++) {
		int r = walk_node(w, def, rep, depth + 1);
		if (r)
			return r;
	}
	return 0;
}

/* Decide how the top-level field f (rooted at node `top`) is read. */
static void classify(const struct pq_meta *m, uint32_t top, struct pq_field *f)
{
	const struct pq_node *o = &m->nodes[top];
	const struct pq_leaf *lf = &m->leaves[f->leaf];
	uint16_t d0 = o->repetition != PQ_REQUIRED;
	f->shape = PQ_SHAPE_OTHER;
	if (o->type != PQ_GROUP) {
		if (o->repetition != PQ_REPEATED) {
			f->shape = PQ_SHAPE_SCALAR;
		} else { /* a bare repeated primitive: a list, never NULL */
			f->shape = PQ_SHAPE_LIST;
			f->def_list = 0;
			f->def_elem = lf->max_def;
		}
		return;
	}
	if (o->repetition == PQ_REPEATED)
		return;
	if (o->meaning == PQM_LIST && o->num_children == 1 && f->nleaves == 1 &&
	    lf->max_rep == 1) {
		const struct pq_node *r = &m->nodes[top + 1];
		bool two_level = r->type != PQ_GROUP;
		bool three_level = !two_level && r->num_children == 1 &&
				   m->nodes[top + 2].type != PQ_GROUP;
		if (r->repetition == PQ_REPEATED &&
		    (two_level || three_level)) {
			f->shape = PQ_SHAPE_LIST;
			f->def_list = d0;
			f->def_elem = lf->max_def;
		}
		return;
	}
	if (o->meaning == PQM_MAP && o->num_children == 1 &&
	    f->nleaves == 2 && lf[0].max_rep == 1 && lf[1].max_rep == 1) {
		/* MAP { repeated group key_value { key; value } } */
		const struct pq_node *kv = &m->nodes[top + 1];
		if (kv->repetition == PQ_REPEATED && kv->type == PQ_GROUP &&
		    kv->num_children == 2 && lf[0].node == top + 2 &&
		    lf[1].node == top + 3) {
			f->shape = PQ_SHAPE_MAP;
			f->def_list = d0;
			f->def_elem = lf[1].max_def;
		}
		return;
	}
	if (o->meaning == PQM_LIST || o->meaning == PQM_MAP)
		return;
	for (uint32_t k = 0; k < f->nleaves; k++) {
		const struct pq_leaf *l = &m->leaves[f->leaf + k];
		/* Direct children only: a leaf two levels down sits after a
		 * group child, which num_children would not count. */
		if (l->max_rep || l->node != top + 1 + k)
			return;
	}
	if ((uint32_t)o->num_children != f->nleaves)
		return;
	f->shape = PQ_SHAPE_STRUCT;
	f->def_struct = d0;
}

static int build_fields(struct pq_meta *m)
{
	const struct pq_node *root = &m->nodes[0];
	if (root->type != PQ_GROUP || root->num_children < 0 ||
	    (uint32_t)root->num_children >= m->nnodes)
		return -EINVAL;
	if (!(m->leaves = calloc(m->nnodes, sizeof(*m->leaves))))
		return -ENOMEM;
	if (root->num_children &&
	    !(m->fields =
		      calloc((size_t)root->num_children, sizeof(*m->fields))))
		return -ENOMEM;
	struct walk w = {.m = m, .next = 1};
	for (int32_t c = 0; c < root->num_children; c++) {
		uint32_t top = w.next, first = m->nleaves;
		int r = walk_node(&w, 0, 0, 1);
		if (r)
			return r;
		struct pq_field *f = &m->fields[m->nfields++];
		f->name = m->nodes[top].name;
		f->leaf = first;
		f->nleaves = m->nleaves - first;
		if (f->nleaves)
			classify(m, top, f);
		else
			f->shape = PQ_SHAPE_OTHER; /* an empty group */
	}
	return w.next == m->nnodes ? 0 : -EINVAL;
}

/* ---- FileMetaData ---- */

static int fail(char *msg, size_t msglen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *msg, size_t msglen, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return err;
}

/* The schema comes first in every writer's footer, but Thrift does not
 * promise it: the row groups are decoded in a second pass.  The schema or
 * the row group list given twice counts the first time: decoding a second
 * list over the first would lose (leak) the first. */
static int parse_file(struct tc *t, struct pq_meta *m, bool groups,
		      int *external)
{
	int16_t last = 0;
	int type, id, r;
	bool rgs_seen = false;
	while (tc_field(t, &last, &type, &id)) {
		if (!groups && id == 2 && type == TC_LIST && !m->nodes) {
			if ((r = parse_schema(t, m)))
				return r;
		} else if (!groups && id == 3) {
			m->num_rows = tc_int(t, type);
		} else if (groups && id == 4 && type == TC_LIST && !rgs_seen) {
			rgs_seen = true;
			if ((r = parse_rowgroups(t, m, external)))
				return r;
		} else {
			tc_skip(t, type);
		}
	}
	return 0;
}

static int check_rowgroups(struct pq_meta *m, char *msg, size_t msglen)
{
	int64_t rows = 0;
	for (uint32_t g = 0; g < m->nrgs; g++) {
		struct pq_rowgroup *rg = &m->rgs[g];
		if (rg->num_rows < 0 || rg->num_rows > INT64_MAX - rows)
			return fail(msg, msglen, -EINVAL,
				    "row group %u has a bad row count", g);
		rows += rg->num_rows;
		rg->start = INT64_MAX;
		for (uint32_t k = 0; k < m->nleaves; k++) {
			const struct pq_chunk *c = &rg->chunks[k];
			int64_t s = c->dict_page_offset >= 0 &&
						    c->dict_page_offset <
							    c->data_page_offset
					    ? c->dict_page_offset
					    : c->data_page_offset;
			if (s < 0 || c->total_compressed_size < 0 ||
			    c->num_values < 0)
				return fail(msg, msglen, -EINVAL,
					    "row group %u has a bad column "
					    "chunk",
					    g);
			if (s < rg->start)
				rg->start = s;
		}
		if (!m->nleaves)
			rg->start = 0;
	}
	return 0;
}

int pq_meta_parse(const uint8_t *p, size_t n, struct pq_meta *m, char *msg,
		  size_t msglen)
{
	memset(m, 0, sizeof(*m));
	struct tc t = {.p = p, .end = p + n};
	int external = 0;
	int r = parse_file(&t, m, false, &external);
	if (r)
		return r;
	if (t.err || !m->nodes)
		return fail(msg, msglen, -EINVAL, "the file footer is %s",
			    t.err == TC_SHORT ? "truncated" : "malformed");
	if ((r = build_fields(m)))
		return r == -ENOMEM ? r
				    : fail(msg, msglen, r,
					   "the schema is malformed");
	t = (struct tc){.p = p, .end = p + n};
	if ((r = parse_file(&t, m, true, &external)))
		return r;
	if (t.err)
		return fail(msg, msglen, -EINVAL,
			    "the row groups of the file footer are %s",
			    t.err == TC_SHORT ? "truncated" : "malformed");
	if (external)
		return fail(msg, msglen, -EINVAL,
			    "column chunks in other files are not supported");
	return check_rowgroups(m, msg, msglen);
}

void pq_meta_free(struct pq_meta *m)
{
	for (uint32_t i = 0; i < m->nnodes; i++)
		free(m->nodes[i].name);
	free(m->nodes);
	for (uint32_t g = 0; g < m->nrgs; g++)
		free(m->rgs[g].chunks);
	free(m->rgs);
	free(m->leaves);
	free(m->fields);
	memset(m, 0, sizeof(*m));
}

/* ---- page headers ---- */

/* DataPageHeader (id 5), DictionaryPageHeader (7), DataPageHeaderV2 (8). */
static void parse_data_header(struct tc *t, struct pq_page *pg, int which)
{
	bool v2 = which == 8;
	int nint = which == 5 ? 4 : 2; /* v1 and dictionary: leading ints */
	int16_t last = 0;
	int type, id;
	t->depth++;
	while (tc_field(t, &last, &type, &id)) {
		if (id == 1) {
			pg->num_values = tc_int32(t, type);
		} else if (!v2 && id <= nint) {
			int32_t v = tc_int32(t, type);
			if (id == 2)
				pg->encoding = v;
			else if (id == 3)
				pg->def_encoding = v;
			else
				pg->rep_encoding = v;
		} else if (v2 && id >= 3 && id <= 6) {
			int32_t v = tc_int32(t, type);
			if (id == 3)
				pg->num_rows = v;
			else if (id == 4)
				pg->encoding = v;
			else if (id == 5)
				pg->def_len = v;
			else
				pg->rep_len = v;
		} else if (v2 && id == 7 &&
			   (type == TC_TRUE || type == TC_FALSE)) {
			pg->is_compressed = type == TC_TRUE;
		} else {
			tc_skip(t, type);
		}
	}
	t->depth--;
}

int pq_page_parse(const uint8_t *p, size_t n, struct pq_page *pg)
{
	struct tc t = {.p = p, .end = p + n};
	int16_t last = 0;
	int type, id;
	memset(pg, 0, sizeof(*pg));
	pg->type = -1;
	pg->is_compressed = true;
	while (tc_field(&t, &last, &type, &id)) {
		switch (id) {
		case 1:
			pg->type = tc_int32(&t, type);
			break;
		case 2:
			pg->uncompressed_size = tc_int32(&t, type);
			break;
		case 3:
			pg->compressed_size = tc_int32(&t, type);
			break;
		case 5:
		case 7:
		case 8:
			if (type == TC_STRUCT) {
				parse_data_header(&t, pg, id);
				break;
			}
			/* fall through */
		default:
			tc_skip(&t, type);
		}
	}
	if (t.err == TC_SHORT)
		return 0;
	if (t.err || pg->type < 0 || pg->uncompressed_size < 0 ||
	    pg->compressed_size < 0 || pg->num_values < 0 || pg->def_len < 0 ||
	    pg->rep_len < 0)
		return -EINVAL;
	return (int)(t.p - p);
}
