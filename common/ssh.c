/* One command over SSH on libssh2 in non-blocking mode: every libssh2 call that would block
 * returns LIBSSH2_ERROR_EAGAIN and the loop waits on the socket for at most CX_SSH_SLICE_MS,
 * checking the call's cancellation and the stage's deadline between waits. Host keys are
 * checked in ssh_known_hosts.c. */
#include "ssh.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>
#include <openssl/evp.h>

#include "ssh_impl.h"
#include "util.h"

#define READ_CHUNK 16384

struct conn {
	const struct cx_ssh_target *t;
	const struct cx_call *call;
	int sock;
	LIBSSH2_SESSION *s;
	LIBSSH2_CHANNEL *ch;
	struct ssh_known known;
	char name[300];    /* the known_hosts name: "10.0.0.11", "[10.0.0.11]:2222" */
	char where[320];   /* "pve1 (10.0.0.11)" for messages */
	int64_t deadline;  /* of the current stage, cx_now_ms() clock */
	long limit_ms;     /* the stage's own limit, for messages */
	bool call_bounds;  /* the call's deadline comes before the stage's limit */
	bool command;      /* the stage is the command (not the connection) */
	bool known_loaded; /* known must be released */
	bool running;      /* the command started and its channel is not closed */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void global_init(void)
{
	init_rc = libssh2_init(0) ? -1 : 0;
}

int cx_ssh_global_init(void)
{
	pthread_once(&init_once, global_init);
	return init_rc;
}

static int fail(struct cx_err *err, enum cx_ssh_failure code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cx_err *err, enum cx_ssh_failure code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return -1;
}

/* libssh2's own message for the last failure (static text: never key material). */
static const char *ssh_reason(struct conn *c)
{
	char *msg = NULL;

	libssh2_session_last_error(c->s, &msg, NULL, 0);
	return msg && *msg ? msg : "no reason given";
}

static void stage(struct conn *c, long limit_ms, bool command)
{
	int64_t now = cx_now_ms();

	c->limit_ms = limit_ms;
	c->deadline = now + limit_ms;
	c->command = command;
	c->call_bounds = false;
	if (c->call && c->call->deadline_ms > 0 && c->call->deadline_ms < c->deadline) {
		c->deadline = c->call->deadline_ms;
		c->call_bounds = true;
	}
}

/* 0 when the stage may go on, else -1 with the sentence: cancelled, or out of time. */
static int check_time(struct conn *c, struct cx_err *err)
{
	if ((c->call && cx_call_cancelled(c->call)) ||
	    (c->call_bounds && cx_now_ms() >= c->deadline))
		return fail(err, CX_SSH_CANCELLED,
			    "the call was cancelled or reached its deadline; the connection to "
			    "%s was closed",
			    c->where);
	if (cx_now_ms() < c->deadline)
		return 0;
	if (c->command)
		return fail(
			err, CX_SSH_TIMEOUT,
			"the command did not finish within %ld ms on %s; its channel was closed",
			c->limit_ms, c->where);
	return fail(err, CX_SSH_CONNECT, "%s did not complete the SSH connection within %ld ms",
		    c->where, c->limit_ms);
}

/* Waits until the socket is ready the way libssh2 (or events, when non-zero) needs, or a
 * slice has passed. 0 to try again, -1 with err when the stage must end. */
static int wait_io(struct conn *c, short events, struct cx_err *err)
{
	struct pollfd p = { .fd = c->sock };
	int64_t left;

	if (check_time(c, err))
		return -1;
	if (!events && c->s) {
		int dirs = libssh2_session_block_directions(c->s);
		events = (short)(((dirs & LIBSSH2_SESSION_BLOCK_INBOUND) ? POLLIN : 0) |
				 ((dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0));
	}
	p.events = events ? events : POLLIN;
	left = c->deadline - cx_now_ms();
	poll(&p, 1, (int)(left < CX_SSH_SLICE_MS ? (left > 0 ? left : 0) : CX_SSH_SLICE_MS));
	return 0;
}

static int try_address(struct conn *c, const struct addrinfo *ai, struct cx_err *err)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	c->sock = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 ai->ai_protocol);
	if (c->sock < 0)
		return fail(err, CX_SSH_CONNECT, "could not connect to %s: %s", c->where,
			    strerror(errno));
	if (connect(c->sock, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		soerr = errno;
	while (!soerr) {
		struct pollfd p = { .fd = c->sock, .events = POLLOUT };
		if (check_time(c, err))
			return -1;
		if (poll(&p, 1, CX_SSH_SLICE_MS) > 0) {
			if (getsockopt(c->sock, SOL_SOCKET, SO_ERROR, &soerr, &len))
				soerr = errno;
			if (!soerr)
				return 0;
		}
	}
	close(c->sock);
	c->sock = -1;
	return fail(err, CX_SSH_CONNECT, "could not connect to %s: %s", c->where, strerror(soerr));
}

/* Name resolution is not bounded by the deadline (getaddrinfo blocks): give addresses. */
static int tcp_connect(struct conn *c, struct cx_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV },
			*res = NULL, *ai;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", c->t->port);
	rc = getaddrinfo(c->t->address, port, &hints, &res);
	if (rc)
		return fail(err, CX_SSH_CONNECT, "could not resolve %s: %s", c->where,
			    gai_strerror(rc));
	rc = -1;
	for (ai = res; ai && rc; ai = ai->ai_next) {
		rc = try_address(c, ai, err);
		if (rc && (!err || err->code == CX_SSH_CANCELLED || cx_now_ms() >= c->deadline))
			break; /* out of time: no other address */
	}
	freeaddrinfo(res);
	return rc;
}

static int open_session(struct conn *c, struct cx_err *err)
{
	char algs[256];

	c->s = libssh2_session_init_ex(NULL, NULL, NULL, NULL);
	if (!c->s)
		return fail(err, CX_SSH_CONNECT, "out of memory");
	libssh2_session_set_blocking(c->s, 0);
	if (ssh_known_load(c->s, c->t->known_hosts, &c->known, err)) {
		if (err)
			err->code = CX_SSH_HOSTKEY;
		return -1;
	}
	c->known_loaded = true;
	ssh_known_algorithms(c->s, &c->known, c->name, algs, sizeof(algs));
	if (*algs && libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, algs))
		return fail(err, CX_SSH_CONNECT, "libssh2 refused the host key algorithms %s",
			    algs);
	return 0;
}

