#include "config.h"

#include "server.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "api.h"
#include "ingest.h"
#include "metrics.h"
#include "log.h"
#include "mqttconn.h"
#include "notify.h"
#include "sigfd.h"
#include "score.h"
#include "writer.h"
#include "timeutil.h"

#define NS_PER_SEC     1000000000ull
#define STATS_EVERY_NS (60 * NS_PER_SEC)

struct server {
	struct server_config *cfg;
	struct ingest *ingest;
	struct mqttconn *mqtt;
	struct writer *writer;
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
	    *m_mqtt_up;
	struct metric *m_rejected;
	/* Token checks use their own connection: a libpq connection must not
	 * be shared between threads. */
	pthread_mutex_t auth_lock;
	struct store *auth_store;
	/* Verified tokens: reused for TOKEN_FRESH_NS, and while PostgreSQL
	 * is unreachable for up to TOKEN_STALE_NS (stale-if-error), so the
	 * API keeps answering from memory during an outage. */
	struct token_entry {
		uint8_t sha256[32];
		enum api_role role;
		uint64_t checked_ns;
	} tokens[64];
	size_t ntokens;
	bool started;

	/* Recomputed once a second by the loop, read by the API. */
	double fleet_score;
	unsigned nodes_online, nodes_offline, nodes_stale;
	double compliance_ratio;
	uint64_t next_rescore_ns;
};

/* The server's live view of one node (ingest_node.user). */
struct node_view {
	char *sample; /* the latest live sample, as received */
	size_t len;
	char *labels; /* from the birth, JSON */
	struct score_components comps;
	bool scored;
};

static void subscribe_all(void *ctx, struct mqttconn *c)
{
	struct server *s = ctx;
	const char *root = s->cfg->mqtt.topic_root;
	const char *grp = s->cfg->shared_group;
	char topics[5][WIRE_TOPIC_MAX + 64];
	char *subs[5];
	int n = 0;

	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/metrics", grp,
		 root);
	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/events", grp,
		 root);
	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/cmd/result",
		 grp, root);
	snprintf(topics[n++], sizeof(topics[0]), "%s/+/birth", root);
	snprintf(topics[n++], sizeof(topics[0]), "%s/+/state", root);
	for (int i = 0; i < n; i++)
		subs[i] = topics[i];
	int rc = mosquitto_subscribe_multiple(mqttconn_handle(c), NULL, n, subs,
					      1, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_err("mqtt", "subscribe failed: %s", mosquitto_strerror(rc));
		mqttconn_fail(c);
		return;
	}
	log_info("mqtt", "subscribed group=%s root=%s", grp, root);
}

static void node_view_free(void *p)
{
	struct node_view *v = p;
	if (!v)
		return;
	free(v->sample);
	free(v->labels);
	free(v);
}

static struct node_view *view_of(struct ingest_node *n)
{
	if (!n->user)
		n->user = calloc(1, sizeof(struct node_view));
	return n->user;
}

/* Score a node from a sample as of now_ms; false when the sample is not
 * usable. */
static bool score_from(struct server *s, const struct ingest_node *n,
		       const cJSON *sample, int64_t now_ms,
		       struct score_components *out)
{
	struct score_probe_input probes[64];
	struct score_node_input in;

	if (score_input_from_sample(sample, probes, 64, &in) < 0)
		return false;
	in.online = !n->seen_state || n->online;
	in.now_ms = now_ms;
	in.last_seen_ms = n->last_seen_ms;
	in.interval_s = n->interval_s;
	score_node(&s->policy, &in, out);
	return true;
}

/* The live score of a node from its newest sample; keeps the sample for
 * the API and the once-a-second rescoring. */
static double score_sample(struct server *s, struct ingest_node *n,
			   const cJSON *sample, const void *payload, size_t len,
			   int64_t now_ms)
{
	struct node_view *v = view_of(n);
	struct score_components out;

	if (!score_from(s, n, sample, now_ms, &out))
		return NAN;
	if (v) {
		char *copy = malloc(len + 1);
		if (copy) {
			memcpy(copy, payload, len);
			copy[len] = '\0';
			free(v->sample);
			v->sample = copy;
			v->len = len;
		}
		v->comps = out;
		v->scored = true;
	}
	return out.score;
}

