/* PostgreSQL storage of the server (libpq): schema migrations, batched
 * writes of samples, probe results and scores, nodes, rejected messages, API
 * tokens, history reads, rollups and retention.
 *
 * One struct store is one connection, used by one thread at a time. Every
 * function returns a negative errno on failure, translated from libpq:
 *   -ENOTCONN    the connection was already down (call store_reconnect)
 *   -ECONNRESET  it broke during the call (server gone, backend terminated)
 *   -EINVAL      rejected data (constraint, bad JSON, NULL key, bad argument)
 *   -ETIMEDOUT   statement timeout or cancel; -EAGAIN serialization/deadlock
 *   -EEXIST      a unique key already stored (tokens)
 *   -ENOSPC, -ENOMEM  the server is out of disk or memory; -EIO anything else
 * Every value reaches the server as a query parameter or as COPY data,
 * never spliced into SQL text. */
#ifndef ACGS_STORE_H
#define ACGS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Connect with a libpq conninfo string ("host=... dbname=..." or a
 * postgresql:// URI); the conninfo's own settings win over our defaults
 * (connect_timeout 10 s, application_name acgs-server, client_encoding
 * UTF8). Does not migrate. On failure err holds libpq's message and
 * *ret is untouched. The caller frees the result with store_free. */
int store_open(const char *conninfo, struct store **ret, char *err,
	       size_t errlen);

/* Close the connection and free; store_free(NULL) is a no-op. Returns NULL. */
struct store *store_free(struct store *s);

/* Apply, in version order, every compiled-in migration the database lacks,
 * each in its own transaction holding a transaction-level advisory lock so
 * that replicas starting together apply each migration once. Sets
 * *ret_applied (may be NULL) to how many were applied now (0 when the schema
 * is current). On failure that migration is rolled back, the earlier ones
 * stay, and err says which one failed and why. */
int store_migrate(struct store *s, int *ret_applied, char *err, size_t errlen);

/* Create the daily (UTC) partitions of samples, probe_results and scores
 * from yesterday to days_ahead days from today; call at start and daily.
 * Returns how many partitions were created. Rows outside every partition
 * are not lost: they go to a default partition and move when theirs is
 * created. */
int store_ensure_partitions(struct store *s, int days_ahead);

/* libpq's message for the last failure on s (empty when none yet), for the
 * daemon's log line; valid until the next call on s. */
const char *store_last_error(const struct store *s);

/* Whether the connection is up as far as libpq knows (it finds out that the
 * server went away only on the next call). */
bool store_connected(struct store *s);

/* Re-establish the connection with the same conninfo. Returns 0 or
 * -ECONNREFUSED while the server cannot be reached. */
int store_reconnect(struct store *s);

/* One metrics message, already validated by ingest. NaN (or an infinity)
 * in a double stores NULL. procs_total and fds_open are stored as integers.
 * received_ms <= 0 means now. payload is the message as JSON text (need not
 * be NUL-terminated; may be NULL); its "probes" array also fills
 * probe_results. */
struct store_sample {
	const char *node_id, *boot_id;
	uint64_t seq;
	int64_t ts_ms, received_ms;
	double cpu_usage, mem_used_ratio, swap_used_ratio, load1, load5, load15,
	    disk_used_ratio_max, net_rx_bps, net_tx_bps, psi_cpu_some,
	    psi_memory_some, psi_io_some, procs_total, fds_open, uptime_s,
	    compliance_ratio, score;
	const char *payload;
	size_t payload_len;
};

/* Write a batch in one transaction: COPY into a session-local staging table,
 * then INSERT ... SELECT ... ON CONFLICT DO NOTHING, so a replay after a
 * crash never doubles a row (the key is node_id, ts, boot_id, seq). The
 * probe rows are extracted in the same statement, in SQL, from the payload
 * "probes" array of the samples actually inserted (fields of the wrong JSON
 * type become NULL; entries without a string "name" are skipped).
 * Returns the number of new samples, or a negative errno; on error nothing
 * of the batch is committed, so the caller can spool and retry it whole.
 * node_id and boot_id must be set, seq at most INT64_MAX, payload valid
 * JSON without NUL bytes (-EINVAL otherwise). */
