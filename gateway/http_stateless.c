#include "http_stateless.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/jsonrpc.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "methods.h"
#include "server.h"

#define B64_OPEN  "=?base64?"
#define B64_CLOSE "?="

bool cx_http_is_stateless(const char *version, const char *sid, bool init)
{
	return version && (!sid || !*sid) && !cx_mcp_version_supported(version) &&
	       (!init || !strcmp(version, CX_MCP_STATELESS));
}

bool cx_http_stateless_stream_request(const char *version, const char *sid)
{
	return version && !strcmp(version, CX_MCP_STATELESS) && (!sid || !*sid);
}

/* A header's value without optional whitespace around it (RFC 9110 OWS); NULL when absent. */
static const char *header_trimmed(const struct cx_http_hdrs *hd, const char *name, size_t *len)
{
	const char *v = hd->get(hd->ctx, name), *e;

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

int cx_http_header_value_decode(const char *v, size_t len, char **buf, const char **out,
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
	n = cx_b64_decode(v, len, (unsigned char *)*buf, len / 4 * 3 + 1);
	if (n < 0) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	*out = *buf;
	*outlen = (size_t)n;
	return 0;
}

bool cx_http_arg_matches(const json_t *arg, const char *v, size_t len)
{
	char num[64], *end;
	double d;

	if (json_is_string(arg))
		return bytes_equal(json_string_value(arg), json_string_length(arg), v, len);
	if (json_is_true(arg))
		return bytes_equal(v, len, "true", 4);
	if (json_is_false(arg))
		return bytes_equal(v, len, "false", 5);
	if (!json_is_number(arg))
		return false;
	if (!len || len >= sizeof(num) || strspn(v, "0123456789+-.eE") < len)
		return false;
	memcpy(num, v, len);
	num[len] = '\0';
	errno = 0;
	d = strtod(num, &end);
	return !errno && *end == '\0' && d == json_number_value(arg);
}

/* The specification has clients refuse a tool with another annotation; the gateway does not
 * enforce it, and skips such an argument. */
bool cx_http_header_token(const char *name)
{
	size_t len = strlen(name);

	return len && len <= 128 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "!#$%&'*+-.^_`|~") == len;
}

/* One annotated argument against its header Mcp-Param-<ann>. 0, or -1 with the reason. */
static int check_param(const char *key, const json_t *arg, const char *ann,
		       const struct cx_http_hdrs *hd, char *msg, size_t msglen)
{
	char hname[sizeof(CX_HTTP_HDR_PARAM) + 128], *buf;
	const char *v, *val;
	size_t len, vlen;
	bool same;

	snprintf(hname, sizeof(hname), CX_HTTP_HDR_PARAM "%s", ann);
	v = header_trimmed(hd, hname, &len);
	if (!v) {
		cx_fmt(msg, msglen,
		       "header mismatch: missing %s header (it must repeat "
		       "arguments.%.100s)",
		       hname, key);
		return -1;
	}
	if (cx_http_header_value_decode(v, len, &buf, &val, &vlen)) {
		cx_fmt(msg, msglen,
		       "header mismatch: %s is not valid Base64 inside " B64_OPEN "..." B64_CLOSE,
		       hname);
		return -1;
	}
	same = cx_http_arg_matches(arg, val, vlen);
	free(buf);
	if (!same) {
		cx_fmt(msg, msglen, "header mismatch: %s does not match arguments.%.100s", hname,
		       key);
		return -1;
	}
	return 0;
}

int cx_http_check_param_headers(const json_t *def, const json_t *args,
				const struct cx_http_hdrs *hd, char *msg, size_t msglen)
{
	const json_t *props, *prop, *arg, *ann;
	const char *key;

	props = json_object_get(json_object_get(def, "inputSchema"), "properties");
	if (!json_is_object(props) || !json_is_object(args))
		return 0;
	/* The definition is published and never mutated: iterating it is a read. */
	json_object_foreach((json_t *)props, key, prop) {
		ann = json_object_get(prop, "x-mcp-header");
		arg = json_object_get(args, key);
		if (!json_is_string(ann) || !cx_http_header_token(json_string_value(ann)) ||
		    !(json_is_string(arg) || json_is_number(arg) || json_is_boolean(arg)))
			continue;
		if (check_param(key, arg, json_string_value(ann), hd, msg, msglen))
			return -1;
	}
	return 0;
}

