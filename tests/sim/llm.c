/* A scripted LLM under /v1 speaking the Anthropic Messages API (POST /v1/messages) and
 * OpenAI-compatible Chat Completions (POST /v1/chat/completions), for the orchestrator's tests.
 *
 * The script ("llm" in --config, or PUT /v1/_sim/llm at run time):
 *   {"api_key": "sk-ant-sim-...",      x-api-key the Messages API wants
 *    "openai_api_key": null | "...",   the Bearer key Chat Completions wants (null: none)
 *    "conversations": [{"match": "MARKER", "turns": [TURN, ...]}]}
 * A request belongs to the first conversation whose marker is in its first user message; its
 * turn is the number of assistant messages it holds, so a retried request gets the same turn.
 * A TURN: {"text": "...", "tool_use": [{"name", "input"}, ...] (several: parallel tool use),
 *          "stop": "end_turn" | "max_tokens" | "pause_turn" | "refusal" | "stop_sequence",
 *          "usage": {"input_tokens", "output_tokens"},
 *          "faults": [FAULT, ...]}: the turn's first requests get these, one each, in order.
 * A FAULT: {"status": 429, "headers": {"retry-after-ms": "300", ...}, "message": "...",
 *          "type": "rate_limit_error", "spend_limit": true, "raw": <body as is>,
 *          "raw_text": "<a body that is not JSON>"}.
 * "{{last_tool_result}}" in a text is replaced by the text of the last tool result sent.
 * tool_use ids are "toolu_sim_C_T_I" (Chat Completions: "call_sim_C_T_I"); the next request must
 * answer each of them, as the real APIs demand. GET /v1/_sim/llm shows the script with what
 * each conversation received ("requests": the bodies, "faults_used"). */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/json.h"
#include "../../common/util.h"

#define REQUESTS_KEPT 64

static const char defaults[] = "{\"api_key\":\"sk-ant-sim-0123456789abcdef\","
			       "\"openai_api_key\":null,\"conversations\":[]}";

static json_t *script; /* the script, with "requests" and "faults_used" added per conversation */
static long served;

static const char *anthropic_type(unsigned int status)
{
	switch (status) {
	case 400:
		return "invalid_request_error";
	case 401:
		return "authentication_error";
	case 402:
		return "billing_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 413:
		return "request_too_large";
	case 429:
		return "rate_limit_error";
	case 529:
		return "overloaded_error";
	default:
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

json_t *llm_anthropic_error(unsigned int status, const char *message)
{
	return json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type",
			 anthropic_type(status), "message", message, "request_id",
			 "req_sim0123456789");
}

json_t *llm_openai_error(unsigned int status, const char *message)
{
	const char *type = status == 429   ? "requests"
			   : status >= 500 ? "server_error"
					   : "invalid_request_error";

	return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", message, "type", type,
			 "param", "code", status == 429 ? "rate_limit_exceeded" : NULL);
}

static json_t *error_body(unsigned int status, const char *message)
{
	return llm_anthropic_error(status, status == 529 ? "Overloaded" : message);
}

static int check_conversations(const json_t *convs, char *err, size_t errlen)
{
	static const char *const ckeys[] = { "match", "turns", NULL };
	static const char *const tkeys[] = { "text", "tool_use", "stop", "usage", "faults", NULL };
	const json_t *c, *t;
	size_t i, j;

	if (!json_is_array(convs))
		return snprintf(err, errlen, "'conversations' must be an array"), -1;
	json_array_foreach(convs, i, c) {
		if (sim_check_keys(c, "conversation", ckeys, err, errlen) != 0)
			return -1;
		if (!json_is_string(json_object_get(c, "match")) ||
		    !json_is_array(json_object_get(c, "turns")))
			return snprintf(err, errlen,
					"conversation %zu needs a 'match' string and "
					"'turns'",
					i),
			       -1;
		json_array_foreach(json_object_get(c, "turns"), j, t)
			if (sim_check_keys(t, "turn", tkeys, err, errlen) != 0)
				return -1;
	}
	return 0;
}

