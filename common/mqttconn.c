#include "config.h"

#include "mqttconn.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

#define NS_PER_SEC 1000000000ull
/* A connect that has not seen its CONNACK by then is abandoned. */
#define CONNECT_TIMEOUT_NS (10 * NS_PER_SEC)

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_CONNECTED };

struct mqttconn {
	struct mqtt_conf conf; /* our own copy */
	bool clean_session;
	int protocol;
	unsigned send_maximum;
	double reconnect_min, reconnect_max, backoff;
	char *log_module;

	struct mqttconn_callbacks cb;
	void *ctx;

	struct mosquitto *mosq;
	enum conn_state state;
	uint64_t attempt;
	uint64_t next_attempt_ns;
	uint64_t started_ns;
	unsigned failures_in_row;
	bool connack_seen;
	int connack_rc;
	bool lost;
};

int mqttconn_new(const struct mqttconn_options *opt,
		 const struct mqttconn_callbacks *cb, void *ctx,
		 struct mqttconn **ret)
{
	struct mqttconn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* A copy: a reload frees the config this came from while the
	 * connection lives on. */
	if (mqtt_conf_copy(&c->conf, opt->conf) < 0) {
		free(c);
		return -ENOMEM;
	}
	c->clean_session = opt->clean_session;
	c->protocol = opt->protocol ? opt->protocol : MQTT_PROTOCOL_V311;
	c->send_maximum = opt->send_maximum;
	c->reconnect_min = opt->reconnect_min > 0 ? opt->reconnect_min : 2;
	c->reconnect_max = opt->reconnect_max > 0 ? opt->reconnect_max : 60;
	c->backoff = c->reconnect_min;
	c->log_module = strdup(opt->log_module ? opt->log_module : "mqtt");
	if (!c->log_module) {
		mqtt_conf_release(&c->conf);
		free(c);
		return -ENOMEM;
	}
	c->cb = *cb;
	c->ctx = ctx;
	*ret = c;
	return 0;
}

static void teardown(struct mqttconn *c)
{
	if (c->mosq) {
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
	}
	c->state = CONN_IDLE;
	c->connack_seen = false;
	c->lost = false;
}

struct mqttconn *mqttconn_free(struct mqttconn *c)
{
	if (!c)
		return NULL;
	teardown(c);
	mqtt_conf_release(&c->conf);
	free(c->log_module);
	free(c);
	return NULL;
}

struct mosquitto *mqttconn_handle(struct mqttconn *c)
{
	return c->mosq;
}

bool mqttconn_connected(const struct mqttconn *c)
{
	return c->state == CONN_CONNECTED;
}

int mqttconn_fd(const struct mqttconn *c)
{
	return c->mosq ? mosquitto_socket(c->mosq) : -1;
}

short mqttconn_events(const struct mqttconn *c)
{
	if (!c->mosq || mosquitto_socket(c->mosq) < 0)
		return 0;
	return POLLIN | (mosquitto_want_write(c->mosq) ? POLLOUT : 0);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct mqttconn *c = obj;
	c->connack_seen = true;
	c->connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct mqttconn *c = obj;
	c->lost = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct mqttconn *c = obj;
	if (c->cb.published)
		c->cb.published(c->ctx, mid);
}

static void on_message(struct mosquitto *m, void *obj,
		       const struct mosquitto_message *msg)
{
	struct mqttconn *c = obj;
	if (c->cb.message)
		c->cb.message(c->ctx, msg);
}

int mqttconn_set_will(struct mqttconn *c, const char *topic,
		      const void *payload, size_t len, int qos, bool retain)
{
	if (!c->mosq)
		return -ENOTCONN;
	return mosquitto_will_set(c->mosq, topic, (int)len, payload, qos,
				  retain) == MOSQ_ERR_SUCCESS
		   ? 0
		   : -EINVAL;
}

static void schedule_retry(struct mqttconn *c, uint64_t now)
{
	/* Jitter of +-20% keeps a fleet from reconnecting in lockstep. */
	double jitter = 0.8 + 0.4 * (double)randombytes_uniform(1001) / 1000.0;
	double delay = c->backoff * jitter;
	c->next_attempt_ns = now + (uint64_t)(delay * 1e9);
	c->backoff *= 2;
	if (c->backoff > c->reconnect_max)
		c->backoff = c->reconnect_max;
	c->failures_in_row++;
	log_info(c->log_module,
		 "retrying connection in %.1fs attempt=%u host=%s port=%u",
		 delay, c->failures_in_row, c->conf.host, c->conf.port);
}

