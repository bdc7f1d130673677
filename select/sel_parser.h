/*
 * sel_parser.h - the AST of an S3 Select statement and the parser that
 * builds it.
 *
 * The recursive-descent parser follows the operator precedence of the AWS
 * operators page.  Every node lives in the query arena and carries the line
 * and column of its first token, so later errors (binding, evaluation) can
 * point at the offending expression.  The binder (sel_eval.c) fills the
 * bound fields of path nodes once per query.
 */
#ifndef SEL_PARSER_H
#define SEL_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sel_value.h"

struct sel_arena;
struct sel_error;

enum sel_nk {
	SEL_N_LIT = 0,
	SEL_N_PATH,
	SEL_N_NEG,
	SEL_N_NOT,
	SEL_N_ARITH, /* op: '+', '-', '*', '/', '%' */
	SEL_N_CONCAT,
	SEL_N_CMP, /* op: enum sel_cmp */
	SEL_N_AND,
	SEL_N_OR,
	SEL_N_LIKE, /* kids: value, pattern[, escape] */
	SEL_N_BETWEEN,
	SEL_N_IN,   /* kids: value, list items... or value, path */
	SEL_N_IS,   /* op: SEL_T_NULL or SEL_T_MISSING */
	SEL_N_CASE, /* kids: [operand], when, then, ..., [else] */
	SEL_N_CAST, /* op: target enum sel_type */
	SEL_N_FUNC, /* op: enum sel_fn */
	SEL_N_AGG,  /* op: enum sel_fn (COUNT..MAX) */
	SEL_N_LIST, /* [a, b] or (a, b) */
};

enum sel_cmp {
	SEL_CMP_EQ,
	SEL_CMP_NE,
	SEL_CMP_LT,
	SEL_CMP_LE,
	SEL_CMP_GT,
	SEL_CMP_GE
};

enum sel_fn {
	SEL_FN_COUNT = 0,
	SEL_FN_SUM,
	SEL_FN_AVG,
	SEL_FN_MIN,
	SEL_FN_MAX,
	SEL_FN_COALESCE,
	SEL_FN_NULLIF,
	SEL_FN_CHAR_LENGTH,
	SEL_FN_LOWER,
	SEL_FN_UPPER,
	SEL_FN_SUBSTRING,
	SEL_FN_TRIM,
	SEL_FN_DATE_ADD,
	SEL_FN_DATE_DIFF,
	SEL_FN_EXTRACT,
	SEL_FN_TO_STRING,
	SEL_FN_TO_TIMESTAMP,
	SEL_FN_UTCNOW,
};

enum sel_step_kind {
	SEL_STEP_NAME = 0, /* .name, ."Name", ['name'] */
	SEL_STEP_INDEX,	   /* [3] */
	SEL_STEP_WILD_IDX, /* [*] */
	SEL_STEP_WILD_KEY, /* .* */
};

struct sel_step {
	uint8_t kind;
	uint8_t quoted; /* name compared case-sensitively */
	uint32_t len;
	const char *name; /* arena copy, NUL-terminated */
	int64_t index;
};

/* TRIM's side, kept in node->flags. */
enum { SEL_TRIM_BOTH = 0, SEL_TRIM_LEADING, SEL_TRIM_TRAILING };

struct sel_node {
	uint8_t kind; /* enum sel_nk */
	uint8_t op;
	uint8_t neg;	 /* NOT LIKE / NOT BETWEEN / NOT IN / IS NOT */
	uint8_t flags;	 /* CASE: 1 operand, 2 else; TRIM side; date part;
			    COUNT(*) */
	uint16_t height; /* 1 + the tallest kid: bounds evaluator recursion */
	int line, col;
	uint32_t nkids;
	struct sel_node **kids;
	struct sel_value lit;	/* SEL_N_LIT */
	struct sel_step *steps; /* SEL_N_PATH */
	uint32_t nsteps;
	/* Filled by the binder. */
	int32_t col_index;  /* CSV column, or -1 */
	int32_t first_step; /* index of the first step after the alias */
	int32_t slot;	    /* aggregate slot */
	void *aux;	    /* compiled LIKE pattern */
};

struct sel_item {
	struct sel_node *expr;
	const char *alias; /* arena string or NULL */
	uint32_t alias_len;
};

struct sel_stmt {
	bool star;
	uint32_t nitems;
	struct sel_item *items;
	const char *alias; /* FROM alias, or "S3Object" */
	uint32_t alias_len;
	bool alias_quoted;
	/* No AS: the alias is the FROM path's last step, a name (AWS: the
	 * row is referred to by it, and it names the column it makes). */
	bool alias_implicit;
	struct sel_step *from; /* path after S3Object[*] */
	uint32_t nfrom;
	struct sel_node *where;
	int64_t limit; /* -1 when absent */
	int nagg;      /* aggregate calls (slots) */
	bool has_from_path;
};

/* Parse sql[0..len) into a statement allocated in arena.  Returns 0, or a
 * negative errno with err filled with the most specific S3 code, line and
 * column. */
int sel_parser_run(const char *sql, size_t len, struct sel_arena *arena,
		   struct sel_stmt **out, struct sel_error *err);

/* Name of a function for messages ("SUBSTRING"). */
const char *sel_parser_fn_name(int fn);

#endif
