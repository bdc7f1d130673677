/*
 * sel_eval.h - the binder and the evaluator.
 *
 * sel_eval_bind() resolves every name of a parsed statement once per query
 * (CSV: positional `_N` or header names to column indexes; JSON: the alias
 * is stripped and the first step is looked up in each record), checks the
 * aggregate rules and precompiles constant LIKE patterns.  Then the query
 * driver calls sel_eval_where / _project / _accumulate per record and
 * sel_eval_finish once.  One struct sel_eval belongs to one query run.
 */
#ifndef SEL_EVAL_H
#define SEL_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sel_arena.h"
#include "sel_io.h"
#include "sel_parser.h"

struct sel_error;

struct sel_member {
	const char *k, *v;
	uint32_t kn, vn;
	bool unescaped; /* k is the name's text, not the raw key */
};

struct sel_agg;

struct sel_eval {
	struct sel_stmt *st;
	struct sel_arena *arena;  /* query arena (borrowed) */
	struct sel_arena scratch; /* per record */
	int format;		  /* SEL_FMT_CSV / SEL_FMT_JSON */
	int header_mode;
	const struct sel_field *header; /* borrowed from the reader */
	uint32_t nheader;
	const struct sel_record *rec;
	struct sel_jkey *keys; /* JSON: top-level names the paths start with */
	uint32_t nkeys, cap_keys;
	/* JSON: a path reads the record itself, not only members (keys). */
	bool whole;
	struct sel_member *members; /* top-level members of a JSON record */
	uint32_t nmembers, cap_members;
	bool indexed;
	struct sel_agg *aggs;
	struct sel_node **agg_nodes;
	int nagg;
	bool aggregate;
	bool partial; /* aggregates of one chunk of a parallel run */
	/* WHERE, when it is one comparison of a CSV column or top-level JSON
	 * member with a constant, compiled at bind (sel_eval.c: where_fast);
	 * kind 0: not compiled. */
	struct {
		uint8_t kind, op;
		bool neg;
		int32_t col;
		const char *lit;
		uint32_t litlen;
		int64_t ival;
	} wf;
	struct sel_error *err;
	int depth;
	struct cmn_buf text; /* scratch text building */
};

/* Bind st for an input format.  header/nheader: the CSV header under USE
 * (borrowed; must outlive the run).  *max_col receives the highest CSV
 * column referenced (-1 none; INT32_MAX for SELECT *).  Returns 0 or
 * -EINVAL with err filled. */
int sel_eval_bind(struct sel_eval *x, struct sel_stmt *st,
		  struct sel_arena *arena, int format, int header_mode,
		  const struct sel_field *header, uint32_t nheader,
		  int32_t *max_col, struct sel_error *err);

/* After bind, x->keys[0..nkeys) lists the distinct top-level member names
 * the JSON paths of the statement start with (owned by x, valid until
 * sel_eval_free); the JSON reader resolves them in each record. */

/* Free what bind and evaluation allocated (not the arena). */
void sel_eval_free(struct sel_eval *x);

/* Set the current record (valid until the next call). */
void sel_eval_record(struct sel_eval *x, const struct sel_record *rec);

/* WHERE: *pass is true only when the condition is TRUE. */
int sel_eval_where(struct sel_eval *x, bool *pass);

/* Write the SELECT list of the current record as one output record. */
int sel_eval_project(struct sel_eval *x, struct sel_writer *w);

/* Feed the current record to the aggregates. */
int sel_eval_accumulate(struct sel_eval *x);

/* Is the statement COUNT(*)s and nothing else, with no WHERE?  The driver
 * then only counts the records and adds the count with
 * sel_eval_add_count: every record counts, so nothing is evaluated. */
bool sel_eval_counts_only(const struct sel_eval *x);
void sel_eval_add_count(struct sel_eval *x, int64_t n);

/* Write the single row of an aggregate query. */
int sel_eval_finish(struct sel_eval *x, struct sel_writer *w);

/* Parallel runs (sel_par.c): each chunk of the object is evaluated with
 * partial set, its aggregates are taken out at the chunk's end, and the
 * driver merges them in chunk order into an evaluator in the ordinary
 * (checked) mode that then writes the result with sel_eval_finish.  SUM
 * and AVG of floats are exact (sel_sum.h), so merging does not change
 * them. */

/* Hand the current aggregates to the caller (*out, freed with
 * sel_eval_aggs_free(out, x->nagg)) and start fresh ones.  0 or -ENOMEM. */
int sel_eval_aggs_take(struct sel_eval *x, struct sel_agg **out);
void sel_eval_aggs_free(struct sel_agg *a, int n);

/* Fold the partial aggregates of the chunk that follows what x has seen
 * into x.  Returns 0; 1 when the result could differ from evaluating the
 * chunk's records in order after x's (an INT sum that would overflow on
 * the way, MIN/MAX over mixed types or NaN): x is unchanged and the caller
 * evaluates the chunk's records with x itself; or a negative error. */
int sel_eval_merge(struct sel_eval *x, const struct sel_agg *part);

/* Does the JSON SELECT * path need the record validated?  (helper) */
int sel_eval_star_json(struct sel_eval *x, struct sel_writer *w);

#endif
