/* Parsers of HTTP API input: see apiparse.h. */
#include "config.h"

#include "apiparse.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "timeutil.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t apiparse_pct_decode(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] != '%') {
			if (in[i] == '\0')
				return -EINVAL;
			out[o++] = in[i];
			continue;
		}
		if (n - i < 3)
			return -EINVAL;
		int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

int apiparse_split(const char *raw, char *scratch, size_t scratchlen,
		   struct apiparse_path *ret)
{
	if (!raw || raw[0] != '/')
		return -EINVAL;
	size_t len = strlen(raw);
	if (scratchlen < len + 1)
		return -E2BIG;
	struct apiparse_path p = { 0 };
	const char *s = raw + 1;
	char *o = scratch;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		if (p.nseg == APIPARSE_MAX_SEGMENTS)
			return -E2BIG;
		ssize_t d = apiparse_pct_decode(s, n, o);
		if (d < 0)
			return (int)d;
		p.seg[p.nseg++] = o;
		/* A segment never decodes longer than its text, so the
		 * segments plus their NULs fit in len + 1 bytes. */
		o += d + 1;
		if (!slash)
			break;
		s = slash + 1;
	}
	*ret = p;
	return 0;
}

/* The next segment of a pattern from *p (after a '/'): its start and
 * length; advances *p past it. */
static void next_segment(const char **p, const char **ret_s, size_t *ret_n)
{
	const char *s = *p;
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	*ret_s = s;
	*ret_n = n;
	*p = slash ? slash + 1 : s + n;
}

static bool is_param(const char *s, size_t n)
{
	return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

int apiparse_pattern_check(const char *pattern)
{
	if (!pattern || pattern[0] != '/')
		return -EINVAL;
	const char *p = pattern + 1;
	size_t nseg = 0, nparam = 0;
	for (;;) {
		bool last = strchr(p, '/') == NULL;
		const char *s;
		size_t n;
		next_segment(&p, &s, &n);
		if (++nseg > APIPARSE_MAX_SEGMENTS)
			return -EINVAL;
		if (is_param(s, n)) {
			if (n == 2 || ++nparam > APIPARSE_MAX_PARAMS)
				return -EINVAL;
			for (size_t i = 1; i + 1 < n; i++) {
				char c = s[i];
				if (!((c >= 'a' && c <= 'z') ||
				      (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '_'))
					return -EINVAL;
			}
		} else if (memchr(s, '{', n) || memchr(s, '}', n) ||
			   memchr(s, '%', n)) {
			/* Literals are compared with decoded segments, so
			 * an escape in one could never match. */
			return -EINVAL;
		}
		if (last)
			break;
	}
	return 0;
}

bool apiparse_match(const char *pattern, const struct apiparse_path *path,
		    struct apiparse_param *params, size_t *ret_nparams)
{
	const char *p = pattern + 1;
	size_t np = 0;
	for (size_t i = 0;; i++) {
		bool last = strchr(p, '/') == NULL;
		const char *s;
		size_t n;
		next_segment(&p, &s, &n);
		if (i >= path->nseg)
			return false;
		const char *seg = path->seg[i];
		if (is_param(s, n)) {
			if (!seg[0] || np == APIPARSE_MAX_PARAMS)
				return false;
			params[np].name = s + 1;
			params[np].namelen = n - 2;
			params[np].value = seg;
			np++;
		} else if (strlen(seg) != n || memcmp(seg, s, n) != 0) {
			return false;
		}
		if (last) {
			if (i + 1 != path->nseg)
				return false;
			break;
		}
	}
	*ret_nparams = np;
	return true;
}

int apiparse_bearer(const char *value, size_t maxlen, const char **ret_tok,
		    size_t *ret_len)
{
	if (!value)
		return -EINVAL;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, "Bearer", 6) != 0 ||
	    (value[6] != ' ' && value[6] != '\t'))
		return -EINVAL;
	const char *t = value + 6;
	while (*t == ' ' || *t == '\t')
		t++;
	size_t n = strcspn(t, " \t");
	const char *rest = t + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (n == 0 || n > maxlen || *rest)
		return -EINVAL;
	*ret_tok = t;
	*ret_len = n;
	return 0;
}

#define TEN_YEARS_MS (3650ll * 86400 * 1000)

int apiparse_duration_ms(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "ms", 1 },	      { "s", 1000 },	    { "", 1000 },
		{ "m", 60 * 1000 },   { "h", 3600 * 1000 }, { "d", 86400000 },
		{ "w", 604800000ll },
	};
	int64_t n = 0;
	size_t i = 0;

	if (!s)
		return -EINVAL;
	/* Digits by hand: strtoll would take signs, spaces and hex. */
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (s[i] - '0');
		if (n > TEN_YEARS_MS)
			return -EINVAL;
	}
	if (i == 0)
		return -EINVAL;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (strcmp(s + i, units[u].unit) != 0)
			continue;
		if (n > TEN_YEARS_MS / units[u].ms)
			return -EINVAL;
		*ret_ms = n * units[u].ms;
		return 0;
	}
	return -EINVAL;
}

int apiparse_time_ms(const char *s, int64_t now_ms, int64_t *ret_ms)
{
	int64_t d;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*ret_ms = now_ms;
		return 0;
	}
	if (strncmp(s, "now-", 4) == 0)
		s += 4;
	else if (time_parse_rfc3339(s, ret_ms) == 0)
		return 0;
	if (apiparse_duration_ms(s, &d) < 0)
		return -EINVAL;
	*ret_ms = now_ms - d;
	return 0;
}