static int set_script(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "api_key", "openai_api_key", "conversations", NULL };
	json_t *s = json_loads(defaults, 0, NULL), *c;
	const char *key;
	json_t *v;
	size_t i;

	if (conf != NULL && sim_check_keys(conf, "llm", keys, err, errlen) != 0)
		goto bad;
	json_object_foreach((json_t *)conf, key, v)
		json_object_set(s, key, v);
	if (check_conversations(json_object_get(s, "conversations"), err, errlen) != 0)
		goto bad;
	json_object_set_new(s, "conversations",
			    json_deep_copy(json_object_get(s, "conversations")));
	json_array_foreach(json_object_get(s, "conversations"), i, c) {
		json_object_set_new(c, "requests", json_array());
		json_object_set_new(c, "faults_used", json_object());
	}
	json_decref(script);
	script = s;
	return 0;
bad:
	json_decref(s);
	return -1;
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	served = 0;
	return set_script(conf, err, errlen);
}

static void release(void)
{
	json_decref(script);
	script = NULL;
}

static json_t *find_conversation(const json_t *messages, size_t *index)
{
	char first[4096];
	json_t *c;
	size_t i;

	llm_first_user_text(messages, first, sizeof(first));
	json_array_foreach(json_object_get(script, "conversations"), i, c)
		if (strstr(first, json_string_value(json_object_get(c, "match")))) {
			*index = i;
			return c;
		}
	return NULL;
}

static size_t count_role(const json_t *messages, const char *role)
{
	const json_t *m;
	size_t i, n = 0;

	json_array_foreach(messages, i, m)
		if (json_string_value(json_object_get(m, "role")) &&
		    strcmp(json_string_value(json_object_get(m, "role")), role) == 0)
			n++;
	return n;
}

/* The turn's next fault, if one is left (counted as used). */
static const json_t *take_fault(json_t *conv, const json_t *turn, size_t t)
{
	const json_t *faults = json_object_get(turn, "faults");
	json_t *used = json_object_get(conv, "faults_used");
	char key[24];
	json_int_t n;

	snprintf(key, sizeof(key), "%zu", t);
	n = json_integer_value(json_object_get(used, key));
	if ((size_t)n >= json_array_size(faults))
		return NULL;
	json_object_set_new(used, key, json_integer(n + 1));
	return json_array_get(faults, (size_t)n);
}

static void reply_fault(const json_t *f, bool openai, struct sim_response *resp)
{
	unsigned int status = (unsigned int)json_integer_value(json_object_get(f, "status"));
	const char *msg = json_string_value(json_object_get(f, "message"));
	const char *raw_text = json_string_value(json_object_get(f, "raw_text"));
	json_t *body;

	if (status == 0)
		status = json_object_get(f, "raw") || raw_text ? 200 : 500;
	if (json_object_get(f, "headers"))
		resp->headers = json_deep_copy(json_object_get(f, "headers"));
	if (raw_text) {
		resp->status = status;
		resp->body = strdup(raw_text);
		resp->len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	if (json_object_get(f, "raw")) {
		sim_reply(resp, status, json_incref(json_object_get(f, "raw")));
		return;
	}
	if (json_is_true(json_object_get(f, "spend_limit"))) {
		body = openai ? json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message",
					  "You exceeded your organization's spend limit.", "type",
					  "insufficient_quota", "param", "code",
					  "organization_spend_limit_exceeded")
			      : json_pack(
					"{s:s,s:{s:s,s:s,s:{s:s}},s:s}", "type", "error", "error",
					"type", "rate_limit_error", "message",
					"You have reached your specified API usage limits. You will "
					"regain access on 2027-01-01 at 00:00 UTC.",
					"details", "error_code", "enforced_spend_limit_reached",
					"request_id", "req_sim0123456789");
		sim_reply(resp, 429, body);
		return;
	}
	if (msg == NULL)
		msg = status == 529   ? "Overloaded"
		      : status == 429 ? "Rate limited"
				      : "Internal error";
	body = openai ? llm_openai_error(status, msg) : llm_anthropic_error(status, msg);
	if (!openai && json_is_string(json_object_get(f, "type")))
		json_object_set(json_object_get(body, "error"), "type", json_object_get(f, "type"));
	sim_reply(resp, status, body);
}

