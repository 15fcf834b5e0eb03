#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cleanup.h"
#include "score.h"
#include "yamldoc.h"

#define NOW 1795541410000LL

/* Four decimals, as docs/health-score.md writes them; "NaN" for absent. */
static void fmt4(double v, char out[16])
{
	if (isnan(v))
		snprintf(out, 16, "NaN");
	else
		snprintf(out, 16, "%.4f", v);
}

static void assert4(double got, const char *want, const char *what,
		    const char *name)
{
	char s[16];
	fmt4(got, s);
	ck_assert_msg(strcmp(s, want) == 0, "%s: %s is %s (%.9g), want %s",
		      name, what, s, got, want);
}

/* ---- the worked examples of docs/health-score.md ---- */

static const struct score_probe_input probes_ok[] = {
	{ "api-health", "governance-api", true, true, 6, 0, 118.0, 120.0,
	  250.0 },
	{ "db", "audit-ledger", true, true, 6, 0, 2.1, 2.5, 50.0 },
};
static const struct score_probe_input probes_slow[] = {
	{ "api-health", "governance-api", true, true, 6, 0, 390.0, 400.0,
	  250.0 },
	{ "db", "audit-ledger", true, true, 6, 0, 2.1, 2.5, 50.0 },
};
static const struct score_probe_input probes_down[] = {
	{ "api-health", "governance-api", true, true, 6, 0, 118.0, 120.0,
	  250.0 },
	{ "db", "audit-ledger", true, false, 6, 6, 0.7, NAN, 50.0 },
};

/* A node input, field by field in the order of the document's tables. */
#define NODE(on, silence_ms, cpu, mem, disk, l1, ncpu, pc, pm, pi, pr, npr,    \
	     hascomp, ratio, failed)                                           \
	{                                                                      \
		.online = on, .now_ms = NOW, .last_seen_ms = NOW - silence_ms, \
		.interval_s = 10, .cpu_usage = cpu, .mem_used_ratio = mem,     \
		.disk_used_ratio_max = disk, .load1 = l1, .cpu_count = ncpu,   \
		.psi_cpu_some = pc, .psi_mem_some = pm, .psi_io_some = pi,     \
		.probes = pr, .nprobes = npr, .has_compliance = hascomp,       \
		.compliance_ratio = ratio, .compliance_failed = failed         \
	}

/* Example 1's node. */
#define HEALTHY                                                                \
	NODE(true, 10000, 0.35, 0.83, 0.40, 1.2, 4, 0.02, 0.0, 0.01,           \
	     probes_ok, 2, true, 1.0, 0)

static const struct example {
	const char *name;
	struct score_node_input in;
	const char *liveness, *resources, *probes, *compliance, *score;
	bool capped;
	const char *reason;
} examples[] = {
	{ "1 healthy node", HEALTHY, "1.0000", "0.8857", "1.0000", "1.0000",
	  "0.9543", false, "" },
	{ "2 CPU-saturated node",
	  NODE(true, 10000, 0.98, 0.50, 0.40, 7.6, 4, 0.35, 0.0, 0.01,
	       probes_ok, 2, true, 1.0, 0),
	  "1.0000", "0.3196", "1.0000", "1.0000", "0.7279", false, "" },
	{ "3 one probe over its SLO",
	  NODE(true, 10000, 0.35, 0.50, 0.40, 1.2, 4, 0.02, 0.0, 0.01,
	       probes_slow, 2, true, 1.0, 0),
	  "1.0000", "1.0000", "0.7750", "1.0000", "0.9100", false, "" },
	{ "4 a probe down",
	  NODE(true, 10000, 0.35, 0.50, 0.40, 1.2, 4, 0.02, 0.0, 0.01,
	       probes_down, 2, true, 1.0, 0),
	  "1.0000", "1.0000", "0.2500", "1.0000", "0.7000", false, "" },
	{ "5 non-compliant file",
	  NODE(true, 10000, 0.35, 0.50, 0.40, 1.2, 4, 0.02, 0.0, 0.01,
	       probes_ok, 2, true, 0.95, 1),
	  "1.0000", "1.0000", "1.0000", "0.9500", "0.5000", true,
	  "compliance: 1 file failed" },
	{ "6 stale node at 4.5 intervals",
	  NODE(true, 45000, 0.35, 0.83, 0.40, 1.2, 4, 0.02, 0.0, 0.01,
	       probes_ok, 2, true, 1.0, 0),
	  "0.5000", "0.8857", "1.0000", "1.0000", "0.4771", false, "" },
	{ "7 offline node",
	  NODE(false, 10000, 0.35, 0.83, 0.40, 1.2, 4, 0.02, 0.0, 0.01,
	       probes_ok, 2, true, 1.0, 0),
	  "0.0000", "0.8857", "1.0000", "1.0000", "0.0000", true, "offline" },
	{ "8 old kernel, no probes, no compliance",
	  NODE(true, 10000, 0.80, 0.50, 0.90, 2.0, 2, NAN, NAN, NAN, NULL, 0,
	       false, NAN, 0),
	  "1.0000", "0.5333", "NaN", "NaN", "0.5333", false, "" },
};

