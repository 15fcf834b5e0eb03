/* The HTTP API layer: the real api_start() on 127.0.0.1 port 0, driven with
 * libcurl; and its pure parsers, table-driven. */
#include "config.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "apiparse.h"
#include "check_main.h"
#include "cleanup.h"
#include "metrics.h"

#define VIEWER_TOKEN "viewer-secret-token"
#define OP_TOKEN     "operator-secret-token"

/* ---- the provider side: routes and a token table ---- */

struct tokens {
	uint8_t viewer[32], op[32];
};

static enum api_role check_token(void *ctx, const uint8_t sha256[32],
				 char *name)
{
	const struct tokens *t = ctx;
	if (memcmp(sha256, t->viewer, 32) == 0) {
		snprintf(name, API_PRINCIPAL_MAX, "ci-viewer");
		return API_ROLE_VIEWER;
	}
	if (memcmp(sha256, t->op, 32) == 0)
		return API_ROLE_OPERATOR;
	return API_ROLE_NONE;
}

static int h_live(void *ctx, const struct api_request *req,
		  struct api_response *res)
{
	(void)ctx;
	(void)req;
	struct jsonw *w = api_res_json(res);
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "status", "ok");
	jsonw_obj_end(w);
	return 0;
}

static void kv_or_null(struct jsonw *w, const char *k, const char *v)
{
	if (v)
		jsonw_kv_str(w, k, v);
	else {
		jsonw_key(w, k);
		jsonw_null(w);
	}
}

static int h_history(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	(void)ctx;
	struct jsonw *w = api_res_json(res);
	jsonw_obj_begin(w);
	kv_or_null(w, "id", api_req_param(req, "id"));
	kv_or_null(w, "nope", api_req_param(req, "nope"));
	kv_or_null(w, "from", api_req_query(req, "from"));
	kv_or_null(w, "tag", api_req_query(req, "tag"));
	kv_or_null(w, "flag", api_req_query(req, "flag"));
	kv_or_null(w, "missing", api_req_query(req, "missing"));
	jsonw_kv_u64(w, "role", api_req_role(req));
	jsonw_kv_str(w, "method", api_req_method(req));
	jsonw_obj_end(w);
	return 0;
}

static int h_chaos(void *ctx, const struct api_request *req,
		   struct api_response *res)
{
	(void)ctx;
	size_t len;
	const char *body = api_req_body(req, &len);
	api_res_status(res, 202);
	struct jsonw *w = api_res_json(res);
	jsonw_obj_begin(w);
	kv_or_null(w, "name", api_req_param(req, "name"));
	jsonw_kv_u64(w, "len", len);
	jsonw_key(w, "body");
	jsonw_strn(w, body ? body : "", len);
	jsonw_kv_u64(w, "role", api_req_role(req));
	jsonw_obj_end(w);
	return 0;
}

static int h_fail(void *ctx, const struct api_request *req,
		  struct api_response *res)
{
	(void)ctx;
	(void)req;
	(void)res;
	return -EIO;
}

static int h_conflict(void *ctx, const struct api_request *req,
		      struct api_response *res)
{
	(void)ctx;
	return api_error(res, 409, "conflict", "node %s is busy",
			 api_req_param(req, "id"));
}

static int h_metrics(void *ctx, const struct api_request *req,
		     struct api_response *res)
{
	(void)req;
	struct buf b;
	buf_init(&b, 1u << 20);
	int r = metrics_render(ctx, &b);
	if (r == 0)
		api_res_text(res, "text/plain; version=0.0.4", b.data, b.len);
	buf_release(&b);
	return r;
}

struct fixture {
	struct tokens tokens;
	struct metrics *metrics;
	struct api *api;
	char base[64];
};

