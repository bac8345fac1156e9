/* The task store: where tasks live between the gateway that creates them (cortex_* tools),
 * the orchestrators that claim and run them, and the people who watch and approve them. One
 * narrow interface with two backends behind it, chosen by the "tasks" config object:
 *
 *   {"store": "dir", "dir": "./var/tasks"}     one JSON file per task, atomic writes, several
 *                                               processes on one host, inotify (taskstore_dir.c)
 *   {"store": "redis", "url": "redis://h:6379/0", "password": {"env": "REDIS_PASSWORD"}}
 *                                               Streams + consumer groups, pub/sub
 *                                               (taskstore_redis.c)
 *
 * The dir store also takes "fsync": true (the default: every write durable before the call
 * returns; a batch of new tasks by one syncfs of the file system), "files" (a batch by an
 * fdatasync per file, never flushing other programs' writes), or false (tests, tmpfs).
 * Common keys: "lease_ms" (a claim's lease, renewed by heartbeats; default 30000),
 * "max_attempts" (claims of one task before it fails with a reason; default 3).
 *
 * A task is a JSON object in the schema of ../shared/DESIGN.md ("Tasks"), which keeps the
 * field names of the system Cortex descends from:
 *   {"id", "type": "user_query", "priority": 1 (1 = most urgent .. 5),
 *    "status": "queued" | "in_progress" | "awaiting_approval" | "completed" | "failed" |
 *              "cancelled",
 *    "payload": {"query", "title", "category"},
 *    "metadata": {"created_at", "updated_at", "started_at", "finished_at" (RFC 3339 UTC with
 *                 milliseconds), "source", "iterations", "tools_used", "last_tool_used",
 *                 "current_action", "attempts", "parent_id", "worker", "lease_until",
 *                 "cancel_requested", "approval", "error"},
 *    "result": {"summary", "details", "execution_time_ms"}}
 * Fields a backend adds for itself stay under metadata and never change those names.
 *
 * Every function returns 0 on success and -1 with a sentence in err (what failed, what to
 * try: "task store unreachable: ...; tasks are safe, retry in a moment") on failure; those
 * that look a task up return 1 when it does not exist (or, for the claim holder's calls,
 * when the caller no longer holds it). Values out are new references. Every function is
 * safe to call from several threads at once on one store, and several processes (dir: one
 * host; redis: any) may open the same store. */
#ifndef CX_TASKSTORE_H
#define CX_TASKSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* At most this many tasks in one create call (cortex_create_task's batch limit). */
#define CX_TASK_BATCH_MAX 10000
/* A task's query at most this many bytes. */
#define CX_TASK_QUERY_MAX (64 * 1024)
#define CX_TASK_ID_MAX    64

struct cx_task_store;

/* The categories a task may have (NULL-terminated): development, security, infrastructure,
 * inventory, cicd, general. */
extern const char *const cx_task_categories[];
/* The statuses (NULL-terminated), in the order above. */
extern const char *const cx_task_statuses[];

/* Opens the store conf describes (the "tasks" object; NULL or {} for the default: the dir
 * store at $CORTEX_TASKS_DIR, else ./var/tasks, created if missing). Relative paths are read
 * against cx_path_base(). Refuses unknown keys, naming them. */
struct cx_task_store *cx_task_store_open(const json_t *conf, struct cx_err *err);
void cx_task_store_close(struct cx_task_store *s);
/* "dir /var/lib/cortex/tasks" or "redis 10.0.0.5:6379/0" (never a password), for logs and
 * gateway_status. */
const char *cx_task_store_describe(const struct cx_task_store *s);

/* A task id as the stores make them: safe as a file name and a Redis key part, 1..63 of
 * [A-Za-z0-9._:-], not starting with '.'. Clients check ids with it before asking. */
bool cx_task_id_valid(const char *id);
/* An RFC 3339 UTC time as the tasks carry them ("2026-12-02T04:05:35.123Z"; or without
 * milliseconds, or with an offset) as ms since the epoch; -1 when s is not one. */
int64_t cx_task_time_ms(const char *s);

/* ---- creating and reading ---- */

/* Creates every task of specs (an array of {"query", "title"?, "category"?, "priority"?,
 * "parent_id"?, "source"?, "type"?}), all or none: each is checked first (unknown category,
 * empty or oversized query, bad priority, unknown parent: an error naming the index), then
 * written; every task is durable before this returns. *created: the tasks as stored, in
 * order. */
int cx_task_create(struct cx_task_store *s, const json_t *specs, json_t **created,
		   struct cx_err *err);

/* 0 and *task, 1 when there is no such task. */
int cx_task_get(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err);

struct cx_task_filter {
	const char *status;    /* NULL: any */
	const char *category;  /* NULL: any */
	const char *source;    /* NULL: any */
	const char *parent_id; /* NULL: any */
	int64_t since_ms;      /* created at or after (ms since the epoch); 0: any */
	size_t limit;          /* at most this many (1..500; 0: 50) */
	const char *cursor;    /* from a previous page's *next; NULL: the first page */
};

/* Tasks matching f, newest first; *next a cursor for the following page (malloc'd) or NULL
 * when this was the last. A cursor from another store or a garbled one is an error. A listed
 * task (and a child from cx_task_children) may leave out metadata.state, the conversation a
 * worker saved: the dir store's index does not keep it; cx_task_get returns it. */
int cx_task_list(struct cx_task_store *s, const struct cx_task_filter *f, json_t **tasks,
		 char **next, struct cx_err *err);

