/* Hot state in Redis: the latest state, score and sample of every node as
 * one hash per node, shared by the server replicas (DESIGN sections 6, 10).
 *
 *   acgs:node:<id>  hash: ts (sample time, ms), boot_id, seq, score,
 *                   components (JSON), sample (JSON) and sample_ts (its
 *                   ts; the sample is sent less often than the rest),
 *                   labels (JSON),
 *                   state, conn, last_seen (ms), replica (last writer)
 *   acgs:nodes      sorted set: node ids by the time (ms) of their last
 *                   update, so a replica reads only what changed
 *
 * Writes are guarded in a Lua script, so that replicas writing the same node
 * in any order converge: the sample fields only move forward in sample time,
 * the state fields only forward in connection number (a late will cannot
 * mark a reconnected node offline).
 *
 * All Redis I/O runs on the module's own thread, behind a circuit breaker:
 * the main loop hands over updates and takes back other replicas' updates
 * without ever waiting for Redis. When Redis is down, updates are coalesced
 * per node (the newest wins) and written when it returns. */
#ifndef ACGS_HOTSTATE_H
#define ACGS_HOTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "metrics.h"

struct hotstate;

/* One node's record, as pushed and as pulled. Strings are owned by the
 * record (free with hot_node_release). */
struct hot_node {
	char *id;
	int64_t ts_ms; /* the sample's ts; -1 when there is no sample */
	char *boot_id;
	uint64_t seq;
	double score;			    /* NaN: none */
	char *components, *sample, *labels; /* JSON or NULL */
	char *state;			    /* "online", "offline" or NULL */
	int64_t conn;			    /* -1: unknown */
	int64_t last_seen_ms;
	char *replica; /* pulled records: the replica that wrote it */
	/* Pulled records: the ts of the sample field (which may be older
	 * than ts: pushes carry a sample only every sample_interval). */
	int64_t sample_ts_ms;
};

void hot_node_release(struct hot_node *n);

struct hotstate_options {
	const char *url;     /* redis://[:password@]host[:port][/db] or
				unix:///path */
	const char *replica; /* this replica's id, written with each update */
	double timeout;	     /* seconds for connect and each reply; 0 = 1 */
	/* Most nodes buffered while Redis is away; 0 = 100000. Past it the
	 * newest updates of nodes not yet buffered are dropped (counted). */
	size_t max_pending;
	/* Breaker options other than the name ("redis"); NULL = defaults. */
	const struct breaker_options *breaker;
	/* A histogram observing each write+read cycle, in seconds; may be
	 * NULL. */
	struct metric_series *latency;
};

/* Parse a Redis URL. Sets host (or the socket path for unix://), port,
 * db and password (NULL when absent) into caller buffers. Returns 0 or
 * -EINVAL. */
struct hot_url {
	char host[256];
	unsigned port;
	bool unix_socket;
	unsigned db;
	char password[256];
	bool has_password;
};
int hotstate_parse_url(const char *url, struct hot_url *ret);

/* Start the thread (it connects in the background). Returns 0, -EINVAL for
 * a bad URL or options, -ENOMEM, or pthread's error. */
int hotstate_new(const struct hotstate_options *opt, struct hotstate **ret);

/* Flush what is pending (waiting up to the timeout when Redis answers),
 * stop the thread and free. Returns NULL. */
struct hotstate *hotstate_free(struct hotstate *h);

/* Hand over an update; *n is moved (left zeroed). An update for a node
 * already pending replaces it. Returns 0, or -ENOBUFS when max_pending
 * nodes are waiting (the record is released and counted). Never blocks on
 * Redis. Nothing is written before hotstate_kick(). */
int hotstate_push(struct hotstate *h, struct hot_node *n);

/* Write what was pushed now (the main loop calls it once per batch, so
 * that one pipeline carries many nodes). */
void hotstate_kick(struct hotstate *h);

/* Take the records other replicas wrote since the previous call, read by
 * the thread about once a second. Sets *ret (free each with
 * hot_node_release, then free the array) and returns how many. */
size_t hotstate_take(struct hotstate *h, struct hot_node **ret);

struct hotstate_stats {
	bool connected;	     /* the last command got a reply */
	uint64_t written;    /* node updates written */
	uint64_t skipped;    /* updates the guard found older than Redis's */
	uint64_t pulled;     /* other replicas' records read */
	uint64_t dropped;    /* updates dropped at max_pending */
	uint64_t errors;     /* failed commands or connects */
	size_t pending;	     /* nodes waiting to be written */
	double last_cycle_s; /* duration of the last write+read cycle */
	enum breaker_state breaker;
};
void hotstate_get_stats(struct hotstate *h, struct hotstate_stats *ret);

/* The breaker, for /metrics (lives as long as h). */
struct breaker *hotstate_breaker(struct hotstate *h);

#endif
