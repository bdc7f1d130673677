/*
 * sel_parser.c - recursive-descent parser for the S3 Select SQL dialect.
 *
 * Precedence, lowest first (AWS operators page): OR, AND, NOT, = <> !=,
 * < > <= >= (and IS), LIKE, BETWEEN, IN, + - ||, * / %, unary -.  Each level
 * is one short function; the recursion depth is capped by SEL_MAX_DEPTH so
 * hostile nesting fails with an error instead of a stack overflow.  Errors
 * carry the most specific Parse... or Lexer... code that fits.
 */
#include "sel_parser.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sel_arena.h"
#include "sel_err.h"
#include "sel_lexer.h"
#include "sel_limits.h"

struct parser {
	struct sel_token *t;
	size_t n, k;
	struct sel_arena *a;
	struct sel_error *err;
	int depth;
	int nagg;
	int in_agg;
};

static const struct fn_def {
	const char *name;
	uint8_t fn;
	uint8_t min, max;
	uint8_t agg;
} fns[] = {
	{"count", SEL_FN_COUNT, 1, 1, 1},
	{"sum", SEL_FN_SUM, 1, 1, 1},
	{"avg", SEL_FN_AVG, 1, 1, 1},
	{"min", SEL_FN_MIN, 1, 1, 1},
	{"max", SEL_FN_MAX, 1, 1, 1},
	{"coalesce", SEL_FN_COALESCE, 1, 255, 0},
	{"nullif", SEL_FN_NULLIF, 2, 2, 0},
	{"char_length", SEL_FN_CHAR_LENGTH, 1, 1, 0},
	{"character_length", SEL_FN_CHAR_LENGTH, 1, 1, 0},
	{"lower", SEL_FN_LOWER, 1, 1, 0},
	{"upper", SEL_FN_UPPER, 1, 1, 0},
	{"substring", SEL_FN_SUBSTRING, 2, 3, 0},
	{"trim", SEL_FN_TRIM, 1, 2, 0},
	{"date_add", SEL_FN_DATE_ADD, 2, 2, 0},
	{"date_diff", SEL_FN_DATE_DIFF, 2, 2, 0},
	{"extract", SEL_FN_EXTRACT, 1, 1, 0},
	{"to_string", SEL_FN_TO_STRING, 2, 2, 0},
	{"to_timestamp", SEL_FN_TO_TIMESTAMP, 1, 1, 0},
	{"utcnow", SEL_FN_UTCNOW, 0, 0, 0},
};

const char *sel_parser_fn_name(int fn)
{
	static const char *const up[] = {
		"COUNT",	"SUM",	     "AVG",	  "MIN",
		"MAX",		"COALESCE",  "NULLIF",	  "CHAR_LENGTH",
		"LOWER",	"UPPER",     "SUBSTRING", "TRIM",
		"DATE_ADD",	"DATE_DIFF", "EXTRACT",	  "TO_STRING",
		"TO_TIMESTAMP", "UTCNOW",
	};
	return fn >= 0 && fn < (int)(sizeof(up) / sizeof(up[0])) ? up[fn] : "?";
}

static const struct fn_def *find_fn(const struct sel_token *t)
{
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (strlen(fns[i].name) == t->len &&
		    strncasecmp(fns[i].name, t->p, t->len) == 0)
			return &fns[i];
	return NULL;
}

static struct sel_token *cur(struct parser *p)
{
	return &p->t[p->k];
}

static struct sel_token *peek(struct parser *p, size_t off)
{
	return p->k + off < p->n ? &p->t[p->k + off] : &p->t[p->n - 1];
}

static void next(struct parser *p)
{
	if (p->k + 1 < p->n)
		p->k++;
}

static bool is_kw(const struct sel_token *t, int kw)
{
	return t->type == SEL_TK_KEYWORD && t->kw == kw;
}

static bool accept_kw(struct parser *p, int kw)
{
	if (!is_kw(cur(p), kw))
		return false;
	next(p);
	return true;
}

static bool accept(struct parser *p, int tok)
{
	if (cur(p)->type != tok)
		return false;
	next(p);
	return true;
}

__attribute__((format(printf, 4, 5))) static int perr(struct parser *p,
						      enum sel_ec ec,
						      const struct sel_token *t,
						      const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sel_err_set(p->err, ec, t->line, t->col, "%s", msg);
}

static int tokdesc_len(const struct sel_token *t)
{
	if (t->type == SEL_TK_EOF)
		return 0;
	return t->len > 40 ? 40 : (int)t->len;
}

static int unexpected(struct parser *p, enum sel_ec ec, const char *want)
{
	struct sel_token *t = cur(p);
	if (t->type == SEL_TK_EOF)
		return perr(p, ec, t, "expected %s, found end of query", want);
	return perr(p, ec, t, "expected %s, found '%.*s'", want, tokdesc_len(t),
		    t->p);
}

