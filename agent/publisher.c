#include "config.h"

#include "publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "stats.h"
#include "timeutil.h"
#include "wire.h"

#define NS_PER_SEC 1000000000ull
#define RTT_WINDOW 1024
/* A connect that has not seen its CONNACK by then is abandoned. */
#define CONNECT_TIMEOUT_NS (10 * NS_PER_SEC)
#define STATE_MSG_MAX	   512

enum pub_state { PUB_IDLE, PUB_CONNECTING, PUB_CONNECTED };

struct inflight {
	int mid;
	uint64_t id;
	uint64_t sent_ns;
	bool acked;
};

struct publisher {
	/* Options, copied. */
	char *host, *client_id, *username, *password, *ca_file, *cert_file,
	    *key_file, *node_id, *hash, *conn_path, *boot_id;
	unsigned port, keepalive, qos, max_inflight;
	double reconnect_min, reconnect_max;

	char topic_metrics[WIRE_TOPIC_MAX];
	char topic_state[WIRE_TOPIC_MAX];
	char topic_birth[WIRE_TOPIC_MAX];

	struct spool *spool;
	struct mosquitto *mosq;
	enum pub_state state;
	uint64_t next_attempt_ns;
	uint64_t connect_started_ns;
	double backoff;
	unsigned failures_in_row;

	/* Set by callbacks, acted on in publisher_run (never publish from
	 * inside a libmosquitto callback). */
	bool connack_seen;
	int connack_rc;
	bool lost;
	int offline_mid;
	bool offline_acked;

	struct inflight *ring;
	unsigned ring_head, ring_count;
	uint64_t next_id; /* next spool record to publish */
	struct buf rec;
	struct buf birth;

	double rtt[RTT_WINDOW];
	size_t nrtt;
	double last_rtt_ms;

	struct publisher_stats stats;
};

static char *dup_or_null(const char *s, int *err)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

static uint64_t conn_load(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[32];
	uint64_t v = 0;

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	return v;
}

/* The counter must only grow, across restarts too: a late `offline` from
 * an earlier connection is recognised by its smaller conn. */
static void conn_store(struct publisher *p)
{
	char tmp[4096], buf[32];
	int n = snprintf(buf, sizeof(buf), "%llu\n",
			 (unsigned long long)p->stats.conn);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->conn_path);
	_cleanup_close_ int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n ||
	    rename(tmp, p->conn_path) < 0)
		log_warn("mqtt",
			 "cannot save the connect counter path=%s error=%s, "
			 "ignoring",
			 p->conn_path, strerror(errno));
}

