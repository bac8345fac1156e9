/* One JSON line per tools/call, to a file (appended, survives restarts) or stderr. */
#ifndef CX_AUDIT_H
#define CX_AUDIT_H

#include <jansson.h>

#include "err.h"

struct cx_audit;

enum cx_audit_outcome {
	CX_AUDIT_OK,
	CX_AUDIT_IS_ERROR,
	CX_AUDIT_REFUSED,
	CX_AUDIT_ERROR
};

struct cx_audit_rec {
	const char *caller;  /* token name, "stdio" or "anonymous" */
	const char *session; /* short session fingerprint, or NULL */
	const char *tool;
	const json_t *args; /* redacted (redact.h) and cut by the audit log itself */
	enum cx_audit_outcome outcome;
	long duration_ms;
	const char *detail; /* why refused / error text, or NULL */
	const char *via;    /* a transport other than MCP ("rest"), or NULL: no "via" field */
};

/* path NULL means stderr. The file is opened O_APPEND|O_CREAT, mode 0600. */
struct cx_audit *cx_audit_open(const char *path, struct cx_err *err);
/* Thread-safe; one write(2) per record. Failures are logged, never fatal to the call. */
void cx_audit_write(struct cx_audit *a, const struct cx_audit_rec *rec);
/* Opens the file again by its path (after log rotation moved it; SIGHUP). Lines written
 * meanwhile go to the old file. 0, or -1 with the old file kept. */
int cx_audit_reopen(struct cx_audit *a, struct cx_err *err);
void cx_audit_close(struct cx_audit *a);
/* Lines longer than this have their arguments cut, with a "truncated" member saying how. */
#define CX_AUDIT_MAX_LINE_DEFAULT 16384
void cx_audit_set_max_line(struct cx_audit *a, size_t max_line);

const char *cx_audit_outcome_name(enum cx_audit_outcome o);

#endif
