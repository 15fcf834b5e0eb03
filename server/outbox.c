/* The notification outbox: see outbox.h for the contract.
 * ACGS constitutional hash: cdd01ef066bc6cf2 */
#include "config.h"

#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "timeutil.h"

#define CHANNEL "acgs_outbox"
/* Rows attempted in one round before the sender re-reads its stop flag,
 * the stats and the breakers. */
#define ROUND_MAX 50
/* Sender reconnection backoff, seconds. */
#define RECONNECT_MAX	 30
#define CLEANUP_EVERY_MS (3600 * 1000LL)
/* Due rows a claim looks at (a string: it is part of the SQL). */
#define CLAIM_WINDOW "64"

struct rstate {
	const struct receiver *r;
	struct breaker *b;
	uint64_t sent, retried, failed, pending;
};

struct outbox {
	char *conninfo, *replica;
	const struct receiver_set *set;
	double poll_interval, backoff_initial, backoff_cap, retention;
	struct rstate rs[RECEIVER_MAX];
	size_t n;

	pthread_mutex_t enq_lock; /* guards enq */
	PGconn *enq;

	/* The sender's: its thread, or outbox_deliver_due's caller. */
	PGconn *snd;
	CURL *curl;
	bool curl_global;
	struct buf body, resp;
	double retry_after; /* seconds from the last answer; 0: none */
	int64_t last_cleanup_ms;

	int efd;
	pthread_t thread;
	bool started;
	atomic_bool stopping;

	pthread_mutex_t stats_lock; /* guards what follows and rs counters */
	uint64_t enqueued, enqueue_errors, db_errors, pending_total;
	double oldest_pending_s;
	bool db_connected;
};

static void pqclearp(PGresult **r)
{
	PQclear(*r);
}
#define _cleanup_pgresult_ _cleanup_(pqclearp)

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The message of libpq's last error on c, one line. */
static const char *pg_msg(PGconn *c, const PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : NULL;
	if (!m || !*m)
		m = c ? PQerrorMessage(c) : "no connection";
	return m;
}

/* A failed libpq call as a negative errno (the subset of store.c's
 * mapping that callers of the outbox act on). */
static int pg_rc(PGconn *c, const PGresult *r)
{
	if (!c || PQstatus(c) != CONNECTION_OK)
		return -ECONNRESET;
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!st || strlen(st) != 5)
		return -EIO;
	if (!strncmp(st, "08", 2) || !strncmp(st, "57P0", 4))
		return -ECONNRESET;
	if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
		return -EINVAL;
	if (!strncmp(st, "40", 2))
		return -EAGAIN;
	return -EIO;
}

