/* The MCP client against the real gateway (mcp_client_fixture.h) when things go wrong: a
 * wrong token, sessions that outlive a restart (same session key) and sessions that do not
 * (another key: re-initialized), the gateway killed mid-call, an unreachable gateway and a
 * path that is not the MCP endpoint. */
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

static void test_tokens(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_mcp_client_opts o = { 0 };
	struct cx_err err = { 0 };
	json_t *res = NULL;

	gw_start(&g, 0, NULL, true, "");
	c = client(&g, "wrong-" TOKEN);
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, NULL, &res, &err),
			 CX_MCP_E_AUTH);
	assert_non_null(strstr(err.msg, "401"));
	assert_non_null(strstr(err.msg, "not valid"));
	assert_null(strstr(err.msg, TOKEN));
	cx_mcp_client_free(c);
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), CX_MCP_E_AUTH);
	assert_non_null(strstr(err.msg, "Bearer"));
	cx_mcp_client_free(c);
	/* The URL and the token from the environment. */
	setenv("CORTEX_GATEWAY_URL", g.url, 1);
	setenv("CORTEX_TOKEN", TOKEN, 1);
	c = cx_mcp_client_new(&o, &err);
	assert_non_null(c);
	assert_string_equal(cx_mcp_client_url(c), g.url);
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "let in"), NULL);
	assert_string_equal(echoed(res), "let in");
	json_decref(res);
	cx_mcp_client_free(c);
	unsetenv("CORTEX_GATEWAY_URL");
	unsetenv("CORTEX_TOKEN");
	c = cx_mcp_client_new(NULL, &err);
	assert_string_equal(cx_mcp_client_url(c), "http://127.0.0.1:8080/mcp");
	cx_mcp_client_free(c);
	o.url = "ftp://example.org/mcp";
	assert_null(cx_mcp_client_new(&o, &err));
	assert_non_null(strstr(err.msg, "http://"));
	o.url = g.url;
	o.token = "two words";
	assert_null(cx_mcp_client_new(&o, &err));
	assert_null(strstr(err.msg, "two words"));
	gw_done(&g);
}

/* ---- sessions across restarts ---- */

static void test_session_restart(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	char before[512], after[512];
	unsigned port;
	json_t *res;

	gw_start(&g, 0, KEY_A, true, "");
	port = g.port;
	c = client(&g, TOKEN);
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "one"), NULL);
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, before, sizeof(before)));

	/* Same key: the sealed session id is still good after a restart. */
	gw_stop(&g);
	gw_start(&g, port, KEY_A, true, "");
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "two"), NULL);
	assert_string_equal(echoed(res), "two");
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, after, sizeof(after)));
	assert_string_equal(before, after);

	/* Another key: 404, a new session, the call retried once and answered. */
	gw_stop(&g);
	gw_start(&g, port, KEY_B, true, "");
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "three"), NULL);
	assert_string_equal(echoed(res), "three");
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, after, sizeof(after)));
	assert_string_not_equal(before, after);
	/* And with progress (SSE) after one more loss. */
	gw_stop(&g);
	gw_start(&g, port, NULL, true, "");
	{
		struct progress_log p = { 0 };
		struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };

		res = call_ok(c, "testkit_progress", json_pack("{s:i, s:i}", "steps", 2, "ms", 0),
			      &o);
		assert_int_equal(p.n, 2);
		json_decref(res);
	}
	/* Eight threads meet the lost session at once: one new session serves them all. */
	gw_stop(&g);
	gw_start(&g, port, KEY_A, true, "");
	run_workers(c);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- no gateway ---- */

static void *kill_later(void *arg)
{
	usleep(800000); /* the call is running (and, with SSE, has reported progress) */
	kill(*(pid_t *)arg, SIGKILL);
	return NULL;
}

/* The gateway dies during a call: the error says the call may or may not have run. */
static void gateway_dies(bool sse, int want, const char *says)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args;
	pthread_t t;
	int rc;

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, kill_later, &g.pid), 0);
	args = sse ? json_pack("{s:i, s:i}", "steps", 100, "ms", 100)
		   : json_pack("{s:i}", "ms", 20000);
	rc = cx_mcp_call_tool(c, sse ? "testkit_progress" : "testkit_sleep", args, sse ? &o : NULL,
			      &res, &err);
	pthread_join(t, NULL);
	json_decref(args);
	if (rc != want || !strstr(err.msg, says))
		fail_msg("got %d (%s), want %d with \"%s\"", rc, err.msg, want, says);
	if (sse)
		assert_true(p.n > 0);
	cx_mcp_client_free(c);
	gw_done(&g);
}

static void test_gateway_dies_mid_call(void **state)
{
	gateway_dies(false, CX_MCP_E_UNREACHABLE, "may or may not have been carried out");
	gateway_dies(true, CX_MCP_E_PROTOCOL, "ended before its answer");
}

static void test_unreachable(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *res = NULL;
	int64_t t0 = cx_now_ms();

	snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%u/mcp", free_port());
	c = client(&g, TOKEN);
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, NULL, &res, &err),
			 CX_MCP_E_UNREACHABLE);
	assert_non_null(strstr(err.msg, "gateway unreachable at"));
	assert_non_null(strstr(err.msg, g.url));
	assert_non_null(strstr(err.msg, "check that cortex-gateway runs there"));
	assert_null(strstr(err.msg, TOKEN));
	assert_true(cx_now_ms() - t0 < 3000);
	assert_int_equal(cx_mcp_list_tools(c, &res, &err), CX_MCP_E_UNREACHABLE);
	cx_mcp_client_free(c);
	/* A path that is not the MCP endpoint: an HTTP error, not a hang or a crash. */
	gw_start(&g, 0, NULL, false, "");
	snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%u/nope", g.port);
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), CX_MCP_E_HTTP);
	assert_non_null(strstr(err.msg, "404"));
	cx_mcp_client_free(c);
	gw_done(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tokens, kill_running),
		cmocka_unit_test_teardown(test_session_restart, kill_running),
		cmocka_unit_test_teardown(test_unreachable, kill_running),
		cmocka_unit_test_teardown(test_gateway_dies_mid_call, kill_running),
	};

	signal(SIGPIPE, SIG_IGN);
	find_gateway();
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
