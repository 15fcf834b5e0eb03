/* The MQTT wire protocol of DESIGN section 4: topics and JSON payloads.
 *
 * Every payload is a JSON object with "v": 1, "node", "ts" (RFC 3339 UTC
 * with milliseconds) and "constitutional_hash". Encoding writes that
 * envelope; decoding checks it strictly against the topic and the expected
 * hash and returns a reason that servers count by name. */
#ifndef ACGS_WIRE_H
#define ACGS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jsonw.h"

#define WIRE_VERSION	  1
#define WIRE_DEFAULT_ROOT "acgs/v1"
#define WIRE_NODE_MAX	  64
#define WIRE_TOPIC_MAX	  256
/* No legitimate payload comes near this; larger ones are refused unread. */
#define WIRE_MAX_PAYLOAD (256 * 1024)
/* How far a message's ts may lie in the future of the receiver's clock. */
#define WIRE_MAX_FUTURE_MS (5 * 60 * 1000)

enum wire_kind {
	WIRE_BIRTH,
	WIRE_STATE,
	WIRE_METRICS,
	WIRE_EVENTS,
	WIRE_CMD,
	WIRE_CMD_RESULT,
	_WIRE_KIND_MAX,
};

enum wire_reject {
	WIRE_OK = 0,
	WIRE_REJECT_TOPIC,   /* topic not <root>/<node>/<kind> */
	WIRE_REJECT_SIZE,    /* payload over WIRE_MAX_PAYLOAD or empty */
	WIRE_REJECT_JSON,    /* not a JSON object */
	WIRE_REJECT_VERSION, /* "v" missing or not 1 */
	WIRE_REJECT_HASH,    /* constitutional_hash missing or different */
	WIRE_REJECT_NODE,    /* "node" missing or not the topic's node */
	WIRE_REJECT_TS,	     /* "ts" missing, malformed or too far ahead */
	WIRE_REJECT_SCHEMA,  /* a field this kind needs is missing or wrong */
	_WIRE_REJECT_MAX,
};

/* "birth", "state", "metrics", "events", "cmd", "cmd/result". */
const char *wire_kind_name(enum wire_kind kind);

/* "topic", "size", "json", "version", "hash", "node", "ts", "schema". */
const char *wire_reject_name(enum wire_reject reason);

/* True when id is 1..WIRE_NODE_MAX of [A-Za-z0-9._-] (never an MQTT
 * wildcard or level separator, never "." or ".."). */
bool wire_node_valid(const char *id);

/* Write "<root>/<node>/<kind>" into out. Returns 0, -EINVAL for a bad node,
 * -ENAMETOOLONG when it does not fit. */
int wire_topic(char *out, size_t outlen, const char *root, const char *node,
	       enum wire_kind kind);

/* Split a topic under root into node and kind. Returns 0 or -EINVAL. */
int wire_topic_parse(const char *topic, const char *root,
		     char node[WIRE_NODE_MAX + 1], enum wire_kind *ret_kind);

/* Open the payload object and write the envelope; the caller adds its
 * fields and closes with jsonw_obj_end(). */
void wire_begin(struct jsonw *w, const char *node, int64_t ts_ms,
		const char *constitutional_hash);

struct wire_msg {
	enum wire_kind kind;
	char node[WIRE_NODE_MAX + 1];
	int64_t ts_ms;
	cJSON *json; /* the whole payload; owned, freed by wire_msg_release */
	/* Filled for metrics (seq, boot_id), state (conn, online), birth
	 * (boot_id). */
	uint64_t seq;
	uint64_t conn;
	bool online;
	const char *boot_id; /* points into json */
};

/* Decode and validate one message. now_ms is the receiver's clock (for the
 * future-timestamp check). On success returns WIRE_OK and fills msg (release
 * it with wire_msg_release); otherwise returns the reason, msg holds
 * nothing, and detail (if not NULL) says what exactly was wrong. */
enum wire_reject wire_decode(const char *root, const char *topic,
			     const void *payload, size_t len,
			     const char *constitutional_hash, int64_t now_ms,
			     struct wire_msg *msg, char *detail,
			     size_t detail_len);

void wire_msg_release(struct wire_msg *msg);

/* Helpers for typed field access on decoded payloads: return 0 and set the
 * value, or -ENOENT when absent, -EINVAL when of another type or range. */
int wire_get_u64(const cJSON *obj, const char *key, uint64_t *ret);
int wire_get_double(const cJSON *obj, const char *key, double *ret);
int wire_get_string(const cJSON *obj, const char *key, const char **ret);

#endif
