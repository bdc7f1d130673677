/*
 * test-sel_parser.c - the lexer and parser: tokens, AST shapes, precedence
 * and the S3 error code, line and column of parse errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sel_arena.h"
#include "sel_err.h"
#include "sel_lexer.h"
#include "sel_parser.h"

static struct sel_stmt *parse(struct sel_arena *a, const char *sql,
			      struct sel_error *err)
{
	struct sel_stmt *st = NULL;
	memset(err, 0, sizeof(*err));
	sel_arena_init(a, 1 << 24);
	if (sel_parser_run(sql, strlen(sql), a, &st, err) < 0)
		return NULL;
	return st;
}

static void expect_error(const char *sql, const char *code, int col)
{
	struct sel_arena a;
	struct sel_error err;
	assert_null(parse(&a, sql, &err));
	assert_string_equal(err.code, code);
	if (col)
		assert_int_equal(err.column, col);
	sel_arena_free(&a);
}

static void test_lexer_tokens(void **state)
{
	struct sel_arena a;
	struct sel_token *t;
	size_t n;
	struct sel_error err;
	sel_arena_init(&a, 1 << 20);
	const char *sql = "SELECT a.\"B c\", 'x''y', 1.5, 2e3, `2010T` <> != "
			  "|| -- comment\n x";
	assert_int_equal(sel_lexer_run(sql, strlen(sql), &a, &t, &n, &err), 0);
	assert_int_equal(t[0].type, SEL_TK_KEYWORD);
	assert_int_equal(t[0].kw, SEL_KW_SELECT);
	assert_int_equal(t[1].type, SEL_TK_IDENT);
	assert_int_equal(t[2].type, SEL_TK_DOT);
	assert_int_equal(t[3].type, SEL_TK_QIDENT);
	assert_int_equal(t[5].type, SEL_TK_STRING);
	assert_int_equal(t[7].type, SEL_TK_DECIMAL);
	assert_int_equal(t[9].type, SEL_TK_FLOAT);
	assert_int_equal(t[11].type, SEL_TK_ION);
	assert_int_equal(t[12].type, SEL_TK_NE);
	assert_int_equal(t[13].type, SEL_TK_NE);
	assert_int_equal(t[14].type, SEL_TK_CONCAT);
	assert_int_equal(t[15].type, SEL_TK_IDENT);
	assert_int_equal(t[15].line, 2);
	assert_int_equal(t[16].type, SEL_TK_EOF);
	sel_arena_free(&a);
}

static void test_lexer_errors(void **state)
{
	expect_error("SELECT 'abc FROM S3Object", "LexerInvalidLiteral", 8);
	expect_error("SELECT a ! b FROM S3Object", "LexerInvalidOperator", 10);
	expect_error("SELECT a # b FROM S3Object", "LexerInvalidChar", 10);
	expect_error("SELECT `20x` FROM S3Object", "LexerInvalidIONLiteral", 8);
}

static void test_precedence(void **state)
{
	struct sel_arena a;
	struct sel_error err;
	struct sel_stmt *st = parse(
		&a, "SELECT 1 + 2 * 3, NOT a = b AND c OR d FROM S3Object",
		&err);
	assert_non_null(st);
	assert_int_equal(st->nitems, 2);
	struct sel_node *e = st->items[0].expr;
	assert_int_equal(e->kind, SEL_N_ARITH);
	assert_int_equal(e->op, '+');
	assert_int_equal(e->kids[1]->op, '*');
	e = st->items[1].expr;
	assert_int_equal(e->kind, SEL_N_OR);
	assert_int_equal(e->kids[0]->kind, SEL_N_AND);
	assert_int_equal(e->kids[0]->kids[0]->kind, SEL_N_NOT);
	assert_int_equal(e->kids[0]->kids[0]->kids[0]->kind, SEL_N_CMP);
	sel_arena_free(&a);
}

static void test_statement(void **state)
{
	struct sel_arena a;
	struct sel_error err;
	struct sel_stmt *st =
		parse(&a,
		      "select s.a[0].\"b\" AS x FROM S3Object[*].r[*] AS s "
		      "WHERE s.a IS NOT MISSING LIMIT 5;",
		      &err);
	assert_non_null(st);
	assert_int_equal(st->limit, 5);
	assert_true(st->has_from_path);
	assert_int_equal(st->nfrom, 2);
	assert_string_equal(st->alias, "s");
	assert_string_equal(st->items[0].alias, "x");
	struct sel_node *p = st->items[0].expr;
	assert_int_equal(p->kind, SEL_N_PATH);
	assert_int_equal(p->nsteps, 4);
	assert_int_equal(p->steps[2].kind, SEL_STEP_INDEX);
	assert_true(p->steps[3].quoted);
	assert_int_equal(st->where->kind, SEL_N_IS);
	assert_true(st->where->neg);
	sel_arena_free(&a);
}

static void test_special_forms(void **state)
{
	struct sel_arena a;
	struct sel_error err;
	struct sel_stmt *st = parse(
		&a,
		"SELECT SUBSTRING(x FROM 2 FOR 3), TRIM(LEADING 'a' FROM x), "
		"EXTRACT(YEAR FROM x), DATE_ADD(day, 1, x), COUNT(*), "
		"CASE x WHEN 1 THEN 2 ELSE 3 END, CAST(x AS DECIMAL(10, 2)) "
		"FROM S3Object",
		&err);
	assert_non_null(st);
	assert_int_equal(st->items[0].expr->nkids, 3);
	assert_int_equal(st->items[1].expr->flags, SEL_TRIM_LEADING);
	assert_int_equal(st->items[1].expr->nkids, 2);
	assert_int_equal(st->items[2].expr->flags, SEL_DP_YEAR);
	assert_int_equal(st->items[3].expr->flags, SEL_DP_DAY);
	assert_int_equal(st->items[4].expr->kind, SEL_N_AGG);
	assert_int_equal(st->items[4].expr->flags, 1);
	assert_int_equal(st->items[5].expr->flags, 3);
	assert_int_equal(st->items[6].expr->op, SEL_T_DECIMAL);
	assert_int_equal(st->nagg, 1);
	sel_arena_free(&a);
}

static void test_parse_errors(void **state)
{
	expect_error("", "ParseSelectFailure", 0);
	expect_error("SELECT FROM S3Object", "ParseEmptySelect", 8);
	expect_error("SELECT a", "ParseSelectMissingFrom", 0);
	expect_error("SELECT a FROM S3Object WHERE", "ParseExpectedExpression",
		     0);
	expect_error("SELECT CAST a FROM S3Object",
		     "ParseExpectedLeftParenAfterCast", 13);
	expect_error("SELECT CAST(a AS blob) FROM S3Object",
		     "ParseExpectedTypeName", 18);
	expect_error("SELECT CAST(a, b) FROM S3Object", "ParseCastArity", 14);
	expect_error("SELECT SUM(*) FROM S3Object",
		     "ParseUnsupportedCallWithStar", 12);
	expect_error("SELECT *, a FROM S3Object",
		     "ParseCannotMixSqbAndWildcardInSelectList", 11);
	expect_error("SELECT a FROM S3Object GROUP BY a",
		     "UnsupportedSqlStructure", 24);
	expect_error("SELECT DISTINCT a FROM S3Object",
		     "UnsupportedSqlStructure", 8);
	expect_error("SELECT a FROM S3Object, S3Object",
		     "MultipleDataSourcesUnsupported", 23);
	expect_error("SELECT a FROM t", "BadTableName", 15);
	expect_error("SELECT a FROM S3Object LIMIT x", "ParseExpectedNumber",
		     30);
	expect_error("SELECT CASE END FROM S3Object", "ParseExpectedWhenClause",
		     13);
	expect_error("SELECT EXTRACT(week FROM x) FROM S3Object",
		     "ParseExpectedDatePart", 16);
	expect_error("SELECT date FROM S3Object", "ParseUnexpectedKeyword", 8);
	expect_error("SELECT foo(1) FROM S3Object", "UnsupportedSqlOperation",
		     8);
	expect_error("SELECT SUM(COUNT(*)) FROM S3Object", "InvalidQuery", 0);
	expect_error("SELECT a FROM S3Object x y", "ParseUnexpectedToken", 26);
	expect_error("DELETE FROM S3Object", "UnsupportedSqlOperation", 1);
	expect_error("SELECT a FROM S3Object.x", "DataSourcePathUnsupported",
		     23);
	expect_error("SELECT a\nFROM S3Object\nWHERE (1",
		     "ParseExpectedTokenType", 0);
}

static void test_depth_limits(void **state)
{
	char sql[4096];
	size_t k = 0;
	k += (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (int i = 0; i < 300; i++)
		sql[k++] = '(';
	sql[k++] = '1';
	for (int i = 0; i < 300; i++)
		sql[k++] = ')';
	snprintf(sql + k, sizeof(sql) - k, " FROM S3Object");
	expect_error(sql, "ParseSelectFailure", 0);
	k = (size_t)snprintf(sql, sizeof(sql), "SELECT 1");
	for (int i = 0; i < 700; i++)
		k += (size_t)snprintf(sql + k, sizeof(sql) - k, "+1");
	snprintf(sql + k, sizeof(sql) - k, " FROM S3Object");
	expect_error(sql, "ParseSelectFailure", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lexer_tokens),
		cmocka_unit_test(test_lexer_errors),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_statement),
		cmocka_unit_test(test_special_forms),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_depth_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
