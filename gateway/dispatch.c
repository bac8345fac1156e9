/* Tool calls and adapter hooks from request to answer (see dispatch.h). Every tools/call that
 * names a known tool ends in cx_job_finish, which writes its one audit line: refusals and
 * schema errors through an inline job, CX_NONBLOCKING tools through an inline job that runs on
 * the submitting thread, tools with a fast path (struct cx_tool_async) through a job whose
 * backend request a backend I/O loop drives, everything else through a queued one. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/http_async.h"
#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/schema.h"
#include "../common/util.h"
#include "policy.h"
#include "reply.h"
#include "stateless.h"

struct cx_dispatch {
	const struct cx_gw_config *conf;
	struct cx_registry *reg;
	struct cx_jobs *jobs;
	const unsigned char *key;
	struct cx_task_hook task;
};

struct cx_dispatch *cx_dispatch_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				    struct cx_jobs *jobs, const unsigned char *key)
{
	struct cx_dispatch *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->conf = conf;
	d->reg = reg;
	d->jobs = jobs;
	d->key = key;
	return d;
}

void cx_dispatch_free(struct cx_dispatch *d)
{
	free(d);
}

void cx_dispatch_set_task_hook(struct cx_dispatch *d, const struct cx_task_hook *hook)
{
	d->task = *hook;
}

/* ---- tools ---- */

/* out serialized once, its structuredContent as the text block already holds it (cx_result
 * wrote it there): NULL when there is no such block, or out of memory. */
static char *result_text(const json_t *out, const json_t *structured, const json_t *stext,
			 size_t *len)
{
	if (!structured || !json_is_string(stext))
		return NULL;
	return cx_json_dumps_splice(out, structured, json_string_value(stext),
				    json_string_length(stext), len);
}

/* The output-size limit on out: its exact size is *text_len when text is there, else it is
 * written out only when the cheap bound passes the limit. NULL when out passes; else the
 * isError result to answer with (out released), or NULL with *oom. */
static json_t *over_limit(struct cx_dispatch *d, const struct cx_reg_tool *rt, json_t **out,
			  const char *text, size_t text_len, enum cx_audit_outcome *outcome,
			  char *detail, size_t detlen, bool *oom)
{
	size_t size = text_len, max = (size_t)d->conf->max_output_bytes;

	*oom = false;
	if (!text) {
		char *t;
		if (cx_json_size_bound(*out) <= max)
			return NULL;
		if (!(t = cx_json_dumps(*out, &size))) {
			*oom = true;
			return NULL;
		}
		free(t);
	}
	if (size <= max)
		return NULL;
	json_decref(*out);
	*out = NULL;
	*outcome = CX_AUDIT_IS_ERROR;
	snprintf(detail, detlen, "output of %zu bytes over the limit", size);
	return cx_error_result("'%s' produced %zu bytes of output, more than the gateway's limit "
			       "of %ld; narrow the request (filters, paging) and try again",
			       rt->name, size, d->conf->max_output_bytes);
}

/* The output contract: a tool with an outputSchema answers with structuredContent that
 * matches it. 0, or -1 with the isError result in *bad. */
static int check_structured(const struct cx_reg_tool *rt, const struct cx_result *res, json_t **bad,
			    enum cx_audit_outcome *outcome, char *detail, size_t detlen)
{
	char why[512];

	if (!rt->output || res->is_error)
		return 0;
	*outcome = CX_AUDIT_IS_ERROR;
	if (!res->structured) {
		cx_warn("tool '%s' declares outputSchema but returned no structuredContent",
			rt->name);
		snprintf(detail, detlen, "no structuredContent");
		*bad = cx_error_result("'%s' returned no structured result; this is a fault in the "
				       "gateway's adapter, not in the request",
				       rt->name);
		return -1;
	}
	if (cx_schema_validate(rt->output, res->structured, "structuredContent", why,
			       sizeof(why))) {
		cx_warn("tool '%s' broke its outputSchema: %s", rt->name, why);
		cx_fmt(detail, detlen, "output schema: %s", why);
		*bad = cx_error_result("'%s' returned a result that does not match its "
				       "outputSchema (%s); this is a fault in the gateway's "
				       "adapter, not in the request",
				       rt->name, why);
		return -1;
	}
	return 0;
}