static PGconn *pg_open(const char *conninfo, const char *app)
{
	/* Later keywords win: the conninfo (dbname, expanded) overrides. */
	const char *const keys[] = { "connect_timeout", "application_name",
				     "client_encoding", "dbname", NULL };
	const char *const vals[] = { "10", app, "UTF8", conninfo, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (c)
		PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

/* Run sql without parameters; 0 when it returned want. */
static int pg_exec(PGconn *c, const char *sql, ExecStatusType want)
{
	_cleanup_pgresult_ PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != want)
		return pg_rc(c, r);
	return 0;
}

static void pg_rollback(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
}

/* ---- backoff ---- */

double outbox_backoff(unsigned attempt, double initial, double cap,
		      uint32_t rnd)
{
	if (attempt == 0)
		attempt = 1;
	if (!(initial > 0))
		initial = OUTBOX_DEFAULT_BACKOFF_INITIAL;
	if (!(cap > 0))
		cap = OUTBOX_DEFAULT_BACKOFF_CAP;
	/* 2^63 overflows nothing in a double; past the cap it stops
	 * mattering anyway. */
	double ceil_s =
	    initial * ldexp(1.0, (int)(attempt > 64 ? 64 : attempt - 1));
	if (ceil_s > cap)
		ceil_s = cap;
	return ceil_s * ((double)rnd / (double)UINT32_MAX);
}

/* ---- lifecycle ---- */

static void on_breaker(void *ctx, const char *name, enum breaker_state from,
		       enum breaker_state to)
{
	(void)ctx;
	if (to == BREAKER_OPEN)
		log_warn("outbox",
			 "breaker %s open (was %s): its notifications wait",
			 name, breaker_state_name(from));
	else
		log_info("outbox", "breaker %s %s (was %s)", name,
			 breaker_state_name(to), breaker_state_name(from));
}

int outbox_new(const struct outbox_options *opt, struct outbox **ret)
{
	/* A 4xx is the request's fault (neutral), a stop is ours. */
	static const int excluded[] = { -EINVAL, -ECANCELED };
	struct outbox *o;
	int rc = 0;

	if (!opt || !opt->conninfo || !opt->receivers || !ret ||
	    opt->receivers->n > RECEIVER_MAX || opt->poll_interval < 0 ||
	    opt->backoff_initial < 0 || opt->backoff_cap < 0 ||
	    opt->retention < 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->efd = -1;
	pthread_mutex_init(&o->enq_lock, NULL);
	pthread_mutex_init(&o->stats_lock, NULL);
	buf_init(&o->body, OUTBOX_BODY_MAX + 256);
	buf_init(&o->resp, OUTBOX_RESPONSE_MAX);
	o->set = opt->receivers;
	o->poll_interval = opt->poll_interval > 0
			       ? opt->poll_interval
			       : OUTBOX_DEFAULT_POLL_INTERVAL;
	o->backoff_initial = opt->backoff_initial > 0
				 ? opt->backoff_initial
				 : OUTBOX_DEFAULT_BACKOFF_INITIAL;
	o->backoff_cap = opt->backoff_cap > 0 ? opt->backoff_cap
					      : OUTBOX_DEFAULT_BACKOFF_CAP;
	o->retention =
	    opt->retention > 0 ? opt->retention : OUTBOX_DEFAULT_RETENTION;
	o->conninfo = strdup(opt->conninfo);
	o->replica = strdup(opt->replica ? opt->replica : "acgs-server");
	if (!o->conninfo || !o->replica) {
		rc = -ENOMEM;
		goto out;
	}
	o->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->efd < 0) {
		rc = -errno;
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = -EIO;
		goto out;
	}
	o->curl_global = true;
	for (size_t i = 0; i < opt->receivers->n; i++) {
		const struct receiver *r = &opt->receivers->v[i];
		char name[RECEIVER_NAME_MAX + 16];
		snprintf(name, sizeof(name), "receiver:%s", r->name);
		struct breaker_options bo = {
			.name = name,
			.fail_max = opt->breaker_fail_max,
			.reset_timeout = opt->breaker_reset_timeout,
			.excluded = excluded,
			.nexcluded = ARRAY_SIZE(excluded),
		};
		o->rs[i].r = r;
		rc = breaker_new(&bo, &o->rs[i].b);
		if (rc < 0)
			goto out;
		o->n = i + 1;
		breaker_add_listener(o->rs[i].b, on_breaker, o);
	}
out:
	if (rc < 0) {
		outbox_free(o);
		return rc;
	}
	*ret = o;
	return 0;
}

static void wake(struct outbox *o)
{
	uint64_t one = 1;
	ssize_t n = write(o->efd, &one, sizeof(one));
	(void)n; /* a full counter already means "wake up" */
}

struct outbox *outbox_free(struct outbox *o)
{
	if (!o)
		return NULL;
	if (o->started) {
		atomic_store(&o->stopping, true);
		wake(o);
		pthread_join(o->thread, NULL);
	}
	for (size_t i = 0; i < o->n; i++)
		breaker_free(o->rs[i].b);
	if (o->curl)
		curl_easy_cleanup(o->curl);
	if (o->curl_global)
		curl_global_cleanup();
	PQfinish(o->enq);
	PQfinish(o->snd);
	if (o->efd >= 0)
		close(o->efd);
	buf_release(&o->body);
	buf_release(&o->resp);
	pthread_mutex_destroy(&o->enq_lock);
	pthread_mutex_destroy(&o->stats_lock);
	free(o->conninfo);
	free(o->replica);
	free(o);
	return NULL;
}

/* ---- enqueue ---- */

static struct rstate *rstate_of(struct outbox *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->rs[i].r->name, name) == 0)
			return &o->rs[i];
	return NULL;
}

/* The enqueue connection, (re)made when it is not up. Lock held. */
static int enq_ready(struct outbox *o)
{
	if (o->enq && PQstatus(o->enq) == CONNECTION_OK)
		return 0;
	PQfinish(o->enq);
	o->enq = pg_open(o->conninfo, "acgs-server-outbox");
	if (!o->enq)
		return -ENOMEM;
	if (PQstatus(o->enq) != CONNECTION_OK) {
		log_warn("outbox", "cannot connect to PostgreSQL: %s",
			 PQerrorMessage(o->enq));
		return -ECONNREFUSED;
	}
	return 0;
}

