/* The alerter: lease, evaluation, recording, enqueueing; see alerter.h.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include "alerter.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "cleanup.h"
#include "lease.h"
#include "log.h"
#include "store.h"
#include "timeutil.h"

/* Actions waiting to be recorded or enqueued while PostgreSQL is away;
 * past this the oldest are dropped (and counted). */
#define BACKLOG_MAX 100000
/* Least gap between two evaluations of changed nodes: samples arrive in
 * bursts, and one evaluation takes a whole burst. */
#define KICK_GAP_MS 20
/* Silences are re-read this often even when no API call changed them
 * (another replica may have). */
#define SILENCE_RELOAD_MS 5000
/* Retry of the database after a failure. */
#define RETRY_MS 1000

struct alerter {
	struct alerter_options opt;
	char *rules_dir;
	struct lease *lease;
	struct outbox *outbox;
	struct store *db; /* the thread's own connection */

	pthread_mutex_t lock; /* the engine, and the fields below it */
	struct alertengine *e;
	bool leader;
	char leader_id[128];
	int64_t evaluated_ms;
	uint64_t passes;
	double pass_seconds;

	/* Actions taken from the engine, not yet carried out: the thread's
	 * own, guarded by lock only for the backlog count. */
	struct alertengine_action *q;
	size_t qhead, qn, qcap;
	uint64_t db_errors, dropped; /* under lock */
	size_t backlog;		     /* qn, as of the last round; under lock */

	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	bool kicked, silences_dirty, stop;
	pthread_t thread;
	bool running;
	double cpu_seconds;
};

static int64_t mono_ms(void)
{
	return (int64_t)(time_mono_ns() / 1000000);
}

int alerter_new(const struct alerter_options *opt, struct alerter **ret,
		char *err, size_t errlen)
{
	struct alerter *a = calloc(1, sizeof(*a));
	struct alertrule_set *rules = NULL;
	int r;

	if (!a)
		return -ENOMEM;
	a->opt = *opt;
	if (a->opt.eval_interval <= 0)
		a->opt.eval_interval = 1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->wake_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_condattr_destroy(&ca);
	a->rules_dir = strdup(opt->rules_dir ? opt->rules_dir : "");
	if (!a->rules_dir) {
		r = -ENOMEM;
		goto out;
	}
	r = alertrule_load_dir(a->rules_dir, &rules, err, errlen);
	if (r < 0)
		goto out;
	struct alertengine_options eo = {
		.receivers = opt->receivers,
		.routes = opt->routes,
		.api_base = opt->api_base,
		.grafana_base = opt->grafana_base,
	};
	r = alertengine_new(&eo, &a->e);
	if (r < 0) {
		snprintf(err, errlen, "alerts: %s", strerror(-r));
		goto out;
	}
	alertengine_set_rules(a->e, rules, time_real_ms());
	rules = NULL;
	struct lease_options lo = {
		.redis_url = opt->redis_url,
		.conninfo = opt->conninfo,
		.name = "alerts",
		.holder = opt->replica,
		.ttl = opt->lease_ttl,
	};
	r = lease_new(&lo, &a->lease);
	if (r < 0) {
		snprintf(err, errlen, "alerts lease: %s", strerror(-r));
		goto out;
	}
	struct outbox_options oo = {
		.conninfo = opt->conninfo,
		.receivers = opt->receivers,
		.replica = opt->replica,
		.backoff_initial = opt->backoff_initial,
		.backoff_cap = opt->backoff_cap,
	};
	r = outbox_new(&oo, &a->outbox);
	if (r < 0) {
		snprintf(err, errlen, "outbox: %s", strerror(-r));
		goto out;
	}
out:
	alertrule_set_free(rules);
	if (r < 0) {
		alerter_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static void queue_drop_front(struct alerter *a, size_t n)
{
	for (size_t k = 0; k < n; k++)
		alertengine_action_release(&a->q[a->qhead + k]);
	a->qhead += n;
	a->qn -= n;
	if (a->qn == 0)
		a->qhead = 0;
}

struct alerter *alerter_free(struct alerter *a)
{
	if (!a)
		return NULL;
	if (a->running) {
		pthread_mutex_lock(&a->wake_lock);
		a->stop = true;
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->wake_lock);
		pthread_join(a->thread, NULL);
	}
	a->outbox = outbox_free(a->outbox);
	a->lease = lease_free(a->lease);
	a->db = store_free(a->db);
	queue_drop_front(a, a->qn);
	free(a->q);
	alertengine_free(a->e);
	free(a->rules_dir);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->wake_lock);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return NULL;
}

