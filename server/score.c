/* Health scores (see score.h and docs/health-score.md). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "score.h"
#include "timeutil.h"
#include "yamldoc.h"

static double clamp01(double v)
{
	if (!(v > 0)) /* also NaN */
		return 0;
	return v > 1 ? 1 : v;
}

/* 1 at or below good, 0 at or above bad, linear between. */
static double ramp(double v, double good, double bad)
{
	if (v <= good)
		return 1;
	if (v >= bad)
		return 0;
	return (bad - v) / (bad - good);
}

/* Running (1 - k) × mean + k × min over the values added, skipping the ones
 * that are not finite. */
struct blend {
	double sum, min;
	size_t n;
};

static void blend_add(struct blend *b, double v)
{
	if (!isfinite(v))
		return;
	v = clamp01(v);
	if (b->n == 0 || v < b->min)
		b->min = v;
	b->sum += v;
	b->n++;
}

/* NaN when nothing was added. */
static double blend_value(const struct blend *b, double k)
{
	if (b->n == 0)
		return NAN;
	k = clamp01(k);
	return clamp01((1 - k) * (b->sum / (double)b->n) + k * b->min);
}

void score_policy_default(struct score_policy *p)
{
	*p = (struct score_policy){
		.weights = { .resources = 0.4,
			     .probes = 0.4,
			     .compliance = 0.2 },
		.liveness = { .stale_after_intervals = 3,
			      .dead_after_intervals = 6,
			      .default_interval_s = 10 },
		.resources = { .worst_weight = 0.5,
			       .cpu = { 0.70, 0.95 },
			       .mem = { 0.80, 0.95 },
			       .disk = { 0.80, 0.95 },
			       .load_per_cpu = { 1.0, 2.0 },
			       .psi = { 0.10, 0.50 } },
		.probes = { .worst_weight = 0.5,
			    .latency_weight = 0.5,
			    .latency_bad_ratio = 2.0 },
		.compliance = { .cap = 0.5 },
		.service = { .worst_weight = 0.25 },
		.fleet = { .default_criticality = 1 },
	};
}

void score_policy_release(struct score_policy *p)
{
	for (size_t i = 0; i < p->fleet.ncriticality; i++)
		free(p->fleet.criticality[i].service);
	free(p->fleet.criticality);
	score_policy_default(p);
}

/* ---- the policy document ---- */

static int crit_cmp(const void *a, const void *b)
{
	const struct score_criticality *x = a, *y = b;
	return strcmp(x->service, y->service);
}

struct policy_key {
	const char *path;
	size_t offset;
	double min, max;
};

#define PK(path, field, min, max)                                              \
	{                                                                      \
		path, offsetof(struct score_policy, field), min, max           \
	}

static const struct policy_key policy_keys[] = {
	PK("weights.resources", weights.resources, 0, 1000),
	PK("weights.probes", weights.probes, 0, 1000),
	PK("weights.compliance", weights.compliance, 0, 1000),
	PK("liveness.stale_after_intervals", liveness.stale_after_intervals, 1,
	   1000),
	PK("liveness.dead_after_intervals", liveness.dead_after_intervals, 1,
	   1000),
	PK("liveness.default_interval_s", liveness.default_interval_s, 0.1,
	   86400),
	PK("resources.worst_weight", resources.worst_weight, 0, 1),
	PK("resources.cpu.good", resources.cpu.good, 0, 1),
	PK("resources.cpu.bad", resources.cpu.bad, 0, 1),
	PK("resources.mem.good", resources.mem.good, 0, 1),
	PK("resources.mem.bad", resources.mem.bad, 0, 1),
	PK("resources.disk.good", resources.disk.good, 0, 1),
	PK("resources.disk.bad", resources.disk.bad, 0, 1),
	PK("resources.load_per_cpu.good", resources.load_per_cpu.good, 0, 1000),
	PK("resources.load_per_cpu.bad", resources.load_per_cpu.bad, 0, 1000),
	PK("resources.psi.good", resources.psi.good, 0, 1),
	PK("resources.psi.bad", resources.psi.bad, 0, 1),
	PK("probes.worst_weight", probes.worst_weight, 0, 1),
	PK("probes.latency_weight", probes.latency_weight, 0, 1),
	PK("probes.latency_bad_ratio", probes.latency_bad_ratio, 1, 1000),
	PK("compliance.cap", compliance.cap, 0, 1),
	PK("service.worst_weight", service.worst_weight, 0, 1),
	PK("fleet.default_criticality", fleet.default_criticality, 0.01, 1000),
};

