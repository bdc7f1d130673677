/*
 * sel_json.c - the JSON reader (LINES and DOCUMENT) and the JSON helpers the
 * evaluator uses to reach values inside a record.
 *
 * No tree is built: a record is the raw text of one value, and a path is
 * resolved by skipping the members no step refers to (strings are skipped
 * with memchr).  Nesting is capped at SEL_MAX_JSON_DEPTH, so hostile input
 * gives JSONParsingError, never a stack overflow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sel_arena.h"
#include "sel_err.h"
#include "sel_io.h"
#include "sel_limits.h"
#include "sel_parser.h"

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Past the closing quote of the string whose opening quote is at p. */
static const char *skip_string(const char *p, const char *end, bool *partial)
{
	p++;
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q) {
			*partial = true;
			return NULL;
		}
		const char *b = q;
		while (b > p && b[-1] == '\\')
			b--;
		if (((q - b) & 1) == 0)
			return q + 1;
		p = q + 1;
	}
}

static const char *skip_lit(const char *p, const char *end, const char *lit,
			    size_t n, bool *partial)
{
	size_t have = (size_t)(end - p);
	if (have < n) {
		if (memcmp(p, lit, have) == 0)
			*partial = true;
		return NULL;
	}
	return memcmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *skip_number(const char *p, const char *end, bool *partial)
{
	const char *s = p;
	if (p < end && *p == '-')
		p++;
	while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
			   *p == 'E' || *p == '+' || *p == '-'))
		p++;
	/* A number that reaches the end of the text ends there; the
	 * DOCUMENT reader refills first when it might be cut. */
	(void)partial;
	return p > s && (p[-1] >= '0' && p[-1] <= '9') ? p : NULL;
}

static const char *skip_container(const char *p, const char *end, int depth,
				  bool *partial)
{
	char close = *p == '{' ? '}' : ']';
	bool obj = *p == '{';
	p = ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (p >= end) {
			*partial = true;
			return NULL;
		}
		if (obj) {
			if (*p != '"')
				return NULL;
			if (!(p = skip_string(p, end, partial)))
				return NULL;
			p = ws(p, end);
			if (p >= end) {
				*partial = true;
				return NULL;
			}
			if (*p++ != ':')
				return NULL;
		}
		if (!(p = sel_json_skip(p, end, depth + 1, partial)))
			return NULL;
		p = ws(p, end);
		if (p >= end) {
			*partial = true;
			return NULL;
		}
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = ws(p, end);
	}
}

