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
#include "mqttconn.h"
#include "stats.h"
#include "timeutil.h"
#include "wire.h"

#define RTT_WINDOW    1024
#define STATE_MSG_MAX 512

struct inflight {
	int mid;
	uint64_t id;
	uint64_t sent_ns;
	bool acked;
};

struct publisher {
	char *node_id, *hash, *conn_path, *boot_id;
	unsigned qos, max_inflight;

	char topic_metrics[WIRE_TOPIC_MAX];
	char topic_state[WIRE_TOPIC_MAX];
	char topic_birth[WIRE_TOPIC_MAX];

	struct spool *spool;
	struct mqttconn *conn;
	/* The connect counter `conn` of DESIGN section 4. */
	uint64_t conn_number;

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
};

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
			 (unsigned long long)p->conn_number);
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
	jsonw_kv_u64(&w, "conn", p->conn_number);
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

/* The unacknowledged window is published again, from the spool, after the
 * next connect: libmosquitto's copies died with its handle. */
static void reset_window(struct publisher *p)
{
	p->ring_head = 0;
	p->ring_count = 0;
	p->next_id = spool_head(p->spool);
	p->offline_mid = -1;
}

static void before_connect(void *ctx, struct mqttconn *c, uint64_t attempt)
{
	struct publisher *p = ctx;
	char will[STATE_MSG_MAX];
	size_t len;

	p->conn_number++;
	conn_store(p);
	/* The will carries this connection's number, set before connecting. */
	if (state_payload(p, false, will, sizeof(will), &len) == 0)
		mqttconn_set_will(c, p->topic_state, will, len, 1, true);
}

static void connected(void *ctx, struct mqttconn *c)
{
	struct publisher *p = ctx;
	struct mosquitto *m = mqttconn_handle(c);
	char online[STATE_MSG_MAX];
	size_t len;

	log_info(
	    "mqtt", "publishing conn=%llu backlog=%llu",
	    (unsigned long long)p->conn_number,
	    (unsigned long long)(spool_tail(p->spool) - spool_head(p->spool)));
	reset_window(p);
	if (p->birth.len)
		mosquitto_publish(m, NULL, p->topic_birth, (int)p->birth.len,
				  p->birth.data, 1, true);
	if (state_payload(p, true, online, sizeof(online), &len) == 0)
		mosquitto_publish(m, NULL, p->topic_state, (int)len, online, 1,
				  true);
}

static void lost(void *ctx, struct mqttconn *c)
{
	reset_window(ctx);
}

static void published(void *ctx, int mid)
{
	struct publisher *p = ctx;
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
			p->last_rtt_ms = (double)(now - f->sent_ns) / 1e6;
			if (p->nrtt < RTT_WINDOW)
				p->rtt[p->nrtt++] = p->last_rtt_ms;
			return;
		}
	}
	/* Birth and online are acknowledged here too: nothing to do. */
}

static char *dup_or_null(const char *s, int *err)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

int publisher_new(const struct publisher_options *opt, struct spool *spool,
		  struct publisher **ret)
{
	struct publisher *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
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
	p->qos = opt->mqtt->qos;
	p->max_inflight = opt->max_inflight ? opt->max_inflight : 1;
	p->spool = spool;
	p->offline_mid = -1;
	if ((r = wire_topic(p->topic_metrics, sizeof(p->topic_metrics),
			    opt->mqtt->topic_root, opt->node_id,
			    WIRE_METRICS)) < 0 ||
	    (r = wire_topic(p->topic_state, sizeof(p->topic_state),
			    opt->mqtt->topic_root, opt->node_id, WIRE_STATE)) <
		0 ||
	    (r = wire_topic(p->topic_birth, sizeof(p->topic_birth),
			    opt->mqtt->topic_root, opt->node_id, WIRE_BIRTH)) <
		0)
		goto out;
	p->ring = calloc(p->max_inflight, sizeof(*p->ring));
	if (!p->ring) {
		r = -ENOMEM;
		goto out;
	}
	buf_init(&p->rec, SPOOL_RECORD_MAX);
	buf_init(&p->birth, WIRE_MAX_PAYLOAD);
	p->conn_number = conn_load(p->conn_path);
	p->next_id = spool_head(spool);

