/* YAML to cJSON through libyaml's event parser (see yamldoc.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "cleanup.h"
#include "conf.h"
#include "yamldoc.h"

/* Integers beyond this lose digits in a double; refuse rather than round. */
#define EXACT_INT_MAX 9007199254740992ULL /* 2^53 */

/* Keys already seen, per mapping, so that a duplicate is found in constant
 * time: a mapping with tens of thousands of keys must not cost a quadratic
 * scan of cJSON's list. The set owns copies of the keys. */
struct keyent {
	const cJSON *obj;
	char *key;
};

struct keyset {
	struct keyent *slots;
	size_t cap, used;
};

struct frame {
	cJSON *node;
	const char *key; /* mapping: key awaiting its value (in keyset) */
};

struct loader {
	const char *name;
	char *err;
	size_t errlen;
	yaml_parser_t parser;
	cJSON *root;
	struct frame stack[YAMLDOC_MAX_DEPTH];
	size_t depth;
	size_t nodes;
	unsigned documents;
	struct keyset keys;
};

static int fail(struct loader *l, int r, const yaml_mark_t *mark,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct loader *l, int r, const yaml_mark_t *mark,
		const char *fmt, ...)
{
	char msg[YAMLDOC_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->errlen)
		snprintf(l->err, l->errlen, "%s:%zu:%zu: %s", l->name,
			 (size_t)mark->line + 1, (size_t)mark->column + 1, msg);
	return r;
}

static uint64_t key_hash(const cJSON *obj, const char *key)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)obj;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int keyset_grow(struct keyset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 64;
	struct keyent *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slots[i].key)
			continue;
		size_t j =
		    key_hash(s->slots[i].obj, s->slots[i].key) & (ncap - 1);
		while (n[j].key)
			j = (j + 1) & (ncap - 1);
		n[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = n;
	s->cap = ncap;
	return 0;
}

/* Add key to obj's set. Returns 0 and sets *ret_key to the set's copy,
 * -EEXIST when obj already has it, -ENOMEM. */
static int keyset_add(struct keyset *s, const cJSON *obj, const char *key,
		      const char **ret_key)
{
	int r;

	if ((s->used + 1) * 2 > s->cap) {
		r = keyset_grow(s);
		if (r < 0)
			return r;
	}
	size_t j = key_hash(obj, key) & (s->cap - 1);
	while (s->slots[j].key) {
		if (s->slots[j].obj == obj && strcmp(s->slots[j].key, key) == 0)
			return -EEXIST;
		j = (j + 1) & (s->cap - 1);
	}
	char *copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	s->slots[j].obj = obj;
	s->slots[j].key = copy;
	s->used++;
	*ret_key = copy;
	return 0;
}

static void keyset_release(struct keyset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i].key);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->used = 0;
}

enum kind {
	KIND_ANY, /* no tag: resolve plain scalars */
	KIND_STR,
	KIND_INT,
	KIND_FLOAT,
	KIND_BOOL,
	KIND_NULL,
	KIND_MAP,
	KIND_SEQ,
	KIND_BAD,
};

static enum kind tag_kind(const yaml_char_t *tag)
{
	static const struct {
		const char *tag;
		enum kind kind;
	} core[] = {
		{ "!", KIND_STR },
		{ YAML_STR_TAG, KIND_STR },
		{ YAML_INT_TAG, KIND_INT },
		{ YAML_FLOAT_TAG, KIND_FLOAT },
		{ YAML_BOOL_TAG, KIND_BOOL },
		{ YAML_NULL_TAG, KIND_NULL },
		{ YAML_MAP_TAG, KIND_MAP },
		{ YAML_SEQ_TAG, KIND_SEQ },
	};

	if (!tag)
		return KIND_ANY;
	for (size_t i = 0; i < ARRAY_SIZE(core); i++)
		if (strcmp((const char *)tag, core[i].tag) == 0)
			return core[i].kind;
	return KIND_BAD;
}

static bool is_one_of(const char *s, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return false;
}

static bool is_null_word(const char *s)
{
	static const char *const w[] = { "", "~", "null", "Null", "NULL" };
	return is_one_of(s, w, ARRAY_SIZE(w));
}

