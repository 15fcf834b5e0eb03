/* Leader lease on Redis and a PostgreSQL advisory lock: see lease.h. */
#include "config.h"

#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hotstate.h"
#include "timeutil.h"

#define KEY_PREFIX "acgs:lease:"

/* KEYS[1] the lease, ARGV[1] our id, ARGV[2] the ttl in ms. Returns 1
 * when the key was ours and got its ttl back, else the current value (nil
 * when nobody holds it), so one round trip also says who holds it. */
static const char renew_script[] = "local v = redis.call('GET', KEYS[1])\n"
				   "if v == ARGV[1] then\n"
				   "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
				   "  return 1\n"
				   "end\n"
				   "return v\n";

/* KEYS[1] the lease, ARGV[1] our id: delete the key only while it is ours
 * (it may have expired and been taken since). */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

/* What the PostgreSQL step found. */
enum pg_state {
	PG_IDLE,   /* not tried: this replica need not hold the lock */
	PG_LOCKED, /* this session holds the lock */
	PG_BUSY,   /* another session holds it */
	PG_DOWN,   /* unreachable or failed */
};

struct lease {
	struct hot_url url;
	bool use_redis;
	char *conninfo, *holder;
	char key[sizeof(KEY_PREFIX) + LEASE_NAME_MAX];
	char pg_key[24];	  /* the advisory lock key as text */
	char ttl_ms_s[24];	  /* PX and PEXPIRE argument */
	char idle_ms_s[24];	  /* idle_session_timeout */
	char app_name[64];	  /* application_name: acgs-lease:<holder> */
	int64_t ttl_ms, valid_ms; /* ttl, and ttl - ttl/5 */
	uint64_t timeout_ns;

	redisContext *rc;
	bool redis_held; /* Redis last showed our id (or we could not tell) */
	int64_t redis_until; /* local validity of the Redis lease */
	bool redis_ok;
	bool redis_failing;
	int64_t redis_down_since; /* first failure of the current outage */
	char redis_holder[LEASE_HOLDER_MAX + 1];

	PGconn *pg;
	bool pg_locked;
	bool pg_ok;

	bool refreshed;
	int64_t last_refresh;
	bool leading;
	int64_t lead_until;
	const char *backend;
	char err[512];
	struct lease_stats stats;
};

/* ---- helpers ---- */

static void set_error(struct lease *l, const char *who, const char *msg)
{
	size_t n;

	snprintf(l->err, sizeof(l->err), "%s: %s", who,
		 msg && *msg ? msg : "failed");
	/* libpq's messages span lines ("\n\tIs the server running...") and
	 * end with a newline; the caller's log line wants one line. */
	for (char *p = l->err; *p; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	n = strlen(l->err);
	while (n > 0 && l->err[n - 1] == ' ')
		l->err[--n] = '\0';
	l->stats.errors++;
}

static bool valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return n > 0 && n <= LEASE_NAME_MAX;
}

int64_t lease_pg_key(const char *name)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *s = KEY_PREFIX; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	/* Two's complement, as PostgreSQL's bigint sees the same bits. */
	return (int64_t)h;
}

/* Nanoseconds left before deadline; 0 when it has passed. */
static uint64_t left_ns(uint64_t deadline)
{
	uint64_t now = time_mono_ns();
	return now < deadline ? deadline - now : 0;
}

/* Wait until fd is ready for events or the deadline passes. Returns 0,
 * -ETIMEDOUT, or -EBADF for a closed socket. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	if (fd < 0)
		return -EBADF;
	for (;;) {
		uint64_t left = left_ns(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* ---- Redis ---- */

static void redis_drop(struct lease *l)
{
	if (l->rc)
		redisFree(l->rc);
	l->rc = NULL;
}

/* The time left as a socket timeout; never zero, which hiredis takes for
 * "no timeout". */
static struct timeval left_tv(uint64_t deadline)
{
	uint64_t left = left_ns(deadline);
	if (left < 1000000)
		left = 1000000;
	return (struct timeval){ .tv_sec = (time_t)(left / 1000000000ull),
				 .tv_usec = (suseconds_t)(left % 1000000000ull /
							  1000) };
}

