/* Streamable HTTP at /mcp (MCP 2025-03-26, 2025-06-18, 2025-11-25) on libmicrohttpd.
 *
 * The stateless revision (2026-07-28) shares the endpoint: a POST without Mcp-Session-Id whose
 * MCP-Protocol-Version names no revision with initialize is one self-contained request. Its
 * standard headers (Mcp-Method, Mcp-Name, Mcp-Param-*) are checked against the body by
 * http_stateless.c; the server checks its _meta. It has no GET streams and no DELETE (405).
 *
 * Threading: every callback of the transport runs on one of the HTTP threads (http_loop.c: each
 * runs a daemon of its own and a backend I/O loop) except reply() and send(), which a worker may
 * call, and the push sink, which any thread may call. A message that goes to a worker suspends
 * its connection in defer(); the worker stores the serialized answer and resumes the connection
 * in reply() (cx_http_resume); MHD then calls the access handler again, which queues what was
 * stored. A fast-path call is answered the same way by the HTTP thread's own loop. Nothing here
 * blocks an HTTP thread or polls.
 *
 * SSE streams, their replay buffers, the stream timer and the push sink are in http_stream.c;
 * its header, http_stream.h, names the order locks are taken in (req.mu, cx_http.lock,
 * sse_stream.mu) and the rule that MHD_resume_connection is called with none held. One POST's life
 * is in http_post.c; the pure header parsers in http_headers.c and http_stateless.c;
 * http_internal.h lists the files. What stays here: the route table, admission (Host, Origin,
 * token), sessions, GET and DELETE, start-up and shutdown.
 *
 * Shutdown contract: cx_http_quiesce(), then cx_server_drain(), then cx_http_stop().
 * libmicrohttpd aborts the process when it is stopped with a connection still suspended, so
 * cx_http_stop() ends the streams and waits for answers still owed before it stops MHD. */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "authlog.h"
#include "http_async.h"
#include "http_headers.h"
#include "http_internal.h"
#include "http_ops.h"
#include "revoke.h"
#include "http_stateless.h"
#include "http_stream.h"
#include "listen.h"

#define MCP_PATH          "/mcp"
#define HEALTH_PATH       "/healthz"
#define READY_PATH        "/readyz"
#define METRICS_PATH      "/metrics"
#define REST_PREFIX       "/v1/"
#define CONSOLE_ROOT      "/"
#define CONSOLE_PREFIX    "/console/"
#define ALLOW_REST        "GET, HEAD, POST, PUT, PATCH, DELETE" /* each path answers its own 405 */
#define HDR_LAST_EVENT_ID "Last-Event-ID"
#define ALLOW_MCP         "GET, POST, DELETE"

/* Not a JSON-RPC standard code: the MCP specification's answer for an unknown session. */
#define RPC_SESSION_NOT_FOUND (-32001)

/* How long cx_http_stop waits for answers still owed to suspended connections. */
#define STOP_WAIT_MS 10000

const char *cx_http_header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* ---- responses ---- */

struct MHD_Response *cx_http_resp_new(char *body, size_t len, bool must_free, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, body,
					    must_free ? MHD_RESPMEM_MUST_FREE
						      : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (must_free)
			free(body);
		return NULL;
	}
	if ((ctype && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_NO) ||
	    cx_http_add_safety_headers(r)) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

int cx_http_add_safety_headers(struct MHD_Response *r)
{
	/* Nothing the gateway answers is meant to be sniffed, framed, or told where it was
	 * linked from; a JSON answer opened in a tab stays text. */
	if (MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_NO ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY") == MHD_NO)
		return -1;
	return 0;
}

enum MHD_Result cx_http_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status, const char *body,
				   const char *ctype)
{
	return cx_http_queue(conn, status,
			     cx_http_resp_new((char *)body, strlen(body), false, ctype));
}

