#include "config.h"

#include "loadgen_payload.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cleanup.h"
#include "jsonw.h"
#include "timeutil.h"
#include "wire.h"

/* A slot is written into the template as the JSON string "@LGnn@" and
 * found again in the printed text; a template holding that text already
 * is refused rather than mis-filled. */
#define MARKER	   "@LG"
#define MARKER_LEN 3

enum slot {
	SLOT_NODE,
	SLOT_TS,
	SLOT_SEQ,
	SLOT_BOOT_ID,
	SLOT_UPTIME,
	SLOT_AGENT_UPTIME,
	SLOT_CPU_USAGE,
	SLOT_CPU_USER,
	SLOT_CPU_SYSTEM,
	SLOT_CPU_IDLE,
	SLOT_MEM_USED,
	SLOT_MEM_AVAILABLE,
	SLOT_LOAD1,
	SLOT_LATENCY,
	SLOT_NET_BPS,
	_SLOT_MAX,
};

struct piece {
	size_t off, len; /* literal text in p->text */
	int slot;	 /* written after the literal; -1 for none */
};

struct loadgen_payload {
	char *text; /* the printed template with the markers in it */
	struct piece *pieces;
	size_t npieces;
	double mem_total_bytes;
	char *birth_probes;
};

/* The sample `acgs-agent --once` printed on the 2-core development machine
 * with one HTTP probe (against a local web server) and no compliance. */
static const char default_template[] =
    "{\"v\":1,\"node\":\"tmpl\",\"ts\":\"2026-11-24T20:00:57.344Z\","
    "\"constitutional_hash\":\"cdd01ef066bc6cf2\",\"seq\":0,"
    "\"boot_id\":\"6c4e6d1c-1175-4e9e-9c22-794cd6c1eb51\",\"interval\":1,"
    "\"cpu\":{\"usage\":0.21,\"user\":0.01,\"nice\":0.085,\"system\":0.115,"
    "\"idle\":0.79,\"iowait\":0,\"irq\":0,\"softirq\":0,\"steal\":0,"
    "\"count\":2},"
    "\"mem\":{\"total_bytes\":25276510208,\"available_bytes\":24785440768,"
    "\"free_bytes\":24339275776,\"cached_bytes\":622809088,"
    "\"buffers_bytes\":9912320,\"used_ratio\":0.019428,"
    "\"swap_total_bytes\":0,\"swap_free_bytes\":0,\"swap_used_ratio\":0},"
    "\"load\":{\"load1\":1.39,\"load5\":1.12,\"load15\":0.95,\"runnable\":1,"
    "\"entities\":87},"
    "\"psi\":{\"cpu\":{\"some\":0.039613,\"some_avg10\":0.0302,\"full\":0,"
    "\"full_avg10\":0},\"memory\":{\"some\":0,\"some_avg10\":0,\"full\":0,"
    "\"full_avg10\":0},\"io\":{\"some\":0.002116,\"some_avg10\":0,"
    "\"full\":0.001506,\"full_avg10\":0}},"
    "\"disks\":[{\"dev\":\"vda\",\"read_bytes_ps\":0,"
    "\"write_bytes_ps\":81347.21603,\"reads_ps\":0,\"writes_ps\":20.853168,"
    "\"util\":0.007944,\"await_ms\":0.047619}],"
    "\"filesystems\":[{\"mount\":\"/\",\"device\":\"/dev/vda\","
    "\"type\":\"ext4\",\"size_bytes\":270553174016,"
    "\"used_bytes\":17526108160,\"avail_bytes\":85219172352,"
    "\"used_ratio\":0.170578,\"inodes_used_ratio\":0.025403,"
    "\"readonly\":false}],"
    "\"net\":[{\"iface\":\"ifb0\",\"rx_bytes_ps\":0,\"tx_bytes_ps\":0,"
    "\"rx_packets_ps\":0,\"tx_packets_ps\":0,\"rx_errors\":0,"
    "\"tx_errors\":0,\"rx_drops\":0,\"tx_drops\":0},"
    "{\"iface\":\"ifb1\",\"rx_bytes_ps\":0,\"tx_bytes_ps\":0,"
    "\"rx_packets_ps\":0,\"tx_packets_ps\":0,\"rx_errors\":0,"
    "\"tx_errors\":0,\"rx_drops\":0,\"tx_drops\":0},"
    "{\"iface\":\"eth0\",\"rx_bytes_ps\":0,\"tx_bytes_ps\":0,"
    "\"rx_packets_ps\":0,\"tx_packets_ps\":0,\"rx_errors\":0,"
    "\"tx_errors\":0,\"rx_drops\":0,\"tx_drops\":0}],"
    "\"procs\":{\"total\":87,\"running\":1,\"blocked\":0,"
    "\"forks_ps\":128.098033,\"fds_open\":486,\"fds_max\":2466177},"
    "\"uptime_s\":11474.41,"
    "\"probes\":[{\"name\":\"api\",\"type\":\"http\","
    "\"target\":\"http://127.0.0.1:18123/\",\"service\":\"api\",\"ok\":true,"
    "\"runs\":1,\"failures\":0,\"latency_ms\":2.946,\"p50_ms\":2.946,"
    "\"p99_ms\":2.946,\"slo_ms\":50,\"slo_ok\":true,\"status\":200,"
    "\"dns_ms\":0.181,\"connect_ms\":0.446,\"tls_ms\":0,\"ttfb_ms\":2.202}],"
    "\"agent\":{\"version\":\"0.1.0\",\"uptime_s\":1.007062,"
    "\"encode_errors\":0,\"collect_errors\":{\"cpu\":0,\"mem\":0,\"load\":0,"
    "\"psi\":0,\"disks\":0,\"filesystems\":0,\"net\":0,\"procs\":0,"
    "\"uptime\":0}}}";

