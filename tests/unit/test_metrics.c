/* The gateway's counters and the text of a scrape (gateway/metrics.c, common/counters.c): what
 * a Prometheus server and an operator's alerts rely on. Each call lands in its tool's row
 * under its outcome and in its adapter's histogram in the right bucket; buckets are
 * cumulative and le="+Inf" equals _count; a sample an adapter reports is escaped so a label
 * cannot break the exposition; clients of one backend service share one set of counters; and
 * counting from many threads at once loses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/counters.h"
#include "../../common/log.h"
#include "../../gateway/metrics.h"
#include "../../gateway/registry.h"

static int fx_ok(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_text(res, "ok");
}

static const struct cx_tool fx_tools[] = {
	{ "fx_a", fx_ok, CX_READ_ONLY },
	{ "fx_b", fx_ok, 0 },
	{ NULL, NULL, 0 },
};

static const struct cx_tool gx_tools[] = {
	{ "gx_c", fx_ok, CX_READ_ONLY },
	{ NULL, NULL, 0 },
};

#define ENTRY(name)                                                                                \
	"{\"name\":\"" name "\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\"}}"

static const struct cx_adapter fx = {
	.name = "fx",
	.tools_json = "[" ENTRY("fx_a") "," ENTRY("fx_b") "]",
	.tools = fx_tools,
};
static const struct cx_adapter gx = {
	.name = "gx",
	.tools_json = "[" ENTRY("gx_c") "]",
	.tools = gx_tools,
};

struct fixture {
	struct cx_registry *reg;
	struct cx_metrics *m;
};

static int setup(void **state)
{
	static struct fixture f;
	struct cx_err err = { 0 };

	f.reg = cx_registry_new();
	assert_non_null(f.reg);
	assert_int_equal(cx_registry_add(f.reg, &fx, NULL, &err), 0);
	assert_int_equal(cx_registry_add(f.reg, &gx, NULL, &err), 0);
	f.m = cx_metrics_new(f.reg);
	assert_non_null(f.m);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cx_metrics_free(f->m);
	cx_registry_free(f->reg);
	return 0;
}

/* The whole exposition as a string (caller frees). */
static char *render(struct fixture *f, const json_t *adapter)
{
	struct cx_buf b = CX_BUF_INIT((size_t)1 << 20);
	struct cx_metrics_now now = { .in_flight = 3,
				      .queue_depth = 1,
				      .workers = 8,
				      .get_streams = 2,
				      .ready = true,
				      .adapter = adapter };
	size_t len;

	assert_int_equal(cx_metrics_render(f->m, &now, &b), 0);
	return cx_buf_detach(&b, &len);
}

static void assert_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);

	snprintf(want, strlen(line) + 3, "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line '%s' in:\n%s", line, text);
	free(want);
}

static const struct cx_reg_tool *tool(struct fixture *f, const char *name)
{
	const struct cx_reg_tool *rt = cx_registry_find(f->reg, name);

	assert_non_null(rt);
	return rt;
}

static void test_calls_by_tool_and_outcome(void **state)
{
	struct fixture *f = *state;
	char *text;

	cx_metrics_tool_call(f->m, tool(f, "fx_a"), CX_AUDIT_OK, 3);
	cx_metrics_tool_call(f->m, tool(f, "fx_a"), CX_AUDIT_OK, 4);
	cx_metrics_tool_call(f->m, tool(f, "fx_a"), CX_AUDIT_REFUSED, 0);
	cx_metrics_tool_call(f->m, tool(f, "fx_b"), CX_AUDIT_IS_ERROR, 1500);
	cx_metrics_tool_call(f->m, tool(f, "gx_c"), CX_AUDIT_ERROR, 70000);
	/* Not one of the registry's tools: ignored, never a crash. */
	cx_metrics_tool_call(f->m, (const struct cx_reg_tool *)f, CX_AUDIT_OK, 1);
	cx_metrics_tool_call(NULL, tool(f, "fx_a"), CX_AUDIT_OK, 1);
	text = render(f, NULL);
	assert_line(text, "# TYPE cortex_tool_calls_total counter");
	assert_line(text, "cortex_tool_calls_total{tool=\"fx_a\",outcome=\"ok\"} 2");
	assert_line(text, "cortex_tool_calls_total{tool=\"fx_a\",outcome=\"refused\"} 1");
	assert_line(text, "cortex_tool_calls_total{tool=\"fx_a\",outcome=\"isError\"} 0");
	assert_line(text, "cortex_tool_calls_total{tool=\"fx_b\",outcome=\"isError\"} 1");
	assert_line(text, "cortex_tool_calls_total{tool=\"gx_c\",outcome=\"error\"} 1");
	/* fx: 3 ms and 4 ms fall in le=0.005, 0 ms too; 1500 ms in le=2.5. */
	assert_line(text,
		    "cortex_tool_call_duration_seconds_bucket{adapter=\"fx\",le=\"0.005\"} 3");
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"fx\",le=\"1\"} 3");
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"fx\",le=\"2.5\"} 4");
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"fx\",le=\"+Inf\"} 4");
	assert_line(text, "cortex_tool_call_duration_seconds_count{adapter=\"fx\"} 4");
	assert_line(text, "cortex_tool_call_duration_seconds_sum{adapter=\"fx\"} 1.507");
	/* 70 s: over le=60, within le=120. */
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"gx\",le=\"60\"} 0");
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"gx\",le=\"120\"} 1");
	assert_line(text, "cortex_calls_in_flight 3");
	assert_line(text, "cortex_queue_depth 1");
	assert_line(text, "cortex_workers 8");
	assert_line(text, "cortex_http_streams_open{kind=\"get\"} 2");
	assert_line(text, "cortex_ready 1");
	free(text);
}

