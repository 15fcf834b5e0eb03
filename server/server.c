#include "config.h"

#include "server.h"
#include "server_priv.h"

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
#include "alerter.h"
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

#define STATS_EVERY_NS (60 * NS_PER_SEC)

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

static struct node_view *view_of(struct ingest_node *n)
{
	if (!n->user)
		n->user = view_new();
	return n->user;
}

/* Score a node's view as of now_ms; false before its first sample. */
static bool score_view(struct server *s, const struct ingest_node *n,
		       struct node_view *v, int64_t now_ms)
{
	if (!v || !v->has_input)
		return false;
	v->in.online = !n->seen_state || n->online;
	v->in.now_ms = now_ms;
	v->in.last_seen_ms = n->last_seen_ms;
	v->in.interval_s = n->interval_s;
	score_node(&s->policy, &v->in, &v->comps);
	v->scored = true;
	return true;
}

/* acgs_probe_* for the node's probes in its newest sample: runs and
 * failures are counted, latency and objective set. */
static void probe_series(struct server *s, const struct ingest_node *n,
			 struct node_view *v)
{
	if (v->nm_probe < v->in.nprobes) {
		struct view_probe_series *g =
		    realloc(v->m_probe, v->in.nprobes * sizeof(*g));
		if (!g)
			return;
		memset(g + v->nm_probe, 0,
		       (v->in.nprobes - v->nm_probe) * sizeof(*g));
		v->m_probe = g;
		v->nm_probe = v->in.nprobes;
	}
	for (size_t i = 0; i < v->in.nprobes; i++) {
		const struct score_probe_input *p = &v->probes[i];
		struct view_probe_series *ps = &v->m_probe[i];
		if (!p->name || strlen(p->name) >= sizeof(ps->name))
			continue;
		if (strcmp(ps->name, p->name) != 0) {
			const char *lv[] = { n->id, p->name };
			snprintf(ps->name, sizeof(ps->name), "%s", p->name);
			ps->runs = metric_series(s->m_probe[0], lv);
			ps->failures = metric_series(s->m_probe[1], lv);
			ps->p99 = metric_series(s->m_probe[2], lv);
			ps->slo = isfinite(p->slo_ms)
				      ? metric_series(s->m_probe[3], lv)
				      : NULL;
		}
		metric_add(ps->runs, p->runs);
		metric_add(ps->failures,
			   p->failures > p->runs ? p->runs : p->failures);
		metric_gauge_set(ps->p99, p->p99_ms / 1000.0);
		if (isfinite(p->slo_ms)) {
			if (!ps->slo) {
				const char *lv[] = { n->id, p->name };
				ps->slo = metric_series(s->m_probe[3], lv);
			}
			metric_gauge_set(ps->slo, p->slo_ms / 1000.0);
		}
	}
}

/* acgs_node_* of one node, at each rescoring. Absent values are NaN, so
 * that no rule fires on them. */
static void node_series(struct server *s, const struct ingest_node *n,
			struct node_view *v, const char *state)
{
	if (!v->m_node_set) {
		const char *lv[] = { n->id };
		for (size_t i = 0; i < 6; i++)
			v->m_node[i] = metric_series(s->m_node[i], lv);
		v->m_node_set = true;
	}
	bool have = v->has_input;
	metric_gauge_set(v->m_node[0], strcmp(state, "online") == 0);
	metric_gauge_set(v->m_node[1], v->scored ? v->comps.score : NAN);
	metric_gauge_set(v->m_node[2], have ? v->in.cpu_usage : NAN);
	metric_gauge_set(v->m_node[3], have ? v->in.mem_used_ratio : NAN);
	metric_gauge_set(v->m_node[4], have ? v->in.disk_used_ratio_max : NAN);
	metric_gauge_set(v->m_node[5], have && v->in.has_compliance
					   ? (double)v->in.compliance_failed
					   : NAN);
}

/* The live score of a node from its newest sample; the view keeps what the
 * API and the once-a-second rescoring need of it. */
