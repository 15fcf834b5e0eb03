/* Alert rule files and templates (see alertrule.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "alertrule.h"
#include "cleanup.h"
#include "conf.h"
#include "yamldoc.h"
#include "utf8.h"

/* ---- names ---- */

struct subject_info {
	const char *name;
	unsigned scopes;
	bool per_probe;
};

#define SUBJECT_INFO_(e, name, scopes, per_probe) { name, scopes, per_probe },
static const struct subject_info subjects[] = { ALERTRULE_SUBJECTS(
    SUBJECT_INFO_) };
#undef SUBJECT_INFO_

static const char *const scope_names[] = { "node", "service", "fleet" };
static const char *const op_names[] = { ">", ">=", "<", "<=", "==", "!=" };
static const char *const severity_names[] = { "critical", "error", "warning",
					      "info" };

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *alertrule_scope_name(enum alertrule_scope scope)
{
	return (unsigned)scope < ARRAY_SIZE(scope_names) ? scope_names[scope]
							 : NULL;
}

int alertrule_scope_parse(const char *s, enum alertrule_scope *ret)
{
	int i = name_index(scope_names, ARRAY_SIZE(scope_names), s);
	if (i < 0)
		return i;
	*ret = (enum alertrule_scope)i;
	return 0;
}

const char *alertrule_subject_name(enum alertrule_subject subject)
{
	return (unsigned)subject < ARRAY_SIZE(subjects) ? subjects[subject].name
							: NULL;
}

int alertrule_subject_parse(const char *s, enum alertrule_subject *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(subjects); i++) {
		if (strcmp(subjects[i].name, s) == 0) {
			*ret = (enum alertrule_subject)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *alertrule_op_name(enum alertrule_op op)
{
	return (unsigned)op < ARRAY_SIZE(op_names) ? op_names[op] : NULL;
}

int alertrule_op_parse(const char *s, enum alertrule_op *ret)
{
	int i = name_index(op_names, ARRAY_SIZE(op_names), s);
	if (i < 0)
		return i;
	*ret = (enum alertrule_op)i;
	return 0;
}

const char *alertrule_severity_name(enum alertrule_severity severity)
{
	return (unsigned)severity < ARRAY_SIZE(severity_names)
		   ? severity_names[severity]
		   : NULL;
}

int alertrule_severity_parse(const char *s, enum alertrule_severity *ret)
{
	int i = name_index(severity_names, ARRAY_SIZE(severity_names), s);
	if (i < 0)
		return i;
	*ret = (enum alertrule_severity)i;
	return 0;
}

unsigned alertrule_subject_scopes(enum alertrule_subject subject)
{
	return (unsigned)subject < ARRAY_SIZE(subjects)
		   ? subjects[subject].scopes
		   : 0;
}

bool alertrule_subject_per_probe(enum alertrule_subject subject)
{
	return (unsigned)subject < ARRAY_SIZE(subjects) &&
	       subjects[subject].per_probe;
}

bool alertrule_condition_holds(const struct alertrule_condition *c,
			       double value)
{
	if (isnan(value))
		return false;
	switch (c->op) {
	case ALERTRULE_OP_GT:
		return value > c->threshold;
	case ALERTRULE_OP_GE:
		return value >= c->threshold;
	case ALERTRULE_OP_LT:
		return value < c->threshold;
	case ALERTRULE_OP_LE:
		return value <= c->threshold;
	case ALERTRULE_OP_EQ:
		return value == c->threshold;
	case ALERTRULE_OP_NE:
		return value != c->threshold;
	}
	return false;
}

size_t alertrule_identity(const struct alertrule *r, const char *scope_key,
			  const char *probe, struct alertstate_label out[2])
{
	size_t n = 0;

	if (r->scope == ALERTRULE_SCOPE_NODE)
		out[n++] = (struct alertstate_label){ "node", scope_key };
	else if (r->scope == ALERTRULE_SCOPE_SERVICE)
		out[n++] = (struct alertstate_label){ "service", scope_key };
	if (alertrule_subject_per_probe(r->cond.subject))
		out[n++] =
		    (struct alertstate_label){ "probe", probe ? probe : "" };
	return n;
}

/* ---- durations and numbers ---- */

void alertrule_format_duration(int64_t ms, char out[32])
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "d", 86400000 },
		      { "h", 3600000 },
		      { "m", 60000 },
		      { "s", 1000 },
		      { "ms", 1 } };
	size_t len = 0;

	if (ms <= 0) {
		snprintf(out, 32, "0s");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(units) && ms > 0; i++) {
		if (ms < units[i].ms)
			continue;
		int n = snprintf(out + len, 32 - len, "%lld%s",
				 (long long)(ms / units[i].ms), units[i].unit);
		if (n < 0 || (size_t)n >= 32 - len)
			return;
		len += (size_t)n;
		ms %= units[i].ms;
	}
}

/* "90", "90s", "1m30s", "1.5h", "500ms": NUMBER UNIT pairs (ms, s, m, h,
 * d) or one bare NUMBER of seconds. Returns 0 or -EINVAL / -ERANGE. */
static int parse_duration_string(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ms", 1 },
		      { "s", 1000 },
		      { "m", 60000 },
		      { "h", 3600000 },
		      { "d", 86400000 } };
	double total = 0;
	bool bare = false;

	if (!*s)
		return -EINVAL;
	while (*s) {
		double v = 0, scale = 1;
		size_t digits = 0;

		if (bare)
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++, digits++)
			v = v * 10 + (*s - '0');
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++, digits++) {
				scale /= 10;
				v += (*s - '0') * scale;
			}
		}
		if (digits == 0 || v > 1e12)
			return -EINVAL;
		size_t ulen = 0;
		while (s[ulen] >= 'a' && s[ulen] <= 'z')
			ulen++;
		if (ulen == 0) {
			/* a bare number is seconds, and only alone */
			bare = true;
			if (total > 0)
				return -EINVAL;
			total += v * 1000;
			continue;
		}
		size_t i;
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if (strlen(units[i].unit) == ulen &&
			    strncmp(units[i].unit, s, ulen) == 0)
				break;
		if (i == ARRAY_SIZE(units))
			return -EINVAL;
		total += v * units[i].ms;
		s += ulen;
	}
	if (total > (double)ALERTRULE_MAX_DURATION_MS)
		return -ERANGE;
	*ret_ms = llround(total);
	return 0;
}

