/* The MCP methods the gateway answers, as data: one row per method says what it needs (an
 * initialized session, which revisions have it, which params member the stateless revision's
 * Mcp-Name header repeats, whether calls are audited), and one generic path in server.c
 * applies those rules to every method, as Redis's command table does. */
#ifndef CX_METHODS_H
#define CX_METHODS_H

#include <jansson.h>
#include <stdbool.h>

#include "exchange.h"

#define CX_SERVER_NAME  "cortex-gateway"
#define CX_SERVER_TITLE "Cortex"
#define CX_SERVER_INSTRUCTIONS                                                                     \
	"Cortex exposes an operator's infrastructure as tools. Call gateway_status first to see "  \
	"which adapters are configured and healthy. Tools marked destructiveHint change or "       \
	"delete real systems."

struct cx_server;

/* Answers the request exactly once (reply() on x, now or from a worker). */
typedef void (*cx_method_fn)(struct cx_server *s, struct cx_exchange *x, json_t *id,
			     json_t *params);

/* Which protocol revisions have a method. */
enum {
	CX_IN_SESSIONS = 1,  /* 2025-03-26, 2025-06-18, 2025-11-25 (initialize) */
	CX_IN_STATELESS = 2, /* 2026-07-28 (server/discover, per-request _meta) */
	CX_IN_BOTH = 3,
};

struct cx_method {
	const char *name;
	cx_method_fn fn;
	bool before_init;        /* may come before initialize has completed */
	unsigned revisions;      /* CX_IN_* */
	const char *name_member; /* the params member Mcp-Name repeats, or NULL */
	bool audited;            /* one audit line per call (tools/call) */
};

/* The row for name, or NULL for a method the gateway does not have. */
const struct cx_method *cx_method_find(const char *name);

/* The params member the stateless revision's Mcp-Name header repeats for method ("name",
 * "uri", "taskId"), or NULL. For the HTTP transport's header checks. */
const char *cx_method_name_member(const char *method);

/* The names in a request's params — name, uri, taskId, ref.name, ref.uri, argument.name and
 * the keys of arguments — must hold no control character (cx_has_ctl): else a tool named
 * "x\u0000evil" would run x. 0, or -1 with msg set to the -32602 message. */
int cx_method_params_check(const json_t *params, char *msg, size_t msglen);

#endif
