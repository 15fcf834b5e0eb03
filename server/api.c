/* HTTP API layer on libmicrohttpd: see api.h.
 *
 * Each request goes through the access handler at least twice (the
 * two-call pattern): the first call only looks at the headers and decides
 * (route, auth, limits), later calls take the body, the last one queues the
 * response. Queueing on the first call makes libmicrohttpd 0.9.75 close the
 * connection, so only a 413 (whose body we refuse to read) does that. */
#include "config.h"

#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apiparse.h"
#include "buf.h"
#include "cleanup.h"
#include "conf.h"
#include "log.h"
#include "timeutil.h"

#define JSON_TYPE "application/json"
/* Past this much refused body the connection is dropped instead of read. */
#define DISCARD_LIMIT	(16u << 20)
#define RATE_SLOTS	4096
#define RATE_PROBE	8
#define UNMATCHED_ROUTE "unmatched"
#define STOP_POLL_NS	10000000ull

/* Statuses whose request counter is resolved at start, so metering them is
 * two atomic adds; others take the registry's lock once per request. */
static const unsigned meter_statuses[] = { 200, 201, 202, 204, 400, 401, 403,
					   404, 405, 413, 429, 500, 503 };
#define NMETER ARRAY_SIZE(meter_statuses)

static const double duration_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
					  0.025,  0.05,	 0.1,	 0.25,	0.5,
					  1,	  2.5,	 5,	 10 };

struct route_meter {
	struct metric_series *duration;
	struct metric_series *requests[NMETER];
};

struct route {
	struct api_route r;
	struct route_meter meter;
};

struct rate_slot {
	uint8_t key[17]; /* address family, then up to 16 address bytes */
	bool used;
	double tokens;
	uint64_t last_ns;
};

struct api {
	struct MHD_Daemon *daemon;
	struct api_options opt;
	struct route *routes;
	size_t nroutes;
	unsigned port;

	struct metric *m_requests;
	struct metric *m_duration;
	struct route_meter unmatched;

	pthread_mutex_t rate_lock;
	struct rate_slot *rate;

	atomic_uint connections;
	atomic_uint inflight;
};

struct api_request {
	struct api *a;
	uint64_t start_ns;
	const char *method;
	const struct route *route;
	const char *route_label;
	enum api_role role;
	char principal[API_PRINCIPAL_MAX];

	char *path_scratch;
	struct apiparse_param params[APIPARSE_MAX_PARAMS];
	size_t nparams;
	char *param_names[APIPARSE_MAX_PARAMS];

	size_t nquery;
	char *qkey[API_MAX_QUERY_ARGS];
	char *qval[API_MAX_QUERY_ARGS];
	bool query_bad;

	struct buf body;
	size_t discarded;

	/* An answer decided before the handler (status 0: none). */
	unsigned err_status;
	const char *err_code;
	char err_msg[160];
	char allow[96];
	unsigned retry_after;
	bool close;
};

struct api_response {
	unsigned status;
	struct buf body;
	struct jsonw w;
	bool json;
	bool failed;
	char content_type[96];
};

/* ---- request accessors ---- */

const char *api_req_method(const struct api_request *r)
{
	return r->method;
}

const char *api_req_param(const struct api_request *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->param_names[i], name) == 0)
			return r->params[i].value;
	return NULL;
}

const char *api_req_query(const struct api_request *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->qkey[i], name) == 0)
			return r->qval[i];
	return NULL;
}

const char *api_req_body(const struct api_request *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data;
}

enum api_role api_req_role(const struct api_request *r)
{
	return r->role;
}

const char *api_req_principal(const struct api_request *r)
{
	return r->principal[0] ? r->principal : "token";
}

/* ---- response ---- */

struct jsonw *api_res_json(struct api_response *res)
{
	if (!res->json) {
		buf_reset(&res->body);
		jsonw_init(&res->w, &res->body);
		res->json = true;
		res->failed = false;
		snprintf(res->content_type, sizeof(res->content_type), "%s",
			 JSON_TYPE);
	}
	return &res->w;
}

