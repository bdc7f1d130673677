/*
 * sel_time.c - timestamps: W3C/Ion text parsing and printing at the input's
 * precision, civil-calendar arithmetic for DATE_ADD / DATE_DIFF / EXTRACT,
 * and the TO_STRING pattern formatter.  Pure functions, thread-safe.
 */
#include "sel_value.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmn_buf.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int month_days(int64_t y, int m)
{
	static const int md[] = {31, 28, 31, 30, 31, 30,
				 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : md[m - 1];
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

void sel_time_to_tm(const struct sel_ts *ts, struct sel_tm *tm)
{
	int64_t local = ts->secs + (int64_t)ts->off_min * 60;
	int64_t days = floordiv(local, 86400);
	int64_t rem = local - days * 86400;
	civil_from_days(days, &tm->year, &tm->month, &tm->day);
	tm->hour = (int)(rem / 3600);
	tm->minute = (int)(rem / 60 % 60);
	tm->second = (int)(rem % 60);
	tm->nsec = ts->nsec;
}

void sel_time_from_tm(const struct sel_tm *tm, int off_min, struct sel_ts *ts)
{
	int64_t days = days_from_civil(tm->year, tm->month, tm->day);
	ts->secs = days * 86400 + tm->hour * 3600 + tm->minute * 60 +
		   tm->second - (int64_t)off_min * 60;
	ts->nsec = tm->nsec;
	ts->off_min = (int16_t)off_min;
}

static int digits(const char *p, size_t n, size_t *k, int count, int *out)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		if (*k >= n || p[*k] < '0' || p[*k] > '9')
			return -EINVAL;
		v = v * 10 + (p[(*k)++] - '0');
	}
	*out = v;
	return 0;
}

static int parse_offset(const char *p, size_t n, size_t *k, struct sel_ts *ts)
{
	if (*k < n && (p[*k] == 'Z' || p[*k] == 'z')) {
		(*k)++;
		ts->off_min = 0;
		return 0;
	}
	if (*k >= n || (p[*k] != '+' && p[*k] != '-'))
		return -EINVAL;
	bool neg = p[(*k)++] == '-';
	int hh, mm;
	if (digits(p, n, k, 2, &hh) || *k >= n || p[(*k)++] != ':' ||
	    digits(p, n, k, 2, &mm) || hh > 23 || mm > 59)
		return -EINVAL;
	ts->off_min = (int16_t)((neg ? -1 : 1) * (hh * 60 + mm));
	ts->off_unknown = neg && hh == 0 && mm == 0;
	return 0;
}

static int parse_time(const char *p, size_t n, size_t *k, struct sel_tm *tm,
		      struct sel_ts *ts)
{
	if (digits(p, n, k, 2, &tm->hour) || *k >= n || p[(*k)++] != ':' ||
	    digits(p, n, k, 2, &tm->minute) || tm->hour > 23 || tm->minute > 59)
		return -EINVAL;
	ts->prec = SEL_TS_MINUTE;
	if (*k < n && p[*k] == ':') {
		(*k)++;
		if (digits(p, n, k, 2, &tm->second) || tm->second > 59)
			return -EINVAL;
		ts->prec = SEL_TS_SECOND;
		if (*k < n && p[*k] == '.') {
			(*k)++;
			int nd = 0, ns = 0;
			while (*k < n && p[*k] >= '0' && p[*k] <= '9') {
				if (nd < 9)
					ns = ns * 10 + (p[*k] - '0');
				nd++;
				(*k)++;
			}
			if (nd == 0)
				return -EINVAL;
			for (int i = nd; i < 9; i++)
				ns *= 10;
			tm->nsec = ns;
			ts->prec = SEL_TS_FRAC;
			ts->fdigits = nd > 9 ? 9 : nd;
		}
	}
	return parse_offset(p, n, k, ts);
}

int sel_time_parse(const char *p, size_t n, struct sel_ts *ts)
{
	struct sel_tm tm = {.month = 1, .day = 1};
	size_t k = 0;
	int y;
	memset(ts, 0, sizeof(*ts));
	while (n && (p[n - 1] == ' '))
		n--;
	if (digits(p, n, &k, 4, &y))
		return -EINVAL;
	tm.year = y;
	ts->prec = SEL_TS_YEAR;
	if (k < n && p[k] == '-') {
		k++;
		if (digits(p, n, &k, 2, &tm.month) || tm.month < 1 ||
		    tm.month > 12)
			return -EINVAL;
		ts->prec = SEL_TS_MONTH;
		if (k < n && p[k] == '-') {
			k++;
			if (digits(p, n, &k, 2, &tm.day) || tm.day < 1 ||
			    tm.day > month_days(tm.year, tm.month))
				return -EINVAL;
			ts->prec = SEL_TS_DAY;
		}
	}
	if (k < n && (p[k] == 'T' || p[k] == 't')) {
		k++;
		if (ts->prec == SEL_TS_DAY && k < n &&
		    parse_time(p, n, &k, &tm, ts))
			return -EINVAL;
	} else if (ts->prec != SEL_TS_DAY) {
		return -EINVAL;
	}
	if (k != n)
		return -EINVAL;
	int16_t off = ts->off_min;
	sel_time_from_tm(&tm, off, ts);
	return 0;
}

