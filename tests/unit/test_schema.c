/* The schema subset as tool authors and MCP clients see it: what compiles, what is refused, and
 * the exact sentence a client gets back for each kind of bad argument. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/schema.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

static struct cx_schema *compile_ok(const char *text)
{
	struct cx_err err = { 0 };
	json_t *j = parse(text);
	struct cx_schema *s = cx_schema_compile(j, &err);

	json_decref(j);
	if (!s)
		fail_msg("schema '%s' did not compile: %s", text, err.msg);
	return s;
}

/* Validates instance text against s; returns the message, or NULL when it conforms. */
static const char *check(const struct cx_schema *s, const char *instance)
{
	static char msg[512];
	json_t *j = parse(instance);
	int rc;

	memset(msg, 'X', sizeof(msg));
	rc = cx_schema_validate(s, j, "arguments", msg, sizeof(msg));
	json_decref(j);
	if (rc == 0)
		return NULL;
	assert_int_equal(rc, -1);
	return msg;
}

static void assert_valid(const struct cx_schema *s, const char *instance)
{
	const char *msg = check(s, instance);

	if (msg)
		fail_msg("'%s' was rejected: %s", instance, msg);
}

static void assert_invalid(const struct cx_schema *s, const char *instance, const char *expected)
{
	const char *msg = check(s, instance);

	if (!msg)
		fail_msg("'%s' was accepted, expected '%s'", instance, expected);
	assert_string_equal(msg, expected);
}

/* ---------------------------------------------------------------------------------------------
 * Compilation */

static void test_compile_ignores_annotations(void **state)
{
	/* Annotations are taken whatever their value: they never affect validation. */
	struct cx_schema *s = compile_ok(
		"{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"$id\": \"x\","
		" \"$comment\": 1, \"title\": \"t\", \"description\": \"d\", \"default\": {},"
		" \"examples\": [1], \"format\": \"uuid\", \"deprecated\": false,"
		" \"readOnly\": true, \"writeOnly\": false, \"type\": \"string\"}");

	assert_valid(s, "\"not a uuid\"");
	assert_invalid(s, "1", "arguments: must be a string");
	cx_schema_free(s);
	/* "x-" extension keywords (MCP's x-mcp-header) annotate (a look-alike is refused:
	 * test_schema_compile.c). */
	s = compile_ok("{\"type\": \"object\", \"properties\": {\"region\": {\"type\": "
		       "\"string\", \"x-mcp-header\": \"Region\"}}, \"required\": [\"region\"]}");
	assert_valid(s, "{\"region\": \"eu\"}");
	assert_invalid(s, "{}", "arguments: missing required property 'region'");
	cx_schema_free(s);
	/* An empty schema accepts anything. */
	s = compile_ok("{}");
	assert_valid(s, "null");
	assert_valid(s, "{\"a\": [1, \"b\"]}");
	cx_schema_free(s);
}

/* ---------------------------------------------------------------------------------------------
 * Validation, keyword by keyword */

static void test_type_each_name(void **state)
{
	static const struct {
		const char *type;
		const char *good;
		const char *bad;
		const char *expected;
	} cases[] = {
		{ "object", "{}", "[]", "arguments: must be an object" },
		{ "array", "[]", "{}", "arguments: must be an array" },
		{ "string", "\"\"", "1", "arguments: must be a string" },
		{ "number", "1.5", "\"1.5\"", "arguments: must be a number" },
		{ "integer", "7", "7.5", "arguments: must be an integer" },
		{ "boolean", "false", "0", "arguments: must be a boolean" },
		{ "null", "null", "false", "arguments: must be null" },
	};
	char text[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_schema *s;

		snprintf(text, sizeof(text), "{\"type\": \"%s\"}", cases[i].type);
		s = compile_ok(text);
		assert_valid(s, cases[i].good);
		assert_invalid(s, cases[i].bad, cases[i].expected);
		cx_schema_free(s);
	}
}

