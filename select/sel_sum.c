/*
 * sel_sum.c - the exact sum of doubles (see sel_sum.h).
 *
 * A finite double is m * 2^(e-1075) with a 53-bit integer m, so in units
 * of 2^-1074 it is m shifted left by e-1 bits: at most three 32-bit pieces
 * added into three limbs.  Limbs are signed 64-bit, so carries can wait:
 * each addition moves a limb by less than 2^32, and a carry pass every
 * 2^30 additions keeps them far from overflowing.  Reading the value
 * propagates the carries in a copy, takes the top 96 bits and rounds them
 * once, with the lower limbs as the sticky bit.
 */
#include "sel_sum.h"

#include <math.h>
#include <string.h>

#define CARRY_EVERY (1u << 30)

/* Bring limbs 0..N-2 into [0, 2^32); the top limb keeps the sign. */
static void carry(int64_t *l)
{
	for (int k = 0; k < SEL_SUM_LIMBS - 1; k++) {
		int64_t c = l[k] >> 32; /* floor division by 2^32 */
		l[k] -= c * ((int64_t)1 << 32);
		l[k + 1] += c;
	}
}

void sel_sum_add(struct sel_sum *s, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof(bits));
	int e = (int)((bits >> 52) & 0x7ff);
	uint64_t m = bits & ((1ull << 52) - 1);
	bool neg = bits >> 63;
	if (e == 0x7ff) {
		if (m)
			s->nan = true;
		else if (neg)
			s->neg_inf = true;
		else
			s->pos_inf = true;
		return;
	}
	if (e == 0) {
		if (!m)
			return;
		e = 1; /* subnormal: same scale as the smallest normal */
	} else {
		m |= 1ull << 52;
	}
	unsigned pos = (unsigned)e - 1; /* bit position in 2^-1074 units */
	unsigned k = pos >> 5;
	unsigned __int128 w = (unsigned __int128)m << (pos & 31);
	int64_t a = (int64_t)(uint32_t)w, b = (int64_t)(uint32_t)(w >> 32),
		c = (int64_t)(uint32_t)(w >> 64);
	if (neg) {
		s->limb[k] -= a;
		s->limb[k + 1] -= b;
		s->limb[k + 2] -= c;
	} else {
		s->limb[k] += a;
		s->limb[k + 1] += b;
		s->limb[k + 2] += c;
	}
	if (++s->adds == CARRY_EVERY) {
		carry(s->limb);
		s->adds = 0;
	}
}

void sel_sum_add_int(struct sel_sum *s, __int128 v)
{
	/* 32-bit pieces of |v| are exact doubles, and so are they scaled by
	 * powers of two. */
	bool neg = v < 0;
	unsigned __int128 u =
		neg ? -(unsigned __int128)v : (unsigned __int128)v;
	for (int k = 0; u; k++, u >>= 32) {
		double d = (double)(uint32_t)u;
		if (d != 0)
			sel_sum_add(s, ldexp(neg ? -d : d, 32 * k));
	}
}

void sel_sum_merge(struct sel_sum *s, const struct sel_sum *o)
{
	/* Both sides are below CARRY_EVERY additions since their last
	 * carry pass, so one pass on each keeps the sum in range. */
	int64_t t[SEL_SUM_LIMBS];
	memcpy(t, o->limb, sizeof(t));
	carry(t);
	carry(s->limb);
	for (int k = 0; k < SEL_SUM_LIMBS; k++)
		s->limb[k] += t[k];
	s->adds = 1;
	s->pos_inf |= o->pos_inf;
	s->neg_inf |= o->neg_inf;
	s->nan |= o->nan;
}

/* Round the nonnegative integer held in l[0..top] (normalised limbs) to a
 * double in units of 2^-1074. */
static double round_units(const int64_t *l, int top)
{
	if (top < 2) {
		uint64_t v = ((uint64_t)l[1] << 32) | (uint64_t)l[0];
		if (v < (1ull << 53))
			return ldexp((double)v, -1074); /* exact */
	}
	int lo = top >= 2 ? top - 2 : 0;
	unsigned __int128 t = 0;
	for (int k = top; k >= lo; k--)
		t = (t << 32) | (uint64_t)l[k];
	bool sticky = false;
	for (int k = 0; k < lo; k++)
		sticky |= l[k] != 0;
	int nb = 0;
	for (unsigned __int128 u = t; u; u >>= 1)
		nb++;
	int shift = nb - 53; /* > 0: t has more than 53 bits here */
	uint64_t mant = (uint64_t)(t >> shift);
	unsigned __int128 rem = t & (((unsigned __int128)1 << shift) - 1);
	unsigned __int128 half = (unsigned __int128)1 << (shift - 1);
	if (rem > half || (rem == half && (sticky || (mant & 1))))
		mant++;
	if (mant == (1ull << 53)) {
		mant >>= 1;
		shift++;
	}
	return ldexp((double)mant, shift + 32 * lo - 1074);
}

double sel_sum_value(const struct sel_sum *s)
{
	if (s->nan || (s->pos_inf && s->neg_inf))
		return NAN;
	if (s->pos_inf)
		return INFINITY;
	if (s->neg_inf)
		return -INFINITY;
	int64_t l[SEL_SUM_LIMBS];
	memcpy(l, s->limb, sizeof(l));
	carry(l);
	bool neg = l[SEL_SUM_LIMBS - 1] < 0;
	if (neg) {
		for (int k = 0; k < SEL_SUM_LIMBS; k++)
			l[k] = -l[k];
		carry(l);
	}
	int top = SEL_SUM_LIMBS - 1;
	while (top >= 0 && l[top] == 0)
		top--;
	if (top < 0)
		return 0.0;
	double v = round_units(l, top);
	return neg ? -v : v;
}