/* {{value}}: whole numbers without decimals, the rest with 3 significant
 * digits (4 above 100), huge ones in exponent form; "n/a" when absent. */
static void format_number(double v, char out[32])
{
	double a = fabs(v);

	if (!isfinite(v))
		snprintf(out, 32, "n/a");
	else if (a >= 1e15)
		snprintf(out, 32, "%.3g", v);
	else if (v == floor(v))
		snprintf(out, 32, "%.0f", v + 0.0);
	else if (a >= 100)
		snprintf(out, 32, "%.1f", v);
	else
		snprintf(out, 32, "%.3g", v);
}

/* {{value_pct}}: a ratio as a percentage, "93.4%", "90%". */
static void format_percent(double v, char out[32])
{
	double p = v * 100;

	if (!isfinite(p))
		snprintf(out, 32, "n/a");
	else if (fabs(p) >= 1e15)
		snprintf(out, 32, "%.3g%%", p);
	else if (round(p * 10) == round(p) * 10)
		snprintf(out, 32, "%.0f%%", round(p) + 0.0);
	else
		snprintf(out, 32, "%.1f%%", p);
}

/* ---- UTF-8 ---- */

struct out {
	char *p;
	size_t cap; /* bytes of p, the NUL included */
	size_t len;
	bool cut;
};

/* Append n bytes of s, each invalid byte as U+FFFD; at the first character
 * that does not fit, stop for good (a cut text must not go on after a
 * hole). */
static void out_put(struct out *o, const char *s, size_t n)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *u = (const unsigned char *)s;

	while (n > 0 && !o->cut) {
		size_t k = utf8_decode(u, n, NULL);
		const void *src = u;
		size_t w = k;

		if (k == 0) {
			src = replacement;
			w = 3;
			k = 1;
		}
		if (o->cap - 1 - o->len < w) {
			o->cut = true;
			break;
		}
		memcpy(o->p + o->len, src, w);
		o->len += w;
		u += k;
		n -= k;
	}
	o->p[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	if (s)
		out_put(o, s, strlen(s));
}

/* ---- templates ---- */

enum ph {
	PH_NODE,
	PH_SERVICE,
	PH_PROBE,
	PH_VALUE,
	PH_VALUE_PCT,
	PH_THRESHOLD,
	PH_THRESHOLD_PCT,
	PH_RULE,
	PH_SEVERITY,
	PH_SCOPE,
	PH_SUBJECT,
	PH_FOR,
	PH_LABEL, /* labels.KEY */
};

static const char *const ph_names[] = {
	[PH_NODE] = "node",
	[PH_SERVICE] = "service",
	[PH_PROBE] = "probe",
	[PH_VALUE] = "value",
	[PH_VALUE_PCT] = "value_pct",
	[PH_THRESHOLD] = "threshold",
	[PH_THRESHOLD_PCT] = "threshold_pct",
	[PH_RULE] = "rule",
	[PH_SEVERITY] = "severity",
	[PH_SCOPE] = "scope",
	[PH_SUBJECT] = "subject",
	[PH_FOR] = "for",
};

#define LABELS_PREFIX "labels."

enum tok_kind {
	TOK_END,
	TOK_TEXT,
	TOK_PLACEHOLDER,
	TOK_UNTERMINATED,
};

struct tok {
	enum tok_kind kind;
	const char *s; /* text, or the placeholder's name without spaces */
	size_t n;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The token at *pp; advances *pp past it. "\{{" is a literal "{{";
 * "{{ name }}" a placeholder; anything else text up to the next of those. */
static void next_tok(const char **pp, struct tok *t)
{
	const char *p = *pp;

	if (*p == '\0') {
		t->kind = TOK_END;
		return;
	}
	if (p[0] == '\\' && p[1] == '{' && p[2] == '{') {
		*t = (struct tok){ TOK_TEXT, p + 1, 2 };
		*pp = p + 3;
		return;
	}
	if (p[0] == '{' && p[1] == '{') {
		const char *end = strstr(p + 2, "}}");
		if (!end) {
			*t = (struct tok){ TOK_UNTERMINATED, p, 0 };
			return;
		}
		const char *a = p + 2, *b = end;
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		*t = (struct tok){ TOK_PLACEHOLDER, a, (size_t)(b - a) };
		*pp = end + 2;
		return;
	}
	const char *q = p + 1;
	while (*q && !(q[0] == '{' && q[1] == '{') &&
	       !(q[0] == '\\' && q[1] == '{' && q[2] == '{'))
		q++;
	*t = (struct tok){ TOK_TEXT, p, (size_t)(q - p) };
	*pp = q;
}

static bool label_ref_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
	       c == '/';
}

/* Which placeholder name s[0..n) is; for labels.KEY, KEY is copied to key.
 * Returns the placeholder or -EINVAL. */
