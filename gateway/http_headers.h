/* The HTTP transport's pure parsers: addresses, Host and Origin checks, Accept and
 * Content-Type. No libmicrohttpd types and no state: each function looks at strings only, so
 * the unit tests drive them directly. */
#ifndef CX_HTTP_HEADERS_H
#define CX_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../common/err.h"

#define CX_HTTP_CT_JSON "application/json"
#define CX_HTTP_CT_SSE  "text/event-stream"

/* True when host (a literal address, "[v6]" or "localhost") is a loopback address. */
bool cx_http_is_loopback(const char *host);

/* Splits "host", "host:port", "[v6]" or "[v6]:port", as a Host header or --listen writes
 * it; cx_listen_parse (listen.c) reads --listen with it. name (namelen bytes) gets the host without
 * brackets; *hostpart_len the length of the host as written (brackets included); *port the port, or
 * -1 when there is none. false when the value has another shape, the host is empty or does not fit,
 * or the port is not 1 to 5 digits. The port's range is the caller's business (a Host header is not
 * checked for it). */
bool cx_http_split_hostport(const char *v, char *name, size_t namelen, size_t *hostpart_len,
			    long *port);

/* DNS rebinding protection: a Host header is allowed when its host is a loopback name or
 * address, or when it equals an entry of allowed (NULL-terminated, may be NULL), with or
 * without its port; case-insensitive. NULL or malformed: false. */
bool cx_http_host_allowed(const char *host, char *const *allowed);

/* An Origin header is allowed when it equals an entry of allowed (NULL-terminated, may be
 * NULL; case-insensitive) or is an http:// or https:// origin of a loopback host. */
bool cx_http_origin_allowed(const char *origin, char *const *allowed);

/* Whether an Origin header is an http:// or https:// origin whose host[:port] is exactly host
 * (the request's Host header, already allowed; case-insensitive): a page of this gateway
 * calling it. NULL either way: false. */
bool cx_http_origin_is_host(const char *origin, const char *host);

/* Whether an If-None-Match header's value (may be NULL) names etag (weak comparison, or "*"). */
bool cx_http_etag_matches(const char *if_none_match, const char *etag);

/* Which of application/json and text/event-stream an Accept header (NULL: absent) admits:
 * the two types themselves, any application or text subtype, and the full wildcard;
 * case-insensitive; except those an element refuses with q=0. */
void cx_http_parse_accept(const char *accept, bool *json, bool *sse);

/* True when a Content-Type header names application/json, parameters aside. */
bool cx_http_content_type_is_json(const char *ct);

/* True when method (compared exactly) is one of allow, a list such as "GET, HEAD" as an
 * Allow header writes it. */
bool cx_http_method_listed(const char *allow, const char *method);

#endif
