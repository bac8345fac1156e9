/* Operations-route requests answered from any thread (see http_async.h). */
#include "http_async.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/log.h"
#include "http_stream.h"

/* A body past the cap is read and dropped up to this much before the connection is cut. */
#define DISCARD_MAX (1024 * 1024)

struct cx_http_async *cx_http_async_new(struct cx_http *h, struct MHD_Connection *conn,
					const struct cx_principal *who,
					cx_http_async_start_fn start, void **con_cls)
{
	struct cx_http_async *a = calloc(1, sizeof(*a));
	const union MHD_ConnectionInfo *ci;

	if (!a)
		return NULL;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	a->fd = ci ? ci->connect_fd : -1;
	a->kind = CX_HTTP_CTX_ASYNC;
	a->h = h;
	a->conn = conn;
	a->who = who;
	a->start = start;
	cx_buf_init(&a->body, (size_t)h->conf->max_body_bytes);
	pthread_mutex_init(&a->mu, NULL);
	*con_cls = a;
	return a;
}

static void async_free(struct cx_http_async *a)
{
	cx_buf_release(&a->body);
	json_decref(a->args);
	free(a->out);
	/* Never queued (the client left before the stream's answer was sent), but attached: its
	 * stream still points at it until it is detached. */
	if (a->tap)
		cx_http_tap_free(a->tap);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* The answer a holds, queued on its connection. */
static enum MHD_Result send_answer(struct cx_http_async *a)
{
	struct MHD_Response *r;
	struct tap *t = a->tap;

	if (t) {
		a->tap = NULL;
		return cx_http_queue_stream(a->conn, t, NULL);
	}
	r = cx_http_resp_new(a->out ? a->out : (char *)"", a->out_len, a->out != NULL, a->ctype);
	a->out = NULL;
	if (r && a->allow &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a->allow) == MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(a->conn, a->status, r);
}

static enum MHD_Result begin(struct cx_http_async *a)
{
	struct cx_http *h = a->h;
	bool answered;

	if (a->overflow) {
		cx_http_async_error(a, MHD_HTTP_CONTENT_TOO_LARGE,
				    "payload too large: the body exceeds %ld bytes",
				    h->conf->max_body_bytes);
		return send_answer(a);
	}
	/* Paired with cx_http_stop: it sets stopping, then waits for active to reach 0. */
	atomic_fetch_add(&h->active, 1);
	if (atomic_load(&h->stopping)) {
		atomic_fetch_sub(&h->active, 1);
		cx_http_async_error(a, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "service unavailable: the gateway is shutting down");
		return send_answer(a);
	}
	a->started = true;
	a->counted = true;
	a->start(a);
	pthread_mutex_lock(&a->mu);
	answered = a->answered;
	if (!answered) {
		a->suspended = true;
		MHD_suspend_connection(a->conn);
	}
	pthread_mutex_unlock(&a->mu);
	if (!answered)
		return MHD_YES; /* the answer resumes us and MHD calls the handler again */
	a->counted = false;
	atomic_fetch_sub(&h->active, 1);
	return send_answer(a);
}

enum MHD_Result cx_http_async_data(struct cx_http_async *a, const char *data, size_t *size)
{
	size_t max = (size_t)a->h->conf->max_body_bytes;

	if (*size) {
		if (a->overflow || a->body.len + *size > max) {
			a->overflow = true;
			a->discarded += *size;
			if (a->discarded > (max > DISCARD_MAX ? max : DISCARD_MAX))
				return MHD_NO;
		} else if (cx_buf_append(&a->body, data, *size)) {
			return MHD_NO; /* out of memory */
		}
		*size = 0;
		return MHD_YES;
	}
	if (!a->started)
		return begin(a);
	/* Resumed by the answer. */
	pthread_mutex_lock(&a->mu);
	a->counted = false;
	pthread_mutex_unlock(&a->mu);
	atomic_fetch_sub(&a->h->active, 1);
	return send_answer(a);
}

void cx_http_async_completed(struct cx_http_async *a)
{
	bool orphan, counted;

	pthread_mutex_lock(&a->mu);
	orphan = a->started && !a->answered;
	a->orphaned = orphan;
	/* Answered and resumed, but the client had gone: MHD ends the request without calling
	 * the handler again, so the answer never reached send_answer. */
	counted = !orphan && a->counted;
	a->counted = false;
	pthread_mutex_unlock(&a->mu);
	if (counted)
		atomic_fetch_sub(&a->h->active, 1);
	if (!orphan)
		async_free(a);
}

/* Stores the answer and resumes the connection if it waits for it. */
static void settle(struct cx_http_async *a, unsigned status, char *body, size_t len,
		   const char *ctype, struct tap *t)
{
	struct MHD_Connection *resume = NULL;
	bool orphan;

	pthread_mutex_lock(&a->mu);
	if (a->answered) {
		pthread_mutex_unlock(&a->mu);
		CX_BUG("an operations-route request answered twice");
	}
	a->answered = true;
	a->status = status;
	a->out = body;
	a->out_len = body ? len : 0;
	a->ctype = ctype;
	a->tap = t;
	orphan = a->orphaned;
	if (a->suspended) {
		a->suspended = false;
		resume = a->conn;
	}
	pthread_mutex_unlock(&a->mu);
	if (orphan) {
		atomic_fetch_sub(&a->h->active, 1);
		async_free(a);
		return;
	}
	if (resume)
		cx_http_resume(a->h, resume);
}

void cx_http_async_answer(struct cx_http_async *a, unsigned status, char *body, size_t len,
			  const char *ctype)
{
	settle(a, status, body, len, ctype, NULL);
}

void cx_http_async_answer_json(struct cx_http_async *a, unsigned status, json_t *body)
{
	size_t len = 0;
	char *s = body ? cx_json_dumps(body, &len) : NULL;

	json_decref(body);
	if (!s) {
		static const char oom[] =
			"{\"error\":{\"status\":500,\"message\":\"internal error: "
			"out of memory\"}}";
		s = strdup(oom);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		len = s ? sizeof(oom) - 1 : 0;
	}
	settle(a, status, s, len, CT_JSON, NULL);
}

void cx_http_async_error(struct cx_http_async *a, unsigned status, const char *fmt, ...)
{
	char msg[CX_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cx_http_async_answer_json(a, status,
				  json_pack("{s:{s:i, s:s}}", "error", "status", (int)status,
					    "message", msg));
}

void cx_http_async_answer_stream(struct cx_http_async *a, struct tap *t)
{
	settle(a, MHD_HTTP_OK, NULL, 0, NULL, t);
}
