/* acgsctl's text output: the table layout (widths from the data, UTF-8,
 * caps, cleaning of hostile text) and every command's rendering of fixture
 * JSON shaped like the server's answers (docs/api.md), compared with the
 * exact expected text. */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "render.h"
#include "table.h"

/* "Now" in every test: 2026-11-24T19:31:40.000Z */
#define NOW_MS 1795548700000LL
static const char fx_fleet[] =
    "{\"score\":0.97,\"components\":{\"services\":{\"api\":0.95,\"db\":1}},"
    "\"nodes\":{\"online\":3,\"stale\":1,\"offline\":0,\"total\":4},"
    "\"compliance_ratio\":1,\"constitutional_hash\":\"cdd01ef066bc6cf2\"}";
static const char fx_nodes[] =
    "{\"nodes\":["
    "{\"id\":\"web-1\",\"state\":\"online\",\"conn\":1,"
    "\"last_seen\":\"2026-11-24T19:31:33.413Z\",\"boot_id\":\"b1\",\"seq\":1,"
    "\"interval\":1,\"score\":1,\"components\":{\"liveness\":1,"
    "\"resources\":0.934,\"probes\":null,\"compliance\":null},"
    "\"capped\":false,\"labels\":{\"role\":\"web\",\"zone\":\"a\"}},"
    "{\"id\":\"db-10\",\"state\":\"offline\",\"conn\":3,"
    "\"last_seen\":\"2026-11-24T16:01:00.000Z\",\"boot_id\":\"b2\",\"seq\":9,"
    "\"interval\":10,\"score\":0,\"components\":{\"liveness\":0,"
    "\"resources\":0.5,\"probes\":1,\"compliance\":0.5},\"capped\":true,"
    "\"cap_reason\":\"offline\",\"labels\":{}},"
    "{\"id\":\"new\",\"state\":\"stale\",\"conn\":1,"
    "\"last_seen\":\"2026-11-24T19:30:00.000Z\",\"score\":null}"
    "],\"total\":5,\"offset\":0,\"limit\":3}";
static const char fx_node[] =
    "{\"id\":\"web-1\",\"state\":\"online\",\"conn\":2,"
    "\"last_seen\":\"2026-11-24T19:31:33.413Z\","
    "\"boot_id\":\"20d72e2e-202d-4414-a38b-16e5dd39dcde\",\"seq\":42,"
    "\"interval\":10,\"score\":0.5,\"components\":{\"liveness\":1,"
    "\"resources\":0.934,\"probes\":0.8,\"compliance\":0.5},\"capped\":true,"
    "\"cap_reason\":\"non-compliant file\",\"labels\":{\"role\":\"web\"},"
    "\"latest_sample\":{\"v\":1,\"node\":\"web-1\","
    "\"ts\":\"2026-11-24T19:31:33.413Z\",\"seq\":42,"
    "\"cpu\":{\"usage\":0.123,\"count\":4},"
    "\"mem\":{\"total_bytes\":8351838208,\"used_ratio\":0.452,"
    "\"swap_total_bytes\":0,\"swap_used_ratio\":0},"
    "\"load\":{\"load1\":0.52,\"load5\":0.48,\"load15\":0.4},"
    "\"uptime_s\":273700.5,"
    "\"filesystems\":[{\"mount\":\"/\",\"device\":\"/dev/vda1\","
    "\"type\":\"ext4\",\"size_bytes\":53687091200,\"used_ratio\":0.41,"
    "\"inodes_used_ratio\":0.12,\"readonly\":false},{\"mount\":\"/boot/efi\","
    "\"type\":\"vfat\",\"size_bytes\":536870912,\"used_ratio\":0.011,"
    "\"inodes_used_ratio\":null,\"readonly\":true}],"
    "\"probes\":[{\"name\":\"api-health\",\"type\":\"http\","
    "\"target\":\"http://127.0.0.1:8000/health\",\"service\":\"api\","
    "\"ok\":true,\"p50_ms\":1.24,\"p99_ms\":3.5,\"slo_ms\":200},"
    "{\"name\":\"db\",\"type\":\"tcp\",\"service\":null,\"ok\":false,"
    "\"p50_ms\":null,\"p99_ms\":null,\"error\":\"connection refused\"}],"
    "\"compliance\":{\"checked\":3,\"compliant\":2,\"failed\":1,\"ratio\":0."
    "667,"
    "\"files\":[{\"path\":\"/etc/acgs/policy.yaml\",\"ok\":false,"
    "\"reason\":\"mismatch\",\"sha256\":\"ab\",\"expected\":\"cd\"},"
    "{\"path\":\"/etc/acgs/a.yaml\",\"ok\":true}]},"
    "\"agent\":{\"version\":\"0.1.0\"}}}";
static const char fx_history[] =
    "{\"node\":\"n1\",\"metric\":\"cpu_usage\","
    "\"from\":\"2026-11-24T18:31:33.000Z\",\"to\":\"2026-11-24T19:31:33.000Z\","
    "\"step\":60,\"source\":\"rollup_1m\",\"points\":["
    "{\"ts\":\"2026-11-24T19:29:00.000Z\",\"value\":0.12},"
    "{\"ts\":\"2026-11-24T19:30:00.000Z\",\"value\":null},"
    "{\"ts\":\"2026-11-24T19:31:00.000Z\",\"value\":1}]}";
