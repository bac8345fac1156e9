/* The MCP client against the real gateway (mcp_client_fixture.h): paging, JSON and SSE
 * answers, progress, a response cap, cancellation that frees the gateway's only worker,
 * deadlines, eight threads on one client. Tokens, restarts and failures are in
 * test_mcp_client_failures.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/http_client.h"
#include "../../common/mcp_client.h"
#include "../../common/util.h"
#include "mcp_client_fixture.h"

/* ---- tools/list ---- */

static void test_list_paging(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *tools = NULL, *page = NULL;
	size_t i, pages = 0, paged = 0;
	char *cursor = NULL;
	bool echo = false, progress = false;

	gw_start(&g, 0, NULL, false, ", \"tools\": {\"page_size\": 3}");
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_list_tools(c, &tools, &err), 0);
	assert_true(json_array_size(tools) > 6);
	for (i = 0; i < json_array_size(tools); i++) {
		const char *n =
			json_string_value(json_object_get(json_array_get(tools, i), "name"));

		assert_non_null(n);
		assert_non_null(json_object_get(json_array_get(tools, i), "inputSchema"));
		echo |= !strcmp(n, "testkit_echo");
		progress |= !strcmp(n, "testkit_progress");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, json_string_value(
							   json_object_get(json_array_get(tools, j),
									   "name")));
	}
	assert_true(echo && progress);
	/* Page by page: three at a time, the cursor followed to the end. */
	do {
		assert_int_equal(cx_mcp_list_tools_page(c, cursor, &page, &err), 0);
		assert_true(json_array_size(json_object_get(page, "tools")) <= 3);
		paged += json_array_size(json_object_get(page, "tools"));
		pages++;
		free(cursor);
		cursor = json_string_value(json_object_get(page, "nextCursor"))
				 ? strdup(json_string_value(json_object_get(page, "nextCursor")))
				 : NULL;
		json_decref(page);
	} while (cursor && pages < 100);
	assert_int_equal(paged, json_array_size(tools));
	assert_int_equal(pages, (json_array_size(tools) + 2) / 3);
	/* A cursor the gateway never gave is a JSON-RPC error with its code. */
	assert_int_equal(cx_mcp_list_tools_page(c, "not-a-cursor", &page, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32602);
	json_decref(tools);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- tools/call ---- */

static void test_call_json_sse_progress(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_err err = { 0 };
	json_t *res;
	char sid[256];

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL);
	/* JSON: no progress token. The session starts with the first call. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "plain"), NULL);
	assert_string_equal(echoed(res), "plain");
	assert_false(json_is_true(json_object_get(res, "isError")));
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, sid, sizeof(sid)));
	assert_true(strlen(sid) > 10);
	res = cx_mcp_client_server_info(c);
	assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")),
			    "2025-11-25");
	json_decref(res);
	/* SSE with nothing but the answer. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "streamed"), &o);
	assert_string_equal(echoed(res), "streamed");
	assert_int_equal(p.n, 0);
	json_decref(res);
	/* SSE with progress before the answer. */
	res = call_ok(c, "testkit_progress", json_pack("{s:i, s:i}", "steps", 5, "ms", 20), &o);
	assert_int_equal(p.n, 5);
	assert_false(p.out_of_order);
	assert_true(p.last == 5.0 && p.total == 5.0);
	assert_string_equal(p.msg, "step 5 of 5");
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(json_object_get(res, "content"),
								   0),
						    "text")),
			    "counted 5 steps");
	json_decref(res);
	/* A tool's failure is a result the model reads, not an error. */
	res = call_ok(c, "testkit_fail", NULL, NULL);
	assert_true(json_is_true(json_object_get(res, "isError")));
	json_decref(res);
	/* Protocol errors are errors, with their code and message. */
	res = NULL;
	assert_int_equal(cx_mcp_call_tool(c, "no_such_tool", NULL, NULL, &res, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32602);
	assert_non_null(strstr(err.msg, "unknown tool 'no_such_tool'"));
	assert_null(res);
	assert_int_equal(cx_mcp_request(c, "no/such/method", NULL, NULL, &res, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32601);
	assert_int_equal(cx_mcp_request(c, "ping", NULL, NULL, &res, &err), 0);
	json_decref(res);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* An answer over max_response_bytes, as JSON or as one SSE event, is refused, not read. */
static void test_response_cap(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client_opts co = { .token = "", .max_response_bytes = 20000 };
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *res = NULL, *big = json_pack("{s:i}", "bytes", 100000);

	gw_start(&g, 0, NULL, false, "");
	co.url = g.url;
	c = cx_mcp_client_new(&co, &err);
	assert_non_null(c);
	res = call_ok(c, "testkit_big", json_pack("{s:i}", "bytes", 5000), NULL);
	json_decref(res);
	res = NULL;
	assert_int_equal(cx_mcp_call_tool(c, "testkit_big", big, NULL, &res, &err),
			 CX_MCP_E_PROTOCOL);
	assert_non_null(strstr(err.msg, "larger than 20000 bytes"));
	assert_int_equal(cx_mcp_call_tool(c, "testkit_big", big, &o, &res, &err),
			 CX_MCP_E_PROTOCOL);
	assert_non_null(strstr(err.msg, "larger than 20000 bytes"));
	assert_null(res);
	/* The client goes on working. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "small"), &o);
	assert_string_equal(echoed(res), "small");
	json_decref(res);
	json_decref(big);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- cancellation and deadlines ---- */

struct slow {
	struct cx_mcp_client *c;
	struct cx_mcp_cancel *k;
	bool sse;
	int rc;
	int64_t ended;
	char msg[CX_ERR_MSG_MAX];
	struct progress_log p;
};

static void *slow_call(void *arg)
{
	struct slow *s = arg;
	struct cx_mcp_call_opts o = { .cancel = s->k };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args;

	if (s->sse) {
		o.progress = on_progress;
		o.ctx = &s->p;
		args = json_pack("{s:i, s:i}", "steps", 100, "ms", 100);
		s->rc = cx_mcp_call_tool(s->c, "testkit_progress", args, &o, &res, &err);
	} else {
		args = json_pack("{s:i}", "ms", 20000);
		s->rc = cx_mcp_call_tool(s->c, "testkit_sleep", args, &o, &res, &err);
	}
	s->ended = cx_now_ms();
	if (s->rc) {
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
	} else {
		char *text = json_dumps(res, 0);

		snprintf(s->msg, sizeof(s->msg), "%s", text ? text : "");
		free(text);
	}
	json_decref(args);
	json_decref(res);
	return NULL;
}

/* One cancelled call on a gateway with one worker: it returns at once, and the next call is
 * served at once (the worker was freed by notifications/cancelled). */
static void cancel_one(struct cx_mcp_client *c, bool sse)
{
	struct slow s = { .c = c, .k = cx_mcp_cancel_new(), .sse = sse };
	pthread_t t;
	int64_t t0;
	json_t *res;

	assert_int_equal(pthread_create(&t, NULL, slow_call, &s), 0);
	usleep(600000);
	t0 = cx_now_ms();
	cx_mcp_cancel(s.k, "the operator cancelled the task");
	pthread_join(t, NULL);
	if (s.rc != CX_MCP_E_CANCELLED)
		fail_msg("the cancelled call returned %d (%s): %s", s.rc, cx_mcp_status_name(s.rc),
			 s.msg);
	assert_non_null(strstr(s.msg, "cancelled"));
	if (s.ended - t0 > 1500)
		fail_msg("the cancelled call returned after %lld ms", (long long)(s.ended - t0));
	if (sse)
		assert_true(s.p.n > 0); /* it was running, and streaming */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "freed"), NULL);
	assert_string_equal(echoed(res), "freed");
	if (cx_now_ms() - t0 > 3000)
		fail_msg("the only worker was not freed: the next call took %lld ms",
			 (long long)(cx_now_ms() - t0));
	json_decref(res);
	cx_mcp_cancel_free(s.k);
}

static void test_cancel_and_deadline(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_mcp_cancel *k = cx_mcp_cancel_new();
	struct cx_mcp_call_opts o = { .cancel = k };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args = json_pack("{s:i}", "ms", 20000);
	int64_t t0;

	gw_start(&g, 0, NULL, false, ", \"calls\": {\"workers\": 1, \"timeout_ms\": 30000}");
	c = client(&g, NULL);
	cancel_one(c, false);
	cancel_one(c, true);
	/* Cancelled before it starts: never sent. */
	cx_mcp_cancel(k, NULL);
	assert_true(cx_mcp_cancelled(k));
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, &o, &res, &err),
			 CX_MCP_E_CANCELLED);
	cx_mcp_cancel_reset(k);
	assert_false(cx_mcp_cancelled(k));
	/* A deadline: the call stops, the gateway is told, the worker comes back. */
	o.timeout_ms = 300;
	t0 = cx_now_ms();
	assert_int_equal(cx_mcp_call_tool(c, "testkit_sleep", args, &o, &res, &err),
			 CX_MCP_E_TIMEOUT);
	json_decref(args);
	assert_true(cx_now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "300 ms"));
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "after"), NULL);
	assert_true(cx_now_ms() - t0 < 4000);
	json_decref(res);
	cx_mcp_cancel_free(k);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- threads ---- */

static void test_eight_threads(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL); /* no session yet: the threads race to start it */
	run_workers(c);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- credentials ---- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_list_paging, kill_running),
		cmocka_unit_test_teardown(test_call_json_sse_progress, kill_running),
		cmocka_unit_test_teardown(test_response_cap, kill_running),
		cmocka_unit_test_teardown(test_cancel_and_deadline, kill_running),
		cmocka_unit_test_teardown(test_eight_threads, kill_running),
	};

	signal(SIGPIPE, SIG_IGN);
	find_gateway();
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
