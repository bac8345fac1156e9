/* The REST routes' request parsing (rest_route.h). */
#include "rest_route.h"

#include <limits.h>
#include <string.h>

#include "../common/json.h"
#include "../common/util.h"
#include "http_headers.h"

static unsigned refuse(struct cx_rest_route *r, unsigned status, const char *allow, const char *msg)
{
	r->status = status;
	r->allow = allow;
	r->msg = msg;
	return status;
}

static unsigned routed(struct cx_rest_route *r, enum cx_rest_op op, const char *param, size_t len,
		       size_t param_max)
{
	json_t *utf8;

	if (len >= param_max)
		return refuse(r, 404, NULL, "not found: the name is too long");
	/* it goes into the tool call's arguments and the error a client reads, both JSON */
	utf8 = len ? json_stringn(param, len) : NULL;
	if (len && !utf8)
		return refuse(r, 404, NULL, "not found: the name is not UTF-8");
	json_decref(utf8);
	r->op = op;
	r->param = param;
	r->len = len;
	return 0;
}

unsigned cx_rest_route(const char *p, const char *method, size_t param_max, struct cx_rest_route *r)
{
	bool post = !strcmp(method, "POST");
	const char *slash, *allow;

	*r = (struct cx_rest_route){ .param = "" };
	if (!strcmp(p, "events")) {
		if (strcmp(method, "GET"))
			return refuse(r, 405, "GET", "method not allowed");
		return routed(r, CX_REST_FEED, "", 0, param_max);
	}
	if (!strcmp(p, "openapi.json") || !strcmp(p, "tools") || !strcmp(p, "tasks")) {
		allow = !strcmp(p, "tasks") ? "GET, POST" : "GET";
		if (!cx_http_method_listed(allow, method))
			return refuse(r, 405, allow, "method not allowed");
		if (!strcmp(p, "openapi.json"))
			return routed(r, CX_REST_OPENAPI, "", 0, param_max);
		if (!strcmp(p, "tools"))
			return routed(r, CX_REST_TOOLS, "", 0, param_max);
		return routed(r, post ? CX_REST_TASKS_NEW : CX_REST_TASKS_LIST, "", 0, param_max);
	}
	if (!strncmp(p, "tools/", 6) && p[6] && !strchr(p + 6, '/')) {
		if (!post)
			return refuse(r, 405, "POST", "method not allowed: call a tool with POST");
		return routed(r, CX_REST_TOOL, p + 6, strlen(p + 6), param_max);
	}
	if (strncmp(p, "tasks/", 6) || !p[6])
		return refuse(r, 404, NULL,
			      "not found; GET /v1/openapi.json describes the REST routes");
	p += 6;
	slash = strchr(p, '/');
	if ((slash && strcmp(slash, "/events")) || slash == p) /* tasks//events: no id */
		return refuse(r, 404, NULL, "not found");
	if (strcmp(method, "GET"))
		return refuse(r, 405, "GET", "method not allowed");
	return routed(r, slash ? CX_REST_TASK_EVENTS : CX_REST_TASK_GET, p,
		      slash ? (size_t)(slash - p) : strlen(p), param_max);
}

const char *cx_rest_tool(enum cx_rest_op op, const char *name)
{
	switch (op) {
	case CX_REST_TOOL:
		return name;
	case CX_REST_TASKS_LIST:
		return "cortex_get_tasks";
	case CX_REST_TASKS_NEW:
		return "cortex_create_task";
	case CX_REST_TASK_GET:
	case CX_REST_TASK_EVENTS:
	case CX_REST_FEED:
		return "cortex_get_task_status";
	default:
		return NULL;
	}
}

json_t *cx_rest_body_args(const char *data, size_t len, size_t max_bytes, char *msg, size_t msglen)
{
	struct cx_err err = { 0 };
	json_t *v;

	if (!len)
		return json_object();
	v = cx_json_loadb(data, len, max_bytes, &err);
	if (!v) {
		cx_fmt(msg, msglen, "the body is not JSON: %s", err.msg);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		cx_fmt(msg, msglen, "the body must be a JSON object of the tool's arguments");
		return NULL;
	}
	return v;
}

int cx_rest_query_arg(json_t *args, const json_t *props, const char *key, size_t klen,
		      const char *value, size_t vlen, char *msg, size_t msglen)
{
	const char *type;
	json_t *v = NULL;
	long n;

	if (memchr(key, '\0', klen) || (value && memchr(value, '\0', vlen))) {
		/* the name goes into a JSON answer: quoted only when whole and UTF-8 */
		json_t *name =
			klen <= 64 && !memchr(key, '\0', klen) ? json_stringn(key, klen) : NULL;

		cx_fmt(msg, msglen,
		       "query parameter %s%s%s: a NUL byte (%%00) is not allowed in a name or a "
		       "value",
		       name ? "'" : "", name ? json_string_value(name) : "(its name)",
		       name ? "'" : "");
		json_decref(name);
		return -1;
	}
	if (!value)
		value = "";
	type = json_string_value(json_object_get(json_object_get(props, key), "type"));
	if (type && !strcmp(type, "integer") && !cx_parse_long(value, LONG_MIN, LONG_MAX, &n))
		v = json_integer(n);
	else if (type && !strcmp(type, "boolean") &&
		 (!strcmp(value, "true") || !strcmp(value, "false")))
		v = json_boolean(!strcmp(value, "true"));
	else
		v = json_string(value);
	if (json_object_set_new(args, key, v ? v : json_null())) {
		cx_fmt(msg, msglen, "query parameter names must be UTF-8");
		return -1;
	}
	return 0;
}