int publisher_new(const struct publisher_options *opt, struct spool *spool,
		  struct publisher **ret)
{
	struct publisher *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->host = dup_or_null(opt->host, &r);
	p->client_id = dup_or_null(opt->client_id, &r);
	p->username = dup_or_null(opt->username, &r);
	p->password = dup_or_null(opt->password, &r);
	p->ca_file = dup_or_null(opt->ca_file, &r);
	p->cert_file = dup_or_null(opt->cert_file, &r);
	p->key_file = dup_or_null(opt->key_file, &r);
	p->node_id = dup_or_null(opt->node_id, &r);
	p->hash = dup_or_null(opt->constitutional_hash, &r);
	p->boot_id = dup_or_null(opt->boot_id, &r);
	if (r < 0)
		goto out;
	if (asprintf(&p->conn_path, "%s/conn", opt->state_dir) < 0) {
		p->conn_path = NULL;
		r = -ENOMEM;
		goto out;
	}
	p->port = opt->port;
	p->keepalive = opt->keepalive;
	p->qos = opt->qos;
	p->max_inflight = opt->max_inflight ? opt->max_inflight : 1;
	p->reconnect_min = opt->reconnect_min;
	p->reconnect_max = opt->reconnect_max;
	p->backoff = opt->reconnect_min;
	p->spool = spool;
	p->offline_mid = -1;
	if ((r = wire_topic(p->topic_metrics, sizeof(p->topic_metrics),
			    opt->topic_root, opt->node_id, WIRE_METRICS)) < 0 ||
	    (r = wire_topic(p->topic_state, sizeof(p->topic_state),
			    opt->topic_root, opt->node_id, WIRE_STATE)) < 0 ||
	    (r = wire_topic(p->topic_birth, sizeof(p->topic_birth),
			    opt->topic_root, opt->node_id, WIRE_BIRTH)) < 0)
		goto out;
	p->ring = calloc(p->max_inflight, sizeof(*p->ring));
	if (!p->ring) {
		r = -ENOMEM;
		goto out;
	}
	buf_init(&p->rec, SPOOL_RECORD_MAX);
	buf_init(&p->birth, WIRE_MAX_PAYLOAD);
	p->stats.conn = conn_load(p->conn_path);
	p->next_id = spool_head(spool);
out:
	if (r < 0) {
		publisher_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

static void teardown(struct publisher *p)
{
	if (p->mosq) {
		mosquitto_destroy(p->mosq);
		p->mosq = NULL;
	}
	p->state = PUB_IDLE;
	p->stats.connected = false;
	/* libmosquitto's copies are gone with the handle: what was in flight
	 * is published again from the spool after the next connect. */
	p->ring_head = 0;
	p->ring_count = 0;
	p->next_id = spool_head(p->spool);
	p->connack_seen = false;
	p->lost = false;
	p->offline_mid = -1;
}

struct publisher *publisher_free(struct publisher *p)
{
	if (!p)
		return NULL;
	teardown(p);
	free(p->host);
	free(p->client_id);
	free(p->username);
	if (p->password)
		sodium_memzero(p->password, strlen(p->password));
	free(p->password);
	free(p->ca_file);
	free(p->cert_file);
	free(p->key_file);
	free(p->node_id);
	free(p->hash);
	free(p->boot_id);
	free(p->conn_path);
	free(p->ring);
	buf_release(&p->rec);
	buf_release(&p->birth);
	free(p);
	return NULL;
}

int publisher_set_birth(struct publisher *p, const char *json, size_t len)
{
	buf_reset(&p->birth);
	return buf_append(&p->birth, json, len);
}

int publisher_fd(const struct publisher *p)
{
	return p->mosq ? mosquitto_socket(p->mosq) : -1;
}

short publisher_events(const struct publisher *p)
{
	if (!p->mosq || mosquitto_socket(p->mosq) < 0)
		return 0;
	return POLLIN | (mosquitto_want_write(p->mosq) ? POLLOUT : 0);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct publisher *p = obj;
	p->connack_seen = true;
	p->connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct publisher *p = obj;
	p->lost = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct publisher *p = obj;
	uint64_t now = time_mono_ns();

	if (mid == p->offline_mid) {
		p->offline_acked = true;
		return;
	}
	for (unsigned i = 0; i < p->ring_count; i++) {
		struct inflight *f =
		    &p->ring[(p->ring_head + i) % p->max_inflight];
		if (f->mid == mid && !f->acked) {
			f->acked = true;
			p->stats.acked++;
			p->last_rtt_ms = (double)(now - f->sent_ns) / 1e6;
			if (p->nrtt < RTT_WINDOW)
				p->rtt[p->nrtt++] = p->last_rtt_ms;
			return;
		}
	}
	/* Birth and online messages are acknowledged here too; nothing to do.
	 */
}

static int state_payload(struct publisher *p, bool online, char *out,
			 size_t outlen, size_t *ret_len)
{
	struct buf b;
	struct jsonw w;
	int r;

	buf_init(&b, outlen - 1);
	jsonw_init(&w, &b);
	wire_begin(&w, p->node_id, time_real_ms(), p->hash);
	jsonw_kv_str(&w, "state", online ? "online" : "offline");
	jsonw_kv_u64(&w, "conn", p->stats.conn);
	jsonw_kv_str(&w, "boot_id", p->boot_id);
	jsonw_obj_end(&w);
	r = jsonw_finish(&w);
	if (r == 0) {
		memcpy(out, b.data, b.len + 1);
		*ret_len = b.len;
	}
	buf_release(&b);
	return r;
}

static void schedule_retry(struct publisher *p, uint64_t now)
{
	/* Jitter of +-20% keeps a fleet that lost its broker together from
	 * reconnecting in lockstep. */
	double jitter = 0.8 + 0.4 * (double)randombytes_uniform(1001) / 1000.0;
	double delay = p->backoff * jitter;
	p->next_attempt_ns = now + (uint64_t)(delay * 1e9);
	p->backoff *= 2;
	if (p->backoff > p->reconnect_max)
		p->backoff = p->reconnect_max;
	p->failures_in_row++;
	log_info("mqtt",
		 "retrying connection in %.1fs attempt=%u host=%s port=%u",
		 delay, p->failures_in_row, p->host, p->port);
}

static void fail_connection(struct publisher *p, uint64_t now)
{
	bool was_connected = p->state == PUB_CONNECTED;
	teardown(p);
	if (was_connected) {
		/* A connection that worked is retried at once, then backs off.
		 */
		p->backoff = p->reconnect_min;
		p->next_attempt_ns = now;
		return;
	}
	p->stats.connect_failures++;
	schedule_retry(p, now);
}

static int attempt(struct publisher *p, uint64_t now)
{
	char will[STATE_MSG_MAX];
	size_t will_len;
	int rc;

	p->stats.conn++;
	conn_store(p);
	p->mosq = mosquitto_new(p->client_id, true, p);
	if (!p->mosq)
		return -ENOMEM;
	mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     MQTT_PROTOCOL_V5);
	/* Small messages otherwise wait for Nagle and delayed ACKs. */
	mosquitto_int_option(p->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* Never let libmosquitto queue beyond our window: what we hand it is
	 * on the wire. */
	mosquitto_int_option(p->mosq, MOSQ_OPT_SEND_MAXIMUM,
			     (int)p->max_inflight + 4);
	mosquitto_connect_callback_set(p->mosq, on_connect);
	mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
	mosquitto_publish_callback_set(p->mosq, on_publish);
	if (p->username) {
		rc = mosquitto_username_pw_set(p->mosq, p->username,
					       p->password);
		if (rc != MOSQ_ERR_SUCCESS)
			goto fail;
	}
	if (p->ca_file) {
		rc = mosquitto_tls_set(p->mosq, p->ca_file, NULL, p->cert_file,
				       p->key_file, NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			goto fail;
	}
	/* The will carries this connection's number, set before connecting. */
	if (state_payload(p, false, will, sizeof(will), &will_len) < 0) {
		rc = MOSQ_ERR_NOMEM;
		goto fail;
	}
	rc = mosquitto_will_set(p->mosq, p->topic_state, (int)will_len, will, 1,
				true);
	if (rc != MOSQ_ERR_SUCCESS)
		goto fail;
	p->connack_seen = false;
	p->lost = false;
	p->connect_started_ns = now;
	rc = mosquitto_connect_async(p->mosq, p->host, (int)p->port,
				     (int)p->keepalive);
	if (rc != MOSQ_ERR_SUCCESS)
		goto fail;
	p->state = PUB_CONNECTING;
	log_debug("mqtt", "connecting host=%s port=%u conn=%llu tls=%s",
		  p->host, p->port, (unsigned long long)p->stats.conn,
		  p->ca_file ? "yes" : "no");
	return 0;
fail:
	log_warn("mqtt", "connect to %s:%u failed: %s", p->host, p->port,
		 rc == MOSQ_ERR_ERRNO ? strerror(errno)
				      : mosquitto_strerror(rc));
	return -EIO;
}

static void publish_hello(struct publisher *p)
{
	char online[STATE_MSG_MAX];
	size_t len;

	if (p->birth.len)
		mosquitto_publish(p->mosq, NULL, p->topic_birth,
				  (int)p->birth.len, p->birth.data, 1, true);
	if (state_payload(p, true, online, sizeof(online), &len) == 0)
		mosquitto_publish(p->mosq, NULL, p->topic_state, (int)len,
				  online, 1, true);
}

static void handle_connack(struct publisher *p, uint64_t now)
{
	p->connack_seen = false;
	if (p->connack_rc != 0) {
		/* Refused credentials or a banned client id: say so plainly,
		 * then keep retrying with backoff (it may be fixed
		 * broker-side). */
		log_err("mqtt",
			"broker refused the connection: %s host=%s port=%u "
			"client_id=%s",
			mosquitto_reason_string(p->connack_rc), p->host,
			p->port, p->client_id);
		p->lost = false;
		teardown(p);
		p->stats.connect_failures++;
		schedule_retry(p, now);
		return;
	}
	p->state = PUB_CONNECTED;
	p->stats.connected = true;
	p->stats.connects++;
	p->backoff = p->reconnect_min;
	p->failures_in_row = 0;
	log_info(
	    "mqtt", "connected host=%s port=%u conn=%llu backlog=%llu", p->host,
	    p->port, (unsigned long long)p->stats.conn,
	    (unsigned long long)(spool_tail(p->spool) - spool_head(p->spool)));
	publish_hello(p);
}

static void advance_acks(struct publisher *p)
{
	bool moved = false;
	while (p->ring_count && p->ring[p->ring_head].acked) {
		p->ring_head = (p->ring_head + 1) % p->max_inflight;
		p->ring_count--;
		moved = true;
	}
	if (!moved)
		return;
	uint64_t upto = p->ring_count ? p->ring[p->ring_head].id : p->next_id;
	int r = spool_ack(p->spool, upto);
	if (r < 0)
		log_warn("spool",
			 "cannot record delivery upto=%llu error=%s, ignoring",
			 (unsigned long long)upto, strerror(-r));
}

static void pump(struct publisher *p, uint64_t now)
{
	while (p->state == PUB_CONNECTED && p->ring_count < p->max_inflight &&
	       p->next_id < spool_tail(p->spool)) {
		int mid;
		uint64_t head = spool_head(p->spool);
		if (p->next_id < head)
			p->next_id = head; /* dropped while we were away */
		int r = spool_read(p->spool, p->next_id, &p->rec);
		if (r == -ENOENT || r == -EBADMSG) {
			p->next_id++;
			continue;
		}
		if (r < 0) {
			log_warn("spool", "read failed id=%llu error=%s",
				 (unsigned long long)p->next_id, strerror(-r));
			return;
		}
		int rc = mosquitto_publish(p->mosq, &mid, p->topic_metrics,
					   (int)p->rec.len, p->rec.data,
					   (int)p->qos, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			/* Even a NO_CONN publish may sit in libmosquitto's
			 * queue; dropping the handle makes sure it is not
			 * sent twice. */
			p->lost = true;
			return;
		}
		struct inflight *f =
		    &p->ring[(p->ring_head + p->ring_count) % p->max_inflight];
		f->mid = mid;
		f->id = p->next_id;
		f->sent_ns = now;
		/* QoS 0 has no PUBACK: handed over is as delivered as it gets.
		 */
		f->acked = p->qos == 0;
		p->ring_count++;
		p->next_id++;
		p->stats.published++;
	}
	advance_acks(p);
}

uint64_t publisher_run(struct publisher *p, short revents, uint64_t now)
{
	int rc;

	if (p->mosq && p->state != PUB_IDLE) {
		if (revents & (POLLIN | POLLERR | POLLHUP)) {
			rc = mosquitto_loop_read(p->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS)
				p->lost = true;
		}
		if (!p->lost && mosquitto_want_write(p->mosq)) {
			rc = mosquitto_loop_write(p->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
				p->lost = true;
		}
		if (!p->lost && p->state == PUB_CONNECTED) {
			rc = mosquitto_loop_misc(p->mosq);
			if (rc != MOSQ_ERR_SUCCESS)
				p->lost = true;
		}
	}
	/* A refusal usually arrives with the disconnect: the CONNACK goes
	 * first so that its reason is what gets logged. */
	if (p->connack_seen)
		handle_connack(p, now);
	if (p->state == PUB_CONNECTING && !p->lost &&
	    now - p->connect_started_ns > CONNECT_TIMEOUT_NS) {
		log_warn("mqtt",
			 "no answer to CONNECT within %llus host=%s port=%u",
			 (unsigned long long)(CONNECT_TIMEOUT_NS / NS_PER_SEC),
			 p->host, p->port);
		p->lost = true;
	}
	if (p->lost && p->state != PUB_IDLE) {
		if (p->state == PUB_CONNECTED)
			log_warn("mqtt",
				 "connection lost host=%s port=%u inflight=%u",
				 p->host, p->port, p->ring_count);
		fail_connection(p, now);
	}
	if (p->state == PUB_IDLE && now >= p->next_attempt_ns) {
		if (attempt(p, now) < 0) {
			teardown(p);
			p->stats.connect_failures++;
			schedule_retry(p, now);
		}
	}
	if (p->state == PUB_CONNECTED) {
		pump(p, now);
		if (p->lost) {
			fail_connection(p, now);
			p->next_attempt_ns = now;
		} else if (mosquitto_want_write(p->mosq)) {
			/* Write what pump queued now, not after a poll round.
			 */
			mosquitto_loop_write(p->mosq, 1);
		}
	}
	p->stats.inflight = p->ring_count;

	uint64_t next = now + NS_PER_SEC; /* keepalive and timeouts */
	if (p->state == PUB_IDLE && p->next_attempt_ns < next)
		next = p->next_attempt_ns;
	return next;
}

int publisher_send_direct(struct publisher *p, const char *payload, size_t len)
{
	if (p->state != PUB_CONNECTED)
		return -ENOTCONN;
	int rc = mosquitto_publish(p->mosq, NULL, p->topic_metrics, (int)len,
				   payload, (int)p->qos, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		p->lost = true;
		return -EIO;
	}
	return 0;
}

/* Drive the connection until done() or the deadline; false on timeout. */
static bool drive_until(struct publisher *p, uint64_t deadline,
			bool (*done)(const struct publisher *))
{
	while (!done(p)) {
		uint64_t now = time_mono_ns();
		if (now >= deadline || p->state != PUB_CONNECTED)
			return false;
		struct pollfd pfd = { .fd = publisher_fd(p),
				      .events = publisher_events(p) };
		int ms = (int)((deadline - now) / 1000000) + 1;
		if (ms > 50)
			ms = 50;
		int n = poll(&pfd, 1, ms);
		publisher_run(p, n > 0 ? pfd.revents : 0, time_mono_ns());
	}
	return true;
}

static bool window_empty(const struct publisher *p)
{
	return p->ring_count == 0;
}

static bool offline_done(const struct publisher *p)
{
	return p->offline_acked;
}

int publisher_shutdown(struct publisher *p, double timeout_s)
{
	char offline[STATE_MSG_MAX];
	size_t len;
	uint64_t start = time_mono_ns();
	uint64_t deadline = start + (uint64_t)(timeout_s * 1e9);
	int r = 0;

	if (p->state != PUB_CONNECTED)
		return -ENOTCONN;
	/* Let the samples in flight land first, in half the time. */
	drive_until(p, start + (deadline - start) / 2, window_empty);
	if (p->state != PUB_CONNECTED)
		return -ENOTCONN;
	if (state_payload(p, false, offline, sizeof(offline), &len) < 0)
		return -ENOMEM;
	p->offline_acked = false;
	if (mosquitto_publish(p->mosq, &p->offline_mid, p->topic_state,
			      (int)len, offline, 1, true) != MOSQ_ERR_SUCCESS)
		return -EIO;
	if (!drive_until(p, deadline, offline_done))
		r = -ETIMEDOUT;
	if (p->mosq) {
		mosquitto_disconnect(p->mosq);
		mosquitto_loop_write(p->mosq, 1);
	}
	teardown(p);
	return r;
}

void publisher_get_stats(const struct publisher *p, struct publisher_stats *ret)
{
	*ret = p->stats;
	ret->inflight = p->ring_count;
}

void publisher_report(struct publisher *p, struct jsonw *w)
{
	jsonw_key(w, "mqtt");
	jsonw_obj_begin(w);
	jsonw_kv_bool(w, "connected", p->state == PUB_CONNECTED);
	jsonw_kv_u64(w, "conn", p->stats.conn);
	jsonw_kv_u64(w, "inflight", p->ring_count);
	jsonw_kv_u64(w, "rtt_count", p->nrtt);
	if (p->nrtt) {
		jsonw_kv_double(w, "rtt_ms", p->last_rtt_ms);
		jsonw_kv_double(w, "rtt_p50_ms",
				stats_percentile(p->rtt, p->nrtt, 50));
		jsonw_kv_double(w, "rtt_p99_ms",
				stats_percentile(p->rtt, p->nrtt, 99));
	}
	jsonw_obj_end(w);
	p->nrtt = 0;
}
