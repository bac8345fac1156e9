/* Inside the task store: the vtable a backend fills (curl's vtls shape: one const struct per
 * backend, every slot commented, optional slots NULL-checked by the caller), the head every
 * backend's store embeds as its first member, and the logic both backends share
 * (common/taskstore.c): building tasks from create specs, ids and timestamps, the status
 * transitions as pure functions on a task object, filter matching, cursors, paging, metrics.
 *
 * A backend's job is storage, atomicity and notification; what a change MEANS is decided here,
 * once, by cx_task_apply(), so both stores move tasks through the same states. */
#ifndef CX_TASKSTORE_IMPL_H
#define CX_TASKSTORE_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "taskstore.h"

/* Bytes of one task as stored (its query, the saved conversation under metadata.state, its
 * result): a larger task file is refused, never read cut short. */
#define CX_TASK_FILE_MAX      (16 * 1024 * 1024)
#define CX_TASK_LIMIT_DEFAULT 50
#define CX_TASK_LIMIT_MAX     500

/* The keys every store takes, parsed by cx_task_store_open before the backend's open. */
struct cx_task_store_conf {
	long lease_ms;     /* "lease_ms", 100..3600000, default 30000 */
	long max_attempts; /* "max_attempts", 1..100, default 3 */
};

struct cx_task_op;
struct cx_task_cursor;

struct cx_task_store_ops {
	const char *name; /* the "store" value: "dir", "redis" */
	/* The config keys of its own besides "store", "lease_ms" and "max_attempts"
	 * (NULL-terminated); any other key is refused before open is called. */
	const char *const *keys;
	/* Opens the store; conf is the whole "tasks" object (borrowed, may be NULL), c the common
	 * keys. Returns the backend's struct whose first member is struct cx_task_store; the
	 * caller fills the head's ops and conf (cx_task_store_head_init is done by open). */
	struct cx_task_store *(*open)(const json_t *conf, const struct cx_task_store_conf *c,
				      struct cx_err *err);
	/* Stops the backend's threads and frees it (cx_task_store_head_release included). */
	void (*close)(struct cx_task_store *s);

	/* Stores tasks (an array of complete task objects from cx_task_build, borrowed), all or
	 * none, every one durable before it returns. Parents are already checked. */
	int (*create)(struct cx_task_store *s, const json_t *tasks, struct cx_err *err);
	/* 0 and *task (new reference), 1 when there is none. id is cx_task_id_valid. */
	int (*get)(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err);
	/* Every task (a new array, any order; the tasks in it may be shared with the backend:
	 * read-only): list, children and metrics are computed from it unless the backend fills
	 * the optional slots below. */
	int (*snapshot)(struct cx_task_store *s, json_t **tasks, struct cx_err *err);
	/* Reads id, runs cx_task_apply(s, task, op, now) on it and, when that asks for it
	 * (op->write), stores the changed task, atomically with respect to every other writer in
	 * any process. Returns what cx_task_apply returned (1 also when there is no such task);
	 * *task (may be NULL) the task as it is afterwards, when there is one. */
	int (*update)(struct cx_task_store *s, const char *id, struct cx_task_op *op, json_t **task,
		      struct cx_err *err);
	/* cx_task_claim's contract. Use cx_task_claimable / cx_task_more_urgent to choose and
	 * cx_task_apply (CX_OP_CLAIM, CX_OP_EXPIRE) to change. */
	int (*claim)(struct cx_task_store *s, const char *worker, const char *const *categories,
		     long wait_ms, json_t **task, struct cx_err *err);
	/* Stores agent (validated, heartbeat_at set; borrowed) under its "id", replacing it. */
	int (*agent_put)(struct cx_task_store *s, const json_t *agent, struct cx_err *err);
	/* Every agent stored (a new array); the caller drops the stale ones. */
	int (*agent_list)(struct cx_task_store *s, json_t **agents, struct cx_err *err);