START_TEST(worked_examples)
{
	const struct example *e = &examples[_i];
	struct score_policy p;
	struct score_components c;

	score_policy_default(&p);
	score_node(&p, &e->in, &c);
	assert4(c.liveness, e->liveness, "liveness", e->name);
	assert4(c.resources, e->resources, "resources", e->name);
	assert4(c.probes, e->probes, "probes", e->name);
	assert4(c.compliance, e->compliance, "compliance", e->name);
	assert4(c.score, e->score, "score", e->name);
	ck_assert_msg(c.capped == e->capped, "%s: capped", e->name);
	ck_assert_str_eq(c.cap_reason, e->reason);
}
END_TEST

/* Example 9: service and fleet aggregates, with the shipped policy's
 * criticalities. */
START_TEST(worked_aggregates)
{
	static const char yaml[] = "constitutional_hash: cdd01ef066bc6cf2\n"
				   "fleet:\n"
				   "  criticality:\n"
				   "    governance-api: 3\n"
				   "    audit-ledger: 5\n";
	const double api_nodes[] = { 0.9543, 0.7279, 0.9100 };
	const double ledger_nodes[] = { 0.5000, 0.0000 };
	const double cache_nodes[] = { 1.0000 };
	struct score_policy p;
	char err[256];
	cJSON *doc = NULL;

	score_policy_default(&p);
	ck_assert_int_eq(yamldoc_load_string("p", yaml, strlen(yaml), &doc, err,
					     sizeof(err)),
			 0);
	ck_assert_msg(score_policy_from_json(doc, &p, err, sizeof(err)) == 0,
		      "%s", err);
	cJSON_Delete(doc);

	double api = score_service(&p, api_nodes, 3);
	double ledger = score_service(&p, ledger_nodes, 2);
	double cache = score_service(&p, cache_nodes, 1);
	assert4(api, "0.8300", "service", "governance-api");
	assert4(ledger, "0.1875", "service", "audit-ledger");
	assert4(cache, "1.0000", "service", "cache");

	const char *const names[] = { "governance-api", "audit-ledger",
				      "cache" };
	/* the fleet of the document, from the 4-decimal service scores */
	const double scores[] = { 0.8300, 0.1875, 1.0000 };
	assert4(score_fleet(&p, names, scores, 3), "0.4919", "fleet", "fleet");
	score_policy_release(&p);
}
END_TEST

/* ---- edges ---- */

static struct score_node_input empty_input(void)
{
	return (struct score_node_input){
		.online = true,
		.now_ms = NOW,
		.last_seen_ms = NOW,
		.interval_s = 10,
		.cpu_usage = NAN,
		.mem_used_ratio = NAN,
		.disk_used_ratio_max = NAN,
		.load1 = NAN,
		.cpu_count = NAN,
		.psi_cpu_some = NAN,
		.psi_mem_some = NAN,
		.psi_io_some = NAN,
		.compliance_ratio = NAN,
	};
}

static double node_score(const struct score_node_input *in,
			 struct score_components *c)
{
	struct score_policy p;
	score_policy_default(&p);
	score_node(&p, in, c);
	ck_assert(c->score >= 0 && c->score <= 1);
	return c->score;
}

