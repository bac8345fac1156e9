/* The server core's tools/call path, driven through a fake exchange (server_fixture.h): bad
 * parameters and schema violations as readable errors, every failure an isError result,
 * synchronous and worker-run handlers, secrets redacted in the audit line, deadlines (running and
 * queued), back-pressure on a full queue, and draining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../common/audit.h"
#include "../../common/jsonrpc.h"
#include "../../common/log.h"
#include "../../common/mcp.h"
#include "../../common/util.h"
#include "../../gateway/adapters.h"
#include "../../gateway/config.h"
#include "../../gateway/registry.h"
#include "../../gateway/server.h"
#include "../../gateway/session.h"
#include "../adapters/testkit.h"
#include "fake_exchange.h"
#include "server_fixture.h"

/* ---- tools/call ---- */

static void test_call_param_errors(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	static const char *const bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"nope_tool\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":[\"hi\"]}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":\"text=hi\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":3}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":7}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"x\"]}",
	};

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = roundtrip(f, &sess, bad[i]);
		if (error_code(r) != CX_RPC_INVALID_PARAMS)
			fail_msg("%s answered %s", bad[i], json_dumps(r, JSON_COMPACT));
		json_decref(r);
	}
	{
		json_t *r = roundtrip(f, &sess, bad[0]);
		assert_contains(json_string_value(
					json_object_get(json_object_get(r, "error"), "message")),
				"'nope_tool'");
		json_decref(r);
	}
	cx_session_release(&sess);
}

static void test_call_schema_violation(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"hi\",\"count\":9}");
	assert_is_error(r, "arguments.count");
	json_decref(r);
	assert_audit(f, "testkit_echo", "isError", "stdio", "arguments.count");

	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{}");
	assert_is_error(r, "text");
	json_decref(r);
	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"hi\",\"extra\":1}");
	assert_is_error(r, "extra");
	json_decref(r);
	/* null arguments are no arguments: the schema still applies */
	r = roundtrip(f, &sess,
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		      "\"params\":{\"name\":\"testkit_sleep\",\"arguments\":null}}");
	assert_is_error(r, "ms");
	json_decref(r);
	cx_session_release(&sess);
}

static void test_call_failures_are_results(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");

	r = tool_call_as(f, f->who, &sess, "testkit_fail", "{}");
	assert_is_error(r, "always fails");
	json_decref(r);
	assert_audit(f, "testkit_fail", "isError", NULL, NULL);

	r = tool_call_as(f, f->who, &sess, "testkit_badoutput", "{}");
	assert_is_error(r, "outputSchema");
	assert_null(json_object_get(result_of(r), "structuredContent"));
	json_decref(r);
	assert_audit(f, "testkit_badoutput", "isError", NULL, "output schema");

	/* max_output_bytes is 4096 in this fixture */
	r = tool_call_as(f, f->who, &sess, "testkit_big", "{\"bytes\":10000}");
	assert_is_error(r, "limit");
	assert_true(strlen(result_text(r)) < 1000);
	json_decref(r);
	assert_audit(f, "testkit_big", "isError", NULL, "over the limit");
	r = tool_call_as(f, f->who, &sess, "testkit_big", "{\"bytes\":100}");
	assert_false(is_error_result(r));
	assert_int_equal(strlen(result_text(r)), 100);
	json_decref(r);
	assert_audit(f, "testkit_big", "ok", NULL, NULL);
	cx_session_release(&sess);
}

static void test_nonblocking_tool_is_synchronous(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	const json_t *sc, *a;
	struct fx_ex *e;
	json_t *r, *text;
	size_t i;
	bool has_testkit = false;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	e = fx_new(f->who, &sess);
	cx_server_submit(f->s, &e->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"gateway_status\"}}"));
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(fx_defers(e), 0);
	assert_true(pthread_equal(e->reply_thread, pthread_self()));
	r = e->response;
	assert_false(is_error_result(r));
	sc = json_object_get(result_of(r), "structuredContent");
	assert_string_equal(json_string_value(json_object_get(sc, "version")), CX_VERSION);
	json_array_foreach(json_object_get(sc, "adapters"), i, a)
		if (!strcmp(json_string_value(json_object_get(a, "name")), "testkit")) {
			has_testkit = true;
			assert_int_equal(json_integer_value(json_object_get(a, "tools")), 12);
		}
	assert_true(has_testkit);
	/* the same JSON as text */
	text = fx_parse(result_text(r));
	assert_true(json_equal(text, sc));
	json_decref(text);
	fx_free(e);
	assert_audit(f, "gateway_status", "ok", "stdio", NULL);
	cx_session_release(&sess);
}

