/* outbox against a real PostgreSQL and a real HTTP server on loopback
 * (libmicrohttpd, in this process): run by tests/integration/test_outbox.sh,
 * which starts a throwaway PostgreSQL and sets ACGS_PG_CONNINFO.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#include "check_main.h"
#include "outbox.h"
#include "receiver.h"
#include "store.h"

#define KEY32 "0123456789abcdef0123456789abcdef"

static char admin_conninfo[512];
static char test_conninfo[640];
static char test_db[64];

/* ---- database ---- */

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

static void setup_db(void)
{
	const char *ci = getenv("ACGS_PG_CONNINFO");
	ck_assert_msg(ci != NULL, "ACGS_PG_CONNINFO unset: run "
				  "tests/integration/test_outbox.sh");
	snprintf(admin_conninfo, sizeof(admin_conninfo), "%s", ci);
	snprintf(test_db, sizeof(test_db), "acgs_outbox_%d", (int)getpid());
	PGconn *c = pg_connect(admin_conninfo);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", test_db);
	pg_ok(c, sql);
	PQfinish(c);
	snprintf(test_conninfo, sizeof(test_conninfo), "%s dbname=%s",
		 admin_conninfo, test_db);
	struct store *s = NULL;
	char err[256] = "";
	ck_assert_msg(store_open(test_conninfo, &s, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(store_migrate(s, NULL, err, sizeof(err)) == 0, "%s", err);
	store_free(s);
}

static void teardown_db(void)
{
	PGconn *c = pg_connect(admin_conninfo);
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 test_db);
	pg_ok(c, sql);
	PQfinish(c);
}

static void q_exec(const char *sql)
{
	PGconn *c = pg_connect(test_conninfo);
	pg_ok(c, sql);
	PQfinish(c);
}

/* The first column of the first row as text ("" for NULL), copied. */
static char *q_str(const char *sql)
{
	PGconn *c = pg_connect(test_conninfo);
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	ck_assert_int_eq(PQntuples(r), 1);
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

static long q_long(const char *sql)
{
	char *v = q_str(sql);
	long n = strtol(v, NULL, 10);
	free(v);
	return n;
}

/* ---- a receiver on loopback ---- */

#define MAX_SEEN 1024

/* What the server saw, in arrival order. Answers: dedup_key "bad*" 400;
 * "down*" 503; "flaky*" 503 for the first two such requests; anything
 * else 202. */
struct seen {
	pthread_mutex_t lock;
	char key[MAX_SEEN][64];
	char event[MAX_SEEN][16];
	bool had_routing_key[MAX_SEEN];
	size_t n;
	unsigned flaky_left;
};

static struct seen seen = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct MHD_Daemon *httpd;
static unsigned http_port;

struct upload {
	struct buf body;
};

static enum MHD_Result on_http(void *cls, struct MHD_Connection *con,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	struct upload *u = *con_cls;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		buf_init(&u->body, 1 << 20);
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		buf_append(&u->body, data, *size);
		*size = 0;
		return MHD_YES;
	}
	cJSON *doc = cJSON_ParseWithLength(u->body.data, u->body.len);
	const cJSON *dk = cJSON_GetObjectItemCaseSensitive(doc, "dedup_key");
	const cJSON *ea = cJSON_GetObjectItemCaseSensitive(doc, "event_action");
	const cJSON *rk = cJSON_GetObjectItemCaseSensitive(doc, "routing_key");
	const char *key = cJSON_IsString(dk) ? dk->valuestring : "?";
	unsigned status = 202;
	const char *reply = "{\"status\":\"success\",\"message\":\"Event "
			    "processed\"}";

	pthread_mutex_lock(&seen.lock);
	if (seen.n < MAX_SEEN) {
		snprintf(seen.key[seen.n], sizeof(seen.key[0]), "%s", key);
		snprintf(seen.event[seen.n], sizeof(seen.event[0]), "%s",
			 cJSON_IsString(ea) ? ea->valuestring : "?");
		seen.had_routing_key[seen.n] =
		    cJSON_IsString(rk) && !strcmp(rk->valuestring, KEY32);
		seen.n++;
	}
	if (!strncmp(key, "bad", 3)) {
		status = 400;
		reply = "{\"status\":\"invalid event\",\"message\":\"Event "
			"object is invalid\",\"errors\":[\"'payload.severity' "
			"is invalid\"]}";
	} else if (!strncmp(key, "down", 4) ||
		   (!strncmp(key, "flaky", 5) && seen.flaky_left > 0)) {
		if (!strncmp(key, "flaky", 5))
			seen.flaky_left--;
		status = 503;
		reply = "upstream unavailable";
	}
	pthread_mutex_unlock(&seen.lock);
	cJSON_Delete(doc);
	/* Widen the window in which two senders could collide. */
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(reply), (void *)reply, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void on_http_done(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;
	(void)cls;
	(void)con;
	(void)toe;
	if (u) {
		buf_release(&u->body);
		free(u);
		*con_cls = NULL;
	}
}

static void start_http(void)
{
	seen.n = 0;
	seen.flaky_left = 2;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	httpd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	    NULL, NULL, on_http, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_NOTIFY_COMPLETED, on_http_done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(httpd);
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	http_port = info->port;
	q_exec("TRUNCATE notifications");
}

static void stop_http(void)
{
	MHD_stop_daemon(httpd);
	httpd = NULL;
}

static size_t seen_count(const char *key, const char *event)
{
	size_t k = 0;
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < seen.n; i++)
		k += !strcmp(seen.key[i], key) &&
		     (!event || !strcmp(seen.event[i], event));
	pthread_mutex_unlock(&seen.lock);
	return k;
}

/* ---- outboxes ---- */

/* One PagerDuty receiver "pd" to our server (or to port when not 0). */
static void make_set(struct receiver_set *set, unsigned port)
{
	char url[128];
	memset(set, 0, sizeof(*set));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v2/enqueue",
		 port ? port : http_port);
	struct receiver *r = &set->v[set->n++];
	r->kind = RECEIVER_PAGERDUTY;
	snprintf(r->name, sizeof(r->name), "pd");
	r->url = strdup(url);
	r->timeout = 5;
	snprintf(r->routing_key, sizeof(r->routing_key), KEY32);
}