/* The turn's content blocks in the Messages API's form (ids from c, t). */
static json_t *turn_content(const json_t *turn, size_t c, size_t t, bool openai)
{
	json_t *content = json_array();
	const json_t *use;
	size_t i;
	char id[64];

	if (json_is_string(json_object_get(turn, "text")))
		json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text",
							 json_object_get(turn, "text")));
	json_array_foreach(json_object_get(turn, "tool_use"), i, use) {
		snprintf(id, sizeof(id), "%s_sim_%zu_%zu_%zu", openai ? "call" : "toolu", c, t, i);
		json_array_append_new(content,
				      json_pack("{s:s,s:s,s:O,s:O}", "type", "tool_use", "id", id,
						"name", json_object_get(use, "name"), "input",
						json_object_get(use, "input") ?: json_object()));
	}
	return content;
}

static const char *turn_stop(const json_t *turn)
{
	const char *stop = json_string_value(json_object_get(turn, "stop"));

	return stop                                                 ? stop
	       : json_array_size(json_object_get(turn, "tool_use")) ? "tool_use"
								    : "end_turn";
}

static long usage_of(const json_t *turn, const char *key, long def)
{
	const json_t *v = json_object_get(json_object_get(turn, "usage"), key);

	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

static json_t *anthropic_reply(const json_t *turn, const char *model, size_t c, size_t t,
			       long in_tokens)
{
	const char *stop = turn_stop(turn);

	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s?,s:{s:I,s:I}}", "id", "msg_sim", "type",
			 "message", "role", "assistant", "model", model, "content",
			 turn_content(turn, c, t, false), "stop_reason", stop, "stop_sequence",
			 strcmp(stop, "stop_sequence") == 0 ? "\n\nHuman:" : NULL, "usage",
			 "input_tokens", (json_int_t)usage_of(turn, "input_tokens", in_tokens),
			 "output_tokens", (json_int_t)usage_of(turn, "output_tokens", 16));
}

static json_t *openai_reply(const json_t *turn, const char *model, size_t c, size_t t,
			    long in_tokens)
{
	json_t *content = turn_content(turn, c, t, true), *calls = json_array(), *b;
	const char *stop = turn_stop(turn), *text = NULL;
	const char *finish = strcmp(stop, "tool_use") == 0     ? "tool_calls"
			     : strcmp(stop, "max_tokens") == 0 ? "length"
							       : "stop";
	bool refusal = strcmp(stop, "refusal") == 0;
	long in = usage_of(turn, "input_tokens", in_tokens),
	     out = usage_of(turn, "output_tokens", 16);
	size_t i;

	json_array_foreach(content, i, b) {
		char *args;

		if (json_object_get(b, "text")) {
			text = json_string_value(json_object_get(b, "text"));
			continue;
		}
		args = json_dumps(json_object_get(b, "input"), JSON_COMPACT);
		json_array_append_new(calls,
				      json_pack("{s:O,s:s,s:{s:O,s:s}}", "id",
						json_object_get(b, "id"), "type", "function",
						"function", "name", json_object_get(b, "name"),
						"arguments", args ? args : "{}"));
		free(args);
	}
	b = json_pack("{s:s,s:s?,s:s?}", "role", "assistant", "content", refusal ? NULL : text,
		      "refusal", refusal ? text : NULL);
	if (json_array_size(calls) > 0)
		json_object_set(b, "tool_calls", calls);
	json_decref(calls);
	json_decref(content);
	return json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:o,s:s,s:n}],s:{s:I,s:I,s:I}}", "id",
			 "chatcmpl-sim", "object", "chat.completion", "created", 1767225600,
			 "model", model, "choices", "index", 0, "message", b, "finish_reason",
			 finish, "logprobs", "usage", "prompt_tokens", (json_int_t)in,
			 "completion_tokens", (json_int_t)out, "total_tokens",
			 (json_int_t)(in + out));
}

