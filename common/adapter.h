/* The adapter interface: one struct per adapter, one table of tools (curl's vtls backends,
 * Redis's command table). See docs/ADAPTERS.md. */
#ifndef CX_ADAPTER_H
#define CX_ADAPTER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "mcp.h"

/* Tool flags; annotations in tools/list follow them, and dispatch enforces policy on them. */
#define CX_READ_ONLY   (1u << 0) /* readOnlyHint: changes nothing */
#define CX_DESTRUCTIVE (1u << 1) /* destructiveHint: may delete or overwrite */
#define CX_IDEMPOTENT  (1u << 2) /* idempotentHint: repeating it changes nothing more */
#define CX_OPEN_WORLD  (1u << 3) /* openWorldHint: reaches a system outside the gateway */
#define CX_NONBLOCKING                                                                             \
	(1u << 4) /* never blocks (no I/O, no locks held long): dispatch may                       \
		   * run it on the transport thread instead of a worker */
#define CX_OPAQUE_SCHEMA                                                                           \
	(1u << 5) /* the input schema is published as written and not checked                      \
		   * by the gateway (keywords beyond common/schema.c's subset);                    \
		   * the handler validates its arguments itself */
/* Tasks (the io.modelcontextprotocol/tasks extension, 2026-07-28 revision): a client that
 * declares the extension gets a task id at once and polls tasks/get for the result. */
#define CX_TASK_OPTIONAL                                                                           \
	(1u << 6) /* runs as a task for clients that support them, as an                           \
		   * ordinary call for the others */
#define CX_TASK_REQUIRED                                                                           \
	(1u << 7) /* runs only as a task: clients without the extension get                        \
		   * -32021 */
#define CX_TASK_LATE                                                                               \
	(1u << 8) /* with one of the above: the call starts as an ordinary                         \
		   * one (it may gather input over input-required rounds)                          \
		   * and becomes a task when the handler calls                                     \
		   * cx_call_become_task() */

struct cx_call_channel; /* the gateway's side of a call; opaque to adapters */

/* What a handler knows about the call it serves. Valid for the duration of the call. */
struct cx_call {
	const char *tool;             /* full tool name (or the resource URI, prompt name) */
	const char *caller;           /* token name, "stdio" or "anonymous" */
	void *state;                  /* the adapter's state from init() */
	int64_t deadline_ms;          /* cx_now_ms() value after which the call is abandoned */
	atomic_bool *cancelled;       /* set when the deadline passes or the client cancels */
	struct cx_call_channel *chan; /* talks back to the client; NULL: nobody listens */
};

/* True once the call is cancelled or past its deadline: stop and return promptly. */
bool cx_call_cancelled(const struct cx_call *call);
/* Milliseconds left before the deadline (0 when past it). */
long cx_call_remaining_ms(const struct cx_call *call);

/* Talking to the client while the call runs (gateway/channel.c). Each is a no-op returning 0
 * when the client cannot hear it: no channel, no progress token, a log level that filters
 * the message out. They send on the call's own stream (the POST's SSE stream, or stdout). */

/* notifications/progress, when the request carried _meta.progressToken. total <= 0: unknown.
 * message may be NULL. */
int cx_call_progress(struct cx_call *call, double progress, double total, const char *message);
/* notifications/message at an RFC 5424 level name ("debug", "info", "notice", "warning",
 * "error", "critical", "alert", "emergency"), if the session's logging/setLevel allows it.
 * logger may be NULL. Steals data. */
int cx_call_log(struct cx_call *call, const char *level, const char *logger, json_t *data);
/* True when the client declared the capability ("sampling", "elicitation", "roots") at
 * initialize. */
bool cx_call_client_can(const struct cx_call *call, const char *capability);
/* A request to the client in the middle of the call (sampling/createMessage,
 * elicitation/create, roots/list): sent on the call's stream; waits for the client's answer
 * until the call's deadline or cancellation. Steals params. 0 with *result (new reference),
 * or -1 with err saying why (no channel, client lacks the capability, client error, timed
 * out, cancelled). */
int cx_call_request(struct cx_call *call, const char *method, json_t *params, json_t **result,
		    struct cx_err *err);
/* The same with a key naming the request. In the stateless revision (2026-07-28) there is no
 * live channel: the first time, the request is recorded and the call fails with err; the
 * gateway answers the client with an input-required result listing every recorded request,
 * and the client calls again with its answers under these keys, when the same code finds
 * them. A call that needs several answers asks for all of them before returning. Without a
 * key, requests are named r1, r2 ... in the order they are made. */
int cx_call_ask(struct cx_call *call, const char *key, const char *method, json_t *params,
		json_t **result, struct cx_err *err);

/* A CX_TASK_LATE call becomes a task here: the client gets its task id now, and whatever the
 * handler returns later goes to tasks/get. Call it before the long part of the work. A no-op
 * for calls that are not running as a possible task (other clients, other tools). */
void cx_call_become_task(struct cx_call *call);

struct cx_async_req; /* http_async.h */
struct cx_http_resp; /* http_client.h */

/* A tool's fast path, for a tool whose answer is one backend request (common/http_async.h):
 * no worker waits for the backend. Optional; the tool's call stays the ordinary path, and
 * either hook may send the call there by returning CX_ASYNC_BLOCKING (a login to make first,
 * an answer that needs another request). */