START_TEST(nothing_known)
{
	/* A live node with no metric: neither rewarded nor punished beyond
	 * what liveness says. */
	struct score_node_input in = empty_input();
	struct score_components c;

	ck_assert(node_score(&in, &c) == 1);
	ck_assert(isnan(c.resources) && isnan(c.probes) && isnan(c.compliance));
	in.last_seen_ms = NOW - 45000;
	assert4(node_score(&in, &c), "0.5000", "score", "empty stale");
	/* load without a CPU count, or with 0 CPUs, is no metric */
	in = empty_input();
	in.load1 = 50;
	ck_assert(node_score(&in, &c) == 1);
	in.cpu_count = 0;
	ck_assert(node_score(&in, &c) == 1);
	in.cpu_count = 1;
	ck_assert(node_score(&in, &c) == 0);
	ck_assert(c.resources == 0);
}
END_TEST

START_TEST(missing_metric_is_neutral)
{
	/* Dropping a metric changes the mean only by the metric's own weight
	 * in it: a node at 1 everywhere stays at 1 whichever are absent. */
	struct score_node_input in = HEALTHY;
	struct score_components c;

	in.mem_used_ratio = 0.5;
	ck_assert(node_score(&in, &c) == 1);
	in.psi_cpu_some = in.psi_mem_some = in.psi_io_some = NAN;
	in.disk_used_ratio_max = NAN;
	ck_assert(node_score(&in, &c) == 1);
	/* and a bad metric next to absent ones counts fully */
	in.cpu_usage = 0.95;
	ck_assert(node_score(&in, &c) < 1);
	assert4(c.resources, "0.3333", "resources", "cpu at bad");
}
END_TEST

START_TEST(out_of_range_inputs)
{
	struct score_node_input in = empty_input();
	struct score_components c;

	in.cpu_usage = 1.5; /* past bad: 0 */
	node_score(&in, &c);
	ck_assert(c.resources == 0);
	in.cpu_usage = -3; /* below good: 1 */
	node_score(&in, &c);
	ck_assert(c.resources == 1);
	in.cpu_usage = INFINITY; /* not finite: absent */
	node_score(&in, &c);
	ck_assert(isnan(c.resources));
	in.cpu_usage = -INFINITY;
	node_score(&in, &c);
	ck_assert(isnan(c.resources));

	in = empty_input();
	in.has_compliance = true;
	in.compliance_ratio = 7;
	node_score(&in, &c);
	ck_assert(c.compliance == 1);
	in.compliance_ratio = -1;
	node_score(&in, &c);
	ck_assert(c.compliance == 0);
	ck_assert(!c.capped);
	in.compliance_ratio = NAN; /* failures cap even without a ratio */
	in.compliance_failed = 3;
	node_score(&in, &c);
	ck_assert(isnan(c.compliance));
	ck_assert(c.capped && c.score == 0.5);
	ck_assert_str_eq(c.cap_reason, "compliance: 3 files failed");
	in.has_compliance = false; /* no section: failures are not read */
	node_score(&in, &c);
	ck_assert(!c.capped && c.score == 1);
}
END_TEST

START_TEST(liveness_edges)
{
	struct score_node_input in = empty_input();
	struct score_components c;

	in.last_seen_ms = NOW + 60000; /* clock behind the sample */
	ck_assert(node_score(&in, &c) == 1);
	in.last_seen_ms = NOW - 30000; /* exactly stale: still 1 */
	ck_assert(node_score(&in, &c) == 1);
	in.last_seen_ms = NOW - 60000; /* exactly dead */
	ck_assert(node_score(&in, &c) == 0);
	ck_assert(c.capped);
	ck_assert_str_eq(c.cap_reason, "no sample for 6.0 intervals");
	in.last_seen_ms = INT64_MIN; /* never seen, and no overflow */
	in.now_ms = INT64_MAX;
	ck_assert(node_score(&in, &c) == 0);
	ck_assert_str_eq(c.cap_reason, "no sample for 1000000.0 intervals");

	/* no usable interval: the policy's default_interval_s (10 s) */
	in = empty_input();
	in.last_seen_ms = NOW - 45000;
	double intervals[] = { NAN, 0, -5, INFINITY };
	for (size_t i = 0; i < ARRAY_SIZE(intervals); i++) {
		in.interval_s = intervals[i];
		assert4(node_score(&in, &c), "0.5000", "score", "interval");
	}
	/* a slower agent is stale later */
	in.interval_s = 60;
	ck_assert(node_score(&in, &c) == 1);
}
END_TEST