static void fixture_start(struct fixture *fx, struct api_options *o)
{
	ck_assert_int_ge(sodium_init(), 0);
	crypto_hash_sha256(fx->tokens.viewer,
			   (const unsigned char *)VIEWER_TOKEN,
			   strlen(VIEWER_TOKEN));
	crypto_hash_sha256(fx->tokens.op, (const unsigned char *)OP_TOKEN,
			   strlen(OP_TOKEN));
	fx->metrics = metrics_new();
	const struct api_route routes[] = {
		{ "GET", "/health/live", API_ROLE_NONE, h_live, NULL },
		{ "GET", "/metrics", API_ROLE_NONE, h_metrics, fx->metrics },
		{ "GET", "/api/v1/nodes/{id}/history", API_ROLE_VIEWER,
		  h_history, NULL },
		{ "POST", "/api/v1/chaos/{name}", API_ROLE_OPERATOR, h_chaos,
		  NULL },
		{ "DELETE", "/api/v1/chaos/{name}", API_ROLE_ADMIN, h_chaos,
		  NULL },
		{ "GET", "/api/v1/fail", API_ROLE_NONE, h_fail, NULL },
		{ "PUT", "/api/v1/nodes/{id}", API_ROLE_NONE, h_conflict,
		  NULL },
	};
	o->host = "127.0.0.1";
	o->port = 0;
	o->auth = check_token;
	o->auth_ctx = &fx->tokens;
	o->metrics = fx->metrics;
	char err[256] = "";
	int r = api_start(o, routes, ARRAY_SIZE(routes), &fx->api, err,
			  sizeof(err));
	ck_assert_msg(r == 0, "api_start: %d %s", r, err);
	ck_assert_uint_gt(api_port(fx->api), 0);
	snprintf(fx->base, sizeof(fx->base), "http://127.0.0.1:%u",
		 api_port(fx->api));
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fixture_stop(struct fixture *fx)
{
	ck_assert_ptr_null(api_stop(fx->api));
	metrics_free(fx->metrics);
	curl_global_cleanup();
}

/* ---- the client side ---- */

struct reply {
	long status;
	long connects;
	char headers[4096];
	size_t hlen;
	char body[65536];
	size_t blen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = sz * n, room = sizeof(r->body) - 1 - r->blen;
	if (len > room)
		len = room;
	memcpy(r->body + r->blen, p, len);
	r->blen += len;
	r->body[r->blen] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = sz * n, room = sizeof(r->headers) - 1 - r->hlen;
	if (len > room)
		len = room;
	memcpy(r->headers + r->hlen, p, len);
	r->hlen += len;
	r->headers[r->hlen] = '\0';
	return sz * n;
}

struct req_spec {
	const char *method;
	const char *path;
	const char *token;
	const char *body;
	size_t len;
	bool chunked;
};

struct chunk_src {
	const char *p;
	size_t left;
};

static size_t read_chunk(char *buf, size_t sz, size_t n, void *ud)
{
	struct chunk_src *s = ud;
	size_t len = sz * n < 512 ? sz * n : 512;
	if (len > s->left)
		len = s->left;
	memcpy(buf, s->p, len);
	s->p += len;
	s->left -= len;
	return len;
}

/* Run one request on h (a reused handle keeps its connection). */
static void perform(CURL *h, const struct fixture *fx, const struct req_spec *q,
		    struct reply *r)
{
	char url[512], auth[256];
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", fx->base, q->path);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	struct curl_slist *hdrs = NULL;
	if (q->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 q->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	struct chunk_src src = { q->body, q->len };
	if (q->chunked) {
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_chunk);
		curl_easy_setopt(h, CURLOPT_READDATA, &src);
	} else if (q->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)q->len);
	}
	if (q->method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(h);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s",
		      q->method ? q->method : "GET", q->path,
		      curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
	curl_slist_free_all(hdrs);
}

static void request(const struct fixture *fx, const struct req_spec *q,
		    struct reply *r)
{
	CURL *h = curl_easy_init();
	ck_assert_ptr_nonnull(h);
	perform(h, fx, q, r);
	curl_easy_cleanup(h);
}

