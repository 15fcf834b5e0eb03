/* A three-state circuit breaker around one dependency (PostgreSQL, Redis, a
 * notification receiver, a recovery target), in the manner of pybreaker.
 *
 * CLOSED: calls go through; fail_max consecutive counted failures open it
 * (a success resets the count). OPEN: calls fail fast with -EAGAIN until
 * reset_timeout has passed since it opened, then it turns HALF_OPEN.
 * HALF_OPEN: up to half_open_max trial calls at once go through and the rest
 * are rejected; the first trial outcome decides: a success closes it (count
 * reset), a failure opens it again with a fresh timeout.
 *
 * Excluded errors are neutral in every state: a failure whose err is in
 * options.excluded (a bad request, not the dependency's fault) neither counts
 * toward fail_max nor resets the count, neither closes nor re-opens it. In
 * HALF_OPEN it only gives its trial slot back, so that a caller's own mistake
 * cannot wedge the breaker there.
 *
 * Outcomes are not tied to the breaker_allow() that admitted them: whatever
 * is reported while HALF_OPEN is taken as a trial outcome, even from a call
 * admitted before the breaker opened (it is the freshest word about the
 * dependency). Outcomes reported while OPEN (calls admitted before it opened)
 * are counted in the stats but change nothing; in particular a late failure
 * does not extend the timeout.
 *
 * Thread-safe: one mutex guards the state; every function may be called from
 * any thread. */
#ifndef ACGS_BREAKER_H
#define ACGS_BREAKER_H

#include <stddef.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker;

/* A monotonic clock in nanoseconds; it is called with the breaker's lock
 * held, so it must not call back into the breaker. */
typedef uint64_t (*breaker_clock_fn)(void *ctx);

/* Told of a transition from -> to of the breaker called name. */
typedef void (*breaker_listener_fn)(void *ctx, const char *name,
				    enum breaker_state from,
				    enum breaker_state to);

#define BREAKER_DEFAULT_FAIL_MAX      5
#define BREAKER_DEFAULT_RESET_TIMEOUT 30.0
#define BREAKER_DEFAULT_HALF_OPEN_MAX 1
#define BREAKER_MAX_LISTENERS	      8

struct breaker_options {
	/* Required, non-empty: "postgres", "redis", "pagerduty:ops". Copied. */
	const char *name;
	/* Consecutive counted failures that open it; 0 = 5. */
	unsigned fail_max;
	/* Seconds OPEN before trial calls are let through; 0 = 30. At most
	 * 1e9; negative or NaN is invalid. */
	double reset_timeout;
	/* Trial calls allowed at once in HALF_OPEN; 0 = 1. */
	unsigned half_open_max;
	/* Negative errnos that are not the dependency's fault (-EINVAL for a
	 * bad request): neutral, see above. Copied; every one must be < 0. */
	const int *excluded;
	size_t nexcluded;
	/* NULL = time_mono_ns() from common/timeutil.h; tests pass a fake. */
	breaker_clock_fn clock;
	void *clock_ctx;
};

/* Create a CLOSED breaker. Returns 0 and sets *ret (free with breaker_free),
 * -EINVAL for invalid options, -ENOMEM. */
int breaker_new(const struct breaker_options *opt, struct breaker **ret);

/* Free b, which no other thread may still be using. Returns NULL; NULL is a
 * no-op. */
struct breaker *breaker_free(struct breaker *b);

/* Before a call: 0 = go ahead, and the caller MUST then report exactly one
 * breaker_success() or breaker_failure(); -EAGAIN = open (or HALF_OPEN with
 * every trial slot taken): fail fast without calling. OPEN turns HALF_OPEN
 * here once reset_timeout has passed, and this call is then a trial. */
int breaker_allow(struct breaker *b);

/* The call admitted by breaker_allow() succeeded. */
void breaker_success(struct breaker *b);

/* The call admitted by breaker_allow() failed with err, a negative errno.
 * Errors in options.excluded are neutral; any other value counts. */
void breaker_failure(struct breaker *b, int err);

/* The current state. Like breaker_allow(), turns OPEN into HALF_OPEN once
 * reset_timeout has passed, so that a reader (/health/ready) sees it. */
enum breaker_state breaker_get_state(struct breaker *b);

/* "closed", "open", "half_open"; "unknown" for any other value. Static. */
const char *breaker_state_name(enum breaker_state s);

/* Call fn(ctx, name, from, to) on every transition, after the listeners
 * added before it. Returns 0, -EINVAL when fn is NULL, -ENOSPC when
 * BREAKER_MAX_LISTENERS are already there.
 *
 * Listeners run in the thread that caused the transition, after the lock is
 * released, one transition at a time and in the order the transitions
 * happened (a thread whose transition comes next waits for the listeners of
 * the one before, so keep them quick). A listener may call
 * breaker_get_state(), breaker_get_stats() and breaker_name() on the same
 * breaker (which then skip the time check); it must not call
 * breaker_allow(), breaker_success() or breaker_failure() on it (asserted). */
int breaker_add_listener(struct breaker *b, breaker_listener_fn fn, void *ctx);

struct breaker_stats {
	uint64_t calls;	    /* breaker_allow() returned 0 */
	uint64_t successes; /* breaker_success() */
	uint64_t failures;  /* breaker_failure() with a counted error */
	uint64_t excluded;  /* breaker_failure() with an excluded error */
	uint64_t rejected;  /* breaker_allow() returned -EAGAIN */
	uint64_t opened;    /* transitions to OPEN, from CLOSED or HALF_OPEN */
	enum breaker_state state;
};

/* A consistent snapshot of the counters and the state (after the same time
 * check as breaker_get_state()). Once every admitted call has reported,
 * calls == successes + failures + excluded. */
void breaker_get_stats(struct breaker *b, struct breaker_stats *ret);

/* The name given at creation; lives as long as b. */
const char *breaker_name(const struct breaker *b);

#endif
