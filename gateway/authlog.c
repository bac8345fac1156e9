/* The rate-limited log of refused HTTP requests. The transport calls cx_authlog_refused() at
 * each 401 and 403; the decision is cx_ratelimit_admit(), a pure function of the clock. */
#include "authlog.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../common/log.h"
#include "../common/util.h"
#include "server.h"

#define PEER_MAX  (INET6_ADDRSTRLEN + 8)
#define VALUE_MAX 128
#define WHY_MAX   400

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cx_ratelimit limit;

bool cx_ratelimit_admit(struct cx_ratelimit *rl, int64_t now_ms, unsigned long *dropped)
{
	*dropped = 0;
	if (!rl->window_start || now_ms - rl->window_start >= CX_AUTHLOG_WINDOW_MS ||
	    now_ms < rl->window_start) {
		rl->window_start = now_ms ? now_ms : 1;
		rl->logged = 0;
	}
	if (rl->logged >= CX_AUTHLOG_BURST) {
		rl->dropped++;
		return false;
	}
	rl->logged++;
	*dropped = rl->dropped;
	rl->dropped = 0;
	return true;
}

void cx_authlog_sanitize(const char *value, char *out, size_t outlen)
{
	size_t i = 0;

	if (!outlen)
		return;
	for (; value && *value && i + 1 < outlen; value++)
		out[i++] = (*value >= 0x20 && *value < 0x7f) ? *value : '?';
	out[i] = '\0';
	if (value && *value && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

void cx_authlog_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
	char buf[INET6_ADDRSTRLEN];
	const void *a = NULL;

	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a && inet_ntop(sa->sa_family, a, buf, sizeof(buf)))
		cx_fmt(out, outlen, "%s", buf);
	else
		cx_fmt(out, outlen, "an unknown address");
}

void cx_authlog_refused(unsigned status, const struct sockaddr *peer, const char *token_name,
			const char *why)
{
	char who[PEER_MAX], tok[96] = "", more[96] = "";
	unsigned long dropped;
	bool ok;

	if (cx_log_get_level() > CX_LOG_WARN)
		return;
	pthread_mutex_lock(&lock);
	ok = cx_ratelimit_admit(&limit, cx_now_ms(), &dropped);
	pthread_mutex_unlock(&lock);
	if (!ok)
		return;
	cx_authlog_peer(peer, who, sizeof(who));
	if (token_name)
		cx_fmt(tok, sizeof(tok), " (token '%s')", token_name);
	if (dropped)
		cx_fmt(more, sizeof(more),
		       " [%lu earlier refusal(s) not logged: more than %d a "
		       "minute]",
		       dropped, CX_AUTHLOG_BURST);
	cx_warn("http: %u from %s%s: %s%s", status, who, tok, why, more);
}

const char *cx_auth_bearer(const char *header)
{
	const char *tok;

	if (!header || strncasecmp(header, "Bearer", 6) || (header[6] != ' ' && header[6] != '\t'))
		return NULL;
	for (tok = header + 7; *tok == ' ' || *tok == '\t'; tok++)
		;
	return *tok ? tok : NULL;
}

void cx_authlog_http(struct MHD_Connection *conn, const struct cx_server *srv, unsigned status,
		     const char *subject, const char *value, const char *why)
{
	const union MHD_ConnectionInfo *ci;
	const struct cx_principal *who = NULL;
	char shown[VALUE_MAX], line[WHY_MAX];
	const char *tok;

	if (cx_log_get_level() > CX_LOG_WARN)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	/* A 401 has no valid token by definition; a 403 may come with one, and its name tells
	 * the operator which client is misconfigured. */
	if (status != 401 && cx_server_auth_required(srv)) {
		tok = cx_auth_bearer(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_AUTHORIZATION));
		who = tok ? cx_server_authenticate(srv, tok) : NULL;
	}
	if (value) {
		cx_authlog_sanitize(value, shown, sizeof(shown));
		cx_fmt(line, sizeof(line), "%s '%s' %s", subject, shown, why);
	} else {
		cx_fmt(line, sizeof(line), "%s %s", subject, why);
	}
	cx_authlog_refused(status, ci ? ci->client_addr : NULL, who ? who->name : NULL, line);
}
