/* The collectors end to end: fixture trees are copied to a temporary
 * directory, read, advanced in place (the collector keeps its descriptors
 * open, so files are rewritten, not replaced) and read again; the JSON is
 * checked with cJSON. */
#include "config.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "cleanup.h"
#include "collectors/collect.h"

#define SEC 1000000000ull

/* ---- fixture trees ---- */

static void copy_file(const char *src, const char *dst)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	char buf[8192];
	ssize_t n;

	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	/* O_TRUNC keeps the inode the collector has open. */
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(out >= 0, "open %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
}

/* Copy the tree src into dst (created as needed), overwriting files. */
static void copy_tree(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;

	ck_assert_msg(d != NULL, "opendir %s: %s", src, strerror(errno));
	if (mkdir(dst, 0755) < 0)
		ck_assert_int_eq(errno, EEXIST);
	while ((e = readdir(d)) != NULL) {
		char s[4096], t[4096];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
		snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
		ck_assert_int_eq(lstat(s, &st), 0);
		if (S_ISDIR(st.st_mode))
			copy_tree(s, t);
		else
			copy_file(s, t);
	}
	closedir(d);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

struct tree {
	char root[256];
	char proc[300];
	char sys[300];
};

/* A private copy of FIXTURES_DIR/name. */
static void tree_new(struct tree *t, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	char src[4096];

	snprintf(t->root, sizeof(t->root), "%s/acgs-collect-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(t->root));
	snprintf(t->proc, sizeof(t->proc), "%s/proc", t->root);
	snprintf(t->sys, sizeof(t->sys), "%s/sys", t->root);
	snprintf(src, sizeof(src), "%s/%s", FIXTURES_DIR, name);
	copy_tree(src, t->root);
}

/* Lay FIXTURES_DIR/name (a partial tree of changed files) over t. */
static void tree_advance(struct tree *t, const char *name)
{
	char src[4096];

	snprintf(src, sizeof(src), "%s/%s", FIXTURES_DIR, name);
	copy_tree(src, t->root);
}

static void tree_write(struct tree *t, const char *rel, const char *text)
{
	char path[512];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
}

static void tree_path(struct tree *t, const char *rel, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", t->root, rel);
}

static void tree_free(struct tree *t)
{
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- a fake statvfs for the synth mounts ---- */

static const struct fake_fs {
	const char *path;
	int err;
	unsigned long frsize, flag;
	fsblkcnt_t blocks, bfree, bavail;
	fsfilcnt_t files, ffree;
} fake_fs[] = {
	{ "/", 0, 4096, 0, 1000000, 400000, 350000, 100000, 75000 },
	{ "/boot", 0, 1024, 0, 1000, 500, 500, 100, 90 },
	{ "/mnt/my disk", 0, 4096, 0, 100, 100, 100, 10, 10 },
	{ "/mnt/nfs", EACCES, 0, 0, 0, 0, 0, 0, 0 },
	{ "/home", 0, 4096, 0, 2000, 1000, 1000, 0, 0 },
	{ "/mnt/tab\tand\\back", 0, 512, ST_RDONLY, 10, 5, 5, 20, 10 },
};

static int fake_statvfs(const char *path, struct statvfs *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_fs); i++) {
		const struct fake_fs *f = &fake_fs[i];
		if (strcmp(path, f->path) != 0)
			continue;
		if (f->err) {
			errno = f->err;
			return -1;
		}
		memset(out, 0, sizeof(*out));
		out->f_bsize = f->frsize;
		out->f_frsize = f->frsize;
		out->f_blocks = f->blocks;
		out->f_bfree = f->bfree;
		out->f_bavail = f->bavail;
		out->f_files = f->files;
		out->f_ffree = f->ffree;
		out->f_flag = f->flag;
		return 0;
	}
	/* Only real filesystems are asked about. */
	ck_abort_msg("statvfs(%s) for a filesystem that should be skipped",
		     path);
	return -1;
}

static int statvfs_enoent(const char *path, struct statvfs *out)
{
	errno = ENOENT;
	return -1;
}

/* ---- running the collector ---- */

static struct collect *open_tree(struct tree *t, bool per_core, uint64_t now)
{
	struct collect_options o = {
		.proc_root = t->proc,
		.sys_root = t->sys,
		.per_core = per_core,
		.statvfs_fn = fake_statvfs,
	};
	struct collect *c = NULL;

	ck_assert_int_eq(collect_new(&o, now, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* One sample and the error report as a parsed object; caller deletes. */
static cJSON *sample(struct collect *c, uint64_t now)
{
	struct buf b;
	struct jsonw w;
	cJSON *j;

	buf_init(&b, 1 << 20);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	collect_sample(c, now, &w);
	collect_report_errors(c, &w);
	jsonw_obj_end(&w);
	ck_assert_int_eq(jsonw_finish(&w), 0);
	j = cJSON_Parse(b.data);
	ck_assert_msg(j != NULL, "invalid JSON: %s", b.data);
	buf_release(&b);
	return j;
}

static const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	ck_assert_msg(v != NULL, "no key %s", key);
	return v;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
	return v->valuedouble;
}

static bool is_null(const cJSON *o, const char *key)
{
	return cJSON_IsNull(get(o, key));
}

static bool has(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

static double errors(const cJSON *j, const char *section)
{
	return num(get(j, "collect_errors"), section);
}

/* The array entry whose key is name. */
static const cJSON *find(const cJSON *arr, const char *key, const char *name)
{
	const cJSON *e;

	ck_assert(cJSON_IsArray(arr));
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
		if (cJSON_IsString(v) && strcmp(v->valuestring, name) == 0)
			return e;
	}
	return NULL;
}

#define EPS 1e-6

/* ---- the synth tree: known deltas over 2 s ---- */

START_TEST(synth_rates)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *o, *cores, *e;

	tree_new(&t, "synth");
	c = open_tree(&t, true, 1 * SEC);
	tree_advance(&t, "synth-next");
	j = sample(c, 3 * SEC);

	o = get(j, "cpu");
	ck_assert_double_eq_tol(num(o, "usage"), 0.15, EPS);
	ck_assert_double_eq_tol(num(o, "user"), 0.10, EPS);
	ck_assert_double_eq_tol(num(o, "nice"), 0, EPS);
	ck_assert_double_eq_tol(num(o, "system"), 0.05, EPS);
	ck_assert_double_eq_tol(num(o, "idle"), 0.80, EPS);
	ck_assert_double_eq_tol(num(o, "iowait"), 0.05, EPS);
	ck_assert_double_eq_tol(num(o, "irq"), 0, EPS);
	ck_assert_double_eq_tol(num(o, "softirq"), 0, EPS);
	ck_assert_double_eq_tol(num(o, "steal"), 0, EPS);
	ck_assert_double_eq(num(o, "count"), 2);
	cores = get(o, "cores");
	ck_assert_int_eq(cJSON_GetArraySize(cores), 2);
	ck_assert_double_eq(num(cJSON_GetArrayItem(cores, 0), "cpu"), 0);
	ck_assert_double_eq_tol(num(cJSON_GetArrayItem(cores, 0), "usage"), 0.2,
				EPS);
	ck_assert_double_eq(num(cJSON_GetArrayItem(cores, 1), "cpu"), 1);
	ck_assert_double_eq_tol(num(cJSON_GetArrayItem(cores, 1), "usage"), 0.1,
				EPS);

	o = get(j, "mem");
	ck_assert_double_eq(num(o, "total_bytes"), 1000000.0 * 1024);
	ck_assert_double_eq(num(o, "available_bytes"), 600000.0 * 1024);
	ck_assert_double_eq(num(o, "free_bytes"), 200000.0 * 1024);
	ck_assert_double_eq(num(o, "cached_bytes"), 300000.0 * 1024);
	ck_assert_double_eq(num(o, "buffers_bytes"), 10000.0 * 1024);
	ck_assert_double_eq_tol(num(o, "used_ratio"), 0.4, EPS);
	ck_assert_double_eq(num(o, "swap_total_bytes"), 100000.0 * 1024);
	ck_assert_double_eq(num(o, "swap_free_bytes"), 25000.0 * 1024);
	ck_assert_double_eq_tol(num(o, "swap_used_ratio"), 0.75, EPS);

	o = get(j, "load");
	ck_assert_double_eq_tol(num(o, "load1"), 1.6, EPS);
	ck_assert_double_eq_tol(num(o, "load5"), 0.8, EPS);
	ck_assert_double_eq_tol(num(o, "load15"), 0.26, EPS);
	ck_assert_double_eq(num(o, "runnable"), 2);
	ck_assert_double_eq(num(o, "entities"), 251);

	o = get(j, "psi");
	ck_assert_double_eq_tol(num(get(o, "cpu"), "some"), 0.25, EPS);
	ck_assert_double_eq_tol(num(get(o, "cpu"), "some_avg10"), 0.25, EPS);
	ck_assert_double_eq_tol(num(get(o, "cpu"), "full"), 0, EPS);
	ck_assert_double_eq_tol(num(get(o, "memory"), "some"), 0.1, EPS);
	ck_assert_double_eq_tol(num(get(o, "memory"), "full"), 0.05, EPS);
	ck_assert_double_eq_tol(num(get(o, "io"), "some"), 0.5, EPS);
	ck_assert_double_eq_tol(num(get(o, "io"), "full"), 0.25, EPS);
	ck_assert_double_eq_tol(num(get(o, "io"), "full_avg10"), 0, EPS);

	/* Whole disks in sys/block only: not loop/ram/zram/fd, partitions
	 * or sdb (absent from sys/block). */
	o = get(j, "disks");
	ck_assert_int_eq(cJSON_GetArraySize(o), 3);
	e = cJSON_GetArrayItem(o, 0);
	ck_assert_str_eq(get(e, "dev")->valuestring, "sda");
	ck_assert_double_eq_tol(num(e, "read_bytes_ps"), 524288, EPS);
	ck_assert_double_eq_tol(num(e, "write_bytes_ps"), 1048576, EPS);
	ck_assert_double_eq_tol(num(e, "reads_ps"), 50, EPS);
	ck_assert_double_eq_tol(num(e, "writes_ps"), 150, EPS);
	ck_assert_double_eq_tol(num(e, "util"), 0.5, EPS);
	ck_assert_double_eq_tol(num(e, "await_ms"), 2, EPS);
	/* io_ticks wrapped at 32 bits: 1000 ms in 2 s. */
	e = find(o, "dev", "nvme0n1");
	ck_assert_ptr_nonnull(e);
	ck_assert_double_eq_tol(num(e, "util"), 0.5, EPS);
	ck_assert_double_eq_tol(num(e, "reads_ps"), 0, EPS);
	ck_assert_double_eq_tol(num(e, "await_ms"), 0, EPS);
	/* reads went back from beyond 32 bits: reset, null. */
	e = find(o, "dev", "dm-0");
	ck_assert_ptr_nonnull(e);
	ck_assert(is_null(e, "reads_ps"));
	ck_assert(is_null(e, "await_ms"));
	ck_assert_double_eq_tol(num(e, "writes_ps"), 0, EPS);

	o = get(j, "net");
	ck_assert_int_eq(cJSON_GetArraySize(o), 4); /* not lo */
	ck_assert_ptr_null(find(o, "iface", "lo"));
	e = find(o, "iface", "eth0");
	ck_assert_double_eq_tol(num(e, "rx_bytes_ps"), 1000000, EPS);
	ck_assert_double_eq_tol(num(e, "tx_bytes_ps"), 500000, EPS);
	ck_assert_double_eq_tol(num(e, "rx_packets_ps"), 1000, EPS);
	ck_assert_double_eq_tol(num(e, "tx_packets_ps"), 500, EPS);
	ck_assert_double_eq(num(e, "rx_errors"), 3);
	ck_assert_double_eq(num(e, "tx_errors"), 0);
	ck_assert_double_eq(num(e, "rx_drops"), 2);
	ck_assert_double_eq(num(e, "tx_drops"), 1);
	e = find(o, "iface", "wlan0");
	ck_assert_double_eq_tol(num(e, "rx_bytes_ps"), 648, EPS);
	e = find(o, "iface", "br-1a2b3c4d5e6f");
	ck_assert_ptr_nonnull(e);
	ck_assert_double_eq_tol(num(e, "rx_bytes_ps"), 1024, EPS);
	e = find(o, "iface", "veth-reset");
	ck_assert(is_null(e, "rx_bytes_ps"));
	ck_assert_double_eq_tol(num(e, "tx_bytes_ps"), 0, EPS);

	o = get(j, "procs");
	ck_assert_double_eq(num(o, "total"), 251);
	ck_assert_double_eq(num(o, "running"), 3);
	ck_assert_double_eq(num(o, "blocked"), 1);
	ck_assert_double_eq_tol(num(o, "forks_ps"), 50, EPS);
	ck_assert_double_eq(num(o, "fds_open"), 2048);
	ck_assert_double_eq(num(o, "fds_max"), 100000);

	ck_assert_double_eq_tol(num(j, "uptime_s"), 12347.67, EPS);

	/* Only the nfs mount whose statvfs failed. */
	ck_assert_double_eq(errors(j, "filesystems"), 1);
	ck_assert_uint_eq(collect_error_count(c), 1);

	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(synth_filesystems)
{
	static const char *const want[] = { "/", "/boot", "/mnt/my disk",
					    "/home", "/mnt/tab\tand\\back" };
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *o, *e;

	tree_new(&t, "synth");
	c = open_tree(&t, false, SEC);
	j = sample(c, 2 * SEC);
	o = get(j, "filesystems");
	/* Pseudo types, bind mounts (/data, a subtree), second mounts of a
	 * device and the failed nfs are left out, in mount order. */
	ck_assert_int_eq(cJSON_GetArraySize(o), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_str_eq(
		    get(cJSON_GetArrayItem(o, (int)i), "mount")->valuestring,
		    want[i]);

	e = cJSON_GetArrayItem(o, 0);
	ck_assert_str_eq(get(e, "device")->valuestring, "/dev/sda1");
	ck_assert_str_eq(get(e, "type")->valuestring, "ext4");
	ck_assert_double_eq(num(e, "size_bytes"), 4096000000.0);
	ck_assert_double_eq(num(e, "used_bytes"), 600000.0 * 4096);
	ck_assert_double_eq(num(e, "avail_bytes"), 350000.0 * 4096);
	ck_assert_double_eq_tol(num(e, "used_ratio"), 600000.0 / 950000, EPS);
	ck_assert_double_eq_tol(num(e, "inodes_used_ratio"), 0.25, EPS);
	ck_assert(cJSON_IsFalse(get(e, "readonly")));

	e = cJSON_GetArrayItem(o, 2);
	ck_assert(cJSON_IsTrue(get(e, "readonly")));
	ck_assert_double_eq_tol(num(e, "used_ratio"), 0, EPS);
	/* btrfs: subvolume root accepted, no inode counts. */
	e = cJSON_GetArrayItem(o, 3);
	ck_assert_str_eq(get(e, "type")->valuestring, "btrfs");
	ck_assert(is_null(e, "inodes_used_ratio"));
	/* Read-only by statvfs though mounted rw. */
	e = cJSON_GetArrayItem(o, 4);
	ck_assert(cJSON_IsTrue(get(e, "readonly")));
	ck_assert_str_eq(get(e, "device")->valuestring, "/dev/mapper/vg-lv");

	ck_assert_double_eq(errors(j, "filesystems"), 1);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* Nothing advanced between readings, or no time passed. */
START_TEST(synth_no_change)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *o;

	tree_new(&t, "synth");
	c = open_tree(&t, false, SEC);
	j = sample(c, SEC); /* zero interval */
	o = get(j, "cpu");
	ck_assert(is_null(o, "usage")); /* no ticks */
	ck_assert(!has(o, "cores"));
	ck_assert(is_null(cJSON_GetArrayItem(get(j, "disks"), 0), "reads_ps"));
	ck_assert(is_null(cJSON_GetArrayItem(get(j, "disks"), 0), "util"));
	ck_assert(is_null(get(get(j, "psi"), "cpu"), "some"));
	ck_assert(is_null(get(j, "procs"), "forks_ps"));
	/* Counts need no interval. */
	ck_assert_double_eq(
	    num(cJSON_GetArrayItem(get(j, "net"), 0), "rx_errors"), 0);
	cJSON_Delete(j);

	j = sample(c, 5 * SEC);
	o = cJSON_GetArrayItem(get(j, "disks"), 0);
	ck_assert_double_eq_tol(num(o, "reads_ps"), 0, EPS);
	ck_assert_double_eq_tol(num(o, "util"), 0, EPS);
	ck_assert_double_eq_tol(num(get(get(j, "psi"), "io"), "some"), 0, EPS);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* A device or interface that appears between readings has no rates yet. */
START_TEST(new_device_has_nulls)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *e;
	char path[512];

	tree_new(&t, "synth");
	c = open_tree(&t, false, SEC);
	tree_write(&t, "proc/net/dev",
		   "Inter-|\n face |\n"
		   "  eth0: 1000000 1000 1 5 0 0 0 0 500000 500 0 0 0 0 0 0\n"
		   "  tun9: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n");
	tree_path(&t, "sys/block/sdb", path, sizeof(path));
	ck_assert_int_eq(mkdir(path, 0755), 0);
	j = sample(c, 2 * SEC);
	e = find(get(j, "net"), "iface", "tun9");
	ck_assert(is_null(e, "rx_bytes_ps"));
	ck_assert(is_null(e, "rx_errors"));
	e = find(get(j, "net"), "iface", "eth0");
	ck_assert_double_eq_tol(num(e, "rx_bytes_ps"), 0, EPS);
	/* sdb was judged not a disk at the first reading and that is
	 * remembered: devices do not change kind under the same name. */
	ck_assert_ptr_null(find(get(j, "disks"), "dev", "sdb"));
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* A 32-bit counter wrapping and a 64-bit one resetting, through the whole
 * path, interface by interface. */
START_TEST(wrap_and_reset)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *e;

	tree_new(&t, "synth");
	tree_write(&t, "proc/net/dev",
		   "Inter-|\n face |\n"
		   "  w32: 4294967295 4294967295 4294967290 0 0 0 0 0 "
		   "0 0 0 0 0 0 0 0\n"
		   "  r64: 4294967296 99999999999 0 0 0 0 0 0 "
		   "1 0 0 0 0 0 0 0\n");
	c = open_tree(&t, false, SEC);
	tree_write(&t, "proc/net/dev",
		   "Inter-|\n face |\n"
		   "  w32: 1 0 4 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
		   "  r64: 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n");
	j = sample(c, 2 * SEC);
	e = find(get(j, "net"), "iface", "w32");
	/* 2 bytes and 1 packet in 1 s. */
	ck_assert_double_eq_tol(num(e, "rx_bytes_ps"), 2, EPS);
	ck_assert_double_eq_tol(num(e, "rx_packets_ps"), 1, EPS);
	ck_assert_double_eq(num(e, "rx_errors"), 10);
	e = find(get(j, "net"), "iface", "r64");
	ck_assert(is_null(e, "rx_bytes_ps"));
	ck_assert(is_null(e, "rx_packets_ps"));
	ck_assert_double_eq_tol(num(e, "tx_bytes_ps"), 0, EPS);
	ck_assert_double_eq(errors(j, "net"), 0);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* The real files of a 2-CPU VM, read twice a second apart. */
START_TEST(real_vm)
{
	struct tree t;
	struct collect *c;
	struct collect_options o;
	cJSON *j;
	const cJSON *cpu, *e;
	double sum = 0;

	tree_new(&t, "vm-2cpu");
	o = (struct collect_options){ .proc_root = t.proc,
				      .sys_root = t.sys,
				      .per_core = true,
				      .statvfs_fn = statvfs_enoent };
	ck_assert_int_eq(collect_new(&o, SEC, &c), 0);
	tree_advance(&t, "vm-2cpu-next");
	j = sample(c, 2 * SEC);

	cpu = get(j, "cpu");
	ck_assert_double_eq(num(cpu, "count"), 2);
	ck_assert_int_eq(cJSON_GetArraySize(get(cpu, "cores")), 2);
	ck_assert(num(cpu, "usage") >= 0 && num(cpu, "usage") <= 1);
	for (size_t i = 0; i < 8; i++) {
		static const char *const f[] = { "user",    "nice",   "system",
						 "idle",    "iowait", "irq",
						 "softirq", "steal" };
		sum += num(cpu, f[i]);
	}
	ck_assert_double_eq_tol(sum, 1, 1e-5);
	ck_assert(num(get(j, "mem"), "used_ratio") > 0);
	ck_assert(has(get(j, "psi"), "cpu"));
	ck_assert(has(get(get(j, "psi"), "cpu"), "full"));
	/* vda only: loop* and zram0 are filtered. */
	e = get(j, "disks");
	ck_assert_int_eq(cJSON_GetArraySize(e), 1);
	e = cJSON_GetArrayItem(e, 0);
	ck_assert_str_eq(get(e, "dev")->valuestring, "vda");
	ck_assert(num(e, "write_bytes_ps") > 0);
	ck_assert(num(e, "util") >= 0 && num(e, "util") <= 1);
	ck_assert_ptr_nonnull(find(get(j, "net"), "iface", "eth0"));
	ck_assert(num(get(j, "procs"), "fds_max") > 0);
	ck_assert(num(j, "uptime_s") > 0);
	/* statvfs failed for the one real filesystem (ext4 on /): counted,
	 * and the section is an empty list. */
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "filesystems")), 0);
	ck_assert_double_eq(errors(j, "filesystems"), 1);
	ck_assert_uint_eq(collect_error_count(c), 1);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(cpu128_per_core)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *cpu, *cores;
	char stat[8192 * 4];
	size_t off = 0;

	tree_new(&t, "cpu128");
	c = open_tree(&t, true, SEC);
	/* Every core: 100 more jiffies, 25 of them busy; cpu7 offline. */
	off += (size_t)snprintf(
	    stat + off, sizeof(stat) - off, "cpu  %d 10 %d %d 5 0 3 0 0 0\n",
	    128 * 100 + 127 * 25, 128 * 50, 128 * 1000 + 127 * 75);
	for (int i = 0; i < 128; i++) {
		if (i == 7)
			continue;
		off += (size_t)snprintf(stat + off, sizeof(stat) - off,
					"cpu%d 125 0 50 1075 0 0 0 0 0 0\n", i);
	}
	snprintf(stat + off, sizeof(stat) - off,
		 "processes 9\nprocs_running 2\nprocs_blocked 0\n");
	tree_write(&t, "proc/stat", stat);
	j = sample(c, 2 * SEC);
	cpu = get(j, "cpu");
	ck_assert_double_eq(num(cpu, "count"), 127);
	cores = get(cpu, "cores");
	ck_assert_int_eq(cJSON_GetArraySize(cores), 127);
	ck_assert_double_eq(num(cJSON_GetArrayItem(cores, 7), "cpu"), 8);
	ck_assert_double_eq_tol(num(cJSON_GetArrayItem(cores, 126), "usage"),
				0.25, EPS);
	ck_assert_double_eq_tol(num(cpu, "usage"), 0.25, EPS);
	ck_assert_double_eq_tol(num(get(j, "procs"), "forks_ps"), 4, EPS);
	/* The rest of the tree is missing: counted once, at collect_new. */
	ck_assert_double_eq(errors(j, "mem"), 1);
	ck_assert_double_eq(errors(j, "cpu"), 0);
	ck_assert(!has(j, "psi"));
	ck_assert_double_eq(errors(j, "psi"), 0);
	cJSON_Delete(j);
	j = sample(c, 3 * SEC);
	ck_assert_double_eq(errors(j, "mem"), 1);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(old_kernel)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *o;

	tree_new(&t, "old-kernel");
	c = open_tree(&t, false, SEC);
	j = sample(c, 2 * SEC);
	/* No /proc/pressure: no section, no error. */
	ck_assert(!has(j, "psi"));
	ck_assert_double_eq(errors(j, "psi"), 0);
	o = get(j, "mem");
	ck_assert_double_eq(num(o, "available_bytes"),
			    (512000.0 + 102400 + 409600) * 1024);
	ck_assert_double_eq_tol(num(o, "used_ratio"), 0.5, EPS);
	ck_assert_double_eq(num(o, "swap_used_ratio"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "disks")), 1);
	ck_assert_ptr_nonnull(find(get(j, "net"), "iface", "eth0"));
	ck_assert_double_eq(num(get(j, "procs"), "fds_open"), 1012);
	/* The 2.6 four-column partition line is malformed for us. */
	ck_assert_double_eq(errors(j, "disks"), 2); /* once a reading */
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "filesystems")), 1);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(many_interfaces)
{
	struct tree t;
	struct collect *c;
	cJSON *j;

	tree_new(&t, "many-ifaces");
	c = open_tree(&t, false, SEC);
	j = sample(c, 2 * SEC);
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "net")), COLLECT_MAX_IFACES);
	/* The overflow is counted once a reading (first reading, sample). */
	ck_assert_double_eq(errors(j, "net"), 2);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* A source that opens but cannot be read, one that went missing before
 * collect_new and one truncated at its cap: each counted, the rest
 * emitted. */