enum MHD_Result cx_http_send_rpc_error_id(struct MHD_Connection *conn, unsigned status, json_t *id,
					  int code, const char *msg, json_t *data,
					  const char *hname, const char *hval)
{
	struct MHD_Response *r;
	json_t *e = cx_rpc_error(id, code, msg, data);
	char *s = e ? cx_json_dumps(e, NULL) : NULL;

	json_decref(e);
	if (!s)
		return MHD_NO;
	r = cx_http_resp_new(s, strlen(s), true, CT_JSON);
	if (r && hname && MHD_add_response_header(r, hname, hval) == MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, status, r);
}

enum MHD_Result cx_http_send_rpc_error(struct MHD_Connection *conn, unsigned status, int code,
				       const char *msg, const char *hname, const char *hval)
{
	return cx_http_send_rpc_error_id(conn, status, NULL, code, msg, NULL, hname, hval);
}

enum MHD_Result cx_http_send_invalid(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return cx_http_send_rpc_error(conn, status, CX_RPC_INVALID_REQUEST, msg, NULL, NULL);
}

/* ---- sessions ---- */

enum MHD_Result cx_http_send_bad_version(struct MHD_Connection *conn, const char *v)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "bad request: unsupported MCP-Protocol-Version '%.40s'", v);
	return cx_http_send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
}

/* The MCP-Protocol-Version header, which must name a supported version when present: NULL
 * when absent; *bad with the 400 answer queued in *ret otherwise. */
static const char *protocol_version(struct MHD_Connection *conn, bool *bad, enum MHD_Result *ret)
{
	const char *v = cx_http_header(conn, HDR_VERSION);

	*bad = v && !cx_mcp_version_supported(v);
	if (*bad) {
		*ret = cx_http_send_bad_version(conn, v);
		return NULL;
	}
	return v;
}

int cx_http_open_session(struct cx_http *h, struct MHD_Connection *conn,
			 const struct cx_principal *who, const char *version,
			 struct cx_session *sess, enum MHD_Result *ret)
{
	const char *id = cx_http_header(conn, HDR_SESSION);
	char msg[160];

	cx_session_init(sess);
	if (!id || !*id) {
		*ret = cx_http_send_invalid(
			conn, MHD_HTTP_BAD_REQUEST,
			"bad request: missing Mcp-Session-Id header; send initialize "
			"first and echo the id it returns");
		return -1;
	}
	if (cx_session_open(cx_server_session_key(h->srv), id, h->conf->session_ttl_s, sess) !=
		    CX_SESSION_OK ||
	    cx_session_revoked(sess) || strcmp(sess->subject, who->name) != 0) {
		/* A session belongs to the token that created it: another token holding
		 * the id is answered as if the session did not exist. */
		*ret = cx_http_send_rpc_error(
			conn, MHD_HTTP_NOT_FOUND, RPC_SESSION_NOT_FOUND,
			"session not found; send initialize to start a new one", NULL, NULL);
		return -1;
	}
	/* The header SHOULD repeat the negotiated version; another revision that also has
	 * sessions is tolerated (the session's version stays in force: some clients send
	 * 2025-03-26 on every request), the stateless revision is a different protocol. */
	if (version && strcmp(version, sess->version) != 0 &&
	    (!strcmp(version, CX_MCP_STATELESS) || !strcmp(sess->version, CX_MCP_STATELESS))) {
		snprintf(msg, sizeof(msg),
			 "bad request: MCP-Protocol-Version '%.20s' does not match the session's "
			 "'%s'",
			 version, sess->version);
		*ret = cx_http_send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
		return -1;
	}
	return 0;
}

/* ---- GET streams ---- */

/* A new GET stream, or with Last-Event-ID the resumption of the stream that id belongs to:
 * the events after it, then live ones (a POST's stream ends after its answer). */
