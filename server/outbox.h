/* The notification outbox: a delivery queue persisted in PostgreSQL (table
 * notifications, migration 0004) and a sender thread that POSTs each row to
 * its receiver with libcurl.
 *
 * - outbox_enqueue() returns only once the row is committed: a queued
 *   notification survives a restart, and pending rows are picked up by
 *   whichever replica runs a sender next.
 * - The sender claims one due row at a time with SELECT ... FOR UPDATE SKIP
 *   LOCKED, sends it while holding the row lock and records the outcome in
 *   the same transaction: two senders (replicas) never send one row at the
 *   same time. If a sender dies between the receiver's answer and the
 *   commit, the row is sent again: delivery is at least once, and the
 *   PagerDuty dedup_key makes a repeat land in the same incident.
 * - A row waits while an older pending row has the same receiver and
 *   dedup_key, so a resolve never overtakes its trigger.
 * - 2xx: sent. 429, 5xx, timeouts and network errors: retried after a capped
 *   exponential backoff with full jitter (at least the receiver's
 *   Retry-After). Any other status: failed, never retried, its body kept
 *   (4 KiB). A circuit breaker per receiver: while open, that receiver's
 *   due rows wait without being attempted.
 *
 * The outbox keeps its own two libpq connections (one for enqueue, behind a
 * mutex; one for the sender thread), so it shares nothing with the store.
 * It does not migrate: run store_migrate() first. */
#ifndef ACGS_OUTBOX_H
#define ACGS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "receiver.h"

/* Of a receiver's answer, what notifications.last_response keeps. */
#define OUTBOX_RESPONSE_MAX 4096
/* Largest body accepted by outbox_enqueue(). */
#define OUTBOX_BODY_MAX RECEIVER_PD_EVENT_MAX

#define OUTBOX_DEFAULT_BACKOFF_INITIAL 1.0
#define OUTBOX_DEFAULT_BACKOFF_CAP     300.0
#define OUTBOX_DEFAULT_POLL_INTERVAL   1.0
#define OUTBOX_DEFAULT_RETENTION       (30 * 86400.0)

struct outbox;

struct outbox_options {
	/* libpq conninfo, as [postgres] conninfo. Required. */
	const char *conninfo;
	/* The receivers rows are sent to. Required; borrowed: it must
	 * outlive the outbox. Rows naming a receiver not in it stay pending
	 * (another replica may know it). */
	const struct receiver_set *receivers;
	/* Recorded in notifications.sent_by; NULL: "acgs-server". */
	const char *replica;
	/* Seconds between scans while idle; 0 = 1. Rows enqueued by any
	 * replica also wake the sender at once (LISTEN/NOTIFY). */
	double poll_interval;
	/* Backoff before retry n (n from 1): uniform in [0, min(cap,
	 * initial * 2^(n-1))] seconds; 0 = 1 s and 300 s. */
	double backoff_initial, backoff_cap;
	/* Per receiver breaker; 0 = the breaker's defaults (5, 30 s). */
	unsigned breaker_fail_max;
	double breaker_reset_timeout;
	/* Seconds sent and failed rows are kept; 0 = 30 days. */
	double retention;
};

/* Create an outbox (not connected yet: connections are made on first use
 * and re-made after a failure, so a database that is down at start delays
 * delivery but not the server). Returns 0 and *ret (free with outbox_free),
 * -EINVAL (options), -ENOMEM. */
int outbox_new(const struct outbox_options *opt, struct outbox **ret);

/* Start the sender thread. Returns 0, -EALREADY, or a negative errno from
 * pthread_create. Without it, outbox_deliver_due() sends on demand. */
int outbox_start(struct outbox *o);

/* Stop the sender (a request in flight is aborted and its row stays
 * pending), close the connections and free. NULL is a no-op; returns
 * NULL. */
struct outbox *outbox_free(struct outbox *o);

struct outbox_item {
	const char *receiver;  /* a name in the receiver set; required */
	const char *dedup_key; /* required */
	const char *event;     /* "trigger" or "resolve" */
	const char *body;      /* JSON text, body_len bytes, no secrets */
	size_t body_len;
	/* Optional: a repeated enqueue with the same receiver and idem_key
	 * writes nothing and returns the first row's id. */
	const char *idem_key;
};

/* Write one notification, committed before returning. Callable from any
 * thread. Sets *ret_id (may be NULL). Returns 1 when a row was written, 0
 * when idem_key matched an existing row, or a negative errno: -ENOENT
 * (unknown receiver), -EINVAL (bad event, empty dedup_key, body not JSON),
 * -E2BIG (body over OUTBOX_BODY_MAX), -ECONNREFUSED / -ECONNRESET (the
 * database is unreachable: nothing was written, or the outcome is unknown
 * when the connection broke during the call; enqueue again, with an
 * idem_key to make that safe), -EIO. */
int outbox_enqueue(struct outbox *o, const struct outbox_item *item,
		   int64_t *ret_id);

/* Build the body for the receiver called receiver (receiver_build) and
 * enqueue it. Returns as outbox_enqueue(). */
int outbox_enqueue_alert(struct outbox *o, const char *receiver,
			 const struct receiver_alert *a, int64_t now_ms,
			 const char *idem_key, int64_t *ret_id);

/* Attempt up to max due rows now, on the calling thread (tests, tools;
 * never while the sender thread runs). Sets *ret_attempted (may be NULL).
 * Returns 0 or a negative errno from the database. */
int outbox_deliver_due(struct outbox *o, unsigned max, unsigned *ret_attempted);

/* The delay before retry number attempt (1 for the first retry): full
 * jitter over a capped exponential, uniform in [0, min(cap, initial *
 * 2^(attempt-1))], rnd drawing the point (0 to UINT32_MAX). attempt 0 is
 * taken as 1. */
double outbox_backoff(unsigned attempt, double initial, double cap,
		      uint32_t rnd);

struct outbox_receiver_stats {
	char name[RECEIVER_NAME_MAX + 1];
	enum receiver_kind kind;
	uint64_t pending;	 /* rows pending in the database, last scan */
	uint64_t sent;		 /* delivered (2xx) by this process */
	uint64_t retried;	 /* attempts that failed and will be retried */
	uint64_t failed;	 /* rows refused for good (4xx but 429) */
	uint64_t breaker_opened; /* transitions to open */
	enum breaker_state breaker;
};

struct outbox_stats {
	uint64_t enqueued;	 /* rows written by outbox_enqueue */
	uint64_t enqueue_errors; /* outbox_enqueue calls that failed */
	uint64_t db_errors;	 /* sender-side database failures */
	uint64_t pending;	 /* pending rows, every receiver, last scan */
	/* age of the oldest pending row at the last scan; 0 when none */
	double oldest_pending_s;
	bool db_connected; /* the sender's connection */
	size_t n;
	struct outbox_receiver_stats r[RECEIVER_MAX]; /* set order */
};

/* A snapshot of the counters (safe from any thread, e.g. /metrics). */
void outbox_get_stats(struct outbox *o, struct outbox_stats *ret);

#endif
