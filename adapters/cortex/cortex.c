/* The cortex adapter: the task tools (tools.c) over the task store, and the cortex://tasks/{id}
 * resource template whose subscribers hear every change the store announces.
 *
 * It runs by default, on the store the top-level "tasks" config object describes (the gateway
 * passes that object as this adapter's config, without its "enabled" key; see
 * gateway/main.c), so a gateway started with no config offers the tools on the dir store. */
#include "cortex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "tools.h"
#include "views.h"

extern const char adapters_cortex_tools_json[];
extern const char adapters_cortex_resources_json[];

#define CT_URI_PREFIX "cortex://tasks/"

static void ct_free(struct ct_state *s)
{
	if (!s)
		return;
	if (s->watching)
		cx_task_unwatch(s->store);
	cx_task_store_close(s->store);
	free(s);
}

/* From the store's watcher thread: must not block, and does not (cx_resource_updated only
 * queues, except over stdio where it writes a line for a subscribed client). */
static void ct_changed(void *ctx, const char *id)
{
	char uri[sizeof(CT_URI_PREFIX) + CX_TASK_ID_MAX + 1];

	if (snprintf(uri, sizeof(uri), CT_URI_PREFIX "%s", id) < (int)sizeof(uri))
		cx_resource_updated(uri);
}

static int ct_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct ct_state *s = calloc(1, sizeof(*s));
	struct cx_err werr = { 0 };

	if (!s)
		return cx_err_set(err, "out of memory");
	s->store = cx_task_store_open(conf, err);
	if (!s->store) {
		free(s);
		return cx_err_prefix(err, "config 'tasks': ");
	}
	/* Without notifications the tools still work; only subscribers miss updates. */
	if (cx_task_watch(s->store, ct_changed, s, &werr))
		cx_warn("cortex: task changes will not reach resource subscribers: %s", werr.msg);
	else
		s->watching = true;
	cx_info("cortex: task store %s", cx_task_store_describe(s->store));
	*state = s;
	return 0;
}

static void ct_cleanup(void *state)
{
	ct_free(state);
}

/* A lookup of an id no task has: answers "no such task" when the store is reachable. */
static int ct_health(void *state, struct cx_err *err)
{
	const struct ct_state *s = state;
	json_t *task = NULL;
	int rc = cx_task_get(s->store, "task-health-probe", &task, err);

	json_decref(task);
	return rc < 0 ? -1 : 0;
}

static int ct_read(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err)
{
	const struct ct_state *s = call->state;
	const char *id = uri + strlen(CT_URI_PREFIX);
	json_t *task = NULL;
	char *text;
	int rc;

	if (strncmp(uri, CT_URI_PREFIX, strlen(CT_URI_PREFIX)) || !cx_task_id_valid(id)) {
		cx_err_set(err, "no task at '%s'; task URIs look like " CT_URI_PREFIX "task-...",
			   uri);
		return CX_NOT_FOUND;
	}
	rc = cx_task_get(s->store, id, &task, err);
	if (rc < 0)
		return -1;
	if (rc) {
		cx_err_set(err, "no task '%s'", id);
		return CX_NOT_FOUND;
	}
	text = ct_resource_text(task);
	json_decref(task);
	if (!text)
		return cx_err_set(err, "out of memory");
	*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
			    "application/json", "text", text);
	free(text);
	return *result ? 0 : cx_err_set(err, "out of memory");
}

/* Ids of the newest 100 tasks that start with what the user typed. */
static int ct_complete(struct cx_call *call, const json_t *ref, const char *argument,
		       const char *value, const json_t *context, json_t **values,
		       struct cx_err *err)
{
	const struct ct_state *s = call->state;
	struct cx_task_filter f = { .limit = 100 };
	json_t *tasks = NULL, *task;
	char *next = NULL;
	size_t i;

	*values = json_array();
	if (!*values)
		return cx_err_set(err, "out of memory");
	if (strcmp(argument, "id"))
		return 0;
	if (cx_task_list(s->store, &f, &tasks, &next, err))
		return -1;
	free(next);
	json_array_foreach(tasks, i, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		if (id && !strncmp(id, value, strlen(value)))
			json_array_append_new(*values, json_string(id));
	}
	json_decref(tasks);
	return 0;
}

/* /metrics: tasks by status and category, and whether the store answered the scrape. */
static json_t *ct_metrics(void *state)
{
	const struct ct_state *s = state;
	struct cx_err err = { 0 };
	json_t *m = NULL, *out = json_array(), *by, *n;
	const char *status, *category;

	if (!out)
		return NULL;
	if (cx_task_metrics(s->store, &m, &err))
		cx_debug("cortex: /metrics could not read the task store: %s", err.msg);
	json_array_append_new(out, json_pack("{s:s, s:s, s:{}, s:i}", "name",
					     "cortex_task_store_up", "help",
					     "1 when the task store answered this scrape, else 0.",
					     "labels", "value", m ? 1 : 0));
	json_object_foreach(json_object_get(m, "queue"), status, by) {
		json_object_foreach(by, category, n) {
			json_array_append_new(
				out,
				json_pack("{s:s, s:s, s:{s:s, s:s}, s:I}", "name", "cortex_tasks",
					  "help", "Tasks in the store, by status and category.",
					  "labels", "status", status, "category", category, "value",
					  json_integer_value(n)));
		}
	}
	json_decref(m);
	return out;
}

static const struct cx_tool ct_tools[] = {
	{ "cortex_create_task", ct_create_task, 0 },
	{ "cortex_get_tasks", ct_get_tasks, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "cortex_get_task_status", ct_get_task_status, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "cortex_list_agents", ct_list_agents, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "cortex_get_metrics", ct_get_metrics, CX_READ_ONLY | CX_IDEMPOTENT },
	/* Approval lets a held action run, one the worker stopped at because it may delete or
	 * overwrite; cancelling abandons a task's work for good. */
	{ "cortex_approve_task", ct_approve_task, CX_DESTRUCTIVE | CX_IDEMPOTENT },
	{ "cortex_cancel_task", ct_cancel_task, CX_DESTRUCTIVE | CX_IDEMPOTENT },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_cortex_adapter = {
	.name = "cortex",
	.tools_json = adapters_cortex_tools_json,
	.tools = ct_tools,
	.init = ct_init,
	.cleanup = ct_cleanup,
	.health = ct_health,
	.resources_json = adapters_cortex_resources_json,
	.read_resource = ct_read,
	.complete = ct_complete,
	.metrics = ct_metrics,
};
