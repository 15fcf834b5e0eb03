#include "config.h"

#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "duration.h"
#include "table.h"
#include "timeutil.h"

/* Widths past which free text is cut: labels, paths and errors can be
 * long, and a table wider than the terminal is unreadable. */
#define W_LABELS 40
#define W_PATH	 60
#define W_ERROR	 48
#define W_VALUE	 100

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k)
				 : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool num(const cJSON *o, const char *k, double *ret)
{
	const cJSON *v = get(o, k);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*ret = v->valuedouble;
	return true;
}

/* A number cell with that many decimals (-1: %g), "-" when absent or
 * null. */
static void cell_num(struct table *t, const cJSON *o, const char *k,
		     int decimals)
{
	double v;
	if (!num(o, k, &v))
		table_cell(t, NULL);
	else if (decimals < 0)
		table_cellf(t, "%g", v);
	else
		table_cellf(t, "%.*f", decimals, v);
}

static void cell_str(struct table *t, const cJSON *o, const char *k)
{
	table_cell(t, str(o, k));
}

static void cell_bool(struct table *t, const cJSON *o, const char *k)
{
	const cJSON *v = get(o, k);
	table_cell(t,
		   cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "yes" : "no") : NULL);
}

/* "key=value,key=value" in the server's order; "-" when none. */
static void cell_labels(struct table *t, const cJSON *labels)
{
	char text[TABLE_CELL_MAX + 1];
	size_t used = 0;
	const cJSON *it;

	text[0] = '\0';
	cJSON_ArrayForEach(it, (cJSON_IsObject(labels) ? labels : NULL))
	{
		if (!cJSON_IsString(it) || used >= sizeof(text))
			continue;
		int n = snprintf(text + used, sizeof(text) - used, "%s%s=%s",
				 used ? "," : "", it->string, it->valuestring);
		if (n > 0)
			used += (size_t)n;
	}
	table_cell(t, used ? text : NULL);
}

