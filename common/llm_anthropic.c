/* The Anthropic Messages API (POST /v1/messages, anthropic-version 2023-06-01): the neutral
 * conversation is its own form, so the request is the conversation as it is, and the reply's
 * content array is kept whole. */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_impl.h"

static json_t *anthropic_body(const char *model, const struct cx_llm_request *req,
			      struct cx_err *err)
{
	json_t *body = json_pack("{s:s,s:I,s:O}", "model", model, "max_tokens",
				 (json_int_t)req->max_tokens, "messages", req->messages);

	if (body == NULL) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	if ((req->system != NULL &&
	     json_object_set_new(body, "system", json_string(req->system)) != 0) ||
	    (json_array_size(req->tools) > 0 &&
	     json_object_set(body, "tools", (json_t *)req->tools) != 0)) {
		json_decref(body);
		cx_err_set(err, "out of memory");
		return NULL;
	}
	return body;
}

static const struct {
	const char *name;
	enum cx_llm_stop stop;
} stops[] = {
	{ "end_turn", CX_LLM_STOP_END_TURN },     { "tool_use", CX_LLM_STOP_TOOL_USE },
	{ "max_tokens", CX_LLM_STOP_MAX_TOKENS }, { "pause_turn", CX_LLM_STOP_PAUSE_TURN },
	{ "refusal", CX_LLM_STOP_REFUSAL },       { "stop_sequence", CX_LLM_STOP_STOP_SEQUENCE },
};

/* Each block an object with a type; text and tool_use blocks complete. */
static int check_content(const json_t *content, struct cx_err *err)
{
	const json_t *b;
	size_t i;

	if (!json_is_array(content))
		return cx_err_set(err, "its 'content' is not an array");
	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));

		if (type == NULL)
			return cx_err_set(err, "content block %zu has no 'type'", i);
		if (strcmp(type, "text") == 0 && !json_is_string(json_object_get(b, "text")))
			return cx_err_set(err, "text block %zu has no 'text'", i);
		if (strcmp(type, "tool_use") == 0 && (!json_is_string(json_object_get(b, "id")) ||
						      !json_is_string(json_object_get(b, "name")) ||
						      !json_is_object(json_object_get(b, "input"))))
			return cx_err_set(err,
					  "tool_use block %zu lacks an 'id', a 'name' or an "
					  "object 'input'",
					  i);
	}
	return 0;
}

static long usage_of(const json_t *usage, const char *key)
{
	const json_t *v = json_object_get(usage, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

static int anthropic_parse(const json_t *body, struct cx_llm_reply *reply, struct cx_err *err)
{
	const json_t *content = json_object_get(body, "content");
	const json_t *usage = json_object_get(body, "usage");
	const char *type = json_string_value(json_object_get(body, "type"));
	const char *stop = json_string_value(json_object_get(body, "stop_reason"));
	size_t i;

	if (type == NULL || strcmp(type, "message") != 0)
		return cx_err_set(err, "it is not a message (its 'type' is not \"message\")");
	if (check_content(content, err) != 0)
		return -1;
	if (stop == NULL)
		return cx_err_set(err, "it has no 'stop_reason'");
	reply->stop = CX_LLM_STOP_OTHER;
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (strcmp(stop, stops[i].name) == 0)
			reply->stop = stops[i].stop;
	snprintf(reply->stop_raw, sizeof(reply->stop_raw), "%s", stop);
	reply->input_tokens = usage_of(usage, "input_tokens");
	reply->output_tokens = usage_of(usage, "output_tokens");
	reply->message = json_pack("{s:s,s:O}", "role", "assistant", "content", content);
	if (reply->message == NULL)
		return cx_err_set(err, "out of memory");
	if (json_is_string(json_object_get(body, "stop_sequence")) &&
	    (reply->stop_seq = strdup(json_string_value(json_object_get(body, "stop_sequence")))) ==
		    NULL)
		return cx_err_set(err, "out of memory");
	return 0;
}

/* {"type": "error", "error": {"type": "rate_limit_error", "message": "...", "details":
 * {"error_code": "enforced_spend_limit_reached"}}, "request_id": "..."} */
static const char *anthropic_error(const json_t *body, bool *spend_limit)
{
	const json_t *e = json_object_get(body, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code =
		json_string_value(json_object_get(json_object_get(e, "details"), "error_code"));

	*spend_limit = cx_llm_says_spend_limit(code, msg);
	return msg;
}

const struct cx_llm_provider cx_llm_anthropic = {
	.service = "anthropic",
	.path = "/v1/messages",
	.body = anthropic_body,
	.parse = anthropic_parse,
	.error_message = anthropic_error,
};
