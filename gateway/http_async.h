/* Requests of the operations routes (/metrics, /readyz, /v1/...) whose answer may come from
 * another thread: a REST tool call answered by a worker, a scrape computed on a thread of its
 * own. The same contract as a POST /mcp (http_post.c): the body is read into a capped buffer,
 * then start() runs on the HTTP thread; if it has not answered by the time it returns the
 * connection is suspended, and cx_http_async_answer* resumes it from whatever thread answers.
 * h->active counts the request from start() until its answer is queued, so cx_http_stop waits
 * for it. Lock order: a.mu is a leaf, and MHD_resume_connection is called with it released. */
#ifndef CX_HTTP_ASYNC_H
#define CX_HTTP_ASYNC_H

#include "http_internal.h"

struct cx_http_async;
struct tap;

/* Runs once the body is in (a->body holds it). Answers a, now or later, exactly once. */
typedef void (*cx_http_async_start_fn)(struct cx_http_async *a);

struct cx_http_async {
	int kind; /* CX_HTTP_CTX_ASYNC: first, like struct req's */
	struct cx_http *h;
	struct MHD_Connection *conn;
	const struct cx_principal *who; /* NULL on a route without admission */
	int fd;                         /* the connection's socket, -1 if unknown */
	cx_http_async_start_fn start;
	struct cx_buf body;
	bool overflow;
	size_t discarded; /* bytes dropped after the body passed the cap */
	bool started;
	char param[128];  /* the route's path parameter ({name}, {id}); "" when none */
	int op;           /* which of the route's operations (the route's own numbering) */
	unsigned refusal; /* the status checks before a call decided on (0: none) */
	json_t *args;     /* a call's arguments until its answer (the route's) */

	pthread_mutex_t mu;
	bool suspended;
	bool answered;
	bool orphaned; /* MHD completed the request before the answer: the answerer frees */
	bool counted;  /* in h->active, from the start until the answer is queued or dropped */
	unsigned status;
	char *out; /* the answer's body (malloc'd) */
	size_t out_len;
	const char *ctype;
	const char *allow; /* an Allow header for a 405, or NULL */
	struct tap *tap;   /* the answer is this SSE stream instead */
};

/* A new request for conn that runs start once its body is in; *con_cls points to it. NULL on
 * out of memory. */
struct cx_http_async *cx_http_async_new(struct cx_http *h, struct MHD_Connection *conn,
					const struct cx_principal *who,
					cx_http_async_start_fn start, void **con_cls);
/* Every access-handler call after the first. */
enum MHD_Result cx_http_async_data(struct cx_http_async *a, const char *data, size_t *size);
/* MHD completed the request. */
void cx_http_async_completed(struct cx_http_async *a);

/* The answer: body (malloc'd, taken on every path; NULL with len 0 for none). Any thread;
 * once per request. */
void cx_http_async_answer(struct cx_http_async *a, unsigned status, char *body, size_t len,
			  const char *ctype);
/* The same with a JSON body (stolen; NULL: out of memory, answered 500). */
void cx_http_async_answer_json(struct cx_http_async *a, unsigned status, json_t *body);
/* A JSON error body {"error": {"status", "message"}}. */
void cx_http_async_error(struct cx_http_async *a, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The answer is the SSE stream t feeds (taken). */
void cx_http_async_answer_stream(struct cx_http_async *a, struct tap *t);

#endif
