/* SSE streams (struct sse_stream), the connections carrying them (struct tap), replay buffers, the
 * stream timer and the push sink. A GET stream, and the answer of a POST whose call sends
 * messages before its answer (send()), are streams: a queue of numbered events that outlives
 * the connection carrying it, so a client whose connection broke can resume it with a GET
 * carrying Last-Event-ID ("<stream>-<seq>"). A tap's content reader suspends its connection
 * when it has sent everything queued; whoever queues an event resumes it. A timer thread
 * resumes idle taps every STREAM_PING_S seconds for a keep-alive comment and forgets streams
 * nobody has carried for STREAM_KEEP_MS.
 *
 * Locks, always taken in this order: req.mu (one POST), cx_http.lock (the list of streams,
 * their reference counts, which tap carries a stream), sse_stream.mu (one stream's events and its
 * tap's reading state). MHD_resume_connection is called with none held: a suspended
 * connection cannot complete, so what it points to stays valid until it is resumed, and
 * clearing the suspended flag under the lock makes exactly one thread the resumer. A function
 * whose name ends in _locked expects the lock its comment names held; one that returns a
 * connection leaves resuming it to the caller, after the locks are released. */
#ifndef CX_HTTP_STREAM_H
#define CX_HTTP_STREAM_H

#include "http_internal.h"

/* How long a stream nobody carries can still be resumed. */
#define STREAM_KEEP_MS 30000

/* One queued SSE event: hdr, then json, then "\n\n". */
struct event {
	struct event *next;
	uint64_t seq;
	char *json; /* from cx_json_dumps */
	size_t json_len;
	size_t hdr_len;
	const char *name; /* the SSE event's name (static; at most 15 bytes); NULL: "message" */
	char hdr[80];     /* "id: <stream>-<seq>\nevent: <name>\ndata: " */
};

/* A stream (see the top of this file). Owned by h->streams; freed by the timer or at stop. */
struct sse_stream {
	struct sse_stream *prev, *next; /* h->streams */
	uint64_t id;
	char fp[17];    /* the session's: only its own client may resume it */
	bool get;       /* a GET stream: takes the session's pushed messages */
	bool resumable; /* the session negotiated RESUMABLE_VERSION */
	bool bounded;   /* not a GET stream, but ends after http.stream_max_lifetime_s too */
	/* Guarded by h->lock. */
	unsigned refs;   /* the list, the tap carrying it, the POST's req */
	int64_t idle_ms; /* when refs last fell to the list's alone */
	/* Changed with h->lock and mu both held; read under either. */
	struct tap *att; /* the connection carrying the stream, or NULL */
	bool attached_once;
	int64_t detached_ms; /* when att last became NULL */
	/* Guarded by mu. */
	pthread_mutex_t mu;
	struct event *head, *tail; /* oldest first */
	size_t count, bytes;
	uint64_t seq;            /* the newest event's; 0 is the priming event */
	bool final;              /* nothing more comes: end after the last event */
	unsigned long wake_mark; /* h->lock: wake_taps' pass that visited it */
};

/* One connection carrying a stream: its MHD response's reader state, freed by tap_free. */
struct tap {
	struct cx_http *h;
	struct sse_stream *ch;
	struct MHD_Connection *conn;
	int fd;            /* the connection's socket, -1 if unknown */
	int64_t opened_ms; /* a GET stream ends after http.stream_max_lifetime_s */
	/* Guarded by ch->mu. */
	char pre[160]; /* comments and the priming event, sent first */
	size_t pre_len, pre_off;
	struct event *cur; /* being sent: never evicted meanwhile */
	size_t off;
	uint64_t next_seq;      /* the first event not yet started */
	unsigned long ping_gen; /* the h->ping_gen already answered with a ping */
	bool suspended;         /* suspended by tap_read; the resumer clears it */
	bool gone;              /* the client hung up or another tap took over */
};

bool cx_http_version_resumable(const char *v);
/* A Last-Event-ID as the streams write it ("<stream hex>-<seq decimal>"); false for any other
 * text. For tests/fuzz. */
bool cx_http_parse_event_id(const char *s, uint64_t *stream, uint64_t *seq);
/* True when the client of a suspended connection (fd; -1: unknown) has closed its end. */
bool cx_http_peer_gone(int fd);
/* Ends the streams whose client hung up while they waited (suspended), so their connections
 * close and free their clients' shares now rather than at the next keep-alive ping. */
void cx_http_reap_gone(struct cx_http *h);

/* An event for msg (stolen), not yet numbered. NULL on out of memory. */
struct event *cx_http_event_new(json_t *msg);
void cx_http_event_free(struct event *ev);