/* Turns what a handler produced into the CallToolResult, enforcing the output contract.
 * Returns the result (new reference) or NULL on out of memory or a handler's fault; *outcome
 * and detail say which. *text: the result serialized, when it could be made once here (the
 * caller frees it), else NULL. */
static json_t *finish_result(struct cx_dispatch *d, const struct cx_reg_tool *rt, int rc,
			     struct cx_result *res, bool check_size, enum cx_audit_outcome *outcome,
			     char *detail, size_t detlen, char **text, size_t *text_len)
{
	bool is_error = res->is_error, oom; /* cx_result_take empties res */
	const json_t *structured = res->structured, *stext = res->structured_text;
	json_t *out, *bad = NULL;

	detail[0] = '\0';
	*text = NULL;
	*text_len = 0;
	if (rc) {
		*outcome = CX_AUDIT_ERROR;
		snprintf(detail, detlen, "internal fault in the handler");
		return NULL;
	}
	if (check_structured(rt, res, &bad, outcome, detail, detlen))
		return bad;
	out = cx_result_take(res);
	if (!out) {
		*outcome = CX_AUDIT_ERROR;
		snprintf(detail, detlen, "out of memory");
		return NULL;
	}
	*text = result_text(out, structured, stext, text_len);
	if (check_size &&
	    (bad = over_limit(d, rt, &out, *text, *text_len, outcome, detail, detlen, &oom),
	     bad || oom)) {
		free(*text);
		*text = NULL;
		if (oom) {
			json_decref(out);
			*outcome = CX_AUDIT_ERROR;
			snprintf(detail, detlen, "out of memory");
		}
		return bad;
	}
	*outcome = is_error ? CX_AUDIT_IS_ERROR : CX_AUDIT_OK;
	return out;
}

/* Answers a tool job with what its handler (or fast path) made of it: rc and res (released). */
static void answer_tool(struct cx_job *j, int rc, struct cx_result *res)
{
	struct cx_dispatch *d = j->owner;
	enum cx_audit_outcome outcome;
	char detail[512], *text;
	size_t text_len;
	json_t *out;

	if (j->queued && cx_job_overdue(j)) {
		cx_result_release(res);
		cx_job_answer_deadline(j);
		return;
	}
	if (cx_jobs_after_run_hook)
		cx_jobs_after_run_hook(j);
	if (cx_stateless_finish(j, d->key, d->conf->session_ttl_s, rc != 0 || res->is_error)) {
		cx_result_release(res);
		return;
	}
	out = finish_result(d, j->rt, rc, res, j->queued, &outcome, detail, sizeof(detail), &text,
			    &text_len);
	cx_result_release(res);
	cx_reply_offer(out, text, text_len);
	cx_job_finish(j, out, NULL, outcome, detail);
	cx_reply_withdraw();
}

/* Runs a tool job: on a worker, or inline for CX_NONBLOCKING tools (no deadline check, no
 * output-size check, no channel). */
static void run_tool(struct cx_job *j, struct cx_call *call)
{
	struct cx_result res;
	int rc;

	cx_result_init(&res);
	rc = j->rt->tool->call(call, j->args, &res);
	answer_tool(j, rc, &res);
}

/* Answers a tools/call that is not run (refused, invalid, no task) through an inline job, so
 * it is audited and answered by the same code as every other call. Steals result (or
 * e->data). */
static void answer_unrun(struct cx_dispatch *d, struct cx_exchange *x, json_t *id,
			 const struct cx_reg_tool *rt, json_t *args, int64_t start, json_t *result,
			 struct cx_job_error *e, enum cx_audit_outcome outcome, const char *detail)
{
	struct cx_job j;

	cx_job_init_inline(&j, d->jobs, x, rt->name, id, start);
	j.rt = rt;
	j.args = json_incref(args);
	cx_job_finish(&j, result, e, outcome, detail);
	cx_job_release(&j);
}