static int fmt_offset(const struct sel_ts *ts, struct cmn_buf *out)
{
	if (ts->off_unknown)
		return cmn_buf_adds(out, "-00:00");
	if (ts->off_min == 0)
		return cmn_buf_addc(out, 'Z');
	int o = ts->off_min < 0 ? -ts->off_min : ts->off_min;
	return cmn_buf_printf(out, "%c%02d:%02d", ts->off_min < 0 ? '-' : '+',
			      o / 60, o % 60);
}

/* sel_time_format for years outside 0000..9999. */
static int format_wide(const struct sel_ts *ts, const struct sel_tm *t,
		       struct cmn_buf *out)
{
	struct sel_tm tm = *t;
	switch (ts->prec) {
	case SEL_TS_YEAR:
		return cmn_buf_printf(out, "%04" PRId64 "T", tm.year);
	case SEL_TS_MONTH:
		return cmn_buf_printf(out, "%04" PRId64 "-%02dT", tm.year,
				      tm.month);
	case SEL_TS_DAY:
		return cmn_buf_printf(out, "%04" PRId64 "-%02d-%02dT", tm.year,
				      tm.month, tm.day);
	default:
		break;
	}
	int r = cmn_buf_printf(out, "%04" PRId64 "-%02d-%02dT%02d:%02d",
			       tm.year, tm.month, tm.day, tm.hour, tm.minute);
	if (r == 0 && ts->prec >= SEL_TS_SECOND)
		r = cmn_buf_printf(out, ":%02d", tm.second);
	if (r == 0 && ts->prec == SEL_TS_FRAC) {
		int ns = tm.nsec;
		for (int i = ts->fdigits; i < 9; i++)
			ns /= 10;
		r = cmn_buf_printf(out, ".%0*d", (int)ts->fdigits, ns);
	}
	if (r == 0)
		r = fmt_offset(ts, out);
	return r;
}

/* Write v as exactly w digits at p (v >= 0, below 10^w). */
static char *put_digits(char *p, unsigned v, int w)
{
	for (int i = w - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + w;
}

/* The text of ts as AWS prints a timestamp: as much as its precision
 * says.  Built by hand: output of timestamp columns runs it per record,
 * and printf was most of that. */
int sel_time_format(const struct sel_ts *ts, struct cmn_buf *out)
{
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	if (tm.year < 0 || tm.year > 9999) /* rare: the general path */
		return format_wide(ts, &tm, out);
	char b[48], *p = put_digits(b, (unsigned)tm.year, 4);
	if (ts->prec >= SEL_TS_MONTH) {
		*p++ = '-';
		p = put_digits(p, (unsigned)tm.month, 2);
	}
	if (ts->prec >= SEL_TS_DAY) {
		*p++ = '-';
		p = put_digits(p, (unsigned)tm.day, 2);
	}
	*p++ = 'T';
	if (ts->prec >= SEL_TS_MINUTE) {
		p = put_digits(p, (unsigned)tm.hour, 2);
		*p++ = ':';
		p = put_digits(p, (unsigned)tm.minute, 2);
	}
	if (ts->prec >= SEL_TS_SECOND) {
		*p++ = ':';
		p = put_digits(p, (unsigned)tm.second, 2);
	}
	if (ts->prec == SEL_TS_FRAC) {
		unsigned ns = (unsigned)tm.nsec;
		for (int i = ts->fdigits; i < 9; i++)
			ns /= 10;
		*p++ = '.';
		p = put_digits(p, ns, ts->fdigits ? ts->fdigits : 1);
	}
	int r = cmn_buf_add(out, b, (size_t)(p - b));
	if (r == 0 && ts->prec >= SEL_TS_MINUTE)
		r = fmt_offset(ts, out);
	return r;
}

void sel_time_now(struct sel_ts *ts)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(ts, 0, sizeof(*ts));
	ts->secs = now.tv_sec;
	ts->nsec = (int32_t)(now.tv_nsec / 1000000 * 1000000);
	ts->prec = SEL_TS_FRAC;
	ts->fdigits = 3;
}

