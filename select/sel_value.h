/*
 * sel_value.h - typed values of the evaluator and their conversions.
 *
 * A value is small and passed by pointer; strings are slices (pointer and
 * length) that borrow either the record buffer, the query arena or the
 * per-record scratch arena, so evaluating a record allocates nothing unless
 * a function builds a new string.  SEL_T_JSON holds the raw text of a JSON
 * object or array (nested data, list literals), printed minified on output.
 */
#ifndef SEL_VALUE_H
#define SEL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cmn_buf;
struct sel_arena;

enum sel_type {
	SEL_T_MISSING = 0,
	SEL_T_NULL,
	SEL_T_BOOL,
	SEL_T_INT,
	SEL_T_FLOAT,
	SEL_T_DECIMAL,
	SEL_T_STRING,
	SEL_T_TIMESTAMP,
	SEL_T_JSON,
};

/* Precision of a timestamp as written: it is kept through DATE_ADD and
 * printing, as AWS does (`2010T` + 1 month is `2010-02T`). */
enum sel_ts_prec {
	SEL_TS_YEAR = 0,
	SEL_TS_MONTH,
	SEL_TS_DAY,
	SEL_TS_MINUTE,
	SEL_TS_SECOND,
	SEL_TS_FRAC,
};

struct sel_ts {
	int64_t secs;	     /* UTC seconds since 1970-01-01 */
	int32_t nsec;	     /* 0..999999999 */
	int16_t off_min;     /* local offset, minutes east of UTC */
	uint8_t prec;	     /* enum sel_ts_prec */
	uint8_t fdigits : 4; /* digits of fraction when prec == SEL_TS_FRAC */
	uint8_t off_unknown : 1; /* offset "-00:00" (unknown local offset) */
};

struct sel_value {
	uint8_t type; /* enum sel_type */
	uint32_t len; /* string / JSON length */
	union {
		int64_t i;
		double f;
		bool b;
		const char *s;
		struct sel_ts ts;
	} u;
};

static inline void sel_value_str(struct sel_value *v, const char *p, size_t n)
{
	v->type = SEL_T_STRING;
	v->u.s = p;
	v->len = (uint32_t)n;
}

/* Name of a type for messages ("INT"). */
const char *sel_value_type_name(enum sel_type t);

/* True for INT, FLOAT and DECIMAL. */
static inline bool sel_value_is_num(const struct sel_value *v)
{
	return v->type == SEL_T_INT || v->type == SEL_T_FLOAT ||
	       v->type == SEL_T_DECIMAL;
}

/* Numeric value as a double (INT, FLOAT, DECIMAL only). */
double sel_value_as_double(const struct sel_value *v);

/* Parse a whole string (surrounding blanks allowed) as an integer.
 * Returns 0, -ERANGE on overflow, -EINVAL when not an integer. */
int sel_value_parse_int(const char *p, size_t n, int64_t *out);

/* Parse a whole string as a number; *is_int tells whether it had neither a
 * point nor an exponent.  Returns 0 or -EINVAL. */
int sel_value_parse_num(const char *p, size_t n, double *f, int64_t *i,
			bool *is_int);

/* Compare two non-null values of comparable types.  Returns 0 and sets *cmp
 * to <0, 0, >0; -EDOM when the types cannot be ordered against each other
 * (e.g. STRING and INT).  JSON values (lists, objects) compare by their
 * canonical text (sel_json_canon): 0 exactly when they are the same value,
 * and otherwise some fixed order. */
int sel_value_compare(const struct sel_value *a, const struct sel_value *b,
		      int *cmp);

/* Equality under SQL '=' for non-null values: different type families are
 * simply unequal; numbers compare by value (1.0 = 1). */
bool sel_value_equal(const struct sel_value *a, const struct sel_value *b);

/* UPPER / LOWER: s[0..n) with every character mapped by the Unicode
 * simple case mapping (as Java's Character.toUpperCase), into out, which
 * must hold n + n / 2 bytes (a 2-byte character can map to a 3-byte one,
 * 'Ⱥ' to 'ⱥ'; ASCII maps to ASCII).  Bytes that are not valid UTF-8 are
 * kept as they are.  Returns the length written. */
