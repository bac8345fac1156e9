#include "http_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/json.h"
#include "../common/log.h"
#include "../common/util.h"

#define STREAM_PING_S       15
#define STREAMS_PER_SESSION 4
#define SSE_OPEN            ": cortex stream open\n\n"
#define SSE_RESUMED         ": cortex stream resumed\n\n"
#define SSE_PING            ": keep-alive\n\n"
/* The revision whose streams start with a priming event (an id, empty data, retry:) so the
 * client may reconnect; 2026-07-28 drops resumability again. */
#define RESUMABLE_VERSION "2025-11-25"
#define RETRY_MS          1000
/* The replay buffer of one stream. Events a connected client has not been sent yet are kept
 * beyond it, up to the BACKLOG bounds, so a slow reader loses nothing short of those. */
#define REPLAY_EVENTS  256
#define REPLAY_BYTES   (1024 * 1024)
#define BACKLOG_EVENTS 4096
#define BACKLOG_BYTES  (16 * 1024 * 1024)
/* All streams' buffers together; past it, streams nobody carries are forgotten early. */
#define REPLAY_TOTAL_BYTES (64 * 1024 * 1024)
#define TICK_MS            1000
#define READ_BLOCK         16384

bool cx_http_version_resumable(const char *v)
{
	return v && !strcmp(v, RESUMABLE_VERSION);
}

/* True when the client of a suspended connection has closed its end. MHD does not watch
 * suspended connections, so without this a client that reconnects its stream would find the
 * per-session limit taken by its own dead streams until a keep-alive write fails. */
bool cx_http_peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (fd < 0 || poll(&p, 1, 0) != 1)
		return false;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void cx_http_event_free(struct event *ev)
{
	if (ev) {
		free(ev->json);
		free(ev);
	}
}

/* An event for msg (stolen), not yet numbered. NULL on out of memory. */
struct event *cx_http_event_new(json_t *msg)
{
	struct event *ev;
	size_t len;
	char *s;

	if (!msg)
		return NULL;
	s = cx_json_dumps(msg, &len);
	json_decref(msg);
	if (!s)
		return NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		free(s);
		return NULL;
	}
	ev->json = s;
	ev->json_len = len;
	return ev;
}

static size_t event_len(const struct event *ev)
{
	return ev->hdr_len + ev->json_len + 2;
}

/* Copies the event's text from off into buf, at most max bytes; returns how many. */
static size_t event_copy(const struct event *ev, size_t off, char *buf, size_t max)
{
	const char *seg[3] = { ev->hdr, ev->json, "\n\n" };
	const size_t len[3] = { ev->hdr_len, ev->json_len, 2 };
	size_t n = 0, k;

	for (int i = 0; i < 3 && n < max; i++) {
		if (off >= len[i]) {
			off -= len[i];
			continue;
		}
		k = len[i] - off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, seg[i] + off, k);
		n += k;
		off = 0;
	}
	return n;
}

/* "<stream>-<seq>" as written by cx_http_stream_append_locked: hex, then decimal. */
static bool parse_event_id(const char *s, uint64_t *stream, uint64_t *seq)
{
	unsigned long long a, b;
	char *end;

	if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
		return false;
	errno = 0;
	a = strtoull(s, &end, 16);
	if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
		return false;
	b = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	*stream = a;
	*seq = b;
	return true;
}

bool cx_http_parse_event_id(const char *s, uint64_t *stream, uint64_t *seq)
{
	return parse_event_id(s, stream, seq);
}

struct sse_stream *cx_http_stream_new(struct cx_http *h, const char *fp, bool get, bool resumable)
{
	struct sse_stream *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	pthread_mutex_init(&ch->mu, NULL);
	ch->id = atomic_fetch_add(&h->next_chan, 1);
	snprintf(ch->fp, sizeof(ch->fp), "%s", fp);
	ch->get = get;
	ch->resumable = resumable;
	return ch;
}