void alerter_kick(struct alerter *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->wake_lock);
	if (!a->kicked) {
		a->kicked = true;
		pthread_cond_signal(&a->wake);
	}
	pthread_mutex_unlock(&a->wake_lock);
}

void alerter_silences_changed(struct alerter *a)
{
	pthread_mutex_lock(&a->wake_lock);
	a->silences_dirty = true;
	a->kicked = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->wake_lock);
}

int alerter_reload_rules(struct alerter *a, const char *dir, char *err,
			 size_t errlen)
{
	struct alertrule_set *rules = NULL;
	int r = alertrule_load_dir(dir, &rules, err, errlen);

	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	alertengine_set_rules(a->e, rules, time_real_ms());
	pthread_mutex_unlock(&a->lock);
	alerter_kick(a);
	return 0;
}

/* ---- the database side ---- */

static bool db_ready(struct alerter *a)
{
	char err[256];

	if (!a->db &&
	    store_open(a->opt.conninfo, &a->db, err, sizeof(err)) < 0) {
		a->db = NULL;
		return false;
	}
	if (!store_connected(a->db) && store_reconnect(a->db) < 0)
		return false;
	return true;
}

static void labels_json(const struct alertengine_action *x, struct buf *b)
{
	struct jsonw w;

	buf_reset(b);
	jsonw_init(&w, b);
	alertengine_action_labels_json(x, &w);
	if (jsonw_finish(&w) < 0) {
		buf_reset(b);
		buf_append(b, "{}", 2);
	}
	buf_append(b, "", 1); /* NUL */
}

/* Carry out one action. Returns 0, or a negative errno to retry it. */
static int carry_out(struct alerter *a, const struct alertengine_action *x,
		     struct buf *lb)
{
	int r;

	if (x->kind == ALERTENGINE_NOTIFY) {
		struct receiver_component comps[ALERTENGINE_NCOMPS];
		struct receiver_alert ra;
		const struct receiver *rx = &a->opt.receivers->v[x->rx];
		alertengine_action_alert(x, a->e, comps, &ra);
		r = outbox_enqueue_alert(a->outbox, rx->name, &ra,
					 time_real_ms(), x->idem_key, NULL);
		if (r == -E2BIG || r == -EINVAL || r == -ENOENT) {
			/* Not a database problem: retrying cannot help. */
			log_err("alerts",
				"notification not queued rule=%s key=%s "
				"receiver=%s: %s",
				x->rule, x->scope_key, rx->name, strerror(-r));
		} else if (r < 0) {
			return r;
		}
	}
	labels_json(x, lb);
	struct store_alert sa = {
		.dedup_key = x->dedup_key,
		.rule = x->rule,
		.scope = x->scope,
		.key = x->scope_key,
		.probe = x->probe,
		.severity = x->severity,
		.from_state = alertstate_state_name(x->from),
		.state = alertstate_state_name(x->to),
		.ts_ms = x->ts_ms,
		.active_since_ms = x->active_since_ms,
		.fired_at_ms = x->fired_at_ms,
		.resolved_at_ms = x->resolved_at_ms,
		.last_true_ms = x->last_true_ms,
		.value = x->value,
		.firing_value = x->firing_value,
		.threshold = x->threshold,
		.labels_json = lb->data,
		.summary = x->summary,
		.description = x->description,
		.notified = x->notified,
		.acked_by = x->acked_by,
		.ack_comment = x->ack_comment,
		.acked_ms = x->acked_ms,
	};
	if (!db_ready(a))
		return -ENOTCONN;
	return store_alert_record(a->db, &sa, x->kind == ALERTENGINE_TRANSITION,
				  x->kind == ALERTENGINE_ACK);
}

/* Carry out the queue in order; stop at the first failure (kept for the
 * next try). Returns true when the queue is empty. */
