/* Alert rules: the YAML rule files (alerts/NAME.yaml), their validation, and
 * the summary/description templates (docs/alerts.md, "Rules").
 *
 * A rule set is loaded into a new object and handed over only when every
 * file in it is good, so that a caller reloading on SIGHUP keeps its old
 * set when the new files are bad: load, then swap on success.
 *
 * Errors are one line, "FILE:LINE:COL: message": YAML problems as yamldoc
 * reports them, rule problems as
 *   "FILE:LINE:COL: rules[3] (cpu-high): condition.subject: 'foo' is not a
 *    node subject (node subjects: cpu, mem, ...)"
 * where LINE:COL is the key (or list item) at fault and rules[i] counts from
 * 0 in that file. */
#ifndef ACGS_ALERTRULE_H
#define ACGS_ALERTRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertstate.h"

/* Caps. Rules across all files of a set, labels per rule, bytes per
 * template; name lengths; files per directory. */
#define ALERTRULE_MAX_RULES	  1024
#define ALERTRULE_MAX_LABELS	  64
#define ALERTRULE_MAX_TEMPLATE	  1024
#define ALERTRULE_NAME_MAX	  64
#define ALERTRULE_LABEL_KEY_MAX	  128
#define ALERTRULE_LABEL_VALUE_MAX 1024
#define ALERTRULE_MAX_FILES	  256
/* Longest for / keep_firing_for: 30 days. */
#define ALERTRULE_MAX_DURATION_MS (30LL * 24 * 3600 * 1000)
/* A useful size for the err buffers below. */
#define ALERTRULE_ERR_LEN 512

enum alertrule_scope {
	ALERTRULE_SCOPE_NODE = 0,
	ALERTRULE_SCOPE_SERVICE,
	ALERTRULE_SCOPE_FLEET,
};

/* Scope bits, for the subject table below. */
#define ALERTRULE_IN_NODE    (1u << ALERTRULE_SCOPE_NODE)
#define ALERTRULE_IN_SERVICE (1u << ALERTRULE_SCOPE_SERVICE)
#define ALERTRULE_IN_FLEET   (1u << ALERTRULE_SCOPE_FLEET)

/* The subjects a condition can test, as
 *   X(ENUM, "name", scopes, per_probe)
 * The evaluator supplies each value (NaN when the instance has none, which
 * makes the condition false). A per-probe subject has one instance per
 * (node, probe): its scope key is the node and its extra the probe name.
 *   cpu                cpu.usage, 0..1
 *   mem                mem.used_ratio, 0..1
 *   disk               fullest writable filesystem (space or inodes), 0..1
 *   load_per_cpu       load1 / cpu count
 *   psi_cpu, psi_memory, psi_io   pressure "some" avg10, 0..1
 *   score, liveness, resources, probes   node score and its components
 *   down               1 when the node is offline or stale, else 0
 *   compliance_failed  files failing their compliance check
 *   compliance_ratio   share of compliant files (node) or nodes (fleet)
 *   probe_error_rate   failures / runs of the probe over the sample window
 *   probe_p99_over_slo p99_ms / slo_ms of the probe (absent without an SLO)
 *   failing_probes     a service's probes whose last run failed
 *   nodes_down         nodes offline or stale in the fleet */
