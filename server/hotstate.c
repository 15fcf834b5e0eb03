/* Hot state in Redis: see hotstate.h. */
#include "config.h"

#include "hotstate.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

#define NODE_KEY_PREFIX "acgs:node:"
#define INDEX_KEY	"acgs:nodes"
#define PULL_EVERY_NS	1000000000ull
/* Records whose index time is this far before the previous read are read
 * again: replicas' clocks and a write racing the read. */
#define PULL_OVERLAP_MS 2000
#define PULL_MAX	100000

/* KEYS[1] the node's hash, KEYS[2] the index. ARGV: 1 id, 2 ts, 3 conn,
 * 4 boot_id, 5 seq, 6 score, 7 components, 8 sample, 9 labels, 10 replica,
 * 11 state, 12 last_seen, 13 now. Sample fields move only forward in
 * sample time, state fields only forward in connection number. Returns
 * 1 when anything was written. */
static const char guard_script[] =
    "local h = KEYS[1]\n"
    "local ts, conn = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local cur = redis.call('HMGET', h, 'ts', 'conn')\n"
    "local cts, cconn = tonumber(cur[1] or '-1'), tonumber(cur[2] or '-1')\n"
    "local w = 0\n"
    "if ts >= 0 and ts >= cts then\n"
    "  redis.call('HSET', h, 'ts', ARGV[2], 'boot_id', ARGV[4], 'seq',\n"
    "    ARGV[5], 'score', ARGV[6], 'components', ARGV[7],\n"
    "    'replica', ARGV[10])\n"
    "  if ARGV[8] ~= '' then\n"
    "    redis.call('HSET', h, 'sample', ARGV[8], 'sample_ts', ARGV[2])\n"
    "  end\n"
    "  w = 1\n"
    "end\n"
    "if conn >= 0 and conn >= cconn then\n"
    "  redis.call('HSET', h, 'conn', ARGV[3], 'state', ARGV[11])\n"
    "  w = 1\n"
    "end\n"
    "if ARGV[9] ~= '' then redis.call('HSET', h, 'labels', ARGV[9]) end\n"
    "local ls = tonumber(redis.call('HGET', h, 'last_seen') or '-1')\n"
    "if tonumber(ARGV[12]) > ls then\n"
    "  redis.call('HSET', h, 'last_seen', ARGV[12])\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], ARGV[13], ARGV[1])\n"
    "return w\n";

/* Nodes waiting to be written, one record per node (the newest). */
struct pending {
	struct hot_node *v;
	size_t n, cap;
	size_t *slot; /* open addressing: index + 1 into v, 0 empty */
	size_t nslot; /* a power of two, at least 2 * cap */
};

struct hotstate {
	struct hot_url url;
	char *replica;
	struct timeval tv;
	size_t max_pending;
	struct breaker *breaker;
	struct metric_series *latency;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, kick, complained;
	struct pending pend;	 /* guarded by lock */
	struct hot_node *pulled; /* guarded by lock */
	size_t npulled, cappulled;
	struct hotstate_stats stats; /* guarded by lock */

	/* The thread's own. */
	redisContext *rc;
	char sha[41];
	int64_t last_pull_ms;
};

void hot_node_release(struct hot_node *n)
{
	if (!n)
		return;
	free(n->id);
	free(n->boot_id);
	free(n->components);
	free(n->sample);
	free(n->labels);
	free(n->state);
	free(n->replica);
	memset(n, 0, sizeof(*n));
}

/* ---- URL ---- */

