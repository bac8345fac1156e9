/* The HTTP listen address, "HOST:PORT": parsed once, by the transport when it binds and by the
 * start-up checks (and --check-config) before anything else starts. */
#ifndef CX_LISTEN_H
#define CX_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../common/err.h"

/* Longest host part: an IPv6 literal without brackets, or "localhost". */
#define CX_LISTEN_HOST_MAX 64

struct cx_listen {
	struct sockaddr_storage addr; /* port in network order; 0 picks a free port */
	bool v6;
	bool loopback; /* 127/8, ::1 or "localhost" */
	bool wildcard; /* 0.0.0.0 or :: (every address of the machine) */
	unsigned port;
	char host[CX_LISTEN_HOST_MAX]; /* as written, without brackets */
};

/* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0", "localhost:8080": HOST is a literal address or
 * localhost, PORT 0 to 65535. On failure err says what is wrong with the value ("port 99999
 * is out of range (0-65535)"); the caller prefixes where the value came from. */
int cx_listen_parse(const char *listen, struct cx_listen *out, struct cx_err *err);

#endif
