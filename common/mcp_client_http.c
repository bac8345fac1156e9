/* One HTTP exchange of the MCP client: a POST (or the session's DELETE) on a pooled
 * connection, its answer read as JSON or as an SSE stream (progress notifications delivered
 * as they come), bounded by a deadline and cancellable from another thread.
 *
 * Each connection is a multi handle with one easy handle: curl_multi_poll lets
 * cx_mcp_cancel() wake the transfer at once with curl_multi_wakeup, and the multi keeps the
 * connection open between requests. */
#include "mcp_client_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "json.h"
#include "util.h"

#define POLL_MAX_MS 1000

/* What the write callback builds while the answer arrives. */
struct rx {
	struct mcp_xfer *x;
	CURL *e;
	size_t max;
	int kind;           /* 0: not known yet, 1: JSON (or anything else), 2: SSE */
	struct cx_buf in;   /* the body (JSON), or the unparsed tail of the stream (SSE) */
	struct cx_buf data; /* the data lines of the SSE event being read */
	bool too_big;
	bool done;   /* the response came on the stream: the rest is not read */
	bool reused; /* sent on a kept connection (libcurl retries a dead one on a new one) */
	bool opened; /* GET: the stream's opening was reported */
};

int mcp_fail(struct cx_err *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = 0;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return status;
}

/* ---- pool ---- */

void mcp_conn_free(struct mcp_conn *k)
{
	if (!k)
		return;
	if (k->e)
		curl_easy_cleanup(k->e);
	if (k->m)
		curl_multi_cleanup(k->m);
	free(k);
}

static struct mcp_conn *conn_take(struct cx_mcp_client *c)
{
	struct mcp_conn *k;

	pthread_mutex_lock(&c->mu);
	k = c->idle;
	if (k)
		c->idle = k->next;
	pthread_mutex_unlock(&c->mu);
	if (k)
		return k;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->m = curl_multi_init();
	k->e = curl_easy_init();
	if (!k->m || !k->e) {
		mcp_conn_free(k);
		return NULL;
	}
	return k;
}

/* A connection whose transfer failed is closed rather than pooled (keep == false). */
static void conn_give(struct cx_mcp_client *c, struct mcp_conn *k, bool keep)
{
	if (!keep) {
		mcp_conn_free(k);
		return;
	}
	k->used = true;
	pthread_mutex_lock(&c->mu);
	k->next = c->idle;
	c->idle = k;
	pthread_mutex_unlock(&c->mu);
}

/* ---- the answer ---- */

/* The end of a GET's headers: a 200 event stream has opened (fn hears NULL once). */
static bool get_opened(struct rx *r)
{
	const char *ct = NULL;
	long status = 0;

	curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->e, CURLINFO_CONTENT_TYPE, &ct);
	if (status != 200 || !ct || strncasecmp(ct, "text/event-stream", 17))
		return false;
	if (r->x->on_message(r->x->msg_ctx, NULL))
		r->done = true;
	return true;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct rx *r = arg;
	size_t len = size * n, name = sizeof(MCP_HDR_SESSION) - 1;
	const char *v, *end;

	if (r->x->get && r->x->on_message && !r->opened && (len == 2 || len == 1) &&
	    (buf[0] == '\r' || buf[0] == '\n')) {
		r->opened = get_opened(r);
		return r->done ? 0 : len;
	}

	if (len > name + 1 && !strncasecmp(buf, MCP_HDR_SESSION, name) && buf[name] == ':') {
		v = buf + name + 1;
		end = buf + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		if (end > v && end - v <= MCP_SESSION_MAX) {
			free(r->x->new_session);
			r->x->new_session = strndup(v, (size_t)(end - v));
		}
	}
	return len;
}

static bool id_matches(const json_t *id, json_int_t want)
{
	return json_is_integer(id) && json_integer_value(id) == want;
}

/* One complete SSE event's data: a progress notification for our token goes to the callback,
 * our response ends the read; anything else (logging, other notifications) is skipped. */
static void sse_dispatch(struct rx *r)
{
	struct mcp_xfer *x = r->x;
	const json_t *p, *total;
	const char *method;
	json_t *m;

	if (!r->data.len)
		return;
	m = cx_json_loadb(r->data.data, r->data.len, r->max, NULL);
	cx_buf_reset(&r->data);
	if (!json_is_object(m)) {
		json_decref(m);
		return;
	}
	method = json_string_value(json_object_get(m, "method"));
	if (x->get) {
		if (method && x->on_message && x->on_message(x->msg_ctx, m))
			r->done = true;
		json_decref(m);
		return;
	}
	if (!method && id_matches(json_object_get(m, "id"), x->id)) {
		x->msg = m;
		r->done = true;
		return;
	}
	p = json_object_get(m, "params");
	if (method && !strcmp(method, "notifications/progress") && x->progress &&
	    id_matches(json_object_get(p, "progressToken"), x->id) &&
	    json_is_number(json_object_get(p, "progress"))) {
		total = json_object_get(p, "total");
		x->progress(x->ctx, json_number_value(json_object_get(p, "progress")),
			    json_is_number(total) ? json_number_value(total) : -1.0,
			    json_string_value(json_object_get(p, "message")));
	}
	json_decref(m);
}

