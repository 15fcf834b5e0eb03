/* Latency probes: one thread, one curl multi handle, non-blocking connects.
 *
 * Each probe lives in a struct probe_slot. Its scheduling half (easy handle,
 * socket, deadlines) belongs to the probe thread alone; its window half
 * (last result, counters, latencies) is shared with the reporting thread
 * under runner->lock. The only work the thread ever receives is "stop", so
 * its queue is an atomic flag plus the eventfd that wakes curl_multi_poll. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "curlapi.h"
#include "jsonw.h"
#include "log.h"
#include "probe.h"
#include "stats.h"
#include "timeutil.h"

#define PROBE_ERROR_MAX	 256
#define PROBE_TARGET_MAX 512
#define NS_PER_MS	 1000000ull
#define NS_PER_S	 1000000000ull
/* Intervals and timeouts are clamped here (about 31 years) so that
 * seconds-to-nanoseconds and deadline arithmetic cannot overflow. */
#define PROBE_MAX_NS (1000000000ull * NS_PER_S)

struct probe_result {
	bool ok;
	double latency_ms;
	long status; /* HTTP response code, 0 without a response */
	double dns_ms, connect_ms, tls_ms, ttfb_ms;
	char error[PROBE_ERROR_MAX];
};

struct probe_slot {
	struct probe_spec spec;
	char target[PROBE_TARGET_MAX];
	uint64_t interval_ns, timeout_ns;

	/* Probe thread only. */
	bool running;
	uint64_t next_due_ns; /* when idle */
	uint64_t started_ns, deadline_ns;
	CURL *easy; /* HTTP; created once, added to the multi per run */
	char curl_err[CURL_ERROR_SIZE];
	int fd;			   /* TCP connect in progress, else -1 */
	struct addrinfo *ai_list;  /* TCP addresses of this run */
	struct addrinfo *ai_next;  /* next one to try after a failure */
	uint64_t connect_start_ns; /* first connect() of this run */
	int last_errno;		   /* of the last failed address */

	/* Under runner->lock. */
	struct probe_result last;
	bool have_last;
	bool first_done;
	uint64_t runs, failures;
	double lat[PROBE_WINDOW_MAX];
	size_t lat_len, lat_head;
	/* Percentiles of the last window that had runs, repeated while a
	 * window has none so every sample carries every probe. */
	bool have_pct;
	double p50, p99;
};

struct probe_runner {
	struct probe_slot *slots;
	size_t n;
	/* Loaded only when an HTTP probe exists (see curlapi.h); multi is
	 * NULL otherwise and the thread waits with poll(2). */
	struct curl_api curl;
	CURLM *multi;
	int wake_fd;
	atomic_bool stopping;
	pthread_t thread;
	bool thread_started;
	/* extra_fds for curl_multi_poll: [0] the wake fd, then TCP sockets;
	 * poll_slot maps each entry back to its slot. Thread only. */
	struct curl_waitfd *pfds;
	struct pollfd *plain; /* the same set for poll(2) when multi is NULL */
	struct probe_slot **poll_slot;

	pthread_mutex_t lock;
	pthread_cond_t first_cond; /* signalled when n_first_done reaches n */
	size_t n_first_done;
	double sorted[PROBE_WINDOW_MAX]; /* report scratch, under lock */
};

void probe_spec_release(struct probe_spec *spec)
{
	if (!spec)
		return;
	free(spec->name);
	free(spec->url);
	free(spec->host);
	free(spec->service);
	memset(spec, 0, sizeof(*spec));
}

static uint64_t sec_to_ns(double s)
{
	double ns = s * (double)NS_PER_S;
	if (!(ns >= 1))
		return 1;
	if (ns >= (double)PROBE_MAX_NS)
		return PROBE_MAX_NS;
	return (uint64_t)ns;
}

/* Milliseconds with microsecond resolution, so reports do not carry
 * nanosecond noise in their decimals. */
static double us_to_ms(int64_t us)
{
	return (double)us / 1000.0;
}

static double ns_to_ms(uint64_t ns)
{
	return us_to_ms((int64_t)(ns / 1000));
}

