/*
 * sel_eval.c - binder and evaluator.
 *
 * ev() is the interpreter loop: a switch over node kinds, recursing into
 * kids (tree height is capped by the parser).  Values borrow the record or
 * the per-record scratch arena, so the common path allocates nothing.
 * Three-valued logic: NULL/MISSING operands make comparisons unknown, and
 * only TRUE passes WHERE.  CSV fields are strings until CAST, as on AWS.
 */
#include "sel_eval.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sel_err.h"
#include "sel_limits.h"
#include "sel_sum.h"

/* One aggregate's state.  In checked mode (one stream of records in
 * order) the INT sum fails on overflow as it happens; in partial mode (one
 * chunk of a parallel run, sel_eval.h) it is kept wider with its prefix
 * extremes, so the merge can tell whether the records in order would have
 * overflowed. */
struct sel_agg {
	int fn;
	int64_t count;
	int64_t isum;		   /* checked mode: INT sum in record order */
	__int128 psum;		   /* exact INT sum (both modes) */
	__int128 pmin, pmax;	   /* partial mode: extremes of psum */
	struct sel_sum fsum;	   /* FLOAT and DECIMAL values, exact */
	bool has_float, has_dec, has_int, any, nan;
	/* Checked mode: isum left the INT range.  SUM fails at the end
	 * unless a FLOAT or DECIMAL joins the sum (it is a FLOAT then). */
	bool ioverflow;
	uint32_t types; /* MIN/MAX: bit per type of the values compared */
	struct sel_value best;
	struct cmn_buf keep;
};

/* A compiled LIKE pattern: tokens, with a fast path for the common
 * prefix/suffix/contains/exact shapes. */
enum { LK_GENERIC, LK_EXACT, LK_PREFIX, LK_SUFFIX, LK_CONTAINS, LK_ANY };
enum { LT_LIT, LT_ONE, LT_ANY };
struct like_tok {
	uint8_t t;
	char c;
};
struct like {
	int shape;
	const char *lit; /* literal bytes for the fast shapes */
	size_t litlen;
	struct like_tok *tok;
	size_t ntok;
};

#define ERR(x, n, code, ...)                                     \
	sel_err_set((x)->err, SEL_E_##code, (n) ? (n)->line : 0, \
		    (n) ? (n)->col : 0, __VA_ARGS__)

static int ev(struct sel_eval *x, const struct sel_node *n,
	      struct sel_value *out);
static int ev_list(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out);
static int new_aggs(int n, struct sel_agg **out);
static void compile_where(struct sel_eval *x, const struct sel_node *w);

static void set_null(struct sel_value *v)
{
	v->type = SEL_T_NULL;
}

static bool unknown(const struct sel_value *v)
{
	return v->type == SEL_T_NULL || v->type == SEL_T_MISSING;
}

static char *scratch(struct sel_eval *x, const struct sel_node *n, size_t len)
{
	char *p = sel_arena_alloc(&x->scratch, len ? len : 1);
	if (!p)
		ERR(x, n, OverMaxRecordSize,
		    "evaluating one record needs more than %u bytes",
		    SEL_MAX_SCRATCH);
	return p;
}

/* Binder. */

static bool name_eq(const struct sel_step *s, const char *p, size_t n,
		    bool exact)
{
	if (s->len != n)
		return false;
	return (exact || s->quoted) ? memcmp(s->name, p, n) == 0
				    : strncasecmp(s->name, p, n) == 0;
}

static bool is_alias(const struct sel_stmt *st, const struct sel_step *s)
{
	if (s->kind != SEL_STEP_NAME)
		return false;
	return name_eq(s, st->alias, st->alias_len, st->alias_quoted) ||
	       (!s->quoted && s->len == 8 &&
		strncasecmp(s->name, "s3object", 8) == 0) ||
	       (s->quoted && s->len == 8 &&
		memcmp(s->name, "S3Object", 8) == 0);
}

/* "_N": returns N (>= 0) or -1 when the name is not positional. */
static int64_t positional(const struct sel_step *s)
{
	if (s->kind != SEL_STEP_NAME || s->len < 2 || s->name[0] != '_' ||
	    s->len > 12)
		return -1;
	int64_t v = 0;
	for (uint32_t i = 1; i < s->len; i++) {
		if (s->name[i] < '0' || s->name[i] > '9')
			return -1;
		v = v * 10 + (s->name[i] - '0');
	}
	return v;
}

static int bind_csv_col(struct sel_eval *x, struct sel_node *n,
			int32_t *max_col)
{
	const struct sel_step *s = &n->steps[n->first_step];
	int matches = 0;
	int32_t col = -1;
	if (s->kind != SEL_STEP_NAME)
		return ERR(x, n, ParseInvalidPathComponent,
			   "CSV columns are named, not indexed");
	if (x->header_mode == SEL_HDR_USE)
		for (uint32_t i = 0; i < x->nheader; i++)
			if (name_eq(s, x->header[i].p, x->header[i].len,
				    false)) {
				matches++;
				col = (int32_t)i;
			}
	if (matches > 1)
		return ERR(x, n, AmbiguousFieldName,
			   "column name '%s' is ambiguous", s->name);
	if (matches == 0) {
		int64_t pos = positional(s);
		if (pos == 0 || pos > SEL_MAX_COLUMNS)
			return ERR(x, n, InvalidColumnIndex,
				   "column index %s is out of range (the "
				   "first column is _1)",
				   s->name);
		if (pos < 0 && n->first_step == 0 && n->nsteps > 1)
			return ERR(x, n, InvalidTableAlias,
				   "'%s' is neither the table alias nor a "
				   "column",
				   s->name);
		if (pos < 0 && x->header_mode == SEL_HDR_USE && s->quoted)
			return ERR(x, n, MissingHeaderName,
				   "no header column is named \"%s\"", s->name);
		if (pos < 0)
			return ERR(
				x, n, EvaluatorBindingDoesNotExist,
				"column '%s' does not exist%s", s->name,
				x->header_mode == SEL_HDR_USE
					? ""
					: " (use _N, or FileHeaderInfo USE)");
		col = (int32_t)(pos - 1);
	}
	n->col_index = col;
	if (col > *max_col)
		*max_col = col;
	return 0;
}

/* The index of the JSON key a path's first step names, adding it to
 * x->keys when new; -1 when the path starts otherwise. */
static int bind_json_key(struct sel_eval *x, struct sel_node *n)
{
	const struct sel_step *s = &n->steps[n->first_step];
	n->col_index = -1;
	if ((uint32_t)n->first_step >= n->nsteps || s->kind != SEL_STEP_NAME) {
		x->whole = true;
		return 0;
	}
	if (positional(s) == 1)
		x->whole = true; /* _1 is the record when no member is */
	for (uint32_t i = 0; i < x->nkeys; i++)
		if (x->keys[i].len == s->len &&
		    x->keys[i].exact == (bool)s->quoted &&
		    memcmp(x->keys[i].name, s->name, s->len) == 0) {
			n->col_index = (int32_t)i;
			return 0;
		}
	if (x->nkeys == x->cap_keys) {
		if (x->cap_keys >= SEL_MAX_COLUMNS)
			return ERR(x, n, OverMaxColumn,
				   "the query names more than %d members",
				   SEL_MAX_COLUMNS);
		uint32_t nc = x->cap_keys ? 2 * x->cap_keys : 8;
		struct sel_jkey *nk = realloc(x->keys, nc * sizeof(*nk));
		if (!nk)
			return ERR(x, n, InternalError, "out of memory");
		x->keys = nk;
		x->cap_keys = nc;
	}
	x->keys[x->nkeys] = (struct sel_jkey){
		.name = s->name, .len = s->len, .exact = s->quoted};
	n->col_index = (int32_t)x->nkeys++;
	return 0;
}

static int bind_path(struct sel_eval *x, struct sel_node *n, int32_t *max_col)
{
	n->first_step = 0;
	if (is_alias(x->st, &n->steps[0]))
		n->first_step = 1;
	if (x->format != SEL_FMT_CSV)
		return bind_json_key(x, n);
	if ((uint32_t)n->first_step == n->nsteps)
		return ERR(x, n, InvalidQuery,
			   "a whole CSV record cannot be used as a value");
	return bind_csv_col(x, n, max_col);
}

static int compile_like(struct sel_eval *x, const struct sel_node *n,
			const struct sel_value *pat,
			const struct sel_value *esc, struct sel_arena *a,
			struct like **out);

static bool has_kind(const struct sel_node *n, int kind)
{
	if (!n)
		return false;
	if (n->kind == kind)
		return true;
	for (uint32_t i = 0; i < n->nkids; i++)
		if (has_kind(n->kids[i], kind))
			return true;
	return false;
}

/* A path outside any aggregate call (aggregate queries forbid it). */
static const struct sel_node *bare_path(const struct sel_node *n)
{
	if (!n || n->kind == SEL_N_AGG)
		return NULL;
	if (n->kind == SEL_N_PATH)
		return n;
	for (uint32_t i = 0; i < n->nkids; i++) {
		const struct sel_node *p = bare_path(n->kids[i]);
		if (p)
			return p;
	}
	return NULL;
}

static int bind_node(struct sel_eval *x, struct sel_node *n, int32_t *max_col)
{
	if (!n)
		return 0;
	int r;
	for (uint32_t i = 0; i < n->nkids; i++)
		if ((r = bind_node(x, n->kids[i], max_col)))
			return r;
	if (n->kind == SEL_N_PATH)
		return bind_path(x, n, max_col);
	if (n->kind == SEL_N_AGG)
		x->agg_nodes[n->slot] = n;
	if (n->kind == SEL_N_LIKE && n->kids[1]->kind == SEL_N_LIT &&
	    (n->nkids < 3 || n->kids[2]->kind == SEL_N_LIT) &&
	    n->kids[1]->lit.type == SEL_T_STRING) {
		struct like *lk;
		r = compile_like(x, n, &n->kids[1]->lit,
				 n->nkids > 2 ? &n->kids[2]->lit : NULL,
				 x->arena, &lk);
		if (r)
			return r;
		n->aux = lk;
	}
	return 0;
}

static int bind_aggs(struct sel_eval *x, struct sel_stmt *st)
{
	x->aggregate = true;
	x->nagg = st->nagg;
	if (new_aggs(st->nagg, &x->aggs))
		return -ENOMEM;
	if (has_kind(st->where, SEL_N_AGG))
		return ERR(x, st->where, InvalidQuery,
			   "aggregate functions are not allowed in WHERE");
	for (uint32_t i = 0; i < st->nitems; i++) {
		const struct sel_node *p = bare_path(st->items[i].expr);
		if (p)
			return ERR(x, p, InvalidQuery,
				   "a column outside an aggregate function "
				   "cannot be mixed with aggregates");
	}
	return 0;
}

int sel_eval_bind(struct sel_eval *x, struct sel_stmt *st,
		  struct sel_arena *arena, int format, int header_mode,
		  const struct sel_field *header, uint32_t nheader,
		  int32_t *max_col, struct sel_error *err)
{
	memset(x, 0, sizeof(*x));
	x->st = st;
	x->arena = arena;
	x->format = format;
	x->header_mode = header_mode;
	x->header = header;
	x->nheader = nheader;
	x->err = err;
	sel_arena_init(&x->scratch, SEL_MAX_SCRATCH);
	cmn_buf_init(&x->text, SEL_MAX_COLUMN_LEN);
	*max_col = st->star ? INT32_MAX : -1;
	int r;
	x->agg_nodes = sel_arena_zalloc(arena, ((size_t)st->nagg + 1) *
						       sizeof(*x->agg_nodes));
	if (!x->agg_nodes)
		return -ENOMEM;
	if (st->nagg && (r = bind_aggs(x, st)))
		return r;
	for (uint32_t i = 0; i < st->nitems; i++)
		if ((r = bind_node(x, st->items[i].expr, max_col)))
			return r;
	if ((r = bind_node(x, st->where, max_col)))
		return r;
	compile_where(x, st->where);
	return 0;
}

