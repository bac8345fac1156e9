/* Streamable HTTP at /mcp (MCP 2025-03-26, 2025-06-18, 2025-11-25) on libmicrohttpd.
 *
 * The stateless revision (2026-07-28) shares the endpoint: a POST without Mcp-Session-Id whose
 * MCP-Protocol-Version names no revision with initialize is one self-contained request. Its
 * standard headers (Mcp-Method, Mcp-Name, Mcp-Param-*) are checked against the body here; the
 * server checks its _meta. It has no GET streams and no DELETE (405).
 *
 * Threading: every callback here runs on one of MHD's pool threads except reply() and send(),
 * which a worker may call, and the push sink, which any thread may call. A message that goes
 * to a worker suspends its connection in defer(); the worker stores the serialized answer and
 * resumes the connection in reply(); MHD then calls the access handler again, which queues
 * what was stored. Nothing here blocks an MHD thread or polls.
 *
 * SSE streams. A GET stream, and the answer of a POST whose call sends messages before its
 * answer (send()), are streams (struct chan): a queue of numbered events that outlives the
 * connection carrying it (struct tap), so a client whose connection broke can resume it with
 * a GET carrying Last-Event-ID ("<stream>-<seq>"). A tap's content reader suspends its
 * connection when it has sent everything queued; whoever queues an event resumes it. A timer
 * thread resumes idle taps every STREAM_PING_S seconds for a keep-alive comment and forgets
 * streams nobody has carried for STREAM_KEEP_MS.
 *
 * Locks, always taken in this order: req.mu (one POST), cx_http.lock (the list of streams,
 * their reference counts, which tap carries a stream), chan.mu (one stream's events and its
 * tap's reading state). MHD_resume_connection is called with none held: a suspended
 * connection cannot complete, so what it points to stays valid until it is resumed, and
 * clearing the suspended flag under the lock makes exactly one thread the resumer.
 *
 * Shutdown contract: cx_http_quiesce(), then cx_server_drain(), then cx_http_stop().
 * libmicrohttpd aborts the process when it is stopped with a connection still suspended, so
 * cx_http_stop() ends the streams and waits for answers still owed before it stops MHD. */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
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
#include "authlog.h"
#include "listen.h"

#define MCP_PATH "/mcp"
#define HEALTH_PATH "/healthz"

#define CT_JSON "application/json"
#define CT_SSE "text/event-stream"
#define HDR_SESSION "Mcp-Session-Id"
#define HDR_VERSION "MCP-Protocol-Version"
#define HDR_LAST_EVENT_ID "Last-Event-ID"
#define ALLOW_MCP "GET, POST, DELETE"
/* The stateless revision's standard headers (SEP-2243). */
#define HDR_METHOD "Mcp-Method"
#define HDR_NAME "Mcp-Name"
#define HDR_PARAM "Mcp-Param-"

/* Not a JSON-RPC standard code: the MCP specification's answer for an unknown session. */
#define RPC_SESSION_NOT_FOUND (-32001)

#define STREAM_PING_S 15
#define STREAMS_PER_SESSION 4
#define SSE_OPEN ": cortex stream open\n\n"
#define SSE_RESUMED ": cortex stream resumed\n\n"
#define SSE_PING ": keep-alive\n\n"
/* The revision whose streams start with a priming event (an id, empty data, retry:) so the
 * client may reconnect; 2026-07-28 drops resumability again. */
#define RESUMABLE_VERSION "2025-11-25"
#define RETRY_MS 1000
/* The replay buffer of one stream. Events a connected client has not been sent yet are kept
 * beyond it, up to the BACKLOG bounds, so a slow reader loses nothing short of those. */
#define REPLAY_EVENTS 256
#define REPLAY_BYTES (1024 * 1024)
#define BACKLOG_EVENTS 4096
#define BACKLOG_BYTES (16 * 1024 * 1024)
/* All streams' buffers together; past it, streams nobody carries are forgotten early. */
#define REPLAY_TOTAL_BYTES (64 * 1024 * 1024)
/* How long a stream nobody carries can still be resumed. */
#define STREAM_KEEP_MS 30000
#define TICK_MS 1000
#define READ_BLOCK 16384

/* A body past the cap is read and dropped up to this much (so the client can read the 413)
 * before the connection is cut instead. */
#define DISCARD_MIN (1024 * 1024)
/* How long cx_http_stop waits for answers still owed to suspended connections. */
#define STOP_WAIT_MS 10000

/* One queued SSE event: hdr, then json, then "\n\n". */
struct event {
	struct event *next;
	uint64_t seq;
	char *json;                     /* from cx_json_dumps */
	size_t json_len;
	size_t hdr_len;
	char hdr[80];                   /* "id: <stream>-<seq>\nevent: message\ndata: " */
};

/* A stream (see the top of the file). Owned by h->chans; freed by the timer or at stop. */
struct chan {
	struct chan *prev, *next;       /* h->chans */
	uint64_t id;
	char fp[17];                    /* the session's: only its own client may resume it */
	bool get;                       /* a GET stream: takes the session's pushed messages */
	bool resumable;                 /* the session negotiated RESUMABLE_VERSION */
	/* Guarded by h->lock. */
	unsigned refs;                  /* the list, the tap carrying it, the POST's req */
	int64_t idle_ms;                /* when refs last fell to the list's alone */
	/* Changed with h->lock and mu both held; read under either. */
	struct tap *att;                /* the connection carrying the stream, or NULL */
	bool attached_once;
	int64_t detached_ms;            /* when att last became NULL */
	/* Guarded by mu. */
	pthread_mutex_t mu;
	struct event *head, *tail;      /* oldest first */
	size_t count, bytes;
	uint64_t seq;                   /* the newest event's; 0 is the priming event */
	bool final;                     /* nothing more comes: end after the last event */
	unsigned long wake_mark;        /* h->lock: wake_taps' pass that visited it */
};

/* One connection carrying a chan: its MHD response's reader state, freed by tap_free. */
struct tap {
	struct cx_http *h;
	struct chan *ch;
	struct MHD_Connection *conn;
	int fd;                         /* the connection's socket, -1 if unknown */
	/* Guarded by ch->mu. */
	char pre[160];                  /* comments and the priming event, sent first */
	size_t pre_len, pre_off;
	struct event *cur;              /* being sent: never evicted meanwhile */
	size_t off;
	uint64_t next_seq;              /* the first event not yet started */
	unsigned long ping_gen;         /* the h->ping_gen already answered with a ping */
	bool suspended;                 /* suspended by tap_read; the resumer clears it */
	bool gone;                      /* the client hung up or another tap took over */
};

/* One POST /mcp request, from its first access-handler call to NOTIFY_COMPLETED. */
struct req {
	struct cx_exchange x;           /* handed to the server; see req_of() */
	struct cx_http *h;
	struct MHD_Connection *conn;
	struct cx_buf body;
	size_t discarded;               /* bytes dropped after the body passed the cap */
	bool overflow;
	bool sse;                       /* _meta.progressToken: answer as an SSE stream */
	bool submitted;
	int fd;                         /* the socket, once deferred */
	struct cx_session sess;         /* always initialised; released in req_free */

