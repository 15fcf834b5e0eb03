/* Parsers of HTTP API request bodies: see apibody.h. */
#include "config.h"

#include "apibody.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > APIBODY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return false;
	}
	return true;
}

int apibody_token(const char *body, size_t len, struct apibody_token *ret,
		  char *err, size_t errlen)
{
	struct apibody_token t;

	memset(&t, 0, sizeof(t));
	const cJSON *it;
	bool have_name = false, have_role = false;
	int r = 0;

	if (!body || len == 0)
		return fail(err, errlen, "body: a JSON object is required");
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(j)) {
		r = fail(err, errlen, "body: not a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(it, j)
	{
		if (strcmp(it->string, "name") == 0) {
			if (!cJSON_IsString(it) ||
			    !name_valid(it->valuestring)) {
				r = fail(err, errlen,
					 "name: must be 1-%d of "
					 "A-Z a-z 0-9 . _ @ -",
					 APIBODY_NAME_MAX);
				goto out;
			}
			snprintf(t.name, sizeof(t.name), "%s", it->valuestring);
			have_name = true;
		} else if (strcmp(it->string, "role") == 0) {
			if (!cJSON_IsString(it) ||
			    (strcmp(it->valuestring, "viewer") &&
			     strcmp(it->valuestring, "operator") &&
			     strcmp(it->valuestring, "admin"))) {
				r = fail(err, errlen,
					 "role: must be viewer, operator or "
					 "admin");
				goto out;
			}
			snprintf(t.role, sizeof(t.role), "%s", it->valuestring);
			have_role = true;
		} else {
			r = fail(err, errlen, "%.64s: unknown key", it->string);
			goto out;
		}
	}
	if (!have_name || !have_role) {
		r = fail(err, errlen, "%s: required",
			 have_name ? "role" : "name");
		goto out;
	}
	*ret = t;
out:
	cJSON_Delete(j);
	return r;
}

void apibody_token_generate(char *out, unsigned char sha256[32])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	memcpy(out, "acgs_", 5);
	sodium_bin2base64(out + 5, APIBODY_TOKEN_LEN + 1 - 5, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(sha256, (const unsigned char *)out, strlen(out));
	sodium_memzero(raw, sizeof(raw));
}
