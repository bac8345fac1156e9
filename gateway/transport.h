/* The two ways clients reach the gateway. */
#ifndef CX_TRANSPORT_H
#define CX_TRANSPORT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "../common/err.h"

struct cx_server;

/* stdio: newline-delimited JSON-RPC on in_fd, replies on out_fd (stdout carries protocol
 * messages only). Returns at end of input or when *stop becomes true (set by another thread),
 * after in-flight calls have answered and their answers were written (or a client that stopped
 * reading had 5 s to take them). Writes to out_fd happen on a writer thread of its own, so
 * no call and no deadline waits for the client to read. 0 on a clean end. */
int cx_stdio_run(struct cx_server *s, int in_fd, int out_fd, const atomic_bool *stop);

/* Streamable HTTP at /mcp. listen is "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080",
 * "0.0.0.0:8080"); port 0 picks a free port (see cx_http_port). */
struct cx_http;
struct cx_http *cx_http_start(struct cx_server *s, const char *listen, struct cx_err *err);
unsigned cx_http_port(const struct cx_http *h);
/* Ends the GET streams of the session with fingerprint fp (ended by another gateway). */
void cx_http_end_streams(struct cx_http *h, const char *fp);
/* Stops accepting connections; requests in flight finish. */
void cx_http_quiesce(struct cx_http *h);
void cx_http_stop(struct cx_http *h);

#endif