void render_age(const char *ts, int64_t now_ms, char out[32])
{
	int64_t ms, s;

	if (!ts || time_parse_rfc3339(ts, &ms) < 0) {
		snprintf(out, 32, "-");
		return;
	}
	s = now_ms > ms ? (now_ms - ms) / 1000 : 0;
	if (s < 120)
		snprintf(out, 32, "%llds", (long long)s);
	else if (s < 120 * 60)
		snprintf(out, 32, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(out, 32, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, 32, "%lldd", (long long)(s / 86400));
}

static void cell_age(struct table *t, const char *ts, int64_t now_ms)
{
	char age[32];
	render_age(ts, now_ms, age);
	if (strcmp(age, "-") == 0)
		table_cell(t, NULL);
	else
		table_cellf(t, "%s ago", age);
}

/* A key: value block. */
static void kv_init(struct table *t)
{
	table_init(t);
	t->no_header = true;
	table_col(t, "", TABLE_LEFT, 0);
	table_col(t, "", TABLE_LEFT, W_VALUE);
}

static void kv(struct table *t, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kv(struct table *t, const char *key, const char *fmt, ...)
{
	char text[TABLE_CELL_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	table_cellf(t, "%s:", key);
	table_cell(t, text);
}

static void kv_num(struct table *t, const char *key, const cJSON *o,
		   const char *k, int decimals)
{
	table_cellf(t, "%s:", key);
	cell_num(t, o, k, decimals);
}

/* Render and release t onto out, with a blank line before it unless it is
 * the first thing out holds. */
static int flush(struct table *t, struct buf *out, bool blank_before)
{
	int r = 0;
	if (blank_before && out->len)
		r = buf_puts(out, "\n");
	if (!r)
		r = table_render(t, out);
	table_release(t);
	return r;
}

static const char *pct(double ratio, char buf[16])
{
	snprintf(buf, 16, "%.1f%%", ratio * 100);
	return buf;
}

static const char *bytes(double v, char buf[24])
{
	static const char *const units[] = { "B",   "KiB", "MiB",
					     "GiB", "TiB", "PiB" };
	size_t i = 0;
	while (v >= 1024 && i + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, 24, "%.*f %s", i ? 1 : 0, v, units[i]);
	return buf;
}

int render_fleet(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *nodes = get(doc, "nodes"), *it;
	struct table t;
	double v;
	(void)now_ms;

	if (!cJSON_IsObject(doc) || !get(doc, "score"))
		return -EPROTO;
	kv_init(&t);
	kv_num(&t, "score", doc, "score", 3);
	if (cJSON_IsObject(nodes)) {
		double on = 0, st = 0, off = 0, tot = 0;
		num(nodes, "online", &on);
		num(nodes, "stale", &st);
		num(nodes, "offline", &off);
		num(nodes, "total", &tot);
		kv(&t, "nodes",
		   "%.0f total: %.0f online, %.0f stale, %.0f offline", tot, on,
		   st, off);
	}
	kv_num(&t, "compliance", doc, "compliance_ratio", 3);
	/* Components by kind (services, ...): print what the server sends. */
	cJSON_ArrayForEach(it, get(doc, "components"))
	{
		char text[TABLE_CELL_MAX + 1] = "";
		size_t used = 0;
		const cJSON *c;
		if (num(get(doc, "components"), it->string, &v)) {
			kv(&t, it->string, "%.3f", v);
			continue;
		}
		cJSON_ArrayForEach(c, (cJSON_IsObject(it) ? it : NULL))
		{
			int n;
			if (used >= sizeof(text))
				break;
			if (cJSON_IsNumber(c))
				n = snprintf(text + used, sizeof(text) - used,
					     "%s%s %.3f", used ? ", " : "",
					     c->string, c->valuedouble);
			else
				n = snprintf(text + used, sizeof(text) - used,
					     "%s%s -", used ? ", " : "",
					     c->string);
			if (n > 0)
				used += (size_t)n;
		}
		kv(&t, it->string, "%s", used ? text : "-");
	}
	if (str(doc, "constitutional_hash"))
		kv(&t, "hash", "%s", str(doc, "constitutional_hash"));
	return flush(&t, out, false);
}

static void node_row(struct table *t, const cJSON *n, int64_t now_ms)
{
	const cJSON *comps = get(n, "components");

	cell_str(t, n, "id");
	cell_str(t, n, "state");
	cell_num(t, n, "score", 3);
	cell_num(t, comps, "liveness", 2);
	cell_num(t, comps, "resources", 2);
	cell_num(t, comps, "probes", 2);
	cell_num(t, comps, "compliance", 2);
	cell_age(t, str(n, "last_seen"), now_ms);
	cell_labels(t, get(n, "labels"));
}

/* Natural order of ids: "web-2" before "web-10"; digit runs compare by
 * value (leading zeros aside), the rest bytewise. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = strspn(a, "0123456789");
			size_t lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = strncmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

static int node_cmp(const void *x, const void *y)
{
	const char *a = str(*(const cJSON *const *)x, "id");
	const char *b = str(*(const cJSON *const *)y, "id");
	int c = natural_cmp(a ? a : "", b ? b : "");
	/* Ties ("n01" and "n1") by bytes, so the order is total. */
	return c ? c : strcmp(a ? a : "", b ? b : "");
}

/* The items of arr (count of them, count > 0) in a new array sorted by
 * cmp, or NULL when out of memory. */
static const cJSON **sorted_items(const cJSON *arr, int count,
				  int (*cmp)(const void *, const void *))
{
	const cJSON **v = calloc((size_t)count, sizeof(*v));
	const cJSON *it;
	int i = 0;

	if (!v)
		return NULL;
	cJSON_ArrayForEach(it, arr)
	{
		if (i < count)
			v[i++] = it;
	}
	qsort(v, (size_t)i, sizeof(*v), cmp);
	return v;
}

int render_nodes(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *nodes = get(doc, "nodes");
	_cleanup_free_ const cJSON **sorted = NULL;
	struct table t;
	double total;
	int count = cJSON_GetArraySize(nodes), r;

	if (!cJSON_IsArray(nodes))
		return -EPROTO;
	if (!count)
		return buf_puts(out, "no nodes\n");
	/* The server lists nodes in no particular order; people read ids. */
	sorted = sorted_items(nodes, count, node_cmp);
	if (!sorted)
		return -ENOMEM;
	table_init(&t);
	table_col(&t, "ID", TABLE_LEFT, 0);
	table_col(&t, "STATE", TABLE_LEFT, 0);
	table_col(&t, "SCORE", TABLE_RIGHT, 0);
	table_col(&t, "LIVENESS", TABLE_RIGHT, 0);
	table_col(&t, "RESOURCES", TABLE_RIGHT, 0);
	table_col(&t, "PROBES", TABLE_RIGHT, 0);
	table_col(&t, "COMPLIANCE", TABLE_RIGHT, 0);
	table_col(&t, "LAST SEEN", TABLE_LEFT, 0);
	table_col(&t, "LABELS", TABLE_LEFT, W_LABELS);
	for (int i = 0; i < count; i++)
		node_row(&t, sorted[i], now_ms);
	r = flush(&t, out, false);
	if (!r && num(doc, "total", &total) && total > count)
		r = buf_printf(out, "(%d of %.0f nodes shown)\n", count, total);
	return r;
}

static void node_resources(struct table *t, const cJSON *s)
{
	const cJSON *cpu = get(s, "cpu"), *mem = get(s, "mem");
	const cJSON *load = get(s, "load"), *agent = get(s, "agent");
	char a[24], b[24];
	double v, w = 0, x;

	if (num(cpu, "usage", &v)) {
		if (num(cpu, "count", &w))
			kv(t, "cpu", "%s of %.0f CPUs", pct(v, a), w);
		else
			kv(t, "cpu", "%s", pct(v, a));
	}
	if (num(mem, "used_ratio", &v)) {
		if (num(mem, "total_bytes", &w))
			kv(t, "memory", "%s of %s", pct(v, a), bytes(w, b));
		else
			kv(t, "memory", "%s", pct(v, a));
	}
	if (num(mem, "swap_total_bytes", &w) && w == 0)
		kv(t, "swap", "none");
	else if (num(mem, "swap_used_ratio", &v) && w > 0)
		kv(t, "swap", "%s of %s", pct(v, a), bytes(w, b));
	else if (num(mem, "swap_used_ratio", &v))
		kv(t, "swap", "%s", pct(v, a));
	if (num(load, "load1", &v) && num(load, "load5", &w) &&
	    num(load, "load15", &x))
		kv(t, "load", "%.2f %.2f %.2f", v, w, x);
	if (num(s, "uptime_s", &v)) {
		char d[DURATION_STR_LEN];
		/* Whole minutes: seconds of uptime are noise. */
		duration_format(v >= 60 ? (int64_t)v / 60 * 60 : (int64_t)v, d);
		kv(t, "uptime", "%s", d);
	}
	if (str(agent, "version"))
		kv(t, "agent", "%s", str(agent, "version"));
	if (str(s, "ts"))
		kv(t, "sample", "%s", str(s, "ts"));
}

static int node_filesystems(const cJSON *s, struct buf *out)
{
	const cJSON *fs = get(s, "filesystems"), *f;
	struct table t;
	char a[24];
	double v;

	if (!cJSON_GetArraySize(fs))
		return 0;
	table_init(&t);
	table_col(&t, "FILESYSTEM", TABLE_LEFT, W_PATH);
	table_col(&t, "TYPE", TABLE_LEFT, 16);
	table_col(&t, "SIZE", TABLE_RIGHT, 0);
	table_col(&t, "USED", TABLE_RIGHT, 0);
	table_col(&t, "INODES", TABLE_RIGHT, 0);
	table_col(&t, "RO", TABLE_LEFT, 0);
	cJSON_ArrayForEach(f, fs)
	{
		cell_str(&t, f, "mount");
		cell_str(&t, f, "type");
		table_cell(&t, num(f, "size_bytes", &v) ? bytes(v, a) : NULL);
		table_cell(&t, num(f, "used_ratio", &v) ? pct(v, a) : NULL);
		table_cell(&t,
			   num(f, "inodes_used_ratio", &v) ? pct(v, a) : NULL);
		cell_bool(&t, f, "readonly");
	}
	return flush(&t, out, true);
}

static int node_probes(const cJSON *s, struct buf *out)
{
	const cJSON *probes = get(s, "probes"), *p;
	struct table t;

	if (!cJSON_GetArraySize(probes))
		return 0;
	table_init(&t);
	table_col(&t, "PROBE", TABLE_LEFT, 0);
	table_col(&t, "TYPE", TABLE_LEFT, 0);
	table_col(&t, "SERVICE", TABLE_LEFT, 0);
	table_col(&t, "OK", TABLE_LEFT, 0);
	table_col(&t, "P50 MS", TABLE_RIGHT, 0);
	table_col(&t, "P99 MS", TABLE_RIGHT, 0);
	table_col(&t, "SLO MS", TABLE_RIGHT, 0);
	table_col(&t, "ERROR", TABLE_LEFT, W_ERROR);
	cJSON_ArrayForEach(p, probes)
	{
		cell_str(&t, p, "name");
		cell_str(&t, p, "type");
		cell_str(&t, p, "service");
		cell_bool(&t, p, "ok");
		cell_num(&t, p, "p50_ms", 1);
		cell_num(&t, p, "p99_ms", 1);
		cell_num(&t, p, "slo_ms", 0);
		cell_str(&t, p, "error");
	}
	return flush(&t, out, true);
}

static int node_compliance(const cJSON *s, struct buf *out)
{
	const cJSON *c = get(s, "compliance"), *f;
	struct table t;
	double checked = 0, failed = 0, omitted = 0;
	int r;

	if (!cJSON_IsObject(c))
		return 0;
	num(c, "checked", &checked);
	num(c, "failed", &failed);
	r = buf_printf(out, "\ncompliance: %.0f checked, %.0f failed\n",
		       checked, failed);
	if (r || !failed)
		return r;
	table_init(&t);
	table_col(&t, "PATH", TABLE_LEFT, W_PATH);
	table_col(&t, "REASON", TABLE_LEFT, 0);
	cJSON_ArrayForEach(f, get(c, "files"))
	{
		if (cJSON_IsTrue(get(f, "ok")))
			continue;
		cell_str(&t, f, "path");
		cell_str(&t, f, "reason");
	}
	r = table_rows(&t) ? flush(&t, out, false) : (table_release(&t), 0);
	if (!r && num(c, "files_omitted", &omitted) && omitted > 0)
		r = buf_printf(out, "(%.0f more files not listed)\n", omitted);
	return r;
}

int render_node(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *comps = get(doc, "components");
	const cJSON *s = get(doc, "latest_sample");
	struct table t;
	char age[32], d[DURATION_STR_LEN];
	double v;
	int r;

	if (!str(doc, "id"))
		return -EPROTO;
	kv_init(&t);
	kv(&t, "id", "%s", str(doc, "id"));
	kv(&t, "state", "%s", str(doc, "state") ? str(doc, "state") : "-");
	kv_num(&t, "score", doc, "score", 3);
	if (cJSON_IsObject(comps)) {
		char text[TABLE_CELL_MAX + 1] = "";
		size_t used = 0;
		const cJSON *c;
		cJSON_ArrayForEach(c, comps)
		{
			int n = cJSON_IsNumber(c)
				    ? snprintf(text + used, sizeof(text) - used,
					       "%s%s %.2f", used ? ", " : "",
					       c->string, c->valuedouble)
				    : snprintf(text + used, sizeof(text) - used,
					       "%s%s -", used ? ", " : "",
					       c->string);
			if (n > 0 && (size_t)n < sizeof(text) - used)
				used += (size_t)n;
		}
		kv(&t, "components", "%s", text);
	}
	if (cJSON_IsTrue(get(doc, "capped")))
		kv(&t, "capped", "yes: %s",
		   str(doc, "cap_reason") ? str(doc, "cap_reason") : "-");
	render_age(str(doc, "last_seen"), now_ms, age);
	if (strcmp(age, "-") != 0)
		kv(&t, "last seen", "%s (%s ago)", str(doc, "last_seen"), age);
	else
		kv(&t, "last seen", "-");
	table_cell(&t, "labels:");
	cell_labels(&t, get(doc, "labels"));
	if (str(doc, "boot_id"))
		kv(&t, "boot id", "%s", str(doc, "boot_id"));
	kv_num(&t, "seq", doc, "seq", 0);
	kv_num(&t, "connection", doc, "conn", 0);
	if (num(doc, "interval", &v)) {
		if (v >= 1 && v == floor(v)) {
			duration_format((int64_t)v, d);
			kv(&t, "interval", "%s", d);
		} else {
			kv(&t, "interval", "%gs", v);
		}
	}
	node_resources(&t, s);
	r = flush(&t, out, false);
	if (!r)
		r = node_filesystems(s, out);
	if (!r)
		r = node_probes(s, out);
	if (!r)
		r = node_compliance(s, out);
	return r;
}

/* How a metric's values read best: decimals, -1 for %g. */
static int value_decimals(const char *metric)
{
	static const struct {
		const char *prefix;
		int decimals;
	} f[] = {
		{ "load", 2 },	     { "net_", 0 },	 { "procs", 0 },
		{ "fds", 0 },	     { "cpu_usage", 3 }, { "psi_", 3 },
		{ "compliance", 3 }, { "score", 3 },	 { "mem_used", 3 },
		{ "swap_used", 3 },  { "disk_used", 3 },
	};
	for (size_t i = 0; metric && i < ARRAY_SIZE(f); i++)
		if (strncmp(metric, f[i].prefix, strlen(f[i].prefix)) == 0)
			return f[i].decimals;
	return -1;
}

int render_history(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *points = get(doc, "points"), *p;
	const char *metric = str(doc, "metric");
	int decimals = value_decimals(metric);
	char step[DURATION_STR_LEN] = "raw";
	struct table t;
	double v;
	int r;
	(void)now_ms;

	if (!cJSON_IsArray(points))
		return -EPROTO;
	if (num(doc, "step", &v) && v >= 1)
		duration_format((int64_t)v, step);
	kv_init(&t);
	kv(&t, "node", "%s", str(doc, "node") ? str(doc, "node") : "-");
	kv(&t, "metric", "%s", metric ? metric : "-");
	kv(&t, "from", "%s", str(doc, "from") ? str(doc, "from") : "-");
	kv(&t, "to", "%s", str(doc, "to") ? str(doc, "to") : "-");
	kv(&t, "step", "%s (%s)", step,
	   str(doc, "source") ? str(doc, "source") : "-");
	kv(&t, "points", "%d", cJSON_GetArraySize(points));
	r = flush(&t, out, false);
	if (r || !cJSON_GetArraySize(points))
		return r;
	table_init(&t);
	table_col(&t, "TIME", TABLE_LEFT, 0);
	table_col(&t, "VALUE", TABLE_RIGHT, 0);
	cJSON_ArrayForEach(p, points)
	{
		cell_str(&t, p, "ts");
		cell_num(&t, p, "value", decimals);
	}
	r = flush(&t, out, true);
	if (!r && cJSON_IsTrue(get(doc, "truncated")))
		r = buf_puts(out, "(truncated: the server's point limit was "
				  "reached; take a larger --step or a shorter "
				  "range)\n");
	return r;
}

int render_services(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *services = get(doc, "services"), *s;
	struct table t;
	(void)now_ms;

	if (!cJSON_IsArray(services))
		return -EPROTO;
	if (!cJSON_GetArraySize(services))
		return buf_puts(out, "no services\n");
	table_init(&t);
	table_col(&t, "SERVICE", TABLE_LEFT, 0);
	table_col(&t, "SCORE", TABLE_RIGHT, 0);
	table_col(&t, "CRITICALITY", TABLE_RIGHT, 0);
	table_col(&t, "NODES", TABLE_RIGHT, 0);
	table_col(&t, "PROBES", TABLE_RIGHT, 0);
	table_col(&t, "FAILING", TABLE_RIGHT, 0);
	cJSON_ArrayForEach(s, services)
	{
		cell_str(&t, s, "name");
		cell_num(&t, s, "score", 3);
		cell_num(&t, s, "criticality", -1);
		cell_num(&t, s, "nodes", 0);
		cell_num(&t, s, "probes", 0);
		cell_num(&t, s, "failing_probes", 0);
	}
	return flush(&t, out, false);
}

int render_service(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *members = get(doc, "members"), *m, *p;
	struct table t;
	int r;
	(void)now_ms;

	if (!str(doc, "name"))
		return -EPROTO;
	kv_init(&t);
	kv(&t, "service", "%s", str(doc, "name"));
	kv_num(&t, "score", doc, "score", 3);
	kv_num(&t, "criticality", doc, "criticality", -1);
	kv_num(&t, "nodes", doc, "nodes", 0);
	kv_num(&t, "probes", doc, "probes", 0);
	kv_num(&t, "failing", doc, "failing_probes", 0);
	r = flush(&t, out, false);
	if (r || !cJSON_GetArraySize(members))
		return r;
	table_init(&t);
	table_col(&t, "NODE", TABLE_LEFT, 0);
	table_col(&t, "STATE", TABLE_LEFT, 0);
	table_col(&t, "SCORE", TABLE_RIGHT, 0);
	table_col(&t, "PROBE", TABLE_LEFT, 0);
	table_col(&t, "OK", TABLE_LEFT, 0);
	table_col(&t, "P99 MS", TABLE_RIGHT, 0);
	table_col(&t, "SLO MS", TABLE_RIGHT, 0);
	cJSON_ArrayForEach(m, members)
	{
		const cJSON *probes = get(m, "probes");
		bool any = false;
		cJSON_ArrayForEach(p, (cJSON_IsArray(probes) ? probes : NULL))
		{
			any = true;
			cell_str(&t, m, "id");
			cell_str(&t, m, "state");
			cell_num(&t, m, "score", 3);
			cell_str(&t, p, "name");
			cell_bool(&t, p, "ok");
			cell_num(&t, p, "p99_ms", 1);
			cell_num(&t, p, "slo_ms", 0);
		}
		if (!any) {
			cell_str(&t, m, "id");
			cell_str(&t, m, "state");
			cell_num(&t, m, "score", 3);
			for (int i = 0; i < 4; i++)
				table_cell(&t, NULL);
		}
	}
	return flush(&t, out, true);
}

int render_compliance(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *bad = get(doc, "noncompliant"), *n, *f;
	struct table t;
	int r;
	(void)now_ms;

	if (!cJSON_IsObject(doc) || !get(doc, "compliance_ratio"))
		return -EPROTO;
	kv_init(&t);
	kv_num(&t, "compliance", doc, "compliance_ratio", 3);
	kv_num(&t, "nodes checked", doc, "nodes_checked", 0);
	kv_num(&t, "non-compliant", doc, "nodes_noncompliant", 0);
	r = flush(&t, out, false);
	if (r || !cJSON_GetArraySize(bad))
		return r;
	table_init(&t);
	table_col(&t, "NODE", TABLE_LEFT, 0);
	table_col(&t, "RATIO", TABLE_RIGHT, 0);
	table_col(&t, "CHECKED", TABLE_RIGHT, 0);
	table_col(&t, "FAILED", TABLE_RIGHT, 0);
	table_col(&t, "PATH", TABLE_LEFT, W_PATH);
	table_col(&t, "REASON", TABLE_LEFT, 0);
	cJSON_ArrayForEach(n, bad)
	{
		const cJSON *files = get(n, "files");
		bool any = false;
		cJSON_ArrayForEach(f, (cJSON_IsArray(files) ? files : NULL))
		{
			any = true;
			cell_str(&t, n, "id");
			cell_num(&t, n, "ratio", 3);
			cell_num(&t, n, "checked", 0);
			cell_num(&t, n, "failed", 0);
			cell_str(&t, f, "path");
			cell_str(&t, f, "reason");
		}
		if (!any) {
			cell_str(&t, n, "id");
			cell_num(&t, n, "ratio", 3);
			cell_num(&t, n, "checked", 0);
			cell_num(&t, n, "failed", 0);
			table_cell(&t, NULL);
			table_cell(&t, NULL);
		}
	}
	return flush(&t, out, true);
}

void render_span(int64_t ms, char out[32])
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	int64_t s = ms > 0 ? ms / 1000 : 0;
	size_t i = 0;

	/* 273 years: a bound that keeps the text short whatever ms is. */
	if (s > 99999LL * 86400)
		s = 99999LL * 86400;

	while (i + 1 < ARRAY_SIZE(units) && s < units[i].secs)
		i++;
	int64_t big = s / units[i].secs;
	int64_t small = i + 1 < ARRAY_SIZE(units)
			    ? s % units[i].secs / units[i + 1].secs
			    : 0;
	if (small)
		snprintf(out, 32, "%lld%c%lld%c", (long long)big, units[i].unit,
			 (long long)small, units[i + 1].unit);
	else
		snprintf(out, 32, "%lld%c", (long long)big, units[i].unit);
}

/* "in 59m" or "3m10s ago" for an RFC 3339 time; "-" when ts is not one. */
static void when(const char *ts, int64_t now_ms, char out[48])
{
	char span[32];
	int64_t ms;

	if (!ts || time_parse_rfc3339(ts, &ms) < 0) {
		snprintf(out, 48, "-");
		return;
	}
	render_span(ms > now_ms ? ms - now_ms : now_ms - ms, span);
	snprintf(out, 48, ms > now_ms ? "in %s" : "%s ago", span);
}

/* A key: value line of a time, with how far it is from now. */
static void kv_time(struct table *t, const char *key, const cJSON *o,
		    const char *k, int64_t now_ms)
{
	char w[48];
	const char *ts = str(o, k);

	when(ts, now_ms, w);
	if (strcmp(w, "-") == 0)
		kv(t, key, "-");
	else
		kv(t, key, "%s (%s)", ts, w);
}

/* Server text after a fixed prefix, cleaned like a cell, on its own
 * line. */
static int note_line(struct buf *out, const char *prefix, const char *text,
		     const char *suffix)
{
	int r = buf_puts(out, prefix);
	if (!r)
		r = table_clean(out, text ? text : "-", W_VALUE * 3);
	if (!r)
		r = buf_puts(out, suffix);
	return r;
}

/* Alerts */

#define W_RULE	   40
#define W_KEY	   48
#define W_NOTE	   48
#define W_MATCHERS 60
#define W_COMMENT  48
#define W_AUTHOR   24

static int rank(const char *s, const char *const *order, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, order[i]) == 0)
			return (int)i;
	return (int)n;
}