#define CX_ASYNC_BLOCKING 1
struct cx_tool_async {
	/* On the transport thread, and so it must not block or touch the backend: fills ar for
	 * args (already valid). 0, or CX_ASYNC_BLOCKING. */
	int (*begin)(const struct cx_call *call, const json_t *args, struct cx_async_req *ar);
	/* On the backend I/O loop's thread, and so it must not block either: the answer (rc, resp
	 * and err as cx_http_do returns them) made into res, as call would have. 0, -1 for an
	 * internal fault, or CX_ASYNC_BLOCKING (res left empty). */
	int (*end)(const struct cx_call *call, const json_t *args, const struct cx_async_req *ar,
		   int rc, struct cx_http_resp *resp, const struct cx_err *err,
		   struct cx_result *res);
};

struct cx_tool {
	const char *name; /* "proxmox_list_vms"; must start with the adapter's name + '_' */
	/* 0 with res filled (res->is_error for backend failures the model should read);
	 * -1 only for internal faults such as out of memory (becomes JSON-RPC -32603).
	 * args is borrowed and already valid against the input schema. */
	int (*call)(struct cx_call *call, const json_t *args, struct cx_result *res);
	unsigned flags;
	const struct cx_tool_async *async; /* the fast path, or NULL */
};

/* Tells clients subscribed to uri (resources/subscribe) that it changed: the gateway sends
 * them notifications/resources/updated. Any thread, any time after start-up. */
void cx_resource_updated(const char *uri);

/* Withdraws a tool from tools/list (available false) or restores it, when the adapter finds
 * the backend feature it needs gone or back (a cluster without Ceph, an API version). Clients
 * are told with notifications/tools/list_changed; calls to a withdrawn tool are refused as
 * unknown. 0, or -1 for a tool that does not exist. Any thread, after start-up. */
int cx_tool_set_available(const char *tool, bool available);
/* The same for a resource (by URI) or resource template (by uriTemplate), announced with
 * notifications/resources/list_changed, and for a prompt (notifications/prompts/list_changed). */
int cx_resource_set_available(const char *uri, bool available);
int cx_prompt_set_available(const char *name, bool available);

/* Resources, prompts and completions: optional. Each runs on a worker like a tool call, with a
 * struct cx_call for deadline, cancellation and the client channel. Answers are MCP result
 * objects; "not found" is CX_NOT_FOUND with err saying what was missing (-32002 for resources,
 * -32602 for prompts); other failures -1 (-32603). */
#define CX_NOT_FOUND (-2)

struct cx_adapter {
	const char *name;            /* config key and tool-name prefix */
	const char *tools_json;      /* tools.json: [{name, description, inputSchema, ...}] */
	const struct cx_tool *tools; /* ends with an entry whose name is NULL */
	/* Tool names need not start with the adapter's name: only for fixture adapters whose
	 * names are fixed by someone else (the MCP conformance suites). */
	bool free_tool_names;

	/* {"resources": [Resource...], "resourceTemplates": [ResourceTemplate...]}; URIs and
	 * templates must be unique across adapters. NULL: no resources. */
	const char *resources_json;
	/* *result = ReadResourceResult {"contents": [...]} (new reference). */
	int (*read_resource)(struct cx_call *call, const char *uri, json_t **result,
			     struct cx_err *err);
	/* [Prompt...] with name, description, arguments; names unique. NULL: no prompts. */
	const char *prompts_json;
	/* *result = GetPromptResult {"description"?, "messages": [...]}; args is an object of
	 * strings, required arguments already checked. */
	int (*get_prompt)(struct cx_call *call, const char *name, const json_t *args,
			  json_t **result, struct cx_err *err);
	/* completion/complete for one of this adapter's prompts or resource templates: ref is
	 * {"type": "ref/prompt", "name"} or {"type": "ref/resource", "uri"}; *values = array
	 * of strings (new reference; the gateway caps it at 100). Optional. */
	int (*complete)(struct cx_call *call, const json_t *ref, const char *argument,
			const char *value, const json_t *context, json_t **values,
			struct cx_err *err);

	/* conf is borrowed (the adapter's object from config, or an empty object). */
	int (*init)(const json_t *conf, void **state, struct cx_err *err);
	void (*cleanup)(void *state);                   /* optional */
	int (*health)(void *state, struct cx_err *err); /* optional; 0 healthy */
	/* What gateway_status shows of this adapter beside its health: an object with "tls" (how
	 * the backend's certificate is checked) and "warnings" (an array of sentences about a
	 * risky setting, insecure_skip_verify above all), both optional; new reference or NULL.
	 * Called on the transport thread: it must not block or touch the backend. Optional. */
	json_t *(*status)(void *state);
	/* For the few tools whose effect the configuration decides (a command allow-list that
	 * goes past read-only diagnostics, say): the tool's flags as configured, given the
	 * table's. Called once per tool after init(); only CX_READ_ONLY, CX_DESTRUCTIVE,
	 * CX_IDEMPOTENT and CX_OPEN_WORLD may change, and tools.json must then leave those
	 * annotations out (tools/list shows what this returns). Optional. */
	unsigned (*tool_flags)(void *state, const char *tool, unsigned flags);
	/* What the audit line records of a call's arguments, for tools whose arguments can hold
	 * secrets no key name gives away (a Kubernetes Secret inside a manifest, say): a new
	 * object standing for args (a digest, the kinds and names), or NULL to record args as
	 * usual (secret-looking keys are redacted either way). Runs on a worker. Optional. */
	json_t *(*audit_args)(const char *tool, const json_t *args);
	/* Gauges of the backend for the gateway's /metrics: an array of {"name", "help",
	 * "labels": {label: value}, "value": number}, samples of one name together (new
	 * reference; NULL: none now). Called on a scrape's own thread, never a worker's or the
	 * transport's, so it may read the backend (briefly: a scrape waits for it). Optional. */
	json_t *(*metrics)(void *state);
};

#endif