static void on_birth(struct server *s, const struct ingest_result *res,
		     int64_t now)
{
	const char *ver = NULL, *hash = NULL;
	char *labels = cJSON_PrintUnformatted(
	    cJSON_GetObjectItemCaseSensitive(res->msg.json, "labels"));
	struct store_node node = {
		.node_id = res->node->id,
		.seen_ms = now,
		.boot_id = res->msg.boot_id,
		.labels_json = labels,
		.conn = -1,
		.score = NAN,
	};

	wire_get_string(res->msg.json, "version", &ver);
	wire_get_string(res->msg.json, "config_hash", &hash);
	node.version = ver;
	node.config_hash = hash;
	writer_node(s->writer, &node);
	struct node_view *v = view_of(res->node);
	if (v) {
		free(v->labels);
		v->labels = labels;
	} else {
		free(labels);
	}
}

static void on_state(struct server *s, const struct ingest_result *res,
		     int64_t now)
{
	struct store_node node = {
		.node_id = res->node->id,
		.seen_ms = now,
		.state = res->node->online ? "online" : "offline",
		.conn = (int64_t)res->node->conn,
		.score = NAN,
	};
	writer_node(s->writer, &node);
	log_info("ingest", "node %s %s conn=%llu", res->node->id, node.state,
		 (unsigned long long)res->node->conn);
}

static void on_message(void *ctx, const struct mosquitto_message *m)
{
	struct server *s = ctx;
	struct ingest_result res;
	size_t len = (size_t)(m->payloadlen > 0 ? m->payloadlen : 0);
	int64_t now = time_real_ms();
	double score;

	pthread_mutex_lock(&s->lock);
	enum ingest_verdict v =
	    ingest_handle(s->ingest, m->topic, m->payload, len, now, &res);

	switch (v) {
	case INGEST_REJECT:
		log_warn("ingest", "rejected topic=%s reason=%s detail=%s",
			 m->topic, ingest_reject_name(&res), res.detail);
		writer_reject(s->writer, now, m->topic, NULL,
			      ingest_reject_name(&res), res.detail, m->payload,
			      len);
		break;
	case INGEST_SAMPLE:
	case INGEST_REPLAY:
		/* A replay is history: stored, never scored as now. */
		score = v == INGEST_SAMPLE
			    ? score_sample(s, res.node, res.msg.json,
					   m->payload, len, now)
			    : NAN;
		if (writer_add_sample(s->writer, res.msg.json, m->payload, len,
				      now, score) < 0)
			log_warn("store", "sample not queued topic=%s",
				 m->topic);
		break;
	case INGEST_BIRTH:
		on_birth(s, &res, now);
		break;
	case INGEST_STATE:
		on_state(s, &res, now);
		break;
	default:
		log_debug("ingest", "%s topic=%s", ingest_verdict_name(v),
			  m->topic);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	ingest_result_release(&res);
}

static void log_stats(struct server *s)
{
	struct ingest_stats st;
	struct writer_stats ws;
	uint64_t rejected;

	ingest_get_stats(s->ingest, &st);
	writer_get_stats(s->writer, &ws);
	rejected = st.rejected_capacity + st.rejected_direction;
	for (int i = 0; i < _WIRE_REJECT_MAX; i++)
		rejected += st.rejected[i];
	log_info("ingest",
		 "stats nodes=%zu received=%llu samples=%llu replays=%llu "
		 "duplicates=%llu gaps=%llu rejected=%llu written=%llu "
		 "spooled=%llu replayed=%llu spool_depth=%llu db=%s",
		 st.nodes, (unsigned long long)st.received,
		 (unsigned long long)st.samples, (unsigned long long)st.replays,
		 (unsigned long long)st.duplicates, (unsigned long long)st.gaps,
		 (unsigned long long)rejected, (unsigned long long)ws.written,
		 (unsigned long long)ws.spooled,
		 (unsigned long long)ws.replayed,
		 (unsigned long long)ws.spool_depth, ws.db_ok ? "up" : "down");
}

/* ---- the live view, recomputed once a second ---- */

struct rescore_ctx {
	struct server *s;
	int64_t now_ms;
	const char *svc_names[SCORE_SERVICE_MAX];
	double svc_sum[SCORE_SERVICE_MAX];
	double svc_min[SCORE_SERVICE_MAX];
	double *svc_scores[SCORE_SERVICE_MAX];
	size_t svc_n[SCORE_SERVICE_MAX], svc_cap[SCORE_SERVICE_MAX];
	size_t nsvc;
	double compliance_sum;
	unsigned compliance_n;
};

static bool node_stale(const struct ingest_node *n, int64_t now_ms)
{
	double interval = n->interval_s > 0 ? n->interval_s : 10;
	return (double)(now_ms - n->last_seen_ms) > 3000.0 * interval;
}

/* Service membership: the services of the node's probes, or "unassigned". */
static void add_to_services(struct rescore_ctx *x, const cJSON *sample,
			    double score)
{
	const char *names[16];
	size_t n = 0;
	const cJSON *p;

	cJSON_ArrayForEach(p,
			   cJSON_GetObjectItemCaseSensitive(sample, "probes"))
	{
		const cJSON *svc =
		    cJSON_GetObjectItemCaseSensitive(p, "service");
		if (cJSON_IsString(svc) && n < 16)
			names[n++] = svc->valuestring;
	}
	if (n == 0)
		names[n++] = "unassigned";
	for (size_t i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < x->nsvc; k++)
			if (strcmp(x->svc_names[k], names[i]) == 0)
				break;
		if (k == x->nsvc) {
			if (x->nsvc == SCORE_SERVICE_MAX)
				continue;
			x->svc_names[x->nsvc++] = names[i];
		}
		if (x->svc_n[k] == x->svc_cap[k]) {
			size_t cap = x->svc_cap[k] ? x->svc_cap[k] * 2 : 64;
			double *g =
			    realloc(x->svc_scores[k], cap * sizeof(double));
			if (!g)
				continue;
			x->svc_scores[k] = g;
			x->svc_cap[k] = cap;
		}
		x->svc_scores[k][x->svc_n[k]++] = score;
	}
}

