/* acgsctl's durations: what operators type for --since, --until, --step. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "duration.h"

static const struct {
	const char *s;
	bool bare;
	int rc;
	int64_t secs;
} parse_cases[] = {
	{ "90s", false, 0, 90 },
	{ "15m", false, 0, 900 },
	{ "1h", false, 0, 3600 },
	{ "7d", false, 0, 7 * 86400 },
	{ "2w", false, 0, 14 * 86400 },
	{ "1h30m", false, 0, 5400 },
	{ "1d12h", false, 0, 129600 },
	{ "1m1m", false, 0, 120 },
	{ "007s", false, 0, 7 },
	{ "3650d", false, 0, DURATION_MAX_S },
	{ "60", true, 0, 60 },
	{ "60", false, -EINVAL, 0 },
	{ "1h30", true, -EINVAL, 0 },
	{ "", false, -EINVAL, 0 },
	{ "0s", false, -EINVAL, 0 },
	{ "0", true, -EINVAL, 0 },
	{ "1x", false, -EINVAL, 0 },
	{ "h", false, -EINVAL, 0 },
	{ "1hh", false, -EINVAL, 0 },
	{ "-1h", false, -EINVAL, 0 },
	{ "+1h", false, -EINVAL, 0 },
	{ "1.5h", false, -EINVAL, 0 },
	{ " 1h", false, -EINVAL, 0 },
	{ "1h ", false, -EINVAL, 0 },
	{ "1H", false, -EINVAL, 0 },
	{ "1ms", false, -EINVAL, 0 },
	{ "0x10s", false, -EINVAL, 0 },
	{ "3651d", false, -ERANGE, 0 },
	{ "3650d1s", false, -ERANGE, 0 },
	{ "99999999999999999999s", false, -ERANGE, 0 },
	{ "9999999999999999999999999w", false, -ERANGE, 0 },
};

START_TEST(parse)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		int64_t v = -1;
		int rc =
		    duration_parse(parse_cases[i].s, parse_cases[i].bare, &v);
		ck_assert_msg(rc == parse_cases[i].rc, "'%s': rc %d",
			      parse_cases[i].s, rc);
		if (rc == 0)
			ck_assert_msg(v == parse_cases[i].secs, "'%s': %lld",
				      parse_cases[i].s, (long long)v);
		else
			ck_assert_int_eq(v, -1); /* untouched on error */
	}
}
END_TEST

START_TEST(format)
{
	static const struct {
		int64_t secs;
		const char *want;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1s" },
		{ 90, "1m30s" },
		{ 3600, "1h" },
		{ 86400, "1d" },
		{ 604800, "1w" },
		{ 694861, "1w1d1h1m1s" },
		{ DURATION_MAX_S, "521w3d" },
	};
	char out[DURATION_STR_LEN];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		duration_format(cases[i].secs, out);
		ck_assert_str_eq(out, cases[i].want);
		/* What is formatted parses back to the same. */
		int64_t back;
		if (cases[i].secs) {
			ck_assert_int_eq(duration_parse(out, false, &back), 0);
			ck_assert_int_eq(back, cases[i].secs);
		}
	}
}
END_TEST

START_TEST(or_time)
{
	bool dur;
	int64_t v;

	ck_assert_int_eq(duration_or_time("1h", &dur, &v), 0);
	ck_assert(dur);
	ck_assert_int_eq(v, 3600);
	ck_assert_int_eq(duration_or_time("2026-11-24T18:00:00Z", &dur, &v), 0);
	ck_assert(!dur);
	ck_assert_int_eq(v, 1795543200000LL);
	ck_assert_int_eq(
	    duration_or_time("2026-11-24T19:00:00.5+01:00", &dur, &v), 0);
	ck_assert(!dur);
	ck_assert_int_eq(v, 1795543200500LL);
	ck_assert_int_eq(duration_or_time("2026-11-24", &dur, &v), -EINVAL);
	ck_assert_int_eq(duration_or_time("yesterday", &dur, &v), -EINVAL);
	ck_assert_int_eq(duration_or_time("4000d", &dur, &v), -ERANGE);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("cli_duration");
	TCase *tc = tcase_create("duration");
	tcase_add_test(tc, parse);
	tcase_add_test(tc, format);
	tcase_add_test(tc, or_time);
	suite_add_tcase(s, tc);
	return s;
}