	pthread_mutex_t mu;             /* the fields below are shared with the replying worker */
	bool deferred;                  /* the connection was suspended to wait for reply() */
	bool waiting;                   /* suspended in the access handler; the resumer clears */
	bool replied;
	bool orphaned;                  /* MHD finished the request first: reply() frees */
	bool out_oom;
	char *out;                      /* serialized answer; NULL for 202 */
	size_t out_len;
	struct chan *ch;                /* the answer is this stream (a reference) */
};

struct cx_http {
	struct cx_server *srv;
	const struct cx_gw_config *conf;
	struct MHD_Daemon *d;
	MHD_socket quiesced;            /* the listen socket after quiesce; closed after stop */
	unsigned port;
	char sentinel;                  /* con_cls of requests already answered early */
	bool push_added;

	atomic_bool stopping;
	atomic_bool closing;            /* streams end instead of waiting for more */
	/* Requests that may still suspend or be resumed: from submit until the answer is queued
	 * (synchronous) or until reply() has resumed the connection. */
	atomic_long active;
	atomic_ulong ping_gen;
	atomic_uint_fast64_t next_chan;

	pthread_mutex_t lock;           /* chans, their refs and taps, the timer */
	pthread_cond_t wake;
	pthread_t timer;
	bool timer_started;
	bool timer_stop;
	unsigned push_rr;               /* spreads pushed messages over a session's streams */
	unsigned long wake_mark;
	struct chan *chans;             /* newest first */
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

/* An HTTP error with a JSON-RPC error body echoing id (borrowed; NULL: json null) and carrying
 * data (stolen; may be NULL); hname/hval: one extra header. */
static enum MHD_Result send_rpc_error_id(struct MHD_Connection *conn, unsigned status,
					 json_t *id, int code, const char *msg, json_t *data,
					 const char *hname, const char *hval)
{
	struct MHD_Response *r;
	json_t *e = cx_rpc_error(id, code, msg, data);
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

/* The same with id null and no data. */
static enum MHD_Result send_rpc_error(struct MHD_Connection *conn, unsigned status, int code,
				      const char *msg, const char *hname, const char *hval)
{
	return send_rpc_error_id(conn, status, NULL, code, msg, NULL, hname, hval);
}

static enum MHD_Result send_invalid(struct MHD_Connection *conn, unsigned status,
				    const char *msg)
{
	return send_rpc_error(conn, status, CX_RPC_INVALID_REQUEST, msg, NULL, NULL);
}

/* ---- sessions ---- */

static enum MHD_Result send_bad_version(struct MHD_Connection *conn, const char *v)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "bad request: unsupported MCP-Protocol-Version '%.40s'", v);
	return send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
}

/* The MCP-Protocol-Version header, which must name a supported version when present: NULL
 * when absent; *bad with the 400 answer queued in *ret otherwise. */
static const char *protocol_version(struct MHD_Connection *conn, bool *bad, enum MHD_Result *ret)
{
	const char *v = header(conn, HDR_VERSION);

	*bad = v && !cx_mcp_version_supported(v);
	if (*bad) {
		*ret = send_bad_version(conn, v);
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
	/* The header SHOULD repeat the negotiated version; another revision that also has
	 * sessions is tolerated (the session's version stays in force: some clients send
	 * 2025-03-26 on every request), the stateless revision is a different protocol. */
	if (version && strcmp(version, sess->version) != 0 &&
	    (!strcmp(version, CX_MCP_STATELESS) || !strcmp(sess->version, CX_MCP_STATELESS))) {
		snprintf(msg, sizeof(msg),
			 "bad request: MCP-Protocol-Version '%.20s' does not match the session's "
			 "'%s'", version, sess->version);
		*ret = send_invalid(conn, MHD_HTTP_BAD_REQUEST, msg);
		return -1;
	}
	return 0;
}

/* ---- SSE streams ---- */

static bool version_resumable(const char *v)
{
	return v && !strcmp(v, RESUMABLE_VERSION);
}

/* True when the client of a suspended connection has closed its end. MHD does not watch
 * suspended connections, so without this a client that reconnects its stream would find the
 * per-session limit taken by its own dead streams until a keep-alive write fails. */
static bool peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};

	if (fd < 0 || poll(&p, 1, 0) != 1)
		return false;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void event_free(struct event *ev)
{
	if (ev) {
		free(ev->json);
		free(ev);
	}
}

/* An event for msg (stolen), not yet numbered. NULL on out of memory. */
static struct event *event_new(json_t *msg)
{
	struct event *ev;
	size_t len;
	char *s;

	if (!msg)
		return NULL;
	s = cx_json_dumps(msg, &len);
	json_decref(msg);
	if (!s)
		return NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		free(s);
		return NULL;
	}
	ev->json = s;
	ev->json_len = len;
	return ev;
}

static size_t event_len(const struct event *ev)
{
	return ev->hdr_len + ev->json_len + 2;
}

/* Copies the event's text from off into buf, at most max bytes; returns how many. */
static size_t event_copy(const struct event *ev, size_t off, char *buf, size_t max)
{
	const char *seg[3] = {ev->hdr, ev->json, "\n\n"};
	const size_t len[3] = {ev->hdr_len, ev->json_len, 2};
	size_t n = 0, k;

	for (int i = 0; i < 3 && n < max; i++) {
		if (off >= len[i]) {
			off -= len[i];
			continue;
		}
		k = len[i] - off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, seg[i] + off, k);
		n += k;
		off = 0;
	}
	return n;
}

/* "<stream>-<seq>" as written by chan_append_locked: hex, then decimal. */
static bool parse_event_id(const char *s, uint64_t *stream, uint64_t *seq)
{
	unsigned long long a, b;
	char *end;

	if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
		return false;
	errno = 0;
	a = strtoull(s, &end, 16);
	if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
		return false;
	b = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	*stream = a;
	*seq = b;
	return true;
}

static struct chan *chan_new(struct cx_http *h, const char *fp, bool get, bool resumable)
{
	struct chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	pthread_mutex_init(&ch->mu, NULL);
	ch->id = atomic_fetch_add(&h->next_chan, 1);
	snprintf(ch->fp, sizeof(ch->fp), "%s", fp);
	ch->get = get;
	ch->resumable = resumable;
	return ch;
}

static void chan_free(struct chan *ch)
{
	struct event *ev, *nx;

	for (ev = ch->head; ev; ev = nx) {
		nx = ev->next;
		event_free(ev);
	}
	pthread_mutex_destroy(&ch->mu);
	free(ch);
}

/* h->lock held for these three. */
static void chan_link_locked(struct cx_http *h, struct chan *ch)
{
	ch->refs++;
	ch->prev = NULL;
	ch->next = h->chans;
	if (h->chans)
		h->chans->prev = ch;
	h->chans = ch;
}

static void chan_unlink_locked(struct cx_http *h, struct chan *ch)
{
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		h->chans = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	ch->prev = ch->next = NULL;
}

static void chan_unref_locked(struct chan *ch, int64_t now)
{
	if (--ch->refs == 1)
		ch->idle_ms = now;
}

