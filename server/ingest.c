#include "config.h"

#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

struct ingest {
	char *root;
	char *hash;
	size_t max_nodes;
	void (*user_free)(void *user);
	/* Open addressing, linear probing, power-of-two size, at most half
	 * full; nodes are never removed (a node that left stays offline). */
	struct ingest_node **slots;
	size_t nslots;
	size_t nnodes;
	/* The nodes in the order they were first seen: a stable index for
	 * walks that are split across calls (ingest_at). */
	struct ingest_node **order;
	size_t caporder;
	struct ingest_stats stats;
};

static const char *const verdict_names[] = {
	[INGEST_SAMPLE] = "sample",	  [INGEST_REPLAY] = "replay",
	[INGEST_DUPLICATE] = "duplicate", [INGEST_BIRTH] = "birth",
	[INGEST_STATE] = "state",	  [INGEST_STATE_STALE] = "state_stale",
	[INGEST_EVENT] = "event",	  [INGEST_CMD_RESULT] = "cmd_result",
	[INGEST_REJECT] = "reject",
};

const char *ingest_verdict_name(enum ingest_verdict v)
{
	return (unsigned)v < ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

const char *ingest_reject_name(const struct ingest_result *res)
{
	switch (res->reject) {
	case INGEST_REJECT_CAPACITY:
		return "capacity";
	case INGEST_REJECT_DIRECTION:
		return "direction";
	default:
		return wire_reject_name(res->wire_reason);
	}
}

int ingest_new(const char *root, const char *hash, size_t max_nodes,
	       struct ingest **ret)
{
	struct ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->root = strdup(root);
	in->hash = strdup(hash);
	in->max_nodes = max_nodes ? max_nodes : INGEST_DEFAULT_MAX_NODES;
	in->nslots = 64;
	in->slots = calloc(in->nslots, sizeof(*in->slots));
	if (!in->root || !in->hash || !in->slots) {
		ingest_free(in);
		return -ENOMEM;
	}
	*ret = in;
	return 0;
}

struct ingest *ingest_free(struct ingest *in)
{
	if (!in)
		return NULL;
	for (size_t i = 0; i < in->nslots; i++) {
		if (in->slots[i] && in->user_free)
			in->user_free(in->slots[i]->user);
		free(in->slots[i]);
	}
	free(in->slots);
	free(in->order);
	free(in->root);
	free(in->hash);
	free(in);
	return NULL;
}

void ingest_set_user_free(struct ingest *in, void (*fn)(void *user))
{
	in->user_free = fn;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static size_t slot_of(const struct ingest *in, const char *id)
{
	size_t mask = in->nslots - 1;
	size_t i = (size_t)fnv1a(id) & mask;
	while (in->slots[i] && strcmp(in->slots[i]->id, id) != 0)
		i = (i + 1) & mask;
	return i;
}

struct ingest_node *ingest_find(struct ingest *in, const char *id)
{
	return in->slots[slot_of(in, id)];
}

static int grow(struct ingest *in)
{
	size_t n = in->nslots * 2;
	struct ingest_node **old = in->slots;
	size_t oldn = in->nslots;

	in->slots = calloc(n, sizeof(*in->slots));
	if (!in->slots) {
		in->slots = old;
		return -ENOMEM;
	}
	in->nslots = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i])
			in->slots[slot_of(in, old[i]->id)] = old[i];
	free(old);
	return 0;
}

/* The node's record, created on first sight; NULL past the cap or OOM. */
static struct ingest_node *node_get(struct ingest *in, const char *id)
{
	size_t i = slot_of(in, id);
	if (in->slots[i])
		return in->slots[i];
	if (in->nnodes >= in->max_nodes)
		return NULL;
	if ((in->nnodes + 1) * 2 > in->nslots) {
		if (grow(in) < 0)
			return NULL;
		i = slot_of(in, id);
	}
	if (in->nnodes == in->caporder) {
		size_t cap = in->caporder ? in->caporder * 2 : 64;
		struct ingest_node **g = realloc(in->order, cap * sizeof(*g));
		if (!g)
			return NULL;
		in->order = g;
		in->caporder = cap;
	}
	struct ingest_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->id, sizeof(n->id), "%s", id);
	in->slots[i] = n;
	in->order[in->nnodes++] = n;
	return n;
}

