#include "config.h"

#include "collect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "counter.h"
#include "parse.h"

enum section {
	SEC_CPU,
	SEC_MEM,
	SEC_LOAD,
	SEC_PSI,
	SEC_DISKS,
	SEC_FS,
	SEC_NET,
	SEC_PROCS,
	SEC_UPTIME,
	SEC__N
};

static const char *const section_names[SEC__N] = {
	[SEC_CPU] = "cpu", [SEC_MEM] = "mem",	  [SEC_LOAD] = "load",
	[SEC_PSI] = "psi", [SEC_DISKS] = "disks", [SEC_FS] = "filesystems",
	[SEC_NET] = "net", [SEC_PROCS] = "procs", [SEC_UPTIME] = "uptime",
};

enum src {
	SRC_STAT,
	SRC_MEMINFO,
	SRC_LOADAVG,
	SRC_PSI_CPU,
	SRC_PSI_MEMORY,
	SRC_PSI_IO,
	SRC_DISKSTATS,
	SRC_NETDEV,
	SRC_MOUNTINFO,
	SRC_FILENR,
	SRC_UPTIME,
	SRC__N
};

#define NPSI 3

/* Each file, under proc_root, with the most we read of it. */
static const struct source {
	const char *path;
	size_t cap;
	enum section section;
} sources[SRC__N] = {
	/* ~70 bytes a CPU, plus an "intr" line with a number per IRQ: 1024
	 * CPUs and a few thousand IRQs still fit. */
	[SRC_STAT] = { "stat", 256 * 1024, SEC_CPU },
	[SRC_MEMINFO] = { "meminfo", 16 * 1024, SEC_MEM },
	[SRC_LOADAVG] = { "loadavg", 256, SEC_LOAD },
	[SRC_PSI_CPU] = { "pressure/cpu", 512, SEC_PSI },
	[SRC_PSI_MEMORY] = { "pressure/memory", 512, SEC_PSI },
	[SRC_PSI_IO] = { "pressure/io", 512, SEC_PSI },
	[SRC_DISKSTATS] = { "diskstats", 64 * 1024, SEC_DISKS },
	[SRC_NETDEV] = { "net/dev", 64 * 1024, SEC_NET },
	/* Container hosts carry thousands of mounts. */
	[SRC_MOUNTINFO] = { "self/mountinfo", 256 * 1024, SEC_FS },
	[SRC_FILENR] = { "sys/fs/file-nr", 256, SEC_PROCS },
	[SRC_UPTIME] = { "uptime", 256, SEC_UPTIME },
};

#define READ_MAX (256 * 1024)

static const char *const psi_names[NPSI] = { "cpu", "memory", "io" };

/* Whether the i-th well-formed line of diskstats is a disk we report; keyed
 * by position because the kernel lists devices in a stable order, so the
 * sysfs lookup is made once per device, not once per cycle. */
#define DISK_VERDICTS 256

struct disk_verdict {
	char name[PARSE_DISK_NAME_MAX];
	bool wanted;
};

struct collect {
	int (*statvfs_fn)(const char *path, struct statvfs *out);
	bool per_core;
	bool have_psi;
	int fd[SRC__N];
	int block_fd; /* <sys_root>/block */
	uint64_t errors[SEC__N];

	/* The previous good reading of each source that has rates, and when
	 * it was taken: a failed read leaves both, so the next good one gets
	 * the right interval. */
	bool have_prev[SRC__N];
	uint64_t prev_ns[SRC__N];

	struct parse_stat stat;
	struct parse_psi psi[NPSI];

	/* Per-core readings by CPU id; cpu_cur is parse scratch. */
	uint64_t cpu_valid[COLLECT_MAX_CPUS / 64];
	struct parse_cpu cpu_prev[COLLECT_MAX_CPUS];
	struct parse_cpu cpu_cur[COLLECT_MAX_CPUS];

	/* Two generations of the device tables: [cur] holds the previous
	 * reading while the new one fills [!cur]. */
	unsigned disk_cur;
	size_t ndisks[2];
	struct parse_disk disks[2][COLLECT_MAX_DISKS];
	struct disk_verdict verdicts[DISK_VERDICTS];