static int enqueue_locked(struct outbox *o, const struct outbox_item *it,
			  const char *kind, const char *body, int64_t *ret_id)
{
	static const char insert_sql[] =
	    "WITH ins AS ("
	    " INSERT INTO notifications (receiver, kind, dedup_key, event,"
	    "  idem_key, body, next_attempt_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6::jsonb, GREATEST(now(),"
	    "  (SELECT max(next_attempt_at) FROM notifications WHERE"
	    "   status = 'pending' AND receiver = $1 AND dedup_key = $3)))"
	    " ON CONFLICT (receiver, idem_key) WHERE idem_key IS NOT NULL"
	    " DO NOTHING RETURNING id) "
	    "SELECT id, pg_notify('" CHANNEL "', '') FROM ins";
	static const char find_sql[] =
	    "SELECT id FROM notifications WHERE receiver = $1 AND "
	    "idem_key = $2";
	const char *params[] = { it->receiver, kind,	     it->dedup_key,
				 it->event,    it->idem_key, body };
	int rc = enq_ready(o);

	if (rc < 0)
		return rc;
	_cleanup_pgresult_ PGresult *r =
	    PQexecParams(o->enq, insert_sql, 6, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = pg_rc(o->enq, r);
		log_warn("outbox", "enqueue receiver=%s failed: %s",
			 it->receiver, pg_msg(o->enq, r));
		return rc;
	}
	if (PQntuples(r) == 1) {
		*ret_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		return 1;
	}
	if (!it->idem_key)
		return -EIO;
	/* Our statement's snapshot may predate the row it conflicted with
	 * (committed by another replica meanwhile); a new one sees it. */
	const char *fp[] = { it->receiver, it->idem_key };
	_cleanup_pgresult_ PGresult *f =
	    PQexecParams(o->enq, find_sql, 2, NULL, fp, NULL, NULL, 0);
	if (PQresultStatus(f) != PGRES_TUPLES_OK)
		return pg_rc(o->enq, f);
	if (PQntuples(f) != 1)
		return -EAGAIN;
	*ret_id = strtoll(PQgetvalue(f, 0, 0), NULL, 10);
	return 0;
}

int outbox_enqueue(struct outbox *o, const struct outbox_item *it,
		   int64_t *ret_id)
{
	_cleanup_free_ char *body = NULL;
	int64_t id = 0;
	int rc;

	if (!o || !it || !it->receiver || !it->dedup_key || !*it->dedup_key ||
	    !it->event || !it->body) {
		rc = -EINVAL;
		goto out;
	}
	if (strcmp(it->event, "trigger") && strcmp(it->event, "resolve")) {
		rc = -EINVAL;
		goto out;
	}
	const struct rstate *rs = rstate_of(o, it->receiver);
	if (!rs) {
		rc = -ENOENT;
		goto out;
	}
	if (it->body_len > OUTBOX_BODY_MAX) {
		rc = -E2BIG;
		goto out;
	}
	/* libpq takes text parameters NUL-terminated. */
	if (memchr(it->body, '\0', it->body_len)) {
		rc = -EINVAL;
		goto out;
	}
	body = strndup(it->body, it->body_len);
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&o->enq_lock);
	rc = enqueue_locked(o, it, receiver_kind_name(rs->r->kind), body, &id);
	pthread_mutex_unlock(&o->enq_lock);
out:
	if (o) {
		pthread_mutex_lock(&o->stats_lock);
		if (rc < 0)
			o->enqueue_errors++;
		else if (rc == 1)
			o->enqueued++;
		pthread_mutex_unlock(&o->stats_lock);
	}
	if (rc >= 0) {
		wake(o);
		if (ret_id)
			*ret_id = id;
	}
	return rc;
}

