/* Requests to the Sandfly API (see api.h). The password and both tokens live in struct
 * cx_secret buffers, wiped when replaced or released, and only ever travel in request headers
 * and the login body: cx_http_do never logs either, and no error text quotes them. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/util.h"

/* in as a JSON string literal (quotes included) into a new secret buffer, so the password is
 * never copied into memory that is freed without being wiped. 0 or -1. */
static int json_quote_secret(const char *in, size_t len, struct cx_secret *out)
{
	unsigned char *p = malloc(len * 6 + 3);
	size_t n = 0, i;

	if (!p)
		return -1;
	p[n++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '"' || c == '\\') {
			p[n++] = '\\';
			p[n++] = c;
		} else if (c < 0x20) {
			n += (size_t)snprintf((char *)p + n, 7, "\\u%04x", c);
		} else {
			p[n++] = c;
		}
	}
	p[n++] = '"';
	p[n] = '\0';
	out->data = p;
	out->len = n;
	return 0;
}

/* Sandfly's own words for a failed request: StandardResponse's "detail", and its "data" when
 * that says more. */
static void backend_message(const json_t *body, char *out, size_t outlen)
{
	const char *detail = json_string_value(json_object_get(body, "detail"));
	const char *data = json_string_value(json_object_get(body, "data"));

	out[0] = '\0';
	if (detail && data && data[0] && strcmp(detail, data))
		cx_fmt(out, outlen, "%s (%s)", detail, data);
	else if (detail && detail[0])
		cx_fmt(out, outlen, "%s", detail);
	else if (data && data[0])
		cx_fmt(out, outlen, "%s", data);
}

static const char *hint_for(long status)
{
	switch (status) {
	case 401:
		return "check the adapter's username and password";
	case 403:
		return "the Sandfly user lacks the role for this, or the license does not allow "
		       "it; ask an operator";
	case 404:
		return "check the id: sandfly_list_hosts lists hosts, sandfly_get_results results";
	default:
		return NULL;
	}
}

/* Keeps the token pair of a login or refresh answer. 0, or -1 with err. */
static int take_tokens(struct sf_state *s, const json_t *body, struct cx_err *err)
{
	const char *access = json_string_value(json_object_get(body, "access_token"));
	const char *refresh = json_string_value(json_object_get(body, "refresh_token"));

	if (!access || !access[0])
		return cx_err_set(err, "sandfly answered the login without an access_token; is the "
				       "url a Sandfly server?");
	if (cx_secret_printf(&s->access, "Authorization: Bearer %s", access))
		return cx_err_set(err, "out of memory");
	if (refresh && refresh[0]) {
		if (cx_secret_printf(&s->refresh, "Authorization: Bearer %s", refresh))
			return cx_err_set(err, "out of memory");
	} else {
		cx_secret_release(&s->refresh);
	}
	s->gen++;
	return 0;
}

/* POST /auth/login with the configured credentials; s->lock held. */
static int login_locked(struct sf_state *s, const struct cx_call *call, struct cx_err *err)
{
	struct cx_http_req req = { .method = "POST", .path = "/auth/login", .idempotent = true };
	struct cx_http_resp resp = { 0 };
	struct cx_secret pw = { 0 }, body = { 0 };
	json_t *u = json_string(s->username);
	char *user = NULL, msg[300];
	int rc = -1;

	if (s->login_failed_ms && cx_now_ms() - s->login_failed_ms < SF_LOGIN_FAIL_HOLD_MS) {
		json_decref(u);
		return cx_err_set(err, "%s", s->login_failed);
	}
	user = u ? json_dumps(u, JSON_ENCODE_ANY) : NULL;
	if (!user || json_quote_secret((const char *)s->password.data, s->password.len, &pw) ||
	    cx_secret_printf(&body, "{\"username\":%s,\"password\":%s}", user,
			     (const char *)pw.data)) {
		cx_err_set(err, "sandfly: could not build the login request");
		goto out;
	}
	req.body = (const char *)body.data;
	req.body_len = body.len;
	if (cx_http_do(s->http, call, s->timeout_ms, &req, &resp, err))
		goto out;
	if (resp.status != 200) {
		backend_message(resp.json, msg, sizeof(msg));
		cx_http_fail(s->http, &req, &resp, msg[0] ? msg : NULL,
			     resp.status == 401 ? "the adapter's username or password is wrong"
			     : resp.status == 404
				     ? "no Sandfly login at this address; 'url' must be "
				       "the Sandfly server (the adapter adds /v4)"
				     : NULL,
			     err);
		if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
			s->login_failed_ms = cx_now_ms();
			cx_fmt(s->login_failed, sizeof(s->login_failed), "%s", err->msg);
		}
		goto out;
	}
	rc = take_tokens(s, resp.json, err);
	if (!rc)
		s->login_failed_ms = 0;
out:
	json_decref(u);
	free(user);
	cx_secret_release(&pw);
	cx_secret_release(&body);
	cx_http_resp_release(&resp);
	return rc;
}

