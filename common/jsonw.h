/* A streaming JSON writer onto a struct buf.
 *
 * The agent encodes every sample with this instead of building a cJSON tree:
 * no allocation per value, and the output is valid JSON by construction
 * (commas and nesting are tracked here). Errors are sticky: after the first
 * failure every call is a no-op and jsonw_finish() returns it. */
#ifndef ACGS_JSONW_H
#define ACGS_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSONW_MAX_DEPTH 16

struct jsonw {
	struct buf *out;
	int err;
	int depth;
	/* Per level: has a value been written (so the next needs a comma)? */
	bool has_item[JSONW_MAX_DEPTH];
	/* A key was just written and its value is due. */
	bool after_key;
};

/* Write onto out (appending to what is there). */
void jsonw_init(struct jsonw *w, struct buf *out);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);
/* A string of n bytes that may hold anything: invalid UTF-8 becomes U+FFFD. */
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);
/* Up to 6 significant decimals after the point, trailing zeros dropped;
 * NaN and infinities are written as null (JSON has no such numbers). */
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A value that is already JSON text (the caller vouches for it: e.g. a
 * payload that passed the wire decoder). */
void jsonw_raw(struct jsonw *w, const char *json, size_t n);

/* Shorthands: key then value. */
void jsonw_kv_str(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_double(struct jsonw *w, const char *key, double v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);
/* key: v when have, else key: null (a value that cannot be computed). */
void jsonw_kv_double_or_null(struct jsonw *w, const char *key, bool have,
			     double v);
/* key: s, or key: null when s is NULL. */
void jsonw_kv_str_or_null(struct jsonw *w, const char *key, const char *s);
/* key: the time ms as RFC 3339 UTC with milliseconds, or key: null when ms
 * <= 0 (a time that has not happened). */
void jsonw_kv_time_ms(struct jsonw *w, const char *key, int64_t ms);

/* 0 when everything was written and all nesting closed, else a negative
 * errno (-E2BIG when the buffer cap was hit, -EINVAL on misuse). */
int jsonw_finish(struct jsonw *w);

#endif
