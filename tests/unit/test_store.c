/* store against a real PostgreSQL: run by tests/integration/test_store.sh,
 * which starts a throwaway server and sets ACGS_PG_CONNINFO. Each run works
 * in a database of its own, created here and dropped at the end.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check_main.h"
#include "migrations.h"
#include "store.h"

/* Set once by the unchecked fixture, before Check forks each test. */
static char admin_conninfo[512];
static char test_conninfo[512];
static char test_db[64];

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS	(24 * HOUR_MS)

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static PGconn *pg_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s",
		      PQerrorMessage(c));
	return c;
}

static void pg_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
			  PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

static void create_db(const char *name)
{
	char sql[128];
	PGconn *c = pg_connect(admin_conninfo);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	pg_ok(c, sql);
	PQfinish(c);
}

static void drop_db(const char *name)
{
	char sql[128];
	PGconn *c = pg_connect(admin_conninfo);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 name);
	pg_ok(c, sql);
	PQfinish(c);
}

static void db_conninfo(char *out, size_t len, const char *db)
{
	/* In a conninfo string the last setting of a keyword wins. */
	int n = snprintf(out, len, "%s dbname=%s", admin_conninfo, db);
	ck_assert(n > 0 && (size_t)n < len);
}

static void setup_db(void)
{
	const char *ci = getenv("ACGS_PG_CONNINFO");
	ck_assert_msg(ci != NULL, "ACGS_PG_CONNINFO unset: run "
				  "tests/integration/test_store.sh");
	snprintf(admin_conninfo, sizeof(admin_conninfo), "%s", ci);
	snprintf(test_db, sizeof(test_db), "acgs_test_%d", (int)getpid());
	create_db(test_db);
	db_conninfo(test_conninfo, sizeof(test_conninfo), test_db);
}

static void teardown_db(void)
{
	drop_db(test_db);
}

