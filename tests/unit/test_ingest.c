#include "config.h"

#include <stdio.h>
#include <time.h>
#include <string.h>

#include "check_main.h"
#include "cleanup.h"
#include "ingest.h"

#define HASH "cdd01ef066bc6cf2"
#define NOW  1795541401123LL /* 2026-11-24T17:30:01.123Z */

static struct ingest *in;

static void setup(void)
{
	ck_assert_int_eq(ingest_new("acgs/v1", HASH, 3, &in), 0);
}

static void teardown(void)
{
	in = ingest_free(in);
}

/* Feed one message; returns the verdict and fills res (released here). */
static enum ingest_verdict feed(const char *node, const char *kind,
				const char *fields, int64_t ts_ms,
				struct ingest_result *out)
{
	char topic[128], payload[1024], ts[32];
	struct ingest_result res;
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(topic, sizeof(topic), "acgs/v1/%s/%s", node, kind);
	snprintf(payload, sizeof(payload),
		 "{\"v\":1,\"node\":\"%s\",\"ts\":\"%s.%03dZ\","
		 "\"constitutional_hash\":\"" HASH "\"%s%s}",
		 node, ts, (int)(ts_ms % 1000), fields[0] ? "," : "", fields);
	enum ingest_verdict v =
	    ingest_handle(in, topic, payload, strlen(payload), NOW, &res);
	if (out)
		*out = res;
	else
		ingest_result_release(&res);
	return v;
}

static enum ingest_verdict sample(const char *node, const char *boot,
				  unsigned seq, int64_t ts_ms)
{
	char f[128];
	snprintf(f, sizeof(f), "\"seq\":%u,\"boot_id\":\"%s\",\"interval\":10",
		 seq, boot);
	return feed(node, "metrics", f, ts_ms, NULL);
}

START_TEST(stream_in_order_and_duplicates)
{
	struct ingest_result r;
	ck_assert_int_eq(feed("n1", "metrics",
			      "\"seq\":0,\"boot_id\":\"A\",\"interval\":10",
			      NOW - 3000, &r),
			 INGEST_SAMPLE);
	ck_assert(r.new_boot);
	ck_assert_ptr_nonnull(r.node);
	ck_assert_str_eq(r.node->id, "n1");
	ingest_result_release(&r);
	ck_assert_int_eq(sample("n1", "A", 1, NOW - 2000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", 2, NOW - 1000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", 2, NOW - 1000), INGEST_DUPLICATE);
	ck_assert_int_eq(sample("n1", "A", 0, NOW - 3000), INGEST_DUPLICATE);
	struct ingest_node *n = ingest_find(in, "n1");
	ck_assert_uint_eq(n->samples, 3);
	ck_assert_uint_eq(n->duplicates, 2);
	ck_assert_uint_eq(n->max_seq, 2);
	ck_assert(n->interval_s == 10);
	ck_assert_int_eq(n->last_sample_ts_ms, NOW - 1000);
	ck_assert_int_eq(n->last_seen_ms, NOW);
}
END_TEST

