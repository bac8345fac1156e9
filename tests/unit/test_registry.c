/* The tool registry: what an adapter author relies on at start-up (every mistake in tools.json
 * or the handler table stops the gateway with a message naming the tool, and leaves nothing
 * half-registered), and what clients rely on afterwards (annotations true to the handler's
 * flags, the published definition otherwise as written, lookup by name, stable order, and
 * health reported from the background thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "../../gateway/adapters.h"
#include "../../gateway/registry.h"
#include "../adapters/testkit.h"

/* ---- fixture adapter "fx": tools.json and handlers chosen per test ---- */

static int fx_ok(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_text(res, "ok");
}

static int fx_other(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_text(res, "other");
}

static const struct cx_tool fx_one[] = {
	{ "fx_a", fx_ok, CX_READ_ONLY },
	{ NULL, NULL, 0 },
};

static const struct cx_tool fx_two[] = {
	{ "fx_a", fx_ok, CX_READ_ONLY },
	{ "fx_b", fx_other, CX_DESTRUCTIVE },
	{ NULL, NULL, 0 },
};

#define SCHEMA      "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}"
#define ENTRY(name) "{\"name\":\"" name "\",\"description\":\"d\",\"inputSchema\":" SCHEMA "}"

static struct cx_adapter fx(const char *name, const char *json, const struct cx_tool *tools)
{
	struct cx_adapter a = { .name = name, .tools_json = json, .tools = tools };

	return a;
}

/* Counts init/cleanup pairs so a refused adapter can be shown to release its state. */
static int fx_inits, fx_cleanups;

static int fx_init_ok(const json_t *conf, void **state, struct cx_err *err)
{
	int *s = malloc(sizeof(*s));

	if (!s)
		return cx_err_set(err, "out of memory");
	*s = 42;
	*state = s;
	fx_inits++;
	return 0;
}

static int fx_init_fail(const json_t *conf, void **state, struct cx_err *err)
{
	return cx_err_set(err, "'url' is required");
}

static void fx_cleanup(void *state)
{
	fx_cleanups++;
	free(state);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);

	if (!v)
		fail_msg("bad test JSON: %s", je.text);
	return v;
}

/* Asserts that adding a is refused with a message containing every needle (NULL-terminated)
 * and that the registry is exactly as before. */
static void expect_refused_v(struct cx_registry *r, const struct cx_adapter *a, const json_t *conf,
			     const char *const *needles)
{
	size_t ntools = cx_registry_count(r), nadapters = cx_registry_adapter_count(r);
	struct cx_err err = { 0 };
	const json_t *defs[16];

	for (size_t i = 0; i < ntools && i < 16; i++)
		defs[i] = cx_registry_at(r, i)->def;

	if (cx_registry_add(r, a, conf, &err) != -1)
		fail_msg("adapter '%s' was accepted, expected a refusal mentioning '%s'", a->name,
			 needles[0]);
	assert_true(err.msg[0] != '\0');
	for (size_t i = 0; needles[i]; i++)
		if (!strstr(err.msg, needles[i]))
			fail_msg("message '%s' lacks '%s'", err.msg, needles[i]);
	assert_int_equal(cx_registry_count(r), ntools);
	assert_int_equal(cx_registry_adapter_count(r), nadapters);
	for (size_t i = 0; i < ntools && i < 16; i++)
		assert_ptr_equal(cx_registry_at(r, i)->def, defs[i]);
}

#define expect_refused(r, a, conf, ...)                                                            \
	expect_refused_v((r), (a), (conf), (const char *const[]){ __VA_ARGS__, NULL })

/* A registry that already holds a valid adapter, so "unchanged" is checked against a
 * non-empty state; adds "base" with one tool. */
static struct cx_registry *registry_with_base(void)
{
	static const struct cx_tool base_tools[] = {
		{ "base_x", fx_ok, CX_READ_ONLY | CX_IDEMPOTENT },
		{ NULL, NULL, 0 },
	};
	static const struct cx_adapter base = {
		.name = "base",
		.tools_json = "[" ENTRY("base_x") "]",
		.tools = base_tools,
	};
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };

	assert_non_null(r);
	if (cx_registry_add(r, &base, NULL, &err))
		fail_msg("base adapter refused: %s", err.msg);
	assert_int_equal(cx_registry_count(r), 1);
	return r;
}

