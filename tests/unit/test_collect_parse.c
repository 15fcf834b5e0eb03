/* The /proc parsers and the counter math of the collectors, on fixture
 * files and inline cases. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "cleanup.h"
#include "collectors/counter.h"
#include "collectors/parse.h"

#define FIXTURE_MAX (256 * 1024)

/* The fixture file at FIXTURES_DIR/rel into buf; returns its length. */
static size_t fixture(const char *rel, char *buf, size_t cap)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	size_t off = 0;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + off, cap - off);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		off += (size_t)n;
		ck_assert_uint_lt(off, cap);
	}
	return off;
}

/* ---- counter ---- */

static const struct {
	uint64_t prev, cur;
	int ret;
	uint64_t delta;
} delta_cases[] = {
	{ 0, 0, 0, 0 },
	{ 10, 25, 0, 15 },
	{ UINT64_MAX - 1, UINT64_MAX, 0, 1 },
	/* Backwards from a 32-bit value: a wrap. */
	{ 4294967000u, 1000, 0, 1296 },
	{ UINT32_MAX, 0, 0, 1 },
	{ 5, 4, 0, UINT32_MAX },
	/* Backwards from beyond 32 bits: a reset. */
	{ UINT64_C(4294967296), 5, -ERANGE, 0 },
	{ UINT64_C(10000000000), 0, -ERANGE, 0 },
};

START_TEST(counter_delta_table)
{
	uint64_t d = 12345;
	int r = counter_delta(delta_cases[_i].prev, delta_cases[_i].cur, &d);

	ck_assert_int_eq(r, delta_cases[_i].ret);
	if (r == 0)
		ck_assert_uint_eq(d, delta_cases[_i].delta);
	else
		ck_assert_uint_eq(d, 12345); /* untouched on failure */
}
END_TEST

START_TEST(counter_rate_math)
{
	double r = -1;

	ck_assert_int_eq(counter_rate(0, 1000, 2000000000, 1, &r), 0);
	ck_assert_double_eq_tol(r, 500, 1e-9);
	ck_assert_int_eq(counter_rate(0, 2048, 1000000000, 512, &r), 0);
	ck_assert_double_eq_tol(r, 1048576, 1e-6);
	ck_assert_int_eq(counter_rate(4294967000u, 1000, 1000000000, 1, &r), 0);
	ck_assert_double_eq_tol(r, 1296, 1e-9);
	r = -1;
	ck_assert_int_eq(counter_rate(0, 1000, 0, 1, &r), -EDOM);
	ck_assert_int_eq(counter_rate(UINT64_C(1) << 40, 1, 1000, 1, &r),
			 -ERANGE);
	ck_assert_double_eq(r, -1);
}
END_TEST

/* ---- /proc/stat ---- */

START_TEST(stat_real_vm)
{
	static char buf[FIXTURE_MAX];
	struct parse_cpu cores[8];
	struct parse_stat st;
	size_t n = fixture("vm-2cpu/proc/stat", buf, sizeof(buf));

	ck_assert_int_eq(parse_stat(buf, n, &st, cores, 8), 0);
	ck_assert_uint_eq(st.ncpu, 2);
	ck_assert_uint_eq(st.ncores, 2);
	ck_assert_uint_eq(st.bad, 0);
	ck_assert(st.has_procs);
	ck_assert_uint_eq(cores[0].id, 0);
	ck_assert_uint_eq(cores[1].id, 1);
	/* The aggregate is the sum of the cores, column by column, give or
	 * take the tick the kernel added while printing. */
	for (size_t i = 0; i < PARSE_CPU_NFIELDS; i++) {
		uint64_t sum = cores[0].t[i] + cores[1].t[i];
		ck_assert_uint_le(st.total.t[i], sum + 2);
		ck_assert_uint_le(sum, st.total.t[i] + 2);
	}
	ck_assert_uint_gt(st.processes, 0);
}
END_TEST