static enum MHD_Result handle_get(struct cx_http *h, struct MHD_Connection *conn,
				  const struct cx_principal *who)
{
	const union MHD_ConnectionInfo *ci;
	struct cx_session sess;
	const char *version;
	enum MHD_Result ret;
	struct tap *t;
	bool json, sse, bad;
	int rc;

	cx_http_parse_accept(cx_http_header(conn, MHD_HTTP_HEADER_ACCEPT), &json, &sse);
	if (!sse)
		return cx_http_send_invalid(conn, MHD_HTTP_NOT_ACCEPTABLE,
					    "not acceptable: a GET stream needs Accept: "
					    "text/event-stream");
	version = protocol_version(conn, &bad, &ret);
	if (bad)
		return ret;
	if (cx_http_open_session(h, conn, who, version, &sess, &ret)) {
		cx_session_release(&sess);
		return ret;
	}
	if (atomic_load(&h->stopping)) {
		cx_session_release(&sess);
		return cx_http_send_invalid(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					    "service unavailable: the gateway is shutting down");
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	t = cx_http_tap_new(h, conn, ci ? ci->connect_fd : -1, NULL);
	if (!t) {
		cx_session_release(&sess);
		return MHD_NO;
	}
	rc = cx_http_stream_open_get(h, t, sess.fp, cx_http_version_resumable(sess.version),
				     cx_http_header(conn, HDR_LAST_EVENT_ID));
	cx_session_release(&sess);
	if (rc) {
		free(t);
		if (rc < 0)
			return MHD_NO;
		return cx_http_send_invalid(conn, MHD_HTTP_TOO_MANY_REQUESTS,
					    "too many requests: this session already has the most "
					    "GET streams allowed open; close one first");
	}
	return cx_http_queue_stream(conn, t, NULL);
}

/* ---- DELETE ---- */

static enum MHD_Result handle_delete(struct cx_http *h, struct MHD_Connection *conn,
				     const struct cx_principal *who)
{
	struct cx_session sess;
	const char *version;
	enum MHD_Result ret;
	int64_t expires;
	bool bad;
	int rc;

	version = protocol_version(conn, &bad, &ret);
	if (bad)
		return ret;
	if (cx_http_open_session(h, conn, who, version, &sess, &ret)) {
		cx_session_release(&sess);
		return ret;
	}
	/* Remembered until the id would have expired anyway; forever when ids never expire. */
	if (h->conf->session_ttl_s > 0 && sess.issued_s <= INT64_MAX - h->conf->session_ttl_s)
		expires = sess.issued_s + h->conf->session_ttl_s;
	else
		expires = INT64_MAX;
	rc = cx_session_revoke(&sess, expires, (size_t)h->conf->max_ended_sessions);
	if (!rc) {
		cx_debug("session %s ended by the client", sess.fp);
		cx_http_wake_taps(h, sess.fp, true);
		cx_server_session_ended(h->srv, sess.fp);
	}
	cx_session_release(&sess);
	if (rc)
		return cx_http_send_rpc_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					      CX_RPC_INTERNAL_ERROR,
					      "internal error: could not end the session", NULL,
					      NULL);
	return cx_http_queue(conn, MHD_HTTP_NO_CONTENT, cx_http_resp_new("", 0, false, NULL));
}

/* ---- routing ---- */

/* The Host check every route but the probes passes first (DNS rebinding): true, or false with
 * the 403 queued in *ret. */
static bool host_admitted(struct cx_http *h, struct MHD_Connection *conn, enum MHD_Result *ret)
{
	if (cx_http_host_allowed(cx_http_header(conn, MHD_HTTP_HEADER_HOST),
				 h->conf->allowed_hosts))
		return true;
	cx_authlog_http(conn, h->srv, MHD_HTTP_FORBIDDEN, "Host",
			cx_http_header(conn, MHD_HTTP_HEADER_HOST),
			"is not a loopback name, this machine's, or in http.allowed_hosts");
	*ret = cx_http_send_invalid(conn, MHD_HTTP_FORBIDDEN,
				    "forbidden: Host header is not a loopback name, this "
				    "machine's, or in http.allowed_hosts");
	return false;
}

