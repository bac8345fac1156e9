/* The REST routes' request parsing (http_rest.c answers them): which operation a path and
 * method name, and the arguments of the one tool call each operation makes, from the path
 * parameter, the query parameters or the JSON body. Pure: no connection, no registry, so
 * tests/fuzz/fuzz_rest.c drives exactly what the routes run. */
#ifndef CX_REST_ROUTE_H
#define CX_REST_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum cx_rest_op {
	CX_REST_OPENAPI,     /* GET /v1/openapi.json */
	CX_REST_TOOLS,       /* GET /v1/tools */
	CX_REST_TOOL,        /* POST /v1/tools/{name} */
	CX_REST_TASKS_LIST,  /* GET /v1/tasks */
	CX_REST_TASKS_NEW,   /* POST /v1/tasks */
	CX_REST_TASK_GET,    /* GET /v1/tasks/{id} */
	CX_REST_TASK_EVENTS, /* GET /v1/tasks/{id}/events */
	CX_REST_FEED,        /* GET /v1/events: every task change (http_feed.c) */
};

struct cx_rest_route {
	unsigned status;   /* 0: routed to op; else the HTTP error status (404 or 405) */
	const char *allow; /* with a 405: the Allow header's methods */
	const char *msg;   /* with an error: what it says */
	enum cx_rest_op op;
	const char *param; /* the path parameter ({name}, {id}) within the path; "" when none */
	size_t len;        /* its length, less than param_max */
};

/* Routes path (what follows "/v1/", already percent-decoded) for method. A path parameter of
 * param_max bytes or more, or one that is not UTF-8, is 404. Returns r->status. */
unsigned cx_rest_route(const char *path, const char *method, size_t param_max,
		       struct cx_rest_route *r);

/* The tool an operation calls (name: the route's {name}, for CX_REST_TOOL): for the feed, the
 * one each of its reads calls; NULL for the two answered without one (openapi.json, the tool
 * list). */
const char *cx_rest_tool(enum cx_rest_op op, const char *name);

/* A body as a call's arguments: an object, or {} when empty. NULL when it is not a JSON object
 * (or is deeper or longer than max_bytes allows), with why it was refused in msg: a 400. */
json_t *cx_rest_body_args(const char *data, size_t len, size_t max_bytes, char *msg, size_t msglen);

/* One query parameter (already percent-decoded: key and value of klen and vlen bytes, value
 * NULL when the parameter had no '=') into args, typed as props (the tool's inputSchema
 * properties, may be NULL) says: an integer or a boolean when it reads as one, else the string
 * for the schema to judge. A repeated parameter: the last one wins. -1, with why in msg (a
 * 400), for a key or value holding a NUL byte (%00), which no argument may. */
int cx_rest_query_arg(json_t *args, const json_t *props, const char *key, size_t klen,
		      const char *value, size_t vlen, char *msg, size_t msglen);

#endif
