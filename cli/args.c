#include "config.h"

#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "conf.h"
#include "duration.h"
#include "timeutil.h"
#include "utf8.h"

#define BIT(c)	 (1u << (c))
#define ALL_CMDS (~0u)

static const char *const cmd_names[_CMD_MAX] = {
	[CMD_FLEET] = "fleet",
	[CMD_NODES] = "nodes",
	[CMD_NODE] = "node",
	[CMD_HISTORY] = "history",
	[CMD_SERVICES] = "services",
	[CMD_COMPLIANCE] = "compliance",
	[CMD_ALERTS] = "alerts",
	[CMD_ACK] = "alerts ack",
	[CMD_SILENCE] = "silence",
	[CMD_SILENCE_ADD] = "silence add",
	[CMD_SILENCE_LIST] = "silence list",
	[CMD_SILENCE_EXPIRE] = "silence expire",
	[CMD_HELP] = "help",
};

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  -u, --url URL          server API (default " SETTINGS_DEFAULT_URL ")\n"
    "      --token-file FILE  file holding the bearer token\n"
    "  -c, --config FILE      config file (default\n"
    "                         ~/.config/acgs/acgsctl.conf)\n"
    "      --ca-file FILE     CA certificates for an https:// URL\n"
    "      --timeout SECONDS  for the whole request (default 10; 500ms, "
    "1m)\n"
    "  -j, --json             print the server's JSON instead of a table\n"
    "  -V, --version          print the version and exit\n"
    "  -h, --help             print help and exit\n";

static const char overview[] =
    "Usage: acgsctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "The operator's client of the acgs-server HTTP API.\n"
    "\n"
    "Commands:\n"
    "  fleet                  fleet score, nodes by state, compliance\n"
    "  nodes                  list nodes with their scores (filters: "
    "--below,\n"
    "                         --label, --state, --service, --limit)\n"
    "  node ID                one node: score, components, latest sample,\n"
    "                         probes, compliance failures\n"
    "  history ID             a metric of a node over time (--metric, "
    "--since,\n"
    "                         --until, --step)\n"
    "  services [NAME]        service scores, or one service's members\n"
    "  compliance             nodes whose files fail the hash checks\n"
    "  alerts                 firing and pending alerts (--state, "
    "--history,\n"
    "                         --fail-if-any)\n"
    "  alerts ack ID          acknowledge an alert (--comment)\n"
    "  silence add            mute the alerts matching --match for a "
    "while\n"
    "  silence list           active and pending silences (--all: "
    "expired too)\n"
    "  silence expire ID      end a silence now\n"
    "  help [COMMAND]         this help, or a command's\n"
    "\n";

static const char exit_help[] =
    "\n"
    "Settings: flags, then ACGS_URL, ACGS_TOKEN, ACGS_TOKEN_FILE, then the\n"
    "config file (--config, $ACGS_CONFIG, $XDG_CONFIG_HOME/acgs/"
    "acgsctl.conf).\n"
    "Exit status: 0 ok, 1 server error, 2 usage, 3 unreachable or not an\n"
    "acgs server, 4 token rejected or lacking the role, 5 not found,\n"
    "6 nodes or alerts --fail-if-any matched. Documentation: "
    "docs/acgsctl.md.\n";

static const char alerts_help[] =
    "Usage: acgsctl alerts [--state firing|pending|resolved|all] "
    "[--history N]\n"
    "                      [--fail-if-any]\n"
    "       acgsctl alerts ack ID [--comment TEXT]\n"
    "\n"
    "Alerts, by default the firing and pending ones: ID (12 hex digits), "
    "state,\n"
    "severity, rule, node or service (and probe), value, time in that "
    "state, and\n"
    "whether a silence, an inhibition or an acknowledgement applies.\n"
    "'alerts ack' acknowledges a pending or firing alert (operator "
    "token); ID is\n"
    "the ID column or any unique prefix of 8 to 64 hex digits.\n"
    "\n"
    "      --state STATE      firing, pending, resolved or all\n"
    "      --history N        also the last N state changes (0 to 1000)\n"
    "      --fail-if-any      exit 6 when any alert is listed (for "
    "scripts)\n"
    "      --comment TEXT     ack: a note for the others, up to 1024 "
    "bytes\n";