static void rescore_node(void *ctx, struct ingest_node *n)
{
	struct rescore_ctx *x = ctx;
	struct node_view *v = n->user;
	bool offline = n->seen_state && !n->online;
	cJSON *j;

	if (offline)
		x->s->nodes_offline++;
	else if (node_stale(n, x->now_ms))
		x->s->nodes_stale++;
	else
		x->s->nodes_online++;
	if (!v || !v->sample)
		return;
	j = cJSON_ParseWithLength(v->sample, v->len);
	if (!j)
		return;
	/* Liveness moves with time even when nothing arrives. */
	if (score_from(x->s, n, j, x->now_ms, &v->comps))
		v->scored = true;
	add_to_services(x, j, v->comps.score);
	double ratio;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "compliance");
	if (c && wire_get_double(c, "ratio", &ratio) == 0) {
		x->compliance_sum += ratio;
		x->compliance_n++;
	}
	cJSON_Delete(j);
}

static void rescore(struct server *s)
{
	struct rescore_ctx x = { .s = s, .now_ms = time_real_ms() };
	double svc[SCORE_SERVICE_MAX];

	pthread_mutex_lock(&s->lock);
	s->nodes_online = s->nodes_offline = s->nodes_stale = 0;
	ingest_foreach(s->ingest, rescore_node, &x);
	for (size_t k = 0; k < x.nsvc; k++)
		svc[k] = score_service(&s->policy, x.svc_scores[k], x.svc_n[k]);
	s->fleet_score = score_fleet(&s->policy, x.svc_names, svc, x.nsvc);
	s->compliance_ratio =
	    x.compliance_n ? x.compliance_sum / x.compliance_n : 1.0;
	metric_gauge_set(s->m_fleet_score, s->fleet_score);
	metric_gauge_set(s->m_nodes_online, s->nodes_online);
	metric_gauge_set(s->m_nodes_offline, s->nodes_offline);
	metric_gauge_set(s->m_nodes_stale, s->nodes_stale);
	pthread_mutex_unlock(&s->lock);
	for (size_t k = 0; k < x.nsvc; k++)
		free(x.svc_scores[k]);
}

/* ---- metrics ---- */

static struct metric_series *gauge(struct server *s, const char *name,
				   const char *help, enum metric_type type)
{
	struct metric *m;
	if (metrics_register(s->metrics, name, help, type, NULL, 0, NULL, 0,
			     &m) < 0)
		return NULL;
	return metric_series(m, NULL);
}