static double score_sample(struct server *s, struct ingest_node *n,
			   const cJSON *sample, const void *payload, size_t len,
			   int64_t now_ms)
{
	struct node_view *v = view_of(n);

	if (!v || view_set_sample(v, sample, payload, len) < 0)
		return NAN;
	v->hot_dirty = true;
	probe_series(s, n, v);
	server_alert_mark(s, n);
	return score_view(s, n, v, now_ms) ? v->comps.score : NAN;
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
	if (v)
		view_set_labels(v, cJSON_GetObjectItemCaseSensitive(
				       res->msg.json, "labels"));
	free(labels);
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
	struct node_view *v = view_of(res->node);
	if (v) {
		v->hot_dirty = true;
		server_alert_mark(s, res->node);
	}
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
		/* Publish (the agent's ts) to score: the latency an operator
		 * sees. Same-host clocks in the benchmark; across hosts it
		 * includes their clock offset. */
		if (v == INGEST_SAMPLE)
			metric_observe(
			    s->m_score_latency,
			    (double)(time_real_ms() - res.msg.ts_ms) / 1000.0);
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

struct svc_acc {
	/* A copy: a pass spans several loop rounds, and a view's strings
	 * change when its next sample arrives in between. */
	char name[SCORE_SERVICE_MAX + 1];
	double *scores;
	size_t n, cap;
	unsigned probes, failing;
};

struct rescore_ctx {
	struct server *s;
	int64_t now_ms;
	size_t next; /* index of the next node to score (ingest_at) */
	unsigned online, offline, stale;
	struct svc_acc svc[SCORE_SERVICE_MAX];
	size_t nsvc;
	double compliance_sum;
	unsigned compliance_n, compliance_failing;
	size_t pushed;
};

bool server_node_stale(const struct ingest_node *n, int64_t now_ms)
{
	double interval = n->interval_s > 0 ? n->interval_s : 10;
	return (double)(now_ms - n->last_seen_ms) > 3000.0 * interval;
}

const char *server_node_state(const struct ingest_node *n, int64_t now_ms)
{
	if (n->seen_state && !n->online)
		return "offline";
	return server_node_stale(n, now_ms) ? "stale" : "online";
}

static struct svc_acc *svc_find(struct rescore_ctx *x, const char *name)
{
	for (size_t k = 0; k < x->nsvc; k++)
		if (strcmp(x->svc[k].name, name) == 0)
			return &x->svc[k];
	if (x->nsvc == SCORE_SERVICE_MAX || strlen(name) > SCORE_SERVICE_MAX)
		return NULL;
	snprintf(x->svc[x->nsvc].name, sizeof(x->svc[0].name), "%s", name);
	return &x->svc[x->nsvc++];
}

/* Service membership: the services of the node's probes, or "unassigned". */
static void add_to_services(struct rescore_ctx *x, const struct node_view *v)
{
	const char *names[VIEW_MAX_PROBES];
	size_t n = view_services(v, names, VIEW_MAX_PROBES);

	for (size_t i = 0; i < n; i++) {
		struct svc_acc *a = svc_find(x, names[i]);
		if (!a)
			continue;
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 64;
			double *g = realloc(a->scores, cap * sizeof(double));
			if (!g)
				continue;
			a->scores = g;
			a->cap = cap;
		}
		a->scores[a->n++] = v->comps.score;
		for (size_t p = 0; p < v->in.nprobes; p++) {
			const struct score_probe_input *pr = &v->probes[p];
			bool mine = pr->service
					? strcmp(pr->service, names[i]) == 0
					: strcmp(names[i], "unassigned") == 0;
			if (!mine)
				continue;
			a->probes++;
			if (pr->has_result && !pr->ok)
				a->failing++;
		}
	}
}

static void hot_push(struct server *s, const struct ingest_node *n,
		     struct node_view *v, const char *state);

