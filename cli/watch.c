/* Following a task until it ends (task watch, task create --wait). Against a gateway, live:
 * a thread holds the session's GET stream open, the task's resource cortex://tasks/{id} is
 * subscribed, and each notifications/resources/updated for it makes the main thread read the
 * task again (cortex_get_task_status) and print what changed. A gateway that cannot stream
 * (or --local, which has no session) is polled instead. Ctrl-C (or SIGTERM) stops watching
 * within a quarter of a second, the task going on: the usual clean-up then ends the session
 * (DELETE), so the gateway does not keep it until it expires. */
#include "cortexctl.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/util.h"

#define OPEN_WAIT_MS    10000 /* for the GET stream to open */
#define LIVE_RECHECK_MS 30000 /* a read now and then even when nothing was heard */
#define POLL_MS         1000  /* without a stream */
#define REOPEN_PAUSE_MS 500
#define SLICE_MS        250 /* how soon a Ctrl-C is noticed */
#define CTL_INTERRUPTED 130 /* as the shell reports a command ended by SIGINT */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

struct listener {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cx_mcp_client *mcp;
	struct cx_mcp_cancel *cancel;
	char uri[192];
	bool started; /* the thread runs: cancel it and join it */
	pthread_t th;
	/* Guarded by mu. */
	bool open, failed;
	int rc;
	unsigned long updates;
	char err[256];
};

