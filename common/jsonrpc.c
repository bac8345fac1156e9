/* JSON-RPC 2.0 as MCP uses it: ids are strings or numbers (never null), params are structured,
 * and the client's id goes back exactly as it came. */
#include "jsonrpc.h"

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

static void invalid(struct cx_rpc_msg *out, json_t *id, const char *msg)
{
	out->kind = CX_RPC_INVALID;
	out->id = id;
	out->method = NULL;
	out->params = NULL;
	out->err_code = CX_RPC_INVALID_REQUEST;
	out->err_msg = msg;
}

void cx_rpc_classify(json_t *msg, struct cx_rpc_msg *out)
{
	json_t *id, *version, *method, *params, *result, *error;

	invalid(out, NULL, "invalid request: a message must be a JSON object");
	if (!json_is_object(msg))
		return;

	/* The id is read first so that every later complaint can be answered under it. */
	id = json_object_get(msg, "id");
	if (id && !json_is_string(id) && !json_is_number(id)) {
		invalid(out, NULL, "invalid request: 'id' must be a string or a number");
		return;
	}

	version = json_object_get(msg, "jsonrpc");
	if (!json_is_string(version) || json_string_length(version) != 3 ||
	    json_string_value(version)[0] != '2' || json_string_value(version)[1] != '.' ||
	    json_string_value(version)[2] != '0') {
		invalid(out, id, "invalid request: 'jsonrpc' must be \"2.0\"");
		return;
	}

	method = json_object_get(msg, "method");
	if (method) {
		if (!json_is_string(method)) {
			invalid(out, id, "invalid request: 'method' must be a string");
			return;
		}
		/* Else "ping\u0000xx" would run ping: C sees the name up to the NUL. */
		if (cx_has_ctl(json_string_value(method), json_string_length(method))) {
			invalid(out, id,
				"invalid request: 'method' contains a control character (NUL, tab, "
				"newline or another below U+0020, or DEL)");
			return;
		}
		params = json_object_get(msg, "params");
		if (params && !json_is_object(params) && !json_is_array(params)) {
			invalid(out, id, "invalid request: 'params' must be an object or an array");
			return;
		}
		out->kind = id ? CX_RPC_REQUEST : CX_RPC_NOTIFICATION;
		out->id = id;
		out->method = json_string_value(method);
		out->params = params;
		out->err_code = 0;
		out->err_msg = NULL;
		return;
	}

	result = json_object_get(msg, "result");
	error = json_object_get(msg, "error");
	if (!result && !error) {
		invalid(out, id, "invalid request: a message needs 'method', 'result' or 'error'");
		return;
	}
	if (result && error) {
		invalid(out, id,
			"invalid request: a response must not have both 'result' and "
			"'error'");
		return;
	}
	if (!id) {
		invalid(out, NULL, "invalid request: a response needs the 'id' of its request");
		return;
	}
	out->kind = CX_RPC_RESPONSE;
	out->id = id;
	out->err_code = 0;
	out->err_msg = NULL;
}

/* {"jsonrpc":"2.0","id":id} with the id echoed as the client sent it. NULL on OOM. */
static json_t *envelope_with_id(json_t *id)
{
	json_t *env = json_object();

	if (!env)
		return NULL;
	if (json_object_set_new(env, "jsonrpc", json_string("2.0")) ||
	    json_object_set_new(env, "id", id ? json_incref(id) : json_null())) {
		json_decref(env);
		return NULL;
	}
	return env;
}

json_t *cx_rpc_result(json_t *id, json_t *result)
{
	json_t *env;

	if (!result)
		return NULL;
	env = envelope_with_id(id);
	if (!env) {
		json_decref(result);
		return NULL;
	}
	/* json_object_set_new() releases result when it fails. */
	if (json_object_set_new(env, "result", result)) {
		json_decref(env);
		return NULL;
	}
	return env;
}

json_t *cx_rpc_error(json_t *id, int code, const char *message, json_t *data)
{
	json_t *env = NULL, *error;

	error = json_object();
	if (!error)
		goto fail;
	if (json_object_set_new(error, "code", json_integer(code)) ||
	    json_object_set_new(error, "message", json_string(message ? message : "")))
		goto fail;
	if (data) {
		json_t *d = data;

		data = NULL; /* stolen by the set below, whatever it returns */
		if (json_object_set_new(error, "data", d))
			goto fail;
	}
	env = envelope_with_id(id);
	if (!env)
		goto fail;
	if (json_object_set_new(env, "error", error)) {
		json_decref(env);
		return NULL;
	}
	return env;
fail:
	json_decref(data);
	json_decref(error);
	return NULL;
}

json_t *cx_rpc_notification(const char *method, json_t *params)
{
	json_t *env = json_object();

	if (!env || !method)
		goto fail;
	if (json_object_set_new(env, "jsonrpc", json_string("2.0")) ||
	    json_object_set_new(env, "method", json_string(method)))
		goto fail;
	if (params) {
		json_t *p = params;

		params = NULL; /* stolen by the set below, whatever it returns */
		if (json_object_set_new(env, "params", p))
			goto fail;
	}
	return env;
fail:
	json_decref(params);
	json_decref(env);
	return NULL;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void cx_rpc_count_feed(struct cx_rpc_counter *c, const char *buf, size_t len)
{
	for (size_t i = 0; i < len && !c->not_array && !c->ended; i++) {
		char ch = buf[i];

		if (!c->started) {
			if (is_ws(ch))
				continue;
			c->started = true;
			c->not_array = ch != '[';
			c->depth = 1;
			continue;
		}
		if (c->in_str) {
			if (c->escaped)
				c->escaped = false;
			else if (ch == '\\')
				c->escaped = true;
			else if (ch == '"')
				c->in_str = false;
			continue;
		}
		if (ch == '"') {
			c->in_str = true;
		} else if (ch == '[' || ch == '{') {
			c->depth++;
		} else if (ch == ']' || ch == '}') {
			c->ended = --c->depth == 0;
			continue;
		} else if (ch == ',' && c->depth == 1) {
			c->commas++;
		}
		if (!is_ws(ch))
			c->any = true;
	}
}

size_t cx_rpc_count_members(const struct cx_rpc_counter *c)
{
	return c->not_array || !c->any ? 0 : c->commas + 1;
}

size_t cx_rpc_batch_count(const char *buf, size_t len)
{
	struct cx_rpc_counter c = { 0 };

	cx_rpc_count_feed(&c, buf, len);
	return cx_rpc_count_members(&c);
}