static int ph_lookup(const char *s, size_t n,
		     char key[ALERTRULE_LABEL_KEY_MAX + 1])
{
	size_t pl = strlen(LABELS_PREFIX);

	for (size_t i = 0; i < ARRAY_SIZE(ph_names); i++)
		if (ph_names[i] && strlen(ph_names[i]) == n &&
		    memcmp(ph_names[i], s, n) == 0)
			return (int)i;
	if (n <= pl || n - pl > ALERTRULE_LABEL_KEY_MAX ||
	    memcmp(s, LABELS_PREFIX, pl) != 0)
		return -EINVAL;
	for (size_t i = pl; i < n; i++)
		if (!label_ref_char(s[i]))
			return -EINVAL;
	memcpy(key, s + pl, n - pl);
	key[n - pl] = '\0';
	return PH_LABEL;
}

/* Why placeholder ph cannot be used in rule r, or NULL when it can. */
static const char *ph_unavailable(enum ph ph, const struct alertrule *r)
{
	bool per_probe = alertrule_subject_per_probe(r->cond.subject);

	switch (ph) {
	case PH_NODE:
		if (r->scope != ALERTRULE_SCOPE_NODE)
			return "only in node rules";
		return NULL;
	case PH_SERVICE:
		if (r->scope == ALERTRULE_SCOPE_SERVICE ||
		    (r->scope == ALERTRULE_SCOPE_NODE && per_probe))
			return NULL;
		return "only in service rules and per-probe node rules";
	case PH_PROBE:
		if (!per_probe)
			return "only with a per-probe subject "
			       "(probe_error_rate,"
			       " probe_p99_over_slo)";
		return NULL;
	default:
		return NULL;
	}
}

/* Check tmpl for rule r at load time. Returns 0 or -EINVAL with msg set. */
static int template_check(const char *tmpl, const struct alertrule *r,
			  char *msg, size_t msglen)
{
	const char *p = tmpl;
	char key[ALERTRULE_LABEL_KEY_MAX + 1];
	struct tok t;

	if (strlen(tmpl) > ALERTRULE_MAX_TEMPLATE) {
		snprintf(msg, msglen, "longer than %d bytes",
			 ALERTRULE_MAX_TEMPLATE);
		return -EINVAL;
	}
	for (next_tok(&p, &t); t.kind != TOK_END; next_tok(&p, &t)) {
		if (t.kind == TOK_UNTERMINATED) {
			snprintf(msg, msglen,
				 "'{{' at byte %zu is not closed by '}}' "
				 "(write \\{{ for a literal {{)",
				 (size_t)(t.s - tmpl) + 1);
			return -EINVAL;
		}
		if (t.kind != TOK_PLACEHOLDER)
			continue;
		int ph = ph_lookup(t.s, t.n, key);
		if (ph < 0) {
			snprintf(msg, msglen,
				 "unknown placeholder {{%.*s}} (known: node, "
				 "service, probe, value, value_pct, threshold, "
				 "threshold_pct, rule, severity, scope, "
				 "subject, for, labels.KEY)",
				 (int)(t.n > 64 ? 64 : t.n), t.s);
			return -EINVAL;
		}
		const char *why = ph_unavailable((enum ph)ph, r);
		if (why) {
			snprintf(msg, msglen, "{{%s}} is %s", ph_names[ph],
				 why);
			return -EINVAL;
		}
	}
	return 0;
}

static const char *rule_label(const struct alertrule *r, const char *key)
{
	for (size_t i = 0; r && i < r->nlabels; i++)
		if (strcmp(r->labels[i].key, key) == 0)
			return r->labels[i].value;
	return NULL;
}

static void render_ph(struct out *o, enum ph ph, const char *key,
		      const struct alertrule_ctx *ctx)
{
	const struct alertrule *r = ctx->rule;
	char num[32];
	const char *v = NULL;

	switch (ph) {
	case PH_NODE:
		v = ctx->node;
		break;
	case PH_SERVICE:
		v = ctx->service;
		break;
	case PH_PROBE:
		v = ctx->probe;
		break;
	case PH_VALUE:
		format_number(ctx->value, num);
		v = num;
		break;
	case PH_VALUE_PCT:
		format_percent(ctx->value, num);
		v = num;
		break;
	case PH_THRESHOLD:
	case PH_THRESHOLD_PCT:
		if (!r)
			break;
		if (ph == PH_THRESHOLD)
			format_number(r->cond.threshold, num);
		else
			format_percent(r->cond.threshold, num);
		v = num;
		break;
	case PH_RULE:
		v = r ? r->name : NULL;
		break;
	case PH_SEVERITY:
		v = r ? alertrule_severity_name(r->severity) : NULL;
		break;
	case PH_SCOPE:
		v = r ? alertrule_scope_name(r->scope) : NULL;
		break;
	case PH_SUBJECT:
		v = r ? alertrule_subject_name(r->cond.subject) : NULL;
		break;
	case PH_FOR:
		if (!r)
			break;
		alertrule_format_duration(r->timing.for_ms, num);
		v = num;
		break;
	case PH_LABEL:
		v = rule_label(r, key);
		if (!v && ctx->node_label)
			v = ctx->node_label(ctx->user, key);
		break;
	}
	out_puts(o, v);
}

int alertrule_render(const char *tmpl, const struct alertrule_ctx *ctx,
		     char *out, size_t outlen)
{
	struct out o = { .p = out, .cap = outlen };
	char key[ALERTRULE_LABEL_KEY_MAX + 1];
	const char *p = tmpl;
	struct tok t;

	if (outlen == 0)
		return -EINVAL;
	out[0] = '\0';
	for (next_tok(&p, &t); t.kind != TOK_END && !o.cut; next_tok(&p, &t)) {
		int ph;
		switch (t.kind) {
		case TOK_TEXT:
			out_put(&o, t.s, t.n);
			break;
		case TOK_PLACEHOLDER:
			ph = ph_lookup(t.s, t.n, key);
			if (ph < 0) {
				out[0] = '\0';
				return -EINVAL;
			}
			render_ph(&o, (enum ph)ph, key, ctx);
			break;
		case TOK_UNTERMINATED:
			out[0] = '\0';
			return -EINVAL;
		case TOK_END:
			break;
		}
	}
	return o.cut ? -E2BIG : 0;
}