START_TEST(probe_edges)
{
	struct score_probe_input pr[3];
	struct score_node_input in = empty_input();
	struct score_components c;

	in.probes = pr;
	in.nprobes = 0;
	node_score(&in, &c);
	ck_assert(isnan(c.probes));
	in.probes = NULL; /* NULL array with a count is no probes */
	in.nprobes = 5;
	node_score(&in, &c);
	ck_assert(isnan(c.probes));

	in.probes = pr;
	in.nprobes = 1;
	/* before its first result: not judged */
	pr[0] = (struct score_probe_input){ .has_result = false,
					    .p99_ms = NAN,
					    .latency_ms = NAN,
					    .slo_ms = NAN };
	node_score(&in, &c);
	ck_assert(isnan(c.probes));
	/* no run in this window: the last result stands */
	pr[0].has_result = true;
	pr[0].ok = false;
	node_score(&in, &c);
	ck_assert(c.probes == 0);
	pr[0].ok = true;
	node_score(&in, &c);
	ck_assert(c.probes == 1);
	/* more failures than runs: 0, not negative */
	pr[0].runs = 2;
	pr[0].failures = 9;
	node_score(&in, &c);
	ck_assert(c.probes == 0);
	/* no p99 but a successful last run: its latency is judged */
	pr[0].failures = 0;
	pr[0].slo_ms = 100;
	pr[0].latency_ms = 300; /* 3 × SLO: latency 0, half the score */
	node_score(&in, &c);
	ck_assert(c.probes == 0.5);
	/* without an SLO, latency is not judged */
	pr[0].slo_ms = NAN;
	node_score(&in, &c);
	ck_assert(c.probes == 1);
	pr[0].slo_ms = 0;
	node_score(&in, &c);
	ck_assert(c.probes == 1);
	/* negative latencies are not latencies */
	pr[0].slo_ms = 100;
	pr[0].latency_ms = -1;
	pr[0].p99_ms = -1;
	node_score(&in, &c);
	ck_assert(c.probes == 1);
}
END_TEST

START_TEST(weights_normalized)
{
	/* Weights are relative: 2/2/1 scores as 0.4/0.4/0.2, and a component
	 * with weight 0 is ignored. */
	struct score_node_input in = HEALTHY;
	struct score_policy p;
	struct score_components a, b;

	in.probes = probes_slow;
	score_policy_default(&p);
	score_node(&p, &in, &a);
	p.weights.resources = 2;
	p.weights.probes = 2;
	p.weights.compliance = 1;
	score_node(&p, &in, &b);
	ck_assert(fabs(a.score - b.score) < 1e-12);
	p.weights.resources = 0;
	p.weights.compliance = 0;
	score_node(&p, &in, &b);
	ck_assert(b.score == b.probes);
	/* a policy built by hand with nonsense weights still gives [0, 1] */
	p.weights.resources = NAN;
	p.weights.probes = -1;
	p.weights.compliance = INFINITY;
	score_node(&p, &in, &b);
	ck_assert(b.score == 1);
}
END_TEST

START_TEST(aggregate_edges)
{
	struct score_policy p;
	score_policy_default(&p);

	ck_assert(score_service(&p, NULL, 0) == 0);
	const double one[] = { 0.6 };
	ck_assert(score_service(&p, one, 1) == 0.6);
	const double odd[] = { NAN, 2.0, -1.0, INFINITY };
	/* NaN and inf skipped; 2 → 1, -1 → 0: 0.75 × 0.5 + 0.25 × 0 */
	ck_assert(score_service(&p, odd, 4) == 0.375);
	const double none[] = { NAN };
	ck_assert(score_service(&p, none, 1) == 0);

	ck_assert(score_fleet(&p, NULL, NULL, 0) == 1);
	const double s[] = { 0.2, 1.0, NAN };
	const char *const names[] = { "a", NULL, "c" };
	/* no criticalities: a plain mean; NULL names are default */
	ck_assert(fabs(score_fleet(&p, names, s, 3) - 0.6) < 1e-12);
	ck_assert(fabs(score_fleet(&p, NULL, s, 3) - 0.6) < 1e-12);
	ck_assert(score_criticality(&p, "x") == 1);
	ck_assert(score_criticality(&p, NULL) == 1);
}
END_TEST

/* ---- the policy document ---- */