static void test_blocking_tool_runs_on_worker(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e;
	json_t *r, *text;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	e = fx_new(f->who, &sess);
	cx_server_submit(
		f->s, &e->x,
		fx_parse("{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"testkit_echo\","
			 "\"arguments\":{\"text\":\"hi\",\"mode\":\"upper\",\"count\":2}}}"));
	assert_int_equal(fx_defers(e), 1);
	r = fx_wait(e);
	assert_false(pthread_equal(e->reply_thread, pthread_self()));
	assert_string_equal(json_string_value(json_object_get(r, "id")), "e");
	assert_false(is_error_result(r));
	assert_string_equal(json_string_value(json_object_get(json_object_get(result_of(r),
									      "structuredContent"),
							      "text")),
			    "HIHI");
	text = fx_parse(result_text(r));
	assert_string_equal(json_string_value(json_object_get(text, "text")), "HIHI");
	json_decref(text);
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(fx_defers(e), 1);
	fx_free(e);
	assert_audit(f, "testkit_echo", "ok", "stdio", NULL);
	cx_session_release(&sess);
}

static void test_secrets_redacted_in_audit(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r, *l;
	FILE *fp;
	char buf[65536];
	size_t n;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	r = tool_call_as(f, f->who, &sess, "testkit_echo",
			 "{\"text\":\"visible\",\"password\":\"hunter2-s3cret\"}");
	assert_false(is_error_result(r));
	json_decref(r);
	l = audit_last(f, "testkit_echo");
	assert_non_null(l);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(l, "arguments"), "password")),
			    "[redacted]");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(l, "arguments"), "text")),
			    "visible");
	json_decref(l);

	/* Also when the call is refused before it runs. */
	r = tool_call_as(f, f->who, &sess, "testkit_echo",
			 "{\"text\":\"visible\",\"password\":\"hunter2-s3cret\",\"count\":99}");
	assert_true(is_error_result(r));
	json_decref(r);

	fp = fopen(f->audit_path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_null(strstr(buf, "hunter2"));
	cx_session_release(&sess);
}

/* ---- deadlines, back-pressure, drain ---- */

/* Several calls at once: each handler notices the deadline by itself (cx_call_cancelled() is
 * true once it passes) and races the watchdog; whoever wins, the client must be told that
 * the deadline passed, and the audit line must say so. Half are testkit_sleep (polls every
 * 5 ms, usually loses the race), half spin_until_cancelled (usually wins it). */
static void test_deadline(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e[DEADLINE_CALLS];
	int64_t t0, took;
	json_t *lines, *l;
	size_t i;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	t0 = cx_now_ms();
	for (i = 0; i < DEADLINE_CALLS; i++) {
		e[i] = fx_new(f->who, &sess);
		cx_server_submit(
			f->s, &e[i]->x,
			i % 2 ? fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
					 "\"method\":\"tools/call\","
					 "\"params\":{\"name\":\"testkit_sleep\","
					 "\"arguments\":{\"ms\":5000}}}")
			      : fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
					 "\"method\":\"tools/call\","
					 "\"params\":{\"name\":\"spin_until_cancelled\"}}"));
	}
	for (i = 0; i < DEADLINE_CALLS; i++) {
		json_t *r = fx_wait(e[i]);

		assert_is_error(r, "did not finish within");
		assert_contains(result_text(r), "200 ms");
	}
	took = cx_now_ms() - t0;
	if (took < 190 || took > 2000)
		fail_msg("deadline replies after %lld ms", (long long)took);
	/* The handlers stopped; their late answers are dropped. */
	t0 = cx_now_ms();
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_true(cx_now_ms() - t0 < 2000);
	for (i = 0; i < DEADLINE_CALLS; i++) {
		assert_int_equal(fx_replies(e[i]), 1);
		fx_free(e[i]);
	}
	/* One audit line per call, each saying the deadline passed. */
	lines = audit_lines(f);
	assert_int_equal(json_array_size(lines), DEADLINE_CALLS);
	json_array_foreach(lines, i, l) {
		assert_string_equal(json_string_value(json_object_get(l, "outcome")), "isError");
		assert_contains(json_string_value(json_object_get(l, "detail")), "deadline");
	}
	json_decref(lines);
	cx_session_release(&sess);
}

/* A call whose deadline passes while it waits in the queue is answered at its deadline and
 * never run afterwards: the client was already told it was abandoned. */
