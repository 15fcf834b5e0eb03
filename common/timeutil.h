/* Clocks and RFC 3339 timestamps. */
#ifndef ACGS_TIMEUTIL_H
#define ACGS_TIMEUTIL_H

#include <stdint.h>

/* "2026-11-24T17:30:01.123Z" plus NUL. */
#define RFC3339_LEN 25

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC); for intervals only. */
uint64_t time_mono_ns(void);

/* Wall clock in milliseconds since the Unix epoch. */
int64_t time_real_ms(void);

/* Format ms since the epoch as RFC 3339 UTC with milliseconds into out. */
void time_format_rfc3339_ms(int64_t ms, char out[RFC3339_LEN]);

/* Parse an RFC 3339 timestamp ("Z" or a +hh:mm offset, optional fraction)
 * into ms since the epoch. Returns 0, or -EINVAL when s is not one. */
int time_parse_rfc3339(const char *s, int64_t *ret_ms);

#endif
