/* The backend I/O thread (see http_async.h): every cx_http_do_async request of the process on
 * one curl multi handle, driven through libcurl's socket interface.
 *
 * The thread that submits a request starts it: under the lock it adds the handle and lets
 * libcurl run its timers, which sends the request at once on a kept connection and hands the
 * socket to the loop's epoll set (on_socket). The loop thread is not woken for it; it wakes
 * when an answer arrives (a socket is ready), when libcurl's next timer is due
 * (curl_multi_timeout), when a request ended elsewhere (an eventfd), or every CX_HTTP_SLICE_MS
 * while requests are open, to look at their calls: a cancelled one is
 * abandoned at once, its handle taken out of the multi handle, which closes its connection.
 * An attempt that ended is followed by another after a wait when cx_http_next_wait says so;
 * otherwise the request's outcome is made (cx_http_finish or the transport's sentence) and
 * done runs, on the loop thread and outside the lock.
 *
 * The attempts are cx_http_do's (http_request.c: plan, prepare, next_wait, retrying, and
 * outcome with its sentences), without the client's share handle: the multi handle keeps its own
 * connections, DNS and TLS sessions, and so never holds on to a client's share. Easy handles are
 * reused across requests and clients; prepare resets every option of one before each attempt.
 *
 * Lock: L.lock guards the multi handle, the open requests and the idle handles; libcurl's
 * callbacks run under it. done never does: it may start another request. */
#include "http_async.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "http_client_impl.h"
#include "log.h"
#include "util.h"

#define IDLE_HANDLES 64   /* easy handles kept between requests */
#define IDLE_POLL_MS 1000 /* the loop's sleep with nothing open */
/* Requests of one client on the thread at once: past it, a call takes the ordinary way (a
 * worker, held to its adapter's share), so a backend that hangs never collects more. */
#define CLIENT_MAX       64
#define EVENTS           64
#define KEEP_CONNECTIONS 256 /* open connections kept across all backends */

/* One request, from cx_http_do_async to its done. */
struct op {
	struct cx_http_client *c;
	const struct cx_call *call;
	struct cx_http_req req; /* method, path and body point to the copies below */
	char *method, *path, *body;
	struct cx_http_plan plan;
	struct cx_http_xfer x;
	char errbuf[CURL_ERROR_SIZE];
	CURL *easy;      /* from the first attempt on */
	int n;           /* attempts made */
	bool in_multi;   /* an attempt is under way */
	int64_t wake_at; /* > 0: waiting until then for the next attempt */
	/* The end: under the lock, how it ended; outside it, the outcome done gets. */
	bool finished;
	CURLcode curl_rc;
	long status;
	int rc;
	struct cx_http_resp resp;
	struct cx_err err;
	cx_http_done_fn done;
	void *arg;
	struct op *next;
};

static struct {
	pthread_once_t once;
	int started; /* 1: the thread runs; -1: it could not start */
	pthread_mutex_t lock;
	CURLM *multi;
	int epfd, wfd;   /* epoll set; "look at the open requests" */
	bool asleep;     /* the loop sleeps long (nothing open): a submission wakes it */
	struct op *open; /* every request between submission and done */
	/* Requests whose submitter found the lock taken: the loop starts them. Under plock. */
	pthread_mutex_t plock;
	struct op *pending;
	/* Easy handles between requests. Under pool_lock (a leaf). */
	pthread_mutex_t pool_lock;
	CURL *idle[IDLE_HANDLES];
	int nidle;
} L = { .once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.plock = PTHREAD_MUTEX_INITIALIZER,
	.pool_lock = PTHREAD_MUTEX_INITIALIZER,
	.asleep = true };

/* ---- libcurl's callbacks (under L.lock) ---- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev = { .data.fd = s };

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(L.epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(L.epfd, EPOLL_CTL_MOD, s, &ev) && errno == ENOENT)
		epoll_ctl(L.epfd, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

/* Runs libcurl's timers that are due (which starts what was just added), as long as it says
 * more are due at once. */
static void run_timers(void)
{
	long ms = 0;
	int running;

	for (int i = 0; i < 4 && ms == 0; i++) {
		curl_multi_socket_action(L.multi, CURL_SOCKET_TIMEOUT, 0, &running);
		if (curl_multi_timeout(L.multi, &ms) != CURLM_OK)
			break;
	}
}

/* ---- requests (under L.lock) ---- */

/* The request is over with rc (and status): the loop thread makes its outcome and runs done,
 * outside the lock (the handle is out of the multi handle, the request's alone). */
static void complete(struct op *o, CURLcode rc, long status)
{
	o->curl_rc = rc;
	o->status = status;
	o->in_multi = false;
	o->wake_at = 0;
	o->finished = true;
}

/* Starts the next attempt (added to the multi handle, not yet run); completes o instead when
 * its call is over or the attempt cannot start. */
