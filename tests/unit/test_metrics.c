/* The Prometheus registry: exact text, escaping, caps, threads, cost. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_main.h"
#include "cleanup.h"
#include "metrics.h"
#include "timeutil.h"

static char *render(struct metrics *m)
{
	struct buf b;
	buf_init(&b, 1u << 22);
	ck_assert_int_eq(metrics_render(m, &b), 0);
	char *s = strdup(b.data ? b.data : "");
	buf_release(&b);
	return s;
}

/* One registry per case, fed by a function, compared with exact text. */
struct render_case {
	const char *what;
	void (*feed)(struct metrics *m);
	const char *want;
};

static void feed_counter(struct metrics *m)
{
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "acgs_ingest_total",
					  "Messages ingested.", METRIC_COUNTER,
					  NULL, 0, NULL, 0, &f),
			 0);
	struct metric_series *s = metric_series(f, NULL);
	metric_inc(s);
	metric_add(s, 41);
}

static void feed_labelled_counter(struct metrics *m)
{
	static const char *const labels[] = { "kind", "result" };
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "acgs_msgs_total", "By kind.",
					  METRIC_COUNTER, labels, 2, NULL, 0,
					  &f),
			 0);
	const char *a[] = { "metrics", "ok" }, *b[] = { "birth", "rejected" };
	metric_add(metric_series(f, a), 3);
	metric_inc(metric_series(f, b));
	metric_inc(metric_series(f, a));
}

static void feed_gauge(struct metrics *m)
{
	static const char *const labels[] = { "node" };
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "acgs_node_score", "Health score.",
					  METRIC_GAUGE, labels, 1, NULL, 0, &f),
			 0);
	const char *a[] = { "n1" }, *b[] = { "n2" }, *c[] = { "n3" };
	metric_gauge_set(metric_series(f, a), 0.1);
	metric_gauge_set(metric_series(f, b), 1);
	metric_gauge_add(metric_series(f, b), -0.25);
	metric_gauge_set(metric_series(f, c), INFINITY);
}

static void feed_histogram(struct metrics *m)
{
	static const double bounds[] = { 0.1, 0.5, 1 };
	static const char *const labels[] = { "route" };
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "acgs_lat_seconds", "Latency.",
					  METRIC_HISTOGRAM, labels, 1, bounds,
					  3, &f),
			 0);
	const char *r[] = { "/x" };
	struct metric_series *s = metric_series(f, r);
	metric_observe(s, 0.05);
	metric_observe(s, 0.1); /* le is inclusive */
	metric_observe(s, 0.7);
	metric_observe(s, 3);
	metric_observe(s, NAN); /* ignored */
}

static void feed_escaping(struct metrics *m)
{
	static const char *const labels[] = { "path" };
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "acgs_esc",
					  "Back\\slash\nand \"q\".",
					  METRIC_GAUGE, labels, 1, NULL, 0, &f),
			 0);
	const char *v[] = { "a\"b\\c\nd" };
	metric_gauge_set(metric_series(f, v), 2);
}

static void feed_unlabelled_histogram(struct metrics *m)
{
	static const double bounds[] = { 1 };
	struct metric *f;
	ck_assert_int_eq(metrics_register(m, "h", "H.", METRIC_HISTOGRAM, NULL,
					  0, bounds, 1, &f),
			 0);
	metric_observe(metric_series(f, NULL), 0.25);
}

static const struct render_case render_cases[] = {
	{ "counter", feed_counter,
	  "# HELP acgs_ingest_total Messages ingested.\n"
	  "# TYPE acgs_ingest_total counter\n"
	  "acgs_ingest_total 42\n" },
	{ "labelled counter", feed_labelled_counter,
	  "# HELP acgs_msgs_total By kind.\n"
	  "# TYPE acgs_msgs_total counter\n"
	  "acgs_msgs_total{kind=\"metrics\",result=\"ok\"} 4\n"
	  "acgs_msgs_total{kind=\"birth\",result=\"rejected\"} 1\n" },
	{ "gauge", feed_gauge,
	  "# HELP acgs_node_score Health score.\n"
	  "# TYPE acgs_node_score gauge\n"
	  "acgs_node_score{node=\"n1\"} 0.1\n"
	  "acgs_node_score{node=\"n2\"} 0.75\n"
	  "acgs_node_score{node=\"n3\"} +Inf\n" },
	{ "histogram", feed_histogram,
	  "# HELP acgs_lat_seconds Latency.\n"
	  "# TYPE acgs_lat_seconds histogram\n"
	  "acgs_lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
	  "acgs_lat_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
	  "acgs_lat_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
	  "acgs_lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
	  "acgs_lat_seconds_sum{route=\"/x\"} 3.85\n"
	  "acgs_lat_seconds_count{route=\"/x\"} 4\n" },
	{ "escaping", feed_escaping,
	  "# HELP acgs_esc Back\\\\slash\\nand \"q\".\n"
	  "# TYPE acgs_esc gauge\n"
	  "acgs_esc{path=\"a\\\"b\\\\c\\nd\"} 2\n" },
	{ "unlabelled histogram", feed_unlabelled_histogram,
	  "# HELP h H.\n"
	  "# TYPE h histogram\n"
	  "h_bucket{le=\"1\"} 1\n"
	  "h_bucket{le=\"+Inf\"} 1\n"
	  "h_sum 0.25\n"
	  "h_count 1\n" },
};