/* The connection of ch's tap if reading it suspended it; the caller resumes it. ch->mu held. */
static struct MHD_Connection *chan_wake_locked(struct chan *ch)
{
	struct tap *t = ch->att;

	if (!t || !t->suspended)
		return NULL;
	t->suspended = false;
	return t->conn;
}

/* Drops the oldest events past the replay bounds. Events the carrying tap has not sent yet
 * are kept up to the backlog bounds, and the one it is sending always. ch->mu held. */
static void chan_evict_locked(struct chan *ch)
{
	const struct tap *t = ch->att && !ch->att->gone ? ch->att : NULL;
	struct event *ev;

	while ((ev = ch->head) && (ch->count > REPLAY_EVENTS || ch->bytes > REPLAY_BYTES)) {
		if (t && ev == t->cur)
			break;
		if (t && ev->seq >= t->next_seq && ch->count <= BACKLOG_EVENTS &&
		    ch->bytes <= BACKLOG_BYTES)
			break;
		ch->head = ev->next;
		if (!ch->head)
			ch->tail = NULL;
		ch->count--;
		ch->bytes -= event_len(ev);
		event_free(ev);
	}
}

/* Numbers ev (stolen) and queues it. Returns a connection for the caller to resume. ch->mu
 * held. */
static struct MHD_Connection *chan_append_locked(struct chan *ch, struct event *ev)
{
	ev->seq = ++ch->seq;
	ev->hdr_len = (size_t)snprintf(ev->hdr, sizeof(ev->hdr),
				       "id: %" PRIx64 "-%" PRIu64 "\nevent: message\ndata: ",
				       ch->id, ev->seq);
	if (ch->tail)
		ch->tail->next = ev;
	else
		ch->head = ev;
	ch->tail = ev;
	ch->count++;
	ch->bytes += event_len(ev);
	chan_evict_locked(ch);
	return chan_wake_locked(ch);
}

/* What a tap sends before the events: a comment, and the priming event that gives a
 * 2025-11-25 client an id to reconnect with and the delay to wait before it does. */
static void tap_prelude(struct tap *t, const char *comment, bool priming)
{
	int n = snprintf(t->pre, sizeof(t->pre), "%s", comment ? comment : "");

	if (priming)
		n += snprintf(t->pre + n, sizeof(t->pre) - (size_t)n,
			      "id: %" PRIx64 "-0\nretry: %d\ndata:\n\n", t->ch->id, RETRY_MS);
	t->pre_len = (size_t)n;
	t->pre_off = 0;
}

/* MHD's content reader: the prelude, then the stream's events from t->next_seq on, and a
 * keep-alive comment per timer tick. With nothing to send it suspends the connection and
 * returns 0; whoever queues an event resumes it. */
static ssize_t tap_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tap *t = cls;
	struct chan *ch = t->ch;
	struct event *ev;
	unsigned long gen;
	size_t n = 0, k;

	pthread_mutex_lock(&ch->mu);
	for (;;) {
		while (n < max && !t->gone) {
			if (t->pre_off < t->pre_len) {
				k = t->pre_len - t->pre_off;
				if (k > max - n)
					k = max - n;
				memcpy(buf + n, t->pre + t->pre_off, k);
				t->pre_off += k;
				n += k;
			} else if (t->cur) {
				k = event_copy(t->cur, t->off, buf + n, max - n);
				t->off += k;
				n += k;
				if (t->off == event_len(t->cur)) {
					/* Events after the one being sent are never evicted. */
					t->cur = t->cur->next;
					t->off = 0;
					if (t->cur)
						t->next_seq = t->cur->seq + 1;
				}
			} else {
				for (ev = ch->head; ev && ev->seq < t->next_seq; ev = ev->next)
					;
				if (!ev)
					break;
				t->cur = ev;
				t->off = 0;
				t->next_seq = ev->seq + 1;
			}
		}
		if (n)
			break;
		/* Not END_WITH_ERROR for a hang-up: MHD would log it as an application error. */
		if (t->gone || ch->final || atomic_load(&t->h->closing)) {
			pthread_mutex_unlock(&ch->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		gen = atomic_load(&t->h->ping_gen);
		if (t->ping_gen == gen) {
			/* Suspended under the lock, so nobody can resume it first. */
			t->suspended = true;
			MHD_suspend_connection(t->conn);
			break;
		}
		t->ping_gen = gen;
		memcpy(t->pre, SSE_PING, sizeof(SSE_PING) - 1);
		t->pre_len = sizeof(SSE_PING) - 1;
		t->pre_off = 0;
	}
	pthread_mutex_unlock(&ch->mu);
	return (ssize_t)n;
}

static void tap_free(void *cls)
{
	struct tap *t = cls;
	struct cx_http *h = t->h;
	struct chan *ch = t->ch;
	int64_t now = cx_now_ms();

	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&ch->mu);
	if (ch->att == t) {
		ch->att = NULL;
		ch->detached_ms = now;
	}
	pthread_mutex_unlock(&ch->mu);
	chan_unref_locked(ch, now);
	pthread_mutex_unlock(&h->lock);
	free(t);
}

/* A tap for conn (reading from event 1); the caller sets its prelude and attaches it. */
static struct tap *tap_new(struct cx_http *h, struct MHD_Connection *conn, int fd,
			   struct chan *ch)
{
	struct tap *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->h = h;
	t->ch = ch;
	t->conn = conn;
	t->fd = fd;
	t->next_seq = 1;
	t->ping_gen = atomic_load(&h->ping_gen);
	return t;
}

/* t carries ch from now on; a tap that carried it before ends (its client reconnected).
 * Returns a connection for the caller to resume. h->lock held. */
static struct MHD_Connection *tap_attach_locked(struct chan *ch, struct tap *t)
{
	struct MHD_Connection *resume = NULL;
	struct tap *old;

	pthread_mutex_lock(&ch->mu);
	old = ch->att;
	if (old) {
		old->gone = true;
		if (old->suspended) {
			old->suspended = false;
			resume = old->conn;
		}
	}
	ch->att = t;
	ch->attached_once = true;
	pthread_mutex_unlock(&ch->mu);
	ch->refs++;
	return resume;
}

/* Queues the SSE response t feeds. From here tap_free owns t, also on failure. */
static enum MHD_Result queue_stream(struct MHD_Connection *conn, struct tap *t, const char *sid)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, tap_read, t,
					      tap_free);
	if (!r) {
		tap_free(t);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CT_SSE) == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_NO ||
	    (sid && MHD_add_response_header(r, HDR_SESSION, sid) == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(conn, MHD_HTTP_OK, r);
}

#define WAKE_BATCH 16

/* Resumes the suspended taps of session fp (NULL: every session). end: the streams take no
 * more events and end once the queued ones are sent. */
