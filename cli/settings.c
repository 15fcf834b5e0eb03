#include "config.h"

#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "url.h"

static const struct conf_key file_keys[] = {
	{ "url", CONF_STRING, offsetof(struct settings_file, url), 0, 0 },
	{ "token_file", CONF_STRING, offsetof(struct settings_file, token_file),
	  0, 0 },
	{ "ca_file", CONF_STRING, offsetof(struct settings_file, ca_file), 0,
	  0 },
	{ "timeout", CONF_SECONDS, offsetof(struct settings_file, timeout), 0.1,
	  3600 },
};

static int file_handler(void *user, const char *section, const char *key,
			const char *value, struct conf_error *err)
{
	if (strcmp(section, "acgsctl") != 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "unknown section (the only one is [acgsctl])");
		return -ENOENT;
	}
	return conf_apply(file_keys, ARRAY_SIZE(file_keys), user, key, value,
			  err);
}

int settings_file_load_string(const char *path, const char *text, size_t len,
			      struct settings_file *f, struct conf_error *err)
{
	memset(f, 0, sizeof(*f));
	return conf_load_string(path, text, len, file_handler, f, err);
}

void settings_file_release(struct settings_file *f)
{
	free(f->url);
	free(f->token_file);
	free(f->ca_file);
	memset(f, 0, sizeof(*f));
}

void settings_release(struct settings *s)
{
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	free(s->token);
	free(s->url);
	free(s->token_from);
	free(s->config);
	free(s->ca_file);
	memset(s, 0, sizeof(*s));
}

bool settings_token_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > SETTINGS_MAX_TOKEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] < 0x21 || t[i] > 0x7e)
			return false;
	return true;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* "~/x" is $HOME/x; a relative path is taken from dir when there is one
 * (the config file's directory). */
static int resolve_path(const char *p, const char *dir, char **ret)
{
	const char *home = env("HOME");
	int n;

	if (strncmp(p, "~/", 2) == 0 && home)
		n = asprintf(ret, "%s/%s", home, p + 2);
	else if (p[0] == '/' || !dir)
		n = asprintf(ret, "%s", p);
	else
		n = asprintf(ret, "%s/%s", dir, p);
	if (n < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

int settings_read_token(const char *path, char **ret_token, unsigned *ret_mode,
			char err[SETTINGS_ERR_LEN])
{
	_cleanup_close_ int fd = -1;
	char text[SETTINGS_MAX_TOKEN_FILE + 1];
	struct stat st;
	size_t len = 0;
	int r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, SETTINGS_ERR_LEN, "token file %s: %s", path,
			 strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, SETTINGS_ERR_LEN,
			 "token file %s: not a regular file", path);
		return -EINVAL;
	}
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, SETTINGS_ERR_LEN, "token file %s: %s",
				 path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SETTINGS_MAX_TOKEN_FILE) {
		snprintf(err, SETTINGS_ERR_LEN,
			 "token file %s: larger than %d bytes", path,
			 SETTINGS_MAX_TOKEN_FILE);
		r = -EFBIG;
		goto out;
	}
	text[len] = '\0';
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
		       text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	if (memchr(text, '\0', len) || !settings_token_valid(text)) {
		snprintf(err, SETTINGS_ERR_LEN,
			 "token file %s: not a token (one line of 1 to %d "
			 "printable characters without spaces)",
			 path, SETTINGS_MAX_TOKEN);
		r = -EINVAL;
		goto out;
	}
	*ret_token = strdup(text);
	if (!*ret_token) {
		r = -ENOMEM;
		goto out;
	}
	*ret_mode = (unsigned)(st.st_mode & 07777);
out:
	explicit_bzero(text, sizeof(text));
	return r;
}

