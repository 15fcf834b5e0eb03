#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "check_main.h"
#include "cleanup.h"
#include "jsonw.h"
#include "probe.h"

/* Generous: these bound a hang, they do not measure anything. */
#define WAIT_S 20.0

/* ---- a tiny loopback HTTP server ---- */

enum srv_mode { SRV_200, SRV_204, SRV_503, SRV_CLOSE, SRV_HANG };

#define SRV_HELD_MAX 32

struct srv {
	enum srv_mode mode;
	int lfd, stop_fd;
	unsigned port;
	pthread_t thread;
	int held[SRV_HELD_MAX]; /* SRV_HANG: connections left unanswered */
	size_t nheld;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned accepted;
};

static int listen_loopback(int backlog, unsigned *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* A port nothing listens on: bound once, then released. */
static unsigned closed_port(void)
{
	unsigned port;
	int fd = listen_loopback(1, &port);

	close(fd);
	return port;
}

/* A listener whose accept queue is full, so Linux drops further SYNs and a
 * connect to it hangs until its timeout. The queue holds backlog + 1
 * established connections; *ret_filler is that one. */
static int listen_full(unsigned *ret_port, int *ret_filler)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lfd = listen_loopback(0, ret_port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	ck_assert_int_ge(fd, 0);
	a.sin_port = htons((uint16_t)*ret_port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		ck_assert_int_eq(errno, EINPROGRESS);
	ck_assert_int_eq(poll(&p, 1, (int)(WAIT_S * 1000)), 1);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, 0);
	*ret_filler = fd;
	return lfd;
}

/* Read the request head so the client is not reset mid-send. */
static void srv_read_request(int fd)
{
	char req[4096];
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (got < sizeof(req) - 1 && poll(&p, 1, 5000) == 1) {
		ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
}

static void srv_answer(struct srv *s, int fd)
{
	char resp[256];
	int n;

	srv_read_request(fd);
	switch (s->mode) {
	case SRV_200:
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
			     "Connection: close\r\n\r\nok");
		break;
	case SRV_204:
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 204 No Content\r\n"
			     "Connection: close\r\n\r\n");
		break;
	case SRV_503:
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 503 Service Unavailable\r\n"
			     "Content-Length: 4\r\nConnection: close\r\n\r\n"
			     "down");
		break;
	default:
		n = 0;
		break;
	}
	if (n > 0) {
		ssize_t w = write(fd, resp, (size_t)n);
		(void)w;
	}
	close(fd);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
				       { .fd = s->stop_fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		s->accepted++;
		pthread_cond_broadcast(&s->cond);
		if (s->mode == SRV_HANG && s->nheld < SRV_HELD_MAX) {
			s->held[s->nheld++] = fd;
			fd = -1;
		}
		pthread_mutex_unlock(&s->lock);
		if (fd >= 0)
			srv_answer(s, fd);
	}
	return NULL;
}

static void srv_start(struct srv *s, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lfd = listen_loopback(16, &s->port);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(s->stop_fd, 0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	uint64_t one = 1;
	ssize_t w = write(s->stop_fd, &one, sizeof(one));

	ck_assert_int_eq(w, (ssize_t)sizeof(one));
	pthread_join(s->thread, NULL);
	for (size_t i = 0; i < s->nheld; i++)
		close(s->held[i]);
	close(s->lfd);
	close(s->stop_fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

/* Wait until the server has accepted at least n connections. */
static void srv_wait_accepted(struct srv *s, unsigned n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)WAIT_S;
	pthread_mutex_lock(&s->lock);
	while (s->accepted < n)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) ==
		    ETIMEDOUT)
			break;
	ck_assert_uint_ge(s->accepted, n);
	pthread_mutex_unlock(&s->lock);
}

static void srv_url(const struct srv *s, const char *path, char *out, size_t n)
{
	snprintf(out, n, "http://127.0.0.1:%u%s", s->port, path);
}

/* ---- helpers ---- */

static struct probe_spec http_spec(const char *name, const char *url,
				   double timeout)
{
	return (struct probe_spec){ .type = PROBE_HTTP,
				    .name = (char *)name,
				    .url = (char *)url,
				    .interval = 3600,
				    .timeout = timeout };
}

