/* The task store's public face: the "tasks" config (common keys, the backend's own, any other
 * refused by name), open/close by "store", and every cx_task_* function checking its
 * arguments once and dispatching through the backend's ops. What tasks are and how they move
 * is in taskstore_logic.c; lists and metrics in taskstore_list.c. */
#include "taskstore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskstore_impl.h"
#include "util.h"

static const char *const common_keys[] = { "store", "lease_ms", "max_attempts", NULL };

static const struct cx_task_store_ops *backend(const char *name)
{
	if (!strcmp(name, "dir"))
		return &cx_task_store_dir_ops;
	if (!strcmp(name, "redis"))
		return &cx_task_store_redis_ops;
	return NULL;
}

static bool in(const char *key, const char *const *list)
{
	for (; list && *list; list++) {
		if (!strcmp(*list, key))
			return true;
	}
	return false;
}

static int unknown_key(const char *key, const struct cx_task_store_ops *ops, struct cx_err *err)
{
	char known[256] = "store, lease_ms, max_attempts";
	size_t n = strlen(known);

	for (const char *const *k = ops->keys; k && *k && n < sizeof(known); k++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, ", %s", *k);
	return cx_err_set(err, "tasks: unknown key '%.64s' (the %s store takes %s)", key, ops->name,
			  known);
}

/* Every key of conf is a common one or ops's own; another backend's key is named as such. */
static int check_keys(const json_t *conf, const struct cx_task_store_ops *ops, struct cx_err *err)
{
	const struct cx_task_store_ops *other = backend(strcmp(ops->name, "dir") ? "dir" : "redis");
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)conf, key, v) {
		if (in(key, common_keys) || in(key, ops->keys))
			continue;
		if (other && in(key, other->keys))
			return cx_err_set(err,
					  "tasks: '%.64s' is a key of the %s store, not of the %s "
					  "store",
					  key, other->name, ops->name);
		return unknown_key(key, ops, err);
	}
	return 0;
}

static int get_long(const json_t *conf, const char *key, long min, long max, long *out,
		    struct cx_err *err)
{
	json_t *v = json_object_get(conf, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cx_err_set(err, "tasks.%s must be an integer from %ld to %ld", key, min,
				  max);
	*out = (long)json_integer_value(v);
	return 0;
}

struct cx_task_store *cx_task_store_open(const json_t *conf, struct cx_err *err)
{
	struct cx_task_store_conf c = { .lease_ms = 30000, .max_attempts = 3 };
	const struct cx_task_store_ops *ops;
	const char *name = "dir";
	json_t *store;
	struct cx_task_store *s;

