/* acgsctl's command line and settings: flags anywhere, values checked
 * before anything is sent, and the precedence flags > environment > config
 * file > defaults, with token files read and checked. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "check_main.h"
#include "settings.h"

static char argv_store[1024];

/* Split cmdline on spaces into argv (no quoting: the cases need none). */
static int parse(const char *cmdline, struct args *a, char err[ARGS_ERR_LEN])
{
	char *argv[64];
	int argc = 0;

	snprintf(argv_store, sizeof(argv_store), "acgsctl %s", cmdline);
	for (char *save, *w = strtok_r(argv_store, " ", &save); w && argc < 63;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return args_parse(argc, argv, a, err);
}

START_TEST(good)
{
	struct args a;
	char err[ARGS_ERR_LEN];

	ck_assert_int_eq(parse("fleet", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_FLEET);
	ck_assert(!a.json);

	/* Global flags before and after the command. */
	ck_assert_int_eq(parse("--url http://h:1 nodes --json --below 0.8 "
			       "-l role=web --state online --service api "
			       "--limit 20 --fail-if-any --timeout 500ms",
			       &a, err),
			 0);
	ck_assert_int_eq(a.cmd, CMD_NODES);
	ck_assert_str_eq(a.settings.url, "http://h:1");
	ck_assert(a.json && a.has_below && a.below == 0.8);
	ck_assert_str_eq(a.label, "role=web");
	ck_assert_str_eq(a.state, "online");
	ck_assert_str_eq(a.service, "api");
	ck_assert_uint_eq(a.limit, 20);
	ck_assert(a.fail_if_any);
	ck_assert(a.settings.timeout_s == 0.5);

	ck_assert_int_eq(parse("node web-1 -j", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_NODE);
	ck_assert_str_eq(a.name, "web-1");

	ck_assert_int_eq(parse("history n1 -m load --since 2h --until 1h "
			       "--step 300",
			       &a, err),
			 0);
	ck_assert_str_eq(a.metric, "load");
	ck_assert(a.since.is_duration && a.since.value == 7200);
	ck_assert(a.until.is_duration && a.until.value == 3600);
	ck_assert_int_eq(a.step_s, 300);

	ck_assert_int_eq(parse("history n1", &a, err), 0);
	ck_assert_str_eq(a.metric, "cpu"); /* the default */
	ck_assert_ptr_null(a.since.text);

	ck_assert_int_eq(parse("history n1 --since 2026-11-24T18:00:00Z "
			       "--until 2026-11-24T19:00:00Z",
			       &a, err),
			 0);
	ck_assert(!a.since.is_duration);

	ck_assert_int_eq(parse("services", &a, err), 0);
	ck_assert_ptr_null(a.name);
	ck_assert_int_eq(parse("services api", &a, err), 0);
	ck_assert_str_eq(a.name, "api");

	ck_assert_int_eq(parse("--config /x/y.conf --token-file /t "
			       "--ca-file /ca.pem compliance",
			       &a, err),
			 0);
	ck_assert_str_eq(a.settings.config, "/x/y.conf");
	ck_assert_str_eq(a.settings.token_file, "/t");
	ck_assert_str_eq(a.settings.ca_file, "/ca.pem");

	ck_assert_int_eq(parse("--help", &a, err), 0);
	ck_assert(a.help);
	ck_assert_int_eq(parse("nodes -h", &a, err), 0);
	ck_assert(a.help && a.cmd == CMD_NODES);
	ck_assert_int_eq(parse("-V", &a, err), 0);
	ck_assert(a.version);
	ck_assert_int_eq(parse("help history", &a, err), 0);
	ck_assert(a.cmd == CMD_HELP && strcmp(a.name, "history") == 0);
	/* After "--" a name may look like an option. */
	ck_assert_int_eq(parse("node -- -x", &a, err), 0);
	ck_assert_str_eq(a.name, "-x");
}
END_TEST

START_TEST(good_alerts)
{
	struct args a;
	char err[ARGS_ERR_LEN];

	ck_assert_int_eq(parse("alerts", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_ALERTS);
	ck_assert_ptr_null(a.state);
	ck_assert_uint_eq(a.history, 0);
	ck_assert(!a.fail_if_any);
	ck_assert_int_eq(parse("--state all alerts --history 1000 "
			       "--fail-if-any -j",
			       &a, err),
			 0);
	ck_assert_str_eq(a.state, "all");
	ck_assert_uint_eq(a.history, 1000);
	ck_assert(a.fail_if_any && a.json);
	ck_assert_int_eq(parse("alerts --state resolved --history 0", &a, err),
			 0);
	ck_assert_str_eq(a.state, "resolved");

	/* An id or a prefix of 8 or more, in any case, kept lowercase. */
	ck_assert_int_eq(parse("alerts ack 9D8C7B6A", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_ACK);
	ck_assert_str_eq(a.alert_id, "9d8c7b6a");
	ck_assert_ptr_null(a.comment);
	ck_assert_int_eq(parse("alerts ack "
			       "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddc"
			       "cbbaa998877665544 --comment on-it",
			       &a, err),
			 0);
	ck_assert_uint_eq(strlen(a.alert_id), 64);
	ck_assert_str_eq(a.comment, "on-it");
	/* Options before the subcommand. */
	ck_assert_int_eq(parse("--comment x alerts ack 0123456789ab", &a, err),
			 0);
	ck_assert_str_eq(a.comment, "x");

	ck_assert_int_eq(parse("silence add --match node=web-1 --match "
			       "severity=~crit.* --for 1h30m --comment deploy",
			       &a, err),
			 0);
	ck_assert_int_eq(a.cmd, CMD_SILENCE_ADD);
	ck_assert_uint_eq(a.nmatch, 2);
	ck_assert_str_eq(a.match[0], "node=web-1");
	ck_assert_str_eq(a.match[1], "severity=~crit.*");
	ck_assert_int_eq(a.for_s, 5400);
	ck_assert_ptr_null(a.until.text);
	ck_assert_ptr_null(a.start);
	ck_assert_ptr_null(a.author);
	ck_assert_str_eq(a.comment, "deploy");
	ck_assert_int_eq(parse("silence add --match node!=db-1 --match "
			       "team!~ops|sre --start 2026-11-24T18:00:00Z "
			       "--until 2026-11-25T18:00:00+01:00 --comment c "
			       "--author alice",
			       &a, err),
			 0);
	ck_assert_str_eq(a.start, "2026-11-24T18:00:00Z");
	ck_assert_int_eq(a.start_ms, 1795543200000LL);
	ck_assert_str_eq(a.until.text, "2026-11-25T18:00:00+01:00");
	ck_assert(!a.until.is_duration);
	ck_assert_int_eq(a.for_s, 0);
	ck_assert_str_eq(a.author, "alice");
	ck_assert_int_eq(parse("silence add --match a=b --for 366d --comment "
			       "\xc3\xa9t\xc3\xa9",
			       &a, err),
			 0);

	ck_assert_int_eq(parse("silence list", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_SILENCE_LIST);
	ck_assert(!a.all);
	ck_assert_int_eq(parse("silence list --all --json", &a, err), 0);
	ck_assert(a.all && a.json);
	ck_assert_int_eq(parse("silence expire 17", &a, err), 0);
	ck_assert_int_eq(a.cmd, CMD_SILENCE_EXPIRE);
	ck_assert_uint_eq(a.silence_id, 17);

	/* Help of a subcommand is its group's. */
	ck_assert_int_eq(parse("help silence add", &a, err), 0);
	ck_assert_str_eq(a.name, "silence");
	ck_assert_int_eq(parse("help alerts ack", &a, err), 0);
	ck_assert_int_eq(parse("silence add --help", &a, err), 0);
	ck_assert(a.help && a.cmd == CMD_SILENCE_ADD);
	ck_assert_int_eq(args_cmd_group(CMD_SILENCE_EXPIRE), CMD_SILENCE);
	ck_assert_int_eq(args_cmd_group(CMD_ACK), CMD_ALERTS);
	ck_assert_int_eq(args_cmd_group(CMD_NODES), CMD_NODES);
}
END_TEST

/* 33 matchers, and text too long or not UTF-8: argv built by hand. */
START_TEST(silence_limits)
{
	const char *argv[128];
	char words[40][16], err[ARGS_ERR_LEN];
	static char big[1100];
	struct args a;
	int argc = 0;

	argv[argc++] = "acgsctl";
	argv[argc++] = "silence";
	argv[argc++] = "add";
	argv[argc++] = "--for";
	argv[argc++] = "1h";
	argv[argc++] = "--comment";
	argv[argc++] = big;
	memset(big, 'c', 1024);
	for (int i = 0; i < 32; i++) {
		snprintf(words[i], sizeof(words[i]), "l%d=v", i);
		argv[argc++] = "--match";
		argv[argc++] = words[i];
	}
	argv[argc] = NULL;
	ck_assert_msg(args_parse(argc, (char **)argv, &a, err) == 0, "%s", err);
	ck_assert_uint_eq(a.nmatch, 32);
	argv[argc++] = "--match";
	argv[argc++] = "one=more";
	argv[argc] = NULL;
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), -EINVAL);
	ck_assert_str_eq(err, "--match: at most 32 matchers");

	argc = 7;
	argv[argc++] = "--match";
	argv[argc++] = "a=b";
	argv[argc] = NULL;
	big[1024] = 'c';
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), -EINVAL);
	ck_assert_str_eq(err, "--comment: 1025 bytes, not 1 to 1024");
	big[1024] = '\0';
	argv[argc++] = "--author";
	argv[argc++] = big + 1024 - 129;
	argv[argc] = NULL;
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), -EINVAL);
	ck_assert_str_eq(err, "--author: 129 bytes, not 1 to 128");
	argv[argc - 1] = big + 1024 - 128;
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), 0);
	argv[argc - 1] = "";
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), -EINVAL);
	ck_assert_str_eq(err, "--author: 0 bytes, not 1 to 128");
	argv[argc - 1] = "caf\xe9";
	ck_assert_int_eq(args_parse(argc, (char **)argv, &a, err), -EINVAL);
	ck_assert_str_eq(err, "--author: not valid UTF-8 (check the "
			      "terminal's encoding)");
}
END_TEST