int store_write_samples(struct store *s, const struct store_sample *v,
			size_t n);

/* Record a refused message. Text fields are sanitised (invalid UTF-8 and
 * control bytes escaped as \xNN) and capped; of the payload only the first
 * 512 bytes are kept, escaped the same way, plus its length. node_id and
 * detail may be NULL; received_ms <= 0 means now. */
int store_write_reject(struct store *s, int64_t received_ms, const char *topic,
		       const char *node_id, const char *reason,
		       const char *detail, const void *payload, size_t len);

/* What a birth, state or score message says about a node. NULL strings,
 * conn < 0 and a NaN score leave the stored value as it was. */
struct store_node {
	const char *node_id; /* required */
	int64_t seen_ms;     /* when the message was received; last_seen */
	const char *boot_id, *version, *config_hash;
	const char *labels_json; /* a JSON object */
	const char *state;	 /* "online", "offline" or NULL */
	int64_t conn;		 /* the state's connection number */
	double score;
	const char *components_json;
};

/* Insert or update a node. A state whose conn is older than the stored conn
 * is stale (a late will after a reconnect) and is ignored, as the wire
 * protocol asks. Returns 1 when the node is new, 0 when it existed. */
int store_upsert_node(struct store *s, const struct store_node *node);

/* One computed score; scope is "node", "service" or "fleet". */
struct store_score {
	int64_t ts_ms;
	const char *scope, *key;
	double score;		     /* in [0, 1]; NaN stores NULL */
	const char *components_json; /* may be NULL */
};

/* Write a batch of scores in one transaction (COPY then upsert on
 * scope, key, ts). Returns the number of rows written, all or nothing. */
int store_write_scores(struct store *s, const struct store_score *v, size_t n);

/* Call row(ctx, ts_ms, value) for each point of one node's metric in
 * [from_ms, to_ms), ordered by time. metric is one of the names
 * store_history_metric_valid accepts (-EINVAL otherwise); it selects a
 * column from a fixed table and is never put into SQL itself. step_ms
 * picks the source: <= 0 raw samples; < 1 min raw samples averaged per
 * step; < 1 h the 1-minute rollup, otherwise the 1-hour rollup, averaged
 * per step (weighted by samples per bucket; buckets start at multiples of
 * step_ms since the epoch). A row callback returning non-zero stops the
 * walk and that value is returned. Returns the number of points, or a
 * negative errno. */
int store_history(struct store *s, const char *node_id, const char *metric,
		  int64_t from_ms, int64_t to_ms, int64_t step_ms,
		  int (*row)(void *ctx, int64_t ts_ms, double value),
		  void *ctx);

/* Whether metric is a name store_history accepts. */
bool store_history_metric_valid(const char *metric);

/* Whether the nodes table has node_id: 1 or 0, or a negative errno. */
int store_node_exists(struct store *s, const char *node_id);

/* Store an API token's SHA-256 with a name and role ("viewer", "operator",
 * "admin"). Sets *ret_id (may be NULL). Returns 0, -EEXIST when the hash is
 * already stored, -EINVAL for a bad role or name. */
int store_token_insert(struct store *s, const char *name, const char *role,
		       const uint8_t sha256[32], int64_t *ret_id);

/* Find a token by its SHA-256: copies its role into role (rolelen bytes)
 * and its name into name (namelen bytes; NULL: not wanted), sets *ret_id
 * (may be NULL), and notes the use in last_used_at (at most once a minute,
 * to keep reads from writing on every request). Returns 0, -ENOENT when
 * unknown, -EKEYREVOKED when revoked. */
int store_token_lookup(struct store *s, const uint8_t sha256[32], char *role,
		       size_t rolelen, int64_t *ret_id, char *name,
		       size_t namelen);

/* One stored token (never its hash). Times in ms since the epoch, 0 when
 * not set. */