static int metrics_setup(struct server *s)
{
	static const char *const reason[] = { "reason" };

	s->metrics = metrics_new();
	if (!s->metrics)
		return -ENOMEM;
	s->m_received = gauge(s, "acgs_ingest_messages_total",
			      "MQTT messages received", METRIC_COUNTER);
	s->m_samples = gauge(s, "acgs_ingest_samples_total",
			     "samples accepted as live", METRIC_COUNTER);
	s->m_duplicates =
	    gauge(s, "acgs_ingest_duplicates_total",
		  "samples dropped as seen before", METRIC_COUNTER);
	s->m_replays =
	    gauge(s, "acgs_ingest_replays_total",
		  "older samples stored without moving the live state",
		  METRIC_COUNTER);
	s->m_gaps = gauge(s, "acgs_ingest_seq_gaps", "seqs not (yet) received",
			  METRIC_GAUGE);
	s->m_written =
	    gauge(s, "acgs_store_samples_written_total",
		  "sample rows written to PostgreSQL", METRIC_COUNTER);
	s->m_spooled =
	    gauge(s, "acgs_store_samples_spooled_total",
		  "samples spooled to disk while PostgreSQL was down",
		  METRIC_COUNTER);
	s->m_spool_depth =
	    gauge(s, "acgs_store_spool_depth",
		  "samples waiting in the disk spool", METRIC_GAUGE);
	s->m_db_up = gauge(s, "acgs_dependency_up_postgres",
			   "1 when PostgreSQL answers", METRIC_GAUGE);
	s->m_mqtt_up = gauge(s, "acgs_dependency_up_mqtt",
			     "1 when connected to the broker", METRIC_GAUGE);
	s->m_fleet_score = gauge(s, "acgs_fleet_score",
				 "fleet health score 0..1", METRIC_GAUGE);
	s->m_nodes_online =
	    gauge(s, "acgs_nodes_online", "nodes online", METRIC_GAUGE);
	s->m_nodes_offline =
	    gauge(s, "acgs_nodes_offline", "nodes whose offline state arrived",
		  METRIC_GAUGE);
	s->m_nodes_stale =
	    gauge(s, "acgs_nodes_stale",
		  "nodes silent for more than 3 intervals", METRIC_GAUGE);
	return metrics_register(s->metrics, "acgs_ingest_rejected_total",
				"messages rejected, by reason", METRIC_COUNTER,
				reason, 1, NULL, 0, &s->m_rejected);
}

/* A Prometheus counter only goes up: advance it to the source's value. */
static void mirror_counter(struct metric_series *m, uint64_t value)
{
	double cur = metric_value(m);
	if (m && (double)value > cur)
		metric_add(m, value - (uint64_t)cur);
}

/* Counters are kept by ingest and the writer; mirror them for /metrics. */
static void metrics_sync(struct server *s)
{
	struct ingest_stats st;
	struct writer_stats ws;

	pthread_mutex_lock(&s->lock);
	ingest_get_stats(s->ingest, &st);
	pthread_mutex_unlock(&s->lock);
	writer_get_stats(s->writer, &ws);
	mirror_counter(s->m_received, st.received);
	mirror_counter(s->m_samples, st.samples);
	mirror_counter(s->m_duplicates, st.duplicates);
	mirror_counter(s->m_replays, st.replays);
	metric_gauge_set(s->m_gaps, (double)st.gaps);
	mirror_counter(s->m_written, ws.written);
	mirror_counter(s->m_spooled, ws.spooled);
	metric_gauge_set(s->m_spool_depth, (double)ws.spool_depth);
	metric_gauge_set(s->m_db_up, ws.db_ok);
	metric_gauge_set(s->m_mqtt_up, mqttconn_connected(s->mqtt));
	for (int i = 1; i < _WIRE_REJECT_MAX; i++) {
		const char *v[] = { wire_reject_name((enum wire_reject)i) };
		mirror_counter(metric_series(s->m_rejected, v), st.rejected[i]);
	}
	const char *cap[] = { "capacity" }, *dir[] = { "direction" };
	mirror_counter(metric_series(s->m_rejected, cap), st.rejected_capacity);
	mirror_counter(metric_series(s->m_rejected, dir),
		       st.rejected_direction);
}

/* ---- HTTP routes ---- */

#define TOKEN_FRESH_NS (60 * NS_PER_SEC)
#define TOKEN_STALE_NS (3600 * NS_PER_SEC)

static struct token_entry *token_cached(struct server *s,
					const uint8_t sha256[32])
{
	for (size_t i = 0; i < s->ntokens; i++)
		if (sodium_memcmp(s->tokens[i].sha256, sha256, 32) == 0)
			return &s->tokens[i];
	return NULL;
}

static void token_remember(struct server *s, const uint8_t sha256[32],
			   enum api_role role, uint64_t now)
{
	struct token_entry *e = token_cached(s, sha256);
	if (!e) {
		if (s->ntokens < ARRAY_SIZE(s->tokens)) {
			e = &s->tokens[s->ntokens++];
		} else {
			/* Full: replace the one checked longest ago. */
			e = &s->tokens[0];
			for (size_t i = 1; i < s->ntokens; i++)
				if (s->tokens[i].checked_ns < e->checked_ns)
					e = &s->tokens[i];
		}
		memcpy(e->sha256, sha256, 32);
	}
	e->role = role;
	e->checked_ns = now;
}

