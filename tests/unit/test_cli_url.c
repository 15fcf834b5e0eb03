/* acgsctl's requests: base URL checks, percent-encoding of path segments
 * and query values, the path of every command, and the exit code for each
 * kind of answer. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "check_main.h"
#include "client.h"
#include "request.h"
#include "url.h"

START_TEST(base)
{
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
		{ "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "http://127.0.0.1:8080/", "http://127.0.0.1:8080" },
		{ "https://acgs.example/api//", "https://acgs.example/api" },
		{ "http://[::1]:8080", "http://[::1]:8080" },
		{ "ftp://host", NULL },
		{ "127.0.0.1:8080", NULL },
		{ "http://", NULL },
		{ "http:///x", NULL },
		{ "http://h/?a=b", NULL },
		{ "http://h/#x", NULL },
		{ "http://h x", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int r = url_base(cases[i].in, &out);
		if (cases[i].want) {
			ck_assert_msg(r == 0, "'%s'", cases[i].in);
			ck_assert_str_eq(out, cases[i].want);
		} else {
			ck_assert_msg(r == -EINVAL, "'%s' accepted",
				      cases[i].in);
		}
		free(out);
	}
}
END_TEST

START_TEST(segments)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "n1", "/n1" },
		{ "web-1.prod_a~", "/web-1.prod_a~" },
		{ "a b/c?d#e%f", "/a%20b%2Fc%3Fd%23e%25f" },
		{ "..", "/%2E%2E" },
		{ ".", "/%2E" },
		{ "..a", "/..a" },
		{ "caf\xc3\xa9", "/caf%C3%A9" },
		{ "+&=", "/%2B%26%3D" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 256);
		ck_assert_int_eq(url_append_segment(&b, cases[i].in), 0);
		ck_assert_str_eq(b.data, cases[i].want);
		buf_release(&b);
	}
}
END_TEST

START_TEST(query)
{
	struct buf b;

	buf_init(&b, 256);
	ck_assert_int_eq(buf_puts(&b, "/api/v1/nodes"), 0);
	ck_assert_int_eq(url_append_query(&b, "label", "role=web&x=1"), 0);
	ck_assert_int_eq(url_append_query(&b, "state", "online"), 0);
	ck_assert_int_eq(url_append_query(&b, "service", "a b+c"), 0);
	ck_assert_str_eq(b.data, "/api/v1/nodes?label=role%3Dweb%26x%3D1"
				 "&state=online&service=a%20b%2Bc");
	buf_release(&b);
	/* The buffer's cap is honoured. */
	buf_init(&b, 8);
	ck_assert_int_eq(url_append_query(&b, "k", "0123456789"), -E2BIG);
	buf_release(&b);
}
END_TEST

