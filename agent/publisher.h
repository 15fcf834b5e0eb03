/* The MQTT side of the agent (DESIGN section 4), driven from the agent's own
 * poll loop: no libmosquitto thread.
 *
 * Samples are taken from the disk spool in order and published QoS 1 with at
 * most max_inflight unacknowledged; a sample leaves the spool only when its
 * PUBACK arrives. On every connection loss the libmosquitto handle is
 * destroyed (so nothing it held can be re-sent behind our back) and the
 * unacknowledged window is published again from the spool, with the same
 * bytes, after the next connect. The retained birth and the retained
 * `state` online message are published on every connect; the will
 * (`state` offline) is set before every connect; both carry the connect
 * counter `conn`, which is kept in state_dir across restarts. */
#ifndef ACGS_PUBLISHER_H
#define ACGS_PUBLISHER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "jsonw.h"
#include "mqttconf.h"
#include "spool.h"

struct publisher_options {
	const struct mqtt_conf *mqtt; /* copied */
	const char *node_id;
	const char *constitutional_hash;
	unsigned max_inflight;
	double reconnect_min; /* seconds; doubles per failure up to max */
	double reconnect_max;
	const char *state_dir; /* where the connect counter lives */
	const char *boot_id;   /* carried in state messages */
};

struct publisher;

/* Copy the options; nothing connects yet. The spool is borrowed: it must
 * outlive the publisher. Returns 0 or a negative errno. */
int publisher_new(const struct publisher_options *opt, struct spool *spool,
		  struct publisher **ret);

/* Stop at once (no offline message: the broker sends the will) and free.
 * NULL-safe; returns NULL. */
struct publisher *publisher_free(struct publisher *p);

/* The retained birth payload published after each connect (copied). */
int publisher_set_birth(struct publisher *p, const char *json, size_t len);

/* The socket to poll (-1 while there is none) and the events wanted. */
int publisher_fd(const struct publisher *p);
short publisher_events(const struct publisher *p);

/* Do all due work: connect or reconnect when it is time, read and write on
 * the socket according to revents (0 when only timers are due), keepalive,
 * and publish from the spool as the window allows. Returns the monotonic
 * time in ns by which it wants to run again. */
uint64_t publisher_run(struct publisher *p, short revents, uint64_t now_ns);

/* Publish payload once on the metrics topic without the spool (used when
 * the spool cannot take a sample, e.g. the disk is full). Returns 0, or
 * -ENOTCONN when there is no connection. */
int publisher_send_direct(struct publisher *p, const char *payload, size_t len);

/* Publish the retained `state` offline message, wait up to timeout_s for it
 * and the in-flight samples to be acknowledged, and disconnect cleanly.
 * Returns 0, or -ETIMEDOUT / -ENOTCONN (the will then tells the truth). */
int publisher_shutdown(struct publisher *p, double timeout_s);

/* Write "mqtt": {...}: connection state, conn, in-flight count and the
 * round trip (QoS 1 publish to PUBACK) of the samples acknowledged since the
 * previous report: last, p50, p99 and count. Resets that window. */
void publisher_report(struct publisher *p, struct jsonw *w);

#endif
