/* The transport-neutral core: sessions, protocol methods, dispatch of tool calls.
 * Transports turn bytes into JSON and hand each message to cx_server_submit().
 *
 * The core is several files, each with one job: server.c (this interface: principals, life
 * cycle, classification of each message), methods.c (the method table and the methods),
 * stateless.c (the 2026-07-28 revision's server side), batch.c (JSON-RPC batches), notify.c
 * (messages to sessions: list changes, resource updates, push sinks), dispatch.c (tool calls
 * and adapter hooks), jobs.c (the queue, workers and watchdog), tasks.c (the tasks
 * extension), channel.c (what a running call says to its client). */
#ifndef CX_SERVER_H
#define CX_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "exchange.h"
#include "registry.h"
#include "session.h"

struct cx_server;
struct cx_audit;
struct cx_dispatch;
struct cx_metrics;

/* Messages that belong to a session rather than to a request (notifications/resources/updated,
 * notifications/.../list_changed) go to every registered sink; a sink delivers those for the
 * sessions it serves (fp "" is the stdio session, "*" every session) to the session's open
 * streams. Steals msg; returns how many streams took it. Called from any thread. At most 4. */
typedef int (*cx_push_fn)(void *ctx, const char *fp, json_t *msg);
int cx_server_add_push(struct cx_server *s, cx_push_fn fn, void *ctx);
void cx_server_remove_push(struct cx_server *s, cx_push_fn fn, void *ctx);
/* Hands msg (stolen) to every sink for session fp; returns how many streams took it. */
int cx_server_push(struct cx_server *s, const char *fp, json_t *msg);

struct cx_server *cx_server_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				struct cx_audit *audit, struct cx_err *err);
/* Starts the worker pool. */
int cx_server_start(struct cx_server *s, struct cx_err *err);

/* Handles one message or batch (steals msg); x->reply() is called exactly once. */
void cx_server_submit(struct cx_server *s, struct cx_exchange *x, json_t *msg);

/* Tool calls without JSON-RPC (REST routes, a local command line, tests): see
 * cx_dispatch_tool in dispatch.h. */
struct cx_dispatch *cx_server_dispatch(struct cx_server *s);
/* For the operations routes (/metrics, /readyz, REST): the registry (borrowed), the counters,
 * and the job pool's calls accepted and not answered yet, and waiting for a worker. */
struct cx_registry *cx_server_registry(const struct cx_server *s);
struct cx_metrics *cx_server_metrics(const struct cx_server *s);
void cx_server_stats(const struct cx_server *s, size_t *in_flight, size_t *queued);

/* At a stop signal: stops taking new calls and answers the calls still queued (never started)
 * as refused, so the client retries elsewhere at once. The number answered. */
size_t cx_server_shed(struct cx_server *s);

/* Transports count a message's members as its text arrives (cx_rpc_count_feed) and ask this
 * before parsing it: 0, or -1 with msg set (an invalid-request message) for a batch of more
 * than calls.max_batch members, which is refused without being buffered or built. */
int cx_server_batch_check(const struct cx_server *s, size_t members, char *msg, size_t msglen);
/* Stops taking new calls, waits for in-flight ones (each bounded by its deadline and all by
 * calls.drain_grace_ms) and stops
 * the workers. Returns how many workers were still inside a handler after a short grace:
 * then the server and the registry must not be freed (the caller exits instead). */
size_t cx_server_drain(struct cx_server *s);
void cx_server_free(struct cx_server *s);

/* Principals. auth_required is true when tokens are configured. authenticate looks up the
 * SHA-256 of a bearer token (constant time); NULL for an unknown token. */
bool cx_server_auth_required(const struct cx_server *s);
const struct cx_principal *cx_server_authenticate(const struct cx_server *s, const char *token);
const struct cx_principal *cx_server_anonymous(const struct cx_server *s);       /* "anonymous" */
const struct cx_principal *cx_server_stdio_principal(const struct cx_server *s); /* "stdio" */

const unsigned char *cx_server_session_key(const struct cx_server *s);
const struct cx_gw_config *cx_server_config(const struct cx_server *s);

/* The published tools/list entry of a registered tool (borrowed, never mutated, valid while
 * the server lives), or NULL for an unknown name. Any thread. The HTTP transport reads the
 * x-mcp-header annotations of its inputSchema. */
const json_t *cx_server_tool_def(const struct cx_server *s, const char *name);

/* Subscribes key (a session fingerprint, or a transport's own key) to uri's updates, which the
 * push sinks then get for key; 0, or -1 when the table is full. */
int cx_server_subscribe(struct cx_server *s, const char *key, const char *uri);
/* The same for every URI that starts with prefix. */
int cx_server_subscribe_prefix(struct cx_server *s, const char *key, const char *prefix);
void cx_server_unsubscribe(struct cx_server *s, const char *key, const char *uri);

/* A session ended (HTTP DELETE): forget its subscriptions and log level. */
void cx_server_session_ended(struct cx_server *s, const char *fp);

#endif
