/* The SSE streams of the operations routes (GET /v1/tasks/{id}/events in http_events.c, GET
 * /v1/events in http_feed.c): streams of http_stream.c under a key of their own rather than a
 * session's, owned by the route's watcher through one reference. Locks as http_stream.h says:
 * h->lock, then ch->mu; MHD_resume_connection with neither held. */
#include "http_stream.h"

#include <stdlib.h>

#include "../common/util.h"

struct tap *cx_http_keyed_open(struct cx_http *h, struct MHD_Connection *conn, int fd,
			       const char *key, const char *comment, bool bounded,
			       struct sse_stream **out)
{
	struct sse_stream *ch = cx_http_stream_new(h, key, false, false);
	struct tap *t = ch ? cx_http_tap_new(h, conn, fd, ch) : NULL;

	if (!t) {
		if (ch)
			cx_http_stream_free(ch);
		return NULL;
	}
	ch->bounded = bounded;
	cx_http_tap_prelude(t, comment, false);
	pthread_mutex_lock(&h->lock);
	cx_http_stream_link_locked(h, ch);
	ch->refs++;                       /* the caller's */
	cx_http_tap_attach_locked(ch, t); /* a new stream: no tap to replace */
	pthread_mutex_unlock(&h->lock);
	*out = ch;
	return t;
}

void cx_http_keyed_release(struct cx_http *h, struct sse_stream *ch)
{
	/* Nothing more comes: the stream ends once what is queued is sent. */
	cx_http_keyed_send(h, ch, NULL, NULL, true);
	pthread_mutex_lock(&h->lock);
	cx_http_stream_unref_locked(ch, cx_now_ms());
	pthread_mutex_unlock(&h->lock);
}

void cx_http_keyed_send(struct cx_http *h, struct sse_stream *ch, const char *name, json_t *msg,
			bool last)
{
	struct event *ev = cx_http_event_new(msg);
	struct MHD_Connection *c = NULL;

	if (ev)
		ev->name = name;
	pthread_mutex_lock(&ch->mu);
	if (ev)
		c = cx_http_stream_append_locked(ch, ev);
	if (last) {
		ch->final = true;
		if (!c)
			c = cx_http_stream_wake_locked(ch);
	}
	pthread_mutex_unlock(&ch->mu);
	if (c)
		cx_http_resume(h, c);
}

bool cx_http_keyed_gone(struct sse_stream *ch)
{
	bool gone;

	/* An idle stream's connection is suspended: MHD notices no hang-up until it writes. */
	pthread_mutex_lock(&ch->mu);
	gone = ch->attached_once && (!ch->att || ch->att->gone ||
				     (ch->att->suspended && cx_http_peer_gone(ch->att->fd)));
	pthread_mutex_unlock(&ch->mu);
	return gone;
}
