/* Label matchers (server/matcher.c): parsing, errors, matching, format
 * round trip. ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "check_main.h"
#include "cleanup.h"
#include "matcher.h"

static const struct label alert[] = {
	{ "alertname", "node-down" },
	{ "severity", "critical" },
	{ "node", "web-12" },
	{ "summary", "a, b" },
};

static const struct {
	const char *text;
	int ok;		 /* parses */
	int match;	 /* against alert[] */
	size_t n;	 /* matchers */
	const char *err; /* part of the error */
} cases[] = {
	{ "", 1, 1, 0, NULL },
	{ "   ", 1, 1, 0, NULL },
	{ "severity=critical", 1, 1, 1, NULL },
	{ "severity = critical ", 1, 1, 1, NULL },
	{ "severity=warning", 1, 0, 1, NULL },
	{ "severity!=warning", 1, 1, 1, NULL },
	{ "node=~web-.*", 1, 1, 1, NULL },
	{ "node=~web", 1, 0, 1, NULL }, /* anchored */
	{ "node!~db-.*", 1, 1, 1, NULL },
	{ "node=~web-1[0-9], severity=critical", 1, 1, 2, NULL },
	{ "node=~web-1[0-9], severity=info", 1, 0, 2, NULL },
	{ "team!=ops", 1, 1, 1, NULL }, /* absent label is "" */
	{ "team=", 1, 1, 1, NULL },
	{ "team=ops", 1, 0, 1, NULL },
	{ "summary=\"a, b\"", 1, 1, 1, NULL },
	{ "summary=\"a, \\\"b\\\"\"", 1, 0, 1, NULL },
	{ "=x", 0, 0, 0, "label name" },
	{ "1node=x", 0, 0, 0, "label name" },
	{ "node", 0, 0, 0, "expected =" },
	{ "node==x", 1, 0, 1, NULL }, /* value "=x" */
	{ "node=~(", 0, 0, 0, "bad regular expression" },
	{ "node=~\"web-[0-9]{1,3}\"", 1, 1, 1, NULL },
	{ "node=~((a{99}){99}){99}", 0, 0, 0, "at most one" },
	{ "node=~a{101}", 0, 0, 0, "bounds up to 100" },
	{ "node=~a\\{99}{2}", 1, 0, 1, NULL },
	{ "node=~a+++", 0, 0, 0, "repetition of a repetition" },
	{ "node=~(a*)*", 1, 0, 1, NULL },
	{ "node=~[+*]+x", 1, 0, 1, NULL },
	{ "node=~a?b?c?d?e?f?g?h?i?j?k?l?m?n?o?p?q?", 0, 0, 0, "most 16" },
	{ "node=x,", 0, 0, 0, "comma ends" },
	{ "summary=\"open", 0, 0, 0, "unterminated" },
	{ "summary=\"a\" b", 0, 0, 0, "after the quoted" },
};

START_TEST(test_parse_match)
{
	struct matchers ms;
	char err[256] = "";
	int r = matchers_parse(cases[_i].text, &ms, err, sizeof(err));

	if (!cases[_i].ok) {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_msg(strstr(err, cases[_i].err), "'%s': error '%s'",
			      cases[_i].text, err);
		return;
	}
	ck_assert_msg(r == 0, "'%s': %s", cases[_i].text, err);
	ck_assert_uint_eq(ms.n, cases[_i].n);
	ck_assert_int_eq(matchers_match(&ms, alert, ARRAY_SIZE(alert)),
			 cases[_i].match);

	/* What format writes, parse reads back to the same decisions. */
	char text[1024];
	struct matchers back;
	matchers_format(&ms, text, sizeof(text));
	ck_assert_msg(matchers_parse(text, &back, err, sizeof(err)) == 0,
		      "round trip of '%s' as '%s': %s", cases[_i].text, text,
		      err);
	ck_assert_uint_eq(back.n, ms.n);
	for (size_t i = 0; i < ms.n; i++) {
		ck_assert_str_eq(back.m[i].name, ms.m[i].name);
		ck_assert_str_eq(back.m[i].value, ms.m[i].value);
		ck_assert_int_eq(back.m[i].op, ms.m[i].op);
	}
	matchers_release(&back);
	matchers_release(&ms);
}
END_TEST

START_TEST(test_json)
{
	struct matchers ms;
	char err[256];
	cJSON *j = cJSON_Parse(
	    "[\"node=~web-.*\", {\"name\":\"severity\",\"value\":\"info\","
	    "\"isRegex\":false,\"isEqual\":false}]");
	ck_assert_int_eq(matchers_from_json(j, &ms, err, sizeof(err)), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_int_eq(ms.m[1].op, MATCH_NE);
	ck_assert(matchers_match(&ms, alert, ARRAY_SIZE(alert)));
	matchers_release(&ms);
	cJSON_Delete(j);

	static const char *const bad[] = {
		"{}",
		"[1]",
		"[\"a=b, c=d\"]",
		"[{\"name\":\"\",\"value\":\"x\"}]",
		"[{\"name\":\"a\"}]",
		"[{\"name\":\"a-b\",\"value\":\"x\"}]",
		"[{\"name\":\"a\",\"value\":\"(\",\"isRegex\":true}]",
		"[{\"name\":\"a\",\"value\":\"x\",\"isRegex\":1}]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = cJSON_Parse(bad[i]);
		err[0] = '\0';
		ck_assert_msg(matchers_from_json(j, &ms, err, sizeof(err)) ==
				  -EINVAL,
			      "%s accepted", bad[i]);
		ck_assert(err[0]);
		cJSON_Delete(j);
	}
}
END_TEST

START_TEST(test_caps)
{
	char text[8192] = "", err[256];
	struct matchers ms;
	for (int i = 0; i <= MATCHERS_MAX; i++)
		strncat(text, i ? ",a=b" : "a=b",
			sizeof(text) - strlen(text) - 1);
	ck_assert_int_eq(matchers_parse(text, &ms, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "more than"));
	char longv[400];
	memset(longv, 'x', sizeof(longv));
	memcpy(longv, "a=", 2);
	longv[sizeof(longv) - 1] = '\0';
	ck_assert_int_eq(matchers_parse(longv, &ms, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "over"));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("matcher");
	TCase *tc = tcase_create("matcher");
	tcase_add_loop_test(tc, test_parse_match, 0, (int)ARRAY_SIZE(cases));
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_caps);
	suite_add_tcase(s, tc);
	return s;
}
