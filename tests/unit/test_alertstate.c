/* The alert instance state machine on a fake clock, and instance identity.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "alertstate.h"
#include "check_main.h"
#include "cleanup.h"

#define S  1000LL
#define M  (60 * S)
#define T0 1795541410000LL /* a wall clock in ms */

#define INACTIVE ALERTSTATE_INACTIVE
#define PENDING	 ALERTSTATE_PENDING
#define FIRING	 ALERTSTATE_FIRING
#define RESOLVED ALERTSTATE_RESOLVED
#define NONE	 ALERTSTATE_NONE
#define TO_PEND	 ALERTSTATE_TO_PENDING
#define TO_FIRE	 ALERTSTATE_TO_FIRING
#define TO_RES	 ALERTSTATE_TO_RESOLVED
#define CLEARED	 ALERTSTATE_PENDING_CLEARED

/* One evaluation: at T0 + at, the condition, and what must follow. */
struct step {
	int64_t at;
	bool cond;
	enum alertstate_transition tr;
	enum alertstate_state st;
};

#define MAX_STEPS 24

static const struct scenario {
	const char *name;
	struct alertstate_timing t;
	struct step steps[MAX_STEPS];
	size_t n;
} scenarios[] = {
	{ "pending, then firing once for has passed",
	  { 5 * M, 0 },
	  { { 0, true, TO_PEND, PENDING },
	    { 1 * M, true, NONE, PENDING },
	    { 4 * M + 59 * S, true, NONE, PENDING },
	    { 5 * M, true, TO_FIRE, FIRING },
	    { 6 * M, true, NONE, FIRING },
	    { 7 * M, false, TO_RES, RESOLVED },
	    { 8 * M, false, NONE, RESOLVED } },
	  7 },
	{ "flapping inside for never fires",
	  { 2 * M, 0 },
	  { { 0, true, TO_PEND, PENDING },
	    { 30 * S, true, NONE, PENDING },
	    { 60 * S, false, CLEARED, INACTIVE },
	    { 90 * S, true, TO_PEND, PENDING },
	    { 120 * S, true, NONE, PENDING },
	    { 150 * S, false, CLEARED, INACTIVE },
	    { 180 * S, true, TO_PEND, PENDING },
	    { 210 * S, false, CLEARED, INACTIVE },
	    { 240 * S, true, TO_PEND, PENDING },
	    { 270 * S, true, NONE, PENDING },
	    { 300 * S, true, NONE, PENDING },
	    { 330 * S, false, CLEARED, INACTIVE },
	    { 360 * S, false, NONE, INACTIVE } },
	  13 },
	{ "for 0 fires at the first true evaluation",
	  { 0, 0 },
	  { { 0, false, NONE, INACTIVE },
	    { 1 * S, true, TO_FIRE, FIRING },
	    { 2 * S, true, NONE, FIRING },
	    { 3 * S, false, TO_RES, RESOLVED },
	    { 4 * S, true, TO_FIRE, FIRING },
	    { 5 * S, false, TO_RES, RESOLVED } },
	  6 },
	{ "keep_firing_for holds through a short clear, resolves after",
	  { 1 * M, 2 * M },
	  { { 0, true, TO_PEND, PENDING },
	    { 1 * M, true, TO_FIRE, FIRING },
	    { 2 * M, true, NONE, FIRING },
	    /* clear for less than keep_firing_for after the last true */
	    { 2 * M + 30 * S, false, NONE, FIRING },
	    { 3 * M + 59 * S, false, NONE, FIRING },
	    { 4 * M, true, NONE, FIRING },
	    /* now clear for good: resolves 2m after 4m */
	    { 5 * M, false, NONE, FIRING },
	    { 5 * M + 59 * S, false, NONE, FIRING },
	    { 6 * M, false, TO_RES, RESOLVED },
	    { 7 * M, false, NONE, RESOLVED } },
	  10 },
	{ "keep_firing_for does not hold a pending alert",
	  { 1 * M, 10 * M },
	  { { 0, true, TO_PEND, PENDING },
	    { 30 * S, false, CLEARED, INACTIVE } },
	  2 },
	{ "resolved, then pending again and a new firing",
	  { 1 * M, 0 },
	  { { 0, true, TO_PEND, PENDING },
	    { 1 * M, true, TO_FIRE, FIRING },
	    { 2 * M, false, TO_RES, RESOLVED },
	    { 3 * M, true, TO_PEND, PENDING },
	    { 3 * M + 30 * S, true, NONE, PENDING },
	    { 4 * M, true, TO_FIRE, FIRING },
	    { 5 * M, false, TO_RES, RESOLVED } },
	  7 },
	{ "resolved goes inactive after the retention, without a transition",
	  { 0, 0 },
	  { { 0, true, TO_FIRE, FIRING },
	    { 1 * M, false, TO_RES, RESOLVED },
	    { 15 * M + 59 * S, false, NONE, RESOLVED },
	    { 16 * M, false, NONE, INACTIVE },
	    { 17 * M, false, NONE, INACTIVE },
	    { 18 * M, true, TO_FIRE, FIRING } },
	  6 },
	{ "a long gap while pending fires at the next true evaluation",
	  { 5 * M, 0 },
	  { { 0, true, TO_PEND, PENDING },
	    { 60 * M, true, TO_FIRE, FIRING },
	    { 61 * M, true, NONE, FIRING } },
	  3 },
	{ "a long gap while firing resolves at once past keep_firing_for",
	  { 0, 5 * M },
	  { { 0, true, TO_FIRE, FIRING },
	    { 60 * M, false, TO_RES, RESOLVED },
	    /* and a long gap while resolved skips straight to inactive */
	    { 120 * M, false, NONE, INACTIVE } },
	  3 },
	{ "a clock stepping back only delays",
	  { 2 * M, 0 },
	  { { 10 * M, true, TO_PEND, PENDING },
	    { 5 * M, true, NONE, PENDING },
	    { 11 * M, true, NONE, PENDING },
	    { 12 * M, true, TO_FIRE, FIRING } },
	  4 },
};