/* A stream of session fp, not yet linked; NULL on out of memory. */
struct sse_stream *cx_http_stream_new(struct cx_http *h, const char *fp, bool get, bool resumable);
void cx_http_stream_free(struct sse_stream *ch);
/* h->lock held: puts ch on h->streams, which holds a reference from then on. */
void cx_http_stream_link_locked(struct cx_http *h, struct sse_stream *ch);
/* h->lock held: drops a reference (now: the time, for forgetting it later). */
void cx_http_stream_unref_locked(struct sse_stream *ch, int64_t now);
/* ch->mu held: the connection of ch's tap if reading it suspended it, to resume. */
struct MHD_Connection *cx_http_stream_wake_locked(struct sse_stream *ch);
/* ch->mu held: numbers ev (stolen) and queues it; a connection to resume, or NULL. */
struct MHD_Connection *cx_http_stream_append_locked(struct sse_stream *ch, struct event *ev);

/* A tap for conn (reading from event 1), not attached: the caller sets t->ch and its prelude,
 * then attaches it, or free()s it. NULL on out of memory. */
struct tap *cx_http_tap_new(struct cx_http *h, struct MHD_Connection *conn, int fd,
			    struct sse_stream *ch);
/* What t sends before the events: comment (or NULL), and with priming the priming event. */
void cx_http_tap_prelude(struct tap *t, const char *comment, bool priming);
/* h->lock held: t carries ch from now on; a connection to resume (the tap it replaced). */
struct MHD_Connection *cx_http_tap_attach_locked(struct sse_stream *ch, struct tap *t);
/* Queues the SSE response t feeds, with Mcp-Session-Id sid unless NULL. From here the
 * response owns t, also on failure. */
enum MHD_Result cx_http_queue_stream(struct MHD_Connection *conn, struct tap *t, const char *sid);
/* Frees an attached tap that was never queued (its request ended first): detached from its
 * stream, its reference dropped. Takes h->lock and the stream's mu: call with neither held. */
void cx_http_tap_free(struct tap *t);

/* Attaches t (new, not attached) to a GET stream of session fp: the stream Last-Event-ID last
 * names when it is one of the session's and can still give what follows the id, else a new
 * one. Suspended GET streams of the session whose peer hung up end first. 0; 1 when the
 * session already has STREAMS_PER_SESSION GET streams carried (nothing changed); -1 on out
 * of memory. On failure t is the caller's to free. */
int cx_http_stream_open_get(struct cx_http *h, struct tap *t, const char *fp, bool resumable,
			    const char *last);

/* Resumes the suspended taps of session fp (NULL: every session). end: the streams take no
 * more events and end once the queued ones are sent. No lock held. */
void cx_http_wake_taps(struct cx_http *h, const char *fp, bool end);

/* ---- http_keyed.c: the operations routes' streams, under a key of their own ---- */

/* The streams of GET /v1/tasks/{id}/events and GET /v1/events: no session, so never resumed
 * or pushed to by the session sinks; the key ("t…", "f…": a letter and 15 hex digits) is
 * what the route subscribes to updates with. */

/* A new stream under key carried by conn (socket fd), which sends comment first; bounded: it
 * ends after http.stream_max_lifetime_s. *ch is the stream, with a reference that is the
 * caller's (drop it with cx_http_keyed_release); the tap is for cx_http_async_answer_stream.
 * NULL on out of memory. */
struct tap *cx_http_keyed_open(struct cx_http *h, struct MHD_Connection *conn, int fd,
			       const char *key, const char *comment, bool bounded,
			       struct sse_stream **ch);
/* Ends ch once its queued events are sent and drops the caller's reference. No lock held. */
void cx_http_keyed_release(struct cx_http *h, struct sse_stream *ch);
/* Queues msg (stolen; NULL: none) as event name (static; NULL: "message") on ch; with last,
 * the stream ends after it. No lock held. */
void cx_http_keyed_send(struct cx_http *h, struct sse_stream *ch, const char *name, json_t *msg,
			bool last);
/* Whether ch's client has hung up (also while its connection is suspended) or its stream
 * ended (another connection took it, or it passed its lifetime). */
bool cx_http_keyed_gone(struct sse_stream *ch);

/* The stream timer thread: 0, or pthread_create's error number. */
int cx_http_timer_start(struct cx_http *h);
/* Stops and joins it (if it started). */
void cx_http_timer_stop(struct cx_http *h);
/* Frees every stream; only once MHD has stopped (no tap or request holds one). */
void cx_http_streams_free(struct cx_http *h);

/* The server's push sink (cx_server_add_push) for a session's own messages. */
int cx_http_on_push(void *ctx, const char *fp, json_t *msg);

#endif
