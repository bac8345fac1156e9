/* The task table and each task's state machine (see tasks.h).
 *
 *   working -> input_required -> working -> completed | failed | cancelled
 *
 * A task owns an exchange of its own (struct task.x): each run of the handler is an ordinary
 * job (gateway/dispatch.c, gateway/jobs.c) answering on it, so the queue, the deadline watchdog,
 * cancellation, the stateless revision's recorded questions and the audit line all work as for any
 * call. The job's answer lands in task_reply(), which turns it into the task's state: a result is
 * "completed" (isError results too: the tool ran), a JSON-RPC error "failed", an input-required
 * result "input_required" with its questions, and no answer at all (the job was cancelled)
 * "cancelled". tasks/update adds the client's answers; once every question is answered the
 * handler runs again from the start with all answers so far, as in an input-required retry.
 *
 * Locking: t->lock guards the table and every task's state. It is never held while calling
 * into server.c (which takes its own lock and may answer on a task's exchange, which takes
 * t->lock) nor while answering a client. */
#include "tasks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "channel.h"
#include "reply.h"

enum task_status {
	TASK_WORKING,
	TASK_INPUT_REQUIRED,
	TASK_COMPLETED,
	TASK_FAILED,
	TASK_CANCELLED
};
static const char *const status_names[] = { "working", "input_required", "completed", "failed",
					    "cancelled" };

struct task {
	struct cx_exchange x;      /* the jobs answer here (task_reply) */
	struct cx_session session; /* x.session: the stateless revision, no id */
	struct cx_tasks *owner;
	struct task *next;              /* the table */
	bool listed;                    /* in the table */
	char id[40];                    /* "task-" + 128 random bits, hex (38 with the NUL) */
	const struct cx_principal *who; /* the creator; lives as long as the server */
	const struct cx_reg_tool *rt;
	json_t *rid;       /* the tools/call's id (new reference) */
	json_t *params;    /* the tools/call's params (new reference) */
	json_t *args;      /* new reference */
	json_t *responses; /* the client's answers so far (object) */
	json_t *pending;   /* questions not yet answered (object), input_required */
	json_t *result;    /* completed: the CallToolResult */
	json_t *error;     /* failed: the JSON-RPC error object */
	enum task_status status;
	bool running;                  /* a job is queued or running */
	bool published;                /* the client has the id */
	struct cx_exchange *origin;    /* the tools/call still waiting for its answer */
	char created[32], updated[32]; /* ISO 8601, UTC */
	int64_t expires_ms;            /* cx_now_ms(): forgotten after this, unless running */
	atomic_int refs;               /* the table + a running job + whoever works on it */
};

struct cx_tasks {
	struct cx_dispatch *d;
	pthread_mutex_t lock;
	struct task *head;
	size_t count;
};

static void task_unref(struct task *k)
{
	int was = atomic_fetch_sub(&k->refs, 1);

	CX_ASSERT(was > 0);
	if (was != 1)
		return;
	json_decref(k->rid);
	json_decref(k->params);
	json_decref(k->args);
	json_decref(k->responses);
	json_decref(k->pending);
	json_decref(k->result);
	json_decref(k->error);
	cx_session_release(&k->session);
	free(k);
}

static bool terminal(const struct task *k)
{
	return k->status >= TASK_COMPLETED;
}

/* Under t->lock. */
static void touch(struct task *k)
{
	cx_wall_iso8601(k->updated, sizeof(k->updated));
	k->expires_ms = cx_now_ms() + CX_TASK_TTL_MS;
}

/* Under t->lock: takes k out of the table (the table's reference goes to the caller). */
static void unlist(struct cx_tasks *t, struct task *k)
{
	for (struct task **pp = &t->head; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			k->next = NULL;
			k->listed = false;
			t->count--;
			return;
		}
	}
}

/* Under t->lock: forgets tasks past their time-to-live that nothing is running for. */
static void sweep(struct cx_tasks *t)
{
	int64_t now = cx_now_ms();
	struct task **pp = &t->head;

	while (*pp) {
		struct task *k = *pp;
		if (!k->running && !k->origin && now > k->expires_ms) {
			*pp = k->next;
			k->listed = false;
			t->count--;
			task_unref(k);
			continue;
		}
		pp = &k->next;
	}
}

/* Under t->lock: the caller's task with this id, or NULL (unknown, expired, or another
 * principal's: the same answer, so ids of others cannot be probed). */
