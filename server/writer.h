/* Writer: accepted samples on their way to PostgreSQL, never lost.
 *
 * Samples are batched (batch_max, or flush_interval after the first) and
 * written with one COPY-based call per batch. A batch that cannot be
 * written because PostgreSQL is unreachable goes to a disk spool in
 * spool_dir (common/spool.h: bounded, survives restarts); while the
 * database answers, the spool is drained in order, a batch at a time, and
 * a record leaves it only once its batch is committed. The database's
 * unique key makes a replayed sample a no-op, so a crash between commit and
 * spool ack doubles nothing. A sample the database refuses as bad data is
 * isolated (the batch is retried one by one), logged and dropped.
 *
 * All database and spool work runs on the writer's own thread, so that a
 * COPY never holds up the MQTT loop: the functions below queue an operation
 * (copying what they are given) and return; operations are applied in the
 * order they were queued. */
#ifndef ACGS_WRITER_H
#define ACGS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "store.h"

struct writer_options {
	const char *conninfo;
	const char *spool_dir;
	uint64_t spool_max_bytes;
	unsigned batch_max;
	double flush_interval; /* seconds */
	/* Samples queued for the writer's thread at most; past it
	 * writer_add_sample waits (0 = 100000). */
	size_t max_pending;
	/* Days kept of raw rows, 1-minute and 1-hour rollups (0: 14, 90,
	 * 730). */
	int retention_raw_days, retention_1m_days, retention_1h_days;
	double rollup_interval; /* seconds between rollup runs; 0 = 60 */
};

struct writer_stats {
	uint64_t written;     /* rows new in the database */
	uint64_t spooled;     /* samples that went to disk */
	uint64_t replayed;    /* samples written from the spool */
	uint64_t refused;     /* samples the database refused as bad data */
	uint64_t scores;      /* service and fleet score rows written */
	uint64_t rollup_rows; /* rollup rows (re)computed */
	uint64_t partitions_dropped; /* by retention */
	uint64_t write_errors;
	uint64_t spool_depth;
	bool db_ok;
};

struct writer;

/* Open the spool and try the database (connect, migrate, partitions);
 * an unreachable database is not an error: the writer starts degraded and
 * keeps trying. Returns 0 or a negative errno (err says what). */
int writer_new(const struct writer_options *opt, struct writer **ret, char *err,
	       size_t errlen);
struct writer *writer_free(struct writer *w);

/* Queue an accepted sample: its decoded payload (for the columns), the
 * raw bytes (stored as jsonb), when it was received, and its score (NaN
 * when none). Returns 0 or a negative errno (-ENOMEM, spool full). */
int writer_add_sample(struct writer *w, const cJSON *sample,
		      const void *payload, size_t len, int64_t received_ms,
		      double score);

/* Best effort, straight to the database when it is up (counted when not). */
void writer_reject(struct writer *w, int64_t received_ms, const char *topic,
		   const char *node_id, const char *reason, const char *detail,
		   const void *payload, size_t len);
void writer_node(struct writer *w, const struct store_node *node);

/* Best effort, like writer_node: service and fleet scores of one
 * rescoring. Returns the rows written, or a negative errno (counted). */
int writer_scores(struct writer *w, const struct store_score *v, size_t n);

/* Write or spool everything queued so far, and wait for it (shutdown). */
void writer_flush(struct writer *w);

/* As of the thread's last round; any thread may call it. */
void writer_get_stats(const struct writer *w, struct writer_stats *ret);

#endif
