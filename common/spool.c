/* Store-and-forward disk queue; the format and guarantees are in spool.h. */
#include "config.h"

#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define REC_MAGIC  0x31525053u /* "SPR1" */
#define HEAD_MAGIC 0x31485053u /* "SPH1" */
#define HDR_SIZE   20u
#define HEAD_SIZE  16u
#define HEAD_NAME  "head"
#define SEG_MIN	   (64u * 1024)
#define SEG_MAX	   (1024u * 1024)
/* "seg-" + 20 digits + ".q" + NUL, rounded up */
#define SEG_NAME_SIZE 32
/* Payload reads go through a stack chunk: one pread fetches header and
 * payload of a typical sample; 1 MiB records take several. */
#define LOAD_CHUNK   (16u * 1024)
#define RESYNC_CHUNK (4u * 1024)

/* Records in a segment have consecutive ids starting at first; the next
 * segment's first (or the tail, for the last) ends it. */
struct seg {
	uint64_t first;
	uint64_t size;
};

struct pos {
	uint64_t id;
	uint64_t off;
};

/* A read position inside one segment, so sequential reads cost one pread. */
struct cursor {
	int fd;
	uint64_t first;	 /* segment the fd is open on */
	struct pos at;	 /* next record to read */
	uint64_t bad_lo; /* ids [bad_lo, at.id) were found corrupt */
};

struct spool {
	int dfd;
	int hfd;      /* "head" file, also holds the flock */
	int wfd;      /* last segment, O_APPEND; -1 until the first push */
	bool wbroken; /* a failed write could not be undone: rotate */
	uint64_t max_bytes;
	uint64_t seg_max;
	struct seg *segs;
	size_t nsegs;
	size_t segs_cap;
	uint64_t head;
	/* Offset of head in segs[0]: the bytes before it are acked. */
	uint64_t head_off;
	uint64_t tail;
	uint64_t total; /* sum of segment sizes */
	uint64_t dropped;
	uint64_t lost_mark; /* ids below it were already counted as dropped */
	struct cursor rd;   /* spool_read */
	struct cursor hd;   /* finding the new head's offset in spool_ack */
	ssize_t (*writev)(int fd, const struct iovec *iov, int n);
	uint32_t crc_tab[256];
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* CRC-32C (Castagnoli, reflected 0x82F63B78): better error detection than
 * CRC-32 for short messages, and the table lives in the struct (no globals). */
static void crc_init(uint32_t tab[256])
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		tab[i] = c;
	}
}

