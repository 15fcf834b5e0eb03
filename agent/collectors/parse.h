/* Parsers for the /proc text formats the collectors read (internal).
 *
 * Each takes text that need not be NUL-terminated and never looks past
 * text + len, so a libFuzzer target can feed it anything. They keep no state,
 * allocate nothing and do no I/O. A number that does not fit in 64 bits makes
 * its line malformed. Lines end at '\n'; a last line without one is parsed
 * too (the reader cuts a truncated read back to its last newline). */
#ifndef ACGS_COLLECTORS_PARSE_H
#define ACGS_COLLECTORS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* /proc/stat CPU time columns we use, in jiffies. guest and guest_nice are
 * left out: the kernel already counts them in user and nice. */
enum parse_cpu_field {
	PARSE_CPU_USER,
	PARSE_CPU_NICE,
	PARSE_CPU_SYSTEM,
	PARSE_CPU_IDLE,
	PARSE_CPU_IOWAIT,
	PARSE_CPU_IRQ,
	PARSE_CPU_SOFTIRQ,
	PARSE_CPU_STEAL,
	PARSE_CPU_NFIELDS
};

struct parse_cpu {
	uint32_t id; /* N of "cpuN"; 0 for the aggregate line */
	uint64_t t[PARSE_CPU_NFIELDS];
};

struct parse_stat {
	struct parse_cpu total; /* the aggregate "cpu" line */
	uint32_t ncpu;		/* "cpuN" lines seen: online CPUs */
	uint32_t ncores;	/* of those, stored in the caller's array */
	uint32_t bad;		/* malformed "cpu*" lines skipped */
	bool has_procs;		/* all three below were present */
	uint64_t processes;	/* forks since boot */
	uint64_t procs_running;
	uint64_t procs_blocked;
};

/* Parse /proc/stat into *out, and up to max_cores "cpuN" lines, in the order
 * they appear, into cores[] (the rest are only counted in ncpu). Columns
 * missing on old kernels (fewer than 8, at least 4) read as 0. Returns 0, or
 * -EINVAL when there is no well-formed aggregate "cpu" line (*out is then
 * unspecified). */
int parse_stat(const char *text, size_t len, struct parse_stat *out,
	       struct parse_cpu *cores, size_t max_cores);

/* /proc/meminfo, in bytes. */
struct parse_meminfo {
	uint64_t total;
	uint64_t free;
	uint64_t available; /* estimated from free + buffers + cached when
			       has_available is false (kernels before 3.14) */
	uint64_t buffers;
	uint64_t cached;
	uint64_t swap_total;
	uint64_t swap_free;
	bool has_available;
};

/* Returns 0, or -EINVAL when MemTotal or MemFree is missing or malformed.
 * Other missing lines read as 0. */
int parse_meminfo(const char *text, size_t len, struct parse_meminfo *out);

/* /proc/loadavg: "0.00 0.02 0.00 1/85 12757". */
struct parse_loadavg {
	double load1, load5, load15;
	uint64_t runnable; /* tasks running or runnable now */
	uint64_t entities; /* kernel scheduling entities (threads) */
};

/* Returns 0 or -EINVAL. */
int parse_loadavg(const char *text, size_t len, struct parse_loadavg *out);

/* One line of /proc/pressure/<resource>. avg* are percentages as written. */
struct parse_psi_line {
	bool present;
	double avg10, avg60, avg300;
	uint64_t total_us; /* cumulative stall time, microseconds */
};

struct parse_psi {
	struct parse_psi_line some;
	struct parse_psi_line full; /* absent for cpu before Linux 5.13 */
};

/* Returns 0, or -EINVAL when there is no well-formed "some" line. */
int parse_psi(const char *text, size_t len, struct parse_psi *out);

/* DISK_NAME_LEN in the kernel, with the NUL. */
#define PARSE_DISK_NAME_MAX 32

/* One line of /proc/diskstats (only the columns we use). */
struct parse_disk {
	unsigned major, minor;
	char name[PARSE_DISK_NAME_MAX];
	uint64_t reads;		  /* completed */
	uint64_t sectors_read;	  /* 512-byte units whatever the device */
	uint64_t read_ms;	  /* time spent reading */
	uint64_t writes;	  /* completed */
	uint64_t sectors_written; /* 512-byte units */
	uint64_t write_ms;	  /* time spent writing */
	uint64_t io_ms;		  /* time with I/O in flight (io_ticks) */
};

typedef void (*parse_disk_fn)(void *ctx, const struct parse_disk *d);

/* Call fn for each well-formed line of /proc/diskstats (Linux 2.6.25+ layout:
 * at least 14 columns). Returns the number of malformed lines skipped. */
size_t parse_diskstats(const char *text, size_t len, parse_disk_fn fn,
		       void *ctx);

/* IFNAMSIZ, with the NUL. */
#define PARSE_IFNAME_MAX 16

/* One interface of /proc/net/dev (only the columns we use). */
struct parse_netdev {
	char name[PARSE_IFNAME_MAX];
	uint64_t rx_bytes, rx_packets, rx_errors, rx_drops;
	uint64_t tx_bytes, tx_packets, tx_errors, tx_drops;
};

typedef void (*parse_netdev_fn)(void *ctx, const struct parse_netdev *n);

/* Call fn for each interface line of /proc/net/dev; the two header lines
 * (they hold '|') are skipped. Returns the number of malformed lines
 * skipped. */
size_t parse_netdev(const char *text, size_t len, parse_netdev_fn fn,
		    void *ctx);

/* One line of /proc/<pid>/mountinfo, octal escapes (\040 ...) decoded. The
 * strings live in the parser's buffer and are valid during the callback. */
struct parse_mount {
	unsigned major, minor; /* st_dev of the filesystem */
	const char *root;      /* directory of the filesystem mounted here */
	const char *mount;     /* mount point */
	const char *fstype;    /* "ext4", "fuse.sshfs" */
	const char *source;    /* "/dev/vda1", "none" */
	bool readonly;	       /* mount or superblock is "ro" */
};

typedef void (*parse_mount_fn)(void *ctx, const struct parse_mount *m);

/* Longest decoded path accepted (PATH_MAX with the NUL). */
#define PARSE_PATH_MAX 4096

/* Call fn for each well-formed line of mountinfo. Returns the number of
 * malformed lines skipped. */
size_t parse_mountinfo(const char *text, size_t len, parse_mount_fn fn,
		       void *ctx);

/* /proc/sys/fs/file-nr: "449	0	2466177". */
struct parse_filenr {
	uint64_t allocated, free, max;
};

/* Returns 0 or -EINVAL. */
int parse_filenr(const char *text, size_t len, struct parse_filenr *out);

/* /proc/uptime: the first number, seconds. Returns 0 or -EINVAL. */
int parse_uptime(const char *text, size_t len, double *out);

#endif