START_TEST(scenario)
{
	const struct scenario *sc = &scenarios[_i];
	struct alertstate s;
	unsigned to_firing = 0, to_resolved = 0;

	alertstate_init(&s);
	for (size_t i = 0; i < sc->n; i++) {
		const struct step *st = &sc->steps[i];
		double value = (double)i / 10;
		enum alertstate_transition tr =
		    alertstate_step(&s, &sc->t, T0 + st->at, st->cond, value);
		ck_assert_msg(tr == st->tr && s.state == st->st,
			      "%s, step %zu (t=%llds, %s): got %s/%s, want "
			      "%s/%s",
			      sc->name, i, (long long)(st->at / S),
			      st->cond ? "true" : "false",
			      alertstate_transition_name(tr),
			      alertstate_state_name(s.state),
			      alertstate_transition_name(st->tr),
			      alertstate_state_name(st->st));
		ck_assert(s.value == value);
		ck_assert(s.last_eval_ms == T0 + st->at);
		if (tr == TO_FIRE) {
			to_firing++;
			ck_assert(s.fired_at_ms == T0 + st->at);
			ck_assert(s.firing_value == value);
		}
		if (tr == TO_RES) {
			to_resolved++;
			ck_assert(s.resolved_at_ms == T0 + st->at);
		}
		if (tr == TO_PEND)
			ck_assert(s.active_since_ms == T0 + st->at);
	}
	/* a resolve only ever follows a trigger */
	ck_assert_uint_le(to_resolved, to_firing);
}
END_TEST

START_TEST(episode_times)
{
	const struct alertstate_timing t = { 2 * M, 1 * M };
	struct alertstate s;

	alertstate_init(&s);
	alertstate_step(&s, &t, T0, true, 0.95);
	alertstate_step(&s, &t, T0 + 2 * M, true, 0.97);
	ck_assert_int_eq(s.state, FIRING);
	ck_assert(s.active_since_ms == T0);
	ck_assert(s.fired_at_ms == T0 + 2 * M);
	ck_assert(s.firing_value == 0.97);
	ck_assert(s.resolved_at_ms == 0);
	alertstate_step(&s, &t, T0 + 3 * M, true, 0.99);
	ck_assert(s.last_true_ms == T0 + 3 * M);
	ck_assert_int_eq(alertstate_step(&s, &t, T0 + 4 * M, false, 0.5),
			 TO_RES);
	ck_assert(s.resolved_at_ms == T0 + 4 * M);
	ck_assert(s.fired_at_ms == T0 + 2 * M);
	ck_assert(s.value == 0.5);
	/* a new episode forgets the old times */
	ck_assert_int_eq(alertstate_step(&s, &t, T0 + 5 * M, true, NAN),
			 TO_PEND);
	ck_assert(s.active_since_ms == T0 + 5 * M);
	ck_assert(s.fired_at_ms == 0);
	ck_assert(s.resolved_at_ms == 0);
	ck_assert(isnan(s.value));
}
END_TEST

