#include "config.h"

#include "wire.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static const char *const kind_names[_WIRE_KIND_MAX] = {
	[WIRE_BIRTH] = "birth",	    [WIRE_STATE] = "state",
	[WIRE_METRICS] = "metrics", [WIRE_EVENTS] = "events",
	[WIRE_CMD] = "cmd",	    [WIRE_CMD_RESULT] = "cmd/result",
};

static const char *const reject_names[_WIRE_REJECT_MAX] = {
	[WIRE_OK] = "ok",
	[WIRE_REJECT_TOPIC] = "topic",
	[WIRE_REJECT_SIZE] = "size",
	[WIRE_REJECT_JSON] = "json",
	[WIRE_REJECT_VERSION] = "version",
	[WIRE_REJECT_HASH] = "hash",
	[WIRE_REJECT_NODE] = "node",
	[WIRE_REJECT_TS] = "ts",
	[WIRE_REJECT_SCHEMA] = "schema",
};

const char *wire_kind_name(enum wire_kind kind)
{
	return (unsigned)kind < _WIRE_KIND_MAX ? kind_names[kind] : "?";
}

const char *wire_reject_name(enum wire_reject reason)
{
	return (unsigned)reason < _WIRE_REJECT_MAX ? reject_names[reason] : "?";
}

bool wire_node_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > WIRE_NODE_MAX || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int wire_topic(char *out, size_t outlen, const char *root, const char *node,
	       enum wire_kind kind)
{
	if (!wire_node_valid(node) || (unsigned)kind >= _WIRE_KIND_MAX)
		return -EINVAL;
	int n = snprintf(out, outlen, "%s/%s/%s", root, node, kind_names[kind]);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int wire_topic_parse(const char *topic, const char *root,
		     char node[WIRE_NODE_MAX + 1], enum wire_kind *ret_kind)
{
	size_t rl = strlen(root);
	if (strncmp(topic, root, rl) != 0 || topic[rl] != '/')
		return -EINVAL;
	const char *p = topic + rl + 1;
	const char *slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) > WIRE_NODE_MAX)
		return -EINVAL;
	memcpy(node, p, (size_t)(slash - p));
	node[slash - p] = '\0';
	if (!wire_node_valid(node))
		return -EINVAL;
	for (int k = 0; k < _WIRE_KIND_MAX; k++) {
		if (strcmp(slash + 1, kind_names[k]) == 0) {
			*ret_kind = (enum wire_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

void wire_begin(struct jsonw *w, const char *node, int64_t ts_ms,
		const char *constitutional_hash)
{
	char ts[RFC3339_LEN];
	time_format_rfc3339_ms(ts_ms, ts);
	jsonw_obj_begin(w);
	jsonw_kv_u64(w, "v", WIRE_VERSION);
	jsonw_kv_str(w, "node", node);
	jsonw_kv_str(w, "ts", ts);
	jsonw_kv_str(w, "constitutional_hash", constitutional_hash);
}

int wire_get_u64(const cJSON *obj, const char *key, uint64_t *ret)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return -ENOENT;
	if (!cJSON_IsNumber(it))
		return -EINVAL;
	double d = it->valuedouble;
	/* Integers beyond 2^53 do not survive a double exactly. */
	if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
		return -EINVAL;
	*ret = (uint64_t)d;
	return 0;
}

int wire_get_double(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return -ENOENT;
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
		return -EINVAL;
	*ret = it->valuedouble;
	return 0;
}

int wire_get_string(const cJSON *obj, const char *key, const char **ret)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return -ENOENT;
	if (!cJSON_IsString(it) || !it->valuestring)
		return -EINVAL;
	*ret = it->valuestring;
	return 0;
}

static enum wire_reject fail(enum wire_reject r, char *detail, size_t dl,
			     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum wire_reject fail(enum wire_reject r, char *detail, size_t dl,
			     const char *fmt, ...)
{
	if (detail && dl) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, dl, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* The fields each kind must carry beyond the envelope. */
static enum wire_reject check_kind(struct wire_msg *m, char *detail, size_t dl)
{
	const cJSON *j = m->json;
	const char *s;

	switch (m->kind) {
	case WIRE_METRICS:
		if (wire_get_u64(j, "seq", &m->seq) < 0)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "metrics needs an integer \"seq\"");
		if (wire_get_string(j, "boot_id", &m->boot_id) < 0 ||
		    !*m->boot_id)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "metrics needs a \"boot_id\" string");
		return WIRE_OK;
	case WIRE_STATE:
		if (wire_get_string(j, "state", &s) < 0 ||
		    (strcmp(s, "online") != 0 && strcmp(s, "offline") != 0))
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "state needs \"state\": online or offline");
		m->online = strcmp(s, "online") == 0;
		if (wire_get_u64(j, "conn", &m->conn) < 0)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "state needs an integer \"conn\"");
		return WIRE_OK;
	case WIRE_BIRTH:
		if (wire_get_string(j, "boot_id", &m->boot_id) < 0 ||
		    !*m->boot_id)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "birth needs a \"boot_id\" string");
		if (wire_get_string(j, "version", &s) < 0)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "birth needs a \"version\" string");
		return WIRE_OK;
	case WIRE_EVENTS:
		if (wire_get_string(j, "type", &s) < 0 || !*s)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "events need a \"type\" string");
		return WIRE_OK;
	case WIRE_CMD:
		if (wire_get_string(j, "id", &s) < 0 ||
		    wire_get_string(j, "type", &s) < 0 ||
		    wire_get_string(j, "nonce", &s) < 0 ||
		    wire_get_string(j, "signature", &s) < 0 ||
		    wire_get_string(j, "issued_at", &s) < 0 ||
		    wire_get_string(j, "expires_at", &s) < 0)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "cmd needs id, type, nonce, signature, "
				    "issued_at, expires_at");
		return WIRE_OK;
	case WIRE_CMD_RESULT:
		if (wire_get_string(j, "id", &s) < 0 ||
		    wire_get_string(j, "status", &s) < 0)
			return fail(WIRE_REJECT_SCHEMA, detail, dl,
				    "cmd/result needs id and status strings");
		return WIRE_OK;
	default:
		return fail(WIRE_REJECT_TOPIC, detail, dl, "unknown kind");
	}
}

