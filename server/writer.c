#include "config.h"

#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"
#include "spool.h"
#include "timeutil.h"
#include "wire.h"

#define NS_PER_SEC   1000000000ull
#define RECONNECT_NS (2 * NS_PER_SEC)
/* Spool record: received_ms (8 bytes), score (8), then the payload. */
#define REC_HEADER 16

struct entry {
	struct store_sample s;
	char *payload; /* owned; s.payload points here */
	char node_id[WIRE_NODE_MAX + 1];
	char boot_id[64];
};

struct writer {
	char *conninfo;
	unsigned batch_max;
	uint64_t flush_ns;
	struct store *store;
	bool db_ok;
	uint64_t next_reconnect_ns;
	uint64_t next_complaint_ns;
	struct spool *spool;
	struct buf rec;

	struct entry *batch;
	size_t nbatch;
	uint64_t first_ns; /* when the oldest pending entry arrived */

	struct writer_stats stats; /* the thread's own */

	/* Housekeeping on the thread: rollups every minute (over the last
	 * few minutes, for late samples), partitions and retention hourly. */
	int keep_raw, keep_1m, keep_1h;
	uint64_t rollup_ns, next_rollup_ns, next_retention_ns;
	int64_t rolled_to_ms;

	/* Between the main loop and the writer's thread, guarded by lock:
	 * the operations in the order they were asked for, the stats as of
	 * the thread's last round, and the shutdown handshake. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t wake, room, done;
	struct op *ops;
	size_t nops, capops, pending_samples, max_pending;
	uint64_t first_queued_ns; /* when pending_samples went from 0 to 1 */
	bool stop, flush_req, flushed;
	uint64_t flush_gen, flushed_gen;
	struct writer_stats shared;
};

/* One operation asked of the thread; strings are owned copies. */
enum op_kind { OP_SAMPLE, OP_NODE, OP_REJECT, OP_SCORES };

struct op {
	enum op_kind kind;
	struct entry e;		/* OP_SAMPLE */
	struct store_node node; /* OP_NODE */
	struct store_score *sv; /* OP_SCORES, n_sv of them */
	size_t n_sv;
	int64_t received_ms; /* OP_REJECT */
	char *str[6];	     /* copies the above point into */
	size_t len;	     /* OP_REJECT payload */
};

static double get_num(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, a);
	double v;
	if (b)
		o = cJSON_GetObjectItemCaseSensitive(o, b);
	if (!cJSON_IsNumber(o))
		return NAN;
	v = o->valuedouble;
	return isfinite(v) ? v : NAN;
}

/* The sample's wide-row columns; one implementation for live samples and
 * replays from the spool. */
static int entry_fill(struct entry *e, const cJSON *j, int64_t received_ms,
		      double score)
{
	const char *node, *boot, *ts;
	uint64_t seq;
	const cJSON *arr, *it;

	if (wire_get_string(j, "node", &node) < 0 ||
	    wire_get_string(j, "boot_id", &boot) < 0 ||
	    wire_get_string(j, "ts", &ts) < 0 ||
	    wire_get_u64(j, "seq", &seq) < 0 ||
	    strlen(node) >= sizeof(e->node_id) ||
	    strlen(boot) >= sizeof(e->boot_id) ||
	    time_parse_rfc3339(ts, &e->s.ts_ms) < 0)
		return -EINVAL;
	snprintf(e->node_id, sizeof(e->node_id), "%s", node);
	snprintf(e->boot_id, sizeof(e->boot_id), "%s", boot);
	e->s.node_id = e->node_id;
	e->s.boot_id = e->boot_id;
	e->s.seq = seq;
	e->s.received_ms = received_ms;
	e->s.cpu_usage = get_num(j, "cpu", "usage");
	e->s.mem_used_ratio = get_num(j, "mem", "used_ratio");
	e->s.swap_used_ratio = get_num(j, "mem", "swap_used_ratio");
	e->s.load1 = get_num(j, "load", "load1");
	e->s.load5 = get_num(j, "load", "load5");
	e->s.load15 = get_num(j, "load", "load15");
	e->s.psi_cpu_some = NAN;
	e->s.psi_memory_some = NAN;
	e->s.psi_io_some = NAN;
	const cJSON *psi = cJSON_GetObjectItemCaseSensitive(j, "psi");
	if (psi) {
		e->s.psi_cpu_some = get_num(psi, "cpu", "some");
		e->s.psi_memory_some = get_num(psi, "memory", "some");
		e->s.psi_io_some = get_num(psi, "io", "some");
	}
	e->s.procs_total = get_num(j, "procs", "total");
	e->s.fds_open = get_num(j, "procs", "fds_open");
	e->s.uptime_s = get_num(j, "uptime_s", NULL);
	e->s.compliance_ratio = get_num(j, "compliance", "ratio");
	e->s.score = score;
	/* The fullest filesystem, and the traffic of all interfaces. */
	e->s.disk_used_ratio_max = NAN;
	arr = cJSON_GetObjectItemCaseSensitive(j, "filesystems");
	cJSON_ArrayForEach(it, arr)
	{
		double r = get_num(it, "used_ratio", NULL);
		if (!isnan(r) && (isnan(e->s.disk_used_ratio_max) ||
				  r > e->s.disk_used_ratio_max))
			e->s.disk_used_ratio_max = r;
	}
	e->s.net_rx_bps = NAN;
	e->s.net_tx_bps = NAN;
	arr = cJSON_GetObjectItemCaseSensitive(j, "net");
	cJSON_ArrayForEach(it, arr)
	{
		double rx = get_num(it, "rx_bytes_ps", NULL);
		double tx = get_num(it, "tx_bytes_ps", NULL);
		if (!isnan(rx))
			e->s.net_rx_bps =
			    (isnan(e->s.net_rx_bps) ? 0 : e->s.net_rx_bps) + rx;
		if (!isnan(tx))
			e->s.net_tx_bps =
			    (isnan(e->s.net_tx_bps) ? 0 : e->s.net_tx_bps) + tx;
	}
	return 0;
}