static struct probe_spec tcp_spec(const char *name, const char *host,
				  unsigned port, double timeout)
{
	return (struct probe_spec){ .type = PROBE_TCP,
				    .name = (char *)name,
				    .host = (char *)host,
				    .port = port,
				    .interval = 3600,
				    .timeout = timeout };
}

/* Run probe_runner_report inside an object and parse the result. */
static cJSON *report(struct probe_runner *r)
{
	struct buf b;
	struct jsonw w;
	cJSON *root;

	buf_init(&b, 1 << 20);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	probe_runner_report(r, &w);
	jsonw_obj_end(&w);
	ck_assert_int_eq(jsonw_finish(&w), 0);
	root = cJSON_Parse(b.data);
	ck_assert_msg(root != NULL, "unparsable report: %s", b.data);
	ck_assert(
	    cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "probes")));
	buf_release(&b);
	return root;
}

static const cJSON *entry(const cJSON *root, const char *name)
{
	const cJSON *probes = cJSON_GetObjectItemCaseSensitive(root, "probes");
	const cJSON *e;

	cJSON_ArrayForEach(e, probes)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return e;
	}
	ck_abort_msg("no probe entry named %s", name);
	return NULL;
}

static const cJSON *field(const cJSON *e, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);

	ck_assert_msg(v != NULL, "missing field %s", key);
	return v;
}

static double num(const cJSON *e, const char *key)
{
	const cJSON *v = field(e, key);

	ck_assert_msg(cJSON_IsNumber(v), "field %s is not a number", key);
	return v->valuedouble;
}

static const char *str(const cJSON *e, const char *key)
{
	const cJSON *v = field(e, key);

	ck_assert_msg(cJSON_IsString(v), "field %s is not a string", key);
	return v->valuestring;
}

static bool has(const cJSON *e, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(e, key) != NULL;
}

static bool is_true(const cJSON *e, const char *key)
{
	const cJSON *v = field(e, key);

	ck_assert_msg(cJSON_IsBool(v), "field %s is not a bool", key);
	return cJSON_IsTrue(v);
}

/* Start one probe, wait for its first run, return the parsed report. */
static cJSON *run_once(const struct probe_spec *spec)
{
	struct probe_runner *r = NULL;
	cJSON *root;

	ck_assert_int_eq(probe_runner_start(spec, 1, &r), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(probe_runner_wait_first(r, WAIT_S), 0);
	root = report(r);
	ck_assert_ptr_null(probe_runner_stop(r));
	return root;
}

static void assert_failed_once(const cJSON *e, const char *error)
{
	ck_assert(!is_true(e, "ok"));
	ck_assert_int_eq((int)num(e, "runs"), 1);
	ck_assert_int_eq((int)num(e, "failures"), 1);
	ck_assert(cJSON_IsNull(field(e, "p50_ms")));
	ck_assert(cJSON_IsNull(field(e, "p99_ms")));
	ck_assert_str_eq(str(e, "error"), error);
}

/* ---- cases ---- */

START_TEST(http_ok_breakdown)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	cJSON *root;
	const cJSON *e;

	srv_start(&s, SRV_200);
	srv_url(&s, "/health", url, sizeof(url));
	spec = http_spec("api", url, 5);
	spec.service = (char *)"web";
	spec.slo_ms = 10000;
	root = run_once(&spec);
	e = entry(root, "api");

	ck_assert_str_eq(str(e, "type"), "http");
	ck_assert_str_eq(str(e, "target"), url);
	ck_assert_str_eq(str(e, "service"), "web");
	ck_assert(is_true(e, "ok"));
	ck_assert_int_eq((int)num(e, "runs"), 1);
	ck_assert_int_eq((int)num(e, "failures"), 0);
	ck_assert_int_eq((int)num(e, "status"), 200);
	ck_assert(!has(e, "error"));

	double lat = num(e, "latency_ms"), sum = 0;
	const char *phases[] = { "dns_ms", "connect_ms", "tls_ms", "ttfb_ms" };
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		double v = num(e, phases[i]);
		ck_assert_msg(v >= 0, "%s negative", phases[i]);
		sum += v;
	}
	/* Phases are consecutive slices of the run, so they fit in it. */
	ck_assert_double_le_tol(sum, lat, 0.01);
	ck_assert_double_eq(num(e, "p50_ms"), lat);
	ck_assert_double_eq(num(e, "p99_ms"), lat);
	ck_assert_double_eq(num(e, "slo_ms"), 10000);
	ck_assert(is_true(e, "slo_ok"));

	cJSON_Delete(root);
	srv_stop(&s);
}
END_TEST