/* One integer (or NULL as -1) from a query with an optional parameter. */
static int64_t q_int(const char *sql, const char *param)
{
	PGconn *c = pg_connect(test_conninfo);
	const char *p[] = { param };
	PGresult *r =
	    PQexecParams(c, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	ck_assert_int_eq(PQntuples(r), 1);
	int64_t v =
	    PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

static void q_exec(const char *sql)
{
	PGconn *c = pg_connect(test_conninfo);
	pg_ok(c, sql);
	PQfinish(c);
}

static struct store *open_migrated(void)
{
	struct store *s = NULL;
	char err[256] = "";
	ck_assert_msg(store_open(test_conninfo, &s, err, sizeof(err)) == 0,
		      "open: %s", err);
	int rc = store_migrate(s, NULL, err, sizeof(err));
	ck_assert_msg(rc == 0, "migrate: %d %s", rc, err);
	return s;
}

static const char payload_fmt[] =
    "{\"v\":1,\"node\":\"%s\",\"ts\":\"2026-11-24T17:30:01.123Z\","
    "\"constitutional_hash\":\"cdd01ef066bc6cf2\",\"seq\":%" PRIu64 ","
    "\"boot_id\":\"%s\",\"interval\":10,"
    "\"cpu\":{\"usage\":0.25,\"user\":0.2,\"system\":0.05,\"count\":4},"
    "\"mem\":{\"total_bytes\":8388608000,\"used_ratio\":0.5},"
    "\"load\":{\"load1\":0.5,\"load5\":0.4,\"load15\":0.3},"
    "\"uptime_s\":86400.5,"
    "\"probes\":[{\"name\":\"api\",\"type\":\"http\",\"target\":"
    "\"http://127.0.0.1:8080/health\",\"service\":\"api\",\"ok\":true,"
    "\"runs\":2,\"failures\":0,\"latency_ms\":12.5,\"p50_ms\":11.0,"
    "\"p99_ms\":12.5,\"slo_ms\":250,\"slo_ok\":true,\"status\":200},"
    "{\"name\":\"db\",\"type\":\"tcp\",\"target\":\"127.0.0.1:5432\","
    "\"service\":null,\"ok\":false,\"runs\":1,\"failures\":1,"
    "\"latency_ms\":3000,\"p50_ms\":null,\"p99_ms\":null,"
    "\"status\":\"odd\",\"error\":\"connection refused\\ttab\"}],"
    "\"agent\":{\"version\":\"0.1.0\",\"queue_depth\":0}}";

/* A batch of n samples of one node; payloads live in bufs (n * 2048). */
static void make_batch(struct store_sample *v, char *bufs, size_t n,
		       const char *node, const char *boot, uint64_t seq0,
		       int64_t ts0)
{
	for (size_t i = 0; i < n; i++) {
		char *p = bufs + i * 2048;
		int len = snprintf(p, 2048, payload_fmt, node, seq0 + i, boot);
		ck_assert(len > 0 && len < 2048);
		v[i] = (struct store_sample){
			.node_id = node,
			.boot_id = boot,
			.seq = seq0 + i,
			.ts_ms = ts0 + (int64_t)i * 1000,
			.received_ms = ts0 + (int64_t)i * 1000 + 5,
			.cpu_usage = 0.25,
			.mem_used_ratio = 0.5,
			.swap_used_ratio = 0,
			.load1 = 0.5,
			.load5 = 0.4,
			.load15 = 0.3,
			.disk_used_ratio_max = 0.7,
			.net_rx_bps = 1234.5,
			.net_tx_bps = 678.25,
			.psi_cpu_some = 0.01,
			.psi_memory_some = 0,
			.psi_io_some = 0.02,
			.procs_total = 321,
			.fds_open = 2048,
			.uptime_s = 86400.5,
			.compliance_ratio = 1,
			.score = 0.9,
			.payload = p,
			.payload_len = (size_t)len,
		};
	}
}

START_TEST(migrate_twice)
{
	char db[80], ci[600], err[256] = "";
	snprintf(db, sizeof(db), "%s_m", test_db);
	create_db(db);
	db_conninfo(ci, sizeof(ci), db);

	struct store *s = NULL;
	ck_assert_int_eq(store_open(ci, &s, err, sizeof(err)), 0);
	int applied = -1;
	ck_assert_msg(store_migrate(s, &applied, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(applied, (int)store_migrations_count);
	ck_assert_int_ge(applied, 3);
	ck_assert_int_eq(store_migrate(s, &applied, err, sizeof(err)), 0);
	ck_assert_int_eq(applied, 0);

	PGconn *c = pg_connect(ci);
	PGresult *r = PQexec(c, "SELECT version, name, applied_at IS NOT NULL"
				" FROM schema_migrations ORDER BY version");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), (int)store_migrations_count);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
	ck_assert_str_eq(PQgetvalue(r, 0, 1), "core");
	ck_assert_str_eq(PQgetvalue(r, 1, 1), "rollups");
	ck_assert_str_eq(PQgetvalue(r, 2, 1), "views");
	ck_assert_str_eq(PQgetvalue(r, 2, 2), "t");
	PQclear(r);
	PQfinish(c);
	store_free(s);
	drop_db(db);
}
END_TEST

/* Two servers starting together: the advisory lock lets exactly one apply
 * each migration. */
START_TEST(migrate_concurrent)
{
	char db[80], ci[600], err[256] = "";
	snprintf(db, sizeof(db), "%s_c", test_db);
	create_db(db);
	db_conninfo(ci, sizeof(ci), db);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	struct store *s = NULL;
	int applied = -1;
	if (store_open(ci, &s, err, sizeof(err)) < 0 ||
	    store_migrate(s, &applied, err, sizeof(err)) < 0)
		applied = 100;
	store_free(s);
	if (pid == 0)
		_exit(applied);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(applied + WEXITSTATUS(status),
			 (int)store_migrations_count);
	drop_db(db);
}
END_TEST

START_TEST(partitions_ahead)
{
	struct store *s = open_migrated();
	int made = store_ensure_partitions(s, 3);
	ck_assert_int_ge(made, 0);
	ck_assert_int_eq(store_ensure_partitions(s, 3), 0);
	/* yesterday .. today + 3 for each of the three tables */
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM generate_series(-1, 3) d,"
		  " unnest(ARRAY['samples','probe_results','scores']) t"
		  " WHERE to_regclass(t || '_p' || to_char((now() AT TIME ZONE"
		  " 'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL",
		  NULL),
	    15);
	ck_assert_int_eq(store_ensure_partitions(s, -1), -EINVAL);
	store_free(s);
}
END_TEST