static const struct {
	const char *cmdline;
	const char *err; /* the start of the message */
} bad[] = {
	{ "", "no command given" },
	{ "--json", "no command given" },
	{ "fleets", "unknown command 'fleets'" },
	{ "fleet extra", "unexpected argument 'extra'" },
	{ "nodes x", "unexpected argument 'x'" },
	{ "node a b", "unexpected argument 'b'" },
	{ "node", "node: which node?" },
	{ "history", "history: which node?" },
	{ "fleet --bogus", "unknown option '--bogus'" },
	{ "fleet -x", "unknown option '-x'" },
	{ "fleet --json=yes", "option '--json=yes' takes no value" },
	{ "nodes --below", "option '--below' needs a value" },
	{ "nodes --below 1.5", "--below '1.5': not a score from 0 to 1" },
	{ "nodes --below abc", "--below 'abc'" },
	{ "nodes --state up", "--state 'up': not online, stale or offline" },
	{ "nodes --label role", "--label 'role': not KEY=VALUE" },
	{ "nodes --label =web", "--label '=web': not KEY=VALUE" },
	{ "nodes --label a=1 --label b=2", "--label given twice" },
	{ "nodes --limit 0", "--limit '0'" },
	{ "nodes --limit 2x", "--limit '2x'" },
	{ "fleet --below 0.5", "--below does not apply to 'fleet'" },
	{ "node n1 --metric cpu", "--metric does not apply to 'node'" },
	{ "history n1 --label a=b", "--label does not apply to 'history'" },
	{ "history n1 --since 1x", "--since '1x': not a duration" },
	{ "history n1 --since 0s", "--since '0s': not a duration" },
	{ "history n1 --until 4000d", "--until '4000d': longer than" },
	{ "history n1 --step 1.5m", "--step '1.5m': not a duration" },
	{ "history n1 --since 1h --until 2h", "--since 1h ago is not before" },
	{ "history n1 --since 2026-11-24T19:00:00Z --until "
	  "2026-11-24T18:00:00Z",
	  "--since must be before --until" },
	{ "fleet --timeout 0", "--timeout '0'" },
	{ "fleet --timeout 2h", "--timeout '2h'" },
	{ "help bogus", "help: unknown command 'bogus'" },
	{ "fleet --token-file", "option '--token-file' needs a value" },
	/* alerts */
	{ "alerts --state online", "--state 'online': not firing, pending, "
				   "resolved or all" },
	{ "nodes --state firing", "--state 'firing': not online, stale or "
				  "offline" },
	{ "alerts --history 1001", "--history '1001': not a whole number "
				   "from 0 to 1000" },
	{ "alerts --history -1", "--history '-1'" },
	{ "alerts x", "unexpected argument 'x'" },
	{ "alerts --all", "--all does not apply to 'alerts'" },
	{ "alerts --comment x", "--comment does not apply to 'alerts'" },
	{ "alerts ack", "alerts ack: which alert?" },
	{ "alerts ack 0123456", "alerts ack '0123456': not an alert id (8 to "
				"64 hex digits" },
	{ "alerts ack 0123456g", "alerts ack '0123456g': not an alert id" },
	{ "alerts ack 0123456789abcdef0123456789abcdef0123456789abcdef0123456"
	  "789abcdef0",
	  "alerts ack '0123456789abcdef0123456789abcdef0123456789abcdef012345"
	  "6789abcdef0': not an alert id" },
	{ "alerts ack 01234567 89abcdef", "unexpected argument '89abcdef'" },
	{ "alerts ack 01234567 --state firing",
	  "--state does not apply to 'alerts ack'" },
	{ "alerts ack 01234567 --comment", "option '--comment' needs a "
					   "value" },
	/* silence */
	{ "silence", "silence: add, list or expire?" },
	{ "silence --all", "silence: add, list or expire?" },
	{ "silence remove 3", "silence: 'remove' is not add, list or expire" },
	{ "silence add --for 1h --comment x", "silence add: which alerts? "
					      "(--match NAME=VALUE" },
	{ "silence add --match a=b --for 1h", "silence add: --comment is "
					      "required" },
	{ "silence add --match a=b --comment x", "silence add: give --for "
						 "DURATION or --until TIME" },
	{ "silence add --match a=b --comment x --for 1h --until "
	  "2026-11-24T18:00:00Z",
	  "silence add: give --for DURATION or --until TIME" },
	{ "silence add --match a=b --comment x --until 1h",
	  "--until '1h': an RFC 3339 time for silence add (for a duration, "
	  "--for 1h)" },
	{ "silence add --match a=b --comment x --for 367d",
	  "--for '367d': longer than 366 days" },
	{ "silence add --match a=b --comment x --for 4000d",
	  "--for '4000d': longer than 366 days" },
	{ "silence add --match a=b --comment x --for 0s", "--for '0s': not a "
							  "duration" },
	{ "silence add --match a=b --comment x --for 90", "--for '90': not a "
							  "duration" },
	{ "silence add --match a=b --comment x --start tomorrow --for 1h",
	  "--start 'tomorrow': not an RFC 3339 time" },
	{ "silence add --match a=b --comment x --start 1h --for 1h",
	  "--start '1h': not an RFC 3339 time" },
	{ "silence add --match a=b --comment x --start 2026-11-24T18:00:00Z "
	  "--until 2026-11-24T18:00:00Z",
	  "--until must be after --start" },
	{ "silence add --match a=b --comment x --start 2026-11-24T18:00:00Z "
	  "--until 2027-11-25T18:00:01Z",
	  "--until is more than 366 days after --start" },
	{ "silence add --match node --comment x --for 1h",
	  "--match 'node': not NAME=VALUE, NAME!=VALUE, NAME=~REGEX or "
	  "NAME!~REGEX" },
	{ "silence add --match =web-1", "--match '=web-1': not NAME=VALUE" },
	{ "silence add --match 1node=a", "--match '1node=a'" },
	{ "silence add --match node~a", "--match 'node~a'" },
	{ "silence add --match node!a", "--match 'node!a'" },
	{ "silence add --match node=\xff", "--match 'node=\xff'" },
	{ "silence add --match a=b --comment \xff --for 1h",
	  "--comment: not valid UTF-8" },
	{ "silence add x", "unexpected argument 'x'" },
	{ "silence add --match a=b --comment x --for 1h --all",
	  "--all does not apply to 'silence add'" },
	{ "silence add --match a=b --comment x --for 1h --history 3",
	  "--history does not apply to 'silence add'" },
	{ "silence list 3", "unexpected argument '3'" },
	{ "silence list --match a=b", "--match does not apply to 'silence "
				      "list'" },
	{ "silence expire", "silence expire: which silence?" },
	{ "silence expire 0", "silence expire '0': not a silence id" },
	{ "silence expire abc", "silence expire 'abc': not a silence id" },
	{ "silence expire 3 4", "unexpected argument '4'" },
	{ "silence expire 3 --for 1h", "--for does not apply to 'silence "
				       "expire'" },
	{ "history n1 --for 1h", "--for does not apply to 'history'" },
	{ "help silence remove", "unexpected argument 'remove'" },
	{ "help ack", "help: unknown command 'ack'" },
	{ "alerts ack 01234567 --until 2026-11-24T18:00:00Z",
	  "--until does not apply to 'alerts ack'" },
};

