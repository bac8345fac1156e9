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

struct stdio_transport {
	struct cx_server *server;
	int out_fd;
	struct cx_session session;      /* the one session of this connection */
	pthread_mutex_t lock;           /* out_fd writes and the counter */
	pthread_cond_t idle;
	size_t outstanding;             /* messages submitted and not yet answered */
	bool out_broken;
};

struct stdio_exchange {
	struct cx_exchange x;           /* first, so the callbacks recover the struct */
	struct stdio_transport *t;
};

static void write_all(struct stdio_transport *t, const char *p, size_t n)
{
	while (n && !t->out_broken) {
		ssize_t w = write(t->out_fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			cx_warn("stdio: could not write a reply: %s", strerror(errno));
			t->out_broken = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void stdio_reply(struct cx_exchange *x, json_t *response)
{
	struct stdio_exchange *se = (struct stdio_exchange *)x;
	struct stdio_transport *t = se->t;
	char *text = NULL;
	size_t len = 0;

	if (response) {
		text = cx_json_dumps(response, &len);
		json_decref(response);
		if (!text)
			cx_warn("stdio: out of memory serialising a reply");
	}
	free(se);
	pthread_mutex_lock(&t->lock);
	if (text) {
		/* One message per line: jansson's compact form never contains a raw newline. */
		text[len] = '\n';       /* replaces the NUL; length is explicit from here */
		write_all(t, text, len + 1);
	}
	if (--t->outstanding == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
	free(text);
}

/* One message as one line; steals msg. */
static int write_message(struct stdio_transport *t, json_t *msg)
{
	size_t len;
	char *text = msg ? cx_json_dumps(msg, &len) : NULL;
	bool ok;

	json_decref(msg);
	if (!text)
		return -1;
	text[len] = '\n';
	pthread_mutex_lock(&t->lock);
	write_all(t, text, len + 1);
	ok = !t->out_broken;
	pthread_mutex_unlock(&t->lock);
	free(text);
	return ok ? 0 : -1;
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
	json_t *e = cx_rpc_error(NULL, code, msg, NULL);
	size_t len;
	char *text = e ? cx_json_dumps(e, &len) : NULL;

	json_decref(e);
	if (!text)
		return;
	text[len] = '\n';
	pthread_mutex_lock(&t->lock);
	write_all(t, text, len + 1);
	pthread_mutex_unlock(&t->lock);
	free(text);
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

int cx_stdio_run(struct cx_server *s, int in_fd, int out_fd, volatile sig_atomic_t *stop)
{
	const struct cx_gw_config *conf = cx_server_config(s);
	struct stdio_transport t = { .server = s, .out_fd = out_fd };
	struct cx_buf line = CX_BUF_INIT((size_t)conf->max_body_bytes);
	char chunk[65536];
	bool skipping = false;          /* inside a line that passed the size limit */
	int rc = 0;

	cx_session_init(&t.session);
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.idle, NULL);
	/* The sink points into this frame: registered while the loop runs, removed after. */
	cx_server_add_push(s, stdio_push, &t);

	while (!*stop) {
		struct pollfd pfd = { .fd = in_fd, .events = POLLIN };
		int pr = poll(&pfd, 1, 250);
		ssize_t n;

		if (pr < 0 && errno != EINTR) {
			rc = cx_error("stdio: poll: %s", strerror(errno));
			break;
		}
		if (pr <= 0)
			continue;
		n = read(in_fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = cx_error("stdio: read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (line.len && !skipping)
				handle_line(&t, line.data, line.len);
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
					write_error(&t, CX_RPC_INVALID_REQUEST, msg);
				} else {
					handle_line(&t, line.data ? line.data : "", line.len);
				}
				skipping = false;
				cx_buf_reset(&line);
			}
			p += part + (nl ? 1 : 0);
		}
	}

	/* End of input or a stop signal: answer what is in flight, then return. */
	pthread_mutex_lock(&t.lock);
	while (t.outstanding)
		pthread_cond_wait(&t.idle, &t.lock);
	pthread_mutex_unlock(&t.lock);

	cx_server_remove_push(s, stdio_push, &t);
	cx_buf_release(&line);
	cx_session_release(&t.session);
	pthread_mutex_destroy(&t.lock);
	pthread_cond_destroy(&t.idle);
	return rc;
}
