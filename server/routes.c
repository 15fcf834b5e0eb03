/* The HTTP API's routes: health, metrics, fleet, nodes, history, services,
 * compliance (docs/api.md). Handlers run on libmicrohttpd's threads and
 * read the live view under the server's lock; PostgreSQL reads go through
 * the API's own connection behind a circuit breaker. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerter.h"
#include "apibody.h"
#include "apiparse.h"
#include "cleanup.h"
#include "conf.h"
#include "log.h"
#include "server_priv.h"
#include "timeutil.h"
#include "wire.h"

#define TOKEN_FRESH_NS (60 * NS_PER_SEC)
#define TOKEN_STALE_NS (3600 * NS_PER_SEC)

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
			   enum api_role role, const char *name, uint64_t now)
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
	snprintf(e->name, sizeof(e->name), "%s", name);
}

/* Errors that are answers, not the database failing. */
static bool db_answered(int rc)
{
	return rc >= 0 || rc == -ENOENT || rc == -EKEYREVOKED ||
	       rc == -EINVAL || rc == -EEXIST;
}

/* Before a read on the API's connection, with db_lock held: 0 when it may
 * go ahead (then report with db_end), -EAGAIN when the breaker is open,
 * -ENOTCONN when PostgreSQL cannot be reached. */
static int db_begin(struct server *s)
{
	int r = breaker_allow(s->db_breaker);
	if (r < 0)
		return r;
	if (!s->db) {
		char err[256];
		r = store_open(s->cfg->conninfo, &s->db, err, sizeof(err));
		if (r < 0)
			log_debug("api", "postgres: %s", err);
	} else if (!store_connected(s->db)) {
		r = store_reconnect(s->db);
	}
	if (r < 0 || !s->db || !store_connected(s->db)) {
		breaker_failure(s->db_breaker, -ENOTCONN);
		return -ENOTCONN;
	}
	return 0;
}

static void db_end(struct server *s, int rc, uint64_t t0)
{
	if (db_answered(rc))
		breaker_success(s->db_breaker);
	else
		breaker_failure(s->db_breaker, rc);
	metric_observe(s->m_db_read_latency,
		       (double)(time_mono_ns() - t0) / 1e9);
}

static enum api_role auth_token(void *ctx, const uint8_t sha256[32], char *name)
{
	struct server *s = ctx;
	char role[16], who[API_PRINCIPAL_MAX] = "";
	enum api_role r = API_ROLE_NONE;
	uint64_t now = time_mono_ns();
	struct token_entry *e;
	int rc;

	pthread_mutex_lock(&s->db_lock);
	e = token_cached(s, sha256);
	if (e && now - e->checked_ns < TOKEN_FRESH_NS) {
		r = e->role;
		snprintf(name, API_PRINCIPAL_MAX, "%s", e->name);
		goto out;
	}
	rc = db_begin(s);
	if (rc == 0) {
		rc = store_token_lookup(s->db, sha256, role, sizeof(role), NULL,
					who, sizeof(who));
		db_end(s, rc, now);
	}
	if (rc == 0) {
		if (strcmp(role, "admin") == 0)
			r = API_ROLE_ADMIN;
		else if (strcmp(role, "operator") == 0)
			r = API_ROLE_OPERATOR;
		else if (strcmp(role, "viewer") == 0)
			r = API_ROLE_VIEWER;
		token_remember(s, sha256, r, who, now);
		snprintf(name, API_PRINCIPAL_MAX, "%s", who);
	} else if (rc == -ENOENT || rc == -EKEYREVOKED) {
		if (e)
			e->role = API_ROLE_NONE; /* revoked: forget at once */
	} else if (e && now - e->checked_ns < TOKEN_STALE_NS) {
		/* The database cannot answer: trust what it said recently. */
		r = e->role;
		snprintf(name, API_PRINCIPAL_MAX, "%s", e->name);
	}
out:
	pthread_mutex_unlock(&s->db_lock);
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
	struct hotstate_stats hs = { 0 };
	bool mqtt = mqttconn_connected(s->mqtt);
	char redis[96];