const char *loadgen_payload_default_template(void)
{
	return default_template;
}

static int mark(cJSON *obj, const char *key, enum slot slot, bool add)
{
	char m[16];
	cJSON *item;

	if (!cJSON_IsObject(obj))
		return 0;
	snprintf(m, sizeof(m), MARKER "%02d@", (int)slot);
	if (!cJSON_GetObjectItemCaseSensitive(obj, key)) {
		if (!add)
			return 0;
		return cJSON_AddStringToObject(obj, key, m) ? 0 : -ENOMEM;
	}
	item = cJSON_CreateString(m);
	if (!item)
		return -ENOMEM;
	if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

/* A varied value is marked only where the template has a number. */
static int mark_number(cJSON *obj, const char *key, enum slot slot)
{
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, key)))
		return 0;
	return mark(obj, key, slot, false);
}

static int set_number(cJSON *obj, const char *key, double v, bool add)
{
	cJSON *item;

	if (!cJSON_IsObject(obj))
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(obj, key))
		return !add || cJSON_AddNumberToObject(obj, key, v) ? 0
								    : -ENOMEM;
	item = cJSON_CreateNumber(v);
	if (!item)
		return -ENOMEM;
	if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

static int set_string(cJSON *obj, const char *key, const char *v)
{
	cJSON *item = cJSON_CreateString(v);

	if (!item)
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
			cJSON_Delete(item);
			return -ENOMEM;
		}
		return 0;
	}
	if (!cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

/* What the birth message says about the template's probes. */
static char *birth_probes(const cJSON *probes)
{
	cJSON *arr = cJSON_CreateArray();
	const cJSON *p;
	char *out = NULL;
	static const char *const keys[] = { "name", "type", "service",
					    "slo_ms" };

	if (!arr)
		return NULL;
	cJSON_ArrayForEach(p, probes)
	{
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto out;
		}
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			const cJSON *v =
			    cJSON_GetObjectItemCaseSensitive(p, keys[i]);
			cJSON *d = v ? cJSON_Duplicate(v, true) : NULL;
			if (d && !cJSON_AddItemToObject(o, keys[i], d)) {
				cJSON_Delete(d);
				goto out;
			}
		}
	}
	out = cJSON_PrintUnformatted(arr);
out:
	cJSON_Delete(arr);
	return out;
}