static int strdup_or_null(const char *s, char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int spec_copy(struct probe_spec *dst, const struct probe_spec *src)
{
	int r;

	*dst = *src;
	dst->name = dst->url = dst->host = dst->service = NULL;
	if ((r = strdup_or_null(src->name, &dst->name)) < 0 ||
	    (r = strdup_or_null(src->url, &dst->url)) < 0 ||
	    (r = strdup_or_null(src->host, &dst->host)) < 0 ||
	    (r = strdup_or_null(src->service, &dst->service)) < 0)
		probe_spec_release(dst);
	return r;
}

static bool spec_valid(const struct probe_spec *s)
{
	if (!s->name || !(s->interval > 0) || !(s->timeout > 0) ||
	    !(s->slo_ms >= 0))
		return false;
	switch (s->type) {
	case PROBE_HTTP:
		return s->url && s->url[0] && s->expect_status <= 999;
	case PROBE_TCP:
		return s->host && s->host[0] && s->port >= 1 &&
		       s->port <= 65535;
	}
	return false;
}

static void format_target(struct probe_slot *s)
{
	const struct probe_spec *p = &s->spec;

	if (p->type == PROBE_HTTP)
		snprintf(s->target, sizeof(s->target), "%s", p->url);
	else if (strchr(p->host, ':'))
		snprintf(s->target, sizeof(s->target), "[%s]:%u", p->host,
			 p->port);
	else
		snprintf(s->target, sizeof(s->target), "%s:%u", p->host,
			 p->port);
}

/* Short, stable texts for the failures an operator groups by; anything
 * else keeps the system's wording. */
static void errno_text(int e, char *out, size_t n)
{
	switch (e) {
	case ECONNREFUSED:
		snprintf(out, n, "connection refused");
		break;
	case ETIMEDOUT:
		snprintf(out, n, "timeout");
		break;
	case ENETUNREACH:
		snprintf(out, n, "network unreachable");
		break;
	case EHOSTUNREACH:
		snprintf(out, n, "host unreachable");
		break;
	default: {
		char tmp[128];
		snprintf(out, n, "%s", strerror_r(e, tmp, sizeof(tmp)));
		break;
	}
	}
}

/* Hand a finished run's result to the window and schedule the next run. */
static void slot_record(struct probe_runner *r, struct probe_slot *s,
			const struct probe_result *res, uint64_t now)
{
	s->running = false;
	/* Fixed rate from the run's start, but never two runs at once. */
	s->next_due_ns = s->started_ns + s->interval_ns;
	if (s->next_due_ns < now)
		s->next_due_ns = now;

	log_debug("probe", "%s ok=%d latency_ms=%.3f error=%s", s->spec.name,
		  res->ok, res->latency_ms, res->ok ? "-" : res->error);

	pthread_mutex_lock(&r->lock);
	s->last = *res;
	s->have_last = true;
	s->runs++;
	if (!res->ok) {
		s->failures++;
	} else {
		s->lat[s->lat_head] = res->latency_ms;
		s->lat_head = (s->lat_head + 1) % PROBE_WINDOW_MAX;
		if (s->lat_len < PROBE_WINDOW_MAX)
			s->lat_len++;
	}
	if (!s->first_done) {
		s->first_done = true;
		if (++r->n_first_done == r->n)
			pthread_cond_broadcast(&r->first_cond);
	}
	pthread_mutex_unlock(&r->lock);
}

/* ---- HTTP ---- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return size * nmemb;
}

static int http_setup(const struct curl_api *api, struct probe_slot *s)
{
	long timeout_ms = (long)((s->timeout_ns + NS_PER_MS - 1) / NS_PER_MS);
	CURL *e = api->easy_init();
	CURLcode c = CURLE_OK;

	if (!e)
		return -ENOMEM;
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (c == CURLE_OK)                                             \
			c = api->easy_setopt(e, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, s->spec.url);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_WRITEFUNCTION, discard_body);
	SET(CURLOPT_USERAGENT, "acgs-agent/" PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_ERRORBUFFER, s->curl_err);
	SET(CURLOPT_PRIVATE, (void *)s);
	/* Each run measures what a new client pays: without these the multi
	 * handle's DNS and connection caches would make every run after the
	 * first skip resolution, connect and TLS. */
	SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* Removing a handle mid-lookup would otherwise wait for curl's
	 * resolver thread, and stop must be prompt: curl detaches the thread
	 * instead, which frees what it can when the lookup ends. */
	SET(CURLOPT_QUICK_EXIT, 1L);
#endif
#undef SET
	if (c != CURLE_OK) {
		api->easy_cleanup(e);
		return c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	}
	s->easy = e;
	return 0;
}

