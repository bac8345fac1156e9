/* What the HTTP transport's files share, and nothing outside them may use: struct cx_http,
 * struct req (one POST), the header names, and the helpers that queue answers.
 *
 *   transport_http.c  routing (the route table), admission (Host, Origin, token), sessions,
 *                     GET and DELETE, start-up and shutdown; the helpers below
 *   http_post.c       one POST from its first byte to its answer: defer, send, reply
 *   http_stream.c     SSE streams, replay, taps, the stream timer, the push sink (its header
 *                     carries the lock order)
 *   http_headers.c    pure parsers: addresses, Host, Origin, Accept, Content-Type
 *   http_stateless.c  the stateless revision's header checks
 *   http_loop.c       the HTTP threads: a daemon and a backend I/O loop each; cx_http_resume
 *   console.c         the console's files at / and /console/ (http_ops.h) */
#ifndef CX_HTTP_INTERNAL_H
#define CX_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/buf.h"
#include "../common/jsonrpc.h"
#include "http_headers.h"
#include "session.h"
#include "transport.h"
#include "server.h"

#define CT_JSON     CX_HTTP_CT_JSON
#define CT_SSE      CX_HTTP_CT_SSE
#define HDR_SESSION "Mcp-Session-Id"
#define HDR_VERSION "MCP-Protocol-Version"

struct sse_stream;
struct cx_http_watchers;
struct cx_http_feeds;

/* What a request's *con_cls points to starts with an int saying which it is: a POST /mcp
 * (struct req, calloc'd: 0) or a request of an operations route (struct cx_http_async). */
#define CX_HTTP_CTX_POST  0
#define CX_HTTP_CTX_ASYNC 1

/* One POST /mcp request, from its first access-handler call to NOTIFY_COMPLETED. */
struct req {
	int kind;             /* CX_HTTP_CTX_POST (0); first in whatever *con_cls points to */
	struct cx_exchange x; /* handed to the server; see req_of() */
	struct cx_http *h;
	struct MHD_Connection *conn;
	struct cx_buf body;
	size_t discarded;              /* bytes of a chunked body dropped past the cap */
	bool overflow;                 /* a chunked body passed the cap: 413 at its end */
	struct cx_rpc_counter members; /* a batch's members, counted as the body arrives */
	bool too_many;                 /* past calls.max_batch: the body is not kept */
	bool sse;                      /* _meta.progressToken: answer as an SSE stream */
	bool submitted;
	int fd;                 /* the socket, once deferred */
	struct cx_session sess; /* always initialised; released in req_free */

	pthread_mutex_t mu; /* the fields below are shared with the replying worker */
	bool deferred;      /* the connection was suspended to wait for reply() */
	bool waiting;       /* suspended in the access handler; the resumer clears */
	bool replied;
	bool orphaned; /* MHD finished the request first: reply() frees */
	bool out_oom;
	char *out; /* serialized answer; NULL for 202 */
	size_t out_len;
	struct sse_stream *ch; /* the answer is this stream (a reference) */
};

struct cx_http {
	struct cx_server *srv;
	const struct cx_gw_config *conf;
	struct cx_http_loop *loops; /* the HTTP threads (http_loop.c) */
	unsigned nloops;
	MHD_socket quiesced; /* the listen socket after quiesce; closed after stop */
	unsigned port;
	char sentinel; /* con_cls of requests already answered early */
	bool push_added;

	atomic_bool stopping;
	atomic_bool closing; /* streams end instead of waiting for more */
	/* Requests that may still suspend or be resumed: from submit until the answer is queued
	 * (synchronous) or until reply() has resumed the connection. */
	atomic_long active;
	/* Requests from their first handler call until MHD has sent their answer (completed):
	 * stop waits for them, so an answer given at the last moment is not cut off. */
	atomic_long requests;
	atomic_ulong ping_gen;
	atomic_uint_fast64_t next_chan;
	atomic_bool draining;              /* quiesced: /readyz answers 503 */
	struct cx_http_watchers *watchers; /* GET /v1/tasks/{id}/events (http_events.c) */
	struct cx_http_feeds *feeds;       /* GET /v1/events (http_feed.c) */

	pthread_mutex_t lock; /* streams, their refs and taps, the timer */
	pthread_cond_t wake;
	pthread_t timer;
	bool timer_started;
	bool timer_stop;
	unsigned push_rr; /* spreads pushed messages over a session's streams */
	unsigned long wake_mark;
	struct sse_stream *streams; /* newest first */
	struct cx_http_clients *clients;
};

/* ---- http_loop.c: the HTTP threads ---- */

struct cx_http_loop;
/* Starts one daemon (flags: external epoll mode) and one thread per threads (no more than the
 * connection limit in opts allows), which split that limit and share the listening socket
 * that the first binds at opts' address (h->port set). 0, or -1 with err and nothing left running.
 */
int cx_http_loops_start(struct cx_http *h, unsigned flags, uint16_t port,
			const struct MHD_OptionItem *opts, unsigned threads,
			MHD_AccessHandlerCallback on_request, struct cx_err *err);
/* With h->draining set: every thread stops accepting. The listening socket, for the caller to
 * close after cx_http_loops_stop; MHD_INVALID_SOCKET when the first thread did not answer. */
