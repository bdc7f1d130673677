/*
 * sel_lexer.c - hand-written lexer for the S3 Select SQL dialect.
 */
#include "sel_lexer.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sel_arena.h"
#include "sel_err.h"
#include "sel_limits.h"
#include "sel_value.h"

static const char *const kw_names[] = {"",
#define SEL_KW_NAME(k) #k,
				       SEL_KEYWORDS(SEL_KW_NAME)
#undef SEL_KW_NAME
};

/* The rest of AWS's reserved-word list (SQL-92 and PartiQL words): they
 * cannot be bare names, so `SELECT date FROM S3Object` fails as on AWS. */
static const char *const reserved_other[] = {
	"absolute",
	"action",
	"add",
	"allocate",
	"alter",
	"any",
	"are",
	"asc",
	"assertion",
	"at",
	"authorization",
	"avg",
	"bag",
	"begin",
	"bit",
	"bit_length",
	"bool",
	"boolean",
	"by",
	"can_cast",
	"can_lossless_cast",
	"cascade",
	"cascaded",
	"catalog",
	"char",
	"char_length",
	"character",
	"character_length",
	"check",
	"close",
	"coalesce",
	"collate",
	"collation",
	"column",
	"commit",
	"connect",
	"connection",
	"constraint",
	"constraints",
	"continue",
	"convert",
	"corresponding",
	"count",
	"current",
	"current_date",
	"current_time",
	"current_timestamp",
	"current_user",
	"cursor",
	"date",
	"day",
	"deallocate",
	"dec",
	"decimal",
	"declare",
	"default",
	"deferrable",
	"deferred",
	"desc",
	"describe",
	"descriptor",
	"diagnostics",
	"disconnect",
	"domain",
	"double",
	"exception",
	"exec",
	"execute",
	"exists",
	"external",
	"extract",
	"fetch",
	"first",
	"float",
	"foreign",
	"found",
	"get",
	"global",
	"go",
	"goto",
	"grant",
	"hour",
	"identity",
	"immediate",
	"indicator",
	"initially",
	"input",
	"insensitive",
	"int",
	"integer",
	"interval",
	"into",
	"isolation",
	"key",
	"language",
	"last",
	"level",
	"list",
	"local",
	"lower",
	"match",
	"max",
	"min",
	"minute",
	"module",
	"month",
	"names",
	"national",
	"natural",
	"nchar",
	"next",
	"no",
	"nullif",
	"numeric",
	"octet_length",
	"of",
	"only",
	"open",
	"option",
	"output",
	"overlaps",
	"pad",
	"partial",
	"position",
	"precision",
	"prepare",
	"preserve",
	"primary",
	"prior",
	"privileges",
	"procedure",
	"public",
	"read",
	"real",
	"references",
	"relative",
	"remove",
	"restrict",
	"revoke",
	"rollback",
	"rows",
	"schema",
	"scroll",
	"second",
	"section",
	"session",
	"session_user",
	"set",
	"sexp",
	"size",
	"smallint",
	"some",
	"space",
	"sql",
	"sqlcode",
	"sqlerror",
	"sqlstate",
	"string",
	"struct",
	"substring",
	"sum",
	"system_user",
	"table",
	"temporary",
	"time",
	"timestamp",
	"timezone_hour",
	"timezone_minute",
	"to",
	"transaction",
	"translate",
	"translation",
	"trim",
	"tuple",
	"unique",
	"unknown",
	"unpivot",
	"upper",
	"usage",
	"user",
	"using",
	"values",
	"varchar",
	"varying",
	"view",
	"whenever",
	"work",
	"write",
	"year",
	"zone",
};

int sel_lexer_reserved(const char *word, size_t n, uint8_t *kw)
{
	for (size_t i = 1; i < sizeof(kw_names) / sizeof(kw_names[0]); i++)
		if (strlen(kw_names[i]) == n &&
		    strncasecmp(kw_names[i], word, n) == 0) {
			*kw = (uint8_t)i;
			return 1;
		}
	for (size_t i = 0; i < sizeof(reserved_other) / sizeof(char *); i++)
		if (strlen(reserved_other[i]) == n &&
		    strncasecmp(reserved_other[i], word, n) == 0) {
			*kw = SEL_KW_OTHER;
			return 1;
		}
	return 0;
}