/* One line of the stream (without its end of line). */
static int sse_line(struct rx *r, const char *line, size_t len)
{
	if (!len) {
		sse_dispatch(r);
		return 0;
	}
	if (line[0] == ':' || len < 5 || strncmp(line, "data:", 5))
		return 0; /* comments (keep-alives), id:, event:, retry: */
	line += 5;
	len -= 5;
	if (len && line[0] == ' ') {
		line++;
		len--;
	}
	if (r->data.len && cx_buf_append(&r->data, "\n", 1))
		return -1;
	return cx_buf_append(&r->data, line, len);
}

/* Parses every complete line in r->in and keeps the tail. */
static int sse_feed(struct rx *r)
{
	char *s = r->in.data, *nl;
	size_t left = r->in.len, used;

	while (!r->done && left && (nl = memchr(s, '\n', left))) {
		used = (size_t)(nl - s) + 1;
		if (sse_line(r, s, (size_t)(nl - s) - (nl > s && nl[-1] == '\r')))
			return -1;
		s += used;
		left -= used;
	}
	memmove(r->in.data, s, left);
	r->in.len = left;
	if (r->in.data)
		r->in.data[left] = '\0';
	return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct rx *r = arg;
	size_t len = size * n;
	const char *ct = NULL;

	if (r->done)
		return 0;
	if (!r->kind) {
		curl_easy_getinfo(r->e, CURLINFO_CONTENT_TYPE, &ct);
		r->kind = ct && !strncasecmp(ct, "text/event-stream", 17) ? 2 : 1;
		r->x->sse = r->kind == 2;
	}
	if (cx_buf_append(&r->in, buf, len)) {
		r->too_big = true;
		return 0;
	}
	if (r->kind == 2 && sse_feed(r)) {
		r->too_big = true;
		return 0;
	}
	/* The response is in: stop reading, whatever the server would still send. */
	return r->done ? 0 : len;
}

/* ---- the transfer ---- */

static struct curl_slist *build_headers(struct cx_mcp_client *c, const struct mcp_xfer *x)
{
	struct curl_slist *h = NULL, *t;
	char line[MCP_SESSION_MAX + 64];
	const char *fixed[] = { x->get ? NULL : "Content-Type: application/json",
				x->get ? "Accept: text/event-stream"
				       : "Accept: application/json, text/event-stream",
				"Expect:", c->auth };

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!fixed[i])
			continue;
		if (!(t = curl_slist_append(h, fixed[i])))
			goto fail;
		h = t;
	}
	if (x->session) {
		snprintf(line, sizeof(line), MCP_HDR_SESSION ": %s", x->session);
		if (!(t = curl_slist_append(h, line)))
			goto fail;
		h = t;
	}
	if (x->version) {
		snprintf(line, sizeof(line), MCP_HDR_VERSION ": %s", x->version);
		if (!(t = curl_slist_append(h, line)))
			goto fail;
		h = t;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

static int setup(struct cx_mcp_client *c, struct mcp_xfer *x, CURL *e, struct curl_slist *hdrs,
		 struct rx *r, char *errbuf)
{
	CURLcode rc = CURLE_OK;

	curl_easy_reset(e);
	rc |= curl_easy_setopt(e, CURLOPT_URL, c->url);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (x->get) {
		rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (x->body) {
		rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
	} else {
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	return rc == CURLE_OK ? 0 : -1;
}

/* Registers (m non-NULL) or clears the transfer cx_mcp_cancel() wakes. True when the call is
 * already cancelled. */
static bool cancel_attach(struct cx_mcp_cancel *k, CURLM *m)
{
	bool gone;

	if (!k)
		return false;
	pthread_mutex_lock(&k->mu);
	k->active = m;
	gone = k->cancelled;
	pthread_mutex_unlock(&k->mu);
	return gone;
}

/* Drives the transfer until it ends, is cancelled or passes the deadline. The CURLcode of
 * the transfer, or -1 (cancelled) / -2 (deadline). */
static int drive(struct mcp_conn *k, struct mcp_xfer *x)
{
	int running = 1, left, code = -1;
	int64_t now;
	CURLMsg *msg;

	if (cancel_attach(x->cancel, k->m)) {
		x->unsent = true;
		goto out;
	}
	for (;;) {
		if (curl_multi_perform(k->m, &running) != CURLM_OK) {
			code = CURLE_OUT_OF_MEMORY; /* the multi interface's only real failure */
			goto out;
		}
		if (!running)
			break;
		if (x->cancel && cx_mcp_cancelled(x->cancel)) {
			code = -1;
			goto out;
		}
		now = cx_now_ms();
		if (now >= x->deadline_ms) {
			code = -2;
			goto out;
		}
		curl_multi_poll(k->m, NULL, 0,
				(int)(x->deadline_ms - now < POLL_MAX_MS ? x->deadline_ms - now
									 : POLL_MAX_MS),
				NULL);
	}
	code = CURLE_OK;
	while ((msg = curl_multi_info_read(k->m, &left))) {
		if (msg->msg == CURLMSG_DONE)
			code = (int)msg->data.result;
	}
out:
	cancel_attach(x->cancel, NULL);
	return code;
}

/* The outcome of a finished transfer: the body into x, or the failure into err. */
static int conclude(struct cx_mcp_client *c, struct mcp_xfer *x, struct rx *r, int code,
		    const char *errbuf, struct cx_err *err)
{
	if (code == -1)
		return mcp_fail(err, CX_MCP_E_CANCELLED, "the call was cancelled");
	if (code == -2)
		return mcp_fail(err, CX_MCP_E_TIMEOUT, "the gateway did not answer in time");
	if (r->too_big)
		return mcp_fail(err, CX_MCP_E_PROTOCOL,
				"the gateway's answer is larger than %zu bytes", r->max);
	curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &x->status);
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && r->done)) {
		if (x->status && r->kind == 2) {
			x->stream_cut = true; /* the stream broke before the response */
			return 0;
		}
		if (code == CURLE_OUT_OF_MEMORY)
			return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
		if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
		    code == CURLE_OPERATION_TIMEDOUT)
			/* A kept connection that died with the request on it is retried by
			 * libcurl on a new one, and only that one's failure is reported. */
			return mcp_fail(err, CX_MCP_E_UNREACHABLE,
					"gateway unreachable at %s: %s; %s", c->url,
					errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)code),
					r->reused ? "if it went away during the request, the "
						    "request may or may not have been carried out"
						  : "check that cortex-gateway runs there (or set "
						    "$CORTEX_GATEWAY_URL)");
		/* Sent, perhaps acted on, never answered: the caller must not assume either. */
		return mcp_fail(err, CX_MCP_E_UNREACHABLE,
				"the connection to the gateway at %s broke before its answer (%s); "
				"the request may or may not have been carried out",
				c->url, errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)code));
	}
	if (r->kind == 2) {
		x->stream_cut = !x->msg;
		return 0;
	}
	if (r->in.len) {
		x->msg = cx_json_loadb(r->in.data, r->in.len, r->max, NULL);
		if (!x->msg)
			x->body_text = cx_buf_detach(&r->in, NULL);
	}
	return 0;
}