void sel_eval_free(struct sel_eval *x)
{
	sel_eval_aggs_free(x->aggs, x->nagg);
	free(x->members);
	free(x->keys);
	x->keys = NULL;
	sel_arena_free(&x->scratch);
	cmn_buf_free(&x->text);
	x->aggs = NULL;
	x->members = NULL;
}

void sel_eval_record(struct sel_eval *x, const struct sel_record *rec)
{
	x->rec = rec;
	x->indexed = false;
	/* Most records allocate nothing: then there is nothing to reset. */
	if (x->scratch.used)
		sel_arena_reset(&x->scratch);
}

/* Paths. */

static int index_members(struct sel_eval *x, const struct sel_node *n)
{
	const struct sel_record *rec = x->rec;
	size_t it = 0, kn, vn;
	const char *kp, *vp;
	int r;
	x->nmembers = 0;
	x->indexed = true;
	const char *s = rec->json;
	while (s < rec->json + rec->json_len && (*s == ' ' || *s == '\t'))
		s++;
	if (s >= rec->json + rec->json_len || *s != '{')
		return 0;
	while ((r = sel_json_iter(rec->json, rec->json_len, &it, &kp, &kn, &vp,
				  &vn)) == 1) {
		if (x->nmembers == x->cap_members) {
			if (x->cap_members >= SEL_MAX_COLUMNS)
				return ERR(x, n, OverMaxColumn,
					   "a JSON object has more than %d "
					   "members",
					   SEL_MAX_COLUMNS);
			uint32_t nc = x->cap_members ? 2 * x->cap_members : 32;
			struct sel_member *nm =
				realloc(x->members, nc * sizeof(*nm));
			if (!nm)
				return -ENOMEM;
			x->members = nm;
			x->cap_members = nc;
		}
		struct sel_member *m = &x->members[x->nmembers++];
		m->unescaped = memchr(kp, '\\', kn) != NULL;
		if (m->unescaped) { /* compare the name's text */
			char *buf = sel_arena_alloc(&x->scratch, kn + 1);
			if (!buf || !(kp = sel_json_key(kp, kn, buf, kn, &kn)))
				return ERR(x, n, JSONParsingError,
					   "a JSON member name is invalid");
		}
		m->k = kp;
		m->kn = (uint32_t)kn;
		m->v = vp;
		m->vn = (uint32_t)vn;
	}
	if (r < 0)
		return ERR(x, n, JSONParsingError,
			   "invalid JSON record at byte %" PRIu64, rec->offset);
	return 0;
}

static int json_scalar(struct sel_eval *x, const struct sel_node *n,
		       const char *p, size_t len, struct sel_value *out)
{
	if (sel_json_value(p, len, &x->scratch, out) < 0)
		return ERR(x, n, JSONParsingError,
			   "invalid JSON value in record at byte %" PRIu64,
			   x->rec->offset);
	return 0;
}

/* The raw value of the top-level JSON member a one-step path names, when
 * the reader resolved it to exactly one member; NULL otherwise (CSV, FROM
 * paths, longer paths, MISSING or ambiguous names take the general path). */
static const struct sel_jslot *raw_member(const struct sel_eval *x,
					  const struct sel_node *path)
{
	const struct sel_record *rec = x->rec;
	if (x->format != SEL_FMT_JSON || path->kind != SEL_N_PATH ||
	    path->col_index < 0 ||
	    (uint32_t)path->first_step + 1 != path->nsteps || rec->missing ||
	    !rec->slots)
		return NULL;
	const struct sel_jslot *sl = &rec->slots[path->col_index];
	return sl->count == 1 && !sl->tv ? sl : NULL;
}

/* A raw JSON integer token -?[0-9]{1,18} (the reader validated it). */
static bool raw_int(const char *p, size_t n, int64_t *out)
{
	size_t k = n && p[0] == '-';
	if (n - k < 1 || n - k > 18)
		return false;
	int64_t v = 0;
	for (size_t i = k; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	*out = k ? -v : v;
	return true;
}

static int first_member(struct sel_eval *x, const struct sel_node *n,
			const struct sel_step *s, const char **vp, size_t *vn)
{
	int r;
	const struct sel_jslot *sl = x->rec->slots && n->col_index >= 0
					     ? &x->rec->slots[n->col_index]
					     : NULL;
	if (sl) {
		/* Resolved by the reader while it validated the record. */
		if (sl->count > 1 && !s->quoted)
			return ERR(x, n, AmbiguousFieldName,
				   "field name '%s' is ambiguous", s->name);
		*vp = sl->v;
		*vn = sl->vn;
		return sl->count ? 1 : 0;
	}
	if (!x->indexed && (r = index_members(x, n)))
		return r;
	int found = 0;
	for (uint32_t i = 0; i < x->nmembers; i++) {
		const struct sel_member *m = &x->members[i];
		if (!name_eq(s, m->k, m->kn, false))
			continue;
		if (found && !s->quoted)
			return ERR(x, n, AmbiguousFieldName,
				   "field name '%s' is ambiguous", s->name);
		*vp = m->v;
		*vn = m->vn;
		found = 1;
		if (s->quoted)
			break;
	}
	return found;
}

static int collect_wild(struct sel_eval *x, const struct sel_node *n,
			uint32_t i, const char *vp, size_t vn,
			struct cmn_buf *b);

static int path_err(struct sel_eval *x, const struct sel_node *n,
		    const struct sel_step *s, int r)
{
	if (r == -EEXIST)
		return ERR(x, n, AmbiguousFieldName,
			   "field name '%s' is ambiguous", s->name);
	return ERR(x, n, JSONParsingError,
		   "invalid JSON in record at byte %" PRIu64, x->rec->offset);
}

/* Append to b (a JSON array being built) every value steps i.. of path n
 * select under the value v[0..vn), flattening wildcards: `[*]` stands for
 * each element of an array, `.*` for each member value of an object, and
 * what they select is spliced into one list, as S3 does.  MISSING results
 * are left out.  Recursion only follows wildcards into nested containers,
 * so it is no deeper than SEL_MAX_JSON_DEPTH. */
static int collect(struct sel_eval *x, const struct sel_node *n, uint32_t i,
		   const char *vp, size_t vn, struct cmn_buf *b)
{
	for (; i < n->nsteps; i++) {
		const struct sel_step *s = &n->steps[i];
		int r = 0;
		if (s->kind == SEL_STEP_NAME)
			r = sel_json_member(vp, vn, s->name, s->len, s->quoted,
					    &vp, &vn);
		else if (s->kind == SEL_STEP_INDEX)
			r = sel_json_element(vp, vn, s->index, &vp, &vn);
		else
			return collect_wild(x, n, i, vp, vn, b);
		if (r < 0)
			return path_err(x, n, s, r);
		if (r == 0)
			return 0;
	}
	if (b->len > 1 && cmn_buf_addc(b, ',') < 0)
		return -E2BIG;
	return cmn_buf_add(b, vp, vn) < 0 ? -E2BIG : 0;
}

static int collect_wild(struct sel_eval *x, const struct sel_node *n,
			uint32_t i, const char *vp, size_t vn,
			struct cmn_buf *b)
{
	const char *t = vp, *kp, *ep;
	size_t it = 0, kn, en;
	char want = n->steps[i].kind == SEL_STEP_WILD_IDX ? '[' : '{';
	int r;
	while (t < vp + vn && (*t == ' ' || *t == '\t' || *t == '\n'))
		t++;
	if (t >= vp + vn || *t != want)
		return 0;
	while ((r = sel_json_iter(vp, vn, &it, &kp, &kn, &ep, &en)) == 1)
		if ((r = collect(x, n, i + 1, ep, en, b)))
			return r;
	return r < 0 ? path_err(x, n, &n->steps[i], r) : 0;
}

/* A path with a wildcard step at i: the JSON array of what it selects;
 * MISSING when the value the wildcard applies to is not an array (`[*]`)
 * or an object (`.*`). */
static int ev_wild(struct sel_eval *x, const struct sel_node *n, uint32_t i,
		   const char *vp, size_t vn, struct sel_value *out)
{
	const char *t = vp;
	while (t < vp + vn && (*t == ' ' || *t == '\t' || *t == '\n'))
		t++;
	if (t >= vp + vn ||
	    *t != (n->steps[i].kind == SEL_STEP_WILD_IDX ? '[' : '{')) {
		out->type = SEL_T_MISSING;
		return 0;
	}
	struct cmn_buf b;
	cmn_buf_init(&b, SEL_MAX_COLUMN_LEN);
	int r = cmn_buf_addc(&b, '[') < 0 ? -E2BIG : 0;
	if (r == 0)
		r = collect_wild(x, n, i, vp, vn, &b);
	if (r == 0 && cmn_buf_addc(&b, ']') < 0)
		r = -E2BIG;
	if (r == -E2BIG)
		r = ERR(x, n, ColumnTooLong,
			"the values a wildcard path selects are longer than "
			"1 MB");
	char *p = r ? NULL : scratch(x, n, b.len);
	if (r == 0 && !p)
		r = -E2BIG;
	if (r == 0) {
		memcpy(p, b.data, b.len);
		out->type = SEL_T_JSON;
		out->u.s = p;
		out->len = (uint32_t)b.len;
	}
	cmn_buf_free(&b);
	return r;
}

/* The slot of a path whose first member a typed reader (Parquet) gave as
 * a value; NULL otherwise. */
static const struct sel_jslot *typed_slot(const struct sel_eval *x,
					  const struct sel_node *n)
{
	const struct sel_jslot *sl = x->rec->slots && n->col_index >= 0
					     ? &x->rec->slots[n->col_index]
					     : NULL;
	return sl && sl->tv ? sl : NULL;
}

/* The value of a path whose first member is typed: 0 with *out set, 1
 * when the path goes on into a JSON value (a list or struct), or an
 * error. */
static int typed_member(struct sel_eval *x, const struct sel_node *n,
			const struct sel_jslot *sl, struct sel_value *out)
{
	const struct sel_step *s = &n->steps[n->first_step];
	if (sl->count > 1 && !s->quoted)
		return ERR(x, n, AmbiguousFieldName,
			   "field name '%s' is ambiguous", s->name);
	if ((uint32_t)n->first_step + 1 == n->nsteps) {
		*out = *sl->tv;
		return 0;
	}
	if (sl->tv->type == SEL_T_JSON)
		return 1;
	out->type = SEL_T_MISSING;
	return 0;
}

/* An integer token beyond the INT range reads as a FLOAT, which cannot
 * hold all its digits; a value written out untouched keeps them
 * (`{"id":12345678901234567890}` stays so under SELECT * and SELECT
 * s.id): *v becomes the token as JSON text, printed as it is.  Only for
 * output, never for a value an expression goes on to use. */
static void keep_int_text(const char *p, size_t n, struct sel_value *v)
{
	if (v->type != SEL_T_FLOAT || !p)
		return;
	while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' ||
		     p[n - 1] == '\r'))
		n--;
	size_t k = n && p[0] == '-';
	if (k == n)
		return;
	for (size_t i = k; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return;
	v->type = SEL_T_JSON;
	v->u.s = p;
	v->len = (uint32_t)n;
}

