/* GET /v1/tasks/{id}/events: one task's state as SSE events until it ends.
 *
 * The stream is an SSE stream of http_stream.c (keep-alives, back-pressure, the connection
 * suspended while idle) under a key of its own (http_keyed.c), "t" and 15 hex digits, which no
 * session fingerprint (hex only) equals, so no GET /mcp can resume it. The key is subscribed to the
 * task's resource, cortex://tasks/{id}, whose updates the cortex adapter announces on every
 * change the store reports (no polling); this file's push sink takes the updates for such
 * keys. Each update reads the task again through cx_dispatch_tool_via (cortex_get_task_status,
 * audited with "via": "rest", under the token that opened the stream) and sends it when it
 * changed; reads of one stream never overlap, updates during a read cause one more. The
 * stream ends after the event that shows the task completed, failed or cancelled.
 *
 * A watcher is freed when its task ends, when a read finds its client gone (also checked
 * whenever a stream opens), or when the transport stops; the table itself once MHD has stopped
 * (a scrape may count it until then). Locks: W->lock is never held while h->lock is taken;
 * either may be held while a stream's mu is; MHD_resume_connection with none held. */
#include "http_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/log.h"
#include "../common/taskstore.h"
#include "../common/util.h"
#include "dispatch.h"
#include "http_async.h"
#include "http_stream.h"

#define WATCHERS_MAX 256
#define TASK_URI     "cortex://tasks/"
#define EVENTS_OPEN  ": cortex task events\n\n"

struct watcher {
	struct watcher *next;
	struct cx_http *h;
	const struct cx_principal *who;
	char key[17];
	char id[CX_TASK_ID_MAX];
	char uri[sizeof(TASK_URI) + CX_TASK_ID_MAX];
	struct sse_stream *ch; /* a reference, dropped in watcher_free */
	char *last;            /* the last event's JSON, to send changes only */
	json_t *args;          /* the read in flight's arguments */
	/* Under W->lock. */
	int refs; /* the list's, and a read's in flight */
	bool listed;
	bool reading;
	bool dirty;
};

struct cx_http_watchers {
	pthread_mutex_t push_mu; /* adding the push sink, with no other lock held */
	bool push_added;
	bool push_closed; /* removed for good: the transport stops */
	pthread_mutex_t lock;
	struct watcher *head;
	size_t count;
	bool stopped;
	uint64_t next_key;
};

static bool terminal(const char *status)
{
	return status && (!strcmp(status, "completed") || !strcmp(status, "failed") ||
			  !strcmp(status, "cancelled"));
}

static void watcher_free(struct watcher *w)
{
	cx_http_keyed_release(w->h, w->ch);
	free(w->last);
	free(w);
}

/* Drops a reference; W->lock held. True when the caller must free w (after unlocking). */
static bool unref_locked(struct watcher *w)
{
	return --w->refs == 0;
}

/* Takes w off the list and unsubscribes it; W->lock held. The list's reference is then the
 * caller's to drop. */
static void unlist_locked(struct cx_http_watchers *W, struct watcher *w)
{
	struct watcher **pp = &W->head;

	if (!w->listed)
		return;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	w->listed = false;
	W->count--;
	cx_server_unsubscribe(w->h->srv, w->key, w->uri);
}

/* Whether w's client has hung up (or another connection took its stream). */
static bool client_gone(const struct watcher *w)
{
	return cx_http_keyed_gone(w->ch);
}

/* Queues msg (stolen) on w's stream; with last, the stream ends after it. */
static void send_event(struct watcher *w, json_t *msg, bool last)
{
	cx_http_keyed_send(w->h, w->ch, NULL, msg, last);
}

/* The task as read: sent when it changed. True when the stream has ended. */
static bool deliver(struct watcher *w, const json_t *task)
{
	bool end = terminal(json_string_value(json_object_get(task, "status")));
	char *s = cx_json_dumps(task, NULL);

	if (!s || !w->last || strcmp(s, w->last) || end) {
		send_event(w, json_incref((json_t *)task), end);
		free(w->last);
		w->last = s;
	} else {
		free(s);
	}
	return end;
}

static void read_task(struct watcher *w);