static struct outbox *new_outbox(const struct receiver_set *set,
				 unsigned fail_max)
{
	struct outbox_options o = {
		.conninfo = test_conninfo,
		.receivers = set,
		.replica = "test",
		.backoff_initial = 0.01,
		.backoff_cap = 0.05,
		.poll_interval = 0.05,
		.breaker_fail_max = fail_max ? fail_max : 1000,
		.breaker_reset_timeout = 3600,
	};
	struct outbox *ob = NULL;
	ck_assert_int_eq(outbox_new(&o, &ob), 0);
	return ob;
}

static int64_t enqueue(struct outbox *o, const char *key, bool resolved)
{
	struct receiver_alert a = {
		.rule = "node-down",
		.severity = "critical",
		.resolved = resolved,
		.dedup_key = key,
		.scope = "node",
		.key = "web-1",
		.value = 0,
		.threshold = 1,
	};
	int64_t id = 0;
	int rc = outbox_enqueue_alert(o, "pd", &a, 1795541401123LL, NULL, &id);
	ck_assert_msg(rc == 1, "enqueue %s: %d", key, rc);
	ck_assert_int_gt(id, 0);
	return id;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Deliver until nothing is pending (bounded: a stuck outbox fails). */
static void drain(struct outbox *o)
{
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(outbox_deliver_due(o, 100, NULL), 0);
		if (q_long("SELECT count(*) FROM notifications WHERE status = "
			   "'pending'") == 0)
			return;
		sleep_ms(10);
	}
	ck_abort_msg("rows still pending");
}

/* ---- tests ---- */

START_TEST(backoff_schedule)
{
	static const struct {
		unsigned attempt;
		double initial, cap;
		uint32_t rnd;
		double want;
	} cases[] = {
		{ 0, 1, 300, UINT32_MAX, 1 },
		{ 1, 1, 300, UINT32_MAX, 1 },
		{ 2, 1, 300, UINT32_MAX, 2 },
		{ 3, 1, 300, UINT32_MAX, 4 },
		{ 9, 1, 300, UINT32_MAX, 256 },
		{ 10, 1, 300, UINT32_MAX, 300 },
		{ 64, 1, 300, UINT32_MAX, 300 },
		{ 1000, 1, 300, UINT32_MAX, 300 },
		{ 5, 1, 300, 0, 0 },
		{ 3, 1, 300, UINT32_MAX / 2, 2 },
		{ 4, 0.5, 10, UINT32_MAX, 4 },
		{ 6, 0.5, 10, UINT32_MAX, 10 },
		{ 2, 0, 0, UINT32_MAX, 2 }, /* 0: the defaults */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = outbox_backoff(cases[i].attempt, cases[i].initial,
					    cases[i].cap, cases[i].rnd);
		ck_assert_msg(fabs(got - cases[i].want) < 1e-6,
			      "case %zu: %g, want %g", i, got, cases[i].want);
	}
	/* Full jitter: always within [0, ceiling]. */
	for (uint32_t r = 1; r < UINT32_MAX / 7; r += UINT32_MAX / 97) {
		double d = outbox_backoff(4, 1, 300, r);
		ck_assert(d >= 0 && d <= 8);
	}
}
END_TEST