static void run_inline(struct cx_dispatch *d, struct cx_exchange *x, json_t *id,
		       const struct cx_reg_tool *rt, json_t *args, int64_t start)
{
	atomic_bool never = false;
	struct cx_job j;
	struct cx_call call = {
		.tool = rt->name,
		.caller = x->who->name,
		.state = rt->state,
		.deadline_ms = start + d->conf->call_timeout_ms,
		.cancelled = &never,
	};

	cx_job_init_inline(&j, d->jobs, x, rt->name, id, start);
	j.owner = d;
	j.rt = rt;
	j.args = json_incref(args);
	run_tool(&j, &call);
	cx_job_release(&j);
}

/* A queued job for rt with the client's answers so far (responses: stolen on every path).
 * NULL on out of memory. */
static struct cx_job *tool_job_new(struct cx_dispatch *d, struct cx_exchange *x,
				   const struct cx_reg_tool *rt, json_t *id, json_t *params,
				   json_t *args, json_t *responses, int64_t start)
{
	struct cx_job *j = cx_job_new(d->jobs, x, CX_JOB_TOOL, rt->name, id, params, start);

	if (!j) {
		json_decref(responses);
		return NULL;
	}
	cx_channel_set_responses(&j->chan, responses);
	j->run = run_tool;
	j->owner = d;
	j->rt = rt;
	j->state = rt->state;
	j->args = json_incref(args);
	return j;
}

static void enqueue_tool(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
			 const struct cx_reg_tool *rt, json_t *args, int64_t start)
{
	json_t *responses = NULL;
	struct cx_job *j;

	if (x->stateless &&
	    cx_stateless_inputs(d->key, x, id, params, CX_JOB_TOOL, rt->name, &responses))
		return;
	j = tool_job_new(d, x, rt, id, params, args, responses, start);
	if (!j) {
		answer_unrun(d, x, id, rt, args, start, NULL,
			     &(struct cx_job_error){ .message = "internal error: out of memory" },
			     CX_AUDIT_ERROR, "out of memory");
		return;
	}
	cx_jobs_enqueue(d->jobs, j);
}

/* ---- the fast path: a tool's backend request on a backend I/O loop ---- */

struct fast_call {
	struct cx_job *j;
	struct cx_call call; /* the job's deadline and cancelled flag, for the request */
	struct cx_async_req ar;
};

/* On the loop's thread: the tool makes its result of the answer, or has a worker run
 * the call after all. */
static void fast_done(void *arg, int rc, struct cx_http_resp *resp, const struct cx_err *err)
{
	struct fast_call *f = arg;
	struct cx_job *j = f->j;
	struct cx_result res;
	int r;

	cx_result_init(&res);
	r = j->rt->tool->async->end(&f->call, j->args, &f->ar, rc, resp, err, &res);
	if (r == CX_ASYNC_BLOCKING) {
		cx_result_release(&res);
		cx_jobs_async_requeue(j->pool, j);
	} else {
		answer_tool(j, r, &res);
		cx_jobs_async_end(j->pool, j);
	}
	free(f);
}

/* Starts rt's fast path for the call; false when it has none for this call (run it as usual). */
static bool start_fast(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
		       const struct cx_reg_tool *rt, json_t *args, int64_t start)
{
	struct fast_call *f = calloc(1, sizeof(*f));
	struct cx_err err = { 0 };
	json_t *responses = NULL;

	if (!f)
		return false;
	f->call = (struct cx_call){ .tool = rt->name, .caller = x->who->name, .state = rt->state };
	if (rt->tool->async->begin(&f->call, args, &f->ar)) {
		free(f);
		return false;
	}
	/* A stateless request's state is checked as for any call (the tool asks nothing). */
	if (x->stateless &&
	    cx_stateless_inputs(d->key, x, id, params, CX_JOB_TOOL, rt->name, &responses)) {
		free(f);
		return true;
	}
	if (!(f->j = tool_job_new(d, x, rt, id, params, args, responses, start))) {
		free(f);
		return false;
	}
	f->call.deadline_ms = f->j->deadline_ms;
	f->call.cancelled = &f->j->cancelled;
	if (!cx_jobs_async_begin(d->jobs, f->j)) {
		free(f);
		return true;
	}
	if (cx_http_do_async(f->ar.client, &f->call, f->ar.timeout_ms, &f->ar.req, fast_done, f,
			     &err)) {
		/* A worker runs it, and meets the same trouble if it lasts. */
		cx_debug("'%s' runs on a worker: %s", rt->name, err.msg);
		cx_jobs_async_requeue(d->jobs, f->j);
		free(f);
	}
	return true;
}

