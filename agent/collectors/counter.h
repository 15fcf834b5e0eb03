/* Rate math for monotonic kernel counters (one place, one test table). */
#ifndef ACGS_COLLECTORS_COUNTER_H
#define ACGS_COLLECTORS_COUNTER_H

#include <stdint.h>

/* The increase of a counter read as prev and then cur.
 *
 * A counter that went backwards wrapped if prev fits in 32 bits (32-bit
 * kernels, drivers that keep 32-bit counters, diskstats io_ticks): the
 * increase is cur + 2^32 - prev. Otherwise it was reset (interface
 * re-created, driver reloaded) and there is no meaningful increase.
 * Returns 0 and sets *ret_delta, or -ERANGE on a reset. */
int counter_delta(uint64_t prev, uint64_t cur, uint64_t *ret_delta);

/* The per-second rate of that increase over dt_ns nanoseconds, multiplied by
 * scale (512 turns sectors into bytes). Returns 0 and sets *ret_rate,
 * -ERANGE on a reset, -EDOM when dt_ns is 0. */
int counter_rate(uint64_t prev, uint64_t cur, uint64_t dt_ns, double scale,
		 double *ret_rate);

#endif
