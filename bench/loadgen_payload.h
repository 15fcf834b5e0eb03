/* The load generator's metrics payloads: a real agent sample used as a
 * template, with the fields that change per sample filled in.
 *
 * A template is compiled once into literal pieces and slots, so a sample
 * costs a few memcpy and number formats instead of a JSON tree per message:
 * the load generator must stay cheaper than what it loads. Per sample it
 * sets node, ts, seq and boot_id, and moves a few values (cpu usage and its
 * split, memory, load1, uptimes, the first interface's traffic, every
 * probe's latency) along a per-node random walk so that the server does not
 * score one constant sample. */
#ifndef ACGS_LOADGEN_PAYLOAD_H
#define ACGS_LOADGEN_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Largest template accepted and largest rendered sample. */
#define LOADGEN_PAYLOAD_MAX (64 * 1024)

struct loadgen_payload;

/* The values that differ between samples. */
struct loadgen_sample {
	const char *node;    /* the node id (also in the topic) */
	const char *boot_id; /* one per node per run */
	uint64_t seq;	     /* 0, 1, 2, ... per boot */
	int64_t ts_ms;	     /* publish time, ms since the epoch */
	double uptime_s;     /* seconds since the node "booted" */
	double cpu_usage;    /* [0, 1] */
	double mem_used_ratio;
	double load1;
	double latency_ms; /* every probe's last run, p50 and p99 */
	double net_bps;	   /* first interface, rx and tx bytes per second */
};

/* A per-node random walk of the varied values, seeded per node. */
struct loadgen_walk {
	uint64_t rng;
	double cpu_usage, mem_used_ratio, load1, latency_ms, net_bps;
	double latency_base_ms; /* latency_ms without the odd slow run */
};

/* Compile json (a metrics payload, e.g. `acgs-agent --once` output, at most
 * LOADGEN_PAYLOAD_MAX bytes) into a template. "v", "constitutional_hash"
 * (hash) and "interval" (interval_s) are fixed for every sample; node, ts,
 * seq and boot_id are added when the template lacks them; varied values
 * the template lacks are left out. Returns 0 and sets *ret (free with
 * loadgen_payload_free), -EINVAL when json is not a JSON object or
 * contains the slot marker, -E2BIG when too long, -ENOMEM. */
int loadgen_payload_new(const char *json, size_t len, const char *hash,
			double interval_s, struct loadgen_payload **ret);

/* NULL-safe; returns NULL. */
struct loadgen_payload *loadgen_payload_free(struct loadgen_payload *p);

/* The built-in template: a real `acgs-agent --once` sample (one HTTP probe,
 * no compliance) taken on the development machine. */
const char *loadgen_payload_default_template(void);

/* The probes of the template as the birth message lists them: a JSON array
 * of {name, type, service, slo_ms} (owned by p; "[]" without probes). */
const char *loadgen_payload_birth_probes(const struct loadgen_payload *p);

/* Write one sample into out (outlen bytes, NUL-terminated). Returns its
 * length (without the NUL), or -E2BIG when it does not fit, -EINVAL for a
 * NULL node or boot_id. */
int loadgen_payload_render(const struct loadgen_payload *p,
			   const struct loadgen_sample *s, char *out,
			   size_t outlen);

/* The `state` message of a node, as acgs-agent writes it (agent/agent.c):
 * the envelope with ts_ms, "state" online or offline, "conn" and
 * "boot_id". The offline one with the conn and ts of a CONNECT is the
 * will of that connection, byte for byte. Replaces the contents of out.
 * Returns 0, -EINVAL for an invalid node id, or -E2BIG / -ENOMEM from the
 * buffer. */
int loadgen_payload_state(struct buf *out, const char *node,
			  const char *boot_id, bool online, uint64_t conn,
			  int64_t ts_ms);

/* Start a walk from plausible values; seed decides where. */
void loadgen_walk_init(struct loadgen_walk *w, uint64_t seed);

/* Move every value a small random step, staying in its range (cpu and
 * memory ratios in [0.02, 0.95], load1 >= 0, latency in [0.2, 40] ms). */
void loadgen_walk_step(struct loadgen_walk *w);

#endif