int mcp_xfer_run(struct cx_mcp_client *c, struct mcp_xfer *x, struct cx_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct mcp_conn *k = conn_take(c);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct rx r = { .x = x, .max = c->max_response };
	int code, rc;

	cx_buf_init(&r.in, c->max_response);
	cx_buf_init(&r.data, c->max_response);
	if (!k || !(hdrs = build_headers(c, x))) {
		rc = mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
		goto out;
	}
	r.e = k->e;
	r.reused = k->used;
	if (setup(c, x, k->e, hdrs, &r, errbuf) || curl_multi_add_handle(k->m, k->e) != CURLM_OK) {
		rc = mcp_fail(err, CX_MCP_E_INTERNAL, "libcurl refused the request's options");
		goto out;
	}
	code = drive(k, x);
	curl_multi_remove_handle(k->m, k->e);
	rc = conclude(c, x, &r, code, errbuf, err);
	/* An aborted transfer's connection is closed by libcurl; a healthy one is kept. */
	conn_give(c, k, code == CURLE_OK);
	k = NULL;
out:
	if (k)
		mcp_conn_free(k);
	curl_slist_free_all(hdrs);
	cx_buf_release(&r.in);
	cx_buf_release(&r.data);
	return rc;
}

void mcp_xfer_release(struct mcp_xfer *x)
{
	free(x->new_session);
	json_decref(x->msg);
	free(x->body_text);
	x->new_session = NULL;
	x->msg = NULL;
	x->body_text = NULL;
}

/* ---- cancellation ---- */

struct cx_mcp_cancel *cx_mcp_cancel_new(void)
{
	struct cx_mcp_cancel *k = calloc(1, sizeof(*k));

	if (k)
		pthread_mutex_init(&k->mu, NULL);
	return k;
}

void cx_mcp_cancel_free(struct cx_mcp_cancel *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->mu);
	free(k);
}

void cx_mcp_cancel(struct cx_mcp_cancel *k, const char *reason)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	if (!k->cancelled)
		snprintf(k->reason, sizeof(k->reason), "%s", reason ? reason : "");
	k->cancelled = true;
	/* Under the lock: the transfer clears active (under it) before its multi can go. */
	if (k->active)
		curl_multi_wakeup(k->active);
	pthread_mutex_unlock(&k->mu);
}

bool cx_mcp_cancelled(struct cx_mcp_cancel *k)
{
	bool v;

	if (!k)
		return false;
	pthread_mutex_lock(&k->mu);
	v = k->cancelled;
	pthread_mutex_unlock(&k->mu);
	return v;
}

void cx_mcp_cancel_reset(struct cx_mcp_cancel *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->cancelled = false;
	k->reason[0] = '\0';
	pthread_mutex_unlock(&k->mu);
}
