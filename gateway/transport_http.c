/* Streamable HTTP at /mcp (MCP 2025-03-26, 2025-06-18, 2025-11-25) on libmicrohttpd.
 *
 * Threading: every callback here runs on one of MHD's pool threads except reply(), which a
 * worker may call. A message that goes to a worker suspends its connection in defer(); the
 * worker stores the serialized answer and resumes the connection in reply(); MHD then calls
 * the access handler again, which queues what was stored. A GET stream suspends itself when
 * it has nothing to send, and a timer thread resumes the suspended streams every
 * STREAM_PING_S seconds for a keep-alive comment. Nothing here blocks an MHD thread or polls.
 *
 * Shutdown contract: cx_http_quiesce(), then cx_server_drain(), then cx_http_stop().
 * libmicrohttpd aborts the process when it is stopped with a connection still suspended, so
 * cx_http_stop() ends the streams and waits for answers still owed before it stops MHD. */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"

#define MCP_PATH "/mcp"
#define HEALTH_PATH "/healthz"

#define CT_JSON "application/json"
#define CT_SSE "text/event-stream"
#define HDR_SESSION "Mcp-Session-Id"
#define HDR_VERSION "MCP-Protocol-Version"
#define ALLOW_MCP "GET, POST, DELETE"

/* Not a JSON-RPC standard code: the MCP specification's answer for an unknown session. */
#define RPC_SESSION_NOT_FOUND (-32001)

#define STREAM_PING_S 15
#define STREAMS_PER_SESSION 4
#define SSE_OPEN ": cortex stream open\n\n"
#define SSE_PING ": keep-alive\n\n"

/* A body past the cap is read and dropped up to this much (so the client can read the 413)
 * before the connection is cut instead. */
#define DISCARD_MIN (1024 * 1024)
/* How long cx_http_stop waits for answers still owed to suspended connections. */
#define STOP_WAIT_MS 10000

/* One GET /mcp stream. Owned by its MHD response: freed by stream_free. */
struct stream {
	struct stream *prev, *next;     /* h->streams, guarded by h->lock */
	struct cx_http *h;
	struct MHD_Connection *conn;
	int fd;                         /* the connection's socket, -1 if unknown */
	char fp[17];                    /* the session's, for the per-session limit */
	/* The rest is guarded by h->lock. */
	const char *out;                /* a static comment being sent */
	size_t out_len, out_off;
	unsigned long ping_gen;         /* the h->ping_gen already answered with a ping */
	bool opened;
	bool suspended;                 /* suspended by stream_read, to be resumed by the timer */
	bool gone;                      /* the client hung up: end the response */
};

/* One POST /mcp request, from its first access-handler call to NOTIFY_COMPLETED. */
struct req {
	struct cx_exchange x;           /* handed to the server; see req_of() */
	struct cx_http *h;
	struct MHD_Connection *conn;
	struct cx_buf body;
	size_t discarded;               /* bytes dropped after the body passed the cap */
	bool overflow;
	bool sse;                       /* answer as one SSE event */
	bool submitted;
	struct cx_session sess;         /* always initialised; released in req_free */

	pthread_mutex_t mu;             /* the fields below are shared with the replying worker */
	bool deferred;                  /* the connection was suspended to wait for reply() */
	bool replied;
	bool orphaned;                  /* MHD finished the request first: reply() frees */
	bool out_oom;
	char *out;                      /* serialized answer; NULL for 202 */
	size_t out_len;
};

struct cx_http {
	struct cx_server *srv;
	const struct cx_gw_config *conf;
	struct MHD_Daemon *d;
	MHD_socket quiesced;            /* the listen socket after quiesce; closed after stop */
	unsigned port;
	char sentinel;                  /* con_cls of requests already answered early */

	atomic_bool stopping;
	/* Requests that may still suspend or be resumed: from submit until the answer is queued
	 * (synchronous) or until reply() has resumed the connection. */
	atomic_long active;
	atomic_ullong event_id;

	pthread_mutex_t lock;           /* streams and the timer */
	pthread_cond_t wake;
	pthread_t timer;
	bool timer_started;
	bool timer_stop;
	bool streams_closing;
	unsigned long ping_gen;
	struct stream *streams;
};

static struct req *req_of(struct cx_exchange *x)
{
	return (struct req *)(void *)((char *)x - offsetof(struct req, x));
}

/* ---- addresses and header checks ---- */