/* POST /auth/login_refresh (Sandfly's published API) with the refresh token — or
 * /auth/refresh, the name some deployments and older documents use, when the first is not
 * served (404/405); a fresh login when Sandfly refuses it (or there is none). s->lock held. */
static int refresh_locked(struct sf_state *s, const struct cx_call *call, struct cx_err *err)
{
	static const char *const paths[] = { "/auth/login_refresh", "/auth/refresh" };
	const char *headers[] = { (const char *)s->refresh.data, NULL };
	struct cx_http_req req = { .method = "POST",
				   .headers = headers,
				   .body = "{}",
				   .body_len = 2 };
	struct cx_http_resp resp = { 0 };
	int rc;

	if (!s->refresh.len)
		return login_locked(s, call, err);
	for (size_t i = 0; i < 2; i++) {
		req.path = paths[i];
		cx_http_resp_release(&resp);
		if (cx_http_do(s->http, call, s->timeout_ms, &req, &resp, err))
			return -1;
		if (resp.status != 404 && resp.status != 405)
			break;
	}
	if (resp.status == 200 && !take_tokens(s, resp.json, err)) {
		cx_http_resp_release(&resp);
		return 0;
	}
	cx_log(CX_LOG_DEBUG, "sandfly: the token refresh was refused (%ld); logging in again",
	       resp.status);
	cx_http_resp_release(&resp);
	cx_secret_release(&s->refresh);
	rc = login_locked(s, call, err);
	return rc;
}

/* Copies the access header for one request into out and its generation into *gen. Logs in
 * when there is no token; when refused_gen names the token a request was just refused with,
 * refreshes it — unless another worker already has, whose token is then used. */
static int auth_header(struct sf_state *s, const struct cx_call *call, uint64_t refused_gen,
		       struct cx_secret *out, uint64_t *gen, struct cx_err *err)
{
	long wait_ms = call ? cx_call_remaining_ms(call) : s->timeout_ms;
	struct timespec until;
	int rc = 0;

	/* Another worker may be logging in: wait for it, but not past this call's deadline. */
	cx_deadline_ts(CLOCK_REALTIME, wait_ms, &until);
	if (pthread_mutex_timedlock(&s->lock, &until))
		return cx_err_set(err,
				  "sandfly: waited %ld ms for the login another call is making; "
				  "retry in a moment",
				  wait_ms);
	if (!s->access.len)
		rc = login_locked(s, call, err);
	else if (refused_gen && refused_gen == s->gen)
		rc = refresh_locked(s, call, err);
	if (!rc && cx_secret_printf(out, "%s", (const char *)s->access.data))
		rc = cx_err_set(err, "out of memory");
	*gen = s->gen;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* One attempt with the current token (refreshed first when refused_gen says so). */
static int attempt(struct sf_state *s, const struct cx_call *call, struct cx_http_req *req,
		   uint64_t refused_gen, uint64_t *gen, struct cx_http_resp *resp,
		   struct cx_err *err)
{
	struct cx_secret auth = { 0 };
	const char *headers[3] = { NULL, "Accept: application/json", NULL };
	int rc;

	if (auth_header(s, call, refused_gen, &auth, gen, err))
		return -1;
	headers[0] = (const char *)auth.data;
	req->headers = headers;
	rc = cx_http_do(s->http, call, s->timeout_ms, req, resp, err);
	req->headers = NULL;
	cx_secret_release(&auth);
	return rc;
}

int sf_request(struct sf_state *s, const struct cx_call *call, const char *method, const char *path,
	       const json_t *body, bool allow_404, long *status, json_t **json, struct cx_err *err)
{
	/* Every POST the tools make but /scan is a search, safe to repeat. */
	struct cx_http_req req = { .method = method,
				   .path = path,
				   .idempotent = strcmp(path, "/scan") != 0 };
	struct cx_http_resp resp = { 0 };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, msg[400];
	uint64_t gen = 0;
	int rc = -1;

	*json = NULL;
	*status = 0;
	if (body && !text)
		return cx_err_set(err, "out of memory");
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	if (attempt(s, call, &req, 0, &gen, &resp, err))
		goto out;
	if (resp.status == 401) {
		/* The access token expired or was revoked: refresh (or log in) once, and again. */
		cx_http_resp_release(&resp);
		memset(&resp, 0, sizeof(resp));
		if (attempt(s, call, &req, gen, &gen, &resp, err))
			goto out;
	}
	*status = resp.status;
	if (resp.status == 404 && allow_404) {
		*json = resp.json ? json_incref(resp.json) : NULL;
		rc = 0;
	} else if (resp.status < 200 || resp.status > 299) {
		backend_message(resp.json, msg, sizeof(msg));
		cx_http_fail(s->http, &req, &resp, msg[0] ? msg : NULL, hint_for(resp.status), err);
	} else if (!resp.json) {
		cx_err_set(err,
			   "sandfly answered %s %s with a body that is not JSON; is the url a "
			   "Sandfly server?",
			   method, path);
	} else {
		*json = json_incref(resp.json);
		rc = 0;
	}
out:
	free(text);
	cx_http_resp_release(&resp);
	return rc;
}
