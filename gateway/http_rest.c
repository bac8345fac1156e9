/* REST for scripts that do not speak MCP (see docs/OPERATIONS.md and gateway/openapi.json):
 *
 *   GET  /v1/tools               the tools this token may call (as tools/list shows them)
 *   POST /v1/tools/{name}        JSON arguments in, the MCP CallToolResult out
 *   GET  /v1/tasks               cortex_get_tasks, its arguments as query parameters
 *   POST /v1/tasks               cortex_create_task, its arguments as the body
 *   GET  /v1/tasks/{id}          cortex_get_task_status (?include_conversation=true)
 *   GET  /v1/tasks/{id}/events   SSE of the task until it ends (http_events.c)
 *   GET  /v1/events              SSE of every task change (http_feed.c)
 *   GET  /v1/openapi.json        the OpenAPI 3.1 description of these routes
 *
 * Every call goes through cx_dispatch_tool_via, the in-process entry point tools/call uses, so
 * policy, schema checks, deadlines, the queue and the audit line (with "via": "rest") are the
 * same as over MCP. What MCP answers as an isError result for a request the caller got wrong
 * is an HTTP error here, decided by the same checks before the call: a token not allowed to
 * call the tool 403, arguments its inputSchema refuses 400 (the call still goes through
 * dispatch, which refuses and audits it). A tool's own failure is 200 with isError, as over
 * MCP; an unknown task 404. */
#include "http_ops.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/schema.h"
#include "../common/util.h"
#include "dispatch.h"
#include "http_async.h"
#include "policy.h"

#define VIA_REST "rest"

extern const char gateway_openapi_json[];

enum rest_op {
	OP_TOOL,        /* POST /v1/tools/{name} */
	OP_TASKS_LIST,  /* GET /v1/tasks */
	OP_TASKS_NEW,   /* POST /v1/tasks */
	OP_TASK_GET,    /* GET /v1/tasks/{id} */
	OP_TASK_EVENTS, /* GET /v1/tasks/{id}/events */
	OP_FEED,        /* GET /v1/events */
};

/* ---- answers ---- */

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *allow,
				  const char *msg)
{
	json_t *e = json_pack("{s:{s:i, s:s}}", "error", "status", (int)status, "message", msg);
	size_t len = 0;
	char *s = e ? cx_json_dumps(e, &len) : NULL;
	struct MHD_Response *r;

	json_decref(e);
	if (!s)
		return MHD_NO;
	r = cx_http_resp_new(s, len, true, CT_JSON);
	if (r && allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) == MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, status, r);
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	size_t len = 0;
	char *s = body ? cx_json_dumps(body, &len) : NULL;

	json_decref(body);
	if (!s)
		return MHD_NO;
	return cx_http_queue(conn, status, cx_http_resp_new(s, len, true, CT_JSON));
}

/* The first text of a CallToolResult, or "". */
static const char *result_text(const json_t *result)
{
	const char *t = json_string_value(
		json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));

	return t ? t : "";
}

/* ---- the calls ---- */

/* From a worker or this thread: the call's answer becomes the HTTP answer. */
static void call_done(void *ctx, const json_t *result, int code, const char *msg)
{
	struct cx_http_async *a = ctx;
	bool is_error = json_is_true(json_object_get(result, "isError"));

	json_decref(a->args);
	a->args = NULL;

	if (!result) {
		cx_http_async_error(a,
				    code == CX_RPC_INVALID_PARAMS ? MHD_HTTP_NOT_FOUND
								  : MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "%s", msg ? msg : "internal error");
		return;
	}
	if (a->refusal && is_error) {
		cx_http_async_error(a, a->refusal, "%s", result_text(result));
		return;
	}
	if (is_error && (a->op == OP_TASK_GET || a->op == OP_TASK_EVENTS) &&
	    !strncmp(result_text(result), "no task '", 9)) {
		cx_http_async_error(a, MHD_HTTP_NOT_FOUND, "%s", result_text(result));
		return;
	}
	if (a->op == OP_TASK_EVENTS) {
		if (is_error)
			cx_http_async_error(a, MHD_HTTP_SERVICE_UNAVAILABLE, "%s",
					    result_text(result));
		else
			cx_http_events_open(a, a->param,
					    json_object_get(result, "structuredContent"));
		return;
	}
	cx_http_async_answer_json(a,
				  a->op == OP_TASKS_NEW && !is_error ? MHD_HTTP_CREATED
								     : MHD_HTTP_OK,
				  json_incref((json_t *)result));
}

