/* receiver: configuration sections and keys, secrets, and every payload
 * against the documented schemas (the output is parsed and compared field
 * by field). ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check_main.h"
#include "conf.h"
#include "receiver.h"
#include "timeutil.h"

#define KEY32 "0123456789abcdef0123456789ABCDEF"
/* 2026-11-24T17:30:01.123Z */
#define T0 1795541401123LL

static const struct receiver_label labels[] = {
	{ "service", "api" },
	{ "zone", "eu-1" },
	{ "app.kubernetes.io/name", "acgs" },
	{ "1st", "x" },
	{ "node", "not-the-node" }, /* reserved: never overrides */
	{ "empty", "" },
};

static const struct receiver_component comps[] = {
	{ "liveness", 1 },
	{ "resources", 0.25 },
	{ "probes", 0.5 },
};

static struct receiver_alert alert(void)
{
	return (struct receiver_alert){
		.rule = "cpu-high",
		.severity = "warning",
		.dedup_key = "acgs:cpu-high:node:web-1",
		.summary = "CPU above 90% on web-1",
		.description = "cpu.usage 0.95 > 0.9 for 5m",
		.scope = "node",
		.key = "web-1",
		.value = 0.95,
		.threshold = 0.9,
		.labels = labels,
		.nlabels = sizeof(labels) / sizeof(labels[0]),
		.components = comps,
		.ncomponents = sizeof(comps) / sizeof(comps[0]),
		.started_ms = T0,
		.api_base = "https://acgs.example:8080/",
		.grafana_base = "https://grafana.example/d/acgs-node/node",
	};
}

static cJSON *build(enum receiver_kind k, const struct receiver_alert *a,
		    int64_t now)
{
	struct buf b;
	buf_init(&b, 1024 * 1024);
	int rc = receiver_build(k, a, now, "ops", &b);
	ck_assert_int_eq(rc, 0);
	cJSON *doc = cJSON_ParseWithLength(b.data, b.len);
	ck_assert_msg(doc != NULL, "not JSON: %s", b.data);
	buf_release(&b);
	return doc;
}

static const char *str(const cJSON *o, const char *path)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", path);
	const cJSON *v = o;
	char *save = NULL;
	for (char *t = strtok_r(copy, ".", &save); t && v;
	     t = strtok_r(NULL, ".", &save)) {
		char *end;
		long i = strtol(t, &end, 10);
		v = *end == '\0' && cJSON_IsArray(v)
			? cJSON_GetArrayItem(v, (int)i)
			: cJSON_GetObjectItemCaseSensitive(v, t);
	}
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *item(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = item(o, name);
	ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", name);
	return v->valuedouble;
}

#define ck_str(doc, path, want)                                                \
	do {                                                                   \
		const char *got_ = str(doc, path);                             \
		ck_assert_msg(got_ &&strcmp(got_, want) == 0,                  \
			      "%s: got '%s', want '%s'", path,                 \
			      got_ ? got_ : "(missing)", want);                \
	} while (0)

/* Code points of valid UTF-8 (asserted valid). */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* ---- PagerDuty ---- */

START_TEST(pd_trigger_fields)
{
	struct receiver_alert a = alert();
	cJSON *d = build(RECEIVER_PAGERDUTY, &a, T0 + 5000);

	ck_assert_ptr_null(item(d, "routing_key")); /* added at send time */
	ck_str(d, "event_action", "trigger");
	ck_str(d, "dedup_key", "acgs:cpu-high:node:web-1");
	ck_str(d, "client", "acgs-server");
	ck_str(d, "client_url", "https://acgs.example:8080/");
	ck_str(d, "payload.summary", "CPU above 90% on web-1");
	ck_str(d, "payload.source", "web-1");
	ck_str(d, "payload.severity", "warning");
	ck_str(d, "payload.timestamp", "2026-11-24T17:30:01.123Z");
	ck_str(d, "payload.component", "node");
	ck_str(d, "payload.group", "api");
	ck_str(d, "payload.class", "cpu-high");
	const cJSON *cd = item(item(d, "payload"), "custom_details");
	ck_assert_double_eq_tol(num(cd, "value"), 0.95, 1e-9);
	ck_assert_double_eq_tol(num(cd, "threshold"), 0.9, 1e-9);
	ck_assert_double_eq_tol(num(item(cd, "components"), "resources"), 0.25,
				1e-9);
	ck_assert_double_eq_tol(num(item(cd, "components"), "liveness"), 1,
				1e-9);
	ck_str(cd, "labels.zone", "eu-1");
	ck_str(cd, "description", "cpu.usage 0.95 > 0.9 for 5m");
	ck_str(cd, "rule", "cpu-high");
	ck_assert_ptr_null(item(cd, "truncated"));
	ck_assert_int_eq(cJSON_GetArraySize(item(d, "links")), 2);
	ck_str(d, "links.0.href",
	       "https://acgs.example:8080/api/v1/nodes/web-1");
	ck_str(d, "links.0.text", "Node in ACGS");
	ck_str(d, "links.1.href",
	       "https://grafana.example/d/acgs-node/node?var-node=web-1");
	cJSON_Delete(d);
}
END_TEST