static void test_deadline_in_queue(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *busy, *queued;
	int64_t t0;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	atomic_store(&spin_count_runs, 0);
	busy = fx_new(f->who, &sess);
	queued = fx_new(f->who, &sess);
	t0 = cx_now_ms();
	cx_server_submit(f->s, &busy->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"spin_stubborn\"}}"));
	cx_server_submit(f->s, &queued->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"spin_count\"}}"));
	assert_is_error(fx_wait(queued), "did not finish within");
	assert_true(cx_now_ms() - t0 < 380); /* at its deadline, not when the worker frees */
	assert_is_error(fx_wait(busy), "did not finish within");
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(atomic_load(&spin_count_runs), 0);
	assert_int_equal(fx_replies(busy), 1);
	assert_int_equal(fx_replies(queued), 1);
	fx_free(busy);
	fx_free(queued);
	cx_session_release(&sess);
}

static void test_queue_full(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e[3];
	int immediate = 0, slept = 0;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	for (int i = 0; i < 3; i++) {
		e[i] = fx_new(f->who, &sess);
		cx_server_submit(f->s, &e[i]->x,
				 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
					  "\"params\":{\"name\":\"testkit_sleep\","
					  "\"arguments\":{\"ms\":300}}}"));
		if (fx_replies(e[i]) == 1) {
			assert_is_error(e[i]->response, "saturated");
			immediate++;
		}
	}
	assert_true(immediate >= 1);
	assert_true(immediate <= 2);
	for (int i = 0; i < 3; i++) {
		json_t *r = fx_wait(e[i]);
		if (!is_error_result(r)) {
			assert_string_equal(result_text(r), "slept");
			slept++;
		}
	}
	assert_int_equal(slept, 3 - immediate);
	assert_int_equal(cx_server_drain(f->s), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fx_replies(e[i]), 1);
		fx_free(e[i]);
	}
	assert_audit(f, "testkit_sleep", "ok", NULL, NULL);
	{
		json_t *lines = audit_lines(f);
		size_t i, refused = 0;
		json_t *l;
		json_array_foreach(lines, i, l)
			refused += !strcmp(json_string_value(json_object_get(l, "outcome")),
					   "refused");
		assert_int_equal(refused, (size_t)immediate);
		json_decref(lines);
	}
	cx_session_release(&sess);
}

struct drain_arg {
	struct cx_server *s;
	struct fx_ex *inflight;
	int replies_when_drained;
	int64_t drained_ms;
	size_t abandoned;
};

static void *drain_main(void *p)
{
	struct drain_arg *d = p;

	d->abandoned = cx_server_drain(d->s);
	d->drained_ms = cx_now_ms();
	d->replies_when_drained = fx_replies(d->inflight);
	return NULL;
}

static void test_drain(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *sleeper, *late;
	struct drain_arg d = { .s = f->s, .inflight = NULL };
	pthread_t th;
	int64_t t0, until;
	bool refused = false;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	sleeper = fx_new(f->who, &sess);
	d.inflight = sleeper;
	t0 = cx_now_ms();
	cx_server_submit(f->s, &sleeper->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"testkit_sleep\","
				  "\"arguments\":{\"ms\":600}}}"));
	assert_int_equal(pthread_create(&th, NULL, drain_main, &d), 0);

	/* Until drain has begun, calls are still taken (and answered); then they are refused.
	 * Polled, since nothing else shows that drain has started. */
	until = cx_now_ms() + 3000;
	while (!refused && cx_now_ms() < until) {
		json_t *r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"x\"}");
		if (is_error_result(r)) {
			assert_contains(result_text(r), "shutting down");
			refused = true;
		} else {
			struct timespec ts = { 0, 2 * 1000000 };
			nanosleep(&ts, NULL);
		}
		json_decref(r);
	}
	assert_true(refused);
	/* the in-flight call was still running when the refusal came */
	assert_int_equal(fx_replies(sleeper), 0);
	assert_audit(f, "testkit_echo", "refused", "stdio", "shutting down");

	assert_int_equal(pthread_join(th, NULL), 0);
	/* drain returned only after the in-flight call was answered, and it finished */
	assert_int_equal(d.replies_when_drained, 1);
	assert_int_equal(d.abandoned, 0);
	assert_true(d.drained_ms - t0 >= 590);
	assert_string_equal(result_text(sleeper->response), "slept");
	assert_false(is_error_result(sleeper->response));
	fx_free(sleeper);

	/* and after drain, still refused */
	late = fx_new(f->who, &sess);
	cx_server_submit(f->s, &late->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"testkit_echo\","
				  "\"arguments\":{\"text\":\"x\"}}}"));
	assert_int_equal(fx_replies(late), 1);
	assert_is_error(late->response, "shutting down");
	fx_free(late);
	cx_session_release(&sess);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_param_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_schema_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_failures_are_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonblocking_tool_is_synchronous, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blocking_tool_runs_on_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets_redacted_in_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup_deadline, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_in_queue, setup_single, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup_narrow, teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	};

	cx_log_set_level(CX_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