	if (conf && !json_is_object(conf))
		return cx_err_set(err, "tasks must be an object"), NULL;
	store = json_object_get(conf, "store");
	if (store && !json_is_string(store))
		return cx_err_set(err, "tasks.store must be \"dir\" or \"redis\""), NULL;
	if (store)
		name = json_string_value(store);
	ops = backend(name);
	if (!ops) {
		if (!strcmp(name, "redis"))
			cx_err_set(err, "tasks.store \"redis\" is not built into this binary");
		else
			cx_err_set(err, "tasks.store '%.32s' is unknown (\"dir\" or \"redis\")",
				   name);
		return NULL;
	}
	if (conf && (check_keys(conf, ops, err) ||
		     get_long(conf, "lease_ms", 100, 3600000, &c.lease_ms, err) ||
		     get_long(conf, "max_attempts", 1, 100, &c.max_attempts, err)))
		return NULL;
	s = ops->open(conf, &c, err);
	return s;
}

void cx_task_store_close(struct cx_task_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *cx_task_store_describe(const struct cx_task_store *s)
{
	return s->describe;
}

void cx_task_store_head_init(struct cx_task_store *s, const struct cx_task_store_ops *ops,
			     const struct cx_task_store_conf *c, const char *fmt, ...)
{
	char hex[65];
	va_list ap;

	s->ops = ops;
	s->conf = *c;
	va_start(ap, fmt);
	vsnprintf(s->describe, sizeof(s->describe), fmt, ap);
	va_end(ap);
	cx_sha256_hex(s->describe, strlen(s->describe), hex);
	memcpy(s->cursor_tag, hex, 8);
	s->cursor_tag[8] = '\0';
	pthread_mutex_init(&s->watch_mu, NULL);
	s->watch_fn = NULL;
	s->watch_ctx = NULL;
}

void cx_task_store_head_release(struct cx_task_store *s)
{
	pthread_mutex_destroy(&s->watch_mu);
}

void cx_task_store_notify(struct cx_task_store *s, const char *id)
{
	pthread_mutex_lock(&s->watch_mu);
	if (s->watch_fn)
		s->watch_fn(s->watch_ctx, id);
	pthread_mutex_unlock(&s->watch_mu);
}

/* ---- creating and reading ---- */

static int bad_id(const char *id, struct cx_err *err)
{
	return cx_err_set(err, "'%.80s' is not a task id", id ? id : "(none)");
}

/* Each distinct parent named by tasks exists. */
static int check_parents(struct cx_task_store *s, const json_t *specs, struct cx_err *err)
{
	const char *last = NULL;
	size_t i;
	json_t *spec;

	json_array_foreach(specs, i, spec) {
		const char *p = json_string_value(json_object_get(spec, "parent_id"));
		json_t *parent = NULL;
		int rc;

		if (!p || (last && !strcmp(p, last)))
			continue;
		rc = s->ops->get(s, p, &parent, err);
		json_decref(parent);
		if (rc < 0)
			return -1;
		if (rc)
			return cx_err_set(err, "tasks[%zu]: unknown parent '%s'", i, p);
		last = p;
	}
	return 0;
}

int cx_task_create(struct cx_task_store *s, const json_t *specs, json_t **created,
		   struct cx_err *err)
{
	json_t *tasks;

	*created = NULL;
	tasks = cx_task_build(specs, cx_task_now_ms(), err);
	if (!tasks)
		return -1;
	if (check_parents(s, specs, err) || s->ops->create(s, tasks, err)) {
		json_decref(tasks);
		return -1;
	}
	*created = tasks;
	return 0;
}

int cx_task_get(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err)
{
	*task = NULL;
	if (!cx_task_id_valid(id))
		return 1;
	return s->ops->get(s, id, task, err);
}

static int check_filter(const struct cx_task_filter *f, struct cx_err *err)
{
	if (f->limit > CX_TASK_LIMIT_MAX)
		return cx_err_set(err, "limit must be from 1 to %d", CX_TASK_LIMIT_MAX);
	if (f->status && !in(f->status, cx_task_statuses))
		return cx_err_set(err,
				  "unknown status '%.32s' (queued, in_progress, awaiting_approval, "
				  "completed, failed, cancelled)",
				  f->status);
	if (f->category && !in(f->category, cx_task_categories))
		return cx_err_set(
			err,
			"unknown category '%.32s' (development, security, infrastructure, "
			"inventory, cicd, general)",
			f->category);
	if (f->since_ms < 0)
		return cx_err_set(err, "since must not be before 1970");
	return 0;
}

/* The caller's own copy of tasks taken from a snapshot, whose tasks the backend shares. */
static int own_copy(json_t **tasks, char **next, struct cx_err *err)
{
	json_t *copy = json_deep_copy(*tasks);

	json_decref(*tasks);
	*tasks = copy;
	if (copy)
		return 0;
	if (next) {
		free(*next);
		*next = NULL;
	}
	return cx_err_set(err, "out of memory");
}

int cx_task_list(struct cx_task_store *s, const struct cx_task_filter *f, json_t **tasks,
		 char **next, struct cx_err *err)
{
	struct cx_task_filter none = { 0 };
	struct cx_task_cursor after;
	json_t *all = NULL;
	int rc;

	*tasks = NULL;
	*next = NULL;
	if (!f)
		f = &none;
	if (check_filter(f, err))
		return -1;
	if (f->cursor && cx_task_cursor_decode(s, f->cursor, &after, err))
		return -1;
	if (s->ops->list)
		return s->ops->list(s, f, f->cursor ? &after : NULL, tasks, next, err);
	if (s->ops->snapshot(s, &all, err))
		return -1;
	rc = cx_task_page(s, all, f, f->cursor ? &after : NULL, tasks, next, err);
	json_decref(all);
	return rc ? rc : own_copy(tasks, next, err);
}

int cx_task_children(struct cx_task_store *s, const char *id, json_t **tasks, struct cx_err *err)
{
	json_t *all = NULL;

	*tasks = NULL;
	if (!cx_task_id_valid(id))
		return bad_id(id, err);
	if (s->ops->children)
		return s->ops->children(s, id, tasks, err);
	if (s->ops->snapshot(s, &all, err))
		return -1;
	*tasks = cx_task_children_of(all, id);
	json_decref(all);
	if (!*tasks)
		return cx_err_set(err, "out of memory");
	return own_copy(tasks, NULL, err);
}

/* ---- a worker's side ---- */

static bool categories_ok(const char *const *categories, struct cx_err *err)
{
	for (; categories && *categories; categories++) {
		if (!in(*categories, cx_task_categories)) {
			cx_err_set(err, "unknown category '%.32s'", *categories);
			return false;
		}
	}
	return true;
}

/* A claim waits at most a day; a caller wanting longer asks again. */
#define CLAIM_WAIT_MAX_MS (24L * 3600 * 1000)

int cx_task_claim(struct cx_task_store *s, const char *worker, const char *const *categories,
		  long wait_ms, json_t **task, struct cx_err *err)
{
	*task = NULL;
	if (!cx_task_id_valid(worker))
		return cx_err_set(err, "a worker's name must be 1 to 63 of [A-Za-z0-9._:-]");
	if (!categories_ok(categories, err))
		return -1;
	if (wait_ms < 0)
		wait_ms = 0;
	if (wait_ms > CLAIM_WAIT_MAX_MS) /* deadlines stay far from overflow */
		wait_ms = CLAIM_WAIT_MAX_MS;
	return s->ops->claim(s, worker, categories, wait_ms, task, err);
}

/* One change to a task through the backend's update. */
static int update(struct cx_task_store *s, const char *id, struct cx_task_op *op,
		  struct cx_err *err)
{
	if (!cx_task_id_valid(id))
		return 1;
	return s->ops->update(s, id, op, NULL, err);
}

int cx_task_heartbeat(struct cx_task_store *s, const char *id, const char *worker,
		      bool *cancel_requested, struct cx_err *err)
{
	return cx_task_heartbeat_with(s, id, worker, NULL, NULL, cancel_requested, err);
}

int cx_task_heartbeat_with(struct cx_task_store *s, const char *id, const char *worker,
			   const json_t *progress, const json_t *state, bool *cancel_requested,
			   struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_HEARTBEAT,
				 .worker = worker,
				 .progress = progress,
				 .state = state,
				 .lazy = true };
	int rc = update(s, id, &op, err);

	if (cancel_requested)
		*cancel_requested = op.cancel_requested;
	return rc;
}

int cx_task_progress(struct cx_task_store *s, const char *id, const char *worker,
		     const json_t *progress, const json_t *state, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_PROGRESS,
				 .worker = worker,
				 .progress = progress,
				 .state = state };

