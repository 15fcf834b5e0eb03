/* Health scores of nodes, services and the fleet (DESIGN section 5).
 *
 * Every score is a deterministic function into [0, 1] of its inputs and of a
 * policy (weights, thresholds, caps, criticalities) that operators change as
 * a YAML or JSON document. docs/health-score.md gives the formula and worked
 * examples that tests/unit/test_score.c reproduces to four decimals.
 *
 * In short: node = liveness × weighted mean of (resources, probes,
 * compliance), capped at compliance.cap when a compliance check failed.
 * A missing metric (NaN, or not finite) is left out of the means, so that it
 * neither rewards nor punishes; a component with no metric at all is left out
 * of the weighted mean and the other weights renormalized. */
#ifndef ACGS_SCORE_H
#define ACGS_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Longest service name in a policy's criticality map, and most entries. */
#define SCORE_SERVICE_MAX     64
#define SCORE_MAX_CRITICALITY 1024

/* A metric where higher is worse: its sub-score is 1 at or below good, 0 at
 * or above bad, linear between. */
struct score_threshold {
	double good, bad;
};

struct score_criticality {
	char *service; /* owned */
	double weight; /* > 0 */
};

/* A scoring policy. It owns its criticality array: move it, do not copy it,
 * and give it back with score_policy_release(). The field names follow the
 * document's key paths (weights.resources, resources.cpu.good, ...). */
struct score_policy {
	unsigned version; /* the document's "version", 0 when absent */
	struct {
		/* Relative: divided by their sum over the components present,
		 * so they need not add up to 1. */
		double resources, probes, compliance;
	} weights;
	struct {
		/* In sample intervals of silence: liveness is 1 up to
		 * stale_after, 0 from dead_after, linear between. */
		double stale_after_intervals, dead_after_intervals;
		/* used when an input carries no usable interval */
		double default_interval_s;
	} liveness;
	struct {
		/* resources = (1 - worst_weight) × mean + worst_weight × min of
		 * the metrics' sub-scores */
		double worst_weight;
		struct score_threshold cpu, mem, disk, load_per_cpu, psi;
	} resources;
	struct {
		double worst_weight;	  /* as for resources, over probes */
		double latency_weight;	  /* share of a probe's score lost at
					     the worst latency */
		double latency_bad_ratio; /* p99 / slo_ms at which latency
					     scores 0 (1 scores 1) */
	} probes;
	struct {
		double cap; /* node score ceiling while any check fails */
	} compliance;
	struct {
		double worst_weight; /* as for resources, over nodes */
	} service;
	struct {
		double default_criticality;
		struct score_criticality *criticality; /* sorted by service */
		size_t ncriticality;
	} fleet;
};

/* Fill p with the compiled-in defaults (the values of
 * deploy/config/scoring-policy.yaml, without its criticalities). p owns
 * nothing afterwards, so releasing it is optional. */
void score_policy_default(struct score_policy *p);

/* Build a policy from a decoded document (YAML through yamldoc, or an API
 * body): keys absent from it keep their defaults. The document must carry
 * "constitutional_hash": "cdd01ef066bc6cf2". Unknown keys, values of the
 * wrong type or range, good not below bad, stale_after not below dead_after,
 * weights all 0 are errors; err names the key path ("resources.cpu.good:
 * must be a number from 0 to 1"). Returns 0 with *p replaced (the previous
 * policy released), or -EINVAL / -ENOMEM with *p untouched. */
int score_policy_from_json(const cJSON *doc, struct score_policy *p, char *err,
			   size_t errlen);

/* The same for a YAML file, read through yamldoc (errors carry
 * "path:line:col:" for YAML problems and "path: key.path:" for policy
 * ones). Also returns yamldoc's errors. */
int score_policy_load(const char *path, struct score_policy *p, char *err,
		      size_t errlen);

/* Free what p owns and reset it to the defaults. */
void score_policy_release(struct score_policy *p);

/* One probe's latest result, as in a sample's "probes" entry. */
struct score_probe_input {
	const char *name, *service; /* may be NULL */
	bool has_result;	    /* false before its first run ended */
	bool ok;		    /* the last run succeeded */
	unsigned runs, failures;    /* since the previous sample */
	double latency_ms, p99_ms, slo_ms; /* NaN when absent */
};

struct score_node_input {
	bool online; /* false once the will or an "offline" state arrived */
	int64_t now_ms, last_seen_ms; /* scoring time and latest sample's */
	double interval_s;	      /* the agent's sample interval */
	/* From the latest sample; NaN when absent. */
	double cpu_usage, mem_used_ratio, disk_used_ratio_max, load1, cpu_count,
	    psi_cpu_some, psi_mem_some, psi_io_some;
	const struct score_probe_input *probes;
	size_t nprobes;
	unsigned probes_omitted; /* entries beyond the caller's array */
	bool has_compliance;
	double compliance_ratio; /* NaN when absent */
	unsigned compliance_failed;
};

/* Each component in [0, 1]; resources, probes and compliance are NaN when
 * the input had nothing to judge them by (and they then weigh nothing). */
struct score_components {
	double liveness, resources, probes, compliance, score;
	bool capped; /* a ceiling applied: offline/dead (0) or compliance */
	char cap_reason[64];
};

/* Score one node. Never fails; out->score is in [0, 1]. */
void score_node(const struct score_policy *p, const struct score_node_input *in,
		struct score_components *out);

/* Fill out from a decoded metrics payload (the sample of docs/agent.md):
 * online, interval, now_ms = last_seen_ms = its "ts" (the caller sets now_ms
 * and online from its own clock and state), the resource metrics (disk: the
 * fullest writable filesystem by space or inodes), probes and compliance.
 * Probes are written to probes[0..max_probes) and point into sample, so they
 * are valid while it lives; further ones are counted in probes_omitted.
 * Fields that are absent or of the wrong type are NaN / absent. Returns 0, or
 * -EINVAL when sample is not an object. */
int score_input_from_sample(const cJSON *sample,
			    struct score_probe_input *probes, size_t max_probes,
			    struct score_node_input *out);

/* Score of a service from the scores of the nodes running it:
 * (1 - service.worst_weight) × mean + service.worst_weight × min, over the
 * finite scores (each clamped to [0, 1]). 0 when there are none: a service
 * no node runs is not served. */
double score_service(const struct score_policy *p, const double *node_scores,
		     size_t n);

/* Fleet score: the mean of the service scores weighted by each service's
 * criticality (fleet.default_criticality for services not in the map; NULL
 * names too), over the finite scores. 1 when there are none. */
double score_fleet(const struct score_policy *p, const char *const *services,
		   const double *service_scores, size_t n);

/* The criticality the policy gives service. */
double score_criticality(const struct score_policy *p, const char *service);

#endif
