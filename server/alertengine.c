/* The alert engine: instances, routing, silences, inhibition, acks; see
 * alertengine.h. ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include "alertengine.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "timeutil.h"

/* Room for a rendered summary or description. */
#define TEXT_MAX (ALERTRULE_MAX_TEMPLATE * 4)

/* What one receiver has had of one instance. */
struct rxstate {
	bool picked;	   /* a route sends this episode to it */
	bool trigger_sent; /* it holds an open trigger */
	bool held;	   /* its trigger was counted as held back (muted) */
	struct alertroute_timing t;
	int64_t last_sent_ms, last_resolve_ms;
	unsigned sends; /* notifications so far, for idempotency keys */
};

struct inst {
	struct inst *next; /* hash chain */
	uint64_t hash;
	char *rule_name, *scope_key, *probe; /* probe NULL if none */
	const struct alertrule *rule;
	struct alertstate st;
	char dedup[ALERTSTATE_DEDUP_KEY_LEN];
	char *summary, *description;
	struct receiver_label *labels;
	size_t nlabels;
	double comps[ALERTENGINE_NCOMPS];
	char *acked_by, *ack_comment;
	int64_t acked_ms;
	struct rxstate *rx; /* one per receiver */
	uint64_t seen_pass;
};

struct alertengine {
	struct alertengine_options opt;
	size_t nrx;
	struct alertrule_set *rules;
	struct inst **bucket;
	size_t nbucket, count;
	struct alertengine_silence *sil;
	size_t nsil;
	uint64_t pass;
	struct alertengine_action *act;
	size_t nact, capact;
	struct alertengine_stats stats;
};

static const double nan_comps[ALERTENGINE_NCOMPS] = { NAN, NAN, NAN, NAN, NAN };

/* ---- the instance table ---- */

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull; /* a separator */
}

static uint64_t key_hash(const char *rule, const char *key, const char *probe)
{
	return fnv(fnv(fnv(14695981039346656037ull, rule), key), probe);
}

static bool streq_null(const char *a, const char *b)
{
	if (!a || !*a)
		return !b || !*b;
	return b && strcmp(a, b) == 0;
}

static struct inst *find(const struct alertengine *e, const char *rule,
			 const char *key, const char *probe)
{
	uint64_t h = key_hash(rule, key, probe);

	for (struct inst *i = e->bucket[h % e->nbucket]; i; i = i->next)
		if (i->hash == h && strcmp(i->rule_name, rule) == 0 &&
		    strcmp(i->scope_key, key) == 0 &&
		    streq_null(i->probe, probe))
			return i;
	return NULL;
}

static int grow(struct alertengine *e)
{
	size_t n = e->nbucket * 2;
	struct inst **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t k = 0; k < e->nbucket; k++)
		for (struct inst *i = e->bucket[k], *nx; i; i = nx) {
			nx = i->next;
			i->next = b[i->hash % n];
			b[i->hash % n] = i;
		}
	free(e->bucket);
	e->bucket = b;
	e->nbucket = n;
	return 0;
}

static void labels_free(struct receiver_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)l[i].name);
		free((char *)l[i].value);
	}
	free(l);
}

static void inst_free(struct inst *i)
{
	free(i->rule_name);
	free(i->scope_key);
	free(i->probe);
	free(i->summary);
	free(i->description);
	labels_free(i->labels, i->nlabels);
	free(i->acked_by);
	free(i->ack_comment);
	free(i->rx);
	free(i);
}

static struct inst *inst_new(struct alertengine *e, const struct alertrule *r,
			     const char *key, const char *probe)
{
	struct alertstate_label id[2];
	struct inst *i;

	if (e->count >= e->nbucket && grow(e) < 0)
		return NULL;
	i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->rule_name = strdup(r->name);
	i->scope_key = strdup(key);
	i->probe = probe && *probe ? strdup(probe) : NULL;
	i->rx = calloc(e->nrx ? e->nrx : 1, sizeof(*i->rx));
	size_t nid = alertrule_identity(r, key, probe, id);
	if (!i->rule_name || !i->scope_key || (probe && *probe && !i->probe) ||
	    !i->rx || alertstate_dedup_key(r->name, id, nid, i->dedup) < 0) {
		inst_free(i);
		return NULL;
	}
	i->rule = r;
	memcpy(i->comps, nan_comps, sizeof(i->comps));
	alertstate_init(&i->st);
	i->hash = key_hash(r->name, key, probe);
	i->next = e->bucket[i->hash % e->nbucket];
	e->bucket[i->hash % e->nbucket] = i;
	e->count++;
	return i;
}

static void inst_remove(struct alertengine *e, struct inst *x)
{
	struct inst **pp = &e->bucket[x->hash % e->nbucket];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			e->count--;
			inst_free(x);
			return;
		}
}

