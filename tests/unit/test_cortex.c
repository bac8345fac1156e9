/* The cortex adapter without a store: its tools.json and resources.json pair with the handler
 * table (schemas compile, annotations follow the flags), and what the views make of tasks in
 * every state — as the shared task logic builds and changes them — passes the tools' output
 * schemas, so no answer is turned into "broke its outputSchema" at run time. The tools
 * themselves run end to end in tests/integration/cortex.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../adapters/cortex/cortex.h"
#include "../../adapters/cortex/views.h"
#include "../../common/schema.h"
#include "../../common/taskstore_impl.h"
#include "../../gateway/config.h"
#include "../../gateway/registry.h"

static struct cx_registry *reg;

static int setup(void **state)
{
	struct cx_err err = { 0 };

	reg = cx_registry_new();
	if (!reg || cx_registry_add_state(reg, &cx_cortex_adapter, NULL, &err)) {
		fprintf(stderr, "registry: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	cx_registry_free(reg);
	return 0;
}

/* Fails the test, printing why, when value does not match tool's outputSchema. */
static void assert_output(const char *tool, const json_t *value)
{
	const struct cx_reg_tool *rt = cx_registry_find_tool(reg, tool);
	char why[512] = "";

	assert_non_null(rt);
	assert_non_null(rt->output);
	if (cx_schema_validate(rt->output, value, "structuredContent", why, sizeof(why))) {
		char *s = json_dumps(value, JSON_COMPACT);
		fprintf(stderr, "%s: %s\n  in %s\n", tool, why, s);
		free(s);
		fail();
	}
}

static void test_tools_pair_with_honest_flags(void **state)
{
	static const struct {
		const char *name;
		bool ro, destructive, idempotent;
	} want[] = {
		{ "cortex_create_task", false, false, false },
		{ "cortex_get_tasks", true, false, true },
		{ "cortex_get_task_status", true, false, true },
		{ "cortex_list_agents", true, false, true },
		{ "cortex_get_metrics", true, false, true },
		{ "cortex_approve_task", false, true, true },
		{ "cortex_cancel_task", false, true, true },
	};
	size_t n = 0;

	for (size_t i = 0; i < cx_registry_count(reg); i++)
		n += !strncmp(cx_registry_at(reg, i)->name, "cortex_", 7);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		const struct cx_reg_tool *rt = cx_registry_find_tool(reg, want[i].name);
		const json_t *ann;
		assert_non_null(rt);
		ann = json_object_get(rt->def, "annotations");
		assert_true(json_is_true(json_object_get(ann, "readOnlyHint")) == want[i].ro);
		assert_true(json_is_true(json_object_get(ann, "destructiveHint")) ==
			    want[i].destructive);
		assert_true(json_is_true(json_object_get(ann, "idempotentHint")) ==
			    want[i].idempotent);
		assert_true(json_is_false(json_object_get(ann, "openWorldHint")));
		assert_non_null(rt->output);
	}
	/* The schemas are live: a list without next_cursor, a status view with an unknown
	 * status, are refused. */
	{
		const struct cx_reg_tool *rt = cx_registry_find_tool(reg, "cortex_get_tasks");
		json_t *bad = json_pack("{s:[]}", "tasks");
		char why[256];
		assert_int_not_equal(cx_schema_validate(rt->output, bad, "s", why, sizeof(why)), 0);
		json_decref(bad);
		rt = cx_registry_find_tool(reg, "cortex_get_task_status");
		bad = json_pack("{s:s, s:s, s:{}, s:[], s:i}", "id", "x", "status", "paused",
				"progress", "children", "children_total", 0);
		assert_int_not_equal(cx_schema_validate(rt->output, bad, "s", why, sizeof(why)), 0);
		json_decref(bad);
	}
	assert_non_null(cx_registry_resolve_uri(reg, "cortex://tasks/task-mcp-1-abc"));
	assert_null(cx_registry_resolve_uri(reg, "cortex://tasks/a/b"));
}

/* Tasks as cx_task_build makes them from specs. */
static json_t *built(const char *specs_json)
{
	struct cx_err err = { 0 };
	json_t *specs = json_loads(specs_json, 0, NULL), *tasks;

	assert_non_null(specs);
	tasks = cx_task_build(specs, cx_task_now_ms(), &err);
	json_decref(specs);
	if (!tasks)
		fprintf(stderr, "build: %s\n", err.msg);
	assert_non_null(tasks);
	return tasks;
}

static void apply(json_t *task, struct cx_task_op *op)
{
	struct cx_task_store head = { .conf = { .lease_ms = 30000, .max_attempts = 3 } };
	struct cx_err err = { 0 };

	if (cx_task_apply(&head, task, op, cx_task_now_ms(), &err))
		fprintf(stderr, "apply %d: %s\n", op->kind, err.msg), fail();
}