	struct mqttconn_options mo = {
		.conf = opt->mqtt,
		/* Reliability comes from the disk queue, not the broker. */
		.clean_session = true,
		.protocol = MQTT_PROTOCOL_V5,
		/* Never let libmosquitto queue beyond our window: what we hand
		 * it is on the wire. */
		.send_maximum = p->max_inflight + 4,
		.reconnect_min = opt->reconnect_min,
		.reconnect_max = opt->reconnect_max,
		.log_module = "mqtt",
	};
	struct mqttconn_callbacks cb = {
		.before_connect = before_connect,
		.connected = connected,
		.lost = lost,
		.published = published,
	};
	r = mqttconn_new(&mo, &cb, p, &p->conn);
out:
	if (r < 0) {
		publisher_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

struct publisher *publisher_free(struct publisher *p)
{
	if (!p)
		return NULL;
	p->conn = mqttconn_free(p->conn);
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
	return mqttconn_fd(p->conn);
}

short publisher_events(const struct publisher *p)
{
	return mqttconn_events(p->conn);
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

/* Publish from the spool as the window allows. False when a publish
 * failed (the connection is then marked broken). */
static bool pump(struct publisher *p, uint64_t now)
{
	struct mosquitto *m = mqttconn_handle(p->conn);

	while (p->ring_count < p->max_inflight &&
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
			return true;
		}
		int rc = mosquitto_publish(m, &mid, p->topic_metrics,
					   (int)p->rec.len, p->rec.data,
					   (int)p->qos, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			/* Even a NO_CONN publish may sit in libmosquitto's
			 * queue; dropping the handle makes sure it is not
			 * sent twice. */
			mqttconn_fail(p->conn);
			return false;
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
	}
	advance_acks(p);
	return true;
}

uint64_t publisher_run(struct publisher *p, short revents, uint64_t now)
{
	uint64_t next = mqttconn_run(p->conn, revents, now);

	if (mqttconn_connected(p->conn) && !pump(p, now))
		return now; /* run again at once: reconnect */
	if (mqttconn_connected(p->conn)) {
		struct mosquitto *m = mqttconn_handle(p->conn);
		/* Write what pump queued now, not after a poll round. */
		if (mosquitto_want_write(m))
			mosquitto_loop_write(m, 1);
	}
	return next;
}

int publisher_send_direct(struct publisher *p, const char *payload, size_t len)
{
	if (!mqttconn_connected(p->conn))
		return -ENOTCONN;
	int rc =
	    mosquitto_publish(mqttconn_handle(p->conn), NULL, p->topic_metrics,
			      (int)len, payload, (int)p->qos, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		mqttconn_fail(p->conn);
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
		if (now >= deadline || !mqttconn_connected(p->conn))
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

	if (!mqttconn_connected(p->conn))
		return -ENOTCONN;
	/* Let the samples in flight land first, in half the time. */
	drive_until(p, start + (deadline - start) / 2, window_empty);
	if (!mqttconn_connected(p->conn))
		return -ENOTCONN;
	if (state_payload(p, false, offline, sizeof(offline), &len) < 0)
		return -ENOMEM;
	p->offline_acked = false;
	if (mosquitto_publish(mqttconn_handle(p->conn), &p->offline_mid,
			      p->topic_state, (int)len, offline, 1,
			      true) != MOSQ_ERR_SUCCESS)
		return -EIO;
	if (!drive_until(p, deadline, offline_done))
		r = -ETIMEDOUT;
	/* A clean DISCONNECT: the broker drops the will, offline is said. */
	mqttconn_disconnect(p->conn);
	reset_window(p);
	return r;
}

void publisher_report(struct publisher *p, struct jsonw *w)
{
	jsonw_key(w, "mqtt");
	jsonw_obj_begin(w);
	jsonw_kv_bool(w, "connected", mqttconn_connected(p->conn));
	jsonw_kv_u64(w, "conn", p->conn_number);
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