START_TEST(pd_trigger_defaults)
{
	struct receiver_alert a = alert();
	a.severity = "fatal";
	a.summary = NULL;
	a.api_base = NULL;
	a.grafana_base = "";
	a.started_ms = 0;
	a.value = NAN;
	a.key = "svc one/two";
	a.scope = "service";
	a.group = "payments";
	a.component = "probe:api";
	cJSON *d = build(RECEIVER_PAGERDUTY, &a, T0);

	ck_str(d, "payload.severity", "error");
	ck_str(d, "payload.summary", "cpu-high on svc one/two");
	ck_str(d, "payload.timestamp", "2026-11-24T17:30:01.123Z");
	ck_str(d, "payload.group", "payments");
	ck_str(d, "payload.component", "probe:api");
	ck_assert_ptr_null(item(d, "links"));
	ck_assert_ptr_null(item(d, "client_url"));
	ck_assert(cJSON_IsNull(
	    item(item(item(d, "payload"), "custom_details"), "value")));
	cJSON_Delete(d);

	a.api_base = "http://a";
	d = build(RECEIVER_PAGERDUTY, &a, T0);
	ck_str(d, "links.0.href", "http://a/api/v1/services/svc%20one%2Ftwo");
	ck_str(d, "links.0.text", "Service in ACGS");
	cJSON_Delete(d);

	a.scope = "fleet";
	a.key = NULL;
	a.grafana_base = "https://g/d/fleet?orgId=1";
	d = build(RECEIVER_PAGERDUTY, &a, T0);
	ck_str(d, "payload.source", "fleet");
	ck_str(d, "links.0.href", "http://a/api/v1/fleet");
	ck_str(d, "links.1.href", "https://g/d/fleet?orgId=1");
	cJSON_Delete(d);

	a.scope = "node";
	a.key = "n1";
	d = build(RECEIVER_PAGERDUTY, &a, T0);
	ck_str(d, "links.1.href", "https://g/d/fleet?orgId=1&var-node=n1");
	cJSON_Delete(d);
}
END_TEST

START_TEST(pd_resolve_minimal)
{
	struct receiver_alert a = alert();
	a.resolved = true;
	cJSON *d = build(RECEIVER_PAGERDUTY, &a, T0);
	ck_assert_int_eq(cJSON_GetArraySize(d), 2);
	ck_str(d, "event_action", "resolve");
	ck_str(d, "dedup_key", "acgs:cpu-high:node:web-1");
	ck_assert_str_eq(receiver_alert_event(&a), "resolve");
	cJSON_Delete(d);
}
END_TEST