/* A call to a tool that may run as a task. True when it was answered here. */
static bool dispatch_task(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
			  const struct cx_reg_tool *rt, json_t *args, int64_t start)
{
	json_t *responses = NULL;
	char why[300];

	if (d->task.declared && d->task.declared(x, params)) {
		if (cx_stateless_inputs(d->key, x, id, params, CX_JOB_TOOL, rt->name, &responses))
			return true;
		if (!d->task.start(d->task.ctx, x, rt, id, params, args, responses, why,
				   sizeof(why)))
			return true;
		answer_unrun(d, x, id, rt, args, start,
			     cx_error_result("'%s' was not run: %s", rt->name, why), NULL,
			     CX_AUDIT_REFUSED, why);
		return true;
	}
	if (!(rt->tool->flags & CX_TASK_REQUIRED))
		return false;
	answer_unrun(d, x, id, rt, args, start, NULL,
		     &(struct cx_job_error){
			     .code = CX_RPC_MISSING_CAPABILITY,
			     .message = "this tool runs only as a task; declare '" CX_TASKS_EXT
					"' in the client capabilities' extensions",
			     .data = json_pack("{s:{s:{s:{}}}}", "requiredCapabilities",
					       "extensions", CX_TASKS_EXT),
			     .http_status = x->stateless ? 400 : 0,
		     },
		     CX_AUDIT_REFUSED, "missing client capability");
	return true;
}

/* The one path of a tool call once its name and arguments are known (args: an object). */
static void dispatch_tool(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
			  const char *name, json_t *args)
{
	const struct cx_reg_tool *rt = cx_registry_find_tool(d->reg, name);
	int64_t start = cx_now_ms();
	char why[512];

	if (!rt) {
		char msg[256];
		cx_fmt(msg, sizeof(msg),
		       "unknown tool '%.128s'; tools/list names the tools this "
		       "gateway offers",
		       name);
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
		return;
	}
	if (!cx_policy_allows(x->who, rt, why, sizeof(why))) {
		answer_unrun(d, x, id, rt, args, start,
			     cx_error_result("%s; ask an operator for a token that allows it", why),
			     NULL, CX_AUDIT_REFUSED, why);
		return;
	}
	if (cx_schema_validate(rt->input, args, "arguments", why, sizeof(why))) {
		answer_unrun(d, x, id, rt, args, start,
			     cx_error_result("invalid arguments for '%s': %s", name, why), NULL,
			     CX_AUDIT_IS_ERROR, why);
		return;
	}
	if ((rt->tool->flags & (CX_TASK_OPTIONAL | CX_TASK_REQUIRED)) &&
	    dispatch_task(d, x, id, params, rt, args, start))
		return;
	if (rt->tool->flags & CX_NONBLOCKING)
		run_inline(d, x, id, rt, args, start);
	else if (!rt->tool->async || !start_fast(d, x, id, params, rt, args, start))
		enqueue_tool(d, x, id, params, rt, args, start);
}

void cx_dispatch_call(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	json_t *empty = NULL;

	if (!json_is_object(params) || !name) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: tools/call needs params.name (a string)");
		return;
	}
	if (args && !json_is_object(args) && !json_is_null(args)) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: arguments must be an object");
		return;
	}
	if (!args || json_is_null(args)) {
		args = empty = json_object();
		if (!args) {
			cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR,
				       "internal error: out of memory");
			return;
		}
	}
	dispatch_tool(d, x, id, params, name, args);
	json_decref(empty);
}