	writer_get_stats(s->writer, &ws);
	if (s->hot) {
		hotstate_get_stats(s->hot, &hs);
		snprintf(redis, sizeof(redis), "%s",
			 hs.connected ? "up"
			 : hs.breaker == BREAKER_OPEN
			     ? "down (circuit open, serving from memory)"
			     : "down (serving from memory)");
	} else {
		snprintf(redis, sizeof(redis),
			 "not configured (serving from memory)");
	}
	struct jsonw *w = api_res_json(res);
	if (!mqtt)
		api_res_status(res, 503);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "status",
		     !mqtt			  ? "unavailable"
		     : !ws.db_ok || !hs.connected ? "degraded"
						  : "ok");
	jsonw_key(w, "dependencies");
	jsonw_obj_begin(w);
	dep(w, "mqtt", mqtt ? "up" : "down");
	dep(w, "postgres", ws.db_ok ? "up" : "down (spooling to disk)");
	dep(w, "redis", redis);
	jsonw_obj_end(w);
	jsonw_kv_u64(w, "spool_depth", ws.spool_depth);
	if (s->hot)
		jsonw_kv_u64(w, "redis_pending", hs.pending);
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

	server_metrics_sync(s);
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

static void write_node(struct jsonw *w, const struct ingest_node *n,
		       int64_t now_ms, bool with_sample)
{
	const struct node_view *v = n->user;
	char ts[RFC3339_LEN];

	jsonw_obj_begin(w);
	jsonw_kv_str(w, "id", n->id);
	jsonw_kv_str(w, "state", server_node_state(n, now_ms));
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
	jsonw_key(w, "labels");
	jsonw_obj_begin(w);
	for (size_t i = 0; v && i < v->nlabels; i++)
		jsonw_kv_str(w, v->labels[i].key, v->labels[i].value);
	jsonw_obj_end(w);
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
	jsonw_key(w, "components");
	jsonw_obj_begin(w);
	jsonw_key(w, "services");
	jsonw_obj_begin(w);
	for (size_t i = 0; i < s->nservices; i++)
		jsonw_kv_double(w, s->services[i].name, s->services[i].score);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
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
	const char *label_key, *label_value, *service;
	size_t skip, limit, total, written;
};