/* After a run of refusals, a valid fx adapter still goes in and is complete. Static: the
 * registry keeps the adapter pointer. */
static const struct cx_adapter valid_fx = {
	.name = "fx",
	.tools_json = "[" ENTRY("fx_a") "]",
	.tools = fx_one,
};

static void expect_valid_add_works(struct cx_registry *r)
{
	size_t before = cx_registry_count(r);
	struct cx_err err = { 0 };

	if (cx_registry_add(r, &valid_fx, NULL, &err))
		fail_msg("valid adapter refused after refusals: %s", err.msg);
	assert_int_equal(cx_registry_count(r), before + 1);
	assert_non_null(cx_registry_find(r, "fx_a"));
	assert_ptr_equal(cx_registry_find(r, "fx_a")->tool->call, fx_ok);
	assert_ptr_equal(cx_registry_find(r, "fx_a")->adapter, &valid_fx);
	assert_non_null(cx_registry_find(r, "base_x"));
}

/* ---- pairing tools.json with handlers ---- */

static void test_refuses_entry_without_handler(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "," ENTRY("fx_c") "]", fx_one);

	expect_refused(r, &a, NULL, "'fx_c'", "no handler", "adapter 'fx'");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_handler_without_entry(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "]", fx_two);

	expect_refused(r, &a, NULL, "'fx_b'", "no entry in tools.json");
	/* The tool that did pair is not left behind. */
	assert_null(cx_registry_find(r, "fx_a"));
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_handler_without_call(void **st)
{
	static const struct cx_tool nocall[] = {
		{ "fx_a", NULL, CX_READ_ONLY },
		{ NULL, NULL, 0 },
	};
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "]", nocall);

	expect_refused(r, &a, NULL, "'fx_a'");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_bad_names(void **st)
{
	static const char long65[] = "fx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const struct cx_tool bad[] = {
		{ "other_a", fx_ok, CX_READ_ONLY },     { "fxa", fx_ok, CX_READ_ONLY },
		{ "fx_", fx_ok, CX_READ_ONLY },         { "fx_Upper", fx_ok, CX_READ_ONLY },
		{ "fx_has-dash", fx_ok, CX_READ_ONLY }, { "fx_has space", fx_ok, CX_READ_ONLY },
		{ long65, fx_ok, CX_READ_ONLY },        { NULL, NULL, 0 },
	};
	struct cx_registry *r = registry_with_base();

	assert_int_equal(strlen(long65), 65);
	for (size_t i = 0; bad[i].name; i++) {
		const struct cx_tool one[] = { bad[i], { NULL, NULL, 0 } };
		char json[512], quoted[128];
		struct cx_adapter a;

		snprintf(json, sizeof(json),
			 "[{\"name\":\"%s\",\"description\":\"d\",\"inputSchema\":" SCHEMA "}]",
			 bad[i].name);
		snprintf(quoted, sizeof(quoted), "'%s'", bad[i].name);
		a = fx("fx", json, one);
		expect_refused(r, &a, NULL, quoted);
	}
	expect_valid_add_works(r);
	cx_registry_free(r);
}

/* The limit is at most 64 characters: 64 itself is a valid name. */
static void test_accepts_name_of_64(void **st)
{
	static const char long64[] = "fx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const struct cx_tool one[] = { { long64, fx_ok, CX_READ_ONLY }, { NULL, NULL, 0 } };
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };
	char json[512];
	struct cx_adapter a;

	assert_int_equal(strlen(long64), 64);
	snprintf(json, sizeof(json),
		 "[{\"name\":\"%s\",\"description\":\"d\",\"inputSchema\":" SCHEMA "}]", long64);
	a = fx("fx", json, one);
	if (cx_registry_add(r, &a, NULL, &err))
		fail_msg("64-character name refused: %s", err.msg);
	assert_non_null(cx_registry_find(r, long64));
	cx_registry_free(r);
}

