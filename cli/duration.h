/* Durations as operators type them: "90s", "15m", "1h", "7d", "2w", and
 * sums of those ("1h30m"). Whole seconds only: the API's history ranges and
 * steps are in seconds. */
#ifndef ACGS_CLI_DURATION_H
#define ACGS_CLI_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest duration accepted: ten years, far past any retention, and far
 * from overflowing anything that multiplies it by 1000. */
#define DURATION_MAX_S (3650LL * 86400)

/* Enough for "3650d" or "52w1d23h59m59s". */
#define DURATION_STR_LEN 24

/* Parse s into seconds. Every number needs a unit (s, m, h, d, w) unless
 * bare_seconds is set and s is a plain number. Returns 0, -EINVAL (not a
 * duration, or zero) or -ERANGE (over DURATION_MAX_S). */
int duration_parse(const char *s, bool bare_seconds, int64_t *ret_s);

/* Write secs in the largest units that divide it exactly ("90s" is "1m30s",
 * 3600 is "1h", 0 is "0s") into out. */
void duration_format(int64_t secs, char out[DURATION_STR_LEN]);

/* A "time" argument of history: a duration before now, or an RFC 3339
 * timestamp. Returns 0 and sets *ret_is_duration, or -EINVAL / -ERANGE. */
int duration_or_time(const char *s, bool *ret_is_duration, int64_t *ret_value);

#endif