void api_res_status(struct api_response *res, unsigned status)
{
	res->status = status;
}

void api_res_text(struct api_response *res, const char *content_type,
		  const char *body, size_t len)
{
	buf_reset(&res->body);
	res->json = false;
	res->failed = buf_append(&res->body, body, len) < 0;
	snprintf(res->content_type, sizeof(res->content_type), "%s",
		 content_type ? content_type : "text/plain");
}

int api_error(struct api_response *res, unsigned status, const char *code,
	      const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	res->json = false; /* start a fresh writer */
	struct jsonw *w = api_res_json(res);
	res->status = status;
	jsonw_obj_begin(w);
	jsonw_key(w, "error");
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "code", code);
	jsonw_kv_str(w, "message", msg);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
	return 0;
}

/* ---- metering ---- */

static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET",   "HEAD",	"POST",	  "PUT",
					     "PATCH", "DELETE", "OPTIONS" };
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "OTHER";
}

static struct metric_series *requests_series(struct api *a, const char *route,
					     const char *method,
					     unsigned status)
{
	char st[16];
	snprintf(st, sizeof(st), "%u", status);
	const char *values[] = { route, method, st };
	return metric_series(a->m_requests, values);
}

static void meter_resolve(struct api *a, struct route_meter *m,
			  const char *route, const char *method)
{
	const char *values[] = { route };
	m->duration = metric_series(a->m_duration, values);
	for (size_t i = 0; i < NMETER; i++)
		m->requests[i] =
		    requests_series(a, route, method, meter_statuses[i]);
}

static void meter(struct api_request *req, unsigned status)
{
	struct api *a = req->a;
	if (!a->m_requests)
		return;
	double secs = (double)(time_mono_ns() - req->start_ns) / 1e9;
	const struct route_meter *m = NULL;
	/* A pre-resolved handle only fits when the method is the route's. */
	if (req->route && strcmp(req->method, req->route->r.method) == 0)
		m = &req->route->meter;
	struct metric_series *count = NULL;
	for (size_t i = 0; m && i < NMETER; i++)
		if (meter_statuses[i] == status)
			count = m->requests[i];
	if (!count)
		count = requests_series(a, req->route_label,
					method_label(req->method), status);
	metric_inc(count);
	if (m) {
		metric_observe(m->duration, secs);
	} else {
		const char *values[] = { req->route_label };
		metric_observe(metric_series(a->m_duration, values), secs);
	}
}

/* ---- rate limit: a token bucket per client address ---- */

static size_t rate_key(const struct sockaddr *sa, uint8_t key[17])
{
	memset(key, 0, 17);
	if (!sa)
		return 0;
	key[0] = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		memcpy(key + 1, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		memcpy(key + 1, &in6->sin6_addr, 16);
	}
	return 17;
}

/* Take a token for this client; 0 when allowed, else the seconds to wait.
 * When every slot in the probe window is taken, the least recently seen
 * client is forgotten (it starts again with a full bucket). */
static unsigned rate_take(struct api *a, const struct sockaddr *sa)
{
	uint8_t key[17];
	rate_key(sa, key);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(key); i++)
		h = (h ^ key[i]) * 16777619u;

	uint64_t now = time_mono_ns();
	unsigned wait = 0;
	pthread_mutex_lock(&a->rate_lock);
	struct rate_slot *slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < RATE_PROBE && !slot; i++) {
		struct rate_slot *s = &a->rate[(h + i) % RATE_SLOTS];
		if (s->used && memcmp(s->key, key, sizeof(key)) == 0)
			slot = s;
		else if (!oldest || !s->used ||
			 (oldest->used && s->last_ns < oldest->last_ns))
			oldest = s;
	}
	if (!slot) {
		slot = oldest;
		memcpy(slot->key, key, sizeof(key));
		slot->used = true;
		slot->tokens = a->opt.rate_burst;
		slot->last_ns = now;
	}
	double elapsed = (double)(now - slot->last_ns) / 1e9;
	slot->tokens =
	    fmin(a->opt.rate_burst, slot->tokens + elapsed * a->opt.rate_per_s);
	slot->last_ns = now;
	if (slot->tokens >= 1.0) {
		slot->tokens -= 1.0;
	} else {
		double secs = (1.0 - slot->tokens) / a->opt.rate_per_s;
		wait = secs < 1.0 ? 1 : (unsigned)fmin(ceil(secs), 3600.0);
	}
	pthread_mutex_unlock(&a->rate_lock);
	return wait;
}