const char *sel_json_skip(const char *p, const char *end, int depth,
			  bool *partial)
{
	if (depth > SEL_MAX_JSON_DEPTH)
		return NULL;
	p = ws(p, end);
	if (p >= end) {
		*partial = true;
		return NULL;
	}
	switch (*p) {
	case '{':
	case '[':
		return skip_container(p, end, depth, partial);
	case '"':
		return skip_string(p, end, partial);
	case 't':
		return skip_lit(p, end, "true", 4, partial);
	case 'f':
		return skip_lit(p, end, "false", 5, partial);
	case 'n':
		return skip_lit(p, end, "null", 4, partial);
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9'))
			return skip_number(p, end, partial);
		return NULL;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *p, const char *e, unsigned *out)
{
	if (e - p < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Unescape the string body p[0..n) into o (at least n bytes). */
static int unescape(const char *p, size_t n, char *o, size_t *olen)
{
	const char *e = p + n;
	size_t k = 0;
	while (p < e) {
		if (*p != '\\') {
			o[k++] = *p++;
			continue;
		}
		if (++p >= e)
			return -EINVAL;
		char c = *p++;
		unsigned cp, lo;
		switch (c) {
		case 'n':
			o[k++] = '\n';
			break;
		case 't':
			o[k++] = '\t';
			break;
		case 'r':
			o[k++] = '\r';
			break;
		case 'b':
			o[k++] = '\b';
			break;
		case 'f':
			o[k++] = '\f';
			break;
		case '/':
			o[k++] = '/';
			break;
		case '\\':
			o[k++] = '\\';
			break;
		case '"':
			o[k++] = '"';
			break;
		case 'u':
			if (hex4(p, e, &cp))
				return -EINVAL;
			p += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && e - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u' &&
			    hex4(p + 2, e, &lo) == 0 && lo >= 0xDC00 &&
			    lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				     (lo - 0xDC00);
				p += 6;
			}
			/* A lone surrogate is no character and UTF-8 cannot
			 * hold it: it becomes U+FFFD, as in other readers. */
			if (cp >= 0xD800 && cp < 0xE000)
				cp = 0xFFFD;
			k += sel_utf8_put(o + k, cp);
			break;
		default:
			return -EINVAL;
		}
	}
	*olen = k;
	return 0;
}

const char *sel_json_key(const char *k, size_t kn, char *buf, size_t cap,
			 size_t *len)
{
	*len = kn;
	if (!memchr(k, '\\', kn))
		return k;
	if (kn > cap || unescape(k, kn, buf, len))
		return NULL;
	return buf;
}

/* A member name as the query compares it: the key's body k[0..*kn) with
 * its escapes resolved into buf when it has any ("caf\u00e9" is café);
 * NULL, matching nothing, when that does not fit. */
#define SEL_JSON_KEY_BUF 256
static inline const char *key_name(const char *k, size_t *kn, char *buf)
{
	return sel_json_key(k, *kn, buf, SEL_JSON_KEY_BUF, kn);
}

/* The common integer, -?[0-9]{1,18}, without the general number parser.
 * Returns true with *out an INT, false to take the general path. */
static bool small_int(const char *p, size_t len, struct sel_value *out)
{
	size_t k = p[0] == '-';
	if (len - k < 1 || len - k > 18)
		return false;
	int64_t v = 0;
	for (size_t i = k; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	out->type = SEL_T_INT;
	out->u.i = k ? -v : v;
	return true;
}

int sel_json_value(const char *p, size_t n, struct sel_arena *scratch,
		   struct sel_value *out)
{
	const char *e = p + n;
	p = ws(p, e);
	while (e > p && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' ||
			 e[-1] == '\t'))
		e--;
	if (p >= e)
		return -EINVAL;
	size_t len = (size_t)(e - p);
	switch (*p) {
	case '"': {
		if (len < 2 || e[-1] != '"')
			return -EINVAL;
		const char *b = p + 1;
		size_t bn = len - 2;
		if (!memchr(b, '\\', bn)) {
			sel_value_str(out, b, bn);
			return 0;
		}
		/* \u escapes never grow: 6 bytes give at most 4. */
		char *o = sel_arena_alloc(scratch, bn + 1);
		size_t on;
		if (!o || unescape(b, bn, o, &on))
			return -EINVAL;
		sel_value_str(out, o, on);
		return 0;
	}
	case '{':
	case '[':
		out->type = SEL_T_JSON;
		out->u.s = p;
		out->len = (uint32_t)len;
		return 0;
	case 't':
	case 'f':
		out->type = SEL_T_BOOL;
		out->u.b = *p == 't';
		return len == (*p == 't' ? 4u : 5u) ? 0 : -EINVAL;
	case 'n':
		out->type = SEL_T_NULL;
		return len == 4 ? 0 : -EINVAL;
	default: {
		double f;
		int64_t i;
		bool is_int;
		if (small_int(p, len, out))
			return 0;
		if (sel_value_parse_num(p, len, &f, &i, &is_int))
			return -EINVAL;
		if (is_int) {
			out->type = SEL_T_INT;
			out->u.i = i;
		} else {
			out->type = SEL_T_FLOAT;
			out->u.f = f;
		}
		return 0;
	}
	}
}

int sel_json_iter(const char *p, size_t n, size_t *it, const char **kp,
		  size_t *kn, const char **vp, size_t *vn)
{
	const char *end = p + n, *s = ws(p, end);
	bool partial = false;
	if (s >= end || (*s != '{' && *s != '['))
		return -EINVAL;
	bool obj = *s == '{';
	char close = obj ? '}' : ']';
	const char *q = *it ? p + *it : ws(s + 1, end);
	if (q >= end)
		return -EINVAL;
	if (*q == close)
		return 0;
	*kp = NULL;
	*kn = 0;
	if (obj) {
		if (*q != '"')
			return -EINVAL;
		const char *ke = skip_string(q, end, &partial);
		if (!ke)
			return -EINVAL;
		*kp = q + 1;
		*kn = (size_t)(ke - q - 2);
		q = ws(ke, end);
		if (q >= end || *q++ != ':')
			return -EINVAL;
		q = ws(q, end);
	}
	const char *ve = sel_json_skip(q, end, 1, &partial);
	if (!ve)
		return -EINVAL;
	*vp = q;
	*vn = (size_t)(ve - q);
	q = ws(ve, end);
	if (q >= end)
		return -EINVAL;
	if (*q == ',')
		q = ws(q + 1, end);
	else if (*q != close)
		return -EINVAL;
	*it = (size_t)(q - p);
	return 1;
}

int sel_json_member(const char *p, size_t n, const char *name, size_t nlen,
		    bool exact, const char **vp, size_t *vn)
{
	size_t it = 0;
	const char *kp, *v;
	size_t kn, vl;
	int found = 0, r;
	const char *s = ws(p, p + n);
	if (s >= p + n || *s != '{')
		return 0;
	char kbuf[SEL_JSON_KEY_BUF];
	while ((r = sel_json_iter(p, n, &it, &kp, &kn, &v, &vl)) == 1) {
		if (!(kp = key_name(kp, &kn, kbuf)) || kn != nlen)
			continue;
		if (exact ? memcmp(kp, name, nlen) != 0
			  : strncasecmp(kp, name, nlen) != 0)
			continue;
		if (found && !exact)
			return -EEXIST;
		*vp = v;
		*vn = vl;
		found = 1;
		if (exact)
			return 1;
	}
	return r < 0 ? r : found;
}

int sel_json_element(const char *p, size_t n, int64_t idx, const char **vp,
		     size_t *vn)
{
	size_t it = 0;
	const char *kp;
	size_t kn;
	const char *s = ws(p, p + n);
	if (s >= p + n || *s != '[' || idx < 0)
		return 0;
	for (int64_t i = 0;; i++) {
		int r = sel_json_iter(p, n, &it, &kp, &kn, vp, vn);
		if (r <= 0)
			return r;
		if (i == idx)
			return 1;
	}
}

/* Canonical text (sel_json_canon): what makes two JSON texts the same
 * value is made the same bytes. */

static int canon(const char *p, size_t n, int depth, struct cmn_buf *out);

/* A string body b[0..bn) (escapes allowed), as its unescaped text quoted
 * again: "\u0041" and "A" are the same string. */
static int canon_str(const char *b, size_t bn, struct cmn_buf *out)
{
	if (!memchr(b, '\\', bn))
		return sel_value_json_quote(b, bn, out);
	char *u = malloc(bn + 1); /* unescaping never grows */
	size_t un;
	int r = u ? 0 : -ENOMEM;
	if (r == 0 && unescape(b, bn, u, &un))
		r = -EINVAL;
	if (r == 0)
		r = sel_value_json_quote(u, un, out);
	free(u);
	return r;
}

/* A number as sign, significant digits and the decimal exponent of the
 * first digit ("1.0", "10e-1" and "0.1e1" are all "1e0"): exact for any
 * decimal text, however long, so 1.0 = 1 without the rounding of doubles
 * (12345678901234567890 and ...891 stay different). */
static int canon_num(const char *p, size_t n, struct cmn_buf *out)
{
	const char *e = p + n, *q = p;
	bool neg = q < e && *q == '-';
	q += q < e && (*q == '-' || *q == '+');
	const char *ip = q;
	while (q < e && *q >= '0' && *q <= '9')
		q++;
	size_t nint = (size_t)(q - ip);
	const char *fp = q < e && *q == '.' ? ++q : q;
	while (q < e && *q >= '0' && *q <= '9')
		q++;
	size_t nfrac = (size_t)(q - fp);
	int64_t ex = 0;
	if (q < e && (*q == 'e' || *q == 'E')) {
		bool eneg = ++q < e && *q == '-';
		q += q < e && (*q == '-' || *q == '+');
		if (q >= e)
			return -EINVAL;
		for (; q < e && *q >= '0' && *q <= '9'; q++)
			if (ex < 1000000000) /* saturate: no double is there */
				ex = ex * 10 + (*q - '0');
		ex = eneg ? -ex : ex;
	}
	if (q != e || nint + nfrac == 0)
		return -EINVAL;
	/* The digits are ip[0..nint) then fp[0..nfrac); skip the zeros at
	 * both ends, counting where the first significant one is. */
	size_t nd = nint + nfrac, lo = 0, hi = nd;
#define DIGIT(k) ((k) < nint ? ip[k] : fp[(k)-nint])
	while (lo < nd && DIGIT(lo) == '0')
		lo++;
	if (lo == nd)
		return cmn_buf_addc(out, '0');
	while (DIGIT(hi - 1) == '0')
		hi--;
	int r = neg ? cmn_buf_addc(out, '-') : 0;
	for (size_t k = lo; k < hi && r == 0; k++)
		r = cmn_buf_addc(out, DIGIT(k));
#undef DIGIT
	if (r == 0)
		r = cmn_buf_printf(
			out, "e%lld",
			(long long)(ex + (int64_t)nint - (int64_t)lo - 1));
	return r < 0 ? r : 0;
}

struct canon_span {
	const char *p;
	size_t n;
};

static int span_cmp(const void *a, const void *b)
{
	const struct canon_span *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Sort the ',' separated canonical members out[from..) were written as
 * (offs[k] is where member k starts), so that member order does not
 * matter: {"x":1,"y":2} and {"y":2,"x":1} are one text. */
static int canon_sort(struct cmn_buf *out, size_t from, const size_t *offs,
		      size_t m)
{
	size_t len = out->len - from;
	char *tmp = malloc(len + 1);
	struct canon_span *sp = malloc((m ? m : 1) * sizeof(*sp));
	int r = tmp && sp ? 0 : -ENOMEM;
	if (r == 0) {
		memcpy(tmp, out->data + from, len);
		for (size_t k = 0; k < m; k++) {
			size_t end = k + 1 < m ? offs[k + 1] - 1 : out->len;
			sp[k].p = tmp + (offs[k] - from);
			sp[k].n = end - offs[k];
		}
		qsort(sp, m, sizeof(*sp), span_cmp);
		out->len = from;
		for (size_t k = 0; k < m && r == 0; k++) {
			if (k)
				r = cmn_buf_addc(out, ',');
			if (r == 0)
				r = cmn_buf_add(out, sp[k].p, sp[k].n);
		}
	}
	free(tmp);
	free(sp);
	return r;
}

static int canon_container(const char *p, size_t n, bool obj, int depth,
			   struct cmn_buf *out)
{
	size_t it = 0, kn, vn, m = 0, cap = 0, *offs = NULL, from;
	const char *kp, *vp;
	int r = cmn_buf_addc(out, obj ? '{' : '[');
	from = out->len;
	while (r == 0 &&
	       (r = sel_json_iter(p, n, &it, &kp, &kn, &vp, &vn)) == 1) {
		r = m ? cmn_buf_addc(out, ',') : 0;
		if (r == 0 && obj && m == cap) {
			size_t *no = realloc(offs, (cap = cap ? 2 * cap : 8) *
							   sizeof(*no));
			r = no ? 0 : -ENOMEM;
			offs = no ? no : offs;
		}
		if (r == 0 && obj) {
			offs[m] = out->len;
			if (!(r = canon_str(kp, kn, out)))
				r = cmn_buf_addc(out, ':');
		}
		if (r == 0)
			r = canon(vp, vn, depth + 1, out);
		m++;
	}
	if (r == 0 && obj && m > 1)
		r = canon_sort(out, from, offs, m);
	free(offs);
	return r ? r : cmn_buf_addc(out, obj ? '}' : ']');
}

static int canon(const char *p, size_t n, int depth, struct cmn_buf *out)
{
	const char *e = p + n;
	p = ws(p, e);
	while (e > p && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' ||
			 e[-1] == '\t'))
		e--;
	if (p >= e || depth > SEL_MAX_JSON_DEPTH)
		return -EINVAL;
	switch (*p) {
	case '{':
	case '[':
		return canon_container(p, (size_t)(e - p), *p == '{', depth,
				       out);
	case '"':
		if (e - p < 2 || e[-1] != '"')
			return -EINVAL;
		return canon_str(p + 1, (size_t)(e - p - 2), out);
	case 't':
	case 'f':
	case 'n':
		return cmn_buf_add(out, p, (size_t)(e - p));
	default:
		return canon_num(p, (size_t)(e - p), out);
	}
}

int sel_json_canon(const char *p, size_t n, struct cmn_buf *out)
{
	return canon(p, n, 0, out);
}

/* The record scanner: one pass over a record that checks it is exactly one
 * well-formed JSON value and, when it is an object, notes where the
 * top-level members the query refers to are.  Nothing is built or copied;
 * values no key names are skipped byte by byte. */

/* Bytes that end the fast loop inside a string: the quote, the escape and
 * the control characters JSON does not allow raw. */
static const unsigned char str_stop[256] = {
	[0 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
};

/* A mask with the high bit of (at least) the first byte of w that is a
 * quote, a backslash or a control character; 0 when there is none.  The
 * lowest set bit is exact (borrows only run upwards). */
static inline uint64_t stop_mask(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
	return ((q - ONES) & ~q & HIGHS) | ((b - ONES) & ~b & HIGHS) |
	       ((w - ONES * 0x20) & ~w & HIGHS);
}

/* The first byte at or after p that ends a run of plain string bytes:
 * sixteen at a time with SSE2 where there is SSE2, then eight at a time,
 * then one by one. */
static inline const char *string_stop(const char *p, const char *e, bool fenced)
{
	/* Fenced text (a LINES record in the window) is followed by a
	 * control byte and by SEL_SRC_PAD readable bytes: the scan stops at
	 * that byte at the latest, so no load needs a bound. */
	if (fenced) {
#ifdef __SSE2__
		const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'),
			      c = _mm_set1_epi8(0x1f);
		for (;;) {
			__m128i v = _mm_loadu_si128(
				(const __m128i *)(const void *)p);
			__m128i m = _mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(v, q),
					     _mm_cmpeq_epi8(v, b)),
				_mm_cmpeq_epi8(_mm_min_epu8(v, c), v));
			unsigned bits = (unsigned)_mm_movemask_epi8(m);
			if (bits)
				return p + __builtin_ctz(bits);
			p += 16;
		}
#else
		while (!str_stop[(unsigned char)*p])
			p++;
		return p;
#endif
	}
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), esc = _mm_set1_epi8('\\'),
		      ctl = _mm_set1_epi8(0x1f);
	while (e - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m =
			_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
						  _mm_cmpeq_epi8(v, esc)),
				     _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		if (bits)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (e - p >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t m = stop_mask(w);
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
	while (p < e && !str_stop[(unsigned char)*p])
		p++;
	return p;
}

/* The escape sequence at p (a backslash or a raw control character, which
 * JSON does not allow): past it, or NULL.  Out of line: it is rare. */
__attribute__((noinline)) static const char *string_escape(const char *p,
							   const char *e)
{
	unsigned cp;
	if (p >= e || *p != '\\' || e - p < 2)
		return NULL;
	if (p[1] == 'u')
		return hex4(p + 2, e, &cp) ? NULL : p + 6;
	if (p[1] && strchr("\"\\/bfnrt", p[1]))
		return p + 2;
	return NULL;
}

/* Past the closing quote of the string whose body starts at p, or NULL. */
static inline const char *scan_string(const char *p, const char *e, bool fenced)
{
	for (;;) {
		p = string_stop(p, e, fenced);
		if (p < e && *p == '"')
			return p + 1;
		if (!(p = string_escape(p, e)))
			return NULL;
	}
}

/* Past the byte c at p, with blanks before it skipped; NULL when the next
 * byte is not c.  Compact JSON has no blanks, so that case comes first. */
static inline const char *expect(const char *p, const char *e, char c)
{
	if (p < e && *p == c)
		return p + 1;
	p = ws(p, e);
	return p < e && *p == c ? p + 1 : NULL;
}

/* Blanks between tokens: usually none, so test the first byte inline. */
static inline const char *blank(const char *p, const char *e)
{
	if (p < e && (unsigned char)*p > ' ')
		return p;
	return ws(p, e);
}

/* Past a run of decimal digits (possibly empty): eight bytes at a time
 * while eight remain.  A byte is a digit when its high nibble is 3 and
 * adding 6 keeps it so; the first byte that is not a digit is exact (a
 * carry out of a byte only disturbs the bytes above it). */
static inline const char *digits(const char *p, const char *e, bool fenced)
{
	while (fenced) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t nd = ((w & (ONES * 0xF0)) |
			       (((w + ONES * 0x06) & (ONES * 0xF0)) >> 4)) ^
			      (ONES * 0x33);
		if (nd)
			return p + (__builtin_ctzll(nd) >> 3);
		p += 8;
	}
	while (e - p >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t nd = ((w & (ONES * 0xF0)) |
			       (((w + ONES * 0x06) & (ONES * 0xF0)) >> 4)) ^
			      (ONES * 0x33);
		if (nd)
			return p + (__builtin_ctzll(nd) >> 3);
		p += 8;
	}
	while (p < e && (unsigned)(*p - '0') <= 9)
		p++;
	return p;
}

