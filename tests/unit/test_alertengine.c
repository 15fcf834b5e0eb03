/* The alert engine on a fake clock: what is recorded and sent at each
 * step, through routes, group_wait, group_interval, repeats, silences,
 * inhibition, acks, rule reloads and restores.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alertengine.h"
#include "buf.h"
#include "check_main.h"
#include "cleanup.h"

#define S  1000LL
#define M  (60 * S)
#define H  (60 * M)
#define T0 1795541410000LL

static const char RULES[] = "constitutional_hash: cdd01ef066bc6cf2\n"
			    "rules:\n"
			    "  - name: NodeDown\n"
			    "    scope: node\n"
			    "    condition: down == 1\n"
			    "    for: 1m\n"
			    "    severity: critical\n"
			    "    summary: \"Node {{node}} is down\"\n"
			    "  - name: CPUHigh\n"
			    "    scope: node\n"
			    "    condition: cpu > 0.9\n"
			    "    for: 2m\n"
			    "    severity: warning\n"
			    "    labels: {team: ops}\n"
			    "    summary: \"CPU of {{node}} at {{value}}\"\n"
			    "  - name: ProbeErrors\n"
			    "    scope: node\n"
			    "    condition: probe_error_rate > 0.05\n"
			    "    for: 0s\n"
			    "    severity: error\n"
			    "    summary: \"{{probe}} on {{node}} fails\"\n"
			    "  - name: FleetLow\n"
			    "    scope: fleet\n"
			    "    condition: score < 0.8\n"
			    "    for: 0s\n"
			    "    severity: critical\n"
			    "    summary: \"fleet {{value}}\"\n";

struct fx {
	struct receiver_set rs;
	struct alertroute_set routes;
	struct alertengine *e;
	struct alertengine_action *act;
	size_t nact;
};

static void add_receiver(struct receiver_set *rs, enum receiver_kind k,
			 const char *name)
{
	struct receiver *r = &rs->v[rs->n++];
	memset(r, 0, sizeof(*r));
	r->kind = k;
	snprintf(r->name, sizeof(r->name), "%s", name);
}

/* routes: INI "[route NAME]" text or NULL for none. */
static void fx_init(struct fx *f, const char *routes)
{
	struct conf_error err;
	struct alertrule_set *rules = alertrule_set_new();
	char e[ALERTRULE_ERR_LEN];

	memset(f, 0, sizeof(*f));
	add_receiver(&f->rs, RECEIVER_PAGERDUTY, "pd");
	add_receiver(&f->rs, RECEIVER_SLACK, "chat");
	if (routes) {
		char sec[64] = "";
		char line[256];
		const char *p = routes;
		while (*p) {
			size_t n = strcspn(p, "\n");
			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			p += n + (p[n] == '\n');
			if (line[0] == '[') {
				snprintf(sec, sizeof(sec), "%.*s",
					 (int)strlen(line) - 2, line + 1);
				continue;
			}
			char *eq = strstr(line, " = ");
			ck_assert_ptr_nonnull(eq);
			*eq = '\0';
			ck_assert_int_eq(alertroute_conf_parse(&f->routes, sec,
							       line, eq + 3,
							       &err),
					 0);
		}
		ck_assert_msg(
		    alertroute_conf_finish(&f->routes, &f->rs, &err) == 0, "%s",
		    err.msg);
	}
	ck_assert_int_eq(alertrule_set_add_string(rules, "t.yaml", RULES,
						  strlen(RULES), e, sizeof(e)),
			 0);
	struct alertengine_options o = { &f->rs, &f->routes, NULL, NULL };
	ck_assert_int_eq(alertengine_new(&o, &f->e), 0);
	alertengine_set_rules(f->e, rules, T0);
}

static void fx_take(struct fx *f)
{
	alertengine_actions_free(f->act, f->nact);
	f->nact = alertengine_take(f->e, &f->act);
}