START_TEST(enqueue_survives_reopen)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *a = new_outbox(&set, 0);
	enqueue(a, "k-1", false);
	enqueue(a, "k-2", false);
	enqueue(a, "k-1", true);
	outbox_free(a); /* "crash" before any delivery */
	ck_assert_uint_eq(seen.n, 0);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"status = 'pending'"),
			 3);
	/* The secret never reaches the database. */
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"body::text LIKE '%" KEY32 "%'"),
			 0);

	struct outbox *b = new_outbox(&set, 0);
	drain(b);
	ck_assert_uint_eq(seen_count("k-1", "trigger"), 1);
	ck_assert_uint_eq(seen_count("k-1", "resolve"), 1);
	ck_assert_uint_eq(seen_count("k-2", "trigger"), 1);
	ck_assert_uint_eq(seen.n, 3);
	for (size_t i = 0; i < seen.n; i++)
		ck_assert(seen.had_routing_key[i]);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"status = 'sent' AND attempts = 1 AND "
				"last_status = 202 AND sent_by = 'test'"),
			 3);
	struct outbox_stats st;
	outbox_get_stats(b, &st);
	ck_assert_uint_eq(st.r[0].sent, 3);
	outbox_free(b);
	receiver_set_release(&set);
}
END_TEST

START_TEST(two_senders_never_double)
{
	enum { NKEYS = 150 };
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *e = new_outbox(&set, 0);
	char key[32];
	/* Each key a trigger; every third also a resolve. */
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "n-%d", i);
		enqueue(e, key, false);
		if (i % 3 == 0)
			enqueue(e, key, true);
	}
	outbox_free(e);

	struct outbox *a = new_outbox(&set, 0), *b = new_outbox(&set, 0);
	ck_assert_int_eq(outbox_start(a), 0);
	ck_assert_int_eq(outbox_start(b), 0);
	for (int i = 0; i < 3000; i++) {
		if (q_long("SELECT count(*) FROM notifications WHERE status = "
			   "'pending'") == 0)
			break;
		sleep_ms(20);
	}
	struct outbox_stats sa, sb;
	outbox_get_stats(a, &sa);
	outbox_get_stats(b, &sb);
	outbox_free(a);
	outbox_free(b);

	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"status <> 'sent'"),
			 0);
	size_t want = NKEYS + (NKEYS + 2) / 3;
	ck_assert_uint_eq(seen.n, want);
	ck_assert_uint_eq(sa.r[0].sent + sb.r[0].sent, want);
	/* How the two split the work (for the log; either may win). */
	fprintf(stderr, "two senders: %" PRIu64 " + %" PRIu64 " rows\n",
		sa.r[0].sent, sb.r[0].sent);
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "n-%d", i);
		ck_assert_uint_eq(seen_count(key, "trigger"), 1);
		ck_assert_uint_eq(seen_count(key, "resolve"), i % 3 == 0);
		/* a resolve never overtakes its trigger */
		size_t t = SIZE_MAX, r = SIZE_MAX;
		for (size_t j = 0; j < seen.n; j++) {
			if (strcmp(seen.key[j], key))
				continue;
			if (!strcmp(seen.event[j], "trigger"))
				t = j;
			else
				r = j;
		}
		ck_assert(i % 3 != 0 || t < r);
	}
	receiver_set_release(&set);
}
END_TEST

