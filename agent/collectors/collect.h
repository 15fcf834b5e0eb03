/* System metrics from /proc and /sys, written as JSON sections.
 *
 * collect_new() opens every source once and keeps the descriptors; each
 * collect_sample() re-reads them with pread() into one fixed buffer, so a
 * steady-state cycle does no allocation and no path lookups. Per-process
 * scans are never made (they are what makes other agents slow).
 *
 * Sections written by collect_sample(), as keys of the caller's open object:
 *   "cpu":   {"usage","user","nice","system","idle","iowait","irq","softirq",
 *             "steal","count","cores":[{"cpu","usage"}]}   fractions 0..1
 *   "mem":   {"total_bytes","available_bytes","free_bytes","cached_bytes",
 *             "buffers_bytes","used_ratio","swap_total_bytes",
 *             "swap_free_bytes","swap_used_ratio"}
 *   "load":  {"load1","load5","load15","runnable","entities"}
 *   "psi":   {"cpu"|"memory"|"io": {"some","some_avg10","full","full_avg10"}}
 *   "disks": [{"dev","read_bytes_ps","write_bytes_ps","reads_ps",
 *              "writes_ps","util","await_ms"}]
 *   "filesystems": [{"mount","device","type","size_bytes","used_bytes",
 *              "avail_bytes","used_ratio","inodes_used_ratio","readonly"}]
 *   "net":   [{"iface","rx_bytes_ps","tx_bytes_ps","rx_packets_ps",
 *              "tx_packets_ps","rx_errors","tx_errors","rx_drops",
 *              "tx_drops"}]
 *   "procs": {"total","running","blocked","forks_ps","fds_open","fds_max"}
 *            "total" is every thread (loadavg's entities), not a process
 *            count: counting processes means scanning /proc.
 *   "uptime_s"
 *
 * Conventions:
 *  - Rates ("*_ps") are per second over now_ns minus the time of that
 *    source's previous good reading. Fractions and ratios are 0..1; PSI
 *    "some"/"full" are the fraction of the interval stalled and
 *    "some_avg10"/"full_avg10" the kernel's 10 s average, also as a fraction
 *    (the file says percent). "rx_errors" and the like are counts over the
 *    interval, not per second.
 *  - A value that cannot be computed is written as JSON null, never omitted:
 *    no previous reading (first sample of a new disk or interface, or after
 *    a failed read), a counter reset (it went backwards from above 2^32; from
 *    below, it is taken as a 32-bit wrap), a zero interval, a CPU that
 *    accrued no ticks, or "inodes_used_ratio" on filesystems without inode
 *    counts (btrfs, vfat). "swap_used_ratio" is 0 without swap.
 *  - A source that is missing, unreadable, truncated or malformed drops its
 *    section (or just that disk, interface or mount) and counts one error
 *    under the section named for the file: /proc/stat "cpu", meminfo "mem",
 *    loadavg "load", pressure/ "psi", diskstats "disks", self/mountinfo and
 *    failed statvfs() "filesystems", net/dev "net", sys/fs/file-nr "procs",
 *    uptime "uptime". A file missing at collect_new() is counted once there
 *    and not retried. "procs" also needs /proc/stat (and takes "total" from
 *    loadavg): its keys from a failed file are left out, and counted there.
 *  - No /proc/pressure (kernel without PSI) is not an error: "psi" is left
 *    out. A file truncated at its cap still yields what was read.
 *  - Disks are whole devices present under <sys_root>/block, except loop*,
 *    ram*, zram* and fd*. Filesystems skip pseudo and in-memory types, keep
 *    the first mount of each device (later ones are bind mounts) and skip
 *    mounts whose root is not "/" (bind mounts of a subtree; btrfs
 *    subvolumes excepted) and those with zero size. Interface "lo" is
 *    skipped.
 *  - More than COLLECT_MAX_* disks, interfaces, filesystems or CPUs: the
 *    rest are left out and the section counts one error per sample. */
#ifndef ACGS_COLLECTORS_COLLECT_H
#define ACGS_COLLECTORS_COLLECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "jsonw.h"

#define COLLECT_MAX_CPUS	1024
#define COLLECT_MAX_DISKS	64
#define COLLECT_MAX_IFACES	64
#define COLLECT_MAX_FILESYSTEMS 64

struct collect_options {
	const char *proc_root; /* default "/proc" when NULL */
	const char *sys_root;  /* default "/sys" when NULL */
	bool per_core;	       /* also emit per-core CPU usage */
	/* statvfs(3) unless set (tests feed fake results); returns 0 or -1
	 * with errno like statvfs. */
	int (*statvfs_fn)(const char *path, struct statvfs *out);
};

struct collect;

/* Open sources and take a first reading so the next collect_sample() has
 * rates. opt may be NULL for the defaults; it is not kept. Returns 0 and
 * sets *ret, or a negative errno (-ENOMEM). A missing source is not an
 * error: that metric is dropped and counted. */
int collect_new(const struct collect_options *opt, uint64_t now_ns,
		struct collect **ret);

/* Close the sources and free c. NULL-safe; returns NULL. */
struct collect *collect_free(struct collect *c);

/* Read every source now and write the system sections as keys into the JSON
 * object that w currently has open (the caller opened it and closes it).
 * now_ns is CLOCK_MONOTONIC in nanoseconds. */
void collect_sample(struct collect *c, uint64_t now_ns, struct jsonw *w);

/* Write "collect_errors": {"cpu": n, "mem": n, ...}, every section, counted
 * since collect_new(), into the open object. */
void collect_report_errors(struct collect *c, struct jsonw *w);

/* Total errors so far (for logs). */
uint64_t collect_error_count(const struct collect *c);

#endif