START_TEST(stat_128_cpus)
{
	static char buf[FIXTURE_MAX];
	static struct parse_cpu cores[128];
	struct parse_stat st;
	size_t n = fixture("cpu128/proc/stat", buf, sizeof(buf));

	ck_assert_int_eq(parse_stat(buf, n, &st, cores, 128), 0);
	ck_assert_uint_eq(st.ncpu, 128);
	ck_assert_uint_eq(st.ncores, 128);
	ck_assert_uint_eq(cores[127].id, 127);
	ck_assert_uint_eq(cores[127].t[PARSE_CPU_IDLE], 1000);
	ck_assert_uint_eq(st.total.t[PARSE_CPU_USER], 12800);
	ck_assert_uint_eq(st.total.t[PARSE_CPU_SOFTIRQ], 3);
	ck_assert_uint_eq(st.procs_running, 2);
	/* Fewer slots than CPUs: the rest are only counted. */
	ck_assert_int_eq(parse_stat(buf, n, &st, cores, 4), 0);
	ck_assert_uint_eq(st.ncpu, 128);
	ck_assert_uint_eq(st.ncores, 4);
	ck_assert_int_eq(parse_stat(buf, n, &st, NULL, 0), 0);
	ck_assert_uint_eq(st.ncores, 0);
}
END_TEST

static const struct {
	const char *text;
	int ret;
	uint32_t ncpu, bad;
	uint64_t user, steal;
	bool has_procs;
} stat_cases[] = {
	{ "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	  "processes 1\nprocs_running 1\nprocs_blocked 0\n",
	  0, 1, 0, 1, 8, true },
	/* 2.4 kernels: four columns. */
	{ "cpu 10 0 5 100\n", 0, 0, 0, 10, 0, false },
	/* No trailing newline, tabs. */
	{ "cpu\t7 0 0 1", 0, 0, 0, 7, 0, false },
	{ "", -EINVAL, 0, 0, 0, 0, false },
	{ "cpu0 1 2 3 4\n", -EINVAL, 1, 0, 0, 0, false },
	{ "cpu 1 2 3\n", -EINVAL, 0, 1, 0, 0, false },
	{ "cpu 1 2 3 4x 5\n", -EINVAL, 0, 1, 0, 0, false },
	{ "cpu 99999999999999999999 2 3 4\n", -EINVAL, 0, 1, 0, 0, false },
	{ "cpu 1 2 3 4\ncpuX 1 2 3 4\ncpu-1 1 2 3 4\ncpu1 1\n", 0, 0, 3, 1, 0,
	  false },
	/* A second aggregate line is junk, not a replacement. */
	{ "cpu 1 2 3 4\ncpu 9 9 9 9\n", 0, 0, 1, 1, 0, false },
	{ "cpu 1 2 3 4\nprocesses x\nprocs_running 1\nprocs_blocked 1\n", 0, 0,
	  0, 1, 0, false },
};

START_TEST(stat_table)
{
	struct parse_cpu cores[4];
	struct parse_stat st;
	const char *t = stat_cases[_i].text;
	int r = parse_stat(t, strlen(t), &st, cores, 4);

	ck_assert_int_eq(r, stat_cases[_i].ret);
	ck_assert_uint_eq(st.ncpu, stat_cases[_i].ncpu);
	ck_assert_uint_eq(st.bad, stat_cases[_i].bad);
	if (r == 0) {
		ck_assert_uint_eq(st.total.t[PARSE_CPU_USER],
				  stat_cases[_i].user);
		ck_assert_uint_eq(st.total.t[PARSE_CPU_STEAL],
				  stat_cases[_i].steal);
		ck_assert_int_eq(st.has_procs, stat_cases[_i].has_procs);
	}
}
END_TEST

/* ---- meminfo ---- */

START_TEST(meminfo_real_and_old)
{
	static char buf[FIXTURE_MAX];
	struct parse_meminfo m;
	size_t n = fixture("vm-2cpu/proc/meminfo", buf, sizeof(buf));

	ck_assert_int_eq(parse_meminfo(buf, n, &m), 0);
	ck_assert(m.has_available);
	ck_assert_uint_eq(m.total % 1024, 0);
	ck_assert_uint_gt(m.total, m.available);

	n = fixture("old-kernel/proc/meminfo", buf, sizeof(buf));
	ck_assert_int_eq(parse_meminfo(buf, n, &m), 0);
	ck_assert(!m.has_available);
	ck_assert_uint_eq(m.total, UINT64_C(2048000) * 1024);
	ck_assert_uint_eq(m.available,
			  (uint64_t)(512000 + 102400 + 409600) * 1024);
	ck_assert_uint_eq(m.swap_total, 0);
}
END_TEST