/* A row far in the future lands in the default partition and moves to its
 * own partition when that is created. */
START_TEST(default_partition_moves)
{
	struct store *s = open_migrated();
	static char bufs[2048];
	struct store_sample v;
	int64_t ts = now_ms() + 20 * DAY_MS;
	make_batch(&v, bufs, 1, "future-1", "b", 0, ts);
	ck_assert_int_eq(store_write_samples(s, &v, 1), 1);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_default"
			       " WHERE node_id = 'future-1'",
			       NULL),
			 1);
	ck_assert_int_ge(store_ensure_partitions(s, 22), 1);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_default"
			       " WHERE node_id = 'future-1'",
			       NULL),
			 0);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'future-1'",
		  NULL),
	    1);
	ck_assert_int_eq(q_int("SELECT count(*) FROM probe_results"
			       " WHERE node_id = 'future-1'",
			       NULL),
			 2);
	store_free(s);
}
END_TEST

START_TEST(samples_10k_no_doubles)
{
	struct store *s = open_migrated();
	store_ensure_partitions(s, 2);
	enum { BATCH = 1000, BATCHES = 10 };
	struct store_sample *v = calloc(BATCH, sizeof(*v));
	char *bufs = malloc((size_t)BATCH * 2048);
	ck_assert(v && bufs);
	int64_t ts0 = now_ms() - 2 * HOUR_MS;

	double t0 = mono_s(), busy = 0;
	int total = 0;
	for (int b = 0; b < BATCHES; b++) {
		make_batch(v, bufs, BATCH, "bulk-1", "boot-a",
			   (uint64_t)b * BATCH,
			   ts0 + (int64_t)b * BATCH * 1000);
		double t = mono_s();
		int rc = store_write_samples(s, v, BATCH);
		busy += mono_s() - t;
		ck_assert_msg(rc == BATCH, "batch %d: %d %s", b, rc,
			      store_last_error(s));
		total += rc;
	}
	(void)t0;
	ck_assert_int_eq(total, BATCH * BATCHES);
	printf("store: COPY batches of %d samples (~%d-byte payloads, 2 "
	       "probes each): %.0f rows/s\n",
	       BATCH, (int)v[0].payload_len, BATCH * BATCHES / busy);
	fflush(stdout);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'bulk-1'",
		  NULL),
	    BATCH * BATCHES);
	ck_assert_int_eq(q_int("SELECT count(*) FROM probe_results"
			       " WHERE node_id = 'bulk-1'",
			       NULL),
			 2 * BATCH * BATCHES);

	/* The last batch again, as a replay after a lost acknowledgement. */
	ck_assert_int_eq(store_write_samples(s, v, BATCH), 0);
	/* And one batch mixing 10 replayed samples with 5 new ones. */
	make_batch(v, bufs, 15, "bulk-1", "boot-a", BATCH * BATCHES - 10,
		   ts0 + (int64_t)(BATCH * BATCHES - 10) * 1000);
	ck_assert_int_eq(store_write_samples(s, v, 15), 5);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'bulk-1'",
		  NULL),
	    BATCH * BATCHES + 5);
	ck_assert_int_eq(q_int("SELECT count(*) FROM probe_results"
			       " WHERE node_id = 'bulk-1'",
			       NULL),
			 2 * (BATCH * BATCHES + 5));
	/* Rows went to daily partitions, not the default one. */
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_default"
			       " WHERE node_id = 'bulk-1'",
			       NULL),
			 0);
	free(v);
	free(bufs);
	store_free(s);
}
END_TEST

