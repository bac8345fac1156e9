#include "http_headers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- addresses ---- */

bool cx_http_is_loopback(const char *host)
{
	char buf[INET6_ADDRSTRLEN];
	struct in_addr a4;
	struct in6_addr a6;
	size_t len;

	if (!host)
		return false;
	if (!strcasecmp(host, "localhost"))
		return true;
	len = strlen(host);
	if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

bool cx_http_split_hostport(const char *v, char *name, size_t namelen, size_t *hostpart_len,
			    long *port)
{
	const char *hend, *nbeg, *nend, *p;
	long n = 0;

	if (!v)
		return false;
	if (v[0] == '[') {
		nbeg = v + 1;
		nend = strchr(nbeg, ']');
		if (!nend)
			return false;
		hend = nend + 1;
	} else {
		nbeg = v;
		nend = strchr(v, ':');
		if (!nend)
			nend = v + strlen(v);
		hend = nend;
	}
	if (nend == nbeg || (size_t)(nend - nbeg) >= namelen)
		return false;
	if (*hend == ':') {
		for (p = hend + 1; *p >= '0' && *p <= '9'; p++)
			;
		if (p == hend + 1 || p - (hend + 1) > 5 || *p)
			return false;
		for (p = hend + 1; *p; p++)
			n = n * 10 + (*p - '0');
	} else if (*hend) {
		return false;
	} else {
		n = -1;
	}
	memcpy(name, nbeg, (size_t)(nend - nbeg));
	name[nend - nbeg] = '\0';
	*hostpart_len = (size_t)(hend - v);
	*port = n;
	return true;
}

/* ---- Host and Origin ---- */

bool cx_http_host_allowed(const char *host, char *const *allowed)
{
	char name[256];
	size_t hlen;
	long port;

	if (!host || !cx_http_split_hostport(host, name, sizeof(name), &hlen, &port))
		return false;
	if (cx_http_is_loopback(name))
		return true;
	for (char *const *a = allowed; a && *a; a++) {
		if (!strcasecmp(*a, host) || (strlen(*a) == hlen && !strncasecmp(*a, host, hlen)))
			return true;
	}
	return false;
}

/* What follows "http://" or "https://" in an Origin; NULL for any other scheme. */
static const char *origin_authority(const char *origin)
{
	if (!strncasecmp(origin, "http://", 7))
		return origin + 7;
	if (!strncasecmp(origin, "https://", 8))
		return origin + 8;
	return NULL;
}

bool cx_http_origin_allowed(const char *origin, char *const *allowed)
{
	char name[256];
	const char *auth;
	size_t hlen;
	long port;

	for (char *const *a = allowed; a && *a; a++) {
		if (!strcasecmp(*a, origin))
			return true;
	}
	if (!(auth = origin_authority(origin)))
		return false;
	if (!cx_http_split_hostport(auth, name, sizeof(name), &hlen, &port))
		return false;
	return cx_http_is_loopback(name);
}

bool cx_http_origin_is_host(const char *origin, const char *host)
{
	const char *auth;

	if (!origin || !host || !*host)
		return false;
	if (!(auth = origin_authority(origin)))
		return false;
	return !strcasecmp(auth, host);
}

/* ---- caching ---- */

bool cx_http_etag_matches(const char *if_none_match, const char *etag)
{
	const char *p = if_none_match, *e;
	size_t n = strlen(etag);

	if (!p)
		return false;
	/* RFC 9110 13.1.2: a list of entity tags (weak comparison), or "*". */
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != ','; e++)
			;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - p == 1 && *p == '*')
			return true;
		if (e - p > 2 && !strncmp(p, "W/", 2))
			p += 2;
		if ((size_t)(e - p) == n && !strncmp(p, etag, n))
			return true;
		p = e;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/* ---- media types ---- */

/* The media type of one header element: leading/trailing blanks and parameters dropped. */
static const char *media_type(const char *p, const char *end, size_t *len)
{
	const char *e;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (e = p; e < end && *e != ';'; e++)
		;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = (size_t)(e - p);
	return p;
}

static bool media_is(const char *p, size_t len, const char *type)
{
	return strlen(type) == len && !strncasecmp(p, type, len);
}

/* True when the parameters of one Accept element contain q=0 (the type is refused). */
static bool q_zero(const char *p, const char *end)
{
	const char *q;

	for (p = memchr(p, ';', (size_t)(end - p)); p && p < end;
	     p = memchr(p + 1, ';', (size_t)(end - p - 1))) {
		for (q = p + 1; q < end && (*q == ' ' || *q == '\t'); q++)
			;
		if (end - q < 2 || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=')
			continue;
		for (q += 2; q < end && (*q == '0' || *q == '.'); q++)
			;
		return q == end || *q == ' ' || *q == '\t' || *q == ';';
	}
	return false;
}

void cx_http_parse_accept(const char *accept, bool *json, bool *sse)
{
	const char *p = accept, *end, *t;
	size_t len;

	*json = *sse = false;
	while (p && *p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		t = media_type(p, end, &len);
		if (!q_zero(t, end)) {
			if (media_is(t, len, "*/*")) {
				*json = *sse = true;
			} else if (media_is(t, len, CX_HTTP_CT_JSON) ||
				   media_is(t, len, "application/*")) {
				*json = true;
			} else if (media_is(t, len, CX_HTTP_CT_SSE) || media_is(t, len, "text/*")) {
				*sse = true;
			}
		}
		p = *end ? end + 1 : NULL;
	}
}

bool cx_http_content_type_is_json(const char *ct)
{
	size_t len;
	const char *t;

	if (!ct)
		return false;
	t = media_type(ct, ct + strlen(ct), &len);
	return media_is(t, len, CX_HTTP_CT_JSON);
}

bool cx_http_method_listed(const char *allow, const char *method)
{
	size_t len = strlen(method);
	const char *p = allow, *e;

	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		for (e = p; *e && *e != ',' && *e != ' '; e++)
			;
		if ((size_t)(e - p) == len && len && !memcmp(p, method, len))
			return true;
		p = e;
	}
	return false;
}