static int state_rank(const cJSON *a)
{
	static const char *const order[] = { "firing", "pending", "resolved" };
	return rank(str(a, "state"), order, ARRAY_SIZE(order));
}

static int severity_rank(const cJSON *a)
{
	static const char *const order[] = { "critical", "error", "warning",
					     "info" };
	return rank(str(a, "severity"), order, ARRAY_SIZE(order));
}

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* Firing first, then by severity, rule, and key in natural order. */
static int alert_cmp(const void *x, const void *y)
{
	const cJSON *a = *(const cJSON *const *)x;
	const cJSON *b = *(const cJSON *const *)y;
	int c = state_rank(a) - state_rank(b);

	if (!c)
		c = severity_rank(a) - severity_rank(b);
	if (!c)
		c = strcmp_null(str(a, "rule"), str(b, "rule"));
	if (!c)
		c = natural_cmp(str(a, "key") ? str(a, "key") : "",
				str(b, "key") ? str(b, "key") : "");
	if (!c)
		c = strcmp_null(str(a, "probe"), str(b, "probe"));
	if (!c)
		c = strcmp_null(str(a, "id"), str(b, "id"));
	return c;
}

/* What the alert is about: its key ("web-1"), "web-1/db" for a probe, the
 * scope ("fleet") when there is no key. */
