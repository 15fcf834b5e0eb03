/* Parsers of HTTP API request bodies (JSON), kept apart from the routes so
 * that the libFuzzer target links them alone. Each accepts exactly the
 * documented keys: an unknown key is an error, as a typo in an operator's
 * request must not pass silently. */
#ifndef ACGS_APIBODY_H
#define ACGS_APIBODY_H

#include <stddef.h>

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

#endif