/* A number by the JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * Past it, or NULL. */
static inline const char *scan_number(const char *p, const char *e, bool fenced)
{
	if (p < e && *p == '-')
		p++;
	const char *d = p;
	p = digits(p, e, fenced);
	if (p == d || (*d == '0' && p - d > 1))
		return NULL;
	if (p < e && *p == '.') {
		d = p + 1;
		if ((p = digits(d, e, fenced)) == d)
			return NULL;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		d = p;
		if ((p = digits(d, e, fenced)) == d)
			return NULL;
	}
	return p;
}

static const char *scan_container(const char *p, const char *e, bool fenced,
				  int depth);

/* The value at p (no blanks before it): scalars inline, containers out of
 * line, so the flat records of the common case make no calls. */
__attribute__((always_inline)) static inline const char *
scan_value(const char *p, const char *e, bool fenced, int depth)
{
	if (p >= e)
		return NULL;
	switch (*p) {
	case '"':
		return scan_string(p + 1, e, fenced);
	case '{':
	case '[':
		return depth >= SEL_MAX_JSON_DEPTH
			       ? NULL
			       : scan_container(p, e, fenced, depth);
	case 't':
		return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return scan_number(p, e, fenced);
	}
}

/* The members or elements of the container opening at p; the caller has
 * checked depth. */