static void test_refuses_duplicates(void **st)
{
	static const struct cx_tool fxb_tools[] = {
		{ "fx_b_x", fx_ok, CX_READ_ONLY },
		{ NULL, NULL, 0 },
	};
	struct cx_registry *r = registry_with_base();
	struct cx_adapter twice = fx("fx", "[" ENTRY("fx_a") "," ENTRY("fx_a") "]", fx_one);
	struct cx_adapter other = fx("fx", "[" ENTRY("fx_a") "]", fx_one);
	struct cx_adapter fxb = fx("fx_b", "[" ENTRY("fx_b_x") "]", fxb_tools);
	struct cx_adapter clash = fx("fx", "[" ENTRY("fx_b_x") "]", fxb_tools);
	static const struct cx_tool fxz_tools[] = {
		{ "fx_z", fx_ok, CX_READ_ONLY },
		{ NULL, NULL, 0 },
	};
	struct cx_adapter fresh = fx("fx", "[" ENTRY("fx_z") "]", fxz_tools);
	struct cx_err err = { 0 };

	/* Within one tools.json. */
	expect_refused(r, &twice, NULL, "'fx_a'", "twice");
	expect_valid_add_works(r);

	/* The same adapter a second time, and another adapter under a name already taken,
	 * even when its tools would not clash (the name is also the config key). */
	expect_refused(r, &valid_fx, NULL, "'fx'", "twice");
	expect_refused(r, &other, NULL, "'fx'", "twice");
	expect_refused(r, &fresh, NULL, "'fx'", "twice");
	cx_registry_free(r);

	/* Across adapters: "fx_b" and "fx" may both own names that start with fx_b_. */
	r = cx_registry_new();
	if (cx_registry_add(r, &fxb, NULL, &err))
		fail_msg("fx_b refused: %s", err.msg);
	expect_refused(r, &clash, NULL, "'fx_b_x'", "twice");
	assert_ptr_equal(cx_registry_find(r, "fx_b_x")->adapter, &fxb);
	cx_registry_free(r);
}

/* ---- schemas ---- */

static void test_refuses_bad_input_schema(void **st)
{
	static const char *const cases[][2] = {
		{ "[{\"name\":\"fx_a\",\"description\":\"d\"}]", "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":[]}]", "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":\"object\"}]",
		  "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":{}}]", "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\","
		  "\"inputSchema\":{\"type\":\"array\"}}]",
		  "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\","
		  "\"inputSchema\":{\"type\":[\"object\",\"null\"]}}]",
		  "inputSchema" },
		{ "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\","
		  "\"properties\":{\"n\":{\"oneOf\":[{\"type\":\"integer\"},"
		  "{\"type\":\"string\"}]}}}}]",
		  "oneOf" },
	};
	struct cx_registry *r = registry_with_base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_adapter a = fx("fx", cases[i][0], fx_one);
		expect_refused(r, &a, NULL, "'fx_a'", cases[i][1]);
	}
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_bad_output_schema(void **st)
{
	static const char *const cases[] = {
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"outputSchema\":\"text\"}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"outputSchema\":[]}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"outputSchema\":{\"type\":\"string\"}}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"outputSchema\":{\"type\":\"object\",\"anyOf\":[]}}]",
	};
	struct cx_registry *r = registry_with_base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_adapter a = fx("fx", cases[i], fx_one);
		expect_refused(r, &a, NULL, "'fx_a'", "outputSchema");
	}
	expect_valid_add_works(r);
	cx_registry_free(r);
}

/* ---- annotations and flags ---- */

