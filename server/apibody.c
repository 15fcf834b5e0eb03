/* Parsers of HTTP API request bodies: see apibody.h. */
#include "config.h"

#include "apibody.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiparse.h"
#include "timeutil.h"
#include "utf8.h"

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

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n) {
		size_t len = utf8_decode(p, n, NULL);
		if (!len)
			return false;
		p += len;
		n -= len;
	}
	return true;
}

/* Every string and member name under j is UTF-8. */
static bool utf8_tree(const cJSON *j)
{
	const cJSON *it;

	if (j->string && !utf8_valid(j->string))
		return false;
	if (cJSON_IsString(j))
		return utf8_valid(j->valuestring);
	cJSON_ArrayForEach(it, j)
	{
		if (!utf8_tree(it))
			return false;
	}
	return true;
}

/* A NUL in a JSON string, raw or as \u0000: cJSON would keep the text up
 * to it in a C string, so a comment would silently lose its tail. A
 * backslash can only stand inside a string in valid JSON, so escapes are
 * found without tracking the strings themselves. */
static bool has_nul(const char *body, size_t len)
{
	if (memchr(body, '\0', len))
		return true;
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && len - i >= 6 &&
		    memcmp(body + i + 2, "0000", 4) == 0)
			return true;
		i++; /* the escaped character is not a backslash of its own */
	}
	return false;
}

/* Parse body as one JSON object with nothing after it but blanks. Returns
 * the object (caller deletes) or NULL with err set. */
static cJSON *parse_object(const char *body, size_t len, char *err,
			   size_t errlen)
{
	const char *end = NULL;
	cJSON *j;

	if (!body || len == 0) {
		fail(err, errlen, "body: a JSON object is required");
		return NULL;
	}
	if (has_nul(body, len)) {
		fail(err, errlen, "body: NUL characters are not allowed");
		return NULL;
	}
	j = cJSON_ParseWithLengthOpts(body, len, &end, false);
	while (j && end && end < body + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (!cJSON_IsObject(j) || !end || end != body + len) {
		cJSON_Delete(j);
		fail(err, errlen, "body: not a JSON object");
		return NULL;
	}
	return j;
}

static int unknown_key(const cJSON *it, char *err, size_t errlen)
{
	/* Echo the key only when it is short, readable text. */
	if (strlen(it->string) <= 64 && utf8_valid(it->string))
		return fail(err, errlen, "%s: unknown key", it->string);
	return fail(err, errlen, "body: an unknown key");
}

/* Keys of a body, as bits, to refuse one given twice (cJSON keeps both and
 * the second would silently win or lose). */
static int see_key(unsigned *seen, unsigned bit, const char *key, char *err,
		   size_t errlen)
{
	if (*seen & bit)
		return fail(err, errlen, "%s: given twice", key);
	*seen |= bit;
	return 0;
}

/* A string member of 1..max bytes (0..max when may_be_empty) of UTF-8,
 * copied into out (room for max + 1). */
static int take_text(const cJSON *it, size_t max, bool may_be_empty, char *out,
		     char *err, size_t errlen)
{
	size_t n = cJSON_IsString(it) ? strlen(it->valuestring) : 0;

	if (!cJSON_IsString(it) || n > max || (!n && !may_be_empty))
		return fail(err, errlen, "%s: must be a string of %d-%zu bytes",
			    it->string, may_be_empty ? 0 : 1, max);
	if (!utf8_valid(it->valuestring))
		return fail(err, errlen, "%s: not valid UTF-8", it->string);
	memcpy(out, it->valuestring, n + 1);
	return 0;
}

/* A duration as acgsctl's operators write it: a sum of terms that
 * apiparse_duration_ms reads ("1h30m" is "1h" + "30m"); a bare number of
 * seconds only as the whole text, so that "1h30" is not an hour and 30
 * seconds. */
static int duration_sum_ms(const char *s, int64_t *ret_ms)
{
	const char *start = s;
	int64_t total = 0, d;
	char term[32];

	if (!*s)
		return -EINVAL;
	while (*s) {
		size_t digits = strspn(s, "0123456789");
		size_t n = digits + strcspn(s + digits, "0123456789");
		if (n >= sizeof(term) || (n == digits && s != start))
			return -EINVAL;
		memcpy(term, s, n);
		term[n] = '\0';
		if (apiparse_duration_ms(term, &d) < 0)
			return -EINVAL;
		total += d;
		/* Far past any valid silence, and far from overflowing. */
		if (total > 10 * APIBODY_SILENCE_MAX_MS)
			return -ERANGE;
		s += n;
	}
	*ret_ms = total;
	return 0;
}

enum {
	K_MATCHERS = 1u << 0,
	K_STARTS = 1u << 1,
	K_ENDS = 1u << 2,
	K_DURATION = 1u << 3,
	K_COMMENT = 1u << 4,
	K_AUTHOR = 1u << 5,
};

/* One member of a silence body into t; *seen collects the keys. */
static int silence_key(const cJSON *it, struct apibody_silence *t,
		       unsigned *seen, int64_t *ret_dur, char *err,
		       size_t errlen)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {
		{ "matchers", K_MATCHERS }, { "starts_at", K_STARTS },
		{ "ends_at", K_ENDS },	    { "duration", K_DURATION },
		{ "comment", K_COMMENT },   { "author", K_AUTHOR },
	};
	unsigned bit = 0;
	char why[256];
	int r;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(it->string, keys[i].name) == 0)
			bit = keys[i].bit;
	if (!bit)
		return unknown_key(it, err, errlen);
	if ((r = see_key(seen, bit, it->string, err, errlen)) < 0)
		return r;
	switch (bit) {
	case K_MATCHERS:
		if (!cJSON_IsArray(it))
			return fail(err, errlen, "matchers: must be an array");
		if (!utf8_tree(it))
			return fail(err, errlen, "matchers: not valid UTF-8");
		if (matchers_from_json(it, &t->m, why, sizeof(why)) < 0)
			return fail(err, errlen, "%s%s",
				    strncmp(why, "matchers", 8) ? "matchers: "
								: "",
				    why);
		if (t->m.n == 0)
			return fail(err, errlen,
				    "matchers: at least one (a silence of "
				    "everything is refused)");
		return 0;
	case K_STARTS:
	case K_ENDS:
		if (!cJSON_IsString(it) ||
		    time_parse_rfc3339(it->valuestring, bit == K_STARTS
							    ? &t->starts_ms
							    : &t->ends_ms) < 0)
			return fail(err, errlen,
				    "%s: must be an RFC 3339 time "
				    "(2026-11-24T10:00:00Z)",
				    it->string);
		return 0;
	case K_DURATION:
		r = cJSON_IsString(it)
			? duration_sum_ms(it->valuestring, ret_dur)
			: -EINVAL;
		if (r == -ERANGE)
			return fail(err, errlen,
				    "duration: longer than 366 days");
		if (r < 0)
			return fail(err, errlen,
				    "duration: must be a duration such as "
				    "90s, 15m, 1h30m or 2d");
		return 0;
	case K_COMMENT:
		return take_text(it, APIBODY_COMMENT_MAX, false, t->comment,
				 err, errlen);
	default: /* K_AUTHOR */
		t->has_author = true;
		return take_text(it, APIBODY_AUTHOR_MAX, false, t->author, err,
				 errlen);
	}
}