static void list_node(void *ctx, struct ingest_node *n)
{
	struct list_ctx *x = ctx;
	const struct node_view *v = n->user;

	if (x->state && strcmp(server_node_state(n, x->now_ms), x->state) != 0)
		return;
	if (!isnan(x->below) &&
	    (!v || !v->scored || v->comps.score >= x->below))
		return;
	if (x->label_key) {
		const char *lv = view_label(v, x->label_key);
		if (!lv || strcmp(lv, x->label_value) != 0)
			return;
	}
	if (x->service &&
	    !(v && v->has_input && view_in_service(v, x->service)))
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
	if ((q = api_req_query(req, "service"))) {
		if (!*q || strlen(q) > SCORE_SERVICE_MAX)
			return api_error(res, 400, "bad_request",
					 "service must be 1 to %d bytes",
					 SCORE_SERVICE_MAX);
		x.service = q;
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

/* ---- history ---- */

/* Short names a person types, beside the column names. */
static const char *history_metric(const char *q)
{
	static const char *const alias[][2] = {
		{ "cpu", "cpu_usage" },
		{ "mem", "mem_used_ratio" },
		{ "memory", "mem_used_ratio" },
		{ "swap", "swap_used_ratio" },
		{ "load", "load1" },
		{ "disk", "disk_used_ratio_max" },
		{ "net_rx", "net_rx_bps" },
		{ "net_tx", "net_tx_bps" },
		{ "procs", "procs_total" },
		{ "fds", "fds_open" },
		{ "compliance", "compliance_ratio" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(alias); i++)
		if (strcmp(q, alias[i][0]) == 0)
			return alias[i][1];
	return store_history_metric_valid(q) ? q : NULL;
}

/* About 300 points for a range, on steps a person recognizes; raw samples
 * up to 15 minutes. */
static int64_t history_default_step(int64_t range_ms)
{
	static const int64_t steps_s[] = { 10,	 15,	30,    60,    120,
					   300,	 600,	900,   1800,  3600,
					   7200, 10800, 21600, 43200, 86400 };
	if (range_ms <= 15 * 60 * 1000)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(steps_s); i++)
		if (range_ms / (steps_s[i] * 1000) <= 300)
			return steps_s[i] * 1000;
	return 86400 * 1000;
}

static const char *history_source(int64_t step_ms)
{
	if (step_ms <= 0)
		return "raw";
	if (step_ms < 60 * 1000)
		return "raw_avg";
	return step_ms < 3600 * 1000 ? "rollup_1m" : "rollup_1h";
}

#define HISTORY_MAX_POINTS 10000
#define HISTORY_MAX_RANGE  (400ll * 86400 * 1000)

struct history_ctx {
	struct jsonw *w;
	size_t n;
};

static int history_point(void *ctx, int64_t ts_ms, double value)
{
	struct history_ctx *x = ctx;
	char ts[RFC3339_LEN];

	if (x->n == HISTORY_MAX_POINTS)
		return 1;
	time_format_rfc3339_ms(ts_ms, ts);
	jsonw_obj_begin(x->w);
	jsonw_kv_str(x->w, "ts", ts);
	jsonw_kv_double(x->w, "value", value);
	jsonw_obj_end(x->w);
	x->n++;
	return 0;
}

static int h_history(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	struct server *s = ctx;
	const char *id = api_req_param(req, "id");
	const char *q, *metric;
	int64_t now = time_real_ms(), from, to = now, step;
	char from_s[RFC3339_LEN], to_s[RFC3339_LEN];
	bool known;
	int r;

	if (!id || !wire_node_valid(id))
		return api_error(res, 400, "bad_request", "invalid node id");
	q = api_req_query(req, "metric");
	if (!q)
		return api_error(res, 400, "bad_request",
				 "metric is required (cpu, mem, disk, load, "
				 "score, ...; docs/api.md lists them)");
	metric = history_metric(q);
	if (!metric)
		return api_error(res, 400, "bad_request",
				 "unknown metric %.64s", q);
	if ((q = api_req_query(req, "to")) && apiparse_time_ms(q, now, &to) < 0)
		return api_error(res, 400, "bad_request",
				 "to must be RFC 3339, now, or a duration "
				 "like 1h");
	from = to - 3600 * 1000;
	if ((q = api_req_query(req, "from")) &&
	    apiparse_time_ms(q, now, &from) < 0)
		return api_error(res, 400, "bad_request",
				 "from must be RFC 3339, now, or a duration "
				 "like 1h");
	if (from >= to)
		return api_error(res, 400, "bad_request",
				 "from must be before to");
	if (to - from > HISTORY_MAX_RANGE)
		return api_error(res, 400, "bad_request",
				 "range over 400 days");
	step = history_default_step(to - from);
	if ((q = api_req_query(req, "step")) &&
	    apiparse_duration_ms(q, &step) < 0)
		return api_error(res, 400, "bad_request",
				 "step must be a duration like 60s or 5m");
	if (step > 0 && (to - from) / step > HISTORY_MAX_POINTS)
		return api_error(res, 400, "bad_request",
				 "more than %d points: take a larger step",
				 HISTORY_MAX_POINTS);

	pthread_mutex_lock(&s->lock);
	known = ingest_find(s->ingest, id) != NULL;
	pthread_mutex_unlock(&s->lock);

	struct jsonw *w = api_res_json(res);
	struct history_ctx x = { .w = w };
	time_format_rfc3339_ms(from, from_s);
	time_format_rfc3339_ms(to, to_s);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "node", id);
	jsonw_kv_str(w, "metric", metric);
	jsonw_kv_str(w, "from", from_s);
	jsonw_kv_str(w, "to", to_s);
	jsonw_kv_double(w, "step", (double)step / 1000.0);
	jsonw_kv_str(w, "source", history_source(step));
	jsonw_key(w, "points");
	jsonw_arr_begin(w);

	uint64_t t0 = time_mono_ns();
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_history(s->db, id, metric, from, to, step,
				  history_point, &x);
		if (r >= 0 && x.n == 0 && !known) {
			int e = store_node_exists(s->db, id);
			known = e != 0;
			if (e < 0)
				r = e;
		}
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);

	if (r < 0 && !db_answered(r))
		return api_error(res, 503, "unavailable",
				 "history needs PostgreSQL, which cannot be "
				 "reached now");
	if (r < 0)
		return api_error(res, 500, "internal", "history: %s",
				 strerror(-r));
	if (!known)
		return api_error(res, 404, "not_found", "no node %s", id);
	jsonw_arr_end(w);
	jsonw_kv_bool(w, "truncated", x.n == HISTORY_MAX_POINTS);
	jsonw_obj_end(w);
	return 0;
}

/* ---- services ---- */

static void write_service(struct jsonw *w, const struct service_view *sv)
{
	jsonw_kv_str(w, "name", sv->name);
	jsonw_kv_double(w, "score", sv->score);
	jsonw_kv_double(w, "criticality", sv->criticality);
	jsonw_kv_u64(w, "nodes", sv->nodes);
	jsonw_kv_u64(w, "probes", sv->probes);
	jsonw_kv_u64(w, "failing_probes", sv->failing_probes);
}

static int h_services(void *ctx, const struct api_request *req,
		      struct api_response *res)
{
	struct server *s = ctx;
	struct jsonw *w = api_res_json(res);

