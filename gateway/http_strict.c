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
	size_t nargs; /* query arguments */
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

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	(void)key;
	(void)value;
	((struct scan *)cls)->nargs++;
	return MHD_YES;
}

size_t cx_http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct cx_http_share *sh = ci ? ci->socket_context : NULL;
	size_t before = strlen(s), after = MHD_http_unescape(s);

	(void)cls;
	if (sh && before > after)
		sh->unescaped += before - after;
	return after;
}

/* libmicrohttpd ends a header value at a NUL, so no API shows "Bearer <token>\0junk" whole;
 * but it reports the size of the request head as received. Rebuilt from what the API shows
 * (bare LF line ends come out shorter; a path as received is the decoded one plus what its
 * percent-decoding took out), the head is as long as received unless bytes hid behind a NUL.
 * A query string is split into arguments before it can be measured, so requests with one are
 * not checked this way (their arguments' own NULs are refused by the REST routes). */
static size_t head_shown(const char *method, const char *url, size_t unescaped, const char *version,
			 const struct scan *sc)
{
	return strlen(method) + 1 + strlen(url) + unescaped + 1 + strlen(version) + 2 + sc->shown +
	       2;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *msg,
			      bool close)
{
	return cx_http_send_rpc_error(conn, status, CX_RPC_INVALID_REQUEST, msg,
				      close ? MHD_HTTP_HEADER_CONNECTION : NULL,
				      close ? "close" : NULL);
}

bool cx_http_framing_refused(struct MHD_Connection *conn, const char *method, const char *url,
			     const char *version, enum MHD_Result *ret)
{
	const union MHD_ConnectionInfo *ci, *si;
	struct cx_http_share *sh;
	struct scan sc = { 0 };
	size_t unescaped = 0;
	char msg[160];

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_one, &sc);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &sc);
	si = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	sh = si ? si->socket_context : NULL;
	if (sh) { /* this request's; the next one on the connection counts afresh */
		unescaped = sh->unescaped;
		sh->unescaped = 0;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && !sc.nargs && ci->header_size > head_shown(method, url, unescaped, version, &sc)) {
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