START_TEST(test_render_exact)
{
	const struct render_case *c = &render_cases[_i];
	struct metrics *m = metrics_new();
	c->feed(m);
	_cleanup_free_ char *got = render(m);
	ck_assert_msg(strcmp(got, c->want) == 0, "%s:\n--- got\n%s--- want\n%s",
		      c->what, got, c->want);
	ck_assert_ptr_null(metrics_free(m));
}
END_TEST

START_TEST(test_register_rejects)
{
	struct metrics *m = metrics_new();
	struct metric *f;
	static const char *const le[] = { "le" }, *const dup[] = { "a", "a" },
				 *const bad[] = { "1x" },
				 *const dunder[] = { "__x" };
	static const double b_ok[] = { 1, 2 }, b_bad[] = { 2, 1 },
			    b_inf[] = { 1, INFINITY };
	ck_assert_int_eq(metrics_register(m, "9bad", "h", METRIC_COUNTER, NULL,
					  0, NULL, 0, &f),
			 -EINVAL);
	ck_assert_int_eq(metrics_register(m, "x-y", "h", METRIC_COUNTER, NULL,
					  0, NULL, 0, &f),
			 -EINVAL);
	ck_assert_int_eq(
	    metrics_register(m, "h", "h", METRIC_HISTOGRAM, le, 1, b_ok, 2, &f),
	    -EINVAL);
	ck_assert_int_eq(metrics_register(m, "h", "h", METRIC_HISTOGRAM, NULL,
					  0, b_bad, 2, &f),
			 -EINVAL);
	ck_assert_int_eq(metrics_register(m, "h", "h", METRIC_HISTOGRAM, NULL,
					  0, b_inf, 2, &f),
			 -EINVAL);
	ck_assert_int_eq(metrics_register(m, "h", "h", METRIC_HISTOGRAM, NULL,
					  0, NULL, 0, &f),
			 -EINVAL);
	ck_assert_int_eq(
	    metrics_register(m, "c", "h", METRIC_COUNTER, dup, 2, NULL, 0, &f),
	    -EINVAL);
	ck_assert_int_eq(
	    metrics_register(m, "c", "h", METRIC_COUNTER, bad, 1, NULL, 0, &f),
	    -EINVAL);
	ck_assert_int_eq(metrics_register(m, "c", "h", METRIC_COUNTER, dunder,
					  1, NULL, 0, &f),
			 -EINVAL);
	ck_assert_int_eq(metrics_register(m, "a:b_c", "h", METRIC_COUNTER, NULL,
					  0, NULL, 0, &f),
			 0);
	ck_assert_ptr_eq(metrics_find(m, "a:b_c"), f);
	ck_assert_int_eq(metrics_register(m, "a:b_c", "h", METRIC_GAUGE, NULL,
					  0, NULL, 0, &f),
			 -EEXIST);
	metrics_free(m);
	ck_assert_ptr_null(metrics_free(NULL));
}
END_TEST

START_TEST(test_series_cap)
{
	struct metrics *m = metrics_new();
	struct metric *f;
	static const char *const labels[] = { "id" };
	ck_assert_int_eq(metrics_register(m, "capped", "Capped.",
					  METRIC_COUNTER, labels, 1, NULL, 0,
					  &f),
			 0);
	char id[32];
	for (int i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		const char *v[] = { id };
		ck_assert_ptr_nonnull(metric_series(f, v));
	}
	const char *again[] = { "n7" };
	ck_assert_ptr_nonnull(metric_series(f, again)); /* existing: fine */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "extra%d", i);
		const char *v[] = { id };
		struct metric_series *s = metric_series(f, v);
		ck_assert_ptr_null(s);
		metric_inc(s); /* NULL handles are harmless */
	}
	ck_assert_uint_eq(metric_dropped(f), 5);

	char longv[METRICS_MAX_LABEL_VALUE + 2];
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	const char *lv[] = { longv };
	ck_assert_ptr_null(metric_series(f, lv));

	_cleanup_free_ char *text = render(m);
	ck_assert_ptr_nonnull(strstr(
	    text, "# TYPE acgs_metrics_series_dropped_total counter\n"
		  "acgs_metrics_series_dropped_total{metric=\"capped\"} 5\n"));
	metrics_free(m);
}
END_TEST

