#include "config.h"

#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

struct load_ctx {
	conf_handler handler;
	void *user;
	struct conf_error *err;
	int rc;
	char section[128];
	char key[128];
};

static int ini_cb(void *user, const char *section, const char *name,
		  const char *value)
{
	struct load_ctx *ctx = user;

	if (ctx->rc < 0)
		return 0; /* keep only the first error */
	int r = ctx->handler(ctx->user, section, name, value, ctx->err);
	if (r < 0) {
		ctx->rc = r;
		snprintf(ctx->section, sizeof(ctx->section), "%s", section);
		snprintf(ctx->key, sizeof(ctx->key), "%s", name);
		return 0;
	}
	return 1;
}

static void set_err(struct conf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct conf_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

int conf_load_string(const char *path, const char *text, size_t len,
		     conf_handler handler, void *user, struct conf_error *err)
{
	struct load_ctx ctx = { .handler = handler, .user = user, .err = err };
	size_t line = 1, col = 0;

	err->msg[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\0') {
			set_err(err, "%s:%zu: NUL byte in file", path, line);
			return -EINVAL;
		}
		if (text[i] == '\n') {
			line++;
			col = 0;
		} else if (++col > CONF_MAX_LINE) {
			set_err(err,
				"%s:%zu: line longer than %d bytes (split the "
				"value, or use a file for it)",
				path, line, CONF_MAX_LINE);
			return -EINVAL;
		}
	}

	int at = ini_parse_string(text, ini_cb, &ctx);
	if (ctx.rc < 0) {
		char detail[CONF_ERR_LEN];
		snprintf(detail, sizeof(detail), "%s", err->msg);
		set_err(err, "%s:%d: [%s] %s: %s", path, at, ctx.section,
			ctx.key, detail);
		return ctx.rc;
	}
	if (at > 0) {
		set_err(err,
			"%s:%d: syntax error (expected [section], key = value "
			"or a comment)",
			path, at);
		return -EINVAL;
	}
	if (at < 0) {
		set_err(err, "%s: out of memory while parsing", path);
		return -ENOMEM;
	}
	return 0;
}

int conf_load(const char *path, conf_handler handler, void *user,
	      struct conf_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		set_err(err, "%s: cannot read config: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > CONF_MAX_FILE) {
		set_err(err, "%s: larger than %d bytes", path, CONF_MAX_FILE);
		return -EFBIG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			set_err(err, "%s: read error: %s", path, strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	return conf_load_string(path, text, len, handler, user, err);
}

int conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int conf_parse_double(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int conf_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "", 1 },
		{ "B", 1 },
		{ "K", 1024ull },
		{ "KiB", 1024ull },
		{ "M", 1024ull * 1024 },
		{ "MiB", 1024ull * 1024 },
		{ "G", 1024ull * 1024 * 1024 },
		{ "GiB", 1024ull * 1024 * 1024 },
	};
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -ERANGE;
			*ret = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_parse_seconds(const char *s, double *ret)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
		{ "", 1 },   { "s", 1 },    { "ms", 0.001 },
		{ "m", 60 }, { "h", 3600 },
	};
	char *end;
	double v;

	if (!isdigit((unsigned char)*s) && *s != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v) || v < 0)
		return -ERANGE;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			*ret = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_set_string(char **dst, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

int conf_apply(const struct conf_key *table, size_t n, void *base,
	       const char *key, const char *value, struct conf_error *err)
{
	const struct conf_key *k = NULL;
	char *field;
	int r;

	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].name, key) == 0)
			k = &table[i];
	if (!k) {
		set_err(err, "unknown key");
		return -ENOENT;
	}
	field = (char *)base + k->offset;

	switch (k->type) {
	case CONF_STRING:
		r = conf_set_string((char **)(void *)field, value);
		if (r < 0)
			set_err(err, "out of memory");
		return r;
	case CONF_BOOL:
		r = conf_parse_bool(value, (bool *)(void *)field);
		if (r < 0)
			set_err(err, "'%s' is not a boolean (use yes or no)",
				value);
		return r;
	case CONF_UINT: {
		uint64_t v;
		r = conf_parse_u64(value, (uint64_t)k->min, (uint64_t)k->max,
				   &v);
		if (r < 0) {
			set_err(err,
				"'%s' is not a whole number from %.0f to %.0f",
				value, k->min, k->max);
			return -EINVAL;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	}
	case CONF_DOUBLE:
		r = conf_parse_double(value, k->min, k->max,
				      (double *)(void *)field);
		if (r < 0) {
			set_err(err, "'%s' is not a number from %g to %g",
				value, k->min, k->max);
			return -EINVAL;
		}
		return 0;
	case CONF_SIZE: {
		uint64_t v;
		r = conf_parse_size(value, &v);
		if (r < 0 || (double)v < k->min || (double)v > k->max) {
			set_err(err,
				"'%s' is not a size from %.0f to %.0f bytes "
				"(suffixes K, M, G)",
				value, k->min, k->max);
			return -EINVAL;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	}
	case CONF_SECONDS: {
		double v;
		r = conf_parse_seconds(value, &v);
		if (r < 0 || v < k->min || v > k->max) {
			set_err(err,
				"'%s' is not a duration from %gs to %gs (e.g. "
				"10, 0.5, 500ms, 2m)",
				value, k->min, k->max);
			return -EINVAL;
		}
		*(double *)(void *)field = v;
		return 0;
	}
	}
	set_err(err, "internal: bad key type");
	return -EINVAL;
}

int conf_fail(struct conf_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}
