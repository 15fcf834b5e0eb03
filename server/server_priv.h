/* What the server's own modules share: the server object, read by the HTTP
 * routes (routes.c) on libmicrohttpd's threads and written by the main loop
 * (server.c). Not a public contract: only server.c and routes.c include it.
 */
#ifndef ACGS_SERVER_PRIV_H
#define ACGS_SERVER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "breaker.h"
#include "hotstate.h"
#include "ingest.h"
#include "metrics.h"
#include "mqttconn.h"
#include "score.h"
#include "server_config.h"
#include "store.h"
#include "view.h"
#include "writer.h"

#define NS_PER_SEC 1000000000ull

/* One service as of the last rescoring. */
struct service_view {
	char name[SCORE_SERVICE_MAX + 1];
	double score, criticality;
	unsigned nodes, probes, failing_probes;
};

struct server {
	struct server_config *cfg;
	struct ingest *ingest;
	struct mqttconn *mqtt;
	struct writer *writer;
	struct hotstate *hot;  /* NULL without [redis] url */
	int64_t hot_sample_ms; /* [redis] sample_interval */
	struct score_policy policy;
	int sigfd;
	uint64_t watchdog_ns;
	uint64_t next_watchdog_ns;
	uint64_t next_stats_ns;

	/* The HTTP API runs on MHD's threads: everything they read from
	 * ingest and the views below is guarded by lock. */
	pthread_mutex_t lock;
	struct api *api;
	struct metrics *metrics;
	struct metric_series *m_received, *m_samples, *m_duplicates, *m_replays,
	    *m_gaps, *m_written, *m_spooled, *m_spool_depth, *m_fleet_score,
	    *m_nodes_online, *m_nodes_offline, *m_nodes_stale, *m_db_up,
	    *m_mqtt_up, *m_redis_up, *m_score_latency, *m_db_read_latency,
	    *m_redis_latency, *m_scores_written, *m_redis_pending,
	    *m_redis_written, *m_redis_dropped, *m_redis_merged, *m_rescore,
	    *m_rollup_rows, *m_partitions_dropped;
	struct metric *m_rejected, *m_breaker;
	/* Per node: up, score, cpu, mem, disk, compliance_failed (the order
	 * of node_view.m_node); per probe: runs, failures, p99, slo. */
	struct metric *m_node[6], *m_probe[4];

	/* Reads the API makes of PostgreSQL (tokens, history) go through
	 * their own connection: a libpq connection must not be shared between
	 * threads, and the writer's is busy with COPY. Guarded by db_lock,
	 * behind the breaker db_breaker. */
	pthread_mutex_t db_lock;
	struct store *db;
	struct breaker *db_breaker;
	/* Verified tokens: reused for TOKEN_FRESH_NS, and while PostgreSQL
	 * is unreachable for up to TOKEN_STALE_NS (stale-if-error), so the
	 * API keeps answering from memory during an outage. */
	struct token_entry {
		uint8_t sha256[32];
		enum api_role role;
		uint64_t checked_ns;
		char name[API_PRINCIPAL_MAX];
	} tokens[64];
	size_t ntokens;
	bool started;

	/* Recomputed once a second by the loop, read by the API. */
	double fleet_score;
	unsigned nodes_online, nodes_offline, nodes_stale;
	double compliance_ratio;
	unsigned compliance_nodes, compliance_failing;
	struct service_view *services; /* sorted by name */
	size_t nservices;
	uint64_t next_rescore_ns;
	struct rescore_ctx *pass; /* the pass under way, over several rounds */
	bool rescoring;
	bool fleet_scored; /* a pass has ended: the fleet values are real */

	/* Alerting (NULL without [alerts] rules_dir). The nodes changed since
	 * the alerter last evaluated, guarded by lock (server_alerts.c). */
	struct alerter *alerter;
	struct ingest_node **alert_dirty;
	size_t nalert_dirty, alert_dirty_cap;
	bool alert_dirty_all;
	struct metric *ma_alerts, *ma_transitions, *ma_n_pending, *ma_n_sent,
	    *ma_n_retried, *ma_n_failed, *ma_rx_breaker;
	struct metric_series *ma_eval_seconds, *ma_leader, *ma_rules,
	    *ma_eval_cpu, *ma_passes, *ma_queued, *ma_muted, *ma_backlog,
	    *ma_record_errors, *ma_dropped, *ma_oldest, *ma_enqueue_errors;
};

/* ---- server_alerts.c ---- */

/* Note that node n changed (a sample, a state): the alerter evaluates it
 * soon. Call with lock held. */
void server_alert_mark(struct server *s, struct ingest_node *n);

/* The alerter's evaluate callback (see alerter.h); takes lock. */
struct alertengine;
void server_alert_evaluate(void *ctx, struct alertengine *e, bool full,
			   int64_t now_ms);

/* The alert and notification series of /metrics. */
int server_alert_metrics_setup(struct server *s);
void server_alert_metrics_sync(struct server *s);

/* A node silent for more than 3 of its intervals. */
bool server_node_stale(const struct ingest_node *n, int64_t now_ms);

/* "online", "stale" or "offline". */
const char *server_node_state(const struct ingest_node *n, int64_t now_ms);

/* Advance the counter m to value (counters only go up; the sources keep
 * totals of their own). */
void server_mirror_counter(struct metric_series *m, uint64_t value);

/* Bring /metrics up to date with ingest's and the writer's counters. */
void server_metrics_sync(struct server *s);

/* Start the HTTP API with every route. Returns 0 or a negative errno with
 * err filled. */
int server_routes_start(struct server *s, char *err, size_t errlen);

#endif