int outbox_enqueue_alert(struct outbox *o, const char *receiver,
			 const struct receiver_alert *a, int64_t now_ms,
			 const char *idem_key, int64_t *ret_id)
{
	struct buf body;
	int rc;

	if (!o || !receiver || !a)
		return -EINVAL;
	const struct rstate *rs = rstate_of(o, receiver);
	if (!rs)
		return -ENOENT;
	buf_init(&body, OUTBOX_BODY_MAX);
	rc = receiver_build(rs->r->kind, a, now_ms, receiver, &body);
	if (rc == 0) {
		struct outbox_item it = {
			.receiver = receiver,
			.dedup_key = a->dedup_key,
			.event = receiver_alert_event(a),
			.body = body.data,
			.body_len = body.len,
			.idem_key = idem_key,
		};
		rc = outbox_enqueue(o, &it, ret_id);
	}
	buf_release(&body);
	return rc;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct outbox *o = ctx;
	size_t len = size * n;
	size_t room = o->resp.max - o->resp.len;
	/* Keep the first 4 KiB, read (and drop) the rest so that the
	 * connection stays reusable. */
	buf_append(&o->resp, p, len < room ? len : room);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct outbox *o = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > strlen(name) && strncasecmp(p, name, strlen(name)) == 0) {
		char v[32];
		size_t vl = len - strlen(name);
		if (vl >= sizeof(v))
			vl = sizeof(v) - 1;
		memcpy(v, p + strlen(name), vl);
		v[vl] = '\0';
		char *s = v, *end;
		while (*s == ' ' || *s == '\t')
			s++;
		/* Seconds only; an HTTP-date is left to our own backoff. */
		double d = strtod(s, &end);
		while (*end == '\r' || *end == '\n' || *end == ' ')
			end++;
		if (end != s && *end == '\0' && isfinite(d) && d > 0)
			o->retry_after = d;
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	struct outbox *o = ctx;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(&o->stopping) ? 1 : 0;
}

/* POST body to r. Sets *ret_status (0 without an answer) and, without an
 * answer, err. Returns 0 (an answer), -ECANCELED (stopping), -ETIMEDOUT,
 * -ECONNREFUSED, -EIO (other transport errors), -ENOMEM. */
static int http_post(struct outbox *o, const struct receiver *r,
		     const char *body, size_t len, long *ret_status, char *err,
		     size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char auth[RECEIVER_TOKEN_MAX + 64];
	struct curl_slist *h = NULL, *t;
	long ms = (long)(r->timeout * 1000);
	int rc = 0;

	*ret_status = 0;
	buf_reset(&o->resp);
	o->retry_after = 0;
	if (!o->curl) {
		o->curl = curl_easy_init();
		if (!o->curl)
			return -ENOMEM;
	}
	CURL *c = o->curl;
	curl_easy_reset(c);
	static const char *const fixed[] = {
		"Content-Type: application/json",
		"Accept: application/json",
		/* no 100-continue round trip for large bodies */
		"Expect:",
	};
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		t = curl_slist_append(h, fixed[i]);
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		h = t;
	}
	if (receiver_auth_header(r, auth, sizeof(auth)) < 0) {
		rc = -E2BIG;
		goto out;
	}
	if (auth[0]) {
		t = curl_slist_append(h, auth);
		sodium_memzero(auth, sizeof(auth));
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		h = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "acgs-server/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
	/* A redirect of a POST is a misconfiguration to surface, not to
	 * follow with the routing key. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, o);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, o);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, o);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

	CURLcode cc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
		goto out;
	}
	snprintf(err, errlen, "no response: %s",
		 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		rc = -ECANCELED;
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rc = -ETIMEDOUT;
	else if (cc == CURLE_COULDNT_CONNECT)
		rc = -ECONNREFUSED;
	else if (cc == CURLE_OUT_OF_MEMORY)
		rc = -ENOMEM;
	else
		rc = -EIO;
out:
	/* The handle keeps a pointer to the list until the next reset. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	return rc;
}

/* The kept part of an answer as text PostgreSQL takes: printable ASCII,
 * newlines and tabs as they are, any other byte as \xNN, at most
 * OUTBOX_RESPONSE_MAX bytes. */
static void clean_response(const struct buf *in, char *out, size_t outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < in->len && j + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in->data[i];
		if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
			out[j++] = (char)c;
		} else if (j + 5 < outlen) {
			snprintf(out + j, 5, "\\x%02x", c);
			j += 4;
		} else {
			break;
		}
	}
	out[j] = '\0';
}

/* ---- sending ---- */

static void count(struct outbox *o, uint64_t *field)
{
	pthread_mutex_lock(&o->stats_lock);
	(*field)++;
	pthread_mutex_unlock(&o->stats_lock);
}

