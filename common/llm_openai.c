/* OpenAI-compatible Chat Completions (POST /v1/chat/completions with tools): the neutral
 * conversation mapped both ways. A user message's tool_result blocks become "tool" messages
 * (is_error, which the protocol lacks, as an "Error: " prefix), its text a user message after
 * them; an assistant message's tool_use blocks become tool_calls with their input as a JSON
 * string. A reply's tool_calls come back as tool_use blocks. */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "llm_impl.h"

static int add_tool_results(json_t *out, const json_t *content, struct cx_err *err)
{
	const json_t *b;
	size_t i;

	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const char *id = json_string_value(json_object_get(b, "tool_use_id"));
		char *text, *full;
		int rc;

		if (type == NULL || strcmp(type, "tool_result") != 0)
			continue;
		if (id == NULL)
			return cx_err_set(err, "a tool_result block has no 'tool_use_id'");
		text = cx_llm_join_text(json_object_get(b, "content"));
		if (text == NULL)
			return cx_err_set(err, "out of memory");
		full = text;
		if (json_is_true(json_object_get(b, "is_error")) &&
		    asprintf(&full, "Error: %s", text) < 0)
			full = NULL;
		rc = full ? json_array_append_new(out,
						  json_pack("{s:s,s:s,s:s}", "role", "tool",
							    "tool_call_id", id, "content", full))
			  : -1;
		if (full != text)
			free(full);
		free(text);
		if (rc != 0)
			return cx_err_set(err, "out of memory");
	}
	return 0;
}

static json_t *tool_calls_of(const json_t *content, struct cx_err *err)
{
	json_t *calls = json_array();
	const json_t *b;
	size_t i;

	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		char *args;

		if (type == NULL || strcmp(type, "tool_use") != 0)
			continue;
		args = json_dumps(json_object_get(b, "input"), JSON_COMPACT);
		if (args == NULL ||
		    json_array_append_new(calls,
					  json_pack("{s:O?,s:s,s:{s:O?,s:s}}", "id",
						    json_object_get(b, "id"), "type", "function",
						    "function", "name", json_object_get(b, "name"),
						    "arguments", args)) != 0) {
			free(args);
			json_decref(calls);
			cx_err_set(err, "out of memory");
			return NULL;
		}
		free(args);
	}
	return calls;
}

static int add_message(json_t *out, const json_t *m, struct cx_err *err)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	const json_t *content = json_object_get(m, "content");
	json_t *calls = NULL;
	char *text;
	int rc;

	if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
		return cx_err_set(err, "a message's role is neither \"user\" nor \"assistant\"");
	if (strcmp(role, "user") == 0 && add_tool_results(out, content, err) != 0)
		return -1;
	if (strcmp(role, "assistant") == 0 && (calls = tool_calls_of(content, err)) == NULL)
		return -1;
	text = cx_llm_join_text(content);
	if (text == NULL) {
		json_decref(calls);
		return cx_err_set(err, "out of memory");
	}
	if (json_array_size(calls) > 0)
		rc = json_array_append_new(out,
					   json_pack("{s:s,s:s?,s:o}", "role", role, "content",
						     *text ? text : NULL, "tool_calls", calls));
	else if (*text || json_is_string(content) || strcmp(role, "assistant") == 0)
		rc = json_array_append_new(out,
					   json_pack("{s:s,s:s}", "role", role, "content", text));
	else
		rc = 0; /* a user message of tool results only */
	if (json_array_size(calls) == 0)
		json_decref(calls);
	free(text);
	return rc == 0 ? 0 : cx_err_set(err, "out of memory");
}

static json_t *tools_of(const json_t *tools)
{
	json_t *out = json_array();
	const json_t *t;
	size_t i;

	json_array_foreach(tools, i, t)
		if (json_array_append_new(out,
					  json_pack("{s:s,s:{s:O?,s:O?,s:O?}}", "type", "function",
						    "function", "name", json_object_get(t, "name"),
						    "description",
						    json_object_get(t, "description"), "parameters",
						    json_object_get(t, "input_schema"))) != 0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

static json_t *openai_body(const char *model, const struct cx_llm_request *req, struct cx_err *err)
{
	json_t *msgs = json_array(), *body = NULL, *tools = NULL;
	const json_t *m;
	size_t i;

	if (msgs == NULL || (req->system != NULL &&
			     json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system",
								   "content", req->system)) != 0))
		goto oom;
	json_array_foreach(req->messages, i, m)
		if (add_message(msgs, m, err) != 0)
			goto fail;
	if (json_array_size(req->tools) > 0 && (tools = tools_of(req->tools)) == NULL)
		goto oom;
	body = json_pack("{s:s,s:I,s:o,s:o*}", "model", model, "max_tokens",
			 (json_int_t)req->max_tokens, "messages", msgs, "tools", tools);
	if (body == NULL)
		cx_err_set(err, "out of memory");
	return body;
oom:
	cx_err_set(err, "out of memory");
fail:
	json_decref(msgs);
	json_decref(tools);
	return NULL;
}

