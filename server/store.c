/* PostgreSQL storage: see store.h for the contract.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "cleanup.h"
#include "migrations.h"
#include "store.h"

/* Key of the advisory lock that serialises migrations between replicas:
 * the constitutional hash, read as a signed 64-bit number. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_xact_lock(-3616356482913899278)"

/* COPY data is sent in chunks of this size; a single row may grow the
 * buffer up to COPY_MAX (a payload over ~8 MiB fails the batch, -E2BIG). */
#define COPY_CHUNK (64 * 1024)
#define COPY_MAX   (16 * 1024 * 1024)

/* Caps on what a reject row keeps of outside input. */
#define REJECT_PAYLOAD_PREFIX 512
#define REJECT_FIELD_MAX      256
#define REJECT_DETAIL_MAX     1024

struct store {
	PGconn *conn;
	char *conninfo;
	struct buf copy;
	char errmsg[256];
};

static void pqclearp(PGresult **r)
{
	PQclear(*r);
}
#define _cleanup_pgresult_ _cleanup_(pqclearp)

/* Notices ("relation already exists, skipping") are expected chatter of
 * idempotent DDL; the daemon logs our return codes instead. */
static void quiet_notices(void *arg, const char *message)
{
}

static void set_error(struct store *s, const char *msg)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg ? msg : "");
	size_t n = strlen(s->errmsg);
	while (n > 0 && (s->errmsg[n - 1] == '\n' || s->errmsg[n - 1] == ' '))
		s->errmsg[--n] = '\0';
}

const char *store_last_error(const struct store *s)
{
	return s->errmsg;
}

/* Translate a failed libpq call into a negative errno. A connection that
 * is no longer OK after the call broke during it, whatever SQLSTATE says. */
static int pg_errno(struct store *s, const PGresult *r)
{
	set_error(s, r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
	if (!s->errmsg[0])
		set_error(s, PQerrorMessage(s->conn));
	if (PQstatus(s->conn) != CONNECTION_OK)
		return -ECONNRESET;
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!st || strlen(st) != 5)
		return -EIO;
	if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") ||
	    !strcmp(st, "57P02") || !strcmp(st, "57P03"))
		return -ECONNRESET;
	if (!strcmp(st, "57014"))
		return -ETIMEDOUT;
	if (!strcmp(st, "23505"))
		return -EEXIST;
	if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
		return -EINVAL;
	if (!strncmp(st, "40", 2))
		return -EAGAIN;
	if (!strcmp(st, "53100"))
		return -ENOSPC;
	if (!strcmp(st, "53200"))
		return -ENOMEM;
	if (!strncmp(st, "53", 2))
		return -EBUSY;
	return -EIO;
}

static int ready(struct store *s)
{
	if (!s || !s->conn)
		return -EINVAL;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_error(s, "not connected");
		return -ENOTCONN;
	}
	return 0;
}

/* Leave a failed transaction so the connection is usable for the next
 * call; nothing to do when the connection itself is gone. */
static void rollback(struct store *s)
{
	if (PQstatus(s->conn) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(s->conn) == PQTRANS_IDLE)
		return;
	PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Run sql (no parameters); 0 when its last result has status want. */
static int exec_simple(struct store *s, const char *sql, ExecStatusType want)
{
	_cleanup_pgresult_ PGresult *r = PQexec(s->conn, sql);
	if (PQresultStatus(r) != want)
		return pg_errno(s, r);
	return 0;
}

/* Run a statement with text parameters (NULL = SQL NULL); binary marks the
 * parameters sent as bytes (len from lens). *ret gets the result. */
static int exec_params(struct store *s, const char *sql, int n,
		       const char *const *vals, const int *lens,
		       const int *binary, ExecStatusType want, PGresult **ret)
{
	PGresult *r =
	    PQexecParams(s->conn, sql, n, NULL, vals, lens, binary, 0);
	if (PQresultStatus(r) != want) {
		int rc = pg_errno(s, r);
		PQclear(r);
		return rc;
	}
	*ret = r;
	return 0;
}

/* One row, one column result as a number. */
static int result_int64(const PGresult *r, int64_t *ret)
{
	if (PQntuples(r) != 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
		return -EPROTO;
	char *end;
	errno = 0;
	long long v = strtoll(PQgetvalue(r, 0, 0), &end, 10);
	if (errno || *end)
		return -EPROTO;
	*ret = v;
	return 0;
}

static int clamp_int(int64_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

int store_open(const char *conninfo, struct store **ret, char *err,
	       size_t errlen)
{
	if (!conninfo || !ret)
		return -EINVAL;
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	buf_init(&s->copy, COPY_MAX);
	s->conninfo = strdup(conninfo);
	if (!s->conninfo) {
		store_free(s);
		return -ENOMEM;
	}
	/* Later keywords win, so the expanded conninfo (dbname, last)
	 * overrides these defaults. */
	const char *const keys[] = { "connect_timeout", "application_name",
				     "client_encoding", "dbname", NULL };
	const char *const vals[] = { "10", "acgs-server", "UTF8", conninfo,
				     NULL };
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (!s->conn) {
		store_free(s);
		return -ENOMEM;
	}
	PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_error(s, PQerrorMessage(s->conn));
		if (err && errlen)
			snprintf(err, errlen, "%s", s->errmsg);
		store_free(s);
		return -ECONNREFUSED;
	}
	*ret = s;
	return 0;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	if (s->conn)
		PQfinish(s->conn);
	buf_release(&s->copy);
	free(s->conninfo);
	free(s);
	return NULL;
}

bool store_connected(struct store *s)
{
	return s && s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

int store_reconnect(struct store *s)
{
	if (!s || !s->conn)
		return -EINVAL;
	PQreset(s->conn);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_error(s, PQerrorMessage(s->conn));
		return -ECONNREFUSED;
	}
	return 0;
}

/* ---- migrations ---- */

static int migrate_one(struct store *s, const struct store_migration *m,
		       bool *ret_applied)
{
	int rc = exec_simple(s,
			     "BEGIN; " MIGRATE_LOCK_SQL "; "
			     "CREATE TABLE IF NOT EXISTS schema_migrations ("
			     " version int PRIMARY KEY, name text NOT NULL,"
			     " applied_at timestamptz NOT NULL DEFAULT now())",
			     PGRES_COMMAND_OK);
	if (rc < 0)
		return rc;

	char ver[16];
	snprintf(ver, sizeof(ver), "%d", m->version);
	const char *params[] = { ver, m->name };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc =
	    exec_params(s, "SELECT 1 FROM schema_migrations WHERE version = $1",
			1, params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) > 0) {
		*ret_applied = false;
		return exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
	}

	/* A file holds many statements: the simple query protocol runs them
	 * all, inside our transaction. */
	_cleanup_pgresult_ PGresult *body = PQexec(s->conn, m->sql);
	ExecStatusType st = PQresultStatus(body);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return pg_errno(s, body);

	_cleanup_pgresult_ PGresult *ins = NULL;
	rc = exec_params(s,
			 "INSERT INTO schema_migrations (version, name, "
			 "applied_at) VALUES ($1, $2, now())",
			 2, params, NULL, NULL, PGRES_COMMAND_OK, &ins);
	if (rc < 0)
		return rc;
	rc = exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
	if (rc < 0)
		return rc;
	*ret_applied = true;
	return 0;
}

int store_migrate(struct store *s, int *ret_applied, char *err, size_t errlen)
{
	int applied = 0;
	int rc = ready(s);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < store_migrations_count; i++) {
		const struct store_migration *m = &store_migrations[i];
		if (i > 0 && m->version <= store_migrations[i - 1].version) {
			set_error(s, "compiled-in migrations out of order");
			rc = -EINVAL;
			goto out;
		}
		bool done = false;
		rc = migrate_one(s, m, &done);
		if (rc < 0) {
			rollback(s);
			char msg[sizeof(s->errmsg)];
			int n =
			    snprintf(msg, sizeof(msg), "migration %04d_%s: %s",
				     m->version, m->name, s->errmsg);
			if (n > 0)
				set_error(s, msg);
			goto out;
		}
		applied += done;
	}
	if (ret_applied)
		*ret_applied = applied;
out:
	if (rc < 0 && err && errlen)
		snprintf(err, errlen, "%s", s ? s->errmsg : "no store");
	return rc;
}