/* The sender's connection, listening on CHANNEL. */
static int snd_ready(struct outbox *o)
{
	if (o->snd && PQstatus(o->snd) == CONNECTION_OK)
		return 0;
	PQfinish(o->snd);
	o->snd = pg_open(o->conninfo, "acgs-server-outbox-sender");
	if (!o->snd)
		return -ENOMEM;
	int rc = PQstatus(o->snd) == CONNECTION_OK ? 0 : -ECONNREFUSED;
	if (rc == 0)
		rc = pg_exec(o->snd, "LISTEN " CHANNEL, PGRES_COMMAND_OK);
	pthread_mutex_lock(&o->stats_lock);
	o->db_connected = rc == 0;
	pthread_mutex_unlock(&o->stats_lock);
	if (rc < 0)
		log_warn("outbox", "sender cannot use PostgreSQL: %s",
			 PQerrorMessage(o->snd));
	return rc;
}

/* '{"a","b"}': the receivers whose breaker lets a call through. Names are
 * [A-Za-z0-9._-] (receiver.c), so quoting needs no escapes. Returns how
 * many. */
static size_t open_receivers(struct outbox *o, struct buf *arr)
{
	size_t k = 0;
	buf_puts(arr, "{");
	for (size_t i = 0; i < o->n; i++) {
		if (breaker_get_state(o->rs[i].b) == BREAKER_OPEN)
			continue;
		buf_printf(arr, "%s\"%s\"", k ? "," : "", o->rs[i].r->name);
		k++;
	}
	buf_puts(arr, "}");
	return k;
}

struct claimed {
	const char *id, *receiver, *event, *dedup_key, *body;
	int attempts;
};

/* Record the outcome of the row claimed in the open transaction, and
 * commit. */
