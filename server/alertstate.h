/* The state of one alert instance: one per (rule, scope key), stepped at
 * every evaluation (docs/alerts.md, "States").
 *
 * inactive → pending → firing → resolved, with Prometheus's semantics: the
 * condition must hold at every evaluation for the whole `for` (meanwhile
 * pending); a pending instance whose condition clears goes back to inactive
 * and never notifies; `for: 0` fires at the first true evaluation; a firing
 * instance stays firing for `keep_firing_for` after the last evaluation at
 * which the condition held, then resolves; a resolved instance whose
 * condition holds again starts a new episode (pending, or firing at once
 * with `for: 0`), and one that stays clear becomes inactive after
 * ALERTSTATE_RESOLVED_RETENTION_MS, without a transition to notify.
 *
 * Pure: no clock, no allocation, no I/O. Time is a parameter in ms (the
 * caller's wall clock, so that the recorded times mean something to an
 * operator); a clock that steps back only delays a transition.
 *
 * Identity: alertstate_key() names an instance in memory and in the API;
 * alertstate_dedup_key() is the PagerDuty dedup_key, a hash that depends
 * only on the rule name and the instance's identifying labels, so it is the
 * same on every replica and after a restart. */
#ifndef ACGS_ALERTSTATE_H
#define ACGS_ALERTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a resolved instance is kept (Prometheus keeps resolved alerts
 * 15 minutes so that receivers that want it can re-send the resolve). */
#define ALERTSTATE_RESOLVED_RETENTION_MS (15 * 60 * 1000)

/* 64 hex digits of SHA-256 and the NUL. */
#define ALERTSTATE_DEDUP_KEY_LEN 65
/* Most identifying labels alertstate_dedup_key() takes. */
#define ALERTSTATE_MAX_LABELS 64
/* A buffer size for alertstate_key() that fits a 64-byte rule name, a
 * 64-byte node id and a 64-byte probe name even fully escaped. */
#define ALERTSTATE_KEY_LEN 640

enum alertstate_state {
	ALERTSTATE_INACTIVE = 0,
	ALERTSTATE_PENDING,
	ALERTSTATE_FIRING,
	ALERTSTATE_RESOLVED,
};

/* What one step did; the caller notifies exactly once per transition:
 * to_firing is a trigger, to_resolved a resolve, to_pending and
 * pending_cleared are only recorded. */
enum alertstate_transition {
	ALERTSTATE_NONE = 0,
	ALERTSTATE_TO_PENDING,
	ALERTSTATE_TO_FIRING,
	ALERTSTATE_TO_RESOLVED,
	ALERTSTATE_PENDING_CLEARED,
};

/* The rule's timing, in ms, each >= 0. */
struct alertstate_timing {
	int64_t for_ms;
	int64_t keep_firing_for_ms;
};

/* One instance. Zero-initialised (or alertstate_init) is inactive. The
 * times are 0 when they have not happened in the current episode. */
struct alertstate {
	enum alertstate_state state;
	int64_t active_since_ms; /* first true evaluation of this episode */
	int64_t fired_at_ms;	 /* when it went firing */
	int64_t resolved_at_ms;	 /* when it resolved */
	int64_t last_true_ms;	 /* last evaluation at which it held */
	int64_t last_eval_ms;	 /* last evaluation, 0 before the first */
	double value;		 /* the value at the last evaluation */
	double firing_value;	 /* the value when it went firing */
};

/* An identifying label of an instance: {node: "web-1"}, {probe: "db"}. */
struct alertstate_label {
	const char *key, *value;
};

/* Reset s to inactive. */
void alertstate_init(struct alertstate *s);

/* Evaluate s at now_ms with the condition's truth and the subject's value
 * (NaN when absent; recorded, not judged). Returns the transition that
 * happened, at most one per step. */
enum alertstate_transition alertstate_step(struct alertstate *s,
					   const struct alertstate_timing *t,
					   int64_t now_ms, bool condition_true,
					   double value);

/* "inactive", "pending", "firing", "resolved". */
const char *alertstate_state_name(enum alertstate_state st);

/* "none", "to_pending", "to_firing", "to_resolved", "pending_cleared". */
const char *alertstate_transition_name(enum alertstate_transition tr);

/* The instance's name: "RULE/SCOPEKEY" or "RULE/SCOPEKEY/EXTRA" (EXTRA is
 * the probe of a per-probe rule; NULL or "" leaves it out), with '%' and
 * '/' in each part written as %25 and %2F so that the parts can be told
 * apart. Writes it NUL-terminated to out. Returns 0, -EINVAL when rule is
 * NULL or empty or scope_key NULL, -E2BIG when it does not fit outlen (out
 * is then ""). */
int alertstate_key(const char *rule, const char *scope_key, const char *extra,
		   char *out, size_t outlen);

/* The PagerDuty dedup_key of an instance: the lowercase hex SHA-256 of
 *   rule NUL (key NUL value NUL) for each label in strcmp order of keys
 * (so the order given does not matter). labels are the identifying labels
 * only (node or service, and probe), never the rule's own labels: a
 * changed rule label must not orphan an open incident. Returns 0, or
 * -EINVAL when rule is NULL or empty, a key or value is NULL, a key repeats
 * or n > ALERTSTATE_MAX_LABELS (out is then ""). */
int alertstate_dedup_key(const char *rule,
			 const struct alertstate_label *labels, size_t n,
			 char out[ALERTSTATE_DEDUP_KEY_LEN]);

#endif
