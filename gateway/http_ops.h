/* The operations routes beside /mcp, as the route table in transport_http.c calls them:
 *
 *   http_ops.c     GET /metrics (Prometheus text 0.0.4), GET /readyz
 *   http_rest.c    /v1/tools, /v1/tools/{name}, /v1/tasks, /v1/tasks/{id}, /v1/openapi.json
 *   http_events.c  GET /v1/tasks/{id}/events (SSE of one task until it ends)
 *   http_feed.c    GET /v1/events (SSE of every task change, until the client leaves)
 *   http_keyed.c   the SSE streams of those two
 *   http_async.c   the requests among them answered from another thread
 *   console.c      GET/HEAD / and /console/<file>: the console's files (no credentials)
 *
 * Each handler is called with a method its route row lists, who NULL unless the row admits,
 * and url the request's path (a prefix route's handler reads its parameters from it). */
#ifndef CX_HTTP_OPS_H
#define CX_HTTP_OPS_H

#include "http_internal.h"

enum MHD_Result cx_http_metrics(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				const char *method, const struct cx_principal *who, void **con_cls);
enum MHD_Result cx_http_readyz(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			       const char *method, const struct cx_principal *who, void **con_cls);
/* Every path under /v1/. */
enum MHD_Result cx_http_rest(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, const struct cx_principal *who, void **con_cls);

/* console.c: / (index.html) and every path under /console/. */
enum MHD_Result cx_http_console(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				const char *method, const struct cx_principal *who, void **con_cls);
/* Adds the headers only the console's answers carry (Content-Security-Policy,
 * Cross-Origin-Opener-Policy, Cache-Control) to r. 0, or -1 on out of memory. */
int cx_http_console_headers(struct MHD_Response *r);
/* The console's file of that name ("index.html"), or NULL. */
struct cx_embedded_file;
const struct cx_embedded_file *cx_console_find(const char *name);

/* Whether the gateway is ready (/readyz's answer): *body says why not (new reference). */
bool cx_http_ready(struct cx_http *h, json_t **body);

/* http_events.c: a task-events stream for task id, answering a (a GET .../events whose task
 * was read: task, borrowed, is its first event). */
struct cx_http_async;
void cx_http_events_open(struct cx_http_async *a, const char *id, const json_t *task);
/* How many task-events streams are open. */
size_t cx_http_events_count(struct cx_http *h);
/* Before the transport stops: ends every task-events stream and stops watching. */
void cx_http_events_stop(struct cx_http *h);
/* Once MHD has stopped (no scrape runs): frees what is left. */
void cx_http_events_free(struct cx_http *h);

/* http_feed.c: GET /v1/events answering a (503 without the task tools, 403 for a token that
 * may not call cortex_get_task_status, else the stream). */
void cx_http_feed_open(struct cx_http_async *a);
/* How many feeds are open. */
size_t cx_http_feed_count(struct cx_http *h);
/* Before the transport stops: ends every feed and stops listening. */
void cx_http_feed_stop(struct cx_http *h);
/* Once MHD has stopped: frees what is left. */
void cx_http_feed_free(struct cx_http *h);

#endif
