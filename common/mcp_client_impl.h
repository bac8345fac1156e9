/* What mcp_client.c (sessions, requests, the public calls) and mcp_client_http.c (one HTTP
 * exchange on libcurl, SSE parsing, cancellation) share; nothing else may use it.
 *
 * Locks: cx_mcp_client.init_mu (one initialize at a time) is taken before cx_mcp_client.mu;
 * cx_mcp_cancel.mu is taken alone. No lock is held during a transfer. */
#ifndef CX_MCP_CLIENT_IMPL_H
#define CX_MCP_CLIENT_IMPL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mcp_client.h"

#define MCP_HDR_SESSION "Mcp-Session-Id"
#define MCP_HDR_VERSION "MCP-Protocol-Version"
#define MCP_SESSION_MAX 4096 /* the gateway accepts ids up to 4 KiB */

/* A connection: a multi handle with its one easy handle, which keeps the connection cache
 * (the multi owns it) between requests. */
struct mcp_conn {
	CURLM *m;
	CURL *e;
	bool used; /* it carried a request before: its connection may be reused */
	struct mcp_conn *next;
};

struct cx_mcp_cancel {
	pthread_mutex_t mu;
	bool cancelled;
	char reason[160];
	CURLM *active; /* the transfer to wake, while one runs with this handle */
};

struct cx_mcp_client {
	char *url;
	char *auth; /* "Authorization: Bearer <token>", or NULL; wiped when freed */
	char *client_name;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_response;
	atomic_llong next_id;

	pthread_mutex_t init_mu; /* held across initialize, so only one thread starts a session */
	pthread_mutex_t mu;      /* everything below */
	char *session_id;        /* NULL: no session */
	char version[16];        /* negotiated protocolVersion */
	json_t *server_info;     /* initialize's result */
	unsigned long gen;       /* bumped by every new session */
	struct mcp_conn *idle;   /* the pool */
};

/* One exchange: a POST of body (or a DELETE when body is NULL, a GET when get is set). */
struct mcp_xfer {
	const char *body;
	bool get;                      /* the session's GET stream: messages go to on_message */
	cx_mcp_message_fn *on_message; /* GET only: every message, and NULL when it opened */
	void *msg_ctx;
	size_t body_len;
	const char *session;          /* Mcp-Session-Id to send, or NULL */
	const char *version;          /* MCP-Protocol-Version to send, or NULL */
	json_int_t id;                /* the response awaited (SSE events are matched by it) */
	cx_mcp_progress_fn *progress; /* progress notifications for token id, or NULL */
	void *ctx;
	struct cx_mcp_cancel *cancel; /* may be NULL */
	int64_t deadline_ms;          /* cx_now_ms() scale */

	/* Results. */
	long status;       /* the HTTP status (0: none came) */
	char *new_session; /* the Mcp-Session-Id header of the answer (malloc'd), or NULL */
	json_t *msg;       /* the JSON-RPC response with id (JSON body or SSE event), or NULL */
	char *body_text;   /* a non-JSON body (malloc'd, capped), or NULL */
	bool sse;          /* the answer was an event stream */
	bool stream_cut;   /* the stream ended before the response */
	bool unsent;       /* cancelled before a byte was sent */
};

/* Runs x on a pooled connection. 0 when an HTTP answer came (x->status, x->msg and the rest
 * set; release with mcp_xfer_release), or a negative cx_mcp_status with err set:
 * unreachable, timeout, cancelled, too big, out of memory. */
int mcp_xfer_run(struct cx_mcp_client *c, struct mcp_xfer *x, struct cx_err *err);
void mcp_xfer_release(struct mcp_xfer *x);
void mcp_conn_free(struct mcp_conn *k);

/* Writes the sentence into err (code 0) and returns status, a negative cx_mcp_status. */
int mcp_fail(struct cx_err *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