static void assert_views(json_t *tasks)
{
	json_t *task = json_array_get(tasks, 0), *view = ct_status_view(task);
	json_t *list =
		json_pack("{s:o, s:n}", "tasks", ct_summaries(tasks, SIZE_MAX), "next_cursor");

	json_object_set_new(view, "children", ct_summaries(tasks, 100));
	json_object_set_new(view, "children_total", json_integer(1));
	assert_output("cortex_get_task_status", view);
	assert_output("cortex_get_tasks", list);
	json_decref(view);
	json_decref(list);
}

/* Queued, in progress with progress and a saved conversation, held, approved, cancelled and
 * finished: each view passes the schemas; the conversation never shows. */
static void test_views_of_every_state_pass_the_schemas(void **state)
{
	json_t *tasks = built("[{\"query\": \"What VMs run on pve1?\", \"category\": "
			      "\"inventory\", \"priority\": 2, \"source\": \"chat\"}, "
			      "{\"query\": \"second\"}]");
	json_t *task = json_array_get(tasks, 0);
	json_t *progress = json_pack("{s:i, s:[s], s:s, s:s}", "iterations", 2, "tools_used",
				     "proxmox_list_vms", "last_tool_used", "proxmox_list_vms",
				     "current_action", "listing");
	json_t *conv = json_pack("{s:[s]}", "messages", "a private conversation");
	json_t *pending = json_pack("{s:s, s:{}}", "tool", "proxmox_vm_action", "arguments");
	json_t *result = json_pack("{s:s}", "summary", "3 VMs");
	struct cx_task_op claim = { .kind = CX_OP_CLAIM, .worker = "w1" };
	struct cx_task_op prog = { .kind = CX_OP_PROGRESS,
				   .worker = "w1",
				   .progress = progress,
				   .state = conv };
	struct cx_task_op hold = { .kind = CX_OP_HOLD,
				   .worker = "w1",
				   .pending = pending,
				   .state = conv };
	struct cx_task_op approve = { .kind = CX_OP_APPROVE,
				      .approve = true,
				      .by = "ops",
				      .reason = "fine" };
	struct cx_task_op finish = { .kind = CX_OP_FINISH,
				     .worker = "w2",
				     .status = "completed",
				     .result = result };
	char *text;

	assert_views(tasks);
	apply(task, &claim);
	apply(task, &prog);
	assert_views(tasks);
	text = ct_resource_text(task);
	assert_non_null(strstr(text, "\"current_action\":\"listing\""));
	assert_null(strstr(text, "a private conversation"));
	free(text);
	apply(task, &hold);
	assert_views(tasks);
	apply(task, &approve);
	assert_views(tasks);
	claim.worker = "w2";
	apply(task, &claim);
	apply(task, &finish);
	assert_views(tasks);
	json_t *view = ct_status_view(task);
	assert_string_equal(json_string_value(json_object_get(view, "status")), "completed");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(view, "result"), "summary")),
			    "3 VMs");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(view, "progress"), "iterations")),
			 2);
	json_decref(view);

	struct cx_task_op cancel = { .kind = CX_OP_CANCEL, .by = "ops", .reason = "no" };
	apply(json_array_get(tasks, 1), &cancel);
	assert_views(tasks);

	json_t *metrics = cx_task_metrics_of(tasks, cx_task_now_ms());
	assert_output("cortex_get_metrics", metrics);
	json_decref(metrics);
	json_decref(progress);
	json_decref(conv);
	json_decref(pending);
	json_decref(result);
	json_decref(tasks);
}

/* The conversation the orchestrator saved, as include_conversation shows it: its messages,
 * its calls when recorded, the oldest messages left out past the cap, never more than it. */
