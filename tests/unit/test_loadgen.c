/* The load generator's logic: the publish schedule (even spread, exact
 * counts), the payload template (every sample a valid wire message with
 * the right node, seq, boot_id and ts, values varied within range), the
 * MQTT 3.1.1 client (packets byte for byte, and one connection against a
 * loopback peer that plays the broker), and the fault plan (which nodes go
 * down or flap, exactly how many, and when; the state messages and the
 * event log lines). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check_main.h"
#include "cleanup.h"
#include "loadgen_fault.h"
#include "loadgen_mqtt.h"
#include "loadgen_payload.h"
#include "loadgen_sched.h"
#include "wire.h"

#define HASH "cdd01ef066bc6cf2"
#define NS   1000000000ull

static const struct {
	uint64_t nodes;
	double rate, duration;
	uint64_t total;
	double period_ns;
} sched_cases[] = {
	{ 1, 1, 60, 60, 1e9 },
	{ 1000, 1, 60, 60000, 1e6 },
	{ 10000, 1, 60, 600000, 1e5 },
	{ 3, 2, 1.5, 9, 1e9 / 6 },
	{ 7, 0.5, 10, 35, 1e9 / 3.5 },
	/* Less than one sample's worth still sends one per node. */
	{ 4, 1, 0.1, 4, 2.5e8 },
	{ 10000, 10, 20, 2000000, 1e4 },
};

START_TEST(sched_totals)
{
	struct loadgen_sched s;
	ck_assert_int_eq(loadgen_sched_init(&s, sched_cases[_i].nodes,
					    sched_cases[_i].rate,
					    sched_cases[_i].duration, 5 * NS),
			 0);
	ck_assert_uint_eq(s.total, sched_cases[_i].total);
	ck_assert_double_eq_tol(s.period_ns, sched_cases[_i].period_ns, 1e-6);
	ck_assert_uint_eq(loadgen_sched_at(&s, 0), 5 * NS);
	ck_assert_uint_eq(loadgen_sched_due(&s, 0), 0);
	ck_assert_uint_eq(loadgen_sched_due(&s, 5 * NS - 1), 0);
	ck_assert_uint_eq(loadgen_sched_due(&s, 5 * NS), 1);
	ck_assert_uint_eq(loadgen_sched_due(&s, UINT64_MAX / 2), s.total);
}
END_TEST

/* due() is exactly the count of publishes whose time has come. */
START_TEST(sched_due_matches_at)
{
	struct loadgen_sched s;
	ck_assert_int_eq(
	    loadgen_sched_init(&s, sched_cases[_i].nodes, sched_cases[_i].rate,
			       sched_cases[_i].duration, 123456789),
	    0);
	uint64_t step = s.total > 5000 ? s.total / 5000 : 1;
	for (uint64_t k = 0; k < s.total; k += step) {
		uint64_t at = loadgen_sched_at(&s, k);
		ck_assert_uint_eq(loadgen_sched_due(&s, at), k + 1);
		ck_assert_uint_eq(loadgen_sched_due(&s, at - 1), k);
		if (k + 1 < s.total)
			ck_assert_uint_gt(loadgen_sched_at(&s, k + 1), at);
	}
}
END_TEST

/* Each node publishes every 1/R s at its own offset; within any one
 * period every node publishes exactly once, in node order. */
START_TEST(sched_even_spread)
{
	struct loadgen_sched s;
	const uint64_t nodes = 50;
	const double rate = 4;
	ck_assert_int_eq(loadgen_sched_init(&s, nodes, rate, 3, 0), 0);
	ck_assert_uint_eq(s.total, nodes * 12);
	uint64_t per_node[50] = { 0 };
	for (uint64_t k = 0; k < s.total; k++) {
		uint64_t n = loadgen_sched_node(&s, k);
		ck_assert_uint_eq(n, k % nodes);
		ck_assert_uint_eq(loadgen_sched_index(&s, k), per_node[n]);
		per_node[n]++;
		double at = (double)loadgen_sched_at(&s, k);
		double want = (double)loadgen_sched_index(&s, k) * 1e9 / rate +
			      (double)n * 1e9 / (rate * (double)nodes);
		ck_assert_double_le(fabs(at - want), 1.0);
	}
	for (uint64_t n = 0; n < nodes; n++)
		ck_assert_uint_eq(per_node[n], 12);
	/* Any window of one period holds every node once. */
	uint64_t a = loadgen_sched_due(&s, (uint64_t)(0.3e9));
	uint64_t b = loadgen_sched_due(&s, (uint64_t)(0.3e9 + 0.25e9));
	ck_assert_uint_eq(b - a, nodes);
}
END_TEST

START_TEST(sched_rejects)
{
	struct loadgen_sched s;
	ck_assert_int_eq(loadgen_sched_init(&s, 0, 1, 1, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1, 0, 1, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1, -1, 1, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1, NAN, 1, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1, 1, 0, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1, 1, INFINITY, 0), -EINVAL);
	ck_assert_int_eq(loadgen_sched_init(&s, 1000000, 1e6, 1e6, 0), -EINVAL);
}
END_TEST

static struct loadgen_sample sample(const char *node, uint64_t seq, int64_t ts)
{
	return (struct loadgen_sample){
		.node = node,
		.boot_id = "6c4e6d1c-1175-4e9e-9c22-794cd6c1eb51",
		.seq = seq,
		.ts_ms = ts,
		.uptime_s = 3600.5,
		.cpu_usage = 0.37,
		.mem_used_ratio = 0.42,
		.load1 = 0.8,
		.latency_ms = 3.25,
		.net_bps = 12345.5,
	};
}

