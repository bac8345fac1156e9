/* The backend I/O loops (see http_async.h): each drives its cx_http_do_async requests on one
 * curl multi handle, through libcurl's socket interface. A request goes to the loop of the
 * thread that submits it (an HTTP thread runs one, with libmicrohttpd as its hook), or else to
 * the process's own loop, on the backend I/O thread.
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
 * done runs, on the loop thread and outside the lock; then the hook runs.
 *
 * The attempts are cx_http_do's (http_request.c: plan, prepare, next_wait, retrying, and
 * outcome with its sentences), without the client's share handle: the multi handle keeps its own
 * connections, DNS and TLS sessions, and so never holds on to a client's share. Easy handles are
 * reused across requests, clients and loops; prepare resets every option of one before each
 * attempt.
 *
 * Locks: a loop's lock guards its multi handle and open requests; libcurl's callbacks run
 * under it. done and the hook never do: either may start another request. plock (its pending
 * list) and P.lock (the idle handles) are leaves. */
#include "http_async.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
	struct cx_io_loop *l; /* the loop it is on */
	struct op *next;
};

/* One loop: its multi handle and epoll set, the requests on it; see http_async.h. */
struct cx_io_loop {
	pthread_mutex_t lock;
	CURLM *multi;
	int epfd, wfd;   /* epoll set; "look at the open requests" */
	bool asleep;     /* the loop sleeps long (nothing open): a submission wakes it */
	bool due;        /* a request ended on the loop's thread between turns: no wait */
	struct op *open; /* every request between submission and done */
	/* Requests whose submitter found the lock taken: the loop starts them. Under plock. */
	pthread_mutex_t plock;
	struct op *pending;
	struct cx_io_hook hook; /* hook.run NULL: none */
	atomic_bool stop;
	/* libcurl's sockets by descriptor (FD_*): a kept connection stays in the epoll set
	 * between its requests, so reusing it costs no epoll_ctl. */
	unsigned char *fds;
	size_t nfds;
};

#define FD_IN   1 /* in the epoll set for input */
#define FD_OUT  2 /* ... for output */
#define FD_REG  4 /* in the epoll set */
#define FD_WANT 8 /* libcurl waits on it now; else an event takes it out of the set */

/* The process's own loop, on the backend I/O thread, for requests from threads with none. */
static struct {
	pthread_once_t once;
	int started; /* 1: the thread runs; -1: it could not start */
	struct cx_io_loop *loop;
} L0 = { .once = PTHREAD_ONCE_INIT };

/* Easy handles between requests, shared by every loop. Under P.lock (a leaf). */
static struct {
	pthread_mutex_t lock;
	CURL *idle[IDLE_HANDLES];
	int nidle;
} P = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The loop this thread runs (cx_io_loop_run), if any: its requests go there. */
static __thread struct cx_io_loop *cur_loop;

/* ---- libcurl's callbacks (under the loop's lock) ---- */

/* The state of descriptor fd (grown as needed); NULL when there is no room. */
static unsigned char *fd_state(struct cx_io_loop *l, curl_socket_t fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= l->nfds) {
		size_t n = l->nfds ? l->nfds : 64;
		unsigned char *p;

		while (n <= (size_t)fd)
			n *= 2;
		p = realloc(l->fds, n);
		if (!p)
			return NULL;
		memset(p + l->nfds, 0, n - l->nfds);
		l->fds = p;
		l->nfds = n;
	}
	return &l->fds[fd];
}