static int record(struct outbox *o, const struct claimed *c, const char *sql,
		  long status, double delay, const char *error,
		  const char *response)
{
	char st[24], att[16], dl[32];
	snprintf(st, sizeof(st), "%ld", status);
	snprintf(att, sizeof(att), "%d", c->attempts + 1);
	snprintf(dl, sizeof(dl), "%.3f", delay);
	const char *params[] = {
		c->id, st, att, dl, error, response, o->replica
	};
	/* Typed parameters, so that a statement may leave one unused. */
	static const Oid types[] = { 20 /* int8 */,
				     23 /* int4 */,
				     23,
				     701 /* float8 */,
				     25 /* text */,
				     25,
				     25 };
	_cleanup_pgresult_ PGresult *r =
	    PQexecParams(o->snd, sql, 7, types, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return pg_rc(o->snd, r);
	return pg_exec(o->snd, "COMMIT", PGRES_COMMAND_OK);
}

/* Parameters: $1 id, $2 HTTP status, $3 attempts, $4 retry delay (s),
 * $5 error, $6 response, $7 replica. */
static const char sent_sql[] =
    "UPDATE notifications SET status = 'sent', attempts = $3,"
    " last_status = $2, last_attempt_at = now(), sent_at = now(),"
    " last_error = $5, last_response = $6, sent_by = $7 WHERE id = $1";
/* A retried row's later rows for the same alert instance wait as long as
 * it does: they could not go before it anyway. */
static const char retry_sql[] =
    "WITH r AS (UPDATE notifications SET attempts = $3, last_status = $2,"
    " last_attempt_at = now(), last_error = $5, last_response = $6,"
    " next_attempt_at = now() + make_interval(secs => $4)"
    " WHERE id = $1 RETURNING receiver, dedup_key, next_attempt_at)"
    " UPDATE notifications s SET next_attempt_at = r.next_attempt_at"
    " FROM r WHERE s.status = 'pending' AND s.receiver = r.receiver"
    " AND s.dedup_key = r.dedup_key AND s.id > $1"
    " AND s.next_attempt_at < r.next_attempt_at";
static const char failed_sql[] =
    "UPDATE notifications SET status = 'failed', attempts = $3,"
    " last_status = $2, last_attempt_at = now(), last_error = $5,"
    " last_response = $6, sent_by = $7 WHERE id = $1";

/* Claim, send and record one due row. Returns 1 (a row was attempted), 0
 * (none due, or stopping) or a negative errno from the database. */
static int deliver_one(struct outbox *o)
{
	/* The window: the oldest due rows, found through the due index
	 * whatever the planner believes about the table; only those are
	 * checked against the order rule. A row held back by that rule is
	 * never due long (successors inherit their predecessor's retry time,
	 * see retry_sql), so the window does not fill with them. */
	static const char claim_sql[] =
	    "WITH c AS MATERIALIZED (SELECT id FROM notifications"
	    "  WHERE status = 'pending' AND next_attempt_at <= now()"
	    "  AND receiver = ANY($1::text[])"
	    "  ORDER BY next_attempt_at, id LIMIT " CLAIM_WINDOW ")"
	    " SELECT n.id, n.receiver, n.event, n.dedup_key, n.body::text,"
	    " n.attempts FROM c JOIN notifications n ON n.id = c.id"
	    " WHERE n.status = 'pending' AND n.next_attempt_at <= now()"
	    " AND NOT EXISTS (SELECT 1 FROM notifications p"
	    "  WHERE p.status = 'pending' AND p.receiver = n.receiver"
	    "  AND p.dedup_key = n.dedup_key AND p.id < n.id)"
	    " ORDER BY n.next_attempt_at, n.id LIMIT 1"
	    " FOR UPDATE OF n SKIP LOCKED";
	struct buf arr;
	char err[512] = "", response[OUTBOX_RESPONSE_MAX + 1];
	long status = 0;
	int rc;

	buf_init(&arr, RECEIVER_MAX * (RECEIVER_NAME_MAX + 4) + 4);
	if (open_receivers(o, &arr) == 0) {
		buf_release(&arr);
		return 0;
	}
	rc = pg_exec(o->snd, "BEGIN", PGRES_COMMAND_OK);
	if (rc < 0) {
		buf_release(&arr);
		return rc;
	}
	const char *cp[] = { arr.data };
	_cleanup_pgresult_ PGresult *r =
	    PQexecParams(o->snd, claim_sql, 1, NULL, cp, NULL, NULL, 0);
	buf_release(&arr);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = pg_rc(o->snd, r);
		log_warn("outbox", "claim failed: %s", pg_msg(o->snd, r));
		pg_rollback(o->snd);
		return rc;
	}
	if (PQntuples(r) == 0)
		return pg_exec(o->snd, "COMMIT", PGRES_COMMAND_OK);

	struct claimed c = {
		.id = PQgetvalue(r, 0, 0),
		.receiver = PQgetvalue(r, 0, 1),
		.event = PQgetvalue(r, 0, 2),
		.dedup_key = PQgetvalue(r, 0, 3),
		.body = PQgetvalue(r, 0, 4),
		.attempts = (int)strtol(PQgetvalue(r, 0, 5), NULL, 10),
	};
	struct rstate *rs = rstate_of(o, c.receiver);
	if (!rs || breaker_allow(rs->b) < 0) {
		pg_rollback(o->snd);
		return 0;
	}
	const struct receiver *rcv = rs->r;

	buf_reset(&o->body);
	rc = receiver_finish_body(rcv, c.body, strlen(c.body), &o->body);
	if (rc < 0) {
		/* Only a stored body that is not an object: no retry helps. */
		breaker_failure(rs->b, -EINVAL);
		snprintf(err, sizeof(err), "stored body unusable: %s",
			 strerror(-rc));
		rc = record(o, &c, failed_sql, 0, 0, err, NULL);
		if (rc < 0)
			goto db_fail;
		count(o, &rs->failed);
		log_err("outbox", "notification id=%s receiver=%s failed: %s",
			c.id, rcv->name, err);
		return 1;
	}

	rc = http_post(o, rcv, o->body.data, o->body.len, &status, err,
		       sizeof(err));
	if (rc == -ECANCELED) {
		/* Stopping: the row stays pending for the next sender. */
		breaker_failure(rs->b, -ECANCELED);
		pg_rollback(o->snd);
		return 0;
	}
	clean_response(&o->resp, response, sizeof(response));
	enum receiver_verdict v =
	    rc < 0 ? RECEIVER_RETRY : receiver_verdict(status);
	if (rc == 0 && v != RECEIVER_DELIVERED)
		receiver_describe_response(status, o->resp.data, o->resp.len,
					   err, sizeof(err));

	switch (v) {
	case RECEIVER_DELIVERED:
		breaker_success(rs->b);
		rc = record(o, &c, sent_sql, status, 0, NULL, response);
		if (rc < 0)
			goto db_fail;
		count(o, &rs->sent);
		log_info("outbox",
			 "sent id=%s receiver=%s event=%s dedup_key=%s "
			 "status=%ld attempts=%d",
			 c.id, rcv->name, c.event, c.dedup_key, status,
			 c.attempts + 1);
		break;
	case RECEIVER_RETRY: {
		breaker_failure(rs->b, rc < 0 ? rc : -EIO);
		double d =
		    outbox_backoff((unsigned)c.attempts + 1, o->backoff_initial,
				   o->backoff_cap, randombytes_random());
		if (o->retry_after > d)
			d = o->retry_after < o->backoff_cap ? o->retry_after
							    : o->backoff_cap;
		rc = record(o, &c, retry_sql, status, d, err,
			    rc == 0 ? response : NULL);
		if (rc < 0)
			goto db_fail;
		count(o, &rs->retried);
		log_warn(
		    "outbox",
		    "retry id=%s receiver=%s event=%s attempts=%d in=%.1fs:"
		    " %s",
		    c.id, rcv->name, c.event, c.attempts + 1, d, err);
		break;
	}
	case RECEIVER_REJECTED:
		breaker_failure(rs->b, -EINVAL);
		rc = record(o, &c, failed_sql, status, 0, err, response);
		if (rc < 0)
			goto db_fail;
		count(o, &rs->failed);
		log_err("outbox",
			"failed id=%s receiver=%s event=%s dedup_key=%s, not "
			"retried: %s",
			c.id, rcv->name, c.event, c.dedup_key, err);
		break;
	}
	return 1;

db_fail:
	/* The answer is not recorded: the row stays pending and is sent
	 * again (at least once; PagerDuty folds it by dedup_key). */
	log_err("outbox",
		"cannot record the outcome of id=%s receiver=%s (it will be "
		"sent again): %s",
		c.id, rcv->name, PQerrorMessage(o->snd));
	pg_rollback(o->snd);
	return rc;
}