static void rescore_node(struct rescore_ctx *x, struct ingest_node *n)
{
	struct node_view *v = n->user;
	const char *state = server_node_state(n, x->now_ms);

	if (state[1] == 'f')
		x->offline++;
	else if (state[0] == 's')
		x->stale++;
	else
		x->online++;
	/* Liveness moves with time even when nothing arrives. */
	bool scored = score_view(x->s, n, v, x->now_ms);
	if (v)
		node_series(x->s, n, v, state);
	if (x->s->hot && v && (v->hot_dirty || v->hot_state != state)) {
		hot_push(x->s, n, v, state);
		x->pushed++;
	}
	if (!scored)
		return;
	add_to_services(x, v);
	if (v->in.has_compliance && isfinite(v->in.compliance_ratio)) {
		x->compliance_sum += v->in.compliance_ratio;
		x->compliance_n++;
		if (v->in.compliance_failed > 0)
			x->compliance_failing++;
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Hand the node's current view to the Redis thread. */
static void hot_push(struct server *s, const struct ingest_node *n,
		     struct node_view *v, const char *state)
{
	struct hot_node h = {
		.id = strdup(n->id),
		.ts_ms = v->has_input ? n->last_sample_ts_ms : -1,
		.boot_id = dup_or_null(n->boot_id),
		.seq = n->max_seq,
		.score = v->scored ? v->comps.score : NAN,
		/* The sample is most of the bytes: it goes along only every
		 * sample_interval (and on a state change), the rest every
		 * pass. */
		.sample = v->sample && (v->hot_state != state ||
					n->last_seen_ms - v->hot_sample_ms >=
					    s->hot_sample_ms)
			      ? strdup(v->sample)
			      : NULL,
		.state = n->seen_state ? strdup(state) : NULL,
		.conn = n->seen_state ? (int64_t)n->conn : -1,
		.last_seen_ms = n->last_seen_ms,
	};
	struct buf b;
	struct jsonw w;

	buf_init(&b, 4096);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kv_double(&w, "liveness", v->comps.liveness);
	jsonw_kv_double(&w, "resources", v->comps.resources);
	jsonw_kv_double(&w, "probes", v->comps.probes);
	jsonw_kv_double(&w, "compliance", v->comps.compliance);
	jsonw_kv_bool(&w, "capped", v->comps.capped);
	jsonw_obj_end(&w);
	if (v->scored && jsonw_finish(&w) == 0)
		h.components = strndup(b.data, b.len);
	buf_reset(&b);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < v->nlabels; i++)
		jsonw_kv_str(&w, v->labels[i].key, v->labels[i].value);
	jsonw_obj_end(&w);
	if (jsonw_finish(&w) == 0)
		h.labels = strndup(b.data, b.len);
	buf_release(&b);
	v->hot_dirty = false;
	v->hot_state = state;
	if (h.sample)
		v->hot_sample_ms = n->last_seen_ms;
	if (!h.id) {
		hot_node_release(&h);
		return;
	}
	hotstate_push(s->hot, &h);
}

/* Adopt what other replicas wrote to Redis when it is newer than what this
 * one has: with shared subscriptions each replica receives only some of a
 * node's samples. Only known nodes: every replica gets every birth and
 * state. */
static void hot_merge(struct server *s)
{
	struct hot_node *got = NULL;
	size_t n = hotstate_take(s->hot, &got);

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		struct hot_node *h = &got[i];
		struct ingest_node *node = ingest_find(s->ingest, h->id);
		struct node_view *v = node ? view_of(node) : NULL;
		/* Another replica heard from the node more recently: it is
		 * alive even when none of its samples came here (a shared
		 * subscription may send them all elsewhere), so that it does
		 * not turn stale here and page as down. */
		if (v && h->last_seen_ms > node->last_seen_ms) {
			node->last_seen_ms = h->last_seen_ms;
			server_alert_mark(s, node);
		}
		if (!v || !h->sample ||
		    h->sample_ts_ms <= node->last_sample_ts_ms)
			continue;
		cJSON *j = cJSON_Parse(h->sample);
		if (j &&
		    view_set_sample(v, j, h->sample, strlen(h->sample)) == 0) {
			node->last_sample_ts_ms = h->sample_ts_ms;
			metric_inc(s->m_redis_merged);
			if (h->last_seen_ms > node->last_seen_ms)
				node->last_seen_ms = h->last_seen_ms;
			score_view(s, node, v, time_real_ms());
		}
		cJSON_Delete(j);
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		hot_node_release(&got[i]);
	free(got);
}

/* The fleet's and each service's score over time (the scores table; a
 * node's own history is the score column of its samples). Best effort: a
 * database outage leaves a gap here, unlike samples, which are spooled. */
static void write_scores(struct server *s, const struct rescore_ctx *x,
			 const char *const *names, const double *scores)
{
	struct store_score v[SCORE_SERVICE_MAX + 1];
	char comps[SCORE_SERVICE_MAX][160];
	size_t n = 0;

	v[n++] = (struct store_score){ .ts_ms = x->now_ms,
				       .scope = "fleet",
				       .key = "fleet",
				       .score = s->fleet_score };
	for (size_t k = 0; k < x->nsvc; k++) {
		snprintf(comps[k], sizeof(comps[k]),
			 "{\"nodes\":%zu,\"probes\":%u,\"failing_probes\":%u}",
			 x->svc[k].n, x->svc[k].probes, x->svc[k].failing);
		v[n++] = (struct store_score){ .ts_ms = x->now_ms,
					       .scope = "service",
					       .key = names[k],
					       .score = scores[k],
					       .components_json = comps[k] };
	}
	writer_scores(s->writer, v, n);
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct service_view *)a)->name,
		      ((const struct service_view *)b)->name);
}

/* Nodes scored per loop round: the loop takes no message while it holds
 * the lock, so a pass over 10,000 nodes is cut into short steps. */
#define RESCORE_STEP 500

/* One step of the once-a-second pass over every node; the pass's end
 * publishes the fleet, services and counts. Returns true while the pass
 * has nodes left. */