	unsigned iface_cur;
	size_t nifaces[2];
	struct parse_netdev ifaces[2][COLLECT_MAX_IFACES];

	char buf[READ_MAX + 1];
};

static void count_error(struct collect *c, enum section s)
{
	c->errors[s]++;
}

/* Read source s into c->buf. Returns its length (a truncated read is cut
 * back to whole lines and counted), -ENOENT when the source is not open (it
 * was counted when opening failed), or another negative errno (counted). */
static ssize_t source_read(struct collect *c, enum src s)
{
	size_t cap = sources[s].cap, off = 0;

	if (c->fd[s] < 0)
		return -ENOENT;
	/* seq_file hands out a page or so per read, so loop to EOF; reading
	 * one byte past the cap tells truncation from a file of exactly cap
	 * bytes. */
	while (off <= cap) {
		ssize_t n =
		    pread(c->fd[s], c->buf + off, cap + 1 - off, (off_t)off);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			count_error(c, sources[s].section);
			return -err;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	if (off > cap) {
		const char *nl = memrchr(c->buf, '\n', cap);
		count_error(c, sources[s].section);
		off = nl ? (size_t)(nl - c->buf) + 1 : 0;
	}
	return (ssize_t)off;
}

/* Nanoseconds since the previous good reading of s; 0 when there is none
 * or the clock did not advance. */
static uint64_t interval_ns(const struct collect *c, enum src s, uint64_t now)
{
	if (!c->have_prev[s] || now <= c->prev_ns[s])
		return 0;
	return now - c->prev_ns[s];
}

static void commit(struct collect *c, enum src s, uint64_t now)
{
	c->have_prev[s] = true;
	c->prev_ns[s] = now;
}

/* Rate of a counter, null without a previous value, a zero interval or on a
 * reset. */
static void kv_rate(struct jsonw *w, const char *key, bool have_prev,
		    uint64_t prev, uint64_t cur, uint64_t dt_ns, double scale)
{
	double r = 0;
	bool ok = have_prev && counter_rate(prev, cur, dt_ns, scale, &r) == 0;

	jsonw_kv_double_or_null(w, key, ok, r);
}

/* Increase of a counter over the interval, as a count. */
static void kv_delta(struct jsonw *w, const char *key, bool have_prev,
		     uint64_t prev, uint64_t cur)
{
	uint64_t d;

	jsonw_key(w, key);
	if (have_prev && counter_delta(prev, cur, &d) == 0)
		jsonw_u64(w, d);
	else
		jsonw_null(w);
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* ---- cpu ---- */

static const char *const cpu_field_names[PARSE_CPU_NFIELDS] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};

/* Jiffies spent in each state between two readings of one CPU; false when
 * none passed. iowait (and idle with it) can go backwards (proc(5)): a
 * step back is no time, not a 32-bit wrap of a 64-bit counter. */
static bool cpu_deltas(const struct parse_cpu *prev,
		       const struct parse_cpu *cur,
		       uint64_t d[PARSE_CPU_NFIELDS], uint64_t *ret_total)
{
	uint64_t total = 0;

	for (size_t i = 0; i < PARSE_CPU_NFIELDS; i++) {
		d[i] = cur->t[i] > prev->t[i] ? cur->t[i] - prev->t[i] : 0;
		total += d[i];
	}
	*ret_total = total;
	return total > 0;
}

static double cpu_usage(const uint64_t d[PARSE_CPU_NFIELDS], uint64_t total)
{
	return clamp01(1.0 - (double)(d[PARSE_CPU_IDLE] + d[PARSE_CPU_IOWAIT]) /
				 (double)total);
}

static bool cpu_valid(const struct collect *c, uint32_t id)
{
	return c->cpu_valid[id / 64] & (UINT64_C(1) << (id % 64));
}

static void write_cores(struct collect *c, const struct parse_stat *st,
			struct jsonw *w)
{
	bool overflow = st->ncpu > st->ncores;

	jsonw_key(w, "cores");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < st->ncores; i++) {
		const struct parse_cpu *cur = &c->cpu_cur[i];
		uint64_t d[PARSE_CPU_NFIELDS], total = 0;
		bool ok;

		if (cur->id >= COLLECT_MAX_CPUS) {
			overflow = true;
			continue;
		}
		ok = cpu_valid(c, cur->id) &&
		     cpu_deltas(&c->cpu_prev[cur->id], cur, d, &total);
		jsonw_obj_begin(w);
		jsonw_kv_u64(w, "cpu", cur->id);
		jsonw_kv_double_or_null(w, "usage", ok,
					ok ? cpu_usage(d, total) : 0);
		jsonw_obj_end(w);
		c->cpu_prev[cur->id] = *cur;
		c->cpu_valid[cur->id / 64] |= UINT64_C(1) << (cur->id % 64);
	}
	jsonw_arr_end(w);
	if (overflow)
		count_error(c, SEC_CPU);
}