int sel_time_part(const char *p, size_t n)
{
	static const char *const names[] = {
		"year",	  "month",  "day",	     "hour",
		"minute", "second", "timezone_hour", "timezone_minute",
	};
	for (int i = 0; i < 8; i++)
		if (strlen(names[i]) == n && strncasecmp(names[i], p, n) == 0)
			return i;
	return -1;
}

static int add_months(struct sel_ts *ts, int64_t months)
{
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	int64_t total = tm.year * 12 + (tm.month - 1) + months;
	if (total < 0 || total > 9999 * 12 + 11)
		return -ERANGE;
	tm.year = total / 12;
	tm.month = (int)(total % 12) + 1;
	int md = month_days(tm.year, tm.month);
	if (tm.day > md)
		tm.day = md;
	sel_time_from_tm(&tm, ts->off_min, ts);
	return 0;
}

int sel_time_add(struct sel_ts *ts, int part, int64_t n)
{
	static const int64_t unit[] = {0, 0, 86400, 3600, 60, 1};
	int need;
	switch (part) {
	case SEL_DP_YEAR:
		if (n > 10000 || n < -10000)
			return -ERANGE;
		return add_months(ts, n * 12);
	case SEL_DP_MONTH:
		if (n > 120000 || n < -120000)
			return -ERANGE;
		if (ts->prec < SEL_TS_MONTH)
			ts->prec = SEL_TS_MONTH;
		return add_months(ts, n);
	case SEL_DP_DAY:
		need = SEL_TS_DAY;
		break;
	case SEL_DP_HOUR:
	case SEL_DP_MINUTE:
		need = SEL_TS_MINUTE;
		break;
	case SEL_DP_SECOND:
		need = SEL_TS_SECOND;
		break;
	default:
		return -EINVAL;
	}
	if (n > 400000LL * 366 * 86400 / unit[part] ||
	    n < -400000LL * 366 * 86400 / unit[part])
		return -ERANGE;
	if (ts->prec < SEL_TS_MINUTE && need >= SEL_TS_MINUTE)
		ts->off_unknown = 1;
	if (ts->prec < need)
		ts->prec = (uint8_t)need;
	ts->secs += n * unit[part];
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	if (tm.year < 0 || tm.year > 9999)
		return -ERANGE;
	return 0;
}

/* Months from a to b, counted only when complete. */
static int64_t diff_months(const struct sel_ts *a, const struct sel_ts *b)
{
	struct sel_tm ta, tb;
	sel_time_to_tm(a, &ta);
	sel_time_to_tm(b, &tb);
	int64_t m = (tb.year * 12 + tb.month) - (ta.year * 12 + ta.month);
	int64_t ra = ((int64_t)ta.day * 86400 + ta.hour * 3600 +
		      ta.minute * 60 + ta.second) *
			     1000000000LL +
		     ta.nsec;
	int64_t rb = ((int64_t)tb.day * 86400 + tb.hour * 3600 +
		      tb.minute * 60 + tb.second) *
			     1000000000LL +
		     tb.nsec;
	if (m > 0 && rb < ra)
		m--;
	else if (m < 0 && rb > ra)
		m++;
	return m;
}

int64_t sel_time_diff(int part, const struct sel_ts *a, const struct sel_ts *b)
{
	static const int64_t unit[] = {0, 0, 86400, 3600, 60, 1};
	switch (part) {
	case SEL_DP_YEAR:
		return diff_months(a, b) / 12;
	case SEL_DP_MONTH:
		return diff_months(a, b);
	case SEL_DP_DAY:
	case SEL_DP_HOUR:
	case SEL_DP_MINUTE:
	case SEL_DP_SECOND: {
		int64_t s = b->secs - a->secs;
		int32_t ns = b->nsec - a->nsec;
		if (s > 0 && ns < 0)
			s--;
		else if (s < 0 && ns > 0)
			s++;
		return s / unit[part];
	}
	default:
		return 0;
	}
}

int64_t sel_time_extract(int part, const struct sel_ts *ts)
{
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	switch (part) {
	case SEL_DP_YEAR:
		return tm.year;
	case SEL_DP_MONTH:
		return tm.month;
	case SEL_DP_DAY:
		return tm.day;
	case SEL_DP_HOUR:
		return tm.hour;
	case SEL_DP_MINUTE:
		return tm.minute;
	case SEL_DP_SECOND:
		return tm.second;
	case SEL_DP_TIMEZONE_HOUR:
		return ts->off_min / 60;
	case SEL_DP_TIMEZONE_MINUTE:
		return ts->off_min % 60;
	}
	return 0;
}