static double num(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	ck_assert_msg(cJSON_IsNumber(v), "%s.%s not a number", a, b ? b : "");
	return v->valuedouble;
}

/* Every rendered sample passes the server's own decoder. */
START_TEST(payload_valid_wire)
{
	struct loadgen_payload *p = NULL;
	const char *t = loadgen_payload_default_template();
	static char out[LOADGEN_PAYLOAD_MAX];
	const int64_t ts = 1795000000123;

	ck_assert_int_eq(loadgen_payload_new(t, strlen(t), HASH, 0.5, &p), 0);
	for (uint64_t seq = 0; seq < 3; seq++) {
		struct loadgen_sample s = sample("lg-17", seq * 1000, ts);
		int len = loadgen_payload_render(p, &s, out, sizeof(out));
		ck_assert_int_gt(len, 1000);
		ck_assert_uint_eq(strlen(out), (size_t)len);
		struct wire_msg m;
		char detail[160] = "";
		enum wire_reject r = wire_decode(
		    "acgs/v1", "acgs/v1/lg-17/metrics", out, (size_t)len, HASH,
		    ts, &m, detail, sizeof(detail));
		ck_assert_msg(r == WIRE_OK, "rejected: %s %s",
			      wire_reject_name(r), detail);
		ck_assert_int_eq(m.kind, WIRE_METRICS);
		ck_assert_str_eq(m.node, "lg-17");
		ck_assert_uint_eq(m.seq, seq * 1000);
		ck_assert_int_eq(m.ts_ms, ts);
		ck_assert_str_eq(m.boot_id,
				 "6c4e6d1c-1175-4e9e-9c22-794cd6c1eb51");
		ck_assert_double_eq(num(m.json, "interval", NULL), 0.5);
		ck_assert_double_eq(num(m.json, "v", NULL), 1);
		wire_msg_release(&m);
	}
	loadgen_payload_free(p);
}
END_TEST

START_TEST(payload_values)
{
	struct loadgen_payload *p = NULL;
	const char *t = loadgen_payload_default_template();
	static char out[LOADGEN_PAYLOAD_MAX];
	struct loadgen_sample s = sample("n", 7, 1795000000000);

	ck_assert_int_eq(loadgen_payload_new(t, strlen(t), HASH, 1, &p), 0);
	ck_assert_int_gt(loadgen_payload_render(p, &s, out, sizeof(out)), 0);
	cJSON *j = cJSON_Parse(out);
	ck_assert_ptr_nonnull(j);
	ck_assert_double_eq_tol(num(j, "cpu", "usage"), 0.37, 1e-9);
	ck_assert_double_eq_tol(
	    num(j, "cpu", "user") + num(j, "cpu", "system") +
		num(j, "cpu", "idle") + num(j, "cpu", "nice") +
		num(j, "cpu", "iowait"),
	    1, 1e-3);
	ck_assert_double_eq_tol(num(j, "mem", "used_ratio"), 0.42, 1e-9);
	ck_assert_double_eq_tol(num(j, "mem", "available_bytes"),
				num(j, "mem", "total_bytes") * 0.58, 1);
	ck_assert_double_eq_tol(num(j, "load", "load1"), 0.8, 1e-9);
	ck_assert_double_eq_tol(num(j, "uptime_s", NULL), 3600.5, 1e-9);
	ck_assert_double_eq_tol(num(j, "agent", "uptime_s"), 3600.5, 1e-9);
	const cJSON *probe = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(j, "probes"), 0);
	ck_assert_double_eq_tol(num(probe, "latency_ms", NULL), 3.25, 1e-9);
	ck_assert_double_eq_tol(num(probe, "p99_ms", NULL), 3.25, 1e-9);
	const cJSON *net =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "net"), 0);
	ck_assert_double_eq_tol(num(net, "rx_bytes_ps", NULL), 12345.5, 1e-9);
	/* Untouched template values are kept as they were. */
	ck_assert_double_eq(num(j, "mem", "total_bytes"), 25276510208.0);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "constitutional_"
							     "hash")
			     ->valuestring,
			 HASH);
	cJSON_Delete(j);
	ck_assert_str_eq(loadgen_payload_birth_probes(p),
			 "[{\"name\":\"api\",\"type\":\"http\",\"service\":"
			 "\"api\",\"slo_ms\":50}]");
	loadgen_payload_free(p);
}
END_TEST

/* Numbers are written with fixed decimals, as plain JSON numbers. */
START_TEST(payload_number_text)
{
	struct loadgen_payload *p = NULL;
	const char *t = "{\"load\":{\"load1\":1},\"uptime_s\":1,"
			"\"cpu\":{\"usage\":0.5},"
			"\"probes\":[{\"latency_ms\":1}]}";
	char out[1024];
	struct loadgen_sample s = sample("n", 1234567890123ull, 1795000000999);

	s.load1 = 12.3456;
	s.uptime_s = 0.004;
	s.cpu_usage = 1.5; /* clamped to a ratio */
	s.latency_ms = 1000000.0625;
	ck_assert_int_eq(loadgen_payload_new(t, strlen(t), HASH, 1, &p), 0);
	ck_assert_int_gt(loadgen_payload_render(p, &s, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "\"load1\":12.35}"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\"uptime_s\":0.00,"));
	ck_assert_ptr_nonnull(strstr(out, "\"usage\":1.0000}"));
	ck_assert(strstr(out, "\"latency_ms\":1000000.062}") ||
		  strstr(out, "\"latency_ms\":1000000.063}"));
	ck_assert_ptr_nonnull(strstr(out, "\"seq\":1234567890123,"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"ts\":\"2026-11-18T11:06:40.999Z\""));
	s.load1 = -0.001;
	ck_assert_int_gt(loadgen_payload_render(p, &s, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"load1\":0.00}"));
	s.load1 = -2.5;
	ck_assert_int_gt(loadgen_payload_render(p, &s, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"load1\":-2.50}"));
	s.load1 = 3e15;
	ck_assert_int_gt(loadgen_payload_render(p, &s, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"load1\":3000000000000000.00}"));
	cJSON *j = cJSON_Parse(out);
	ck_assert_ptr_nonnull(j);
	cJSON_Delete(j);
	loadgen_payload_free(p);
}
END_TEST