START_TEST(rejected_4xx_not_retried)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *o = new_outbox(&set, 2);
	enqueue(o, "bad-1", false);
	unsigned n = 0;
	ck_assert_int_eq(outbox_deliver_due(o, 10, &n), 0);
	ck_assert_uint_eq(n, 1);
	char *row = q_str("SELECT status || '|' || attempts || '|' || "
			  "last_status FROM notifications");
	ck_assert_str_eq(row, "failed|1|400");
	free(row);
	row = q_str("SELECT last_response FROM notifications");
	ck_assert_ptr_nonnull(strstr(row, "\"invalid event\""));
	free(row);
	row = q_str("SELECT last_error FROM notifications");
	ck_assert_ptr_nonnull(strstr(row, "HTTP 400: invalid event"));
	ck_assert_ptr_nonnull(strstr(row, "'payload.severity' is invalid"));
	free(row);
	/* Not retried, and a refusal is not the receiver's failure. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(outbox_deliver_due(o, 10, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	enqueue(o, "bad-2", false);
	enqueue(o, "bad-3", false);
	ck_assert_int_eq(outbox_deliver_due(o, 10, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(seen.n, 3);
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert_uint_eq(st.r[0].failed, 3);
	ck_assert_uint_eq(st.r[0].retried, 0);
	ck_assert_int_eq(st.r[0].breaker, BREAKER_CLOSED);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(retry_5xx_then_sent)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *o = new_outbox(&set, 0);
	enqueue(o, "flaky-1", false);
	drain(o);
	ck_assert_uint_eq(seen_count("flaky-1", "trigger"), 3);
	char *row = q_str("SELECT status || '|' || attempts || '|' || "
			  "last_status || '|' || (last_error IS NULL) FROM "
			  "notifications");
	ck_assert_str_eq(row, "sent|3|202|true");
	free(row);
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert_uint_eq(st.r[0].retried, 2);
	ck_assert_uint_eq(st.r[0].sent, 1);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(resolve_waits_for_trigger)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *o = new_outbox(&set, 0);
	enqueue(o, "flaky-2", false);
	enqueue(o, "flaky-2", true);
	/* Make the retry wait, so that only the order rule holds the
	 * resolve back. */
	struct outbox_options slow = {
		.conninfo = test_conninfo,
		.receivers = &set,
		.backoff_initial = 3600,
		.backoff_cap = 3600,
	};
	struct outbox *s = NULL;
	ck_assert_int_eq(outbox_new(&slow, &s), 0);
	unsigned n = 0;
	ck_assert_int_eq(outbox_deliver_due(s, 10, &n), 0);
	outbox_free(s);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(seen_count("flaky-2", "trigger"), 1);
	ck_assert_uint_eq(seen_count("flaky-2", "resolve"), 0);
	/* The resolve waits as long as its trigger, and so does one queued
	 * meanwhile. */
	enqueue(o, "flaky-2", true);
	ck_assert_int_eq(q_long("SELECT count(DISTINCT next_attempt_at) FROM "
				"notifications WHERE next_attempt_at > now()"),
			 1);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"next_attempt_at > now()"),
			 3);
	/* Bring the retry forward: it fails once more, then both go, in
	 * order. */
	q_exec("UPDATE notifications SET next_attempt_at = now()");
	drain(o);
	ck_assert_uint_eq(seen_count("flaky-2", "trigger"), 3);
	ck_assert_uint_eq(seen_count("flaky-2", "resolve"), 2);
	ck_assert_str_eq(seen.event[seen.n - 1], "resolve");
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(held_back_rows_never_starve_others)
{
	/* More alert instances than the claim window, each a trigger the
	 * receiver keeps refusing with a 503 and a resolve behind it: a
	 * later, unrelated notification still goes out. */
	enum { N = 100 };
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox_options slow = {
		.conninfo = test_conninfo,
		.receivers = &set,
		.backoff_initial = 3600,
		.backoff_cap = 3600,
		.breaker_fail_max = 1000,
	};
	struct outbox *o = NULL;
	ck_assert_int_eq(outbox_new(&slow, &o), 0);
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "down-%d", i);
		enqueue(o, key, false);
		enqueue(o, key, true);
	}
	enqueue(o, "ok-1", false);
	unsigned n = 0;
	ck_assert_int_eq(outbox_deliver_due(o, 1000, &n), 0);
	ck_assert_uint_eq(n, N + 1);
	ck_assert_uint_eq(seen_count("ok-1", "trigger"), 1);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"event = 'resolve' AND attempts = 0 AND "
				"status = 'pending'"),
			 N);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(breaker_opens_rows_wait)
{
	/* A port nothing listens on: our own server's, once stopped. */
	struct receiver_set set;
	unsigned dead = http_port;
	stop_http();
	make_set(&set, dead);
	struct outbox *o = new_outbox(&set, 2);
	enqueue(o, "d-1", false);
	enqueue(o, "d-2", false);
	enqueue(o, "d-3", false);
	unsigned n = 0, total = 0;
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(outbox_deliver_due(o, 10, &n), 0);
		total += n;
		sleep_ms(20);
	}
	ck_assert_uint_eq(total, 2); /* then the breaker opened */
	ck_assert_int_eq(q_long("SELECT sum(attempts) FROM notifications"), 2);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications WHERE "
				"status = 'pending' AND last_status = 0"),
			 2);
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert_int_eq(st.r[0].breaker, BREAKER_OPEN);
	ck_assert_uint_eq(st.r[0].breaker_opened, 1);
	ck_assert_uint_eq(st.r[0].retried, 2);
	char *err = q_str("SELECT last_error FROM notifications WHERE "
			  "attempts = 1 LIMIT 1");
	ck_assert_ptr_nonnull(strstr(err, "no response"));
	free(err);
	outbox_free(o);
	receiver_set_release(&set);
	start_http(); /* for the fixture's teardown */
}
END_TEST