static void test_refuses_contradicting_annotations(void **st)
{
	static const char *const cases[] = {
		/* fx_a is CX_READ_ONLY only */
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":{\"readOnlyHint\":false}}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":{\"destructiveHint\":true}}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":{\"idempotentHint\":true}}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":{\"openWorldHint\":true}}]",
		/* a hint that is not a boolean says nothing true */
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":{\"readOnlyHint\":\"yes\"}}]",
		"[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA ","
		"\"annotations\":[]}]",
	};
	struct cx_registry *r = registry_with_base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_adapter a = fx("fx", cases[i], fx_one);
		expect_refused(r, &a, NULL, "'fx_a'", "annotation");
	}
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_read_only_and_destructive(void **st)
{
	static const struct cx_tool both[] = {
		{ "fx_a", fx_ok, CX_READ_ONLY | CX_DESTRUCTIVE },
		{ NULL, NULL, 0 },
	};
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "]", both);

	expect_refused(r, &a, NULL, "'fx_a'", "read-only and destructive");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

/* An adapter whose configuration decides a tool's effect (tool_flags): tools/list and the
 * flags policy reads say what the hook returns; only the hint flags can change. */
static unsigned fx_widen(void *state, const char *tool, unsigned flags)
{
	if (strcmp(tool, "fx_b"))
		return flags;
	return (flags & ~CX_READ_ONLY) | CX_DESTRUCTIVE | CX_NONBLOCKING;
}

static void test_tool_flags_hook(void **st)
{
	static const struct cx_tool tools[] = {
		{ "fx_a", fx_ok, CX_READ_ONLY },
		{ "fx_b", fx_other, CX_READ_ONLY | CX_IDEMPOTENT },
		{ NULL, NULL, 0 },
	};
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "," ENTRY("fx_b") "]", tools);
	const struct cx_reg_tool *ra, *rb;
	const json_t *ann;

	a.tool_flags = fx_widen;
	if (cx_registry_add(r, &a, NULL, &err))
		fail_msg("refused: %s", err.msg);
	ra = cx_registry_find(r, "fx_a");
	rb = cx_registry_find(r, "fx_b");
	assert_int_equal(ra->flags, CX_READ_ONLY);
	assert_int_equal(rb->flags, CX_DESTRUCTIVE | CX_IDEMPOTENT); /* NONBLOCKING not taken */
	ann = json_object_get(rb->def, "annotations");
	assert_true(json_is_false(json_object_get(ann, "readOnlyHint")));
	assert_true(json_is_true(json_object_get(ann, "destructiveHint")));
	assert_true(json_is_true(json_object_get(ann, "idempotentHint")));
	ann = json_object_get(ra->def, "annotations");
	assert_true(json_is_true(json_object_get(ann, "readOnlyHint")));
	cx_registry_free(r);
}

/* ---- the shape of tools.json ---- */

static void test_refuses_unknown_key(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx",
				 "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputSchema\":" SCHEMA
				 ",\"readOnly\":true}]",
				 fx_one);
	struct cx_adapter typo =
		fx("fx",
		   "[{\"name\":\"fx_a\",\"description\":\"d\",\"inputschema\":" SCHEMA
		   ",\"inputSchema\":" SCHEMA "}]",
		   fx_one);

	expect_refused(r, &a, NULL, "'fx_a'", "'readOnly'");
	expect_refused(r, &typo, NULL, "'fx_a'", "'inputschema'");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_missing_description(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter none =
		fx("fx", "[{\"name\":\"fx_a\",\"inputSchema\":" SCHEMA "}]", fx_one);
	struct cx_adapter empty =
		fx("fx", "[{\"name\":\"fx_a\",\"description\":\"\",\"inputSchema\":" SCHEMA "}]",
		   fx_one);

	expect_refused(r, &none, NULL, "'fx_a'", "description");
	expect_refused(r, &empty, NULL, "'fx_a'", "description");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

static void test_refuses_malformed_tools_json(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter notjson = fx("fx", "[" ENTRY("fx_a"), fx_one);
	struct cx_adapter notarray = fx("fx", ENTRY("fx_a"), fx_one);
	struct cx_adapter notobj = fx("fx", "[\"fx_a\"]", fx_one);
	struct cx_adapter noname =
		fx("fx", "[{\"description\":\"d\",\"inputSchema\":" SCHEMA "}]", fx_one);
	struct cx_adapter dupkey = fx("fx",
				      "[{\"name\":\"fx_a\",\"name\":\"fx_a\",\"description\":\"d\","
				      "\"inputSchema\":" SCHEMA "}]",
				      fx_one);

	expect_refused(r, &notjson, NULL, "adapter 'fx'", "tools.json");
	expect_refused(r, &notarray, NULL, "adapter 'fx'", "array");
	expect_refused(r, &notobj, NULL, "adapter 'fx'");
	expect_refused(r, &noname, NULL, "adapter 'fx'", "name");
	expect_refused(r, &dupkey, NULL, "adapter 'fx'");
	expect_valid_add_works(r);
	cx_registry_free(r);
}

/* ---- adapter init ---- */

static void test_init_failure_is_prefixed(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "]", fx_one);
	json_t *bad = parse("{\"healthy\":\"no\"}");

	a.init = fx_init_fail;
	a.cleanup = fx_cleanup;
	fx_cleanups = 0;
	expect_refused(r, &a, NULL, "adapter 'fx': 'url' is required");
	/* init failed, so there is no state to clean up */
	assert_int_equal(fx_cleanups, 0);

	/* The real test kit reports its own config errors the same way. */
	expect_refused(r, &cx_testkit_adapter, bad,
		       "adapter 'testkit': ", "'healthy' must be true or false");
	json_decref(bad);
	expect_valid_add_works(r);
	cx_registry_free(r);
}

/* A refusal after init succeeded hands the state back to cleanup (ASan would see a leak). */
static void test_refusal_after_init_cleans_up(void **st)
{
	struct cx_registry *r = registry_with_base();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "," ENTRY("fx_c") "]", fx_one);

	a.init = fx_init_ok;
	a.cleanup = fx_cleanup;
	fx_inits = fx_cleanups = 0;
	expect_refused(r, &a, NULL, "'fx_c'");
	assert_int_equal(fx_inits, 1);
	assert_int_equal(fx_cleanups, 1);
	cx_registry_free(r);
}

/* ---- success ---- */

static const struct cx_tool good_tools[] = {
	/* handler order differs from tools.json order on purpose */
	{ "good_write", fx_other, CX_DESTRUCTIVE | CX_OPEN_WORLD },
	{ "good_read", fx_ok, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "good_plain", fx_ok, 0 },
	{ NULL, NULL, 0 },
};

static const char good_json[] =
	"[{\"name\":\"good_read\",\"title\":\"Read\",\"description\":\"reads\","
	"\"inputSchema\":{\"type\":\"object\",\"required\":[\"n\"],"
	"\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1}}},"
	"\"outputSchema\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"string\"}}},"
	"\"annotations\":{\"title\":\"Reader\",\"readOnlyHint\":true}},"
	"{\"name\":\"good_write\",\"description\":\"writes\","
	"\"inputSchema\":{\"type\":\"object\"},\"_meta\":{\"x\":1}},"
	"{\"name\":\"good_plain\",\"description\":\"plain\",\"inputSchema\":{\"type\":\"object\"},"
	"\"annotations\":{\"destructiveHint\":false,\"openWorldHint\":false}}]";

static void assert_hints(const json_t *def, unsigned flags)
{
	const json_t *ann = json_object_get(def, "annotations");
	static const struct {
		const char *hint;
		unsigned flag;
	} hints[] = {
		{ "readOnlyHint", CX_READ_ONLY },
		{ "destructiveHint", CX_DESTRUCTIVE },
		{ "idempotentHint", CX_IDEMPOTENT },
		{ "openWorldHint", CX_OPEN_WORLD },
	};

	assert_true(json_is_object(ann));
	for (size_t i = 0; i < 4; i++) {
		const json_t *v = json_object_get(ann, hints[i].hint);
		if (!json_is_boolean(v))
			fail_msg("%s: %s missing or not a boolean",
				 json_string_value(json_object_get(def, "name")), hints[i].hint);
		assert_int_equal(json_is_true(v), (flags & hints[i].flag) != 0);
	}
}

static void test_success_publishes_defs(void **st)
{
	struct cx_adapter a = fx("good", good_json, good_tools);
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };
	json_t *src = parse(good_json);
	size_t i;
	json_t *e;

	a.init = fx_init_ok;
	a.cleanup = fx_cleanup;
	fx_inits = fx_cleanups = 0;
	if (cx_registry_add(r, &a, NULL, &err))
		fail_msg("good adapter refused: %s", err.msg);
	assert_int_equal(cx_registry_count(r), 3);
	assert_int_equal(cx_registry_adapter_count(r), 1);

	json_array_foreach(src, i, e) {
		const struct cx_reg_tool *rt = cx_registry_at(r, i);
		json_t *want = json_deep_copy(e), *got;
		const json_t *ann;

		/* order of tools.json */
		assert_non_null(rt);
		assert_string_equal(rt->name, json_string_value(json_object_get(e, "name")));
		assert_ptr_equal(cx_registry_find(r, rt->name), rt);
		assert_ptr_equal(rt->adapter, &a);
		assert_non_null(rt->input);
		assert_int_equal(*(int *)rt->state, 42);
		assert_hints(rt->def, rt->tool->flags);

		/* Everything but the four hints is as written. */
		got = json_deep_copy(rt->def);
		ann = json_object_get(got, "annotations");
		static const char *const four[] = { "readOnlyHint", "destructiveHint",
						    "idempotentHint", "openWorldHint", NULL };
		for (const char *const *h = four; *h; h++) {
			json_object_del((json_t *)ann, *h);
			json_object_del(json_object_get(want, "annotations"), *h);
		}
		if (!json_object_size(ann))
			json_object_del(got, "annotations");
		if (!json_object_size(json_object_get(want, "annotations")))
			json_object_del(want, "annotations");
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_SORT_KEYS);
			char *w = json_dumps(want, JSON_SORT_KEYS);
			fail_msg("published def changed:\n got  %s\n want %s", g, w);
		}
		json_decref(got);
		json_decref(want);
	}
	assert_ptr_equal(cx_registry_find(r, "good_write")->tool->call, fx_other);
	assert_ptr_equal(cx_registry_find(r, "good_read")->tool->call, fx_ok);
	assert_non_null(cx_registry_find(r, "good_read")->output);
	assert_null(cx_registry_find(r, "good_write")->output);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(cx_registry_find(r, "good_read")
									    ->def,
								    "annotations"),
						    "title")),
			    "Reader");

	/* exact-name lookup only */
	assert_null(cx_registry_find(r, "good"));
	assert_null(cx_registry_find(r, "good_rea"));
	assert_null(cx_registry_find(r, "GOOD_READ"));
	assert_null(cx_registry_at(r, 3));
	assert_null(cx_registry_adapter_at(r, 1, NULL));

	json_decref(src);
	cx_registry_free(r);
	assert_int_equal(fx_inits, 1);
	assert_int_equal(fx_cleanups, 1);
}

