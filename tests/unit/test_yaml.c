/* common/yaml.c: YAML documents to JSON as Kubernetes reads them (sigs.k8s.io/yaml, YAML 1.1
 * scalars), several documents, anchors, and the errors a manifest author can act on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/yaml.h"

static json_t *one(const char *text)
{
	struct cx_err err = { 0 };
	json_t *v = cx_yaml_load_one(text, strlen(text), &err);

	if (!v)
		fail_msg("%s", err.msg);
	return v;
}

static void assert_json(const json_t *v, const char *want)
{
	char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (strcmp(got, want))
		fail_msg("got %s, want %s", got, want);
	free(got);
}

static void test_scalars_typed_as_kubernetes_does(void **state)
{
	json_t *v = one("a: 1\nb: -7\nc: true\nd: False\ne: yes\nf: off\ng: null\nh: ~\ni:\n"
			"j: 0x1F\nk: 0755\nl: 0o17\nm: 1.5\nn: 1e3\no: 1.2.3\np: hello world\n"
			"q: \"3\"\nr: 'true'\ns: !!str 42\nt: |\n  line\n  two\nu: 1_000\n");

	assert_json(v, "{\"a\":1,\"b\":-7,\"c\":true,\"d\":false,\"e\":true,\"f\":false,"
		       "\"g\":null,\"h\":null,\"i\":null,\"j\":31,\"k\":493,\"l\":15,\"m\":1.5,"
		       "\"n\":1000.0,\"o\":\"1.2.3\",\"p\":\"hello world\",\"q\":\"3\","
		       "\"r\":\"true\",\"s\":\"42\",\"t\":\"line\\ntwo\\n\",\"u\":1000}");
	json_decref(v);
}

static void test_keys_become_strings(void **state)
{
	json_t *v = one("1: one\ntrue: yes\n");
	struct cx_err err = { 0 };

	assert_json(v, "{\"1\":\"one\",\"true\":true}");
	json_decref(v);
	assert_null(cx_yaml_load_all("? [a]\n: x\n", 10, &err));
	assert_non_null(strstr(err.msg, "a mapping key must be a scalar"));
}

static void test_flow_style_and_json(void **state)
{
	json_t *v = one("{\"kind\": \"Pod\", \"spec\": {\"containers\": [{\"name\": \"a\"}]}}");

	assert_json(v, "{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	json_decref(v);
	v = one("labels: {app: web, tier: \"1\"}\nports: [80, 443]\n");
	assert_json(v, "{\"labels\":{\"app\":\"web\",\"tier\":\"1\"},\"ports\":[80,443]}");
	json_decref(v);
}

static void test_documents(void **state)
{
	const char *text = "---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n- x\n";
	struct cx_err err = { 0 };
	json_t *docs = cx_yaml_load_all(text, strlen(text), &err);

	assert_non_null(docs);
	assert_json(docs, "[{\"a\":1},{\"b\":2},[\"x\"]]");
	json_decref(docs);
	assert_null(cx_yaml_load_one(text, strlen(text), &err));
	assert_string_equal(err.msg, "expected one YAML document, found 3");
	assert_null(cx_yaml_load_one("", 0, &err));
	assert_string_equal(err.msg, "expected one YAML document, found 0");
}

static void test_anchors_and_aliases(void **state)
{
	json_t *v = one("base: &b {cpu: 1, mem: 2}\nx: *b\nname: &n web\ny: *n\n");
	struct cx_err err = { 0 };

	assert_json(v,
		    "{\"base\":{\"cpu\":1,\"mem\":2},\"name\":\"web\",\"x\":{\"cpu\":1,\"mem\":2},"
		    "\"y\":\"web\"}");
	json_decref(v);
	assert_null(cx_yaml_load_one("a: *nope\n", 9, &err));
	assert_non_null(strstr(err.msg, "line 1 column 4"));
}

static void test_errors_say_where(void **state)
{
	struct cx_err err = { 0 };
	const char *bad = "a: 1\nb: [unclosed\nc: 2\n";
	char deep[1000] = "";

	assert_null(cx_yaml_load_all(bad, strlen(bad), &err));
	assert_non_null(strstr(err.msg, "line "));
	assert_non_null(strstr(err.msg, "column "));
	assert_null(cx_yaml_load_all("a: b: c\n", 8, &err));
	assert_non_null(strstr(err.msg, "line 1"));
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	assert_null(cx_yaml_load_all(deep, strlen(deep), &err));
	assert_non_null(strstr(err.msg, "deeper than 64"));
}

/* "billion laughs": aliases of aliases are bounded, not expanded without end. */
static void test_alias_bomb_bounded(void **state)
{
	char text[4096] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
	struct cx_err err = { 0 };
	json_t *v;

	for (char c = 'b'; c <= 'k'; c++) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof(text) - n,
			 "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c,
			 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	}
	v = cx_yaml_load_all(text, strlen(text), &err);
	assert_non_null(v); /* 100 aliases: shared, not copied */
	json_decref(v);
	{
		size_t cap = 20000, n;
		char *big = malloc(cap);
		snprintf(big, cap, "a: &a x\nb: [");
		for (int i = 0; i < 1001; i++) {
			n = strlen(big);
			snprintf(big + n, cap - n, "*a, ");
		}
		n = strlen(big);
		snprintf(big + n, cap - n, "x]\n");
		assert_null(cx_yaml_load_all(big, strlen(big), &err));
		assert_non_null(strstr(err.msg, "more than 1000 aliases"));
		free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars_typed_as_kubernetes_does),
		cmocka_unit_test(test_keys_become_strings),
		cmocka_unit_test(test_flow_style_and_json),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_errors_say_where),
		cmocka_unit_test(test_alias_bomb_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
