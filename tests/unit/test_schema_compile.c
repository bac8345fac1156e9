/* What a tool's schema may say, seen from the other side: every schema the subset cannot
 * check is refused at start-up, naming the keyword and its path, so no tool silently goes
 * unchecked (test_schema.c: what compiles, and what validation says). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/schema.h"
#include "fake_exchange.h"

static void assert_compile_fails(const char *text, const char *expected)
{
	struct cx_err err = { 0 };
	json_t *j = fx_parse(text);
	struct cx_schema *s = cx_schema_compile(j, &err);

	json_decref(j);
	if (s) {
		cx_schema_free(s);
		fail_msg("schema '%s' compiled, expected '%s'", text, expected);
	}
	assert_string_equal(err.msg, expected);
}

static void test_compile_rejects_non_object_schema(void **state)
{
	struct cx_err err = { 0 };

	assert_compile_fails("[]", "schema: must be an object");
	assert_compile_fails("true", "schema: must be an object");
	assert_compile_fails("\"object\"", "schema: must be an object");
	assert_null(cx_schema_compile(NULL, &err));
	assert_string_equal(err.msg, "schema: must be an object");
	/* A NULL err is allowed: the verdict still comes back. */
	assert_null(cx_schema_compile(NULL, NULL));
	assert_compile_fails("{\"properties\": {\"a\": true}}",
			     "schema.properties.a: must be an object");
	assert_compile_fails("{\"items\": [{\"type\": \"string\"}]}",
			     "schema.items: must be an object");
	assert_compile_fails("{\"properties\": {\"a\": {\"additionalProperties\": 1}}}",
			     "schema.properties.a.additionalProperties: "
			     "must be a boolean or a schema object");
}

static void test_compile_rejects_unsupported_keywords(void **state)
{
	static const char *const unsupported[] = {
		"anyOf",
		"oneOf",
		"allOf",
		"not",
		"$ref",
		"$defs",
		"definitions",
		"patternProperties",
		"propertyNames",
		"if",
		"then",
		"else",
		"dependentRequired",
		"dependentSchemas",
		"dependencies",
		"uniqueItems",
		"contains",
		"prefixItems",
		"multipleOf",
		"minProperties",
		"maxProperties",
		"unevaluatedProperties",
		"typo",
	};
	char schema[256], expected[256];

	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		snprintf(schema, sizeof(schema), "{\"type\": \"object\", \"%s\": []}",
			 unsupported[i]);
		snprintf(expected, sizeof(expected), "schema: unsupported keyword '%s'",
			 unsupported[i]);
		assert_compile_fails(schema, expected);
	}
	/* The path names where in the schema the keyword sits. */
	assert_compile_fails("{\"properties\": {\"node\": {\"oneOf\": [{\"type\": \"string\"}]}}}",
			     "schema.properties.node: unsupported keyword 'oneOf'");
	assert_compile_fails("{\"properties\": {\"tags\": {\"items\": {\"not\": {}}}}}",
			     "schema.properties.tags.items: unsupported keyword 'not'");
	assert_compile_fails("{\"additionalProperties\": {\"$ref\": \"#/x\"}}",
			     "schema.additionalProperties: unsupported keyword '$ref'");
	assert_compile_fails("{\"properties\": {\"odd key\": {\"if\": {}}}}",
			     "schema.properties[\"odd key\"]: unsupported keyword 'if'");
	/* Only "x-" makes an extension: a look-alike is refused. */
	assert_compile_fails("{\"xmcp\": 1}", "schema: unsupported keyword 'xmcp'");
}

static void test_compile_rejects_bad_keyword_values(void **state)
{
	static const struct {
		const char *schema;
		const char *expected;
	} cases[] = {
		{ "{\"properties\": {\"vmid\": {\"minimum\": \"100\"}}}",
		  "schema.properties.vmid.minimum: must be a number" },
		{ "{\"maximum\": null}", "schema.maximum: must be a number" },
		{ "{\"exclusiveMinimum\": true}", "schema.exclusiveMinimum: must be a number" },
		{ "{\"exclusiveMaximum\": [1]}", "schema.exclusiveMaximum: must be a number" },
		{ "{\"minLength\": -1}", "schema.minLength: must be a non-negative integer" },
		{ "{\"maxLength\": 1.5}", "schema.maxLength: must be a non-negative integer" },
		{ "{\"minItems\": \"1\"}", "schema.minItems: must be a non-negative integer" },
		{ "{\"maxItems\": -3}", "schema.maxItems: must be a non-negative integer" },
		{ "{\"type\": \"text\"}", "schema.type: unknown type 'text'" },
		{ "{\"type\": \"Integer\"}", "schema.type: unknown type 'Integer'" },
		{ "{\"type\": []}",
		  "schema.type: must be a type name or a non-empty array of type names" },
		{ "{\"type\": 7}",
		  "schema.type: must be a type name or a non-empty array of type names" },
		{ "{\"type\": [\"string\", 1]}", "schema.type[1]: must be a string" },
		{ "{\"type\": [\"string\", \"float\"]}", "schema.type[1]: unknown type 'float'" },
		{ "{\"required\": \"node\"}",
		  "schema.required: must be an array of property names" },
		{ "{\"required\": [\"node\", 2]}", "schema.required[1]: must be a string" },
		{ "{\"properties\": []}", "schema.properties: must be an object" },
		{ "{\"enum\": []}", "schema.enum: must be a non-empty array" },
		{ "{\"enum\": \"fast\"}", "schema.enum: must be a non-empty array" },
		{ "{\"pattern\": 5}", "schema.pattern: must be a string" },
		{ "{\"items\": {\"items\": {\"minimum\": {}}}}",
		  "schema.items.items.minimum: must be a number" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_compile_fails(cases[i].schema, cases[i].expected);
}

static void test_compile_rejects_bad_regex(void **state)
{
	struct cx_err err = { 0 };
	json_t *j = fx_parse("{\"properties\": {\"node\": {\"pattern\": \"^(a\"}}}");

	assert_null(cx_schema_compile(j, &err));
	json_decref(j);
	/* The regcomp reason follows; its wording is the C library's. */
	assert_non_null(strstr(err.msg, "schema.properties.node.pattern: invalid regular "
					"expression '^(a': "));
}

static void test_compile_rejects_deep_nesting(void **state)
{
	char schema[2048] = "";
	size_t len = 0;
	struct cx_err err = { 0 };
	json_t *j;

	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(schema + len, sizeof(schema) - len, "{\"items\": ");
	len += (size_t)snprintf(schema + len, sizeof(schema) - len, "{}");
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(schema + len, sizeof(schema) - len, "}");
	assert_true(len < sizeof(schema));
	j = fx_parse(schema);
	assert_null(cx_schema_compile(j, &err));
	json_decref(j);
	assert_non_null(strstr(err.msg, "nested more than 32 levels deep"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_rejects_non_object_schema),
		cmocka_unit_test(test_compile_rejects_unsupported_keywords),
		cmocka_unit_test(test_compile_rejects_bad_keyword_values),
		cmocka_unit_test(test_compile_rejects_bad_regex),
		cmocka_unit_test(test_compile_rejects_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
