#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "cleanup.h"
#include "yamldoc.h"

/* Load text and print it back as compact JSON (the caller frees), or NULL
 * with *ret_rc and err set. */
static char *load_json(const char *text, int *ret_rc, char *err, size_t errlen)
{
	cJSON *doc = NULL;
	int r = yamldoc_load_string("t.yaml", text, strlen(text), &doc, err,
				    errlen);
	*ret_rc = r;
	if (r < 0) {
		ck_assert_ptr_null(doc);
		return NULL;
	}
	char *s = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return s;
}

static const struct {
	const char *yaml, *json;
} good[] = {
	{ "", "null" },
	{ "# only a comment\n", "null" },
	{ "a: 1\n", "{\"a\":1}" },
	{ "---\na: 1\n...\n", "{\"a\":1}" },
	{ "a: ~\nb: null\nc:\nd: Null\n",
	  "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}" },
	{ "[true, false, True, FALSE, yes, no, on]",
	  "[true,false,true,false,\"yes\",\"no\",\"on\"]" },
	{ "[0, -3, +7, 0x1F, 0o17, 007, -0]", "[0,-3,7,31,15,7,0]" },
	{ "[0.5, -1.25, .5, 5., 1e3, 2.5E-1, -0.0]",
	  "[0.5,-1.25,0.5,5,1000,0.25,0]" },
	{ "n: 4294967296\n", "{\"n\":4294967296}" },
	{ "[\"1\", '2', \"true\", 'null', 1x, 0x, 0o8, 1e, 1.2.3, 0b1]",
	  "[\"1\",\"2\",\"true\",\"null\",\"1x\",\"0x\",\"0o8\",\"1e\","
	  "\"1.2.3\",\"0b1\"]" },
	{ "[!!str 12, !!int \"0x10\", !!float 3, !!bool \"true\", !!null "
	  "\"\", ! 5]",
	  "[\"12\",16,3,true,null,\"5\"]" },
	{ "!!map {a: !!seq [1]}", "{\"a\":[1]}" },
	{ "text: |\n  line one\n  line two\nfold: >\n  a\n  b\n",
	  "{\"text\":\"line one\\nline two\\n\",\"fold\":\"a b\\n\"}" },
	{ "1: one\ntrue: yes\n\"q\": 2\n",
	  "{\"1\":\"one\",\"true\":\"yes\",\"q\":2}" },
	{ "outer:\n  inner:\n    - a\n    - {b: [1, 2]}\n  other: x\n",
	  "{\"outer\":{\"inner\":[\"a\",{\"b\":[1,2]}],\"other\":\"x\"}}" },
	{ "a: {x: 1}\nb: {x: 2}\n", "{\"a\":{\"x\":1},\"b\":{\"x\":2}}" },
	{ "s: \"caf\\u00e9 \\t\"\n", "{\"s\":\"caf\xc3\xa9 \\t\"}" },
	{ "v: 1 # trailing comment\n", "{\"v\":1}" },
	{ "- - - []\n", "[[[[]]]]" },
};

START_TEST(loads_good)
{
	char err[YAMLDOC_ERR_LEN];
	int rc;
	_cleanup_free_ char *json =
	    load_json(good[_i].yaml, &rc, err, sizeof(err));
	ck_assert_msg(rc == 0, "case %d: %s", _i, err);
	ck_assert_str_eq(json, good[_i].json);
}
END_TEST