bool cx_http_is_loopback(const char *host)
{
	char buf[INET6_ADDRSTRLEN];
	struct in_addr a4;
	struct in6_addr a6;
	size_t len;

	if (!host)
		return false;
	if (!strcasecmp(host, "localhost"))
		return true;
	len = strlen(host);
	if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port". name gets the host without brackets;
 * *hostpart_len is the length of the host as written (brackets included). false when the
 * value has another shape or the port is not 1 to 5 digits. */
static bool split_hostport(const char *v, char *name, size_t namelen, size_t *hostpart_len)
{
	const char *hend, *nbeg, *nend, *p;

	if (v[0] == '[') {
		nbeg = v + 1;
		nend = strchr(nbeg, ']');
		if (!nend)
			return false;
		hend = nend + 1;
	} else {
		nbeg = v;
		nend = strchr(v, ':');
		if (!nend)
			nend = v + strlen(v);
		hend = nend;
	}
	if (nend == nbeg || (size_t)(nend - nbeg) >= namelen)
		return false;
	if (*hend == ':') {
		for (p = hend + 1; *p >= '0' && *p <= '9'; p++)
			;
		if (p == hend + 1 || p - (hend + 1) > 5 || *p)
			return false;
	} else if (*hend) {
		return false;
	}
	memcpy(name, nbeg, (size_t)(nend - nbeg));
	name[nend - nbeg] = '\0';
	*hostpart_len = (size_t)(hend - v);
	return true;
}

/* DNS rebinding protection: a browser page on evil.example that resolves to 127.0.0.1 still
 * sends Host: evil.example. */
static bool host_allowed(const struct cx_gw_config *conf, const char *host)
{
	char name[256];
	size_t hlen;

	if (!host || !split_hostport(host, name, sizeof(name), &hlen))
		return false;
	if (cx_http_is_loopback(name))
		return true;
	for (char **a = conf->allowed_hosts; a && *a; a++) {
		if (!strcasecmp(*a, host) || (strlen(*a) == hlen && !strncasecmp(*a, host, hlen)))
			return true;
	}
	return false;
}

static bool origin_allowed(const struct cx_gw_config *conf, const char *origin)
{
	char name[256];
	const char *auth;
	size_t hlen;

	for (char **a = conf->allowed_origins; a && *a; a++) {
		if (!strcasecmp(*a, origin))
			return true;
	}
	if (!strncasecmp(origin, "http://", 7))
		auth = origin + 7;
	else if (!strncasecmp(origin, "https://", 8))
		auth = origin + 8;
	else
		return false;
	if (!split_hostport(auth, name, sizeof(name), &hlen))
		return false;
	return cx_http_is_loopback(name);
}

/* The media type of one header element: leading/trailing blanks and parameters dropped. */
static const char *media_type(const char *p, const char *end, size_t *len)
{
	const char *e;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (e = p; e < end && *e != ';'; e++)
		;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = (size_t)(e - p);
	return p;
}

static bool media_is(const char *p, size_t len, const char *type)
{
	return strlen(type) == len && !strncasecmp(p, type, len);
}

/* True when the parameters of one Accept element contain q=0 (the type is refused). */
static bool q_zero(const char *p, const char *end)
{
	const char *q;

	for (p = memchr(p, ';', (size_t)(end - p)); p && p < end;
	     p = memchr(p + 1, ';', (size_t)(end - p - 1))) {
		for (q = p + 1; q < end && (*q == ' ' || *q == '\t'); q++)
			;
		if (end - q < 2 || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=')
			continue;
		for (q += 2; q < end && (*q == '0' || *q == '.'); q++)
			;
		return q == end || *q == ' ' || *q == '\t' || *q == ';';
	}
	return false;
}

/* Which of application/json and text/event-stream an Accept header admits. */
static void parse_accept(const char *accept, bool *json, bool *sse)
{
	const char *p = accept, *end, *t;
	size_t len;

	*json = *sse = false;
	while (p && *p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		t = media_type(p, end, &len);
		if (!q_zero(t, end)) {
			if (media_is(t, len, "*/*")) {
				*json = *sse = true;
			} else if (media_is(t, len, CT_JSON) || media_is(t, len, "application/*")) {
				*json = true;
			} else if (media_is(t, len, CT_SSE) || media_is(t, len, "text/*")) {
				*sse = true;
			}
		}
		p = *end ? end + 1 : NULL;
	}
}

static bool content_type_is_json(const char *ct)
{
	size_t len;
	const char *t;

	if (!ct)
		return false;
	t = media_type(ct, ct + strlen(ct), &len);
	return media_is(t, len, CT_JSON);
}

/* A request whose params._meta.progressToken is present is answered as an SSE stream, so
 * progress notifications can precede the answer. */
static bool wants_sse(const json_t *msg)
{
	const json_t *meta;

	if (!json_is_object(msg) || !json_object_get(msg, "id") ||
	    !json_is_string(json_object_get(msg, "method")))
		return false;
	meta = json_object_get(json_object_get(msg, "params"), "_meta");
	return json_object_get(meta, "progressToken") != NULL;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* ---- responses ---- */

/* Takes body (malloc'd) when must_free, also on failure. */
static struct MHD_Response *resp_new(char *body, size_t len, bool must_free, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, body,
					    must_free ? MHD_RESPMEM_MUST_FREE :
							MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (must_free)
			free(body);
		return NULL;
	}
	if (ctype && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_NO) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

/* Queues r (may be NULL: out of memory, and MHD closes the connection) and drops our
 * reference. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status,
				   const char *body, const char *ctype)
{
	return queue(conn, status, resp_new((char *)body, strlen(body), false, ctype));
}

/* An HTTP error with a JSON-RPC error body (id null); hname/hval: one extra header. */
static enum MHD_Result send_rpc_error(struct MHD_Connection *conn, unsigned status, int code,
				      const char *msg, const char *hname, const char *hval)
{
	struct MHD_Response *r;
	json_t *e = cx_rpc_error(NULL, code, msg, NULL);
	char *s = e ? cx_json_dumps(e, NULL) : NULL;

	json_decref(e);
	if (!s)
		return MHD_NO;
	r = resp_new(s, strlen(s), true, CT_JSON);
	if (r && hname && MHD_add_response_header(r, hname, hval) == MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return queue(conn, status, r);
}

static enum MHD_Result send_invalid(struct MHD_Connection *conn, unsigned status,
				    const char *msg)
{
	return send_rpc_error(conn, status, CX_RPC_INVALID_REQUEST, msg, NULL, NULL);
}

/* ---- sessions ---- */

/* The MCP-Protocol-Version header, which must name a supported version when present: NULL
 * when absent; *bad with the 400 answer queued in *ret otherwise. */
static const char *protocol_version(struct MHD_Connection *conn, bool *bad, enum MHD_Result *ret)
{
	const char *v = header(conn, HDR_VERSION);
	char msg[96];

	*bad = v && !cx_mcp_version_supported(v);
	if (*bad) {
		snprintf(msg, sizeof(msg), "bad request: unsupported MCP-Protocol-Version '%.40s'",
			 v);
		*ret = send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
		return NULL;
	}
	return v;
}

/* Opens the session named by Mcp-Session-Id into sess (release it either way). 0, or -1
 * with the error answer queued in *ret. version is the MCP-Protocol-Version header. */
static int open_session(struct cx_http *h, struct MHD_Connection *conn,
			const struct cx_principal *who, const char *version,
			struct cx_session *sess, enum MHD_Result *ret)
{
	const char *id = header(conn, HDR_SESSION);
	char msg[160];

	cx_session_init(sess);
	if (!id || !*id) {
		*ret = send_invalid(conn, MHD_HTTP_BAD_REQUEST,
				    "bad request: missing Mcp-Session-Id header; send initialize "
				    "first and echo the id it returns");
		return -1;
	}
	if (cx_session_open(cx_server_session_key(h->srv), id, h->conf->session_ttl_s, sess) !=
		    CX_SESSION_OK ||
	    cx_session_revoked(sess->fp) || strcmp(sess->subject, who->name) != 0) {
		/* A session belongs to the token that created it: another token holding
		 * the id is answered as if the session did not exist. */
		*ret = send_rpc_error(conn, MHD_HTTP_NOT_FOUND, RPC_SESSION_NOT_FOUND,
				      "session not found; send initialize to start a new one", NULL,
				      NULL);
		return -1;
	}
	if (version && strcmp(version, sess->version) != 0) {
		snprintf(msg, sizeof(msg),
			 "bad request: MCP-Protocol-Version '%.20s' does not match the session's "
			 "'%s'", version, sess->version);
		*ret = send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
		return -1;
	}
	return 0;
}

/* ---- GET streams ---- */

/* Resumes the streams that stream_read suspended. Called with h->lock held; drops it while
 * resuming, so the list may change meanwhile. A suspended connection cannot be closed by
 * MHD, so a collected connection stays valid until it is resumed. */
static void resume_streams_locked(struct cx_http *h)
{
	struct MHD_Connection **conns = NULL;
	struct stream *st;
	size_t n = 0, i;

	for (st = h->streams; st; st = st->next)
		n += st->suspended;
	if (!n)
		return;
	conns = malloc(n * sizeof(*conns));
	if (!conns) {
		/* One at a time: slower, but shutdown must not fail for want of memory. */
		for (;;) {
			for (st = h->streams; st && !st->suspended; st = st->next)
				;
			if (!st)
				return;
			struct MHD_Connection *c = st->conn;

			st->suspended = false;
			pthread_mutex_unlock(&h->lock);
			MHD_resume_connection(c);
			pthread_mutex_lock(&h->lock);
		}
	}
	for (i = 0, st = h->streams; st; st = st->next) {
		if (st->suspended) {
			st->suspended = false;
			conns[i++] = st->conn;
		}
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t k = 0; k < i; k++)
		MHD_resume_connection(conns[k]);
	free(conns);
	pthread_mutex_lock(&h->lock);
}

static void *stream_timer(void *arg)
{
	struct cx_http *h = arg;
	struct timespec ts;

	pthread_mutex_lock(&h->lock);
	while (!h->timer_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += STREAM_PING_S;
		while (!h->timer_stop &&
		       pthread_cond_timedwait(&h->wake, &h->lock, &ts) != ETIMEDOUT)
			;
		if (h->timer_stop)
			break;
		h->ping_gen++;
		resume_streams_locked(h);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* MHD's content reader: the opening comment, then a keep-alive comment per timer tick.
 * With nothing to send it suspends the connection and returns 0 (no busy loop). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	struct cx_http *h = st->h;
	size_t n;

	pthread_mutex_lock(&h->lock);
	if (st->gone) {
		/* Not END_WITH_ERROR: MHD would log a hang-up as an application error. */
		pthread_mutex_unlock(&h->lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (st->out_off == st->out_len) {
		if (!st->opened) {
			st->opened = true;
			st->out = SSE_OPEN;
		} else if (st->ping_gen != h->ping_gen) {
			st->ping_gen = h->ping_gen;
			st->out = SSE_PING;
		} else if (h->streams_closing) {
			pthread_mutex_unlock(&h->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		} else {
			/* Suspended under the lock, so the timer cannot resume it first. */
			st->suspended = true;
			MHD_suspend_connection(st->conn);
			pthread_mutex_unlock(&h->lock);
			return 0;
		}
		st->out_len = strlen(st->out);
		st->out_off = 0;
	}
	n = st->out_len - st->out_off;
	if (n > max)
		n = max;
	memcpy(buf, st->out + st->out_off, n);
	st->out_off += n;
	pthread_mutex_unlock(&h->lock);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	struct cx_http *h = st->h;

	pthread_mutex_lock(&h->lock);
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	pthread_mutex_unlock(&h->lock);
	free(st);
}

/* True when the client of a suspended stream has closed its end. MHD does not watch
 * suspended connections, so without this a client that reconnects its stream would find the
 * per-session limit taken by its own dead streams until a keep-alive write fails. */
static bool peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};

	if (fd < 0 || poll(&p, 1, 0) != 1)
		return false;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static enum MHD_Result handle_get(struct cx_http *h, struct MHD_Connection *conn,
				   const struct cx_principal *who)
{
	struct cx_session sess;
	const char *version;
	const union MHD_ConnectionInfo *ci;
	struct MHD_Connection *gone[STREAMS_PER_SESSION * 2];
	struct MHD_Response *r;
	struct stream *st, *it;
	enum MHD_Result ret;
	bool json, sse, bad;
	int count = 0;
	size_t ngone = 0;

	parse_accept(header(conn, MHD_HTTP_HEADER_ACCEPT), &json, &sse);
	if (!sse)
		return send_invalid(conn, MHD_HTTP_NOT_ACCEPTABLE,
				    "not acceptable: a GET stream needs Accept: text/event-stream");
	version = protocol_version(conn, &bad, &ret);
	if (bad)
		return ret;
	if (open_session(h, conn, who, version, &sess, &ret)) {
		cx_session_release(&sess);
		return ret;
	}
	if (atomic_load(&h->stopping)) {
		cx_session_release(&sess);
		return send_invalid(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "service unavailable: the gateway is shutting down");
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		cx_session_release(&sess);
		return MHD_NO;
	}
	st->h = h;
	st->conn = conn;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	st->fd = ci ? ci->connect_fd : -1;
	memcpy(st->fp, sess.fp, sizeof(st->fp));
	cx_session_release(&sess);

	pthread_mutex_lock(&h->lock);
	for (it = h->streams; it; it = it->next) {
		if (strcmp(it->fp, st->fp) || it->gone)
			continue;
		/* A suspended connection stays open until resumed, so its fd is still its own. */
		if (it->suspended && ngone < sizeof(gone) / sizeof(gone[0]) && peer_gone(it->fd)) {
			it->suspended = false;
			it->gone = true;
			gone[ngone++] = it->conn;
			continue;
		}
		count++;
	}
	if (count >= STREAMS_PER_SESSION) {
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < ngone; i++)
			MHD_resume_connection(gone[i]);
		free(st);
		return send_invalid(conn, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many requests: this session already has the most GET "
				    "streams allowed open; close one first");
	}
	st->ping_gen = h->ping_gen;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < ngone; i++)
		MHD_resume_connection(gone[i]);

	/* From here stream_free owns st, also when creating the response fails. */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_read, st,
					      stream_free);
	if (!r) {
		stream_free(st);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CT_SSE) == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_NO) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(conn, MHD_HTTP_OK, r);
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
	if (open_session(h, conn, who, version, &sess, &ret)) {
		cx_session_release(&sess);
		return ret;
	}
	/* Remembered until the id would have expired anyway; forever when ids never expire. */
	if (h->conf->session_ttl_s > 0 && sess.issued_s <= INT64_MAX - h->conf->session_ttl_s)
		expires = sess.issued_s + h->conf->session_ttl_s;
	else
		expires = INT64_MAX;
	rc = cx_session_revoke(sess.fp, expires);
	if (!rc)
		cx_debug("session %s ended by the client", sess.fp);
	cx_session_release(&sess);
	if (rc)
		return send_rpc_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, CX_RPC_INTERNAL_ERROR,
				      "internal error: could not end the session", NULL, NULL);
	return queue(conn, MHD_HTTP_NO_CONTENT, resp_new("", 0, false, NULL));
}

/* ---- POST ---- */

static void req_free(struct req *r)
{
	cx_buf_release(&r->body);
	cx_session_release(&r->sess);
	free(r->x.new_session_id);
	free(r->out);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The server calls this on our (MHD) thread inside cx_server_submit, before a worker can
 * see the message; suspending under r->mu orders the suspend before reply()'s resume. */
static void on_defer(struct cx_exchange *x)
{
	struct req *r = req_of(x);

	pthread_mutex_lock(&r->mu);
	if (!r->deferred && !r->replied) {
		r->deferred = true;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&r->mu);
}

/* Any thread. Serializes outside the lock; resumes outside it too (the connection cannot
 * finish, and r cannot be freed, until it is resumed). */
static void on_reply(struct cx_exchange *x, json_t *response)
{
	struct req *r = req_of(x);
	struct cx_http *h = r->h;
	struct MHD_Connection *conn = r->conn;
	char *out = NULL;
	size_t len = 0;
	bool resume, orphan;

	if (response) {
		out = cx_json_dumps(response, &len);
		json_decref(response);
	}
	pthread_mutex_lock(&r->mu);
	r->out = out;
	r->out_len = len;
	r->out_oom = response && !out;
	r->replied = true;
	orphan = r->orphaned;
	resume = r->deferred && !orphan;
	pthread_mutex_unlock(&r->mu);
	if (orphan) {
		if (r->deferred)
			atomic_fetch_sub(&h->active, 1);
		req_free(r);
	} else if (resume) {
		MHD_resume_connection(conn);
		atomic_fetch_sub(&h->active, 1);
	}
}

static enum MHD_Result send_reply(struct req *r)
{
	struct MHD_Response *resp;
	char *body;
	size_t len;

	if (r->out_oom)
		return send_rpc_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				      CX_RPC_INTERNAL_ERROR, "internal error: out of memory", NULL,
				      NULL);
	if (!r->out)
		return queue(r->conn, MHD_HTTP_ACCEPTED, resp_new("", 0, false, NULL));
	if (r->sse) {
		struct cx_buf b = CX_BUF_INIT(r->out_len + 64);

		if (cx_buf_printf(&b, "id: %llu\nevent: message\ndata: ",
				  (unsigned long long)atomic_fetch_add(&r->h->event_id, 1) + 1) ||
		    cx_buf_append(&b, r->out, r->out_len) || cx_buf_append(&b, "\n\n", 2)) {
			cx_buf_release(&b);
			return MHD_NO;
		}
		body = cx_buf_detach(&b, &len);
		resp = resp_new(body, len, true, CT_SSE);
		if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
						    "no-cache") == MHD_NO) {
			MHD_destroy_response(resp);
			resp = NULL;
		}
	} else {
		resp = resp_new(r->out, r->out_len, true, CT_JSON);
		r->out = NULL;
	}
	if (resp && r->x.new_session_id &&
	    MHD_add_response_header(resp, HDR_SESSION, r->x.new_session_id) == MHD_NO) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return queue(r->conn, MHD_HTTP_OK, resp);
}

