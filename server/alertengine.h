/* The alert engine: every alert instance of the loaded rules, stepped on
 * the values the server hands it, and what must be written and sent
 * because of it (docs/alerts.md).
 *
 * The engine holds the state of every non-inactive instance (one per rule
 * and scope key, and probe for per-probe subjects), decides from the routes
 * which receivers an alert goes to and when (group_wait, group_interval,
 * repeat_interval), applies silences and the inhibition of a down node's
 * other alerts, and records acks. It does no I/O and reads no clock: the
 * caller (server/alerter.c) passes the time, takes the actions the engine
 * produced (transitions to record, notifications to enqueue) and carries
 * them out. Not thread-safe: one lock around every call.
 *
 * What is sent:
 * - a trigger to each receiver the routes pick when an instance goes
 *   firing, unless it is silenced or inhibited (then when that ends while
 *   it still fires), after the route's group_wait, and never sooner than
 *   group_interval after the last resolve sent to that receiver;
 * - the trigger again every repeat_interval while it fires, is not acked
 *   (an ack given while pending counts) and is not muted; to an
 *   Alertmanager receiver every 60 s while it fires, acked and muted or
 *   not, because Alertmanager ends an alert that is not re-sent;
 * - a resolve to every receiver that got a trigger, when the instance
 *   resolves or its rule is removed, silenced or not: an incident that was
 *   opened is always closed. */
#ifndef ACGS_ALERTENGINE_H
#define ACGS_ALERTENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertroute.h"
#include "alertrule.h"
#include "alertstate.h"
#include "jsonw.h"
#include "matcher.h"
#include "receiver.h"

/* Re-send interval of a firing alert to Alertmanager (its resolve_timeout
 * defaults to 5 minutes). */
#define ALERTENGINE_AM_RESEND_MS (60 * 1000)
/* Silences one alert can list as silencing it. */
#define ALERTENGINE_MAX_SILENCED_BY 8
/* Labels an instance keeps (identity, rule and node labels). */
#define ALERTENGINE_MAX_LABELS 64

/* Score components sent in custom_details: score, liveness, resources,
 * probes, compliance (NaN: absent). */
#define ALERTENGINE_NCOMPS 5

struct alertengine;

struct alertengine_options {
	/* Borrowed; both must outlive the engine. */
	const struct receiver_set *receivers;
	const struct alertroute_set *routes;
	/* Base URLs for links in notifications; NULL or "" for none. */
	const char *api_base, *grafana_base;
};

/* A new engine with no rules. Returns 0 and *ret, or -ENOMEM. */
int alertengine_new(const struct alertengine_options *opt,
		    struct alertengine **ret);
struct alertengine *alertengine_free(struct alertengine *e);

/* Take rules (owned from now on; the previous set is freed). Instances of
 * rules still present (by name) keep their state under the new
 * definition; instances of rules that are gone are dropped, and those that
 * had sent a trigger resolve. */
void alertengine_set_rules(struct alertengine *e, struct alertrule_set *rules,
			   int64_t now_ms);
const struct alertrule_set *alertengine_rules(const struct alertengine *e);

/* ---- evaluation ---- */

struct alertengine_probe {
	const char *name, *service;	 /* service may be NULL */
	double error_rate, p99_over_slo; /* NaN: absent */
};

/* What a node looks like to the rules. value[] is indexed by
 * enum alertrule_subject (per-probe subjects come from probes[]); NaN for
 * what the node does not report. */
struct alertengine_node {
	const char *id;
	double value[ALERTRULE_SUBJECT_COUNT_];
	const struct alertengine_probe *probes;
	size_t nprobes;
	const struct label *labels; /* the node's own (birth) labels */
	size_t nlabels;
	double comps[ALERTENGINE_NCOMPS];
};

/* A full pass is begin, every node, service and fleet, end: instances of
 * node and service rules not evaluated in the pass (a probe or service
 * that went away) are stepped as false at end. Nodes may also be evaluated
 * alone, outside passes, as their samples arrive. */
void alertengine_begin_pass(struct alertengine *e);
void alertengine_end_pass(struct alertengine *e, int64_t now_ms);

void alertengine_node(struct alertengine *e, const struct alertengine_node *n,
		      int64_t now_ms);
void alertengine_service(struct alertengine *e, const char *name, double score,
			 double failing_probes, int64_t now_ms);
void alertengine_fleet(struct alertengine *e, double score, double nodes_down,
		       double compliance_ratio, int64_t now_ms);

/* Send what timers, silences and inhibitions now allow (group_wait,
 * group_interval, repeats, a silence that ended). Call after evaluating and
 * at alertengine_next_due_ms(). */
void alertengine_tick(struct alertengine *e, int64_t now_ms);

/* The earliest time at which a pending instance may go firing, a firing
 * one may resolve (keep_firing_for), a notification timer runs out or a
 * silence starts or ends; INT64_MAX when none. An evaluation pass and a
 * tick are due then. */
int64_t alertengine_next_due_ms(const struct alertengine *e, int64_t now_ms);

/* ---- silences and acks ---- */

struct alertengine_silence {
	int64_t id;
	struct matchers m; /* moved in by alertengine_set_silences */
	int64_t starts_ms, ends_ms;
};

