/* The REST routes' request parsing (gateway/rest_route.c) as a script meets it: which path and
 * method reach which tool call, which get a 404 or a 405 with Allow, how GET /v1/tasks's query
 * parameters become cortex_get_tasks's arguments (typed by its schema, the last of a repeated
 * one winning), and the parameters refused outright (a decoded NUL, a name not UTF-8) with a
 * message that can go into a JSON answer. tests/fuzz/fuzz_rest.c holds the same code to its
 * invariants on random input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "../../gateway/rest_route.h"

#define PARAM_MAX 128

static void routed(const char *path, const char *method, enum cx_rest_op op, const char *param)
{
	struct cx_rest_route r;

	assert_int_equal(cx_rest_route(path, method, PARAM_MAX, &r), 0);
	assert_int_equal(r.op, op);
	assert_int_equal(r.len, strlen(param));
	assert_memory_equal(r.param, param, r.len);
}

static void refused(const char *path, const char *method, unsigned status, const char *allow)
{
	struct cx_rest_route r;

	assert_int_equal(cx_rest_route(path, method, PARAM_MAX, &r), status);
	assert_non_null(r.msg);
	if (allow)
		assert_string_equal(r.allow, allow);
	else
		assert_null(r.allow);
}

static void test_routes(void **state)
{
	(void)state;
	routed("openapi.json", "GET", CX_REST_OPENAPI, "");
	routed("tools", "GET", CX_REST_TOOLS, "");
	routed("tools/testkit_echo", "POST", CX_REST_TOOL, "testkit_echo");
	routed("tasks", "GET", CX_REST_TASKS_LIST, "");
	routed("tasks", "POST", CX_REST_TASKS_NEW, "");
	routed("tasks/task-1", "GET", CX_REST_TASK_GET, "task-1");
	routed("tasks/task-1/events", "GET", CX_REST_TASK_EVENTS, "task-1");
	routed("events", "GET", CX_REST_FEED, "");
	routed("tools/caf\xc3\xa9", "POST", CX_REST_TOOL, "caf\xc3\xa9");
	assert_string_equal(cx_rest_tool(CX_REST_TOOL, "x"), "x");
	assert_string_equal(cx_rest_tool(CX_REST_TASKS_LIST, NULL), "cortex_get_tasks");
	assert_string_equal(cx_rest_tool(CX_REST_TASKS_NEW, NULL), "cortex_create_task");
	assert_string_equal(cx_rest_tool(CX_REST_TASK_EVENTS, NULL), "cortex_get_task_status");
	assert_null(cx_rest_tool(CX_REST_OPENAPI, NULL));
}

static void test_refusals(void **state)
{
	char name[200];

	(void)state;
	refused("tools", "POST", 405, "GET");
	refused("tasks", "DELETE", 405, "GET, POST");
	refused("tools/testkit_echo", "GET", 405, "POST");
	refused("tasks/task-1", "POST", 405, "GET");
	refused("tools/", "POST", 404, NULL);
	refused("tools/a/b", "POST", 404, NULL);
	refused("tasks/", "GET", 404, NULL);
	refused("tasks//events", "GET", 404, NULL);
	refused("tasks/t/other", "GET", 404, NULL);
	refused("nope", "GET", 404, NULL);
	refused("tasks/\xff", "GET", 404, NULL);
	refused("tools/caf\xe9", "POST", 404, NULL);
	memset(name, 'x', sizeof(name));
	memcpy(name, "tools/", 6);
	name[6 + PARAM_MAX - 1] = '\0'; /* 127 bytes: fits */
	routed(name, "POST", CX_REST_TOOL, name + 6);
	name[6 + PARAM_MAX - 1] = 'x';
	name[6 + PARAM_MAX] = '\0';
	refused(name, "POST", 404, NULL);
}

static void test_query_typed_by_schema(void **state)
{
	json_t *props = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "limit", "type", "integer",
				  "archived", "type", "boolean", "status", "type", "string");
	json_t *args = json_object();
	char msg[160];

	(void)state;
	assert_int_equal(cx_rest_query_arg(args, props, "limit", 5, "5", 1, msg, sizeof(msg)), 0);
	assert_int_equal(cx_rest_query_arg(args, props, "limit", 5, "7", 1, msg, sizeof(msg)), 0);
	assert_int_equal(cx_rest_query_arg(args, props, "archived", 8, "true", 4, msg, sizeof(msg)),
			 0);
	assert_int_equal(cx_rest_query_arg(args, props, "status", 6, "42", 2, msg, sizeof(msg)), 0);
	assert_int_equal(cx_rest_query_arg(args, props, "flag", 4, NULL, 0, msg, sizeof(msg)), 0);
	assert_int_equal(json_integer_value(json_object_get(args, "limit")), 7); /* the last */
	assert_true(json_is_true(json_object_get(args, "archived")));
	assert_string_equal(json_string_value(json_object_get(args, "status")), "42");
	assert_string_equal(json_string_value(json_object_get(args, "flag")), "");
	/* not an integer: left a string for the schema to refuse */
	assert_int_equal(cx_rest_query_arg(args, props, "limit", 5, "ten", 3, msg, sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(args, "limit")), "ten");
	json_decref(args);
	json_decref(props);
}

static void test_query_refusals(void **state)
{
	json_t *args = json_object();
	char msg[160];

	(void)state;
	assert_int_equal(cx_rest_query_arg(args, NULL, "status", 6, "queued\0x", 8, msg,
					   sizeof(msg)),
			 -1);
	assert_non_null(strstr(msg, "'status'"));
	assert_non_null(strstr(msg, "NUL"));
	assert_int_equal(cx_rest_query_arg(args, NULL, "a\0b", 3, "1", 1, msg, sizeof(msg)), -1);
	assert_null(strchr(msg, '\'')); /* a name with a NUL is not quoted */
	assert_int_equal(cx_rest_query_arg(args, NULL, "\xff", 1, "\0", 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "(its name)"));
	assert_int_equal(cx_rest_query_arg(args, NULL, "\xff", 1, "1", 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "UTF-8"));
	assert_int_equal(json_object_size(args), 0);
	json_decref(args);
}

static void test_body(void **state)
{
	char msg[300];
	json_t *v;

	(void)state;
	v = cx_rest_body_args("", 0, 1024, msg, sizeof(msg));
	assert_true(json_is_object(v) && json_object_size(v) == 0);
	json_decref(v);
	v = cx_rest_body_args("{\"a\":1}", 7, 1024, msg, sizeof(msg));
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	json_decref(v);
	assert_null(cx_rest_body_args("[1]", 3, 1024, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "must be a JSON object"));
	assert_null(cx_rest_body_args("{\"a\":", 5, 1024, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "not JSON"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_query_typed_by_schema),
		cmocka_unit_test(test_query_refusals),
		cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