/* A bare template gets the envelope; the hash is always ours. */
START_TEST(payload_minimal_template)
{
	struct loadgen_payload *p = NULL;
	const char *t =
	    "{\"cpu\":{\"usage\":0.5},\"constitutional_hash\":\"other\"}";
	char out[512];
	struct loadgen_sample s = sample("x.y_z-1", 42, 1795000000999);
	struct wire_msg m;

	ck_assert_int_eq(loadgen_payload_new(t, strlen(t), HASH, 1, &p), 0);
	int len = loadgen_payload_render(p, &s, out, sizeof(out));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(wire_decode("acgs/v1", "acgs/v1/x.y_z-1/metrics", out,
				     (size_t)len, HASH, 1795000000999, &m, NULL,
				     0),
			 WIRE_OK);
	ck_assert_uint_eq(m.seq, 42);
	ck_assert_double_eq_tol(num(m.json, "cpu", "usage"), 0.37, 1e-9);
	ck_assert_str_eq(loadgen_payload_birth_probes(p), "[]");
	wire_msg_release(&m);
	/* Too small a buffer is an error, never a truncated message. */
	ck_assert_int_eq(loadgen_payload_render(p, &s, out, (size_t)len),
			 -E2BIG);
	ck_assert_int_eq(loadgen_payload_render(p, &s, out, 0), -E2BIG);
	ck_assert_int_eq(loadgen_payload_render(p, &s, out, (size_t)len + 1),
			 len);
	s.node = "a\"b";
	ck_assert_int_eq(loadgen_payload_render(p, &s, out, sizeof(out)),
			 -EINVAL);
	s.node = "n";
	s.boot_id = NULL;
	ck_assert_int_eq(loadgen_payload_render(p, &s, out, sizeof(out)),
			 -EINVAL);
	loadgen_payload_free(p);
}
END_TEST

static const struct {
	const char *json;
	int want;
} bad_templates[] = {
	{ "[1,2]", -EINVAL },
	{ "\"s\"", -EINVAL },
	{ "{\"a\":", -EINVAL },
	{ "", -EINVAL },
	{ "{\"note\":\"@LG01@\"}", -EINVAL },
};

