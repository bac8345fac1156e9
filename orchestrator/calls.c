/* A reply's tool_use blocks, run concurrently through the gateway: one thread per block (a
 * reply holds a handful), each with a cancellation handle the heartbeat thread can fire. */
#include "orch.h"

#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"

#define RESULT_TEXT_MAX (256 * 1024) /* a tool result the model reads, at most */

struct job {
	struct orch_worker *w;
	const char *task_id;
	struct orch_call *call;
	int64_t deadline;
	size_t slot;
	pthread_t thread;
	bool threaded;
};

/* A subtask is the caller's child: parent_id is filled in when the model left it out. */
static json_t *arguments(const char *tool, const json_t *input, const char *task_id)
{
	json_t *args = json_is_object(input) ? json_deep_copy(input) : json_object();
	json_t *list, *t;
	size_t i;

	if (strcmp(tool, "cortex_create_task"))
		return args;
	list = json_object_get(args, "tasks");
	if (json_is_array(list)) {
		json_array_foreach(list, i, t) {
			if (json_is_object(t) && !json_object_get(t, "parent_id"))
				json_object_set_new(t, "parent_id", json_string(task_id));
		}
	} else if (!json_object_get(args, "parent_id")) {
		json_object_set_new(args, "parent_id", json_string(task_id));
	}
	return args;
}

/* The text the model reads: the content's text blocks, else the structured content. */
static char *result_text(const json_t *res)
{
	const json_t *content = json_object_get(res, "content"), *b;
	size_t i, len = 0;
	char *out = NULL;

	json_array_foreach(content, i, b) {
		const char *t = json_string_value(json_object_get(b, "text"));
		size_t tl = t ? strlen(t) : 0;
		char *grown;

		if (!t || len + tl + 2 > RESULT_TEXT_MAX)
			continue;
		grown = realloc(out, len + tl + 2);
		if (!grown)
			break;
		out = grown;
		if (len)
			out[len++] = '\n';
		memcpy(out + len, t, tl + 1);
		len += tl;
	}
	if (out == NULL && json_object_get(res, "structuredContent"))
		out = json_dumps(json_object_get(res, "structuredContent"), JSON_COMPACT);
	return out ? out : strdup("(the tool returned no text)");
}

static void *run_one(void *arg)
{
	struct job *j = arg;
	struct orch_call *c = j->call;
	struct cx_mcp_cancel *k = cx_mcp_cancel_new();
	long left = j->deadline > 0 ? (long)(j->deadline - cx_now_ms()) : 0;
	struct cx_mcp_call_opts co = { .cancel = k, .timeout_ms = left > 1000 ? left : 1000 };
	struct cx_err err = { 0 };
	json_t *args = arguments(c->name, c->input, j->task_id), *res = NULL;
	int64_t t0;
	int rc;

	orch_worker_set_call(j->w, j->slot, k);
	if (atomic_load(&j->w->stop_task))
		cx_mcp_cancel(k, "the task was cancelled");
	cx_wall_iso8601(c->started_at, sizeof(c->started_at));
	t0 = cx_now_ms();
	rc = cx_mcp_call_tool(j->w->o->mcp, c->name, args, &co, &res, &err);
	c->ms = (long)(cx_now_ms() - t0);
	orch_worker_set_call(j->w, j->slot, NULL);
	if (rc == 0) {
		c->text = result_text(res);
		c->is_error = json_is_true(json_object_get(res, "isError"));
	} else {
		char msg[CX_ERR_MSG_MAX + 64];

		cx_fmt(msg, sizeof(msg), "the call did not complete (%s): %s",
		       cx_mcp_status_name(rc), err.msg);
		c->text = strdup(msg);
		c->is_error = true;
	}
	json_decref(res);
	json_decref(args);
	cx_mcp_cancel_free(k);
	return NULL;
}

void orch_calls_run(struct orch_worker *w, const char *task_id, int64_t deadline,
		    struct orch_call *calls, size_t n)
{
	struct job jobs[ORCH_CALLS_MAX];
	size_t i;

	for (i = 0; i < n && i < ORCH_CALLS_MAX; i++) {
		jobs[i] = (struct job){ .w = w,
					.task_id = task_id,
					.call = &calls[i],
					.deadline = deadline,
					.slot = i };
		/* the last one runs on this thread */
		if (i + 1 < n && !pthread_create(&jobs[i].thread, NULL, run_one, &jobs[i]))
			jobs[i].threaded = true;
		else
			run_one(&jobs[i]);
	}
	for (i = 0; i < n && i < ORCH_CALLS_MAX; i++)
		if (jobs[i].threaded)
			pthread_join(jobs[i].thread, NULL);
	for (; i < n; i++) {
		calls[i].text =
			strdup("not run: a reply may ask for at most 16 tool calls at once");
		calls[i].is_error = true;
	}
}

void orch_calls_release(struct orch_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(calls[i].text);
		calls[i].text = NULL;
	}
}

static void log_add(json_t *log, json_t *entry)
{
	if (!json_is_array(log) || entry == NULL) {
		json_decref(entry);
		return;
	}
	json_array_append_new(log, entry);
	while (json_array_size(log) > ORCH_CALLS_KEPT)
		json_array_remove(log, 0);
}

void orch_calls_log(json_t *log, const struct orch_call *c)
{
	log_add(log, json_pack("{s:s, s:s, s:s, s:I, s:b}", "id", c->id ? c->id : "", "tool",
			       c->name ? c->name : "", "started_at", c->started_at, "ms",
			       (json_int_t)c->ms, "is_error", c->is_error));
}

void orch_calls_log_denied(json_t *log, const char *id, const char *tool)
{
	char at[32];

	cx_wall_iso8601(at, sizeof(at));
	log_add(log, json_pack("{s:s, s:s, s:s, s:i, s:b, s:b}", "id", id ? id : "", "tool",
			       tool ? tool : "", "started_at", at, "ms", 0, "is_error", true,
			       "denied", true));
}