static bool drain(struct alerter *a)
{
	struct buf lb;
	size_t done = 0;
	int r = 0;

	buf_init(&lb, 256 * 1024);
	while (done < a->qn) {
		struct alertengine_action *x = &a->q[a->qhead + done];
		r = carry_out(a, x, &lb);
		if (r < 0)
			break;
		if (x->kind == ALERTENGINE_NOTIFY)
			log_info("alerts",
				 "queued %s rule=%s key=%s%s%s receiver=%s "
				 "dedup_key=%s",
				 x->resolve ? "resolve" : "trigger", x->rule,
				 x->scope_key, x->probe ? " probe=" : "",
				 x->probe ? x->probe : "",
				 a->opt.receivers->v[x->rx].name, x->dedup_key);
		done++;
	}
	buf_release(&lb);
	if (r < 0) {
		pthread_mutex_lock(&a->lock);
		a->db_errors++;
		pthread_mutex_unlock(&a->lock);
		log_warn("alerts",
			 "recording failed, %zu actions kept for retry: %s",
			 a->qn - done,
			 a->db ? store_last_error(a->db) : strerror(-r));
	}
	queue_drop_front(a, done);
	return a->qn == 0;
}

static void enqueue_actions(struct alerter *a, struct alertengine_action *v,
			    size_t n)
{
	if (n == 0) {
		free(v);
		return;
	}
	if (a->qhead + a->qn + n > a->qcap) {
		/* Compact first, then grow. */
		if (a->qn)
			memmove(a->q, a->q + a->qhead, a->qn * sizeof(*a->q));
		a->qhead = 0;
		if (a->qn + n > a->qcap) {
			size_t cap = (a->qn + n) * 2;
			struct alertengine_action *q =
			    realloc(a->q, cap * sizeof(*q));
			if (!q) {
				alertengine_actions_free(v, n);
				pthread_mutex_lock(&a->lock);
				a->dropped += n;
				pthread_mutex_unlock(&a->lock);
				return;
			}
			a->q = q;
			a->qcap = cap;
		}
	}
	memcpy(a->q + a->qhead + a->qn, v, n * sizeof(*v));
	a->qn += n;
	free(v); /* the strings moved with the structs */
	if (a->qn > BACKLOG_MAX) {
		size_t over = a->qn - BACKLOG_MAX;
		log_err("alerts",
			"backlog over %d actions: dropping %zu oldest",
			BACKLOG_MAX, over);
		pthread_mutex_lock(&a->lock);
		a->dropped += over;
		pthread_mutex_unlock(&a->lock);
		queue_drop_front(a, over);
	}
}

struct restore_ctx {
	struct alerter *a;
	int64_t now_ms;
	size_t n, failed;
};

static void restore_one(void *ctx, const struct store_alert *sa)
{
	struct restore_ctx *c = ctx;
	struct label l[ALERTENGINE_MAX_LABELS];
	size_t nl = 0;
	enum alertstate_state st =
	    strcmp(sa->state, "firing") == 0	? ALERTSTATE_FIRING
	    : strcmp(sa->state, "pending") == 0 ? ALERTSTATE_PENDING
						: ALERTSTATE_RESOLVED;
	cJSON *j = cJSON_Parse(sa->labels_json ? sa->labels_json : "{}");
	const cJSON *it;

	cJSON_ArrayForEach(it, j)
	{
		if (nl < ARRAY_SIZE(l) && cJSON_IsString(it))
			l[nl++] = (struct label){ it->string, it->valuestring };
	}
	struct alertengine_saved s = {
		.rule = sa->rule,
		.scope_key = sa->key ? sa->key : "",
		.probe = sa->probe,
		.dedup_key = sa->dedup_key,
		.state = st,
		.active_since_ms = sa->active_since_ms,
		.fired_at_ms = sa->fired_at_ms,
		.resolved_at_ms = sa->resolved_at_ms,
		.last_true_ms = sa->last_true_ms,
		.value = sa->value,
		.firing_value = sa->firing_value,
		.summary = sa->summary,
		.description = sa->description,
		.acked_by = sa->acked_by,
		.ack_comment = sa->ack_comment,
		.acked_ms = sa->acked_ms,
		.notified = sa->notified,
		.labels = l,
		.nlabels = nl,
	};
	if (alertengine_restore(c->a->e, &s, c->now_ms) == 0)
		c->n++;
	else
		c->failed++;
	cJSON_Delete(j);
}

/* On taking the lease: the saved instances, before any evaluation. */
static int restore(struct alerter *a)
{
	struct restore_ctx c = { .a = a, .now_ms = time_real_ms() };

	if (!db_ready(a))
		return -ENOTCONN;
	pthread_mutex_lock(&a->lock);
	alertengine_clear(a->e);
	int r = store_alert_instances(a->db, restore_one, &c);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		return r;
	log_info("alerts", "restored %zu alert instances (%zu skipped)", c.n,
		 c.failed);
	return 0;
}