/* A failed Redis call: note it and drop the connection (its state is
 * unknown after a timeout). Returns -EIO. */
static int redis_fail(struct lease *l, const redisReply *r)
{
	set_error(l, "redis",
		  r && r->type == REDIS_REPLY_ERROR ? r->str
		  : l->rc && l->rc->err		    ? l->rc->errstr
		  : l->rc			    ? "odd reply"
						    : "out of memory");
	redis_drop(l);
	return -EIO;
}

/* Run one command with the time left. Sets *ret (free it) and returns 0,
 * or -EIO (the connection is dropped). */
static int redis_run(struct lease *l, uint64_t deadline, int argc,
		     const char **argv, redisReply **ret)
{
	if (left_ns(deadline) == 0) {
		set_error(l, "redis", "timed out");
		redis_drop(l);
		return -EIO;
	}
	if (redisSetTimeout(l->rc, left_tv(deadline)) != REDIS_OK)
		return redis_fail(l, NULL);
	redisReply *r = redisCommandArgv(l->rc, argc, argv, NULL);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		int rc = redis_fail(l, r);
		if (r)
			freeReplyObject(r);
		return rc;
	}
	*ret = r;
	return 0;
}

static int redis_connect(struct lease *l, uint64_t deadline)
{
	redisReply *r = NULL;
	char db[16];
	int rc;

	l->rc =
	    l->url.unix_socket
		? redisConnectUnixWithTimeout(l->url.host, left_tv(deadline))
		: redisConnectWithTimeout(l->url.host, (int)l->url.port,
					  left_tv(deadline));
	if (!l->rc || l->rc->err) {
		rc = redis_fail(l, NULL);
		goto out;
	}
	/* hiredis makes its socket without O_CLOEXEC. */
	fcntl(l->rc->fd, F_SETFD, FD_CLOEXEC);
	if (l->url.has_password) {
		const char *auth[] = { "AUTH", l->url.password };
		rc = redis_run(l, deadline, 2, auth, &r);
		if (rc < 0)
			goto out;
		freeReplyObject(r);
		r = NULL;
	}
	snprintf(db, sizeof(db), "%u", l->url.db);
	const char *sel[] = { "SELECT", db };
	rc = redis_run(l, deadline, 2, sel, &r);
out:
	if (r)
		freeReplyObject(r);
	return rc;
}

/* Note who Redis says holds the lease (a string, or nil for nobody). */
static void note_holder(struct lease *l, const redisReply *r)
{
	size_t n = 0;

	if (r->type == REDIS_REPLY_STRING) {
		n = r->len < LEASE_HOLDER_MAX ? r->len : LEASE_HOLDER_MAX;
		memcpy(l->redis_holder, r->str, n);
	}
	l->redis_holder[n] = '\0';
}

static void mark_ours(struct lease *l, int64_t now_ms)
{
	l->redis_held = true;
	/* now_ms is no later than the command was sent: the lease is never
	 * assumed past its expiry in Redis, however slow the reply. */
	l->redis_until = now_ms + l->valid_ms;
	snprintf(l->redis_holder, sizeof(l->redis_holder), "%s", l->holder);
}

/* Renew with the script. Returns 1 when the key was ours (renewed), 0 when
 * not (redis_holder tells who has it), or -EIO. */
static int redis_renew(struct lease *l, int64_t now_ms, uint64_t deadline)
{
	const char *argv[] = { "EVAL", renew_script, "1",
			       l->key, l->holder,    l->ttl_ms_s };
	redisReply *r = NULL;
	int rc = redis_run(l, deadline, ARRAY_SIZE(argv), argv, &r);

	if (rc < 0)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		mark_ours(l, now_ms);
		rc = 1;
	} else if (r->type == REDIS_REPLY_STRING ||
		   r->type == REDIS_REPLY_NIL) {
		l->redis_held = false;
		note_holder(l, r);
		rc = 0;
	} else {
		rc = redis_fail(l, r);
	}
	freeReplyObject(r);
	return rc;
}