/* Reads /proc/stat into *st (also wanted by "procs"); false when it could
 * not be read. Leaves c->stat, the previous reading, for sample_procs(). */
static bool sample_cpu(struct collect *c, struct jsonw *w,
		       struct parse_stat *st)
{
	ssize_t n = source_read(c, SRC_STAT);
	uint64_t d[PARSE_CPU_NFIELDS], total = 0;
	bool ok;

	if (n < 0)
		return false;
	if (parse_stat(c->buf, (size_t)n, st, c->cpu_cur,
		       c->per_core ? COLLECT_MAX_CPUS : 0) < 0) {
		count_error(c, SEC_CPU);
		return false;
	}
	ok = c->have_prev[SRC_STAT] &&
	     cpu_deltas(&c->stat.total, &st->total, d, &total);

	jsonw_key(w, "cpu");
	jsonw_obj_begin(w);
	jsonw_kv_double_or_null(w, "usage", ok, ok ? cpu_usage(d, total) : 0);
	for (size_t i = 0; i < PARSE_CPU_NFIELDS; i++)
		jsonw_kv_double_or_null(w, cpu_field_names[i], ok,
					ok ? (double)d[i] / (double)total : 0);
	jsonw_kv_u64(w, "count", st->ncpu);
	if (c->per_core)
		write_cores(c, st, w);
	jsonw_obj_end(w);
	return true;
}

/* ---- mem, load ---- */

static void sample_mem(struct collect *c, struct jsonw *w)
{
	ssize_t n = source_read(c, SRC_MEMINFO);
	struct parse_meminfo m;

	if (n < 0)
		return;
	if (parse_meminfo(c->buf, (size_t)n, &m) < 0) {
		count_error(c, SEC_MEM);
		return;
	}
	jsonw_key(w, "mem");
	jsonw_obj_begin(w);
	jsonw_kv_u64(w, "total_bytes", m.total);
	jsonw_kv_u64(w, "available_bytes", m.available);
	jsonw_kv_u64(w, "free_bytes", m.free);
	jsonw_kv_u64(w, "cached_bytes", m.cached);
	jsonw_kv_u64(w, "buffers_bytes", m.buffers);
	jsonw_kv_double_or_null(
	    w, "used_ratio", m.total > 0,
	    m.total > 0 ? clamp01(1.0 - (double)m.available / (double)m.total)
			: 0);
	jsonw_kv_u64(w, "swap_total_bytes", m.swap_total);
	jsonw_kv_u64(w, "swap_free_bytes", m.swap_free);
	/* No swap is no swap pressure: 0, so alerts need no null case. */
	jsonw_kv_double(
	    w, "swap_used_ratio",
	    m.swap_total > 0
		? clamp01(1.0 - (double)m.swap_free / (double)m.swap_total)
		: 0);
	jsonw_obj_end(w);
}

static bool sample_load(struct collect *c, struct jsonw *w,
			struct parse_loadavg *l)
{
	ssize_t n = source_read(c, SRC_LOADAVG);

	if (n < 0)
		return false;
	if (parse_loadavg(c->buf, (size_t)n, l) < 0) {
		count_error(c, SEC_LOAD);
		return false;
	}
	jsonw_key(w, "load");
	jsonw_obj_begin(w);
	jsonw_kv_double(w, "load1", l->load1);
	jsonw_kv_double(w, "load5", l->load5);
	jsonw_kv_double(w, "load15", l->load15);
	jsonw_kv_u64(w, "runnable", l->runnable);
	jsonw_kv_u64(w, "entities", l->entities);
	jsonw_obj_end(w);
	return true;
}