/* Exactly one trigger and one resolve per episode, however the condition
 * wavers, on a long pseudo-random run checked against a simple model. */
START_TEST(one_notification_per_transition)
{
	const struct alertstate_timing t = { 30 * S, 20 * S };
	struct alertstate s;
	uint32_t x = 12345;
	int64_t now = T0;
	unsigned triggers = 0, resolves = 0;
	bool firing = false;

	alertstate_init(&s);
	for (int i = 0; i < 100000; i++) {
		x = x * 1103515245u + 12345u;
		bool cond = (x >> 16) % 4 != 0;
		now += 1000 + (int64_t)((x >> 8) % 9000);
		enum alertstate_transition tr =
		    alertstate_step(&s, &t, now, cond, 0);
		if (tr == TO_FIRE) {
			ck_assert(!firing);
			firing = true;
			triggers++;
		} else if (tr == TO_RES) {
			ck_assert(firing);
			firing = false;
			resolves++;
		}
		ck_assert(firing == (s.state == FIRING));
	}
	ck_assert_uint_gt(triggers, 10);
	ck_assert_uint_ge(triggers, resolves);
	ck_assert_uint_le(triggers - resolves, 1);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(alertstate_state_name(INACTIVE), "inactive");
	ck_assert_str_eq(alertstate_state_name(PENDING), "pending");
	ck_assert_str_eq(alertstate_state_name(FIRING), "firing");
	ck_assert_str_eq(alertstate_state_name(RESOLVED), "resolved");
	ck_assert_str_eq(alertstate_transition_name(NONE), "none");
	ck_assert_str_eq(alertstate_transition_name(TO_PEND), "to_pending");
	ck_assert_str_eq(alertstate_transition_name(TO_FIRE), "to_firing");
	ck_assert_str_eq(alertstate_transition_name(TO_RES), "to_resolved");
	ck_assert_str_eq(alertstate_transition_name(CLEARED),
			 "pending_cleared");
}
END_TEST

