/* Notification receivers: their configuration (INI sections
 * "[receiver.KIND NAME]") and the request bodies sent to each kind.
 *
 * Kinds: PagerDuty Events API v2, Slack incoming webhooks, a generic JSON
 * webhook (Alertmanager's webhook format) and Alertmanager's
 * POST /api/v2/alerts. docs/alerts.md ("Receivers") documents every key and
 * payload with examples.
 *
 * The payload builders are pure functions of a struct receiver_alert and
 * the time: no I/O, no clock, so that tests compare them with fixed JSON.
 * Secrets (PagerDuty routing keys, webhook bearer tokens) are never part of
 * a built body: the outbox stores bodies in PostgreSQL, so the secret is
 * added at send time by receiver_finish_body() and receiver_auth_header().
 * Nothing here logs. */
#ifndef ACGS_RECEIVER_H
#define ACGS_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"

enum receiver_kind {
	RECEIVER_PAGERDUTY,
	RECEIVER_SLACK,
	RECEIVER_WEBHOOK,
	RECEIVER_ALERTMANAGER,
};

/* A receiver's NAME: 1-24 of [A-Za-z0-9._-]. inih keeps 49 bytes of a
 * section name and silently drops the rest, so "[receiver.alertmanager "
 * (22 bytes) plus 24 stays clear of that. */
#define RECEIVER_NAME_MAX 24
/* Receivers in one configuration. */
#define RECEIVER_MAX 32
/* PagerDuty's integration ("routing") key: exactly this many characters. */
#define RECEIVER_ROUTING_KEY_LEN 32
/* Longest bearer token read from bearer_token_file. */
#define RECEIVER_TOKEN_MAX 4096
/* A whole PagerDuty event is at most 512 KB (PagerDuty's limit); we keep
 * to 512,000 bytes, routing key included. */
#define RECEIVER_PD_EVENT_MAX	512000
#define RECEIVER_PD_SUMMARY_MAX 1024
#define RECEIVER_PD_DEDUP_MAX	255
/* Cap on the body of every other kind (Slack refuses more than ~40,000
 * characters of text; the others have no documented limit). */
#define RECEIVER_BODY_MAX (256 * 1024)

#define RECEIVER_PD_DEFAULT_URL	 "https://events.pagerduty.com/v2/enqueue"
#define RECEIVER_DEFAULT_TIMEOUT 10.0

struct receiver {
	enum receiver_kind kind;
	char name[RECEIVER_NAME_MAX + 1];
	/* The URL requests are POSTed to. For alertmanager,
	 * receiver_conf_finish appends "/api/v2/alerts" to the configured base.
	 */
	char *url;
	double timeout; /* seconds per request, connect included */
	/* pagerduty: exactly one of the two sources, then the key itself */
	char *routing_key_file, *routing_key_env;
	char routing_key[RECEIVER_ROUTING_KEY_LEN + 1];
	/* webhook: optional */
	char *bearer_token_file;
	char *bearer_token;
};

/* Every configured receiver, in the order of their sections. Embedded in
 * the server's config: receiver_set_release() frees what it holds. */
struct receiver_set {
	struct receiver v[RECEIVER_MAX];
	size_t n;
	/* The section of the last key parsed, to tell a second section of
	 * the same name from the continuation of the first. */
	char last_section[64];
};

/* Whether section is a receiver section ("receiver." prefix), which
 * receiver_conf_parse() must then handle (and refuse if malformed). */
bool receiver_conf_section(const char *section);

/* Apply one key of section "[receiver.KIND NAME]" to set, creating the
 * receiver at its first key (keys of one receiver may not be split over two
 * sections of the same name: -EEXIST). Returns 0, or a negative errno with
 * err->msg set: -EINVAL (bad kind, name or value), -ENOENT (unknown key),
 * -ENOSPC (more than RECEIVER_MAX), -ENOMEM. Fits a conf_handler. */
int receiver_conf_parse(struct receiver_set *set, const char *section,
			const char *key, const char *value,
			struct conf_error *err);

/* Validate every receiver once the file is read and load its secrets:
 * url required (except pagerduty: RECEIVER_PD_DEFAULT_URL), http:// or
 * https:// only; pagerduty needs exactly one of routing_key_file and
 * routing_key_env, whose content (surrounding white space trimmed) must be
 * exactly 32 printable ASCII characters; bearer_token_file must hold 1 to
 * RECEIVER_TOKEN_MAX printable ASCII characters. Files are read with
 * O_CLOEXEC, at most 64 KiB. err->msg names path, the section and the key,
 * never a secret. Returns 0 or a negative errno. */
int receiver_conf_finish(struct receiver_set *set, const char *path,
			 struct conf_error *err);