/* The path each command sends, from its real command line. */
static void expect_path(const char *cmdline, size_t offset, size_t limit,
			const char *want)
{
	char *argv[32], copy[512], err[ARGS_ERR_LEN];
	int argc = 0;
	struct args a;
	struct buf b;

	snprintf(copy, sizeof(copy), "acgsctl %s", cmdline);
	for (char *save, *w = strtok_r(copy, " ", &save); w && argc < 31;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	ck_assert_msg(args_parse(argc, argv, &a, err) == 0, "%s: %s", cmdline,
		      err);
	buf_init(&b, 4096);
	ck_assert_int_eq(request_path(&a, offset, limit, &b), 0);
	ck_assert_msg(strcmp(b.data, want) == 0, "%s: got %s", cmdline, b.data);
	buf_release(&b);
}

START_TEST(paths)
{
	expect_path("fleet", 0, 0, "/api/v1/fleet");
	expect_path("nodes", 0, 1000, "/api/v1/nodes?limit=1000");
	expect_path("nodes --below 0.8 --label zone=eu/1 --state stale "
		    "--service api --limit 5",
		    1000, 5,
		    "/api/v1/nodes?state=stale&below=0.8&label=zone%3Deu%2F1"
		    "&service=api&limit=5&offset=1000");
	expect_path("node web-1", 0, 0, "/api/v1/nodes/web-1");
	expect_path("node a/b", 0, 0, "/api/v1/nodes/a%2Fb");
	expect_path("history n1", 0, 0, "/api/v1/nodes/n1/history?metric=cpu");
	expect_path("history n1 --metric mem --since 1h30m --until 15m "
		    "--step 1m",
		    0, 0,
		    "/api/v1/nodes/n1/history?metric=mem&from=5400s&to=900s"
		    "&step=60");
	expect_path("history n1 --since 2026-11-24T18:00:00+01:00 --step 300",
		    0, 0,
		    "/api/v1/nodes/n1/history?metric=cpu"
		    "&from=2026-11-24T18%3A00%3A00%2B01%3A00&step=300");
	expect_path("services", 0, 0, "/api/v1/services");
	expect_path("services api", 0, 0, "/api/v1/services/api");
	expect_path("compliance", 0, 0, "/api/v1/compliance");
	expect_path("alerts", 0, 0, "/api/v1/alerts?history=0");
	expect_path("alerts --state all --history 50", 0, 0,
		    "/api/v1/alerts?state=all&history=50");
	expect_path("alerts ack 9D8C7B6A5F", 0, 0,
		    "/api/v1/alerts/9d8c7b6a5f/ack");
	expect_path("silence add --match a=b --for 1h --comment x", 0, 0,
		    "/api/v1/silences");
	expect_path("silence list", 0, 0, "/api/v1/silences");
	expect_path("silence list --all", 0, 0, "/api/v1/silences?state=all");
	expect_path("silence expire 17", 0, 0, "/api/v1/silences/17");
}
END_TEST

/* The method and JSON body of each command; argv by hand, as comments
 * hold spaces. */
static void expect_request(const char *const *words, const char *method,
			   const char *body)
{
	char *argv[64], err[ARGS_ERR_LEN], *got = NULL;
	int argc = 0;
	struct args a;

	argv[argc++] = (char *)"acgsctl";
	for (; words[argc - 1] && argc < 63; argc++)
		argv[argc] = (char *)words[argc - 1];
	argv[argc] = NULL;
	ck_assert_msg(args_parse(argc, argv, &a, err) == 0, "%s: %s", words[0],
		      err);
	ck_assert_str_eq(request_method(&a), method);
	ck_assert_int_eq(request_body(&a, &got), 0);
	if (!body)
		ck_assert_ptr_null(got);
	else
		ck_assert_msg(got && strcmp(got, body) == 0, "got %s", got);
	free(got);
}

START_TEST(bodies)
{
	static const char *const fleet[] = { "fleet", NULL };
	static const char *const alerts[] = { "alerts", "--history", "3",
					      NULL };
	static const char *const ack[] = { "alerts", "ack", "0123456789ab",
					   NULL };
	static const char *const ack_comment[] = {
		"alerts",
		"ack",
		"0123456789ab",
		"--comment",
		"on it, \"bob\" \xe2\x80\x94 see CHG-1",
		NULL
	};
	static const char *const add_for[] = { "silence",   "add",
					       "--match",   "node=web-1",
					       "--match",   "severity=~crit.*",
					       "--for",	    "1h30m",
					       "--comment", "db-1 migration",
					       NULL };
	static const char *const add_until[] = {
		"silence",   "add",
		"--start",   "2026-11-24T18:00:00+01:00",
		"--until",   "2026-11-24T20:00:00Z",
		"--match",   "team!~ops|sre",
		"--author",  "alice",
		"--comment", "x",
		NULL
	};
	static const char *const list[] = { "silence", "list", "--all", NULL };
	static const char *const expire[] = { "silence", "expire", "17", NULL };

	expect_request(fleet, "GET", NULL);
	expect_request(alerts, "GET", NULL);
	expect_request(ack, "POST", NULL);
	expect_request(ack_comment, "POST",
		       "{\"comment\":\"on it, \\\"bob\\\" \xe2\x80\x94 see "
		       "CHG-1\"}");
	expect_request(add_for, "POST",
		       "{\"matchers\":[\"node=web-1\",\"severity=~crit.*\"],"
		       "\"duration\":\"5400s\",\"comment\":\"db-1 "
		       "migration\"}");
	expect_request(add_until, "POST",
		       "{\"matchers\":[\"team!~ops|sre\"],"
		       "\"starts_at\":\"2026-11-24T18:00:00+01:00\","
		       "\"ends_at\":\"2026-11-24T20:00:00Z\",\"comment\":\"x\","
		       "\"author\":\"alice\"}");
	expect_request(list, "GET", NULL);
	expect_request(expire, "DELETE", NULL);
}
END_TEST

START_TEST(exit_codes)
{
	static const struct {
		long status;
		bool ours;
		enum client_exit want;
	} cases[] = {
		{ 200, true, EXIT_OK },
		{ 204, true, EXIT_OK },
		{ 200, false, EXIT_UNREACHABLE }, /* HTML from a proxy */
		{ 301, false, EXIT_UNREACHABLE }, /* redirect, not followed */
		{ 400, true, EXIT_SERVER },
		{ 401, true, EXIT_AUTH },
		{ 403, true, EXIT_AUTH },
		{ 404, true, EXIT_NOT_FOUND },
		{ 404, false, EXIT_UNREACHABLE }, /* someone else's 404 */
		{ 405, true, EXIT_SERVER },
		{ 413, true, EXIT_SERVER },
		{ 429, true, EXIT_SERVER },
		{ 500, true, EXIT_SERVER },
		{ 502, false, EXIT_UNREACHABLE }, /* a proxy's bad gateway */
		{ 503, true, EXIT_SERVER },
		{ 101, true, EXIT_UNREACHABLE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(client_exit_code(cases[i].status,
					       cases[i].ours) == cases[i].want,
			      "HTTP %ld", cases[i].status);
	/* The documented numbers. */
	ck_assert_int_eq(EXIT_SERVER, 1);
	ck_assert_int_eq(EXIT_USAGE, 2);
	ck_assert_int_eq(EXIT_UNREACHABLE, 3);
	ck_assert_int_eq(EXIT_AUTH, 4);
	ck_assert_int_eq(EXIT_NOT_FOUND, 5);
	ck_assert_int_eq(EXIT_MATCHED, 6);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("cli_url");
	TCase *tc = tcase_create("url");
	tcase_add_test(tc, base);
	tcase_add_test(tc, segments);
	tcase_add_test(tc, query);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, bodies);
	tcase_add_test(tc, exit_codes);
	suite_add_tcase(s, tc);
	return s;
}