/* The whole body is in: parse, check the session and hand the message to the server. */
static enum MHD_Result submit_post(struct req *r)
{
	struct cx_http *h = r->h;
	struct MHD_Connection *conn = r->conn;
	const char *version;
	enum MHD_Result ret;
	struct cx_err err;
	char msg[CX_ERR_MSG_MAX + 32];
	json_t *m;
	bool init, deferred, bad;

	if (r->overflow) {
		snprintf(msg, sizeof(msg), "payload too large: the body exceeds %ld bytes",
			 h->conf->max_body_bytes);
		return send_invalid(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	m = cx_json_loadb(r->body.data ? r->body.data : "", r->body.len,
			  (size_t)h->conf->max_body_bytes, &err);
	cx_buf_release(&r->body);
	if (!m) {
		snprintf(msg, sizeof(msg), "parse error: %s", err.msg);
		return send_rpc_error(conn, MHD_HTTP_BAD_REQUEST, CX_RPC_PARSE_ERROR, msg, NULL,
				      NULL);
	}
	version = protocol_version(conn, &bad, &ret);
	if (bad) {
		json_decref(m);
		return ret;
	}
	init = json_is_object(m) &&
	       !strcmp(json_string_value(json_object_get(m, "method")) ?: "", "initialize");
	if (!init && open_session(h, conn, r->x.who, version, &r->sess, &ret)) {
		json_decref(m);
		return ret;
	}
	r->sse = wants_sse(m);
	r->x.session = &r->sess;
	r->x.session_ready = !init;
	r->x.want_session_id = init;

	/* Paired with cx_http_stop: it sets stopping, then waits for active to reach 0. */
	atomic_fetch_add(&h->active, 1);
	if (atomic_load(&h->stopping)) {
		atomic_fetch_sub(&h->active, 1);
		json_decref(m);
		return send_invalid(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "service unavailable: the gateway is shutting down");
	}
	r->submitted = true;
	cx_server_submit(h->srv, &r->x, m);

	pthread_mutex_lock(&r->mu);
	if (!r->deferred && !r->replied) {
		/* The server went asynchronous without defer(): wait for reply() all the same. */
		r->deferred = true;
		MHD_suspend_connection(conn);
	}
	deferred = r->deferred;
	pthread_mutex_unlock(&r->mu);
	if (deferred)
		return MHD_YES;       /* reply() resumes us and MHD calls on_request again */
	atomic_fetch_sub(&h->active, 1);
	return send_reply(r);
}

/* Called for every access-handler call of a POST after the first. */
static enum MHD_Result post_data(struct req *r, const char *data, size_t *size)
{
	struct cx_http *h = r->h;
	size_t max = (size_t)h->conf->max_body_bytes;
	bool replied;

	if (*size) {
		if (r->overflow || r->body.len + *size > max) {
			r->overflow = true;
			r->discarded += *size;
			if (r->discarded > (max > DISCARD_MIN ? max : DISCARD_MIN))
				return MHD_NO;
		} else if (cx_buf_append(&r->body, data, *size)) {
			return MHD_NO;          /* out of memory */
		}
		*size = 0;
		return MHD_YES;
	}
	if (!r->submitted)
		return submit_post(r);
	/* Resumed by reply(). */
	pthread_mutex_lock(&r->mu);
	replied = r->replied;
	pthread_mutex_unlock(&r->mu);
	if (!replied) {
		cx_error("http: request resumed before its answer; answering 500");
		return send_rpc_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				      CX_RPC_INTERNAL_ERROR, "internal error: no answer", NULL,
				      NULL);
	}
	return send_reply(r);
}

static enum MHD_Result start_post(struct cx_http *h, struct MHD_Connection *conn,
				  const struct cx_principal *who, void **con_cls)
{
	const char *cl;
	struct req *r;
	bool json, sse;
	long len;
	char msg[96];

	parse_accept(header(conn, MHD_HTTP_HEADER_ACCEPT), &json, &sse);
	if (!json || !sse)
		return send_invalid(conn, MHD_HTTP_NOT_ACCEPTABLE,
				    "not acceptable: the client must accept both application/json "
				    "and text/event-stream");
	if (!content_type_is_json(header(conn, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return send_invalid(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				    "unsupported media type: the body must be application/json");
	cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && (cx_parse_long(cl, 0, LONG_MAX, &len) || len > h->conf->max_body_bytes)) {
		snprintf(msg, sizeof(msg), "payload too large: the body exceeds %ld bytes",
			 h->conf->max_body_bytes);
		return send_invalid(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return MHD_NO;
	r->h = h;
	r->conn = conn;
	cx_buf_init(&r->body, (size_t)h->conf->max_body_bytes);
	cx_session_init(&r->sess);
	pthread_mutex_init(&r->mu, NULL);
	r->x.who = who;
	r->x.defer = on_defer;
	r->x.reply = on_reply;
	*con_cls = r;
	return MHD_YES;
}

/* ---- routing ---- */

/* The checks every /mcp request passes first, in this order: Host, Origin, credentials,
 * method. NULL with *ret set when the request was answered. */
static const struct cx_principal *admit(struct cx_http *h, struct MHD_Connection *conn,
					const char *method, enum MHD_Result *ret)
{
	const struct cx_principal *who;
	const char *origin, *auth, *tok;

	if (!host_allowed(h->conf, header(conn, MHD_HTTP_HEADER_HOST))) {
		*ret = send_invalid(conn, MHD_HTTP_FORBIDDEN,
				    "forbidden: Host header is not a loopback name or in "
				    "http.allowed_hosts");
		return NULL;
	}
	origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
	if (origin && !origin_allowed(h->conf, origin)) {
		*ret = send_invalid(conn, MHD_HTTP_FORBIDDEN,
				    "forbidden: Origin is not a loopback origin or in "
				    "http.allowed_origins");
		return NULL;
	}
	if (!cx_server_auth_required(h->srv)) {
		who = cx_server_anonymous(h->srv);
	} else {
		auth = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
		tok = NULL;
		if (auth && !strncasecmp(auth, "Bearer", 6) &&
		    (auth[6] == ' ' || auth[6] == '\t')) {
			for (tok = auth + 7; *tok == ' ' || *tok == '\t'; tok++)
				;
		}
		who = tok && *tok ? cx_server_authenticate(h->srv, tok) : NULL;
		if (!who) {
			/* RFC 6750: error="invalid_token" only when a token was presented. */
			*ret = send_rpc_error(
				conn, MHD_HTTP_UNAUTHORIZED, CX_RPC_INVALID_REQUEST,
				tok ? "unauthorized: the bearer token is not valid" :
				      "unauthorized: send Authorization: Bearer <token>",
				MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				tok ? "Bearer realm=\"cortex\", error=\"invalid_token\"" :
				      "Bearer realm=\"cortex\"");
			return NULL;
		}
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) && strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_DELETE)) {
		*ret = send_rpc_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, CX_RPC_INVALID_REQUEST,
				      "method not allowed: use POST, GET or DELETE",
				      MHD_HTTP_HEADER_ALLOW, ALLOW_MCP);
		return NULL;
	}
	return who;
}

static enum MHD_Result route(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, void **con_cls)
{
	const struct cx_principal *who;
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!strcmp(url, HEALTH_PATH)) {
		if (!strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD))
			return send_static(conn, MHD_HTTP_OK, "ok\n", "text/plain");
		r = resp_new("", 0, false, NULL);
		if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_NO) {
			MHD_destroy_response(r);
			r = NULL;
		}
		return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	}
	if (strcmp(url, MCP_PATH) != 0)
		return send_static(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}", CT_JSON);
	who = admit(h, conn, method, &ret);
	if (!who)
		return ret;
	if (!strcmp(method, MHD_HTTP_METHOD_POST))
		return start_post(h, conn, who, con_cls);
	if (!strcmp(method, MHD_HTTP_METHOD_GET))
		return handle_get(h, conn, who);
	return handle_delete(h, conn, who);
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
	if (*con_cls)
		return post_data(*con_cls, upload_data, upload_data_size);
	ret = route(h, conn, url, method, con_cls);
	if (!*con_cls)
		*con_cls = &h->sentinel;
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cx_http *h = cls;
	struct req *r = *con_cls;
	bool orphan;

	*con_cls = NULL;
	if (!r || (void *)r == &h->sentinel)
		return;
	pthread_mutex_lock(&r->mu);
	orphan = r->submitted && !r->replied;
	r->orphaned = orphan;
	pthread_mutex_unlock(&r->mu);
	if (!orphan)
		req_free(r);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
							  va_list ap)
{
	char msg[512];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		return;
	n = (int)strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	cx_warn("http: %s", msg);
}

