/* Latency probes: HTTP (libcurl multi) and TCP connect, run on their own
 * intervals by one background thread, reported as a window of results.
 *
 * The runner owns a thread, a curl multi handle and an eventfd; nothing else
 * touches them while it runs. Results cross to the caller's thread through
 * per-probe state under one mutex, read by probe_runner_report(). */
#ifndef ACGS_PROBE_H
#define ACGS_PROBE_H

#include <stddef.h>

struct jsonw;

/* Successful latencies kept per probe per report window, so memory stays
 * bounded: past it the oldest are overwritten and the percentiles cover the
 * most recent ones, while "runs" still counts every run. */
#define PROBE_WINDOW_MAX 1024

enum probe_type { PROBE_HTTP, PROBE_TCP };

struct probe_spec {
	enum probe_type type;
	/* From the config section title: [probe.http api] -> "api". */
	char *name;
	char *url;     /* HTTP only */
	char *host;    /* TCP only */
	unsigned port; /* TCP only */
	/* Seconds between runs; > 0 (the config loader fills the default). */
	double interval;
	double timeout;		/* seconds; > 0 */
	unsigned expect_status; /* HTTP; 0 means any 2xx or 3xx */
	char *service;		/* may be NULL */
	double slo_ms;		/* 0 = no SLO */
};

/* Free the strings of spec and zero it. NULL ok. */
void probe_spec_release(struct probe_spec *spec);

struct probe_runner;

/* Copy the specs and start one thread that runs every probe on its own
 * interval (first run immediately), HTTP probes in parallel via one curl
 * multi handle, TCP with non-blocking connect. n may be 0 (then no thread is
 * started and report writes an empty array). Returns 0 and sets *ret, or a
 * negative errno: -EINVAL for a spec missing its name/url/host, with a
 * non-positive interval/timeout, a negative slo_ms, an expect_status above
 * 999 or a port outside 1..65535; -ENOMEM; -EIO when curl cannot be
 * initialised; or the error of eventfd or pthread_create. The caller keeps
 * its specs. TCP probes resolve their host with blocking getaddrinfo on the
 * probe thread (numeric addresses never touch the resolver). */
int probe_runner_start(const struct probe_spec *specs, size_t n,
		       struct probe_runner **ret);

/* Block until every probe has completed at least one run or timeout_s
 * passed; returns 0 or -ETIMEDOUT. (Used by `acgs-agent --once`.) */
int probe_runner_wait_first(struct probe_runner *r, double timeout_s);

/* Write "probes": [ ... ] into the JSON object w has open: one entry per
 * probe with the results since the previous report, then reset the window.
 * Thread-safe (called from the main thread). r may be NULL (empty array).
 *
 * Entry: name, type ("http"|"tcp"), target (url or host:port), service
 * (string or null), ok and latency_ms (the last run; null before any run
 * completed), runs and failures (in the window), p50_ms and p99_ms
 * (nearest-rank over the window's successful latencies; null when there were
 * none; repeated from the previous window when runs is 0), slo_ms and slo_ok
 * (only with an SLO; slo_ok is p99 <= slo_ms, false when every run failed),
 * for HTTP status (null without a response) and the last run's phase
 * durations dns_ms, connect_ms, tls_ms, ttfb_ms, and error (only when the
 * last run failed). */
void probe_runner_report(struct probe_runner *r, struct jsonw *w);

/* Stop the thread promptly (woken through an eventfd, not after a probe's
 * timeout), join it and free everything. NULL ok; returns NULL. */
struct probe_runner *probe_runner_stop(struct probe_runner *r);

#endif