enum wire_reject wire_decode(const char *root, const char *topic,
			     const void *payload, size_t len,
			     const char *constitutional_hash, int64_t now_ms,
			     struct wire_msg *msg, char *detail,
			     size_t detail_len)
{
	struct wire_msg m = { 0 };
	enum wire_reject r;
	const char *s;
	uint64_t v;

	if (detail && detail_len)
		detail[0] = '\0';
	if (wire_topic_parse(topic, root, m.node, &m.kind) < 0)
		return fail(WIRE_REJECT_TOPIC, detail, detail_len,
			    "topic is not %s/<node>/<kind>", root);
	if (len == 0 || len > WIRE_MAX_PAYLOAD)
		return fail(WIRE_REJECT_SIZE, detail, detail_len,
			    "payload of %zu bytes (limit %d)", len,
			    WIRE_MAX_PAYLOAD);

	const char *end = NULL;
	m.json = cJSON_ParseWithLengthOpts(payload, len, &end, false);
	if (!m.json || !cJSON_IsObject(m.json)) {
		r = fail(WIRE_REJECT_JSON, detail, detail_len,
			 "not a JSON object");
		goto out;
	}
	/* Trailing bytes other than white space mean a corrupt payload. */
	for (const char *p = end; p && p < (const char *)payload + len; p++) {
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' &&
		    *p != '\0') {
			r = fail(WIRE_REJECT_JSON, detail, detail_len,
				 "trailing data after the JSON object");
			goto out;
		}
	}
	if (wire_get_u64(m.json, "v", &v) < 0 || v != WIRE_VERSION) {
		r = fail(WIRE_REJECT_VERSION, detail, detail_len,
			 "\"v\" must be %d", WIRE_VERSION);
		goto out;
	}
	if (wire_get_string(m.json, "constitutional_hash", &s) < 0 ||
	    strcmp(s, constitutional_hash) != 0) {
		r = fail(WIRE_REJECT_HASH, detail, detail_len,
			 "constitutional_hash is not %s", constitutional_hash);
		goto out;
	}
	if (wire_get_string(m.json, "node", &s) < 0 || strcmp(s, m.node) != 0) {
		r = fail(WIRE_REJECT_NODE, detail, detail_len,
			 "\"node\" does not match the topic's node %s", m.node);
		goto out;
	}
	if (wire_get_string(m.json, "ts", &s) < 0 ||
	    time_parse_rfc3339(s, &m.ts_ms) < 0) {
		r = fail(WIRE_REJECT_TS, detail, detail_len,
			 "\"ts\" is not an RFC 3339 time");
		goto out;
	}
	if (m.ts_ms > now_ms + WIRE_MAX_FUTURE_MS || m.ts_ms < 0) {
		r = fail(WIRE_REJECT_TS, detail, detail_len,
			 "\"ts\" is more than %d s ahead of this clock",
			 WIRE_MAX_FUTURE_MS / 1000);
		goto out;
	}
	r = check_kind(&m, detail, detail_len);
out:
	if (r == WIRE_OK) {
		*msg = m;
	} else {
		cJSON_Delete(m.json);
	}
	return r;
}

void wire_msg_release(struct wire_msg *msg)
{
	cJSON_Delete(msg->json);
	msg->json = NULL;
	msg->boot_id = NULL;
}