void cx_http_stream_free(struct sse_stream *ch)
{
	struct event *ev, *nx;

	for (ev = ch->head; ev; ev = nx) {
		nx = ev->next;
		cx_http_event_free(ev);
	}
	pthread_mutex_destroy(&ch->mu);
	free(ch);
}

/* h->lock held for these three. */
void cx_http_stream_link_locked(struct cx_http *h, struct sse_stream *ch)
{
	ch->refs++;
	ch->prev = NULL;
	ch->next = h->streams;
	if (h->streams)
		h->streams->prev = ch;
	h->streams = ch;
}

static void chan_unlink_locked(struct cx_http *h, struct sse_stream *ch)
{
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		h->streams = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	ch->prev = ch->next = NULL;
}

void cx_http_stream_unref_locked(struct sse_stream *ch, int64_t now)
{
	if (--ch->refs == 1)
		ch->idle_ms = now;
}

/* The connection of ch's tap if reading it suspended it; the caller resumes it. ch->mu held. */
struct MHD_Connection *cx_http_stream_wake_locked(struct sse_stream *ch)
{
	struct tap *t = ch->att;

	if (!t || !t->suspended)
		return NULL;
	t->suspended = false;
	return t->conn;
}

/* Drops the oldest events past the replay bounds. Events the carrying tap has not sent yet
 * are kept up to the backlog bounds, and the one it is sending always. ch->mu held. */
static void chan_evict_locked(struct sse_stream *ch)
{
	const struct tap *t = ch->att && !ch->att->gone ? ch->att : NULL;
	struct event *ev;

	while ((ev = ch->head) && (ch->count > REPLAY_EVENTS || ch->bytes > REPLAY_BYTES)) {
		if (t && ev == t->cur)
			break;
		if (t && ev->seq >= t->next_seq && ch->count <= BACKLOG_EVENTS &&
		    ch->bytes <= BACKLOG_BYTES)
			break;
		ch->head = ev->next;
		if (!ch->head)
			ch->tail = NULL;
		ch->count--;
		ch->bytes -= event_len(ev);
		cx_http_event_free(ev);
	}
}

/* Numbers ev (stolen) and queues it. Returns a connection for the caller to resume. ch->mu
 * held. */
struct MHD_Connection *cx_http_stream_append_locked(struct sse_stream *ch, struct event *ev)
{
	ev->seq = ++ch->seq;
	ev->hdr_len = (size_t)snprintf(ev->hdr, sizeof(ev->hdr),
				       "id: %" PRIx64 "-%" PRIu64 "\nevent: %.15s\ndata: ", ch->id,
				       ev->seq, ev->name ? ev->name : "message");
	if (ch->tail)
		ch->tail->next = ev;
	else
		ch->head = ev;
	ch->tail = ev;
	ch->count++;
	ch->bytes += event_len(ev);
	chan_evict_locked(ch);
	return cx_http_stream_wake_locked(ch);
}

/* What a tap sends before the events: a comment, and the priming event that gives a
 * 2025-11-25 client an id to reconnect with and the delay to wait before it does. */
void cx_http_tap_prelude(struct tap *t, const char *comment, bool priming)
{
	int n = snprintf(t->pre, sizeof(t->pre), "%s", comment ? comment : "");

	if (priming)
		n += snprintf(t->pre + n, sizeof(t->pre) - (size_t)n,
			      "id: %" PRIx64 "-0\nretry: %d\ndata:\n\n", t->ch->id, RETRY_MS);
	t->pre_len = (size_t)n;
	t->pre_off = 0;
}

/* MHD's content reader: the prelude, then the stream's events from t->next_seq on, and a
 * keep-alive comment per timer tick. With nothing to send it suspends the connection and
 * returns 0; whoever queues an event resumes it. */
