#include "config.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

int log_max_level = LOG_LEVEL_INFO;
static int log_to_journal;

int log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "error", LOG_LEVEL_ERR },    { "err", LOG_LEVEL_ERR },
		{ "warning", LOG_LEVEL_WARN }, { "warn", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },    { "debug", LOG_LEVEL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].level;
	return -EINVAL;
}

void log_setup(void)
{
	/* JOURNAL_STREAM is "device:inode" of the stream systemd connected;
	 * only trust it when it is really our stderr (a child of a child may
	 * have inherited the variable with another stderr). */
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;

	log_to_journal = 0;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	log_to_journal = (unsigned long long)st.st_dev == dev &&
			 (unsigned long long)st.st_ino == ino;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_LEVEL_ERR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warning";
	case LOG_LEVEL_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_write(int level, const char *module, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if (level > log_max_level)
		return;

	if (log_to_journal) {
		n = snprintf(line, sizeof(line), "<%d>%s %s: ", level,
			     level_name(level), module);
	} else {
		char ts[RFC3339_LEN];
		time_format_rfc3339_ms(time_real_ms(), ts);
		n = snprintf(line, sizeof(line), "%s %s %s: ", ts,
			     level_name(level), module);
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (m < 0) ? (size_t)n : (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2; /* long lines are cut, never split */
	/* One event is one line: a newline inside a value would forge another.
	 */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[len++] = '\n';
	/* A single write keeps lines from concurrent writers whole. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