START_TEST(pd_required_fields)
{
	struct receiver_alert a = alert();
	struct buf b;
	buf_init(&b, 1 << 20);
	a.dedup_key = "";
	ck_assert_int_eq(receiver_pagerduty_body(&a, T0, &b), -EINVAL);
	a = alert();
	a.rule = NULL;
	ck_assert_int_eq(receiver_pagerduty_body(&a, T0, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	/* A cap too small for the event: nothing half-written. */
	a = alert();
	struct buf small;
	buf_init(&small, 64);
	ck_assert_int_eq(receiver_pagerduty_body(&a, T0, &small), -E2BIG);
	ck_assert_uint_eq(small.len, 0);
	buf_release(&small);
	buf_release(&b);
}
END_TEST

/* summary cases: input maker, expected code points, ends with ellipsis */
static char *repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

START_TEST(pd_summary_truncation)
{
	static const struct {
		const char *unit;
		size_t n;
		size_t want_chars;
		bool cut;
	} cases[] = {
		{ "a", 1024, 1024, false },
		{ "a", 1025, 1024, true },
		{ "a", 5000, 1024, true },
		{ "\xc3\xa9", 1024, 1024, false },	  /* é */
		{ "\xc3\xa9", 1500, 1024, true },	  /* é */
		{ "\xe2\x82\xac", 2000, 1024, true },	  /* € */
		{ "\xf0\x9f\x94\xa5", 1100, 1024, true }, /* 🔥 */
		{ "\xff", 1030, 1024, true },		  /* invalid */
		{ "x\xe2\x82", 700, 1024, true },	  /* cut sequence */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct receiver_alert a = alert();
		char *s = repeat(cases[i].unit, cases[i].n);
		a.summary = s;
		cJSON *d = build(RECEIVER_PAGERDUTY, &a, T0);
		const char *got = str(d, "payload.summary");
		ck_assert_ptr_nonnull(got);
		ck_assert_msg(utf8_len(got) == cases[i].want_chars,
			      "case %zu: %zu characters", i, utf8_len(got));
		size_t gl = strlen(got);
		bool ell = gl >= 3 && strcmp(got + gl - 3, "\xe2\x80\xa6") == 0;
		ck_assert_msg(ell == cases[i].cut, "case %zu: ellipsis %d", i,
			      ell);
		cJSON_Delete(d);
		free(s);
	}
}
END_TEST

START_TEST(pd_size_cap_trims_details)
{
	/* Control characters are escaped as \u00XX: 6 bytes each, so 64
	 * labels of 1024 and a 64K description make ~800 KB. */
	char *big = repeat("\x01", 70000);
	struct receiver_label many[64];
	char names[64][8];
	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "l%d", i);
		many[i] = (struct receiver_label){ names[i], big };
	}
	struct receiver_alert a = alert();
	a.description = big;
	a.labels = many;
	a.nlabels = 64;
	struct buf b;
	buf_init(&b, 4 * 1024 * 1024);
	ck_assert_int_eq(receiver_pagerduty_body(&a, T0, &b), 0);
	ck_assert_uint_le(b.len, RECEIVER_PD_EVENT_MAX - 48);
	cJSON *d = cJSON_ParseWithLength(b.data, b.len);
	ck_assert_ptr_nonnull(d);
	const cJSON *cd = item(item(d, "payload"), "custom_details");
	ck_assert(cJSON_IsTrue(item(cd, "truncated")));
	ck_assert_ptr_null(item(cd, "labels"));
	ck_assert_double_eq_tol(num(cd, "value"), 0.95, 1e-9);
	ck_str(d, "payload.summary", "CPU above 90% on web-1");
	ck_str(d, "payload.source", "web-1");
	cJSON_Delete(d);

	/* Even a summary, source and rule at their caps fit. */
	buf_reset(&b);
	a.summary = big;
	a.key = big;
	a.rule = big;
	a.component = big;
	a.group = big;
	ck_assert_int_eq(receiver_pagerduty_body(&a, T0, &b), 0);
	ck_assert_uint_le(b.len, RECEIVER_PD_EVENT_MAX - 48);
	d = cJSON_ParseWithLength(b.data, b.len);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(utf8_len(str(d, "payload.summary")), 1024);
	cJSON_Delete(d);
	buf_release(&b);
	free(big);
}
END_TEST

START_TEST(pd_long_dedup_key_hashed)
{
	char *k = repeat("k", 300);
	struct receiver_alert a = alert();
	a.dedup_key = k;
	cJSON *t = build(RECEIVER_PAGERDUTY, &a, T0);
	a.resolved = true;
	cJSON *r = build(RECEIVER_PAGERDUTY, &a, T0);
	const char *dk = str(t, "dedup_key");
	ck_assert_uint_eq(strlen(dk), 7 + 64);
	ck_assert(strncmp(dk, "sha256:", 7) == 0);
	ck_assert_str_eq(dk, str(r, "dedup_key"));
	cJSON_Delete(t);
	cJSON_Delete(r);
	free(k);
}
END_TEST

/* ---- Slack ---- */

