/*
 * sel_lexer.h - tokens of the S3 Select SQL dialect.
 *
 * The lexer turns the whole expression into an array of tokens in the query
 * arena (the expression is at most 256 KiB, so the array is bounded), which
 * gives the recursive-descent parser unlimited lookahead for free.  Reserved
 * words are recognised case-insensitively and carry their keyword id.
 */
#ifndef SEL_LEXER_H
#define SEL_LEXER_H

#include <stddef.h>
#include <stdint.h>

struct sel_arena;
struct sel_error;

enum sel_tok {
	SEL_TK_EOF = 0,
	SEL_TK_IDENT,  /* unquoted identifier (not reserved) */
	SEL_TK_QIDENT, /* "quoted identifier" (text without quotes, raw) */
	SEL_TK_KEYWORD,
	SEL_TK_STRING, /* 'text' (raw, '' not yet collapsed) */
	SEL_TK_INT,
	SEL_TK_DECIMAL, /* 1.5 */
	SEL_TK_FLOAT,	/* 1e3 */
	SEL_TK_ION,	/* `timestamp` */
	SEL_TK_LPAREN,
	SEL_TK_RPAREN,
	SEL_TK_LBRACK,
	SEL_TK_RBRACK,
	SEL_TK_COMMA,
	SEL_TK_DOT,
	SEL_TK_STAR,
	SEL_TK_PLUS,
	SEL_TK_MINUS,
	SEL_TK_SLASH,
	SEL_TK_PERCENT,
	SEL_TK_CONCAT,
	SEL_TK_EQ,
	SEL_TK_NE,
	SEL_TK_LT,
	SEL_TK_LE,
	SEL_TK_GT,
	SEL_TK_GE,
	SEL_TK_SEMI,
};

/* Keywords the grammar itself uses; every other reserved word lexes as
 * SEL_KW_OTHER (still reserved: it may not be used as a bare name). */
#define SEL_KEYWORDS(X)                                                       \
	X(SELECT)                                                             \
	X(FROM) X(WHERE) X(LIMIT) X(AS) X(AND) X(OR) X(NOT) X(LIKE) X(        \
		ESCAPE) X(BETWEEN) X(IN) X(IS) X(NULL) X(MISSING) X(TRUE)     \
		X(FALSE) X(CASE) X(WHEN) X(THEN) X(ELSE) X(END) X(CAST) X(    \
			LEADING) X(TRAILING) X(BOTH) X(FOR) X(DISTINCT)       \
			X(GROUP) X(ORDER) X(HAVING) X(UNION) X(INTERSECT) X(  \
				EXCEPT) X(JOIN) X(INNER) X(LEFT) X(RIGHT)     \
				X(OUTER) X(CROSS) X(FULL) X(OFFSET) X(TOP)    \
					X(ALL) X(ON) X(VALUE) X(INSERT)       \
						X(UPDATE) X(DELETE) X(CREATE) \
							X(DROP) X(WITH)       \
								X(PIVOT)

enum sel_kw {
	SEL_KW_OTHER = 0,
#define SEL_KW_ENUM(k) SEL_KW_##k,
	SEL_KEYWORDS(SEL_KW_ENUM)
#undef SEL_KW_ENUM
};

struct sel_token {
	uint8_t type; /* enum sel_tok */
	uint8_t kw;   /* enum sel_kw when type is SEL_TK_KEYWORD */
	uint32_t len;
	const char *p; /* borrows the expression text */
	int line, col; /* 1-based */
};

/* Tokenize text[0..len) into a SEL_TK_EOF-terminated array in arena.
 * Returns 0 and *toks and *ntoks, or a negative errno with err filled
 * (LexerInvalidChar, LexerInvalidOperator, LexerInvalidLiteral,
 * LexerInvalidIONLiteral, ExpressionTooLong). */
int sel_lexer_run(const char *text, size_t len, struct sel_arena *arena,
		  struct sel_token **toks, size_t *ntoks,
		  struct sel_error *err);

/* True when word[0..n) is reserved (case-insensitive). */
int sel_lexer_reserved(const char *word, size_t n, uint8_t *kw);

#endif
