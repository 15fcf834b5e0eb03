/* One MQTT connection driven from the daemon's own poll loop: creating the
 * libmosquitto handle (TLS, credentials, will, TCP_NODELAY), non-blocking
 * connects, capped exponential backoff with jitter, CONNACK, loss, and the
 * read/write/keepalive work. The owner adds what it does with the
 * connection (publish, subscribe) through the callbacks.
 *
 * On a lost connection the handle is destroyed, so that nothing queued in
 * libmosquitto can be sent again behind the owner's back; a new one is made
 * for the next attempt. Callbacks never run inside libmosquitto's: they
 * run from mqttconn_run, where publishing and subscribing are safe. */
#ifndef ACGS_MQTTCONN_H
#define ACGS_MQTTCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

#include "mqttconf.h"

struct mqttconn;

struct mqttconn_callbacks {
	/* Before each connection attempt: set the will (mqttconn_set_will)
	 * for this attempt's number. May be NULL. */
	void (*before_connect)(void *ctx, struct mqttconn *c, uint64_t attempt);
	/* The broker accepted the connection. */
	void (*connected)(void *ctx, struct mqttconn *c);
	/* The connection is gone (or never came); the handle is destroyed
	 * right after this returns. */
	void (*lost)(void *ctx, struct mqttconn *c);
	/* A PUBACK (QoS 1) or a QoS 0 send completed. */
	void (*published)(void *ctx, int mid);
	/* A message arrived (inside libmosquitto's read: do not publish
	 * from here; copy what is needed). */
	void (*message)(void *ctx, const struct mosquitto_message *m);
};

struct mqttconn_options {
	const struct mqtt_conf *conf; /* copied; client_id must be set */
	bool clean_session;	      /* false: a persistent session */
	int protocol;		      /* MQTT_PROTOCOL_V311 or _V5 */
	unsigned send_maximum;	      /* in-flight cap libmosquitto applies */
	double reconnect_min, reconnect_max; /* seconds */
	const char *log_module;		     /* "mqtt" */
};

int mqttconn_new(const struct mqttconn_options *opt,
		 const struct mqttconn_callbacks *cb, void *ctx,
		 struct mqttconn **ret);
struct mqttconn *mqttconn_free(struct mqttconn *c);

/* The libmosquitto handle while connecting or connected, else NULL. */
struct mosquitto *mqttconn_handle(struct mqttconn *c);
bool mqttconn_connected(const struct mqttconn *c);

/* From before_connect only: the will for this attempt. */
int mqttconn_set_will(struct mqttconn *c, const char *topic,
		      const void *payload, size_t len, int qos, bool retain);

int mqttconn_fd(const struct mqttconn *c);
short mqttconn_events(const struct mqttconn *c);

/* Do the due work (see publisher.h for the loop pattern). Returns the
 * monotonic ns by which it wants to run again. */
uint64_t mqttconn_run(struct mqttconn *c, short revents, uint64_t now_ns);

/* Mark the connection broken (e.g. a publish failed); it is torn down and
 * retried on the next run. */
void mqttconn_fail(struct mqttconn *c);

/* Send DISCONNECT and flush it; the broker then sends no will. */
void mqttconn_disconnect(struct mqttconn *c);

#endif