/* Run "SELECT fn($1::int, ...)" whose single result is a count. */
static int call_counting(struct store *s, const char *sql, int n,
			 const char *const *params)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s, sql, n, params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int64_t v;
	rc = result_int64(r, &v);
	if (rc < 0)
		return rc;
	return clamp_int(v);
}

int store_ensure_partitions(struct store *s, int days_ahead)
{
	if (days_ahead < 0 || days_ahead > 366)
		return -EINVAL;
	char d[16];
	snprintf(d, sizeof(d), "%d", days_ahead);
	const char *p[] = { d };
	return call_counting(s, "SELECT acgs_ensure_partitions($1::int)", 1, p);
}

/* ---- COPY helpers ---- */

/* Append bytes as a COPY text field: backslash, tab, newline and carriage
 * return are the only bytes the format gives meaning to. */
static int copy_text(struct buf *b, const char *p, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		const char *esc = NULL;
		switch (p[i]) {
		case '\\':
			esc = "\\\\";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		default:
			continue;
		}
		int rc = buf_append(b, p + run, i - run);
		if (rc == 0)
			rc = buf_puts(b, esc);
		if (rc < 0)
			return rc;
		run = i + 1;
	}
	return buf_append(b, p + run, len - run);
}

static int copy_str(struct buf *b, const char *sep, const char *str)
{
	int rc = buf_puts(b, sep);
	if (rc < 0)
		return rc;
	if (!str)
		return buf_puts(b, "\\N");
	return copy_text(b, str, strlen(str));
}

static int copy_double(struct buf *b, double v)
{
	if (!isfinite(v))
		return buf_puts(b, "\t\\N");
	return buf_printf(b, "\t%.17g", v);
}

static int copy_flush(struct store *s, bool all)
{
	if (s->copy.len == 0 || (!all && s->copy.len < COPY_CHUNK))
		return 0;
	if (s->copy.len > INT_MAX)
		return -E2BIG;
	if (PQputCopyData(s->conn, s->copy.data, (int)s->copy.len) != 1)
		return pg_errno(s, NULL);
	buf_reset(&s->copy);
	return 0;
}

/* Finish a COPY started by the caller: send the rest, or abort it when
 * fail < 0 (the server then fails the COPY and the caller rolls back). */
static int copy_end(struct store *s, int fail)
{
	int rc = fail;
	if (rc == 0)
		rc = copy_flush(s, true);
	buf_reset(&s->copy);
	if (PQputCopyEnd(s->conn, rc < 0 ? "aborted by acgs-server" : NULL) !=
	    1)
		return rc < 0 ? rc : pg_errno(s, NULL);
	PGresult *r;
	while ((r = PQgetResult(s->conn))) {
		if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = pg_errno(s, r);
		PQclear(r);
	}
	if (rc == 0 && PQstatus(s->conn) != CONNECTION_OK)
		rc = pg_errno(s, NULL);
	return rc;
}

/* ---- samples ---- */

#define SAMPLE_DOUBLES                                                         \
	"cpu_usage, mem_used_ratio, swap_used_ratio, load1, load5, load15, "   \
	"disk_used_ratio_max, net_rx_bps, net_tx_bps, psi_cpu_some, "          \
	"psi_memory_some, psi_io_some"

static const char stage_samples_sql[] =
    "BEGIN; "
    "CREATE TEMP TABLE IF NOT EXISTS acgs_stage_samples ("
    " node_id text, boot_id text, seq bigint, ts_ms bigint,"
    " received_ms bigint, cpu_usage float8, mem_used_ratio float8,"
    " swap_used_ratio float8, load1 float8, load5 float8, load15 float8,"
    " disk_used_ratio_max float8, net_rx_bps float8, net_tx_bps float8,"
    " psi_cpu_some float8, psi_memory_some float8, psi_io_some float8,"
    " procs_total float8, fds_open float8, uptime_s float8,"
    " compliance_ratio float8, score float8, payload text)"
    " ON COMMIT DELETE ROWS";

/* Probes come from the rows this statement inserted (RETURNING), so a
 * replayed sample adds no probe rows either. */