static const char fx_services[] =
    "{\"services\":[{\"name\":\"api\",\"score\":0.93,\"criticality\":1,"
    "\"nodes\":3,\"probes\":6,\"failing_probes\":1},{\"name\":\"batch\","
    "\"score\":null,\"criticality\":0.25,\"nodes\":0,\"probes\":0,"
    "\"failing_probes\":0}],\"total\":2}";
static const char fx_service[] =
    "{\"name\":\"api\",\"score\":0.9,\"criticality\":1,\"nodes\":2,"
    "\"probes\":2,\"failing_probes\":1,\"members\":["
    "{\"id\":\"n1\",\"state\":\"online\",\"score\":0.9,\"probes\":["
    "{\"name\":\"api-health\",\"ok\":true,\"p99_ms\":12.5,\"slo_ms\":200},"
    "{\"name\":\"api-tcp\",\"ok\":false,\"p99_ms\":null,\"slo_ms\":null}]},"
    "{\"id\":\"n2\",\"state\":\"offline\",\"score\":0,\"probes\":[]}]}";
static const char fx_compliance[] =
    "{\"compliance_ratio\":0.97,\"nodes_checked\":3,\"nodes_noncompliant\":1,"
    "\"noncompliant\":[{\"id\":\"n2\",\"ratio\":0.5,\"checked\":2,"
    "\"failed\":1,\"files\":[{\"path\":\"/etc/acgs/policy.yaml\","
    "\"reason\":\"mismatch\",\"sha256\":\"ab\",\"expected\":\"cd\"}]}]}";

/* GET /api/v1/alerts and /api/v1/silences as docs/api.md gives them. */
static const char fx_alerts[] =
    "{\"leader\":true,\"evaluated_at\":\"2026-11-24T19:31:38.120Z\",\"a"
    "lerts\":[{\"id\":\"5be1c0a24e9f4b7f0c6d2e3a1b9f8e7d6c5b4a392817161"
    "5141312111009a0b1\",\"rule\":\"ProbeErrorRateHigh\",\"scope\":\"no"
    "de\",\"key\":\"web-1\",\"probe\":\"db-port\",\"state\":\"firing\","
    "\"severity\":\"warning\",\"value\":1,\"threshold\":0.05,\"active_s"
    "ince\":\"2026-11-24T19:29:00.000Z\",\"fired_at\":\"2026-11-24T19:3"
    "1:00.000Z\",\"resolved_at\":null,\"summary\":\"Probe db-port on we"
    "b-1 fails 100% of its runs\",\"description\":\"d\",\"labels\":{\"t"
    "eam\":\"ops\"},\"silenced_by\":[3],\"inhibited\":false,\"acked_by"
    "\":null,\"acked_at\":null},{\"id\":\"0f3a9c1d2e4b5a6978c0d1e2f3a4b5"
    "c6d7e8f90a1b2c3d4e5f60718293a4b5c6\",\"rule\":\"NodeCPUHigh\",\"sc"
    "ope\":\"node\",\"key\":\"db-1\",\"probe\":null,\"state\":\"pending"
    "\",\"severity\":\"warning\",\"value\":0.973,\"threshold\":0.9,\"ac"
    "tive_since\":\"2026-11-24T19:30:55.000Z\",\"fired_at\":null,\"reso"
    "lved_at\":null,\"summary\":\"CPU of db-1 at 97.3%\",\"description"
    "\":\"\",\"labels\":{},\"silenced_by\":[],\"inhibited\":false,\"acke"
    "d_by\":null,\"acked_at\":null},{\"id\":\"9d8c7b6a5f4e3d2c1b0a99887"
    "766554433221100ffeeddccbbaa998877665544\",\"rule\":\"NodeDown\",\""
    "scope\":\"node\",\"key\":\"web-2\",\"probe\":null,\"state\":\"firi"
    "ng\",\"severity\":\"critical\",\"value\":1,\"threshold\":1,\"activ"
    "e_since\":\"2026-11-24T19:27:30.000Z\",\"fired_at\":\"2026-11-24T1"
    "9:28:30.000Z\",\"resolved_at\":null,\"summary\":\"Node web-2 is do"
    "wn\",\"description\":\"\",\"labels\":{\"team\":\"ops\"},\"silenced"
    "_by\":[],\"inhibited\":false,\"acked_by\":\"alice\",\"acked_at\":"
    "\"2026-11-24T19:29:12.000Z\"},{\"id\":\"77aa00bb11cc22dd33ee44ff556"
    "6778899aabbccddeeff00112233445566778a\",\"rule\":\"NodeCPUHigh\","
    "\"scope\":\"node\",\"key\":\"web-2\",\"probe\":null,\"state\":\"fir"
    "ing\",\"severity\":\"warning\",\"value\":0.991,\"threshold\":0.9,"
    "\"active_since\":\"2026-11-24T19:18:00.000Z\",\"fired_at\":\"2026-1"
    "1-24T19:20:00.000Z\",\"resolved_at\":null,\"summary\":\"\",\"descr"
    "iption\":\"\",\"labels\":{},\"silenced_by\":[3,5],\"inhibited\":tr"
    "ue,\"acked_by\":null,\"acked_at\":null},{\"id\":\"c4d5e6f708192a3b"
    "4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3\",\"rule\":\"Flee"
    "tScoreLow\",\"scope\":\"fleet\",\"key\":\"\",\"probe\":null,\"stat"
    "e\":\"pending\",\"severity\":\"critical\",\"value\":0.62,\"thresho"
    "ld\":0.8,\"active_since\":\"2026-11-24T19:31:10.000Z\",\"fired_at"
    "\":null,\"resolved_at\":null,\"summary\":\"\",\"description\":\"\","
    "\"labels\":{},\"silenced_by\":[],\"inhibited\":false,\"acked_by\":"
    "null,\"acked_at\":null},{\"id\":\"e1e2e3e4e5e6e7e8e9eaebecedeeeff0"
    "f1f2f3f4f5f6f7f8f9fafbfcfdfeff00\",\"rule\":\"ComplianceFailed\","
    "\"scope\":\"node\",\"key\":\"db-1\",\"probe\":null,\"state\":\"firi"
    "ng\",\"severity\":\"critical\",\"value\":1,\"threshold\":0,\"activ"
    "e_since\":\"2026-11-24T17:01:11.000Z\",\"fired_at\":\"2026-11-24T1"
    "7:02:11.000Z\",\"resolved_at\":null,\"summary\":\"\",\"description"
    "\":\"\",\"labels\":{},\"silenced_by\":[],\"inhibited\":false,\"ack"
    "ed_by\":null,\"acked_at\":null}],\"history\":[{\"ts\":\"2026-11-24"
    "T19:31:10.000Z\",\"id\":\"c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
    "08192a3b4c5d6e7f8091a2b3\",\"rule\":\"FleetScoreLow\",\"scope\":\""
    "fleet\",\"key\":\"\",\"from\":\"inactive\",\"to\":\"pending\",\"va"
    "lue\":0.62,\"severity\":\"critical\"},{\"ts\":\"2026-11-24T19:31:0"
    "0.000Z\",\"id\":\"5be1c0a24e9f4b7f0c6d2e3a1b9f8e7d6c5b4a3928171615"
    "141312111009a0b1\",\"rule\":\"ProbeErrorRateHigh\",\"scope\":\"nod"
    "e\",\"key\":\"web-1\",\"from\":\"pending\",\"to\":\"firing\",\"val"
    "ue\":1,\"severity\":\"warning\"},{\"ts\":\"2026-11-24T19:28:30.000"
    "Z\",\"id\":\"9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9"
    "98877665544\",\"rule\":\"NodeDown\",\"scope\":\"node\",\"key\":\"w"
    "eb-2\",\"from\":\"pending\",\"to\":\"firing\",\"value\":1,\"severi"
    "ty\":\"critical\"}]}";
