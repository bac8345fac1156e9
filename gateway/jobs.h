/* The job queue: everything that runs adapter code on a worker (a tool, or an adapter's
 * resource, prompt or completion hook) is a job with a deadline. A bounded run queue feeds
 * calls.workers threads; a watchdog answers every job still unanswered at its deadline; a
 * client's cancellation answers it at once. Whoever answers first wins (cx_job_finish); the
 * others' answers are dropped.
 *
 * A worker never reads the exchange a job came in on: cx_job_new copies what the run needs
 * (principal, session, stateless or not) into the job, and only the winner of cx_job_finish
 * touches the exchange, just before reply(). */
#ifndef CX_JOBS_H
#define CX_JOBS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/adapter.h"
#include "../common/audit.h"
#include "../common/err.h"
#include "channel.h"
#include "config.h"
#include "exchange.h"
#include "registry.h"

enum cx_job_kind {
	CX_JOB_TOOL,
	CX_JOB_READ,
	CX_JOB_PROMPT,
	CX_JOB_COMPLETE
};
/* "tool", "read", "prompt", "complete": sealed into the stateless revision's request state. */
extern const char *const cx_job_kinds[];

struct cx_jobs;
struct cx_job;
struct cx_metrics;

/* How a job ends when it has no result: a JSON-RPC error, or silence for a cancelled one. */
struct cx_job_error {
	int code;            /* 0: -32603 */
	const char *message; /* NULL: a generic sentence */
	json_t *data;        /* stolen */
	bool cancelled;      /* reply(NULL): the client asked us to stop */
	int http_status;     /* the stateless revision's status for this error, or 0 */
};

/* Runs the job's adapter code on a worker and answers through cx_job_finish (or not at all when
 * cx_job_overdue says someone else has). */
typedef void (*cx_job_run_fn)(struct cx_job *j, struct cx_call *call);

struct cx_job {
	/* The pool's: queue and deadline list. */
	struct cx_job *qnext;
	struct cx_job *dprev, *dnext;
	bool on_dlist;
	bool queued;  /* counted among the unanswered (not an inline job) */
	bool counted; /* running against its adapter's share of the workers */
	struct cx_jobs *pool;

	/* Set by the maker. */
	enum cx_job_kind kind;
	cx_job_run_fn run;
	void *owner;                      /* the maker's context for run */
	const struct cx_reg_tool *rt;     /* CX_JOB_TOOL */
	const struct cx_adapter *adapter; /* the hooks */
	void *state;                      /* the adapter's state */
	json_t *args;                     /* CX_JOB_TOOL: new reference */

	/* Copied from the request at creation. */
	const char *name;               /* tool name, URI or prompt name */
	char *name_buf;                 /* owns name, when it was copied */
	json_t *id;                     /* the client's id (new reference) */
	json_t *params;                 /* the request's params (new reference) */
	const struct cx_principal *who; /* lives as long as the server */
	char cancel_key[24];            /* cancellation: the session fingerprint, or a unique key */
	char session[17];               /* audit: the session's fingerprint, "" for none */
	const char *via;                /* audit: the exchange's via (static), or NULL */
	bool stateless;
	bool has_chan; /* inline jobs have no channel */
	struct cx_call_channel chan;
	int64_t start_ms;
	int64_t deadline_ms;

	/* Answered only through x, and only by the winner of cx_job_finish. */
	struct cx_exchange *x;
	atomic_bool cancelled;
	atomic_bool replied;
	atomic_int refs; /* worker side + deadline-list side */
};

/* The pool. hub serves the jobs' channels; audit gets one line per tool job. */
struct cx_jobs *cx_jobs_new(const struct cx_gw_config *conf, struct cx_audit *audit,
			    struct cx_hub *hub);
/* Starts the workers and the watchdog. */
int cx_jobs_start(struct cx_jobs *p, struct cx_err *err);
/* Counts every answered tool job in m (owned by the caller, who frees it after the pool). */
void cx_jobs_set_metrics(struct cx_jobs *p, struct cx_metrics *m);
/* For /metrics: jobs accepted and not answered yet, and those still waiting for a worker. */
void cx_jobs_stats(struct cx_jobs *p, size_t *unanswered, size_t *queued);
/* Refuses new jobs from now on. */
void cx_jobs_refuse(struct cx_jobs *p);
/* Refuses new jobs and answers every job still queued (never started) as refused because the
 * gateway is shutting down. The number answered. */
size_t cx_jobs_shed(struct cx_jobs *p);
/* Waits until every queued job has been answered (each bounded by its deadline, all by
 * calls.drain_grace_ms, past which the running ones are answered as abandoned), then stops
 * the workers and the watchdog. Returns how many workers were still inside a handler after a
 * short grace: then what they may touch must not be freed (the caller exits instead). */
size_t cx_jobs_drain(struct cx_jobs *p);
void cx_jobs_free(struct cx_jobs *p);

/* A new job for x's request (name, id, params borrowed; copied or referenced). The job
 * answers on x; everything else it needs is copied now. NULL on out of memory. */
struct cx_job *cx_job_new(struct cx_jobs *p, struct cx_exchange *x, enum cx_job_kind kind,
			  const char *name, json_t *id, json_t *params, int64_t start_ms);
/* The same, for a CX_NONBLOCKING tool run inline on the submitting thread: j lives in the
 * caller's frame, has no channel, no queue and no watchdog. Release with cx_job_release. */
void cx_job_init_inline(struct cx_job *j, struct cx_jobs *p, struct cx_exchange *x,
			const char *name, json_t *id, int64_t start_ms);
void cx_job_release(struct cx_job *j);

/* Queues j (taken). When the gateway is draining or the queue is full it is answered at once:
 * an isError result for a tool (audited as refused), a JSON-RPC error for a hook. */
void cx_jobs_enqueue(struct cx_jobs *p, struct cx_job *j);

/* A tool's fast path (dispatch.c, common/http_async.h): j (taken) is counted, deadline-bound
 * and cancellable as a queued job, but holds no worker; whoever completes it calls
 * cx_jobs_async_end after answering, or cx_jobs_async_requeue to have a worker run it after
 * all. False when the gateway is draining: then j was answered as refused and is gone. */
bool cx_jobs_async_begin(struct cx_jobs *p, struct cx_job *j);
void cx_jobs_async_end(struct cx_jobs *p, struct cx_job *j);
void cx_jobs_async_requeue(struct cx_jobs *p, struct cx_job *j);

/* Answers the client once: the first of worker, watchdog and cancellation wins. Steals result
 * (or e->data). Tool jobs leave an audit line. */
void cx_job_finish(struct cx_job *j, json_t *result, struct cx_job_error *e,
		   enum cx_audit_outcome outcome, const char *detail);
/* True when the job's deadline has passed or it was cancelled: its handler's answer no longer
 * counts. cx_job_answer_deadline() then gives the deadline's answer if nobody has. */
bool cx_job_overdue(const struct cx_job *j);
void cx_job_answer_deadline(struct cx_job *j);

/* Cancels the first unanswered job for which match(j, key) is true, as a client's
 * notifications/cancelled does: its cancelled flag is set, and it is answered with silence
 * (reply(NULL)) and an audit line with detail. True when one was found. */
bool cx_jobs_cancel(struct cx_jobs *p, bool (*match)(const struct cx_job *j, const void *key),
		    const void *key, const char *detail);

/* For tests: called by a worker after a handler returned in time and before its answer is
 * built, so a test can make something else answer first (the watchdog, a cancellation) in the
 * window where only cx_job_finish may decide who answers. NULL in production. */
extern void (*cx_jobs_after_run_hook)(struct cx_job *j);

#endif