static void test_type_union(void **state)
{
	struct cx_schema *s = compile_ok("{\"type\": [\"string\", \"null\"]}");

	assert_valid(s, "\"x\"");
	assert_valid(s, "null");
	assert_invalid(s, "3", "arguments: must be a string or null");
	cx_schema_free(s);

	s = compile_ok("{\"type\": [\"null\", \"array\", \"object\"]}");
	assert_valid(s, "[]");
	assert_invalid(s, "true", "arguments: must be an object, an array or null");
	cx_schema_free(s);
}

static void test_integer_versus_real(void **state)
{
	struct cx_schema *s = compile_ok("{\"type\": \"integer\"}");

	assert_valid(s, "100");
	assert_valid(s, "-3");
	/* A real with no fraction is an integer (JSON Schema, and what many clients send). */
	assert_valid(s, "100.0");
	assert_valid(s, "1e3");
	assert_invalid(s, "100.5", "arguments: must be an integer");
	assert_invalid(s, "0.000001", "arguments: must be an integer");
	assert_invalid(s, "\"100\"", "arguments: must be an integer");
	assert_invalid(s, "true", "arguments: must be an integer");
	cx_schema_free(s);

	s = compile_ok("{\"type\": \"number\"}");
	assert_valid(s, "100");
	assert_valid(s, "100.5");
	assert_invalid(s, "\"100.5\"", "arguments: must be a number");
	assert_invalid(s, "null", "arguments: must be a number");
	cx_schema_free(s);
}

static void test_minimum_maximum(void **state)
{
	struct cx_schema *s = compile_ok("{\"minimum\": 100, \"maximum\": 200}");

	assert_invalid(s, "99", "arguments: must be at least 100");
	assert_invalid(s, "99.99", "arguments: must be at least 100");
	assert_valid(s, "100");
	assert_valid(s, "100.0");
	assert_valid(s, "200");
	assert_invalid(s, "200.5", "arguments: must be at most 200");
	assert_invalid(s, "201", "arguments: must be at most 200");
	/* Bounds apply to numbers only; other types pass unless "type" says otherwise. */
	assert_valid(s, "\"5\"");
	cx_schema_free(s);

	/* Real bounds read as written, not as 0.10000000000000001. */
	s = compile_ok("{\"minimum\": 0.1}");
	assert_invalid(s, "0.09", "arguments: must be at least 0.1");
	assert_valid(s, "0.1");
	cx_schema_free(s);
	s = compile_ok("{\"maximum\": -0.5e-3}");
	assert_invalid(s, "0", "arguments: must be at most -0.0005");
	assert_valid(s, "-0.0005");
	cx_schema_free(s);
}

static void test_exclusive_bounds(void **state)
{
	struct cx_schema *s = compile_ok("{\"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1.5}");

	assert_invalid(s, "0", "arguments: must be greater than 0");
	assert_invalid(s, "-1", "arguments: must be greater than 0");
	assert_invalid(s, "0.0", "arguments: must be greater than 0");
	assert_valid(s, "0.001");
	assert_valid(s, "1");
	assert_valid(s, "1.4999");
	assert_invalid(s, "1.5", "arguments: must be less than 1.5");
	assert_invalid(s, "2", "arguments: must be less than 1.5");
	cx_schema_free(s);
}

static void test_large_integers_compare_exactly(void **state)
{
	/* 2^53 + 1: as doubles both sides would round to 2^53 and compare equal. */
	struct cx_schema *s = compile_ok("{\"maximum\": 9007199254740993}");

	assert_valid(s, "9007199254740993");
	assert_invalid(s, "9007199254740994", "arguments: must be at most 9007199254740993");
	cx_schema_free(s);

	s = compile_ok("{\"exclusiveMinimum\": 9007199254740992}");
	assert_invalid(s, "9007199254740992", "arguments: must be greater than 9007199254740992");
	assert_valid(s, "9007199254740993");
	cx_schema_free(s);
}