static uint32_t crc_update(const uint32_t *tab, uint32_t crc, const void *p,
			   size_t n)
{
	const uint8_t *b = p;
	while (n--)
		crc = tab[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* The CRC covers len and id as well as the payload, so a flipped id or
 * length is caught instead of silently renumbering the queue. */
static uint32_t crc_hdr(const struct spool *s, const uint8_t *hdr)
{
	uint32_t crc = crc_update(s->crc_tab, 0xffffffffu, hdr + 4, 4);
	return crc_update(s->crc_tab, crc, hdr + 12, 8);
}

static void seg_name(char name[SEG_NAME_SIZE], uint64_t first)
{
	snprintf(name, SEG_NAME_SIZE, "seg-%020" PRIu64 ".q", first);
}

/* Strict: exactly "seg-" + 20 digits + ".q", no overflow. */
static bool seg_parse_name(const char *name, uint64_t *ret_first)
{
	uint64_t v = 0;

	if (strlen(name) != 26 || strncmp(name, "seg-", 4) != 0 ||
	    strcmp(name + 24, ".q") != 0)
		return false;
	for (int i = 4; i < 24; i++) {
		unsigned d = (unsigned)(name[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret_first = v;
	return true;
}

static ssize_t pread_full(int fd, void *p, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(fd, (uint8_t *)p + done, n - done,
				  (off_t)(off + done));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static uint64_t seg_size_for(uint64_t max_bytes)
{
	uint64_t seg = min_u64(max_bytes / 8, SEG_MAX);
	if (seg < SEG_MIN)
		seg = SEG_MIN;
	/* Keep the index small for huge caps: grow segments instead. */
	if (seg < max_bytes / SPOOL_SEGMENTS_MAX)
		seg = max_bytes / SPOOL_SEGMENTS_MAX;
	return seg;
}

static uint64_t seg_end(const struct spool *s, size_t i)
{
	return i + 1 < s->nsegs ? s->segs[i + 1].first : s->tail;
}

/* Index of the segment holding id; needs nsegs > 0, id >= segs[0].first. */
static size_t seg_find(const struct spool *s, uint64_t id)
{
	size_t lo = 0, hi = s->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->segs[mid].first <= id)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int segs_add(struct spool *s, uint64_t first, uint64_t size)
{
	if (s->nsegs == s->segs_cap) {
		size_t cap = s->segs_cap ? s->segs_cap * 2 : 16;
		struct seg *p = reallocarray(s->segs, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->segs = p;
		s->segs_cap = cap;
	}
	s->segs[s->nsegs].first = first;
	s->segs[s->nsegs].size = size;
	s->nsegs++;
	return 0;
}

static void cursor_close(struct cursor *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Ids below head may already be counted or were delivered; ids counted once
 * are not counted again when a cursor walks over them a second time. */
static void count_lost(struct spool *s, uint64_t lo, uint64_t hi)
{
	if (lo < s->head)
		lo = s->head;
	if (lo < s->lost_mark)
		lo = s->lost_mark;
	if (hi <= lo)
		return;
	s->dropped += hi - lo;
	s->lost_mark = hi;
}

/* Forget segs[i] (unlink errors are reported but the index still drops it:
 * a leftover file only means re-sent records after a restart). */
static int seg_unlink_at(struct spool *s, size_t i)
{
	char name[SEG_NAME_SIZE];
	int r = 0;

	seg_name(name, s->segs[i].first);
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (s->rd.first == s->segs[i].first)
		cursor_close(&s->rd);
	if (s->hd.first == s->segs[i].first)
		cursor_close(&s->hd);
	if (i == s->nsegs - 1 && s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	s->total -= s->segs[i].size;
	memmove(&s->segs[i], &s->segs[i + 1],
		(s->nsegs - i - 1) * sizeof(s->segs[0]));
	s->nsegs--;
	return r;
}

/* Drop the oldest segment (needs nsegs > 1); records in it not yet acked
 * are counted as dropped. */
static int seg_remove_first(struct spool *s)
{
	uint64_t end = s->segs[1].first;

	count_lost(s, s->head, end);
	if (s->head < end)
		s->head = end;
	s->head_off = 0;
	return seg_unlink_at(s, 0);
}

/* Parse and bounds-check a record header at off in a segment of size bytes
 * (the caller has checked that a whole header fits). */
static int hdr_parse(const uint8_t *p, uint64_t size, uint64_t off,
		     uint64_t *ret_id, uint32_t *ret_len)
{
	uint32_t len = get_le32(p + 4);

	if (get_le32(p) != REC_MAGIC || len == 0 || len > SPOOL_RECORD_MAX ||
	    size - off - HDR_SIZE < len)
		return -EBADMSG;
	*ret_id = get_le64(p + 12);
	*ret_len = len;
	return 0;
}

static int hdr_peek(int fd, uint64_t size, uint64_t off, uint64_t *ret_id,
		    uint32_t *ret_len)
{
	uint8_t hdr[HDR_SIZE];

	if (off > size || size - off < HDR_SIZE)
		return -EBADMSG;
	ssize_t n = pread_full(fd, hdr, sizeof(hdr), off);
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(hdr))
		return -EBADMSG;
	return hdr_parse(hdr, size, off, ret_id, ret_len);
}

/* Read and verify the record at off, appending its payload to out when out
 * is not NULL. Returns 0, -EBADMSG when it is not a valid record, -E2BIG
 * when out cannot hold it (out untouched), another -errno on I/O errors. */
static int rec_load(struct spool *s, int fd, uint64_t size, uint64_t off,
		    struct buf *out, uint64_t *ret_id, uint32_t *ret_len)
{
	uint8_t chunk[LOAD_CHUNK];
	uint64_t id;
	uint32_t len, done = 0;
	int r;

	if (off > size || size - off < HDR_SIZE)
		return -EBADMSG;
	ssize_t n =
	    pread_full(fd, chunk, min_u64(sizeof(chunk), size - off), off);
	if (n < 0)
		return (int)n;
	if ((size_t)n < HDR_SIZE)
		return -EBADMSG;
	r = hdr_parse(chunk, size, off, &id, &len);
	if (r < 0)
		return r;
	if (out && len > out->max - out->len)
		return -E2BIG;

	uint32_t want_crc = get_le32(chunk + 8);
	uint32_t crc = crc_hdr(s, chunk);
	const uint8_t *p = chunk + HDR_SIZE;
	size_t have = min_u64((size_t)n - HDR_SIZE, len);
	for (;;) {
		crc = crc_update(s->crc_tab, crc, p, have);
		if (out) {
			r = buf_append(out, p, have);
			if (r < 0)
				goto out;
		}
		done += (uint32_t)have;
		if (done == len)
			break;
		size_t want = min_u64(sizeof(chunk), len - done);
		n = pread_full(fd, chunk, want, off + HDR_SIZE + done);
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		if ((size_t)n < want) {
			r = -EBADMSG;
			goto out;
		}
		p = chunk;
		have = want;
	}
	r = ~crc == want_crc ? 0 : -EBADMSG;
	if (r == 0) {
		*ret_id = id;
		*ret_len = len;
	}
out:
	if (r < 0 && out)
		buf_reset(out);
	return r;
}

/* Look in [from, size) for a valid record (CRC checked) with an id in
 * [lo, hi). Returns 1 and *ret, 0 when there is none, or -errno. Scanning
 * byte by byte is fine: it only runs on corruption and is bounded by the
 * segment size. */
static int resync(struct spool *s, int fd, uint64_t size, uint64_t from,
		  uint64_t lo, uint64_t hi, struct pos *ret)
{
	uint8_t chunk[RESYNC_CHUNK];
	uint64_t off = from;

	while (off < size && size - off >= HDR_SIZE) {
		ssize_t n = pread_full(fd, chunk,
				       min_u64(sizeof(chunk), size - off), off);
		if (n < 0)
			return (int)n;
		if ((size_t)n < HDR_SIZE)
			return 0;
		size_t last = (size_t)n - HDR_SIZE;
		for (size_t k = 0; k <= last; k++) {
			uint64_t id, id2;
			uint32_t len, len2;
			if (chunk[k] != (REC_MAGIC & 0xff) ||
			    hdr_parse(chunk + k, size, off + k, &id, &len) <
				0 ||
			    id < lo || id >= hi)
				continue;
			int r =
			    rec_load(s, fd, size, off + k, NULL, &id2, &len2);
			if (r == -EBADMSG)
				continue;
			if (r < 0)
				return r;
			ret->id = id;
			ret->off = off + k;
			return 1;
		}
		off += last + 1;
	}
	return 0;
}

static void cursor_rewind(const struct spool *s, struct cursor *c, size_t i)
{
	if (i == 0 && s->head > s->segs[0].first) {
		c->at.id = s->head;
		c->at.off = s->head_off;
	} else {
		c->at.id = s->segs[i].first;
		c->at.off = 0;
	}
	c->bad_lo = c->at.id;
}

/* The record at c->at is unusable: move to the next good one (or the end of
 * the segment) and remember the ids in between as corrupt. */
static int cursor_resync(struct spool *s, struct cursor *c, size_t i,
			 bool count)
{
	uint64_t end = seg_end(s, i);
	struct pos found;

	int r = resync(s, c->fd, s->segs[i].size, c->at.off + 1, c->at.id, end,
		       &found);
	if (r < 0)
		return r;
	if (r == 0) {
		found.id = end;
		found.off = s->segs[i].size;
	}
	if (count)
		count_lost(s, c->at.id, found.id);
	c->bad_lo = c->at.id;
	c->at = found;
	return 0;
}

/* Position c on the record target in segs[i], walking headers only (no
 * payload reads) from where it is, or from the head/segment start when it
 * is past target. On return c->at.id > target means target is corrupt. */
static int cursor_seek(struct spool *s, struct cursor *c, size_t i,
		       uint64_t target, bool count)
{
	const struct seg *g = &s->segs[i];

	if (c->fd < 0 || c->first != g->first) {
		char name[SEG_NAME_SIZE];
		cursor_close(c);
		seg_name(name, g->first);
		c->fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
		if (c->fd < 0)
			return -errno;
		c->first = g->first;
		cursor_rewind(s, c, i);
	} else if (target < c->bad_lo) {
		cursor_rewind(s, c, i);
	}
	while (c->at.id < target) {
		uint64_t id;
		uint32_t len;
		int r = hdr_peek(c->fd, g->size, c->at.off, &id, &len);
		if (r == 0 && id == c->at.id) {
			c->at.off += HDR_SIZE + len;
			c->at.id++;
			c->bad_lo = c->at.id;
			continue;
		}
		if (r < 0 && r != -EBADMSG)
			return r;
		r = cursor_resync(s, c, i, count);
		if (r < 0)
			return r;
	}
	return 0;
}

static int head_write(struct spool *s)
{
	uint8_t b[HEAD_SIZE];

	put_le32(b, HEAD_MAGIC);
	put_le64(b + 8, s->head);
	put_le32(b + 4, ~crc_update(s->crc_tab, 0xffffffffu, b + 8, 8));
	/* One 16-byte pwrite inside a sector: no temp+rename per ack. A torn
	 * one fails the CRC and reopen falls back to the oldest segment,
	 * which re-sends, never loses. */
	ssize_t n = pwrite(s->hfd, b, sizeof(b), 0);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(b) ? 0 : -EIO;
}

static bool head_read(struct spool *s, uint64_t *ret)
{
	uint8_t b[HEAD_SIZE];

	if (pread_full(s->hfd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    get_le32(b) != HEAD_MAGIC ||
	    get_le32(b + 4) != ~crc_update(s->crc_tab, 0xffffffffu, b + 8, 8))
		return false;
	*ret = get_le64(b + 8);
	return true;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int segs_list(struct spool *s)
{
	_cleanup_close_ int fd = -1;
	DIR *d = NULL;
	struct dirent *de;
	int r = 0;

	fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1; /* owned by d now */
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		uint64_t first;
		if (!seg_parse_name(de->d_name, &first))
			continue;
		if (fstatat(s->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		r = segs_add(s, first, (uint64_t)st.st_size);
		if (r < 0)
			goto out;
		s->total += (uint64_t)st.st_size;
	}
	if (errno)
		r = -errno;
	if (s->nsegs > 1)
		qsort(s->segs, s->nsegs, sizeof(s->segs[0]), seg_cmp);
out:
	closedir(d);
	return r;
}

/* Verify every record of the last segment (the only one a crash can tear)
 * and cut it after the last valid one. Corruption followed by valid
 * records is kept: spool_read reports those ids as -EBADMSG. Returns the
 * id after the last valid record. */
static int seg_recover_last(struct spool *s, uint64_t *ret_tail)
{
	struct seg *g = &s->segs[s->nsegs - 1];
	char name[SEG_NAME_SIZE];
	_cleanup_close_ int fd = -1;
	struct pos at = { g->first, 0 };
	int r;

	seg_name(name, g->first);
	fd = openat(s->dfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (at.off < g->size) {
		uint64_t id;
		uint32_t len;
		r = rec_load(s, fd, g->size, at.off, NULL, &id, &len);
		if (r == 0 && id == at.id) {
			at.off += HDR_SIZE + len;
			at.id++;
			continue;
		}
		if (r < 0 && r != -EBADMSG)
			return r;
		struct pos found;
		r = resync(s, fd, g->size, at.off + 1, at.id, UINT64_MAX,
			   &found);
		if (r < 0)
			return r;
		if (r == 0) {
			if (ftruncate(fd, (off_t)at.off) < 0)
				return -errno;
			s->total -= g->size - at.off;
			g->size = at.off;
			break;
		}
		at = found;
	}
	*ret_tail = at.id;
	return 0;
}

/* Settle head, tail and head_off from what is on disk. */
static int spool_recover(struct spool *s)
{
	uint64_t hval = 0, seg_tail = 1;
	bool have_head = head_read(s, &hval);
	int r;

	if (s->nsegs > 0) {
		r = seg_recover_last(s, &seg_tail);
		if (r < 0)
			return r;
	}
	if (have_head && hval > seg_tail) {
		/* Everything on disk was acked and the newest segment later
		 * deleted by hand or lost: keep ids monotonic, start afresh. */
		while (s->nsegs > 0)
			(void)seg_unlink_at(s, s->nsegs - 1);
	}
	s->tail = seg_tail;
	if (have_head && hval > s->tail)
		s->tail = hval;
	if (s->nsegs == 0) {
		s->head = s->tail;
		return 0;
	}
	s->head = s->segs[0].first;
	uint64_t head = have_head && hval > s->head ? hval : s->head;
	if (head == s->head)
		return 0;
	while (s->nsegs > 1 && s->segs[1].first <= head)
		(void)seg_remove_first(s);
	if (head == s->tail) {
		s->head_off = s->segs[0].size;
	} else if (head > s->segs[0].first) {
		s->head = s->segs[0].first;
		s->head_off = 0;
		r = cursor_seek(s, &s->hd, 0, head, false);
		if (r < 0)
			return r;
		s->head_off = s->hd.at.off;
	}
	s->head = head;
	return 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret)
{
	struct spool *s = NULL;
	int r;

	if (!dir || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dfd = s->hfd = s->wfd = s->rd.fd = s->hd.fd = -1;
	s->rd.first = s->hd.first = UINT64_MAX;
	s->writev = writev;
	crc_init(s->crc_tab);
	s->max_bytes =
	    max_bytes < SPOOL_MIN_BYTES ? SPOOL_MIN_BYTES : max_bytes;
	s->seg_max = seg_size_for(s->max_bytes);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = -errno;
		goto out;
	}
	s->hfd = openat(s->dfd, HEAD_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->hfd < 0) {
		r = -errno;
		goto out;
	}
	/* Two agents appending to one queue would interleave records. */
	if (flock(s->hfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	r = segs_list(s);
	if (r < 0)
		goto out;
	r = spool_recover(s);
	if (r < 0)
		goto out;
	s->dropped = 0;
	s->lost_mark = s->head;
	/* The cap may have been lowered since the data was written. */
	while (s->total > s->max_bytes && s->nsegs > 1)
		(void)seg_remove_first(s);
	*ret = s;
	s = NULL;
	r = 0;
out:
	spool_free(s);
	return r;
}

struct spool *spool_free(struct spool *s)
{
	if (!s)
		return NULL;
	cursor_close(&s->rd);
	cursor_close(&s->hd);
	if (s->wfd >= 0)
		close(s->wfd);
	if (s->hfd >= 0)
		close(s->hfd);
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->segs);
	free(s);
	return NULL;
}

/* Start a segment at the tail. An empty last segment (first == tail) is
 * reused by truncating it, since its name is the one we need. */
static int seg_create(struct spool *s)
{
	char name[SEG_NAME_SIZE];
	struct seg *last = s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
	bool reuse = last && last->first == s->tail;
	int r;

	if (s->wfd >= 0) {
		close(s->wfd);
		s->wfd = -1;
	}
	if (reuse) {
		cursor_close(&s->rd);
		cursor_close(&s->hd);
	} else {
		r = segs_add(s, s->tail, 0);
		if (r < 0)
			return r;
	}
	seg_name(name, s->tail);
	int fd =
	    openat(s->dfd, name,
		   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		/* An entry we just added for a file that does not exist would
		 * claim no ids (first == tail): harmless, but drop it. */
		if (!reuse)
			s->nsegs--;
		return r;
	}
	last = &s->segs[s->nsegs - 1];
	s->total -= last->size;
	last->size = 0;
	s->wfd = fd;
	s->wbroken = false;
	/* Old segments wholly acked are no longer needed once a newer one
	 * exists. */
	while (s->nsegs > 1 && s->segs[1].first <= s->head)
		(void)seg_remove_first(s);
	return 0;
}

static int seg_open_last(struct spool *s)
{
	char name[SEG_NAME_SIZE];

	seg_name(name, s->segs[s->nsegs - 1].first);
	s->wfd = openat(s->dfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	return s->wfd < 0 ? -errno : 0;
}

/* Write all of hdr+data; a short write is continued so that the error
 * (ENOSPC, EFBIG...) is the kernel's, not a guess. */
static int write_record(struct spool *s, const uint8_t *hdr, const void *data,
			size_t len, size_t *ret_done)
{
	size_t total = HDR_SIZE + len, done = 0;
	int r = 0;

	while (done < total) {
		struct iovec iov[2];
		int cnt = 0;
		if (done < HDR_SIZE) {
			iov[cnt].iov_base = (void *)(hdr + done);
			iov[cnt++].iov_len = HDR_SIZE - done;
			iov[cnt].iov_base = (void *)data;
			iov[cnt++].iov_len = len;
		} else {
			iov[cnt].iov_base =
			    (uint8_t *)(uintptr_t)data + (done - HDR_SIZE);
			iov[cnt++].iov_len = total - done;
		}
		ssize_t n = s->writev(s->wfd, iov, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = -EIO;
			break;
		}
		done += (size_t)n;
	}
	*ret_done = done;
	return r;
}

int spool_push(struct spool *s, const void *data, size_t len, uint64_t *ret_id)
{
	uint8_t hdr[HDR_SIZE];
	uint64_t rec = HDR_SIZE + (uint64_t)len;
	size_t done;
	int r;

	if (len == 0 || !data)
		return -EINVAL;
	if (len > SPOOL_RECORD_MAX || rec > s->max_bytes)
		return -E2BIG;
	if (s->tail == UINT64_MAX)
		return -EOVERFLOW;

	struct seg *last = s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
	if (!last || s->wbroken ||
	    (last->size > 0 && last->size + rec > s->seg_max)) {
		r = seg_create(s);
		if (r < 0)
			return r;
	} else if (s->wfd < 0) {
		r = seg_open_last(s);
		if (r < 0)
			return r;
	}
	/* Drop before writing so that the cap holds on disk at all times and
	 * a full disk gets the space back. seg_max <= max_bytes guarantees
	 * the last segment alone plus this record fits. */
	while (s->total + rec > s->max_bytes && s->nsegs > 1)
		(void)seg_remove_first(s);

	put_le32(hdr, REC_MAGIC);
	put_le32(hdr + 4, (uint32_t)len);
	put_le64(hdr + 12, s->tail);
	uint32_t crc = crc_hdr(s, hdr);
	put_le32(hdr + 8, ~crc_update(s->crc_tab, crc, data, len));

	last = &s->segs[s->nsegs - 1];
	r = write_record(s, hdr, data, len, &done);
	if (r < 0) {
		/* Cut the partial record so the next append lands right after
		 * the last good one. If even that fails, the garbage stays past
		 * every id of this segment and later records go to a new one.
		 */
		if (done > 0 && ftruncate(s->wfd, (off_t)last->size) < 0) {
			s->wbroken = true;
			close(s->wfd);
			s->wfd = -1;
		}
		return r;
	}
	last->size += rec;
	s->total += rec;
	*ret_id = s->tail++;
	return 0;
}

int spool_read(struct spool *s, uint64_t id, struct buf *out)
{
	struct cursor *c = &s->rd;

	buf_reset(out);
	if (id < s->head || id >= s->tail)
		return -ENOENT;
	size_t i = seg_find(s, id);
	for (;;) {
		uint64_t rid;
		uint32_t len;
		int r = cursor_seek(s, c, i, id, true);
		if (r < 0)
			return r;
		if (c->at.id > id)
			return -EBADMSG;
		r = rec_load(s, c->fd, s->segs[i].size, c->at.off, out, &rid,
			     &len);
		if (r == 0 && rid == id) {
			c->at.id++;
			c->at.off += HDR_SIZE + len;
			c->bad_lo = c->at.id;
			return 0;
		}
		buf_reset(out);
		if (r < 0 && r != -EBADMSG)
			return r;
		/* Loops at most once more per valid record found further on:
		 * the offset only grows. */
		r = cursor_resync(s, c, i, true);
		if (r < 0)
			return r;
	}
}

int spool_ack(struct spool *s, uint64_t upto)
{
	const struct cursor *rd = &s->rd;
	uint64_t off;
	int r = 0, k;

	if (upto > s->tail)
		upto = s->tail;
	if (upto <= s->head)
		return 0;
	size_t i = seg_find(s, upto);
	const struct seg *g = &s->segs[i];
	if (upto == g->first) {
		off = 0;
	} else if (rd->fd >= 0 && rd->first == g->first && rd->at.id == upto &&
		   rd->bad_lo == upto) {
		off =
		    rd->at.off; /* the usual case: acking what was just read */
	} else if (upto == s->tail) {
		off = g->size;
	} else {
		r = cursor_seek(s, &s->hd, i, upto, false);
		/* Corruption or an I/O error: bytes is then approximate. */
		off = r < 0 ? 0 : s->hd.at.off;
	}
	s->head = upto;
	while (s->nsegs > 1 && s->segs[1].first <= upto) {
		k = seg_remove_first(s);
		if (r == 0)
			r = k;
	}
	s->head_off = off;
	k = head_write(s);
	return r < 0 ? r : k;
}

uint64_t spool_head(const struct spool *s)
{
	return s->head;
}

uint64_t spool_tail(const struct spool *s)
{
	return s->tail;
}

uint64_t spool_bytes(const struct spool *s)
{
	return s->total > s->head_off ? s->total - s->head_off : 0;
}

uint64_t spool_dropped(const struct spool *s)
{
	return s->dropped;
}

int spool_sync(struct spool *s)
{
	int r = 0;

	if (s->wfd >= 0 && fdatasync(s->wfd) < 0)
		r = -errno;
	if (fdatasync(s->hfd) < 0 && r == 0)
		r = -errno;
	/* New and unlinked segment names live in the directory. */
	if (fsync(s->dfd) < 0 && r == 0)
		r = -errno;
	return r;
}

void spool_set_writev(struct spool *s,
		      ssize_t (*fn)(int fd, const struct iovec *iov, int n))
{
	s->writev = fn ? fn : writev;
}
