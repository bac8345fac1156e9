#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static atomic_int log_level = CX_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void cx_log_set_level(enum cx_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum cx_log_level cx_log_get_level(void)
{
	return (enum cx_log_level)atomic_load(&log_level);
}

int cx_log_parse_level(const char *name, enum cx_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (name && !strcmp(name, level_names[i])) {
			*out = (enum cx_log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_v(enum cx_log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	char ts[32];
	size_t n;
	int k;

	if ((int)level < atomic_load(&log_level))
		return;
	cx_wall_iso8601(ts, sizeof(ts));
	k = snprintf(line, sizeof(line), "%s %-5s ", ts, level_names[level]);
	if (k < 0)
		return;
	n = (size_t)k;
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (k < 0)
		return;
	n += (size_t)k;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the line a line */
	line[n++] = '\n';
	/* One write per line so concurrent threads never interleave within a line. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void cx_log(enum cx_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}

int cx_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(CX_LOG_ERROR, fmt, ap);
	va_end(ap);
	return -1;
}

void cx_bug(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "BUG: %s:%d: %s\n", file, line, msg);
	abort();
}