/* The value of a JSON path; *raw (when raw is not NULL) is set to the
 * text it was read from, or NULL. */
static int path_json(struct sel_eval *x, const struct sel_node *n,
		     struct sel_value *out, const char **raw, size_t *rawn)
{
	if (raw)
		*raw = NULL;
	const struct sel_record *rec = x->rec;
	if (rec->missing) {
		out->type = SEL_T_MISSING;
		return 0;
	}
	const char *vp = rec->json;
	size_t vn = rec->json_len;
	uint32_t i = (uint32_t)n->first_step;
	const struct sel_jslot *tsl = typed_slot(x, n);
	if (tsl) {
		int r = typed_member(x, n, tsl, out);
		if (r <= 0)
			return r;
		vp = tsl->tv->u.s; /* a JSON value the path goes into */
		vn = tsl->tv->len;
		i++;
	} else if (i < n->nsteps && n->steps[i].kind == SEL_STEP_NAME) {
		int r = first_member(x, n, &n->steps[i], &vp, &vn);
		if (r < 0)
			return r;
		if (r == 0) {
			if (positional(&n->steps[i]) != 1) {
				out->type = SEL_T_MISSING;
				return 0;
			}
			vp = rec->json; /* _1 is the record itself */
			vn = rec->json_len;
		}
		i++;
	}
	for (; i < n->nsteps; i++) {
		const struct sel_step *s = &n->steps[i];
		int r;
		if (s->kind == SEL_STEP_NAME)
			r = sel_json_member(vp, vn, s->name, s->len, s->quoted,
					    &vp, &vn);
		else if (s->kind == SEL_STEP_INDEX)
			r = sel_json_element(vp, vn, s->index, &vp, &vn);
		else
			return ev_wild(x, n, i, vp, vn, out);
		if (r < 0)
			return path_err(x, n, s, r);
		if (r == 0) {
			out->type = SEL_T_MISSING;
			return 0;
		}
	}
	if (raw) {
		*raw = vp;
		*rawn = vn;
	}
	return json_scalar(x, n, vp, vn, out);
}

static int ev_path_json(struct sel_eval *x, const struct sel_node *n,
			struct sel_value *out)
{
	return path_json(x, n, out, NULL, NULL);
}

static int ev_path(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	if (x->format != SEL_FMT_CSV)
		return ev_path_json(x, n, out);
	const struct sel_record *rec = x->rec;
	if ((uint32_t)n->col_index >= rec->nfields) {
		set_null(out);
		return 0;
	}
	if ((uint32_t)n->first_step + 1 < n->nsteps) {
		out->type = SEL_T_MISSING;
		return 0;
	}
	const struct sel_field *f = &rec->fields[n->col_index];
	sel_value_str(out, f->p, f->len);
	return 0;
}

/* Arithmetic. */

static int need_num(struct sel_eval *x, const struct sel_node *n,
		    const struct sel_value *v)
{
	if (sel_value_is_num(v))
		return 0;
	return ERR(x, n, InvalidDataType, "arithmetic needs numbers, not %s%s",
		   sel_value_type_name(v->type),
		   v->type == SEL_T_STRING ? " (CSV fields are strings: use "
					     "CAST)"
					   : "");
}

static int arith_int(struct sel_eval *x, const struct sel_node *n, int64_t a,
		     int64_t b, struct sel_value *out)
{
	int64_t r = 0;
	bool ovf = false;
	switch (n->op) {
	case '+':
		ovf = __builtin_add_overflow(a, b, &r);
		break;
	case '-':
		ovf = __builtin_sub_overflow(a, b, &r);
		break;
	case '*':
		ovf = __builtin_mul_overflow(a, b, &r);
		break;
	case '/':
	case '%':
		if (b == 0) {
			set_null(out);
			return 0;
		}
		if (a == INT64_MIN && b == -1)
			ovf = n->op == '/';
		else
			r = n->op == '/' ? a / b : a % b;
		break;
	}
	if (ovf)
		return ERR(x, n, IntegerOverflow, "integer overflow");
	out->type = SEL_T_INT;
	out->u.i = r;
	return 0;
}

static int ev_arith(struct sel_eval *x, const struct sel_node *n,
		    struct sel_value *out)
{
	struct sel_value a, b;
	int r;
	if ((r = ev(x, n->kids[0], &a)) || (r = ev(x, n->kids[1], &b)))
		return r;
	if (a.type == SEL_T_MISSING || b.type == SEL_T_MISSING) {
		out->type = SEL_T_MISSING;
		return 0;
	}
	if (unknown(&a) || unknown(&b)) {
		set_null(out);
		return 0;
	}
	if ((r = need_num(x, n->kids[0], &a)) ||
	    (r = need_num(x, n->kids[1], &b)))
		return r;
	if (a.type == SEL_T_INT && b.type == SEL_T_INT)
		return arith_int(x, n, a.u.i, b.u.i, out);
	double p = sel_value_as_double(&a), q = sel_value_as_double(&b), v = 0;
	switch (n->op) {
	case '+':
		v = p + q;
		break;
	case '-':
		v = p - q;
		break;
	case '*':
		v = p * q;
		break;
	case '/':
	case '%':
		if (q == 0) {
			set_null(out);
			return 0;
		}
		v = n->op == '/' ? p / q : fmod(p, q);
		break;
	}
	out->type = (a.type == SEL_T_FLOAT || b.type == SEL_T_FLOAT)
			    ? SEL_T_FLOAT
			    : SEL_T_DECIMAL;
	out->u.f = v;
	return 0;
}

static int ev_neg(struct sel_eval *x, const struct sel_node *n,
		  struct sel_value *out)
{
	int r = ev(x, n->kids[0], out);
	if (r || unknown(out))
		return r;
	if ((r = need_num(x, n->kids[0], out)))
		return r;
	if (out->type == SEL_T_INT) {
		if (out->u.i == INT64_MIN)
			return ERR(x, n, IntegerOverflow, "integer overflow");
		out->u.i = -out->u.i;
	} else {
		out->u.f = -out->u.f;
	}
	return 0;
}

/* Text of v in scratch (for ||, CAST AS STRING). */
static int text_of(struct sel_eval *x, const struct sel_node *n,
		   const struct sel_value *v, struct sel_value *out)
{
	if (v->type == SEL_T_STRING) {
		*out = *v;
		return 0;
	}
	cmn_buf_reset(&x->text);
	if (sel_value_to_text(v, &x->text))
		return ERR(x, n, ColumnTooLong, "value longer than 1 MB");
	char *p = scratch(x, n, x->text.len);
	if (!p)
		return -E2BIG;
	if (x->text.len)
		memcpy(p, x->text.data, x->text.len);
	sel_value_str(out, p, x->text.len);
	return 0;
}

static int ev_concat(struct sel_eval *x, const struct sel_node *n,
		     struct sel_value *out)
{
	struct sel_value a, b, ta, tb;
	int r;
	if ((r = ev(x, n->kids[0], &a)) || (r = ev(x, n->kids[1], &b)))
		return r;
	if (unknown(&a) || unknown(&b)) {
		set_null(out);
		return 0;
	}
	if ((r = text_of(x, n, &a, &ta)) || (r = text_of(x, n, &b, &tb)))
		return r;
	if ((size_t)ta.len + tb.len > SEL_MAX_COLUMN_LEN)
		return ERR(x, n, ColumnTooLong, "string longer than 1 MB");
	char *p = scratch(x, n, (size_t)ta.len + tb.len);
	if (!p)
		return -E2BIG;
	memcpy(p, ta.u.s, ta.len);
	memcpy(p + ta.len, tb.u.s, tb.len);
	sel_value_str(out, p, (size_t)ta.len + tb.len);
	return 0;
}

/* Comparison and logic. */

static int compare(struct sel_eval *x, const struct sel_node *n, int op,
		   const struct sel_value *a, const struct sel_value *b,
		   struct sel_value *out)
{
	if (unknown(a) || unknown(b)) {
		set_null(out);
		return 0;
	}
	out->type = SEL_T_BOOL;
	if (op == SEL_CMP_EQ || op == SEL_CMP_NE) {
		bool eq = sel_value_equal(a, b);
		out->u.b = op == SEL_CMP_EQ ? eq : !eq;
		return 0;
	}
	int c;
	if (sel_value_compare(a, b, &c) < 0)
		return ERR(x, n, InvalidDataType, "cannot compare %s with %s%s",
			   sel_value_type_name(a->type),
			   sel_value_type_name(b->type),
			   (a->type == SEL_T_STRING || b->type == SEL_T_STRING)
				   ? " (CSV fields are strings: use CAST)"
				   : "");
	switch (op) {
	case SEL_CMP_LT:
		out->u.b = c < 0;
		break;
	case SEL_CMP_LE:
		out->u.b = c <= 0;
		break;
	case SEL_CMP_GT:
		out->u.b = c > 0;
		break;
	default:
		out->u.b = c >= 0;
		break;
	}
	return 0;
}

/* The raw bytes of a CSV field a one-step path names, or NULL when the
 * path is not one (the general path then gives NULL or MISSING). */
static const struct sel_field *raw_field(const struct sel_eval *x,
					 const struct sel_node *path)
{
	if (x->format != SEL_FMT_CSV || path->kind != SEL_N_PATH ||
	    (uint32_t)path->first_step + 1 != path->nsteps ||
	    (uint32_t)path->col_index >= x->rec->nfields)
		return NULL;
	return &x->rec->fields[path->col_index];
}

/* The integer a comparison operand a stands for when its raw text says
 * so: a JSON member holding an integer, bare or under CAST AS INT, or a
 * CSV field under CAST AS INT (CSV fields are strings until CAST).
 * Anything else, e.g. " 61" that CAST would trim, takes the general
 * path. */
static bool raw_int_operand(const struct sel_eval *x, const struct sel_node *a,
			    int64_t *v)
{
	bool cast = a->kind == SEL_N_CAST && a->op == SEL_T_INT;
	if (cast)
		a = a->kids[0];
	if (x->format == SEL_FMT_CSV) {
		const struct sel_field *f = cast ? raw_field(x, a) : NULL;
		return f && raw_int(f->p, f->len, v);
	}
	const struct sel_jslot *sl = raw_member(x, a);
	return sl && raw_int(sl->v, sl->vn, v);
}