static int bool_word(const char *s, bool *ret)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };

	if (is_one_of(s, t, ARRAY_SIZE(t)))
		*ret = true;
	else if (is_one_of(s, f, ARRAY_SIZE(f)))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static bool is_nonfinite_word(const char *s)
{
	static const char *const w[] = { ".inf", ".Inf", ".INF",
					 ".nan", ".NaN", ".NAN" };
	if (*s == '+' || *s == '-')
		s++;
	return is_one_of(s, w, ARRAY_SIZE(w));
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* YAML 1.2 core integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. Returns 0,
 * -EINVAL when s is not one, -ERANGE when it does not fit a double exactly.
 */
static int parse_int(const char *s, double *ret)
{
	bool neg = false;
	uint64_t v = 0;
	int r;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		unsigned base = s[1] == 'x' ? 16 : 8;
		const char *p = s + 2;
		if (!*p)
			return -EINVAL;
		for (; *p; p++) {
			int d = digit_value(*p);
			if (d >= (int)base)
				return -EINVAL;
			v = v * base + (unsigned)d;
			if (v > EXACT_INT_MAX)
				return -ERANGE;
		}
		*ret = (double)v;
		return 0;
	}
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	/* conf_parse_u64 refuses the empty string and signs for us. */
	r = conf_parse_u64(s, 0, EXACT_INT_MAX, &v);
	if (r < 0)
		return r;
	/* -0 would print as "-0" */
	*ret = neg && v ? -(double)v : (double)v;
	return 0;
}

/* YAML 1.2 core floats:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?; strtod alone would
 * also take hex floats, "inf", "nan" and leading blanks. */
static int parse_float(const char *s, double *ret)
{
	const char *p = s;
	size_t mant = 0;

	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, mant++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, mant++;
	}
	if (!mant)
		return -EINVAL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return -EINVAL;
	int r = conf_parse_double(s, -DBL_MAX, DBL_MAX, ret);
	if (r == 0 && *ret == 0)
		*ret = 0; /* no "-0" either */
	return r;
}

static int parse_number(const char *s, double *ret)
{
	int r = parse_int(s, ret);
	return r == -EINVAL ? parse_float(s, ret) : r;
}