#define FOREACH_INST(e, i)                                                     \
	for (size_t b_ = 0; b_ < (e)->nbucket; b_++)                           \
		for (struct inst *i = (e)->bucket[b_], *nx_ = NULL;            \
		     i && ((nx_ = i->next), true); i = nx_)

/* ---- lifecycle ---- */

int alertengine_new(const struct alertengine_options *opt,
		    struct alertengine **ret)
{
	struct alertengine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->opt = *opt;
	e->nrx = opt->receivers ? opt->receivers->n : 0;
	e->nbucket = 256;
	e->bucket = calloc(e->nbucket, sizeof(*e->bucket));
	e->rules = alertrule_set_new();
	if (!e->bucket || !e->rules) {
		alertengine_free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

static void silences_free(struct alertengine_silence *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		matchers_release(&v[k].m);
	free(v);
}

struct alertengine *alertengine_free(struct alertengine *e)
{
	if (!e)
		return NULL;
	alertengine_clear(e);
	free(e->bucket);
	alertrule_set_free(e->rules);
	silences_free(e->sil, e->nsil);
	alertengine_actions_free(e->act, e->nact);
	free(e);
	return NULL;
}

const struct alertrule_set *alertengine_rules(const struct alertengine *e)
{
	return e->rules;
}

/* ---- actions ---- */

static char *dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *notified_list(const struct alertengine *e, const struct inst *i)
{
	char buf[RECEIVER_MAX * (RECEIVER_NAME_MAX + 1) + 1] = "";
	size_t len = 0;

	for (size_t k = 0; k < e->nrx; k++)
		if (i->rx[k].trigger_sent)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s%s", len ? "," : "",
						e->opt.receivers->v[k].name);
	return strdup(buf);
}

static struct alertengine_action *act_add(struct alertengine *e,
					  const struct inst *i,
					  enum alertengine_action_kind kind,
					  enum alertstate_state from,
					  int64_t now_ms)
{
	struct alertengine_action *a;

	if (e->nact == e->capact) {
		size_t cap = e->capact ? e->capact * 2 : 64;
		a = realloc(e->act, cap * sizeof(*a));
		if (!a)
			return NULL;
		e->act = a;
		e->capact = cap;
	}
	a = &e->act[e->nact++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->ts_ms = now_ms;
	memcpy(a->dedup_key, i->dedup, sizeof(a->dedup_key));
	a->rule = dup0(i->rule_name);
	a->scope_key = dup0(i->scope_key);
	a->probe = dup0(i->probe);
	a->scope = i->rule ? alertrule_scope_name(i->rule->scope) : "node";
	a->severity =
	    i->rule ? alertrule_severity_name(i->rule->severity) : "error";
	a->from = from;
	a->to = i->st.state;
	a->active_since_ms = i->st.active_since_ms;
	a->fired_at_ms = i->st.fired_at_ms;
	a->resolved_at_ms = i->st.resolved_at_ms;
	a->last_true_ms = i->st.last_true_ms;
	a->value = i->st.value;
	a->firing_value = i->st.firing_value;
	a->threshold = i->rule ? i->rule->cond.threshold : NAN;
	a->summary = dup0(i->summary);
	a->description = dup0(i->description);
	a->labels = calloc(i->nlabels ? i->nlabels : 1, sizeof(*a->labels));
	if (a->labels)
		for (size_t k = 0; k < i->nlabels; k++) {
			a->labels[k].name = dup0(i->labels[k].name);
			a->labels[k].value = dup0(i->labels[k].value);
			a->nlabels++;
		}
	memcpy(a->comps, i->comps, sizeof(a->comps));
	a->notified = notified_list(e, i);
	a->acked_by = dup0(i->acked_by);
	a->ack_comment = dup0(i->ack_comment);
	a->acked_ms = i->acked_ms;
	return a;
}

void alertengine_action_release(struct alertengine_action *a)
{
	free(a->rule);
	free(a->scope_key);
	free(a->probe);
	free(a->summary);
	free(a->description);
	labels_free(a->labels, a->nlabels);
	free(a->notified);
	free(a->acked_by);
	free(a->ack_comment);
	memset(a, 0, sizeof(*a));
}

void alertengine_actions_free(struct alertengine_action *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		alertengine_action_release(&v[k]);
	free(v);
}

size_t alertengine_take(struct alertengine *e, struct alertengine_action **ret)
{
	size_t n = e->nact;

	*ret = e->act;
	e->act = NULL;
	e->nact = e->capact = 0;
	return n;
}

static void transition(struct alertengine *e, const struct inst *i,
		       enum alertstate_state from, int64_t now_ms)
{
	e->stats.transitions[i->st.state]++;
	act_add(e, i, ALERTENGINE_TRANSITION, from, now_ms);
}

/* ---- routing, silences, inhibition ---- */

static size_t as_labels(const struct inst *i, struct label *out)
{
	for (size_t k = 0; k < i->nlabels; k++)
		out[k] =
		    (struct label){ i->labels[k].name, i->labels[k].value };
	return i->nlabels;
}

static bool silence_active(const struct alertengine_silence *s, int64_t now)
{
	return s->starts_ms <= now && now < s->ends_ms;
}

static size_t silenced_by(const struct alertengine *e, const struct inst *i,
			  int64_t now_ms, int64_t *ids, size_t max)
{
	struct label l[ALERTENGINE_MAX_LABELS];
	size_t nl = as_labels(i, l), n = 0;

	for (size_t k = 0; k < e->nsil; k++)
		if (silence_active(&e->sil[k], now_ms) &&
		    matchers_match(&e->sil[k].m, l, nl)) {
			if (n < max)
				ids[n] = e->sil[k].id;
			n++;
		}
	return n;
}

/* A node's other alerts are muted while one of its down alerts fires. */
static bool inhibited(const struct alertengine *e, const struct inst *i)
{
	if (!i->rule || i->rule->scope != ALERTRULE_SCOPE_NODE ||
	    i->rule->cond.subject == ALERTRULE_SUBJECT_DOWN)
		return false;
	for (size_t k = 0; k < e->rules->n; k++) {
		const struct alertrule *r = &e->rules->rules[k];
		if (r->scope != ALERTRULE_SCOPE_NODE ||
		    r->cond.subject != ALERTRULE_SUBJECT_DOWN)
			continue;
		const struct inst *d = find(e, r->name, i->scope_key, NULL);
		if (d && d->st.state == ALERTSTATE_FIRING)
			return true;
	}
	return false;
}

static bool muted(const struct alertengine *e, const struct inst *i,
		  int64_t now_ms)
{
	return silenced_by(e, i, now_ms, NULL, 0) > 0 || inhibited(e, i);
}

static void pick_receivers(struct alertengine *e, struct inst *i)
{
	struct label l[ALERTENGINE_MAX_LABELS];
	struct alertroute_pick p[RECEIVER_MAX];
	size_t nl = as_labels(i, l);
	size_t n = alertroute_select(e->opt.routes, e->nrx, l, nl, p);

	for (size_t k = 0; k < e->nrx; k++)
		i->rx[k].picked = i->rx[k].held = false;
	for (size_t k = 0; k < n; k++)
		if (p[k].rx < e->nrx) {
			i->rx[p[k].rx].picked = true;
			i->rx[p[k].rx].t = p[k].timing;
		}
}

static int64_t repeat_ms(const struct alertengine *e, const struct inst *i,
			 size_t k)
{
	int64_t rep = (int64_t)(i->rx[k].t.repeat_interval * 1000);

	if (e->opt.receivers->v[k].kind == RECEIVER_ALERTMANAGER &&
	    rep > ALERTENGINE_AM_RESEND_MS)
		rep = ALERTENGINE_AM_RESEND_MS;
	return rep;
}

/* When receiver k may get the first trigger of this episode. */
static int64_t first_due(const struct inst *i, size_t k)
{
	const struct rxstate *r = &i->rx[k];
	int64_t due = i->st.fired_at_ms + (int64_t)(r->t.group_wait * 1000);

	if (r->last_resolve_ms > 0) {
		int64_t gi =
		    r->last_resolve_ms + (int64_t)(r->t.group_interval * 1000);
		if (gi > due)
			due = gi;
	}
	return due;
}

static void notify(struct alertengine *e, struct inst *i, size_t k,
		   bool resolve, int64_t now_ms)
{
	struct rxstate *r = &i->rx[k];

	if (resolve) {
		r->trigger_sent = false;
		r->last_resolve_ms = now_ms;
	} else {
		r->trigger_sent = true;
	}
	r->last_sent_ms = now_ms;
	r->sends++;
	struct alertengine_action *a =
	    act_add(e, i, ALERTENGINE_NOTIFY, i->st.state, now_ms);
	if (!a)
		return;
	a->rx = (unsigned)k;
	a->resolve = resolve;
	/* Unique per notification, the same when the alerter retries it:
	 * an enqueue that broke half way is then written once. */
	snprintf(a->idem_key, sizeof(a->idem_key), "%.32s:%" PRId64 ":%u:%s",
		 i->dedup, now_ms, r->sends, resolve ? "resolve" : "trigger");
	e->stats.notifications++;
}

/* Send what the instance's state and the timers call for now. */
static void update(struct alertengine *e, struct inst *i, int64_t now_ms)
{
	bool firing = i->st.state == ALERTSTATE_FIRING;
	int mute = -1; /* computed once, when needed */

	for (size_t k = 0; k < e->nrx; k++) {
		struct rxstate *r = &i->rx[k];
		if (!firing) {
			if (r->trigger_sent)
				notify(e, i, k, true, now_ms);
			continue;
		}
		if (!r->picked)
			continue;
		if (mute < 0)
			mute = muted(e, i, now_ms);
		if (!r->trigger_sent) {
			if (mute) {
				/* Counted once per trigger held back. */
				e->stats.muted += !r->held;
				r->held = true;
				continue;
			}
			if (now_ms >= first_due(i, k))
				notify(e, i, k, false, now_ms);
			continue;
		}
		/* Alertmanager ends an alert that is not re-sent within its
		 * resolve_timeout: it hears of every firing alert it holds,
		 * acked or muted here or not (it has silences of its own). */
		bool am = e->opt.receivers->v[k].kind == RECEIVER_ALERTMANAGER;
		if ((am || (!i->acked_by && !mute)) &&
		    now_ms >= r->last_sent_ms + repeat_ms(e, i, k))
			notify(e, i, k, false, now_ms);
	}
}

/* ---- evaluation ---- */

/* What a template may name besides the instance itself. */
struct label_ctx {
	const struct label *l;
	size_t n;
	const char *service; /* of the probe, for per-probe rules */
};

static const char *node_label(void *user, const char *key)
{
	const struct label_ctx *c = user;

	for (size_t k = 0; c && k < c->n; k++)
		if (strcmp(c->l[k].name, key) == 0)
			return c->l[k].value;
	return NULL;
}

static bool have_label(const struct receiver_label *l, size_t n,
		       const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(l[k].name, name) == 0)
			return true;
	return false;
}

static void add_label(struct receiver_label *l, size_t *n, const char *name,
		      const char *value)
{
	if (*n >= ALERTENGINE_MAX_LABELS || have_label(l, *n, name) || !value)
		return;
	char *k = strdup(name), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	l[*n] = (struct receiver_label){ k, v };
	(*n)++;
}

/* The labels an instance is routed and silenced by: alertname, severity,
 * scope, the identity (node or service, probe), the rule's labels, then
 * the node's own. */
static void set_labels(struct inst *i, const struct label_ctx *node)
{
	const struct alertrule *r = i->rule;
	struct receiver_label *l = calloc(ALERTENGINE_MAX_LABELS, sizeof(*l));
	size_t n = 0;

	if (!l)
		return;
	add_label(l, &n, "alertname", r->name);
	add_label(l, &n, "severity", alertrule_severity_name(r->severity));
	add_label(l, &n, "scope", alertrule_scope_name(r->scope));
	if (r->scope == ALERTRULE_SCOPE_NODE)
		add_label(l, &n, "node", i->scope_key);
	else if (r->scope == ALERTRULE_SCOPE_SERVICE)
		add_label(l, &n, "service", i->scope_key);
	if (i->probe)
		add_label(l, &n, "probe", i->probe);
	for (size_t k = 0; k < r->nlabels; k++)
		add_label(l, &n, r->labels[k].key, r->labels[k].value);
	for (size_t k = 0; node && k < node->n; k++)
		add_label(l, &n, node->l[k].name, node->l[k].value);
	labels_free(i->labels, i->nlabels);
	i->labels = l;
	i->nlabels = n;
}

static void render(struct inst *i, const struct label_ctx *node, double value)
{
	const struct alertrule *r = i->rule;
	struct alertrule_ctx c = {
		.rule = r,
		.node = r->scope == ALERTRULE_SCOPE_NODE ? i->scope_key : NULL,
		.service = r->scope == ALERTRULE_SCOPE_SERVICE ? i->scope_key
			   : node			       ? node->service
							       : NULL,
		.probe = i->probe,
		.value = value,
		.node_label = node_label,
		.user = (void *)node,
	};
	char *buf = malloc(TEXT_MAX);

	if (!buf)
		return;
	alertrule_render(r->summary, &c, buf, TEXT_MAX);
	free(i->summary);
	i->summary = strdup(buf);
	alertrule_render(r->description, &c, buf, TEXT_MAX);
	free(i->description);
	i->description = strdup(buf);
	free(buf);
}

static void clear_ack(struct inst *i)
{
	free(i->acked_by);
	free(i->ack_comment);
	i->acked_by = i->ack_comment = NULL;
	i->acked_ms = 0;
}

/* Step one instance of rule r; create it when its condition first holds. */
static void eval_one(struct alertengine *e, const struct alertrule *r,
		     const char *key, const char *probe, double value,
		     const struct label_ctx *node, const double *comps,
		     int64_t now_ms)
{
	bool cond = alertrule_condition_holds(&r->cond, value);
	struct inst *i = find(e, r->name, key, probe);

	if (!i && !cond)
		return;
	if (!i && !(i = inst_new(e, r, key, probe)))
		return;
	i->seen_pass = e->pass;
	if (comps)
		memcpy(i->comps, comps, sizeof(i->comps));
	enum alertstate_state from = i->st.state;
	enum alertstate_transition tr =
	    alertstate_step(&i->st, &r->timing, now_ms, cond, value);
	if (tr == ALERTSTATE_TO_PENDING || tr == ALERTSTATE_TO_FIRING) {
		set_labels(i, node);
		render(i, node, value);
	}
	/* An ack given while pending holds for the episode. */
	if (tr == ALERTSTATE_TO_FIRING)
		pick_receivers(e, i);
	if (from != i->st.state)
		transition(e, i, from, now_ms);
	if (tr == ALERTSTATE_TO_FIRING || tr == ALERTSTATE_TO_RESOLVED) {
		update(e, i, now_ms);
		if (tr == ALERTSTATE_TO_RESOLVED)
			clear_ack(i);
	}
	if (i->st.state == ALERTSTATE_INACTIVE)
		inst_remove(e, i);
}

void alertengine_begin_pass(struct alertengine *e)
{
	e->pass++;
}

void alertengine_node(struct alertengine *e, const struct alertengine_node *n,
		      int64_t now_ms)
{
	struct label_ctx node = { n->labels, n->nlabels, NULL };

	for (size_t k = 0; k < e->rules->n; k++) {
		const struct alertrule *r = &e->rules->rules[k];
		if (r->scope != ALERTRULE_SCOPE_NODE)
			continue;
		if (!alertrule_subject_per_probe(r->cond.subject)) {
			eval_one(e, r, n->id, NULL, n->value[r->cond.subject],
				 &node, n->comps, now_ms);
			continue;
		}
		for (size_t p = 0; p < n->nprobes; p++) {
			const struct alertengine_probe *pr = &n->probes[p];
			if (!pr->name || !*pr->name)
				continue;
			double v = r->cond.subject ==
					   ALERTRULE_SUBJECT_PROBE_ERROR_RATE
				       ? pr->error_rate
				       : pr->p99_over_slo;
			node.service = pr->service;
			eval_one(e, r, n->id, pr->name, v, &node, n->comps,
				 now_ms);
			node.service = NULL;
		}
	}
}

void alertengine_service(struct alertengine *e, const char *name, double score,
			 double failing_probes, int64_t now_ms)
{
	for (size_t k = 0; k < e->rules->n; k++) {
		const struct alertrule *r = &e->rules->rules[k];
		if (r->scope != ALERTRULE_SCOPE_SERVICE)
			continue;
		double v = r->cond.subject == ALERTRULE_SUBJECT_SCORE ? score
			   : r->cond.subject == ALERTRULE_SUBJECT_FAILING_PROBES
			       ? failing_probes
			       : NAN;
		eval_one(e, r, name, NULL, v, NULL, NULL, now_ms);
	}
}

void alertengine_fleet(struct alertengine *e, double score, double nodes_down,
		       double compliance_ratio, int64_t now_ms)
{
	for (size_t k = 0; k < e->rules->n; k++) {
		const struct alertrule *r = &e->rules->rules[k];
		if (r->scope != ALERTRULE_SCOPE_FLEET)
			continue;
		double v =
		    r->cond.subject == ALERTRULE_SUBJECT_SCORE ? score
		    : r->cond.subject == ALERTRULE_SUBJECT_NODES_DOWN
			? nodes_down
		    : r->cond.subject == ALERTRULE_SUBJECT_COMPLIANCE_RATIO
			? compliance_ratio
			: NAN;
		eval_one(e, r, "", NULL, v, NULL, NULL, now_ms);
	}
}

void alertengine_end_pass(struct alertengine *e, int64_t now_ms)
{
	FOREACH_INST(e, i)
	{
		if (i->seen_pass == e->pass || !i->rule)
			continue;
		eval_one(e, i->rule, i->scope_key, i->probe, NAN, NULL, NULL,
			 now_ms);
	}
}

void alertengine_tick(struct alertengine *e, int64_t now_ms)
{
	FOREACH_INST(e, i)
	{
		if (i->st.state == ALERTSTATE_FIRING)
			update(e, i, now_ms);
	}
}

static void min_due(int64_t *due, int64_t t, int64_t now_ms)
{
	if (t > now_ms && t < *due)
		*due = t;
	else if (t <= now_ms && now_ms < *due)
		*due = now_ms;
}

int64_t alertengine_next_due_ms(const struct alertengine *e, int64_t now_ms)
{
	int64_t due = INT64_MAX;

	for (size_t k = 0; k < e->nsil; k++) {
		if (e->sil[k].starts_ms > now_ms)
			min_due(&due, e->sil[k].starts_ms, now_ms);
		if (e->sil[k].ends_ms > now_ms)
			min_due(&due, e->sil[k].ends_ms, now_ms);
	}
	FOREACH_INST(e, i)
	{
		if (!i->rule)
			continue;
		if (i->st.state == ALERTSTATE_PENDING)
			min_due(&due,
				i->st.active_since_ms + i->rule->timing.for_ms,
				now_ms);
		if (i->st.state != ALERTSTATE_FIRING)
			continue;
		if (i->st.last_true_ms < i->st.last_eval_ms)
			min_due(&due,
				i->st.last_true_ms +
				    i->rule->timing.keep_firing_for_ms,
				now_ms);
		int mute = -1; /* a muted trigger waits for a silence's end */
		for (size_t k = 0; k < e->nrx; k++) {
			const struct rxstate *r = &i->rx[k];
			if (!r->picked)
				continue;
			if (mute < 0)
				mute = muted(e, i, now_ms);
			bool am = e->opt.receivers->v[k].kind ==
				  RECEIVER_ALERTMANAGER;
			if (!r->trigger_sent && !mute)
				min_due(&due, first_due(i, k), now_ms);
			else if (r->trigger_sent &&
				 (am || (!i->acked_by && !mute)))
				min_due(&due,
					r->last_sent_ms + repeat_ms(e, i, k),
					now_ms);
		}
	}
	return due;
}

/* ---- rules ---- */

/* The same kind of instance under the new definition: a rule whose scope
 * or per-probe-ness changed has other instances. */
static bool compatible(const struct alertrule *a, const struct alertrule *b)
{
	return a->scope == b->scope &&
	       alertrule_subject_per_probe(a->cond.subject) ==
		   alertrule_subject_per_probe(b->cond.subject);
}

/* Close what an instance opened, and forget it. */
static void drop(struct alertengine *e, struct inst *i, int64_t now_ms)
{
	enum alertstate_state from = i->st.state;

	if (from == ALERTSTATE_FIRING) {
		i->st.state = ALERTSTATE_RESOLVED;
		i->st.resolved_at_ms = now_ms;
	}
	update(e, i, now_ms); /* resolves where a trigger is open */
	i->st.state = ALERTSTATE_INACTIVE;
	act_add(e, i, ALERTENGINE_TRANSITION, from, now_ms);
	inst_remove(e, i);
}

void alertengine_set_rules(struct alertengine *e, struct alertrule_set *rules,
			   int64_t now_ms)
{
	FOREACH_INST(e, i)
	{
		const struct alertrule *n =
		    alertrule_set_find(rules, i->rule_name);
		if (n && i->rule && compatible(i->rule, n)) {
			i->rule = n;
			continue;
		}
		drop(e, i, now_ms);
	}
	alertrule_set_free(e->rules);
	e->rules = rules;
}

void alertengine_clear(struct alertengine *e)
{
	FOREACH_INST(e, i)
	inst_remove(e, i);
	alertengine_actions_free(e->act, e->nact);
	e->act = NULL;
	e->nact = e->capact = 0;
}

/* ---- silences, acks, restore ---- */

int alertengine_set_silences(struct alertengine *e,
			     struct alertengine_silence *v, size_t n)
{
	struct alertengine_silence *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		c[k] = v[k];
		memset(&v[k].m, 0, sizeof(v[k].m));
	}
	silences_free(e->sil, e->nsil);
	e->sil = c;
	e->nsil = n;
	return 0;
}