/* Calls tool name with args (stolen; NULL: out of memory) for a, after the checks that decide
 * a's status. args is kept in a until the call's answer releases it on the answering thread:
 * jansson's reference counts order nothing, so the last release of a value the worker read
 * must come after those reads on the worker's side. */
static void call_tool(struct cx_http_async *a, const char *name, json_t *args)
{
	struct cx_http *h = a->h;
	const struct cx_reg_tool *rt = cx_registry_find_tool(cx_server_registry(h->srv), name);
	char why[512];

	if (!args) {
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: out of memory");
		return;
	}
	if (!rt) {
		json_decref(args);
		cx_http_async_error(
			a, MHD_HTTP_NOT_FOUND,
			"unknown tool '%.128s'; GET /v1/tools lists the tools this token "
			"may call",
			name);
		return;
	}
	if (!cx_policy_allows(a->who, rt, why, sizeof(why)))
		a->refusal = MHD_HTTP_FORBIDDEN;
	else if (cx_schema_validate(rt->input, args, "arguments", why, sizeof(why)))
		a->refusal = MHD_HTTP_BAD_REQUEST;
	a->args = args;
	/* From here a->args is the answer's (call_done) and a may be answered at any time. */
	if (cx_dispatch_tool_via(cx_server_dispatch(h->srv), a->who, VIA_REST, name, args,
				 call_done, a)) {
		a->args = NULL;
		json_decref(args);
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: out of memory");
	}
}

/* The body as the call's arguments: an object, or {} when empty. NULL with a answered. */
static json_t *body_args(struct cx_http_async *a)
{
	struct cx_err err = { 0 };
	json_t *v;

	if (!a->body.len)
		return json_object();
	v = cx_json_loadb(a->body.data, a->body.len, (size_t)a->h->conf->max_body_bytes, &err);
	if (!v) {
		cx_http_async_error(a, MHD_HTTP_BAD_REQUEST, "the body is not JSON: %s", err.msg);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		cx_http_async_error(a, MHD_HTTP_BAD_REQUEST,
				    "the body must be a JSON object of the tool's arguments");
		return NULL;
	}
	return v;
}

struct query_ctx {
	const json_t *props; /* the tool's inputSchema properties */
	json_t *args;
};