/* ---- request lifecycle ---- */

static void request_free(struct api_request *req)
{
	if (!req)
		return;
	free(req->path_scratch);
	for (size_t i = 0; i < req->nparams; i++)
		free(req->param_names[i]);
	for (size_t i = 0; i < req->nquery; i++) {
		free(req->qkey[i]);
		free(req->qval[i]);
	}
	buf_release(&req->body);
	free(req);
}

static void reject(struct api_request *req, unsigned status, const char *code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void reject(struct api_request *req, unsigned status, const char *code,
		   const char *fmt, ...)
{
	if (req->err_status)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req->err_msg, sizeof(req->err_msg), fmt, ap);
	va_end(ap);
	req->err_status = status;
	req->err_code = code;
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct api_request *req = cls;
	(void)kind;
	if (req->nquery == API_MAX_QUERY_ARGS) {
		req->query_bad = true;
		return MHD_NO;
	}
	if (!value)
		value = "";
	size_t kl = strlen(key), vl = strlen(value);
	char *k = malloc(kl + 1), *v = malloc(vl + 1);
	if (!k || !v || apiparse_pct_decode(key, kl, k) < 0 ||
	    apiparse_pct_decode(value, vl, v) < 0) {
		free(k);
		free(v);
		req->query_bad = true;
		return MHD_NO;
	}
	req->qkey[req->nquery] = k;
	req->qval[req->nquery] = v;
	req->nquery++;
	return MHD_YES;
}

static void allow_add(struct api_request *req, const char *method)
{
	size_t n = strlen(method), used = strlen(req->allow);
	for (const char *p = req->allow; (p = strstr(p, method)); p += n)
		if ((p == req->allow || p[-1] == ' ') &&
		    (p[n] == ',' || p[n] == '\0'))
			return;
	if (used + n + 3 > sizeof(req->allow))
		return;
	snprintf(req->allow + used, sizeof(req->allow) - used, "%s%s",
		 used ? ", " : "", method);
}

/* Find the route; 404, 405 (with Allow) or 400 otherwise. */
static void route_request(struct api_request *req, const char *url)
{
	struct api *a = req->a;
	size_t len = strnlen(url, API_MAX_PATH + 1);
	if (len > API_MAX_PATH) {
		reject(req, 414, "uri_too_long", "path longer than %u bytes",
		       API_MAX_PATH);
		return;
	}
	req->path_scratch = malloc(len + 1);
	if (!req->path_scratch) {
		reject(req, 500, "internal", "out of memory");
		return;
	}
	struct apiparse_path path;
	int r = apiparse_split(url, req->path_scratch, len + 1, &path);
	if (r == -E2BIG) {
		reject(req, 414, "uri_too_long", "path has too many segments");
		return;
	}
	if (r < 0) {
		reject(req, 400, "bad_request", "malformed path encoding");
		return;
	}
	/* HEAD is answered by a GET route (libmicrohttpd drops the body). */
	const char *want =
	    strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
	struct apiparse_param params[APIPARSE_MAX_PARAMS];
	size_t np = 0;
	for (size_t i = 0; i < a->nroutes; i++) {
		const struct route *rt = &a->routes[i];
		if (!apiparse_match(rt->r.pattern, &path, params, &np))
			continue;
		/* 405s are metered under the first pattern that fits. */
		if (!req->allow[0])
			req->route_label = rt->r.pattern;
		if (strcmp(rt->r.method, want) != 0) {
			allow_add(req, rt->r.method);
			continue;
		}
		req->route = rt;
		req->route_label = rt->r.pattern;
		for (size_t k = 0; k < np; k++) {
			req->param_names[k] =
			    strndup(params[k].name, params[k].namelen);
			if (!req->param_names[k]) {
				reject(req, 500, "internal", "out of memory");
				return;
			}
			req->params[k] = params[k];
			req->nparams = k + 1;
		}
		return;
	}
	if (req->allow[0])
		reject(req, 405, "method_not_allowed",
		       "method %s not allowed here", method_label(req->method));
	else
		reject(req, 404, "not_found", "no such resource");
}