/* A read's answer, from a worker (or this thread when the call was refused at once). */
static void read_done(void *ctx, const json_t *result, int code, const char *msg)
{
	struct watcher *w = ctx;
	struct cx_http_watchers *W = w->h->watchers;
	const json_t *task = json_object_get(result, "structuredContent");
	bool end, again = false, release;

	json_decref(w->args);
	w->args = NULL;

	if (result && !json_is_true(json_object_get(result, "isError")) && task) {
		end = deliver(w, task);
	} else {
		const char *why = json_string_value(
			json_object_get(json_array_get(json_object_get(result, "content"), 0),
					"text"));
		send_event(w,
			   json_pack("{s:s}", "error",
				     why   ? why
				     : msg ? msg
					   : "no answer"),
			   true);
		end = true;
	}
	end = end || client_gone(w);
	pthread_mutex_lock(&W->lock);
	w->reading = false;
	if ((end || W->stopped) && w->listed) {
		unlist_locked(W, w);
		w->refs--; /* the list's; the read's is dropped below */
	} else if (w->dirty && !end && !W->stopped) {
		w->dirty = false;
		w->reading = again = true;
		w->refs++;
	}
	release = unref_locked(w);
	pthread_mutex_unlock(&W->lock);
	if (release)
		watcher_free(w);
	if (again)
		read_task(w);
}

/* Reads w's task (a reference for the read is held). The arguments stay w's until read_done
 * releases them on the answering thread (see call_tool in http_rest.c). */
static void read_task(struct watcher *w)
{
	json_t *args = json_pack("{s:s}", "id", w->id);

	w->args = args;
	if (!args || cx_dispatch_tool_via(cx_server_dispatch(w->h->srv), w->who, "rest",
					  "cortex_get_task_status", args, read_done, w))
		read_done(w, NULL, -32603, "out of memory");
}

/* The push sink: updates for the keys of task-events streams. Steals msg. */
static int on_push(void *ctx, const char *key, json_t *msg)
{
	struct cx_http_watchers *W = ctx;
	struct watcher *w = NULL;
	bool start = false;

	json_decref(msg);
	if (key[0] != 't')
		return 0;
	pthread_mutex_lock(&W->lock);
	for (w = W->head; w && strcmp(w->key, key); w = w->next)
		;
	if (w && w->reading) {
		w->dirty = true;
	} else if (w) {
		w->reading = start = true;
		w->refs++;
	}
	pthread_mutex_unlock(&W->lock);
	if (start)
		read_task(w);
	return w ? 1 : 0;
}

/* Frees watchers whose clients have gone and that no read holds; W->lock held. */
static void sweep_locked(struct cx_http_watchers *W, struct watcher **freed)
{
	struct watcher *w = W->head, *nx;

	for (; w; w = nx) {
		nx = w->next;
		if (w->reading || !client_gone(w))
			continue;
		unlist_locked(W, w);
		if (unref_locked(w)) {
			w->next = *freed;
			*freed = w;
		}
	}
}

static struct cx_http_watchers *watchers_get(struct cx_http *h)
{
	struct cx_http_watchers *W;

	pthread_mutex_lock(&h->lock);
	W = h->watchers;
	if (!W && (W = calloc(1, sizeof(*W)))) {
		pthread_mutex_init(&W->push_mu, NULL);
		pthread_mutex_init(&W->lock, NULL);
		h->watchers = W;
	}
	pthread_mutex_unlock(&h->lock);
	return W;
}

/* A new stream for w carried by a's connection, its first event task. NULL on out of memory. */
static struct tap *open_stream(struct cx_http_async *a, struct watcher *w, const json_t *task)
{
	struct tap *t =
		cx_http_keyed_open(a->h, a->conn, a->fd, w->key, EVENTS_OPEN, false, &w->ch);

	if (t)
		deliver(w, task);
	return t;
}

static struct watcher *watcher_new(struct cx_http_async *a, struct cx_http_watchers *W,
				   const char *id)
{
	struct watcher *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->h = a->h;
	w->who = a->who;
	w->refs = 1;
	snprintf(w->id, sizeof(w->id), "%s", id);
	snprintf(w->uri, sizeof(w->uri), TASK_URI "%s", id);
	pthread_mutex_lock(&W->lock);
	snprintf(w->key, sizeof(w->key), "t%015" PRIx64,
		 (uint64_t)(++W->next_key & 0xfffffffffffffffULL));
	pthread_mutex_unlock(&W->lock);
	return w;
}

