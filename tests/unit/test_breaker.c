#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "check_main.h"
#include "cleanup.h"

#define MS 1000000ull

/* A clock the test moves by hand; atomic for the threaded case. */
struct fake_clock {
	uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	struct fake_clock *c = ctx;
	return __atomic_load_n(&c->now, __ATOMIC_SEQ_CST);
}

static void advance(struct fake_clock *c, uint64_t ns)
{
	__atomic_fetch_add(&c->now, ns, __ATOMIC_SEQ_CST);
}

/* Records transitions and checks that each one starts where the last ended. */
struct recorder {
	size_t n;
	enum breaker_state from[64], to[64];
	enum breaker_state last;
	unsigned broken_chain, wrong_name, opens;
	const char *want_name;
};

static void record(void *ctx, const char *name, enum breaker_state from,
		   enum breaker_state to)
{
	struct recorder *r = ctx;

	if (from != r->last || from == to)
		r->broken_chain++;
	if (r->want_name && strcmp(name, r->want_name) != 0)
		r->wrong_name++;
	if (to == BREAKER_OPEN)
		r->opens++;
	if (r->n < ARRAY_SIZE(r->from)) {
		r->from[r->n] = from;
		r->to[r->n] = to;
	}
	r->n++;
	r->last = to;
}

static const int excluded[] = { -EINVAL, -ENOENT };

static struct breaker *make(struct fake_clock *clock, unsigned fail_max,
			    double reset, unsigned half_open_max)
{
	struct breaker_options opt = {
		.name = "postgres",
		.fail_max = fail_max,
		.reset_timeout = reset,
		.half_open_max = half_open_max,
		.excluded = excluded,
		.nexcluded = ARRAY_SIZE(excluded),
		.clock = fake_now,
		.clock_ctx = clock,
	};
	struct breaker *b = NULL;

	ck_assert_int_eq(breaker_new(&opt, &b), 0);
	ck_assert_ptr_nonnull(b);
	return b;
}

/* Scenarios: a script of calls against the fake clock, then the counters. */
enum op { END, ALLOW, OK, FAIL, WAIT_MS, STATE };

struct step {
	enum op op;
	int arg; /* ALLOW: wanted return; FAIL: err; WAIT_MS: ms; STATE */
};

#define A(r)                                                                   \
	{                                                                      \
		ALLOW, r                                                       \
	}
#define A0 A(0)
#define AX A(-EAGAIN)
#define S                                                                      \
	{                                                                      \
		OK, 0                                                          \
	}
#define F(e)                                                                   \
	{                                                                      \
		FAIL, e                                                        \
	}
#define FF F(-EIO)
#define W(ms)                                                                  \
	{                                                                      \
		WAIT_MS, ms                                                    \
	}
#define C_                                                                     \
	{                                                                      \
		STATE, BREAKER_CLOSED                                          \
	}
#define O_                                                                     \
	{                                                                      \
		STATE, BREAKER_OPEN                                            \
	}
#define H_                                                                     \
	{                                                                      \
		STATE, BREAKER_HALF_OPEN                                       \
	}

