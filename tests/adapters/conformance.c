/* The fixtures the official MCP conformance suites call (@modelcontextprotocol/conformance):
 * tools, resources and prompts with the names and contents the suites check, built on the
 * same adapter interface as every backend. Compiled only into build/cortex-gateway-test and
 * enabled by {"adapters": {"conformance": {}}}; never part of a shipped gateway. */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/json.h"

extern const char tests_adapters_conformance_json[];
extern const char tests_adapters_conformance_resources_json[];
extern const char tests_adapters_conformance_prompts_json[];

/* A 1x1 PNG and a silent WAV header: small, valid, and what the suites expect by type. */
static const char png_b64[] =
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
	"rkJggg==";
static const char wav_b64[] = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static json_t *image_block(void)
{
	return json_pack("{s:s, s:s, s:s}", "type", "image", "data", png_b64, "mimeType",
			 "image/png");
}

static int fx_simple_text(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_text(res, "This is a simple text response for testing.");
}

static int fx_image(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_content(res, image_block());
}

static int fx_audio(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_content(res, json_pack("{s:s, s:s, s:s}", "type", "audio", "data", wav_b64,
						"mimeType", "audio/wav"));
}

static int fx_embedded(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_content(res, json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource",
						"resource", "uri", "test://embedded-resource",
						"mimeType", "text/plain", "text",
						"This is an embedded resource content."));
}

static int fx_mixed(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	if (cx_result_text(res, "Multiple content types test:") ||
	    cx_result_content(res, image_block()))
		return -1;
	return cx_result_content(res, json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource",
						"resource", "uri", "test://mixed-content-resource",
						"mimeType", "application/json", "text",
						"{\"test\":\"data\",\"value\":123}"));
}

static int fx_logging(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	static const char *const steps[] = { "Tool execution started", "Tool processing data",
					     "Tool execution completed" };

	for (size_t i = 0; i < 3; i++) {
		if (i)
			pause_ms(50);
		if (cx_call_log(call, "info", "conformance", json_string(steps[i])))
			return -1;
	}
	return cx_result_text(res, "Tool with logging executed successfully");
}

static int fx_error(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_errorf(res, "This tool intentionally returns an error for testing");
}

static int fx_progress(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	for (int i = 0; i <= 2; i++) {
		if (i)
			pause_ms(50);
		if (cx_call_progress(call, 50.0 * i, 100, NULL))
			return -1;
	}
	return cx_result_text(res, "Progress test completed");
}

static int fx_sampling(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *prompt = json_string_value(json_object_get(args, "prompt"));
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *text;
	char out[1024];
	int rc;

	if (!prompt)
		return cx_result_errorf(res, "'prompt' (a string) is required");
	if (cx_call_request(call, "sampling/createMessage",
			    json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user",
				      "content", "type", "text", "text", prompt, "maxTokens", 100),
			    &answer, &err))
		return cx_result_errorf(res, "sampling failed: %s", err.msg);
	text = json_string_value(json_object_get(json_object_get(answer, "content"), "text"));
	snprintf(out, sizeof(out), "LLM response: %.900s", text ? text : "");
	rc = cx_result_text(res, out);
	json_decref(answer);
	return rc;
}

/* Sends elicitation/create with schema and returns "<prefix><answer as JSON>". */
static int elicit(struct cx_call *call, const char *message, json_t *schema, const char *prefix,
		  struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	char *text;
	char out[2048];
	int rc;

	if (cx_call_request(call, "elicitation/create",
			    json_pack("{s:s, s:o}", "message", message, "requestedSchema", schema),
			    &answer, &err))
		return cx_result_errorf(res, "elicitation failed: %s", err.msg);
	text = cx_json_dumps(answer, NULL);
	snprintf(out, sizeof(out), "%s%.1900s", prefix, text ? text : "");
	free(text);
	rc = cx_result_text(res, out);
	json_decref(answer);
	return rc;
}

