/* Ended sessions shared by the gateways of one deployment (http.ended_sessions_shared; see
 * revoke_share.h). Sessions are sealed ids every replica with the same http.session_key
 * accepts, so a DELETE answered by one replica must reach the others: each change revoke.c
 * makes is added, as its JSON lines, to a Redis stream beside the tasks
 *
 *   P ended-sessions   stream of {line: one or two lines of revoke.c's format}, trimmed
 *                      (MINID ~) to the entries of the last http.session_ttl_s seconds
 *
 * before DELETE answers, and every replica reads the stream from its start when it starts
 * (before it listens) and then follows it (XREAD BLOCK on a connection of its own), applying
 * every line through cx_session_revoked_apply — its own lines too, which change nothing.
 * Lines that could not be added (Redis down) wait in an outbox, in order, and are added as
 * one entry as soon as Redis answers again: the follower tries at each reconnection and each
 * turn of its read, a later change tries first. The lines only end sessions or move a
 * token's "not before" forward, so adding them late, or twice, ends nothing wrongly. */
#include "revoke_share.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/taskstore_redis.h"
#include "../common/util.h"
#include "revoke.h"

#define READ_COUNT  "512"
#define BLOCK_MS    10000
#define BACKOFF_MIN 100
#define BACKOFF_MAX 5000
#define OUTBOX_MAX  (4u << 20) /* bytes of lines kept while Redis is down */

static struct {
	struct cx_rs_link link;
	char key[CX_RS_KEY_MAX];
	int64_t ttl_ms;
	char last[64]; /* the last entry applied ("0-0": none); the reader's alone once started */
	pthread_mutex_t mu;
	void (*ended)(const char *fp, void *ctx);
	void *ctx;
	int stop_pipe[2];
	pthread_t thread;
	bool running;
	bool linked;
	unsigned long applied; /* lines heard and applied, for the log */
	/* The outbox: lines not added yet, each ending with '\n', oldest first. */
	pthread_mutex_t out_mu;
	struct cx_buf out;
	unsigned long out_lost; /* lines past OUTBOX_MAX, never to be shared */
} sh = { .mu = PTHREAD_MUTEX_INITIALIZER,
	 .out_mu = PTHREAD_MUTEX_INITIALIZER,
	 .out = CX_BUF_INIT(OUTBOX_MAX),
	 .stop_pipe = { -1, -1 } };

/* XADD of lines as one entry; entries older than a session's lifetime (stream ids are
 * Redis's wall-clock milliseconds) are trimmed on the way. 0, or -1 with err. */