static const struct scenario {
	const char *what;
	unsigned fail_max;
	double reset;
	unsigned half_open_max;
	struct step steps[40];
	/* calls, successes, failures, excluded, rejected, opened */
	uint64_t want[6];
} scenarios[] = {
	{ "opens after exactly fail_max consecutive failures",
	  3,
	  10,
	  1,
	  { A0, FF, A0, FF, C_, A0, FF, O_, AX, AX },
	  { 3, 0, 3, 0, 2, 1 } },
	{ "a success in between resets the count",
	  3,
	  10,
	  1,
	  { A0, FF, A0, FF, A0, S, A0, FF, A0, FF, C_, A0, FF, O_ },
	  { 6, 1, 5, 0, 0, 1 } },
	{ "open rejects until the timeout; half_open exactly at it",
	  1,
	  10,
	  1,
	  { A0, FF, O_, W(9999), AX, O_, W(1), H_, A0, S, C_ },
	  { 2, 1, 1, 0, 1, 1 } },
	{ "allow makes the time check itself and the call is the trial",
	  1,
	  10,
	  1,
	  { A0, FF, W(10000), A0, AX, H_, S, C_, A0, S },
	  { 3, 2, 1, 0, 1, 1 } },
	{ "half_open admits half_open_max trials then rejects",
	  1,
	  10,
	  3,
	  { A0, FF, W(10000), A0, A0, A0, AX, AX, H_, S, C_, S, S, A0, S, C_ },
	  { 5, 4, 1, 0, 2, 1 } },
	{ "a trial failure re-opens with a fresh timeout",
	  1,
	  10,
	  1,
	  { A0, FF, W(15000), A0, FF, O_, W(9999), AX, O_, W(1), A0, S, C_ },
	  { 3, 1, 2, 0, 1, 2 } },
	{ "trials reported after the first failure change nothing",
	  1,
	  10,
	  2,
	  { A0, FF, W(10000), A0, A0, FF, O_, S, O_, W(9999), O_, W(1), H_ },
	  { 3, 1, 2, 0, 0, 2 } },
	{ "late outcomes while open change nothing, nor the timeout",
	  1,
	  10,
	  1,
	  { A0, A0, A0, FF, O_, W(5000), FF, S, O_, W(5000), H_ },
	  { 3, 1, 2, 0, 0, 1 } },
	{ "closing resets the count",
	  2,
	  10,
	  1,
	  { A0, FF, A0, FF, O_, W(10000), A0, S, C_, A0, FF, C_, A0, FF, O_ },
	  { 5, 1, 4, 0, 0, 2 } },
	{ "excluded errors are neutral while closed",
	  2,
	  10,
	  1,
	  { A0, F(-EINVAL), A0, F(-ENOENT), A0, F(-EINVAL), C_, A0, FF, A0,
	    F(-EINVAL), C_, A0, FF, O_ },
	  { 6, 0, 2, 4, 0, 1 } },
	{ "excluded errors are neutral while open",
	  1,
	  10,
	  1,
	  { A0, A0, FF, O_, F(-EINVAL), O_, W(10000), H_ },
	  { 2, 0, 1, 1, 0, 1 } },
	{ "excluded errors are neutral in half_open and free the slot",
	  1,
	  10,
	  1,
	  { A0, FF, W(10000), A0, AX, F(-EINVAL), H_, A0, AX, F(-ENOENT), H_,
	    A0, S, C_ },
	  { 4, 1, 1, 2, 2, 1 } },
	{ "any error not excluded counts",
	  3,
	  10,
	  1,
	  { A0, F(-ETIMEDOUT), A0, F(-ECONNREFUSED), A0, F(0), O_ },
	  { 3, 0, 3, 0, 0, 1 } },
	{ "defaults: fail_max 5, reset_timeout 30 s, half_open_max 1",
	  0,
	  0,
	  0,
	  { A0, FF, A0,	      FF, A0, FF,   A0, FF, C_, A0,
	    FF, O_, W(29999), AX, O_, W(1), A0, AX, S,	C_ },
	  { 6, 1, 5, 0, 2, 1 } },
	{ "sub-second timeouts",
	  1,
	  0.25,
	  1,
	  { A0, FF, W(249), AX, W(1), A0, FF, O_, W(250), H_ },
	  { 2, 0, 2, 0, 1, 2 } },
};