static void authenticate(struct api_request *req, struct MHD_Connection *c)
{
	struct api *a = req->a;
	const char *hdr = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	enum api_role need = req->route->r.min_role;
	if (!hdr) {
		snprintf(req->principal, sizeof(req->principal), "anonymous");
		req->role =
		    a->opt.anonymous_viewer ? API_ROLE_VIEWER : API_ROLE_NONE;
		if (need > req->role)
			reject(req, 401, "unauthorized",
			       "a bearer token is required");
		return;
	}
	const char *tok;
	size_t len;
	if (apiparse_bearer(hdr, API_MAX_TOKEN, &tok, &len) < 0) {
		reject(req, 401, "unauthorized", "malformed Authorization");
		return;
	}
	uint8_t digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, (const unsigned char *)tok, len);
	req->principal[0] = '\0';
	req->role = a->opt.auth
			? a->opt.auth(a->opt.auth_ctx, digest, req->principal)
			: API_ROLE_NONE;
	sodium_memzero(digest, sizeof(digest));
	/* An unknown token is refused even where an anonymous viewer would
	 * pass, so a revoked client learns it at once; routes that need no
	 * role (health, metrics) ignore it so a stale scraper still works. */
	if (req->role == API_ROLE_NONE && need > API_ROLE_NONE)
		reject(req, 401, "unauthorized", "unknown or revoked token");
	else if (need > req->role)
		reject(req, 403, "forbidden", "this needs a higher role");
}

/* The first call: everything that needs only the headers. */
static void request_prepare(struct api_request *req, struct MHD_Connection *c,
			    const char *url)
{
	struct api *a = req->a;
	req->route_label = UNMATCHED_ROUTE;
	if (atomic_load(&a->connections) > a->opt.max_connections) {
		req->close = true;
		reject(req, 503, "overloaded", "too many connections");
		return;
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	unsigned wait = rate_take(a, ci ? ci->client_addr : NULL);
	if (wait) {
		req->retry_after = wait;
		reject(req, 429, "rate_limited", "too many requests");
		return;
	}
	route_request(req, url);
	if (req->err_status)
		return;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, req);
	if (req->query_bad) {
		reject(req, 400, "bad_request",
		       "malformed or too many query parameters");
		return;
	}
	const char *cl = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n;
	if (cl && conf_parse_u64(cl, 0, UINT64_MAX, &n) == 0 &&
	    n > a->opt.max_body) {
		req->close = true;
		reject(req, 413, "payload_too_large",
		       "body larger than %zu bytes", a->opt.max_body);
		return;
	}
	authenticate(req, c);
}

