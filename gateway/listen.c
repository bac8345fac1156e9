/* The listen address. Messages say what is wrong with the value, never where it came from:
 * the caller knows whether that was --listen, a config file or the default. */
#include "listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../common/util.h"

#define EXAMPLE "write HOST:PORT with a literal address, e.g. 127.0.0.1:8080, 0.0.0.0:8080 " \
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

int cx_listen_parse(const char *listen, struct cx_listen *out, struct cx_err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
	const char *colon, *hbeg, *hend;
	size_t hlen;
	long port;

	memset(out, 0, sizeof(*out));
	if (!listen || !*listen)
		return cx_err_set(err, "the listen address is empty; " EXAMPLE);
	if (listen[0] == '[') {
		hbeg = listen + 1;
		hend = strchr(hbeg, ']');
		if (!hend)
			return cx_err_set(err, "'%s' has no closing ']'; " EXAMPLE, listen);
		colon = hend + 1;
		if (*colon != ':')
			return cx_err_set(err, "'%s' has no port; " EXAMPLE, listen);
		out->v6 = true;
	} else {
		hbeg = listen;
		colon = hend = strrchr(listen, ':');
		if (!colon)
			return cx_err_set(err, "'%s' has no port; " EXAMPLE, listen);
		if (memchr(listen, ':', (size_t)(colon - listen)))
			return cx_err_set(err, "'%s': an IPv6 address needs brackets, e.g. "
					       "[::1]:8080", listen);
	}
	hlen = (size_t)(hend - hbeg);
	if (!hlen)
		return cx_err_set(err, "'%s' has no host; " EXAMPLE, listen);
	if (hlen >= sizeof(out->host))
		return cx_err_set(err, "'%.64s...': the host is too long; " EXAMPLE, listen);
	if (!all_digits(colon + 1))
		return cx_err_set(err, "'%s': the port '%s' is not a number; " EXAMPLE, listen,
				  colon + 1);
	if (strlen(colon + 1) > 5 || cx_parse_long(colon + 1, 0, 65535, &port))
		return cx_err_set(err, "'%s': port %s is out of range (0-65535; 0 picks a free "
				       "port)", listen, colon + 1);
	memcpy(out->host, hbeg, hlen);
	out->host[hlen] = '\0';
	out->port = (unsigned)port;
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
		return cx_err_set(err, "'%s': '%s' is not an IPv4 address or 'localhost' (host "
				       "names are not resolved); " EXAMPLE, listen, out->host);
	out->loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	out->wildcard = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return 0;
}
