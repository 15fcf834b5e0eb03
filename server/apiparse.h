/* Pure parsers of the HTTP API's outside input (no libmicrohttpd), kept
 * apart from api.c so the libFuzzer target can link them alone: percent
 * decoding, path splitting, route pattern matching, bearer tokens. */
#ifndef ACGS_APIPARSE_H
#define ACGS_APIPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define APIPARSE_MAX_SEGMENTS 32
#define APIPARSE_MAX_PARAMS   8

/* A path split at '/' after its leading '/': "/" is one empty segment,
 * "/a/b/" is "a", "b", "". Segments point into the caller's scratch. */
struct apiparse_path {
	size_t nseg;
	const char *seg[APIPARSE_MAX_SEGMENTS];
};

/* A {name} parameter bound by a match: name points into the pattern (not
 * NUL-terminated at namelen), value at a segment of the path. */
struct apiparse_param {
	const char *name;
	size_t namelen;
	const char *value;
};

/* Decode n bytes of %XX escapes into out (room for n + 1; NUL-terminated).
 * '+' is left alone: libmicrohttpd already turned it into a space in query
 * arguments, and in a path it means itself. Returns the decoded length, or
 * -EINVAL on a truncated or non-hex escape or an escaped NUL (which C
 * strings could not carry). */
ssize_t apiparse_pct_decode(const char *in, size_t n, char *out);

/* Split a raw path ("/api/v1/nodes/a%20b") into decoded segments written
 * into scratch (room for strlen(raw) + 1). Returns 0; -EINVAL when raw does
 * not start with '/' or has a bad escape; -E2BIG past
 * APIPARSE_MAX_SEGMENTS segments or when scratch is too small. */
int apiparse_split(const char *raw, char *scratch, size_t scratchlen,
		   struct apiparse_path *ret);

/* Check a route pattern: starts with '/', every {name} segment is a whole
 * segment with a name of [a-zA-Z0-9_], at most APIPARSE_MAX_PARAMS of them
 * and APIPARSE_MAX_SEGMENTS segments. Returns 0 or -EINVAL. */
int apiparse_pattern_check(const char *pattern);

/* Whether a checked pattern matches a split path; on a match fills params
 * (room for APIPARSE_MAX_PARAMS) and *ret_nparams. */
bool apiparse_match(const char *pattern, const struct apiparse_path *path,
		    struct apiparse_param *params, size_t *ret_nparams);

/* Find the token in an Authorization header value: "Bearer <token>", the
 * scheme case-insensitive, spaces around the token ignored. Sets *ret_tok
 * (pointing into value) and *ret_len. Returns 0, or -EINVAL for another
 * scheme, an empty token or one longer than maxlen. */
int apiparse_bearer(const char *value, size_t maxlen, const char **ret_tok,
		    size_t *ret_len);

/* A duration: a whole number with a unit, "500ms", "90s", "15m", "1h",
 * "7d", "2w", or a bare whole number of seconds. Into ms; at most 10 years.
 * Returns 0, or -EINVAL (zero is allowed: "0" or "0s"). */
int apiparse_duration_ms(const char *s, int64_t *ret_ms);

/* A point in time: "now", an RFC 3339 timestamp, or a duration before now
 * ("1h" = an hour ago, also written "now-1h"). Returns 0 or -EINVAL. */
int apiparse_time_ms(const char *s, int64_t now_ms, int64_t *ret_ms);

#endif
