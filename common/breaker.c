#include "config.h"

#include "breaker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "timeutil.h"

#define NSEC_PER_SEC		  1000000000.0
#define BREAKER_MAX_RESET_TIMEOUT 1e9

struct listener {
	breaker_listener_fn fn;
	void *ctx;
};

/* One transition made under the lock, to be announced after it. ticket 0 means
 * there was none. */
struct transition {
	uint64_t ticket;
	enum breaker_state from, to;
};

struct breaker {
	char *name;
	int *excluded;
	size_t nexcluded;
	unsigned fail_max, half_open_max;
	uint64_t reset_ns;
	breaker_clock_fn clock;
	void *clock_ctx;

	pthread_mutex_t lock;
	enum breaker_state state;
	unsigned consecutive; /* counted failures in a row while CLOSED */
	unsigned trials;      /* trial calls admitted and not reported */
	uint64_t opened_at;   /* clock ns of the last transition to OPEN */
	struct breaker_stats stats;

	struct listener listeners[BREAKER_MAX_LISTENERS];
	size_t nlisteners;
	/* Transitions are numbered under the lock; listeners are run for ticket
	 * N only after N - 1 is done (announced), so they see them in order
	 * without the lock held while they run. */
	pthread_cond_t turn;
	uint64_t issued, announced;
	bool announcing;
	pthread_t announcer;
};

static uint64_t default_clock(void *ctx)
{
	return time_mono_ns();
}

static uint64_t now_ns(struct breaker *b)
{
	return b->clock(b->clock_ctx);
}

static bool is_excluded(const struct breaker *b, int err)
{
	for (size_t i = 0; i < b->nexcluded; i++)
		if (b->excluded[i] == err)
			return true;
	return false;
}

/* Whether the calling thread is inside one of b's listeners. Lock held. */
static bool in_listener(const struct breaker *b)
{
	return b->announcing && pthread_equal(b->announcer, pthread_self());
}

static void set_state(struct breaker *b, enum breaker_state to,
		      struct transition *t)
{
	/* Every caller makes at most one transition per lock hold. */
	assert(t->ticket == 0);
	t->ticket = ++b->issued;
	t->from = b->state;
	t->to = to;
	b->state = to;
	b->trials = 0;
	b->consecutive = 0;
	if (to == BREAKER_OPEN) {
		b->opened_at = now_ns(b);
		b->stats.opened++;
	}
}

static void check_timeout(struct breaker *b, struct transition *t)
{
	if (b->state != BREAKER_OPEN)
		return;
	uint64_t now = now_ns(b);
	/* A clock that stepped back is not a timeout that passed. */
	if (now >= b->opened_at && now - b->opened_at >= b->reset_ns)
		set_state(b, BREAKER_HALF_OPEN, t);
}

/* Release the lock, then run the listeners for t (if any) in ticket order. */
static void announce_and_unlock(struct breaker *b, const struct transition *t)
{
	struct listener ls[BREAKER_MAX_LISTENERS];
	size_t n;

	if (t->ticket == 0) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	while (b->announced != t->ticket - 1)
		pthread_cond_wait(&b->turn, &b->lock);
	b->announcing = true;
	b->announcer = pthread_self();
	n = b->nlisteners;
	memcpy(ls, b->listeners, n * sizeof(ls[0]));
	pthread_mutex_unlock(&b->lock);

	for (size_t i = 0; i < n; i++)
		ls[i].fn(ls[i].ctx, b->name, t->from, t->to);

	pthread_mutex_lock(&b->lock);
	b->announcing = false;
	b->announced = t->ticket;
	pthread_cond_broadcast(&b->turn);
	pthread_mutex_unlock(&b->lock);
}

