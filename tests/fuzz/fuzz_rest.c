/* The REST routes' request parsing (gateway/rest_route.c, as gateway/http_rest.c runs it):
 * the path under /v1/ with its method, the query parameters of GET /v1/tasks typed by
 * cortex_get_tasks's inputSchema, and the JSON body of the POST routes. Input: the request
 * line "METHOD /v1/PATH?QUERY" (as sent: percent-encoded), then the body. libmicrohttpd's part
 * is done as it does it: the path is percent-decoded (MHD_http_unescape) before routing; the
 * query is split at '&' and the first '=', '+' read as a space, and each name and value
 * percent-decoded with its length.
 *
 * Invariants: a request either routes to exactly one operation — one tool call (or the
 * OpenAPI document, or the tool list) — whose arguments are a JSON object that the tool's
 * schema then accepts or refuses, or to an error status in 400..405 with a message and, for a
 * 405, an Allow header that does not list the method; every message the client reads is
 * UTF-8 (it goes into a JSON answer); the path parameter is UTF-8, shorter than the route's
 * buffer and in the path; and decoding round-trips: the parameters the route read, encoded
 * again, read back as the same arguments. */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/schema.h"
#include "../../gateway/http_headers.h"
#include "../../gateway/rest_route.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const char adapters_cortex_tools_json[];

#define PARAM_MAX  128 /* struct cx_http_async's param */
#define BODY_MAX   (1024 * 1024)
#define PARAMS_MAX 64

static struct cx_schema *schema_get_tasks, *schema_create, *schema_status;
static const json_t *tasks_props;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_rest: " __VA_ARGS__);                                \
			fprintf(stderr, " (%s:%d: %s)\n", __FILE__, __LINE__, #cond);              \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void setup(void)
{
	static json_t *tools;
	json_error_t je;
	size_t i;
	json_t *t;

	if (tools)
		return;
	tools = json_loads(adapters_cortex_tools_json, 0, &je);
	CHECK(json_is_array(tools), "the cortex tools do not load: %s", je.text);
	json_array_foreach(tools, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		const json_t *in = json_object_get(t, "inputSchema");
		struct cx_schema *s = cx_schema_compile(in, NULL);

		if (!strcmp(name, "cortex_get_tasks")) {
			schema_get_tasks = s;
			tasks_props = json_object_get(in, "properties");
		} else if (!strcmp(name, "cortex_create_task")) {
			schema_create = s;
		} else if (!strcmp(name, "cortex_get_task_status")) {
			schema_status = s;
		} else {
			cx_schema_free(s);
		}
	}
	CHECK(schema_get_tasks && schema_create && schema_status && tasks_props,
	      "a task tool's schema is missing");
}

static bool utf8(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	bool ok = j != NULL;

	json_decref(j);
	return ok;
}

/* The schema decides; a refusal (a 400) must say why in UTF-8. */
static void validate(const struct cx_schema *s, const json_t *args)
{
	char why[512] = "";

	CHECK(json_is_object(args), "the arguments are not an object");
	if (cx_schema_validate(s, args, "arguments", why, sizeof(why)))
		CHECK(why[0] && utf8(why, strlen(why)), "a schema refusal without a UTF-8 reason");
}

struct param {
	char *key, *value; /* decoded; value NULL without '=' */
	size_t klen, vlen;
};

/* As libmicrohttpd: '+' is a space, then %XX (MHD_http_unescape, in place); the length. */
static size_t unescape(char *s)
{
	for (char *c = s; *c; c++)
		if (*c == '+')
			*c = ' ';
	return MHD_http_unescape(s);
}

/* Splits q (modified) into up to PARAMS_MAX parameters as libmicrohttpd does: at '&' (an
 * empty last piece is none), each at its first '='. */
static size_t split_query(char *q, struct param *out)
{
	size_t n = 0;

	while (q && *q && n < PARAMS_MAX) {
		char *amp = strchr(q, '&'), *eq;

		if (amp)
			*amp = '\0';
		eq = strchr(q, '=');
		if (eq)
			*eq = '\0';
		out[n].key = q;
		out[n].klen = unescape(q);
		out[n].value = eq ? eq + 1 : NULL;
		out[n].vlen = eq ? unescape(eq + 1) : 0;
		n++;
		q = amp ? amp + 1 : NULL;
	}
	return n;
}

/* The arguments from params, or NULL when one was refused (its reason checked). */
static json_t *query_args(const struct param *p, size_t n)
{
	json_t *args = json_object();
	char msg[160];

	CHECK(args, "out of memory");
	for (size_t i = 0; i < n; i++) {
		msg[0] = '\0';
		if (cx_rest_query_arg(args, tasks_props, p[i].key, p[i].klen, p[i].value, p[i].vlen,
				      msg, sizeof(msg))) {
			CHECK(msg[0] && utf8(msg, strlen(msg)), "a refused parameter without a "
								"UTF-8 reason");
			json_decref(args);
			return NULL;
		}
	}
	return args;
}

