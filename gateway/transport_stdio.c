/* stdio transport: newline-delimited JSON-RPC, as desktop clients (Claude Desktop, Claude
 * Code) launch an MCP server as a child process. stdout carries protocol messages and
 * nothing else; every diagnostic goes to stderr. */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/util.h"
#include "reply.h"
#include "server.h"

/* Lines wait here for the writer thread: nothing that answers a call (a worker, the
 * watchdog) ever blocks on a client that stops reading stdout. */
struct out_line {
	struct out_line *next;
	size_t len;
	char text[];
};

/* Messages a call or a session sends before answers (progress, log messages, list changes)
 * are dropped past this much unwritten output, as a stream whose client is gone; answers are
 * always queued, bounded by the calls in flight. */
#define OUT_SOFT_MAX (16u << 20)
/* At the end, unwritten output gets this long to reach a client that stopped reading. */
#define FLUSH_GRACE_S 5

struct stdio_transport {
	struct cx_server *server;
	int out_fd;
	struct cx_session session; /* the one session of this connection */
	pthread_mutex_t lock;      /* the queue, the counters and the flags */
	pthread_cond_t idle;       /* outstanding reached 0 */
	pthread_cond_t more;       /* the writer has lines, or should stop */
	pthread_cond_t flushed;    /* the queue is empty */
	struct out_line *head, *tail;
	size_t queued;      /* bytes waiting */
	size_t outstanding; /* messages submitted and not yet answered */
	bool writing;       /* the writer holds a line outside the queue */
	bool out_broken;
	bool closing;
	pthread_t writer;
};

struct stdio_exchange {
	struct cx_exchange x; /* first, so the callbacks recover the struct */
	struct stdio_transport *t;
};