static void cell_key(struct table *t, const cJSON *a)
{
	const char *key = str(a, "key"), *probe = str(a, "probe");

	if (!key || !*key)
		key = str(a, "scope");
	if (key && probe && *probe)
		table_cellf(t, "%s/%s", key, probe);
	else
		table_cell(t, key);
}

/* When the alert entered its current state. */
static const char *state_since(const cJSON *a)
{
	const char *state = str(a, "state"), *ts = NULL;

	if (state && strcmp(state, "firing") == 0)
		ts = str(a, "fired_at");
	else if (state && strcmp(state, "resolved") == 0)
		ts = str(a, "resolved_at");
	return ts ? ts : str(a, "active_since");
}

static void cell_since(struct table *t, const char *ts, int64_t now_ms)
{
	char span[32];
	int64_t ms;

	if (!ts || time_parse_rfc3339(ts, &ms) < 0) {
		table_cell(t, NULL);
		return;
	}
	render_span(now_ms - ms, span);
	table_cell(t, span);
}

/* "silenced #3 #5, inhibited, acked by alice"; "" when none applies. */
static void alert_note(const cJSON *a, char *text, size_t len)
{
	const cJSON *sil = get(a, "silenced_by"), *it;
	size_t used = 0;
	int n;

	text[0] = '\0';
	cJSON_ArrayForEach(it, (cJSON_IsArray(sil) ? sil : NULL))
	{
		if (!cJSON_IsNumber(it) || used >= len)
			continue;
		n = snprintf(text + used, len - used, "%s#%.0f",
			     used ? " " : "silenced ", it->valuedouble);
		if (n > 0)
			used += (size_t)n;
	}
	if (cJSON_IsTrue(get(a, "inhibited")) && used < len) {
		n = snprintf(text + used, len - used, "%sinhibited",
			     used ? ", " : "");
		if (n > 0)
			used += (size_t)n;
	}
	if (str(a, "acked_by") && used < len)
		snprintf(text + used, len - used, "%sacked by %s",
			 used ? ", " : "", str(a, "acked_by"));
}