static int add(const char *lines, size_t len, struct cx_err *err)
{
	char minid[32];
	const char *argv[] = { "XADD", sh.key, "MINID", "~", minid, "*", "line", lines };
	size_t lens[] = { 4, strlen(sh.key), 5, 1, 0, 1, 4, len };
	redisReply *r;

	snprintf(minid, sizeof(minid), "%lld", (long long)(cx_task_now_ms() - sh.ttl_ms));
	lens[4] = strlen(minid);
	r = cx_rs_cmd1(&sh.link, 8, argv, lens, err);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

static size_t count_lines(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

/* With out_mu held: lines into the outbox, ending with '\n' (past OUTBOX_MAX: counted as
 * lost). */
static void keep_locked(const char *lines, size_t len)
{
	bool nl;

	if (!len)
		return;
	nl = lines[len - 1] != '\n';
	if (len + nl > sh.out.max - sh.out.len || cx_buf_reserve(&sh.out, len + nl) ||
	    cx_buf_append(&sh.out, lines, len) || (nl && cx_buf_append(&sh.out, "\n", 1)))
		sh.out_lost += count_lines(lines, len) + nl;
}

/* Adds what waits in the outbox, if anything (from the follower, or before a new change). */
static void send_outbox(void)
{
	struct cx_err err = { 0 };

	pthread_mutex_lock(&sh.out_mu);
	if (sh.out.len && add(sh.out.data, sh.out.len, &err) == 0) {
		cx_info("sessions: %zu line(s) of ended sessions kept while the other gateways "
			"could not be told are shared now",
			count_lines(sh.out.data, sh.out.len));
		cx_buf_reset(&sh.out);
	}
	pthread_mutex_unlock(&sh.out_mu);
}

/* A change's lines, added before DELETE answers (after any lines still in the outbox), or
 * kept in the outbox until Redis answers again. */
static void publish(const char *lines, size_t len)
{
	struct cx_err err = { 0 };
	bool waiting;

	pthread_mutex_lock(&sh.out_mu);
	waiting = sh.out.len > 0;
	if (waiting)
		keep_locked(lines, len); /* after the older ones, in order */
	pthread_mutex_unlock(&sh.out_mu);
	if (waiting) {
		send_outbox();
		return;
	}
	if (add(lines, len, &err) == 0)
		return;
	cx_error("sessions: could not share the end of a session with the other gateways (%s); "
		 "they accept it until it is shared, as soon as %s answers again",
		 err.msg, sh.link.where);
	pthread_mutex_lock(&sh.out_mu);
	keep_locked(lines, len);
	pthread_mutex_unlock(&sh.out_mu);
}

/* Applies the lines of one stream entry ([id, [field, value, ...]]); tells the listener of
 * each session ended by fingerprint. */
static void apply_entry(const redisReply *e)
{
	const redisReply *f;
	void (*ended)(const char *fp, void *ctx);
	void *ctx;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	cx_fmt(sh.last, sizeof(sh.last), "%s", e->element[0]->str);
	f = e->element[1];
	pthread_mutex_lock(&sh.mu);
	ended = sh.ended;
	ctx = sh.ctx;
	pthread_mutex_unlock(&sh.mu);
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const char *p, *end, *nl;

		if (f->element[i]->type != REDIS_REPLY_STRING ||
		    strcmp(f->element[i]->str, "line") ||
		    f->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		p = f->element[i + 1]->str;
		end = p + f->element[i + 1]->len;
		for (; p < end; p = nl + 1) {
			char fp[17];

			nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				nl = end;
			if (nl == p || !cx_session_revoked_apply(p, (size_t)(nl - p), fp))
				continue;
			sh.applied++;
			if (ended && fp[0])
				ended(fp, ctx);
		}
	}
}

/* Applies an XREAD reply ([[key, [entry...]]], or nil when nothing came). */
static void apply_read(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i];

		if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
		    s->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		for (size_t j = 0; j < s->element[1]->elements; j++)
			apply_entry(s->element[1]->element[j]);
	}
}

/* Reads everything after sh.last on c, without waiting. 0, or -1 with err. */
static int catch_up(redisContext *c, struct cx_err *err)
{
	for (;;) {
		const char *argv[] = { "XREAD", "COUNT", READ_COUNT, "STREAMS", sh.key, sh.last };
		redisReply *r = cx_rs_cmd(&sh.link, c, 6, argv, NULL, err);
		bool more;

		if (!r)
			return -1;
		more = r->type == REDIS_REPLY_ARRAY;
		apply_read(r);
		freeReplyObject(r);
		if (!more)
			return 0;
	}
}

static bool wait_stop(int ms)
{
	struct pollfd p = { .fd = sh.stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* Follows the stream on c until it fails (false) or a stop is asked (true). */
static bool follow(redisContext *c)
{
	struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
			       { .fd = sh.stop_pipe[0], .events = POLLIN } };

	for (;;) {
		char block[16];
		const char *argv[] = { "XREAD", "COUNT",   READ_COUNT, "BLOCK",
				       block,   "STREAMS", sh.key,     sh.last };
		void *r = NULL;
		int done = 0, n;

		send_outbox();
		snprintf(block, sizeof(block), "%d", BLOCK_MS);
		if (redisAppendCommandArgv(c, 8, argv, NULL) != REDIS_OK)
			return false;
		while (!done) {
			if (redisBufferWrite(c, &done) != REDIS_OK)
				return false;
		}
		while (!r) {
			if (redisGetReplyFromReader(c, &r) != REDIS_OK)
				return false;
			if (r)
				break;
			n = poll(p, 2, BLOCK_MS + (int)sh.link.timeout_ms);
			if (n < 0 && errno != EINTR)
				return false;
			if (n == 0)
				return false; /* Redis did not answer in time: connect again */
			if (p[1].revents)
				return true;
			if (p[0].revents && redisBufferRead(c) != REDIS_OK)
				return false;
		}
		if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
			cx_warn("sessions: reading the shared ended sessions: %s",
				((redisReply *)r)->str);
			freeReplyObject(r);
			return false;
		}
		apply_read(r);
		freeReplyObject(r);
	}
}