static bool rescore_step(struct server *s)
{
	struct rescore_ctx *x = s->pass;
	const char *names[SCORE_SERVICE_MAX];
	double scores[SCORE_SERVICE_MAX];
	struct service_view *sv;
	bool more;

	pthread_mutex_lock(&s->lock);
	size_t end = x->next + RESCORE_STEP, count = ingest_count(s->ingest);
	for (; x->next < end && x->next < count; x->next++)
		rescore_node(x, ingest_at(s->ingest, x->next));
	more = x->next < count;
	if (more) {
		pthread_mutex_unlock(&s->lock);
		return true;
	}
	sv = calloc(x->nsvc ? x->nsvc : 1, sizeof(*sv));
	for (size_t k = 0; k < x->nsvc; k++) {
		names[k] = x->svc[k].name;
		scores[k] =
		    score_service(&s->policy, x->svc[k].scores, x->svc[k].n);
		if (!sv)
			continue;
		snprintf(sv[k].name, sizeof(sv[k].name), "%s", names[k]);
		sv[k].score = scores[k];
		sv[k].criticality = score_criticality(&s->policy, names[k]);
		sv[k].nodes = (unsigned)x->svc[k].n;
		sv[k].probes = x->svc[k].probes;
		sv[k].failing_probes = x->svc[k].failing;
	}
	s->fleet_score = score_fleet(&s->policy, names, scores, x->nsvc);
	s->fleet_scored = true;
	if (sv) {
		qsort(sv, x->nsvc, sizeof(*sv), svc_cmp);
		free(s->services);
		s->services = sv;
		s->nservices = x->nsvc;
	}
	s->nodes_online = x->online;
	s->nodes_offline = x->offline;
	s->nodes_stale = x->stale;
	s->compliance_ratio =
	    x->compliance_n ? x->compliance_sum / x->compliance_n : 1.0;
	s->compliance_nodes = x->compliance_n;
	s->compliance_failing = x->compliance_failing;
	metric_gauge_set(s->m_fleet_score, s->fleet_score);
	metric_gauge_set(s->m_nodes_online, s->nodes_online);
	metric_gauge_set(s->m_nodes_offline, s->nodes_offline);
	metric_gauge_set(s->m_nodes_stale, s->nodes_stale);
	pthread_mutex_unlock(&s->lock);
	write_scores(s, x, names, scores);
	if (s->hot) {
		if (x->pushed)
			hotstate_kick(s->hot);
		hot_merge(s);
	}
	return false;
}