static void alert_row(struct table *t, const cJSON *a, int64_t now_ms)
{
	char id[13] = "", note[TABLE_CELL_MAX + 1];

	if (str(a, "id"))
		snprintf(id, sizeof(id), "%s", str(a, "id"));
	table_cell(t, str(a, "id") ? id : NULL);
	cell_str(t, a, "state");
	cell_str(t, a, "severity");
	cell_str(t, a, "rule");
	cell_key(t, a);
	cell_num(t, a, "value", -1);
	cell_since(t, state_since(a), now_ms);
	alert_note(a, note, sizeof(note));
	table_cell(t, note);
}

static int alerts_table(const cJSON *alerts, int64_t now_ms, struct buf *out)
{
	_cleanup_free_ const cJSON **sorted = NULL;
	int count = cJSON_GetArraySize(alerts);
	struct table t;

	if (!count)
		return buf_puts(out, "no alerts\n");
	sorted = sorted_items(alerts, count, alert_cmp);
	if (!sorted)
		return -ENOMEM;
	table_init(&t);
	table_col(&t, "ID", TABLE_LEFT, 0);
	table_col(&t, "STATE", TABLE_LEFT, 0);
	table_col(&t, "SEVERITY", TABLE_LEFT, 0);
	table_col(&t, "RULE", TABLE_LEFT, W_RULE);
	table_col(&t, "KEY", TABLE_LEFT, W_KEY);
	table_col(&t, "VALUE", TABLE_RIGHT, 0);
	table_col(&t, "SINCE", TABLE_LEFT, 0);
	table_col(&t, "NOTE", TABLE_LEFT, W_NOTE);
	for (int i = 0; i < count; i++)
		alert_row(&t, sorted[i], now_ms);
	return flush(&t, out, false);
}

