/* A minimal MQTT 3.1.1 client connection for the load generator: CONNECT
 * with a will, QoS 0/1 PUBLISH, PUBACK, keepalive, DISCONNECT; nothing
 * else (no subscriptions, no QoS 2, no TLS).
 *
 * Why not libmosquitto, which the agent uses: each libmosquitto handle
 * opens a socketpair besides its connection (to wake a threaded loop), so
 * 10,000 clients need 30,000 descriptors, past the hard limit of 20,000
 * that even root cannot raise without CAP_SYS_RESOURCE (the case on the
 * bench machine); and per message it takes a mutex, copies the payload and
 * writes a wake-up byte to the socketpair. Measured on the bench machine
 * (1,000 nodes x 5 samples/s for 10 s, release build, whole process CPU
 * over samples sent): libmosquitto 28.7 us per sample, this client 16 us
 * (13-15 us of it while publishing), most of that the kernel's loopback
 * TCP. A load generator sharing two cores with what it measures must cost
 * much less than the server it loads.
 *
 * The encoders and the parser are pure functions (unit-tested); struct
 * loadgen_mqtt is one non-blocking connection driven from the caller's
 * epoll loop: a packet is written at once when nothing is queued, and what
 * the socket does not take waits in a capped per-connection buffer. */
#ifndef ACGS_LOADGEN_MQTT_H
#define ACGS_LOADGEN_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"

/* Bytes a connection may hold unsent before a send is refused. */
#define LOADGEN_MQTT_OUT_MAX (512 * 1024)
/* The longest PUBLISH fixed header + topic + packet id we write. */
#define LOADGEN_MQTT_HEADER_MAX (1 + 4 + 2 + 65535 + 2)

enum loadgen_mqtt_type {
	LOADGEN_MQTT_CONNECT = 1,
	LOADGEN_MQTT_CONNACK = 2,
	LOADGEN_MQTT_PUBLISH = 3,
	LOADGEN_MQTT_PUBACK = 4,
	LOADGEN_MQTT_PINGREQ = 12,
	LOADGEN_MQTT_PINGRESP = 13,
	LOADGEN_MQTT_DISCONNECT = 14,
};

struct loadgen_mqtt_connect {
	const char *client_id;
	const char *username;	/* NULL: none */
	const char *password;	/* NULL: none; needs username */
	unsigned keepalive;	/* seconds, at most 65535 */
	const char *will_topic; /* NULL: no will */
	const void *will_payload;
	size_t will_len;
	unsigned will_qos;
	bool will_retain;
};

/* Append a CONNECT packet (protocol level 4, clean session) to out.
 * Returns 0, -EINVAL for a field too long for MQTT (65535 bytes) or a
 * password without a user name, -E2BIG / -ENOMEM from the buffer. */
int loadgen_mqtt_encode_connect(struct buf *out,
				const struct loadgen_mqtt_connect *c);

/* Bytes of the PUBLISH fixed header, topic and (QoS 1) packet id for a
 * topic of topic_len bytes and a payload of payload_len bytes. */
size_t loadgen_mqtt_publish_header_len(size_t topic_len, size_t payload_len,
				       unsigned qos);

/* Write that header into hdr (exactly loadgen_mqtt_publish_header_len
 * bytes), so that hdr followed by the payload is the whole packet: the
 * caller renders the payload once, right behind the header. Returns 0, or
 * -EINVAL when the topic is longer than 65535 bytes, qos is not 0 or 1, or
 * the packet is longer than MQTT allows (256 MiB). */
int loadgen_mqtt_encode_publish_header(uint8_t *hdr, const char *topic,
				       size_t topic_len, size_t payload_len,
				       unsigned qos, bool retain, uint16_t id);

/* Append a whole PUBLISH (small messages: birth, state). */
int loadgen_mqtt_encode_publish(struct buf *out, const char *topic,
				const void *payload, size_t len, unsigned qos,
				bool retain, uint16_t id);

