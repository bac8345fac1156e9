/* cortexctl task create, list, show and watch: the cortex_* tools for people. */
#include "cortexctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* Calls a task tool and hands back its structuredContent in *out (a new reference).
 * CTL_OK, or an exit status printed. Steals args. */
static int task_tool(struct ctl *c, const char *name, json_t *args, json_t **out)
{
	json_t *result = NULL;
	const json_t *sc;
	int rc;

	*out = NULL;
	if (!args)
		return ctl_fail(CTL_USAGE, "the arguments must be UTF-8");
	rc = ctl_call(c, name, args, &result);
	json_decref(args);
	if (rc)
		return rc;
	sc = ctl_structured(result, &rc);
	*out = json_incref((json_t *)sc);
	json_decref(result);
	return rc;
}

/* Sets key to a string when s is given. False on out of memory or bad UTF-8. */
static bool set_opt_str(json_t *o, const char *key, const char *s)
{
	return !s || !json_object_set_new(o, key, json_string(s));
}

int ctl_cmd_task_create(struct ctl *c, const struct ctl_opts *o)
{
	json_t *args, *made = NULL;
	const char *id;
	int rc;

	if (o->npos != 1)
		return ctl_fail(CTL_USAGE, "task create takes one query, quoted (see cortexctl "
					   "task create --help)");
	args = json_pack("{s:s}", "query", o->pos[0]);
	if (args &&
	    (!set_opt_str(args, "category", o->category) || !set_opt_str(args, "title", o->title) ||
	     (o->priority && json_object_set_new(args, "priority", json_integer(o->priority))))) {
		json_decref(args);
		args = NULL;
	}
	if ((rc = task_tool(c, "cortex_create_task", args, &made)))
		return rc;
	id = json_string_value(json_array_get(json_object_get(made, "ids"), 0));
	if (!id) {
		json_decref(made);
		return ctl_fail(CTL_CONN, "cortex_create_task answered without the task's id");
	}
	if (!o->wait) {
		if (o->json)
			return ctl_print_json(made);
		puts(id);
		json_decref(made);
		return CTL_OK;
	}
	if (!o->json) {
		puts(id);
		fflush(stdout);
	}
	rc = ctl_follow_task(c, id, o->json, o->json);
	json_decref(made);
	return rc;
}

int ctl_cmd_task_list(struct ctl *c, const struct ctl_opts *o)
{
	static const char *const titles[] = {
		"ID", "STATUS", "CATEGORY", "PRI", "CREATED", "TITLE"
	};
	static const size_t max[] = { 40, 17, 14, 3, 24, 60 };
	json_t *args = json_object(), *page = NULL, *task;
	struct ctl_table *t;
	char pri[8];
	size_t i;
	int rc;

	if (o->npos)
		return ctl_fail(CTL_USAGE, "task list takes no arguments; filter with --status and "
					   "--category (see cortexctl task list --help)");
	if (args && (!set_opt_str(args, "status", o->status) ||
		     !set_opt_str(args, "category", o->category) ||
		     (o->limit && json_object_set_new(args, "limit", json_integer(o->limit))))) {
		json_decref(args);
		args = NULL;
	}
	if ((rc = task_tool(c, "cortex_get_tasks", args, &page)))
		return rc;
	if (o->json)
		return ctl_print_json(page);
	t = ctl_table_new(6, titles, max);
	json_array_foreach(json_object_get(page, "tasks"), i, task) {
		const char *row[6] = {
			ctl_str(task, "id", "?"),          ctl_str(task, "status", "?"),
			ctl_str(task, "category", NULL),   pri,
			ctl_str(task, "created_at", NULL), ctl_str(task, "title", NULL)
		};
		snprintf(pri, sizeof(pri), "%lld",
			 (long long)json_integer_value(json_object_get(task, "priority")));
		if (t && ctl_table_add(t, row)) {
			ctl_table_free(t);
			t = NULL;
		}
	}
	if (!t) {
		json_decref(page);
		return ctl_fail(CTL_CONN, "out of memory");
	}
	ctl_table_print(t, stdout);
	if (json_is_string(json_object_get(page, "next_cursor")))
		printf("(more tasks match: raise --limit, up to 500, or narrow the filters)\n");
	json_decref(page);
	return CTL_OK;
}