static bool hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n >= ALERTSTATE_DEDUP_KEY_LEN)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

static int lookup(const struct alertengine *e, const char *id,
		  struct inst **ret)
{
	struct inst *hit = NULL;
	size_t n = strlen(id ? id : "");

	if (!id || !hex_prefix(id))
		return -EINVAL;
	FOREACH_INST(e, i)
	{
		if (strncmp(i->dedup, id, n) != 0)
			continue;
		if (hit)
			return -ENOTUNIQ;
		hit = i;
	}
	if (!hit)
		return -ENOENT;
	*ret = hit;
	return 0;
}

int alertengine_ack(struct alertengine *e, const char *id, const char *who,
		    const char *comment, int64_t now_ms,
		    char ret_id[ALERTSTATE_DEDUP_KEY_LEN])
{
	struct inst *i = NULL;
	int r = lookup(e, id, &i);

	if (r < 0)
		return r;
	if (i->st.state != ALERTSTATE_PENDING &&
	    i->st.state != ALERTSTATE_FIRING)
		return -EBUSY;
	char *w = strdup(who && *who ? who : "unknown");
	char *c = strdup(comment ? comment : "");
	if (!w || !c) {
		free(w);
		free(c);
		return -ENOMEM;
	}
	clear_ack(i);
	i->acked_by = w;
	i->ack_comment = c;
	i->acked_ms = now_ms;
	act_add(e, i, ALERTENGINE_ACK, i->st.state, now_ms);
	memcpy(ret_id, i->dedup, ALERTSTATE_DEDUP_KEY_LEN);
	return 0;
}

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && strncmp(p, name, n) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