static int mark_all(cJSON *root, const char *hash, double interval_s)
{
	static const char *const zeroed[] = { "nice", "iowait", "irq",
					      "softirq", "steal" };
	cJSON *cpu = cJSON_GetObjectItemCaseSensitive(root, "cpu");
	cJSON *mem = cJSON_GetObjectItemCaseSensitive(root, "mem");
	cJSON *net = cJSON_GetObjectItemCaseSensitive(root, "net");
	cJSON *probes = cJSON_GetObjectItemCaseSensitive(root, "probes");
	cJSON *p;
	int r;

	if ((r = set_number(root, "v", 1, true)) < 0 ||
	    (r = set_string(root, "constitutional_hash", hash)) < 0 ||
	    (r = set_number(root, "interval", interval_s, true)) < 0 ||
	    (r = mark(root, "node", SLOT_NODE, true)) < 0 ||
	    (r = mark(root, "ts", SLOT_TS, true)) < 0 ||
	    (r = mark(root, "seq", SLOT_SEQ, true)) < 0 ||
	    (r = mark(root, "boot_id", SLOT_BOOT_ID, true)) < 0 ||
	    (r = mark_number(root, "uptime_s", SLOT_UPTIME)) < 0 ||
	    (r = mark_number(cJSON_GetObjectItemCaseSensitive(root, "agent"),
			     "uptime_s", SLOT_AGENT_UPTIME)) < 0 ||
	    (r = mark_number(cpu, "usage", SLOT_CPU_USAGE)) < 0 ||
	    (r = mark_number(cpu, "user", SLOT_CPU_USER)) < 0 ||
	    (r = mark_number(cpu, "system", SLOT_CPU_SYSTEM)) < 0 ||
	    (r = mark_number(cpu, "idle", SLOT_CPU_IDLE)) < 0 ||
	    (r = mark_number(mem, "used_ratio", SLOT_MEM_USED)) < 0 ||
	    (r = mark_number(mem, "available_bytes", SLOT_MEM_AVAILABLE)) < 0 ||
	    (r = mark_number(cJSON_GetObjectItemCaseSensitive(root, "load"),
			     "load1", SLOT_LOAD1)) < 0)
		return r;
	/* user + system + idle = 1 only holds with the rest at zero. */
	for (size_t i = 0; cJSON_IsObject(cpu) && i < ARRAY_SIZE(zeroed); i++)
		if (cJSON_IsNumber(
			cJSON_GetObjectItemCaseSensitive(cpu, zeroed[i])) &&
		    (r = set_number(cpu, zeroed[i], 0, false)) < 0)
			return r;
	p = cJSON_IsArray(net) ? cJSON_GetArrayItem(net, 0) : NULL;
	if ((r = mark_number(p, "rx_bytes_ps", SLOT_NET_BPS)) < 0 ||
	    (r = mark_number(p, "tx_bytes_ps", SLOT_NET_BPS)) < 0)
		return r;
	if (!cJSON_IsArray(probes))
		return 0;
	cJSON_ArrayForEach(p, probes)
	{
		if ((r = mark_number(p, "latency_ms", SLOT_LATENCY)) < 0 ||
		    (r = mark_number(p, "p50_ms", SLOT_LATENCY)) < 0 ||
		    (r = mark_number(p, "p99_ms", SLOT_LATENCY)) < 0)
			return r;
	}
	return 0;
}

/* Split the printed template at its markers. */
static int split(struct loadgen_payload *p)
{
	size_t n = 1, len = strlen(p->text);
	const char *s = p->text;

	for (const char *q = s; (q = strstr(q, "\"" MARKER)); q++)
		n++;
	p->pieces = calloc(n, sizeof(*p->pieces));
	if (!p->pieces)
		return -ENOMEM;
	size_t at = 0;
	while (at <= len) {
		const char *q = strstr(s + at, "\"" MARKER);
		struct piece *pc = &p->pieces[p->npieces++];
		pc->off = at;
		pc->slot = -1;
		if (!q) {
			pc->len = len - at;
			break;
		}
		/* "\"@LGnn@\"": 1 + 3 + 2 + 1 + 1 bytes. */
		const char *d = q + 1 + MARKER_LEN;
		if (d[0] < '0' || d[0] > '9' || d[1] < '0' || d[1] > '9' ||
		    d[2] != '@' || d[3] != '"')
			return -EINVAL;
		pc->len = (size_t)(q - (s + at));
		pc->slot = (d[0] - '0') * 10 + (d[1] - '0');
		if (pc->slot >= _SLOT_MAX)
			return -EINVAL;
		at = (size_t)(d + 4 - s);
	}
	return 0;
}