/* The value of a response header (case-insensitive name), or NULL. */
static const char *header(struct reply *r, const char *name, char *out,
			  size_t outlen)
{
	size_t n = strlen(name);
	for (const char *line = r->headers; line && *line;) {
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t len = strcspn(v, "\r\n");
			snprintf(out, outlen, "%.*s", (int)len, v);
			return out;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

/* Parse the body as JSON and return the string at obj.key (or obj.a.b). */
static const cJSON *json_at(const cJSON *root, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return v;
}

static void assert_json_str(const cJSON *root, const char *a, const char *b,
			    const char *want)
{
	const cJSON *v = json_at(root, a, b);
	if (!want) {
		ck_assert_msg(cJSON_IsNull(v), "%s should be null", a);
		return;
	}
	ck_assert_msg(cJSON_IsString(v), "%s%s%s is not a string", a,
		      b ? "." : "", b ? b : "");
	ck_assert_str_eq(v->valuestring, want);
}

/* An error response: status, JSON content type, {"error":{code,message}}
 * with nothing else. */
static void assert_error(struct reply *r, long status, const char *code)
{
	char ct[128];
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s",
		      r->status, status, r->body);
	ck_assert_ptr_nonnull(header(r, "Content-Type", ct, sizeof(ct)));
	ck_assert_str_eq(ct, "application/json");
	cJSON *root = cJSON_Parse(r->body);
	ck_assert_msg(root != NULL, "not JSON: %s", r->body);
	ck_assert_int_eq(cJSON_GetArraySize(root), 1);
	const cJSON *err = json_at(root, "error", NULL);
	ck_assert(cJSON_IsObject(err));
	ck_assert_int_eq(cJSON_GetArraySize(err), 2);
	assert_json_str(root, "error", "code", code);
	ck_assert(cJSON_IsString(json_at(root, "error", "message")));
	cJSON_Delete(root);
}

/* ---- tests ---- */

START_TEST(test_route_params_query)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	struct reply r;
	request(&fx,
		&(struct req_spec){
		    .path = "/api/v1/nodes/a%20b%2Fc/history?from=10&tag=x%26y"
			    "&flag&from=20",
		    .token = VIEWER_TOKEN },
		&r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	cJSON *root = cJSON_Parse(r.body);
	ck_assert_ptr_nonnull(root);
	assert_json_str(root, "id", NULL, "a b/c");
	assert_json_str(root, "nope", NULL, NULL);
	assert_json_str(root, "from", NULL, "10");
	assert_json_str(root, "tag", NULL, "x&y");
	assert_json_str(root, "flag", NULL, "");
	assert_json_str(root, "missing", NULL, NULL);
	assert_json_str(root, "method", NULL, "GET");
	ck_assert_int_eq(json_at(root, "role", NULL)->valueint,
			 API_ROLE_VIEWER);
	cJSON_Delete(root);

	/* A {name} matches exactly one non-empty segment. */
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes//history" },
		&r);
	assert_error(&r, 404, "not_found");
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes/a/b/history" },
		&r);
	assert_error(&r, 404, "not_found");
	request(&fx, &(struct req_spec){ .path = "/health/live/" }, &r);
	assert_error(&r, 404, "not_found");
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_not_found_and_method)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	struct reply r;
	char v[128];
	request(&fx, &(struct req_spec){ .path = "/nope" }, &r);
	assert_error(&r, 404, "not_found");

	request(&fx,
		&(struct req_spec){ .method = "POST", .path = "/health/live" },
		&r);
	assert_error(&r, 405, "method_not_allowed");
	ck_assert_str_eq(header(&r, "Allow", v, sizeof(v)), "GET");

	request(
	    &fx,
	    &(struct req_spec){ .method = "PATCH", .path = "/api/v1/chaos/x" },
	    &r);
	assert_error(&r, 405, "method_not_allowed");
	ck_assert_str_eq(header(&r, "Allow", v, sizeof(v)), "POST, DELETE");

	/* HEAD is served by the GET route. */
	CURL *h = curl_easy_init();
	perform(h, &fx, &(struct req_spec){ .path = "/health/live" }, &r);
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	ck_assert_int_eq(r.status, 200);
	curl_easy_cleanup(h);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_auth)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	struct reply r;
	char v[128];
	/* No token on a viewer route. */
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes/n1/history" },
		&r);
	assert_error(&r, 401, "unauthorized");
	ck_assert_str_eq(header(&r, "WWW-Authenticate", v, sizeof(v)),
			 "Bearer");
	/* Unknown token, and a malformed header. */
	request(&fx,
		&(struct req_spec){ .path = "/api/v1/nodes/n1/history",
				    .token = "wrong" },
		&r);
	assert_error(&r, 401, "unauthorized");
	/* Viewer on an operator route. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/cpu",
				    .token = VIEWER_TOKEN,
				    .body = "{}",
				    .len = 2 },
		&r);
	assert_error(&r, 403, "forbidden");
	/* Operator on an admin route. */
	request(&fx,
		&(struct req_spec){ .method = "DELETE",
				    .path = "/api/v1/chaos/cpu",
				    .token = OP_TOKEN },
		&r);
	assert_error(&r, 403, "forbidden");
	/* Operator on an operator route, with its body. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/cpu%2Dhog",
				    .token = OP_TOKEN,
				    .body = "{\"duration\":\"30s\"}",
				    .len = 18 },
		&r);
	ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
	ck_assert_str_eq(header(&r, "Content-Type", v, sizeof(v)),
			 "application/json");
	cJSON *root = cJSON_Parse(r.body);
	assert_json_str(root, "name", NULL, "cpu-hog");
	assert_json_str(root, "body", NULL, "{\"duration\":\"30s\"}");
	ck_assert_int_eq(json_at(root, "len", NULL)->valueint, 18);
	ck_assert_int_eq(json_at(root, "role", NULL)->valueint,
			 API_ROLE_OPERATOR);
	cJSON_Delete(root);
	/* Routes with min_role NONE need nothing. */
	request(&fx, &(struct req_spec){ .path = "/health/live" }, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	/* ...and ignore a stale token. */
	request(&fx, &(struct req_spec){ .path = "/health/live", .token = "x" },
		&r);
	ck_assert_int_eq(r.status, 200);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_anonymous_viewer)
{
	struct fixture fx;
	struct api_options o = { .anonymous_viewer = true };
	fixture_start(&fx, &o);
	struct reply r;
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes/n1/history" },
		&r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	cJSON *root = cJSON_Parse(r.body);
	ck_assert_int_eq(json_at(root, "role", NULL)->valueint,
			 API_ROLE_VIEWER);
	cJSON_Delete(root);
	/* Still not an operator. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/cpu",
				    .body = "{}",
				    .len = 2 },
		&r);
	assert_error(&r, 401, "unauthorized");
	/* A bad token is refused rather than downgraded. */
	request(&fx,
		&(struct req_spec){ .path = "/api/v1/nodes/n1/history",
				    .token = "revoked" },
		&r);
	assert_error(&r, 401, "unauthorized");
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_body_limit)
{
	struct fixture fx;
	struct api_options o = { .max_body = 1024 };
	fixture_start(&fx, &o);
	static char big[4096];
	memset(big, 'x', sizeof(big));
	struct reply r;
	/* Refused from Content-Length, before the body is read. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/x",
				    .token = OP_TOKEN,
				    .body = big,
				    .len = sizeof(big) },
		&r);
	assert_error(&r, 413, "payload_too_large");
	/* Refused while a chunked body streams in. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/x",
				    .token = OP_TOKEN,
				    .body = big,
				    .len = sizeof(big),
				    .chunked = true },
		&r);
	assert_error(&r, 413, "payload_too_large");
	/* Exactly at the limit is fine, chunked or not. */
	request(&fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/x",
				    .token = OP_TOKEN,
				    .body = big,
				    .len = 1024,
				    .chunked = true },
		&r);
	ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
	cJSON *root = cJSON_Parse(r.body);
	ck_assert_int_eq(json_at(root, "len", NULL)->valueint, 1024);
	cJSON_Delete(root);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_bad_encoding)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	static const char *const bad[] = {
		"/api/v1/nodes/%zz/history",   "/api/v1/nodes/%4/history",
		"/api/v1/nodes/a%00b/history", "/health/live?x=%4",
		"/health/live?x=%G1",	       "/health/live?%=1",
	};
	struct reply r;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		request(
		    &fx,
		    &(struct req_spec){ .path = bad[i], .token = VIEWER_TOKEN },
		    &r);
		ck_assert_msg(r.status == 400, "%s: %ld", bad[i], r.status);
		assert_error(&r, 400, "bad_request");
	}
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_rate_limit)
{
	struct fixture fx;
	struct api_options o = { .rate_per_s = 0.5, .rate_burst = 3 };
	fixture_start(&fx, &o);
	struct reply r;
	char v[32];
	for (int i = 0; i < 3; i++) {
		request(&fx, &(struct req_spec){ .path = "/health/live" }, &r);
		ck_assert_int_eq(r.status, 200);
	}
	request(&fx, &(struct req_spec){ .path = "/health/live" }, &r);
	assert_error(&r, 429, "rate_limited");
	ck_assert_ptr_nonnull(header(&r, "Retry-After", v, sizeof(v)));
	int secs = (int)strtol(v, NULL, 10);
	ck_assert_int_ge(secs, 1);
	ck_assert_int_le(secs, 2);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_keep_alive)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	CURL *h = curl_easy_init();
	struct reply r;
	perform(h, &fx, &(struct req_spec){ .path = "/health/live" }, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.connects, 1);
	perform(h, &fx,
		&(struct req_spec){ .path = "/api/v1/nodes/n1/history",
				    .token = VIEWER_TOKEN },
		&r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.connects, 0);
	/* Errors decided from the headers keep the connection too. */
	perform(h, &fx, &(struct req_spec){ .path = "/nope" }, &r);
	ck_assert_int_eq(r.status, 404);
	perform(h, &fx,
		&(struct req_spec){ .method = "POST",
				    .path = "/api/v1/chaos/x",
				    .token = OP_TOKEN,
				    .body = "{}",
				    .len = 2 },
		&r);
	ck_assert_int_eq(r.status, 202);
	ck_assert_int_eq(r.connects, 0);
	curl_easy_cleanup(h);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_handler_errors)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	struct reply r;
	request(&fx, &(struct req_spec){ .path = "/api/v1/fail" }, &r);
	assert_error(&r, 500, "internal");
	request(
	    &fx,
	    &(struct req_spec){ .method = "PUT", .path = "/api/v1/nodes/n%22" },
	    &r);
	assert_error(&r, 409, "conflict");
	ck_assert_str_eq(r.body, "{\"error\":{\"code\":\"conflict\","
				 "\"message\":\"node n\\\" is busy\"}}");
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_connection_limit)
{
	struct fixture fx;
	struct api_options o = { .max_connections = 1 };
	fixture_start(&fx, &o);
	CURL *a = curl_easy_init(), *b = curl_easy_init();
	struct reply r;
	perform(a, &fx, &(struct req_spec){ .path = "/health/live" }, &r);
	ck_assert_int_eq(r.status, 200);
	/* a still holds its kept-alive connection. */
	perform(b, &fx, &(struct req_spec){ .path = "/health/live" }, &r);
	assert_error(&r, 503, "overloaded");
	curl_easy_cleanup(a);
	curl_easy_cleanup(b);
	fixture_stop(&fx);
}
END_TEST