/* ---- psi ---- */

static void write_psi_line(struct jsonw *w, const char *key,
			   const char *avg_key,
			   const struct parse_psi_line *prev,
			   const struct parse_psi_line *cur, bool have_prev,
			   uint64_t dt_ns)
{
	double r = 0;
	bool ok =
	    have_prev && prev->present &&
	    counter_rate(prev->total_us, cur->total_us, dt_ns, 1e-6, &r) == 0;

	/* Stall time sampled at slightly different moments than our clock
	 * can exceed the interval by a hair. */
	jsonw_kv_double_or_null(w, key, ok, clamp01(r));
	jsonw_kv_double(w, avg_key, cur->avg10 / 100.0);
}

static void sample_psi(struct collect *c, uint64_t now, struct jsonw *w)
{
	struct parse_psi cur[NPSI];
	bool ok[NPSI], any = false;

	if (!c->have_psi)
		return;
	for (size_t i = 0; i < NPSI; i++) {
		enum src s = (enum src)(SRC_PSI_CPU + i);
		ssize_t n = source_read(c, s);

		ok[i] = false;
		if (n < 0)
			continue;
		if (parse_psi(c->buf, (size_t)n, &cur[i]) < 0) {
			count_error(c, SEC_PSI);
			continue;
		}
		ok[i] = any = true;
	}
	if (!any)
		return;
	jsonw_key(w, "psi");
	jsonw_obj_begin(w);
	for (size_t i = 0; i < NPSI; i++) {
		enum src s = (enum src)(SRC_PSI_CPU + i);
		uint64_t dt = interval_ns(c, s, now);

		if (!ok[i])
			continue;
		jsonw_key(w, psi_names[i]);
		jsonw_obj_begin(w);
		write_psi_line(w, "some", "some_avg10", &c->psi[i].some,
			       &cur[i].some, c->have_prev[s], dt);
		if (cur[i].full.present)
			write_psi_line(w, "full", "full_avg10", &c->psi[i].full,
				       &cur[i].full, c->have_prev[s], dt);
		jsonw_obj_end(w);
		c->psi[i] = cur[i];
		commit(c, s, now);
	}
	jsonw_obj_end(w);
}

/* ---- disks ---- */

struct disk_ctx {
	struct collect *c;
	struct jsonw *w;
	uint64_t dt_ns;
	const struct parse_disk *prev;
	size_t nprev;
	struct parse_disk *next;
	size_t n;
	size_t line;
	bool overflow;
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whole disks have a directory in /sys/block; partitions live below
 * theirs. sysfs spells '/' in names ("cciss/c0d0") as '!'. */
static bool disk_is_whole(const struct collect *c, const char *name)
{
	char sysname[PARSE_DISK_NAME_MAX];

	if (c->block_fd < 0)
		return false;
	for (size_t i = 0; i < sizeof(sysname); i++) {
		sysname[i] = name[i] == '/' ? '!' : name[i];
		if (name[i] == '\0')
			break;
	}
	return faccessat(c->block_fd, sysname, F_OK, 0) == 0;
}

static bool disk_wanted(struct disk_ctx *x, const char *name)
{
	static const char *const virtual[] = { "loop", "ram", "zram", "fd" };
	struct disk_verdict *v;
	size_t i = x->line++;

	for (size_t k = 0; k < ARRAY_SIZE(virtual); k++) {
		if (has_prefix(name, virtual[k]))
			return false;
	}
	if (i >= DISK_VERDICTS)
		return disk_is_whole(x->c, name);
	v = &x->c->verdicts[i];
	if (strcmp(v->name, name) != 0) {
		memcpy(v->name, name, sizeof(v->name));
		v->wanted = disk_is_whole(x->c, name);
	}
	return v->wanted;
}

/* Devices keep their order between readings, so try the same position
 * first. */
static const struct parse_disk *disk_find(const struct disk_ctx *x,
					  const char *name)
{
	if (x->n < x->nprev && strcmp(x->prev[x->n].name, name) == 0)
		return &x->prev[x->n];
	for (size_t i = 0; i < x->nprev; i++) {
		if (strcmp(x->prev[i].name, name) == 0)
			return &x->prev[i];
	}
	return NULL;
}

static void write_disk(struct jsonw *w, const struct parse_disk *p,
		       const struct parse_disk *d, uint64_t dt)
{
	static const struct parse_disk zero;
	bool hp = p != NULL;
	uint64_t dr, dw, drms, dwms, dio;
	bool ok;

	if (!p)
		p = &zero;
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "dev", d->name);
	kv_rate(w, "read_bytes_ps", hp, p->sectors_read, d->sectors_read, dt,
		512);
	kv_rate(w, "write_bytes_ps", hp, p->sectors_written, d->sectors_written,
		dt, 512);
	kv_rate(w, "reads_ps", hp, p->reads, d->reads, dt, 1);
	kv_rate(w, "writes_ps", hp, p->writes, d->writes, dt, 1);
	ok = hp && dt > 0 && counter_delta(p->io_ms, d->io_ms, &dio) == 0;
	jsonw_kv_double_or_null(
	    w, "util", ok, ok ? clamp01((double)dio / ((double)dt / 1e6)) : 0);
	ok = hp && counter_delta(p->reads, d->reads, &dr) == 0 &&
	     counter_delta(p->writes, d->writes, &dw) == 0 &&
	     counter_delta(p->read_ms, d->read_ms, &drms) == 0 &&
	     counter_delta(p->write_ms, d->write_ms, &dwms) == 0;
	/* No I/O completed: no wait, as iostat shows it. */
	jsonw_kv_double_or_null(
	    w, "await_ms", ok,
	    ok && dr + dw > 0 ? (double)(drms + dwms) / (double)(dr + dw) : 0);
	jsonw_obj_end(w);
}

