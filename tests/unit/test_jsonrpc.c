/* JSON-RPC classification and envelopes: what a client sends, how it is judged, and that its
 * id comes back exactly as sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/jsonrpc.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	assert_non_null(v);
	return v;
}

/* Classifies text; the message is returned so the borrowed pointers in out stay valid. */
static json_t *classify(const char *text, struct cx_rpc_msg *out)
{
	json_t *msg = parse(text);

	memset(out, 0x5a, sizeof(*out));
	cx_rpc_classify(msg, out);
	return msg;
}

static void expect_invalid(const char *text, bool keeps_id, const char *msg_part)
{
	struct cx_rpc_msg m;
	json_t *msg = classify(text, &m);

	assert_int_equal(m.kind, CX_RPC_INVALID);
	assert_int_equal(m.err_code, CX_RPC_INVALID_REQUEST);
	assert_non_null(m.err_msg);
	assert_non_null(strstr(m.err_msg, msg_part));
	if (keeps_id)
		assert_ptr_equal(m.id, json_object_get(msg, "id"));
	else
		assert_null(m.id);
	json_decref(msg);
}

static void test_request(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg = classify("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\","
			       "\"params\":{\"a\":1}}",
			       &m);

	assert_int_equal(m.kind, CX_RPC_REQUEST);
	assert_ptr_equal(m.id, json_object_get(msg, "id"));
	assert_string_equal(m.method, "tools/list");
	assert_ptr_equal(m.params, json_object_get(msg, "params"));
	json_decref(msg);
}

static void test_request_without_params(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg = classify("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}", &m);

	assert_int_equal(m.kind, CX_RPC_REQUEST);
	assert_string_equal(m.method, "ping");
	assert_null(m.params);
	json_decref(msg);
}

static void test_request_array_params(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
			       "\"params\":[1]}",
			       &m);

	assert_int_equal(m.kind, CX_RPC_REQUEST);
	assert_true(json_is_array(m.params));
	json_decref(msg);
}

static void test_notification(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg =
		classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m);

	assert_int_equal(m.kind, CX_RPC_NOTIFICATION);
	assert_null(m.id);
	assert_string_equal(m.method, "notifications/initialized");
	assert_null(m.params);
	json_decref(msg);
}

static void test_response_result_and_error(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg = classify("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", &m);

	assert_int_equal(m.kind, CX_RPC_RESPONSE);
	assert_ptr_equal(m.id, json_object_get(msg, "id"));
	json_decref(msg);

	msg = classify("{\"jsonrpc\":\"2.0\",\"id\":\"s\","
		       "\"error\":{\"code\":-1,\"message\":\"x\"}}",
		       &m);
	assert_int_equal(m.kind, CX_RPC_RESPONSE);
	assert_string_equal(json_string_value(m.id), "s");
	json_decref(msg);
}

static void test_not_an_object(void **state)
{
	expect_invalid("42", false, "object");
	expect_invalid("\"hello\"", false, "object");
	expect_invalid("null", false, "object");
	expect_invalid("[1,2]", false, "object");
}

static void test_bad_version(void **state)
{
	expect_invalid("{\"id\":1,\"method\":\"ping\"}", true, "'jsonrpc' must be \"2.0\"");
	expect_invalid("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", true, "'jsonrpc'");
	expect_invalid("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", true, "'jsonrpc'");
	expect_invalid("{\"jsonrpc\":\"2.00\",\"id\":1,\"method\":\"ping\"}", true, "'jsonrpc'");
}

static void test_bad_id_types(void **state)
{
	/* MCP forbids null ids; none of these can be echoed, so the answer uses null. */
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":false,\"result\":{}}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", false, "'id'");
}

static void test_real_id_accepted(void **state)
{
	struct cx_rpc_msg m;
	json_t *msg = classify("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", &m);

	assert_int_equal(m.kind, CX_RPC_REQUEST);
	assert_true(json_is_real(m.id));
	json_decref(msg);
}

static void test_bad_method_and_params(void **state)
{
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", true, "'method'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", true, "'method'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"a\"}", true,
		       "'params'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":\"x\",\"params\":3}", true,
		       "'params'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":null}", false, "'params'");
}

static void test_bad_responses(void **state)
{
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", true, "both");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"result\":{}}", false, "'id'");
	expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1}", true, "'method'");
	expect_invalid("{\"jsonrpc\":\"2.0\"}", false, "'method'");
}

