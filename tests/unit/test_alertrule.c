/* Alert rule files and templates: the fixtures of tests/fixtures/alerts,
 * alerts/default.yaml, and rendering. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alertrule.h"
#include "buf.h"
#include "check_main.h"
#include "cleanup.h"

#define GOOD(name) FIXTURES_DIR "/alerts/good/" name
#define BAD(name)  FIXTURES_DIR "/alerts/bad/" name

static struct alertrule_set *load_file(const char *path)
{
	struct alertrule_set *s = alertrule_set_new();
	char err[ALERTRULE_ERR_LEN];

	ck_assert_ptr_nonnull(s);
	int r = alertrule_set_add_file(s, path, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %d %s", path, r, err);
	return s;
}

static const char *label(const struct alertrule *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (strcmp(r->labels[i].key, key) == 0)
			return r->labels[i].value;
	return NULL;
}

/* The fields of one rule as a test expects them. */
struct want_rule {
	const char *name;
	enum alertrule_scope scope;
	enum alertrule_subject subject;
	enum alertrule_op op;
	double threshold;
	int64_t for_ms, keep_ms;
	enum alertrule_severity severity;
	size_t nlabels;
	const char *summary, *description;
};

static void check_rule(const struct alertrule *r, const struct want_rule *w)
{
	ck_assert_str_eq(r->name, w->name);
	ck_assert_msg(r->scope == w->scope, "%s: scope %d", w->name, r->scope);
	ck_assert_msg(r->cond.subject == w->subject, "%s: subject %s", w->name,
		      alertrule_subject_name(r->cond.subject));
	ck_assert_msg(r->cond.op == w->op, "%s: op %s", w->name,
		      alertrule_op_name(r->cond.op));
	ck_assert_msg(r->cond.threshold == w->threshold, "%s: threshold %g",
		      w->name, r->cond.threshold);
	ck_assert_msg(r->timing.for_ms == w->for_ms, "%s: for %lld", w->name,
		      (long long)r->timing.for_ms);
	ck_assert_msg(r->timing.keep_firing_for_ms == w->keep_ms,
		      "%s: keep_firing_for %lld", w->name,
		      (long long)r->timing.keep_firing_for_ms);
	ck_assert_msg(r->severity == w->severity, "%s: severity %s", w->name,
		      alertrule_severity_name(r->severity));
	ck_assert_uint_eq(r->nlabels, w->nlabels);
	ck_assert_str_eq(r->summary, w->summary);
	if (w->description)
		ck_assert_str_eq(r->description, w->description);
}