static void fx_free(struct fx *f)
{
	alertengine_actions_free(f->act, f->nact);
	alertengine_free(f->e);
	alertroute_set_release(&f->routes);
}

/* A node's values: down and cpu; everything else absent. */
static void node(struct fx *f, const char *id, double down, double cpu,
		 int64_t at)
{
	struct alertengine_node n = { .id = id };
	static const struct label labels[] = { { "team", "web" },
					       { "rack", "r1" } };

	for (size_t k = 0; k < ALERTRULE_SUBJECT_COUNT_; k++)
		n.value[k] = NAN;
	for (size_t k = 0; k < ALERTENGINE_NCOMPS; k++)
		n.comps[k] = 0.5;
	n.value[ALERTRULE_SUBJECT_DOWN] = down;
	n.value[ALERTRULE_SUBJECT_CPU] = cpu;
	n.labels = labels;
	n.nlabels = 2;
	alertengine_node(f->e, &n, T0 + at);
	alertengine_tick(f->e, T0 + at);
	fx_take(f);
}

static void tick(struct fx *f, int64_t at)
{
	alertengine_tick(f->e, T0 + at);
	fx_take(f);
}

/* How many notifications of this event to this receiver the last step
 * produced (rule NULL: any). */
static size_t sent(const struct fx *f, const char *rule, const char *rx,
		   bool resolve)
{
	size_t n = 0;

	for (size_t k = 0; k < f->nact; k++) {
		const struct alertengine_action *a = &f->act[k];
		if (a->kind != ALERTENGINE_NOTIFY || a->resolve != resolve)
			continue;
		if (rule && strcmp(a->rule, rule) != 0)
			continue;
		if (strcmp(f->rs.v[a->rx].name, rx) == 0)
			n++;
	}
	return n;
}

static size_t notifications(const struct fx *f)
{
	size_t n = 0;

	for (size_t k = 0; k < f->nact; k++)
		n += f->act[k].kind == ALERTENGINE_NOTIFY;
	return n;
}

static const struct alertengine_action *transition(const struct fx *f,
						   enum alertstate_state to)
{
	for (size_t k = 0; k < f->nact; k++)
		if (f->act[k].kind == ALERTENGINE_TRANSITION &&
		    f->act[k].to == to)
			return &f->act[k];
	return NULL;
}

START_TEST(test_trigger_once_then_resolve)
{
	struct fx f;
	char key[ALERTSTATE_DEDUP_KEY_LEN];

	fx_init(&f, NULL);
	node(&f, "web-1", 1, 0.1, 0);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_PENDING));
	ck_assert_uint_eq(notifications(&f), 0);
	ck_assert_int_eq(alertengine_next_due_ms(f.e, T0), T0 + M);
	node(&f, "web-1", 1, 0.1, 59 * S);
	ck_assert_uint_eq(notifications(&f), 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_FIRING));
	/* No route: every receiver, once each. */
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", false), 1);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", false), 1);
	ck_assert_uint_eq(notifications(&f), 2);
	memcpy(key, f.act[1].dedup_key, sizeof(key));
	ck_assert_str_eq(f.act[1].summary, "Node web-1 is down");
	ck_assert_str_eq(f.act[1].notified, "pd");
	for (int64_t t = M + S; t < 10 * M; t += 10 * S) {
		node(&f, "web-1", 1, 0.1, t);
		ck_assert_uint_eq(f.nact, 0);
	}
	node(&f, "web-1", 0, 0.1, 10 * M);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_RESOLVED));
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", true), 1);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", true), 1);
	for (size_t k = 0; k < f.nact; k++)
		ck_assert_str_eq(f.act[k].dedup_key, key);
	/* The idempotency keys of the trigger and resolve differ. */
	struct receiver_component c[ALERTENGINE_NCOMPS];
	struct receiver_alert ra;
	alertengine_action_alert(&f.act[1], f.e, c, &ra);
	ck_assert(ra.resolved);
	ck_assert_str_eq(ra.key, "web-1");
	ck_assert_uint_eq(ra.ncomponents, ALERTENGINE_NCOMPS);
	/* Kept resolved for 15 minutes, then dropped (recorded). */
	node(&f, "web-1", 0, 0.1, 10 * M + ALERTSTATE_RESOLVED_RETENTION_MS);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_INACTIVE));
	ck_assert_uint_eq(notifications(&f), 0);
	fx_free(&f);
}
END_TEST