size_t ingest_count(const struct ingest *in)
{
	return in->nnodes;
}

struct ingest_node *ingest_at(struct ingest *in, size_t i)
{
	return i < in->nnodes ? in->order[i] : NULL;
}

void ingest_foreach(struct ingest *in,
		    void (*fn)(void *ctx, struct ingest_node *node), void *ctx)
{
	for (size_t i = 0; i < in->nslots; i++)
		if (in->slots[i])
			fn(ctx, in->slots[i]);
}

void ingest_get_stats(const struct ingest *in, struct ingest_stats *ret)
{
	*ret = in->stats;
	ret->nodes = in->nnodes;
}

static bool seen_get(const struct ingest_node *n, uint64_t seq)
{
	unsigned bit = (unsigned)(seq % INGEST_SEQ_WINDOW);
	return n->window[bit / 64] & (1ull << (bit % 64));
}

static void seen_set(struct ingest_node *n, uint64_t seq, bool on)
{
	unsigned bit = (unsigned)(seq % INGEST_SEQ_WINDOW);
	if (on)
		n->window[bit / 64] |= 1ull << (bit % 64);
	else
		n->window[bit / 64] &= ~(1ull << (bit % 64));
}

static void start_boot(struct ingest_node *n, const char *boot_id)
{
	snprintf(n->boot_id, sizeof(n->boot_id), "%s", boot_id);
	memset(n->window, 0, sizeof(n->window));
	n->have_seq = false;
}

/* Place a sample of the live boot in the stream. */
static enum ingest_verdict place_seq(struct ingest *in, struct ingest_node *n,
				     uint64_t seq, struct ingest_result *res)
{
	if (!n->have_seq || seq > n->max_seq) {
		uint64_t gap = n->have_seq ? seq - n->max_seq - 1 : 0;
		if (!n->have_seq || seq - n->max_seq >= INGEST_SEQ_WINDOW) {
			memset(n->window, 0, sizeof(n->window));
		} else {
			/* The ring positions skipped now stand for newer seqs,
			 * none of them seen yet. */
			for (uint64_t s = n->max_seq + 1; s < seq; s++)
				seen_set(n, s, false);
		}
		seen_set(n, seq, true);
		n->max_seq = seq;
		n->have_seq = true;
		n->gaps += gap;
		in->stats.gaps += gap;
		res->gap = gap;
		return INGEST_SAMPLE;
	}
	if (n->max_seq - seq < INGEST_SEQ_WINDOW) {
		if (seen_get(n, seq))
			return INGEST_DUPLICATE;
		/* A late fill of a gap counted earlier. */
		seen_set(n, seq, true);
		if (n->gaps) {
			n->gaps--;
			in->stats.gaps--;
		}
	}
	/* Older than the window: the database's unique key decides. */
	return INGEST_REPLAY;
}

static enum ingest_verdict on_metrics(struct ingest *in, struct ingest_node *n,
				      struct ingest_result *res)
{
	const struct wire_msg *m = &res->msg;
	double interval;

	if (strlen(m->boot_id) >= sizeof(n->boot_id)) {
		snprintf(res->detail, sizeof(res->detail),
			 "boot_id longer than %zu bytes",
			 sizeof(n->boot_id) - 1);
		res->reject = INGEST_REJECT_WIRE;
		res->wire_reason = WIRE_REJECT_SCHEMA;
		return INGEST_REJECT;
	}
	if (n->boot_id[0] == '\0') {
		start_boot(n, m->boot_id);
		res->new_boot = true;
	} else if (strcmp(n->boot_id, m->boot_id) != 0) {
		/* Another boot: newer than the live stream starts a new one;
		 * older is a replay from the agent's disk queue. */
		if (m->ts_ms <= n->last_sample_ts_ms)
			return INGEST_REPLAY;
		start_boot(n, m->boot_id);
		res->new_boot = true;
	}
	enum ingest_verdict v = place_seq(in, n, m->seq, res);
	if (v == INGEST_SAMPLE) {
		n->last_sample_ts_ms = m->ts_ms;
		if (wire_get_double(m->json, "interval", &interval) == 0 &&
		    interval > 0)
			n->interval_s = interval;
	}
	return v;
}