static const struct {
	const char *yaml;
	int rc;
	const char *msg; /* the whole message, or a prefix ending in "..." */
} bad[] = {
	{ "a: 1\nb: 2\na: 3\n", -EINVAL, "t.yaml:3:1: duplicate key 'a'" },
	{ "x:\n  a: 1\n  a: 2\n", -EINVAL, "t.yaml:3:3: duplicate key 'a'" },
	{ "{a: 1, \"a\": 2}", -EINVAL, "t.yaml:1:8: duplicate key 'a'" },
	{ "? [a]\n: 1\n", -EINVAL, "t.yaml:1:3: mapping keys must be scalars" },
	{ "{{a: 1}: 2}", -EINVAL, "t.yaml:1:2: mapping keys must be scalars" },
	{ "a: &x 1\nb: *x\n", -EINVAL,
	  "t.yaml:1:4: anchors are not allowed (&x)" },
	{ "a: *x\n", -EINVAL, "t.yaml:1:4: aliases are not allowed (*x)" },
	{ "a: 1\n---\nb: 2\n", -EINVAL, "t.yaml:2:1: more than one document" },
	{ "a: !custom 1\n", -EINVAL, "t.yaml:1:4: unsupported tag !custom" },
	{ "a: !!binary aGk=\n", -EINVAL,
	  "t.yaml:1:4: unsupported tag tag:yaml.org,2002:binary" },
	{ "!!seq {a: 1}", -EINVAL,
	  "t.yaml:1:1: tag tag:yaml.org,2002:seq does not fit a mapping" },
	{ "a: !!map 1\n", -EINVAL,
	  "t.yaml:1:4: a scalar cannot carry tag tag:yaml.org,2002:map" },
	{ "a: !!int 1.5\n", -EINVAL,
	  "t.yaml:1:4: '1.5' is not an integer (or too large)" },
	{ "a: !!float x\n", -EINVAL, "t.yaml:1:4: 'x' is not a finite number" },
	{ "a: !!bool yes\n", -EINVAL, "t.yaml:1:4: 'yes' is not a boolean" },
	{ "a: !!null 0\n", -EINVAL, "t.yaml:1:4: '0' is not null" },
	{ "a: .inf\n", -EINVAL,
	  "t.yaml:1:4: '.inf': non-finite numbers are not supported" },
	{ "a: -.NaN\n", -EINVAL,
	  "t.yaml:1:4: '-.NaN': non-finite numbers are not supported" },
	{ "a: 9007199254740993\n", -EINVAL,
	  "t.yaml:1:4: '9007199254740993' is out of range (quote it to keep "
	  "it as a string)" },
	{ "a: 1e400\n", -EINVAL, "t.yaml:1:4: '1e400' is out of range..." },
	{ "a: 0x20000000000001\n", -EINVAL,
	  "t.yaml:1:4: '0x20000000000001' is out of range..." },
	{ "a: \"x\\0y\"\n", -EINVAL, "t.yaml:1:4: NUL character in a scalar" },
	{ "\"x\\0y\": 1\n", -EINVAL, "t.yaml:1:1: NUL character in a scalar" },
	{ "a: [1, 2\n", -EINVAL,
	  "t.yaml:2:1: did not find expected ',' or "
	  "']' (while parsing a flow sequence)" },
	{ "a: 1\n b: 2\n", -EINVAL,
	  "t.yaml:2:3: mapping values are not allowed in this context..." },
	{ "a:\n\t- 1\n", -EINVAL,
	  "t.yaml:2:1: found character that cannot "
	  "start any token..." },
	{ "a: \"\xff\"\n", -EINVAL, "t.yaml:..." },
};

static void assert_msg(const char *got, const char *want, int i)
{
	size_t n = strlen(want);
	if (n > 3 && strcmp(want + n - 3, "...") == 0)
		ck_assert_msg(strncmp(got, want, n - 3) == 0,
			      "case %d: got '%s', want '%s'", i, got, want);
	else
		ck_assert_msg(strcmp(got, want) == 0,
			      "case %d: got '%s', want '%s'", i, got, want);
}

START_TEST(refuses_bad)
{
	char err[YAMLDOC_ERR_LEN];
	int rc;
	_cleanup_free_ char *json =
	    load_json(bad[_i].yaml, &rc, err, sizeof(err));
	ck_assert_msg(rc == bad[_i].rc, "case %d: rc %d, json %s", _i, rc,
		      json ? json : "-");
	assert_msg(err, bad[_i].msg, _i);
}
END_TEST