int outbox_deliver_due(struct outbox *o, unsigned max, unsigned *ret_attempted)
{
	unsigned n = 0;
	int rc = 0;

	if (!o)
		return -EINVAL;
	rc = snd_ready(o);
	while (rc == 0 && n < max && !atomic_load(&o->stopping)) {
		rc = deliver_one(o);
		if (rc <= 0)
			break;
		n++;
		rc = 0;
	}
	if (rc < 0)
		count(o, &o->db_errors);
	else
		rc = 0;
	if (ret_attempted)
		*ret_attempted = n;
	return rc;
}

/* Refresh the pending counts; sets *ret_next_s to the seconds until the
 * next retry falls due (HUGE_VAL when none is waiting). */
static int scan(struct outbox *o, double *ret_next_s)
{
	static const char sql[] =
	    "SELECT receiver, count(*),"
	    " extract(epoch FROM now() - min(created_at))::float8,"
	    " extract(epoch FROM min(next_attempt_at) FILTER"
	    "  (WHERE next_attempt_at > now()) - now())::float8"
	    " FROM notifications WHERE status = 'pending' GROUP BY receiver";
	_cleanup_pgresult_ PGresult *r = PQexec(o->snd, sql);
	uint64_t per[RECEIVER_MAX] = { 0 }, total = 0;
	double oldest = 0, next = HUGE_VAL;

	*ret_next_s = HUGE_VAL;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return pg_rc(o->snd, r);
	for (int i = 0; i < PQntuples(r); i++) {
		uint64_t k = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		double age = strtod(PQgetvalue(r, i, 2), NULL);
		total += k;
		if (age > oldest)
			oldest = age;
		if (!PQgetisnull(r, i, 3)) {
			double d = strtod(PQgetvalue(r, i, 3), NULL);
			if (d < next)
				next = d;
		}
		for (size_t j = 0; j < o->n; j++)
			if (!strcmp(o->rs[j].r->name, PQgetvalue(r, i, 0)))
				per[j] = k;
	}
	pthread_mutex_lock(&o->stats_lock);
	for (size_t j = 0; j < o->n; j++)
		o->rs[j].pending = per[j];
	o->pending_total = total;
	o->oldest_pending_s = oldest;
	pthread_mutex_unlock(&o->stats_lock);
	*ret_next_s = next < 0 ? 0 : next;
	return 0;
}