static const char *scan_container(const char *p, const char *e, bool fenced,
				  int depth)
{
	bool obj = *p == '{';
	char close = obj ? '}' : ']';
	p = blank(p + 1, e);
	if (p < e && *p == close)
		return p + 1;
	for (;;) {
		if (obj) {
			if (p >= e || *p != '"' ||
			    !(p = scan_string(p + 1, e, fenced)))
				return NULL;
			p = blank(p, e);
			if (p >= e || *p != ':')
				return NULL;
			p = blank(p + 1, e);
		}
		if (!(p = scan_value(p, e, fenced, depth + 1)))
			return NULL;
		p = blank(p, e);
		if (p >= e)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p != ',')
			return NULL;
		p = blank(p + 1, e);
	}
}

static inline bool key_eq(const struct sel_jkey *k, const char *p, size_t n)
{
	if (k->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)k->name[i];
		unsigned char b = (unsigned char)p[i];
		if (a == b)
			continue;
		if (k->exact || (a | 0x20) != (b | 0x20) ||
		    (unsigned)((a | 0x20) - 'a') > 'z' - 'a')
			return false;
	}
	return true;
}

/* Note the member key p[0..kn) with value v[0..vn) in the slots it names. */
static void note_member(const struct sel_jkey *keys, uint32_t nkeys,
			struct sel_jslot *slots, const char *p, size_t kn,
			const char *v, size_t vn)
{
	for (uint32_t i = 0; i < nkeys; i++) {
		if (!key_eq(&keys[i], p, kn))
			continue;
		/* The first match is kept; a second one makes an unquoted
		 * name ambiguous, which the evaluator reports when (and only
		 * when) the path is evaluated. */
		if (slots[i].count++ == 0) {
			slots[i].v = v;
			slots[i].vn = (uint32_t)vn;
		}
	}
}

