/* YAML documents as cJSON values, so that one document model serves the
 * files the server reads (policies, alert rules, experiments) and the JSON
 * bodies of its API.
 *
 * One document of the YAML 1.2 core schema is read with libyaml's event
 * parser: mappings become objects, sequences arrays. Plain scalars that are
 * null, ~ or empty become null; true/false (also True, TRUE, ...) booleans;
 * integers (decimal, 0x hex, 0o octal, exactly representable in a double)
 * and finite floats, matched on the whole scalar, numbers; anything else a
 * string. Quoted and block scalars are always strings. The core tags (!!str,
 * !!int, !!float, !!bool, !!null, !!map, !!seq) force a type; any other tag
 * is an error.
 *
 * Refused, each with "name:line:col: message" (1-based): libyaml syntax
 * errors, duplicate keys, keys that are not scalars, anchors and aliases
 * (no billion laughs), more than one document, NUL characters in a scalar,
 * .inf and .nan (JSON has no such numbers), nesting deeper than
 * YAMLDOC_MAX_DEPTH, more than YAMLDOC_MAX_NODES nodes, and input over
 * YAMLDOC_MAX_BYTES. An empty stream is the null value. */
#ifndef ACGS_YAMLDOC_H
#define ACGS_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define YAMLDOC_MAX_BYTES (1024 * 1024)
#define YAMLDOC_MAX_DEPTH 32
#define YAMLDOC_MAX_NODES 100000
/* A useful size for the err buffers below. */
#define YAMLDOC_ERR_LEN 256

/* Parse len bytes of YAML text (need not be NUL-terminated); name is only
 * used in messages. Returns 0 and sets *ret to a new value the caller frees
 * with cJSON_Delete(); or a negative errno with err set: -EINVAL (not a
 * document we accept), -EFBIG (over YAMLDOC_MAX_BYTES), -E2BIG (too many
 * nodes), -ELOOP (too deep), -ENOMEM. *ret is untouched on failure. */
int yamldoc_load_string(const char *name, const char *text, size_t len,
			cJSON **ret, char *err, size_t errlen);

/* The same for the file at path (named by path in messages). Also returns
 * the negative errno of open/read (-ENOENT, -EACCES, -EISDIR...). */
int yamldoc_load_file(const char *path, cJSON **ret, char *err, size_t errlen);

/* Read a file as yamldoc_load_file does, for parsers with their own second
 * pass over the text: at most YAMLDOC_MAX_BYTES + 1 bytes (the extra byte
 * tells yamldoc_load_string the file is too big), refusing a directory
 * (-EISDIR) and, with regular_only, anything but a regular file (-EINVAL,
 * "not a regular file"). Sets *ret_buf (free it; NULL for an empty file)
 * and *ret_len, or returns a negative errno with err saying "path: why". */
int yamldoc_read_file(const char *path, bool regular_only, char **ret_buf,
		      size_t *ret_len, char *err, size_t errlen);

#endif
