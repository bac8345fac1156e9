/* A tool result serialized once: cx_json_dumps_splice writes given text for one value (by
 * identity, never for an equal copy), cx_result records the text block it wrote for
 * structuredContent, and the reply path (cx_reply_offer / cx_reply_dumps) uses the offered
 * text only for the very result it was made for, only while offered, and never once the
 * result changed (the stateless revision's resultType). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/json.h"
#include "../../common/mcp.h"
#include "../../gateway/reply.h"

static void test_splice_by_identity(void **state)
{
	json_t *inner = json_pack("{s:i}", "a", 1);
	json_t *copy = json_deep_copy(inner);
	json_t *doc = json_pack("{s:O, s:O, s:[O]}", "x", inner, "y", copy, "z", inner);
	size_t len;
	char *s = cx_json_dumps_splice(doc, inner, "RAW", 3, &len);

	/* Both places that hold inner itself; the equal copy is serialized. */
	assert_string_equal(s, "{\"x\":RAW,\"y\":{\"a\":1},\"z\":[RAW]}");
	assert_int_equal(len, strlen(s));
	free(s);
	/* No target: the plain serialization. */
	s = cx_json_dumps_splice(doc, NULL, "RAW", 3, &len);
	assert_string_equal(s, "{\"x\":{\"a\":1},\"y\":{\"a\":1},\"z\":[{\"a\":1}]}");
	free(s);
	json_decref(doc);
	json_decref(inner);
	json_decref(copy);
}

/* The reply written with the structured text spliced is byte for byte the plain one. */
static void test_result_text_is_exact(void **state)
{
	struct cx_result res;
	json_t *v = json_pack("{s:[{s:i, s:s, s:f, s:b}], s:i}", "vms", "vmid", 100, "name",
			      "web \"01\"\n", "cpu", 0.031, "template", 0, "count", 1);
	json_t *out, *env;
	const json_t *structured, *stext;
	char *plain, *spliced, *reply;
	size_t len;

	cx_result_init(&res);
	assert_int_equal(cx_result_text(&res, "a block before"), 0);
	assert_int_equal(cx_result_structured(&res, v), 0);
	structured = res.structured;
	stext = res.structured_text;
	assert_non_null(stext);
	out = cx_result_take(&res);
	assert_null(res.structured_text);
	plain = cx_json_dumps(out, NULL);
	spliced = cx_json_dumps_splice(out, structured, json_string_value(stext),
				       json_string_length(stext), &len);
	assert_string_equal(spliced, plain);

	/* Offered for out, it is used in a reply that holds out... */
	env = json_pack("{s:s, s:i, s:O}", "jsonrpc", "2.0", "id", 7, "result", out);
	cx_reply_offer(out, spliced, len);
	reply = cx_reply_dumps(env, NULL);
	assert_non_null(strstr(reply, plain));
	free(reply);
	/* ...and never after it was withdrawn. */
	cx_reply_withdraw();
	cx_reply_offer(structured, strdup("STALE"), 5);
	cx_reply_withdraw();
	reply = cx_reply_dumps(env, NULL);
	assert_null(strstr(reply, "STALE"));
	free(reply);
	free(plain);
	json_decref(env);
	json_decref(out);
}

static char *sent;

static void capture(struct cx_exchange *x, json_t *response)
{
	sent = cx_reply_dumps(response, NULL);
	json_decref(response);
}

/* The stateless revision adds resultType to the result: the text offered before no longer
 * describes it and must not be used. */
static void test_stateless_drops_the_offer(void **state)
{
	struct cx_exchange x = { .stateless = true, .reply = capture };
	json_t *out = json_pack("{s:[], s:{s:i}}", "content", "structuredContent", "a", 1);
	json_t *id = json_integer(3);

	cx_reply_offer(out, strdup("{\"content\":[],\"structuredContent\":{\"a\":1}}"), 42);
	cx_reply_result(&x, id, out);
	cx_reply_withdraw();
	assert_non_null(sent);
	assert_non_null(strstr(sent, "\"resultType\":\"complete\""));
	free(sent);
	sent = NULL;
	json_decref(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splice_by_identity),
		cmocka_unit_test(test_result_text_is_exact),
		cmocka_unit_test(test_stateless_drops_the_offer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