static enum api_role auth_token(void *ctx, const uint8_t sha256[32])
{
	struct server *s = ctx;
	char role[16];
	enum api_role r = API_ROLE_NONE;
	uint64_t now = time_mono_ns();
	struct token_entry *e;
	int rc = -ENOTCONN;

	pthread_mutex_lock(&s->auth_lock);
	e = token_cached(s, sha256);
	if (e && now - e->checked_ns < TOKEN_FRESH_NS) {
		r = e->role;
		goto out;
	}
	if (!s->auth_store || !store_connected(s->auth_store)) {
		char err[256];
		if (s->auth_store)
			store_reconnect(s->auth_store);
		else
			store_open(s->cfg->conninfo, &s->auth_store, err,
				   sizeof(err));
	}
	if (s->auth_store)
		rc = store_token_lookup(s->auth_store, sha256, role,
					sizeof(role), NULL);
	if (rc == 0) {
		if (strcmp(role, "admin") == 0)
			r = API_ROLE_ADMIN;
		else if (strcmp(role, "operator") == 0)
			r = API_ROLE_OPERATOR;
		else if (strcmp(role, "viewer") == 0)
			r = API_ROLE_VIEWER;
		token_remember(s, sha256, r, now);
	} else if (rc == -ENOENT || rc == -EKEYREVOKED) {
		if (e)
			e->role = API_ROLE_NONE; /* revoked: forget at once */
	} else if (e && now - e->checked_ns < TOKEN_STALE_NS) {
		/* The database cannot answer: trust what it said recently. */
		r = e->role;
	}
out:
	pthread_mutex_unlock(&s->auth_lock);
	return r;
}

static int h_live(void *ctx, const struct api_request *req,
		  struct api_response *res)
{
	struct jsonw *w = api_res_json(res);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "status", "ok");
	jsonw_kv_str(w, "constitutional_hash", ACGS_CONSTITUTIONAL_HASH);
	jsonw_obj_end(w);
	return 0;
}

static void dep(struct jsonw *w, const char *name, const char *state)
{
	jsonw_key(w, name);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "state", state);
	jsonw_obj_end(w);
}

/* Ready while the broker is reachable: without it nothing comes in.
 * PostgreSQL or Redis down is "degraded": samples are spooled, the API
 * answers from memory. */
static int h_ready(void *ctx, const struct api_request *req,
		   struct api_response *res)
{
	struct server *s = ctx;
	struct writer_stats ws;
	bool mqtt = mqttconn_connected(s->mqtt);

	writer_get_stats(s->writer, &ws);
	struct jsonw *w = api_res_json(res);
	if (!mqtt)
		api_res_status(res, 503);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "status",
		     !mqtt			       ? "unavailable"
		     : !ws.db_ok || !s->cfg->redis_url ? "degraded"
						       : "ok");
	jsonw_key(w, "dependencies");
	jsonw_obj_begin(w);
	dep(w, "mqtt", mqtt ? "up" : "down");
	dep(w, "postgres", ws.db_ok ? "up" : "down (spooling to disk)");
	dep(w, "redis", s->cfg->redis_url ? "not connected" : "not configured");
	jsonw_obj_end(w);
	jsonw_kv_u64(w, "spool_depth", ws.spool_depth);
	jsonw_obj_end(w);
	return 0;
}

static int h_startup(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	struct server *s = ctx;
	struct jsonw *w = api_res_json(res);
	if (!s->started)
		api_res_status(res, 503);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "status", s->started ? "started" : "starting");
	jsonw_obj_end(w);
	return 0;
}

static int h_metrics(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	struct server *s = ctx;
	struct buf b;

	metrics_sync(s);
	buf_init(&b, 16 << 20);
	if (metrics_render(s->metrics, &b) < 0) {
		buf_release(&b);
		return api_error(res, 500, "internal", "cannot render metrics");
	}
	api_res_text(res, "text/plain; version=0.0.4", b.data, b.len);
	buf_release(&b);
	return 0;
}

static void write_components(struct jsonw *w, const struct node_view *v)
{
	jsonw_key(w, "components");
	jsonw_obj_begin(w);
	jsonw_kv_double(w, "liveness", v->comps.liveness);
	jsonw_kv_double(w, "resources", v->comps.resources);
	jsonw_kv_double(w, "probes", v->comps.probes);
	jsonw_kv_double(w, "compliance", v->comps.compliance);
	jsonw_obj_end(w);
	jsonw_kv_bool(w, "capped", v->comps.capped);
	if (v->comps.capped)
		jsonw_kv_str(w, "cap_reason", v->comps.cap_reason);
}