#define CRITICALITY_PATH "fleet.criticality"
#define PATH_MAX_LEN	 160

struct policy_parse {
	struct score_policy *p;
	char *err;
	size_t errlen;
};

static int perr(struct policy_parse *pp, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct policy_parse *pp, const char *path, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pp->errlen)
		snprintf(pp->err, pp->errlen, "%s: %s", path, msg);
	return -EINVAL;
}

static const struct policy_key *find_key(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(policy_keys); i++)
		if (strcmp(policy_keys[i].path, path) == 0)
			return &policy_keys[i];
	return NULL;
}

/* A mapping that holds keys of the table ("resources", "resources.cpu"). */
static bool is_section(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < ARRAY_SIZE(policy_keys); i++)
		if (strncmp(policy_keys[i].path, path, n) == 0 &&
		    policy_keys[i].path[n] == '.')
			return true;
	return false;
}

static bool service_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SCORE_SERVICE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

static int parse_criticality(struct policy_parse *pp, const cJSON *map)
{
	struct score_policy *p = pp->p;
	size_t n = (size_t)cJSON_GetArraySize(map);
	const cJSON *c;

	if (!cJSON_IsObject(map))
		return perr(pp, CRITICALITY_PATH,
			    "must be a mapping of service to criticality");
	if (n > SCORE_MAX_CRITICALITY)
		return perr(pp, CRITICALITY_PATH, "more than %d services",
			    SCORE_MAX_CRITICALITY);
	if (n == 0)
		return 0;
	p->fleet.criticality = calloc(n, sizeof(*p->fleet.criticality));
	if (!p->fleet.criticality)
		return -ENOMEM;
	cJSON_ArrayForEach(c, map)
	{
		if (!service_name_valid(c->string))
			return perr(pp, CRITICALITY_PATH,
				    "'%.64s' is not a service name (1-%d of "
				    "A-Z a-z 0-9 . _ -)",
				    c->string, SCORE_SERVICE_MAX);
		if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0.01) ||
		    !(c->valuedouble <= 1000))
			return perr(pp, CRITICALITY_PATH,
				    "%s: must be a number from 0.01 to 1000",
				    c->string);
		struct score_criticality *e =
		    &p->fleet.criticality[p->fleet.ncriticality];
		e->service = strdup(c->string);
		if (!e->service)
			return -ENOMEM;
		e->weight = c->valuedouble;
		p->fleet.ncriticality++;
	}
	qsort(p->fleet.criticality, p->fleet.ncriticality,
	      sizeof(*p->fleet.criticality), crit_cmp);
	/* cJSON keeps duplicate keys of JSON bodies; YAML has none */
	for (size_t i = 1; i < p->fleet.ncriticality; i++)
		if (strcmp(p->fleet.criticality[i - 1].service,
			   p->fleet.criticality[i].service) == 0)
			return perr(pp, CRITICALITY_PATH, "%s: listed twice",
				    p->fleet.criticality[i].service);
	return 0;
}

