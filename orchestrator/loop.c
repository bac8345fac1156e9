/* One task's LLM tool-use loop. The conversation lives in the task (metadata.state) after
 * every step, so a task held for approval, released at shutdown or orphaned by a crash goes
 * on from its last step when a worker claims it again. */
#include "orch.h"

#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"

#define WAITS_KEPT 50

enum step {
	STEP_ON,       /* ask the model again */
	STEP_FINISHED, /* the task is finished, held or handed over: nothing more to do */
	STEP_STOPPED,  /* cancelled, lease lost or shutting down */
};

struct run {
	struct orch_worker *w;
	struct orch_master *m;
	const char *id;
	json_t *task, *messages, *tools, *ann, *pending, *tools_used;
	json_t *calls; /* state.calls: each call made through the gateway, with its timing */
	long iterations, tokens_in, tokens_out;
	bool made_children; /* a cortex_create_task call succeeded: look for children at the end */
	bool paused;        /* the last reply was pause_turn: the conversation goes back as it is */
	int64_t deadline;
	const char *model;
	char last_tool[128];
	struct cx_call call;
};

static _Thread_local struct run *current;
static void progress(struct run *r, const char *action, bool save);

/* A retry wait or a fallback: recorded, and shown as the task's current action while the
 * worker waits (a person sees why it is quiet, and may cancel it meanwhile). */
void orch_llm_event(void *arg, const struct cx_llm_event *ev)
{
	struct run *r = current;
	struct orch_worker *w = r ? r->w : NULL;
	char at[32], action[200];

	if (w == NULL || w->waits == NULL)
		return;
	cx_wall_iso8601(at, sizeof(at));
	if (json_array_size(w->waits) < WAITS_KEPT)
		json_array_append_new(w->waits,
				      json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:s?}", "at",
						at, "kind",
						ev->kind == CX_LLM_EV_RETRY ? "retry" : "fallback",
						"model", ev->model, "attempt", ev->attempt,
						"status", (json_int_t)ev->status, "wait_ms",
						(json_int_t)ev->wait_ms, "basis", ev->basis,
						"reason", ev->reason));
	if (ev->kind == CX_LLM_EV_RETRY)
		cx_fmt(action, sizeof(action), "waiting %ld ms to retry model %s (status %ld)",
		       (long)ev->wait_ms, ev->model ? ev->model : "?", (long)ev->status);
	else
		cx_fmt(action, sizeof(action), "model %s failed; asking the next one",
		       ev->model ? ev->model : "?");
	progress(r, action, false);
}

static json_t *state_of(const struct run *r)
{
	return json_pack("{s:O, s:O, s:I, s:I, s:I, s:b, s:b, s:O}", "messages", r->messages,
			 "pending", r->pending, "iterations", (json_int_t)r->iterations,
			 "tokens_in", (json_int_t)r->tokens_in, "tokens_out",
			 (json_int_t)r->tokens_out, "made_children", r->made_children, "paused",
			 r->paused, "calls", r->calls);
}

static json_t *progress_new(const struct run *r, const char *action)
{
	/* copies: the heartbeat thread may write it while this worker goes on */
	json_t *p =
		json_pack("{s:I, s:o, s:s?, s:s?, s:I, s:I, s:o}", "iterations",
			  (json_int_t)r->iterations, "tools_used", json_deep_copy(r->tools_used),
			  "current_action", action, "model", r->model, "tokens_in",
			  (json_int_t)r->tokens_in, "tokens_out", (json_int_t)r->tokens_out,
			  "llm_waits", r->w->waits ? json_deep_copy(r->w->waits) : json_array());

	if (p && r->last_tool[0])
		json_object_set_new(p, "last_tool_used", json_string(r->last_tool));
	return p;
}

/* Progress into the task (with the conversation when save), written with the worker's next
 * heartbeat: a step costs no write of its own, and what a person sees is at most heartbeat_ms
 * old. A lost lease or a cancellation reaches the loop through the heartbeat's flags. */
static void progress(struct run *r, const char *action, bool save)
{
	json_t *st = save ? state_of(r) : NULL, *copy = NULL;

	if (st) { /* its own copy: the conversation grows on this thread meanwhile */
		copy = json_deep_copy(st);
		json_decref(st);
	}
	orch_worker_defer(r->w, progress_new(r, action), copy);
}

/* Progress and the conversation written now (before a release, after approved calls ran).
 * false when the task is no longer this worker's. */