static struct sel_node *mk(struct parser *p, int kind,
			   const struct sel_token *t)
{
	struct sel_node *n = sel_arena_zalloc(p->a, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = (uint8_t)kind;
	n->line = t->line;
	n->col = t->col;
	n->col_index = -1;
	n->slot = -1;
	return n;
}

/* Compute n's height from its kids; too tall trees are refused. */
static int finish(struct parser *p, struct sel_node *n)
{
	uint16_t h = 0;
	for (uint32_t i = 0; i < n->nkids; i++)
		if (n->kids[i] && n->kids[i]->height > h)
			h = n->kids[i]->height;
	n->height = (uint16_t)(h + 1);
	if (n->height > SEL_MAX_HEIGHT)
		return sel_err_set(p->err, SEL_E_ParseSelectFailure, n->line,
				   n->col,
				   "expression is more than %d levels "
				   "deep",
				   SEL_MAX_HEIGHT);
	return 0;
}

static int set_kids(struct parser *p, struct sel_node *n,
		    struct sel_node **kids, uint32_t nk)
{
	n->kids = sel_arena_alloc(p->a, (nk ? nk : 1) * sizeof(*kids));
	if (!n->kids)
		return -ENOMEM;
	memcpy(n->kids, kids, nk * sizeof(*kids));
	n->nkids = nk;
	return finish(p, n) ? -EINVAL : 0;
}

/* A growable node array in the arena. */
struct nvec {
	struct sel_node **v;
	uint32_t n, cap;
};

static int push(struct parser *p, struct nvec *vec, struct sel_node *e)
{
	if (vec->n == vec->cap) {
		if (vec->cap >= 2 * SEL_MAX_LIST_ITEMS)
			return perr(p, SEL_E_ParseSelectFailure, cur(p),
				    "more than %d items in one list",
				    SEL_MAX_LIST_ITEMS);
		uint32_t nc = vec->cap ? 2 * vec->cap : 4;
		struct sel_node **nv = sel_arena_alloc(p->a, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		if (vec->n)
			memcpy(nv, vec->v, vec->n * sizeof(*nv));
		vec->v = nv;
		vec->cap = nc;
	}
	vec->v[vec->n++] = e;
	return 0;
}

static int node2(struct parser *p, int kind, int op, const struct sel_token *t,
		 struct sel_node *a, struct sel_node *b, struct sel_node **out)
{
	struct sel_node *n = mk(p, kind, t);
	struct sel_node *k[2] = {a, b};
	if (!n)
		return -ENOMEM;
	int r = set_kids(p, n, k, b ? 2 : 1);
	if (r)
		return r;
	n->op = (uint8_t)op;
	*out = n;
	return 0;
}

/* Copy a quoted token's text with the doubled quote collapsed. */
static char *unquote(struct parser *p, const struct sel_token *t, char q,
		     uint32_t *len)
{
	char *s = sel_arena_alloc(p->a, t->len + 1);
	if (!s)
		return NULL;
	uint32_t o = 0;
	for (uint32_t i = 0; i < t->len; i++) {
		s[o++] = t->p[i];
		if (t->p[i] == q && i + 1 < t->len && t->p[i + 1] == q)
			i++;
	}
	s[o] = '\0';
	*len = o;
	return s;
}

static int parse_expr(struct parser *p, struct sel_node **out);

static int enter(struct parser *p)
{
	if (++p->depth > SEL_MAX_DEPTH)
		return perr(p, SEL_E_ParseSelectFailure, cur(p),
			    "expression nested deeper than %d levels",
			    SEL_MAX_DEPTH);
	return 0;
}

static int literal(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	struct sel_node *n = mk(p, SEL_N_LIT, t);
	if (!n)
		return -ENOMEM;
	struct sel_value *v = &n->lit;
	switch (t->type) {
	case SEL_TK_STRING: {
		uint32_t len;
		char *s = unquote(p, t, '\'', &len);
		if (!s)
			return -ENOMEM;
		sel_value_str(v, s, len);
		break;
	}
	case SEL_TK_INT:
		v->type = SEL_T_INT;
		if (sel_value_parse_int(t->p, t->len, &v->u.i) < 0)
			return perr(p, SEL_E_IntegerOverflow, t,
				    "integer literal %.*s out of range",
				    tokdesc_len(t), t->p);
		break;
	case SEL_TK_DECIMAL:
	case SEL_TK_FLOAT: {
		char *s = sel_arena_strndup(p->a, t->p, t->len);
		if (!s)
			return -ENOMEM;
		v->type = t->type == SEL_TK_FLOAT ? SEL_T_FLOAT : SEL_T_DECIMAL;
		v->u.f = strtod(s, NULL);
		break;
	}
	case SEL_TK_ION:
		v->type = SEL_T_TIMESTAMP;
		sel_time_parse(t->p, t->len, &v->u.ts);
		break;
	default:
		if (is_kw(t, SEL_KW_TRUE) || is_kw(t, SEL_KW_FALSE)) {
			v->type = SEL_T_BOOL;
			v->u.b = is_kw(t, SEL_KW_TRUE);
		} else {
			v->type = is_kw(t, SEL_KW_NULL) ? SEL_T_NULL
							: SEL_T_MISSING;
		}
	}
	next(p);
	*out = n;
	return 0;
}

/* Comma-separated expressions up to the closing token. */
static int expr_list(struct parser *p, int close, struct sel_node ***items,
		     uint32_t *count)
{
	uint32_t cap = 8, n = 0;
	struct sel_node **v = sel_arena_alloc(p->a, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (cur(p)->type != close) {
		for (;;) {
			if (n == cap) {
				if (cap >= SEL_MAX_LIST_ITEMS)
					return perr(p, SEL_E_ParseSelectFailure,
						    cur(p), "list too long");
				struct sel_node **nv = sel_arena_alloc(
					p->a, 2 * cap * sizeof(*v));
				if (!nv)
					return -ENOMEM;
				memcpy(nv, v, n * sizeof(*v));
				v = nv;
				cap *= 2;
			}
			int r = parse_expr(p, &v[n++]);
			if (r)
				return r;
			if (!accept(p, SEL_TK_COMMA))
				break;
		}
	}
	if (!accept(p, close))
		return unexpected(p, SEL_E_ParseExpectedTokenType,
				  close == SEL_TK_RPAREN ? "')'" : "']'");
	*items = v;
	*count = n;
	return 0;
}

static int list_lit(struct parser *p, int close, struct sel_node **out)
{
	struct sel_node *n = mk(p, SEL_N_LIST, cur(p));
	if (!n)
		return -ENOMEM;
	next(p);
	int r = expr_list(p, close, &n->kids, &n->nkids);
	*out = n;
	return r ? r : finish(p, n);
}

static int paren(struct parser *p, struct sel_node **out)
{
	struct sel_token *open = cur(p);
	if (is_kw(peek(p, 1), SEL_KW_SELECT))
		return perr(p, SEL_E_UnsupportedSqlStructure, peek(p, 1),
			    "subqueries are not supported");
	next(p);
	struct sel_node *e;
	int r = parse_expr(p, &e);
	if (r)
		return r;
	if (cur(p)->type == SEL_TK_COMMA) {
		/* A value constructor (a, b, ...) for IN and NULLIF. */
		struct sel_node *n = mk(p, SEL_N_LIST, open);
		struct sel_node **rest;
		uint32_t nrest;
		if (!n)
			return -ENOMEM;
		next(p);
		if ((r = expr_list(p, SEL_TK_RPAREN, &rest, &nrest)))
			return r;
		n->kids = sel_arena_alloc(p->a, (nrest + 1) * sizeof(*rest));
		if (!n->kids)
			return -ENOMEM;
		n->kids[0] = e;
		memcpy(n->kids + 1, rest, nrest * sizeof(*rest));
		n->nkids = nrest + 1;
		*out = n;
		return finish(p, n);
	}
	if (!accept(p, SEL_TK_RPAREN))
		return unexpected(p, SEL_E_ParseExpectedTokenType, "')'");
	*out = e;
	return 0;
}

static int add_step(struct parser *p, struct sel_node *n, uint32_t *cap,
		    struct sel_step **st)
{
	if (n->nsteps >= SEL_MAX_PATH_STEPS)
		return perr(p, SEL_E_ParseInvalidPathComponent, cur(p),
			    "path longer than %d steps", SEL_MAX_PATH_STEPS);
	if (n->nsteps == *cap) {
		struct sel_step *ns =
			sel_arena_zalloc(p->a, 2 * *cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		memcpy(ns, n->steps, n->nsteps * sizeof(*ns));
		n->steps = ns;
		*cap *= 2;
	}
	*st = &n->steps[n->nsteps++];
	memset(*st, 0, sizeof(**st));
	return 0;
}

static int name_step(struct parser *p, struct sel_step *s,
		     const struct sel_token *t)
{
	uint32_t len = t->len;
	char *nm = t->type == SEL_TK_QIDENT
			   ? unquote(p, t, '"', &len)
			   : sel_arena_strndup(p->a, t->p, t->len);
	if (!nm)
		return -ENOMEM;
	s->kind = SEL_STEP_NAME;
	s->quoted = t->type == SEL_TK_QIDENT;
	s->name = nm;
	s->len = len;
	return 0;
}

static int bracket_step(struct parser *p, struct sel_step *s)
{
	struct sel_token *t = cur(p);
	if (t->type == SEL_TK_STAR) {
		s->kind = SEL_STEP_WILD_IDX;
	} else if (t->type == SEL_TK_INT) {
		s->kind = SEL_STEP_INDEX;
		if (sel_value_parse_int(t->p, t->len, &s->index) < 0)
			return perr(p, SEL_E_ParseInvalidPathComponent, t,
				    "array index out of range");
	} else if (t->type == SEL_TK_STRING) {
		uint32_t len;
		char *nm = unquote(p, t, '\'', &len);
		if (!nm)
			return -ENOMEM;
		s->kind = SEL_STEP_NAME;
		s->quoted = 1;
		s->name = nm;
		s->len = len;
	} else {
		return unexpected(p, SEL_E_ParseInvalidPathComponent,
				  "an index, a quoted name or '*'");
	}
	next(p);
	if (!accept(p, SEL_TK_RBRACK))
		return unexpected(p, SEL_E_ParseExpectedTokenType, "']'");
	return 0;
}

/* Steps after the first name: .name ."name" .* [n] ['name'] [*] */
static int path_steps(struct parser *p, struct sel_node *n, uint32_t *cap)
{
	for (;;) {
		struct sel_step *s = NULL;
		int r;
		if (cur(p)->type == SEL_TK_DOT) {
			struct sel_token *t = peek(p, 1);
			if (t->type == SEL_TK_STAR) {
				/* alias.* in the select list is handled by
				 * the caller before we get here. */
				if ((r = add_step(p, n, cap, &s)))
					return r;
				s->kind = SEL_STEP_WILD_KEY;
			} else if (t->type == SEL_TK_IDENT ||
				   t->type == SEL_TK_QIDENT ||
				   t->type == SEL_TK_KEYWORD) {
				if ((r = add_step(p, n, cap, &s)) ||
				    (r = name_step(p, s, t)))
					return r;
			} else {
				next(p);
				return unexpected(p, SEL_E_ParseExpectedMember,
						  "a member name after '.'");
			}
			next(p);
			next(p);
		} else if (cur(p)->type == SEL_TK_LBRACK) {
			next(p);
			if ((r = add_step(p, n, cap, &s)) ||
			    (r = bracket_step(p, s)))
				return r;
		} else {
			return 0;
		}
	}
}

static int path(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	struct sel_node *n = mk(p, SEL_N_PATH, t);
	uint32_t cap = 4;
	if (!n || !(n->steps = sel_arena_zalloc(p->a, cap * sizeof(*n->steps))))
		return -ENOMEM;
	n->nsteps = 1;
	int r = name_step(p, &n->steps[0], t);
	if (r)
		return r;
	next(p);
	*out = n;
	return path_steps(p, n, &cap);
}

static int type_name(struct parser *p, uint8_t *type)
{
	static const struct {
		const char *n;
		uint8_t t;
	} types[] = {
		{"bool", SEL_T_BOOL},	    {"boolean", SEL_T_BOOL},
		{"int", SEL_T_INT},	    {"integer", SEL_T_INT},
		{"bigint", SEL_T_INT},	    {"smallint", SEL_T_INT},
		{"string", SEL_T_STRING},   {"varchar", SEL_T_STRING},
		{"float", SEL_T_FLOAT},	    {"real", SEL_T_FLOAT},
		{"double", SEL_T_FLOAT},    {"decimal", SEL_T_DECIMAL},
		{"numeric", SEL_T_DECIMAL}, {"timestamp", SEL_T_TIMESTAMP},
	};
	struct sel_token *t = cur(p);
	if (t->type == SEL_TK_IDENT || t->type == SEL_TK_KEYWORD)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].n) == t->len &&
			    strncasecmp(types[i].n, t->p, t->len) == 0) {
				*type = types[i].t;
				next(p);
				/* DECIMAL(p, s): AWS ignores both. */
				if (cur(p)->type == SEL_TK_LPAREN &&
				    *type == SEL_T_DECIMAL) {
					while (cur(p)->type != SEL_TK_RPAREN &&
					       cur(p)->type != SEL_TK_EOF)
						next(p);
					next(p);
				}
				return 0;
			}
	return unexpected(p, SEL_E_ParseExpectedTypeName, "a type name");
}

static int parse_cast(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	next(p);
	if (!accept(p, SEL_TK_LPAREN))
		return unexpected(p, SEL_E_ParseExpectedLeftParenAfterCast,
				  "'(' after CAST");
	struct sel_node *e;
	int r = parse_expr(p, &e);
	if (r)
		return r;
	if (cur(p)->type == SEL_TK_COMMA || cur(p)->type == SEL_TK_RPAREN)
		return perr(p, SEL_E_ParseCastArity, cur(p),
			    "CAST takes one expression AS a type");
	if (!accept_kw(p, SEL_KW_AS))
		return unexpected(p, SEL_E_ParseExpectedKeyword, "AS");
	uint8_t ty = 0;
	if ((r = type_name(p, &ty)))
		return r;
	if (!accept(p, SEL_TK_RPAREN))
		return unexpected(
			p, SEL_E_ParseExpectedRightParenBuiltinFunctionCall,
			"')'");
	if ((r = node2(p, SEL_N_CAST, ty, t, e, NULL, out)))
		return r;
	return 0;
}

static int parse_case(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	struct nvec v = {0};
	struct sel_node *e;
	uint8_t flags = 0;
	int r;
	next(p);
	if (is_kw(cur(p), SEL_KW_END) || is_kw(cur(p), SEL_KW_ELSE))
		return unexpected(p, SEL_E_ParseExpectedWhenClause, "WHEN");
	if (!is_kw(cur(p), SEL_KW_WHEN)) {
		if ((r = parse_expr(p, &e)) || (r = push(p, &v, e)))
			return r;
		flags |= 1;
	}
	if (!is_kw(cur(p), SEL_KW_WHEN))
		return unexpected(p, SEL_E_ParseExpectedWhenClause, "WHEN");
	while (accept_kw(p, SEL_KW_WHEN)) {
		if ((r = parse_expr(p, &e)) || (r = push(p, &v, e)))
			return r;
		if (!accept_kw(p, SEL_KW_THEN))
			return unexpected(p, SEL_E_ParseExpectedKeyword,
					  "THEN");
		if ((r = parse_expr(p, &e)) || (r = push(p, &v, e)))
			return r;
	}
	if (accept_kw(p, SEL_KW_ELSE)) {
		if ((r = parse_expr(p, &e)) || (r = push(p, &v, e)))
			return r;
		flags |= 2;
	}
	if (!accept_kw(p, SEL_KW_END))
		return unexpected(p, SEL_E_ParseExpectedKeyword, "END");
	struct sel_node *n = mk(p, SEL_N_CASE, t);
	if (!n)
		return -ENOMEM;
	n->kids = v.v;
	n->nkids = v.n;
	n->flags = flags;
	*out = n;
	return finish(p, n);
}

static int date_part(struct parser *p, bool tz_ok, uint8_t *part)
{
	struct sel_token *t = cur(p);
	int dp = -1;
	if (t->type == SEL_TK_IDENT || t->type == SEL_TK_KEYWORD)
		dp = sel_time_part(t->p, t->len);
	if (dp < 0 || (!tz_ok && dp >= SEL_DP_TIMEZONE_HOUR))
		return unexpected(p, SEL_E_ParseExpectedDatePart,
				  "a date part (YEAR, MONTH, DAY, HOUR, "
				  "MINUTE, SECOND)");
	*part = (uint8_t)dp;
	next(p);
	return 0;
}

static int expect_comma(struct parser *p)
{
	if (!accept(p, SEL_TK_COMMA))
		return unexpected(p, SEL_E_ParseExpectedArgumentDelimiter,
				  "','");
	return 0;
}

/* SUBSTRING(s FROM a [FOR b]) / SUBSTRING(s, a[, b]). */
static int args_substring(struct parser *p, struct nvec *v)
{
	struct sel_node *e;
	int r = parse_expr(p, &e);
	if (r || (r = push(p, v, e)))
		return r;
	bool kw = accept_kw(p, SEL_KW_FROM);
	if (!kw && (r = expect_comma(p)))
		return r;
	if ((r = parse_expr(p, &e)) || (r = push(p, v, e)))
		return r;
	if (kw ? accept_kw(p, SEL_KW_FOR) : accept(p, SEL_TK_COMMA)) {
		if ((r = parse_expr(p, &e)) || (r = push(p, v, e)))
			return r;
	}
	return 0;
}

/* TRIM([[LEADING|TRAILING|BOTH] [chars] FROM] s). */
static int args_trim(struct parser *p, struct sel_node *n, struct nvec *v)
{
	int r;
	bool side = true;
	struct sel_node *s, *first;
	if (accept_kw(p, SEL_KW_LEADING))
		n->flags = SEL_TRIM_LEADING;
	else if (accept_kw(p, SEL_KW_TRAILING))
		n->flags = SEL_TRIM_TRAILING;
	else if (!accept_kw(p, SEL_KW_BOTH))
		side = false;
	if (side && accept_kw(p, SEL_KW_FROM)) {
		if ((r = parse_expr(p, &s)))
			return r;
		return push(p, v, s);
	}
	if ((r = parse_expr(p, &first)))
		return r;
	if (accept_kw(p, SEL_KW_FROM)) {
		if ((r = parse_expr(p, &s)) || (r = push(p, v, s)))
			return r;
		return push(p, v, first);
	}
	if (side)
		return unexpected(p, SEL_E_ParseExpectedKeyword, "FROM");
	return push(p, v, first);
}

static int args_generic(struct parser *p, struct sel_node *n,
			const struct fn_def *f, struct nvec *v)
{
	int r;
	struct sel_node *e;
	if (f->fn == SEL_FN_DATE_ADD || f->fn == SEL_FN_DATE_DIFF) {
		if ((r = date_part(p, false, &n->flags)) ||
		    (r = expect_comma(p)))
			return r;
	}
	if (f->fn == SEL_FN_EXTRACT) {
		if ((r = date_part(p, true, &n->flags)))
			return r;
		if (!accept_kw(p, SEL_KW_FROM))
			return unexpected(p, SEL_E_ParseExpectedKeyword,
					  "FROM");
	}
	if (f->agg && cur(p)->type == SEL_TK_STAR) {
		if (f->fn != SEL_FN_COUNT)
			return perr(p, SEL_E_ParseUnsupportedCallWithStar,
				    cur(p), "only COUNT accepts '*'");
		next(p);
		n->flags = 1;
		return 0;
	}
	if (cur(p)->type == SEL_TK_RPAREN)
		return 0;
	for (;;) {
		if ((r = parse_expr(p, &e)) || (r = push(p, v, e)))
			return r;
		if (cur(p)->type != SEL_TK_COMMA)
			return 0;
		next(p);
	}
}

static int parse_call(struct parser *p, const struct fn_def *f,
		      struct sel_node **out)
{
	struct sel_token *t = cur(p);
	struct sel_node *n = mk(p, f->agg ? SEL_N_AGG : SEL_N_FUNC, t);
	struct nvec v = {0};
	int r;
	if (!n)
		return -ENOMEM;
	n->op = f->fn;
	next(p);
	if (!accept(p, SEL_TK_LPAREN))
		return unexpected(
			p, SEL_E_ParseExpectedLeftParenBuiltinFunctionCall,
			"'('");
	if (f->agg) {
		if (p->in_agg)
			return perr(p, SEL_E_InvalidQuery, t,
				    "aggregate functions cannot be nested");
		p->in_agg++;
	}
	if (f->fn == SEL_FN_SUBSTRING)
		r = args_substring(p, &v);
	else if (f->fn == SEL_FN_TRIM)
		r = args_trim(p, n, &v);
	else
		r = args_generic(p, n, f, &v);
	uint32_t nk = v.n;
	if (f->agg)
		p->in_agg--;
	if (r)
		return r;
	if (!accept(p, SEL_TK_RPAREN)) {
		if (cur(p)->type == SEL_TK_EOF || f->max <= nk)
			return unexpected(
				p,
				SEL_E_ParseExpectedRightParenBuiltinFunctionCall,
				"')'");
		return unexpected(p, SEL_E_ParseExpectedArgumentDelimiter,
				  "',' or ')'");
	}
	bool star = f->agg && n->flags == 1;
	if (!star && (nk < f->min || nk > f->max))
		return perr(p, SEL_E_IllegalSqlFunctionArgument, t,
			    "%s takes %u to %u arguments, not %u",
			    sel_parser_fn_name(f->fn), f->min, f->max, nk);
	n->kids = v.v;
	n->nkids = nk;
	if ((r = finish(p, n)))
		return r;
	if (f->agg) {
		if (p->nagg >= SEL_MAX_AGGREGATES)
			return perr(p, SEL_E_InvalidQuery, t,
				    "too many aggregate calls");
		n->slot = p->nagg++;
	}
	*out = n;
	return 0;
}

static int keyword_primary(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	switch (t->kw) {
	case SEL_KW_TRUE:
	case SEL_KW_FALSE:
	case SEL_KW_NULL:
	case SEL_KW_MISSING:
		return literal(p, out);
	case SEL_KW_CASE:
		return parse_case(p, out);
	case SEL_KW_CAST:
		return parse_cast(p, out);
	case SEL_KW_SELECT:
		return perr(p, SEL_E_UnsupportedSqlStructure, t,
			    "subqueries are not supported");
	default:
		break;
	}
	const struct fn_def *f = find_fn(t);
	if (f && peek(p, 1)->type == SEL_TK_LPAREN)
		return parse_call(p, f, out);
	if (f || t->kw == SEL_KW_OTHER || t->kw == SEL_KW_VALUE)
		return perr(p, SEL_E_ParseUnexpectedKeyword, t,
			    "'%.*s' is a reserved word; quote it (\"%.*s\") "
			    "to use it as a name",
			    tokdesc_len(t), t->p, tokdesc_len(t), t->p);
	return perr(p, SEL_E_ParseExpectedExpression, t,
		    "expected an expression, found keyword '%.*s'",
		    tokdesc_len(t), t->p);
}

static int primary(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	switch (t->type) {
	case SEL_TK_STRING:
	case SEL_TK_INT:
	case SEL_TK_DECIMAL:
	case SEL_TK_FLOAT:
	case SEL_TK_ION:
		return literal(p, out);
	case SEL_TK_LPAREN:
		return paren(p, out);
	case SEL_TK_LBRACK:
		return list_lit(p, SEL_TK_RBRACK, out);
	case SEL_TK_KEYWORD:
		return keyword_primary(p, out);
	case SEL_TK_IDENT:
		if (peek(p, 1)->type == SEL_TK_LPAREN) {
			const struct fn_def *f = find_fn(t);
			if (!f)
				return perr(p, SEL_E_UnsupportedSqlOperation, t,
					    "unknown function '%.*s'",
					    tokdesc_len(t), t->p);
			return parse_call(p, f, out);
		}
		return path(p, out);
	case SEL_TK_QIDENT:
		return path(p, out);
	case SEL_TK_EOF:
		return unexpected(p, SEL_E_ParseExpectedExpression,
				  "an expression");
	default:
		return unexpected(p, SEL_E_ParseUnexpectedTerm,
				  "an expression");
	}
}

static int parse_unary(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	int r;
	if (t->type != SEL_TK_MINUS && t->type != SEL_TK_PLUS)
		return primary(p, out);
	if ((r = enter(p)))
		return r;
	next(p);
	struct sel_node *e;
	/* -9223372036854775808: the magnitude alone is out of range, the
	 * literal is INT's minimum. */
	struct sel_token *d = cur(p);
	int64_t min;
	if (t->type == SEL_TK_MINUS && d->type == SEL_TK_INT &&
	    sel_value_parse_int(d->p, d->len, &min) == -ERANGE) {
		char buf[24];
		int nb = snprintf(buf, sizeof(buf), "-%.*s",
				  d->len < 22 ? (int)d->len : 22, d->p);
		if (nb > 0 && sel_value_parse_int(buf, (size_t)nb, &min) == 0 &&
		    (e = mk(p, SEL_N_LIT, t))) {
			e->lit.type = SEL_T_INT;
			e->lit.u.i = min;
			next(p);
			p->depth--;
			*out = e;
			return 0;
		}
	}
	if ((r = parse_unary(p, &e)))
		return r;
	p->depth--;
	if (t->type == SEL_TK_PLUS) {
		*out = e;
		return 0;
	}
	if (e->kind == SEL_N_LIT && e->lit.type == SEL_T_INT &&
	    e->lit.u.i != INT64_MIN) {
		e->lit.u.i = -e->lit.u.i;
		*out = e;
		return 0;
	}
	if (e->kind == SEL_N_LIT &&
	    (e->lit.type == SEL_T_FLOAT || e->lit.type == SEL_T_DECIMAL)) {
		e->lit.u.f = -e->lit.u.f;
		*out = e;
		return 0;
	}
	return node2(p, SEL_N_NEG, 0, t, e, NULL, out);
}

static int parse_mul(struct parser *p, struct sel_node **out)
{
	int r = parse_unary(p, out);
	while (r == 0) {
		struct sel_token *t = cur(p);
		int op = t->type == SEL_TK_STAR	     ? '*'
			 : t->type == SEL_TK_SLASH   ? '/'
			 : t->type == SEL_TK_PERCENT ? '%'
						     : 0;
		if (!op)
			break;
		next(p);
		struct sel_node *rhs;
		if ((r = parse_unary(p, &rhs)) == 0)
			r = node2(p, SEL_N_ARITH, op, t, *out, rhs, out);
	}
	return r;
}

static int parse_add(struct parser *p, struct sel_node **out)
{
	int r = parse_mul(p, out);
	while (r == 0) {
		struct sel_token *t = cur(p);
		int kind =
			t->type == SEL_TK_CONCAT ? SEL_N_CONCAT : SEL_N_ARITH;
		int op = t->type == SEL_TK_PLUS	    ? '+'
			 : t->type == SEL_TK_MINUS  ? '-'
			 : t->type == SEL_TK_CONCAT ? '|'
						    : 0;
		if (!op)
			break;
		next(p);
		struct sel_node *rhs;
		if ((r = parse_mul(p, &rhs)) == 0)
			r = node2(p, kind, op, t, *out, rhs, out);
	}
	return r;
}

/* [NOT] kw at the current position. */
static bool neg_kw(struct parser *p, int kw, uint8_t *neg)
{
	if (is_kw(cur(p), kw)) {
		*neg = 0;
		next(p);
		return true;
	}
	if (is_kw(cur(p), SEL_KW_NOT) && is_kw(peek(p, 1), kw)) {
		*neg = 1;
		next(p);
		next(p);
		return true;
	}
	return false;
}

static int parse_in(struct parser *p, struct sel_node **out)
{
	int r = parse_add(p, out);
	uint8_t neg;
	struct sel_token *t = cur(p);
	if (r || !neg_kw(p, SEL_KW_IN, &neg))
		return r;
	struct sel_node *n = mk(p, SEL_N_IN, t), *rhs;
	if (!n)
		return -ENOMEM;
	n->neg = neg;
	if (cur(p)->type == SEL_TK_LPAREN) {
		if (is_kw(peek(p, 1), SEL_KW_SELECT))
			return perr(p, SEL_E_UnsupportedSqlStructure,
				    peek(p, 1), "subqueries are not supported");
		r = list_lit(p, SEL_TK_RPAREN, &rhs);
	} else {
		r = parse_add(p, &rhs);
	}
	struct sel_node *k[2] = {*out, rhs};
	if (r || (r = set_kids(p, n, k, 2)))
		return r;
	*out = n;
	return 0;
}

static int parse_between(struct parser *p, struct sel_node **out)
{
	int r = parse_in(p, out);
	uint8_t neg;
	struct sel_token *t = cur(p);
	if (r || !neg_kw(p, SEL_KW_BETWEEN, &neg))
		return r;
	struct sel_node *k[3] = {*out, NULL, NULL};
	if ((r = parse_in(p, &k[1])))
		return r;
	if (!accept_kw(p, SEL_KW_AND))
		return unexpected(p, SEL_E_ParseExpectedKeyword, "AND");
	if ((r = parse_in(p, &k[2])))
		return r;
	struct sel_node *n = mk(p, SEL_N_BETWEEN, t);
	if (!n || set_kids(p, n, k, 3))
		return -ENOMEM;
	n->neg = neg;
	*out = n;
	return 0;
}

static int parse_like(struct parser *p, struct sel_node **out)
{
	int r = parse_between(p, out);
	uint8_t neg;
	struct sel_token *t = cur(p);
	if (r || !neg_kw(p, SEL_KW_LIKE, &neg))
		return r;
	struct sel_node *k[3] = {*out, NULL, NULL};
	uint32_t nk = 2;
	if ((r = parse_between(p, &k[1])))
		return r;
	if (accept_kw(p, SEL_KW_ESCAPE)) {
		if ((r = parse_between(p, &k[2])))
			return r;
		nk = 3;
	}
	struct sel_node *n = mk(p, SEL_N_LIKE, t);
	if (!n || set_kids(p, n, k, nk))
		return -ENOMEM;
	n->neg = neg;
	*out = n;
	return 0;
}

static int parse_is(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	next(p);
	uint8_t neg = accept_kw(p, SEL_KW_NOT);
	int ty;
	if (accept_kw(p, SEL_KW_NULL))
		ty = SEL_T_NULL;
	else if (accept_kw(p, SEL_KW_MISSING))
		ty = SEL_T_MISSING;
	else
		return unexpected(p, SEL_E_ParseExpected2TokenTypes,
				  "NULL or MISSING");
	int r = node2(p, SEL_N_IS, ty, t, *out, NULL, out);
	if (r == 0)
		(*out)->neg = neg;
	return r;
}

static int parse_rel(struct parser *p, struct sel_node **out)
{
	int r = parse_like(p, out);
	while (r == 0) {
		struct sel_token *t = cur(p);
		if (is_kw(t, SEL_KW_IS)) {
			r = parse_is(p, out);
			continue;
		}
		int op = t->type == SEL_TK_LT	? SEL_CMP_LT
			 : t->type == SEL_TK_LE ? SEL_CMP_LE
			 : t->type == SEL_TK_GT ? SEL_CMP_GT
			 : t->type == SEL_TK_GE ? SEL_CMP_GE
						: -1;
		if (op < 0)
			break;
		next(p);
		struct sel_node *rhs;
		if ((r = parse_like(p, &rhs)) == 0)
			r = node2(p, SEL_N_CMP, op, t, *out, rhs, out);
	}
	return r;
}

static int parse_eq(struct parser *p, struct sel_node **out)
{
	int r = parse_rel(p, out);
	while (r == 0) {
		struct sel_token *t = cur(p);
		int op = t->type == SEL_TK_EQ	? SEL_CMP_EQ
			 : t->type == SEL_TK_NE ? SEL_CMP_NE
						: -1;
		if (op < 0)
			break;
		next(p);
		struct sel_node *rhs;
		if ((r = parse_rel(p, &rhs)) == 0)
			r = node2(p, SEL_N_CMP, op, t, *out, rhs, out);
	}
	return r;
}

static int parse_not(struct parser *p, struct sel_node **out)
{
	struct sel_token *t = cur(p);
	if (!is_kw(t, SEL_KW_NOT))
		return parse_eq(p, out);
	int r = enter(p);
	if (r)
		return r;
	next(p);
	struct sel_node *e;
	if ((r = parse_not(p, &e)))
		return r;
	p->depth--;
	return node2(p, SEL_N_NOT, 0, t, e, NULL, out);
}

static int parse_and(struct parser *p, struct sel_node **out)
{
	int r = parse_not(p, out);
	while (r == 0 && is_kw(cur(p), SEL_KW_AND)) {
		struct sel_token *t = cur(p);
		next(p);
		struct sel_node *rhs;
		if ((r = parse_not(p, &rhs)) == 0)
			r = node2(p, SEL_N_AND, 0, t, *out, rhs, out);
	}
	return r;
}

static int parse_expr(struct parser *p, struct sel_node **out)
{
	int r = enter(p);
	if (r)
		return r;
	r = parse_and(p, out);
	while (r == 0 && is_kw(cur(p), SEL_KW_OR)) {
		struct sel_token *t = cur(p);
		next(p);
		struct sel_node *rhs;
		if ((r = parse_and(p, &rhs)) == 0)
			r = node2(p, SEL_N_OR, 0, t, *out, rhs, out);
	}
	p->depth--;
	return r;
}

static bool unsupported_clause(const struct sel_token *t)
{
	static const uint8_t kws[] = {
		SEL_KW_GROUP,	  SEL_KW_ORDER,	 SEL_KW_HAVING, SEL_KW_UNION,
		SEL_KW_INTERSECT, SEL_KW_EXCEPT, SEL_KW_JOIN,	SEL_KW_INNER,
		SEL_KW_LEFT,	  SEL_KW_RIGHT,	 SEL_KW_OUTER,	SEL_KW_CROSS,
		SEL_KW_FULL,	  SEL_KW_OFFSET, SEL_KW_ON,	SEL_KW_PIVOT,
	};
	if (t->type != SEL_TK_KEYWORD)
		return false;
	for (size_t i = 0; i < sizeof(kws); i++)
		if (t->kw == kws[i])
			return true;
	return false;
}

static int alias(struct parser *p, const char **name, uint32_t *len,
		 bool *quoted)
{
	struct sel_token *t = cur(p);
	bool as = accept_kw(p, SEL_KW_AS);
	t = cur(p);
	if (t->type == SEL_TK_IDENT || t->type == SEL_TK_QIDENT ||
	    (as && t->type == SEL_TK_STRING)) {
		*name = t->type == SEL_TK_IDENT
				? sel_arena_strndup(p->a, t->p, t->len)
				: unquote(p, t,
					  t->type == SEL_TK_QIDENT ? '"' : '\'',
					  len);
		if (!*name)
			return -ENOMEM;
		if (t->type == SEL_TK_IDENT)
			*len = t->len;
		if (quoted)
			*quoted = t->type != SEL_TK_IDENT;
		next(p);
		return 0;
	}
	if (as)
		return unexpected(p, SEL_E_ParseExpectedIdentForAlias,
				  "an alias after AS");
	return 0;
}

static bool star_item(struct parser *p)
{
	if (cur(p)->type == SEL_TK_STAR) {
		next(p);
		return true;
	}
	/* alias.* */
	if ((cur(p)->type == SEL_TK_IDENT || cur(p)->type == SEL_TK_QIDENT) &&
	    peek(p, 1)->type == SEL_TK_DOT && peek(p, 2)->type == SEL_TK_STAR &&
	    (peek(p, 3)->type == SEL_TK_COMMA ||
	     is_kw(peek(p, 3), SEL_KW_FROM))) {
		next(p);
		next(p);
		next(p);
		return true;
	}
	return false;
}

static int select_list(struct parser *p, struct sel_stmt *st)
{
	uint32_t cap = 8;
	st->items = sel_arena_zalloc(p->a, cap * sizeof(*st->items));
	if (!st->items)
		return -ENOMEM;
	if (is_kw(cur(p), SEL_KW_FROM))
		return perr(p, SEL_E_ParseEmptySelect, cur(p),
			    "the SELECT list is empty");
	for (;;) {
		struct sel_token *t = cur(p);
		if (star_item(p)) {
			if (st->star || st->nitems)
				return perr(
					p,
					SEL_E_ParseCannotMixSqbAndWildcardInSelectList,
					t,
					"'*' cannot be mixed with "
					"other items in the SELECT list");
			st->star = true;
		} else {
			if (st->star)
				return perr(
					p,
					SEL_E_ParseCannotMixSqbAndWildcardInSelectList,
					t,
					"'*' cannot be mixed with "
					"other items in the SELECT list");
			if (st->nitems == cap) {
				if (cap >= SEL_MAX_LIST_ITEMS)
					return perr(p, SEL_E_ParseSelectFailure,
						    t, "too many SELECT items");
				struct sel_item *ni = sel_arena_zalloc(
					p->a, 2 * cap * sizeof(*ni));
				if (!ni)
					return -ENOMEM;
				memcpy(ni, st->items, cap * sizeof(*ni));
				st->items = ni;
				cap *= 2;
			}
			struct sel_item *it = &st->items[st->nitems++];
			int r = parse_expr(p, &it->expr);
			if (r ||
			    (r = alias(p, &it->alias, &it->alias_len, NULL)))
				return r;
		}
		if (!accept(p, SEL_TK_COMMA))
			return 0;
	}
}

static int from_path(struct parser *p, struct sel_stmt *st)
{
	if (cur(p)->type == SEL_TK_DOT)
		return perr(p, SEL_E_DataSourcePathUnsupported, cur(p),
			    "a path after S3Object must start with [*]");
	if (cur(p)->type != SEL_TK_LBRACK)
		return 0;
	if (peek(p, 1)->type != SEL_TK_STAR ||
	    peek(p, 2)->type != SEL_TK_RBRACK)
		return perr(p, SEL_E_DataSourcePathUnsupported, cur(p),
			    "a path after S3Object must start with [*]");
	struct sel_token *t = cur(p);
	next(p);
	next(p);
	next(p);
	st->has_from_path = true;
	/* Reuse the expression path parser on a dummy first step. */
	struct sel_node *n = mk(p, SEL_N_PATH, t);
	uint32_t cap = 4;
	if (!n || !(n->steps = sel_arena_zalloc(p->a, cap * sizeof(*n->steps))))
		return -ENOMEM;
	int r = path_steps(p, n, &cap);
	if (r)
		return r;
	st->from = n->steps;
	st->nfrom = n->nsteps;
	return 0;
}

/* Without an AS, a FROM path that ends in a name is aliased by that name:
 * AWS "you can refer to the row by using the last element in the path"
 * (`SELECT id FROM S3Object[*].Rules[*].id`).  S3Object still names the
 * row too (the binder always accepts it). */
static void implicit_alias(struct sel_stmt *st)
{
	const struct sel_step *last =
		st->nfrom ? &st->from[st->nfrom - 1] : NULL;
	if (!last || last->kind != SEL_STEP_NAME)
		return;
	st->alias = last->name;
	st->alias_len = last->len;
	st->alias_quoted = last->quoted;
	st->alias_implicit = true;
}

static int from_clause(struct parser *p, struct sel_stmt *st)
{
	struct sel_token *t = cur(p);
	if (t->type == SEL_TK_LPAREN)
		return perr(p, SEL_E_UnsupportedSqlStructure, t,
			    "subqueries are not supported");
	bool ok = (t->type == SEL_TK_IDENT && t->len == 8 &&
		   strncasecmp(t->p, "s3object", 8) == 0) ||
		  (t->type == SEL_TK_QIDENT && t->len == 8 &&
		   memcmp(t->p, "S3Object", 8) == 0);
	if (!ok)
		return unexpected(p, SEL_E_BadTableName, "S3Object");
	next(p);
	int r = from_path(p, st);
	if (r)
		return r;
	static const char dflt[] = "S3Object";
	st->alias = dflt;
	st->alias_len = 8;
	if ((r = alias(p, &st->alias, &st->alias_len, &st->alias_quoted)))
		return r;
	if (st->alias == dflt) /* no alias given */
		implicit_alias(st);
	if (cur(p)->type == SEL_TK_COMMA)
		return perr(p, SEL_E_MultipleDataSourcesUnsupported, cur(p),
			    "only one data source (S3Object) is supported");
	return 0;
}

static int tail(struct parser *p, struct sel_stmt *st)
{
	int r;
	if (unsupported_clause(cur(p)))
		return perr(p, SEL_E_UnsupportedSqlStructure, cur(p),
			    "%.*s is not supported", tokdesc_len(cur(p)),
			    cur(p)->p);
	if (accept_kw(p, SEL_KW_WHERE) && (r = parse_expr(p, &st->where)))
		return r;
	if (unsupported_clause(cur(p)))
		return perr(p, SEL_E_UnsupportedSqlStructure, cur(p),
			    "%.*s is not supported", tokdesc_len(cur(p)),
			    cur(p)->p);
	if (accept_kw(p, SEL_KW_LIMIT)) {
		struct sel_token *t = cur(p);
		if (t->type != SEL_TK_INT ||
		    sel_value_parse_int(t->p, t->len, &st->limit) < 0)
			return unexpected(p, SEL_E_ParseExpectedNumber,
					  "a non-negative integer after LIMIT");
		next(p);
	}
	if (accept(p, SEL_TK_SEMI) && cur(p)->type != SEL_TK_EOF)
		return perr(p, SEL_E_UnsupportedSqlStructure, cur(p),
			    "only one statement is supported");
	if (cur(p)->type == SEL_TK_EOF)
		return 0;
	if (unsupported_clause(cur(p)))
		return perr(p, SEL_E_UnsupportedSqlStructure, cur(p),
			    "%.*s is not supported", tokdesc_len(cur(p)),
			    cur(p)->p);
	return unexpected(p, SEL_E_ParseUnexpectedToken, "end of query");
}

int sel_parser_run(const char *sql, size_t len, struct sel_arena *arena,
		   struct sel_stmt **out, struct sel_error *err)
{
	struct parser p = {.a = arena, .err = err};
	int r = sel_lexer_run(sql, len, arena, &p.t, &p.n, err);
	if (r)
		return r;
	struct sel_stmt *st = sel_arena_zalloc(arena, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->limit = -1;
	if (cur(&p)->type == SEL_TK_EOF)
		return perr(&p, SEL_E_ParseSelectFailure, cur(&p),
			    "empty SQL expression");
	if (!accept_kw(&p, SEL_KW_SELECT))
		return unexpected(&p, SEL_E_UnsupportedSqlOperation,
				  "SELECT (the only supported statement)");
	if (is_kw(cur(&p), SEL_KW_DISTINCT) || is_kw(cur(&p), SEL_KW_TOP))
		return perr(&p, SEL_E_UnsupportedSqlStructure, cur(&p),
			    "%.*s is not supported", tokdesc_len(cur(&p)),
			    cur(&p)->p);
	if ((r = select_list(&p, st)))
		return r;
	if (!accept_kw(&p, SEL_KW_FROM)) {
		if (cur(&p)->type == SEL_TK_EOF)
			return perr(&p, SEL_E_ParseSelectMissingFrom, cur(&p),
				    "the query has no FROM clause");
		return unexpected(&p, SEL_E_ParseUnexpectedToken,
				  "',' or FROM");
	}
	if ((r = from_clause(&p, st)) || (r = tail(&p, st)))
		return r;
	st->nagg = p.nagg;
	*out = st;
	return 0;
}