START_TEST(payload_bad_templates)
{
	struct loadgen_payload *p = NULL;
	const char *t = bad_templates[_i].json;
	ck_assert_int_eq(loadgen_payload_new(t, strlen(t), HASH, 1, &p),
			 bad_templates[_i].want);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(payload_too_long)
{
	struct loadgen_payload *p = NULL;
	static char big[LOADGEN_PAYLOAD_MAX + 2];
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	ck_assert_int_eq(loadgen_payload_new(big, strlen(big), HASH, 1, &p),
			 -E2BIG);
	ck_assert_ptr_null(loadgen_payload_free(NULL));
}
END_TEST

START_TEST(walk_ranges)
{
	struct loadgen_walk a, b;
	double cpu_min = 1, cpu_max = 0, lat_max = 0;
	unsigned changed = 0;

	loadgen_walk_init(&a, 1);
	loadgen_walk_init(&b, 2);
	ck_assert(a.cpu_usage != b.cpu_usage || a.latency_ms != b.latency_ms);
	for (int i = 0; i < 20000; i++) {
		double before = a.cpu_usage;
		loadgen_walk_step(&a);
		changed += a.cpu_usage != before;
		ck_assert(a.cpu_usage >= 0.02 && a.cpu_usage <= 0.95);
		ck_assert(a.mem_used_ratio >= 0.02 && a.mem_used_ratio <= 0.95);
		ck_assert(a.load1 >= 0);
		ck_assert(a.latency_ms >= 0.2 && a.latency_ms <= 40);
		ck_assert(a.net_bps >= 1000);
		cpu_min = fmin(cpu_min, a.cpu_usage);
		cpu_max = fmax(cpu_max, a.cpu_usage);
		lat_max = fmax(lat_max, a.latency_ms);
	}
	/* It moves, over a real part of the range, with slow probe runs. */
	ck_assert_uint_gt(changed, 19800);
	ck_assert_double_gt(cpu_max - cpu_min, 0.2);
	ck_assert_double_gt(lat_max, 8);
}
END_TEST

static void expect_bytes(const struct buf *b, const uint8_t *want, size_t n)
{
	ck_assert_uint_eq(b->len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg((uint8_t)b->data[i] == want[i],
			      "byte %zu: %02x, want %02x", i,
			      (uint8_t)b->data[i], want[i]);
}

START_TEST(mqtt_connect_bytes)
{
	struct buf b;
	static const uint8_t plain[] = {
		0x10, 14,   0, 4,  'M', 'Q', 'T', 'T',
		4,    0x02, 0, 30, 0,	2,   'c', '1'
	};
	static const uint8_t full[] = {
		0x10, 28,  0,	4,   'M', 'Q', 'T', 'T', 4,   0xee,
		0,    10,  0,	2,   'c', '1', 0,   1,	 't', 0,
		3,    'o', 'f', 'f', 0,	  1,   'u', 0,	 1,   'p',
	};
	struct loadgen_mqtt_connect c = { .client_id = "c1", .keepalive = 30 };

	buf_init(&b, 1024);
	ck_assert_int_eq(loadgen_mqtt_encode_connect(&b, &c), 0);
	expect_bytes(&b, plain, sizeof(plain));
	buf_reset(&b);
	c = (struct loadgen_mqtt_connect){ .client_id = "c1",
					   .keepalive = 10,
					   .username = "u",
					   .password = "p",
					   .will_topic = "t",
					   .will_payload = "off",
					   .will_len = 3,
					   .will_qos = 1,
					   .will_retain = true };
	ck_assert_int_eq(loadgen_mqtt_encode_connect(&b, &c), 0);
	expect_bytes(&b, full, sizeof(full));
	c.username = NULL;
	ck_assert_int_eq(loadgen_mqtt_encode_connect(&b, &c), -EINVAL);
	c.username = "u";
	c.will_qos = 2;
	ck_assert_int_eq(loadgen_mqtt_encode_connect(&b, &c), -EINVAL);
	buf_release(&b);
}
END_TEST

START_TEST(mqtt_publish_bytes)
{
	struct buf b;
	static const uint8_t q1[] = { 0x32, 12,	  0,   3,   'a', '/', 'b',
				      0x12, 0x34, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t q0r[] = { 0x31, 6, 0, 3, 'a', '/', 'b', 'x' };

	buf_init(&b, 1024);
	ck_assert_int_eq(loadgen_mqtt_encode_publish(&b, "a/b", "hello", 5, 1,
						     false, 0x1234),
			 0);
	expect_bytes(&b, q1, sizeof(q1));
	buf_reset(&b);
	ck_assert_int_eq(
	    loadgen_mqtt_encode_publish(&b, "a/b", "x", 1, 0, true, 7), 0);
	expect_bytes(&b, q0r, sizeof(q0r));
	ck_assert_int_eq(loadgen_mqtt_encode_publish(&b, "a", "x", 1, 2, 0, 1),
			 -EINVAL);
	buf_release(&b);
}
END_TEST

/* The remaining length at each boundary of its 1-4 byte encoding. */
static const struct {
	size_t remaining;
	uint8_t bytes[4];
	size_t n;
} varints[] = {
	{ 127, { 0x7f }, 1 },
	{ 128, { 0x80, 0x01 }, 2 },
	{ 16383, { 0xff, 0x7f }, 2 },
	{ 16384, { 0x80, 0x80, 0x01 }, 3 },
	{ 2097151, { 0xff, 0xff, 0x7f }, 3 },
	{ 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
};

START_TEST(mqtt_remaining_length)
{
	uint8_t hdr[64];
	/* remaining = 2 + topic (1) + id (2) + payload */
	size_t payload = varints[_i].remaining - 5;
	size_t hl = loadgen_mqtt_publish_header_len(1, payload, 1);

	ck_assert_uint_eq(hl, 1 + varints[_i].n + 2 + 1 + 2);
	ck_assert_int_eq(
	    loadgen_mqtt_encode_publish_header(hdr, "t", 1, payload, 1, 0, 9),
	    0);
	ck_assert_int_eq(hdr[0], 0x32);
	ck_assert_int_eq(memcmp(hdr + 1, varints[_i].bytes, varints[_i].n), 0);
	ck_assert_int_eq(hdr[hl - 1], 9);
	ck_assert_int_eq(hdr[hl - 3], 't');
}
END_TEST

static const struct {
	uint8_t bytes[8];
	size_t n;
	int want; /* bytes taken, 0 incomplete, or -EPROTO */
	enum loadgen_mqtt_type type;
	int rc;
	uint16_t id;
} parses[] = {
	{ { 0x20, 2, 0, 0 }, 4, 4, LOADGEN_MQTT_CONNACK, 0, 0 },
	{ { 0x20, 2, 1, 5 }, 4, 4, LOADGEN_MQTT_CONNACK, 5, 0 },
	{ { 0x40, 2, 0x12, 0x34 }, 4, 4, LOADGEN_MQTT_PUBACK, 0, 0x1234 },
	{ { 0x40, 2, 0, 1, 0x40, 2, 0, 2 }, 8, 4, LOADGEN_MQTT_PUBACK, 0, 1 },
	{ { 0xd0, 0 }, 2, 2, LOADGEN_MQTT_PINGRESP, 0, 0 },
	{ { 0x40 }, 1, 0, 0, 0, 0 },
	{ { 0x40, 2, 0x12 }, 3, 0, 0, 0, 0 },
	{ { 0x40, 0x82 }, 2, 0, 0, 0, 0 },
	{ { 0x40, 3, 0, 1, 0 }, 5, -EPROTO, 0, 0, 0 },
	{ { 0x42, 2, 0, 1 }, 4, -EPROTO, 0, 0, 0 },
	{ { 0x30, 2, 0, 0 }, 4, -EPROTO, 0, 0, 0 },
	{ { 0x90, 3, 0, 1, 0 }, 5, -EPROTO, 0, 0, 0 },
	{ { 0xe0, 0 }, 2, -EPROTO, 0, 0, 0 },
	{ { 0x40, 0xff, 0xff, 0xff, 0xff, 0x01 }, 6, -EPROTO, 0, 0, 0 },
};

START_TEST(mqtt_parse)
{
	struct loadgen_mqtt_packet p;
	int r = loadgen_mqtt_parse(parses[_i].bytes, parses[_i].n, &p);
	ck_assert_int_eq(r, parses[_i].want);
	if (r > 0) {
		ck_assert_int_eq(p.type, parses[_i].type);
		ck_assert_int_eq(p.connack_rc, parses[_i].rc);
		ck_assert_uint_eq(p.id, parses[_i].id);
	}
}
END_TEST

struct seen {
	unsigned connacks, pubacks, pingresps;
	uint16_t last_id;
};

static void on_packet(void *ctx, const struct loadgen_mqtt_packet *p)
{
	struct seen *s = ctx;
	if (p->type == LOADGEN_MQTT_CONNACK)
		s->connacks++;
	if (p->type == LOADGEN_MQTT_PUBACK) {
		s->pubacks++;
		s->last_id = p->id;
	}
	if (p->type == LOADGEN_MQTT_PINGRESP)
		s->pingresps++;
}

static void peer_write(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

static size_t peer_read(int fd, uint8_t *b, size_t n)
{
	ssize_t k = read(fd, b, n);
	ck_assert_int_gt(k, 0);
	return (size_t)k;
}

/* Wait until the client's socket has something to read (the limit is
 * only there so that a broken client fails instead of hanging). */
static void readable(const struct loadgen_mqtt *m)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
}

/* One connection against a loopback peer standing in for the broker:
 * CONNECT on the wire, CONNACK moves it up, a PUBLISH goes out whole, a
 * PUBACK split over two reads is seen once, a PINGREQ after half the
 * keepalive, a timeout when it stays unanswered, end of stream. */
START_TEST(mqtt_connection)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct loadgen_mqtt m;
	struct seen seen = { 0 };
	struct buf b;
	uint8_t in[256];
	const uint64_t t0 = 1000000000000ull, ka = 10000000000ull;

	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, al), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);

	buf_init(&b, 4096);
	struct loadgen_mqtt_connect c = { .client_id = "n-1", .keepalive = 10 };
	ck_assert_int_eq(loadgen_mqtt_encode_connect(&b, &c), 0);
	loadgen_mqtt_init(&m);
	ck_assert_int_eq(
	    loadgen_mqtt_open(&m, (struct sockaddr *)&a, al, b.data, b.len, t0),
	    0);
	ck_assert_int_eq(m.state, LOADGEN_MQTT_TCP_CONNECTING);
	ck_assert(loadgen_mqtt_want_write(&m));
	ck_assert_int_eq(loadgen_mqtt_send(&m, "x", 1, t0), -ENOTCONN);
	int pfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;
	ck_assert_int_ge(pfd, 0);
	/* Without it the peer's second small write waits for our ACK. */
	setsockopt(pfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ck_assert_int_eq(loadgen_mqtt_flush(&m, t0), 0);
	ck_assert_int_eq(m.state, LOADGEN_MQTT_CONNACK_WAIT);
	ck_assert(!loadgen_mqtt_want_write(&m));
	ck_assert_uint_eq(peer_read(pfd, in, sizeof(in)), b.len);
	ck_assert_int_eq(memcmp(in, b.data, b.len), 0);
	/* No CONNACK in time: the connect is abandoned. */
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + 5, ka, 4), -ETIMEDOUT);
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + 5, ka, 100), 0);

	peer_write(pfd, (const uint8_t[]){ 0x20, 2, 0, 0 }, 4);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), 0);
	ck_assert_int_eq(m.state, LOADGEN_MQTT_UP);
	ck_assert_uint_eq(seen.connacks, 1);

	buf_reset(&b);
	uint16_t id = loadgen_mqtt_next_id(&m);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(
	    loadgen_mqtt_encode_publish(&b, "a/b", "hello", 5, 1, false, id),
	    0);
	ck_assert_int_eq(loadgen_mqtt_send(&m, b.data, b.len, t0 + 1), 0);
	ck_assert_uint_eq(peer_read(pfd, in, sizeof(in)), b.len);
	ck_assert_int_eq(memcmp(in, b.data, b.len), 0);

	peer_write(pfd, (const uint8_t[]){ 0x40, 2, 0 }, 3);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), 0);
	ck_assert_uint_eq(seen.pubacks, 0);
	peer_write(pfd, (const uint8_t[]){ 1, 0xd0, 0 }, 3);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), 0);
	ck_assert_uint_eq(seen.pubacks, 1);
	ck_assert_uint_eq(seen.last_id, 1);
	ck_assert_uint_eq(seen.pingresps, 1);

	/* Idle for half the keepalive: a PINGREQ; unanswered: a timeout. */
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + ka / 4, ka, 100), 0);
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + ka / 2 + 1, ka, 100), 0);
	ck_assert_uint_eq(peer_read(pfd, in, sizeof(in)), 2);
	ck_assert_int_eq(in[0], 0xc0);
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + ka, ka, 100), 0);
	ck_assert_int_eq(loadgen_mqtt_tick(&m, t0 + ka + ka / 2 + 2, ka, 100),
			 -ETIMEDOUT);

	/* A packet a publisher never gets breaks the connection. */
	peer_write(pfd, (const uint8_t[]){ 0x90, 3, 0, 1, 0 }, 5);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), -EPROTO);
	close(pfd);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), -ECONNRESET);
	loadgen_mqtt_close(&m);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(m.state, LOADGEN_MQTT_CLOSED);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen), -ENOTCONN);
	buf_release(&m.out);
	buf_release(&b);
	close(lfd);
}
END_TEST