static void wake_taps(struct cx_http *h, const char *fp, bool end)
{
	struct MHD_Connection *conns[WAKE_BATCH];
	struct chan *ch;
	unsigned long mark;
	size_t n;
	bool more;

	pthread_mutex_lock(&h->lock);
	mark = ++h->wake_mark;
	pthread_mutex_unlock(&h->lock);
	do {
		n = 0;
		more = false;
		pthread_mutex_lock(&h->lock);
		for (ch = h->chans; ch; ch = ch->next) {
			if (ch->wake_mark == mark || (fp && strcmp(ch->fp, fp)))
				continue;
			if (n == WAKE_BATCH) {
				more = true;
				break;
			}
			ch->wake_mark = mark;
			pthread_mutex_lock(&ch->mu);
			if (end)
				ch->final = true;
			conns[n] = chan_wake_locked(ch);
			pthread_mutex_unlock(&ch->mu);
			n += conns[n] != NULL;
		}
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < n; i++)
			MHD_resume_connection(conns[i]);
	} while (more);
}

/* Unlinks the streams to forget (h->lock held) and returns them: those nobody has carried
 * for STREAM_KEEP_MS, then, while all buffers together are over budget, the oldest that
 * nobody carries. */
static struct chan *gc_locked(struct cx_http *h, int64_t now)
{
	struct chan *ch, *nx, *dead = NULL, *last = NULL;
	size_t total = 0;

	for (ch = h->chans; ch; ch = nx) {
		nx = ch->next;
		if (ch->refs == 1 && now - ch->idle_ms >= STREAM_KEEP_MS) {
			chan_unlink_locked(h, ch);
			ch->next = dead;
			dead = ch;
			continue;
		}
		pthread_mutex_lock(&ch->mu);
		total += ch->bytes;
		pthread_mutex_unlock(&ch->mu);
		last = ch;
	}
	for (ch = last; ch && total > REPLAY_TOTAL_BYTES; ch = nx) {
		nx = ch->prev;
		if (ch->refs != 1)
			continue;
		pthread_mutex_lock(&ch->mu);
		total -= ch->bytes;
		pthread_mutex_unlock(&ch->mu);
		chan_unlink_locked(h, ch);
		ch->next = dead;
		dead = ch;
	}
	return dead;
}

static void *stream_timer(void *arg)
{
	struct cx_http *h = arg;
	int64_t now, next_ping = cx_now_ms() + STREAM_PING_S * 1000;
	struct chan *dead, *nx;
	struct timespec ts;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += TICK_MS / 1000;
		while (!h->timer_stop &&
		       pthread_cond_timedwait(&h->wake, &h->lock, &ts) != ETIMEDOUT)
			;
		if (h->timer_stop)
			break;
		now = cx_now_ms();
		dead = gc_locked(h, now);
		pthread_mutex_unlock(&h->lock);
		for (; dead; dead = nx) {
			nx = dead->next;
			chan_free(dead);
		}
		if (now >= next_ping) {
			next_ping = now + STREAM_PING_S * 1000;
			atomic_fetch_add(&h->ping_gen, 1);
			wake_taps(h, NULL, false);
		}
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* The server's sink for a session's own messages (list_changed, resources/updated). The
 * specification wants each message on one stream only, never broadcast: it goes to one of
 * the session's connected GET streams, taking turns; with none connected, to the one carried
 * last, if its client may still resume it. */
static int push_one(struct cx_http *h, const char *fp, json_t *msg);

/* fp "*" is every session with a GET stream (list_changed notifications): one stream each. */
static int on_push(void *ctx, const char *fp, json_t *msg)
{
	struct cx_http *h = ctx;
	char (*fps)[17] = NULL;
	size_t n = 0, cap = 0;
	int delivered = 0;

	if (!fp || strcmp(fp, "*"))
		return push_one(h, fp, msg);
	pthread_mutex_lock(&h->lock);
	for (struct chan *ch = h->chans; ch; ch = ch->next) {
		size_t i;

		if (!ch->get || !ch->fp[0])
			continue;
		for (i = 0; i < n && strcmp(fps[i], ch->fp); i++)
			;
		if (i < n)
			continue;
		if (n == cap) {
			char (*more)[17] = realloc(fps, (cap ? cap * 2 : 16) * sizeof(*fps));
			if (!more)
				break;
			fps = more;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(fps[n++], sizeof(fps[0]), "%s", ch->fp);
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		delivered += push_one(h, fps[i], json_incref(msg));
	free(fps);
	json_decref(msg);
	return delivered;
}

static int push_one(struct cx_http *h, const char *fp, json_t *msg)
{
	struct chan *live[STREAMS_PER_SESSION * 2], *later = NULL, *pick, *ch;
	struct MHD_Connection *resume = NULL;
	struct event *ev;
	size_t nlive = 0;
	int64_t now;

	if (!fp || !*fp) {
		json_decref(msg);
		return 0;
	}
	ev = event_new(msg);
	if (!ev)
		return 0;
	now = cx_now_ms();
	pthread_mutex_lock(&h->lock);
	for (ch = h->chans; ch; ch = ch->next) {
		if (!ch->get || strcmp(ch->fp, fp))
			continue;
		pthread_mutex_lock(&ch->mu);
		if (ch->final) {
			/* The session ended. */
		} else if (ch->att && !ch->att->gone) {
			if (nlive < sizeof(live) / sizeof(live[0]))
				live[nlive++] = ch;
		} else if (ch->resumable && !ch->att && ch->attached_once &&
			   now - ch->detached_ms < STREAM_KEEP_MS &&
			   (!later || ch->detached_ms > later->detached_ms)) {
			later = ch;
		}
		pthread_mutex_unlock(&ch->mu);
	}
	pick = nlive ? live[h->push_rr++ % nlive] : later;
	if (pick) {
		pthread_mutex_lock(&pick->mu);
		if (!pick->final) {
			resume = chan_append_locked(pick, ev);
			ev = NULL;
		}
		pthread_mutex_unlock(&pick->mu);
	}
	pthread_mutex_unlock(&h->lock);
	if (resume)
		MHD_resume_connection(resume);
	if (ev) {
		event_free(ev);
		return 0;
	}
	return 1;
}

/* ---- GET streams ---- */

/* A new GET stream, or with Last-Event-ID the resumption of the stream that id belongs to:
 * the events after it, then live ones (a POST's stream ends after its answer). An id that is
 * unknown, forgotten or another session's gets a new stream: the specification has no error
 * for it, and 404 would tell the client its session is gone. */
static enum MHD_Result handle_get(struct cx_http *h, struct MHD_Connection *conn,
				   const struct cx_principal *who)
{
	struct MHD_Connection *resume[STREAMS_PER_SESSION * 2 + 1];
	const union MHD_ConnectionInfo *ci;
	struct cx_session sess;
	struct chan *ch = NULL, *it;
	struct MHD_Connection *c;
	const char *version, *last;
	enum MHD_Result ret;
	uint64_t sid, seq = 0;
	struct tap *t;
	size_t nres = 0;
	bool json, sse, bad, resumable;
	int count = 0;

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
	resumable = version_resumable(sess.version);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	t = tap_new(h, conn, ci ? ci->connect_fd : -1, NULL);
	if (!t) {
		cx_session_release(&sess);
		return MHD_NO;
	}
	last = header(conn, HDR_LAST_EVENT_ID);

	pthread_mutex_lock(&h->lock);
	if (last && parse_event_id(last, &sid, &seq)) {
		for (it = h->chans; it && it->id != sid; it = it->next)
			;
		if (it && !strcmp(it->fp, sess.fp)) {
			pthread_mutex_lock(&it->mu);
			/* A finished POST stream still has its answer to give. */
			if (seq <= it->seq && !(it->final && it->get))
				ch = it;
			pthread_mutex_unlock(&it->mu);
		}
	}
	for (it = h->chans; it; it = it->next) {
		if (it == ch || !it->get || strcmp(it->fp, sess.fp))
			continue;
		pthread_mutex_lock(&it->mu);
		if (it->att && !it->att->gone) {
			/* A suspended connection stays open until resumed, so its fd is its own. */
			if (it->att->suspended && nres < sizeof(resume) / sizeof(resume[0]) - 1 &&
			    peer_gone(it->att->fd)) {
				it->att->gone = true;
				it->att->suspended = false;
				resume[nres++] = it->att->conn;
			} else {
				count++;
			}
		}
		pthread_mutex_unlock(&it->mu);
	}
	if ((!ch || ch->get) && count >= STREAMS_PER_SESSION) {
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < nres; i++)
			MHD_resume_connection(resume[i]);
		free(t);
		cx_session_release(&sess);
		return send_invalid(conn, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many requests: this session already has the most GET "
				    "streams allowed open; close one first");
	}
	if (ch) {
		t->ch = ch;
		t->next_seq = seq + 1;
		tap_prelude(t, SSE_RESUMED, false);
	} else {
		ch = chan_new(h, sess.fp, true, resumable);
		if (!ch) {
			pthread_mutex_unlock(&h->lock);
			for (size_t i = 0; i < nres; i++)
				MHD_resume_connection(resume[i]);
			free(t);
			cx_session_release(&sess);
			return MHD_NO;
		}
		chan_link_locked(h, ch);
		t->ch = ch;
		tap_prelude(t, SSE_OPEN, resumable);
	}
	c = tap_attach_locked(ch, t);
	if (c)
		resume[nres++] = c;
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < nres; i++)
		MHD_resume_connection(resume[i]);
	cx_session_release(&sess);
	return queue_stream(conn, t, NULL);
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
	if (!rc) {
		cx_debug("session %s ended by the client", sess.fp);
		wake_taps(h, sess.fp, true);
		cx_server_session_ended(h->srv, sess.fp);
	}
	cx_session_release(&sess);
	if (rc)
		return send_rpc_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, CX_RPC_INTERNAL_ERROR,
				      "internal error: could not end the session", NULL, NULL);
	return queue(conn, MHD_HTTP_NO_CONTENT, resp_new("", 0, false, NULL));
}

