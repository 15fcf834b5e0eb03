#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check_main.h"
#include "spool.h"

#define HDR	20
#define KIB	1024u
#define MIB	(1024u * 1024)
#define OUT_MAX (2u * MIB)

/* Each test runs in its own forked process, in its own directory. */
static char root[64];
static char qdir[128];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/test_spool.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(qdir, sizeof(qdir), "%s/q", root);
}

static void teardown(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t rng_next(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*st = x;
	return x;
}

/* Record id's content is a function of id, so any read can be checked. */
static size_t rec_len(uint64_t id)
{
	return 1 + (size_t)((id * 7919) % 4096);
}

static void rec_fill(uint8_t *p, size_t len, uint64_t id)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)(id * 131 + k * 31 + (k >> 8));
}

static uint64_t push_id(struct spool *s, uint64_t id, size_t len)
{
	uint8_t *p = malloc(len);
	uint64_t got = 0;
	ck_assert_ptr_nonnull(p);
	rec_fill(p, len, id);
	ck_assert_int_eq(spool_push(s, p, len, &got), 0);
	ck_assert_uint_eq(got, id);
	free(p);
	return got;
}

/* Push the next record with the variable default length. */
static void push_next(struct spool *s)
{
	uint64_t id = spool_tail(s);
	push_id(s, id, rec_len(id));
}

static void check_content(const struct buf *b, uint64_t id, size_t len)
{
	uint8_t *p = malloc(len);
	ck_assert_ptr_nonnull(p);
	rec_fill(p, len, id);
	ck_assert_uint_eq(b->len, len);
	ck_assert_int_eq(memcmp(b->data, p, len), 0);
	free(p);
}

static void check_read(struct spool *s, struct buf *b, uint64_t id, size_t len)
{
	ck_assert_int_eq(spool_read(s, id, b), 0);
	check_content(b, id, len);
}

static char *seg_path(uint64_t first)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 ".q", qdir, first);
	return path;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* First ids of the segment files, sorted, in ids[] (returns count). */
