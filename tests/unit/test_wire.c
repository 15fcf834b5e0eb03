#include "config.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "check_main.h"
#include "cleanup.h"
#include "jsonw.h"
#include "timeutil.h"
#include "wire.h"

#define HASH "cdd01ef066bc6cf2"
#define NOW  1795541401123LL

START_TEST(topics)
{
	char t[WIRE_TOPIC_MAX], node[WIRE_NODE_MAX + 1];
	enum wire_kind k;

	ck_assert_int_eq(
	    wire_topic(t, sizeof(t), "acgs/v1", "web-1", WIRE_CMD_RESULT), 0);
	ck_assert_str_eq(t, "acgs/v1/web-1/cmd/result");
	ck_assert_int_eq(wire_topic_parse(t, "acgs/v1", node, &k), 0);
	ck_assert_str_eq(node, "web-1");
	ck_assert_int_eq(k, WIRE_CMD_RESULT);
	ck_assert_int_eq(
	    wire_topic(t, sizeof(t), "acgs/v1", "a/b", WIRE_METRICS), -EINVAL);
	ck_assert_int_eq(wire_topic(t, sizeof(t), "acgs/v1", "+", WIRE_METRICS),
			 -EINVAL);
	ck_assert_int_eq(wire_topic(t, 10, "acgs/v1", "web-1", WIRE_METRICS),
			 -ENAMETOOLONG);
	ck_assert_int_eq(
	    wire_topic_parse("acgs/v1/web-1/nope", "acgs/v1", node, &k),
	    -EINVAL);
	ck_assert_int_eq(
	    wire_topic_parse("acgs/v2/web-1/metrics", "acgs/v1", node, &k),
	    -EINVAL);
	ck_assert_int_eq(
	    wire_topic_parse("acgs/v1/../metrics", "acgs/v1", node, &k),
	    -EINVAL);
	ck_assert(!wire_node_valid(""));
	ck_assert(wire_node_valid("node_01.example"));
}
END_TEST

START_TEST(round_trip_metrics)
{
	struct buf b;
	struct jsonw w;
	struct wire_msg m;
	char detail[128];

	buf_init(&b, 4096);
	jsonw_init(&w, &b);
	wire_begin(&w, "web-1", NOW, HASH);
	jsonw_kv_u64(&w, "seq", 9007199254740991ull);
	jsonw_kv_str(&w, "boot_id", "b00t");
	jsonw_obj_end(&w);
	ck_assert_int_eq(jsonw_finish(&w), 0);

	ck_assert_int_eq(wire_decode("acgs/v1", "acgs/v1/web-1/metrics", b.data,
				     b.len, HASH, NOW, &m, detail,
				     sizeof(detail)),
			 WIRE_OK);
	ck_assert_int_eq(m.kind, WIRE_METRICS);
	ck_assert_uint_eq(m.seq, 9007199254740991ull);
	ck_assert_str_eq(m.boot_id, "b00t");
	ck_assert_int_eq(m.ts_ms, NOW);
	wire_msg_release(&m);
	buf_release(&b);
}
END_TEST

#define ENV                                                                    \
	"\"v\":1,\"node\":\"n1\",\"ts\":\"2026-11-24T17:30:01.123Z\","         \
	"\"constitutional_hash\":\"" HASH "\""

static const struct {
	const char *topic;
	const char *payload;
	enum wire_reject want;
} table[] = {
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":1,\"boot_id\":\"b\"}",
	  WIRE_OK },
	{ "acgs/v1/n1/metrics",
	  "{" ENV ",\"seq\":1,\"boot_id\":\"b\",\"future\":[1,2]}", WIRE_OK },
	{ "acgs/v1/n1/state", "{" ENV ",\"state\":\"offline\",\"conn\":3}",
	  WIRE_OK },
	{ "acgs/v1/n1/birth", "{" ENV ",\"boot_id\":\"b\",\"version\":\"0.1\"}",
	  WIRE_OK },
	{ "acgs/v1/n1/events", "{" ENV ",\"type\":\"agent_error\"}", WIRE_OK },
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":1}", WIRE_REJECT_SCHEMA },
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":-1,\"boot_id\":\"b\"}",
	  WIRE_REJECT_SCHEMA },
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":1.5,\"boot_id\":\"b\"}",
	  WIRE_REJECT_SCHEMA },
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":\"1\",\"boot_id\":\"b\"}",
	  WIRE_REJECT_SCHEMA },
	{ "acgs/v1/n1/state", "{" ENV ",\"state\":\"sleepy\",\"conn\":3}",
	  WIRE_REJECT_SCHEMA },
	{ "acgs/v1/n2/metrics", "{" ENV ",\"seq\":1,\"boot_id\":\"b\"}",
	  WIRE_REJECT_NODE },
	{ "acgs/v1/n1/metrics", "{\"v\":2,\"node\":\"n1\"}",
	  WIRE_REJECT_VERSION },
	{ "acgs/v1/n1/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"constitutional_hash\":"
	  "\"deadbeefdeadbeef\"}",
	  WIRE_REJECT_HASH },
	{ "acgs/v1/n1/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"yesterday\",\"constitutional_"
	  "hash\":\"" HASH "\"}",
	  WIRE_REJECT_TS },
	{ "acgs/v1/n1/metrics",
	  "{\"v\":1,\"node\":\"n1\",\"ts\":\"2027-01-01T00:00:00Z\","
	  "\"constitutional_hash\":\"" HASH "\"}",
	  WIRE_REJECT_TS },
	{ "acgs/v1/n1/metrics", "[1,2,3]", WIRE_REJECT_JSON },
	{ "acgs/v1/n1/metrics", "{\"v\":1", WIRE_REJECT_JSON },
	{ "acgs/v1/n1/metrics", "{" ENV ",\"seq\":1,\"boot_id\":\"b\"} x",
	  WIRE_REJECT_JSON },
	{ "acgs/v1/n1/metrics", "", WIRE_REJECT_SIZE },
	{ "acgs/v1/+/metrics", "{}", WIRE_REJECT_TOPIC },
	{ "other/n1/metrics", "{}", WIRE_REJECT_TOPIC },
};

START_TEST(decode_table)
{
	struct wire_msg m;
	char detail[128];
	enum wire_reject r = wire_decode(
	    "acgs/v1", table[_i].topic, table[_i].payload,
	    strlen(table[_i].payload), HASH, NOW, &m, detail, sizeof(detail));
	ck_assert_msg(r == table[_i].want, "case %d: got %s (%s), want %s", _i,
		      wire_reject_name(r), detail,
		      wire_reject_name(table[_i].want));
	if (r == WIRE_OK)
		wire_msg_release(&m);
	else
		ck_assert_msg(detail[0] != '\0',
			      "case %d: reject without detail", _i);
}
END_TEST

START_TEST(oversized)
{
	static char big[WIRE_MAX_PAYLOAD + 2];
	struct wire_msg m;
	memset(big, ' ', sizeof(big));
	ck_assert_int_eq(wire_decode("acgs/v1", "acgs/v1/n1/metrics", big,
				     sizeof(big), HASH, NOW, &m, NULL, 0),
			 WIRE_REJECT_SIZE);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, topics);
	tcase_add_test(tc, round_trip_metrics);
	tcase_add_loop_test(tc, decode_table, 0, (int)ARRAY_SIZE(table));
	tcase_add_test(tc, oversized);
	suite_add_tcase(s, tc);
	return s;
}
