#include "config.h"

#include <errno.h>
#include <stdint.h>

#include "check_main.h"
#include "timeutil.h"

static const struct {
	const char *text;
	int rc;
	int64_t ms;
} cases[] = {
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "1970-01-01T00:00:00.001Z", 0, 1 },
	{ "2026-11-24T17:30:01.123Z", 0, 1795541401123 },
	{ "2026-11-24T19:30:01.123+02:00", 0, 1795541401123 },
	{ "2026-11-24T17:30:01.123456789Z", 0, 1795541401123 },
	{ "2024-02-29T00:00:00Z", 0, 1709164800000 },
	{ "1969-12-31T23:59:59.999Z", 0, -1 },
	{ "2026-13-01T00:00:00Z", -EINVAL, 0 },
	{ "2026-02-30T00:00:00Z", -EINVAL, 0 },
	{ "2026-11-24T17:30:01", -EINVAL, 0 },
	{ "2026-11-24T17:30:01.Z", -EINVAL, 0 },
	{ "2026-11-24T17:30:01Zjunk", -EINVAL, 0 },
	{ "not a time at all!!!", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
};

START_TEST(parse_table)
{
	int64_t ms = 42;
	int rc = time_parse_rfc3339(cases[_i].text, &ms);
	ck_assert_msg(rc == cases[_i].rc, "%s: rc %d", cases[_i].text, rc);
	if (rc == 0)
		ck_assert_msg(ms == cases[_i].ms, "%s: %lld", cases[_i].text,
			      (long long)ms);
}
END_TEST

START_TEST(format_round_trip)
{
	char out[RFC3339_LEN];
	time_format_rfc3339_ms(1795541401123, out);
	ck_assert_str_eq(out, "2026-11-24T17:30:01.123Z");
	time_format_rfc3339_ms(-1, out);
	ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
	int64_t now = time_real_ms(), back;
	time_format_rfc3339_ms(now, out);
	ck_assert_int_eq(time_parse_rfc3339(out, &back), 0);
	ck_assert_int_eq(back, now);
}
END_TEST

START_TEST(mono_advances)
{
	uint64_t a = time_mono_ns(), b = time_mono_ns();
	ck_assert_uint_ge(b, a);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, parse_table, 0,
			    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, format_round_trip);
	tcase_add_test(tc, mono_advances);
	suite_add_tcase(s, tc);
	return s;
}