static int fx_elicitation(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *message = json_string_value(json_object_get(args, "message"));

	if (!message)
		return cx_result_errorf(res, "'message' (a string) is required");
	return elicit(call, message,
		      json_pack("{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}}, s:[s, s]}", "type", "object",
				"properties", "username", "type", "string", "description",
				"User's response", "email", "type", "string", "description",
				"User's email address", "required", "username", "email"),
		      "User response: ", res);
}

static int fx_sep1034(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	json_t *schema = json_pack(
		"{s:s, s:{s:{s:s, s:s}, s:{s:s, s:i}, s:{s:s, s:f}, s:{s:s, s:[s, s, s], s:s},"
		" s:{s:s, s:b}}}",
		"type", "object", "properties", "name", "type", "string", "default", "John Doe",
		"age", "type", "integer", "default", 30, "score", "type", "number", "default", 95.5,
		"status", "type", "string", "enum", "active", "inactive", "pending", "default",
		"active", "verified", "type", "boolean", "default", 1);

	return elicit(call, "Please review and update the form fields with defaults", schema,
		      "Elicitation completed: ", res);
}

static int fx_sep1330(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	json_error_t jerr;
	json_t *schema = json_loads(
		"{\"type\":\"object\",\"properties\":{"
		"\"untitledSingle\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\","
		"\"option3\"]},"
		"\"titledSingle\":{\"type\":\"string\",\"oneOf\":["
		"{\"const\":\"value1\",\"title\":\"First Option\"},"
		"{\"const\":\"value2\",\"title\":\"Second Option\"},"
		"{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
		"\"legacyEnum\":{\"type\":\"string\",\"enum\":[\"opt1\",\"opt2\",\"opt3\"],"
		"\"enumNames\":[\"Option One\",\"Option Two\",\"Option Three\"]},"
		"\"untitledMulti\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
		"\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
		"\"titledMulti\":{\"type\":\"array\",\"items\":{\"anyOf\":["
		"{\"const\":\"value1\",\"title\":\"First Choice\"},"
		"{\"const\":\"value2\",\"title\":\"Second Choice\"},"
		"{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}}}",
		0, &jerr);

	if (!schema)
		return -1;
	return elicit(call, "Please choose from the options", schema,
		      "Elicitation completed: ", res);
}

static int fx_reconnection(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	/* A message on the stream makes the answer an SSE stream (with its priming event),
	 * which a client can resume with Last-Event-ID if the connection drops. */
	if (cx_call_log(call, "info", "conformance", json_string("reconnection test started")))
		return -1;
	pause_ms(100);
	return cx_result_text(res, "Reconnection test completed");
}

static int fx_json_schema(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return cx_result_text(res, "JSON Schema 2020-12 tool called");
}

/* ---- the stateless revision's fixtures ---- */