static const char *state_of(const struct ingest_node *n, int64_t now_ms)
{
	if (n->seen_state && !n->online)
		return "offline";
	return node_stale(n, now_ms) ? "stale" : "online";
}

static void write_node(struct jsonw *w, const struct ingest_node *n,
		       int64_t now_ms, bool with_sample)
{
	const struct node_view *v = n->user;
	char ts[RFC3339_LEN];

	jsonw_obj_begin(w);
	jsonw_kv_str(w, "id", n->id);
	jsonw_kv_str(w, "state", state_of(n, now_ms));
	jsonw_kv_u64(w, "conn", n->conn);
	time_format_rfc3339_ms(n->last_seen_ms, ts);
	jsonw_kv_str(w, "last_seen", ts);
	jsonw_kv_str(w, "boot_id", n->boot_id);
	jsonw_kv_u64(w, "seq", n->max_seq);
	jsonw_kv_double(w, "interval", n->interval_s);
	if (v && v->scored) {
		jsonw_kv_double(w, "score", v->comps.score);
		write_components(w, v);
	} else {
		jsonw_key(w, "score");
		jsonw_null(w);
	}
	if (v && v->labels) {
		/* Labels came validated from the birth; re-encode to be sure
		 * nothing but JSON reaches the response. */
		cJSON *l = cJSON_Parse(v->labels);
		const cJSON *it;
		jsonw_key(w, "labels");
		jsonw_obj_begin(w);
		cJSON_ArrayForEach(it, l)
		{
			if (cJSON_IsString(it))
				jsonw_kv_str(w, it->string, it->valuestring);
		}
		jsonw_obj_end(w);
		cJSON_Delete(l);
	}
	if (with_sample && v && v->sample) {
		/* The sample is a validated JSON object: splice it verbatim. */
		jsonw_key(w, "latest_sample");
		jsonw_raw(w, v->sample, v->len);
	}
	jsonw_obj_end(w);
}

static int h_fleet(void *ctx, const struct api_request *req,
		   struct api_response *res)
{
	struct server *s = ctx;
	struct jsonw *w = api_res_json(res);

	pthread_mutex_lock(&s->lock);
	jsonw_obj_begin(w);
	jsonw_kv_double(w, "score", s->fleet_score);
	jsonw_key(w, "nodes");
	jsonw_obj_begin(w);
	jsonw_kv_u64(w, "online", s->nodes_online);
	jsonw_kv_u64(w, "stale", s->nodes_stale);
	jsonw_kv_u64(w, "offline", s->nodes_offline);
	jsonw_kv_u64(w, "total",
		     (uint64_t)s->nodes_online + s->nodes_stale +
			 s->nodes_offline);
	jsonw_obj_end(w);
	jsonw_kv_double(w, "compliance_ratio", s->compliance_ratio);
	jsonw_kv_str(w, "constitutional_hash", ACGS_CONSTITUTIONAL_HASH);
	jsonw_obj_end(w);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct list_ctx {
	struct jsonw *w;
	int64_t now_ms;
	const char *state;
	double below;
	const char *label_key, *label_value;
	size_t skip, limit, total, written;
};

static bool has_label(const struct node_view *v, const char *k, const char *val)
{
	bool yes = false;
	if (!v || !v->labels)
		return false;
	cJSON *l = cJSON_Parse(v->labels);
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(l, k);
	yes = cJSON_IsString(it) && strcmp(it->valuestring, val) == 0;
	cJSON_Delete(l);
	return yes;
}

static void list_node(void *ctx, struct ingest_node *n)
{
	struct list_ctx *x = ctx;
	const struct node_view *v = n->user;

	if (x->state && strcmp(state_of(n, x->now_ms), x->state) != 0)
		return;
	if (!isnan(x->below) &&
	    (!v || !v->scored || v->comps.score >= x->below))
		return;
	if (x->label_key && !has_label(v, x->label_key, x->label_value))
		return;
	x->total++;
	if (x->total <= x->skip || x->written >= x->limit)
		return;
	write_node(x->w, n, x->now_ms, false);
	x->written++;
}

static int h_nodes(void *ctx, const struct api_request *req,
		   struct api_response *res)
{
	struct server *s = ctx;
	struct list_ctx x = { .now_ms = time_real_ms(),
			      .below = NAN,
			      .limit = 100 };
	const char *q;
	char key[65];
	uint64_t u;

