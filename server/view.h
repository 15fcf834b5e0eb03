/* The server's live view of one node: what its newest sample and birth say,
 * kept in the form the once-a-second rescoring and the API read, so that
 * neither parses JSON again (at 10,000 nodes a re-parse per node per second
 * would be most of the server's CPU).
 *
 * A view is owned by its ingest_node (ingest_node.user) and guarded by the
 * server's lock like the node itself. */
#ifndef ACGS_VIEW_H
#define ACGS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "metrics.h"
#include "score.h"

/* Probes and labels kept per node; a sample's further probes still count in
 * the score input's probes_omitted. */
#define VIEW_MAX_PROBES 64
#define VIEW_MAX_LABELS 32

struct view_label {
	const char *key, *value; /* into node_view.label_text */
};

/* What the API shows of one probe besides the score input. */
struct view_probe_extra {
	double p50_ms;
	bool slo_ok, has_slo_ok;
};

struct node_view {
	/* The newest live sample as received (a validated JSON object). */
	char *sample;
	size_t len;

	/* The score input taken from that sample; its probes point at probes
	 * below, whose name and service strings live in probe_text. now_ms,
	 * last_seen_ms, online and interval_s are set at scoring time. */
	struct score_node_input in;
	struct score_probe_input probes[VIEW_MAX_PROBES];
	struct view_probe_extra probe_extra[VIEW_MAX_PROBES];
	char *probe_text;
	bool has_input;

	/* Labels from the birth, in its order. */
	struct view_label labels[VIEW_MAX_LABELS];
	size_t nlabels;
	char *label_text;

	struct score_components comps;
	bool scored;

	/* This node's series in /metrics (acgs_node_*), resolved once; and
	 * per probe acgs_probe_* (re-resolved when a probe's name changes). */
	struct metric_series *m_node[6];
	bool m_node_set;
	struct view_probe_series {
		char name[65];
		struct metric_series *runs, *failures, *p99, *slo;
	} * m_probe; /* as many as the sample has probes: most nodes have few */
	size_t nm_probe;

	/* In the server's list of nodes for the alerter to evaluate. */
	bool alert_dirty;

	/* Redis: changed since the last push, and the state pushed last. */
	bool hot_dirty;
	const char *hot_state;
	int64_t hot_sample_ms; /* last_seen when a sample was last pushed */
};

/* A new empty view, or NULL when out of memory. */
struct node_view *view_new(void);

/* Free a view (ingest's user-free callback; takes void * for it). */
void view_free(void *v);

/* Take a new live sample: keep a copy of its bytes and its score input.
 * Returns 0; -EINVAL when sample is not a usable sample object (the view is
 * unchanged); -ENOMEM (unchanged). */
int view_set_sample(struct node_view *v, const cJSON *sample,
		    const void *payload, size_t len);

/* Take the labels object of a birth (string values only; others and those
 * past VIEW_MAX_LABELS are skipped). NULL clears them. Returns 0 or
 * -ENOMEM (unchanged). */
int view_set_labels(struct node_view *v, const cJSON *labels);

/* The value of label key, or NULL. */
const char *view_label(const struct node_view *v, const char *key);

/* Whether any probe of the view names service; "unassigned" matches a view
 * whose probes name none. */
bool view_in_service(const struct node_view *v, const char *service);

/* The distinct services of the view's probes, in first-seen order, written
 * to names (room for max); "unassigned" when there are none. Returns how
 * many. The strings live as long as the view's sample. */
size_t view_services(const struct node_view *v, const char **names, size_t max);

#endif