/* Start a pass; false when out of memory (the next second tries again). */
static bool rescore_begin(struct server *s)
{
	struct rescore_ctx *x = s->pass;

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return false;
		s->pass = x;
	}
	for (size_t k = 0; k < x->nsvc; k++)
		free(x->svc[k].scores);
	memset(x, 0, sizeof(*x));
	x->s = s;
	x->now_ms = time_real_ms();
	return true;
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
	s->m_scores_written =
	    gauge(s, "acgs_store_scores_written_total",
		  "service and fleet score rows written to PostgreSQL",
		  METRIC_COUNTER);
	s->m_rollup_rows = gauge(s, "acgs_store_rollup_rows_total",
				 "1-minute and 1-hour rollup rows (re)computed",
				 METRIC_COUNTER);
	s->m_partitions_dropped =
	    gauge(s, "acgs_store_partitions_dropped_total",
		  "daily partitions dropped by retention", METRIC_COUNTER);
	s->m_spool_depth =
	    gauge(s, "acgs_store_spool_depth",
		  "samples waiting in the disk spool", METRIC_GAUGE);
	s->m_db_up = gauge(s, "acgs_dependency_up_postgres",
			   "1 when PostgreSQL answers", METRIC_GAUGE);
	s->m_mqtt_up = gauge(s, "acgs_dependency_up_mqtt",
			     "1 when connected to the broker", METRIC_GAUGE);
	if (s->cfg->redis_url && s->cfg->redis_url[0]) {
		s->m_redis_up = gauge(s, "acgs_dependency_up_redis",
				      "1 when Redis answers", METRIC_GAUGE);
		s->m_redis_pending =
		    gauge(s, "acgs_redis_pending_nodes",
			  "node updates waiting for Redis", METRIC_GAUGE);
		s->m_redis_written =
		    gauge(s, "acgs_redis_node_updates_total",
			  "node updates written to Redis", METRIC_COUNTER);
		s->m_redis_merged =
		    gauge(s, "acgs_redis_samples_adopted_total",
			  "newer samples taken from other replicas via Redis",
			  METRIC_COUNTER);
		s->m_redis_dropped = gauge(
		    s, "acgs_redis_node_updates_dropped_total",
		    "node updates dropped while Redis was away (buffer full)",
		    METRIC_COUNTER);
		struct metric *rh;
		static const double rlat[] = { 0.0005, 0.001, 0.002, 0.005,
					       0.01,   0.02,  0.05,  0.1,
					       0.25,   0.5,   1,     2.5 };
		if (metrics_register(s->metrics, "acgs_redis_cycle_seconds",
				     "one Redis write+read cycle",
				     METRIC_HISTOGRAM, NULL, 0, rlat,
				     ARRAY_SIZE(rlat), &rh) == 0)
			s->m_redis_latency = metric_series(rh, NULL);
	}
	s->m_fleet_score = gauge(s, "acgs_fleet_score",
				 "fleet health score 0..1", METRIC_GAUGE);
	/* Not 0 before the first pass: an early scrape must not page. */
	metric_gauge_set(s->m_fleet_score, NAN);
	s->m_nodes_online =
	    gauge(s, "acgs_nodes_online", "nodes online", METRIC_GAUGE);
	s->m_nodes_offline =
	    gauge(s, "acgs_nodes_offline", "nodes whose offline state arrived",
		  METRIC_GAUGE);
	s->m_nodes_stale =
	    gauge(s, "acgs_nodes_stale",
		  "nodes silent for more than 3 intervals", METRIC_GAUGE);
	static const char *const node_label[] = { "node" };
	static const char *const probe_labels[] = { "node", "probe" };
	static const struct {
		const char *name, *help;
	} per_node[6] = {
		{ "acgs_node_up", "1 while the node is online, 0 when offline "
				  "or silent for more than 3 intervals" },
		{ "acgs_node_score", "node health score 0..1 (NaN before its "
				     "first sample)" },
		{ "acgs_node_cpu_usage",
		  "CPU busy ratio 0..1 in the node's latest sample" },
		{ "acgs_node_mem_used_ratio",
		  "memory used ratio 0..1 in the node's latest sample" },
		{ "acgs_node_disk_used_ratio",
		  "fullest writable filesystem 0..1 (space or inodes)" },
		{ "acgs_node_compliance_failed",
		  "files failing the hash compliance check (NaN when the node "
		  "checks none)" },
	};
	static const struct {
		const char *name, *help;
		enum metric_type type;
	} per_probe[4] = {
		{ "acgs_probe_runs_total", "probe runs finished",
		  METRIC_COUNTER },
		{ "acgs_probe_failures_total", "probe runs that failed",
		  METRIC_COUNTER },
		{ "acgs_probe_p99_seconds",
		  "p99 latency of the probe's successful runs in the node's "
		  "latest sample",
		  METRIC_GAUGE },
		{ "acgs_probe_slo_seconds",
		  "the probe's latency objective (probes with slo_ms only)",
		  METRIC_GAUGE },
	};
	for (size_t i = 0; i < 6; i++) {
		if (metrics_register(s->metrics, per_node[i].name,
				     per_node[i].help, METRIC_GAUGE, node_label,
				     1, NULL, 0, &s->m_node[i]) < 0)
			return -ENOMEM;
		metric_set_max_series(s->m_node[i], INGEST_DEFAULT_MAX_NODES);
	}
	for (size_t i = 0; i < 4; i++) {
		if (metrics_register(s->metrics, per_probe[i].name,
				     per_probe[i].help, per_probe[i].type,
				     probe_labels, 2, NULL, 0,
				     &s->m_probe[i]) < 0)
			return -ENOMEM;
		metric_set_max_series(s->m_probe[i],
				      (size_t)INGEST_DEFAULT_MAX_NODES * 8);
	}
	static const char *const breaker_labels[] = { "breaker", "state" };
	static const double db_lat[] = { 0.0005, 0.001, 0.002, 0.005, 0.01,
					 0.02,	 0.05,	0.1,   0.25,  0.5,
					 1,	 2.5,	5 };
	struct metric *dh;
	if (metrics_register(s->metrics, "acgs_db_read_duration_seconds",
			     "PostgreSQL reads of the API (tokens, history)",
			     METRIC_HISTOGRAM, NULL, 0, db_lat,
			     ARRAY_SIZE(db_lat), &dh) == 0)
		s->m_db_read_latency = metric_series(dh, NULL);
	if (metrics_register(s->metrics, "acgs_breaker_state",
			     "circuit breaker state: 1 for the current one",
			     METRIC_GAUGE, breaker_labels, 2, NULL, 0,
			     &s->m_breaker) < 0)
		return -ENOMEM;
	static const double rs[] = { 0.0005, 0.001, 0.002, 0.005, 0.01,
				     0.02,   0.05,  0.1,   0.2,	  0.5 };
	struct metric *rh;
	if (metrics_register(s->metrics, "acgs_rescore_duration_seconds",
			     "one step of the rescoring pass (at most 500 "
			     "nodes; the loop takes no messages meanwhile)",
			     METRIC_HISTOGRAM, NULL, 0, rs, ARRAY_SIZE(rs),
			     &rh) == 0)
		s->m_rescore = metric_series(rh, NULL);
	static const double lat[] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
				      0.1,   0.2,   0.5,   1,	 2,    5 };
	struct metric *h;
	if (metrics_register(s->metrics, "acgs_ingest_score_latency_seconds",
			     "sample timestamp to its score, live samples",
			     METRIC_HISTOGRAM, NULL, 0, lat, ARRAY_SIZE(lat),
			     &h) == 0)
		s->m_score_latency = metric_series(h, NULL);
	if (metrics_register(s->metrics, "acgs_ingest_rejected_total",
			     "messages rejected, by reason", METRIC_COUNTER,
			     reason, 1, NULL, 0, &s->m_rejected) < 0)
		return -ENOMEM;
	return server_alert_metrics_setup(s);
}

