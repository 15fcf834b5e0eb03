/* Prometheus registry: see metrics.h. */
#include "config.h"

#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric_series {
	struct metric *f;
	uint32_t hash;
	char *values[METRICS_MAX_LABELS];
	/* Counter: the count. Gauge: the bits of a double, so a plain atomic
	 * word can hold it. Histogram: unused. */
	_Atomic uint64_t value;
	_Atomic int64_t sum_micro;
	/* Non-cumulative bucket counts, nbounds + 1 (the last is +Inf);
	 * rendering accumulates them. */
	_Atomic uint64_t buckets[];
};

struct metric {
	struct metric *next;
	char *name;
	char *help;
	enum metric_type type;
	size_t nlabels;
	char *labels[METRICS_MAX_LABELS];
	size_t nbounds;
	double bounds[METRICS_MAX_BUCKETS];

	/* Guards the series array (creation and rendering), never updates. */
	pthread_mutex_t lock;
	struct metric_series **series;
	size_t nseries;
	size_t capseries;
	size_t max_series; /* METRICS_MAX_SERIES unless raised */
	_Atomic uint64_t dropped;
};

struct metrics {
	pthread_mutex_t lock; /* guards the list of metrics */
	struct metric *head;
	struct metric *tail;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void series_free(struct metric_series *s, size_t nlabels)
{
	if (!s)
		return;
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s);
}

static void metric_free(struct metric *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nseries; i++)
		series_free(f->series[i], f->nlabels);
	free(f->series);
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