static const char fx_silences[] =
    "{\"silences\":[{\"id\":5,\"matchers\":[\"node=~web-.*\",\"severity"
    "=warning\"],\"starts_at\":\"2026-11-24T21:00:00.000Z\",\"ends_at\""
    ":\"2026-11-24T23:00:00.000Z\",\"comment\":\"load test on the web t"
    "ier\",\"author\":\"bob\",\"created_at\":\"2026-11-24T19:25:00.000Z"
    "\",\"state\":\"pending\"},{\"id\":3,\"matchers\":[\"node=web-1\",{"
    "\"name\":\"severity\",\"value\":\"warn.*\",\"isRegex\":true,\"isEq"
    "ual\":true}],\"starts_at\":\"2026-11-24T19:00:00.000Z\",\"ends_at"
    "\":\"2026-11-24T20:30:00.000Z\",\"comment\":\"db-1 migration, CHG-1"
    "234\",\"author\":\"alice\",\"created_at\":\"2026-11-24T19:00:00.00"
    "0Z\",\"state\":\"active\"}]}";

typedef int (*render_fn)(const cJSON *, int64_t, struct buf *);

static void expect_render(render_fn fn, const char *json, const char *want)
{
	cJSON *doc = cJSON_Parse(json);
	struct buf out;

	ck_assert_ptr_nonnull(doc);
	buf_init(&out, 1 << 20);
	ck_assert_int_eq(fn(doc, NOW_MS, &out), 0);
	ck_assert_ptr_nonnull(out.data);
	ck_assert_str_eq(out.data, want);
	buf_release(&out);
	cJSON_Delete(doc);
}

START_TEST(fleet)
{
	expect_render(render_fleet, fx_fleet,
		      "score:       0.970\n"
		      "nodes:       4 total: 3 online, 1 stale, 0 offline\n"
		      "compliance:  1.000\n"
		      "services:    api 0.950, db 1.000\n"
		      "hash:        cdd01ef066bc6cf2\n");
	/* An older server sends no components: nothing to print for them. */
	expect_render(render_fleet,
		      "{\"score\":1,\"nodes\":{\"online\":1,\"stale\":0,"
		      "\"offline\":0,\"total\":1},\"compliance_ratio\":1}",
		      "score:       1.000\n"
		      "nodes:       1 total: 1 online, 0 stale, 0 offline\n"
		      "compliance:  1.000\n");
}
END_TEST

