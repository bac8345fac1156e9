/* Requests to the UniFi Network API (see api.h). The API key, the password, the session
 * cookie and the CSRF token live in struct cx_secret buffers, wiped when replaced or
 * released, and travel only in request headers and the login body: cx_http_do never logs
 * either, and no sentence here quotes them. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

/* UniFi's own words for a failure, whichever of its bodies it sent: the legacy envelope's
 * meta.msg, UniFi OS's {"error": {"message"}}, the Integration API's code and message. */
static void backend_message(const json_t *body, char *out, size_t outlen)
{
	const char *msg = json_string_value(json_object_get(json_object_get(body, "meta"), "msg"));
	const char *code = json_string_value(json_object_get(body, "code"));

	if (!msg)
		msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	if (!msg)
		msg = json_string_value(json_object_get(body, "message"));
	out[0] = '\0';
	if (msg && code && strcmp(msg, code))
		cx_fmt(out, outlen, "%s (%s)", msg, code);
	else if (msg || code)
		cx_fmt(out, outlen, "%s", msg ? msg : code);
}

static const char *hint_for(const struct un_state *s, long status, const char *msg)
{
	if (strstr(msg, "NoSiteContext"))
		return "no such site; unifi_list_sites lists them";
	switch (status) {
	case 401:
		return s->legacy
			       ? "the session was refused even after a fresh login; check the "
				 "account's access to UniFi Network"
			       : "check the adapter's api_key (UniFi Network > Settings > Control "
				 "Plane > Integrations)";
	case 403:
		return "the account lacks a permission for this, or the console refused the "
		       "request's CSRF token; ask an operator";
	case 404:
		return "check the site and the device (unifi_list_sites, unifi_list_devices)";
	default:
		return NULL;
	}
}

/* The value of the cookie name among Set-Cookie lines ("\n"-separated), or NULL; *len its
 * length. */
static const char *cookie_in(const char *lines, const char *name, size_t *len)
{
	size_t n = strlen(name);

	for (const char *p = lines; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, name, n) && p[n] == '=') {
			*len = strcspn(p + n + 1, ";\n");
			return p + n + 1;
		}
	}
	return NULL;
}

/* The session from a successful login's headers (kept[0] Set-Cookie, kept[1] X-CSRF-Token). */
static int take_session(struct un_state *s, const struct cx_http_resp *resp, struct cx_err *err)
{
	const char *name = s->classic ? "unifises" : "TOKEN";
	const char *csrf = resp->kept[1];
	size_t len = 0, clen = 0;
	const char *v = cookie_in(resp->kept[0], name, &len);

	if (!v || !len)
		return cx_err_set(err,
				  "unifi accepted the login but set no %s cookie; is the url a %s "
				  "(check 'controller')?",
				  name,
				  s->classic ? "classic UniFi controller" : "UniFi OS console");
	if (!csrf) /* the classic controller's is a cookie */
		csrf = cookie_in(resp->kept[0], "csrf_token", &clen);
	else
		clen = strcspn(csrf, "\n");
	if (cx_secret_printf(&s->cookie, "Cookie: %s=%.*s", name, (int)len, v) ||
	    (csrf ? cx_secret_printf(&s->csrf, "X-CSRF-Token: %.*s", (int)clen, csrf)
		  : (cx_secret_release(&s->csrf), 0)))
		return cx_err_set(err, "out of memory");
	return 0;
}

int un_login(struct un_state *s, const struct cx_call *call, struct cx_err *err)
{
	static const char *const keep[] = { "Set-Cookie", "X-CSRF-Token", NULL };
	struct cx_http_req req = { .method = "POST",
				   .path = s->classic ? "/api/login" : "/api/auth/login",
				   .keep_headers = keep };
	struct cx_http_resp resp = { 0 };
	json_t *body = json_pack("{s:s,s:s}", "username", s->username, "password",
				 (const char *)s->password.data);
	struct cx_secret text = { 0 };
	const char *rc;
	char msg[300];
	int ret = -1;

	text.data = body ? (unsigned char *)json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body); /* the text sent is wiped below; jansson's copy is freed */
	if (!text.data)
		return cx_err_set(err, "out of memory");
	text.len = strlen((const char *)text.data);
	req.body = (const char *)text.data;
	req.body_len = text.len;
	if (cx_http_do(s->http, call, s->timeout_ms, &req, &resp, err))
		goto out;
	rc = json_string_value(json_object_get(json_object_get(resp.json, "meta"), "rc"));
	if (resp.status != 200 || (rc && strcmp(rc, "ok"))) {
		backend_message(resp.json, msg, sizeof(msg));
		cx_http_fail(s->http, &req, &resp, msg[0] ? msg : NULL,
			     resp.status == 400 || resp.status == 401 || resp.status == 403
				     ? "the adapter's username or password is wrong (a local "
				       "account of the console is needed, without two-factor "
				       "sign-in)"
				     : NULL,
			     err);
		goto out;
	}
	ret = take_session(s, &resp, err);
out:
	cx_secret_release(&text);
	cx_http_resp_release(&resp);
	return ret;
}

/* Copies the session headers for one request, logging in first when there is none. force:
 * log in again (the last session was refused). */
