/* The server's side of alerting: what the rules see of the live view, the
 * nodes that changed since the alerter last looked, and the alert and
 * notification series of /metrics. ACGS constitutional hash:
 * cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alerter.h"
#include "cleanup.h"
#include "log.h"
#include "server_priv.h"
#include "timeutil.h"

/* Nodes remembered as changed between two evaluations; past this a full
 * pass is asked for instead. */
#define DIRTY_MAX 65536

void server_alert_mark(struct server *s, struct ingest_node *n)
{
	struct node_view *v = n->user;

	if (!s->alerter || !v || v->alert_dirty)
		return;
	if (s->nalert_dirty == s->alert_dirty_cap) {
		size_t cap = s->alert_dirty_cap ? s->alert_dirty_cap * 2 : 1024;
		struct ingest_node **d =
		    cap > DIRTY_MAX ? NULL
				    : realloc(s->alert_dirty, cap * sizeof(*d));
		if (!d) {
			s->alert_dirty_all = true;
			alerter_kick(s->alerter);
			return;
		}
		s->alert_dirty = d;
		s->alert_dirty_cap = cap;
	}
	v->alert_dirty = true;
	s->alert_dirty[s->nalert_dirty++] = n;
	if (s->nalert_dirty == 1)
		alerter_kick(s->alerter);
}

static double ratio(double a, double b)
{
	return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN;
}

/* One node as the rules see it. */
static void feed_node(struct server *s, struct alertengine *e,
		      struct ingest_node *n, int64_t now_ms)
{
	struct node_view *v = n->user;
	struct alertengine_node an = { .id = n->id };
	struct alertengine_probe probes[VIEW_MAX_PROBES];
	struct label labels[VIEW_MAX_LABELS];
	const char *state = server_node_state(n, now_ms);
	double *x = an.value;

	for (size_t k = 0; k < ALERTRULE_SUBJECT_COUNT_; k++)
		x[k] = NAN;
	for (size_t k = 0; k < ALERTENGINE_NCOMPS; k++)
		an.comps[k] = NAN;
	x[ALERTRULE_SUBJECT_DOWN] = strcmp(state, "online") == 0 ? 0 : 1;
	if (v && v->has_input) {
		const struct score_node_input *in = &v->in;
		x[ALERTRULE_SUBJECT_CPU] = in->cpu_usage;
		x[ALERTRULE_SUBJECT_MEM] = in->mem_used_ratio;
		x[ALERTRULE_SUBJECT_DISK] = in->disk_used_ratio_max;
		x[ALERTRULE_SUBJECT_LOAD_PER_CPU] =
		    ratio(in->load1, in->cpu_count);
		x[ALERTRULE_SUBJECT_PSI_CPU] = in->psi_cpu_some;
		x[ALERTRULE_SUBJECT_PSI_MEMORY] = in->psi_mem_some;
		x[ALERTRULE_SUBJECT_PSI_IO] = in->psi_io_some;
		if (in->has_compliance) {
			x[ALERTRULE_SUBJECT_COMPLIANCE_FAILED] =
			    in->compliance_failed;
			x[ALERTRULE_SUBJECT_COMPLIANCE_RATIO] =
			    in->compliance_ratio;
		}
		for (size_t k = 0; k < in->nprobes && k < VIEW_MAX_PROBES;
		     k++) {
			const struct score_probe_input *p = &v->probes[k];
			probes[an.nprobes++] = (struct alertengine_probe){
				.name = p->name,
				.service = p->service,
				.error_rate =
				    p->runs ? (double)(p->failures > p->runs
							   ? p->runs
							   : p->failures) /
						  p->runs
					    : NAN,
				.p99_over_slo = ratio(p->p99_ms, p->slo_ms),
			};
		}
		an.probes = probes;
	}
	if (v && v->scored) {
		x[ALERTRULE_SUBJECT_SCORE] = v->comps.score;
		x[ALERTRULE_SUBJECT_LIVENESS] = v->comps.liveness;
		x[ALERTRULE_SUBJECT_RESOURCES] = v->comps.resources;
		x[ALERTRULE_SUBJECT_PROBES] = v->comps.probes;
		double c[ALERTENGINE_NCOMPS] = {
			v->comps.score, v->comps.liveness, v->comps.resources,
			v->comps.probes, v->comps.compliance
		};
		memcpy(an.comps, c, sizeof(c));
	}
	for (size_t k = 0; v && k < v->nlabels; k++)
		labels[an.nlabels++] =
		    (struct label){ v->labels[k].key, v->labels[k].value };
	an.labels = labels;
	alertengine_node(e, &an, now_ms);
}

