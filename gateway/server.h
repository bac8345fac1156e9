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
	/* Called on the submitting thread just before the reply goes asynchronous (a worker
	 * takes the call); may be NULL. The HTTP transport suspends the connection here. */
	void (*defer)(struct cx_exchange *x);
	/* Called exactly once, from the submitting thread or a worker. response is stolen:
	 * an object, an array (batch), or NULL when there is nothing to send. */
	void (*reply)(struct cx_exchange *x, json_t *response);
};

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

#endif