/* Lists w and subscribes it. 0, or -1 with why (static) when it cannot be watched. */
static int watch(struct cx_http_watchers *W, struct watcher *w, const char **why)
{
	struct watcher *freed = NULL, *nx;
	bool sink;
	int rc = 0;

	/* cx_server_push holds its lock while it calls on_push, which takes W->lock: the sink
	 * is added with neither held. */
	pthread_mutex_lock(&W->push_mu);
	if (!W->push_added && !W->push_closed && !cx_server_add_push(w->h->srv, on_push, W))
		W->push_added = true;
	sink = W->push_added;
	pthread_mutex_unlock(&W->push_mu);
	pthread_mutex_lock(&W->lock);
	sweep_locked(W, &freed);
	if (W->stopped) {
		*why = "the gateway is shutting down";
		rc = -1;
	} else if (W->count >= WATCHERS_MAX) {
		*why = "too many task-events streams are open; close one";
		rc = -1;
	} else if (!sink) {
		*why = "no room for another push sink";
		rc = -1;
	} else if (cx_server_subscribe(w->h->srv, w->key, w->uri)) {
		*why = "the gateway holds too many subscriptions";
		rc = -1;
	} else {
		w->next = W->head;
		W->head = w;
		w->listed = true;
		W->count++;
		/* A change between the first read and the subscription is caught by a read now. */
		w->reading = true;
		w->refs++;
	}
	pthread_mutex_unlock(&W->lock);
	for (; freed; freed = nx) {
		nx = freed->next;
		watcher_free(freed);
	}
	return rc;
}

void cx_http_events_open(struct cx_http_async *a, const char *id, const json_t *task)
{
	struct cx_http_watchers *W = watchers_get(a->h);
	struct watcher *w = W ? watcher_new(a, W, id) : NULL;
	const char *why = NULL;
	struct tap *t;
	bool ended;

	if (!w || !(t = open_stream(a, w, task))) {
		free(w);
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: out of memory");
		return;
	}
	ended = terminal(json_string_value(json_object_get(task, "status")));
	if (!ended && watch(W, w, &why)) {
		send_event(w, json_pack("{s:s}", "error", why), true);
		ended = true;
	}
	cx_http_async_answer_stream(a, t);
	if (ended)
		watcher_free(w);
	else
		read_task(w);
}

size_t cx_http_events_count(struct cx_http *h)
{
	struct cx_http_watchers *W;
	size_t n = 0;

	pthread_mutex_lock(&h->lock);
	W = h->watchers;
	pthread_mutex_unlock(&h->lock);
	if (W) {
		pthread_mutex_lock(&W->lock);
		n = W->count;
		pthread_mutex_unlock(&W->lock);
	}
	return n;
}

void cx_http_events_stop(struct cx_http *h)
{
	struct cx_http_watchers *W = h->watchers;
	struct watcher *w, *nx, *ending = NULL;

	if (!W)
		return;
	/* Returns once no push runs: no read starts after this. Reads already started were
	 * answered by the drain that comes before the transport stops. */
	pthread_mutex_lock(&W->push_mu);
	if (W->push_added)
		cx_server_remove_push(h->srv, on_push, W);
	W->push_added = false;
	W->push_closed = true;
	pthread_mutex_unlock(&W->push_mu);
	pthread_mutex_lock(&W->lock);
	W->stopped = true;
	for (w = W->head; w; w = nx) {
		nx = w->next;
		unlist_locked(W, w);
		w->next = ending;
		ending = w;
	}
	pthread_mutex_unlock(&W->lock);
	for (w = ending; w; w = nx) {
		nx = w->next;
		send_event(w, NULL, true);
		if (--w->refs == 0)
			watcher_free(w);
	}
}

void cx_http_events_free(struct cx_http *h)
{
	struct cx_http_watchers *W = h->watchers;

	if (!W)
		return;
	h->watchers = NULL;
	pthread_mutex_destroy(&W->push_mu);
	pthread_mutex_destroy(&W->lock);
	free(W);
}