MHD_socket cx_http_loops_quiesce(struct cx_http *h);
/* Stops the threads, then the daemons (no connection may be suspended). */
void cx_http_loops_stop(struct cx_http *h);
/* MHD_resume_connection, and a turn of the daemon's thread to handle it. With no lock held. */
void cx_http_resume(struct cx_http *h, struct MHD_Connection *conn);

/* ---- transport_http.c: answers and sessions ---- */

/* A request header's value, or NULL. */
const char *cx_http_header(struct MHD_Connection *conn, const char *name);

/* ---- http_clients.c: each client's share of the server ---- */

#define CX_HTTP_CLIENT_KEY 96
/* A connection's client ("token NAME" or "peer ADDRESS"), once counted; the MHD socket
 * context of every connection. */
struct cx_http_share {
	char key[CX_HTTP_CLIENT_KEY];        /* the client of its first request: its connection */
	char stream_key[CX_HTTP_CLIENT_KEY]; /* the client whose GET stream it carries */
	bool stream;                         /* counted against stream_key's GET streams */
	size_t uri_len; /* the request's target as received, query included (http_strict.c) */
	bool uri_seen;  /* uri_len is this request's */
	bool path_nul;  /* its path (before any '?') holds "%00" */
};
struct cx_http_clients;
struct cx_http_clients *cx_http_clients_new(void);
void cx_http_clients_free(struct cx_http_clients *c);
/* Requests refused with 429 so far, for a client's GET streams or its connections (/metrics). */
unsigned long cx_http_clients_refused(const struct cx_http_clients *c, bool streams);
/* Counts the connection against its client (and, for a GET stream, the client's streams);
 * true with a 429 queued in *ret when the client is over http.max_connections_per_client or
 * http.max_streams_per_client. */
bool cx_http_share_refused(struct cx_http *h, struct MHD_Connection *conn,
			   const struct cx_principal *who, bool stream, enum MHD_Result *ret);
/* At the connection's close. */
void cx_http_share_release(struct cx_http *h, struct cx_http_share *sh);

/* ---- http_strict.c: framing checks before routing ---- */

/* libmicrohttpd's URI log callback (MHD_OPTION_URI_LOG_CALLBACK), called with the request
 * target as received (before percent-decoding and with its query string): keeps its length in
 * the connection's cx_http_share, so the framing check can measure the request head as it was
 * received. Returns NULL (no per-request context). */
void *cx_http_uri_seen(void *cls, const char *uri, struct MHD_Connection *conn);

/* True with the 400/501 answer queued in *ret when the request's headers break the rules
 * libmicrohttpd does not enforce: a control character in a value, a header that must come
 * once twice, Content-Length with Transfer-Encoding, a Transfer-Encoding other than chunked. */
bool cx_http_framing_refused(struct MHD_Connection *conn, const char *method, const char *version,
			     enum MHD_Result *ret);
/* A response with body (len bytes) and, unless NULL, a Content-Type. Takes body (malloc'd)
 * when must_free, also on failure. NULL on out of memory. */
struct MHD_Response *cx_http_resp_new(char *body, size_t len, bool must_free, const char *ctype);
/* Adds X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and X-Frame-Options: DENY
 * (cx_http_resp_new does for every answer it makes). 0, or -1 on out of memory. */
int cx_http_add_safety_headers(struct MHD_Response *r);
/* Queues r (may be NULL: out of memory, and MHD closes the connection) and drops our
 * reference. */
enum MHD_Result cx_http_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r);
/* An HTTP error with a JSON-RPC error body echoing id (borrowed; NULL: json null) and carrying
 * data (stolen; may be NULL); hname/hval: one extra header, or NULL. */
enum MHD_Result cx_http_send_rpc_error_id(struct MHD_Connection *conn, unsigned status, json_t *id,
					  int code, const char *msg, json_t *data,
					  const char *hname, const char *hval);
/* The same with id null and no data. */
enum MHD_Result cx_http_send_rpc_error(struct MHD_Connection *conn, unsigned status, int code,
				       const char *msg, const char *hname, const char *hval);
/* The same with code -32600 (invalid request) and no extra header. */
enum MHD_Result cx_http_send_invalid(struct MHD_Connection *conn, unsigned status, const char *msg);
/* 400 for an MCP-Protocol-Version header naming no supported version. */
enum MHD_Result cx_http_send_bad_version(struct MHD_Connection *conn, const char *v);
/* Opens the session named by Mcp-Session-Id into sess (release it either way). 0, or -1
 * with the error answer queued in *ret. version is the MCP-Protocol-Version header. */
int cx_http_open_session(struct cx_http *h, struct MHD_Connection *conn,
			 const struct cx_principal *who, const char *version,
			 struct cx_session *sess, enum MHD_Result *ret);

/* ---- http_post.c: POST /mcp ---- */

/* The first access-handler call of a POST: checks Accept, Content-Type and Content-Length,
 * then sets *con_cls to a new struct req, or queues the refusal. */
enum MHD_Result cx_http_post_start(struct cx_http *h, struct MHD_Connection *conn,
				   const struct cx_principal *who, void **con_cls);
/* Every later call: body bytes, then the submission, then (resumed) the answer. */
enum MHD_Result cx_http_post_data(struct req *r, const char *data, size_t *size);
/* MHD completed the request: frees r, or, when a worker still owes its answer, leaves that to
 * reply(). */
void cx_http_post_completed(struct req *r);

#endif
