/* cortex-orchestrator: masters and their workers turning queued tasks into LLM tool-use loops
 * over the gateway. One MCP client of the gateway (common/mcp_client.h), one task store
 * (common/taskstore.h), one LLM client per master (common/llm.h).
 *
 *   main.c      flags, the config file, signals, start and stop
 *   masters.c   the registry (manifests/examples/masters.json built in), tool filtering
 *   workers.c   worker threads claiming tasks; the heartbeat thread (leases, agents,
 *               cancellation, parents waiting for their children)
 *   loop.c      one task's LLM tool-use loop: limits, stop reasons, progress, the result
 *   calls.c     a reply's tool_use blocks run concurrently through the gateway; approvals
 *   listen.c    the session's GET stream: tools/list_changed marks the tool lists stale */
#ifndef CX_ORCH_H
#define CX_ORCH_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/llm.h"
#include "../common/mcp_client.h"
#include "../common/taskstore.h"

#define ORCH_CALLS_MAX   16  /* tool_use blocks of one reply run at once */
#define ORCH_CALLS_KEPT  500 /* entries of a task's state.calls (the latest) */
#define ORCH_PATTERNS    64
#define ORCH_WORKERS_MAX 64
#define ORCH_FILE_MAX    (1024 * 1024) /* the config and the masters' registry, as the gateway */
/* Who denies an approval nobody answered in time (metadata.approval.by). */
#define ORCH_APPROVAL_TIMEOUT "approval-timeout"

struct orch_limits {
	long iterations;    /* LLM requests per task */
	long tokens;        /* input + output tokens per task */
	long wall_clock_ms; /* from the claim (resumed tasks: from this claim) */
	long max_tokens;    /* per reply (the Messages API's max_tokens) */
};

struct orch_master {
	char *name;
	const char *categories[8]; /* NULL-terminated; owned strings */
	char *system_prompt;
	char *tools[ORCH_PATTERNS]; /* globs; "!glob" excludes */
	size_t n_tools;
	char *approval[ORCH_PATTERNS]; /* globs of tools that need a person's approval */
	size_t n_approval;
	struct cx_llm_model models[CX_LLM_MODELS_MAX];
	size_t n_models;
	json_t *model_keys; /* the models' api_key refs, kept alive for models[] */
	long workers;
	struct orch_limits limits;
	struct cx_llm *llm;

	pthread_mutex_t mu;      /* guards the tool cache */
	json_t *llm_tools;       /* [{name, description, input_schema}] the master may use */
	json_t *annotations;     /* name -> the tool's annotations */
	int64_t tools_at;        /* when llm_tools was fetched (cx_now_ms) */
	unsigned long tools_gen; /* orch.tools_gen when it was fetched */
};

struct orch_worker {
	struct orch *o;
	struct orch_master *m;
	char id[96];
	pthread_t thread;

	pthread_mutex_t mu; /* guards what the heartbeat thread reads */
	char task_id[CX_TASK_ID_MAX];
	bool busy;
	atomic_bool stop_task;  /* cancel requested, lease lost, or shutdown: stop at next step */
	atomic_bool lease_lost; /* the store says this worker no longer holds the task */
	atomic_bool cancelled;  /* cancel_requested seen */
	struct cx_mcp_cancel *calls[ORCH_CALLS_MAX];
	json_t *waits; /* LLM retries and fallbacks of the current task (events) */
	/* Progress not yet written: the heartbeat thread writes it with the lease's renewal
	 * (one write per heartbeat_ms at most), the task's end merges it into its own write. */
	json_t *pend_progress, *pend_state;
	unsigned long gen;        /* the worker's task count: a heartbeat's answer is for gen */
	bool agent_dirty;         /* busy/idle changed: the heartbeat thread reports it */
	pthread_mutex_t flush_mu; /* held while pending progress is written */
};

struct orch_waiting; /* a parent task waiting for its children */

struct orch {
	struct cx_task_store *store;
	struct cx_mcp_client *mcp;
	struct orch_master *masters;
	size_t n_masters;
	json_t *registry;
	struct orch_worker *workers;
	size_t n_workers;
	long heartbeat_ms;
	long grace_ms;
	long tools_ttl_ms;
	long approval_timeout_ms; /* 0: wait for ever */
	long agents_every_ms;     /* agents reported: well within the 3 leases they live */
	char host[64];