static void attempt(struct op *o)
{
	CURLcode rc;

	o->wake_at = 0;
	o->n++;
	if (!o->easy) {
		pthread_mutex_lock(&L.pool_lock);
		o->easy = L.nidle ? L.idle[--L.nidle] : NULL;
		pthread_mutex_unlock(&L.pool_lock);
		if (!o->easy && !(o->easy = curl_easy_init())) {
			complete(o, CURLE_OUT_OF_MEMORY, 0);
			return;
		}
	}
	rc = cx_http_prepare(o->c, o->easy, &o->req, &o->plan, &o->x, o->errbuf, false);
	if (rc == CURLE_OK && (curl_easy_setopt(o->easy, CURLOPT_PRIVATE, o) != CURLE_OK ||
			       curl_multi_add_handle(L.multi, o->easy) != CURLM_OK))
		rc = CURLE_FAILED_INIT;
	if (rc != CURLE_OK) {
		complete(o, rc, 0);
		return;
	}
	o->in_multi = true;
}

/* An attempt finished with rc: another one later, or the end. */
static void attempt_done(struct op *o, CURLcode rc)
{
	long status = 0, wait;

	curl_multi_remove_handle(L.multi, o->easy);
	o->in_multi = false;
	if (rc == CURLE_OK)
		curl_easy_getinfo(o->easy, CURLINFO_RESPONSE_CODE, &status);
	wait = cx_http_next_wait(o->c, o->easy, &o->plan, &o->x, rc, status, o->n);
	if (wait < 0) {
		complete(o, rc, status);
		return;
	}
	cx_http_retrying(o->c, &o->req, &o->plan, rc, status, o->n, wait);
	o->wake_at = cx_now_ms() + (wait > 0 ? wait : 1);
}

/* The attempts libcurl says are over. True when a request finished. */
static bool reap(void)
{
	bool any = false;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(L.multi, &left))) {
		struct op *o = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
		if (!o)
			continue;
		attempt_done(o, msg->data.result);
		any |= o->finished;
	}
	return any;
}

/* Starts what was just added, on this thread. True when a request finished. */
static bool kick(void)
{
	run_timers();
	return reap();
}

/* Takes the requests that finished out of the open list, into *done (outside the lock, done
 * runs for them); ends the cancelled ones and starts the attempts whose wait is over. The next
 * wake-up in *next_ms. */
static void sweep(struct op **done, long *next_ms)
{
	struct op **pp = &L.open, *o;
	int64_t now = cx_now_ms();
	bool started = false;

	*next_ms = CX_HTTP_SLICE_MS;
	while ((o = *pp)) {
		if (!o->finished && o->call && cx_call_cancelled(o->call)) {
			/* Out of the multi handle mid-transfer: libcurl closes the connection. */
			if (o->in_multi)
				curl_multi_remove_handle(L.multi, o->easy);
			complete(o, CURLE_ABORTED_BY_CALLBACK, 0);
		} else if (!o->finished && o->wake_at && o->wake_at <= now) {
			attempt(o);
			started |= o->in_multi;
		} else if (o->wake_at && o->wake_at - now < *next_ms) {
			*next_ms = (long)(o->wake_at - now);
		}
		if (o->finished) {
			*pp = o->next;
			o->next = *done;
			*done = o;
		} else {
			pp = &o->next;
		}
	}
	if (started && kick())
		*next_ms = 0; /* a retry ended at once: look again */
	L.asleep = !L.open;
	if (L.asleep)
		*next_ms = IDLE_POLL_MS;
}

/* ---- the loop ---- */

/* Opens o and starts its first attempt (not run yet). Under L.lock. */
static void open_op(struct op *o)
{
	o->next = L.open;
	L.open = o;
	attempt(o);
}

/* Starts the requests their submitters left for the loop. Under L.lock. */
static void start_pending(void)
{
	struct op *o, *next;

	pthread_mutex_lock(&L.plock);
	o = L.pending;
	L.pending = NULL;
	pthread_mutex_unlock(&L.plock);
	if (!o)
		return;
	for (; o; o = next) {
		next = o->next;
		open_op(o);
	}
	kick();
}

/* What a request holds from cx_http_do_async on; o itself too. */
static void op_discard(struct op *o)
{
	curl_slist_free_all(o->plan.headers);
	free(o->plan.url);
	free(o->method);
	free(o->path);
	free(o->body);
	free(o);
}

/* After done: the handle back to the pool, the request gone, the client told. */
static void op_free(struct op *o)
{
	struct cx_http_client *c = o->c;

	if (o->easy) {
		pthread_mutex_lock(&L.pool_lock);
		if (L.nidle < IDLE_HANDLES) {
			L.idle[L.nidle++] = o->easy;
			o->easy = NULL;
		}
		pthread_mutex_unlock(&L.pool_lock);
		if (o->easy)
			curl_easy_cleanup(o->easy);
	}
	cx_http_resp_release(&o->resp);
	cx_buf_release(&o->x.body);
	op_discard(o);
	/* The client may be freed once the last of its requests is gone. */
	pthread_mutex_lock(&c->async_lock);
	if (--c->async_running == 0)
		pthread_cond_broadcast(&c->async_idle);
	pthread_mutex_unlock(&c->async_lock);
}

