/* A small Prometheus registry: counters, gauges and histograms with labels.
 *
 * Metrics are registered up front (name, help, type, label names, bucket
 * bounds); a series is one combination of label values, created on first use
 * and kept until metrics_free(), so a handle to it stays valid. Updates
 * through a handle are lock-free atomic adds and may come from any thread
 * (MHD threads meter requests while the main loop counts ingest); only
 * creating a series and rendering take a lock. Callers on a hot path resolve
 * their handles once and keep them.
 *
 * Every metric holds at most METRICS_MAX_SERIES series: past that,
 * metric_series() returns NULL (every update accepts NULL and does nothing)
 * and the refusal is counted and rendered as
 * acgs_metrics_series_dropped_total{metric="<name>"}. */
#ifndef ACGS_METRICS_H
#define ACGS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_MAX_SERIES  1000
#define METRICS_MAX_LABELS  8
#define METRICS_MAX_BUCKETS 32
/* Longest label value kept; longer values are refused (NULL handle). */
#define METRICS_MAX_LABEL_VALUE 256

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metrics;
struct metric;	      /* one registered metric (a family of series) */
struct metric_series; /* one label-value combination of a metric */

/* An empty registry, or NULL when out of memory. Free with metrics_free(). */
struct metrics *metrics_new(void);

/* Free the registry, its metrics and their series (every handle becomes
 * invalid). metrics_free(NULL) is a no-op. Returns NULL. */
struct metrics *metrics_free(struct metrics *m);

/* Register a metric. name follows [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not "le" on a histogram, not "__"-prefixed); help
 * is copied. A histogram takes nbounds strictly increasing finite bucket
 * upper bounds (the +Inf bucket is implicit); other types pass NULL, 0.
 * Sets *ret (owned by the registry) and returns 0; -EINVAL on a bad name,
 * label or bounds, -EEXIST when the name is taken, -ENOMEM. */
int metrics_register(struct metrics *m, const char *name, const char *help,
		     enum metric_type type, const char *const *labels,
		     size_t nlabels, const double *bounds, size_t nbounds,
		     struct metric **ret);

/* Raise (or lower) the cap on f's series from METRICS_MAX_SERIES: the
 * per-node families hold one series per node. Creating a series is linear
 * in the series held (done once per node and kept), updates are not. */
void metric_set_max_series(struct metric *f, size_t max);

/* The registered metric of that name, or NULL. */
struct metric *metrics_find(struct metrics *m, const char *name);

/* The series for these label values (one per label name, in registration
 * order; NULL for a metric without labels), created on first use. Values are
 * copied. Returns NULL when the metric already has METRICS_MAX_SERIES series
 * (counted), a value is NULL or longer than METRICS_MAX_LABEL_VALUE, or
 * memory ran out. Takes the metric's lock: resolve once, keep the handle. */
struct metric_series *metric_series(struct metric *f,
				    const char *const *values);

/* Counter: add 1 or n. Gauge: add too (a gauge may also go down with
 * metric_gauge_add). No-op on NULL. */
void metric_inc(struct metric_series *s);
void metric_add(struct metric_series *s, uint64_t n);

/* Gauge: set or move the value. No-op on NULL or on a non-gauge. */
void metric_gauge_set(struct metric_series *s, double v);
void metric_gauge_add(struct metric_series *s, double delta);

/* Histogram: count one observation into its bucket and the sum. The sum is
 * kept in integer millionths (microseconds for durations in seconds) so it
 * can be added atomically; NaN is ignored. No-op on NULL or a non-histogram. */
void metric_observe(struct metric_series *s, double v);

/* The current value of a counter or gauge series (tests, self-checks). */
double metric_value(const struct metric_series *s);

/* How many series creations this metric refused at its cap. */
uint64_t metric_dropped(const struct metric *f);

/* Append the whole registry in Prometheus text exposition format 0.0.4
 * (# HELP, # TYPE, samples; histograms as cumulative _bucket{le=...}, _sum
 * and _count) to out, metrics in registration order and series in creation
 * order. Returns 0, or the buf error (-E2BIG, -ENOMEM) with out holding a
 * partial rendering. */
int metrics_render(struct metrics *m, struct buf *out);

#endif