	atomic_bool stopping; /* SIGTERM: claim nothing more */
	atomic_bool aborting; /* the grace is over: stop every step, release the task */
	pthread_mutex_t mu;
	pthread_cond_t cond; /* the heartbeat thread's sleep */
	bool hb_quit;        /* under mu: the heartbeat thread ends */
	struct orch_waiting *waiting;
	pthread_t heartbeat;

	/* listen.c: the tool lists fetched before tools_gen moved are stale */
	atomic_ulong tools_gen;
	atomic_bool listen_open; /* the GET stream is open */
	atomic_bool listen_down; /* it failed since it was last open */
	struct cx_mcp_cancel *listen_cancel;
	pthread_mutex_t listen_mu;
	pthread_cond_t listen_cond; /* the listener's backoff sleep */
	bool listen_quit;           /* under listen_mu */
	bool listening;             /* the thread runs */
	pthread_t listener;
};

/* masters.c */
/* Loads the registry from path (NULL: the built-in manifests/examples/masters.json). */
int orch_masters_load(struct orch *o, const char *path, struct cx_err *err);
void orch_masters_free(struct orch *o);
/* The master for a task's category (general, or the last master, for one no master names). */
struct orch_master *orch_master_for(struct orch *o, const char *category);
/* The master's tools, fetched from the gateway when older than tools_ttl_ms or when the
 * gateway said its list changed since (orch.tools_gen): *tools and *annotations are the
 * caller's own copies. */
int orch_master_tools(struct orch *o, struct orch_master *m, json_t **tools, json_t **annotations,
		      struct cx_err *err);
bool orch_master_allows(const struct orch_master *m, const char *tool);
bool orch_master_needs_approval(const struct orch_master *m, const char *tool,
				const json_t *annotations);

/* workers.c */
int orch_workers_start(struct orch *o, struct cx_err *err);
/* After stopping is set: waits for the workers up to grace_ms, then aborts and joins. */
void orch_workers_stop(struct orch *o);
/* Hands a held parent task to the heartbeat thread until its children have finished; it then
 * completes with result (borrowed) and the children's list. */
void orch_wait_children(struct orch *o, const char *task_id, const char *worker, json_t *result);
/* Progress (and state, when not NULL) to be written with the worker's next heartbeat; the
 * references are stolen. */
void orch_worker_defer(struct orch_worker *w, json_t *progress, json_t *state);
/* Drops the progress not yet written, waiting for a write of it in flight: the caller writes
 * newer progress itself. */
void orch_worker_discard(struct orch_worker *w);
/* Registers the worker's in-flight call k (NULL to clear slot i). */
void orch_worker_set_call(struct orch_worker *w, size_t i, struct cx_mcp_cancel *k);

/* loop.c */
/* The task's children as [{id, status, summary}]; *all_done false while one is not finished
 * (or they could not be read). */
json_t *orch_children(struct orch *o, const char *id, bool *all_done);
/* Runs a claimed task to its end (finished, held, released or lost). */
void orch_run_task(struct orch_worker *w, json_t *task);
void orch_llm_event(void *arg, const struct cx_llm_event *ev);

/* listen.c */
/* Starts the thread holding the session's GET stream open (it reconnects on its own). */
int orch_listen_start(struct orch *o, struct cx_err *err);
/* Closes the stream and joins the thread (nothing when it never started). */
void orch_listen_stop(struct orch *o);

/* calls.c */
struct orch_call {
	const char *id;      /* tool_use id */
	const char *name;    /* tool */
	const json_t *input; /* arguments */
	char *text;          /* the result's text (malloc'd) */
	bool is_error;
	char started_at[32]; /* ISO-8601 UTC with ms, when the call went to the gateway */
	long ms;             /* how long it took */
};
/* Runs calls[0..n) concurrently through the gateway, each cut at deadline (cx_now_ms; at
 * least a second; 0: the client's timeout), parent_id filled into cortex_create_task calls. */
void orch_calls_run(struct orch_worker *w, const char *task_id, int64_t deadline,
		    struct orch_call *calls, size_t n);
void orch_calls_release(struct orch_call *calls, size_t n);
/* One entry per call made through the gateway into log (a task's state.calls): {id, tool,
 * started_at, ms, is_error}, or with denied true (ms 0, is_error true) for a held call a person
 * or the approval timeout denied; the oldest entries go past ORCH_CALLS_KEPT. */
void orch_calls_log(json_t *log, const struct orch_call *c);
void orch_calls_log_denied(json_t *log, const char *id, const char *tool);

#endif