/* A Prometheus counter only goes up: advance it to the source's value. */
void server_mirror_counter(struct metric_series *m, uint64_t value)
{
	double cur = metric_value(m);
	if (m && (double)value > cur)
		metric_add(m, value - (uint64_t)cur);
}

/* Counters are kept by ingest and the writer; mirror them for /metrics. */
void server_metrics_sync(struct server *s)
{
	struct ingest_stats st;
	struct writer_stats ws;

	pthread_mutex_lock(&s->lock);
	ingest_get_stats(s->ingest, &st);
	pthread_mutex_unlock(&s->lock);
	writer_get_stats(s->writer, &ws);
	server_mirror_counter(s->m_received, st.received);
	server_mirror_counter(s->m_samples, st.samples);
	server_mirror_counter(s->m_duplicates, st.duplicates);
	server_mirror_counter(s->m_replays, st.replays);
	metric_gauge_set(s->m_gaps, (double)st.gaps);
	server_mirror_counter(s->m_written, ws.written);
	server_mirror_counter(s->m_scores_written, ws.scores);
	server_mirror_counter(s->m_rollup_rows, ws.rollup_rows);
	server_mirror_counter(s->m_partitions_dropped, ws.partitions_dropped);
	server_mirror_counter(s->m_spooled, ws.spooled);
	metric_gauge_set(s->m_spool_depth, (double)ws.spool_depth);
	metric_gauge_set(s->m_db_up, ws.db_ok);
	metric_gauge_set(s->m_mqtt_up, mqttconn_connected(s->mqtt));
	for (int i = 1; i < _WIRE_REJECT_MAX; i++) {
		const char *v[] = { wire_reject_name((enum wire_reject)i) };
		server_mirror_counter(metric_series(s->m_rejected, v),
				      st.rejected[i]);
	}
	struct breaker *br[] = { s->db_breaker,
				 s->hot ? hotstate_breaker(s->hot) : NULL };
	if (s->hot) {
		struct hotstate_stats hs;
		hotstate_get_stats(s->hot, &hs);
		metric_gauge_set(s->m_redis_up, hs.connected);
		metric_gauge_set(s->m_redis_pending, (double)hs.pending);
		server_mirror_counter(s->m_redis_written, hs.written);
		server_mirror_counter(s->m_redis_dropped, hs.dropped);
	}
	for (size_t i = 0; i < ARRAY_SIZE(br); i++) {
		if (!br[i])
			continue;
		enum breaker_state cur = breaker_get_state(br[i]);
		for (int bs = BREAKER_CLOSED; bs <= BREAKER_HALF_OPEN; bs++) {
			const char *v[] = { breaker_name(br[i]),
					    breaker_state_name(bs) };
			metric_gauge_set(metric_series(s->m_breaker, v),
					 bs == (int)cur);
		}
	}
	const char *cap[] = { "capacity" }, *dir[] = { "direction" };
	server_mirror_counter(metric_series(s->m_rejected, cap),
			      st.rejected_capacity);
	server_mirror_counter(metric_series(s->m_rejected, dir),
			      st.rejected_direction);
	server_alert_metrics_sync(s);
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
	pthread_mutex_init(&s->db_lock, NULL);
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
		.retention_raw_days = (int)cfg->retention_raw_days,
		.retention_1m_days = (int)cfg->retention_1m_days,
		.retention_1h_days = (int)cfg->retention_1h_days,
		.rollup_interval = cfg->rollup_interval,
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
	ingest_set_user_free(s->ingest, view_free);
	r = metrics_setup(s);
	if (r < 0) {
		snprintf(err, errlen, "metrics: %s", strerror(-r));
		goto out;
	}
	struct breaker_options bo = {
		.name = "postgres_api",
		.fail_max = cfg->pg_breaker.fail_max,
		.reset_timeout = cfg->pg_breaker.reset_timeout,
	};
	r = breaker_new(&bo, &s->db_breaker);
	if (r < 0) {
		snprintf(err, errlen, "breaker: %s", strerror(-r));
		goto out;
	}
	if (cfg->redis_url && cfg->redis_url[0]) {
		struct breaker_options rbo = {
			.fail_max = cfg->redis_breaker.fail_max,
			.reset_timeout = cfg->redis_breaker.reset_timeout,
		};
		struct hotstate_options ho = {
			.url = cfg->redis_url,
			.replica = cfg->replica_id,
			.timeout = cfg->redis_timeout,
			.breaker = &rbo,
			.latency = s->m_redis_latency,
		};
		s->hot_sample_ms = (int64_t)(cfg->redis_sample_interval * 1000);
		r = hotstate_new(&ho, &s->hot);
		if (r < 0) {
			snprintf(err, errlen, "redis: %s", strerror(-r));
			goto out;
		}
	}
	if (cfg->rules_dir) {
		struct alerter_options ao = {
			.conninfo = cfg->conninfo,
			.redis_url = cfg->redis_url,
			.replica = cfg->replica_id,
			.rules_dir = cfg->rules_dir,
			.eval_interval = cfg->eval_interval,
			.lease_ttl = cfg->lease_ttl,
			.receivers = &cfg->receivers,
			.routes = &cfg->routes,
			.api_base = cfg->api_url,
			.grafana_base = cfg->grafana_url,
			.evaluate = server_alert_evaluate,
			.ctx = s,
			.pass_seconds = s->ma_eval_seconds,
			.backoff_initial = cfg->backoff_initial,
			.backoff_cap = cfg->backoff_cap,
		};
		r = alerter_new(&ao, &s->alerter, err, errlen);
		if (r < 0)
			goto out;
		log_info("alerts", "rules from %s, %zu receivers, %zu routes",
			 cfg->rules_dir, cfg->receivers.n, cfg->routes.n);
	}
	r = server_routes_start(s, err, errlen);
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
	/* Then the alerter, whose thread reads the views. */
	s->alerter = alerter_free(s->alerter);
	s->mqtt = mqttconn_free(s->mqtt);
	s->hot = hotstate_free(s->hot);
	s->ingest = ingest_free(s->ingest);
	s->writer = writer_free(s->writer);
	score_policy_release(&s->policy);
	s->metrics = metrics_free(s->metrics);
	s->db = store_free(s->db);
	s->db_breaker = breaker_free(s->db_breaker);
	if (s->pass)
		for (size_t k = 0; k < s->pass->nsvc; k++)
			free(s->pass->svc[k].scores);
	free(s->pass);
	free(s->services);
	free(s->alert_dirty);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->db_lock);
	server_config_free(s->cfg);
	if (s->sigfd >= 0)
		close(s->sigfd);
	free(s);
	return NULL;
}