struct metrics *metrics_free(struct metrics *m)
{
	if (!m)
		return NULL;
	struct metric *f = m->head;
	while (f) {
		struct metric *next = f->next;
		metric_free(f);
		f = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || strlen(s) > 128)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_' || (colon && c == ':');
		if (!alpha && !(p > s && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static int check_definition(const char *name, const char *help,
			    enum metric_type type, const char *const *labels,
			    size_t nlabels, const double *bounds,
			    size_t nbounds)
{
	if (!name_ok(name, true) || !help || nlabels > METRICS_MAX_LABELS ||
	    (nlabels && !labels))
		return -EINVAL;
	for (size_t i = 0; i < nlabels; i++) {
		if (!name_ok(labels[i], false) ||
		    strncmp(labels[i], "__", 2) == 0 ||
		    (type == METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return -EINVAL;
	}
	if (type == METRIC_HISTOGRAM) {
		if (nbounds == 0 || nbounds > METRICS_MAX_BUCKETS || !bounds)
			return -EINVAL;
		for (size_t i = 0; i < nbounds; i++)
			if (!isfinite(bounds[i]) ||
			    (i && !(bounds[i] > bounds[i - 1])))
				return -EINVAL;
	} else if (type == METRIC_COUNTER || type == METRIC_GAUGE) {
		if (nbounds)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

int metrics_register(struct metrics *m, const char *name, const char *help,
		     enum metric_type type, const char *const *labels,
		     size_t nlabels, const double *bounds, size_t nbounds,
		     struct metric **ret)
{
	int r = check_definition(name, help, type, labels, nlabels, bounds,
				 nbounds);
	if (r < 0)
		return r;

	struct metric *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->max_series = METRICS_MAX_SERIES;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help);
	if (!f->name || !f->help)
		goto nomem;
	for (size_t i = 0; i < nlabels; i++) {
		f->labels[i] = strdup(labels[i]);
		if (!f->labels[i])
			goto nomem;
		f->nlabels = i + 1;
	}
	f->nbounds = nbounds;
	if (nbounds)
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));

	pthread_mutex_lock(&m->lock);
	for (struct metric *g = m->head; g; g = g->next) {
		if (strcmp(g->name, name) == 0) {
			pthread_mutex_unlock(&m->lock);
			metric_free(f);
			return -EEXIST;
		}
	}
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	pthread_mutex_unlock(&m->lock);
	*ret = f;
	return 0;
nomem:
	metric_free(f);
	return -ENOMEM;
}

struct metric *metrics_find(struct metrics *m, const char *name)
{
	struct metric *f;
	pthread_mutex_lock(&m->lock);
	for (f = m->head; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			break;
	pthread_mutex_unlock(&m->lock);
	return f;
}

static uint32_t hash_values(const char *const *values, size_t n)
{
	/* FNV-1a over the values with a separator that cannot occur in one. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i];
		     *p; p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0xffu) * 16777619u;
	}
	return h;
}

static bool series_equal(const struct metric_series *s,
			 const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return false;
	return true;
}

static struct metric_series *
series_new(struct metric *f, const char *const *values, uint32_t hash)
{
	size_t nb = f->type == METRIC_HISTOGRAM ? f->nbounds + 1 : 0;
	struct metric_series *s =
	    calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]));
	if (!s)
		return NULL;
	s->f = f;
	s->hash = hash;
	for (size_t i = 0; i < f->nlabels; i++) {
		s->values[i] = strdup(values[i]);
		if (!s->values[i]) {
			series_free(s, f->nlabels);
			return NULL;
		}
	}
	if (f->type == METRIC_GAUGE) {
		double zero = 0.0;
		uint64_t bits;
		memcpy(&bits, &zero, sizeof(bits));
		atomic_init(&s->value, bits);
	}
	return s;
}

void metric_set_max_series(struct metric *f, size_t max)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->max_series = max;
	pthread_mutex_unlock(&f->lock);
}

struct metric_series *metric_series(struct metric *f, const char *const *values)
{
	if (!f || (f->nlabels && !values))
		return NULL;
	for (size_t i = 0; i < f->nlabels; i++)
		if (!values[i] ||
		    strnlen(values[i], METRICS_MAX_LABEL_VALUE + 1) >
			METRICS_MAX_LABEL_VALUE)
			return NULL;

	uint32_t h = hash_values(values, f->nlabels);
	struct metric_series *found = NULL;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nseries && !found; i++)
		if (f->series[i]->hash == h &&
		    series_equal(f->series[i], values, f->nlabels))
			found = f->series[i];
	if (found)
		goto out;
	if (f->nseries >= f->max_series) {
		atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
		goto out;
	}
	if (f->nseries == f->capseries) {
		size_t cap = f->capseries ? f->capseries * 2 : 8;
		struct metric_series **n =
		    realloc(f->series, cap * sizeof(*f->series));
		if (!n)
			goto out;
		f->series = n;
		f->capseries = cap;
	}
	found = series_new(f, values, h);
	if (found)
		f->series[f->nseries++] = found;
out:
	pthread_mutex_unlock(&f->lock);
	return found;
}

static double bits_to_double(uint64_t bits)
{
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static uint64_t double_to_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

void metric_gauge_add(struct metric_series *s, double delta)
{
	if (!s || s->f->type != METRIC_GAUGE)
		return;
	uint64_t old = atomic_load_explicit(&s->value, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
	    &s->value, &old, double_to_bits(bits_to_double(old) + delta),
	    memory_order_relaxed, memory_order_relaxed))
		;
}

void metric_add(struct metric_series *s, uint64_t n)
{
	if (!s)
		return;
	if (s->f->type == METRIC_COUNTER)
		atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
	else if (s->f->type == METRIC_GAUGE)
		metric_gauge_add(s, (double)n);
}

void metric_inc(struct metric_series *s)
{
	metric_add(s, 1);
}

void metric_gauge_set(struct metric_series *s, double v)
{
	if (!s || s->f->type != METRIC_GAUGE)
		return;
	atomic_store_explicit(&s->value, double_to_bits(v),
			      memory_order_relaxed);
}

void metric_observe(struct metric_series *s, double v)
{
	if (!s || s->f->type != METRIC_HISTOGRAM || isnan(v))
		return;
	const struct metric *f = s->f;
	size_t i = 0;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	/* Clamp so the conversion to an integer stays defined. */
	double micro = v * 1e6;
	if (micro > 9e18)
		micro = 9e18;
	else if (micro < -9e18)
		micro = -9e18;
	atomic_fetch_add_explicit(&s->sum_micro, (int64_t)llround(micro),
				  memory_order_relaxed);
}

double metric_value(const struct metric_series *s)
{
	if (!s)
		return 0.0;
	uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	return s->f->type == METRIC_GAUGE ? bits_to_double(v) : (double)v;
}

uint64_t metric_dropped(const struct metric *f)
{
	return f ? atomic_load_explicit(&f->dropped, memory_order_relaxed) : 0;
}

/* Shortest text that reads back as the same double, Go's "g" style. */
static void format_double(char out[32], double v)
{
	if (isnan(v)) {
		snprintf(out, 32, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static int put_escaped(struct buf *out, const char *s, bool quote)
{
	int r = 0;
	const char *run = s;
	for (const char *p = s; *p && r == 0; p++) {
		const char *esc = NULL;
		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (quote && *p == '"')
			esc = "\\\"";
		if (!esc)
			continue;
		r = buf_append(out, run, (size_t)(p - run));
		if (r == 0)
			r = buf_puts(out, esc);
		run = p + 1;
	}
	if (r == 0)
		r = buf_puts(out, run);
	return r;
}

/* name{l1="v1",...,extra} with extra (e.g. le="0.5") optional. */
static int put_sample_name(struct buf *out, const struct metric *f,
			   const char *suffix, const struct metric_series *s,
			   const char *le)
{
	int r = buf_puts(out, f->name);
	if (r == 0 && suffix)
		r = buf_puts(out, suffix);
	if (r < 0 || (f->nlabels == 0 && !le))
		return r;
	r = buf_puts(out, "{");
	for (size_t i = 0; i < f->nlabels && r == 0; i++) {
		r = buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		if (r == 0)
			r = put_escaped(out, s->values[i], true);
		if (r == 0)
			r = buf_puts(out, "\"");
	}
	if (r == 0 && le)
		r = buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
	if (r == 0)
		r = buf_puts(out, "}");
	return r;
}

static int render_histogram(struct buf *out, const struct metric *f,
			    const struct metric_series *s)
{
	char num[32];
	uint64_t cum = 0;
	int r = 0;
	for (size_t i = 0; i <= f->nbounds && r == 0; i++) {
		cum +=
		    atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < f->nbounds)
			format_double(num, f->bounds[i]);
		else
			snprintf(num, sizeof(num), "+Inf");
		r = put_sample_name(out, f, "_bucket", s, num);
		if (r == 0)
			r = buf_printf(out, " %llu\n", (unsigned long long)cum);
	}
	int64_t sum = atomic_load_explicit(&s->sum_micro, memory_order_relaxed);
	format_double(num, (double)sum / 1e6);
	if (r == 0)
		r = put_sample_name(out, f, "_sum", s, NULL);
	if (r == 0)
		r = buf_printf(out, " %s\n", num);
	if (r == 0)
		r = put_sample_name(out, f, "_count", s, NULL);
	if (r == 0)
		r = buf_printf(out, " %llu\n", (unsigned long long)cum);
	return r;
}

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static int render_metric(struct buf *out, struct metric *f)
{
	int r = buf_printf(out, "# HELP %s ", f->name);
	if (r == 0)
		r = put_escaped(out, f->help, false);
	if (r == 0)
		r = buf_printf(out, "\n# TYPE %s %s\n", f->name,
			       type_name(f->type));
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nseries && r == 0; i++) {
		const struct metric_series *s = f->series[i];
		if (f->type == METRIC_HISTOGRAM) {
			r = render_histogram(out, f, s);
			continue;
		}
		char num[32];
		if (f->type == METRIC_GAUGE)
			format_double(num, metric_value(s));
		else
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)atomic_load_explicit(
				     &s->value, memory_order_relaxed));
		r = put_sample_name(out, f, NULL, s, NULL);
		if (r == 0)
			r = buf_printf(out, " %s\n", num);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int render_dropped(struct buf *out, struct metric *head)
{
	bool header = false;
	int r = 0;
	for (struct metric *f = head; f && r == 0; f = f->next) {
		uint64_t n = metric_dropped(f);
		if (!n)
			continue;
		if (!header) {
			r = buf_puts(
			    out,
			    "# HELP acgs_metrics_series_dropped_total Series "
			    "refused at the per-metric cap.\n"
			    "# TYPE acgs_metrics_series_dropped_total "
			    "counter\n");
			header = true;
		}
		if (r == 0)
			r = buf_printf(out,
				       "acgs_metrics_series_dropped_total{"
				       "metric=\"%s\"} %llu\n",
				       f->name, (unsigned long long)n);
	}
	return r;
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int r = 0;
	pthread_mutex_lock(&m->lock);
	for (struct metric *f = m->head; f && r == 0; f = f->next)
		r = render_metric(out, f);
	if (r == 0)
		r = render_dropped(out, m->head);
	pthread_mutex_unlock(&m->lock);
	return r;
}