	return update(s, id, &op, err);
}

int cx_task_finish(struct cx_task_store *s, const char *id, const char *worker, const char *status,
		   const json_t *result, struct cx_err *err)
{
	return cx_task_finish_with(s, id, worker, status, NULL, NULL, result, err);
}

int cx_task_finish_with(struct cx_task_store *s, const char *id, const char *worker,
			const char *status, const json_t *progress, const json_t *state,
			const json_t *result, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_FINISH,
				 .worker = worker,
				 .status = status,
				 .progress = progress,
				 .state = state,
				 .result = result };

	return update(s, id, &op, err);
}

int cx_task_release(struct cx_task_store *s, const char *id, const char *worker, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_RELEASE, .worker = worker };

	return update(s, id, &op, err);
}

int cx_task_hold(struct cx_task_store *s, const char *id, const char *worker, const json_t *pending,
		 const json_t *state, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_HOLD,
				 .worker = worker,
				 .pending = pending,
				 .state = state };

	return update(s, id, &op, err);
}

/* ---- people ---- */

int cx_task_approve(struct cx_task_store *s, const char *id, bool approve, const char *by,
		    const char *reason, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_APPROVE,
				 .approve = approve,
				 .by = by,
				 .reason = reason };

	return update(s, id, &op, err);
}