static void on_disk(void *ctx, const struct parse_disk *d)
{
	struct disk_ctx *x = ctx;

	if (!disk_wanted(x, d->name))
		return;
	if (x->n >= COLLECT_MAX_DISKS) {
		x->overflow = true;
		return;
	}
	write_disk(x->w, disk_find(x, d->name), d, x->dt_ns);
	x->next[x->n++] = *d;
}

static void sample_disks(struct collect *c, uint64_t now, struct jsonw *w)
{
	ssize_t n = source_read(c, SRC_DISKSTATS);
	unsigned cur = c->disk_cur;
	struct disk_ctx x = {
		.c = c,
		.w = w,
		.dt_ns = interval_ns(c, SRC_DISKSTATS, now),
		.prev = c->disks[cur],
		.nprev = c->have_prev[SRC_DISKSTATS] ? c->ndisks[cur] : 0,
		.next = c->disks[!cur],
	};
	size_t bad;

	if (n < 0)
		return;
	jsonw_key(w, "disks");
	jsonw_arr_begin(w);
	bad = parse_diskstats(c->buf, (size_t)n, on_disk, &x);
	jsonw_arr_end(w);
	c->errors[SEC_DISKS] += bad + x.overflow;
	c->ndisks[!cur] = x.n;
	c->disk_cur = !cur;
	commit(c, SRC_DISKSTATS, now);
}

/* ---- filesystems ---- */

