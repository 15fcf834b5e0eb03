/* The HTTP client of acgsctl: one request at a time to the acgs-server API
 * over libcurl, with a bearer token, a timeout, a capped body and no
 * redirects (the token must never follow a Location to another host). */
#ifndef ACGS_CLI_CLIENT_H
#define ACGS_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* The server caps its answers at 16 MiB; anything bigger is not from it. */
#define CLIENT_MAX_BODY (16u << 20)
#define CLIENT_ERR_LEN	512

/* What acgsctl exits with; scripts rely on these (docs/acgsctl.md). */
enum client_exit {
	EXIT_OK = 0,
	EXIT_SERVER = 1,      /* the server answered with another error */
	EXIT_USAGE = 2,	      /* bad flag, value, config or token file */
	EXIT_UNREACHABLE = 3, /* no answer, timeout, or not an acgs server */
	EXIT_AUTH = 4,	      /* 401, 403 */
	EXIT_NOT_FOUND = 5,   /* 404 */
	EXIT_MATCHED = 6,     /* nodes or alerts --fail-if-any matched */
};

struct client_opts {
	const char *url;     /* base URL, checked by url_base() */
	const char *token;   /* NULL: no Authorization header */
	const char *ca_file; /* NULL: the system's CA bundle */
	double timeout_s;    /* the whole request */
};

struct client_response {
	long status;
	char content_type[128];
	char location[512]; /* of a redirect, not followed */
	struct buf body;    /* capped at CLIENT_MAX_BODY */
};

struct client;

/* Set up libcurl (curl_global_init is done here once). Returns 0 or
 * -ENOMEM. */
int client_new(const struct client_opts *opts, struct client **ret);

/* Returns NULL; client_free(NULL) is a no-op. */
struct client *client_free(struct client *c);

/* GET base URL + path_query (already encoded, starting with '/'). res is
 * initialised here; release its body with buf_release() whatever the
 * result. Returns 0 when the server answered (any status), -E2BIG when the
 * body passed the cap, or -EHOSTUNREACH / -ETIMEDOUT / -EIO when no answer
 * came, with err saying why in curl's or the system's words. */
int client_get(struct client *c, const char *path_query,
	       struct client_response *res, char err[CLIENT_ERR_LEN]);

/* The same with method "GET", "POST" or "DELETE" and, for POST, body (JSON;
 * NULL sends an empty body). */
int client_request(struct client *c, const char *method, const char *path_query,
		   const char *body, struct client_response *res,
		   char err[CLIENT_ERR_LEN]);

/* The exit code for an answer: status is the HTTP status and acgs_body
 * says whether the body was JSON of the shape the server gives (an error
 * object for an error status). 2xx gives EXIT_OK; an answer that is not the
 * server's gives EXIT_UNREACHABLE (a proxy's HTML page, a redirect). */
enum client_exit client_exit_code(long status, bool acgs_body);

#endif
