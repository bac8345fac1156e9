/* The MCP client's sessions and requests; the HTTP exchange itself is in mcp_client_http.c.
 * The contract is in mcp_client.h, the shared structures and the lock order in
 * mcp_client_impl.h. */
#include "mcp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mcp_client_impl.h"
#include "util.h"

#define CONNECT_TIMEOUT_DEFAULT_MS 5000
#define TIMEOUT_DEFAULT_MS         300000
#define MAX_RESPONSE_DEFAULT       (16u << 20)
#define CANCEL_NOTIFY_MS           3000  /* the notifications/cancelled POST, and the DELETE */
#define INIT_TIMEOUT_MAX_MS        30000 /* other threads wait for an initialize under init_mu */
#define LIST_PAGES_MAX             10000
#define CLIENT_NAME_DEFAULT        "cortex-mcp-client"

#ifndef CX_VERSION
#define CX_VERSION "0"
#endif

/* The revisions whose Streamable HTTP this client speaks; the first is the one it asks for. */
static const char *const versions[] = { CX_MCP_CLIENT_VERSION, "2025-06-18", "2025-03-26" };

const char *cx_mcp_status_name(int status)
{
	switch (status) {
	case CX_MCP_OK:
		return "ok";
	case CX_MCP_E_UNREACHABLE:
		return "gateway unreachable";
	case CX_MCP_E_AUTH:
		return "unauthorized";
	case CX_MCP_E_RPC:
		return "JSON-RPC error";
	case CX_MCP_E_HTTP:
		return "HTTP error";
	case CX_MCP_E_PROTOCOL:
		return "protocol error";
	case CX_MCP_E_TIMEOUT:
		return "timed out";
	case CX_MCP_E_CANCELLED:
		return "cancelled";
	default:
		return "internal error";
	}
}

/* ---- life cycle ---- */

/* The bearer header for token, or NULL with *bad set when the token cannot be a header. */
static char *auth_header(const char *token, bool *bad)
{
	char *h;
	size_t n;

	*bad = false;
	if (!token || !*token)
		return NULL;
	for (const char *p = token; *p; p++) {
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			*bad = true;
			return NULL;
		}
	}
	n = strlen(token) + sizeof("Authorization: Bearer ");
	h = malloc(n);
	if (h)
		snprintf(h, n, "Authorization: Bearer %s", token);
	return h;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	for (volatile char *p = s; *p; p++)
		*p = '\0';
	free(s);
}

struct cx_mcp_client *cx_mcp_client_new(const struct cx_mcp_client_opts *o, struct cx_err *err)
{
	static const struct cx_mcp_client_opts none;
	struct cx_mcp_client *c;
	const char *url, *token;
	bool bad;

