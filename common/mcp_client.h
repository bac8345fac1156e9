/* A client of the Cortex gateway over MCP Streamable HTTP (2025-11-25), on libcurl.
 *
 * - One client serves many threads at once: every request runs on its caller's thread over a
 *   connection of its own taken from the client's pool; the session (Mcp-Session-Id and the
 *   negotiated MCP-Protocol-Version) is shared and guarded by the client.
 * - The session starts lazily (or with cx_mcp_client_connect): initialize, then
 *   notifications/initialized. A 404 to a request that carried the session id means the gateway
 *   no longer knows it (restarted with another session key, expired, deleted): the client
 *   initializes once more and retries the request once.
 * - tools/call with a progress callback sends a progress token, and the gateway answers with an
 *   SSE stream: progress notifications reach the callback (on the caller's thread) while the
 *   call runs, then the result. Without one the answer is JSON.
 * - Cancellation: cx_mcp_cancel() from any thread aborts the transfer at once; the calling
 *   thread then sends notifications/cancelled with the request id (so the gateway frees its
 *   worker) and returns CX_MCP_E_CANCELLED. A call that runs past its deadline is cancelled the
 *   same way and returns CX_MCP_E_TIMEOUT.
 * - A tool's own failure (result.isError) is a result, returned as 0: the model gets to read
 *   it. Errors are transport, HTTP and JSON-RPC failures, each one sentence in err->msg. The
 *   bearer token never appears in an error text. */
#ifndef CX_MCP_CLIENT_H
#define CX_MCP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CX_MCP_CLIENT_URL_DEFAULT "http://127.0.0.1:8080/mcp"
#define CX_MCP_CLIENT_VERSION     "2025-11-25"

/* What a call returns: 0, or one of these (err->msg says more). */
enum cx_mcp_status {
	CX_MCP_OK = 0,
	CX_MCP_E_UNREACHABLE = -1, /* no connection (refused, DNS), or it broke before the
				    * answer (then the request may have been carried out) */
	CX_MCP_E_AUTH = -2,        /* 401 or 403: the token is missing, wrong or not allowed */
	CX_MCP_E_RPC = -3,         /* a JSON-RPC error: err->code is its code */
	CX_MCP_E_HTTP = -4,        /* another HTTP status the call cannot use */
	CX_MCP_E_PROTOCOL = -5,    /* an answer that is not MCP: bad JSON, no result, too big */
	CX_MCP_E_TIMEOUT = -6,     /* the deadline passed (the gateway was told to cancel) */
	CX_MCP_E_CANCELLED = -7,   /* cx_mcp_cancel() (the gateway was told to cancel) */
	CX_MCP_E_INTERNAL = -8,    /* out of memory, libcurl refused an option */
};

struct cx_mcp_client;
struct cx_mcp_cancel;

struct cx_mcp_client_opts {
	const char *url;           /* NULL: $CORTEX_GATEWAY_URL, else CX_MCP_CLIENT_URL_DEFAULT */
	const char *token;         /* NULL: $CORTEX_TOKEN (none when unset); "": none (copied) */
	const char *client_name;   /* clientInfo.name; NULL: "cortex-mcp-client" */
	long connect_timeout_ms;   /* 0: 5000 */
	long timeout_ms;           /* a request's deadline when its call gives none; 0: 300000 */
	size_t max_response_bytes; /* one JSON answer or one SSE event; 0: 16 MiB */
};

/* Checks o (copied) and builds the client; no connection is made. Call cx_http_global_init()
 * or curl_global_init() once before any thread starts. NULL with err naming the bad setting. */
struct cx_mcp_client *cx_mcp_client_new(const struct cx_mcp_client_opts *o, struct cx_err *err);
/* Ends the session (DELETE) when there is one, then frees c; after every call has returned. */
void cx_mcp_client_free(struct cx_mcp_client *c);

/* Starts the session now (it otherwise starts with the first request). 0 or a status. */
int cx_mcp_client_connect(struct cx_mcp_client *c, struct cx_err *err);
/* The gateway's initialize result (serverInfo, capabilities, instructions): a new reference,
 * or NULL before the session started. */
