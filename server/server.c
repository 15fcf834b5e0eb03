#include "config.h"

#include "server.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "ingest.h"
#include "log.h"
#include "mqttconn.h"
#include "notify.h"
#include "score.h"
#include "writer.h"
#include "timeutil.h"

#define NS_PER_SEC     1000000000ull
#define STATS_EVERY_NS (60 * NS_PER_SEC)

struct server {
	struct server_config *cfg;
	struct ingest *ingest;
	struct mqttconn *mqtt;
	struct writer *writer;
	struct score_policy policy;
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

/* The live score of a node from its newest sample. */
static double score_sample(struct server *s, const struct ingest_node *n,
			   const cJSON *sample, int64_t now_ms)
{
	struct score_probe_input probes[64];
	struct score_node_input in;
	struct score_components out;

	if (score_input_from_sample(sample, probes, 64, &in) < 0)
		return NAN;
	in.online = !n->seen_state || n->online;
	in.now_ms = now_ms;
	in.last_seen_ms = n->last_seen_ms;
	in.interval_s = n->interval_s;
	score_node(&s->policy, &in, &out);
	return out.score;
}

static void on_birth(struct server *s, const struct ingest_result *res,
		     int64_t now)
{
	const char *ver = NULL, *hash = NULL;
	char *labels = cJSON_PrintUnformatted(
	    cJSON_GetObjectItemCaseSensitive(res->msg.json, "labels"));
	struct store_node node = {
		.node_id = res->node->id,
		.seen_ms = now,
		.boot_id = res->msg.boot_id,
		.labels_json = labels,
		.conn = -1,
		.score = NAN,
	};

	wire_get_string(res->msg.json, "version", &ver);
	wire_get_string(res->msg.json, "config_hash", &hash);
	node.version = ver;
	node.config_hash = hash;
	writer_node(s->writer, &node);
	free(labels);
}

static void on_state(struct server *s, const struct ingest_result *res,
		     int64_t now)
{
	struct store_node node = {
		.node_id = res->node->id,
		.seen_ms = now,
		.state = res->node->online ? "online" : "offline",
		.conn = (int64_t)res->node->conn,
		.score = NAN,
	};
	writer_node(s->writer, &node);
	log_info("ingest", "node %s %s conn=%llu", res->node->id, node.state,
		 (unsigned long long)res->node->conn);
}

static void on_message(void *ctx, const struct mosquitto_message *m)
{
	struct server *s = ctx;
	struct ingest_result res;
	size_t len = (size_t)(m->payloadlen > 0 ? m->payloadlen : 0);
	int64_t now = time_real_ms();
	enum ingest_verdict v =
	    ingest_handle(s->ingest, m->topic, m->payload, len, now, &res);
	double score;

	switch (v) {
	case INGEST_REJECT:
		log_warn("ingest", "rejected topic=%s reason=%s detail=%s",
			 m->topic, ingest_reject_name(&res), res.detail);
		writer_reject(s->writer, now, m->topic, NULL,
			      ingest_reject_name(&res), res.detail, m->payload,
			      len);
		break;
	case INGEST_SAMPLE:
	case INGEST_REPLAY:
		/* A replay is history: stored, never scored as now. */
		score = v == INGEST_SAMPLE
			    ? score_sample(s, res.node, res.msg.json, now)
			    : NAN;
		if (writer_add_sample(s->writer, res.msg.json, m->payload, len,
				      now, score) < 0)
			log_warn("store", "sample not queued topic=%s",
				 m->topic);
		break;
	case INGEST_BIRTH:
		on_birth(s, &res, now);
		break;
	case INGEST_STATE:
		on_state(s, &res, now);
		break;
	default:
		log_debug("ingest", "%s topic=%s", ingest_verdict_name(v),
			  m->topic);
		break;
	}
	ingest_result_release(&res);
}

static void log_stats(struct server *s)
{
	struct ingest_stats st;
	struct writer_stats ws;
	uint64_t rejected;

	ingest_get_stats(s->ingest, &st);
	writer_get_stats(s->writer, &ws);
	rejected = st.rejected_capacity + st.rejected_direction;
	for (int i = 0; i < _WIRE_REJECT_MAX; i++)
		rejected += st.rejected[i];
	log_info("ingest",
		 "stats nodes=%zu received=%llu samples=%llu replays=%llu "
		 "duplicates=%llu gaps=%llu rejected=%llu written=%llu "
		 "spooled=%llu replayed=%llu spool_depth=%llu db=%s",
		 st.nodes, (unsigned long long)st.received,
		 (unsigned long long)st.samples, (unsigned long long)st.replays,
		 (unsigned long long)st.duplicates, (unsigned long long)st.gaps,
		 (unsigned long long)rejected, (unsigned long long)ws.written,
		 (unsigned long long)ws.spooled,
		 (unsigned long long)ws.replayed,
		 (unsigned long long)ws.spool_depth, ws.db_ok ? "up" : "down");
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
	score_policy_default(&s->policy);
	if (cfg->policy) {
		r = score_policy_load(cfg->policy, &s->policy, err, errlen);
		if (r < 0)
			goto out;
	}
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "state_dir %s: %s", cfg->state_dir,
			 strerror(errno));
		goto out;
	}
	char spool_dir[4096];
	snprintf(spool_dir, sizeof(spool_dir), "%s/spool", cfg->state_dir);
	struct writer_options wo = {
		.conninfo = cfg->conninfo,
		.spool_dir = spool_dir,
		.spool_max_bytes = 1ull << 30,
		.batch_max = cfg->batch_max,
		.flush_interval = cfg->flush_interval,
	};
	r = writer_new(&wo, &s->writer, err, errlen);
	if (r < 0)
		goto out;
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
	s->writer = writer_free(s->writer);
	score_policy_release(&s->policy);
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
		uint64_t wd = writer_run(s->writer, time_mono_ns());
		if (wd < deadline)
			deadline = wd;
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
	writer_flush(s->writer);
	log_stats(s);
	log_info("server", "stopped");
	return 0;
}