/* The server's history, newest first as it sends it. */
static int history_table(const cJSON *doc, struct buf *out)
{
	const cJSON *hist = get(doc, "history"), *h;
	const char *herr = str(doc, "history_error");
	struct table t;
	int r;

	if (!cJSON_IsArray(hist))
		return 0;
	r = buf_puts(out, "\n");
	if (!r && herr)
		r = note_line(out, "(history unavailable: ", herr, ")\n");
	if (r || herr)
		return r;
	if (!cJSON_GetArraySize(hist))
		return buf_puts(out, "no state changes in the history\n");
	table_init(&t);
	table_col(&t, "TIME", TABLE_LEFT, 0);
	table_col(&t, "ID", TABLE_LEFT, 0);
	table_col(&t, "RULE", TABLE_LEFT, W_RULE);
	table_col(&t, "KEY", TABLE_LEFT, W_KEY);
	table_col(&t, "FROM", TABLE_LEFT, 0);
	table_col(&t, "TO", TABLE_LEFT, 0);
	table_col(&t, "VALUE", TABLE_RIGHT, 0);
	table_col(&t, "SEVERITY", TABLE_LEFT, 0);
	cJSON_ArrayForEach(h, hist)
	{
		char id[13] = "";
		if (str(h, "id"))
			snprintf(id, sizeof(id), "%s", str(h, "id"));
		cell_str(&t, h, "ts");
		table_cell(&t, str(h, "id") ? id : NULL);
		cell_str(&t, h, "rule");
		cell_key(&t, h);
		cell_str(&t, h, "from");
		cell_str(&t, h, "to");
		cell_num(&t, h, "value", -1);
		cell_str(&t, h, "severity");
	}
	return flush(&t, out, false);
}