static int64_t info_us(const struct curl_api *api, CURL *e, CURLINFO what)
{
	curl_off_t v = 0;

	if (api->easy_getinfo(e, what, &v) != CURLE_OK || v < 0)
		return 0;
	return (int64_t)v;
}

/* curl's phase times are cumulative from the start; the report wants each
 * phase's own duration. A phase curl skipped (TLS on plain HTTP) reads 0,
 * so deltas are taken from the furthest point reached so far. */
static void http_timings(const struct curl_api *api, CURL *e,
			 struct probe_result *res)
{
	int64_t dns = info_us(api, e, CURLINFO_NAMELOOKUP_TIME_T);
	int64_t conn = info_us(api, e, CURLINFO_CONNECT_TIME_T);
	int64_t tls = info_us(api, e, CURLINFO_APPCONNECT_TIME_T);
	int64_t first = info_us(api, e, CURLINFO_STARTTRANSFER_TIME_T);
	int64_t total = info_us(api, e, CURLINFO_TOTAL_TIME_T);
	int64_t at = 0;

#define PHASE(t, field)                                                        \
	do {                                                                   \
		res->field = us_to_ms((t) > at ? (t)-at : 0);                  \
		if ((t) > at)                                                  \
			at = (t);                                              \
	} while (0)
	PHASE(dns, dns_ms);
	PHASE(conn, connect_ms);
	PHASE(tls, tls_ms);
	PHASE(first, ttfb_ms);
#undef PHASE
	res->latency_ms = us_to_ms(total > at ? total : at);
}

static void http_finish(struct probe_runner *r, struct probe_slot *s,
			CURLcode code, uint64_t now)
{
	struct probe_result res = { 0 };
	long os_errno = 0;
	unsigned want = s->spec.expect_status;

	r->curl.multi_remove_handle(r->multi, s->easy);
	http_timings(&r->curl, s->easy, &res);
	r->curl.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &res.status);
	r->curl.easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &os_errno);

	if (code == CURLE_OK) {
		if (want ? res.status == (long)want
			 : res.status >= 200 && res.status < 400)
			res.ok = true;
		else if (want)
			snprintf(res.error, sizeof(res.error),
				 "status %ld, expected %u", res.status, want);
		else
			snprintf(res.error, sizeof(res.error),
				 "status %ld, expected 2xx or 3xx", res.status);
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		snprintf(res.error, sizeof(res.error), "timeout");
	} else if (code == CURLE_COULDNT_CONNECT && os_errno > 0) {
		errno_text((int)os_errno, res.error, sizeof(res.error));
	} else {
		snprintf(res.error, sizeof(res.error), "%s",
			 s->curl_err[0] ? s->curl_err
					: r->curl.easy_strerror(code));
	}
	slot_record(r, s, &res, now);
}

static void http_start(struct probe_runner *r, struct probe_slot *s,
		       uint64_t now)
{
	CURLMcode mc;

	s->curl_err[0] = '\0';
	s->running = true;
	s->started_ns = now;
	mc = r->curl.multi_add_handle(r->multi, s->easy);
	if (mc != CURLM_OK) {
		struct probe_result res = { 0 };
		snprintf(res.error, sizeof(res.error), "%s",
			 r->curl.multi_strerror(mc));
		slot_record(r, s, &res, now);
	}
}

static void http_collect(struct probe_runner *r)
{
	CURLMsg *m;
	int left;

	while ((m = r->curl.multi_info_read(r->multi, &left))) {
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		r->curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		struct probe_slot *s = (struct probe_slot *)priv;
		/* m is invalid once its handle is removed: copy first. */
		CURLcode code = m->data.result;
		http_finish(r, s, code, time_mono_ns());
	}
}