static bool differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static bool receivers_differ(const struct receiver_set *a,
			     const struct receiver_set *b)
{
	if (a->n != b->n)
		return true;
	for (size_t i = 0; i < a->n; i++) {
		const struct receiver *x = &a->v[i], *y = &b->v[i];
		if (x->kind != y->kind || strcmp(x->name, y->name) != 0 ||
		    differs(x->url, y->url) || x->timeout != y->timeout ||
		    strcmp(x->routing_key, y->routing_key) != 0 ||
		    differs(x->bearer_token, y->bearer_token))
			return true;
	}
	return false;
}

static bool routes_differ(const struct alertroute_set *a,
			  const struct alertroute_set *b)
{
	if (a->n != b->n)
		return true;
	for (size_t i = 0; i < a->n; i++) {
		const struct alertroute *x = &a->v[i], *y = &b->v[i];
		if (strcmp(x->name, y->name) != 0 ||
		    differs(x->match, y->match) ||
		    differs(x->receivers, y->receivers) || x->cont != y->cont ||
		    memcmp(&x->timing, &y->timing, sizeof(x->timing)) != 0)
			return true;
	}
	return false;
}

/* SIGHUP: take what can change while running (the scoring policy, the log
 * level, the breakers' settings stay as built); name what needs a
 * restart. A file or policy that does not validate changes nothing. */