/* Free what set holds (secrets are wiped first) and empty it. */
void receiver_set_release(struct receiver_set *set);

/* The receiver called name, or NULL. */
const struct receiver *receiver_set_find(const struct receiver_set *set,
					 const char *name);

/* "pagerduty", "slack", "webhook", "alertmanager"; "unknown" otherwise. */
const char *receiver_kind_name(enum receiver_kind k);

/* ---- payloads ---- */

struct receiver_label {
	const char *name, *value;
};

struct receiver_component {
	const char *name;
	double value;
};

/* What a notification says: an alert instance at one transition. Strings
 * may be NULL (left out) unless marked required; they need not be valid
 * UTF-8 (invalid bytes become U+FFFD). */
struct receiver_alert {
	const char *rule;     /* required: the rule's name */
	const char *severity; /* critical, error, warning, info; else "error" */
	bool resolved;	      /* false: firing (trigger), true: resolved */
	/* required, stable for the alert instance across restarts; keys
	 * longer than 255 bytes are replaced by "sha256:" + 64 hex digits */
	const char *dedup_key;
	const char *summary, *description;
	const char *scope; /* "node", "service" or "fleet"; NULL: "node" */
	const char *key;   /* the node id or service name; NULL for fleet */
	/* PagerDuty's payload.component and .group; NULL: the scope, and
	 * the "service" label */
	const char *component, *group;
	double value, threshold; /* NaN: unknown (null) */
	const struct receiver_label *labels;
	size_t nlabels;
	const struct receiver_component *components; /* score components */
	size_t ncomponents;
	int64_t started_ms; /* when it started firing; <= 0: now */
	int64_t ended_ms;   /* when it resolved; <= 0: now (if resolved) */
	/* Base URLs for links, each optional (NULL or ""): the server's HTTP
	 * API ("https://acgs.example:8080") and a Grafana dashboard URL
	 * ("https://grafana.example/d/acgs-node/node"), to which
	 * "?var-node=ID" (or var-service) is appended. */
	const char *api_base, *grafana_base;
};

/* The event name stored with a notification: "trigger" or "resolve". */
const char *receiver_alert_event(const struct receiver_alert *a);

/* Build the request body for receiver kind k into out (appended; give it a
 * cap of at least the kind's maximum). now_ms is the current time (used for
 * times that are <= 0). A PagerDuty body lacks routing_key: add it with
 * receiver_finish_body(). Returns 0, -EINVAL (rule or dedup_key missing),
 * -E2BIG (out's cap too small), -ENOMEM. */
int receiver_build(enum receiver_kind k, const struct receiver_alert *a,
		   int64_t now_ms, const char *receiver_name, struct buf *out);

/* The builders for each kind (receiver_build dispatches to them). A
 * PagerDuty event that would exceed RECEIVER_PD_EVENT_MAX is trimmed:
 * first the description and labels in custom_details, then custom_details
 * down to {"truncated":true,...}; the page itself never fails for size. */
int receiver_pagerduty_body(const struct receiver_alert *a, int64_t now_ms,
			    struct buf *out);
int receiver_slack_body(const struct receiver_alert *a, int64_t now_ms,
			struct buf *out);
int receiver_webhook_body(const struct receiver_alert *a, int64_t now_ms,
			  const char *receiver_name, struct buf *out);
int receiver_alertmanager_body(const struct receiver_alert *a, int64_t now_ms,
			       struct buf *out);

/* The body actually sent, from a stored one: for pagerduty the stored
 * object with "routing_key" put first; for the other kinds a copy. out is
 * appended to. Returns 0, -EINVAL (a pagerduty body that is not a JSON
 * object), -E2BIG, -ENOMEM. */
int receiver_finish_body(const struct receiver *r, const char *body, size_t len,
			 struct buf *out);

/* The Authorization header line for r ("Authorization: Bearer ...") into
 * out, or "" when r sends none. Returns 0 or -E2BIG. */
int receiver_auth_header(const struct receiver *r, char *out, size_t outlen);

/* What a receiver's answer means for a notification. */
enum receiver_verdict {
	RECEIVER_DELIVERED, /* 2xx */
	RECEIVER_RETRY,	    /* 429, 5xx, no answer (status 0) */
	RECEIVER_REJECTED,  /* any other status: never retried */
};

enum receiver_verdict receiver_verdict(long http_status);

/* A one-line account of a refusal or error answer for logs and
 * notifications.last_error: status and, from a PagerDuty-style JSON body,
 * "message" and the "errors" strings; the body's first bytes otherwise.
 * Printable ASCII only (anything else as \xNN), at most outlen - 1 bytes.
 * body is outside input: any bytes, any length. */
void receiver_describe_response(long http_status, const char *body, size_t len,
				char *out, size_t outlen);

#endif