/* ---- the stateless revision (2026-07-28) ---- */

/* A POST of the stateless revision: no session, and an MCP-Protocol-Version that names none of
 * the revisions with initialize (2026-07-28 itself, or a version the server answers with
 * -32022). An initialize naming an unknown version comes from a client of the older revisions
 * and is refused as before. */
static bool is_stateless(const char *version, const char *sid, bool init)
{
	return version && (!sid || !*sid) && !cx_mcp_version_supported(version) &&
	       (!init || !strcmp(version, CX_MCP_STATELESS));
}

/* GET and DELETE of the stateless revision, which has neither streams nor sessions. */
static bool stateless_stream_request(struct MHD_Connection *conn)
{
	const char *v = header(conn, HDR_VERSION), *sid;

	if (!v || strcmp(v, CX_MCP_STATELESS))
		return false;
	sid = header(conn, HDR_SESSION);
	return !sid || !*sid;
}

/* A header's value without optional whitespace around it (RFC 9110 OWS); NULL when absent. */
static const char *header_trimmed(struct MHD_Connection *conn, const char *name, size_t *len)
{
	const char *v = header(conn, name), *e;

	if (!v)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*len = (size_t)(e - v);
	return v;
}

static bool bytes_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Decodes standard Base64 with padding (RFC 4648 section 4) into out, which has room for
 * len / 4 * 3 bytes. The decoded length, or -1 unless len is a multiple of 4 and the text is
 * the alphabet followed by at most two '=': EVP_DecodeBlock by itself takes missing padding
 * and blanks, and counts the padding as zero bytes. */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t pad = 0;
	int n;

	if (len % 4 || len > INT_MAX)
		return -1;
	if (!len)
		return 0;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		if (!b64_char(in[i]))
			return -1;
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	return n - (long)pad;
}

#define B64_OPEN "=?base64?"
#define B64_CLOSE "?="

/* What a mirrored header carries: a value wrapped as =?base64?...?= decoded, any other value
 * literally. *out points into v, or into *buf (malloc'd, caller frees) when decoded. -1 for a
 * wrapper around invalid Base64, or out of memory. */
static int header_value_decode(const char *v, size_t len, char **buf, const char **out,
			       size_t *outlen)
{
	const size_t open = sizeof(B64_OPEN) - 1, close = sizeof(B64_CLOSE) - 1;
	long n;

	*buf = NULL;
	if (len < open + close || memcmp(v, B64_OPEN, open) ||
	    memcmp(v + len - close, B64_CLOSE, close)) {
		*out = v;
		*outlen = len;
		return 0;
	}
	v += open;
	len -= open + close;
	*buf = malloc(len / 4 * 3 + 1);
	if (!*buf)
		return -1;
	n = b64_decode(v, len, (unsigned char *)*buf);
	if (n < 0) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	*out = *buf;
	*outlen = (size_t)n;
	return 0;
}

/* True when a header value (decoded) is the argument: the same bytes for a string, "true" or
 * "false" for a boolean, the same number for a number (42 and 42.0 agree). */
static bool arg_matches(const json_t *arg, const char *v, size_t len)
{
	char num[64], *end;
	double d;

	if (json_is_string(arg))
		return bytes_equal(json_string_value(arg), json_string_length(arg), v, len);
	if (json_is_true(arg))
		return bytes_equal(v, len, "true", 4);
	if (json_is_false(arg))
		return bytes_equal(v, len, "false", 5);
	if (!len || len >= sizeof(num) || strspn(v, "0123456789+-.eE") < len)
		return false;
	memcpy(num, v, len);
	num[len] = '\0';
	errno = 0;
	d = strtod(num, &end);
	return !errno && *end == '\0' && d == json_number_value(arg);
}

/* An x-mcp-header value that can name a header: an RFC 9110 token of sensible length. The
 * specification has clients refuse a tool with another; the gateway does not enforce it. */
static bool header_token(const char *name)
{
	size_t len = strlen(name);

	return len && len <= 128 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "!#$%&'*+-.^_`|~") == len;
}

/* SEP-2243: every argument the tool's inputSchema annotates with x-mcp-header (a string,
 * number or boolean; null and absent ones need no header) must come with a header
 * Mcp-Param-<annotation> that carries the same value. 0, or -1 with the reason in msg. */