static const char insert_samples_sql[] =
    "WITH ins AS ("
    " INSERT INTO samples (node_id, boot_id, seq, ts, "
    "received_at, " SAMPLE_DOUBLES
    ", procs_total, fds_open, uptime_s, compliance_ratio, "
    "score, payload)"
    " SELECT node_id, boot_id, seq, acgs_ms_ts(ts_ms),"
    " coalesce(acgs_ms_ts(received_ms), now()), " SAMPLE_DOUBLES ","
    " CASE WHEN abs(procs_total) < 9e18 THEN round(procs_total)::bigint END,"
    " CASE WHEN abs(fds_open) < 9e18 THEN round(fds_open)::bigint END,"
    " uptime_s, compliance_ratio, score, payload::jsonb"
    " FROM acgs_stage_samples"
    " ON CONFLICT DO NOTHING"
    " RETURNING node_id, ts, payload),"
    " probes AS ("
    " INSERT INTO probe_results (node_id, ts, name, type, service, ok, runs,"
    " failures, latency_ms, p50_ms, p99_ms, slo_ms, status, error)"
    " SELECT ins.node_id, ins.ts, p->>'name', acgs_jtext(p->'type'),"
    " acgs_jtext(p->'service'), acgs_jbool(p->'ok'), acgs_jint(p->'runs'),"
    " acgs_jint(p->'failures'), acgs_jnum(p->'latency_ms'),"
    " acgs_jnum(p->'p50_ms'), acgs_jnum(p->'p99_ms'),"
    " acgs_jnum(p->'slo_ms'),"
    " CASE WHEN acgs_jint(p->'status') BETWEEN 0 AND 999"
    " THEN acgs_jint(p->'status')::int END,"
    " acgs_jtext(p->'error')"
    " FROM ins CROSS JOIN LATERAL jsonb_array_elements("
    " CASE WHEN jsonb_typeof(ins.payload->'probes') = 'array'"
    " THEN ins.payload->'probes' ELSE '[]'::jsonb END) AS p"
    " WHERE jsonb_typeof(p) = 'object'"
    " AND jsonb_typeof(p->'name') = 'string'"
    " ON CONFLICT DO NOTHING)"
    " SELECT count(*) FROM ins";

static int sample_valid(const struct store_sample *x)
{
	if (!x->node_id || !*x->node_id || !x->boot_id || !*x->boot_id)
		return -EINVAL;
	if (x->seq > INT64_MAX)
		return -EINVAL;
	if (x->payload && memchr(x->payload, '\0', x->payload_len))
		return -EINVAL;
	return 0;
}

static int copy_sample(struct buf *b, const struct store_sample *x)
{
	int rc = copy_str(b, "", x->node_id);
	if (rc == 0)
		rc = copy_str(b, "\t", x->boot_id);
	if (rc == 0)
		rc = buf_printf(b, "\t%" PRIu64 "\t%" PRId64, x->seq, x->ts_ms);
	if (rc == 0)
		rc = x->received_ms > 0
			 ? buf_printf(b, "\t%" PRId64, x->received_ms)
			 : buf_puts(b, "\t\\N");
	const double d[] = { x->cpu_usage,
			     x->mem_used_ratio,
			     x->swap_used_ratio,
			     x->load1,
			     x->load5,
			     x->load15,
			     x->disk_used_ratio_max,
			     x->net_rx_bps,
			     x->net_tx_bps,
			     x->psi_cpu_some,
			     x->psi_memory_some,
			     x->psi_io_some,
			     x->procs_total,
			     x->fds_open,
			     x->uptime_s,
			     x->compliance_ratio,
			     x->score };
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(d); i++)
		rc = copy_double(b, d[i]);
	if (rc == 0)
		rc = buf_puts(b, "\t");
	if (rc == 0)
		rc = x->payload ? copy_text(b, x->payload, x->payload_len)
				: buf_puts(b, "\\N");
	if (rc == 0)
		rc = buf_puts(b, "\n");
	return rc;
}

/* Runs the part of a batch write between BEGIN and COMMIT; the caller
 * rolls back on error. */
static int write_samples_txn(struct store *s, const struct store_sample *v,
			     size_t n, int64_t *ret_new)
{
	int rc = exec_simple(s, stage_samples_sql, PGRES_COMMAND_OK);
	if (rc < 0)
		return rc;
	rc =
	    exec_simple(s, "COPY acgs_stage_samples FROM STDIN", PGRES_COPY_IN);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = copy_sample(&s->copy, &v[i]);
		if (rc == 0)
			rc = copy_flush(s, false);
	}
	rc = copy_end(s, rc);
	if (rc < 0)
		return rc;

	_cleanup_pgresult_ PGresult *r = PQexec(s->conn, insert_samples_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return pg_errno(s, r);
	rc = result_int64(r, ret_new);
	if (rc < 0)
		return rc;
	return exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
}

int store_write_samples(struct store *s, const struct store_sample *v, size_t n)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	if (!v || n > INT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		rc = sample_valid(&v[i]);
		if (rc < 0) {
			set_error(s, "sample without node_id or boot_id, seq "
				     "over 2^63, or NUL in payload");
			return rc;
		}
	}
	int64_t added = 0;
	rc = write_samples_txn(s, v, n, &added);
	if (rc < 0) {
		buf_reset(&s->copy);
		rollback(s);
		return rc;
	}
	return clamp_int(added);
}

/* ---- scores ---- */

static const char stage_scores_sql[] =
    "BEGIN; "
    "CREATE TEMP TABLE IF NOT EXISTS acgs_stage_scores ("
    " i bigint, ts_ms bigint, scope text, key text, score float8,"
    " components text) ON COMMIT DELETE ROWS";

/* DISTINCT ON keeps the last of duplicates in the batch: an upsert may not
 * touch one row twice in a statement. */
static const char insert_scores_sql[] =
    "INSERT INTO scores (ts, scope, key, score, components)"
    " SELECT DISTINCT ON (scope, key, ts_ms)"
    " acgs_ms_ts(ts_ms), scope, key, score, components::jsonb"
    " FROM acgs_stage_scores ORDER BY scope, key, ts_ms, i DESC"
    " ON CONFLICT (scope, key, ts) DO UPDATE"
    " SET score = EXCLUDED.score, components = EXCLUDED.components";