START_TEST(scenario)
{
	const struct scenario *sc = &scenarios[_i];
	struct fake_clock clock = { .now = 1000 * MS };
	struct recorder rec = { .last = BREAKER_CLOSED,
				.want_name = "postgres" };
	struct breaker *b =
	    make(&clock, sc->fail_max, sc->reset, sc->half_open_max);
	struct breaker_stats st;

	ck_assert_int_eq(breaker_add_listener(b, record, &rec), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sc->steps) && sc->steps[i].op != END;
	     i++) {
		const struct step *s = &sc->steps[i];
		switch (s->op) {
		case ALLOW:
			ck_assert_msg(breaker_allow(b) == s->arg,
				      "%s: step %zu: allow != %d", sc->what, i,
				      s->arg);
			break;
		case OK:
			breaker_success(b);
			break;
		case FAIL:
			breaker_failure(b, s->arg);
			break;
		case WAIT_MS:
			advance(&clock, (uint64_t)s->arg * MS);
			break;
		case STATE:
			ck_assert_msg(
			    breaker_get_state(b) == (enum breaker_state)s->arg,
			    "%s: step %zu: state %s, want %s", sc->what, i,
			    breaker_state_name(breaker_get_state(b)),
			    breaker_state_name(s->arg));
			break;
		case END:
			break;
		}
	}

	breaker_get_stats(b, &st);
	uint64_t got[6] = { st.calls,	 st.successes, st.failures,
			    st.excluded, st.rejected,  st.opened };
	for (size_t k = 0; k < ARRAY_SIZE(got); k++)
		ck_assert_msg(got[k] == sc->want[k],
			      "%s: stat %zu is %llu, want %llu", sc->what, k,
			      (unsigned long long)got[k],
			      (unsigned long long)sc->want[k]);
	ck_assert_uint_eq(st.calls, st.successes + st.failures + st.excluded);

	/* The listener saw every transition, chained, and ended where the
	 * breaker is. */
	ck_assert_uint_eq(rec.broken_chain, 0);
	ck_assert_uint_eq(rec.wrong_name, 0);
	ck_assert_uint_eq(rec.opens, st.opened);
	ck_assert_int_eq(rec.last, st.state);
	breaker_free(b);
}
END_TEST

/* Two listeners, each called for each transition, first-added first. */
struct log_entry {
	int who;
	enum breaker_state from, to;
};

struct shared_log {
	size_t n;
	struct log_entry e[32];
};

struct tagged {
	int who;
	struct shared_log *log;
};

static void log_listener(void *ctx, const char *name, enum breaker_state from,
			 enum breaker_state to)
{
	struct tagged *t = ctx;

	ck_assert_str_eq(name, "postgres");
	ck_assert_uint_lt(t->log->n, ARRAY_SIZE(t->log->e));
	t->log->e[t->log->n++] = (struct log_entry){ t->who, from, to };
}

START_TEST(listeners_in_order)
{
	struct fake_clock clock = { 0 };
	struct shared_log log = { 0 };
	struct tagged one = { 1, &log }, two = { 2, &log };
	struct breaker *b = make(&clock, 1, 10, 1);
	static const struct {
		enum breaker_state from, to;
	} want[] = {
		{ BREAKER_CLOSED, BREAKER_OPEN },
		{ BREAKER_OPEN, BREAKER_HALF_OPEN },
		{ BREAKER_HALF_OPEN, BREAKER_OPEN },
		{ BREAKER_OPEN, BREAKER_HALF_OPEN },
		{ BREAKER_HALF_OPEN, BREAKER_CLOSED },
	};

	ck_assert_int_eq(breaker_add_listener(b, log_listener, &one), 0);
	ck_assert_int_eq(breaker_add_listener(b, log_listener, &two), 0);
	ck_assert_int_eq(breaker_allow(b), 0);
	breaker_failure(b, -EIO);
	advance(&clock, 10000 * MS);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	ck_assert_int_eq(breaker_allow(b), 0);
	breaker_failure(b, -EIO);
	advance(&clock, 10000 * MS);
	ck_assert_int_eq(breaker_allow(b), 0);
	breaker_success(b);

	ck_assert_uint_eq(log.n, 2 * ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		for (int who = 1; who <= 2; who++) {
			const struct log_entry *e =
			    &log.e[2 * i + (size_t)who - 1];
			ck_assert_int_eq(e->who, who);
			ck_assert_int_eq(e->from, want[i].from);
			ck_assert_int_eq(e->to, want[i].to);
		}
	breaker_free(b);
}
END_TEST

/* A listener reads the breaker it is told about without deadlocking, and sees
 * the new state even when the clock has already passed the timeout. */
struct reader {
	struct breaker *b;
	struct fake_clock *clock;
	enum breaker_state state_seen;
	struct breaker_stats stats_seen;
	int calls;
};

static void reading_listener(void *ctx, const char *name,
			     enum breaker_state from, enum breaker_state to)
{
	struct reader *r = ctx;

	if (to == BREAKER_OPEN)
		advance(r->clock, 60000 * MS);
	r->state_seen = breaker_get_state(r->b);
	breaker_get_stats(r->b, &r->stats_seen);
	ck_assert_str_eq(breaker_name(r->b), name);
	r->calls++;
}

START_TEST(listener_reads_breaker)
{
	struct fake_clock clock = { 0 };
	struct breaker *b = make(&clock, 1, 30, 1);
	struct reader r = { .b = b, .clock = &clock };

	ck_assert_int_eq(breaker_add_listener(b, reading_listener, &r), 0);
	ck_assert_int_eq(breaker_allow(b), 0);
	breaker_failure(b, -EIO);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.state_seen, BREAKER_OPEN);
	ck_assert_int_eq(r.stats_seen.state, BREAKER_OPEN);
	ck_assert_uint_eq(r.stats_seen.opened, 1);
	/* Outside the listener the time check happens, and is announced. */
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	ck_assert_int_eq(r.calls, 2);
	ck_assert_int_eq(r.state_seen, BREAKER_HALF_OPEN);
	breaker_free(b);
}
END_TEST