static int check_param_headers(struct cx_http *h, struct MHD_Connection *conn,
			       const json_t *params, char *msg, size_t msglen)
{
	const json_t *def, *props, *args, *prop, *arg, *ann;
	const char *key, *v, *val;
	char hname[sizeof(HDR_PARAM) + 128], *buf;
	size_t len, vlen;
	bool same;

	def = cx_server_tool_def(h->srv, json_string_value(json_object_get(params, "name")));
	props = json_object_get(json_object_get(def, "inputSchema"), "properties");
	args = json_object_get(params, "arguments");
	if (!json_is_object(props) || !json_is_object(args))
		return 0;
	/* The definition is published and never mutated: iterating it is a read. */
	json_object_foreach((json_t *)props, key, prop) {
		ann = json_object_get(prop, "x-mcp-header");
		arg = json_object_get(args, key);
		if (!json_is_string(ann) || !header_token(json_string_value(ann)) ||
		    !(json_is_string(arg) || json_is_number(arg) || json_is_boolean(arg)))
			continue;
		snprintf(hname, sizeof(hname), HDR_PARAM "%s", json_string_value(ann));
		v = header_trimmed(conn, hname, &len);
		if (!v) {
			cx_fmt(msg, msglen, "header mismatch: missing %s header (it must repeat "
			       "arguments.%.100s)", hname, key);
			return -1;
		}
		if (header_value_decode(v, len, &buf, &val, &vlen)) {
			cx_fmt(msg, msglen, "header mismatch: %s is not valid Base64 inside "
			       B64_OPEN "..." B64_CLOSE, hname);
			return -1;
		}
		same = arg_matches(arg, val, vlen);
		free(buf);
		if (!same) {
			cx_fmt(msg, msglen, "header mismatch: %s does not match arguments.%.100s",
			       hname, key);
			return -1;
		}
	}
	return 0;
}

/* The params member Mcp-Name repeats for method, or NULL. */
static const char *name_member(const char *method)
{
	if (!strcmp(method, "tools/call") || !strcmp(method, "prompts/get"))
		return "name";
	if (!strcmp(method, "resources/read"))
		return "uri";
	if (!strcmp(method, "tasks/get") || !strcmp(method, "tasks/update") ||
	    !strcmp(method, "tasks/cancel"))
		return "taskId";
	return NULL;
}

/* The standard headers of the stateless revision (SEP-2243), which let intermediaries route
 * without reading the body and so must agree with it: Mcp-Method repeats the method (values
 * compare exactly), Mcp-Name the name, URI or task id the request acts on, Mcp-Param-* the
 * annotated tool arguments. 0, or -1 with the reason in msg. */
static int check_mirrored_headers(struct cx_http *h, struct MHD_Connection *conn,
				  const json_t *m, char *msg, size_t msglen)
{
	const char *method = json_string_value(json_object_get(m, "method"));
	const json_t *params = json_object_get(m, "params"), *want;
	const char *v, *member, *val;
	size_t len, vlen;
	char *buf;
	bool same;

	if (!method)
		return 0;       /* a response to the server mirrors nothing */
	v = header_trimmed(conn, HDR_METHOD, &len);
	if (!v) {
		cx_fmt(msg, msglen, "header mismatch: missing " HDR_METHOD " header (it must "
		       "repeat the method, '%.100s')", method);
		return -1;
	}
	if (!bytes_equal(v, len, method, strlen(method))) {
		cx_fmt(msg, msglen, "header mismatch: " HDR_METHOD " does not match the method "
		       "'%.100s'", method);
		return -1;
	}
	member = name_member(method);
	want = member ? json_object_get(params, member) : NULL;
	if (json_is_string(want)) {
		v = header_trimmed(conn, HDR_NAME, &len);
		if (!v) {
			cx_fmt(msg, msglen, "header mismatch: missing " HDR_NAME " header (it must "
			       "repeat params.%s)", member);
			return -1;
		}
		/* Literal, or Base64 for a value a header cannot carry as it is. */
		same = bytes_equal(v, len, json_string_value(want), json_string_length(want));
		if (!same && !header_value_decode(v, len, &buf, &val, &vlen)) {
			same = buf && bytes_equal(val, vlen, json_string_value(want),
						  json_string_length(want));
			free(buf);
		}
		if (!same) {
			cx_fmt(msg, msglen, "header mismatch: " HDR_NAME " does not match "
			       "params.%s", member);
			return -1;
		}
	}
	if (!strcmp(method, "tools/call"))
		return check_param_headers(h, conn, params, msg, msglen);
	return 0;
}

/* Readies r for a stateless request m: no session, the header's version, the server told so.
 * 0, or -1 with the error answer queued in *ret (its id the request's). */
static int stateless_prepare(struct req *r, const json_t *m, const char *version,
			     enum MHD_Result *ret)
{
	struct MHD_Connection *conn = r->conn;
	json_t *id = json_is_object(m) ? json_object_get(m, "id") : NULL;
	const char *pv;
	char msg[400];

	if (!json_is_object(m)) {
		*ret = send_rpc_error_id(conn, MHD_HTTP_BAD_REQUEST, NULL, CX_RPC_INVALID_REQUEST,
					 json_is_array(m) ?
					 "invalid request: there are no JSON-RPC batches in "
					 "protocol version " CX_MCP_STATELESS "; send one message "
					 "per request" :
					 "invalid request: the body must be a JSON-RPC object",
					 NULL, NULL, NULL);
		return -1;
	}
	if (check_mirrored_headers(r->h, conn, m, msg, sizeof(msg))) {
		*ret = send_rpc_error_id(conn, MHD_HTTP_BAD_REQUEST, id, CX_RPC_HEADER_MISMATCH,
					 msg, NULL, NULL, NULL);
		return -1;
	}
	if (strlen(version) >= sizeof(r->sess.version)) {
		/* Too long to be any version: answered here as the server would. */
		pv = json_string_value(json_object_get(
			json_object_get(json_object_get(m, "params"), "_meta"), CX_META_VERSION));
		if (pv && !strcmp(pv, version))
			*ret = send_rpc_error_id(conn, MHD_HTTP_BAD_REQUEST, id,
						 CX_RPC_UNSUPPORTED_VERSION,
						 "Unsupported protocol version",
						 json_pack("{s:[s], s:s}", "supported",
							   CX_MCP_STATELESS, "requested", version),
						 NULL, NULL);
		else
			*ret = send_rpc_error_id(conn, MHD_HTTP_BAD_REQUEST, id,
						 CX_RPC_HEADER_MISMATCH,
						 "MCP-Protocol-Version header does not match _meta "
						 "protocolVersion", NULL, NULL, NULL);
		return -1;
	}
	snprintf(r->sess.version, sizeof(r->sess.version), "%s", version);
	r->x.stateless = true;
	return 0;
}

/* ---- POST ---- */

static void req_free(struct req *r)
{
	struct cx_http *h = r->h;

	if (r->ch) {
		pthread_mutex_lock(&h->lock);
		chan_unref_locked(r->ch, cx_now_ms());
		pthread_mutex_unlock(&h->lock);
	}
	cx_buf_release(&r->body);
	cx_session_release(&r->sess);
	free(r->x.new_session_id);
	free(r->out);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Suspends the connection until reply() or the first send(); r->mu held, on the MHD
 * thread. */
static void req_suspend_locked(struct req *r)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	r->fd = ci ? ci->connect_fd : -1;
	r->deferred = true;
	r->waiting = true;
	MHD_suspend_connection(r->conn);
}

