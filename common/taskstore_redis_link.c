/* Reaching Redis for the task store: the address and credentials from the config, a pool of
 * blocking hiredis connections shared by the store's callers, reconnection with backoff, Lua
 * scripts by EVALSHA, and the pub/sub thread behind cx_task_watch.
 *
 * An outage is an answer, not a crash: every failure to reach Redis (refused, reset, no answer
 * in time, Redis still loading its data) becomes "task store unreachable: ...; tasks are safe,
 * retry in a moment", and after a failed connect the store waits a backoff (50 ms doubling to
 * 1 s) before trying again, failing callers at once meanwhile. A connection that broke is
 * closed with every idle one (they went to the same server), so the next caller connects
 * afresh: the store recovers by itself when Redis is back. */
#include "taskstore_redis.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define BACKOFF_MIN 50
#define BACKOFF_MAX 1000
#define TRAILER     "; tasks are safe, retry in a moment"

static int unreachable(struct cx_rs_link *l, const char *why, struct cx_err *err)
{
	return cx_err_set(err, "task store unreachable: %s: %s" TRAILER, l->where, why);
}

/* "redis://[user@]host[:port][/db]"; a password in the URL is refused (secrets are
 * references, never inline). */
static int parse_url(struct cx_rs_link *l, const char *url, struct cx_err *err)
{
	const char *p, *at, *slash, *colon, *host_end;
	long v;
	char buf[16];

	/* Not quoted: it may hold a password. */
	if (strncmp(url, "rediss://", 9) == 0)
		return cx_err_set(err, "tasks.url: rediss:// (TLS) is not built in (hiredis 0.14); "
				       "run a local TLS tunnel and give its redis:// end (see the "
				       "README)");
	if (strncmp(url, "redis://", 8) != 0)
		return cx_err_set(err, "tasks.url must be redis://host:port/db");
	p = url + 8;
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at) {
		if (memchr(p, ':', (size_t)(at - p)))
			return cx_err_set(err, "tasks.url: a password does not belong in the URL; "
					       "give it as \"password\": {\"env\": \"NAME\"} or "
					       "{\"file\": \"path\"}");
		if (at > p && !l->username)
			l->username = strndup(p, (size_t)(at - p));
		p = at + 1;
	}
	host_end = slash ? slash : p + strlen(p);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(host_end - p));

		if (!rb)
			return cx_err_set(err, "tasks.url: unclosed '[' in '%s'", url);
		l->host = strndup(p + 1, (size_t)(rb - p - 1));
		colon = rb + 1 < host_end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(host_end - p));
		l->host = strndup(p, (size_t)((colon ? colon : host_end) - p));
	}
	if (!l->host || !*l->host)
		return cx_err_set(err, "tasks.url: no host in '%s'", url);
	l->port = 6379;
	if (colon) {
		if ((size_t)(host_end - colon - 1) >= sizeof(buf))
			return cx_err_set(err, "tasks.url: bad port in '%s'", url);
		memcpy(buf, colon + 1, (size_t)(host_end - colon - 1));
		buf[host_end - colon - 1] = '\0';
		if (cx_parse_long(buf, 1, 65535, &v) != 0)
			return cx_err_set(err, "tasks.url: bad port in '%s'", url);
		l->port = (int)v;
	}
	l->db = 0;
	if (slash && slash[1] && cx_parse_long(slash + 1, 0, 1000000, &l->db) != 0)
		return cx_err_set(err, "tasks.url: bad database number in '%s'", url);
	return 0;
}

