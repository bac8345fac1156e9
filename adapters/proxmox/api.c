/* Requests to the Proxmox VE API (see api.h). Credentials live in struct cx_secret buffers,
 * wiped when replaced or released, and only ever travel in request headers and the login
 * body: cx_http_do never logs either. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/util.h"

/* Proxmox's own words for a failed request: "message" and the per-parameter "errors". */
static void backend_message(const json_t *body, char *out, size_t outlen)
{
	const char *msg = json_string_value(json_object_get(body, "message"));
	const json_t *errors = json_object_get(body, "errors");
	const char *key;
	json_t *v;
	size_t n;

	out[0] = '\0';
	if (msg)
		cx_fmt(out, outlen, "%s", msg);
	json_object_foreach((json_t *)errors, key, v) {
		n = strlen(out);
		if (json_is_string(v) && n < outlen)
			cx_fmt(out + n, outlen - n, "%s%s: %s", n ? "; " : "", key,
			       json_string_value(v));
	}
	/* Proxmox ends its messages with a newline. */
	n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

/* A hint for the model by status, in Proxmox's terms. */
static const char *hint_for(long status, bool token)
{
	switch (status) {
	case 401:
		return token ? "check the adapter's token_id and token_secret"
			     : "check the adapter's username and password";
	case 403:
		return "the credentials lack a permission on that object; ask an operator to grant "
		       "it (Datacenter > Permissions)";
	case 500:
		return "check the node and VM id (proxmox_list_vms lists them)";
	default:
		return NULL;
	}
}

int px_login(struct px_state *s, const struct cx_call *call, struct cx_err *err)
{
	struct cx_http_req req = { .method = "POST",
				   .path = "/access/ticket",
				   .content_type = "application/x-www-form-urlencoded" };
	struct cx_http_resp resp = { 0 };
	struct cx_secret form = { 0 };
	char user[256], *pw = NULL;
	const json_t *data;
	const char *ticket, *csrf;
	int rc = -1;

	pw = malloc(s->password.len * 3 + 1);
	if (!pw || !cx_url_escape(s->username, user, sizeof(user)) ||
	    !cx_url_escape((const char *)s->password.data, pw, s->password.len * 3 + 1) ||
	    cx_secret_printf(&form, "username=%s&password=%s", user, pw)) {
		cx_err_set(err, "proxmox: could not build the login request");
		goto out;
	}
	req.body = (const char *)form.data;
	req.body_len = form.len;
	if (cx_http_do(s->http, call, s->timeout_ms, &req, &resp, err))
		goto out;
	if (resp.status != 200) {
		char msg[300];
		backend_message(resp.json, msg, sizeof(msg));
		cx_http_fail(s->http, &req, &resp, msg[0] ? msg : NULL,
			     resp.status == 401 ? "the adapter's username or password is wrong"
						: NULL,
			     err);
		goto out;
	}
	data = json_object_get(resp.json, "data");
	ticket = json_string_value(json_object_get(data, "ticket"));
	csrf = json_string_value(json_object_get(data, "CSRFPreventionToken"));
	if (!ticket || !csrf) {
		cx_err_set(err, "proxmox answered the login without a ticket; is the url a "
				"Proxmox VE API?");
		goto out;
	}
	if (cx_secret_printf(&s->ticket, "Cookie: PVEAuthCookie=%s", ticket) ||
	    cx_secret_printf(&s->csrf, "CSRFPreventionToken: %s", csrf)) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	s->ticket_at_s = (int64_t)time(NULL);
	rc = 0;
out:
	if (pw) {
		memset(pw, 0, s->password.len * 3 + 1);
		free(pw);
	}
	cx_secret_release(&form);
	cx_http_resp_release(&resp);
	return rc;
}

/* Copies the ticket headers for one request, logging in first when there is none or it is
 * about to expire. force: log in again (the last one was refused). */
static int ticket_headers(struct px_state *s, const struct cx_call *call, bool force,
			  struct cx_secret *cookie, struct cx_secret *csrf, struct cx_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&s->ticket_lock);
	if (force || !s->ticket.len || time(NULL) - s->ticket_at_s > PX_TICKET_RENEW_S)
		rc = px_login(s, call, err);
	if (!rc && (cx_secret_printf(cookie, "%s", (const char *)s->ticket.data) ||
		    cx_secret_printf(csrf, "%s", (const char *)s->csrf.data)))
		rc = cx_err_set(err, "out of memory");
	pthread_mutex_unlock(&s->ticket_lock);
	return rc;
}

