/* Dispatch of tool calls and adapter hooks: the one place a tool is looked up, checked
 * against the caller's policy and its input schema, given a deadline, run (inline for
 * CX_NONBLOCKING tools, else on the job queue), held to its output contract and audited.
 * tools/call enters through cx_dispatch_call; anything without JSON-RPC (REST routes, a local
 * command line, tests) through cx_dispatch_tool. */
#ifndef CX_DISPATCH_H
#define CX_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/audit.h"
#include "channel.h"
#include "config.h"
#include "exchange.h"
#include "jobs.h"
#include "registry.h"

struct cx_dispatch;

/* How tools flagged CX_TASK_OPTIONAL or CX_TASK_REQUIRED become tasks (gateway/tasks.c sets
 * it; dispatch does not know tasks). declared: the request may get a task. start: makes the
 * task and answers x, or returns -1 with why in msg (x not answered). */
struct cx_task_hook {
	void *ctx;
	bool (*declared)(const struct cx_exchange *x, const json_t *params);
	int (*start)(void *ctx, struct cx_exchange *x, const struct cx_reg_tool *rt, json_t *id,
		     json_t *params, json_t *args, json_t *responses, char *msg, size_t msglen);
};

/* key is the server key that seals the stateless revision's request state. All borrowed; they
 * outlive the dispatcher. */
struct cx_dispatch *cx_dispatch_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				    struct cx_jobs *jobs, const unsigned char *key);
void cx_dispatch_free(struct cx_dispatch *d);
void cx_dispatch_set_task_hook(struct cx_dispatch *d, const struct cx_task_hook *hook);

/* tools/call on x: params {name, arguments?}. Answers x exactly once. */
void cx_dispatch_call(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params);

/* A tool call without JSON-RPC. done is called exactly once, from this thread or a worker,
 * with the CallToolResult (borrowed; isError results included: refusals, schema errors,
 * deadlines) or, when there is none, with result NULL and a JSON-RPC error code and message
 * (-32602 unknown tool, -32603 internal fault). args (borrowed) may be NULL for {}. 0, or -1
 * on out of memory (done is not called). */
typedef void (*cx_tool_done_fn)(void *ctx, const json_t *result, int code, const char *msg);
int cx_dispatch_tool(struct cx_dispatch *d, const struct cx_principal *who, const char *name,
		     const json_t *args, cx_tool_done_fn done, void *ctx);
/* The same for a transport other than MCP: via ("rest"; static) is the audit line's "via". */
int cx_dispatch_tool_via(struct cx_dispatch *d, const struct cx_principal *who, const char *via,
			 const char *name, const json_t *args, cx_tool_done_fn done, void *ctx);

/* Queues an adapter hook (resources/read, prompts/get, completion/complete) for entry e. */
void cx_dispatch_hook(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
		      enum cx_job_kind kind, const struct cx_reg_entry *e, const char *name);

/* notifications/cancelled: cancels the caller's unanswered request request_id on x's session. */
void cx_dispatch_cancel(struct cx_dispatch *d, const struct cx_exchange *x,
			const json_t *request_id);

/* For gateway/tasks.c. Runs rt as a job answering on the task's own exchange tx (which must
 * outlive the job), with the client's answers so far (responses, stolen on every path) and its
 * own deadline; id, params and args are borrowed. -1 on out of memory (tx is not answered). */
int cx_dispatch_run_task(struct cx_dispatch *d, struct cx_exchange *tx,
			 const struct cx_reg_tool *rt, json_t *id, json_t *params, json_t *args,
			 json_t *responses, int64_t deadline_ms);
/* Cancels the unanswered job answering on tx, if any: the handler sees cx_call_cancelled()
 * and tx->reply() gets NULL. */
void cx_dispatch_cancel_task(struct cx_dispatch *d, const struct cx_exchange *tx);

#endif
