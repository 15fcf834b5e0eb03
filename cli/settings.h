/* Where acgsctl talks to and with which token: command-line flags first,
 * then the environment (ACGS_URL, ACGS_TOKEN, ACGS_TOKEN_FILE), then the
 * config file (--config, else $ACGS_CONFIG, else
 * $XDG_CONFIG_HOME/acgs/acgsctl.conf or ~/.config/acgs/acgsctl.conf), then
 * the defaults. The token itself is never printed: messages name where it
 * came from. */
#ifndef ACGS_CLI_SETTINGS_H
#define ACGS_CLI_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define SETTINGS_DEFAULT_URL	 "http://127.0.0.1:8080"
#define SETTINGS_DEFAULT_TIMEOUT 10.0
/* The server refuses tokens over 512 bytes; a token file is one line. */
#define SETTINGS_MAX_TOKEN	512
#define SETTINGS_MAX_TOKEN_FILE 4096
#define SETTINGS_ERR_LEN	(CONF_ERR_LEN + 64)

/* The [acgsctl] section of the config file. */
struct settings_file {
	char *url;
	char *token_file;
	char *ca_file;
	double timeout; /* seconds, 0 when not set */
};

/* Parse config text (path for messages and for resolving a relative
 * token_file / ca_file against its directory). Unknown sections and keys
 * are errors naming file:line. Returns 0 or a negative errno with err set;
 * release f with settings_file_release() either way. */
int settings_file_load_string(const char *path, const char *text, size_t len,
			      struct settings_file *f, struct conf_error *err);
void settings_file_release(struct settings_file *f);

/* What the command line gave (NULL / 0 when not given). */
struct settings_flags {
	const char *url;
	const char *token_file;
	const char *config;
	const char *ca_file;
	double timeout_s;
};

struct settings {
	char *url;	  /* checked, without trailing '/' */
	char *token;	  /* NULL when no token is configured */
	char *token_from; /* "ACGS_TOKEN" or the token file's path */
	char *config;	  /* the config file read, NULL when none */
	char *ca_file;
	double timeout_s;
	/* The token file can be read by others: worth a warning. */
	bool token_file_loose;
	unsigned token_file_mode;
};

/* Resolve everything. Returns 0, or a negative errno with err saying what
 * is wrong (a missing explicit config file, a bad key, an unreadable or
 * malformed token file, a URL that is not http(s)). Release s either way. */
int settings_resolve(const struct settings_flags *flags, struct settings *s,
		     char err[SETTINGS_ERR_LEN]);
void settings_release(struct settings *s);

/* Read a token file: one line of printable ASCII (trailing whitespace and
 * newline dropped), a regular file of at most SETTINGS_MAX_TOKEN_FILE
 * bytes. Sets *ret_token (caller frees, after zeroing) and *ret_mode (the
 * permission bits). Returns 0 or a negative errno with err set. */
int settings_read_token(const char *path, char **ret_token, unsigned *ret_mode,
			char err[SETTINGS_ERR_LEN]);

/* A token as the server accepts it: 1 to SETTINGS_MAX_TOKEN bytes of
 * printable ASCII without spaces (nothing that could split the header). */
bool settings_token_valid(const char *token);

#endif