	if (!o)
		o = &none;
	url = o->url ? o->url : getenv("CORTEX_GATEWAY_URL");
	if (!url || !*url)
		url = CX_MCP_CLIENT_URL_DEFAULT;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		cx_err_set(err, "gateway URL '%.200s' must start with http:// or https://", url);
		return NULL;
	}
	token = o->token ? o->token : getenv("CORTEX_TOKEN");
	c = calloc(1, sizeof(*c));
	if (!c) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	c->url = strdup(url);
	c->client_name = strdup(o->client_name ? o->client_name : CLIENT_NAME_DEFAULT);
	c->auth = auth_header(token, &bad);
	if (bad || !c->url || !c->client_name || (token && *token && !c->auth)) {
		cx_err_set(err, bad ? "the bearer token holds a space or a control character; "
				      "check $CORTEX_TOKEN"
				    : "out of memory");
		free(c->url);
		free(c->client_name);
		wipe_free(c->auth);
		free(c);
		return NULL;
	}
	c->connect_timeout_ms =
		o->connect_timeout_ms > 0 ? o->connect_timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : TIMEOUT_DEFAULT_MS;
	c->max_response = o->max_response_bytes ? o->max_response_bytes : MAX_RESPONSE_DEFAULT;
	atomic_init(&c->next_id, 1);
	pthread_mutex_init(&c->init_mu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

/* A POST of msg (borrowed) with the session headers given; x is filled (release it). */
static int post(struct cx_mcp_client *c, json_t *msg, const char *session, const char *version,
		int64_t deadline, struct mcp_xfer *x, struct cx_err *err)
{
	size_t len;
	char *body = cx_json_dumps(msg, &len);
	int rc;

	if (!body)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	x->body = body;
	x->body_len = len;
	x->session = session;
	x->version = version;
	x->deadline_ms = deadline;
	rc = mcp_xfer_run(c, x, err);
	x->body = NULL;
	free(body);
	return rc;
}

void cx_mcp_client_free(struct cx_mcp_client *c)
{
	struct mcp_xfer x = { 0 };
	struct mcp_conn *k;

	if (!c)
		return;
	/* The gateway forgets the session now rather than when it expires. */
	if (c->session_id) {
		x.session = c->session_id;
		x.version = c->version;
		x.deadline_ms = cx_now_ms() + CANCEL_NOTIFY_MS;
		mcp_xfer_run(c, &x, NULL);
		mcp_xfer_release(&x);
	}
	while ((k = c->idle)) {
		c->idle = k->next;
		mcp_conn_free(k);
	}
	free(c->url);
	free(c->client_name);
	free(c->session_id);
	wipe_free(c->auth);
	json_decref(c->server_info);
	pthread_mutex_destroy(&c->init_mu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

const char *cx_mcp_client_url(const struct cx_mcp_client *c)
{
	return c->url;
}

json_t *cx_mcp_client_server_info(struct cx_mcp_client *c)
{
	json_t *v;

	pthread_mutex_lock(&c->mu);
	v = json_incref(c->server_info);
	pthread_mutex_unlock(&c->mu);
	return v;
}

bool cx_mcp_client_session_id(struct cx_mcp_client *c, char *out, size_t outlen)
{
	bool ok;

	pthread_mutex_lock(&c->mu);
	ok = cx_fmt(out, outlen, "%s", c->session_id ? c->session_id : "");
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* ---- answers ---- */

/* The JSON-RPC error's message in x, or NULL. */
static const char *rpc_message(const struct mcp_xfer *x)
{
	return json_string_value(json_object_get(json_object_get(x->msg, "error"), "message"));
}

/* What an exchange's answer means for a request: 0 with *result (a new reference), or a
 * status with err. */
static int interpret(const char *method, struct mcp_xfer *x, json_t **result, struct cx_err *err)
{
	const json_t *e = json_object_get(x->msg, "error");
	const char *m = rpc_message(x);
	json_t *res;

	if (x->status == 401 || x->status == 403)
		return mcp_fail(err, CX_MCP_E_AUTH,
				"the gateway refused the bearer token (%ld): %s; set $CORTEX_TOKEN "
				"to a token whose SHA-256 is in the gateway's tokens",
				x->status, m ? m : "no reason given");
	if (x->stream_cut)
		return mcp_fail(err, CX_MCP_E_PROTOCOL,
				"the gateway's stream for %s ended before its answer", method);
	if (json_is_object(e)) {
		if (err)
			err->code = (int)json_integer_value(json_object_get(e, "code"));
		cx_err_set(err, "%s: the gateway answered error %lld: %s", method,
			   (long long)json_integer_value(json_object_get(e, "code")),
			   m ? m : "no message");
		return CX_MCP_E_RPC;
	}
	if (x->status < 200 || x->status > 299)
		return mcp_fail(err, CX_MCP_E_HTTP, "%s: the gateway answered HTTP %ld%s%.200s",
				method, x->status, x->body_text ? ": " : "",
				x->body_text ? x->body_text : "");
	res = json_object_get(x->msg, "result");
	if (!json_is_object(res))
		return mcp_fail(err, CX_MCP_E_PROTOCOL,
				"%s: the gateway's answer (HTTP %ld) holds no result", method,
				x->status);
	*result = json_incref(res);
	return 0;
}

/* ---- sessions ---- */

static json_t *request_new(json_int_t id, const char *method, json_t *params)
{
	json_t *m = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);

	if (m && params && json_object_set(m, "params", params)) {
		json_decref(m);
		return NULL;
	}
	return m;
}

/* A notification with the session's headers; the answer is not looked at beyond its status. */
static int notify(struct cx_mcp_client *c, const char *method, json_t *params, const char *session,
		  const char *version, int64_t deadline, struct cx_err *err)
{
	json_t *m =
		json_pack("{s:s, s:s, s:O}", "jsonrpc", "2.0", "method", method, "params", params);
	struct mcp_xfer x = { .id = -1 };
	int rc;

	if (!m)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	rc = post(c, m, session, version, deadline, &x, err);
	json_decref(m);
	if (rc)
		return rc;
	if (x.status != 202 && x.status != 200) {
		rc = x.status == 401 || x.status == 403 ? CX_MCP_E_AUTH : CX_MCP_E_HTTP;
		mcp_fail(err, rc, "%s: the gateway answered HTTP %ld: %s", method, x.status,
			 rpc_message(&x) ? rpc_message(&x) : "no reason given");
	}
	mcp_xfer_release(&x);
	return rc;
}

static bool version_known(const char *v)
{
	for (size_t i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++) {
		if (!strcmp(v, versions[i]))
			return true;
	}
	return false;
}

/* initialize, then notifications/initialized; the new session replaces the old. init_mu
 * held. */
static int initialize_locked(struct cx_mcp_client *c, struct cx_err *err)
{
	json_int_t id = atomic_fetch_add(&c->next_id, 1);
	struct mcp_xfer x = { .id = id };
	json_t *params, *m, *res = NULL, *empty = json_object();
	const char *v;
	int64_t deadline =
		cx_now_ms() +
		(c->timeout_ms < INIT_TIMEOUT_MAX_MS ? c->timeout_ms : INIT_TIMEOUT_MAX_MS);
	int rc;

	params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", versions[0],
			   "capabilities", "clientInfo", "name", c->client_name, "version",
			   CX_VERSION);
	m = params ? request_new(id, "initialize", params) : NULL;
	json_decref(params);
	if (!m || !empty) {
		json_decref(m);
		json_decref(empty);
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	}
	rc = post(c, m, NULL, NULL, deadline, &x, err);
	json_decref(m);
	if (!rc)
		rc = interpret("initialize", &x, &res, err);
	if (rc)
		goto out;
	v = json_string_value(json_object_get(res, "protocolVersion"));
	if (!version_known(v)) {
		rc = mcp_fail(err, CX_MCP_E_PROTOCOL,
			      "initialize: the gateway offers protocol version '%.40s', which this "
			      "client does not speak",
			      v ? v : "(none)");
		goto out;
	}
	rc = notify(c, "notifications/initialized", empty, x.new_session, v, deadline, err);
	if (rc)
		goto out;
	pthread_mutex_lock(&c->mu);
	free(c->session_id);
	c->session_id = x.new_session;
	x.new_session = NULL;
	snprintf(c->version, sizeof(c->version), "%s", v);
	json_decref(c->server_info);
	c->server_info = json_incref(res);
	c->gen++;
	pthread_mutex_unlock(&c->mu);
out:
	json_decref(res);
	json_decref(empty);
	mcp_xfer_release(&x);
	return rc;
}

/* Starts a session unless one started after generation gen (0: none yet). */
static int renew(struct cx_mcp_client *c, unsigned long gen, struct cx_err *err)
{
	unsigned long now;
	int rc = 0;

	pthread_mutex_lock(&c->init_mu);
	pthread_mutex_lock(&c->mu);
	now = c->gen;
	pthread_mutex_unlock(&c->mu);
	if (now == gen)
		rc = initialize_locked(c, err);
	pthread_mutex_unlock(&c->init_mu);
	return rc;
}

int cx_mcp_client_connect(struct cx_mcp_client *c, struct cx_err *err)
{
	return renew(c, 0, err);
}

/* ---- requests ---- */

/* Tells the gateway to stop request id; best effort, bounded by CANCEL_NOTIFY_MS. */
static void notify_cancelled(struct cx_mcp_client *c, json_int_t id, const char *reason,
			     const char *session, const char *version)
{
	json_t *p = json_pack("{s:I, s:s}", "requestId", id, "reason", reason);

	if (p)
		notify(c, "notifications/cancelled", p, session, version,
		       cx_now_ms() + CANCEL_NOTIFY_MS, NULL);
	json_decref(p);
}

/* params (borrowed) with _meta.progressToken = id added; a new reference. */
static json_t *with_progress(json_t *params, json_int_t id)
{
	json_t *p = params ? json_copy(params) : json_object();
	json_t *meta = json_object_get(p, "_meta");

	meta = json_is_object(meta) ? json_copy(meta) : json_object();
	if (!p || !meta || json_object_set_new(meta, "progressToken", json_integer(id)) ||
	    json_object_set_new(p, "_meta", meta)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* Sends notifications/cancelled for request id, which ended with rc on the client's side,
 * and for a cancellation or a deadline writes the sentence into err. */
static void abandon(struct cx_mcp_client *c, const char *method, json_int_t id, int rc,
		    bool x_unsent, const struct cx_mcp_call_opts *o, const char *session,
		    const char *version, struct cx_err *err)
{
	char reason[sizeof(o->cancel->reason)] = "";
	long long ms = o->timeout_ms ? o->timeout_ms : c->timeout_ms;

	if (rc == CX_MCP_E_CANCELLED && o->cancel) {
		pthread_mutex_lock(&o->cancel->mu);
		memcpy(reason, o->cancel->reason, sizeof(reason));
		pthread_mutex_unlock(&o->cancel->mu);
	}
	if (!reason[0])
		snprintf(reason, sizeof(reason), "%s",
			 rc == CX_MCP_E_TIMEOUT     ? "the client's deadline passed"
			 : rc == CX_MCP_E_CANCELLED ? "cancelled by the client"
						    : "the client could not read the answer");
	/* A request that never left needs no cancelling. */
	if (!(rc == CX_MCP_E_CANCELLED && x_unsent))
		notify_cancelled(c, id, reason, session, version);
	if (rc == CX_MCP_E_TIMEOUT)
		mcp_fail(err, rc,
			 "%s: no answer from the gateway within %lld ms; the call was cancelled",
			 method, ms);
	else if (rc == CX_MCP_E_CANCELLED)
		mcp_fail(err, rc, "%s: cancelled by the client", method);
}

/* One attempt of a request in the current session (*gen: its generation). */
static int attempt(struct cx_mcp_client *c, const char *method, json_t *params,
		   const struct cx_mcp_call_opts *o, int64_t deadline, unsigned long *gen,
		   bool *had_session, struct mcp_xfer *x, struct cx_err *err)
{
	json_int_t id = atomic_fetch_add(&c->next_id, 1);
	char *session = NULL, version[sizeof(c->version)];
	json_t *p = params, *m;
	int rc;

	pthread_mutex_lock(&c->mu);
	session = c->session_id ? strdup(c->session_id) : NULL;
	memcpy(version, c->version, sizeof(version));
	*gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	*had_session = session != NULL;
	if (o->progress)
		p = with_progress(params, id);
	m = (p || !params) ? request_new(id, method, p) : NULL;
	if (p != params)
		json_decref(p);
	if (!m) {
		free(session);
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	}
	x->id = id;
	x->progress = o->progress;
	x->ctx = o->ctx;
	x->cancel = o->cancel;
	rc = post(c, m, session, version[0] ? version : NULL, deadline, x, err);
	json_decref(m);
	/* The client stopped reading before the answer (or lost the stream): the gateway is
	 * told, so its worker is freed (an unknown or finished id is ignored there). */
	if (rc == CX_MCP_E_CANCELLED || rc == CX_MCP_E_TIMEOUT || rc == CX_MCP_E_PROTOCOL ||
	    (!rc && x->stream_cut))
		abandon(c, method, id, rc, x->unsent, o, session, version[0] ? version : NULL, err);
	free(session);
	return rc;
}

int cx_mcp_request(struct cx_mcp_client *c, const char *method, json_t *params,
		   const struct cx_mcp_call_opts *o, json_t **result, struct cx_err *err)
{
	static const struct cx_mcp_call_opts none;
	struct mcp_xfer x = { 0 };
	unsigned long gen;
	bool had_session;
	int64_t deadline;
	int rc;

	*result = NULL;
	if (!o)
		o = &none;
	deadline = cx_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : c->timeout_ms);
	pthread_mutex_lock(&c->mu);
	gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	if (!gen && (rc = renew(c, 0, err)))
		return rc;
	for (int i = 0;; i++) {
		memset(&x, 0, sizeof(x));
		rc = attempt(c, method, params, o, deadline, &gen, &had_session, &x, err);
		if (rc)
			return rc;
		/* The session is gone (another key, expired, deleted): once, a new one. */
		if (x.status == 404 && had_session && i == 0) {
			mcp_xfer_release(&x);
			if ((rc = renew(c, gen, err)))
				return rc;
			continue;
		}
		rc = interpret(method, &x, result, err);
		mcp_xfer_release(&x);
		return rc;
	}
}

/* ---- tools ---- */

int cx_mcp_list_tools_page(struct cx_mcp_client *c, const char *cursor, json_t **result,
			   struct cx_err *err)
{
	json_t *p = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
	int rc;

	if (!p)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	rc = cx_mcp_request(c, "tools/list", p, NULL, result, err);
	json_decref(p);
	if (!rc && !json_is_array(json_object_get(*result, "tools"))) {
		json_decref(*result);
		*result = NULL;
		return mcp_fail(err, CX_MCP_E_PROTOCOL,
				"tools/list: the answer has no tools array");
	}
	return rc;
}

int cx_mcp_list_tools(struct cx_mcp_client *c, json_t **tools, struct cx_err *err)
{
	json_t *all = json_array(), *page = NULL;
	char *cursor = NULL;
	const char *next;
	int rc = 0;

	*tools = NULL;
	if (!all)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	for (int n = 0;; n++) {
		if (n == LIST_PAGES_MAX) {
			rc = mcp_fail(err, CX_MCP_E_PROTOCOL,
				      "tools/list: more than %d pages; the cursor does not end",
				      LIST_PAGES_MAX);
			break;
		}
		if ((rc = cx_mcp_list_tools_page(c, cursor, &page, err)))
			break;
		if (json_array_extend(all, json_object_get(page, "tools"))) {
			rc = mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
			break;
		}
		next = json_string_value(json_object_get(page, "nextCursor"));
		if (!next || !*next)
			break;
		if (cursor && !strcmp(cursor, next)) {
			rc = mcp_fail(err, CX_MCP_E_PROTOCOL,
				      "tools/list: the gateway repeated the cursor '%.60s'", next);
			break;
		}
		free(cursor);
		if (!(cursor = strdup(next))) {
			rc = mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
			break;
		}
		json_decref(page);
		page = NULL;
	}
	json_decref(page);
	free(cursor);
	if (rc)
		json_decref(all);
	else
		*tools = all;
	return rc;
}

int cx_mcp_call_tool(struct cx_mcp_client *c, const char *name, json_t *args,
		     const struct cx_mcp_call_opts *o, json_t **result, struct cx_err *err)
{
	json_t *p = json_pack("{s:s, s:o}", "name", name, "arguments",
			      args ? json_incref(args) : json_object());
	int rc;

	if (!p)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	rc = cx_mcp_request(c, "tools/call", p, o, result, err);
	json_decref(p);
	return rc;
}

/* ---- the GET stream ---- */

int cx_mcp_listen(struct cx_mcp_client *c, cx_mcp_message_fn *fn, void *ctx,
		  const struct cx_mcp_call_opts *o, struct cx_err *err)
{
	static const struct cx_mcp_call_opts none;
	struct mcp_xfer x = { .get = true, .id = -1, .on_message = fn, .msg_ctx = ctx };
	char *session = NULL, version[sizeof(c->version)];
	unsigned long gen;
	bool had;
	int rc;

	if (!o)
		o = &none;
	pthread_mutex_lock(&c->mu);
	gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	if (!gen && (rc = renew(c, 0, err)))
		return rc;
	pthread_mutex_lock(&c->mu);
	had = c->session_id != NULL;
	session = had ? strdup(c->session_id) : NULL;
	memcpy(version, c->version, sizeof(version));
	pthread_mutex_unlock(&c->mu);
	if (had && !session)
		return mcp_fail(err, CX_MCP_E_INTERNAL, "out of memory");
	x.session = session;
	x.version = version[0] ? version : NULL;
	x.cancel = o->cancel;
	x.deadline_ms = o->timeout_ms > 0 ? cx_now_ms() + o->timeout_ms : INT64_MAX;
	rc = mcp_xfer_run(c, &x, err);
	if (rc == CX_MCP_E_CANCELLED)
		mcp_fail(err, rc, "the stream was closed by the client");
	else if (rc == CX_MCP_E_TIMEOUT)
		mcp_fail(err, rc, "the stream's deadline passed");
	else if (!rc && (x.status == 401 || x.status == 403))
		rc = mcp_fail(err, CX_MCP_E_AUTH,
			      "the gateway refused the bearer token (%ld) for the GET stream; set "
			      "$CORTEX_TOKEN to a token whose SHA-256 is in the gateway's tokens",
			      x.status);
	else if (!rc && x.status != 200)
		rc = mcp_fail(err, CX_MCP_E_HTTP,
			      "the gateway answered HTTP %ld to the GET stream%s%.200s%s", x.status,
			      x.body_text || x.msg ? ": " : "", x.body_text ? x.body_text : "",
			      x.status == 404   ? " (the session is gone)"
			      : x.status == 405 ? " (it offers no GET stream)"
						: "");
	mcp_xfer_release(&x);
	free(session);
	return rc;
}
