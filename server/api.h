/* The HTTP API layer: routing, authentication, limits and metering on
 * libmicrohttpd, independent of the rest of the server.
 *
 * The server hands api_start() a table of routes, each a handler with a
 * context pointer (the provider interface), and a token check. Handlers run
 * on MHD's threads, so whatever they touch through ctx must be safe to read
 * from there. Every response is JSON ({"error":{"code":..,"message":..}} on
 * errors) unless the handler chooses api_res_text().
 *
 * Before a handler runs, the layer answers by itself, in this order:
 *   503                more than max_connections connections are open
 *                      (libmicrohttpd itself drops connections past
 *                      max_connections + 64)
 *   429 + Retry-After  the client IP exceeded its token bucket
 *   400 / 414          malformed percent-encoding, or a path that is too
 *                      long or deep, in the path or query
 *   404 / 405 + Allow  no route for the path / none for this method
 *   413                body over max_body (from Content-Length, or while
 *                      a chunked body streams in)
 *   401 / 403          no or unknown bearer token / role below min_role
 * and meters every request into opt->metrics (when set) as
 * acgs_http_requests_total{route,method,status} and
 * acgs_http_request_duration_seconds{route}, route being the pattern. */
#ifndef ACGS_API_H
#define ACGS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonw.h"
#include "metrics.h"

enum api_role {
	API_ROLE_NONE = 0,
	API_ROLE_VIEWER = 1,
	API_ROLE_OPERATOR = 2,
	API_ROLE_ADMIN = 3,
};

struct api;
/* Opaque: method, path params, query, body; accessors below. */
struct api_request;
/* Opaque: status + a body the handler fills with jsonw or api_res_text. */
struct api_response;

/* A route handler runs on an MHD thread. Return 0 after filling the
 * response, or return api_error(...). A negative return without a response
 * becomes a 500. */
typedef int (*api_handler_fn)(void *ctx, const struct api_request *req,
			      struct api_response *res);

/* One route. pattern is a path whose segments are literals or {name}
 * parameters ("/api/v1/nodes/{id}/history"); a parameter matches one
 * non-empty segment. min_role API_ROLE_NONE needs no token. The strings
 * must outlive the api. */
struct api_route {
	const char *method;
	const char *pattern;
	enum api_role min_role;
	api_handler_fn fn;
	void *ctx;
};

/* Longest principal name kept for a request (a token's name is at most
 * 64 bytes). */
#define API_PRINCIPAL_MAX 80

/* Token check: given the SHA-256 of the presented bearer token, return its
 * role (API_ROLE_NONE if unknown or revoked) and write the token's name to
 * name (room for API_PRINCIPAL_MAX; may be left ""). Called on MHD
 * threads. */
typedef enum api_role (*api_auth_fn)(void *ctx, const uint8_t sha256[32],
				     char *name);

/* Zero means the default for every number. */
struct api_options {
	const char *host;	  /* IPv4 or IPv6 literal; NULL: 127.0.0.1 */
	unsigned port;		  /* 0: any free port, see api_port() */
	unsigned threads;	  /* MHD thread pool size; default 2 */
	unsigned max_connections; /* default 512; beyond it 503 */
	size_t max_body;	  /* default 1 MiB */
	double request_timeout_s; /* idle connection timeout; default 30 */
	bool anonymous_viewer;	  /* no token still gets viewer routes */
	api_auth_fn auth;	  /* NULL: every token is unknown */
	void *auth_ctx;
	struct metrics *metrics; /* may be NULL; must outlive the api */
	double rate_per_s;	 /* per client IP; default 100 */
	double rate_burst;	 /* bucket size; default 200 */
};

/* Upper bounds on what a request may carry (more is refused with 400/414). */
#define API_MAX_PATH	   2048
#define API_MAX_SEGMENTS   32
#define API_MAX_PARAMS	   8
#define API_MAX_QUERY_ARGS 32
#define API_MAX_TOKEN	   512
#define API_MAX_RESPONSE   (16u << 20)

/* Validate the routes, register the HTTP metrics in opt->metrics, and start
 * serving. routes are copied (not the strings they point to). On success
 * sets *ret and returns 0; on failure returns a negative errno (-EINVAL bad
 * option or route, -EADDRINUSE or another bind error, -ENOMEM) with a
 * sentence in err. */
int api_start(const struct api_options *opt, const struct api_route *routes,
	      size_t nroutes, struct api **ret, char *err, size_t errlen);

/* Stop taking connections, let in-flight requests finish (bounded by the
 * request timeout), then stop the threads and free. api_stop(NULL) is a
 * no-op. Returns NULL. */
struct api *api_stop(struct api *a);

/* The bound port (useful after port 0). */
unsigned api_port(const struct api *a);

/* Request accessors; strings belong to the request and live until the
 * handler returns. */
const char *api_req_method(const struct api_request *r);
/* A {name} path parameter, URL-decoded; NULL when the route has none. */
const char *api_req_param(const struct api_request *r, const char *name);
/* A query parameter, URL-decoded ("" for "?flag"); NULL when absent. The
 * first occurrence wins. */
const char *api_req_query(const struct api_request *r, const char *name);
/* The body (NUL-terminated, NULL only when len is 0); sets *len if non-NULL. */
const char *api_req_body(const struct api_request *r, size_t *len);
/* The caller's role: from the token, or VIEWER for an anonymous caller when
 * anonymous_viewer is set, else NONE. */
enum api_role api_req_role(const struct api_request *r);
/* Who is asking, for logs and records: the token's name, "anonymous"
 * without a token, "token" when the name is unknown. */
const char *api_req_principal(const struct api_request *r);

/* A JSON writer on the response body (status 200 unless changed). Calling
 * it again returns the same writer. */
struct jsonw *api_res_json(struct api_response *res);
void api_res_status(struct api_response *res, unsigned status);
/* Replace the body with len bytes of content_type (e.g. /metrics). */
void api_res_text(struct api_response *res, const char *content_type,
		  const char *body, size_t len);
/* Replace the response with {"error":{"code":code,"message":...}} and the
 * status. Returns 0 so a handler can `return api_error(...)`. */
int api_error(struct api_response *res, unsigned status, const char *code,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
