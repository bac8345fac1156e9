/* The orchestrator's GET stream on its gateway session: one listener thread per process. A
 * notifications/tools/list_changed (or the stream opening again, after a gap in which one may
 * have been missed) marks every master's cached tool list stale, so the next loop iteration
 * lists the tools again; tools_ttl_ms stays the fallback when no stream can be held. The
 * stream is opened again whenever it ends or fails, after a backoff that doubles from
 * LISTEN_BACKOFF_MIN_MS to LISTEN_BACKOFF_MAX_MS (back to the minimum once a stream stayed
 * open). */
#include "orch.h"

#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/util.h"

#define LISTEN_BACKOFF_MIN_MS 250
#define LISTEN_BACKOFF_MAX_MS 30000
#define LISTEN_STABLE_MS      10000 /* open this long: the next failure starts the backoff over */

/* A request that starts a new session when the gateway forgot ours (the client initializes
 * again on the 404): the next stream then uses it. */
static json_t *ping(struct orch *o)
{
	struct cx_err err = { 0 };
	json_t *res = NULL;

	cx_mcp_request(o->mcp, "ping", NULL, NULL, &res, &err);
	return res;
}

static bool on_message(void *ctx, const json_t *msg)
{
	struct orch *o = ctx;
	const char *method = json_string_value(json_object_get(msg, "method"));

	if (msg == NULL) { /* opened: whatever changed while none was open is unknown */
		atomic_store(&o->listen_open, true);
		atomic_fetch_add(&o->tools_gen, 1);
		if (atomic_exchange(&o->listen_down, false))
			cx_info("the gateway's GET stream is open again: the tool lists are fetched "
				"anew");
	} else if (method && !strcmp(method, "notifications/tools/list_changed")) {
		atomic_fetch_add(&o->tools_gen, 1);
		cx_debug("the gateway's tool list changed: listed again at the next step");
	}
	return false;
}

/* Sleeps ms unless the listener is told to stop first; true when it is. */
static bool pause_or_quit(struct orch *o, long ms)
{
	struct timespec ts;
	bool quit;

	cx_deadline_ts(CLOCK_REALTIME, ms, &ts);
	pthread_mutex_lock(&o->listen_mu);
	while (!o->listen_quit && pthread_cond_timedwait(&o->listen_cond, &o->listen_mu, &ts) == 0)
		;
	quit = o->listen_quit;
	pthread_mutex_unlock(&o->listen_mu);
	return quit;
}

static void *listen_main(void *arg)
{
	struct orch *o = arg;
	struct cx_mcp_call_opts co = { .cancel = o->listen_cancel };
	long backoff = LISTEN_BACKOFF_MIN_MS;
	bool warned = false;

	while (!cx_mcp_cancelled(o->listen_cancel)) {
		struct cx_err err = { 0 };
		int64_t t0 = cx_now_ms();
		bool opened;
		int rc;

		atomic_store(&o->listen_open, false);
		rc = cx_mcp_listen(o->mcp, on_message, o, &co, &err);
		if (cx_mcp_cancelled(o->listen_cancel))
			break;
		opened = atomic_load(&o->listen_open);
		if (opened) { /* a failure from here on is a new outage, said again */
			warned = false;
			if (cx_now_ms() - t0 >= LISTEN_STABLE_MS)
				backoff = LISTEN_BACKOFF_MIN_MS;
		}
		if (rc == 0) {
			cx_debug("the gateway ended the GET stream; opening it again");
		} else if (rc == CX_MCP_E_HTTP && strstr(err.msg, "HTTP 405")) {
			cx_info("the gateway offers no GET stream: the tool list is refreshed every "
				"%ld ms (tools_ttl_ms) only",
				o->tools_ttl_ms);
			break;
		} else {
			atomic_store(&o->listen_down, true);
			if (!warned)
				cx_warn("the gateway's GET stream (tool list changes): %s; trying "
					"again, the tool list meanwhile refreshed every %ld ms",
					err.msg, o->tools_ttl_ms);
			warned = true;
			/* a session the gateway forgot */
			if (rc == CX_MCP_E_HTTP && strstr(err.msg, "HTTP 404"))
				json_decref(ping(o));
		}
		if (pause_or_quit(o, backoff))
			break;
		if (rc != 0 || !opened)
			backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS
								      : backoff * 2;
	}
	return NULL;
}

int orch_listen_start(struct orch *o, struct cx_err *err)
{
	pthread_mutex_init(&o->listen_mu, NULL);
	pthread_cond_init(&o->listen_cond, NULL);
	o->listen_cancel = cx_mcp_cancel_new();
	if (o->listen_cancel == NULL)
		return cx_err_set(err, "out of memory");
	if (pthread_create(&o->listener, NULL, listen_main, o)) {
		cx_mcp_cancel_free(o->listen_cancel);
		o->listen_cancel = NULL;
		return cx_err_set(err, "could not start the GET stream's listener");
	}
	o->listening = true;
	return 0;
}

void orch_listen_stop(struct orch *o)
{
	if (!o->listening)
		return;
	pthread_mutex_lock(&o->listen_mu);
	o->listen_quit = true;
	pthread_cond_broadcast(&o->listen_cond);
	pthread_mutex_unlock(&o->listen_mu);
	cx_mcp_cancel(o->listen_cancel, "the orchestrator is stopping");
	pthread_join(o->listener, NULL);
	cx_mcp_cancel_free(o->listen_cancel);
	o->listen_cancel = NULL;
	o->listening = false;
	pthread_mutex_destroy(&o->listen_mu);
	pthread_cond_destroy(&o->listen_cond);
}