int render_alerts(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *alerts = get(doc, "alerts");
	const char *evaluated = str(doc, "evaluated_at");
	char age[32];
	int r;

	if (!cJSON_IsArray(alerts))
		return -EPROTO;
	r = alerts_table(alerts, now_ms, out);
	render_age(evaluated, now_ms, age);
	/* Another replica holds the evaluation: what this one shows may
	 * trail it. */
	if (!r && cJSON_IsFalse(get(doc, "leader")))
		r = buf_printf(out,
			       "(from a replica that does not evaluate the "
			       "rules; last evaluation: %s%s)\n",
			       age, strcmp(age, "-") ? " ago" : "");
	else if (!r && !evaluated)
		r = buf_puts(out, "(the rules have not been evaluated yet)\n");
	if (!r)
		r = history_table(doc, out);
	return r;
}

int render_alert(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *sil = get(doc, "silenced_by"), *it;
	struct table t;
	char note[TABLE_CELL_MAX + 1] = "";
	size_t used = 0;
	double v, th;

	if (!str(doc, "id"))
		return -EPROTO;
	kv_init(&t);
	kv(&t, "id", "%s", str(doc, "id"));
	kv(&t, "rule", "%s", str(doc, "rule") ? str(doc, "rule") : "-");
	table_cell(&t, "key:");
	cell_key(&t, doc);
	kv(&t, "state", "%s", str(doc, "state") ? str(doc, "state") : "-");
	kv(&t, "severity", "%s",
	   str(doc, "severity") ? str(doc, "severity") : "-");
	if (num(doc, "value", &v) && num(doc, "threshold", &th))
		kv(&t, "value", "%g (threshold %g)", v, th);
	else
		kv_num(&t, "value", doc, "value", -1);
	kv_time(&t, "active since", doc, "active_since", now_ms);
	kv_time(&t, "fired at", doc, "fired_at", now_ms);
	kv_time(&t, "resolved at", doc, "resolved_at", now_ms);
	kv(&t, "summary", "%s",
	   str(doc, "summary") && *str(doc, "summary") ? str(doc, "summary")
						       : "-");
	table_cell(&t, "labels:");
	cell_labels(&t, get(doc, "labels"));
	cJSON_ArrayForEach(it, (cJSON_IsArray(sil) ? sil : NULL))
	{
		int n =
		    cJSON_IsNumber(it) && used < sizeof(note)
			? snprintf(note + used, sizeof(note) - used, "%s#%.0f",
				   used ? " " : "", it->valuedouble)
			: 0;
		if (n > 0)
			used += (size_t)n;
	}
	kv(&t, "silenced by", "%s", used ? note : "-");
	table_cell(&t, "inhibited:");
	cell_bool(&t, doc, "inhibited");
	kv(&t, "acked by", "%s",
	   str(doc, "acked_by") ? str(doc, "acked_by") : "-");
	kv_time(&t, "acked at", doc, "acked_at", now_ms);
	return flush(&t, out, false);
}

