/* Diagnostics go to stderr, always: in stdio mode stdout carries protocol messages only. */
#ifndef CX_LOG_H
#define CX_LOG_H

enum cx_log_level { CX_LOG_DEBUG, CX_LOG_INFO, CX_LOG_WARN, CX_LOG_ERROR, CX_LOG_OFF };

void cx_log_set_level(enum cx_log_level level);
enum cx_log_level cx_log_get_level(void);
/* "debug", "info", "warn", "error", "off"; 0 or -1 for an unknown name. */
int cx_log_parse_level(const char *name, enum cx_log_level *out);

/* One line: "2026-11-29T04:05:35.123Z info  message". Thread-safe, one write(2) per line. */
void cx_log(enum cx_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cx_debug(...) cx_log(CX_LOG_DEBUG, __VA_ARGS__)
#define cx_info(...)  cx_log(CX_LOG_INFO, __VA_ARGS__)
#define cx_warn(...)  cx_log(CX_LOG_WARN, __VA_ARGS__)

/* Logs at error level and returns -1 (git's error()). */
int cx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