/* ---- TCP ---- */

/* Resolution is blocking (getaddrinfo) and stalls the probe thread while it
 * runs; numeric hosts take a fast path that never touches the resolver,
 * and probes of local services are expected to name them that way. */
static int tcp_resolve(const struct probe_slot *s, struct addrinfo **ret,
		       char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char port[8];
	int g;

	snprintf(port, sizeof(port), "%u", s->spec.port);
	g = getaddrinfo(s->spec.host, port, &hints, ret);
	if (g == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		g = getaddrinfo(s->spec.host, port, &hints, ret);
	}
	if (g != 0) {
		snprintf(err, errlen, "resolve %s: %s", s->spec.host,
			 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return -EHOSTUNREACH;
	}
	return 0;
}

static void tcp_close(struct probe_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->ai_list)
		freeaddrinfo(s->ai_list);
	s->ai_list = s->ai_next = NULL;
}

static void tcp_done(struct probe_runner *r, struct probe_slot *s, int err,
		     uint64_t now)
{
	struct probe_result res = { 0 };

	res.latency_ms = ns_to_ms(now - s->connect_start_ns);
	if (err == 0)
		res.ok = true;
	else
		errno_text(err, res.error, sizeof(res.error));
	tcp_close(s);
	slot_record(r, s, &res, now);
}

/* Try the remaining addresses in order until a connect is under way
 * (s->fd set) or the run is over. */
static void tcp_try_next(struct probe_runner *r, struct probe_slot *s)
{
	while (s->ai_next) {
		struct addrinfo *ai = s->ai_next;
		int type = ai->ai_socktype | SOCK_NONBLOCK;
		int fd;

		s->ai_next = ai->ai_next;
		fd = socket(ai->ai_family, type | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			s->last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			s->fd = fd;
			tcp_done(r, s, 0, time_mono_ns());
			return;
		}
		if (errno == EINPROGRESS) {
			s->fd = fd;
			return;
		}
		s->last_errno = errno;
		close(fd);
	}
	tcp_done(r, s, s->last_errno ? s->last_errno : EHOSTUNREACH,
		 time_mono_ns());
}

static void tcp_start(struct probe_runner *r, struct probe_slot *s,
		      uint64_t now)
{
	struct probe_result res = { 0 };

	s->running = true;
	s->started_ns = now;
	s->deadline_ns = now + s->timeout_ns;
	s->last_errno = 0;
	if (tcp_resolve(s, &s->ai_list, res.error, sizeof(res.error)) < 0) {
		slot_record(r, s, &res, time_mono_ns());
		return;
	}
	s->ai_next = s->ai_list;
	s->connect_start_ns = time_mono_ns();
	tcp_try_next(r, s);
}

static void tcp_ready(struct probe_runner *r, struct probe_slot *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);

		/* A spurious wake-up also reads SO_ERROR 0; only a peer
		 * address proves the handshake finished. */
		if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) < 0 &&
		    errno == ENOTCONN)
			return;
		tcp_done(r, s, 0, time_mono_ns());
		return;
	}
	s->last_errno = err;
	close(s->fd);
	s->fd = -1;
	tcp_try_next(r, s);
}

/* ---- the thread ---- */

static void start_due(struct probe_runner *r, uint64_t now)
{
	for (size_t i = 0; i < r->n; i++) {
		struct probe_slot *s = &r->slots[i];

		if (s->running || s->next_due_ns > now)
			continue;
		if (s->spec.type == PROBE_HTTP)
			http_start(r, s, now);
		else
			tcp_start(r, s, now);
	}
}

static void expire_tcp(struct probe_runner *r, uint64_t now)
{
	for (size_t i = 0; i < r->n; i++) {
		struct probe_slot *s = &r->slots[i];

		if (s->running && s->spec.type == PROBE_TCP &&
		    s->deadline_ns <= now)
			tcp_done(r, s, ETIMEDOUT, now);
	}
}

/* Fill r->pfds with the wake fd and the connecting sockets, and return how
 * long the thread may sleep in ms before something of ours is due (curl
 * shortens it further for its own timers). */
