/* Request framing the gateway checks itself before routing (see http_internal.h), because
 * libmicrohttpd 0.9.75 lets these through: a header that must come once coming twice (two
 * Hosts or two Content-Lengths are how requests are smuggled past a proxy), Content-Length
 * beside Transfer-Encoding, a Transfer-Encoding it cannot decode (the request then waits for
 * its timeout), and header values holding a NUL — C reads them up to the NUL, so
 * "Bearer <token>\0junk" passed as the token — or another control character. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../common/jsonrpc.h"
#include "http_internal.h"

/* The headers a request may carry at most once. */
static const char *const once[] = { "Host",          "Origin",         "Content-Length",
				    "Authorization", "Mcp-Session-Id", "MCP-Protocol-Version" };
#define NONCE (sizeof(once) / sizeof(once[0]))

struct scan {
	unsigned count[NONCE];
	const char *bad_value; /* the first header whose value holds a control character */
	const char *te;        /* Transfer-Encoding */
	unsigned te_count;
	size_t shown; /* the header lines as "Key: value" CRLF */
};

/* Field values may hold a tab (RFC 9110 5.5); any other byte below 0x20 and DEL may not. */
static bool value_has_ctl(const char *v, size_t len)
{
	if (strlen(v) != len)
		return true; /* a NUL inside */
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return true;
	return false;
}

/* The bytes of a "Name: value" CRLF line as received, but for what a NUL hid. libmicrohttpd
 * parses the head in place, so the name and the value point into the same line and the gap
 * between them is the colon and the whitespace after it, whatever the client sent. */
static size_t line_shown(const char *key, size_t key_size, const char *value, size_t value_size)
{
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
	size_t gap = key_size + 2;

	if (v > k + key_size && v - k - key_size <= 256)
		gap = (size_t)(v - k);
	return gap + value_size + 2;
}

static enum MHD_Result scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
				size_t key_size, const char *value, size_t value_size)
{
	struct scan *sc = cls;

	(void)kind;
	for (size_t i = 0; i < NONCE; i++)
		if (!strcasecmp(key, once[i]))
			sc->count[i]++;
	if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		sc->te = value;
		sc->te_count++;
	}
	if (!sc->bad_value && value && value_has_ctl(value, value_size))
		sc->bad_value = key;
	sc->shown += line_shown(key, key_size, value, value_size);
	return MHD_YES;
}

void *cx_http_uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct cx_http_share *sh = ci ? ci->socket_context : NULL;

	(void)cls;
	if (sh && uri) {
		size_t path = strcspn(uri, "?");

		sh->uri_len = strlen(uri);
		sh->uri_seen = true;
		/* Decoded, "%00" would end the path short of what follows ("/v1/tools/x%00evil"
		 * routed as /v1/tools/x); the query's arguments are checked by the REST routes. */
		sh->path_nul = false;
		for (size_t i = 0; i + 2 < path; i++)
			if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
				sh->path_nul = true;
	}
	return NULL;
}

/* libmicrohttpd ends a header value at a NUL, so no API shows "Bearer <token>\0junk" whole;
 * but it reports the size of the request head as received. Rebuilt from the request line as
 * received (cx_http_uri_seen) and the header lines the API shows (bare LF line ends come out
 * shorter), the head is as long as received unless bytes hid behind a NUL. */
static size_t head_shown(const char *method, size_t uri_len, const char *version,
			 const struct scan *sc)
{
	return strlen(method) + 1 + uri_len + 1 + strlen(version) + 2 + sc->shown + 2;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *msg,
			      bool close)
{
	return cx_http_send_rpc_error(conn, status, CX_RPC_INVALID_REQUEST, msg,
				      close ? MHD_HTTP_HEADER_CONNECTION : NULL,
				      close ? "close" : NULL);
}

bool cx_http_framing_refused(struct MHD_Connection *conn, const char *method, const char *version,
			     enum MHD_Result *ret)
{
	const union MHD_ConnectionInfo *ci, *si;
	struct cx_http_share *sh;
	struct scan sc = { 0 };
	size_t uri_len = 0;
	bool seen = false;
	char msg[160];

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_one, &sc);
	si = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	sh = si ? si->socket_context : NULL;
	if (sh && sh->uri_seen) { /* this request's; the next one on the connection sets its own */
		uri_len = sh->uri_len;
		seen = true;
		sh->uri_seen = false;
		if (sh->path_nul) {
			*ret = refuse(conn, MHD_HTTP_BAD_REQUEST,
				      "bad request: the path holds a NUL (%00)", true);
			return true;
		}
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && seen && ci->header_size > head_shown(method, uri_len, version, &sc)) {
		*ret = refuse(conn, MHD_HTTP_BAD_REQUEST, "bad request: a header value holds a NUL",
			      true);
		return true;
	}
	if (sc.bad_value) {
		snprintf(msg, sizeof(msg),
			 "bad request: the '%.40s' header contains a control character",
			 sc.bad_value);
		*ret = refuse(conn, MHD_HTTP_BAD_REQUEST, msg, false);
		return true;
	}
	for (size_t i = 0; i < NONCE; i++) {
		if (sc.count[i] > 1) {
			snprintf(msg, sizeof(msg), "bad request: more than one '%s' header",
				 once[i]);
			*ret = refuse(conn, MHD_HTTP_BAD_REQUEST, msg, true);
			return true;
		}
	}
	if (!sc.te_count)
		return false;
	if (sc.count[2]) {
		/* Which of the two framings a proxy in front believed is unknowable: close. */
		*ret = refuse(conn, MHD_HTTP_BAD_REQUEST,
			      "bad request: Content-Length and Transfer-Encoding together", true);
		return true;
	}
	if (sc.te_count > 1 || strcasecmp(sc.te, "chunked")) {
		*ret = refuse(conn, MHD_HTTP_NOT_IMPLEMENTED,
			      "not implemented: the only Transfer-Encoding served is 'chunked'",
			      true);
		return true;
	}
	return false;
}