static const struct {
	const char *text;
	int ret;
	uint64_t total, available;
} meminfo_cases[] = {
	{ "MemTotal: 4 kB\nMemFree: 1 kB\nMemAvailable: 2 kB\n", 0, 4096,
	  2048 },
	{ "MemFree: 1 kB\nMemTotal: 4 kB\n", 0, 4096, 1024 },
	{ "MemTotal: 4 kB\n", -EINVAL, 0, 0 },
	{ "MemTotal: 4 MB\nMemFree: 1 kB\n", -EINVAL, 0, 0 },
	{ "MemTotal: lots kB\nMemFree: 1 kB\n", -EINVAL, 0, 0 },
	{ "MemTotal: 99999999999999999 kB\nMemFree: 1 kB\n", -EINVAL, 0, 0 },
	{ "MemTotal:\nMemFree:\n", -EINVAL, 0, 0 },
	{ "", -EINVAL, 0, 0 },
};

START_TEST(meminfo_table)
{
	struct parse_meminfo m;
	const char *t = meminfo_cases[_i].text;
	int r = parse_meminfo(t, strlen(t), &m);

	ck_assert_int_eq(r, meminfo_cases[_i].ret);
	if (r == 0) {
		ck_assert_uint_eq(m.total, meminfo_cases[_i].total);
		ck_assert_uint_eq(m.available, meminfo_cases[_i].available);
	}
}
END_TEST

/* ---- loadavg, file-nr, uptime ---- */

static const struct {
	const char *text;
	int ret;
	double load1, load15;
	uint64_t runnable, entities;
} loadavg_cases[] = {
	{ "0.00 0.02 0.00 1/85 12757\n", 0, 0, 0, 1, 85 },
	{ "12.50 3.25 100.01 17/3000 1", 0, 12.5, 100.01, 17, 3000 },
	{ "1.50 0.75 0.25 3/250\n", 0, 1.5, 0.25, 3, 250 },
	{ "nan nan nan\n", -EINVAL, 0, 0, 0, 0 },
	{ "1.0 2.0 3.0 4\n", -EINVAL, 0, 0, 0, 0 },
	{ "1.0 2.0 3.0 4/\n", -EINVAL, 0, 0, 0, 0 },
	{ "1. 2.0 3.0 4/5\n", -EINVAL, 0, 0, 0, 0 },
	{ "", -EINVAL, 0, 0, 0, 0 },
};

START_TEST(loadavg_table)
{
	struct parse_loadavg l;
	const char *t = loadavg_cases[_i].text;
	int r = parse_loadavg(t, strlen(t), &l);

	ck_assert_int_eq(r, loadavg_cases[_i].ret);
	if (r == 0) {
		ck_assert_double_eq_tol(l.load1, loadavg_cases[_i].load1, 1e-9);
		ck_assert_double_eq_tol(l.load15, loadavg_cases[_i].load15,
					1e-9);
		ck_assert_uint_eq(l.runnable, loadavg_cases[_i].runnable);
		ck_assert_uint_eq(l.entities, loadavg_cases[_i].entities);
	}
}
END_TEST

START_TEST(filenr_and_uptime)
{
	struct parse_filenr f;
	double up = -1;

	ck_assert_int_eq(parse_filenr("449\t0\t2466177\n", 14, &f), 0);
	ck_assert_uint_eq(f.allocated, 449);
	ck_assert_uint_eq(f.max, 2466177);
	ck_assert_int_eq(parse_filenr("449\t0\n", 6, &f), -EINVAL);
	ck_assert_int_eq(parse_filenr("abc\n", 4, &f), -EINVAL);
	ck_assert_int_eq(parse_filenr("", 0, &f), -EINVAL);

	ck_assert_int_eq(parse_uptime("3281.20 6499.19\n", 16, &up), 0);
	ck_assert_double_eq_tol(up, 3281.2, 1e-9);
	ck_assert_int_eq(parse_uptime("17", 2, &up), 0);
	ck_assert_double_eq_tol(up, 17, 1e-9);
	ck_assert_int_eq(parse_uptime("-1\n", 3, &up), -EINVAL);
	ck_assert_int_eq(parse_uptime("12x 3\n", 6, &up), -EINVAL);
	ck_assert_int_eq(parse_uptime("", 0, &up), -EINVAL);
}
END_TEST