/* SET NX PX, with a GET in the same round trip to learn the holder when
 * the SET finds the key taken. Returns 1 when we hold it, 0 when not, or
 * -EIO. */
static int redis_acquire(struct lease *l, int64_t now_ms, uint64_t deadline)
{
	const char *set[] = {
		"SET", l->key, l->holder, "NX", "PX", l->ttl_ms_s
	};
	const char *get[] = { "GET", l->key };
	void *rp[2] = { NULL, NULL };
	int rc = -EIO;

	if (redisSetTimeout(l->rc, left_tv(deadline)) != REDIS_OK ||
	    redisAppendCommandArgv(l->rc, ARRAY_SIZE(set), set, NULL) !=
		REDIS_OK ||
	    redisAppendCommandArgv(l->rc, ARRAY_SIZE(get), get, NULL) !=
		REDIS_OK ||
	    redisGetReply(l->rc, &rp[0]) != REDIS_OK ||
	    redisGetReply(l->rc, &rp[1]) != REDIS_OK) {
		rc = redis_fail(l, NULL);
		goto out;
	}
	redisReply *s = rp[0], *g = rp[1];
	if (s->type == REDIS_REPLY_STATUS) {
		mark_ours(l, now_ms);
		rc = 1;
	} else if (s->type == REDIS_REPLY_NIL &&
		   (g->type == REDIS_REPLY_STRING ||
		    g->type == REDIS_REPLY_NIL)) {
		note_holder(l, g);
		rc = 0;
		/* Our own id: a renew whose reply was lost, or this replica
		 * restarted within the ttl. The key is ours; extend it. */
		if (strcmp(l->redis_holder, l->holder) == 0)
			rc = redis_renew(l, now_ms, deadline);
	} else {
		rc = redis_fail(l, s->type == REDIS_REPLY_ERROR ? s : g);
	}
out:
	for (size_t i = 0; i < 2; i++)
		if (rp[i])
			freeReplyObject(rp[i]);
	return rc;
}

/* The Redis step of a refresh: renew the lease if we hold it, else try to
 * take it. Returns 0 (redis_held says the outcome) or -EIO. */
static int redis_step(struct lease *l, int64_t now_ms, uint64_t deadline)
{
	int rc = 0;

	if (!l->rc)
		rc = redis_connect(l, deadline);
	if (rc == 0 && l->redis_held) {
		rc = redis_renew(l, now_ms, deadline);
		/* Renewed, failed, or another replica holds it; only a
		 * key that expired is worth a SET. */
		if (rc != 0 || l->redis_holder[0] != '\0')
			return rc < 0 ? rc : 0;
	}
	if (rc == 0)
		rc = redis_acquire(l, now_ms, deadline);
	return rc < 0 ? rc : 0;
}

/* ---- PostgreSQL ---- */

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_drop(struct lease *l)
{
	if (l->pg)
		PQfinish(l->pg);
	l->pg = NULL;
	/* The server ends the session and with it the lock. */
	l->pg_locked = false;
}

static int pg_fail(struct lease *l, const char *msg)
{
	set_error(l, "postgres",
		  msg ? msg
		      : (l->pg ? PQerrorMessage(l->pg) : "no connection"));
	pg_drop(l);
	return -EIO;
}

/* Run one single-row, single-column query with at most one text parameter,
 * without blocking past deadline. Sets *ret to whether the value is true
 * ("t") when ret is not NULL. Returns 0 or -EIO (the connection is then
 * dropped: a query cut short leaves it in an unknown state). */
