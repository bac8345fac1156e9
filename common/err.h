/* Errors as values: a sentence, and where the caller must tell failures apart a code, that
 * live on the caller's handle. */
#ifndef CX_ERR_H
#define CX_ERR_H

#include <stddef.h>

#define CX_ERR_MSG_MAX 512

struct cx_err {
	int code;                 /* 0; set by functions whose contract names codes
				   * (cx_token_read: 2 for a usage error, 1 otherwise) */
	char msg[CX_ERR_MSG_MAX]; /* lowercase, subject quoted, no full stop */
};

/* Fills err (may be NULL) and returns -1, so `return cx_err_set(err, ...)` reads well. */
int cx_err_set(struct cx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message: "config 'x': " + old message. Returns -1. */
int cx_err_prefix(struct cx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cx_err_clear(struct cx_err *err);

#endif
