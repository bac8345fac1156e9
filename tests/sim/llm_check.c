/* Requests to the scripted LLM checked as the real APIs check them, with their messages: the
 * Messages API (model, max_tokens, messages, content blocks, tools, and every tool_result
 * answering a tool_use of the message just before, every tool_use answered in the next) and
 * Chat Completions (model, messages, roles, tool messages answering the tool_calls of the
 * assistant message before them, every tool call answered). */
#include "llm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *fail(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return msg;
}

static bool tool_name_ok(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return false;
	return n >= 1 && n <= 128;
}

static const char *check_tools(const json_t *tools, bool openai, char *msg, size_t msglen)
{
	const json_t *t;
	size_t i;

	if (tools == NULL)
		return NULL;
	if (!json_is_array(tools))
		return fail(msg, msglen, "tools: Input should be a valid list");
	json_array_foreach(tools, i, t) {
		const json_t *fn = openai ? json_object_get(t, "function") : t;
		const json_t *schema = json_object_get(fn, openai ? "parameters" : "input_schema");

		if (openai && !json_is_object(fn))
			return fail(msg, msglen,
				    "Missing required parameter: 'tools[%zu].function'.", i);
		if (!tool_name_ok(json_string_value(json_object_get(fn, "name"))))
			return fail(msg, msglen,
				    "tools.%zu.name: String should match pattern "
				    "'^[a-zA-Z0-9_-]{1,128}$'",
				    i);
		if (!openai && !json_is_object(schema))
			return fail(msg, msglen, "tools.%zu.input_schema: Field required", i);
		if (schema && !json_is_object(schema))
			return fail(msg, msglen, "Invalid 'tools[%zu].function.parameters'.", i);
	}
	return NULL;
}

/* The ids of the tool_use blocks of an assistant message's content. */
static json_t *tool_use_ids(const json_t *content)
{
	json_t *ids = json_object();
	const json_t *b;
	size_t i;

	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const char *id = json_string_value(json_object_get(b, "id"));

		if (type && strcmp(type, "tool_use") == 0 && id)
			json_object_set_new(ids, id, json_false());
	}
	return ids;
}

/* One message's content blocks; ids: the tool_use ids of the message before (a user message's
 * tool_results mark theirs true). */
static const char *check_blocks(const json_t *content, size_t m, const char *role, json_t *ids,
				char *msg, size_t msglen)
{
	const json_t *b;
	size_t i;

	if (json_is_string(content))
		return NULL;
	if (!json_is_array(content))
		return fail(msg, msglen, "messages.%zu.content: Input should be a valid list", m);
	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const char *id = json_string_value(json_object_get(b, "tool_use_id"));

		if (type == NULL)
			return fail(msg, msglen, "messages.%zu.content.%zu.type: Field required", m,
				    i);
		if (strcmp(type, "text") == 0 && !json_is_string(json_object_get(b, "text")))
			return fail(msg, msglen, "messages.%zu.content.%zu.text: Field required", m,
				    i);
		if (strcmp(type, "tool_use") == 0 && strcmp(role, "assistant") != 0)
			return fail(msg, msglen,
				    "messages.%zu.content.%zu: tool_use blocks are only allowed in "
				    "assistant messages",
				    m, i);
		if (strcmp(type, "tool_use") == 0 && (!json_is_string(json_object_get(b, "id")) ||
						      !json_is_string(json_object_get(b, "name")) ||
						      !json_is_object(json_object_get(b, "input"))))
			return fail(msg, msglen,
				    "messages.%zu.content.%zu: tool_use needs id, name and input",
				    m, i);
		if (strcmp(type, "tool_result") != 0)
			continue;
		if (strcmp(role, "user") != 0)
			return fail(msg, msglen,
				    "messages.%zu.content.%zu: tool_result blocks are only allowed "
				    "in user messages",
				    m, i);
		if (id == NULL || json_object_get(ids, id) == NULL)
			return fail(
				msg, msglen,
				"messages.%zu.content.%zu: unexpected `tool_use_id` found in "
				"`tool_result` blocks: %.80s. Each `tool_result` block must have "
				"a corresponding `tool_use` block in the previous message.",
				m, i, id ? id : "(none)");
		if (json_object_get(b, "is_error") &&
		    !json_is_boolean(json_object_get(b, "is_error")))
			return fail(msg, msglen,
				    "messages.%zu.content.%zu.is_error: Input should be a valid "
				    "boolean",
				    m, i);
		json_object_set_new(ids, id, json_true());
	}
	return NULL;
}

/* Every id of ids (the tool_use blocks of message m - 1) answered in message m. */
static const char *check_answered(json_t *ids, size_t m, char *msg, size_t msglen)
{
	const char *id;
	json_t *v;

	json_object_foreach(ids, id, v)
		if (!json_is_true(v))
			return fail(
				msg, msglen,
				"messages.%zu: `tool_use` ids were found without `tool_result` "
				"blocks immediately after: %.80s. Each `tool_use` block must have "
				"a corresponding `tool_result` block in the next message.",
				m - 1, id);
	return NULL;
}