static int pg_query(struct lease *l, const char *sql, const char *param,
		    uint64_t deadline, bool *ret)
{
	PGresult *first = NULL, *res;
	int rc = -EIO, f;

	if (!PQsendQueryParams(l->pg, sql, param ? 1 : 0, NULL, &param, NULL,
			       NULL, 0)) {
		rc = pg_fail(l, NULL);
		goto out;
	}
	while ((f = PQflush(l->pg)) != 0) {
		if (f < 0 ||
		    wait_fd(PQsocket(l->pg), POLLOUT | POLLIN, deadline) < 0 ||
		    !PQconsumeInput(l->pg)) {
			rc = pg_fail(l, f < 0 ? NULL : "timed out");
			goto out;
		}
	}
	for (;;) {
		while (!PQisBusy(l->pg)) {
			res = PQgetResult(l->pg);
			if (!res)
				goto done;
			if (!first)
				first = res;
			else
				PQclear(res);
		}
		if (wait_fd(PQsocket(l->pg), POLLIN, deadline) < 0) {
			rc = pg_fail(l, "timed out");
			goto out;
		}
		if (!PQconsumeInput(l->pg)) {
			rc = pg_fail(l, NULL);
			goto out;
		}
	}
done:
	if (PQresultStatus(first) != PGRES_TUPLES_OK || PQntuples(first) != 1 ||
	    PQnfields(first) != 1) {
		rc = pg_fail(l, first ? PQresultErrorMessage(first) : NULL);
		goto out;
	}
	if (ret)
		*ret = strcmp(PQgetvalue(first, 0, 0), "t") == 0;
	rc = 0;
out:
	PQclear(first);
	return rc;
}

/* Connect without blocking past deadline (libpq's own connect_timeout is
 * whole seconds and at least 2). Host names are still resolved by a
 * blocking getaddrinfo: use addresses where that matters. */
static int pg_connect(struct lease *l, uint64_t deadline)
{
	const char *const keys[] = { "application_name", "dbname", NULL };
	const char *const vals[] = { l->app_name, l->conninfo, NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	l->pg = PQconnectStartParams(keys, vals, 1);
	if (!l->pg)
		return pg_fail(l, "out of memory");
	if (PQstatus(l->pg) == CONNECTION_BAD)
		return pg_fail(l, NULL);
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			return pg_fail(l, NULL);
		if (wait_fd(PQsocket(l->pg),
			    st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
			    deadline) < 0)
			return pg_fail(l, "connect timed out");
		st = PQconnectPoll(l->pg);
	}
	/* libpq marks its socket close-on-exec; make sure of it. */
	fcntl(PQsocket(l->pg), F_SETFD, FD_CLOEXEC);
	PQsetNoticeProcessor(l->pg, quiet_notices, NULL);
	if (PQsetnonblocking(l->pg, 1) != 0)
		return pg_fail(l, NULL);
	/* A holder that stops talking (hung, cut off) loses the lock ttl
	 * later, when it has stopped leading on its own (ttl - ttl/5). */
	/* Through pg_settings so that a server without the setting (before
	 * 14) is still usable: zero rows, nothing set. */
	return pg_query(l,
			"SELECT count(set_config(name, $1, false)) > 0 "
			"FROM pg_settings WHERE name = 'idle_session_timeout'",
			l->idle_ms_s, deadline, NULL);
}

/* Check the held lock's session (the lock lives as long as it does). */
static int pg_check(struct lease *l, uint64_t deadline)
{
	return pg_query(l, "SELECT true", NULL, deadline, NULL);
}

/* Returns PG_LOCKED, PG_BUSY or PG_DOWN. */
static enum pg_state pg_try(struct lease *l, uint64_t deadline)
{
	bool got = false;

	if (!l->pg && pg_connect(l, deadline) < 0)
		return PG_DOWN;
	/* Only when not held: a second try would stack a second lock. */
	if (pg_query(l, "SELECT pg_try_advisory_lock($1::bigint)", l->pg_key,
		     deadline, &got) < 0)
		return PG_DOWN;
	l->pg_locked = got;
	return got ? PG_LOCKED : PG_BUSY;
}

/* Give the lock up; a failed unlock drops the session, which frees it. */
static void pg_unlock(struct lease *l, uint64_t deadline)
{
	bool was = false;

	if (!l->pg_locked)
		return;
	if (pg_query(l, "SELECT pg_advisory_unlock($1::bigint)", l->pg_key,
		     deadline, &was) == 0)
		l->pg_locked = false;
}

/* The PostgreSQL step: keep the lock (checking its session), take it when
 * want, or give it up when not. */
