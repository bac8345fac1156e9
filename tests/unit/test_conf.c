/* Configuration directive tables: each type, nested paths in messages, unknown keys, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/conf.h"

struct sample {
	char *name;
	long workers;
	long anything;
	bool verbose;
	long max_body_bytes;
	char *origin;
	long depth3;
	json_t *adapters;
	long custom_calls;
	char custom_seen[64];
};

static const struct cx_conf_directive deep_table[] = {
	{ "depth3", CX_CONF_INT, offsetof(struct sample, depth3), 0, 9 },
	{ NULL },
};

static const struct cx_conf_directive cors_table[] = {
	{ "origin", CX_CONF_STRING, offsetof(struct sample, origin) },
	{ "deep", CX_CONF_OBJECT, 0, 0, 0, deep_table },
	{ NULL },
};

static const struct cx_conf_directive http_table[] = {
	{ "max_body_bytes", CX_CONF_INT, offsetof(struct sample, max_body_bytes), 1024, 1L << 30 },
	{ "cors", CX_CONF_OBJECT, 0, 0, 0, cors_table },
	{ NULL },
};

static int set_custom(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	struct sample *s = (struct sample *)((char *)field - offsetof(struct sample, custom_calls));

	if (!json_is_string(value))
		return cx_err_set(err, "'%s' must be a glob", path);
	(*(long *)field)++;
	snprintf(s->custom_seen, sizeof(s->custom_seen), "%s", path);
	return 0;
}

static const struct cx_conf_directive top_table[] = {
	{ "name", CX_CONF_STRING, offsetof(struct sample, name) },
	{ "workers", CX_CONF_INT, offsetof(struct sample, workers), 1, 256 },
	{ "anything", CX_CONF_INT, offsetof(struct sample, anything) },
	{ "verbose", CX_CONF_BOOL, offsetof(struct sample, verbose) },
	{ "http", CX_CONF_OBJECT, 0, 0, 0, http_table },
	{ "adapters", CX_CONF_JSON, offsetof(struct sample, adapters) },
	{ "allow", CX_CONF_CUSTOM, offsetof(struct sample, custom_calls), 0, 0, NULL, set_custom },
	{ NULL },
};

static void defaults(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	s->name = strdup("default-name");
	s->workers = 4;
	s->max_body_bytes = 4096;
	s->verbose = true;
}

/* Applies text; returns the status, err filled. */
static int apply(struct sample *s, const char *text, struct cx_err *err)
{
	json_error_t e;
	json_t *obj = json_loads(text, 0, &e);
	int rc;

	assert_non_null(obj);
	cx_err_clear(err);
	rc = cx_conf_apply(top_table, obj, s, "", err);
	json_decref(obj);
	return rc;
}

static void expect_error(const char *text, const char *msg)
{
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s, text, &err), -1);
	assert_string_equal(err.msg, msg);
	cx_conf_release(top_table, &s);
}

static void test_all_types(void **state)
{
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s,
			       "{\"name\":\"gw\",\"workers\":16,\"anything\":-99999999999,"
			       "\"verbose\":false,\"adapters\":{\"proxmox\":{\"url\":\"x\"}},"
			       "\"allow\":\"proxmox_*\"}",
			       &err),
			 0);
	assert_string_equal(s.name, "gw");
	assert_int_equal(s.workers, 16);
	assert_int_equal(s.anything, -99999999999L);
	assert_false(s.verbose);
	assert_true(json_is_object(s.adapters));
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(s.adapters, "proxmox"), "url")),
			    "x");
	assert_int_equal(s.custom_calls, 1);
	assert_string_equal(s.custom_seen, "allow");
	cx_conf_release(top_table, &s);
	assert_null(s.name);
	assert_null(s.adapters);
}

static void test_absent_keys_keep_defaults(void **state)
{
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s, "{}", &err), 0);
	assert_string_equal(s.name, "default-name");
	assert_int_equal(s.workers, 4);
	assert_true(s.verbose);
	assert_int_equal(s.max_body_bytes, 4096);
	assert_null(s.adapters);
	cx_conf_release(top_table, &s);
}

static void test_nested(void **state)
{
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s,
			       "{\"http\":{\"max_body_bytes\":2048,\"cors\":{\"origin\":"
			       "\"https://a\",\"deep\":{\"depth3\":7}}}}",
			       &err),
			 0);
	assert_int_equal(s.max_body_bytes, 2048);
	assert_string_equal(s.origin, "https://a");
	assert_int_equal(s.depth3, 7);
	cx_conf_release(top_table, &s);
	assert_null(s.origin);
}

static void test_unknown_keys(void **state)
{
	expect_error("{\"zzzz\":\"x\"}", "unknown key 'zzzz'");
	expect_error("{\"http\":{\"qqqqqqq\":1}}", "unknown key 'http.qqqqqqq'");
	expect_error("{\"http\":{\"cors\":{\"deep\":{\"other\":1}}}}",
		     "unknown key 'http.cors.deep.other'");
}

/* A misspelt or shortened key names the one that was probably meant, with its full path; a
 * key like no other gets no guess. */
