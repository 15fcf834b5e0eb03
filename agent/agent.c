#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "collectors/collect.h"
#include "compliance.h"
#include "jsonw.h"
#include "log.h"
#include "notify.h"
#include "sigfd.h"
#include "probe.h"
#include "publisher.h"
#include "spool.h"
#include "timeutil.h"
#include "wire.h"

#define NS_PER_SEC  1000000000ull
#define BOOT_ID_LEN 36
/* Time SIGTERM gives the in-flight samples and the offline message. */
#define SHUTDOWN_TIMEOUT_S 3.0

struct agent {
	struct agent_config *cfg;
	struct collect *collect;
	struct probe_runner *probes;
	struct compliance *compliance;
	struct spool *spool;
	struct publisher *pub;

	char boot_id[BOOT_ID_LEN + 1];
	char config_sha256[crypto_hash_sha256_BYTES * 2 + 1];
	uint64_t seq;
	uint64_t started_ns;
	struct buf sample;

	uint64_t spool_errors;
	uint64_t encode_errors;
	bool spool_failing;

	int sigfd;
	uint64_t watchdog_ns; /* 0: no watchdog */
	uint64_t next_watchdog_ns;
};

static void make_boot_id(char out[BOOT_ID_LEN + 1])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* UUID version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, BOOT_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
		 "02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* The SHA-256 of the config file's bytes goes into the birth message, so
 * that the fleet view can tell which nodes run which configuration. */
static void hash_file(const char *path,
		      char out[crypto_hash_sha256_BYTES * 2 + 1])
{
	crypto_hash_sha256_state st;
	unsigned char md[crypto_hash_sha256_BYTES];
	char chunk[8192];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;
	size_t total = 0;

	out[0] = '\0';
	if (fd < 0)
		return;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 &&
	       total < CONF_MAX_FILE) {
		crypto_hash_sha256_update(&st, (unsigned char *)chunk,
					  (size_t)n);
		total += (size_t)n;
	}
	crypto_hash_sha256_final(&st, md);
	sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, md, sizeof(md));
}

/* The parts that follow the config and are rebuilt on reload. */
struct parts {
	struct collect *collect;
	struct probe_runner *probes;
	struct compliance *compliance;
};

static void parts_release(struct parts *p)
{
	p->collect = collect_free(p->collect);
	p->probes = probe_runner_stop(p->probes);
	p->compliance = compliance_free(p->compliance);
}

static int parts_build(const struct agent_config *cfg, struct parts *p,
		       char *err, size_t errlen)
{
	struct collect_options co = { .proc_root = cfg->proc_root,
				      .sys_root = cfg->sys_root,
				      .per_core = cfg->per_core };
	int r;

	memset(p, 0, sizeof(*p));
	r = collect_new(&co, time_mono_ns(), &p->collect);
	if (r < 0) {
		snprintf(err, errlen, "collectors: %s", strerror(-r));
		goto fail;
	}
	r = probe_runner_start(cfg->probes, cfg->nprobes, &p->probes);
	if (r < 0) {
		snprintf(err, errlen, "probes: %s", strerror(-r));
		goto fail;
	}
	if (cfg->ncompliance_globs || cfg->manifest) {
		char cerr[512] = "";
		r = compliance_new((const char *const *)cfg->compliance_globs,
				   cfg->ncompliance_globs, cfg->manifest,
				   cfg->require_hash_marker,
				   cfg->constitutional_hash, &p->compliance,
				   cerr, sizeof(cerr));
		if (r < 0) {
			snprintf(err, errlen, "%s: [compliance] %s", cfg->path,
				 cerr[0] ? cerr : strerror(-r));
			goto fail;
		}
	}
	return 0;
fail:
	parts_release(p);
	return r;
}

static int encode_birth(struct agent *a, struct buf *out)
{
	const struct agent_config *c = a->cfg;
	struct jsonw w;

	buf_reset(out);
	jsonw_init(&w, out);
	wire_begin(&w, c->node_id, time_real_ms(), c->constitutional_hash);
	jsonw_kv_str(&w, "boot_id", a->boot_id);
	jsonw_kv_str(&w, "version", PACKAGE_VERSION);
	jsonw_kv_double(&w, "interval", c->interval);
	jsonw_kv_str(&w, "config_hash", a->config_sha256);
	jsonw_key(&w, "labels");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < c->nlabels; i++)
		jsonw_kv_str(&w, c->labels[i].key, c->labels[i].value);
	jsonw_obj_end(&w);
	jsonw_key(&w, "capabilities");
	jsonw_arr_begin(&w);
	jsonw_str(&w, "metrics");
	jsonw_str(&w, "probes");
	jsonw_str(&w, "compliance");
	jsonw_str(&w, "store_and_forward");
	jsonw_arr_end(&w);
	jsonw_key(&w, "probes");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < c->nprobes; i++) {
		const struct probe_spec *p = &c->probes[i];
		jsonw_obj_begin(&w);
		jsonw_kv_str(&w, "name", p->name);
		jsonw_kv_str(&w, "type",
			     p->type == PROBE_HTTP ? "http" : "tcp");
		jsonw_kv_str(&w, "service", p->service);
		if (p->slo_ms > 0)
			jsonw_kv_double(&w, "slo_ms", p->slo_ms);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	return jsonw_finish(&w);
}