START_TEST(http_503)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	cJSON *root;
	const cJSON *e;

	srv_start(&s, SRV_503);
	srv_url(&s, "/", url, sizeof(url));
	spec = http_spec("down", url, 5);
	spec.slo_ms = 100;
	root = run_once(&spec);
	e = entry(root, "down");
	assert_failed_once(e, "status 503, expected 2xx or 3xx");
	ck_assert_int_eq((int)num(e, "status"), 503);
	ck_assert(cJSON_IsNull(field(e, "service")));
	/* Every run failed: the SLO is not met. */
	ck_assert(!is_true(e, "slo_ok"));
	cJSON_Delete(root);
	srv_stop(&s);
}
END_TEST

START_TEST(http_expect_status)
{
	struct srv s200, s204;
	char url200[64], url204[64];
	struct probe_spec specs[2];
	struct probe_runner *r = NULL;
	cJSON *root;
	const cJSON *e;

	srv_start(&s200, SRV_200);
	srv_start(&s204, SRV_204);
	srv_url(&s200, "/", url200, sizeof(url200));
	srv_url(&s204, "/", url204, sizeof(url204));
	specs[0] = http_spec("mismatch", url200, 5);
	specs[0].expect_status = 204;
	specs[1] = http_spec("match", url204, 5);
	specs[1].expect_status = 204;

	ck_assert_int_eq(probe_runner_start(specs, 2, &r), 0);
	ck_assert_int_eq(probe_runner_wait_first(r, WAIT_S), 0);
	root = report(r);
	e = entry(root, "mismatch");
	assert_failed_once(e, "status 200, expected 204");
	ck_assert_int_eq((int)num(e, "status"), 200);
	e = entry(root, "match");
	ck_assert(is_true(e, "ok"));
	ck_assert_int_eq((int)num(e, "status"), 204);
	cJSON_Delete(root);
	probe_runner_stop(r);
	srv_stop(&s200);
	srv_stop(&s204);
}
END_TEST

START_TEST(http_refused)
{
	char url[64];
	struct probe_spec spec;
	cJSON *root;
	const cJSON *e;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
	spec = http_spec("gone", url, 5);
	root = run_once(&spec);
	e = entry(root, "gone");
	assert_failed_once(e, "connection refused");
	ck_assert(cJSON_IsNull(field(e, "status")));
	cJSON_Delete(root);
}
END_TEST

START_TEST(http_server_closes)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	cJSON *root;
	const cJSON *e;

	srv_start(&s, SRV_CLOSE);
	srv_url(&s, "/", url, sizeof(url));
	spec = http_spec("rude", url, 5);
	root = run_once(&spec);
	e = entry(root, "rude");
	ck_assert(!is_true(e, "ok"));
	ck_assert_int_eq((int)num(e, "failures"), 1);
	ck_assert_msg(str(e, "error")[0] != '\0', "empty error text");
	cJSON_Delete(root);
	srv_stop(&s);
}
END_TEST

START_TEST(http_timeout)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	cJSON *root;

	srv_start(&s, SRV_HANG);
	srv_url(&s, "/", url, sizeof(url));
	spec = http_spec("slow", url, 0.3);
	root = run_once(&spec);
	assert_failed_once(entry(root, "slow"), "timeout");
	cJSON_Delete(root);
	srv_stop(&s);
}
END_TEST

START_TEST(http_scheme_refused)
{
	/* Only http and https may be probed. */
	struct probe_spec spec = http_spec("file", "file:///etc/passwd", 5);
	cJSON *root = run_once(&spec);
	const cJSON *e = entry(root, "file");

	ck_assert(!is_true(e, "ok"));
	ck_assert_msg(str(e, "error")[0] != '\0', "empty error text");
	cJSON_Delete(root);
}
END_TEST