	if ((q = api_req_query(req, "state"))) {
		if (strcmp(q, "online") && strcmp(q, "stale") &&
		    strcmp(q, "offline"))
			return api_error(
			    res, 400, "bad_request",
			    "state must be online, stale or offline");
		x.state = q;
	}
	if ((q = api_req_query(req, "below")) &&
	    conf_parse_double(q, 0, 1, &x.below) < 0)
		return api_error(res, 400, "bad_request",
				 "below must be a number from 0 to 1");
	if ((q = api_req_query(req, "label"))) {
		const char *eq = strchr(q, '=');
		if (!eq || eq == q || (size_t)(eq - q) >= sizeof(key))
			return api_error(res, 400, "bad_request",
					 "label must be key=value");
		memcpy(key, q, (size_t)(eq - q));
		key[eq - q] = '\0';
		x.label_key = key;
		x.label_value = eq + 1;
	}
	if ((q = api_req_query(req, "limit"))) {
		if (conf_parse_u64(q, 1, 1000, &u) < 0)
			return api_error(res, 400, "bad_request",
					 "limit must be 1 to 1000");
		x.limit = u;
	}
	if ((q = api_req_query(req, "offset"))) {
		if (conf_parse_u64(q, 0, 100000000, &u) < 0)
			return api_error(res, 400, "bad_request",
					 "offset must be a whole number");
		x.skip = u;
	}
	x.w = api_res_json(res);
	pthread_mutex_lock(&s->lock);
	jsonw_obj_begin(x.w);
	jsonw_key(x.w, "nodes");
	jsonw_arr_begin(x.w);
	ingest_foreach(s->ingest, list_node, &x);
	jsonw_arr_end(x.w);
	jsonw_kv_u64(x.w, "total", x.total);
	jsonw_kv_u64(x.w, "offset", x.skip);
	jsonw_kv_u64(x.w, "limit", x.limit);
	jsonw_obj_end(x.w);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int h_node(void *ctx, const struct api_request *req,
		  struct api_response *res)
{
	struct server *s = ctx;
	const char *id = api_req_param(req, "id");

	if (!id || !wire_node_valid(id))
		return api_error(res, 400, "bad_request", "invalid node id");
	pthread_mutex_lock(&s->lock);
	struct ingest_node *n = ingest_find(s->ingest, id);
	if (!n) {
		pthread_mutex_unlock(&s->lock);
		return api_error(res, 404, "not_found", "no node %s", id);
	}
	write_node(api_res_json(res), n, time_real_ms(), true);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int api_setup(struct server *s, char *err, size_t errlen)
{
	const struct api_route routes[] = {
		{ "GET", "/health/live", API_ROLE_NONE, h_live, s },
		{ "GET", "/health/ready", API_ROLE_NONE, h_ready, s },
		{ "GET", "/health/startup", API_ROLE_NONE, h_startup, s },
		{ "GET", "/metrics", API_ROLE_NONE, h_metrics, s },
		{ "GET", "/api/v1/fleet", API_ROLE_VIEWER, h_fleet, s },
		{ "GET", "/api/v1/nodes", API_ROLE_VIEWER, h_nodes, s },
		{ "GET", "/api/v1/nodes/{id}", API_ROLE_VIEWER, h_node, s },
	};
	struct api_options o = {
		.host = s->cfg->listen_host,
		.port = s->cfg->listen_port,
		.anonymous_viewer = s->cfg->anonymous_viewer,
		.rate_per_s = s->cfg->api_rate_limit,
		.rate_burst = s->cfg->api_rate_burst,
		.auth = auth_token,
		.auth_ctx = s,
		.metrics = s->metrics,
	};
	return api_start(&o, routes, ARRAY_SIZE(routes), &s->api, err, errlen);
}

int server_new(struct server_config *cfg, struct server **ret, char *err,
	       size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		server_config_free(cfg);
		return -ENOMEM;
	}
	s->cfg = cfg;
	s->sigfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->auth_lock, NULL);
	score_policy_default(&s->policy);
	if (cfg->policy) {
		r = score_policy_load(cfg->policy, &s->policy, err, errlen);
		if (r < 0)
			goto out;
	}
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "state_dir %s: %s", cfg->state_dir,
			 strerror(errno));
		goto out;
	}
	char spool_dir[4096];
	snprintf(spool_dir, sizeof(spool_dir), "%s/spool", cfg->state_dir);
	struct writer_options wo = {
		.conninfo = cfg->conninfo,
		.spool_dir = spool_dir,
		.spool_max_bytes = 1ull << 30,
		.batch_max = cfg->batch_max,
		.flush_interval = cfg->flush_interval,
	};
	r = writer_new(&wo, &s->writer, err, errlen);
	if (r < 0)
		goto out;
	r = ingest_new(cfg->mqtt.topic_root, cfg->constitutional_hash, 0,
		       &s->ingest);
	if (r < 0) {
		snprintf(err, errlen, "ingest: %s", strerror(-r));
		goto out;
	}
	struct mqttconn_options mo = {
		.conf = &cfg->mqtt,
		/* A persistent session: the broker keeps our subscriptions
		 * and queues messages while we restart. MQTT 3.1.1, because
		 * libmosquitto has no non-blocking MQTT 5 connect that could
		 * carry the session-expiry property; mosquitto serves
		 * $share/ subscriptions to 3.1.1 clients too. */
		.clean_session = false,
		.protocol = MQTT_PROTOCOL_V311,
		.reconnect_min = 1,
		.reconnect_max = 30,
		.log_module = "mqtt",
	};
	struct mqttconn_callbacks cb = { .connected = subscribe_all,
					 .message = on_message };
	r = mqttconn_new(&mo, &cb, s, &s->mqtt);
	if (r < 0) {
		snprintf(err, errlen, "mqtt: %s", strerror(-r));
		goto out;
	}
	ingest_set_user_free(s->ingest, node_view_free);
	r = metrics_setup(s);
	if (r < 0) {
		snprintf(err, errlen, "metrics: %s", strerror(-r));
		goto out;
	}
	r = api_setup(s, err, errlen);
