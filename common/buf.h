/* A growable byte buffer with a hard cap (like curl's dynbuf).
 *
 * Every buffer fed from outside has a cap; reaching it fails the append with
 * -E2BIG and leaves the contents as they were, so callers can count it. The
 * data is always NUL-terminated for convenience (the NUL is not in len). */
#ifndef ACGS_BUF_H
#define ACGS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* Start empty with a cap of max bytes (not counting the NUL). */
void buf_init(struct buf *b, size_t max);

/* Free the storage; the buffer may be initialised again. */
void buf_release(struct buf *b);

/* Forget the contents but keep the storage. */
void buf_reset(struct buf *b);

/* Append n bytes. Returns 0, -E2BIG past the cap, -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
int buf_puts(struct buf *b, const char *s);

/* Append formatted text; on failure nothing is appended. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Shorten to len bytes (no change when it is already shorter). */
void buf_truncate(struct buf *b, size_t len);

#endif