static void bump(struct listener *l, bool open)
{
	pthread_mutex_lock(&l->mu);
	l->open = open;
	l->updates++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static bool on_message(void *ctx, const json_t *msg)
{
	struct listener *l = ctx;
	const char *method = json_string_value(json_object_get(msg, "method"));
	const char *uri = json_string_value(json_object_get(json_object_get(msg, "params"), "uri"));

	if (!msg)
		bump(l, true);
	else if (method && !strcmp(method, "notifications/resources/updated") && uri &&
		 !strcmp(uri, l->uri))
		bump(l, true);
	return false;
}

/* Sleeps ms, in slices, until then or a Ctrl-C. */
static void sleep_ms(long ms)
{
	for (; ms > 0 && !interrupted; ms -= SLICE_MS) {
		long n = ms < SLICE_MS ? ms : SLICE_MS;
		struct timespec ts = { n / 1000, (n % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* The GET stream, opened again whenever the gateway ends it, until cancelled or refused. */
static void *listen_main(void *arg)
{
	struct listener *l = arg;
	struct cx_mcp_call_opts o = { .cancel = l->cancel };
	struct cx_err err = { 0 };
	int rc;

	for (;;) {
		rc = cx_mcp_listen(l->mcp, on_message, l, &o, &err);
		if (cx_mcp_cancelled(l->cancel))
			break;
		if (rc) {
			pthread_mutex_lock(&l->mu);
			l->failed = true;
			l->rc = rc;
			cx_fmt(l->err, sizeof(l->err), "%s", err.msg);
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
			break;
		}
		/* A change may have come while no stream was open: read the task again. */
		bump(l, false);
		sleep_ms(REOPEN_PAUSE_MS);
	}
	return NULL;
}

/* Waits until the update count passes seen or ms pass; the count. */
static unsigned long wait_update(struct listener *l, unsigned long seen, long ms)
{
	int64_t end = cx_now_ms() + ms;
	unsigned long now;

	pthread_mutex_lock(&l->mu);
	while (l->updates == seen && !l->failed && !interrupted) {
		int64_t left = end - cx_now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		cx_deadline_ts(CLOCK_REALTIME, left < SLICE_MS ? left : SLICE_MS, &ts);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	now = l->updates;
	pthread_mutex_unlock(&l->mu);
	return now;
}

/* True once the stream could not be opened again (the gateway restarted with another session
 * key, say): said on stderr, and the task is polled from then on. */
static bool listener_failed(struct listener *l)
{
	bool failed;

	pthread_mutex_lock(&l->mu);
	failed = l->failed;
	pthread_mutex_unlock(&l->mu);
	if (failed)
		ctl_fail(0, "live updates stopped (%s); checking every %d s", l->err,
			 POLL_MS / 1000);
	return failed;
}

/* Starts the listener and subscribes; false (said on stderr) when the task is to be polled.
 * *code is set when the gateway refused us outright. */
static bool go_live(struct listener *l, int *code)
{
	struct cx_err err = { 0 };
	json_t *p, *res = NULL;
	bool open, failed;
	int rc;

	if ((rc = cx_mcp_client_connect(l->mcp, &err))) {
		*code = ctl_fail(CTL_CONN, "%s", err.msg);
		return false;
	}
	if (pthread_create(&l->th, NULL, listen_main, l))
		return false;
	l->started = true;
	pthread_mutex_lock(&l->mu);
	open = l->open;
	failed = l->failed;
	pthread_mutex_unlock(&l->mu);
	if (!open && !failed)
		wait_update(l, 0, OPEN_WAIT_MS);
	pthread_mutex_lock(&l->mu);
	open = l->open;
	failed = l->failed;
	rc = l->rc;
	pthread_mutex_unlock(&l->mu);
	if (failed && rc == CX_MCP_E_AUTH) {
		*code = ctl_fail(CTL_CONN, "%s", l->err);
		return false;
	}
	if (!open) {
		ctl_fail(0, "live updates unavailable (%s); checking every %d s",
			 failed ? l->err : "the stream did not open", POLL_MS / 1000);
		return false;
	}
	p = json_pack("{s:s}", "uri", l->uri);
	if (!p)
		cx_err_set(&err, "out of memory");
	rc = p ? cx_mcp_request(l->mcp, "resources/subscribe", p, NULL, &res, &err) : -1;
	json_decref(p);
	json_decref(res);
	if (rc) {
		ctl_fail(0,
			 "live updates unavailable (resources/subscribe: %s); checking every %d s",
			 err.msg, POLL_MS / 1000);
		return false;
	}
	return true;
}

bool ctl_task_ended(const json_t *task)
{
	const char *s = ctl_str(task, "status", "");

	return !strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

void ctl_print_task_line(const json_t *t)
{
	const json_t *p = json_object_get(t, "progress");
	const json_t *pending = json_object_get(json_object_get(t, "approval"), "pending");
	char when[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	printf("%s  %-17s", when, ctl_str(t, "status", "?"));
	if (ctl_str(t, "worker", NULL))
		printf("  worker %s", ctl_str(t, "worker", ""));
	if (json_integer_value(json_object_get(p, "iterations")))
		printf("  step %lld",
		       (long long)json_integer_value(json_object_get(p, "iterations")));
	if (ctl_str(p, "current_action", NULL))
		printf("  %s", ctl_str(p, "current_action", ""));
	if (json_is_object(pending) && !strcmp(ctl_str(t, "status", ""), "awaiting_approval"))
		printf("  awaiting approval to run %s (cortexctl approve %s)",
		       ctl_str(pending, "tool", "?"), ctl_str(t, "id", "?"));
	if (ctl_str(json_object_get(t, "result"), "summary", NULL))
		printf("  result: %s", ctl_str(json_object_get(t, "result"), "summary", ""));
	if (ctl_str(t, "error", NULL))
		printf("  error: %s", ctl_str(t, "error", ""));
	putchar('\n');
}

/* The task now (a new reference), or NULL with *code set (printed). */
static json_t *read_task(struct ctl *c, json_t *args, int *code)
{
	json_t *result = NULL, *task;
	const json_t *sc;

	if ((*code = ctl_call(c, "cortex_get_task_status", args, &result)))
		return NULL;
	sc = ctl_structured(result, code);
	task = json_incref((json_t *)sc);
	json_decref(result);
	return task;
}

/* Prints task when it differs from *last (which it replaces); true when it ended. */
static bool show(json_t *task, char **last, bool json, bool quiet)
{
	char *now = json_dumps(task, JSON_COMPACT | JSON_SORT_KEYS);
	bool ended = ctl_task_ended(task);

	if (now && *last && !strcmp(now, *last)) {
		free(now);
		return ended;
	}
	free(*last);
	*last = now;
	if (quiet)
		return ended;
	if (json)
		puts(now ? now : "{}");
	else
		ctl_print_task_line(task);
	fflush(stdout);
	return ended;
}

/* Reads and prints until the task ends; the exit status. */
static int follow_loop(struct ctl *c, json_t *args, struct listener *l, bool live, bool json,
		       bool quiet)
{
	unsigned long seen = 0;
	char *last = NULL;
	json_t *task = NULL;
	int code = CTL_OK;

	for (;;) {
		json_decref(task);
		if (!(task = read_task(c, args, &code)))
			break;
		if (show(task, &last, json, quiet)) {
			if (quiet)
				ctl_print_json(json_incref(task));
			code = !strcmp(ctl_str(task, "status", ""), "completed") ? CTL_OK
										 : CTL_TOOL_ERROR;
			if (code && !json)
				ctl_fail(0, "task %s %s%s%s", ctl_str(task, "id", "?"),
					 ctl_str(task, "status", "?"),
					 ctl_str(task, "error", NULL) ? ": " : "",
					 ctl_str(task, "error", ""));
			break;
		}
		if (interrupted) {
			ctl_fail(0,
				 "stopped watching task %s (it goes on; cortexctl task watch %s "
				 "to follow it again)",
				 ctl_str(task, "id", "?"), ctl_str(task, "id", "?"));
			code = CTL_INTERRUPTED;
			break;
		}
		if (live && listener_failed(l))
			live = false;
		if (live)
			seen = wait_update(l, seen, LIVE_RECHECK_MS);
		else
			sleep_ms(POLL_MS);
	}
	json_decref(task);
	free(last);
	return code;
}

int ctl_follow_task(struct ctl *c, const char *id, bool json, bool quiet)
{
	struct listener l = { .mcp = ctl_client(c) };
	struct sigaction stop = { .sa_handler = on_interrupt }, old_int, old_term;
	json_t *args = json_pack("{s:s}", "id", id);
	bool live = false;
	int code = CTL_OK;

	if (!args)
		return ctl_fail(CTL_USAGE, "the task id must be UTF-8");
	if (!cx_fmt(l.uri, sizeof(l.uri), "cortex://tasks/%s", id)) {
		json_decref(args);
		return ctl_fail(CTL_USAGE, "'%.60s...' is too long for a task id", id);
	}
	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	interrupted = 0;
	sigaction(SIGINT, &stop, &old_int);
	sigaction(SIGTERM, &stop, &old_term);
	l.cancel = l.mcp ? cx_mcp_cancel_new() : NULL;
	if (l.mcp && !l.cancel)
		code = ctl_fail(CTL_CONN, "out of memory");
	else if (l.mcp)
		live = go_live(&l, &code);
	if (!code)
		code = follow_loop(c, args, &l, live, json, quiet);
	if (l.started) {
		cx_mcp_cancel(l.cancel, "cortexctl stopped watching");
		pthread_join(l.th, NULL);
	}
	cx_mcp_cancel_free(l.cancel);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	pthread_mutex_destroy(&l.mu);
	pthread_cond_destroy(&l.cv);
	json_decref(args);
	return code;
}