static void test_string_length(void **state)
{
	struct cx_schema *s = compile_ok("{\"minLength\": 2, \"maxLength\": 3}");

	assert_invalid(s, "\"\"", "arguments: must be at least 2 characters");
	assert_invalid(s, "\"a\"", "arguments: must be at least 2 characters");
	assert_valid(s, "\"ab\"");
	assert_valid(s, "\"abc\"");
	assert_invalid(s, "\"abcd\"", "arguments: must be at most 3 characters");
	/* Code points, not bytes: "héé" is 5 bytes, "日本語" 9, "€𝄞" (3 + 4 bytes) 2. */
	assert_valid(s, "\"h\\u00e9\\u00e9\"");
	assert_valid(s, "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"");
	assert_invalid(s, "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9ex\"",
		       "arguments: must be at most 3 characters");
	assert_valid(s, "\"\\u20ac\\ud834\\udd1e\"");
	assert_invalid(s, "\"\\ud834\\udd1e\"", "arguments: must be at least 2 characters");
	/* Length applies to strings only. */
	assert_valid(s, "12345");
	cx_schema_free(s);

	s = compile_ok("{\"minLength\": 1, \"maxLength\": 1}");
	assert_invalid(s, "\"\"", "arguments: must be at least 1 character");
	assert_invalid(s, "\"ab\"", "arguments: must be at most 1 character");
	assert_valid(s, "\"\\u00e9\"");
	cx_schema_free(s);
}

static void test_pattern(void **state)
{
	struct cx_schema *s = compile_ok("{\"pattern\": \"[0-9]\"}");

	/* Unanchored, as in JSON Schema: a match anywhere will do. */
	assert_valid(s, "\"ab1c\"");
	assert_invalid(s, "\"abc\"", "arguments: must match pattern '[0-9]'");
	cx_schema_free(s);

	s = compile_ok("{\"pattern\": \"^[a-z]+$\"}");
	assert_valid(s, "\"abc\"");
	assert_invalid(s, "\"abc1\"", "arguments: must match pattern '^[a-z]+$'");
	assert_invalid(s, "\"\"", "arguments: must match pattern '^[a-z]+$'");
	/* Pattern applies to strings only. */
	assert_valid(s, "42");
	cx_schema_free(s);

	s = compile_ok("{\"pattern\": \"^(fast|slow)$\"}");
	assert_valid(s, "\"slow\"");
	assert_invalid(s, "\"slower\"", "arguments: must match pattern '^(fast|slow)$'");
	cx_schema_free(s);
}

/* Our JSON loader allows \u0000, so a NUL must not hide the rest of a string from a pattern. */
static void test_pattern_sees_past_nul(void **state)
{
	static const char evil[] = "abc\0; rm -rf /";
	static const char tail[] = "a\0b";
	struct cx_schema *s = compile_ok("{\"pattern\": \"^[a-z]+$\"}");
	json_t *j = json_stringn(evil, sizeof(evil) - 1);
	char msg[128];

	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, sizeof(msg)), -1);
	assert_string_equal(msg, "arguments: must match pattern '^[a-z]+$'");
	json_decref(j);
	cx_schema_free(s);

	s = compile_ok("{\"pattern\": \"b$\"}");
	j = json_stringn(tail, sizeof(tail) - 1);
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, sizeof(msg)), 0);
	json_decref(j);
	cx_schema_free(s);
}

