/* The stateless revision (2026-07-28) over HTTP: which POST is one, and its standard headers
 * (SEP-2243: Mcp-Method, Mcp-Name, Mcp-Param-*), which let intermediaries route without
 * reading the body and so must agree with it. The server checks the request's _meta; these
 * check the headers against the body. No libmicrohttpd types: headers are read through
 * struct cx_http_hdrs, so the unit tests drive the checks with a table. */
#ifndef CX_HTTP_STATELESS_H
#define CX_HTTP_STATELESS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct cx_server;

#define CX_HTTP_HDR_METHOD "Mcp-Method"
#define CX_HTTP_HDR_NAME   "Mcp-Name"
#define CX_HTTP_HDR_PARAM  "Mcp-Param-"

/* Where the checks read the request's headers: get returns a header's value (borrowed, valid
 * during the check), or NULL when the request has none. */
struct cx_http_hdrs {
	const char *(*get)(void *ctx, const char *name);
	void *ctx;
};

/* A POST of the stateless revision: no session (sid NULL or empty), and an
 * MCP-Protocol-Version that names none of the revisions with initialize (2026-07-28 itself,
 * or a version the server answers with -32022). An initialize (init) naming an unknown
 * version comes from a client of the older revisions and is not one. */
bool cx_http_is_stateless(const char *version, const char *sid, bool init);

/* A GET or DELETE of the stateless revision (header 2026-07-28, no session), which has
 * neither streams nor sessions: the transport answers 405. */
bool cx_http_stateless_stream_request(const char *version, const char *sid);

/* What a mirrored header carries: a value wrapped as =?base64?...?= (standard Base64 with
 * padding) decoded, any other value literally. *out points into v, or into *buf (malloc'd,
 * caller frees; NULL when nothing was decoded). -1 for a wrapper around invalid Base64, or
 * out of memory. */
int cx_http_header_value_decode(const char *v, size_t len, char **buf, const char **out,
				size_t *outlen);

/* True when a header value (decoded, len bytes) is the argument arg: the same bytes for a
 * string, "true" or "false" for a boolean, the same number for a number (42 and 42.0
 * agree). Never for null, arrays or objects. */
bool cx_http_arg_matches(const json_t *arg, const char *v, size_t len);

/* True when an x-mcp-header annotation can name a header: an RFC 9110 token of 1 to 128
 * characters. */
bool cx_http_header_token(const char *name);

/* Every argument (args, the request's params.arguments) that the tool definition def
 * (a tools/list entry; NULL: nothing to check) annotates with x-mcp-header and that is a
 * string, number or boolean must come with Mcp-Param-<annotation> carrying the same value,
 * literally or Base64-wrapped. 0, or -1 with the reason in msg. */
int cx_http_check_param_headers(const json_t *def, const json_t *args,
				const struct cx_http_hdrs *hd, char *msg, size_t msglen);

/* The standard headers against the message m (an object): Mcp-Method must equal the method
 * exactly, Mcp-Name the member cx_method_name_member names when the body has it as a string
 * (literally or Base64-wrapped), and for tools/call the Mcp-Param-* headers of the tool srv
 * publishes. A response (no method) mirrors nothing. Surrounding blanks of a header value
 * are ignored. 0, or -1 with the reason in msg. */
int cx_http_check_mirrored_headers(const json_t *m, const struct cx_server *srv,
				   const struct cx_http_hdrs *hd, char *msg, size_t msglen);

/* Why a stateless request is refused before the server sees it: HTTP 400 with this JSON-RPC
 * error (data a new reference or NULL; the transport's answer steals it). */
struct cx_http_refusal {
	int code;
	char msg[400];
	json_t *data;
};

/* The transport's checks of a stateless request m with header version: one JSON-RPC object
 * (no batches), the mirrored headers, and a version that fits version_cap bytes (a longer
 * one is answered here as the server would answer it). 0, or -1 with *no filled. */
int cx_http_stateless_check(const json_t *m, const char *version, size_t version_cap,
			    const struct cx_server *srv, const struct cx_http_hdrs *hd,
			    struct cx_http_refusal *no);

#endif
