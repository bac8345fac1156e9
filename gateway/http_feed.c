/* GET /v1/events: every task change, as it happens, for as long as the client listens.
 *
 * The stream is one of http_keyed.c under a key of its own ("f" and 15 hex digits), subscribed
 * to every URI under cortex://tasks/ (a prefix subscription): the cortex adapter announces
 * cortex://tasks/{id} on each change the store reports, a new task included, and this file's
 * push sink takes them for such keys. Each changed task is read through cx_dispatch_tool_via
 * (cortex_get_task_status under the token that opened the stream, audited with "via": "rest",
 * so policy applies to every read) and sent as "event: task" with the result's
 * structuredContent, exactly what GET /v1/tasks/{id} answers. Changes are coalesced per task:
 * a feed keeps the ids waiting to be read, each once, in the order they first changed, and
 * reads one at a time; a task that changes again while it waits is not queued twice, one that
 * changes while it is being read is queued once more. Past FEED_PENDING_MAX waiting ids a
 * change is dropped and, once the queue has drained, a "resync" event tells the client to
 * list the tasks again. A task gone by the time it is read (purged) sends nothing; another
 * failure sends "event: error" with the id and the reason, and the feed goes on.
 *
 * The stream never ends by itself: the per-client stream limits and http.stream_max_lifetime_s
 * end it as they end GET /mcp streams (the client opens a new one and lists again). A feed is
 * freed when the transport stops, or when a change or a new feed finds its client gone.
 * Locks: F->lock is never held while h->lock is taken, nor while a read is started;
 * MHD_resume_connection with none held (http_keyed.c). */
#include "http_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/taskstore.h"
#include "dispatch.h"
#include "http_async.h"
#include "http_stream.h"
#include "policy.h"
#include "registry.h"

#define FEEDS_MAX        256
#define FEED_PENDING_MAX 1024
#define TASK_URI         "cortex://tasks/"
#define READ_TOOL        "cortex_get_task_status"
#define FEED_OPEN        ": cortex task feed\n\n"

struct feed {
	struct feed *next;
	struct cx_http *h;
	const struct cx_principal *who;
	char key[17];
	struct sse_stream *ch; /* a reference, dropped in feed_free */
	char reading[CX_TASK_ID_MAX];
	json_t *args; /* the read in flight's arguments */
	/* Under F->lock. */
	int refs; /* the list's, the opener's until it is done, and a read's in flight */
	bool listed;
	bool ready;    /* ch is set: changes are read (before, they are only queued) */
	bool ending;   /* cx_http_feed_stop ends its stream */
	bool busy;     /* a read is in flight */
	bool overflow; /* a change was dropped: "resync" once the queue drains */
	char (*pending)[CX_TASK_ID_MAX]; /* grown as needed, up to FEED_PENDING_MAX */
	size_t npending, cap;
};

struct cx_http_feeds {
	pthread_mutex_t push_mu; /* adding the push sink, with no other lock held */
	bool push_added;
	bool push_closed; /* removed for good: the transport stops */
	pthread_mutex_t lock;
	struct feed *head;
	size_t count;
	bool stopped;
	uint64_t next_key;
};

static void feed_free(struct feed *f)
{
	if (f->ch)
		cx_http_keyed_release(f->h, f->ch);
	free(f->pending);
	free(f);
}

/* Takes f off the list and unsubscribes it; F->lock held. The list's reference is then the
 * caller's to drop. */
static void unlist_locked(struct cx_http_feeds *F, struct feed *f)
{
	struct feed **pp = &F->head;

	if (!f->listed)
		return;
	while (*pp && *pp != f)
		pp = &(*pp)->next;
	if (*pp)
		*pp = f->next;
	f->listed = false;
	F->count--;
	cx_server_unsubscribe(f->h->srv, f->key, TASK_URI);
}