	pthread_mutex_lock(&s->lock);
	jsonw_obj_begin(w);
	jsonw_key(w, "services");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < s->nservices; i++) {
		jsonw_obj_begin(w);
		write_service(w, &s->services[i]);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_kv_u64(w, "total", s->nservices);
	jsonw_obj_end(w);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct member_ctx {
	struct jsonw *w;
	const char *service;
	int64_t now_ms;
};

static void write_member(void *ctx, struct ingest_node *n)
{
	struct member_ctx *x = ctx;
	const struct node_view *v = n->user;

	if (!v || !v->has_input || !view_in_service(v, x->service))
		return;
	jsonw_obj_begin(x->w);
	jsonw_kv_str(x->w, "id", n->id);
	jsonw_kv_str(x->w, "state", server_node_state(n, x->now_ms));
	jsonw_kv_double(x->w, "score", v->scored ? v->comps.score : NAN);
	jsonw_key(x->w, "probes");
	jsonw_arr_begin(x->w);
	for (size_t i = 0; i < v->in.nprobes; i++) {
		const struct score_probe_input *p = &v->probes[i];
		bool mine = p->service ? strcmp(p->service, x->service) == 0
				       : strcmp(x->service, "unassigned") == 0;
		if (!mine)
			continue;
		jsonw_obj_begin(x->w);
		jsonw_kv_str(x->w, "name", p->name ? p->name : "");
		if (p->has_result)
			jsonw_kv_bool(x->w, "ok", p->ok);
		else
			jsonw_kv_double(x->w, "ok", NAN); /* null */
		jsonw_kv_u64(x->w, "runs", p->runs);
		jsonw_kv_u64(x->w, "failures", p->failures);
		jsonw_kv_double(x->w, "latency_ms", p->latency_ms);
		jsonw_kv_double(x->w, "p50_ms", v->probe_extra[i].p50_ms);
		jsonw_kv_double(x->w, "p99_ms", p->p99_ms);
		jsonw_kv_double(x->w, "slo_ms", p->slo_ms);
		jsonw_obj_end(x->w);
	}
	jsonw_arr_end(x->w);
	jsonw_obj_end(x->w);
}

static int h_service(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	struct server *s = ctx;
	const char *name = api_req_param(req, "name");
	const struct service_view *sv = NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; name && i < s->nservices; i++)
		if (strcmp(s->services[i].name, name) == 0)
			sv = &s->services[i];
	if (!sv) {
		pthread_mutex_unlock(&s->lock);
		return api_error(res, 404, "not_found", "no service %.64s",
				 name ? name : "");
	}
	struct member_ctx x = { .w = api_res_json(res),
				.service = sv->name,
				.now_ms = time_real_ms() };
	jsonw_obj_begin(x.w);
	write_service(x.w, sv);
	jsonw_key(x.w, "members");
	jsonw_arr_begin(x.w);
	ingest_foreach(s->ingest, write_member, &x);
	jsonw_arr_end(x.w);
	jsonw_obj_end(x.w);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- compliance ---- */

static void copy_str(struct jsonw *w, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsString(v))
		jsonw_kv_str(w, key, v->valuestring);
}

static void write_noncompliant(void *ctx, struct ingest_node *n)
{
	struct jsonw *w = ctx;
	const struct node_view *v = n->user;
	const cJSON *f;

	if (!v || !v->has_input || !v->in.has_compliance ||
	    v->in.compliance_failed == 0)
		return;
	/* Few nodes fail: parse their sample here rather than keep every
	 * node's file list. */
	cJSON *j = cJSON_ParseWithLength(v->sample, v->len);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "compliance");
	const cJSON *checked = cJSON_GetObjectItemCaseSensitive(c, "checked");
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "id", n->id);
	jsonw_kv_double(w, "ratio", v->in.compliance_ratio);
	jsonw_kv_double(w, "checked",
			cJSON_IsNumber(checked) ? checked->valuedouble : NAN);
	jsonw_kv_u64(w, "failed", v->in.compliance_failed);
	jsonw_key(w, "files");
	jsonw_arr_begin(w);
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(c, "files"))
	{
		if (!cJSON_IsObject(f) ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "ok")))
			continue;
		jsonw_obj_begin(w);
		copy_str(w, f, "path");
		copy_str(w, f, "reason");
		copy_str(w, f, "sha256");
		copy_str(w, f, "expected");
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	cJSON_Delete(j);
}

static int h_compliance(void *ctx, const struct api_request *req,
			struct api_response *res)
{
	struct server *s = ctx;
	struct jsonw *w = api_res_json(res);

