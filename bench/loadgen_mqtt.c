#include "config.h"

#include "loadgen_mqtt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#define MQTT_MAX_REMAINING 268435455u /* 4 bytes of variable length */
#define MQTT_STR_MAX	   65535u

/* The variable-length "remaining length" of MQTT; returns its bytes. */
static size_t varint(uint8_t out[4], size_t v)
{
	size_t n = 0;
	do {
		uint8_t b = (uint8_t)(v % 128);
		v /= 128;
		out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v && n < 4);
	return n;
}

static size_t varint_len(size_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static int put_u16(struct buf *b, unsigned v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, 2);
}

static int put_str(struct buf *b, const void *s, size_t n)
{
	int r = put_u16(b, (unsigned)n);
	return r < 0 ? r : buf_append(b, s, n);
}

int loadgen_mqtt_encode_connect(struct buf *out,
				const struct loadgen_mqtt_connect *c)
{
	size_t id = strlen(c->client_id);
	size_t wt = c->will_topic ? strlen(c->will_topic) : 0;
	size_t user = c->username ? strlen(c->username) : 0;
	size_t pass = c->password ? strlen(c->password) : 0;
	size_t rem;
	uint8_t flags = 0x02, hdr[5];
	int r;

	if (id > MQTT_STR_MAX || wt > MQTT_STR_MAX || user > MQTT_STR_MAX ||
	    pass > MQTT_STR_MAX || c->will_len > MQTT_STR_MAX ||
	    c->keepalive > 65535 || c->will_qos > 1 ||
	    (c->password && !c->username))
		return -EINVAL;
	rem = 10 + 2 + id;
	if (c->will_topic) {
		rem += 2 + wt + 2 + c->will_len;
		flags |= (uint8_t)(0x04 | (c->will_qos << 3) |
				   (c->will_retain ? 0x20 : 0));
	}
	if (c->username) {
		rem += 2 + user;
		flags |= 0x80;
	}
	if (c->password) {
		rem += 2 + pass;
		flags |= 0x40;
	}
	hdr[0] = LOADGEN_MQTT_CONNECT << 4;
	size_t hl = 1 + varint(hdr + 1, rem);
	static const uint8_t proto[] = { 0, 4, 'M', 'Q', 'T', 'T', 4 };
	if ((r = buf_append(out, hdr, hl)) < 0 ||
	    (r = buf_append(out, proto, sizeof(proto))) < 0 ||
	    (r = buf_append(out, &flags, 1)) < 0 ||
	    (r = put_u16(out, c->keepalive)) < 0 ||
	    (r = put_str(out, c->client_id, id)) < 0)
		return r;
	if (c->will_topic &&
	    ((r = put_str(out, c->will_topic, wt)) < 0 ||
	     (r = put_str(out, c->will_payload, c->will_len)) < 0))
		return r;
	if (c->username && (r = put_str(out, c->username, user)) < 0)
		return r;
	if (c->password && (r = put_str(out, c->password, pass)) < 0)
		return r;
	return 0;
}

size_t loadgen_mqtt_publish_header_len(size_t topic_len, size_t payload_len,
				       unsigned qos)
{
	size_t rem = 2 + topic_len + (qos ? 2 : 0) + payload_len;
	return 1 + varint_len(rem) + 2 + topic_len + (qos ? 2 : 0);
}

int loadgen_mqtt_encode_publish_header(uint8_t *hdr, const char *topic,
				       size_t topic_len, size_t payload_len,
				       unsigned qos, bool retain, uint16_t id)
{
	size_t rem = 2 + topic_len + (qos ? 2 : 0) + payload_len;
	size_t at;

	if (topic_len > MQTT_STR_MAX || qos > 1 || rem > MQTT_MAX_REMAINING)
		return -EINVAL;
	hdr[0] =
	    (uint8_t)(LOADGEN_MQTT_PUBLISH << 4 | qos << 1 | (retain ? 1 : 0));
	at = 1 + varint(hdr + 1, rem);
	hdr[at++] = (uint8_t)(topic_len >> 8);
	hdr[at++] = (uint8_t)topic_len;
	memcpy(hdr + at, topic, topic_len);
	at += topic_len;
	if (qos) {
		hdr[at++] = (uint8_t)(id >> 8);
		hdr[at++] = (uint8_t)id;
	}
	return 0;
}