	/* Optional. Called by cx_task_watch after the head's callback is set, and by
	 * cx_task_unwatch after it is cleared: a backend whose notification thread does not
	 * always run starts or stops it here. Changes reach the watcher by
	 * cx_task_store_notify. */
	int (*watch)(struct cx_task_store *s, struct cx_err *err);
	void (*unwatch)(struct cx_task_store *s);
	/* Optional faster paths; NULL: computed from snapshot. f is checked and the cursor
	 * decoded (after: NULL for the first page). */
	int (*list)(struct cx_task_store *s, const struct cx_task_filter *f,
		    const struct cx_task_cursor *after, json_t **tasks, char **next,
		    struct cx_err *err);
	int (*children)(struct cx_task_store *s, const char *id, json_t **tasks,
			struct cx_err *err);
	int (*metrics)(struct cx_task_store *s, json_t **metrics, struct cx_err *err);
};

/* The head of every store. */
struct cx_task_store {
	const struct cx_task_store_ops *ops;
	struct cx_task_store_conf conf;
	char describe[256];       /* "dir /var/lib/cortex/tasks"; never a password */
	char cursor_tag[9];       /* 8 hex digits naming this store in its cursors */
	pthread_mutex_t watch_mu; /* guards watch_fn/watch_ctx; held while calling watch_fn */
	void (*watch_fn)(void *ctx, const char *id);
	void *watch_ctx;
};