START_TEST(good_full)
{
	struct alertrule_set *s = load_file(GOOD("full.yaml"));
	static const struct want_rule want[] = {
		{ "cpu-high", ALERTRULE_SCOPE_NODE, ALERTRULE_SUBJECT_CPU,
		  ALERTRULE_OP_GT, 0.9, 300000, 90000,
		  ALERTRULE_SEVERITY_CRITICAL, 2,
		  "CPU of {{node}} is {{value_pct}} ({{labels.team}})",
		  "{{rule}}: {{value}} {{ threshold }} \\{{literal}}" },
		{ "svc.score_low", ALERTRULE_SCOPE_SERVICE,
		  ALERTRULE_SUBJECT_SCORE, ALERTRULE_OP_LE, 0.25, 5400000, 0,
		  ALERTRULE_SEVERITY_ERROR, 0,
		  "Service {{service}} scores "
		  "{{value}}",
		  "" },
		{ "fleet-nodes-down", ALERTRULE_SCOPE_FLEET,
		  ALERTRULE_SUBJECT_NODES_DOWN, ALERTRULE_OP_GE, 3, 0, 500,
		  ALERTRULE_SEVERITY_INFO, 0, "{{value}} nodes down", "" },
		{ "probe-slow", ALERTRULE_SCOPE_NODE,
		  ALERTRULE_SUBJECT_PROBE_P99_OVER_SLO, ALERTRULE_OP_NE, -1500,
		  120000, 0, ALERTRULE_SEVERITY_WARNING, 0,
		  "{{probe}} on {{node}} ({{service}})", "" },
	};

	ck_assert_uint_eq(s->n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		check_rule(&s->rules[i], &want[i]);
	/* labels sorted by key */
	ck_assert_str_eq(s->rules[0].labels[0].key, "runbook");
	ck_assert_str_eq(label(&s->rules[0], "team"), "platform");
	ck_assert_str_eq(label(&s->rules[0], "runbook"),
			 "https://runbooks.example/cpu");
	ck_assert_str_eq(s->rules[0].file, GOOD("full.yaml"));
	ck_assert_uint_eq(s->rules[0].line, 5);
	ck_assert_uint_eq(s->rules[3].line, 28);
	ck_assert_ptr_eq(alertrule_set_find(s, "probe-slow"), &s->rules[3]);
	ck_assert_ptr_null(alertrule_set_find(s, "nope"));
	alertrule_set_free(s);
}
END_TEST

START_TEST(good_minimal_defaults)
{
	struct alertrule_set *s = load_file(GOOD("minimal.yaml"));
	static const struct want_rule w = { "x",
					    ALERTRULE_SCOPE_NODE,
					    ALERTRULE_SUBJECT_DOWN,
					    ALERTRULE_OP_EQ,
					    1,
					    0,
					    0,
					    ALERTRULE_SEVERITY_WARNING,
					    0,
					    "down",
					    "" };
	ck_assert_uint_eq(s->n, 1);
	check_rule(&s->rules[0], &w);
	alertrule_set_free(s);

	s = load_file(GOOD("empty.yaml"));
	ck_assert_uint_eq(s->n, 0);
	ck_assert_uint_eq(s->nfiles, 1);
	alertrule_set_free(s);
}
END_TEST

START_TEST(good_durations)
{
	static const int64_t want[] = {
		0,   90000, 300000,  3600000,	500,  42000,
		250, 90000, 5400000, 172800000, 7000, 2592000000LL
	};
	struct alertrule_set *s = load_file(GOOD("durations.yaml"));

	ck_assert_uint_eq(s->n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_msg(s->rules[i].timing.for_ms == want[i],
			      "%s: %lld, want %lld", s->rules[i].name,
			      (long long)s->rules[i].timing.for_ms,
			      (long long)want[i]);
	alertrule_set_free(s);
}
END_TEST

/* Each bad file and the exact message it gives, after its path. */
static const struct bad_case {
	const char *file, *msg;
	int r;
} bad_cases[] = {
	{ "syntax.yaml",
	  ":5:22: found character that cannot start any token (while "
	  "scanning for the next token)",
	  -EINVAL },
	{ "dup-key.yaml", ":7:5: duplicate key 'summary'", -EINVAL },
	{ "no-hash.yaml",
	  ":2:1: constitutional_hash: required "
	  "(cdd01ef066bc6cf2)",
	  -EINVAL },
	{ "wrong-hash.yaml",
	  ":2:1: constitutional_hash: must be cdd01ef066bc6cf2", -EINVAL },
	{ "unknown-top.yaml",
	  ":3:1: groups: unknown key (allowed: constitutional_hash, rules)",
	  -EINVAL },
	{ "rules-missing.yaml", ":2:1: rules: required", -EINVAL },
	{ "rules-not-list.yaml", ":3:1: rules: must be a list of rules",
	  -EINVAL },
	{ "not-a-map.yaml",
	  ":2:1: a rule file is a mapping with constitutional_hash and rules",
	  -EINVAL },
	{ "rule-not-map.yaml",
	  ":5:5: rules[1]: a rule is a mapping (name, condition, summary, "
	  "...)",
	  -EINVAL },
	{ "unknown-key.yaml",
	  ":6:5: rules[0] (cpu-high): expr: unknown key (allowed: name, "
	  "scope, condition, for, keep_firing_for, severity, labels, summary, "
	  "description)",
	  -EINVAL },
	{ "subject-scope.yaml",
	  ":7:7: rules[1] (fleet-cpu): condition.subject: 'cpu' is not a "
	  "fleet subject (fleet subjects: score, compliance_ratio, "
	  "nodes_down)",
	  -EINVAL },
	{ "subject-unknown.yaml",
	  ":5:17: rules[0] (cpu-high): condition.subject: 'foo' is not a "
	  "node "
	  "subject (node subjects: cpu, mem, disk, load_per_cpu, psi_cpu, "
	  "psi_memory, psi_io, score, liveness, resources, probes, down, "
	  "compliance_failed, compliance_ratio, probe_error_rate, "
	  "probe_p99_over_slo)",
	  -EINVAL },
	{ "subject-string.yaml",
	  ":6:5: rules[0] (svc-cpu): condition: 'cpu' is not a service "
	  "subject (service subjects: score, failing_probes)",
	  -EINVAL },
	{ "cond-syntax.yaml",
	  ":5:5: rules[0] (cpu-high): condition: 'cpu >> 0.9' is not "
	  "'SUBJECT OP NUMBER' (e.g. \"cpu > 0.9\"; OP one of > >= < <= == "
	  "!=)",
	  -EINVAL },
	{ "cond-type.yaml",
	  ":5:5: rules[0] (cpu-high): condition: must be a mapping {subject, "
	  "op, threshold} or a string like \"cpu > 0.9\"",
	  -EINVAL },
	{ "cond-extra.yaml",
	  ":9:7: rules[0] (cpu-high): condition.for: unknown key (allowed: "
	  "subject, op, threshold)",
	  -EINVAL },
	{ "cond-incomplete.yaml",
	  ":5:5: rules[0] (cpu-high): condition.op: required", -EINVAL },
	{ "op.yaml",
	  ":5:31: rules[0] (cpu-high): condition.op: must be one of > >= < <= "
	  "== !=",
	  -EINVAL },
	{ "threshold.yaml",
	  ":5:40: rules[0] (cpu-high): condition.threshold: must be a "
	  "number "
	  "(ratios are 0..1: 0.9 for 90%)",
	  -EINVAL },
	{ "cond-missing.yaml", ":4:5: rules[0] (cpu-high): condition: required",
	  -EINVAL },
	{ "summary-missing.yaml",
	  ":4:5: rules[0] (cpu-high): summary: required", -EINVAL },
	{ "name-missing.yaml", ":4:5: rules[0]: name: required", -EINVAL },
	{ "name-bad.yaml",
	  ":4:5: rules[0]: name: must be 1 to 64 of [A-Za-z0-9_.-]", -EINVAL },
	{ "name-dup.yaml",
	  ":7:5: rules[1]: name: 'cpu-high' is already the name of the rule "
	  "at " FIXTURES_DIR "/alerts/bad/name-dup.yaml:4",
	  -EINVAL },
	{ "duration.yaml",
	  ":6:5: rules[0] (cpu-high): for: '5 minutes' is not a duration "
	  "from 0 to 30d (e.g. 90s, 5m, 1h30m, 500ms, or seconds)",
	  -EINVAL },
	{ "duration-range.yaml",
	  ":6:5: rules[0] (cpu-high): keep_firing_for: '31d' is not a "
	  "duration from 0 to 30d (e.g. 90s, 5m, 1h30m, 500ms, or seconds)",
	  -EINVAL },
	{ "duration-negative.yaml",
	  ":6:5: rules[0] (cpu-high): for: must be a duration from 0 to 30d "
	  "(e.g. 90s, 5m, 1h30m, 500ms, or seconds)",
	  -EINVAL },
	{ "severity.yaml",
	  ":6:5: rules[0] (cpu-high): severity: must be one of critical, "
	  "error, warning, info",
	  -EINVAL },
	{ "scope.yaml",
	  ":5:5: rules[0] (cpu-high): scope: must be one of node, service, "
	  "fleet",
	  -EINVAL },
	{ "labels-type.yaml",
	  ":8:7: rules[0] (cpu-high): labels.tier: must be a string (quote "
	  "numbers and booleans)",
	  -EINVAL },
	{ "labels-reserved.yaml",
	  ":6:14: rules[0] (cpu-high): labels.node: reserved: the alert sets "
	  "it itself",
	  -EINVAL },
	{ "labels-key.yaml",
	  ":7:7: rules[0] (cpu-high): labels.team-name: a label name is 1 to "
	  "128 of [A-Za-z0-9_], not starting with a digit",
	  -EINVAL },
	{ "labels-many.yaml",
	  ":6:5: rules[0] (cpu-high): labels: more than 64 labels", -EINVAL },
	{ "tmpl-unknown.yaml",
	  ":6:5: rules[0] (cpu-high): summary: unknown placeholder {{nod}} "
	  "(known: node, service, probe, value, value_pct, threshold, "
	  "threshold_pct, rule, severity, scope, subject, for, labels.KEY)",
	  -EINVAL },
	{ "tmpl-scope.yaml",
	  ":8:5: rules[0] (fleet-low): description: {{node}} is only in node "
	  "rules",
	  -EINVAL },
	{ "tmpl-probe.yaml",
	  ":6:5: rules[0] (cpu-high): summary: {{probe}} is only with a "
	  "per-probe subject (probe_error_rate, probe_p99_over_slo)",
	  -EINVAL },
	{ "tmpl-unterminated.yaml",
	  ":6:5: rules[0] (cpu-high): summary: '{{' at byte 8 is not closed "
	  "by '}}' (write \\{{ for a literal {{)",
	  -EINVAL },
	{ "tmpl-long.yaml",
	  ":7:5: rules[0] (cpu-high): description: longer than 1024 bytes",
	  -EINVAL },
};

START_TEST(bad_files)
{
	const struct bad_case *c = &bad_cases[_i];
	char path[512], want[ALERTRULE_ERR_LEN], err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = alertrule_set_new();

	snprintf(path, sizeof(path), "%s%s", BAD(""), c->file);
	snprintf(want, sizeof(want), "%s%s", path, c->msg);
	int r = alertrule_set_add_file(s, path, err, sizeof(err));
	ck_assert_msg(r == c->r, "%s: returned %d, want %d (%s)", c->file, r,
		      c->r, err);
	ck_assert_msg(strcmp(err, want) == 0, "%s:\n got  '%s'\n want '%s'",
		      c->file, err, want);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_uint_eq(s->nfiles, 0);
	alertrule_set_free(s);
}
END_TEST

/* Every bad fixture file is in the table: none is left untested. */
START_TEST(bad_files_all_listed)
{
	DIR *d = opendir(BAD(""));
	struct dirent *de;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		bool found = false;
		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++)
			found |= strcmp(bad_cases[i].file, de->d_name) == 0;
		ck_assert_msg(found, "%s is not in bad_cases", de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_uint_eq(n, ARRAY_SIZE(bad_cases));
}
END_TEST

START_TEST(failed_add_leaves_set)
{
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = load_file(GOOD("full.yaml"));
	const char *text =
	    "constitutional_hash: cdd01ef066bc6cf2\n"
	    "rules:\n"
	    "  - {name: new-one, condition: cpu > 1, summary: s}\n"
	    "  - {name: cpu-high, condition: cpu > 1, summary: s}\n";

	ck_assert_int_eq(alertrule_set_add_string(s, "mem.yaml", text,
						  strlen(text), err,
						  sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(
	    err, "mem.yaml:4:6: rules[1]: name: 'cpu-high' is "
		 "already the name of the rule at " GOOD("full.yaml") ":5");
	ck_assert_uint_eq(s->n, 4);
	ck_assert_uint_eq(s->nfiles, 1);
	ck_assert_ptr_null(alertrule_set_find(s, "new-one"));
	alertrule_set_free(s);
}
END_TEST

START_TEST(load_dir_order)
{
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = NULL;

	int r = alertrule_load_dir(FIXTURES_DIR "/alerts/dir", &s, err,
				   sizeof(err));
	ck_assert_msg(r == 0, "%d %s", r, err);
	ck_assert_uint_eq(s->nfiles, 2);
	ck_assert_str_eq(s->files[0], FIXTURES_DIR "/alerts/dir/10-first.yaml");
	ck_assert_str_eq(s->files[1],
			 FIXTURES_DIR "/alerts/dir/20-second.yaml");
	ck_assert_uint_eq(s->n, 3);
	ck_assert_str_eq(s->rules[0].name, "first-a");
	ck_assert_str_eq(s->rules[1].name, "first-b");
	ck_assert_str_eq(s->rules[2].name, "second");
	ck_assert_str_eq(s->rules[2].file, s->files[1]);
	alertrule_set_free(s);
}
END_TEST

START_TEST(load_dir_errors)
{
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = NULL;

	ck_assert_int_eq(alertrule_load_dir(FIXTURES_DIR "/alerts/dir-dup", &s,
					    err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, FIXTURES_DIR
			 "/alerts/dir-dup/b.yaml:7:5: rules[1]: name: 'shared' "
			 "is already the name of the rule at " FIXTURES_DIR
			 "/alerts/dir-dup/a.yaml:7");
	ck_assert_ptr_null(s);

	ck_assert_int_eq(alertrule_load_dir(FIXTURES_DIR "/alerts/nonexistent",
					    &s, err, sizeof(err)),
			 -ENOENT);
	ck_assert_str_eq(err, FIXTURES_DIR
			 "/alerts/nonexistent: No such file or directory");
	ck_assert_int_eq(
	    alertrule_load_dir(GOOD("full.yaml"), &s, err, sizeof(err)),
	    -ENOTDIR);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(alertrule_set_add_file(s = alertrule_set_new(),
						FIXTURES_DIR "/alerts/good",
						err, sizeof(err)),
			 -EISDIR);
	alertrule_set_free(s);
}
END_TEST

static void append_rules(struct buf *b, size_t from, size_t n)
{
	ck_assert_int_eq(buf_puts(b, "constitutional_hash: cdd01ef066bc6cf2\n"
				     "rules:\n"),
			 0);
	for (size_t i = from; i < from + n; i++)
		ck_assert_int_eq(buf_printf(b,
					    "  - {name: r%zu, condition: cpu > "
					    "0.5, summary: s}\n",
					    i),
				 0);
}

START_TEST(cap_rules)
{
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = alertrule_set_new();
	struct buf b;

	buf_init(&b, 1 << 20);
	append_rules(&b, 0, ALERTRULE_MAX_RULES - 1);
	ck_assert_int_eq(
	    alertrule_set_add_string(s, "a", b.data, b.len, err, sizeof(err)),
	    0);
	buf_reset(&b);
	append_rules(&b, ALERTRULE_MAX_RULES, 2);
	ck_assert_int_eq(
	    alertrule_set_add_string(s, "b", b.data, b.len, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "b:2:1: rules: 2 rules here and 1023 before: "
			      "more than 1024 in all");
	buf_reset(&b);
	append_rules(&b, ALERTRULE_MAX_RULES, 1);
	ck_assert_int_eq(
	    alertrule_set_add_string(s, "c", b.data, b.len, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(s->n, ALERTRULE_MAX_RULES);
	ck_assert_uint_eq(s->rules[ALERTRULE_MAX_RULES - 1].line, 3);
	buf_release(&b);
	alertrule_set_free(s);
}
END_TEST

/* ---- alerts/default.yaml: the ACGS operating rules ---- */

START_TEST(default_rules)
{
	static const struct want_rule want[] = {
		{ "NodeDown", ALERTRULE_SCOPE_NODE, ALERTRULE_SUBJECT_DOWN,
		  ALERTRULE_OP_EQ, 1, 60000, 0, ALERTRULE_SEVERITY_CRITICAL, 0,
		  "Node {{node}} is down", NULL },
		{ "ProbeErrorRateHigh", ALERTRULE_SCOPE_NODE,
		  ALERTRULE_SUBJECT_PROBE_ERROR_RATE, ALERTRULE_OP_GT, 0.05,
		  120000, 0, ALERTRULE_SEVERITY_WARNING, 0,
		  "Probe {{probe}} on {{node}} fails {{value_pct}} of its runs",
		  NULL },
		{ "NodeCPUHigh", ALERTRULE_SCOPE_NODE, ALERTRULE_SUBJECT_CPU,
		  ALERTRULE_OP_GT, 0.9, 300000, 0, ALERTRULE_SEVERITY_WARNING,
		  0, "CPU of {{node}} is {{value_pct}} busy", NULL },
		{ "NodeMemoryHigh", ALERTRULE_SCOPE_NODE, ALERTRULE_SUBJECT_MEM,
		  ALERTRULE_OP_GT, 0.95, 180000, 0, ALERTRULE_SEVERITY_WARNING,
		  0, "Memory of {{node}} is {{value_pct}} used", NULL },
		{ "NodeDiskFull", ALERTRULE_SCOPE_NODE, ALERTRULE_SUBJECT_DISK,
		  ALERTRULE_OP_GT, 0.9, 0, 0, ALERTRULE_SEVERITY_WARNING, 0,
		  "A filesystem of {{node}} is {{value_pct}} full", NULL },
		{ "NodeHealthLow", ALERTRULE_SCOPE_NODE,
		  ALERTRULE_SUBJECT_SCORE, ALERTRULE_OP_LT, 0.5, 120000, 0,
		  ALERTRULE_SEVERITY_ERROR, 0,
		  "Health score of {{node}} is {{value}}", NULL },
		{ "FleetScoreLow", ALERTRULE_SCOPE_FLEET,
		  ALERTRULE_SUBJECT_SCORE, ALERTRULE_OP_LT, 0.8, 0, 0,
		  ALERTRULE_SEVERITY_CRITICAL, 0,
		  "Fleet health score is {{value}}", NULL },
		{ "ComplianceFailed", ALERTRULE_SCOPE_NODE,
		  ALERTRULE_SUBJECT_COMPLIANCE_FAILED, ALERTRULE_OP_GT, 0, 0, 0,
		  ALERTRULE_SEVERITY_CRITICAL, 0,
		  "{{value}} compliance check(s) fail on {{node}}", NULL },
		{ "ProbeLatencyAboveSLO", ALERTRULE_SCOPE_NODE,
		  ALERTRULE_SUBJECT_PROBE_P99_OVER_SLO, ALERTRULE_OP_GT, 1,
		  300000, 0, ALERTRULE_SEVERITY_WARNING, 0,
		  "Probe {{probe}} on {{node}}: p99 at {{value_pct}} of its "
		  "SLO",
		  NULL },
	};
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = NULL;

	int r = alertrule_load_dir(ALERTS_DIR, &s, err, sizeof(err));
	ck_assert_msg(r == 0, "%d %s", r, err);
	ck_assert_uint_eq(s->nfiles, 1);
	ck_assert_uint_eq(s->n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		check_rule(&s->rules[i], &want[i]);
		ck_assert_msg(strlen(s->rules[i].description) > 40,
			      "%s: a description says more", s->rules[i].name);
	}

	/* What a page for a down node says. */
	struct alertrule_ctx ctx = { .rule = &s->rules[0],
				     .node = "web-1",
				     .value = 1 };
	char out[1025];
	ck_assert_int_eq(
	    alertrule_render(s->rules[0].summary, &ctx, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Node web-1 is down");
	ck_assert_int_eq(
	    alertrule_render(s->rules[0].description, &ctx, out, sizeof(out)),
	    0);
	ck_assert_str_eq(out,
			 "web-1 has been offline or silent for more than 1m: "
			 "the server has no current sample from its agent. "
			 "Check the host, the acgs-agent unit (systemctl "
			 "status acgs-agent) and its network path to the "
			 "broker.");
	ctx = (struct alertrule_ctx){ .rule = &s->rules[1],
				      .node = "web-1",
				      .service = "governance-api",
				      .probe = "api-health",
				      .value = 0.125 };
	ck_assert_int_eq(
	    alertrule_render(s->rules[1].description, &ctx, out, sizeof(out)),
	    0);
	ck_assert_str_eq(out, "The error rate of probe api-health (service "
			      "governance-api) on web-1 has been above 5% for "
			      "2m; it is 12.5% now.");
	alertrule_set_free(s);
}
END_TEST

/* ---- templates ---- */

static const char *node_label(void *user, const char *key)
{
	(void)user;
	if (strcmp(key, "team") == 0)
		return "node-team"; /* the rule's label wins */
	if (strcmp(key, "rack") == 0)
		return "r42";
	if (strcmp(key, "bad") == 0)
		return "a\xff"
		       "b\xe2\x82"; /* invalid and cut UTF-8 */
	return NULL;
}

static struct alertrule_set *full_set(void)
{
	return load_file(GOOD("full.yaml"));
}

static const struct tmpl_case {
	const char *tmpl;
	double value;
	const char *want;
} tmpl_cases[] = {
	{ "{{node}}|{{service}}|{{probe}}", 0.5, "web-1|governance-api|db" },
	{ "{{ node }}/{{\tnode\t}}", 0.5, "web-1/web-1" },
	{ "{{value}} {{value_pct}}", 0.934, "0.934 93.4%" },
	{ "{{value}} {{value_pct}}", 0.9, "0.9 90%" },
	{ "{{value}} {{value_pct}}", 3, "3 300%" },
	{ "{{value}}", 1234.56, "1234.6" },
	{ "{{value}}", -0.0, "0" },
	{ "{{value}}", 0.000123456, "0.000123" },
	{ "{{value}}", 12345678, "12345678" },
	{ "{{value}}", 1e20, "1e+20" },
	{ "{{value}} {{value_pct}}", NAN, "n/a n/a" },
	{ "{{threshold}} {{threshold_pct}}", 0, "0.9 90%" },
	{ "{{rule}} {{severity}} {{scope}} {{subject}} {{for}}", 0,
	  "cpu-high critical node cpu 5m" },
	{ "{{labels.team}} {{labels.rack}} [{{labels.nothing}}]", 0,
	  "platform r42 []" },
	{ "{{labels.bad}}", 0,
	  "a\xef\xbf\xbd"
	  "b\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\\{{node}} and }} and {x} and \\ and \\{", 0,
	  "{{node}} and }} and {x} and \\ and \\{" },
	{ "\\{{{{node}}", 0, "{{web-1" },
	{ "", 0, "" },
	{ "€ ünïcödé ✓", 0, "€ ünïcödé ✓" },
};

START_TEST(render_placeholders)
{
	const struct tmpl_case *c = &tmpl_cases[_i];
	struct alertrule_set *s = full_set();
	struct alertrule_ctx ctx = { .rule = &s->rules[0],
				     .node = "web-1",
				     .service = "governance-api",
				     .probe = "db",
				     .value = c->value,
				     .node_label = node_label };
	char out[256];

	ck_assert_int_eq(alertrule_render(c->tmpl, &ctx, out, sizeof(out)), 0);
	ck_assert_msg(strcmp(out, c->want) == 0, "'%s': got '%s', want '%s'",
		      c->tmpl, out, c->want);
	alertrule_set_free(s);
}
END_TEST

START_TEST(render_absent)
{
	struct alertrule_ctx ctx = { .value = NAN };
	char out[64];

	/* no rule, no node: empty strings, and n/a for numbers */
	ck_assert_int_eq(alertrule_render("[{{node}}{{rule}}{{labels.x}}"
					  "{{threshold}}{{for}}] {{value}}",
					  &ctx, out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "[] n/a");
}
END_TEST

START_TEST(render_invalid)
{
	struct alertrule_ctx ctx = { .value = 1 };
	static const char *const bad[] = {
		"{{nod}}",	  "x {{node", "{{labels.}}",
		"{{labels.a b}}", "{{}}",     "{{VALUE}}",
	};
	char out[16];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(out, sizeof(out), "junk");
		ck_assert_msg(
		    alertrule_render(bad[i], &ctx, out, sizeof(out)) == -EINVAL,
		    "%s", bad[i]);
		ck_assert_str_eq(out, "");
	}
	ck_assert_int_eq(alertrule_render("x", &ctx, out, 0), -EINVAL);
}
END_TEST

/* Truncation keeps whole characters: at every size the result is the
 * longest prefix of the full text that ends on a character boundary. */
START_TEST(render_truncation)
{
	struct alertrule_ctx ctx = { .node = "n\xc3\xa9" /* né */, .value = 1 };
	const char *tmpl = "a€{{node}}😀z";
	const char *full = "a€né😀z";
	/* character boundaries of full, in bytes */
	static const size_t bounds[] = { 0, 1, 4, 5, 7, 11, 12 };
	char out[32];

	for (size_t outlen = 1; outlen <= strlen(full) + 1; outlen++) {
		size_t want = 0;
		for (size_t i = 0; i < ARRAY_SIZE(bounds); i++)
			if (bounds[i] <= outlen - 1)
				want = bounds[i];
		memset(out, 'X', sizeof(out));
		int r = alertrule_render(tmpl, &ctx, out, outlen);
		ck_assert_msg(r == (want == strlen(full) ? 0 : -E2BIG),
			      "outlen %zu: %d", outlen, r);
		ck_assert_msg(strlen(out) == want, "outlen %zu: '%s'", outlen,
			      out);
		ck_assert(memcmp(out, full, want) == 0);
	}
}
END_TEST

/* A 1024-byte summary with a long value still fits PagerDuty's 1024
 * characters, cut, and is never an error. */
START_TEST(render_long_value)
{
	char node[2048], out[1025];
	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	struct alertrule_ctx ctx = { .node = node, .value = 1 };

	ck_assert_int_eq(
	    alertrule_render("{{node}} is down", &ctx, out, sizeof(out)),
	    -E2BIG);
	ck_assert_uint_eq(strlen(out), 1024);
}
END_TEST

START_TEST(names_and_conditions)
{
	enum alertrule_subject subj;
	enum alertrule_scope scope;
	enum alertrule_op op;
	enum alertrule_severity sev;

	for (int i = 0; i < ALERTRULE_SUBJECT_COUNT_; i++) {
		const char *n = alertrule_subject_name(i);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(alertrule_subject_parse(n, &subj), 0);
		ck_assert_int_eq(subj, i);
		ck_assert_uint_ne(alertrule_subject_scopes(i), 0);
	}
	ck_assert_ptr_null(alertrule_subject_name(ALERTRULE_SUBJECT_COUNT_));
	ck_assert_int_eq(alertrule_subject_parse("nope", &subj), -EINVAL);
	ck_assert(
	    alertrule_subject_per_probe(ALERTRULE_SUBJECT_PROBE_ERROR_RATE));
	ck_assert(!alertrule_subject_per_probe(ALERTRULE_SUBJECT_CPU));
	ck_assert_uint_eq(alertrule_subject_scopes(ALERTRULE_SUBJECT_SCORE),
			  ALERTRULE_IN_NODE | ALERTRULE_IN_SERVICE |
			      ALERTRULE_IN_FLEET);
	ck_assert_int_eq(alertrule_scope_parse("fleet", &scope), 0);
	ck_assert_int_eq(scope, ALERTRULE_SCOPE_FLEET);
	ck_assert_int_eq(alertrule_op_parse("<=", &op), 0);
	ck_assert_int_eq(op, ALERTRULE_OP_LE);
	ck_assert_int_eq(alertrule_severity_parse("info", &sev), 0);
	ck_assert_int_eq(sev, ALERTRULE_SEVERITY_INFO);
	ck_assert_int_eq(alertrule_severity_parse("page", &sev), -EINVAL);

	static const struct {
		enum alertrule_op op;
		double v;
		bool want;
	} cmp[] = {
		{ ALERTRULE_OP_GT, 0.91, true },
		{ ALERTRULE_OP_GT, 0.9, false },
		{ ALERTRULE_OP_GE, 0.9, true },
		{ ALERTRULE_OP_LT, 0.9, false },
		{ ALERTRULE_OP_LE, 0.9, true },
		{ ALERTRULE_OP_EQ, 0.9, true },
		{ ALERTRULE_OP_NE, 0.9, false },
		{ ALERTRULE_OP_NE, 1, true },
		{ ALERTRULE_OP_GT, NAN, false },
		{ ALERTRULE_OP_NE, NAN, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cmp); i++) {
		struct alertrule_condition c = { ALERTRULE_SUBJECT_CPU,
						 cmp[i].op, 0.9 };
		ck_assert_msg(alertrule_condition_holds(&c, cmp[i].v) ==
				  cmp[i].want,
			      "case %zu", i);
	}
}
END_TEST

START_TEST(durations_format)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{ 0, "0s" },	    { 500, "500ms" },
		{ 90000, "1m30s" }, { 7200000, "2h" },
		{ 86400000, "1d" }, { 90061001, "1d1h1m1s1ms" },
		{ -5, "0s" },
	};
	char out[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		alertrule_format_duration(cases[i].ms, out);
		ck_assert_str_eq(out, cases[i].want);
	}
}
END_TEST

START_TEST(identity)
{
	struct alertrule_set *s = full_set();
	struct alertstate_label l[2];
	char k1[ALERTSTATE_DEDUP_KEY_LEN], k2[ALERTSTATE_DEDUP_KEY_LEN];

	ck_assert_uint_eq(alertrule_identity(&s->rules[0], "web-1", NULL, l),
			  1);
	ck_assert_str_eq(l[0].key, "node");
	ck_assert_str_eq(l[0].value, "web-1");
	ck_assert_uint_eq(alertrule_identity(&s->rules[1], "api", NULL, l), 1);
	ck_assert_str_eq(l[0].key, "service");
	ck_assert_uint_eq(alertrule_identity(&s->rules[2], "fleet", NULL, l),
			  0);
	ck_assert_uint_eq(alertrule_identity(&s->rules[3], "web-1", "db", l),
			  2);
	ck_assert_str_eq(l[1].key, "probe");
	ck_assert_str_eq(l[1].value, "db");
	ck_assert_int_eq(alertstate_dedup_key(s->rules[3].name, l, 2, k1), 0);
	ck_assert_uint_eq(alertrule_identity(&s->rules[3], "web-1", "api", l),
			  2);
	ck_assert_int_eq(alertstate_dedup_key(s->rules[3].name, l, 2, k2), 0);
	ck_assert_str_ne(k1, k2);
	alertrule_set_free(s);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("alertrule");
	TCase *tc = tcase_create("files");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, good_full);
	tcase_add_test(tc, good_minimal_defaults);
	tcase_add_test(tc, good_durations);
	tcase_add_loop_test(tc, bad_files, 0, ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, bad_files_all_listed);
	tcase_add_test(tc, failed_add_leaves_set);
	tcase_add_test(tc, load_dir_order);
	tcase_add_test(tc, load_dir_errors);
	tcase_add_test(tc, cap_rules);
	tcase_add_test(tc, default_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("templates");
	tcase_add_loop_test(tc, render_placeholders, 0, ARRAY_SIZE(tmpl_cases));
	tcase_add_test(tc, render_absent);
	tcase_add_test(tc, render_invalid);
	tcase_add_test(tc, render_truncation);
	tcase_add_test(tc, render_long_value);
	tcase_add_test(tc, names_and_conditions);
	tcase_add_test(tc, durations_format);
	tcase_add_test(tc, identity);
	suite_add_tcase(s, tc);
	return s;
}
