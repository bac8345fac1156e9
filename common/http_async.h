/* Backend requests that hold no thread while they wait: the adapters' fast path.
 *
 * cx_http_do blocks the worker that calls it until the backend answers, and handing a call to
 * a worker and its answer back costs more than the rest of a busy gateway's work. A request
 * given to cx_http_do_async is sent at once by the calling thread, and its answer awaited by
 * a loop: the calling thread's own when it runs one (each HTTP thread does), else the backend I/O
 * thread's. A loop has one curl multi handle for all its transfers, so many calls wait on their
 * backends together while no worker waits at all. The request is cx_http_do's in everything else:
 * its deadline and cancellation, its retries and Retry-After, TLS and the pin, the response cap,
 * and the sentences when it fails.
 *
 * A tool offers the fast path with a struct cx_tool_async (adapter.h, docs/ADAPTERS.md): begin
 * builds the request on the transport thread, end turns the answer into the tool's result on
 * the loop's thread; either may send the call to its ordinary handler on a worker instead. */
#ifndef CX_HTTP_ASYNC_H
#define CX_HTTP_ASYNC_H

#include "http_client.h"

/* What a tool's begin fills in: the request, and room for the strings it points to. It stays
 * valid (and unchanged) until end has run. */
struct cx_async_req {
	struct cx_http_client *client;
	long timeout_ms; /* as cx_http_do's: one request, when the call's deadline allows */
	struct cx_http_req req;
	const char *headers[4]; /* for req.headers; NULL-terminated */
	char path[512];         /* for req.path */
};

/* Runs once on the loop's thread (never under a lock of this module) with what cx_http_do would
 * have returned: rc 0 with resp (an HTTP answer, whatever its status), or -1 with err. resp is
 * released after it returns; it may take resp->json (setting it to NULL). It must not block:
 * no cx_http_do, no waiting. */
typedef void (*cx_http_done_fn)(void *arg, int rc, struct cx_http_resp *resp,
				const struct cx_err *err);

/* Starts req for call on this thread's loop (cx_io_loop_run), or else on the backend I/O
 * thread (starting the thread the first time). call
 * (its deadline and cancelled flag) must stay valid until done has run; req is copied, except
 * req->pick and req->keep_headers, which must outlive the request. 0: done will run; -1 with
 * err when the request could not start (a malformed request, out of memory, no loop):
 * done never runs, and cx_http_do would say the same. */
int cx_http_do_async(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		     const struct cx_http_req *req, cx_http_done_fn done, void *arg,
		     struct cx_err *err);

/* ---- loops ----
 *
 * A thread that has other I/O of its own runs a loop itself, with that I/O as its hook: the
 * HTTP transport runs one per HTTP thread, libmicrohttpd's daemon its hook. A fast-path call
 * that arrives on such a thread is sent, awaited and answered there, so no other thread is
 * woken for it. */
struct cx_io_loop;

struct cx_io_hook {
	int fd;                        /* in the loop's epoll set (input); -1: none */
	void (*run)(void *arg);        /* after every turn: fd ready, requests ended, a wake-up */
	long (*timeout_ms)(void *arg); /* the longest the loop may wait; -1: no limit */
	void *arg;
};

/* A loop, not yet running; hook may be NULL. NULL with err on failure. */
struct cx_io_loop *cx_io_loop_new(const struct cx_io_hook *hook, struct cx_err *err);
/* Runs l on this thread until cx_io_loop_stop: requests this thread starts go to l. When it
 * stops, the requests still open end as cancelled (their done runs), then the hook once more. */
void cx_io_loop_run(struct cx_io_loop *l);
/* From any thread: a turn of l soon (its hook runs). */
void cx_io_loop_wake(struct cx_io_loop *l);
/* From any thread: cx_io_loop_run returns after its current turn. */
void cx_io_loop_stop(struct cx_io_loop *l);
/* Once cx_io_loop_run has returned (or never ran). */
void cx_io_loop_free(struct cx_io_loop *l);

#endif