/* Field by field: padding makes memcmp of structs meaningless. */
static bool policy_eq(const struct score_policy *a,
		      const struct score_policy *b)
{
	const struct score_threshold *ta = &a->resources.cpu,
				     *tb = &b->resources.cpu;
	for (int i = 0; i < 5; i++)
		if (ta[i].good != tb[i].good || ta[i].bad != tb[i].bad)
			return false;
	if (a->fleet.ncriticality != b->fleet.ncriticality)
		return false;
	for (size_t i = 0; i < a->fleet.ncriticality; i++)
		if (strcmp(a->fleet.criticality[i].service,
			   b->fleet.criticality[i].service) != 0 ||
		    a->fleet.criticality[i].weight !=
			b->fleet.criticality[i].weight)
			return false;
	return a->version == b->version &&
	       a->weights.resources == b->weights.resources &&
	       a->weights.probes == b->weights.probes &&
	       a->weights.compliance == b->weights.compliance &&
	       a->liveness.stale_after_intervals ==
		   b->liveness.stale_after_intervals &&
	       a->liveness.dead_after_intervals ==
		   b->liveness.dead_after_intervals &&
	       a->liveness.default_interval_s ==
		   b->liveness.default_interval_s &&
	       a->resources.worst_weight == b->resources.worst_weight &&
	       a->probes.worst_weight == b->probes.worst_weight &&
	       a->probes.latency_weight == b->probes.latency_weight &&
	       a->probes.latency_bad_ratio == b->probes.latency_bad_ratio &&
	       a->compliance.cap == b->compliance.cap &&
	       a->service.worst_weight == b->service.worst_weight &&
	       a->fleet.default_criticality == b->fleet.default_criticality;
}

#define HASH "constitutional_hash: cdd01ef066bc6cf2\n"

static const struct {
	const char *yaml;
	const char *err; /* NULL: accepted */
} policies[] = {
	{ HASH, NULL },
	{ HASH
	  "version: 7\nweights: {resources: 1, probes: 1, compliance: 0}\n",
	  NULL },
	{ HASH "resources:\n  cpu: {good: 0.5}\n", NULL },
	{ HASH "fleet:\n  criticality: {a.b_c-1: 2, z: 0.5}\n", NULL },
	{ HASH "fleet: {criticality: {}}\n", NULL },
	{ "version: 1\n", "constitutional_hash: missing (must be "
			  "cdd01ef066bc6cf2)" },
	{ "constitutional_hash: deadbeefdeadbeef\n",
	  "constitutional_hash: must be cdd01ef066bc6cf2" },
	{ "constitutional_hash: 1\n",
	  "constitutional_hash: must be cdd01ef066bc6cf2" },
	{ "[1, 2]\n", "(document): must be a mapping" },
	{ "", "(document): must be a mapping" },
	{ HASH "colour: red\n", "colour: unknown key" },
	{ HASH "resources:\n  cpu:\n    god: 0.5\n",
	  "resources.cpu.god: unknown key" },
	{ HASH "resources: {cpu: {good: 1.5}}\n",
	  "resources.cpu.good: must be a number from 0 to 1" },
	{ HASH "resources: {cpu: {good: \"0.5\"}}\n",
	  "resources.cpu.good: must be a number from 0 to 1" },
	{ HASH "resources: {cpu: 0.5}\n", "resources.cpu: must be a mapping" },
	{ HASH "resources: {cpu: {good: 0.9, bad: 0.8}}\n",
	  "resources.cpu: good (0.9) must be below bad (0.8)" },
	{ HASH "resources: {psi: {good: 0.5, bad: 0.5}}\n",
	  "resources.psi: good (0.5) must be below bad (0.5)" },
	{ HASH "resources: {load_per_cpu: {good: 3}}\n",
	  "resources.load_per_cpu: good (3) must be below bad (2)" },
	{ HASH "weights: {resources: 0, probes: 0, compliance: 0}\n",
	  "weights: at least one must be above 0" },
	{ HASH "weights: {probes: -1}\n",
	  "weights.probes: must be a number from 0 to 1000" },
	{ HASH "weights: [1]\n", "weights: must be a mapping" },
	{ HASH "liveness: {stale_after_intervals: 6}\n",
	  "liveness: stale_after_intervals (6) must be below "
	  "dead_after_intervals (6)" },
	{ HASH "liveness: {dead_after_intervals: 0.5}\n",
	  "liveness.dead_after_intervals: must be a number from 1 to 1000" },
	{ HASH "probes: {latency_bad_ratio: 1}\n",
	  "probes.latency_bad_ratio: must be above 1" },
	{ HASH "compliance: {cap: null}\n",
	  "compliance.cap: must be a number from 0 to 1" },
	{ HASH "version: 1.5\n", "version: must be a whole number from 1 to "
				 "1000000" },
	{ HASH "version: 0\n", "version: must be a whole number from 1 to "
			       "1000000" },
	{ HASH "fleet: {criticality: [a]}\n",
	  "fleet.criticality: must be a mapping of service to criticality" },
	{ HASH "fleet: {criticality: {a: 0}}\n",
	  "fleet.criticality: a: must be a number from 0.01 to 1000" },
	{ HASH "fleet: {criticality: {a: x}}\n",
	  "fleet.criticality: a: must be a number from 0.01 to 1000" },
	{ HASH "fleet: {criticality: {\"a b\": 1}}\n",
	  "fleet.criticality: 'a b' is not a service name (1-64 of A-Z a-z "
	  "0-9 . _ -)" },
	{ HASH "fleet: {default_criticality: 0}\n",
	  "fleet.default_criticality: must be a number from 0.01 to 1000" },
	{ HASH "service: {worst_weight: 2}\n",
	  "service.worst_weight: must be a number from 0 to 1" },
	{ HASH "weights:\n  resources:\n    deeper: 1\n",
	  "weights.resources: must be a number from 0 to 1000" },
};