out:
	if (r < 0) {
		server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	/* The API first: its threads read everything below. */
	s->api = api_stop(s->api);
	s->mqtt = mqttconn_free(s->mqtt);
	s->ingest = ingest_free(s->ingest);
	s->writer = writer_free(s->writer);
	score_policy_release(&s->policy);
	s->metrics = metrics_free(s->metrics);
	s->auth_store = store_free(s->auth_store);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->auth_lock);
	server_config_free(s->cfg);
	if (s->sigfd >= 0)
		close(s->sigfd);
	free(s);
	return NULL;
}

int server_run(struct server *s)
{
	short revents = 0;
	bool stop = false, ready = false;
	uint64_t usec;

	s->sigfd = sigfd_open();
	if (s->sigfd < 0)
		return s->sigfd;
	usec = notify_watchdog_usec();
	s->watchdog_ns = usec * 1000 / 2;
	log_info("server", "started version=%s replica=%s broker=%s:%u",
		 PACKAGE_VERSION, s->cfg->replica_id, s->cfg->mqtt.host,
		 s->cfg->mqtt.port);
	s->next_stats_ns = time_mono_ns() + STATS_EVERY_NS;

	while (!stop) {
		uint64_t now = time_mono_ns();
		uint64_t deadline = mqttconn_run(s->mqtt, revents, now);
		uint64_t wd = writer_run(s->writer, time_mono_ns());
		if (wd < deadline)
			deadline = wd;
		revents = 0;
		if (!ready) {
			notify_send("READY=1\nSTATUS=running");
			ready = true;
		}
		if (s->watchdog_ns && now >= s->next_watchdog_ns) {
			notify_send("WATCHDOG=1");
			s->next_watchdog_ns = now + s->watchdog_ns;
		}
		if (now >= s->next_rescore_ns) {
			rescore(s);
			s->next_rescore_ns = now + NS_PER_SEC;
		}
		s->started = true;
		if (now >= s->next_stats_ns) {
			log_stats(s);
			s->next_stats_ns = now + STATS_EVERY_NS;
		}
		if (s->watchdog_ns && s->next_watchdog_ns < deadline)
			deadline = s->next_watchdog_ns;
		now = time_mono_ns();
		int timeout = deadline > now
				  ? (int)((deadline - now + 999999) / 1000000)
				  : 0;
		struct pollfd pfd[2] = {
			{ .fd = s->sigfd, .events = POLLIN },
			{ .fd = mqttconn_fd(s->mqtt),
			  .events = mqttconn_events(s->mqtt) },
		};
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && pfd[1].fd >= 0)
			revents = pfd[1].revents;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_stats(s);
				} else {
					log_info("server",
						 "signal %s: shutting down",
						 strsignal((int)si.ssi_signo));
					stop = true;
				}
			}
		}
	}
	notify_send("STOPPING=1");
	/* Stop taking requests and finish those in flight first. */
	s->api = api_stop(s->api);
	/* A clean DISCONNECT keeps the persistent session for the restart. */
	mqttconn_disconnect(s->mqtt);
	writer_flush(s->writer);
	log_stats(s);
	log_info("server", "stopped");
	return 0;
}