void server_alert_evaluate(void *ctx, struct alertengine *e, bool full,
			   int64_t now_ms)
{
	struct server *s = ctx;

	pthread_mutex_lock(&s->lock);
	full |= s->alert_dirty_all;
	if (full) {
		size_t count = ingest_count(s->ingest);
		alertengine_begin_pass(e);
		for (size_t i = 0; i < count; i++)
			feed_node(s, e, ingest_at(s->ingest, i), now_ms);
		for (size_t k = 0; k < s->nservices; k++)
			alertengine_service(
			    e, s->services[k].name, s->services[k].score,
			    s->services[k].failing_probes, now_ms);
		if (s->fleet_scored)
			alertengine_fleet(
			    e, s->fleet_score,
			    (double)(s->nodes_offline + s->nodes_stale),
			    s->compliance_nodes ? s->compliance_ratio : NAN,
			    now_ms);
		alertengine_end_pass(e, now_ms);
	} else {
		for (size_t i = 0; i < s->nalert_dirty; i++)
			feed_node(s, e, s->alert_dirty[i], now_ms);
	}
	for (size_t i = 0; i < s->nalert_dirty; i++) {
		struct node_view *v = s->alert_dirty[i]->user;
		if (v)
			v->alert_dirty = false;
	}
	s->nalert_dirty = 0;
	s->alert_dirty_all = false;
	pthread_mutex_unlock(&s->lock);
}

/* ---- metrics ---- */

static struct metric *reg(struct server *s, const char *name, const char *help,
			  enum metric_type type, const char *const *labels,
			  size_t nlabels)
{
	struct metric *m = NULL;

	if (metrics_register(s->metrics, name, help, type, labels, nlabels,
			     NULL, 0, &m) < 0)
		return NULL;
	return m;
}

int server_alert_metrics_setup(struct server *s)
{
	static const char *const state[] = { "state" }, *to[] = { "to" },
				 *rk[] = { "receiver", "kind" },
				 *rx[] = { "receiver" };
	static const double secs[] = { 0.0001, 0.0005, 0.001, 0.002,
				       0.005,  0.01,   0.02,  0.05,
				       0.1,    0.25,   0.5,   1 };
	struct metric *h = NULL;

	s->ma_alerts =
	    reg(s, "acgs_alerts", "alert instances by state (on the leader)",
		METRIC_GAUGE, state, 1);
	s->ma_transitions = reg(s, "acgs_alert_transitions_total",
				"alert state transitions, by the state entered",
				METRIC_COUNTER, to, 1);
	s->ma_n_pending = reg(s, "acgs_notifications_pending",
			      "notifications waiting in the outbox, per "
			      "receiver (database, last scan)",
			      METRIC_GAUGE, rk, 2);
	s->ma_n_sent = reg(s, "acgs_notifications_sent_total",
			   "notifications delivered (2xx) by this replica",
			   METRIC_COUNTER, rk, 2);
	s->ma_n_retried = reg(s, "acgs_notifications_retried_total",
			      "delivery attempts that failed and will be "
			      "retried (429, 5xx, timeouts)",
			      METRIC_COUNTER, rk, 2);
	s->ma_n_failed = reg(s, "acgs_notifications_failed_total",
			     "notifications refused for good (a 4xx other "
			     "than 429), recorded with the answer",
			     METRIC_COUNTER, rk, 2);
	s->ma_rx_breaker =
	    reg(s, "acgs_receiver_breaker_state",
		"a receiver's circuit breaker: 0 closed, 1 open, 2 half-open",
		METRIC_GAUGE, rx, 1);
	if (!s->ma_alerts || !s->ma_transitions || !s->ma_n_pending ||
	    !s->ma_n_sent || !s->ma_n_retried || !s->ma_n_failed ||
	    !s->ma_rx_breaker)
		return -ENOMEM;
	if (metrics_register(s->metrics, "acgs_alert_eval_seconds",
			     "one full evaluation pass of the alert rules "
			     "over every node, service and the fleet",
			     METRIC_HISTOGRAM, NULL, 0, secs, ARRAY_SIZE(secs),
			     &h) == 0)
		s->ma_eval_seconds = metric_series(h, NULL);
	struct {
		struct metric_series **to;
		const char *name, *help;
		enum metric_type type;
	} one[] = {
		{ &s->ma_leader, "acgs_alert_leader",
		  "1 while this replica holds the alerts lease", METRIC_GAUGE },
		{ &s->ma_rules, "acgs_alert_rules", "alert rules loaded",
		  METRIC_GAUGE },
		/* A gauge: counters here count whole events. */
		{ &s->ma_eval_cpu, "acgs_alert_eval_cpu_seconds",
		  "CPU seconds the alerter's thread has used since start",
		  METRIC_GAUGE },
		{ &s->ma_passes, "acgs_alert_eval_passes_total",
		  "full evaluation passes", METRIC_COUNTER },
		{ &s->ma_queued, "acgs_alert_notifications_total",
		  "notifications decided by the rules and routes",
		  METRIC_COUNTER },
		{ &s->ma_muted, "acgs_alert_muted_total",
		  "triggers held back by a silence or an inhibition",
		  METRIC_COUNTER },
		{ &s->ma_backlog, "acgs_alert_backlog",
		  "alert actions not yet recorded or queued (PostgreSQL "
		  "unreachable)",
		  METRIC_GAUGE },
		{ &s->ma_record_errors, "acgs_alert_record_errors_total",
		  "failed attempts to record alert actions (retried)",
		  METRIC_COUNTER },
		{ &s->ma_dropped, "acgs_alert_dropped_total",
		  "alert actions dropped over the backlog cap",
		  METRIC_COUNTER },
		{ &s->ma_oldest, "acgs_notifications_oldest_pending_seconds",
		  "age of the oldest notification waiting in the outbox",
		  METRIC_GAUGE },
		{ &s->ma_enqueue_errors,
		  "acgs_notifications_enqueue_errors_total",
		  "notifications that could not be written to the outbox",
		  METRIC_COUNTER },
	};
	for (size_t k = 0; k < ARRAY_SIZE(one); k++) {
		struct metric *m =
		    reg(s, one[k].name, one[k].help, one[k].type, NULL, 0);
		if (!m)
			return -ENOMEM;
		*one[k].to = metric_series(m, NULL);
	}
	return 0;
}