/* x-api-key and anthropic-version, as the Messages API wants them: false with the answer. */
static bool anthropic_auth(const struct sim_request *req, struct sim_response *resp)
{
	const char *key = sim_header(req, "x-api-key");
	const char *want = json_string_value(json_object_get(script, "api_key"));

	if (key == NULL) {
		sim_reply(resp, 401, llm_anthropic_error(401, "x-api-key header is required"));
		return false;
	}
	if (want == NULL || strcmp(key, want) != 0) {
		sim_reply(resp, 401, llm_anthropic_error(401, "invalid x-api-key"));
		return false;
	}
	if (sim_header(req, "anthropic-version") == NULL) {
		sim_reply(resp, 400,
			  llm_anthropic_error(400, "anthropic-version: header is required"));
		return false;
	}
	return true;
}

/* Bearer auth when the script sets openai_api_key. OpenAI's 401 shows the key masked. */
static bool openai_auth(const struct sim_request *req, struct sim_response *resp)
{
	const char *want = json_string_value(json_object_get(script, "openai_api_key"));
	const char *auth = sim_header(req, "Authorization");
	char msg[160];
	size_t n;

	if (want == NULL)
		return true;
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, want) == 0)
		return true;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		snprintf(msg, sizeof(msg),
			 "You didn't provide an API key. You need to provide your "
			 "API key in an Authorization header using Bearer auth.");
	} else {
		n = strlen(auth + 7);
		snprintf(msg, sizeof(msg), "Incorrect API key provided: %.3s****%s.", auth + 7,
			 n > 8 ? auth + 7 + n - 4 : "");
	}
	sim_reply(resp, 401,
		  json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type",
			    "invalid_request_error", "param", "code", "invalid_api_key"));
	return false;
}

static void record(json_t *conv, const json_t *body, const struct sim_request *req)
{
	json_t *log = json_object_get(conv, "requests");

	if (json_array_size(log) >= REQUESTS_KEPT)
		json_array_remove(log, 0);
	json_array_append_new(log, json_pack("{s:s,s:O}", "path", req->path, "body", body));
}

/* The text of the last tool result the request carries, in either API's form, or "". */
static const char *last_tool_result(const json_t *messages, char *buf, size_t buflen)
{
	const json_t *m, *b, *content;
	size_t i, j;

	buf[0] = '\0';
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));

		content = json_object_get(m, "content");
		if (role && strcmp(role, "tool") == 0 && json_is_string(content))
			snprintf(buf, buflen, "%s", json_string_value(content));
		json_array_foreach(content, j, b) {
			const char *type = json_string_value(json_object_get(b, "type"));
			json_t *c = json_object_get(b, "content");

			if (type == NULL || strcmp(type, "tool_result") != 0)
				continue;
			json_t *wrap = json_pack("[{s:s,s:O?}]", "role", "user", "content", c);

			llm_first_user_text(wrap, buf, buflen);
			json_decref(wrap);
		}
	}
	return buf;
}

/* The turn with "{{last_tool_result}}" in its text replaced by that result, so a script can
 * answer with what the tools returned. New reference. */
static json_t *with_tool_result(const json_t *turn, const json_t *messages)
{
	static const char mark[] = "{{last_tool_result}}";
	const char *text = json_string_value(json_object_get(turn, "text")), *at;
	char result[8192], *out;
	json_t *copy;

	if (text == NULL || (at = strstr(text, mark)) == NULL)
		return json_incref((json_t *)turn);
	last_tool_result(messages, result, sizeof(result));
	if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, result, at + sizeof(mark) - 1) < 0)
		return json_incref((json_t *)turn);
	copy = json_copy((json_t *)turn);
	json_object_set_new(copy, "text", json_string(out));
	free(out);
	return copy;
}