/* ---- life cycle ---- */

/* "HOST:PORT" or "[V6]:PORT"; host is a literal address or "localhost". */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, char *host,
			size_t hostlen, struct cx_err *err)
{
	const char *colon, *hbeg, *hend;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!listen)
		return cx_err_set(err, "no listen address");
	if (listen[0] == '[') {
		hbeg = listen + 1;
		hend = strchr(hbeg, ']');
		colon = hend ? hend + 1 : NULL;
		if (!hend || *colon != ':')
			goto bad;
		*v6 = true;
	} else {
		hbeg = listen;
		colon = hend = strrchr(listen, ':');
		if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
			goto bad;
		*v6 = false;
	}
	if (hend == hbeg || (size_t)(hend - hbeg) >= hostlen ||
	    cx_parse_long(colon + 1, 0, 65535, &port))
		goto bad;
	memcpy(host, hbeg, (size_t)(hend - hbeg));
	host[hend - hbeg] = '\0';
	if (*v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		return 0;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (!strcasecmp(host, "localhost"))
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	return cx_err_set(err, "invalid listen address '%s': expected HOST:PORT with a literal "
			       "address, e.g. 127.0.0.1:8080 or [::1]:8080", listen ? listen : "");
}

static unsigned clamp_uint(long v, unsigned lo)
{
	if (v < (long)lo)
		return lo;
	if ((unsigned long)v > UINT32_MAX)
		return UINT32_MAX;
	return (unsigned)v;
}