int alertengine_restore(struct alertengine *e,
			const struct alertengine_saved *s, int64_t now_ms)
{
	const struct alertrule *r = alertrule_set_find(e->rules, s->rule);
	struct alertrule ghost;
	struct inst *i;

	if (!s->rule || !s->scope_key ||
	    (s->state != ALERTSTATE_PENDING && s->state != ALERTSTATE_FIRING &&
	     s->state != ALERTSTATE_RESOLVED))
		return -EINVAL;
	if (r && find(e, s->rule, s->scope_key, s->probe))
		return -EEXIST;
	if (!r) {
		/* A rule removed while this replica was not leading: the
		 * instance only needs its open triggers resolved. */
		memset(&ghost, 0, sizeof(ghost));
		snprintf(ghost.name, sizeof(ghost.name), "%s", s->rule);
		ghost.scope = ALERTRULE_SCOPE_NODE;
		ghost.cond.subject = s->probe && *s->probe
					 ? ALERTRULE_SUBJECT_PROBE_ERROR_RATE
					 : ALERTRULE_SUBJECT_DOWN;
		ghost.severity = ALERTRULE_SEVERITY_ERROR;
		r = &ghost;
	}
	i = inst_new(e, r, s->scope_key, s->probe);
	if (!i)
		return -ENOMEM;
	/* The stored key, not one derived again: an incident opened under
	 * it must be the one resolved. */
	if (s->dedup_key &&
	    strlen(s->dedup_key) == ALERTSTATE_DEDUP_KEY_LEN - 1)
		memcpy(i->dedup, s->dedup_key, ALERTSTATE_DEDUP_KEY_LEN);
	i->st.state = s->state;
	i->st.active_since_ms = s->active_since_ms;
	i->st.fired_at_ms = s->fired_at_ms;
	i->st.resolved_at_ms = s->resolved_at_ms;
	i->st.last_true_ms = s->last_true_ms;
	i->st.last_eval_ms = s->last_true_ms;
	i->st.value = s->value;
	i->st.firing_value = s->firing_value;
	i->summary = dup0(s->summary);
	i->description = dup0(s->description);
	if (s->acked_by && *s->acked_by) {
		i->acked_by = dup0(s->acked_by);
		i->ack_comment = dup0(s->ack_comment ? s->ack_comment : "");
		i->acked_ms = s->acked_ms;
	}
	i->labels = calloc(ALERTENGINE_MAX_LABELS, sizeof(*i->labels));
	for (size_t k = 0; i->labels && k < s->nlabels; k++)
		add_label(i->labels, &i->nlabels, s->labels[k].name,
			  s->labels[k].value);
	if (r != &ghost && i->st.state == ALERTSTATE_FIRING)
		pick_receivers(e, i);
	for (size_t k = 0; k < e->nrx; k++)
		if (in_list(s->notified, e->opt.receivers->v[k].name)) {
			i->rx[k].trigger_sent = true;
			i->rx[k].last_sent_ms = now_ms;
		}
	if (r == &ghost) {
		i->rule = NULL;
		drop(e, i, now_ms);
	} else if (i->st.state == ALERTSTATE_RESOLVED) {
		/* Saved as resolved with triggers still open: the old leader
		 * stopped between recording the resolve and queueing it. */
		update(e, i, now_ms);
	}
	return 0;
}