/* ---- pressure ---- */

static const struct {
	const char *text;
	int ret;
	bool full;
	double some_avg10;
	uint64_t some_total, full_total;
} psi_cases[] = {
	{ "some avg10=0.00 avg60=0.16 avg300=0.13 total=4894543\n"
	  "full avg10=1.50 avg60=0.00 avg300=0.00 total=7\n",
	  0, true, 0, 4894543, 7 },
	/* cpu before 5.13: no full line. */
	{ "some avg10=12.50 avg60=1.00 avg300=0.50 total=10\n", 0, false, 12.5,
	  10, 0 },
	/* A bad full line is dropped, some kept. */
	{ "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=x\n", 0,
	  false, 0, 1, 0 },
	{ "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n", -EINVAL, 0, 0, 0,
	  0 },
	{ "some avg10=x avg60=1 avg300=2 total=3\n", -EINVAL, 0, 0, 0, 0 },
	{ "some avg10=1.00 avg60=1.00 avg300=1.00 total=\n", -EINVAL, 0, 0, 0,
	  0 },
	{ "some avg60=1.00 avg10=1.00 avg300=1.00 total=1\n", -EINVAL, 0, 0, 0,
	  0 },
	{ "", -EINVAL, 0, 0, 0, 0 },
};

START_TEST(psi_table)
{
	struct parse_psi p;
	const char *t = psi_cases[_i].text;
	int r = parse_psi(t, strlen(t), &p);

	ck_assert_int_eq(r, psi_cases[_i].ret);
	if (r == 0) {
		ck_assert(p.some.present);
		ck_assert_int_eq(p.full.present, psi_cases[_i].full);
		ck_assert_double_eq_tol(p.some.avg10, psi_cases[_i].some_avg10,
					1e-9);
		ck_assert_uint_eq(p.some.total_us, psi_cases[_i].some_total);
		ck_assert_uint_eq(p.full.total_us, psi_cases[_i].full_total);
	}
}
END_TEST

/* ---- diskstats ---- */

struct disks_seen {
	size_t n;
	struct parse_disk d[16];
};

static void collect_disk(void *ctx, const struct parse_disk *d)
{
	struct disks_seen *s = ctx;

	if (s->n < 16)
		s->d[s->n] = *d;
	s->n++;
}

START_TEST(diskstats_fixtures)
{
	static char buf[FIXTURE_MAX];
	struct disks_seen s = { 0 };
	size_t n = fixture("synth/proc/diskstats", buf, sizeof(buf));

	/* Every line parses: filtering is the collector's business. */
	ck_assert_uint_eq(parse_diskstats(buf, n, collect_disk, &s), 0);
	ck_assert_uint_eq(s.n, 10);
	ck_assert_str_eq(s.d[0].name, "loop0");
	ck_assert_str_eq(s.d[4].name, "sda");
	ck_assert_uint_eq(s.d[4].major, 8);
	ck_assert_uint_eq(s.d[4].reads, 1000);
	ck_assert_uint_eq(s.d[4].sectors_read, 20000);
	ck_assert_uint_eq(s.d[4].read_ms, 500);
	ck_assert_uint_eq(s.d[4].writes, 2000);
	ck_assert_uint_eq(s.d[4].sectors_written, 40000);
	ck_assert_uint_eq(s.d[4].write_ms, 1500);
	ck_assert_uint_eq(s.d[4].io_ms, 3000);
	ck_assert_str_eq(s.d[9].name, "dm-0");

	/* 14 columns (before 4.18) parse; the 2.6 four-column partition
	 * line does not. */
	memset(&s, 0, sizeof(s));
	n = fixture("old-kernel/proc/diskstats", buf, sizeof(buf));
	ck_assert_uint_eq(parse_diskstats(buf, n, collect_disk, &s), 1);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.d[0].io_ms, 15);

	memset(&s, 0, sizeof(s));
	n = fixture("vm-2cpu/proc/diskstats", buf, sizeof(buf));
	ck_assert_uint_eq(parse_diskstats(buf, n, collect_disk, &s), 0);
	ck_assert_uint_eq(s.n, 10);
}
END_TEST