/* The checks a route with admit passes first, in this order: Host, Origin, credentials (the
 * method comes next, in route()). NULL with *ret set when the request was answered. */
static const struct cx_principal *admit(struct cx_http *h, struct MHD_Connection *conn,
					enum MHD_Result *ret)
{
	const struct cx_principal *who;
	const char *origin, *tok;

	if (!host_admitted(h, conn, ret))
		return NULL;
	/* An Origin naming exactly the Host this request was sent to is the page's own origin:
	 * the console served by this gateway calling its API. Host has passed the policy above,
	 * so a page elsewhere that rebinds its DNS name to this machine still sends its own name
	 * as Host and is refused there; its Origin can never equal an allowed Host it did not
	 * send. */
	origin = cx_http_header(conn, MHD_HTTP_HEADER_ORIGIN);
	if (origin && !cx_http_origin_allowed(origin, h->conf->allowed_origins) &&
	    !cx_http_origin_is_host(origin, cx_http_header(conn, MHD_HTTP_HEADER_HOST))) {
		cx_authlog_http(conn, h->srv, MHD_HTTP_FORBIDDEN, "Origin", origin,
				"is not a loopback origin, the request's Host, or in "
				"http.allowed_origins");
		*ret = cx_http_send_invalid(conn, MHD_HTTP_FORBIDDEN,
					    "forbidden: Origin is not a loopback origin, the "
					    "request's Host, or in http.allowed_origins");
		return NULL;
	}
	if (!cx_server_auth_required(h->srv)) {
		who = cx_server_anonymous(h->srv);
	} else {
		tok = cx_auth_bearer(cx_http_header(conn, MHD_HTTP_HEADER_AUTHORIZATION));
		who = tok ? cx_server_authenticate(h->srv, tok) : NULL;
		if (!who) {
			cx_authlog_http(conn, h->srv, MHD_HTTP_UNAUTHORIZED, "bearer token", NULL,
					tok ? "is not valid (its SHA-256 is not in tokens)"
					    : "missing (no Authorization: Bearer header)");
			/* RFC 6750: error="invalid_token" only when a token was presented. */
			*ret = cx_http_send_rpc_error(
				conn, MHD_HTTP_UNAUTHORIZED, CX_RPC_INVALID_REQUEST,
				tok ? "unauthorized: the bearer token is not valid"
				    : "unauthorized: send Authorization: Bearer <token>",
				MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				tok ? "Bearer realm=\"cortex\", error=\"invalid_token\""
				    : "Bearer realm=\"cortex\"");
			return NULL;
		}
	}
	return who;
}

static enum MHD_Result handle_health(struct cx_http *h, struct MHD_Connection *conn,
				     const char *url, const char *method,
				     const struct cx_principal *who, void **con_cls)
{
	return send_static(conn, MHD_HTTP_OK, "ok\n", "text/plain");
}

static enum MHD_Result handle_mcp(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				  const char *method, const struct cx_principal *who,
				  void **con_cls)
{
	if (!strcmp(method, MHD_HTTP_METHOD_POST))
		return cx_http_post_start(h, conn, who, con_cls);
	if (cx_http_stateless_stream_request(cx_http_header(conn, HDR_VERSION),
					     cx_http_header(conn, HDR_SESSION)))
		return cx_http_send_rpc_error(
			conn, MHD_HTTP_METHOD_NOT_ALLOWED, CX_RPC_INVALID_REQUEST,
			"method not allowed: protocol version " CX_MCP_STATELESS
			" has no sessions or streams; send "
			"each request as a POST",
			MHD_HTTP_HEADER_ALLOW, "POST");
	if (!strcmp(method, MHD_HTTP_METHOD_GET))
		return handle_get(h, conn, who);
	return handle_delete(h, conn, who);
}

/* A handler is called only with a method its row lists; who is NULL unless the row admits;
 * url is the path (a prefix row's handler reads its parameters from it). */
typedef enum MHD_Result route_fn(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				 const char *method, const struct cx_principal *who,
				 void **con_cls);