static int copy_score(struct buf *b, size_t i, const struct store_score *x)
{
	int rc = buf_printf(b, "%zu\t%" PRId64, i, x->ts_ms);
	if (rc == 0)
		rc = copy_str(b, "\t", x->scope);
	if (rc == 0)
		rc = copy_str(b, "\t", x->key);
	if (rc == 0)
		rc = copy_double(b, x->score);
	if (rc == 0)
		rc = copy_str(b, "\t", x->components_json);
	if (rc == 0)
		rc = buf_puts(b, "\n");
	return rc;
}

static int write_scores_txn(struct store *s, const struct store_score *v,
			    size_t n, int64_t *ret_rows)
{
	int rc = exec_simple(s, stage_scores_sql, PGRES_COMMAND_OK);
	if (rc < 0)
		return rc;
	rc = exec_simple(s, "COPY acgs_stage_scores FROM STDIN", PGRES_COPY_IN);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = copy_score(&s->copy, i, &v[i]);
		if (rc == 0)
			rc = copy_flush(s, false);
	}
	rc = copy_end(s, rc);
	if (rc < 0)
		return rc;
	_cleanup_pgresult_ PGresult *r = PQexec(s->conn, insert_scores_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return pg_errno(s, r);
	*ret_rows = strtoll(PQcmdTuples(r), NULL, 10);
	return exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
}

int store_write_scores(struct store *s, const struct store_score *v, size_t n)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	if (!v || n > INT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!v[i].scope || !v[i].key)
			return -EINVAL;
	int64_t rows = 0;
	rc = write_scores_txn(s, v, n, &rows);
	if (rc < 0) {
		buf_reset(&s->copy);
		rollback(s);
		return rc;
	}
	return clamp_int(rows);
}

/* ---- rejected messages ---- */

/* Append at most max bytes of p as printable ASCII: backslash doubled,
 * every other byte outside 0x20..0x7e as \xNN. Keeping only ASCII means a
 * hostile payload can neither break the text column's encoding nor smuggle
 * terminal control sequences to whoever reads the table. */
static int escape_bytes(struct buf *b, const void *p, size_t len, size_t max)
{
	const unsigned char *u = p;
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++) {
		int rc;
		if (u[i] == '\\')
			rc = buf_puts(b, "\\\\");
		else if (u[i] >= 0x20 && u[i] < 0x7f)
			rc = buf_append(b, &u[i], 1);
		else
			rc = buf_printf(b, "\\x%02x", u[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int store_write_reject(struct store *s, int64_t received_ms, const char *topic,
		       const char *node_id, const char *reason,
		       const char *detail, const void *payload, size_t len)
{
	/* Before any goto: the cleanup runs on every path out. */
	_cleanup_pgresult_ PGresult *r = NULL;
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (!topic || !reason || (!payload && len))
		return -EINVAL;

	struct {
		const char *in;
		size_t max;
		struct buf out;
	} f[] = {
		{ topic, REJECT_FIELD_MAX, { 0 } },
		{ node_id, REJECT_FIELD_MAX, { 0 } },
		{ reason, REJECT_FIELD_MAX, { 0 } },
		{ detail, REJECT_DETAIL_MAX, { 0 } },
		{ payload, REJECT_PAYLOAD_PREFIX, { 0 } },
	};
	const char *params[7] = { NULL };
	char recv[24], plen[24];
	if (received_ms > 0) {
		snprintf(recv, sizeof(recv), "%" PRId64, received_ms);
		params[0] = recv;
	}
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		/* escape_bytes grows by at most 4 bytes per input byte. */
		buf_init(&f[i].out, 4 * f[i].max);
		if (!f[i].in)
			continue;
		size_t inlen = i == 4 ? len : strlen(f[i].in);
		rc = escape_bytes(&f[i].out, f[i].in, inlen, f[i].max);
		if (rc == 0)
			rc = buf_puts(&f[i].out, "");
		if (rc < 0)
			goto out;
	}
	snprintf(plen, sizeof(plen), "%zu", len);
	for (size_t i = 0; i < 4; i++)
		params[1 + i] = f[i].in ? f[i].out.data : NULL;
	params[5] = plen;
	params[6] = payload ? f[4].out.data : NULL;

	rc = exec_params(s,
			 "INSERT INTO rejected_messages (received_at, topic, "
			 "node_id, reason, detail, payload_len, payload_prefix)"
			 " VALUES (coalesce(acgs_ms_ts($1::bigint), now()), "
			 "$2, $3, $4, $5, $6::bigint, $7)",
			 7, params, NULL, NULL, PGRES_COMMAND_OK, &r);
out:
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		buf_release(&f[i].out);
	return rc;
}

/* ---- nodes ---- */

int store_upsert_node(struct store *s, const struct store_node *node)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (!node || !node->node_id || !*node->node_id)
		return -EINVAL;
	if (node->state && strcmp(node->state, "online") &&
	    strcmp(node->state, "offline"))
		return -EINVAL;

	char seen[24], conn[24], score[32];
	const char *params[10] = { node->node_id };
	if (node->seen_ms > 0) {
		snprintf(seen, sizeof(seen), "%" PRId64, node->seen_ms);
		params[1] = seen;
	}
	params[2] = node->boot_id;
	params[3] = node->labels_json;
	params[4] = node->version;
	params[5] = node->config_hash;
	params[6] = node->state;
	if (node->conn >= 0) {
		snprintf(conn, sizeof(conn), "%" PRId64, node->conn);
		params[7] = conn;
	}
	if (isfinite(node->score)) {
		snprintf(score, sizeof(score), "%.17g", node->score);
		params[8] = score;
	}
	params[9] = node->components_json;

	/* A state applies unless its conn is older than the stored one; the
	 * conn itself only grows. */
	static const char sql[] =
	    "INSERT INTO nodes AS n (node_id, first_seen, last_seen, boot_id,"
	    " labels, version, config_hash, state, state_changed_at, conn,"
	    " score, score_at, components)"
	    " VALUES ($1::text, coalesce(acgs_ms_ts($2::bigint), now()),"
	    " coalesce(acgs_ms_ts($2::bigint), now()), $3::text,"
	    " coalesce($4::jsonb, '{}'::jsonb), $5::text, $6::text,"
	    " coalesce($7::text, 'unknown'),"
	    " CASE WHEN $7::text IS NOT NULL"
	    " THEN coalesce(acgs_ms_ts($2::bigint), now()) END,"
	    " $8::bigint, $9::float8,"
	    " CASE WHEN $9::float8 IS NOT NULL"
	    " THEN coalesce(acgs_ms_ts($2::bigint), now()) END,"
	    " $10::jsonb)"
	    " ON CONFLICT (node_id) DO UPDATE SET"
	    " last_seen = greatest(n.last_seen, EXCLUDED.last_seen),"
	    " boot_id = coalesce($3::text, n.boot_id),"
	    " labels = coalesce($4::jsonb, n.labels),"
	    " version = coalesce($5::text, n.version),"
	    " config_hash = coalesce($6::text, n.config_hash),"
	    " state = CASE WHEN $7::text IS NOT NULL AND ($8::bigint IS NULL"
	    " OR n.conn IS NULL OR $8::bigint >= n.conn)"
	    " THEN $7::text ELSE n.state END,"
	    " state_changed_at = CASE WHEN $7::text IS NOT NULL"
	    " AND $7::text IS DISTINCT FROM n.state AND ($8::bigint IS NULL"
	    " OR n.conn IS NULL OR $8::bigint >= n.conn)"
	    " THEN EXCLUDED.last_seen ELSE n.state_changed_at END,"
	    " conn = greatest(n.conn, $8::bigint),"
	    " score = coalesce($9::float8, n.score),"
	    " score_at = CASE WHEN $9::float8 IS NOT NULL"
	    " THEN EXCLUDED.last_seen ELSE n.score_at END,"
	    " components = coalesce($10::jsonb, n.components)"
	    " RETURNING (xmax = 0)";
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s, sql, 10, params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1)
		return -EPROTO;
	return PQgetvalue(r, 0, 0)[0] == 't' ? 1 : 0;
}