/* Sorted for bsearch. */
static const char *const pseudo_fs[] = {
	"autofs",     "binfmt_misc", "bpf",	  "cgroup",   "cgroup2",
	"configfs",   "debugfs",     "devpts",	  "devtmpfs", "efivarfs",
	"fusectl",    "hugetlbfs",   "iso9660",	  "mqueue",   "nsfs",
	"overlay",    "proc",	     "procfs",	  "pstore",   "ramfs",
	"rpc_pipefs", "securityfs",  "selinuxfs", "squashfs", "sysfs",
	"tmpfs",      "tracefs",
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool fs_is_pseudo(const char *type)
{
	return has_prefix(type, "fuse.") ||
	       bsearch(&type, pseudo_fs, ARRAY_SIZE(pseudo_fs),
		       sizeof(pseudo_fs[0]), cmp_str) != NULL;
}

struct fs_ctx {
	struct collect *c;
	struct jsonw *w;
	size_t n;
	bool overflow;
	struct {
		unsigned major, minor;
	} seen[COLLECT_MAX_FILESYSTEMS];
};

static bool fs_seen(const struct fs_ctx *x, const struct parse_mount *m)
{
	for (size_t i = 0; i < x->n; i++) {
		if (x->seen[i].major == m->major &&
		    x->seen[i].minor == m->minor)
			return true;
	}
	return false;
}

static void write_fs(struct jsonw *w, const struct parse_mount *m,
		     const struct statvfs *st)
{
	uint64_t frsize = st->f_frsize ? st->f_frsize : st->f_bsize;
	uint64_t size = (uint64_t)st->f_blocks * frsize;
	uint64_t used = st->f_blocks > st->f_bfree
			    ? (uint64_t)(st->f_blocks - st->f_bfree) * frsize
			    : 0;
	uint64_t avail = (uint64_t)st->f_bavail * frsize;
	uint64_t iused =
	    st->f_files > st->f_ffree ? st->f_files - st->f_ffree : 0;

	jsonw_obj_begin(w);
	jsonw_kv_str(w, "mount", m->mount);
	jsonw_kv_str(w, "device", m->source);
	jsonw_kv_str(w, "type", m->fstype);
	jsonw_kv_u64(w, "size_bytes", size);
	jsonw_kv_u64(w, "used_bytes", used);
	jsonw_kv_u64(w, "avail_bytes", avail);
	/* Like df: the root-reserved blocks count as neither. */
	jsonw_kv_double(w, "used_ratio",
			used + avail > 0 ? (double)used / (double)(used + avail)
					 : 0);
	jsonw_kv_double_or_null(
	    w, "inodes_used_ratio", st->f_files > 0,
	    st->f_files > 0 ? (double)iused / (double)st->f_files : 0);
	jsonw_kv_bool(w, "readonly",
		      m->readonly || (st->f_flag & ST_RDONLY) != 0);
	jsonw_obj_end(w);
}

static void on_mount(void *ctx, const struct parse_mount *m)
{
	struct fs_ctx *x = ctx;
	struct statvfs st;

	if (fs_is_pseudo(m->fstype) || fs_seen(x, m))
		return;
	if (strcmp(m->root, "/") != 0 && strcmp(m->fstype, "btrfs") != 0)
		return;
	if (x->n >= COLLECT_MAX_FILESYSTEMS) {
		x->overflow = true;
		return;
	}
	if (x->c->statvfs_fn(m->mount, &st) < 0) {
		count_error(x->c, SEC_FS);
		return;
	}
	if (st.f_blocks == 0)
		return;
	write_fs(x->w, m, &st);
	x->seen[x->n].major = m->major;
	x->seen[x->n].minor = m->minor;
	x->n++;
}

static void sample_filesystems(struct collect *c, struct jsonw *w)
{
	ssize_t n = source_read(c, SRC_MOUNTINFO);
	struct fs_ctx x = { .c = c, .w = w };
	size_t bad;

	if (n < 0)
		return;
	jsonw_key(w, "filesystems");
	jsonw_arr_begin(w);
	bad = parse_mountinfo(c->buf, (size_t)n, on_mount, &x);
	jsonw_arr_end(w);
	c->errors[SEC_FS] += bad + x.overflow;
}

/* ---- net ---- */

struct net_ctx {
	struct jsonw *w;
	uint64_t dt_ns;
	const struct parse_netdev *prev;
	size_t nprev;
	struct parse_netdev *next;
	size_t n;
	bool overflow;
};

static const struct parse_netdev *iface_find(const struct net_ctx *x,
					     const char *name)
{
	if (x->n < x->nprev && strcmp(x->prev[x->n].name, name) == 0)
		return &x->prev[x->n];
	for (size_t i = 0; i < x->nprev; i++) {
		if (strcmp(x->prev[i].name, name) == 0)
			return &x->prev[i];
	}
	return NULL;
}

static void write_iface(struct jsonw *w, const struct parse_netdev *p,
			const struct parse_netdev *d, uint64_t dt)
{
	static const struct parse_netdev zero;
	bool hp = p != NULL;

	if (!p)
		p = &zero;
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "iface", d->name);
	kv_rate(w, "rx_bytes_ps", hp, p->rx_bytes, d->rx_bytes, dt, 1);
	kv_rate(w, "tx_bytes_ps", hp, p->tx_bytes, d->tx_bytes, dt, 1);
	kv_rate(w, "rx_packets_ps", hp, p->rx_packets, d->rx_packets, dt, 1);
	kv_rate(w, "tx_packets_ps", hp, p->tx_packets, d->tx_packets, dt, 1);
	kv_delta(w, "rx_errors", hp, p->rx_errors, d->rx_errors);
	kv_delta(w, "tx_errors", hp, p->tx_errors, d->tx_errors);
	kv_delta(w, "rx_drops", hp, p->rx_drops, d->rx_drops);
	kv_delta(w, "tx_drops", hp, p->tx_drops, d->tx_drops);
	jsonw_obj_end(w);
}

