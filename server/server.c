#include "config.h"

#include "server.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "ingest.h"
#include "log.h"
#include "mqttconn.h"
#include "notify.h"
#include "timeutil.h"

#define NS_PER_SEC     1000000000ull
#define STATS_EVERY_NS (60 * NS_PER_SEC)

struct server {
	struct server_config *cfg;
	struct ingest *ingest;
	struct mqttconn *mqtt;
	int sigfd;
	uint64_t watchdog_ns;
	uint64_t next_watchdog_ns;
	uint64_t next_stats_ns;
};

void server_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void subscribe_all(void *ctx, struct mqttconn *c)
{
	struct server *s = ctx;
	const char *root = s->cfg->mqtt.topic_root;
	const char *grp = s->cfg->shared_group;
	char topics[5][WIRE_TOPIC_MAX + 64];
	char *subs[5];
	int n = 0;

	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/metrics", grp,
		 root);
	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/events", grp,
		 root);
	snprintf(topics[n++], sizeof(topics[0]), "$share/%s/%s/+/cmd/result",
		 grp, root);
	snprintf(topics[n++], sizeof(topics[0]), "%s/+/birth", root);
	snprintf(topics[n++], sizeof(topics[0]), "%s/+/state", root);
	for (int i = 0; i < n; i++)
		subs[i] = topics[i];
	int rc = mosquitto_subscribe_multiple(mqttconn_handle(c), NULL, n, subs,
					      1, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_err("mqtt", "subscribe failed: %s", mosquitto_strerror(rc));
		mqttconn_fail(c);
		return;
	}
	log_info("mqtt", "subscribed group=%s root=%s", grp, root);
}

static void on_message(void *ctx, const struct mosquitto_message *m)
{
	struct server *s = ctx;
	struct ingest_result res;
	enum ingest_verdict v =
	    ingest_handle(s->ingest, m->topic, m->payload,
			  (size_t)(m->payloadlen > 0 ? m->payloadlen : 0),
			  time_real_ms(), &res);

	if (v == INGEST_REJECT)
		log_warn("ingest", "rejected topic=%s reason=%s detail=%s",
			 m->topic, ingest_reject_name(&res), res.detail);
	else
		log_debug("ingest", "%s topic=%s", ingest_verdict_name(v),
			  m->topic);
	ingest_result_release(&res);
}

static void log_stats(struct server *s)
{
	struct ingest_stats st;
	uint64_t rejected;

	ingest_get_stats(s->ingest, &st);
	rejected = st.rejected_capacity + st.rejected_direction;
	for (int i = 0; i < _WIRE_REJECT_MAX; i++)
		rejected += st.rejected[i];
	log_info("ingest",
		 "stats nodes=%zu received=%llu samples=%llu replays=%llu "
		 "duplicates=%llu gaps=%llu rejected=%llu",
		 st.nodes, (unsigned long long)st.received,
		 (unsigned long long)st.samples, (unsigned long long)st.replays,
		 (unsigned long long)st.duplicates, (unsigned long long)st.gaps,
		 (unsigned long long)rejected);
}

int server_new(struct server_config *cfg, struct server **ret, char *err,
	       size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		server_config_free(cfg);
		return -ENOMEM;
	}
	s->cfg = cfg;
	s->sigfd = -1;
	r = ingest_new(cfg->mqtt.topic_root, cfg->constitutional_hash, 0,
		       &s->ingest);
	if (r < 0) {
		snprintf(err, errlen, "ingest: %s", strerror(-r));
		goto out;
	}
	struct mqttconn_options mo = {
		.conf = &cfg->mqtt,
		/* A persistent session: the broker keeps our subscriptions
		 * and queues messages while we restart. MQTT 3.1.1, because
		 * libmosquitto has no non-blocking MQTT 5 connect that could
		 * carry the session-expiry property; mosquitto serves
		 * $share/ subscriptions to 3.1.1 clients too. */
		.clean_session = false,
		.protocol = MQTT_PROTOCOL_V311,
		.reconnect_min = 1,
		.reconnect_max = 30,
		.log_module = "mqtt",
	};
	struct mqttconn_callbacks cb = { .connected = subscribe_all,
					 .message = on_message };
	r = mqttconn_new(&mo, &cb, s, &s->mqtt);
	if (r < 0)
		snprintf(err, errlen, "mqtt: %s", strerror(-r));
out:
	if (r < 0) {
		server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	s->mqtt = mqttconn_free(s->mqtt);
	s->ingest = ingest_free(s->ingest);
	server_config_free(s->cfg);
	if (s->sigfd >= 0)
		close(s->sigfd);
	free(s);
	return NULL;
}

int server_run(struct server *s)
{
	sigset_t set;
	short revents = 0;
	bool stop = false, ready = false;
	uint64_t usec;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return -errno;
	usec = notify_watchdog_usec();
	s->watchdog_ns = usec * 1000 / 2;
	log_info("server", "started version=%s replica=%s broker=%s:%u",
		 PACKAGE_VERSION, s->cfg->replica_id, s->cfg->mqtt.host,
		 s->cfg->mqtt.port);
	s->next_stats_ns = time_mono_ns() + STATS_EVERY_NS;

	while (!stop) {
		uint64_t now = time_mono_ns();
		uint64_t deadline = mqttconn_run(s->mqtt, revents, now);
		revents = 0;
		if (!ready) {
			notify_send("READY=1\nSTATUS=running");
			ready = true;
		}
		if (s->watchdog_ns && now >= s->next_watchdog_ns) {
			notify_send("WATCHDOG=1");
			s->next_watchdog_ns = now + s->watchdog_ns;
		}
		if (now >= s->next_stats_ns) {
			log_stats(s);
			s->next_stats_ns = now + STATS_EVERY_NS;
		}
		if (s->watchdog_ns && s->next_watchdog_ns < deadline)
			deadline = s->next_watchdog_ns;
		now = time_mono_ns();
		int timeout = deadline > now
				  ? (int)((deadline - now + 999999) / 1000000)
				  : 0;
		struct pollfd pfd[2] = {
			{ .fd = s->sigfd, .events = POLLIN },
			{ .fd = mqttconn_fd(s->mqtt),
			  .events = mqttconn_events(s->mqtt) },
		};
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && pfd[1].fd >= 0)
			revents = pfd[1].revents;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_stats(s);
				} else {
					log_info("server",
						 "signal %s: shutting down",
						 strsignal((int)si.ssi_signo));
					stop = true;
				}
			}
		}
	}
	notify_send("STOPPING=1");
	/* A clean DISCONNECT keeps the persistent session for the restart. */
	mqttconn_disconnect(s->mqtt);
	log_stats(s);
	log_info("server", "stopped");
	return 0;
}
