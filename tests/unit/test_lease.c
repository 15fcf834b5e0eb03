/* lease: options, the advisory lock key, and the state before and without
 * any reachable backend (the real Redis and PostgreSQL runs are
 * tests/integration/test_lease.sh). ACGS constitutional hash:
 * cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "lease.h"
#include "sigfd.h"

/* Nothing listens on port 1 of the loopback: connections are refused at
 * once. */
#define NOWHERE_PG    "host=127.0.0.1 port=1 user=x dbname=x"
#define NOWHERE_REDIS "redis://127.0.0.1:1/0"

/* FNV-1a 64 of "acgs:lease:<name>" as a signed bigint, computed outside
 * this code (Python). */
static const struct {
	const char *name;
	int64_t key;
} keys[] = {
	{ "alerts", 8609764858841458566LL },
	{ "recovery", -1794334776187270562LL },
	{ "chaos", -1446158795523883385LL },
	{ "a", 7207768734645171028LL },
	{ "t1.x_y-z", 7793780006294033571LL },
};

START_TEST(pg_key)
{
	ck_assert_int_eq(lease_pg_key(keys[_i].name), keys[_i].key);
}
END_TEST

static const char long_name[LEASE_NAME_MAX + 2] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const struct {
	struct lease_options opt;
	int rc;
} options[] = {
	{ { .conninfo = NOWHERE_PG, .name = "alerts", .holder = "r1" }, 0 },
	{ { .redis_url = NOWHERE_REDIS,
	    .conninfo = NOWHERE_PG,
	    .name = "alerts",
	    .holder = "r1",
	    .ttl = 2,
	    .timeout = 0.5 },
	  0 },
	{ { .redis_url = "",
	    .conninfo = NOWHERE_PG,
	    .name = "a",
	    .holder = "r1" },
	  0 },
	{ { .redis_url = "unix:///run/redis.sock",
	    .conninfo = NOWHERE_PG,
	    .name = "a",
	    .holder = "r1" },
	  0 },
	/* ttl 1 makes the default timeout 0.25 s, not 1 s */
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = "r1", .ttl = 1 },
	  0 },
	{ { .redis_url = "http://x",
	    .conninfo = NOWHERE_PG,
	    .name = "a",
	    .holder = "r1" },
	  -EINVAL },
	{ { .conninfo = NULL, .name = "a", .holder = "r1" }, -EINVAL },
	{ { .conninfo = "", .name = "a", .holder = "r1" }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "", .holder = "r1" }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a b", .holder = "r1" }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a:b", .holder = "r1" }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = long_name, .holder = "r1" },
	  -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = "" }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = NULL }, -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = "r", .ttl = -1 },
	  -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = "r", .ttl = 0.05 },
	  -EINVAL },
	/* a refresh (two timeouts) must end well inside the lease */
	{ { .conninfo = NOWHERE_PG,
	    .name = "a",
	    .holder = "r",
	    .ttl = 2,
	    .timeout = 1 },
	  -EINVAL },
	{ { .conninfo = NOWHERE_PG, .name = "a", .holder = "r", .timeout = -1 },
	  -EINVAL },
};

START_TEST(options_table)
{
	struct lease *l = NULL;
	int rc = lease_new(&options[_i].opt, &l);
	ck_assert_int_eq(rc, options[_i].rc);
	if (rc == 0) {
		ck_assert_ptr_nonnull(l);
		ck_assert_str_eq(lease_backend(l),
				 options[_i].opt.redis_url &&
					 *options[_i].opt.redis_url
				     ? "redis"
				     : "postgres");
	} else {
		ck_assert_ptr_null(l);
	}
	ck_assert_ptr_null(lease_free(l));
}
END_TEST

START_TEST(holder_length)
{
	char holder[LEASE_HOLDER_MAX + 2];
	struct lease *l = NULL;
	struct lease_options o = { .conninfo = NOWHERE_PG,
				   .name = "a",
				   .holder = holder };

	memset(holder, 'h', LEASE_HOLDER_MAX);
	holder[LEASE_HOLDER_MAX] = '\0';
	ck_assert_int_eq(lease_new(&o, &l), 0);
	l = lease_free(l);
	holder[LEASE_HOLDER_MAX] = 'h';
	holder[LEASE_HOLDER_MAX + 1] = '\0';
	ck_assert_int_eq(lease_new(&o, &l), -EINVAL);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(before_refresh)
{
	struct lease *l = NULL;
	struct lease_options o = {
		.conninfo = NOWHERE_PG, .name = "a", .holder = "r1", .ttl = 3
	};
	struct lease_stats st;
	char out[4];

	ck_assert_ptr_null(lease_free(NULL));
	ck_assert_int_eq(lease_new(&o, &l), 0);
	ck_assert_int_eq(lease_next_refresh_ms(l), 0);
	ck_assert(!lease_held(l, 0));
	ck_assert(!lease_held(l, 1000000));
	ck_assert_str_eq(lease_last_error(l), "");
	ck_assert_int_eq(lease_holder(l, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(lease_holder(l, out, 0), -ENOBUFS);
	lease_get_stats(l, &st);
	ck_assert(!st.leading);
	ck_assert_uint_eq(st.acquired + st.lost + st.released + st.errors, 0);
	/* Nothing held: a release does no I/O and counts nothing. */
	lease_release(l);
	lease_get_stats(l, &st);
	ck_assert_uint_eq(st.released, 0);
	lease_free(l);
}
END_TEST

/* Neither backend reachable: no leadership, errors counted and described,
 * the next refresh a third of the ttl later. */
START_TEST(unreachable)
{
	struct lease *l = NULL;
	struct lease_options o = { .redis_url = NOWHERE_REDIS,
				   .conninfo = NOWHERE_PG,
				   .name = "a",
				   .holder = "r1",
				   .ttl = 3,
				   .timeout = 0.5 };
	struct lease_stats st;

	sigfd_block();
	ck_assert_int_eq(lease_new(&o, &l), 0);
	ck_assert_int_eq(lease_refresh(l, 5000), 0);
	ck_assert_int_eq(lease_next_refresh_ms(l), 6000);
	ck_assert(!lease_held(l, 5000));
	lease_get_stats(l, &st);
	ck_assert(!st.leading && !st.redis_up);
	ck_assert_uint_ge(st.errors, 1);
	ck_assert_uint_eq(st.acquired, 0);
	ck_assert_msg(strncmp(lease_last_error(l), "redis: ", 7) == 0,
		      "last error: %s", lease_last_error(l));
	/* Not yet a ttl without Redis: no fallback, PostgreSQL untried. */
	ck_assert_str_eq(lease_backend(l), "redis");
	/* Past the ttl: the PostgreSQL fallback is tried (and fails). */
	ck_assert_int_eq(lease_refresh(l, 8001), 0);
	ck_assert_str_eq(lease_backend(l), "postgres-fallback");
	ck_assert_msg(strncmp(lease_last_error(l), "postgres: ", 10) == 0,
		      "last error: %s", lease_last_error(l));
	lease_get_stats(l, &st);
	ck_assert(!st.pg_up);
	lease_free(l);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("lease");
	TCase *tc = tcase_create("lease");
	tcase_add_loop_test(tc, pg_key, 0, sizeof(keys) / sizeof(keys[0]));
	tcase_add_loop_test(tc, options_table, 0,
			    sizeof(options) / sizeof(options[0]));
	tcase_add_test(tc, holder_length);
	tcase_add_test(tc, before_refresh);
	tcase_add_test(tc, unreachable);
	suite_add_tcase(s, tc);
	return s;
}