	pthread_mutex_lock(&s->lock);
	jsonw_obj_begin(w);
	jsonw_kv_double(w, "compliance_ratio", s->compliance_ratio);
	jsonw_kv_u64(w, "nodes_checked", s->compliance_nodes);
	jsonw_kv_u64(w, "nodes_noncompliant", s->compliance_failing);
	jsonw_key(w, "noncompliant");
	jsonw_arr_begin(w);
	ingest_foreach(s->ingest, write_noncompliant, w);
	jsonw_arr_end(w);
	jsonw_kv_str(w, "constitutional_hash", ACGS_CONSTITUTIONAL_HASH);
	jsonw_obj_end(w);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- tokens (admin) ---- */

static void write_token(void *ctx, const struct store_token *t)
{
	struct jsonw *w = ctx;
	jsonw_obj_begin(w);
	jsonw_kv_i64(w, "id", t->id);
	jsonw_kv_str(w, "name", t->name);
	jsonw_kv_str(w, "role", t->role);
	jsonw_kv_time_ms(w, "created_at", t->created_ms);
	jsonw_kv_time_ms(w, "last_used_at", t->last_used_ms);
	jsonw_kv_time_ms(w, "revoked_at", t->revoked_ms);
	jsonw_obj_end(w);
}

static int db_unavailable(struct api_response *res)
{
	return api_error(res, 503, "unavailable",
			 "tokens live in PostgreSQL, which cannot be reached "
			 "now");
}

static int h_tokens(void *ctx, const struct api_request *req,
		    struct api_response *res)
{
	struct server *s = ctx;
	struct jsonw *w = api_res_json(res);
	uint64_t t0 = time_mono_ns();
	int r;

	jsonw_obj_begin(w);
	jsonw_key(w, "tokens");
	jsonw_arr_begin(w);
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_token_list(s->db, write_token, w);
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0)
		return db_unavailable(res);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	return 0;
}

static int h_token_create(void *ctx, const struct api_request *req,
			  struct api_response *res)
{
	struct server *s = ctx;
	struct apibody_token t;
	char token[APIBODY_TOKEN_LEN + 1], err[256];
	unsigned char digest[32];
	size_t len;
	const char *body = api_req_body(req, &len);
	uint64_t t0 = time_mono_ns();
	int64_t id = 0;
	int r;

	if (apibody_token(body, len, &t, err, sizeof(err)) < 0)
		return api_error(res, 400, "bad_request", "%s", err);
	apibody_token_generate(token, digest);
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_token_insert(s->db, t.name, t.role, digest, &id);
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0) {
		sodium_memzero(token, sizeof(token));
		return db_answered(r)
			   ? api_error(res, 400, "bad_request",
				       "token not stored: %s", strerror(-r))
			   : db_unavailable(res);
	}
	log_info("api", "token %lld created for %s with role %s", (long long)id,
		 t.name, t.role);
	struct jsonw *w = api_res_json(res);
	api_res_status(res, 201);
	jsonw_obj_begin(w);
	jsonw_kv_i64(w, "id", id);
	jsonw_kv_str(w, "name", t.name);
	jsonw_kv_str(w, "role", t.role);
	jsonw_kv_str(w, "token", token);
	jsonw_obj_end(w);
	sodium_memzero(token, sizeof(token));
	return 0;
}

static int h_token_revoke(void *ctx, const struct api_request *req,
			  struct api_response *res)
{
	struct server *s = ctx;
	const char *q = api_req_param(req, "id");
	uint64_t id, t0 = time_mono_ns();
	int r;

	if (!q || conf_parse_u64(q, 1, INT64_MAX, &id) < 0)
		return api_error(res, 400, "bad_request",
				 "token id must be a whole number");
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_token_revoke(s->db, (int64_t)id);
		db_end(s, r, t0);
	}
	/* Revoked at once here; other replicas within TOKEN_FRESH_NS. */
	for (size_t i = 0; r == 0 && i < s->ntokens; i++)
		s->tokens[i].checked_ns = 0;
	pthread_mutex_unlock(&s->db_lock);
	if (r == -ENOENT)
		return api_error(res, 404, "not_found",
				 "no unrevoked token %llu",
				 (unsigned long long)id);
	if (r < 0)
		return db_unavailable(res);
	log_info("api", "token %llu revoked", (unsigned long long)id);
	api_res_status(res, 204);
	return 0;
}

/* ---- alerts and silences ---- */

static int no_alerting(struct api_response *res)
{
	return api_error(res, 404, "not_found",
			 "alerting is off: set [alerts] rules_dir in the "
			 "server's configuration");
}