static enum ingest_verdict on_state(struct ingest_node *n,
				    const struct wire_msg *m)
{
	/* Sparkplug's bdSeq rule: an offline from an older connection than
	 * the last online arrived late and says nothing about now. */
	if (n->seen_state && !m->online && m->conn < n->conn)
		return INGEST_STATE_STALE;
	if (n->seen_state && m->online && m->conn < n->conn)
		return INGEST_STATE_STALE;
	n->seen_state = true;
	n->online = m->online;
	n->conn = m->conn;
	return INGEST_STATE;
}

enum ingest_verdict ingest_handle(struct ingest *in, const char *topic,
				  const void *payload, size_t len,
				  int64_t now_ms, struct ingest_result *res)
{
	struct ingest_node *n;
	enum ingest_verdict v;
	double interval;

	memset(res, 0, sizeof(*res));
	in->stats.received++;
	res->wire_reason =
	    wire_decode(in->root, topic, payload, len, in->hash, now_ms,
			&res->msg, res->detail, sizeof(res->detail));
	if (res->wire_reason != WIRE_OK) {
		res->reject = INGEST_REJECT_WIRE;
		v = INGEST_REJECT;
		goto out;
	}
	if (res->msg.kind == WIRE_CMD) {
		snprintf(res->detail, sizeof(res->detail),
			 "cmd flows from the server to agents, not back");
		res->reject = INGEST_REJECT_DIRECTION;
		v = INGEST_REJECT;
		goto out;
	}
	n = node_get(in, res->msg.node);
	if (!n) {
		snprintf(res->detail, sizeof(res->detail),
			 "more than %zu nodes", in->max_nodes);
		res->reject = INGEST_REJECT_CAPACITY;
		v = INGEST_REJECT;
		goto out;
	}
	switch (res->msg.kind) {
	case WIRE_METRICS:
		v = on_metrics(in, n, res);
		break;
	case WIRE_STATE:
		v = on_state(n, &res->msg);
		break;
	case WIRE_BIRTH:
		if (wire_get_double(res->msg.json, "interval", &interval) ==
			0 &&
		    interval > 0)
			n->interval_s = interval;
		v = INGEST_BIRTH;
		break;
	case WIRE_EVENTS:
		v = INGEST_EVENT;
		break;
	default:
		v = INGEST_CMD_RESULT;
		break;
	}
	if (v != INGEST_REJECT) {
		res->node = n;
		/* Whatever it sent, a node that speaks is alive; an offline
		 * message or a stale state says nothing of now. */
		if (!(v == INGEST_STATE && !n->online) &&
		    v != INGEST_STATE_STALE)
			n->last_seen_ms = now_ms;
	}
	switch (v) {
	case INGEST_SAMPLE:
		n->samples++;
		in->stats.samples++;
		break;
	case INGEST_REPLAY:
		n->replays++;
		in->stats.replays++;
		break;
	case INGEST_DUPLICATE:
		n->duplicates++;
		in->stats.duplicates++;
		break;
	case INGEST_STATE_STALE:
		in->stats.stale_states++;
		break;
	default:
		break;
	}
out:
	if (v == INGEST_REJECT) {
		if (res->reject == INGEST_REJECT_WIRE)
			in->stats.rejected[res->wire_reason]++;
		else if (res->reject == INGEST_REJECT_CAPACITY)
			in->stats.rejected_capacity++;
		else
			in->stats.rejected_direction++;
		/* Safe when decoding failed: msg is then all zero. */
		wire_msg_release(&res->msg);
		res->node = NULL;
	}
	res->verdict = v;
	return v;
}

void ingest_result_release(struct ingest_result *res)
{
	wire_msg_release(&res->msg);
}
