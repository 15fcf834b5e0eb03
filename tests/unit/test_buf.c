#include "config.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "check_main.h"
#include "jsonw.h"

START_TEST(buf_cap_is_hard)
{
	struct buf b;
	buf_init(&b, 8);
	ck_assert_int_eq(buf_puts(&b, "12345"), 0);
	ck_assert_int_eq(buf_puts(&b, "6789"), -E2BIG);
	ck_assert_str_eq(b.data, "12345"); /* a failed append changes nothing */
	ck_assert_int_eq(buf_puts(&b, "678"), 0);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_int_eq(buf_printf(&b, "%d", 1), -E2BIG);
	buf_truncate(&b, 2);
	ck_assert_str_eq(b.data, "12");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	buf_release(&b);
}
END_TEST

START_TEST(buf_printf_long)
{
	struct buf b;
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 4096);
	ck_assert_int_eq(buf_printf(&b, "<%s>", big), 0);
	ck_assert_uint_eq(b.len, 1001);
	ck_assert_int_eq(b.data[0], '<');
	ck_assert_int_eq(b.data[1000], '>');
	buf_release(&b);
}
END_TEST

static const char *encode(struct buf *b, void (*fn)(struct jsonw *))
{
	struct jsonw w;
	buf_reset(b);
	jsonw_init(&w, b);
	fn(&w);
	ck_assert_int_eq(jsonw_finish(&w), 0);
	return b->data;
}

static void nested(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_kv_u64(w, "a", 1);
	jsonw_key(w, "b");
	jsonw_arr_begin(w);
	jsonw_i64(w, -2);
	jsonw_double(w, 0.25);
	jsonw_bool(w, true);
	jsonw_null(w);
	jsonw_obj_begin(w);
	jsonw_obj_end(w);
	jsonw_arr_end(w);
	jsonw_kv_str(w, "c", "q\"\\\n\x01");
	jsonw_kv_double_or_null(w, "d", true, 1.5);
	jsonw_kv_double_or_null(w, "e", false, 1.5);
	jsonw_obj_end(w);
}

static void doubles(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_double(w, 1.0);
	jsonw_double(w, 0.1234567);
	jsonw_double(w, -0.0);
	jsonw_double(w, 1e20);
	jsonw_double(w, 0.0 / 0.0);
	jsonw_double(w, 123.5);
	jsonw_arr_end(w);
}

static void bad_utf8(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_strn(w,
		   "a\xff"
		   "b\xc3\xa9",
		   5);
	jsonw_arr_end(w);
}

START_TEST(jsonw_shapes)
{
	struct buf b;
	buf_init(&b, 4096);
	ck_assert_str_eq(encode(&b, nested),
			 "{\"a\":1,\"b\":[-2,0.25,true,null,{}],"
			 "\"c\":\"q\\\"\\\\\\n\\u0001\",\"d\":1.5,\"e\":null}");
	ck_assert_str_eq(encode(&b, doubles),
			 "[1,0.123457,0,1e+20,null,123.5]");
	ck_assert_str_eq(encode(&b, bad_utf8), "[\"a\xef\xbf\xbd"
					       "b\xc3\xa9\"]");
	buf_release(&b);
}
END_TEST

START_TEST(jsonw_errors_are_sticky)
{
	struct buf b;
	struct jsonw w;

	buf_init(&b, 10);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "long-key", "long value");
	jsonw_obj_end(&w);
	ck_assert_int_eq(jsonw_finish(&w), -E2BIG);
	buf_release(&b);

	buf_init(&b, 100);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	ck_assert_int_eq(jsonw_finish(&w), -EINVAL); /* unclosed */
	jsonw_obj_end(&w);
	jsonw_obj_end(&w); /* one too many */
	ck_assert_int_eq(jsonw_finish(&w), -EINVAL);
	buf_release(&b);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, buf_cap_is_hard);
	tcase_add_test(tc, buf_printf_long);
	tcase_add_test(tc, jsonw_shapes);
	tcase_add_test(tc, jsonw_errors_are_sticky);
	suite_add_tcase(s, tc);
	return s;
}
