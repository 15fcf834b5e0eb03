#include "config.h"

#include "counter.h"

#include <errno.h>

int counter_delta(uint64_t prev, uint64_t cur, uint64_t *ret_delta)
{
	if (cur >= prev) {
		*ret_delta = cur - prev;
		return 0;
	}
	if (prev > UINT32_MAX)
		return -ERANGE;
	*ret_delta = cur + (UINT64_C(1) << 32) - prev;
	return 0;
}

int counter_rate(uint64_t prev, uint64_t cur, uint64_t dt_ns, double scale,
		 double *ret_rate)
{
	uint64_t d;
	int r;

	if (dt_ns == 0)
		return -EDOM;
	r = counter_delta(prev, cur, &d);
	if (r < 0)
		return r;
	*ret_rate = (double)d * scale * 1e9 / (double)dt_ns;
	return 0;
}
