/* 401 and 403 answers in the log: who was refused and why, never the token, and at most a
 * burst per minute so that a flood of bad requests cannot fill the disk. */
#ifndef CX_AUTHLOG_H
#define CX_AUTHLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Lines per window; past them refusals are counted, and the count is reported with the first
 * line of a later window. */
#define CX_AUTHLOG_BURST     20
#define CX_AUTHLOG_WINDOW_MS 60000

struct cx_ratelimit {
	int64_t window_start;  /* ms; 0 before the first line */
	unsigned logged;       /* lines in this window */
	unsigned long dropped; /* refusals not logged since the last line */
};

/* Whether a refusal at now_ms is logged. When it is, *dropped is how many were not since the
 * last one logged (and the count starts again). Not locked: the caller holds a lock. */
bool cx_ratelimit_admit(struct cx_ratelimit *rl, int64_t now_ms, unsigned long *dropped);

/* value (a header the client sent) made safe to log: printable ASCII only, others as '?',
 * cut at outlen - 1 with "..." at the end. */
void cx_authlog_sanitize(const char *value, char *out, size_t outlen);
/* The peer's address as text ("an unknown address" when there is none). */
void cx_authlog_peer(const struct sockaddr *sa, char *out, size_t outlen);

/* One refusal: "http: 403 from 192.0.2.7 (token 'ops'): Host 'x' is not ..." at warn level,
 * rate-limited across the process. peer may be NULL, token_name NULL when unknown; why is
 * the reason (never a token). */
void cx_authlog_refused(unsigned status, const struct sockaddr *peer, const char *token_name,
			const char *why);

/* The transport's call at a 401 or 403 on conn (a struct MHD_Connection): logs
 * "<subject> '<value>' <why>" ("<subject> <why>" when value is NULL), the client's address,
 * and for a 403 the name of the token the request carries if it is a valid one. value is
 * what the client sent (a Host or Origin), cut and made printable. */
struct MHD_Connection;
struct cx_server;
void cx_authlog_http(struct MHD_Connection *conn, const struct cx_server *srv, unsigned status,
		     const char *subject, const char *value, const char *why);

/* The token of an "Authorization: Bearer <token>" header (case-insensitive scheme, blanks
 * allowed), pointing into header; NULL when there is none. */
const char *cx_auth_bearer(const char *header);

#endif