static bool progress_now(struct run *r, const char *action)
{
	json_t *p = progress_new(r, action), *st = state_of(r);
	struct cx_err err = { 0 };
	int rc;

	orch_worker_discard(r->w);
	rc = cx_task_progress(r->w->o->store, r->id, r->w->id, p, st, &err);
	json_decref(p);
	json_decref(st);
	if (rc < 0)
		cx_warn("task '%s': progress not saved: %s", r->id, err.msg);
	if (rc == 1)
		atomic_store(&r->w->lease_lost, true);
	return rc != 1;
}

/* The result, with the last step's counts and the whole conversation, in one write. */
static void finish(struct run *r, const char *status, json_t *result)
{
	json_t *p = progress_new(r, NULL), *st = state_of(r);
	struct cx_err err = { 0 };
	int rc;

	orch_worker_discard(r->w);
	rc = cx_task_finish_with(r->w->o->store, r->id, r->w->id, status, p, st, result, &err);
	if (rc < 0)
		cx_warn("task '%s': could not be finished as %s: %s", r->id, status, err.msg);
	else if (rc == 1)
		cx_warn("task '%s': no longer held by %s; its result is dropped", r->id, r->w->id);
	else
		cx_info("task '%s' %s (%s, %ld iterations)", r->id, status, r->m->name,
			r->iterations);
	json_decref(p);
	json_decref(st);
	json_decref(result);
}

static json_t *result_new(const struct run *r, const char *summary, const char *details)
{
	char sum[301];
	size_t n = strcspn(summary, "\n");

	cx_fmt(sum, sizeof(sum), "%.*s", (int)(n < 300 ? n : 300), summary);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O, s:s?}", "summary", sum, "details",
			 details, "master", r->m->name, "iterations", (json_int_t)r->iterations,
			 "tokens_in", (json_int_t)r->tokens_in, "tokens_out",
			 (json_int_t)r->tokens_out, "tools_used", r->tools_used, "model", r->model);
}

static enum step fail(struct run *r, const char *why)
{
	json_t *res = result_new(r, why, why);

	json_object_set_new(res, "error", json_string(why));
	finish(r, "failed", res);
	return STEP_FINISHED;
}

/* Cancelled: finished as such. Lease lost: nothing (another worker has it). Shutdown: the
 * state is saved and the task given back. */
static enum step stopped(struct run *r)
{
	struct cx_err err = { 0 };

	if (atomic_load(&r->w->lease_lost)) {
		cx_warn("task '%s': %s lost its lease; stopping without a result", r->id, r->w->id);
	} else if (atomic_load(&r->w->cancelled)) {
		finish(r, "cancelled",
		       result_new(
			       r, "cancelled before it finished",
			       "the task was cancelled (cortex_cancel_task); the loop stopped at "
			       "its next step and the call in flight was cancelled"));
	} else {
		progress_now(r, "given back at shutdown");
		if (cx_task_release(r->w->o->store, r->id, r->w->id, &err) < 0)
			cx_warn("task '%s': release failed: %s", r->id, err.msg);
	}
	return STEP_STOPPED;
}

static enum step check_limits(struct run *r)
{
	char why[256];
	const struct orch_limits *l = &r->m->limits;

	if (r->iterations >= l->iterations)
		cx_fmt(why, sizeof(why),
		       "stopped: the model did not finish within %ld iterations (the %s master's "
		       "limits.iterations)",
		       l->iterations, r->m->name);
	else if (r->tokens_in + r->tokens_out >= l->tokens)
		cx_fmt(why, sizeof(why),
		       "stopped: %ld tokens used, the %s master's limit (limits.tokens) is %ld",
		       r->tokens_in + r->tokens_out, r->m->name, l->tokens);
	else if (cx_now_ms() >= r->deadline)
		cx_fmt(why, sizeof(why),
		       "stopped: the task ran past its wall-clock limit of %ld ms (the %s master's "
		       "limits.wall_clock_ms)",
		       l->wall_clock_ms, r->m->name);
	else
		return STEP_ON;
	return fail(r, why);
}

static void note_tool(struct run *r, const char *name)
{
	size_t i;
	json_t *t;

	cx_fmt(r->last_tool, sizeof(r->last_tool), "%s", name);
	json_array_foreach(r->tools_used, i, t) {
		if (!strcmp(json_string_value(t), name))
			return;
	}
	json_array_append_new(r->tools_used, json_string(name));
}