/* Bit L of lens: some key is L bytes long (63 and more share bit 63); bit
 * (c | 0x20) & 63 of firsts: some key starts with c.  Most members are
 * then passed over without comparing names.  Made once per reader. */
struct key_filter {
	uint64_t lens, firsts;
};

static void key_filter(const struct sel_jkey *keys, uint32_t nkeys,
		       struct key_filter *f)
{
	f->lens = f->firsts = 0;
	for (uint32_t i = 0; i < nkeys; i++) {
		f->lens |= 1ull << (keys[i].len < 63 ? keys[i].len : 63);
		f->firsts |= 1ull << ((keys[i].name[0] | 0x20) & 63);
	}
}

/* The shape of the records seen so far: for the member at each position
 * of the top-level object, the raw bytes from the key's opening quote to
 * the colon (`"name":`) and the query keys that name matches.  Records of
 * a LINES object mostly repeat their keys in the same order; a member
 * whose bytes equal the remembered ones is the same valid string and the
 * same colon, so the scanner skips scanning and comparing its name and
 * goes straight to the value.  Anything else takes the full path, which
 * remembers the new name for the next record. */
#define SHAPE_MEMBERS 32

struct shape {
	struct {
		uint64_t t[2], m[2]; /* the token, and which bytes count */
		uint64_t keys;	     /* bit i: keys[i] names this member */
		uint8_t len;	     /* token length, 0: nothing remembered */
	} at[SHAPE_MEMBERS];
};

/* Forget every token: a slot that remembers nothing wants a NUL where
 * every member starts with a quote, so it never matches. */