json_t *cx_mcp_client_server_info(struct cx_mcp_client *c);
/* The current Mcp-Session-Id copied into out ("" when none); false when it did not fit. */
bool cx_mcp_client_session_id(struct cx_mcp_client *c, char *out, size_t outlen);
/* The URL the client talks to (borrowed, lives as long as c). */
const char *cx_mcp_client_url(const struct cx_mcp_client *c);

/* A progress notification of a running call: total < 0 when the server gave none, message
 * NULL when it gave none. Called on the calling thread, from inside the transfer: keep it
 * short and do not call the client from it. */
typedef void cx_mcp_progress_fn(void *ctx, double progress, double total, const char *message);

struct cx_mcp_call_opts {
	cx_mcp_progress_fn *progress; /* NULL: no progress token, the answer comes as JSON */
	void *ctx;                    /* progress's first argument */
	struct cx_mcp_cancel *cancel; /* cancels the call from another thread; may be NULL */
	long timeout_ms;              /* 0: the client's timeout_ms */
};

/* A cancellation handle for one call at a time (reusable after cx_mcp_cancel_reset). */
struct cx_mcp_cancel *cx_mcp_cancel_new(void);
void cx_mcp_cancel_free(struct cx_mcp_cancel *k);
/* Any thread, any time: the call using k (now or later) stops at once. reason (copied, may be
 * NULL) goes to the gateway in notifications/cancelled. */
void cx_mcp_cancel(struct cx_mcp_cancel *k, const char *reason);
bool cx_mcp_cancelled(struct cx_mcp_cancel *k);
void cx_mcp_cancel_reset(struct cx_mcp_cancel *k);

/* Any request: params borrowed (NULL: none); *result is the response's result (a new
 * reference) when 0 is returned. o may be NULL. */
int cx_mcp_request(struct cx_mcp_client *c, const char *method, json_t *params,
		   const struct cx_mcp_call_opts *o, json_t **result, struct cx_err *err);

/* One page of tools/list: *result is {"tools": [...], "nextCursor"?}; cursor NULL for the
 * first page. */
int cx_mcp_list_tools_page(struct cx_mcp_client *c, const char *cursor, json_t **result,
			   struct cx_err *err);
/* Every tool, all pages followed: *tools is the array (a new reference). A cursor loop that
 * does not end (more than 10000 pages, or a cursor repeated) is CX_MCP_E_PROTOCOL. */
int cx_mcp_list_tools(struct cx_mcp_client *c, json_t **tools, struct cx_err *err);

/* tools/call name with args (borrowed; NULL: {}). *result is the CallToolResult, isError
 * results included. o may be NULL. */
int cx_mcp_call_tool(struct cx_mcp_client *c, const char *name, json_t *args,
		     const struct cx_mcp_call_opts *o, json_t **result, struct cx_err *err);

/* A message the gateway sent on the session's GET stream (a notification, or a request to the
 * client; borrowed), or NULL once, when the stream has opened (the gateway queues messages for
 * the session from then on: subscribe after it). Called on the listening thread, from inside
 * the transfer: keep it short and do not call the client from it. Return true to stop. */
typedef bool cx_mcp_message_fn(void *ctx, const json_t *msg);

/* Opens the session's GET stream (starting the session if there is none) and hands fn every
 * message on it until fn returns true or the gateway ends the stream (0 in both cases),
 * o->cancel is cancelled (CX_MCP_E_CANCELLED) or o->timeout_ms passes (CX_MCP_E_TIMEOUT; 0
 * here means no deadline). A refusal is CX_MCP_E_AUTH; a gateway without GET streams (405),
 * or one that no longer knows the session (404), is CX_MCP_E_HTTP. o may be NULL; its
 * progress is not used. The session is not renewed here: subscriptions belong to it. */
int cx_mcp_listen(struct cx_mcp_client *c, cx_mcp_message_fn *fn, void *ctx,
		  const struct cx_mcp_call_opts *o, struct cx_err *err);

/* "gateway unreachable", "unauthorized", ...: a short name for a status. */
const char *cx_mcp_status_name(int status);

#endif
