/* Each client's share of the HTTP server (see http_internal.h). A client is its token's name,
 * else its peer address. A connection is counted against its client from its first admitted
 * request until it closes, and against the client's GET streams once it opens one; past
 * either bound the request gets 429 with Retry-After and the connection is closed, so one
 * client can hold at most its share of http.max_connections and the rest — probes, other
 * clients — are always served. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "authlog.h"
#include "http_internal.h"
#include "http_stream.h"

struct client {
	char key[CX_HTTP_CLIENT_KEY];
	long conns, streams;
};

struct cx_http_clients {
	pthread_mutex_t lock;
	struct client *v;
	size_t n, cap;
	atomic_ulong refused_conns, refused_streams;
};

struct cx_http_clients *cx_http_clients_new(void)
{
	struct cx_http_clients *c = calloc(1, sizeof(*c));

	if (c) {
		pthread_mutex_init(&c->lock, NULL);
		atomic_init(&c->refused_conns, 0);
		atomic_init(&c->refused_streams, 0);
	}
	return c;
}

void cx_http_clients_free(struct cx_http_clients *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->v);
	free(c);
}

unsigned long cx_http_clients_refused(const struct cx_http_clients *c, bool streams)
{
	struct cx_http_clients *m = (struct cx_http_clients *)c;

	if (!m)
		return 0;
	return atomic_load(streams ? &m->refused_streams : &m->refused_conns);
}

/* Under the lock: the entry for key, added when absent. NULL on out of memory. */
static struct client *entry_locked(struct cx_http_clients *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].key, key))
			return &c->v[i];
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct client *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	snprintf(c->v[c->n].key, sizeof(c->v[0].key), "%s", key);
	return &c->v[c->n++];
}

/* Under the lock: an entry with nothing counted goes (the last takes its place). */
static void drop_if_idle_locked(struct cx_http_clients *c, struct client *e)
{
	if (e->conns || e->streams)
		return;
	*e = c->v[--c->n];
}

static void client_key(struct MHD_Connection *conn, const struct cx_principal *who, bool by_token,
		       char *key, size_t len)
{
	const union MHD_ConnectionInfo *ci;

	if (by_token && who) {
		snprintf(key, len, "token %s", who->name);
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(key, len, "peer ");
	cx_authlog_peer(ci ? ci->client_addr : NULL, key + 5, len - 5);
}

static enum MHD_Result refuse(struct cx_http *h, struct MHD_Connection *conn, const char *what,
			      long max, const char *key)
{
	struct MHD_Response *r;
	json_t *e;
	char msg[200], *s;

	atomic_fetch_add(!strcmp(what, "GET streams") ? &h->clients->refused_streams
						      : &h->clients->refused_conns,
			 1);
	snprintf(msg, sizeof(msg),
		 "too many requests: this client already holds %ld %s (%s); close one, or "
		 "retry after a second",
		 max, what,
		 !strcmp(what, "GET streams") ? "http.max_streams_per_client"
					      : "http.max_connections_per_client");
	cx_debug("http: 429 for %s: %ld %s", key, max, what);
	e = cx_rpc_error(NULL, CX_RPC_INVALID_REQUEST, msg, NULL);
	s = e ? cx_json_dumps(e, NULL) : NULL;
	json_decref(e);
	if (!s)
		return MHD_NO;
	r = cx_http_resp_new(s, strlen(s), true, "application/json");
	/* Closed, so that a refused connection frees its slot at once. */
	if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") == MHD_NO ||
		  MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_NO)) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, MHD_HTTP_TOO_MANY_REQUESTS, r);
}

bool cx_http_share_refused(struct cx_http *h, struct MHD_Connection *conn,
			   const struct cx_principal *who, bool stream, enum MHD_Result *ret)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct cx_http_share *sh = ci ? ci->socket_context : NULL;
	struct cx_http_clients *c = h->clients;
	long max_conns = h->conf->max_connections_per_client;
	long max_streams = h->conf->max_streams_per_client;
	const char *what = NULL;
	long max = 0;
	struct client *e;
	char key[CX_HTTP_CLIENT_KEY];

	if (!sh || (sh->key[0] && (!stream || sh->stream)))
		return false; /* counted already */
	client_key(conn, who, cx_server_auth_required(h->srv), key, sizeof(key));
	pthread_mutex_lock(&c->lock);
	/* The connection counts against the client of its first request, a GET stream against
	 * the client that opens it: behind a proxy that reuses its connections for every client,
	 * another client's stream on a connection one client opened is that other client's. */
	e = entry_locked(c, key);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return false; /* out of memory: not counted, not refused */
	}
	if (!sh->key[0] && e->conns >= max_conns) {
		what = "connections";
		max = max_conns;
	} else if (stream && e->streams >= max_streams) {
		what = "GET streams";
		max = max_streams;
	} else {
		if (!sh->key[0]) {
			e->conns++;
			snprintf(sh->key, sizeof(sh->key), "%s", key);
		}
		if (stream) {
			e->streams++;
			snprintf(sh->stream_key, sizeof(sh->stream_key), "%s", key);
			sh->stream = true;
		}
	}
	if (what)
		drop_if_idle_locked(c, e);
	pthread_mutex_unlock(&c->lock);
	if (!what)
		return false;
	/* Streams whose client left while they waited still count: end them now, so that a
	 * client retrying after Retry-After finds its share free. */
	if (stream)
		cx_http_reap_gone(h);
	*ret = refuse(h, conn, what, max, key);
	return true;
}

void cx_http_share_release(struct cx_http *h, struct cx_http_share *sh)
{
	struct cx_http_clients *c = h->clients;
	struct client *e;

	if (!sh->key[0])
		return;
	pthread_mutex_lock(&c->lock);
	if (sh->stream && (e = entry_locked(c, sh->stream_key))) {
		e->streams--;
		drop_if_idle_locked(c, e);
	}
	e = entry_locked(c, sh->key);
	if (e) {
		e->conns--;
		drop_if_idle_locked(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	sh->key[0] = '\0';
	sh->stream_key[0] = '\0';
	sh->stream = false;
}
