/* Label matchers: see matcher.h. */
#include "config.h"

#include "matcher.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* Compile the value of m (a regex op) anchored at both ends. */
static int compile(struct matcher *m, char *err, size_t errlen)
{
	char anchored[MATCHER_VALUE_MAX + 8];

	if (m->op != MATCH_RE && m->op != MATCH_NRE)
		return 0;
	/* glibc's regcomp copies a subexpression for each bound of a
	 * repetition and stacks them for "a+++": "((a{99}){99}){99}" or a
	 * long run of "+" asks for gigabytes. An operator's silence must not
	 * do that to the server: at most one {m,n} with bounds up to 100, no
	 * repetition of a repetition, at most 16 repetition operators. */
	unsigned intervals = 0, reps = 0;
	bool bracket = false, after_rep = false;
	for (const char *c = m->value; *c; c++) {
		if (bracket) {
			if (*c == ']')
				bracket = false;
			continue;
		}
		if (*c == '\\' && c[1]) {
			c++;
			after_rep = false;
			continue;
		}
		if (*c == '[') {
			bracket = true;
			/* "[]a]" and "[^]a]": a leading ] is literal */
			if (c[1] == '^')
				c++;
			if (c[1] == ']')
				c++;
			after_rep = false;
			continue;
		}
		bool rep = *c == '*' || *c == '+' || *c == '?' || *c == '{';
		if (!rep) {
			after_rep = false;
			continue;
		}
		if (after_rep || ++reps > 16)
			return fail(err, errlen,
				    "%s: no repetition of a repetition and at "
				    "most 16 of *, +, ?, {m,n}",
				    m->name);
		after_rep = true;
		if (*c != '{')
			continue;
		unsigned long n = 0;
		for (c++; *c && *c != '}'; c++)
			if (*c >= '0' && *c <= '9') {
				n = n * 10 + (unsigned long)(*c - '0');
				if (n > 100)
					break;
			}
		if (++intervals > 1 || n > 100)
			return fail(err, errlen,
				    "%s: at most one {m,n} repetition, with "
				    "bounds up to 100",
				    m->name);
		if (!*c)
			break;
	}
	snprintf(anchored, sizeof(anchored), "^(%s)$", m->value);
	int r = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char why[128];
		regerror(r, &m->re, why, sizeof(why));
		return fail(err, errlen, "%s: bad regular expression '%s': %s",
			    m->name, m->value, why);
	}
	return 0;
}

/* Parse one matcher at *p (leading spaces skipped), up to a comma or the
 * end; advances *p past it. */
static int parse_one(const char **p, struct matcher *m, char *err,
		     size_t errlen)
{
	const char *s = *p;
	size_t n = 0, v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!name_char(*s, true))
		return fail(err, errlen,
			    "matcher %.32s: a label name must start it", s);
	while (name_char(s[n], n == 0)) {
		if (n == MATCHER_NAME_MAX)
			return fail(err, errlen,
				    "matcher %.32s: name over %d bytes", s,
				    MATCHER_NAME_MAX);
		m->name[n] = s[n];
		n++;
	}
	m->name[n] = '\0';
	s += n;
	while (*s == ' ')
		s++;
	if (s[0] == '=' && s[1] == '~') {
		m->op = MATCH_RE;
		s += 2;
	} else if (s[0] == '!' && s[1] == '~') {
		m->op = MATCH_NRE;
		s += 2;
	} else if (s[0] == '!' && s[1] == '=') {
		m->op = MATCH_NE;
		s += 2;
	} else if (s[0] == '=') {
		m->op = MATCH_EQ;
		s += 1;
	} else {
		return fail(err, errlen,
			    "matcher %s: expected =, !=, =~ or !~ after the "
			    "name",
			    m->name);
	}
	while (*s == ' ')
		s++;
	if (*s == '"') {
		s++;
		for (; *s && *s != '"'; s++) {
			char c = *s;
			if (c == '\\' && (s[1] == '"' || s[1] == '\\'))
				c = *++s;
			if (v == MATCHER_VALUE_MAX)
				return fail(err, errlen,
					    "matcher %s: value over %d bytes",
					    m->name, MATCHER_VALUE_MAX);
			m->value[v++] = c;
		}
		if (*s != '"')
			return fail(err, errlen,
				    "matcher %s: unterminated quoted value",
				    m->name);
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s && *s != ',')
			return fail(err, errlen,
				    "matcher %s: text after the quoted value",
				    m->name);
	} else {
		for (; *s && *s != ','; s++) {
			if (v == MATCHER_VALUE_MAX)
				return fail(err, errlen,
					    "matcher %s: value over %d bytes",
					    m->name, MATCHER_VALUE_MAX);
			m->value[v++] = *s;
		}
		while (v > 0 &&
		       (m->value[v - 1] == ' ' || m->value[v - 1] == '\t'))
			v--;
	}
	m->value[v] = '\0';
	*p = s;
	return compile(m, err, errlen);
}

int matchers_parse(const char *text, struct matchers *ret, char *err,
		   size_t errlen)
{
	struct matchers ms = { .n = 0 };
	const char *p = text ? text : "";
	int r = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	while (*p) {
		if (ms.n == MATCHERS_MAX) {
			r = fail(err, errlen, "more than %d matchers",
				 MATCHERS_MAX);
			break;
		}
		memset(&ms.m[ms.n], 0, sizeof(ms.m[0]));
		r = parse_one(&p, &ms.m[ms.n], err, errlen);
		if (r < 0)
			break;
		ms.n++;
		if (*p == ',') {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p) {
				r = fail(err, errlen,
					 "a comma ends the list of matchers");
				break;
			}
		}
	}
	if (r < 0) {
		matchers_release(&ms);
		return r;
	}
	memcpy(ret, &ms, sizeof(ms));
	return 0;
}

