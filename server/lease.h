/* A leader lease: of the server replicas that share one name, at most one
 * leads, so that duties that must not run twice (alert evaluation and
 * delivery, recovery, chaos) run on that one (DESIGN sections 6, 10).
 *
 * Two locks make it, each with its own failure:
 *   Redis       the key acgs:lease:<name> holds the holder's id with a
 *               ttl: taken with SET NX PX, renewed and released by Lua
 *               scripts that first check the value is ours.
 *   PostgreSQL  a session-level advisory lock on lease_pg_key(name),
 *               taken with pg_try_advisory_lock on a dedicated connection
 *               (never the blocking pg_advisory_lock).
 *
 * The rule: a replica leads only while it holds the PostgreSQL lock, except
 * when PostgreSQL is unreachable to it and it holds the Redis lease.
 *   - Without Redis, the PostgreSQL lock alone decides.
 *   - With Redis, only the Redis holder tries the PostgreSQL lock. If
 *     another replica has it (a fallback leader, below), the Redis holder
 *     keeps its Redis lease and does not lead yet; it tries again at each
 *     refresh.
 *   - Fallback: a replica that has not reached Redis for longer than ttl
 *     may lead by the PostgreSQL lock alone. A replica that holds the
 *     PostgreSQL lock when Redis goes away keeps it and keeps leading.
 *     When Redis answers again, the fallback leader must win the Redis
 *     lease at that refresh or release the PostgreSQL lock and step down.
 * Leadership is assumed locally only until the time its last confirmation
 * (Redis renew, PostgreSQL query) was sent plus ttl minus ttl/5, so a slow
 * reply never extends it; Redis expires the key ttl after it received the
 * command, and PostgreSQL ends a session idle for ttl
 * (idle_session_timeout), so a replica that stops refreshing has stopped
 * leading before another can take either lock.
 *
 * Not covered: a partition where replica A reaches Redis but not
 * PostgreSQL while replica B reaches PostgreSQL but not Redis lets both lead
 * (A by the Redis lease, B by the fallback) until one of them reconnects.
 * A PostgreSQL restart or a terminated backend frees the lock at once while
 * its holder learns it at its next refresh (at most ttl/3 later).
 *
 * One struct lease is used by one thread at a time. Nothing connects before
 * the first lease_refresh. hiredis writes with write(2): the process must
 * ignore SIGPIPE (sigfd_block does). Host names are resolved by a blocking
 * getaddrinfo, outside the timeout: give addresses where that matters. */
#ifndef ACGS_LEASE_H
#define ACGS_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lease;

/* Longest holder id and lease name, in bytes. A name is made of
 * [A-Za-z0-9._-]. */
#define LEASE_HOLDER_MAX 255
#define LEASE_NAME_MAX	 128

#define LEASE_DEFAULT_TTL     10.0
#define LEASE_DEFAULT_TIMEOUT 1.0

struct lease_options {
	/* redis://[:password@]host[:port][/db] or unix:///path; NULL or ""
	 * runs on the PostgreSQL lock alone. */
	const char *redis_url;
	/* libpq conninfo (key=value or a postgresql:// URI); required. Its own
	 * settings win over ours (connect_timeout, application_name). */
	const char *conninfo;
	const char *name;   /* the lease, e.g. "alerts" */
	const char *holder; /* this replica's id, unique among replicas */
	/* Seconds; 0 = LEASE_DEFAULT_TTL. At least 0.1. */
	double ttl;
	/* Seconds allowed to each of the Redis and PostgreSQL steps of a
	 * refresh (connect included); 0 = the smaller of
	 * LEASE_DEFAULT_TIMEOUT and ttl/4. At most ttl/4, so that a refresh
	 * (two steps) ends well inside the lease. */
	double timeout;
};

/* Validate the options and allocate; does not connect. Returns 0, -EINVAL
 * for bad options (a bad Redis URL, an empty holder, a name outside
 * [A-Za-z0-9._-], ttl or timeout out of range) or -ENOMEM. The caller
 * frees *ret with lease_free. */
int lease_new(const struct lease_options *opt, struct lease **ret);

/* Release (lease_release) and free; lease_free(NULL) is a no-op. Returns
 * NULL. */
struct lease *lease_free(struct lease *l);

/* The PostgreSQL advisory lock key of a lease name: FNV-1a 64 of
 * "acgs:lease:<name>", as a signed bigint. Stable across versions, so an
 * operator can find the holder in pg_locks (docs/alerts.md). */
int64_t lease_pg_key(const char *name);

/* Try to take or keep the lease. now_ms is a monotonic clock in ms (the
 * same for every call on l, e.g. time_mono_ns() / 1000000). Blocks at most
 * about two timeouts (a Redis step, a PostgreSQL step). Returns 1 when
 * this replica leads after the call, 0 when not; never an error: failed
 * calls are counted in the stats and described by lease_last_error(). Call
 * it again at lease_next_refresh_ms(). */
int lease_refresh(struct lease *l, int64_t now_ms);

/* When to call lease_refresh next: ttl/3 after the last refresh began (0
 * before the first). Same clock as now_ms. */
int64_t lease_next_refresh_ms(const struct lease *l);

/* Whether this replica leads at now_ms: it led after the last refresh and
 * that refresh's confirmation has not lapsed (ttl - ttl/5 after the refresh
 * began). Check it before each unit of leader work; no I/O. */
bool lease_held(const struct lease *l, int64_t now_ms);

/* Give the lease up at once (SIGTERM), so another replica takes it at its
 * next refresh instead of after the ttl: unlock PostgreSQL, delete the
 * Redis key if it is still ours. Each step is bounded by the timeout; a
 * step that fails leaves that lock to expire (Redis) or to end with the
 * session (PostgreSQL). A later lease_refresh may lead again. */
void lease_release(struct lease *l);

/* What leadership rests on (a static string): "postgres" without Redis;
 * "postgres-fallback" when Redis is configured but unreachable and this
 * replica leads, or may try to lead, by the PostgreSQL lock alone;
 * "redis" otherwise. */
const char *lease_backend(const struct lease *l);

/* Copy into out (len bytes, NUL-terminated) the holder id that Redis
 * showed at the last refresh; "" when unknown (no Redis, Redis
 * unreachable, nobody holds it). Returns 0, or -ENOBUFS when out was too
 * small (out then holds the truncated id). */
int lease_holder(const struct lease *l, char *out, size_t len);

/* The last failure, "redis: ..." or "postgres: ...", for the caller's log
 * line; "" when none yet. Valid until the next call on l. */
const char *lease_last_error(const struct lease *l);

struct lease_stats {
	bool leading;	   /* as of the last refresh */
	bool redis_up;	   /* the last Redis step succeeded */
	bool pg_up;	   /* the last PostgreSQL step succeeded */
	uint64_t acquired; /* times this replica started leading */
	uint64_t lost;	   /* times it stopped, other than by lease_release */
	uint64_t released; /* lease_release calls that ended leadership */
	uint64_t errors;   /* failed Redis or PostgreSQL calls */
};
void lease_get_stats(const struct lease *l, struct lease_stats *ret);

#endif
