/* Inside the Redis task store (taskstore_redis.c: opening, creating, every change of a task;
 * taskstore_redis_claim.c: claims and dead workers; taskstore_redis_read.c: reads, lists,
 * agents; taskstore_redis_link.c: reaching Redis). Private to those files.
 *
 * Keys, under a prefix P ("cortex:" unless the config's "prefix" says otherwise):
 *   P task:<id>        hash {json: the task as JSON, rev: a counter every write bumps (the
 *                      compare-and-set the Lua scripts check), entry: "<stream> <entry id>"
 *                      while the task is queued or in progress, "" otherwise}
 *   P tasks            sorted set of every id, scored by created ms (listing, metrics)
 *   P children:<id>    sorted set of a parent's children, scored by created ms
 *   P q:<cat>:<prio>   a stream per category and priority (6 x 5), consumer group "workers";
 *                      an entry {id, c: created ms} per queued task. Claim = XREADGROUP (the
 *                      entry stays pending while the task runs; a heartbeat XCLAIMs it to reset
 *                      its idle time), finish = XACK + XDEL, a dead worker's entry (idle past
 *                      the lease) = XAUTOCLAIM, then queued again or failed by cx_task_apply
 *   P agents           hash id -> agent JSON
 *   P events           pub/sub channel: the id of every task that changed
 *
 * Lock order: a link's mutex is the only lock here, held only to take or give back a
 * connection, never across a command. hiredis writes with write(): a process using this store
 * ignores SIGPIPE (the gateway does), or a Redis gone away kills it. */
#ifndef CX_TASKSTORE_REDIS_H
#define CX_TASKSTORE_REDIS_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "secret.h"
#include "taskstore_impl.h"

#define CX_RS_POOL_KEEP 64 /* idle connections kept; more are closed when given back */
#define CX_RS_PRIOS     5
#define CX_RS_CATS      6
#define CX_RS_STREAMS   (CX_RS_PRIOS * CX_RS_CATS)
#define CX_RS_GROUP     "workers"
#define CX_RS_KEY_MAX   (64 + CX_TASK_ID_MAX + 32)

/* How to reach Redis: address, credentials, the pool of idle connections and the backoff
 * after a failed connect (during which callers fail at once instead of each waiting for a
 * connect timeout). */
struct cx_rs_link {
	char *host;
	int port;
	long db;
	char *username; /* NULL: AUTH with the password alone */
	struct cx_secret password;
	long timeout_ms; /* connect and answer deadline */
	char where[160]; /* "redis 127.0.0.1:6379/0" */
	/* Run on every new connection before it is used (creating the consumer groups). */
	int (*prepare)(redisContext *c, void *ctx, struct cx_err *err);
	void *prepare_ctx;

	pthread_mutex_t mu;
	redisContext *idle[CX_RS_POOL_KEEP];
	size_t nidle;
	int64_t retry_at; /* monotonic ms: no connect attempt before this */
	long backoff_ms;
	char down[200]; /* why the last connect failed */
};

/* Parses "url", "username", "password" and "timeout_ms" of conf. 0 or -1. */
int cx_rs_link_init(struct cx_rs_link *l, const json_t *conf, struct cx_err *err);
void cx_rs_link_release(struct cx_rs_link *l);

/* A connection of the pool, or a new one (authenticated, database selected, prepared);
 * NULL with "task store unreachable: ..." in err. */
redisContext *cx_rs_acquire(struct cx_rs_link *l, struct cx_err *err);
/* Gives c back (closed when it failed or the pool is full). */
void cx_rs_put(struct cx_rs_link *l, redisContext *c);
/* A new connection outside the pool (the subscriber's); NULL with err. */
redisContext *cx_rs_connect(struct cx_rs_link *l, struct cx_err *err);

/* Runs one command on c: the reply (caller frees with freeReplyObject), or NULL with err:
 * "task store unreachable: ..." when Redis could not be reached or is loading, "task store
 * refused the command: ..." for an error reply. */
redisReply *cx_rs_cmd(struct cx_rs_link *l, redisContext *c, int argc, const char **argv,
		      const size_t *lens, struct cx_err *err);
/* The same with a connection of the pool taken and given back around it. */
redisReply *cx_rs_cmd1(struct cx_rs_link *l, int argc, const char **argv, const size_t *lens,
		       struct cx_err *err);
/* An error reply r as err ("task store unreachable" while Redis loads its data or is busy,
 * "task store refused the command: ..." otherwise); frees r. -1. */
int cx_rs_reply_error(struct cx_rs_link *l, redisReply *r, struct cx_err *err);
/* err set from c's failure; -1. */
int cx_rs_fail(struct cx_rs_link *l, redisContext *c, struct cx_err *err);
/* Sets c's answer deadline to ms (a blocking XREADGROUP waits longer than a command). */
void cx_rs_set_timeout(redisContext *c, long ms);

/* A Lua script run by EVALSHA, sent again with EVAL when Redis does not know it (restarted,
 * flushed). */
struct cx_rs_script {
	const char *body;
	char sha[41];
};
void cx_rs_script_init(struct cx_rs_script *sc);
/* keys then args, as argv-style arrays (lens NULL: strlen). */
redisReply *cx_rs_eval(struct cx_rs_link *l, redisContext *c, const struct cx_rs_script *sc,
		       int nkeys, const char **keys, int nargs, const char **args,
		       const size_t *arglens, struct cx_err *err);

