/* Diagnostics go to stderr, always: in stdio mode stdout carries protocol messages only. */
#ifndef CX_LOG_H
#define CX_LOG_H

enum cx_log_level {
	CX_LOG_DEBUG,
	CX_LOG_INFO,
	CX_LOG_WARN,
	CX_LOG_ERROR,
	CX_LOG_OFF
};

void cx_log_set_level(enum cx_log_level level);
enum cx_log_level cx_log_get_level(void);
/* "debug", "info", "warn", "error", "off"; 0 or -1 for an unknown name. */
int cx_log_parse_level(const char *name, enum cx_log_level *out);

/* One line: "2026-11-29T04:05:35.123Z info  message". Thread-safe, one write(2) per line. */
void cx_log(enum cx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cx_debug(...) cx_log(CX_LOG_DEBUG, __VA_ARGS__)
#define cx_info(...)  cx_log(CX_LOG_INFO, __VA_ARGS__)
#define cx_warn(...)  cx_log(CX_LOG_WARN, __VA_ARGS__)

/* Logs at error level and returns -1 (git's error()). */
int cx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A broken invariant: a bug in Cortex, never bad input or a failing backend (git's BUG()).
 * Writes "BUG: file:line: message" to stderr whatever the log level, then aborts, so a core
 * dump or the sanitizers show where. Kept in release builds. */
#define CX_BUG(...) cx_bug(__FILE__, __LINE__, __VA_ARGS__)
#define CX_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			cx_bug(__FILE__, __LINE__, "assertion failed: %s", #cond);                 \
	} while (0)
_Noreturn void cx_bug(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