static void write_history(void *ctx, const struct store_alert *a)
{
	struct jsonw *w = ctx;
	jsonw_obj_begin(w);
	jsonw_kv_time_ms(w, "ts", a->ts_ms);
	jsonw_kv_str(w, "id", a->dedup_key);
	jsonw_kv_str(w, "rule", a->rule);
	jsonw_kv_str(w, "scope", a->scope);
	jsonw_kv_str(w, "key", a->key ? a->key : "");
	jsonw_kv_str(w, "from", a->from_state);
	jsonw_kv_str(w, "to", a->state);
	jsonw_kv_double(w, "value", a->value);
	jsonw_kv_str_or_null(w, "severity", a->severity);
	jsonw_obj_end(w);
}

static int h_alerts(void *ctx, const struct api_request *req,
		    struct api_response *res)
{
	struct server *s = ctx;
	const char *state = api_req_query(req, "state");
	const char *hist = api_req_query(req, "history");
	unsigned mask = ALERTENGINE_LIST_FIRING | ALERTENGINE_LIST_PENDING;
	uint64_t limit = 20, t0 = time_mono_ns();
	int r;

	if (!s->alerter)
		return no_alerting(res);
	if (state) {
		if (strcmp(state, "firing") == 0)
			mask = ALERTENGINE_LIST_FIRING;
		else if (strcmp(state, "pending") == 0)
			mask = ALERTENGINE_LIST_PENDING;
		else if (strcmp(state, "resolved") == 0)
			mask = ALERTENGINE_LIST_RESOLVED;
		else if (strcmp(state, "all") == 0)
			mask = ALERTENGINE_LIST_FIRING |
			       ALERTENGINE_LIST_PENDING |
			       ALERTENGINE_LIST_RESOLVED;
		else
			return api_error(res, 400, "bad_request",
					 "state: must be firing, pending, "
					 "resolved or all");
	}
	if (hist && conf_parse_u64(hist, 0, 1000, &limit) < 0)
		return api_error(res, 400, "bad_request",
				 "history: must be a whole number from 0 to "
				 "1000");
	struct jsonw *w = api_res_json(res);
	jsonw_obj_begin(w);
	alerter_list_json(s->alerter, mask, w);
	jsonw_key(w, "history");
	jsonw_arr_begin(w);
	r = 0;
	if (limit > 0) {
		pthread_mutex_lock(&s->db_lock);
		r = db_begin(s);
		if (r == 0) {
			r = store_alert_history(s->db, (unsigned)limit,
						write_history, w);
			db_end(s, r, t0);
		}
		pthread_mutex_unlock(&s->db_lock);
	}
	jsonw_arr_end(w);
	if (r < 0)
		jsonw_kv_str(w, "history_error",
			     "alert history lives in PostgreSQL, which cannot "
			     "be reached now");
	jsonw_obj_end(w);
	return 0;
}

static int h_alert_ack(void *ctx, const struct api_request *req,
		       struct api_response *res)
{
	struct server *s = ctx;
	const char *id = api_req_param(req, "id");
	char comment[APIBODY_COMMENT_MAX + 1], err[256];
	size_t len;
	const char *body = api_req_body(req, &len);

	if (!s->alerter)
		return no_alerting(res);
	if (apibody_ack(body, len, comment, err, sizeof(err)) < 0)
		return api_error(res, 400, "bad_request", "%s", err);
	struct jsonw *w = api_res_json(res);
	int r = alerter_ack(s->alerter, id, api_req_principal(req), comment, w);
	switch (r) {
	case 0:
		log_info("api", "alert %s acked by %s", id,
			 api_req_principal(req));
		return 0;
	case -EINVAL:
		return api_error(res, 400, "bad_request",
				 "alert id: 8 to 64 lowercase hex digits "
				 "(the alert's id or a prefix of it)");
	case -ENOTUNIQ:
		return api_error(res, 400, "ambiguous",
				 "alert id prefix %s matches several alerts",
				 id);
	case -ENOENT:
		return api_error(res, 404, "not_found", "no alert %s", id);
	case -EBUSY:
		return api_error(res, 409, "conflict",
				 "alert %s is neither pending nor firing", id);
	case -EAGAIN:
		return api_error(res, 503, "not_leader",
				 "this replica does not lead alerting; ask the "
				 "leader (GET /api/v1/alerts: leader_id)");
	default:
		return api_error(res, 500, "internal", "%s", strerror(-r));
	}
}

static const char *silence_state(const struct store_silence *x, int64_t now)
{
	if (x->expired_ms || x->ends_ms <= now)
		return "expired";
	return x->starts_ms > now ? "pending" : "active";
}

