#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cleanup.h"
#include "conf.h"

struct demo {
	char *name;
	bool on;
	unsigned count;
	double ratio;
	uint64_t size;
	double interval;
};

static const struct conf_key demo_keys[] = {
	{ "name", CONF_STRING, offsetof(struct demo, name), 0, 0 },
	{ "on", CONF_BOOL, offsetof(struct demo, on), 0, 0 },
	{ "count", CONF_UINT, offsetof(struct demo, count), 1, 10 },
	{ "ratio", CONF_DOUBLE, offsetof(struct demo, ratio), 0, 1 },
	{ "size", CONF_SIZE, offsetof(struct demo, size), 1024, 1e12 },
	{ "interval", CONF_SECONDS, offsetof(struct demo, interval), 0.1,
	  3600 },
};

static int demo_handler(void *user, const char *section, const char *key,
			const char *value, struct conf_error *err)
{
	if (strcmp(section, "demo") != 0) {
		snprintf(err->msg, sizeof(err->msg), "unknown section");
		return -ENOENT;
	}
	return conf_apply(demo_keys, ARRAY_SIZE(demo_keys), user, key, value,
			  err);
}

static int load(const char *text, struct demo *d, struct conf_error *err)
{
	memset(d, 0, sizeof(*d));
	return conf_load_string("t.conf", text, strlen(text), demo_handler, d,
				err);
}

START_TEST(good_file)
{
	struct demo d;
	struct conf_error err;
	const char *text = "; comment\n# comment\n[demo]\nname = web 1\n"
			   "on = yes\ncount = 3\nratio = 0.5\nsize = 64M\n"
			   "interval = 500ms\n";
	ck_assert_int_eq(load(text, &d, &err), 0);
	ck_assert_str_eq(d.name, "web 1");
	ck_assert(d.on);
	ck_assert_uint_eq(d.count, 3);
	ck_assert(d.ratio == 0.5);
	ck_assert_uint_eq(d.size, 64ull << 20);
	ck_assert(d.interval == 0.5);
	free(d.name);
}
END_TEST

static const struct {
	const char *text;
	int rc;
	const char *msg; /* the start of the expected message */
} bad[] = {
	{ "[demo]\nbogus = 1\n", -ENOENT,
	  "t.conf:2: [demo] bogus: unknown key" },
	{ "[other]\nname = x\n", -ENOENT,
	  "t.conf:2: [other] name: unknown section" },
	{ "[demo]\n\ncount = 11\n", -EINVAL,
	  "t.conf:3: [demo] count: '11' is not a whole number from 1 to 10" },
	{ "[demo]\ncount = 3x\n", -EINVAL, "t.conf:2: [demo] count: '3x'" },
	{ "[demo]\ncount = -1\n", -EINVAL, "t.conf:2: [demo] count: '-1'" },
	{ "[demo]\non = maybe\n", -EINVAL,
	  "t.conf:2: [demo] on: 'maybe' is not a boolean" },
	{ "[demo]\nratio = nan\n", -EINVAL, "t.conf:2: [demo] ratio:" },
	{ "[demo]\nsize = 12Q\n", -EINVAL, "t.conf:2: [demo] size:" },
	{ "[demo]\ninterval = 0.05\n", -EINVAL, "t.conf:2: [demo] interval:" },
	{ "[demo]\njust words\n", -EINVAL, "t.conf:2: syntax error" },
	{ "[demo\n", -EINVAL, "t.conf:1: syntax error" },
};

START_TEST(bad_files)
{
	struct demo d;
	struct conf_error err;
	int rc = load(bad[_i].text, &d, &err);
	ck_assert_int_eq(rc, bad[_i].rc);
	ck_assert_msg(strncmp(err.msg, bad[_i].msg, strlen(bad[_i].msg)) == 0,
		      "got '%s'", err.msg);
	free(d.name);
}
END_TEST

START_TEST(long_line_refused)
{
	char text[400];
	struct demo d;
	struct conf_error err;
	int n = snprintf(text, sizeof(text), "[demo]\nname = ");
	memset(text + n, 'a', 250);
	text[n + 250] = '\n';
	text[n + 251] = '\0';
	ck_assert_int_eq(load(text, &d, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "t.conf:2: line longer") != NULL, "%s",
		      err.msg);
	free(d.name);
}
END_TEST

START_TEST(missing_file)
{
	struct conf_error err;
	struct demo d = { 0 };
	ck_assert_int_eq(
	    conf_load("/nonexistent/x.conf", demo_handler, &d, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "/nonexistent/x.conf: cannot read") !=
			  NULL,
		      "%s", err.msg);
}
END_TEST

START_TEST(number_parsers)
{
	uint64_t u;
	double d;
	ck_assert_int_eq(
	    conf_parse_u64("18446744073709551615", 0, UINT64_MAX, &u), 0);
	ck_assert_int_eq(
	    conf_parse_u64("18446744073709551616", 0, UINT64_MAX, &u), -ERANGE);
	ck_assert_int_eq(conf_parse_u64(" 1", 0, 10, &u), -EINVAL);
	ck_assert_int_eq(conf_parse_size("1G", &u), 0);
	ck_assert_uint_eq(u, 1ull << 30);
	ck_assert_int_eq(conf_parse_size("99999999999999G", &u), -ERANGE);
	ck_assert_int_eq(conf_parse_seconds("2m", &d), 0);
	ck_assert(d == 120);
	ck_assert_int_eq(conf_parse_seconds("-1", &d), -EINVAL);
	ck_assert_int_eq(conf_parse_double("1e400", 0, 1, &d), -ERANGE);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, good_file);
	tcase_add_loop_test(tc, bad_files, 0, (int)ARRAY_SIZE(bad));
	tcase_add_test(tc, long_line_refused);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, number_parsers);
	suite_add_tcase(s, tc);
	return s;
}
