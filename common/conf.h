/* INI configuration files through inih, with errors that name file:line.
 *
 * The daemon gives conf_load() one handler; the handler dispatches on the
 * section and usually applies a table of typed keys with conf_apply(). The
 * first error stops the load and is reported as
 *   "FILE:LINE: [section] key: message". */
#ifndef ACGS_CONF_H
#define ACGS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_ERR_LEN 512
/* inih reads at most 200 bytes a line; we refuse longer lines instead of
 * letting it split them into two. */
#define CONF_MAX_LINE 199
#define CONF_MAX_FILE (1024 * 1024)

struct conf_error {
	char msg[CONF_ERR_LEN];
};

/* Called for each key; return 0, or a negative errno after filling err->msg
 * with what is wrong with the value (file, line, section and key are added
 * by conf_load). */
typedef int (*conf_handler)(void *user, const char *section, const char *key,
			    const char *value, struct conf_error *err);

/* Parse the file at path. Returns 0, or a negative errno with err->msg set:
 * -ENOENT/-EACCES (cannot read), -EFBIG (over CONF_MAX_FILE), -EINVAL
 * (syntax, or the handler refused a key). */
int conf_load(const char *path, conf_handler handler, void *user,
	      struct conf_error *err);

/* The same for text in memory (path is only used in messages). */
int conf_load_string(const char *path, const char *text, size_t len,
		     conf_handler handler, void *user, struct conf_error *err);

enum conf_type {
	CONF_STRING,  /* char *, strdup'ed, previous value freed */
	CONF_BOOL,    /* bool: true/false, yes/no, on/off, 1/0 */
	CONF_UINT,    /* unsigned, within [min, max] */
	CONF_DOUBLE,  /* double, within [min, max] */
	CONF_SIZE,    /* uint64_t bytes: 123, 64K, 64M, 1G, 64MiB */
	CONF_SECONDS, /* double seconds: 10, 0.5, 500ms, 2m, 1h; in [min, max]
		       */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset; /* of the field in the section's struct */
	double min, max;
};

/* Apply the key from table to the struct at base. Returns 0, -ENOENT when
 * the key is not in the table (message set: "unknown key"), -EINVAL when
 * the value is bad (message says why and what is allowed). */
int conf_apply(const struct conf_key *table, size_t n, void *base,
	       const char *key, const char *value, struct conf_error *err);

/* Checked number parsers, whole string or error. Return 0 or -EINVAL /
 * -ERANGE. */
int conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int conf_parse_double(const char *s, double min, double max, double *ret);
int conf_parse_bool(const char *s, bool *ret);
int conf_parse_size(const char *s, uint64_t *ret);
int conf_parse_seconds(const char *s, double *ret);

/* Fill err->msg from fmt and return rc, for handlers and validators:
 * `return conf_fail(err, -EINVAL, "must be ...", ...);`. */
int conf_fail(struct conf_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replace *dst by a copy of value. Returns 0 or -ENOMEM. */
int conf_set_string(char **dst, const char *value);

#endif