int cx_rs_link_init(struct cx_rs_link *l, const json_t *conf, struct cx_err *err)
{
	const json_t *v;

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	l->backoff_ms = BACKOFF_MIN;
	l->timeout_ms = 2000;
	v = json_object_get(conf, "username");
	if (v && !json_is_string(v))
		return cx_err_set(err, "tasks.username: must be a string");
	if (v)
		l->username = strdup(json_string_value(v));
	v = json_object_get(conf, "timeout_ms");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 10 || json_integer_value(v) > 600000))
		return cx_err_set(err, "tasks.timeout_ms: must be an integer from 10 to 600000");
	if (v)
		l->timeout_ms = (long)json_integer_value(v);
	v = json_object_get(conf, "url");
	if (v && !json_is_string(v))
		return cx_err_set(err,
				  "tasks.url: must be a string such as redis://127.0.0.1:6379/0");
	if (parse_url(l, v ? json_string_value(v) : "redis://127.0.0.1:6379/0", err) != 0)
		return -1;
	v = json_object_get(conf, "password");
	if (v && cx_secret_load(v, &l->password, "tasks.password", err) != 0)
		return -1;
	if (strchr(l->host, ':'))
		cx_fmt(l->where, sizeof(l->where), "redis [%s]:%d/%ld", l->host, l->port, l->db);
	else
		cx_fmt(l->where, sizeof(l->where), "redis %s:%d/%ld", l->host, l->port, l->db);
	return 0;
}

static void drain_idle(struct cx_rs_link *l)
{
	redisContext *idle[CX_RS_POOL_KEEP];
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->nidle;
	memcpy(idle, l->idle, n * sizeof(idle[0]));
	l->nidle = 0;
	pthread_mutex_unlock(&l->mu);
	while (n > 0)
		redisFree(idle[--n]);
}

void cx_rs_link_release(struct cx_rs_link *l)
{
	drain_idle(l);
	free(l->host);
	free(l->username);
	cx_secret_release(&l->password);
	pthread_mutex_destroy(&l->mu);
}

void cx_rs_set_timeout(redisContext *c, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	redisSetTimeout(c, tv);
}

/* Why c failed, in words a person can act on. */
static const char *why(struct cx_rs_link *l, redisContext *c, char *buf, size_t len)
{
	if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
				       strstr(c->errstr, "temporarily unavailable")))
		cx_fmt(buf, len, "no answer within %ld ms", l->timeout_ms);
	else if (c->err == REDIS_ERR_EOF || !c->errstr[0])
		cx_fmt(buf, len, "connection closed by the server");
	else
		cx_fmt(buf, len, "%s", c->errstr);
	return buf;
}

int cx_rs_fail(struct cx_rs_link *l, redisContext *c, struct cx_err *err)
{
	char buf[160];

	if (!c->err) {
		c->err = REDIS_ERR_OTHER;
		cx_fmt(c->errstr, sizeof(c->errstr), "protocol error");
	}
	/* The idle connections went to the same server; none is worth trying now. */
	drain_idle(l);
	return unreachable(l, why(l, c, buf, sizeof(buf)), err);
}

/* A command's raw reply, error replies included; NULL (c failed) with err. A missing
 * consumer group (the keys flushed under the store) retires c, so that the next connection's
 * prepare makes the groups again. */
static redisReply *cmd_raw(struct cx_rs_link *l, redisContext *c, int argc, const char **argv,
			   const size_t *lens, struct cx_err *err)
{
	redisReply *r = redisCommandArgv(c, argc, argv, lens);

	if (!r)
		cx_rs_fail(l, c, err);
	else if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOGROUP")) {
		c->err = REDIS_ERR_OTHER;
		drain_idle(l);
	}
	return r;
}

int cx_rs_reply_error(struct cx_rs_link *l, redisReply *r, struct cx_err *err)
{
	static const char *const transient[] = { "LOADING",  "BUSY",        "MASTERDOWN",
						 "TRYAGAIN", "CLUSTERDOWN", NULL };
	size_t i;

	for (i = 0; transient[i]; i++) {
		if (strncmp(r->str, transient[i], strlen(transient[i])) == 0) {
			unreachable(l, r->str, err);
			freeReplyObject(r);
			return -1;
		}
	}
	cx_err_set(err, "task store refused the command: %.300s", r->str);
	freeReplyObject(r);
	return -1;
}

redisReply *cx_rs_cmd(struct cx_rs_link *l, redisContext *c, int argc, const char **argv,
		      const size_t *lens, struct cx_err *err)
{
	redisReply *r = cmd_raw(l, c, argc, argv, lens, err);

	if (r && r->type == REDIS_REPLY_ERROR) {
		cx_rs_reply_error(l, r, err);
		return NULL;
	}
	return r;
}

