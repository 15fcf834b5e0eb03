/* Which simulated nodes misbehave during a load generator run, and when:
 * the plan bench/alerts measures the alert engine against.
 *
 * Two kinds of misbehaving node, disjoint, their counts exact
 * (round(fraction * N) each):
 *   - down nodes publish their retained `state` offline (the bytes of their
 *     will) at down_at seconds into the run, send nothing while down, and
 *     at up_at publish `state` online and sample again;
 *   - flapping nodes report a CPU usage that alternates between a high
 *     phase of flap_high seconds and a low one of flap_low seconds, each
 *     flapper shifted by its rank so that they do not all turn at once. A
 *     high phase shorter than a rule's `for` must never fire the rule.
 *
 * Nodes are picked by a fixed permutation of 0..N-1: position p (down
 * nodes take positions 0 .. down-1, flappers the next flap ones) is node
 * p * m mod N, with m the first prime from 0.618 N that does not divide N.
 * The same nodes for the same N in every run, and, by the golden ratio
 * step, spread evenly over the whole id range rather than the first ids. */
#ifndef ACGS_LOADGEN_FAULT_H
#define ACGS_LOADGEN_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum loadgen_role {
	LOADGEN_ROLE_NORMAL,
	LOADGEN_ROLE_DOWN,
	LOADGEN_ROLE_FLAP,
};

struct loadgen_fault_options {
	double down_fraction; /* [0, 1] */
	double down_at_s;     /* > 0 when down_fraction > 0 */
	double up_at_s;	      /* > down_at_s, or 0: down until the end */
	double flap_fraction; /* [0, 1 - down_fraction] */
	double flap_high_s;   /* > 0 when flap_fraction > 0 */
	double flap_low_s;    /* > 0 when flap_fraction > 0 */
};

struct loadgen_fault {
	struct loadgen_fault_options o;
	uint64_t nodes;
	uint64_t down, flap; /* how many of each */
	uint64_t mult;	     /* position -> node factor, coprime with nodes */
	uint64_t inv;	     /* node -> position: mult's inverse mod nodes */
};

/* Check the options and work out the counts for nodes (1 to 2^32 - 1).
 * Returns 0, or -EINVAL when nodes is out of range, a fraction is outside [0,
 * 1], the two together pass 1, a time is negative or not finite, up_at_s is set
 * but not after down_at_s, or a flap phase is not positive while flap_fraction
 * is. */
int loadgen_fault_init(struct loadgen_fault *f, uint64_t nodes,
		       const struct loadgen_fault_options *o);

/* The role of node i (0 <= i < nodes) and, when ret_rank is not NULL, its
 * rank among the nodes of that role (0 .. count - 1). */
enum loadgen_role loadgen_fault_role(const struct loadgen_fault *f, uint64_t i,
				     uint64_t *ret_rank);

/* Whether flapper rank is in its high phase t_s seconds into the run:
 * phase (t_s + rank * period / flap) mod period < flap_high_s, with period
 * = flap_high_s + flap_low_s. */
bool loadgen_fault_flap_high(const struct loadgen_fault *f, uint64_t rank,
			     double t_s);

/* Whether a down node is down t_s seconds into the run:
 * down_at_s <= t_s < up_at_s (no upper bound when up_at_s is 0). */
bool loadgen_fault_is_down(const struct loadgen_fault *f, double t_s);

/* One line of the --events log, "EVENT NODE MS\n" (MS: CLOCK_REALTIME
 * milliseconds), NUL-terminated in out. Returns its length, or -E2BIG
 * when it does not fit, -EINVAL for an event or node that is empty or
 * holds a space or a control character. */
int loadgen_fault_event_line(char *out, size_t outlen, const char *event,
			     const char *node, int64_t ms);

#endif