START_TEST(nodes)
{
	expect_render(
	    render_nodes, fx_nodes,
	    "ID     STATE    SCORE  LIVENESS  RESOURCES  PROBES  COMPLIANCE  "
	    "LAST SEEN  LABELS\n"
	    "db-10  offline  0.000      0.00       0.50    1.00        0.50  "
	    "3h ago     -\n"
	    "new    stale        -         -          -       -           -  "
	    "100s ago   -\n"
	    "web-1  online   1.000      1.00       0.93       -           -  "
	    "6s ago     role=web,zone=a\n"
	    "(3 of 5 nodes shown)\n");
	expect_render(render_nodes, "{\"nodes\":[],\"total\":0}", "no nodes\n");
	/* Sorted by id, digit runs by value. */
	expect_render(
	    render_nodes,
	    "{\"nodes\":[{\"id\":\"n10\"},{\"id\":\"n2\"},"
	    "{\"id\":\"n1\"},{\"id\":\"m\"},{\"id\":\"n01\"}]}",
	    "ID   STATE  SCORE  LIVENESS  RESOURCES  PROBES  "
	    "COMPLIANCE  LAST SEEN  LABELS\n"
	    "m    -          -         -          -       -           "
	    "-  -          -\n"
	    "n01  -          -         -          -       -           "
	    "-  -          -\n"
	    "n1   -          -         -          -       -           "
	    "-  -          -\n"
	    "n2   -          -         -          -       -           "
	    "-  -          -\n"
	    "n10  -          -         -          -       -           "
	    "-  -          -\n");
}
END_TEST

START_TEST(node)
{
	expect_render(
	    render_node, fx_node,
	    "id:          web-1\n"
	    "state:       online\n"
	    "score:       0.500\n"
	    "components:  liveness 1.00, resources 0.93, probes 0.80, "
	    "compliance 0.50\n"
	    "capped:      yes: non-compliant file\n"
	    "last seen:   2026-11-24T19:31:33.413Z (6s ago)\n"
	    "labels:      role=web\n"
	    "boot id:     20d72e2e-202d-4414-a38b-16e5dd39dcde\n"
	    "seq:         42\n"
	    "connection:  2\n"
	    "interval:    10s\n"
	    "cpu:         12.3% of 4 CPUs\n"
	    "memory:      45.2% of 7.8 GiB\n"
	    "swap:        none\n"
	    "load:        0.52 0.48 0.40\n"
	    "uptime:      3d4h1m\n"
	    "agent:       0.1.0\n"
	    "sample:      2026-11-24T19:31:33.413Z\n"
	    "\n"
	    "FILESYSTEM  TYPE       SIZE   USED  INODES  RO\n"
	    "/           ext4   50.0 GiB  41.0%   12.0%  no\n"
	    "/boot/efi   vfat  512.0 MiB   1.1%       -  yes\n"
	    "\n"
	    "PROBE       TYPE  SERVICE  OK   P50 MS  P99 MS  SLO MS  ERROR\n"
	    "api-health  http  api      yes     1.2     3.5     200  -\n"
	    "db          tcp   -        no        -       -       -  "
	    "connection refused\n"
	    "\n"
	    "compliance: 3 checked, 1 failed\n"
	    "PATH                   REASON\n"
	    "/etc/acgs/policy.yaml  mismatch\n");
	/* Never scored, no sample yet. */
	expect_render(render_node,
		      "{\"id\":\"n9\",\"state\":\"online\",\"score\":null}",
		      "id:          n9\n"
		      "state:       online\n"
		      "score:       -\n"
		      "last seen:   -\n"
		      "labels:      -\n"
		      "seq:         -\n"
		      "connection:  -\n");
}
END_TEST

START_TEST(history)
{
	expect_render(render_history, fx_history,
		      "node:    n1\n"
		      "metric:  cpu_usage\n"
		      "from:    2026-11-24T18:31:33.000Z\n"
		      "to:      2026-11-24T19:31:33.000Z\n"
		      "step:    1m (rollup_1m)\n"
		      "points:  3\n"
		      "\n"
		      "TIME                      VALUE\n"
		      "2026-11-24T19:29:00.000Z  0.120\n"
		      "2026-11-24T19:30:00.000Z      -\n"
		      "2026-11-24T19:31:00.000Z  1.000\n");
	/* Raw samples of a counter-like metric: whole numbers. */
	expect_render(
	    render_history,
	    "{\"node\":\"n1\",\"metric\":\"net_rx_bps\",\"from\":"
	    "\"2026-11-24T19:00:00.000Z\",\"to\":"
	    "\"2026-11-24T19:01:00.000Z\",\"step\":0,\"source\":"
	    "\"raw\",\"points\":[{\"ts\":\"2026-11-24T19:00:01.123Z\","
	    "\"value\":123456.7}],\"truncated\":true}",
	    "node:    n1\n"
	    "metric:  net_rx_bps\n"
	    "from:    2026-11-24T19:00:00.000Z\n"
	    "to:      2026-11-24T19:01:00.000Z\n"
	    "step:    raw (raw)\n"
	    "points:  1\n"
	    "\n"
	    "TIME                       VALUE\n"
	    "2026-11-24T19:00:01.123Z  123457\n"
	    "(truncated: the server's point limit was reached; take a larger "
	    "--step or a shorter range)\n");
}
END_TEST