/* The server calls this on our (MHD) thread inside cx_server_submit, before a worker can
 * see the message; suspending under r->mu orders the suspend before reply()'s resume. */
static void on_defer(struct cx_exchange *x)
{
	struct req *r = req_of(x);

	pthread_mutex_lock(&r->mu);
	if (!r->deferred && !r->replied)
		req_suspend_locked(r);
	pthread_mutex_unlock(&r->mu);
}

/* r's answer becomes a stream. r->mu held; NULL on out of memory. */
static struct chan *req_stream_locked(struct req *r)
{
	struct cx_http *h = r->h;
	struct chan *ch;

	if (r->ch)
		return r->ch;
	ch = chan_new(h, r->sess.fp, false, version_resumable(r->sess.version));
	if (!ch)
		return NULL;
	pthread_mutex_lock(&h->lock);
	chan_link_locked(h, ch);
	ch->refs++;                     /* r's, dropped in req_free */
	pthread_mutex_unlock(&h->lock);
	r->ch = ch;
	return ch;
}

/* A worker, between defer() and reply(). The first message turns the answer into a stream:
 * the connection, suspended since defer(), is resumed and the access handler queues it. -1
 * when nobody can receive msg: the client left before the stream began (it has no event id
 * to resume with), or it left and, before 2025-11-25 or for longer than STREAM_KEEP_MS, has
 * not resumed. */
static int on_send(struct cx_exchange *x, json_t *msg)
{
	struct req *r = req_of(x);
	struct MHD_Connection *resume[2] = {NULL, NULL};
	struct event *ev = event_new(msg);
	struct chan *ch;
	struct tap *t;
	bool orphan, gone_early = false, ok;
	int64_t now = cx_now_ms();

	if (!ev)
		return -1;
	pthread_mutex_lock(&r->mu);
	if (r->replied || (r->orphaned && !r->ch) || !(ch = req_stream_locked(r))) {
		pthread_mutex_unlock(&r->mu);
		event_free(ev);
		return -1;
	}
	if (r->waiting) {
		r->waiting = false;
		resume[0] = r->conn;
		gone_early = peer_gone(r->fd);
	}
	orphan = r->orphaned;
	pthread_mutex_unlock(&r->mu);

	pthread_mutex_lock(&ch->mu);
	if (ch->final) {
		/* The session was deleted. */
		pthread_mutex_unlock(&ch->mu);
		event_free(ev);
		if (resume[0])
			MHD_resume_connection(resume[0]);
		return -1;
	}
	t = ch->att;
	if (t && !t->gone && t->suspended && peer_gone(t->fd)) {
		t->gone = true;
		t->suspended = false;
		resume[1] = t->conn;
	}
	if (t && !t->gone)
		ok = true;
	else if (t)
		ok = ch->resumable;
	else if (!ch->attached_once)
		ok = !orphan && !gone_early;
	else
		ok = ch->resumable && now - ch->detached_ms < STREAM_KEEP_MS;
	/* A tap just found gone is no longer suspended, so at most one of the two is set. */
	if (!resume[1])
		resume[1] = chan_append_locked(ch, ev);
	else
		(void)chan_append_locked(ch, ev);
	pthread_mutex_unlock(&ch->mu);
	for (int i = 0; i < 2; i++) {
		if (resume[i])
			MHD_resume_connection(resume[i]);
	}
	return ok ? 0 : -1;
}

/* Any thread. Serializes outside the locks; resumes outside them too (the connection cannot
 * finish, and r cannot be freed, until it is resumed). */
static void on_reply(struct cx_exchange *x, json_t *response)
{
	struct req *r = req_of(x);
	struct cx_http *h = r->h;
	struct MHD_Connection *wake = NULL;
	struct event *ev = NULL;
	struct chan *ch;
	char *out = NULL;
	size_t len = 0;
	bool resume, orphan, deferred, oom = false;

	pthread_mutex_lock(&r->mu);
	ch = r->ch;
	/* A request with a progress token is answered as a stream even when nothing came
	 * before the answer; out of memory, or with an error that has its own HTTP status, it
	 * is answered as JSON. */
	if (!ch && r->sse && response && !r->orphaned && !x->http_status)
		ch = req_stream_locked(r);
	pthread_mutex_unlock(&r->mu);

	if (ch) {
		ev = event_new(response);
		if (response && !ev)
			cx_error("http: out of memory; a stream ends without its answer");
		pthread_mutex_lock(&ch->mu);
		if (!ch->final && ev) {
			wake = chan_append_locked(ch, ev);
			ev = NULL;
		}
		/* reply(NULL): the client cancelled the request; the stream just ends. */
		ch->final = true;
		if (!wake)
			wake = chan_wake_locked(ch);
		pthread_mutex_unlock(&ch->mu);
		event_free(ev);
	} else if (response) {
		out = cx_json_dumps(response, &len);
		json_decref(response);
		oom = !out;
	}

	pthread_mutex_lock(&r->mu);
	if (!ch) {
		r->out = out;
		r->out_len = len;
		r->out_oom = oom;
	}
	r->replied = true;
	orphan = r->orphaned;
	deferred = r->deferred;
	resume = r->waiting && !orphan;
	if (resume)
		r->waiting = false;
	pthread_mutex_unlock(&r->mu);
	if (wake)
		MHD_resume_connection(wake);
	if (orphan) {
		if (deferred)
			atomic_fetch_sub(&h->active, 1);
		req_free(r);
		return;
	}
	if (resume)
		MHD_resume_connection(r->conn);
	if (deferred)
		atomic_fetch_sub(&h->active, 1);
}

/* Queues r's stream on its own connection, from the priming event on. */
static enum MHD_Result send_stream(struct req *r, struct chan *ch)
{
	struct cx_http *h = r->h;
	struct MHD_Connection *c;
	struct tap *t = tap_new(h, r->conn, r->fd, ch);

	if (!t)
		return MHD_NO;
	tap_prelude(t, NULL, ch->resumable);
	pthread_mutex_lock(&h->lock);
	c = tap_attach_locked(ch, t);
	pthread_mutex_unlock(&h->lock);
	if (c)
		MHD_resume_connection(c);
	return queue_stream(r->conn, t, r->x.new_session_id);
}

static enum MHD_Result send_reply(struct req *r)
{
	struct MHD_Response *resp;

