/* The systemd notification protocol (sd_notify(3)) without libsystemd.
 *
 * The protocol is stable and documented for independent implementations:
 * one datagram of "KEY=VALUE\n..." lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * Linking libsystemd for this would cost the agent its dependencies
 * (libgcrypt, liblzma, libzstd, ...), about 1 MiB of resident memory. */
#ifndef ACGS_NOTIFY_H
#define ACGS_NOTIFY_H

#include <stdint.h>

/* Send state (e.g. "READY=1\nSTATUS=running"). Returns 1 when sent, 0 when
 * there is no NOTIFY_SOCKET (not under systemd), or a negative errno. */
int notify_send(const char *state);

/* The watchdog interval systemd asks for, in microseconds: WATCHDOG_USEC,
 * when WATCHDOG_PID is unset or names this process; 0 when there is none. */
uint64_t notify_watchdog_usec(void);

#endif