START_TEST(test_flapping_never_sends)
{
	struct fx f;

	fx_init(&f, NULL);
	for (int64_t t = 0; t < 30 * M; t += 20 * S) {
		bool high = (t / (40 * S)) % 2 == 0; /* 40 s high, 40 s low */
		node(&f, "web-1", 0, high ? 0.95 : 0.2, t);
		ck_assert_uint_eq(notifications(&f), 0);
	}
	fx_free(&f);
}
END_TEST

START_TEST(test_routes)
{
	struct fx f;

	fx_init(&f, "[route pages]\n"
		    "match = severity=critical\n"
		    "receivers = pd\n"
		    "continue = true\n"
		    "[route everything-ops]\n"
		    "match = team=~ops|web\n"
		    "receivers = chat\n");
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	/* critical → pd, and continue → the ops route: the node's own
	 * label team=web matches. */
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", false), 1);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", false), 1);
	node(&f, "web-1", 0, 0.95, 2 * M);
	node(&f, "web-1", 0, 0.95, 4 * M);
	/* warning, team=ops (the rule's label wins over the node's) → chat
	 * only */
	ck_assert_uint_eq(sent(&f, "CPUHigh", "pd", false), 0);
	ck_assert_uint_eq(sent(&f, "CPUHigh", "chat", false), 1);
	fx_free(&f);

	fx_init(&f, "[route only-db]\n"
		    "match = node=db-1\n"
		    "receivers = chat\n");
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_FIRING));
	ck_assert_uint_eq(notifications(&f), 0); /* no route matches */
	fx_free(&f);
}
END_TEST

START_TEST(test_group_wait_and_interval)
{
	struct fx f;

	fx_init(&f, "[route r]\n"
		    "receivers = pd\n"
		    "group_wait = 30s\n"
		    "group_interval = 5m\n");
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_uint_eq(notifications(&f), 0);
	ck_assert_int_eq(alertengine_next_due_ms(f.e, T0 + M), T0 + M + 30 * S);
	tick(&f, M + 29 * S);
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, M + 30 * S);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	node(&f, "web-1", 0, 0.1, 2 * M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", true), 1);
	/* Down again at once: fires after for, but the trigger waits for
	 * group_interval after the resolve. */
	node(&f, "web-1", 1, 0.1, 2 * M + S);
	node(&f, "web-1", 1, 0.1, 3 * M + S);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_FIRING));
	ck_assert_uint_eq(notifications(&f), 0);
	ck_assert_int_eq(alertengine_next_due_ms(f.e, T0 + 3 * M + S),
			 T0 + 7 * M);
	tick(&f, 7 * M - 1);
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, 7 * M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	fx_free(&f);

	/* Resolved inside group_wait: nothing is ever sent. */
	fx_init(&f, "[route r]\n"
		    "receivers = pd\n"
		    "group_wait = 30s\n");
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	node(&f, "web-1", 0, 0.1, M + 10 * S);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_RESOLVED));
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, 5 * M);
	ck_assert_uint_eq(notifications(&f), 0);
	fx_free(&f);
}
END_TEST