/* Queues id unless it waits already; F->lock held. */
static void enqueue_locked(struct feed *f, const char *id)
{
	for (size_t i = 0; i < f->npending; i++) {
		if (!strcmp(f->pending[i], id))
			return;
	}
	if (f->npending == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		char(*more)[CX_TASK_ID_MAX] =
			cap <= FEED_PENDING_MAX ? realloc(f->pending, cap * sizeof(*more)) : NULL;

		if (!more) {
			/* Full, or out of memory: the client lists again once the queue drains. */
			f->overflow = true;
			return;
		}
		f->pending = more;
		f->cap = cap;
	}
	snprintf(f->pending[f->npending++], CX_TASK_ID_MAX, "%s", id);
}

/* Takes the next id to read into f->reading; F->lock held, f not busy. True when there was
 * one (f is busy from then, with a reference for the read). */
static bool next_locked(struct feed *f)
{
	if (!f->npending)
		return false;
	memcpy(f->reading, f->pending[0], CX_TASK_ID_MAX);
	memmove(f->pending, f->pending + 1, --f->npending * sizeof(*f->pending));
	f->busy = true;
	f->refs++;
	return true;
}

static void read_task(struct feed *f);

/* A read's answer, from a worker (or this thread when the call was refused at once). */
static void read_done(void *ctx, const json_t *result, int code, const char *msg)
{
	struct feed *f = ctx;
	struct cx_http_feeds *F = f->h->feeds;
	const json_t *task = json_object_get(result, "structuredContent");
	const char *why = json_string_value(
		json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
	bool again, resync = false, release;

	json_decref(f->args);
	f->args = NULL;
	if (result && !json_is_true(json_object_get(result, "isError")) && task)
		cx_http_keyed_send(f->h, f->ch, "task", json_incref((json_t *)task), false);
	else if (!why || strncmp(why, "no task '", 9))
		cx_http_keyed_send(f->h, f->ch, "error",
				   json_pack("{s:s, s:s}", "id", f->reading, "error",
					     why   ? why
					     : msg ? msg
						   : "no answer"),
				   false);
	pthread_mutex_lock(&F->lock);
	f->busy = false;
	if (F->stopped || cx_http_keyed_gone(f->ch)) {
		if (f->listed) {
			unlist_locked(F, f);
			f->refs--; /* the list's; the read's is dropped below */
		}
		again = false;
	} else {
		again = next_locked(f);
		if (!again && f->overflow) {
			f->overflow = false;
			resync = true;
		}
	}
	release = --f->refs == 0;
	pthread_mutex_unlock(&F->lock);
	if (resync)
		cx_http_keyed_send(f->h, f->ch, "resync",
				   json_pack("{s:s}", "message",
					     "more tasks changed at once than this stream holds; "
					     "list them again (GET /v1/tasks)"),
				   false);
	if (release)
		feed_free(f);
	else if (again)
		read_task(f);
}

/* Reads the task in f->reading (a reference for the read is held). The arguments stay f's
 * until read_done releases them on the answering thread (see call_tool in http_rest.c). */
static void read_task(struct feed *f)
{
	json_t *args = json_pack("{s:s}", "id", f->reading);

	f->args = args;
	if (!args || cx_dispatch_tool_via(cx_server_dispatch(f->h->srv), f->who, "rest", READ_TOOL,
					  args, read_done, f))
		read_done(f, NULL, -32603, "out of memory");
}

/* The push sink: cortex://tasks/{id} updates for the keys of feeds. Steals msg. */
static int on_push(void *ctx, const char *key, json_t *msg)
{
	struct cx_http_feeds *F = ctx;
	const char *uri = json_string_value(json_object_get(json_object_get(msg, "params"), "uri"));
	struct feed *f = NULL;
	bool start = false, release = false;

	if (key[0] != 'f' || !uri || strncmp(uri, TASK_URI, strlen(TASK_URI)) ||
	    strlen(uri + strlen(TASK_URI)) >= CX_TASK_ID_MAX || !uri[strlen(TASK_URI)]) {
		json_decref(msg);
		return 0;
	}
	pthread_mutex_lock(&F->lock);
	for (f = F->head; f && strcmp(f->key, key); f = f->next)
		;
	if (f && f->ready && !f->busy && cx_http_keyed_gone(f->ch)) {
		unlist_locked(F, f);
		release = --f->refs == 0;
	} else if (f) {
		enqueue_locked(f, uri + strlen(TASK_URI));
		start = f->ready && !f->busy && next_locked(f);
	}
	pthread_mutex_unlock(&F->lock);
	json_decref(msg);
	if (release)
		feed_free(f);
	else if (start)
		read_task(f);
	return f ? 1 : 0;
}

/* Frees feeds whose clients have gone and that no read holds; F->lock held. */
static void sweep_locked(struct cx_http_feeds *F, struct feed **freed)
{
	struct feed *f = F->head, *nx;

	for (; f; f = nx) {
		nx = f->next;
		if (!f->ready || f->busy || !cx_http_keyed_gone(f->ch))
			continue;
		unlist_locked(F, f);
		if (--f->refs == 0) {
			f->next = *freed;
			*freed = f;
		}
	}
}

static struct cx_http_feeds *feeds_get(struct cx_http *h)
{
	struct cx_http_feeds *F;

	pthread_mutex_lock(&h->lock);
	F = h->feeds;
	if (!F && (F = calloc(1, sizeof(*F)))) {
		pthread_mutex_init(&F->push_mu, NULL);
		pthread_mutex_init(&F->lock, NULL);
		h->feeds = F;
	}
	pthread_mutex_unlock(&h->lock);
	return F;
}

/* Lists f and subscribes it. 0, or -1 with *why (static) and *status. */
static int watch(struct cx_http_feeds *F, struct feed *f, const char **why, unsigned *status)
{
	struct feed *freed = NULL, *nx;
	bool sink;
	int rc = -1;

	/* cx_server_push holds its lock while it calls on_push, which takes F->lock: the sink
	 * is added with neither held. */
	pthread_mutex_lock(&F->push_mu);
	if (!F->push_added && !F->push_closed && !cx_server_add_push(f->h->srv, on_push, F))
		F->push_added = true;
	sink = F->push_added;
	pthread_mutex_unlock(&F->push_mu);
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	pthread_mutex_lock(&F->lock);
	sweep_locked(F, &freed);
	if (F->stopped) {
		*why = "service unavailable: the gateway is shutting down";
	} else if (F->count >= FEEDS_MAX) {
		*status = MHD_HTTP_TOO_MANY_REQUESTS;
		*why = "too many requests: too many event feeds are open; close one";
	} else if (!sink) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*why = "internal error: no room for another push sink";
	} else if (cx_server_subscribe_prefix(f->h->srv, f->key, TASK_URI)) {
		*why = "service unavailable: the gateway holds too many subscriptions";
	} else {
		f->next = F->head;
		F->head = f;
		f->listed = true;
		F->count++;
		rc = 0;
	}
	pthread_mutex_unlock(&F->lock);
	for (; freed; freed = nx) {
		nx = freed->next;
		feed_free(freed);
	}
	return rc;
}