int loadgen_payload_new(const char *json, size_t len, const char *hash,
			double interval_s, struct loadgen_payload **ret)
{
	struct loadgen_payload *p = NULL;
	cJSON *root = NULL;
	const cJSON *total;
	int r;

	if (len > LOADGEN_PAYLOAD_MAX)
		return -E2BIG;
	if (memmem(json, len, MARKER, MARKER_LEN))
		return -EINVAL;
	root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root)) {
		r = -EINVAL;
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	p->birth_probes =
	    birth_probes(cJSON_GetObjectItemCaseSensitive(root, "probes"));
	if (!p->birth_probes) {
		r = -ENOMEM;
		goto out;
	}
	total = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "mem"), "total_bytes");
	p->mem_total_bytes = cJSON_IsNumber(total) ? total->valuedouble : 0;
	r = mark_all(root, hash, interval_s);
	if (r < 0)
		goto out;
	p->text = cJSON_PrintUnformatted(root);
	if (!p->text) {
		r = -ENOMEM;
		goto out;
	}
	r = split(p);
out:
	cJSON_Delete(root);
	if (r < 0) {
		loadgen_payload_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

struct loadgen_payload *loadgen_payload_free(struct loadgen_payload *p)
{
	if (!p)
		return NULL;
	free(p->text);
	free(p->pieces);
	free(p->birth_probes);
	free(p);
	return NULL;
}

const char *loadgen_payload_birth_probes(const struct loadgen_payload *p)
{
	return p->birth_probes;
}

struct out {
	char *b;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->len, s, n);
	o->len += n;
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, tmp + i, sizeof(tmp) - i);
}

/* v with a fixed number of decimals (at most 6), without printf: number
 * formatting was the largest user-space cost per sample. */