START_TEST(nan_is_null_and_probes)
{
	struct store *s = open_migrated();
	static char bufs[2048];
	struct store_sample v;
	int64_t ts = now_ms() - 1000;
	make_batch(&v, bufs, 1, "nan-1", "b1", 7, ts);
	v.cpu_usage = NAN;
	v.load15 = INFINITY;
	v.procs_total = NAN;
	v.score = NAN;
	v.received_ms = 0;
	ck_assert_int_eq(store_write_samples(s, &v, 1), 1);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'nan-1'"
		  " AND cpu_usage IS NULL AND load15 IS NULL"
		  " AND procs_total IS NULL AND score IS NULL"
		  " AND mem_used_ratio = 0.5 AND fds_open = 2048"
		  " AND net_tx_bps = 678.25 AND seq = 7"
		  " AND received_at > now() - interval '1 minute'"
		  " AND payload->>'constitutional_hash' = 'cdd01ef066bc6cf2'",
		  NULL),
	    1);
	ck_assert_int_eq(
	    q_int("SELECT acgs_ts_ms(ts) FROM samples WHERE node_id = 'nan-1'",
		  NULL),
	    ts);

	/* Probe rows: typed where the JSON type is right, NULL otherwise. */
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM probe_results WHERE node_id = 'nan-1'"
		  " AND name = 'api' AND type = 'http' AND service = 'api'"
		  " AND ok AND runs = 2 AND failures = 0 AND latency_ms = 12.5"
		  " AND p50_ms = 11 AND p99_ms = 12.5 AND slo_ms = 250"
		  " AND status = 200 AND error IS NULL",
		  NULL),
	    1);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM probe_results WHERE node_id = 'nan-1'"
		  " AND name = 'db' AND type = 'tcp' AND service IS NULL"
		  " AND NOT ok AND runs = 1 AND failures = 1"
		  " AND p50_ms IS NULL AND status IS NULL"
		  " AND error = E'connection refused\\ttab'",
		  NULL),
	    1);

	/* A sample without payload or probes. */
	make_batch(&v, bufs, 1, "nan-1", "b1", 8, ts + 1000);
	v.payload = NULL;
	v.payload_len = 0;
	ck_assert_int_eq(store_write_samples(s, &v, 1), 1);
	const char odd[] = "{\"probes\":[1,{\"type\":\"http\"},{\"name\":\"x\","
			   "\"runs\":1e400,\"status\":70000}]}";
	make_batch(&v, bufs, 1, "nan-1", "b1", 9, ts + 2000);
	v.payload = odd;
	v.payload_len = strlen(odd);
	ck_assert_int_eq(store_write_samples(s, &v, 1), 1);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM probe_results WHERE node_id = 'nan-1'"
		  " AND name = 'x' AND runs IS NULL AND status IS NULL",
		  NULL),
	    1);
	store_free(s);
}
END_TEST

/* Nothing of a failing batch is stored, and the connection stays usable. */
START_TEST(bad_batch_all_or_nothing)
{
	struct store *s = open_migrated();
	enum { N = 100 };
	static struct store_sample v[N];
	static char bufs[N * 2048];
	int64_t ts = now_ms() - 60000;

	make_batch(v, bufs, N, "bad-1", "b", 0, ts);
	v[50].node_id = NULL;
	ck_assert_int_eq(store_write_samples(s, v, N), -EINVAL);

	make_batch(v, bufs, N, "bad-1", "b", 0, ts);
	v[70].payload = "{\"broken\":";
	v[70].payload_len = strlen(v[70].payload);
	ck_assert_int_eq(store_write_samples(s, v, N), -EINVAL);

	make_batch(v, bufs, N, "bad-1", "b", 0, ts);
	v[3].seq = UINT64_MAX;
	ck_assert_int_eq(store_write_samples(s, v, N), -EINVAL);

	make_batch(v, bufs, N, "bad-1", "b", 0, ts);
	char nul[] = "{\"a\":1}\0x";
	v[4].payload = nul;
	v[4].payload_len = sizeof(nul) - 1;
	ck_assert_int_eq(store_write_samples(s, v, N), -EINVAL);

	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'bad-1'", NULL),
	    0);
	ck_assert_int_eq(q_int("SELECT count(*) FROM probe_results"
			       " WHERE node_id = 'bad-1'",
			       NULL),
			 0);
	make_batch(v, bufs, N, "bad-1", "b", 0, ts);
	ck_assert_int_eq(store_write_samples(s, v, N), N);
	ck_assert_int_eq(store_write_samples(s, v, 0), 0);
	store_free(s);
}
END_TEST