/* The checks before a feed opens: 503 without the task tools, 403 for a token that may not
 * read tasks. true with a answered when one refuses. */
static bool refused(struct cx_http_async *a)
{
	const struct cx_reg_tool *rt =
		cx_registry_find_tool(cx_server_registry(a->h->srv), READ_TOOL);
	char why[512];

	if (!rt) {
		cx_http_async_error(
			a, MHD_HTTP_SERVICE_UNAVAILABLE,
			"service unavailable: the task store is disabled (tasks.enabled "
			"is false), so there are no task changes to follow");
		return true;
	}
	if (!cx_policy_allows(a->who, rt, why, sizeof(why))) {
		cx_http_async_error(a, MHD_HTTP_FORBIDDEN,
				    "forbidden: the event feed reads tasks with " READ_TOOL
				    ", which this token may not call: %s",
				    why);
		return true;
	}
	return false;
}

void cx_http_feed_open(struct cx_http_async *a)
{
	struct cx_http_feeds *F;
	struct sse_stream *ch = NULL;
	struct feed *f;
	const char *why = NULL;
	unsigned status;
	bool start = false, release;
	struct tap *t;

	if (refused(a))
		return;
	F = feeds_get(a->h);
	f = F ? calloc(1, sizeof(*f)) : NULL;
	if (!f) {
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: out of memory");
		return;
	}
	f->h = a->h;
	f->who = a->who;
	f->refs = 2; /* the list's, once listed, and this function's */
	pthread_mutex_lock(&F->lock);
	snprintf(f->key, sizeof(f->key), "f%015" PRIx64,
		 (uint64_t)(++F->next_key & 0xfffffffffffffffULL));
	pthread_mutex_unlock(&F->lock);
	if (watch(F, f, &why, &status)) {
		feed_free(f);
		cx_http_async_error(a, status, "%s", why);
		return;
	}
	/* Subscribed before the stream exists, so a change from now on is queued; reads start
	 * once it is there. */
	t = cx_http_keyed_open(a->h, a->conn, a->fd, f->key, FEED_OPEN, true, &ch);
	pthread_mutex_lock(&F->lock);
	if (!t && f->listed) {
		unlist_locked(F, f);
		f->refs--;
	} else if (t) {
		f->ch = ch;
		f->ready = true;
		start = !F->stopped && !f->busy && next_locked(f);
	}
	release = --f->refs == 0;
	pthread_mutex_unlock(&F->lock);
	if (!t) {
		if (release)
			feed_free(f);
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: out of memory");
		return;
	}
	cx_http_async_answer_stream(a, t);
	if (start)
		read_task(f);
	if (release)
		feed_free(f);
}