static int handshake(struct conn *c, struct cx_err *err)
{
	int rc;

	while ((rc = libssh2_session_handshake(c->s, c->sock)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	if (rc)
		return fail(err, CX_SSH_CONNECT, "the SSH handshake with %s failed: %s", c->where,
			    ssh_reason(c));
	return 0;
}

/* "SHA256:..." as OpenSSH prints it (base64 without padding). */
static void fingerprint(struct conn *c, char *out, size_t outlen)
{
	const unsigned char *h =
		(const unsigned char *)libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	unsigned char b64[48];
	int n;

	if (!h) {
		cx_fmt(out, outlen, "(no fingerprint)");
		return;
	}
	n = EVP_EncodeBlock(b64, h, 32);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	cx_fmt(out, outlen, "SHA256:%s", (const char *)b64);
}

static int verify_host(struct conn *c, struct cx_err *err)
{
	const char *name = c->name, *alg;
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(c->s, &len, &type);
	char fp[64];

	if (!key)
		return fail(err, CX_SSH_HOSTKEY, "%s showed no host key", c->where);
	fingerprint(c, fp, sizeof(fp));
	alg = libssh2_session_methods(c->s, LIBSSH2_METHOD_HOSTKEY);
	alg = alg ? alg : "unknown";
	switch (ssh_known_check(&c->known, name, key, len, type)) {
	case SSH_KNOWN_MATCH:
		return 0;
	case SSH_KNOWN_MISMATCH:
		return fail(err, CX_SSH_HOSTKEY,
			    "refused: the host key of %s has CHANGED (it shows %s %s, known_hosts "
			    "'%s' lists another); a reinstalled node or someone in the middle: "
			    "verify the key on the node before replacing its line",
			    c->where, alg, fp, c->t->known_hosts);
	case SSH_KNOWN_REVOKED:
		return fail(err, CX_SSH_HOSTKEY,
			    "refused: the host key of %s (%s %s) is marked @revoked in known_hosts "
			    "'%s'",
			    c->where, alg, fp, c->t->known_hosts);
	case SSH_KNOWN_NOTFOUND:
		return fail(err, CX_SSH_HOSTKEY,
			    "refused: %s is not in known_hosts '%s' (it shows %s %s); verify that "
			    "fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
			    "then add the key under the name '%s' (ssh-keyscan)",
			    c->where, c->t->known_hosts, alg, fp, name);
	default:
		return fail(err, CX_SSH_HOSTKEY,
			    "refused: the host key of %s (%s %s) could not be checked against "
			    "known_hosts '%s'",
			    c->where, alg, fp, c->t->known_hosts);
	}
}

static int authenticate(struct conn *c, struct cx_err *err)
{
	const struct cx_ssh_target *t = c->t;
	const char *pass =
		t->passphrase && t->passphrase->len ? (const char *)t->passphrase->data : NULL;
	int rc;

	while ((rc = libssh2_userauth_publickey_frommemory(c->s, t->user, strlen(t->user), NULL, 0,
							   (const char *)t->key->data, t->key->len,
							   pass)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	if (!rc)
		return 0;
	if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
		return fail(err, CX_SSH_AUTH,
			    "%s refused the key for user '%s'; its public key must be in that "
			    "user's authorized_keys on the node",
			    c->where, t->user);
	return fail(err, CX_SSH_AUTH,
		    "the private key could not be used with %s (a wrong passphrase, or a key "
		    "type the server or libssh2 %s does not accept): %s",
		    c->where, LIBSSH2_VERSION, ssh_reason(c));
}

static int start_command(struct conn *c, const char *command, struct cx_err *err)
{
	int rc;

	while (!(c->ch = libssh2_channel_open_session(c->s))) {
		if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_EAGAIN)
			return fail(err, CX_SSH_PROTOCOL, "%s refused a session channel: %s",
				    c->where, ssh_reason(c));
		if (wait_io(c, 0, err))
			return -1;
	}
	while ((rc = libssh2_channel_exec(c->ch, command)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	if (rc)
		return fail(err, CX_SSH_PROTOCOL, "%s did not start the command: %s", c->where,
			    ssh_reason(c));
	c->running = true;
	/* Nothing comes on stdin: a command that reads it sees its end at once. */
	while ((rc = libssh2_channel_send_eof(c->ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	return 0;
}

/* Reads what stream has now: 1 when something came, 0 when nothing (EAGAIN), -1 on failure. */
static int drain(struct conn *c, int stream, struct cx_buf *b, bool *truncated, struct cx_err *err)
{
	char chunk[READ_CHUNK];
	int got = 0;

	for (;;) {
		ssize_t n = libssh2_channel_read_ex(c->ch, stream, chunk, sizeof(chunk));

		if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
			return got;
		if (n < 0)
			return fail(err, CX_SSH_PROTOCOL,
				    "reading the command's output from %s "
				    "failed: %s",
				    c->where, ssh_reason(c));
		got = 1;
		size_t room = b->max - b->len, keep = (size_t)n < room ? (size_t)n : room;
		if (keep && cx_buf_append(b, chunk, keep))
			return fail(err, CX_SSH_PROTOCOL, "out of memory");
		if (keep < (size_t)n)
			*truncated = true;
	}
}

static int read_output(struct conn *c, struct cx_ssh_output *o, struct cx_err *err)
{
	for (;;) {
		int a = drain(c, 0, &o->out, &o->out_truncated, err);
		int b = a < 0 ? -1
			      : drain(c, SSH_EXTENDED_DATA_STDERR, &o->err, &o->err_truncated, err);

		if (a < 0 || b < 0)
			return -1;
		if (libssh2_channel_eof(c->ch))
			return 0;
		if (!a && !b && wait_io(c, 0, err))
			return -1;
		if (a || b) {
			if (check_time(c, err))
				return -1;
		}
	}
}

/* After the end of output: close the channel and collect the exit status or signal. */
static int finish(struct conn *c, struct cx_ssh_output *o, struct cx_err *err)
{
	char *sig = NULL;
	size_t siglen = 0;
	int rc;

	c->running = false; /* the command has ended: nothing to stop */
	while ((rc = libssh2_channel_close(c->ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	while ((rc = libssh2_channel_wait_closed(c->ch)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, 0, err))
			return -1;
	libssh2_channel_get_exit_signal(c->ch, &sig, &siglen, NULL, NULL, NULL, NULL);
	if (sig && siglen) {
		cx_fmt(o->exit_signal, sizeof(o->exit_signal), "%.*s", (int)siglen, sig);
		o->exit_status = -1;
	} else {
		o->exit_status = libssh2_channel_get_exit_status(c->ch);
	}
	if (sig)
		libssh2_free(c->s, sig);
	return 0;
}

/* Never waits: the server sees the channel and the connection end at once (what can be sent
 * without blocking is sent, then the socket is shut down, so libssh2 fails fast instead of
 * waiting for an answer). */
static void teardown(struct conn *c)
{
	/* A command still running goes on after its channel closes (no terminal, so no hangup).
	 * libssh2 1.11 can ask sshd to end it with the "signal" request (RFC 4254 6.9), which
	 * OpenSSH sends to the command's process group; one try, no answer awaited. libssh2
	 * 1.10 cannot send it on a channel that ran exec. */
#if LIBSSH2_VERSION_NUM >= 0x010b00
	if (c->ch && c->running)
		libssh2_channel_signal_ex(c->ch, "TERM", 4);
#endif
	if (c->ch)
		libssh2_channel_close(c->ch);
	if (c->s && c->sock >= 0)
		libssh2_session_disconnect(c->s, "done");
	if (c->sock >= 0)
		shutdown(c->sock, SHUT_RDWR);
	for (int i = 0; c->ch && i < 100; i++)
		if (libssh2_channel_free(c->ch) != LIBSSH2_ERROR_EAGAIN)
			c->ch = NULL;
	if (c->known_loaded)
		ssh_known_release(&c->known);
	for (int i = 0; c->s && i < 100; i++)
		if (libssh2_session_free(c->s) != LIBSSH2_ERROR_EAGAIN)
			c->s = NULL;
	if (c->sock >= 0)
		close(c->sock);
}

int cx_ssh_exec(const struct cx_ssh_target *t, const char *command, const struct cx_call *call,
		const struct cx_ssh_limits *lim, struct cx_ssh_output *out, struct cx_err *err)
{
	struct conn c = { .t = t, .call = call, .sock = -1 };
	int64_t start = cx_now_ms();
	int rc = -1;

	memset(out, 0, sizeof(*out));
	cx_buf_init(&out->out, lim->max_output);
	cx_buf_init(&out->err, lim->max_output);
	out->exit_status = -1;
	if (!cx_ssh_known_hosts_name(t->address, t->port, c.name, sizeof(c.name)) ||
	    !cx_fmt(c.where, sizeof(c.where), "%s (%s)", t->name, c.name))
		return fail(err, CX_SSH_CONNECT, "the address of %s is too long", t->name);
	if (cx_ssh_global_init())
		return fail(err, CX_SSH_CONNECT, "libssh2 could not start");
	stage(&c, lim->connect_timeout_ms, false);
	if (open_session(&c, err) || tcp_connect(&c, err) || handshake(&c, err) ||
	    verify_host(&c, err) || authenticate(&c, err))
		goto out;
	stage(&c, lim->timeout_ms, true);
	if (start_command(&c, command, err) || read_output(&c, out, err) || finish(&c, out, err))
		goto out;
	rc = 0;
out:
	teardown(&c);
	out->duration_ms = (long)(cx_now_ms() - start);
	return rc;
}

void cx_ssh_output_release(struct cx_ssh_output *out)
{
	cx_buf_release(&out->out);
	cx_buf_release(&out->err);
}