static void batch_clear(struct writer *w)
{
	for (size_t i = 0; i < w->nbatch; i++)
		free(w->batch[i].payload);
	w->nbatch = 0;
}

static void db_down(struct writer *w, int r, uint64_t now)
{
	if (w->db_ok)
		log_err("store", "database unavailable, spooling to disk: %s",
			store_last_error(w->store) ? store_last_error(w->store)
						   : strerror(-r));
	w->db_ok = false;
	w->next_reconnect_ns = now + RECONNECT_NS;
}

static int db_try(struct writer *w, uint64_t now)
{
	char err[512];
	int applied = 0, r;

	if (w->store && !store_connected(w->store))
		r = store_reconnect(w->store);
	else if (!w->store)
		r = store_open(w->conninfo, &w->store, err, sizeof(err));
	else
		r = 0;
	if (r == 0)
		r = store_migrate(w->store, &applied, err, sizeof(err));
	if (r == 0) {
		r = store_ensure_partitions(w->store, 3);
		r = r < 0 ? r : 0;
	}
	if (r < 0) {
		w->next_reconnect_ns = now + RECONNECT_NS;
		/* Say it once a minute, not every two seconds. */
		if (now >= w->next_complaint_ns) {
			log_warn("store", "database still unreachable: %s",
				 w->store && store_last_error(w->store)
				     ? store_last_error(w->store)
				     : strerror(-r));
			w->next_complaint_ns = now + 60 * NS_PER_SEC;
		}
		return r;
	}
	if (applied)
		log_info("store", "migrations applied=%d", applied);
	log_info(
	    "store", "database connected spooled=%llu",
	    (unsigned long long)(spool_tail(w->spool) - spool_head(w->spool)));
	w->db_ok = true;
	return 0;
}

static void *run(void *arg);

