/* Logging: one line per event, "level module: message key=value ...".
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM names our stderr) each
 * line carries a "<N>" syslog priority prefix, which journald turns into the
 * entry's priority, and no timestamp (the journal has its own). */
#ifndef ACGS_LOG_H
#define ACGS_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* The process-wide threshold; messages above it are not written. */
extern int log_max_level;

/* Parse "error", "warning", "info" or "debug"; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* Decide whether stderr is the journal; call once at start. */
void log_setup(void);

void log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(mod, ...)   log_write(LOG_LEVEL_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_write(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_write(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

#endif