static void complete(const struct sim_request *req, bool openai, struct sim_response *resp)
{
	json_t *body = cx_json_loadb(req->body, req->body_len, SIM_BODY_MAX, NULL), *conv, *said;
	const json_t *messages = json_object_get(body, "messages"), *turn, *fault;
	const char *model, *bad;
	char msg[512];
	size_t c = 0, t;

	if (!json_is_object(body)) {
		sim_reply(resp, 400,
			  openai ? llm_openai_error(400, "We could not parse the JSON body of your "
							 "request.")
				 : llm_anthropic_error(400, "The request body is not valid JSON."));
		goto out;
	}
	bad = openai ? llm_check_openai(body, msg, sizeof(msg))
		     : llm_check_anthropic(body, msg, sizeof(msg));
	if (bad) {
		sim_reply(resp, 400,
			  openai ? llm_openai_error(400, bad) : llm_anthropic_error(400, bad));
		goto out;
	}
	model = json_string_value(json_object_get(body, "model"));
	served++;
	conv = find_conversation(messages, &c);
	if (conv == NULL) {
		json_t *none = json_pack("{s:s}", "text",
					 "cortex-sim: no scripted conversation "
					 "matches this one");

		sim_reply(resp, 200,
			  openai ? openai_reply(none, model, 0, 0, 1)
				 : anthropic_reply(none, model, 0, 0, 1));
		json_decref(none);
		goto out;
	}
	record(conv, body, req);
	t = count_role(messages, "assistant");
	turn = json_array_get(json_object_get(conv, "turns"), t);
	if (turn == NULL) {
		sim_reply(resp, 400,
			  openai ? llm_openai_error(400, "cortex-sim: the script has no more turns")
				 : llm_anthropic_error(400, "cortex-sim: the script has no more "
							    "turns"));
		goto out;
	}
	fault = take_fault(conv, turn, t);
	if (fault != NULL) {
		reply_fault(fault, openai, resp);
		goto out;
	}
	said = with_tool_result(turn, messages);
	sim_reply(resp, 200,
		  openai ? openai_reply(said, model, c, t, (long)req->body_len / 4 + 1)
			 : anthropic_reply(said, model, c, t, (long)req->body_len / 4 + 1));
	json_decref(said);
out:
	json_decref(body);
}

static void control(const struct sim_request *req, struct sim_response *resp)
{
	char err[512];
	json_t *v;

	if (strcmp(req->method, "GET") == 0) {
		sim_reply(resp, 200,
			  json_pack("{s:O,s:I}", "script", script, "served", (json_int_t)served));
		return;
	}
	if (strcmp(req->method, "DELETE") == 0) {
		set_script(NULL, err, sizeof(err));
		sim_reply(resp, 200, json_pack("{s:O}", "script", script));
		return;
	}
	if (strcmp(req->method, "PUT") != 0 && strcmp(req->method, "POST") != 0) {
		sim_reply(resp, 405, json_pack("{s:s}", "error", "GET, PUT or DELETE"));
		return;
	}
	v = cx_json_loadb(req->body, req->body_len, SIM_BODY_MAX, NULL);
	if (v == NULL || set_script(v, err, sizeof(err)) != 0)
		sim_reply(resp, 400, json_pack("{s:s}", "error", v ? err : "the body is not JSON"));
	else
		sim_reply(resp, 200, json_pack("{s:O}", "script", script));
	json_decref(v);
}

static void handle(const struct sim_request *req, struct sim_response *resp)
{
	bool post = strcmp(req->method, "POST") == 0;

	if (strcmp(req->path, "/_sim/llm") == 0)
		control(req, resp);
	else if (strcmp(req->path, "/messages") == 0 && post) {
		if (anthropic_auth(req, resp))
			complete(req, false, resp);
	} else if (strcmp(req->path, "/chat/completions") == 0 && post) {
		if (openai_auth(req, resp))
			complete(req, true, resp);
	} else if (strcmp(req->path, "/messages") == 0 ||
		   strcmp(req->path, "/chat/completions") == 0)
		sim_reply(resp, 405, llm_anthropic_error(405, "Method not allowed"));
	else
		sim_reply(resp, 404, llm_anthropic_error(404, "Not found"));
}

const struct sim_backend sim_llm = {
	.name = "llm",
	.prefix = "/v1",
	.load = load,
	.handle = handle,
	.error_body = error_body,
	.release = release,
	.help = "  a scripted LLM under /v1: POST /v1/messages (Anthropic Messages API) and\n"
		"  POST /v1/chat/completions (OpenAI-compatible); the script in --config \"llm\"\n"
		"  or PUT /v1/_sim/llm (see tests/sim/llm.c)\n"
		"    key:       x-api-key: sk-ant-sim-0123456789abcdef; Chat Completions: none\n",
};
