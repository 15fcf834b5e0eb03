/* Small statistics over a window of samples. */
#ifndef ACGS_STATS_H
#define ACGS_STATS_H

#include <stddef.h>

/* The nearest-rank percentile p (0 < p <= 100) of the n values in sorted,
 * which must be in ascending order: the value at rank ceil(p / 100 * n).
 * Returns 0 when n is 0. */
double stats_percentile_sorted(const double *sorted, size_t n, double p);

/* The same over unsorted values: sorts v in place first. */
double stats_percentile(double *v, size_t n, double p);

/* Sort v ascending in place. */
void stats_sort(double *v, size_t n);

#endif