static void put_fixed(struct out *o, double v, int decimals)
{
	static const double scale[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
	char tmp[48];

	if (!isfinite(v) || fabs(v) >= 1e12 || decimals < 0 || decimals > 6) {
		int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
		put(o, tmp, (size_t)n);
		return;
	}
	uint64_t x = (uint64_t)llround(fabs(v) * scale[decimals]);
	size_t i = sizeof(tmp);
	for (int d = 0; d < decimals; d++, x /= 10)
		tmp[--i] = (char)('0' + x % 10);
	if (decimals)
		tmp[--i] = '.';
	do {
		tmp[--i] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	if (v < 0 && llround(fabs(v) * scale[decimals]) != 0)
		tmp[--i] = '-';
	put(o, tmp + i, sizeof(tmp) - i);
}

static void put_quoted(struct out *o, const char *s, size_t n)
{
	put(o, "\"", 1);
	put(o, s, n);
	put(o, "\"", 1);
}

static bool json_plain(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void put_slot(struct out *o, const struct loadgen_payload *p,
		     const struct loadgen_sample *s, int slot)
{
	char ts[RFC3339_LEN];
	double cpu = clamp(s->cpu_usage, 0, 1);

	switch (slot) {
	case SLOT_NODE:
		put_quoted(o, s->node, strlen(s->node));
		break;
	case SLOT_TS:
		time_format_rfc3339_ms(s->ts_ms, ts);
		put_quoted(o, ts, strlen(ts));
		break;
	case SLOT_SEQ:
		put_u64(o, s->seq);
		break;
	case SLOT_BOOT_ID:
		put_quoted(o, s->boot_id, strlen(s->boot_id));
		break;
	case SLOT_UPTIME:
	case SLOT_AGENT_UPTIME:
		put_fixed(o, s->uptime_s, 2);
		break;
	case SLOT_CPU_USAGE:
		put_fixed(o, cpu, 4);
		break;
	case SLOT_CPU_USER:
		put_fixed(o, cpu * 0.7, 4);
		break;
	case SLOT_CPU_SYSTEM:
		put_fixed(o, cpu - cpu * 0.7, 4);
		break;
	case SLOT_CPU_IDLE:
		put_fixed(o, 1 - cpu, 4);
		break;
	case SLOT_MEM_USED:
		put_fixed(o, clamp(s->mem_used_ratio, 0, 1), 6);
		break;
	case SLOT_MEM_AVAILABLE:
		put_fixed(o,
			  p->mem_total_bytes *
			      (1 - clamp(s->mem_used_ratio, 0, 1)),
			  0);
		break;
	case SLOT_LOAD1:
		put_fixed(o, s->load1, 2);
		break;
	case SLOT_LATENCY:
		put_fixed(o, s->latency_ms, 3);
		break;
	case SLOT_NET_BPS:
		put_fixed(o, s->net_bps, 1);
		break;
	default:
		break;
	}
}

int loadgen_payload_render(const struct loadgen_payload *p,
			   const struct loadgen_sample *s, char *out,
			   size_t outlen)
{
	struct out o = { .b = out, .cap = outlen };

	if (!s->node || !s->boot_id || !json_plain(s->node) ||
	    !json_plain(s->boot_id))
		return -EINVAL;
	if (outlen == 0)
		return -E2BIG;
	for (size_t i = 0; i < p->npieces; i++) {
		const struct piece *pc = &p->pieces[i];
		put(&o, p->text + pc->off, pc->len);
		if (pc->slot >= 0)
			put_slot(&o, p, s, pc->slot);
	}
	if (o.full)
		return -E2BIG;
	out[o.len] = '\0';
	return (int)o.len;
}

int loadgen_payload_state(struct buf *out, const char *node,
			  const char *boot_id, bool online, uint64_t conn,
			  int64_t ts_ms)
{
	struct jsonw w;

	if (!wire_node_valid(node) || !boot_id)
		return -EINVAL;
	buf_reset(out);
	jsonw_init(&w, out);
	wire_begin(&w, node, ts_ms, ACGS_CONSTITUTIONAL_HASH);
	jsonw_kv_str(&w, "state", online ? "online" : "offline");
	jsonw_kv_u64(&w, "conn", conn);
	jsonw_kv_str(&w, "boot_id", boot_id);
	jsonw_obj_end(&w);
	return jsonw_finish(&w);
}

/* xorshift64*: a fast generator; the values only need to look alive. */
static double uniform(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return (double)((*x * 0x2545F4914F6CDD1Dull) >> 11) /
	       9007199254740992.0;
}

void loadgen_walk_init(struct loadgen_walk *w, uint64_t seed)
{
	/* splitmix64 of the seed: neighbouring seeds start far apart, and
	 * xorshift must not start at 0. */
	uint64_t z = seed + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	w->rng = (z ^ (z >> 31)) | 1;
	w->cpu_usage = 0.05 + 0.5 * uniform(&w->rng);
	w->mem_used_ratio = 0.2 + 0.5 * uniform(&w->rng);
	w->load1 = w->cpu_usage * 2;
	w->latency_base_ms = 1 + 4 * uniform(&w->rng);
	w->latency_ms = w->latency_base_ms;
	w->net_bps = 10000 + 90000 * uniform(&w->rng);
}

void loadgen_walk_step(struct loadgen_walk *w)
{
	double u = uniform(&w->rng) - 0.5;

	/* A small step pulled back towards the middle of the range. */
	w->cpu_usage = clamp(
	    w->cpu_usage + 0.06 * u + 0.02 * (0.3 - w->cpu_usage), 0.02, 0.95);
	w->mem_used_ratio = clamp(
	    w->mem_used_ratio + 0.01 * (uniform(&w->rng) - 0.5), 0.02, 0.95);
	w->load1 = clamp(0.9 * w->load1 + 0.1 * (w->cpu_usage * 2) +
			     0.05 * (uniform(&w->rng) - 0.5),
			 0, 64);
	w->latency_base_ms =
	    clamp(0.8 * w->latency_base_ms + 0.2 * (1 + 4 * uniform(&w->rng)),
		  0.2, 40);
	/* One run in a hundred is slow, as real probes are. */
	w->latency_ms = uniform(&w->rng) < 0.01
			    ? clamp(w->latency_base_ms * 8, 0.2, 40)
			    : w->latency_base_ms;
	w->net_bps =
	    clamp(w->net_bps * (1 + 0.1 * (uniform(&w->rng) - 0.5)), 1000, 1e9);
}