json_t *orch_children(struct orch *o, const char *id, bool *all_done)
{
	json_t *kids = NULL, *out = json_array(), *k;
	struct cx_err err = { 0 };
	size_t i;

	*all_done = true;
	if (cx_task_children(o->store, id, &kids, &err)) {
		*all_done = false;
		return out;
	}
	json_array_foreach(kids, i, k) {
		const char *st = json_string_value(json_object_get(k, "status"));
		json_t *res = json_object_get(k, "result");

		if (st && (!strcmp(st, "queued") || !strcmp(st, "in_progress") ||
			   !strcmp(st, "awaiting_approval")))
			*all_done = false;
		json_array_append_new(out, json_pack("{s:O, s:s?, s:O?}", "id",
						     json_object_get(k, "id"), "status", st,
						     "summary", json_object_get(res, "summary")));
	}
	json_decref(kids);
	return out;
}

/* The model is done: the task completes, or waits for the subtasks it created. */
static enum step done(struct run *r, const char *text)
{
	bool all_done = true;
	json_t *res = result_new(r, *text ? text : "(the model gave no text)", text);
	json_t *kids = r->made_children ? orch_children(r->w->o, r->id, &all_done) : NULL, *st;

	if (json_array_size(kids))
		json_object_set(res, "children", kids);
	json_decref(kids);
	if (all_done) {
		finish(r, "completed", res);
		return STEP_FINISHED;
	}
	st = state_of(r);
	json_object_set_new(st, "phase", json_string("children"));
	json_object_set(st, "result", res);
	kids = json_pack("{s:s}", "current_action", "waiting for its subtasks");
	orch_worker_discard(r->w);
	cx_task_progress(r->w->o->store, r->id, r->w->id, kids, st, NULL);
	json_decref(kids);
	json_decref(st);
	orch_wait_children(r->w->o, r->id, r->w->id, res);
	json_decref(res);
	return STEP_FINISHED;
}

static void why_held(const struct run *r, const char *tool, char *why, size_t len)
{
	const json_t *a = json_object_get(r->ann, tool);

	cx_fmt(why, len, "%s %s", tool,
	       json_is_true(json_object_get(a, "destructiveHint"))
		       ? "is destructive (destructiveHint)"
		       : "matches the master's require_approval patterns");
}

/* Holds the task for a person's decision on the reply's held calls, all at once: the first
 * one's tool, arguments and why, and every one of them under "calls". */
static enum step hold(struct run *r)
{
	json_t *pend = NULL, *calls = json_array(), *p, *st;
	struct cx_err err = { 0 };
	char why[256];
	size_t i;
	int rc;

	json_array_foreach(r->pending, i, p) {
		const char *tool = json_string_value(json_object_get(p, "name"));

		why_held(r, tool, why, sizeof(why));
		json_array_append_new(calls,
				      json_pack("{s:s, s:O, s:O, s:s}", "tool", tool, "arguments",
						json_object_get(p, "input"), "tool_use_id",
						json_object_get(p, "id"), "why", why));
	}
	p = json_array_get(calls, 0);
	pend = json_pack("{s:O, s:O, s:O, s:s, s:s, s:o}", "tool", json_object_get(p, "tool"),
			 "arguments", json_object_get(p, "arguments"), "tool_use_id",
			 json_object_get(p, "tool_use_id"), "why",
			 json_array_size(calls) > 1 ? "several calls need approval (see calls)"
						    : json_string_value(json_object_get(p, "why")),
			 "master", r->m->name, "calls", calls);
	progress_now(r, "waiting for approval");
	st = state_of(r);
	rc = cx_task_hold(r->w->o->store, r->id, r->w->id, pend, st, &err);
	json_decref(st);
	if (rc == 0)
		cx_info("task '%s' awaits approval of %zu call(s), the first %s", r->id,
			json_array_size(r->pending),
			json_string_value(json_object_get(pend, "tool")));
	json_decref(pend);
	if (rc < 0)
		return fail(r, err.msg);
	if (rc == 1)
		atomic_store(&r->w->lease_lost, true);
	return STEP_FINISHED;
}

static void add_result(struct run *r, const char *id, const char *name, const char *text,
		       bool is_error)
{
	note_tool(r, name);
	if (!is_error && !strcmp(name, "cortex_create_task"))
		r->made_children = true;
	cx_llm_add_tool_result(r->messages, id, text, is_error);
}