START_TEST(rejects)
{
	struct store *s = open_migrated();
	unsigned char payload[1000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i % 3 == 0 ? 'a' : i);
	ck_assert_int_eq(
	    store_write_reject(s, now_ms(), "acgs/v1/rej-1/metrics", "rej-1",
			       "bad_hash", "constitutional_hash mismatch",
			       payload, sizeof(payload)),
	    0);
	ck_assert_int_eq(store_write_reject(s, 0, "acgs/v1/\xff/metrics", NULL,
					    "bad_topic", NULL, NULL, 0),
			 0);
	ck_assert_int_eq(
	    store_write_reject(s, 0, NULL, NULL, "x", NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM rejected_messages WHERE node_id ="
		  " 'rej-1' AND reason = 'bad_hash' AND payload_len = 1000"
		  " AND starts_with(payload_prefix, 'a\\x01\\x02a')"
		  " AND payload_prefix !~ '[^ -~]'"
		  " AND received_at > now() - interval '1 minute'",
		  NULL),
	    1);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM rejected_messages WHERE topic ="
		  " 'acgs/v1/\\xff/metrics' AND node_id IS NULL"
		  " AND payload_prefix IS NULL AND payload_len = 0",
		  NULL),
	    1);
	store_free(s);
}
END_TEST

START_TEST(tokens)
{
	struct store *s = open_migrated();
	uint8_t h1[32], h2[32];
	for (int i = 0; i < 32; i++) {
		h1[i] = (uint8_t)i;
		h2[i] = (uint8_t)(255 - i);
	}
	h1[5] = 0; /* a NUL inside must not cut the hash */
	int64_t id = 0, got = 0;
	char role[16];
	ck_assert_int_eq(store_token_insert(s, "ci", "operator", h1, &id), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(store_token_insert(s, "ci2", "admin", h1, NULL),
			 -EEXIST);
	ck_assert_int_eq(store_token_insert(s, "x", "root", h2, NULL), -EINVAL);
	ck_assert_int_eq(
	    store_token_lookup(s, h1, role, sizeof(role), &got, NULL, 0), 0);
	ck_assert_str_eq(role, "operator");
	ck_assert_int_eq(got, id);
	ck_assert_int_eq(q_int("SELECT count(*) FROM api_tokens WHERE name ="
			       " 'ci' AND last_used_at IS NOT NULL",
			       NULL),
			 1);
	ck_assert_int_eq(
	    store_token_lookup(s, h2, role, sizeof(role), NULL, NULL, 0),
	    -ENOENT);
	ck_assert_int_eq(store_token_lookup(s, h1, role, 4, NULL, NULL, 0),
			 -ENOBUFS);
	ck_assert_int_eq(store_token_revoke(s, id), 0);
	ck_assert_int_eq(store_token_revoke(s, id), -ENOENT);
	ck_assert_int_eq(
	    store_token_lookup(s, h1, role, sizeof(role), NULL, NULL, 0),
	    -EKEYREVOKED);
	store_free(s);
}
END_TEST

struct points {
	int n;
	int64_t ts[16];
	double v[16];
};

static int collect(void *ctx, int64_t ts_ms, double value)
{
	struct points *p = ctx;
	if (p->n >= 16)
		return -E2BIG;
	p->ts[p->n] = ts_ms;
	p->v[p->n++] = value;
	return 0;
}

static int stop_at_first(void *ctx, int64_t ts_ms, double value)
{
	return 42;
}

START_TEST(history_raw_and_rollups)
{
	struct store *s = open_migrated();
	store_ensure_partitions(s, 1);
	/* Hour-aligned, three hours ago: hour 0 has cpu 0.25, 0.5, 0.75, 1
	 * at minutes 0, 15, 30, 45; hour 1 has 0.5 and 1 at minutes 0, 30.
	 * Binary fractions, so every average is exact. */
	int64_t base = (now_ms() / HOUR_MS - 3) * HOUR_MS;
	static char bufs[6 * 2048];
	struct store_sample v[6];
	make_batch(v, bufs, 6, "hist-1", "b", 0, base);
	const int minute[] = { 0, 15, 30, 45, 60, 90 };
	const double cpu[] = { 0.25, 0.5, 0.75, 1, 0.5, 1 };
	for (int i = 0; i < 6; i++) {
		v[i].ts_ms = base + minute[i] * 60000LL;
		v[i].cpu_usage = cpu[i];
	}
	ck_assert_int_eq(store_write_samples(s, v, 6), 6);

	struct points p = { 0 };
	ck_assert_int_eq(store_history(s, "hist-1", "cpu_usage", base,
				       base + 2 * HOUR_MS, 0, collect, &p),
			 6);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(p.ts[i], v[i].ts_ms);
		ck_assert_double_eq(p.v[i], cpu[i]);
	}

	/* 6 one-minute rows and 2 one-hour rows, the same when run again. */
	ck_assert_int_ge(store_rollup(s, base, base + 2 * HOUR_MS), 8);
	ck_assert_int_ge(store_rollup(s, base + 1, base + 2 * HOUR_MS - 1), 8);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_1m WHERE"
			       " node_id = 'hist-1'",
			       NULL),
			 6);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_1h WHERE"
			       " node_id = 'hist-1' AND n IN (2, 4)",
			       NULL),
			 2);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_history(s, "hist-1", "cpu_usage", base,
				       base + 2 * HOUR_MS, HOUR_MS, collect,
				       &p),
			 2);
	ck_assert_int_eq(p.ts[0], base);
	ck_assert_double_eq(p.v[0], 0.625);
	ck_assert_int_eq(p.ts[1], base + HOUR_MS);
	ck_assert_double_eq(p.v[1], 0.75);

	/* 30 min steps from the 1-minute rollup. */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_history(s, "hist-1", "cpu_usage", base,
				       base + 2 * HOUR_MS, 30 * 60000LL,
				       collect, &p),
			 4);
	ck_assert_double_eq(p.v[0], 0.375);
	ck_assert_double_eq(p.v[1], 0.875);
	ck_assert_double_eq(p.v[2], 0.5);
	ck_assert_double_eq(p.v[3], 1);

	/* 30 s steps from raw samples: one sample per bucket here. */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_history(s, "hist-1", "cpu_usage", base,
				       base + 2 * HOUR_MS, 30000, collect, &p),
			 6);

	/* Rollup of a metric never set: mem_used_ratio 0.5 throughout. */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_history(s, "hist-1", "mem_used_ratio", base,
				       base + HOUR_MS, 24 * HOUR_MS, collect,
				       &p),
			 1);
	ck_assert_double_eq(p.v[0], 0.5);

	ck_assert_int_eq(store_history(s, "hist-1", "cpu_usage", base,
				       base + 2 * HOUR_MS, 0, stop_at_first,
				       NULL),
			 42);
	/* The connection is usable after a stopped walk. */
	ck_assert_int_eq(store_history(s, "nobody", "cpu_usage", base,
				       base + 2 * HOUR_MS, 0, collect, &p),
			 0);
	store_free(s);
}
END_TEST