#define ALERTRULE_SUBJECTS(X)                                                  \
	X(CPU, "cpu", ALERTRULE_IN_NODE, false)                                \
	X(MEM, "mem", ALERTRULE_IN_NODE, false)                                \
	X(DISK, "disk", ALERTRULE_IN_NODE, false)                              \
	X(LOAD_PER_CPU, "load_per_cpu", ALERTRULE_IN_NODE, false)              \
	X(PSI_CPU, "psi_cpu", ALERTRULE_IN_NODE, false)                        \
	X(PSI_MEMORY, "psi_memory", ALERTRULE_IN_NODE, false)                  \
	X(PSI_IO, "psi_io", ALERTRULE_IN_NODE, false)                          \
	X(SCORE, "score",                                                      \
	  ALERTRULE_IN_NODE | ALERTRULE_IN_SERVICE | ALERTRULE_IN_FLEET,       \
	  false)                                                               \
	X(LIVENESS, "liveness", ALERTRULE_IN_NODE, false)                      \
	X(RESOURCES, "resources", ALERTRULE_IN_NODE, false)                    \
	X(PROBES, "probes", ALERTRULE_IN_NODE, false)                          \
	X(DOWN, "down", ALERTRULE_IN_NODE, false)                              \
	X(COMPLIANCE_FAILED, "compliance_failed", ALERTRULE_IN_NODE, false)    \
	X(COMPLIANCE_RATIO, "compliance_ratio",                                \
	  ALERTRULE_IN_NODE | ALERTRULE_IN_FLEET, false)                       \
	X(PROBE_ERROR_RATE, "probe_error_rate", ALERTRULE_IN_NODE, true)       \
	X(PROBE_P99_OVER_SLO, "probe_p99_over_slo", ALERTRULE_IN_NODE, true)   \
	X(FAILING_PROBES, "failing_probes", ALERTRULE_IN_SERVICE, false)       \
	X(NODES_DOWN, "nodes_down", ALERTRULE_IN_FLEET, false)

#define ALERTRULE_SUBJECT_ENUM_(e, name, scopes, per_probe)                    \
	ALERTRULE_SUBJECT_##e,
enum alertrule_subject {
	ALERTRULE_SUBJECTS(ALERTRULE_SUBJECT_ENUM_) ALERTRULE_SUBJECT_COUNT_
};
#undef ALERTRULE_SUBJECT_ENUM_

enum alertrule_op {
	ALERTRULE_OP_GT = 0, /* > */
	ALERTRULE_OP_GE,     /* >= */
	ALERTRULE_OP_LT,     /* < */
	ALERTRULE_OP_LE,     /* <= */
	ALERTRULE_OP_EQ,     /* == */
	ALERTRULE_OP_NE,     /* != */
};

/* PagerDuty's severities, most severe first. */
enum alertrule_severity {
	ALERTRULE_SEVERITY_CRITICAL = 0,
	ALERTRULE_SEVERITY_ERROR,
	ALERTRULE_SEVERITY_WARNING,
	ALERTRULE_SEVERITY_INFO,
};

struct alertrule_condition {
	enum alertrule_subject subject;
	enum alertrule_op op;
	double threshold; /* finite */
};

struct alertrule_label {
	char *key, *value; /* owned by the set */
};

/* One rule, owned by its set. */
struct alertrule {
	char name[ALERTRULE_NAME_MAX + 1];
	enum alertrule_scope scope;
	struct alertrule_condition cond;
	struct alertstate_timing timing; /* for, keep_firing_for */
	enum alertrule_severity severity;
	struct alertrule_label *labels; /* sorted by key, unique */
	size_t nlabels;
	char *summary;	   /* a checked template, never NULL */
	char *description; /* a checked template, "" when absent */
	const char *file;  /* the file it came from (the set's copy) */
	unsigned line;	   /* where its list item starts */
};

/* A loaded set of rules: rules[0..n) in file order, files in name order.
 * Read it; change it only through the functions below. */
struct alertrule_set {
	struct alertrule *rules;
	size_t n, cap;
	char **files;
	size_t nfiles;
};

/* A new empty set, or NULL when out of memory. */
struct alertrule_set *alertrule_set_new(void);

/* Free s and everything it owns; NULL is a no-op. Returns NULL. */
struct alertrule_set *alertrule_set_free(struct alertrule_set *s);

/* Parse len bytes of one rule file (need not be NUL-terminated; name is
 * used in messages and kept as the rules' file) and add its rules to s.
 * Returns 0; -EINVAL with err set when the file is bad (YAML, unknown key,
 * bad value, a name already in s, over a cap); -EFBIG, -E2BIG, -ELOOP as
 * yamldoc; -ENOMEM. On failure s is exactly as it was. */