static ssize_t tap_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tap *t = cls;
	struct sse_stream *ch = t->ch;
	struct event *ev;
	unsigned long gen;
	size_t n = 0, k;

	pthread_mutex_lock(&ch->mu);
	for (;;) {
		while (n < max && !t->gone) {
			if (t->pre_off < t->pre_len) {
				k = t->pre_len - t->pre_off;
				if (k > max - n)
					k = max - n;
				memcpy(buf + n, t->pre + t->pre_off, k);
				t->pre_off += k;
				n += k;
			} else if (t->cur) {
				k = event_copy(t->cur, t->off, buf + n, max - n);
				t->off += k;
				n += k;
				if (t->off == event_len(t->cur)) {
					/* Events after the one being sent are never evicted. */
					t->cur = t->cur->next;
					t->off = 0;
					if (t->cur)
						t->next_seq = t->cur->seq + 1;
				}
			} else {
				for (ev = ch->head; ev && ev->seq < t->next_seq; ev = ev->next)
					;
				if (!ev)
					break;
				t->cur = ev;
				t->off = 0;
				t->next_seq = ev->seq + 1;
			}
		}
		if (n)
			break;
		/* Not END_WITH_ERROR for a hang-up: MHD would log it as an application error.
		 * A GET stream past its lifetime ends between events; the client reconnects
		 * with Last-Event-ID and the stream resumes where it was. */
		if (t->gone || ch->final || atomic_load(&t->h->closing) ||
		    ((ch->get || ch->bounded) &&
		     cx_now_ms() - t->opened_ms >= t->h->conf->stream_max_lifetime_s * 1000)) {
			pthread_mutex_unlock(&ch->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		gen = atomic_load(&t->h->ping_gen);
		if (t->ping_gen == gen) {
			/* Suspended under the lock, so nobody can resume it first. */
			t->suspended = true;
			MHD_suspend_connection(t->conn);
			break;
		}
		t->ping_gen = gen;
		memcpy(t->pre, SSE_PING, sizeof(SSE_PING) - 1);
		t->pre_len = sizeof(SSE_PING) - 1;
		t->pre_off = 0;
	}
	pthread_mutex_unlock(&ch->mu);
	return (ssize_t)n;
}

/* Detaches t from its stream (when it still carries it), drops its reference and frees it:
 * MHD calls it when a queued stream response is destroyed. */
static void tap_free(void *cls)
{
	struct tap *t = cls;
	struct cx_http *h = t->h;
	struct sse_stream *ch = t->ch;
	int64_t now = cx_now_ms();

	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&ch->mu);
	if (ch->att == t) {
		ch->att = NULL;
		ch->detached_ms = now;
	}
	pthread_mutex_unlock(&ch->mu);
	cx_http_stream_unref_locked(ch, now);
	pthread_mutex_unlock(&h->lock);
	free(t);
}

void cx_http_tap_free(struct tap *t)
{
	tap_free(t);
}

/* A tap for conn (reading from event 1); the caller sets its prelude and attaches it. */
struct tap *cx_http_tap_new(struct cx_http *h, struct MHD_Connection *conn, int fd,
			    struct sse_stream *ch)
{
	struct tap *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->h = h;
	t->ch = ch;
	t->conn = conn;
	t->fd = fd;
	t->next_seq = 1;
	t->ping_gen = atomic_load(&h->ping_gen);
	t->opened_ms = cx_now_ms();
	return t;
}

/* t carries ch from now on; a tap that carried it before ends (its client reconnected).
 * Returns a connection for the caller to resume. h->lock held. */
struct MHD_Connection *cx_http_tap_attach_locked(struct sse_stream *ch, struct tap *t)
{
	struct MHD_Connection *resume = NULL;
	struct tap *old;

	pthread_mutex_lock(&ch->mu);
	old = ch->att;
	if (old) {
		old->gone = true;
		if (old->suspended) {
			old->suspended = false;
			resume = old->conn;
		}
	}
	ch->att = t;
	ch->attached_once = true;
	pthread_mutex_unlock(&ch->mu);
	ch->refs++;
	return resume;
}

/* Queues the SSE response t feeds. From here tap_free owns t, also on failure. */
enum MHD_Result cx_http_queue_stream(struct MHD_Connection *conn, struct tap *t, const char *sid)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, tap_read, t, tap_free);
	if (!r) {
		tap_free(t);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CT_SSE) == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_NO ||
	    cx_http_add_safety_headers(r) ||
	    (sid && MHD_add_response_header(r, HDR_SESSION, sid) == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return cx_http_queue(conn, MHD_HTTP_OK, r);
}