/* One attempt with the current credentials; *status the HTTP status (0: none came). */
static int attempt(struct px_state *s, const struct cx_call *call, struct cx_http_req *req,
		   bool relogin, struct cx_http_resp *resp, struct cx_err *err)
{
	struct cx_secret cookie = { 0 }, csrf = { 0 };
	const char *headers[3] = { NULL, NULL, NULL };
	bool write = strcmp(req->method, "GET") != 0;
	int rc;

	if (s->token_header.len) {
		headers[0] = (const char *)s->token_header.data;
	} else {
		if (ticket_headers(s, call, relogin, &cookie, &csrf, err))
			return -1;
		headers[0] = (const char *)cookie.data;
		if (write) /* Proxmox wants it on every write made with a ticket */
			headers[1] = (const char *)csrf.data;
	}
	req->headers = headers;
	rc = cx_http_do(s->http, call, s->timeout_ms, req, resp, err);
	req->headers = NULL;
	cx_secret_release(&cookie);
	cx_secret_release(&csrf);
	return rc;
}

int px_request(struct px_state *s, const struct cx_call *call, const char *method, const char *path,
	       const char *form, json_t **data, struct cx_err *err)
{
	return px_request_pick(s, call, method, path, form, NULL, data, err);
}

/* What a request's answer means: "data", or the sentence for a failure. */
int px_answer(struct px_state *s, const struct cx_http_req *req, const struct cx_http_resp *resp,
	      json_t **data, struct cx_err *err)
{
	char msg[400];

	*data = NULL;
	if (resp->status < 200 || resp->status > 299) {
		backend_message(resp->json, msg, sizeof(msg));
		return cx_http_fail(s->http, req, resp, msg[0] ? msg : NULL,
				    hint_for(resp->status, s->token_header.len > 0), err);
	}
	if (!json_is_object(resp->json))
		return cx_err_set(err,
				  "proxmox answered %s %s with a body that is not Proxmox's JSON "
				  "envelope; is the url a Proxmox VE API?",
				  req->method, req->path);
	*data = json_object_get(resp->json, "data");
	*data = *data ? json_incref(*data) : json_null();
	return 0;
}

int px_request_pick(struct px_state *s, const struct cx_call *call, const char *method,
		    const char *path, const char *form, const struct cx_json_pick *pick,
		    json_t **data, struct cx_err *err)
{
	struct cx_http_req req = { .method = method, .path = path, .pick = pick };
	struct cx_http_resp resp = { 0 };
	int rc;

	*data = NULL;
	if (form || strcmp(method, "GET")) {
		req.body = form ? form : "";
		req.body_len = strlen(req.body);
		req.content_type = "application/x-www-form-urlencoded";
	}
	if (attempt(s, call, &req, false, &resp, err))
		return -1;
	if (resp.status == 401 && !s->token_header.len) {
		/* The ticket expired early or the node restarted: one fresh login. */
		cx_http_resp_release(&resp);
		memset(&resp, 0, sizeof(resp));
		if (attempt(s, call, &req, true, &resp, err))
			return -1;
	}
	rc = px_answer(s, &req, &resp, data, err);
	cx_http_resp_release(&resp);
	return rc;
}

int px_request_begin(struct px_state *s, const char *path, const struct cx_json_pick *pick,
		     struct cx_async_req *ar)
{
	/* A ticket may need a login first, under a lock a transport thread must not wait on. */
	if (!s->token_header.len || !cx_fmt(ar->path, sizeof(ar->path), "%s", path))
		return CX_ASYNC_BLOCKING;
	ar->client = s->http;
	ar->timeout_ms = s->timeout_ms;
	ar->headers[0] = (const char *)s->token_header.data;
	ar->headers[1] = NULL;
	ar->req = (struct cx_http_req){ .method = "GET",
					.path = ar->path,
					.headers = ar->headers,
					.pick = pick };
	return 0;
}