/* ---- where a key is in the YAML text ---- */

/* A path into the document: keys, or list indexes where key is NULL
 * (index ANY_INDEX matches every item). */
#define ANY_INDEX  ((size_t)-1)
#define PATH_DEPTH 5

struct ypath {
	struct {
		const char *key;
		size_t index;
	} c[PATH_DEPTH];
	size_t n;
};

struct yframe {
	bool is_map, want_key;
	bool matched;	   /* this collection's path is a prefix of ours */
	bool key_matched;  /* the key just read is the next component */
	size_t next_index; /* list: index of the next item */
};

/* Called with each place that matches the path (for a list item: its
 * index); returns true to stop. */
typedef bool (*ypath_fn)(void *user, size_t index, const yaml_mark_t *mark);

/* Walk text's events and call fn at the key (for a key component) or the
 * node (list item, document) that path names. Returns whether fn was
 * called. The text was accepted by yamldoc, so keys are scalars. */
static bool ypath_find(const char *text, size_t len, const struct ypath *path,
		       ypath_fn fn, void *user)
{
	struct yframe st[YAMLDOC_MAX_DEPTH + 1];
	size_t depth = 0, n = path->n;
	bool found = false, done = false;
	yaml_parser_t parser;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev))
			break;
		bool node = ev.type == YAML_SCALAR_EVENT ||
			    ev.type == YAML_SEQUENCE_START_EVENT ||
			    ev.type == YAML_MAPPING_START_EVENT;
		if (ev.type == YAML_STREAM_END_EVENT)
			done = true;
		if (ev.type == YAML_SEQUENCE_END_EVENT ||
		    ev.type == YAML_MAPPING_END_EVENT) {
			if (depth > 0)
				depth--;
		} else if (node) {
			bool m = depth == 0;
			size_t index = 0;
			if (depth > 0) {
				struct yframe *f = &st[depth - 1];
				bool in = f->matched && depth - 1 < n;
				if (f->is_map && f->want_key) {
					if (ev.type != YAML_SCALAR_EVENT) {
						/* yamldoc refuses such keys */
						yaml_event_delete(&ev);
						break;
					}
					const char *k =
					    (const char *)ev.data.scalar.value;
					f->want_key = false;
					f->key_matched =
					    in && path->c[depth - 1].key &&
					    strcmp(k, path->c[depth - 1].key) ==
						0;
					if (f->key_matched && depth == n) {
						found = true;
						done =
						    fn(user, 0, &ev.start_mark);
					}
					yaml_event_delete(&ev);
					continue;
				}
				if (f->is_map) {
					m = f->key_matched;
					f->want_key = true;
				} else {
					index = f->next_index++;
					m = in && !path->c[depth - 1].key &&
					    (path->c[depth - 1].index ==
						 ANY_INDEX ||
					     path->c[depth - 1].index == index);
					if (m && depth == n) {
						found = true;
						done = fn(user, index,
							  &ev.start_mark);
						m = false;
					}
				}
			} else if (n == 0) {
				found = true;
				done = fn(user, 0, &ev.start_mark);
			}
			if (ev.type != YAML_SCALAR_EVENT) {
				if (depth > YAMLDOC_MAX_DEPTH) {
					yaml_event_delete(&ev);
					break;
				}
				st[depth++] = (struct yframe){
					.is_map =
					    ev.type == YAML_MAPPING_START_EVENT,
					.want_key =
					    ev.type == YAML_MAPPING_START_EVENT,
					.matched = m,
				};
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return found;
}

static bool keep_first(void *user, size_t index, const yaml_mark_t *mark)
{
	(void)index;
	*(yaml_mark_t *)user = *mark;
	return true;
}

struct item_lines {
	unsigned *lines;
	size_t n;
};

static bool keep_line(void *user, size_t index, const yaml_mark_t *mark)
{
	struct item_lines *il = user;
	if (index < il->n)
		il->lines[index] = (unsigned)mark->line + 1;
	return false;
}

/* ---- parsing a rule file ---- */

struct parse {
	struct alertrule_set *set;
	const char *name; /* the file, in messages */
	const char *text;
	size_t len;
	char *err;
	size_t errlen;
	bool in_rule;	       /* errors are about rules[index] */
	size_t index;	       /* of the rule in the file */
	const char *rule_name; /* NULL until known good */
};

/* The path of rules[p->index].k1.k2 (k1, k2 may be NULL). */
static struct ypath rule_path(const struct parse *p, const char *k1,
			      const char *k2)
{
	struct ypath y = { .n = 2 };

	y.c[0].key = "rules";
	y.c[1].index = p->index;
	if (k1)
		y.c[y.n++].key = k1;
	if (k2)
		y.c[y.n++].key = k2;
	return y;
}

static struct ypath top_path(const char *k)
{
	struct ypath y = { .n = 0 };
	if (k)
		y.c[y.n++].key = k;
	return y;
}

static int fail(struct parse *p, const struct ypath *at, const char *what,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Set the error "FILE:LINE:COL: [rules[i] (name): ][what: ]message", the
 * position being that of at in the text. Returns -EINVAL. */
static int fail(struct parse *p, const struct ypath *at, const char *what,
		const char *fmt, ...)
{
	char msg[384], where[48] = "", rule[128] = "";
	yaml_mark_t mark;
	va_list ap;

	if (!p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at && ypath_find(p->text, p->len, at, keep_first, &mark))
		snprintf(where, sizeof(where), ":%zu:%zu",
			 (size_t)mark.line + 1, (size_t)mark.column + 1);
	if (p->in_rule && p->rule_name)
		snprintf(rule, sizeof(rule), "rules[%zu] (%s): ", p->index,
			 p->rule_name);
	else if (p->in_rule)
		snprintf(rule, sizeof(rule), "rules[%zu]: ", p->index);
	snprintf(p->err, p->errlen, "%s%s: %s%.100s%s%s", p->name, where, rule,
		 what ? what : "", what ? ": " : "", msg);
	return -EINVAL;
}

static bool rule_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ALERTRULE_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

/* Prometheus label names, so that Alertmanager takes them as they are. */
static bool label_key_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ALERTRULE_LABEL_KEY_MAX || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Labels the engine sets on every instance itself. */
static const char *const reserved_labels[] = {
	"alertname", "node", "service", "probe", "scope", "severity"
};

static void list_names(char *out, size_t outlen, const char *const *names,
		       size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && len < outlen; i++) {
		int w = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "",
				 names[i]);
		if (w < 0)
			return;
		len += (size_t)w;
	}
}

