/* pd-receiver: a loopback stand-in for PagerDuty's Events API v2 that
 * checks each request as PagerDuty documents it (REFERENCE.md, PagerDuty
 * section) and answers as it does:
 *   202 {"status":"success","message":"Event processed","dedup_key":K}
 *   400 {"status":"invalid event","message":"Event object is invalid",
 *        "errors":[...]}
 *
 *   pd-receiver --port N --log FILE [--requests FILE [--request-times]]
 *               [--fail 500,429,...] [--retry-after S] [--path /v2/enqueue]
 *
 * --log gets one JSON line per accepted event (the request as received,
 * re-serialised on one line); --requests one line per request:
 * "STATUS EVENT_ACTION DEDUP_KEY", and with --request-times a fourth
 * field, the CLOCK_REALTIME milliseconds at which the request's headers
 * had arrived (bench/alerts measures alert latency with it). --fail
 * answers the first requests with those statuses, in order, whatever they
 * hold (then it validates); a 429 carries Retry-After when --retry-after
 * is given. SIGTERM or SIGINT stops it.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <sodium.h>

#include "buf.h"
#include "cleanup.h"
#include "conf.h"
#include "timeutil.h"

/* PagerDuty's limits. */
#define EVENT_MAX   (512 * 1024)
#define SUMMARY_MAX 1024
#define DEDUP_MAX   255
#define KEY_LEN	    32
#define FAIL_MAX    64

struct opts {
	unsigned port;
	const char *log_path, *req_path, *path;
	long fail[FAIL_MAX];
	size_t nfail, next_fail;
	unsigned retry_after;
	bool req_times;
	FILE *log, *req;
};

struct request {
	struct buf body;
	bool too_big;
	int64_t arrived_ms;
};

/* Validation errors, PagerDuty style: a list of strings. */
struct errs {
	cJSON *list;
};