/* The children of a task (metadata.parent_id == id), oldest first. */
int cx_task_children(struct cx_task_store *s, const char *id, json_t **tasks, struct cx_err *err);

/* ---- a worker's side ---- */

/* Takes the most urgent queued task (lowest priority number, then oldest) whose category is
 * one of categories (NULL-terminated; NULL: any) for worker, waiting up to wait_ms for one to
 * be created (woken by the store's notification, never by polling; 0: do not wait). The task
 * becomes in_progress with metadata.worker, started_at, attempts + 1 and a lease. *task NULL
 * when none came. A task whose lease ran out (its worker died) is queued again; one claimed
 * max_attempts times fails with a reason instead. A claimed task is never handed to a second
 * worker while its lease runs.
 *
 * Durability: every change is durable when its call returns (with the dir store's "fsync"
 * on; the Redis store as Redis is configured), except a claim and a heartbeat: their data is
 * on disk before their file replaces the task's, so a power cut never tears a task, but the
 * replacement itself becomes durable with the next sync, the holder's next durable write at
 * the latest. A claim lost that way puts the task back in the queue, as its lease running
 * out would; a heartbeat lost, the lease renewal and the progress it carried. Nothing a
 * worker finished or saved with cx_task_progress is lost: those wait for both. */
int cx_task_claim(struct cx_task_store *s, const char *worker, const char *const *categories,
		  long wait_ms, json_t **task, struct cx_err *err);

/* Renews worker's lease on id. 1 when worker no longer holds it (lease lost, or the task was
 * cancelled: *cancel_requested then says so). */
int cx_task_heartbeat(struct cx_task_store *s, const char *id, const char *worker,
		      bool *cancel_requested, struct cx_err *err);

/* cx_task_heartbeat with progress and state (either may be NULL) merged as cx_task_progress
 * merges them, in the same write: a worker's progress batched into its heartbeats. */
int cx_task_heartbeat_with(struct cx_task_store *s, const char *id, const char *worker,
			   const json_t *progress, const json_t *state, bool *cancel_requested,
			   struct cx_err *err);

/* Merges progress into metadata (iterations, tools_used, last_tool_used, current_action,
 * tokens, anything the orchestrator records) and stores state (the conversation so far, any
 * JSON; NULL: unchanged) under metadata.state. Renews the lease. 1 when not held. */
int cx_task_progress(struct cx_task_store *s, const char *id, const char *worker,
		     const json_t *progress, const json_t *state, struct cx_err *err);

/* Ends a held task: status "completed", "failed" or "cancelled", with result (stored as the
 * task's "result"; execution_time_ms filled from started_at when absent). 1 when not held. */
int cx_task_finish(struct cx_task_store *s, const char *id, const char *worker, const char *status,
		   const json_t *result, struct cx_err *err);

/* cx_task_finish with the last progress and state (either may be NULL) merged as
 * cx_task_progress merges them, in the same write. */
int cx_task_finish_with(struct cx_task_store *s, const char *id, const char *worker,
			const char *status, const json_t *progress, const json_t *state,
			const json_t *result, struct cx_err *err);

/* Gives a held task back (queued again, its attempt not counted): a worker stopping. */
int cx_task_release(struct cx_task_store *s, const char *id, const char *worker,
		    struct cx_err *err);

/* Parks a held task for a person: awaiting_approval with pending (the held call: tool,
 * arguments, why) under metadata.approval, state saved as in progress; the worker is free.
 * 1 when not held. */
int cx_task_hold(struct cx_task_store *s, const char *id, const char *worker, const json_t *pending,
		 const json_t *state, struct cx_err *err);

/* ---- people ---- */

/* Decides a held task: metadata.approval gains {decision: "approved" | "denied", by, reason,
 * at} and the task is queued again for a worker to resume. 1 when no such task; an error
 * when it is not awaiting approval. */
int cx_task_approve(struct cx_task_store *s, const char *id, bool approve, const char *by,
		    const char *reason, struct cx_err *err);

/* Cancels a task: queued or awaiting approval ones at once; an in_progress one gets
 * metadata.cancel_requested and its worker stops at its next step (heartbeat tells it).
 * Finished ones: an error saying so. 1 when no such task. */
int cx_task_cancel(struct cx_task_store *s, const char *id, const char *by, const char *reason,
		   struct cx_err *err);

/* ---- watching ---- */

/* Calls fn(ctx, id) from a thread of the store's after every change to a task, in this
 * process or another (dir: inotify; redis: pub/sub); fn must not block. At most a few
 * hundred ms late under load, never by polling. One watcher per store. */
int cx_task_watch(struct cx_task_store *s, void (*fn)(void *ctx, const char *id), void *ctx,
		  struct cx_err *err);
void cx_task_unwatch(struct cx_task_store *s);

/* ---- agents and metrics ---- */

/* Records an agent's live state: {"id", "kind": "master" | "worker", "master", "state":
 * "idle" | "busy" | "stopping", "task_id"?, ...}; heartbeat_at is set by the store. An agent
 * not heard from for 3 leases drops out of the list. */
int cx_agent_put(struct cx_task_store *s, const json_t *agent, struct cx_err *err);
int cx_agent_list(struct cx_task_store *s, json_t **agents, struct cx_err *err);

/* {"queue": {status: {category: n}}, "created_per_min", "completed_per_min",
 *  "failed_per_min" (the last 5 minutes), "processing_ms": {"mean", "p95"}, "attempts": {
 *  "retried"}, "awaiting_approval"}. */
int cx_task_metrics(struct cx_task_store *s, json_t **metrics, struct cx_err *err);

#endif