static void on_iface(void *ctx, const struct parse_netdev *d)
{
	struct net_ctx *x = ctx;

	if (strcmp(d->name, "lo") == 0)
		return;
	if (x->n >= COLLECT_MAX_IFACES) {
		x->overflow = true;
		return;
	}
	write_iface(x->w, iface_find(x, d->name), d, x->dt_ns);
	x->next[x->n++] = *d;
}

static void sample_net(struct collect *c, uint64_t now, struct jsonw *w)
{
	ssize_t n = source_read(c, SRC_NETDEV);
	unsigned cur = c->iface_cur;
	struct net_ctx x = {
		.w = w,
		.dt_ns = interval_ns(c, SRC_NETDEV, now),
		.prev = c->ifaces[cur],
		.nprev = c->have_prev[SRC_NETDEV] ? c->nifaces[cur] : 0,
		.next = c->ifaces[!cur],
	};
	size_t bad;

	if (n < 0)
		return;
	jsonw_key(w, "net");
	jsonw_arr_begin(w);
	bad = parse_netdev(c->buf, (size_t)n, on_iface, &x);
	jsonw_arr_end(w);
	c->errors[SEC_NET] += bad + x.overflow;
	c->nifaces[!cur] = x.n;
	c->iface_cur = !cur;
	commit(c, SRC_NETDEV, now);
}

/* ---- procs, uptime ---- */

static void sample_procs(struct collect *c, uint64_t now, struct jsonw *w,
			 const struct parse_stat *st,
			 const struct parse_loadavg *load)
{
	ssize_t n = source_read(c, SRC_FILENR);
	struct parse_filenr f;
	bool have_f = false;

	if (n >= 0) {
		have_f = parse_filenr(c->buf, (size_t)n, &f) == 0;
		if (!have_f)
			count_error(c, SEC_PROCS);
	}
	if (!st)
		return;
	if (!st->has_procs) {
		count_error(c, SEC_PROCS);
		return;
	}
	jsonw_key(w, "procs");
	jsonw_obj_begin(w);
	if (load)
		jsonw_kv_u64(w, "total", load->entities);
	jsonw_kv_u64(w, "running", st->procs_running);
	jsonw_kv_u64(w, "blocked", st->procs_blocked);
	kv_rate(w, "forks_ps", c->have_prev[SRC_STAT] && c->stat.has_procs,
		c->stat.processes, st->processes, interval_ns(c, SRC_STAT, now),
		1);
	if (have_f) {
		jsonw_kv_u64(w, "fds_open",
			     f.allocated > f.free ? f.allocated - f.free : 0);
		jsonw_kv_u64(w, "fds_max", f.max);
	}
	jsonw_obj_end(w);
}

static void sample_uptime(struct collect *c, struct jsonw *w)
{
	ssize_t n = source_read(c, SRC_UPTIME);
	double up;

	if (n < 0)
		return;
	if (parse_uptime(c->buf, (size_t)n, &up) < 0) {
		count_error(c, SEC_UPTIME);
		return;
	}
	jsonw_kv_double(w, "uptime_s", up);
}

/* ---- lifecycle ---- */

static void commit_stat(struct collect *c, const struct parse_stat *st,
			uint64_t now)
{
	c->stat = *st;
	commit(c, SRC_STAT, now);
}