START_TEST(unreadable_and_missing)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	char path[512];
	char big[20000];
	size_t off;

	tree_new(&t, "synth");
	/* A directory opens O_RDONLY but pread() fails with EISDIR (a plain
	 * chmod would not stop root). */
	tree_path(&t, "proc/meminfo", path, sizeof(path));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	tree_path(&t, "proc/uptime", path, sizeof(path));
	ck_assert_int_eq(unlink(path), 0);
	off = (size_t)snprintf(big, sizeof(big), "1.00 2.00 3.00 4/5 6\n");
	memset(big + off, 'x', sizeof(big) - off - 1);
	big[sizeof(big) - 1] = '\0';
	tree_write(&t, "proc/loadavg", big);

	c = open_tree(&t, false, SEC);
	j = sample(c, 2 * SEC);
	ck_assert(!has(j, "mem"));
	ck_assert(!has(j, "uptime_s"));
	ck_assert_double_eq(errors(j, "mem"), 1);
	ck_assert_double_eq(errors(j, "uptime"), 1);
	/* Truncated to its first line, which is whole. */
	ck_assert_double_eq(num(get(j, "load"), "entities"), 5);
	ck_assert_double_eq(errors(j, "load"), 1);
	ck_assert(has(j, "cpu") && has(j, "psi") && has(j, "disks") &&
		  has(j, "filesystems") && has(j, "net") && has(j, "procs"));
	cJSON_Delete(j);

	j = sample(c, 3 * SEC);
	ck_assert_double_eq(errors(j, "mem"), 2);    /* each read fails */
	ck_assert_double_eq(errors(j, "uptime"), 1); /* counted at open */
	ck_assert_uint_eq(collect_error_count(c), 2 + 1 + 2 + 2);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