/* ---- history ---- */

/* The metrics store_history serves: each is a samples column and, with
 * _avg appended, a rollup column. Only these constant strings ever reach
 * the SQL text. */
static const char *const history_metrics[] = {
	"cpu_usage",   "mem_used_ratio", "swap_used_ratio",	"load1",
	"load5",       "load15",	 "disk_used_ratio_max", "net_rx_bps",
	"net_tx_bps",  "psi_cpu_some",	 "psi_memory_some",	"psi_io_some",
	"procs_total", "fds_open",	 "compliance_ratio",	"score",
};

static const char *history_column(const char *metric)
{
	if (!metric)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(history_metrics); i++)
		if (!strcmp(metric, history_metrics[i]))
			return history_metrics[i];
	return NULL;
}

bool store_history_metric_valid(const char *metric)
{
	return history_column(metric) != NULL;
}

static int parse_point(const PGresult *r, int i, int64_t *ret_ts, double *ret_v)
{
	if (PQnfields(r) != 2 || PQgetisnull(r, i, 0) || PQgetisnull(r, i, 1))
		return -EPROTO;
	char *end;
	errno = 0;
	long long ts = strtoll(PQgetvalue(r, i, 0), &end, 10);
	if (errno || *end)
		return -EPROTO;
	const char *vs = PQgetvalue(r, i, 1);
	double v = strtod(vs, &end);
	if (end == vs || *end)
		return -EPROTO;
	*ret_ts = ts;
	*ret_v = v;
	return 0;
}

/* Stream the rows one at a time (single-row mode) so a long range does not
 * sit in memory. Reads every result even after a stop, as libpq needs. */
static int history_query(struct store *s, const char *sql, int nparams,
			 const char *const *params,
			 int (*row)(void *ctx, int64_t ts_ms, double value),
			 void *ctx)
{
	if (!PQsendQueryParams(s->conn, sql, nparams, NULL, params, NULL, NULL,
			       0))
		return pg_errno(s, NULL);
	/* Without single-row mode the rows arrive in one PGRES_TUPLES_OK
	 * result instead, which the loop below reads as well. */
	PQsetSingleRowMode(s->conn);
	int rc = 0, points = 0;
	PGresult *r;
	while ((r = PQgetResult(s->conn))) {
		ExecStatusType st = PQresultStatus(r);
		if (rc == 0 && st != PGRES_SINGLE_TUPLE &&
		    st != PGRES_TUPLES_OK)
			rc = pg_errno(s, r);
		for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
			int64_t ts;
			double v;
			rc = parse_point(r, i, &ts, &v);
			if (rc == 0) {
				rc = row ? row(ctx, ts, v) : 0;
				points++;
			}
		}
		PQclear(r);
	}
	if (rc == 0 && PQstatus(s->conn) != CONNECTION_OK)
		rc = pg_errno(s, NULL);
	return rc != 0 ? rc : points;
}

int store_history(struct store *s, const char *node_id, const char *metric,
		  int64_t from_ms, int64_t to_ms, int64_t step_ms,
		  int (*row)(void *ctx, int64_t ts_ms, double value), void *ctx)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	const char *col = history_column(metric);
	if (!col || !node_id || to_ms < from_ms) {
		set_error(s, "unknown metric or bad range");
		return -EINVAL;
	}
	char from[24], to[24], step[24];
	snprintf(from, sizeof(from), "%" PRId64, from_ms);
	snprintf(to, sizeof(to), "%" PRId64, to_ms);
	snprintf(step, sizeof(step), "%" PRId64, step_ms);
	const char *params[] = { node_id, from, to, step };

	char sql[1024];
	int len;
	if (step_ms <= 0) {
		len = snprintf(sql, sizeof(sql),
			       "SELECT acgs_ts_ms(ts), %s FROM samples"
			       " WHERE node_id = $1"
			       " AND ts >= acgs_ms_ts($2::bigint)"
			       " AND ts < acgs_ms_ts($3::bigint)"
			       " AND %s IS NOT NULL ORDER BY ts",
			       col, col);
		return history_query(s, sql, 3, params, row, ctx);
	}
	if (step_ms < 60 * 1000) {
		len = snprintf(sql, sizeof(sql),
			       "SELECT floor(acgs_ts_ms(ts)::numeric / $4)"
			       "::bigint * $4::bigint AS b, avg(%s)"
			       " FROM samples WHERE node_id = $1"
			       " AND ts >= acgs_ms_ts($2::bigint)"
			       " AND ts < acgs_ms_ts($3::bigint)"
			       " AND %s IS NOT NULL GROUP BY b ORDER BY b",
			       col, col);
	} else {
		const char *table =
		    step_ms < 3600 * 1000 ? "samples_1m" : "samples_1h";
		len = snprintf(sql, sizeof(sql),
			       "SELECT floor(acgs_ts_ms(bucket)::numeric / $4)"
			       "::bigint * $4::bigint AS b,"
			       " sum(%s_avg * n) / sum(n)"
			       " FROM %s WHERE node_id = $1"
			       " AND bucket >= acgs_ms_ts($2::bigint)"
			       " AND bucket < acgs_ms_ts($3::bigint)"
			       " AND %s_avg IS NOT NULL GROUP BY b ORDER BY b",
			       col, table, col);
	}
	if (len < 0 || (size_t)len >= sizeof(sql))
		return -EINVAL;
	return history_query(s, sql, 4, params, row, ctx);
}