/* Build the value of a scalar; *ret stays NULL on error (message set). */
static int make_scalar(struct loader *l, const yaml_event_t *ev, cJSON **ret)
{
	const char *s = (const char *)ev->data.scalar.value;
	const yaml_mark_t *m = &ev->start_mark;
	enum kind k = tag_kind(ev->data.scalar.tag);
	double num;
	bool b;
	int r;

	if (k == KIND_ANY && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		k = KIND_STR;
	switch (k) {
	case KIND_ANY:
		if (is_null_word(s)) {
			*ret = cJSON_CreateNull();
		} else if (bool_word(s, &b) == 0) {
			*ret = cJSON_CreateBool(b);
		} else if (is_nonfinite_word(s)) {
			return fail(l, -EINVAL, m,
				    "'%s': non-finite numbers are not "
				    "supported",
				    s);
		} else if ((r = parse_number(s, &num)) == 0) {
			*ret = cJSON_CreateNumber(num);
		} else if (r == -ERANGE) {
			return fail(l, -EINVAL, m,
				    "'%.40s' is out of range (quote it to "
				    "keep it as a string)",
				    s);
		} else {
			*ret = cJSON_CreateString(s);
		}
		break;
	case KIND_STR:
		*ret = cJSON_CreateString(s);
		break;
	case KIND_INT:
	case KIND_FLOAT:
		r = k == KIND_INT ? parse_int(s, &num) : parse_number(s, &num);
		if (r < 0)
			return fail(l, -EINVAL, m, "'%.40s' is not %s", s,
				    k == KIND_INT ? "an integer (or too large)"
						  : "a finite number");
		*ret = cJSON_CreateNumber(num);
		break;
	case KIND_BOOL:
		if (bool_word(s, &b) < 0)
			return fail(l, -EINVAL, m, "'%.40s' is not a boolean",
				    s);
		*ret = cJSON_CreateBool(b);
		break;
	case KIND_NULL:
		if (!is_null_word(s))
			return fail(l, -EINVAL, m, "'%.40s' is not null", s);
		*ret = cJSON_CreateNull();
		break;
	case KIND_MAP:
	case KIND_SEQ:
		return fail(l, -EINVAL, m, "a scalar cannot carry tag %s",
			    (const char *)ev->data.scalar.tag);
	case KIND_BAD:
		return fail(l, -EINVAL, m, "unsupported tag %.60s",
			    (const char *)ev->data.scalar.tag);
	}
	if (!*ret)
		return fail(l, -ENOMEM, m, "out of memory");
	return 0;
}

static int count_node(struct loader *l, const yaml_event_t *ev,
		      const yaml_char_t *anchor)
{
	if (anchor)
		return fail(l, -EINVAL, &ev->start_mark,
			    "anchors are not allowed (&%.40s)",
			    (const char *)anchor);
	if (++l->nodes > YAMLDOC_MAX_NODES)
		return fail(l, -E2BIG, &ev->start_mark, "more than %d nodes",
			    YAMLDOC_MAX_NODES);
	return 0;
}

/* Hang item under the open collection (or make it the root); takes item,
 * freeing it on error. */
static int attach(struct loader *l, cJSON *item, const yaml_mark_t *m)
{
	if (l->depth == 0) {
		l->root = item;
		return 0;
	}
	struct frame *f = &l->stack[l->depth - 1];
	bool ok;
	if (cJSON_IsArray(f->node)) {
		ok = cJSON_AddItemToArray(f->node, item);
	} else {
		ok = cJSON_AddItemToObject(f->node, f->key, item);
		f->key = NULL;
	}
	if (!ok) {
		cJSON_Delete(item);
		return fail(l, -ENOMEM, m, "out of memory");
	}
	return 0;
}

static bool expecting_key(const struct loader *l)
{
	if (l->depth == 0)
		return false;
	const struct frame *f = &l->stack[l->depth - 1];
	return cJSON_IsObject(f->node) && !f->key;
}

static int on_scalar(struct loader *l, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	int r = count_node(l, ev, ev->data.scalar.anchor);
	if (r < 0)
		return r;
	if (strlen((const char *)ev->data.scalar.value) !=
	    ev->data.scalar.length)
		return fail(l, -EINVAL, m, "NUL character in a scalar");
	if (expecting_key(l)) {
		struct frame *f = &l->stack[l->depth - 1];
		enum kind k = tag_kind(ev->data.scalar.tag);
		if (k == KIND_BAD || k == KIND_MAP || k == KIND_SEQ)
			return fail(l, -EINVAL, m, "unsupported key tag %.60s",
				    (const char *)ev->data.scalar.tag);
		r = keyset_add(&l->keys, f->node,
			       (const char *)ev->data.scalar.value, &f->key);
		if (r == -EEXIST)
			return fail(l, -EINVAL, m, "duplicate key '%.60s'",
				    (const char *)ev->data.scalar.value);
		if (r < 0)
			return fail(l, r, m, "out of memory");
		return 0;
	}
	cJSON *item = NULL;
	r = make_scalar(l, ev, &item);
	if (r < 0)
		return r;
	return attach(l, item, m);
}

static int on_collection_start(struct loader *l, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *tag =
	    map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	enum kind k = tag_kind(tag);
	int r;

	r = count_node(l, ev,
		       map ? ev->data.mapping_start.anchor
			   : ev->data.sequence_start.anchor);
	if (r < 0)
		return r;
	if (expecting_key(l))
		return fail(l, -EINVAL, m, "mapping keys must be scalars");
	if (k != KIND_ANY && k != (map ? KIND_MAP : KIND_SEQ))
		return fail(l, -EINVAL, m, "tag %.60s does not fit a %s",
			    (const char *)tag, map ? "mapping" : "sequence");
	if (l->depth == YAMLDOC_MAX_DEPTH)
		return fail(l, -ELOOP, m, "nested deeper than %d",
			    YAMLDOC_MAX_DEPTH);
	cJSON *node = map ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!node)
		return fail(l, -ENOMEM, m, "out of memory");
	r = attach(l, node, m);
	if (r < 0)
		return r;
	l->stack[l->depth].node = node;
	l->stack[l->depth].key = NULL;
	l->depth++;
	return 0;
}

