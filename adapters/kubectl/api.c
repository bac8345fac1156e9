/* Requests to the Kubernetes API (see api.h). The bearer token lives in a struct cx_secret
 * for the length of one request and only travels in its Authorization header. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

/* "Authorization: Bearer ..." for this request, or empty when the user has no token. */
static int auth_header(struct kc_state *s, struct cx_secret *out, struct cx_err *err)
{
	struct cx_secret tok = { 0 };
	const struct cx_secret *t = &s->creds.token;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (s->creds.token_file) {
		json_t *ref = json_pack("{s:s}", "file", s->creds.token_file);
		int rc = ref ? cx_secret_load(ref, &tok, "tokenFile", err) : -1;
		json_decref(ref);
		if (rc)
			return cx_err_set(err,
					  "could not read the token file '%s'; check that it "
					  "is mounted",
					  s->creds.token_file);
		t = &tok;
	}
	if (!t->len)
		return 0;
	n = t->len + 32;
	out->data = malloc(n);
	if (!out->data) {
		cx_secret_release(&tok);
		return cx_err_set(err, "out of memory");
	}
	out->len = (size_t)snprintf((char *)out->data, n, "Authorization: Bearer %s",
				    (const char *)t->data);
	cx_secret_release(&tok);
	return 0;
}

static const char *hint_for(const struct kc_state *s, long status)
{
	switch (status) {
	case 401:
		return "the API server refused the credentials; check the kubeconfig user's token "
		       "or client certificate (or the service-account token)";
	case 403:
		return "RBAC does not allow it for these credentials; grant the verb on this "
		       "resource with a Role/RoleBinding, or use another tool";
	case 404:
		return "not found; check the name, namespace and kind (kubectl_get lists them)";
	case 409:
		return "it conflicts with the current state; read it again (kubectl_get), then "
		       "retry";
	case 422:
		return "the object is invalid; fix the fields the message names";
	default:
		return NULL;
	}
}

/* "NotFound: pods \"x\" not found" from a Status body; else the start of a text body. */
static void status_message(const struct cx_http_resp *resp, char *out, size_t outlen)
{
	const char *reason = json_string_value(json_object_get(resp->json, "reason"));
	const char *msg = json_string_value(json_object_get(resp->json, "message"));
	const char *kind = json_string_value(json_object_get(resp->json, "kind"));

	out[0] = '\0';
	if (kind && !strcmp(kind, "Status"))
		cx_fmt(out, outlen, "%s%s%s", reason ? reason : "", reason && msg ? ": " : "",
		       msg ? msg : "");
	else if (!resp->json && resp->body_len && resp->body_len < 300)
		cx_fmt(out, outlen, "%s", resp->body);
}

int kc_do(struct kc_state *s, const struct cx_call *call, const struct kc_req *r,
	  struct cx_http_resp *resp, struct cx_err *err)
{
	struct cx_secret auth = { 0 };
	const char *headers[3] = { NULL, NULL, NULL };
	char accept[256], msg[600];
	struct cx_http_req req = { .method = r->method,
				   .path = r->path,
				   .body = r->body,
				   .body_len = r->body_len,
				   .content_type = r->content_type };
	int n = 0, rc;

	memset(resp, 0, sizeof(*resp));
	if (auth_header(s, &auth, err))
		return -1;
	if (auth.len)
		headers[n++] = (const char *)auth.data;
	if (!strncmp(r->accept ? r->accept : "", "Accept: ", 8))
		cx_fmt(accept, sizeof(accept), "%s", r->accept);
	else
		cx_fmt(accept, sizeof(accept), "Accept: %s",
		       r->accept ? r->accept : "application/json");
	headers[n++] = accept;
	req.headers = headers;
	rc = cx_http_do(s->http, call, s->timeout_ms, &req, resp, err);
	cx_secret_release(&auth);
	if (rc)
		return -1;
	if (resp->status >= 200 && resp->status <= 299)
		return 0;
	status_message(resp, msg, sizeof(msg));
	cx_http_fail(s->http, &req, resp, msg,
		     r->hint && (!r->hint_status || r->hint_status == resp->status) ? r->hint
		     : resp->status == 404 && strstr(msg, "could not find the requested resource")
			     ? "the API server does not serve this kind at this group and version; "
			       "check the kind's spelling and the cluster's version"
			     : hint_for(s, resp->status),
		     err);
	cx_http_resp_release(resp);
	return -1;
}

int kc_get_json(struct kc_state *s, const struct cx_call *call, const char *path, json_t **out,
		struct cx_err *err)
{
	struct kc_req r = { .method = "GET", .path = path };
	struct cx_http_resp resp;

	*out = NULL;
	if (kc_do(s, call, &r, &resp, err))
		return -1;
	if (!json_is_object(resp.json)) {
		cx_http_resp_release(&resp);
		return cx_err_set(err,
				  "kubernetes answered GET %.120s with a body that is not a JSON "
				  "object; is the server a Kubernetes API server?",
				  path);
	}
	*out = json_incref(resp.json);
	cx_http_resp_release(&resp);
	return 0;
}

static bool append(char *out, size_t outlen, const char *sep, const char *seg, bool escape)
{
	size_t n = strlen(out);
	char esc[800];

	if (escape && !cx_url_escape(seg, esc, sizeof(esc)))
		return false;
	return cx_fmt(out + n, outlen - n, "%s%s", sep, escape ? esc : seg);
}

bool kc_path(const json_t *res, const char *ns, const char *name, const char *sub, char *out,
	     size_t outlen)
{
	const char *group = json_string_value(json_object_get(res, "group"));
	const char *version = json_string_value(json_object_get(res, "version"));
	const char *plural = json_string_value(json_object_get(res, "resource"));
	bool ok;

	if (!version || !plural)
		return false;
	ok = group && *group ? cx_fmt(out, outlen, "/apis/%s/%s", group, version)
			     : cx_fmt(out, outlen, "/api/%s", version);
	if (ok && ns)
		ok = append(out, outlen, "/namespaces/", ns, true);
	ok = ok && append(out, outlen, "/", plural, false);
	if (ok && name)
		ok = append(out, outlen, "/", name, true);
	if (ok && sub)
		ok = append(out, outlen, "/", sub, false);
	return ok;
}

bool kc_query(char *out, size_t outlen, const char *key, const char *value)
{
	return append(out, outlen, strchr(out, '?') ? "&" : "?", key, false) &&
	       append(out, outlen, "=", value, true);
}