/* "key: value" when value is a non-empty string. */
static void field(const char *key, const json_t *obj, const char *member)
{
	const char *v = ctl_str(obj, member, NULL);

	if (v && *v)
		printf("%-10s %s\n", key, v);
}

static void print_progress(const json_t *task)
{
	const json_t *p = json_object_get(task, "progress");
	const json_t *used = json_object_get(p, "tools_used"), *tool;
	size_t i;

	if (!json_is_object(p) || !json_integer_value(json_object_get(p, "iterations")))
		return;
	printf("%-10s %lld iteration(s)",
	       "progress:", (long long)json_integer_value(json_object_get(p, "iterations")));
	json_array_foreach(used, i, tool)
		printf("%s%s", i ? ", " : "; tools ",
		       json_string_value(tool) ? json_string_value(tool) : "?");
	putchar('\n');
	field("doing:", p, "current_action");
}

static void print_task(const json_t *t)
{
	const json_t *approval = json_object_get(t, "approval");
	const json_t *pending = json_object_get(approval, "pending");
	const json_t *result = json_object_get(t, "result"), *child;
	size_t i;

	field("id:", t, "id");
	field("title:", t, "title");
	field("status:", t, "status");
	if (json_is_true(json_object_get(t, "cancel_requested")))
		printf("%-10s requested\n", "cancel:");
	field("category:", t, "category");
	printf("%-10s %lld\n",
	       "priority:", (long long)json_integer_value(json_object_get(t, "priority")));
	field("source:", t, "source");
	field("parent:", t, "parent_id");
	field("created:", t, "created_at");
	field("started:", t, "started_at");
	field("finished:", t, "finished_at");
	field("worker:", t, "worker");
	printf("%-10s %lld\n",
	       "attempts:", (long long)json_integer_value(json_object_get(t, "attempts")));
	print_progress(t);
	if (ctl_str(approval, "decision", NULL))
		printf("%-10s %s %s by %s%s%s\n", "approval:", ctl_str(approval, "decision", ""),
		       ctl_str(pending, "tool", "?"), ctl_str(approval, "by", "?"),
		       ctl_str(approval, "reason", NULL) ? ": " : "",
		       ctl_str(approval, "reason", ""));
	else if (json_is_object(pending) &&
		 !strcmp(ctl_str(t, "status", ""), "awaiting_approval")) {
		printf("%-10s %s wants to run %s: %s\n", "approval:", "the worker",
		       ctl_str(pending, "tool", "?"), ctl_str(pending, "why", "(no reason given)"));
		printf("%-10s cortexctl approve %s   (or --deny --reason TEXT)\n", "",
		       ctl_str(t, "id", "?"));
	}
	field("error:", t, "error");
	field("summary:", result, "summary");
	field("details:", result, "details");
	field("query:", t, "query");
	json_array_foreach(json_object_get(t, "children"), i, child)
		printf("%-10s %s  %s  %s\n", i ? "" : "subtasks:", ctl_str(child, "id", "?"),
		       ctl_str(child, "status", "?"), ctl_str(child, "title", ""));
}

int ctl_cmd_task_show(struct ctl *c, const struct ctl_opts *o)
{
	json_t *task = NULL;
	int rc;

	if (o->npos != 1)
		return ctl_fail(CTL_USAGE,
				"task show takes one task id (see cortexctl task show --help)");
	if ((rc = task_tool(c, "cortex_get_task_status", json_pack("{s:s}", "id", o->pos[0]),
			    &task)))
		return rc;
	if (o->json)
		return ctl_print_json(task);
	print_task(task);
	json_decref(task);
	return CTL_OK;
}

int ctl_cmd_task_watch(struct ctl *c, const struct ctl_opts *o)
{
	if (o->npos != 1)
		return ctl_fail(CTL_USAGE,
				"task watch takes one task id (see cortexctl task watch --help)");
	return ctl_follow_task(c, o->pos[0], o->json, false);
}