/* ---- tool calls without JSON-RPC ---- */

struct direct_call {
	struct cx_exchange x; /* first: direct_reply recovers the struct */
	struct cx_session session;
	cx_tool_done_fn done;
	void *ctx;
};

static void direct_reply(struct cx_exchange *x, json_t *response)
{
	struct direct_call *c = (struct direct_call *)x;
	const json_t *result = json_object_get(response, "result");
	const json_t *error = json_object_get(response, "error");

	if (result)
		c->done(c->ctx, result, 0, NULL);
	else if (error)
		c->done(c->ctx, NULL, (int)json_integer_value(json_object_get(error, "code")),
			json_string_value(json_object_get(error, "message")));
	else
		c->done(c->ctx, NULL, CX_RPC_INTERNAL_ERROR, "the call was cancelled");
	json_decref(response);
	cx_session_release(&c->session);
	free(c);
}

int cx_dispatch_tool(struct cx_dispatch *d, const struct cx_principal *who, const char *name,
		     const json_t *args, cx_tool_done_fn done, void *ctx)
{
	return cx_dispatch_tool_via(d, who, NULL, name, args, done, ctx);
}

int cx_dispatch_tool_via(struct cx_dispatch *d, const struct cx_principal *who, const char *via,
			 const char *name, const json_t *args, cx_tool_done_fn done, void *ctx)
{
	struct direct_call *c = calloc(1, sizeof(*c));
	json_t *params;

	if (!c)
		return -1;
	params = json_pack("{s:s, s:o}", "name", name, "arguments",
			   args ? json_incref((json_t *)args) : json_object());
	if (!params) {
		free(c);
		return -1;
	}
	cx_session_init(&c->session);
	c->x.who = who;
	c->x.via = via;
	c->x.session = &c->session;
	c->x.initialized = true;
	c->x.reply = direct_reply;
	c->done = done;
	c->ctx = ctx;
	cx_dispatch_call(d, &c->x, NULL, params);
	json_decref(params);
	return 0;
}

/* ---- adapter hooks ---- */

/* Completion values are capped at 100, as the specification asks. Steals values. */
static json_t *completion_result(json_t *values)
{
	size_t n = json_array_size(values);
	json_t *page = json_array(), *v;
	size_t i;

	if (!page) {
		json_decref(values);
		return NULL;
	}
	json_array_foreach(values, i, v) {
		if (i == 100)
			break;
		if (json_is_string(v))
			json_array_append(page, v);
	}
	json_decref(values);
	return json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", page, "total",
			 (json_int_t)n, "hasMore", n > 100);
}

/* Calls the adapter's hook for j; 0, CX_NOT_FOUND or -1 as the hook returned. */
static int call_hook(struct cx_job *j, struct cx_call *call, json_t **result, struct cx_err *err)
{
	const json_t *p = j->params;

	switch (j->kind) {
	case CX_JOB_READ:
		return j->adapter->read_resource(call, j->name, result, err);
	case CX_JOB_PROMPT: {
		const json_t *args = json_object_get(p, "arguments");
		json_t *empty = args ? NULL : json_object();
		int rc = j->adapter->get_prompt(call, j->name, args ? args : empty, result, err);
		json_decref(empty);
		return rc;
	}
	case CX_JOB_COMPLETE: {
		const json_t *arg = json_object_get(p, "argument");
		json_t *values = NULL;
		int rc = j->adapter->complete(call, json_object_get(p, "ref"),
					      json_string_value(json_object_get(arg, "name")),
					      json_string_value(json_object_get(arg, "value")),
					      json_object_get(p, "context"), &values, err);
		if (!rc)
			*result = values ? completion_result(values) : NULL;
		return rc;
	}
	case CX_JOB_TOOL:
		break;
	}
	return -1;
}

