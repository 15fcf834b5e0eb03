/* fuzz-sources: server/receiver.c server/alertroute.c server/matcher.c */
/* libFuzzer target: what receiver.c takes from outside. The first byte
 * picks the input:
 *   0  a receiver's answer (receiver_describe_response): the description
 *      stays printable ASCII within its buffer;
 *   1  receiver and route config sections (receiver_conf_parse and
 *      alertroute_conf_parse through conf_load): accepted names and kinds
 *      are valid, routes resolve to configured receivers only, and
 *      selection picks each receiver at most once;
 *   2  alert fields (labels come from agents): every body built is JSON,
 *      a PagerDuty event stays under its cap, and routing_key goes first.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alertroute.h"
#include "conf.h"
#include "receiver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void describe(const uint8_t *data, size_t size)
{
	char out[300];
	long status = size ? (long)data[0] * 3 : 0;
	receiver_describe_response(status, (const char *)data, size, out,
				   sizeof(out));
	size_t n = strlen(out);
	if (n >= sizeof(out))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] > 0x7e)
			abort();
}

struct sets {
	struct receiver_set rx;
	struct alertroute_set routes;
};

static int on_key(void *user, const char *section, const char *key,
		  const char *value, struct conf_error *err)
{
	struct sets *s = user;

	if (alertroute_conf_section(section))
		return alertroute_conf_parse(&s->routes, section, key, value,
					     err);
	if (!receiver_conf_section(section)) {
		snprintf(err->msg, sizeof(err->msg), "unknown section");
		return -ENOENT;
	}
	return receiver_conf_parse(&s->rx, section, key, value, err);
}

/* Routes resolve to receivers of the set; a selection names each
 * receiver once. */
static void check_routes(struct sets *s)
{
	struct conf_error err = { "" };
	static const struct label l[] = { { "alertname", "NodeDown" },
					  { "severity", "critical" },
					  { "node", "web-1" },
					  { "team", "ops" } };
	struct alertroute_pick p[RECEIVER_MAX];

	if (alertroute_conf_finish(&s->routes, &s->rx, &err) < 0) {
		if (!err.msg[0])
			abort();
		return;
	}
	for (size_t i = 0; i < s->routes.n; i++)
		for (size_t k = 0; k < s->routes.v[i].nrx; k++)
			if (s->routes.v[i].rx[k] >= s->rx.n)
				abort();
	size_t n = alertroute_select(&s->routes, s->rx.n, l, 4, p);
	if (n > RECEIVER_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (p[i].rx >= s->rx.n)
			abort();
		for (size_t k = 0; k < i; k++)
			if (p[k].rx == p[i].rx)
				abort();
	}
}

static void config(const uint8_t *data, size_t size)
{
	static struct sets sets;
	struct receiver_set *set_p = &sets.rx;
	struct conf_error err = { "" };

	memset(&sets, 0, sizeof(sets));
	/* inih reads a C string. */
	char *text = malloc(size + 1);
	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	int rc = conf_load_string("fuzz.conf", text, size, on_key, &sets, &err);
	free(text);
	if (rc < 0 && !err.msg[0])
		abort(); /* every refusal says why */
	if (set_p->n > RECEIVER_MAX)
		abort();
	for (size_t i = 0; i < set_p->n; i++) {
		const struct receiver *r = &set_p->v[i];
		size_t n = strlen(r->name);
		if (n == 0 || n > RECEIVER_NAME_MAX ||
		    strspn(r->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
				    "PQRSTUVWXYZ0123456789._-") != n)
			abort();
		if (!strcmp(receiver_kind_name(r->kind), "unknown"))
			abort();
		if (receiver_set_find(set_p, r->name) != r)
			abort(); /* names are unique */
	}
	if (rc == 0)
		check_routes(&sets);
	receiver_set_release(set_p);
	alertroute_set_release(&sets.routes);
}

static void check_json(const struct buf *b)
{
	cJSON *d = cJSON_ParseWithLength(b->data, b->len);
	if (!d)
		abort();
	cJSON_Delete(d);
}

static void payloads(const uint8_t *data, size_t size)
{
	/* Fields separated by NUL bytes, missing ones NULL. */
	const char *f[12] = { 0 };
	char *copy = malloc(size + 1);
	size_t nf = 0, start = 0;
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && nf < 12; i++) {
		if (i == size || copy[i] == '\0') {
			f[nf++] = copy + start;
			start = i + 1;
		}
	}
	struct receiver_label labels[3] = { { f[8], f[9] },
					    { f[9], f[10] },
					    { f[10], f[11] } };
	struct receiver_component comps[2] = { { f[9], 0.5 }, { f[9], NAN } };
	struct receiver_alert a = {
		.rule = f[0],
		.severity = f[1],
		.resolved = size && (data[0] & 1),
		.dedup_key = f[2],
		.summary = f[3],
		.description = f[4],
		.scope = f[5],
		.key = f[6],
		.component = f[7],
		.group = f[8],
		.value = size > 1 ? data[1] / 7.0 : NAN,
		.threshold = 0.9,
		.labels = labels,
		.nlabels = 3,
		.components = comps,
		.ncomponents = 2,
		.started_ms = size > 2 ? (int64_t)data[2] * 1000000 : 0,
		.api_base = f[10],
		.grafana_base = f[11],
	};
	for (int k = RECEIVER_PAGERDUTY; k <= RECEIVER_ALERTMANAGER; k++) {
		struct buf b;
		buf_init(&b, 1024 * 1024);
		int rc = receiver_build((enum receiver_kind)k, &a, 1, "fz", &b);
		if (rc == 0) {
			check_json(&b);
			if (k == RECEIVER_PAGERDUTY) {
				if (b.len > RECEIVER_PD_EVENT_MAX - 48)
					abort();
				struct receiver r = {
					.kind = RECEIVER_PAGERDUTY,
					.routing_key = "0123456789abcdef\"\\234"
						       "56789abcdef",
				};
				struct buf s;
				buf_init(&s, 1024 * 1024);
				if (receiver_finish_body(&r, b.data, b.len,
							 &s) != 0)
					abort();
				check_json(&s);
				buf_release(&s);
			}
		} else if (rc != -EINVAL) {
			abort(); /* only a missing rule or dedup_key fails */
		}
		buf_release(&b);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		describe(data + 1, size - 1);
		break;
	case 1:
		config(data + 1, size - 1);
		break;
	default:
		payloads(data + 1, size - 1);
		break;
	}
	return 0;
}