void collect_sample(struct collect *c, uint64_t now_ns, struct jsonw *w)
{
	struct parse_stat st;
	struct parse_loadavg load;
	bool have_st, have_load;

	have_st = sample_cpu(c, w, &st);
	sample_mem(c, w);
	have_load = sample_load(c, w, &load);
	sample_psi(c, now_ns, w);
	sample_disks(c, now_ns, w);
	sample_filesystems(c, w);
	sample_net(c, now_ns, w);
	sample_procs(c, now_ns, w, have_st ? &st : NULL,
		     have_load ? &load : NULL);
	sample_uptime(c, w);
	if (have_st)
		commit_stat(c, &st, now_ns);
}

/* The first reading of the sources that have rates; its output is thrown
 * away through a writer in the error state (every jsonw call is then a
 * no-op, see jsonw.h). */
static void collect_prime(struct collect *c, uint64_t now)
{
	struct buf none;
	struct jsonw w;
	struct parse_stat st;

	buf_init(&none, 0);
	jsonw_init(&w, &none);
	w.err = -ECANCELED;
	if (sample_cpu(c, &w, &st))
		commit_stat(c, &st, now);
	sample_psi(c, now, &w);
	sample_disks(c, now, &w);
	sample_net(c, now, &w);
	buf_release(&none);
}

/* Failing to open a file is a missing source, except when the process is
 * out of descriptors or memory: that is the caller's problem to report. */
static bool open_error_is_fatal(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM;
}

static int open_sources(struct collect *c, int proc_fd)
{
	for (size_t s = 0; s < SRC__N; s++) {
		if (s >= SRC_PSI_CPU && s <= SRC_PSI_IO && !c->have_psi)
			continue;
		if (proc_fd >= 0)
			c->fd[s] = openat(proc_fd, sources[s].path,
					  O_RDONLY | O_CLOEXEC);
		if (c->fd[s] >= 0)
			continue;
		if (proc_fd >= 0 && open_error_is_fatal(errno))
			return -errno;
		count_error(c, sources[s].section);
	}
	return 0;
}

static void collect_freep(struct collect **c)
{
	collect_free(*c);
}

int collect_new(const struct collect_options *opt, uint64_t now_ns,
		struct collect **ret)
{
	static const struct collect_options defaults;
	_cleanup_(collect_freep) struct collect *c = NULL;
	_cleanup_close_ int proc_fd = -1, sys_fd = -1;
	int r;

	if (!opt)
		opt = &defaults;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t s = 0; s < SRC__N; s++)
		c->fd[s] = -1;
	c->block_fd = -1;
	c->per_core = opt->per_core;
	c->statvfs_fn = opt->statvfs_fn ? opt->statvfs_fn : statvfs;

	proc_fd = open(opt->proc_root ? opt->proc_root : "/proc",
		       O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0 && open_error_is_fatal(errno))
		return -errno;
	/* No /proc/pressure is a kernel without PSI, not a failure. */
	c->have_psi =
	    proc_fd >= 0 && faccessat(proc_fd, "pressure", F_OK, 0) == 0;
	r = open_sources(c, proc_fd);
	if (r < 0)
		return r;

	sys_fd = open(opt->sys_root ? opt->sys_root : "/sys",
		      O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sys_fd >= 0)
		c->block_fd =
		    openat(sys_fd, "block", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->block_fd < 0) {
		if (open_error_is_fatal(errno))
			return -errno;
		count_error(c, SEC_DISKS);
	}

	collect_prime(c, now_ns);
	*ret = TAKE_PTR(c);
	return 0;
}

struct collect *collect_free(struct collect *c)
{
	if (!c)
		return NULL;
	for (size_t s = 0; s < SRC__N; s++) {
		if (c->fd[s] >= 0)
			close(c->fd[s]);
	}
	if (c->block_fd >= 0)
		close(c->block_fd);
	free(c);
	return NULL;
}

void collect_report_errors(struct collect *c, struct jsonw *w)
{
	jsonw_key(w, "collect_errors");
	jsonw_obj_begin(w);
	for (size_t i = 0; i < SEC__N; i++)
		jsonw_kv_u64(w, section_names[i], c->errors[i]);
	jsonw_obj_end(w);
}

uint64_t collect_error_count(const struct collect *c)
{
	uint64_t n = 0;

	for (size_t i = 0; i < SEC__N; i++)
		n += c->errors[i];
	return n;
}