START_TEST(enqueue_checks_and_idempotence)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *o = new_outbox(&set, 0);
	struct outbox_item it = {
		.receiver = "pd",
		.dedup_key = "i-1",
		.event = "trigger",
		.body = "{\"event_action\":\"trigger\"}",
		.body_len = 26,
		.idem_key = "event:7",
	};
	int64_t id1 = 0, id2 = 0;
	ck_assert_int_eq(outbox_enqueue(o, &it, &id1), 1);
	ck_assert_int_eq(outbox_enqueue(o, &it, &id2), 0);
	ck_assert_int_eq(id1, id2);

	struct outbox_item bad = it;
	bad.receiver = "nope";
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -ENOENT);
	bad = it;
	bad.event = "acknowledge";
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -EINVAL);
	bad = it;
	bad.dedup_key = "";
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -EINVAL);
	bad = it;
	bad.idem_key = NULL;
	bad.body = "{not json";
	bad.body_len = 9;
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -EINVAL);
	bad.body = "{}\0{}";
	bad.body_len = 5;
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -EINVAL);
	bad.body_len = OUTBOX_BODY_MAX + 1;
	ck_assert_int_eq(outbox_enqueue(o, &bad, NULL), -E2BIG);
	ck_assert_int_eq(q_long("SELECT count(*) FROM notifications"), 1);
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert_uint_eq(st.enqueued, 1);
	ck_assert_uint_eq(st.enqueue_errors, 6);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(database_down)
{
	struct receiver_set set;
	make_set(&set, 0);
	/* A port nothing listens on. */
	struct outbox_options opt = {
		.conninfo = "host=127.0.0.1 port=1 connect_timeout=2 "
			    "dbname=none",
		.receivers = &set,
	};
	struct outbox *o = NULL;
	ck_assert_int_eq(outbox_new(&opt, &o), 0);
	struct outbox_item it = { .receiver = "pd",
				  .dedup_key = "x",
				  .event = "trigger",
				  .body = "{}",
				  .body_len = 2 };
	ck_assert_int_eq(outbox_enqueue(o, &it, NULL), -ECONNREFUSED);
	ck_assert_int_lt(outbox_deliver_due(o, 10, NULL), 0);
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert(!st.db_connected);
	ck_assert_uint_eq(st.enqueue_errors, 1);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

START_TEST(sender_thread_stats)
{
	struct receiver_set set;
	make_set(&set, 0);
	struct outbox *o = new_outbox(&set, 0);
	enqueue(o, "s-1", false);
	ck_assert_int_eq(outbox_start(o), 0);
	for (int i = 0; i < 500; i++) {
		struct outbox_stats st;
		outbox_get_stats(o, &st);
		if (st.r[0].sent == 1 && st.db_connected)
			break;
		sleep_ms(10);
	}
	struct outbox_stats st;
	outbox_get_stats(o, &st);
	ck_assert_uint_eq(st.r[0].sent, 1);
	ck_assert_str_eq(st.r[0].name, "pd");
	ck_assert_int_eq(st.r[0].kind, RECEIVER_PAGERDUTY);
	ck_assert_int_eq(st.r[0].breaker, BREAKER_CLOSED);
	ck_assert_uint_eq(st.n, 1);
	ck_assert_int_eq(outbox_start(o), -EALREADY);
	outbox_free(o);
	receiver_set_release(&set);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("outbox");
	TCase *u = tcase_create("pure");
	tcase_add_test(u, backoff_schedule);
	suite_add_tcase(s, u);
	TCase *tc = tcase_create("postgresql");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
	tcase_add_checked_fixture(tc, start_http, stop_http);
	tcase_add_test(tc, enqueue_survives_reopen);
	tcase_add_test(tc, two_senders_never_double);
	tcase_add_test(tc, rejected_4xx_not_retried);
	tcase_add_test(tc, retry_5xx_then_sent);
	tcase_add_test(tc, resolve_waits_for_trigger);
	tcase_add_test(tc, held_back_rows_never_starve_others);
	tcase_add_test(tc, breaker_opens_rows_wait);
	tcase_add_test(tc, enqueue_checks_and_idempotence);
	tcase_add_test(tc, database_down);
	tcase_add_test(tc, sender_thread_stats);
	suite_add_tcase(s, tc);
	return s;
}