static void check_echo(const char *id_text)
{
	json_t *id = parse(id_text);
	json_t *env = cx_rpc_result(id, json_object());
	json_t *err = cx_rpc_error(id, CX_RPC_METHOD_NOT_FOUND, "no", NULL);
	char *dumped;

	assert_non_null(env);
	assert_non_null(err);
	assert_true(json_equal(json_object_get(env, "id"), id));
	assert_true(json_equal(json_object_get(err, "id"), id));
	assert_int_equal(json_typeof(json_object_get(env, "id")), json_typeof(id));
	dumped = json_dumps(json_object_get(env, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
	assert_string_equal(dumped, id_text);
	free(dumped);
	/* The id still belongs to the caller as well. */
	assert_true(id->refcount >= 3);
	json_decref(env);
	json_decref(err);
	assert_int_equal(id->refcount, 1);
	json_decref(id);
}

static void test_ids_echoed(void **state)
{
	check_echo("\"abc-123\"");
	check_echo("\"\"");
	check_echo("\"\xc3\xa9t\xc3\xa9 \\\"q\\\"\"");
	check_echo("0");
	check_echo("-17");
	check_echo("9007199254740993");
	check_echo("2.5");
}

static void test_result_envelope(void **state)
{
	json_t *id = json_integer(4);
	json_t *env = cx_rpc_result(id, json_pack("{s:i}", "x", 1));
	char *text;

	assert_non_null(env);
	assert_int_equal(json_object_size(env), 3);
	assert_string_equal(json_string_value(json_object_get(env, "jsonrpc")), "2.0");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(env, "result"), "x")),
			 1);
	text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"id\":4,\"jsonrpc\":\"2.0\",\"result\":{\"x\":1}}");
	free(text);
	json_decref(env);
	json_decref(id);
}

static void test_null_id_becomes_json_null(void **state)
{
	json_t *env = cx_rpc_error(NULL, CX_RPC_PARSE_ERROR, "parse error", NULL);
	json_t *e;

	assert_non_null(env);
	assert_true(json_is_null(json_object_get(env, "id")));
	e = json_object_get(env, "error");
	assert_int_equal(json_integer_value(json_object_get(e, "code")), -32700);
	assert_string_equal(json_string_value(json_object_get(e, "message")), "parse error");
	assert_null(json_object_get(e, "data"));
	assert_null(json_object_get(env, "result"));
	json_decref(env);

	env = cx_rpc_result(NULL, json_object());
	assert_true(json_is_null(json_object_get(env, "id")));
	json_decref(env);
}

static void test_error_with_data(void **state)
{
	json_t *id = json_string("q");
	json_t *data = json_pack("{s:s}", "field", "name");
	json_t *env = cx_rpc_error(id, CX_RPC_INVALID_PARAMS, "bad", data);
	json_t *e = json_object_get(env, "error");

	assert_non_null(env);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), -32602);
	assert_ptr_equal(json_object_get(e, "data"), data); /* stolen, not copied */
	assert_int_equal(data->refcount, 1);
	json_decref(env);
	json_decref(id);
}

static void test_result_null_is_oom(void **state)
{
	/* A NULL result is what a failed constructor hands in: no envelope, nothing leaked. */
	json_t *id = json_integer(1);

	assert_null(cx_rpc_result(id, NULL));
	assert_int_equal(id->refcount, 1);
	json_decref(id);
}

static void test_notification_envelope(void **state)
{
	json_t *params = json_pack("{s:s}", "requestId", "r1");
	json_t *n = cx_rpc_notification("notifications/cancelled", params);

	assert_non_null(n);
	assert_string_equal(json_string_value(json_object_get(n, "jsonrpc")), "2.0");
	assert_string_equal(json_string_value(json_object_get(n, "method")),
			    "notifications/cancelled");
	assert_ptr_equal(json_object_get(n, "params"), params);
	assert_null(json_object_get(n, "id"));
	json_decref(n);

	n = cx_rpc_notification("notifications/tools/list_changed", NULL);
	assert_non_null(n);
	assert_null(json_object_get(n, "params"));
	assert_int_equal(json_object_size(n), 2);
	json_decref(n);

	/* No method: params are still released (steal contract on the failure path). */
	assert_null(cx_rpc_notification(NULL, json_object()));
}