/* A socket's events in the loop's epoll set. A socket libcurl is done with for now stays in
 * the set, so a kept connection's next request costs no epoll_ctl; the first event it has
 * while nobody waits on it takes it out (turn), and libcurl closing it forgets it (on_close),
 * so a descriptor reused for another socket is never taken for it. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct cx_io_loop *l = userp;
	unsigned char *st = fd_state(l, s), want;
	struct epoll_event ev = { .data.fd = s };

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		if (st)
			*st &= (unsigned char)~FD_WANT;
		else
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	want = (what & CURL_POLL_IN ? FD_IN : 0) | (what & CURL_POLL_OUT ? FD_OUT : 0);
	ev.events = (want & FD_IN ? EPOLLIN : 0) | (want & FD_OUT ? EPOLLOUT : 0);
	if (st && (*st & FD_REG) && (*st & (FD_IN | FD_OUT)) == want) {
		*st |= FD_WANT;
		return 0;
	}
	if (epoll_ctl(l->epfd, st && (*st & FD_REG) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) &&
	    epoll_ctl(l->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev)) {
		cx_warn("backend I/O: epoll_ctl: %s", strerror(errno));
		if (st)
			*st = 0;
		return 0;
	}
	if (st)
		*st = FD_REG | FD_WANT | want;
	return 0;
}

/* libcurl closes a socket: the epoll set forgets it with the close, and so does the loop. */
static int on_close(void *arg, curl_socket_t s)
{
	struct cx_io_loop *l = arg;

	if (s >= 0 && (size_t)s < l->nfds)
		l->fds[s] = 0;
	return close(s) ? 1 : 0;
}

/* Runs libcurl's timers that are due (which starts what was just added), as long as it says
 * more are due at once. */
static void run_timers(struct cx_io_loop *l)
{
	long ms = 0;
	int running;

	for (int i = 0; i < 4 && ms == 0; i++) {
		curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		if (curl_multi_timeout(l->multi, &ms) != CURLM_OK)
			break;
	}
}