struct silence_ctx {
	struct alertengine_silence *v;
	size_t n, cap;
};

static void silence_one(void *ctx, const struct store_silence *x)
{
	struct silence_ctx *c = ctx;
	char err[256];
	cJSON *j = cJSON_Parse(x->matchers_json);

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct alertengine_silence *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			cJSON_Delete(j);
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	struct alertengine_silence *s = &c->v[c->n];
	memset(s, 0, sizeof(*s));
	if (!j || matchers_from_json(j, &s->m, err, sizeof(err)) < 0) {
		log_warn("alerts", "silence %" PRId64 " ignored: %s", x->id,
			 j ? err : "matchers are not JSON");
		cJSON_Delete(j);
		return;
	}
	s->id = x->id;
	s->starts_ms = x->starts_ms;
	s->ends_ms = x->ends_ms;
	c->n++;
	cJSON_Delete(j);
}

static int load_silences(struct alerter *a)
{
	struct silence_ctx c = { 0 };

	if (!db_ready(a))
		return -ENOTCONN;
	int r = store_silence_list(a->db, 0, false, time_real_ms(), silence_one,
				   &c);
	if (r >= 0) {
		pthread_mutex_lock(&a->lock);
		r = alertengine_set_silences(a->e, c.v, c.n);
		pthread_mutex_unlock(&a->lock);
	}
	for (size_t k = 0; k < c.n; k++)
		matchers_release(&c.v[k].m);
	free(c.v);
	return r;
}

/* ---- the thread ---- */

static double thread_cpu_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_leader(struct alerter *a, bool leader)
{
	char holder[128] = "";

	lease_holder(a->lease, holder, sizeof(holder));
	pthread_mutex_lock(&a->lock);
	bool was = a->leader;
	a->leader = leader;
	snprintf(a->leader_id, sizeof(a->leader_id), "%s",
		 leader ? a->opt.replica : holder);
	if (was && !leader)
		alertengine_clear(a->e);
	pthread_mutex_unlock(&a->lock);
	if (was != leader)
		log_info("alerts", "%s the alerts lease (%s)",
			 leader ? "took" : "lost", lease_backend(a->lease));
}