START_TEST(tcp_ok)
{
	unsigned port;
	_cleanup_close_ int lfd = listen_loopback(16, &port);
	struct probe_spec spec = tcp_spec("db", "127.0.0.1", port, 5);
	char target[32];
	cJSON *root;
	const cJSON *e;

	spec.slo_ms = 10000;
	root = run_once(&spec);
	e = entry(root, "db");
	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	ck_assert_str_eq(str(e, "type"), "tcp");
	ck_assert_str_eq(str(e, "target"), target);
	ck_assert(is_true(e, "ok"));
	ck_assert_int_eq((int)num(e, "runs"), 1);
	ck_assert_int_eq((int)num(e, "failures"), 0);
	ck_assert(num(e, "latency_ms") >= 0);
	ck_assert_double_eq(num(e, "p99_ms"), num(e, "latency_ms"));
	ck_assert(is_true(e, "slo_ok"));
	ck_assert(!has(e, "status"));
	ck_assert(!has(e, "dns_ms"));
	ck_assert(!has(e, "error"));
	cJSON_Delete(root);
}
END_TEST

START_TEST(tcp_refused)
{
	struct probe_spec spec = tcp_spec("db", "127.0.0.1", closed_port(), 5);
	cJSON *root = run_once(&spec);
	const cJSON *e = entry(root, "db");

	assert_failed_once(e, "connection refused");
	ck_assert(!has(e, "slo_ok"));
	cJSON_Delete(root);
}
END_TEST

START_TEST(tcp_timeout)
{
	unsigned port;
	_cleanup_close_ int filler = -1;
	_cleanup_close_ int lfd = listen_full(&port, &filler);
	struct probe_spec spec = tcp_spec("db", "127.0.0.1", port, 0.3);
	cJSON *root = run_once(&spec);

	assert_failed_once(entry(root, "db"), "timeout");
	cJSON_Delete(root);
}
END_TEST

START_TEST(tcp_unresolvable)
{
	/* Not a valid host name, so the resolver refuses it without asking
	 * a name server: deterministic with or without a network. */
	struct probe_spec spec = tcp_spec("nx", "no such host", 80, 5);
	cJSON *root = run_once(&spec);
	const cJSON *e = entry(root, "nx");

	ck_assert(!is_true(e, "ok"));
	ck_assert_msg(strncmp(str(e, "error"), "resolve no such host", 20) == 0,
		      "error: %s", str(e, "error"));
	ck_assert_str_eq(str(e, "target"), "no such host:80");
	cJSON_Delete(root);
}
END_TEST

START_TEST(tcp_ipv6_target)
{
	struct probe_spec spec = tcp_spec("v6", "::1", closed_port(), 5);
	cJSON *root = run_once(&spec);
	char target[32];

	/* Whatever ::1 does here, the target is written unambiguously. */
	snprintf(target, sizeof(target), "[::1]:%u", spec.port);
	ck_assert_str_eq(str(entry(root, "v6"), "target"), target);
	cJSON_Delete(root);
}
END_TEST

START_TEST(parallel)
{
	struct srv ok, slow, down;
	char u_ok[64], u_slow[64], u_down[64];
	unsigned port;
	_cleanup_close_ int lfd = listen_loopback(16, &port);
	struct probe_runner *r = NULL;
	cJSON *root;

	srv_start(&ok, SRV_200);
	srv_start(&slow, SRV_HANG);
	srv_start(&down, SRV_503);
	srv_url(&ok, "/", u_ok, sizeof(u_ok));
	srv_url(&slow, "/", u_slow, sizeof(u_slow));
	srv_url(&down, "/", u_down, sizeof(u_down));
	struct probe_spec specs[] = {
		http_spec("ok", u_ok, 5),
		http_spec("slow", u_slow, 0.5),
		http_spec("down", u_down, 5),
		tcp_spec("tcp-ok", "127.0.0.1", port, 5),
		tcp_spec("tcp-refused", "127.0.0.1", closed_port(), 5),
	};

	ck_assert_int_eq(probe_runner_start(specs, ARRAY_SIZE(specs), &r), 0);
	ck_assert_int_eq(probe_runner_wait_first(r, WAIT_S), 0);
	root = report(r);
	ck_assert_int_eq(cJSON_GetArraySize(
			     cJSON_GetObjectItemCaseSensitive(root, "probes")),
			 (int)ARRAY_SIZE(specs));
	ck_assert(is_true(entry(root, "ok"), "ok"));
	ck_assert_str_eq(str(entry(root, "slow"), "error"), "timeout");
	ck_assert_int_eq((int)num(entry(root, "down"), "status"), 503);
	ck_assert(is_true(entry(root, "tcp-ok"), "ok"));
	ck_assert_str_eq(str(entry(root, "tcp-refused"), "error"),
			 "connection refused");
	/* Order follows the specs. */
	ck_assert_str_eq(
	    str(cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(root, "probes"), 0),
		"name"),
	    "ok");
	cJSON_Delete(root);
	probe_runner_stop(r);
	srv_stop(&ok);
	srv_stop(&slow);
	srv_stop(&down);
}
END_TEST