/* The stream a GET with Last-Event-ID last resumes: one of session fp's that can still give
 * what follows the id (*seq). NULL for an id that is absent, malformed, unknown, forgotten or
 * another session's. h->lock held. */
static struct sse_stream *resumed_locked(struct cx_http *h, const char *fp, const char *last,
					 uint64_t *seq)
{
	struct sse_stream *it, *ch = NULL;
	uint64_t sid;

	if (!last || !parse_event_id(last, &sid, seq))
		return NULL;
	for (it = h->streams; it && it->id != sid; it = it->next)
		;
	if (it && !strcmp(it->fp, fp)) {
		pthread_mutex_lock(&it->mu);
		/* A finished POST stream still has its answer to give. */
		if (*seq <= it->seq && !(it->final && it->get))
			ch = it;
		pthread_mutex_unlock(&it->mu);
	}
	return ch;
}

/* How many of session fp's GET streams other than skip a connection carries. A suspended tap
 * whose peer hung up is ended instead and its connection put in resume (at most max; *n
 * counts them) for the caller to resume. h->lock held. */
static int live_gets_locked(struct cx_http *h, const char *fp, const struct sse_stream *skip,
			    struct MHD_Connection **resume, size_t max, size_t *n)
{
	struct sse_stream *it;
	int count = 0;

	for (it = h->streams; it; it = it->next) {
		if (it == skip || !it->get || strcmp(it->fp, fp))
			continue;
		pthread_mutex_lock(&it->mu);
		if (it->att && !it->att->gone) {
			/* A suspended connection stays open until resumed, so its fd is its own. */
			if (it->att->suspended && *n < max && cx_http_peer_gone(it->att->fd)) {
				it->att->gone = true;
				it->att->suspended = false;
				resume[(*n)++] = it->att->conn;
			} else {
				count++;
			}
		}
		pthread_mutex_unlock(&it->mu);
	}
	return count;
}

/* An id that is unknown, forgotten or another session's gets a new stream: the specification
 * has no error for it, and 404 would tell the client its session is gone. */
int cx_http_stream_open_get(struct cx_http *h, struct tap *t, const char *fp, bool resumable,
			    const char *last)
{
	struct MHD_Connection *resume[STREAMS_PER_SESSION * 2 + 1], *c;
	struct sse_stream *ch;
	uint64_t seq = 0;
	size_t nres = 0;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	ch = resumed_locked(h, fp, last, &seq);
	if (live_gets_locked(h, fp, ch, resume, sizeof(resume) / sizeof(resume[0]) - 1, &nres) >=
		    STREAMS_PER_SESSION &&
	    (!ch || ch->get)) {
		rc = 1;
		goto out;
	}
	if (ch) {
		t->ch = ch;
		t->next_seq = seq + 1;
		cx_http_tap_prelude(t, SSE_RESUMED, false);
	} else {
		ch = cx_http_stream_new(h, fp, true, resumable);
		if (!ch) {
			rc = -1;
			goto out;
		}
		cx_http_stream_link_locked(h, ch);
		t->ch = ch;
		cx_http_tap_prelude(t, SSE_OPEN, resumable);
	}
	c = cx_http_tap_attach_locked(ch, t);
	if (c)
		resume[nres++] = c;
out:
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < nres; i++)
		cx_http_resume(h, resume[i]);
	return rc;
}

#define WAKE_BATCH 16

/* Resumes the suspended taps of session fp (NULL: every session). end: the streams take no
 * more events and end once the queued ones are sent. */