START_TEST(slack_message)
{
	struct receiver_alert a = alert();
	a.summary = "disk <full> & rising";
	cJSON *d = build(RECEIVER_SLACK, &a, T0);
	const char *text = str(d, "text");
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, ":warning: *[FIRING] cpu-high*"));
	ck_assert_ptr_nonnull(strstr(text, "(warning)"));
	ck_assert_ptr_nonnull(strstr(text, "disk &lt;full&gt; &amp; rising"));
	ck_assert_ptr_nonnull(strstr(text, "*Node:* `web-1`"));
	ck_assert_ptr_nonnull(strstr(text, "*Value:* 0.95 (threshold 0.9)"));
	ck_assert_ptr_nonnull(strstr(
	    text, "<https://grafana.example/d/acgs-node/node?var-node=web-1|"
		  "Grafana dashboard>"));
	ck_assert_ptr_nonnull(strstr(
	    text, "<https://acgs.example:8080/api/v1/nodes/web-1|ACGS API>"));
	ck_str(d, "blocks.0.type", "section");
	ck_str(d, "blocks.0.text.type", "mrkdwn");
	ck_str(d, "blocks.0.text.text", text);
	cJSON_Delete(d);

	a.resolved = true;
	a.severity = "critical";
	a.value = NAN;
	a.grafana_base = "https://bad|url";
	d = build(RECEIVER_SLACK, &a, T0);
	text = str(d, "text");
	ck_assert_ptr_nonnull(strstr(text, ":white_check_mark: *[RESOLVED]"));
	ck_assert_ptr_null(strstr(text, "Value"));
	ck_assert_ptr_null(strstr(text, "bad|url")); /* would break <|> */
	cJSON_Delete(d);
}
END_TEST

/* ---- generic webhook ---- */

START_TEST(webhook_format)
{
	struct receiver_alert a = alert();
	cJSON *d = build(RECEIVER_WEBHOOK, &a, T0 + 1000);
	ck_str(d, "version", "4");
	ck_str(d, "status", "firing");
	ck_str(d, "receiver", "ops");
	ck_str(d, "groupKey", "acgs:cpu-high:node:web-1");
	ck_str(d, "groupLabels.alertname", "cpu-high");
	ck_str(d, "externalURL", "https://acgs.example:8080/");
	ck_assert_int_eq(cJSON_GetArraySize(item(d, "alerts")), 1);
	const cJSON *al = cJSON_GetArrayItem(item(d, "alerts"), 0);
	ck_str(al, "status", "firing");
	ck_str(al, "labels.alertname", "cpu-high");
	ck_str(al, "labels.severity", "warning");
	ck_str(al, "labels.node", "web-1");
	ck_str(al, "labels.service", "api");
	ck_str(al, "labels.app_kubernetes_io_name", "acgs");
	ck_str(al, "labels._1st", "x");
	ck_assert_ptr_null(item(item(al, "labels"), "empty"));
	ck_str(al, "annotations.summary", "CPU above 90% on web-1");
	ck_str(al, "annotations.value", "0.95");
	ck_str(al, "annotations.threshold", "0.9");
	ck_str(al, "startsAt", "2026-11-24T17:30:01.123Z");
	ck_str(al, "endsAt", "0001-01-01T00:00:00Z");
	ck_str(al, "generatorURL",
	       "https://acgs.example:8080/api/v1/alerts?rule=cpu-high");
	ck_str(al, "dedupKey", "acgs:cpu-high:node:web-1");
	const char *fp = str(al, "fingerprint");
	ck_assert_uint_eq(strlen(fp), 16);
	ck_assert_uint_eq(strspn(fp, "0123456789abcdef"), 16);
	ck_str(d, "commonLabels.alertname", "cpu-high");
	cJSON_Delete(d);

	a.resolved = true;
	a.ended_ms = T0 + 60000;
	d = build(RECEIVER_WEBHOOK, &a, T0 + 99000);
	ck_str(d, "status", "resolved");
	ck_str(d, "alerts.0.endsAt", "2026-11-24T17:31:01.123Z");
	ck_str(d, "alerts.0.fingerprint", fp = str(d, "alerts.0.fingerprint"));
	cJSON_Delete(d);
}
END_TEST

/* ---- Alertmanager ---- */

