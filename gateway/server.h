/* The transport-neutral core: sessions, protocol methods, dispatch of tool calls.
 * Transports turn bytes into JSON and hand each message to cx_server_submit(). */
#ifndef CX_SERVER_H
#define CX_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"
#include "session.h"

struct cx_server;
struct cx_audit;

/* Who is calling: resolved by the transport (a token, stdio, or anonymous loopback). */
struct cx_principal {
	const char *name;                       /* audit caller */
	const char *const *allow;               /* globs, NULL-terminated; NULL allows all */
	bool read_only;
};

/* One client message in flight. Owned by the transport; must stay valid until reply(). */
struct cx_exchange {
	const struct cx_principal *who;
	/* Session state, never NULL. stdio: the transport's one session, updated by
	 * initialize. HTTP: opened from Mcp-Session-Id, or empty for initialize. */
	struct cx_session *session;
	bool session_ready;             /* initialize has completed on this session */
	/* Set by the server when initialize succeeded over a transport that needs an id
	 * (want_session_id): the new sealed id, caller frees. */
	bool want_session_id;
	char *new_session_id;
	/* The stateless revision (2026-07-28): no session; the transport sets this from the
	 * MCP-Protocol-Version header and fills session->version with it. The server takes
	 * each request's client capabilities and info from params._meta. */
	bool stateless;
	/* Set by the server when an error has an HTTP status of its own in the stateless
	 * revision (400 for header and _meta errors, 404 for methods it does not have); 0 lets
	 * the transport choose. */
	int http_status;
	/* Called on the submitting thread just before the reply goes asynchronous (a worker
	 * takes the call); may be NULL. The HTTP transport suspends the connection here. */
	void (*defer)(struct cx_exchange *x);
	/* Called exactly once, from the submitting thread or a worker. response is stolen:
	 * an object, an array (batch), or NULL when there is nothing to send (notifications,
	 * responses, and a request the client cancelled). */
	void (*reply)(struct cx_exchange *x, json_t *response);
	/* Sends a message to the client before the reply, on this exchange's own stream
	 * (notifications/progress, notifications/message, a server-to-client request). Only
	 * called after defer(), from a worker, never after reply(). HTTP: turns the POST's
	 * answer into an SSE stream; stdio: one line. Steals msg. 0, or -1 when the message
	 * cannot be delivered. NULL: this transport cannot send early. */
	int (*send)(struct cx_exchange *x, json_t *msg);
};

/* Messages that belong to a session rather than to a request (notifications/resources/updated,
 * notifications/.../list_changed) go to every registered sink; a sink delivers those for the
 * sessions it serves (fp "" is the stdio session) to the session's open streams. Steals msg;
 * returns how many streams took it. Called from any thread. */
typedef int (*cx_push_fn)(void *ctx, const char *session_fp, json_t *msg);
int cx_server_add_push(struct cx_server *s, cx_push_fn fn, void *ctx);
void cx_server_remove_push(struct cx_server *s, cx_push_fn fn, void *ctx);
/* Hands msg (stolen) to every sink for session fp; returns how many streams took it. */
int cx_server_push(struct cx_server *s, const char *fp, json_t *msg);

struct cx_server *cx_server_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				struct cx_audit *audit, struct cx_err *err);
/* Starts the worker pool. */
int cx_server_start(struct cx_server *s, struct cx_err *err);

/* Handles one message or batch (steals msg). version is the protocol version the transport
 * knows for this message (session or header), or NULL before initialize. */
void cx_server_submit(struct cx_server *s, struct cx_exchange *x, json_t *msg);

/* Stops taking new calls, waits for in-flight ones (each bounded by its deadline) and stops
 * the workers. Returns how many workers were still inside a handler after a short grace:
 * then the server and the registry must not be freed (the caller exits instead). */
size_t cx_server_drain(struct cx_server *s);
void cx_server_free(struct cx_server *s);

/* Principals. auth_required is true when tokens are configured. authenticate looks up the
 * SHA-256 of a bearer token (constant time); NULL for an unknown token. */
bool cx_server_auth_required(const struct cx_server *s);
const struct cx_principal *cx_server_authenticate(const struct cx_server *s, const char *token);
const struct cx_principal *cx_server_anonymous(const struct cx_server *s);   /* "anonymous" */
const struct cx_principal *cx_server_stdio_principal(const struct cx_server *s); /* "stdio" */

const unsigned char *cx_server_session_key(const struct cx_server *s);
const struct cx_gw_config *cx_server_config(const struct cx_server *s);

/* The published tools/list entry of a registered tool (borrowed, never mutated, valid while
 * the server lives), or NULL for an unknown name. Any thread. The HTTP transport reads the
 * x-mcp-header annotations of its inputSchema. */
const json_t *cx_server_tool_def(const struct cx_server *s, const char *name);

/* A session ended (HTTP DELETE): forget its subscriptions and log level. */
void cx_server_session_ended(struct cx_server *s, const char *fp);

/* For gateway/tasks.c. Runs rt as a job that answers on the task's own exchange tx (which
 * must outlive the job), with the client's answers so far (responses, stolen on success) and its
 * own deadline; id, params and args are borrowed. -1 on out of memory (tx is not answered). */
int cx_server_run_task(struct cx_server *s, struct cx_exchange *tx, const struct cx_reg_tool *rt,
		       json_t *id, json_t *params, json_t *args, json_t *responses,
		       int64_t deadline_ms);
/* Cancels the unanswered job answering on tx, if any: the handler sees cx_call_cancelled()
 * and tx->reply() gets NULL. */
void cx_server_cancel_task(struct cx_server *s, const struct cx_exchange *tx);

#endif