START_TEST(history_allowlist)
{
	struct store *s = open_migrated();
	const char *bad[] = { "payload",   "cpu_usage; DROP TABLE samples",
			      "CPU_USAGE", "",
			      "node_id",   NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert(!store_history_metric_valid(bad[i]));
		ck_assert_int_eq(
		    store_history(s, "n", bad[i], 0, 1000, 0, collect, NULL),
		    -EINVAL);
	}
	ck_assert(store_history_metric_valid("psi_io_some"));
	ck_assert_int_eq(
	    store_history(s, "n", "cpu_usage", 1000, 0, 0, collect, NULL),
	    -EINVAL);
	ck_assert_int_eq(q_int("SELECT count(*) FROM pg_tables WHERE"
			       " tablename = 'samples'",
			       NULL),
			 1);
	store_free(s);
}
END_TEST

START_TEST(retention)
{
	struct store *s = open_migrated();
	q_exec("SELECT acgs_create_partition('samples', (now() AT TIME ZONE"
	       " 'UTC')::date - 40)");
	q_exec("SELECT acgs_create_partition('probe_results', (now() AT TIME"
	       " ZONE 'UTC')::date - 40)");
	static char bufs[3 * 2048];
	struct store_sample v[3];
	int64_t old = now_ms() - 40 * DAY_MS;
	make_batch(v, bufs, 1, "old-1", "b", 0, old);
	/* 60 days ago: no partition, so in the default one. */
	make_batch(v + 1, bufs + 2048, 1, "old-1", "b", 1, old - 20 * DAY_MS);
	make_batch(v + 2, bufs + 4096, 1, "old-1", "b", 2, now_ms() - 1000);
	ck_assert_int_eq(store_write_samples(s, v, 3), 3);
	ck_assert_int_ge(store_rollup(s, old - 21 * DAY_MS, now_ms()), 6);
	ck_assert_int_eq(
	    store_write_reject(s, old, "t", NULL, "r", NULL, NULL, 0), 0);

	ck_assert_int_eq(store_apply_retention(s, 0, 1, 1), -EINVAL);
	ck_assert_int_ge(store_apply_retention(s, 30, 45, 365), 2);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM pg_class WHERE relname = 'samples_p'"
		  " || to_char((now() AT TIME ZONE 'UTC')::date - 40,"
		  " 'YYYYMMDD')",
		  NULL),
	    0);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'old-1'", NULL),
	    1);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_1m WHERE node_id"
			       " = 'old-1'",
			       NULL),
			 2);
	ck_assert_int_eq(q_int("SELECT count(*) FROM samples_1h WHERE node_id"
			       " = 'old-1'",
			       NULL),
			 3);
	ck_assert_int_eq(q_int("SELECT count(*) FROM rejected_messages WHERE"
			       " received_at < now() - interval '30 days'",
			       NULL),
			 0);
	/* Today's partitions stay. */
	ck_assert_int_ge(
	    q_int("SELECT count(*) FROM pg_class WHERE relname = 'samples_p'"
		  " || to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD')",
		  NULL),
	    0);
	store_free(s);
}
END_TEST