START_TEST(alertmanager_alerts)
{
	struct receiver_alert a = alert();
	cJSON *d = build(RECEIVER_ALERTMANAGER, &a, T0 + 1000);
	ck_assert(cJSON_IsArray(d));
	ck_assert_int_eq(cJSON_GetArraySize(d), 1);
	const cJSON *al = cJSON_GetArrayItem(d, 0);
	ck_str(al, "labels.alertname", "cpu-high");
	ck_str(al, "labels.severity", "warning");
	ck_str(al, "labels.scope", "node");
	ck_str(al, "labels.node", "web-1");
	ck_str(al, "labels.zone", "eu-1");
	ck_str(al, "annotations.summary", "CPU above 90% on web-1");
	ck_str(al, "annotations.description", "cpu.usage 0.95 > 0.9 for 5m");
	ck_str(al, "startsAt", "2026-11-24T17:30:01.123Z");
	ck_assert_ptr_null(item(al, "endsAt"));
	ck_str(al, "generatorURL",
	       "https://acgs.example:8080/api/v1/alerts?rule=cpu-high");
	/* every label name is one Alertmanager accepts */
	const cJSON *l;
	cJSON_ArrayForEach(l, item(al, "labels"))
	{
		const char *n = l->string;
		ck_assert(n[0] == '_' || (n[0] >= 'a' && n[0] <= 'z') ||
			  (n[0] >= 'A' && n[0] <= 'Z'));
		ck_assert_uint_eq(strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFG"
					    "HIJKLMNOPQRSTUVWXYZ0123456789_"),
				  strlen(n));
	}
	cJSON_Delete(d);

	a.resolved = true;
	d = build(RECEIVER_ALERTMANAGER, &a, T0 + 1000);
	ck_str(d, "0.endsAt", "2026-11-24T17:30:02.123Z");
	cJSON_Delete(d);
}
END_TEST

/* ---- sending helpers ---- */

START_TEST(finish_body_adds_key)
{
	struct receiver r = { .kind = RECEIVER_PAGERDUTY,
			      .routing_key = KEY32 };
	struct buf b;
	buf_init(&b, 1 << 20);
	static const char stored[] = "{\"dedup_key\": \"k\", \"event_action\": "
				     "\"resolve\"}";
	ck_assert_int_eq(receiver_finish_body(&r, stored, strlen(stored), &b),
			 0);
	cJSON *d = cJSON_Parse(b.data);
	ck_assert_ptr_nonnull(d);
	ck_str(d, "routing_key", KEY32);
	ck_str(d, "dedup_key", "k");
	ck_assert(strncmp(b.data, "{\"routing_key\":", 15) == 0);
	cJSON_Delete(d);

	buf_reset(&b);
	ck_assert_int_eq(receiver_finish_body(&r, " { } ", 5, &b), 0);
	d = cJSON_Parse(b.data);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(cJSON_GetArraySize(d), 1);
	cJSON_Delete(d);

	buf_reset(&b);
	ck_assert_int_eq(receiver_finish_body(&r, "[1]", 3, &b), -EINVAL);
	ck_assert_int_eq(receiver_finish_body(&r, "{", 1, &b), -EINVAL);
	ck_assert_int_eq(receiver_finish_body(&r, "", 0, &b), -EINVAL);

	struct receiver s = { .kind = RECEIVER_SLACK };
	buf_reset(&b);
	ck_assert_int_eq(receiver_finish_body(&s, "[1]", 3, &b), 0);
	ck_assert_str_eq(b.data, "[1]");
	buf_release(&b);
}
END_TEST

START_TEST(auth_header)
{
	char h[128];
	char tok[] = "t0k";
	struct receiver w = { .kind = RECEIVER_WEBHOOK, .bearer_token = tok };
	ck_assert_int_eq(receiver_auth_header(&w, h, sizeof(h)), 0);
	ck_assert_str_eq(h, "Authorization: Bearer t0k");
	ck_assert_int_eq(receiver_auth_header(&w, h, 10), -E2BIG);
	ck_assert_str_eq(h, "");
	struct receiver p = { .kind = RECEIVER_PAGERDUTY };
	ck_assert_int_eq(receiver_auth_header(&p, h, sizeof(h)), 0);
	ck_assert_str_eq(h, "");
}
END_TEST