static void test_array_items_and_counts(void **state)
{
	struct cx_schema *s =
		compile_ok("{\"type\": \"object\", \"properties\": {\"tags\": {\"type\": \"array\","
			   " \"minItems\": 1, \"maxItems\": 5, \"items\": {\"type\": \"string\","
			   " \"maxLength\": 4}}}}");

	assert_invalid(s, "{\"tags\": []}", "arguments.tags: must have at least 1 item");
	assert_valid(s, "{\"tags\": [\"a\"]}");
	assert_valid(s, "{\"tags\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}");
	assert_invalid(s, "{\"tags\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]}",
		       "arguments.tags: must have at most 5 items");
	assert_invalid(s, "{\"tags\": [\"a\", \"b\", 3]}", "arguments.tags[2]: must be a string");
	assert_invalid(s, "{\"tags\": [\"a\", \"toolong\"]}",
		       "arguments.tags[1]: must be at most 4 characters");
	assert_invalid(s, "{\"tags\": \"a\"}", "arguments.tags: must be an array");
	cx_schema_free(s);

	s = compile_ok("{\"minItems\": 2, \"maxItems\": 1}");
	assert_invalid(s, "[1]", "arguments: must have at least 2 items");
	assert_invalid(s, "[1, 2]", "arguments: must have at most 1 item");
	cx_schema_free(s);
}

static void test_required_and_order(void **state)
{
	struct cx_schema *s = compile_ok(
		"{\"type\": \"object\", \"required\": [\"node\", \"vmid\"], \"properties\":"
		" {\"node\": {\"type\": \"string\"}, \"vmid\": {\"type\": \"integer\"}}}");

	assert_valid(s, "{\"node\": \"pve1\", \"vmid\": 100}");
	assert_invalid(s, "{\"vmid\": 100}", "arguments: missing required property 'node'");
	assert_invalid(s, "{\"node\": \"pve1\"}", "arguments: missing required property 'vmid'");
	assert_invalid(s, "{}", "arguments: missing required property 'node'");
	/* null is a value: the property is present. */
	assert_invalid(s, "{\"node\": null, \"vmid\": 1}", "arguments.node: must be a string");
	/* The first violation, in the schema's order, is the one reported. */
	assert_invalid(s, "{\"vmid\": \"x\", \"node\": 1}", "arguments.node: must be a string");
	assert_invalid(s, "[]", "arguments: must be an object");
	cx_schema_free(s);
}

static void test_additional_properties_false(void **state)
{
	struct cx_schema *s = compile_ok(
		"{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}},"
		" \"additionalProperties\": false}");

	assert_valid(s, "{}");
	assert_valid(s, "{\"name\": \"a\"}");
	assert_invalid(s, "{\"nmae\": \"a\"}", "arguments: unexpected property 'nmae'");
	/* A client's key cannot put a line break into a log line. */
	assert_invalid(s, "{\"a\\nb\": 1}", "arguments: unexpected property 'a?b'");
	cx_schema_free(s);

	/* true, like leaving it out, allows anything extra. */
	s = compile_ok("{\"properties\": {\"a\": {}}, \"additionalProperties\": true}");
	assert_valid(s, "{\"a\": 1, \"b\": 2}");
	cx_schema_free(s);
}

static void test_additional_properties_schema(void **state)
{
	struct cx_schema *s = compile_ok(
		"{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}},"
		" \"additionalProperties\": {\"type\": \"string\", \"maxLength\": 3}}");

	/* Declared properties follow their own schema, the rest the additional one. */
	assert_valid(s, "{\"id\": 5, \"env\": \"dev\"}");
	assert_invalid(s, "{\"id\": \"5\"}", "arguments.id: must be an integer");
	assert_invalid(s, "{\"id\": 5, \"env\": 1}", "arguments.env: must be a string");
	assert_invalid(s, "{\"labels\": \"prod\"}",
		       "arguments.labels: must be at most 3 characters");
	assert_invalid(s, "{\"odd key\": 1}", "arguments[\"odd key\"]: must be a string");
	assert_invalid(s, "{\"q\\\"\\\\\": 1}", "arguments[\"q\\\"\\\\\"]: must be a string");
	cx_schema_free(s);
}