static int session_headers(struct un_state *s, const struct cx_call *call, bool force,
			   struct cx_secret *cookie, struct cx_secret *csrf, struct cx_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (force || !s->cookie.len)
		rc = un_login(s, call, err);
	if (!rc && (cx_secret_printf(cookie, "%s", (const char *)s->cookie.data) ||
		    cx_secret_printf(csrf, "%s", s->csrf.len ? (const char *)s->csrf.data : "")))
		rc = cx_err_set(err, "out of memory");
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* UniFi OS may hand a new CSRF token with any answer. */
static void update_csrf(struct un_state *s, const char *fresh)
{
	if (!fresh || !*fresh || strchr(fresh, '\n'))
		return;
	pthread_mutex_lock(&s->lock);
	cx_secret_printf(&s->csrf, "X-CSRF-Token: %s", fresh);
	pthread_mutex_unlock(&s->lock);
}

/* One attempt with the current credentials. */
static int attempt(struct un_state *s, const struct cx_call *call, struct cx_http_req *req,
		   bool relogin, struct cx_http_resp *resp, struct cx_err *err)
{
	static const char *const keep[] = { "X-Updated-CSRF-Token", NULL };
	struct cx_secret cookie = { 0 }, csrf = { 0 };
	const char *headers[3] = { NULL, NULL, NULL };
	int rc;

	if (!s->legacy) {
		headers[0] = (const char *)s->api_key.data;
	} else {
		if (session_headers(s, call, relogin, &cookie, &csrf, err))
			return -1;
		headers[0] = (const char *)cookie.data;
		if (strcmp(req->method, "GET") && csrf.len) /* writes only */
			headers[1] = (const char *)csrf.data;
		req->keep_headers = keep;
	}
	req->headers = headers;
	rc = cx_http_do(s->http, call, s->timeout_ms, req, resp, err);
	req->headers = NULL;
	if (!rc && s->legacy)
		update_csrf(s, resp->kept[0]);
	cx_secret_release(&cookie);
	cx_secret_release(&csrf);
	return rc;
}

/* Unwraps an answer: the legacy envelope's data, or the Integration API's body. */
static int unwrap(struct un_state *s, const struct cx_http_req *req, struct cx_http_resp *resp,
		  json_t **out, struct cx_err *err)
{
	const json_t *meta = json_object_get(resp->json, "meta");
	const char *rc = json_string_value(json_object_get(meta, "rc"));
	char msg[400];

	backend_message(resp->json, msg, sizeof(msg));
	if (resp->status < 200 || resp->status > 299)
		return cx_http_fail(s->http, req, resp, msg[0] ? msg : NULL,
				    hint_for(s, resp->status, msg), err);
	if (s->legacy && (!rc || strcmp(rc, "ok")))
		return cx_err_set(err,
				  rc ? "unifi refused %s %.200s: %s"
				     : "unifi answered %s %.200s with a body that is not the "
				       "legacy API's {meta, data} envelope%.0s; is the url a UniFi "
				       "console or controller, and 'controller' right?",
				  req->method, req->path,
				  msg[0] ? msg : "an error without a message");
	if (!s->legacy && resp->body_len && !resp->json)
		return cx_err_set(
			err,
			"unifi answered %s %.200s with a body that is not JSON; is the url "
			"a UniFi console or controller?",
			req->method, req->path);
	*out = s->legacy ? json_object_get(resp->json, "data") : resp->json;
	*out = *out ? json_incref(*out) : json_null();
	return 0;
}

static int request(struct un_state *s, const struct cx_call *call, const char *method,
		   const char *path, json_t *body, json_t **out, struct cx_err *err)
{
	struct cx_http_req req = { .method = method };
	struct cx_http_resp resp = { 0 };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char full[1200];
	int rc = -1;

	json_decref(body);
	*out = NULL;
	if (!cx_fmt(full, sizeof(full), "%s%s", s->base, path)) {
		free(text);
		return cx_err_set(err, "the request path is too long");
	}
	req.path = full;
	if (text) {
		req.body = text;
		req.body_len = strlen(text);
	}
	if (attempt(s, call, &req, false, &resp, err))
		goto out;
	if (resp.status == 401 && s->legacy) {
		/* The session expired or the console restarted: one fresh login. */
		cx_http_resp_release(&resp);
		if (attempt(s, call, &req, true, &resp, err))
			goto out;
	}
	rc = unwrap(s, &req, &resp, out, err);
out:
	free(text);
	cx_http_resp_release(&resp);
	return rc;
}

int un_get(struct un_state *s, const struct cx_call *call, const char *path, json_t **out,
	   struct cx_err *err)
{
	return request(s, call, "GET", path, NULL, out, err);
}

int un_post(struct un_state *s, const struct cx_call *call, const char *path, json_t *body,
	    json_t **out, struct cx_err *err)
{
	return request(s, call, "POST", path, body, out, err);
}

int un_list(struct un_state *s, const struct cx_call *call, const char *path, long max,
	    json_t **items, long *total, struct cx_err *err)
{
	const char *sep = strchr(path, '?') ? "&" : "?";
	long offset = 0;
	char url[1000];

	*items = json_array();
	*total = 0;
	if (!*items)
		return cx_err_set(err, "out of memory");
	for (;;) {
		json_t *page = NULL, *data;
		long count;

		if (!cx_fmt(url, sizeof(url), "%s%soffset=%ld&limit=%d", path, sep, offset,
			    UN_PAGE))
			return cx_err_set(err, "the request path is too long");
		if (un_get(s, call, url, &page, err)) {
			json_decref(*items);
			*items = NULL;
			return -1;
		}
		data = json_object_get(page, "data");
		count = (long)json_array_size(data);
		*total = (long)json_integer_value(json_object_get(page, "totalCount"));
		json_array_extend(*items, data);
		json_decref(page);
		offset += count;
		/* A short page is the last, whatever totalCount says. */
		if (count < UN_PAGE || offset >= *total || (long)json_array_size(*items) >= max ||
		    cx_call_cancelled(call))
			break;
	}
	while ((long)json_array_size(*items) > max)
		json_array_remove(*items, json_array_size(*items) - 1);
	if (*total < (long)json_array_size(*items))
		*total = (long)json_array_size(*items);
	return 0;
}