static void test_conversation_view(void **state)
{
	json_t *tasks = built("[{\"query\": \"talk\"}, {\"query\": \"never run\"}]");
	json_t *task = json_array_get(tasks, 0), *msgs = json_array(), *conv, *view, *st;
	json_t *progress, *saved;
	struct cx_task_op claim = { .kind = CX_OP_CLAIM, .worker = "w1" };
	struct cx_task_op prog = { .kind = CX_OP_PROGRESS, .worker = "w1" };
	char big[1001];
	bool cut = true;
	size_t size;
	char *text;

	/* No state yet: no messages, no calls. */
	conv = ct_conversation_view(json_array_get(tasks, 1), 1024, &cut);
	assert_false(cut);
	text = json_dumps(conv, JSON_COMPACT);
	assert_string_equal(text, "{\"messages\":[]}");
	free(text);
	json_decref(conv);

	memset(big, 'x', 1000);
	big[1000] = 0;
	for (int i = 0; i < 20; i++)
		json_array_append_new(msgs, json_pack("{s:s, s:[{s:s, s:s, s:i}]}", "role",
						      i % 2 ? "assistant" : "user", "content",
						      "type", "text", "text", big, "n", i));
	prog.progress = progress = json_pack("{s:i}", "iterations", 10);
	prog.state = saved =
		json_pack("{s:O, s:i, s:[{s:s, s:s, s:s, s:i, s:b}]}", "messages", msgs,
			  "iterations", 10, "calls", "id", "toolu_1", "tool", "proxmox_list_vms",
			  "started_at", "2026-12-02T10:00:00.000Z", "ms", 42, "is_error", 0);
	apply(task, &claim);
	apply(task, &prog);

	conv = ct_conversation_view(task, 512 * 1024, &cut);
	assert_false(cut);
	assert_true(json_equal(json_object_get(conv, "messages"), msgs));
	st = json_object_get(conv, "calls");
	assert_int_equal(json_array_size(st), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(st, 0), "ms")), 42);
	view = ct_status_view(task);
	json_object_set_new(view, "children", json_array());
	json_object_set_new(view, "children_total", json_integer(0));
	json_object_set_new(view, "conversation", conv);
	json_object_set_new(view, "conversation_truncated", json_false());
	assert_output("cortex_get_task_status", view);
	json_decref(view);

	/* Past the cap the oldest messages go, and what is left fits. */
	for (size_t max = 5000; max <= 20000; max += 2500) {
		conv = ct_conversation_view(task, max, &cut);
		assert_true(cut);
		text = json_dumps(conv, JSON_COMPACT);
		size = strlen(text);
		free(text);
		assert_true(size <= max);
		assert_true(size > max - 1200); /* no more left out than needed */
		st = json_object_get(conv, "messages");
		assert_true(json_array_size(st) < 20);
		/* The newest are kept, in order. */
		for (size_t i = 0; i < json_array_size(st); i++)
			assert_true(json_equal(json_array_get(st, i),
					       json_array_get(msgs, 20 - json_array_size(st) + i)));
		assert_int_equal(json_array_size(json_object_get(conv, "calls")), 1);
		json_decref(conv);
	}
	/* A cap below even the calls leaves nothing out that is not needed: all of it goes. */
	conv = ct_conversation_view(task, 30, &cut);
	assert_true(cut);
	assert_int_equal(json_array_size(json_object_get(conv, "messages")), 0);
	assert_int_equal(json_array_size(json_object_get(conv, "calls")), 0);
	json_decref(conv);

	json_decref(progress);
	json_decref(saved);
	json_decref(msgs);
	json_decref(tasks);
}

/* A summary keeps to the list's fields: no query, no metadata. */
static void test_summary_is_compact(void **state)
{
	json_t *tasks = built("[{\"query\": \"a long query\", \"title\": \"short\"}]");
	json_t *s = ct_summary(json_array_get(tasks, 0));

	assert_string_equal(json_string_value(json_object_get(s, "title")), "short");
	assert_string_equal(json_string_value(json_object_get(s, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(s, "source")), "mcp");
	assert_true(json_is_null(json_object_get(s, "parent_id")));
	assert_null(json_object_get(s, "query"));
	assert_null(json_object_get(s, "metadata"));
	json_decref(s);
	json_decref(tasks);
}

/* The gateway's "tasks" key: an object (copied; the store checks its keys when it opens),
 * "enabled" a boolean; {} by default, which runs the tools on the default store. */
static void test_gateway_tasks_config(void **state)
{
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	json_t *doc;

	cx_gw_config_defaults(&c);
	assert_true(json_is_object(c.tasks) && json_object_size(c.tasks) == 0);
	doc = json_loads("{\"tasks\": {\"store\": \"dir\", \"dir\": \"/tmp/t\", "
			 "\"enabled\": false}}",
			 0, NULL);
	assert_int_equal(cx_gw_config_apply(&c, doc, &err), 0);
	json_object_set_new(json_object_get(doc, "tasks"), "dir", json_string("changed"));
	assert_string_equal(json_string_value(json_object_get(c.tasks, "dir")), "/tmp/t");
	assert_true(json_is_false(json_object_get(c.tasks, "enabled")));
	json_decref(doc);
	doc = json_loads("{\"tasks\": {\"enabled\": \"no\"}}", 0, NULL);
	assert_int_equal(cx_gw_config_apply(&c, doc, &err), -1);
	assert_non_null(strstr(err.msg, "'tasks.enabled' must be true or false"));
	json_decref(doc);
	doc = json_loads("{\"tasks\": [1]}", 0, NULL);
	assert_int_equal(cx_gw_config_apply(&c, doc, &err), -1);
	assert_non_null(strstr(err.msg, "'tasks' must be an object"));
	json_decref(doc);
	cx_gw_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tools_pair_with_honest_flags),
		cmocka_unit_test(test_views_of_every_state_pass_the_schemas),
		cmocka_unit_test(test_conversation_view),
		cmocka_unit_test(test_summary_is_compact),
		cmocka_unit_test(test_gateway_tasks_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