static struct task *find(struct cx_tasks *t, const struct cx_exchange *x, const char *id)
{
	sweep(t);
	for (struct task *k = t->head; k; k = k->next)
		if (k->published && k->who == x->who && !strcmp(k->id, id))
			return k;
	return NULL;
}

/* The task's fields every answer about it carries (Task). Under t->lock. */
static json_t *task_fields(const struct task *k, const char *result_type)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "resultType", result_type,
			      "taskId", k->id, "status", status_names[k->status], "createdAt",
			      k->created, "lastUpdatedAt", k->updated, "ttlMs",
			      (json_int_t)CX_TASK_TTL_MS, "pollIntervalMs",
			      (json_int_t)CX_TASK_POLL_MS);

	if (o && k->status == TASK_CANCELLED)
		json_object_set_new(o, "statusMessage", json_string("cancelled by the client"));
	return o;
}

/* tasks/get's DetailedTask: the result, error or questions inlined. Under t->lock. */
static json_t *task_detail(const struct task *k)
{
	json_t *o = task_fields(k, "complete");

	if (!o)
		return NULL;
	if (k->status == TASK_COMPLETED && k->result)
		json_object_set(o, "result", k->result);
	else if (k->status == TASK_FAILED && k->error)
		json_object_set(o, "error", k->error);
	else if (k->status == TASK_INPUT_REQUIRED && k->pending)
		json_object_set(o, "inputRequests", k->pending);
	return o;
}

/* The answer of one run of the handler (a JSON-RPC response, or NULL when the job was
 * cancelled), on the task's own exchange. Called exactly once per job. */
static void task_reply(struct cx_exchange *x, json_t *response)
{
	struct task *k = (struct task *)((char *)x - offsetof(struct task, x));
	struct cx_tasks *t = k->owner;
	struct cx_exchange *origin = NULL;
	json_t *result = json_object_get(response, "result");
	json_t *error = json_object_get(response, "error");
	int http_status = x->http_status;

	x->http_status = 0;
	pthread_mutex_lock(&t->lock);
	k->running = false;
	if (!k->published) {
		/* A CX_TASK_LATE call that ended before becoming a task: it was an ordinary
		 * call after all (an answer, or questions for another round). */
		origin = k->origin;
		k->origin = NULL;
		if (k->listed) {
			unlist(t, k);
			task_unref(k); /* the table's */
		}
	} else if (!terminal(k)) {
		const char *rt = json_string_value(json_object_get(result, "resultType"));

		if (rt && !strcmp(rt, "input_required")) {
			json_decref(k->pending);
			k->pending = json_deep_copy(json_object_get(result, "inputRequests"));
			k->status = k->pending ? TASK_INPUT_REQUIRED : TASK_FAILED;
		} else if (result) {
			k->result = json_deep_copy(result);
			json_object_del(k->result, "resultType");
			k->status = k->result ? TASK_COMPLETED : TASK_FAILED;
		} else if (error) {
			k->error = json_deep_copy(error);
			k->status = TASK_FAILED;
		} else {
			k->status = TASK_CANCELLED;
		}
		if (k->status == TASK_FAILED && !k->error)
			k->error = json_pack("{s:i, s:s}", "code", CX_RPC_INTERNAL_ERROR, "message",
					     "internal error: out of memory");
		touch(k);
		cx_debug("task %s is %s", k->id, status_names[k->status]);
	}
	pthread_mutex_unlock(&t->lock);
	if (origin) {
		origin->http_status = http_status;
		origin->reply(origin, response);
	} else {
		json_decref(response);
	}
	task_unref(k); /* the job's */
}

/* Runs the handler once more for k (a new job with the answers so far). The job's reference
 * is taken here; on failure the task is failed. Called without t->lock. */
static void run(struct cx_tasks *t, struct task *k)
{
	json_t *responses;

	pthread_mutex_lock(&t->lock);
	responses = json_deep_copy(k->responses);
	pthread_mutex_unlock(&t->lock);
	atomic_fetch_add(&k->refs, 1);
	/* cx_dispatch_run_task takes responses whatever happens. */
	if (responses && !cx_dispatch_run_task(t->d, &k->x, k->rt, k->rid, k->params, k->args,
					       responses, cx_now_ms() + CX_TASK_RUN_MS))
		return;
	/* The job never existed: answer as it would have. */
	task_reply(&k->x, cx_rpc_error_always(k->rid, CX_RPC_INTERNAL_ERROR,
					      "internal error: out of memory", NULL));
}