START_TEST(window_resets)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	struct probe_runner *r = NULL;
	cJSON *first, *second;
	const cJSON *a, *b;

	srv_start(&s, SRV_200);
	srv_url(&s, "/", url, sizeof(url));
	/* interval 3600: exactly one run during the test. */
	spec = http_spec("api", url, 5);
	ck_assert_int_eq(probe_runner_start(&spec, 1, &r), 0);
	ck_assert_int_eq(probe_runner_wait_first(r, WAIT_S), 0);
	first = report(r);
	second = report(r);
	a = entry(first, "api");
	b = entry(second, "api");
	ck_assert_int_eq((int)num(a, "runs"), 1);
	ck_assert_int_eq((int)num(b, "runs"), 0);
	ck_assert_int_eq((int)num(b, "failures"), 0);
	/* The last known result is repeated. */
	ck_assert(is_true(b, "ok"));
	ck_assert_int_eq((int)num(b, "status"), 200);
	ck_assert_double_eq(num(b, "latency_ms"), num(a, "latency_ms"));
	ck_assert_double_eq(num(b, "p50_ms"), num(a, "p50_ms"));
	ck_assert_double_eq(num(b, "p99_ms"), num(a, "p99_ms"));
	ck_assert_double_eq(num(b, "dns_ms"), num(a, "dns_ms"));
	cJSON_Delete(first);
	cJSON_Delete(second);
	probe_runner_stop(r);
	srv_stop(&s);
}
END_TEST