START_TEST(services)
{
	expect_render(render_services, fx_services,
		      "SERVICE  SCORE  CRITICALITY  NODES  PROBES  FAILING\n"
		      "api      0.930            1      3       6        1\n"
		      "batch        -         0.25      0       0        0\n");
	expect_render(
	    render_service, fx_service,
	    "service:      api\n"
	    "score:        0.900\n"
	    "criticality:  1\n"
	    "nodes:        2\n"
	    "probes:       2\n"
	    "failing:      1\n"
	    "\n"
	    "NODE  STATE    SCORE  PROBE       OK   P99 MS  SLO MS\n"
	    "n1    online   0.900  api-health  yes    12.5     200\n"
	    "n1    online   0.900  api-tcp     no        -       -\n"
	    "n2    offline  0.000  -           -         -       -\n");
}
END_TEST

START_TEST(compliance)
{
	expect_render(render_compliance, fx_compliance,
		      "compliance:     0.970\n"
		      "nodes checked:  3\n"
		      "non-compliant:  1\n"
		      "\n"
		      "NODE  RATIO  CHECKED  FAILED  PATH                   "
		      "REASON\n"
		      "n2    0.500        2       1  /etc/acgs/policy.yaml  "
		      "mismatch\n");
	expect_render(render_compliance,
		      "{\"compliance_ratio\":1,\"nodes_checked\":2,"
		      "\"nodes_noncompliant\":0,\"noncompliant\":[]}",
		      "compliance:     1.000\n"
		      "nodes checked:  2\n"
		      "non-compliant:  0\n");
}
END_TEST

static const char want_alerts[] =
    "ID            STATE    SEVERITY  RULE                KEY            "
    "VALUE  SINCE   NOTE\n"
    "e1e2e3e4e5e6  firing   critical  ComplianceFailed    db-1           "
    "    1  2h29m\n"
    "9d8c7b6a5f4e  firing   critical  NodeDown            web-2          "
    "    1  3m10s   acked by alice\n"
    "77aa00bb11cc  firing   warning   NodeCPUHigh         web-2          "
    "0.991  11m40s  silenced #3 #5, inhibited\n"
    "5be1c0a24e9f  firing   warning   ProbeErrorRateHigh  web-1/db-port  "
    "    1  40s     silenced #3\n"
    "c4d5e6f70819  pending  critical  FleetScoreLow       fleet          "
    " 0.62  30s\n"
    "0f3a9c1d2e4b  pending  warning   NodeCPUHigh         db-1           "
    "0.973  45s\n";

START_TEST(alerts)
{
	cJSON *doc = cJSON_Parse(fx_alerts);
	char *text;

	/* Firing before pending, then by severity, rule and key. */
	expect_render(
	    render_alerts, fx_alerts,
	    "ID            STATE    SEVERITY  RULE                KEY "
	    "           VALUE  SINCE   NOTE\n"
	    "e1e2e3e4e5e6  firing   critical  ComplianceFailed    "
	    "db-1               1  2h29m\n"
	    "9d8c7b6a5f4e  firing   critical  NodeDown            "
	    "web-2              1  3m10s   acked by alice\n"
	    "77aa00bb11cc  firing   warning   NodeCPUHigh         "
	    "web-2          0.991  11m40s  silenced #3 #5, "
	    "inhibited\n"
	    "5be1c0a24e9f  firing   warning   ProbeErrorRateHigh  "
	    "web-1/db-port      1  40s     silenced #3\n"
	    "c4d5e6f70819  pending  critical  FleetScoreLow       "
	    "fleet           0.62  30s\n"
	    "0f3a9c1d2e4b  pending  warning   NodeCPUHigh         "
	    "db-1           0.973  45s\n"
	    "\n"
	    "TIME                      ID            RULE              "
	    "  KEY    FROM      TO       VALUE  SEVERITY\n"
	    "2026-11-24T19:31:10.000Z  c4d5e6f70819  FleetScoreLow     "
	    "  fleet  inactive  pending   0.62  critical\n"
	    "2026-11-24T19:31:00.000Z  5be1c0a24e9f  ProbeErrorRateHigh"
	    "  web-1  pending   firing       1  warning\n"
	    "2026-11-24T19:28:30.000Z  9d8c7b6a5f4e  NodeDown          "
	    "  web-2  pending   firing       1  critical\n");

	/* Without a history (acgsctl drops it unless --history), an empty
	 * one, and one PostgreSQL could not give. */
	ck_assert_ptr_nonnull(doc);
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "history");
	text = cJSON_PrintUnformatted(doc);
	expect_render(render_alerts, text, want_alerts);
	free(text);
	cJSON_AddArrayToObject(doc, "history");
	text = cJSON_PrintUnformatted(doc);
	{
		char want[sizeof(want_alerts) + 64];
		snprintf(want, sizeof(want),
			 "%s\nno state changes in the "
			 "history\n",
			 want_alerts);
		expect_render(render_alerts, text, want);
	}
	free(text);
	cJSON_AddStringToObject(doc, "history_error",
				"connection refused\x1b[2J");
	text = cJSON_PrintUnformatted(doc);
	{
		char want[sizeof(want_alerts) + 64];
		snprintf(want, sizeof(want),
			 "%s\n(history unavailable: connection refused?[2J)\n",
			 want_alerts);
		expect_render(render_alerts, text, want);
	}
	free(text);
	cJSON_Delete(doc);

	expect_render(render_alerts,
		      "{\"leader\":true,\"evaluated_at\":"
		      "\"2026-11-24T19:31:38.120Z\",\"alerts\":[]}",
		      "no alerts\n");
	/* Another replica evaluates; a server that has not yet. */
	expect_render(render_alerts,
		      "{\"leader\":false,\"evaluated_at\":"
		      "\"2026-11-24T19:31:30.000Z\",\"alerts\":[]}",
		      "no alerts\n"
		      "(from a replica that does not evaluate the rules; last "
		      "evaluation: 10s ago)\n");
	expect_render(render_alerts,
		      "{\"leader\":true,\"evaluated_at\":null,\"alerts\":[]}",
		      "no alerts\n(the rules have not been evaluated yet)\n");
	/* Missing fields are "-"; hostile text from rules and agents is
	 * cleaned; a resolved alert's SINCE is from its resolution. */
	expect_render(
	    render_alerts,
	    "{\"evaluated_at\":\"2026-11-24T19:31:38.120Z\",\"alerts\":["
	    "{\"id\":\"abc\",\"state\":\"resolved\",\"rule\":\"R\\u202e1\","
	    "\"key\":\"n\\u001b[31m\",\"probe\":\"p\\n\","
	    "\"active_since\":\"2026-11-24T18:00:00Z\","
	    "\"resolved_at\":\"2026-11-24T19:30:40Z\","
	    "\"acked_by\":\"\\u0007bob\"},{}]}",
	    "ID   STATE     SEVERITY  RULE  KEY        VALUE  SINCE  NOTE\n"
	    "abc  resolved  -         R?1   n?[31m/p?      -  1m     "
	    "acked by ?bob\n"
	    "-    -         -         -     -              -  -\n");
}
END_TEST