/* A reply's tool calls: the allowed ones run at once; those needing approval wait. */
static enum step run_tools(struct run *r, const struct cx_llm_reply *reply)
{
	struct orch_call calls[ORCH_CALLS_MAX];
	size_t n = 0, i;
	char msg[256];

	for (i = 0; i < reply->n_blocks; i++) {
		const struct cx_llm_block *b = &reply->blocks[i];

		if (b->kind != CX_LLM_TOOL_USE)
			continue;
		if (!orch_master_allows(r->m, b->name)) {
			cx_fmt(msg, sizeof(msg),
			       "tool '%s' is not available to the %s master; use one of the tools "
			       "you were given",
			       b->name, r->m->name);
			add_result(r, b->id, b->name, msg, true);
		} else if (orch_master_needs_approval(r->m, b->name, r->ann)) {
			json_array_append_new(r->pending,
					      json_pack("{s:s, s:s, s:O}", "id", b->id, "name",
							b->name, "input", b->input));
		} else if (n < ORCH_CALLS_MAX) {
			calls[n++] = (struct orch_call){ .id = b->id,
							 .name = b->name,
							 .input = b->input };
		} else {
			add_result(r, b->id, b->name, "not run: at most 16 tool calls at once",
				   true);
		}
	}
	cx_fmt(msg, sizeof(msg), "running %s%s", n ? calls[0].name : "nothing",
	       n > 1 ? " and more at once" : "");
	if (n)
		progress(r, msg, false);
	orch_calls_run(r->w, r->id, r->deadline, calls, n);
	for (i = 0; i < n; i++) {
		if (calls[i].started_at[0])
			orch_calls_log(r->calls, &calls[i]);
		add_result(r, calls[i].id, calls[i].name, calls[i].text, calls[i].is_error);
	}
	orch_calls_release(calls, n);
	if (atomic_load(&r->w->stop_task))
		return stopped(r);
	return json_array_size(r->pending) ? hold(r) : STEP_ON;
}

/* A resumed task's held calls, decided together: approved, they all run (at once, as the
 * calls of one reply do); denied, each goes back to the model as an is_error result with the
 * reason. The results are written before the model is asked again. */
static enum step resume_pending(struct run *r)
{
	json_t *appr = json_object_get(json_object_get(r->task, "metadata"), "approval"), *p;
	const char *decision = json_string_value(json_object_get(appr, "decision"));
	const char *by = json_string_value(json_object_get(appr, "by"));
	const char *reason = json_string_value(json_object_get(appr, "reason"));
	struct orch_call calls[ORCH_CALLS_MAX];
	size_t n = 0, i;
	char msg[2300];

	if (decision == NULL)
		return hold(r);
	p = json_array_get(r->pending, 0);
	if (by && !strcmp(by, ORCH_APPROVAL_TIMEOUT)) {
		cx_fmt(msg, sizeof(msg), "stopped: the call to %s waited for approval: %s",
		       json_string_value(json_object_get(p, "name")), reason ? reason : "");
		json_array_foreach(r->pending, i, p)
			orch_calls_log_denied(r->calls, json_string_value(json_object_get(p, "id")),
					      json_string_value(json_object_get(p, "name")));
		return fail(r, msg);
	}
	cx_fmt(msg, sizeof(msg),
	       "not run: a person denied this call (by %s): %s; do not retry it, finish without "
	       "it",
	       by ? by : "someone", reason ? reason : "no reason given");
	json_array_foreach(r->pending, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *name = json_string_value(json_object_get(p, "name"));

		if (strcmp(decision, "approved")) {
			orch_calls_log_denied(r->calls, id, name);
			add_result(r, id, name, msg, true);
		} else if (n < ORCH_CALLS_MAX)
			calls[n++] = (struct orch_call){ .id = id,
							 .name = name,
							 .input = json_object_get(p, "input") };
		else
			add_result(r, id, name, "not run: at most 16 tool calls at once", true);
	}
	orch_calls_run(r->w, r->id, r->deadline, calls, n);
	for (i = 0; i < n; i++) {
		if (calls[i].started_at[0])
			orch_calls_log(r->calls, &calls[i]);
		add_result(r, calls[i].id, calls[i].name, calls[i].text, calls[i].is_error);
	}
	orch_calls_release(calls, n);
	json_array_clear(r->pending);
	if (atomic_load(&r->w->stop_task))
		return stopped(r);
	return progress_now(r, "waiting for the model") ? STEP_ON : stopped(r);
}