static int parse_uint(const char *s, size_t n, unsigned max, unsigned *ret)
{
	unsigned long v = 0;
	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int hotstate_parse_url(const char *url, struct hot_url *ret)
{
	struct hot_url u = { .port = 6379 };
	const char *p, *at, *slash, *colon, *end;

	if (!url)
		return -EINVAL;
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		if (p[0] != '/' || strlen(p) >= sizeof(u.host))
			return -EINVAL;
		snprintf(u.host, sizeof(u.host), "%s", p);
		u.unix_socket = true;
		*ret = u;
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -EINVAL;
	p = url + 8;
	end = p + strlen(p);
	slash = strchr(p, '/');
	if (!slash)
		slash = end;
	at = memchr(p, '@', (size_t)(slash - p));
	if (at) {
		/* [user]:password@ ; Redis 6 ACL users are not supported
		 * here (Debian 12 ships 7, but AUTH with a password is what
		 * the default user needs). */
		colon = memchr(p, ':', (size_t)(at - p));
		if (!colon || colon != p ||
		    (size_t)(at - colon - 1) >= sizeof(u.password))
			return -EINVAL;
		memcpy(u.password, colon + 1, (size_t)(at - colon - 1));
		u.password[at - colon - 1] = '\0';
		u.has_password = true;
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(slash - p));
	const char *host_end = colon ? colon : slash;
	if (host_end == p || (size_t)(host_end - p) >= sizeof(u.host))
		return -EINVAL;
	memcpy(u.host, p, (size_t)(host_end - p));
	u.host[host_end - p] = '\0';
	if (colon && (parse_uint(colon + 1, (size_t)(slash - colon - 1), 65535,
				 &u.port) < 0 ||
		      u.port == 0))
		return -EINVAL;
	if (slash < end && slash + 1 < end &&
	    parse_uint(slash + 1, (size_t)(end - slash - 1), 15, &u.db) < 0)
		return -EINVAL;
	*ret = u;
	return 0;
}

/* ---- pending ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t *pend_slot(struct pending *p, const char *id)
{
	size_t mask = p->nslot - 1;
	for (size_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
		if (p->slot[i] == 0 || strcmp(p->v[p->slot[i] - 1].id, id) == 0)
			return &p->slot[i];
	}
}

static int pend_grow(struct pending *p)
{
	size_t cap = p->cap ? p->cap * 2 : 256;
	size_t nslot = cap * 2;
	struct hot_node *v = realloc(p->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->v = v;
	size_t *slot = calloc(nslot, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	free(p->slot);
	p->slot = slot;
	p->nslot = nslot;
	p->cap = cap;
	for (size_t i = 0; i < p->n; i++)
		*pend_slot(p, p->v[i].id) = i + 1;
	return 0;
}

/* Add or replace the node's record; *n is moved. A record older than the
 * one pending (a failed batch put back) does not replace it. */
static int pend_put(struct pending *p, struct hot_node *n, size_t max)
{
	if (p->n == p->cap || !p->slot) {
		int r = pend_grow(p);
		if (r < 0)
			return r;
	}
	size_t *s = pend_slot(p, n->id);
	if (*s) {
		struct hot_node *cur = &p->v[*s - 1];
		if (n->ts_ms >= cur->ts_ms || n->conn > cur->conn) {
			hot_node_release(cur);
			*cur = *n;
		} else {
			hot_node_release(n);
		}
		memset(n, 0, sizeof(*n));
		return 0;
	}
	if (p->n >= max)
		return -ENOBUFS;
	p->v[p->n] = *n;
	*s = ++p->n;
	memset(n, 0, sizeof(*n));
	return 0;
}

static void pend_clear(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		hot_node_release(&p->v[i]);
	free(p->v);
	free(p->slot);
	memset(p, 0, sizeof(*p));
}

/* ---- Redis I/O (the thread) ---- */

static void drop_connection(struct hotstate *h)
{
	if (h->rc)
		redisFree(h->rc);
	h->rc = NULL;
}

static redisReply *command(struct hotstate *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static redisReply *command(struct hotstate *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(h->rc, fmt, ap);
	va_end(ap);
	return r;
}

static int connect_redis(struct hotstate *h)
{
	redisReply *r = NULL;
	int rc = -ECONNREFUSED;

	h->rc =
	    h->url.unix_socket
		? redisConnectUnixWithTimeout(h->url.host, h->tv)
		: redisConnectWithTimeout(h->url.host, (int)h->url.port, h->tv);
	if (!h->rc || h->rc->err) {
		log_debug("redis", "connect %s: %s", h->url.host,
			  h->rc ? h->rc->errstr : "out of memory");
		goto out;
	}
	/* hiredis makes its socket without O_CLOEXEC. */
	fcntl(h->rc->fd, F_SETFD, FD_CLOEXEC);
	if (redisSetTimeout(h->rc, h->tv) != REDIS_OK)
		goto out;
	if (h->url.has_password) {
		r = command(h, "AUTH %s", h->url.password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			log_warn("redis", "AUTH refused: %s",
				 r ? r->str : h->rc->errstr);
			rc = -EACCES;
			goto out;
		}
		freeReplyObject(r);
	}
	r = command(h, "SELECT %u", h->url.db);
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto out;
	freeReplyObject(r);
	r = command(h, "SCRIPT LOAD %s", guard_script);
	if (!r || r->type != REDIS_REPLY_STRING || r->len != 40)
		goto out;
	memcpy(h->sha, r->str, 40);
	h->sha[40] = '\0';
	rc = 0;
out:
	if (r)
		freeReplyObject(r);
	if (rc < 0)
		drop_connection(h);
	return rc;
}

static void fmt_double(char *out, size_t n, double v)
{
	if (isfinite(v))
		snprintf(out, n, "%.17g", v);
	else
		out[0] = '\0';
}

/* Write a batch in one pipeline. Returns 0 and adds to *written and
 * *skipped, or -EIO (the connection is then dropped). */
static int write_batch(struct hotstate *h, struct hot_node *v, size_t n,
		       uint64_t *written, uint64_t *skipped)
{
	int64_t now = time_real_ms();

	for (size_t i = 0; i < n; i++) {
		char key[300], ts[24], conn[24], seq[24], score[32], ls[24],
		    nows[24];
		snprintf(key, sizeof(key), NODE_KEY_PREFIX "%s", v[i].id);
		snprintf(ts, sizeof(ts), "%" PRId64, v[i].ts_ms);
		snprintf(conn, sizeof(conn), "%" PRId64, v[i].conn);
		snprintf(seq, sizeof(seq), "%" PRIu64, v[i].seq);
		fmt_double(score, sizeof(score), v[i].score);
		snprintf(ls, sizeof(ls), "%" PRId64, v[i].last_seen_ms);
		snprintf(nows, sizeof(nows), "%" PRId64, now);
		const char *argv[] = {
			"EVALSHA",
			h->sha,
			"2",
			key,
			INDEX_KEY,
			v[i].id,
			ts,
			conn,
			v[i].boot_id ? v[i].boot_id : "",
			seq,
			score,
			v[i].components ? v[i].components : "",
			v[i].sample ? v[i].sample : "",
			v[i].labels ? v[i].labels : "",
			h->replica,
			v[i].state ? v[i].state : "",
			ls,
			nows,
		};
		size_t argl[sizeof(argv) / sizeof(argv[0])];
		for (size_t k = 0; k < sizeof(argv) / sizeof(argv[0]); k++)
			argl[k] = strlen(argv[k]);
		if (redisAppendCommandArgv(
			h->rc, (int)(sizeof(argv) / sizeof(argv[0])), argv,
			argl) != REDIS_OK)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		void *rp = NULL;
		if (redisGetReply(h->rc, &rp) != REDIS_OK || !rp)
			goto fail;
		redisReply *r = rp;
		bool ok = r->type == REDIS_REPLY_INTEGER;
		if (ok && r->integer == 1)
			(*written)++;
		else if (ok)
			(*skipped)++;
		else
			log_warn("redis", "update of %s: %s", v[i].id,
				 r->type == REDIS_REPLY_ERROR ? r->str
							      : "odd reply");
		freeReplyObject(r);
		if (!ok)
			goto fail;
	}
	return 0;
fail:
	drop_connection(h);
	return -EIO;
}

static char *dup_field(const redisReply *r)
{
	if (!r || r->type != REDIS_REPLY_STRING)
		return NULL;
	char *s = malloc(r->len + 1);
	if (s) {
		memcpy(s, r->str, r->len);
		s[r->len] = '\0';
	}
	return s;
}

static int64_t int_field(const redisReply *r, int64_t dflt)
{
	if (!r || r->type != REDIS_REPLY_STRING || r->len == 0)
		return dflt;
	char *end;
	long long v = strtoll(r->str, &end, 10);
	return *end ? dflt : (int64_t)v;
}

/* Read the records other replicas changed since the last read. Returns
 * 0 with them in *out / *nout, or -EIO. */
static int read_changes(struct hotstate *h, struct hot_node **out, size_t *nout)
{
	static const char *const fields[] = {
		"ts",	      "boot_id",   "seq",     "score",
		"components", "sample",	   "labels",  "state",
		"conn",	      "last_seen", "replica", "sample_ts"
	};
	const size_t nf = sizeof(fields) / sizeof(fields[0]);
	int64_t now = time_real_ms();
	struct hot_node *v = NULL;
	size_t n = 0;
	redisReply *ids;
	int rc = -EIO;

	ids = command(h,
		      "ZRANGEBYSCORE " INDEX_KEY " %" PRId64 " +inf LIMIT 0 %d",
		      h->last_pull_ms - PULL_OVERLAP_MS, PULL_MAX);
	if (!ids || ids->type != REDIS_REPLY_ARRAY)
		goto out;
	for (size_t i = 0; i < ids->elements; i++) {
		const redisReply *id = ids->element[i];
		if (id->type != REDIS_REPLY_STRING || id->len > 255)
			continue;
		char key[300];
		snprintf(key, sizeof(key), NODE_KEY_PREFIX "%.*s", (int)id->len,
			 id->str);
		const char *argv[2 + sizeof(fields) / sizeof(fields[0])] = {
			"HMGET", key
		};
		for (size_t k = 0; k < nf; k++)
			argv[2 + k] = fields[k];
		if (redisAppendCommandArgv(h->rc, (int)(2 + nf), argv, NULL) !=
		    REDIS_OK)
			goto out;
	}
	v = calloc(ids->elements ? ids->elements : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ids->elements; i++) {
		const redisReply *id = ids->element[i];
		if (id->type != REDIS_REPLY_STRING || id->len > 255)
			continue;
		void *rp = NULL;
		if (redisGetReply(h->rc, &rp) != REDIS_OK || !rp)
			goto out;
		redisReply *r = rp;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == nf) {
			char *replica = dup_field(r->element[10]);
			/* Our own writes need no reading back. */
			if (replica && strcmp(replica, h->replica) != 0) {
				struct hot_node *o = &v[n++];
				o->id = dup_field(id);
				o->ts_ms = int_field(r->element[0], -1);
				o->boot_id = dup_field(r->element[1]);
				o->seq = (uint64_t)int_field(r->element[2], 0);
				char *sc = dup_field(r->element[3]);
				o->score = sc && *sc ? strtod(sc, NULL) : NAN;
				free(sc);
				o->components = dup_field(r->element[4]);
				o->sample = dup_field(r->element[5]);
				o->labels = dup_field(r->element[6]);
				o->state = dup_field(r->element[7]);
				o->conn = int_field(r->element[8], -1);
				o->last_seen_ms = int_field(r->element[9], 0);
				o->replica = replica;
				o->sample_ts_ms = int_field(r->element[11], -1);
				replica = NULL;
			}
			free(replica);
		}
		freeReplyObject(r);
	}
	h->last_pull_ms = now;
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	if (ids)
		freeReplyObject(ids);
	for (size_t i = 0; i < n; i++)
		hot_node_release(&v[i]);
	free(v);
	if (rc == -EIO)
		drop_connection(h);
	return rc;
}

/* One cycle: write what is pending, read what changed. */
static void cycle(struct hotstate *h, bool pull)
{
	struct pending batch;
	uint64_t written = 0, skipped = 0, t0 = time_mono_ns();
	struct hot_node *got = NULL;
	size_t ngot = 0;
	int rc;

	pthread_mutex_lock(&h->lock);
	batch = h->pend;
	memset(&h->pend, 0, sizeof(h->pend));
	pthread_mutex_unlock(&h->lock);

	if (batch.n == 0 && !pull)
		goto done;
	rc = breaker_allow(h->breaker);
	if (rc < 0)
		goto requeue;
	if (!h->rc)
		rc = connect_redis(h);
	if (rc == 0)
		rc = write_batch(h, batch.v, batch.n, &written, &skipped);
	if (rc == 0 && pull)
		rc = read_changes(h, &got, &ngot);
	if (rc < 0 && rc != -ENOMEM) {
		breaker_failure(h->breaker, rc);
		goto requeue;
	}
	breaker_success(h->breaker);
	metric_observe(h->latency, (double)(time_mono_ns() - t0) / 1e9);
	pthread_mutex_lock(&h->lock);
	if (!h->stats.connected)
		log_info("redis", "connected to %s", h->url.host);
	h->stats.connected = true;
	h->stats.written += written;
	h->stats.skipped += skipped;
	h->stats.pulled += ngot;
	h->stats.last_cycle_s = (double)(time_mono_ns() - t0) / 1e9;
	for (size_t i = 0; i < ngot; i++) {
		if (h->npulled == h->cappulled) {
			size_t cap = h->cappulled ? h->cappulled * 2 : 64;
			struct hot_node *g =
			    realloc(h->pulled, cap * sizeof(*g));
			if (!g) {
				hot_node_release(&got[i]);
				continue;
			}
			h->pulled = g;
			h->cappulled = cap;
		}
		h->pulled[h->npulled++] = got[i];
	}
	pthread_mutex_unlock(&h->lock);
	free(got);
	pend_clear(&batch);
	return;

requeue:
	pthread_mutex_lock(&h->lock);
	if (h->stats.connected || !h->complained)
		log_warn("redis",
			 "unreachable at %s (%s): keeping %zu node updates "
			 "until it returns",
			 h->url.host,
			 rc == -EAGAIN ? "circuit open" : strerror(-rc),
			 batch.n + h->pend.n);
	h->complained = true;
	h->stats.connected = false;
	h->stats.errors++;
	/* Newer updates pushed meanwhile win over the failed batch. */
	for (size_t i = 0; i < batch.n; i++)
		if (pend_put(&h->pend, &batch.v[i], h->max_pending) < 0) {
			hot_node_release(&batch.v[i]);
			h->stats.dropped++;
		}
	pthread_mutex_unlock(&h->lock);
	free(batch.v);
	free(batch.slot);
done:
	return;
}

static void *run(void *arg)
{
	struct hotstate *h = arg;
	uint64_t next_pull = 0;

	for (;;) {
		pthread_mutex_lock(&h->lock);
		while (!h->stop && !h->kick && time_mono_ns() < next_pull) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t wait = next_pull - time_mono_ns();
			if (wait > PULL_EVERY_NS)
				wait = PULL_EVERY_NS;
			ts.tv_nsec += (long)(wait % 1000000000ull);
			ts.tv_sec += (time_t)(wait / 1000000000ull) +
				     ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
		}
		bool stop = h->stop;
		h->kick = false;
		pthread_mutex_unlock(&h->lock);
		uint64_t now = time_mono_ns();
		bool pull = !stop && now >= next_pull;
		cycle(h, pull);
		if (pull)
			next_pull = now + PULL_EVERY_NS;
		if (stop)
			break;
	}
	drop_connection(h);
	return NULL;
}