static void test_unknown_key_suggestions(void **state)
{
	expect_error("{\"nmae\":\"x\"}", "unknown key 'nmae'; did you mean 'name'?");
	expect_error("{\"http\":{\"max_body\":1}}",
		     "unknown key 'http.max_body'; did you mean 'http.max_body_bytes'?");
	expect_error("{\"http\":{\"max_bodyy\":1}}",
		     "unknown key 'http.max_bodyy'; did you mean 'http.max_body_bytes'?");
	expect_error("{\"http\":{\"cors\":{\"orign\":\"x\"}}}",
		     "unknown key 'http.cors.orign'; did you mean 'http.cors.origin'?");
	expect_error("{\"wrokers\":1}", "unknown key 'wrokers'; did you mean 'workers'?");
	expect_error("{\"http\":{\"cors\":{\"deep\":{\"depth4\":1}}}}",
		     "unknown key 'http.cors.deep.depth4'; did you mean 'http.cors.deep.depth3'?");
}

static void test_unknown_key_without_suggestion(void **state)
{
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s, "{\"zzzzzzzz\":1}", &err), -1);
	assert_string_equal(err.msg, "unknown key 'zzzzzzzz'");
	assert_int_equal(apply(&s, "{\"x\":1}", &err), -1);
	assert_string_equal(err.msg, "unknown key 'x'");
	cx_conf_release(top_table, &s);
}

static void test_wrong_types(void **state)
{
	expect_error("{\"http\":{\"max_body_bytes\":\"1k\"}}",
		     "'http.max_body_bytes' must be an integer");
	expect_error("{\"workers\":2.0}", "'workers' must be an integer");
	expect_error("{\"workers\":true}", "'workers' must be an integer");
	expect_error("{\"name\":5}", "'name' must be a string");
	expect_error("{\"name\":null}", "'name' must be a string");
	expect_error("{\"verbose\":\"yes\"}", "'verbose' must be true or false");
	expect_error("{\"verbose\":1}", "'verbose' must be true or false");
	expect_error("{\"http\":[]}", "'http' must be an object");
	expect_error("{\"http\":{\"cors\":{\"deep\":3}}}", "'http.cors.deep' must be an object");
	expect_error("{\"http\":{\"cors\":{\"origin\":[\"a\"]}}}",
		     "'http.cors.origin' must be a string");
	expect_error("{\"allow\":1}", "'allow' must be a glob");
}

static void test_bounds(void **state)
{
	struct sample s;
	struct cx_err err;

	expect_error("{\"workers\":0}", "'workers' must be between 1 and 256");
	expect_error("{\"workers\":257}", "'workers' must be between 1 and 256");
	expect_error("{\"workers\":-1}", "'workers' must be between 1 and 256");
	expect_error("{\"http\":{\"cors\":{\"deep\":{\"depth3\":10}}}}",
		     "'http.cors.deep.depth3' must be between 0 and 9");
	defaults(&s);
	assert_int_equal(apply(&s, "{\"workers\":1}", &err), 0);
	assert_int_equal(s.workers, 1);
	assert_int_equal(apply(&s, "{\"workers\":256}", &err), 0);
	assert_int_equal(s.workers, 256);
	/* A rejected value leaves the field as it was. */
	assert_int_equal(apply(&s, "{\"workers\":300}", &err), -1);
	assert_int_equal(s.workers, 256);
	cx_conf_release(top_table, &s);
}

static void test_not_an_object(void **state)
{
	struct sample s;
	struct cx_err err;
	json_t *arr = json_array();

	defaults(&s);
	assert_int_equal(cx_conf_apply(top_table, arr, &s, "", &err), -1);
	assert_non_null(strstr(err.msg, "object"));
	assert_int_equal(cx_conf_apply(http_table, arr, &s, "http", &err), -1);
	assert_string_equal(err.msg, "'http' must be an object");
	json_decref(arr);
	cx_conf_release(top_table, &s);
}

static void test_path_prefix(void **state)
{
	/* Applying a sub-table directly names keys under the given prefix. */
	struct sample s;
	struct cx_err err;
	json_t *obj = json_pack("{s:i}", "bogus", 1);

	defaults(&s);
	assert_int_equal(cx_conf_apply(http_table, obj, &s, "http", &err), -1);
	assert_string_equal(err.msg, "unknown key 'http.bogus'");
	json_decref(obj);
	cx_conf_release(top_table, &s);
}

static void test_reapply_replaces(void **state)
{
	/* Applying twice (file, then environment) frees the old string and JSON: ASan checks. */
	struct sample s;
	struct cx_err err;

	defaults(&s);
	assert_int_equal(apply(&s, "{\"name\":\"one\",\"adapters\":{\"a\":1}}", &err), 0);
	assert_int_equal(apply(&s, "{\"name\":\"two\",\"adapters\":[true]}", &err), 0);
	assert_string_equal(s.name, "two");
	assert_true(json_is_array(s.adapters));
	assert_int_equal(s.adapters->refcount, 1);
	cx_conf_release(top_table, &s);
	cx_conf_release(top_table, &s); /* idempotent */
}

static void test_json_holds_reference(void **state)
{
	struct sample s;
	struct cx_err err;
	json_t *obj = json_pack("{s:{s:i}}", "adapters", "k", 1);
	json_t *inner = json_object_get(obj, "adapters");

	defaults(&s);
	assert_int_equal(cx_conf_apply(top_table, obj, &s, "", &err), 0);
	assert_ptr_equal(s.adapters, inner);
	json_decref(obj); /* the config keeps its own reference */
	assert_int_equal(json_integer_value(json_object_get(s.adapters, "k")), 1);
	cx_conf_release(top_table, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_types),
		cmocka_unit_test(test_absent_keys_keep_defaults),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_unknown_key_suggestions),
		cmocka_unit_test(test_unknown_key_without_suggestion),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_path_prefix),
		cmocka_unit_test(test_reapply_replaces),
		cmocka_unit_test(test_json_holds_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
