/* Store-and-forward disk queue: every sample is appended here before it is
 * published and forgotten only when the broker acknowledges it.
 *
 * Records get consecutive uint64 ids (the first ever is 1) that persist across
 * restarts. The queue lives in one directory (state_dir): segment files
 * "seg-<first id, 20 digits>.q" plus a small "head" file holding the first
 * unacknowledged id. A segment is a sequence of records
 *
 *   u32 magic "SPR1" | u32 len | u32 crc32c(len|id|payload) | u64 id | payload
 *
 * (little-endian, 20-byte header). Memory use is bounded whatever the
 * backlog: one segment index entry per file (segment size grows with the cap
 * so that there are at most about SPOOL_SEGMENTS_MAX of them), about 20 KiB
 * of stack for I/O, and never more than one record in the caller's buffer.
 *
 * The cap is enforced by unlinking whole segments, oldest first, so the data
 * on disk never exceeds max_bytes and, once the cap has been reached, stays
 * above max_bytes minus one segment. A segment is max_bytes/8 clamped to
 * [64 KiB, 1 MiB] (larger only when the cap exceeds SPOOL_SEGMENTS_MAX MiB).
 *
 * Durability: a push is one write(); it survives the agent being killed (the
 * page cache keeps it) but not a power loss until spool_sync(). After a crash
 * the head may be older than the truth, so some records are delivered twice,
 * never lost. The directory is locked (flock) against a second opener. */
#ifndef ACGS_SPOOL_H
#define ACGS_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"

#define SPOOL_RECORD_MAX   (1024 * 1024)
#define SPOOL_MIN_BYTES	   (64 * 1024)
#define SPOOL_SEGMENTS_MAX 4096

struct spool;

/* Open (creating dir if missing, mode 0700) the queue in dir with a cap of
 * max_bytes of record data on disk (raised to SPOOL_MIN_BYTES if smaller).
 * Recovers after a crash: scans the last segment, truncates a torn or corrupt
 * tail record, keeps the rest; unlinks segments wholly acknowledged; drops the
 * oldest segments if the data exceeds a (lowered) cap. Returns 0 and *ret (free
 * with spool_free), -EBUSY when another process has the queue open, or another
 * negative errno. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **ret);

/* Close everything (no fsync: call spool_sync first on a clean shutdown).
 * NULL-safe; returns NULL. */
struct spool *spool_free(struct spool *s);

/* Append one record of 1..SPOOL_RECORD_MAX bytes (and at most max_bytes with
 * its header); it gets id spool_tail(). Drops the oldest segments first when
 * the record would not fit under the cap (counted in spool_dropped). Returns 0
 * and *ret_id; -EINVAL for len 0; -E2BIG when too big; -ENOSPC, -EDQUOT,
 * -EFBIG, -EIO... when the write fails, in which case nothing was appended and
 * the queue stays usable. */
int spool_push(struct spool *s, const void *data, size_t len, uint64_t *ret_id);

/* Read record id into out (reset first; out->max must allow the record, else
 * -E2BIG and nothing is consumed). Returns 0; -ENOENT when id was acked,
 * dropped or not yet pushed; -EBADMSG when the record is corrupt (it is
 * skipped: counted once in spool_dropped, the caller should move on to id+1);
 * another negative errno on an I/O error. Reading id, id+1, ... costs one
 * pread each (a few for records over 16 KiB): a cursor remembers the offset. */
int spool_read(struct spool *s, uint64_t id, struct buf *out);

/* Every record with id < upto is delivered: forget them, persist the new head
 * and unlink segments wholly below it (not the one being appended to).
 * Idempotent; upto beyond the tail is clamped. Returns 0 or negative errno
 * (the in-memory head has moved even then; only persistence failed). */
int spool_ack(struct spool *s, uint64_t upto);

/* First id neither acked nor dropped. */
uint64_t spool_head(const struct spool *s);

/* The id the next push will get. */
uint64_t spool_tail(const struct spool *s);

/* Bytes on disk (headers included) of the records from head to tail. */
uint64_t spool_bytes(const struct spool *s);

/* Records dropped since open: by the cap, or found corrupt by spool_read. */
uint64_t spool_dropped(const struct spool *s);

/* fdatasync the segment being appended to and the head file, and fsync the
 * directory (segments created or unlinked). Returns 0 or negative errno. */
int spool_sync(struct spool *s);

/* Test seam, not for production code: replace the writev() used by
 * spool_push (NULL restores it) so tests can inject ENOSPC, EIO and short
 * writes. */
void spool_set_writev(struct spool *s,
		      ssize_t (*fn)(int fd, const struct iovec *iov, int n));

#endif