void server_alert_metrics_sync(struct server *s)
{
	struct alerter_stats st;

	if (!s->alerter)
		return;
	alerter_get_stats(s->alerter, &st);
	metric_gauge_set(s->ma_leader, st.leader);
	metric_gauge_set(s->ma_rules, (double)st.rules);
	const char *states[] = { "pending", "firing", "resolved" };
	const size_t counts[] = { st.engine.pending, st.engine.firing,
				  st.engine.resolved };
	for (size_t k = 0; k < 3; k++) {
		const char *v[] = { states[k] };
		metric_gauge_set(metric_series(s->ma_alerts, v),
				 (double)counts[k]);
	}
	for (int k = ALERTSTATE_INACTIVE; k <= ALERTSTATE_RESOLVED; k++) {
		const char *v[] = { alertstate_state_name(k) };
		server_mirror_counter(metric_series(s->ma_transitions, v),
				      st.engine.transitions[k]);
	}
	server_mirror_counter(s->ma_queued, st.engine.notifications);
	server_mirror_counter(s->ma_muted, st.engine.muted);
	server_mirror_counter(s->ma_passes, st.passes);
	metric_gauge_set(s->ma_eval_cpu, st.eval_cpu_seconds);
	metric_gauge_set(s->ma_backlog, (double)st.actions_backlog);
	server_mirror_counter(s->ma_record_errors, st.db_errors);
	server_mirror_counter(s->ma_dropped, st.dropped);
	metric_gauge_set(s->ma_oldest, st.outbox.oldest_pending_s);
	server_mirror_counter(s->ma_enqueue_errors, st.outbox.enqueue_errors);
	for (size_t k = 0; k < st.outbox.n; k++) {
		const struct outbox_receiver_stats *r = &st.outbox.r[k];
		const char *v[] = { r->name, receiver_kind_name(r->kind) };
		const char *n[] = { r->name };
		metric_gauge_set(metric_series(s->ma_n_pending, v),
				 (double)r->pending);
		server_mirror_counter(metric_series(s->ma_n_sent, v), r->sent);
		server_mirror_counter(metric_series(s->ma_n_retried, v),
				      r->retried);
		server_mirror_counter(metric_series(s->ma_n_failed, v),
				      r->failed);
		metric_gauge_set(metric_series(s->ma_rx_breaker, n),
				 r->breaker == BREAKER_CLOSED ? 0
				 : r->breaker == BREAKER_OPEN ? 1
							      : 2);
	}
}
