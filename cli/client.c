#include "config.h"

#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

struct client {
	CURL *curl;
	struct curl_slist *headers;
	char *base;
	struct client_response *res; /* the request in progress */
	bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
	struct client *c = user;
	size_t len = size * n;

	if (buf_append(&c->res->body, p, len) < 0) {
		c->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return len;
}

static int add_header(struct client *c, const char *h)
{
	struct curl_slist *l = curl_slist_append(c->headers, h);
	if (!l)
		return -ENOMEM;
	c->headers = l;
	return 0;
}

int client_new(const struct client_opts *o, struct client **ret)
{
	struct client *c = NULL;
	_cleanup_free_ char *auth = NULL;
	int r = -ENOMEM;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		goto out;
	}
	c->base = strdup(o->url);
	c->curl = curl_easy_init();
	if (!c->base || !c->curl)
		goto out;
	if (o->token) {
		/* Checked by settings: printable ASCII, no CR/LF to inject. */
		if (asprintf(&auth, "Authorization: Bearer %s", o->token) < 0) {
			auth = NULL;
			goto out;
		}
		if ((r = add_header(c, auth)) < 0)
			goto out;
		explicit_bzero(auth, strlen(auth));
	}
	if ((r = add_header(c, "Accept: application/json")) < 0)
		goto out;

	CURL *h = c->curl;
	long ms = (long)(o->timeout_s * 1000);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "acgsctl/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
	/* The token goes to the host named in the URL and nowhere else. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* What we encoded is what is sent: no squashing of "/../". */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS,
			 CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	*ret = c;
	c = NULL;
	r = 0;
out:
	if (auth)
		explicit_bzero(auth, strlen(auth));
	client_free(c);
	return r;
}

struct client *client_free(struct client *c)
{
	if (!c)
		return NULL;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	/* The header list holds the token. */
	for (struct curl_slist *l = c->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(c->headers);
	free(c->base);
	free(c);
	/* Balances client_new's curl_global_init (reference counted). */
	curl_global_cleanup();
	return NULL;
}

static int transport_error(CURL *h, CURLcode rc, char *curl_err,
			   char err[CLIENT_ERR_LEN])
{
	long os_errno = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	/* "Connection refused" says more than "Couldn't connect to server",
	 * which is what curl 7.88 puts in its buffer. */
	if (rc == CURLE_COULDNT_CONNECT && os_errno > 0)
		snprintf(err, CLIENT_ERR_LEN, "%s", strerror((int)os_errno));
	else
		snprintf(err, CLIENT_ERR_LEN, "%s",
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return -ETIMEDOUT;
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return -EHOSTUNREACH;
	return -EIO;
}

/* Set the method and body of the next request on h. The JSON headers go
 * in front of the client's list for this request only: their node's next
 * points at the list (curl_slist is a plain linked list) and is unlinked
 * after the request, so the list holding the token is never copied. */
static void set_method(CURL *h, struct curl_slist *json,
		       struct curl_slist *base, const char *method,
		       const char *body)
{
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
				 (long)(body ? strlen(body) : 0));
		json[1].next = base;
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, json);
		return;
	}
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, base);
	if (strcmp(method, "DELETE") == 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
}

int client_get(struct client *c, const char *path_query,
	       struct client_response *res, char err[CLIENT_ERR_LEN])
{
	return client_request(c, "GET", path_query, NULL, res, err);
}

int client_request(struct client *c, const char *method, const char *path_query,
		   const char *body, struct client_response *res,
		   char err[CLIENT_ERR_LEN])
{
	_cleanup_free_ char *url = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	const char *ct = NULL, *loc = NULL;
	CURL *h = c->curl;
	/* "Expect:" turns off curl's 100-continue wait on bodies over 1 KiB:
	 * the server reads small bodies whole. */
	char ct_json[] = "Content-Type: application/json", expect[] = "Expect:";
	struct curl_slist json[2] = {
		{ .data = ct_json, .next = &json[1] },
		{ .data = expect, .next = NULL },
	};

	memset(res, 0, sizeof(*res));
	buf_init(&res->body, CLIENT_MAX_BODY);
	err[0] = '\0';
	if (asprintf(&url, "%s%s", c->base, path_query) < 0) {
		url = NULL;
		snprintf(err, CLIENT_ERR_LEN, "out of memory");
		return -ENOMEM;
	}
	c->res = res;
	c->too_big = false;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	set_method(h, json, c->headers, method, body);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	/* Nothing of this call's stack may stay set on the handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	json[1].next = NULL;
	c->res = NULL;
	if (c->too_big) {
		snprintf(err, CLIENT_ERR_LEN,
			 "the answer is larger than %u MiB, more than an "
			 "acgs server sends",
			 CLIENT_MAX_BODY >> 20);
		return -E2BIG;
	}
	if (rc != CURLE_OK)
		return transport_error(h, rc, curl_err, err);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(res->content_type, sizeof(res->content_type), "%s",
			 ct);
	if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
	    loc)
		snprintf(res->location, sizeof(res->location), "%s", loc);
	return 0;
}

enum client_exit client_exit_code(long status, bool acgs_body)
{
	if (!acgs_body)
		return EXIT_UNREACHABLE;
	if (status >= 200 && status <= 299)
		return EXIT_OK;
	if (status == 401 || status == 403)
		return EXIT_AUTH;
	if (status == 404)
		return EXIT_NOT_FOUND;
	if (status >= 400 && status <= 599)
		return EXIT_SERVER;
	return EXIT_UNREACHABLE;
}