static const char silence_help[] =
    "Usage: acgsctl silence add --match MATCHER [--match ...]\n"
    "                           (--for DURATION | --until TIME) "
    "[--start TIME]\n"
    "                           --comment TEXT [--author NAME]\n"
    "       acgsctl silence list [--all]\n"
    "       acgsctl silence expire ID\n"
    "\n"
    "A silence mutes the notifications of the alerts whose labels match "
    "all its\n"
    "matchers, from its start to its end. add (operator token) prints the "
    "new\n"
    "silence's id; list shows the active and pending ones; expire (operator)"
    "\n"
    "ends one now.\n"
    "\n"
    "      --match MATCHER    NAME=VALUE, NAME!=VALUE, NAME=~REGEX or "
    "NAME!~REGEX,\n"
    "                         1 to 32 of them: --match node=web-1 --match\n"
    "                         'severity=~crit.*'\n"
    "      --for DURATION     how long from the start: 90s, 15m, 1h30m, 2d "
    "(at\n"
    "                         most 366d)\n"
    "      --until TIME       or the end, an RFC 3339 time "
    "(2026-11-24T18:00:00Z)\n"
    "      --start TIME       start later, at an RFC 3339 time (default "
    "now)\n"
    "      --comment TEXT     why (required, 1 to 1024 bytes)\n"
    "      --author NAME      who (1 to 128 bytes; default: the token's "
    "name)\n"
    "      --all              list: expired silences too\n";

static const char *const cmd_help[_CMD_MAX] = {
	[CMD_FLEET] = "Usage: acgsctl fleet\n"
		      "\n"
		      "The fleet score, its service components, the nodes by "
		      "state and the\n"
		      "compliance ratio.\n",
	[CMD_NODES] =
	    "Usage: acgsctl nodes [--below SCORE] [--label KEY=VALUE]\n"
	    "                     [--state online|stale|offline] "
	    "[--service NAME]\n"
	    "                     [--limit N] [--fail-if-any]\n"
	    "\n"
	    "Nodes with their score and its components, every node unless "
	    "--limit.\n"
	    "\n"
	    "      --below SCORE      only nodes scoring under SCORE (0 to 1)\n"
	    "  -l, --label KEY=VALUE  only nodes carrying this label\n"
	    "      --state STATE      only nodes online, stale or offline\n"
	    "      --service NAME     only nodes running this service\n"
	    "      --limit N          at most N nodes\n"
	    "      --fail-if-any      exit 6 when any node matches (for "
	    "scripts)\n",
	[CMD_NODE] = "Usage: acgsctl node ID\n"
		     "\n"
		     "One node: state, score and components, labels, the "
		     "latest sample's\n"
		     "resources, its filesystems, probes and compliance "
		     "failures.\n",
	[CMD_HISTORY] =
	    "Usage: acgsctl history ID [--metric NAME] [--since T] [--until "
	    "T]\n"
	    "                          [--step DURATION]\n"
	    "\n"
	    "A metric of one node over time, a TIME VALUE table.\n"
	    "\n"
	    "  -m, --metric NAME   cpu (default), mem, swap, load, load5, "
	    "load15,\n"
	    "                      disk, net_rx, net_tx, psi_cpu_some,\n"
	    "                      psi_memory_some, psi_io_some, procs, fds,\n"
	    "                      compliance, score\n"
	    "      --since T       start: a duration before now (90s, 15m, 1h, "
	    "7d,\n"
	    "                      1h30m) or an RFC 3339 time (default 1h)\n"
	    "      --until T       end, the same way (default now)\n"
	    "      --step D        one point per D (1m, 300, 1h); default: "
	    "the\n"
	    "                      server picks at most ~300 points\n",
	[CMD_SERVICES] = "Usage: acgsctl services [NAME]\n"
			 "\n"
			 "Service scores with their nodes and failing probes; "
			 "with NAME, that\n"
			 "service's members and their probes.\n",
	[CMD_COMPLIANCE] = "Usage: acgsctl compliance\n"
			   "\n"
			   "The fleet's compliance ratio and every file that "
			   "fails its hash check.\n",
	[CMD_ALERTS] = alerts_help,
	[CMD_ACK] = alerts_help,
	[CMD_SILENCE] = silence_help,
	[CMD_SILENCE_ADD] = silence_help,
	[CMD_SILENCE_LIST] = silence_help,
	[CMD_SILENCE_EXPIRE] = silence_help,
	[CMD_HELP] = "Usage: acgsctl help [COMMAND]\n",
};