/* Gives the waiting tools/call its task. */
static void publish(struct cx_tasks *t, struct task *k)
{
	struct cx_exchange *origin;
	json_t *created = NULL;

	pthread_mutex_lock(&t->lock);
	origin = k->origin;
	if (origin) {
		k->origin = NULL;
		k->published = true;
		created = task_fields(k, "task");
	}
	pthread_mutex_unlock(&t->lock);
	if (!origin)
		return;
	cx_reply_result(origin, k->rid, created);
}

struct cx_tasks *cx_tasks_new(struct cx_dispatch *d)
{
	struct cx_tasks *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->d = d;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void cx_tasks_free(struct cx_tasks *t)
{
	if (!t)
		return;
	while (t->head) {
		struct task *k = t->head;
		t->head = k->next;
		task_unref(k);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

bool cx_tasks_declared(const struct cx_exchange *x, const json_t *params)
{
	const json_t *caps = json_object_get(json_object_get(params, "_meta"), CX_META_CAPS);

	return x->stateless &&
	       json_object_get(json_object_get(caps, "extensions"), CX_TASKS_EXT) != NULL;
}

void cx_tasks_hook(struct cx_tasks *t, struct cx_task_hook *hook)
{
	hook->ctx = t;
	hook->declared = cx_tasks_declared;
	hook->start = cx_tasks_start;
}

int cx_tasks_start(void *tasks, struct cx_exchange *x, const struct cx_reg_tool *rt, json_t *id,
		   json_t *params, json_t *args, json_t *responses, char *msg, size_t msglen)
{
	struct cx_tasks *t = tasks;
	struct task *k = calloc(1, sizeof(*k));
	bool late = rt->tool->flags & CX_TASK_LATE;

	if (k)
		memcpy(k->id, "task-", 5);
	if (!k || cx_random_hex(k->id + 5, sizeof(k->id) - 5, 16)) {
		free(k);
		json_decref(responses);
		cx_fmt(msg, msglen, "out of memory or no randomness for a task id");
		return -1;
	}
	cx_session_init(&k->session);
	snprintf(k->session.version, sizeof(k->session.version), "%s", CX_MCP_STATELESS);
	k->x.who = x->who;
	k->x.session = &k->session;
	k->x.initialized = true;
	k->x.stateless = true;
	k->x.reply = task_reply;
	k->owner = t;
	k->who = x->who;
	k->rt = rt;
	k->rid = json_incref(id);
	k->params = json_incref(params);
	k->args = json_incref(args);
	k->responses = json_is_object(responses) ? responses : json_object();
	if (responses && k->responses != responses)
		json_decref(responses);
	k->status = TASK_WORKING;
	k->running = true;
	k->origin = x;
	cx_wall_iso8601(k->created, sizeof(k->created));
	memcpy(k->updated, k->created, sizeof(k->updated));
	k->expires_ms = cx_now_ms() + CX_TASK_TTL_MS;
	atomic_init(&k->refs, 1); /* the table's; run() adds the job's */
	if (!k->responses) {
		task_unref(k);
		cx_fmt(msg, msglen, "out of memory");
		return -1;
	}

	pthread_mutex_lock(&t->lock);
	sweep(t);
	if (t->count >= CX_TASKS_MAX) {
		pthread_mutex_unlock(&t->lock);
		task_unref(k);
		cx_fmt(msg, msglen,
		       "the gateway holds %d tasks, its limit; wait for some to finish "
		       "or cancel them, then retry",
		       CX_TASKS_MAX);
		return -1;
	}
	k->next = t->head;
	t->head = k;
	k->listed = true;
	t->count++;
	atomic_fetch_add(&k->refs, 1); /* ours, until the end of this function */
	pthread_mutex_unlock(&t->lock);

	/* The task exists before the client hears of it: a tasks/get right after the answer
	 * finds it. A late task's caller waits for the handler instead. */
	if (late) {
		if (x->defer)
			x->defer(x);
	} else {
		publish(t, k);
	}
	run(t, k);
	task_unref(k);
	return 0;
}

void cx_call_become_task(struct cx_call *call)
{
	struct cx_call_channel *ch = call->chan;
	struct task *k = NULL;

	if (!ch)
		return;
	pthread_mutex_lock(&ch->lock);
	/* While the channel holds the exchange the job is unanswered, so the task is alive. */
	if (ch->x && ch->x->reply == task_reply) {
		k = (struct task *)((char *)ch->x - offsetof(struct task, x));
		atomic_fetch_add(&k->refs, 1);
	}
	pthread_mutex_unlock(&ch->lock);
	if (!k)
		return;
	publish(k->owner, k);
	task_unref(k);
}

static void reply_ack(struct cx_exchange *x, json_t *id)
{
	cx_reply_result(x, id, json_pack("{s:s}", "resultType", "complete"));
}

/* Answers the client's questions the task is waiting for; runs the handler again once none
 * is left. Answers to questions not asked (or asked and answered already) are ignored. */
static void do_update(struct cx_tasks *t, struct cx_exchange *x, json_t *id, struct task *k,
		      const json_t *answers)
{
	const char *key;
	json_t *v;
	bool resume = false;

	json_object_foreach((json_t *)answers, key, v) {
		if (k->status != TASK_INPUT_REQUIRED || !json_object_get(k->pending, key))
			continue;
		json_object_set(k->responses, key, v);
		json_object_del(k->pending, key);
	}
	if (k->status == TASK_INPUT_REQUIRED && json_object_size(k->pending) == 0) {
		json_decref(k->pending);
		k->pending = NULL;
		k->status = TASK_WORKING;
		k->running = true;
		resume = true;
	}
	touch(k);
	atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&t->lock);
	if (resume)
		run(t, k);
	task_unref(k);
	reply_ack(x, id);
}

/* Stops k: its job, if one is running, is cancelled like a client's notifications/cancelled
 * (the handler sees cx_call_cancelled()). Terminal tasks stay as they are. */
static void do_cancel(struct cx_tasks *t, struct cx_exchange *x, json_t *id, struct task *k)
{
	bool running = k->running;

	if (!terminal(k)) {
		k->status = TASK_CANCELLED;
		json_decref(k->pending);
		k->pending = NULL;
		touch(k);
	}
	atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&t->lock);
	if (running)
		cx_dispatch_cancel_task(t->d, &k->x);
	task_unref(k);
	if (x)
		reply_ack(x, id);
}

/* The caller's task named by params.taskId, with t->lock held; or NULL, answered. */
static struct task *lookup(struct cx_tasks *t, struct cx_exchange *x, json_t *id,
			   const json_t *params)
{
	const char *task_id = json_string_value(json_object_get(params, "taskId"));
	struct task *k;
	char msg[200];

	if (!cx_tasks_declared(x, params)) {
		cx_reply_error_full(x, id, 400, CX_RPC_MISSING_CAPABILITY,
				    "'" CX_TASKS_EXT "' is needed for tasks; declare it in "
				    "_meta clientCapabilities.extensions",
				    json_pack("{s:{s:{s:{}}}}", "requiredCapabilities",
					      "extensions", CX_TASKS_EXT));
		return NULL;
	}
	if (!task_id) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: 'taskId' (a string) is required");
		return NULL;
	}
	pthread_mutex_lock(&t->lock);
	k = find(t, x, task_id);
	if (!k) {
		pthread_mutex_unlock(&t->lock);
		cx_fmt(msg, sizeof(msg),
		       "invalid params: unknown task '%.64s' (finished tasks "
		       "are kept for %d s)",
		       task_id, CX_TASK_TTL_MS / 1000);
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
	}
	return k;
}