redisReply *cx_rs_cmd1(struct cx_rs_link *l, int argc, const char **argv, const size_t *lens,
		       struct cx_err *err)
{
	redisContext *c = cx_rs_acquire(l, err);
	redisReply *r;

	if (!c)
		return NULL;
	r = cx_rs_cmd(l, c, argc, argv, lens, err);
	cx_rs_put(l, c);
	return r;
}

static int authenticate(struct cx_rs_link *l, redisContext *c, struct cx_err *err)
{
	const char *argv[3] = { "AUTH" };
	size_t lens[3] = { 4 };
	int argc = 1;
	redisReply *r;

	if (l->username) {
		argv[argc] = l->username;
		lens[argc++] = strlen(l->username);
	}
	argv[argc] = (const char *)l->password.data;
	lens[argc++] = l->password.len;
	r = cmd_raw(l, c, argc, argv, lens, err);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		/* The reply never repeats the password, but say what it means rather than quote. */
		cx_err_set(err,
			   "task store refused the credentials (%s): %s; check tasks.password%s",
			   l->where,
			   strncmp(r->str, "WRONGPASS", 9) == 0 ? "wrong user name or password"
								: "authentication failed",
			   l->username ? " and tasks.username" : "");
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

redisContext *cx_rs_connect(struct cx_rs_link *l, struct cx_err *err)
{
	struct timeval tv = { l->timeout_ms / 1000, (l->timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(l->host, l->port, tv);
	redisReply *r;
	char db[24], buf[160];
	const char *argv[2] = { "SELECT", db };

	if (!c) {
		unreachable(l, "out of memory", err);
		return NULL;
	}
	if (c->err) {
		unreachable(l, why(l, c, buf, sizeof(buf)), err);
		goto fail;
	}
	redisSetTimeout(c, tv);
	redisEnableKeepAlive(c);
	if (l->password.data && authenticate(l, c, err) != 0)
		goto fail;
	if (l->db != 0) {
		snprintf(db, sizeof(db), "%ld", l->db);
		r = cx_rs_cmd(l, c, 2, argv, NULL, err);
		if (!r)
			goto fail;
		freeReplyObject(r);
	}
	if (l->prepare && l->prepare(c, l->prepare_ctx, err) != 0)
		goto fail;
	return c;
fail:
	redisFree(c);
	return NULL;
}

/* An idle connection has nothing to read; readable means the server closed it (restarted). */
static bool looks_alive(redisContext *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return !c->err && poll(&p, 1, 0) == 0;
}

redisContext *cx_rs_acquire(struct cx_rs_link *l, struct cx_err *err)
{
	redisContext *c;
	int64_t now;
	struct cx_err e = { 0 };

	pthread_mutex_lock(&l->mu);
	while (l->nidle > 0) {
		c = l->idle[--l->nidle];
		pthread_mutex_unlock(&l->mu);
		if (looks_alive(c))
			return c;
		redisFree(c);
		pthread_mutex_lock(&l->mu);
	}
	now = cx_now_ms();
	if (now < l->retry_at) {
		cx_err_set(err, "%s", l->down);
		pthread_mutex_unlock(&l->mu);
		return NULL;
	}
	pthread_mutex_unlock(&l->mu);
	c = cx_rs_connect(l, &e);
	pthread_mutex_lock(&l->mu);
	if (c) {
		l->backoff_ms = BACKOFF_MIN;
		l->retry_at = 0;
	} else {
		l->retry_at = cx_now_ms() + l->backoff_ms;
		l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX : l->backoff_ms * 2;
		cx_fmt(l->down, sizeof(l->down), "%s", e.msg);
		cx_err_set(err, "%s", e.msg);
	}
	pthread_mutex_unlock(&l->mu);
	return c;
}

void cx_rs_put(struct cx_rs_link *l, redisContext *c)
{
	if (!c)
		return;
	if (!c->err) {
		pthread_mutex_lock(&l->mu);
		if (l->nidle < CX_RS_POOL_KEEP) {
			l->idle[l->nidle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&l->mu);
	}
	if (c)
		redisFree(c);
}

/* ---- scripts ---- */

void cx_rs_script_init(struct cx_rs_script *sc)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(sc->body, strlen(sc->body), md, &n, EVP_sha1(), NULL);
	for (i = 0; i < n && i < 20; i++)
		snprintf(sc->sha + 2 * i, 3, "%02x", md[i]);
}

redisReply *cx_rs_eval(struct cx_rs_link *l, redisContext *c, const struct cx_rs_script *sc,
		       int nkeys, const char **keys, int nargs, const char **args,
		       const size_t *arglens, struct cx_err *err)
{
	int argc = 3 + nkeys + nargs, i;
	const char **argv = calloc((size_t)argc, sizeof(*argv));
	size_t *lens = calloc((size_t)argc, sizeof(*lens));
	char nk[16];
	redisReply *r = NULL;

	if (!argv || !lens) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sc->sha;
	argv[2] = nk;
	for (i = 0; i < nkeys; i++)
		argv[3 + i] = keys[i];
	for (i = 0; i < nargs; i++)
		argv[3 + nkeys + i] = args[i];
	for (i = 0; i < argc; i++)
		lens[i] = i >= 3 + nkeys && arglens ? arglens[i - 3 - nkeys] : strlen(argv[i]);
	r = cmd_raw(l, c, argc, argv, lens, err);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argv[1] = sc->body;
		lens[0] = 4;
		lens[1] = strlen(sc->body);
		r = cmd_raw(l, c, argc, argv, lens, err);
	}
	if (r && r->type == REDIS_REPLY_ERROR) {
		cx_rs_reply_error(l, r, err);
		r = NULL;
	}
out:
	free(argv);
	free(lens);
	return r;
}

/* ---- the subscriber ---- */

/* Waits ms for a stop; true when asked to stop. */
static bool wait_stop(struct cx_rs_watcher *w, int ms)
{
	struct pollfd p = { .fd = w->stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

static void on_message(struct cx_rs_watcher *w, redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0)
		__atomic_store_n(&w->subscribed, true, __ATOMIC_RELEASE);
	else if (strcmp(r->element[0]->str, "message") == 0 &&
		 r->element[2]->type == REDIS_REPLY_STRING && cx_task_id_valid(r->element[2]->str))
		cx_task_store_notify(w->store, r->element[2]->str);
}

/* Reads messages on c until it fails (false) or a stop is asked (true). */
static bool listen(struct cx_rs_watcher *w, redisContext *c)
{
	struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
			       { .fd = w->stop_pipe[0], .events = POLLIN } };
	void *r;
	int done = 0;

	if (redisAppendCommand(c, "SUBSCRIBE %s", w->channel) != REDIS_OK)
		return false;
	while (!done) {
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return false;
	}
	for (;;) {
		while (redisGetReplyFromReader(c, &r) == REDIS_OK && r) {
			on_message(w, r);
			freeReplyObject(r);
		}
		if (c->err)
			return false;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return false;
		if (p[1].revents)
			return true;
		if (p[0].revents && redisBufferRead(c) != REDIS_OK)
			return false;
	}
}

static void *watch_main(void *arg)
{
	struct cx_rs_watcher *w = arg;
	struct cx_err err;
	redisContext *c;
	int backoff = BACKOFF_MIN;
	bool stop = false;

	while (!stop) {
		c = cx_rs_connect(w->link, &err);
		if (!c) {
			stop = wait_stop(w, backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			continue;
		}
		backoff = BACKOFF_MIN;
		stop = listen(w, c);
		redisFree(c);
		if (!stop)
			stop = wait_stop(w, BACKOFF_MIN);
	}
	return NULL;
}

int cx_rs_watch_start(struct cx_rs_watcher *w, struct cx_err *err)
{
	if (w->running)
		return 0;
	if (pipe(w->stop_pipe) != 0)
		return cx_err_set(err, "task store watch: pipe: %s", strerror(errno));
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		close(w->stop_pipe[0]);
		close(w->stop_pipe[1]);
		return cx_err_set(err, "task store watch: cannot start a thread");
	}
	w->running = true;
	return 0;
}

void cx_rs_watch_stop(struct cx_rs_watcher *w)
{
	ssize_t n;

	if (!w->running)
		return;
	n = write(w->stop_pipe[1], "x", 1);
	(void)n;
	pthread_join(w->thread, NULL);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	w->running = false;
	w->subscribed = false;
}
