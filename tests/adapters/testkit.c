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
extern const char tests_adapters_testkit_resources_json[];
extern const char tests_adapters_testkit_prompts_json[];

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

static int tk_progress(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	json_int_t steps = json_integer_value(json_object_get(args, "steps"));
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));
	char msg[64];

	for (json_int_t i = 1; i <= steps; i++) {
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		if (ms)
			nanosleep(&ts, NULL);
		if (cx_call_cancelled(call))
			return cx_result_errorf(res, "stopped at step %lld", (long long)i);
		snprintf(msg, sizeof(msg), "step %lld of %lld", (long long)i, (long long)steps);
		if (cx_call_progress(call, (double)i, (double)steps, msg))
			return -1;
	}
	snprintf(msg, sizeof(msg), "counted %lld steps", (long long)steps);
	return cx_result_text(res, msg);
}

static int tk_log(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *level = json_string_value(json_object_get(args, "level"));
	const char *message = json_string_value(json_object_get(args, "message"));

	if (cx_call_log(call, level, "testkit", json_string(message)))
		return -1;
	return cx_result_text(res, "logged");
}

static int tk_ask(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *action, *reply;
	int rc;

	rc = cx_call_request(call, "elicitation/create",
			     json_pack("{s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}", "message",
				       json_string_value(json_object_get(args, "question")),
				       "requestedSchema", "type", "object", "properties", "answer",
				       "type", "string", "required", "answer"),
			     &answer, &err);
	if (rc)
		return cx_result_errorf(res, "could not ask the user: %s", err.msg);
	action = json_string_value(json_object_get(answer, "action"));
	reply = json_string_value(json_object_get(json_object_get(answer, "content"), "answer"));
	if (!action || strcmp(action, "accept") || !reply)
		rc = cx_result_errorf(res, "the user did not answer (%s)", action ? action : "?");
	else
		rc = cx_result_text(res, reply);
	json_decref(answer);
	return rc;
}

static int tk_sample(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *text;
	int rc;

	rc = cx_call_request(call, "sampling/createMessage",
			     json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user",
				       "content", "type", "text", "text",
				       json_string_value(json_object_get(args, "prompt")),
				       "maxTokens", 100),
			     &answer, &err);
	if (rc)
		return cx_result_errorf(res, "could not ask the model: %s", err.msg);
	text = json_string_value(json_object_get(json_object_get(answer, "content"), "text"));
	rc = text ? cx_result_text(res, text)
		  : cx_result_errorf(res, "the model's answer had no text");
	json_decref(answer);
	return rc;
}

static int tk_touch(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	cx_resource_updated(json_string_value(json_object_get(args, "uri")));
	return cx_result_text(res, "touched");
}

static int tk_withdraw(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *tool = json_string_value(json_object_get(args, "tool"));
	const char *resource = json_string_value(json_object_get(args, "resource"));
	const char *prompt = json_string_value(json_object_get(args, "prompt"));
	bool available = json_is_true(json_object_get(args, "available"));
	int rc = tool       ? cx_tool_set_available(tool, available)
		 : resource ? cx_resource_set_available(resource, available)
		 : prompt   ? cx_prompt_set_available(prompt, available)
			    : -1;

	if (rc)
		return cx_result_errorf(res, "nothing named '%s'",
					tool       ? tool
					: resource ? resource
					: prompt   ? prompt
						   : "");
	return cx_result_text(res, "done");
}

static int tk_read(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err)
{
	const struct testkit *t = call->state;
	const char *prefix = "testkit://items/";

	if (!strcmp(uri, "testkit://status")) {
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "text/plain", "text", t->healthy ? "healthy" : "unhealthy");
		return *result ? 0 : -1;
	}
	if (!strncmp(uri, prefix, strlen(prefix))) {
		const char *id = uri + strlen(prefix);
		char text[128];
		if (!strcmp(id, "missing")) {
			cx_err_set(err, "no item 'missing'");
			return CX_NOT_FOUND;
		}
		snprintf(text, sizeof(text), "{\"id\":\"%.100s\"}", id);
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "application/json", "text", text);
		return *result ? 0 : -1;
	}
	cx_err_set(err, "no resource '%s'", uri);
	return CX_NOT_FOUND;
}

static int tk_prompt(struct cx_call *call, const char *name, const json_t *args, json_t **result,
		     struct cx_err *err)
{
	const char *tone = json_string_value(json_object_get(args, "tone"));
	char text[512];

	snprintf(text, sizeof(text), "Summarise %.200s%s%.100s.",
		 json_string_value(json_object_get(args, "topic")),
		 tone ? " in a tone that is " : "", tone ? tone : "");
	*result = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}", "description", "a summary request",
			    "messages", "role", "user", "content", "type", "text", "text", text);
	return *result ? 0 : -1;
}

static int tk_complete(struct cx_call *call, const json_t *ref, const char *argument,
		       const char *value, const json_t *context, json_t **values,
		       struct cx_err *err)
{
	static const char *const topics[] = { "alpha", "beta", "betamax", "gamma" };

	*values = json_array();
	if (!*values)
		return -1;
	if (strcmp(argument, "topic"))
		return 0;
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		if (!strncmp(topics[i], value, strlen(value)))
			json_array_append_new(*values, json_string(topics[i]));
	return 0;
}

static const struct cx_tool testkit_tools[] = {
	{ "testkit_echo", tk_echo, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_sleep", tk_sleep, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_fail", tk_fail, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "testkit_delete", tk_delete, CX_DESTRUCTIVE | CX_OPEN_WORLD },
	{ "testkit_big", tk_big, CX_READ_ONLY },
	{ "testkit_badoutput", tk_badoutput, CX_READ_ONLY },
	{ "testkit_progress", tk_progress, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_log", tk_log, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "testkit_ask", tk_ask, CX_READ_ONLY },
	{ "testkit_sample", tk_sample, CX_READ_ONLY },
	{ "testkit_touch", tk_touch, CX_IDEMPOTENT },
	{ "testkit_withdraw", tk_withdraw, CX_IDEMPOTENT },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_testkit_adapter = {
	.name = "testkit",
	.tools_json = tests_adapters_testkit_json,
	.tools = testkit_tools,
	.init = testkit_init,
	.cleanup = testkit_cleanup,
	.health = testkit_health,
	.resources_json = tests_adapters_testkit_resources_json,
	.read_resource = tk_read,
	.prompts_json = tests_adapters_testkit_prompts_json,
	.get_prompt = tk_prompt,
	.complete = tk_complete,
};