void cx_http_wake_taps(struct cx_http *h, const char *fp, bool end)
{
	struct MHD_Connection *conns[WAKE_BATCH];
	struct sse_stream *ch;
	unsigned long mark;
	size_t n;
	bool more;

	pthread_mutex_lock(&h->lock);
	mark = ++h->wake_mark;
	pthread_mutex_unlock(&h->lock);
	do {
		n = 0;
		more = false;
		pthread_mutex_lock(&h->lock);
		for (ch = h->streams; ch; ch = ch->next) {
			if (ch->wake_mark == mark || (fp && strcmp(ch->fp, fp)))
				continue;
			if (n == WAKE_BATCH) {
				more = true;
				break;
			}
			ch->wake_mark = mark;
			pthread_mutex_lock(&ch->mu);
			if (end)
				ch->final = true;
			conns[n] = cx_http_stream_wake_locked(ch);
			pthread_mutex_unlock(&ch->mu);
			n += conns[n] != NULL;
		}
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < n; i++)
			cx_http_resume(h, conns[i]);
	} while (more);
}

void cx_http_reap_gone(struct cx_http *h)
{
	struct MHD_Connection *conns[WAKE_BATCH];
	struct sse_stream *ch;
	size_t n;

	do {
		n = 0;
		pthread_mutex_lock(&h->lock);
		for (ch = h->streams; ch && n < WAKE_BATCH; ch = ch->next) {
			pthread_mutex_lock(&ch->mu);
			if (ch->att && ch->att->suspended && !ch->att->gone &&
			    cx_http_peer_gone(ch->att->fd)) {
				ch->att->gone = true;
				ch->att->suspended = false;
				conns[n++] = ch->att->conn;
			}
			pthread_mutex_unlock(&ch->mu);
		}
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < n; i++)
			cx_http_resume(h, conns[i]);
	} while (n == WAKE_BATCH);
}

/* Unlinks the streams to forget (h->lock held) and returns them: those nobody has carried
 * for STREAM_KEEP_MS, then, while all buffers together are over budget, the oldest that
 * nobody carries. */
static struct sse_stream *gc_locked(struct cx_http *h, int64_t now)
{
	struct sse_stream *ch, *nx, *dead = NULL, *last = NULL;
	size_t total = 0;

	for (ch = h->streams; ch; ch = nx) {
		nx = ch->next;
		if (ch->refs == 1 && now - ch->idle_ms >= STREAM_KEEP_MS) {
			chan_unlink_locked(h, ch);
			ch->next = dead;
			dead = ch;
			continue;
		}
		pthread_mutex_lock(&ch->mu);
		total += ch->bytes;
		pthread_mutex_unlock(&ch->mu);
		last = ch;
	}
	for (ch = last; ch && total > REPLAY_TOTAL_BYTES; ch = nx) {
		nx = ch->prev;
		if (ch->refs != 1)
			continue;
		pthread_mutex_lock(&ch->mu);
		total -= ch->bytes;
		pthread_mutex_unlock(&ch->mu);
		chan_unlink_locked(h, ch);
		ch->next = dead;
		dead = ch;
	}
	return dead;
}

static void *stream_timer(void *arg)
{
	struct cx_http *h = arg;
	/* Pings also end streams past their lifetime, so they come at least that often. */
	int64_t every = h->conf->stream_max_lifetime_s < STREAM_PING_S
				? h->conf->stream_max_lifetime_s * 1000
				: STREAM_PING_S * 1000;
	int64_t now, next_ping = cx_now_ms() + every;
	struct sse_stream *dead, *nx;
	struct timespec ts;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		cx_deadline_ts(CLOCK_MONOTONIC, TICK_MS, &ts);
		while (!h->timer_stop &&
		       pthread_cond_timedwait(&h->wake, &h->lock, &ts) != ETIMEDOUT)
			;
		if (h->timer_stop)
			break;
		now = cx_now_ms();
		dead = gc_locked(h, now);
		pthread_mutex_unlock(&h->lock);
		for (; dead; dead = nx) {
			nx = dead->next;
			cx_http_stream_free(dead);
		}
		if (now >= next_ping) {
			next_ping = now + every;
			atomic_fetch_add(&h->ping_gen, 1);
			cx_http_wake_taps(h, NULL, false);
		}
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int cx_http_timer_start(struct cx_http *h)
{
	int rc = pthread_create(&h->timer, NULL, stream_timer, h);

	h->timer_started = rc == 0;
	return rc;
}

void cx_http_timer_stop(struct cx_http *h)
{
	pthread_mutex_lock(&h->lock);
	h->timer_stop = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->timer_started)
		pthread_join(h->timer, NULL);
	h->timer_started = false;
}

