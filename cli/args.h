/* acgsctl's command line: a command, its arguments, and flags that may come
 * before or after the command. Values are checked here so that a bad flag
 * or duration is a usage error (exit 2) before anything is sent. */
#ifndef ACGS_CLI_ARGS_H
#define ACGS_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "settings.h"

#define ARGS_ERR_LEN 256
/* The API's limits on a silence, checked before anything is sent. */
#define ARGS_MATCH_MAX	   32
#define ARGS_COMMENT_MAX   1024
#define ARGS_AUTHOR_MAX	   128
#define ARGS_SILENCE_MAX_S (366LL * 86400)
/* An alert id: 64 hex digits, or a unique prefix of at least 8. */
#define ARGS_ALERT_ID_MIN 8
#define ARGS_ALERT_ID_MAX 64

enum args_cmd {
	CMD_NONE,
	CMD_FLEET,
	CMD_NODES,
	CMD_NODE,
	CMD_HISTORY,
	CMD_SERVICES,
	CMD_COMPLIANCE,
	CMD_ALERTS,
	CMD_ACK,     /* alerts ack ID */
	CMD_SILENCE, /* "silence" before its add, list or expire */
	CMD_SILENCE_ADD,
	CMD_SILENCE_LIST,
	CMD_SILENCE_EXPIRE,
	CMD_HELP,
	_CMD_MAX,
};

/* A history bound: a duration before now or an RFC 3339 time. */
struct args_time {
	const char *text; /* as given; NULL when not given */
	bool is_duration;
	int64_t value; /* seconds (duration) or ms since the epoch */
};

struct args {
	enum args_cmd cmd;
	struct settings_flags settings;
	bool json, help, version;
	/* nodes */
	const char *state, *label, *service;
	double below;
	bool has_below;
	unsigned limit; /* 0: every node */
	bool fail_if_any;
	/* node ID, services NAME, help COMMAND */
	const char *name;
	/* history */
	const char *metric;
	struct args_time since, until;
	int64_t step_s; /* 0: the server picks */
	/* alerts (state and fail_if_any above) */
	unsigned history; /* transitions to list, 0 to 1000 */
	/* alerts ack ID: the id in lowercase; --comment */
	char alert_id[ARGS_ALERT_ID_MAX + 1];
	const char *comment;
	/* silence add (--until in until, given as an RFC 3339 time) */
	const char *match[ARGS_MATCH_MAX];
	size_t nmatch;
	int64_t for_s;	   /* --for, 0 when not given */
	const char *start; /* --start as given, NULL for now */
	int64_t start_ms;
	const char *author;
	/* silence list */
	bool all;
	/* silence expire ID */
	uint64_t silence_id;
};

/* Parse argv (argv[0] is the program). Returns 0, or -EINVAL with err
 * saying what is wrong. The strings in a point into argv. Uses getopt_long
 * and resets its state, so it may be called again (tests do). */
int args_parse(int argc, char **argv, struct args *a, char err[ARGS_ERR_LEN]);

/* "nodes" for CMD_NODES, "silence add" for CMD_SILENCE_ADD; NULL for
 * CMD_NONE. */
const char *args_cmd_name(enum args_cmd cmd);

/* The command whose help covers cmd: CMD_ALERTS for CMD_ACK, CMD_SILENCE
 * for its subcommands, else cmd itself. */
enum args_cmd args_cmd_group(enum args_cmd cmd);

/* The top-level command named s ("alerts", "silence"; not "alerts ack"),
 * or CMD_NONE. */
enum args_cmd args_cmd_from_name(const char *s);

/* Append the help of cmd (CMD_NONE: the overview) to out. */
int args_help(enum args_cmd cmd, struct buf *out);

#endif