static void test_classify_reply_roundtrip(void **state)
{
	/* A request's id goes straight into its answer, and the answer classifies as a response. */
	struct cx_rpc_msg m, r;
	json_t *req = classify("{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"ping\"}", &m);
	json_t *ans = cx_rpc_result(m.id, json_object());

	cx_rpc_classify(ans, &r);
	assert_int_equal(r.kind, CX_RPC_RESPONSE);
	assert_true(json_equal(r.id, m.id));
	json_decref(ans);
	json_decref(req);
}

/* Fault injection (SQLite's way): allocation number `fail_at` and every later one fail. */
static long allocs, fail_at = -1;

static void *failing_malloc(size_t n)
{
	if (fail_at >= 0 && allocs++ >= fail_at)
		return NULL;
	return malloc(n);
}

static void build_all(json_t *id)
{
	json_t *v;

	v = cx_rpc_result(id, json_pack("{s:[i]}", "tools", 1));
	json_decref(v);
	v = cx_rpc_error(id, CX_RPC_INVALID_PARAMS, "bad", json_pack("{s:s}", "f", "x"));
	json_decref(v);
	v = cx_rpc_notification("notifications/progress", json_pack("{s:i}", "progress", 1));
	json_decref(v);
}

static void test_out_of_memory_every_step(void **state)
{
	/* Every allocation fails in turn; ASan reports anything the builders leak on the way. */
	json_t *id = json_string("req-1");
	long n;

	for (n = 0; n < 64; n++) {
		allocs = 0;
		fail_at = n;
		json_set_alloc_funcs(failing_malloc, free);
		build_all(id);
		json_set_alloc_funcs(malloc, free);
		assert_int_equal(id->refcount, 1);
	}
	/* The last round needed fewer allocations than it was allowed: every step was covered. */
	assert_true(allocs < 64 - 1);
	fail_at = -1;
	json_decref(id);
}

/* Batch members counted as the text arrives, in pieces split anywhere (inside strings and
 * escapes too), without parsing; what is not an array counts 0. */
static void test_batch_count(void **state)
{
	static const struct {
		const char *text;
		size_t members;
	} cases[] = {
		{ "[]", 0 },
		{ "  [ ]  ", 0 },
		{ "{\"jsonrpc\":\"2.0\"}", 0 },
		{ "[{\"id\":1}]", 1 },
		{ "[{\"id\":1},{\"id\":2}, {\"id\":3}]", 3 },
		{ "[{\"a\":\"x,y,]\"},{\"b\":[1,2,3]}]", 2 },
		{ "[{\"a\":\"q\\\",\\\\\"},2,\"s\\\\\"]", 3 },
		{ "\n[1,[2,[3,4]],{\"k\":{\"l\":[5,6]}}]", 3 },
		{ "[1,2] trailing, junk, here", 2 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		size_t len = strlen(t);

		if (cx_rpc_batch_count(t, len) != cases[i].members)
			fail_msg("'%s': %zu members, not %zu", t, cx_rpc_batch_count(t, len),
				 cases[i].members);
		/* Every split into two pieces, and byte by byte, counts the same. */
		for (size_t cut = 0; cut <= len; cut++) {
			struct cx_rpc_counter c = { 0 };
			cx_rpc_count_feed(&c, t, cut);
			cx_rpc_count_feed(&c, t + cut, len - cut);
			assert_int_equal(cx_rpc_count_members(&c), cases[i].members);
		}
		struct cx_rpc_counter c = { 0 };
		for (size_t k = 0; k < len; k++)
			cx_rpc_count_feed(&c, t + k, 1);
		assert_int_equal(cx_rpc_count_members(&c), cases[i].members);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_request_without_params),
		cmocka_unit_test(test_request_array_params),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_response_result_and_error),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_id_types),
		cmocka_unit_test(test_real_id_accepted),
		cmocka_unit_test(test_bad_method_and_params),
		cmocka_unit_test(test_bad_responses),
		cmocka_unit_test(test_ids_echoed),
		cmocka_unit_test(test_result_envelope),
		cmocka_unit_test(test_null_id_becomes_json_null),
		cmocka_unit_test(test_error_with_data),
		cmocka_unit_test(test_result_null_is_oom),
		cmocka_unit_test(test_notification_envelope),
		cmocka_unit_test(test_classify_reply_roundtrip),
		cmocka_unit_test(test_out_of_memory_every_step),
		cmocka_unit_test(test_batch_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