/* Replace the silences with v[0..n) (their matchers are moved: each v[i].m
 * is left empty). Returns 0 or -ENOMEM (nothing changed). */
int alertengine_set_silences(struct alertengine *e,
			     struct alertengine_silence *v, size_t n);

/* Ack the instance whose id (dedup_key) is id or starts with it (at least
 * 8 hex digits). Returns 0; -ENOENT (none), -ENOTUNIQ (several), -EBUSY
 * (neither pending nor firing), -EINVAL (id too short). An ack stops
 * repeats until the episode ends; it is an ALERTENGINE_ACK action. */
int alertengine_ack(struct alertengine *e, const char *id, const char *who,
		    const char *comment, int64_t now_ms,
		    char ret_id[ALERTSTATE_DEDUP_KEY_LEN]);

/* ---- restoring after a restart or a change of leader ---- */

/* An instance as alert_instances stores it. */
struct alertengine_saved {
	const char *rule, *scope_key, *probe; /* probe NULL or "" */
	const char *dedup_key;		      /* as stored */
	enum alertstate_state state;
	int64_t active_since_ms, fired_at_ms, resolved_at_ms, last_true_ms;
	double value, firing_value;
	const char *summary, *description;
	const char *acked_by, *ack_comment;
	int64_t acked_ms;
	/* Receivers that got the trigger (comma-separated names). */
	const char *notified;
	/* The labels it was routed and silenced by. */
	const struct label *labels;
	size_t nlabels;
};

/* Restore one instance. A saved instance of a rule that no longer exists
 * resolves to the receivers it notified. Returns 0, -EEXIST (already
 * there: kept), -EINVAL, -ENOMEM. */
int alertengine_restore(struct alertengine *e,
			const struct alertengine_saved *s, int64_t now_ms);

/* Drop every instance without a notification (a replica that lost the
 * lease: the new leader owns them now). */
void alertengine_clear(struct alertengine *e);

/* ---- what the caller carries out ---- */

enum alertengine_action_kind {
	/* A state transition: an alert_events row; the instance row is
	 * upserted (or deleted when to is inactive). */
	ALERTENGINE_TRANSITION,
	/* A notification to enqueue for receiver rx; then upsert the row. */
	ALERTENGINE_NOTIFY,
	/* An ack: record it; upsert the row. */
	ALERTENGINE_ACK,
};

/* A snapshot of one instance at one action, owning its strings, so that
 * it can be carried out without the engine's lock. */
struct alertengine_action {
	enum alertengine_action_kind kind;
	int64_t ts_ms;
	char dedup_key[ALERTSTATE_DEDUP_KEY_LEN];
	char *rule, *scope_key, *probe; /* probe NULL for most */
	const char *scope, *severity;	/* static strings */
	enum alertstate_state from, to; /* to: the state now */
	int64_t active_since_ms, fired_at_ms, resolved_at_ms, last_true_ms;
	double value, firing_value, threshold;
	char *summary, *description;
	struct receiver_label *labels; /* owned strings */
	size_t nlabels;
	double comps[ALERTENGINE_NCOMPS];
	char *notified; /* receivers that hold a trigger, after this action */
	char *acked_by, *ack_comment;
	int64_t acked_ms;
	/* ALERTENGINE_NOTIFY */
	unsigned rx;
	bool resolve;
	char idem_key[128];
};

/* Move the actions produced so far to *ret (free with
 * alertengine_actions_free); returns how many. */
size_t alertengine_take(struct alertengine *e, struct alertengine_action **ret);
void alertengine_actions_free(struct alertengine_action *v, size_t n);
/* Free what one action owns (not the action itself). */
void alertengine_action_release(struct alertengine_action *a);

/* The receiver_alert of a NOTIFY action (pointing into it). components
 * must have room for ALERTENGINE_NCOMPS. */
void alertengine_action_alert(const struct alertengine_action *a,
			      const struct alertengine *e,
			      struct receiver_component *components,
			      struct receiver_alert *out);

/* The labels of an action as a JSON object. */
void alertengine_action_labels_json(const struct alertengine_action *a,
				    struct jsonw *w);

/* ---- the API ---- */

#define ALERTENGINE_LIST_PENDING  (1u << ALERTSTATE_PENDING)
#define ALERTENGINE_LIST_FIRING	  (1u << ALERTSTATE_FIRING)
#define ALERTENGINE_LIST_RESOLVED (1u << ALERTSTATE_RESOLVED)

/* Write the instances whose state is in mask as a JSON array of alert
 * objects (docs/api.md), firing first, then by rule and key. */
void alertengine_list_json(const struct alertengine *e, unsigned mask,
			   int64_t now_ms, struct jsonw *w);

/* Write the alert object of the instance id (full dedup_key). Returns 0
 * or -ENOENT. */
int alertengine_alert_json(const struct alertengine *e, const char *id,
			   int64_t now_ms, struct jsonw *w);

struct alertengine_stats {
	size_t pending, firing, resolved;
	uint64_t transitions[4]; /* by target state */
	uint64_t notifications;	 /* NOTIFY actions produced */
	uint64_t muted;		 /* triggers held back by silence/inhibition */
};
void alertengine_get_stats(const struct alertengine *e,
			   struct alertengine_stats *ret);

#endif