START_TEST(nodes_and_views)
{
	struct store *s = open_migrated();
	int64_t t = now_ms();
	struct store_node n = {
		.node_id = "view-1",
		.seen_ms = t,
		.boot_id = "boot-1",
		.version = "0.1.0",
		.config_hash = "abc",
		.labels_json = "{\"role\":\"web\"}",
		.state = "online",
		.conn = 5,
		.score = NAN,
	};
	ck_assert_int_eq(store_upsert_node(s, &n), 1);
	/* A late will from connection 4 is stale. */
	struct store_node late = { .node_id = "view-1",
				   .seen_ms = t + 1,
				   .state = "offline",
				   .conn = 4,
				   .score = NAN };
	ck_assert_int_eq(store_upsert_node(s, &late), 0);
	ck_assert_int_eq(q_int("SELECT count(*) FROM nodes WHERE node_id ="
			       " 'view-1' AND state = 'online' AND conn = 5"
			       " AND labels->>'role' = 'web'"
			       " AND version = '0.1.0'",
			       NULL),
			 1);
	struct store_node sc = { .node_id = "view-1",
				 .seen_ms = t + 2,
				 .conn = -1,
				 .score = 0.75,
				 .components_json = "{\"liveness\":1}" };
	ck_assert_int_eq(store_upsert_node(s, &sc), 0);
	struct store_node bye = { .node_id = "view-1",
				  .seen_ms = t + 3,
				  .state = "offline",
				  .conn = 5,
				  .score = NAN };
	ck_assert_int_eq(store_upsert_node(s, &bye), 0);
	ck_assert_int_eq(q_int("SELECT count(*) FROM nodes WHERE node_id ="
			       " 'view-1' AND state = 'offline' AND score ="
			       " 0.75 AND boot_id = 'boot-1'"
			       " AND acgs_ts_ms(last_seen) = acgs_ts_ms("
			       "state_changed_at)",
			       NULL),
			 1);
	struct store_node badstate = {
		.node_id = "view-1", .state = "sleepy", .conn = -1, .score = NAN
	};
	ck_assert_int_eq(store_upsert_node(s, &badstate), -EINVAL);
	struct store_node badjson = { .node_id = "view-1",
				      .labels_json = "{",
				      .conn = -1,
				      .score = NAN };
	ck_assert_int_eq(store_upsert_node(s, &badjson), -EINVAL);

	static char bufs[2048];
	struct store_sample v;
	make_batch(&v, bufs, 1, "view-1", "boot-1", 1, t - 500);
	ck_assert_int_eq(store_write_samples(s, &v, 1), 1);
	ck_assert_int_eq(q_int("SELECT count(*) FROM v_node_latest WHERE"
			       " node_id = 'view-1' AND seq = 1"
			       " AND cpu_usage = 0.25",
			       NULL),
			 1);

	struct store_score sv[] = {
		{ t, "fleet", "default", 0.5, NULL },
		{ t, "fleet", "default", 0.8, "{\"services\":2}" },
		{ t, "node", "view-1", 0.75, "{\"liveness\":1}" },
		{ t, "service", "api", NAN, NULL },
	};
	ck_assert_int_eq(store_write_scores(s, sv, 4), 3);
	ck_assert_int_eq(store_write_scores(s, sv, 4), 3);
	ck_assert_int_eq(q_int("SELECT count(*) FROM scores", NULL), 3);
	ck_assert_int_eq(q_int("SELECT (fleet_score * 100)::int FROM"
			       " v_fleet_now WHERE nodes_total >= 1"
			       " AND nodes_offline >= 1",
			       NULL),
			 80);
	struct store_score bad = { t, "galaxy", "x", 0.5, NULL };
	ck_assert_int_eq(store_write_scores(s, &bad, 1), -EINVAL);
	store_free(s);
}
END_TEST