/* A refused CONNACK is an error, not a connection. */
START_TEST(mqtt_refused)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct loadgen_mqtt m;
	struct seen seen = { 0 };
	uint8_t in[64];

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, al), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	loadgen_mqtt_init(&m);
	ck_assert_int_eq(
	    loadgen_mqtt_open(&m, (struct sockaddr *)&a, al, "\x10\x00", 2, 1),
	    0);
	int pfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_eq(loadgen_mqtt_flush(&m, 1), 0);
	ck_assert_uint_eq(peer_read(pfd, in, sizeof(in)), 2);
	peer_write(pfd, (const uint8_t[]){ 0x20, 2, 0, 5 }, 4);
	readable(&m);
	ck_assert_int_eq(loadgen_mqtt_read(&m, on_packet, &seen),
			 -ECONNREFUSED);
	ck_assert_int_ne(m.state, LOADGEN_MQTT_UP);
	loadgen_mqtt_close(&m);
	buf_release(&m.out);
	close(pfd);
	close(lfd);
}
END_TEST

/* ---- faults: which nodes go down or flap, and when ---- */

static const struct {
	uint64_t nodes;
	double down, flap;
	uint64_t want_down, want_flap;
} fault_cases[] = {
	{ 10000, 0.01, 0.01, 100, 100 },
	{ 500, 0.01, 0.01, 5, 5 },
	{ 1000, 0.5, 0.5, 500, 500 },
	{ 7, 0.5, 0.5, 4, 3 }, /* both round up: the flappers give way */
	{ 1, 1, 0, 1, 0 },
	{ 1, 0, 0, 0, 0 },
	{ 2, 0.5, 0.5, 1, 1 },
	{ 99991, 0.001, 0.002, 100, 200 }, /* N prime */
	{ 12, 0.25, 0.25, 3, 3 },
	{ 100, 0, 0.03, 0, 3 },
};