static char *reply_text(const struct cx_llm_reply *reply)
{
	size_t len = 0, i;
	char *out = calloc(1, 1);

	for (i = 0; out && i < reply->n_blocks; i++) {
		const char *t = reply->blocks[i].kind == CX_LLM_TEXT ? reply->blocks[i].text : NULL;
		size_t tl = t ? strlen(t) : 0;
		char *g;

		if (!tl || !(g = realloc(out, len + tl + 2)))
			continue;
		out = g;
		if (len)
			out[len++] = '\n';
		memcpy(out + len, t, tl + 1);
		len += tl;
	}
	return out;
}

/* What the reply's stop reason means for the loop. */
static enum step after_reply(struct run *r, const struct cx_llm_reply *reply)
{
	char *text = reply_text(reply), why[600];
	enum step s = STEP_ON;

	r->paused = reply->stop == CX_LLM_STOP_PAUSE_TURN;
	switch (reply->stop) {
	case CX_LLM_STOP_PAUSE_TURN: /* the conversation goes back as it is */
		break;
	case CX_LLM_STOP_REFUSAL:
		cx_fmt(why, sizeof(why), "the model refused the task%s%.500s", *text ? ": " : "",
		       text);
		s = fail(r, why);
		break;
	case CX_LLM_STOP_MAX_TOKENS:
		if (reply->n_tool_use == 0) {
			cx_llm_add_user_text(
				r->messages,
				"Your reply was cut off at the max_tokens limit. Go on "
				"from where it stopped, briefly.");
			break;
		}
		s = run_tools(r, reply); /* the calls it made are run */
		break;
	default: /* tool_use, end_turn, stop_sequence, one this code does not know */
		s = reply->n_tool_use ? run_tools(r, reply) : done(r, text);
		break;
	}
	free(text);
	return s;
}

static enum step one_step(struct run *r, const char *system)
{
	struct cx_llm_request req = { .system = system,
				      .messages = r->messages,
				      .tools = json_array_size(r->tools) ? r->tools : NULL,
				      .max_tokens = r->m->limits.max_tokens };
	struct cx_llm_reply reply = { 0 };
	struct cx_err err = { 0 };
	char why[CX_ERR_MSG_MAX + 64];
	enum step s;

	if (atomic_load(&r->w->stop_task) || atomic_load(&r->w->o->stopping))
		return stopped(r);
	if ((s = check_limits(r)) != STEP_ON)
		return s;
	current = r;
	if (cx_llm_send(r->m->llm, &r->call, 0, &req, &reply, &err)) {
		if (atomic_load(&r->w->stop_task))
			return stopped(r);
		if (err.code == CX_LLM_E_DEADLINE)
			r->deadline = 0;
		if (err.code == CX_LLM_E_DEADLINE)
			return check_limits(r);
		cx_fmt(why, sizeof(why), "the model could not be asked: %s", err.msg);
		return fail(r, why);
	}
	r->model = r->m->models[reply.model_index].model;
	r->iterations++;
	r->tokens_in += reply.input_tokens > 0 ? reply.input_tokens : 0;
	r->tokens_out += reply.output_tokens > 0 ? reply.output_tokens : 0;
	cx_llm_add_reply(r->messages, &reply);
	s = after_reply(r, &reply);
	cx_llm_reply_release(&reply);
	if (s == STEP_ON)
		progress(r, "waiting for the model", true);
	return s;
}

static long state_long(const json_t *st, const char *key)
{
	return (long)json_integer_value(json_object_get(st, key));
}