struct loadgen_mqtt_packet {
	enum loadgen_mqtt_type type;
	uint16_t id;	      /* PUBACK */
	int connack_rc;	      /* CONNACK: 0 accepted, else refused */
	bool session_present; /* CONNACK */
};

/* Parse one broker-to-client packet (CONNACK, PUBACK, PINGRESP) at the
 * start of data. Returns the bytes it took, 0 when more bytes are needed,
 * or -EPROTO for a malformed packet or one a publisher never gets. */
int loadgen_mqtt_parse(const uint8_t *data, size_t len,
		       struct loadgen_mqtt_packet *ret);

enum loadgen_mqtt_state {
	LOADGEN_MQTT_CLOSED,
	LOADGEN_MQTT_TCP_CONNECTING,
	LOADGEN_MQTT_CONNACK_WAIT,
	LOADGEN_MQTT_UP,
};

/* One connection; embedded in its owner (loadgen_mqtt_init, then
 * loadgen_mqtt_close to release). */
struct loadgen_mqtt {
	int fd;
	enum loadgen_mqtt_state state;
	uint16_t last_id;
	uint8_t inlen;
	uint8_t in[7]; /* a partial packet from the previous read */
	struct buf out;
	uint64_t opened_ns, last_out_ns, ping_sent_ns;
};

void loadgen_mqtt_init(struct loadgen_mqtt *m);

/* Start a non-blocking TCP connect to addr and queue the CONNECT packet
 * (encoded by the caller). Returns 0 (the connection is then
 * TCP_CONNECTING), or a negative errno (from creating or connecting the
 * socket). */
int loadgen_mqtt_open(struct loadgen_mqtt *m, const struct sockaddr *addr,
		      socklen_t addrlen, const void *connect, size_t len,
		      uint64_t now_ns);

/* Send a packet: written at once when nothing is queued, the rest queued.
 * Returns 0, -ENOTCONN when not connected yet, -ENOBUFS when the queue
 * would pass LOADGEN_MQTT_OUT_MAX (nothing is sent), or a write error
 * (the connection is then broken: close it). */
int loadgen_mqtt_send(struct loadgen_mqtt *m, const void *pkt, size_t len,
		      uint64_t now_ns);

/* The socket is writable: finish the TCP connect, write what is queued.
 * Returns 0 or a negative errno (connection failed or broken). */
int loadgen_mqtt_flush(struct loadgen_mqtt *m, uint64_t now_ns);

/* Whether to poll for writability (connect in progress or bytes queued). */
bool loadgen_mqtt_want_write(const struct loadgen_mqtt *m);

/* The next packet id (1..65535, never 0). */
uint16_t loadgen_mqtt_next_id(struct loadgen_mqtt *m);

/* The socket is readable: read and hand every whole packet to on_packet.
 * A CONNACK with rc 0 moves the connection to UP before on_packet runs.
 * Returns 0, -ECONNRESET at end of stream, -ECONNREFUSED for a refused
 * CONNACK, -EPROTO for a bad packet, or a read error. */
int loadgen_mqtt_read(struct loadgen_mqtt *m,
		      void (*on_packet)(void *ctx,
					const struct loadgen_mqtt_packet *p),
		      void *ctx);

/* Timers: a PINGREQ after keepalive/2 without sending, -ETIMEDOUT when a
 * PINGREQ is unanswered for keepalive or CONNACK has not come within
 * connect_timeout_ns of opening. Returns 0 or a negative errno. */
int loadgen_mqtt_tick(struct loadgen_mqtt *m, uint64_t now_ns,
		      uint64_t keepalive_ns, uint64_t connect_timeout_ns);

/* Send DISCONNECT if up (best effort: the broker then drops the will) and
 * close. */
void loadgen_mqtt_disconnect(struct loadgen_mqtt *m);

/* Close the socket and drop what is queued; the struct may be opened
 * again. */
void loadgen_mqtt_close(struct loadgen_mqtt *m);

#endif
