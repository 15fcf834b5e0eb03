#include "config.h"

#include "stats.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void stats_sort(double *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_double);
}

double stats_percentile_sorted(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	/* Multiply before dividing so that whole ranks stay exact in binary
	 * (0.91 * 10 is not 9.1, 91 * 10 / 100 is). */
	double rank = ceil(p * (double)n / 100.0);
	if (!(rank >= 1))
		rank = 1;
	if (rank > (double)n)
		rank = (double)n;
	return sorted[(size_t)rank - 1];
}

double stats_percentile(double *v, size_t n, double p)
{
	stats_sort(v, n);
	return stats_percentile_sorted(v, n, p);
}