struct lexer {
	const char *s;
	size_t n, k;
	int line, col;
	struct sel_error *err;
};

static void adv(struct lexer *lx, size_t cnt)
{
	while (cnt-- && lx->k < lx->n) {
		if (lx->s[lx->k] == '\n') {
			lx->line++;
			lx->col = 1;
		} else if (((unsigned char)lx->s[lx->k] & 0xC0) != 0x80) {
			lx->col++;
		}
		lx->k++;
	}
}

static int is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Skip blanks and SQL comments (double dash to end of line, C-style blocks). */
static void skip_space(struct lexer *lx)
{
	for (;;) {
		while (lx->k < lx->n && strchr(" \t\r\n\f\v", lx->s[lx->k]) &&
		       lx->s[lx->k])
			adv(lx, 1);
		if (lx->k + 1 < lx->n && lx->s[lx->k] == '-' &&
		    lx->s[lx->k + 1] == '-') {
			while (lx->k < lx->n && lx->s[lx->k] != '\n')
				adv(lx, 1);
			continue;
		}
		if (lx->k + 1 < lx->n && lx->s[lx->k] == '/' &&
		    lx->s[lx->k + 1] == '*') {
			const char *e = NULL;
			for (size_t j = lx->k + 2; j + 1 < lx->n; j++)
				if (lx->s[j] == '*' && lx->s[j + 1] == '/') {
					e = lx->s + j;
					break;
				}
			if (!e)
				return; /* reported as an invalid char */
			adv(lx, (size_t)(e - (lx->s + lx->k)) + 2);
			continue;
		}
		return;
	}
}

/* A quoted run ('...' or "..." or `...`) with the quote doubled inside. */
static int lex_quoted(struct lexer *lx, struct sel_token *t, char q)
{
	size_t j = lx->k + 1;
	for (;;) {
		if (j >= lx->n)
			return -1;
		if (lx->s[j] == q) {
			if (q != '`' && j + 1 < lx->n && lx->s[j + 1] == q) {
				j += 2;
				continue;
			}
			break;
		}
		j++;
	}
	t->p = lx->s + lx->k + 1;
	t->len = (uint32_t)(j - lx->k - 1);
	adv(lx, j + 1 - lx->k);
	return 0;
}

static void lex_number(struct lexer *lx, struct sel_token *t)
{
	size_t j = lx->k;
	t->type = SEL_TK_INT;
	while (j < lx->n && lx->s[j] >= '0' && lx->s[j] <= '9')
		j++;
	if (j < lx->n && lx->s[j] == '.') {
		t->type = SEL_TK_DECIMAL;
		j++;
		while (j < lx->n && lx->s[j] >= '0' && lx->s[j] <= '9')
			j++;
	}
	if (j < lx->n && (lx->s[j] == 'e' || lx->s[j] == 'E')) {
		size_t e = j + 1;
		if (e < lx->n && (lx->s[e] == '+' || lx->s[e] == '-'))
			e++;
		if (e < lx->n && lx->s[e] >= '0' && lx->s[e] <= '9') {
			while (e < lx->n && lx->s[e] >= '0' && lx->s[e] <= '9')
				e++;
			j = e;
			t->type = SEL_TK_FLOAT;
		}
	}
	t->p = lx->s + lx->k;
	t->len = (uint32_t)(j - lx->k);
	adv(lx, j - lx->k);
}

static const struct {
	char s[3];
	uint8_t tok;
} ops[] = {
	{"<>", SEL_TK_NE},     {"!=", SEL_TK_NE},     {"<=", SEL_TK_LE},
	{">=", SEL_TK_GE},     {"||", SEL_TK_CONCAT}, {"(", SEL_TK_LPAREN},
	{")", SEL_TK_RPAREN},  {"[", SEL_TK_LBRACK},  {"]", SEL_TK_RBRACK},
	{",", SEL_TK_COMMA},   {".", SEL_TK_DOT},     {"*", SEL_TK_STAR},
	{"+", SEL_TK_PLUS},    {"-", SEL_TK_MINUS},   {"/", SEL_TK_SLASH},
	{"%", SEL_TK_PERCENT}, {"=", SEL_TK_EQ},      {"<", SEL_TK_LT},
	{">", SEL_TK_GT},      {";", SEL_TK_SEMI},
};

