#include "config.h"

#include "check_main.h"
#include "cleanup.h"
#include "stats.h"

static const struct {
	double p;
	double want;
} cases[] = {
	/* Over 1..10 (given shuffled): nearest rank ceil(p/100*n). */
	{ 50, 5 }, { 90, 9 }, { 99, 10 }, { 100, 10 },
	{ 10, 1 }, { 1, 1 },  { 0.1, 1 }, { 51, 6 },
};

START_TEST(nearest_rank)
{
	double v[] = { 7, 3, 10, 1, 9, 2, 8, 4, 6, 5 };
	ck_assert_double_eq(stats_percentile(v, ARRAY_SIZE(v), cases[_i].p),
			    cases[_i].want);
}
END_TEST

START_TEST(sorted_table)
{
	static const double four[] = { 1, 2, 3, 4 };
	static const double ten[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static double hundred[100];
	static const struct {
		const double *v;
		size_t n;
		double pct, want;
	} sorted_cases[] = {
		{ four, 4, 50, 2 },	  { four, 4, 25, 1 },
		{ four, 4, 26, 2 },	  { four, 4, 75, 3 },
		{ four, 4, 99, 4 },	  { ten, 10, 91, 10 },
		{ ten, 10, 90, 9 },	  { hundred, 100, 50, 50 },
		{ hundred, 100, 99, 99 }, { hundred, 100, 100, 100 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(hundred); i++)
		hundred[i] = (double)(i + 1);
	for (size_t i = 0; i < ARRAY_SIZE(sorted_cases); i++)
		ck_assert_msg(stats_percentile_sorted(
				  sorted_cases[i].v, sorted_cases[i].n,
				  sorted_cases[i].pct) == sorted_cases[i].want,
			      "case %zu: p%g of %zu", i, sorted_cases[i].pct,
			      sorted_cases[i].n);
}
END_TEST

START_TEST(edge_sizes)
{
	double one[] = { 42 };
	ck_assert_double_eq(stats_percentile(NULL, 0, 50), 0);
	ck_assert_double_eq(stats_percentile(one, 1, 99), 42);
	ck_assert_double_eq(stats_percentile(one, 1, 1), 42);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, nearest_rank, 0, (int)ARRAY_SIZE(cases));
	tcase_add_test(tc, sorted_table);
	tcase_add_test(tc, edge_sizes);
	suite_add_tcase(s, tc);
	return s;
}