/* What a route checks before its method and handler. */
enum admission {
	ADMIT_NONE, /* the probes: any Host, no credentials */
	ADMIT_HOST, /* the console's files: Host only (a navigation carries no token) */
	ADMIT_ALL,  /* Host, Origin and credentials (admit()) */
};

/* Every path the gateway serves; any other is 404. A row whose path ends in '/' is a prefix:
 * it serves every path under it, and its handler answers 404 and 405 for its own paths. A
 * method the row does not list is 405 with the row's Allow, after the row's admission. A
 * console row is not there at all when console.enabled is false. */
static const struct route {
	const char *path;
	const char *allow; /* the methods served, as Allow lists them */
	enum admission admit;
	const char *refusal; /* a 405's JSON-RPC error message; NULL: empty body */
	route_fn *handler;
	bool console; /* served only with console.enabled; its answers carry the console's headers
		       */
} routes[] = {
	{ HEALTH_PATH, "GET, HEAD", ADMIT_NONE, NULL, handle_health, false },
	{ READY_PATH, "GET, HEAD", ADMIT_NONE, NULL, cx_http_readyz, false },
	{ MCP_PATH, ALLOW_MCP, ADMIT_ALL, "method not allowed: use POST, GET or DELETE", handle_mcp,
	  false },
	{ METRICS_PATH, "GET", ADMIT_ALL, NULL, cx_http_metrics, false },
	{ REST_PREFIX, ALLOW_REST, ADMIT_ALL,
	  "method not allowed: the REST routes take GET and POST", cx_http_rest, false },
	{ CONSOLE_ROOT, "GET, HEAD", ADMIT_HOST, NULL, cx_http_console, true },
	{ CONSOLE_PREFIX, "GET, HEAD", ADMIT_HOST, NULL, cx_http_console, true },
};

/* A GET that holds its connection as an SSE stream: /mcp's, a task's events, the feed. */
static bool opens_stream(const struct route *rt, const char *url, const char *method)
{
	size_t n = strlen(url);

	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return false;
	return rt->handler == handle_mcp ||
	       (rt->handler == cx_http_rest && n > 7 && !strcmp(url + n - 7, "/events"));
}

static bool route_matches(const struct cx_http *h, const struct route *rt, const char *url)
{
	size_t n = strlen(rt->path);

	if (rt->console && !h->conf->console_enabled)
		return false;
	if (n > 1 && rt->path[n - 1] == '/')
		return !strncmp(url, rt->path, n);
	return !strcmp(url, rt->path);
}

static enum MHD_Result send_not_allowed(struct MHD_Connection *conn, const struct route *rt)
{
	struct MHD_Response *r;

	if (rt->refusal)
		return cx_http_send_rpc_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					      CX_RPC_INVALID_REQUEST, rt->refusal,
					      MHD_HTTP_HEADER_ALLOW, rt->allow);
	r = cx_http_resp_new("", 0, false, NULL);
	if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rt->allow) == MHD_NO ||
		  (rt->console && cx_http_console_headers(r)))) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

static enum MHD_Result route(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, void **con_cls)
{
	const struct cx_principal *who = NULL;
	const struct route *rt = NULL;
	enum MHD_Result ret;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && !rt; i++) {
		if (route_matches(h, &routes[i], url))
			rt = &routes[i];
	}
	if (!rt)
		return send_static(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}", CT_JSON);
	if (rt->admit == ADMIT_HOST && !host_admitted(h, conn, &ret))
		return ret;
	if (rt->admit == ADMIT_ALL && !(who = admit(h, conn, &ret)))
		return ret;
	if (!cx_http_method_listed(rt->allow, method))
		return send_not_allowed(conn, rt);
	if (rt->admit == ADMIT_ALL &&
	    cx_http_share_refused(h, conn, who, opens_stream(rt, url, method), &ret))
		return ret;
	return rt->handler(h, conn, url, method, who, con_cls);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *http_version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct cx_http *h = cls;
	enum MHD_Result ret;

	if (*con_cls == &h->sentinel) {
		/* Answered at the first call; a body that follows is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*con_cls && *(const int *)*con_cls == CX_HTTP_CTX_ASYNC)
		return cx_http_async_data(*con_cls, upload_data, upload_data_size);
	if (*con_cls)
		return cx_http_post_data(*con_cls, upload_data, upload_data_size);
	atomic_fetch_add(&h->requests, 1); /* the first call: on_completed ends it */
	if (!cx_http_framing_refused(conn, method, http_version, &ret))
		ret = route(h, conn, url, method, con_cls);
	if (!*con_cls)
		*con_cls = &h->sentinel;
	return ret;
}

