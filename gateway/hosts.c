/* The Host and Origin policy start-up computes for the HTTP transport, which only reads it. */
#include "hosts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/util.h"

/* A listener has a handful of addresses; a machine with hundreds gets the first ones. */
#define OWN_MAX      64
#define NAME_MAX_LEN 256

void cx_hosts_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static bool has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(v[i], s))
			return true;
	}
	return false;
}

/* Appends a copy of s unless present; false on out of memory. */
static bool add(char **v, size_t *n, const char *s)
{
	if (!*s || *n >= OWN_MAX || has(v, *n, s))
		return true;
	v[*n] = strdup(s);
	if (!v[*n])
		return false;
	(*n)++;
	return true;
}

/* The Host form of an address: IPv6 in brackets. false for addresses a client on another
 * machine cannot name (loopback, link-local, other families). */
static bool host_form(const struct sockaddr *sa, char *out, size_t outlen)
{
	char buf[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;

		if ((ntohl(a->s_addr) >> 24) == 127 || !inet_ntop(AF_INET, a, buf, sizeof(buf)))
			return false;
		return cx_fmt(out, outlen, "%s", buf);
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		    !inet_ntop(AF_INET6, a, buf, sizeof(buf)))
			return false;
		return cx_fmt(out, outlen, "[%s]", buf);
	}
	return false;
}

char **cx_hosts_own(const struct cx_listen *la, const struct ifaddrs *ifs, const char *hostname)
{
	char **v = calloc(OWN_MAX + 1, sizeof(*v)), name[NAME_MAX_LEN];
	size_t n = 0;

	if (!v || la->loopback)
		return v;
	if (!la->wildcard) {
		if (host_form((const struct sockaddr *)&la->addr, name, sizeof(name)) &&
		    !add(v, &n, name))
			goto oom;
	} else {
		for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			if (!i->ifa_addr)
				continue;
			/* 0.0.0.0 takes IPv4 only; :: takes both on Linux (dual stack). */
			if (i->ifa_addr->sa_family == AF_INET6 && !la->v6)
				continue;
			if (host_form(i->ifa_addr, name, sizeof(name)) && !add(v, &n, name))
				goto oom;
		}
	}
	if (hostname && *hostname && strlen(hostname) < sizeof(name) &&
	    strcasecmp(hostname, "localhost")) {
		const char *dot = strchr(hostname, '.');

		if (!add(v, &n, hostname))
			goto oom;
		/* "vm.example.com": clients on the same domain often use the short name. */
		if (dot && dot > hostname) {
			memcpy(name, hostname, (size_t)(dot - hostname));
			name[dot - hostname] = '\0';
			if (!add(v, &n, name))
				goto oom;
		}
	}
	return v;
oom:
	cx_hosts_free(v);
	return NULL;
}

char **cx_hosts_own_now(const struct cx_listen *la)
{
	struct ifaddrs *ifs = NULL;
	char hostname[NAME_MAX_LEN] = "";
	char **v;

	if (!la->loopback && la->wildcard && getifaddrs(&ifs))
		ifs = NULL;
	if (gethostname(hostname, sizeof(hostname) - 1))
		hostname[0] = '\0';
	hostname[sizeof(hostname) - 1] = '\0';
	v = cx_hosts_own(la, ifs, hostname);
	if (ifs)
		freeifaddrs(ifs);
	return v;
}

int cx_hosts_extend(struct cx_gw_config *c, char *const *own, struct cx_err *err)
{
	size_t have = 0, extra = 0, i;
	char **v;

	for (i = 0; c->allowed_hosts && c->allowed_hosts[i]; i++)
		have++;
	for (i = 0; own && own[i]; i++)
		extra++;
	if (!extra)
		return 0;
	v = realloc(c->allowed_hosts, (have + extra + 1) * sizeof(*v));
	if (!v)
		return cx_err_set(err, "out of memory");
	c->allowed_hosts = v;
	for (i = 0; i < extra; i++) {
		if (has(v, have, own[i]))
			continue;
		v[have] = strdup(own[i]);
		if (!v[have]) {
			v[have] = NULL;
			return cx_err_set(err, "out of memory");
		}
		have++;
	}
	v[have] = NULL;
	return 0;
}

/* ", a, b" appended to out at *used; a list cut short ends in "...". */
static void append_list(char *out, size_t outlen, size_t *used, char *const *v)
{
	for (size_t i = 0; v && v[i] && *used < outlen; i++) {
		int k = snprintf(out + *used, outlen - *used, "%s%s", i ? ", " : "", v[i]);

		if (k < 0 || (size_t)k >= outlen - *used) {
			out[*used] = '\0';
			if (outlen - *used > 4)
				memcpy(out + *used, "...", 4);
			*used = strlen(out);
			return;
		}
		*used += (size_t)k;
	}
}

static void append(char *out, size_t outlen, size_t *used, const char *s)
{
	if (*used < outlen && cx_fmt(out + *used, outlen - *used, "%s", s))
		*used += strlen(out + *used);
	else
		*used = strlen(out);
}

void cx_hosts_describe(const struct cx_gw_config *c, char *const *own, char *out, size_t outlen)
{
	size_t used = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	append(out, outlen, &used, "Host must be a loopback name");
	if (c->allowed_hosts && c->allowed_hosts[0]) {
		append(out, outlen, &used, ", in http.allowed_hosts (");
		append_list(out, outlen, &used, c->allowed_hosts);
		append(out, outlen, &used, ")");
	}
	if (own && own[0]) {
		append(out, outlen, &used, ", or this machine's (");
		append_list(out, outlen, &used, own);
		append(out, outlen, &used, ")");
	}
	append(out, outlen, &used,
	       "; Origin must be absent, a loopback origin or the request's own Host");
	if (c->allowed_origins && c->allowed_origins[0]) {
		append(out, outlen, &used, ", or in http.allowed_origins (");
		append_list(out, outlen, &used, c->allowed_origins);
		append(out, outlen, &used, ")");
	}
}