int hotstate_new(const struct hotstate_options *opt, struct hotstate **ret)
{
	struct hotstate *h;
	struct breaker_options bo = { 0 };
	int r;

	if (!opt || !opt->replica || opt->timeout < 0 || opt->timeout > 60)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = hotstate_parse_url(opt->url, &h->url);
	if (r < 0)
		goto out;
	h->replica = strdup(opt->replica);
	if (!h->replica) {
		r = -ENOMEM;
		goto out;
	}
	double t = opt->timeout > 0 ? opt->timeout : 1.0;
	h->tv.tv_sec = (time_t)t;
	h->tv.tv_usec = (suseconds_t)((t - (double)(time_t)t) * 1e6);
	h->max_pending = opt->max_pending ? opt->max_pending : 100000;
	h->latency = opt->latency;
	if (opt->breaker)
		bo = *opt->breaker;
	bo.name = "redis";
	r = breaker_new(&bo, &h->breaker);
	if (r < 0)
		goto out;
	h->last_pull_ms = time_real_ms();
	r = -pthread_create(&h->thread, NULL, run, h);
	if (r == 0)
		h->thread_started = true;
out:
	if (r < 0) {
		hotstate_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

struct hotstate *hotstate_free(struct hotstate *h)
{
	if (!h)
		return NULL;
	if (h->thread_started) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	drop_connection(h);
	pend_clear(&h->pend);
	for (size_t i = 0; i < h->npulled; i++)
		hot_node_release(&h->pulled[i]);
	free(h->pulled);
	breaker_free(h->breaker);
	free(h->replica);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

int hotstate_push(struct hotstate *h, struct hot_node *n)
{
	int r;

	if (!n->id) {
		hot_node_release(n);
		return -EINVAL;
	}
	pthread_mutex_lock(&h->lock);
	r = pend_put(&h->pend, n, h->max_pending);
	if (r < 0) {
		hot_node_release(n);
		h->stats.dropped++;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

void hotstate_kick(struct hotstate *h)
{
	pthread_mutex_lock(&h->lock);
	h->kick = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

size_t hotstate_take(struct hotstate *h, struct hot_node **ret)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	*ret = h->pulled;
	n = h->npulled;
	h->pulled = NULL;
	h->npulled = h->cappulled = 0;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void hotstate_get_stats(struct hotstate *h, struct hotstate_stats *ret)
{
	pthread_mutex_lock(&h->lock);
	*ret = h->stats;
	ret->pending = h->pend.n;
	pthread_mutex_unlock(&h->lock);
	ret->breaker = breaker_get_state(h->breaker);
}

struct breaker *hotstate_breaker(struct hotstate *h)
{
	return h->breaker;
}