void cx_tasks_get(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params)
{
	struct task *k = lookup(t, x, id, params);
	json_t *detail;

	if (!k)
		return;
	detail = task_detail(k);
	pthread_mutex_unlock(&t->lock);
	cx_reply_result(x, id, detail);
}

void cx_tasks_update(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params)
{
	const json_t *answers = json_object_get(params, "inputResponses");
	struct task *k;

	if (cx_tasks_declared(x, params) && json_is_string(json_object_get(params, "taskId")) &&
	    !json_is_object(answers)) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: tasks/update needs 'inputResponses' (an object)");
		return;
	}
	k = lookup(t, x, id, params);
	if (k)
		do_update(t, x, id, k, answers); /* unlocks */
}

void cx_tasks_cancel(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params)
{
	struct task *k = lookup(t, x, id, params);

	if (k)
		do_cancel(t, x, id, k); /* unlocks */
}

void cx_tasks_cancel_all(struct cx_tasks *t)
{
	for (;;) {
		struct task *k;

		pthread_mutex_lock(&t->lock);
		for (k = t->head; k; k = k->next)
			if (k->running && !terminal(k))
				break;
		if (!k) {
			pthread_mutex_unlock(&t->lock);
			return;
		}
		do_cancel(t, NULL, NULL, k); /* unlocks */
	}
}