int breaker_new(const struct breaker_options *opt, struct breaker **ret)
{
	_cleanup_free_ struct breaker *b = NULL;
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ int *excluded = NULL;
	double reset;
	int r;

	if (!opt || !opt->name || !*opt->name || !ret)
		return -EINVAL;
	if (opt->nexcluded && !opt->excluded)
		return -EINVAL;
	for (size_t i = 0; i < opt->nexcluded; i++)
		if (opt->excluded[i] >= 0)
			return -EINVAL;
	reset = opt->reset_timeout == 0 ? BREAKER_DEFAULT_RESET_TIMEOUT
					: opt->reset_timeout;
	/* Also rejects NaN. */
	if (!(reset > 0 && reset <= BREAKER_MAX_RESET_TIMEOUT))
		return -EINVAL;

	b = calloc(1, sizeof(*b));
	name = strdup(opt->name);
	if (!b || !name)
		return -ENOMEM;
	if (opt->nexcluded) {
		excluded = calloc(opt->nexcluded, sizeof(*excluded));
		if (!excluded)
			return -ENOMEM;
		memcpy(excluded, opt->excluded,
		       opt->nexcluded * sizeof(*excluded));
	}
	r = pthread_mutex_init(&b->lock, NULL);
	if (r != 0)
		return -r;
	r = pthread_cond_init(&b->turn, NULL);
	if (r != 0) {
		pthread_mutex_destroy(&b->lock);
		return -r;
	}

	b->fail_max = opt->fail_max ? opt->fail_max : BREAKER_DEFAULT_FAIL_MAX;
	b->half_open_max = opt->half_open_max ? opt->half_open_max
					      : BREAKER_DEFAULT_HALF_OPEN_MAX;
	b->reset_ns = (uint64_t)(reset * NSEC_PER_SEC + 0.5);
	b->clock = opt->clock ? opt->clock : default_clock;
	b->clock_ctx = opt->clock ? opt->clock_ctx : NULL;
	b->state = BREAKER_CLOSED;
	b->name = TAKE_PTR(name);
	b->excluded = TAKE_PTR(excluded);
	b->nexcluded = opt->nexcluded;
	*ret = TAKE_PTR(b);
	return 0;
}

struct breaker *breaker_free(struct breaker *b)
{
	if (!b)
		return NULL;
	pthread_cond_destroy(&b->turn);
	pthread_mutex_destroy(&b->lock);
	free(b->excluded);
	free(b->name);
	free(b);
	return NULL;
}

static int allow_locked(struct breaker *b, struct transition *t)
{
	check_timeout(b, t);
	switch (b->state) {
	case BREAKER_CLOSED:
		break;
	case BREAKER_HALF_OPEN:
		if (b->trials >= b->half_open_max)
			goto reject;
		b->trials++;
		break;
	case BREAKER_OPEN:
	default:
		goto reject;
	}
	b->stats.calls++;
	return 0;
reject:
	b->stats.rejected++;
	return -EAGAIN;
}

int breaker_allow(struct breaker *b)
{
	struct transition t = { 0 };
	int r;

	pthread_mutex_lock(&b->lock);
	/* It would wait for its own turn to announce: a deadlock. */
	assert(!in_listener(b));
	r = allow_locked(b, &t);
	announce_and_unlock(b, &t);
	return r;
}

void breaker_success(struct breaker *b)
{
	struct transition t = { 0 };

	pthread_mutex_lock(&b->lock);
	assert(!in_listener(b));
	b->stats.successes++;
	if (b->state == BREAKER_CLOSED)
		b->consecutive = 0;
	else if (b->state == BREAKER_HALF_OPEN)
		set_state(b, BREAKER_CLOSED, &t);
	announce_and_unlock(b, &t);
}

void breaker_failure(struct breaker *b, int err)
{
	struct transition t = { 0 };

	pthread_mutex_lock(&b->lock);
	assert(!in_listener(b));
	if (is_excluded(b, err)) {
		b->stats.excluded++;
		if (b->state == BREAKER_HALF_OPEN && b->trials > 0)
			b->trials--;
	} else {
		b->stats.failures++;
		if (b->state == BREAKER_CLOSED) {
			if (++b->consecutive >= b->fail_max)
				set_state(b, BREAKER_OPEN, &t);
		} else if (b->state == BREAKER_HALF_OPEN) {
			set_state(b, BREAKER_OPEN, &t);
		}
	}
	announce_and_unlock(b, &t);
}

enum breaker_state breaker_get_state(struct breaker *b)
{
	struct transition t = { 0 };
	enum breaker_state s;

	pthread_mutex_lock(&b->lock);
	if (!in_listener(b))
		check_timeout(b, &t);
	s = b->state;
	announce_and_unlock(b, &t);
	return s;
}

void breaker_get_stats(struct breaker *b, struct breaker_stats *ret)
{
	struct transition t = { 0 };

	pthread_mutex_lock(&b->lock);
	if (!in_listener(b))
		check_timeout(b, &t);
	b->stats.state = b->state;
	*ret = b->stats;
	announce_and_unlock(b, &t);
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "unknown";
}

int breaker_add_listener(struct breaker *b, breaker_listener_fn fn, void *ctx)
{
	int r = 0;

	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (b->nlisteners >= BREAKER_MAX_LISTENERS)
		r = -ENOSPC;
	else
		b->listeners[b->nlisteners++] =
		    (struct listener){ .fn = fn, .ctx = ctx };
	pthread_mutex_unlock(&b->lock);
	return r;
}

const char *breaker_name(const struct breaker *b)
{
	return b->name;
}