static void test_nested_paths(void **state)
{
	struct cx_schema *s = compile_ok(
		"{\"type\": \"object\", \"properties\": {\"spec\": {\"type\": \"object\","
		" \"required\": [\"disks\"], \"properties\": {\"disks\": {\"type\": \"array\","
		" \"items\": {\"type\": \"object\", \"required\": [\"size\"],"
		" \"properties\": {\"size\": {\"type\": \"integer\", \"minimum\": 1}},"
		" \"additionalProperties\": false}}}}}}");

	assert_valid(s, "{\"spec\": {\"disks\": [{\"size\": 1}, {\"size\": 8}]}}");
	assert_invalid(s, "{\"spec\": {}}", "arguments.spec: missing required property 'disks'");
	assert_invalid(s, "{\"spec\": {\"disks\": [{\"size\": 1}, {\"size\": 0}]}}",
		       "arguments.spec.disks[1].size: must be at least 1");
	assert_invalid(s, "{\"spec\": {\"disks\": [{}]}}",
		       "arguments.spec.disks[0]: missing required property 'size'");
	assert_invalid(s, "{\"spec\": {\"disks\": [{\"size\": 1, \"bus\": \"scsi\"}]}}",
		       "arguments.spec.disks[0]: unexpected property 'bus'");
	cx_schema_free(s);
}

static void test_enum_mixed_types(void **state)
{
	struct cx_schema *s = compile_ok("{\"enum\": [\"fast\", 1, null, {\"a\": [1]}, [1, 2]]}");
	const char *expected = "arguments: must be one of \"fast\", 1, null, {\"a\":[1]}, [1,2]";

	assert_valid(s, "\"fast\"");
	assert_valid(s, "1");
	assert_valid(s, "null");
	assert_valid(s, "{\"a\": [1]}");
	assert_valid(s, "[1, 2]");
	/* Numbers are equal by value, as JSON Schema says. */
	assert_valid(s, "1.0");
	assert_valid(s, "{\"a\": [1.0]}");
	assert_invalid(s, "\"Fast\"", expected);
	assert_invalid(s, "\"1\"", expected);
	assert_invalid(s, "1.5", expected);
	assert_invalid(s, "false", expected);
	assert_invalid(s, "{\"a\": [1], \"b\": 2}", expected);
	assert_invalid(s, "{\"a\": [2]}", expected);
	assert_invalid(s, "[2, 1]", expected);
	assert_invalid(s, "[1, 2, 3]", expected);
	cx_schema_free(s);

	s = compile_ok("{\"type\": \"object\", \"properties\": {\"mode\": {\"type\": \"string\","
		       " \"enum\": [\"fast\", \"slow\"]}}}");
	assert_valid(s, "{\"mode\": \"slow\"}");
	assert_invalid(s, "{\"mode\": \"medium\"}",
		       "arguments.mode: must be one of \"fast\", \"slow\"");
	/* Type is checked first: its sentence is the more useful one. */
	assert_invalid(s, "{\"mode\": 1}", "arguments.mode: must be a string");
	cx_schema_free(s);
}

static void test_const(void **state)
{
	struct cx_schema *s = compile_ok("{\"properties\": {\"v\": {\"const\": \"v1\"},"
					 " \"o\": {\"const\": {\"k\": [true, 2]}},"
					 " \"n\": {\"const\": 3}}}");

	assert_valid(s, "{\"v\": \"v1\", \"o\": {\"k\": [true, 2]}, \"n\": 3}");
	assert_valid(s, "{\"n\": 3.0}");
	assert_invalid(s, "{\"v\": \"v2\"}", "arguments.v: must be equal to \"v1\"");
	assert_invalid(s, "{\"o\": {\"k\": [true]}}",
		       "arguments.o: must be equal to {\"k\":[true,2]}");
	assert_invalid(s, "{\"n\": 3.5}", "arguments.n: must be equal to 3");
	assert_invalid(s, "{\"n\": \"3\"}", "arguments.n: must be equal to 3");
	cx_schema_free(s);

	/* const null is a real constraint, not "unset". */
	s = compile_ok("{\"const\": null}");
	assert_valid(s, "null");
	assert_invalid(s, "0", "arguments: must be equal to null");
	cx_schema_free(s);
}