int loadgen_mqtt_encode_publish(struct buf *out, const char *topic,
				const void *payload, size_t len, unsigned qos,
				bool retain, uint16_t id)
{
	size_t tl = strlen(topic);
	uint8_t hdr[1 + 4 + 2 + 256 + 2];
	int r;

	if (tl > 256)
		return -EINVAL;
	r = loadgen_mqtt_encode_publish_header(hdr, topic, tl, len, qos, retain,
					       id);
	if (r < 0)
		return r;
	r = buf_append(out, hdr, loadgen_mqtt_publish_header_len(tl, len, qos));
	return r < 0 ? r : buf_append(out, payload, len);
}

int loadgen_mqtt_parse(const uint8_t *d, size_t len,
		       struct loadgen_mqtt_packet *ret)
{
	size_t rem = 0, at = 1;
	unsigned shift = 0;

	if (len < 2)
		return 0;
	/* Every packet a publisher receives is short: a length past one
	 * byte already means something is wrong. */
	for (;;) {
		if (at >= len)
			return 0;
		uint8_t b = d[at++];
		rem |= (size_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
		if (at > 4)
			return -EPROTO;
	}
	memset(ret, 0, sizeof(*ret));
	ret->type = (enum loadgen_mqtt_type)(d[0] >> 4);
	switch (ret->type) {
	case LOADGEN_MQTT_CONNACK:
		if (d[0] != 0x20 || rem != 2)
			return -EPROTO;
		if (len < at + 2)
			return 0;
		ret->session_present = d[at] & 1;
		ret->connack_rc = d[at + 1];
		break;
	case LOADGEN_MQTT_PUBACK:
		if (d[0] != 0x40 || rem != 2)
			return -EPROTO;
		if (len < at + 2)
			return 0;
		ret->id = (uint16_t)(d[at] << 8 | d[at + 1]);
		break;
	case LOADGEN_MQTT_PINGRESP:
		if (d[0] != 0xd0 || rem != 0)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	return (int)(at + rem);
}

void loadgen_mqtt_init(struct loadgen_mqtt *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	buf_init(&m->out, LOADGEN_MQTT_OUT_MAX);
}

void loadgen_mqtt_close(struct loadgen_mqtt *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->state = LOADGEN_MQTT_CLOSED;
	m->inlen = 0;
	m->ping_sent_ns = 0;
	/* Idle connections hold no buffer. */
	buf_release(&m->out);
	buf_init(&m->out, LOADGEN_MQTT_OUT_MAX);
}

int loadgen_mqtt_open(struct loadgen_mqtt *m, const struct sockaddr *addr,
		      socklen_t addrlen, const void *connect_pkt, size_t len,
		      uint64_t now)
{
	int one = 1, r;

	loadgen_mqtt_close(m);
	int af = addr->sa_family;
	m->fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		return -errno;
	/* Small messages otherwise wait for Nagle and delayed ACKs. */
	setsockopt(m->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(m->fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		r = -errno;
		loadgen_mqtt_close(m);
		return r;
	}
	r = buf_append(&m->out, connect_pkt, len);
	if (r < 0) {
		loadgen_mqtt_close(m);
		return r;
	}
	m->state = LOADGEN_MQTT_TCP_CONNECTING;
	m->opened_ns = now;
	m->last_out_ns = now;
	return 0;
}

static int write_some(struct loadgen_mqtt *m, const void *p, size_t len,
		      size_t *ret_written)
{
	ssize_t n = write(m->fd, p, len);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		n = 0;
	}
	*ret_written = (size_t)n;
	return 0;
}

int loadgen_mqtt_flush(struct loadgen_mqtt *m, uint64_t now)
{
	size_t w = 0;
	int r;

	if (m->fd < 0)
		return -ENOTCONN;
	if (m->state == LOADGEN_MQTT_TCP_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			return -errno;
		if (err)
			return -err;
		m->state = LOADGEN_MQTT_CONNACK_WAIT;
	}
	if (!m->out.len)
		return 0;
	r = write_some(m, m->out.data, m->out.len, &w);
	if (r < 0)
		return r;
	if (w) {
		memmove(m->out.data, m->out.data + w, m->out.len - w);
		buf_truncate(&m->out, m->out.len - w);
		m->last_out_ns = now;
	}
	return 0;
}

int loadgen_mqtt_send(struct loadgen_mqtt *m, const void *pkt, size_t len,
		      uint64_t now)
{
	size_t w = 0;
	int r;

	if (m->state != LOADGEN_MQTT_UP)
		return -ENOTCONN;
	if (m->out.len + len > LOADGEN_MQTT_OUT_MAX)
		return -ENOBUFS;
	/* Behind queued bytes a packet must wait its turn. */
	if (!m->out.len) {
		r = write_some(m, pkt, len, &w);
		if (r < 0)
			return r;
	}
	if (w < len) {
		r = buf_append(&m->out, (const char *)pkt + w, len - w);
		if (r < 0)
			return -ENOBUFS;
	}
	m->last_out_ns = now;
	return 0;
}

bool loadgen_mqtt_want_write(const struct loadgen_mqtt *m)
{
	return m->fd >= 0 &&
	       (m->state == LOADGEN_MQTT_TCP_CONNECTING || m->out.len > 0);
}

uint16_t loadgen_mqtt_next_id(struct loadgen_mqtt *m)
{
	if (++m->last_id == 0)
		m->last_id = 1;
	return m->last_id;
}

int loadgen_mqtt_read(struct loadgen_mqtt *m,
		      void (*on_packet)(void *ctx,
					const struct loadgen_mqtt_packet *p),
		      void *ctx)
{
	uint8_t b[8192];
	size_t have = m->inlen, at = 0;
	ssize_t n;

	if (m->fd < 0)
		return -ENOTCONN;
	memcpy(b, m->in, have);
	n = read(m->fd, b + have, sizeof(b) - have);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	have += (size_t)n;
	for (;;) {
		struct loadgen_mqtt_packet p;
		int k = loadgen_mqtt_parse(b + at, have - at, &p);
		if (k < 0)
			return k;
		if (k == 0)
			break;
		at += (size_t)k;
		if (p.type == LOADGEN_MQTT_CONNACK) {
			if (m->state != LOADGEN_MQTT_CONNACK_WAIT)
				return -EPROTO;
			if (p.connack_rc != 0)
				return -ECONNREFUSED;
			m->state = LOADGEN_MQTT_UP;
		} else if (p.type == LOADGEN_MQTT_PINGRESP) {
			m->ping_sent_ns = 0;
		}
		on_packet(ctx, &p);
	}
	if (have - at > sizeof(m->in))
		return -EPROTO;
	m->inlen = (uint8_t)(have - at);
	memcpy(m->in, b + at, m->inlen);
	return 0;
}

int loadgen_mqtt_tick(struct loadgen_mqtt *m, uint64_t now,
		      uint64_t keepalive_ns, uint64_t connect_timeout_ns)
{
	static const uint8_t ping[2] = { LOADGEN_MQTT_PINGREQ << 4, 0 };

	if (m->fd < 0)
		return 0;
	if (m->state != LOADGEN_MQTT_UP)
		return now - m->opened_ns > connect_timeout_ns ? -ETIMEDOUT : 0;
	if (m->ping_sent_ns)
		return now - m->ping_sent_ns > keepalive_ns ? -ETIMEDOUT : 0;
	if (now - m->last_out_ns < keepalive_ns / 2)
		return 0;
	m->ping_sent_ns = now;
	return loadgen_mqtt_send(m, ping, sizeof(ping), now);
}

void loadgen_mqtt_disconnect(struct loadgen_mqtt *m)
{
	static const uint8_t disc[2] = { LOADGEN_MQTT_DISCONNECT << 4, 0 };

	if (m->state == LOADGEN_MQTT_UP) {
		/* Whatever is still queued goes first, if the socket takes
		 * it now; a DISCONNECT behind a lost byte would be garbage. */
		if (loadgen_mqtt_flush(m, 0) == 0 && !m->out.len)
			loadgen_mqtt_send(m, disc, sizeof(disc), 0);
	}
	loadgen_mqtt_close(m);
}