static void list_subjects(char *out, size_t outlen, enum alertrule_scope scope)
{
	size_t len = 0;
	bool first = true;
	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(subjects) && len < outlen; i++) {
		if (!(subjects[i].scopes & (1u << scope)))
			continue;
		int w = snprintf(out + len, outlen - len, "%s%s",
				 first ? "" : ", ", subjects[i].name);
		if (w < 0)
			return;
		len += (size_t)w;
		first = false;
	}
}

static int parse_duration(struct parse *p, const cJSON *v, const char *key,
			  int64_t *ret_ms)
{
	struct ypath at = rule_path(p, key, NULL);
	int64_t ms;

	if (cJSON_IsNumber(v)) {
		if (!(v->valuedouble >= 0) ||
		    !(v->valuedouble * 1000 <=
		      (double)ALERTRULE_MAX_DURATION_MS))
			goto bad;
		ms = llround(v->valuedouble * 1000);
	} else if (cJSON_IsString(v)) {
		if (parse_duration_string(v->valuestring, &ms) < 0)
			goto bad;
	} else {
		goto bad;
	}
	*ret_ms = ms;
	return 0;
bad:
	if (cJSON_IsString(v))
		return fail(p, &at, key,
			    "'%.64s' is not a duration from 0 to 30d (e.g. "
			    "90s, 5m, 1h30m, 500ms, or seconds)",
			    v->valuestring);
	return fail(p, &at, key,
		    "must be a duration from 0 to 30d (e.g. 90s, 5m, 1h30m, "
		    "500ms, or seconds)");
}

/* What the condition named before the scope is known. */
struct cond_parse {
	bool seen, string_form;
	char subject[ALERTRULE_NAME_MAX + 1];
	bool subject_too_long;
};

static void keep_subject(struct cond_parse *cp, const char *s, size_t n)
{
	cp->subject_too_long = n > ALERTRULE_NAME_MAX;
	if (n > ALERTRULE_NAME_MAX)
		n = ALERTRULE_NAME_MAX;
	memcpy(cp->subject, s, n);
	cp->subject[n] = '\0';
}

/* "SUBJECT OP NUMBER", e.g. "cpu > 0.9". */
static int parse_condition_string(struct parse *p, const char *s,
				  struct alertrule *r, struct cond_parse *cp)
{
	struct ypath at = rule_path(p, "condition", NULL);
	const char *q = s, *subj;
	char num[64];
	size_t n;

	while (is_space(*q))
		q++;
	subj = q;
	while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
	       *q == '_')
		q++;
	n = (size_t)(q - subj);
	while (is_space(*q))
		q++;
	/* two-character operators first: ">" is a prefix of ">=" */
	static const enum alertrule_op order[] = {
		ALERTRULE_OP_GE, ALERTRULE_OP_LE, ALERTRULE_OP_EQ,
		ALERTRULE_OP_NE, ALERTRULE_OP_GT, ALERTRULE_OP_LT,
	};
	size_t i;
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		const char *op = op_names[order[i]];
		if (strncmp(q, op, strlen(op)) == 0)
			break;
	}
	if (n == 0 || i == ARRAY_SIZE(order))
		goto bad;
	r->cond.op = order[i];
	q += strlen(op_names[order[i]]);
	while (is_space(*q))
		q++;
	size_t nl = strlen(q);
	while (nl > 0 && is_space(q[nl - 1]))
		nl--;
	if (nl == 0 || nl >= sizeof(num))
		goto bad;
	memcpy(num, q, nl);
	num[nl] = '\0';
	if (conf_parse_double(num, -DBL_MAX, DBL_MAX, &r->cond.threshold) < 0)
		goto bad;
	keep_subject(cp, subj, n);
	return 0;
bad:
	return fail(p, &at, "condition",
		    "'%.64s' is not 'SUBJECT OP NUMBER' (e.g. \"cpu > 0.9\"; "
		    "OP one of > >= < <= == !=)",
		    s);
}

static int parse_condition(struct parse *p, const cJSON *v, struct alertrule *r,
			   struct cond_parse *cp)
{
	bool has_subject = false, has_op = false, has_threshold = false;
	const cJSON *c;