static enum MHD_Result send_response(struct MHD_Connection *c,
				     struct api_request *req,
				     struct api_response *res)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    res->body.len, res->body.data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				res->content_type);
	if (res->status == 405 && req->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					req->allow);
	if (res->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	if (req->retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", req->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (req->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	enum MHD_Result ok = MHD_queue_response(c, res->status, resp);
	MHD_destroy_response(resp);
	meter(req, res->status);
	return ok;
}

static enum MHD_Result respond(struct MHD_Connection *c,
			       struct api_request *req)
{
	struct api_response res = { .status = 200 };
	buf_init(&res.body, API_MAX_RESPONSE);
	snprintf(res.content_type, sizeof(res.content_type), "%s", JSON_TYPE);

	if (req->err_status) {
		api_error(&res, req->err_status, req->err_code, "%s",
			  req->err_msg);
	} else {
		int r = req->route->r.fn(req->route->r.ctx, req, &res);
		if (r < 0)
			api_error(&res, 500, "internal", "internal error");
	}
	if (res.json && jsonw_finish(&res.w) < 0)
		res.failed = true;
	if (res.failed)
		api_error(&res, 500, "internal",
			  "response could not be written");
	enum MHD_Result ok = send_response(c, req, &res);
	buf_release(&res.body);
	return ok;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct api_request *req = *con_cls;
	(void)version;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->a = a;
		req->start_ns = time_mono_ns();
		req->method = method;
		buf_init(&req->body, a->opt.max_body);
		*con_cls = req;
		atomic_fetch_add(&a->inflight, 1);
		request_prepare(req, c, url);
		if (req->err_status == 413)
			return respond(c, req);
		return MHD_YES;
	}

	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->err_status) {
			req->discarded += n;
			return req->discarded > DISCARD_LIMIT ? MHD_NO
							      : MHD_YES;
		}
		if (buf_append(&req->body, upload_data, n) < 0) {
			/* Chunked bodies have no Content-Length to
			 * refuse early; answer once the upload ends. */
			req->discarded = req->body.len + n;
			req->close = true;
			reject(req, 413, "payload_too_large",
			       "body larger than %zu bytes", a->opt.max_body);
		}
		return MHD_YES;
	}
	return respond(c, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	(void)c;
	(void)toe;
	if (!*con_cls)
		return;
	request_free(*con_cls);
	*con_cls = NULL;
	atomic_fetch_sub(&a->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct api *a = cls;
	(void)c;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&a->connections, 1);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&a->connections, 1);
}

/* Keep the URL and its arguments as sent: api.c decodes them itself so that
 * a bad escape is a 400 and an escaped '/' stays inside its segment. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("api", "microhttpd: %s", msg);
}

/* ---- start / stop ---- */

static int set_defaults(struct api_options *o, char *err, size_t errlen)
{
	if (!o->host)
		o->host = "127.0.0.1";
	if (!o->threads)
		o->threads = 2;
	if (!o->max_connections)
		o->max_connections = 512;
	if (!o->max_body)
		o->max_body = 1u << 20;
	if (o->request_timeout_s == 0)
		o->request_timeout_s = 30;
	if (o->rate_per_s == 0)
		o->rate_per_s = 100;
	if (o->rate_burst == 0)
		o->rate_burst = 200;
	if (o->port > 65535 || o->threads > 256 ||
	    o->max_connections > 1000000 || o->max_body > (1u << 30) ||
	    !(o->request_timeout_s > 0 && o->request_timeout_s <= 86400) ||
	    !(o->rate_per_s > 0 && isfinite(o->rate_per_s)) ||
	    !(o->rate_burst >= 1 && isfinite(o->rate_burst))) {
		snprintf(err, errlen, "api option out of range");
		return -EINVAL;
	}
	return 0;
}

static int check_routes(const struct api_route *routes, size_t n, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct api_route *r = &routes[i];
		if (!r->method || !r->method[0] || !r->fn ||
		    r->min_role > API_ROLE_ADMIN ||
		    apiparse_pattern_check(r->pattern) < 0) {
			snprintf(err, errlen, "bad route %zu (%s %s)", i,
				 r->method ? r->method : "?",
				 r->pattern ? r->pattern : "?");
			return -EINVAL;
		}
	}
	return 0;
}