/* Every line is a comment or `name{labels} value`; returns the count. */
static int check_exposition(const char *text)
{
	int samples = 0;
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		ck_assert_msg(line[len] == '\n', "last line unterminated");
		if (line[0] != '#') {
			const char *sp = memchr(line, ' ', len);
			ck_assert_msg(sp != NULL, "no value: %.*s", (int)len,
				      line);
			const char *brace = memchr(line, '{', len);
			if (brace && brace < sp)
				ck_assert_msg(sp[-1] == '}', "labels: %.*s",
					      (int)len, line);
			char num[64];
			snprintf(num, sizeof(num), "%.*s",
				 (int)(line + len - sp - 1), sp + 1);
			char *end;
			strtod(num, &end);
			ck_assert_msg(*num && *end == '\0', "value: %.*s",
				      (int)len, line);
			samples++;
		} else {
			ck_assert_msg(strncmp(line, "# HELP ", 7) == 0 ||
					  strncmp(line, "# TYPE ", 7) == 0,
				      "comment: %.*s", (int)len, line);
		}
		line += len + 1;
	}
	return samples;
}

START_TEST(test_request_metrics)
{
	struct fixture fx;
	struct api_options o = { 0 };
	fixture_start(&fx, &o);
	struct reply r;
	request(&fx, &(struct req_spec){ .path = "/health/live" }, &r);
	request(&fx, &(struct req_spec){ .path = "/health/live" }, &r);
	request(&fx, &(struct req_spec){ .path = "/nope" }, &r);
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes/n1/history" },
		&r);
	request(&fx, &(struct req_spec){ .path = "/api/v1/nodes/n2/history" },
		&r);
	request(&fx,
		&(struct req_spec){ .method = "POST", .path = "/health/live" },
		&r);
	request(&fx, &(struct req_spec){ .path = "/metrics" }, &r);
	ck_assert_int_eq(r.status, 200);
	char v[128];
	ck_assert_str_eq(header(&r, "Content-Type", v, sizeof(v)),
			 "text/plain; version=0.0.4");
	ck_assert_int_gt(check_exposition(r.body), 10);
	static const char *const want[] = {
		"# TYPE acgs_http_requests_total counter\n",
		"acgs_http_requests_total{route=\"/health/"
		"live\",method=\"GET\","
		"status=\"200\"} 2\n",
		"acgs_http_requests_total{route=\"unmatched\",method=\"GET\","
		"status=\"404\"} 1\n",
		/* The pattern, not the raw path: bounded cardinality. */
		"acgs_http_requests_total{route=\"/api/v1/nodes/{id}/history\","
		"method=\"GET\",status=\"401\"} 2\n",
		"acgs_http_requests_total{route=\"/health/"
		"live\",method=\"POST\","
		"status=\"405\"} 1\n",
		"# TYPE acgs_http_request_duration_seconds histogram\n",
		"acgs_http_request_duration_seconds_bucket{route=\"/health/"
		"live\","
		"le=\"+Inf\"} 3\n",
		"acgs_http_request_duration_seconds_count{route=\"/health/"
		"live\"} "
		"3\n",
		"acgs_http_request_duration_seconds_sum{route=\"/health/"
		"live\"} ",
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_msg(strstr(r.body, want[i]), "missing %s in\n%s",
			      want[i], r.body);
	fixture_stop(&fx);
}
END_TEST