START_TEST(test_repeat_and_ack)
{
	struct fx f;
	char id[ALERTSTATE_DEDUP_KEY_LEN];

	fx_init(&f, "[route r]\n"
		    "receivers = pd\n"
		    "repeat_interval = 1h\n");
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	memcpy(id, f.act[1].dedup_key, sizeof(id));
	tick(&f, M + H - 1);
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, M + H);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	/* An ack stops the repeats. */
	char got[ALERTSTATE_DEDUP_KEY_LEN];
	char prefix[9];
	snprintf(prefix, sizeof(prefix), "%.8s", id);
	ck_assert_int_eq(
	    alertengine_ack(f.e, prefix, "alice", "on it", T0 + 2 * H, got), 0);
	ck_assert_str_eq(got, id);
	fx_take(&f);
	ck_assert_uint_eq(f.nact, 1);
	ck_assert_int_eq(f.act[0].kind, ALERTENGINE_ACK);
	ck_assert_str_eq(f.act[0].acked_by, "alice");
	tick(&f, 5 * H);
	ck_assert_uint_eq(notifications(&f), 0);
	/* The resolve still goes out. */
	node(&f, "web-1", 0, 0.1, 5 * H);
	ck_assert_uint_eq(sent(&f, NULL, "pd", true), 1);
	ck_assert_int_eq(alertengine_ack(f.e, prefix, "a", "", T0, got),
			 -EBUSY);
	ck_assert_int_eq(alertengine_ack(f.e, "0000000000", "a", "", T0, got),
			 -ENOENT);
	ck_assert_int_eq(alertengine_ack(f.e, "abc", "a", "", T0, got),
			 -EINVAL);
	fx_free(&f);
}
END_TEST

static void silence(struct fx *f, int64_t id, const char *m, int64_t from,
		    int64_t to)
{
	struct alertengine_silence s = { .id = id,
					 .starts_ms = T0 + from,
					 .ends_ms = T0 + to };
	char err[128];
	ck_assert_int_eq(matchers_parse(m, &s.m, err, sizeof(err)), 0);
	ck_assert_int_eq(alertengine_set_silences(f->e, &s, 1), 0);
	matchers_release(&s.m);
}

START_TEST(test_silence)
{
	struct fx f;
	struct buf b;
	struct jsonw w;

	fx_init(&f, NULL);
	silence(&f, 7, "node=web-1", 0, 10 * M);
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_FIRING));
	ck_assert_uint_eq(notifications(&f), 0);
	/* Another node is not silenced. */
	node(&f, "web-2", 1, 0.1, M);
	node(&f, "web-2", 1, 0.1, 2 * M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	buf_init(&b, 1 << 20);
	jsonw_init(&w, &b);
	alertengine_list_json(f.e, ALERTENGINE_LIST_FIRING, T0 + 3 * M, &w);
	ck_assert_int_eq(jsonw_finish(&w), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "\"silenced_by\":[7]"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"silenced_by\":[]"));
	buf_release(&b);
	/* The silence's end is a due time; then the trigger goes out. */
	ck_assert_int_eq(alertengine_next_due_ms(f.e, T0 + 3 * M), T0 + 10 * M);
	tick(&f, 10 * M - 1);
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, 10 * M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	ck_assert_uint_eq(sent(&f, NULL, "chat", false), 1);
	for (size_t k = 0; k < f.nact; k++)
		if (f.act[k].kind == ALERTENGINE_NOTIFY)
			ck_assert_str_eq(f.act[k].scope_key, "web-1");
	fx_free(&f);

	/* Silenced for its whole life: neither trigger nor resolve. */
	fx_init(&f, NULL);
	silence(&f, 8, "alertname=NodeDown", 0, H);
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	node(&f, "web-1", 0, 0.1, 2 * M);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_RESOLVED));
	ck_assert_uint_eq(notifications(&f), 0);
	fx_free(&f);

	/* A trigger sent before a silence still gets its resolve. */
	fx_init(&f, NULL);
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_uint_eq(notifications(&f), 2);
	silence(&f, 9, "node=web-1", M, H);
	node(&f, "web-1", 0, 0.1, 2 * M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", true), 1);
	ck_assert_uint_eq(sent(&f, NULL, "chat", true), 1);
	fx_free(&f);
}
END_TEST