/* s (len bytes) percent-encoded as a client would send it: every byte but A-Za-z0-9-._~. */
static char *encode(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(len * 3 + 1), *o = out;

	CHECK(out, "out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The decoded parameters encoded again and read back: the same arguments. */
static void query_round_trip(const struct param *p, size_t n, const json_t *args)
{
	size_t cap = 1, len = 0;
	char *q, *k, *v;
	int w;
	struct param again[PARAMS_MAX];
	json_t *back;

	for (size_t i = 0; i < n; i++)
		cap += p[i].klen * 3 + p[i].vlen * 3 + 2;
	q = malloc(cap);
	CHECK(q, "out of memory");
	q[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		k = encode(p[i].key, p[i].klen);
		v = p[i].value ? encode(p[i].value, p[i].vlen) : NULL;
		w = snprintf(q + len, cap - len, "%s%s%s%s", i ? "&" : "", k, v ? "=" : "",
			     v ? v : "");
		CHECK(w >= 0 && (size_t)w < cap - len, "the encoded query did not fit");
		len += (size_t)w;
		free(k);
		free(v);
	}
	/* an empty last piece is dropped, as MHD drops it: the same count only without one */
	if (n == split_query(q, again)) {
		back = query_args(again, n);
		CHECK(back && json_equal(back, args), "the query did not read back the same");
		json_decref(back);
	}
	free(q);
}

static void tasks_list(char *query)
{
	struct param p[PARAMS_MAX];
	size_t n = split_query(query, p);
	json_t *args = query_args(p, n);

	if (!args)
		return; /* a 400 */
	for (size_t i = 0; i < n; i++)
		CHECK(p[i].klen == strlen(p[i].key), "a name with a NUL byte was taken");
	query_round_trip(p, n, args);
	validate(schema_get_tasks, args);
	json_decref(args);
}

static void body_call(const struct cx_schema *s, const char *body, size_t len)
{
	char msg[512] = "";
	json_t *args = cx_rest_body_args(body, len, BODY_MAX, msg, sizeof(msg));

	if (!args) {
		CHECK(msg[0] && utf8(msg, strlen(msg)), "a refused body without a UTF-8 reason");
		return;
	}
	if (s)
		validate(s, args);
	else
		CHECK(json_is_object(args), "the arguments are not an object");
	json_decref(args);
}

static void route(const char *method, char *path, char *query, const char *body, size_t blen)
{
	struct cx_rest_route r;
	unsigned st = cx_rest_route(path, method, PARAM_MAX, &r);
	const char *tool;
	json_t *args;

	if (st) {
		CHECK(st >= 400 && st <= 405, "status %u", st);
		CHECK(r.status == st && r.msg && *r.msg, "an error without a message");
		if (st == 405)
			CHECK(r.allow && !cx_http_method_listed(r.allow, method),
			      "a 405 whose Allow lists %s", method);
		return;
	}
	CHECK(r.param && r.len < PARAM_MAX, "the parameter does not fit");
	CHECK(r.len == 0 || (r.param >= path && r.param + r.len <= path + strlen(path)),
	      "the parameter is not in the path");
	CHECK(utf8(r.param, r.len), "a path parameter that is not UTF-8 was routed");
	tool = cx_rest_tool(r.op, r.param);
	switch (r.op) {
	case CX_REST_OPENAPI:
	case CX_REST_TOOLS:
		CHECK(tool == NULL && r.len == 0, "a document route with a tool or a parameter");
		break;
	case CX_REST_TOOL:
		CHECK(tool && r.len > 0 && !memchr(r.param, '/', r.len) && !strcmp(method, "POST"),
		      "a tool route without a name");
		body_call(NULL, body, blen);
		break;
	case CX_REST_TASKS_NEW:
		CHECK(tool && !strcmp(tool, "cortex_create_task"), "POST /v1/tasks");
		body_call(schema_create, body, blen);
		break;
	case CX_REST_TASKS_LIST:
		CHECK(tool && !strcmp(tool, "cortex_get_tasks"), "GET /v1/tasks");
		tasks_list(query);
		break;
	case CX_REST_FEED:
		CHECK(tool && !strcmp(tool, "cortex_get_task_status") && r.len == 0 &&
			      !strcmp(method, "GET"),
		      "GET /v1/events");
		break;
	case CX_REST_TASK_GET:
	case CX_REST_TASK_EVENTS:
		CHECK(tool && !strcmp(tool, "cortex_get_task_status") && r.len > 0,
		      "a task route without an id");
		args = json_pack("{s:s%}", "id", r.param, r.len);
		CHECK(args, "the task's arguments could not be made");
		validate(schema_status, args);
		json_decref(args);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strndup(data, size), *nl, *sp, *target, *q = NULL, *copy;
	const char *body = "";
	size_t blen = 0, plen;
	struct cx_rest_route r1, r2;

	setup();
	nl = memchr(text, '\n', size);
	if (nl) {
		*nl = '\0';
		body = nl + 1;
		blen = size - (size_t)(nl + 1 - text);
	}
	sp = strchr(text, ' ');
	if (!sp)
		goto out;
	*sp = '\0';
	target = sp + 1;
	if (strncmp(target, "/v1/", 4))
		goto out;
	target += 4;
	if ((q = strchr(target, '?')))
		*q++ = '\0';
	plen = MHD_http_unescape(target);
	target[plen] = '\0';
	route(text, target, q, body, blen);
	/* the decoded path, encoded again, routes the same */
	copy = encode(target, strlen(target));
	MHD_http_unescape(copy);
	CHECK(!strcmp(copy, target), "the path did not decode back");
	cx_rest_route(target, text, PARAM_MAX, &r1);
	cx_rest_route(copy, text, PARAM_MAX, &r2);
	CHECK(r1.status == r2.status && (r1.status || (r1.op == r2.op && r1.len == r2.len)),
	      "the same path routed twice differently");
	free(copy);
out:
	free(text);
	return 0;
}