static int lex_op(struct lexer *lx, struct sel_token *t)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t l = strlen(ops[i].s);
		if (lx->k + l <= lx->n &&
		    memcmp(lx->s + lx->k, ops[i].s, l) == 0) {
			t->type = ops[i].tok;
			t->p = lx->s + lx->k;
			t->len = (uint32_t)l;
			adv(lx, l);
			return 0;
		}
	}
	char c = lx->s[lx->k];
	if (c == '!' || c == '|' || c == '&' || c == '^' || c == '~' ||
	    c == '?' || c == ':')
		return sel_err_set(lx->err, SEL_E_LexerInvalidOperator, t->line,
				   t->col, "invalid operator '%c'", c);
	return sel_err_set(lx->err, SEL_E_LexerInvalidChar, t->line, t->col,
			   "invalid character 0x%02x",
			   (unsigned)(unsigned char)c);
}

static int lex_one(struct lexer *lx, struct sel_token *t)
{
	char c = lx->s[lx->k];
	if (is_ident_start(c)) {
		size_t j = lx->k;
		while (j < lx->n && is_ident(lx->s[j]))
			j++;
		t->p = lx->s + lx->k;
		t->len = (uint32_t)(j - lx->k);
		t->type = sel_lexer_reserved(t->p, t->len, &t->kw)
				  ? SEL_TK_KEYWORD
				  : SEL_TK_IDENT;
		adv(lx, j - lx->k);
		return 0;
	}
	if ((c >= '0' && c <= '9') ||
	    (c == '.' && lx->k + 1 < lx->n && lx->s[lx->k + 1] >= '0' &&
	     lx->s[lx->k + 1] <= '9')) {
		lex_number(lx, t);
		return 0;
	}
	if (c == '\'' || c == '"' || c == '`') {
		t->type = c == '\''  ? SEL_TK_STRING
			  : c == '"' ? SEL_TK_QIDENT
				     : SEL_TK_ION;
		if (lex_quoted(lx, t, c) < 0)
			return sel_err_set(
				lx->err,
				c == '`' ? SEL_E_LexerInvalidIONLiteral
					 : SEL_E_LexerInvalidLiteral,
				t->line, t->col, "unterminated %s literal",
				c == '"' ? "identifier" : "quoted");
		if (c == '`') {
			struct sel_ts ts;
			if (sel_time_parse(t->p, t->len, &ts) < 0)
				return sel_err_set(
					lx->err, SEL_E_LexerInvalidIONLiteral,
					t->line, t->col,
					"invalid Ion timestamp literal");
		}
		return 0;
	}
	return lex_op(lx, t);
}

int sel_lexer_run(const char *text, size_t len, struct sel_arena *arena,
		  struct sel_token **toks, size_t *ntoks, struct sel_error *err)
{
	if (len > SEL_MAX_EXPR_LEN)
		return sel_err_set(err, SEL_E_ExpressionTooLong, 0, 0,
				   "the SQL expression is %zu bytes, longer "
				   "than the %u byte limit",
				   len, SEL_MAX_EXPR_LEN);
	struct lexer lx = {text, len, 0, 1, 1, err};
	size_t cap = 64, n = 0;
	struct sel_token *v = sel_arena_alloc(arena, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (;;) {
		skip_space(&lx);
		if (n == cap) {
			struct sel_token *nv =
				sel_arena_alloc(arena, 2 * cap * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			memcpy(nv, v, cap * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		struct sel_token *t = &v[n];
		memset(t, 0, sizeof(*t));
		t->line = lx.line;
		t->col = lx.col;
		if (lx.k >= lx.n) {
			t->type = SEL_TK_EOF;
			t->p = text + len;
			n++;
			break;
		}
		int r = lex_one(&lx, t);
		if (r < 0)
			return r;
		n++;
	}
	*toks = v;
	*ntoks = n;
	return 0;
}