START_TEST(test_start_rejects)
{
	struct api *a = NULL;
	char err[128] = "";
	struct api_options o = { .host = "127.0.0.1" };
	static const struct api_route bad[] = {
		{ "GET", "/a/{x", API_ROLE_NONE, h_live, NULL },
	};
	ck_assert_int_eq(api_start(&o, bad, 1, &a, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(err, "/a/{x"));
	static const struct api_route good[] = {
		{ "GET", "/a", API_ROLE_NONE, h_live, NULL },
	};
	o.host = "not-an-ip";
	ck_assert_int_eq(api_start(&o, good, 1, &a, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(api_stop(NULL));
}
END_TEST

/* ---- the pure parsers ---- */

static const struct {
	const char *in;
	const char *out; /* NULL: -EINVAL */
} decode_cases[] = {
	{ "", "" },	    { "abc", "abc" },
	{ "a%20b", "a b" }, { "%2f%2F", "//" },
	{ "a+b", "a+b" },   { "%", NULL },
	{ "%4", NULL },	    { "%zz", NULL },
	{ "%00", NULL },    { "%e2%82%ac", "\xe2\x82\xac" },
};

START_TEST(test_pct_decode)
{
	char out[64];
	const char *in = decode_cases[_i].in;
	ssize_t n = apiparse_pct_decode(in, strlen(in), out);
	if (!decode_cases[_i].out) {
		ck_assert_int_eq(n, -EINVAL);
		return;
	}
	ck_assert_int_eq(n, (ssize_t)strlen(decode_cases[_i].out));
	ck_assert_str_eq(out, decode_cases[_i].out);
}
END_TEST

static const struct {
	const char *pattern, *path;
	int match; /* 1, 0, or -1 for a split error */
	const char *param, *value;
} match_cases[] = {
	{ "/", "/", 1, NULL, NULL },
	{ "/a", "/a", 1, NULL, NULL },
	{ "/a", "/a/", 0, NULL, NULL },
	{ "/a/", "/a/", 1, NULL, NULL },
	{ "/a/{id}", "/a/x%2Fy", 1, "id", "x/y" },
	{ "/a/{id}", "/a/", 0, NULL, NULL },
	{ "/a/{id}/h", "/a/n1/h", 1, "id", "n1" },
	{ "/a/{id}/h", "/a/n1/g", 0, NULL, NULL },
	{ "/a/{id}/h", "/a/n1", 0, NULL, NULL },
	{ "/a/{id}/{k}", "/a/1/2", 1, "k", "2" },
	{ "/a b", "/a%20b", 1, NULL, NULL },
	{ "/a", "a", -1, NULL, NULL },
	{ "/a", "/%zz", -1, NULL, NULL },
};

START_TEST(test_match)
{
	char scratch[256];
	struct apiparse_path p;
	ck_assert_int_eq(apiparse_pattern_check(match_cases[_i].pattern), 0);
	int r =
	    apiparse_split(match_cases[_i].path, scratch, sizeof(scratch), &p);
	if (match_cases[_i].match < 0) {
		ck_assert_int_lt(r, 0);
		return;
	}
	ck_assert_int_eq(r, 0);
	struct apiparse_param params[APIPARSE_MAX_PARAMS];
	size_t np = 0;
	bool m = apiparse_match(match_cases[_i].pattern, &p, params, &np);
	ck_assert_int_eq(m, match_cases[_i].match);
	if (!match_cases[_i].param)
		return;
	bool found = false;
	for (size_t i = 0; i < np; i++)
		if (strlen(match_cases[_i].param) == params[i].namelen &&
		    memcmp(params[i].name, match_cases[_i].param,
			   params[i].namelen) == 0) {
			ck_assert_str_eq(params[i].value,
					 match_cases[_i].value);
			found = true;
		}
	ck_assert(found);
}
END_TEST

START_TEST(test_pattern_and_bearer)
{
	static const char *const bad[] = { "",	    "a",     "/{}",  "/{a-b}",
					   "/x{a}", "/{a}x", "/%20", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(apiparse_pattern_check(bad[i]), -EINVAL);
	char many[512] = "";
	for (int i = 0; i < APIPARSE_MAX_SEGMENTS + 1; i++)
		strncat(many, "/a", sizeof(many) - strlen(many) - 1);
	ck_assert_int_eq(apiparse_pattern_check(many), -EINVAL);
	char scratch[512];
	struct apiparse_path p;
	ck_assert_int_eq(apiparse_split(many, scratch, sizeof(scratch), &p),
			 -E2BIG);

	const char *tok;
	size_t len;
	ck_assert_int_eq(apiparse_bearer("Bearer abc", 64, &tok, &len), 0);
	ck_assert_int_eq(len, 3);
	ck_assert_int_eq(memcmp(tok, "abc", 3), 0);
	ck_assert_int_eq(apiparse_bearer("  bearer   xyz  ", 64, &tok, &len),
			 0);
	ck_assert_int_eq(len, 3);
	ck_assert_int_eq(apiparse_bearer("Basic abc", 64, &tok, &len), -EINVAL);
	ck_assert_int_eq(apiparse_bearer("Bearer", 64, &tok, &len), -EINVAL);
	ck_assert_int_eq(apiparse_bearer("Bearer ", 64, &tok, &len), -EINVAL);
	ck_assert_int_eq(apiparse_bearer("Bearer a b", 64, &tok, &len),
			 -EINVAL);
	ck_assert_int_eq(apiparse_bearer("Bearer abcdef", 3, &tok, &len),
			 -EINVAL);
	ck_assert_int_eq(apiparse_bearer("Bearerabc", 64, &tok, &len), -EINVAL);
}
END_TEST

static const struct {
	const char *in;
	int64_t ms; /* -1: rejected */
} duration_cases[] = {
	{ "0", 0 },
	{ "90", 90000 },
	{ "90s", 90000 },
	{ "500ms", 500 },
	{ "15m", 900000 },
	{ "1h", 3600000 },
	{ "7d", 604800000 },
	{ "2w", 1209600000 },
	{ "3650d", 3650ll * 86400000 },
	{ "3651d", -1 },
	{ "99999999999999999999s", -1 },
	{ "", -1 },
	{ "h", -1 },
	{ "-1h", -1 },
	{ "+1h", -1 },
	{ " 1h", -1 },
	{ "1h ", -1 },
	{ "1.5h", -1 },
	{ "1H", -1 },
	{ "1y", -1 },
	{ "0x10", -1 },
};

START_TEST(test_duration)
{
	int64_t ms = -1;
	int r = apiparse_duration_ms(duration_cases[_i].in, &ms);
	if (duration_cases[_i].ms < 0) {
		ck_assert_int_eq(r, -EINVAL);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(ms, duration_cases[_i].ms);
}
END_TEST

START_TEST(test_time)
{
	const int64_t now = 1764000000000; /* 2025-11-24T16:00:00Z */
	int64_t ms;

	ck_assert_int_eq(apiparse_time_ms("now", now, &ms), 0);
	ck_assert_int_eq(ms, now);
	ck_assert_int_eq(apiparse_time_ms("1h", now, &ms), 0);
	ck_assert_int_eq(ms, now - 3600000);
	ck_assert_int_eq(apiparse_time_ms("now-15m", now, &ms), 0);
	ck_assert_int_eq(ms, now - 900000);
	ck_assert_int_eq(apiparse_time_ms("2025-11-24T15:00:00Z", now, &ms), 0);
	ck_assert_int_eq(ms, now - 3600000);
	ck_assert_int_eq(
	    apiparse_time_ms("2025-11-24T17:00:00.250+01:00", now, &ms), 0);
	ck_assert_int_eq(ms, now + 250);
	static const char *const bad[] = {
		"",	     "now+1h", "now-", "nowish", "2025-13-01T00:00:00Z",
		"yesterday", NULL
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(apiparse_time_ms(bad[i], now, &ms), -EINVAL);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("http");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_route_params_query);
	tcase_add_test(tc, test_not_found_and_method);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_anonymous_viewer);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_bad_encoding);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_handler_errors);
	tcase_add_test(tc, test_connection_limit);
	tcase_add_test(tc, test_request_metrics);
	tcase_add_test(tc, test_start_rejects);
	suite_add_tcase(s, tc);

	TCase *tp = tcase_create("parse");
	tcase_add_loop_test(tp, test_pct_decode, 0,
			    (int)ARRAY_SIZE(decode_cases));
	tcase_add_loop_test(tp, test_match, 0, (int)ARRAY_SIZE(match_cases));
	tcase_add_test(tp, test_pattern_and_bearer);
	tcase_add_loop_test(tp, test_duration, 0,
			    (int)ARRAY_SIZE(duration_cases));
	tcase_add_test(tp, test_time);
	suite_add_tcase(s, tp);
	return s;
}
