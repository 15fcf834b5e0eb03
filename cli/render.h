/* The server's JSON as text for a terminal: one function per answer, each
 * appending to a buffer so the tests compare the exact text. Fields that
 * are missing or null print as "-"; text from the server is cleaned (see
 * table.h). Ages ("12s ago") are taken from now_ms, given by the caller. */
#ifndef ACGS_CLI_RENDER_H
#define ACGS_CLI_RENDER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "buf.h"

/* Each returns 0, -EPROTO when doc lacks what every answer of that route
 * carries (it is not the server's answer), or -E2BIG / -ENOMEM. */
int render_fleet(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_nodes(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_node(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_history(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_services(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_service(const cJSON *doc, int64_t now_ms, struct buf *out);
int render_compliance(const cJSON *doc, int64_t now_ms, struct buf *out);
/* GET /api/v1/alerts: the alerts table, then the history table when doc
 * has a "history" array (acgsctl drops it unless --history was given). */
int render_alerts(const cJSON *doc, int64_t now_ms, struct buf *out);
/* One alert object (the answer of an ack). */
int render_alert(const cJSON *doc, int64_t now_ms, struct buf *out);
/* GET /api/v1/silences. */
int render_silences(const cJSON *doc, int64_t now_ms, struct buf *out);
/* One silence object (the answer of an expire). */
int render_silence(const cJSON *doc, int64_t now_ms, struct buf *out);
/* Only the id of a silence object, for scripts (the answer of an add). */
int render_silence_id(const cJSON *doc, int64_t now_ms, struct buf *out);

/* "12s", "5m", "3h", "4d": the age of an RFC 3339 time at now_ms in its
 * largest whole unit; "-" when ts is not a time. */
void render_age(const char *ts, int64_t now_ms, char out[32]);

/* A span of ms in its two largest units: "45s", "3m10s", "2h", "1h5m",
 * "3d4h"; a negative span is "0s". */
void render_span(int64_t ms, char out[32]);

#endif