struct silence_out {
	struct jsonw *w;
	int64_t now_ms;
	unsigned want; /* bits: 1 active, 2 pending, 4 expired */
	size_t n;
};

static void write_silence(void *ctx, const struct store_silence *x)
{
	struct silence_out *o = ctx;
	const char *st = silence_state(x, o->now_ms);
	unsigned bit = st[0] == 'a' ? 1 : st[0] == 'p' ? 2 : 4;
	struct matchers m;
	char text[MATCHERS_MAX * (MATCHER_NAME_MAX + MATCHER_VALUE_MAX + 8)];
	char err[128];

	if (!(o->want & bit))
		return;
	o->n++;
	struct jsonw *w = o->w;
	jsonw_obj_begin(w);
	jsonw_kv_i64(w, "id", x->id);
	jsonw_key(w, "matchers");
	jsonw_arr_begin(w);
	cJSON *j = cJSON_Parse(x->matchers_json);
	if (j && matchers_from_json(j, &m, err, sizeof(err)) == 0) {
		for (size_t k = 0; k < m.n; k++) {
			struct matchers one = { .n = 1 };
			one.m[0] = m.m[k];
			matchers_format(&one, text, sizeof(text));
			jsonw_str(w, text);
		}
		matchers_release(&m);
	}
	cJSON_Delete(j);
	jsonw_arr_end(w);
	jsonw_kv_time_ms(w, "starts_at", x->starts_ms);
	jsonw_kv_time_ms(w, "ends_at", x->ends_ms);
	jsonw_kv_str(w, "comment", x->comment);
	jsonw_kv_str(w, "author", x->author);
	jsonw_kv_time_ms(w, "created_at", x->created_ms);
	jsonw_kv_time_ms(w, "expired_at", x->expired_ms);
	jsonw_kv_str(w, "state", st);
	jsonw_obj_end(w);
}

/* The matchers as stored: Alertmanager's objects. */
static int matchers_json(const struct matchers *m, struct buf *b)
{
	struct jsonw w;

	jsonw_init(&w, b);
	jsonw_arr_begin(&w);
	for (size_t k = 0; k < m->n; k++) {
		const struct matcher *x = &m->m[k];
		jsonw_obj_begin(&w);
		jsonw_kv_str(&w, "name", x->name);
		jsonw_kv_str(&w, "value", x->value);
		jsonw_kv_bool(&w, "isRegex",
			      x->op == MATCH_RE || x->op == MATCH_NRE);
		jsonw_kv_bool(&w, "isEqual",
			      x->op == MATCH_EQ || x->op == MATCH_RE);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	return jsonw_finish(&w);
}

static int one_silence(struct server *s, int64_t id, struct jsonw *w)
{
	struct silence_out o = { w, time_real_ms(), 7, 0 };
	uint64_t t0 = time_mono_ns();
	int r;

	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_silence_list(s->db, id, true, o.now_ms, write_silence,
				       &o);
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0)
		return r;
	return o.n ? 0 : -ENOENT;
}

static int silences_unavailable(struct api_response *res)
{
	return api_error(res, 503, "unavailable",
			 "silences live in PostgreSQL, which cannot be "
			 "reached now");
}

static int h_silence_add(void *ctx, const struct api_request *req,
			 struct api_response *res)
{
	struct server *s = ctx;
	struct apibody_silence x;
	char err[256];
	size_t len;
	const char *body = api_req_body(req, &len);
	struct buf b;
	int64_t id = 0, created = 0;
	uint64_t t0 = time_mono_ns();
	int r;

	if (!s->alerter)
		return no_alerting(res);
	if (apibody_silence(body, len, time_real_ms(), &x, err, sizeof(err)) <
	    0)
		return api_error(res, 400, "bad_request", "%s", err);
	buf_init(&b, 64 * 1024);
	r = matchers_json(&x.m, &b);
	if (r == 0) {
		pthread_mutex_lock(&s->db_lock);
		r = db_begin(s);
		if (r == 0) {
			buf_append(&b, "", 1);
			r = store_silence_add(
			    s->db, b.data, x.starts_ms, x.ends_ms, x.comment,
			    x.has_author ? x.author : api_req_principal(req),
			    &id, &created);
			db_end(s, r, t0);
		}
		pthread_mutex_unlock(&s->db_lock);
	}
	buf_release(&b);
	apibody_silence_release(&x);
	if (r < 0)
		return silences_unavailable(res);
	alerter_silences_changed(s->alerter);
	log_info("api", "silence %lld added by %s", (long long)id,
		 api_req_principal(req));
	api_res_status(res, 201);
	r = one_silence(s, id, api_res_json(res));
	if (r < 0)
		return silences_unavailable(res);
	return 0;
}

