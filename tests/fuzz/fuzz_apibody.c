/* fuzz-sources: server/apibody.c server/apiparse.c server/matcher.c */
/* libFuzzer target: the API's request bodies. The first byte picks the
 * parser (token, silence, ack), the rest is the body. An accepted body must
 * give what the database and the contract allow; a refused one says why. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apibody.h"
#include "utf8.h"

/* 2026-11-24T10:00:00.000Z, fixed so that a crash replays. */
#define NOW_MS 1795514400000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n) {
		size_t len = utf8_decode(p, n, NULL);
		if (!len)
			abort();
		p += len;
		n -= len;
	}
}

static void token(const char *body, size_t len)
{
	struct apibody_token t;
	char err[256] = "";

	if (apibody_token(body, len, &t, err, sizeof(err)) == 0) {
		size_t n = strlen(t.name);
		if (n == 0 || n > APIBODY_NAME_MAX)
			abort();
		if (strcmp(t.role, "viewer") && strcmp(t.role, "operator") &&
		    strcmp(t.role, "admin"))
			abort();
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
}

static void silence(const char *body, size_t len)
{
	struct apibody_silence s;
	char err[256] = "";

	if (apibody_silence(body, len, NOW_MS, &s, err, sizeof(err)) != 0) {
		if (!err[0])
			abort();
		return;
	}
	if (s.m.n < 1 || s.m.n > MATCHERS_MAX)
		abort();
	if (s.ends_ms <= s.starts_ms || s.ends_ms <= NOW_MS ||
	    s.ends_ms - s.starts_ms > APIBODY_SILENCE_MAX_MS)
		abort();
	size_t n = strlen(s.comment);
	if (n < 1 || n > APIBODY_COMMENT_MAX)
		abort();
	check_utf8(s.comment);
	n = strlen(s.author);
	if (s.has_author && (n < 1 || n > APIBODY_AUTHOR_MAX))
		abort();
	check_utf8(s.author);
	apibody_silence_release(&s);
}

static void ack(const char *body, size_t len)
{
	char comment[APIBODY_COMMENT_MAX + 1], err[256] = "";

	if (apibody_ack(body, len, comment, err, sizeof(err)) == 0)
		check_utf8(comment);
	else if (!err[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* The body is handed over without a NUL after it, as the API's
	 * upload buffer is: a read past len is ASan's to find. */
	char *body = malloc(size - 1 ? size - 1 : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		token(body, size - 1);
		break;
	case 1:
		silence(body, size - 1);
		break;
	default:
		ack(body, size - 1);
		break;
	}
	free(body);
	return 0;
}