START_TEST(alert)
{
	cJSON *doc = cJSON_Parse(fx_alerts);
	cJSON *a = cJSON_DetachItemFromArray(
	    cJSON_GetObjectItemCaseSensitive(doc, "alerts"), 2);
	char *text = cJSON_PrintUnformatted(a);

	expect_render(
	    render_alert, text,
	    "id:            9d8c7b6a5f4e3d2c1b0a99887766554433221100ffee"
	    "ddccbbaa998877665544\n"
	    "rule:          NodeDown\n"
	    "key:           web-2\n"
	    "state:         firing\n"
	    "severity:      critical\n"
	    "value:         1 (threshold 1)\n"
	    "active since:  2026-11-24T19:27:30.000Z (4m10s ago)\n"
	    "fired at:      2026-11-24T19:28:30.000Z (3m10s ago)\n"
	    "resolved at:   -\n"
	    "summary:       Node web-2 is down\n"
	    "labels:        team=ops\n"
	    "silenced by:   -\n"
	    "inhibited:     no\n"
	    "acked by:      alice\n"
	    "acked at:      2026-11-24T19:29:12.000Z (2m28s ago)\n");
	free(text);
	cJSON_Delete(a);
	a = cJSON_DetachItemFromArray(
	    cJSON_GetObjectItemCaseSensitive(doc, "alerts"), 2);
	text = cJSON_PrintUnformatted(a);
	expect_render(
	    render_alert, text,
	    "id:            77aa00bb11cc22dd33ee44ff5566778899aabbccddee"
	    "ff00112233445566778a\n"
	    "rule:          NodeCPUHigh\n"
	    "key:           web-2\n"
	    "state:         firing\n"
	    "severity:      warning\n"
	    "value:         0.991 (threshold 0.9)\n"
	    "active since:  2026-11-24T19:18:00.000Z (13m40s ago)\n"
	    "fired at:      2026-11-24T19:20:00.000Z (11m40s ago)\n"
	    "resolved at:   -\n"
	    "summary:       -\n"
	    "labels:        -\n"
	    "silenced by:   #3 #5\n"
	    "inhibited:     yes\n"
	    "acked by:      -\n"
	    "acked at:      -\n");
	free(text);
	cJSON_Delete(a);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(silences)
{
	cJSON *doc = cJSON_Parse(fx_silences);
	cJSON *s = cJSON_DetachItemFromArray(
	    cJSON_GetObjectItemCaseSensitive(doc, "silences"), 1);
	char *text;

	expect_render(
	    render_silences, fx_silences,
	    "ID  STATE    MATCHERS                        STARTS      "
	    "ENDS       AUTHOR  COMMENT\n"
	    " 5  pending  node=~web-.*, severity=warning  in 1h28m    "
	    "in 3h28m   bob     load test on the web tier\n"
	    " 3  active   node=web-1, severity=~warn.*    31m40s ago  "
	    "in 58m20s  alice   db-1 migration, CHG-1234\n");
	expect_render(render_silences, "{\"silences\":[]}", "no silences\n");

	/* The answer of an expire, and of an add (the id alone). */
	cJSON_ReplaceItemInObjectCaseSensitive(s, "state",
					       cJSON_CreateString("expired"));
	cJSON_ReplaceItemInObjectCaseSensitive(
	    s, "ends_at", cJSON_CreateString("2026-11-24T19:31:40.000Z"));
	text = cJSON_PrintUnformatted(s);
	expect_render(render_silence, text,
		      "id:        3\n"
		      "state:     expired\n"
		      "matchers:  node=web-1, severity=~warn.*\n"
		      "starts:    2026-11-24T19:00:00.000Z (31m40s ago)\n"
		      "ends:      2026-11-24T19:31:40.000Z (0s ago)\n"
		      "author:    alice\n"
		      "comment:   db-1 migration, CHG-1234\n"
		      "created:   2026-11-24T19:00:00.000Z (31m40s ago)\n");
	expect_render(render_silence_id, text, "3\n");
	free(text);
	cJSON_Delete(s);
	cJSON_Delete(doc);

	/* Hostile matchers and comments are cleaned, long ones cut. */
	expect_render(
	    render_silences,
	    "{\"silences\":[{\"id\":1,\"state\":\"active\",\"matchers\":["
	    "{\"name\":\"a\",\"value\":\"\\u001b]0;x\",\"isEqual\":false}],"
	    "\"comment\":\"0123456789012345678901234567890123456789012345678"
	    "9\",\"author\":\"\\u202ebob\"}]}",
	    "ID  STATE   MATCHERS  STARTS  ENDS  AUTHOR  COMMENT\n"
	    " 1  active  a!=?]0;x  -       -     ?bob    "
	    "01234567890123456789012345678901234567890123456\xe2\x80\xa6\n");
}
END_TEST

START_TEST(spans)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{ -5000, "0s" },	{ 0, "0s" },
		{ 999, "0s" },		{ 45000, "45s" },
		{ 60000, "1m" },	{ 190000, "3m10s" },
		{ 3599000, "59m59s" },	{ 3600000, "1h" },
		{ 3660000, "1h1m" },	{ 3661000, "1h1m" },
		{ 86399000, "23h59m" }, { 86400000, "1d" },
		{ 273600000, "3d4h" },	{ INT64_MAX, "99999d" },
	};
	char out[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		render_span(cases[i].ms, out);
		ck_assert_msg(strcmp(out, cases[i].want) == 0, "%lld: %s",
			      (long long)cases[i].ms, out);
	}
}
END_TEST

