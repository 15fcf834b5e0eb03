/* The alerter: acgs-server's alerting, on a thread of its own
 * (docs/alerts.md).
 *
 * While this replica holds the "alerts" leader lease (server/lease.h) the
 * alerter evaluates the rules over the live view (every eval_interval, at
 * the moment a pending alert is due, and for each node as its samples and
 * state messages arrive), records every transition, ack and instance state
 * in PostgreSQL, and writes each notification to the outbox
 * (server/outbox.h) before it counts as sent. When it takes the lease over
 * it first restores the saved instances, so a firing alert is neither
 * triggered again nor left without its resolve.
 *
 * The live view belongs to the server: the alerter asks for it through the
 * evaluate callback, on its own thread, holding the engine's lock (lock
 * order: engine, then the server's). The HTTP API's threads call the
 * alerter_* functions below; they take the engine's lock only. */
#ifndef ACGS_ALERTER_H
#define ACGS_ALERTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertengine.h"
#include "alertroute.h"
#include "jsonw.h"
#include "metrics.h"
#include "outbox.h"
#include "receiver.h"

struct alerter;

struct alerter_options {
	const char *conninfo;  /* required */
	const char *redis_url; /* NULL or "": the lease is a PostgreSQL lock */
	const char *replica;   /* this replica's id, required */
	const char *rules_dir; /* required */
	double eval_interval;  /* seconds between full passes; 0 = 1 */
	double lease_ttl;      /* seconds; 0 = 10 */
	/* Borrowed; both must outlive the alerter. */
	const struct receiver_set *receivers;
	const struct alertroute_set *routes;
	const char *api_base, *grafana_base; /* links; may be NULL */
	/* Called on the alerter's thread with the engine (its lock held):
	 * full: alertengine_begin_pass, every node, service and the fleet,
	 * alertengine_end_pass; otherwise the nodes that changed since the
	 * last call (alertengine_node). */
	void (*evaluate)(void *ctx, struct alertengine *e, bool full,
			 int64_t now_ms);
	void *ctx;
	/* A histogram each full pass's wall time is observed into; may be
	 * NULL. */
	struct metric_series *pass_seconds;
	/* Outbox retry tuning (0: the outbox's defaults). */
	double backoff_initial, backoff_cap;
};

/* Load the rules and set everything up (no thread, no connection yet).
 * Returns 0 and *ret, or a negative errno with err set (a bad rule file is
 * named with file:line). */
int alerter_new(const struct alerter_options *opt, struct alerter **ret,
		char *err, size_t errlen);

/* Start the alerter's thread and the outbox's sender. Returns 0 or a
 * negative errno. */
int alerter_start(struct alerter *a);

/* Stop (giving the lease up so another replica takes over at once), and
 * free. NULL is a no-op; returns NULL. */
struct alerter *alerter_free(struct alerter *a);

/* Something changed (a sample, a node's state): evaluate the changed nodes
 * soon. Cheap; callable from any thread and with any lock held. */
void alerter_kick(struct alerter *a);

/* Load the rules from dir and swap them in; on error keep the old ones and
 * fill err. Returns 0 or a negative errno. */
int alerter_reload_rules(struct alerter *a, const char *dir, char *err,
			 size_t errlen);

/* The silences changed in the database: load them again now. */
void alerter_silences_changed(struct alerter *a);

/* Write "leader", "leader_id", "evaluated_at" and "alerts" (the instances
 * in mask, ALERTENGINE_LIST_*) as members of the open JSON object w. */
void alerter_list_json(struct alerter *a, unsigned mask, struct jsonw *w);

/* Ack an alert (see alertengine_ack) and write its object to w. Returns 0,
 * -ENOENT, -ENOTUNIQ, -EBUSY, -EINVAL, or -EAGAIN when this replica does
 * not lead (the leader holds the alerts). */
int alerter_ack(struct alerter *a, const char *id, const char *who,
		const char *comment, struct jsonw *w);

struct alerter_stats {
	bool leader;
	struct alertengine_stats engine;
	size_t rules;
	uint64_t passes;	  /* full evaluation passes */
	double pass_seconds;	  /* wall time of the last full pass */
	double eval_cpu_seconds;  /* CPU time of the alerter's thread */
	uint64_t actions_backlog; /* actions not yet carried out */
	uint64_t db_errors;	  /* failed recordings (retried) */
	uint64_t dropped;	  /* actions dropped over the backlog cap */
	struct outbox_stats outbox;
};

/* A snapshot of the counters (any thread). */
void alerter_get_stats(struct alerter *a, struct alerter_stats *ret);

#endif