static int register_metrics(struct api *a, struct metrics *m)
{
	static const char *const req_labels[] = { "route", "method", "status" };
	static const char *const dur_labels[] = { "route" };
	int r = metrics_register(m, "acgs_http_requests_total",
				 "HTTP requests answered, by route pattern, "
				 "method and status.",
				 METRIC_COUNTER, req_labels, 3, NULL, 0,
				 &a->m_requests);
	if (r == -EEXIST)
		a->m_requests = metrics_find(m, "acgs_http_requests_total");
	else if (r < 0)
		return r;
	r = metrics_register(m, "acgs_http_request_duration_seconds",
			     "Time from request headers to queued response.",
			     METRIC_HISTOGRAM, dur_labels, 1, duration_bounds,
			     ARRAY_SIZE(duration_bounds), &a->m_duration);
	if (r == -EEXIST)
		a->m_duration =
		    metrics_find(m, "acgs_http_request_duration_seconds");
	else if (r < 0)
		return r;
	for (size_t i = 0; i < a->nroutes; i++)
		meter_resolve(a, &a->routes[i].meter, a->routes[i].r.pattern,
			      method_label(a->routes[i].r.method));
	return 0;
}

static int make_address(const char *host, unsigned port,
			struct sockaddr_storage *ss, bool *ret_v6)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*ret_v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*ret_v6 = true;
		return 0;
	}
	return -EINVAL;
}

static struct api *api_free(struct api *a)
{
	if (!a)
		return NULL;
	free(a->routes);
	free(a->rate);
	pthread_mutex_destroy(&a->rate_lock);
	free(a);
	return NULL;
}

int api_start(const struct api_options *opt, const struct api_route *routes,
	      size_t nroutes, struct api **ret, char *err, size_t errlen)
{
	if (!opt || (nroutes && !routes) || !ret) {
		snprintf(err, errlen, "api_start: missing argument");
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	struct api *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&a->rate_lock, NULL);
	a->opt = *opt;
	int r = set_defaults(&a->opt, err, errlen);
	if (r == 0)
		r = check_routes(routes, nroutes, err, errlen);
	if (r < 0)
		goto fail;

	r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
	a->rate = calloc(RATE_SLOTS, sizeof(*a->rate));
	a->routes = calloc(nroutes ? nroutes : 1, sizeof(*a->routes));
	if (!a->rate || !a->routes)
		goto fail;
	for (size_t i = 0; i < nroutes; i++)
		a->routes[i].r = routes[i];
	a->nroutes = nroutes;
	if (a->opt.metrics) {
		r = register_metrics(a, a->opt.metrics);
		if (r < 0) {
			snprintf(err, errlen, "cannot register http metrics");
			goto fail;
		}
	}

	struct sockaddr_storage ss;
	bool v6;
	if (make_address(a->opt.host, a->opt.port, &ss, &v6) < 0) {
		snprintf(err, errlen, "api host '%s' is not an IP address",
			 a->opt.host);
		r = -EINVAL;
		goto fail;
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
	/* Leave MHD room above our limit so the excess gets a 503 from us
	 * rather than a silent close. */
	unsigned mhd_limit = a->opt.max_connections + 64;
	unsigned timeout = (unsigned)ceil(a->opt.request_timeout_s);
	errno = 0;
	a->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_access, a, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	    a->opt.threads > 1 ? a->opt.threads : 0u,
	    MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, a, MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!a->daemon) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen, "cannot listen on %s port %u: %s",
			 a->opt.host, a->opt.port,
			 errno ? strerror(errno) : "microhttpd failed");
		goto fail;
	}
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = di ? di->port : a->opt.port;
	*ret = a;
	return 0;
fail:
	api_free(a);
	return r;
}

struct api *api_stop(struct api *a)
{
	if (!a)
		return NULL;
	MHD_socket fd = MHD_quiesce_daemon(a->daemon);
	uint64_t deadline =
	    time_mono_ns() + (uint64_t)(a->opt.request_timeout_s * 1e9);
	while (atomic_load(&a->inflight) > 0 && time_mono_ns() < deadline) {
		struct timespec ts = { 0, STOP_POLL_NS };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(a->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	return api_free(a);
}

unsigned api_port(const struct api *a)
{
	return a->port;
}