/* ---- tokens ---- */

static bool role_valid(const char *role)
{
	return role && (!strcmp(role, "viewer") || !strcmp(role, "operator") ||
			!strcmp(role, "admin"));
}

int store_token_insert(struct store *s, const char *name, const char *role,
		       const uint8_t sha256[32], int64_t *ret_id)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (!name || !*name || !role_valid(role) || !sha256)
		return -EINVAL;
	const char *params[] = { name, role, (const char *)sha256 };
	const int lens[] = { 0, 0, 32 };
	const int binary[] = { 0, 0, 1 };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s,
			 "INSERT INTO api_tokens (name, role, token_sha256)"
			 " VALUES ($1, $2, $3) RETURNING id",
			 3, params, lens, binary, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int64_t id;
	rc = result_int64(r, &id);
	if (rc < 0)
		return rc;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int store_token_lookup(struct store *s, const uint8_t sha256[32], char *role,
		       size_t rolelen, int64_t *ret_id, char *name,
		       size_t namelen)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	if (!sha256 || !role || rolelen == 0)
		return -EINVAL;
	const char *params[] = { (const char *)sha256 };
	const int lens[] = { 32 };
	const int binary[] = { 1 };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(
	    s,
	    "WITH t AS (SELECT id, role, revoked_at IS NOT NULL AS revoked,"
	    " last_used_at FROM api_tokens WHERE token_sha256 = $1),"
	    " u AS (UPDATE api_tokens a SET last_used_at = now() FROM t"
	    " WHERE a.id = t.id AND NOT t.revoked AND (t.last_used_at IS NULL"
	    " OR t.last_used_at < now() - interval '1 minute'))"
	    " SELECT t.id, t.role, t.revoked, a.name FROM t"
	    " JOIN api_tokens a ON a.id = t.id",
	    1, params, lens, binary, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0)
		return -ENOENT;
	if (PQgetvalue(r, 0, 2)[0] == 't')
		return -EKEYREVOKED;
	const char *rv = PQgetvalue(r, 0, 1);
	if (strlen(rv) >= rolelen)
		return -ENOBUFS;
	int64_t id;
	rc = result_int64(r, &id);
	if (rc < 0)
		return rc;
	memcpy(role, rv, strlen(rv) + 1);
	if (ret_id)
		*ret_id = id;
	if (name && namelen)
		snprintf(name, namelen, "%s", PQgetvalue(r, 0, 3));
	return 0;
}

static int64_t ms_or_zero(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col)
		   ? 0
		   : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int store_token_list(struct store *s,
		     void (*fn)(void *ctx, const struct store_token *t),
		     void *ctx)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s,
			 "SELECT id, name, role, acgs_ts_ms(created_at),"
			 " acgs_ts_ms(last_used_at), acgs_ts_ms(revoked_at)"
			 " FROM api_tokens ORDER BY id",
			 0, NULL, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct store_token t = {
			.id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
			.created_ms = ms_or_zero(r, i, 3),
			.last_used_ms = ms_or_zero(r, i, 4),
			.revoked_ms = ms_or_zero(r, i, 5),
		};
		snprintf(t.name, sizeof(t.name), "%s", PQgetvalue(r, i, 1));
		snprintf(t.role, sizeof(t.role), "%s", PQgetvalue(r, i, 2));
		fn(ctx, &t);
	}
	return n;
}

int store_token_revoke(struct store *s, int64_t id)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	const char *params[] = { ids };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s,
			 "UPDATE api_tokens SET revoked_at = now()"
			 " WHERE id = $1::bigint AND revoked_at IS NULL",
			 1, params, NULL, NULL, PGRES_COMMAND_OK, &r);
	if (rc < 0)
		return rc;
	return strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -ENOENT;
}

int store_node_exists(struct store *s, const char *node_id)
{
	int rc = ready(s);
	if (rc < 0)
		return rc;
	const char *params[] = { node_id };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s, "SELECT 1 FROM nodes WHERE node_id = $1", 1, params,
			 NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	return PQntuples(r) > 0;
}

/* ---- rollups and retention ---- */

int store_rollup(struct store *s, int64_t from_ms, int64_t to_ms)
{
	if (to_ms < from_ms)
		return -EINVAL;
	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, from_ms);
	snprintf(to, sizeof(to), "%" PRId64, to_ms);
	const char *p[] = { from, to };
	return call_counting(s,
			     "SELECT acgs_rollup(acgs_ms_ts($1::bigint),"
			     " acgs_ms_ts($2::bigint))",
			     2, p);
}

int store_apply_retention(struct store *s, int raw_days, int m1_days,
			  int h1_days)
{
	if (raw_days < 1 || m1_days < 1 || h1_days < 1)
		return -EINVAL;
	char a[16], b[16], c[16];
	snprintf(a, sizeof(a), "%d", raw_days);
	snprintf(b, sizeof(b), "%d", m1_days);
	snprintf(c, sizeof(c), "%d", h1_days);
	const char *p[] = { a, b, c };
	return call_counting(
	    s, "SELECT acgs_apply_retention($1::int, $2::int, $3::int)", 3, p);
}

/* ---- alerts ---- */

