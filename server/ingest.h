/* Ingest: every message from the broker passes here first.
 *
 * It validates the message (common/wire.h: size, JSON, "v", the
 * constitutional hash, node against topic, timestamp, per-kind fields) and
 * tracks each node's liveness and (boot_id, seq) stream, deciding what the
 * message means:
 *
 *   - a new sample of the node's current boot moves its live state;
 *   - a sample seen before (a QoS 1 redelivery, a store-and-forward resend)
 *     is a duplicate: counted and dropped;
 *   - a sample older than the live one (a late fill of a gap, or a sample of
 *     an earlier boot replayed from an agent's disk queue) is a replay: it
 *     is stored but must not roll the live state back;
 *   - `state` offline whose `conn` is older than the last online is stale
 *     (a will delivered late after a fast reconnect) and ignored.
 *
 * The database's unique key on (node, boot_id, seq, ts) is what guarantees
 * that nothing is stored twice; the tracking here keeps the live view right
 * and makes duplicates, gaps and replays visible as counters. Memory per
 * node is fixed (a 1024-sample window of seen seqs); the number of nodes is
 * capped. Not thread-safe: one ingest per thread. */
#ifndef ACGS_INGEST_H
#define ACGS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define INGEST_SEQ_WINDOW	 1024
#define INGEST_DEFAULT_MAX_NODES 100000

enum ingest_verdict {
	INGEST_SAMPLE,	  /* new sample; moves the live state */
	INGEST_REPLAY,	  /* store it, but the live state stays */
	INGEST_DUPLICATE, /* seen before: drop */
	INGEST_BIRTH,
	INGEST_STATE,	    /* online/offline applied */
	INGEST_STATE_STALE, /* offline older than the last online: ignored */
	INGEST_EVENT,
	INGEST_CMD_RESULT,
	INGEST_REJECT, /* invalid: see reason */
};

/* Why a message was rejected: the wire reasons, and two of ingest's own. */
enum ingest_reject {
	INGEST_REJECT_WIRE,	 /* see wire_reason */
	INGEST_REJECT_CAPACITY,	 /* a new node beyond max_nodes */
	INGEST_REJECT_DIRECTION, /* a server-to-agent kind (cmd) from an agent
				  */
};

struct ingest_node {
	char id[WIRE_NODE_MAX + 1];
	bool online;
	bool seen_state;	   /* any state message received */
	uint64_t conn;		   /* of the last applied state message */
	int64_t last_seen_ms;	   /* receiver clock, last accepted message */
	int64_t last_sample_ts_ms; /* agent clock, live sample */
	double interval_s;	   /* from birth or samples; 0 unknown */
	char boot_id[64];	   /* of the live stream */
	uint64_t max_seq;	   /* highest seq of boot_id accepted */
	bool have_seq;
	uint64_t window[INGEST_SEQ_WINDOW / 64]; /* seen bits for seq ring */
	/* Counters. */
	uint64_t samples, duplicates, replays, gaps;
	/* The owner's data for this node (the server's live view), freed
	 * with the function given to ingest_set_user_free. */
	void *user;
};

struct ingest_result {
	enum ingest_verdict verdict;
	enum ingest_reject reject;    /* when INGEST_REJECT */
	enum wire_reject wire_reason; /* when reject == WIRE */
	char detail[160];	      /* what exactly was wrong */
	struct ingest_node *node;     /* NULL on reject */
	struct wire_msg msg; /* decoded; release with ingest_result_release */
	uint64_t gap;	     /* seqs skipped by this sample */
	bool new_boot;	     /* this sample started a new boot stream */
};

struct ingest_stats {
	uint64_t received;
	uint64_t rejected[_WIRE_REJECT_MAX]; /* by wire reason */
	uint64_t rejected_capacity, rejected_direction;
	uint64_t samples, replays, duplicates, gaps, stale_states;
	size_t nodes;
};

struct ingest;

/* root: the topic root ("acgs/v1"); hash: the constitutional hash expected.
 * max_nodes 0 means INGEST_DEFAULT_MAX_NODES. */
int ingest_new(const char *root, const char *hash, size_t max_nodes,
	       struct ingest **ret);
struct ingest *ingest_free(struct ingest *in);

/* How ingest_free releases each node's user pointer (NULL: not at all). */
void ingest_set_user_free(struct ingest *in, void (*fn)(void *user));

/* Judge one message received at now_ms (receiver clock). Always fills
 * *res; returns its verdict. On anything but INGEST_REJECT, res->msg holds
 * the decoded payload, to be released with ingest_result_release. */
enum ingest_verdict ingest_handle(struct ingest *in, const char *topic,
				  const void *payload, size_t len,
				  int64_t now_ms, struct ingest_result *res);

void ingest_result_release(struct ingest_result *res);

/* The node's record, or NULL when never seen. */
struct ingest_node *ingest_find(struct ingest *in, const char *id);

/* How many nodes there are, and the i-th in the order they were first seen
 * (NULL past the end). Nodes are never removed, so an index stays valid
 * and a walk split across calls sees every node once. */
size_t ingest_count(const struct ingest *in);
struct ingest_node *ingest_at(struct ingest *in, size_t i);

/* Call fn for every node, in no particular order. */
void ingest_foreach(struct ingest *in,
		    void (*fn)(void *ctx, struct ingest_node *node), void *ctx);

void ingest_get_stats(const struct ingest *in, struct ingest_stats *ret);

/* "accepted" names for the verdicts and reasons, for logs and metrics. */
const char *ingest_verdict_name(enum ingest_verdict v);
const char *ingest_reject_name(const struct ingest_result *res);

#endif
