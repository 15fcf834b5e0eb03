/* When the load generator publishes: N nodes at R samples per second each,
 * spread evenly over time rather than in a burst at the top of the second.
 *
 * Publish k (k = 0, 1, 2, ...) of the run is due at start + k / (N * R)
 * seconds and belongs to node k mod N as that node's sample k div N. So
 * every node publishes exactly every 1 / R seconds, node i at the offset
 * i / (N * R) into each period, and the whole fleet is an even stream of
 * N * R messages per second. */
#ifndef ACGS_LOADGEN_SCHED_H
#define ACGS_LOADGEN_SCHED_H

#include <stdint.h>

struct loadgen_sched {
	uint64_t nodes;
	uint64_t total;	  /* publishes in the run */
	double period_ns; /* between two consecutive publishes of the fleet */
	uint64_t start_ns;
};

/* nodes >= 1, rate > 0 (samples per second per node), duration_s > 0:
 * total = nodes * round(rate * duration_s), at least one sample per node.
 * Returns 0, or -EINVAL when an argument is out of range or the run would
 * have more than 2^53 publishes. */
int loadgen_sched_init(struct loadgen_sched *s, uint64_t nodes, double rate,
		       double duration_s, uint64_t start_ns);

/* The monotonic time publish k is due. */
uint64_t loadgen_sched_at(const struct loadgen_sched *s, uint64_t k);

/* How many publishes are due at now_ns (0 before the start, at most
 * total): publish k is due once now_ns >= loadgen_sched_at(s, k). */
uint64_t loadgen_sched_due(const struct loadgen_sched *s, uint64_t now_ns);

/* Node and per-node sample index of publish k. */
static inline uint64_t loadgen_sched_node(const struct loadgen_sched *s,
					  uint64_t k)
{
	return k % s->nodes;
}

static inline uint64_t loadgen_sched_index(const struct loadgen_sched *s,
					   uint64_t k)
{
	return k / s->nodes;
}

#endif