static int fx_missing_capability(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;

	if (cx_call_request(call, "sampling/createMessage",
			    json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user",
				      "content", "type", "text", "text", "hello", "maxTokens", 10),
			    &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	json_decref(answer);
	return cx_result_text(res, "sampling answered");
}

static json_t *text_schema(const char *prop, const char *type)
{
	return json_pack("{s:s, s:{s:{s:s}}, s:[s]}", "type", "object", "properties", prop, "type",
			 type, "required", prop);
}

/* elicitation/create under key; *content is the answer's content (borrowed via *answer). */
static int ask_user(struct cx_call *call, const char *key, const char *message, json_t *schema,
		    json_t **answer, struct cx_err *err)
{
	return cx_call_ask(call, key, "elicitation/create",
			   json_pack("{s:s, s:o}", "message", message, "requestedSchema", schema),
			   answer, err);
}

static int fx_streaming_elicitation(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	int rc;

	if (ask_user(call, "confirm", "Continue?", text_schema("ok", "boolean"), &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	rc = cx_result_text(res, "confirmed");
	json_decref(answer);
	return rc;
}

static int fx_logging_tool(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	if (cx_call_log(call, "info", "conformance", json_string("logging tool ran")))
		return -1;
	return cx_result_text(res, "logging tool done");
}

static int fx_ir_elicitation(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *name;
	char out[300];
	int rc;

	if (ask_user(call, "user_name", "What is your name?", text_schema("name", "string"),
		     &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	name = json_string_value(json_object_get(json_object_get(answer, "content"), "name"));
	snprintf(out, sizeof(out), "Hello, %.200s!", name ? name : "stranger");
	rc = cx_result_text(res, out);
	json_decref(answer);
	return rc;
}

static int fx_ir_sampling(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *text;
	char out[600];
	int rc;

	if (cx_call_ask(call, "capital_question", "sampling/createMessage",
			json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user",
				  "content", "type", "text", "text",
				  "What is the capital of France?", "maxTokens", 100),
			&answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	text = json_string_value(json_object_get(json_object_get(answer, "content"), "text"));
	snprintf(out, sizeof(out), "The model said: %.500s", text ? text : "");
	rc = cx_result_text(res, out);
	json_decref(answer);
	return rc;
}

static int fx_ir_roots(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	char out[64];
	int rc;

	if (cx_call_ask(call, "client_roots", "roots/list", json_object(), &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	snprintf(out, sizeof(out), "The client has %zu root(s)",
		 json_array_size(json_object_get(answer, "roots")));
	rc = cx_result_text(res, out);
	json_decref(answer);
	return rc;
}

static int fx_ir_request_state(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	int rc;

	if (ask_user(call, "confirm", "Confirm to continue", text_schema("ok", "boolean"), &answer,
		     &err))
		return cx_result_errorf(res, "%s", err.msg);
	rc = cx_result_text(res,
			    json_is_true(json_object_get(json_object_get(answer, "content"), "ok"))
				    ? "state-ok: confirmed"
				    : "state-ok: declined");
	json_decref(answer);
	return rc;
}

static int fx_ir_multiple(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *a = NULL, *b = NULL, *c = NULL;
	int missing = 0, rc;

	/* Everything is asked before returning, so one round carries all three requests. */
	missing += ask_user(call, "user_name", "What is your name?", text_schema("name", "string"),
			    &a, &err) != 0;
	missing += cx_call_ask(call, "capital_question", "sampling/createMessage",
			       json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role",
					 "user", "content", "type", "text", "text",
					 "What is the capital of France?", "maxTokens", 100),
			       &b, &err) != 0;
	missing += cx_call_ask(call, "client_roots", "roots/list", json_object(), &c, &err) != 0;
	rc = missing ? cx_result_errorf(res, "%d input(s) still needed", missing)
		     : cx_result_text(res, "all three inputs received");
	json_decref(a);
	json_decref(b);
	json_decref(c);
	return rc;
}

static int fx_ir_multi_round(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *a = NULL, *b = NULL;
	char out[300];
	int rc;

	if (ask_user(call, "user_name", "What is your name?", text_schema("name", "string"), &a,
		     &err))
		return cx_result_errorf(res, "%s", err.msg);
	if (ask_user(call, "favorite_color", "What is your favourite colour?",
		     text_schema("color", "string"), &b, &err)) {
		json_decref(a);
		return cx_result_errorf(res, "%s", err.msg);
	}
	snprintf(out, sizeof(out), "%.100s likes %.100s",
		 json_string_value(json_object_get(json_object_get(a, "content"), "name")),
		 json_string_value(json_object_get(json_object_get(b, "content"), "color")));
	rc = cx_result_text(res, out);
	json_decref(a);
	json_decref(b);
	return rc;
}

static int fx_ir_capabilities(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	int rc;

	/* Asks only what this client said it can answer. */
	if (cx_call_client_can(call, "elicitation"))
		rc = ask_user(call, "user_name", "What is your name?",
			      text_schema("name", "string"), &answer, &err);
	else if (cx_call_client_can(call, "sampling"))
		rc = cx_call_ask(call, "capital_question", "sampling/createMessage",
				 json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role",
					   "user", "content", "type", "text", "text",
					   "What is the capital of France?", "maxTokens", 100),
				 &answer, &err);
	else
		rc = cx_call_ask(call, "client_roots", "roots/list", json_object(), &answer, &err);
	if (rc)
		return cx_result_errorf(res, "%s", err.msg);
	json_decref(answer);
	return cx_result_text(res, "answered within the client's capabilities");
}

static int fx_custom_header(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	char out[600];

	snprintf(out, sizeof(out), "value: %.500s",
		 json_string_value(json_object_get(args, "value")));
	return cx_result_text(res, out);
}

/* ---- the tasks extension (SEP-2663) ---- */

/* Sleeps ms in short slices; false when the call was cancelled meanwhile. */
static bool nap(struct cx_call *call, long ms)
{
	for (long slept = 0; slept < ms; slept += 50) {
		if (cx_call_cancelled(call))
			return false;
		pause_ms(ms - slept < 50 ? ms - slept : 50);
	}
	return !cx_call_cancelled(call);
}

static int fx_greet(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	char out[300];

	snprintf(out, sizeof(out), "Hello, %.256s!",
		 json_string_value(json_object_get(args, "name")));
	return cx_result_text(res, out);
}

static int fx_slow_compute(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	double seconds = json_number_value(json_object_get(args, "seconds"));
	const char *label = json_string_value(json_object_get(args, "label"));
	char out[300];

	if (!nap(call, (long)(seconds * 1000)))
		return cx_result_errorf(res, "slow_compute '%.100s' was cancelled",
					label ? label : "");
	snprintf(out, sizeof(out), "slow_compute '%.100s' finished after %g s", label ? label : "",
		 seconds);
	return cx_result_text(res, out);
}

static int fx_failing_job(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	nap(call, 1000);
	return cx_result_errorf(res, "failing_job failed on purpose (a tool execution error)");
}

static int fx_protocol_error_job(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	/* What an internal fault looks like: the gateway answers -32603. */
	nap(call, 200);
	return -1;
}

static int fx_confirm_delete(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *file = json_string_value(json_object_get(args, "filename"));
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *action;
	char q[300], out[300];
	bool yes;

	snprintf(q, sizeof(q), "Delete '%.200s'?", file ? file : "");
	if (ask_user(call, "confirm", q, text_schema("confirm", "boolean"), &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	action = json_string_value(json_object_get(answer, "action"));
	yes = action && !strcmp(action, "accept") &&
	      json_is_true(json_object_get(json_object_get(answer, "content"), "confirm"));
	json_decref(answer);
	snprintf(out, sizeof(out), "%s '%.200s'", yes ? "deleted" : "kept", file ? file : "");
	return cx_result_text(res, out);
}

static int fx_multi_input(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *a = NULL, *b = NULL;
	int missing = 0, rc;

	/* Both asked before returning: two questions pending at once. */
	missing += ask_user(call, "first", "First answer?", text_schema("name", "string"), &a,
			    &err) != 0;
	missing += ask_user(call, "second", "Second answer?", text_schema("name", "string"), &b,
			    &err) != 0;
	rc = missing ? cx_result_errorf(res, "%d answer(s) still needed", missing)
		     : cx_result_text(res, "both answers received");
	json_decref(a);
	json_decref(b);
	return rc;
}

static int fx_tool_with_task(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL;
	const char *name;
	char out[300];

	/* Ask first, as an ordinary call; then the slow part runs as a task. */
	if (ask_user(call, "user_name", "What is your name?", text_schema("name", "string"),
		     &answer, &err))
		return cx_result_errorf(res, "%s", err.msg);
	cx_call_become_task(call);
	name = json_string_value(json_object_get(json_object_get(answer, "content"), "name"));
	snprintf(out, sizeof(out), "Hello, %.200s! Your task is done.", name ? name : "");
	json_decref(answer);
	if (!nap(call, 500))
		return cx_result_errorf(res, "cancelled");
	return cx_result_text(res, out);
}

static int fx_read(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err)
{
	const char *tmpl = "test://template/";

	if (!strcmp(uri, "test://static-text"))
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "text/plain", "text",
				    "This is the content of the static text resource.");
	else if (!strcmp(uri, "test://static-binary"))
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "image/png", "blob", png_b64);
	else if (!strcmp(uri, "test://watched-resource"))
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "text/plain", "text", "Watched resource content");
	else if (!strncmp(uri, tmpl, strlen(tmpl))) {
		char id[128], text[512];
		const char *start = uri + strlen(tmpl), *end = strchr(start, '/');
		size_t n = end ? (size_t)(end - start) : strlen(start);

		if (n >= sizeof(id))
			n = sizeof(id) - 1;
		memcpy(id, start, n);
		id[n] = '\0';
		snprintf(text, sizeof(text),
			 "{\"id\":\"%s\",\"templateTest\":true,\"data\":\"Data for ID: %s\"}", id,
			 id);
		*result = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				    "application/json", "text", text);
	} else {
		cx_err_set(err, "resource not found: '%s'", uri);
		return CX_NOT_FOUND;
	}
	return *result ? 0 : -1;
}

static int fx_prompt(struct cx_call *call, const char *name, const json_t *args, json_t **result,
		     struct cx_err *err)
{
	if (!strcmp(name, "test_simple_prompt")) {
		*result = json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role", "user",
				    "content", "type", "text", "text",
				    "This is a simple prompt for testing.");
	} else if (!strcmp(name, "test_prompt_with_arguments")) {
		char text[512];
		snprintf(text, sizeof(text), "Prompt with arguments: arg1='%.200s', arg2='%.200s'",
			 json_string_value(json_object_get(args, "arg1")),
			 json_string_value(json_object_get(args, "arg2")));
		*result = json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role", "user",
				    "content", "type", "text", "text", text);
	} else if (!strcmp(name, "test_prompt_with_embedded_resource")) {
		*result = json_pack("{s:[{s:s, s:{s:s, s:{s:s, s:s, s:s}}}, {s:s, s:{s:s, s:s}}]}",
				    "messages", "role", "user", "content", "type", "resource",
				    "resource", "uri",
				    json_string_value(json_object_get(args, "resourceUri")),
				    "mimeType", "text/plain", "text",
				    "Embedded resource content for testing.", "role", "user",
				    "content", "type", "text", "text",
				    "Please process the embedded resource above.");
	} else if (!strcmp(name, "test_prompt_with_image")) {
		*result = json_pack("{s:[{s:s, s:{s:s, s:s, s:s}}, {s:s, s:{s:s, s:s}}]}",
				    "messages", "role", "user", "content", "type", "image", "data",
				    png_b64, "mimeType", "image/png", "role", "user", "content",
				    "type", "text", "text", "Please analyze the image above.");
	} else if (!strcmp(name, "test_input_required_result_prompt")) {
		json_t *answer = NULL;
		const char *ctx;
		char text[400];

		if (ask_user(call, "user_context", "What context should the prompt use?",
			     text_schema("context", "string"), &answer, err))
			return -1;
		ctx = json_string_value(
			json_object_get(json_object_get(answer, "content"), "context"));
		snprintf(text, sizeof(text), "Use this context: %.300s", ctx ? ctx : "");
		json_decref(answer);
		*result = json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role", "user",
				    "content", "type", "text", "text", text);
	} else {
		cx_err_set(err, "unknown prompt '%s'", name);
		return CX_NOT_FOUND;
	}
	return *result ? 0 : -1;
}

static int fx_complete(struct cx_call *call, const json_t *ref, const char *argument,
		       const char *value, const json_t *context, json_t **values,
		       struct cx_err *err)
{
	static const char *const words[] = { "test", "testValue1", "testValue2", "example" };

	*values = json_array();
	if (!*values)
		return -1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strncmp(words[i], value, strlen(value)))
			json_array_append_new(*values, json_string(words[i]));
	return 0;
}