START_TEST(verdicts)
{
	static const struct {
		long status;
		enum receiver_verdict want;
	} cases[] = {
		{ 200, RECEIVER_DELIVERED }, { 202, RECEIVER_DELIVERED },
		{ 204, RECEIVER_DELIVERED }, { 0, RECEIVER_RETRY },
		{ 429, RECEIVER_RETRY },     { 500, RECEIVER_RETRY },
		{ 502, RECEIVER_RETRY },     { 503, RECEIVER_RETRY },
		{ 599, RECEIVER_RETRY },     { 400, RECEIVER_REJECTED },
		{ 401, RECEIVER_REJECTED },  { 403, RECEIVER_REJECTED },
		{ 404, RECEIVER_REJECTED },  { 413, RECEIVER_REJECTED },
		{ 301, RECEIVER_REJECTED },  { 100, RECEIVER_REJECTED },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(receiver_verdict(cases[i].status) ==
				  cases[i].want,
			      "status %ld", cases[i].status);
}
END_TEST

START_TEST(describe_responses)
{
	char out[256];
	static const char pd400[] =
	    "{\"status\":\"invalid event\",\"message\":\"Event object is "
	    "invalid\",\"errors\":[\"'payload.summary' is missing\",7,"
	    "\"bad\\nline\"]}";
	receiver_describe_response(400, pd400, strlen(pd400), out, sizeof(out));
	ck_assert_str_eq(out, "HTTP 400: invalid event: Event object is "
			      "invalid: errors: 'payload.summary' is "
			      "missing; bad\\x0aline");
	receiver_describe_response(404, "no_service", 10, out, sizeof(out));
	ck_assert_str_eq(out, "HTTP 404: no_service");
	receiver_describe_response(500, "\xff\x00z", 3, out, sizeof(out));
	ck_assert_str_eq(out, "HTTP 500: \\xff\\x00z");
	receiver_describe_response(0, NULL, 0, out, sizeof(out));
	ck_assert_str_eq(out, "no response");
	receiver_describe_response(503, "{\"other\":1}", 11, out, sizeof(out));
	ck_assert_str_eq(out, "HTTP 503: {\"other\":1}");
	char *long_body = repeat("y", 5000);
	receiver_describe_response(502, long_body, 5000, out, 40);
	ck_assert_uint_eq(strlen(out), 39);
	free(long_body);
}
END_TEST

/* ---- configuration ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_receiver.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text, char *path,
		       size_t len)
{
	snprintf(path, len, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static int on_key(void *user, const char *section, const char *key,
		  const char *value, struct conf_error *err)
{
	if (!receiver_conf_section(section)) {
		snprintf(err->msg, sizeof(err->msg), "unknown section");
		return -ENOENT;
	}
	return receiver_conf_parse(user, section, key, value, err);
}

/* Load text; returns the rc of load or finish, err filled. */
static int load(const char *text, struct receiver_set *set,
		struct conf_error *err)
{
	memset(set, 0, sizeof(*set));
	int rc =
	    conf_load_string("test.conf", text, strlen(text), on_key, set, err);
	if (rc == 0)
		rc = receiver_conf_finish(set, "test.conf", err);
	return rc;
}

START_TEST(conf_all_kinds)
{
	char keyf[256], tokf[256], text[2048];
	struct receiver_set set;
	struct conf_error err = { "" };

	write_file("pd.key", KEY32 "\n", keyf, sizeof(keyf));
	write_file("hook.token", "  s3cr3t-t0ken\n", tokf, sizeof(tokf));
	setenv("TEST_PD_KEY", " " KEY32 " ", 1);
	snprintf(text, sizeof(text),
		 "[receiver.pagerduty ops]\n"
		 "routing_key_file = %s\n"
		 "[receiver.pagerduty ops-env]\n"
		 "routing_key_env = TEST_PD_KEY\n"
		 "url = https://events.eu.pagerduty.com/v2/enqueue\n"
		 "timeout = 2.5\n"
		 "[receiver.slack chat]\n"
		 "url = https://hooks.slack.com/services/T/B/X\n"
		 "[receiver.webhook hook_1]\n"
		 "url = http://127.0.0.1:9000/alerts\n"
		 "bearer_token_file = %s\n"
		 "timeout = 500ms\n"
		 "[receiver.alertmanager am]\n"
		 "url = http://127.0.0.1:9093/\n"
		 "[receiver.alertmanager am2]\n"
		 "url = http://am:9093/api/v2/alerts\n",
		 keyf, tokf);
	ck_assert_msg(load(text, &set, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(set.n, 6);
	const struct receiver *r = receiver_set_find(&set, "ops");
	ck_assert_int_eq(r->kind, RECEIVER_PAGERDUTY);
	ck_assert_str_eq(r->url, RECEIVER_PD_DEFAULT_URL);
	ck_assert_str_eq(r->routing_key, KEY32);
	ck_assert_double_eq(r->timeout, 10);
	r = receiver_set_find(&set, "ops-env");
	ck_assert_str_eq(r->routing_key, KEY32);
	ck_assert_double_eq(r->timeout, 2.5);
	r = receiver_set_find(&set, "chat");
	ck_assert_int_eq(r->kind, RECEIVER_SLACK);
	r = receiver_set_find(&set, "hook_1");
	ck_assert_str_eq(r->bearer_token, "s3cr3t-t0ken");
	ck_assert_double_eq(r->timeout, 0.5);
	ck_assert_str_eq(receiver_set_find(&set, "am")->url,
			 "http://127.0.0.1:9093/api/v2/alerts");
	ck_assert_str_eq(receiver_set_find(&set, "am2")->url,
			 "http://am:9093/api/v2/alerts");
	ck_assert_ptr_null(receiver_set_find(&set, "nope"));
	receiver_set_release(&set);
	ck_assert_uint_eq(set.n, 0);
	unsetenv("TEST_PD_KEY");
}
END_TEST

START_TEST(conf_routing_key_errors)
{
	char f31[256], fbin[256], text[1024];
	struct receiver_set set;
	struct conf_error err = { "" };
	static const char k31[] = "0123456789abcdef0123456789abcde";

	write_file("k31", k31, f31, sizeof(f31));
	write_file("kbin", "0123456789abcdef 123456789abcdef", fbin,
		   sizeof(fbin));

	snprintf(text, sizeof(text),
		 "[receiver.pagerduty p]\nrouting_key_file = %s\n", f31);
	ck_assert_int_eq(load(text, &set, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "31 characters"));
	ck_assert_ptr_null(strstr(err.msg, k31)); /* never the secret */
	ck_assert_ptr_nonnull(strstr(err.msg, "[receiver.pagerduty p]"));
	receiver_set_release(&set);

	snprintf(text, sizeof(text),
		 "[receiver.pagerduty p]\nrouting_key_file = %s\n", fbin);
	ck_assert_int_eq(load(text, &set, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not printable"));
	receiver_set_release(&set);

	snprintf(text, sizeof(text),
		 "[receiver.pagerduty p]\nrouting_key_file = %s/missing\n",
		 tmpdir);
	ck_assert_int_eq(load(text, &set, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "routing_key_file"));
	receiver_set_release(&set);

	unsetenv("TEST_PD_NONE");
	ck_assert_int_eq(load("[receiver.pagerduty p]\n"
			      "routing_key_env = TEST_PD_NONE\n",
			      &set, &err),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "TEST_PD_NONE is not set"));
	receiver_set_release(&set);

	ck_assert_int_eq(
	    load("[receiver.pagerduty p]\nurl = http://x/\n", &set, &err),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "exactly one"));
	receiver_set_release(&set);

	snprintf(text, sizeof(text),
		 "[receiver.pagerduty p]\nrouting_key_file = %s\n"
		 "routing_key_env = X\n",
		 f31);
	ck_assert_int_eq(load(text, &set, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "exactly one"));
	receiver_set_release(&set);

	ck_assert_int_eq(load("[receiver.pagerduty p]\nrouting_key = " KEY32
			      "\n",
			      &set, &err),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "routing_key_file"));
	ck_assert_ptr_nonnull(strstr(err.msg, "test.conf:2"));
	receiver_set_release(&set);
}
END_TEST

START_TEST(conf_errors)
{
	static const struct {
		const char *text;
		int rc;
		const char *msg;
	} cases[] = {
		{ "[receiver.pagerdoodie x]\nurl = http://a\n", -EINVAL,
		  "test.conf:2: [receiver.pagerdoodie x] url: receiver kind "
		  "'pagerdoodie' is not" },
		{ "[receiver.slack]\nurl = http://a\n", -EINVAL,
		  "receiver name '' must be" },
		{ "[receiver.slack bad name]\nurl = http://a\n", -EINVAL,
		  "receiver name 'bad name' must be 1-24" },
		{ "[receiver.slack ]\nurl = http://a\n", -EINVAL,
		  "receiver name '' must be" },
		/* inih keeps 49 bytes of a section: the cut name is too long
		 * for us, so two long names never merge silently. */
		{ "[receiver.slack abcdefghijklmnopqrstuvwxyz0123456789abcd]\n"
		  "url = http://a\n",
		  -EINVAL, "must be 1-24" },
		{ "[receiver.slack a]\nurl = http://a\n[receiver.webhook a]\n"
		  "url = http://b\n",
		  -EEXIST, "already configured" },
		{ "[receiver.slack a]\nurl = http://a\n[receiver.slack b]\n"
		  "url = http://b\n[receiver.slack a]\ntimeout = 1\n",
		  -EEXIST, "already configured" },
		{ "[receiver.slack a]\nbearer_token_file = /x\n", -ENOENT,
		  "unknown key (slack receivers take url, timeout)" },
		{ "[receiver.slack a]\ntimeout = 0\n", -EINVAL,
		  "is not a duration from 0.1s to 300s" },
		{ "[receiver.slack a]\ntimeout = 1\n", -EINVAL,
		  "[receiver.slack a] url is required" },
		{ "[receiver.slack a]\nurl = ftp://x/y\n", -EINVAL,
		  "not an http:// or https:// URL" },
		{ "[receiver.webhook a]\nurl = https://\n", -EINVAL,
		  "not an http:// or https:// URL" },
		{ "[receiver.webhook a]\nurl = http://a b/\n", -EINVAL,
		  "not an http:// or https:// URL" },
		{ "[receiver.webhook a]\nurl = http://a\nbearer_token_file = "
		  "/nonexistent/token\n",
		  -ENOENT, "bearer_token_file: /nonexistent/token" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct receiver_set set;
		struct conf_error err = { "" };
		int rc = load(cases[i].text, &set, &err);
		ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d (%s)", i, rc,
			      err.msg);
		ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: '%s'",
			      i, err.msg);
		receiver_set_release(&set);
	}
}
END_TEST

START_TEST(conf_too_many)
{
	char text[8192];
	size_t off = 0;
	for (int i = 0; i <= RECEIVER_MAX; i++)
		off += (size_t)snprintf(
		    text + off, sizeof(text) - off,
		    "[receiver.slack s%d]\nurl = http://a\n", i);
	struct receiver_set set;
	struct conf_error err = { "" };
	ck_assert_int_eq(load(text, &set, &err), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 32"));
	receiver_set_release(&set);
}
END_TEST

START_TEST(conf_bearer_token_empty)
{
	char tokf[256], text[512];
	struct receiver_set set;
	struct conf_error err = { "" };
	write_file("empty.token", " \n", tokf, sizeof(tokf));
	snprintf(text, sizeof(text),
		 "[receiver.webhook w]\nurl = http://a\nbearer_token_file = "
		 "%s\n",
		 tokf);
	ck_assert_int_eq(load(text, &set, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "holds 0"));
	receiver_set_release(&set);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("receiver");
	TCase *p = tcase_create("payloads");
	tcase_add_test(p, pd_trigger_fields);
	tcase_add_test(p, pd_trigger_defaults);
	tcase_add_test(p, pd_resolve_minimal);
	tcase_add_test(p, pd_required_fields);
	tcase_add_test(p, pd_summary_truncation);
	tcase_add_test(p, pd_size_cap_trims_details);
	tcase_add_test(p, pd_long_dedup_key_hashed);
	tcase_add_test(p, slack_message);
	tcase_add_test(p, webhook_format);
	tcase_add_test(p, alertmanager_alerts);
	tcase_add_test(p, finish_body_adds_key);
	tcase_add_test(p, auth_header);
	tcase_add_test(p, verdicts);
	tcase_add_test(p, describe_responses);
	suite_add_tcase(s, p);
	TCase *c = tcase_create("config");
	tcase_add_checked_fixture(c, make_tmpdir, rm_tmpdir);
	tcase_add_test(c, conf_all_kinds);
	tcase_add_test(c, conf_routing_key_errors);
	tcase_add_test(c, conf_errors);
	tcase_add_test(c, conf_too_many);
	tcase_add_test(c, conf_bearer_token_empty);
	suite_add_tcase(s, c);
	return s;
}