int cx_task_cancel(struct cx_task_store *s, const char *id, const char *by, const char *reason,
		   struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_CANCEL, .by = by, .reason = reason };

	return update(s, id, &op, err);
}

/* ---- watching ---- */

int cx_task_watch(struct cx_task_store *s, void (*fn)(void *ctx, const char *id), void *ctx,
		  struct cx_err *err)
{
	pthread_mutex_lock(&s->watch_mu);
	if (s->watch_fn) {
		pthread_mutex_unlock(&s->watch_mu);
		return cx_err_set(err, "the task store already has a watcher (one per store)");
	}
	s->watch_fn = fn;
	s->watch_ctx = ctx;
	pthread_mutex_unlock(&s->watch_mu);
	if (s->ops->watch && s->ops->watch(s, err)) {
		cx_task_unwatch(s);
		return -1;
	}
	return 0;
}

void cx_task_unwatch(struct cx_task_store *s)
{
	if (s->ops->unwatch)
		s->ops->unwatch(s);
	pthread_mutex_lock(&s->watch_mu);
	s->watch_fn = NULL;
	s->watch_ctx = NULL;
	pthread_mutex_unlock(&s->watch_mu);
}

/* ---- agents and metrics ---- */

int cx_agent_put(struct cx_task_store *s, const json_t *agent, struct cx_err *err)
{
	json_t *a = cx_agent_build(agent, cx_task_now_ms(), err);
	int rc;

	if (!a)
		return -1;
	rc = s->ops->agent_put(s, a, err);
	json_decref(a);
	return rc;
}

static int by_id(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	const char *x = json_string_value(json_object_get(a, "id"));
	const char *y = json_string_value(json_object_get(b, "id"));

	return strcmp(x ? x : "", y ? y : "");
}

int cx_agent_list(struct cx_task_store *s, json_t **agents, struct cx_err *err)
{
	int64_t cutoff = cx_task_now_ms() - 3 * (int64_t)s->conf.lease_ms;
	json_t *all = NULL, **live, *a;
	size_t i, n = 0;

	*agents = NULL;
	if (s->ops->agent_list(s, &all, err))
		return -1;
	live = malloc((json_array_size(all) + 1) * sizeof(*live));
	*agents = json_array();
	if (!live || !*agents) {
		free(live);
		json_decref(all);
		json_decref(*agents);
		*agents = NULL;
		return cx_err_set(err, "out of memory");
	}
	json_array_foreach(all, i, a) {
		if (cx_task_time_ms(json_string_value(json_object_get(a, "heartbeat_at"))) >=
		    cutoff)
			live[n++] = a;
	}
	qsort(live, n, sizeof(*live), by_id);
	for (i = 0; i < n; i++)
		json_array_append(*agents, live[i]);
	free(live);
	json_decref(all);
	return 0;
}

int cx_task_metrics(struct cx_task_store *s, json_t **metrics, struct cx_err *err)
{
	json_t *all = NULL;

	*metrics = NULL;
	if (s->ops->metrics)
		return s->ops->metrics(s, metrics, err);
	if (s->ops->snapshot(s, &all, err))
		return -1;
	*metrics = cx_task_metrics_of(all, cx_task_now_ms());
	json_decref(all);
	return *metrics ? 0 : cx_err_set(err, "out of memory");
}