size_t cx_http_feed_count(struct cx_http *h)
{
	struct cx_http_feeds *F;
	size_t n = 0;

	pthread_mutex_lock(&h->lock);
	F = h->feeds;
	pthread_mutex_unlock(&h->lock);
	if (F) {
		pthread_mutex_lock(&F->lock);
		n = F->count;
		pthread_mutex_unlock(&F->lock);
	}
	return n;
}

void cx_http_feed_stop(struct cx_http *h)
{
	struct cx_http_feeds *F = h->feeds;
	struct feed *f, *nx, *ending = NULL;
	bool release;

	if (!F)
		return;
	/* Returns once no push runs: no read starts after this. Reads already started were
	 * answered by the drain that comes before the transport stops. */
	pthread_mutex_lock(&F->push_mu);
	if (F->push_added)
		cx_server_remove_push(h->srv, on_push, F);
	F->push_added = false;
	F->push_closed = true;
	pthread_mutex_unlock(&F->push_mu);
	/* The list's references become this loop's. A feed still being opened has no stream
	 * yet: its opener sees stopped and starts no read (closing ends its tap). */
	pthread_mutex_lock(&F->lock);
	F->stopped = true;
	for (f = F->head; f; f = nx) {
		nx = f->next;
		unlist_locked(F, f);
		f->ending = f->ready;
		f->next = ending;
		ending = f;
	}
	pthread_mutex_unlock(&F->lock);
	for (f = ending; f; f = nx) {
		nx = f->next;
		if (f->ending)
			cx_http_keyed_send(f->h, f->ch, NULL, NULL, true);
		pthread_mutex_lock(&F->lock);
		release = --f->refs == 0;
		pthread_mutex_unlock(&F->lock);
		if (release)
			feed_free(f);
	}
}

void cx_http_feed_free(struct cx_http *h)
{
	struct cx_http_feeds *F = h->feeds;

	if (!F)
		return;
	h->feeds = NULL;
	pthread_mutex_destroy(&F->push_mu);
	pthread_mutex_destroy(&F->lock);
	free(F);
}