/* A bad reading in between: the next rate spans the interval since the
 * last good one, not since the bad one. */
START_TEST(bad_read_keeps_interval)
{
	struct tree t;
	struct collect *c;
	cJSON *j;
	const cJSON *psi;

	tree_new(&t, "synth");
	c = open_tree(&t, false, SEC);
	tree_write(&t, "proc/pressure/cpu", "garbage\n");
	tree_write(&t, "proc/diskstats", "8 0 sda 1\n");
	j = sample(c, 2 * SEC);
	psi = get(j, "psi");
	ck_assert(!has(psi, "cpu"));
	ck_assert(has(psi, "io"));
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "disks")), 0);
	ck_assert_double_eq(errors(j, "psi"), 1);
	ck_assert_double_eq(errors(j, "disks"), 1);
	cJSON_Delete(j);

	tree_advance(&t, "synth-next");
	j = sample(c, 3 * SEC);
	/* cpu: 500000 us stalled over 2 s (from 1 s), not over 1 s. */
	ck_assert_double_eq_tol(num(get(get(j, "psi"), "cpu"), "some"), 0.25,
				EPS);
	/* io was read at 2 s: 1 s of stall in the last second. */
	ck_assert_double_eq_tol(num(get(get(j, "psi"), "io"), "some"), 1, EPS);
	/* The reading at 2 s held no sda, so sda is new again. */
	ck_assert(is_null(cJSON_GetArrayItem(get(j, "disks"), 0), "reads_ps"));
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(garbage_tree)
{
	struct tree t;
	struct collect *c;
	cJSON *j;

	tree_new(&t, "garbage");
	c = open_tree(&t, true, SEC);
	j = sample(c, 2 * SEC);
	ck_assert(!has(j, "cpu"));
	ck_assert(!has(j, "mem"));
	ck_assert(!has(j, "load"));
	ck_assert(!has(j, "psi"));
	ck_assert(!has(j, "procs"));
	ck_assert(!has(j, "uptime_s"));
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "disks")), 0);
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "net")), 0);
	ck_assert_int_eq(cJSON_GetArraySize(get(j, "filesystems")), 0);
	/* Two readings of stat, psi (3 files), diskstats (2 lines) and
	 * net/dev (2 lines); one of the rest. */
	ck_assert_double_eq(errors(j, "cpu"), 2);
	ck_assert_double_eq(errors(j, "psi"), 6);
	ck_assert_double_eq(errors(j, "disks"), 4);
	ck_assert_double_eq(errors(j, "net"), 4);
	ck_assert_double_eq(errors(j, "mem"), 1);
	ck_assert_double_eq(errors(j, "load"), 1);
	ck_assert_double_eq(errors(j, "filesystems"), 1);
	ck_assert_double_eq(errors(j, "procs"), 1);
	ck_assert_double_eq(errors(j, "uptime"), 1);
	cJSON_Delete(j);
	collect_free(c);
	tree_free(&t);
}
END_TEST