int writer_new(const struct writer_options *opt, struct writer **ret, char *err,
	       size_t errlen)
{
	struct writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->room, &ca);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	w->conninfo = strdup(opt->conninfo);
	w->batch_max = opt->batch_max ? opt->batch_max : 1000;
	w->flush_ns = (uint64_t)(opt->flush_interval * 1e9);
	w->max_pending = opt->max_pending ? opt->max_pending : 100000;
	w->keep_raw = opt->retention_raw_days ? opt->retention_raw_days : 14;
	w->keep_1m = opt->retention_1m_days ? opt->retention_1m_days : 90;
	w->keep_1h = opt->retention_1h_days ? opt->retention_1h_days : 730;
	w->rollup_ns =
	    (uint64_t)((opt->rollup_interval > 0 ? opt->rollup_interval
						 : 60.0) *
		       1e9);
	w->next_rollup_ns = time_mono_ns() + w->rollup_ns;
	w->next_retention_ns = time_mono_ns() + 60 * NS_PER_SEC;
	w->rolled_to_ms = time_real_ms() - 3600 * 1000;
	w->batch = calloc(w->batch_max, sizeof(*w->batch));
	buf_init(&w->rec, SPOOL_RECORD_MAX);
	if (!w->conninfo || !w->batch) {
		r = -ENOMEM;
		goto out;
	}
	r = spool_open(opt->spool_dir, opt->spool_max_bytes, &w->spool);
	if (r < 0) {
		snprintf(err, errlen, "spool %s: %s", opt->spool_dir,
			 strerror(-r));
		goto out;
	}
	if (db_try(w, time_mono_ns()) < 0)
		log_warn(
		    "store",
		    "database not reachable at start, spooling until it is: %s",
		    w->store && store_last_error(w->store)
			? store_last_error(w->store)
			: "connection failed");
	w->shared = w->stats;
	w->shared.db_ok = w->db_ok;
	w->shared.spool_depth = spool_tail(w->spool) - spool_head(w->spool);
	r = -pthread_create(&w->thread, NULL, run, w);
	if (r == 0)
		w->thread_started = true;
	else
		snprintf(err, errlen, "writer thread: %s", strerror(-r));