/* The subscriber: a thread reading channel on its own connection, calling
 * cx_task_store_notify(s, id) for every message; it reconnects with backoff after an outage. */
struct cx_rs_watcher {
	struct cx_rs_link *link;
	struct cx_task_store *store;
	char channel[CX_RS_KEY_MAX];
	pthread_t thread;
	int stop_pipe[2];
	bool running;
	bool subscribed; /* for tests: the thread has subscribed at least once */
};
int cx_rs_watch_start(struct cx_rs_watcher *w, struct cx_err *err);
void cx_rs_watch_stop(struct cx_rs_watcher *w);

/* ---- the store (taskstore_redis.c), shared with the claim (taskstore_redis_claim.c) ---- */

struct cx_rs_store {
	struct cx_task_store head;
	struct cx_rs_link link;
	struct cx_rs_watcher watcher;
	char prefix[48];
	char k_tasks[CX_RS_KEY_MAX], k_agents[CX_RS_KEY_MAX], k_events[CX_RS_KEY_MAX];
	/* q:<cat>:<prio>, priority-major: streams[(prio - 1) * CX_RS_CATS + cat] */
	char streams[CX_RS_STREAMS][CX_RS_KEY_MAX];
	int64_t next_reap; /* monotonic ms; read and written with __atomic */
	bool version_ok;   /* Redis >= 7 seen; __atomic */
};

/* A task as stored: its JSON parsed (a new reference), rev and entry. */
struct cx_rs_stored {
	json_t *task;
	char rev[24];
	char entry[CX_RS_KEY_MAX + 48];
};
/* 0 and st filled, 1 when there is no such task, -1 with err. */
int cx_rs_load(struct cx_rs_store *rs, redisContext *c, const char *id, struct cx_rs_stored *st,
	       struct cx_err *err);

enum cx_rs_entry_op {
	CX_RS_ENTRY_KEEP,
	CX_RS_ENTRY_ACK,
	CX_RS_ENTRY_TOUCH
};

/* One write of a task, by the commit script: compare rev, store json, move the entry. */
struct cx_rs_commit {
	const char *id;
	const char *rev;
	const char *json;  /* NULL: unchanged */
	const char *entry; /* "<stream> <entry id>" as the hash holds it, or "" */
	enum cx_rs_entry_op op;
	const char *consumer; /* CX_RS_ENTRY_TOUCH */
	const char *add;      /* stream to XADD a new entry to, or NULL */
	int64_t created;      /* the new entry's "c" */
	/* Written only while the entry is pending with this consumer (the reaper's check that
	 * no heartbeat came between its XAUTOCLAIM and its write); NULL: any. */
	const char *expect_consumer;
};
/* 1 written, 0 the task changed meanwhile (read it again), -1 with err. */
int cx_rs_commit(struct cx_rs_store *rs, redisContext *c, const struct cx_rs_commit *cm,
		 struct cx_err *err);
/* Reads id, applies op with cx_task_apply, writes it back (again while another writer comes
 * first). cx_task_apply's answer; *task (may be NULL) the task afterwards. */
int cx_rs_update_on(struct cx_rs_store *rs, redisContext *c, const char *id, struct cx_task_op *op,
		    json_t **task, struct cx_err *err);
/* What a change of task from status before does to its stream entry (cm->entry is the
 * stored one): XACK + XDEL when it leaves the queue, a new entry when it comes back, an
 * XCLAIM by worker (lease renewed) on a heartbeat or progress. */
void cx_rs_plan_entry(struct cx_rs_store *rs, const char *before, const json_t *task,
		      enum cx_task_op_kind kind, const char *worker, struct cx_rs_commit *cm);
/* The stream a queued task's entry belongs in (its category and priority). */
const char *cx_rs_stream_of(const struct cx_rs_store *rs, const json_t *task);
/* XACK + XDEL of an entry no task holds any more. */
void cx_rs_drop_entry(struct cx_rs_store *rs, redisContext *c, const char *stream, const char *eid);

/* "P task:<id>" into out (CX_RS_KEY_MAX bytes). */
void cx_rs_task_key(const struct cx_rs_store *rs, const char *id, char *out);
/* A stored task's JSON as an object (a new reference); NULL with err when garbled. */
json_t *cx_rs_parse_task(const char *id, const redisReply *r, struct cx_err *err);

/* The ops of taskstore_redis_read.c and taskstore_redis_claim.c (taskstore_impl.h's
 * contracts). */
int cx_rs_get(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err);
int cx_rs_snapshot(struct cx_task_store *s, json_t **tasks, struct cx_err *err);
int cx_rs_list(struct cx_task_store *s, const struct cx_task_filter *f,
	       const struct cx_task_cursor *after, json_t **tasks, char **next, struct cx_err *err);
int cx_rs_children(struct cx_task_store *s, const char *id, json_t **tasks, struct cx_err *err);
int cx_rs_agent_put(struct cx_task_store *s, const json_t *agent, struct cx_err *err);
int cx_rs_agent_list(struct cx_task_store *s, json_t **agents, struct cx_err *err);
int cx_rs_claim(struct cx_task_store *s, const char *worker, const char *const *categories,
		long wait_ms, json_t **task, struct cx_err *err);
void cx_rs_claim_scripts_init(void);

#endif