/* The config file to read: explicit ones must exist, the default may not. */
static int config_path(const struct settings_flags *fl, char **ret,
		       bool *ret_explicit)
{
	const char *p = fl->config ? fl->config : env("ACGS_CONFIG");
	const char *xdg = env("XDG_CONFIG_HOME"), *home = env("HOME");
	int n;

	*ret_explicit = p != NULL;
	if (p)
		n = asprintf(ret, "%s", p);
	else if (xdg && xdg[0] == '/')
		n = asprintf(ret, "%s/acgs/acgsctl.conf", xdg);
	else if (home)
		n = asprintf(ret, "%s/.config/acgs/acgsctl.conf", home);
	else
		return (*ret = NULL), 0;
	if (n < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Returns 1 when the file was read, 0 when the default one is absent. */
static int load_config(const char *path, bool explicit_path,
		       struct settings_file *f, char err[SETTINGS_ERR_LEN])
{
	struct conf_error ce;

	memset(f, 0, sizeof(*f));
	/* conf_load reports a missing file like any other failure; the
	 * default path may well not exist. */
	if (!explicit_path && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	int r = conf_load(path, file_handler, f, &ce);
	if (r < 0) {
		snprintf(err, SETTINGS_ERR_LEN, "%s", ce.msg);
		return r;
	}
	return 1;
}

static int set_token(struct settings *s, const char *path, const char *dir,
		     char err[SETTINGS_ERR_LEN])
{
	_cleanup_free_ char *full = NULL;
	int r = resolve_path(path, dir, &full);

	if (r < 0)
		return r;
	r = settings_read_token(full, &s->token, &s->token_file_mode, err);
	if (r < 0)
		return r;
	s->token_file_loose = (s->token_file_mode & 077) != 0;
	s->token_from = TAKE_PTR(full);
	return 0;
}

int settings_resolve(const struct settings_flags *fl, struct settings *s,
		     char err[SETTINGS_ERR_LEN])
{
	struct settings_file f = { 0 };
	_cleanup_free_ char *dir_copy = NULL;
	const char *dir = NULL, *url, *tok;
	bool explicit_path;
	int r;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	r = config_path(fl, &s->config, &explicit_path);
	if (r < 0)
		goto out;
	if (s->config) {
		r = load_config(s->config, explicit_path, &f, err);
		if (r < 0)
			goto out;
		if (r == 0) {
			free(s->config);
			s->config = NULL;
		} else if (!(dir_copy = strdup(s->config))) {
			r = -ENOMEM;
			goto out;
		} else {
			dir = dirname(dir_copy);
		}
	}

	url = fl->url		? fl->url
	      : env("ACGS_URL") ? env("ACGS_URL")
	      : f.url		? f.url
				: SETTINGS_DEFAULT_URL;
	r = url_base(url, &s->url);
	if (r == -EINVAL)
		snprintf(err, SETTINGS_ERR_LEN,
			 "'%s' is not an http:// or https:// URL with a host",
			 url);
	if (r < 0)
		goto out;

	s->timeout_s = fl->timeout_s > 0 ? fl->timeout_s
		       : f.timeout > 0	 ? f.timeout
					 : SETTINGS_DEFAULT_TIMEOUT;

	if (fl->ca_file || f.ca_file) {
		r = resolve_path(fl->ca_file ? fl->ca_file : f.ca_file,
				 fl->ca_file ? NULL : dir, &s->ca_file);
		if (r < 0)
			goto out;
	}

	if (fl->token_file) {
		r = set_token(s, fl->token_file, NULL, err);
	} else if ((tok = env("ACGS_TOKEN"))) {
		if (!settings_token_valid(tok)) {
			snprintf(err, SETTINGS_ERR_LEN,
				 "ACGS_TOKEN is not a token (1 to %d printable "
				 "characters without spaces)",
				 SETTINGS_MAX_TOKEN);
			r = -EINVAL;
			goto out;
		}
		s->token = strdup(tok);
		s->token_from = strdup("ACGS_TOKEN");
		r = s->token && s->token_from ? 0 : -ENOMEM;
	} else if ((tok = env("ACGS_TOKEN_FILE"))) {
		r = set_token(s, tok, NULL, err);
	} else if (f.token_file) {
		r = set_token(s, f.token_file, dir, err);
	}
out:
	if (r == -ENOMEM && !err[0])
		snprintf(err, SETTINGS_ERR_LEN, "out of memory");
	settings_file_release(&f);
	return r;
}