static void *loop_main(void *arg)
{
	struct epoll_event ev[EVENTS];
	long next_ms = IDLE_POLL_MS;

	(void)arg;
	for (;;) {
		int n = epoll_wait(L.epfd, ev, EVENTS, (int)next_ms), running;

		if (n < 0 && errno != EINTR)
			cx_warn("backend I/O: epoll_wait: %s", strerror(errno));
		struct op *done = NULL, *o;
		uint64_t count;
		long curl_ms = -1;

		pthread_mutex_lock(&L.lock);
		start_pending();
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd, flags = 0;

			if (fd == L.wfd) {
				if (read(L.wfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
					cx_debug("backend I/O: eventfd: %s", strerror(errno));
				continue;
			}
			flags |= ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0;
			flags |= ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0;
			flags |= ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0;
			curl_multi_socket_action(L.multi, fd, flags, &running);
		}
		if (curl_multi_timeout(L.multi, &curl_ms) == CURLM_OK && curl_ms == 0)
			run_timers();
		reap();
		sweep(&done, &next_ms);
		/* libcurl's own timers (connect, transfer timeouts) when due sooner. */
		if (curl_multi_timeout(L.multi, &curl_ms) == CURLM_OK && curl_ms >= 0 &&
		    curl_ms < next_ms)
			next_ms = curl_ms;
		pthread_mutex_unlock(&L.lock);
		while ((o = done)) {
			done = o->next;
			o->rc = cx_http_outcome(o->c, o->easy, &o->req, &o->plan, &o->x, o->errbuf,
						o->curl_rc, o->status, o->n, &o->resp, &o->err);
			o->done(o->arg, o->rc, &o->resp, &o->err);
			op_free(o);
		}
	}
	return NULL;
}

static int watch(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return fd < 0 ? -1 : epoll_ctl(L.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void loop_start(void)
{
	pthread_attr_t attr;
	pthread_t t;

	L.started = -1;
	if (cx_http_global_init() || !(L.multi = curl_multi_init()))
		return;
	L.epfd = epoll_create1(EPOLL_CLOEXEC);
	L.wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* Connections stay open for the next request (libcurl's default keeps 4 per handle in
	 * the multi handle, and a finished request's handle leaves it). */
	if (L.epfd < 0 || watch(L.wfd) ||
	    curl_multi_setopt(L.multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(L.multi, CURLMOPT_MAXCONNECTS, (long)KEEP_CONNECTIONS) != CURLM_OK)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!pthread_create(&t, &attr, loop_main, NULL)) {
		pthread_setname_np(t, "cx-backend-io"); /* top -H, perf */
		L.started = 1;
	}
	pthread_attr_destroy(&attr);
}

/* ---- submitting ---- */

static char *dup_mem(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

int cx_http_do_async(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		     const struct cx_http_req *req, cx_http_done_fn done, void *arg,
		     struct cx_err *err)
{
	const uint64_t one = 1;
	struct op *o;
	bool busy, ended, wake;

	pthread_once(&L.once, loop_start);
	if (L.started != 1)
		return cx_err_set(err, "the backend I/O thread could not start");
	o = calloc(1, sizeof(*o));
	if (!o)
		return cx_err_set(err, "out of memory");
	o->c = c;
	o->call = call;
	o->done = done;
	o->arg = arg;
	o->req = *req;
	o->req.headers = NULL; /* in the plan */
	o->x = (struct cx_http_xfer){ .call = call, .body = CX_BUF_INIT(c->max) };
	if (cx_http_plan(c, call, timeout_ms, req, &o->plan, err))
		goto fail;
	o->req.method = o->method = strdup(req->method);
	o->req.path = o->path = strdup(req->path);
	if (req->body)
		o->req.body = o->body = dup_mem(req->body, req->body_len);
	if (!o->method || !o->path || (req->body && !o->body)) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	pthread_mutex_lock(&c->async_lock);
	busy = c->async_running >= CLIENT_MAX;
	if (!busy)
		c->async_running++;
	pthread_mutex_unlock(&c->async_lock);
	if (busy) {
		cx_err_set(err, "%d requests to %s are waiting already", CLIENT_MAX, c->service);
		goto fail;
	}
	/* Sent from here: the loop thread learns of it from its socket, unless it sleeps long
	 * (then it must look at the call every CX_HTTP_SLICE_MS from now on). When the loop (or
	 * another submitter) holds the lock, the loop starts it instead of this thread waiting. */
	if (pthread_mutex_trylock(&L.lock)) {
		pthread_mutex_lock(&L.plock);
		o->next = L.pending;
		L.pending = o;
		pthread_mutex_unlock(&L.plock);
		wake = true;
	} else {
		open_op(o);
		ended = o->finished;
		if (o->in_multi)
			ended |= kick();
		wake = ended || L.asleep;
		L.asleep = false;
		pthread_mutex_unlock(&L.lock);
	}
	if (wake && write(L.wfd, &one, sizeof(one)) < 0)
		cx_debug("backend I/O: eventfd: %s", strerror(errno));
	return 0;
fail:
	op_discard(o);
	return -1;
}