/* Exact counts, disjoint roles, and the ranks of each role are 0 .. count
 * - 1, each once: the positions are a permutation of the nodes. */
START_TEST(fault_roles)
{
	struct loadgen_fault f;
	struct loadgen_fault_options o = {
		.down_fraction = fault_cases[_i].down,
		.down_at_s = 1,
		.flap_fraction = fault_cases[_i].flap,
		.flap_high_s = 1,
		.flap_low_s = 1,
	};
	uint64_t n = fault_cases[_i].nodes;

	/* 0.5 + 0.5 is allowed; the rounding is what gives way. */
	ck_assert_int_eq(loadgen_fault_init(&f, n, &o), 0);
	ck_assert_uint_eq(f.down, fault_cases[_i].want_down);
	ck_assert_uint_eq(f.flap, fault_cases[_i].want_flap);
	ck_assert_uint_eq((f.mult * f.inv) % n, n == 1 ? 0 : 1);
	uint8_t *seen = calloc(n, 1);
	uint64_t count[3] = { 0 };
	ck_assert_ptr_nonnull(seen);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t rank = UINT64_MAX;
		enum loadgen_role r = loadgen_fault_role(&f, i, &rank);
		uint64_t pos =
		    rank + (r == LOADGEN_ROLE_FLAP     ? f.down
			    : r == LOADGEN_ROLE_NORMAL ? f.down + f.flap
						       : 0);
		ck_assert_uint_lt(pos, n);
		ck_assert_msg(!seen[pos], "position %" PRIu64 " twice", pos);
		seen[pos] = 1;
		count[r]++;
		/* Position p is node p * mult mod N. */
		ck_assert_uint_eq((pos * f.mult) % n, i);
		ck_assert_int_eq(loadgen_fault_role(&f, i, NULL), r);
	}
	ck_assert_uint_eq(count[LOADGEN_ROLE_DOWN], f.down);
	ck_assert_uint_eq(count[LOADGEN_ROLE_FLAP], f.flap);
	ck_assert_uint_eq(count[LOADGEN_ROLE_NORMAL], n - f.down - f.flap);
	free(seen);
}
END_TEST

/* 1% of 10,000: spread over the id range, not the first 100 ids; every
 * tenth of the range holds 10 +- 3 down nodes and 10 +- 3 flappers. */
START_TEST(fault_spread)
{
	struct loadgen_fault f;
	struct loadgen_fault_options o = { .down_fraction = 0.01,
					   .down_at_s = 5,
					   .flap_fraction = 0.01,
					   .flap_high_s = 3,
					   .flap_low_s = 5 };
	unsigned down[10] = { 0 }, flap[10] = { 0 };

	ck_assert_int_eq(loadgen_fault_init(&f, 10000, &o), 0);
	for (uint64_t i = 0; i < 10000; i++) {
		enum loadgen_role r = loadgen_fault_role(&f, i, NULL);
		down[i / 1000] += r == LOADGEN_ROLE_DOWN;
		flap[i / 1000] += r == LOADGEN_ROLE_FLAP;
	}
	for (int b = 0; b < 10; b++) {
		ck_assert_msg(down[b] >= 7 && down[b] <= 13,
			      "ids %d000-%d999: %u down", b, b, down[b]);
		ck_assert_msg(flap[b] >= 7 && flap[b] <= 13,
			      "ids %d000-%d999: %u flapping", b, b, flap[b]);
	}
}
END_TEST