static size_t list_segs(uint64_t *ids, size_t max)
{
	size_t n = 0;
	DIR *d = opendir(qdir);
	struct dirent *de;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) && n < max) {
		unsigned long long v;
		char tail[4];
		if (sscanf(de->d_name, "seg-%20llu.%3s", &v, tail) == 2)
			ids[n++] = v;
	}
	closedir(d);
	qsort(ids, n, sizeof(ids[0]), cmp_u64);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static void patch_file(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

START_TEST(order_across_segments)
{
	struct spool *s;
	struct buf b;
	uint64_t segs[64];

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, 64 * MIB, &s), 0);
	ck_assert_uint_eq(spool_head(s), 1);
	ck_assert_uint_eq(spool_tail(s), 1);
	ck_assert_int_eq(spool_read(s, 1, &b), -ENOENT);
	for (int i = 0; i < 2000; i++)
		push_next(s);
	ck_assert_uint_eq(spool_tail(s), 2001);
	ck_assert_uint_gt(list_segs(segs, 64), 3);
	for (uint64_t id = 1; id <= 2000; id++)
		check_read(s, &b, id, rec_len(id));
	ck_assert_int_eq(spool_read(s, 2001, &b), -ENOENT);
	/* Random access works too, backwards included. */
	check_read(s, &b, 1500, rec_len(1500));
	check_read(s, &b, 3, rec_len(3));
	check_read(s, &b, 1999, rec_len(1999));
	ck_assert_uint_eq(spool_dropped(s), 0);
	ck_assert_int_eq(spool_sync(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(ack_in_the_middle)
{
	struct spool *s;
	struct buf b;

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	for (int i = 0; i < 300; i++)
		push_id(s, spool_tail(s), 1000);
	ck_assert_uint_eq(spool_bytes(s), 300 * (HDR + 1000));
	for (uint64_t id = 1; id < 120; id++)
		check_read(s, &b, id, 1000);
	ck_assert_int_eq(spool_ack(s, 100), 0);
	ck_assert_uint_eq(spool_head(s), 100);
	ck_assert_uint_eq(spool_bytes(s), 201 * (HDR + 1000));
	ck_assert_int_eq(spool_read(s, 99, &b), -ENOENT);
	ck_assert_uint_eq(b.len, 0);
	for (uint64_t id = 100; id <= 300; id++)
		check_read(s, &b, id, 1000);
	/* Acking without reading first walks the headers. */
	ck_assert_int_eq(spool_ack(s, 250), 0);
	ck_assert_uint_eq(spool_bytes(s), 51 * (HDR + 1000));
	/* Idempotent, and clamped past the tail. */
	ck_assert_int_eq(spool_ack(s, 10), 0);
	ck_assert_uint_eq(spool_head(s), 250);
	check_read(s, &b, 250, 1000);
	ck_assert_int_eq(spool_ack(s, 100000), 0);
	ck_assert_uint_eq(spool_head(s), 301);
	ck_assert_uint_eq(spool_tail(s), 301);
	ck_assert_uint_eq(spool_bytes(s), 0);
	ck_assert_int_eq(spool_read(s, 300, &b), -ENOENT);
	push_id(s, 301, 77);
	check_read(s, &b, 301, 77);
	ck_assert_uint_eq(spool_dropped(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(cap_drops_oldest)
{
	const uint64_t cap = 256 * KIB;
	struct spool *s;
	struct buf b;
	uint64_t segs[256];

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, cap, &s), 0);
	for (int i = 0; i < 1000; i++) {
		push_id(s, spool_tail(s), 2048);
		ck_assert_uint_le(spool_bytes(s), cap);
		/* Nothing acked: every id below the head was dropped. */
		ck_assert_uint_eq(spool_dropped(s), spool_head(s) - 1);
	}
	ck_assert_uint_gt(spool_dropped(s), 800);
	/* At most one segment (64 KiB here) short of the cap. */
	ck_assert_uint_ge(spool_bytes(s), cap - 64 * KIB - (HDR + 2048));
	off_t on_disk = 0;
	size_t n = list_segs(segs, 256);
	for (size_t i = 0; i < n; i++)
		on_disk += file_size(seg_path(segs[i]));
	ck_assert_uint_le((uint64_t)on_disk, cap);
	ck_assert_uint_eq((uint64_t)on_disk, spool_bytes(s));
	ck_assert_int_eq(spool_read(s, spool_head(s) - 1, &b), -ENOENT);
	for (uint64_t id = spool_head(s); id < spool_tail(s); id++)
		check_read(s, &b, id, 2048);
	spool_free(s);

	/* A lower cap at the next open drops more, oldest first. */
	ck_assert_int_eq(spool_open(qdir, 128 * KIB, &s), 0);
	ck_assert_uint_le(spool_bytes(s), 128 * KIB);
	ck_assert_uint_gt(spool_dropped(s), 0);
	for (uint64_t id = spool_head(s); id < spool_tail(s); id++)
		check_read(s, &b, id, 2048);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(restart_keeps_everything)
{
	struct spool *s;
	struct buf b;

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, 4 * MIB, &s), 0);
	for (int i = 0; i < 700; i++)
		push_next(s);
	uint64_t bytes = spool_bytes(s);
	spool_free(s);

	ck_assert_int_eq(spool_open(qdir, 4 * MIB, &s), 0);
	ck_assert_uint_eq(spool_head(s), 1);
	ck_assert_uint_eq(spool_tail(s), 701);
	ck_assert_uint_eq(spool_bytes(s), bytes);
	for (uint64_t id = 1; id <= 700; id++)
		check_read(s, &b, id, rec_len(id));
	push_next(s);
	check_read(s, &b, 701, rec_len(701));
	ck_assert_uint_eq(spool_dropped(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(ack_persists)
{
	struct spool *s;
	struct buf b;
	uint64_t segs[64];

	buf_init(&b, OUT_MAX);
	/* 1 MiB cap: 128 KiB segments, about 30 records each. */
	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	for (int i = 0; i < 200; i++)
		push_id(s, spool_tail(s), 4000);
	ck_assert_uint_ge(list_segs(segs, 64), 6);
	ck_assert_int_eq(spool_ack(s, 150), 0);
	/* Segments wholly below the head are gone. */
	ck_assert_uint_le(list_segs(segs, 64), 3);
	ck_assert_uint_le(segs[0], 150);
	ck_assert_int_eq(spool_sync(s), 0);
	spool_free(s);

	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	ck_assert_uint_eq(spool_head(s), 150);
	ck_assert_uint_eq(spool_tail(s), 201);
	ck_assert_uint_eq(spool_bytes(s), 51 * (HDR + 4000));
	ck_assert_int_eq(spool_read(s, 149, &b), -ENOENT);
	for (uint64_t id = 150; id <= 200; id++)
		check_read(s, &b, id, 4000);

	/* Everything acked: ids still continue after a restart. */
	ck_assert_int_eq(spool_ack(s, 201), 0);
	spool_free(s);
	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	ck_assert_uint_eq(spool_head(s), 201);
	ck_assert_uint_eq(spool_tail(s), 201);
	ck_assert_uint_eq(spool_bytes(s), 0);
	push_id(s, 201, 10);
	check_read(s, &b, 201, 10);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(second_opener_is_refused)
{
	struct spool *s, *t = NULL;
	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	ck_assert_int_eq(spool_open(qdir, MIB, &t), -EBUSY);
	ck_assert_ptr_null(t);
	ck_assert_ptr_null(spool_free(s));
	ck_assert_ptr_null(spool_free(NULL));
	ck_assert_int_eq(spool_open(qdir, MIB, &t), 0);
	spool_free(t);
}
END_TEST

/* Push 50 records of 1000 bytes into one segment and close. */
static void fill_50(void)
{
	struct spool *s;
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	for (int i = 0; i < 50; i++)
		push_id(s, spool_tail(s), 1000);
	spool_free(s);
}

START_TEST(torn_tail_is_cut)
{
	struct spool *s;
	struct buf b;

	buf_init(&b, OUT_MAX);
	fill_50();
	ck_assert_int_eq(truncate(seg_path(1), 50 * (HDR + 1000) - 7), 0);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 50);
	ck_assert_uint_eq(file_size(seg_path(1)), 49 * (HDR + 1000));
	for (uint64_t id = 1; id < 50; id++)
		check_read(s, &b, id, 1000);
	ck_assert_int_eq(spool_read(s, 50, &b), -ENOENT);
	push_id(s, 50, 33);
	check_read(s, &b, 50, 33);
	spool_free(s);

	/* A cut inside the header, too. */
	ck_assert_int_eq(truncate(seg_path(1), 49 * (HDR + 1000) + 5), 0);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 50);
	ck_assert_uint_eq(spool_dropped(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(garbage_tail_is_cut)
{
	struct spool *s;
	struct buf b;
	uint8_t junk[300];
	uint64_t st = 42;

	buf_init(&b, OUT_MAX);
	fill_50();
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rng_next(&st);
	/* Starts like a record header: magic, sane length, next id. */
	memcpy(junk, "SPR1", 4);
	junk[4] = 100;
	junk[5] = junk[6] = junk[7] = 0;
	junk[12] = 51;
	memset(junk + 13, 0, 7);
	patch_file(seg_path(1), 50 * (HDR + 1000), junk, sizeof(junk));
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 51);
	ck_assert_uint_eq(file_size(seg_path(1)), 50 * (HDR + 1000));
	for (uint64_t id = 1; id <= 50; id++)
		check_read(s, &b, id, 1000);
	push_id(s, 51, 500);
	check_read(s, &b, 51, 500);
	ck_assert_uint_eq(spool_dropped(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(corrupt_record_is_skipped)
{
	struct spool *s;
	struct buf b;
	const uint64_t rec = HDR + 1000;

	buf_init(&b, OUT_MAX);
	fill_50();
	/* A payload bit in id 20, the magic of id 30: both mid-segment. */
	patch_file(seg_path(1), 19 * rec + HDR + 5, "\xff", 1);
	patch_file(seg_path(1), 29 * rec, "X", 1);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 51); /* later records kept */
	for (uint64_t id = 1; id <= 50; id++) {
		if (id == 20 || id == 30) {
			ck_assert_int_eq(spool_read(s, id, &b), -EBADMSG);
			ck_assert_uint_eq(b.len, 0);
		} else {
			check_read(s, &b, id, 1000);
		}
	}
	ck_assert_uint_eq(spool_dropped(s), 2);
	/* Reported again, counted once. */
	ck_assert_int_eq(spool_read(s, 30, &b), -EBADMSG);
	ck_assert_int_eq(spool_read(s, 20, &b), -EBADMSG);
	check_read(s, &b, 31, 1000);
	ck_assert_uint_eq(spool_dropped(s), 2);
	/* Skipping over a corrupt header while seeking ahead counts it. */
	spool_free(s);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	check_read(s, &b, 45, 1000);
	ck_assert_uint_eq(spool_dropped(s),
			  1); /* id 30; id 20's header is fine */
	ck_assert_int_eq(spool_ack(s, 51), 0);
	ck_assert_uint_eq(spool_bytes(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(corrupt_older_segment)
{
	struct spool *s;
	struct buf b;
	uint64_t segs[64];

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, MIB, &s), 0);
	for (int i = 0; i < 100; i++)
		push_id(s, spool_tail(s), 4000);
	ck_assert_uint_ge(list_segs(segs, 64), 3);
	/* Wipe a stretch of the first segment: ids 3..5 or so. */
	uint8_t zero[3 * 4020];
	memset(zero, 0, sizeof(zero));
	patch_file(seg_path(1), 2 * 4020 + 100, zero, sizeof(zero));
	int bad = 0;
	for (uint64_t id = 1; id <= 100; id++) {
		int r = spool_read(s, id, &b);
		if (r == -EBADMSG) {
			bad++;
			ck_assert_uint_ge(id, 3);
			ck_assert_uint_le(id, 6);
		} else {
			ck_assert_int_eq(r, 0);
			check_content(&b, id, 4000);
		}
	}
	ck_assert_int_eq(bad, 4);
	ck_assert_uint_eq(spool_dropped(s), 4);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(too_big_and_invalid)
{
	struct spool *s;
	struct buf b, small;
	uint8_t *big = calloc(1, SPOOL_RECORD_MAX + 1);
	uint64_t id = 0;

	ck_assert_ptr_nonnull(big);
	buf_init(&b, SPOOL_RECORD_MAX);
	buf_init(&small, 100);
	ck_assert_int_eq(spool_open(qdir, 4 * MIB, &s), 0);
	ck_assert_int_eq(spool_push(s, big, SPOOL_RECORD_MAX + 1, &id), -E2BIG);
	ck_assert_int_eq(spool_push(s, big, 0, &id), -EINVAL);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(spool_tail(s), 1);
	rec_fill(big, SPOOL_RECORD_MAX, 1);
	ck_assert_int_eq(spool_push(s, big, SPOOL_RECORD_MAX, &id), 0);
	ck_assert_int_eq(spool_read(s, 1, &small), -E2BIG);
	check_read(s, &b, 1, SPOOL_RECORD_MAX);
	spool_free(s);

	/* A record must fit the cap with its header. */
	ck_assert_int_eq(spool_open(root, 0, &s), 0); /* raised to 64 KiB */
	ck_assert_int_eq(spool_push(s, big, 64 * KIB - HDR + 1, &id), -E2BIG);
	ck_assert_int_eq(spool_push(s, big, 64 * KIB - HDR, &id), 0);
	ck_assert_uint_eq(spool_bytes(s), 64 * KIB);
	ck_assert_int_eq(spool_push(s, big, 10, &id), 0);
	ck_assert_uint_eq(spool_dropped(s), 1);
	spool_free(s);
	buf_release(&b);
	buf_release(&small);
	free(big);
}
END_TEST

/* The write seam: the Nth call fails; with fail_partial it first writes half
 * of the header and the call after it fails, as a filling disk does. */
static int fail_at;
static int fail_errno;
static int fail_partial;
static int calls;

static ssize_t failing_writev(int fd, const struct iovec *iov, int n)
{
	++calls;
	if (fail_at && calls == fail_at && fail_partial)
		return write(fd, iov[0].iov_base, iov[0].iov_len / 2);
	if (fail_at && calls == fail_at + fail_partial) {
		errno = fail_errno;
		return -1;
	}
	return writev(fd, iov, n);
}

START_TEST(write_failure_keeps_queue)
{
	static const int errs[] = { ENOSPC, EIO, EDQUOT };
	struct spool *s;
	struct buf b;
	uint64_t id = 0;
	uint8_t data[3000];

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	spool_set_writev(s, failing_writev);
	for (int i = 0; i < 10; i++)
		push_next(s);
	for (int i = 0; i < 6; i++) {
		uint64_t tail = spool_tail(s);
		off_t size = file_size(seg_path(1));
		calls = 0;
		fail_at = 1;
		fail_partial = i % 2;
		fail_errno = errs[i % 3];
		rec_fill(data, sizeof(data), tail);
		ck_assert_int_eq(spool_push(s, data, sizeof(data), &id),
				 -errs[i % 3]);
		ck_assert_uint_eq(id, 0);
		ck_assert_uint_eq(spool_tail(s), tail);
		ck_assert_int_eq(file_size(seg_path(1)), size);
		fail_at = 0;
		push_next(s); /* the very next push works */
		check_read(s, &b, tail, rec_len(tail));
	}
	spool_set_writev(s, NULL);
	ck_assert_uint_eq(spool_tail(s), 17);
	spool_free(s);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 17);
	for (uint64_t i = 1; i < 17; i++)
		check_read(s, &b, i, rec_len(i));
	ck_assert_uint_eq(spool_dropped(s), 0);
	spool_free(s);
	buf_release(&b);
}
END_TEST

START_TEST(file_size_limit)
{
	struct spool *s;
	struct buf b;
	struct rlimit rl;
	uint8_t data[2048];
	uint64_t id;

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	for (int i = 0; i < 20; i++)
		push_id(s, spool_tail(s), 2048);
	off_t size = file_size(seg_path(1));
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rlim_t hard = rl.rlim_max;
	rl.rlim_cur = (rlim_t)size + 100; /* the kernel writes 100 bytes */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	rec_fill(data, sizeof(data), 21);
	ck_assert_int_eq(spool_push(s, data, sizeof(data), &id), -EFBIG);
	ck_assert_int_eq(spool_push(s, data, sizeof(data), &id), -EFBIG);
	ck_assert_int_eq(file_size(seg_path(1)), size);
	ck_assert_uint_eq(spool_tail(s), 21);
	rl.rlim_cur = hard;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	push_id(s, 21, 2048);
	spool_free(s);
	ck_assert_int_eq(spool_open(qdir, 8 * MIB, &s), 0);
	ck_assert_uint_eq(spool_tail(s), 22);
	for (uint64_t i = 1; i <= 21; i++)
		check_read(s, &b, i, 2048);
	spool_free(s);
	buf_release(&b);
}
END_TEST

/* libFuzzer-shaped: the input is a script of pushes, acks and damage done to
 * the files between two opens; whatever it does, opening and reading must
 * neither crash nor return a record that differs from what was pushed. A
 * libFuzzer target can call it as is; here a seeded generator drives it. */
static void fuzz_one(const uint8_t *data, size_t size)
{
	struct spool *s;
	struct buf b;
	size_t at = 0;
	uint64_t segs[512];
#define NEXT() (at < size ? data[at++] : 0)

	buf_init(&b, OUT_MAX);
	ck_assert_int_eq(spool_open(qdir, 256 * KIB, &s), 0);
	int pushes = NEXT() * 2;
	for (int i = 0; i < pushes; i++)
		push_id(s, spool_tail(s), 1 + NEXT() * 16);
	ck_assert_int_eq(spool_ack(s, spool_head(s) + NEXT()), 0);
	spool_free(s);

	int damage = NEXT() % 16;
	size_t n = list_segs(segs, 512);
	for (int i = 0; i < damage; i++) {
		uint8_t which = NEXT(), how = NEXT();
		char path[256];
		if (n == 0 || which % 8 == 0)
			snprintf(path, sizeof(path), "%s/head", qdir);
		else
			snprintf(path, sizeof(path), "%s",
				 seg_path(segs[which % n]));
		off_t len = file_size(path);
		uint64_t pick = NEXT();
		pick = pick << 8 | NEXT();
		pick = pick << 8 | NEXT();
		off_t off = len ? (off_t)(pick % (uint64_t)len) : 0;
		uint8_t junk[64];
		size_t jn = 1 + how % sizeof(junk);
		for (size_t k = 0; k < jn; k++)
			junk[k] = NEXT();
		switch (how % 4) {
		case 0:
			ck_assert_int_eq(truncate(path, off), 0);
			break;
		case 1: /* append */
			patch_file(path, len, junk, jn);
			break;
		default: /* overwrite, possibly extending */
			patch_file(path, off, junk, jn);
			break;
		}
	}

	ck_assert_int_eq(spool_open(qdir, 256 * KIB, &s), 0);
	ck_assert_uint_le(spool_head(s), spool_tail(s));
	uint64_t good = 0, dropped_at_open = spool_dropped(s);
	for (uint64_t id = spool_head(s); id < spool_tail(s); id++) {
		int r = spool_read(s, id, &b);
		if (r == 0) {
			/* Lengths were not recorded; the content is checked
			 * against the generator for its own length. */
			check_content(&b, id, b.len);
			good++;
		} else {
			ck_assert_int_eq(r, -EBADMSG);
		}
	}
	/* Every id is either returned or counted as dropped, once. */
	ck_assert_uint_eq(good + spool_dropped(s) - dropped_at_open,
			  spool_tail(s) - spool_head(s));
	/* Still a working queue afterwards. */
	uint64_t first = spool_tail(s);
	for (int i = 0; i < 5; i++)
		push_id(s, spool_tail(s), 100);
	for (uint64_t id = first; id < spool_tail(s); id++)
		check_read(s, &b, id, 100);
	ck_assert_int_eq(spool_ack(s, spool_tail(s)), 0);
	uint64_t tail = spool_tail(s);
	spool_free(s);
	ck_assert_int_eq(spool_open(qdir, 256 * KIB, &s), 0);
	ck_assert_uint_eq(spool_head(s), tail);
	ck_assert_uint_eq(spool_tail(s), tail);
	spool_free(s);
	buf_release(&b);
#undef NEXT
}

START_TEST(fuzz_corrupt_files)
{
	uint64_t st = 0x5eed5eed12345ull;
	uint8_t input[256];

	for (int iter = 0; iter < 300; iter++) {
		for (size_t i = 0; i < sizeof(input); i++)
			input[i] = (uint8_t)rng_next(&st);
		snprintf(qdir, sizeof(qdir), "%s/f%d", root, iter);
		fuzz_one(input, sizeof(input));
	}
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, order_across_segments);
	tcase_add_test(tc, ack_in_the_middle);
	tcase_add_test(tc, cap_drops_oldest);
	tcase_add_test(tc, restart_keeps_everything);
	tcase_add_test(tc, ack_persists);
	tcase_add_test(tc, second_opener_is_refused);
	tcase_add_test(tc, torn_tail_is_cut);
	tcase_add_test(tc, garbage_tail_is_cut);
	tcase_add_test(tc, corrupt_record_is_skipped);
	tcase_add_test(tc, corrupt_older_segment);
	tcase_add_test(tc, too_big_and_invalid);
	tcase_add_test(tc, write_failure_keeps_queue);
	tcase_add_test(tc, file_size_limit);
	tcase_add_test(tc, fuzz_corrupt_files);
	suite_add_tcase(s, tc);
	return s;
}
