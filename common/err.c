#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cx_err_set(struct cx_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cx_err_prefix(struct cx_err *err, const char *fmt, ...)
{
	char prefix[CX_ERR_MSG_MAX];
	char old[CX_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0'; /* truncated, still a sentence */
	return -1;
}

void cx_err_clear(struct cx_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