START_TEST(test_inhibition)
{
	struct fx f;

	fx_init(&f, NULL);
	node(&f, "web-1", 0, 0.95, 0);
	node(&f, "web-2", 0, 0.95, 0);
	node(&f, "web-1", 1, 0.95, M);
	node(&f, "web-2", 0, 0.95, M);
	node(&f, "web-1", 1, 0.95, 2 * M);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", false), 1);
	/* web-1 is down: its CPU alert fires but is muted. */
	ck_assert_uint_eq(sent(&f, "CPUHigh", "pd", false), 0);
	node(&f, "web-2", 0, 0.95, 2 * M);
	ck_assert_uint_eq(sent(&f, "CPUHigh", "pd", false), 1);
	/* Back up with the CPU still high: the CPU alert goes out now. */
	node(&f, "web-1", 0, 0.95, 3 * M);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", true), 1);
	ck_assert_uint_eq(sent(&f, "CPUHigh", "pd", false), 1);
	fx_free(&f);
}
END_TEST

START_TEST(test_probes_and_fleet)
{
	struct fx f;
	struct alertengine_probe p[2] = { { "db", "store", 0.5, NAN },
					  { "api", "web", 0.0, NAN } };
	struct alertengine_node n = { .id = "web-1",
				      .probes = p,
				      .nprobes = 2 };

	fx_init(&f, NULL);
	for (size_t k = 0; k < ALERTRULE_SUBJECT_COUNT_; k++)
		n.value[k] = NAN;
	for (size_t k = 0; k < ALERTENGINE_NCOMPS; k++)
		n.comps[k] = NAN;
	alertengine_begin_pass(f.e);
	alertengine_node(f.e, &n, T0);
	alertengine_fleet(f.e, 0.5, 1, 1, T0);
	alertengine_end_pass(f.e, T0);
	fx_take(&f);
	ck_assert_uint_eq(sent(&f, "ProbeErrors", "pd", false), 1);
	ck_assert_uint_eq(sent(&f, "FleetLow", "pd", false), 1);
	for (size_t k = 0; k < f.nact; k++)
		if (f.act[k].kind == ALERTENGINE_NOTIFY &&
		    strcmp(f.act[k].rule, "ProbeErrors") == 0) {
			ck_assert_str_eq(f.act[k].probe, "db");
			ck_assert_str_eq(f.act[k].summary, "db on web-1 fails");
		}
	/* The probe goes away: the next full pass resolves its alert. */
	n.nprobes = 0;
	alertengine_begin_pass(f.e);
	alertengine_node(f.e, &n, T0 + S);
	alertengine_fleet(f.e, 0.5, 1, 1, T0 + S);
	alertengine_end_pass(f.e, T0 + S);
	fx_take(&f);
	ck_assert_uint_eq(sent(&f, "ProbeErrors", "pd", true), 1);
	ck_assert_uint_eq(sent(&f, "FleetLow", "pd", true), 0);
	fx_free(&f);
}
END_TEST

