/* The listen address. Messages say what is wrong with the value, never where it came from:
 * the caller knows whether that was --listen, a config file or the default. */
#include "listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../common/util.h"
#include "http_headers.h"

#define EXAMPLE                                                                                    \
	"write HOST:PORT with a literal address, e.g. 127.0.0.1:8080, 0.0.0.0:8080 "               \
	"or [::1]:8080"

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* Says why cx_http_split_hostport refused listen, in the words an operator needs. */
static int explain(const char *listen, struct cx_err *err)
{
	const char *hend, *colon;

	if (listen[0] == '[') {
		hend = strchr(listen + 1, ']');
		if (!hend)
			return cx_err_set(err, "'%s' has no closing ']'; " EXAMPLE, listen);
		colon = hend + 1;
		if (hend == listen + 1)
			return cx_err_set(err, "'%s' has no host; " EXAMPLE, listen);
	} else {
		colon = strchr(listen, ':');
		if (colon && strchr(colon + 1, ':'))
			return cx_err_set(err,
					  "'%s' has more than one ':'; an IPv6 address needs "
					  "brackets, e.g. [::1]:8080",
					  listen);
		if (colon == listen)
			return cx_err_set(err, "'%s' has no host; " EXAMPLE, listen);
		hend = colon;
	}
	if (!colon || *colon != ':')
		return cx_err_set(err, "'%s' has no port; " EXAMPLE, listen);
	if ((size_t)(hend - listen) >= CX_LISTEN_HOST_MAX)
		return cx_err_set(err, "'%.64s...': the host is too long; " EXAMPLE, listen);
	if (!all_digits(colon + 1))
		return cx_err_set(err, "'%s': the port '%s' is not a number; " EXAMPLE, listen,
				  colon + 1);
	return cx_err_set(err, "'%s': port %s is out of range (0-65535; 0 picks a free port)",
			  listen, colon + 1);
}

int cx_listen_parse(const char *listen, struct cx_listen *out, struct cx_err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
	size_t hostpart;
	long port;

	memset(out, 0, sizeof(*out));
	if (!listen || !*listen)
		return cx_err_set(err, "the listen address is empty; " EXAMPLE);
	/* The one host:port parser, the same that reads Host headers (http_headers.c). */
	if (!cx_http_split_hostport(listen, out->host, sizeof(out->host), &hostpart, &port) ||
	    port < 0)
		return explain(listen, err);
	if (port > 65535)
		return cx_err_set(err,
				  "'%s': port %ld is out of range (0-65535; 0 picks a free "
				  "port)",
				  listen, port);
	out->port = (unsigned)port;
	out->v6 = listen[0] == '[';
	if (out->v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, out->host, &sin6->sin6_addr) != 1)
			return cx_err_set(err, "'%s': '%s' is not an IPv6 address", listen,
					  out->host);
		out->loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
				(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
				 sin6->sin6_addr.s6_addr[12] == 127);
		out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
		return 0;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (!strcasecmp(out->host, "localhost"))
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, out->host, &sin->sin_addr) != 1)
		return cx_err_set(err,
				  "'%s': '%s' is not an IPv4 address or 'localhost' (host "
				  "names are not resolved); " EXAMPLE,
				  listen, out->host);
	out->loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	out->wildcard = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return 0;
}