/* The rules on the window once every key is read. */
static int silence_window(struct apibody_silence *t, unsigned seen, int64_t dur,
			  int64_t now_ms, char *err, size_t errlen)
{
	const char *key = seen & K_DURATION ? "duration" : "ends_at";

	if (!(seen & K_MATCHERS))
		return fail(err, errlen, "matchers: required (1-%d matchers)",
			    MATCHERS_MAX);
	if (!(seen & K_COMMENT))
		return fail(err, errlen, "comment: required");
	if (!(seen & (K_ENDS | K_DURATION)))
		return fail(err, errlen, "ends_at: required (or duration)");
	if ((seen & K_ENDS) && (seen & K_DURATION))
		return fail(err, errlen,
			    "duration: give ends_at or duration, not both");
	if (!(seen & K_STARTS))
		t->starts_ms = now_ms;
	if (seen & K_DURATION)
		t->ends_ms = t->starts_ms + dur;
	if (t->ends_ms <= t->starts_ms)
		return fail(err, errlen,
			    "%s: the silence must end after it "
			    "starts",
			    key);
	if (t->ends_ms - t->starts_ms > APIBODY_SILENCE_MAX_MS)
		return fail(err, errlen, "%s: longer than 366 days", key);
	if (t->ends_ms <= now_ms)
		return fail(err, errlen,
			    "%s: the silence must end in the "
			    "future",
			    key);
	return 0;
}

int apibody_silence(const char *body, size_t len, int64_t now_ms,
		    struct apibody_silence *ret, char *err, size_t errlen)
{
	struct apibody_silence *t = calloc(1, sizeof(*t));
	const cJSON *it;
	unsigned seen = 0;
	int64_t dur = 0;
	cJSON *j = NULL;
	int r = -ENOMEM;

	if (!t) {
		fail(err, errlen, "body: out of memory");
		goto out;
	}
	j = parse_object(body, len, err, errlen);
	if (!j) {
		r = -EINVAL;
		goto out;
	}
	cJSON_ArrayForEach(it, j)
	{
		if ((r = silence_key(it, t, &seen, &dur, err, errlen)) < 0)
			goto out;
	}
	if ((r = silence_window(t, seen, dur, now_ms, err, errlen)) < 0)
		goto out;
	*ret = *t;
	/* ret owns the compiled matchers now. */
	t->m.n = 0;
out:
	if (t)
		matchers_release(&t->m);
	free(t);
	cJSON_Delete(j);
	return r;
}

void apibody_silence_release(struct apibody_silence *s)
{
	if (s)
		matchers_release(&s->m);
}

int apibody_ack(const char *body, size_t len,
		char comment[APIBODY_COMMENT_MAX + 1], char *err, size_t errlen)
{
	const cJSON *it;
	unsigned seen = 0;
	cJSON *j = NULL;
	size_t blanks = 0;
	int r = 0;

	comment[0] = '\0';
	while (body && blanks < len && strchr(" \t\r\n", body[blanks]) &&
	       body[blanks])
		blanks++;
	/* No body is no comment: "curl -X POST" and "-d ''" both mean it. */
	if (!body || blanks == len)
		return 0;
	j = parse_object(body, len, err, errlen);
	if (!j)
		return -EINVAL;
	cJSON_ArrayForEach(it, j)
	{
		if (strcmp(it->string, "comment") != 0)
			r = unknown_key(it, err, errlen);
		else if ((r = see_key(&seen, K_COMMENT, it->string, err,
				      errlen)) == 0)
			r = take_text(it, APIBODY_COMMENT_MAX, true, comment,
				      err, errlen);
		if (r < 0)
			break;
	}
	if (r < 0)
		comment[0] = '\0';
	cJSON_Delete(j);
	return r;
}