static void noop_listener(void *ctx, const char *name, enum breaker_state from,
			  enum breaker_state to)
{
}

START_TEST(listener_limit)
{
	struct fake_clock clock = { 0 };
	struct breaker *b = make(&clock, 1, 1, 1);

	ck_assert_int_eq(breaker_add_listener(b, NULL, NULL), -EINVAL);
	for (int i = 0; i < BREAKER_MAX_LISTENERS; i++)
		ck_assert_int_eq(breaker_add_listener(b, noop_listener, NULL),
				 0);
	ck_assert_int_eq(breaker_add_listener(b, noop_listener, NULL), -ENOSPC);
	breaker_free(b);
}
END_TEST

START_TEST(bad_options)
{
	static const int positive[] = { EINVAL };
	static const int zero[] = { -EIO, 0 };
	static const struct breaker_options cases[] = {
		{ .name = NULL },
		{ .name = "" },
		{ .name = "x", .excluded = positive, .nexcluded = 1 },
		{ .name = "x", .excluded = zero, .nexcluded = 2 },
		{ .name = "x", .excluded = NULL, .nexcluded = 1 },
		{ .name = "x", .reset_timeout = -1 },
		{ .name = "x", .reset_timeout = NAN },
		{ .name = "x", .reset_timeout = INFINITY },
		{ .name = "x", .reset_timeout = 2e9 },
	};
	struct breaker *sentinel = (struct breaker *)&cases, *b = sentinel;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ck_assert_msg(breaker_new(&cases[i], &b) == -EINVAL, "case %zu",
			      i);
		ck_assert_ptr_eq(b, sentinel);
	}
	ck_assert_int_eq(breaker_new(NULL, &b), -EINVAL);
	ck_assert_int_eq(breaker_new(&cases[0], NULL), -EINVAL);
	ck_assert_ptr_eq(b, sentinel);
	ck_assert_ptr_null(breaker_free(NULL));
}
END_TEST

START_TEST(options_are_copied)
{
	char name[] = "redis";
	int excl[] = { -EINVAL };
	struct fake_clock clock = { 0 };
	struct breaker_options opt = { .name = name,
				       .fail_max = 1,
				       .excluded = excl,
				       .nexcluded = 1,
				       .clock = fake_now,
				       .clock_ctx = &clock };
	struct breaker *b = NULL;

	ck_assert_int_eq(breaker_new(&opt, &b), 0);
	name[0] = 'X';
	excl[0] = -EIO;
	ck_assert_str_eq(breaker_name(b), "redis");
	ck_assert_int_eq(breaker_allow(b), 0);
	breaker_failure(b, -EIO); /* not the copied exclusion: counts */
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_ptr_null(breaker_free(b));
}
END_TEST

START_TEST(real_clock)
{
	struct breaker_options opt = { .name = "pagerduty:ops" };
	struct breaker *b = NULL;
	struct breaker_stats st;

	ck_assert_int_eq(breaker_new(&opt, &b), 0);
	for (int i = 0; i < BREAKER_DEFAULT_FAIL_MAX; i++) {
		ck_assert_int_eq(breaker_allow(b), 0);
		breaker_failure(b, -ECONNREFUSED);
	}
	/* 30 s do not pass during a test. */
	ck_assert_int_eq(breaker_allow(b), -EAGAIN);
	breaker_get_stats(b, &st);
	ck_assert_int_eq(st.state, BREAKER_OPEN);
	ck_assert_uint_eq(st.opened, 1);
	ck_assert_uint_eq(st.rejected, 1);
	breaker_free(b);
}
END_TEST