/* Every connection carries its share (http_clients.c) from accept to close. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct cx_http *h = cls;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct cx_http_share));
	} else if (*socket_context) {
		cx_http_share_release(h, *socket_context);
		free(*socket_context);
		*socket_context = NULL;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cx_http *h = cls;
	struct req *r = *con_cls;

	atomic_fetch_sub(&h->requests, 1);
	*con_cls = NULL;
	if (!r || (void *)r == &h->sentinel)
		return;
	if (*(const int *)(const void *)r == CX_HTTP_CTX_ASYNC)
		cx_http_async_completed((struct cx_http_async *)(void *)r);
	else
		cx_http_post_completed(r);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		return;
	n = (int)strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* A client closing its stream is how SSE streams end, not a fault. */
	if (!strncmp(msg, "Failed to send", 14) &&
	    (strstr(msg, "closed by remote peer") || strstr(msg, "no longer available") ||
	     strstr(msg, "not connected"))) {
		cx_debug("http: %s", msg);
		return;
	}
	cx_warn("http: %s", msg);
}

/* ---- life cycle ---- */

static unsigned clamp_uint(long v, unsigned lo)
{
	if (v < (long)lo)
		return lo;
	if ((unsigned long)v > UINT32_MAX)
		return UINT32_MAX;
	return (unsigned)v;
}

/* A transport with its locks and counters set up, not yet listening. NULL on out of memory. */
static struct cx_http *http_new(struct cx_server *s)
{
	struct cx_http *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;
	uint64_t base = 0;