START_TEST(connection_lost)
{
	struct store *s = open_migrated();
	static char bufs[2 * 2048];
	struct store_sample v[2];
	make_batch(v, bufs, 2, "conn-1", "b", 0, now_ms() - 5000);
	ck_assert_int_eq(store_write_samples(s, v, 1), 1);

	PGconn *c = pg_connect(test_conninfo);
	pg_ok(c,
	      "SELECT pg_terminate_backend(pid, 5000) FROM"
	      " pg_stat_activity WHERE application_name = 'acgs-server'"
	      " AND datname = current_database() AND pid <> pg_backend_pid()");
	PQfinish(c);

	int rc = store_write_samples(s, v + 1, 1);
	ck_assert_msg(rc == -ECONNRESET || rc == -ENOTCONN, "rc %d", rc);
	ck_assert(!store_connected(s));
	ck_assert_int_eq(store_write_samples(s, v + 1, 1), -ENOTCONN);
	ck_assert_int_eq(
	    store_history(s, "conn-1", "cpu_usage", 0, 1, 0, collect, NULL),
	    -ENOTCONN);
	ck_assert_int_eq(store_reconnect(s), 0);
	ck_assert(store_connected(s));
	ck_assert_int_eq(store_write_samples(s, v, 2), 1);
	ck_assert_int_eq(
	    q_int("SELECT count(*) FROM samples WHERE node_id = 'conn-1'",
		  NULL),
	    2);
	store_free(s);

	/* Nothing listens there: refused, and err says why. */
	struct store *none = NULL;
	char err[256] = "";
	ck_assert_int_eq(store_open("host=127.0.0.1 port=1 connect_timeout=2",
				    &none, err, sizeof(err)),
			 -ECONNREFUSED);
	ck_assert_ptr_null(none);
	ck_assert(err[0] != '\0');
	ck_assert_ptr_null(store_free(NULL));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("postgresql");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
	tcase_add_test(tc, migrate_twice);
	tcase_add_test(tc, migrate_concurrent);
	tcase_add_test(tc, partitions_ahead);
	tcase_add_test(tc, default_partition_moves);
	tcase_add_test(tc, samples_10k_no_doubles);
	tcase_add_test(tc, nan_is_null_and_probes);
	tcase_add_test(tc, bad_batch_all_or_nothing);
	tcase_add_test(tc, rejects);
	tcase_add_test(tc, tokens);
	tcase_add_test(tc, history_raw_and_rollups);
	tcase_add_test(tc, history_allowlist);
	tcase_add_test(tc, retention);
	tcase_add_test(tc, nodes_and_views);
	tcase_add_test(tc, connection_lost);
	suite_add_tcase(s, tc);
	return s;
}