static int encode_sample(struct agent *a, uint64_t now_ns, int64_t ts_ms,
			 uint64_t seq)
{
	const struct agent_config *c = a->cfg;
	struct jsonw w;

	buf_reset(&a->sample);
	jsonw_init(&w, &a->sample);
	wire_begin(&w, c->node_id, ts_ms, c->constitutional_hash);
	jsonw_kv_u64(&w, "seq", seq);
	jsonw_kv_str(&w, "boot_id", a->boot_id);
	jsonw_kv_double(&w, "interval", c->interval);
	collect_sample(a->collect, now_ns, &w);
	probe_runner_report(a->probes, &w);
	if (a->compliance)
		compliance_report(a->compliance, &w);
	if (a->pub)
		publisher_report(a->pub, &w);
	jsonw_key(&w, "agent");
	jsonw_obj_begin(&w);
	jsonw_kv_str(&w, "version", PACKAGE_VERSION);
	jsonw_kv_double(&w, "uptime_s", (double)(now_ns - a->started_ns) / 1e9);
	if (a->spool) {
		jsonw_kv_u64(&w, "queue_depth",
			     spool_tail(a->spool) - spool_head(a->spool));
		jsonw_kv_u64(&w, "queue_bytes", spool_bytes(a->spool));
		jsonw_kv_u64(&w, "queue_dropped", spool_dropped(a->spool));
		jsonw_kv_u64(&w, "spool_errors", a->spool_errors);
	}
	jsonw_kv_u64(&w, "encode_errors", a->encode_errors);
	collect_report_errors(a->collect, &w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	return jsonw_finish(&w);
}

int agent_new(struct agent_config *cfg, struct agent **ret, char *err,
	      size_t errlen)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct parts parts;
	int r;

	if (!a) {
		agent_config_free(cfg);
		return -ENOMEM;
	}
	a->cfg = cfg;
	a->sigfd = -1;
	a->started_ns = time_mono_ns();
	buf_init(&a->sample, WIRE_MAX_PAYLOAD);
	make_boot_id(a->boot_id);
	hash_file(cfg->path, a->config_sha256);

	r = parts_build(cfg, &parts, err, errlen);
	if (r < 0)
		goto out;
	a->collect = parts.collect;
	a->probes = parts.probes;
	a->compliance = parts.compliance;
out:
	if (r < 0) {
		agent_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

struct agent *agent_free(struct agent *a)
{
	if (!a)
		return NULL;
	a->pub = publisher_free(a->pub);
	a->spool = spool_free(a->spool);
	a->collect = collect_free(a->collect);
	a->probes = probe_runner_stop(a->probes);
	a->compliance = compliance_free(a->compliance);
	agent_config_free(a->cfg);
	buf_release(&a->sample);
	if (a->sigfd >= 0)
		close(a->sigfd);
	free(a);
	return NULL;
}

static int open_delivery(struct agent *a, char *err, size_t errlen)
{
	const struct agent_config *c = a->cfg;
	_cleanup_free_ char *qdir = NULL;
	struct buf birth;
	int r;

	if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "state_dir %s: %s", c->state_dir,
			 strerror(errno));
		return r;
	}
	if (asprintf(&qdir, "%s/queue", c->state_dir) < 0) {
		qdir = NULL;
		return -ENOMEM;
	}
	r = spool_open(qdir, c->buffer_max_bytes, &a->spool);
	if (r < 0) {
		snprintf(err, errlen, "queue %s: %s", qdir, strerror(-r));
		return r;
	}
	struct publisher_options po = {
		.mqtt = &c->mqtt,
		.node_id = c->node_id,
		.constitutional_hash = c->constitutional_hash,
		.max_inflight = c->max_inflight,
		.reconnect_min = c->reconnect_min,
		.reconnect_max = c->reconnect_max,
		.state_dir = c->state_dir,
		.boot_id = a->boot_id,
	};
	r = publisher_new(&po, a->spool, &a->pub);
	if (r < 0) {
		snprintf(err, errlen, "mqtt: %s", strerror(-r));
		return r;
	}
	buf_init(&birth, WIRE_MAX_PAYLOAD);
	r = encode_birth(a, &birth);
	if (r == 0)
		r = publisher_set_birth(a->pub, birth.data, birth.len);
	buf_release(&birth);
	if (r < 0)
		snprintf(err, errlen, "birth message: %s", strerror(-r));
	return r;
}