static enum pg_state pg_step(struct lease *l, bool want, uint64_t deadline)
{
	if (!want) {
		pg_unlock(l, deadline);
		/* A follower has no use for the session; an idle one would
		 * only be ended by idle_session_timeout. */
		pg_drop(l);
		return PG_IDLE;
	}
	if (l->pg_locked) {
		if (pg_check(l, deadline) == 0)
			return PG_LOCKED;
		/* The session broke and the lock with it: take it again on
		 * a new session if the server is back, and the check did not
		 * use up the time (a server that does not answer). */
		if (left_ns(deadline) == 0)
			return PG_DOWN;
	}
	return pg_try(l, deadline);
}

/* ---- the lease ---- */

int lease_new(const struct lease_options *opt, struct lease **ret)
{
	struct lease *l = NULL;
	double ttl, timeout;
	int rc = -EINVAL;

	if (!opt || !ret || !opt->conninfo || !*opt->conninfo || !opt->name ||
	    !valid_name(opt->name) || !opt->holder || !*opt->holder ||
	    strlen(opt->holder) > LEASE_HOLDER_MAX)
		goto out;
	ttl = opt->ttl > 0 ? opt->ttl : LEASE_DEFAULT_TTL;
	timeout = opt->timeout > 0		    ? opt->timeout
		  : ttl / 4 < LEASE_DEFAULT_TIMEOUT ? ttl / 4
						    : LEASE_DEFAULT_TIMEOUT;
	if (opt->ttl < 0 || opt->timeout < 0 || !(ttl >= 0.1) || ttl > 86400 ||
	    !(timeout <= ttl / 4) || timeout < 0.001)
		goto out;
	rc = -ENOMEM;
	l = calloc(1, sizeof(*l));
	if (!l)
		goto out;
	l->use_redis = opt->redis_url && *opt->redis_url;
	if (l->use_redis && hotstate_parse_url(opt->redis_url, &l->url) < 0) {
		rc = -EINVAL;
		goto out;
	}
	l->conninfo = strdup(opt->conninfo);
	l->holder = strdup(opt->holder);
	if (!l->conninfo || !l->holder)
		goto out;
	snprintf(l->key, sizeof(l->key), KEY_PREFIX "%s", opt->name);
	snprintf(l->pg_key, sizeof(l->pg_key), "%" PRId64,
		 lease_pg_key(opt->name));
	l->ttl_ms = (int64_t)(ttl * 1000.0 + 0.5);
	l->valid_ms = l->ttl_ms - l->ttl_ms / 5;
	l->timeout_ns = (uint64_t)(timeout * 1e9);
	snprintf(l->ttl_ms_s, sizeof(l->ttl_ms_s), "%" PRId64, l->ttl_ms);
	snprintf(l->idle_ms_s, sizeof(l->idle_ms_s), "%" PRId64, l->ttl_ms);
	/* PostgreSQL keeps 63 bytes of it; pg_stat_activity then shows which
	 * replica's session holds the lock. */
	snprintf(l->app_name, sizeof(l->app_name), "acgs-lease:%.51s",
		 opt->holder);
	l->backend = l->use_redis ? "redis" : "postgres";
	*ret = l;
	l = NULL;
	rc = 0;
out:
	lease_free(l);
	return rc;
}

struct lease *lease_free(struct lease *l)
{
	if (!l)
		return NULL;
	lease_release(l);
	redis_drop(l);
	pg_drop(l);
	free(l->conninfo);
	free(l->holder);
	free(l);
	return NULL;
}

/* Whether a replica that does not hold the PostgreSQL lock should try it:
 * always without Redis; with Redis only the Redis holder, or anyone once
 * Redis has been unreachable for longer than ttl (the fallback). */
static bool may_try_pg(const struct lease *l, int64_t now_ms)
{
	if (!l->use_redis)
		return true;
	if (l->redis_ok)
		return l->redis_held;
	if (l->redis_held && now_ms < l->redis_until)
		return true;
	return l->redis_failing && now_ms - l->redis_down_since > l->ttl_ms;
}