	if (r->out_oom)
		return send_rpc_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				      CX_RPC_INTERNAL_ERROR, "internal error: out of memory", NULL,
				      NULL);
	if (!r->out)
		return queue(r->conn, MHD_HTTP_ACCEPTED, resp_new("", 0, false, NULL));
	resp = resp_new(r->out, r->out_len, true, CT_JSON);
	r->out = NULL;
	if (resp && r->x.new_session_id &&
	    MHD_add_response_header(resp, HDR_SESSION, r->x.new_session_id) == MHD_NO) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	/* The stateless revision gives some errors a status of their own. */
	return queue(r->conn, r->x.http_status ? (unsigned)r->x.http_status : MHD_HTTP_OK, resp);
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
	struct chan *ch;
	json_t *m;
	bool init, deferred;

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
	init = json_is_object(m) &&
	       !strcmp(json_string_value(json_object_get(m, "method")) ?: "", "initialize");
	/* The session header is looked up only off the common path (a supported version). */
	version = header(conn, HDR_VERSION);
	if (version && !cx_mcp_version_supported(version)) {
		if (!is_stateless(version, header(conn, HDR_SESSION), init)) {
			json_decref(m);
			return send_bad_version(conn, version);
		}
		if (stateless_prepare(r, m, version, &ret)) {
			json_decref(m);
			return ret;
		}
	} else if (!version && !init && !header(conn, HDR_SESSION)) {
		ret = send_rpc_error_id(conn, MHD_HTTP_BAD_REQUEST,
					json_is_object(m) ? json_object_get(m, "id") : NULL,
					CX_RPC_HEADER_MISMATCH,
					"Missing MCP-Protocol-Version header: send "
					"MCP-Protocol-Version: " CX_MCP_STATELESS " (and _meta), or "
					"initialize first and send the Mcp-Session-Id it returns",
					NULL, NULL, NULL);
		json_decref(m);
		return ret;
	} else if (!init && open_session(h, conn, r->x.who, version, &r->sess, &ret)) {
		json_decref(m);
		return ret;
	}
	r->sse = wants_sse(m);
	r->x.session = &r->sess;
	r->x.session_ready = !init || r->x.stateless;
	r->x.want_session_id = init && !r->x.stateless;

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
	/* The server went asynchronous without defer(): wait for reply() all the same. */
	if (!r->deferred && !r->replied)
		req_suspend_locked(r);
	deferred = r->deferred;
	ch = r->ch;
	pthread_mutex_unlock(&r->mu);
	if (deferred)
		return MHD_YES;       /* reply() resumes us and MHD calls on_request again */
	atomic_fetch_sub(&h->active, 1);
	return ch ? send_stream(r, ch) : send_reply(r);
}

/* Called for every access-handler call of a POST after the first. */
static enum MHD_Result post_data(struct req *r, const char *data, size_t *size)
{
	struct cx_http *h = r->h;
	size_t max = (size_t)h->conf->max_body_bytes;
	struct chan *ch;
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
	/* Resumed by reply() or by the first send(). */
	pthread_mutex_lock(&r->mu);
	replied = r->replied;
	ch = r->ch;
	pthread_mutex_unlock(&r->mu);
	if (ch)
		return send_stream(r, ch);
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
	r->fd = -1;
	cx_buf_init(&r->body, (size_t)h->conf->max_body_bytes);
	cx_session_init(&r->sess);
	pthread_mutex_init(&r->mu, NULL);
	r->x.who = who;
	r->x.defer = on_defer;
	r->x.reply = on_reply;
	r->x.send = on_send;
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
	const char *origin, *tok;

	if (!host_allowed(h->conf, header(conn, MHD_HTTP_HEADER_HOST))) {
		cx_authlog_http(conn, h->srv, MHD_HTTP_FORBIDDEN, "Host",
				header(conn, MHD_HTTP_HEADER_HOST),
				"is not a loopback name, this machine's, or in "
				"http.allowed_hosts");
		*ret = send_invalid(conn, MHD_HTTP_FORBIDDEN,
				    "forbidden: Host header is not a loopback name, this machine's, "
				    "or in http.allowed_hosts");
		return NULL;
	}
	origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
	if (origin && !origin_allowed(h->conf, origin)) {
		cx_authlog_http(conn, h->srv, MHD_HTTP_FORBIDDEN, "Origin", origin,
				"is not a loopback origin or in http.allowed_origins");
		*ret = send_invalid(conn, MHD_HTTP_FORBIDDEN,
				    "forbidden: Origin is not a loopback origin or in "
				    "http.allowed_origins");
		return NULL;
	}
	if (!cx_server_auth_required(h->srv)) {
		who = cx_server_anonymous(h->srv);
	} else {
		tok = cx_auth_bearer(header(conn, MHD_HTTP_HEADER_AUTHORIZATION));
		who = tok ? cx_server_authenticate(h->srv, tok) : NULL;
		if (!who) {
			cx_authlog_http(conn, h->srv, MHD_HTTP_UNAUTHORIZED, "bearer token", NULL,
					tok ? "is not valid (its SHA-256 is not in tokens)" :
					      "missing (no Authorization: Bearer header)");
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
	if (stateless_stream_request(conn))
		return send_rpc_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, CX_RPC_INVALID_REQUEST,
				      "method not allowed: protocol version " CX_MCP_STATELESS
				      " has no sessions or streams; send each request as a POST",
				      MHD_HTTP_HEADER_ALLOW, "POST");
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

struct cx_http *cx_http_start(struct cx_server *s, const char *listen, struct cx_err *err)
{
	const struct cx_gw_config *conf = cx_server_config(s);
	const union MHD_DaemonInfo *info;
	struct cx_listen la;
	struct MHD_OptionItem opts[10];
	pthread_condattr_t ca;
	struct cx_http *h;
	unsigned flags, n = 0;
	uint64_t base = 0;

	if (cx_listen_parse(listen, &la, err))
		return NULL;
	if (!la.loopback && !cx_server_auth_required(s) && !conf->insecure_no_auth) {
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
	atomic_init(&h->closing, false);
	atomic_init(&h->active, 0);
	atomic_init(&h->ping_gen, 0);
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

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (la.v6)
		flags |= MHD_USE_IPv6;
	/* The logger first, or MHD logs the options before it to stderr by itself. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &la.addr};
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

	if (cx_server_add_push(s, on_push, h)) {
		cx_err_set(err, "could not register the HTTP transport's push sink");
		goto fail;
	}
	h->push_added = true;

	errno = 0;
	/* MHD binds SOCK_ADDR; the port argument is what it reports, in "Failed to bind to
	 * port N" among others, so it gets the real one rather than 0. */
	h->d = MHD_start_daemon(flags, (uint16_t)la.port, NULL, NULL, on_request, h,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
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
	if (h->push_added)
		cx_server_remove_push(s, on_push, h);
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
	struct chan *ch, *nx;
	int64_t deadline;
	long left;

	if (!h)
		return;
	/* Returns once no push is running: none reaches h after this. */
	if (h->push_added)
		cx_server_remove_push(h->srv, on_push, h);
	h->push_added = false;
	atomic_store(&h->stopping, true);
	atomic_store(&h->closing, true);
	pthread_mutex_lock(&h->lock);
	h->timer_stop = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->timer_started)
		pthread_join(h->timer, NULL);

	/* Streams end once resumed: tap_read sees closing and never suspends again. */
	wake_taps(h, NULL, false);

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
	/* Every tap and request is gone with MHD: only the list holds the streams now. */
	for (ch = h->chans; ch; ch = nx) {
		nx = ch->next;
		chan_free(ch);
	}
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
