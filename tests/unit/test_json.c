/* cx_json_dumps must write exactly what jansson's compact dump writes, for every value the
 * gateway sends: clients parse it, and tests elsewhere compare the text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/buf.h"
#include "../../common/json.h"

static void assert_same_as_jansson(json_t *v)
{
	char *ours, *theirs;
	size_t len = 0;

	assert_non_null(v);
	ours = cx_json_dumps(v, &len);
	theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(ours);
	assert_non_null(theirs);
	assert_string_equal(ours, theirs);
	assert_int_equal(len, strlen(theirs));
	free(ours);
	free(theirs);
	json_decref(v);
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	assert_non_null(v);
	return v;
}

static void test_scalars(void **state)
{
	assert_same_as_jansson(json_null());
	assert_same_as_jansson(json_true());
	assert_same_as_jansson(json_false());
	assert_same_as_jansson(json_integer(0));
	assert_same_as_jansson(json_integer(-1));
	assert_same_as_jansson(json_integer(INT64_MAX));
	assert_same_as_jansson(json_integer(INT64_MIN));
	assert_same_as_jansson(json_real(1.0));
	assert_same_as_jansson(json_real(-0.5));
	assert_same_as_jansson(json_real(1e300));
	assert_same_as_jansson(json_real(0.1));
	assert_same_as_jansson(json_real(1e-7));
	assert_same_as_jansson(json_real(-2.5e-300));
	assert_same_as_jansson(json_real(1e21));
	assert_same_as_jansson(json_real(123456789.0));
	assert_same_as_jansson(json_string(""));
}

/* Whole-number reals take a short path: the same text as jansson on both sides of its edge
 * (16 digits), for negative zero, and for numbers near 2^53. */
static void test_whole_reals(void **state)
{
	static const double v[] = { 0.0,
				    -0.0,
				    1.0,
				    -123.0,
				    4294967296.0,
				    1e15,
				    -1e15,
				    9999999999999998.0,
				    -9999999999999998.0,
				    1e16,
				    -1e16,
				    10000000000000002.0,
				    9007199254740992.0,
				    9007199254740993.0,
				    1e17,
				    0.5,
				    0.031,
				    1e-320 };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_same_as_jansson(json_real(v[i]));
}

static void test_string_escapes(void **state)
{
	assert_same_as_jansson(json_string("quote \" backslash \\ slash / tab \t nl \n cr \r"));
	assert_same_as_jansson(json_string("\b\f\x01\x1f\x7f end"));
	assert_same_as_jansson(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	assert_same_as_jansson(json_stringn("nul\0inside", 10));
	assert_same_as_jansson(load("\"\\u2028\\u2029\""));
	/* Every ASCII byte, NUL and each control character among them, alone and in a run. */
	char all[128];
	for (int c = 0; c < 128; c++) {
		char one = (char)c;
		all[c] = (char)c;
		assert_same_as_jansson(json_stringn(&one, 1));
	}
	assert_same_as_jansson(json_stringn(all, sizeof(all)));
}

/* A string whose worst case does not fit the buffer's maximum, but whose text does, is still
 * written (the escape-by-escape path), and exactly. */
static void test_string_near_the_cap(void **state)
{
	struct cx_buf b = CX_BUF_INIT(20);
	json_t *v = json_string("a\"b\nc");

	assert_int_equal(cx_json_dump_buf(v, &b), 0);
	assert_string_equal(b.data, "\"a\\\"b\\nc\"");
	json_decref(v);
	cx_buf_release(&b);
}

/* The bound the output-size check relies on is never below the real size. */
static void test_size_bound(void **state)
{
	const char *docs[] = {
		"{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"a\\\":\\u0001}\"}],"
		"\"structuredContent\":{\"n\":-9223372036854775808,\"r\":-2.2250738585072014e-308,"
		"\"t\":true,\"f\":false,\"z\":null,\"k\\n\":[[],{}]}}",
		"[\"\\u0000\\u0000\\u0000\"]",
		"[]",
		"{}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *v = load(docs[i]);
		size_t len = 0;
		char *text = cx_json_dumps(v, &len);
		assert_non_null(text);
		assert_true(cx_json_size_bound(v) >= len);
		free(text);
		json_decref(v);
	}
}

static void test_containers(void **state)
{
	assert_same_as_jansson(json_object());
	assert_same_as_jansson(json_array());
	assert_same_as_jansson(
		load("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":"
		     "\"text\",\"text\":\"{\\\"a\\\":1}\"}],\"isError\":true}}"));
	assert_same_as_jansson(load("[1,[2,[3,[4,{}]]],{\"k\\\"ey\":[null,false,1.5]}]"));
	assert_same_as_jansson(load("{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}"));
}

static void test_limits_and_failures(void **state)
{
	struct cx_buf b = CX_BUF_INIT(8);
	json_t *v = json_string("longer than eight");

	assert_int_equal(cx_buf_append(&b, "ab", 2), 0);
	/* A value that does not fit leaves the buffer as it was. */
	assert_int_equal(cx_json_dump_buf(v, &b), -1);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	json_decref(v);
	v = json_integer(42);
	assert_int_equal(cx_json_dump_buf(v, &b), 0);
	assert_string_equal(b.data, "ab42");
	json_decref(v);
	cx_buf_release(&b);
	assert_null(cx_json_dumps(NULL, NULL));

	/* Deep nesting past the limit is refused rather than overflowing the stack. */
	json_t *root = json_array(), *cur = root;
	for (int i = 0; i < 5000; i++) {
		json_t *next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	assert_null(cx_json_dumps(root, NULL));
	json_decref(root);
}

static void test_loadb_rejects_duplicates_and_caps(void **state)
{
	struct cx_err err = { 0 };
	const char *dup = "{\"a\":1,\"a\":2}";

	assert_null(cx_json_loadb(dup, strlen(dup), 100, &err));
	assert_non_null(strstr(err.msg, "duplicate"));
	assert_null(cx_json_loadb("[1,2,3]", 7, 6, &err));
	json_t *v = cx_json_loadb("[1,2,3]", 7, 7, &err);
	assert_non_null(v);
	json_decref(v);
	assert_null(cx_json_loadb("{\"a\":", 5, 100, &err));
	assert_non_null(strstr(err.msg, "line 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_whole_reals),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_string_near_the_cap),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_limits_and_failures),
		cmocka_unit_test(test_loadb_rejects_duplicates_and_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