/* Sets up the head: ops, conf, describe (printf-style) and the cursor tag derived from it. */
void cx_task_store_head_init(struct cx_task_store *s, const struct cx_task_store_ops *ops,
			     const struct cx_task_store_conf *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cx_task_store_head_release(struct cx_task_store *s);
/* A backend's notification thread calls this for every change it hears of. */
void cx_task_store_notify(struct cx_task_store *s, const char *id);

/* ---- ids, times ---- */

/* Wall clock in ms since the epoch. */
int64_t cx_task_now_ms(void);
/* ms as "2026-12-02T04:05:35.123Z" into out (>= 25 bytes). */
void cx_task_time_str(int64_t ms, char *out, size_t outlen);
/* A task field holding a time (metadata.created_at, lease_until, ...), as ms; -1 when absent. */
int64_t cx_task_field_ms(const json_t *task, const char *meta_key);
/* "task-<source>-<epoch ms>-<9 random base36>" into out (CX_TASK_ID_MAX bytes). 0 or -1. */
int cx_task_new_id(const char *source, int64_t now_ms, char *out, size_t outlen);

/* ---- building tasks ---- */

/* specs checked as cx_task_create says (array of 1..CX_TASK_BATCH_MAX objects, no unknown
 * keys, category, query, priority, source, type, parent_id's form) and built into complete
 * queued tasks (a new array). Parent existence is the caller's (cx_task_create checks it). */
json_t *cx_task_build(const json_t *specs, int64_t now_ms, struct cx_err *err);

/* ---- transitions ---- */

enum cx_task_op_kind {
	CX_OP_CLAIM,     /* worker takes a claimable task (attempts + 1, lease) */
	CX_OP_EXPIRE,    /* an in_progress task whose lease ran out: queued again, or failed
			  * after max_attempts, or cancelled when that was asked */
	CX_OP_HEARTBEAT, /* lease renewed */
	CX_OP_PROGRESS,  /* progress merged into metadata, state stored, lease renewed */
	CX_OP_FINISH,    /* completed / failed / cancelled with result */
	CX_OP_RELEASE,   /* queued again, attempt not counted */
	CX_OP_HOLD,      /* awaiting_approval with pending, attempt not counted */
	CX_OP_APPROVE,   /* approval decided, queued again */
	CX_OP_CANCEL,    /* cancelled, or cancel_requested when in progress */
};

struct cx_task_op {
	enum cx_task_op_kind kind;
	const char *worker;     /* CLAIM and the holder's ops */
	const char *status;     /* FINISH */
	const json_t *progress; /* PROGRESS; HEARTBEAT, FINISH (NULL: none) */
	const json_t *state;    /* PROGRESS, HOLD; HEARTBEAT, FINISH (NULL: unchanged) */
	const json_t *result;   /* FINISH (NULL: {}) */
	const json_t *pending;  /* HOLD */
	bool approve;           /* APPROVE */
	const char *by;         /* APPROVE, CANCEL */
	const char *reason;     /* APPROVE, CANCEL */
	/* Durable by the next sync rather than before the call returns (see cx_task_claim):
	 * HEARTBEAT (a claim is always) */
	bool lazy;
	/* out */
	bool write;            /* the task changed: store it */
	bool cancel_requested; /* HEARTBEAT: the task is to be cancelled */
};

/* Applies op to task (changed in place) at now_ms: 0 done, 1 not held / not applicable (the
 * public 1), -1 refused with err (approving a task not awaiting approval, cancelling a
 * finished one, a bad status). op->write says whether task must be stored. */
int cx_task_apply(const struct cx_task_store *s, json_t *task, struct cx_task_op *op,
		  int64_t now_ms, struct cx_err *err);

/* ---- choosing a task to claim ---- */

enum cx_task_claimable {
	CX_CLAIM_NO = 0,
	CX_CLAIM_QUEUED,  /* queued: claim it */
	CX_CLAIM_EXPIRED, /* in_progress, lease over: CX_OP_EXPIRE first, then maybe claim */
};
/* Whether task may be taken now by a worker for categories (NULL: any). */
enum cx_task_claimable cx_task_claimable(const json_t *task, const char *const *categories,
					 int64_t now_ms);
/* Whether a comes before b: lower priority number, then older, then smaller id. */
bool cx_task_more_urgent(const json_t *a, const json_t *b);
/* The same over the parts a backend may keep in an index. */
bool cx_task_key_more_urgent(int pa, int64_t created_a, const char *id_a, int pb, int64_t created_b,
			     const char *id_b);
bool cx_task_category_in(const char *category, const char *const *categories);

/* ---- lists ---- */

/* Where a page ended: the last task of it (lists are newest first: created_ms, then id,
 * descending). */
struct cx_task_cursor {
	int64_t created_ms;
	char id[CX_TASK_ID_MAX];
};
/* malloc'd cursor text naming s, created_ms and id; NULL on out of memory. */
char *cx_task_cursor_encode(const struct cx_task_store *s, int64_t created_ms, const char *id);
/* 0, or -1 with err: garbled, or from another store. */
int cx_task_cursor_decode(const struct cx_task_store *s, const char *text,
			  struct cx_task_cursor *out, struct cx_err *err);
/* Whether task matches f's status, category, source, parent_id and since_ms. */
bool cx_task_filter_match(const struct cx_task_filter *f, const json_t *task);
/* Whether a task created at created_ms with id comes after the cursor in list order. */
bool cx_task_after_cursor(const struct cx_task_cursor *after, int64_t created_ms, const char *id);
/* From all (any order, borrowed): the page f and after select, newest first, and *next. */
int cx_task_page(const struct cx_task_store *s, const json_t *all, const struct cx_task_filter *f,
		 const struct cx_task_cursor *after, json_t **tasks, char **next,
		 struct cx_err *err);
/* From all: the children of id, oldest first (a new array). */
json_t *cx_task_children_of(const json_t *all, const char *id);
/* From all: cx_task_metrics's object at now_ms. */
json_t *cx_task_metrics_of(const json_t *all, int64_t now_ms);

/* ---- agents ---- */

/* agent checked (id cx_task_id_valid, kind, state) and copied with heartbeat_at = now. */
json_t *cx_agent_build(const json_t *agent, int64_t now_ms, struct cx_err *err);

/* The backends taskstore.c can open (the Redis one is weak in taskstore.c, so a tree without
 * taskstore_redis.c still links and says the store is not built in). */
extern const struct cx_task_store_ops cx_task_store_dir_ops;
extern const struct cx_task_store_ops cx_task_store_redis_ops;

#endif
