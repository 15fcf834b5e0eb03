/* API request bodies (server/apibody.c): tokens, silences and acks, every
 * way a body is refused with the key named, and what an accepted one
 * gives. ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apibody.h"
#include "check_main.h"
#include "cleanup.h"

/* "Now" in every case: 2026-11-24T10:00:00.000Z */
#define NOW_MS	1795514400000LL
#define HOUR_MS (3600LL * 1000)
#define DAY_MS	(24 * HOUR_MS)

/* A raw NUL byte inside a string. */
#define RAW_NUL                                                                \
	"{\"comment\":\"a\0b\",\"matchers\":[\"a=b\"],\"duration\":\"1h\"}"

/* A string of n copies of c (n < 1100). */
static const char *repeat(char c, size_t n)
{
	static char s[1100];
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static const struct {
	const char *body;
	size_t len;	 /* 0: strlen(body) */
	const char *err; /* the start of the message */
} bad_silences[] = {
	{ "", 0, "body: a JSON object is required" },
	{ "[]", 0, "body: not a JSON object" },
	{ "{", 0, "body: not a JSON object" },
	{ "null", 0, "body: not a JSON object" },
	{ "{\"comment\":\"x\"} {}", 0, "body: not a JSON object" },
	{ "{\"comment\":\"a\\u0000b\",\"matchers\":[\"a=b\"],"
	  "\"duration\":\"1h\"}",
	  0, "body: NUL characters" },
	{ RAW_NUL, sizeof(RAW_NUL) - 1, "body: NUL characters" },
	{ "{\"match\":[\"a=b\"]}", 0, "match: unknown key" },
	{ "{\"\xff\":1}", 0, "body: an unknown key" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"comment\":\"y\","
	  "\"duration\":\"1h\"}",
	  0, "comment: given twice" },
	{ "{\"matchers\":[\"a=b\"],\"matchers\":[\"c=d\"]}", 0,
	  "matchers: given twice" },
	{ "{\"matchers\":\"a=b\"}", 0, "matchers: must be an array" },
	{ "{\"matchers\":[]}", 0, "matchers: at least one" },
	{ "{\"matchers\":[1]}", 0, "matchers[0]: a string or an object" },
	{ "{\"matchers\":[\"node\"]}", 0, "matchers: matcher node: expected" },
	{ "{\"matchers\":[\"a=b, c=d\"]}", 0,
	  "matchers[0]: one matcher per string" },
	{ "{\"matchers\":[\"node=~(\"]}", 0,
	  "matchers: node: bad regular expression" },
	{ "{\"matchers\":[{\"name\":\"node\"}]}", 0,
	  "matchers[0]: needs a name" },
	{ "{\"matchers\":[\"node=\xff\"]}", 0, "matchers: not valid UTF-8" },
	{ "{\"matchers\":[{\"name\":\"a\",\"value\":\"b\",\"\xc0\xaf\":1}]}", 0,
	  "matchers: not valid UTF-8" },
	{ "{\"comment\":\"x\",\"duration\":\"1h\"}", 0,
	  "matchers: required (1-32 matchers)" },
	{ "{\"matchers\":[\"a=b\"],\"duration\":\"1h\"}", 0,
	  "comment: required" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"\"}", 0,
	  "comment: must be a string of 1-1024 bytes" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":5}", 0,
	  "comment: must be a string of 1-1024 bytes" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":null}", 0,
	  "comment: must be a string of 1-1024 bytes" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"\xff\"}", 0,
	  "comment: not valid UTF-8" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"\xed\xa0\x80\"}", 0,
	  "comment: not valid UTF-8" },
	{ "{\"author\":\"\"}", 0, "author: must be a string of 1-128 bytes" },
	{ "{\"author\":[\"alice\"]}", 0,
	  "author: must be a string of 1-128 bytes" },
	{ "{\"author\":\"\xe2\x82\"}", 0, "author: not valid UTF-8" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\"}", 0,
	  "ends_at: required (or duration)" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"1h\","
	  "\"ends_at\":\"2026-11-24T12:00:00Z\"}",
	  0, "duration: give ends_at or duration, not both" },
	{ "{\"starts_at\":\"yesterday\"}", 0,
	  "starts_at: must be an RFC 3339 time" },
	{ "{\"starts_at\":1795514400}", 0,
	  "starts_at: must be an RFC 3339 time" },
	{ "{\"ends_at\":\"1h\"}", 0, "ends_at: must be an RFC 3339 time" },
	{ "{\"ends_at\":\"2026-11-24 12:00:00\"}", 0,
	  "ends_at: must be an RFC 3339 time" },
	{ "{\"duration\":\"1h30\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"1.5h\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"-1h\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\" 1h\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"1x\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"h\"}", 0, "duration: must be a duration" },
	{ "{\"duration\":3600}", 0, "duration: must be a duration" },
	{ "{\"duration\":\"3000d3000d\"}", 0,
	  "duration: longer than 366 days" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"0s\"}", 0,
	  "duration: the silence must end after it starts" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"367d\"}", 0,
	  "duration: longer than 366 days" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"366d1s\"}",
	  0, "duration: longer than 366 days" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"1h\","
	  "\"starts_at\":\"2026-11-24T08:00:00Z\"}",
	  0, "duration: the silence must end in the future" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\",\"duration\":\"2h\","
	  "\"starts_at\":\"2026-11-24T08:00:00Z\"}",
	  0, "duration: the silence must end in the future" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\","
	  "\"starts_at\":\"2026-11-24T13:00:00Z\","
	  "\"ends_at\":\"2026-11-24T12:00:00Z\"}",
	  0, "ends_at: the silence must end after it starts" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\","
	  "\"starts_at\":\"2026-11-24T12:00:00Z\","
	  "\"ends_at\":\"2026-11-24T12:00:00.000Z\"}",
	  0, "ends_at: the silence must end after it starts" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\","
	  "\"ends_at\":\"2026-11-24T09:00:00Z\"}",
	  0, "ends_at: the silence must end after it starts" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\","
	  "\"starts_at\":\"2026-11-24T08:00:00Z\","
	  "\"ends_at\":\"2026-11-24T10:00:00Z\"}",
	  0, "ends_at: the silence must end in the future" },
	{ "{\"matchers\":[\"a=b\"],\"comment\":\"x\","
	  "\"ends_at\":\"2027-11-25T10:00:00.001Z\"}",
	  0, "ends_at: longer than 366 days" },
};

START_TEST(silence_refused)
{
	for (size_t i = 0; i < sizeof(bad_silences) / sizeof(bad_silences[0]);
	     i++) {
		const char *b = bad_silences[i].body;
		size_t len =
		    bad_silences[i].len ? bad_silences[i].len : strlen(b);
		struct apibody_silence s;
		char err[256] = "";

		memset(&s, 0x5a, sizeof(s));
		int r = apibody_silence(b, len, NOW_MS, &s, err, sizeof(err));
		ck_assert_msg(r == -EINVAL, "case %zu accepted: %s", i, b);
		ck_assert_msg(strncmp(err, bad_silences[i].err,
				      strlen(bad_silences[i].err)) == 0,
			      "case %zu: '%s'", i, err);
		/* Untouched on failure. */
		ck_assert_uint_eq(s.m.n, 0x5a5a5a5a5a5a5a5aULL);
	}
}
END_TEST

/* Too many matchers, and the longest comment and author plus one. */
START_TEST(silence_limits)
{
	char body[8192], err[256];
	struct apibody_silence s;
	size_t used;

	used = (size_t)snprintf(body, sizeof(body), "{\"matchers\":[");
	for (int i = 0; i < 33; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used,
					 "%s\"l%d=v\"", i ? "," : "", i);
	snprintf(body + used, sizeof(body) - used,
		 "],\"comment\":\"x\",\"duration\":\"1h\"}");
	ck_assert_int_eq(
	    apibody_silence(body, strlen(body), NOW_MS, &s, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "matchers: more than 32 matchers");

	snprintf(body, sizeof(body),
		 "{\"matchers\":[\"a=b\"],\"duration\":\"1h\","
		 "\"comment\":\"%s\"}",
		 repeat('c', 1025));
	ck_assert_int_eq(
	    apibody_silence(body, strlen(body), NOW_MS, &s, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "comment: must be a string of 1-1024 bytes");

	snprintf(body, sizeof(body),
		 "{\"matchers\":[\"a=b\"],\"duration\":\"1h\","
		 "\"comment\":\"x\",\"author\":\"%s\"}",
		 repeat('a', 129));
	ck_assert_int_eq(
	    apibody_silence(body, strlen(body), NOW_MS, &s, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "author: must be a string of 1-128 bytes");

	/* A tiny error buffer still gets a terminated message. */
	char small[8];
	ck_assert_int_eq(
	    apibody_silence("[]", 2, NOW_MS, &s, small, sizeof(small)),
	    -EINVAL);
	ck_assert_str_eq(small, "body: n");
}
END_TEST

static const struct label web1_crit[] = {
	{ "node", "web-1" },
	{ "severity", "critical" },
};
static const struct label web2_crit[] = {
	{ "node", "web-2" },
	{ "severity", "critical" },
};

static const struct {
	const char *body;
	int64_t starts_ms, ends_ms;
	size_t n;
	const char *comment, *author; /* author NULL: none given */
	int match_web1, match_web2;
} good_silences[] = {
	{ "{\"matchers\":[\"node=web-1\",\"severity=~crit.*\"],"
	  "\"duration\":\"1h30m\",\"comment\":\"deploy\"}",
	  NOW_MS, NOW_MS + 90 * 60 * 1000, 2, "deploy", NULL, 1, 0 },
	/* Alertmanager's objects, both ends given, an author. */
	{ "{\"matchers\":[{\"name\":\"node\",\"value\":\"web-.*\","
	  "\"isRegex\":true},{\"name\":\"node\",\"value\":\"web-2\","
	  "\"isEqual\":false}],"
	  "\"starts_at\":\"2026-11-24T11:00:00.000Z\","
	  "\"ends_at\":\"2026-11-24T12:00:00.000Z\","
	  "\"comment\":\"maintenance\",\"author\":\"alice\"}",
	  NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, 2, "maintenance", "alice", 1,
	  0 },
	/* Backdated, an offset, blanks around the object. */
	{ "\n {\"starts_at\":\"2026-11-24T10:00:00+01:00\","
	  "\"duration\":\"2h\",\"matchers\":[\"node!=db-1\"],"
	  "\"comment\":\"caf\\u00e9 \xe6\x9d\xb1\"} \r\n",
	  NOW_MS - HOUR_MS, NOW_MS + HOUR_MS, 1, "caf\xc3\xa9 \xe6\x9d\xb1",
	  NULL, 1, 1 },
	/* The longest one; a bare number of seconds; milliseconds. */
	{ "{\"matchers\":[\"a=\"],\"duration\":\"366d\",\"comment\":\"y\"}",
	  NOW_MS, NOW_MS + 366 * DAY_MS, 1, "y", NULL, 1, 1 },
	{ "{\"matchers\":[\"a=\"],\"duration\":\"90\",\"comment\":\"y\"}",
	  NOW_MS, NOW_MS + 90000, 1, "y", NULL, 1, 1 },
	{ "{\"matchers\":[\"a=\"],\"duration\":\"1w2d3h4m5s6ms\","
	  "\"comment\":\"y\"}",
	  NOW_MS, NOW_MS + 9 * DAY_MS + 3 * HOUR_MS + 245006, 1, "y", NULL, 1,
	  1 },
	{ "{\"matchers\":[\"a=\"],\"comment\":\"y\","
	  "\"ends_at\":\"2026-11-24T10:00:00.001Z\"}",
	  NOW_MS, NOW_MS + 1, 1, "y", NULL, 1, 1 },
};

START_TEST(silence_accepted)
{
	for (size_t i = 0; i < sizeof(good_silences) / sizeof(good_silences[0]);
	     i++) {
		struct apibody_silence s;
		char err[256] = "";
		const char *b = good_silences[i].body;

		ck_assert_msg(apibody_silence(b, strlen(b), NOW_MS, &s, err,
					      sizeof(err)) == 0,
			      "case %zu: %s", i, err);
		ck_assert_int_eq(s.starts_ms, good_silences[i].starts_ms);
		ck_assert_int_eq(s.ends_ms, good_silences[i].ends_ms);
		ck_assert_uint_eq(s.m.n, good_silences[i].n);
		ck_assert_str_eq(s.comment, good_silences[i].comment);
		ck_assert(s.has_author == (good_silences[i].author != NULL));
		if (s.has_author)
			ck_assert_str_eq(s.author, good_silences[i].author);
		ck_assert_int_eq(matchers_match(&s.m, web1_crit, 2),
				 good_silences[i].match_web1);
		ck_assert_int_eq(matchers_match(&s.m, web2_crit, 2),
				 good_silences[i].match_web2);
		apibody_silence_release(&s);
		ck_assert_uint_eq(s.m.n, 0);
	}
}
END_TEST

START_TEST(silence_at_limits)
{
	char body[8192], err[256];
	struct apibody_silence s;
	size_t used;

	/* 32 regex matchers, a 1024-byte comment, a 128-byte author. */
	used = (size_t)snprintf(body, sizeof(body), "{\"matchers\":[");
	for (int i = 0; i < 32; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used,
					 "%s\"l%d=~v.*\"", i ? "," : "", i);
	used += (size_t)snprintf(body + used, sizeof(body) - used,
				 "],\"duration\":\"1h\",\"comment\":\"%s\"",
				 repeat('c', 1024));
	snprintf(body + used, sizeof(body) - used, ",\"author\":\"%s\"}",
		 repeat('a', 128));
	ck_assert_msg(apibody_silence(body, strlen(body), NOW_MS, &s, err,
				      sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(s.m.n, 32);
	ck_assert_uint_eq(strlen(s.comment), 1024);
	ck_assert_uint_eq(strlen(s.author), 128);
	apibody_silence_release(&s);
	apibody_silence_release(NULL);
}
END_TEST

START_TEST(ack)
{
	static const struct {
		const char *body, *comment;
	} good[] = {
		{ "", "" },
		{ " \r\n\t", "" },
		{ "{}", "" },
		{ "{\"comment\":\"\"}", "" },
		{ " {\"comment\":\"on it \\u2014 bob\"}\n",
		  "on it \xe2\x80\x94 bob" },
	};
	static const struct {
		const char *body, *err;
	} bad[] = {
		{ "[]", "body: not a JSON object" },
		{ "x", "body: not a JSON object" },
		{ "{} {}", "body: not a JSON object" },
		{ "{\"comment\":\"a\\u0000\"}", "body: NUL characters" },
		{ "{\"comment\":1}",
		  "comment: must be a string of 0-1024 bytes" },
		{ "{\"comment\":null}",
		  "comment: must be a string of 0-1024 bytes" },
		{ "{\"comment\":\"\xff\"}", "comment: not valid UTF-8" },
		{ "{\"comment\":\"a\",\"comment\":\"b\"}",
		  "comment: given twice" },
		{ "{\"by\":\"alice\"}", "by: unknown key" },
	};
	char comment[APIBODY_COMMENT_MAX + 1], err[256], body[4096];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(comment, 'z', sizeof(comment));
		ck_assert_msg(apibody_ack(good[i].body, strlen(good[i].body),
					  comment, err, sizeof(err)) == 0,
			      "case %zu: %s", i, err);
		ck_assert_str_eq(comment, good[i].comment);
	}
	ck_assert_int_eq(apibody_ack(NULL, 0, comment, err, sizeof(err)), 0);
	ck_assert_str_eq(comment, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(apibody_ack(bad[i].body, strlen(bad[i].body),
					  comment, err, sizeof(err)) == -EINVAL,
			      "case %zu accepted", i);
		ck_assert_msg(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
			      "case %zu: '%s'", i, err);
		ck_assert_str_eq(comment, "");
	}
	/* A body that is not NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(apibody_ack("{}xyz", 2, comment, err, sizeof(err)), 0);
	snprintf(body, sizeof(body), "{\"comment\":\"%s\"}", repeat('c', 1024));
	ck_assert_int_eq(
	    apibody_ack(body, strlen(body), comment, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(comment), 1024);
	snprintf(body, sizeof(body), "{\"comment\":\"%s\"}", repeat('c', 1025));
	ck_assert_int_eq(
	    apibody_ack(body, strlen(body), comment, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "comment: must be a string of 0-1024 bytes");
}
END_TEST

START_TEST(token)
{
	static const struct {
		const char *body, *err; /* err NULL: accepted */
	} cases[] = {
		{ "{\"name\":\"grafana\",\"role\":\"viewer\"}", NULL },
		{ "{\"name\":\"a.b_c@d-e\",\"role\":\"admin\"}", NULL },
		{ "", "body: a JSON object is required" },
		{ "[1]", "body: not a JSON object" },
		{ "{\"name\":\"g\"}", "role: required" },
		{ "{\"role\":\"viewer\"}", "name: required" },
		{ "{\"name\":\"a b\",\"role\":\"viewer\"}", "name: must be" },
		{ "{\"name\":\"g\",\"role\":\"root\"}", "role: must be" },
		{ "{\"name\":\"g\",\"role\":\"viewer\",\"x\":1}",
		  "x: unknown key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct apibody_token t;
		char err[256] = "";
		int r = apibody_token(cases[i].body, strlen(cases[i].body), &t,
				      err, sizeof(err));
		if (!cases[i].err) {
			ck_assert_msg(r == 0, "case %zu: %s", i, err);
			continue;
		}
		ck_assert_msg(r == -EINVAL, "case %zu accepted", i);
		ck_assert_msg(
		    strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
		    "case %zu: '%s'", i, err);
	}
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("apibody");
	TCase *tc = tcase_create("apibody");
	tcase_add_test(tc, silence_refused);
	tcase_add_test(tc, silence_limits);
	tcase_add_test(tc, silence_accepted);
	tcase_add_test(tc, silence_at_limits);
	tcase_add_test(tc, ack);
	tcase_add_test(tc, token);
	suite_add_tcase(s, tc);
	return s;
}
