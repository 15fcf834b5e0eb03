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

/* "12s", "5m", "3h", "4d": the age of an RFC 3339 time at now_ms in its
 * largest whole unit; "-" when ts is not a time. */
void render_age(const char *ts, int64_t now_ms, char out[32]);

#endif