static void *run(void *arg)
{
	struct alerter *a = arg;
	int64_t next_lease = 0, next_full = 0, next_silences = 0,
		last_kick_eval = 0, retry_at = 0;
	bool restored = false, kick_pending = false;

	for (;;) {
		pthread_mutex_lock(&a->wake_lock);
		bool stop = a->stop, kicked = a->kicked,
		     sil = a->silences_dirty;
		a->kicked = a->silences_dirty = false;
		pthread_mutex_unlock(&a->wake_lock);
		kicked |= kick_pending;
		kick_pending = false;
		if (stop)
			break;

		int64_t mono = mono_ms();
		if (mono >= next_lease) {
			bool was = a->leader;
			bool lead = lease_refresh(a->lease, mono) == 1;
			/* Also when nothing changed: a follower names the
			 * current holder, which may have changed. */
			set_leader(a, lead);
			if (lead != was)
				restored = false;
			next_lease = lease_next_refresh_ms(a->lease);
		}
		int64_t due = next_lease;
		bool leading = lease_held(a->lease, mono_ms());
		if (leading && !restored && mono >= retry_at) {
			restored = restore(a) == 0;
			if (restored) {
				sil = true;
				next_full = 0;
			} else {
				retry_at = mono + RETRY_MS;
			}
		}
		if (leading && restored) {
			if (sil || mono >= next_silences) {
				if (load_silences(a) < 0)
					log_warn("alerts",
						 "silences not loaded: %s",
						 a->db ? store_last_error(a->db)
						       : "no database");
				next_silences = mono + SILENCE_RELOAD_MS;
			}
			int64_t now = time_real_ms();
			bool full = mono >= next_full;
			bool nodes =
			    kicked && mono - last_kick_eval >= KICK_GAP_MS;
			pthread_mutex_lock(&a->lock);
			if (full || nodes) {
				uint64_t t0 = time_mono_ns();
				a->opt.evaluate(a->opt.ctx, a->e, full, now);
				if (full) {
					a->pass_seconds =
					    (double)(time_mono_ns() - t0) / 1e9;
					a->passes++;
					if (a->opt.pass_seconds)
						metric_observe(
						    a->opt.pass_seconds,
						    a->pass_seconds);
					next_full =
					    mono +
					    (int64_t)(a->opt.eval_interval *
						      1000);
				} else {
					last_kick_eval = mono;
				}
				a->evaluated_ms = now;
			}
			alertengine_tick(a->e, now);
			struct alertengine_action *v = NULL;
			size_t n = alertengine_take(a->e, &v);
			int64_t next = alertengine_next_due_ms(a->e, now);
			pthread_mutex_unlock(&a->lock);
			enqueue_actions(a, v, n);
			if (next != INT64_MAX) {
				int64_t d = mono + (next - now);
				/* A pending alert is due: a full pass then. */
				if (d < next_full)
					next_full = d > mono ? d : mono;
			}
			if (next_full < due)
				due = next_full;
			if (kicked && !nodes && !full) {
				/* Inside the gap: come back for the rest. */
				int64_t k = last_kick_eval + KICK_GAP_MS;
				if (k < due)
					due = k;
				kick_pending = true;
			}
		}
		/* What was decided while leading is carried out even when the
		 * lease was lost since: the next leader restores from it. */
		if (a->qn && mono >= retry_at && !drain(a))
			retry_at = mono + RETRY_MS;
		if ((a->qn || (leading && !restored)) && retry_at < due)
			due = retry_at;
		double cpu = thread_cpu_seconds();
		pthread_mutex_lock(&a->lock);
		a->cpu_seconds = cpu;
		a->backlog = a->qn;
		pthread_mutex_unlock(&a->lock);

		pthread_mutex_lock(&a->wake_lock);
		mono = mono_ms();
		if (!a->stop && !a->kicked && !a->silences_dirty &&
		    due > mono) {
			int64_t at_ms = due;
			struct timespec ts = {
				.tv_sec = at_ms / 1000,
				.tv_nsec = (at_ms % 1000) * 1000000,
			};
			pthread_cond_timedwait(&a->wake, &a->wake_lock, &ts);
		}
		pthread_mutex_unlock(&a->wake_lock);
	}
	if (a->qn)
		drain(a);
	lease_release(a->lease);
	return NULL;
}

int alerter_start(struct alerter *a)
{
	int r = outbox_start(a->outbox);

	if (r < 0)
		return r;
	r = -pthread_create(&a->thread, NULL, run, a);
	if (r == 0)
		a->running = true;
	return r;
}

/* ---- the API ---- */

void alerter_list_json(struct alerter *a, unsigned mask, struct jsonw *w)
{
	pthread_mutex_lock(&a->lock);
	jsonw_kv_bool(w, "leader", a->leader);
	jsonw_kv_str(w, "leader_id", a->leader_id);
	jsonw_kv_time_ms(w, "evaluated_at", a->evaluated_ms);
	jsonw_key(w, "alerts");
	alertengine_list_json(a->e, mask, time_real_ms(), w);
	pthread_mutex_unlock(&a->lock);
}

int alerter_ack(struct alerter *a, const char *id, const char *who,
		const char *comment, struct jsonw *w)
{
	char got[ALERTSTATE_DEDUP_KEY_LEN];
	int r;

	pthread_mutex_lock(&a->lock);
	if (!a->leader) {
		r = -EAGAIN;
		goto out;
	}
	r = alertengine_ack(a->e, id, who, comment, time_real_ms(), got);
	if (r == 0)
		alertengine_alert_json(a->e, got, time_real_ms(), w);
out:
	pthread_mutex_unlock(&a->lock);
	if (r == 0)
		alerter_kick(a);
	return r;
}

void alerter_get_stats(struct alerter *a, struct alerter_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&a->lock);
	ret->leader = a->leader;
	alertengine_get_stats(a->e, &ret->engine);
	ret->rules = alertengine_rules(a->e)->n;
	ret->passes = a->passes;
	ret->pass_seconds = a->pass_seconds;
	ret->db_errors = a->db_errors;
	ret->dropped = a->dropped;
	ret->actions_backlog = a->backlog;
	ret->eval_cpu_seconds = a->cpu_seconds;
	pthread_mutex_unlock(&a->lock);
	outbox_get_stats(a->outbox, &ret->outbox);
}