static const struct {
	struct loadgen_fault_options o;
	uint64_t nodes;
} fault_bad[] = {
	{ { .down_fraction = -0.1, .down_at_s = 1 }, 10 },
	{ { .down_fraction = 1.1, .down_at_s = 1 }, 10 },
	{ { .down_fraction = NAN, .down_at_s = 1 }, 10 },
	{ { .down_fraction = 0.6,
	    .down_at_s = 1,
	    .flap_fraction = 0.6,
	    .flap_high_s = 1,
	    .flap_low_s = 1 },
	  10 },
	{ { .down_fraction = 0.1, .down_at_s = 5, .up_at_s = 5 }, 10 },
	{ { .down_fraction = 0.1, .down_at_s = 5, .up_at_s = 4 }, 10 },
	{ { .down_fraction = 0.1, .down_at_s = -1 }, 10 },
	{ { .down_fraction = 0.1, .down_at_s = INFINITY }, 10 },
	{ { .flap_fraction = 0.1, .flap_high_s = 0, .flap_low_s = 1 }, 10 },
	{ { .flap_fraction = 0.1, .flap_high_s = 1, .flap_low_s = 0 }, 10 },
	{ { .flap_fraction = 0.1, .flap_high_s = 1, .flap_low_s = -1 }, 10 },
	{ { .down_fraction = 0 }, 0 },
	{ { .down_fraction = 0 }, 1ull << 32 },
};

START_TEST(fault_rejects)
{
	struct loadgen_fault f;
	ck_assert_int_eq(
	    loadgen_fault_init(&f, fault_bad[_i].nodes, &fault_bad[_i].o),
	    -EINVAL);
}
END_TEST

static const struct {
	double t;
	bool down;	   /* down_at 10, up_at 30 */
	bool down_forever; /* down_at 10, no up_at */
} down_times[] = {
	{ 0, false, false },  { 9.999, false, false }, { 10, true, true },
	{ 20, true, true },   { 29.999, true, true },  { 30, false, true },
	{ 1e6, false, true },
};

START_TEST(fault_down_times)
{
	struct loadgen_fault f, g;
	struct loadgen_fault_options o = { .down_fraction = 0.01,
					   .down_at_s = 10,
					   .up_at_s = 30 };
	ck_assert_int_eq(loadgen_fault_init(&f, 1000, &o), 0);
	o.up_at_s = 0;
	ck_assert_int_eq(loadgen_fault_init(&g, 1000, &o), 0);
	ck_assert_int_eq(loadgen_fault_is_down(&f, down_times[_i].t),
			 down_times[_i].down);
	ck_assert_int_eq(loadgen_fault_is_down(&g, down_times[_i].t),
			 down_times[_i].down_forever);
	/* Without down nodes nothing is ever down. */
	o.down_fraction = 0;
	o.down_at_s = 0;
	ck_assert_int_eq(loadgen_fault_init(&g, 1000, &o), 0);
	ck_assert(!loadgen_fault_is_down(&g, down_times[_i].t));
}
END_TEST

/* Flapper rank r of F is high while (t + r * P / F) mod P < high. */
static const struct {
	uint64_t rank;
	double t;
	bool high;
} flap_times[] = {
	/* high 3, low 5, P 8, 4 flappers: offsets 0, 2, 4, 6 */
	{ 0, 0, true },	     { 0, 2.999, true }, { 0, 3, false },
	{ 0, 7.999, false }, { 0, 8, true },	 { 0, 802.5, true },
	{ 1, 0, true },	     { 1, 0.999, true }, { 1, 1, false },
	{ 1, 6, true },	     { 2, 0, false },	 { 2, 4, true },
	{ 3, 0, false },     { 3, 2, true },	 { 3, 5, false },
};

START_TEST(fault_flap_phase)
{
	struct loadgen_fault f;
	struct loadgen_fault_options o = { .flap_fraction = 0.4,
					   .flap_high_s = 3,
					   .flap_low_s = 5 };
	ck_assert_int_eq(loadgen_fault_init(&f, 10, &o), 0);
	ck_assert_uint_eq(f.flap, 4);
	ck_assert_int_eq(
	    loadgen_fault_flap_high(&f, flap_times[_i].rank, flap_times[_i].t),
	    flap_times[_i].high);
}
END_TEST

/* What the bench relies on: sampled at the load generator's schedule
 * (every 1 / rate s from the start), every flapper sends runs of exactly
 * ceil(high * rate) or floor(high * rate) high samples, never more, and
 * goes high in every period. With high 3 s and rate 1/s: 3 samples, so
 * the condition holds at most about 3 s at the server, under any `for`
 * of 4 s or more. */
START_TEST(fault_flap_runs)
{
	struct loadgen_fault f;
	struct loadgen_fault_options o = { .flap_fraction = 0.01,
					   .flap_high_s = 3,
					   .flap_low_s = 5 };
	struct loadgen_sched s;
	const uint64_t n = 10000;

	ck_assert_int_eq(loadgen_fault_init(&f, n, &o), 0);
	ck_assert_int_eq(loadgen_sched_init(&s, n, 1, 120, 0), 0);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t rank, run = 0, runs = 0;
		bool first = true;
		if (loadgen_fault_role(&f, i, &rank) != LOADGEN_ROLE_FLAP)
			continue;
		/* Node i's samples are publishes i, i + n, i + 2n, ... */
		for (uint64_t k = i; k < s.total; k += n) {
			double t = (double)loadgen_sched_at(&s, k) / 1e9;
			if (loadgen_fault_flap_high(&f, rank, t)) {
				run++;
				continue;
			}
			/* A run that began at the first sample may be cut. */
			if (run && !(first && run == (k - i) / n)) {
				ck_assert_uint_eq(run, 3);
				runs++;
			}
			if (run)
				first = false;
			run = 0;
		}
		ck_assert_uint_le(run, 3);
		/* 120 s of periods of 8 s: 15 high phases, the first or the
		 * last perhaps cut. */
		ck_assert_uint_ge(runs, 14);
	}
}
END_TEST