	cp->seen = true;
	if (cJSON_IsString(v)) {
		cp->string_form = true;
		return parse_condition_string(p, v->valuestring, r, cp);
	}
	if (!cJSON_IsObject(v)) {
		struct ypath at = rule_path(p, "condition", NULL);
		return fail(p, &at, "condition",
			    "must be a mapping {subject, op, threshold} or a "
			    "string like \"cpu > 0.9\"");
	}
	cJSON_ArrayForEach(c, v)
	{
		struct ypath at = rule_path(p, "condition", c->string);
		char what[80];

		snprintf(what, sizeof(what), "condition.%.60s", c->string);
		if (strcmp(c->string, "subject") == 0) {
			if (!cJSON_IsString(c))
				return fail(p, &at, what,
					    "must be a subject name");
			keep_subject(cp, c->valuestring,
				     strlen(c->valuestring));
			has_subject = true;
		} else if (strcmp(c->string, "op") == 0) {
			if (!cJSON_IsString(c) ||
			    alertrule_op_parse(c->valuestring, &r->cond.op) < 0)
				return fail(p, &at, what,
					    "must be one of > >= < <= == !=");
			has_op = true;
		} else if (strcmp(c->string, "threshold") == 0) {
			if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
				return fail(p, &at, what,
					    "must be a number (ratios are "
					    "0..1: 0.9 for 90%%)");
			r->cond.threshold = c->valuedouble;
			has_threshold = true;
		} else {
			return fail(p, &at, what,
				    "unknown key (allowed: subject, op, "
				    "threshold)");
		}
	}
	struct ypath at = rule_path(p, "condition", NULL);
	if (!has_subject)
		return fail(p, &at, "condition.subject", "required");
	if (!has_op)
		return fail(p, &at, "condition.op", "required");
	if (!has_threshold)
		return fail(p, &at, "condition.threshold", "required");
	return 0;
}

/* After the whole rule was read: the subject must exist in the scope. */
static int check_subject(struct parse *p, struct alertrule *r,
			 const struct cond_parse *cp)
{
	struct ypath at =
	    rule_path(p, "condition", cp->string_form ? NULL : "subject");
	const char *what = cp->string_form ? "condition" : "condition.subject";
	char list[256];
	enum alertrule_subject subj;

	if (!cp->subject_too_long &&
	    alertrule_subject_parse(cp->subject, &subj) == 0 &&
	    (subjects[subj].scopes & (1u << r->scope))) {
		r->cond.subject = subj;
		return 0;
	}
	list_subjects(list, sizeof(list), r->scope);
	return fail(p, &at, what,
		    "'%s%s' is not a %s subject (%s subjects: %s)", cp->subject,
		    cp->subject_too_long ? "..." : "", scope_names[r->scope],
		    scope_names[r->scope], list);
}

static int label_cmp(const void *a, const void *b)
{
	const struct alertrule_label *x = a, *y = b;
	return strcmp(x->key, y->key);
}

static int parse_labels(struct parse *p, const cJSON *v, struct alertrule *r)
{
	struct ypath at = rule_path(p, "labels", NULL);
	const cJSON *c;
	size_t n = 0;

	if (!cJSON_IsObject(v))
		return fail(p, &at, "labels",
			    "must be a mapping of names to strings");
	n = (size_t)cJSON_GetArraySize(v);
	if (n > ALERTRULE_MAX_LABELS)
		return fail(p, &at, "labels", "more than %d labels",
			    ALERTRULE_MAX_LABELS);
	if (n == 0)
		return 0;
	r->labels = calloc(n, sizeof(*r->labels));
	if (!r->labels)
		return -ENOMEM;
	cJSON_ArrayForEach(c, v)
	{
		char what[ALERTRULE_LABEL_KEY_MAX + 16];

		at = rule_path(p, "labels", c->string);
		snprintf(what, sizeof(what), "labels.%.*s",
			 ALERTRULE_LABEL_KEY_MAX, c->string);
		if (!label_key_valid(c->string))
			return fail(p, &at, what,
				    "a label name is 1 to %d of [A-Za-z0-9_], "
				    "not starting with a digit",
				    ALERTRULE_LABEL_KEY_MAX);
		for (size_t i = 0; i < ARRAY_SIZE(reserved_labels); i++)
			if (strcmp(c->string, reserved_labels[i]) == 0)
				return fail(p, &at, what,
					    "reserved: the alert sets it "
					    "itself");
		if (!cJSON_IsString(c))
			return fail(p, &at, what,
				    "must be a string (quote numbers and "
				    "booleans)");
		if (strlen(c->valuestring) > ALERTRULE_LABEL_VALUE_MAX)
			return fail(p, &at, what, "longer than %d bytes",
				    ALERTRULE_LABEL_VALUE_MAX);
		r->labels[r->nlabels].key = strdup(c->string);
		r->labels[r->nlabels].value = strdup(c->valuestring);
		/* counted first, so that a half-made label is freed too */
		r->nlabels++;
		if (!r->labels[r->nlabels - 1].key ||
		    !r->labels[r->nlabels - 1].value)
			return -ENOMEM;
	}
	qsort(r->labels, r->nlabels, sizeof(*r->labels), label_cmp);
	return 0;
}

/* A template's type and size; its placeholders are checked once the whole
 * rule is known. */
static int parse_template(struct parse *p, const cJSON *v, const char *key,
			  char **ret)
{
	struct ypath at = rule_path(p, key, NULL);

	if (!cJSON_IsString(v))
		return fail(p, &at, key, "must be a string");
	if (strlen(v->valuestring) > ALERTRULE_MAX_TEMPLATE)
		return fail(p, &at, key, "longer than %d bytes",
			    ALERTRULE_MAX_TEMPLATE);
	*ret = strdup(v->valuestring);
	return *ret ? 0 : -ENOMEM;
}

static int check_template(struct parse *p, const struct alertrule *r,
			  const char *key, const char *tmpl)
{
	struct ypath at = rule_path(p, key, NULL);
	char msg[320];

	if (template_check(tmpl, r, msg, sizeof(msg)) < 0)
		return fail(p, &at, key, "%s", msg);
	return 0;
}