START_TEST(test_reload_and_restore)
{
	struct fx f;
	char e[ALERTRULE_ERR_LEN];

	fx_init(&f, NULL);
	node(&f, "web-1", 1, 0.95, 0);
	node(&f, "web-1", 1, 0.95, M);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", false), 1);
	char key[ALERTSTATE_DEDUP_KEY_LEN];
	memcpy(key, f.act[1].dedup_key, sizeof(key));
	/* A set without NodeDown: its open incident is resolved. */
	struct alertrule_set *rs = alertrule_set_new();
	static const char only_cpu[] = "constitutional_hash: cdd01ef066bc6cf2\n"
				       "rules:\n"
				       "  - name: CPUHigh\n"
				       "    scope: node\n"
				       "    condition: cpu > 0.9\n"
				       "    for: 2m\n"
				       "    severity: warning\n"
				       "    summary: x\n";
	ck_assert_int_eq(alertrule_set_add_string(rs, "r.yaml", only_cpu,
						  strlen(only_cpu), e,
						  sizeof(e)),
			 0);
	alertengine_set_rules(f.e, rs, T0 + 2 * M);
	fx_take(&f);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", true), 1);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", true), 1);
	ck_assert_ptr_nonnull(transition(&f, ALERTSTATE_INACTIVE));
	/* CPUHigh kept its pending state: fires at 2 minutes after 0. */
	node(&f, "web-1", 1, 0.95, 2 * M);
	ck_assert_uint_eq(sent(&f, "CPUHigh", "pd", false), 1);
	fx_free(&f);

	/* A restored firing instance that notified pd only: pd is not
	 * triggered again, and the resolve goes out under the stored key. */
	fx_init(&f, NULL);
	static const struct label l[] = { { "alertname", "NodeDown" },
					  { "node", "web-1" } };
	struct alertengine_saved s = {
		.rule = "NodeDown",
		.scope_key = "web-1",
		.dedup_key = key,
		.state = ALERTSTATE_FIRING,
		.active_since_ms = T0,
		.fired_at_ms = T0 + M,
		.last_true_ms = T0 + 2 * M,
		.value = 1,
		.firing_value = 1,
		.summary = "Node web-1 is down",
		.notified = "pd",
		.labels = l,
		.nlabels = 2,
	};
	ck_assert_int_eq(alertengine_restore(f.e, &s, T0 + 3 * M), 0);
	ck_assert_int_eq(alertengine_restore(f.e, &s, T0 + 3 * M), -EEXIST);
	/* chat never got the trigger (the old leader was still waiting or
	 * failed): it gets it now; pd does not get a second one. */
	node(&f, "web-1", 1, 0.1, 3 * M);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", false), 1);
	ck_assert_uint_eq(notifications(&f), 1);
	node(&f, "web-1", 1, 0.1, 3 * M + S);
	ck_assert_uint_eq(notifications(&f), 0);
	node(&f, "web-1", 0, 0.1, 4 * M);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", true), 1);
	ck_assert_uint_eq(sent(&f, "NodeDown", "chat", true), 1);
	ck_assert_str_eq(f.act[0].dedup_key, key);
	/* The saved instance of a rule that is gone resolves at once. */
	s.rule = "Gone";
	s.notified = "chat";
	ck_assert_int_eq(alertengine_restore(f.e, &s, T0 + 5 * M), 0);
	fx_take(&f);
	ck_assert_uint_eq(sent(&f, "Gone", "chat", true), 1);
	ck_assert_uint_eq(notifications(&f), 1);
	fx_free(&f);
}
END_TEST

START_TEST(test_alertmanager_resend)
{
	struct fx f;

	fx_init(&f, NULL);
	add_receiver(&f.rs, RECEIVER_ALERTMANAGER, "am");
	/* The engine was built with two receivers; a new one with three. */
	struct alertrule_set *rules = alertrule_set_new();
	char e[ALERTRULE_ERR_LEN];
	ck_assert_int_eq(alertrule_set_add_string(rules, "t.yaml", RULES,
						  strlen(RULES), e, sizeof(e)),
			 0);
	alertengine_free(f.e);
	struct alertengine_options o = { &f.rs, &f.routes, NULL, NULL };
	ck_assert_int_eq(alertengine_new(&o, &f.e), 0);
	alertengine_set_rules(f.e, rules, T0);
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_uint_eq(sent(&f, NULL, "am", false), 1);
	tick(&f, 2 * M - 1);
	ck_assert_uint_eq(notifications(&f), 0);
	tick(&f, 2 * M);
	ck_assert_uint_eq(sent(&f, NULL, "am", false), 1);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 0);
	/* Acked and silenced: Alertmanager still hears of it every minute
	 * (it would end the alert otherwise); the others do not. */
	char got[ALERTSTATE_DEDUP_KEY_LEN];
	ck_assert_int_eq(alertengine_ack(f.e, f.act[0].dedup_key, "bob", "",
					 T0 + 2 * M, got),
			 0);
	silence(&f, 3, "node=web-1", 2 * M, H);
	tick(&f, 3 * M);
	ck_assert_uint_eq(sent(&f, NULL, "am", false), 1);
	ck_assert_uint_eq(notifications(&f), 1);
	fx_free(&f);
}