void cx_http_streams_free(struct cx_http *h)
{
	struct sse_stream *ch, *nx;

	for (ch = h->streams; ch; ch = nx) {
		nx = ch->next;
		cx_http_stream_free(ch);
	}
	h->streams = NULL;
}

/* The server's sink for a session's own messages (list_changed, resources/updated). The
 * specification wants each message on one stream only, never broadcast: it goes to one of
 * the session's connected GET streams, taking turns; with none connected, to the one carried
 * last, if its client may still resume it. */
static int push_one(struct cx_http *h, const char *fp, json_t *msg);

/* fp "*" is every session with a GET stream (list_changed notifications): one stream each. */
int cx_http_on_push(void *ctx, const char *fp, json_t *msg)
{
	struct cx_http *h = ctx;
	char(*fps)[17] = NULL;
	size_t n = 0, cap = 0;
	int delivered = 0;

	if (!fp || strcmp(fp, "*"))
		return push_one(h, fp, msg);
	pthread_mutex_lock(&h->lock);
	for (struct sse_stream *ch = h->streams; ch; ch = ch->next) {
		size_t i;

		if (!ch->get || !ch->fp[0])
			continue;
		for (i = 0; i < n && strcmp(fps[i], ch->fp); i++)
			;
		if (i < n)
			continue;
		if (n == cap) {
			char(*more)[17] = realloc(fps, (cap ? cap * 2 : 16) * sizeof(*fps));
			if (!more)
				break;
			fps = more;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(fps[n++], sizeof(fps[0]), "%s", ch->fp);
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		delivered += push_one(h, fps[i], json_incref(msg));
	free(fps);
	json_decref(msg);
	return delivered;
}

static int push_one(struct cx_http *h, const char *fp, json_t *msg)
{
	struct sse_stream *live[STREAMS_PER_SESSION * 2], *later = NULL, *pick, *ch;
	struct MHD_Connection *resume = NULL;
	struct event *ev;
	size_t nlive = 0;
	int64_t now;

	if (!fp || !*fp) {
		json_decref(msg);
		return 0;
	}
	ev = cx_http_event_new(msg);
	if (!ev)
		return 0;
	now = cx_now_ms();
	pthread_mutex_lock(&h->lock);
	for (ch = h->streams; ch; ch = ch->next) {
		if (!ch->get || strcmp(ch->fp, fp))
			continue;
		pthread_mutex_lock(&ch->mu);
		if (ch->final) {
			/* The session ended. */
		} else if (ch->att && !ch->att->gone) {
			if (nlive < sizeof(live) / sizeof(live[0]))
				live[nlive++] = ch;
		} else if (ch->resumable && !ch->att && ch->attached_once &&
			   now - ch->detached_ms < STREAM_KEEP_MS &&
			   (!later || ch->detached_ms > later->detached_ms)) {
			later = ch;
		}
		pthread_mutex_unlock(&ch->mu);
	}
	pick = nlive ? live[h->push_rr++ % nlive] : later;
	if (pick) {
		pthread_mutex_lock(&pick->mu);
		if (!pick->final) {
			resume = cx_http_stream_append_locked(pick, ev);
			ev = NULL;
		}
		pthread_mutex_unlock(&pick->mu);
	}
	pthread_mutex_unlock(&h->lock);
	if (resume)
		cx_http_resume(h, resume);
	if (ev) {
		cx_http_event_free(ev);
		return 0;
	}
	return 1;
}

void cx_http_end_streams(struct cx_http *h, const char *fp)
{
	if (h && fp)
		cx_http_wake_taps(h, fp, true);
}