/* "- " repeated: a sequence nested depth times, innermost holding 1. */
static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 8);
	ck_assert_ptr_nonnull(s);
	char *p = s;
	for (int i = 0; i < depth; i++) {
		*p++ = '[';
	}
	*p++ = '1';
	for (int i = 0; i < depth; i++)
		*p++ = ']';
	*p = '\0';
	return s;
}

START_TEST(largest_integer)
{
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	const char *t =
	    "[9007199254740992, -9007199254740992, 0x20000000000000]";
	ck_assert_int_eq(
	    yamldoc_load_string("i", t, strlen(t), &doc, err, sizeof(err)), 0);
	ck_assert(cJSON_GetArrayItem(doc, 0)->valuedouble ==
		  9007199254740992.0);
	ck_assert(cJSON_GetArrayItem(doc, 1)->valuedouble ==
		  -9007199254740992.0);
	ck_assert(cJSON_GetArrayItem(doc, 2)->valuedouble ==
		  9007199254740992.0);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(depth_cap)
{
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	_cleanup_free_ char *ok = nested(YAMLDOC_MAX_DEPTH);
	_cleanup_free_ char *deep = nested(YAMLDOC_MAX_DEPTH + 1);

	ck_assert_int_eq(
	    yamldoc_load_string("d", ok, strlen(ok), &doc, err, sizeof(err)),
	    0);
	cJSON_Delete(doc);
	doc = NULL;
	ck_assert_int_eq(yamldoc_load_string("d", deep, strlen(deep), &doc, err,
					     sizeof(err)),
			 -ELOOP);
	ck_assert_ptr_null(doc);
	ck_assert_str_eq(err, "d:1:33: nested deeper than 32");
}
END_TEST

/* A flow sequence of n zeros: n + 1 nodes. */
static char *zeros(size_t n)
{
	char *s = malloc(n * 2 + 3);
	ck_assert_ptr_nonnull(s);
	size_t k = 0;
	s[k++] = '[';
	for (size_t i = 0; i < n; i++) {
		s[k++] = '0';
		s[k++] = ',';
	}
	s[k - (n ? 1 : 0)] = ']';
	s[k + (n ? 0 : 1)] = '\0';
	return s;
}

START_TEST(node_cap)
{
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	_cleanup_free_ char *ok = zeros(YAMLDOC_MAX_NODES - 1);
	_cleanup_free_ char *big = zeros(YAMLDOC_MAX_NODES);

	ck_assert_int_eq(
	    yamldoc_load_string("n", ok, strlen(ok), &doc, err, sizeof(err)),
	    0);
	ck_assert_int_eq(cJSON_GetArraySize(doc), YAMLDOC_MAX_NODES - 1);
	cJSON_Delete(doc);
	doc = NULL;
	ck_assert_int_eq(
	    yamldoc_load_string("n", big, strlen(big), &doc, err, sizeof(err)),
	    -E2BIG);
	ck_assert_ptr_null(doc);
	ck_assert_str_eq(err, "n:1:200000: more than 100000 nodes");
}
END_TEST

START_TEST(many_keys)
{
	/* 40k distinct keys (80k nodes) load quickly (no quadratic duplicate
	 * check), and the last one repeated is still found. */
	size_t n = 40000, cap = n * 12 + 32, k = 0;
	_cleanup_free_ char *s = malloc(cap);
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(s + k, cap - k, "k%zu: 1\n", i);
	ck_assert_int_eq(yamldoc_load_string("k", s, k, &doc, err, sizeof(err)),
			 0);
	ck_assert_int_eq(cJSON_GetArraySize(doc), (int)n);
	cJSON_Delete(doc);
	doc = NULL;
	k += (size_t)snprintf(s + k, cap - k, "k%zu: 2\n", n - 1);
	ck_assert_int_eq(yamldoc_load_string("k", s, k, &doc, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "k:40001:1: duplicate key 'k39999'");
}
END_TEST

START_TEST(size_cap)
{
	size_t n = YAMLDOC_MAX_BYTES + 1;
	_cleanup_free_ char *s = malloc(n);
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;

	ck_assert_ptr_nonnull(s);
	memset(s, '#', n);
	ck_assert_int_eq(
	    yamldoc_load_string("big", s, n, &doc, err, sizeof(err)), -EFBIG);
	ck_assert_str_eq(err, "big: larger than 1048576 bytes");
	/* exactly at the cap is fine: one long comment */
	ck_assert_int_eq(
	    yamldoc_load_string("big", s, n - 1, &doc, err, sizeof(err)), 0);
	ck_assert(cJSON_IsNull(doc));
	cJSON_Delete(doc);
}
END_TEST

START_TEST(no_err_buffer)
{
	cJSON *doc = NULL;
	ck_assert_int_eq(yamldoc_load_string("x", "a: [", 4, &doc, NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(
	    yamldoc_load_file("/nonexistent/x.yaml", &doc, NULL, 0), -ENOENT);
	ck_assert_ptr_null(doc);
}
END_TEST

/* The text need not be NUL-terminated: only len bytes are read. */
START_TEST(length_bounded)
{
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;
	const char text[] = "a: 1\nb: [";
	ck_assert_int_eq(
	    yamldoc_load_string("l", text, 5, &doc, err, sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetObjectItem(doc, "a")->valueint, 1);
	ck_assert_ptr_null(cJSON_GetObjectItem(doc, "b"));
	cJSON_Delete(doc);
}
END_TEST

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(files)
{
	char dir[] = "/tmp/yamldoc-test-XXXXXX";
	char path[128], err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	write_file(path, "a:\n  b: [1, x]\n", 15);
	ck_assert_int_eq(yamldoc_load_file(path, &doc, err, sizeof(err)), 0);
	_cleanup_free_ char *json = cJSON_PrintUnformatted(doc);
	ck_assert_str_eq(json, "{\"a\":{\"b\":[1,\"x\"]}}");
	cJSON_Delete(doc);
	doc = NULL;

	write_file(path, "a: 1\na: 2\n", 10);
	ck_assert_int_eq(yamldoc_load_file(path, &doc, err, sizeof(err)),
			 -EINVAL);
	char want[192];
	snprintf(want, sizeof(want), "%s:2:1: duplicate key 'a'", path);
	ck_assert_str_eq(err, want);

	/* over the cap: refused without reading it all */
	size_t n = YAMLDOC_MAX_BYTES + 100;
	_cleanup_free_ char *big = malloc(n);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	write_file(path, big, n);
	ck_assert_int_eq(yamldoc_load_file(path, &doc, err, sizeof(err)),
			 -EFBIG);

	ck_assert_int_eq(yamldoc_load_file(dir, &doc, err, sizeof(err)),
			 -EISDIR);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(yamldoc_load_file(path, &doc, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_null(doc);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A message that does not fit err is cut, still NUL-terminated. */
START_TEST(short_err_buffer)
{
	char err[8];
	cJSON *doc = NULL;
	ck_assert_int_eq(
	    yamldoc_load_string("name", "a: *x", 5, &doc, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "name:1:");
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("yamldoc");
	TCase *tc = tcase_create("yamldoc");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, loads_good, 0, (int)ARRAY_SIZE(good));
	tcase_add_loop_test(tc, refuses_bad, 0, (int)ARRAY_SIZE(bad));
	tcase_add_test(tc, largest_integer);
	tcase_add_test(tc, depth_cap);
	tcase_add_test(tc, node_cap);
	tcase_add_test(tc, many_keys);
	tcase_add_test(tc, size_cap);
	tcase_add_test(tc, no_err_buffer);
	tcase_add_test(tc, length_bounded);
	tcase_add_test(tc, files);
	tcase_add_test(tc, short_err_buffer);
	suite_add_tcase(s, tc);
	return s;
}