START_TEST(test_ack_while_pending_and_muted_count)
{
	struct fx f;
	char got[ALERTSTATE_DEDUP_KEY_LEN];
	struct alertengine_stats st;

	fx_init(&f, "[route r]\n"
		    "receivers = pd\n"
		    "repeat_interval = 1h\n");
	node(&f, "web-1", 1, 0.1, 0);
	const struct alertengine_action *p = transition(&f, ALERTSTATE_PENDING);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(
	    alertengine_ack(f.e, p->dedup_key, "ann", "known", T0 + S, got), 0);
	node(&f, "web-1", 1, 0.1, M);
	ck_assert_uint_eq(sent(&f, NULL, "pd", false), 1);
	/* The ack outlived the move to firing: no repeat. */
	tick(&f, 3 * H);
	ck_assert_uint_eq(notifications(&f), 0);
	fx_free(&f);

	/* A silenced trigger is counted once, however many ticks pass. */
	fx_init(&f, NULL);
	silence(&f, 1, "node=web-1", 0, H);
	node(&f, "web-1", 1, 0.1, 0);
	node(&f, "web-1", 1, 0.1, M);
	for (int64_t t = M; t < 10 * M; t += S)
		tick(&f, t);
	alertengine_get_stats(f.e, &st);
	ck_assert_uint_eq(st.muted, 2); /* pd and chat */
	fx_free(&f);
}
END_TEST

START_TEST(test_restore_resolved_with_open_trigger)
{
	struct fx f;
	static const struct label l[] = { { "alertname", "NodeDown" },
					  { "node", "web-1" } };
	struct alertengine_saved s = {
		.rule = "NodeDown",
		.scope_key = "web-1",
		.state = ALERTSTATE_RESOLVED,
		.active_since_ms = T0,
		.fired_at_ms = T0 + M,
		.resolved_at_ms = T0 + 2 * M,
		.last_true_ms = T0 + M,
		.value = 0,
		.firing_value = 1,
		.notified = "pd",
		.labels = l,
		.nlabels = 2,
	};

	/* The old leader recorded the resolve but died before queueing it. */
	fx_init(&f, NULL);
	ck_assert_int_eq(alertengine_restore(f.e, &s, T0 + 3 * M), 0);
	fx_take(&f);
	ck_assert_uint_eq(sent(&f, "NodeDown", "pd", true), 1);
	ck_assert_uint_eq(notifications(&f), 1);
	fx_free(&f);
}
END_TEST
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("alertengine");
	TCase *tc = tcase_create("engine");

	tcase_add_test(tc, test_trigger_once_then_resolve);
	tcase_add_test(tc, test_flapping_never_sends);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_group_wait_and_interval);
	tcase_add_test(tc, test_repeat_and_ack);
	tcase_add_test(tc, test_silence);
	tcase_add_test(tc, test_inhibition);
	tcase_add_test(tc, test_probes_and_fleet);
	tcase_add_test(tc, test_reload_and_restore);
	tcase_add_test(tc, test_alertmanager_resend);
	tcase_add_test(tc, test_ack_while_pending_and_muted_count);
	tcase_add_test(tc, test_restore_resolved_with_open_trigger);
	suite_add_tcase(s, tc);
	return s;
}
