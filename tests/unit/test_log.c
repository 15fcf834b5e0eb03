#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "cleanup.h"
#include "log.h"

/* Run fn with stderr captured; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
	static char out[4096];
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	int saved = dup(STDERR_FILENO);
	dup2(pipefd[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], out, sizeof(out) - 1);
	close(pipefd[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void emit_info(void)
{
	log_max_level = LOG_LEVEL_INFO;
	log_info("mqtt", "connected host=%s port=%d", "broker", 1883);
	log_debug("mqtt", "not shown");
}

static void emit_newline(void)
{
	log_warn("config", "value=%s, ignoring", "two\nlines");
}

static void emit_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_err("agent", "%s", big);
}

static void emit_journal_probe(void)
{
	struct stat st;
	char js[64];
	fstat(STDERR_FILENO, &st);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_setup();
	log_info("agent", "hello");
	unsetenv("JOURNAL_STREAM");
	log_setup();
}

START_TEST(format_and_threshold)
{
	unsetenv("JOURNAL_STREAM");
	log_setup();
	const char *out = capture(emit_info);
	/* "2026-11-24T17:30:01.123Z info mqtt: connected host=broker
	 * port=1883\n" */
	ck_assert_msg(strlen(out) > 25 && out[4] == '-' && out[23] == 'Z', "%s",
		      out);
	ck_assert_msg(
	    strcmp(out + 25, "info mqtt: connected host=broker port=1883\n") ==
		0,
	    "%s", out);
}
END_TEST

START_TEST(one_event_one_line)
{
	const char *out = capture(emit_newline);
	ck_assert_ptr_nonnull(
	    strstr(out, "warning config: value=two lines, ignoring\n"));
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	out = capture(emit_long);
	ck_assert_uint_eq(strlen(out), 1023); /* cut, never split */
	ck_assert_int_eq(out[1022], '\n');
}
END_TEST

START_TEST(journal_prefix)
{
	/* JOURNAL_STREAM naming our stderr (the capture pipe) switches to
	 * "<N>" priorities without timestamps; set inside the capture. */
	const char *out = capture(emit_journal_probe);
	ck_assert_msg(strcmp(out, "<6>info agent: hello\n") == 0, "%s", out);
}
END_TEST

START_TEST(levels)
{
	ck_assert_int_eq(log_level_from_string("error"), LOG_LEVEL_ERR);
	ck_assert_int_eq(log_level_from_string("warning"), LOG_LEVEL_WARN);
	ck_assert_int_eq(log_level_from_string("info"), LOG_LEVEL_INFO);
	ck_assert_int_eq(log_level_from_string("debug"), LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_from_string("loud"), -EINVAL);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, format_and_threshold);
	tcase_add_test(tc, one_event_one_line);
	tcase_add_test(tc, journal_prefix);
	tcase_add_test(tc, levels);
	suite_add_tcase(s, tc);
	return s;
}