struct cx_http *cx_http_start(struct cx_server *s, const char *listen, struct cx_err *err)
{
	const struct cx_gw_config *conf = cx_server_config(s);
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct MHD_OptionItem opts[10];
	pthread_condattr_t ca;
	struct cx_http *h;
	unsigned flags, n = 0;
	char host[INET6_ADDRSTRLEN + 8];
	bool v6 = false;

	if (parse_listen(listen, &ss, &v6, host, sizeof(host), err))
		return NULL;
	if (!cx_http_is_loopback(host) && !cx_server_auth_required(s) && !conf->insecure_no_auth) {
		cx_err_set(err, "refusing to listen on '%s' without tokens: configure tokens or "
				"pass --insecure-no-auth", listen);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	h->srv = s;
	h->conf = conf;
	h->quiesced = MHD_INVALID_SOCKET;
	atomic_init(&h->stopping, false);
	atomic_init(&h->active, 0);
	atomic_init(&h->event_id, 0);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	/* The logger first, or MHD logs the options before it to stderr by itself. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed,
					    h};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
					    (intptr_t)clamp_uint(conf->max_connections, 1), NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
					    (intptr_t)clamp_uint(conf->connection_timeout_s, 0),
					    NULL};
	/* MHD clears a connection's memory pool for every request; 16 KiB holds the largest
	 * headers we accept (a 4 KiB session id among them) and costs half the default. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16384, NULL};
	/* A pool of one is the plain internal polling thread. */
	if (conf->http_threads > 1)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
						    (intptr_t)clamp_uint(conf->http_threads, 1),
						    NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	errno = 0;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!h->d) {
		cx_err_set(err, "could not listen on '%s': %s", listen,
			   errno ? strerror(errno) : "libmicrohttpd refused to start");
		goto fail;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	if (pthread_create(&h->timer, NULL, stream_timer, h)) {
		cx_err_set(err, "could not start the stream timer thread");
		MHD_stop_daemon(h->d);
		goto fail;
	}
	h->timer_started = true;
	return h;
fail:
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
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
	h->quiesced = MHD_quiesce_daemon(h->d);
}

void cx_http_stop(struct cx_http *h)
{
	int64_t deadline;
	long left;

	if (!h)
		return;
	atomic_store(&h->stopping, true);
	pthread_mutex_lock(&h->lock);
	h->timer_stop = true;
	h->streams_closing = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->timer_started)
		pthread_join(h->timer, NULL);

	/* Streams end once resumed: stream_read sees streams_closing and never suspends again. */
	pthread_mutex_lock(&h->lock);
	resume_streams_locked(h);
	pthread_mutex_unlock(&h->lock);

	deadline = cx_now_ms() + STOP_WAIT_MS;
	while ((left = atomic_load(&h->active)) > 0 && cx_now_ms() < deadline) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (left > 0) {
		/* Stopping MHD now would abort the process; leaving it is the lesser harm. */
		cx_error("http: %ld request(s) still wait for an answer; leaving the listener "
			 "open", left);
		return;
	}
	MHD_stop_daemon(h->d);
	if (h->quiesced != MHD_INVALID_SOCKET)
		close(h->quiesced);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
