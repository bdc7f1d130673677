/*
 * sel_sum.h - the exact sum of doubles, for SUM and AVG over FLOAT and
 * DECIMAL values.
 *
 * Adding doubles one by one rounds after every addition, so the result
 * depends on the order of the values; a query split over threads would
 * then not give the bytes a single thread gives.  sel_sum keeps the sum
 * exactly (a fixed-point integer in units of 2^-1074, the smallest
 * double, spread over 32-bit limbs with carries deferred) and rounds once
 * when the value is read: the correctly rounded sum, whatever the order
 * and however partial sums are merged.
 */
#ifndef SEL_SUM_H
#define SEL_SUM_H

#include <stdbool.h>
#include <stdint.h>

/* 2^-1074 .. 2^1024 spans 2098 bits; the limbs hold 32 bits each plus
 * room for the carries of 2^31 additions and for sums past DBL_MAX. */
#define SEL_SUM_LIMBS 70

struct sel_sum {
	int64_t limb[SEL_SUM_LIMBS]; /* value = sum limb[k] * 2^(32k-1074) */
	uint32_t adds;		     /* additions since the last carry pass */
	bool pos_inf, neg_inf, nan;
};

/* An empty sum (0) is all zero bytes: memset or = {0} prepares one. */

/* Add d exactly (infinities and NaN are remembered as such). */
void sel_sum_add(struct sel_sum *s, double d);

/* Add the integer v exactly (an INT, or a 128-bit sum of INTs, joining a
 * sum of FLOATs: no double holds every int64). */
void sel_sum_add_int(struct sel_sum *s, __int128 v);

/* s += o, exactly. */
void sel_sum_merge(struct sel_sum *s, const struct sel_sum *o);

/* The sum rounded to the nearest double (ties to even); NaN when a NaN
 * or both infinities were added, an infinity when one was or when the
 * exact sum is beyond DBL_MAX. */
double sel_sum_value(const struct sel_sum *s);

#endif