static int parse_name(struct parse *p, const cJSON *item, struct alertrule *r)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "name");
	struct ypath at = rule_path(p, "name", NULL);

	if (!v) {
		at = rule_path(p, NULL, NULL);
		return fail(p, &at, "name", "required");
	}
	if (!cJSON_IsString(v) || !rule_name_valid(v->valuestring))
		return fail(p, &at, "name", "must be 1 to %d of [A-Za-z0-9_.-]",
			    ALERTRULE_NAME_MAX);
	const struct alertrule *dup =
	    alertrule_set_find(p->set, v->valuestring);
	if (dup)
		return fail(p, &at, "name",
			    "'%s' is already the name of the rule at %.200s:%u",
			    v->valuestring, dup->file, dup->line);
	memcpy(r->name, v->valuestring, strlen(v->valuestring) + 1);
	p->rule_name = r->name;
	return 0;
}

static int parse_enum(struct parse *p, const cJSON *v, const char *key,
		      const char *const *names, size_t n, int *ret)
{
	struct ypath at = rule_path(p, key, NULL);
	char list[128];
	int i = -EINVAL;

	if (cJSON_IsString(v))
		i = name_index(names, n, v->valuestring);
	if (i >= 0) {
		*ret = i;
		return 0;
	}
	list_names(list, sizeof(list), names, n);
	return fail(p, &at, key, "must be one of %s", list);
}

static int parse_rule(struct parse *p, const cJSON *item, struct alertrule *r)
{
	struct cond_parse cp = { .seen = false };
	const cJSON *c;
	int rc, v;

	r->scope = ALERTRULE_SCOPE_NODE;
	r->severity = ALERTRULE_SEVERITY_WARNING;
	if (!cJSON_IsObject(item)) {
		struct ypath at = rule_path(p, NULL, NULL);
		return fail(p, &at, NULL,
			    "a rule is a mapping (name, condition, summary, "
			    "...)");
	}
	rc = parse_name(p, item, r);
	if (rc < 0)
		return rc;
	cJSON_ArrayForEach(c, item)
	{
		const char *k = c->string;

		if (strcmp(k, "name") == 0) {
			rc = 0;
		} else if (strcmp(k, "scope") == 0) {
			rc = parse_enum(p, c, k, scope_names,
					ARRAY_SIZE(scope_names), &v);
			if (rc == 0)
				r->scope = (enum alertrule_scope)v;
		} else if (strcmp(k, "condition") == 0) {
			rc = parse_condition(p, c, r, &cp);
		} else if (strcmp(k, "for") == 0) {
			rc = parse_duration(p, c, k, &r->timing.for_ms);
		} else if (strcmp(k, "keep_firing_for") == 0) {
			rc = parse_duration(p, c, k,
					    &r->timing.keep_firing_for_ms);
		} else if (strcmp(k, "severity") == 0) {
			rc = parse_enum(p, c, k, severity_names,
					ARRAY_SIZE(severity_names), &v);
			if (rc == 0)
				r->severity = (enum alertrule_severity)v;
		} else if (strcmp(k, "labels") == 0) {
			rc = parse_labels(p, c, r);
		} else if (strcmp(k, "summary") == 0) {
			rc = parse_template(p, c, k, &r->summary);
		} else if (strcmp(k, "description") == 0) {
			rc = parse_template(p, c, k, &r->description);
		} else {
			struct ypath at = rule_path(p, k, NULL);
			rc = fail(p, &at, k,
				  "unknown key (allowed: name, scope, "
				  "condition, for, keep_firing_for, severity, "
				  "labels, summary, description)");
		}
		if (rc < 0)
			return rc;
	}
	struct ypath at = rule_path(p, NULL, NULL);
	if (!cp.seen)
		return fail(p, &at, "condition", "required");
	if (!r->summary)
		return fail(p, &at, "summary", "required");
	if (!r->description) {
		r->description = strdup("");
		if (!r->description)
			return -ENOMEM;
	}
	rc = check_subject(p, r, &cp);
	if (rc == 0)
		rc = check_template(p, r, "summary", r->summary);
	if (rc == 0)
		rc = check_template(p, r, "description", r->description);
	return rc;
}

static void rule_release(struct alertrule *r)
{
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].key);
		free(r->labels[i].value);
	}
	free(r->labels);
	free(r->summary);
	free(r->description);
	*r = (struct alertrule){ .name = "" };
}