int alertrule_set_add_string(struct alertrule_set *s, const char *name,
			     const char *text, size_t len, char *err,
			     size_t errlen);

/* The same for the file at path (named by path in messages). Also returns
 * the negative errno of open/read. */
int alertrule_set_add_file(struct alertrule_set *s, const char *path, char *err,
			   size_t errlen);

/* Load every "*.yaml" file of dir (not those whose name starts with '.'),
 * in strcmp order of names, into a new set. Rule names are unique across
 * the files; a directory with no rule file gives an empty set. Returns 0
 * and sets *ret (free with alertrule_set_free), or a negative errno with
 * err set and *ret untouched: as alertrule_set_add_string, plus -ENOENT,
 * -ENOTDIR, -EACCES for dir, -E2BIG over ALERTRULE_MAX_FILES files. */
int alertrule_load_dir(const char *dir, struct alertrule_set **ret, char *err,
		       size_t errlen);

/* The rule called name, or NULL. */
const struct alertrule *alertrule_set_find(const struct alertrule_set *s,
					   const char *name);

/* Names, as written in rule files. NULL / -EINVAL for what is not one. */
const char *alertrule_scope_name(enum alertrule_scope scope);
int alertrule_scope_parse(const char *s, enum alertrule_scope *ret);
const char *alertrule_subject_name(enum alertrule_subject subject);
int alertrule_subject_parse(const char *s, enum alertrule_subject *ret);
const char *alertrule_op_name(enum alertrule_op op);
int alertrule_op_parse(const char *s, enum alertrule_op *ret);
const char *alertrule_severity_name(enum alertrule_severity severity);
int alertrule_severity_parse(const char *s, enum alertrule_severity *ret);

/* The ALERTRULE_IN_* bits of the scopes subject is valid in. */
unsigned alertrule_subject_scopes(enum alertrule_subject subject);

/* Whether subject has one instance per probe. */
bool alertrule_subject_per_probe(enum alertrule_subject subject);

/* Whether value op threshold holds; false when value is NaN (absent). */
bool alertrule_condition_holds(const struct alertrule_condition *c,
			       double value);

/* The identifying labels of an instance of r for alertstate_dedup_key():
 * {node: scope_key} or {service: scope_key} (none for the fleet), then
 * {probe: probe} for a per-probe subject. Written to out; returns how
 * many. The strings are not copied. */
size_t alertrule_identity(const struct alertrule *r, const char *scope_key,
			  const char *probe, struct alertstate_label out[2]);

/* Format ms as the shortest duration a rule file accepts back: "0s",
 * "500ms", "90s" → "1m30s", "2h". out must hold 32 bytes. */
void alertrule_format_duration(int64_t ms, char out[32]);

/* What a template is rendered with. Every field may be NULL/NaN; a
 * placeholder whose value is absent renders as "" ({{value}}: "n/a"). */
struct alertrule_ctx {
	const struct alertrule *rule; /* rule, severity, threshold, labels */
	const char *node, *service, *probe;
	double value;
	/* The node's own labels for {{labels.KEY}}, after the rule's:
	 * returns the value or NULL. */
	const char *(*node_label)(void *user, const char *key);
	void *user;
};

/* Render tmpl (a template as checked at load; see docs/alerts.md) into out,
 * always NUL-terminated and valid UTF-8: bytes of tmpl or of a value that
 * are not UTF-8 become U+FFFD, and truncation never cuts a character.
 * Returns 0; -E2BIG when the result was cut to fit (out holds the cut
 * text: use it, a page must not fail for its length); -EINVAL when tmpl is
 * not a valid template or outlen is 0 (out is "" if it has room). */
int alertrule_render(const char *tmpl, const struct alertrule_ctx *ctx,
		     char *out, size_t outlen);

#endif