START_TEST(gaps_and_late_fills)
{
	struct ingest_result r;
	struct ingest_stats st;
	ck_assert_int_eq(sample("n1", "A", 0, NOW - 5000), INGEST_SAMPLE);
	ck_assert_int_eq(feed("n1", "metrics", "\"seq\":3,\"boot_id\":\"A\"",
			      NOW - 2000, &r),
			 INGEST_SAMPLE);
	ck_assert_uint_eq(r.gap, 2);
	ingest_result_release(&r);
	ingest_get_stats(in, &st);
	ck_assert_uint_eq(st.gaps, 2);
	/* A late fill is stored but does not move the live state back. */
	ck_assert_int_eq(sample("n1", "A", 1, NOW - 4000), INGEST_REPLAY);
	ck_assert_int_eq(ingest_find(in, "n1")->last_sample_ts_ms, NOW - 2000);
	ck_assert_int_eq(sample("n1", "A", 1, NOW - 4000), INGEST_DUPLICATE);
	ingest_get_stats(in, &st);
	ck_assert_uint_eq(st.gaps, 1);
	ck_assert_uint_eq(st.replays, 1);
	/* Far beyond the window: the ring is reset, old seqs are replays. */
	ck_assert_int_eq(sample("n1", "A", 5000, NOW - 1000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", 2, NOW - 3000), INGEST_REPLAY);
	ck_assert_int_eq(sample("n1", "A", 4999, NOW - 1001), INGEST_REPLAY);
	ck_assert_int_eq(sample("n1", "A", 4999, NOW - 1001), INGEST_DUPLICATE);
}
END_TEST

START_TEST(ring_reuse_after_advance)
{
	/* Seqs that share ring positions with old ones must not look seen. */
	ck_assert_int_eq(sample("n1", "A", 0, NOW - 9000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", 1, NOW - 8000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", INGEST_SEQ_WINDOW + 5, NOW - 2000),
			 INGEST_SAMPLE);
	/* seq WINDOW+1 sits where 1 sat: it was never seen. */
	ck_assert_int_eq(sample("n1", "A", INGEST_SEQ_WINDOW + 1, NOW - 3000),
			 INGEST_REPLAY);
}
END_TEST

START_TEST(boots)
{
	struct ingest_result r;
	ck_assert_int_eq(sample("n1", "A", 0, NOW - 9000), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n1", "A", 1, NOW - 8000), INGEST_SAMPLE);
	/* The agent restarted: a new boot with newer samples. */
	ck_assert_int_eq(feed("n1", "metrics", "\"seq\":0,\"boot_id\":\"B\"",
			      NOW - 2000, &r),
			 INGEST_SAMPLE);
	ck_assert(r.new_boot);
	ingest_result_release(&r);
	/* The old boot's queue drains late: stored, never live. */
	ck_assert_int_eq(sample("n1", "A", 2, NOW - 7000), INGEST_REPLAY);
	ck_assert_str_eq(ingest_find(in, "n1")->boot_id, "B");
	ck_assert_int_eq(sample("n1", "B", 1, NOW - 1000), INGEST_SAMPLE);
}
END_TEST

START_TEST(state_and_late_wills)
{
	struct ingest_node *n;
	ck_assert_int_eq(feed("n1", "state", "\"state\":\"online\",\"conn\":2",
			      NOW - 1000, NULL),
			 INGEST_STATE);
	n = ingest_find(in, "n1");
	ck_assert(n->online);
	/* The will of connection 1, delivered after connection 2 came up. */
	ck_assert_int_eq(feed("n1", "state", "\"state\":\"offline\",\"conn\":1",
			      NOW - 900, NULL),
			 INGEST_STATE_STALE);
	ck_assert(n->online);
	ck_assert_int_eq(feed("n1", "state", "\"state\":\"offline\",\"conn\":2",
			      NOW - 800, NULL),
			 INGEST_STATE);
	ck_assert(!n->online);
	ck_assert_int_eq(feed("n1", "state", "\"state\":\"online\",\"conn\":1",
			      NOW - 700, NULL),
			 INGEST_STATE_STALE);
	ck_assert(!n->online);
	ck_assert_int_eq(feed("n1", "state", "\"state\":\"online\",\"conn\":3",
			      NOW - 600, NULL),
			 INGEST_STATE);
	ck_assert(n->online);
	ck_assert_int_eq(
	    feed("n1", "birth",
		 "\"boot_id\":\"B\",\"version\":\"0.1.0\",\"interval\":2.5",
		 NOW - 500, NULL),
	    INGEST_BIRTH);
	ck_assert(n->interval_s == 2.5);
}
END_TEST

static const struct {
	const char *topic;
	const char *payload;
	const char *reason;
} rejects[] = {
	{ "acgs/v1/n1/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"2026-11-24T17:30:00.000Z\","
	  "\"constitutional_hash\":\"0000000000000000\",\"seq\":1,\"boot_id\":"
	  "\"A\"}",
	  "hash" },
	{ "acgs/v1/n2/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"2026-11-24T17:30:00.000Z\","
	  "\"constitutional_hash\":\"" HASH "\",\"seq\":1,\"boot_id\":\"A\"}",
	  "node" },
	{ "acgs/v1/n1/metrics", "{not json", "json" },
	{ "acgs/v1/n1/cmd",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"2026-11-24T17:30:00.000Z\","
	  "\"constitutional_hash\":\"" HASH
	  "\",\"id\":\"c\",\"type\":\"t\",\"nonce\":\"n\",\"signature\":\"s\","
	  "\"issued_at\":\"x\",\"expires_at\":\"y\"}",
	  "direction" },
	{ "acgs/v1/n1/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"2026-11-24T17:30:00.000Z\","
	  "\"constitutional_hash\":\"" HASH "\",\"seq\":1,\"boot_id\":"
	  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	  "AAAAAAAA\"}",
	  "schema" },
};

START_TEST(reject_table)
{
	struct ingest_result r;
	struct ingest_stats st;
	enum ingest_verdict v =
	    ingest_handle(in, rejects[_i].topic, rejects[_i].payload,
			  strlen(rejects[_i].payload), NOW, &r);
	ck_assert_int_eq(v, INGEST_REJECT);
	ck_assert_str_eq(ingest_reject_name(&r), rejects[_i].reason);
	ck_assert_ptr_null(r.node);
	ck_assert_msg(r.detail[0] != '\0', "no detail for %s",
		      rejects[_i].reason);
	ingest_get_stats(in, &st);
	ck_assert_uint_eq(st.received, 1);
}
END_TEST

START_TEST(capacity)
{
	struct ingest_result r;
	ck_assert_int_eq(sample("n1", "A", 0, NOW), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n2", "A", 0, NOW), INGEST_SAMPLE);
	ck_assert_int_eq(sample("n3", "A", 0, NOW), INGEST_SAMPLE);
	ck_assert_int_eq(
	    feed("n4", "metrics", "\"seq\":0,\"boot_id\":\"A\"", NOW, &r),
	    INGEST_REJECT);
	ck_assert_str_eq(ingest_reject_name(&r), "capacity");
	/* Known nodes keep working. */
	ck_assert_int_eq(sample("n2", "A", 1, NOW), INGEST_SAMPLE);
}
END_TEST

static void count_node(void *ctx, struct ingest_node *n)
{
	(*(size_t *)ctx)++;
	ck_assert_uint_eq(n->samples, 1);
}

START_TEST(many_nodes)
{
	struct ingest *big;
	char id[32];
	size_t seen = 0;
	ck_assert_int_eq(ingest_new("acgs/v1", HASH, 0, &big), 0);
	struct ingest *saved = in;
	in = big;
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "node-%05d", i);
		ck_assert_int_eq(sample(id, "A", 0, NOW), INGEST_SAMPLE);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "node-%05d", i);
		ck_assert_ptr_nonnull(ingest_find(in, id));
	}
	ck_assert_ptr_null(ingest_find(in, "node-99999"));
	ingest_foreach(in, count_node, &seen);
	ck_assert_uint_eq(seen, 5000);
	in = saved;
	ingest_free(big);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, stream_in_order_and_duplicates);
	tcase_add_test(tc, gaps_and_late_fills);
	tcase_add_test(tc, ring_reuse_after_advance);
	tcase_add_test(tc, boots);
	tcase_add_test(tc, state_and_late_wills);
	tcase_add_loop_test(tc, reject_table, 0, (int)ARRAY_SIZE(rejects));
	tcase_add_test(tc, capacity);
	tcase_add_test(tc, many_nodes);
	suite_add_tcase(s, tc);
	return s;
}