/* Answers without what the route always carries are not the server's. */
START_TEST(not_ours)
{
	static const struct {
		render_fn fn;
		const char *json;
	} cases[] = {
		{ render_fleet, "{\"nodes\":3}" },
		{ render_fleet, "[1,2]" },
		{ render_nodes, "{\"nodes\":{}}" },
		{ render_nodes, "\"nodes\"" },
		{ render_node, "{\"id\":7}" },
		{ render_history, "{\"points\":null}" },
		{ render_services, "{\"services\":\"api\"}" },
		{ render_service, "{}" },
		{ render_compliance, "{\"error\":{}}" },
		{ render_alerts, "{\"alerts\":{}}" },
		{ render_alerts, "{\"error\":{\"code\":\"x\"}}" },
		{ render_alert, "{\"id\":17}" },
		{ render_silences, "{\"silences\":null}" },
		{ render_silence, "{\"id\":\"3\"}" },
		{ render_silence_id, "{}" },
		{ render_silence_id, "{\"id\":0}" },
		{ render_silence_id, "{\"id\":1.5}" },
		{ render_silence_id, "{\"id\":1e300}" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *doc = cJSON_Parse(cases[i].json);
		struct buf out;
		buf_init(&out, 4096);
		ck_assert_msg(cases[i].fn(doc, NOW_MS, &out) == -EPROTO,
			      "case %zu", i);
		buf_release(&out);
		cJSON_Delete(doc);
	}
}
END_TEST

START_TEST(ages)
{
	static const struct {
		const char *ts, *want;
	} cases[] = {
		{ "2026-11-24T19:31:40.000Z", "0s" },
		{ "2026-11-24T19:31:45.000Z", "0s" }, /* clock skew */
		{ "2026-11-24T19:29:41.000Z", "119s" },
		{ "2026-11-24T19:29:40.000Z", "2m" },
		{ "2026-11-24T17:31:41.000Z", "119m" },
		{ "2026-11-24T17:31:40.000Z", "2h" },
		{ "2026-11-21T19:31:40.000Z", "3d" },
		{ "yesterday", "-" },
		{ NULL, "-" },
	};
	char out[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		render_age(cases[i].ts, NOW_MS, out);
		ck_assert_str_eq(out, cases[i].want);
	}
}
END_TEST

static const char *render_table(struct table *t, struct buf *out)
{
	buf_init(out, 1 << 16);
	ck_assert_int_eq(table_render(t, out), 0);
	table_release(t);
	return out->data;
}

START_TEST(table_layout)
{
	struct table t;
	struct buf out;

	table_init(&t);
	table_col(&t, "NAME", TABLE_LEFT, 0);
	table_col(&t, "N", TABLE_RIGHT, 0);
	table_col(&t, "NOTE", TABLE_LEFT, 0);
	table_cell(&t, "a");
	table_cell(&t, "1");
	table_cell(&t, "");
	table_cell(&t, "longer name");
	table_cell(&t, "12345");
	table_cell(&t, NULL);
	ck_assert_uint_eq(table_rows(&t), 2);
	ck_assert_str_eq(render_table(&t, &out), "NAME             N  NOTE\n"
						 "a                1\n"
						 "longer name  12345  -\n");
	buf_release(&out);
}
END_TEST

START_TEST(table_utf8)
{
	struct table t;
	struct buf out;

	table_init(&t);
	table_col(&t, "ID", TABLE_LEFT, 0);
	table_col(&t, "ZONE", TABLE_LEFT, 0);
	/* é is one column, 東京 two each, e + U+0301 (combining) one. */
	table_cell(&t, "caf\xc3\xa9");
	table_cell(&t, "\xe6\x9d\xb1\xe4\xba\xac");
	table_cell(&t, "cafe\xcc\x81!");
	table_cell(&t, "x");
	ck_assert_str_eq(render_table(&t, &out),
			 "ID     ZONE\n"
			 "caf\xc3\xa9   \xe6\x9d\xb1\xe4\xba\xac\n"
			 "cafe\xcc\x81!  x\n");
	buf_release(&out);
	ck_assert_uint_eq(table_width("\xe6\x9d\xb1\xe4\xba\xac"), 4);
	ck_assert_uint_eq(table_width("cafe\xcc\x81"), 4);
}
END_TEST

START_TEST(table_caps)
{
	struct table t;
	struct buf out;

	table_init(&t);
	table_col(&t, "K", TABLE_LEFT, 0);
	table_col(&t, "LABELS", TABLE_LEFT, 8);
	table_cell(&t, "a");
	table_cell(&t, "role=web,zone=a");
	table_cell(&t, "b");
	/* A wide character that would cross the cap is left out whole. */
	table_cell(&t, "1234567\xe6\x9d\xb1");
	ck_assert_str_eq(render_table(&t, &out), "K  LABELS\n"
						 "a  role=we\xe2\x80\xa6\n"
						 "b  1234567\xe2\x80\xa6\n");
	buf_release(&out);
}
END_TEST

/* Text from agents cannot drive the terminal: escapes, other control
 * characters, invalid UTF-8 and bidi overrides all become '?'. */
START_TEST(table_hostile)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\x1b[31mred\x1b[0m", "?[31mred?[0m" },
		{ "a\nb\rc\td", "a?b?c?d" },
		{ "\x7f\xc2\x9b", "??" },  /* DEL, C1 CSI */
		{ "\xff\xfe", "??" },	   /* not UTF-8 */
		{ "\xc0\xaf", "??" },	   /* overlong '/' */
		{ "\xed\xa0\x80", "???" }, /* a surrogate */
		{ "\xe2\x80\xae"
		  "abc",
		  "?abc" },				    /* RLO */
		{ "ok\xe2\x81\xa6x", "ok?x" },		    /* LRI */
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" }, /* emoji stays */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 1024);
		ck_assert_int_eq(table_clean(&b, cases[i].in, 0), 0);
		ck_assert_msg(strcmp(b.data, cases[i].want) == 0,
			      "case %zu: got '%s'", i, b.data);
		buf_release(&b);
	}
}
END_TEST

START_TEST(table_misuse)
{
	struct table t;
	struct buf out;

	buf_init(&out, 1024);
	table_init(&t);
	table_cell(&t, "x"); /* no columns */
	ck_assert_int_eq(table_render(&t, &out), -EINVAL);
	table_release(&t);
	table_init(&t);
	table_col(&t, "A", TABLE_LEFT, 0);
	table_col(&t, "B", TABLE_LEFT, 0);
	table_cell(&t, "x"); /* half a row */
	ck_assert_int_eq(table_render(&t, &out), -EINVAL);
	table_release(&t);
	/* A huge cell is cut at TABLE_CELL_MAX columns. */
	char *big = malloc(100000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	table_init(&t);
	table_col(&t, "A", TABLE_LEFT, 0);
	table_cell(&t, big);
	ck_assert_int_eq(table_render(&t, &out), 0);
	ck_assert_uint_eq(out.len, 2 + TABLE_CELL_MAX - 1 + 3 + 1);
	table_release(&t);
	free(big);
	buf_release(&out);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("cli_render");
	TCase *tc = tcase_create("render");
	tcase_add_test(tc, fleet);
	tcase_add_test(tc, nodes);
	tcase_add_test(tc, node);
	tcase_add_test(tc, history);
	tcase_add_test(tc, services);
	tcase_add_test(tc, compliance);
	tcase_add_test(tc, alerts);
	tcase_add_test(tc, alert);
	tcase_add_test(tc, silences);
	tcase_add_test(tc, spans);
	tcase_add_test(tc, not_ours);
	tcase_add_test(tc, ages);
	tcase_add_test(tc, table_layout);
	tcase_add_test(tc, table_utf8);
	tcase_add_test(tc, table_caps);
	tcase_add_test(tc, table_hostile);
	tcase_add_test(tc, table_misuse);
	suite_add_tcase(s, tc);
	return s;
}