static int fx_init(const json_t *conf, void **state, struct cx_err *err)
{
	if (json_object_size(conf))
		return cx_err_set(err, "takes no settings");
	*state = NULL;
	return 0;
}

static const struct cx_tool fixture_tools[] = {
	{ "test_simple_text", fx_simple_text, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "test_image_content", fx_image, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "test_audio_content", fx_audio, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "test_embedded_resource", fx_embedded, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "test_multiple_content_types", fx_mixed, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "test_tool_with_logging", fx_logging, CX_READ_ONLY },
	{ "test_error_handling", fx_error, CX_READ_ONLY },
	{ "test_tool_with_progress", fx_progress, CX_READ_ONLY },
	{ "test_sampling", fx_sampling, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_elicitation", fx_elicitation, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_elicitation_sep1034_defaults", fx_sep1034, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_elicitation_sep1330_enums", fx_sep1330, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_reconnection", fx_reconnection, CX_READ_ONLY },
	{ "json_schema_2020_12_tool", fx_json_schema, CX_READ_ONLY | CX_OPAQUE_SCHEMA },
	{ "test_missing_capability", fx_missing_capability, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_streaming_elicitation", fx_streaming_elicitation, CX_READ_ONLY | CX_OPEN_WORLD },
	{ "test_logging_tool", fx_logging_tool, CX_READ_ONLY },
	{ "test_input_required_result_elicitation", fx_ir_elicitation, CX_READ_ONLY },
	{ "test_input_required_result_sampling", fx_ir_sampling, CX_READ_ONLY },
	{ "test_input_required_result_list_roots", fx_ir_roots, CX_READ_ONLY },
	{ "test_input_required_result_request_state", fx_ir_request_state, CX_READ_ONLY },
	{ "test_input_required_result_multiple_inputs", fx_ir_multiple, CX_READ_ONLY },
	{ "test_input_required_result_multi_round", fx_ir_multi_round, CX_READ_ONLY },
	{ "test_input_required_result_tampered_state", fx_ir_request_state, CX_READ_ONLY },
	{ "test_input_required_result_capabilities", fx_ir_capabilities, CX_READ_ONLY },
	{ "test_custom_header", fx_custom_header, CX_READ_ONLY },
	{ "greet", fx_greet, CX_READ_ONLY | CX_IDEMPOTENT },
	{ "slow_compute", fx_slow_compute, CX_READ_ONLY | CX_IDEMPOTENT | CX_TASK_OPTIONAL },
	{ "failing_job", fx_failing_job, CX_READ_ONLY | CX_TASK_REQUIRED },
	{ "protocol_error_job", fx_protocol_error_job, CX_READ_ONLY | CX_TASK_OPTIONAL },
	{ "confirm_delete", fx_confirm_delete, CX_READ_ONLY | CX_TASK_OPTIONAL },
	{ "multi_input", fx_multi_input, CX_READ_ONLY | CX_TASK_OPTIONAL },
	{ "test_tool_with_task", fx_tool_with_task,
	  CX_READ_ONLY | CX_TASK_REQUIRED | CX_TASK_LATE },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_conformance_adapter = {
	.name = "conformance",
	.tools_json = tests_adapters_conformance_json,
	.tools = fixture_tools,
	.free_tool_names = true,
	.init = fx_init,
	.resources_json = tests_adapters_conformance_resources_json,
	.read_resource = fx_read,
	.prompts_json = tests_adapters_conformance_prompts_json,
	.get_prompt = fx_prompt,
	.complete = fx_complete,
};