/* A query parameter as the argument the tool's inputSchema types it as: integers and booleans
 * are converted when they read as one; anything else stays a string for the schema to judge. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct query_ctx *q = cls;
	const char *type =
		json_string_value(json_object_get(json_object_get(q->props, key), "type"));
	json_t *v = NULL;
	long n;

	if (!value)
		value = "";
	if (type && !strcmp(type, "integer") && !cx_parse_long(value, LONG_MIN, LONG_MAX, &n))
		v = json_integer(n);
	else if (type && !strcmp(type, "boolean") &&
		 (!strcmp(value, "true") || !strcmp(value, "false")))
		v = json_boolean(!strcmp(value, "true"));
	else
		v = json_string(value);
	json_object_set_new(q->args, key, v ? v : json_null());
	return MHD_YES;
}

/* The query parameters as tool's arguments (see query_arg); NULL on out of memory. */
static json_t *query_args(struct cx_http_async *a, const char *tool)
{
	const struct cx_reg_tool *rt = cx_registry_find(cx_server_registry(a->h->srv), tool);
	struct query_ctx q = {
		json_object_get(json_object_get(rt ? rt->def : NULL, "inputSchema"), "properties"),
		json_object(),
	};

	if (q.args)
		MHD_get_connection_values(a->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	return q.args;
}

static void rest_start(struct cx_http_async *a)
{
	const char *id = a->param;
	json_t *args;

	switch (a->op) {
	case OP_TOOL:
		if ((args = body_args(a)))
			call_tool(a, id, args);
		break;
	case OP_TASKS_NEW:
		if ((args = body_args(a)))
			call_tool(a, "cortex_create_task", args);
		break;
	case OP_TASKS_LIST:
		call_tool(a, "cortex_get_tasks", query_args(a, "cortex_get_tasks"));
		break;
	case OP_TASK_GET:
		/* The path names the task; the query adds the other arguments. */
		args = query_args(a, "cortex_get_task_status");
		if (args && json_object_set_new(args, "id", json_string(id))) {
			json_decref(args);
			args = NULL;
		}
		call_tool(a, "cortex_get_task_status", args);
		break;
	case OP_TASK_EVENTS:
		call_tool(a, "cortex_get_task_status", json_pack("{s:s}", "id", id));
		break;
	case OP_FEED:
		cx_http_feed_open(a);
		break;
	}
}

/* ---- routing ---- */

static enum MHD_Result list_tools(struct cx_http *h, struct MHD_Connection *conn,
				  const struct cx_principal *who)
{
	struct cx_registry *reg = cx_server_registry(h->srv);
	json_t *tools = json_array();
	char why[256];

	for (size_t i = 0; tools && i < cx_registry_count(reg); i++) {
		const struct cx_reg_tool *rt = cx_registry_at(reg, i);

		if (cx_registry_available(rt) && cx_policy_allows(who, rt, why, sizeof(why)))
			json_array_append(tools, rt->def);
	}
	return send_json(conn, MHD_HTTP_OK, json_pack("{s:o*}", "tools", tools));
}

/* Starts an asynchronous operation op with parameter param (may be "") on conn. */
static enum MHD_Result start_op(struct cx_http *h, struct MHD_Connection *conn,
				const struct cx_principal *who, void **con_cls, enum rest_op op,
				const char *param, size_t len)
{
	const char *ctype = cx_http_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *clen = cx_http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct cx_http_async *a;

	/* A body over the cap is read and dropped (up to a bound, then the connection is cut) so
	 * that the client reads the 413 rather than a connection reset mid-upload. */
	if (len >= sizeof(a->param))
		return send_error(conn, MHD_HTTP_NOT_FOUND, NULL,
				  "not found: the name is too long");
	/* As on /mcp: a body is JSON, which a browser cannot send across origins unasked. */
	if ((op == OP_TOOL || op == OP_TASKS_NEW) && ((clen && strcmp(clen, "0")) || ctype) &&
	    !cx_http_content_type_is_json(ctype))
		return send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
				  "unsupported media type: the body must be application/json");
	a = cx_http_async_new(h, conn, who, rest_start, con_cls);
	if (!a)
		return MHD_NO;
	a->op = (int)op;
	memcpy(a->param, param, len);
	a->param[len] = 0;
	return MHD_YES;
}

enum MHD_Result cx_http_rest(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, const struct cx_principal *who, void **con_cls)
{
	const char *p = url + strlen("/v1/"), *slash, *allow;
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	enum rest_op op;
	size_t len;

	if (!strcmp(p, "events")) {
		if (strcmp(method, MHD_HTTP_METHOD_GET))
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET",
					  "method not allowed");
		return start_op(h, conn, who, con_cls, OP_FEED, "", 0);
	}
	if (!strcmp(p, "openapi.json") || !strcmp(p, "tools") || !strcmp(p, "tasks")) {
		allow = !strcmp(p, "tasks") ? "GET, POST" : "GET";
		if (!cx_http_method_listed(allow, method))
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, allow,
					  "method not allowed");
		if (!strcmp(p, "openapi.json"))
			return cx_http_queue(conn, MHD_HTTP_OK,
					     cx_http_resp_new((char *)gateway_openapi_json,
							      strlen(gateway_openapi_json), false,
							      CT_JSON));
		if (!strcmp(p, "tools"))
			return list_tools(h, conn, who);
		return start_op(h, conn, who, con_cls, post ? OP_TASKS_NEW : OP_TASKS_LIST, "", 0);
	}
	if (!strncmp(p, "tools/", 6) && p[6] && !strchr(p + 6, '/')) {
		if (!post)
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
					  "method not allowed: call a tool with POST");
		return start_op(h, conn, who, con_cls, OP_TOOL, p + 6, strlen(p + 6));
	}
	if (strncmp(p, "tasks/", 6) || !p[6])
		return send_error(conn, MHD_HTTP_NOT_FOUND, NULL,
				  "not found; GET /v1/openapi.json describes the REST routes");
	p += 6;
	slash = strchr(p, '/');
	if (slash && strcmp(slash, "/events"))
		return send_error(conn, MHD_HTTP_NOT_FOUND, NULL, "not found");
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET", "method not allowed");
	op = slash ? OP_TASK_EVENTS : OP_TASK_GET;
	len = slash ? (size_t)(slash - p) : strlen(p);
	return start_op(h, conn, who, con_cls, op, p, len);
}
