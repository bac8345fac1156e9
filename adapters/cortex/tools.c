/* The cortex_* tools: each turns its arguments into one or two task store calls and the
 * store's answer into the structured result its outputSchema describes. The store's failures
 * ("task store unreachable: ...") are already sentences for the model. */
#include "tools.h"

#include <stdlib.h>
#include <string.h>

#include "views.h"

/* Summaries in a create result, and ids listed before the list is cut (10,000 ids of up to
 * 64 bytes, twice over as text and structuredContent, would pass calls.max_output_bytes). */
#define CT_CREATE_SUMMARIES 50
#define CT_CREATE_IDS       2000
#define CT_CHILDREN_MAX     100
/* A task's conversation, serialised, at most this (the oldest messages go first). */
#define CT_CONVERSATION_MAX (512 * 1024)

static const char *const spec_keys[] = { "query",     "title",  "category", "priority",
					 "parent_id", "source", NULL };

static struct cx_task_store *store_of(const struct cx_call *call)
{
	return ((struct ct_state *)call->state)->store;
}

static const char *str_arg(const json_t *args, const char *key)
{
	return json_string_value(json_object_get(args, key));
}

static int store_failed(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

static int no_such_task(struct cx_result *res, const char *id)
{
	return cx_result_errorf(res,
				"no task '%s'; cortex_get_tasks lists the tasks (newest first)",
				id);
}

/* One task's fields, or tasks: [...]; never both. 0 with *specs a new array, or with *specs
 * NULL and res saying why; -1 out of memory. */
static int create_specs(const json_t *args, json_t **specs, struct cx_result *res)
{
	const json_t *batch = json_object_get(args, "tasks");
	json_t *one;

	*specs = NULL;
	if (batch) {
		for (size_t i = 0; spec_keys[i]; i++)
			if (json_object_get(args, spec_keys[i]))
				return cx_result_errorf(
					res,
					"give either one task's fields or tasks: [...], not "
					"both ('%s' is set beside tasks); put '%s' in each "
					"task of the list",
					spec_keys[i], spec_keys[i]);
		*specs = json_incref((json_t *)batch);
		return 0;
	}
	if (!json_object_get(args, "query"))
		return cx_result_errorf(res, "give query (one task) or tasks: [{\"query\": ...}, "
					     "...] (several); query says what to do");
	one = json_object();
	for (size_t i = 0; one && spec_keys[i]; i++) {
		json_t *v = json_object_get(args, spec_keys[i]);
		if (v)
			json_object_set(one, spec_keys[i], v);
	}
	*specs = json_pack("[o]", one);
	return *specs ? 0 : -1;
}

static json_t *id_list(const json_t *tasks, size_t max)
{
	json_t *ids = json_array();

	for (size_t i = 0; ids && i < json_array_size(tasks) && i < max; i++)
		json_array_append(ids, json_object_get(json_array_get(tasks, i), "id"));
	return ids;
}

int ct_create_task(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *specs, *created = NULL, *out;
	size_t n;
	int rc;

	if (create_specs(args, &specs, res))
		return -1;
	if (!specs)
		return 0; /* res says why */
	rc = cx_task_create(store_of(call), specs, &created, &err);
	json_decref(specs);
	if (rc)
		return store_failed(res, &err);
	n = json_array_size(created);
	out = json_pack("{s:I, s:o, s:o}", "created", (json_int_t)n, "ids",
			id_list(created, CT_CREATE_IDS), "tasks",
			ct_summaries(created, CT_CREATE_SUMMARIES));
	if (out && n > CT_CREATE_IDS)
		json_object_set_new(out, "ids_truncated", json_true());
	if (out && n)
		json_object_set(out, "created_at",
				json_object_get(json_object_get(json_array_get(created, 0),
								"metadata"),
						"created_at"));
	json_decref(created);
	return cx_result_structured(res, out);
}

int ct_get_tasks(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_task_filter f = {
		.status = str_arg(args, "status"),
		.category = str_arg(args, "category"),
		.source = str_arg(args, "source"),
		.parent_id = str_arg(args, "parent_id"),
		.limit = (size_t)json_integer_value(json_object_get(args, "limit")),
		.cursor = str_arg(args, "cursor"),
	};
	struct cx_err err = { 0 };
	const char *since = str_arg(args, "since");
	json_t *tasks = NULL, *out;
	char *next = NULL;

	if (since) {
		int64_t ms = cx_task_time_ms(since);
		if (ms < 0)
			return cx_result_errorf(res,
						"since '%s' is not an RFC 3339 time after 1970; "
						"write it like 2026-01-05T10:00:00Z",
						since);
		f.since_ms = ms ? ms : 1;
	}
	if (cx_task_list(store_of(call), &f, &tasks, &next, &err))
		return store_failed(res, &err);
	out = json_pack("{s:o, s:o}", "tasks", ct_summaries(tasks, SIZE_MAX), "next_cursor",
			next ? json_string(next) : json_null());
	json_decref(tasks);
	free(next);
	return cx_result_structured(res, out);
}

/* The status view with its conversation as the result: structuredContent in full, and a text
 * block without the conversation's messages and calls (their counts instead), since a
 * conversation near its cap written twice would pass calls.max_output_bytes. Steals view. */
static int with_conversation(struct cx_result *res, json_t *view)
{
	json_t *brief = json_copy(view), *conv = json_object_get(view, "conversation");
	char *text;
	int rc = -1;

	if (!brief ||
	    json_object_set_new(
		    brief, "conversation",
		    json_pack("{s:I, s:I, s:s}", "messages",
			      (json_int_t)json_array_size(json_object_get(conv, "messages")),
			      "calls", (json_int_t)json_array_size(json_object_get(conv, "calls")),
			      "note",
			      "the conversation's messages and calls are in structuredContent")))
		goto out;
	text = json_dumps(brief, JSON_COMPACT);
	if (text && !cx_result_text(res, text)) {
		json_decref(res->structured);
		res->structured = view;
		view = NULL;
		rc = 0;
	}
	free(text);
out:
	json_decref(brief);
	json_decref(view);
	return rc;
}

int ct_get_task_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *id = str_arg(args, "id");
	bool conversation = json_is_true(json_object_get(args, "include_conversation"));
	struct cx_err err = { 0 };
	json_t *task = NULL, *children = NULL, *view;
	bool cut = false;
	int rc;

	rc = cx_task_get(store_of(call), id, &task, &err);
	if (rc)
		return rc < 0 ? store_failed(res, &err) : no_such_task(res, id);
	if (cx_task_children(store_of(call), id, &children, &err)) {
		json_decref(task);
		return store_failed(res, &err);
	}
	view = ct_status_view(task);
	if (view) {
		json_object_set_new(view, "children", ct_summaries(children, CT_CHILDREN_MAX));
		json_object_set_new(view, "children_total",
				    json_integer((json_int_t)json_array_size(children)));
	}
	if (view && conversation &&
	    (json_object_set_new(view, "conversation",
				 ct_conversation_view(task, CT_CONVERSATION_MAX, &cut)) ||
	     json_object_set_new(view, "conversation_truncated", json_boolean(cut)))) {
		json_decref(view);
		view = NULL;
	}
	json_decref(task);
	json_decref(children);
	return conversation && view ? with_conversation(res, view)
				    : cx_result_structured(res, view);
}

