#include "config.h"

#include "writer.h"

#include <errno.h>
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

	struct writer_stats stats;
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

int writer_new(const struct writer_options *opt, struct writer **ret, char *err,
	       size_t errlen)
{
	struct writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->conninfo = strdup(opt->conninfo);
	w->batch_max = opt->batch_max ? opt->batch_max : 1000;
	w->flush_ns = (uint64_t)(opt->flush_interval * 1e9);
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
out:
	if (r < 0) {
		writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct writer *writer_free(struct writer *w)
{
	if (!w)
		return NULL;
	batch_clear(w);
	free(w->batch);
	w->store = store_free(w->store);
	w->spool = spool_free(w->spool);
	buf_release(&w->rec);
	free(w->conninfo);
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

int writer_add_sample(struct writer *w, const cJSON *sample,
		      const void *payload, size_t len, int64_t received_ms,
		      double score)
{
	struct entry *e;
	int r;

	if (w->nbatch == w->batch_max)
		flush_batch(w, time_mono_ns());
	e = &w->batch[w->nbatch];
	memset(e, 0, sizeof(*e));
	r = entry_fill(e, sample, received_ms, score);
	if (r < 0)
		return r;
	e->payload = malloc(len);
	if (!e->payload)
		return -ENOMEM;
	memcpy(e->payload, payload, len);
	e->s.payload = e->payload;
	e->s.payload_len = len;
	if (w->nbatch == 0)
		w->first_ns = time_mono_ns();
	w->nbatch++;
	return 0;
}

void writer_reject(struct writer *w, int64_t received_ms, const char *topic,
		   const char *node_id, const char *reason, const char *detail,
		   const void *payload, size_t len)
{
	if (!w->db_ok ||
	    store_write_reject(w->store, received_ms, topic, node_id, reason,
			       detail, payload, len) < 0)
		w->stats.write_errors++;
}

void writer_node(struct writer *w, const struct store_node *node)
{
	if (!w->db_ok || store_upsert_node(w->store, node) < 0)
		w->stats.write_errors++;
}

int writer_scores(struct writer *w, const struct store_score *v, size_t n)
{
	int r = w->db_ok ? store_write_scores(w->store, v, n) : -ENOTCONN;
	if (r < 0)
		w->stats.write_errors++;
	else
		w->stats.scores += (uint64_t)r;
	return r;
}

uint64_t writer_run(struct writer *w, uint64_t now)
{
	uint64_t next = now + NS_PER_SEC;

	if (!w->db_ok && now >= w->next_reconnect_ns)
		db_try(w, now);
	if (w->nbatch &&
	    (w->nbatch >= w->batch_max || now - w->first_ns >= w->flush_ns))
		flush_batch(w, now);
	if (w->nbatch && w->first_ns + w->flush_ns < next)
		next = w->first_ns + w->flush_ns;
	/* A few batches of backlog per round keep the loop responsive. */
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

void writer_flush(struct writer *w)
{
	flush_batch(w, time_mono_ns());
	spool_sync(w->spool);
}

void writer_get_stats(const struct writer *w, struct writer_stats *ret)
{
	*ret = w->stats;
	ret->db_ok = w->db_ok;
	ret->spool_depth = spool_tail(w->spool) - spool_head(w->spool);
}

struct store *writer_store(struct writer *w)
{
	return w->db_ok ? w->store : NULL;
}
