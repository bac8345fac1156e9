/* Protocol versions and the CallToolResult builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/mcp.h"

static void test_versions_list(void **state)
{
	assert_string_equal(cx_mcp_versions[0], CX_MCP_LATEST);
	assert_string_equal(cx_mcp_versions[0], "2025-11-25");
	assert_string_equal(cx_mcp_versions[1], "2025-06-18");
	assert_string_equal(cx_mcp_versions[2], "2025-03-26");
	assert_null(cx_mcp_versions[3]);
}

static void test_supported(void **state)
{
	assert_true(cx_mcp_version_supported("2025-11-25"));
	assert_true(cx_mcp_version_supported("2025-06-18"));
	assert_true(cx_mcp_version_supported(CX_MCP_HTTP_DEFAULT));
	assert_false(cx_mcp_version_supported("2024-11-05"));
	assert_false(cx_mcp_version_supported("2025-11-2"));
	assert_false(cx_mcp_version_supported(""));
	assert_false(cx_mcp_version_supported(NULL));
}

static void test_negotiate(void **state)
{
	char requested[] = "2025-06-18";
	const char *v = cx_mcp_negotiate(requested);

	assert_string_equal(v, "2025-06-18");
	/* Our own string: the client's buffer may go away with its request. */
	assert_ptr_not_equal(v, requested);
	assert_string_equal(cx_mcp_negotiate("2025-03-26"), "2025-03-26");
	assert_string_equal(cx_mcp_negotiate("2024-11-05"), CX_MCP_LATEST);
	assert_string_equal(cx_mcp_negotiate("2099-01-01"), CX_MCP_LATEST);
	assert_string_equal(cx_mcp_negotiate("junk"), CX_MCP_LATEST);
	assert_string_equal(cx_mcp_negotiate(NULL), CX_MCP_LATEST);
}

static void test_allows_batch(void **state)
{
	assert_true(cx_mcp_allows_batch("2025-03-26"));
	assert_true(cx_mcp_allows_batch("2024-11-05"));
	assert_false(cx_mcp_allows_batch("2025-06-18"));
	assert_false(cx_mcp_allows_batch("2025-11-25"));
	assert_false(cx_mcp_allows_batch("2026-07-28"));
	assert_false(cx_mcp_allows_batch(NULL));
	assert_false(cx_mcp_allows_batch(""));
	assert_false(cx_mcp_allows_batch("1.0"));
	assert_false(cx_mcp_allows_batch("2025-03-26x"));
}

static const char *block_text(const json_t *res, size_t i)
{
	const json_t *b = json_array_get(json_object_get(res, "content"), i);

	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "type")), "text");
	assert_int_equal(json_object_size(b), 2);
	return json_string_value(json_object_get(b, "text"));
}

static void test_text_result(void **state)
{
	struct cx_result r;
	json_t *res;

	cx_result_init(&r);
	assert_int_equal(cx_result_text(&r, "first"), 0);
	assert_int_equal(cx_result_text(&r, "second"), 0);
	res = cx_result_take(&r);
	assert_non_null(res);
	assert_int_equal(json_array_size(json_object_get(res, "content")), 2);
	assert_string_equal(block_text(res, 0), "first");
	assert_string_equal(block_text(res, 1), "second");
	/* isError is omitted, not false, when the call succeeded. */
	assert_null(json_object_get(res, "isError"));
	assert_null(json_object_get(res, "structuredContent"));
	assert_int_equal(json_object_size(res), 1);
	json_decref(res);
}

static void test_empty_result_has_content_array(void **state)
{
	struct cx_result r;
	json_t *res;

	cx_result_init(&r);
	res = cx_result_take(&r);
	assert_non_null(res);
	assert_true(json_is_array(json_object_get(res, "content")));
	assert_int_equal(json_array_size(json_object_get(res, "content")), 0);
	json_decref(res);
}

static void test_errorf(void **state)
{
	struct cx_result r;
	json_t *res;

	cx_result_init(&r);
	assert_int_equal(cx_result_errorf(&r, "node '%s' is not reachable (%d)", "pve1", 503), 0);
	assert_true(r.is_error);
	res = cx_result_take(&r);
	assert_true(json_is_true(json_object_get(res, "isError")));
	assert_string_equal(block_text(res, 0), "node 'pve1' is not reachable (503)");
	json_decref(res);
}