/* Text parameters of numbers; NULL for absent ones. */
struct numtext {
	char v[24];
};

static const char *ms_param(struct numtext *t, int64_t ms)
{
	if (ms <= 0)
		return NULL;
	snprintf(t->v, sizeof(t->v), "%" PRId64, ms);
	return t->v;
}

static const char *dbl_param(struct numtext *t, double v)
{
	if (!isfinite(v))
		return NULL;
	snprintf(t->v, sizeof(t->v), "%.17g", v);
	return t->v;
}

static int alert_event(struct store *s, const struct store_alert *a)
{
	struct numtext ts, val, thr;
	const char *params[] = {
		ms_param(&ts, a->ts_ms),
		a->rule,
		a->scope,
		a->key ? a->key : "",
		a->dedup_key,
		a->from_state ? a->from_state : "inactive",
		a->state,
		a->severity,
		dbl_param(&val, a->value),
		dbl_param(&thr, a->threshold),
		a->labels_json ? a->labels_json : "{}",
		a->summary,
	};
	_cleanup_pgresult_ PGresult *r = NULL;
	return exec_params(
	    s,
	    "INSERT INTO alert_events (ts, rule, scope, key, dedup_key,"
	    " from_state, to_state, severity, value, threshold, labels,"
	    " summary) VALUES (coalesce(acgs_ms_ts($1::bigint), now()), $2,"
	    " $3, $4, $5, $6, $7, $8, $9::float8, $10::float8, $11::jsonb,"
	    " $12)",
	    ARRAY_SIZE(params), params, NULL, NULL, PGRES_COMMAND_OK, &r);
}

static int alert_ack(struct store *s, const struct store_alert *a)
{
	struct numtext ts;
	const char *params[] = { ms_param(&ts, a->acked_ms),
				 a->dedup_key,
				 a->rule,
				 a->key ? a->key : "",
				 a->acked_by ? a->acked_by : "",
				 a->ack_comment ? a->ack_comment : "" };
	_cleanup_pgresult_ PGresult *r = NULL;
	return exec_params(
	    s,
	    "INSERT INTO alert_acks (ts, dedup_key, rule, key, author, comment)"
	    " VALUES (coalesce(acgs_ms_ts($1::bigint), now()), $2, $3, $4, $5,"
	    " $6)",
	    ARRAY_SIZE(params), params, NULL, NULL, PGRES_COMMAND_OK, &r);
}

static int alert_instance(struct store *s, const struct store_alert *a)
{
	_cleanup_pgresult_ PGresult *r = NULL;

	if (strcmp(a->state, "inactive") == 0) {
		const char *params[] = { a->dedup_key };
		return exec_params(
		    s, "DELETE FROM alert_instances WHERE dedup_key = $1", 1,
		    params, NULL, NULL, PGRES_COMMAND_OK, &r);
	}
	struct numtext t[9];
	const char *params[] = {
		a->dedup_key,
		a->rule,
		a->scope,
		a->key ? a->key : "",
		a->probe,
		a->state,
		a->severity,
		ms_param(&t[0], a->active_since_ms),
		ms_param(&t[1], a->fired_at_ms),
		ms_param(&t[2], a->resolved_at_ms),
		ms_param(&t[3], a->last_true_ms),
		dbl_param(&t[4], a->value),
		dbl_param(&t[5], a->firing_value),
		dbl_param(&t[6], a->threshold),
		a->labels_json ? a->labels_json : "{}",
		a->summary,
		a->description,
		a->notified ? a->notified : "",
		a->acked_by,
		ms_param(&t[7], a->acked_ms),
		a->ack_comment,
	};
	return exec_params(
	    s,
	    "INSERT INTO alert_instances (dedup_key, rule, scope, key, probe,"
	    " state, severity, active_since, fired_at, resolved_at, last_true,"
	    " value, firing_value, threshold, labels, summary, description,"
	    " notified, acked_by, acked_at, ack_comment, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, acgs_ms_ts($8::bigint),"
	    " acgs_ms_ts($9::bigint), acgs_ms_ts($10::bigint),"
	    " acgs_ms_ts($11::bigint), $12::float8, $13::float8, $14::float8,"
	    " $15::jsonb, $16, $17, $18, $19, acgs_ms_ts($20::bigint), $21,"
	    " now())"
	    " ON CONFLICT (dedup_key) DO UPDATE SET rule = EXCLUDED.rule,"
	    " scope = EXCLUDED.scope, key = EXCLUDED.key,"
	    " probe = EXCLUDED.probe, state = EXCLUDED.state,"
	    " severity = EXCLUDED.severity,"
	    " active_since = EXCLUDED.active_since,"
	    " fired_at = EXCLUDED.fired_at,"
	    " resolved_at = EXCLUDED.resolved_at,"
	    " last_true = EXCLUDED.last_true, value = EXCLUDED.value,"
	    " firing_value = EXCLUDED.firing_value,"
	    " threshold = EXCLUDED.threshold, labels = EXCLUDED.labels,"
	    " summary = EXCLUDED.summary,"
	    " description = EXCLUDED.description,"
	    " notified = EXCLUDED.notified, acked_by = EXCLUDED.acked_by,"
	    " acked_at = EXCLUDED.acked_at,"
	    " ack_comment = EXCLUDED.ack_comment, updated_at = now()",
	    ARRAY_SIZE(params), params, NULL, NULL, PGRES_COMMAND_OK, &r);
}

int store_alert_record(struct store *s, const struct store_alert *a, bool event,
		       bool ack)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	if (!a->dedup_key || !a->rule || !a->scope || !a->state)
		return -EINVAL;
	rc = exec_simple(s, "BEGIN", PGRES_COMMAND_OK);
	if (rc == 0 && event)
		rc = alert_event(s, a);
	if (rc == 0 && ack)
		rc = alert_ack(s, a);
	if (rc == 0)
		rc = alert_instance(s, a);
	if (rc == 0)
		rc = exec_simple(s, "COMMIT", PGRES_COMMAND_OK);
	if (rc < 0)
		rollback(s);
	return rc;
}

static double dbl_or_nan(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NAN
					: strtod(PQgetvalue(r, row, col), NULL);
}