int matchers_from_json(const cJSON *arr, struct matchers *ret, char *err,
		       size_t errlen)
{
	struct matchers ms = { .n = 0 };
	const cJSON *it;
	int r = 0;

	if (!cJSON_IsArray(arr))
		return fail(err, errlen, "matchers: must be an array");
	cJSON_ArrayForEach(it, arr)
	{
		if (ms.n == MATCHERS_MAX) {
			r = fail(err, errlen, "more than %d matchers",
				 MATCHERS_MAX);
			break;
		}
		struct matcher *m = &ms.m[ms.n];
		memset(m, 0, sizeof(*m));
		if (cJSON_IsString(it)) {
			const char *p = it->valuestring;
			r = parse_one(&p, m, err, errlen);
			if (r == 0 && *p) {
				if (m->op == MATCH_RE || m->op == MATCH_NRE)
					regfree(&m->re);
				r = fail(err, errlen,
					 "matchers[%zu]: one matcher per "
					 "string",
					 ms.n);
			}
		} else if (cJSON_IsObject(it)) {
			const cJSON *name =
			    cJSON_GetObjectItemCaseSensitive(it, "name");
			const cJSON *value =
			    cJSON_GetObjectItemCaseSensitive(it, "value");
			const cJSON *re =
			    cJSON_GetObjectItemCaseSensitive(it, "isRegex");
			const cJSON *eq =
			    cJSON_GetObjectItemCaseSensitive(it, "isEqual");
			size_t nl = cJSON_IsString(name)
					? strlen(name->valuestring)
					: 0;
			if (!nl || nl > MATCHER_NAME_MAX ||
			    !cJSON_IsString(value) ||
			    strlen(value->valuestring) > MATCHER_VALUE_MAX ||
			    (re && !cJSON_IsBool(re)) ||
			    (eq && !cJSON_IsBool(eq))) {
				r = fail(err, errlen,
					 "matchers[%zu]: needs a name (1-%d "
					 "bytes), a value (at most %d) and "
					 "boolean isRegex/isEqual",
					 ms.n, MATCHER_NAME_MAX,
					 MATCHER_VALUE_MAX);
				break;
			}
			for (size_t i = 0; i < nl; i++)
				if (!name_char(name->valuestring[i], i == 0))
					r = fail(err, errlen,
						 "matchers[%zu]: bad label "
						 "name",
						 ms.n);
			if (r < 0)
				break;
			snprintf(m->name, sizeof(m->name), "%s",
				 name->valuestring);
			snprintf(m->value, sizeof(m->value), "%s",
				 value->valuestring);
			bool isre = cJSON_IsTrue(re);
			bool iseq = !eq || cJSON_IsTrue(eq);
			m->op = isre ? (iseq ? MATCH_RE : MATCH_NRE)
				     : (iseq ? MATCH_EQ : MATCH_NE);
			r = compile(m, err, errlen);
		} else {
			r = fail(err, errlen,
				 "matchers[%zu]: a string or an object", ms.n);
		}
		if (r < 0)
			break;
		ms.n++;
	}
	if (r < 0) {
		matchers_release(&ms);
		return r;
	}
	memcpy(ret, &ms, sizeof(ms));
	return 0;
}

size_t matchers_format(const struct matchers *ms, char *out, size_t outlen)
{
	static const char *const ops[] = { "=", "!=", "=~", "!~" };
	size_t pos = 0;

	if (outlen == 0)
		return 0;
	out[0] = '\0';
	for (size_t i = 0; i < ms->n; i++) {
		const struct matcher *m = &ms->m[i];
		int w = snprintf(out + pos, outlen - pos, "%s%s%s\"",
				 i ? ", " : "", m->name, ops[m->op]);
		if (w < 0 || (size_t)w >= outlen - pos)
			return strlen(out);
		pos += (size_t)w;
		for (const char *c = m->value; *c && pos + 3 < outlen; c++) {
			if (*c == '"' || *c == '\\')
				out[pos++] = '\\';
			out[pos++] = *c;
		}
		if (pos + 1 < outlen)
			out[pos++] = '"';
		out[pos] = '\0';
	}
	return pos;
}

static const char *value_of(const struct label *labels, size_t n,
			    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].name, name) == 0)
			return labels[i].value ? labels[i].value : "";
	return "";
}

bool matchers_match(const struct matchers *ms, const struct label *labels,
		    size_t n)
{
	for (size_t i = 0; i < ms->n; i++) {
		const struct matcher *m = &ms->m[i];
		const char *v = value_of(labels, n, m->name);
		bool ok;
		switch (m->op) {
		case MATCH_EQ:
			ok = strcmp(v, m->value) == 0;
			break;
		case MATCH_NE:
			ok = strcmp(v, m->value) != 0;
			break;
		case MATCH_RE:
			ok = regexec(&m->re, v, 0, NULL, 0) == 0;
			break;
		default:
			ok = regexec(&m->re, v, 0, NULL, 0) != 0;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

void matchers_release(struct matchers *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].op == MATCH_RE || ms->m[i].op == MATCH_NRE)
			regfree(&ms->m[i].re);
	ms->n = 0;
}