/* ---------------------------------------------------------------------------------------------
 * The caller's buffer */

static void test_message_truncation(void **state)
{
	static const char whole[] = "arguments: missing required property 'node'";
	struct cx_schema *s = compile_ok("{\"required\": [\"node\"]}");
	json_t *j = parse("{}");
	char msg[64];

	memset(msg, 'X', sizeof(msg));
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, 8), -1);
	assert_string_equal(msg, "argumen");
	assert_int_equal(msg[8], 'X');

	memset(msg, 'X', sizeof(msg));
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, 1), -1);
	assert_string_equal(msg, "");
	assert_int_equal(msg[1], 'X');

	/* No room at all, or no buffer: nothing is written, the verdict stands. */
	memset(msg, 'X', sizeof(msg));
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, 0), -1);
	assert_int_equal(msg[0], 'X');
	assert_int_equal(cx_schema_validate(s, j, "arguments", NULL, 0), -1);
	json_decref(j);

	/* Exactly enough room: the whole sentence and its NUL. */
	j = parse("{}");
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, strlen(whole) + 1), -1);
	assert_string_equal(msg, whole);
	json_decref(j);
	cx_schema_free(s);
}

static void test_truncation_keeps_utf8_whole(void **state)
{
	/* "arguments: must be one of \"é" — the cut at 30 bytes would split é (2 bytes). */
	struct cx_schema *s = compile_ok("{\"enum\": [\"\\u00e9\\u00e9\"]}");
	json_t *j = parse("\"x\"");
	const char *prefix = "arguments: must be one of \"";
	size_t plen = strlen(prefix);
	char msg[64];

	memset(msg, 'X', sizeof(msg));
	/* Room for the prefix and one byte of é: the whole é must go. */
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, plen + 2), -1);
	assert_string_equal(msg, prefix);

	/* Room for the prefix and all of é. */
	assert_int_equal(cx_schema_validate(s, j, "arguments", msg, plen + 3), -1);
	assert_string_equal(msg, "arguments: must be one of \"\xc3\xa9");
	json_decref(j);
	cx_schema_free(s);
}

static void test_root_name_and_missing_instance(void **state)
{
	struct cx_schema *s = compile_ok("{\"type\": \"object\", \"properties\":"
					 " {\"a\": {\"type\": \"string\"}}}");
	json_t *j = parse("{\"a\": 1}");
	char msg[128];

	assert_int_equal(cx_schema_validate(s, j, "params.arguments", msg, sizeof(msg)), -1);
	assert_string_equal(msg, "params.arguments.a: must be a string");
	json_decref(j);
	assert_int_equal(cx_schema_validate(s, NULL, "arguments", msg, sizeof(msg)), -1);
	assert_string_equal(msg, "arguments: is missing");
	cx_schema_free(s);
	cx_schema_free(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * A real tool */

static const char proxmox_schema[] =
	"{\"type\": \"object\","
	" \"description\": \"Start a virtual machine\","
	" \"properties\": {"
	"  \"node\": {\"type\": \"string\", \"description\": \"Cluster node name\","
	"            \"pattern\": \"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$\"},"
	"  \"vmid\": {\"type\": \"integer\", \"minimum\": 100, \"maximum\": 999999999,"
	"            \"description\": \"VM id\"},"
	"  \"timeout\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 3600,"
	"               \"default\": 60},"
	"  \"mode\": {\"type\": \"string\", \"enum\": [\"start\", \"stop\", \"reboot\"]}"
	" },"
	" \"required\": [\"node\", \"vmid\"],"
	" \"additionalProperties\": false}";

static void test_proxmox_tool_schema(void **state)
{
	struct cx_schema *s = compile_ok(proxmox_schema);

	assert_valid(s, "{\"node\": \"pve1\", \"vmid\": 100}");
	assert_valid(s, "{\"node\": \"pve-node-2\", \"vmid\": 999999999, \"timeout\": 3600,"
			" \"mode\": \"reboot\"}");
	assert_valid(s, "{\"node\": \"pve1\", \"vmid\": 100.0}");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": 99}",
		       "arguments.vmid: must be at least 100");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": 1000000000}",
		       "arguments.vmid: must be at most 999999999");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": \"100\"}",
		       "arguments.vmid: must be an integer");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": 100.5}",
		       "arguments.vmid: must be an integer");
	assert_invalid(s, "{\"vmid\": 100}", "arguments: missing required property 'node'");
	assert_invalid(s, "{\"nmae\": \"pve1\", \"node\": \"pve1\", \"vmid\": 100}",
		       "arguments: unexpected property 'nmae'");
	assert_invalid(s, "{\"node\": \"pve 1\", \"vmid\": 100}",
		       "arguments.node: must match pattern "
		       "'^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$'");
	assert_invalid(s, "{\"node\": \"-pve\", \"vmid\": 100}",
		       "arguments.node: must match pattern "
		       "'^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$'");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": 100, \"timeout\": 0}",
		       "arguments.timeout: must be at least 1");
	assert_invalid(s, "{\"node\": \"pve1\", \"vmid\": 100, \"mode\": \"destroy\"}",
		       "arguments.mode: must be one of \"start\", \"stop\", \"reboot\"");
	assert_invalid(s, "[\"pve1\", 100]", "arguments: must be an object");
	cx_schema_free(s);
}