const char *args_cmd_name(enum args_cmd cmd)
{
	return cmd > CMD_NONE && cmd < _CMD_MAX ? cmd_names[cmd] : NULL;
}

enum args_cmd args_cmd_group(enum args_cmd cmd)
{
	switch (cmd) {
	case CMD_ACK:
		return CMD_ALERTS;
	case CMD_SILENCE_ADD:
	case CMD_SILENCE_LIST:
	case CMD_SILENCE_EXPIRE:
		return CMD_SILENCE;
	default:
		return cmd;
	}
}

enum args_cmd args_cmd_from_name(const char *s)
{
	for (int i = CMD_NONE + 1; i < _CMD_MAX; i++)
		if ((int)args_cmd_group((enum args_cmd)i) == i &&
		    strcmp(s, cmd_names[i]) == 0)
			return (enum args_cmd)i;
	return CMD_NONE;
}

int args_help(enum args_cmd cmd, struct buf *out)
{
	int r;

	if (cmd <= CMD_NONE || cmd >= _CMD_MAX || cmd == CMD_HELP)
		r = buf_puts(out, overview);
	else
		r = buf_printf(out, "%s\n", cmd_help[cmd]);
	if (!r)
		r = buf_puts(out, global_help);
	if (!r)
		r = buf_puts(out, exit_help);
	return r;
}

enum {
	OPT_TOKEN_FILE = 256,
	OPT_CA_FILE,
	OPT_TIMEOUT,
	OPT_BELOW,
	OPT_STATE,
	OPT_SERVICE,
	OPT_LIMIT,
	OPT_FAIL_IF_ANY,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_STEP,
	OPT_HISTORY,
	OPT_COMMENT,
	OPT_MATCH,
	OPT_FOR,
	OPT_START,
	OPT_AUTHOR,
	OPT_ALL,
};

static const struct option long_opts[] = {
	{ "url", required_argument, NULL, 'u' },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "config", required_argument, NULL, 'c' },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, 'j' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "below", required_argument, NULL, OPT_BELOW },
	{ "label", required_argument, NULL, 'l' },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "fail-if-any", no_argument, NULL, OPT_FAIL_IF_ANY },
	{ "metric", required_argument, NULL, 'm' },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "step", required_argument, NULL, OPT_STEP },
	{ "history", required_argument, NULL, OPT_HISTORY },
	{ "comment", required_argument, NULL, OPT_COMMENT },
	{ "match", required_argument, NULL, OPT_MATCH },
	{ "for", required_argument, NULL, OPT_FOR },
	{ "start", required_argument, NULL, OPT_START },
	{ "author", required_argument, NULL, OPT_AUTHOR },
	{ "all", no_argument, NULL, OPT_ALL },
	{ 0 },
};

