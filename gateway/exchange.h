/* Who is calling and the one message in flight: what a transport hands the server core, and
 * what every part of the core (methods, jobs, tasks, the per-call stream) answers through.
 * Only types live here, so that the modules which answer requests need not know the server. */
#ifndef CX_EXCHANGE_H
#define CX_EXCHANGE_H

#include <jansson.h>
#include <stdbool.h>

#include "session.h"

/* Who is calling: resolved by the transport (a token, stdio, or anonymous loopback). Lives as
 * long as the server. */
struct cx_principal {
	const char *name;         /* audit caller */
	const char *const *allow; /* globs, NULL-terminated; NULL allows all */
	bool read_only;
};

/* One client message in flight. Owned by the transport; must stay valid until reply(). The
 * server reads its fields only on the submitting thread, and until reply() is called; a worker
 * copies what it needs when the job is made (see gateway/jobs.h). */
struct cx_exchange {
	const struct cx_principal *who;
	/* Session state, never NULL. stdio: the transport's one session, updated by
	 * initialize. HTTP: opened from Mcp-Session-Id, or empty for initialize. */
	struct cx_session *session;
	/* The transport vouches that initialize has completed (a request that carried a valid
	 * session id, or a stateless request). The server also counts a session whose version
	 * is set (stdio, after initialize). */
	bool initialized;
	/* Set by the server when initialize succeeded over a transport that needs an id
	 * (want_session_id): the new sealed id, caller frees. */
	bool want_session_id;
	char *new_session_id;
	/* The stateless revision (2026-07-28): no session; the transport sets this from the
	 * MCP-Protocol-Version header and fills session->version with it. The server takes
	 * each request's client capabilities and info from params._meta. */
	bool stateless;
	/* The transport when it is not MCP ("rest"): the audit line's "via". NULL for MCP. */
	const char *via;
	/* Set by the server, just before reply(), when an error has an HTTP status of its own in
	 * the stateless revision (400 for header and _meta errors, 404 for methods it does not
	 * have); 0 lets the transport choose. */
	int http_status;
	/* Called on the submitting thread just before the reply goes asynchronous (a worker
	 * takes the call); may be NULL. The HTTP transport suspends the connection here. */
	void (*defer)(struct cx_exchange *x);
	/* Called exactly once, from the submitting thread, a worker or the watchdog. response
	 * is stolen: an object, an array (batch), or NULL when there is nothing to send
	 * (notifications, responses, and a request the client cancelled). A request always
	 * gets a response, even when memory ran out (see cx_reply_error). */
	void (*reply)(struct cx_exchange *x, json_t *response);
	/* Sends a message to the client before the reply, on this exchange's own stream
	 * (notifications/progress, notifications/message, a server-to-client request). Only
	 * called after defer(), from a worker, never after reply(). Must not block on the
	 * client: the caller holds the call's stream lock, which the deadline watchdog takes.
	 * HTTP: turns the POST's answer into an SSE stream; stdio: queues one line for the
	 * writer thread. Steals msg. 0, or -1 when the message cannot be delivered. NULL: this
	 * transport cannot send early. */
	int (*send)(struct cx_exchange *x, json_t *msg);
};

/* The session key an exchange's calls are filed under (cancellation, subscriptions, log
 * levels, answers to server-to-client requests): the session's fingerprint, "" for stdio. */
static inline const char *cx_exchange_fp(const struct cx_exchange *x)
{
	return x->session ? x->session->fp : "";
}

#endif
