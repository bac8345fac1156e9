#include "http_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "http_stateless.h"
#include "http_stream.h"
#include "reply.h"

/* How much of a chunked body past http.max_body_bytes is read and dropped so that the client
 * gets its 413; a body longer still has its connection cut. */
#define DISCARD_MAX ((size_t)64 * 1024 * 1024)

static struct req *req_of(struct cx_exchange *x)
{
	return (struct req *)(void *)((char *)x - offsetof(struct req, x));
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

/* ---- the stateless revision (2026-07-28) ---- */

static const char *conn_header(void *ctx, const char *name)
{
	return cx_http_header(ctx, name);
}

/* Readies r for a stateless request m: no session, the header's version, the server told so.
 * 0, or -1 with the error answer queued in *ret (its id the request's). */
static int stateless_prepare(struct req *r, const json_t *m, const char *version,
			     enum MHD_Result *ret)
{
	const struct cx_http_hdrs hd = { conn_header, r->conn };
	json_t *id = json_is_object(m) ? json_object_get(m, "id") : NULL;
	struct cx_http_refusal no;

	if (cx_http_stateless_check(m, version, sizeof(r->sess.version), r->h->srv, &hd, &no)) {
		*ret = cx_http_send_rpc_error_id(r->conn, MHD_HTTP_BAD_REQUEST, id, no.code, no.msg,
						 no.data, NULL, NULL);
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
		cx_http_stream_unref_locked(r->ch, cx_now_ms());
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
static struct sse_stream *req_stream_locked(struct req *r)
{
	struct cx_http *h = r->h;
	struct sse_stream *ch;

	if (r->ch)
		return r->ch;
	ch = cx_http_stream_new(h, r->sess.fp, false, cx_http_version_resumable(r->sess.version));
	if (!ch)
		return NULL;
	pthread_mutex_lock(&h->lock);
	cx_http_stream_link_locked(h, ch);
	ch->refs++; /* r's, dropped in req_free */
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
	struct MHD_Connection *resume[2] = { NULL, NULL };
	struct event *ev = cx_http_event_new(msg);
	struct sse_stream *ch;
	struct tap *t;
	bool orphan, gone_early = false, ok;
	int64_t now = cx_now_ms();

	if (!ev)
		return -1;
	pthread_mutex_lock(&r->mu);
	if (r->replied || (r->orphaned && !r->ch) || !(ch = req_stream_locked(r))) {
		pthread_mutex_unlock(&r->mu);
		cx_http_event_free(ev);
		return -1;
	}
	if (r->waiting) {
		r->waiting = false;
		resume[0] = r->conn;
		gone_early = cx_http_peer_gone(r->fd);
	}
	orphan = r->orphaned;
	pthread_mutex_unlock(&r->mu);

	pthread_mutex_lock(&ch->mu);
	if (ch->final) {
		/* The session was deleted. */
		pthread_mutex_unlock(&ch->mu);
		cx_http_event_free(ev);
		if (resume[0])
			cx_http_resume(r->h, resume[0]);
		return -1;
	}
	t = ch->att;
	if (t && !t->gone && t->suspended && cx_http_peer_gone(t->fd)) {
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
		resume[1] = cx_http_stream_append_locked(ch, ev);
	else
		(void)cx_http_stream_append_locked(ch, ev);
	pthread_mutex_unlock(&ch->mu);
	for (int i = 0; i < 2; i++) {
		if (resume[i])
			cx_http_resume(r->h, resume[i]);
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
	struct sse_stream *ch;
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
		ev = cx_http_event_new(response);
		if (response && !ev)
			cx_error("http: out of memory; a stream ends without its answer");
		pthread_mutex_lock(&ch->mu);
		if (!ch->final && ev) {
			wake = cx_http_stream_append_locked(ch, ev);
			ev = NULL;
		}
		/* reply(NULL): the client cancelled the request; the stream just ends. */
		ch->final = true;
		if (!wake)
			wake = cx_http_stream_wake_locked(ch);
		pthread_mutex_unlock(&ch->mu);
		cx_http_event_free(ev);
	} else if (response) {
		out = cx_reply_dumps(response, &len);
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
		cx_http_resume(r->h, wake);
	if (orphan) {
		if (deferred)
			atomic_fetch_sub(&h->active, 1);
		req_free(r);
		return;
	}
	if (resume)
		cx_http_resume(r->h, r->conn);
	if (deferred)
		atomic_fetch_sub(&h->active, 1);
}

/* Queues r's stream on its own connection, from the priming event on. */
static enum MHD_Result send_stream(struct req *r, struct sse_stream *ch)
{
	struct cx_http *h = r->h;
	struct MHD_Connection *c;
	struct tap *t = cx_http_tap_new(h, r->conn, r->fd, ch);

	if (!t)
		return MHD_NO;
	cx_http_tap_prelude(t, NULL, ch->resumable);
	pthread_mutex_lock(&h->lock);
	c = cx_http_tap_attach_locked(ch, t);
	pthread_mutex_unlock(&h->lock);
	if (c)
		cx_http_resume(r->h, c);
	return cx_http_queue_stream(r->conn, t, r->x.new_session_id);
}

static enum MHD_Result send_reply(struct req *r)
{
	struct MHD_Response *resp;

	if (r->out_oom)
		return cx_http_send_rpc_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					      CX_RPC_INTERNAL_ERROR,
					      "internal error: out of memory", NULL, NULL);
	if (!r->out)
		return cx_http_queue(r->conn, MHD_HTTP_ACCEPTED,
				     cx_http_resp_new("", 0, false, NULL));
	resp = cx_http_resp_new(r->out, r->out_len, true, CT_JSON);
	r->out = NULL;
	if (resp && r->x.new_session_id &&
	    MHD_add_response_header(resp, HDR_SESSION, r->x.new_session_id) == MHD_NO) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	/* The stateless revision gives some errors a status of their own. */
	return cx_http_queue(r->conn, r->x.http_status ? (unsigned)r->x.http_status : MHD_HTTP_OK,
			     resp);
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
	struct sse_stream *ch;
	json_t *m;
	bool init, deferred;

	if (cx_server_batch_check(h->srv, cx_rpc_count_members(&r->members), msg, sizeof(msg))) {
		cx_buf_release(&r->body);
		return cx_http_send_rpc_error(conn, MHD_HTTP_BAD_REQUEST, CX_RPC_INVALID_REQUEST,
					      msg, NULL, NULL);
	}
	m = cx_json_loadb(r->body.data ? r->body.data : "", r->body.len,
			  (size_t)h->conf->max_body_bytes, &err);
	cx_buf_release(&r->body);
	if (!m) {
		snprintf(msg, sizeof(msg), "parse error: %s", err.msg);
		return cx_http_send_rpc_error(conn, MHD_HTTP_BAD_REQUEST, CX_RPC_PARSE_ERROR, msg,
					      NULL, NULL);
	}
	init = json_is_object(m) &&
	       !strcmp(json_string_value(json_object_get(m, "method")) ?: "", "initialize");
	/* The session header is looked up only off the common path (a supported version). */
	version = cx_http_header(conn, HDR_VERSION);
	if (version && !cx_mcp_version_supported(version)) {
		if (!cx_http_is_stateless(version, cx_http_header(conn, HDR_SESSION), init)) {
			json_decref(m);
			return cx_http_send_bad_version(conn, version);
		}
		if (stateless_prepare(r, m, version, &ret)) {
			json_decref(m);
			return ret;
		}
	} else if (!version && !init && !cx_http_header(conn, HDR_SESSION)) {
		ret = cx_http_send_rpc_error_id(
			conn, MHD_HTTP_BAD_REQUEST,
			json_is_object(m) ? json_object_get(m, "id") : NULL, CX_RPC_HEADER_MISMATCH,
			"Missing MCP-Protocol-Version header: send "
			"MCP-Protocol-Version: " CX_MCP_STATELESS " (and _meta), or "
			"initialize first and send the Mcp-Session-Id it returns",
			NULL, NULL, NULL);
		json_decref(m);
		return ret;
	} else if (!init && cx_http_open_session(h, conn, r->x.who, version, &r->sess, &ret)) {
		json_decref(m);
		return ret;
	}
	r->sse = wants_sse(m);
	r->x.session = &r->sess;
	r->x.initialized = !init || r->x.stateless;
	r->x.want_session_id = init && !r->x.stateless;

	/* Paired with cx_http_stop: it sets stopping, then waits for active to reach 0. */
	atomic_fetch_add(&h->active, 1);
	if (atomic_load(&h->stopping)) {
		atomic_fetch_sub(&h->active, 1);
		json_decref(m);
		return cx_http_send_invalid(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
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
		return MHD_YES; /* reply() resumes us and MHD calls on_request again */
	atomic_fetch_sub(&h->active, 1);
	return ch ? send_stream(r, ch) : send_reply(r);
}

/* Called for every access-handler call of a POST after the first. */
enum MHD_Result cx_http_post_data(struct req *r, const char *data, size_t *size)
{
	struct cx_http *h = r->h;
	size_t max = (size_t)h->conf->max_body_bytes;
	struct sse_stream *ch;
	bool replied;

	if (*size) {
		/* Only a chunked body passes the cap here (a Content-Length past it is refused
		 * before any of it is read). libmicrohttpd 0.9.75 cannot answer in the middle of
		 * an upload, so the rest is read and dropped, and the 413 goes out at its end;
		 * a body that goes on past DISCARD_MAX is cut instead. */
		if (r->overflow || r->body.len + *size > max) {
			if (!r->overflow)
				cx_buf_release(&r->body);
			r->overflow = true;
			r->discarded += *size;
			if (r->discarded > DISCARD_MAX)
				return MHD_NO;
		} else if (r->too_many) {
			/* A batch past calls.max_batch: counted, not kept; 400 at the end. */
		} else {
			cx_rpc_count_feed(&r->members, data, *size);
			if (cx_rpc_count_members(&r->members) > (size_t)h->conf->max_batch) {
				r->too_many = true;
				cx_buf_release(&r->body);
			} else if (cx_buf_append(&r->body, data, *size)) {
				return MHD_NO; /* out of memory */
			}
		}
		*size = 0;
		return MHD_YES;
	}
	if (r->overflow) {
		char msg[96];
		snprintf(msg, sizeof(msg), "payload too large: the body exceeds %ld bytes",
			 h->conf->max_body_bytes);
		return cx_http_send_rpc_error(r->conn, MHD_HTTP_CONTENT_TOO_LARGE,
					      CX_RPC_INVALID_REQUEST, msg,
					      MHD_HTTP_HEADER_CONNECTION, "close");
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
		return cx_http_send_rpc_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					      CX_RPC_INTERNAL_ERROR, "internal error: no answer",
					      NULL, NULL);
	}
	return send_reply(r);
}

enum MHD_Result cx_http_post_start(struct cx_http *h, struct MHD_Connection *conn,
				   const struct cx_principal *who, void **con_cls)
{
	const char *cl;
	struct req *r;
	bool json, sse;
	long len;
	char msg[96];

	cx_http_parse_accept(cx_http_header(conn, MHD_HTTP_HEADER_ACCEPT), &json, &sse);
	if (!json || !sse)
		return cx_http_send_invalid(
			conn, MHD_HTTP_NOT_ACCEPTABLE,
			"not acceptable: the client must accept both application/json "
			"and text/event-stream");
	if (!cx_http_content_type_is_json(cx_http_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return cx_http_send_invalid(
			conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			"unsupported media type: the body must be application/json");
	cl = cx_http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && (cx_parse_long(cl, 0, LONG_MAX, &len) || len > h->conf->max_body_bytes)) {
		snprintf(msg, sizeof(msg), "payload too large: the body exceeds %ld bytes",
			 h->conf->max_body_bytes);
		return cx_http_send_invalid(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg);
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

void cx_http_post_completed(struct req *r)
{
	bool orphan;

	pthread_mutex_lock(&r->mu);
	orphan = r->submitted && !r->replied;
	r->orphaned = orphan;
	pthread_mutex_unlock(&r->mu);
	if (!orphan)
		req_free(r);
}