static const char *check_messages(const json_t *messages, char *msg, size_t msglen)
{
	json_t *ids = json_object();
	const char *bad = NULL;
	const json_t *m;
	size_t i;

	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const json_t *content = json_object_get(m, "content");

		if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
			bad = fail(msg, msglen,
				   "messages.%zu.role: Input should be 'user' or 'assistant'", i);
		else if (i == 0 && strcmp(role, "user") != 0)
			bad = fail(msg, msglen,
				   "messages: first message must use the \"user\" role");
		else if (!(bad = check_blocks(content, i, role, ids, msg, msglen)) && i > 0)
			bad = check_answered(ids, i, msg, msglen);
		if (bad)
			break;
		json_decref(ids);
		ids = tool_use_ids(strcmp(role, "assistant") == 0 ? content : NULL);
	}
	if (bad == NULL && json_object_size(ids) > 0)
		bad = fail(msg, msglen,
			   "messages.%zu: `tool_use` blocks must be followed by a user message "
			   "with their `tool_result` blocks",
			   json_array_size(messages) - 1);
	json_decref(ids);
	return bad;
}

const char *llm_check_anthropic(const json_t *body, char *msg, size_t msglen)
{
	const json_t *max = json_object_get(body, "max_tokens");
	const json_t *messages = json_object_get(body, "messages");
	const json_t *system = json_object_get(body, "system");

	if (!json_is_string(json_object_get(body, "model")))
		return fail(msg, msglen, "model: Field required");
	if (max == NULL)
		return fail(msg, msglen, "max_tokens: Field required");
	if (!json_is_integer(max) || json_integer_value(max) < 1)
		return fail(msg, msglen, "max_tokens: Input should be greater than or equal to 1");
	if (!json_is_array(messages))
		return fail(msg, msglen, "messages: Field required");
	if (json_array_size(messages) == 0)
		return fail(msg, msglen, "messages: at least one message is required");
	if (system && !json_is_string(system) && !json_is_array(system))
		return fail(msg, msglen, "system: Input should be a valid string");
	return check_tools(json_object_get(body, "tools"), false, msg, msglen)
		       ?: check_messages(messages, msg, msglen);
}

/* Tool messages answer the tool_calls of the assistant message before them, every one. */
static const char *check_openai_messages(const json_t *messages, char *msg, size_t msglen)
{
	json_t *open = json_object();
	const char *bad = NULL, *id;
	const json_t *m, *call;
	json_t *v;
	size_t i, j;

	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *tid = json_string_value(json_object_get(m, "tool_call_id"));
		bool is_tool = role && strcmp(role, "tool") == 0;

		if (role == NULL || (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
				     strcmp(role, "assistant") != 0 && !is_tool)) {
			bad = fail(msg, msglen, "Invalid value for 'messages[%zu].role'.", i);
			break;
		}
		if (is_tool && (tid == NULL || json_object_get(open, tid) == NULL)) {
			bad = fail(
				msg, msglen,
				"Invalid parameter: messages with role 'tool' must be a response "
				"to a preceeding message with 'tool_calls'.");
			break;
		}
		if (is_tool) {
			json_object_del(open, tid);
			continue;
		}
		json_object_foreach(open, id, v) {
			bad = fail(
				msg, msglen,
				"An assistant message with 'tool_calls' must be followed by tool "
				"messages responding to each 'tool_call_id'. The following "
				"tool_call_ids did not have response messages: %.80s",
				id);
			break;
		}
		if (bad)
			break;
		json_array_foreach(json_object_get(m, "tool_calls"), j, call)
			if (json_string_value(json_object_get(call, "id")))
				json_object_set_new(open,
						    json_string_value(json_object_get(call, "id")),
						    json_true());
	}
	json_decref(open);
	return bad;
}

const char *llm_check_openai(const json_t *body, char *msg, size_t msglen)
{
	const json_t *messages = json_object_get(body, "messages");
	const json_t *max = json_object_get(body, "max_tokens");

	if (!json_is_string(json_object_get(body, "model")))
		return fail(msg, msglen, "you must provide a model parameter");
	if (!json_is_array(messages) || json_array_size(messages) == 0)
		return fail(msg, msglen, "Missing required parameter: 'messages'.");
	if (max && (!json_is_integer(max) || json_integer_value(max) < 1))
		return fail(msg, msglen, "Invalid 'max_tokens': integer below minimum value.");
	return check_tools(json_object_get(body, "tools"), true, msg, msglen)
		       ?: check_openai_messages(messages, msg, msglen);
}

const char *llm_first_user_text(const json_t *messages, char *buf, size_t buflen)
{
	const json_t *m, *b, *content;
	size_t i, j, len = 0;

	buf[0] = '\0';
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));

		if (role == NULL || strcmp(role, "user") != 0)
			continue;
		content = json_object_get(m, "content");
		if (json_is_string(content))
			snprintf(buf, buflen, "%s", json_string_value(content));
		json_array_foreach(content, j, b) {
			const char *t = json_string_value(json_object_get(b, "text"));

			if (t && len < buflen)
				len += (size_t)snprintf(buf + len, buflen - len, "%s", t);
		}
		break;
	}
	return buf;
}
