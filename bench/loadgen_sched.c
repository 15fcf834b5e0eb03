#include "config.h"

#include "loadgen_sched.h"

#include <errno.h>
#include <math.h>

int loadgen_sched_init(struct loadgen_sched *s, uint64_t nodes, double rate,
		       double duration_s, uint64_t start_ns)
{
	double per_node;

	if (nodes == 0 || !(rate > 0) || !(duration_s > 0) || !isfinite(rate) ||
	    !isfinite(duration_s))
		return -EINVAL;
	per_node = round(rate * duration_s);
	if (per_node < 1)
		per_node = 1;
	if (per_node * (double)nodes > 9007199254740992.0)
		return -EINVAL;
	s->nodes = nodes;
	s->total = (uint64_t)per_node * nodes;
	s->period_ns = 1e9 / (rate * (double)nodes);
	s->start_ns = start_ns;
	return 0;
}

uint64_t loadgen_sched_at(const struct loadgen_sched *s, uint64_t k)
{
	return s->start_ns + (uint64_t)ceil((double)k * s->period_ns);
}

uint64_t loadgen_sched_due(const struct loadgen_sched *s, uint64_t now_ns)
{
	uint64_t k;

	if (s->total == 0 || now_ns < s->start_ns)
		return 0;
	/* An estimate from the division, then made exact against _at, which
	 * is the definition (floating point may be one off either way). */
	double est = floor((double)(now_ns - s->start_ns) / s->period_ns) + 1;
	k = est >= (double)s->total ? s->total : (uint64_t)est;
	while (k < s->total && loadgen_sched_at(s, k) <= now_ns)
		k++;
	while (k > 0 && loadgen_sched_at(s, k - 1) > now_ns)
		k--;
	return k;
}