/* ---- notifications ---- */

static const char *const comp_names[ALERTENGINE_NCOMPS] = {
	"score", "liveness", "resources", "probes", "compliance"
};

void alertengine_action_alert(const struct alertengine_action *a,
			      const struct alertengine *e,
			      struct receiver_component *components,
			      struct receiver_alert *out)
{
	size_t nc = 0;

	for (size_t k = 0; k < ALERTENGINE_NCOMPS; k++)
		if (isfinite(a->comps[k]))
			components[nc++] =
			    (struct receiver_component){ comp_names[k],
							 a->comps[k] };
	*out = (struct receiver_alert){
		.rule = a->rule,
		.severity = a->severity,
		.resolved = a->resolve,
		.dedup_key = a->dedup_key,
		.summary = a->summary && *a->summary ? a->summary : a->rule,
		.description = a->description,
		.scope = a->scope,
		.key = strcmp(a->scope, "fleet") == 0 ? NULL : a->scope_key,
		.value = a->resolve ? a->value : a->firing_value,
		.threshold = a->threshold,
		.labels = a->labels,
		.nlabels = a->nlabels,
		.components = components,
		.ncomponents = nc,
		.started_ms = a->fired_at_ms,
		.ended_ms = a->resolve ? a->ts_ms : 0,
		.api_base = e->opt.api_base,
		.grafana_base = e->opt.grafana_base,
	};
}