static int h_silences(void *ctx, const struct api_request *req,
		      struct api_response *res)
{
	struct server *s = ctx;
	const char *state = api_req_query(req, "state");
	struct silence_out o = { api_res_json(res), time_real_ms(), 3, 0 };
	uint64_t t0 = time_mono_ns();
	int r;

	if (!s->alerter)
		return no_alerting(res);
	if (state) {
		if (strcmp(state, "active") == 0)
			o.want = 1;
		else if (strcmp(state, "pending") == 0)
			o.want = 2;
		else if (strcmp(state, "expired") == 0)
			o.want = 4;
		else if (strcmp(state, "all") == 0)
			o.want = 7;
		else
			return api_error(res, 400, "bad_request",
					 "state: must be active, pending, "
					 "expired or all");
	}
	jsonw_obj_begin(o.w);
	jsonw_key(o.w, "silences");
	jsonw_arr_begin(o.w);
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_silence_list(s->db, 0, (o.want & 4) != 0, o.now_ms,
				       write_silence, &o);
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0)
		return silences_unavailable(res);
	jsonw_arr_end(o.w);
	jsonw_obj_end(o.w);
	return 0;
}

static int h_silence_expire(void *ctx, const struct api_request *req,
			    struct api_response *res)
{
	struct server *s = ctx;
	const char *q = api_req_param(req, "id");
	uint64_t id, t0 = time_mono_ns();
	int r;

	if (!s->alerter)
		return no_alerting(res);
	if (!q || conf_parse_u64(q, 1, INT64_MAX, &id) < 0)
		return api_error(res, 400, "bad_request",
				 "silence id must be a whole number");
	pthread_mutex_lock(&s->db_lock);
	r = db_begin(s);
	if (r == 0) {
		r = store_silence_expire(s->db, (int64_t)id);
		db_end(s, r, t0);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r == -ENOENT)
		return api_error(res, 404, "not_found", "no silence %llu",
				 (unsigned long long)id);
	if (r < 0)
		return silences_unavailable(res);
	alerter_silences_changed(s->alerter);
	log_info("api", "silence %llu expired by %s", (unsigned long long)id,
		 api_req_principal(req));
	r = one_silence(s, (int64_t)id, api_res_json(res));
	if (r < 0)
		return silences_unavailable(res);
	return 0;
}

int server_routes_start(struct server *s, char *err, size_t errlen)
{
	const struct api_route routes[] = {
		{ "GET", "/health/live", API_ROLE_NONE, h_live, s },
		{ "GET", "/health/ready", API_ROLE_NONE, h_ready, s },
		{ "GET", "/health/startup", API_ROLE_NONE, h_startup, s },
		{ "GET", "/metrics", API_ROLE_NONE, h_metrics, s },
		{ "GET", "/api/v1/fleet", API_ROLE_VIEWER, h_fleet, s },
		{ "GET", "/api/v1/nodes", API_ROLE_VIEWER, h_nodes, s },
		{ "GET", "/api/v1/nodes/{id}", API_ROLE_VIEWER, h_node, s },
		{ "GET", "/api/v1/nodes/{id}/history", API_ROLE_VIEWER,
		  h_history, s },
		{ "GET", "/api/v1/services", API_ROLE_VIEWER, h_services, s },
		{ "GET", "/api/v1/services/{name}", API_ROLE_VIEWER, h_service,
		  s },
		{ "GET", "/api/v1/compliance", API_ROLE_VIEWER, h_compliance,
		  s },
		{ "GET", "/api/v1/tokens", API_ROLE_ADMIN, h_tokens, s },
		{ "POST", "/api/v1/tokens", API_ROLE_ADMIN, h_token_create, s },
		{ "DELETE", "/api/v1/tokens/{id}", API_ROLE_ADMIN,
		  h_token_revoke, s },
		{ "GET", "/api/v1/alerts", API_ROLE_VIEWER, h_alerts, s },
		{ "POST", "/api/v1/alerts/{id}/ack", API_ROLE_OPERATOR,
		  h_alert_ack, s },
		{ "GET", "/api/v1/silences", API_ROLE_VIEWER, h_silences, s },
		{ "POST", "/api/v1/silences", API_ROLE_OPERATOR, h_silence_add,
		  s },
		{ "DELETE", "/api/v1/silences/{id}", API_ROLE_OPERATOR,
		  h_silence_expire, s },
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