static void *follow_main(void *arg)
{
	struct cx_err err;
	redisContext *c;
	int backoff = BACKOFF_MIN;
	bool stop = false, warned = false;

	(void)arg;
	while (!stop) {
		memset(&err, 0, sizeof(err));
		c = cx_rs_connect(&sh.link, &err);
		if (c && catch_up(c, &err)) {
			redisFree(c);
			c = NULL;
		}
		if (!c) {
			if (!warned)
				cx_warn("sessions: cannot follow the ended sessions of the other "
					"gateways: %s; trying again",
					err.msg);
			warned = true;
			stop = wait_stop(backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			continue;
		}
		if (warned)
			cx_info("sessions: following the ended sessions of the other gateways again");
		warned = false;
		backoff = BACKOFF_MIN;
		stop = follow(c);
		redisFree(c);
		if (!stop)
			stop = wait_stop(BACKOFF_MIN);
	}
	return NULL;
}

int cx_revoke_share_start(const json_t *tasks, int64_t ttl_s, struct cx_err *err)
{
	const char *prefix = json_string_value(json_object_get(tasks, "prefix"));
	struct cx_err cerr = { 0 };
	redisContext *c;

	if (sh.running)
		return cx_err_set(err, "already started");
	sh.linked = true; /* cx_rs_link_init leaves what cx_rs_link_release frees, also failing */
	if (cx_rs_link_init(&sh.link, tasks, err))
		goto fail;
	cx_fmt(sh.key, sizeof(sh.key), "%sended-sessions", prefix ? prefix : "cortex:");
	sh.ttl_ms = ttl_s * 1000;
	snprintf(sh.last, sizeof(sh.last), "0-0");
	/* What the others ended so far, before this gateway accepts any session. */
	c = cx_rs_connect(&sh.link, &cerr);
	if (c && catch_up(c, &cerr) == 0)
		cx_info("sessions: ended sessions shared with the other gateways through %s "
			"(key '%s'; %lu line(s) read)",
			sh.link.where, sh.key, sh.applied);
	else
		cx_warn("sessions: the ended sessions of the other gateways could not be read (%s); "
			"they are read as soon as %s answers",
			cerr.msg, sh.link.where);
	if (c)
		redisFree(c);
	if (pipe(sh.stop_pipe) != 0) {
		cx_err_set(err, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&sh.thread, NULL, follow_main, NULL) != 0) {
		cx_err_set(err, "cannot start a thread");
		goto fail;
	}
	sh.running = true;
	cx_session_revoked_on_change(publish);
	return 0;
fail:
	cx_revoke_share_stop();
	return -1;
}

void cx_revoke_share_on_ended(void (*fn)(const char *fp, void *ctx), void *ctx)
{
	pthread_mutex_lock(&sh.mu);
	sh.ended = fn;
	sh.ctx = ctx;
	pthread_mutex_unlock(&sh.mu);
}

void cx_revoke_share_stop(void)
{
	cx_session_revoked_on_change(NULL);
	cx_revoke_share_on_ended(NULL, NULL);
	if (sh.running) {
		(void)!write(sh.stop_pipe[1], "x", 1);
		pthread_join(sh.thread, NULL);
		sh.running = false;
	}
	for (int i = 0; i < 2; i++) {
		if (sh.stop_pipe[i] >= 0)
			close(sh.stop_pipe[i]);
		sh.stop_pipe[i] = -1;
	}
	pthread_mutex_lock(&sh.out_mu);
	if (sh.out.len || sh.out_lost)
		cx_warn("sessions: %zu line(s) of ended sessions were never shared with the other "
			"gateways (Redis did not answer); they accept those sessions until they "
			"expire",
			count_lines(sh.out.data, sh.out.len) + sh.out_lost);
	cx_buf_release(&sh.out);
	sh.out_lost = 0;
	pthread_mutex_unlock(&sh.out_mu);
	if (sh.linked)
		cx_rs_link_release(&sh.link);
	sh.linked = false;
	sh.applied = 0;
}