/* Silences */

/* "node=web-1, severity=~crit.*": strings as the server sends them,
 * Alertmanager objects written the same way. */
static void cell_matchers(struct table *t, const cJSON *ms)
{
	char text[TABLE_CELL_MAX + 1] = "";
	size_t used = 0;
	const cJSON *m;

	cJSON_ArrayForEach(m, (cJSON_IsArray(ms) ? ms : NULL))
	{
		const cJSON *re = get(m, "isRegex"), *eq = get(m, "isEqual");
		const char *op = cJSON_IsTrue(re)
				     ? (cJSON_IsFalse(eq) ? "!~" : "=~")
				     : (cJSON_IsFalse(eq) ? "!=" : "=");
		int n = 0;
		if (used >= sizeof(text))
			break;
		if (cJSON_IsString(m))
			n = snprintf(text + used, sizeof(text) - used, "%s%s",
				     used ? ", " : "", m->valuestring);
		else if (str(m, "name") && str(m, "value"))
			n = snprintf(text + used, sizeof(text) - used,
				     "%s%s%s%s", used ? ", " : "",
				     str(m, "name"), op, str(m, "value"));
		if (n > 0)
			used += (size_t)n;
	}
	table_cell(t, used ? text : NULL);
}

static void cell_when(struct table *t, const char *ts, int64_t now_ms)
{
	char w[48];
	when(ts, now_ms, w);
	table_cell(t, strcmp(w, "-") ? w : NULL);
}

int render_silences(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	const cJSON *sils = get(doc, "silences"), *s;
	struct table t;

	if (!cJSON_IsArray(sils))
		return -EPROTO;
	if (!cJSON_GetArraySize(sils))
		return buf_puts(out, "no silences\n");
	table_init(&t);
	table_col(&t, "ID", TABLE_RIGHT, 0);
	table_col(&t, "STATE", TABLE_LEFT, 0);
	table_col(&t, "MATCHERS", TABLE_LEFT, W_MATCHERS);
	table_col(&t, "STARTS", TABLE_LEFT, 0);
	table_col(&t, "ENDS", TABLE_LEFT, 0);
	table_col(&t, "AUTHOR", TABLE_LEFT, W_AUTHOR);
	table_col(&t, "COMMENT", TABLE_LEFT, W_COMMENT);
	/* Newest first, as the server sends them. */
	cJSON_ArrayForEach(s, sils)
	{
		cell_num(&t, s, "id", 0);
		cell_str(&t, s, "state");
		cell_matchers(&t, get(s, "matchers"));
		cell_when(&t, str(s, "starts_at"), now_ms);
		cell_when(&t, str(s, "ends_at"), now_ms);
		cell_str(&t, s, "author");
		cell_str(&t, s, "comment");
	}
	return flush(&t, out, false);
}

int render_silence(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	struct table t;
	double id;

	if (!num(doc, "id", &id))
		return -EPROTO;
	kv_init(&t);
	kv(&t, "id", "%.0f", id);
	kv(&t, "state", "%s", str(doc, "state") ? str(doc, "state") : "-");
	table_cell(&t, "matchers:");
	cell_matchers(&t, get(doc, "matchers"));
	kv_time(&t, "starts", doc, "starts_at", now_ms);
	kv_time(&t, "ends", doc, "ends_at", now_ms);
	kv(&t, "author", "%s", str(doc, "author") ? str(doc, "author") : "-");
	kv(&t, "comment", "%s",
	   str(doc, "comment") ? str(doc, "comment") : "-");
	kv_time(&t, "created", doc, "created_at", now_ms);
	return flush(&t, out, false);
}

int render_silence_id(const cJSON *doc, int64_t now_ms, struct buf *out)
{
	double id;
	(void)now_ms;

	if (!num(doc, "id", &id) || id < 1 || id != floor(id) || id > 9e15)
		return -EPROTO;
	return buf_printf(out, "%.0f\n", id);
}