int lease_refresh(struct lease *l, int64_t now_ms)
{
	uint64_t t0 = time_mono_ns();
	enum pg_state pg;
	bool was = l->leading, lead = false, want;
	int64_t until = 0;

	l->refreshed = true;
	l->last_refresh = now_ms;
	if (l->use_redis) {
		l->redis_ok = redis_step(l, now_ms, t0 + l->timeout_ns) == 0;
		if (l->redis_ok) {
			l->redis_failing = false;
		} else {
			l->redis_holder[0] = '\0';
			if (!l->redis_failing)
				l->redis_down_since = now_ms;
			l->redis_failing = true;
		}
	}
	/* A holder of the PostgreSQL lock keeps it unless Redis answers and
	 * shows another holder: then it steps down (the fallback leader that
	 * did not win the Redis lease back). */
	want = l->pg_locked ? !(l->use_redis && l->redis_ok && !l->redis_held)
			    : may_try_pg(l, now_ms);
	pg = pg_step(l, want, time_mono_ns() + l->timeout_ns);
	l->pg_ok = pg != PG_DOWN;

	if (pg == PG_LOCKED) {
		lead = true;
		until = now_ms + l->valid_ms;
	} else if (pg == PG_DOWN && l->use_redis && l->redis_held) {
		/* PostgreSQL is unreachable to us: the Redis lease alone. */
		until = l->redis_until;
		lead = true;
	}
	/* However long the steps took, the lease must still be valid now. */
	int64_t now_end = now_ms + (int64_t)((time_mono_ns() - t0) / 1000000);
	if (lead && now_end >= until)
		lead = false;

	if (!l->use_redis)
		l->backend = "postgres";
	else if (!l->redis_ok &&
		 (l->pg_locked || now_ms - l->redis_down_since > l->ttl_ms))
		l->backend = "postgres-fallback";
	else
		l->backend = "redis";

	l->leading = lead;
	l->lead_until = lead ? until : 0;
	if (lead && !was)
		l->stats.acquired++;
	else if (!lead && was)
		l->stats.lost++;
	return lead ? 1 : 0;
}

int64_t lease_next_refresh_ms(const struct lease *l)
{
	if (!l->refreshed)
		return 0;
	int64_t every = l->ttl_ms / 3;
	return l->last_refresh + (every > 0 ? every : 1);
}

bool lease_held(const struct lease *l, int64_t now_ms)
{
	return l->leading && now_ms < l->lead_until;
}

void lease_release(struct lease *l)
{
	uint64_t deadline;

	if (!l)
		return;
	/* The PostgreSQL lock first: the Redis follower that takes the key
	 * next then finds the lock free too. */
	deadline = time_mono_ns() + l->timeout_ns;
	pg_unlock(l, deadline);
	if (l->use_redis && l->redis_held) {
		deadline = time_mono_ns() + l->timeout_ns;
		redisReply *r = NULL;
		const char *argv[] = { "EVAL", release_script, "1", l->key,
				       l->holder };
		if ((l->rc || redis_connect(l, deadline) == 0) &&
		    redis_run(l, deadline, ARRAY_SIZE(argv), argv, &r) == 0)
			freeReplyObject(r);
	}
	l->redis_held = false;
	l->redis_until = 0;
	if (l->leading)
		l->stats.released++;
	l->leading = false;
	l->lead_until = 0;
}

const char *lease_backend(const struct lease *l)
{
	return l->backend;
}

int lease_holder(const struct lease *l, char *out, size_t len)
{
	if (!out || len == 0)
		return -ENOBUFS;
	int n = snprintf(out, len, "%s", l->redis_holder);
	return (size_t)n >= len ? -ENOBUFS : 0;
}

const char *lease_last_error(const struct lease *l)
{
	return l->err;
}

void lease_get_stats(const struct lease *l, struct lease_stats *ret)
{
	*ret = l->stats;
	ret->leading = l->leading;
	ret->redis_up = l->use_redis && l->redis_ok;
	ret->pg_up = l->pg_ok;
}