START_TEST(policy_table)
{
	struct score_policy p, before;
	char err[256] = "", yerr[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	const char *y = policies[_i].yaml;

	ck_assert_msg(yamldoc_load_string("p", y, strlen(y), &doc, yerr,
					  sizeof(yerr)) == 0,
		      "case %d: %s", _i, yerr);
	score_policy_default(&p);
	p.compliance.cap = 0.25; /* a marker: untouched on error */
	before = p;
	int r = score_policy_from_json(doc, &p, err, sizeof(err));
	cJSON_Delete(doc);
	if (!policies[_i].err) {
		ck_assert_msg(r == 0, "case %d: %s", _i, err);
		ck_assert(p.compliance.cap == 0.5); /* defaults refilled */
	} else {
		ck_assert_msg(r == -EINVAL, "case %d: rc %d", _i, r);
		ck_assert_str_eq(err, policies[_i].err);
		ck_assert(policy_eq(&p, &before));
	}
	score_policy_release(&p);
}
END_TEST

START_TEST(policy_values)
{
	static const char y[] = HASH "version: 3\n"
				     "resources:\n  cpu: {good: 0.5}\n"
				     "fleet:\n  criticality: {web: 2, db: 4}\n";
	struct score_policy p;
	char err[256];
	cJSON *doc = NULL;

	score_policy_default(&p);
	ck_assert_int_eq(
	    yamldoc_load_string("p", y, strlen(y), &doc, err, sizeof(err)), 0);
	ck_assert_int_eq(score_policy_from_json(doc, &p, err, sizeof(err)), 0);
	cJSON_Delete(doc);
	ck_assert_uint_eq(p.version, 3);
	ck_assert(p.resources.cpu.good == 0.5);
	ck_assert(p.resources.cpu.bad == 0.95);
	ck_assert_uint_eq(p.fleet.ncriticality, 2);
	ck_assert_str_eq(p.fleet.criticality[0].service, "db");
	ck_assert(score_criticality(&p, "db") == 4);
	ck_assert(score_criticality(&p, "web") == 2);
	ck_assert(score_criticality(&p, "other") == 1);

	/* a JSON API body with a service twice is refused */
	cJSON *body = cJSON_Parse("{\"constitutional_hash\":"
				  "\"cdd01ef066bc6cf2\",\"fleet\":{"
				  "\"criticality\":{\"a\":1,\"a\":2}}}");
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(score_policy_from_json(body, &p, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "fleet.criticality: a: listed twice");
	cJSON_Delete(body);
	ck_assert_uint_eq(p.fleet.ncriticality, 2);

	score_policy_release(&p);
	ck_assert_uint_eq(p.fleet.ncriticality, 0);
	ck_assert_ptr_null(p.fleet.criticality);
	score_policy_release(&p); /* twice is fine */
}
END_TEST

START_TEST(policy_shipped_file)
{
	/* deploy/config/scoring-policy.yaml says the defaults out loud. */
	struct score_policy p, d;
	char err[256];

	score_policy_default(&p);
	score_policy_default(&d);
	ck_assert_msg(score_policy_load(FIXTURES_DIR "/../../deploy/config/"
						     "scoring-policy.yaml",
					&p, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(p.version, 1);
	ck_assert_uint_eq(p.fleet.ncriticality, 3);
	ck_assert(score_criticality(&p, "constitutional-core") == 5);
	struct score_policy q = p;
	q.version = 0;
	q.fleet.criticality = NULL;
	q.fleet.ncriticality = 0;
	ck_assert(policy_eq(&q, &d));
	score_policy_release(&p);
}
END_TEST

START_TEST(policy_load_errors)
{
	char dir[] = "/tmp/score-test-XXXXXX", path[128], err[256], want[256];
	struct score_policy p;
	FILE *f;

	score_policy_default(&p);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(HASH "resources:\n  cpu: {good: 2}\n", f);
	fclose(f);
	ck_assert_int_eq(score_policy_load(path, &p, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: resources.cpu.good: must be a number from 0 to 1", path);
	ck_assert_str_eq(err, want);

	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(HASH "weights:\n  probes: 1\n  probes: 2\n", f);
	fclose(f);
	ck_assert_int_eq(score_policy_load(path, &p, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:4:3: duplicate key 'probes'", path);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(score_policy_load(path, &p, err, sizeof(err)),
			 -ENOENT);
	ck_assert_int_eq(rmdir(dir), 0);
	score_policy_release(&p);
}
END_TEST

/* ---- from a real sample (acgs-agent --once) ---- */

static cJSON *load_sample(void)
{
	static const char path[] = FIXTURES_DIR "/samples/web-1-metrics.json";
	FILE *f = fopen(path, "re");
	char buf[65536];

	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert(n > 0 && n < sizeof(buf));
	cJSON *j = cJSON_ParseWithLength(buf, n);
	ck_assert_ptr_nonnull(j);
	return j;
}

START_TEST(from_sample)
{
	cJSON *j = load_sample();
	struct score_probe_input pr[8];
	struct score_node_input in;
	struct score_components c;
	struct score_policy p;

	ck_assert_int_eq(score_input_from_sample(j, pr, ARRAY_SIZE(pr), &in),
			 0);
	ck_assert(in.online);
	/* "ts": "2026-11-24T18:47:09.326Z" */
	ck_assert_int_eq(in.last_seen_ms, 1795546029326LL);
	ck_assert_int_eq(in.now_ms, in.last_seen_ms);
	ck_assert(in.interval_s == 10);
	ck_assert(in.cpu_usage == 0.005);
	ck_assert(in.cpu_count == 2);
	ck_assert(in.mem_used_ratio == 0.015495);
	ck_assert(in.load1 == 0.82);
	ck_assert(in.disk_used_ratio_max == 0.167706);
	ck_assert(in.psi_cpu_some == 0.001516);
	ck_assert(in.psi_mem_some == 0);
	ck_assert(in.psi_io_some == 0.000309);
	ck_assert_uint_eq(in.nprobes, 2);
	ck_assert_uint_eq(in.probes_omitted, 0);
	ck_assert_str_eq(pr[0].name, "api-health");
	ck_assert_str_eq(pr[0].service, "api");
	ck_assert(pr[0].has_result && pr[0].ok);
	ck_assert_uint_eq(pr[0].runs, 1);
	ck_assert_uint_eq(pr[0].failures, 0);
	ck_assert(pr[0].p99_ms == 1.266 && pr[0].slo_ms == 250);
	ck_assert_str_eq(pr[1].name, "db");
	ck_assert(pr[1].has_result && !pr[1].ok);
	ck_assert_uint_eq(pr[1].failures, 1);
	ck_assert(isnan(pr[1].p99_ms));
	ck_assert(pr[1].latency_ms == 0.692);
	ck_assert(in.has_compliance);
	ck_assert(in.compliance_ratio == 0.333333);
	ck_assert_uint_eq(in.compliance_failed, 2);

	/* resources: all below good good: 1; probes: one
	 * up, one down: 0.5 × 0.5 + 0.5 × 0 = 0.25; compliance 0.333333:
	 * 0.4 + 0.1 + 0.0666666 = 0.5667, then capped at 0.5. */
	score_policy_default(&p);
	score_node(&p, &in, &c);
	assert4(c.resources, "1.0000", "resources", "sample");
	assert4(c.probes, "0.2500", "probes", "sample");
	assert4(c.score, "0.5000", "score", "sample");
	ck_assert_str_eq(c.cap_reason, "compliance: 2 files failed");

	/* fewer slots than probes: the rest are counted */
	ck_assert_int_eq(score_input_from_sample(j, pr, 1, &in), 0);
	ck_assert_uint_eq(in.nprobes, 1);
	ck_assert_uint_eq(in.probes_omitted, 1);
	ck_assert_int_eq(score_input_from_sample(j, NULL, 0, &in), 0);
	ck_assert_uint_eq(in.nprobes, 0);
	ck_assert_uint_eq(in.probes_omitted, 2);
	cJSON_Delete(j);
}
END_TEST

START_TEST(from_odd_samples)
{
	struct score_probe_input pr[2];
	struct score_node_input in;

	cJSON *arr = cJSON_CreateArray();
	ck_assert_int_eq(score_input_from_sample(arr, pr, 2, &in), -EINVAL);
	ck_assert_int_eq(score_input_from_sample(NULL, pr, 2, &in), -EINVAL);
	cJSON_Delete(arr);

	/* wrong types are absent; a read-only full filesystem does not count;
	 * inode exhaustion does */
	cJSON *j = cJSON_Parse(
	    "{\"ts\":\"bad\",\"cpu\":{\"usage\":\"high\",\"count\":null},"
	    "\"mem\":[],\"psi\":{\"cpu\":{\"some\":0.2}},"
	    "\"filesystems\":[{\"used_ratio\":1.0,\"readonly\":true},"
	    "{\"used_ratio\":0.3,\"inodes_used_ratio\":0.97},"
	    "{\"used_ratio\":0.5,\"inodes_used_ratio\":null}],"
	    "\"probes\":[1,{\"ok\":null,\"runs\":-4,\"failures\":1e12,"
	    "\"service\":null}],\"compliance\":{\"failed\":2}}");
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(score_input_from_sample(j, pr, 2, &in), 0);
	ck_assert_int_eq(in.last_seen_ms, 0);
	ck_assert(isnan(in.cpu_usage) && isnan(in.cpu_count));
	ck_assert(isnan(in.mem_used_ratio) && isnan(in.load1));
	ck_assert(isnan(in.interval_s));
	ck_assert(in.psi_cpu_some == 0.2);
	ck_assert(isnan(in.psi_io_some));
	ck_assert(in.disk_used_ratio_max == 0.97);
	ck_assert_uint_eq(in.nprobes, 1);
	ck_assert(!pr[0].has_result);
	ck_assert_ptr_null(pr[0].name);
	ck_assert_ptr_null(pr[0].service);
	ck_assert_uint_eq(pr[0].runs, 0);
	ck_assert_uint_eq(pr[0].failures, 4294967295U);
	ck_assert(in.has_compliance && isnan(in.compliance_ratio));
	ck_assert_uint_eq(in.compliance_failed, 2);
	cJSON_Delete(j);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("score");
	TCase *tc = tcase_create("score");
	tcase_add_loop_test(tc, worked_examples, 0, (int)ARRAY_SIZE(examples));
	tcase_add_test(tc, worked_aggregates);
	tcase_add_test(tc, nothing_known);
	tcase_add_test(tc, missing_metric_is_neutral);
	tcase_add_test(tc, out_of_range_inputs);
	tcase_add_test(tc, liveness_edges);
	tcase_add_test(tc, probe_edges);
	tcase_add_test(tc, weights_normalized);
	tcase_add_test(tc, aggregate_edges);
	tcase_add_loop_test(tc, policy_table, 0, (int)ARRAY_SIZE(policies));
	tcase_add_test(tc, policy_values);
	tcase_add_test(tc, policy_shipped_file);
	tcase_add_test(tc, policy_load_errors);
	tcase_add_test(tc, from_sample);
	tcase_add_test(tc, from_odd_samples);
	suite_add_tcase(s, tc);
	return s;
}