static int set_reserve(struct alertrule_set *s, size_t more)
{
	if (s->n + more <= s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap : 16;
	while (ncap < s->n + more)
		ncap *= 2;
	struct alertrule *n = realloc(s->rules, ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->rules = n;
	s->cap = ncap;
	return 0;
}

static int parse_rules(struct parse *p, const cJSON *rules)
{
	struct ypath at = top_path("rules");
	size_t n = (size_t)cJSON_GetArraySize(rules);
	_cleanup_free_ unsigned *lines = NULL;
	const cJSON *item;
	int r;

	if (p->set->n + n > ALERTRULE_MAX_RULES)
		return fail(
		    p, &at, "rules",
		    "%zu rules here and %zu before: more than %d in all", n,
		    p->set->n, ALERTRULE_MAX_RULES);
	if (n == 0)
		return 0;
	r = set_reserve(p->set, n);
	if (r < 0)
		return r;
	lines = calloc(n, sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	struct ypath items = { .n = 2 };
	struct item_lines il = { lines, n };
	items.c[0].key = "rules";
	items.c[1].index = ANY_INDEX;
	ypath_find(p->text, p->len, &items, keep_line, &il);

	p->in_rule = true;
	p->index = 0;
	cJSON_ArrayForEach(item, rules)
	{
		struct alertrule *rule = &p->set->rules[p->set->n];

		*rule = (struct alertrule){ .name = "" };
		p->rule_name = NULL;
		r = parse_rule(p, item, rule);
		if (r < 0) {
			rule_release(rule);
			return r;
		}
		rule->file = p->set->files[p->set->nfiles - 1];
		rule->line = lines[p->index];
		p->set->n++;
		p->index++;
	}
	p->in_rule = false;
	return 0;
}

static int parse_doc(struct parse *p, const cJSON *doc)
{
	const cJSON *c, *rules = NULL;
	bool has_hash = false;
	struct ypath at;

	if (!cJSON_IsObject(doc)) {
		at = top_path(NULL);
		return fail(p, &at, NULL,
			    "a rule file is a mapping with constitutional_hash "
			    "and rules");
	}
	cJSON_ArrayForEach(c, doc)
	{
		at = top_path(c->string);
		if (strcmp(c->string, "constitutional_hash") == 0) {
			if (!cJSON_IsString(c) ||
			    strcmp(c->valuestring, ACGS_CONSTITUTIONAL_HASH) !=
				0)
				return fail(p, &at, c->string, "must be %s",
					    ACGS_CONSTITUTIONAL_HASH);
			has_hash = true;
		} else if (strcmp(c->string, "rules") == 0) {
			if (!cJSON_IsArray(c))
				return fail(p, &at, c->string,
					    "must be a list of rules");
			rules = c;
		} else {
			return fail(p, &at, c->string,
				    "unknown key (allowed: "
				    "constitutional_hash, rules)");
		}
	}
	at = top_path(NULL);
	if (!has_hash)
		return fail(p, &at, "constitutional_hash", "required (%s)",
			    ACGS_CONSTITUTIONAL_HASH);
	if (!rules)
		return fail(p, &at, "rules", "required");
	return parse_rules(p, rules);
}

/* ---- the set ---- */

struct alertrule_set *alertrule_set_new(void)
{
	return calloc(1, sizeof(struct alertrule_set));
}

struct alertrule_set *alertrule_set_free(struct alertrule_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		rule_release(&s->rules[i]);
	free(s->rules);
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	free(s);
	return NULL;
}

const struct alertrule *alertrule_set_find(const struct alertrule_set *s,
					   const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->rules[i].name, name) == 0)
			return &s->rules[i];
	return NULL;
}

static int set_add_file_name(struct alertrule_set *s, const char *name)
{
	char **n = realloc(s->files, (s->nfiles + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->files = n;
	s->files[s->nfiles] = strdup(name);
	if (!s->files[s->nfiles])
		return -ENOMEM;
	s->nfiles++;
	return 0;
}

int alertrule_set_add_string(struct alertrule_set *s, const char *name,
			     const char *text, size_t len, char *err,
			     size_t errlen)
{
	struct parse p = { .set = s,
			   .name = name,
			   .text = text,
			   .len = len,
			   .err = err,
			   .errlen = errlen };
	size_t n0 = s->n, nfiles0 = s->nfiles;
	cJSON *doc = NULL;
	int r;

	if (errlen)
		err[0] = '\0';
	r = yamldoc_load_string(name, text, len, &doc, err, errlen);
	if (r < 0)
		return r;
	r = set_add_file_name(s, name);
	if (r == 0)
		r = parse_doc(&p, doc);
	cJSON_Delete(doc);
	if (r < 0) {
		/* leave the set as it was */
		for (size_t i = n0; i < s->n; i++)
			rule_release(&s->rules[i]);
		s->n = n0;
		for (size_t i = nfiles0; i < s->nfiles; i++)
			free(s->files[i]);
		s->nfiles = nfiles0;
		if (r == -ENOMEM && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
	}
	return r;
}

int alertrule_set_add_file(struct alertrule_set *s, const char *path, char *err,
			   size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = yamldoc_read_file(path, true, &buf, &len, err, errlen);

	if (r < 0)
		return r;
	return alertrule_set_add_string(s, path, buf ? buf : "", len, err,
					errlen);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_rule_file(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

int alertrule_load_dir(const char *dir, struct alertrule_set **ret, char *err,
		       size_t errlen)
{
	_cleanup_close_ int fd = -1;
	char *names[ALERTRULE_MAX_FILES];
	size_t nnames = 0;
	struct alertrule_set *s = NULL;
	DIR *d = NULL;
	int r = 0;

	if (errlen)
		err[0] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (errlen)
			snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		if (errlen)
			snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	TAKE_FD(fd); /* the DIR owns it now */
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				r = -errno;
				if (errlen)
					snprintf(err, errlen, "%s: %s", dir,
						 strerror(-r));
			}
			break;
		}
		if (!is_rule_file(de->d_name))
			continue;
		if (nnames == ALERTRULE_MAX_FILES) {
			r = -E2BIG;
			if (errlen)
				snprintf(err, errlen,
					 "%s: more than %d rule files", dir,
					 ALERTRULE_MAX_FILES);
			break;
		}
		names[nnames] = strdup(de->d_name);
		if (!names[nnames]) {
			r = -ENOMEM;
			break;
		}
		nnames++;
	}
	if (r < 0)
		goto out;
	qsort(names, nnames, sizeof(names[0]), name_cmp);
	s = alertrule_set_new();
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nnames; i++) {
		_cleanup_free_ char *path = NULL;
		size_t plen = strlen(dir) + strlen(names[i]) + 2;

		path = malloc(plen);
		if (!path) {
			r = -ENOMEM;
			goto out;
		}
		snprintf(path, plen, "%s/%s", dir, names[i]);
		r = alertrule_set_add_file(s, path, err, errlen);
		if (r < 0)
			goto out;
	}
	*ret = TAKE_PTR(s);
out:
	if (r == -ENOMEM && errlen)
		snprintf(err, errlen, "%s: out of memory", dir);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	alertrule_set_free(s);
	closedir(d);
	return r;
}