void alertengine_action_labels_json(const struct alertengine_action *a,
				    struct jsonw *w)
{
	jsonw_obj_begin(w);
	for (size_t k = 0; k < a->nlabels; k++)
		jsonw_kv_str(w, a->labels[k].name, a->labels[k].value);
	jsonw_obj_end(w);
}

/* ---- the API ---- */

static void alert_json(const struct alertengine *e, const struct inst *i,
		       int64_t now_ms, struct jsonw *w)
{
	int64_t ids[ALERTENGINE_MAX_SILENCED_BY];
	size_t ns = silenced_by(e, i, now_ms, ids, ARRAY_SIZE(ids));

	jsonw_obj_begin(w);
	jsonw_kv_str(w, "id", i->dedup);
	jsonw_kv_str(w, "rule", i->rule_name);
	jsonw_kv_str(w, "scope",
		     i->rule ? alertrule_scope_name(i->rule->scope) : "node");
	jsonw_kv_str(w, "key", i->scope_key);
	jsonw_kv_str_or_null(w, "probe", i->probe);
	jsonw_kv_str(w, "state", alertstate_state_name(i->st.state));
	jsonw_kv_str(w, "severity",
		     i->rule ? alertrule_severity_name(i->rule->severity)
			     : "error");
	jsonw_kv_double(w, "value", i->st.value);
	jsonw_kv_double(w, "threshold",
			i->rule ? i->rule->cond.threshold : NAN);
	jsonw_kv_time_ms(w, "active_since", i->st.active_since_ms);
	jsonw_kv_time_ms(w, "fired_at", i->st.fired_at_ms);
	jsonw_kv_time_ms(w, "resolved_at", i->st.resolved_at_ms);
	jsonw_kv_str(w, "summary", i->summary ? i->summary : "");
	jsonw_kv_str(w, "description", i->description ? i->description : "");
	jsonw_key(w, "labels");
	jsonw_obj_begin(w);
	for (size_t k = 0; k < i->nlabels; k++)
		jsonw_kv_str(w, i->labels[k].name, i->labels[k].value);
	jsonw_obj_end(w);
	jsonw_key(w, "silenced_by");
	jsonw_arr_begin(w);
	for (size_t k = 0; k < ns && k < ARRAY_SIZE(ids); k++)
		jsonw_i64(w, ids[k]);
	jsonw_arr_end(w);
	jsonw_kv_bool(w, "inhibited", inhibited(e, i));
	jsonw_kv_str_or_null(w, "acked_by", i->acked_by);
	jsonw_kv_time_ms(w, "acked_at", i->acked_ms);
	jsonw_key(w, "notified");
	jsonw_arr_begin(w);
	for (size_t k = 0; k < e->nrx; k++)
		if (i->rx[k].trigger_sent)
			jsonw_str(w, e->opt.receivers->v[k].name);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static int inst_order(const void *pa, const void *pb)
{
	const struct inst *a = *(const struct inst *const *)pa;
	const struct inst *b = *(const struct inst *const *)pb;
	static const int rank[] = { 3, 1, 0, 2 }; /* firing, pending, ... */
	int c = rank[a->st.state] - rank[b->st.state];

	if (c)
		return c;
	if ((c = strcmp(a->rule_name, b->rule_name)))
		return c;
	if ((c = strcmp(a->scope_key, b->scope_key)))
		return c;
	return strcmp(a->probe ? a->probe : "", b->probe ? b->probe : "");
}

void alertengine_list_json(const struct alertengine *e, unsigned mask,
			   int64_t now_ms, struct jsonw *w)
{
	struct inst **v = calloc(e->count ? e->count : 1, sizeof(*v));
	size_t n = 0;

	jsonw_arr_begin(w);
	if (!v) {
		jsonw_arr_end(w);
		return;
	}
	FOREACH_INST(e, i)
	{
		if (mask & (1u << i->st.state))
			v[n++] = i;
	}
	qsort(v, n, sizeof(*v), inst_order);
	for (size_t k = 0; k < n; k++)
		alert_json(e, v[k], now_ms, w);
	jsonw_arr_end(w);
	free(v);
}

int alertengine_alert_json(const struct alertengine *e, const char *id,
			   int64_t now_ms, struct jsonw *w)
{
	FOREACH_INST(e, i)
	{
		if (strcmp(i->dedup, id) == 0) {
			alert_json(e, i, now_ms, w);
			return 0;
		}
	}
	return -ENOENT;
}

void alertengine_get_stats(const struct alertengine *e,
			   struct alertengine_stats *ret)
{
	*ret = e->stats;
	ret->pending = ret->firing = ret->resolved = 0;
	FOREACH_INST(e, i)
	{
		if (i->st.state == ALERTSTATE_PENDING)
			ret->pending++;
		else if (i->st.state == ALERTSTATE_FIRING)
			ret->firing++;
		else if (i->st.state == ALERTSTATE_RESOLVED)
			ret->resolved++;
	}
}
