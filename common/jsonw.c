#include "config.h"

#include "jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"
#include "utf8.h"

void jsonw_init(struct jsonw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (w->err)
		return;
	int r = buf_append(w->out, s, n);
	if (r < 0)
		w->err = r;
}

/* Before any value: a comma if this level already has one. */
static void value_prefix(struct jsonw *w)
{
	if (w->err)
		return;
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->has_item[w->depth])
		put(w, ",", 1);
	w->has_item[w->depth] = true;
}

static void open(struct jsonw *w, char c)
{
	value_prefix(w);
	if (w->err)
		return;
	if (w->depth + 1 >= JSONW_MAX_DEPTH) {
		w->err = -EINVAL;
		return;
	}
	put(w, &c, 1);
	w->depth++;
	w->has_item[w->depth] = false;
}

static void close_level(struct jsonw *w, char c)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->after_key) {
		w->err = -EINVAL;
		return;
	}
	put(w, &c, 1);
	w->depth--;
}

void jsonw_obj_begin(struct jsonw *w)
{
	open(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
	close_level(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
	open(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
	close_level(w, ']');
}

static void put_string(struct jsonw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = 0, i = 0;

	put(w, "\"", 1);
	while (i < n && !w->err) {
		unsigned char c = p[i];
		const char *esc = NULL;
		char tmp[8];
		size_t seq = 1;

		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			esc = tmp;
		} else if (c >= 0x80) {
			seq = utf8_decode(p + i, n - i, NULL);
			if (seq == 0) {
				esc = "\xef\xbf\xbd"; /* U+FFFD */
				seq = 1;
			}
		}
		if (esc) {
			put(w, s + start, i - start);
			put(w, esc, strlen(esc));
			i += seq;
			start = i;
		} else {
			i += seq;
		}
	}
	put(w, s + start, (i > n ? n : i) - start);
	put(w, "\"", 1);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	if (w->err)
		return;
	if (w->after_key || w->depth == 0) {
		w->err = -EINVAL;
		return;
	}
	if (w->has_item[w->depth])
		put(w, ",", 1);
	w->has_item[w->depth] = true;
	put_string(w, key, strlen(key));
	put(w, ":", 1);
	w->after_key = true;
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	value_prefix(w);
	put_string(w, s, n);
}

void jsonw_str(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	jsonw_strn(w, s, strlen(s));
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	value_prefix(w);
	put(w, tmp, (size_t)n);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	value_prefix(w);
	put(w, tmp, (size_t)n);
}

void jsonw_double(struct jsonw *w, double v)
{
	char tmp[48];
	int n;

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	if (v == 0.0)
		v = 0.0; /* no "-0" */
	if (fabs(v) >= 1e15 || (fabs(v) < 1e-6 && v != 0.0)) {
		n = snprintf(tmp, sizeof(tmp), "%.6g", v);
	} else {
		n = snprintf(tmp, sizeof(tmp), "%.6f", v);
		/* Drop trailing zeros and a bare point. */
		while (n > 1 && tmp[n - 1] == '0')
			n--;
		if (n > 1 && tmp[n - 1] == '.')
			n--;
		if (n == 2 && tmp[0] == '-' && tmp[1] == '0')
			tmp[0] = '0', n = 1;
	}
	value_prefix(w);
	put(w, tmp, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	value_prefix(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
	value_prefix(w);
	put(w, "null", 4);
}

void jsonw_raw(struct jsonw *w, const char *json, size_t n)
{
	value_prefix(w);
	put(w, json, n);
}

void jsonw_kv_str(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_u64(w, v);
}

void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_i64(w, v);
}

void jsonw_kv_double(struct jsonw *w, const char *key, double v)
{
	jsonw_key(w, key);
	jsonw_double(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_kv_double_or_null(struct jsonw *w, const char *key, bool have,
			     double v)
{
	jsonw_key(w, key);
	if (have)
		jsonw_double(w, v);
	else
		jsonw_null(w);
}

void jsonw_kv_str_or_null(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	if (s)
		jsonw_str(w, s);
	else
		jsonw_null(w);
}

void jsonw_kv_time_ms(struct jsonw *w, const char *key, int64_t ms)
{
	char t[RFC3339_LEN];

	if (ms <= 0) {
		jsonw_key(w, key);
		jsonw_null(w);
		return;
	}
	time_format_rfc3339_ms(ms, t);
	jsonw_kv_str(w, key, t);
}

int jsonw_finish(struct jsonw *w)
{
	if (w->err)
		return w->err;
	if (w->depth != 0 || w->after_key)
		return -EINVAL;
	return 0;
}
