/*
 * sel_value.c - conversions, comparison and printing of evaluator values.
 */
#include "sel_value.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "cmn_buf.h"

const char *sel_value_type_name(enum sel_type t)
{
	static const char *const names[] = {
		"MISSING", "NULL",   "BOOL",	  "INT",  "FLOAT",
		"DECIMAL", "STRING", "TIMESTAMP", "JSON",
	};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

double sel_value_as_double(const struct sel_value *v)
{
	return v->type == SEL_T_INT ? (double)v->u.i : v->u.f;
}

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

int sel_value_parse_int(const char *p, size_t n, int64_t *out)
{
	trim(&p, &n);
	bool neg = false;
	if (n && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
		n--;
	}
	if (n == 0)
		return -EINVAL;
	uint64_t acc = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned d = (unsigned char)p[k] - '0';
		if (d > 9)
			return -EINVAL;
		if (acc > (UINT64_MAX - d) / 10)
			return -ERANGE;
		acc = acc * 10 + d;
	}
	if (neg) {
		if (acc > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*out = (int64_t)(0 - acc);
	} else {
		if (acc > (uint64_t)INT64_MAX)
			return -ERANGE;
		*out = (int64_t)acc;
	}
	return 0;
}

static const double pow10tab[] = {
	1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,	1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Exact fast path for [-+]digits[.digits] with at most 15 significant
 * digits: both the mantissa and the power of ten are exact doubles, so one
 * division rounds correctly. */
static int fast_num(const char *p, size_t n, double *f, int64_t *i,
		    bool *is_int)
{
	size_t k = 0;
	bool neg = false;
	if (k < n && (p[k] == '-' || p[k] == '+'))
		neg = p[k++] == '-';
	uint64_t m = 0;
	int digits = 0, frac = 0;
	bool point = false, any = false;
	for (; k < n; k++) {
		unsigned d = (unsigned char)p[k] - '0';
		if (d <= 9) {
			if (digits || d)
				digits++;
			m = m * 10 + d;
			any = true;
			if (point)
				frac++;
			if (digits > 15)
				return -EAGAIN;
		} else if (p[k] == '.' && !point) {
			point = true;
		} else {
			return -EAGAIN;
		}
	}
	if (!any || frac > 22)
		return -EAGAIN;
	double v = (double)m / pow10tab[frac];
	*f = neg ? -v : v;
	*is_int = !point;
	if (!point)
		*i = neg ? -(int64_t)m : (int64_t)m;
	return 0;
}

int sel_value_parse_num(const char *p, size_t n, double *f, int64_t *i,
			bool *is_int)
{
	trim(&p, &n);
	if (n == 0)
		return -EINVAL;
	if (fast_num(p, n, f, i, is_int) == 0)
		return 0;
	/* Only the characters of a decimal or exponent number reach strtod,
	 * so "nan", "inf" and hex floats are refused. */
	bool point = false, exp = false;
	for (size_t k = 0; k < n; k++) {
		char c = p[k];
		if (c == '.')
			point = true;
		else if (c == 'e' || c == 'E')
			exp = true;
		else if (!(c >= '0' && c <= '9') && c != '+' && c != '-')
			return -EINVAL;
	}
	if (!point && !exp) {
		int r = sel_value_parse_int(p, n, i);
		if (r == 0) {
			*f = (double)*i;
			*is_int = true;
			return 0;
		}
	}
	char *tmp = malloc(n + 1);
	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *end = NULL;
	errno = 0;
	double d = strtod(tmp, &end);
	bool ok = end == tmp + n && n > 0;
	free(tmp);
	if (!ok)
		return -EINVAL;
	*f = d;
	*is_int = false;
	return 0;
}

static int cmp_num(const struct sel_value *a, const struct sel_value *b)
{
	if (a->type == SEL_T_INT && b->type == SEL_T_INT)
		return (a->u.i > b->u.i) - (a->u.i < b->u.i);
	double x = sel_value_as_double(a), y = sel_value_as_double(b);
	return (x > y) - (x < y);
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c < 0 ? -1 : 1;
	return (an > bn) - (an < bn);
}

/* JSON values compare as values, not as the bytes they were written with
 * ([1, 2] = [1,2], {"x":1,"y":2} = {"y":2,"x":1}, [1.0] = [1]): by their
 * canonical texts.  Text that is not JSON (never from the readers, which
 * validate records) falls back to its bytes. */
static int cmp_json(const struct sel_value *a, const struct sel_value *b)
{
	if (a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0)
		return 0;
	char sa[256], sb[256];
	struct cmn_buf ca, cb;
	/* Canonical numbers may grow ("1" is "1e0"): room for that. */
	cmn_buf_init_on(&ca, 4 * (size_t)a->len + 64, sa, sizeof(sa));
	cmn_buf_init_on(&cb, 4 * (size_t)b->len + 64, sb, sizeof(sb));
	int c;
	if (sel_json_canon(a->u.s, a->len, &ca) == 0 &&
	    sel_json_canon(b->u.s, b->len, &cb) == 0)
		c = cmp_bytes(ca.data, ca.len, cb.data, cb.len);
	else
		c = cmp_bytes(a->u.s, a->len, b->u.s, b->len);
	cmn_buf_free(&ca);
	cmn_buf_free(&cb);
	return c;
}

int sel_value_compare(const struct sel_value *a, const struct sel_value *b,
		      int *cmp)
{
	if (sel_value_is_num(a) && sel_value_is_num(b)) {
		*cmp = cmp_num(a, b);
		return 0;
	}
	if (a->type != b->type)
		return -EDOM;
	switch (a->type) {
	case SEL_T_STRING:
		*cmp = cmp_bytes(a->u.s, a->len, b->u.s, b->len);
		return 0;
	case SEL_T_JSON:
		*cmp = cmp_json(a, b);
		return 0;
	case SEL_T_BOOL:
		*cmp = (int)a->u.b - (int)b->u.b;
		return 0;
	case SEL_T_TIMESTAMP:
		if (a->u.ts.secs != b->u.ts.secs)
			*cmp = a->u.ts.secs < b->u.ts.secs ? -1 : 1;
		else
			*cmp = (a->u.ts.nsec > b->u.ts.nsec) -
			       (a->u.ts.nsec < b->u.ts.nsec);
		return 0;
	default:
		return -EDOM;
	}
}

bool sel_value_equal(const struct sel_value *a, const struct sel_value *b)
{
	int c;
	if (sel_value_compare(a, b, &c) < 0)
		return false;
	return c == 0;
}

/* The text of d when it is a decimal of at most 15 significant digits
 * and 6 fraction digits in [1e-4, 1e15) (most data: prices, scores,
 * measurements), into tmp; its length, or 0 for the general path.  It is
 * what "%.15g" prints then: d is the double nearest m / 10^k, which
 * rounding to 15 digits gives back, with no trailing zero when k is the
 * smallest that works.  Without printf and strtod, which cost more than
 * the rest of a record. */
static size_t fmt_short(double d, char *tmp)
{
	static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	double a = fabs(d);
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (int k = 0; k <= 6; k++) {
		double s = a * p10[k];
		if (s >= 1e15)
			return 0;
		double m = nearbyint(s);
		if (m / p10[k] != a)
			continue;
		char dig[24];
		int nd = 0;
		for (uint64_t u = (uint64_t)m; u; u /= 10)
			dig[nd++] = (char)('0' + u % 10);
		size_t n = 0;
		if (d < 0)
			tmp[n++] = '-';
		if (nd <= k) { /* 0.0…digits */
			tmp[n++] = '0';
			tmp[n++] = '.';
			for (int z = nd; z < k; z++)
				tmp[n++] = '0';
		}
		for (int i = nd - 1; i >= 0; i--) {
			tmp[n++] = dig[i];
			if (i == k && k > 0 && nd > k)
				tmp[n++] = '.';
		}
		tmp[n] = '\0';
		return n;
	}
	return 0;
}

int sel_value_fmt_double(double d, bool force_point, struct cmn_buf *out)
{
	char tmp[40];
	if (isnan(d))
		return cmn_buf_adds(out, "NaN");
	if (isinf(d))
		return cmn_buf_adds(out, d < 0 ? "-Infinity" : "Infinity");
	size_t n = fmt_short(d, tmp);
	for (int prec = 15; !n && prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	int r = cmn_buf_adds(out, tmp);
	if (r == 0 && force_point && !strpbrk(tmp, ".eEn"))
		r = cmn_buf_adds(out, ".0");
	return r;
}

/* Decimal text of an int64 without the printf machinery (one output
 * field per record makes it hot). */
static int put_int(int64_t i, struct cmn_buf *out)
{
	char tmp[24];
	size_t k = sizeof(tmp);
	uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
	do {
		tmp[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (i < 0)
		tmp[--k] = '-';
	return cmn_buf_add(out, tmp + k, sizeof(tmp) - k);
}

int sel_value_to_text(const struct sel_value *v, struct cmn_buf *out)
{
	switch (v->type) {
	case SEL_T_MISSING:
	case SEL_T_NULL:
		return 0;
	case SEL_T_BOOL:
		return cmn_buf_adds(out, v->u.b ? "true" : "false");
	case SEL_T_INT:
		return put_int(v->u.i, out);
	case SEL_T_FLOAT:
		return sel_value_fmt_double(v->u.f, true, out);
	case SEL_T_DECIMAL:
		return sel_value_fmt_double(v->u.f, false, out);
	case SEL_T_STRING:
		return cmn_buf_add(out, v->u.s, v->len);
	case SEL_T_TIMESTAMP:
		return sel_time_format(&v->u.ts, out);
	case SEL_T_JSON:
		return sel_value_json_minify(v->u.s, v->len, out);
	}
	return 0;
}

int sel_value_json_quote(const char *s, size_t n, struct cmn_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	int r = cmn_buf_addc(out, '"');
	size_t run = 0;
	for (size_t k = 0; k < n && r == 0; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		r = cmn_buf_add(out, s + run, k - run);
		run = k + 1;
		if (r)
			break;
		char esc[7] = {'\\', 0};
		size_t el = 2;
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		r = cmn_buf_add(out, esc, el);
	}
	if (r == 0)
		r = cmn_buf_add(out, s + run, n - run);
	if (r == 0)
		r = cmn_buf_addc(out, '"');
	return r;
}

int sel_value_json_minify(const char *p, size_t n, struct cmn_buf *out)
{
	size_t start = 0;
	bool in_str = false;
	for (size_t k = 0; k < n; k++) {
		char c = p[k];
		if (in_str) {
			if (c == '\\')
				k++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			int r = cmn_buf_add(out, p + start, k - start);
			if (r)
				return r;
			start = k + 1;
		}
	}
	return cmn_buf_add(out, p + start, n - start);
}

int sel_value_to_json(const struct sel_value *v, struct cmn_buf *out)
{
	switch (v->type) {
	case SEL_T_MISSING:
	case SEL_T_NULL:
		return cmn_buf_adds(out, "null");
	case SEL_T_STRING:
		return sel_value_json_quote(v->u.s, v->len, out);
	case SEL_T_TIMESTAMP: {
		int r = cmn_buf_addc(out, '"');
		if (r == 0)
			r = sel_time_format(&v->u.ts, out);
		if (r == 0)
			r = cmn_buf_addc(out, '"');
		return r;
	}
	case SEL_T_FLOAT:
	case SEL_T_DECIMAL:
		if (isnan(v->u.f) || isinf(v->u.f))
			return cmn_buf_adds(out, "null");
		return sel_value_to_text(v, out);
	default:
		return sel_value_to_text(v, out);
	}
}

/* Case mapping.  The C library knows Unicode's simple case mapping in a
 * UTF-8 locale; the process's own locale is not to be relied on (or
 * changed), so a C.UTF-8 LC_CTYPE is made once, for every thread, and
 * never changes after.  (locale_t)0 when it is not installed: non-ASCII
 * characters then stay as they are. */
static locale_t case_loc;
static pthread_once_t case_once = PTHREAD_ONCE_INIT;

static void case_init(void)
{
	case_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decode one UTF-8 character at s[0..n): its length (1..4) with *cp, or
 * 0 when the bytes there are not a valid, shortest-form encoding. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (len == 0 || s[0] > 0xF4 || len > n)
		return 0;
	uint32_t c = s[0] & (0x7F >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[k] & 0x3F);
	}
	if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
		return 0;
	*cp = c;
	return len;
}

size_t sel_utf8_put(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* The mapping of one non-ASCII character; c itself when there is none or
 * when the library's answer is no character. */
static uint32_t case_cp(uint32_t c, bool upper)
{
	if (!case_loc)
		return c;
	wint_t m = upper ? towupper_l((wint_t)c, case_loc)
			 : towlower_l((wint_t)c, case_loc);
	if ((uint32_t)m > 0x10FFFF || (m >= 0xD800 && m < 0xE000))
		return c;
	return (uint32_t)m;
}

size_t sel_value_case(const char *s, size_t n, bool upper, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = 0, o = 0;
	bool loc = false;
	while (k < n) {
		unsigned char c = u[k];
		if (c < 0x80) { /* the common case: no decoding, no locale */
			if (upper && c >= 'a' && c <= 'z')
				c = (unsigned char)(c - 32);
			else if (!upper && c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			out[o++] = (char)c;
			k++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(u + k, n - k, &cp);
		if (len == 0) { /* not UTF-8: the byte stays */
			out[o++] = (char)c;
			k++;
			continue;
		}
		if (!loc) {
			pthread_once(&case_once, case_init);
			loc = true;
		}
		/* No k-byte character grows past k + k/2 bytes (2 to 3
		 * at most in Unicode's tables): one that would keeps its
		 * bytes, so out never needs more than n + n/2. */
		char enc[4];
		size_t el = sel_utf8_put(enc, case_cp(cp, upper));
		if (el > len + len / 2) {
			memcpy(enc, u + k, len);
			el = len;
		}
		memcpy(out + o, enc, el);
		o += el;
		k += len;
	}
	return o;
}