/* ---- requests (under the loop's lock) ---- */

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
		pthread_mutex_lock(&P.lock);
		o->easy = P.nidle ? P.idle[--P.nidle] : NULL;
		pthread_mutex_unlock(&P.lock);
		if (!o->easy && !(o->easy = curl_easy_init())) {
			complete(o, CURLE_OUT_OF_MEMORY, 0);
			return;
		}
	}
	rc = cx_http_prepare(o->c, o->easy, &o->req, &o->plan, &o->x, o->errbuf, false);
	/* A connection keeps the close callback of the handle that opened it (on_socket). The
	 * loop looks at the call itself (sweep), so libcurl's progress callback, there for
	 * cx_http_do, would only read the clock on every read. */
	if (rc == CURLE_OK &&
	    (curl_easy_setopt(o->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close) != CURLE_OK ||
	     curl_easy_setopt(o->easy, CURLOPT_CLOSESOCKETDATA, o->l) != CURLE_OK ||
	     curl_easy_setopt(o->easy, CURLOPT_NOPROGRESS, 1L) != CURLE_OK))
		rc = CURLE_FAILED_INIT;
	if (rc == CURLE_OK && (curl_easy_setopt(o->easy, CURLOPT_PRIVATE, o) != CURLE_OK ||
			       curl_multi_add_handle(o->l->multi, o->easy) != CURLM_OK))
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

	curl_multi_remove_handle(o->l->multi, o->easy);
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
static bool reap(struct cx_io_loop *l)
{
	bool any = false;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left))) {
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
static bool kick(struct cx_io_loop *l)
{
	run_timers(l);
	return reap(l);
}

/* Takes the requests that finished out of the open list, into *done (outside the lock, done
 * runs for them); ends the cancelled ones (every one when the loop stops) and starts the
 * attempts whose wait is over. The next wake-up in *next_ms. */
static void sweep(struct cx_io_loop *l, struct op **done, long *next_ms)
{
	struct op **pp = &l->open, *o;
	int64_t now = cx_now_ms();
	bool started = false, stop = atomic_load(&l->stop);

	*next_ms = CX_HTTP_SLICE_MS;
	while ((o = *pp)) {
		if (!o->finished && (stop || (o->call && cx_call_cancelled(o->call)))) {
			/* Out of the multi handle mid-transfer: libcurl closes the connection. */
			if (o->in_multi)
				curl_multi_remove_handle(l->multi, o->easy);
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
	if (started && kick(l))
		*next_ms = 0; /* a retry ended at once: look again */
	l->asleep = !l->open;
	if (l->asleep)
		*next_ms = IDLE_POLL_MS;
}

/* ---- the loop ---- */

/* Opens o and starts its first attempt (not run yet). Under the loop's lock. */
static void open_op(struct op *o)
{
	o->next = o->l->open;
	o->l->open = o;
	attempt(o);
}

/* Starts the requests their submitters left for the loop. Under its lock. */
static void start_pending(struct cx_io_loop *l)
{
	struct op *o, *next;

	pthread_mutex_lock(&l->plock);
	o = l->pending;
	l->pending = NULL;
	pthread_mutex_unlock(&l->plock);
	if (!o)
		return;
	for (; o; o = next) {
		next = o->next;
		open_op(o);
	}
	kick(l);
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
		pthread_mutex_lock(&P.lock);
		if (P.nidle < IDLE_HANDLES) {
			P.idle[P.nidle++] = o->easy;
			o->easy = NULL;
		}
		pthread_mutex_unlock(&P.lock);
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

/* Every request that ended: its outcome, its done, gone. Outside the loop's lock. */
static void finish(struct op *done)
{
	struct op *o;

	while ((o = done)) {
		done = o->next;
		o->rc = cx_http_outcome(o->c, o->easy, &o->req, &o->plan, &o->x, o->errbuf,
					o->curl_rc, o->status, o->n, &o->resp, &o->err);
		o->done(o->arg, o->rc, &o->resp, &o->err);
		op_free(o);
	}
}

/* One turn after epoll_wait gave n events: sockets to libcurl, timers, the requests that
 * ended into *done. The next wait in *next_ms. */
static void turn(struct cx_io_loop *l, const struct epoll_event *ev, int n, struct op **done,
		 long *next_ms)
{
	long curl_ms = -1;
	uint64_t count;
	int running;

	pthread_mutex_lock(&l->lock);
	l->due = false;
	start_pending(l);
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd, flags = 0;

		if (fd == l->wfd) {
			if (read(l->wfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				cx_debug("backend I/O: eventfd: %s", strerror(errno));
			continue;
		}
		if (fd == l->hook.fd)
			continue;
		if (fd >= 0 && (size_t)fd < l->nfds && !(l->fds[fd] & FD_WANT)) {
			/* A kept connection with nobody waiting on it: closed by the server, most
			 * likely, which libcurl sees when it next looks. Out of the set till then.
			 */
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			l->fds[fd] = 0;
			continue;
		}
		flags |= ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0;
		flags |= ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0;
		flags |= ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0;
		curl_multi_socket_action(l->multi, fd, flags, &running);
	}
	if (curl_multi_timeout(l->multi, &curl_ms) == CURLM_OK && curl_ms == 0)
		run_timers(l);
	reap(l);
	sweep(l, done, next_ms);
	pthread_mutex_unlock(&l->lock);
}

/* The wait before the next turn: what sweep said, less when libcurl's timers (connect,
 * transfer timeouts), requests opened since (by the hook, on this thread) or the hook want. */
static long next_wait(struct cx_io_loop *l, long next_ms)
{
	long curl_ms = -1, hook_ms;

	pthread_mutex_lock(&l->lock);
	if (l->due)
		next_ms = 0;
	if (l->open) {
		l->asleep = false;
		if (next_ms > CX_HTTP_SLICE_MS)
			next_ms = CX_HTTP_SLICE_MS;
	}
	if (curl_multi_timeout(l->multi, &curl_ms) == CURLM_OK && curl_ms >= 0 && curl_ms < next_ms)
		next_ms = curl_ms;
	pthread_mutex_unlock(&l->lock);
	if (l->hook.timeout_ms && (hook_ms = l->hook.timeout_ms(l->hook.arg)) >= 0 &&
	    hook_ms < next_ms)
		next_ms = hook_ms;
	return next_ms;
}

void cx_io_loop_run(struct cx_io_loop *l)
{
	struct epoll_event ev[EVENTS];
	long next_ms = 0;

	cur_loop = l;
	for (;;) {
		int n = epoll_wait(l->epfd, ev, EVENTS, (int)next_ms);
		struct op *done = NULL;
		bool stop = atomic_load(&l->stop);

		if (n < 0) {
			if (errno != EINTR)
				cx_warn("backend I/O: epoll_wait: %s", strerror(errno));
			n = 0;
		}
		turn(l, ev, n, &done, &next_ms);
		finish(done);
		/* The hook's own I/O, and what done may have resumed there. */
		if (l->hook.run)
			l->hook.run(l->hook.arg);
		if (stop)
			break;
		next_ms = next_wait(l, next_ms);
	}
	cur_loop = NULL;
}

static void *default_main(void *arg)
{
	cx_io_loop_run(arg);
	return NULL;
}

static int watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return fd < 0 ? -1 : epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct cx_io_loop *cx_io_loop_new(const struct cx_io_hook *hook, struct cx_err *err)
{
	struct cx_io_loop *l;

	if (cx_http_global_init()) {
		cx_err_set(err, "libcurl could not start");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->plock, NULL);
	atomic_init(&l->stop, false);
	l->asleep = true;
	l->hook.fd = -1;
	if (hook)
		l->hook = *hook;
	errno = 0; /* what fails below and sets none is libcurl's */
	l->multi = curl_multi_init();
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* Connections stay open for the next request (libcurl's default keeps 4 per handle in
	 * the multi handle, and a finished request's handle leaves it). */
	if (!l->multi || l->epfd < 0 || watch(l->epfd, l->wfd) ||
	    (l->hook.fd >= 0 && watch(l->epfd, l->hook.fd)) ||
	    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l) != CURLM_OK ||
	    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)KEEP_CONNECTIONS) != CURLM_OK) {
		cx_err_set(err, "could not set up a backend I/O loop: %s",
			   errno ? strerror(errno) : "libcurl refused");
		cx_io_loop_free(l);
		return NULL;
	}
	return l;
}

void cx_io_loop_wake(struct cx_io_loop *l)
{
	const uint64_t one = 1;

	if (write(l->wfd, &one, sizeof(one)) < 0)
		cx_debug("backend I/O: eventfd: %s", strerror(errno));
}

void cx_io_loop_stop(struct cx_io_loop *l)
{
	atomic_store(&l->stop, true);
	cx_io_loop_wake(l);
}

void cx_io_loop_free(struct cx_io_loop *l)
{
	if (!l)
		return;
	if (l->multi)
		curl_multi_cleanup(l->multi); /* closes the kept connections: on_close */
	free(l->fds);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wfd >= 0)
		close(l->wfd);
	pthread_mutex_destroy(&l->plock);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static void default_start(void)
{
	pthread_attr_t attr;
	struct cx_err err = { 0 };
	pthread_t t;

	L0.started = -1;
	L0.loop = cx_io_loop_new(NULL, &err);
	if (!L0.loop)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!pthread_create(&t, &attr, default_main, L0.loop)) {
		pthread_setname_np(t, "cx-backend-io"); /* top -H, perf */
		L0.started = 1;
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
	struct cx_io_loop *l = cur_loop;
	struct op *o;
	bool busy, ended, wake;

	if (!l) {
		pthread_once(&L0.once, default_start);
		if (L0.started != 1)
			return cx_err_set(err, "the backend I/O thread could not start");
		l = L0.loop;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return cx_err_set(err, "out of memory");
	o->l = l;
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
	 * another submitter) holds the lock, the loop starts it instead of this thread waiting.
	 * On the loop's own thread nothing needs waking: it works out its wait after this. */
	if (pthread_mutex_trylock(&l->lock)) {
		pthread_mutex_lock(&l->plock);
		o->next = l->pending;
		l->pending = o;
		pthread_mutex_unlock(&l->plock);
		wake = true;
	} else {
		open_op(o);
		ended = o->finished;
		if (o->in_multi)
			ended |= kick(l);
		if (l == cur_loop) {
			l->due |= ended;
			wake = false;
		} else {
			wake = ended || l->asleep;
		}
		l->asleep = false;
		pthread_mutex_unlock(&l->lock);
	}
	if (wake)
		cx_io_loop_wake(l);
	return 0;
fail:
	op_discard(o);
	return -1;
}
