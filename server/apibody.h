/* Parsers of HTTP API request bodies (JSON), kept apart from the routes so
 * that the libFuzzer target links them alone. Each accepts exactly the
 * documented keys: an unknown key is an error, as a typo in an operator's
 * request must not pass silently. */
#ifndef ACGS_APIBODY_H
#define ACGS_APIBODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matcher.h"

#define APIBODY_NAME_MAX 64

/* POST /api/v1/tokens: {"name": "grafana", "role": "viewer"}. */
struct apibody_token {
	char name[APIBODY_NAME_MAX + 1]; /* 1-64 of [A-Za-z0-9._@-] */
	char role[16];			 /* viewer, operator or admin */
};

/* Parse len bytes of body. Returns 0, or -EINVAL with err saying what is
 * wrong and where ("role: must be viewer, operator or admin"). */
int apibody_token(const char *body, size_t len, struct apibody_token *ret,
		  char *err, size_t errlen);

/* Make an API token: "acgs_" and 43 URL-safe base64 characters of 32
 * random bytes, into out (room for APIBODY_TOKEN_LEN + 1), and its SHA-256
 * (the only thing stored). */
#define APIBODY_TOKEN_LEN 48
void apibody_token_generate(char *out, unsigned char sha256[32]);

/* POST /api/v1/silences (docs/api.md):
 *   {"matchers": ["node=web-1", ...] or Alertmanager objects (1-32),
 *    "starts_at": RFC 3339 (optional, default now),
 *    "ends_at": RFC 3339 or "duration": "1h30m" (exactly one),
 *    "comment": 1-1024 bytes, "author": 1-128 bytes (optional)}
 * Strings are UTF-8 without NUL. */
#define APIBODY_COMMENT_MAX 1024
#define APIBODY_AUTHOR_MAX  128
/* Longest silence: a year and a leap day. */
#define APIBODY_SILENCE_MAX_MS (366LL * 86400 * 1000)

struct apibody_silence {
	struct matchers m; /* compiled: apibody_silence_release() frees */
	int64_t starts_ms, ends_ms;
	char comment[APIBODY_COMMENT_MAX + 1];
	char author[APIBODY_AUTHOR_MAX + 1];
	bool has_author; /* false: the caller uses the token's name */
};

/* Parse len bytes of body at now_ms (the default start, and the end must
 * be after it). Unknown or repeated keys, wrong types, a missing comment,
 * both or neither of ends_at and duration, an end not after the start or
 * not in the future, more than APIBODY_SILENCE_MAX_MS, more than
 * MATCHERS_MAX matchers and invalid UTF-8 are refused. Returns 0 with *ret
 * filled (release it with apibody_silence_release), or -EINVAL with err
 * naming the key ("duration: ..."); *ret is untouched then. */
int apibody_silence(const char *body, size_t len, int64_t now_ms,
		    struct apibody_silence *ret, char *err, size_t errlen);

/* Free the compiled matchers of a parsed silence. */
void apibody_silence_release(struct apibody_silence *s);

/* POST /api/v1/alerts/{id}/ack: an empty body (or only blanks), {} or
 * {"comment": "..."} (at most APIBODY_COMMENT_MAX bytes of UTF-8). Writes
 * the comment ("" for none) to comment. Returns 0, or -EINVAL with err
 * naming the key. */
int apibody_ack(const char *body, size_t len,
		char comment[APIBODY_COMMENT_MAX + 1], char *err,
		size_t errlen);

#endif
