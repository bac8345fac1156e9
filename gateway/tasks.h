/* Tasks: the io.modelcontextprotocol/tasks extension (SEP-2663) of the stateless revision.
 * A tools/call to a tool flagged CX_TASK_OPTIONAL or CX_TASK_REQUIRED, from a request whose
 * _meta client capabilities declare the extension, is answered at once with a task id; the
 * tool runs on the worker pool as an ordinary job, and the client polls tasks/get, answers
 * questions with tasks/update and stops it with tasks/cancel.
 *
 * The table is per process: a task lives on the replica that created it, like waiting
 * requests and cancellation (see OPERATIONS.md). Each task belongs to the principal that
 * created it; any other principal is told the task does not exist. */
#ifndef CX_TASKS_H
#define CX_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dispatch.h"
#include "exchange.h"
#include "registry.h"

#define CX_TASKS_MAX    1000    /* live tasks per process, all principals together */
#define CX_TASK_TTL_MS  3600000 /* kept this long after its last change */
#define CX_TASK_RUN_MS  1800000 /* one run of the handler (each round) */
#define CX_TASK_POLL_MS 500     /* suggested tasks/get interval */

struct cx_tasks;

/* Runs tasks through d (tasks depend on dispatch and the job queue, not on the server). */
struct cx_tasks *cx_tasks_new(struct cx_dispatch *d);
/* The hook dispatch calls for tools flagged CX_TASK_OPTIONAL or CX_TASK_REQUIRED. */
void cx_tasks_hook(struct cx_tasks *t, struct cx_task_hook *hook);
/* After the job queue has drained: no job is running any more. */
void cx_tasks_free(struct cx_tasks *t);

/* True when this request may get a task: the stateless revision, with the extension in its
 * _meta client capabilities. */
bool cx_tasks_declared(const struct cx_exchange *x, const json_t *params);

/* Creates a task for the tools/call request id on x and runs rt on the worker pool. x is
 * answered with the task (CreateTaskResult), or, for a CX_TASK_LATE tool, with whatever the
 * call answers until its handler calls cx_call_become_task(). responses (stolen, may be NULL)
 * are the answers the request brought. -1 when no task could be made (the table is full, out
 * of memory): x is not answered and msg says why. */
int cx_tasks_start(void *tasks, struct cx_exchange *x, const struct cx_reg_tool *rt, json_t *id,
		   json_t *params, json_t *args, json_t *responses, char *msg, size_t msglen);

/* tasks/get, tasks/update and tasks/cancel (stateless requests only: the method table sees to
 * that). Each answers x once. */
void cx_tasks_get(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params);
void cx_tasks_update(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params);
void cx_tasks_cancel(struct cx_tasks *t, struct cx_exchange *x, json_t *id, json_t *params);

/* Cancels every running task (shutdown: nothing would be left to poll them). */
void cx_tasks_cancel_all(struct cx_tasks *t);

#endif