/* Which commands take an option (global ones: all). */
static unsigned option_cmds(int c)
{
	switch (c) {
	case OPT_BELOW:
	case 'l':
	case OPT_SERVICE:
	case OPT_LIMIT:
		return BIT(CMD_NODES);
	case OPT_STATE:
	case OPT_FAIL_IF_ANY:
		return BIT(CMD_NODES) | BIT(CMD_ALERTS);
	case 'm':
	case OPT_SINCE:
	case OPT_STEP:
		return BIT(CMD_HISTORY);
	case OPT_UNTIL:
		return BIT(CMD_HISTORY) | BIT(CMD_SILENCE_ADD);
	case OPT_HISTORY:
		return BIT(CMD_ALERTS);
	case OPT_COMMENT:
		return BIT(CMD_ACK) | BIT(CMD_SILENCE_ADD);
	case OPT_MATCH:
	case OPT_FOR:
	case OPT_START:
	case OPT_AUTHOR:
		return BIT(CMD_SILENCE_ADD);
	case OPT_ALL:
		return BIT(CMD_SILENCE_LIST);
	default:
		return ALL_CMDS;
	}
}

static const char *option_name(int c)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

#define FAIL(...)                                                              \
	do {                                                                   \
		snprintf(err, ARGS_ERR_LEN, __VA_ARGS__);                      \
		return -EINVAL;                                                \
	} while (0)

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

/* Text the server takes as a JSON string of 1 to max bytes of UTF-8: a
 * comment typed in a Latin-1 terminal is refused here, not by the server
 * after the request. */
static int take_text(const char *opt, const char *v, size_t max,
		     const char **ret, char err[ARGS_ERR_LEN])
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		FAIL("--%s: %zu bytes, not 1 to %zu", opt, n, max);
	if (!utf8_valid(v))
		FAIL("--%s: not valid UTF-8 (check the terminal's encoding)",
		     opt);
	*ret = v;
	return 0;
}

/* The shape of a matcher: a label name, then =, !=, =~ or !~. The server
 * checks the rest (value length, regular expression, quoting). */
static bool matcher_looks_valid(const char *v)
{
	size_t n = 0;

	while ((v[n] >= 'a' && v[n] <= 'z') || (v[n] >= 'A' && v[n] <= 'Z') ||
	       v[n] == '_' || (n && v[n] >= '0' && v[n] <= '9'))
		n++;
	if (!n)
		return false;
	while (v[n] == ' ')
		n++;
	return v[n] == '=' ||
	       (v[n] == '!' && (v[n + 1] == '=' || v[n + 1] == '~'));
}
static int parse_time(const char *opt, const char *v, struct args_time *t,
		      char err[ARGS_ERR_LEN])
{
	int r = duration_or_time(v, &t->is_duration, &t->value);

	if (r == -ERANGE)
		FAIL("--%s '%s': longer than 3650 days", opt, v);
	if (r < 0)
		FAIL("--%s '%s': not a duration (90s, 15m, 1h, 7d, 1h30m) nor "
		     "an RFC 3339 time (2026-11-24T18:00:00Z)",
		     opt, v);
	t->text = v;
	return 0;
}