START_TEST(fault_event_lines)
{
	char line[64];

	ck_assert_int_eq(loadgen_fault_event_line(line, sizeof(line), "down",
						  "lg-42", 1795000000123),
			 25);
	ck_assert_str_eq(line, "down lg-42 1795000000123\n");
	ck_assert_int_eq(
	    loadgen_fault_event_line(line, sizeof(line), "flap_high", "n", 0),
	    14);
	ck_assert_str_eq(line, "flap_high n 0\n");
	ck_assert_int_eq(
	    loadgen_fault_event_line(line, 10, "down", "lg-42", 1795000000123),
	    -E2BIG);
	ck_assert_int_eq(loadgen_fault_event_line(line, sizeof(line), "down",
						  "two words", 1),
			 -EINVAL);
	ck_assert_int_eq(
	    loadgen_fault_event_line(line, sizeof(line), "", "lg-1", 1),
	    -EINVAL);
	ck_assert_int_eq(
	    loadgen_fault_event_line(line, sizeof(line), "up", "a\nb", 1),
	    -EINVAL);
	ck_assert_int_eq(
	    loadgen_fault_event_line(line, sizeof(line), "up", NULL, 1),
	    -EINVAL);
}
END_TEST

/* The state messages pass the server's decoder with what they say; the
 * down one rebuilt from the CONNECT's conn and ts is the will, byte for
 * byte. */
START_TEST(payload_state)
{
	struct buf will, again;
	const int64_t ts = 1795000000123;

	buf_init(&will, 4096);
	buf_init(&again, 4096);
	for (int online = 0; online <= 1; online++) {
		struct wire_msg m;
		char detail[160] = "";
		ck_assert_int_eq(loadgen_payload_state(&will, "lg-7", "boot-1",
						       online, 42, ts),
				 0);
		enum wire_reject r = wire_decode(
		    "acgs/v1", "acgs/v1/lg-7/state", will.data, will.len, HASH,
		    ts + 60000, &m, detail, sizeof(detail));
		ck_assert_msg(r == WIRE_OK, "rejected: %s %s",
			      wire_reject_name(r), detail);
		ck_assert_int_eq(m.kind, WIRE_STATE);
		ck_assert_str_eq(m.node, "lg-7");
		ck_assert_int_eq(m.online, online);
		ck_assert_uint_eq(m.conn, 42);
		ck_assert_int_eq(m.ts_ms, ts);
		const char *boot = NULL;
		ck_assert_int_eq(wire_get_string(m.json, "boot_id", &boot), 0);
		ck_assert_str_eq(boot, "boot-1");
		wire_msg_release(&m);
	}
	ck_assert_int_eq(
	    loadgen_payload_state(&will, "lg-7", "boot-1", false, 42, ts), 0);
	ck_assert_int_eq(
	    loadgen_payload_state(&again, "lg-7", "boot-1", false, 42, ts), 0);
	ck_assert_uint_eq(will.len, again.len);
	ck_assert_int_eq(memcmp(will.data, again.data, will.len), 0);
	ck_assert_int_eq(
	    loadgen_payload_state(&will, "bad node", "boot-1", false, 1, ts),
	    -EINVAL);
	buf_release(&will);
	buf_release(&again);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("loadgen");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, sched_totals, 0, ARRAY_SIZE(sched_cases));
	tcase_add_loop_test(tc, sched_due_matches_at, 0,
			    ARRAY_SIZE(sched_cases));
	tcase_add_test(tc, sched_even_spread);
	tcase_add_test(tc, sched_rejects);
	tcase_add_test(tc, payload_valid_wire);
	tcase_add_test(tc, payload_values);
	tcase_add_test(tc, payload_number_text);
	tcase_add_test(tc, payload_minimal_template);
	tcase_add_loop_test(tc, payload_bad_templates, 0,
			    ARRAY_SIZE(bad_templates));
	tcase_add_test(tc, payload_too_long);
	tcase_add_test(tc, walk_ranges);
	tcase_add_test(tc, mqtt_connect_bytes);
	tcase_add_test(tc, mqtt_publish_bytes);
	tcase_add_loop_test(tc, mqtt_remaining_length, 0, ARRAY_SIZE(varints));
	tcase_add_loop_test(tc, mqtt_parse, 0, ARRAY_SIZE(parses));
	tcase_add_test(tc, mqtt_connection);
	tcase_add_test(tc, mqtt_refused);
	tcase_add_loop_test(tc, fault_roles, 0, ARRAY_SIZE(fault_cases));
	tcase_add_test(tc, fault_spread);
	tcase_add_loop_test(tc, fault_rejects, 0, ARRAY_SIZE(fault_bad));
	tcase_add_loop_test(tc, fault_down_times, 0, ARRAY_SIZE(down_times));
	tcase_add_loop_test(tc, fault_flap_phase, 0, ARRAY_SIZE(flap_times));
	tcase_add_test(tc, fault_flap_runs);
	tcase_add_test(tc, fault_event_lines);
	tcase_add_test(tc, payload_state);
	suite_add_tcase(s, tc);
	return s;
}