/* Mcp-Name against params.<member> (want, a string): literal, or Base64 for a value a header
 * cannot carry as it is. */
static int check_name(const json_t *want, const char *member, const struct cx_http_hdrs *hd,
		      char *msg, size_t msglen)
{
	const char *v, *val;
	size_t len, vlen;
	char *buf;
	bool same;

	v = header_trimmed(hd, CX_HTTP_HDR_NAME, &len);
	if (!v) {
		cx_fmt(msg, msglen,
		       "header mismatch: missing " CX_HTTP_HDR_NAME " header (it must "
		       "repeat params.%s)",
		       member);
		return -1;
	}
	same = bytes_equal(v, len, json_string_value(want), json_string_length(want));
	if (!same && !cx_http_header_value_decode(v, len, &buf, &val, &vlen)) {
		same = buf &&
		       bytes_equal(val, vlen, json_string_value(want), json_string_length(want));
		free(buf);
	}
	if (!same) {
		cx_fmt(msg, msglen,
		       "header mismatch: " CX_HTTP_HDR_NAME " does not match "
		       "params.%s",
		       member);
		return -1;
	}
	return 0;
}

int cx_http_check_mirrored_headers(const json_t *m, const struct cx_server *srv,
				   const struct cx_http_hdrs *hd, char *msg, size_t msglen)
{
	const char *method = json_string_value(json_object_get(m, "method"));
	const json_t *params = json_object_get(m, "params"), *want, *def;
	const char *v, *member;
	size_t len;

	if (!method)
		return 0; /* a response to the server mirrors nothing */
	v = header_trimmed(hd, CX_HTTP_HDR_METHOD, &len);
	if (!v) {
		cx_fmt(msg, msglen,
		       "header mismatch: missing " CX_HTTP_HDR_METHOD " header (it "
		       "must repeat the method, '%.100s')",
		       method);
		return -1;
	}
	if (!bytes_equal(v, len, method, strlen(method))) {
		cx_fmt(msg, msglen,
		       "header mismatch: " CX_HTTP_HDR_METHOD " does not match the "
		       "method '%.100s'",
		       method);
		return -1;
	}
	member = cx_method_name_member(method); /* the method table says */
	want = member ? json_object_get(params, member) : NULL;
	if (json_is_string(want) && check_name(want, member, hd, msg, msglen))
		return -1;
	if (strcmp(method, "tools/call"))
		return 0;
	def = cx_server_tool_def(srv, json_string_value(json_object_get(params, "name")));
	return cx_http_check_param_headers(def, json_object_get(params, "arguments"), hd, msg,
					   msglen);
}

int cx_http_stateless_check(const json_t *m, const char *version, size_t version_cap,
			    const struct cx_server *srv, const struct cx_http_hdrs *hd,
			    struct cx_http_refusal *no)
{
	const char *pv;

	no->code = CX_RPC_INVALID_REQUEST;
	no->data = NULL;
	if (!json_is_object(m)) {
		snprintf(
			no->msg, sizeof(no->msg), "%s",
			json_is_array(m)
				? "invalid request: there are no JSON-RPC batches in protocol version " CX_MCP_STATELESS
				  "; send one message per request"
				: "invalid request: the body must be a JSON-RPC object");
		return -1;
	}
	no->code = CX_RPC_HEADER_MISMATCH;
	if (cx_http_check_mirrored_headers(m, srv, hd, no->msg, sizeof(no->msg)))
		return -1;
	if (strlen(version) < version_cap)
		return 0;
	/* Too long to be any version: answered here as the server would. */
	pv = json_string_value(
		json_object_get(json_object_get(json_object_get(m, "params"), "_meta"),
				CX_META_VERSION));
	if (pv && !strcmp(pv, version)) {
		no->code = CX_RPC_UNSUPPORTED_VERSION;
		snprintf(no->msg, sizeof(no->msg), "Unsupported protocol version");
		no->data = json_pack("{s:[s], s:s}", "supported", CX_MCP_STATELESS, "requested",
				     version);
	} else {
		snprintf(no->msg, sizeof(no->msg),
			 "MCP-Protocol-Version header does not match _meta protocolVersion");
	}
	return -1;
}
