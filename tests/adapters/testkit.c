/* The test kit: an adapter whose tools exercise the gateway's dispatch paths (schema checks,
 * deadlines, isError, policy on destructive tools, output limits). Compiled only into
 * build/cortex-gateway-test and the unit tests, never into the shipped gateway. */
#include "testkit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"

extern const char tests_adapters_testkit_json[];

struct testkit {
	bool healthy;
};

static int testkit_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct testkit *t;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)conf, key, v) {
		if (strcmp(key, "healthy"))
			return cx_err_set(err, "unknown key '%s'", key);
		if (!json_is_boolean(v))
			return cx_err_set(err, "'healthy' must be true or false");
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return cx_err_set(err, "out of memory");
	t->healthy = !json_is_false(json_object_get(conf, "healthy"));
	*state = t;
	return 0;
}

static void testkit_cleanup(void *state)
{
	free(state);
}

static int testkit_health(void *state, struct cx_err *err)
{
	const struct testkit *t = state;

	return t->healthy ? 0 : cx_err_set(err, "test kit told to be unhealthy");
}

static int tk_echo(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *text = json_string_value(json_object_get(args, "text"));
	const char *mode = json_string_value(json_object_get(args, "mode"));
	json_int_t count = json_integer_value(json_object_get(args, "count"));
	size_t len = strlen(text);
	char *out;

	if (count < 1)
		count = 1;
	out = malloc(len * (size_t)count + 1);
	if (!out)
		return -1;
	for (json_int_t i = 0; i < count; i++)
		memcpy(out + len * (size_t)i, text, len);
	out[len * (size_t)count] = '\0';
	if (mode && !strcmp(mode, "upper"))
		for (char *p = out; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	int rc = cx_result_structured(res, json_pack("{s:s}", "text", out));
	free(out);
	return rc;
}

static int tk_sleep(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));
	int64_t until = cx_now_ms() + ms;

	while (cx_now_ms() < until) {
		struct timespec ts = { 0, 5 * 1000000 };
		if (cx_call_cancelled(call))
			return cx_result_errorf(res, "sleep cancelled after %lld of %lld ms",
						(long long)(ms - (until - cx_now_ms())),
						(long long)ms);
		nanosleep(&ts, NULL);
	}
	return cx_result_text(res, "slept");
}

static int tk_fail(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_errorf(res, "the test kit backend refused: this tool always fails; "
				"try testkit_echo instead");
}

static int tk_delete(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "deleted '%.200s'",
		 json_string_value(json_object_get(args, "target")));
	return cx_result_text(res, msg);
}

static int tk_big(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	size_t n = (size_t)json_integer_value(json_object_get(args, "bytes"));
	char *s = malloc(n + 1);
	int rc;

	if (!s)
		return -1;
	memset(s, 'x', n);
	s[n] = '\0';
	rc = cx_result_text(res, s);
	free(s);
	return rc;
}

static int tk_badoutput(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_structured(res, json_pack("{s:s}", "count", "not a number"));
}

static const struct cx_tool testkit_tools[] = {
	{ "testkit_echo", tk_echo, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_sleep", tk_sleep, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_fail", tk_fail, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "testkit_delete", tk_delete, CX_DESTRUCTIVE | CX_OPEN_WORLD },
	{ "testkit_big", tk_big, CX_READ_ONLY },
	{ "testkit_badoutput", tk_badoutput, CX_READ_ONLY },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_testkit_adapter = {
	.name = "testkit",
	.tools_json = tests_adapters_testkit_json,
	.tools = testkit_tools,
	.init = testkit_init,
	.cleanup = testkit_cleanup,
	.health = testkit_health,
};