size_t sel_value_case(const char *s, size_t n, bool upper, char *out);

/* Write code point c (at most U+10FFFF) as UTF-8 at o (4 bytes of room);
 * returns the bytes written. */
size_t sel_utf8_put(char *o, uint32_t c);

/* Append the text form used in CSV output and CAST AS STRING (strings
 * verbatim, no quotes; NULL/MISSING nothing).  Returns 0 or -E2BIG/-ENOMEM. */
int sel_value_to_text(const struct sel_value *v, struct cmn_buf *out);

/* Append the JSON form (strings quoted and escaped, timestamps as strings,
 * JSON raw text minified).  Returns 0 or -E2BIG/-ENOMEM. */
int sel_value_to_json(const struct sel_value *v, struct cmn_buf *out);

/* Append s[0..n) as a JSON string literal with quotes. */
int sel_value_json_quote(const char *s, size_t n, struct cmn_buf *out);

/* Append JSON text p[0..n) with insignificant whitespace removed. */
int sel_value_json_minify(const char *p, size_t n, struct cmn_buf *out);

/* Append the canonical text of the JSON value p[0..n) (sel_json.c): no
 * blanks, object members sorted, strings with escapes resolved, numbers
 * as exact significant digits and exponent.  Two texts are the same value
 * exactly when their canonical texts are the same bytes.  Returns 0, or
 * -EINVAL (not JSON), -ENOMEM, -E2BIG. */
int sel_json_canon(const char *p, size_t n, struct cmn_buf *out);

/* Shortest text that reads back as d ("1.5", "3.0", "1e+300"). */
int sel_value_fmt_double(double d, bool force_point, struct cmn_buf *out);

/* Timestamps (sel_time.c). */

/* Parse W3C/Ion timestamp text ("2007T", "2007-04-05T14:30Z",
 * "2007-04-05T14:30:15.123+02:00").  Returns 0 or -EINVAL. */
int sel_time_parse(const char *p, size_t n, struct sel_ts *ts);

/* Append the text of ts at its own precision. */
int sel_time_format(const struct sel_ts *ts, struct cmn_buf *out);

/* Civil fields of the local time of ts. */
struct sel_tm {
	int64_t year;
	int month, day, hour, minute, second, nsec;
};
void sel_time_to_tm(const struct sel_ts *ts, struct sel_tm *tm);

/* Build ts (UTC instant) from local civil fields and an offset. */
void sel_time_from_tm(const struct sel_tm *tm, int off_min, struct sel_ts *ts);

/* Current time, second precision with fraction digits as AWS UTCNOW. */
void sel_time_now(struct sel_ts *ts);

/* Date parts for DATE_ADD / DATE_DIFF / EXTRACT. */
enum sel_date_part {
	SEL_DP_YEAR = 0,
	SEL_DP_MONTH,
	SEL_DP_DAY,
	SEL_DP_HOUR,
	SEL_DP_MINUTE,
	SEL_DP_SECOND,
	SEL_DP_TIMEZONE_HOUR,
	SEL_DP_TIMEZONE_MINUTE,
};

/* Look up a date part name case-insensitively; -1 when unknown. */
int sel_time_part(const char *p, size_t n);

/* ts + n parts; precision is extended to the part when needed.
 * Returns 0 or -ERANGE. */
int sel_time_add(struct sel_ts *ts, int part, int64_t n);

/* Whole parts from a to b (negative when a is later). */
int64_t sel_time_diff(int part, const struct sel_ts *a, const struct sel_ts *b);

/* EXTRACT(part FROM ts). */
int64_t sel_time_extract(int part, const struct sel_ts *ts);

/* TO_STRING(ts, pattern): append the formatted text.  Returns 0, or a
 * negative sel_ec-independent error: -EINVAL for a bad pattern symbol
 * (*bad set to the offending index), -E2BIG. */
int sel_time_to_string(const struct sel_ts *ts, const char *pat, size_t plen,
		       struct cmn_buf *out, size_t *bad);

#endif