struct hammer {
	struct metric_series *counter, *gauge, *hist;
	int n;
};

static void *hammer_run(void *p)
{
	struct hammer *h = p;
	for (int i = 0; i < h->n; i++) {
		metric_inc(h->counter);
		metric_gauge_add(h->gauge, 1);
		metric_observe(h->hist, 0.001);
	}
	return NULL;
}

START_TEST(test_concurrent_exact)
{
	struct metrics *m = metrics_new();
	struct metric *c, *g, *hm;
	static const double bounds[] = { 0.01 };
	ck_assert_int_eq(metrics_register(m, "c_total", "C.", METRIC_COUNTER,
					  NULL, 0, NULL, 0, &c),
			 0);
	ck_assert_int_eq(
	    metrics_register(m, "g", "G.", METRIC_GAUGE, NULL, 0, NULL, 0, &g),
	    0);
	ck_assert_int_eq(metrics_register(m, "h_seconds", "H.",
					  METRIC_HISTOGRAM, NULL, 0, bounds, 1,
					  &hm),
			 0);
	struct hammer h = { metric_series(c, NULL), metric_series(g, NULL),
			    metric_series(hm, NULL), 100000 };
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_run, &h),
				 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_double_eq(metric_value(h.counter), 400000);
	ck_assert_double_eq(metric_value(h.gauge), 400000);
	_cleanup_free_ char *text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_bucket{le=\"0.01\"} "
					   "400000\n"));
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_sum 400\n"));
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_count 400000\n"));
	metrics_free(m);
}
END_TEST

/* Concurrent creation of the same and different series from 4 threads. */
static void *create_run(void *p)
{
	struct metric *f = p;
	char id[16];
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "s%d", i % 50);
		const char *v[] = { id };
		metric_inc(metric_series(f, v));
	}
	return NULL;
}

START_TEST(test_concurrent_create)
{
	struct metrics *m = metrics_new();
	struct metric *f;
	static const char *const labels[] = { "id" };
	ck_assert_int_eq(metrics_register(m, "cc_total", "C.", METRIC_COUNTER,
					  labels, 1, NULL, 0, &f),
			 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, create_run, f);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 50; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		const char *v[] = { id };
		ck_assert_double_eq(metric_value(metric_series(f, v)), 16);
	}
	metrics_free(m);
}
END_TEST

/* What the API pays per request: one counter and one histogram through
 * pre-resolved handles. Printed, not asserted (tests never assert time). */
START_TEST(test_metering_cost)
{
	struct metrics *m = metrics_new();
	struct metric *c, *h;
	static const char *const cl[] = { "route", "method", "status" };
	static const char *const hl[] = { "route" };
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
					 0.025,	 0.05,	0.1,	0.25,  0.5,
					 1,	 2.5,	5,	10 };
	ck_assert_int_eq(metrics_register(m, "r_total", "R.", METRIC_COUNTER,
					  cl, 3, NULL, 0, &c),
			 0);
	ck_assert_int_eq(metrics_register(m, "d_seconds", "D.",
					  METRIC_HISTOGRAM, hl, 1, bounds, 14,
					  &h),
			 0);
	const char *cv[] = { "/api/v1/nodes/{id}", "GET", "200" };
	const char *hv[] = { "/api/v1/nodes/{id}" };
	struct metric_series *cs = metric_series(c, cv),
			     *hs = metric_series(h, hv);
	const int n = 1000000;
	uint64_t t0 = time_mono_ns();
	for (int i = 0; i < n; i++) {
		metric_inc(cs);
		metric_observe(hs, 0.0003 * (i & 63));
	}
	uint64_t t1 = time_mono_ns();
	printf("metrics: %.1f ns per metering op (counter + histogram, "
	       "pre-resolved)\n",
	       (double)(t1 - t0) / n);
	/* And the slow path, resolving the counter each time. */
	t0 = time_mono_ns();
	for (int i = 0; i < n / 10; i++)
		metric_inc(metric_series(c, cv));
	t1 = time_mono_ns();
	printf("metrics: %.1f ns per counter op resolved by labels\n",
	       (double)(t1 - t0) / (n / 10));
	ck_assert_double_eq(metric_value(cs), n + n / 10);
	metrics_free(m);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_render_exact, 0,
			    (int)ARRAY_SIZE(render_cases));
	tcase_add_test(tc, test_register_rejects);
	tcase_add_test(tc, test_series_cap);
	tcase_add_test(tc, test_concurrent_exact);
	tcase_add_test(tc, test_concurrent_create);
	tcase_add_test(tc, test_metering_cost);
	suite_add_tcase(s, tc);
	return s;
}
