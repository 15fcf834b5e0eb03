/* The daemons' signals: SIGTERM, SIGINT and SIGHUP arrive through a
 * signalfd in the poll loop instead of handlers. */
#ifndef ACGS_SIGFD_H
#define ACGS_SIGFD_H

/* Block SIGTERM, SIGINT and SIGHUP (call before any thread starts, so every
 * thread inherits the mask) and ignore SIGPIPE (a peer that closes must not
 * kill us) and SIGXFSZ (a file size limit must fail the write, not the
 * process). */
void sigfd_block(void);

/* A non-blocking, close-on-exec signalfd for the blocked signals. Returns
 * the fd or a negative errno. */
int sigfd_open(void);

#endif