/* One option's value into a; the command is not known yet. */
static int take_option(struct args *a, int c, const char *v,
		       char err[ARGS_ERR_LEN])
{
	uint64_t u;
	double d;

	switch (c) {
	case 'u':
		a->settings.url = v;
		return 0;
	case OPT_TOKEN_FILE:
		if (!*v)
			FAIL("--token-file needs a file name");
		a->settings.token_file = v;
		return 0;
	case 'c':
		if (!*v)
			FAIL("--config needs a file name");
		a->settings.config = v;
		return 0;
	case OPT_CA_FILE:
		if (!*v)
			FAIL("--ca-file needs a file name");
		a->settings.ca_file = v;
		return 0;
	case OPT_TIMEOUT:
		if (conf_parse_seconds(v, &d) < 0 || d < 0.1 || d > 3600)
			FAIL("--timeout '%s': not a duration from 0.1 to 3600 "
			     "seconds (10, 500ms, 2m)",
			     v);
		a->settings.timeout_s = d;
		return 0;
	case 'j':
		a->json = true;
		return 0;
	case 'V':
		a->version = true;
		return 0;
	case 'h':
		a->help = true;
		return 0;
	case OPT_BELOW:
		if (conf_parse_double(v, 0, 1, &a->below) < 0)
			FAIL("--below '%s': not a score from 0 to 1", v);
		a->has_below = true;
		return 0;
	case 'l': {
		const char *eq = strchr(v, '=');
		if (a->label)
			FAIL("--label given twice (the server filters on one "
			     "label)");
		if (!eq || eq == v)
			FAIL("--label '%s': not KEY=VALUE", v);
		a->label = v;
		return 0;
	}
	case OPT_STATE:
		/* Its values depend on the command: see check(). */
		a->state = v;
		return 0;
	case OPT_SERVICE:
		if (!*v)
			FAIL("--service needs a service name");
		a->service = v;
		return 0;
	case OPT_LIMIT:
		if (conf_parse_u64(v, 1, 1000000, &u) < 0)
			FAIL("--limit '%s': not a whole number from 1 to "
			     "1000000",
			     v);
		a->limit = (unsigned)u;
		return 0;
	case OPT_FAIL_IF_ANY:
		a->fail_if_any = true;
		return 0;
	case 'm':
		if (!*v)
			FAIL("--metric needs a metric name");
		a->metric = v;
		return 0;
	case OPT_SINCE:
		return parse_time("since", v, &a->since, err);
	case OPT_UNTIL:
		return parse_time("until", v, &a->until, err);
	case OPT_STEP: {
		int64_t s;
		int r = duration_parse(v, true, &s);
		if (r == -ERANGE)
			FAIL("--step '%s': longer than 3650 days", v);
		if (r < 0)
			FAIL("--step '%s': not a duration (60, 1m, 1h)", v);
		a->step_s = s;
		return 0;
	}
	case OPT_HISTORY:
		if (conf_parse_u64(v, 0, 1000, &u) < 0)
			FAIL(
			    "--history '%s': not a whole number from 0 to 1000",
			    v);
		a->history = (unsigned)u;
		return 0;
	case OPT_COMMENT:
		return take_text("comment", v, ARGS_COMMENT_MAX, &a->comment,
				 err);
	case OPT_AUTHOR:
		return take_text("author", v, ARGS_AUTHOR_MAX, &a->author, err);
	case OPT_MATCH:
		if (a->nmatch == ARGS_MATCH_MAX)
			FAIL("--match: at most %d matchers", ARGS_MATCH_MAX);
		if (!matcher_looks_valid(v) || !utf8_valid(v))
			FAIL("--match '%s': not NAME=VALUE, NAME!=VALUE, "
			     "NAME=~REGEX or NAME!~REGEX",
			     v);
		a->match[a->nmatch++] = v;
		return 0;
	case OPT_FOR: {
		int64_t s;
		int r = duration_parse(v, false, &s);
		if (r == -ERANGE || (r == 0 && s > ARGS_SILENCE_MAX_S))
			FAIL("--for '%s': longer than 366 days", v);
		if (r < 0)
			FAIL("--for '%s': not a duration (90s, 15m, 1h30m, 2d)",
			     v);
		a->for_s = s;
		return 0;
	}
	case OPT_START:
		if (time_parse_rfc3339(v, &a->start_ms) < 0)
			FAIL("--start '%s': not an RFC 3339 time "
			     "(2026-11-24T18:00:00Z)",
			     v);
		a->start = v;
		return 0;
	case OPT_ALL:
		a->all = true;
		return 0;
	}
	FAIL("internal: option %d", c);
}

/* Whether "cmd sub" names a subcommand ("silence add"). */
static bool help_sub(const char *cmd, const char *sub)
{
	size_t n = strlen(cmd);

	for (int i = CMD_NONE + 1; i < _CMD_MAX; i++)
		if (strncmp(cmd_names[i], cmd, n) == 0 &&
		    cmd_names[i][n] == ' ' &&
		    strcmp(cmd_names[i] + n + 1, sub) == 0)
			return true;
	return false;
}