static int poll_plan(struct probe_runner *r, uint64_t now, unsigned *ret_nfds)
{
	uint64_t wake = UINT64_MAX;
	unsigned nfds = 1;

	r->pfds[0] = (struct curl_waitfd){ .fd = r->wake_fd,
					   .events = CURL_WAIT_POLLIN };
	for (size_t i = 0; i < r->n; i++) {
		struct probe_slot *s = &r->slots[i];
		uint64_t at;

		if (!s->running)
			at = s->next_due_ns;
		else if (s->spec.type == PROBE_TCP)
			at = s->deadline_ns;
		else
			continue;
		if (at < wake)
			wake = at;
		if (s->running && s->fd >= 0) {
			r->pfds[nfds] =
			    (struct curl_waitfd){ .fd = s->fd,
						  .events = CURL_WAIT_POLLOUT };
			r->poll_slot[nfds] = s;
			nfds++;
		}
	}
	*ret_nfds = nfds;
	if (wake <= now)
		return 0;
	/* Round up: waking a hair early would spin on a zero timeout. */
	uint64_t ms = (wake - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Drive the HTTP transfers and collect the finished ones. */
static void http_progress(struct probe_runner *r, int *running)
{
	if (!r->multi)
		return;
	r->curl.multi_perform(r->multi, running);
	http_collect(r);
}

/* Wait for the wake fd, the TCP sockets and (with libcurl) the transfers.
 * Without HTTP probes libcurl is not loaded and poll(2) does the same job
 * over the same set. */
static CURLMcode wait_events(struct probe_runner *r, unsigned nfds,
			     int timeout_ms)
{
	if (r->multi)
		return r->curl.multi_poll(r->multi, r->pfds, nfds, timeout_ms,
					  NULL);
	for (unsigned i = 0; i < nfds; i++) {
		r->plain[i].fd = r->pfds[i].fd;
		r->plain[i].events =
		    (short)(((r->pfds[i].events & CURL_WAIT_POLLIN) ? POLLIN
								    : 0) |
			    ((r->pfds[i].events & CURL_WAIT_POLLOUT) ? POLLOUT
								     : 0));
		r->plain[i].revents = 0;
	}
	if (poll(r->plain, nfds, timeout_ms) < 0 && errno != EINTR)
		return CURLM_INTERNAL_ERROR;
	for (unsigned i = 0; i < nfds; i++) {
		short re = r->plain[i].revents;
		r->pfds[i].revents =
		    (short)(((re & (POLLIN | POLLERR | POLLHUP))
				 ? CURL_WAIT_POLLIN
				 : 0) |
			    ((re & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
	}
	return CURLM_OK;
}

static void *probe_thread(void *arg)
{
	struct probe_runner *r = arg;
	int running_handles;

	while (!atomic_load(&r->stopping)) {
		unsigned nfds;
		uint64_t now = time_mono_ns();
		int timeout_ms;
		CURLMcode mc;

		start_due(r, now);
		http_progress(r, &running_handles);

		timeout_ms = poll_plan(r, time_mono_ns(), &nfds);
		mc = wait_events(r, nfds, timeout_ms);
		if (mc == CURLM_OK && r->pfds[0].revents) {
			uint64_t v;
			/* Only clears the counter; stopping says why. */
			ssize_t nr = read(r->wake_fd, &v, sizeof(v));
			(void)nr;
		}
		if (atomic_load(&r->stopping))
			break;
		for (unsigned i = 1; mc == CURLM_OK && i < nfds; i++)
			if (r->pfds[i].revents)
				tcp_ready(r, r->poll_slot[i]);
		http_progress(r, &running_handles);
		expire_tcp(r, time_mono_ns());
		if (mc != CURLM_OK) {
			/* Only out of memory or a broken fd set get here;
			 * back off rather than spin on an instant return. */
			struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

			log_debug("probe", "waiting for events failed: %s",
				  r->multi ? r->curl.multi_strerror(mc)
					   : strerror(errno));
			nanosleep(&ts, NULL);
		}
	}

	for (size_t i = 0; i < r->n; i++) {
		struct probe_slot *s = &r->slots[i];

		if (s->easy)
			r->curl.multi_remove_handle(r->multi, s->easy);
		tcp_close(s);
		s->running = false;
	}
	return NULL;
}

/* ---- lifecycle ---- */

static struct probe_runner *runner_free(struct probe_runner *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct probe_slot *s = &r->slots[i];

		if (s->easy) {
			if (r->multi)
				r->curl.multi_remove_handle(r->multi, s->easy);
			r->curl.easy_cleanup(s->easy);
		}
		tcp_close(s);
		probe_spec_release(&s->spec);
	}
	if (r->multi)
		r->curl.multi_cleanup(r->multi);
	curl_api_close(&r->curl);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	pthread_cond_destroy(&r->first_cond);
	pthread_mutex_destroy(&r->lock);
	free(r->slots);
	free(r->pfds);
	free(r->plain);
	free(r->poll_slot);
	free(r);
	return NULL;
}

static int runner_alloc(size_t n, struct probe_runner **ret)
{
	pthread_condattr_t ca;
	struct probe_runner *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->wake_fd = -1;
	atomic_init(&r->stopping, false);
	pthread_mutex_init(&r->lock, NULL);
	/* wait_first measures its timeout on the monotonic clock, immune to
	 * wall-clock steps. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->first_cond, &ca);
	pthread_condattr_destroy(&ca);

	if (n > 0) {
		r->slots = calloc(n, sizeof(*r->slots));
		r->pfds = calloc(n + 1, sizeof(*r->pfds));
		r->plain = calloc(n + 1, sizeof(*r->plain));
		r->poll_slot = calloc(n + 1, sizeof(*r->poll_slot));
		if (!r->slots || !r->pfds || !r->plain || !r->poll_slot) {
			runner_free(r);
			return -ENOMEM;
		}
	}
	*ret = r;
	return 0;
}

static int runner_setup(struct probe_runner *r, const struct probe_spec *specs,
			size_t n)
{
	int ret;

	for (size_t i = 0; i < n; i++)
		if (!spec_valid(&specs[i]))
			return -EINVAL;
	bool http = false;
	for (size_t i = 0; i < n; i++)
		http |= specs[i].type == PROBE_HTTP;
	if (http) {
		char err[256];
		ret = curl_api_open(&r->curl, err, sizeof(err));
		if (ret < 0) {
			log_err("probe", "%s", err);
			return ret;
		}
		r->multi = r->curl.multi_init();
		if (!r->multi)
			return -ENOMEM;
	}
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0)
		return -errno;

	for (size_t i = 0; i < n; i++) {
		struct probe_slot *s = &r->slots[i];

		/* Counted as we go so runner_free releases what exists. */
		s->fd = -1;
		r->n = i + 1;
		if ((ret = spec_copy(&s->spec, &specs[i])) < 0)
			return ret;
		s->interval_ns = sec_to_ns(s->spec.interval);
		s->timeout_ns = sec_to_ns(s->spec.timeout);
		format_target(s);
		if (s->spec.type == PROBE_HTTP &&
		    (ret = http_setup(&r->curl, s)) < 0)
			return ret;
	}
	return 0;
}

int probe_runner_start(const struct probe_spec *specs, size_t n,
		       struct probe_runner **ret)
{
	struct probe_runner *r = NULL;
	int err;

	if (!ret || (n > 0 && !specs))
		return -EINVAL;
	err = runner_alloc(n, &r);
	if (err < 0)
		return err;
	if (n == 0)
		goto done;
	err = runner_setup(r, specs, n);
	if (err < 0)
		goto out;
	err = -pthread_create(&r->thread, NULL, probe_thread, r);
	if (err < 0)
		goto out;
	r->thread_started = true;
done:
	*ret = TAKE_PTR(r);
	err = 0;
out:
	runner_free(r);
	return err;
}

int probe_runner_wait_first(struct probe_runner *r, double timeout_s)
{
	struct timespec deadline;
	uint64_t until;
	int ret = 0;

	if (!r)
		return 0;
	until = time_mono_ns() + sec_to_ns(timeout_s > 0 ? timeout_s : 0);
	deadline.tv_sec = (time_t)(until / NS_PER_S);
	deadline.tv_nsec = (long)(until % NS_PER_S);

	pthread_mutex_lock(&r->lock);
	while (r->n_first_done < r->n) {
		if (pthread_cond_timedwait(&r->first_cond, &r->lock,
					   &deadline) == ETIMEDOUT) {
			ret = r->n_first_done < r->n ? -ETIMEDOUT : 0;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Called under r->lock: close the window of s and write its entry. */
static void report_slot(struct probe_runner *r, struct probe_slot *s,
			struct jsonw *w)
{
	const struct probe_spec *p = &s->spec;
	const struct probe_result *l = &s->last;

	if (s->runs > 0) {
		s->have_pct = s->lat_len > 0;
		if (s->have_pct) {
			memcpy(r->sorted, s->lat, s->lat_len * sizeof(double));
			stats_sort(r->sorted, s->lat_len);
			s->p50 =
			    stats_percentile_sorted(r->sorted, s->lat_len, 50);
			s->p99 =
			    stats_percentile_sorted(r->sorted, s->lat_len, 99);
		}
	}

	jsonw_obj_begin(w);
	jsonw_kv_str(w, "name", p->name);
	jsonw_kv_str(w, "type", p->type == PROBE_HTTP ? "http" : "tcp");
	jsonw_kv_str(w, "target", s->target);
	jsonw_key(w, "service");
	if (p->service)
		jsonw_str(w, p->service);
	else
		jsonw_null(w);
	jsonw_key(w, "ok");
	if (s->have_last)
		jsonw_bool(w, l->ok);
	else
		jsonw_null(w);
	jsonw_kv_u64(w, "runs", s->runs);
	jsonw_kv_u64(w, "failures", s->failures);
	jsonw_kv_double_or_null(w, "latency_ms", s->have_last, l->latency_ms);
	jsonw_kv_double_or_null(w, "p50_ms", s->have_pct, s->p50);
	jsonw_kv_double_or_null(w, "p99_ms", s->have_pct, s->p99);
	if (p->slo_ms > 0) {
		jsonw_kv_double(w, "slo_ms", p->slo_ms);
		jsonw_key(w, "slo_ok");
		if (s->have_pct)
			jsonw_bool(w, s->p99 <= p->slo_ms);
		else if (s->have_last)
			jsonw_bool(w, false);
		else
			jsonw_null(w);
	}
	if (p->type == PROBE_HTTP) {
		bool t = s->have_last;

		jsonw_key(w, "status");
		if (t && l->status > 0)
			jsonw_i64(w, l->status);
		else
			jsonw_null(w);
		jsonw_kv_double_or_null(w, "dns_ms", t, l->dns_ms);
		jsonw_kv_double_or_null(w, "connect_ms", t, l->connect_ms);
		jsonw_kv_double_or_null(w, "tls_ms", t, l->tls_ms);
		jsonw_kv_double_or_null(w, "ttfb_ms", t, l->ttfb_ms);
	}
	if (s->have_last && !l->ok)
		jsonw_kv_str(w, "error", l->error);
	jsonw_obj_end(w);

	s->runs = s->failures = 0;
	s->lat_len = s->lat_head = 0;
}

void probe_runner_report(struct probe_runner *r, struct jsonw *w)
{
	jsonw_key(w, "probes");
	jsonw_arr_begin(w);
	if (r) {
		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < r->n; i++)
			report_slot(r, &r->slots[i], w);
		pthread_mutex_unlock(&r->lock);
	}
	jsonw_arr_end(w);
}

struct probe_runner *probe_runner_stop(struct probe_runner *r)
{
	uint64_t one = 1;

	if (!r)
		return NULL;
	if (r->thread_started) {
		atomic_store(&r->stopping, true);
		/* An eventfd write only fails when the counter would
		 * overflow, and then the thread is already due to wake. */
		ssize_t nw = write(r->wake_fd, &one, sizeof(one));
		(void)nw;
		pthread_join(r->thread, NULL);
	}
	return runner_free(r);
}