/* One tool call as a tool_use block appended to content. */
static int add_tool_use(json_t *content, const json_t *call, size_t i, struct cx_err *err)
{
	const json_t *fn = json_object_get(call, "function");
	const char *id = json_string_value(json_object_get(call, "id"));
	const char *name = json_string_value(json_object_get(fn, "name"));
	const char *args = json_string_value(json_object_get(fn, "arguments"));
	json_t *input;

	if (id == NULL || name == NULL || args == NULL)
		return cx_err_set(err,
				  "tool call %zu lacks an 'id', a function 'name' or its "
				  "'arguments'",
				  i);
	input = *args ? cx_json_parse(args, strlen(args), NULL) : json_object();
	if (!json_is_object(input)) {
		json_decref(input);
		return cx_err_set(err,
				  "the arguments of tool call %zu ('%.64s') are not a JSON "
				  "object",
				  i, name);
	}
	if (json_array_append_new(content, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id",
						     id, "name", name, "input", input)) != 0)
		return cx_err_set(err, "out of memory");
	return 0;
}

static enum cx_llm_stop stop_of(const char *finish, bool calls, bool refused)
{
	if (refused || strcmp(finish, "content_filter") == 0)
		return CX_LLM_STOP_REFUSAL;
	if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0 || calls)
		return CX_LLM_STOP_TOOL_USE; /* some servers say "stop" with tool_calls */
	if (strcmp(finish, "stop") == 0)
		return CX_LLM_STOP_END_TURN;
	if (strcmp(finish, "length") == 0)
		return CX_LLM_STOP_MAX_TOKENS;
	return CX_LLM_STOP_OTHER;
}

static long count_of(const json_t *usage, const char *key)
{
	const json_t *v = json_object_get(usage, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

static int openai_parse(const json_t *body, struct cx_llm_reply *reply, struct cx_err *err)
{
	const json_t *choice = json_array_get(json_object_get(body, "choices"), 0);
	const json_t *msg = json_object_get(choice, "message"), *calls, *call, *text;
	const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
	const char *refusal;
	json_t *content;
	size_t i;

	if (!json_is_object(msg))
		return cx_err_set(err, "it has no 'choices[0].message'");
	if (finish == NULL)
		return cx_err_set(err, "it has no 'choices[0].finish_reason'");
	text = json_object_get(msg, "content");
	calls = json_object_get(msg, "tool_calls");
	refusal = json_string_value(json_object_get(msg, "refusal"));
	if ((text != NULL && !json_is_string(text) && !json_is_null(text)) ||
	    (calls != NULL && !json_is_array(calls) && !json_is_null(calls)))
		return cx_err_set(err, "its message's 'content' is not a string or its "
				       "'tool_calls' not an array");
	content = json_array();
	reply->message = json_pack("{s:s,s:o}", "role", "assistant", "content", content);
	if (reply->message == NULL)
		return cx_err_set(err, "out of memory");
	if ((refusal != NULL || (json_string_length(text) > 0)) &&
	    json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text",
						     refusal ? refusal : json_string_value(text))))
		return cx_err_set(err, "out of memory");
	json_array_foreach(calls, i, call)
		if (add_tool_use(content, call, i, err) != 0)
			return -1;
	reply->stop = stop_of(finish, json_array_size(calls) > 0, refusal != NULL);
	snprintf(reply->stop_raw, sizeof(reply->stop_raw), "%s", finish);
	reply->input_tokens = count_of(json_object_get(body, "usage"), "prompt_tokens");
	reply->output_tokens = count_of(json_object_get(body, "usage"), "completion_tokens");
	return 0;
}

/* {"error": {"message", "type", "param", "code"}}; Ollama and some others: {"error": "..."}. */
static const char *openai_error(const json_t *body, bool *spend_limit)
{
	const json_t *e = json_object_get(body, "error");
	const char *msg = json_is_string(e) ? json_string_value(e)
					    : json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *type = json_string_value(json_object_get(e, "type"));

	*spend_limit = cx_llm_says_spend_limit(code, NULL) || cx_llm_says_spend_limit(type, NULL) ||
		       cx_llm_says_spend_limit(NULL, msg);
	return msg;
}

const struct cx_llm_provider cx_llm_openai = {
	.service = "openai-compatible server",
	.path = "/v1/chat/completions",
	.body = openai_body,
	.parse = openai_parse,
	.error_message = openai_error,
};