static int parse_top(struct policy_parse *pp, const cJSON *c, bool *has_hash)
{
	if (strcmp(c->string, "constitutional_hash") == 0) {
		if (!cJSON_IsString(c) ||
		    strcmp(c->valuestring, ACGS_CONSTITUTIONAL_HASH) != 0)
			return perr(pp, c->string, "must be %s",
				    ACGS_CONSTITUTIONAL_HASH);
		*has_hash = true;
		return 0;
	}
	/* "version" */
	if (!cJSON_IsNumber(c) || !(c->valuedouble >= 1) ||
	    !(c->valuedouble <= 1e6) || c->valuedouble != floor(c->valuedouble))
		return perr(pp, c->string,
			    "must be a whole number from 1 to 1000000");
	pp->p->version = (unsigned)c->valuedouble;
	return 0;
}

static int walk(struct policy_parse *pp, const cJSON *obj, const char *prefix,
		bool *has_hash)
{
	const cJSON *c;
	int r;

	cJSON_ArrayForEach(c, obj)
	{
		char path[PATH_MAX_LEN];
		const struct policy_key *k;

		if (!c->string)
			return perr(pp, prefix ? prefix : "(document)",
				    "must be a mapping");
		if (!prefix && (strcmp(c->string, "constitutional_hash") == 0 ||
				strcmp(c->string, "version") == 0)) {
			r = parse_top(pp, c, has_hash);
			if (r < 0)
				return r;
			continue;
		}
		if (snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "",
			     prefix ? "." : "", c->string) >= (int)sizeof(path))
			return perr(pp, prefix ? prefix : "(document)",
				    "unknown key '%.64s'", c->string);
		if (strcmp(path, CRITICALITY_PATH) == 0) {
			r = parse_criticality(pp, c);
		} else if ((k = find_key(path))) {
			if (!cJSON_IsNumber(c) || !(c->valuedouble >= k->min) ||
			    !(c->valuedouble <= k->max))
				return perr(pp, path,
					    "must be a number from %g to %g",
					    k->min, k->max);
			*(double *)(void *)((char *)pp->p + k->offset) =
			    c->valuedouble;
			r = 0;
		} else if (is_section(path)) {
			if (!cJSON_IsObject(c))
				return perr(pp, path, "must be a mapping");
			r = walk(pp, c, path, has_hash);
		} else {
			return perr(pp, path, "unknown key");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_policy(struct policy_parse *pp)
{
	const struct score_policy *p = pp->p;

	if (p->weights.resources + p->weights.probes + p->weights.compliance <=
	    0)
		return perr(pp, "weights", "at least one must be above 0");
	if (!(p->liveness.stale_after_intervals <
	      p->liveness.dead_after_intervals))
		return perr(pp, "liveness",
			    "stale_after_intervals (%g) must be below "
			    "dead_after_intervals (%g)",
			    p->liveness.stale_after_intervals,
			    p->liveness.dead_after_intervals);
	if (!(p->probes.latency_bad_ratio > 1))
		return perr(pp, "probes.latency_bad_ratio", "must be above 1");
	const struct {
		const char *path;
		const struct score_threshold *t;
	} th[] = {
		{ "resources.cpu", &p->resources.cpu },
		{ "resources.mem", &p->resources.mem },
		{ "resources.disk", &p->resources.disk },
		{ "resources.load_per_cpu", &p->resources.load_per_cpu },
		{ "resources.psi", &p->resources.psi },
	};
	for (size_t i = 0; i < ARRAY_SIZE(th); i++)
		if (!(th[i].t->good < th[i].t->bad))
			return perr(pp, th[i].path,
				    "good (%g) must be below bad (%g)",
				    th[i].t->good, th[i].t->bad);
	return 0;
}

int score_policy_from_json(const cJSON *doc, struct score_policy *p, char *err,
			   size_t errlen)
{
	struct score_policy q;
	struct policy_parse pp = { .p = &q, .err = err, .errlen = errlen };
	bool has_hash = false;
	int r;

	if (errlen)
		err[0] = '\0';
	score_policy_default(&q);
	if (!cJSON_IsObject(doc)) {
		r = perr(&pp, "(document)", "must be a mapping");
		goto out;
	}
	r = walk(&pp, doc, NULL, &has_hash);
	if (r == 0 && !has_hash)
		r = perr(&pp, "constitutional_hash", "missing (must be %s)",
			 ACGS_CONSTITUTIONAL_HASH);
	if (r == 0)
		r = check_policy(&pp);
	if (r == -ENOMEM && errlen)
		snprintf(err, errlen, "out of memory");
out:
	if (r < 0) {
		score_policy_release(&q);
		return r;
	}
	score_policy_release(p);
	*p = q;
	return 0;
}

int score_policy_load(const char *path, struct score_policy *p, char *err,
		      size_t errlen)
{
	char msg[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	int r;

	r = yamldoc_load_file(path, &doc, err, errlen);
	if (r < 0)
		return r;
	r = score_policy_from_json(doc, p, msg, sizeof(msg));
	cJSON_Delete(doc);
	if (r < 0 && errlen)
		snprintf(err, errlen, "%s: %s", path, msg);
	return r;
}

/* ---- the node score ---- */

static double liveness(const struct score_policy *p,
		       const struct score_node_input *in, double *ret_silence)
{
	double interval = in->interval_s;
	double stale = p->liveness.stale_after_intervals;
	double dead = p->liveness.dead_after_intervals;

	*ret_silence = 0;
	if (!in->online)
		return 0;
	if (!(isfinite(interval) && interval > 0))
		interval = p->liveness.default_interval_s;
	if (!(isfinite(interval) && interval > 0))
		interval = 10;
	/* in double: int64 differences of hostile timestamps can overflow */
	double silence =
	    ((double)in->now_ms - (double)in->last_seen_ms) / 1000.0 / interval;
	/* a clock behind the sample's is not silence */
	if (!(silence > 0))
		silence = 0;
	*ret_silence = silence;
	return ramp(silence, stale, dead);
}

static double resources(const struct score_policy *p,
			const struct score_node_input *in)
{
	const struct score_threshold *psi = &p->resources.psi;
	struct blend b = { 0 };
	double load = NAN;

	if (isfinite(in->cpu_count) && in->cpu_count > 0)
		load = in->load1 / in->cpu_count;
	/* An infinite reading would ramp to 0 or 1; it is no reading at all,
	 * so it is skipped before ramping, like NaN. */
	const struct {
		double v;
		const struct score_threshold *t;
	} m[] = {
		{ in->cpu_usage, &p->resources.cpu },
		{ in->mem_used_ratio, &p->resources.mem },
		{ in->disk_used_ratio_max, &p->resources.disk },
		{ load, &p->resources.load_per_cpu },
		{ in->psi_cpu_some, psi },
		{ in->psi_mem_some, psi },
		{ in->psi_io_some, psi },
	};
	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		if (isfinite(m[i].v))
			blend_add(&b, ramp(m[i].v, m[i].t->good, m[i].t->bad));
	return blend_value(&b, p->resources.worst_weight);
}

/* NaN for a probe without a result yet. */
static double probe_score(const struct score_policy *p,
			  const struct score_probe_input *pr)
{
	double avail, lat = NAN, latscore = 1;

	if (!pr->has_result)
		return NAN;
	if (pr->runs > 0) {
		unsigned failed =
		    pr->failures < pr->runs ? pr->failures : pr->runs;
		avail = (double)(pr->runs - failed) / (double)pr->runs;
	} else {
		/* no run ended in this window: the last result stands */
		avail = pr->ok ? 1 : 0;
	}
	if (isfinite(pr->p99_ms) && pr->p99_ms >= 0)
		lat = pr->p99_ms;
	else if (pr->ok && isfinite(pr->latency_ms) && pr->latency_ms >= 0)
		lat = pr->latency_ms;
	/* without an SLO or a latency there is nothing to judge it by */
	if (isfinite(lat) && isfinite(pr->slo_ms) && pr->slo_ms > 0)
		latscore =
		    ramp(lat / pr->slo_ms, 1, p->probes.latency_bad_ratio);
	return clamp01(
	    avail * (1 - clamp01(p->probes.latency_weight) * (1 - latscore)));
}

static double probes(const struct score_policy *p,
		     const struct score_node_input *in)
{
	struct blend b = { 0 };

	for (size_t i = 0; in->probes && i < in->nprobes; i++)
		blend_add(&b, probe_score(p, &in->probes[i]));
	return blend_value(&b, p->probes.worst_weight);
}

static double weight(double w)
{
	return isfinite(w) && w > 0 ? w : 0;
}

void score_node(const struct score_policy *p, const struct score_node_input *in,
		struct score_components *out)
{
	double silence, sum = 0, wsum = 0;

	*out = (struct score_components){ 0 };
	out->liveness = liveness(p, in, &silence);
	out->resources = resources(p, in);
	out->probes = probes(p, in);
	out->compliance = NAN;
	if (in->has_compliance && isfinite(in->compliance_ratio))
		out->compliance = clamp01(in->compliance_ratio);

	const struct {
		double c, w;
	} parts[] = {
		{ out->resources, weight(p->weights.resources) },
		{ out->probes, weight(p->weights.probes) },
		{ out->compliance, weight(p->weights.compliance) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (!isfinite(parts[i].c) || parts[i].w == 0)
			continue;
		sum += parts[i].w * parts[i].c;
		wsum += parts[i].w;
	}
	/* Nothing to judge health by: liveness alone speaks. */
	double health = wsum > 0 ? sum / wsum : 1;
	out->score = clamp01(out->liveness * health);

	if (out->liveness == 0) {
		out->capped = true;
		if (!in->online)
			snprintf(out->cap_reason, sizeof(out->cap_reason),
				 "offline");
		else
			snprintf(out->cap_reason, sizeof(out->cap_reason),
				 "no sample for %.1f intervals",
				 silence < 1e6 ? silence : 1e6);
	} else if (in->has_compliance && in->compliance_failed > 0) {
		double cap = clamp01(p->compliance.cap);
		out->capped = true;
		snprintf(out->cap_reason, sizeof(out->cap_reason),
			 "compliance: %u file%s failed", in->compliance_failed,
			 in->compliance_failed == 1 ? "" : "s");
		if (out->score > cap)
			out->score = cap;
	}
}

/* ---- aggregates ---- */

double score_service(const struct score_policy *p, const double *node_scores,
		     size_t n)
{
	struct blend b = { 0 };

	for (size_t i = 0; node_scores && i < n; i++)
		blend_add(&b, node_scores[i]);
	double v = blend_value(&b, p->service.worst_weight);
	return isfinite(v) ? v : 0;
}

double score_criticality(const struct score_policy *p, const char *service)
{
	double def = weight(p->fleet.default_criticality);

	if (!service || !p->fleet.criticality)
		return def;
	struct score_criticality key = { .service =
					     (char *)(uintptr_t)service };
	const struct score_criticality *c =
	    bsearch(&key, p->fleet.criticality, p->fleet.ncriticality,
		    sizeof(key), crit_cmp);
	return c ? weight(c->weight) : def;
}

double score_fleet(const struct score_policy *p, const char *const *services,
		   const double *service_scores, size_t n)
{
	double sum = 0, wsum = 0;

	for (size_t i = 0; service_scores && i < n; i++) {
		if (!isfinite(service_scores[i]))
			continue;
		double w = score_criticality(p, services ? services[i] : NULL);
		sum += w * clamp01(service_scores[i]);
		wsum += w;
	}
	return wsum > 0 ? clamp01(sum / wsum) : 1;
}

/* ---- from a sample ---- */

static double num_at(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble
							     : NAN;
}

static double num_in(const cJSON *obj, const char *section, const char *key)
{
	return num_at(cJSON_GetObjectItemCaseSensitive(obj, section), key);
}

static unsigned count_at(const cJSON *obj, const char *key)
{
	double v = num_at(obj, key);
	if (!(v > 0))
		return 0;
	return v >= (double)UINT_MAX ? UINT_MAX : (unsigned)v;
}

static const char *str_at(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double max_nan(double a, double b)
{
	if (!isfinite(a))
		return b;
	if (!isfinite(b))
		return a;
	return a > b ? a : b;
}

/* A read-only filesystem cannot fill up, and squashfs images always look
 * full: only writable ones count. */
static double fullest_filesystem(const cJSON *sample)
{
	const cJSON *fss =
	    cJSON_GetObjectItemCaseSensitive(sample, "filesystems");
	const cJSON *fs;
	double max = NAN;

	if (!cJSON_IsArray(fss))
		return NAN;
	cJSON_ArrayForEach(fs, fss)
	{
		if (cJSON_IsTrue(
			cJSON_GetObjectItemCaseSensitive(fs, "readonly")))
			continue;
		max = max_nan(max, num_at(fs, "used_ratio"));
		max = max_nan(max, num_at(fs, "inodes_used_ratio"));
	}
	return max;
}

static void probe_from_json(const cJSON *j, struct score_probe_input *pr)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");

	*pr = (struct score_probe_input){
		.name = str_at(j, "name"),
		.service = str_at(j, "service"),
		.has_result = cJSON_IsBool(ok),
		.ok = cJSON_IsTrue(ok),
		.runs = count_at(j, "runs"),
		.failures = count_at(j, "failures"),
		.latency_ms = num_at(j, "latency_ms"),
		.p99_ms = num_at(j, "p99_ms"),
		.slo_ms = num_at(j, "slo_ms"),
	};
}

int score_input_from_sample(const cJSON *sample,
			    struct score_probe_input *probes_out,
			    size_t max_probes, struct score_node_input *out)
{
	const cJSON *psi, *pl, *pj, *comp;
	const char *ts;
	int64_t ts_ms = 0;

	if (!cJSON_IsObject(sample))
		return -EINVAL;
	ts = str_at(sample, "ts");
	if (!ts || time_parse_rfc3339(ts, &ts_ms) < 0)
		ts_ms = 0;
	psi = cJSON_GetObjectItemCaseSensitive(sample, "psi");
	*out = (struct score_node_input){
		.online = true,
		.now_ms = ts_ms,
		.last_seen_ms = ts_ms,
		.interval_s = num_at(sample, "interval"),
		.cpu_usage = num_in(sample, "cpu", "usage"),
		.cpu_count = num_in(sample, "cpu", "count"),
		.mem_used_ratio = num_in(sample, "mem", "used_ratio"),
		.load1 = num_in(sample, "load", "load1"),
		.disk_used_ratio_max = fullest_filesystem(sample),
		.psi_cpu_some = num_in(psi, "cpu", "some"),
		.psi_mem_some = num_in(psi, "memory", "some"),
		.psi_io_some = num_in(psi, "io", "some"),
		.probes = probes_out,
		.compliance_ratio = NAN,
	};

	pl = cJSON_GetObjectItemCaseSensitive(sample, "probes");
	if (!cJSON_IsArray(pl))
		pl = NULL;
	cJSON_ArrayForEach(pj, pl)
	{
		if (!cJSON_IsObject(pj))
			continue;
		if (!probes_out || out->nprobes >= max_probes) {
			if (out->probes_omitted < UINT_MAX)
				out->probes_omitted++;
			continue;
		}
		probe_from_json(pj, &probes_out[out->nprobes++]);
	}

	comp = cJSON_GetObjectItemCaseSensitive(sample, "compliance");
	if (cJSON_IsObject(comp)) {
		out->has_compliance = true;
		out->compliance_ratio = num_at(comp, "ratio");
		out->compliance_failed = count_at(comp, "failed");
	}
	return 0;
}