static const struct {
	const char *text;
	size_t bad, good;
} diskstats_cases[] = {
	{ "", 0, 0 },
	{ "\n   \n", 0, 0 },
	{ "8 0 sda 1 2 3\n", 1, 0 },
	{ "8 0 sda 1 2 3 4 5 6 7 8 9 10 11", 0, 1 },
	{ "8 0 sda 1 2 3 4 5 6 7 8 9 10 1x\n", 1, 0 },
	{ "8 0 0123456789012345678901234567890123 1 2 3 4 5 6 7 8 9 10 11\n", 1,
	  0 },
	{ "99999999999 0 sda 1 2 3 4 5 6 7 8 9 10 11\n", 1, 0 },
	{ "8 0\n8\n", 2, 0 },
};

START_TEST(diskstats_table)
{
	struct disks_seen s = { 0 };
	const char *t = diskstats_cases[_i].text;

	ck_assert_uint_eq(parse_diskstats(t, strlen(t), collect_disk, &s),
			  diskstats_cases[_i].bad);
	ck_assert_uint_eq(s.n, diskstats_cases[_i].good);
}
END_TEST

/* ---- net/dev ---- */

struct ifaces_seen {
	size_t n;
	struct parse_netdev d[80];
};

static void collect_iface(void *ctx, const struct parse_netdev *d)
{
	struct ifaces_seen *s = ctx;

	if (s->n < 80)
		s->d[s->n] = *d;
	s->n++;
}