/* Runs without the lock: only this thread writes to out_fd. */
static void write_all(struct stdio_transport *t, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(t->out_fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			cx_warn("stdio: could not write to stdout: %s", strerror(errno));
			pthread_mutex_lock(&t->lock);
			t->out_broken = true;
			pthread_mutex_unlock(&t->lock);
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	struct stdio_transport *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct out_line *l = t->head;

		if (!l) {
			pthread_cond_broadcast(&t->flushed);
			if (t->closing)
				break;
			pthread_cond_wait(&t->more, &t->lock);
			continue;
		}
		t->head = l->next;
		if (!t->head)
			t->tail = NULL;
		t->queued -= l->len;
		t->writing = true;
		bool broken = t->out_broken;
		pthread_mutex_unlock(&t->lock);
		if (!broken)
			write_all(t, l->text, l->len);
		free(l);
		pthread_mutex_lock(&t->lock);
		t->writing = false;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Queues msg (stolen) as one line. must: an answer, queued whatever is waiting. 0, or -1 when
 * it was dropped (stdout broken, out of memory, or too much unwritten for a non-answer). */
static int enqueue(struct stdio_transport *t, json_t *msg, bool must)
{
	size_t len = 0;
	char *text = msg ? cx_json_dumps(msg, &len) : NULL;
	struct out_line *l = text ? malloc(sizeof(*l) + len + 1) : NULL;
	int rc = -1;

	json_decref(msg);
	if (l) {
		/* One message per line: the compact form never contains a raw newline. */
		memcpy(l->text, text, len);
		l->text[len] = '\n';
		l->len = len + 1;
		l->next = NULL;
	}
	free(text);
	if (!l) {
		cx_warn("stdio: out of memory serialising a message");
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	if (!t->out_broken && (must || t->queued < OUT_SOFT_MAX)) {
		if (t->tail)
			t->tail->next = l;
		else
			t->head = l;
		t->tail = l;
		t->queued += l->len;
		pthread_cond_signal(&t->more);
		l = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	free(l);
	return rc;
}

static void stdio_reply(struct cx_exchange *x, json_t *response)
{
	struct stdio_exchange *se = (struct stdio_exchange *)x;
	struct stdio_transport *t = se->t;

	free(se);
	if (response)
		enqueue(t, response, true);
	pthread_mutex_lock(&t->lock);
	if (--t->outstanding == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

/* One message as one line; steals msg. */
static int write_message(struct stdio_transport *t, json_t *msg)
{
	return enqueue(t, msg, false);
}

/* Progress, log messages and requests to the client while a call runs. */
static int stdio_send(struct cx_exchange *x, json_t *msg)
{
	return write_message(((struct stdio_exchange *)x)->t, msg);
}

/* Session messages (resource updates, list changes): stdio has one session, fp "", and is
 * among "*", every session. */
static int stdio_push(void *ctx, const char *fp, json_t *msg)
{
	if (fp[0] && strcmp(fp, "*")) {
		json_decref(msg);
		return 0;
	}
	return write_message(ctx, msg) ? 0 : 1;
}

static void write_error(struct stdio_transport *t, int code, const char *msg)
{
	enqueue(t, cx_rpc_error_always(NULL, code, msg, NULL), true);
}

static void handle_line(struct stdio_transport *t, const char *line, size_t len)
{
	const struct cx_gw_config *conf = cx_server_config(t->server);
	struct stdio_exchange *se;
	struct cx_err err = { 0 };
	json_t *msg;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (!len)
		return;
	{
		char text[200];
		if (cx_server_batch_check(t->server, cx_rpc_batch_count(line, len), text,
					  sizeof(text))) {
			write_error(t, CX_RPC_INVALID_REQUEST, text);
			return;
		}
	}
	msg = cx_json_loadb(line, len, (size_t)conf->max_body_bytes, &err);
	if (!msg) {
		char text[CX_ERR_MSG_MAX + 32];
		snprintf(text, sizeof(text), "parse error: %s", err.msg);
		write_error(t, CX_RPC_PARSE_ERROR, text);
		return;
	}
	se = calloc(1, sizeof(*se));
	if (!se) {
		json_decref(msg);
		write_error(t, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	se->t = t;
	se->x.who = cx_server_stdio_principal(t->server);
	se->x.session = &t->session;
	se->x.reply = stdio_reply;
	se->x.send = stdio_send;
	pthread_mutex_lock(&t->lock);
	t->outstanding++;
	pthread_mutex_unlock(&t->lock);
	cx_server_submit(t->server, &se->x, msg);
}

/* End of input or a stop signal: waits for what is in flight to be answered, then gives the
 * writer FLUSH_GRACE_S to hand the answers to the client. False when the writer is still
 * stuck on a client that does not read (t must then not be freed). */
static bool finish(struct stdio_transport *t)
{
	struct timespec until;
	int rc;

	pthread_mutex_lock(&t->lock);
	while (t->outstanding)
		pthread_cond_wait(&t->idle, &t->lock);
	t->closing = true;
	pthread_cond_signal(&t->more);
	pthread_mutex_unlock(&t->lock);
	cx_deadline_ts(CLOCK_REALTIME, FLUSH_GRACE_S * 1000, &until);
	rc = pthread_timedjoin_np(t->writer, NULL, &until);
	if (rc) {
		cx_warn("stdio: the client has not read its last answers within %d s; leaving "
			"them",
			FLUSH_GRACE_S);
		pthread_detach(t->writer);
		return false;
	}
	return true;
}

static void read_loop(struct stdio_transport *t, int in_fd, const atomic_bool *stop, int *rc);

int cx_stdio_run(struct cx_server *s, int in_fd, int out_fd, const atomic_bool *stop)
{
	struct stdio_transport *t = calloc(1, sizeof(*t));
	int rc = 0, err;

	if (!t)
		return cx_error("stdio: out of memory");
	t->server = s;
	t->out_fd = out_fd;
	cx_session_init(&t->session);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->idle, NULL);
	pthread_cond_init(&t->more, NULL);
	pthread_cond_init(&t->flushed, NULL);
	err = pthread_create(&t->writer, NULL, writer_main, t);
	if (err) {
		free(t);
		return cx_error("stdio: could not start the writer thread: %s", strerror(err));
	}
	/* The sink points at t: registered while the loop runs, removed after. */
	cx_server_add_push(s, stdio_push, t);
	read_loop(t, in_fd, stop, &rc);
	cx_server_remove_push(s, stdio_push, t);
	if (!finish(t))
		return rc; /* the writer still uses t: the process is about to exit */
	cx_session_release(&t->session);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->idle);
	pthread_cond_destroy(&t->more);
	pthread_cond_destroy(&t->flushed);
	free(t);
	return rc;
}

/* Reads lines until end of input or *stop; *rc -1 on a read error. */
static void read_loop(struct stdio_transport *t, int in_fd, const atomic_bool *stop, int *rc)
{
	const struct cx_gw_config *conf = cx_server_config(t->server);
	struct cx_buf line = CX_BUF_INIT((size_t)conf->max_body_bytes);
	char chunk[65536];
	bool skipping = false; /* inside a line that passed the size limit */

	while (!atomic_load(stop)) {
		struct pollfd pfd = { .fd = in_fd, .events = POLLIN };
		int pr = poll(&pfd, 1, 250);
		ssize_t n;

		if (pr < 0 && errno != EINTR) {
			*rc = cx_error("stdio: poll: %s", strerror(errno));
			break;
		}
		if (pr <= 0)
			continue;
		n = read(in_fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			*rc = cx_error("stdio: read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (line.len && !skipping)
				handle_line(t, line.data, line.len);
			break;
		}
		for (char *p = chunk, *end = chunk + n; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t part = (size_t)((nl ? nl : end) - p);

			if (!skipping && cx_buf_append(&line, p, part)) {
				skipping = true;
				cx_buf_reset(&line);
			}
			if (nl) {
				if (skipping) {
					char msg[128];
					snprintf(msg, sizeof(msg),
						 "invalid request: message larger than %ld bytes",
						 conf->max_body_bytes);
					write_error(t, CX_RPC_INVALID_REQUEST, msg);
				} else {
					handle_line(t, line.data ? line.data : "", line.len);
				}
				skipping = false;
				cx_buf_reset(&line);
			}
			p += part + (nl ? 1 : 0);
		}
	}

	cx_buf_release(&line);
}