START_TEST(instance_key)
{
	char out[ALERTSTATE_KEY_LEN];

	ck_assert_int_eq(
	    alertstate_key("NodeDown", "web-1", NULL, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "NodeDown/web-1");
	ck_assert_int_eq(
	    alertstate_key("NodeDown", "web-1", "", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "NodeDown/web-1");
	ck_assert_int_eq(alertstate_key("ProbeErrorRateHigh", "web-1",
					"api-health", out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "ProbeErrorRateHigh/web-1/api-health");
	ck_assert_int_eq(alertstate_key("r", "a/b%c", "d/e", out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "r/a%2Fb%25c/d%2Fe");
	ck_assert_int_eq(
	    alertstate_key("FleetScoreLow", "fleet", NULL, out, sizeof(out)),
	    0);
	ck_assert_str_eq(out, "FleetScoreLow/fleet");
	/* exactly fits, one byte short */
	ck_assert_int_eq(alertstate_key("ab", "c", NULL, out, 5), 0);
	ck_assert_str_eq(out, "ab/c");
	ck_assert_int_eq(alertstate_key("ab", "c", NULL, out, 4), -E2BIG);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(alertstate_key("ab", "/", NULL, out, 6), -E2BIG);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(alertstate_key("", "c", NULL, out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(alertstate_key(NULL, "c", NULL, out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(alertstate_key("r", NULL, NULL, out, sizeof(out)),
			 -EINVAL);
	/* the documented worst case fits */
	char big[3 * 64 + 1];
	memset(big, '/', 3 * 64);
	big[64] = '\0';
	char rule[65];
	memset(rule, 'r', 64);
	rule[64] = '\0';
	ck_assert_int_eq(alertstate_key(rule, big, big, out, sizeof(out)), 0);
}
END_TEST

START_TEST(dedup_key_stable)
{
	/* printf 'cpu-high\0node\0web-1\0' | sha256sum */
	static const char golden[] =
	    "d211aa7c52b08fe594c45bc2f334d2ad5354a26cabe5a230e233d4fe413b3217";
	const struct alertstate_label l1[] = { { "node", "web-1" } };
	char k[ALERTSTATE_DEDUP_KEY_LEN];

	ck_assert_int_eq(alertstate_dedup_key("cpu-high", l1, 1, k), 0);
	ck_assert_uint_eq(strlen(k), 64);
	ck_assert_str_eq(k, golden);
}
END_TEST

START_TEST(dedup_key_identity)
{
	const struct alertstate_label ab[] = { { "node", "web-1" },
					       { "probe", "db" } };
	const struct alertstate_label ba[] = { { "probe", "db" },
					       { "node", "web-1" } };
	const struct alertstate_label other_probe[] = { { "node", "web-1" },
							{ "probe", "api" } };
	const struct alertstate_label other_node[] = { { "node", "web-2" },
						       { "probe", "db" } };
	/* the same bytes split differently must not collide */
	const struct alertstate_label shift1[] = { { "node", "web-1p" },
						   { "robe", "db" } };
	const struct alertstate_label dup[] = { { "node", "a" },
						{ "node", "b" } };
	const struct alertstate_label null_value[] = { { "node", NULL } };
	char k1[ALERTSTATE_DEDUP_KEY_LEN], k2[ALERTSTATE_DEDUP_KEY_LEN];

	ck_assert_int_eq(alertstate_dedup_key("R", ab, 2, k1), 0);
	ck_assert_int_eq(alertstate_dedup_key("R", ba, 2, k2), 0);
	ck_assert_str_eq(k1, k2);
	ck_assert_int_eq(alertstate_dedup_key("R", other_probe, 2, k2), 0);
	ck_assert_str_ne(k1, k2);
	ck_assert_int_eq(alertstate_dedup_key("R", other_node, 2, k2), 0);
	ck_assert_str_ne(k1, k2);
	ck_assert_int_eq(alertstate_dedup_key("R2", ab, 2, k2), 0);
	ck_assert_str_ne(k1, k2);
	ck_assert_int_eq(alertstate_dedup_key("R", shift1, 2, k2), 0);
	ck_assert_str_ne(k1, k2);
	ck_assert_int_eq(alertstate_dedup_key("R", ab, 1, k2), 0);
	ck_assert_str_ne(k1, k2);
	/* the fleet: no labels */
	ck_assert_int_eq(alertstate_dedup_key("R", NULL, 0, k2), 0);
	ck_assert_uint_eq(strlen(k2), 64);

	ck_assert_int_eq(alertstate_dedup_key("R", dup, 2, k2), -EINVAL);
	ck_assert_str_eq(k2, "");
	ck_assert_int_eq(alertstate_dedup_key("R", null_value, 1, k2), -EINVAL);
	ck_assert_int_eq(alertstate_dedup_key("", ab, 2, k2), -EINVAL);
	ck_assert_int_eq(alertstate_dedup_key(NULL, ab, 2, k2), -EINVAL);
	ck_assert_int_eq(
	    alertstate_dedup_key("R", ab, ALERTSTATE_MAX_LABELS + 1, k2),
	    -EINVAL);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("alertstate");
	TCase *tc = tcase_create("state");

	if (sodium_init() < 0)
		abort();
	tcase_add_loop_test(tc, scenario, 0, ARRAY_SIZE(scenarios));
	tcase_add_test(tc, episode_times);
	tcase_add_test(tc, one_notification_per_transition);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);

	tc = tcase_create("identity");
	tcase_add_test(tc, instance_key);
	tcase_add_test(tc, dedup_key_stable);
	tcase_add_test(tc, dedup_key_identity);
	suite_add_tcase(s, tc);
	return s;
}