static void test_a_call_on_the_bucket_bound_counts_in_it(void **state)
{
	struct fixture *f = *state;
	char *text;

	cx_metrics_tool_call(f->m, tool(f, "gx_c"), CX_AUDIT_OK, 5);  /* exactly 0.005 s */
	cx_metrics_tool_call(f->m, tool(f, "gx_c"), CX_AUDIT_OK, 6);  /* just over */
	cx_metrics_tool_call(f->m, tool(f, "gx_c"), CX_AUDIT_OK, -4); /* a clock step: 0 */
	text = render(f, NULL);
	assert_line(text,
		    "cortex_tool_call_duration_seconds_bucket{adapter=\"gx\",le=\"0.005\"} 2");
	assert_line(text, "cortex_tool_call_duration_seconds_bucket{adapter=\"gx\",le=\"0.01\"} 3");
	free(text);
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	char *text;

	cx_metrics_session(f->m, true);
	cx_metrics_session(f->m, true);
	cx_metrics_session(f->m, false);
	text = render(f, NULL);
	assert_line(text, "cortex_sessions_started_total 2");
	assert_line(text, "cortex_sessions_ended_total 1");
	free(text);
}

static void test_adapter_samples_are_escaped(void **state)
{
	struct fixture *f = *state;
	json_t *a = json_pack("{s:[{s:s, s:s, s:{s:s}, s:i}, {s:s, s:{s:s}, s:f}, {s:s}]}", "fx",
			      "name", "fx_things", "help", "Things.", "labels", "kind",
			      "a\"b\\c\nd", "value", 7, "name", "fx_things", "labels", "kind", "e",
			      "value", 1.5, "name", "fx_no_value");
	char *text = render(f, a);

	assert_line(text, "# TYPE fx_things gauge");
	assert_line(text, "fx_things{adapter=\"fx\",kind=\"a\\\"b\\\\c\\nd\"} 7");
	assert_line(text, "fx_things{adapter=\"fx\",kind=\"e\"} 1.5");
	/* One HELP and TYPE per name; a sample without a value is left out. */
	assert_null(strstr(strstr(text, "# TYPE fx_things") + 1, "# TYPE fx_things"));
	assert_null(strstr(text, "fx_no_value"));
	json_decref(a);
	free(text);
}

static void test_backend_counters_are_shared_by_service(void **state)
{
	struct cx_backend_counters *a = cx_backend_counters("svc-one");
	struct cx_backend_counters *b = cx_backend_counters("svc-one");
	struct cx_backend_counters *c = cx_backend_counters("svc-two");
	struct fixture *f = *state;
	char *text;

	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_null(cx_backend_counters(NULL));
	assert_null(cx_backend_counters(""));
	cx_counter_inc(&a->requests);
	cx_counter_inc(&b->requests);
	cx_counter_inc(&a->retries);
	cx_counter_inc(&c->rate_limit_waits);
	text = render(f, NULL);
	assert_line(text, "cortex_backend_requests_total{backend=\"svc-one\"} 2");
	assert_line(text, "cortex_backend_retries_total{backend=\"svc-one\"} 1");
	assert_line(text, "cortex_backend_rate_limit_waits_total{backend=\"svc-two\"} 1");
	assert_line(text, "cortex_backend_failures_total{backend=\"svc-two\"} 0");
	free(text);
}

static void test_backend_table_full(void **state)
{
	char name[32];
	size_t n;

	for (int i = 0; i < CX_BACKENDS_MAX + 4; i++) {
		snprintf(name, sizeof(name), "many-%d", i);
		(void)cx_backend_counters(name);
	}
	cx_backend_counters_all(&n);
	assert_int_equal(n, CX_BACKENDS_MAX);
	assert_null(cx_backend_counters("one-more"));
}

struct hammer {
	struct cx_metrics *m;
	const struct cx_reg_tool *rt;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 10000; i++)
		cx_metrics_tool_call(h->m, h->rt, CX_AUDIT_OK, i % 200);
	return NULL;
}

static void test_concurrent_calls_lose_nothing(void **state)
{
	struct fixture *f = *state;
	struct hammer h = { f->m, tool(f, "fx_b") };
	pthread_t t[4];
	char *text;

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	text = render(f, NULL);
	assert_line(text, "cortex_tool_calls_total{tool=\"fx_b\",outcome=\"ok\"} 40000");
	assert_line(text, "cortex_tool_call_duration_seconds_count{adapter=\"fx\"} 40000");
	free(text);
}

static void test_render_into_a_full_buffer_fails(void **state)
{
	struct fixture *f = *state;
	struct cx_buf b = CX_BUF_INIT(100);
	struct cx_metrics_now now = { 0 };

	assert_int_equal(cx_metrics_render(f->m, &now, &b), -1);
	cx_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_calls_by_tool_and_outcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_call_on_the_bucket_bound_counts_in_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adapter_samples_are_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_counters_are_shared_by_service, setup,
						teardown),
		cmocka_unit_test(test_backend_table_full),
		cmocka_unit_test_setup_teardown(test_concurrent_calls_lose_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_render_into_a_full_buffer_fails, setup,
						teardown),
	};

	cx_log_set_level(CX_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
