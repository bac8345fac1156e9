/* The backend I/O thread (see http_async.h): every cx_http_do_async request of the process on one
 * curl multi handle, in one loop.
 *
 * Each pass of the loop takes the requests submitted since the last one, lets libcurl move
 * every transfer on, ends the attempts that finished (another attempt after a wait when
 * cx_http_next_wait says so, else the request's done), and looks at every request's call: a
 * cancelled one is abandoned at once, its handle taken out of the multi handle, which closes
 * its connection. It then sleeps in curl_multi_poll until a socket is ready, a submission wakes
 * it, libcurl's own timer is due, a waiting attempt's time comes, or CX_HTTP_SLICE_MS pass
 * while requests are open (so a cancellation is seen within that).
 *
 * The attempts are cx_http_do's (http_request.c: plan, setup, next_wait, finish and the
 * sentences), without the client's share handle: the multi handle keeps its own connections,
 * DNS and TLS sessions, and so never holds on to a client's share. Easy handles are reused
 * across requests and clients; setup resets every option of one before each attempt. */
#include "http_async.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_client_impl.h"
#include "log.h"
#include "util.h"

#define IDLE_HANDLES 64   /* easy handles kept between requests */
#define IDLE_POLL_MS 1000 /* the loop's sleep with nothing open (a submission wakes it) */
/* Requests of one client on the thread at once: past it, a call takes the ordinary way (a
 * worker, held to its adapter's share), so a backend that hangs never collects more. */
#define CLIENT_MAX 64

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
	bool finished;   /* done has run: the loop frees it */
	int64_t wake_at; /* > 0: waiting until then for the next attempt */
	cx_http_done_fn done;
	void *arg;
	struct op *next;
};

static struct {
	pthread_once_t once;
	int started; /* 1: the thread runs; -1: it could not start */
	pthread_mutex_t lock;
	struct op *submitted; /* newest first, under lock */
	CURLM *multi;
	/* The loop thread's alone: */
	struct op *open; /* every request between submission and done */
	CURL *idle[IDLE_HANDLES];
	int nidle;
} L = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

static void op_free(struct op *o)
{
	struct cx_http_client *c = o->c;

	if (o->easy) {
		if (L.nidle < IDLE_HANDLES)
			L.idle[L.nidle++] = o->easy;
		else
			curl_easy_cleanup(o->easy);
	}
	cx_buf_release(&o->x.body);
	curl_slist_free_all(o->plan.headers);
	free(o->plan.url);
	free(o->method);
	free(o->path);
	free(o->body);
	free(o);
	/* The client may be freed once the last of its requests is gone. */
	pthread_mutex_lock(&c->async_lock);
	if (--c->async_running == 0)
		pthread_cond_broadcast(&c->async_idle);
	pthread_mutex_unlock(&c->async_lock);
}

/* The request's outcome, as cx_http_do ends: done runs; the caller frees o. */
static void complete(struct op *o, CURLcode rc, long status)
{
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	int ret = -1;

	memset(&resp, 0, sizeof(resp));
	resp.retry_after_s = -1;
	resp.attempts = o->n;
	if (o->c->counters)
		cx_counter_inc(&o->c->counters->requests);
	if (rc == CURLE_OK)
		ret = cx_http_finish(o->c, o->easy, &o->req, &o->x, status, &resp, &err);
	else
		cx_http_fail_transport(o->c, &o->req, &o->plan, o->easy, rc, &o->x, o->errbuf,
				       &err);
	if (ret && o->c->counters)
		cx_counter_inc(&o->c->counters->failures);
	if (ret)
		cx_http_resp_release(&resp);
	o->done(o->arg, ret, &resp, &err);
	cx_http_resp_release(&resp);
	o->finished = true;
}