START_TEST(usage_errors)
{
	struct args a;
	char err[ARGS_ERR_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i].cmdline, &a, err);
		ck_assert_msg(r == -EINVAL, "'%s' accepted", bad[i].cmdline);
		ck_assert_msg(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
			      "'%s': '%s'", bad[i].cmdline, err);
	}
}
END_TEST

START_TEST(help_text)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(args_help(CMD_NONE, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Usage: acgsctl [OPTIONS]"));
	ck_assert_ptr_nonnull(strstr(b.data, "Exit status:"));
	buf_reset(&b);
	ck_assert_int_eq(args_help(CMD_HISTORY, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Usage: acgsctl history ID"));
	ck_assert_ptr_nonnull(strstr(b.data, "--token-file"));
	buf_reset(&b);
	ck_assert_int_eq(args_help(CMD_SILENCE_ADD, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Usage: acgsctl silence add"));
	ck_assert_ptr_nonnull(strstr(b.data, "acgsctl silence expire ID"));
	buf_reset(&b);
	ck_assert_int_eq(args_help(CMD_ACK, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "acgsctl alerts ack ID"));
	buf_release(&b);
	/* Top-level names come back; subcommands are not commands alone. */
	for (int c = CMD_NONE + 1; c < _CMD_MAX; c++)
		ck_assert_int_eq(args_cmd_from_name(args_cmd_name(c)),
				 (int)args_cmd_group(c) == c ? c : CMD_NONE);
	ck_assert_int_eq(args_cmd_from_name("silence add"), CMD_NONE);
}
END_TEST

/* Settings precedence, in a scratch HOME with no environment of ours. */
static char dir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void setup(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/acgsctl-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("HOME", dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("ACGS_CONFIG");
	unsetenv("ACGS_URL");
	unsetenv("ACGS_TOKEN");
	unsetenv("ACGS_TOKEN_FILE");
	snprintf(path, sizeof(path), "%s/.config", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/acgs", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cfg-token", dir);
	write_file(path, "acgs_from_config\n", 0600);
	snprintf(path, sizeof(path), "%s/env-token", dir);
	write_file(path, "acgs_from_env_file\n", 0600);
	snprintf(path, sizeof(path), "%s/flag-token", dir);
	write_file(path, "  acgs_from_flag \r\n", 0644);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void default_config(const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/.config/acgs/acgsctl.conf", dir);
	write_file(path, text, 0600);
}

START_TEST(defaults)
{
	struct settings_flags f = { 0 };
	struct settings s;
	char err[SETTINGS_ERR_LEN];

	/* No config file at the default path is fine. */
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://127.0.0.1:8080");
	ck_assert_ptr_null(s.token);
	ck_assert_ptr_null(s.config);
	ck_assert(s.timeout_s == 10);
	settings_release(&s);
}
END_TEST

START_TEST(precedence)
{
	struct settings_flags f = { 0 };
	struct settings s;
	char err[SETTINGS_ERR_LEN], flag_token[128];

	/* A relative token_file is taken from the config file's directory. */
	default_config("; constitutional hash cdd01ef066bc6cf2\n"
		       "[acgsctl]\nurl = http://config:1/\n"
		       "token_file = ../../cfg-token\ntimeout = 2m\n");
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://config:1");
	ck_assert_str_eq(s.token, "acgs_from_config");
	ck_assert(!s.token_file_loose);
	ck_assert(s.timeout_s == 120);
	ck_assert_ptr_nonnull(strstr(s.config, "/.config/acgs/acgsctl.conf"));
	settings_release(&s);

	/* The environment beats the file. */
	setenv("ACGS_URL", "https://env:2", 1);
	char env_token[128];
	snprintf(env_token, sizeof(env_token), "%s/env-token", dir);
	setenv("ACGS_TOKEN_FILE", env_token, 1);
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "https://env:2");
	ck_assert_str_eq(s.token, "acgs_from_env_file");
	ck_assert_str_eq(s.token_from, env_token);
	settings_release(&s);

	/* ACGS_TOKEN beats ACGS_TOKEN_FILE. */
	setenv("ACGS_TOKEN", "acgs_from_env", 1);
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.token, "acgs_from_env");
	ck_assert_str_eq(s.token_from, "ACGS_TOKEN");
	settings_release(&s);

	/* Flags beat everything; a 0644 token file is used, with a flag
	 * for the warning. Trailing blanks and CRLF are dropped;
	 * leading ones make it no token. */
	snprintf(flag_token, sizeof(flag_token), "%s/flag-token", dir);
	f.url = "http://flag:3";
	f.token_file = flag_token;
	f.timeout_s = 3;
	ck_assert_int_eq(settings_resolve(&f, &s, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a token"));
	settings_release(&s);
	write_file(flag_token, "acgs_from_flag \r\n", 0644);
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://flag:3");
	ck_assert_str_eq(s.token, "acgs_from_flag");
	ck_assert(s.token_file_loose);
	ck_assert_uint_eq(s.token_file_mode, 0644);
	ck_assert(s.timeout_s == 3);
	settings_release(&s);
}
END_TEST

START_TEST(config_paths)
{
	struct settings_flags f = { 0 };
	struct settings s;
	char err[SETTINGS_ERR_LEN], path[128];

	/* $XDG_CONFIG_HOME is used when set. */
	snprintf(path, sizeof(path), "%s/xdg", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xdg/acgs", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xdg/acgs/acgsctl.conf", dir);
	write_file(path, "[acgsctl]\nurl = http://xdg:4\n", 0600);
	snprintf(path, sizeof(path), "%s/xdg", dir);
	setenv("XDG_CONFIG_HOME", path, 1);
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://xdg:4");
	settings_release(&s);

	/* $ACGS_CONFIG beats it, and must exist. */
	snprintf(path, sizeof(path), "%s/other.conf", dir);
	write_file(path, "[acgsctl]\nurl = http://other:5\n", 0600);
	setenv("ACGS_CONFIG", path, 1);
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://other:5");
	settings_release(&s);
	setenv("ACGS_CONFIG", "/nonexistent/acgsctl.conf", 1);
	ck_assert_int_eq(settings_resolve(&f, &s, err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/acgsctl.conf"));
	settings_release(&s);

	/* --config beats $ACGS_CONFIG. */
	f.config = path;
	ck_assert_int_eq(settings_resolve(&f, &s, err), 0);
	ck_assert_str_eq(s.url, "http://other:5");
	settings_release(&s);
}
END_TEST

START_TEST(bad_settings)
{
	static const struct {
		const char *config;
		const char *env_token;
		const char *err;
	} cases[] = {
		{ "[acgsctl]\nurl = ftp://x\n", NULL, "'ftp://x' is not an" },
		{ "[acgsctl]\nbogus = 1\n", NULL,
		  "acgsctl.conf:2: [acgsctl] bogus: unknown key" },
		{ "[agent]\nurl = http://x\n", NULL,
		  "acgsctl.conf:2: [agent] url: unknown section" },
		{ "[acgsctl]\ntimeout = 0\n", NULL, "acgsctl.conf:2:" },
		{ "[acgsctl]\ntoken_file = missing\n", NULL, "token file " },
		{ "", "two words", "ACGS_TOKEN is not a token" },
		{ "", "line\nbreak", "ACGS_TOKEN is not a token" },
	};
	struct settings_flags f = { 0 };
	struct settings s;
	char err[SETTINGS_ERR_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		default_config(cases[i].config);
		if (cases[i].env_token)
			setenv("ACGS_TOKEN", cases[i].env_token, 1);
		else
			unsetenv("ACGS_TOKEN");
		ck_assert_msg(settings_resolve(&f, &s, err) < 0, "case %zu", i);
		ck_assert_msg(strstr(err, cases[i].err), "case %zu: '%s'", i,
			      err);
		settings_release(&s);
	}
}
END_TEST

START_TEST(token_files)
{
	char path[128], err[SETTINGS_ERR_LEN], *tok = NULL;
	unsigned mode = 0;

	snprintf(path, sizeof(path), "%s/t", dir);
	write_file(path, "acgs_ok\n", 0400);
	ck_assert_int_eq(settings_read_token(path, &tok, &mode, err), 0);
	ck_assert_str_eq(tok, "acgs_ok");
	ck_assert_uint_eq(mode, 0400);
	free(tok);
	tok = NULL;

	write_file(path, "", 0600);
	ck_assert_int_eq(settings_read_token(path, &tok, &mode, err), -EINVAL);
	write_file(path, "acgs_a\nacgs_b\n", 0600);
	ck_assert_int_eq(settings_read_token(path, &tok, &mode, err), -EINVAL);
	char big[SETTINGS_MAX_TOKEN + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big, 0600);
	ck_assert_int_eq(settings_read_token(path, &tok, &mode, err), -EINVAL);
	ck_assert_int_eq(settings_read_token(dir, &tok, &mode, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert_int_eq(settings_read_token("/nonexistent", &tok, &mode, err),
			 -ENOENT);
	ck_assert_ptr_null(tok);
	/* The token never appears in a message. */
	write_file(path, "acgs_secret with space", 0600);
	ck_assert_int_eq(settings_read_token(path, &tok, &mode, err), -EINVAL);
	ck_assert_ptr_null(strstr(err, "secret"));
}
END_TEST

/* The annotated example that deploy/ ships loads as it is. */
START_TEST(shipped_example)
{
	const char *path = FIXTURES_DIR "/../../deploy/config/acgsctl.conf";
	struct settings_flags f = { .config = path };
	struct settings s;
	char err[SETTINGS_ERR_LEN], tok[256];

	/* Its token_file ("token" beside it) does not exist here; the
	 * environment wins over it, as it would for an operator. */
	snprintf(tok, sizeof(tok), "%s/flag-token", getenv("HOME"));
	write_file(tok, "acgs_example\n", 0600);
	setenv("ACGS_TOKEN_FILE", tok, 1);
	ck_assert_msg(settings_resolve(&f, &s, err) == 0, "%s", err);
	ck_assert_str_eq(s.url, "http://127.0.0.1:8080");
	ck_assert(s.timeout_s == 10);
	ck_assert_ptr_null(s.ca_file);
	ck_assert_str_eq(s.token, "acgs_example");
	settings_release(&s);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("cli_args");
	TCase *tc = tcase_create("args");
	tcase_add_test(tc, good);
	tcase_add_test(tc, good_alerts);
	tcase_add_test(tc, silence_limits);
	tcase_add_test(tc, usage_errors);
	tcase_add_test(tc, help_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("settings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, precedence);
	tcase_add_test(tc, config_paths);
	tcase_add_test(tc, bad_settings);
	tcase_add_test(tc, token_files);
	tcase_add_test(tc, shipped_example);
	suite_add_tcase(s, tc);
	return s;
}