static int take_positional(struct args *a, const char *v,
			   char err[ARGS_ERR_LEN])
{
	if (a->cmd == CMD_NONE) {
		a->cmd = args_cmd_from_name(v);
		if (a->cmd == CMD_NONE)
			FAIL("unknown command '%s'", v);
		return 0;
	}
	if (a->cmd == CMD_HELP && a->name && help_sub(a->name, v))
		return 0; /* "help silence add": the help of silence */
	if (a->cmd == CMD_ALERTS && strcmp(v, "ack") == 0) {
		a->cmd = CMD_ACK;
		return 0;
	}
	if (a->cmd == CMD_SILENCE) {
		static const enum args_cmd subs[] = {
			CMD_SILENCE_ADD,
			CMD_SILENCE_LIST,
			CMD_SILENCE_EXPIRE,
		};
		for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
			if (strcmp(v, cmd_names[subs[i]] + 8) == 0) {
				a->cmd = subs[i];
				return 0;
			}
		FAIL("silence: '%s' is not add, list or expire", v);
	}
	if (a->name || a->cmd == CMD_FLEET || a->cmd == CMD_NODES ||
	    a->cmd == CMD_COMPLIANCE || a->cmd == CMD_ALERTS ||
	    a->cmd == CMD_SILENCE_ADD || a->cmd == CMD_SILENCE_LIST)
		FAIL("unexpected argument '%s'", v);
	if (!*v)
		FAIL("%s: an empty name", cmd_names[a->cmd]);
	a->name = v;
	return 0;
}

static int check_state(enum args_cmd cmd, const char *v, char err[ARGS_ERR_LEN])
{
	if (cmd == CMD_ALERTS && strcmp(v, "firing") && strcmp(v, "pending") &&
	    strcmp(v, "resolved") && strcmp(v, "all"))
		FAIL("--state '%s': not firing, pending, resolved or all", v);
	if (cmd == CMD_NODES && strcmp(v, "online") && strcmp(v, "stale") &&
	    strcmp(v, "offline"))
		FAIL("--state '%s': not online, stale or offline", v);
	return 0;
}

/* An alert id or a prefix of one, kept in lowercase. */
static int check_alert_id(struct args *a, char err[ARGS_ERR_LEN])
{
	size_t n;

	if (!a->name)
		FAIL("alerts ack: which alert? (acgsctl alerts ack ID)");
	n = strlen(a->name);
	if (n < ARGS_ALERT_ID_MIN || n > ARGS_ALERT_ID_MAX ||
	    strspn(a->name, "0123456789abcdefABCDEF") != n)
		FAIL("alerts ack '%s': not an alert id (%d to %d hex digits: "
		     "the ID column of acgsctl alerts)",
		     a->name, ARGS_ALERT_ID_MIN, ARGS_ALERT_ID_MAX);
	for (size_t i = 0; i <= n; i++)
		a->alert_id[i] = (char)((a->name[i] >= 'A' && a->name[i] <= 'F')
					    ? a->name[i] - 'A' + 'a'
					    : a->name[i]);
	return 0;
}

static int check_silence_add(const struct args *a, char err[ARGS_ERR_LEN])
{
	if (!a->nmatch)
		FAIL("silence add: which alerts? (--match NAME=VALUE, at least "
		     "one)");
	if (!a->comment)
		FAIL("silence add: --comment is required (why the silence)");
	if (!a->for_s == !a->until.text)
		FAIL("silence add: give --for DURATION or --until TIME (one "
		     "of them)");
	if (a->until.text && a->until.is_duration)
		FAIL("--until '%s': an RFC 3339 time for silence add (for a "
		     "duration, --for %s)",
		     a->until.text, a->until.text);
	if (a->until.text && a->start && a->until.value <= a->start_ms)
		FAIL("--until must be after --start");
	if (a->until.text && a->start &&
	    a->until.value - a->start_ms > ARGS_SILENCE_MAX_S * 1000)
		FAIL("--until is more than 366 days after --start");
	return 0;
}