static void test_order_across_adapters(void **st)
{
	struct cx_registry *r = cx_registry_new();
	struct cx_adapter a = fx("good", good_json, good_tools);
	struct cx_err err = { 0 };
	void *gw = cx_gateway_adapter_state_new(r), *state = NULL;
	static const char *const want[] = { "gateway_status", "good_read",    "good_write",
					    "good_plain",     "testkit_echo", "testkit_sleep" };

	assert_int_equal(cx_registry_add_state(r, &cx_gateway_adapter, gw, &err), 0);
	assert_int_equal(cx_registry_add(r, &a, NULL, &err), 0);
	assert_int_equal(cx_registry_add(r, &cx_testkit_adapter, NULL, &err), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(cx_registry_at(r, i)->name, want[i]);
	assert_int_equal(cx_registry_count(r), 1 + 3 + 12);
	assert_int_equal(cx_registry_adapter_count(r), 3);
	assert_ptr_equal(cx_registry_adapter_at(r, 0, &state), &cx_gateway_adapter);
	assert_ptr_equal(state, gw);
	assert_ptr_equal(cx_registry_find(r, "gateway_status")->state, gw);
	assert_ptr_equal(cx_registry_adapter_at(r, 2, NULL), &cx_testkit_adapter);
	/* The gateway adapter's state is the caller's: free() does not clean it up (ASan
	 * would report a double free otherwise). */
	cx_registry_free(r);
	cx_gateway_adapter_state_free(gw);
}

/* ---- health ---- */

/* Polls until adapter i has been checked, at most 3 s. */
static int wait_health(struct cx_registry *r, size_t i, char *msg, size_t msglen)
{
	int64_t until = cx_now_ms() + 3000;
	int h;

	while ((h = cx_registry_health(r, i, msg, msglen)) == -1 && cx_now_ms() < until) {
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
	return h;
}

static void test_health(void **st)
{
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };
	void *gw = cx_gateway_adapter_state_new(r);
	json_t *sick = parse("{\"healthy\":false}");
	struct cx_adapter nohook = fx("fx", "[" ENTRY("fx_a") "]", fx_one);
	char msg[CX_ERR_MSG_MAX];

	assert_int_equal(cx_registry_add_state(r, &cx_gateway_adapter, gw, &err), 0);
	assert_int_equal(cx_registry_add(r, &cx_testkit_adapter, sick, &err), 0);
	assert_int_equal(cx_registry_add(r, &nohook, NULL, &err), 0);
	json_decref(sick);

	/* Not checked before the thread runs. */
	assert_int_equal(cx_registry_health(r, 1, msg, sizeof(msg)), -1);
	assert_int_equal(cx_registry_health(r, 99, msg, sizeof(msg)), -1);

	/* A long interval: the first check must run at once, not after it. */
	assert_int_equal(cx_registry_health_start(r, 60000, &err), 0);
	assert_int_equal(wait_health(r, 1, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "test kit told to be unhealthy");
	assert_int_equal(cx_registry_health(r, 1, NULL, 0), 0);
	/* No hook: never checked. */
	assert_int_equal(cx_registry_health(r, 0, msg, sizeof(msg)), -1);
	assert_int_equal(cx_registry_health(r, 2, msg, sizeof(msg)), -1);
	cx_registry_health_stop(r);
	cx_registry_health_stop(r); /* idempotent */
	cx_registry_free(r);
	cx_gateway_adapter_state_free(gw);
}

static void test_health_healthy(void **st)
{
	struct cx_registry *r = cx_registry_new();
	struct cx_err err = { 0 };
	char msg[CX_ERR_MSG_MAX] = "junk";
	int64_t t0;

	assert_int_equal(cx_registry_add(r, &cx_testkit_adapter, NULL, &err), 0);
	t0 = cx_now_ms();
	assert_int_equal(cx_registry_health_start(r, 60000, &err), 0);
	assert_int_equal(wait_health(r, 0, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "");
	/* Stopping does not wait for the next interval. */
	cx_registry_health_stop(r);
	assert_true(cx_now_ms() - t0 < 2000);
	cx_registry_free(r); /* frees while the thread is stopped: no double join */
}

/* Adapters without a health hook: start is a no-op and free does not hang. */
static void test_health_without_hooks(void **st)
{
	struct cx_registry *r = cx_registry_new();
	struct cx_adapter a = fx("fx", "[" ENTRY("fx_a") "]", fx_one);
	struct cx_err err = { 0 };

	assert_int_equal(cx_registry_add(r, &a, NULL, &err), 0);
	assert_int_equal(cx_registry_health_start(r, 10, &err), 0);
	assert_int_equal(cx_registry_health(r, 0, NULL, 0), -1);
	cx_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_entry_without_handler),
		cmocka_unit_test(test_refuses_handler_without_entry),
		cmocka_unit_test(test_refuses_handler_without_call),
		cmocka_unit_test(test_refuses_bad_names),
		cmocka_unit_test(test_accepts_name_of_64),
		cmocka_unit_test(test_refuses_duplicates),
		cmocka_unit_test(test_refuses_bad_input_schema),
		cmocka_unit_test(test_refuses_bad_output_schema),
		cmocka_unit_test(test_refuses_contradicting_annotations),
		cmocka_unit_test(test_refuses_read_only_and_destructive),
		cmocka_unit_test(test_tool_flags_hook),
		cmocka_unit_test(test_refuses_unknown_key),
		cmocka_unit_test(test_refuses_missing_description),
		cmocka_unit_test(test_refuses_malformed_tools_json),
		cmocka_unit_test(test_init_failure_is_prefixed),
		cmocka_unit_test(test_refusal_after_init_cleans_up),
		cmocka_unit_test(test_success_publishes_defs),
		cmocka_unit_test(test_order_across_adapters),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_healthy),
		cmocka_unit_test(test_health_without_hooks),
	};

	cx_log_set_level(CX_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