START_TEST(repeats_on_interval)
{
	unsigned port;
	_cleanup_close_ int lfd = listen_loopback(128, &port);
	struct probe_spec spec = tcp_spec("db", "127.0.0.1", port, 5);
	struct probe_runner *r = NULL;
	unsigned total = 0, reports = 0;

	spec.interval = 0.01;
	ck_assert_int_eq(probe_runner_start(&spec, 1, &r), 0);
	ck_assert_int_eq(probe_runner_wait_first(r, WAIT_S), 0);
	/* Windows partition the runs: keep reporting until three have
	 * been seen in total (a bound on hanging, not a timing check). */
	while (total < 3 && reports < 2000) {
		cJSON *root = report(r);
		const cJSON *e = entry(root, "db");
		unsigned runs = (unsigned)num(e, "runs");

		ck_assert_int_eq((int)num(e, "failures"), 0);
		ck_assert(is_true(e, "ok"));
		total += runs;
		reports++;
		cJSON_Delete(root);
		if (total < 3) {
			struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	ck_assert_uint_ge(total, 3);
	probe_runner_stop(r);
}
END_TEST

START_TEST(stop_mid_timeout)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	struct probe_runner *r = NULL;

	srv_start(&s, SRV_HANG);
	srv_url(&s, "/", url, sizeof(url));
	spec = http_spec("stuck", url, 3600);
	ck_assert_int_eq(probe_runner_start(&spec, 1, &r), 0);
	srv_wait_accepted(&s, 1);
	/* The probe is now waiting on its hour-long timeout; stop must not
	 * (the test's own timeout would catch a hang). */
	ck_assert_ptr_null(probe_runner_stop(r));
	srv_stop(&s);
}
END_TEST

START_TEST(stop_mid_connect)
{
	unsigned port;
	_cleanup_close_ int filler = -1;
	_cleanup_close_ int lfd = listen_full(&port, &filler);
	struct probe_spec spec = tcp_spec("db", "127.0.0.1", port, 3600);
	struct probe_runner *r = NULL;

	ck_assert_int_eq(probe_runner_start(&spec, 1, &r), 0);
	/* Either the connect is pending or not yet started: stop must return
	 * in both cases without waiting out the hour. */
	ck_assert_int_eq(probe_runner_wait_first(r, 0.1), -ETIMEDOUT);
	ck_assert_ptr_null(probe_runner_stop(r));
}
END_TEST

START_TEST(wait_first_times_out)
{
	struct srv s;
	char url[64];
	struct probe_spec spec;
	struct probe_runner *r = NULL;

	srv_start(&s, SRV_HANG);
	srv_url(&s, "/", url, sizeof(url));
	spec = http_spec("stuck", url, 3600);
	ck_assert_int_eq(probe_runner_start(&spec, 1, &r), 0);
	ck_assert_int_eq(probe_runner_wait_first(r, 0.2), -ETIMEDOUT);
	/* Before any run completed the entry is there, with nulls. */
	cJSON *root = report(r);
	const cJSON *e = entry(root, "stuck");
	ck_assert(cJSON_IsNull(field(e, "ok")));
	ck_assert(cJSON_IsNull(field(e, "latency_ms")));
	ck_assert_int_eq((int)num(e, "runs"), 0);
	ck_assert(!has(e, "error"));
	cJSON_Delete(root);
	probe_runner_stop(r);
	srv_stop(&s);
}
END_TEST

START_TEST(no_probes)
{
	struct probe_runner *r = NULL;
	cJSON *root;

	ck_assert_int_eq(probe_runner_start(NULL, 0, &r), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(probe_runner_wait_first(r, 0), 0);
	root = report(r);
	ck_assert_int_eq(cJSON_GetArraySize(
			     cJSON_GetObjectItemCaseSensitive(root, "probes")),
			 0);
	cJSON_Delete(root);
	ck_assert_ptr_null(probe_runner_stop(r));
	ck_assert_ptr_null(probe_runner_stop(NULL));
	root = report(NULL);
	cJSON_Delete(root);
}
END_TEST

START_TEST(invalid_specs)
{
	struct probe_runner *r = NULL;
	struct probe_spec good = tcp_spec("db", "127.0.0.1", 5432, 1);
	struct probe_spec bad[] = { good, good, good, good, good, good };

	bad[0].interval = 0;
	bad[1].timeout = -1;
	bad[2].port = 0;
	bad[3].port = 70000;
	bad[4].name = NULL;
	bad[5].type = PROBE_HTTP; /* without a url */
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct probe_spec two[2] = { good, bad[i] };
		ck_assert_int_eq(probe_runner_start(two, 2, &r), -EINVAL);
		ck_assert_ptr_null(r);
	}
	ck_assert_int_eq(probe_runner_start(NULL, 1, &r), -EINVAL);
}
END_TEST

START_TEST(spec_release)
{
	struct probe_spec s = { .type = PROBE_HTTP,
				.name = strdup("api"),
				.url = strdup("http://x/"),
				.service = strdup("web"),
				.interval = 1 };

	probe_spec_release(&s);
	ck_assert_ptr_null(s.name);
	ck_assert_ptr_null(s.url);
	ck_assert_ptr_null(s.service);
	ck_assert(s.interval == 0);
	probe_spec_release(NULL);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *t = tcase_create("probe");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, http_ok_breakdown);
	tcase_add_test(t, http_503);
	tcase_add_test(t, http_expect_status);
	tcase_add_test(t, http_refused);
	tcase_add_test(t, http_server_closes);
	tcase_add_test(t, http_timeout);
	tcase_add_test(t, http_scheme_refused);
	tcase_add_test(t, tcp_ok);
	tcase_add_test(t, tcp_refused);
	tcase_add_test(t, tcp_timeout);
	tcase_add_test(t, tcp_unresolvable);
	tcase_add_test(t, tcp_ipv6_target);
	tcase_add_test(t, parallel);
	tcase_add_test(t, window_resets);
	tcase_add_test(t, repeats_on_interval);
	tcase_add_test(t, stop_mid_timeout);
	tcase_add_test(t, stop_mid_connect);
	tcase_add_test(t, wait_first_times_out);
	tcase_add_test(t, no_probes);
	tcase_add_test(t, invalid_specs);
	tcase_add_test(t, spec_release);
	suite_add_tcase(s, t);
	return s;
}