static void shape_init(struct shape *sh)
{
	memset(sh, 0, sizeof(*sh));
	for (uint32_t a = 0; a < SHAPE_MEMBERS; a++)
		sh->at[a].m[0] = 0xff;
}

/* Does the member at p start with the remembered token of slot a? */
static inline bool shape_hit(const struct shape *sh, uint32_t a, const char *p,
			     const char *e)
{
	uint64_t w0, w1;
	if (a >= SHAPE_MEMBERS || e - p < 16)
		return false;
	memcpy(&w0, p, 8);
	memcpy(&w1, p + 8, 8);
	return (((w0 ^ sh->at[a].t[0]) & sh->at[a].m[0]) |
		((w1 ^ sh->at[a].t[1]) & sh->at[a].m[1])) == 0;
}

/* Remember the token tok[0..n) (quote, name, quote, colon) for position
 * a; k[0..kn) is the name. */
static void shape_learn(struct shape *sh, uint32_t a, const char *tok, size_t n,
			const struct sel_jkey *keys, uint32_t nkeys,
			const char *k, size_t kn)
{
	if (a >= SHAPE_MEMBERS)
		return;
	sh->at[a].len = 0;
	sh->at[a].t[0] = 0;
	sh->at[a].m[0] = 0xff;
	if (n > 16 || nkeys > 64)
		return;
	unsigned char b[16] = {0}, m[16] = {0};
	memcpy(b, tok, n);
	memset(m, 0xff, n);
	memcpy(sh->at[a].t, b, 16);
	memcpy(sh->at[a].m, m, 16);
	char kbuf[SEL_JSON_KEY_BUF];
	const char *nm = key_name(k, &kn, kbuf);
	sh->at[a].keys = 0;
	for (uint32_t i = 0; nm && i < nkeys; i++)
		if (key_eq(&keys[i], nm, kn))
			sh->at[a].keys |= 1ull << i;
	sh->at[a].len = (uint8_t)n;
}

/* The top-level object at p: like scan_container, and each member is
 * offered to the slots.  sh: the reader's shape, or NULL. */
static const char *scan_top_object(const char *p, const char *e,
				   const struct sel_jkey *keys, uint32_t nkeys,
				   const struct key_filter *f,
				   struct sel_jslot *slots, struct shape *sh,
				   bool fenced)
{
	uint64_t lens = f->lens, firsts = f->firsts;
	char kbuf[SEL_JSON_KEY_BUF];
	p = blank(p + 1, e);
	if (p < e && *p == '}')
		return p + 1;
	for (uint32_t a = 0;; a++) {
		const char *v;
		if (sh && shape_hit(sh, a, p, e)) {
			v = blank(p + sh->at[a].len, e);
			if (!(p = scan_value(v, e, fenced, 1)))
				return NULL;
			for (uint64_t h = sh->at[a].keys; h; h &= h - 1) {
				struct sel_jslot *sl =
					&slots[__builtin_ctzll(h)];
				if (sl->count++ == 0) {
					sl->v = v;
					sl->vn = (uint32_t)(p - v);
				}
			}
		} else {
			if (p >= e || *p != '"')
				return NULL;
			const char *k = p + 1;
			if (!(p = scan_string(k, e, fenced)))
				return NULL;
			size_t kn = (size_t)(p - 1 - k);
			if (sh && p < e && *p == ':')
				shape_learn(sh, a, k - 1, kn + 3, keys, nkeys,
					    k, kn);
			if (!(p = expect(p, e, ':')))
				return NULL;
			v = blank(p, e);
			if (!(p = scan_value(v, e, fenced, 1)))
				return NULL;
			const char *nm = key_name(k, &kn, kbuf);
			/* The first-byte bit is case-folded: a filter, never
			 * a match. */
			if (nm && ((lens >> (kn < 63 ? kn : 63)) & 1) &&
			    (kn == 0 ||
			     ((firsts >> ((nm[0] | 0x20) & 63)) & 1)))
				note_member(keys, nkeys, slots, nm, kn, v,
					    (size_t)(p - v));
		}
		if (p < e && *p == ',') {
			p = blank(p + 1, e);
			continue;
		}
		p = ws(p, e);
		if (p < e && *p == '}')
			return p + 1;
		if (p >= e || *p != ',')
			return NULL;
		p = blank(p + 1, e);
	}
}

static int scan_record(const char *p, size_t n, const struct sel_jkey *keys,
		       uint32_t nkeys, const struct key_filter *f,
		       struct sel_jslot *slots, struct shape *sh, bool fenced)
{
	const char *e = p + n, *q;
	if (nkeys)
		memset(slots, 0, nkeys * sizeof(*slots));
	p = blank(p, e);
	if (p < e && *p == '{')
		q = scan_top_object(p, e, keys, nkeys, f, slots, sh, fenced);
	else
		q = scan_value(p, e, fenced, 0);
	if (!q || ws(q, e) != e)
		return -EINVAL;
	return 0;
}

int sel_json_scan(const char *p, size_t n, const struct sel_jkey *keys,
		  uint32_t nkeys, struct sel_jslot *slots)
{
	struct key_filter f;
	key_filter(keys, nkeys, &f);
	return scan_record(p, n, keys, nkeys, &f, slots, NULL, false);
}