/* Starts the next attempt; false when the request ended instead (completed, not freed). */
static bool attempt(struct op *o)
{
	long left = (long)(o->plan.deadline - cx_now_ms());

	cx_http_xfer_reset(o->c, &o->x);
	o->errbuf[0] = '\0';
	o->wake_at = 0;
	o->n++;
	if (o->call && cx_call_cancelled(o->call)) {
		complete(o, CURLE_ABORTED_BY_CALLBACK, 0);
		return false;
	}
	if (left <= 0) {
		complete(o, CURLE_OPERATION_TIMEDOUT, 0);
		return false;
	}
	if (!o->easy)
		o->easy = L.nidle ? L.idle[--L.nidle] : curl_easy_init();
	if (!o->easy ||
	    cx_http_setup(o->c, o->easy, &o->req, &o->plan, &o->x, left, o->errbuf, false) ||
	    curl_easy_setopt(o->easy, CURLOPT_PRIVATE, o) != CURLE_OK ||
	    curl_multi_add_handle(L.multi, o->easy) != CURLM_OK) {
		complete(o, o->easy ? CURLE_FAILED_INIT : CURLE_OUT_OF_MEMORY, 0);
		return false;
	}
	o->in_multi = true;
	return true;
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
	cx_http_count_retry(o->c, rc, status);
	cx_debug("%s: %s %.*s: %s; attempt %d of %d in %ld ms", o->c->service, o->method,
		 o->plan.path_len, o->path, rc == CURLE_OK ? "the backend is busy" : "no answer",
		 o->n + 1, o->c->retries + 1, wait);
	o->wake_at = cx_now_ms() + (wait > 0 ? wait : 1);
}

/* Frees the requests that ended; ends the cancelled ones; starts the attempts whose wait is
 * over. The next wake-up in *next_ms. */
static void sweep(long *next_ms)
{
	struct op **pp = &L.open, *o;
	int64_t now = cx_now_ms();

	*next_ms = L.open ? CX_HTTP_SLICE_MS : IDLE_POLL_MS;
	while ((o = *pp)) {
		bool ended = false;

		if (o->finished) {
			ended = true; /* completed earlier in this pass */
		} else if (o->call && cx_call_cancelled(o->call)) {
			/* Out of the multi handle mid-transfer: libcurl closes the connection. */
			if (o->in_multi)
				curl_multi_remove_handle(L.multi, o->easy);
			o->in_multi = false;
			o->wake_at = 0;
			complete(o, CURLE_ABORTED_BY_CALLBACK, 0);
			ended = true;
		} else if (o->wake_at && o->wake_at <= now) {
			ended = !attempt(o);
		} else if (o->wake_at && o->wake_at - now < *next_ms) {
			*next_ms = (long)(o->wake_at - now);
		}
		if (ended) {
			*pp = o->next;
			op_free(o);
		} else {
			pp = &o->next;
		}
	}
}

static void *loop_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct op *fresh, *o;
		CURLMsg *msg;
		int running, left;
		long next_ms;

		pthread_mutex_lock(&L.lock);
		fresh = L.submitted;
		L.submitted = NULL;
		pthread_mutex_unlock(&L.lock);
		/* Oldest first; a request that ends at once is unlinked by the sweep. */
		for (struct op *rev = NULL; fresh || rev;) {
			if (fresh) {
				o = fresh;
				fresh = o->next;
				o->next = rev;
				rev = o;
				continue;
			}
			o = rev;
			rev = o->next;
			if (attempt(o)) {
				o->next = L.open;
				L.open = o;
			} else {
				op_free(o);
			}
		}
		curl_multi_perform(L.multi, &running);
		while ((msg = curl_multi_info_read(L.multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			o = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
			if (o)
				attempt_done(o, msg->data.result);
		}
		sweep(&next_ms);
		curl_multi_poll(L.multi, NULL, 0, (int)next_ms, NULL);
	}
	return NULL;
}

static void loop_start(void)
{
	pthread_t t;
	pthread_attr_t attr;

	L.started = -1;
	if (cx_http_global_init() || !(L.multi = curl_multi_init()))
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!pthread_create(&t, &attr, loop_main, NULL)) {
		pthread_setname_np(t, "cx-backend-io"); /* top -H, perf */
		L.started = 1;
	}
	pthread_attr_destroy(&attr);
}

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
	struct op *o;
	bool busy;

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
	pthread_mutex_lock(&L.lock);
	o->next = L.submitted;
	L.submitted = o;
	pthread_mutex_unlock(&L.lock);
	curl_multi_wakeup(L.multi);
	return 0;
fail:
	curl_slist_free_all(o->plan.headers);
	free(o->plan.url);
	free(o->method);
	free(o->path);
	free(o->body);
	free(o);
	return -1;
}