static int attempt(struct mqttconn *c, uint64_t now)
{
	int rc;

	c->attempt++;
	c->mosq = mosquitto_new(c->conf.client_id, c->clean_session, c);
	if (!c->mosq)
		return -ENOMEM;
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, c->protocol);
	/* Small messages otherwise wait for Nagle and delayed ACKs. */
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (c->send_maximum)
		mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM,
				     (int)c->send_maximum);
	mosquitto_connect_callback_set(c->mosq, on_connect);
	mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
	mosquitto_publish_callback_set(c->mosq, on_publish);
	mosquitto_message_callback_set(c->mosq, on_message);
	if (c->conf.username) {
		rc = mosquitto_username_pw_set(c->mosq, c->conf.username,
					       c->conf.password);
		if (rc != MOSQ_ERR_SUCCESS)
			goto fail;
	}
	if (c->conf.ca_file) {
		rc = mosquitto_tls_set(c->mosq, c->conf.ca_file, NULL,
				       c->conf.cert_file, c->conf.key_file,
				       NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			goto fail;
	}
	if (c->cb.before_connect)
		c->cb.before_connect(c->ctx, c, c->attempt);
	c->connack_seen = false;
	c->lost = false;
	c->started_ns = now;
	rc = mosquitto_connect_async(c->mosq, c->conf.host, (int)c->conf.port,
				     (int)(c->conf.keepalive + 0.5));
	if (rc != MOSQ_ERR_SUCCESS)
		goto fail;
	c->state = CONN_CONNECTING;
	return 0;
fail:
	log_warn(c->log_module, "connect to %s:%u failed: %s", c->conf.host,
		 c->conf.port,
		 rc == MOSQ_ERR_ERRNO ? strerror(errno)
				      : mosquitto_strerror(rc));
	return -EIO;
}

static void lose(struct mqttconn *c, uint64_t now)
{
	bool was_connected = c->state == CONN_CONNECTED;
	if (was_connected)
		log_warn(c->log_module, "connection lost host=%s port=%u",
			 c->conf.host, c->conf.port);
	if (c->cb.lost)
		c->cb.lost(c->ctx, c);
	teardown(c);
	if (was_connected) {
		/* A connection that worked is retried at once, then backs off.
		 */
		c->backoff = c->reconnect_min;
		c->next_attempt_ns = now;
		return;
	}
	schedule_retry(c, now);
}

static void handle_connack(struct mqttconn *c, uint64_t now)
{
	c->connack_seen = false;
	if (c->connack_rc != 0) {
		log_err(c->log_module,
			"broker refused the connection: %s host=%s port=%u "
			"client_id=%s",
			c->protocol == MQTT_PROTOCOL_V5
			    ? mosquitto_reason_string(c->connack_rc)
			    : mosquitto_connack_string(c->connack_rc),
			c->conf.host, c->conf.port, c->conf.client_id);
		c->state = CONN_CONNECTING; /* not a working connection */
		lose(c, now);
		return;
	}
	c->state = CONN_CONNECTED;
	c->backoff = c->reconnect_min;
	c->failures_in_row = 0;
	log_info(c->log_module, "connected host=%s port=%u client_id=%s",
		 c->conf.host, c->conf.port, c->conf.client_id);
	if (c->cb.connected)
		c->cb.connected(c->ctx, c);
}

uint64_t mqttconn_run(struct mqttconn *c, short revents, uint64_t now)
{
	int rc;

	if (c->mosq && c->state != CONN_IDLE) {
		if (revents & (POLLIN | POLLERR | POLLHUP)) {
			rc = mosquitto_loop_read(c->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS)
				c->lost = true;
		}
		if (!c->lost && mosquitto_want_write(c->mosq)) {
			rc = mosquitto_loop_write(c->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
				c->lost = true;
		}
		if (!c->lost && c->state == CONN_CONNECTED &&
		    mosquitto_loop_misc(c->mosq) != MOSQ_ERR_SUCCESS)
			c->lost = true;
	}
	/* A refusal usually arrives with the disconnect: the CONNACK goes
	 * first so that its reason is what gets logged. */
	if (c->connack_seen)
		handle_connack(c, now);
	if (c->state == CONN_CONNECTING && !c->lost &&
	    now - c->started_ns > CONNECT_TIMEOUT_NS) {
		log_warn(c->log_module, "no answer to CONNECT host=%s port=%u",
			 c->conf.host, c->conf.port);
		c->lost = true;
	}
	if (c->lost && c->state != CONN_IDLE)
		lose(c, now);
	if (c->state == CONN_IDLE && now >= c->next_attempt_ns &&
	    attempt(c, now) < 0) {
		teardown(c);
		schedule_retry(c, now);
	}
	if (c->mosq && c->state == CONN_CONNECTED &&
	    mosquitto_want_write(c->mosq))
		mosquitto_loop_write(c->mosq, 1);

	uint64_t next = now + NS_PER_SEC; /* keepalive and timeouts */
	if (c->state == CONN_IDLE && c->next_attempt_ns < next)
		next = c->next_attempt_ns;
	return next;
}

void mqttconn_fail(struct mqttconn *c)
{
	c->lost = true;
}

void mqttconn_disconnect(struct mqttconn *c)
{
	if (c->mosq && c->state == CONN_CONNECTED) {
		mosquitto_disconnect(c->mosq);
		mosquitto_loop_write(c->mosq, 1);
	}
	teardown(c);
}