static bool order(int op, int c)
{
	switch (op) {
	case SEL_CMP_EQ:
		return c == 0;
	case SEL_CMP_NE:
		return c != 0;
	case SEL_CMP_LT:
		return c < 0;
	case SEL_CMP_LE:
		return c <= 0;
	case SEL_CMP_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

/* `operand <op> INT` on raw integers, and `field = 'str'` / `<>` on raw
 * string bytes (a CSV field, or a JSON string member without escapes):
 * the general path would build the same values and compare the same
 * numbers or bytes.  Returns 1 when decided (*out set), 0 otherwise. */
static int cmp_raw(const struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	const struct sel_node *a = n->kids[0], *lit = n->kids[1];
	const char *p = NULL;
	size_t len = 0;
	int64_t v;
	int c;
	if (lit->kind != SEL_N_LIT)
		return 0;
	if (lit->lit.type == SEL_T_INT && raw_int_operand(x, a, &v)) {
		c = v < lit->lit.u.i ? -1 : v > lit->lit.u.i;
	} else if (lit->lit.type == SEL_T_STRING &&
		   (n->op == SEL_CMP_EQ || n->op == SEL_CMP_NE)) {
		const struct sel_field *f = raw_field(x, a);
		const struct sel_jslot *sl = f ? NULL : raw_member(x, a);
		if (f) {
			p = f->p;
			len = f->len;
		} else if (sl && sl->vn >= 2 && sl->v[0] == '"' &&
			   !memchr(sl->v + 1, '\\', sl->vn - 2)) {
			p = sl->v + 1;
			len = sl->vn - 2;
		} else {
			return 0;
		}
		c = !(len == lit->lit.len && memcmp(p, lit->lit.u.s, len) == 0);
	} else {
		return 0;
	}
	out->type = SEL_T_BOOL;
	out->u.b = order(n->op, c);
	return 1;
}

static int ev_cmp(struct sel_eval *x, const struct sel_node *n,
		  struct sel_value *out)
{
	struct sel_value a, b;
	int r;
	if (cmp_raw(x, n, out))
		return 0;
	if ((r = ev(x, n->kids[0], &a)) || (r = ev(x, n->kids[1], &b)))
		return r;
	return compare(x, n, n->op, &a, &b, out);
}

/* Truth of a value: 1 TRUE, 0 FALSE, -1 unknown; errors for non-bools. */
static int truth(struct sel_eval *x, const struct sel_node *n,
		 const struct sel_value *v, int *t)
{
	if (unknown(v)) {
		*t = -1;
		return 0;
	}
	if (v->type != SEL_T_BOOL)
		return ERR(x, n, InvalidDataType,
			   "a condition must be BOOL, not %s",
			   sel_value_type_name(v->type));
	*t = v->u.b;
	return 0;
}

static void set_truth(struct sel_value *out, int t)
{
	if (t < 0) {
		set_null(out);
		return;
	}
	out->type = SEL_T_BOOL;
	out->u.b = t;
}

static int ev_logic(struct sel_eval *x, const struct sel_node *n,
		    struct sel_value *out)
{
	struct sel_value a, b;
	int ta = -1, tb = -1, r;
	if ((r = ev(x, n->kids[0], &a)) || (r = truth(x, n->kids[0], &a, &ta)))
		return r;
	if (n->kind == SEL_N_NOT) {
		set_truth(out, ta < 0 ? -1 : !ta);
		return 0;
	}
	/* Short-circuit: FALSE AND x, TRUE OR x. */
	if ((n->kind == SEL_N_AND && ta == 0) ||
	    (n->kind == SEL_N_OR && ta == 1)) {
		set_truth(out, ta);
		return 0;
	}
	if ((r = ev(x, n->kids[1], &b)) || (r = truth(x, n->kids[1], &b, &tb)))
		return r;
	if (n->kind == SEL_N_AND)
		set_truth(out, tb == 0 ? 0 : (ta < 0 || tb < 0) ? -1 : 1);
	else
		set_truth(out, tb == 1 ? 1 : (ta < 0 || tb < 0) ? -1 : 0);
	return 0;
}

static int ev_between(struct sel_eval *x, const struct sel_node *n,
		      struct sel_value *out)
{
	struct sel_value v, lo, hi, c1, c2;
	int r, t1, t2;
	if ((r = ev(x, n->kids[0], &v)) || (r = ev(x, n->kids[1], &lo)) ||
	    (r = ev(x, n->kids[2], &hi)))
		return r;
	if ((r = compare(x, n, SEL_CMP_GE, &v, &lo, &c1)) ||
	    (r = compare(x, n, SEL_CMP_LE, &v, &hi, &c2)))
		return r;
	t1 = unknown(&c1) ? -1 : c1.u.b;
	t2 = unknown(&c2) ? -1 : c2.u.b;
	int t = (t1 == 0 || t2 == 0) ? 0 : (t1 < 0 || t2 < 0) ? -1 : 1;
	set_truth(out, t < 0 ? -1 : (n->neg ? !t : t));
	return 0;
}

static int in_item(struct sel_eval *x, const struct sel_value *v,
		   const struct sel_value *it, int *t)
{
	if (unknown(it)) {
		if (*t == 0)
			*t = -1;
		return 0;
	}
	if (sel_value_equal(v, it))
		*t = 1;
	return 0;
}

/* IN over a JSON array value (an array-valued path or list literal). */
static int in_json(struct sel_eval *x, const struct sel_node *n,
		   const struct sel_value *v, const struct sel_value *arr,
		   int *t)
{
	size_t it = 0, kn, vn;
	const char *kp, *vp;
	int r;
	while (*t != 1 && (r = sel_json_iter(arr->u.s, arr->len, &it, &kp, &kn,
					     &vp, &vn)) == 1) {
		struct sel_value e;
		if ((r = json_scalar(x, n, vp, vn, &e)))
			return r;
		in_item(x, v, &e, t);
	}
	return 0;
}

static int ev_in(struct sel_eval *x, const struct sel_node *n,
		 struct sel_value *out)
{
	struct sel_value v, it;
	int r, t = 0;
	if ((r = ev(x, n->kids[0], &v)))
		return r;
	if (unknown(&v)) {
		set_null(out);
		return 0;
	}
	const struct sel_node *rhs = n->kids[1];
	if (rhs->kind == SEL_N_LIST) {
		for (uint32_t i = 0; i < rhs->nkids && t != 1; i++) {
			if ((r = ev(x, rhs->kids[i], &it)))
				return r;
			in_item(x, &v, &it, &t);
		}
	} else {
		if ((r = ev(x, rhs, &it)))
			return r;
		if (it.type == SEL_T_JSON && (r = in_json(x, n, &v, &it, &t)))
			return r;
		else if (it.type != SEL_T_JSON)
			in_item(x, &v, &it, &t);
	}
	set_truth(out, t < 0 ? -1 : (n->neg ? !t : t));
	return 0;
}

static int ev_is(struct sel_eval *x, const struct sel_node *n,
		 struct sel_value *out)
{
	struct sel_value v;
	int r = ev(x, n->kids[0], &v);
	if (r)
		return r;
	bool t = n->op == SEL_T_MISSING ? v.type == SEL_T_MISSING : unknown(&v);
	out->type = SEL_T_BOOL;
	out->u.b = n->neg ? !t : t;
	return 0;
}

static int ev_case(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	uint32_t i = 0, end = n->nkids - ((n->flags & 2) ? 1 : 0);
	struct sel_value operand, w;
	int r;
	if (n->flags & 1) {
		if ((r = ev(x, n->kids[0], &operand)))
			return r;
		i = 1;
	}
	for (; i + 1 < end + 1 && i < end; i += 2) {
		if ((r = ev(x, n->kids[i], &w)))
			return r;
		bool hit;
		if (n->flags & 1) {
			hit = !unknown(&operand) && !unknown(&w) &&
			      sel_value_equal(&operand, &w);
		} else {
			int t = -1;
			if ((r = truth(x, n->kids[i], &w, &t)))
				return r;
			hit = t == 1;
		}
		if (hit)
			return ev(x, n->kids[i + 1], out);
	}
	if (n->flags & 2)
		return ev(x, n->kids[n->nkids - 1], out);
	set_null(out);
	return 0;
}

/* LIKE. */

static int compile_like(struct sel_eval *x, const struct sel_node *n,
			const struct sel_value *pat,
			const struct sel_value *esc, struct sel_arena *a,
			struct like **out)
{
	int ec = -1;
	if (esc && !unknown(esc)) {
		if (esc->type != SEL_T_STRING || esc->len != 1)
			return ERR(x, n, LikeInvalidInputs,
				   "the ESCAPE value must be one character");
		ec = (unsigned char)esc->u.s[0];
	}
	struct like *lk = sel_arena_zalloc(a, sizeof(*lk));
	struct like_tok *tk = sel_arena_alloc(a, (pat->len + 1) * sizeof(*tk));
	char *lit = sel_arena_alloc(a, pat->len + 1);
	if (!lk || !tk || !lit)
		return ERR(x, n, OverMaxRecordSize, "LIKE pattern too long");
	size_t nt = 0, nl = 0;
	int nany = 0, none = 0;
	bool any_first = false, any_last = false;
	for (uint32_t i = 0; i < pat->len; i++) {
		unsigned char c = (unsigned char)pat->u.s[i];
		if ((int)c == ec) {
			if (i + 1 >= pat->len ||
			    !(pat->u.s[i + 1] == '%' ||
			      pat->u.s[i + 1] == '_' ||
			      (unsigned char)pat->u.s[i + 1] == ec))
				return ERR(x, n, LikeInvalidInputs,
					   "the escape character must be "
					   "followed by %%, _ or itself");
			tk[nt].t = LT_LIT;
			tk[nt++].c = pat->u.s[++i];
			lit[nl++] = pat->u.s[i];
		} else if (c == '%') {
			if (nt && tk[nt - 1].t == LT_ANY)
				continue;
			if (nt == 0)
				any_first = true;
			tk[nt++].t = LT_ANY;
			nany++;
		} else if (c == '_') {
			tk[nt++].t = LT_ONE;
			none++;
		} else {
			tk[nt].t = LT_LIT;
			tk[nt++].c = (char)c;
			lit[nl++] = (char)c;
		}
	}
	any_last = nt && tk[nt - 1].t == LT_ANY;
	lk->tok = tk;
	lk->ntok = nt;
	lk->lit = lit;
	lk->litlen = nl;
	lk->shape = LK_GENERIC;
	if (none == 0) {
		if (nany == 0)
			lk->shape = LK_EXACT;
		else if (nany == 1 && any_last && !any_first)
			lk->shape = LK_PREFIX;
		else if (nany == 1 && any_first && !any_last)
			lk->shape = LK_SUFFIX;
		else if (nany == 1)
			lk->shape = LK_ANY;
		else if (nany == 2 && any_first && any_last)
			lk->shape = LK_CONTAINS;
	}
	*out = lk;
	return 0;
}

static size_t utf8_len(const char *s, size_t i, size_t n)
{
	unsigned char c = (unsigned char)s[i];
	size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	return i + l <= n ? l : n - i;
}

/* Where tokens tok[0..nt) matched at s[i..] end, or SIZE_MAX: a literal
 * is one byte, '_' one UTF-8 character (utf8_len). */
static size_t like_at(const struct like_tok *tok, size_t nt, const char *s,
		      size_t i, size_t n)
{
	for (size_t t = 0; t < nt; t++) {
		if (i >= n)
			return SIZE_MAX;
		if (tok[t].t == LT_ONE)
			i += utf8_len(s, i, n);
		else if (tok[t].c == s[i])
			i++;
		else
			return SIZE_MAX;
	}
	return i;
}

/* The leftmost place at or after character position *i where the segment
 * tok[0..nt) (no '%' in it) matches, candidates stepped a character at a
 * time from *i; *i becomes where that match starts and the return value
 * where it ends, or SIZE_MAX.  A segment of literals only is looked for
 * with memmem(), the cursor following it: linear in n. */
static size_t like_find(const struct like_tok *tok, size_t nt,
			const char *lit, size_t nlit, const char *s, size_t *i,
			size_t n)
{
	size_t c = *i;
	while (c <= n) {
		if (nlit == nt) { /* literals only: jump to the next one */
			const char *m = memmem(s + c, n - c, lit, nlit);
			if (!m)
				return SIZE_MAX;
			size_t at = (size_t)(m - s);
			while (c < at) /* the candidates are characters */
				c += utf8_len(s, c, n);
			if (c != at)
				continue; /* m is inside a character */
		}
		size_t e = like_at(tok, nt, s, c, n);
		if (e != SIZE_MAX) {
			*i = c;
			return e;
		}
		if (c == n)
			break;
		c += utf8_len(s, c, n);
	}
	return SIZE_MAX;
}

/* Wildcard match by segments (the runs of tokens between '%'s): the first
 * anchored at the start, each middle one at its leftmost place after the
 * one before (the leftmost leaves the most room for what follows, so
 * nothing is tried twice), the last anchored at the end.  A pattern of
 * literal segments costs a few passes over the value, whatever its
 * length; '_' in a segment makes that segment's search O(n·len).  (The
 * textbook loop that backtracks to the last '%' is O(n·m): a 40 KB
 * pattern took 30 s per 1 MB value.)  A segment's literals are a slice of
 * lk->lit, which holds them all in token order. */
static bool like_generic(const struct like *lk, const char *s, size_t n)
{
	const struct like_tok *tok = lk->tok;
	size_t nt = lk->ntok, t = 0, lit = 0;
	while (t < nt && tok[t].t != LT_ANY)
		lit += tok[t++].t == LT_LIT;
	size_t pos = like_at(tok, t, s, 0, n);
	if (t == nt || pos == SIZE_MAX)
		return pos == n;
	size_t last = nt; /* the tail: tok[last .. nt), after the last '%' */
	while (tok[last - 1].t != LT_ANY)
		last--;
	while (t + 1 < last) { /* a middle segment: tok[b .. next '%') */
		size_t b = ++t, nlit = 0;
		for (; tok[t].t != LT_ANY; t++)
			nlit += tok[t].t == LT_LIT;
		pos = like_find(tok + b, t - b, lk->lit + lit, nlit, s, &pos,
				n);
		if (pos == SIZE_MAX)
			return false;
		lit += nlit;
	}
	size_t ntail = nt - last, tail_lit = lk->litlen - lit;
	/* Literals only: the tail is its bytes, at n - ntail, if that is one
	 * of the candidate characters. */
	size_t c = pos;
	if (tail_lit == ntail) {
		if (n - pos < ntail)
			return false;
		while (c < n - ntail)
			c += utf8_len(s, c, n);
		return c == n - ntail && like_at(tok + last, ntail, s, c, n) == n;
	}
	for (;;) {
		if (like_at(tok + last, ntail, s, c, n) == n)
			return true;
		if (c == n)
			return false;
		c += utf8_len(s, c, n);
	}
}

static bool like_match(const struct like *lk, const char *s, size_t n)
{
	switch (lk->shape) {
	case LK_EXACT:
		return n == lk->litlen && memcmp(s, lk->lit, n) == 0;
	case LK_PREFIX:
		return n >= lk->litlen && memcmp(s, lk->lit, lk->litlen) == 0;
	case LK_SUFFIX:
		return n >= lk->litlen &&
		       memcmp(s + n - lk->litlen, lk->lit, lk->litlen) == 0;
	case LK_CONTAINS:
		return lk->litlen == 0 || memmem(s, n, lk->lit, lk->litlen);
	default:
		return like_generic(lk, s, n);
	}
}

/* LIKE 'lit%' on a top-level JSON member the reader resolved, decided on
 * the raw bytes: unescaping only shortens a string, so when the raw text
 * holds no backslash within the first litlen bytes those bytes are the
 * string's own.  Returns 1 when decided (*m set), 0 to take the general
 * path (not a string, MISSING, ambiguous, or an escape in the prefix). */
static int like_raw_prefix(const struct sel_eval *x, const struct like *lk,
			   const struct sel_node *path, bool *m)
{
	const struct sel_jslot *sl =
		lk->shape == LK_PREFIX ? raw_member(x, path) : NULL;
	if (!sl || sl->vn < 2 || sl->v[0] != '"')
		return 0;
	const char *body = sl->v + 1;
	size_t bn = sl->vn - 2;
	if (bn < lk->litlen) {
		*m = false;
		return 1;
	}
	if (memchr(body, '\\', lk->litlen))
		return 0;
	*m = memcmp(body, lk->lit, lk->litlen) == 0;
	return 1;
}

static int ev_like(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	struct sel_value v, pat, esc;
	bool raw;
	int r;
	if (n->aux && like_raw_prefix(x, n->aux, n->kids[0], &raw)) {
		out->type = SEL_T_BOOL;
		out->u.b = n->neg ? !raw : raw;
		return 0;
	}
	if ((r = ev(x, n->kids[0], &v)))
		return r;
	const struct like *lk = n->aux;
	if (!lk) {
		if ((r = ev(x, n->kids[1], &pat)))
			return r;
		esc.type = SEL_T_NULL;
		if (n->nkids > 2 && (r = ev(x, n->kids[2], &esc)))
			return r;
		if (unknown(&pat) || unknown(&v)) {
			set_null(out);
			return 0;
		}
		if (pat.type != SEL_T_STRING)
			return ERR(x, n, LikeInvalidInputs,
				   "the LIKE pattern must be a string");
		struct like *dyn;
		if ((r = compile_like(x, n, &pat, n->nkids > 2 ? &esc : NULL,
				      &x->scratch, &dyn)))
			return r;
		lk = dyn;
	}
	if (unknown(&v)) {
		set_null(out);
		return 0;
	}
	if (v.type != SEL_T_STRING)
		return ERR(x, n, LikeInvalidInputs,
			   "LIKE needs a string, not %s",
			   sel_value_type_name(v.type));
	bool m = like_match(lk, v.u.s, v.len);
	out->type = SEL_T_BOOL;
	out->u.b = n->neg ? !m : m;
	return 0;
}

/* CAST. */

static int cast_fail(struct sel_eval *x, const struct sel_node *n,
		     const struct sel_value *v, int type)
{
	if (v->type == SEL_T_STRING)
		return ERR(x, n, CastFailed, "cannot cast '%.*s' to %s",
			   (int)(v->len > 64 ? 64 : v->len), v->u.s,
			   sel_value_type_name(type));
	return ERR(x, n, CastFailed, "cannot cast %s to %s",
		   sel_value_type_name(v->type), sel_value_type_name(type));
}

static int cast_num(struct sel_eval *x, const struct sel_node *n,
		    const struct sel_value *v, int type, struct sel_value *out)
{
	double f = 0;
	int64_t i = 0;
	bool is_int = false;
	if (v->type == SEL_T_STRING) {
		if (sel_value_parse_num(v->u.s, v->len, &f, &i, &is_int))
			return cast_fail(x, n, v, type);
	} else if (v->type == SEL_T_INT) {
		i = v->u.i;
		f = (double)i;
		is_int = true;
	} else if (v->type == SEL_T_FLOAT || v->type == SEL_T_DECIMAL) {
		f = v->u.f;
	} else if (v->type == SEL_T_BOOL) {
		i = v->u.b;
		f = (double)i;
		is_int = true;
	} else {
		return cast_fail(x, n, v, type);
	}
	out->type = (uint8_t)type;
	if (type != SEL_T_INT) {
		out->u.f = f;
		return 0;
	}
	if (!is_int) {
		/* [-2^63, 2^63): beyond it the conversion is undefined (and
		 * NaN fails both tests). */
		if (!(f >= -0x1p63 && f < 0x1p63))
			return ERR(x, n, IntegerOverflow,
				   "value out of the INT range");
		i = (int64_t)f;
	}
	out->u.i = i;
	return 0;
}

static int cast_to(struct sel_eval *x, const struct sel_node *n,
		   const struct sel_value *v, int type, struct sel_value *out)
{
	if (unknown(v)) {
		*out = *v;
		return 0;
	}
	switch (type) {
	case SEL_T_INT:
	case SEL_T_FLOAT:
	case SEL_T_DECIMAL:
		return cast_num(x, n, v, type, out);
	case SEL_T_STRING:
		return text_of(x, n, v, out);
	case SEL_T_BOOL:
		out->type = SEL_T_BOOL;
		if (v->type == SEL_T_BOOL) {
			out->u.b = v->u.b;
		} else if (v->type == SEL_T_STRING && v->len == 4 &&
			   strncasecmp(v->u.s, "true", 4) == 0) {
			out->u.b = true;
		} else if (v->type == SEL_T_STRING && v->len == 5 &&
			   strncasecmp(v->u.s, "false", 5) == 0) {
			out->u.b = false;
		} else if (sel_value_is_num(v)) {
			out->u.b = sel_value_as_double(v) != 0;
		} else {
			return cast_fail(x, n, v, type);
		}
		return 0;
	case SEL_T_TIMESTAMP:
		if (v->type == SEL_T_TIMESTAMP) {
			*out = *v;
			return 0;
		}
		if (v->type != SEL_T_STRING ||
		    sel_time_parse(v->u.s, v->len, &out->u.ts))
			return cast_fail(x, n, v, type);
		out->type = SEL_T_TIMESTAMP;
		return 0;
	}
	return cast_fail(x, n, v, type);
}

/* Functions. */

static int arg_type(struct sel_eval *x, const struct sel_node *n,
		    const struct sel_value *v, int type)
{
	if (v->type == type || (type == SEL_T_INT && v->type == SEL_T_INT))
		return 0;
	return ERR(x, n, IncorrectSqlFunctionArgumentType,
		   "%s expects %s, not %s", sel_parser_fn_name(n->op),
		   sel_value_type_name(type), sel_value_type_name(v->type));
}

static size_t char_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* Byte offset of character ci (0-based) in s[0..n). */
static size_t char_off(const char *s, size_t n, int64_t ci)
{
	size_t i = 0;
	while (ci > 0 && i < n) {
		i += utf8_len(s, i, n);
		ci--;
	}
	return i;
}

static int fn_substring(struct sel_eval *x, const struct sel_node *n,
			const struct sel_value *a, struct sel_value *out)
{
	if (unknown(&a[0]) || unknown(&a[1]) ||
	    (n->nkids > 2 && unknown(&a[2]))) {
		set_null(out);
		return 0;
	}
	int r;
	if ((r = arg_type(x, n, &a[0], SEL_T_STRING)) ||
	    (r = arg_type(x, n, &a[1], SEL_T_INT)) ||
	    (n->nkids > 2 && (r = arg_type(x, n, &a[2], SEL_T_INT))))
		return r;
	int64_t start = a[1].u.i, len = n->nkids > 2 ? a[2].u.i : INT64_MAX;
	if (len < 0)
		return ERR(x, n, IllegalSqlFunctionArgument,
			   "SUBSTRING length must not be negative");
	int64_t first = start < 1 ? 1 : start;
	int64_t last = INT64_MAX; /* exclusive, 1-based */
	if (len != INT64_MAX && !__builtin_add_overflow(start, len, &last))
		;
	else if (len != INT64_MAX)
		last = INT64_MAX;
	size_t chars = char_count(a[0].u.s, a[0].len);
	if (last <= first || first > (int64_t)chars) {
		sel_value_str(out, a[0].u.s, 0);
		return 0;
	}
	size_t b0 = char_off(a[0].u.s, a[0].len, first - 1);
	size_t b1 = last - 1 >= (int64_t)chars
			    ? a[0].len
			    : char_off(a[0].u.s, a[0].len, last - 1);
	sel_value_str(out, a[0].u.s + b0, b1 - b0);
	return 0;
}

/* Is the character c[0..cl) one of set's characters (whole UTF-8
 * characters, so trimming 'é' never cuts the lead byte of 'è')? */
static bool in_char_set(const char *set, size_t nset, const char *c,
			size_t cl)
{
	for (size_t i = 0; i < nset;) {
		size_t l = utf8_len(set, i, nset);
		if (l == cl && memcmp(set + i, c, cl) == 0)
			return true;
		i += l;
	}
	return false;
}

/* Where the character that ends s[0..e) starts: back over continuation
 * bytes, at most three, not before b. */
static size_t last_char(const char *s, size_t b, size_t e)
{
	size_t i = e - 1;
	while (i > b && e - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

static int fn_trim(struct sel_eval *x, const struct sel_node *n,
		   const struct sel_value *a, struct sel_value *out)
{
	const char *set = " ";
	size_t nset = 1;
	int r;
	if (unknown(&a[0]) || (n->nkids > 1 && unknown(&a[1]))) {
		set_null(out);
		return 0;
	}
	if ((r = arg_type(x, n, &a[0], SEL_T_STRING)))
		return r;
	if (n->nkids > 1) {
		if ((r = arg_type(x, n, &a[1], SEL_T_STRING)))
			return r;
		set = a[1].u.s;
		nset = a[1].len;
	}
	const char *s = a[0].u.s;
	size_t b = 0, e = a[0].len;
	if (n->flags != SEL_TRIM_TRAILING) {
		while (b < e) {
			size_t l = utf8_len(s, b, e);
			if (!in_char_set(set, nset, s + b, l))
				break;
			b += l;
		}
	}
	if (n->flags != SEL_TRIM_LEADING) {
		while (e > b) {
			size_t c = last_char(s, b, e);
			if (!in_char_set(set, nset, s + c, e - c))
				break;
			e = c;
		}
	}
	sel_value_str(out, s + b, e - b);
	return 0;
}

static int fn_case(struct sel_eval *x, const struct sel_node *n,
		   const struct sel_value *a, struct sel_value *out)
{
	if (unknown(&a[0])) {
		set_null(out);
		return 0;
	}
	int r = arg_type(x, n, &a[0], SEL_T_STRING);
	if (r)
		return r;
	/* Mapping can change a character's length ('ı' is 2 bytes, its
	 * upper case 'I' one; 'Ⱥ' 2, its lower case 3): room for the
	 * longest outcome. */
	char *p = scratch(x, n, (size_t)a[0].len + a[0].len / 2);
	if (!p)
		return -E2BIG;
	size_t len =
		sel_value_case(a[0].u.s, a[0].len, n->op == SEL_FN_UPPER, p);
	sel_value_str(out, p, len);
	return 0;
}

/* A timestamp argument: TIMESTAMP, or a string in timestamp form. */
static int ts_arg(struct sel_eval *x, const struct sel_node *n,
		  const struct sel_value *v, struct sel_ts *ts)
{
	if (v->type == SEL_T_TIMESTAMP) {
		*ts = v->u.ts;
		return 0;
	}
	if (v->type == SEL_T_STRING && sel_time_parse(v->u.s, v->len, ts) == 0)
		return 0;
	return arg_type(x, n, v, SEL_T_TIMESTAMP);
}

static int fn_to_string(struct sel_eval *x, const struct sel_node *n,
			const struct sel_value *a, struct sel_value *out)
{
	struct sel_ts ts;
	int r;
	if (unknown(&a[0]) || unknown(&a[1])) {
		set_null(out);
		return 0;
	}
	if ((r = ts_arg(x, n, &a[0], &ts)) ||
	    (r = arg_type(x, n, &a[1], SEL_T_STRING)))
		return r;
	if (a[1].len > SEL_MAX_PATTERN)
		return ERR(x, n, EvaluatorInvalidTimestampFormatPattern,
			   "timestamp format pattern too long");
	size_t bad = 0;
	cmn_buf_reset(&x->text);
	r = sel_time_to_string(&ts, a[1].u.s, a[1].len, &x->text, &bad);
	if (r == -ENOENT)
		return ERR(x, n,
			   EvaluatorUnterminatedTimestampFormatPatternToken,
			   "unterminated quoted text in pattern '%.*s'",
			   (int)a[1].len, a[1].u.s);
	if (r == -EINVAL)
		return ERR(x, n, EvaluatorInvalidTimestampFormatPatternSymbol,
			   "invalid symbol '%c' in timestamp pattern '%.*s'",
			   a[1].u.s[bad], (int)a[1].len, a[1].u.s);
	if (r)
		return ERR(x, n, EvaluatorInvalidTimestampFormatPattern,
			   "timestamp pattern output too long");
	struct sel_value t;
	sel_value_str(&t, x->text.data ? x->text.data : "", x->text.len);
	char *p = scratch(x, n, t.len);
	if (!p)
		return -E2BIG;
	memcpy(p, t.u.s, t.len);
	sel_value_str(out, p, t.len);
	return 0;
}

static int fn_dates(struct sel_eval *x, const struct sel_node *n,
		    const struct sel_value *a, struct sel_value *out)
{
	struct sel_ts t1, t2;
	int r;
	for (uint32_t i = 0; i < n->nkids; i++)
		if (unknown(&a[i])) {
			set_null(out);
			return 0;
		}
	switch (n->op) {
	case SEL_FN_DATE_ADD:
		if ((r = arg_type(x, n, &a[0], SEL_T_INT)) ||
		    (r = ts_arg(x, n, &a[1], &t1)))
			return r;
		if (sel_time_add(&t1, n->flags, a[0].u.i))
			return ERR(x, n, IntegerOverflow,
				   "DATE_ADD result out of range");
		out->type = SEL_T_TIMESTAMP;
		out->u.ts = t1;
		return 0;
	case SEL_FN_DATE_DIFF:
		if ((r = ts_arg(x, n, &a[0], &t1)) ||
		    (r = ts_arg(x, n, &a[1], &t2)))
			return r;
		out->type = SEL_T_INT;
		out->u.i = sel_time_diff(n->flags, &t1, &t2);
		return 0;
	case SEL_FN_EXTRACT:
		if ((r = ts_arg(x, n, &a[0], &t1)))
			return r;
		if (t1.prec < SEL_TS_MINUTE && n->flags >= SEL_DP_HOUR)
			return ERR(x, n, IllegalSqlFunctionArgument,
				   "the timestamp has no time part");
		out->type = SEL_T_INT;
		out->u.i = sel_time_extract(n->flags, &t1);
		return 0;
	case SEL_FN_TO_TIMESTAMP:
		if ((r = arg_type(x, n, &a[0], SEL_T_STRING)))
			return r;
		if (sel_time_parse(a[0].u.s, a[0].len, &out->u.ts))
			return cast_fail(x, n, &a[0], SEL_T_TIMESTAMP);
		out->type = SEL_T_TIMESTAMP;
		return 0;
	default:
		out->type = SEL_T_TIMESTAMP;
		sel_time_now(&out->u.ts);
		return 0;
	}
}

static int ev_func(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	struct sel_value a[3] = {{0}};
	int r;
	if (n->op == SEL_FN_COALESCE) {
		for (uint32_t i = 0; i < n->nkids; i++) {
			if ((r = ev(x, n->kids[i], out)))
				return r;
			if (!unknown(out))
				return 0;
		}
		set_null(out);
		return 0;
	}
	for (uint32_t i = 0; i < n->nkids && i < 3; i++)
		if ((r = ev(x, n->kids[i], &a[i])))
			return r;
	switch (n->op) {
	case SEL_FN_NULLIF:
		if (unknown(&a[0]) || unknown(&a[1])) {
			if (unknown(&a[0]))
				set_null(out);
			else
				*out = a[0];
			return 0;
		}
		if (sel_value_equal(&a[0], &a[1]))
			set_null(out);
		else
			*out = a[0];
		return 0;
	case SEL_FN_CHAR_LENGTH:
		if (unknown(&a[0])) {
			set_null(out);
			return 0;
		}
		if ((r = arg_type(x, n, &a[0], SEL_T_STRING)))
			return r;
		out->type = SEL_T_INT;
		out->u.i = (int64_t)char_count(a[0].u.s, a[0].len);
		return 0;
	case SEL_FN_LOWER:
	case SEL_FN_UPPER:
		return fn_case(x, n, a, out);
	case SEL_FN_SUBSTRING:
		return fn_substring(x, n, a, out);
	case SEL_FN_TRIM:
		return fn_trim(x, n, a, out);
	case SEL_FN_TO_STRING:
		return fn_to_string(x, n, a, out);
	default:
		return fn_dates(x, n, a, out);
	}
}

/* Aggregates. */

/* The sum of every INT, FLOAT and DECIMAL value of g, rounded once. */
static double exact_sum(const struct sel_agg *g)
{
	struct sel_sum t = g->fsum;
	sel_sum_add_int(&t, g->psum);
	return sel_sum_value(&t);
}

/* Can the argument of SUM only be an INT (or unknown)?  Then an INT
 * overflow is final when it happens, and fails the query at that record,
 * before the errors of later ones; otherwise a later FLOAT could still
 * make the sum a FLOAT. */
static bool int_typed(const struct sel_node *n)
{
	switch (n->kind) {
	case SEL_N_CAST:
		return n->op == SEL_T_INT;
	case SEL_N_LIT:
		return n->lit.type == SEL_T_INT;
	case SEL_N_NEG:
		return int_typed(n->kids[0]);
	case SEL_N_ARITH:
		return int_typed(n->kids[0]) && int_typed(n->kids[1]);
	default:
		return false;
	}
}

static int agg_value(struct sel_eval *x, const struct sel_node *n,
		     struct sel_value *out)
{
	if (!x->aggregate || n->slot < 0 || !x->aggs)
		return ERR(x, n, InvalidQuery, "misplaced aggregate function");
	const struct sel_agg *g = &x->aggs[n->slot];
	switch (n->op) {
	case SEL_FN_COUNT:
		out->type = SEL_T_INT;
		out->u.i = g->count;
		return 0;
	case SEL_FN_SUM:
		if (g->has_float || g->has_dec) {
			out->type = g->has_float ? SEL_T_FLOAT : SEL_T_DECIMAL;
			out->u.f = exact_sum(g);
		} else if (g->ioverflow) {
			return ERR(x, n, IntegerOverflow,
				   "SUM overflowed the INT range");
		} else {
			out->type = SEL_T_INT;
			out->u.i = g->isum;
		}
		return 0;
	case SEL_FN_AVG:
		/* AVG of INTs is a DECIMAL: the sum is exact (128 bits) and
		 * never overflows. */
		if (g->count == 0) {
			set_null(out);
			return 0;
		}
		out->type = g->has_float ? SEL_T_FLOAT : SEL_T_DECIMAL;
		out->u.f = exact_sum(g) / (double)g->count;
		return 0;
	default:
		if (!g->any)
			set_null(out);
		else
			*out = g->best;
		return 0;
	}
}

static int agg_keep(struct sel_eval *x, const struct sel_node *n,
		    struct sel_agg *g, const struct sel_value *v)
{
	g->best = *v;
	g->any = true;
	if (v->type != SEL_T_STRING && v->type != SEL_T_JSON)
		return 0;
	cmn_buf_reset(&g->keep);
	if (cmn_buf_add(&g->keep, v->u.s, v->len))
		return ERR(x, n, ColumnTooLong, "value longer than 1 MB");
	g->best.u.s = g->keep.data ? g->keep.data : "";
	return 0;
}

/* An INT added in partial mode: no overflow is possible in 128 bits
 * (fewer than 2^63 records), and the extremes of the running sum tell the
 * merge whether some prefix would leave the INT range. */
static void sum_partial(struct sel_agg *g, int64_t v)
{
	g->has_int = true;
	g->psum += v;
	if (g->psum > g->pmax)
		g->pmax = g->psum;
	if (g->psum < g->pmin)
		g->pmin = g->psum;
}

static int agg_update(struct sel_eval *x, const struct sel_node *n,
		      struct sel_agg *g)
{
	struct sel_value v;
	int r, c;
	if (n->op == SEL_FN_COUNT && n->flags == 1) {
		g->count++;
		return 0;
	}
	if ((r = ev(x, n->kids[0], &v)))
		return r;
	if (unknown(&v))
		return 0;
	switch (n->op) {
	case SEL_FN_COUNT:
		g->count++;
		return 0;
	case SEL_FN_SUM:
	case SEL_FN_AVG:
		if (!sel_value_is_num(&v))
			return ERR(x, n, InvalidDataType,
				   "%s needs numbers, not %s%s",
				   sel_parser_fn_name(n->op),
				   sel_value_type_name(v.type),
				   v.type == SEL_T_STRING
					   ? " (CSV fields are strings: use "
					     "CAST)"
					   : "");
		g->count++;
		if (v.type != SEL_T_INT) {
			sel_sum_add(&g->fsum, v.u.f);
			g->has_float |= v.type == SEL_T_FLOAT;
			g->has_dec |= v.type == SEL_T_DECIMAL;
		} else if (x->partial) {
			sum_partial(g, v.u.i);
		} else {
			g->has_int = true;
			g->psum += v.u.i;
			if (n->op == SEL_FN_SUM && !g->ioverflow &&
			    __builtin_add_overflow(g->isum, v.u.i, &g->isum)) {
				if (int_typed(n->kids[0]))
					return ERR(x, n, IntegerOverflow,
						   "SUM overflowed the INT "
						   "range");
				g->ioverflow = true;
			}
		}
		return 0;
	default:
		g->types |= 1u << v.type;
		g->nan |= (v.type == SEL_T_FLOAT || v.type == SEL_T_DECIMAL) &&
			  isnan(v.u.f);
		if (!g->any)
			return agg_keep(x, n, g, &v);
		if (sel_value_compare(&v, &g->best, &c) < 0)
			return ERR(x, n, InvalidDataType,
				   "%s over mixed types %s and %s",
				   sel_parser_fn_name(n->op),
				   sel_value_type_name(v.type),
				   sel_value_type_name(g->best.type));
		if ((n->op == SEL_FN_MIN && c < 0) ||
		    (n->op == SEL_FN_MAX && c > 0))
			return agg_keep(x, n, g, &v);
		return 0;
	}
}

bool sel_eval_counts_only(const struct sel_eval *x)
{
	if (!x->aggregate || x->st->where)
		return false;
	for (int i = 0; i < x->nagg; i++)
		if (x->agg_nodes[i]->op != SEL_FN_COUNT ||
		    x->agg_nodes[i]->flags != 1)
			return false;
	return true;
}

void sel_eval_add_count(struct sel_eval *x, int64_t n)
{
	for (int i = 0; i < x->nagg; i++)
		x->aggs[i].count += n;
}

int sel_eval_accumulate(struct sel_eval *x)
{
	for (int i = 0; i < x->nagg; i++) {
		int r = agg_update(x, x->agg_nodes[i], &x->aggs[i]);
		if (r)
			return r;
	}
	return 0;
}

/* Partial aggregates of a parallel run. */

static int new_aggs(int n, struct sel_agg **out)
{
	struct sel_agg *a = calloc((size_t)(n ? n : 1), sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		cmn_buf_init(&a[i].keep, SEL_MAX_COLUMN_LEN);
	*out = a;
	return 0;
}

void sel_eval_aggs_free(struct sel_agg *a, int n)
{
	for (int i = 0; a && i < n; i++)
		cmn_buf_free(&a[i].keep);
	free(a);
}

int sel_eval_aggs_take(struct sel_eval *x, struct sel_agg **out)
{
	struct sel_agg *fresh;
	if (new_aggs(x->nagg, &fresh))
		return -ENOMEM;
	*out = x->aggs;
	x->aggs = fresh;
	return 0;
}

/* Can part be folded into g as if its records had followed g's?  Not
 * when an INT sum would have left the range at some record, and not for
 * MIN/MAX over more than one type or over NaN, where comparisons are not
 * a total order and the result could depend on the order. */
static bool merge_exact(const struct sel_agg *g, const struct sel_agg *p,
			int fn)
{
	if (fn == SEL_FN_SUM) {
		/* Once overflowed, isum is no longer looked at. */
		__int128 base = g->isum;
		return !p->has_int || g->ioverflow ||
		       (base + p->pmax <= INT64_MAX &&
			base + p->pmin >= INT64_MIN);
	}
	if (fn == SEL_FN_MIN || fn == SEL_FN_MAX) {
		uint32_t t = g->types | p->types;
		return !g->nan && !p->nan && (t & (t - 1)) == 0;
	}
	return true;
}

int sel_eval_merge(struct sel_eval *x, const struct sel_agg *part)
{
	for (int i = 0; i < x->nagg; i++)
		if (!merge_exact(&x->aggs[i], &part[i], x->agg_nodes[i]->op))
			return 1;
	for (int i = 0; i < x->nagg; i++) {
		struct sel_agg *g = &x->aggs[i];
		const struct sel_agg *p = &part[i];
		const struct sel_node *n = x->agg_nodes[i];
		int c, r;
		g->count += p->count;
		/* merge_exact: a SUM's isum stays in range (AVG has none). */
		if (n->op == SEL_FN_SUM && !g->ioverflow)
			g->isum += (int64_t)p->psum;
		g->psum += p->psum;
		g->has_int |= p->has_int;
		sel_sum_merge(&g->fsum, &p->fsum);
		g->has_float |= p->has_float;
		g->has_dec |= p->has_dec;
		g->types |= p->types;
		if (!p->any)
			continue;
		/* Ties keep the earlier value, as the record loop does. */
		if (g->any && (sel_value_compare(&p->best, &g->best, &c) < 0 ||
			       !((n->op == SEL_FN_MIN && c < 0) ||
				 (n->op == SEL_FN_MAX && c > 0))))
			continue;
		if ((r = agg_keep(x, n, g, &p->best)))
			return r;
	}
	return 0;
}

/* The interpreter loop: one case per node kind. */
static int ev(struct sel_eval *x, const struct sel_node *n,
	      struct sel_value *out)
{
	switch (n->kind) {
	case SEL_N_LIT:
		*out = n->lit;
		return 0;
	case SEL_N_PATH:
		return ev_path(x, n, out);
	case SEL_N_NEG:
		return ev_neg(x, n, out);
	case SEL_N_ARITH:
		return ev_arith(x, n, out);
	case SEL_N_CONCAT:
		return ev_concat(x, n, out);
	case SEL_N_CMP:
		return ev_cmp(x, n, out);
	case SEL_N_AND:
	case SEL_N_OR:
	case SEL_N_NOT:
		return ev_logic(x, n, out);
	case SEL_N_LIKE:
		return ev_like(x, n, out);
	case SEL_N_BETWEEN:
		return ev_between(x, n, out);
	case SEL_N_IN:
		return ev_in(x, n, out);
	case SEL_N_IS:
		return ev_is(x, n, out);
	case SEL_N_CASE:
		return ev_case(x, n, out);
	case SEL_N_CAST: {
		struct sel_value v;
		int r = ev(x, n->kids[0], &v);
		return r ? r : cast_to(x, n, &v, n->op, out);
	}
	case SEL_N_FUNC:
		return ev_func(x, n, out);
	case SEL_N_AGG:
		return agg_value(x, n, out);
	case SEL_N_LIST:
		return ev_list(x, n, out);
	}
	return ERR(x, n, InternalError, "unknown node");
}

/* A list literal [a, b] evaluates to the JSON text of its items. */
static int ev_list(struct sel_eval *x, const struct sel_node *n,
		   struct sel_value *out)
{
	struct cmn_buf b;
	int r = 0;
	cmn_buf_init(&b, SEL_MAX_COLUMN_LEN);
	r = cmn_buf_addc(&b, '[');
	for (uint32_t i = 0; i < n->nkids && r == 0; i++) {
		struct sel_value v;
		if ((r = ev(x, n->kids[i], &v)))
			goto out;
		if (i)
			r = cmn_buf_addc(&b, ',');
		if (r == 0)
			r = sel_value_to_json(&v, &b);
	}
	if (r == 0)
		r = cmn_buf_addc(&b, ']');
	if (r) {
		r = ERR(x, n, ColumnTooLong, "list longer than 1 MB");
		goto out;
	}
	char *p = scratch(x, n, b.len);
	if (!p) {
		r = -E2BIG;
		goto out;
	}
	memcpy(p, b.data, b.len);
	out->type = SEL_T_JSON;
	out->u.s = p;
	out->len = (uint32_t)b.len;
out:
	cmn_buf_free(&b);
	return r;
}

/* Compiled WHERE shapes: `path = 'str'` / `<>`, `[CAST(]path[ AS INT)]
 * <op> INT` and `path [NOT] LIKE 'prefix%'`, path being a CSV column or a
 * top-level JSON member the reader resolves.  They decide on the raw bytes
 * exactly as cmp_raw and like_raw_prefix do, without walking the tree. */
enum { WF_NONE, WF_STR, WF_INT, WF_PREFIX };

/* A path of one step the raw fast paths serve. */
static bool raw_path(const struct sel_eval *x, const struct sel_node *p)
{
	return p->kind == SEL_N_PATH && p->col_index >= 0 &&
	       (uint32_t)p->first_step + 1 == p->nsteps &&
	       (x->format == SEL_FMT_CSV || x->format == SEL_FMT_JSON);
}

static void compile_where(struct sel_eval *x, const struct sel_node *w)
{
	memset(&x->wf, 0, sizeof(x->wf));
	if (!w)
		return;
	if (w->kind == SEL_N_CMP && w->kids[1]->kind == SEL_N_LIT) {
		const struct sel_node *a = w->kids[0];
		const struct sel_value *lit = &w->kids[1]->lit;
		bool cast = a->kind == SEL_N_CAST && a->op == SEL_T_INT;
		/* A backslash in the literal could equal an escape's raw
		 * bytes in a JSON string: such literals take the tree. */
		if (lit->type == SEL_T_STRING && raw_path(x, a) &&
		    (w->op == SEL_CMP_EQ || w->op == SEL_CMP_NE) &&
		    !(x->format == SEL_FMT_JSON &&
		      memchr(lit->u.s, '\\', lit->len))) {
			x->wf.kind = WF_STR;
			x->wf.lit = lit->u.s;
			x->wf.litlen = lit->len;
		} else if (lit->type == SEL_T_INT &&
			   raw_path(x, cast ? a->kids[0] : a) &&
			   (cast || x->format == SEL_FMT_JSON)) {
			x->wf.kind = WF_INT;
			x->wf.ival = lit->u.i;
			a = cast ? a->kids[0] : a;
		} else {
			return;
		}
		x->wf.op = (uint8_t)w->op;
		x->wf.col = a->col_index;
		return;
	}
	const struct like *lk = w->kind == SEL_N_LIKE ? w->aux : NULL;
	if (lk && lk->shape == LK_PREFIX && raw_path(x, w->kids[0])) {
		x->wf.kind = WF_PREFIX;
		x->wf.neg = w->neg;
		x->wf.col = w->kids[0]->col_index;
		x->wf.lit = lk->lit;
		x->wf.litlen = (uint32_t)lk->litlen;
	}
}

/* p[0..n) == q[0..n), inline: the values compared are short. */
static inline bool same(const char *p, const char *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != q[i])
			return false;
	return true;
}

/* The compiled WHERE on a typed value: an INT against an integer, a
 * STRING against a string or a prefix; -1 for the tree otherwise. */
static int where_typed(const struct sel_eval *x, const struct sel_value *v)
{
	if (x->wf.kind == WF_INT)
		return v->type == SEL_T_INT
			       ? order(x->wf.op, v->u.i < x->wf.ival
							 ? -1
							 : v->u.i > x->wf.ival)
			       : -1;
	if (v->type != SEL_T_STRING)
		return -1;
	size_t ln = x->wf.litlen;
	if (x->wf.kind == WF_STR) {
		bool eq = v->len == ln && memcmp(v->u.s, x->wf.lit, ln) == 0;
		return order(x->wf.op, eq ? 0 : 1);
	}
	bool pre = v->len >= ln && memcmp(v->u.s, x->wf.lit, ln) == 0;
	return pre != x->wf.neg;
}

/* The compiled WHERE on the current record: 1 TRUE, 0 FALSE, -1 when the
 * raw bytes do not decide (MISSING, NULL, escapes, not an integer...):
 * the tree is evaluated then. */
static int where_fast(const struct sel_eval *x)
{
	const struct sel_record *rec = x->rec;
	const char *p;
	size_t n;
	bool json = x->format == SEL_FMT_JSON;
	if (!json) {
		if ((uint32_t)x->wf.col >= rec->nfields)
			return -1;
		p = rec->fields[x->wf.col].p;
		n = rec->fields[x->wf.col].len;
	} else {
		if (rec->missing || !rec->slots ||
		    rec->slots[x->wf.col].count != 1)
			return -1;
		const struct sel_value *tv = rec->slots[x->wf.col].tv;
		if (tv)
			return where_typed(x, tv);
		p = rec->slots[x->wf.col].v;
		n = rec->slots[x->wf.col].vn;
	}
	if (x->wf.kind == WF_INT) {
		int64_t v;
		if (!raw_int(p, n, &v))
			return -1;
		return order(x->wf.op, v < x->wf.ival ? -1 : v > x->wf.ival);
	}
	if (json) {
		if (n < 2 || p[0] != '"')
			return -1;
		p++;
		n -= 2;
	}
	size_t ln = x->wf.litlen;
	if (x->wf.kind == WF_STR) {
		bool eq = n == ln && same(p, x->wf.lit, n);
		/* Unescaping only shortens: escapes can make a longer raw
		 * string equal. */
		if (!eq && json && n > ln && memchr(p, '\\', n))
			return -1;
		return x->wf.op == SEL_CMP_EQ ? eq : !eq;
	}
	if (n < ln)
		return x->wf.neg;
	/* Bytes before the first backslash are the string's own, and one
	 * that differs from the pattern before any backslash decides. */
	int m = 1;
	for (size_t i = 0; i < ln && m == 1; i++)
		if (json && p[i] == '\\')
			m = -1;
		else if (p[i] != x->wf.lit[i])
			m = 0;
	return m < 0 ? -1 : (x->wf.neg ? !m : m);
}

int sel_eval_where(struct sel_eval *x, bool *pass)
{
	struct sel_value v;
	int t = -1, r;
	if (!x->st->where) {
		*pass = true;
		return 0;
	}
	if (x->wf.kind && (t = where_fast(x)) >= 0) {
		*pass = t == 1;
		return 0;
	}
	if ((r = ev(x, x->st->where, &v)) ||
	    (r = truth(x, x->st->where, &v, &t)))
		return r;
	*pass = t == 1;
	return 0;
}

static int out_err(struct sel_eval *x, int r)
{
	if (r == -E2BIG || r == -ENOMEM)
		return ERR(x, (const struct sel_node *)NULL, OverMaxRecordSize,
			   "a result record is longer than the maximum of "
			   "1 MB");
	return r;
}

/* The output name of SELECT item i: alias, last path step, or _N.  The
 * implicit FROM alias alone names its column as the path step it is
 * (`SELECT id FROM S3Object[*].Rules[*].id` gives {"id":"1"}). */
static void item_name(const struct sel_stmt *st, const struct sel_item *it,
		      uint32_t i, char *tmp, size_t tmpn, const char **name,
		      size_t *nlen)
{
	const struct sel_node *e = it->expr;
	if (it->alias) {
		*name = it->alias;
		*nlen = it->alias_len;
		return;
	}
	if (e->kind == SEL_N_PATH) {
		int32_t from = e->first_step;
		if (from == 1 && st->alias_implicit &&
		    name_eq(&e->steps[0], st->alias, st->alias_len,
			    st->alias_quoted))
			from = 0;
		for (uint32_t k = e->nsteps; k > 0; k--) {
			const struct sel_step *s = &e->steps[k - 1];
			if (s->kind == SEL_STEP_NAME &&
			    (int32_t)k - 1 >= from) {
				*name = s->name;
				*nlen = s->len;
				return;
			}
		}
	}
	snprintf(tmp, tmpn, "_%u", i + 1);
	*name = tmp;
	*nlen = strlen(tmp);
}

static int star_csv(struct sel_eval *x, struct sel_writer *w)
{
	const struct sel_record *rec = x->rec;
	char tmp[24];
	for (uint32_t i = 0; i < rec->nfields; i++) {
		const char *nm = tmp;
		size_t nl;
		if (x->header_mode == SEL_HDR_USE && i < x->nheader) {
			nm = x->header[i].p;
			nl = x->header[i].len;
		} else {
			snprintf(tmp, sizeof(tmp), "_%u", i + 1);
			nl = strlen(tmp);
		}
		int r = sel_writer_str(w, nm, nl, rec->fields[i].p,
				       rec->fields[i].len);
		if (r)
			return out_err(x, r);
	}
	return 0;
}

static int key_raw(struct cmn_buf *b, const char *k, size_t kn)
{
	int r = cmn_buf_addc(b, '"');
	if (r == 0)
		r = cmn_buf_add(b, k, kn);
	return r ? r : cmn_buf_addc(b, '"');
}

int sel_eval_star_json(struct sel_eval *x, struct sel_writer *w)
{
	const struct sel_record *rec = x->rec;
	bool partial = false;
	if (rec->missing)
		return 0;
	if (rec->tvals) { /* typed members */
		for (uint32_t i = 0; i < rec->ntvals; i++) {
			int r = sel_writer_field(w, rec->tnames[i],
						 rec->tnlens[i], &rec->tvals[i]);
			if (r)
				return out_err(x, r);
		}
		return 0;
	}
	const char *e = sel_json_skip(rec->json, rec->json + rec->json_len, 0,
				      &partial);
	if (!e)
		return ERR(x, (const struct sel_node *)NULL, JSONParsingError,
			   "invalid JSON record at byte %" PRIu64, rec->offset);
	int r = index_members(x, NULL);
	if (r)
		return r;
	struct sel_value v;
	const char *s = rec->json;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s != '{') {
		if ((r = json_scalar(x, NULL, rec->json, rec->json_len, &v)))
			return r;
		keep_int_text(rec->json, rec->json_len, &v);
		return out_err(x, sel_writer_field(w, "_1", 2, &v));
	}
	for (uint32_t i = 0; i < x->nmembers; i++) {
		const struct sel_member *m = &x->members[i];
		if ((r = json_scalar(x, NULL, m->v, m->vn, &v)))
			return r;
		keep_int_text(m->v, m->vn, &v);
		if (w->opts->format == SEL_FMT_JSON) {
			/* A raw key is written as it was (valid JSON); one
			 * whose escapes were resolved is quoted again. */
			if ((i && (r = cmn_buf_addc(&w->buf, ','))) ||
			    (r = m->unescaped
					 ? sel_value_json_quote(m->k, m->kn,
								&w->buf)
					 : key_raw(&w->buf, m->k, m->kn)) ||
			    (r = cmn_buf_addc(&w->buf, ':')) ||
			    (r = sel_value_to_json(&v, &w->buf)))
				return out_err(x, r);
			w->nfield++;
		} else if ((r = sel_writer_field(w, m->k, m->kn, &v))) {
			return out_err(x, r);
		}
	}
	return 0;
}

/* A CSV field, or a top-level JSON string member with no escape in its
 * raw text, written to CSV output as the bytes it is.  Returns 1 with *r
 * set when written, 0 to take the general path. */
static int raw_csv_field(struct sel_eval *x, struct sel_writer *w,
			 const struct sel_node *e, int *r)
{
	if (w->opts->format != SEL_FMT_CSV)
		return 0;
	const struct sel_field *f = raw_field(x, e);
	if (f) {
		*r = sel_writer_str(w, NULL, 0, f->p, f->len);
		return 1;
	}
	const struct sel_jslot *sl = raw_member(x, e);
	if (!sl || sl->vn < 2 || sl->v[0] != '"' ||
	    memchr(sl->v + 1, '\\', sl->vn - 2))
		return 0;
	*r = sel_writer_str(w, NULL, 0, sl->v + 1, sl->vn - 2);
	return 1;
}

static int items(struct sel_eval *x, struct sel_writer *w)
{
	char tmp[24];
	for (uint32_t i = 0; i < x->st->nitems; i++) {
		const struct sel_item *it = &x->st->items[i];
		struct sel_value v;
		const char *nm;
		size_t nl;
		int r;
		if (raw_csv_field(x, w, it->expr, &r)) {
			if (r)
				return out_err(x, r);
			continue;
		}
		if (x->format != SEL_FMT_CSV && it->expr->kind == SEL_N_PATH) {
			const char *rp;
			size_t rn = 0;
			r = path_json(x, it->expr, &v, &rp, &rn);
			keep_int_text(rp, rn, &v);
		} else {
			r = ev(x, it->expr, &v);
		}
		if (r)
			return r;
		item_name(x->st, it, i, tmp, sizeof(tmp), &nm, &nl);
		if ((r = sel_writer_field(w, nm, nl, &v)))
			return out_err(x, r);
	}
	return 0;
}

int sel_eval_project(struct sel_eval *x, struct sel_writer *w)
{
	int r;
	sel_writer_begin(w);
	if (!x->st->star)
		r = items(x, w);
	else if (x->format == SEL_FMT_CSV)
		r = star_csv(x, w);
	else
		r = sel_eval_star_json(x, w);
	if (r)
		return r;
	return sel_writer_end(w, x->err);
}

int sel_eval_finish(struct sel_eval *x, struct sel_writer *w)
{
	if (!x->aggregate || x->st->limit == 0)
		return 0;
	sel_arena_reset(&x->scratch);
	return sel_eval_project(x, w);
}