/* Checks that need the whole command line. */
static int check(struct args *a, const unsigned *seen, size_t nseen,
		 char err[ARGS_ERR_LEN])
{
	if (a->help || a->version)
		return 0;
	if (a->cmd == CMD_NONE)
		FAIL("no command given");
	if (a->cmd == CMD_SILENCE)
		FAIL("silence: add, list or expire?");
	for (size_t i = 0; i < nseen; i++)
		if (!(option_cmds((int)seen[i]) & BIT(a->cmd)))
			FAIL("--%s does not apply to '%s'",
			     option_name((int)seen[i]), cmd_names[a->cmd]);
	if ((a->cmd == CMD_NODE || a->cmd == CMD_HISTORY) && !a->name)
		FAIL("%s: which node? (acgsctl %s ID)", cmd_names[a->cmd],
		     cmd_names[a->cmd]);
	if (a->state && check_state(a->cmd, a->state, err) < 0)
		return -EINVAL;
	switch (a->cmd) {
	case CMD_ACK:
		return check_alert_id(a, err);
	case CMD_SILENCE_ADD:
		return check_silence_add(a, err);
	case CMD_SILENCE_EXPIRE:
		if (!a->name)
			FAIL("silence expire: which silence? (acgsctl silence "
			     "expire ID)");
		if (conf_parse_u64(a->name, 1, INT64_MAX, &a->silence_id) < 0)
			FAIL("silence expire '%s': not a silence id (a whole "
			     "number, the ID column of silence list)",
			     a->name);
		return 0;
	default:
		break;
	}
	if (a->cmd == CMD_HELP && a->name &&
	    args_cmd_from_name(a->name) == CMD_NONE)
		FAIL("help: unknown command '%s'", a->name);
	if (a->since.text && a->until.text && !a->since.is_duration &&
	    !a->until.is_duration && a->since.value >= a->until.value)
		FAIL("--since must be before --until");
	if (a->since.text && a->until.text && a->since.is_duration &&
	    a->until.is_duration && a->since.value <= a->until.value)
		FAIL("--since %s ago is not before --until %s ago",
		     a->since.text, a->until.text);
	return 0;
}

int args_parse(int argc, char **argv, struct args *a, char err[ARGS_ERR_LEN])
{
	/* Leading '-': positionals come back in order as 1, whatever
	 * POSIXLY_CORRECT says; ':' lets us word the errors. */
	static const char shortopts[] = "-:u:c:jVhl:m:";
	unsigned seen[64];
	size_t nseen = 0;
	int c, r;

	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, long_opts, NULL)) !=
	       -1) {
		if (c == 1) {
			r = take_positional(a, optarg, err);
		} else if (c == '?') {
			/* optopt is 0 for an unknown long option and the
			 * option's value for a known one given "=value". */
			if (!optopt)
				FAIL("unknown option '%s'", argv[optind - 1]);
			if (optopt == ':' ||
			    (optopt < 256 && !strchr(shortopts + 2, optopt)))
				FAIL("unknown option '-%c'", optopt);
			FAIL("option '%s' takes no value", argv[optind - 1]);
		} else if (c == ':') {
			FAIL("option '%s' needs a value", argv[optind - 1]);
		} else {
			if (nseen < ARRAY_SIZE(seen))
				seen[nseen++] = (unsigned)c;
			r = take_option(a, c, optarg, err);
		}
		if (r < 0)
			return r;
	}
	for (; optind < argc; optind++)
		if ((r = take_positional(a, argv[optind], err)) < 0)
			return r;
	if (a->cmd == CMD_HISTORY && !a->metric)
		a->metric = "cpu";
	return check(a, seen, nseen, err);
}