static void add_err(struct errs *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_err(struct errs *e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(e->list, cJSON_CreateString(msg));
}

/* Characters of a UTF-8 string (cJSON has checked nothing: count lead
 * bytes, which over-counts nothing for valid input). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static const cJSON *field(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static void check_opt_string(struct errs *e, const cJSON *o, const char *name)
{
	const cJSON *v = field(o, name);
	if (v && !cJSON_IsString(v))
		add_err(e, "'%s' must be a string", name);
}

static void check_payload(struct errs *e, const cJSON *p)
{
	static const char *const sev[] = { "critical", "error", "warning",
					   "info" };
	if (!cJSON_IsObject(p)) {
		add_err(e, "'payload' is missing or not an object");
		return;
	}
	const cJSON *s = field(p, "summary");
	if (!cJSON_IsString(s) || !s->valuestring[0])
		add_err(e, "'payload.summary' is missing or blank");
	else if (utf8_chars(s->valuestring) > SUMMARY_MAX)
		add_err(e, "'payload.summary' is longer than %d characters",
			SUMMARY_MAX);
	const cJSON *src = field(p, "source");
	if (!cJSON_IsString(src) || !src->valuestring[0])
		add_err(e, "'payload.source' is missing or blank");
	const cJSON *sv = field(p, "severity");
	bool ok = false;
	for (size_t i = 0; cJSON_IsString(sv) && i < ARRAY_SIZE(sev); i++)
		ok |= strcmp(sv->valuestring, sev[i]) == 0;
	if (!ok)
		add_err(e, "'payload.severity' must be critical, error, "
			   "warning or info");
	const cJSON *ts = field(p, "timestamp");
	int64_t ms;
	if (ts && (!cJSON_IsString(ts) ||
		   time_parse_rfc3339(ts->valuestring, &ms) < 0))
		add_err(e, "'payload.timestamp' is not an ISO 8601 time");
	check_opt_string(e, p, "component");
	check_opt_string(e, p, "group");
	check_opt_string(e, p, "class");
	const cJSON *cd = field(p, "custom_details");
	if (cd && cJSON_IsNull(cd))
		add_err(e, "'payload.custom_details' is null");
}

static void check_links(struct errs *e, const cJSON *doc)
{
	const cJSON *links = field(doc, "links");
	const cJSON *l;
	if (!links)
		return;
	if (!cJSON_IsArray(links)) {
		add_err(e, "'links' must be an array");
		return;
	}
	cJSON_ArrayForEach(l, links)
	{
		const cJSON *href = field(l, "href");
		if (!cJSON_IsObject(l) || !cJSON_IsString(href) ||
		    !href->valuestring[0])
			add_err(e, "each of 'links' needs an 'href' string");
		else
			check_opt_string(e, l, "text");
	}
}

/* Validate one event; fills e and returns its dedup_key (or NULL). */
static const char *check_event(struct errs *e, const cJSON *doc,
			       const char **ret_action)
{
	*ret_action = "-";
	if (!cJSON_IsObject(doc)) {
		add_err(e, "the body is not a JSON object");
		return NULL;
	}
	const cJSON *rk = field(doc, "routing_key");
	if (!cJSON_IsString(rk) || strlen(rk->valuestring) != KEY_LEN)
		add_err(e, "'routing_key' must be a %d-character string",
			KEY_LEN);
	const cJSON *a = field(doc, "event_action");
	const char *act = cJSON_IsString(a) ? a->valuestring : NULL;
	if (!act || (strcmp(act, "trigger") && strcmp(act, "acknowledge") &&
		     strcmp(act, "resolve"))) {
		add_err(e, "'event_action' must be trigger, acknowledge or "
			   "resolve");
		act = NULL;
	} else {
		*ret_action = act;
	}
	const cJSON *dk = field(doc, "dedup_key");
	const char *dedup = NULL;
	if (dk && (!cJSON_IsString(dk) || !dk->valuestring[0]))
		add_err(e, "'dedup_key' must be a non-empty string");
	else if (dk && utf8_chars(dk->valuestring) > DEDUP_MAX)
		add_err(e, "'dedup_key' is longer than %d characters",
			DEDUP_MAX);
	else if (dk)
		dedup = dk->valuestring;
	if (act && strcmp(act, "trigger") != 0 && !dk)
		add_err(e, "'dedup_key' is required for %s", act);
	if (act && strcmp(act, "trigger") == 0)
		check_payload(e, field(doc, "payload"));
	check_links(e, doc);
	return dedup;
}

static enum MHD_Result answer(struct MHD_Connection *con, unsigned status,
			      cJSON *doc, unsigned retry_after)
{
	char *text = cJSON_PrintUnformatted(doc);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (status == 429 && retry_after) {
		char v[16];
		snprintf(v, sizeof(v), "%u", retry_after);
		MHD_add_response_header(r, "Retry-After", v);
	}
	enum MHD_Result rc = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void note(struct opts *o, const struct request *rq, unsigned status,
		 const char *action, const char *dedup)
{
	if (!o->req)
		return;
	if (o->req_times)
		fprintf(o->req, "%u %s %s %" PRId64 "\n", status, action,
			dedup ? dedup : "-", rq->arrived_ms);
	else
		fprintf(o->req, "%u %s %s\n", status, action,
			dedup ? dedup : "-");
	fflush(o->req);
}

static enum MHD_Result handle(struct opts *o, struct MHD_Connection *con,
			      const char *url, const char *method,
			      struct request *rq)
{
	cJSON *out = cJSON_CreateObject();
	struct errs e = { .list = cJSON_CreateArray() };
	cJSON *doc = NULL;
	const char *action = "-", *dedup = NULL;
	char made[KEY_LEN + 1];
	unsigned status;
	enum MHD_Result rc;

	if (strcmp(method, "POST") != 0 || strcmp(url, o->path) != 0) {
		cJSON_AddStringToObject(out, "status", "not found");
		cJSON_Delete(e.list);
		status = strcmp(url, o->path) ? 404 : 405;
		note(o, rq, status, "-", NULL);
		rc = answer(con, status, out, 0);
		cJSON_Delete(out);
		return rc;
	}
	if (o->next_fail < o->nfail) {
		status = (unsigned)o->fail[o->next_fail++];
		cJSON_AddStringToObject(out, "status", "scripted failure");
		cJSON_Delete(e.list);
		doc = cJSON_ParseWithLength(rq->body.data, rq->body.len);
		const cJSON *dk = field(doc, "dedup_key");
		const cJSON *ea = field(doc, "event_action");
		note(o, rq, status, cJSON_IsString(ea) ? ea->valuestring : "-",
		     cJSON_IsString(dk) ? dk->valuestring : NULL);
		cJSON_Delete(doc);
		rc = answer(con, status, out, o->retry_after);
		cJSON_Delete(out);
		return rc;
	}
	const char *ct =
	    MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
	if (rq->too_big)
		add_err(&e, "the event is larger than %d bytes", EVENT_MAX);
	else if (!ct || strncasecmp(ct, "application/json", 16) != 0)
		add_err(&e, "Content-Type must be application/json");
	else if (!(doc = cJSON_ParseWithLength(rq->body.data, rq->body.len)))
		add_err(&e, "the body is not valid JSON");
	else
		dedup = check_event(&e, doc, &action);

	if (cJSON_GetArraySize(e.list) > 0) {
		status = 400;
		cJSON_AddStringToObject(out, "status", "invalid event");
		cJSON_AddStringToObject(out, "message",
					"Event object is invalid");
		cJSON_AddItemToObject(out, "errors", e.list);
	} else {
		status = 202;
		cJSON_Delete(e.list);
		if (!dedup) {
			unsigned char raw[KEY_LEN / 2];
			randombytes_buf(raw, sizeof(raw));
			sodium_bin2hex(made, sizeof(made), raw, sizeof(raw));
			dedup = made;
		}
		cJSON_AddStringToObject(out, "status", "success");
		cJSON_AddStringToObject(out, "message", "Event processed");
		cJSON_AddStringToObject(out, "dedup_key", dedup);
		char *line = cJSON_PrintUnformatted(doc);
		if (line && o->log) {
			fprintf(o->log, "%s\n", line);
			fflush(o->log);
		}
		free(line);
	}
	note(o, rq, status, action, dedup);
	rc = answer(con, status, out, 0);
	cJSON_Delete(doc);
	cJSON_Delete(out);
	return rc;
}

/* libmicrohttpd's two-call pattern: remember the request on the first
 * call, collect the body on the next ones, answer on the last. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct opts *o = cls;
	struct request *rq = *con_cls;
	(void)version;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		/* The first call comes once the headers are in: the time the
		 * request arrived, before its body is read. */
		rq->arrived_ms = time_real_ms();
		buf_init(&rq->body, EVENT_MAX);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*data_size) {
		if (buf_append(&rq->body, data, *data_size) == -E2BIG)
			rq->too_big = true;
		*data_size = 0;
		return MHD_YES;
	}
	return handle(o, con, url, method, rq);
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	(void)cls;
	(void)con;
	(void)toe;
	if (rq) {
		buf_release(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static int parse_fail(struct opts *o, const char *s)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (o->nfail >= FAIL_MAX || conf_parse_u64(t, 100, 599, &v) < 0)
			return -EINVAL;
		o->fail[o->nfail++] = (long)v;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pd-receiver --port N --log FILE [--requests "
			"FILE [--request-times]] [--fail S,S,...] "
			"[--retry-after S] [--path P]\n");
}

int main(int argc, char **argv)
{
	struct opts o = { .path = "/v2/enqueue" };
	struct MHD_Daemon *d = NULL;
	sigset_t set;
	int sig, rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(a, "--request-times")) {
			o.req_times = true;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(a, "--port") &&
		    conf_parse_u64(v, 1, 65535, &n) == 0)
			o.port = (unsigned)n;
		else if (!strcmp(a, "--log"))
			o.log_path = v;
		else if (!strcmp(a, "--requests"))
			o.req_path = v;
		else if (!strcmp(a, "--path"))
			o.path = v;
		else if (!strcmp(a, "--retry-after") &&
			 conf_parse_u64(v, 1, 3600, &n) == 0)
			o.retry_after = (unsigned)n;
		else if (!strcmp(a, "--fail") && parse_fail(&o, v) == 0)
			;
		else {
			usage();
			return 2;
		}
	}
	if (!o.port || !o.log_path) {
		usage();
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	o.log = fopen(o.log_path, "ae");
	if (o.req_path)
		o.req = fopen(o.req_path, "ae");
	if (!o.log || (o.req_path && !o.req)) {
		perror("pd-receiver: open");
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)o.port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* One thread: the logs are written in request order. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)o.port,
			     NULL, NULL, on_request, &o, MHD_OPTION_SOCK_ADDR,
			     &sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "pd-receiver: cannot listen on port %u\n",
			o.port);
		goto out;
	}
	fprintf(stderr, "pd-receiver: listening on 127.0.0.1:%u%s\n", o.port,
		o.path);
	sigwait(&set, &sig);
	rc = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	if (o.log)
		fclose(o.log);
	if (o.req)
		fclose(o.req);
	return rc;
}