static const char *str_or_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int store_alert_instances(struct store *s,
			  void (*fn)(void *ctx, const struct store_alert *a),
			  void *ctx)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(
	    s,
	    "SELECT dedup_key, rule, scope, key, probe, state, severity,"
	    " acgs_ts_ms(active_since), acgs_ts_ms(fired_at),"
	    " acgs_ts_ms(resolved_at), acgs_ts_ms(last_true), value,"
	    " firing_value, threshold, labels::text, summary, description,"
	    " notified, acked_by, acgs_ts_ms(acked_at), ack_comment"
	    " FROM alert_instances ORDER BY dedup_key",
	    0, NULL, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct store_alert a = {
			.dedup_key = PQgetvalue(r, i, 0),
			.rule = PQgetvalue(r, i, 1),
			.scope = PQgetvalue(r, i, 2),
			.key = PQgetvalue(r, i, 3),
			.probe = str_or_null(r, i, 4),
			.state = PQgetvalue(r, i, 5),
			.severity = str_or_null(r, i, 6),
			.active_since_ms = ms_or_zero(r, i, 7),
			.fired_at_ms = ms_or_zero(r, i, 8),
			.resolved_at_ms = ms_or_zero(r, i, 9),
			.last_true_ms = ms_or_zero(r, i, 10),
			.value = dbl_or_nan(r, i, 11),
			.firing_value = dbl_or_nan(r, i, 12),
			.threshold = dbl_or_nan(r, i, 13),
			.labels_json = PQgetvalue(r, i, 14),
			.summary = str_or_null(r, i, 15),
			.description = str_or_null(r, i, 16),
			.notified = PQgetvalue(r, i, 17),
			.acked_by = str_or_null(r, i, 18),
			.acked_ms = ms_or_zero(r, i, 19),
			.ack_comment = str_or_null(r, i, 20),
		};
		fn(ctx, &a);
	}
	return n;
}

int store_alert_history(struct store *s, unsigned limit,
			void (*fn)(void *ctx, const struct store_alert *a),
			void *ctx)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	char lim[16];
	snprintf(lim, sizeof(lim), "%u", limit);
	const char *params[] = { lim };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(s,
			 "SELECT dedup_key, rule, scope, key, from_state,"
			 " to_state, acgs_ts_ms(ts), value, severity"
			 " FROM alert_events ORDER BY ts DESC, id DESC"
			 " LIMIT $1::int",
			 1, params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct store_alert a = {
			.dedup_key = PQgetvalue(r, i, 0),
			.rule = PQgetvalue(r, i, 1),
			.scope = PQgetvalue(r, i, 2),
			.key = PQgetvalue(r, i, 3),
			.from_state = PQgetvalue(r, i, 4),
			.state = PQgetvalue(r, i, 5),
			.ts_ms = ms_or_zero(r, i, 6),
			.value = dbl_or_nan(r, i, 7),
			.severity = str_or_null(r, i, 8),
		};
		fn(ctx, &a);
	}
	return n;
}

int store_silence_add(struct store *s, const char *matchers_json,
		      int64_t starts_ms, int64_t ends_ms, const char *comment,
		      const char *author, int64_t *ret_id,
		      int64_t *ret_created_ms)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	struct numtext st, en;
	const char *params[] = { matchers_json, ms_param(&st, starts_ms),
				 ms_param(&en, ends_ms), comment, author };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(
	    s,
	    "INSERT INTO silences (matchers, starts_at, ends_at, comment,"
	    " author) VALUES ($1::jsonb, coalesce(acgs_ms_ts($2::bigint),"
	    " now()), acgs_ms_ts($3::bigint), $4, $5)"
	    " RETURNING id, acgs_ts_ms(created_at)",
	    ARRAY_SIZE(params), params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1)
		return -EPROTO;
	*ret_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	*ret_created_ms = ms_or_zero(r, 0, 1);
	return 0;
}

int store_silence_list(struct store *s, int64_t id, bool all, int64_t now_ms,
		       void (*fn)(void *ctx, const struct store_silence *x),
		       void *ctx)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	struct numtext i1, n1;
	const char *params[] = { id > 0 ? ms_param(&i1, id) : NULL,
				 all ? "t" : "f", ms_param(&n1, now_ms) };
	_cleanup_pgresult_ PGresult *r = NULL;
	rc = exec_params(
	    s,
	    "SELECT id, matchers::text, comment, author,"
	    " acgs_ts_ms(created_at), acgs_ts_ms(starts_at),"
	    " acgs_ts_ms(ends_at), acgs_ts_ms(expired_at) FROM silences"
	    " WHERE ($1::bigint IS NOT NULL AND id = $1::bigint)"
	    " OR ($1::bigint IS NULL AND ($2::bool OR (expired_at IS NULL"
	    " AND ends_at > coalesce(acgs_ms_ts($3::bigint), now()))))"
	    " ORDER BY id DESC LIMIT 1000",
	    ARRAY_SIZE(params), params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct store_silence x = {
			.id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
			.matchers_json = PQgetvalue(r, i, 1),
			.comment = PQgetvalue(r, i, 2),
			.author = PQgetvalue(r, i, 3),
			.created_ms = ms_or_zero(r, i, 4),
			.starts_ms = ms_or_zero(r, i, 5),
			.ends_ms = ms_or_zero(r, i, 6),
			.expired_ms = ms_or_zero(r, i, 7),
		};
		fn(ctx, &x);
	}
	return n;
}

int store_silence_expire(struct store *s, int64_t id)
{
	int rc = ready(s);

	if (rc < 0)
		return rc;
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	const char *params[] = { ids };
	_cleanup_pgresult_ PGresult *r = NULL;
	/* A silence that already ended keeps its end; one that has not
	 * started yet ends 1 ms after its start (ends_at must stay after
	 * starts_at), and is expired, so it never applies. */
	rc = exec_params(
	    s,
	    "UPDATE silences SET expired_at = coalesce(expired_at, now()),"
	    " ends_at = greatest(starts_at + interval '1 ms',"
	    " least(ends_at, now()))"
	    " WHERE id = $1::bigint RETURNING id",
	    1, params, NULL, NULL, PGRES_TUPLES_OK, &r);
	if (rc < 0)
		return rc;
	return PQntuples(r) == 1 ? 0 : -ENOENT;
}