struct store_token {
	int64_t id;
	char name[65], role[16];
	int64_t created_ms, last_used_ms, revoked_ms;
};

/* Call fn for every token, oldest first. Returns how many, or a negative
 * errno. */
int store_token_list(struct store *s,
		     void (*fn)(void *ctx, const struct store_token *t),
		     void *ctx);

/* Revoke a token. Returns 0, -ENOENT when no such unrevoked token. */
int store_token_revoke(struct store *s, int64_t id);

/* Recompute the 1-minute and 1-hour rollups of the buckets that overlap
 * [from_ms, to_ms) from raw samples (idempotent upsert; run it again over
 * a window after late samples). Returns the number of rollup rows written
 * (capped at INT_MAX). */
int store_rollup(struct store *s, int64_t from_ms, int64_t to_ms);

/* Keep raw_days of samples, probe results, scores and rejected messages
 * (whole UTC days: older daily partitions are dropped), m1_days of 1-minute
 * and h1_days of 1-hour rollups; each at least 1 (-EINVAL). Returns the
 * number of partitions dropped. */
int store_apply_retention(struct store *s, int raw_days, int m1_days,
			  int h1_days);

/* ---- alerts (migrations 0004, 0005) ---- */

/* One alert instance at one action: its row in alert_instances, and the
 * event recorded. Strings may be NULL unless marked; times <= 0 are NULL. */
struct store_alert {
	const char *dedup_key, *rule, *scope; /* required */
	const char *key, *probe, *severity;
	const char *from_state; /* of the event */
	const char *state; /* required; "inactive" deletes the instance row */
	int64_t ts_ms;	   /* of the event */
	int64_t active_since_ms, fired_at_ms, resolved_at_ms, last_true_ms;
	double value, firing_value, threshold; /* NaN: NULL */
	const char *labels_json;	       /* a JSON object; NULL: {} */
	const char *summary, *description;
	const char *notified; /* receivers holding a trigger, comma list */
	const char *acked_by, *ack_comment;
	int64_t acked_ms;
};

/* In one transaction: an alert_events row (when event), an alert_acks row
 * (when ack), and the instance's row upserted, or deleted when its state
 * is "inactive". Returns 0 or a negative errno (-ENOTCONN, -EIO, ...). */
int store_alert_record(struct store *s, const struct store_alert *a, bool event,
		       bool ack);

/* Call fn for each saved instance (strings valid during the call).
 * Returns how many, or a negative errno. */
int store_alert_instances(struct store *s,
			  void (*fn)(void *ctx, const struct store_alert *a),
			  void *ctx);

/* The newest limit alert_events, newest first: fn gets dedup_key, rule,
 * scope, key, from_state, state, ts_ms, value and severity. Returns how
 * many or a negative errno. */
int store_alert_history(struct store *s, unsigned limit,
			void (*fn)(void *ctx, const struct store_alert *a),
			void *ctx);

struct store_silence {
	int64_t id;
	const char *matchers_json; /* an array of matcher objects */
	const char *comment, *author;
	int64_t created_ms, starts_ms, ends_ms, expired_ms; /* 0: NULL */
};

/* Insert a silence. Sets *ret_id and *ret_created_ms. Returns 0 or a
 * negative errno. */
int store_silence_add(struct store *s, const char *matchers_json,
		      int64_t starts_ms, int64_t ends_ms, const char *comment,
		      const char *author, int64_t *ret_id,
		      int64_t *ret_created_ms);

/* Call fn for the silences: id > 0 selects that one; otherwise, newest
 * first, at most 1000, those not expired at now_ms unless all is set.
 * Returns how many or a negative errno. */
int store_silence_list(struct store *s, int64_t id, bool all, int64_t now_ms,
		       void (*fn)(void *ctx, const struct store_silence *x),
		       void *ctx);

/* Expire silence id now (ends it early). Returns 0 (also when it had
 * already ended), -ENOENT (no such silence), or a negative errno. */
int store_silence_expire(struct store *s, int64_t id);

#endif