/* A new task starts its conversation with the query; a resumed one goes on from its state. */
static int setup(struct run *r, struct orch_worker *w, json_t *task)
{
	json_t *meta = json_object_get(task, "metadata"), *st = json_object_get(meta, "state");
	json_t *used = json_object_get(meta, "tools_used");
	const char *query =
		json_string_value(json_object_get(json_object_get(task, "payload"), "query"));

	r->w = w;
	r->m = w->m;
	r->task = task;
	r->id = json_string_value(json_object_get(task, "id"));
	r->tools_used = json_is_array(used) ? json_deep_copy(used) : json_array();
	if (json_is_array(json_object_get(st, "messages"))) {
		r->messages = json_deep_copy(json_object_get(st, "messages"));
		r->pending = json_is_array(json_object_get(st, "pending"))
				     ? json_deep_copy(json_object_get(st, "pending"))
				     : json_array();
		r->iterations = state_long(st, "iterations");
		r->tokens_in = state_long(st, "tokens_in");
		r->tokens_out = state_long(st, "tokens_out");
		r->made_children = json_is_true(json_object_get(st, "made_children"));
		r->paused = json_is_true(json_object_get(st, "paused"));
		r->calls = json_is_array(json_object_get(st, "calls"))
				   ? json_deep_copy(json_object_get(st, "calls"))
				   : json_array();
	} else {
		r->calls = json_array();
		r->messages = json_array();
		r->pending = json_array();
		cx_llm_add_user_text(r->messages, query ? query : "");
	}
	r->deadline = cx_now_ms() + r->m->limits.wall_clock_ms;
	r->call = (struct cx_call){ .tool = "llm",
				    .caller = "cortex-orchestrator",
				    .deadline_ms = r->deadline,
				    .cancelled = &w->stop_task };
	return r->id && r->messages && r->pending && r->tools_used && r->calls ? 0 : -1;
}

/* The text of a final answer the conversation ends with: an assistant turn with no tool_use
 * (and not a pause_turn, which goes back to the model as it is), or NULL. A run cut off after
 * the model's answer was saved and before the task was finished resumes here: the answer
 * stands, where asking the model again would send a conversation ending with its own turn. */
static char *saved_answer(const struct run *r)
{
	const json_t *last = json_array_get(r->messages, json_array_size(r->messages) - 1), *b;
	const char *role = json_string_value(json_object_get(last, "role"));
	size_t i, len = 0;
	char *out;

	if (r->paused || !role || strcmp(role, "assistant"))
		return NULL;
	json_array_foreach(json_object_get(last, "content"), i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		if (type && !strcmp(type, "tool_use"))
			return NULL;
		if (type && !strcmp(type, "text"))
			len += json_string_length(json_object_get(b, "text")) + 1;
	}
	out = calloc(1, len + 1);
	len = 0;
	json_array_foreach(json_object_get(last, "content"), i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const json_t *t = json_object_get(b, "text");
		if (!out || !type || strcmp(type, "text") || !json_is_string(t))
			continue;
		if (len)
			out[len++] = '\n';
		memcpy(out + len, json_string_value(t), json_string_length(t));
		len += json_string_length(t);
	}
	return out;
}

void orch_run_task(struct orch_worker *w, json_t *task)
{
	struct run r = { 0 };
	json_t *st = json_object_get(json_object_get(task, "metadata"), "state");
	struct cx_err err = { 0 };
	char *system = NULL, *answer, why[CX_ERR_MSG_MAX + 64];
	enum step s = STEP_ON;

	if (setup(&r, w, task)) {
		cx_warn("task: out of memory setting it up; given back");
		cx_task_release(w->o->store, r.id ? r.id : "", w->id, NULL);
		goto out;
	}
	if (!strcmp(json_string_value(json_object_get(st, "phase")) ?: "", "children")) {
		orch_wait_children(w->o, r.id, w->id, json_object_get(st, "result"));
		goto out;
	}
	if ((answer = saved_answer(&r))) {
		cx_info("task '%s': resumed after its final answer was saved; finishing with it",
			r.id);
		done(&r, answer);
		free(answer);
		goto out;
	}
	if (orch_master_tools(w->o, r.m, &r.tools, &r.ann, &err)) {
		cx_fmt(why, sizeof(why), "the gateway's tools could not be listed: %s", err.msg);
		fail(&r, why);
		goto out;
	}
	if (asprintf(&system,
		     "%s\n\nYou work on task %s (category %s). Subtasks you create with "
		     "cortex_create_task become its children.",
		     r.m->system_prompt, r.id,
		     json_string_value(
			     json_object_get(json_object_get(task, "payload"), "category"))
			     ?: "general") < 0)
		system = NULL;
	if (json_array_size(r.pending))
		s = resume_pending(&r);
	while (s == STEP_ON)
		s = one_step(&r, system);
out:
	current = NULL;
	free(system);
	json_decref(r.messages);
	json_decref(r.pending);
	json_decref(r.calls);
	json_decref(r.tools_used);
	json_decref(r.tools);
	json_decref(r.ann);
}