START_TEST(state_names)
{
	ck_assert_str_eq(breaker_state_name(BREAKER_CLOSED), "closed");
	ck_assert_str_eq(breaker_state_name(BREAKER_OPEN), "open");
	ck_assert_str_eq(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
	ck_assert_str_eq(breaker_state_name((enum breaker_state)42), "unknown");
}
END_TEST

/* Threads hammer one breaker while the clock moves; the counters and the
 * listener's view must agree at the end. */
#define NTHREADS 4
#define NITER	 20000

struct hammer {
	struct breaker *b;
	struct fake_clock *clock;
	uint64_t attempts, admitted, successes, failures, excluded;
	uint64_t bad_snapshots;
	unsigned seed;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < NITER; i++) {
		unsigned roll = (unsigned)rand_r(&h->seed) % 100;

		if (roll < 5)
			advance(h->clock, 100000); /* 0.1 ms */
		h->attempts++;
		if (breaker_allow(h->b) == 0) {
			h->admitted++;
			if (roll < 50) {
				h->successes++;
				breaker_success(h->b);
			} else if (roll < 90) {
				h->failures++;
				breaker_failure(h->b, -EIO);
			} else {
				h->excluded++;
				breaker_failure(h->b, -EINVAL);
			}
		}
		if (i % 64 == 0) {
			struct breaker_stats st;
			breaker_get_stats(h->b, &st);
			uint64_t done =
			    st.successes + st.failures + st.excluded;
			/* At most one call per thread is in flight. */
			if (done > st.calls || st.calls - done > NTHREADS)
				h->bad_snapshots++;
			(void)breaker_get_state(h->b);
		}
	}
	return NULL;
}

START_TEST(threads)
{
	struct fake_clock clock = { 0 };
	struct recorder rec = { .last = BREAKER_CLOSED,
				.want_name = "postgres" };
	struct breaker *b = make(&clock, 3, 0.001, 2);
	struct hammer h[NTHREADS];
	pthread_t tid[NTHREADS];
	struct breaker_stats st;
	uint64_t attempts = 0, admitted = 0, ok = 0, failed = 0, excl = 0;

	ck_assert_int_eq(breaker_add_listener(b, record, &rec), 0);
	for (int i = 0; i < NTHREADS; i++) {
		h[i] = (struct hammer){ .b = b,
					.clock = &clock,
					.seed = 12345u + (unsigned)i };
		ck_assert_int_eq(
		    pthread_create(&tid[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
		ck_assert_uint_eq(h[i].bad_snapshots, 0);
		attempts += h[i].attempts;
		admitted += h[i].admitted;
		ok += h[i].successes;
		failed += h[i].failures;
		excl += h[i].excluded;
	}

	breaker_get_stats(b, &st);
	ck_assert_uint_eq(st.calls, st.successes + st.failures + st.excluded);
	ck_assert_uint_eq(st.calls + st.rejected, attempts);
	ck_assert_uint_eq(st.calls, admitted);
	ck_assert_uint_eq(st.successes, ok);
	ck_assert_uint_eq(st.failures, failed);
	ck_assert_uint_eq(st.excluded, excl);
	/* The run must have exercised the breaker, not just passed through. */
	ck_assert_uint_gt(st.opened, 10);
	ck_assert_uint_gt(st.rejected, 0);
	ck_assert_uint_eq(rec.broken_chain, 0);
	ck_assert_uint_eq(rec.wrong_name, 0);
	ck_assert_uint_eq(rec.opens, st.opened);
	ck_assert_int_eq(rec.last, st.state);
	breaker_free(b);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, scenario, 0, (int)ARRAY_SIZE(scenarios));
	tcase_add_test(tc, listeners_in_order);
	tcase_add_test(tc, listener_reads_breaker);
	tcase_add_test(tc, listener_limit);
	tcase_add_test(tc, bad_options);
	tcase_add_test(tc, options_are_copied);
	tcase_add_test(tc, real_clock);
	tcase_add_test(tc, state_names);
	suite_add_tcase(s, tc);

	TCase *tt = tcase_create("threads");
	tcase_set_timeout(tt, 60);
	tcase_add_test(tt, threads);
	suite_add_tcase(s, tt);
	return s;
}
