/* Small statistics over a window of samples. */
#ifndef ACGS_STATS_H
#define ACGS_STATS_H

#include <stddef.h>

/* The nearest-rank percentile p (0 < p <= 100) of v[0..n): the smallest
 * value with at least p% of the values at or below it. Sorts v in place.
 * Returns 0 when n is 0. */
double stats_percentile(double *v, size_t n, double p);

#endif