static void run_hook(struct cx_job *j, struct cx_call *call)
{
	struct cx_dispatch *d = j->owner;
	struct cx_err err = { 0 };
	json_t *result = NULL;
	int rc = call_hook(j, call, &result, &err);

	if (cx_job_overdue(j)) {
		json_decref(result);
		cx_job_answer_deadline(j);
		return;
	}
	if (cx_jobs_after_run_hook)
		cx_jobs_after_run_hook(j);
	if (cx_stateless_finish(j, d->key, d->conf->session_ttl_s, rc != 0)) {
		json_decref(result);
		return;
	}
	if (rc == 0 && json_is_object(result)) {
		cx_job_finish(j,
			      j->kind == CX_JOB_READ ? cx_cacheable(j->stateless, result) : result,
			      NULL, CX_AUDIT_OK, NULL);
		return;
	}
	json_decref(result);
	if (rc == CX_NOT_FOUND) {
		bool res = j->kind == CX_JOB_READ;
		/* -32002 until 2025-11-25; the stateless revision uses invalid params. */
		cx_job_finish(j, NULL,
			      &(struct cx_job_error){
				      .code = res && !j->stateless ? CX_RPC_RESOURCE_NOT_FOUND
								   : CX_RPC_INVALID_PARAMS,
				      .message = err.msg[0] ? err.msg : "not found",
				      .data = res ? json_pack("{s:s}", "uri", j->name) : NULL,
			      },
			      CX_AUDIT_ERROR, NULL);
		return;
	}
	if (rc == 0)
		cx_warn("adapter '%s' answered '%s' with something that is not an object",
			j->adapter->name, j->name);
	else if (err.msg[0])
		cx_warn("adapter '%s' failed on '%s': %s", j->adapter->name, j->name, err.msg);
	cx_job_finish(j, NULL, &(struct cx_job_error){ .message = err.msg[0] ? err.msg : NULL },
		      CX_AUDIT_ERROR, NULL);
}

void cx_dispatch_hook(struct cx_dispatch *d, struct cx_exchange *x, json_t *id, json_t *params,
		      enum cx_job_kind kind, const struct cx_reg_entry *e, const char *name)
{
	json_t *responses = NULL;
	struct cx_job *j;

	if (x->stateless && cx_stateless_inputs(d->key, x, id, params, kind, name, &responses))
		return;
	j = cx_job_new(d->jobs, x, kind, name, id, params, cx_now_ms());
	if (!j) {
		json_decref(responses);
		cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	cx_channel_set_responses(&j->chan, responses);
	j->run = run_hook;
	j->owner = d;
	j->adapter = e->adapter;
	j->state = e->state;
	cx_jobs_enqueue(d->jobs, j);
}

/* ---- cancellation and tasks ---- */

struct request_key {
	const char *fp;
	const struct cx_principal *who;
	const json_t *id;
};

/* The same session, the same principal, the same JSON-RPC id. */
static bool is_request(const struct cx_job *j, const void *key)
{
	const struct request_key *k = key;

	return !strcmp(j->cancel_key, k->fp) && j->who == k->who && j->id &&
	       json_equal(j->id, (json_t *)k->id);
}

void cx_dispatch_cancel(struct cx_dispatch *d, const struct cx_exchange *x,
			const json_t *request_id)
{
	struct request_key k = { cx_exchange_fp(x), x->who, request_id };

	if (request_id)
		cx_jobs_cancel(d->jobs, is_request, &k, "cancelled by the client");
}

int cx_dispatch_run_task(struct cx_dispatch *d, struct cx_exchange *tx,
			 const struct cx_reg_tool *rt, json_t *id, json_t *params, json_t *args,
			 json_t *responses, int64_t deadline_ms)
{
	struct cx_job *j = tool_job_new(d, tx, rt, id, params, args, responses, cx_now_ms());

	if (!j)
		return -1;
	j->deadline_ms = j->chan.deadline_ms = deadline_ms;
	cx_jobs_enqueue(d->jobs, j);
	return 0;
}

static bool answers_on(const struct cx_job *j, const void *tx)
{
	return j->x == tx;
}

void cx_dispatch_cancel_task(struct cx_dispatch *d, const struct cx_exchange *tx)
{
	cx_jobs_cancel(d->jobs, answers_on, tx, "task cancelled by the client");
}