int ct_list_agents(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *master = str_arg(args, "master"), *state = str_arg(args, "state");
	struct cx_err err = { 0 };
	json_t *agents = NULL, *keep;
	size_t i;
	json_t *a;

	if (cx_agent_list(store_of(call), &agents, &err))
		return store_failed(res, &err);
	keep = json_array();
	json_array_foreach(agents, i, a) {
		const char *m = json_string_value(json_object_get(a, "master"));
		const char *id = json_string_value(json_object_get(a, "id"));
		const char *st = json_string_value(json_object_get(a, "state"));
		/* A master is listed under its own name as well as its workers. */
		if (master && !(m && !strcmp(m, master)) && !(id && !strcmp(id, master)))
			continue;
		if (state && !(st && !strcmp(st, state)))
			continue;
		json_array_append(keep, a);
	}
	json_decref(agents);
	return cx_result_structured(res,
				    json_pack("{s:I, s:o}", "count",
					      (json_int_t)json_array_size(keep), "agents", keep));
}

int ct_get_metrics(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *metrics = NULL;

	if (cx_task_metrics(store_of(call), &metrics, &err))
		return store_failed(res, &err);
	return cx_result_structured(res, metrics);
}

/* {id, status, ...extra} of the task as it is now. */
static int answer_task(struct cx_call *call, const char *id, struct cx_result *res,
		       json_t *(*extra)(const json_t *task))
{
	struct cx_err err = { 0 };
	json_t *task = NULL, *out;
	int rc = cx_task_get(store_of(call), id, &task, &err);

	if (rc)
		return rc < 0 ? store_failed(res, &err) : no_such_task(res, id);
	out = extra(task);
	if (out) {
		json_object_set(out, "id", json_object_get(task, "id"));
		json_object_set(out, "status", json_object_get(task, "status"));
	}
	json_decref(task);
	return cx_result_structured(res, out);
}

static json_t *approval_of(const json_t *task)
{
	const json_t *a = json_object_get(json_object_get(task, "metadata"), "approval");
	json_t *copy = json_is_object(a) ? json_deep_copy(a) : json_null();

	/* The saved conversation is the worker's; the pending call stays. */
	json_object_del(copy, "state");
	return json_pack("{s:o}", "approval", copy);
}

static json_t *cancel_of(const json_t *task)
{
	const json_t *meta = json_object_get(task, "metadata");

	return json_pack("{s:b}", "cancel_requested",
			 json_is_true(json_object_get(meta, "cancel_requested")) ||
				 !strcmp(json_string_value(json_object_get(task, "status")) ?: "",
					 "cancelled"));
}

int ct_approve_task(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *id = str_arg(args, "id"), *reason = str_arg(args, "reason");
	bool approve = !strcmp(str_arg(args, "decision"), "approve");
	struct cx_err err = { 0 };
	int rc;

	if (!approve && !reason)
		return cx_result_errorf(res, "give a reason to deny: the worker reads it and "
					     "carries on without the action");
	rc = cx_task_approve(store_of(call), id, approve, call->caller, reason, &err);
	if (rc)
		return rc < 0 ? store_failed(res, &err) : no_such_task(res, id);
	return answer_task(call, id, res, approval_of);
}

int ct_cancel_task(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *id = str_arg(args, "id");
	struct cx_err err = { 0 };
	int rc;

	rc = cx_task_cancel(store_of(call), id, call->caller, str_arg(args, "reason"), &err);
	if (rc)
		return rc < 0 ? store_failed(res, &err) : no_such_task(res, id);
	return answer_task(call, id, res, cancel_of);
}