/* Handle one event. Returns 1 at the end of the stream, 0 to go on, or a
 * negative errno with the message set. */
static int on_event(struct loader *l, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++l->documents > 1)
			return fail(l, -EINVAL, &ev->start_mark,
				    "more than one document");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail(l, -EINVAL, &ev->start_mark,
			    "aliases are not allowed (*%.40s)",
			    (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return on_scalar(l, ev);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return on_collection_start(l, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		/* libyaml only emits balanced ends */
		if (l->depth > 0)
			l->depth--;
		return 0;
	}
	return 0;
}

static int parser_error(struct loader *l)
{
	const yaml_parser_t *p = &l->parser;
	yaml_mark_t mark = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return fail(l, -ENOMEM, &p->mark, "out of memory");
	/* Reader errors (bad encoding) only know a byte offset; the scanner's
	 * position is the nearest line and column. */
	if (p->error == YAML_READER_ERROR)
		mark = p->mark;
	if (p->context)
		return fail(l, -EINVAL, &mark, "%s (%s)",
			    p->problem ? p->problem : "syntax error",
			    p->context);
	return fail(l, -EINVAL, &mark, "%s",
		    p->problem ? p->problem : "syntax error");
}

int yamldoc_load_string(const char *name, const char *text, size_t len,
			cJSON **ret, char *err, size_t errlen)
{
	struct loader l = { .name = name, .err = err, .errlen = errlen };
	int r;

	if (errlen)
		err[0] = '\0';
	if (len > YAMLDOC_MAX_BYTES) {
		if (errlen)
			snprintf(err, errlen, "%s: larger than %d bytes", name,
				 YAMLDOC_MAX_BYTES);
		return -EFBIG;
	}
	if (!yaml_parser_initialize(&l.parser)) {
		if (errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)text,
				     len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&l.parser, &ev)) {
			r = parser_error(&l);
			break;
		}
		r = on_event(&l, &ev);
		yaml_event_delete(&ev);
		if (r != 0)
			break;
	}
	yaml_parser_delete(&l.parser);
	keyset_release(&l.keys);
	if (r < 0) {
		cJSON_Delete(l.root);
		return r;
	}
	if (!l.root) {
		/* an empty stream: the null document */
		l.root = cJSON_CreateNull();
		if (!l.root) {
			if (errlen)
				snprintf(err, errlen, "%s: out of memory",
					 name);
			return -ENOMEM;
		}
	}
	*ret = l.root;
	return 0;
}

/* Read at most YAMLDOC_MAX_BYTES + 1 bytes of fd, so that an oversized
 * file is known without reading all of it. */
static int read_capped(int fd, char **ret_buf, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		if (len == cap) {
			if (cap > YAMLDOC_MAX_BYTES)
				break;
			size_t ncap = cap ? cap * 2 : 16384;
			if (ncap > YAMLDOC_MAX_BYTES + 1)
				ncap = YAMLDOC_MAX_BYTES + 1;
			char *n = realloc(buf, ncap);
			if (!n)
				return -ENOMEM;
			buf = n;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int yamldoc_read_file(const char *path, bool regular_only, char **ret_buf,
		      size_t *ret_len, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto fail;
	}
	if (regular_only && !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	r = read_capped(fd, ret_buf, ret_len);
	if (r == 0)
		return 0;
fail:
	if (errlen)
		snprintf(err, errlen, "%s: %s", path,
			 r == -EINVAL ? "not a regular file" : strerror(-r));
	return r;
}

int yamldoc_load_file(const char *path, cJSON **ret, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = yamldoc_read_file(path, false, &buf, &len, err, errlen);

	if (r < 0)
		return r;
	/* yamldoc_load_string refuses the extra byte with -EFBIG */
	return yamldoc_load_string(path, buf ? buf : "", len, ret, err, errlen);
}