/* One compiled schema, validated from several threads at once: every verdict and sentence must
 * equal what a single thread obtains (run under TSan to see races, under ASan for overruns). */
struct worker {
	const struct cx_schema *s;
	json_t *good, *bad;
	int wrong;
};

static void *validate_many(void *arg)
{
	struct worker *w = arg;
	char msg[128];

	for (int i = 0; i < 2000; i++) {
		if (cx_schema_validate(w->s, w->good, "arguments", msg, sizeof(msg)) != 0)
			w->wrong++;
		if (cx_schema_validate(w->s, w->bad, "arguments", msg, sizeof(msg)) != -1 ||
		    strcmp(msg, "arguments.node: must match pattern "
				"'^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$'") != 0)
			w->wrong++;
	}
	return NULL;
}

static void test_validate_from_threads(void **state)
{
	struct cx_schema *s = compile_ok(proxmox_schema);
	struct worker w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		/* Instances belong to one thread each; the schema is shared. */
		w[i] = (struct worker){ s, parse("{\"node\": \"pve1\", \"vmid\": 4242}"),
					parse("{\"node\": \"pve_1\", \"vmid\": 4242}"), 0 };
		assert_int_equal(pthread_create(&t[i], NULL, validate_many, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].wrong, 0);
		json_decref(w[i].good);
		json_decref(w[i].bad);
	}
	cx_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_ignores_annotations),
		cmocka_unit_test(test_type_each_name),
		cmocka_unit_test(test_type_union),
		cmocka_unit_test(test_integer_versus_real),
		cmocka_unit_test(test_minimum_maximum),
		cmocka_unit_test(test_exclusive_bounds),
		cmocka_unit_test(test_large_integers_compare_exactly),
		cmocka_unit_test(test_string_length),
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_pattern_sees_past_nul),
		cmocka_unit_test(test_array_items_and_counts),
		cmocka_unit_test(test_required_and_order),
		cmocka_unit_test(test_additional_properties_false),
		cmocka_unit_test(test_additional_properties_schema),
		cmocka_unit_test(test_nested_paths),
		cmocka_unit_test(test_enum_mixed_types),
		cmocka_unit_test(test_const),
		cmocka_unit_test(test_message_truncation),
		cmocka_unit_test(test_truncation_keeps_utf8_whole),
		cmocka_unit_test(test_root_name_and_missing_instance),
		cmocka_unit_test(test_proxmox_tool_schema),
		cmocka_unit_test(test_validate_from_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