	if (!h)
		return NULL;
	h->srv = s;
	h->conf = cx_server_config(s);
	h->quiesced = MHD_INVALID_SOCKET;
	atomic_init(&h->stopping, false);
	atomic_init(&h->closing, false);
	atomic_init(&h->active, 0);
	atomic_init(&h->requests, 0);
	atomic_init(&h->ping_gen, 0);
	atomic_init(&h->draining, false);
	/* Stream ids start at a random point, so an event id from another process (a replica,
	 * or this gateway before a restart) hardly ever names a stream of this one. */
	if (getentropy(&base, sizeof(base)))
		base = (uint64_t)time(NULL) << 20;
	atomic_init(&h->next_chan, (base & 0xffffffffffULL) + 1);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	h->clients = cx_http_clients_new();
	if (!h->clients) {
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

/* MHD's options for h listening on *ss, into opts (room for 12). */
static void daemon_options(struct cx_http *h, struct sockaddr_storage *ss,
			   struct MHD_OptionItem *opts)
{
	const struct cx_gw_config *conf = h->conf;
	unsigned n = 0;

	/* The logger first, or MHD logs the options before it to stderr by itself. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, ss };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK,
					     (intptr_t)cx_http_uri_seen, NULL };
	opts[n++] =
		(struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h };
	opts[n++] =
		(struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
					     (intptr_t)clamp_uint(conf->max_connections, 1), NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					     (intptr_t)clamp_uint(conf->connection_timeout_s, 0),
					     NULL };
	/* MHD clears a connection's memory pool for every request; 16 KiB holds the largest
	 * headers we accept (a 4 KiB session id among them) and costs half the default. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16384, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

struct cx_http *cx_http_start(struct cx_server *s, const char *listen, struct cx_err *err)
{
	const struct cx_gw_config *conf = cx_server_config(s);
	struct MHD_OptionItem opts[12];
	struct cx_err why = { 0 };
	struct cx_listen la;
	struct cx_http *h;
	unsigned flags;
	int rc;

	if (cx_listen_parse(listen, &la, err))
		return NULL;
	/* main's start-up checks refuse this first; kept for any other caller. */
	if (!la.loopback && !cx_server_auth_required(s) && !conf->insecure_no_auth) {
		cx_err_set(err,
			   "refusing to listen on '%s' without tokens: configure tokens or "
			   "pass --insecure-no-auth",
			   listen);
		return NULL;
	}
	h = http_new(s);
	if (!h) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	/* External epoll: the HTTP threads run the daemons (http_loop.c). */
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (la.v6)
		flags |= MHD_USE_IPv6;
	daemon_options(h, &la.addr, opts);

	if (cx_server_add_push(s, cx_http_on_push, h)) {
		cx_err_set(err, "could not register the HTTP transport's push sink");
		goto fail;
	}
	h->push_added = true;

	/* MHD binds SOCK_ADDR; the port argument is what it reports, in "Failed to bind to
	 * port N" among others, so it gets the real one rather than 0. */
	if (cx_http_loops_start(h, flags, (uint16_t)la.port, opts,
				clamp_uint(conf->http_threads, 1), on_request, &why)) {
		cx_err_set(err, "could not listen on '%s': %s", listen, why.msg);
		goto fail;
	}
	rc = cx_http_timer_start(h);
	if (rc) {
		/* pthread_create returns its error; it does not set errno. */
		cx_err_set(err, "could not start the stream timer thread: %s", strerror(rc));
		cx_http_loops_stop(h);
		goto fail;
	}
	return h;
fail:
	if (h->push_added)
		cx_server_remove_push(s, cx_http_on_push, h);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	cx_http_clients_free(h->clients);
	free(h);
	return NULL;
}

unsigned cx_http_port(const struct cx_http *h)
{
	return h ? h->port : 0;
}

void cx_http_quiesce(struct cx_http *h)
{
	if (!h || h->quiesced != MHD_INVALID_SOCKET)
		return;
	atomic_store(&h->draining, true);
	h->quiesced = cx_http_loops_quiesce(h);
}

void cx_http_stop(struct cx_http *h)
{
	int64_t deadline;
	long left;

	if (!h)
		return;
	/* Returns once no push is running: none reaches h after this. */
	if (h->push_added)
		cx_server_remove_push(h->srv, cx_http_on_push, h);
	h->push_added = false;
	atomic_store(&h->stopping, true);
	cx_http_events_stop(h);
	cx_http_feed_stop(h);
	atomic_store(&h->closing, true);
	cx_http_timer_stop(h);

	/* Streams end once resumed: tap_read sees closing and never suspends again. */
	cx_http_wake_taps(h, NULL, false);

	deadline = cx_now_ms() + STOP_WAIT_MS;
	while ((left = atomic_load(&h->active)) > 0 && cx_now_ms() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	/* Answers given at the last moment (calls shed or finished during the drain) are on
	 * their way: let MHD send them before it closes every connection. */
	while (left <= 0 && atomic_load(&h->requests) > 0 && cx_now_ms() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (left > 0) {
		/* Stopping MHD now would abort the process; leaving it is the lesser harm. */
		cx_error("http: %ld request(s) still wait for an answer; leaving the listener "
			 "open",
			 left);
		return;
	}
	cx_http_loops_stop(h);
	if (h->quiesced != MHD_INVALID_SOCKET)
		close(h->quiesced);
	/* Every tap and request is gone with MHD: only the list holds the streams now. */
	cx_http_events_free(h);
	cx_http_feed_free(h);
	cx_http_streams_free(h);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	cx_http_clients_free(h->clients);
	free(h);
}