/* Sent and failed rows older than the retention go, once an hour. */
static void cleanup(struct outbox *o)
{
	int64_t now = time_real_ms();
	char secs[32];

	if (now - o->last_cleanup_ms < CLEANUP_EVERY_MS)
		return;
	o->last_cleanup_ms = now;
	snprintf(secs, sizeof(secs), "%.0f", o->retention);
	const char *p[] = { secs };
	_cleanup_pgresult_ PGresult *r = PQexecParams(
	    o->snd,
	    "DELETE FROM notifications WHERE status IN ('sent', 'failed')"
	    " AND created_at < now() - make_interval(secs => $1::float8)",
	    1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warn("outbox", "retention cleanup failed: %s",
			 pg_msg(o->snd, r));
	else if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("outbox", "retention: deleted %s old notifications",
			 PQcmdTuples(r));
}

/* Sleep up to seconds, or until woken by outbox_enqueue, a NOTIFY from
 * another replica, or outbox_free. */
static void wait_wake(struct outbox *o, double seconds)
{
	struct pollfd p[2] = { { .fd = o->efd, .events = POLLIN } };
	nfds_t n = 1;
	int ms = seconds > 3600 ? 3600 * 1000 : (int)ceil(seconds * 1000);

	if (o->snd && PQstatus(o->snd) == CONNECTION_OK &&
	    PQsocket(o->snd) >= 0) {
		p[1] =
		    (struct pollfd){ .fd = PQsocket(o->snd), .events = POLLIN };
		n = 2;
	}
	if (poll(p, n, ms < 0 ? 0 : ms) <= 0)
		return;
	if (p[0].revents) {
		uint64_t v;
		ssize_t rd = read(o->efd, &v, sizeof(v));
		(void)rd; /* EAGAIN: someone else drained it */
	}
	if (n == 2 && p[1].revents) {
		PGnotify *nt;
		PQconsumeInput(o->snd);
		while ((nt = PQnotifies(o->snd)))
			PQfreemem(nt);
	}
}

static void *sender_main(void *arg)
{
	struct outbox *o = arg;
	unsigned fails = 0;

	while (!atomic_load(&o->stopping)) {
		if (snd_ready(o) < 0) {
			count(o, &o->db_errors);
			double d =
			    fails < 5 ? (double)(1u << fails) : RECONNECT_MAX;
			fails++;
			wait_wake(o, d);
			continue;
		}
		fails = 0;
		unsigned n = 0;
		double next = HUGE_VAL;
		int rc = outbox_deliver_due(o, ROUND_MAX, &n);
		if (rc == 0)
			rc = scan(o, &next);
		if (rc == 0)
			cleanup(o);
		if (rc < 0) {
			pthread_mutex_lock(&o->stats_lock);
			o->db_connected = PQstatus(o->snd) == CONNECTION_OK;
			pthread_mutex_unlock(&o->stats_lock);
			wait_wake(o, o->poll_interval);
			continue;
		}
		if (n >= ROUND_MAX)
			continue;
		wait_wake(o, next < o->poll_interval ? next : o->poll_interval);
	}
	return NULL;
}

int outbox_start(struct outbox *o)
{
	if (!o)
		return -EINVAL;
	if (o->started)
		return -EALREADY;
	int rc = -pthread_create(&o->thread, NULL, sender_main, o);
	if (rc == 0)
		o->started = true;
	return rc;
}

void outbox_get_stats(struct outbox *o, struct outbox_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&o->stats_lock);
	ret->enqueued = o->enqueued;
	ret->enqueue_errors = o->enqueue_errors;
	ret->db_errors = o->db_errors;
	ret->pending = o->pending_total;
	ret->oldest_pending_s = o->oldest_pending_s;
	ret->db_connected = o->db_connected;
	ret->n = o->n;
	for (size_t i = 0; i < o->n; i++) {
		struct outbox_receiver_stats *s = &ret->r[i];
		snprintf(s->name, sizeof(s->name), "%s", o->rs[i].r->name);
		s->kind = o->rs[i].r->kind;
		s->pending = o->rs[i].pending;
		s->sent = o->rs[i].sent;
		s->retried = o->rs[i].retried;
		s->failed = o->rs[i].failed;
	}
	pthread_mutex_unlock(&o->stats_lock);
	/* Outside our lock: the breaker has its own. */
	for (size_t i = 0; i < o->n; i++) {
		struct breaker_stats bs;
		breaker_get_stats(o->rs[i].b, &bs);
		ret->r[i].breaker = bs.state;
		ret->r[i].breaker_opened = bs.opened;
	}
}