static void test_errorf_truncates(void **state)
{
	struct cx_result r;
	char *big = malloc(10000);
	const char *text;
	json_t *res;

	/* "ab" then two-byte characters, so the cut at 4095 bytes falls inside one of them. */
	big[0] = 'a';
	big[1] = 'b';
	for (size_t i = 2; i + 1 < 9999; i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	big[9999] = '\0';
	cx_result_init(&r);
	assert_int_equal(cx_result_errorf(&r, "%s", big), 0);
	res = cx_result_take(&r);
	assert_non_null(res);
	text = block_text(res, 0);
	assert_non_null(text);
	assert_true(strlen(text) < 4096);
	assert_true(strlen(text) > 4000);
	/* Whole characters only: the text is a prefix of the original. */
	assert_memory_equal(text, big, strlen(text));
	json_decref(res);
	free(big);
}

static void test_invalid_utf8_text_kept(void **state)
{
	struct cx_result r;
	json_t *res;

	cx_result_init(&r);
	assert_int_equal(cx_result_text(&r, "ok \xff\xfe done"), 0);
	res = cx_result_take(&r);
	assert_string_equal(block_text(res, 0), "ok \xef\xbf\xbd\xef\xbf\xbd done");
	json_decref(res);
}

static void test_structured(void **state)
{
	struct cx_result r;
	json_t *value = json_pack("{s:i,s:[s,s]}", "count", 2, "names", "a", "b");
	json_t *res, *back;
	json_error_t e;

	cx_result_init(&r);
	assert_int_equal(cx_result_structured(&r, value), 0);
	res = cx_result_take(&r);
	assert_ptr_equal(json_object_get(res, "structuredContent"), value);
	assert_int_equal(value->refcount, 1); /* stolen */
	/* The text block is the same JSON, compact. */
	assert_string_equal(block_text(res, 0), "{\"count\":2,\"names\":[\"a\",\"b\"]}");
	back = json_loads(block_text(res, 0), 0, &e);
	assert_true(json_equal(back, value));
	json_decref(back);
	json_decref(res);
}

static void test_structured_null_fails(void **state)
{
	struct cx_result r;

	cx_result_init(&r);
	assert_int_equal(cx_result_structured(&r, NULL), -1);
	assert_null(r.structured);
	cx_result_release(&r);
}

static void test_take_leaves_result_reusable(void **state)
{
	struct cx_result r;
	json_t *a, *b;

	cx_result_init(&r);
	cx_result_errorf(&r, "bad");
	cx_result_structured(&r, json_pack("{s:b}", "ok", 0));
	a = cx_result_take(&r);
	assert_null(r.content);
	assert_null(r.structured);
	assert_false(r.is_error);
	assert_int_equal(cx_result_text(&r, "again"), 0);
	b = cx_result_take(&r);
	assert_int_equal(json_array_size(json_object_get(b, "content")), 1);
	assert_null(json_object_get(b, "isError"));
	assert_null(json_object_get(b, "structuredContent"));
	assert_int_equal(json_array_size(json_object_get(a, "content")), 2);
	assert_non_null(json_object_get(a, "structuredContent"));
	json_decref(a);
	json_decref(b);
	cx_result_release(&r); /* harmless after take */
}

static void test_release_frees(void **state)
{
	struct cx_result r;

	/* Under ASan, a leak here fails the run. */
	cx_result_init(&r);
	cx_result_text(&r, "x");
	cx_result_structured(&r, json_object());
	cx_result_structured(&r, json_pack("{s:i}", "replaced", 1));
	r.is_error = true;
	cx_result_release(&r);
	assert_null(r.content);
	assert_null(r.structured);
	assert_false(r.is_error);
	cx_result_release(&r);
}

/* Fault injection (SQLite's way): allocation number `fail_at` and every later one fail. */
static long allocs, fail_at = -1;

static void *failing_malloc(size_t n)
{
	if (fail_at >= 0 && allocs++ >= fail_at)
		return NULL;
	return malloc(n);
}

static void test_out_of_memory_every_step(void **state)
{
	/* Every allocation fails in turn: no crash, and ASan reports anything leaked. */
	for (long n = 0; n < 80; n++) {
		struct cx_result r;
		json_t *res;

		allocs = 0;
		fail_at = n;
		json_set_alloc_funcs(failing_malloc, free);
		cx_result_init(&r);
		cx_result_text(&r, "hello");
		cx_result_errorf(&r, "failed %d", 3);
		cx_result_structured(&r, json_pack("{s:i}", "n", 1));
		res = cx_result_take(&r);
		assert_null(r.content);
		assert_null(r.structured);
		json_decref(res);
		cx_result_release(&r);
		json_set_alloc_funcs(malloc, free);
	}
	/* The last round needed fewer allocations than it was allowed: every step was covered. */
	assert_true(allocs < 80 - 1);
	fail_at = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_list),
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_allows_batch),
		cmocka_unit_test(test_text_result),
		cmocka_unit_test(test_empty_result_has_content_array),
		cmocka_unit_test(test_errorf),
		cmocka_unit_test(test_errorf_truncates),
		cmocka_unit_test(test_invalid_utf8_text_kept),
		cmocka_unit_test(test_structured),
		cmocka_unit_test(test_structured_null_fails),
		cmocka_unit_test(test_take_leaves_result_reusable),
		cmocka_unit_test(test_release_frees),
		cmocka_unit_test(test_out_of_memory_every_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