out:
	if (r < 0) {
		writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static void op_release(struct op *o)
{
	if (o->kind == OP_SAMPLE)
		free(o->e.payload);
	free(o->sv);
	for (size_t i = 0; i < ARRAY_SIZE(o->str); i++)
		free(o->str[i]);
}

struct writer *writer_free(struct writer *w)
{
	if (!w)
		return NULL;
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	for (size_t i = 0; i < w->nops; i++)
		op_release(&w->ops[i]);
	free(w->ops);
	batch_clear(w);
	free(w->batch);
	w->store = store_free(w->store);
	w->spool = spool_free(w->spool);
	buf_release(&w->rec);
	free(w->conninfo);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->room);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

static void spool_entry(struct writer *w, const struct entry *e)
{
	uint64_t id;
	unsigned char hdr[REC_HEADER];
	int64_t rm = e->s.received_ms;
	double sc = e->s.score;

	memcpy(hdr, &rm, 8);
	memcpy(hdr + 8, &sc, 8);
	buf_reset(&w->rec);
	if (buf_append(&w->rec, hdr, sizeof(hdr)) < 0 ||
	    buf_append(&w->rec, e->payload, e->s.payload_len) < 0 ||
	    spool_push(w->spool, w->rec.data, w->rec.len, &id) < 0) {
		log_err("store",
			"sample lost: neither database nor spool took it "
			"node=%s seq=%llu",
			e->node_id, (unsigned long long)e->s.seq);
		return;
	}
	w->stats.spooled++;
}

/* Write entries; on bad data isolate the offender. Returns 0, or a
 * negative errno when the database itself failed. */
static int write_entries(struct writer *w, struct entry *v, size_t n,
			 uint64_t *ret_new)
{
	struct store_sample *s = calloc(n, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		s[i] = v[i].s;
	r = store_write_samples(w->store, s, n);
	if (r == -EINVAL && n > 1) {
		/* One bad sample must not hold the others back. */
		uint64_t total = 0;
		for (size_t i = 0; i < n; i++) {
			int ri = store_write_samples(w->store, &s[i], 1);
			if (ri == -EINVAL) {
				w->stats.refused++;
				log_warn("store",
					 "sample refused node=%s seq=%llu: %s",
					 v[i].node_id,
					 (unsigned long long)v[i].s.seq,
					 store_last_error(w->store));
				continue;
			}
			if (ri < 0) {
				free(s);
				return ri;
			}
			total += (uint64_t)ri;
		}
		*ret_new = total;
		r = 0;
	} else if (r == -EINVAL) {
		w->stats.refused++;
		log_warn("store", "sample refused node=%s seq=%llu: %s",
			 v[0].node_id, (unsigned long long)v[0].s.seq,
			 store_last_error(w->store));
		*ret_new = 0;
		r = 0;
	} else if (r >= 0) {
		*ret_new = (uint64_t)r;
		r = 0;
	}
	free(s);
	return r;
}

static void flush_batch(struct writer *w, uint64_t now)
{
	uint64_t added = 0;
	int r;

	if (!w->nbatch)
		return;
	if (w->db_ok) {
		r = write_entries(w, w->batch, w->nbatch, &added);
		if (r == 0) {
			w->stats.written += added;
			batch_clear(w);
			return;
		}
		w->stats.write_errors++;
		db_down(w, r, now);
	}
	for (size_t i = 0; i < w->nbatch; i++)
		spool_entry(w, &w->batch[i]);
	batch_clear(w);
}

/* Drain one batch from the spool; false when the database failed. */
static bool drain_spool(struct writer *w, uint64_t now)
{
	struct entry *v = calloc(w->batch_max, sizeof(*v));
	uint64_t id = spool_head(w->spool), end = spool_tail(w->spool);
	size_t n = 0;
	uint64_t added = 0;
	bool ok = true;

	if (!v)
		return true;
	for (; id < end && n < w->batch_max; id++) {
		int64_t rm;
		double sc;
		if (spool_read(w->spool, id, &w->rec) < 0 ||
		    w->rec.len <= REC_HEADER)
			continue;
		memcpy(&rm, w->rec.data, 8);
		memcpy(&sc, w->rec.data + 8, 8);
		size_t plen = w->rec.len - REC_HEADER;
		cJSON *j =
		    cJSON_ParseWithLength(w->rec.data + REC_HEADER, plen);
		struct entry *e = &v[n];
		if (!j || entry_fill(e, j, rm, sc) < 0) {
			cJSON_Delete(j);
			continue; /* validated once; unreadable now: skip */
		}
		cJSON_Delete(j);
		e->payload = malloc(plen);
		if (!e->payload)
			break;
		memcpy(e->payload, w->rec.data + REC_HEADER, plen);
		e->s.payload = e->payload;
		e->s.payload_len = plen;
		e->s.node_id = e->node_id;
		e->s.boot_id = e->boot_id;
		n++;
	}
	int r = n ? write_entries(w, v, n, &added) : 0;
	if (r == 0) {
		spool_ack(w->spool, id);
		w->stats.replayed += n;
		w->stats.written += added;
	} else {
		w->stats.write_errors++;
		db_down(w, r, now);
		ok = false;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].payload);
	free(v);
	return ok;
}

/* ---- the main loop's side ---- */

/* Queue o (moved). Samples wait for room: past max_pending the database is
 * not keeping up, and it is better that the broker holds the backlog than
 * that memory grows without bound. */
static int enqueue(struct writer *w, struct op *o)
{
	int r = 0;

	pthread_mutex_lock(&w->lock);
	while (o->kind == OP_SAMPLE && w->pending_samples >= w->max_pending &&
	       !w->stop)
		pthread_cond_wait(&w->room, &w->lock);
	if (w->nops == w->capops) {
		size_t cap = w->capops ? w->capops * 2 : 1024;
		struct op *g = realloc(w->ops, cap * sizeof(*g));
		if (!g) {
			r = -ENOMEM;
			goto out;
		}
		w->ops = g;
		w->capops = cap;
	}
	w->ops[w->nops++] = *o;
	if (o->kind == OP_SAMPLE && w->pending_samples++ == 0)
		w->first_queued_ns = time_mono_ns();
	/* A batch's worth, or anything else: wake the thread now; single
	 * samples wait for its flush_interval timer. */
	if (o->kind != OP_SAMPLE || w->pending_samples >= w->batch_max)
		pthread_cond_signal(&w->wake);
out:
	pthread_mutex_unlock(&w->lock);
	if (r < 0)
		op_release(o);
	return r;
}

int writer_add_sample(struct writer *w, const cJSON *sample,
		      const void *payload, size_t len, int64_t received_ms,
		      double score)
{
	struct op o = { .kind = OP_SAMPLE };
	int r = entry_fill(&o.e, sample, received_ms, score);

	if (r < 0)
		return r;
	o.e.payload = malloc(len);
	if (!o.e.payload)
		return -ENOMEM;
	memcpy(o.e.payload, payload, len);
	o.e.s.payload = o.e.payload;
	o.e.s.payload_len = len;
	return enqueue(w, &o);
}

static char *dup_n(const void *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static char *dup_s(const char *s)
{
	return s ? strdup(s) : NULL;
}

void writer_reject(struct writer *w, int64_t received_ms, const char *topic,
		   const char *node_id, const char *reason, const char *detail,
		   const void *payload, size_t len)
{
	struct op o = { .kind = OP_REJECT, .received_ms = received_ms };

	/* The store keeps only a prefix of a rejected payload. */
	if (len > 4096)
		len = 4096;
	o.str[0] = dup_s(topic);
	o.str[1] = dup_s(node_id);
	o.str[2] = dup_s(reason);
	o.str[3] = dup_s(detail);
	o.str[4] = payload ? dup_n(payload, len) : NULL;
	o.len = payload ? len : 0;
	enqueue(w, &o);
}

void writer_node(struct writer *w, const struct store_node *node)
{
	struct op o = { .kind = OP_NODE, .node = *node };

	o.node.node_id = o.str[0] = dup_s(node->node_id);
	o.node.boot_id = o.str[1] = dup_s(node->boot_id);
	o.node.version = o.str[2] = dup_s(node->version);
	o.node.config_hash = o.str[3] = dup_s(node->config_hash);
	o.node.labels_json = o.str[4] = dup_s(node->labels_json);
	o.node.components_json = o.str[5] = dup_s(node->components_json);
	/* state is one of two static strings */
	if (!o.node.node_id) {
		op_release(&o);
		return;
	}
	enqueue(w, &o);
}

int writer_scores(struct writer *w, const struct store_score *v, size_t n)
{
	struct op o = { .kind = OP_SCORES, .n_sv = n };
	size_t text = 0, pos = 0;

	for (size_t i = 0; i < n; i++)
		text += strlen(v[i].scope) + strlen(v[i].key) + 2 +
			(v[i].components_json ? strlen(v[i].components_json) + 1
					      : 0);
	o.sv = calloc(n ? n : 1, sizeof(*o.sv));
	o.str[0] = malloc(text ? text : 1);
	if (!o.sv || !o.str[0]) {
		op_release(&o);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		o.sv[i] = v[i];
		const char **f[] = { &o.sv[i].scope, &o.sv[i].key,
				     &o.sv[i].components_json };
		for (size_t k = 0; k < 3; k++) {
			if (!*f[k])
				continue;
			size_t l = strlen(*f[k]) + 1;
			memcpy(o.str[0] + pos, *f[k], l);
			*f[k] = o.str[0] + pos;
			pos += l;
		}
	}
	return enqueue(w, &o);
}

void writer_flush(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t gen = ++w->flush_gen;
	pthread_cond_signal(&w->wake);
	while (w->flushed_gen < gen && w->thread_started)
		pthread_cond_wait(&w->done, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void writer_get_stats(const struct writer *w, struct writer_stats *ret)
{
	struct writer *m = (struct writer *)w; /* the lock, not the data */
	pthread_mutex_lock(&m->lock);
	*ret = w->shared;
	pthread_mutex_unlock(&m->lock);
}

/* ---- the writer's thread ---- */

static void apply(struct writer *w, struct op *o, uint64_t now)
{
	switch (o->kind) {
	case OP_SAMPLE:
		if (w->nbatch == w->batch_max)
			flush_batch(w, now);
		if (w->nbatch == 0)
			w->first_ns = now;
		struct entry *e = &w->batch[w->nbatch++];
		*e = o->e;
		/* The columns point into the entry: re-aim them at the copy. */
		e->s.node_id = e->node_id;
		e->s.boot_id = e->boot_id;
		o->e.payload = NULL; /* moved into the batch */
		break;
	case OP_NODE:
		if (!w->db_ok || store_upsert_node(w->store, &o->node) < 0)
			w->stats.write_errors++;
		break;
	case OP_REJECT:
		if (!w->db_ok ||
		    store_write_reject(w->store, o->received_ms, o->str[0],
				       o->str[1], o->str[2], o->str[3],
				       o->str[4], o->len) < 0)
			w->stats.write_errors++;
		break;
	case OP_SCORES: {
		int r = w->db_ok ? store_write_scores(w->store, o->sv, o->n_sv)
				 : -ENOTCONN;
		if (r < 0)
			w->stats.write_errors++;
		else
			w->stats.scores += (uint64_t)r;
		break;
	}
	}
}

/* One round: flush what is due, reconnect, drain the spool. Returns the
 * monotonic ns by which it wants to run again. */
static uint64_t round_due(struct writer *w, uint64_t now)
{
	uint64_t next = now + NS_PER_SEC;

	if (!w->db_ok && now >= w->next_reconnect_ns)
		db_try(w, now);
	if (w->nbatch &&
	    (w->nbatch >= w->batch_max || now - w->first_ns >= w->flush_ns))
		flush_batch(w, now);
	if (w->nbatch && w->first_ns + w->flush_ns < next)
		next = w->first_ns + w->flush_ns;
	/* A few batches of backlog per round, so that new samples are not
	 * kept waiting behind a long replay. */
	for (int i = 0;
	     i < 4 && w->db_ok && spool_head(w->spool) < spool_tail(w->spool);
	     i++)
		if (!drain_spool(w, now))
			break;
	if (w->db_ok && spool_head(w->spool) < spool_tail(w->spool))
		next = now; /* more backlog: come back at once */
	if (!w->db_ok && w->next_reconnect_ns < next)
		next = w->next_reconnect_ns;
	return next;
}

/* Rollups of what arrived since the last run (and the 5 minutes before,
 * for samples that came late), so that history over long ranges reads the
 * 1-minute and 1-hour tables; daily partitions ahead and retention. */
static void housekeeping(struct writer *w, uint64_t now)
{
	if (!w->db_ok)
		return;
	if (now >= w->next_rollup_ns) {
		int64_t to = time_real_ms();
		int r =
		    store_rollup(w->store, w->rolled_to_ms - 5 * 60 * 1000, to);
		if (r >= 0) {
			w->stats.rollup_rows += (uint64_t)r;
			w->rolled_to_ms = to;
		} else {
			log_warn("store", "rollup: %s",
				 store_last_error(w->store)
				     ? store_last_error(w->store)
				     : strerror(-r));
		}
		w->next_rollup_ns = now + w->rollup_ns;
	}
	if (now >= w->next_retention_ns) {
		int r = store_ensure_partitions(w->store, 3);
		if (r >= 0)
			r = store_apply_retention(w->store, w->keep_raw,
						  w->keep_1m, w->keep_1h);
		if (r > 0) {
			w->stats.partitions_dropped += (uint64_t)r;
			log_info("store",
				 "retention dropped %d partitions (keeping %d "
				 "days raw, %d of 1m, %d of 1h)",
				 r, w->keep_raw, w->keep_1m, w->keep_1h);
		} else if (r < 0) {
			log_warn("store", "partitions and retention: %s",
				 store_last_error(w->store)
				     ? store_last_error(w->store)
				     : strerror(-r));
		}
		w->next_retention_ns = now + 3600 * NS_PER_SEC;
	}
}

static void *run(void *arg)
{
	struct writer *w = arg;
	uint64_t next = 0;
	struct op *ops = NULL;
	size_t nops = 0, cap = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		for (;;) {
			uint64_t dl = next, now = time_mono_ns();
			/* Queued samples wait no longer than flush_interval. */
			if (w->pending_samples &&
			    w->first_queued_ns + w->flush_ns < dl)
				dl = w->first_queued_ns + w->flush_ns;
			if (w->stop || w->flush_gen != w->flushed_gen ||
			    w->pending_samples >= w->batch_max ||
			    w->nops > w->pending_samples || now >= dl)
				break;
			uint64_t wait = dl - now;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / NS_PER_SEC);
			ts.tv_nsec += (long)(wait % NS_PER_SEC);
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		}
		/* Take the queue whole; the main loop fills a fresh one. */
		struct op *t = w->ops;
		w->ops = ops;
		ops = t;
		size_t tc = w->capops;
		w->capops = cap;
		cap = tc;
		nops = w->nops;
		w->nops = 0;
		w->pending_samples = 0;
		bool stop = w->stop;
		uint64_t gen = w->flush_gen;
		pthread_cond_broadcast(&w->room);
		pthread_mutex_unlock(&w->lock);

		uint64_t now = time_mono_ns();
		for (size_t i = 0; i < nops; i++) {
			apply(w, &ops[i], now);
			op_release(&ops[i]);
		}
		nops = 0;
		next = round_due(w, time_mono_ns());
		housekeeping(w, time_mono_ns());
		if (w->db_ok && w->next_rollup_ns < next)
			next = w->next_rollup_ns;
		if (gen != w->flushed_gen || stop) {
			flush_batch(w, time_mono_ns());
			spool_sync(w->spool);
		}

		pthread_mutex_lock(&w->lock);
		w->shared = w->stats;
		w->shared.db_ok = w->db_ok;
		w->shared.spool_depth =
		    spool_tail(w->spool) - spool_head(w->spool);
		if (gen != w->flushed_gen) {
			w->flushed_gen = gen;
			pthread_cond_broadcast(&w->done);
		}
		if (stop && w->nops == 0)
			break;
	}
	w->flushed_gen = w->flush_gen;
	pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->lock);
	free(ops);
	return NULL;
}