static const char *const month_names[] = {
	"January", "February", "March",	    "April",   "May",	   "June",
	"July",	   "August",   "September", "October", "November", "December",
};

static int fmt_zone(const struct sel_ts *ts, char sym, int cnt,
		    struct cmn_buf *out)
{
	int o = ts->off_min;
	if (sym == 'X' && o == 0)
		return cmn_buf_addc(out, 'Z');
	char sign = o < 0 ? '-' : '+';
	if (o < 0)
		o = -o;
	int hh = o / 60, mm = o % 60;
	if (cnt == 1) {
		if (mm)
			return cmn_buf_printf(out, "%c%02d%02d", sign, hh, mm);
		return cmn_buf_printf(out, "%c%02d", sign, hh);
	}
	if (cnt == 3 || cnt == 5)
		return cmn_buf_printf(out, "%c%02d:%02d", sign, hh, mm);
	return cmn_buf_printf(out, "%c%02d%02d", sign, hh, mm);
}

/* One run of cnt copies of the pattern letter sym. */
static int fmt_field(const struct sel_ts *ts, const struct sel_tm *tm, char sym,
		     int cnt, struct cmn_buf *out)
{
	int h12 = tm->hour % 12 == 0 ? 12 : tm->hour % 12;
	switch (sym) {
	case 'y':
		if (cnt == 2)
			return cmn_buf_printf(out, "%02d",
					      (int)(tm->year % 100));
		return cmn_buf_printf(out, "%0*" PRId64, cnt, tm->year);
	case 'M':
		if (cnt <= 2)
			return cmn_buf_printf(out, "%0*d", cnt, tm->month);
		if (cnt == 3)
			return cmn_buf_add(out, month_names[tm->month - 1], 3);
		if (cnt == 4)
			return cmn_buf_adds(out, month_names[tm->month - 1]);
		if (cnt == 5)
			return cmn_buf_add(out, month_names[tm->month - 1], 1);
		return -EINVAL;
	case 'd':
		return cnt <= 2 ? cmn_buf_printf(out, "%0*d", cnt, tm->day)
				: -EINVAL;
	case 'a':
		return cnt == 1 ? cmn_buf_adds(out, tm->hour < 12 ? "AM" : "PM")
				: -EINVAL;
	case 'h':
		return cnt <= 2 ? cmn_buf_printf(out, "%0*d", cnt, h12)
				: -EINVAL;
	case 'H':
		return cnt <= 2 ? cmn_buf_printf(out, "%0*d", cnt, tm->hour)
				: -EINVAL;
	case 'm':
		return cnt <= 2 ? cmn_buf_printf(out, "%0*d", cnt, tm->minute)
				: -EINVAL;
	case 's':
		return cnt <= 2 ? cmn_buf_printf(out, "%0*d", cnt, tm->second)
				: -EINVAL;
	case 'S': {
		if (cnt > 9)
			return -EINVAL;
		int ns = tm->nsec;
		for (int i = cnt; i < 9; i++)
			ns /= 10;
		return cmn_buf_printf(out, "%0*d", cnt, ns);
	}
	case 'n':
		return cnt == 1 ? cmn_buf_printf(out, "%d", tm->nsec) : -EINVAL;
	case 'X':
	case 'x':
		return cnt <= 5 ? fmt_zone(ts, sym, cnt, out) : -EINVAL;
	default:
		return -EINVAL;
	}
}

int sel_time_to_string(const struct sel_ts *ts, const char *pat, size_t plen,
		       struct cmn_buf *out, size_t *bad)
{
	struct sel_tm tm;
	sel_time_to_tm(ts, &tm);
	size_t k = 0;
	while (k < plen) {
		char c = pat[k];
		if (c == '\'') {
			size_t e = k + 1;
			if (e < plen && pat[e] == '\'') {
				if (cmn_buf_addc(out, '\''))
					return -E2BIG;
				k = e + 1;
				continue;
			}
			while (e < plen && pat[e] != '\'')
				e++;
			if (e >= plen) {
				*bad = k;
				return -ENOENT;
			}
			if (cmn_buf_add(out, pat + k + 1, e - k - 1))
				return -E2BIG;
			k = e + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
			if (cmn_buf_addc(out, c))
				return -E2BIG;
			k++;
			continue;
		}
		size_t e = k;
		while (e < plen && pat[e] == c)
			e++;
		int r = fmt_field(ts, &tm, c, (int)(e - k), out);
		if (r == -EINVAL) {
			*bad = k;
			return -EINVAL;
		}
		if (r)
			return -E2BIG;
		k = e;
	}
	return 0;
}