/* The reader. */

struct match {
	const char *p; /* NULL: a MISSING row */
	uint32_t n;
};

struct jr {
	struct key_filter filter; /* of r->keys, made at the first record */
	bool filtered;
	struct shape shape;
	struct match *m;
	size_t nm, cap, pos;
	bool pending_missing;
	bool done;
	size_t scan_from;
	const struct sel_step *from;
	uint32_t nfrom;
	uint64_t root_off;
	struct sel_jslot *slots; /* r->nkeys of them, for FROM-less records */
};

static int add_match(struct jr *j, const char *p, size_t n)
{
	if (j->nm == j->cap) {
		size_t nc = j->cap ? 2 * j->cap : 16;
		struct match *nm = realloc(j->m, nc * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		j->m = nm;
		j->cap = nc;
	}
	j->m[j->nm].p = p;
	j->m[j->nm].n = (uint32_t)n;
	j->nm++;
	return 0;
}

/* Collect the values the FROM path selects in p[0..n), one match per row
 * (a NULL one for a MISSING row). */
static int walk(struct jr *j, uint32_t i, const char *p, size_t n)
{
	if (i == j->nfrom)
		return add_match(j, p, n);
	const struct sel_step *s = &j->from[i];
	const char *v, *kp;
	size_t vn, kn, it = 0;
	int r;
	switch (s->kind) {
	case SEL_STEP_NAME:
		r = sel_json_member(p, n, s->name, s->len, s->quoted, &v, &vn);
		if (r == -EEXIST)
			r = sel_json_member(p, n, s->name, s->len, true, &v,
					    &vn);
		return r == 1 ? walk(j, i + 1, v, vn) : (r < 0 ? r : 0);
	case SEL_STEP_INDEX:
		r = sel_json_element(p, n, s->index, &v, &vn);
		return r == 1 ? walk(j, i + 1, v, vn) : (r < 0 ? r : 0);
	default: {
		const char *t = ws(p, p + n);
		char want = s->kind == SEL_STEP_WILD_IDX ? '[' : '{';
		if (t >= p + n || *t != want)
			return 0;
		while ((r = sel_json_iter(p, n, &it, &kp, &kn, &v, &vn)) == 1) {
			size_t had = j->nm;
			if ((r = walk(j, i + 1, v, vn)) < 0)
				return r;
			/* Every element is a row even when the rest of the
			 * path selects nothing in it: the row is MISSING
			 * (AWS Example #1, `S3Object[*].Rules[*].id` over
			 * a rule without id gives {}). */
			if (j->nm == had && (r = add_match(j, NULL, 0)) < 0)
				return r;
		}
		return r;
	}
	}
}

static int json_open(struct sel_reader *r, struct sel_error *err)
{
	struct jr *j = calloc(1, sizeof(*j));
	if (!j)
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	r->priv = j;
	shape_init(&j->shape);
	j->from = r->from;
	j->nfrom = r->nfrom;
	if (r->range.has_start && r->range.start > 0) {
		struct sel_src *s = r->src;
		for (;;) {
			const char *e = memchr(s->buf + s->start, '\n',
					       s->end - s->start);
			if (e) {
				s->start = (size_t)(e - s->buf) + 1;
				break;
			}
			s->start = s->end;
			ssize_t m = sel_src_more(s, err);
			if (m < 0)
				return (int)m;
			if (m == 0)
				break;
		}
	}
	return 0;
}

/* The next non-blank line of a LINES document. */
__attribute__((always_inline)) static inline int
next_line(struct sel_reader *r, struct jr *j, const char **p, size_t *n,
	  struct sel_error *err)
{
	struct sel_src *s = r->src;
	for (;;) {
		const char *b = s->buf + s->start;
		const char *e = memchr(b + j->scan_from, '\n',
				       s->end - s->start - j->scan_from);
		size_t len;
		if (!e && !s->eof) {
			j->scan_from = s->end - s->start;
			ssize_t m = sel_src_more(s, err);
			if (m < 0)
				return (int)m;
			continue;
		}
		j->scan_from = 0;
		len = e ? (size_t)(e - b) : s->end - s->start;
		if (!e && len == 0)
			return 0;
		j->root_off = s->base + s->start;
		s->start += len + (e ? 1 : 0);
		if (r->range.has_end && j->root_off > r->range.end)
			return 0;
		if (len > SEL_MAX_RECORD)
			return sel_err_set(
				err, SEL_E_OverMaxRecordSize, 0, 0,
				"a record is longer than the maximum "
				"of maxCharsPerRecord of 1 MB");
		const char *t = ws(b, b + len);
		if (t == b + len)
			continue;
		*p = t;
		*n = (size_t)(b + len - t);
		return 1;
	}
}

/* The next top-level value of a DOCUMENT. */
static int next_doc(struct sel_reader *r, const char **p, size_t *n,
		    struct sel_error *err)
{
	struct sel_src *s = r->src;
	for (;;) {
		const char *b = ws(s->buf + s->start, s->buf + s->end);
		s->start = (size_t)(b - s->buf);
		if (s->start == s->end) {
			if (s->eof)
				return 0;
			ssize_t m = sel_src_more(s, err);
			if (m < 0)
				return (int)m;
			continue;
		}
		bool partial = false;
		const char *e = sel_json_skip(b, s->buf + s->end, 0, &partial);
		if (!e && partial && !s->eof) {
			ssize_t m = sel_src_more(s, err);
			if (m < 0)
				return (int)m;
			continue;
		}
		if (!e)
			return sel_err_set(
				err, SEL_E_JSONParsingError, 0, 0,
				"invalid JSON at byte %llu",
				(unsigned long long)(s->base + s->start));
		/* A number at the very end of the window may be cut. */
		if (e == s->buf + s->end && !s->eof && *b != '{' && *b != '[' &&
		    *b != '"') {
			ssize_t m = sel_src_more(s, err);
			if (m < 0)
				return (int)m;
			continue;
		}
		*p = b;
		*n = (size_t)(e - b);
		s->start = (size_t)(e - s->buf);
		return 1;
	}
}

/* A whole record p[0..n) just read: validate it (AWS rejects a malformed
 * line even when the query looks at nothing in it) and, in the same pass,
 * resolve the members the query names; or, with a FROM path, collect what
 * the path selects.  0 or -errno. */
static int take_record(struct sel_reader *r, struct jr *j, const char *p,
		       size_t n)
{
	int rr;
	if (r->has_from_path) {
		if ((rr = sel_json_scan(p, n, NULL, 0, NULL)) ||
		    (rr = walk(j, 0, p, n)))
			return rr;
		if (j->nm == 0)
			j->pending_missing = true;
		return 0;
	}
	if (r->nkeys && !j->slots &&
	    !(j->slots = calloc(r->nkeys, sizeof(*j->slots))))
		return -ENOMEM;
	if (!j->filtered) {
		key_filter(r->keys, r->nkeys, &j->filter);
		j->filtered = true;
	}
	if ((rr = scan_record(p, n, r->keys, r->nkeys, &j->filter, j->slots,
			      &j->shape, false)))
		return rr;
	return add_match(j, p, n);
}

/* JSON LINES without a FROM path, the common case: one line is one
 * record, handed over as it is scanned, without the match list. */
__attribute__((always_inline)) static inline int
next_plain_line(struct sel_reader *r, struct jr *j, struct sel_record *rec,
		struct sel_error *err)
{
	const char *p = NULL;
	size_t n = 0;
	int rr = j->done ? 0 : next_line(r, j, &p, &n, err);
	if (rr <= 0) {
		j->done = true;
		return rr;
	}
	if (!j->filtered) {
		key_filter(r->keys, r->nkeys, &j->filter);
		j->filtered = true;
	}
	if (r->nkeys && !j->slots &&
	    !(j->slots = calloc(r->nkeys, sizeof(*j->slots))))
		return sel_err_set(err, SEL_E_InternalError, 0, 0,
				   "out of memory");
	if (scan_record(p, n, r->keys, r->nkeys, &j->filter, j->slots,
			&j->shape, true))
		return sel_err_set(err, SEL_E_JSONParsingError, 0, 0,
				   "invalid JSON record at byte %llu",
				   (unsigned long long)j->root_off);
	rec->kind = SEL_REC_JSON;
	rec->nfields = 0;
	rec->fields = NULL;
	rec->json = p;
	rec->json_len = (uint32_t)n;
	rec->slots = j->slots;
	rec->missing = false;
	rec->offset = j->root_off;
	return 1;
}

static int json_next(struct sel_reader *r, struct sel_record *rec,
		     struct sel_error *err)
{
	struct jr *j = r->priv;
	if (!r->has_from_path && !r->opts->json_document)
		return next_plain_line(r, j, rec, err);
	rec->kind = SEL_REC_JSON;
	rec->nfields = 0;
	rec->fields = NULL;
	for (;;) {
		if (j->pos < j->nm) {
			rec->json = j->m[j->pos].p;
			rec->json_len = j->m[j->pos].n;
			rec->slots = r->has_from_path ? NULL : j->slots;
			rec->missing = !rec->json; /* see walk() */
			rec->offset = j->root_off;
			j->pos++;
			return 1;
		}
		if (j->pending_missing) {
			j->pending_missing = false;
			rec->json = NULL;
			rec->json_len = 0;
			rec->slots = NULL;
			rec->missing = true;
			return 1;
		}
		if (j->done)
			return 0;
		const char *p = NULL;
		size_t n = 0;
		int rr = r->opts->json_document ? next_doc(r, &p, &n, err)
						: next_line(r, j, &p, &n, err);
		if (rr <= 0) {
			j->done = true;
			return rr;
		}
		if (r->opts->json_document)
			j->root_off = r->src->base + (size_t)(p - r->src->buf);
		j->nm = j->pos = 0;
		if ((rr = take_record(r, j, p, n)) == -ENOMEM)
			return sel_err_set(err, SEL_E_InternalError, 0, 0,
					   "out of memory");
		if (rr < 0)
			return sel_err_set(err, SEL_E_JSONParsingError, 0, 0,
					   "invalid JSON record at byte %llu",
					   (unsigned long long)j->root_off);
	}
}

static void json_close(struct sel_reader *r)
{
	struct jr *j = r->priv;
	if (!j)
		return;
	free(j->m);
	free(j->slots);
	free(j);
	r->priv = NULL;
}

const struct sel_reader_ops sel_json_reader = {
	.name = "JSON",
	.open = json_open,
	.next_record = json_next,
	.close = json_close,
};