START_TEST(no_roots)
{
	struct collect_options o = { .proc_root = "/nonexistent/proc",
				     .sys_root = "/nonexistent/sys" };
	struct collect *c = NULL;
	cJSON *j;

	ck_assert_int_eq(collect_new(&o, SEC, &c), 0);
	j = sample(c, 2 * SEC);
	ck_assert_int_eq(cJSON_GetArraySize(j), 1); /* collect_errors only */
	ck_assert_double_eq(errors(j, "psi"), 0);
	ck_assert_double_eq(errors(j, "disks"), 2); /* diskstats, sys/block */
	ck_assert_double_eq(errors(j, "procs"), 1);
	ck_assert_uint_eq(collect_error_count(c), 9);
	cJSON_Delete(j);
	ck_assert_ptr_null(collect_free(c));
	ck_assert_ptr_null(collect_free(NULL));
}
END_TEST

/* The real /proc of the machine running the tests: any kernel must give
 * valid JSON with the basic sections. */
START_TEST(live_proc)
{
	struct collect *c = NULL;
	struct collect_options o = { .per_core = true };
	cJSON *j;

	ck_assert_int_eq(collect_new(&o, SEC, &c), 0);
	j = sample(c, 2 * SEC);
	ck_assert(has(j, "cpu"));
	ck_assert(has(j, "mem"));
	ck_assert(has(j, "load"));
	ck_assert(has(j, "uptime_s"));
	cJSON_Delete(j);
	collect_free(c);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("collect");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, synth_rates);
	tcase_add_test(tc, synth_filesystems);
	tcase_add_test(tc, synth_no_change);
	tcase_add_test(tc, new_device_has_nulls);
	tcase_add_test(tc, wrap_and_reset);
	tcase_add_test(tc, real_vm);
	tcase_add_test(tc, cpu128_per_core);
	tcase_add_test(tc, old_kernel);
	tcase_add_test(tc, many_interfaces);
	tcase_add_test(tc, unreadable_and_missing);
	tcase_add_test(tc, bad_read_keeps_interval);
	tcase_add_test(tc, garbage_tree);
	tcase_add_test(tc, no_roots);
	tcase_add_test(tc, live_proc);
	suite_add_tcase(s, tc);
	return s;
}