static void take_sample(struct agent *a, uint64_t now)
{
	uint64_t seq = a->seq++;
	int r = encode_sample(a, now, time_real_ms(), seq);
	uint64_t id;

	if (r < 0) {
		a->encode_errors++;
		log_err("agent",
			"sample dropped: cannot encode seq=%llu error=%s",
			(unsigned long long)seq, strerror(-r));
		return;
	}
	r = spool_push(a->spool, a->sample.data, a->sample.len, &id);
	if (r < 0) {
		a->spool_errors++;
		if (!a->spool_failing)
			log_err("spool",
				"cannot queue samples on disk dir=%s/queue "
				"error=%s; sending live samples only",
				a->cfg->state_dir, strerror(-r));
		a->spool_failing = true;
		/* Better a sample without a disk copy than none at all. */
		publisher_send_direct(a->pub, a->sample.data, a->sample.len);
		return;
	}
	if (a->spool_failing)
		log_info("spool", "queueing on disk again dir=%s/queue",
			 a->cfg->state_dir);
	a->spool_failing = false;
}

static void reload(struct agent *a)
{
	struct agent_config *ncfg = NULL;
	struct conf_error cerr;
	struct parts parts;
	char err[600];
	int r;

	notify_send("RELOADING=1\nSTATUS=reloading configuration");
	r = agent_config_load(a->cfg->path, &ncfg, &cerr);
	if (r < 0) {
		log_err(
		    "config",
		    "reload rejected, keeping the running configuration: %s",
		    cerr.msg);
		goto done;
	}
	r = parts_build(ncfg, &parts, err, sizeof(err));
	if (r < 0) {
		log_err(
		    "config",
		    "reload rejected, keeping the running configuration: %s",
		    err);
		agent_config_free(ncfg);
		goto done;
	}
	bool reconnect = agent_config_mqtt_changed(a->cfg, ncfg);
	struct parts old = { a->collect, a->probes, a->compliance };
	parts_release(&old);
	a->collect = parts.collect;
	a->probes = parts.probes;
	a->compliance = parts.compliance;
	struct agent_config *ocfg = a->cfg;
	a->cfg = ncfg;
	log_max_level = log_level_from_string(ncfg->log_level);
	hash_file(ncfg->path, a->config_sha256);
	if (reconnect) {
		/* A new broker, identity or queue: leave cleanly, start over.
		 * Unacknowledged samples stay in the old queue directory if
		 * state_dir moved; in the same one they are sent again. */
		publisher_shutdown(a->pub, SHUTDOWN_TIMEOUT_S);
		a->pub = publisher_free(a->pub);
		a->spool = spool_free(a->spool);
		r = open_delivery(a, err, sizeof(err));
		if (r < 0) {
			log_err("config",
				"reload: %s; keeping the old delivery settings",
				err);
			agent_config_free(a->cfg);
			a->cfg = ocfg;
			a->pub = publisher_free(a->pub);
			a->spool = spool_free(a->spool);
			r = open_delivery(a, err, sizeof(err));
			if (r < 0)
				log_err("agent", "cannot restore delivery: %s",
					err);
			goto done;
		}
	} else {
		struct buf birth;
		buf_init(&birth, WIRE_MAX_PAYLOAD);
		if (encode_birth(a, &birth) == 0)
			publisher_set_birth(a->pub, birth.data, birth.len);
		buf_release(&birth);
	}
	agent_config_free(ocfg);
	log_info("config",
		 "reloaded path=%s interval=%gs probes=%zu reconnect=%s",
		 a->cfg->path, a->cfg->interval, a->cfg->nprobes,
		 reconnect ? "yes" : "no");
done:
	notify_send("READY=1\nSTATUS=running");
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int agent_run(struct agent *a)
{
	char err[600];
	uint64_t interval_ns, next_sample, pub_deadline;
	uint64_t watchdog_usec = 0;
	bool stop = false, ready = false;
	short revents = 0;
	int r;

	r = open_delivery(a, err, sizeof(err));
	if (r < 0) {
		log_err("agent", "cannot start: %s", err);
		return r;
	}
	a->sigfd = sigfd_open();
	if (a->sigfd < 0) {
		r = a->sigfd;
		log_err("agent", "signalfd: %s", strerror(-r));
		return r;
	}
	watchdog_usec = notify_watchdog_usec();
	if (watchdog_usec > 0)
		a->watchdog_ns = watchdog_usec * 1000 / 2;

	log_info(
	    "agent",
	    "started node=%s version=%s interval=%gs broker=%s:%u queue=%llu "
	    "backlog=%llu",
	    a->cfg->node_id, PACKAGE_VERSION, a->cfg->interval,
	    a->cfg->mqtt.host, a->cfg->mqtt.port,
	    (unsigned long long)a->cfg->buffer_max_bytes,
	    (unsigned long long)(spool_tail(a->spool) - spool_head(a->spool)));

	uint64_t now = time_mono_ns();
	interval_ns = (uint64_t)(a->cfg->interval * 1e9);
	/* The first sample comes soon (rates need a short window), then the
	 * fixed interval. */
	next_sample = now + min_u64(interval_ns, NS_PER_SEC);
	a->next_watchdog_ns = now;

	while (!stop) {
		now = time_mono_ns();
		pub_deadline = publisher_run(a->pub, revents, now);
		revents = 0;
		if (!ready) {
			/* READY after the first connect attempt: whether the
			 * broker is up is not ours to wait for. */
			notify_send("READY=1\nSTATUS=running");
			ready = true;
		}
		if (now >= next_sample) {
			take_sample(a, now);
			next_sample += interval_ns;
			if (next_sample <= now) /* we were stopped or late */
				next_sample = now + interval_ns;
			pub_deadline = publisher_run(a->pub, 0, now);
		}
		if (a->watchdog_ns && now >= a->next_watchdog_ns) {
			notify_send("WATCHDOG=1");
			a->next_watchdog_ns = now + a->watchdog_ns;
		}

		uint64_t deadline = min_u64(next_sample, pub_deadline);
		if (a->watchdog_ns)
			deadline = min_u64(deadline, a->next_watchdog_ns);
		now = time_mono_ns();
		int timeout_ms =
		    deadline > now ? (int)((deadline - now + 999999) / 1000000)
				   : 0;
		struct pollfd pfd[2] = {
			{ .fd = a->sigfd, .events = POLLIN },
			{ .fd = publisher_fd(a->pub),
			  .events = publisher_events(a->pub) },
		};
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout_ms);
		if (n < 0 && errno != EINTR) {
			log_err("agent", "poll: %s", strerror(errno));
			return -errno;
		}
		if (n > 0 && pfd[1].fd >= 0)
			revents = pfd[1].revents;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					reload(a);
					interval_ns =
					    (uint64_t)(a->cfg->interval * 1e9);
					if (next_sample >
					    time_mono_ns() + interval_ns)
						next_sample = time_mono_ns() +
							      interval_ns;
				} else {
					log_info("agent",
						 "signal %s: shutting down",
						 strsignal((int)si.ssi_signo));
					stop = true;
				}
			}
		}
	}

	notify_send("STOPPING=1\nSTATUS=publishing offline and flushing");
	r = publisher_shutdown(a->pub, SHUTDOWN_TIMEOUT_S);
	if (r < 0 && r != -ENOTCONN)
		log_warn("mqtt",
			 "offline message not acknowledged: %s; the broker's "
			 "will says it instead",
			 strerror(-r));
	r = spool_sync(a->spool);
	if (r < 0)
		log_warn("spool", "sync failed: %s", strerror(-r));
	log_info(
	    "agent", "stopped boot_id=%s samples=%llu queued=%llu", a->boot_id,
	    (unsigned long long)a->seq,
	    (unsigned long long)(spool_tail(a->spool) - spool_head(a->spool)));
	return 0;
}

int agent_once(struct agent *a, int fd)
{
	double wait_s = a->cfg->interval < 1.0 ? a->cfg->interval : 1.0;
	struct timespec ts = {
		.tv_sec = (time_t)wait_s,
		.tv_nsec = (long)((wait_s - (double)(time_t)wait_s) * 1e9)
	};
	double probe_wait = 0;
	int r;

	for (size_t i = 0; i < a->cfg->nprobes; i++)
		if (a->cfg->probes[i].timeout > probe_wait)
			probe_wait = a->cfg->probes[i].timeout;
	nanosleep(&ts, NULL);
	if (a->cfg->nprobes)
		probe_runner_wait_first(a->probes, probe_wait + 1.0);
	r = encode_sample(a, time_mono_ns(), time_real_ms(), 0);
	if (r < 0)
		return r;
	if (buf_append(&a->sample, "\n", 1) < 0)
		return -E2BIG;
	for (size_t off = 0; off < a->sample.len;) {
		ssize_t n =
		    write(fd, a->sample.data + off, a->sample.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}