static void reload(struct server *s)
{
	struct server_config *n = NULL;
	struct conf_error e;
	struct score_policy p;
	char err[512];

	notify_send("RELOADING=1");
	if (server_config_load(s->cfg->path, &n, &e) < 0) {
		log_err("server", "reload rejected, configuration kept: %s",
			e.msg);
		goto out;
	}
	score_policy_default(&p);
	if (n->policy &&
	    score_policy_load(n->policy, &p, err, sizeof(err)) < 0) {
		log_err("server", "reload rejected, configuration kept: %s",
			err);
		score_policy_release(&p);
		goto out;
	}
	const struct {
		const char *key;
		bool changed;
	} restart[] = {
		{ "[server] listen", differs(n->listen, s->cfg->listen) },
		{ "[server] state_dir",
		  differs(n->state_dir, s->cfg->state_dir) },
		{ "[server] replica_id",
		  differs(n->replica_id, s->cfg->replica_id) },
		{ "[mqtt] host", differs(n->mqtt.host, s->cfg->mqtt.host) },
		{ "[mqtt] port", n->mqtt.port != s->cfg->mqtt.port },
		{ "[mqtt] shared_group",
		  differs(n->shared_group, s->cfg->shared_group) },
		{ "[postgres] conninfo",
		  differs(n->conninfo, s->cfg->conninfo) },
		{ "[redis] url", differs(n->redis_url, s->cfg->redis_url) },
		{ "[auth] anonymous_viewer",
		  n->anonymous_viewer != s->cfg->anonymous_viewer },
		{ "[alerts] rules_dir (turning alerting on or off)",
		  (n->rules_dir == NULL) != (s->cfg->rules_dir == NULL) },
		{ "[receiver.*] sections (or a secret they read)",
		  receivers_differ(&n->receivers, &s->cfg->receivers) },
		{ "[route *] sections",
		  routes_differ(&n->routes, &s->cfg->routes) },
		{ "[alerts] eval_interval",
		  n->eval_interval != s->cfg->eval_interval },
		{ "[alerts] lease_ttl", n->lease_ttl != s->cfg->lease_ttl },
		{ "[alerts] api_url", differs(n->api_url, s->cfg->api_url) },
		{ "[alerts] grafana_url",
		  differs(n->grafana_url, s->cfg->grafana_url) },
		{ "[alerts] backoff_initial or backoff_cap",
		  n->backoff_initial != s->cfg->backoff_initial ||
		      n->backoff_cap != s->cfg->backoff_cap },
	};
	for (size_t i = 0; i < ARRAY_SIZE(restart); i++)
		if (restart[i].changed)
			log_warn("server",
				 "reload: %s changed; it takes effect after a "
				 "restart",
				 restart[i].key);
	if (s->alerter && n->rules_dir &&
	    alerter_reload_rules(s->alerter, n->rules_dir, err, sizeof(err)) <
		0) {
		log_err("server", "reload rejected, configuration kept: %s",
			err);
		score_policy_release(&p);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	score_policy_release(&s->policy);
	s->policy = p; /* moved: the policy owns its criticality array */
	pthread_mutex_unlock(&s->lock);
	int lv = n->log_level ? log_level_from_string(n->log_level) : -EINVAL;
	if (lv >= 0)
		log_max_level = lv;
	log_info("server", "reloaded %s: policy %s version %u", s->cfg->path,
		 n->policy ? n->policy : "(built in)", s->policy.version);
	s->next_rescore_ns = 0; /* rescore with the new policy at once */
out:
	server_config_free(n);
	notify_send("READY=1\nSTATUS=running");
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
	if (s->alerter) {
		int r = alerter_start(s->alerter);
		if (r < 0) {
			log_err("alerts", "cannot start: %s", strerror(-r));
			return r;
		}
	}

	while (!stop) {
		uint64_t now = time_mono_ns();
		uint64_t deadline = mqttconn_run(s->mqtt, revents, now);
		revents = 0;
		if (!ready) {
			notify_send("READY=1\nSTATUS=running");
			ready = true;
		}
		if (s->watchdog_ns && now >= s->next_watchdog_ns) {
			notify_send("WATCHDOG=1");
			s->next_watchdog_ns = now + s->watchdog_ns;
		}
		if (!s->rescoring && now >= s->next_rescore_ns &&
		    rescore_begin(s)) {
			s->rescoring = true;
			s->next_rescore_ns = now + NS_PER_SEC;
		}
		if (s->rescoring) {
			uint64_t t0 = time_mono_ns();
			s->rescoring = rescore_step(s);
			metric_observe(s->m_rescore,
				       (double)(time_mono_ns() - t0) / 1e9);
		}
		s->started = true;
		if (now >= s->next_stats_ns) {
			log_stats(s);
			s->next_stats_ns = now + STATS_EVERY_NS;
		}
		if (s->watchdog_ns && s->next_watchdog_ns < deadline)
			deadline = s->next_watchdog_ns;
		if (s->next_rescore_ns < deadline)
			deadline = s->next_rescore_ns;
		if (s->rescoring)
			deadline = now; /* more steps: poll without waiting */
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
					reload(s);
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
	/* Hand the alerts lease over at once. */
	s->alerter = alerter_free(s->alerter);
	/* A clean DISCONNECT keeps the persistent session for the restart. */
	mqttconn_disconnect(s->mqtt);
	writer_flush(s->writer);
	log_stats(s);
	log_info("server", "stopped");
	return 0;
}