START_TEST(netdev_fixtures)
{
	static char buf[FIXTURE_MAX];
	static struct ifaces_seen s;
	size_t n = fixture("synth/proc/net/dev", buf, sizeof(buf));

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(parse_netdev(buf, n, collect_iface, &s), 0);
	ck_assert_uint_eq(s.n, 5);
	ck_assert_str_eq(s.d[0].name, "lo");
	ck_assert_str_eq(s.d[1].name, "eth0");
	ck_assert_uint_eq(s.d[1].rx_bytes, 1000000);
	ck_assert_uint_eq(s.d[1].rx_packets, 1000);
	ck_assert_uint_eq(s.d[1].rx_errors, 1);
	ck_assert_uint_eq(s.d[1].rx_drops, 5);
	ck_assert_uint_eq(s.d[1].tx_bytes, 500000);
	ck_assert_uint_eq(s.d[1].tx_packets, 500);
	ck_assert_str_eq(s.d[3].name, "br-1a2b3c4d5e6f");

	memset(&s, 0, sizeof(s));
	n = fixture("many-ifaces/proc/net/dev", buf, sizeof(buf));
	ck_assert_uint_eq(parse_netdev(buf, n, collect_iface, &s), 0);
	ck_assert_uint_eq(s.n, 71);
	ck_assert_uint_eq(strlen(s.d[1].name), 15);
	ck_assert_str_eq(s.d[67].name, "eth0.100");
	ck_assert_str_eq(s.d[69].name, "my-if_x");

	/* Old kernels: no blank after the colon. */
	memset(&s, 0, sizeof(s));
	n = fixture("old-kernel/proc/net/dev", buf, sizeof(buf));
	ck_assert_uint_eq(parse_netdev(buf, n, collect_iface, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.d[1].name, "eth0");
	ck_assert_uint_eq(s.d[1].rx_bytes, 12345678);
	ck_assert_uint_eq(s.d[1].tx_bytes, 87654321);

	memset(&s, 0, sizeof(s));
	n = fixture("vm-2cpu/proc/net/dev", buf, sizeof(buf));
	ck_assert_uint_eq(parse_netdev(buf, n, collect_iface, &s), 0);
	ck_assert_uint_ge(s.n, 2);
}
END_TEST

static const struct {
	const char *text;
	size_t bad, good;
} netdev_cases[] = {
	{ "", 0, 0 },
	{ " eth0 1 2 3\n", 1, 0 },
	{ "eth0: 1 2 3\n", 1, 0 },
	{ "0123456789abcdef: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 1, 0 },
	{ "0123456789abcde: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 0, 1 },
	{ ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 1, 0 },
	{ "a b: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 1, 0 },
	/* '|' only marks headers in the first two lines. */
	{ "x\ny\nz|: 1\n", 3, 0 },
};

START_TEST(netdev_table)
{
	static struct ifaces_seen s;
	const char *t = netdev_cases[_i].text;

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(parse_netdev(t, strlen(t), collect_iface, &s),
			  netdev_cases[_i].bad);
	ck_assert_uint_eq(s.n, netdev_cases[_i].good);
}
END_TEST

/* ---- mountinfo ---- */

struct mounts_seen {
	size_t n;
	struct {
		char mount[128], source[64], fstype[32], root[64];
		unsigned major, minor;
		bool ro;
	} m[32];
};

static void collect_mount(void *ctx, const struct parse_mount *m)
{
	struct mounts_seen *s = ctx;

	if (s->n < 32) {
		snprintf(s->m[s->n].mount, 128, "%s", m->mount);
		snprintf(s->m[s->n].source, 64, "%s", m->source);
		snprintf(s->m[s->n].fstype, 32, "%s", m->fstype);
		snprintf(s->m[s->n].root, 64, "%s", m->root);
		s->m[s->n].major = m->major;
		s->m[s->n].minor = m->minor;
		s->m[s->n].ro = m->readonly;
	}
	s->n++;
}

START_TEST(mountinfo_fixture)
{
	static char buf[FIXTURE_MAX];
	static struct mounts_seen s;
	size_t n = fixture("synth/proc/self/mountinfo", buf, sizeof(buf));

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(parse_mountinfo(buf, n, collect_mount, &s), 0);
	ck_assert_uint_eq(s.n, 18);
	ck_assert_str_eq(s.m[0].mount, "/");
	ck_assert_str_eq(s.m[0].source, "/dev/sda1");
	ck_assert_str_eq(s.m[0].fstype, "ext4");
	ck_assert_uint_eq(s.m[0].major, 8);
	ck_assert_uint_eq(s.m[0].minor, 1);
	ck_assert(!s.m[0].ro);
	ck_assert_str_eq(s.m[7].root, "/srv/data");
	ck_assert_str_eq(s.m[9].mount, "/mnt/my disk");
	ck_assert(s.m[9].ro);
	ck_assert_str_eq(s.m[10].source, "server:/export");
	ck_assert_str_eq(s.m[13].fstype, "fuse.sshfs");
	ck_assert_str_eq(s.m[16].mount, "/mnt/tab\tand\\back");
	ck_assert_uint_eq(s.m[16].major, 252);

	memset(&s, 0, sizeof(s));
	n = fixture("vm-2cpu/proc/self/mountinfo", buf, sizeof(buf));
	ck_assert_uint_eq(parse_mountinfo(buf, n, collect_mount, &s), 0);
	ck_assert_uint_gt(s.n, 3);
}
END_TEST

static const struct {
	const char *text;
	size_t bad, good;
	const char *mount;
	bool ro;
} mountinfo_cases[] = {
	{ "1 2 3:4 / /a rw - ext4 /dev/x rw\n", 0, 1, "/a", false },
	/* Several optional fields. */
	{ "1 2 3:4 / /a rw shared:1 master:2 unbindable - ext4 /dev/x ro\n", 0,
	  1, "/a", true },
	{ "1 2 3:4 / /a\\040b\\134 rw - ext4 /dev/x rw\n", 0, 1, "/a b\\",
	  false },
	/* Not a valid escape: kept as written. */
	{ "1 2 3:4 / /a\\9x\\04 rw - ext4 /dev/x rw\n", 0, 1, "/a\\9x\\04",
	  false },
	{ "1 2 3:4 / /a\\000 rw - ext4 /dev/x rw\n", 1, 0, NULL, false },
	{ "1 2 3:4 / /a rw,ro2 - ext4 /dev/x rw,noro\n", 0, 1, "/a", false },
	{ "1 2 3:4 / /a rw ext4 /dev/x rw\n", 1, 0, NULL, false },
	{ "1 2 3:4 / /a rw - ext4 /dev/x\n", 1, 0, NULL, false },
	{ "1 2 34 / /a rw - ext4 /dev/x rw\n", 1, 0, NULL, false },
	{ "1 2 3:4x / /a rw - ext4 /dev/x rw\n", 1, 0, NULL, false },
	{ "1 2\n\n   \n", 1, 0, NULL, false },
	{ "", 0, 0, NULL, false },
};

START_TEST(mountinfo_table)
{
	static struct mounts_seen s;
	const char *t = mountinfo_cases[_i].text;

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(parse_mountinfo(t, strlen(t), collect_mount, &s),
			  mountinfo_cases[_i].bad);
	ck_assert_uint_eq(s.n, mountinfo_cases[_i].good);
	if (s.n) {
		ck_assert_str_eq(s.m[0].mount, mountinfo_cases[_i].mount);
		ck_assert_int_eq(s.m[0].ro, mountinfo_cases[_i].ro);
	}
}
END_TEST

static void ignore_disk(void *ctx, const struct parse_disk *d)
{
}

static void ignore_iface(void *ctx, const struct parse_netdev *d)
{
}

static void ignore_mount(void *ctx, const struct parse_mount *m)
{
}

/* Every parser over every prefix of every garbage fixture: no crash, no
 * read past len (ASan watches the heap copy's exact size). */
START_TEST(garbage_prefixes)
{
	static const char *const files[] = {
		"garbage/proc/stat",	       "garbage/proc/meminfo",
		"garbage/proc/loadavg",	       "garbage/proc/pressure/cpu",
		"garbage/proc/pressure/io",    "garbage/proc/diskstats",
		"garbage/proc/net/dev",	       "garbage/proc/self/mountinfo",
		"garbage/proc/sys/fs/file-nr", "garbage/proc/uptime",
		"synth/proc/self/mountinfo",   "synth/proc/net/dev",
		"synth/proc/diskstats",	       "synth/proc/stat",
		"synth/proc/pressure/io",      "vm-2cpu/proc/loadavg",
	};
	static char buf[FIXTURE_MAX];
	struct parse_cpu cores[2];

	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		size_t n = fixture(files[f], buf, sizeof(buf));
		for (size_t len = 0; len <= n; len++) {
			_cleanup_free_ char *p = malloc(len ? len : 1);
			struct parse_stat st;
			struct parse_meminfo m;
			struct parse_loadavg l;
			struct parse_psi psi;
			struct parse_filenr fnr;
			double up;

			ck_assert_ptr_nonnull(p);
			memcpy(p, buf, len);
			(void)parse_stat(p, len, &st, cores, 2);
			(void)parse_meminfo(p, len, &m);
			(void)parse_loadavg(p, len, &l);
			(void)parse_psi(p, len, &psi);
			(void)parse_diskstats(p, len, ignore_disk, NULL);
			(void)parse_netdev(p, len, ignore_iface, NULL);
			(void)parse_mountinfo(p, len, ignore_mount, NULL);
			(void)parse_filenr(p, len, &fnr);
			(void)parse_uptime(p, len, &up);
		}
	}
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("collect_parse");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, counter_delta_table, 0,
			    ARRAY_SIZE(delta_cases));
	tcase_add_test(tc, counter_rate_math);
	tcase_add_test(tc, stat_real_vm);
	tcase_add_test(tc, stat_128_cpus);
	tcase_add_loop_test(tc, stat_table, 0, ARRAY_SIZE(stat_cases));
	tcase_add_test(tc, meminfo_real_and_old);
	tcase_add_loop_test(tc, meminfo_table, 0, ARRAY_SIZE(meminfo_cases));
	tcase_add_loop_test(tc, loadavg_table, 0, ARRAY_SIZE(loadavg_cases));
	tcase_add_test(tc, filenr_and_uptime);
	tcase_add_loop_test(tc, psi_table, 0, ARRAY_SIZE(psi_cases));
	tcase_add_test(tc, diskstats_fixtures);
	tcase_add_loop_test(tc, diskstats_table, 0,
			    ARRAY_SIZE(diskstats_cases));
	tcase_add_test(tc, netdev_fixtures);
	tcase_add_loop_test(tc, netdev_table, 0, ARRAY_SIZE(netdev_cases));
	tcase_add_test(tc, mountinfo_fixture);
	tcase_add_loop_test(tc, mountinfo_table, 0,
			    ARRAY_SIZE(mountinfo_cases));
	tcase_add_test(tc, garbage_prefixes);
	suite_add_tcase(s, tc);
	return s;
}
